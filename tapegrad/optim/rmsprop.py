"""RMSprop (torch 2.13): alpha, eps, weight decay, momentum, centered, maximize."""
from ..kernels import optim as K
from .optimizer import (Optimizer, empty, flat, put_back, read, scalar, step_tensor,
                        steps_as_tensors, updating, zeros_state)


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        if differentiable:
            raise NotImplementedError("tapegrad does not record optimizer steps on the tape; "
                                      "use differentiable=False")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _group_defaults(self, group):
        for k, v in dict(momentum=0, centered=False, foreach=None, maximize=False,
                         differentiable=False, capturable=False).items():
            group.setdefault(k, v)
        steps_as_tensors(self.state, group["params"])

    @updating
    def step(self):
        for group in self.param_groups:
            lr, alpha = scalar(group["lr"]), group["alpha"]
            eps, wd = group["eps"], group["weight_decay"]
            momentum, centered = group["momentum"], bool(group["centered"])
            use_momentum = momentum > 0
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:     # lazy, in torch's key order
                    state["step"] = step_tensor()
                    state["square_avg"] = zeros_state(p)
                    if use_momentum:
                        state["momentum_buffer"] = zeros_state(p)
                    if centered:
                        state["grad_avg"] = zeros_state(p)
                state["step"]._data += 1
                c = p._data.dtype.type
                oma = c(1 - alpha)
                bufs = [state["square_avg"], state.get("grad_avg") if centered else None,
                        state["momentum_buffer"] if use_momentum else None]
                pf = flat(p)
                flats = [flat(b) if b is not None else empty(pf.dtype) for b in bufs]
                K.rmsprop(pf, read(p.grad), *flats, bool(group["maximize"]), wd != 0, c(wd),
                          c(alpha), oma, c(1) - oma, bool(abs(oma) < 0.5), centered, c(eps),
                          use_momentum, c(momentum), c(-lr))
                put_back(p, pf)
                for b, f in zip(bufs, flats):
                    if b is not None:
                        put_back(b, f)
