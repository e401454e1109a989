"""Reaching tensor data from compiled code by address, and index helpers.

Slots store each buffer's address, so the interpreter views any buffer as a
flat array without boxing a NumPy object per record.
"""
import ctypes

import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

from .jit import jit
from .layout import ADDR, NDIM, NUMEL, SHAPE, SHAPE_COLS


@intrinsic
def _voidptr(typingctx, addr):
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


@intrinsic
def call_entry(typingctx, entry, like, args, consts):
    """Call the compiled VJP entry point at address `entry` (see registry.py)
    with three pointer-sized arguments: an indirect call of a few ns."""
    def codegen(context, builder, signature, values):
        i64 = ir.IntType(64)
        fn = builder.inttoptr(values[0], ir.FunctionType(ir.VoidType(), [i64] * 3).as_pointer())
        builder.call(fn, values[1:])
        return context.get_dummy_value()
    return types.void(types.int64, types.int64, types.int64, types.int64), codegen


def _address_reader():
    """array -> the address of its first element, as fast as Python can. An
    ndarray's C struct (PyArrayObject_fields, public in NumPy's headers)
    holds its data pointer right after the object header, so reading it
    through ctypes costs about 0.2 us, against 2 us for a Numba call and 1.5
    us for `.ctypes.data`: once per recorded value, it is the cost of
    recording. Checked on a probe; where the layout differs, `.ctypes.data`."""
    pointer_at = ctypes.c_void_p.from_address
    offset = object.__basicsize__
    probe = np.zeros(3)
    if pointer_at(id(probe) + offset).value != probe.ctypes.data:
        return lambda array: array.ctypes.data
    return lambda array: pointer_at(id(array) + offset).value


address = _address_reader()


@jit(inline="always")
def counter(addr):
    """The int64 at addr: a version counter (see tapegrad/tensor.py)."""
    return carray(_voidptr(addr), (1,), np.int64)[0]


@jit(inline="always")
def slot_view(like, slot_i, shapes, s):
    """Slot s's data as a flat array of `like`'s dtype (empty when s < 0)."""
    if s < 0:
        return carray(_voidptr(0), (0,), like.dtype)
    return carray(_voidptr(slot_i[s, ADDR]), (shapes[slot_i[s, SHAPE], NUMEL],), like.dtype)


# Views made by carray carry no reference count: passing them down the
# sweep costs no atomic increments (slices of NumPy arrays would, per call).

LIKE32, LIKE64 = np.zeros(0, np.float32), np.zeros(0)     # a dtype, for views (part_at)


@jit(inline="always")
def bare(array):
    """All of `array` as a view without a reference count. A loop over
    records that hands its tables on to other functions (inlined or not)
    counts each one up and down per call, an atomic increment each: in
    the sweep's plan that was nine-tenths of its time. The caller keeps
    `array` alive (an array the loop made itself would be freed after its
    last use: take it from Python, as sweep.scratch)."""
    return carray(_voidptr(array.ctypes.data), array.shape, array.dtype)


@jit(inline="always")
def part(array, start, n):
    """array[start:start + n] as a view without a reference count."""
    return carray(_voidptr(array.ctypes.data + start * array.itemsize), (n,), array.dtype)


@jit(inline="always")
def cut(array, start, n):
    """part(array, start, n), or array itself when it is empty (an input
    the op does not have, a gradient nobody wants)."""
    return part(array, start, n) if array.size else array


@jit(inline="always")
def shape_row(shapes, sid):
    """Row sid of the shape table (ndim, numel, dims), without a reference count."""
    return carray(_voidptr(shapes.ctypes.data + sid * SHAPE_COLS * 8), (SHAPE_COLS,), np.int64)


@jit(inline="always")
def bindex(i, sy, sx):
    """Flat index into input shape sx of element i of the broadcast output sy."""
    return bindex_lead(i, sy, sy[NDIM], sx, sx[NDIM])


@jit(inline="always")
def bindex_lead(i, sy, ny, sx, nx):
    """bindex over the leading ny dims of sy and nx dims of sx only (the
    batch dims of a matmul): flat index of batch i of the output into the
    input's batches."""
    j, stride, rem = 0, 1, i
    for d in range(ny - 1, ny - nx - 1, -1):
        n = sy[2 + d]
        c = rem % n
        rem //= n
        m = sx[2 + d - (ny - nx)]
        if m != 1:
            j += c * stride
        stride *= m
    return j


@jit(inline="always")
def rindex(i, sx, mask):
    """Flat index into the reduced tensor of element i of shape sx, where the
    dims in bitmask `mask` were reduced (kept as size 1)."""
    j, stride, rem = 0, 1, i
    for d in range(sx[NDIM] - 1, -1, -1):
        n = sx[2 + d]
        c = rem % n
        rem //= n
        if not (mask >> d) & 1:
            j += c * stride
            stride *= n
    return j


@jit(inline="always")
def dim_split(sx, d):
    """(outer, n, inner) of shape sx around dim d: element (o, j, i) is at
    flat index (o * n + j) * inner + i."""
    outer, inner = 1, 1
    for e in range(d):
        outer *= sx[2 + e]
    for e in range(d + 1, sx[NDIM]):
        inner *= sx[2 + e]
    return outer, (sx[2 + d] if sx[NDIM] else 1), inner


# The argument block of a VJP entry point: addresses and sizes of the
# record's arrays, then ki and the addresses of its four shape rows; k0 and
# k1 travel in a float64 block beside it.
G, Y, VA, VB, VC, GA, GB, GC = range(8)          # addresses
N_Y, N_A, N_B, N_C, N_GA, N_GB, N_GC = range(8, 15)
KI, SY, SA, SB, SC = range(15, 20)
FRESH = 20              # bits: which of inputs a, b, c have no gradient written yet
ARGS = 21


@jit(inline="always")
def _shape_at(addr):
    return carray(_voidptr(addr), (SHAPE_COLS,), np.int64)


@jit(inline="always")
def unpack(z, p, f):
    """The VJP kernel arguments (G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy,
    sa, sb, sc) from an argument block; z is an empty array of the dtype."""
    return (part_at(z, p[G], p[N_Y]), part_at(z, p[Y], p[N_Y]), part_at(z, p[VA], p[N_A]),
            part_at(z, p[VB], p[N_B]), part_at(z, p[VC], p[N_C]),
            carray(_voidptr(p[VC]), (p[N_C],), np.int64),
            part_at(z, p[GA], p[N_GA]), part_at(z, p[GB], p[N_GB]), part_at(z, p[GC], p[N_GC]),
            f[0], f[1], p[KI], _shape_at(p[SY]), _shape_at(p[SA]), _shape_at(p[SB]),
            _shape_at(p[SC]))


@jit(inline="always")
def part_at(z, addr, n):
    """n elements of z's dtype at addr, as a view without a reference count."""
    return carray(_voidptr(addr), (n,), z.dtype)
