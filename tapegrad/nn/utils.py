"""Gradient clipping, as torch.nn.utils."""
import numpy as np

from .. import creation, reductions, shape_ops
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor, bump

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales the gradients in place so that their joint norm is at most
    max_norm; returns that norm before clipping (a tensor, as torch)."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return creation.tensor(0.0)
    total = reductions.norm(shape_ops.stack([reductions.norm(g, norm_type) for g in grads]),
                            norm_type)
    if error_if_nonfinite and not np.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. To disable this error and "
                           "scale the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    # as torch: always multiply, by a coefficient clamped at 1
    coef = min(float(max_norm) / (total.item() + 1e-6), 1.0)
    for g in grads:
        g._data *= g._data.dtype.type(coef)
        bump(g)
    return total


@no_grad()
def clip_grad_value_(parameters, clip_value, foreach=None):
    for g in _grads(parameters):
        np.clip(g._data, -clip_value, clip_value, out=g._data)
        bump(g)
