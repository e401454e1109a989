"""Views, reshapes, indexing and joins.

Every op here runs its NumPy forward first (a view of the input where NumPy
gives one, so aliases behave as in torch). When it must be recorded, ops
that keep the elements in order record no more than that (copy_vjp); the
others apply the same NumPy function to a map of element indices and record
the map, whose VJP scatters the gradient back (take_vjp). One mechanism
serves permute, expand, flip, every form of indexing, gather and the rest.
"""
import builtins
import math

import numpy as np

from . import capture, dtypes
from .autograd.grad_mode import is_grad_enabled
from .optable import CODE
from .record import apply, cast, structural, wrap
from .tensor import Tensor, _dim, bump


def take(x, fn, name):
    """fn(x) for a NumPy function fn that rearranges or selects elements."""
    data = fn(x._data)
    recorded = x._rg and is_grad_enabled() or capture.RECORDING[0] and capture.active()
    index = fn(np.arange(x.numel()).reshape(x.shape)) if recorded else None
    return structural(CODE[name], x, data, index)


def _same_order(x, shape, name):
    return structural(CODE[name], x, x._data.reshape(shape))


def _shape_arg(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def _infer(x, shape):
    try:
        return np.broadcast_to(0, (x.numel(),)).reshape(shape).shape
    except ValueError:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {x.numel()}") from None


def reshape(x, *shape):
    shape = _infer(x, _shape_arg(shape))
    if x._data.flags.c_contiguous:
        return _same_order(x, shape, "view")
    return _same_order(x, shape, "unsafe_view")


def view(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
        raise NotImplementedError("view(dtype) is not supported")
    shape = _infer(x, _shape_arg(shape))
    if not x._data.flags.c_contiguous and x.numel() > 1:
        try:
            x._data.view().shape = shape          # NumPy's test for a view without copying
        except AttributeError:
            raise RuntimeError("view size is not compatible with input tensor's size and stride "
                               "(at least one dimension spans across two contiguous subspaces). "
                               "Use .reshape(...) instead.") from None
    return _same_order(x, shape, "view")


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _dim(start_dim, x.ndim), _dim(end_dim, x.ndim)
    if s == e:
        return x
    shape = x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return reshape(x, shape)


def squeeze(x, dim=None):
    if dim is None:
        return _same_order(x, tuple(n for n in x.shape if n != 1), "squeeze")
    dims = {_dim(d, x.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
    shape = tuple(n for d, n in enumerate(x.shape) if not (d in dims and n == 1))
    return _same_order(x, shape, "squeeze_dim")


def unsqueeze(x, dim):
    d = _dim(dim, x.ndim + 1)
    return _same_order(x, x.shape[:d] + (1,) + x.shape[d:], "unsqueeze")


def permute(x, *dims):
    dims = tuple(_dim(d, x.ndim) for d in _shape_arg(dims))
    if sorted(dims) != list(range(x.ndim)):
        raise RuntimeError("permute(): dims don't match the tensor's dims "
                           f"(got {list(dims)} for a {x.ndim}-d tensor)")
    return take(x, lambda a: a.transpose(dims), "permute")


def transpose(x, dim0, dim1):
    d0, d1 = _dim(dim0, x.ndim), _dim(dim1, x.ndim)
    return take(x, lambda a: np.swapaxes(a, d0, d1) if a.ndim else a, "transpose")


def t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return take(x, lambda a: a.T, "t")


def expand(x, *sizes):
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({x.ndim})")
    shape = tuple(x.shape[d - lead] if n == -1 else n for d, n in enumerate(sizes))
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise RuntimeError(f"The expanded size of the tensor must match the existing size at "
                           f"non-singleton dimensions. Target sizes: {list(sizes)}. Tensor sizes: "
                           f"{list(x.shape)}") from None
    return take(x, lambda a: np.broadcast_to(a, shape), "expand")


def expand_as(x, other):
    return expand(x, other.shape)


def repeat(x, *sizes):
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    return take(x, lambda a: np.tile(a, sizes), "repeat")


def flip(x, *dims):
    dims = tuple(_dim(d, x.ndim) for d in _shape_arg(dims))
    for d in dims:
        if dims.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    # a copy, as torch's (np.flip is a view)
    return take(x, lambda a: np.flip(a, dims).copy() if a.ndim else a.copy(), "flip")


def _cat2(a, b, d, name):
    return apply(CODE[name], [a, b], ki=d)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    dt = dtypes.result_type(*tensors)
    if len({t.ndim for t in tensors}) > 1:      # legacy: 1-d empty tensors join anything
        tensors = [t for t in tensors if not (t.ndim == 1 and t.numel() == 0)] or tensors[:1]
    tensors = [cast(t, dt) for t in tensors]
    d = _dim(dim, tensors[0].ndim)
    first = tensors[0]
    for i, t in enumerate(tensors[1:], 1):
        if t.ndim != first.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {first.ndim} "
                               f"and {t.ndim}")
        for e in range(t.ndim):
            if e != d and t.shape[e] != first.shape[e]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected "
                                   f"size {first.shape[e]} but got size {t.shape[e]} for tensor "
                                   f"number {i} in the list.")
    return _join(tensors, d, "cat")


def _join(tensors, d, name):
    """A balanced tree of two-input joins: log depth, n log n copies. A lone
    tensor is copied too, as torch does (CatBackward0 / StackBackward0)."""
    if len(tensors) == 1:
        nothing = wrap(np.empty(tensors[0].shape[:d] + (0,) + tensors[0].shape[d + 1:],
                                tensors[0]._data.dtype))
        return _cat2(tensors[0], nothing, d, name)
    return _tree(tensors, d, name)


def _tree(tensors, d, name):
    if len(tensors) == 1:
        return tensors[0]
    mid = len(tensors) // 2
    return _cat2(_tree(tensors[:mid], d, "cat"), _tree(tensors[mid:], d, "cat"), d, name)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    if builtins.any(t.shape != tensors[0].shape for t in tensors):
        raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} "
                           f"at entry 0 and {next(list(t.shape) for t in tensors if t.shape != tensors[0].shape)}"
                           " at entry 1")
    d = _dim(dim, tensors[0].ndim + 1)
    dt = dtypes.result_type(*tensors)
    return _join([unsqueeze(cast(t, dt), d) for t in tensors], d, "stack")


def split(x, split_size_or_sections, dim=0):
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
        if size == 0 and n:
            raise RuntimeError("split_size can only be 0 if dimension size is 0, but got dimension "
                               f"size of {n}")
        sizes = [builtins.min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got split_sizes={sizes}")
    starts = np.cumsum([0] + sizes[:-1])
    return tuple(take(x, lambda a, s=s, k=k: a[(slice(None),) * d + (slice(s, s + k),)], "split")
                 for s, k in zip(starts.tolist(), sizes))


def chunk(x, chunks, dim=0):
    n = x.shape[_dim(dim, x.ndim)]
    return split(x, -(-n // chunks) if n else [0] * chunks, dim)   # torch: `chunks` empty parts


def index_select(x, dim, index):
    d = _dim(dim, x.ndim)
    capture.guard(index, "an index tensor")
    idx = index._data.reshape(-1)
    if x.ndim == 0 and idx.size != 1:
        raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {idx.size} "
                           "value(s)")
    n = x.shape[d] if x.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        # torch's CPU kernel raises this for most dims (a RuntimeError for some middle ones)
        raise IndexError("index out of range in self")
    return take(x, lambda a: np.take(a, idx, axis=d) if a.ndim else a[()], "index_select")


def gather(x, dim, index):
    d = _dim(dim, x.ndim)
    capture.guard(index, "an index tensor")
    idx = index._data
    _check_range(idx, x.shape[d] if x.ndim else 1, d)
    if builtins.max(idx.ndim, 1) != builtins.max(x.ndim, 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    if x.ndim == 0 or idx.ndim == 0:                 # 0-d and 1-d alike
        return take(x, lambda a: a.reshape(-1)[idx], "gather")
    for e in range(x.ndim):
        if e != d and idx.shape[e] > x.shape[e]:
            raise RuntimeError(f"Size does not match at dimension {e} expected index "
                               f"{list(idx.shape)} to be no larger than self {list(x.shape)} "
                               f"apart from dimension {d}")
    # torch reads the leading block of x where index is smaller (NumPy would broadcast)
    block = tuple(slice(None) if e == d else slice(0, n) for e, n in enumerate(idx.shape))
    return take(x, lambda a: np.take_along_axis(a[block], idx, d), "gather")


def _check_range(idx, n, d):
    """gather takes no negative index, as torch's."""
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {n}")


def _key(key, shape=()):
    """key with tensors as NumPy arrays, and the grad_fn torch would name:
    that of the last op torch applies. Advanced indexing comes last; in a
    tuple key, a slice over a whole dim is no op (a key of only such slices
    is torch's AliasBackward0, which the op table lacks: SliceBackward0)."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for k in parts:
        if isinstance(k, Tensor):
            k = k._data
            if k.ndim == 0 and k.dtype.kind == "i":       # torch: a 0-d integer tensor is an int
                k = int(k)
        if isinstance(k, (list, np.ndarray, bool)):
            k = np.asarray(k) if not isinstance(k, list) or k else np.zeros(0, np.int64)
            if k.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        out.append(k)
    if builtins.any(isinstance(k, np.ndarray) for k in out):
        return tuple(out), "index"
    name, d = "slice", 0
    for i, k in enumerate(out):
        if k is Ellipsis:       # the dims the parts after it index are the last ones
            d = len(shape) - builtins.sum(j is not None and j is not Ellipsis for j in out[i + 1:])
        elif k is None:
            name = "unsqueeze"
        elif isinstance(k, slice):
            n = shape[d] if 0 <= d < len(shape) else 0
            whole = k.start in (None, 0) and (k.stop is None or k.stop >= n) and k.step in (None, 1)
            if not (whole and isinstance(key, tuple)):
                name = "slice"
            d += 1
        else:
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
                name = "select"
            d += 1
    return tuple(out), name


def _index_error(e, x):
    """NumPy's IndexError in torch's words."""
    msg = str(e)
    if msg.startswith("too many indices"):
        msg = f"too many indices for tensor of dimension {x.ndim}"
    return IndexError(msg.replace("axis", "dimension"))


def _torch_order(key):
    """(first, second): a[first][second] is torch's a[key]. torch selects the
    ints first and indexes the rest; NumPy takes ints beside index arrays as
    index arrays too, which moves the result's dims (x[0, :, [0, 1]])."""
    def is_int(k):
        return isinstance(k, (int, np.integer)) and not isinstance(k, bool)
    if not (builtins.any(isinstance(k, np.ndarray) for k in key)
            and builtins.any(is_int(k) for k in key)):
        return key, ()
    first, second = [], []
    for k in key:
        if isinstance(k, np.ndarray):
            first += [slice(None)] * (k.ndim if k.dtype == bool else 1)
            second.append(k)
        elif is_int(k):
            first.append(k)
        else:                            # None, a slice or Ellipsis: done by `first`
            first.append(k)
            second.append(Ellipsis if k is Ellipsis else slice(None))
    return tuple(first), tuple(second)


def _index(a, key):
    first, second = _torch_order(key)
    return a[first][second] if second else a[first]


def _assign(a, key, value):
    first, second = _torch_order(key)
    if second:
        a[first][second] = value          # a[first] is a view: the write reaches a
    else:
        a[first] = value


def getitem(x, key):
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, Tensor):
            capture.guard(k, "an index tensor")
    key, name = _key(key, x.shape)
    try:
        data = _index(x._data, key)
    except IndexError as e:
        raise _index_error(e, x) from None
    if name == "unsqueeze":             # torch's last op: an unsqueeze, same elements in order
        if data.size == x.numel():
            return structural(CODE["unsqueeze"], x, data)
        inner = tuple(k for k in key if k is not None)      # the select / slice before it
        picked = take(x, lambda a: a[inner], _key(inner, x.shape)[1])
        return structural(CODE["unsqueeze"], picked, picked._data.reshape(data.shape))
    return take(x, lambda a: _index(a, key), name)


def setitem(x, key, value):
    """x[key] = value. Recorded as where(mask, value spread by take, x)."""
    try:
        _setitem(x, key, value)
    except IndexError as e:
        raise _index_error(e, x) from None
    except ValueError as e:
        if "broadcast" not in str(e):
            raise
        target = _index(x._data, _key(key)[0]).shape
        got = tuple(value.shape) if isinstance(value, Tensor) else np.shape(value)
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(got)} cannot be "
                           f"broadcast to indexing result of shape {list(target)}") from None


def _setitem(x, key, value):
    from .inplace import _check_leaf, _write
    key, _ = _key(key)
    v = value if isinstance(value, Tensor) else None
    if not ((x._rg or (v is not None and v._rg)) and is_grad_enabled()):
        _assign(x._data, key, v._data if v is not None else value)
        bump(x)
        return
    _check_leaf(x)
    mask = np.zeros(x.shape, bool)
    _assign(mask, key, True)
    v = cast(v if v is not None else wrap(np.asarray(value, x._data.dtype)), x.dtype)
    spread = np.zeros(x.shape, np.int64)       # which element of v lands where
    _assign(spread, key, np.arange(v.numel()).reshape(v.shape))
    if v.numel():
        full = take(v, lambda a: a.reshape(-1)[spread], "index")
    else:                                      # nothing is written; v still gets its (empty) grad
        full = take(v, lambda a: np.zeros(x.shape, a.dtype), "index")
    from .math_ops import where
    _write(x, where(wrap(mask), full, x))


def contiguous(x):
    from .math_ops import clone
    return x if x._data.flags.c_contiguous else clone(x)      # CloneBackward0, as torch


def is_contiguous(x):
    return bool(x._data.flags.c_contiguous)


METHODS = dict(
    reshape=reshape, view=view, flatten=flatten, squeeze=squeeze, unsqueeze=unsqueeze,
    permute=permute, transpose=transpose, swapaxes=transpose, t=t, expand=expand,
    expand_as=expand_as, repeat=repeat, flip=flip, split=split, chunk=chunk,
    index_select=index_select, gather=gather, contiguous=contiguous, is_contiguous=is_contiguous,
    view_as=lambda x, other: view(x, other.shape), reshape_as=lambda x, other: reshape(x, other.shape),
    __getitem__=getitem, __setitem__=setitem,
    T=property(lambda x: permute(x, tuple(range(x.ndim))[::-1])),
    mT=property(lambda x: transpose(x, -2, -1)),
)
for _name, _f in METHODS.items():
    setattr(Tensor, _name, _f)
