"""The reverse interpreter: one compiled sweep over the tape per backward.

plan() walks the records from the root back to the start, marks the ones
the root depends on and gives every slot that needs a gradient an offset in
the gradient arena of its dtype; it changes nothing else, so an error found
there (a freed record) leaves the tape as it was. run() then sweeps those
records in reverse, calling each op's VJP kernel through dispatch().
Records of unrelated graphs cost one comparison each.
"""
import numpy as np
from numba import njit

from .interpreter import TO_COPY, dispatch
from .layout import A, B, C, DTYPE_MASK, FLAGS, FREED, NUMEL, OP, OUT, REC, RG, SHAPE, STATE, WANTS
from .memory import slot_view
from .reduce import add_cast

# Rewritten by generate.py: a changed digest invalidates this file's cache
# when a kernel this sweep inlines changes.
KERNELS_DIGEST = "3ff8706f8eeccfd9"


@njit(cache=True, nogil=True)
def plan(root, rec_i, slot_i, shapes, saves, goff, wanted):
    """Returns (float32 arena size, float64 arena size, number of slots put
    in `wanted`, index of a freed record the sweep would need or -1)."""
    for r in range(root + 1):
        for col in (A, B, C, OUT):
            if rec_i[r, col] >= 0:
                goff[rec_i[r, col]] = -1
    sizes = np.zeros(2, np.int64)
    o = rec_i[root, OUT]
    goff[o] = 0
    sizes[slot_i[o, FLAGS] & DTYPE_MASK] = shapes[slot_i[o, SHAPE], NUMEL]
    n_wanted = 0
    if slot_i[o, FLAGS] & WANTS:
        wanted[0] = o
        n_wanted = 1
    for r in range(root, -1, -1):
        if goff[rec_i[r, OUT]] < 0:
            continue
        if rec_i[r, STATE] & FREED and saves[rec_i[r, OP]]:
            return sizes[0], sizes[1], n_wanted, r
        for col in (A, B, C):
            s = rec_i[r, col]
            if s < 0 or not slot_i[s, FLAGS] & RG or goff[s] >= 0:
                continue
            dt = slot_i[s, FLAGS] & DTYPE_MASK
            goff[s] = sizes[dt]
            sizes[dt] += shapes[slot_i[s, SHAPE], NUMEL]
            if slot_i[s, FLAGS] & WANTS:
                wanted[n_wanted] = s
                n_wanted += 1
    return sizes[0], sizes[1], n_wanted, -1


@njit(cache=True, nogil=True, inline="always")
def _grad(arena, slot_i, shapes, goff, s):
    if s < 0 or goff[s] < 0:
        return arena[0:0]
    return arena[goff[s]:goff[s] + shapes[slot_i[s, SHAPE], NUMEL]]


@njit(cache=True, nogil=True)
def _record(r, arena, rec_i, rec_f, rec_k, slot_i, shapes, goff):
    a, b, c, o = rec_i[r, A], rec_i[r, B], rec_i[r, C], rec_i[r, OUT]
    sy = shapes[slot_i[o, SHAPE]]
    sa = shapes[slot_i[a, SHAPE]] if a >= 0 else sy
    sb = shapes[slot_i[b, SHAPE]] if b >= 0 else sy
    sc = shapes[slot_i[c, SHAPE]] if c >= 0 else sy
    dispatch(rec_i[r, OP],
             _grad(arena, slot_i, shapes, goff, o), slot_view(arena, slot_i, shapes, o),
             slot_view(arena, slot_i, shapes, a), slot_view(arena, slot_i, shapes, b),
             slot_view(arena, slot_i, shapes, c),
             _grad(arena, slot_i, shapes, goff, a), _grad(arena, slot_i, shapes, goff, b),
             _grad(arena, slot_i, shapes, goff, c),
             rec_f[r, 0], rec_f[r, 1], rec_k[r], sy, sa, sb, sc)


@njit(cache=True, nogil=True)
def run(start, retain, rec_i, rec_f, rec_k, slot_i, shapes, goff, g32, g64):
    """Sweep records start..0 that plan() marked. Without `retain`, each
    swept record is marked FREED. Returns the record it stopped before, or -1."""
    for r in range(start, -1, -1):
        o = rec_i[r, OUT]
        if goff[o] < 0:
            continue
        if rec_i[r, OP] == TO_COPY:
            a = rec_i[r, A]
            if goff[a] >= 0:
                if slot_i[o, FLAGS] & DTYPE_MASK == 0:
                    add_cast(_grad(g64, slot_i, shapes, goff, a), _grad(g32, slot_i, shapes, goff, o))
                else:
                    add_cast(_grad(g32, slot_i, shapes, goff, a), _grad(g64, slot_i, shapes, goff, o))
        elif slot_i[o, FLAGS] & DTYPE_MASK == 0:
            _record(r, g32, rec_i, rec_f, rec_k, slot_i, shapes, goff)
        else:
            _record(r, g64, rec_i, rec_f, rec_k, slot_i, shapes, goff)
        if not retain:
            rec_i[r, STATE] |= FREED
    return -1
