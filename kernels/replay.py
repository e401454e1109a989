"""The forward interpreter of replay (tapegrad/replay.py): one compiled
sweep runs a recorded stretch of the tape forward again, each record through
its op's compiled forward entry point, the same kernel eager code ran; a
record replay marked INLINE (an elementwise op on values of one element,
marked once per recording) runs inline instead (interpreter.scalar_fwd, the
same float64 arithmetic). Backward is the normal sweep (kernels/sweep.py)."""
import numpy as np

from ..optable import CODE
from . import memory as M
from .jit import jit
from . import interpreter as K      # (by module: generate.py imports this file before writing it)
from .layout import A, ADDR, B, C, DTYPE_MASK, FLAGS, INLINE, NUMPY, OUT, OP, STATE
from .memory import LIKE32, LIKE64, bare, call_entry, part, part_at, slot_view
from .sweep import pack_values

TO_COPY = CODE["to_copy"]

# Rewritten by generate.py: a changed digest invalidates this file's cache
# when code it inlines from other kernel files changes.
KERNELS_DIGEST = "8174f001a01035bd"


@jit
def forward(start, stop, rec_i, rec_f, rec_k, slot_i, shapes, fentries, scratch):
    """Run records start..stop-1 forward, writing each output slot in place.
    Returns -1, or the record marked NUMPY it stopped at (Python runs it).
    scratch: sweep.scratch(); the tables are seen as sweep.run sees them."""
    rec_i, rec_f, rec_k, slot_i, shapes, fentries = bare(rec_i), bare(rec_f), bare(rec_k), \
        bare(slot_i), bare(shapes), bare(fentries)
    p = part(scratch, 0, M.ARGS)
    f = part_at(LIKE64, scratch.ctypes.data + 8 * M.ARGS, 2)
    z32, z64 = part(LIKE32, 0, 0), part(LIKE64, 0, 0)   # the dtypes
    for r in range(start, stop):
        o = rec_i[r, OUT]
        dt = min(slot_i[o, FLAGS] & DTYPE_MASK, 1)    # int64 (index) copies move 8 bytes too
        if rec_i[r, STATE] & NUMPY:
            return r
        if rec_i[r, OP] == TO_COPY:
            a = rec_i[r, A]
            if dt == 0:
                _cast(slot_view(z32, slot_i, shapes, o),
                      slot_view(z64, slot_i, shapes, a))
            else:
                _cast(slot_view(z64, slot_i, shapes, o),
                      slot_view(z32, slot_i, shapes, a))
            continue
        op = rec_i[r, OP]
        if rec_i[r, STATE] & INLINE:
            if dt == 0:
                _scalar_fwd(r, op, z32, rec_i, rec_f, slot_i)
            else:
                _scalar_fwd(r, op, z64, rec_i, rec_f, slot_i)
            continue
        pack_values(r, p, f, rec_i, rec_f, rec_k, slot_i, shapes)
        call_entry(fentries[op, dt], 0, p.ctypes.data, f.ctypes.data)
    return -1


@jit(inline="always")
def _scalar_fwd(r, op, z, rec_i, rec_f, slot_i):
    y = K.scalar_fwd(op, _get(z, slot_i, rec_i[r, A]), _get(z, slot_i, rec_i[r, B]),
                     _get(z, slot_i, rec_i[r, C]), rec_f[r, 0], rec_f[r, 1])
    part_at(z, slot_i[rec_i[r, OUT], ADDR], 1)[0] = y


@jit(inline="always")
def _get(z, slot_i, s):
    """Slot s's one value (of z's dtype) as float64; 0 if absent."""
    if s < 0:
        return 0.0
    return np.float64(part_at(z, slot_i[s, ADDR], 1)[0])


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
