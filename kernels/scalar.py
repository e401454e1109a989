"""Scalar helpers the derivative rules in the op table call by name."""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def pow_dbase(a, b):
    """d(a**b)/da, 0 where b == 0 (PyTorch's pow_backward_self)."""
    if b == 0:
        return 0.0
    return b * a ** (b - 1)


@njit(cache=True, nogil=True, inline="always")
def pow_dexp(a, b, y):
    """d(a**b)/db = a**b * log(a), 0 where a == 0 and b >= 0 (PyTorch's
    pow_backward_exponent)."""
    if a == 0 and b >= 0:
        return 0.0
    return y * np.log(a)
