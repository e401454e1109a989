"""In-place ops: compute out of place, write into the tensor's own memory,
and (when recorded) move the tensor onto the new record's slot, which then
aliases that memory. Views and aliases see the change, as in PyTorch."""
import numpy as np

from . import dtypes
from .autograd.grad_mode import is_grad_enabled
from .kernels import layout as L
from .kernels.memory import address
from .math_ops import _binary, clamp, mul
from .tensor import Tensor, bump


def _check_leaf(self):
    if self._rg and self.is_leaf and is_grad_enabled():
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")


def _write(self, result):
    if result.shape != self.shape:
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast "
                           f"shape {list(result.shape)}")
    np.copyto(self._data, result._data)
    bump(self)
    if result._slot >= 0:
        tape, s = result._tape, result._slot
        if self._data.flags.c_contiguous:      # else the slot keeps its own copy
            tape.arrays[s] = self._data
            tape.slot_i[s, L.ADDR] = address(self._data)
        tape.set_counter(s, self._vc)
        if self._slot >= 0:
            self._tape.release(self._slot)
        self._slot, self._tape, self._rg = s, tape, True
        result._slot = -1          # its hold on the slot passes to self
    return self


def _inplace(name):
    def op(self, other, *, alpha=1):
        _check_leaf(self)
        dt = dtypes.result_type(self, other)
        if dtypes._category(dt) > dtypes._category(self.dtype) or (name == "div" and not self.dtype.is_floating_point):
            want = "Float" if name == "div" else dt.name.capitalize()
            raise RuntimeError(f"result type {want} can't be cast to the desired output type "
                               f"{self.dtype.name.capitalize()}")
        result = _binary(name, self, other, alpha, dt=self.dtype)
        if result is NotImplemented:
            return NotImplemented
        return _write(self, result)
    op.__name__ = name + "_"
    return op


add_, sub_, mul_, div_ = (_inplace(n) for n in ("add", "sub", "mul", "div"))


def pow_(self, exponent):
    _check_leaf(self)
    return _write(self, _binary("pow", self, exponent, dt=self.dtype))


def clamp_(self, min=None, max=None):
    _check_leaf(self)
    return _write(self, clamp(self, min, max))


def fill_(self, value):
    _check_leaf(self)
    if self._rg and is_grad_enabled():        # a recorded fill: gradient zero
        return _write(self, _binary("add", mul(self, 0.0), float(value), dt=self.dtype))
    self._data.fill(value.item() if isinstance(value, Tensor) else value)
    bump(self)
    return self


def zero_(self):
    return fill_(self, 0)


METHODS = dict(add_=add_, sub_=sub_, mul_=mul_, div_=div_, pow_=pow_, clamp_=clamp_, clip_=clamp_,
               fill_=fill_, zero_=zero_, __iadd__=add_, __isub__=sub_, __imul__=mul_,
               __itruediv__=div_, __ipow__=pow_)
for _name, _f in METHODS.items():
    setattr(Tensor, _name, _f)
