"""The details PyTorch users hit, each checked against torch: Python
protocols (len, bool, float, int, format, hash), grad-mode spellings,
requires_grad and numpy() errors, printing of empty tensors, dtype
conversions, the non-leaf .grad warning, errors in torch's types (never
NumPy's), grad_fn names, reprs, identity and next_functions."""
import re
import warnings

import numpy as np
import pytest
import torch

import tapegrad
from helpers import assert_same

LIBS = pytest.mark.parametrize("lib", [torch, tapegrad], ids=["torch", "tapegrad"])


def both(make):
    """make(lib) for torch and tapegrad: the same result, or the same
    exception type."""
    results = []
    for lib in (torch, tapegrad):
        try:
            results.append(("ok", make(lib)))
        except Exception as e:
            results.append(("raised", type(e)))
    assert results[1] == results[0], f"tapegrad {results[1]}, torch {results[0]}"
    return results[1][1]


def raises_as_torch(make):
    """make(lib) raises the same exception type in both (and never a NumPy
    one); returns tapegrad's message."""
    with pytest.raises(Exception) as theirs:
        make(torch)
    with pytest.raises(Exception) as ours:
        make(tapegrad)
    assert type(ours.value) is type(theirs.value), (ours.value, theirs.value)
    assert "numpy" not in type(ours.value).__module__
    assert "operands could not be broadcast" not in str(ours.value)
    return str(ours.value)


# -- Python protocols --------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda lib: len(lib.ones(3, 2)),
    lambda lib: len(lib.ones(0)),
    lambda lib: len(lib.tensor(1.0)),
    lambda lib: bool(lib.tensor([0.0])),
    lambda lib: bool(lib.tensor(2)),
    lambda lib: bool(lib.tensor([True])),
    lambda lib: bool(lib.ones(2)),
    lambda lib: float(lib.tensor(2.5)),
    lambda lib: float(lib.tensor([[7]])),
    lambda lib: int(lib.tensor(2.9)),
    lambda lib: int(lib.tensor(-2.9)),
    lambda lib: int(lib.tensor([7])),
    lambda lib: [10, 20, 30][lib.tensor(1)],
    lambda lib: [10, 20, 30][lib.tensor(1.0)],
    lambda lib: lib.tensor(2.5, requires_grad=True).item(),
], ids=["len", "len_empty", "len_0d", "bool_zero", "bool_int", "bool_true", "bool_many",
        "float", "float_1x1", "int_trunc", "int_neg", "int_1", "index", "index_float", "item_rg"])
def test_python_protocols(make):
    result = both(make)
    if not isinstance(result, type):
        assert type(result) is type(make(torch))


@pytest.mark.parametrize("spec", [".4f", "", ">10.2f", ".2e", "g"])
def test_format_of_a_scalar_tensor(spec):
    for value in (0.123456, 27.0, -3.5):
        ours = format(tapegrad.tensor(value), spec)
        assert ours == format(torch.tensor(value), spec) == format(float(np.float32(value)), spec)
    loss = tapegrad.tensor(2.5, requires_grad=True) * 2
    assert f"{loss:.4f}" == f"{torch.tensor(2.5, requires_grad=True) * 2:.4f}" == "5.0000"
    assert f"{tapegrad.tensor(3):d}" == "3" and f"{tapegrad.tensor(True)}" == "True"


def test_format_of_a_vector():
    assert f"{tapegrad.tensor([1.0, 2.0])}" == f"{torch.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    raises_as_torch(lambda lib: f"{lib.tensor([1.0, 2.0]):.2f}")
    raises_as_torch(lambda lib: f"{lib.tensor([2.5]):.2f}")


@LIBS
def test_hash_is_identity(lib):
    a, b = lib.ones(2), lib.ones(2)
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len(table) == 2
    assert len({a, b, a}) == 2 and a in {a} and b not in {a}
    assert hash(a) == hash(a) and hash(a) != hash(b)
    x = lib.ones(2, requires_grad=True)
    seen = {x: 1}
    y = x * 2
    seen[y] = 2
    assert seen[x] == 1 and seen[y] == 2


# -- grad modes ----------------------------------------------------------------------

@LIBS
def test_no_grad_as_a_bare_decorator(lib):
    x = lib.ones(2, requires_grad=True)

    @lib.no_grad
    def double(a):
        """Doubles."""
        return a * 2

    assert not double(x).requires_grad
    assert double.__name__ == "double" and double.__doc__ == "Doubles."
    assert lib.is_grad_enabled() and (x * 2).requires_grad

    @lib.enable_grad
    def triple(a):
        return a * 3
    with lib.no_grad():
        assert triple(x).requires_grad
        assert not (x * 3).requires_grad


@LIBS
def test_set_grad_enabled_as_a_plain_call(lib):
    x = lib.ones(2, requires_grad=True)
    try:
        lib.set_grad_enabled(False)
        assert not lib.is_grad_enabled() and not (x * 2).requires_grad
        lib.set_grad_enabled(True)
        assert lib.is_grad_enabled() and (x * 2).requires_grad
        with lib.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        assert (x * 2).requires_grad
    finally:
        lib.set_grad_enabled(True)


# -- requires_grad, numpy(), .grad ----------------------------------------------------

def test_requires_grad_false_on_a_non_leaf_raises():
    message = raises_as_torch(lambda lib: (lib.ones(2, requires_grad=True) * 2).requires_grad_(False))
    assert message.startswith("you can only change requires_grad flags of leaf variables.")
    assert both(lambda lib: (lib.ones(2, requires_grad=True) * 2).requires_grad_(True).requires_grad)
    raises_as_torch(lambda lib: setattr(lib.ones(2, requires_grad=True) * 2, "requires_grad", False))


def test_numpy_of_a_tensor_that_requires_grad_raises():
    message = raises_as_torch(lambda lib: lib.ones(2, requires_grad=True).numpy())
    assert message == ("Can't call numpy() on Tensor that requires grad. Use "
                       "tensor.detach().numpy() instead.")
    assert both(lambda lib: lib.ones(2, requires_grad=True).detach().numpy().tolist()) == [1.0, 1.0]
    raises_as_torch(lambda lib: np.asarray(lib.ones(2, requires_grad=True) * 2))


@LIBS
def test_grad_of_a_non_leaf_warns_and_is_none(lib):
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    y.sum().backward()
    with pytest.warns(UserWarning, match="is not a leaf Tensor is being accessed"):
        assert y.grad is None
    y.retain_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert y.grad is None                 # retains from the next backward, no warning
        assert x.grad is not None


# -- printing ------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda lib: lib.empty(2, 0),
    lambda lib: lib.empty(0, 3),
    lambda lib: lib.zeros(0),
    lambda lib: lib.tensor([]),
    lambda lib: lib.empty(2, 0, dtype=lib.int64),
    lambda lib: lib.empty(0, dtype=lib.float64),
    lambda lib: lib.empty(1, 0, 2, dtype=lib.bool),
    lambda lib: lib.zeros(2, 0, requires_grad=True),
], ids=["2x0", "0x3", "0", "list", "int64", "float64", "bool", "requires_grad"])
def test_empty_tensor_repr(make):
    assert repr(make(tapegrad)) == repr(make(torch)).replace("torch.", "tapegrad.")
    assert repr(tapegrad.empty(2, 0)) == "tensor([], size=(2, 0))"


def test_grad_fn_repr_and_name():
    x = tapegrad.ones(2, requires_grad=True)
    y = x + 2
    assert re.fullmatch(r"<AddBackward0 object at 0x[0-9a-f]+>", repr(y.grad_fn))
    assert str(y.grad_fn) == repr(y.grad_fn)
    assert re.fullmatch(r"<AddBackward0 object at 0x[0-9a-f]+>",
                        repr(torch.ones(2, requires_grad=True).add(2).grad_fn))
    assert y.grad_fn.name() == "AddBackward0" and type(y.grad_fn).__name__ == "AddBackward0"
    acc = y.grad_fn.next_functions[0][0]
    assert re.fullmatch(r"<AccumulateGrad object at 0x[0-9a-f]+>", repr(acc))
    assert acc.name() == "torch::autograd::AccumulateGrad"
    assert type(acc).__name__ == "AccumulateGrad"


# -- dtype conversions -----------------------------------------------------------------

@pytest.mark.parametrize("convert", ["float", "double", "long", "bool"])
@pytest.mark.parametrize("data", [[1.7, -2.5, 0.0], [3, 0, -1], [True, False, True]], ids=str)
def test_dtype_conversion_methods(convert, data):
    ours = getattr(tapegrad.tensor(data), convert)()
    theirs = getattr(torch.tensor(data), convert)()
    assert_same(ours, theirs)


@pytest.mark.parametrize("target", ["float32", "float64", "int64", "bool"])
def test_to_dtype(target):
    data = [1.5, -2.0, 0.0]
    assert_same(tapegrad.tensor(data).to(getattr(tapegrad, target)),
                torch.tensor(data).to(getattr(torch, target)))
    assert_same(tapegrad.tensor(data).to("cpu", getattr(tapegrad, target)),
                torch.tensor(data).to("cpu", getattr(torch, target)))
    assert_same(tapegrad.tensor(data).to(dtype=getattr(tapegrad, target)),
                torch.tensor(data).to(dtype=getattr(torch, target)))


@LIBS
def test_conversion_to_the_same_dtype_returns_self(lib):
    x = lib.ones(2)
    assert x.float() is x and x.to(lib.float32) is x and x.to("cpu") is x
    assert x.double() is not x


@LIBS
def test_conversions_keep_the_graph_between_floats(lib):
    x = lib.ones(2, requires_grad=True)
    y = x.double()
    assert y.grad_fn.name() == "ToCopyBackward0"
    (y * 3).sum().backward()
    assert x.grad.dtype is lib.float32 and x.grad.tolist() == [3.0, 3.0]
    assert x.long().grad_fn is None and not x.long().requires_grad


# -- torch's errors, not NumPy's ---------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda lib: lib.ones(2, 3) + lib.ones(4),
    lambda lib: lib.ones(2, 3) * lib.ones(3, 2),
    lambda lib: lib.ones(2, 3, requires_grad=True) - lib.ones(4),
    lambda lib: lib.ones(2) / lib.ones(3),
    lambda lib: lib.ones(2) ** lib.ones(3),
    lambda lib: lib.ones(2) == lib.ones(3),
    lambda lib: lib.ones(2) < lib.ones(3),
    lambda lib: lib.maximum(lib.ones(3), lib.ones(2)),
    lambda lib: lib.where(lib.ones(2) > 0, lib.ones(3), lib.ones(2)),
    lambda lib: lib.ones(2).masked_fill(lib.ones(3) > 0, 0.0),
    lambda lib: lib.lerp(lib.ones(2), lib.ones(3), 0.5),
    lambda lib: lib.ones(3).add_(lib.ones(2, 3)),
    lambda lib: lib.ones(3).add_(lib.ones(2)),
], ids=["add", "mul", "sub_rg", "div", "pow", "eq", "lt", "maximum", "where", "masked_fill",
        "lerp", "add_inplace_grow", "add_inplace"])
def test_shape_mismatch_is_a_runtime_error(make):
    raises_as_torch(make)


def test_broadcast_message_as_torch():
    for make in (lambda lib: lib.ones(2, 3) + lib.ones(4), lambda lib: lib.ones(5, 1, 3) * lib.ones(2, 4)):
        with pytest.raises(RuntimeError) as theirs:
            make(torch)
        with pytest.raises(RuntimeError) as ours:
            make(tapegrad)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("make", [
    lambda lib: lib.ones(2, 3) @ lib.ones(2, 3),
    lambda lib: lib.ones(3) @ lib.ones(4),
    lambda lib: lib.mm(lib.ones(2, 3), lib.ones(2, 3)),
    lambda lib: lib.ones(2, 3, requires_grad=True) @ lib.ones(4, 2),
    lambda lib: lib.mv(lib.ones(2, 3), lib.ones(4)),
    lambda lib: lib.bmm(lib.ones(2, 2, 3), lib.ones(2, 2, 3)),
], ids=["matmul", "matmul_1d", "mm", "matmul_rg", "mv", "bmm"])
def test_matmul_of_bad_shapes_is_a_runtime_error(make):
    raises_as_torch(make)


@pytest.mark.parametrize("make", [
    lambda lib: lib.ones(3)[10],
    lambda lib: lib.ones(3)[-4],
    lambda lib: lib.ones(2, 3)[0, 5],
    lambda lib: lib.ones(2, 3, requires_grad=True)[5],
    lambda lib: lib.ones(3)[[0, 5]],
    lambda lib: lib.ones(3)[lib.tensor([0, 3])],
    lambda lib: lib.ones(3)[0, 0],
    lambda lib: lib.ones(3).__setitem__(10, 1.0),
    lambda lib: lib.ones(3).index_select(0, lib.tensor([5])),
], ids=["int", "negative", "2d", "rg", "list", "tensor", "too_many", "setitem", "index_select"])
def test_index_out_of_range_is_an_index_error(make):
    message = raises_as_torch(make)
    assert "axis" not in message


def test_index_error_messages():
    with pytest.raises(IndexError, match="^index 10 is out of bounds for dimension 0 with size 3$"):
        tapegrad.ones(3)[10]
    with pytest.raises(IndexError, match="^too many indices for tensor of dimension 1$"):
        tapegrad.ones(3)[0, 0]


@pytest.mark.parametrize("make", [
    lambda lib: lib.cat([lib.ones(2, 3), lib.ones(2, 4)]),
    lambda lib: lib.cat([lib.ones(2, 3), lib.ones(3, 3)], dim=1),
    lambda lib: lib.cat([lib.ones(2, 3), lib.ones(3)]),
    lambda lib: lib.cat([lib.ones(2, 3, requires_grad=True), lib.ones(2, 4)]),
    lambda lib: lib.stack([lib.ones(2), lib.ones(3)]),
], ids=["cat", "cat_dim1", "cat_ndim", "cat_rg", "stack"])
def test_join_of_mismatched_shapes_is_a_runtime_error(make):
    raises_as_torch(make)


def test_cat_messages_as_torch():
    for make in (lambda lib: lib.cat([lib.ones(2, 3), lib.ones(2, 4)]),
                 lambda lib: lib.cat([lib.ones(2, 3), lib.ones(2, 3), lib.ones(3)])):
        with pytest.raises(RuntimeError) as theirs:
            make(torch)
        with pytest.raises(RuntimeError) as ours:
            make(tapegrad)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("make", [
    lambda lib: lib.ones(3).reshape(2, 2),
    lambda lib: lib.ones(3).view(4),
    lambda lib: lib.ones(3).expand(2, 4),
    lambda lib: lib.ones(3)[0:2].__setitem__(slice(None), lib.ones(3)),
    lambda lib: lib.ones(3).__setitem__(slice(0, 2), lib.ones(3)),
    lambda lib: lib.ones(3).gather(0, lib.tensor([5])),
    lambda lib: lib.randint(0, 0, (2,)),
    lambda lib: lib.arange(0, 10, -1),
    lambda lib: lib.tensor([[1, 2], [3]]),
    lambda lib: lib.ones(3).sum(2),
    lambda lib: lib.ones(2, 3).permute(0, 0),
], ids=["reshape", "view", "expand", "setitem_slice", "setitem", "gather", "randint", "arange",
        "ragged", "sum_dim", "permute"])
def test_other_errors_in_torchs_types(make):
    raises_as_torch(make)


def test_ragged_message_as_torch():
    for data in ([[1, 2], [3]], [[[1], [2]], [[3], [4, 5]]]):
        with pytest.raises(ValueError) as theirs:
            torch.tensor(data)
        with pytest.raises(ValueError) as ours:
            tapegrad.tensor(data)
        assert str(ours.value) == str(theirs.value)


# -- grad_fn names -------------------------------------------------------------------

def _linear(lib):
    return tapegrad.linalg.linear if lib is tapegrad else torch.nn.functional.linear


@pytest.mark.parametrize("make, name", [
    (lambda lib, x, w, b: _linear(lib)(x, w, b), "AddmmBackward0"),
    (lambda lib, x, w, b: _linear(lib)(x, w), "MmBackward0"),
    (lambda lib, x, w, b: x.T, "PermuteBackward0"),
    (lambda lib, x, w, b: x.t(), "TBackward0"),
    (lambda lib, x, w, b: x.reshape(-1), "ViewBackward0"),
    (lambda lib, x, w, b: x.view(3, 2), "ViewBackward0"),
    (lambda lib, x, w, b: x[0], "SelectBackward0"),
    (lambda lib, x, w, b: x[:, 1], "SelectBackward0"),
    (lambda lib, x, w, b: x[1:], "SliceBackward0"),
    (lambda lib, x, w, b: x[[0, 1]], "IndexBackward0"),
    (lambda lib, x, w, b: x[x > 0], "IndexBackward0"),
    (lambda lib, x, w, b: x[None], "UnsqueezeBackward0"),
    (lambda lib, x, w, b: x + 2, "AddBackward0"),
    (lambda lib, x, w, b: 2 - x, "RsubBackward1"),
    (lambda lib, x, w, b: x.sum(), "SumBackward0"),
    (lambda lib, x, w, b: x.mean(0), "MeanBackward1"),
    (lambda lib, x, w, b: x @ w.T, "MmBackward0"),
], ids=["linear", "linear_no_bias", "T", "t", "reshape", "view", "select", "select_col", "slice", "index",
        "mask", "none", "add", "rsub", "sum", "mean_dim", "mm"])
def test_grad_fn_names(make, name):
    names = []
    for lib in (torch, tapegrad):
        x = lib.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], requires_grad=True)
        w = lib.ones(4, 3, requires_grad=True)
        b = lib.ones(4, requires_grad=True)
        names.append(make(lib, x, w, b).grad_fn.name())
    assert names == [name, name]


@pytest.mark.parametrize("bias", [True, False])
def test_linear_values_and_gradients(bias):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in ((5, 3), (4, 3), (4,))][:3 if bias else 2]
    out = {}
    for lib in (torch, tapegrad):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
        y = _linear(lib)(*leaves)
        (y * y).sum().backward()
        out[lib] = [y] + [t.grad for t in leaves]
    for ours, theirs in zip(out[tapegrad], out[torch]):
        assert_same(ours, theirs)


# -- grad_fn identity and next_functions --------------------------------------------------

@LIBS
def test_grad_fn_is_the_same_object_on_every_access(lib):
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    assert y.grad_fn is y.grad_fn and y.grad_fn == y.grad_fn
    assert hash(y.grad_fn) == hash(y.grad_fn)
    z = y + 1
    assert z.grad_fn.next_functions[0][0] is y.grad_fn
    assert y.grad_fn.next_functions[0][0] is y.grad_fn.next_functions[0][0]
    assert (x * 3).grad_fn.next_functions[0][0] is y.grad_fn.next_functions[0][0]
    assert y.grad_fn != z.grad_fn
    assert {y.grad_fn: 1}[y.grad_fn] == 1


@LIBS
def test_accumulate_grad(lib):
    x = lib.ones(2, requires_grad=True)
    acc = (x * 2).grad_fn.next_functions[0][0]
    assert acc.next_functions == ()
    assert acc.variable is x
    assert acc.name() == "torch::autograd::AccumulateGrad"


def names(fn):
    """grad_fn's graph as nested (name, (inputs...)) with None for no node."""
    if fn is None:
        return None
    return (fn.name(), tuple(names(f) for f, _ in fn.next_functions))


def slots(fn):
    """next_functions' second entries, throughout."""
    return tuple((i, slots(f) if f is not None else None) for f, i in fn.next_functions)


GRAPHS = {
    "tutorial": lambda lib, x, w: ((x + 2) * (x + 2) * 3).mean(),
    "two_leaves": lambda lib, x, w: (x * w + w).sum(),
    "numbers": lambda lib, x, w: (x * 3, x / 2, x - 2, x + 2, 2 + x, 2 * x),
    "numbers_no_entry": lambda lib, x, w: (2 - x, x ** 2, 2 ** x, x.clamp(min=0), -x),
    "constant_tensor": lambda lib, x, w: x + lib.ones(2, 3),
    "where": lambda lib, x, w: lib.where(x > 0, x, w),
    "where_number": lambda lib, x, w: lib.where(x > 0, x, 0.0),
    "masked_fill": lambda lib, x, w: x.masked_fill(x > 0, 0.0),
    "shapes": lambda lib, x, w: x.T.reshape(-1)[1:].sum(),
    "contiguous": lambda lib, x, w: x.T.contiguous() + x.contiguous().T,
    "reductions": lambda lib, x, w: x.sum(0).exp() + w.mean(0).sin(),
    "lerp": lambda lib, x, w: lib.lerp(x, w, 0.3),
    "linear": lambda lib, x, w: _linear(lib)(x, lib.ones(4, 3, requires_grad=True),
                                             lib.ones(4, requires_grad=True)),
    "linear_frozen_weight": lambda lib, x, w: _linear(lib)(x, lib.ones(4, 3), lib.ones(4)),
    "linear_no_bias": lambda lib, x, w: _linear(lib)(x, lib.ones(4, 3, requires_grad=True)),
    "log_softmax": lambda lib, x, w: lib.log_softmax(x, 1).mean(),
}


@pytest.mark.parametrize("graph", list(GRAPHS))
def test_next_functions_as_torch(graph):
    data = np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], np.float32)
    result = {}
    for lib in (torch, tapegrad):
        x = lib.tensor(data, requires_grad=True)
        w = lib.tensor(data * 2, requires_grad=True)
        outs = GRAPHS[graph](lib, x, w)
        outs = outs if isinstance(outs, tuple) else (outs,)
        result[lib] = [(names(o.grad_fn), slots(o.grad_fn)) for o in outs]
    assert result[tapegrad] == result[torch]


def test_next_functions_reach_the_leaves():
    x = tapegrad.ones(2, requires_grad=True)
    w = tapegrad.ones(2, requires_grad=True)
    y = (x * w).sum()
    mul = y.grad_fn.next_functions[0][0]
    leaves = [f.variable for f, _ in mul.next_functions]
    assert leaves[0] is x and leaves[1] is w
