"""0-d float math without NumPy: the hot path of a graph of scalars.

An elementwise op on 0-d float tensors of one dtype (and Python numbers),
recorded for backward, computes its value as a Python float through its
rule in eager.PYTHON (the kernels' arithmetic, rounded once to the dtype,
so the same bits) and writes it straight into its slot's row, as a
settled value (tape.py), instead of making a NumPy array. The output is
a Scalar: its value is also kept in the Python object, for the next op,
and its _data is made from the row the first time something reads it
(it then becomes a plain Tensor).

Everything else goes the general way (record.apply): another dtype or
shape, grad mode off, anomaly mode, a step recorded for replay, a value
Python cannot compute (1/0, exp(1000)), a tape about to settle or reclaim.

Where the C extension is built (tapegrad/_record.c, setup.py), `record`
is its copy of the function below, and Tensor's binary dunders, unary
methods and __del__ reach it without Python in between (binary, unary,
Tensor.__del__): about a fifth of the Python path's time per op. This
file's `python_record` stays the reference, and what the C path calls
where it does less. TAPEGRAD_PURE_PYTHON=1 in the environment keeps the
Python path.
"""
import array
import contextlib
import os

from .autograd import anomaly_mode, engine, grad_mode
from .autograd.grad_mode import _local as _grad_mode
from . import capture, dtypes, eager, record as _general, tape as _tape
from .optim import sgd
from .defer import Deferred
from .eager import PYTHON
from .kernels import layout as L
from .kernels import registry
from .tape import SETTLE_EVERY, current
from .tensor import Tensor, slot_on

try:
    from . import _record as _c
except ImportError:                   # installed without a C compiler: the Python path
    _c = None

_ROUND = array.array("f", [0.0])      # assigning rounds to float32 as a kernel's store does
_CODE = {dtypes.float32.np: 0, dtypes.float64.np: 1}


def data(x):
    """The _data of Scalar x, made from its slot's row when first read
    (Tensor.__getattr__): from then on x is an ordinary tensor."""
    x._data = x._tape.unsettle(x._slot)
    x._v = None
    return x._data


def _operand(x, tape):
    """(value, slot, version, dtype code) of 0-d float tensor x on `tape`,
    else None."""
    if x._v is not None:
        return (x._v, x._slot, 0, x._dt) if x._tape is tape else None
    if type(x) is Deferred:
        return None
    a = x._data
    code = _CODE.get(a.dtype)
    if code is None or a.ndim:
        return None
    s = x._slot if x._tape is tape and x._slot >= 0 else slot_on(x, tape)
    return a.item(), s, 0 if x._vc is None else int(x._vc[0]), code


def record(code, x, y, k0=0.0):
    """Op `code` on 0-d float tensor x and tensor y (or None, with k0 the
    number of a scalar form): a Scalar, or None where it must go the general
    way. Nothing is changed before it knows it can finish."""
    rule = PYTHON[code]
    if rule is None or not _grad_mode.enabled or anomaly_mode.enabled or capture.RECORDING[0]:
        return None
    if not isinstance(x, Tensor) or y is not None and not isinstance(y, Tensor) \
            or not (x._rg or y is not None and y._rg):
        return None
    tape = current()
    a = None if tape.sweeping else _operand(x, tape)
    if a is None:
        return None
    b = (0.0, -1, 0, a[3]) if y is None else _operand(y, tape)
    if b is None or b[3] != a[3]:
        return None
    try:
        v = rule(a[0], b[0], 0.0, k0, 0.0)
    except (ArithmeticError, ValueError):
        return None
    if type(v) is not float:          # (a complex power)
        return None
    if a[3] == 0:
        _ROUND[0] = v
        v = _ROUND[0]
    s = tape.record_scalar(code, a[1], b[1], k0, v, a[3], a[2], b[2])
    if s is None:
        return None
    out = object.__new__(Tensor)
    out._v, out._dt, out._slot, out._tape, out._rg = v, a[3], s, tape, True
    out._grad = out._vc = out._hooks = None
    return out


python_record = record
IN_C = _c is not None and os.environ.get("TAPEGRAD_PURE_PYTHON") != "1"

if IN_C:
    _c.setup(Tensor, anomaly_mode, capture.RECORDING, python_record, registry.scalar_rule,
             bytes([rule is not None for rule in PYTHON]), SETTLE_EVERY, L.RG | L.IN_ROW, _tape.LARGE)
    # its copies of this thread's grad mode and tape (one dict lookup each)
    grad_mode.mirrors.append(_c.set_grad_enabled)
    _tape.mirrors.append(_c.set_tape)
    _c.set_tape(_tape._local.tape)
    record = _c.record
    _general.record_array = _c.record_array      # arrays' records too (record._recorded)
    _c.vjp_tables(bytes([(f is not None) | 2 * p for f, p in zip(eager.NUMPY_VJP, eager.PARALLEL_VJP)]),
                  vars(eager), L.NUMPY_VJP, L.PARALLEL)      # (eager.vjp_state's, in C)
    eager.call_forward = _c.call_forward          # and the call of a forward kernel
    engine.collect = _c.collect                   # and backward's new .grad of leaves
    sgd.plain_loop = _c.sgd                       # and plain SGD's loop


@contextlib.contextmanager
def taking(path):
    """Inside, 0-d float ops take `path`: "c" (where built), "python" (this
    file's record) or "general" (neither, record.apply): to compare them."""
    global record
    if path == "c" and not IN_C:
        raise RuntimeError("tapegrad's C extension is not built here (or TAPEGRAD_PURE_PYTHON=1)")
    kept = record
    record = {"c": _c and _c.record, "python": python_record,
              "general": lambda code, x, y, k0=0.0: None}[path]
    was = _c.set_off(path != "c") if IN_C else None
    try:
        yield
    finally:
        record = kept
        if IN_C:
            _c.set_off(was)


def binary(tensor_code, number_code, k0, python):
    """Tensor's dunder x (op) y that is `python`, taking a 0-d float x with
    a tensor y (op tensor_code, record k0; -1: none) or a Python number y
    (op number_code) to record() first, in C; `python` where not built."""
    return _c.Op(_c.BINARY, tensor_code, number_code, k0, python) if IN_C else python


def unary(code, python):
    """Tensor's method op(x) that is `python`, likewise."""
    return _c.Op(_c.UNARY, -1, code, 0.0, python) if IN_C else python


if IN_C:          # (the C path's outputs die by the thousand: their release in C too)
    Tensor.__del__ = _c.Op(_c.DEL, -1, -1, 0.0, Tensor.__dict__["__del__"])
