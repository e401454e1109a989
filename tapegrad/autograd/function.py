"""Custom autograd Functions: a forward in Python, a backward in Python.

Each output of Function.apply gets a record with op code FUNCTION on the
same tape: slot c lists the inputs, k0 is the output's position and ki keys
the context in tape.functions. The compiled sweep stops there; backward_of()
runs the user's backward and adds its results into the gradient arena; the
sweep then resumes below the Function's records.
"""
import itertools

import numpy as np

from .. import capture, dtypes
from ..kernels import layout as L
from ..tape import FUNCTION, current
from .grad_mode import is_grad_enabled, no_grad

_keys = itertools.count(1)


class FunctionCtx:
    def __init__(self, cls, args):
        from ..tensor import Tensor
        self._cls = cls
        self.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        self._saved = ()
        self._freed = False
        self._non_differentiable = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        self._saved = tensors

    @property
    def saved_tensors(self):
        if self._freed:
            from .engine import _FREED
            raise RuntimeError(_FREED)
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value):
        self.materialize_grads = value

    def mark_dirty(self, *tensors):
        pass    # in-place forwards: their outputs are recorded as new values either way


class Function:
    """Subclass with static forward(ctx, *args) and backward(ctx, *grads)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your "
                                  "custom autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        from ..record import wrap
        from ..tensor import Tensor, slot_on
        capture.refuse(f"it runs the custom Function {cls.__name__}, whose Python replay cannot run")
        ctx = FunctionCtx(cls, args)
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(result, tuple)
        outputs = (result,) if single else result
        if not (any(ctx.needs_input_grad) and is_grad_enabled()):
            return result
        tape = current()
        inputs = np.array([slot_on(a, tape) if isinstance(a, Tensor) and a._rg else -1
                           for a in args], np.int64)
        listed = tape.new_slot(inputs, -1, dtypes.int64.code)
        key = next(_keys)
        tape.functions[key] = ctx
        wrapped = []
        for i, out in enumerate(outputs):
            if not isinstance(out, Tensor) or id(out) in ctx._non_differentiable \
                    or not out.dtype.is_floating_point:
                wrapped.append(out)
                continue
            t = wrap(out._data, True)
            data = np.ascontiguousarray(out._data)
            t._slot = tape.record(FUNCTION, -1, -1, listed, data, out.dtype.code | L.RG,
                                  float(i), 0.0, key)
            t._tape = tape
            wrapped.append(t)
        tape.release(listed)
        ctx._name = f"{cls.__name__}Backward"
        ctx._n_outputs = len(outputs)
        # shapes and dtypes of the outputs, for the zero gradient of an unused one
        ctx._outputs = [np.broadcast_to(np.zeros((), o._data.dtype), o.shape)
                        if isinstance(o, Tensor) else None for o in outputs]
        return wrapped[0] if single else tuple(wrapped)


def backward_of(sweep, r, retain):
    """Run the backward of the Function that has record r; returns the
    index of its first record (its records are adjacent on the tape)."""
    from ..record import wrap
    tape = sweep.tape
    key = int(tape.rec_k[r])
    ctx = tape.functions[key]

    def ours(q):
        return 0 <= q < tape.n_rec and tape.rec_i[q, L.OP] == FUNCTION and tape.rec_k[q] == key
    first, last = r, r
    while ours(first - 1):
        first -= 1
    while ours(last + 1):
        last += 1
    grads = [None] * ctx._n_outputs
    for q in range(first, last + 1):
        o = int(tape.rec_i[q, L.OUT])
        g = sweep.grad(o)
        grads[int(tape.rec_f[q, 0])] = None if g is None else wrap(g.reshape(tape.value(o).shape).copy())
    for i, (g, like) in enumerate(zip(grads, ctx._outputs)):
        if g is None and ctx.materialize_grads:      # an output nothing used: zeros
            grads[i] = wrap(np.zeros_like(like)) if like is not None else None
    with no_grad():
        result = ctx._cls.backward(ctx, *grads)
    result = result if isinstance(result, tuple) else (result,)
    inputs = tape.arrays[int(tape.rec_i[r, L.C])]
    if len(result) != len(inputs):
        raise RuntimeError(f"function {ctx._name} returned an incorrect number of gradients "
                           f"(expected {len(inputs)}, got {len(result)})")
    for i, (s, g) in enumerate(zip(inputs.tolist(), result)):
        target = sweep.grad(s) if s >= 0 else None
        if g is None or target is None:
            continue
        target += _sum_to(np.asarray(g._data), tape.value(s).shape, ctx._name, i).reshape(-1)
    if not retain:
        tape.rec_i[first:last + 1, L.STATE] |= L.FREED
        ctx._freed = True
    return first


def _sum_to(g, shape, name, i):
    """g reduced to `shape` if shape broadcasts to g's shape (as torch allows)."""
    if g.shape == shape:
        return g
    try:
        expandable = np.broadcast_shapes(shape, g.shape) == g.shape
    except ValueError:
        expandable = False
    if not expandable:
        raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - got "
                           f"{list(g.shape)} but expected shape compatible with {list(shape)}")
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    ones = tuple(d for d, n in enumerate(shape) if n == 1 and g.shape[d] != 1)
    return g.sum(axis=ones, keepdims=True) if ones else g
