"""Property tests of the shape ops against torch: reshape, view, flatten,
transpose, .t(), .T, .mT, permute, squeeze, unsqueeze, expand, expand_as,
repeat, cat, stack, split, chunk, flip. Each draws a shape (0-d to 4-d,
size-0 and size-1 dims), the op's arguments (negative dims too) and
sometimes a non-contiguous input, and compares values, grad_fn names and
gradients with tests/helpers.check."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import tapegrad
from strategies import SETTINGS, dim, dims, dtypes, operand, run, shapes

pytestmark = pytest.mark.usefixtures("torch_single_threaded")


def prime_factors(n):
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def same_numel(draw, shape):
    """Another shape with as many elements, now and then with a -1."""
    n = math.prod(shape)
    if n == 0:
        target = list(draw(shapes(1, 4, max_side=3)))
        target[draw(st.integers(0, len(target) - 1))] = 0
        return tuple(target)
    factors = prime_factors(n)
    ndim = draw(st.integers(1 if factors else 0, 4))
    target = [1] * ndim
    for f in factors:
        target[draw(st.integers(0, ndim - 1))] *= f
    if ndim and draw(st.booleans()):
        target[draw(st.integers(0, ndim - 1))] = -1
    return tuple(target)


def torch_views(x, flipped, new):
    """Whether torch can view operand (x, flipped) as shape `new` without a copy."""
    t = torch.tensor(x)
    try:
        (t.transpose(0, -1) if flipped else t).view(new)
        return True
    except RuntimeError:
        return False


@st.composite
def reshape_case(draw):
    shape = draw(shapes())
    new = draw(same_numel(shape))
    x = draw(operand(shape))
    form = draw(st.sampled_from(["tuple", "args", "lib", "reshape_as"]))
    fn = {"tuple": lambda lib, t: t.reshape(new),
          "args": lambda lib, t: t.reshape(*new) if new else t.reshape(new),
          "lib": lambda lib, t: lib.reshape(t, new),
          "reshape_as": lambda lib, t: t.reshape_as(lib.zeros(new if -1 not in new else shape))}
    if x[1] and torch_views(*x, new if form != "reshape_as" or -1 not in new else shape):
        # torch names a reshape of a non-contiguous tensor that it can view
        # ReshapeAliasBackward0; the op table has no such row, so tapegrad says
        # UnsafeViewBackward0 (reported). Values and gradients are compared.
        return (lambda lib, t: fn[form](lib, t) * 1), [x]
    return fn[form], [x]


@st.composite
def flatten_case(draw):
    shape = draw(shapes())
    n = max(len(shape), 1)
    start = draw(st.integers(-n, n - 1))
    end = draw(st.integers(start % n, n - 1).flatmap(lambda e: st.sampled_from([e, e - n])))
    x = draw(operand(shape))
    if draw(st.booleans()):
        fn, end = (lambda lib, t: lib.flatten(t, start, end)), end % n
    else:
        fn, end = (lambda lib, t: t.flatten(start_dim=start)), n - 1
    s, flat = start % n, shape or (1,)
    new = flat[:s] + (math.prod(flat[s:end + 1]),) + flat[end + 1:]
    if x[1] and s != end and torch_views(*x, new):
        # ReshapeAliasBackward0 in torch, as reshape_case says
        return (lambda lib, t: fn(lib, t) * 1), [x]
    return fn, [x]


@st.composite
def transpose_case(draw):
    shape = draw(shapes())
    d0, d1 = draw(dim(len(shape))), draw(dim(len(shape)))
    forms = {"lib.transpose": lambda lib, t: lib.transpose(t, d0, d1),
             "t.transpose": lambda lib, t: t.transpose(d0, d1),
             "t.swapaxes": lambda lib, t: t.swapaxes(d0, d1)}
    if len(shape) <= 2:
        forms.update({"t.t()": lambda lib, t: t.t(), "lib.t": lambda lib, t: lib.t(t)})
    if len(shape) == 2:                   # torch deprecates .T on other ndims
        forms["t.T"] = lambda lib, t: t.T
    if len(shape) >= 2:
        forms["t.mT"] = lambda lib, t: t.mT
    return forms[draw(st.sampled_from(sorted(forms)))], [draw(operand(shape))]


@st.composite
def permute_case(draw):
    shape = draw(shapes())
    n = len(shape)
    order = draw(st.permutations(range(n)))
    order = tuple(d - n if draw(st.booleans()) else d for d in order)
    if draw(st.booleans()) or not order:          # t.permute() with no dims is a TypeError
        return (lambda lib, t: lib.permute(t, order)), [draw(operand(shape))]
    return (lambda lib, t: t.permute(*order)), [draw(operand(shape))]


@st.composite
def squeeze_case(draw):
    shape = draw(shapes(max_side=2))
    d = draw(st.none() | dim(len(shape)) | dims(len(shape)))
    if d is None:
        return (lambda lib, t: t.squeeze()), [draw(operand(shape))]
    if isinstance(d, tuple):
        # torch names squeeze(dims tuple) SqueezeBackward2; the op table has no such row, so
        # tapegrad says SqueezeBackward1 (reported). Values and gradients are compared.
        return (lambda lib, t: lib.squeeze(t, d) * 1), [draw(operand(shape))]
    return (lambda lib, t: lib.squeeze(t, d)), [draw(operand(shape))]


@st.composite
def unsqueeze_case(draw):
    shape = draw(shapes(0, 3))
    d = draw(st.integers(-len(shape) - 1, len(shape)))
    return (lambda lib, t: t.unsqueeze(d) if d % 2 else lib.unsqueeze(t, d)), [draw(operand(shape))]


@st.composite
def expand_case(draw):
    shape = draw(shapes(max_side=3))
    lead = draw(st.lists(st.integers(0, 3), max_size=4 - len(shape)))
    sizes = tuple(lead) + tuple(draw(st.sampled_from([-1, 0, 1, 2, 3])) if s == 1
                                else draw(st.sampled_from([-1, s])) for s in shape)
    x = draw(operand(shape))
    form = draw(st.sampled_from(["tuple", "args", "expand_as"]))
    if form == "expand_as":
        target = tuple(s if n == -1 else n for s, n in zip((1,) * len(lead) + shape, sizes))
        return (lambda lib, t: t.expand_as(lib.zeros(target))), [x]
    if form == "args" and sizes:
        return (lambda lib, t: t.expand(*sizes)), [x]
    return (lambda lib, t: t.expand(sizes)), [x]


@st.composite
def repeat_case(draw):
    shape = draw(shapes(0, 3, max_side=3))
    sizes = tuple(draw(st.lists(st.integers(0, 3), min_size=len(shape), max_size=4)))
    return (lambda lib, t: t.repeat(*sizes) if len(sizes) % 2 else t.repeat(sizes)), \
        [draw(operand(shape))]


@st.composite
def cat_case(draw):
    shape = draw(shapes(1, 4, max_side=3))
    d = draw(dim(len(shape)))
    k = draw(st.integers(1, 4))
    parts = [shape[:d % len(shape)] + (draw(st.integers(0, 3)),) + shape[d % len(shape) + 1:]
             for _ in range(k)]
    operands = [draw(operand(s)) for s in parts]
    name = draw(st.sampled_from(["cat", "concat"]))
    return (lambda lib, *ts: getattr(lib, name)(list(ts), dim=d) if d % 2
            else getattr(lib, name)(ts, d)), operands


@st.composite
def stack_case(draw):
    shape = draw(shapes(0, 3, max_side=3))
    d = draw(st.integers(-len(shape) - 1, len(shape)))
    operands = [draw(operand(shape)) for _ in range(draw(st.integers(1, 4)))]
    return (lambda lib, *ts: lib.stack(ts, d)), operands


PART_NAMES = {}


def joined(lib, parts):
    """The parts of a split as one tensor: flattened, each scaled differently.
    Their grad_fn names go to PART_NAMES[lib]."""
    PART_NAMES[lib] = [p.grad_fn and p.grad_fn.name() for p in parts]
    return lib.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(parts)])


@st.composite
def split_case(draw):
    shape = draw(shapes(1, 4))
    d = draw(dim(len(shape)))
    n = shape[d]
    form = draw(st.sampled_from(["size", "sizes", "chunk"]))
    x = draw(operand(shape))
    if form == "size":
        size = draw(st.integers(1, 5))
        return (lambda lib, t: joined(lib, lib.split(t, size, d))), [x]
    if form == "chunk":
        chunks = draw(st.integers(1, 5))
        def f(lib, t):
            return joined(lib, t.chunk(chunks, d))
        f.sizes = n == 0                 # torch splits an empty dim into `chunks` sizes
        return f, [x]
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    def f(lib, t):
        return joined(lib, t.split(sizes, dim=d))
    f.sizes = True
    return f, [x]


@st.composite
def flip_case(draw):
    shape = draw(shapes())
    d = draw(dims(len(shape)).filter(bool)) if shape else (0,)
    if draw(st.booleans()):
        return (lambda lib, t: lib.flip(t, d)), [draw(operand(shape))]
    return (lambda lib, t: t.flip(list(d))), [draw(operand(shape))]


SHAPE_OPS = {
    "reshape": reshape_case(), "flatten": flatten_case(), "transpose": transpose_case(),
    "permute": permute_case(), "squeeze": squeeze_case(), "unsqueeze": unsqueeze_case(),
    "expand": expand_case(), "repeat": repeat_case(), "cat": cat_case(), "stack": stack_case(),
    "split": split_case(), "flip": flip_case(),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
@SETTINGS
@given(dtype=dtypes, data=st.data())
def test_shape_op_property(name, dtype, data):
    fn, operands = data.draw(SHAPE_OPS[name])
    PART_NAMES.clear()
    run(fn, operands, dtype)
    # torch names the parts of a split by sizes SplitWithSizesBackward0; the op table has
    # no such row, so tapegrad says SplitBackward0 (reported)
    if not getattr(fn, "sizes", False):
        assert PART_NAMES.get(tapegrad) == PART_NAMES.get(torch)


@SETTINGS
@given(shape=shapes(), dtype=dtypes, data=st.data())
def test_view_property(shape, dtype, data):
    """view(shape) works where torch's does and raises RuntimeError where torch's
    does (a non-contiguous input whose dims cannot be merged without a copy)."""
    new = data.draw(same_numel(shape))
    x, flipped = data.draw(operand(shape))
    if not torch_views(x, flipped, new):
        t = tapegrad.tensor(x)
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            (t.transpose(0, -1) if flipped else t).view(new)
        return
    run(lambda lib, t: t.view(new), [(x, flipped)], dtype)
    run(lambda lib, t: t.view_as(lib.zeros(t.view(new).shape)) * 1.0, [(x, flipped)], dtype)


@SETTINGS
@given(shape=shapes(2, 4), dtype=dtypes, data=st.data())
def test_contiguous_property(shape, dtype, data):
    run(lambda lib, t: t.contiguous() * 2, [data.draw(operand(shape))], dtype)
    x, flipped = data.draw(operand(shape))
    t = tapegrad.tensor(x).transpose(0, -1) if flipped else tapegrad.tensor(x)
    s = torch.tensor(x).transpose(0, -1) if flipped else torch.tensor(x)
    assert t.is_contiguous() == s.is_contiguous()


BAD = {
    "reshape to the wrong size": lambda lib, x: x.reshape(4, 2),
    "view with two -1": lambda lib, x: x.view(-1, -1),
    "view of a transpose": lambda lib, x: x.t().view(6),
    "permute with a repeated dim": lambda lib, x: x.permute(0, 0),
    "transpose out of range": lambda lib, x: x.transpose(0, 2),
    "expand a non-singleton dim": lambda lib, x: x.expand(3, 3),
    "repeat with too few sizes": lambda lib, x: x.repeat(2),
    "cat of different sizes": lambda lib, x: lib.cat([x, x.t()], 0),
    "cat of different ndims": lambda lib, x: lib.cat([x, x[0]], 0),
    "stack of nothing": lambda lib, x: lib.stack([]),
    "stack of different shapes": lambda lib, x: lib.stack([x, x[:1]]),
    "split sizes not summing": lambda lib, x: x.split([1, 2], 0),
    "unsqueeze out of range": lambda lib, x: x.unsqueeze(3),
    "squeeze out of range": lambda lib, x: x.squeeze(2),
    "flip out of range": lambda lib, x: x.flip(2),
    "flip with a repeated dim": lambda lib, x: x.flip(0, -2),
    "cat of 0-d tensors": lambda lib, x: lib.cat([x[0, 0], x[0, 1]]),
    "cat of one 0-d tensor": lambda lib, x: lib.cat([x[0, 0]]),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_arguments_raise_like_torch(name):
    errors = []
    for lib in (torch, tapegrad):
        x = lib.ones(2, 3, requires_grad=True) * 1
        with pytest.raises((RuntimeError, IndexError, ValueError)) as info:
            BAD[name](lib, x)
        errors.append(info.type)
    assert errors[0] == errors[1], f"torch raises {errors[0]}, tapegrad {errors[1]}"
