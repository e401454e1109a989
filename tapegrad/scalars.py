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
"""
import array

from .autograd import anomaly_mode
from .autograd.grad_mode import _local as _grad_mode
from . import capture, dtypes
from .defer import Deferred
from .eager import PYTHON
from .tape import current
from .tensor import Tensor, slot_on

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
