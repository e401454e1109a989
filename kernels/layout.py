"""Column layout of the tape's tables, shared by the Python tape and the
kernels (plain constants, so importing it compiles nothing).

Records, int32[n, 9]: op code, input slots a/b/c (-1 if absent), output
slot, state bits, and the versions inputs a/b/c had when recorded. Constants live beside them: float64[n, 2] (k0, k1) and
int64[n] (ki). Slots, int64[n, 6]: data address, shape id, producing
record (-1 for a leaf), flag bits, and the address of the version counter
of the tensor's storage (0 until something asks for one) with the version
the slot's value was made at. Shapes, int64[n, 2 + MAXDIM]:
ndim, numel, dims.

Saves masks (one per op, tapegrad.tape.SAVES) say which values a rule reads.
"""
OP, A, B, C, OUT, STATE, VER_A, VER_B, VER_C = range(9)
REC_COLS = 9
FREED = 1                  # STATE bit: backward ran without retain_graph
INLINE = 2                 # STATE bit: replay runs this record inline (kernels/replay.py)
NUMPY = 4                  # STATE bit: replay runs this record's NumPy forward, in Python
NUMPY_VJP = 8              # STATE bit: backward runs this record's VJP with NumPy, in Python
PARALLEL = 16              # STATE bit: a large same-size elementwise record: parallel entries (registry.py)

ADDR, SHAPE, REC, FLAGS, VC_ADDR, VC_SEEN = range(6)
SLOT_COLS = 6
DTYPE_MASK = 3             # FLAGS bits 0-1: dtype code (float32 0, float64 1)
RG = 4                     # requires grad
WANTS = 8                  # Python collects its gradient (leaf or retain_grad)
HOOK = 16                  # Python hooks run on its gradient before it is used
FREE_SLOT = 32             # on the tape's free list (tapegrad/tape.py)
IN_ROW = 64                # a 0-d value kept in its own row's VC_SEEN word (tapegrad/tape.py)
PENDING = 128              # a deferred op's output, not computed yet (tapegrad/defer.py)

SAVES_A, SAVES_B, SAVES_C, SAVES_Y, SAVES_K = 1, 2, 4, 8, 16

NDIM, NUMEL = 0, 1
MAXDIM = 8
SHAPE_COLS = 2 + MAXDIM
