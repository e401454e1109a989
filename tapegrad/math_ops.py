"""Elementwise math and reductions, as functions that are also Tensor methods
(torch.exp(x) and x.exp() are the same function here)."""
import builtins
import numbers

import numpy as np

from . import dtypes
from .optable import CODE
from .record import apply, cast, float_dtype, wrap
from .tensor import Tensor, _dim


def _number(x):
    return isinstance(x, numbers.Number) and not isinstance(x, Tensor)


def _binary(name, x, y, alpha=1, reflected=False, dt=None):
    """x (op) y, or y (op) x when reflected, for a tensor x and a tensor or
    Python number y. Numbers are folded into the record as k0."""
    if isinstance(y, Tensor):
        dt = dt or dtypes.result_type(x, y)
        a, b = (y, x) if reflected else (x, y)
        return apply(CODE[name], [cast(a, dt), cast(b, dt)], k0=alpha, dt=dt)
    if not _number(y):
        return NotImplemented
    dt = dt or dtypes.result_type(x, y)
    if alpha != 1:
        y = y * alpha
    form = ("r" if reflected and name in ("sub", "div", "pow") else "") + name + "_scalar"
    return apply(CODE[form], [cast(x, dt)], k0=y, dt=dt)


def add(input, other, *, alpha=1):
    return _binary("add", input, other, alpha)


def sub(input, other, *, alpha=1):
    return _binary("sub", input, other, alpha)


def mul(input, other):
    return _binary("mul", input, other)


def div(input, other):
    return _binary("div", input, other, dt=float_dtype(input, other))


def pow(input, exponent):
    if (_number(exponent) and not input.dtype.is_floating_point
            and isinstance(exponent, int) and exponent < 0):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _binary("pow", input, exponent)


def rsub(input, other):
    return _binary("sub", input, other, reflected=True)


def neg(input):
    if input.dtype is dtypes.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return apply(CODE["neg"], [input])


def _unary(name, floating=True):
    code = CODE[name]

    def op(input):
        x = cast(input, float_dtype(input)) if floating else input
        return apply(code, [x])
    op.__name__ = name
    return op


exp, log, sqrt, sin, cos, tan, tanh, sigmoid = (
    _unary(n) for n in ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid"))
relu, abs = _unary("relu", False), _unary("abs", False)


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    bounds = [b for b in (min, max) if b is not None]
    if builtins.any(isinstance(b, Tensor) for b in bounds):
        raise TypeError("clamp with tensor bounds is not supported yet; use maximum / minimum")
    dt = dtypes.result_type(input, *bounds)
    lo = -np.inf if min is None else min
    hi = np.inf if max is None else max
    return apply(CODE["clamp"], [cast(input, dt)], k0=lo, k1=hi, dt=dt)


clip = clamp


def clone(input):
    return apply(CODE["clone"], [input])


def _reduce(name, input, dim, keepdim, dt):
    x = cast(input, dt)
    if dim is None:
        dims, form = range(x.ndim), name
    else:
        dims = {_dim(d, x.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        dims, form = (dims if x.ndim else ()), name + "_dim"
    count = int(np.prod([x.shape[d] for d in dims], dtype=np.int64))
    k0 = 1.0 if name == "sum" else 1.0 / count if count else np.nan
    mask = builtins.sum(1 << d for d in dims)
    return apply(CODE[form], [x], k0=k0, k1=float(keepdim), ki=mask, dt=dt)


def sum(input, dim=None, keepdim=False, *, dtype=None):
    dt = dtype or (input.dtype if input.dtype.is_floating_point else dtypes.int64)
    return _reduce("sum", input, dim, keepdim, dt)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    dt = dtype or input.dtype
    if not dt.is_floating_point:
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {input.dtype.name.capitalize()}")
    return _reduce("mean", input, dim, keepdim, dt)


def _compare(ufunc):
    def compare(input, other):
        y = other._data if isinstance(other, Tensor) else other
        if not (isinstance(other, Tensor) or _number(other)):
            return NotImplemented
        return wrap(np.asarray(ufunc(input._data, y)))
    return compare


eq, ne, lt, le, gt, ge = (_compare(u) for u in (np.equal, np.not_equal, np.less, np.less_equal,
                                                np.greater, np.greater_equal))


def all(input):
    return wrap(np.asarray(np.all(input._data)))


def any(input):
    return wrap(np.asarray(np.any(input._data)))


def equal(input, other):
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def norm(input, p=2):
    if p != 2:
        raise NotImplementedError("only the 2-norm is implemented so far")
    return sqrt(sum(mul(input, input)))


METHODS = dict(
    add=add, sub=sub, mul=mul, div=div, pow=pow, neg=neg, exp=exp, log=log, sqrt=sqrt,
    sin=sin, cos=cos, tan=tan, tanh=tanh, sigmoid=sigmoid, relu=relu, abs=abs, clamp=clamp,
    clip=clamp, clone=clone, sum=sum, mean=mean, eq=eq, ne=ne, lt=lt, le=le, gt=gt, ge=ge,
    all=all, any=any, equal=equal, allclose=allclose, norm=norm, negative=neg, multiply=mul,
    subtract=sub, divide=div, true_divide=div,
    __add__=add, __radd__=add, __sub__=sub, __rsub__=rsub, __mul__=mul, __rmul__=mul,
    __truediv__=div, __rtruediv__=lambda x, y: _binary("div", x, y, reflected=True,
                                                       dt=float_dtype(x, y)),
    __pow__=pow, __rpow__=lambda x, y: _binary("pow", x, y, reflected=True),
    __neg__=neg, __abs__=abs, __eq__=eq, __ne__=ne, __lt__=lt, __le__=le, __gt__=gt, __ge__=ge,
)
for _name, _f in METHODS.items():
    setattr(Tensor, _name, _f)
