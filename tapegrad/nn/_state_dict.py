"""Module.state_dict and Module.load_state_dict, as torch's: keys are dotted
paths ("0.weight"), values the parameters and persistent buffers detached
(sharing memory); loading copies into them in place, under no_grad, so the
Parameter objects (and an optimizer's references to them) stay the same."""
import itertools
from collections import OrderedDict, namedtuple

import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor, bump
from .parameter import Parameter


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def local_state(module):
    """The module's own parameters and persistent buffers (not its children's)."""
    buffers = ((k, v) for k, v in module._buffers.items()
               if k not in module._non_persistent_buffers_set)
    return {k: v for k, v in itertools.chain(module._parameters.items(), buffers)
            if v is not None}


def state_dict(module, destination=None, prefix="", keep_vars=False):
    destination = OrderedDict() if destination is None else destination
    for name, value in local_state(module).items():
        destination[prefix + name] = value if keep_vars else value.detach()
    for name, child in module._modules.items():
        if child is not None:
            child.state_dict(destination=destination, prefix=f"{prefix}{name}.",
                             keep_vars=keep_vars)
    return destination


def load_state_dict(module, state_dict, strict=True, assign=False):
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
    missing, unexpected, errors = [], [], []
    for prefix, child in module.named_modules(remove_duplicate=False):
        _load_own(child, state_dict, prefix + "." if prefix else "", assign, missing, unexpected,
                  errors)
    if strict:
        if unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in unexpected)))
        if missing:
            errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                ", ".join(f'"{k}"' for k in missing)))
    if errors:
        raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
            type(module).__name__, "\n\t".join(errors)))
    return _IncompatibleKeys(missing, unexpected)


def _load_own(module, state_dict, prefix, assign, missing, unexpected, errors):
    """Loads the module's own entries and lists the keys under its prefix
    that name nothing, in torch's order (module by module)."""
    local = local_state(module)
    for key in state_dict:
        if key.startswith(prefix):
            head, dot, _ = key[len(prefix):].partition(".")
            if head not in (module._modules if dot else local):
                unexpected.append(key)
    for name, param in local.items():
        key = prefix + name
        if key not in state_dict:
            missing.append(key)
            continue
        value = state_dict[key]
        if not isinstance(value, Tensor):
            errors.append(f'While copying the parameter named "{key}", expected tapegrad.Tensor '
                          f"or Tensor-like object from checkpoint but received {type(value)}")
        elif value.shape != param.shape:
            errors.append(f"size mismatch for {key}: copying a param with shape {value.shape} "
                          f"from checkpoint, the shape in current model is {param.shape}.")
        elif assign:
            if isinstance(param, Parameter) and not isinstance(value, Parameter):
                value = Parameter(value, requires_grad=param.requires_grad)
            setattr(module, name, value)
        else:
            with no_grad():
                np.copyto(param._data, value._data, casting="unsafe")
                bump(param)
