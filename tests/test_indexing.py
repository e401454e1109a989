"""Property tests of indexing against torch: x[key] with ints, slices with
steps, None, Ellipsis, integer index lists and tensors (repeated indices
accumulate in the gradient), boolean masks and their combinations;
index_select, gather, masked_fill; and x[key] = v on a non-leaf.

Keys are drawn component by component along the dims they index, so every
drawn key is valid; values, grad_fn names and every leaf's gradient are
compared with tests/helpers.check."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapegrad
from strategies import SETTINGS, TIES, VALUES, arrays, dim, dtypes, operand, run, shapes

pytestmark = pytest.mark.usefixtures("torch_single_threaded")


class Tensor:
    """An index array that becomes lib.tensor(array) in the function under test."""

    def __init__(self, array):
        self.array = array

    def __repr__(self):
        return f"tensor({self.array.tolist()!r})"


def build(lib, key):
    """The key for lib, torch or tapegrad."""
    return tuple(lib.tensor(k.array) if isinstance(k, Tensor) else k for k in key)


@st.composite
def component(draw, sizes, unique=False):
    """One part of a key, and how many of `sizes` (the dims ahead) it indexes."""
    kinds = ["none"] + (["int", "slice", "slice", "list", "tensor", "mask"] if sizes else [])
    kind = draw(st.sampled_from(kinds))
    n = sizes[0] if sizes else 0
    if kind == "none":
        return None, 0
    if kind == "int":
        if n == 0:
            return slice(None), 1
        return draw(st.integers(-n, n - 1)), 1
    if kind == "slice":
        bound = st.none() | st.integers(-n - 2, n + 2)
        return slice(draw(bound), draw(bound), draw(st.none() | st.integers(1, 3))), 1
    if kind == "mask":
        m = draw(st.integers(1, len(sizes)))
        return Tensor(draw(hnp.arrays(bool, tuple(sizes[:m])))), m
    if n == 0:
        picks = np.zeros((0,), np.int64)
    else:
        values = st.integers(-n, n - 1)
        picks = np.array(draw(st.lists(values, max_size=min(n, 4) if unique else 4,
                                       unique_by=(lambda v: v % n) if unique else None)), np.int64)
    if kind == "list":
        if not len(picks):               # torch takes [] for an empty index, NumPy for floats
            picks = np.zeros((0,), np.int64)
            return Tensor(picks), 1
        return picks.tolist(), 1
    if not unique and draw(st.booleans()) and len(picks) % 2 == 0:
        picks = picks.reshape(2, -1)      # a 2-d index tensor
    return Tensor(picks), 1


@st.composite
def index_key(draw, shape, unique=False):
    """A valid key for a tensor of `shape`: components along the leading dims,
    or Ellipsis first and components along the trailing dims, or Ellipsis last."""
    mode = draw(st.sampled_from(["plain", "ellipsis first", "ellipsis last"]))
    if mode == "ellipsis first":
        k = draw(st.integers(0, len(shape)))
        sizes, exact = list(shape[len(shape) - k:]), True
    else:
        sizes, exact = list(shape), False
    key = []
    for _ in range(draw(st.integers(1, 4))):
        part, used = draw(component(sizes, unique))
        key.append(part)
        sizes = sizes[used:]
    while exact and sizes:               # after a leading Ellipsis, index every trailing dim
        part, used = draw(component(sizes, unique).filter(lambda c: c[1] > 0))
        key.append(part)
        sizes = sizes[used:]
    if mode == "ellipsis first":
        key.insert(0, Ellipsis)
    elif mode == "ellipsis last":
        key.append(Ellipsis)
    key = tuple(key)
    try:                             # several index arrays must broadcast together
        torch.zeros(shape)[build(torch, key)]
    except IndexError:
        assume(False)
    return key


@SETTINGS
@given(shape=shapes(0, 4), dtype=dtypes, data=st.data())
def test_getitem_property(shape, dtype, data):
    key = data.draw(index_key(shape))
    x = data.draw(operand(shape))
    if (torch.ones(shape, requires_grad=True) * 1)[build(torch, key)].grad_fn.name() == \
            "AliasBackward0":
        # a key of whole-dim slices and Ellipsis: torch's AliasBackward0 has no row in the
        # op table, tapegrad says SliceBackward0 (reported). Compared as t[key] * 1.
        run(lambda lib, t: t[build(lib, key)] * 1, [x], dtype)
    else:
        run(lambda lib, t: t[build(lib, key)], [x], dtype)


@SETTINGS
@given(shape=shapes(1, 4), dtype=dtypes, data=st.data())
def test_getitem_single_component_property(shape, dtype, data):
    """x[k] with k an int, a slice, a list, a tensor or a mask alone (not in a tuple)."""
    part, _ = data.draw(component(list(shape)))
    run(lambda lib, t: t[build(lib, (part,))[0]], [data.draw(operand(shape))], dtype)


@SETTINGS
@given(shape=shapes(0, 4), dtype=dtypes, data=st.data())
def test_index_select_property(shape, dtype, data):
    d = data.draw(dim(len(shape)))
    n = shape[d] if shape else 1
    # a 0-d tensor takes exactly one index, as in torch
    picks = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=0 if shape else 1,
                                        max_size=5 if shape else 1) if n else st.just([])), np.int64)
    index = picks.reshape(()) if len(picks) == 1 and data.draw(st.booleans()) else picks
    run(lambda lib, t: lib.index_select(t, d, lib.tensor(index)) if d % 2
        else t.index_select(d, lib.tensor(index)), [data.draw(operand(shape))], dtype)


@SETTINGS
@given(shape=shapes(1, 4), dtype=dtypes, data=st.data())
def test_gather_property(shape, dtype, data):
    d = data.draw(dim(len(shape)))
    n = shape[d]
    # torch: index.size(e) <= input.size(e) for e != d, any size along d
    ishape = tuple(data.draw(st.integers(0, s)) if e != d % len(shape) else
                   data.draw(st.integers(0, 4) if n else st.just(0)) for e, s in enumerate(shape))
    index = np.asarray(data.draw(arrays(ishape, st.integers(-n, n - 1)) if n else
                                 st.just(np.zeros(ishape))), np.int64)
    index = np.where(index < 0, index + n, index)       # torch's gather takes no negative index
    run(lambda lib, t: lib.gather(t, d, lib.tensor(index)) if d % 2
        else t.gather(d, lib.tensor(index)), [data.draw(operand(shape))], dtype)


@SETTINGS
@given(shape=shapes(0, 4), value=st.sampled_from([0.0, -1.5, 2, float("-inf"), float("nan")]),
       form=st.sampled_from(["number", "0-d tensor", "0-d tensor with grad"]), dtype=dtypes,
       data=st.data())
def test_masked_fill_property(shape, value, form, dtype, data):
    # a mask broadcastable to x: x's trailing dims, some of them 1
    k = data.draw(st.integers(0, len(shape)))
    mshape = tuple(s if data.draw(st.booleans()) else 1 for s in shape[len(shape) - k:])
    mask = data.draw(hnp.arrays(bool, mshape))
    operands = [data.draw(operand(shape, TIES | VALUES))]
    if form == "0-d tensor with grad":
        operands.append((np.array(float(value)), False))

    def fn(lib, t, *v):
        fill = v[0] if v else lib.tensor(value, dtype=t.dtype) if form != "number" else value
        out = t.masked_fill(lib.tensor(mask), fill) if k % 2 else \
            lib.masked_fill(t, lib.tensor(mask), fill)
        # torch names masked_fill with a tensor value MaskedFillBackward1, which the op table
        # lacks: tapegrad records MaskedFillBackward0, or WhereBackward0 when the value
        # requires grad (reported). Compared as out * 1.
        return out if form == "number" else out * 1
    run(fn, operands, dtype)


# -- x[key] = v ------------------------------------------------------------------------

@st.composite
def broadcast_to(draw, target):
    """A shape that broadcasts to `target`: some leading dims dropped, some dims 1."""
    drop = draw(st.integers(0, len(target)))
    return tuple(1 if draw(st.booleans()) else s for s in target[drop:])


@SETTINGS
@given(shape=shapes(1, 4), dtype=dtypes, data=st.data())
def test_setitem_property(shape, dtype, data):
    """y = x * 1; y[key] = v; compared as y * 1, v a tensor that requires grad
    (broadcast to y[key]) or a Python number. Keys have no repeated indices:
    which of two writes to one element wins is unspecified in torch."""
    key = data.draw(index_key(shape, unique=True))
    target = tuple(torch.zeros(shape)[build(torch, key)].shape)
    x = data.draw(operand(shape))
    if data.draw(st.booleans()):
        number = data.draw(st.sampled_from([0.0, -2.5, 3]))
        operands, value = [x], (lambda lib, *v: number)
    else:
        operands = [x, data.draw(operand(data.draw(broadcast_to(target))))]
        value = (lambda lib, *v: v[0])

    def fn(lib, t, *v):
        y = t * 1
        y[build(lib, key)] = value(lib, *v)
        # torch names y's grad_fn CopySlices or IndexPutBackward0; tapegrad records the
        # write as where(mask, v, y): WhereBackward0 (reported). Compared as y * 1.
        return y * 1
    run(fn, operands, dtype)


@pytest.mark.parametrize("key", ["x[mask] = v", "x[1:3] = t", "x[:, idx] = t", "x[0] = 2"])
def test_setitem_forms_of_the_issue(key):
    rng = np.random.default_rng(3)
    base, t = rng.standard_normal((4, 3)), rng.standard_normal(3)

    def fn(lib, x, v):
        y = x.clone()
        if key == "x[mask] = v":
            y[y > 0] = v.sum()
        elif key == "x[1:3] = t":
            y[1:3] = v
        elif key == "x[:, idx] = t":
            y[:, lib.tensor([2, 0])] = v[:2]
        else:
            y[0] = 2
        return y * 1
    run(fn, [(base, False), (t, False)], np.float64)


def test_setitem_on_a_leaf_that_requires_grad_raises_like_torch():
    for lib in (torch, tapegrad):
        x = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            x[0] = 2.0


BAD = {
    "int out of range": lambda lib, x: x[3],
    "negative int out of range": lambda lib, x: x[0, -4],
    "too many indices": lambda lib, x: x[0, 0, 0],
    "index tensor out of range": lambda lib, x: x[lib.tensor([0, 3])],
    "float index tensor": lambda lib, x: x[lib.tensor([0.0, 1.0])],
    "mask of the wrong shape": lambda lib, x: x[lib.tensor([True, False])],
    "index_select out of range": lambda lib, x: x.index_select(0, lib.tensor([3])),
    "gather out of range": lambda lib, x: x.gather(0, lib.tensor([[5]])),
    "gather with a negative index": lambda lib, x: x.gather(0, lib.tensor([[-1]])),
    "gather with a larger index": lambda lib, x: x.gather(0, lib.tensor([[0, 0, 0, 0]])),
    "gather with fewer dims": lambda lib, x: x.gather(0, lib.tensor([0])),
    "index_select with a negative index": lambda lib, x: x.index_select(0, lib.tensor([-1])),
    "index_select of a scalar, two indices": lambda lib, x: x[0, 0].index_select(0, lib.tensor([0, 0])),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_indices_raise_like_torch(name):
    errors = []
    for lib in (torch, tapegrad):
        x = lib.ones(3, 3, requires_grad=True) * 1
        with pytest.raises((IndexError, RuntimeError)) as info:
            BAD[name](lib, x)
        errors.append(info.type)
    assert errors[0] == errors[1], f"torch raises {errors[0]}, tapegrad {errors[1]}"
