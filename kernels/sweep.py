"""The reverse interpreter: one compiled sweep over the tape per backward.

plan() walks the records from the newest root back to the start, marks the
ones the roots depend on and gives every slot that needs a gradient an
offset in the gradient arena of its dtype; it changes nothing else, so an
error found there (a freed record, a saved value changed in place) leaves
the tape as it was. run() then sweeps those records in reverse, calling
each op's VJP kernel through dispatch(). Records of unrelated graphs cost
one comparison each.

run() returns to Python only where the user asked for Python: before the
record that produced a tensor with hooks, and at a custom Function's
record; Python does that part and calls run() again to resume.

Per-record cost is mostly call overhead, so _record and dispatch are
inlined into run() and every array passed down is a view without a
reference count (memory.part, memory.shape_row): 680 -> 100 ns per
record on a chain of 10,000 scalar adds.
"""
import numpy as np

from ..optable import CODE
from .interpreter import dispatch
from .jit import jit
from .layout import (A, B, C, DTYPE_MASK, FLAGS, FREED, HOOK, NUMEL, OP, OUT, RG, SAVES_A,
                     SAVES_B, SAVES_C, SAVES_Y, REC, SHAPE, STATE, VC_ADDR, VC_SEEN, VER_A,
                     VER_B, VER_C, WANTS)
from .memory import counter, part, shape_row, slot_view
from .reduce import add_cast

_INDEX = np.zeros(0, np.int64)     # the dtype of index maps (slot c of take ops)
TO_COPY, FUNCTION = CODE["to_copy"], CODE["function"]   # the ops run() handles itself

# Rewritten by generate.py: a changed digest invalidates this file's cache
# when a kernel this sweep inlines changes.
KERNELS_DIGEST = "68c447bad32a8e3d"


@jit
def _need(s, slot_i, shapes, goff, sizes, wanted, n_wanted):
    """Give slot s a gradient offset if it requires grad and has none yet."""
    if s < 0 or not slot_i[s, FLAGS] & RG or goff[s] >= 0:
        return n_wanted
    dt = slot_i[s, FLAGS] & DTYPE_MASK
    goff[s] = sizes[dt]
    sizes[dt] += shapes[slot_i[s, SHAPE], NUMEL]
    if slot_i[s, FLAGS] & WANTS:
        wanted[n_wanted] = s
        n_wanted += 1
    return n_wanted


@jit
def plan(roots, rec_i, slot_i, shapes, saves, goff, wanted):
    """Returns (float32 arena size, float64 arena size, number of slots put
    in `wanted`, bad record or -1, bad slot or -1): a bad record was freed
    by an earlier backward (bad slot -1) or reads a saved value (bad slot)
    that was changed in place."""
    start = -1
    for root in roots:
        start = max(start, slot_i[root, REC])
    for r in range(start + 1):
        for col in (A, B, C, OUT):
            if rec_i[r, col] >= 0:
                goff[rec_i[r, col]] = -1
    for root in roots:
        goff[root] = -1
    sizes = np.zeros(2, np.int64)
    n_wanted = 0
    for root in roots:
        n_wanted = _need(root, slot_i, shapes, goff, sizes, wanted, n_wanted)
    for r in range(start, -1, -1):
        if goff[rec_i[r, OUT]] < 0:
            continue
        op = rec_i[r, OP]
        mask = saves[op]
        if rec_i[r, STATE] & FREED and mask:
            return sizes[0], sizes[1], n_wanted, r, -1
        for col, bit, seen in ((A, SAVES_A, VER_A), (B, SAVES_B, VER_B), (C, SAVES_C, VER_C)):
            s = rec_i[r, col]
            if mask & bit and s >= 0 and _changed(slot_i, s, rec_i[r, seen]):
                return sizes[0], sizes[1], n_wanted, r, s
        o = rec_i[r, OUT]
        if mask & SAVES_Y and _changed(slot_i, o, slot_i[o, VC_SEEN]):
            return sizes[0], sizes[1], n_wanted, r, o
        if op == FUNCTION:
            for s in slot_view(_INDEX, slot_i, shapes, rec_i[r, C]):
                n_wanted = _need(s, slot_i, shapes, goff, sizes, wanted, n_wanted)
        else:
            for col in (A, B, C):
                n_wanted = _need(rec_i[r, col], slot_i, shapes, goff, sizes, wanted, n_wanted)
    return sizes[0], sizes[1], n_wanted, -1, -1


@jit(inline="always")
def _changed(slot_i, s, seen):
    """Has slot s's storage been changed in place since version `seen`?"""
    addr = slot_i[s, VC_ADDR]
    return addr != 0 and counter(addr) != seen


@jit(inline="always")
def _grad(arena, slot_i, shapes, goff, s):
    if s < 0 or goff[s] < 0:
        return part(arena, 0, 0)
    return part(arena, goff[s], shapes[slot_i[s, SHAPE], NUMEL])


@jit(inline="always")
def _record(r, arena, rec_i, rec_f, rec_k, slot_i, shapes, goff):
    a, b, c, o = rec_i[r, A], rec_i[r, B], rec_i[r, C], rec_i[r, OUT]
    sy = shape_row(shapes, slot_i[o, SHAPE])
    sa = shape_row(shapes, slot_i[a, SHAPE]) if a >= 0 else sy
    sb = shape_row(shapes, slot_i[b, SHAPE]) if b >= 0 else sy
    sc = shape_row(shapes, slot_i[c, SHAPE]) if c >= 0 else sy
    dispatch(rec_i[r, OP],
             _grad(arena, slot_i, shapes, goff, o), slot_view(arena, slot_i, shapes, o),
             slot_view(arena, slot_i, shapes, a), slot_view(arena, slot_i, shapes, b),
             slot_view(arena, slot_i, shapes, c), slot_view(_INDEX, slot_i, shapes, c),
             _grad(arena, slot_i, shapes, goff, a), _grad(arena, slot_i, shapes, goff, b),
             _grad(arena, slot_i, shapes, goff, c),
             rec_f[r, 0], rec_f[r, 1], rec_k[r], sy, sa, sb, sc)


@jit
def run(start, hooks_done, retain, rec_i, rec_f, rec_k, slot_i, shapes, goff, g32, g64):
    """Sweep records start..0 that plan() marked. Without `retain`, each
    swept record is marked FREED. Returns -1 when done, or the record it
    stopped at for Python: one whose output has hooks (unless it is
    `hooks_done`) or a custom Function's."""
    for r in range(start, -1, -1):
        o = rec_i[r, OUT]
        if goff[o] < 0:
            continue
        op = rec_i[r, OP]
        if (slot_i[o, FLAGS] & HOOK and r != hooks_done) or op == FUNCTION:
            return r
        if op == TO_COPY:
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
