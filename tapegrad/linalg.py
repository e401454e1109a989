"""Matrix products, named per call form as PyTorch names their grad_fn."""
import math

import numpy as np

from . import forward as F
from .optable import CODE
from .record import apply, structural, wrap
from .shape_ops import take
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
    return _as_torch_names(input, other, apply(CODE[form], [input, other]))


def _as_torch_names(input, other, out):
    """torch computes matrix @ batch (and (1, n, k) @ (b, k, m)), when the
    matrix requires grad, as (other.mT @ input.mT).mT.contiguous(): its
    grad_fn is CloneBackward0, or TransposeBackward0 where that transpose is
    contiguous already. One more record gives the same name."""
    squeezed = input.ndim == other.ndim == 3 and input.shape[0] == 1 != other.shape[0]
    matrix = input.ndim == 2 or squeezed
    if not (matrix and other.ndim >= 3 and input._rg and out._rg):
        return out
    if 1 in out.shape[-2:] or out.numel() == 0:
        return take(out, lambda a: a, "transpose")
    from .math_ops import clone
    return clone(out)


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"{'self' if input.ndim != 2 else 'mat2'} must be a matrix")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
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
    """input @ weight.T + bias, one record (AddmmBackward0 / MmBackward0) for
    a 2-D input. Other inputs end in the record torch's F.linear ends in."""
    _same_dtype(input, weight)
    if input.shape[-1] != weight.shape[-1]:
        rows = math.prod(input.shape[:-1])
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]} "
                           f"and {weight.shape[-1]}x{weight.shape[0]})")
    if bias is None:
        if input.ndim == 1:                        # torch: x @ w.t(), SqueezeBackward4
            return matmul(input, weight.t())
        out = apply(CODE["linear_nobias"], [input, weight])
        return out if input.ndim == 2 else _renamed(out, "unsafe_view")
    if input.ndim == 2:
        return apply(CODE["linear"], [input, weight, bias])
    if not input._data.flags.c_contiguous:        # torch: matmul, then + bias
        return apply(CODE["linear_nobias"], [input, weight]) + bias
    return _renamed(apply(CODE["linear"], [input, weight, bias]), "view")   # addmm, then view


def _renamed(out, name):
    """out behind one more same-order view record, for torch's grad_fn name."""
    return structural(CODE[name], out, out._data.reshape(out.shape))


METHODS = dict(matmul=matmul, mm=mm, bmm=bmm, dot=dot, mv=mv, __matmul__=matmul,
               __rmatmul__=lambda x, y: matmul(y, x))
for _name, _f in METHODS.items():
    setattr(Tensor, _name, _f)
