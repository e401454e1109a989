"""Large arrays whose memory stays mapped between training steps.

A training loop makes the same large arrays every step. Freed, an array of
some MiB may go back to the system (malloc unmaps or trims it), and the
next step's array is fresh memory: the kernel zeroes its pages on first
touch and, in a virtual machine, the host maps them again. At 1e7 elements
that costs more than the arithmetic (torch pays it every step). So arrays from FROM bytes
on come from buffers the pool keeps: a buffer is free again when nothing
refers to it (every array made from it is a view that holds it, so its
reference count says so). A buffer no step has taken for KEEP takes is let
go, so memory follows the working set.
"""
import math
import sys
import threading

import numpy as np

FROM = 1 << 20         # bytes; malloc keeps and reuses smaller blocks well itself
KEEP = 64              # takes of the pool a buffer may sit unused

_buffers = {}          # nbytes -> [[buffer, the take that last had it], ...]
_takes = [0]
_lock = threading.Lock()


def empty(shape, dtype):
    """np.empty(shape, dtype), from the pool when it is large."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < FROM:
        return np.empty(shape, dtype)
    with _lock:
        _takes[0] += 1
        entries = _buffers.setdefault(nbytes, [])
        # 2 references when free: its entry's and getrefcount's argument
        entry = next((e for e in entries if sys.getrefcount(e[0]) == 2), None)
        if entry is None:
            entry = [np.empty(nbytes, np.uint8), 0]
            entries.append(entry)
        entry[1] = _takes[0]
        _let_go()
        return entry[0].view(dtype).reshape(shape)


def copy(a, dtype):
    """A copy of a as dtype, from the pool when it is large."""
    out = empty(a.shape, dtype)
    np.copyto(out, a, casting="unsafe")
    return out


def _let_go():
    for nbytes, entries in list(_buffers.items()):
        entries[:] = [e for e in entries if _takes[0] - e[1] <= KEEP or sys.getrefcount(e[0]) > 2]
        if not entries:
            del _buffers[nbytes]


def held():
    """Bytes the pool holds, in use or not (for tests and benchmarks)."""
    return sum(nbytes * len(entries) for nbytes, entries in _buffers.items())
