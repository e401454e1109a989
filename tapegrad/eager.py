"""Eager float math through the ops' compiled forward kernels.

An op with a compiled forward (its `fwd` in the op table) runs it on float
tensors here, through the same entry point the replay sweep calls
(kernels/registry.py compiles it on first use), so eager and replayed steps
agree to the bit. Matrix products and structural ops keep their own eager
forwards, which already run the same kernels or plain copies.

Transcendental functions on large arrays are the exception: NumPy's SIMD
loops are several times faster than a Numba loop over the C library's
scalar functions (Numba has no vector math library here), so from
NUMPY_FROM elements on eager runs the op's NumPy forward, and replay runs
that record through NumPy too (numpy_math decides both). Backward does the
same for the rules that call sin, cos or exp (NUMPY_VJP).

0-d values skip the call: the elementwise kernels compute in float64 and
round once on store, so Python, whose floats are IEEE doubles and whose
math functions are the C library's as the kernels' are, gives the same bits
(tests/test_eager.py checks every op). Anything Python would raise on (1/0,
exp(1000)) goes to the kernel.
"""
import ast
import math
import re

import numpy as np

from . import buffers
from .forward import KEEPDIM, _row, axes
from .kernels import layout as L
from .kernels import interpreter, registry
from .kernels import scalar
from .kernels.replay import forward as _forward_records
from .kernels.replay import call_forward     # (scalars.py puts _record.c's in its place where built)
from .optable import OPS

FENTRIES = registry.table(OPS, "fentry")     # forward entry points, 0 until compiled
_ROWS = {}
_NONE = np.zeros(0)


def _shape_row(shape):
    try:
        return _ROWS[shape]
    except KeyError:
        row = _ROWS[shape] = _row(shape)
        return row


def broadcast(arrays, ki):
    shape = arrays[0].shape
    for x in arrays[1:]:
        if x.shape != shape:
            return np.broadcast_shapes(*[x.shape for x in arrays])
    return shape


def reduced(arrays, ki):
    shape, dims = arrays[0].shape, axes(ki, arrays[0].ndim)
    if ki & KEEPDIM:
        return tuple(1 if d in dims else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in dims)


def same(arrays, ki):
    return arrays[0].shape


def nll(arrays, ki):
    return arrays[2].shape if ki else ()


_SHAPES = dict(softmax_fwd=same, log_softmax_fwd=same, cumsum_fwd=same, nll_loss_fwd=nll)


def _shape_rule(op):
    if not op.fwd or op.forward is None:
        return None
    if not op.fwd.startswith("kernel:"):
        return broadcast
    module, kernel = op.fwd[len("kernel:"):].split(".")
    return _SHAPES.get(kernel, reduced) if module == "forward_reduce" else None


def forward(code, dt, arrays, k0, k1, ki, shape_of):
    """Op `code`'s compiled forward for dtype code dt on arrays (floats of
    that dtype, index inputs int64) into a new array of shape
    shape_of(arrays, ki)."""
    shape = shape_of(arrays, ki)
    out = buffers.empty(shape, arrays[0].dtype)
    entry = _ENTRY[dt][code] or _compile(code, dt)
    if out.size >= PARALLEL_FROM and all(x.size == out.size for x in arrays):
        entry = _parallel(FENTRIES, code, dt, "fentry") or entry
    a = arrays[0]
    ra = _shape_row(a.shape)
    ry = _shape_row(shape)
    if len(arrays) == 1:
        call_forward(entry, out.reshape(-1), a.reshape(-1), _NONE, _NONE, k0, k1, ki, ry, ra, ra, ra)
        return out
    b = arrays[1]
    rb = _shape_row(b.shape)
    if len(arrays) == 2:
        call_forward(entry, out.reshape(-1), a.reshape(-1), b.reshape(-1), _NONE, k0, k1, ki,
                     ry, ra, rb, ra)
        return out
    c = arrays[2]
    call_forward(entry, out.reshape(-1), a.reshape(-1), b.reshape(-1), c.reshape(-1), k0, k1, ki,
                 ry, ra, rb, _shape_row(c.shape))
    return out


_ENTRY = ([0] * len(OPS), [0] * len(OPS))   # FENTRIES as lists, by dtype code: a fast lookup


def _compile(code, dt):
    registry.compile_missing(FENTRIES, OPS, [(code, dt)], "fentry")
    _ENTRY[dt][code] = int(FENTRIES[code, dt])
    return _ENTRY[dt][code]


# From this many elements, an elementwise op whose inputs all have its
# output's size runs its parallel kernel (registry.py), forward and VJP
# alike: each element's arithmetic is the same, so the bits are too. Below
# it, on this machine's two vCPUs, splitting gains nothing: it pays where
# one thread cannot keep memory busy (arrays past the caches).
PARALLEL_FROM = 1 << 21


def _parallel(table, code, dt, kind):
    """Op `code`'s parallel entry in `table` for dtype code dt (compiled on
    first use), or None where it has none."""
    if table[code, 2 + dt] == 0:
        registry.compile_missing(table, OPS, [(code, 2 + dt)], kind)
    entry = int(table[code, 2 + dt])
    return entry if entry > 1 else None


SHAPE_OF = [_shape_rule(op) for op in OPS]   # None: eager runs the op's own forward

NUMPY_FROM = 4096
_VECTOR_MATH = {"exp", "log", "sin", "cos", "tan", "tanh", "log1p", "expm1", "log2", "log10",
                "erf", "atan2", "gelu"}
VECTOR_MATH = [bool(op.fwd) and not op.fwd.startswith("kernel:") and op.forward is not None
               and ("**" in op.fwd or bool(_VECTOR_MATH & {n.id for n in ast.walk(ast.parse(op.fwd))
                                                          if isinstance(n, ast.Name)}))
               for op in OPS]


def numpy_math(code, largest):
    """Does op `code` run its NumPy forward when its largest input has
    `largest` elements? (The same answer eager and replay.)"""
    return VECTOR_MATH[code] and largest >= NUMPY_FROM


def _ufunc(code):
    """The NumPy ufunc of a vector math op whose compiled forward is one
    function of a (sin(a), exp(a), ...), else None."""
    m = VECTOR_MATH[code] and re.fullmatch(r"(\w+)\(a\)", OPS[code].fwd)
    f = m and getattr(np, m.group(1), None)
    return f if isinstance(f, np.ufunc) else None


UFUNC = [_ufunc(code) for code in range(len(OPS))]


def compile_forward(tape, records):
    """The forward entry points tape records `records` (an index) need, compiled now."""
    ops = tape.rec_i[records, L.OP]
    dts = np.minimum(tape.slot_i[tape.rec_i[records, L.OUT], L.FLAGS] & L.DTYPE_MASK, 1)
    missing = FENTRIES[ops, dts] == 0
    if missing.any():
        pairs = set(zip(ops[missing].tolist(), dts[missing].tolist()))
        registry.compile_missing(FENTRIES, OPS, sorted(pairs), "fentry")


def run_forward(tape, start, stop, scratch):
    """Run tape records start..stop-1 forward again, each writing its output
    slot in place through the kernel eager ran: the compiled sweep
    (kernels/replay.py), or NumPy for the records it marks NUMPY.
    scratch: kernels.sweep.scratch()."""
    r = start
    while r >= 0:
        r = _forward_records(r, stop, tape.rec_i, tape.rec_f, tape.rec_k, tape.slot_i,
                             tape.shapes, FENTRIES, scratch)
        if r >= 0:
            code, a, b, c, o = tape.rec_i[r, :5].tolist()
            inputs = [tape.value(s) for s in (a, b, c) if s >= 0]
            k0, k1 = tape.rec_f[r].tolist()
            numpy_forward(code, inputs, k0, k1, int(tape.rec_k[r]), out=tape.arrays[o])
            r += 1


def numpy_forward(code, arrays, k0, k1, ki, out=None):
    """Op `code`'s NumPy forward, written into `out` (or a new array from
    the pool) where it is one ufunc: the op table's forward otherwise."""
    f = UFUNC[code]
    if f is None:
        data = OPS[code].forward(*arrays, k0, k1, ki)
        if out is None:
            return data
        np.copyto(out, data)
        return out
    return _into(f, arrays[0], out)


def _into(f, a, out=None):
    """ufunc f of a into out, or into a new array from the pool."""
    if out is None:
        out = buffers.empty(a.shape, a.dtype)
    with np.errstate(all="ignore"):          # inf and NaN come silently, as in torch
        return f(a, out=out)


def _numpy_vjp(op):
    """A unary op's derivative rule over whole arrays where it is arithmetic
    and NumPy's vector math only (sin, cos, erf), else None. Its steps
    write into `out` where given (the gradient, when nothing is in it yet)."""
    if op.arity != 1 or not isinstance(op.vjp, tuple):
        return None
    tree = ast.parse(op.vjp[0])
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    operands = {"g", "a", "y", "k0", "k1"}
    if not names & _NUMPY_RULES or names - _NUMPY_RULES - operands \
            or any(isinstance(n, (ast.IfExp, ast.Compare)) for n in ast.walk(tree)):
        return None
    rule = tree.body[0].value
    return lambda g, a, y, k0, k1, out=None: _evaluate(rule, dict(g=g, a=a, y=y, k0=k0, k1=k1), [],
                                                       [] if out is None else [out])


_NUMPY_RULES = {"cos", "sin", "exp"}
_UFUNCS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
           ast.Pow: np.power, ast.USub: np.negative}


def _evaluate(node, operands, temporaries, spare):
    """A rule's value over whole arrays, as NumPy evaluates the expression,
    but each step into an array from the pool (a step's own operand where
    it is one of these): a new temporary of 40 MB is fresh pages each call.
    The first array taken is `spare`'s, where there is one: as steps write
    into their first temporary operand, the value ends there."""
    if isinstance(node, ast.Name):
        return operands[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Call):
        f, args = getattr(np, node.func.id), node.args
    elif isinstance(node, ast.UnaryOp):
        f, args = _UFUNCS[type(node.op)], [node.operand]
    else:
        f, args = _UFUNCS[type(node.op)], [node.left, node.right]
    args = [_evaluate(x, operands, temporaries, spare) for x in args]
    out = next((x for x in args if any(x is t for t in temporaries)), None)
    if out is None:
        like = next(x for x in args if isinstance(x, np.ndarray))
        out = spare.pop() if spare else buffers.empty(like.shape, like.dtype)
        temporaries.append(out)
    with np.errstate(all="ignore"):          # inf and NaN come silently, as in torch
        return f(*args, out=out)


NUMPY_VJP = [_numpy_vjp(op) for op in OPS]
PARALLEL_VJP = [op.name in interpreter.PARALLEL for op in OPS]     # (elementwise ops)


def vjp_state(code, size, inputs):
    """The record's STATE bits: NUMPY_VJP where backward runs op `code`'s
    rule through NumPy (from NUMPY_FROM elements, as numpy_math), else
    PARALLEL where it can run its parallel VJP kernel (PARALLEL_FROM)."""
    if size < NUMPY_FROM:
        return 0
    if NUMPY_VJP[code] is not None:
        return L.NUMPY_VJP
    if size >= PARALLEL_FROM and PARALLEL_VJP[code] and all(x._data.size == size for x in inputs):
        return L.PARALLEL
    return 0


FLOAT32_MAX = float(np.finfo(np.float32).max)
_PYTHON_MATH = dict(
    {name: getattr(math, name) for name in ("cos", "exp", "expm1", "log", "log10", "log1p", "log2",
                                             "sin", "sqrt", "tan", "tanh", "erf", "atan2")},
    floor=lambda a: float(np.floor(a)), ceil=lambda a: float(np.ceil(a)),
    rint=lambda a: float(np.rint(a)),
    **{name: getattr(scalar, name).py_func for name in ("clamp", "maximum", "minimum", "gelu")})


def _python(op):
    if not op.fwd or op.fwd.startswith("kernel:") or op.forward is None:
        return None
    return eval(f"lambda a, b, c, k0, k1: {op.fwd}", dict(_PYTHON_MATH))


PYTHON = [_python(op) for op in OPS]     # the elementwise rules over Python floats


def scalar(code, arrays, k0, k1):
    """Op `code` on 0-d float arrays through PYTHON, or None where the
    kernel must run (an array, Python raised, or gave a complex number)."""
    for x in arrays:
        if x.ndim:
            return None
    a = arrays[0].item()
    b = arrays[1].item() if len(arrays) > 1 else 0.0
    c = arrays[2].item() if len(arrays) > 2 else 0.0
    try:
        v = PYTHON[code](a, b, c, k0, k1)
    except (ArithmeticError, ValueError):
        return None
    if type(v) is not float or (abs(v) > FLOAT32_MAX and abs(v) != math.inf
                                and arrays[0].dtype.itemsize == 4):
        return None           # (a float32 overflow: the kernel gives inf without NumPy's warning)
    return np.array(v, arrays[0].dtype)
