"""Reductions and ops along a dim, as functions that are also Tensor methods."""
import builtins
import math
from collections import namedtuple

import numpy as np

from . import dtypes
from .defer import Deferred
from .autograd.grad_mode import is_grad_enabled
from .forward import KEEPDIM
from .optable import CODE
from .record import _recorded, apply, cast, float_dtype, wrap
from .shape_ops import take
from .tensor import Tensor, _dim


class _AllDims:
    """The default dim. torch names x.sum() SumBackward0 but x.sum(None)
    (any explicit dim, even None) SumBackward1, so the two must differ."""
    def __repr__(self):
        return "None"


_ALL = _AllDims()


def _mask(x, dim):
    """(bitmask of reduced dims, their element count) for dim None, int or tuple."""
    listed = dim if isinstance(dim, (tuple, list)) else (dim,)
    if dim is _ALL or dim is None or not listed:     # torch reduces all for dim=()
        dims = range(x.ndim)
    else:
        dims = [_dim(d, x.ndim) for d in listed]
        for d in dims:
            if dims.count(d) > 1:
                raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        if x.ndim == 0:
            dims = ()
    count = math.prod([x.shape[d] for d in dims])
    return builtins.sum(1 << d for d in dims), count


def _reduce(name, x, dim, keepdim, dt=None, k0=0.0, k1=0.0):
    """Record reduction `name` (its *_dim form when a dim was given)."""
    dt = dt or x.dtype
    x = x if type(x) is Deferred and x.dtype is dt else cast(x, dt)   # (a cast reads data)
    mask, count = _mask(x, dim)
    form = name if dim is _ALL or f"{name}_dim" not in CODE else f"{name}_dim"
    return apply(CODE[form], [x], k0=k0, k1=k1, ki=mask | (KEEPDIM if keepdim else 0), dt=dt), count


def sum(input, dim=_ALL, keepdim=False, *, dtype=None):
    dt = dtype or (input.dtype if input.dtype.is_floating_point else dtypes.int64)
    return _reduce("sum", input, dim, keepdim, dt, k0=1.0)[0]


def mean(input, dim=_ALL, keepdim=False, *, dtype=None):
    dt = dtype or input.dtype
    if not dt.is_floating_point:
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {input.dtype.name.capitalize()}")
    _, count = _mask(input, dim)
    return _reduce("mean", input, dim, keepdim, dt, k0=1.0 / count if count else np.nan)[0]


def prod(input, dim=_ALL, keepdim=False, *, dtype=None):
    dt = dtype or (input.dtype if input.dtype.is_floating_point else dtypes.int64)
    return _reduce("prod", input, dim, keepdim, dt)[0]


def _check_nonempty(name, x, dim):
    if x.numel() != 0:
        return
    if dim is _ALL:                   # torch: IndexError from argmax / argmin, else RuntimeError
        message = f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
        if name.startswith("arg"):
            raise IndexError(message)
        raise RuntimeError(message + " Specify the reduction dim with the 'dim' argument.")
    for d in dim if isinstance(dim, (tuple, list)) else (dim,):
        if x.ndim and x.shape[_dim(d, x.ndim)] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {_dim(d, x.ndim)} to have non-zero "
                             "size.")


def amax(input, dim=(), keepdim=False):
    dim = _ALL if dim == () else dim
    _check_nonempty("amax", input, dim)
    return _reduce("amax", input, dim, keepdim)[0]


def amin(input, dim=(), keepdim=False):
    dim = _ALL if dim == () else dim
    _check_nonempty("amin", input, dim)
    return _reduce("amin", input, dim, keepdim)[0]


_MinMax = namedtuple("_MinMax", ["values", "indices"])
max_return_types = _MinMax


def _extreme(name, arg, input, dim, keepdim, other):
    if isinstance(dim, Tensor) or other is not None:          # torch.max(a, b)
        from .math_ops import maximum, minimum
        return (maximum if name == "max" else minimum)(input, other if other is not None else dim)
    if dim is _ALL:
        _check_nonempty(name, input, dim)
        return _reduce(name, input, _ALL, False)[0]
    _check_nonempty(name, input, dim)
    d = _dim(dim, input.ndim)
    indices = np.expand_dims(arg(input._data, axis=d) if input.ndim else np.zeros((), np.int64),
                             d if input.ndim else ())

    def pick(a):
        taken = np.take_along_axis(a, indices, d) if a.ndim else a
        return taken if keepdim or not a.ndim else np.squeeze(taken, d)
    values = take(input, pick, f"{name}_dim")
    idx = indices if keepdim or not input.ndim else np.squeeze(indices, d)
    return _MinMax(values, wrap(np.asarray(idx, np.int64)))


def max(input, dim=_ALL, keepdim=False, *, other=None):
    return _extreme("max", np.argmax, input, dim, keepdim, other)


def min(input, dim=_ALL, keepdim=False, *, other=None):
    return _extreme("min", np.argmin, input, dim, keepdim, other)


def _arg(np_arg):
    def arg(input, dim=None, keepdim=False):
        _check_nonempty(np_arg.__name__, input, _ALL if dim is None else dim)
        if dim is None:
            return wrap(np.asarray(np_arg(input._data), np.int64).reshape((1,) * input.ndim
                                                                          if keepdim else ()))
        d = _dim(dim, input.ndim)
        out = np_arg(input._data, axis=d) if input.ndim else np.zeros((), np.int64)
        return wrap(np.asarray(np.expand_dims(out, d) if keepdim and input.ndim else out, np.int64))
    return arg


argmax, argmin = _arg(np.argmax), _arg(np.argmin)


def _var(name, input, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):             # var(unbiased) in the old positional form
        dim, unbiased = _ALL, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dt = float_dtype(input)
    return _reduce(name, input, _ALL if dim is None else dim, keepdim, dt,
                   k0=float(correction), k1=float(name == "std"))[0]


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _var("var", input, dim, unbiased, keepdim, correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _var("std", input, dim, unbiased, keepdim, correction)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    p = 2.0 if p in ("fro", None) else float(p)
    if p == np.inf and input.numel() == 0:
        if dim is None:
            raise RuntimeError("linalg.vector_norm cannot compute the inf norm on an empty tensor "
                               "because the operation does not have an identity")
        for d in dim if isinstance(dim, (tuple, list)) else (dim,):
            if input.ndim and input.shape[_dim(d, input.ndim)] == 0:
                raise RuntimeError(f"linalg.vector_norm cannot compute the inf norm on the "
                                   f"dimension {_dim(d, input.ndim)}because this dimension is "
                                   "empty and the operation does not have an identity")
    return _reduce("norm", input, _ALL if dim is None else dim, keepdim, float_dtype(input), k0=p)[0]


def logsumexp(input, dim, keepdim=False):
    return _reduce("logsumexp", input, dim, keepdim, float_dtype(input))[0]


def _along(name):
    def op(input, dim, dtype=None):
        x = cast(input, dtype) if dtype else input if input.dtype.is_floating_point else \
            cast(input, float_dtype(input))
        return apply(CODE[name], [x], ki=_dim(dim, x.ndim) if x.ndim else 0)
    op.__name__ = name
    return op


softmax, log_softmax = _along("softmax"), _along("log_softmax")


def cumsum(input, dim, *, dtype=None):
    dt = dtype or (input.dtype if input.dtype.is_floating_point else dtypes.int64)
    x = cast(input, dt)
    d = _dim(dim, x.ndim)
    if x.ndim == 0:             # np.cumsum makes a 0-d input 1-d; its cumsum is a copy
        data = x._data.copy()
        return _recorded(CODE["cumsum"], [x], data, dt, 0.0, 0.0, 0) \
            if x._rg and is_grad_enabled() else wrap(data)
    return apply(CODE["cumsum"], [x], ki=d, dt=dt)


def all(input, dim=None, keepdim=False):
    axis = None if dim is None else _dim(dim, input.ndim)
    return wrap(np.asarray(np.all(input._data, axis=axis, keepdims=keepdim)))


def any(input, dim=None, keepdim=False):
    axis = None if dim is None else _dim(dim, input.ndim)
    return wrap(np.asarray(np.any(input._data, axis=axis, keepdims=keepdim)))


METHODS = dict(sum=sum, mean=mean, prod=prod, amax=amax, amin=amin, max=max, min=min,
               argmax=argmax, argmin=argmin, var=var, std=std, norm=norm, logsumexp=logsumexp,
               softmax=softmax, log_softmax=log_softmax, cumsum=cumsum, all=all, any=any)
for _name, _f in METHODS.items():
    setattr(Tensor, _name, _f)
