"""SGD with momentum, dampening, Nesterov, weight decay and maximize (torch 2.13)."""
from .. import capture
from ..kernels import optim as K
from ..kernels import registry
from .optimizer import Optimizer, empty, flat, put_back, read, scalar, updating, zeros_state

# the loop of plain SGD in C (tapegrad/_record.c), where scalars.py finds the
# extension built: the parameters it leaves come back to the loop below
plain_loop = None


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("tapegrad does not record optimizer steps on the tape; "
                                      "use differentiable=False")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _group_defaults(self, group):
        for k, v in dict(nesterov=False, maximize=False, foreach=None, differentiable=False,
                         fused=False).items():
            group.setdefault(k, v)

    @updating
    def step(self):
        for group in self.param_groups:
            lr, wd = scalar(group["lr"]), group["weight_decay"]
            momentum, dampening = group["momentum"], group["dampening"]
            use_momentum = momentum != 0
            maximize, nesterov = bool(group["maximize"]), bool(group["nesterov"])
            scalars = {}     # per dtype: torch casts each Python scalar to the parameter's
            params = group["params"]
            if plain_loop is not None and not (use_momentum or wd or maximize or capture.RECORDING[0]):
                params = plain_loop(params, -lr, *registry.plain_sgd())
            for p in params:
                grad = p.grad
                if grad is None:
                    continue
                pf = flat(p)
                c = scalars.get(pf.dtype)
                if c is None:
                    t = pf.dtype.type
                    c = scalars[pf.dtype] = (t(-lr), t(wd), t(momentum), t(1 - dampening))
                buf = self.state[p].get("momentum_buffer") if use_momentum else None
                first = use_momentum and buf is None
                if first:
                    buf = zeros_state(p)
                bf = flat(buf) if use_momentum else empty(pf.dtype)
                K.sgd(pf, read(grad), bf, c[0], maximize, wd != 0, c[1], use_momentum, first,
                      c[2], c[3], nesterov)
                put_back(p, pf)
                if use_momentum:
                    put_back(buf, bf)
                    self.state[p]["momentum_buffer"] = buf
