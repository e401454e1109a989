"""The tape: flat tables of records and slots, one tape per thread.

A slot is one value on the tape: the address of its (C-contiguous) data, its
shape id, the record that produced it (-1 for a leaf) and flag bits. A
record is one differentiable op: op code, input slots, output slot,
constants. Both live in NumPy tables over anonymous mappings of RESERVE
rows, which take memory only as rows are written (past RESERVE they
double); the data itself stays in ordinary NumPy arrays (held in `arrays`
by slot), so growing a table never moves a tensor's memory and
`from_numpy` / `detach()` keep sharing it.

Reclaiming (the rule, in one place): every Python object that names a slot
(the tensor that owns it, a grad_fn view) holds one count in `refs`. When
the tape has grown enough since the last pass (records or bytes held, see
_maybe_reclaim), kernels/lifetime.reachable() marks the records and slots a
counted slot can reach backwards; the rest is dropped: records are
compacted in order, dead slots go to the free list and their arrays are
released. A record freed by backward (no retain_graph) whose rule reads
saved values no longer keeps its inputs alive, as PyTorch frees its saved
tensors. So a training loop of any length runs in flat memory, also when a
forward pass is never differentiated. Large arrays (LARGE bytes on) do not
wait for the pass: a backward that freed its records lets go of those
nothing needs any more at once (let_go_of_swept), so a training loop holds
one step's activations, not a pass's worth, and its next step reuses their
memory while the pages are still mapped.

Settling: a 0-d value that no Python object can reach any more (its tensor
is gone and nothing views its data) moves into its own slot row, into the
VC_SEEN word (unused: such a slot has no version counter); ADDR points
there and the ndarray, about 135 bytes, is dropped. `settle` looks at the
outputs of every SETTLE_EVERY new records, reclaim at all live ones; a
long graph of scalar ops so holds a value in its row's 8 bytes. Read a
slot's value with `value(s)`, not `arrays[s]`, which is None for these
and for the outputs of deferred ops not computed yet (PENDING, defer.py);
value() computes those, and so does a reclaiming pass before its walk.
"""
import itertools
import math
import mmap
import struct
import sys
import threading

import numpy as np

from . import buffers, dtypes
from .kernels import layout as L
from .kernels.lifetime import compact, free_dead, reachable, unneeded
from .kernels.memory import address
from .optable import CODE, OPS

_REC = struct.Struct(f"{L.REC_COLS}i")
_CONST = struct.Struct("2d")
_KI = struct.Struct("q")
_SLOT = struct.Struct(f"{L.SLOT_COLS}q")
# a slot row with its value settled in it (VC_SEEN's word), float32 and float64
_SETTLED = {0: struct.Struct(f"<{L.VC_SEEN}qf4x"), 1: struct.Struct(f"<{L.VC_SEEN}qd")}
_BITS = dict(a=L.SAVES_A, b=L.SAVES_B, c=L.SAVES_C, y=L.SAVES_Y, k=L.SAVES_K)
SAVES = np.array([sum(_BITS[v] for v in op.saves) for op in OPS], np.int64)
FUNCTION = CODE["function"]
SETTLE_EVERY = 1024
# Rows the record and slot tables start with: address space only until
# written (see _table), so a graph this long never copies its tables
# while it grows, and the copy never doubles its peak memory.
RESERVE = 1 << 20
LARGE = 1 << 16            # bytes: an op's output this large is let go of right after backward
_IN_ROW_AT = 8 * L.VC_SEEN          # byte offset of a settled value in its row
_NOTHING = np.zeros(0, np.float32)   # a pending slot's stand-in while record() makes it


class Tape:
    def __init__(self, capacity=RESERVE):
        self.n_rec = 0
        self.rec_i = _table((capacity, L.REC_COLS), np.int32)
        self.rec_f = _table((capacity, 2), np.float64)
        self.rec_k = _table((capacity,), np.int64)
        self.n_slots = 0
        self.slot_i = _table((capacity, L.SLOT_COLS), np.int64)
        self.refs = _table((capacity,), np.int32)
        self.goff = _table((capacity,), np.int64)      # the sweep's scratch, -1 up to len(arrays)
        self.arrays = []                               # slot -> its data (None: free or settled)
        self.free = []
        self._views()
        self._grow_slots()
        self.owners = {}         # slot -> weakref of the tensor collecting its .grad
        self.counters = {}       # slot -> version counter of its storage (when it has one)
        self.hooks = {}          # slot -> hooks of the non-leaf tensor it holds
        self.functions = {}      # ki of a custom Function's records -> its context
        self.stacks = {}         # slot -> forward stack of its record (anomaly mode)
        self.shapes = np.zeros((64, L.SHAPE_COLS), np.int64)
        self.shape_ids = {}
        self._shape_id(())
        self.arenas = {0: np.zeros(0, np.float32), 1: np.zeros(0, np.float64)}
        self.held_bytes = 0
        self._reclaim_at = (4096, 64 << 20)
        self.sweeping = 0                  # backward in progress: no reclaiming
        self.recorder = None               # a step recorded for replay (capture.py)
        self.plans = None                  # a replayed step's backward plans (autograd/engine.py)
        self.scratch = None                # backward's arrays between passes (autograd/engine.py)
        self.large = set()                 # slots of op outputs of LARGE bytes or more
        self.pending = []                  # records of deferred ops not computed yet (defer.py)
        self.snapshots = {}                # slot -> the copy of its value pending records read
        self.tiles = None                  # defer.sweep's tile-sized values, kept
        self._settled = 0                  # records whose outputs settle() has looked at

    # -- shapes -----------------------------------------------------------
    def _shape_id(self, shape):
        sid = self.shape_ids.get(shape)
        if sid is None:
            if len(shape) > L.MAXDIM:
                raise RuntimeError(f"tapegrad records tensors of at most {L.MAXDIM} dims, got {len(shape)}")
            sid = len(self.shape_ids)
            if sid == len(self.shapes):
                self.shapes = np.concatenate([self.shapes, np.zeros_like(self.shapes)])
            self.shapes[sid, L.NDIM] = len(shape)
            self.shapes[sid, L.NUMEL] = math.prod(shape)
            self.shapes[sid, 2:2 + len(shape)] = shape
            self.shape_ids[shape] = sid
        return sid

    # -- slots ------------------------------------------------------------
    def new_slot(self, array, rec, flags, counter=None):
        """A slot for `array` (C-contiguous), held once by the caller."""
        if self.free:
            s = self.free.pop()
        else:
            s = self.n_slots
            if s == len(self.arrays):
                self._grow_slots()
            self.n_slots = s + 1
        self.arrays[s] = array
        sid = self.shape_ids.get(array.shape)
        _SLOT.pack_into(self.slot_view, s * _SLOT.size, address(array) if array.size else 0,
                        self._shape_id(array.shape) if sid is None else sid, rec, flags, 0, 0)
        if counter is not None:
            self.set_counter(s, counter)
        self.ref_view[s] = 1
        self.held_bytes += array.nbytes
        return s

    def _grow_slots(self):
        """Room for more slots: the list of arrays grows by doubling (a
        list grown by append leaves a trail of freed blocks behind, and a
        temporary list of Nones one more), and the slot tables only once
        that passes their rows."""
        n = len(self.arrays)
        if n == len(self.refs):
            self.slot_i = _doubled(self.slot_i)
            self.refs = _doubled(self.refs)
            self.goff = _doubled(self.goff)
            self._views()
            settled = np.flatnonzero(self.slot_i[:n, L.FLAGS] & L.IN_ROW)
            self.slot_i[settled, L.ADDR] = self._in_row_address(settled)
        more = min(max(n, 1024), len(self.refs) - n)
        self.goff[n:n + more] = -1
        self.arrays.extend(itertools.repeat(None, more))

    # -- values -----------------------------------------------------------
    def value(self, s):
        """Slot s's value as an array (a copy of one settled in its row)."""
        a = self.arrays[s]
        if a is None:
            flags = int(self.slot_i[s, L.FLAGS])
            if flags & L.IN_ROW:
                a = np.array(self._in_row(flags & L.DTYPE_MASK)[s])
            elif flags & L.PENDING and self.pending:
                from .defer import materialize
                materialize(self)
                a = self.arrays[s]
        return a

    def _in_row(self, code):
        """Every row's settled-value word, seen as dtype `code`'s values."""
        dt = dtypes.BY_CODE[code].np
        return self.slot_i.view(dt)[:, _IN_ROW_AT // dt.itemsize]

    def _in_row_address(self, slots):
        return address(self.slot_i) + slots * self.slot_i.strides[0] + _IN_ROW_AT

    def settle(self, first=0):
        """Settle the 0-d outputs of records `first` on that nothing in
        Python reaches any more (see the module docstring)."""
        # in steps, for small temporaries (the peak RSS); each looks only at the
        # values not settled already, and a scalar graph's are nearly all settled
        for r in range(first, self.n_rec, 8 * SETTLE_EVERY):
            outs = self.rec_i[r:min(r + 8 * SETTLE_EVERY, self.n_rec), L.OUT]
            outs = outs[self.slot_i[outs, L.FLAGS] & (L.IN_ROW | L.FREE_SLOT | L.PENDING) == 0]
            for i in range(0, len(outs), SETTLE_EVERY):
                self._settle(outs[i:i + SETTLE_EVERY])
        self._settled = self.n_rec

    def _settle(self, outs):
        rows = self.slot_i[outs]
        loose = outs[(rows[:, L.SHAPE] == 0) & (rows[:, L.VC_ADDR] == 0)
                     & (self.refs[outs] == 0)].tolist()
        arrays, getrefcount = self.arrays, sys.getrefcount
        slots, values = [], []
        for s in loose:
            a = arrays[s]
            if getrefcount(a) == 3 and a.base is None:    # held by the list, `a` and the call
                slots.append(s)
                values.append(a)
                arrays[s] = None
        if not slots:
            return
        slots = np.array(slots)
        codes = self.slot_i[slots, L.FLAGS] & L.DTYPE_MASK
        for code in np.unique(codes).tolist():
            these = codes == code
            self._in_row(code)[slots[these]] = values if these.all() else \
                [a for a, x in zip(values, these.tolist()) if x]
            self.held_bytes -= int(these.sum()) * dtypes.BY_CODE[code].itemsize
        self.slot_i[slots, L.ADDR] = self._in_row_address(slots)
        self.slot_i[slots, L.FLAGS] |= L.IN_ROW

    def set_counter(self, s, counter):
        """From now on backward checks slot s's saved value against `counter`."""
        self.counters[s] = counter
        self.slot_i[s, L.VC_ADDR] = address(counter)
        self.slot_i[s, L.VC_SEEN] = counter[0]

    def set_flag(self, s, bit, on=True):
        f = int(self.slot_i[s, L.FLAGS])
        self.slot_i[s, L.FLAGS] = f | bit if on else f & ~bit

    def hold(self, s):
        self.ref_view[s] += 1

    def release(self, s):
        self.ref_view[s] -= 1

    # -- records ----------------------------------------------------------
    def record(self, code, a, b, c, out, flags, k0=0.0, k1=0.0, ki=0, versions=(0, 0, 0),
               state=0):
        """Append one record; returns the new output slot (held once).
        `versions`: the versions of inputs a/b/c now (0 for no counter);
        `state`: its first STATE bits."""
        r = self.n_rec
        full = r == len(self.rec_k)
        if full or r >= self._reclaim_at[0] or self.held_bytes >= self._reclaim_at[1]:
            # the inputs may be held by no one until this record names them (an
            # index map, a non-contiguous leaf's copy): reclaiming must keep them
            inputs = [s for s in (a, b, c) if s >= 0]
            self.refs[inputs] += 1
            try:
                if not self._maybe_reclaim(force=full) and full:
                    self._grow_records()
            finally:
                self.refs[inputs] -= 1
            r = self.n_rec
        elif r >= self._settled + SETTLE_EVERY and not self.sweeping:
            self.settle(self._settled)
        s = self.new_slot(out, r, flags)
        if out.nbytes >= LARGE:
            self.large.add(s)
        _REC.pack_into(self.rec_view, r * _REC.size, code, a, b, c, s, state, *versions)
        if k0 or k1:               # rows past n_rec are zero (see reclaim)
            _CONST.pack_into(self.const_view, r * _CONST.size, k0, k1)
        if ki:
            _KI.pack_into(self.ki_view, r * _KI.size, ki)
        self.n_rec = r + 1
        return s

    def record_pending(self, code, a, b, c, shape, flags, k0, k1, ki, versions, state):
        """record() for a deferred op (defer.py): its output slot gets a shape
        and no value (PENDING) until defer.materialize computes it."""
        s = self.record(code, a, b, c, _NOTHING, flags | L.PENDING, k0, k1, ki, versions, state)
        self.arrays[s] = None
        self.slot_i[s, L.SHAPE] = self._shape_id(shape)
        self.pending.append(self.n_rec - 1)
        return s

    def give(self, s, array):
        """Pending slot s computed (defer.py): it holds `array` (C-contiguous)
        from now on."""
        self.arrays[s] = array
        self.slot_i[s, L.ADDR] = address(array) if array.size else 0
        self.slot_i[s, L.FLAGS] &= ~L.PENDING
        self.held_bytes += array.nbytes
        if array.nbytes >= LARGE:
            self.large.add(s)

    def record_scalar(self, code, a, b, k0, value, dt, version_a, version_b):
        """record() for a 0-d float op whose value Python computed
        (scalars.py): the value goes straight into its slot's row, settled.
        None (nothing changed) where the tape is due to reclaim or grow:
        record() does that. tapegrad/_record.c does the same in C."""
        r, free = self.n_rec, self.free
        if (r == len(self.rec_k) or r >= self._reclaim_at[0] or self.held_bytes >= self._reclaim_at[1]
                or not free and self.n_slots == len(self.arrays)):
            return None
        if r >= self._settled + SETTLE_EVERY:      # as record() does
            self.settle(self._settled)
        if free:
            s = free.pop()
        else:
            s = self.n_slots
            self.n_slots = s + 1
        _SETTLED[dt].pack_into(self.slot_view, s * _SLOT.size, self._row0 + s * _SLOT.size, 0, r,
                               dt | L.RG | L.IN_ROW, 0, value)
        self.ref_view[s] = 1
        _REC.pack_into(self.rec_view, r * _REC.size, code, a, b, -1, s, 0, version_a, version_b, 0)
        if k0:                     # rows past n_rec are zero (see reclaim)
            _CONST.pack_into(self.const_view, r * _CONST.size, k0, 0.0)
        self.n_rec = r + 1
        if self._settled == r:     # settled already: nothing for settle() to see
            self._settled = r + 1
        return s

    def unsettle(self, s):
        """Settled slot s's value in an array of its own again (a tensor
        reads it: scalars.py)."""
        flags = int(self.slot_i[s, L.FLAGS])
        a = np.array(self._in_row(flags & L.DTYPE_MASK)[s])
        self.arrays[s] = a
        self.slot_i[s, L.ADDR] = address(a)
        self.slot_i[s, L.FLAGS] = flags & ~L.IN_ROW
        self.held_bytes += a.nbytes
        return a

    def _lower(self, live):
        """n_slots down to just past the last live slot, where that halves
        it and frees 64K slots or more, and the free list without the slots
        above: reclaiming scans every slot below n_slots, and after a large
        graph is gone most of them are free. The free list hands out its
        lowest slots first, so the top ones stay free."""
        top = int(live[-1]) + 1 if len(live) else 0
        if top > self.n_slots // 2 or self.n_slots - top < 1 << 16:
            return
        self.free[:] = [s for s in self.free if s < top]     # (c_tables holds this list)
        self.goff[top:self.n_slots] = -1                     # (a past plan may have given them offsets)
        if self.scratch is not None:
            self.scratch.n_given = -1
        self.n_slots = top

    def _grow_records(self):
        self.rec_i = _doubled(self.rec_i)
        self.rec_f = _doubled(self.rec_f)
        self.rec_k = _doubled(self.rec_k)
        self._views()

    def _views(self):
        """Memoryviews of the tables, for the per-op writes: packing into
        one, or setting an item, costs a fraction of doing it through the
        NumPy array (its buffer export, its index parsing)."""
        self.rec_view = memoryview(self.rec_i).cast("B")
        self.const_view = memoryview(self.rec_f).cast("B")
        self.ki_view = memoryview(self.rec_k).cast("B")
        self.slot_view = memoryview(self.slot_i).cast("B")
        self.slot_q = self.slot_view.cast("q")       # flat: row s, column c at s * SLOT_COLS + c
        self.ref_view = memoryview(self.refs).cast("B").cast("i")
        self._row0 = self._in_row_address(0)     # slot 0's settled word (record_scalar)
        # what the C record path reads each op besides the counters, in one
        # lookup (tapegrad/_record.c; only this method changes them)
        self.c_tables = (self.slot_view, self.ref_view, self.rec_view, self.const_view, self._row0,
                         len(self.rec_k), self.arrays, self.free, self.ki_view)

    # -- reclaiming -------------------------------------------------------
    def let_go_of_swept(self):
        """After a backward that freed its records: drop the large arrays
        nothing needs any more (kernels/lifetime.unneeded), so a training
        step's activations go back to malloc or the buffer pool before the
        next step makes its own."""
        slots = np.fromiter(self.large, np.int64, len(self.large))
        free = unneeded(slots, self.n_rec, self.n_slots, self.rec_i, self.slot_i, self.shapes,
                        self.refs, FUNCTION)
        for s in slots[free].tolist():
            self.large.discard(s)
            self.held_bytes -= self.arrays[s].nbytes
            self.arrays[s] = None

    def _maybe_reclaim(self, force=False):
        """Reclaim; returns True if it freed at least a quarter of the records."""
        if self.sweeping:
            return False
        before = self.n_rec
        self.reclaim()
        # Next pass once the tape doubles past what survived, so the cost
        # stays amortized O(1) per record.
        self._reclaim_at = (max(4096, 2 * self.n_rec), max(64 << 20, 2 * self.held_bytes))
        return self.n_rec <= 3 * before // 4

    def reclaim(self):
        if self.pending:          # (its walk keeps what backward needs, not what forward does)
            from .defer import materialize
            materialize(self)
        buffers.let_go()
        live_rec, live_slot = reachable(self.n_rec, self.n_slots, self.rec_i, self.slot_i,
                                        self.shapes, self.refs, SAVES, FUNCTION)
        live_slot = live_slot[:self.n_slots]
        live = np.flatnonzero(live_slot)
        if not live_rec[:self.n_rec].all():    # (a growing graph keeps all: no copies)
            self.n_rec = compact(live_rec, self.n_rec, self.rec_i, self.rec_f, self.rec_k, live,
                                 self.slot_i)
        dead, held = free_dead(live_slot, self.slot_i)   # (new_slot writes the flags anew)
        arrays, held = self.arrays, held.tolist()
        self.held_bytes -= sum([arrays[s].nbytes for s in held if arrays[s] is not None])
        for s in held:
            arrays[s] = None
        self.large.difference_update(held)
        for table in (self.owners, self.counters, self.hooks, self.stacks):
            if table:      # (a table's keys, not the dead slots: after a large graph, far fewer)
                for s in [s for s in table if not live_slot[s]]:
                    del table[s]
        self.free += dead.tolist()    # (highest first: new slots come from the lowest, see _lower)
        self._lower(live)
        if self.functions:
            n = self.n_rec
            alive = set(self.rec_k[:n][self.rec_i[:n, L.OP] == FUNCTION].tolist())
            for key in [k for k in self.functions if k not in alive]:
                del self.functions[key]
        self.settle()


def _table(shape, dtype):
    """A zeroed table in an anonymous mapping of its own: rows not yet
    written are address space only (no RSS), and a dropped table goes back
    to the system at once (malloc may keep a freed block's pages)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(memory, dtype).reshape(shape)


def _doubled(table):
    """`table` with as many zero rows again."""
    out = _table((2 * len(table),) + table.shape[1:], table.dtype)
    out[:len(table)] = table
    return out


class _Local(threading.local):
    """This thread's tape (None before its first op). Setting it also tells
    `mirrors` (tapegrad/scalars.py: the C record path's copy per thread)."""
    _tape = None

    @property
    def tape(self):
        return self._tape

    @tape.setter
    def tape(self, tape):
        self._tape = tape
        for mirror in mirrors:
            mirror(tape)


_local = _Local()
mirrors = []


def current():
    """This thread's tape."""
    tape = _local._tape            # (not the property: a call per op on the hot path)
    if tape is None:
        tape = _local.tape = Tape()
    return tape
