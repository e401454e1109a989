"""NumPy forwards of the ops whose forward is more than one NumPy call.

Signature as in the op table: forward(*arrays, k0, k1, ki). Reductions
take the reduced dims as a bitmask in ki, with KEEPDIM set to keep them.
"""
import math
import warnings

import numpy as np

from .kernels.layout import MAXDIM, SHAPE_COLS
from .kernels.linalg import linear_into, matmul_into

KEEPDIM = 1 << 40


def special():
    """scipy.special, imported on first use: importing it takes about 0.17 s,
    a fifth of `import tapegrad`, for a few ops' NumPy forwards."""
    import scipy.special
    return scipy.special


def axes(ki, ndim):
    return tuple(d for d in range(ndim) if ki >> d & 1)


def reduction(np_reduce):
    """A forward that calls np_reduce(a, axis=..., keepdims=..., **extra(k0))."""
    def forward(a, k0, k1, ki):
        if a.size == 0:              # torch gives nan for the mean of nothing, without a warning
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return np_reduce(a, axis=axes(ki, a.ndim), keepdims=bool(ki & KEEPDIM))
        with np.errstate(all="ignore"):          # inf - inf is nan, silently as in torch
            return np_reduce(a, axis=axes(ki, a.ndim), keepdims=bool(ki & KEEPDIM))
    return forward


def var(a, k0, k1, ki):
    with np.errstate(all="ignore"):
        v = np.var(a, axis=axes(ki, a.ndim), ddof=k0, keepdims=bool(ki & KEEPDIM))
        return np.sqrt(v) if k1 else v


def norm(a, k0, k1, ki):
    ax, keep = axes(ki, a.ndim), bool(ki & KEEPDIM)
    m = np.abs(a)
    if k0 == np.inf:              # (an empty reduction raised before: torch has no identity)
        return np.amax(m, axis=ax, keepdims=keep, initial=0.0)
    if k0 == 1:
        return np.sum(m, axis=ax, keepdims=keep)
    if k0 == 2:
        return np.sqrt(np.sum(m * m, axis=ax, keepdims=keep))
    return np.sum(m ** k0, axis=ax, keepdims=keep) ** (1 / k0)


def logsumexp(a, k0, k1, ki):
    if a.ndim == 0:                  # SciPy makes a 0-d input 1-d
        return a.copy()
    if a.size == 0:                  # and fails on empty ones: -inf for an empty sum
        with np.errstate(divide="ignore"):
            return np.log(np.sum(np.exp(a), axis=axes(ki, a.ndim), keepdims=bool(ki & KEEPDIM)))
    with np.errstate(all="ignore"):
        return special().logsumexp(a, axis=axes(ki, a.ndim), keepdims=bool(ki & KEEPDIM))


def softmax(a, k0, k1, ki):
    if a.size == 0:                  # np.amax has no identity
        return a.copy()
    with np.errstate(all="ignore"):          # rows of -inf or with inf give nan, as torch's
        e = np.exp(a - np.amax(a, axis=ki, keepdims=True))
        return e / np.sum(e, axis=ki, keepdims=True)


def log_softmax(a, k0, k1, ki):
    if a.size == 0:
        return a.copy()
    with np.errstate(all="ignore"):
        shifted = a - np.amax(a, axis=ki, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=ki, keepdims=True))


def _row(shape):
    row = np.zeros(SHAPE_COLS, np.int64)
    row[0], row[1] = len(shape), math.prod(shape)
    row[2:2 + len(shape)] = shape
    return row



def matmul_shape(sa, sb):
    """The shape of a @ b, or ValueError with PyTorch's wording."""
    if not sa or not sb:
        raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                           f"{len(sa)}D and {len(sb)}D")
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        a2 = sa if len(sa) > 1 else (1,) + sa
        b2 = sb if len(sb) > 1 else sb + (1,)
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({int(np.prod(a2[:-1]))}x{a2[-1]} and {b2[-2]}x{int(np.prod(b2[-1:]))})")
    try:
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({sa[-3]}) must match the size of tensor b "
                           f"({sb[-3]}) at non-singleton dimension 0") from None
    return batch + sa[-2:-1] + sb[-1:] if len(sb) > 1 else batch + sa[-2:-1]


def matmul(a, b, k0, k1, ki):
    shape = matmul_shape(a.shape, b.shape)
    if len(shape) > MAXDIM:
        raise RuntimeError(f"matmul supports at most {MAXDIM} dims")
    out = np.empty(shape, a.dtype)
    matmul_into(out.reshape(-1), np.ascontiguousarray(a).reshape(-1),
                np.ascontiguousarray(b).reshape(-1), _row(shape), _row(a.shape), _row(b.shape))
    return out


def linear(x, w, b=None, k0=0.0, k1=0.0, ki=0):
    """x @ w.T + b. As the two-input op (linear_nobias), b receives k0."""
    rows = math.prod(x.shape[:-1])
    out = np.empty(x.shape[:-1] + w.shape[:1], x.dtype)
    if rows == 0:                  # linear_into would take the input width for 0
        return out
    bias = b if isinstance(b, np.ndarray) else np.zeros(0, x.dtype)
    linear_into(out.reshape(-1), np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(w), bias, rows)
    return out


def nll_loss(logp, weight, target, k0, k1, ki):
    """-weight[t] * logp[i, t] per row, times k0; summed unless ki (reduction none)."""
    rows = np.arange(len(target))
    picked = logp.reshape(len(target), -1)[rows, np.clip(target, 0, None)]
    w = weight[np.clip(target, 0, None)] * (target != k1)
    losses = -picked * w * k0
    return losses if ki else np.sum(losses)


def gelu(a, k0, k1, ki):
    with np.errstate(all="ignore"):          # gelu(-inf) is nan, as torch's, without a warning
        if k0:
            return 0.5 * a * (1 + np.tanh(0.7978845608028654 * (a + 0.044715 * a * a * a)))
        return 0.5 * a * (1 + special().erf(a * 0.7071067811865476))


def softplus(a, k0, k1, ki):
    with np.errstate(over="ignore"):
        return np.where(a * k0 > k1, a, np.log1p(np.exp(k0 * a)) / k0)
