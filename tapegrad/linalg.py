"""Matrix products, named per call form as PyTorch names their grad_fn."""
import numpy as np

from . import forward as F
from .optable import CODE
from .record import apply, wrap
from .tensor import Tensor

_C_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "bool": "bool"}


def _same_dtype(a, b):
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_C_NAMES[a.dtype.name]} != {_C_NAMES[b.dtype.name]}")


def matmul(input, other):
    if not isinstance(other, Tensor):
        return NotImplemented
    _same_dtype(input, other)
    if not input.dtype.is_floating_point:            # BLAS is for floats; ints need no grad
        F.matmul_shape(input.shape, other.shape)
        return wrap(np.asarray(np.matmul(input._data, other._data)))
    form = {(1, 1): "dot", (2, 2): "mm", (2, 1): "mv", (1, 2): "vm"}.get(
        (input.ndim, other.ndim), "matmul")
    return apply(CODE[form], [input, other])


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"{'self' if input.ndim != 2 else 'mat2'} must be a matrix")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError("batch1 and batch2 must have same number of batches")
    _same_dtype(input, mat2)
    F.matmul_shape(input.shape, mat2.shape)
    return apply(CODE["bmm"], [input, mat2])


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    return matmul(input, other)


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError("vector + matrix @ vector expected")
    return matmul(input, vec)


def linear(input, weight, bias=None):
    """input @ weight.T + bias, one record (AddmmBackward0 / MmBackward0)."""
    _same_dtype(input, weight)
    if input.shape[-1] != weight.shape[-1]:
        rows = int(np.prod(input.shape[:-1], dtype=np.int64))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]} "
                           f"and {weight.shape[-1]}x{weight.shape[0]})")
    if bias is None:
        return apply(CODE["linear_nobias"], [input, weight])
    return apply(CODE["linear"], [input, weight, bias])


METHODS = dict(matmul=matmul, mm=mm, bmm=bmm, dot=dot, mv=mv, __matmul__=matmul,
               __rmatmul__=lambda x, y: matmul(y, x))
for _name, _f in METHODS.items():
    setattr(Tensor, _name, _f)
