"""Deferred elementwise work, fused into backward tile by tile.

On large arrays each elementwise op is a pass over memory, forward and
backward alike, and a loss of ten ops makes some thirty such passes (torch
makes as many). So an elementwise op on float tensors of FROM elements or
more, all of one shape and dtype, recorded for backward (grad mode on, an
input requiring grad), is recorded and not computed: it returns a Deferred
tensor whose slot is PENDING. So is the sum or mean of all of a Deferred
tensor's elements (a loss), and a loss's tail of scalar steps whose rules
read no values (0.5 * loss, loss / n, -loss: TAILS).

When backward starts at such a loss and nothing else can see the
values in between (no tensor holds them, no hook or retain_grad asks for
them), sweep() runs the pending records forward and then their VJPs, one
tile of TILE elements at a time, on Numba's threads (each a _Crew with its
own copy of the records), so the values and gradients in between stay in
the caches: the arrays in memory are the inputs and their gradients. The
tiles run fusion.py's steps: NumPy's vector math where eager uses it,
and between those one generated loop per stretch of records, which does
each record's arithmetic as its kernel does, in the normal sweep's order,
so the gradients are bitwise those of the normal sweep. The loss sums
tile by tile in float64, so its float32 value may differ from the eager
one in a last bit.

Anything else that reads a pending value (printing, .item(), an op that
does not defer, an in-place change, a backward that cannot fuse, the
tape's reclaiming pass) computes every pending record on the tape first
(materialize), exactly as eager would have. A pending record's inputs from
outside are copied when it is recorded (snapshots), so an in-place change
made later (an optimizer step, a write through a NumPy view) does not
reach the values computed from them.
"""
import math

import numba
import numpy as np

from . import buffers, capture, dtypes, eager, fusion
from .autograd import anomaly_mode
from .autograd.grad_mode import is_grad_enabled
from .kernels import layout as L
from .kernels.forward_reduce import total
from .kernels.memory import address
from .kernels.sweep import scratch
from .optable import CODE, OPS
from .tape import current
from .tensor import Size, Tensor, slot_on

FROM = 1 << 18         # elements: below, the tiles cost more than they save (measured)
TILE = 1 << 15         # elements of a tile: a crew's dozen values fit the L2 cache (measured)
ROOTS = (CODE["sum"], CODE["mean"])
# elementwise ops with a compiled forward and an elementwise rule per input
DEFERS = [op.arity > 0 and isinstance(op.vjp, tuple) and op.forward is not None
          and bool(op.fwd) and not op.fwd.startswith("kernel:") for op in OPS]
# ops a loss may go through after its sum or mean (0.5 * loss, loss / n, -loss):
# one input, and a rule that reads no value, so backward can take them first
TAILS = [defers and op.arity == 1 and op.saves <= {"k"} for op, defers in zip(OPS, DEFERS)]


class Deferred(Tensor):
    """A tensor whose value is not computed yet. Reading its data computes
    it (and every other pending value on its tape); then it is a Tensor."""
    __slots__ = ()

    def __getattr__(self, name):       # only called where lookup failed: _data is unset
        if name != "_data":
            raise AttributeError(f"'Tensor' object has no attribute '{name}'")
        materialize(self._tape)
        self._data = self._tape.arrays[self._slot]
        self.__class__ = Tensor
        return self._data

    @property
    def dtype(self):
        return _dtype(self._tape, self._slot)

    @property
    def shape(self):
        return Size(_shape(self._tape, self._slot))

    @property
    def ndim(self):
        return len(_shape(self._tape, self._slot))


def _dtype(tape, s):
    return dtypes.BY_CODE[int(tape.slot_i[s, L.FLAGS]) & L.DTYPE_MASK]


def _shape(tape, s):
    row = tape.shapes[tape.slot_i[s, L.SHAPE]]
    return tuple(row[2:2 + row[L.NDIM]].tolist())


def record(code, inputs, k0=0.0, k1=0.0, ki=0, dt=None):
    """Op `code` on `inputs`, recorded and deferred: a Deferred tensor, or
    None where it must run now (the caller then runs it, and reading a
    Deferred input's data computes that first)."""
    if not is_grad_enabled() or capture.RECORDING[0] or anomaly_mode.enabled:
        return None
    tape = current()
    if tape.sweeping or not any(x._rg for x in inputs):
        return None
    metas = [(_shape(tape, x._slot), _dtype(tape, x._slot)) if type(x) is Deferred
             else (x._data.shape, x.dtype) for x in inputs]
    shape, dtype = metas[0]
    if (any(m != metas[0] for m in metas) or (dt or dtype) is not dtype
            or not dtype.is_floating_point or any(type(x) is Deferred and x._tape is not tape
                                                  for x in inputs)):
        return None
    size = math.prod(shape)
    if code in ROOTS or TAILS[code] and shape == ():    # a loss and its tail (see TAILS)
        if type(inputs[0]) is not Deferred or code in ROOTS and ki != (1 << len(shape)) - 1:
            return None
        out_shape, state = (), 0
    elif DEFERS[code] and size >= FROM:
        out_shape = shape
        # (all inputs have the output's size, which vjp_state checks on the inputs it is given)
        state = eager.vjp_state(code, size, ()) | (L.NUMPY if eager.numpy_math(code, size) else 0)
    else:
        return None
    slots, versions = [-1, -1, -1], [0, 0, 0]
    for i, x in enumerate(inputs):
        if type(x) is Deferred:
            slots[i] = x._slot
            continue
        slots[i] = x._slot if x._tape is tape and x._slot >= 0 else slot_on(x, tape)
        if x._vc is not None:
            versions[i] = int(x._vc[0])
    out = object.__new__(Deferred)
    out._rg, out._tape, out._grad, out._vc, out._hooks, out._v = True, tape, None, None, None, None
    out._slot = tape.record_pending(code, slots[0], slots[1], slots[2], out_shape,
                                    dtype.code | L.RG, float(k0), float(k1), ki, versions, state)
    for s, x in zip(slots, inputs):     # (after recording: a reclaiming pass there drops them)
        if type(x) is not Deferred and s not in tape.snapshots:
            tape.snapshots[s] = buffers.copy(x._data, x._data.dtype)
    return out


def materialize(tape):
    """Compute every pending record on `tape`, oldest first, as eager would
    have: each output gets its array, then the records run forward."""
    records = tape.pending
    if not records:
        return
    tape.pending = []
    for s in tape.rec_i[records, L.OUT].tolist():
        tape.give(s, buffers.empty(_shape(tape, s), _dtype(tape, s).np))
    outside = _outside(tape, records)
    kept = _point(tape, outside, [_source(tape, s) for s in outside])
    try:
        _forward(tape, records)
    finally:
        _point(tape, outside, kept)
    tape.snapshots.clear()


def fusable(tensors, grad_tensors, retain_graph, inputs):
    """The pending records (ascending) a backward of `tensors` can sweep
    tile by tile, ending with the root's sum or mean; None where it cannot."""
    t = tensors
    if (type(t) is not Deferred or grad_tensors is not None or retain_graph or inputs is not None
            or anomaly_mode.enabled or capture.RECORDING[0] or t._tape.sweeping
            or t._tape is not current()):
        return None
    tape = t._tape
    if tape.slot_i[t._slot, L.FLAGS] & (L.WANTS | L.HOOK):
        return None
    tail, root = [], int(tape.slot_i[t._slot, L.REC])
    while TAILS[tape.rec_i[root, L.OP]]:          # (0-d, as t: a deferred op's input was)
        tail.append(root)
        root = int(tape.slot_i[tape.rec_i[root, L.A], L.REC])
    if tape.rec_i[root, L.OP] not in ROOTS:
        return None
    group, todo = {root, *tail}, [root]
    while todo:
        for s in tape.rec_i[todo.pop(), L.A:L.C + 1].tolist():
            if s >= 0 and tape.slot_i[s, L.FLAGS] & L.PENDING:
                r = int(tape.slot_i[s, L.REC])
                if r not in group:
                    group.add(r)
                    todo.append(r)
    group = sorted(group)
    outs = tape.rec_i[group[:-1], L.OUT]
    others = [r for r in tape.pending if r not in group]
    read_by_others = tape.rec_i[others, L.A:L.C + 1].ravel().tolist() if others else ()
    if (tape.refs[outs].any() or (tape.slot_i[outs, L.FLAGS] & (L.WANTS | L.HOOK)).any()
            or not set(outs.tolist()).isdisjoint(read_by_others)):
        return None          # something else can see a value in between
    return group


def sweep(sw, group, root):
    """Backward over `group` (from fusable) as part of backward's sweep `sw`
    (autograd/engine.py), whose plan gave every slot its gradient offset.
    The loss's tail first (its rules read no values), to the gradient of
    its sum or mean. Then tile by tile, on up to `workers()` threads (each
    tile is independent): the records forward into tile-sized values, then
    their VJPs into tile-sized gradients and into the group's inputs'
    gradients in the arena. Then the sum or mean gets its value, the tail
    runs forward, and the rest of the sweep skips the group's records, now
    freed."""
    tape, rec = sw.tape, sw.tape.rec_i
    tail = group[1 + next(i for i, r in enumerate(group) if rec[r, L.OP] in ROOTS):]
    group = group[:len(group) - len(tail)]
    if tail:
        _tail_backward(sw, tail)
    outside = _outside(tape, group)
    n = int(tape.shapes[tape.slot_i[outside[0], L.SHAPE], L.NUMEL])
    count = -(-n // TILE)
    crews = [_Crew(tape, sw, group, outside, w) for w in range(max(1, min(workers(), n // TILE)))]
    sums = [0.0] * count

    def work(crew):
        crew_sweep = sw.over(crew, crew.goff, crew.ready)    # (not kept by the crew: a cycle)
        for t in range(crew.worker, count, len(crews)):
            sums[t] = crew.tile(t * TILE, min(TILE, n - t * TILE), crew_sweep)
    others = [_pool().submit(work, crew) for crew in crews[1:]]
    try:
        work(crews[0])
    finally:
        for f in others:
            f.result()
    sw.ready[outside] = crews[0].ready[:len(outside)]     # (every crew wrote its tiles the same way)
    rec[group, L.STATE] |= L.FREED
    top = group[-1]
    tape.give(rec[top, L.OUT], np.array(
        math.fsum(sums) / n if rec[top, L.OP] == CODE["mean"] else math.fsum(sums), crews[0].dtype))
    for r in tail:
        tape.give(rec[r, L.OUT], np.empty((), crews[0].dtype))
    if tail:
        _forward(tape, tail)
    group += tail
    sw.goff[rec[group, L.OUT]] = -1
    root._data = tape.arrays[root._slot]
    root.__class__ = Tensor
    tape.pending = [r for r in tape.pending if r not in group]
    if not tape.pending:
        tape.snapshots.clear()


def _tail_backward(sw, tail):
    """The VJPs of a loss's tail (ascending records), from the seed to the
    gradient of its sum or mean: the normal sweep's, over values not
    computed yet, which their rules do not read (a zero stands in)."""
    tape, rec = sw.tape, sw.tape.rec_i
    slots = np.append(rec[tail, L.A], rec[tail[-1], L.OUT])
    zero = np.zeros((), _dtype(tape, slots[0]).np)
    tape.slot_i[slots, L.ADDR] = address(zero)
    tape.sweeping += 1              # (nothing to let go of between here and the tiles)
    try:
        sw.run(False, tail[-1], tail[0])
    finally:
        tape.sweeping -= 1
        tape.slot_i[slots, L.ADDR] = 0


def workers():
    """Threads a fused sweep uses: Numba's."""
    return numba.get_num_threads()


class _Crew:
    """One worker's copy of a group's records (the last its root's sum or
    mean) over slot tables of its own, so that workers sweep tiles at once:
    local slots are the group's inputs from outside (first), then its
    outputs; the outputs' values are tile buffers of its own, their
    gradients the worker's tile of each output's region in the arena (the
    plan gave each a region of the whole size), the inputs' the tile of
    theirs. A tile runs the steps fusion.py makes of the records; the
    NumPy VJPs among them run through the engine's sweep, over this crew."""

    def __init__(self, tape, sw, group, outside, worker):
        real = np.concatenate([outside, tape.rec_i[group, L.OUT]])
        self.rec_i = tape.rec_i[group]
        # (a dozen slots: a dict beats NumPy's sorting and searching here)
        local = {s: i for i, s in enumerate(real.tolist())}
        local[-1] = -1
        named = self.rec_i[:, L.A:L.OUT + 1]
        named[...] = np.array([local[s] for s in named.ravel().tolist()]).reshape(named.shape)
        self.rec_i[:, L.STATE] &= L.NUMPY | L.NUMPY_VJP
        self.rec_f, self.rec_k = tape.rec_f[group].copy(), tape.rec_k[group].copy()
        self.slot_i = np.zeros((len(real), L.SLOT_COLS), np.int64)
        self.slot_i[:, L.FLAGS] = tape.slot_i[real, L.FLAGS] & (L.DTYPE_MASK | L.RG)
        self.slot_i[:-1, L.SHAPE] = 1        # a tile; the root's sum is 0-d (row 0)
        self.slot_q = memoryview(self.slot_i).cast("B").cast("q")     # as the tape's (engine.py reads it)
        self.shapes = np.zeros((2, L.SHAPE_COLS), np.int64)
        self.shapes[0, L.NUMEL] = 1
        self.worker, self.e, self.m = worker, len(outside), 0
        self.sources = [_source(tape, s).reshape(-1) for s in outside.tolist()]
        self.dtype = self.sources[0].dtype
        self.goff = sw.goff[real]
        self.goff[self.e:-1] += worker * TILE           # (the root's gradient is one element)
        self.ready = sw.ready[real].copy()
        self.ready[self.e:-1] = 0
        self.ready0, self.goff0 = self.ready.copy(), self.goff.copy()
        self.steps = fusion.steps(self.rec_i, self.e, (self.goff >= 0).view(np.uint8),
                                  self.ready, self.dtype)
        # slots past the root's hold the values of NumPy calls within VJPs (fusion.py)
        self.root = len(real) - 1
        named = [s for step in self.steps if step[0] in (fusion.NUMPY_CALL, fusion.WHOLE)
                 for s in ([step[3]] if step[0] == fusion.NUMPY_CALL else step[2])]
        calls = max(named + [self.root]) - self.root
        self.buffers = _tiles(tape, worker, len(group) - 1 + calls, self.dtype)
        self.arrays = [None] * (len(real) + calls)

    def value(self, s):
        return self.arrays[s]

    def tile(self, i, m, sweep):
        """Sweep elements i..i+m-1 (NumPy's VJPs through `sweep`, over this
        crew); returns their part of the root's sum."""
        e, root, arrays = self.e, self.root, self.arrays
        if m != self.m:
            self.shapes[1, L.NDIM:L.NUMEL + 2] = 1, m, m
            tiles = [x[:m] for x in self.buffers]
            arrays[e:root], arrays[root + 1:] = tiles[:root - e], tiles[root - e:]
            self.m = m
        arrays[:e] = [x[i:i + m] for x in self.sources]
        goff = self.goff
        goff[:e] = np.where(self.goff0[:e] >= 0, self.goff0[:e] + i, -1)
        self.ready[:] = self.ready0
        arena, rec, part = sweep.arenas[int(self.slot_i[0, L.FLAGS]) & L.DTYPE_MASK], self.rec_i, 0.0

        def operands(values, grads):
            return [arrays[s] for s in values] + \
                [arena[goff[s]:goff[s] + (1 if s == root else m)] for s in grads]
        for step in self.steps:
            kind = step[0]
            if kind == fusion.WHOLE:
                _, run, values, grads, writes = step
                part = run(m, self.rec_f, *operands(values, grads))
                self.ready[writes] = 1
            elif kind == fusion.KERNEL:
                _, kernel, values, grads, writes = step
                kernel(m, self.rec_f, *operands(values, grads))
                self.ready[writes] = 1
            elif kind == fusion.NUMPY_FORWARD:
                r = step[1]
                k0, k1 = self.rec_f[r].tolist()
                eager.numpy_forward(int(rec[r, L.OP]), [arrays[s] for s in rec[r, L.A:L.C + 1] if s >= 0],
                                    k0, k1, int(self.rec_k[r]), out=arrays[rec[r, L.OUT]])
            elif kind == fusion.TOTAL:
                part = total(arrays[step[1]])
            elif kind == fusion.NUMPY_CALL:
                with np.errstate(all="ignore"):
                    step[1](arrays[step[2]], out=arrays[step[3]])
            else:
                sweep._numpy_vjp(step[1], False)
        return part


def _outside(tape, records):
    """The slots records read that none of them makes (ascending)."""
    read = set(tape.rec_i[records, L.A:L.C + 1].ravel().tolist())
    read.difference_update(tape.rec_i[records, L.OUT].tolist(), (-1,))
    return np.array(sorted(read), np.int64)


def _source(tape, s):
    """The value pending records read from slot s: its snapshot, or its own
    value where a reclaiming pass computed it after they were recorded."""
    snapshot = tape.snapshots.get(s)
    return tape.value(s) if snapshot is None else snapshot


def _point(tape, slots, arrays):
    """Slots `slots` now name `arrays` (contiguous); returns what they named."""
    kept = [tape.arrays[s] for s in slots.tolist()]
    for s, a in zip(slots.tolist(), arrays):
        tape.arrays[s] = a
        tape.slot_i[s, L.ADDR] = address(a) if a is not None and a.size else 0
    return kept


def _runs(records):
    """(first, last) of each stretch of consecutive records."""
    records = np.asarray(records)
    breaks = np.flatnonzero(np.diff(records) != 1)
    return list(zip(records[np.r_[0, breaks + 1]].tolist(), records[np.r_[breaks, -1]].tolist()))


def _forward(tape, records):
    """Run `records` (ascending) forward, a stretch of consecutive ones a call."""
    eager.compile_forward(tape, records)
    words = scratch()
    for first, last in _runs(records):
        eager.run_forward(tape, first, last + 1, words)


def _tiles(tape, worker, k, dt):
    """Worker `worker`'s k tile buffers of dtype dt, kept on the tape between
    passes (fresh pages would cost more than the tiles' arithmetic)."""
    tiles = tape.tiles
    if tiles is None or tiles.dtype != dt or tiles.shape[0] <= worker or tiles.shape[1] < k \
            or tiles.shape[2] != TILE:
        tiles = tape.tiles = np.empty((max(worker + 1, workers()), max(k, 16), TILE), dt)
    return tiles[worker, :k]


_workers = []


def _pool():
    """The thread pool of the crews past the first, made on first use."""
    if not _workers:
        from concurrent.futures import ThreadPoolExecutor     # (5 ms of import, on first use)
        _workers.append(ThreadPoolExecutor(max(1, workers() - 1), "tapegrad-tiles"))
    return _workers[0]
