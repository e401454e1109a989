"""Tensor: a NumPy array plus the slot that names it on the tape."""
import math
import warnings
import weakref

import numpy as np

from . import capture, dtypes
from .kernels import layout as L


class Size(tuple):
    def __repr__(self):
        return f"tapegrad.Size({list(self)})"

    def numel(self):
        return math.prod(self)


def counter(x):
    """x's storage's version counter (an int64 array of one element, shared
    with views and detach(), not with .data), made on first need: tensors
    never changed in place carry none and record version 0."""
    vc = x._vc
    if vc is None:
        vc = x._vc = np.zeros(1, np.int64)
        if x._slot >= 0:
            x._tape.set_counter(x._slot, vc)
    return vc


def bump(x, recorded=False):
    """An in-place change of x's storage (`recorded`: on the tape, which
    replay runs again; any other is invisible to replay)."""
    if capture.RECORDING[0] and not recorded:
        capture.refuse("it changes a tensor in place outside the tape (copy_, index assignment, "
                       "an init function, clip_grad_*)")
    counter(x)[0] += 1


def version(x):
    return 0 if x._vc is None else int(x._vc[0])


def slot_on(x, tape):
    """x's slot on `tape`, made on first use for a leaf. A leaf's slot
    aliases its data, so updates under no_grad are seen by later records;
    non-contiguous data gets a private copy, owned by the records only."""
    s = x._slot
    if s >= 0 and x._tape is tape:
        return s
    if s >= 0 and x._tape.slot_i[s, L.REC] >= 0:
        raise RuntimeError("this tensor's graph was built in another thread; tapegrad records "
                           "one tape per thread. detach() it, or do the whole step in one thread.")
    flags = x.dtype.code | (L.RG | L.WANTS if x._rg else 0)
    data = x._data
    if data.flags.c_contiguous:
        if s >= 0:
            x._tape.release(s)
        s = x._slot = tape.new_slot(data, -1, flags, x._vc)
        x._tape = tape
    else:
        s = tape.new_slot(np.ascontiguousarray(data), -1, flags, x._vc)
        tape.release(s)
    if capture.RECORDING[0] and tape.recorder is not None:
        tape.recorder.leaf(s, x)
    if x._rg:
        tape.owners[s] = weakref.ref(x)
    return s


class Tensor:
    # _v, _dt: a Scalar's value as a Python float and its dtype's code (scalars.py), else None
    __slots__ = ("_data", "_rg", "_slot", "_tape", "_grad", "_vc", "_hooks", "_v", "_dt",
                 "__weakref__")
    __hash__ = object.__hash__

    def __new__(cls, *args, **kwargs):
        """Legacy constructor: Tensor(data) or Tensor(*sizes), float32 by default."""
        from . import creation
        if args and all(isinstance(a, int) for a in args):
            return creation.empty(*args)
        return creation.tensor(args[0] if args else [], dtype=dtypes.get_default_dtype())

    def __del__(self):
        if self._slot >= 0:
            self._tape.ref_view[self._slot] -= 1

    def __getattr__(self, name):       # only called where lookup failed
        if name == "_data" and self._v is not None:
            from .scalars import data
            return data(self)          # a Scalar's, made from its slot's row
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # -- what it is -------------------------------------------------------
    @property
    def dtype(self):
        if self._v is not None:        # (a Scalar: no array to ask)
            return dtypes.BY_CODE[self._dt]
        return dtypes.BY_NP.get(self._data.dtype) or dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def shape(self):
        return Size(() if self._v is not None else self._data.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self._data.shape[_dim(dim, self.ndim)]

    @property
    def ndim(self):
        return 0 if self._v is not None else self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    @property
    def device(self):
        from .device import device
        return device("cpu")

    def item(self):
        capture.guard(self, "item()")
        if self._v is not None:
            return self._v
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.item()

    def tolist(self):
        capture.guard(self, "tolist()")
        return self._data.tolist()

    def numpy(self):
        capture.refuse("it takes a NumPy view of a tensor (numpy(), np.asarray)")
        if self._rg:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __bool__(self):
        if self._data.size != 1:
            what = "no values" if self._data.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {what} is ambiguous")
        capture.guard(self, "bool()")
        return bool(self._data)

    def _scalar(self):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        capture.guard(self, "float() or int()")
        return self._data.item()

    def __float__(self):
        return float(self._scalar())

    def __int__(self):
        return int(self._scalar())

    def __index__(self):
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __format__(self, spec):
        if self.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self):
        from .printing import format_tensor
        capture.refuse("it prints a tensor")
        suffixes = ()
        fn = self.grad_fn
        if fn is not None:
            suffixes = (f"grad_fn=<{fn.name()}>",)
        elif self._rg:
            suffixes = ("requires_grad=True",)
        return format_tensor(self._data, self.dtype.name, suffixes=suffixes,
                             default_dtype=dtypes.get_default_dtype().name)

    __str__ = __repr__

    # -- autograd ---------------------------------------------------------
    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf:
            if requires_grad:
                return self
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you "
                               "want to use a computed variable in a subgraph that doesn't require "
                               "differentiation use var_no_grad = var.detach().")
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self._rg = bool(requires_grad)
        if self._slot >= 0:
            self._tape.set_flag(self._slot, L.RG | L.WANTS, self._rg)
            if self._rg:
                self._tape.owners[self._slot] = weakref.ref(self)
        return self

    @property
    def is_leaf(self):
        return bool(not self._rg or self._slot < 0 or self._tape.slot_i[self._slot, L.REC] < 0)

    @property
    def grad_fn(self):
        if not self._rg or self._slot < 0 or self._tape.slot_i[self._slot, L.REC] < 0:
            return None
        from .autograd.graph import node
        return node(self._tape, self._slot)

    @property
    def grad(self):
        recorder = capture.RECORDING[0] and capture.active()
        if recorder:
            recorder.note_grad(self, self._grad)
        elif self._grad is not None:      # a leaf's or a retained one: no warning (the common case)
            return self._grad
        if not self.is_leaf and not self._tape.slot_i[self._slot, L.FLAGS] & L.WANTS:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
                "non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you access "
                "the leaf Tensor instead.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    @capture.replayed
    def grad(self, value):
        if value is not None and (value.shape != self.shape or value.dtype is not self.dtype):
            raise RuntimeError("assigned grad has data of a different size or type: expected "
                               f"{list(self.shape)} {self.dtype}, got {list(value.shape)} {value.dtype}")
        self._grad = value

    def retain_grad(self):
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if not self.is_leaf:
            self._tape.set_flag(self._slot, L.WANTS)
            self._tape.owners[self._slot] = weakref.ref(self)

    @property
    def retains_grad(self):
        return not self.is_leaf and bool(self._tape.slot_i[self._slot, L.FLAGS] & L.WANTS)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd.engine import backward
        backward(self, gradient, retain_graph, create_graph, inputs)

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient is complete and may
        return a replacement. Returns a handle whose remove() drops it."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.is_leaf:
            capture.refuse("it registers a hook on a leaf, which a normal call adds again each time")
        if self._hooks is None:
            self._hooks = {}
        handle = RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        if not self.is_leaf:
            self._tape.hooks[self._slot] = self._hooks
            self._tape.set_flag(self._slot, L.HOOK)
        return handle

    def detach(self):
        from .record import new
        out = new(self._data)
        out._vc = counter(self)           # an alias: in-place changes show in both
        return out

    def detach_(self):
        if self._slot >= 0:
            self._tape.release(self._slot)
            self._slot = -1
        self._rg = False
        return self

    @property
    def _version(self):
        return version(self)

    @property
    def data(self):
        from .record import new
        return new(self._data)           # shares memory, not the version counter

    @data.setter
    def data(self, other):
        capture.refuse("it assigns .data")
        self._data = other._data
        if self.is_leaf and self._slot >= 0:   # next use makes a slot on the new data
            self._tape.release(self._slot)
            self._slot = -1

    # -- pickle and copy.deepcopy: the values and the flag, never the tape --
    def __reduce_ex__(self, protocol):
        data = np.array(self._data)     # (first: reading a Deferred's data makes it a Tensor)
        return _rebuild, (type(self), data, self._rg)

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support "
                               "the deepcopy protocol at the moment.")
        if id(self) not in memo:
            new = memo[id(self)] = _rebuild(type(self), self._data.copy(), self._rg)
            if self._grad is not None:
                new._grad = self._grad.__deepcopy__(memo)
        return memo[id(self)]


def _rebuild(cls, data, requires_grad):
    """A leaf of class `cls` (Tensor or a subclass without new slots, such as
    nn.Parameter) holding `data`: unpickling, deepcopy, Parameter(t)."""
    from .record import wrap
    t = wrap(data)
    t.__class__ = cls
    return t.requires_grad_(True) if requires_grad else t


class RemovableHandle:
    _next = 0

    def __init__(self, hooks):
        self.hooks, self.id = hooks, RemovableHandle._next
        RemovableHandle._next += 1

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _dim(dim, ndim):
    """A dim in range(max(ndim, 1)), from a possibly negative one."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n
