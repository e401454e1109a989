"""Large arrays whose memory stays mapped between training steps.

A training loop makes the same large arrays every step. Freed, an array of
some MiB may go back to the system (malloc unmaps or trims it), and the
next step's array is fresh memory: the kernel zeroes its pages on first
touch and, in a virtual machine, the host maps them again. At 1e7 elements
that costs more than the arithmetic (torch pays it every step). So arrays
from FROM bytes on come from buffers the pool keeps: a buffer is free
again when nothing refers to it (every array made from it is a view that
holds it, so its reference count says so). A free buffer nothing has
taken for KEEP seconds is let go, at the next take or the tape's next
reclaiming pass, so memory follows the working set, and a program done
with large arrays gets it back.
"""
import math
import sys
import threading
import time

import numpy as np

FROM = 1 << 20         # bytes; malloc keeps and reuses smaller blocks well itself
KEEP = 10.0            # seconds a free buffer may sit unused

_buffers = {}          # nbytes -> [[buffer, when it was last taken], ...]
_lock = threading.Lock()


def empty(shape, dtype):
    """np.empty(shape, dtype), from the pool when it is large."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < FROM:
        return np.empty(shape, dtype)
    with _lock:
        now = time.monotonic()
        entries = _buffers.setdefault(nbytes, [])
        # 2 references when free: its entry's and getrefcount's argument
        entry = next((e for e in entries if sys.getrefcount(e[0]) == 2), None)
        if entry is None:
            entry = [np.empty(nbytes, np.uint8), now]
            entries.append(entry)
        entry[1] = now
        _let_go(now)
        return entry[0].view(dtype).reshape(shape)


def copy(a, dtype):
    """A copy of a as dtype, from the pool when it is large."""
    out = empty(a.shape, dtype)
    np.copyto(out, a, casting="unsafe")
    return out


def let_go():
    """Let go of the buffers free for more than KEEP seconds (the tape calls
    it when it reclaims)."""
    with _lock:
        _let_go(time.monotonic())


def _let_go(now):
    for nbytes, entries in list(_buffers.items()):
        entries[:] = [e for e in entries if now - e[1] <= KEEP or sys.getrefcount(e[0]) > 2]
        if not entries:
            del _buffers[nbytes]


def held():
    """Bytes the pool holds, in use or not (for tests and benchmarks)."""
    return sum(nbytes * len(entries) for nbytes, entries in _buffers.items())
