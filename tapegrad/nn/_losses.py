"""Loss functions (tapegrad.nn.functional re-exports them).

nll_loss is one op (NllLossBackward0), and cross_entropy is log_softmax
plus that op, as in torch. The others are composed from elementwise ops
and reductions: the same values and gradients as torch, but their grad_fn
is the last op's (MeanBackward0, ...) where torch names a fused kernel
(MseLossBackward0, ...).
"""
import threading
import warnings

import numpy as np

from .. import capture, creation, dtypes, math_ops, reductions
from ..kernels.forward_reduce import nll_targets
from ..optable import CODE
from ..record import apply, cast, wrap


def _reduction(size_average, reduce, reduction):
    """The legacy size_average / reduce flags, mapped as torch maps them."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "none" if not reduce else ("mean" if size_average else "sum")
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' "
                  "instead.", stacklevel=3)
    return ret


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _pointwise(diff, input, target, size_average, reduce, reduction, weight):
    """mse_loss and l1_loss: diff(input - target), optionally weighted."""
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=3)
    reduction = _reduction(size_average, reduce, reduction)
    loss = diff(input - target)
    if weight is None:
        return _reduce(loss, reduction)
    if weight.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean":              # torch normalizes by the weights here
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    return _pointwise(lambda d: d ** 2, input, target, size_average, reduce, reduction, weight)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    return _pointwise(math_ops.abs, input, target, size_average, reduce, reduction, weight)


def _log_min100(x, log, defined):
    """log(x) clamped below at -100, as torch's BCE, with gradient 0 (not
    0 * inf = nan) where the log is -inf. (At x = 0 or 1 torch's fused
    kernel gives (x - t) / max(x (1 - x), 1e-12) instead: 0 or +-1e12.)"""
    ok = wrap(defined(x._data))
    logged = log(math_ops.where(ok, x, 0.5))
    return math_ops.clamp(math_ops.where(ok, logged, -100.0), min=-100.0)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input "
                         f"size ({input.shape}) is deprecated. Please ensure they have the same "
                         "size.")
    for name, x in (("input", input), ("target", target)):
        if not np.all((x._data >= 0) & (x._data <= 1)):
            raise RuntimeError(f"all elements of {name} should be between 0 and 1")
    # torch's formula: (t - 1) * max(log1p(-x), -100) - t * max(log(x), -100)
    log_x = _log_min100(input, math_ops.log, lambda a: a > 0)
    log_1mx = _log_min100(input, lambda x: math_ops.log1p(-x), lambda a: a < 1)
    loss = (target - 1) * log_1mx - target * log_x
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    reduction = _reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})")
    # log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): stable for any x, and
    # minimum's tie rule gives the right slope (1/2) at x = 0
    log_sigmoid = (math_ops.minimum(input, 0.0)
                   - math_ops.log1p(math_ops.exp(-math_ops.abs(input))))
    if pos_weight is not None:
        log_sigmoid = log_sigmoid * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sigmoid
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _rows(input, target):
    """(log-probs as (rows, classes) with classes last, flat targets, the
    unreduced loss's shape): input (C,), (N, C) or (N, C, d1, ...)."""
    if input.ndim == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        return input.reshape(1, -1), target.reshape(1), ()
    if input.ndim == 2 and target._data.shape == input._data.shape[:1]:     # the common case, at once
        return input, target, target.shape
    if target.shape[:1] != input.shape[:1]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({target.shape[0] if target.ndim else 0}).")
    want = input.shape[:1] + input.shape[2:]
    if target.shape != want:
        raise RuntimeError(f"Expected target size {list(want)}, got {list(target.shape)}")
    if input.ndim == 2:
        return input, target, target.shape
    last = input.permute(0, *range(2, input.ndim), 1)
    return last.reshape(-1, input.shape[1]), target.reshape(-1), target.shape


_ONES = threading.local()       # per thread, as its tape: (classes, dtype) -> ones


def _class_weights(weight, classes, like):
    if weight is None:          # one tensor of ones, kept: a new one was a tenth of the loss's time
        key = (classes, like.dtype)
        ones = _ONES.__dict__.get(key)
        if ones is None:
            ones = _ONES.__dict__[key] = creation.ones(classes, dtype=like.dtype)
        return ones
    if weight.shape != (classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {classes} classes or "
                           f"no classes but got weight tensor of shape: {list(weight.shape)}")
    return cast(weight.detach(), like.dtype)      # no gradient flows to class weights, as torch


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if target.dtype is not dtypes.int64:
        raise RuntimeError("expected target dtype to be Long or Byte, but got "
                           + target.dtype.name.capitalize())
    logp, flat, shape = _rows(input, target)
    classes = logp.shape[1]
    w = _class_weights(weight, classes, logp)
    # Python reads the targets: in a replayed step, again every call
    scale = capture.checked(lambda: _nll_scale(flat._data, w._data, ignore_index, classes, reduction))
    # one sample unreduced is its sum: a 0-d result straight from the op, as torch
    unreduced = reduction == "none" and shape != ()
    out = apply(CODE["nll_loss"], [logp, w, flat], k0=scale, k1=float(ignore_index),
                ki=int(unreduced))
    return out.reshape(shape) if unreduced and out.shape != shape else out


def _nll_scale(t, w, ignore_index, classes, reduction):
    """Checks the targets; the loss's scale: 1, or for the mean one over the
    weights of the counted targets."""
    bad, total = nll_targets(t, w, ignore_index, classes)
    if bad >= 0:
        raise IndexError(f"Target {t[bad]} is out of bounds.")
    if reduction != "mean":
        return 1.0
    return 1.0 / total if total else float("nan")


def _soft_cross_entropy(logp, target, weight, reduction, label_smoothing, class_dim):
    """cross_entropy with class probabilities as the target."""
    if target.shape != logp.shape:
        raise RuntimeError(f"Expected target size {list(logp.shape)}, got {list(target.shape)}")
    classes = logp.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    if weight is not None:
        logp = logp * _broadcast_weight(weight, logp, class_dim)
    loss = -(logp * target).sum(class_dim)
    if reduction == "mean":          # torch divides by the number of samples
        return loss.sum() / (logp.numel() // classes if logp.numel() else 0)
    return _reduce(loss, reduction)


def _broadcast_weight(weight, like, class_dim):
    shape = [1] * like.ndim
    shape[class_dim] = like.shape[class_dim]
    return _class_weights(weight, like.shape[class_dim], like).reshape(shape)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    logp = reductions.log_softmax(input, class_dim)
    if target.dtype.is_floating_point:
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _soft_cross_entropy(logp, target, weight, reduction, label_smoothing, class_dim)
    loss = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0.0:
        return loss
    # torch's label smoothing: mix in the (weighted) mean of -log p over the classes
    weighted = logp if weight is None else logp * _broadcast_weight(weight, logp, class_dim)
    ignored = target._data == ignore_index
    smooth = math_ops.masked_fill(-weighted.sum(class_dim), wrap(ignored), 0.0)
    if reduction == "mean":
        kept = target._data[~ignored]
        total = kept.size if weight is None else float(weight._data[kept].sum())
        smooth = smooth.sum() / total if total else smooth.sum() * float("nan")
    else:
        smooth = _reduce(smooth, reduction)
    classes = input.shape[class_dim]
    return (1 - label_smoothing) * loss + smooth * (label_smoothing / classes)
