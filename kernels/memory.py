"""Reaching tensor data from compiled code by address, and index helpers.

Slots store each buffer's address, so the interpreter views any buffer as a
flat array without boxing a NumPy object per record.
"""
import numpy as np
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


@jit
def address(array):
    """The address of an array's first element (a third of `ctypes.data`'s cost)."""
    return array.ctypes.data


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

@jit(inline="always")
def part(array, start, n):
    """array[start:start + n] as a view without a reference count."""
    return carray(_voidptr(array.ctypes.data + start * array.itemsize), (n,), array.dtype)


@jit(inline="always")
def shape_row(shapes, sid):
    """Row sid of the shape table (ndim, numel, dims), without a reference count."""
    return carray(_voidptr(shapes.ctypes.data + sid * SHAPE_COLS * 8), (SHAPE_COLS,), np.int64)


@jit(inline="always")
def bindex(i, sy, sx):
    """Flat index into input shape sx of element i of the broadcast output sy."""
    ny, nx = sy[NDIM], sx[NDIM]
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
