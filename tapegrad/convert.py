"""dtype and device conversions: to(), float(), double(), long(), bool(), cpu()."""
from . import device as _device
from . import dtypes
from .record import cast
from .tensor import Tensor


def to_dtype(args, dtype=None, device=None):
    """The dtype (None: unchanged) that to(*args, dtype=, device=) asks for,
    of Tensor.to and nn.Module.to alike: to(dtype), to(device), to(device,
    dtype), to(other_tensor). Raises for a device other than the CPU."""
    for a in args:
        if isinstance(a, dtypes.dtype):
            dtype = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
        else:
            device = a
    _device.check(device)
    return dtype


def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
    """to(dtype), to(device), to(device, dtype), to(other_tensor)."""
    dtype = to_dtype(args, dtype, device)
    out = cast(self, dtype) if dtype is not None else self
    return out.clone() if copy and out is self else out


def _as(dt):
    def convert(self):
        return cast(self, dt)
    return convert


def cpu(self):
    return self


def type_(self, dtype=None, non_blocking=False, **kwargs):
    """No argument: the legacy type name ('tapegrad.FloatTensor'); else x as
    the dtype given, by dtype, legacy class or name ('torch.DoubleTensor')."""
    if dtype is None:
        return f"tapegrad.{_LEGACY[self.dtype]}"
    from .legacy import resolve
    return cast(self, resolve(dtype))


_LEGACY = {dtypes.float32: "FloatTensor", dtypes.float64: "DoubleTensor",
           dtypes.int64: "LongTensor", dtypes.bool_: "BoolTensor"}

METHODS = dict(to=to, float=_as(dtypes.float32), double=_as(dtypes.float64), long=_as(dtypes.int64),
               bool=_as(dtypes.bool_), cpu=cpu, type=type_)
for _name, _f in METHODS.items():
    setattr(Tensor, _name, _f)
