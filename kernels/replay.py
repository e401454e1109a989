"""The forward interpreter of replay (tapegrad/replay.py): one compiled
sweep runs a recorded stretch of the tape forward again, each record through
its op's compiled forward entry point, the same kernel eager code ran."""
import numpy as np

from ..optable import CODE
from . import memory as M
from .jit import jit
from .layout import A, B, C, DTYPE_MASK, FLAGS, OUT, OP, VC_ADDR, VC_SEEN, VER_A, VER_B, VER_C
from .memory import call_entry, counter, slot_view
from .sweep import pack_values

TO_COPY = CODE["to_copy"]

# Rewritten by generate.py: a changed digest invalidates this file's cache
# when code it inlines from other kernel files changes.
KERNELS_DIGEST = "0a13cb835c9bbf4c"


@jit
def forward(start, stop, rec_i, rec_f, rec_k, slot_i, shapes, fentries):
    """Run records start..stop-1 forward, writing each output slot in place."""
    p = np.zeros(M.ARGS, np.int64)
    f = np.zeros(2)
    for r in range(start, stop):
        o = rec_i[r, OUT]
        dt = min(slot_i[o, FLAGS] & DTYPE_MASK, 1)    # int64 (index) copies move 8 bytes too
        if rec_i[r, OP] == TO_COPY:
            a = rec_i[r, A]
            if dt == 0:
                _cast(slot_view(np.zeros(0, np.float32), slot_i, shapes, o),
                      slot_view(np.zeros(0), slot_i, shapes, a))
            else:
                _cast(slot_view(np.zeros(0), slot_i, shapes, o),
                      slot_view(np.zeros(0, np.float32), slot_i, shapes, a))
            continue
        pack_values(r, p, f, rec_i, rec_f, rec_k, slot_i, shapes)
        call_entry(fentries[rec_i[r, OP], dt], 0, p.ctypes.data, f.ctypes.data)


@jit
def call_forward(entry, Y, A, B, C, k0, k1, ki, sy, sa, sb, sc):
    """Eager code's call of a forward entry point on whole arrays (C, when
    an op reads indices, is int64)."""
    p = np.zeros(M.ARGS, np.int64)
    p[M.Y], p[M.N_Y] = Y.ctypes.data, Y.size
    p[M.VA], p[M.N_A] = A.ctypes.data, A.size
    p[M.VB], p[M.N_B] = B.ctypes.data, B.size
    p[M.VC], p[M.N_C] = C.ctypes.data, C.size
    p[M.KI] = ki
    p[M.SY], p[M.SA], p[M.SB], p[M.SC] = sy.ctypes.data, sa.ctypes.data, sb.ctypes.data, sc.ctypes.data
    f = np.empty(2)
    f[0], f[1] = k0, k1
    call_entry(entry, 0, p.ctypes.data, f.ctypes.data)


@jit(inline="always")
def _cast(dst, src):
    for i in range(dst.size):
        dst[i] = src[i]


@jit
def sync_versions(n_rec, rec_i, slot_i):
    """Mark every record as having seen its inputs' current versions. Replay
    runs the recorded step again, whose version checks passed when it was
    recorded; only changes made between calls (an optimizer's step) differ."""
    for r in range(n_rec):
        for col, ver in ((A, VER_A), (B, VER_B), (C, VER_C)):
            s = rec_i[r, col]
            if s >= 0 and slot_i[s, VC_ADDR] != 0:
                rec_i[r, ver] = counter(slot_i[s, VC_ADDR])
        o = rec_i[r, OUT]
        if slot_i[o, VC_ADDR] != 0:
            slot_i[o, VC_SEEN] = counter(slot_i[o, VC_ADDR])
