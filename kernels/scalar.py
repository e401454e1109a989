"""Scalar helpers the forward and derivative rules in the op table call by name."""
import math

import numpy as np

from .jit import jit


@jit(inline="always")
def pow_dbase(a, b):
    """d(a**b)/da, 0 where b == 0 (PyTorch's pow_backward_self)."""
    if b == 0:
        return 0.0
    return b * a ** (b - 1)


@jit(inline="always")
def pow_dexp(a, b, y):
    """d(a**b)/db = a**b * log(a), 0 where a == 0 and b >= 0 (PyTorch's
    pow_backward_exponent)."""
    if a == 0 and b >= 0:
        return 0.0
    return y * np.log(a)


@jit(inline="always")
def gelu_grad(a, tanh_form):
    """d gelu(a)/da, exact (erf) or the tanh approximation (tanh_form != 0)."""
    if tanh_form:
        k = 0.7978845608028654            # sqrt(2 / pi)
        inner = k * (a + 0.044715 * a * a * a)
        t = np.tanh(inner)
        return 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * k * (1 + 3 * 0.044715 * a * a)
    cdf = 0.5 * (1 + math.erf(a * 0.7071067811865476))
    return cdf + a * np.exp(-0.5 * a * a) * 0.3989422804014327


@jit(inline="always")
def silu_grad(a):
    s = 1 / (1 + np.exp(-a))
    return s * (1 + a * (1 - s))


@jit(inline="always")
def softplus_grad(a, beta):
    return 1 / (1 + np.exp(-beta * a))


@jit(inline="always")
def clamp(a, lo, hi):
    """min(max(a, lo), hi) with NaN passing through, as torch.clamp."""
    t = lo if a < lo else a
    return hi if t > hi else t


@jit(inline="always")
def maximum(a, b):
    """The larger, or NaN if either is NaN (torch.maximum)."""
    if a != a or b != b:
        return a + b
    return a if a > b else b


@jit(inline="always")
def minimum(a, b):
    if a != a or b != b:
        return a + b
    return a if a < b else b


@jit(inline="always")
def gelu(a, tanh_form):
    """gelu(a), exact (erf) or the tanh approximation (tanh_form != 0)."""
    if tanh_form:
        return 0.5 * a * (1 + math.tanh(0.7978845608028654 * (a + 0.044715 * a * a * a)))
    return 0.5 * a * (1 + math.erf(a * 0.7071067811865476))
