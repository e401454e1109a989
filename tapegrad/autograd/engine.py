"""backward(): checks in Python, then the compiled sweep (kernels/sweep.py).

Every check runs before the tape is touched, so an error leaves the tape
and every tensor as they were.
"""
import numpy as np

from ..kernels import layout as L
from ..kernels.sweep import plan, run
from ..tape import _SAVES

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
          "after they have already been freed). Saved intermediate values of the graph are freed "
          "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
          "backward through the graph a second time or if you need to access saved tensors after "
          "calling backward.")


def _seed(t, gradient):
    if gradient is None:
        if t.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        return np.ones(t._data.shape, t._data.dtype)
    g = getattr(gradient, "_data", gradient)
    g = np.asarray(g)
    if g.shape != t._data.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of "
                           f"tapegrad.Size({list(g.shape)}) and output[0] has a shape of "
                           f"tapegrad.Size({list(t._data.shape)}).")
    return g.astype(t._data.dtype, copy=False)


def _accumulate(t, g):
    """Adds gradient g into t.grad (a new tensor the first time)."""
    from ..record import wrap
    if t._grad is None:
        t._grad = wrap(g.reshape(t._data.shape).copy())
    else:
        t._grad._data += g.reshape(t._data.shape)


def backward(t, gradient=None, retain_graph=None, create_graph=False):
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported yet")
    if not t._rg:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    seed = _seed(t, gradient)
    if t.is_leaf:
        _accumulate(t, seed)
        return
    tape, s = t._tape, t._slot
    root = int(tape.slot_i[s, L.REC])
    wanted = np.empty(tape.n_slots, np.int64)
    n32, n64, n_wanted, freed = plan(root, tape.rec_i, tape.slot_i, tape.shapes, _SAVES,
                                     tape.goff, wanted)
    if freed >= 0:
        raise RuntimeError(_FREED)
    g32, g64 = _arena(tape, 0, n32), _arena(tape, 1, n64)
    arena = g32 if t._data.dtype == np.float32 else g64
    arena[:seed.size] = seed.reshape(-1)
    tape.sweeping += 1
    try:
        run(root, bool(retain_graph), tape.rec_i, tape.rec_f, tape.rec_k, tape.slot_i,
            tape.shapes, tape.goff, g32, g64)
    finally:
        tape.sweeping -= 1
    for w in wanted[:n_wanted].tolist():
        owner = tape.owners.get(w)
        owner = owner and owner()
        if owner is not None:
            off = tape.goff[w]
            grads = g32 if owner._data.dtype == np.float32 else g64
            _accumulate(owner, grads[off:off + owner._data.size])


def _arena(tape, code, size):
    """The gradient arena of one dtype, zeroed for `size` elements. Kept
    between calls: fresh pages cost more than zeroing reused ones."""
    arena = tape.arenas[code]
    if len(arena) < size:
        arena = tape.arenas[code] = np.zeros(max(size, 2 * len(arena)), arena.dtype)
    else:
        arena[:size] = 0
    return arena[:size]
