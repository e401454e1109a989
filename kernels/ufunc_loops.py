"""NumPy's own inner loops, called from compiled code.

A NumPy ufunc keeps a table of inner loops, one per operand types: C
functions that NumPy calls with the operands' pointers, the element count
and the strides. Numba has no vector math library here, so a sin inside a
Numba loop is a scalar C library call, several times slower than NumPy's
SIMD loop, and not bitwise the same. Called from compiled code instead,
NumPy's loop gives NumPy's bits at NumPy's speed without returning to
Python (and without taking the GIL), so a fused tile (tapegrad/fusion.py)
runs as one call.

The loop's addresses are read from the ufunc object (numpy/ufuncobject.h's
PyUFuncObject, public and stable across NumPy 2's ABI) and given to the
compiled code as arguments, since they differ between processes and Numba
caches compiled code on disk.
"""
import ctypes

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .jit import jit


class _UFuncObject(ctypes.Structure):
    """The head of numpy/ufuncobject.h's PyUFuncObject."""
    _fields_ = [("ob_refcnt", ctypes.c_ssize_t), ("ob_type", ctypes.c_void_p),
                ("nin", ctypes.c_int), ("nout", ctypes.c_int), ("nargs", ctypes.c_int),
                ("identity", ctypes.c_int),
                ("functions", ctypes.POINTER(ctypes.c_void_p)),
                ("data", ctypes.POINTER(ctypes.c_void_p)),
                ("ntypes", ctypes.c_int), ("reserved1", ctypes.c_int),
                ("name", ctypes.c_char_p), ("types", ctypes.POINTER(ctypes.c_char))]


def loop(ufunc, dtype):
    """(function, data) addresses of one-input ufunc `ufunc`'s inner loop
    from `dtype` to `dtype`, or None where it has none (or the object is
    not laid out as this module expects)."""
    u = _UFuncObject.from_address(id(ufunc))
    if (u.nin, u.nout, u.nargs) != (1, 1, 2) or u.name != ufunc.__name__.encode():
        return None
    num = np.dtype(dtype).num
    for i in range(u.ntypes):
        if (u.types[2 * i][0], u.types[2 * i + 1][0]) == (num, num):
            return u.functions[i], u.data[i] or 0
    return None


@intrinsic
def _call(typingctx, function, data, args, dims, steps):
    """NumPy's loop call: function(args, dims, steps, data)."""
    sig = types.void(types.intp, types.intp, types.CPointer(types.intp),
                     types.CPointer(types.intp), types.CPointer(types.intp))

    def codegen(context, builder, signature, arguments):
        function, data, args, dims, steps = arguments
        byte_ptr, intp_ptr = ir.IntType(8).as_pointer(), ir.IntType(64).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr.as_pointer(), intp_ptr, intp_ptr, byte_ptr])
        builder.call(builder.inttoptr(function, fnty.as_pointer()),
                     [builder.bitcast(args, byte_ptr.as_pointer()), builder.bitcast(dims, intp_ptr),
                      builder.bitcast(steps, intp_ptr), builder.inttoptr(data, byte_ptr)])
        return context.get_dummy_value()
    return sig, codegen


@jit
def unary(function, data, a, out, n):
    """out[:n] = the loop of a[:n] (contiguous arrays of the loop's dtype)."""
    args = np.empty(2, np.intp)
    args[0], args[1] = a.ctypes.data, out.ctypes.data
    dims = np.full(1, n, np.intp)
    steps = np.full(2, a.itemsize, np.intp)
    _call(function, data, args.ctypes, dims.ctypes, steps.ctypes)
