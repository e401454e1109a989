"""NumPy's own inner loops, called from compiled code.

A NumPy ufunc keeps a table of inner loops, one per operand types: C
functions that NumPy calls with the operands' pointers, the element count
and the strides. Numba has no vector math library here, so an exp inside a
Numba loop is a scalar C library call, several times slower than NumPy's
SIMD loop, and not bitwise the same. Called from compiled code instead,
NumPy's loop gives NumPy's bits at NumPy's speed without returning to
Python (and without taking the GIL): `call("exp", a, out, n)`.

Each loop's address is read from the ufunc object (numpy/ufuncobject.h's
PyUFuncObject, public and stable across NumPy 2's ABI) at import and
registered with LLVM under a name of its own, which compiled code calls:
so code cached on disk finds this process's loop when it is loaded. Where
a loop is not found (a NumPy laid out otherwise), a compiled scalar loop
stands in under that name, correct but neither fast nor NumPy's bits;
native() says which.
"""
import ctypes

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import carray, cfunc, types
from numba.core import cgutils
from numba.extending import intrinsic

# the loops registered, for float32 and float64: the one-input vector math
# eager runs through NumPy (eager.UFUNC), and what kernels call
NAMES = ("sin", "cos", "tan", "exp", "expm1", "log", "log1p", "log2", "log10", "tanh")
_LOOP = types.void(types.CPointer(types.voidptr), types.CPointer(types.intp),
                   types.CPointer(types.intp), types.voidptr)


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
    """The address of one-input ufunc `ufunc`'s inner loop from `dtype` to
    `dtype`, or None where it has none that needs no data (or the object
    is not laid out as this module expects)."""
    u = _UFuncObject.from_address(id(ufunc))
    if (u.nin, u.nout, u.nargs) != (1, 1, 2) or u.name != ufunc.__name__.encode():
        return None
    num = np.dtype(dtype).num
    for i in range(u.ntypes):
        if (u.types[2 * i][0], u.types[2 * i + 1][0]) == (num, num):
            return None if u.data[i] else u.functions[i]
    return None


def _symbol(name, dtype):
    return f"tapegrad_numpy_{name}_{np.dtype(dtype).name}"


def _stand_in(name, dtype):
    """A compiled scalar loop of NumPy's loop signature (contiguous operands)."""
    f, dt = getattr(np, name), np.dtype(dtype)

    @cfunc(_LOOP, nopython=True)
    def scalar_loop(args, dims, steps, data):
        n = dims[0]
        a, out = carray(args[0], n, dt), carray(args[1], n, dt)
        for i in range(n):
            out[i] = f(a[i])
    return scalar_loop


_NATIVE = set()
_KEPT = []              # the stand-ins, alive as long as their code may be called
for _name in NAMES:
    for _dt in (np.float32, np.float64):
        _address = loop(getattr(np, _name), _dt)
        if _address:
            _NATIVE.add(_symbol(_name, _dt))
        else:
            _KEPT.append(_stand_in(_name, _dt))
            _address = _KEPT[-1].address
        llvm.add_symbol(_symbol(_name, _dt), _address)


def native(ufunc, dtype):
    """Does call() run NumPy's own loop of `ufunc` for `dtype`?"""
    return _symbol(ufunc.__name__, dtype) in _NATIVE


@intrinsic
def call(typingctx, name, a, out, n):
    """NumPy's loop `name` (a string literal of NAMES) over n elements of
    contiguous 1-D arrays a -> out of one float dtype."""
    if not isinstance(name, types.StringLiteral) or name.literal_value not in NAMES or not all(
            isinstance(x, types.Array) and x.ndim == 1 and x.layout == "C"
            and x.dtype in (types.float32, types.float64) and x.dtype == a.dtype for x in (a, out)):
        return None
    symbol = _symbol(name.literal_value, a.dtype.name)

    def codegen(context, builder, signature, arguments):
        _, a_value, out_value, count = arguments
        data = [context.make_array(t)(context, builder, v).data
                for t, v in ((signature.args[1], a_value), (signature.args[2], out_value))]
        byte_ptr = ir.IntType(8).as_pointer()
        intp = context.get_value_type(types.intp)
        args = cgutils.alloca_once(builder, byte_ptr, size=2)
        for i, d in enumerate(data):
            builder.store(builder.bitcast(d, byte_ptr), builder.gep(args, [ir.Constant(intp, i)]))
        dims = cgutils.alloca_once_value(builder, count)
        steps = cgutils.alloca_once(builder, intp, size=2)
        itemsize = ir.Constant(intp, context.get_abi_sizeof(context.get_data_type(a.dtype)))
        for i in range(2):
            builder.store(itemsize, builder.gep(steps, [ir.Constant(intp, i)]))
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr.as_pointer(), intp.as_pointer(),
                                               intp.as_pointer(), byte_ptr])
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
        builder.call(fn, [args, dims, steps, ir.Constant(byte_ptr, None)])
        return context.get_dummy_value()
    return types.void(name, a, out, types.intp), codegen
