"""Elementwise math, as functions that are also Tensor methods
(torch.exp(x) and x.exp() are the same function here)."""
import builtins
import functools
import numbers

import numpy as np

from . import defer, dtypes, scalars
from .defer import Deferred
from .autograd.grad_mode import is_grad_enabled
from .optable import CODE
from .record import apply, cast, float_dtype, wrap
from .tensor import Tensor


def _number(x):
    # (the type test first: an isinstance against the ABC costs an op 0.2 us)
    return type(x) in _PYTHON_NUMBERS or isinstance(x, numbers.Number) and not isinstance(x, Tensor)


_PYTHON_NUMBERS = (int, float)


def broadcast_error(*shapes):
    """The RuntimeError torch raises for shapes that do not broadcast."""
    result = ()
    for shape in shapes:
        shape = tuple(shape)
        n = builtins.max(len(result), len(shape))
        a, b = (1,) * (n - len(result)) + result, (1,) * (n - len(shape)) + shape
        for d in range(n - 1, -1, -1):
            if a[d] != b[d] and a[d] != 1 and b[d] != 1:
                return RuntimeError(f"The size of tensor a ({a[d]}) must match the size of tensor "
                                    f"b ({b[d]}) at non-singleton dimension {d}")
        result = tuple(builtins.max(x, y) for x, y in zip(a, b))
    return RuntimeError(f"shapes {[list(s) for s in shapes]} cannot be broadcast together")


def _no_numpy_shape_errors(f):
    """NumPy's broadcast ValueError becomes torch's RuntimeError."""
    @functools.wraps(f)
    def op(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except ValueError as e:
            if "broadcast" not in str(e):
                raise
            raise broadcast_error(*[a.shape for a in args if isinstance(a, Tensor)]) from None
    return op


def _binary(name, x, y, alpha=1, reflected=False, dt=None):
    """x (op) y, or y (op) x when reflected, for a tensor x and a tensor or
    Python number y. Numbers are folded into the record as k0."""
    if alpha == 1:                       # 0-d floats: scalars.py, else None
        if type(y) in _PYTHON_NUMBERS:
            out = scalars.record(_SCALAR_FORM[name, reflected], x, None, float(y))
        else:       # (add and sub record alpha, as below)
            out = scalars.record(CODE[name], *((y, x) if reflected else (x, y)),
                                 1.0 if name in ("add", "sub") else 0.0)
        if out is not None:
            return out
    if isinstance(y, Tensor):
        if type(x) is Deferred or type(y) is Deferred:
            out = defer.record(CODE[name], [y, x] if reflected else [x, y],
                               alpha if name in ("add", "sub") else 0.0, dt=dt)
            if out is not None:
                return out
        # (one dtype needs no promotion: the common case, a fifth of an op's time)
        dt = dt or (x.dtype if x._data.dtype == y._data.dtype else dtypes.result_type(x, y))
        a, b = (y, x) if reflected else (x, y)
        try:
            # (only add and sub read alpha: the others' records keep no constant)
            return apply(CODE[name], [cast(a, dt), cast(b, dt)], k0=alpha if name in ("add", "sub")
                         else 0.0, dt=dt)
        except ValueError as e:
            if "broadcast" not in str(e):
                raise
            raise broadcast_error(a.shape, b.shape) from None
    if not _number(y):
        return NotImplemented
    dt = dt or dtypes.result_type(x, y)
    if alpha != 1:
        y = y * alpha
    if type(x) is Deferred and type(y) in _PYTHON_NUMBERS:
        out = defer.record(_SCALAR_FORM[name, reflected], [x], y, dt=dt)
        if out is not None:
            return out
    return apply(_SCALAR_FORM[name, reflected], [cast(x, dt)], k0=y, dt=dt)


# the op of x (op) number, and of number (op) x (reflected)
_SCALAR_FORM = {(name, reflected): CODE[("r" if reflected and name in ("sub", "div", "pow") else "")
                                        + name + "_scalar"]
                for name in ("add", "sub", "mul", "div", "pow") for reflected in (False, True)}


def add(input, other, *, alpha=1):
    return _binary("add", input, other, alpha)


def _no_bool_sub(x, y):
    if x.dtype is dtypes.bool_ or isinstance(y, bool) or (
            isinstance(y, Tensor) and y.dtype is dtypes.bool_):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")


def sub(input, other, *, alpha=1):
    _no_bool_sub(input, other)
    return _binary("sub", input, other, alpha)


def mul(input, other):
    return _binary("mul", input, other)


def div(input, other):
    return _binary("div", input, other, dt=float_dtype(input, other))


def _no_bool_pow(x, y):
    if dtypes.result_type(x, y) is dtypes.bool_:
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")


def _rpow(input, base):
    """base ** input for a Python number base (PowBackward2)."""
    if not _number(base):
        return NotImplemented
    _no_bool_pow(input, base)
    return _binary("pow", input, base, reflected=True)


def pow(input, exponent):
    if _number(input):                  # torch.pow(2, x)
        return _rpow(exponent, input)
    if not (isinstance(exponent, Tensor) or _number(exponent)):
        return NotImplemented
    if isinstance(exponent, Tensor):    # torch allows bool_tensor ** True
        _no_bool_pow(input, exponent)
    if (_number(exponent) and not input.dtype.is_floating_point
            and isinstance(exponent, int) and exponent < 0):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _binary("pow", input, exponent)


def rsub(input, other):
    _no_bool_sub(input, other)
    return _binary("sub", input, other, reflected=True)


def neg(input):
    out = scalars.record(CODE["neg"], input, None)      # 0-d floats: scalars.py, else None
    if out is not None:
        return out
    if input.dtype is dtypes.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return apply(CODE["neg"], [input])


def _unary(name, floating=True):
    code = CODE[name]

    def op(input):
        out = scalars.record(code, input, None)      # 0-d floats: scalars.py, else None
        if out is not None:
            return out
        # (a float input needs no cast: the common case, tested first; a Deferred one is float)
        x = input if not floating or type(input) is Deferred or input._data.dtype.kind == "f" else \
            cast(input, float_dtype(input))
        return apply(code, [x])
    op.__name__ = name
    return op


exp, log, sqrt, sin, cos, tan, tanh, sigmoid = (
    _unary(n) for n in ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid"))
log1p, expm1, exp2, log2, log10, rsqrt, reciprocal, erf, silu = (
    _unary(n) for n in ("log1p", "expm1", "exp2", "log2", "log10", "rsqrt", "reciprocal", "erf",
                        "silu"))
relu, abs, sign, floor, ceil, round = (
    _unary(n, False) for n in ("relu", "abs", "sign", "floor", "ceil", "round"))


def square(input):
    return pow(input, 2)


def _tensor_pair(name, a, b):
    """Both operands as tensors of their promoted dtype (numbers become 0-d)."""
    if not isinstance(b, Tensor):
        b = wrap(np.asarray(b, dtypes.result_type(a, b).np))
    dt = dtypes.result_type(a, b)
    try:
        return apply(CODE[name], [cast(a, dt), cast(b, dt)], dt=dt)
    except ValueError as e:
        if "broadcast" not in str(e):
            raise
        raise broadcast_error(a.shape, b.shape) from None


def maximum(input, other):
    return _tensor_pair("maximum", input, other)


def minimum(input, other):
    return _tensor_pair("minimum", input, other)


def atan2(input, other):
    dt = float_dtype(input, other)
    return _tensor_pair("atan2", cast(input, dt), cast(other, dt))


def _modulo(name):
    def op(input, other):
        if isinstance(other, Tensor):
            return _tensor_pair(name, input, other)
        if not _number(other):
            return NotImplemented
        dt = dtypes.result_type(input, other)
        return apply(CODE[name + "_scalar"], [cast(input, dt)], k0=other, dt=dt)
    op.__name__ = name
    return op


fmod, remainder = _modulo("fmod"), _modulo("remainder")


def _as_float_mask(cond, like):
    return wrap(np.asarray(cond._data if isinstance(cond, Tensor) else cond, like._data.dtype))


@_no_numpy_shape_errors
def where(condition, input=None, other=None):
    if input is None and other is None:
        return tuple(wrap(i) for i in np.nonzero(condition._data))
    if not isinstance(input, Tensor):
        input = wrap(np.asarray(input, dtypes.result_type(other, input).np
                                if isinstance(other, Tensor) else dtypes.result_type(input).np))
    if not isinstance(other, Tensor):
        other = wrap(np.asarray(other, dtypes.result_type(input, other).np))
    dt = dtypes.result_type(input, other)
    a, b = cast(input, dt), cast(other, dt)
    return apply(CODE["where"], [a, b, _as_float_mask(condition, a)], dt=dt)


@_no_numpy_shape_errors
def masked_fill(input, mask, value):
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.name}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        if value._rg and is_grad_enabled():        # the gradient reaches value too
            return where(mask, cast(value, input.dtype), input)
        value = value.item()
    return apply(CODE["masked_fill"], [input, _as_float_mask(mask, input)], k0=value)


@_no_numpy_shape_errors
def lerp(input, end, weight):
    if isinstance(weight, Tensor):
        return apply(CODE["lerp_tensor"], [input, cast(end, input.dtype), cast(weight, input.dtype)])
    return apply(CODE["lerp"], [input, cast(end, input.dtype)], k0=weight)


def leaky_relu(input, negative_slope=0.01):
    return apply(CODE["leaky_relu"], [input], k0=negative_slope)


def gelu(input, approximate="none"):
    return apply(CODE["gelu"], [input], k0=float(approximate == "tanh"))


def softplus(input, beta=1.0, threshold=20.0):
    return apply(CODE["softplus"], [input], k0=beta, k1=threshold)


def elu(input, alpha=1.0):
    return apply(CODE["elu"], [input], k0=alpha)


def hardtanh(input, min_val=-1.0, max_val=1.0):
    return apply(CODE["hardtanh"], [input], k0=min_val, k1=max_val)


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


def _compare(ufunc):
    @_no_numpy_shape_errors
    def compare(input, other):
        y = other._data if isinstance(other, Tensor) else other
        if not (isinstance(other, Tensor) or _number(other)):
            return NotImplemented
        return wrap(np.asarray(ufunc(input._data, y)))
    return compare


eq, ne, lt, le, gt, ge = (_compare(u) for u in (np.equal, np.not_equal, np.less, np.less_equal,
                                                np.greater, np.greater_equal))


def equal(input, other):
    return input.shape == other.shape and bool(np.array_equal(input._data, other._data))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.allclose(input._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


METHODS = dict(
    add=add, sub=sub, mul=mul, div=div, pow=pow, neg=neg, exp=exp, log=log, sqrt=sqrt,
    sin=sin, cos=cos, tan=tan, tanh=tanh, sigmoid=sigmoid, relu=relu, abs=abs, clamp=clamp,
    clip=clamp, clone=clone, eq=eq, ne=ne, lt=lt, le=le, gt=gt, ge=ge,
    equal=equal, allclose=allclose, negative=neg, multiply=mul,
    subtract=sub, divide=div, true_divide=div, log1p=log1p, expm1=expm1, exp2=exp2, log2=log2,
    log10=log10, rsqrt=rsqrt, reciprocal=reciprocal, erf=erf, sign=sign, floor=floor, ceil=ceil,
    round=round, square=square, maximum=maximum, minimum=minimum, atan2=atan2, fmod=fmod,
    remainder=remainder, masked_fill=masked_fill, lerp=lerp, __mod__=remainder,
    __add__=add, __radd__=add, __sub__=sub, __rsub__=rsub, __mul__=mul, __rmul__=mul,
    __truediv__=div, __rtruediv__=lambda x, y: _binary("div", x, y, reflected=True,
                                                       dt=float_dtype(x, y)),
    __pow__=pow, __rpow__=_rpow,
    __neg__=neg, __abs__=abs, __eq__=eq, __ne__=ne, __lt__=lt, __le__=le, __gt__=gt, __ge__=ge,
)
# Tensor's dunders and unary methods take a 0-d float tensor to
# scalars.record first (in C where it is built; scalars.binary)
_BINARY = {"__add__": ("add", False), "__radd__": ("add", False), "__sub__": ("sub", False),
           "__rsub__": ("sub", True), "__mul__": ("mul", False), "__rmul__": ("mul", False),
           "__truediv__": ("div", False), "__rtruediv__": ("div", True), "__pow__": ("pow", False),
           "__rpow__": ("pow", True)}
_UNARY = {f: CODE["neg" if f is neg else f.__name__] for f in
          (neg, exp, log, sqrt, sin, cos, tan, tanh, sigmoid, log1p, expm1, exp2, log2, log10, rsqrt,
           reciprocal, erf, silu, relu, abs, sign, floor, ceil, round)}
for _name, _f in METHODS.items():
    if _name in _BINARY:
        _op, _reflected = _BINARY[_name]
        _f = scalars.binary(-1 if _reflected else CODE[_op], _SCALAR_FORM[_op, _reflected],
                            1.0 if _op in ("add", "sub") else 0.0, _f)
    elif _f in _UNARY:
        _f = scalars.unary(_UNARY[_f], _f)
    setattr(Tensor, _name, _f)
