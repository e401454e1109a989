"""Which records and slots the tape can reclaim (see tapegrad/tape.py)."""
import numpy as np

from .jit import jit
from .layout import A, B, C, FREED, OP, OUT, STATE
from .memory import slot_view

_INDEX = np.zeros(0, np.int64)

# Rewritten by generate.py: a changed digest invalidates this file's cache
# when code it inlines from other kernel files changes.
KERNELS_DIGEST = "b2eec42ae15d6422"


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
        for col in (A, B, C):
            if rec_i[r, col] >= 0:
                live_slot[rec_i[r, col]] = True
        if rec_i[r, OP] == function:
            for s in slot_view(_INDEX, slot_i, shapes, rec_i[r, C]):
                if s >= 0:
                    live_slot[s] = True
    return live_rec, live_slot
