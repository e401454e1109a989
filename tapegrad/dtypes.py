"""The four dtypes tapegrad has, and PyTorch's type-promotion rule."""
import numpy as np


class dtype:
    __slots__ = ("name", "np", "code", "is_floating_point", "itemsize", "_rank")

    def __init__(self, name, np_dtype, code, rank):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.code = code                # the number kernels dispatch on
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize
        self._rank = rank               # bool < int64 < float32 < float64

    def __repr__(self):
        return f"tapegrad.{self.name}"

    def __reduce__(self):
        return self.name


bool_ = dtype("bool", np.bool_, 3, 0)
int64 = dtype("int64", np.int64, 2, 1)
float32 = dtype("float32", np.float32, 0, 2)
float64 = dtype("float64", np.float64, 1, 3)
ALL = (float32, float64, int64, bool_)
BY_CODE = {d.code: d for d in ALL}
BY_NP = {np.dtype(d.np): d for d in ALL}


def from_numpy_dtype(np_dtype):
    """The tapegrad dtype holding `np_dtype`, widening other ints and floats."""
    np_dtype = np.dtype(np_dtype)
    found = BY_NP.get(np_dtype)
    if found is not None:
        return found
    if np_dtype.kind in "iu":
        return int64
    if np_dtype.kind == "f":
        return float64 if np_dtype.itemsize > 4 else float32
    raise TypeError(f"can't convert np.ndarray of type {np_dtype}. The only supported "
                    "types are: float64, float32, int64 and bool.")


_default = [float32]


def get_default_dtype():
    return _default[0]


def set_default_dtype(d):
    if d not in (float32, float64):
        raise TypeError("only floating-point types are supported as the default type")
    _default[0] = d


def _category(d):
    return 2 if d.is_floating_point else (1 if d is int64 else 0)


def promote_types(a, b):
    return a if a._rank >= b._rank else b


_PYTHON = (bool, int, float)


def result_type(*operands):
    """PyTorch's rule: tensors with dims outrank 0-d tensors, which outrank
    Python scalars, unless the lower tier has a higher category (bool < int
    < float); a Python float then takes the default dtype."""
    first = operands[0]
    if type(first) not in _PYTHON:     # a float tensor and Python numbers: the common case,
        for x in operands[1:]:         # first (a loop: a generator costs an op 0.1 us more)
            if type(x) not in _PYTHON:
                break
        else:
            d = first.dtype
            if d.is_floating_point:
                return d
    tiers = [None, None, None]
    for x in operands:
        if isinstance(x, bool):
            tier, d = 2, bool_
        elif isinstance(x, int):
            tier, d = 2, int64
        elif isinstance(x, float):
            tier, d = 2, get_default_dtype()
        else:
            tier, d = (0 if x.ndim else 1), x.dtype
        tiers[tier] = d if tiers[tier] is None else promote_types(tiers[tier], d)
    result = None
    for d in tiers:
        if d is not None and (result is None or _category(d) > _category(result)):
            result = d
    return result
