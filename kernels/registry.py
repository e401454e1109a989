"""Compiled entry points, one per op and float dtype, made on first use:
VJPs for the backward sweep, forwards for replay.

The sweep calls a record's entry through its address (memory.call_entry),
so it does not contain the kernels: its own compile stays small however
many ops the table has, and a program compiles only the kernels of the ops
it differentiates. The entries are Numba cfuncs cached on disk like every
other kernel.
"""
import numpy as np
from numba import cfunc, types

from . import interpreter

_SIGNATURES = {code: types.void(types.CPointer(dtype), types.CPointer(types.int64),
                                types.CPointer(types.float64))
               for code, dtype in ((0, types.float32), (1, types.float64))}
_compiled = {}


def table(ops, kind="entry"):
    """An int64[len(ops), 2] table of entry addresses (kind "entry": VJPs,
    "fentry": forwards), 0 = not compiled yet; ops the sweep runs itself
    get 1 so they never count as missing."""
    t = np.zeros((len(ops), 2), np.int64)
    for code, op in enumerate(ops):
        if not hasattr(interpreter, f"{kind}_{op.name}"):
            t[code] = 1
    return t


def writes(ops):
    """uint8[len(ops)]: 1 where the op's VJP entry takes FRESH bits and
    writes those gradients (the elementwise kernels generate.py writes)."""
    return np.array([isinstance(op.vjp, tuple) and len(op.vjp) == op.arity for op in ops], np.uint8)


def compile_missing(entries, ops, pairs, kind="entry"):
    """Compile the entries of the (op code, dtype code) pairs not yet in `entries`."""
    for code, dt in pairs:
        if entries[code, dt] == 0:
            key = (kind, code, dt)
            if key not in _compiled:
                fn = getattr(interpreter, f"{kind}_{ops[code].name}")
                _compiled[key] = cfunc(_SIGNATURES[dt], cache=True, error_model="numpy")(fn)
            entries[code, dt] = _compiled[key].address
