"""Optimizer: parameter groups, state, zero_grad and state_dict, as torch.optim.

Subclasses gather each parameter's flat buffers and call one compiled kernel
from tapegrad.kernels.optim per parameter; the update writes `p._data` in
place, so every alias of the parameter (views, tape slots) sees it.
"""
import functools
import warnings
from collections import defaultdict
from itertools import chain

import numpy as np

from .. import capture, dtypes
from ..autograd.grad_mode import enable_grad, no_grad
from ..record import wrap
from ..tensor import Tensor, bump


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj):
    """torch.typename: 'tapegrad.FloatTensor', 'int', 'numpy.ndarray', ..."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        module, qualname = obj.__class__.__module__ or "", obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def _copy(value):
    """Deep copy of lists, tuples and dicts that leaves tensors shared
    (copy.deepcopy would copy a tensor's whole tape)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __init_subclass__(cls, **kwargs):
        # Marks that step() ran, so an LR scheduler can warn when it steps first (as torch).
        # In a step recorded for replay, step() and zero_grad() are calls replay makes again.
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            step = cls.__dict__["step"]

            @functools.wraps(step)
            def marked(self, *args, **kw):
                self._opt_called = True
                return step(self, *args, **kw)
            cls.step = capture.replayed(marked)
        if "zero_grad" in cls.__dict__:
            cls.zero_grad = capture.replayed(cls.__dict__["zero_grad"], effect=False)

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                            "the ordering of tensors in sets will change between runs. Please use "
                            "a list instead.")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]   # named_parameters() pairs
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = params
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not self.defaults.get("differentiable") and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(params) != len(set(params)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see github.com/pytorch/pytorch/issues/"
                          "40967 for more information", stacklevel=3)
        seen = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not seen.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    @capture.replayed(effect=False)
    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p._grad = None             # (the setter checks only a new gradient)
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def step(self, closure=None):
        raise NotImplementedError

    def _closure(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # -- state_dict: parameters become their index in group order, as torch --
    def state_dict(self):
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        saved = _copy(state_dict["param_groups"])
        groups = self.param_groups
        if len(groups) != len(saved):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the "
                             "size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = _cast(id_map[k], v)
            else:
                state[k] = v
        for g, s in zip(groups, saved):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
        self.state, self.param_groups = state, saved
        for group in self.param_groups:
            self._group_defaults(group)

    def _group_defaults(self, group):
        """Fills in what an older state dict may lack (torch's __setstate__)."""


def _cast(param, value, key=None):
    """State for `param`: floating tensors take its dtype ('step' is kept as
    is); as in torch, a tensor already of that dtype is shared, not copied."""
    if isinstance(value, Tensor):
        if key != "step" and param.dtype.is_floating_point:
            return value.to(param.dtype)
        return value
    if isinstance(value, dict):
        return {k: _cast(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(param, v) for v in value)
    return value


def scalar(x):
    """A hyperparameter as a Python float (a 1-element tensor lr is allowed)."""
    return float(x.item()) if isinstance(x, Tensor) else float(x)


def step_tensor(value=0.0):
    """The 0-d 'step' count torch keeps: float32, or float64 under a float64 default."""
    dt = np.float64 if dtypes.get_default_dtype() is dtypes.float64 else np.float32
    return wrap(np.array(value, dtype=dt))


def steps_as_tensors(state, params):
    """Old checkpoints keep 'step' as a number; torch keeps a tensor."""
    for p in params:
        s = state.get(p)
        if s and not isinstance(s["step"], Tensor):
            s["step"] = step_tensor(float(s["step"]))


def zeros_state(p):
    return wrap(np.zeros(p._data.shape, p._data.dtype))


def flat(t):
    """t's data as a flat array the kernel can write through. Non-contiguous
    data gets a contiguous copy, which `put_back` copies into place."""
    a = t._data
    return a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)


def put_back(t, f):
    """t updated through f (copied into place where f is a copy): a new
    version of t, as torch's in-place update makes, so a graph that saved
    t's old value refuses to differentiate through it."""
    if not t._data.flags.c_contiguous:
        np.copyto(t._data, f.reshape(t._data.shape))
    bump(t)


def read(t):
    """A grad's data as a flat array, only read by the kernel."""
    return np.ascontiguousarray(t._data).reshape(-1)


_EMPTY = {}


def empty(dtype):
    """A 0-length stand-in for a buffer an option does not use (one kernel signature)."""
    if dtype not in _EMPTY:
        _EMPTY[dtype] = np.zeros(0, dtype)
    return _EMPTY[dtype]


def updating(step):
    """Runs the update under no_grad, after the closure (under enable_grad)."""
    @functools.wraps(step)
    def run(self, closure=None):
        loss = self._closure(closure)
        with no_grad():
            step(self)
        return loss
    return run
