"""Column layout of the tape's tables, shared by the Python tape and the
kernels (plain constants, so importing it compiles nothing).

Records, int32[n, 6]: op code, input slots a/b/c (-1 if absent), output
slot, state bits. Constants live beside them: float64[n, 2] (k0, k1) and
int64[n] (ki). Slots, int64[n, 4]: data address, shape id, producing
record (-1 for a leaf), flag bits. Shapes, int64[n, 2 + MAXDIM]: ndim,
numel, dims.
"""
OP, A, B, C, OUT, STATE = range(6)
REC_COLS = 6
FREED = 1                  # STATE bit: backward ran without retain_graph

ADDR, SHAPE, REC, FLAGS = range(4)
SLOT_COLS = 4
DTYPE_MASK = 3             # FLAGS bits 0-1: dtype code (float32 0, float64 1)
RG = 4                     # requires grad
WANTS = 8                  # Python collects its gradient (leaf or retain_grad)

NDIM, NUMEL = 0, 1
MAXDIM = 8
SHAPE_COLS = 2 + MAXDIM
