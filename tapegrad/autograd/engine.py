"""backward() and grad(): checks in Python, then the compiled sweep
(kernels/sweep.py), re-entered only for hooks and custom Functions.

Every check runs before the tape is touched, so an error leaves the tape
and every tensor as they were.
"""
import re
import sys

import numpy as np

from .. import buffers, capture, defer, eager
from ..kernels import layout as L
from ..kernels import registry
from ..kernels.sweep import plan, run, scratch
from ..optable import OPS
from ..record import wrap
from ..tape import FUNCTION, SAVES, current
from . import anomaly_mode
from .grad_mode import no_grad

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
          "after they have already been freed). Saved intermediate values of the graph are freed "
          "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
          "backward through the graph a second time or if you need to access saved tensors after "
          "calling backward.")
ENTRIES = registry.table(OPS)     # compiled VJP entry points, filled on first use
WRITES = registry.writes(OPS)     # ops whose entry writes fresh gradients (kernels/sweep.py)
_LEGACY = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
           "bool": "BoolTensor"}


def _seed(t, gradient, i=0):
    if gradient is None:
        if t.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        return _ONE[t._data.dtype].reshape(t._data.shape)
    g = np.asarray(getattr(gradient, "_data", gradient))
    if g.shape != t._data.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                           f"tapegrad.Size({list(g.shape)}) and output[{i}] has a shape of "
                           f"tapegrad.Size({list(t._data.shape)}).")
    return g.astype(t._data.dtype, copy=False)


# the implicit seed of a 0-d output, read only (np.ones was a tenth of backward's Python)
_ONE = {np.dtype(t): np.ones(1, t) for t in (np.float32, np.float64)}
for _one in _ONE.values():
    _one.flags.writeable = False


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class _Scratch:
    """The arrays a backward pass fills and reads, for up to n slots. The
    tape keeps one between passes (a backward inside a hook makes its own):
    making them was a tenth of a small step's backward. `given` lets the
    next plan reset only the offsets this one gave: after a graph of 200,000
    slots, filling all of them took 60-220 us of every later backward."""

    def __init__(self, n):
        self.ready = np.empty(n, np.uint8)       # see kernels/sweep.py
        self.wanted = np.empty(n, np.int64)      # slots whose owner collects .grad
        self.given = np.empty(n, np.int32)       # slots the last plan gave an offset,
        self.n_given = -1                        # how many (-1: unknown, reset all)
        self.need = np.zeros_like(ENTRIES, np.uint8)    # entry points to compile, kept zero
        self.words = scratch()                   # run()'s argument block

    @classmethod
    def at_least(cls, kept, n):
        return kept if kept is not None and len(kept.ready) >= n else cls(max(2 * n, 1024))


class _Sweep:
    """One backward pass: the plan's offsets and arenas, and the loop that
    alternates between the compiled sweep and Python (hooks, Functions)."""

    def __init__(self, tape, roots, seeds):
        """A replayed step's tape (tape.plans is a dict) keeps the plans its
        recording made: its records never change, so replaying them sweeps
        the same graph."""
        self.tape = tape
        nested = tape.sweeping > 0     # a backward inside a hook keeps its own scratch
        n = tape.n_slots        # (slots past it never had an offset: -1)
        if nested:
            self.goff = np.full(len(tape.arrays), -1, np.int64)
            work = _Scratch(n)
        else:
            self.goff = tape.goff
            work = tape.scratch = _Scratch.at_least(tape.scratch, n)
        self.scratch = work.words
        plans = None if nested else tape.plans
        key = tuple([t._slot for t in roots])
        kept = plans.get(key) if plans is not None and tape.recorder is None else None
        if kept is not None:
            goff, n32, n64, self.wanted, self.low = kept
            self.goff[:len(goff)] = goff
            work.n_given = -1                   # (the next plan resets all of goff)
            self.ready = (self.goff[:n] < 0).view(np.uint8)
        else:
            self.ready = work.ready[:n]         # (the plan sets it where it matters)
            n32, n64, self.wanted, self.low = self._plan(tape, np.array(key, np.int64), n, work)
            if plans is not None:
                plans[key] = (self.goff[:tape.n_slots].copy(), n32, n64, self.wanted, self.low)
        self.arenas = {0: self._arena(0, n32, nested), 1: self._arena(1, n64, nested)}
        self.start = -1
        for t, seed in zip(roots, seeds):
            fresh = not self.ready[t._slot]
            g = self.grad(t._slot, write=True)
            if fresh:
                g[...] = seed.reshape(-1)
            else:
                g += seed.reshape(-1)
            self.start = max(self.start, tape.slot_q[t._slot * L.SLOT_COLS + L.REC])

    def over(self, tape, goff, ready):
        """A sweep of another table of records (a crew of defer.py, with the
        offsets and ready bytes of its slots) into this sweep's arenas."""
        sweep = object.__new__(type(self))
        sweep.tape, sweep.goff, sweep.ready, sweep.arenas = tape, goff, ready, self.arenas
        sweep.scratch, sweep.start, sweep.low, sweep.wanted = scratch(), -1, 0, []
        return sweep

    def _plan(self, tape, slots, n, work):
        n32, n64, n_wanted, work.n_given, low, bad_rec, bad_slot, missing = plan(
            slots, tape.rec_i, tape.slot_i, tape.shapes, SAVES, ENTRIES, WRITES, self.goff[:n],
            self.ready, work.wanted, work.need, work.given, work.n_given)
        if missing:      # the entry points this graph's records need and have not yet
            pairs = np.argwhere(work.need).tolist()
            work.need[...] = 0
            if bad_rec < 0:
                registry.compile_missing(ENTRIES, OPS, pairs)
        if bad_rec >= 0:
            raise RuntimeError(_FREED if bad_slot < 0 else self._modified(bad_rec, bad_slot))
        return n32, n64, work.wanted[:n_wanted].tolist(), low

    def _arena(self, code, size, fresh):
        """The gradient arena of one dtype, `size` elements (new if `fresh`).
        Kept between calls: fresh pages cost more than reused ones. The
        .grad of a tensor that had none is its region of the arena (see
        backward), so an arena still in such a .grad is left to it."""
        tape = self.tape
        if fresh:
            return np.zeros(size, tape.arenas[code].dtype)
        arena = tape.arenas[code]
        in_grads = sys.getrefcount(arena) > 3      # the dict's, `arena`'s and the argument's
        if len(arena) < size or in_grads:
            grown = 2 * len(arena) if len(arena) < size else len(arena)
            arena = tape.arenas[code] = np.zeros(max(size, grown), arena.dtype)
        return arena[:size]

    def _modified(self, r, s):
        tape = self.tape
        rec = tape.rec_i[r]
        seen = next((int(rec[v]) for c, v in ((L.A, L.VER_A), (L.B, L.VER_B), (L.C, L.VER_C))
                     if rec[c] == s), int(tape.slot_i[s, L.VC_SEEN]))
        vc = tape.counters[s]
        now = int(vc[0])
        # torch names the op that made the tensor's current value
        current = [c for c, v in tape.counters.items() if v is vc and tape.slot_i[c, L.VC_SEEN] == now]
        producer = int(tape.slot_i[current[-1] if current else s, L.REC])
        what = ("" if producer < 0 else ", which is output 0 of "
                + re.sub(r"Backward\d*$", "", OPS[tape.rec_i[producer, L.OP]].grad_fn) + ",")
        shape = list(tape.value(s).shape)
        kind = _LEGACY[tape.value(s).dtype.name]
        return (f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [tapegrad.{kind} {shape}]{what} is at version {now}; "
                f"expected version {seen} instead. Hint: enable anomaly detection to find the "
                f"operation that failed to compute its gradient, with "
                f"tapegrad.autograd.set_detect_anomaly(True, check_nan=False).")

    def grad(self, s, write=False):
        """Slot s's gradient in the arena (a view), or None if not needed.
        Zeroed if nothing has written it yet, unless the caller will
        (`write`); either way it counts as written from now on."""
        off = int(self.goff[s])
        if off < 0:
            return None
        tape = self.tape
        row = s * L.SLOT_COLS
        g = self.arenas[tape.slot_q[row + L.FLAGS] & L.DTYPE_MASK][
            off:off + int(tape.shapes[tape.slot_q[row + L.SHAPE], L.NUMEL])]
        if not self.ready[s]:
            self.ready[s] = 1
            if not write:
                g[...] = 0
        return g

    def run(self, retain, start=None, low=None):
        """Alternate between the compiled sweep and Python, over records
        start..low (the plan's by default). In anomaly mode the sweep goes
        one record at a time, checking for new NaN gradients."""
        tape, hooks_done = self.tape, -1
        r = self.start if start is None else start
        low = self.low if low is None else low
        step = anomaly_mode.enabled
        tape.sweeping += 1
        try:
            while r >= low:
                before = self._nan_inputs(r) if step else None
                stop = run(r, r if step else low, hooks_done, retain, tape.rec_i, tape.rec_f,
                       tape.rec_k, tape.slot_i, tape.shapes, ENTRIES, WRITES, self.goff,
                       self.ready, self.arenas[0], self.arenas[1], self.scratch)
                if stop < 0:
                    if step:
                        self._check_nan(r, before)
                    r, hooks_done = r - 1 if step else -1, -1
                    continue
                o = int(tape.rec_i[stop, L.OUT])
                if tape.slot_i[o, L.FLAGS] & L.HOOK and stop != hooks_done:
                    self._run_hooks(tape.hooks.get(o), self.grad(o), tape.value(o).shape)
                    r, hooks_done = stop, stop
                    continue
                if tape.rec_i[stop, L.OP] == FUNCTION:
                    from .function import backward_of
                    r = backward_of(self, stop, retain) - 1
                else:
                    self._numpy_vjp(stop, retain)
                    r = stop - 1
                hooks_done = -1
                if step:
                    self._check_nan(stop, before)
        finally:
            tape.sweeping -= 1
        if not retain and not tape.sweeping and tape.large and tape.plans is None:
            tape.let_go_of_swept()     # (a replayed step's tape keeps its arrays: replay reuses them)

    def _numpy_vjp(self, r, retain):
        """Record r's VJP through NumPy's vector math (eager.NUMPY_VJP)."""
        tape = self.tape
        a, o = int(tape.rec_i[r, L.A]), int(tape.rec_i[r, L.OUT])
        fresh = not self.ready[a]
        ga = self.grad(a, write=True)
        if ga is not None:
            rule = eager.NUMPY_VJP[tape.rec_i[r, L.OP]]
            with np.errstate(all="ignore"):
                g = rule(self.grad(o), tape.value(a).reshape(-1), tape.value(o).reshape(-1),
                         tape.rec_f[r, 0], tape.rec_f[r, 1], ga if fresh else None)
                if not fresh:
                    ga += g
                elif g is not ga:
                    np.copyto(ga, g)
        if not retain:
            tape.rec_i[r, L.STATE] |= L.FREED

    def _nan_inputs(self, r):
        tape = self.tape
        if self.goff[tape.rec_i[r, L.OUT]] < 0:
            return None
        found = set()
        for col in (L.A, L.B, L.C):
            s = int(tape.rec_i[r, col])
            g = self.grad(s) if s >= 0 and tape.rec_i[r, L.OP] != FUNCTION else None
            if g is not None and np.isnan(g).any():
                found.add(col)
        return found

    def _check_nan(self, r, before):
        """PyTorch's anomaly check: a backward that made a NaN gradient raises,
        after a warning with the forward traceback of its op."""
        after = self._nan_inputs(r)
        if before is None or after is None or not after - before:
            return
        import warnings
        tape = self.tape
        o = int(tape.rec_i[r, L.OUT])
        name = OPS[tape.rec_i[r, L.OP]].grad_fn
        stack = tape.stacks.get(o)
        if stack:
            warnings.warn(f"Error detected in {name}. Traceback of forward call that caused the "
                          f"error:\n{''.join(stack)}", UserWarning, stacklevel=4)
        index = sorted(after - before)[0] - L.A
        raise RuntimeError(f"Function '{name}' returned nan values in its {index}th output.")

    @staticmethod
    def _run_hooks(hooks, g, shape):
        """Hooks in registration order; each may replace the gradient."""
        if not hooks:
            return
        current = wrap(g.reshape(shape).copy())
        with no_grad():                  # as in torch, hooks run with grad mode off
            for hook in list(hooks.values()):
                new = hook(current)
                if new is not None:
                    current = new
        g[...] = current._data.reshape(-1)


def _accumulate(t, g, owned=False):
    """Adds gradient g into t.grad. A new .grad is g itself when it is
    `owned` (no one else has it: a region of the arena, a hook's copy),
    which saves copying every gradient once per step; else a copy."""
    g = g.reshape(t._data.shape)
    if t._grad is None:
        t._grad = wrap(g if owned else buffers.copy(g, t._data.dtype))
    else:
        t._grad._data += g


def _check(tensors, grad_tensors):
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"got {len(grads)} tensors and {len(tensors)} gradients")
    for t in tensors:
        if not t._rg:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
    seeds = [_seed(t, g, i) for i, (t, g) in enumerate(zip(tensors, grads))]
    for t in tensors:
        if not t.is_leaf and t._tape is not current():
            raise RuntimeError("this graph was recorded in another thread: each thread records on "
                               "its own tape, so call backward() in the thread that built the graph")
    return tensors, seeds


@capture.replayed
def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates d(tensors)/d(leaf) into every reachable leaf's .grad."""
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported yet")
    group = defer.fusable(tensors, grad_tensors, retain_graph, inputs)
    if group is not None:          # a loss of deferred elementwise work: swept tile by tile
        sweep = _Sweep(tensors._tape, [tensors], [np.ones((), tensors.dtype.np)])
        defer.sweep(sweep, group, tensors)
        sweep.run(False)
        _collect(sweep, None)
        return
    tensors, seeds = _check(tensors, grad_tensors)
    graph = [(t, s) for t, s in zip(tensors, seeds) if not t.is_leaf]
    for t, s in zip(tensors, seeds):
        if t.is_leaf:
            _accumulate(t, _leaf_hooks(t, s))
    if not graph:
        return
    sweep = _Sweep(graph[0][0]._tape, [t for t, _ in graph], [s for _, s in graph])
    sweep.run(bool(retain_graph))
    _collect(sweep, inputs)


# _collect's common case in C (tapegrad/_record.c), where scalars.py finds the
# extension built: a leaf's first .grad
collect = None


def _collect(sweep, inputs):
    """Each wanted slot's gradient into its tensor's .grad (of `inputs` only, if given)."""
    tape = sweep.tape
    owners, rows = tape.owners, tape.slot_q
    only = None if inputs is None else {id(x) for x in _as_list(inputs)}
    wanted = sweep.wanted
    if collect is not None and only is None and not capture.RECORDING[0]:
        wanted = collect(wanted, owners, sweep.goff, sweep.ready, tape.slot_i, sweep.arenas[0],
                         sweep.arenas[1])
    for w in wanted:
        owner = owners.get(w)
        owner = owner and owner()
        if owner is not None and (only is None or id(owner) in only):
            g = sweep.grad(w)
            leaf = rows[w * L.SLOT_COLS + L.REC] < 0      # (wanted slots require grad)
            _accumulate(owner, _leaf_hooks(owner, g) if leaf else g, owned=True)


def _leaf_hooks(t, g):
    if t._hooks:
        g = g.copy()
        _Sweep._run_hooks(t._hooks, g.reshape(-1), t._data.shape)
    return g


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """d(outputs)/d(inputs), returned as a tuple; .grad is left alone."""
    capture.refuse("it calls autograd.grad()")
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is not supported yet")
    inputs = _as_list(inputs)
    outputs, seeds = _check(outputs, grad_outputs)
    for x in inputs:
        if not x._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    graph = [(t, s) for t, s in zip(outputs, seeds) if not t.is_leaf]
    results = [None] * len(inputs)
    for t, s in zip(outputs, seeds):
        for i, x in enumerate(inputs):
            if x is t:
                results[i] = s.copy() if results[i] is None else results[i] + s
    if graph:
        tape = graph[0][0]._tape
        sweep = _Sweep(tape, [t for t, _ in graph], [s for _, s in graph])
        sweep.run(bool(retain_graph))
        for i, x in enumerate(inputs):
            g = sweep.grad(x._slot) if x._slot >= 0 and x._tape is tape else None
            if g is not None:
                g = g.reshape(x._data.shape).copy()
                results[i] = g if results[i] is None else results[i] + g
    out = []
    for x, g in zip(inputs, results):
        if g is None and not (allow_unused or materialize_grads):
            raise RuntimeError("One of the differentiated Tensors appears to not have been used in "
                               "the graph. Set allow_unused=True if this is the desired behavior.")
        if g is None and materialize_grads:
            g = np.zeros_like(x._data)
        out.append(None if g is None else wrap(g))
    return tuple(out)


def warmup(dtypes=None):
    """Compile every kernel now (or load it from the on-disk cache), for
    programs that want no pause at their first op or backward: each op's
    VJP and forward entry points. Not the parallel kernels of arrays from
    eager.PARALLEL_FROM elements: some hundred of them, each compiles at
    its op's first such array."""
    from .. import dtypes as D
    from ..creation import ones
    codes = [d.code for d in (dtypes or (D.float32, D.float64))]
    pairs = [(code, dt) for code in range(len(OPS)) for dt in codes]
    registry.compile_missing(ENTRIES, OPS, pairs)
    registry.compile_missing(eager.FENTRIES, OPS, pairs, "fentry")
    registry.scalar_rule()                 # the 0-d record path's rules (tapegrad/_record.c)
    registry.plain_sgd()                   # and plain SGD's update
    for d in (dtypes or (D.float32, D.float64)):
        x = ones(2, dtype=d, requires_grad=True)
        (x * x).sum().backward()
