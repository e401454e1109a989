"""Making tensors: from data, filled, random, ranges."""
import numbers

import numpy as np

from . import capture, dtypes
from . import device as _device
from .record import new, wrap
from .tensor import Tensor

_rng = [np.random.default_rng()]


def manual_seed(seed):
    """Seeds tapegrad's generator (its own stream: values differ from torch's)."""
    _rng[0] = np.random.default_rng(int(seed))


def _make(data, dtype, requires_grad, device):
    _device.check(device)
    t = new(data)                 # a constant, also in a step recorded for replay
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer(data):
    """Python data's dtype as torch infers it: bools, ints (int64), floats (default)."""
    flat = data
    while isinstance(flat, (list, tuple)) and flat:
        flat = flat[0]
    if isinstance(flat, Tensor):
        return flat.dtype
    arr = np.asarray(data)
    if arr.dtype == np.bool_:
        return dtypes.bool_
    if arr.dtype.kind in "iu":
        return dtypes.int64
    if arr.dtype.kind == "f" or arr.size == 0:
        return dtypes.get_default_dtype()
    raise TypeError(f"Could not infer dtype of {type(flat).__name__}")


def _unwrap(data):
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        return [_unwrap(x) for x in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad=False):
    try:
        return _tensor(data, dtype, device, requires_grad)
    except ValueError:
        _check_ragged(data)          # NumPy's message names no position; torch's does
        raise


def _tensor(data, dtype, device, requires_grad):
    if isinstance(data, (np.ndarray, np.generic)):     # NumPy scalars keep their dtype too
        dt = dtype or dtypes.from_numpy_dtype(data.dtype)
    elif isinstance(data, Tensor):
        dt = dtype or data.dtype
    else:
        dt = dtype or _infer(data)
    array = np.array(_unwrap(data), dtype=dt.np)
    return _make(array, dt, requires_grad, device)


def _check_ragged(data, dim=0):
    """torch's error where nested lists are not rectangular: ValueError for
    unequal lengths, TypeError for numbers mixed with sequences."""
    if not isinstance(data, (list, tuple)) or not data:
        return
    sizes = [len(x) if isinstance(x, (list, tuple)) else None for x in data]
    first = sizes[0]
    for size in sizes[1:]:
        if size != first:
            if first is None or size is None:
                raise TypeError("not a sequence" if first is not None else
                                f"expected a number at dim {dim + 1}, got a sequence")
            raise ValueError(f"expected sequence of length {first} at dim {dim + 1} (got {size})")
    for x in data:
        _check_ragged(x, dim + 1)


def from_numpy(array):
    """Shares `array`'s memory, as torch.from_numpy does."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dt = dtypes.from_numpy_dtype(array.dtype)
    if array.dtype != dt.np:
        raise TypeError(f"can't convert np.ndarray of type numpy.{array.dtype}. The only supported "
                        "types are: float64, float32, int64 and bool.")
    return wrap(array)


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(n, numbers.Integral) for n in size):
        raise TypeError(f"size must be a tuple of ints, got {size}")
    if any(n < 0 for n in size):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(size)}")
    return tuple(int(n) for n in size)


def _random():
    capture.refuse("it draws random numbers, which a replay would repeat")
    return _rng[0]


def _filled(fill):
    def make(*size, dtype=None, device=None, requires_grad=False, out=None):
        dt = dtype or dtypes.get_default_dtype()
        return _make(fill(_shape(size), dt.np), dt, requires_grad, device)
    return make


zeros = _filled(np.zeros)
ones = _filled(np.ones)
empty = _filled(np.zeros)       # zeroed: uninitialized memory is no feature
rand = _filled(lambda shape, dt: _random().random(shape, dtype=dt))
randn = _filled(lambda shape, dt: _random().standard_normal(shape, dtype=dt))


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    dt = dtype or dtypes.result_type(fill_value)
    return _make(np.full(_shape((size,)), fill_value, dt.np), dt, requires_grad, device)


def randint(low, high=None, size=None, *, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= "
                           f"to={high}")
    dt = dtype or dtypes.int64
    return _make(_random().integers(low, high, _shape((size,))).astype(dt.np), dt, requires_grad, device)


def randperm(n, *, dtype=None, device=None, requires_grad=False):
    dt = dtype or dtypes.int64
    return _make(_random().permutation(n).astype(dt.np), dt, requires_grad, device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    dt = dtype or dtypes.result_type(start, end, step)
    return _make(np.arange(start, end, step).astype(dt.np), dt, requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    dt = dtype or dtypes.get_default_dtype()
    return _make(np.linspace(start, end, steps).astype(dt.np), dt, requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    dt = dtype or dtypes.get_default_dtype()
    return _make(np.eye(n, m, dtype=dt.np), dt, requires_grad, device)


def _like(make):
    def like(input, *, dtype=None, device=None, requires_grad=False):
        return make(*input.shape, dtype=dtype or input.dtype, device=device, requires_grad=requires_grad)
    return like


zeros_like, ones_like, empty_like, rand_like, randn_like = (
    _like(f) for f in (zeros, ones, empty, rand, randn))


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=device,
                requires_grad=requires_grad)
