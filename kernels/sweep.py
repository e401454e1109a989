"""The reverse interpreter: one compiled sweep over the tape per backward.

plan() walks the records from the newest root back, marks the ones the
roots depend on and gives every slot that needs a gradient an offset in the
gradient arena of its dtype; it changes nothing else, so an error found
there (a freed record, a saved value changed in place) leaves the tape as
it was. It stops below the oldest record that made one of the inputs it
passed, so dead graphs still on the tape cost nothing. run() then sweeps
those records in reverse; records of unrelated graphs in between cost one
comparison each.

Each record's VJP runs through its op's compiled entry point, called by
address (kernels/registry.py): the sweep itself stays small to compile.
A record of an elementwise op on one-element values (a graph of scalars)
runs inline instead (one_element, one): interpreter.scalar_vjp, its
kernel's arithmetic, costs less than packing the argument block.

Both loops see their tables through views without a reference count
(memory.bare): an array handed to a function per record, inlined or not,
is counted up and down each time, and those atomic increments were most
of the sweep's time.

The arena is not zeroed ahead: ready[s] is 0 while slot s needs a gradient
that nothing has written yet (plan sets it). An elementwise op's kernel,
or a hand-written one that asks (linalg.py's products), writes such a
gradient (its bit in the argument block's FRESH word) instead of adding to
it, which saves the zeroing pass; before any other kernel, the
sweep zeroes the ones it will add to. Every record writes each input it is
given a gradient for (Python's stops through engine._Sweep.grad), so a
record's own output gradient is always written by the time it runs.
run() returns to Python only where the user asked for Python: before the
record that produced a tensor with hooks, and at a custom Function's
record; Python does that part and calls run() again to resume. It also
returns at a large array's sin/cos/erf (NUMPY_VJP): NumPy's SIMD cos is
several times faster than a Numba loop over the C library's scalar one.
A large same-size elementwise record (PARALLEL) runs its op's parallel
entry where there is one (registry.py), else the serial one.
"""
import numpy as np

from ..optable import CODE
from . import memory as M
from .jit import jit
from . import interpreter as K      # (by module: generate.py imports this file before writing it)
from .layout import (ADDR, A, B, C, DTYPE_MASK, FLAGS, FREED, HOOK, NUMEL, NUMPY_VJP, OP,
                     OUT, PARALLEL, RG, SAVES_A, SAVES_B, SAVES_C, SAVES_Y, REC, SHAPE, STATE,
                     VC_ADDR, VC_SEEN, VER_A, VER_B, VER_C, WANTS)
from .memory import LIKE32, LIKE64, bare, call_entry, counter, part, part_at, slot_view
from .reduce import add_cast

_INDEX = np.zeros(0, np.int64)     # the dtype of index maps (slot c of take ops)
TO_COPY, FUNCTION = CODE["to_copy"], CODE["function"]   # the ops run() handles itself

# Rewritten by generate.py: a changed digest invalidates this file's cache
# when code it inlines from other kernel files changes.
KERNELS_DIGEST = "8174f001a01035bd"


@jit(inline="always")
def _need(s, slot_i, shapes, goff, ready, wanted, given, n32, n64, n_wanted, n_given):
    """Give slot s a gradient offset (not written yet) if it requires grad
    and has none yet, and list it in `given`. Returns the arena sizes and
    the counts of slots in `wanted` and `given`, updated."""
    if s < 0 or not slot_i[s, FLAGS] & RG or goff[s] >= 0:
        return n32, n64, n_wanted, n_given
    ready[s] = 0
    given[n_given] = s
    n_given += 1
    n = shapes[slot_i[s, SHAPE], NUMEL]
    if slot_i[s, FLAGS] & DTYPE_MASK == 0:
        goff[s] = n32
        n32 += n
    else:
        goff[s] = n64
        n64 += n
    if slot_i[s, FLAGS] & WANTS:
        wanted[n_wanted] = s
        n_wanted += 1
    return n32, n64, n_wanted, n_given


@jit
def plan(roots, rec_i, slot_i, shapes, saves, entries, writes, goff, ready, wanted, need, given,
         n_given):
    """Returns (float32 arena size, float64 arena size, number of slots put
    in `wanted`, number put in `given`, lowest record to sweep, bad record
    or -1, bad slot or -1, entries missing): a bad record was freed by an
    earlier backward (bad slot -1) or reads a saved value (bad slot) that
    was changed in place. An entry point a swept record needs and `entries`
    lacks is marked in `need` (same shape) to be compiled
    (registry.compile_missing) before run(); records run() takes inline
    (one_element) need none, and a PARALLEL record needs its serial entry
    too (the fallback). goff covers every slot and is -1 but where the last
    plan gave an offset: the n_given slots in `given` (all of goff when
    n_given is -1), which it resets first; ready (see above) is set for the
    slots given an offset. The walk stops below the oldest record that made
    an input it passed: older records (dead graphs still on the tape among
    them) cannot need a gradient."""
    rec_i, slot_i, shapes, saves, entries = bare(rec_i), bare(slot_i), bare(shapes), bare(saves), \
        bare(entries)
    writes, goff, ready, wanted, need = bare(writes), bare(goff), bare(ready), bare(wanted), \
        bare(need)
    given = bare(given)
    if n_given < 0:
        goff[:] = -1
    for i in range(n_given):     # (not a fill: after a large graph, most slots have none)
        goff[given[i]] = -1
    start, lowest = -1, len(rec_i)
    for root in roots:
        start = max(start, slot_i[root, REC])
        lowest = min(lowest, slot_i[root, REC])
    n32, n64, n_wanted, n_given, missing = 0, 0, 0, 0, 0
    for root in roots:
        n32, n64, n_wanted, n_given = _need(root, slot_i, shapes, goff, ready, wanted, given, n32,
                                            n64, n_wanted, n_given)
    for r in range(start, -1, -1):
        if r < lowest:
            return n32, n64, n_wanted, n_given, r + 1, -1, -1, missing
        o = rec_i[r, OUT]
        if goff[o] < 0:
            continue
        op = rec_i[r, OP]
        mask = saves[op]
        if rec_i[r, STATE] & FREED and mask:
            return n32, n64, n_wanted, n_given, r, r, -1, missing
        if mask & SAVES_A and _changed(slot_i, rec_i[r, A], rec_i[r, VER_A]):
            return n32, n64, n_wanted, n_given, r, r, rec_i[r, A], missing
        if mask & SAVES_B and _changed(slot_i, rec_i[r, B], rec_i[r, VER_B]):
            return n32, n64, n_wanted, n_given, r, r, rec_i[r, B], missing
        if mask & SAVES_C and _changed(slot_i, rec_i[r, C], rec_i[r, VER_C]):
            return n32, n64, n_wanted, n_given, r, r, rec_i[r, C], missing
        if mask & SAVES_Y and _changed(slot_i, o, slot_i[o, VC_SEEN]):
            return n32, n64, n_wanted, n_given, r, r, o, missing
        dt = slot_i[o, FLAGS] & DTYPE_MASK & 1
        if not one_element(op, o, writes, slot_i, shapes):
            for col in (dt, 2 + dt):
                if entries[op, col] == 0 and (col == dt or rec_i[r, STATE] & PARALLEL):
                    need[op, col] = 1
                    missing += 1
        if op == FUNCTION:
            for s in slot_view(_INDEX, slot_i, shapes, rec_i[r, C]):
                lowest = _older(s, slot_i, lowest)
                n32, n64, n_wanted, n_given = _need(s, slot_i, shapes, goff, ready, wanted, given,
                                                    n32, n64, n_wanted, n_given)
        else:
            for col in (A, B, C):
                lowest = _older(rec_i[r, col], slot_i, lowest)
                n32, n64, n_wanted, n_given = _need(rec_i[r, col], slot_i, shapes, goff, ready,
                                                    wanted, given, n32, n64, n_wanted, n_given)
    return n32, n64, n_wanted, n_given, 0, -1, -1, missing


@jit(inline="always")
def _older(s, slot_i, lowest):
    """lowest, or the record that made slot s where that is older."""
    if s >= 0 and 0 <= slot_i[s, REC] < lowest:
        return slot_i[s, REC]
    return lowest


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
def _pack(p, col, n_col, slot_i, shapes, s):
    """The address and size of slot s's value into the argument block."""
    if s < 0:
        p[col], p[n_col] = 0, 0
    else:
        p[col], p[n_col] = slot_i[s, ADDR], shapes[slot_i[s, SHAPE], NUMEL]


@jit(inline="always")
def _pack_grad(p, col, n_col, arena, slot_i, shapes, goff, s):
    if s < 0 or goff[s] < 0:
        p[col], p[n_col] = 0, 0
    else:
        p[col] = arena.ctypes.data + goff[s] * arena.itemsize
        p[n_col] = shapes[slot_i[s, SHAPE], NUMEL]


@jit(inline="always")
def ready_grad(s, ready, slot_i, shapes, goff, g32, g64):
    """Zero slot s's gradient if it needs one that nothing has written yet."""
    if s >= 0 and not ready[s]:
        _zero(s, ready, slot_i, shapes, goff, g32, g64)


@jit
def _zero(s, ready, slot_i, shapes, goff, g32, g64):
    # a call, not inlined: inline, it cost the sweep about 70 ns per record
    # on the scalar graph, where it never runs
    ready[s] = 1
    if slot_i[s, FLAGS] & DTYPE_MASK == 0:
        _grad(g32, slot_i, shapes, goff, s)[:] = 0
    else:
        _grad(g64, slot_i, shapes, goff, s)[:] = 0


@jit(inline="always")
def _fresh(r, ready, rec_i):
    """The FRESH bits of record r's inputs (its kernel writes those first),
    now marked ready. An input named twice is fresh the first time only:
    the kernel handles its inputs in order."""
    bits = 0
    for bit, col in ((1, A), (2, B), (4, C)):
        s = rec_i[r, col]
        if s >= 0 and not ready[s]:
            ready[s] = 1
            bits |= bit
    return bits


@jit(inline="always")
def _record(r, arena, entry, p, f, rec_i, rec_f, rec_k, slot_i, shapes, goff):
    """Fill the argument block for record r and call its op's entry point."""
    a, b, c, o = rec_i[r, A], rec_i[r, B], rec_i[r, C], rec_i[r, OUT]
    _pack_grad(p, M.G, M.N_Y, arena, slot_i, shapes, goff, o)
    _pack_grad(p, M.GA, M.N_GA, arena, slot_i, shapes, goff, a)
    _pack_grad(p, M.GB, M.N_GB, arena, slot_i, shapes, goff, b)
    _pack_grad(p, M.GC, M.N_GC, arena, slot_i, shapes, goff, c)
    pack_values(r, p, f, rec_i, rec_f, rec_k, slot_i, shapes)
    call_entry(entry, 0, p.ctypes.data, f.ctypes.data)


@jit(inline="always")
def pack_values(r, p, f, rec_i, rec_f, rec_k, slot_i, shapes):
    """Record r's values, shapes and constants into the argument block (the
    forward entries read only these)."""
    a, b, c, o = rec_i[r, A], rec_i[r, B], rec_i[r, C], rec_i[r, OUT]
    p[M.Y], p[M.N_Y] = slot_i[o, ADDR], shapes[slot_i[o, SHAPE], NUMEL]
    _pack(p, M.VA, M.N_A, slot_i, shapes, a)
    _pack(p, M.VB, M.N_B, slot_i, shapes, b)
    _pack(p, M.VC, M.N_C, slot_i, shapes, c)
    p[M.KI] = rec_k[r]
    row = shapes.ctypes.data + slot_i[o, SHAPE] * shapes.shape[1] * 8
    p[M.SY] = row
    p[M.SA] = shapes.ctypes.data + slot_i[a, SHAPE] * shapes.shape[1] * 8 if a >= 0 else row
    p[M.SB] = shapes.ctypes.data + slot_i[b, SHAPE] * shapes.shape[1] * 8 if b >= 0 else row
    p[M.SC] = shapes.ctypes.data + slot_i[c, SHAPE] * shapes.shape[1] * 8 if c >= 0 else row
    f[0], f[1] = rec_f[r, 0], rec_f[r, 1]


def scratch():
    """run()'s scratch words, made by its caller (see memory.bare): the
    argument block of an entry point's call, its two float constants, and
    one zero word (0.0 as float32 or float64)."""
    return np.zeros(M.ARGS + 3, np.int64)


@jit
def run(start, until, hooks_done, retain, rec_i, rec_f, rec_k, slot_i, shapes, entries, writes,
        goff, ready, g32, g64, scratch):
    """Sweep records start..until that plan() marked. Without `retain`, each
    swept record is marked FREED. Returns -1 when done, or the record it
    stopped at for Python: one whose output has hooks (unless it is
    `hooks_done`), a custom Function's or one whose VJP NumPy runs.
    writes[op]: op's kernel takes FRESH bits (registry.writes); ready: see
    the docstring."""
    rec_i, rec_f, rec_k, slot_i, shapes = bare(rec_i), bare(rec_f), bare(rec_k), bare(slot_i), \
        bare(shapes)
    entries, writes, goff, ready, g32, g64 = bare(entries), bare(writes), bare(goff), bare(ready), \
        bare(g32), bare(g64)
    p = part(scratch, 0, M.ARGS)
    f = part_at(LIKE64, scratch.ctypes.data + 8 * M.ARGS, 2)
    zero = scratch.ctypes.data + 8 * (M.ARGS + 2)
    z32, z64 = part_at(LIKE32, zero, 1), part_at(LIKE64, zero, 1)   # the dtypes, and their zero
    for r in range(start, until - 1, -1):
        o = rec_i[r, OUT]
        if goff[o] < 0:
            continue
        if stops(r, o, hooks_done, rec_i, slot_i):
            return r
        op = rec_i[r, OP]
        if one_element(op, o, writes, slot_i, shapes):
            if slot_i[o, FLAGS] & DTYPE_MASK == 0:
                one(r, op, z32, g32, ready, rec_i, rec_f, slot_i, goff)
            else:
                one(r, op, z64, g64, ready, rec_i, rec_f, slot_i, goff)
        else:
            vjp(r, o, p, f, rec_i, rec_f, rec_k, slot_i, shapes, entries, writes, goff, ready,
                g32, g64)
        if not retain:
            rec_i[r, STATE] |= FREED
    return -1


@jit(inline="always")
def one_element(op, o, writes, slot_i, shapes):
    """Does run() take a record of op with output slot o inline (one)?"""
    return writes[op] == 1 and shapes[slot_i[o, SHAPE], NUMEL] == 1


@jit(inline="always")
def one(r, op, z, arena, ready, rec_i, rec_f, slot_i, goff):
    """Record r's VJP where its op is elementwise and its output (so each
    input) has one element: interpreter.scalar_vjp, the arithmetic of the
    op's kernel, without the argument block and the entry point's call."""
    a, b, c, o = rec_i[r, A], rec_i[r, B], rec_i[r, C], rec_i[r, OUT]
    ga, gb, gc = K.scalar_vjp(op, arena[goff[o]], _value(z, slot_i, a), _value(z, slot_i, b),
                              _value(z, slot_i, c), _value(z, slot_i, o), rec_f[r, 0], rec_f[r, 1])
    for s, g in ((a, ga), (b, gb), (c, gc)):
        if s >= 0 and goff[s] >= 0:
            if ready[s]:
                arena[goff[s]] = arena[goff[s]] + g
            else:
                ready[s] = 1
                arena[goff[s]] = g


@jit(inline="always")
def _value(z, slot_i, s):
    """Slot s's one value, of the dtype of z (one zero); z[0] if absent."""
    if s < 0:
        return z[0]
    return part_at(z, slot_i[s, ADDR], 1)[0]


@jit(inline="always")
def stops(r, o, hooks_done, rec_i, slot_i):
    """Must the sweep return to Python at record r (hooks, a custom
    Function, a VJP NumPy runs)?"""
    return ((slot_i[o, FLAGS] & HOOK and r != hooks_done) or rec_i[r, OP] == FUNCTION
            or rec_i[r, STATE] & NUMPY_VJP)


@jit(inline="always")
def vjp(r, o, p, f, rec_i, rec_f, rec_k, slot_i, shapes, entries, writes, goff, ready, g32, g64):
    """Record r's VJP, into the arena of its output's dtype."""
    op = rec_i[r, OP]
    if writes[op]:
        p[M.FRESH] = _fresh(r, ready, rec_i)
    else:
        p[M.FRESH] = 0
        for col in (A, B, C):
            ready_grad(rec_i[r, col], ready, slot_i, shapes, goff, g32, g64)
    if op == TO_COPY:
        a = rec_i[r, A]
        if goff[a] >= 0:
            if slot_i[o, FLAGS] & DTYPE_MASK == 0:
                add_cast(_grad(g64, slot_i, shapes, goff, a), _grad(g32, slot_i, shapes, goff, o))
            else:
                add_cast(_grad(g32, slot_i, shapes, goff, a), _grad(g64, slot_i, shapes, goff, o))
    elif slot_i[o, FLAGS] & DTYPE_MASK == 0:
        _record(r, g32, _entry(r, op, 0, rec_i, entries), p, f, rec_i, rec_f, rec_k, slot_i,
                shapes, goff)
    else:
        _record(r, g64, _entry(r, op, 1, rec_i, entries), p, f, rec_i, rec_f, rec_k, slot_i,
                shapes, goff)


@jit(inline="always")
def _entry(r, op, dt, rec_i, entries):
    """The parallel entry of a PARALLEL record where there is one, else the op's."""
    if rec_i[r, STATE] & PARALLEL and entries[op, 2 + dt] > 1:
        return entries[op, 2 + dt]
    return entries[op, dt]
