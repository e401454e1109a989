"""The tape: flat tables of records and slots, one tape per thread.

A slot is one value on the tape: the address of its (C-contiguous) data, its
shape id, the record that produced it (-1 for a leaf) and flag bits. A
record is one differentiable op: op code, input slots, output slot,
constants. Both live in NumPy tables that grow by doubling; the data itself
stays in ordinary NumPy arrays (held in `arrays` by slot), so growing a
table never moves a tensor's memory and `from_numpy` / `detach()` keep
sharing it.

Reclaiming (the rule, in one place): every Python object that names a slot
(the tensor that owns it, a grad_fn view) holds one count in `refs`. When
the tape has grown enough since the last pass (records or bytes held, see
_maybe_reclaim), kernels/lifetime.reachable() marks the records and slots a
counted slot can reach backwards; the rest is dropped: records are
compacted in order, dead slots go to the free list and their arrays are
released. A record freed by backward (no retain_graph) whose rule reads
saved values no longer keeps its inputs alive, as PyTorch frees its saved
tensors. So a training loop of any length runs in flat memory, also when a
forward pass is never differentiated.
"""
import struct
import threading

import numpy as np

from . import buffers
from .kernels import layout as L
from .kernels.lifetime import reachable
from .kernels.memory import address
from .optable import CODE, OPS

_REC = struct.Struct(f"{L.REC_COLS}i")
_CONST = struct.Struct("2d")
_KI = struct.Struct("q")
_SLOT = struct.Struct(f"{L.SLOT_COLS}q")
_BITS = dict(a=L.SAVES_A, b=L.SAVES_B, c=L.SAVES_C, y=L.SAVES_Y, k=L.SAVES_K)
SAVES = np.array([sum(_BITS[v] for v in op.saves) for op in OPS], np.int64)
FUNCTION = CODE["function"]


class Tape:
    def __init__(self, capacity=1024):
        self.n_rec = 0
        self.rec_i = np.full((capacity, L.REC_COLS), -1, np.int32)
        self.rec_f = np.zeros((capacity, 2))
        self.rec_k = np.zeros(capacity, np.int64)
        self.n_slots = 0
        self.slot_i = np.zeros((capacity, L.SLOT_COLS), np.int64)
        self.refs = np.zeros(capacity, np.int32)
        self.goff = np.full(capacity, -1, np.int64)   # the sweep's scratch
        self.arrays = []                               # slot -> its data
        self.owners = {}         # slot -> weakref of the tensor collecting its .grad
        self.counters = {}       # slot -> version counter of its storage (when it has one)
        self.hooks = {}          # slot -> hooks of the non-leaf tensor it holds
        self.functions = {}      # ki of a custom Function's records -> its context
        self.stacks = {}         # slot -> forward stack of its record (anomaly mode)
        self.free = []
        self.shapes = np.zeros((64, L.SHAPE_COLS), np.int64)
        self.shape_ids = {}
        self._shape_id(())
        self.arenas = {0: np.zeros(0, np.float32), 1: np.zeros(0, np.float64)}
        self.held_bytes = 0
        self._reclaim_at = (4096, 64 << 20)
        self.sweeping = 0                  # backward in progress: no reclaiming
        self.recorder = None               # a step recorded for replay (capture.py)
        self.plans = None                  # a replayed step's backward plans (autograd/engine.py)

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
            self.shapes[sid, L.NUMEL] = int(np.prod(shape, dtype=np.int64))
            self.shapes[sid, 2:2 + len(shape)] = shape
            self.shape_ids[shape] = sid
        return sid

    # -- slots ------------------------------------------------------------
    def new_slot(self, array, rec, flags, counter=None):
        """A slot for `array` (C-contiguous), held once by the caller."""
        if self.free:
            s = self.free.pop()
            self.arrays[s] = array
        else:
            s = self.n_slots
            if s == len(self.refs):
                self._grow_slots()
            self.arrays.append(array)
            self.n_slots = s + 1
        _SLOT.pack_into(self.slot_i, s * _SLOT.size, address(array) if array.size else 0,
                        self._shape_id(array.shape), rec, flags, 0, 0)
        if counter is not None:
            self.set_counter(s, counter)
        self.refs[s] = 1
        self.held_bytes += array.nbytes
        return s

    def _grow_slots(self):
        n = len(self.refs)
        self.slot_i = np.concatenate([self.slot_i, np.zeros_like(self.slot_i)])
        self.refs = np.concatenate([self.refs, np.zeros(n, np.int32)])
        self.goff = np.concatenate([self.goff, np.full(n, -1, np.int64)])

    def set_counter(self, s, counter):
        """From now on backward checks slot s's saved value against `counter`."""
        self.counters[s] = counter
        self.slot_i[s, L.VC_ADDR] = address(counter)
        self.slot_i[s, L.VC_SEEN] = counter[0]

    def set_flag(self, s, bit, on=True):
        f = int(self.slot_i[s, L.FLAGS])
        self.slot_i[s, L.FLAGS] = f | bit if on else f & ~bit

    def hold(self, s):
        self.refs[s] += 1

    def release(self, s):
        self.refs[s] -= 1

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
        s = self.new_slot(out, r, flags)
        _REC.pack_into(self.rec_i, r * _REC.size, code, a, b, c, s, state, *versions)
        if k0 or k1 or ki:         # rows past n_rec are zero (see reclaim)
            _CONST.pack_into(self.rec_f, r * _CONST.size, k0, k1)
            _KI.pack_into(self.rec_k, r * _KI.size, ki)
        self.n_rec = r + 1
        return s

    def _grow_records(self):
        self.rec_i = np.concatenate([self.rec_i, np.full_like(self.rec_i, -1)])
        self.rec_f = np.concatenate([self.rec_f, np.zeros_like(self.rec_f)])
        self.rec_k = np.concatenate([self.rec_k, np.zeros_like(self.rec_k)])

    # -- reclaiming -------------------------------------------------------
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
        buffers.let_go()
        live_rec, live_slot = reachable(self.n_rec, self.n_slots, self.rec_i, self.slot_i,
                                        self.shapes, self.refs, SAVES, FUNCTION)
        keep = np.flatnonzero(live_rec)
        n = len(keep)
        new_index = np.full(self.n_rec + 1, -1, np.int64)   # index -1 maps to -1
        new_index[keep] = np.arange(n)
        self.rec_i[:n] = self.rec_i[keep]
        self.rec_f[:n] = self.rec_f[keep]
        self.rec_k[:n] = self.rec_k[keep]
        self.rec_i[n:self.n_rec] = -1
        self.rec_f[n:self.n_rec] = 0
        self.rec_k[n:self.n_rec] = 0
        self.n_rec = n
        produced = self.slot_i[:self.n_slots, L.REC]
        self.slot_i[:self.n_slots, L.REC] = np.where(produced >= 0, new_index[produced], -1)
        arrays = self.arrays
        flags = self.slot_i[:self.n_slots, L.FLAGS]
        # (not the free ones again: after a large graph they are most slots)
        dead = np.flatnonzero(~live_slot[:self.n_slots] & (flags & L.FREE_SLOT == 0))
        flags[dead] |= L.FREE_SLOT            # new_slot writes the flags anew
        dead = dead.tolist()
        self.held_bytes -= sum([arrays[s].nbytes for s in dead])
        for s in dead:
            arrays[s] = None
        for table in (self.owners, self.counters, self.hooks, self.stacks):
            if table:
                for s in dead:
                    table.pop(s, None)
        self.free += dead
        alive = set(self.rec_k[:n][self.rec_i[:n, L.OP] == FUNCTION].tolist())
        for key in [k for k in self.functions if k not in alive]:
            del self.functions[key]


_local = threading.local()


def current():
    """This thread's tape."""
    tape = getattr(_local, "tape", None)
    if tape is None:
        tape = _local.tape = Tape()
    return tape
