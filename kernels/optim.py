"""Optimizer updates: one compiled pass per parameter over its flat buffer.

Each kernel is torch 2.13's `_single_tensor_*` update written per element,
with the same operation order (so float64 results agree to rounding). The
caller computes every scalar (lr, bias corrections, 1 - beta, ...) in Python
at step time and casts it to the parameter's dtype, as torch casts a Python
scalar to the tensor's dtype; nothing that changes per step is compiled in.
Integer literals are kept out of the arithmetic so float32 stays float32.
"""
import numpy as np
from numba import carray

from .jit import jit


@jit(inline="always")
def _lerp(start, end, w, one_minus_w, small):
    # torch's lerp: two forms, picked by |weight| < 0.5, for accuracy
    if small:
        return start + w * (end - start)
    return end - (end - start) * one_minus_w


@jit
def sgd(p, g, buf, neg_lr, maximize, decay, wd, use_momentum, first, momentum, keep, nesterov):
    """p -= lr * d, d = the gradient (negated if maximizing, plus wd * p),
    through the momentum buffer when momentum != 0; `first` starts the
    buffer as a copy of d (torch's clone on the first step); keep = 1 - dampening."""
    for i in range(p.size):
        d = -g[i] if maximize else g[i]
        if decay:
            d = d + wd * p[i]
        if use_momentum:
            b = d if first else buf[i] * momentum + keep * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] = p[i] + neg_lr * d


def plain_sgd(p, g, n, neg_lr):
    """sgd without momentum, weight decay or maximize on n elements at p
    and g (neg_lr: a pointer to -lr): compiled as a cfunc per dtype
    (registry.plain_sgd), which tapegrad/_record.c's loop over the
    parameters calls."""
    pa, ga = carray(p, (n,)), carray(g, (n,))
    k = neg_lr[0]
    sgd(pa, ga, pa, k, False, False, k, False, False, k, k, False)


@jit
def adam(p, g, m, v, vmax, maximize, l2, decoupled, wd, decay_mul, w1, omw1, small1,
         beta2, omb2, bc2_sqrt, eps, neg_step_size, amsgrad):
    """Adam / AdamW: l2 adds wd * p to the gradient (Adam), decoupled scales
    p by decay_mul = 1 - lr * wd first (AdamW); m lerps toward g with weight
    w1 = 1 - beta1; v = beta2 v + (1 - beta2) g^2; vmax keeps the running max
    (amsgrad, empty otherwise); p += -step_size * m / (sqrt(v)/bc2_sqrt + eps)."""
    for i in range(p.size):
        gi = -g[i] if maximize else g[i]
        if decoupled:
            p[i] = p[i] * decay_mul
        elif l2:
            gi = gi + wd * p[i]
        mi = _lerp(m[i], gi, w1, omw1, small1)
        m[i] = mi
        vi = v[i] * beta2 + omb2 * gi * gi
        v[i] = vi
        if amsgrad:
            top = vmax[i]
            if vi > top or vi != vi:     # torch.maximum propagates NaN
                top = vi
            vmax[i] = top
            vi = top
        denom = np.sqrt(vi) / bc2_sqrt + eps
        p[i] = p[i] + neg_step_size * mi / denom


@jit
def rmsprop(p, g, sq, gavg, buf, maximize, decay, wd, alpha, oma, omw, small, centered, eps,
            use_momentum, momentum, neg_lr):
    """sq = alpha sq + (1 - alpha) g^2; centered lerps gavg toward g (weight
    oma = 1 - alpha, omw = 1 - oma) and divides by sqrt(sq - gavg^2) instead of sqrt(sq);
    with momentum the step goes through buf = momentum buf + g / avg."""
    for i in range(p.size):
        gi = -g[i] if maximize else g[i]
        if decay:
            gi = gi + wd * p[i]
        s = sq[i] * alpha + oma * gi * gi
        sq[i] = s
        if centered:
            a = _lerp(gavg[i], gi, oma, omw, small)
            gavg[i] = a
            avg = np.sqrt(s + -a * a)        # addcmul(gavg, gavg, value=-1)
        else:
            avg = np.sqrt(s)
        avg = avg + eps
        if use_momentum:
            b = buf[i] * momentum + gi / avg
            buf[i] = b
            p[i] = p[i] + neg_lr * b
        else:
            p[i] = p[i] + neg_lr * gi / avg
