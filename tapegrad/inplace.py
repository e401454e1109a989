"""In-place ops: compute out of place, write into the tensor's own memory,
and (when recorded) move the tensor onto the new record's slot, which then
aliases that memory. Views and aliases see the change, as in PyTorch."""
import numpy as np

from . import capture, dtypes
from .autograd.grad_mode import is_grad_enabled
from .kernels import layout as L
from .kernels.memory import address
from .optable import CODE
from .record import apply
from .tape import SAVES
from .math_ops import _binary, clamp, mul
from .tensor import Tensor, bump


def _check_leaf(self):
    if self._rg and self.is_leaf and is_grad_enabled():
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")


def _write(self, result):
    if result.shape != self.shape:
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast "
                           f"shape {list(result.shape)}")
    if result._slot >= 0 and not result._rg:
        return _assign(self, result)
    kept = _keep_saved_self(self, result) if result._slot >= 0 else ()
    np.copyto(self._data, result._data)
    bump(self, recorded=True)
    for col in kept:         # the op itself read self before the change, as torch's clone
        result._tape.rec_i[result._tape.slot_i[result._slot, L.REC], col] = self._vc[0]
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


def _assign(self, result):
    """An in-place change without grad in a step recorded for replay: a
    clone record whose output slot is self's memory, so replay writes there."""
    np.copyto(self._data, result._data)
    bump(self, recorded=True)
    if not self._data.flags.c_contiguous:
        capture.refuse("it changes a non-contiguous tensor in place")
        return self
    tape = result._tape
    capture.active().effects = True
    s = tape.record(CODE["clone"], result._slot, -1, -1, self._data, self.dtype.code)
    tape.release(s)           # the record holds it; self keeps its own slot
    return self


def _keep_saved_self(self, result):
    """If the in-place op's own rule reads self's old value (mul_, pow_,
    clamp_ ...), self's old slot keeps a private copy of it, as torch saves
    a clone of the original self. Older records that saved that slot still
    see the version change and raise; this op's record is marked as having
    seen the new version."""
    tape = result._tape
    r = tape.slot_i[result._slot, L.REC]
    mask = SAVES[tape.rec_i[r, L.OP]]
    s = tape.rec_i[r, L.A]          # self is always input a of an in-place op
    if not (mask & L.SAVES_A and s >= 0 and np.may_share_memory(tape.arrays[s], self._data)):
        return ()
    copy = tape.arrays[s].copy()
    tape.arrays[s] = copy
    tape.slot_i[s, L.ADDR] = address(copy)
    return (L.VER_A,)


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
    if capture.active() and self.dtype.is_floating_point and not isinstance(value, Tensor):
        return _write(self, apply(CODE["fill"], [self], k0=float(value)))   # zero_grad(False)
    self._data.fill(value.item() if isinstance(value, Tensor) else value)
    bump(self)
    return self


def zero_(self):
    return fill_(self, 0)


def copy_(self, src, non_blocking=False):
    """Copies src's values in (broadcast, cast to self's dtype); the gradient
    flows to src, as torch's CopyBackwards."""
    from .record import cast
    from .shape_ops import expand
    _check_leaf(self)
    if src._rg and is_grad_enabled():
        return _write(self, expand(cast(src, self.dtype), self.shape))
    if self._rg and is_grad_enabled():        # nothing flows back to self's old value
        return _write(self, mul(self, 0.0) + cast(src, self.dtype).detach())
    np.copyto(self._data, np.broadcast_to(src._data, self.shape), casting="unsafe")
    bump(self)
    return self


METHODS = dict(add_=add_, sub_=sub_, mul_=mul_, div_=div_, pow_=pow_, clamp_=clamp_, clip_=clamp_,
               fill_=fill_, zero_=zero_, copy_=copy_, __iadd__=add_, __isub__=sub_, __imul__=mul_,
               __itruediv__=div_, __ipow__=pow_)
for _name, _f in METHODS.items():
    setattr(Tensor, _name, _f)
