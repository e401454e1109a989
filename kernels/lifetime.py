"""Which records and slots the tape can reclaim (see tapegrad/tape.py)."""
import numpy as np

from .jit import jit
from .layout import A, B, C, FLAGS, FREE_SLOT, FREED, IN_ROW, OP, OUT, REC, STATE
from .memory import slot_view

_INDEX = np.zeros(0, np.int64)

# Rewritten by generate.py: a changed digest invalidates this file's cache
# when code it inlines from other kernel files changes.
KERNELS_DIGEST = "8174f001a01035bd"


@jit
def reachable(n_rec, n_slots, rec_i, slot_i, shapes, refs, saves, function):
    """A slot is live if a Python object holds it (refs > 0) or a live record
    reads it; a record is live if its output slot is. A freed record whose
    rule reads saved values cannot be swept again, so it keeps its output's
    history but not its inputs alive. A custom Function's record lists its
    inputs in slot c. Returns (live records, live slots)."""
    live_slot = refs[:n_slots] > 0
    live_rec = np.zeros(n_rec, np.bool_)
    for r in range(n_rec - 1, -1, -1):
        if not live_slot[rec_i[r, OUT]]:
            continue
        live_rec[r] = True
        if rec_i[r, STATE] & FREED and saves[rec_i[r, OP]]:
            continue
        _mark_inputs(r, rec_i, slot_i, shapes, function, live_slot, True)
    return live_rec, live_slot


@jit(inline="always")
def _mark_inputs(r, rec_i, slot_i, shapes, function, marks, value):
    """marks[s] = value for each input slot s of record r (a custom
    Function's record lists its inputs in slot c)."""
    for col in (A, B, C):
        if rec_i[r, col] >= 0:
            marks[rec_i[r, col]] = value
    if rec_i[r, OP] == function:
        for s in slot_view(_INDEX, slot_i, shapes, rec_i[r, C]):
            if s >= 0:
                marks[s] = value


@jit
def unneeded(slots, n_rec, n_slots, rec_i, slot_i, shapes, refs, function):
    """Which of `slots` nothing needs any more (a bool each): made by a
    record, held by no Python object (refs 0) and named by no record that a
    backward may still sweep (not FREED). What a freed record read is read
    no more, so after backward the tape can let go of those arrays, as
    PyTorch frees saved tensors in backward; reclaiming would take many
    steps longer to come round to them."""
    free = np.zeros(n_slots, np.bool_)
    first = n_rec
    for s in slots:
        if refs[s] == 0 and slot_i[s, REC] >= 0 and not slot_i[s, FLAGS] & FREE_SLOT:
            free[s] = True
            first = min(first, slot_i[s, REC])
    for r in range(first, n_rec):        # (a slot's readers come after its record)
        if rec_i[r, STATE] & FREED:
            continue
        free[rec_i[r, OUT]] = False
        _mark_inputs(r, rec_i, slot_i, shapes, function, free, False)
    out = np.empty(len(slots), np.bool_)
    for i in range(len(slots)):
        out[i] = free[slots[i]]
    return out


@jit
def compact(live_rec, n_rec, rec_i, rec_f, rec_k, live_slots, slot_i):
    """Move the live records down in order, zero the rows past them, and
    give the records of the live slots their new indices. Returns the
    number of records kept."""
    new_index = np.full(n_rec, -1, np.int64)
    n = 0
    for r in range(n_rec):
        if live_rec[r]:
            new_index[r] = n
            if n != r:
                rec_i[n] = rec_i[r]
                rec_f[n] = rec_f[r]
                rec_k[n] = rec_k[r]
            n += 1
    rec_i[n:n_rec] = 0
    rec_f[n:n_rec] = 0
    rec_k[n:n_rec] = 0
    for s in live_slots:
        if slot_i[s, REC] >= 0:
            slot_i[s, REC] = new_index[slot_i[s, REC]]
    return n


@jit
def free_dead(live_slot, slot_i):
    """Mark FREE_SLOT the slots that are neither live nor free already.
    Returns them, highest first (the free list hands out its last entry,
    so the lowest ones go first), and those of them that hold an array (a
    value settled in its row has none)."""
    dead = np.empty(len(live_slot), np.int64)
    held = np.empty(len(live_slot), np.int64)
    n = m = 0
    for s in range(len(live_slot) - 1, -1, -1):
        if not live_slot[s] and not slot_i[s, FLAGS] & FREE_SLOT:
            slot_i[s, FLAGS] |= FREE_SLOT
            dead[n] = s
            n += 1
            if not slot_i[s, FLAGS] & IN_ROW:
                held[m] = s
                m += 1
    return dead[:n], held[:m]
