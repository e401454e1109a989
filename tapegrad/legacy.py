"""The legacy and tutorial API that old PyTorch code still uses.

`autograd.Variable(t, requires_grad=...)` returns a plain Tensor, as torch
does since 0.4. `FloatTensor`, `DoubleTensor`, `LongTensor` and `BoolTensor`
are callable like torch's legacy constructors (`FloatTensor([0.1, 1.0])`
from data, `FloatTensor(2, 3)` from sizes) and answer isinstance() by dtype
(`isinstance(x, FloatTensor)` for a float32 tensor); they are not Tensor
subclasses, as in torch. Also is_tensor, numel, is_floating_point, typename,
set_default_tensor_type and a few Tensor methods of the same age.
"""
import numbers
import warnings

import numpy as np

from . import dtypes
from .dtypes import dtype, promote_types, set_default_dtype
from .tensor import Size, Tensor

__all__ = ["Variable", "FloatTensor", "DoubleTensor", "LongTensor", "BoolTensor", "is_tensor",
           "numel", "is_floating_point", "typename", "set_default_tensor_type", "dtype",
           "promote_types"]


def _require_tensor(name, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, "
                        f"not {type(x).__name__}")


# -- Variable -------------------------------------------------------------------

class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor)

    def __call__(cls, data, requires_grad=False, volatile=False):
        """A new leaf sharing data's memory; requires_grad as asked."""
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with "
                          "tapegrad.no_grad():` instead.", UserWarning, stacklevel=2)
        return data.detach().requires_grad_(bool(requires_grad))


class Variable(metaclass=_VariableMeta):
    """Legacy wrapper: Variable(t) is t.detach(), a Tensor (every Tensor
    is an instance of Variable)."""


# -- FloatTensor and friends ----------------------------------------------------

class _LegacyTensorType(type):
    """The metaclass of FloatTensor & co: calling one makes a tensor of its
    dtype, isinstance() checks the dtype."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype

    def __repr__(cls):
        return f"<class 'tapegrad.{cls.__name__}'>"

    def __call__(cls, *args, device=None):
        from . import creation
        from .device import check
        check(device)
        if not args:
            return creation.empty(0, dtype=cls.dtype)
        if len(args) == 1 and isinstance(args[0], Size):
            args = tuple(args[0])
        if all(isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_))
               for a in args):
            if any(a < 0 for a in args):
                raise RuntimeError(f"Trying to create tensor with negative dimension "
                                   f"{min(args)}: {list(args)}")
            return creation.empty(*args, dtype=cls.dtype)
        if len(args) > 1:
            raise TypeError(f"new() received an invalid combination of arguments: expected "
                            f"(*sizes) or (data), got {len(args)} arguments")
        data = args[0]
        if isinstance(data, Tensor):
            if data.dtype is not cls.dtype:
                raise TypeError(f"expected {cls.dtype} tensor (got {data.dtype} tensor)")
            return data
        if isinstance(data, numbers.Number) or not hasattr(data, "__len__"):
            raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
        return creation.tensor(data, dtype=cls.dtype)


def _legacy(name, dt):
    cls = _LegacyTensorType(name, (), {"dtype": dt, "is_cuda": False, "is_sparse": False,
                                       "__module__": "tapegrad"})
    return cls


FloatTensor = _legacy("FloatTensor", dtypes.float32)
DoubleTensor = _legacy("DoubleTensor", dtypes.float64)
LongTensor = _legacy("LongTensor", dtypes.int64)
BoolTensor = _legacy("BoolTensor", dtypes.bool_)
LEGACY = {t.dtype: t for t in (FloatTensor, DoubleTensor, LongTensor, BoolTensor)}
BY_NAME = {t.__name__: t for t in LEGACY.values()}


def resolve(kind):
    """A dtype from a dtype, a legacy class or its name ('torch.FloatTensor',
    'tapegrad.DoubleTensor'), for Tensor.type(kind)."""
    if isinstance(kind, dtype):
        return kind
    if isinstance(kind, _LegacyTensorType):
        return kind.dtype
    if isinstance(kind, str):
        module, _, name = kind.rpartition(".")
        if module in ("torch", "tapegrad") and name in BY_NAME:
            return BY_NAME[name].dtype
        raise ValueError(f"invalid type: {kind!r}")
    raise TypeError(f"type(): expected a dtype, a tensor type or its name, got {type(kind).__name__}")


# -- functions ------------------------------------------------------------------

def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    _require_tensor("numel", input)
    return input.numel()


def is_floating_point(input):
    _require_tensor("is_floating_point", input)
    return input.dtype.is_floating_point


def typename(obj):
    """'tapegrad.FloatTensor' for a float32 tensor, else the type's name."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(type(obj), "__module__", "")
    name = type(obj).__qualname__
    return name if module in ("builtins", "__builtin__", None, "") else f"{module}.{name}"


def set_default_tensor_type(t):
    """Deprecated in torch: the default dtype from a legacy type (or its name)."""
    warnings.warn("tapegrad.set_default_tensor_type() is deprecated as in PyTorch 2.1, please use "
                  "tapegrad.set_default_dtype() and tapegrad.set_default_device() as "
                  "alternatives.", UserWarning, stacklevel=2)
    dt = resolve(t)
    if not dt.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    set_default_dtype(dt)


# -- Tensor methods of the same age -------------------------------------------------

def _new(name):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        from . import creation
        return getattr(creation, name)(*size, dtype=dtype or self.dtype, device=device,
                                       requires_grad=requires_grad)
    method.__name__ = "new_" + name
    return method


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    from . import creation
    if isinstance(data, Tensor):
        data = data.detach()._data.copy()
    return creation.tensor(data, dtype=dtype or self.dtype, device=device,
                           requires_grad=requires_grad)


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    from . import creation
    return creation.full(size, fill_value, dtype=dtype or self.dtype, device=device,
                         requires_grad=requires_grad)


def _install():
    methods = dict(
        is_floating_point=lambda self: self.dtype.is_floating_point,
        nelement=lambda self: self.numel(),
        ndimension=lambda self: self.ndim,
        element_size=lambda self: self.dtype.itemsize,
        type_as=lambda self, other: self.type(other.dtype),
        new_tensor=_new_tensor, new_full=_new_full,
        new_zeros=_new("zeros"), new_ones=_new("ones"), new_empty=_new("empty"),
        is_cuda=property(lambda self: False),
    )
    for name, f in methods.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, f)


_install()
