"""Compiled entry points, one per op and float dtype, made on first use:
VJPs for the backward sweep, forwards for replay.

The sweep calls a record's entry through its address (memory.call_entry),
so it does not contain the kernels: its own compile stays small however
many ops the table has, and a program compiles only the kernels of the ops
it differentiates. The entries are Numba cfuncs cached on disk like every
other kernel.

Columns 2 and 3 of a table hold an elementwise op's parallel entries
(kernels/parallel.py's pentry_NAME, pfentry_NAME: the same kernel run on
blocks of elements spread over the threads), for records with the
PARALLEL bit; 1 there means "none: use the serial one" (ops without one,
a machine where parallel kernels cannot run safely, a forked child).
"""
import os

import numba
import numpy as np
from numba import cfunc, njit, prange, types

from . import interpreter

_SIGNATURES = {code: types.void(types.CPointer(dtype), types.CPointer(types.int64),
                                types.CPointer(types.float64))
               for code, dtype in ((0, types.float32), (1, types.float64))}
_compiled = {}


_tables = []


def table(ops, kind="entry"):
    """An int64[len(ops), 4] table of entry addresses (kind "entry": VJPs,
    "fentry": forwards) by [op, dtype code] and, parallel, [op, 2 + dtype
    code]; 0 = not compiled yet; ops the sweep runs itself get 1 so they
    never count as missing."""
    t = np.zeros((len(ops), 4), np.int64)
    for code, op in enumerate(ops):
        if not hasattr(interpreter, f"{kind}_{op.name}"):
            t[code, :2] = 1
        if op.name not in (interpreter.PARALLEL if kind == "entry" else interpreter.PARALLEL_FWD):
            t[code, 2:] = 1
    _tables.append(t)
    return t


def writes(ops):
    """uint8[len(ops)]: where the op's VJP entry takes FRESH bits and writes
    those gradients (kernels/sweep.py), 1 for the elementwise kernels
    generate.py writes (the sweep runs those inline on one element), 2 for
    the hand-written ones that take them (interpreter.TAKE_FRESH)."""
    hand = getattr(interpreter, "TAKE_FRESH", ())     # (absent while generate.py first writes it)
    return np.array([1 if isinstance(op.vjp, tuple) and len(op.vjp) == op.arity
                     else 2 if op.name in hand else 0 for op in ops], np.uint8)


def compile_missing(entries, ops, pairs, kind="entry"):
    """Compile the entries of the (op code, column) pairs not yet in `entries`."""
    for code, col in pairs:
        if entries[code, col] == 0:
            if col >= 2 and not parallel_ok():
                entries[code, col] = 1
                continue
            key = (kind, code, col)
            if key not in _compiled:
                if col >= 2:
                    from . import parallel       # only a large array imports it
                    fn = getattr(parallel, f"p{kind}_{ops[code].name}")
                else:
                    fn = getattr(interpreter, f"{kind}_{ops[code].name}")
                _compiled[key] = cfunc(_SIGNATURES[col % 2], cache=True, error_model="numpy")(fn)
            entries[code, col] = _compiled[key].address


def scalar_rule():
    """The address of interpreter.scalar_rule compiled as a cfunc of (op, a,
    b, c, k0, k1), float64: the rules tapegrad/_record.c calls, compiled on
    its first 0-d op."""
    if "scalar_rule" not in _compiled:
        signature = types.float64(types.int64, *[types.float64] * 5)
        _compiled["scalar_rule"] = cfunc(signature, cache=True, error_model="numpy")(
            interpreter.scalar_rule)
    return _compiled["scalar_rule"].address


def plain_sgd():
    """The addresses of optim.plain_sgd compiled as a cfunc for float32 and
    for float64, on the first plain SGD step (tapegrad/_record.c)."""
    if "plain_sgd" not in _compiled:
        from . import optim
        _compiled["plain_sgd"] = [
            cfunc(types.void(types.CPointer(t), types.CPointer(t), types.int64, types.CPointer(t)),
                  cache=True, error_model="numpy")(optim.plain_sgd) for t in (types.float32, types.float64)]
        _compiled["plain_sgd addresses"] = tuple(f.address for f in _compiled["plain_sgd"])
    return _compiled["plain_sgd addresses"]      # (asked for each step)


@njit(parallel=True, cache=True)
def _probe(x):
    for i in prange(x.size):
        x[i] += 1


_parallel = []


def parallel_ok():
    """Can parallel kernels run here, also from several threads at once?
    Numba's workqueue layer aborts when two threads launch parallel work,
    so tapegrad asks for a thread-safe one (TBB or OpenMP) unless the user
    chose a layer, and runs serial kernels where none loads."""
    if not _parallel:
        if numba.config.THREADING_LAYER == "default":
            numba.config.THREADING_LAYER = "threadsafe"
        try:
            _probe(np.zeros(2))
            _parallel.append(numba.threading_layer() in ("tbb", "omp"))
        except (ValueError, RuntimeError, ImportError):
            numba.config.THREADING_LAYER = "default"
            _parallel.append(False)
    return _parallel[0]


def _serial_in_child():
    """A forked child runs serial kernels: OpenMP's threads do not survive fork."""
    _parallel[:] = [False]
    for t in _tables:
        t[:, 2:] = 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_serial_in_child)
