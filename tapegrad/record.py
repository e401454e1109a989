"""Running an op forward and appending its record: the per-op hot path."""
import numpy as np

from . import dtypes
from .autograd.grad_mode import is_grad_enabled
from .kernels import layout as L
from .optable import CODE, OPS
from .tape import current
from .tensor import Tensor, slot_on

TO_COPY = CODE["to_copy"]


def wrap(data, requires_grad=False):
    t = object.__new__(Tensor)
    t._data = data
    t._rg = requires_grad
    t._slot = -1
    t._tape = None
    t._grad = None
    return t


def apply(code, inputs, k0=0.0, k1=0.0, ki=0, dt=None):
    """Run op `code` forward on tensors of one dtype `dt` and record it when
    an input requires grad. k0 goes to the NumPy forward as given (a Python
    int keeps int math int) and to the record as a float."""
    data = OPS[code].forward(*[x._data for x in inputs], k0, k1, ki)
    dt = dt or inputs[0].dtype
    if type(data) is not np.ndarray or data.dtype != dt.np:
        data = np.asarray(data, dt.np)
    if not any(x._rg for x in inputs) or not is_grad_enabled():
        return wrap(data)
    if not data.flags.c_contiguous:
        data = np.ascontiguousarray(data)
    return _recorded(code, inputs, data, dt, float(k0), float(k1), ki)


def _recorded(code, inputs, data, dt, k0, k1, ki):
    tape = current()
    slots = [slot_on(x, tape) for x in inputs] + [-1] * (3 - len(inputs))
    out = wrap(data, True)
    out._slot = tape.record(code, slots[0], slots[1], slots[2], data, dt.code | L.RG, k0, k1, ki)
    out._tape = tape
    return out


def cast(x, dt):
    """x as dtype dt; differentiable between float dtypes (ToCopyBackward0)."""
    if x.dtype is dt:
        return x
    data = x._data.astype(dt.np)
    if x._rg and dt.is_floating_point and is_grad_enabled():
        return _recorded(TO_COPY, [x], data, dt, 0.0, 0.0, 0)
    return wrap(data)


def float_dtype(*operands):
    """The promoted dtype, made floating (int / int gives float, as torch)."""
    dt = dtypes.result_type(*operands)
    return dt if dt.is_floating_point else dtypes.get_default_dtype()
