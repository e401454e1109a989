"""Running an op forward and appending its record: the per-op hot path."""
import traceback

import numpy as np

from . import capture, defer, dtypes, eager
from .defer import DEFERS, Deferred
from .autograd import anomaly_mode
from .autograd.grad_mode import is_grad_enabled
from .kernels import layout as L
from .optable import CODE, OPS
from .tape import current
from .tensor import Tensor, counter, slot_on

TO_COPY = CODE["to_copy"]
INT64 = dtypes.int64.code
# _recorded's common case in C (tapegrad/_record.c), where scalars.py finds
# the extension built: an op requiring grad whose inputs have their slots
record_array = None


def wrap(data, requires_grad=False):
    """A tensor of data no record produced: inside a step being recorded for
    replay, the result of an op replay cannot re-run."""
    if capture.RECORDING[0]:
        capture.refuse("it computes a tensor with an op replay cannot re-run (comparisons, "
                       "argmax, integer math, random numbers, casts to or from integers)")
    return new(data, requires_grad)


def new(data, requires_grad=False):
    """A tensor of data: a constant, an alias, or an op's output."""
    t = object.__new__(Tensor)
    t._data = data
    t._rg = requires_grad
    t._slot = -1
    t._tape = None
    t._grad = None
    t._vc = None
    t._hooks = None
    t._v = None
    return t


def apply(code, inputs, k0=0.0, k1=0.0, ki=0, dt=None):
    """Run op `code` forward on tensors of one dtype `dt` and record it when
    an input requires grad. Float math runs the op's compiled forward where
    it has one (replay runs the same kernel), the rest its NumPy forward. k0
    goes to the NumPy forward as given (a Python int keeps int math int) and
    to the record as a float. Large elementwise work is deferred (defer.py)."""
    if type(inputs[0]) is Deferred or DEFERS[code] and inputs[0]._data.size >= defer.FROM:
        out = defer.record(code, inputs, k0, k1, ki, dt)
        if out is not None:
            return out
    dt = dt or inputs[0].dtype
    arrays = [x._data for x in inputs]
    shape_of = eager.SHAPE_OF[code] if dt.is_floating_point else None
    if shape_of is None:
        data = OPS[code].forward(*arrays, k0, k1, ki)
    elif eager.VECTOR_MATH[code] and eager.numpy_math(
            code, arrays[0].size if len(arrays) == 1 else max([a.size for a in arrays])):
        data = eager.numpy_forward(code, arrays, k0, k1, ki)
    else:       # (callers cast float inputs to dt; index inputs are int64)
        k0, k1 = float(k0), float(k1)
        data = eager.scalar(code, arrays, k0, k1) if eager.PYTHON[code] else None
        if data is None:
            data = eager.forward(code, dt.code, arrays, k0, k1, ki, shape_of)
    if type(data) is not np.ndarray or data.dtype is not dt.np and data.dtype != dt.np:
        data = np.asarray(data, dt.np)
    if not (inputs[0]._rg or len(inputs) > 1 and any(x._rg for x in inputs[1:])) \
            or not is_grad_enabled():
        if capture.RECORDING[0] and capture.active():   # a step recorded for replay keeps every op
            return _recorded(code, inputs, data, dt, float(k0), float(k1), ki, rg=False)
        return new(data)
    return _recorded(code, inputs, data, dt, float(k0), float(k1), ki)


def _recorded(code, inputs, data, dt, k0, k1, ki, index=None, rg=True):
    """The output tensor keeps `data` as is (a strided view stays a view, as
    in torch); its slot holds a C-contiguous copy where it is not one. An
    index map (structural ops) becomes input c. rg=False records an op
    without grad (for replay): the sweep passes it by."""
    if not rg and dt.code > 1 and not (dt.code == INT64 and OPS[code].forward is None):
        capture.refuse(f"it runs {OPS[code].name} on {dt.name} tensors")   # (int64 views are copies)
    if rg and index is None and record_array is not None:
        out = record_array(code, inputs, data, dt.code | L.RG, k0, k1, ki)
        if out is not None:
            return out
    tape = current()
    slots, versions = [-1, -1, -1], [0, 0, 0]
    for i, x in enumerate(inputs):      # (a loop, not two list comprehensions: 0.3 us an op)
        slots[i] = x._slot if x._tape is tape and x._slot >= 0 else slot_on(x, tape)
        if x._vc is not None:
            versions[i] = int(x._vc[0])
    if index is not None:
        slots[2] = tape.new_slot(np.ascontiguousarray(index, np.int64), -1, INT64)
        tape.release(slots[2])           # the record alone keeps it
    value = data if data.flags.c_contiguous else np.ascontiguousarray(data)
    out = new(data, rg)
    out._slot = tape.record(code, slots[0], slots[1], slots[2], value, dt.code | (L.RG if rg else 0),
                            k0, k1, ki, versions, eager.vjp_state(code, value.size, inputs))
    if anomaly_mode.enabled:
        tape.stacks[out._slot] = traceback.format_stack()[:-2]
    out._tape = tape
    return out


def structural(code, x, data, index=None):
    """Record a view or indexing op whose forward already ran (shape_ops.py).
    A NumPy view of x's memory shares x's version counter, as torch's views do."""
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    if x._rg and is_grad_enabled():
        out = _recorded(code, [x], data, x.dtype, 0.0, 0.0, 0, index)
    elif capture.RECORDING[0] and capture.active():
        out = _recorded(code, [x], data, x.dtype, 0.0, 0.0, 0, index, rg=False)
    else:
        out = new(data)
    if data.base is not None and np.may_share_memory(data, x._data):
        out._vc = counter(x)
    return out


def cast(x, dt):
    """x as dtype dt; differentiable between float dtypes (ToCopyBackward0)."""
    if x._data.dtype is dt.np or x.dtype is dt:     # (the first test is the common case, 0.2 us)
        return x
    data = x._data.astype(dt.np)
    if x._rg and dt.is_floating_point and is_grad_enabled():
        return _recorded(TO_COPY, [x], data, dt, 0.0, 0.0, 0)
    if dt.is_floating_point and x.dtype.is_floating_point and capture.active():
        return _recorded(TO_COPY, [x], data, dt, 0.0, 0.0, 0, rg=False)
    return wrap(data)


def float_dtype(*operands):
    """The promoted dtype, made floating (int / int gives float, as torch)."""
    dt = dtypes.result_type(*operands)
    return dt if dt.is_floating_point else dtypes.get_default_dtype()
