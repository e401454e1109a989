"""tapegrad.nn.functional: activations, dropout, linear and losses as functions.

Activations are the Tensor ops of tapegrad.math_ops (one record each);
the losses live in tapegrad.nn._losses and are re-exported here.
"""
import warnings

import numpy as np

from .. import capture, creation, dtypes, math_ops, reductions
from ..inplace import _check_leaf, _write
from ..linalg import linear
from ..optable import CODE, OPS
from ..record import new, wrap
from ._losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                      l1_loss, mse_loss, nll_loss)

__all__ = ["relu", "leaky_relu", "gelu", "silu", "softplus", "elu", "hardtanh", "sigmoid", "tanh",
           "softmax", "log_softmax", "dropout", "linear", "one_hot", "mse_loss", "l1_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss"]

sigmoid, tanh = math_ops.sigmoid, math_ops.tanh


def _maybe_inplace(name, input, inplace, op):
    """op(input), written into input when inplace (the returned tensor is
    then input itself, as torch). Where the op's derivative reads its input,
    it runs on a copy, so overwriting the input cannot spoil the gradient."""
    if not inplace:
        return op(input)
    _check_leaf(input)
    reads_input = "a" in OPS[CODE[name]].saves
    return _write(input, op(math_ops.clone(input) if reads_input else input))


def relu(input, inplace=False):
    return _maybe_inplace("relu", input, inplace, math_ops.relu)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _maybe_inplace("leaky_relu", input, inplace,
                          lambda x: math_ops.leaky_relu(x, negative_slope))


def elu(input, alpha=1.0, inplace=False):
    return _maybe_inplace("elu", input, inplace, lambda x: math_ops.elu(x, alpha))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return _maybe_inplace("hardtanh", input, inplace,
                          lambda x: math_ops.hardtanh(x, min_val, max_val))


def silu(input, inplace=False):
    return _maybe_inplace("silu", input, inplace, math_ops.silu)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return math_ops.gelu(input, approximate)


def softplus(input, beta=1.0, threshold=20.0):
    return math_ops.softplus(input, beta, threshold)


def _softmax_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    dim = _softmax_dim("softmax", input.ndim) if dim is None else dim
    return reductions.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    dim = _softmax_dim("log_softmax", input.ndim) if dim is None else dim
    return reductions.log_softmax(input, dim, dtype=dtype)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability p (tapegrad's generator) and
    scales the rest by 1/(1-p): one MulBackward0 record, as in torch."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    mask = new(np.empty(input.shape, input.dtype.np))
    _draw_mask(mask, p)
    return _maybe_inplace("mul", input, inplace, lambda x: math_ops.mul(x, mask))


@capture.replayed(effect=False)
def _draw_mask(mask, p):
    """Fills mask with 0 or 1/(1-p). In a replayed step a call replay makes
    again: each step draws new numbers from the generator, as normal calls
    do (a step that falls back draws again)."""
    keep = creation._random().random(mask.shape) >= p
    mask._data[...] = keep * (1.0 / (1.0 - p) if p < 1.0 else 0.0)


def one_hot(tensor, num_classes=-1):
    if tensor.dtype is not dtypes.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    idx = tensor._data
    if idx.size and idx.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(idx.max()) + 1
    elif idx.size and idx.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return wrap((idx[..., None] == np.arange(num_classes)).astype(np.int64))
