"""Adam and AdamW (torch 2.13): amsgrad, weight decay (L2 or decoupled), maximize."""
from ..kernels import optim as K
from ..tensor import Tensor
from .optimizer import (Optimizer, empty, flat, put_back, read, scalar, step_tensor,
                        steps_as_tensors, updating, zeros_state)


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not any(all(isinstance(b, kind) for b in betas) for kind in (float, Tensor)):
            raise ValueError("betas must be either both floats or both Tensors")
        if differentiable:
            raise NotImplementedError("tapegrad does not record optimizer steps on the tape; "
                                      "use differentiable=False")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _group_defaults(self, group):
        for k, v in dict(amsgrad=False, maximize=False, foreach=None, capturable=False,
                         differentiable=False, decoupled_weight_decay=False, fused=None).items():
            group.setdefault(k, v)
        steps_as_tensors(self.state, group["params"])

    @updating
    def step(self):
        for group in self.param_groups:
            lr, eps, wd = scalar(group["lr"]), group["eps"], group["weight_decay"]
            beta1, beta2 = (scalar(b) for b in group["betas"])
            amsgrad = bool(group["amsgrad"])
            decoupled = bool(group["decoupled_weight_decay"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:     # lazy, in torch's key order
                    state["step"] = step_tensor()
                    state["exp_avg"] = zeros_state(p)
                    state["exp_avg_sq"] = zeros_state(p)
                    if amsgrad:
                        state["max_exp_avg_sq"] = zeros_state(p)
                state["step"]._data += 1
                step = float(state["step"]._data)
                # Per-step scalars, computed in Python doubles as torch does
                bc1 = 1 - beta1 ** step
                bc2_sqrt = (1 - beta2 ** step) ** 0.5
                c = p._data.dtype.type
                w1 = c(1 - beta1)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                vmax = state["max_exp_avg_sq"] if amsgrad else None
                pf, mf, vf = flat(p), flat(m), flat(v)
                xf = flat(vmax) if amsgrad else empty(pf.dtype)
                K.adam(pf, read(p.grad), mf, vf, xf, bool(group["maximize"]),
                       wd != 0 and not decoupled, wd != 0 and decoupled, c(wd), c(1 - lr * wd),
                       w1, c(1) - w1, bool(abs(w1) < 0.5), c(beta2), c(1 - beta2), c(bc2_sqrt),
                       c(eps), c(-(lr / bc1)), amsgrad)
                for t, f in ((p, pf), (m, mf), (v, vf)) + (((vmax, xf),) if amsgrad else ()):
                    put_back(t, f)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

    def _group_defaults(self, group):
        super()._group_defaults(group)
        group["decoupled_weight_decay"] = True
