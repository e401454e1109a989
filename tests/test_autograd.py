"""Autograd basics against PyTorch: the tutorial walkthrough, requires_grad,
is_leaf, .grad, grad_fn names per call form, backward's arguments,
accumulation, grad modes, detach, and the errors backward raises (same
exception types as torch; afterwards a fresh computation still works)."""

import numpy as np
import pytest
import torch

import tapegrad
from helpers import assert_same

LIBS = pytest.mark.parametrize("lib", [torch, tapegrad], ids=["torch", "tapegrad"])


# -- the tutorial ---------------------------------------------------------------

def test_tutorial_walkthrough():
    x = tapegrad.ones(2, 2, requires_grad=True)
    y = x + 2
    assert repr(y) == "tensor([[3., 3.],\n        [3., 3.]], grad_fn=<AddBackward0>)"
    assert y.grad_fn.name() == "AddBackward0"
    z = y * y * 3
    out = z.mean()
    assert z.grad_fn.name() == "MulBackward0"
    assert repr(out) == "tensor(27., grad_fn=<MeanBackward0>)"
    out.backward()
    assert x.grad.tolist() == [[4.5, 4.5], [4.5, 4.5]]
    assert repr(x.grad) == "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"


def test_tutorial_walkthrough_prints_like_torch():
    printed = {}
    for lib in (torch, tapegrad):
        x = lib.ones(2, 2, requires_grad=True)
        y = x + 2
        z = y * y * 3
        out = z.mean()
        out.backward()
        printed[lib] = [repr(t) for t in (x, y, z, out, x.grad)]
    assert printed[tapegrad] == printed[torch]


def test_tutorial_vector_jacobian_product():
    # x * 2 doubled until its norm passes 1000: a different graph per input
    for seed in range(3):
        data = np.random.default_rng(seed).standard_normal(3).astype(np.float32)
        grads = {}
        for lib in (torch, tapegrad):
            x = lib.tensor(data, requires_grad=True)
            y = x * 2
            while y.data.norm() < 1000:
                y = y * 2
            y.backward(lib.tensor([0.1, 1.0, 0.0001]))
            grads[lib] = x.grad
        assert_same(grads[tapegrad], grads[torch])


# -- requires_grad, is_leaf ---------------------------------------------------------

@LIBS
def test_requires_grad_attribute_and_setter(lib):
    x = lib.ones(3)
    assert x.requires_grad is False and x.is_leaf is True
    x.requires_grad = True
    assert x.requires_grad is True and x.is_leaf is True
    y = (x * x).sum()
    assert y.requires_grad is True and y.is_leaf is False
    y.backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    x.requires_grad = False
    assert (x * 2).requires_grad is False and (x * 2).grad_fn is None


@LIBS
def test_requires_grad_method(lib):
    x = lib.zeros(2)
    assert x.requires_grad_() is x
    assert x.requires_grad is True
    assert x.requires_grad_(False) is x and x.requires_grad is False
    assert lib.ones(2, requires_grad=True).requires_grad is True
    assert lib.tensor([1.0], requires_grad=True).requires_grad is True


@LIBS
def test_requires_grad_after_use_affects_only_later_ops(lib):
    x = lib.ones(2)
    before = x * 3
    x.requires_grad_()
    after = x * 3
    assert before.requires_grad is False and after.requires_grad is True
    after.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


@LIBS
def test_is_leaf(lib):
    x = lib.ones(2, requires_grad=True)
    c = lib.ones(2)
    assert [t.is_leaf for t in (x, c, x * 2, c * 2, (x * 2).detach(), x.clone())] == \
        [True, True, False, True, True, False]
    with lib.no_grad():
        assert (x * 2).is_leaf is True


@LIBS
def test_requires_grad_errors(lib):
    with pytest.raises(RuntimeError):
        lib.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError):
        lib.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError):
        lib.tensor([True]).requires_grad = True
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError):
        y.requires_grad = False          # only leaves may drop requires_grad
    y.requires_grad_(True)               # a no-op on a non-leaf that requires grad
    assert y.requires_grad and not y.is_leaf


# -- .grad -------------------------------------------------------------------------

@LIBS
def test_grad_starts_none_and_is_settable(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    assert x.grad is None
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    x.grad = None
    assert x.grad is None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    x.grad = lib.tensor([10.0, 20.0])
    (x * 3).sum().backward()
    assert x.grad.tolist() == [13.0, 23.0]


@LIBS
def test_grad_assignment_of_wrong_shape_or_dtype(lib):
    x = lib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        x.grad = lib.zeros(3)
    with pytest.raises(RuntimeError):
        x.grad = lib.zeros(2, dtype=lib.float64)
    assert x.grad is None


@LIBS
def test_grad_of_non_leaf_warns_and_is_none(lib):
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    with pytest.warns(UserWarning, match="not a leaf"):
        assert y.grad is None


@LIBS
def test_retain_grad(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    assert y.retains_grad is True
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [18.0, 36.0]


@LIBS
def test_grad_zero_and_accumulation(lib):
    x = lib.tensor([1.0, -2.0], requires_grad=True)
    (x * x).sum().backward()
    first = x.grad
    (x * 5).sum().backward()                       # accumulates, into the same tensor
    assert x.grad is first
    assert x.grad.tolist() == [7.0, 1.0]
    x.grad.zero_()
    assert x.grad.tolist() == [0.0, 0.0]
    (x ** 3).sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]


def test_accumulation_matches_torch_over_many_backward_calls():
    data = np.random.default_rng(0).standard_normal((3, 4))
    grads = {}
    for lib in (torch, tapegrad):
        x = lib.tensor(data, requires_grad=True)
        w = lib.tensor(data[0] * 0.5, requires_grad=True)
        for step in range(5):
            loss = ((x * w).tanh() * (step + 1)).mean() + (w ** 2).sum() / (step + 1)
            loss.backward()
            if step == 2:
                x.grad.zero_()
        grads[lib] = (x.grad, w.grad)
    for mine, ref in zip(grads[tapegrad], grads[torch]):
        assert_same(mine, ref)


# -- clone ---------------------------------------------------------------------------

@LIBS
def test_clone(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0" and not c.is_leaf
    (c * c).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    plain = lib.tensor([1.0, 2.0])
    copy = plain.clone()
    copy.add_(1)                                 # its own memory
    assert plain.tolist() == [1.0, 2.0] and copy.tolist() == [2.0, 3.0]
    assert copy.grad_fn is None and copy.is_leaf


# -- grad_fn names per call form --------------------------------------------------

GRAD_FN = {
    "x + y": ("AddBackward0", lambda lib, x, y: x + y),
    "x + 2": ("AddBackward0", lambda lib, x, y: x + 2),
    "2 + x": ("AddBackward0", lambda lib, x, y: 2 + x),
    "x - y": ("SubBackward0", lambda lib, x, y: x - y),
    "x - 2": ("SubBackward0", lambda lib, x, y: x - 2),
    "2 - x": ("RsubBackward1", lambda lib, x, y: 2 - x),
    "rsub(x, 2)": ("RsubBackward1", lambda lib, x, y: lib.rsub(x, 2)),
    "x * y": ("MulBackward0", lambda lib, x, y: x * y),
    "x * 2": ("MulBackward0", lambda lib, x, y: x * 2),
    "2 * x": ("MulBackward0", lambda lib, x, y: 2 * x),
    "x / y": ("DivBackward0", lambda lib, x, y: x / y),
    "x / 2": ("DivBackward0", lambda lib, x, y: x / 2),
    "2 / x": ("MulBackward0", lambda lib, x, y: 2 / x),
    "x ** 2": ("PowBackward0", lambda lib, x, y: x ** 2),
    "x ** y": ("PowBackward1", lambda lib, x, y: x ** y),
    "2 ** x": ("PowBackward2", lambda lib, x, y: 2 ** x),
    "pow(2, x)": ("PowBackward2", lambda lib, x, y: lib.pow(2, x)),
    "-x": ("NegBackward0", lambda lib, x, y: -x),
    "exp": ("ExpBackward0", lambda lib, x, y: x.exp()),
    "log": ("LogBackward0", lambda lib, x, y: x.log()),
    "sqrt": ("SqrtBackward0", lambda lib, x, y: x.sqrt()),
    "sin": ("SinBackward0", lambda lib, x, y: x.sin()),
    "cos": ("CosBackward0", lambda lib, x, y: x.cos()),
    "tan": ("TanBackward0", lambda lib, x, y: x.tan()),
    "tanh": ("TanhBackward0", lambda lib, x, y: x.tanh()),
    "sigmoid": ("SigmoidBackward0", lambda lib, x, y: x.sigmoid()),
    "relu": ("ReluBackward0", lambda lib, x, y: x.relu()),
    "abs": ("AbsBackward0", lambda lib, x, y: x.abs()),
    "clamp(min=0)": ("ClampBackward1", lambda lib, x, y: x.clamp(min=0)),
    "clamp(max=0)": ("ClampBackward1", lambda lib, x, y: x.clamp(max=0)),
    "clamp(-1, 1)": ("ClampBackward1", lambda lib, x, y: x.clamp(-1, 1)),
    "clone": ("CloneBackward0", lambda lib, x, y: x.clone()),
    "double()": ("ToCopyBackward0", lambda lib, x, y: x.double()),
    "to(float64)": ("ToCopyBackward0", lambda lib, x, y: x.to(lib.float64)),
    "x.sum()": ("SumBackward0", lambda lib, x, y: x.sum()),
    "x.sum(dim)": ("SumBackward1", lambda lib, x, y: x.sum(0)),
    "x.sum(None)": ("SumBackward1", lambda lib, x, y: x.sum(None)),
    "x.sum((0,), keepdim=True)": ("SumBackward1", lambda lib, x, y: x.sum((0,), keepdim=True)),
    "x.mean()": ("MeanBackward0", lambda lib, x, y: x.mean()),
    "x.mean(dim)": ("MeanBackward1", lambda lib, x, y: x.mean(-1)),
    "x.mean(dim=None)": ("MeanBackward1", lambda lib, x, y: x.mean(dim=None)),
    "x.sum(dtype=float64)": ("SumBackward0", lambda lib, x, y: x.sum(dtype=lib.float64)),
    "x * y64 (float32 * float64)": ("MulBackward0", lambda lib, x, y: x * y.double()),
}


@pytest.mark.parametrize("form", GRAD_FN)
def test_grad_fn_names(form):
    expected, fn = GRAD_FN[form]
    names = []
    for lib in (torch, tapegrad):
        x = lib.tensor([0.5, 1.5], requires_grad=True)
        y = lib.tensor([2.0, 0.5], requires_grad=True)
        out = fn(lib, x, y)
        names.append(out.grad_fn.name())
        assert type(out.grad_fn).__name__ == expected
    assert names == [expected, expected]


@LIBS
def test_next_functions_reach_the_leaves(lib):
    x = lib.tensor([1.0], requires_grad=True)
    c = lib.tensor([2.0])
    y = (x.exp() * x + c).sin()
    (add, _), = y.grad_fn.next_functions
    assert add.name() == "AddBackward0"
    (mul, _), (none, _) = add.next_functions
    assert mul.name() == "MulBackward0" and none is None
    (exp, _), (acc, _) = mul.next_functions
    assert exp.name() == "ExpBackward0"
    assert acc.name() == "torch::autograd::AccumulateGrad" and acc.variable is x
    assert exp.next_functions[0][0].variable is x


# -- backward's arguments ----------------------------------------------------------

@LIBS
def test_backward_keyword_defaults(lib):
    x = lib.tensor(3.0, requires_grad=True)
    (x * x).backward(gradient=None, retain_graph=False)
    assert x.grad.item() == 6.0


@LIBS
def test_backward_with_gradient(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(gradient=lib.tensor([1.0, 0.1, 0.01]))
    assert np.allclose(x.grad.tolist(), [2.0, 0.4, 0.06])


@LIBS
def test_backward_on_a_leaf(lib):
    x = lib.tensor(2.0, requires_grad=True)
    x.backward()
    x.backward()
    assert x.grad.item() == 2.0
    v = lib.tensor([1.0, 2.0], requires_grad=True)
    v.backward(lib.tensor([3.0, 4.0]))
    assert v.grad.tolist() == [3.0, 4.0]


@LIBS
def test_retain_graph_allows_a_second_backward(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    first = x.grad.tolist()
    y.backward()                                     # the graph was kept
    assert np.allclose(x.grad.tolist(), [2 * g for g in first])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()                                 # now it was freed


@LIBS
def test_shared_subgraph_backward_twice(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    a, b = h.sum(), (h * 3).sum()
    a.backward(retain_graph=True)
    b.backward()
    assert x.grad.tolist() == [8.0, 16.0]


@LIBS
def test_mixed_dtype_leaf_grads_keep_their_dtype(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)                      # float32
    b = lib.tensor([3.0, 4.0], dtype=lib.float64, requires_grad=True)
    y = a * b
    assert y.dtype == lib.float64
    y.sum().backward()
    assert a.grad.dtype == lib.float32 and a.grad.tolist() == [3.0, 4.0]
    assert b.grad.dtype == lib.float64 and b.grad.tolist() == [1.0, 2.0]
    c = lib.tensor(2.0, dtype=lib.float64, requires_grad=True)           # 0-d float64
    z = a * c
    assert z.dtype == lib.float32
    z.sum().backward()
    assert c.grad.dtype == lib.float64 and c.grad.item() == 3.0


# -- grad modes ------------------------------------------------------------------------

@LIBS
def test_no_grad_and_enable_grad_context_managers(lib):
    x = lib.ones(2, requires_grad=True)
    with lib.no_grad():
        assert lib.is_grad_enabled() is False
        y = x * 2
        with lib.enable_grad():
            assert lib.is_grad_enabled() is True
            z = x * 2
        w = x * 2
    assert lib.is_grad_enabled() is True
    assert (y.requires_grad, z.requires_grad, w.requires_grad) == (False, True, False)
    assert y.grad_fn is None and z.grad_fn.name() == "MulBackward0"


@LIBS
def test_grad_mode_decorators(lib):
    @lib.no_grad()
    def off(x):
        return x * 2

    @lib.no_grad
    def off_bare(x):
        return x * 2

    @lib.enable_grad()
    def on(x):
        return x * 2

    @lib.set_grad_enabled(False)
    def off_too(x):
        return x * 2

    x = lib.ones(2, requires_grad=True)
    assert lib.is_grad_enabled() is True            # defining them switched nothing
    assert off(x).requires_grad is False
    assert off_bare(x).requires_grad is False
    assert off_too(x).requires_grad is False
    with lib.no_grad():
        assert on(x).requires_grad is True
        assert lib.is_grad_enabled() is False
    assert off.__name__ == "off"
    assert (x * 2).requires_grad is True


@LIBS
def test_set_grad_enabled(lib):
    x = lib.ones(2, requires_grad=True)
    with lib.set_grad_enabled(False):
        assert (x * 2).requires_grad is False
        with lib.set_grad_enabled(True):
            assert (x * 2).requires_grad is True
        assert lib.is_grad_enabled() is False
    assert lib.is_grad_enabled() is True
    lib.set_grad_enabled(False)                      # a plain call switches
    try:
        assert (x * 2).requires_grad is False
    finally:
        lib.set_grad_enabled(True)
    assert (x * 2).requires_grad is True


@LIBS
def test_grad_mode_restored_after_an_exception(lib):
    with pytest.raises(ValueError):
        with lib.no_grad():
            raise ValueError
    assert lib.is_grad_enabled() is True

    @lib.no_grad()
    def fails():
        raise KeyError

    with pytest.raises(KeyError):
        fails()
    assert lib.is_grad_enabled() is True


@LIBS
def test_updates_under_no_grad_are_seen_by_later_graphs(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with lib.no_grad():
        w -= 0.25 * w.grad
    assert w.is_leaf and w.requires_grad
    w.grad = None
    (w * w).sum().backward()
    assert w.grad.tolist() == [1.0, 2.0]


# -- detach --------------------------------------------------------------------------

@LIBS
def test_detach(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert d.requires_grad is False and d.is_leaf is True and d.grad_fn is None
    assert d.tolist() == [3.0, 6.0]
    (d * x).sum().backward()                         # no gradient flows through d
    assert x.grad.tolist() == [3.0, 6.0]


@LIBS
def test_detach_shares_memory(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    d.add_(1)
    assert x.tolist() == [2.0, 3.0]
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 6.0]


@LIBS
def test_detach_in_place(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.detach_() is y
    assert y.requires_grad is False and y.is_leaf is True and y.grad_fn is None
    assert y.tolist() == [2.0, 4.0]
    z = (y * x).sum()
    z.backward()
    assert x.grad.tolist() == [2.0, 4.0]


@LIBS
def test_data_is_detached(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    assert x.data.requires_grad is False and x.data.tolist() == [1.0, 2.0]


# -- errors, and a fresh computation afterwards -------------------------------------

def _fresh(lib, x):
    """x.grad after a fresh backward, to compare with torch after the same error."""
    x.grad = None
    ((x * x).exp() * 2 - x.sin()).sum().backward()
    return x.grad


def _error_then_fresh(make_error):
    """Run make_error(lib, x) in both libraries: the same exception type, the
    same x.grad left behind, and the same gradient from a fresh computation."""
    raised, left, fresh = {}, {}, {}
    for lib in (torch, tapegrad):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        with pytest.raises(Exception) as info:
            make_error(lib, x)
        raised[lib] = info.type
        left[lib] = None if x.grad is None else x.grad.clone()
        fresh[lib] = _fresh(lib, x)
    assert raised[tapegrad] is raised[torch] is RuntimeError
    assert (left[tapegrad] is None) == (left[torch] is None)
    if left[torch] is not None:
        assert_same(left[tapegrad], left[torch])
    assert_same(fresh[tapegrad], fresh[torch])
    return raised[torch]


def test_backward_of_non_scalar_without_gradient():
    def error(lib, x):
        (x * 2).backward()
    _error_then_fresh(error)


def test_backward_on_tensor_that_does_not_require_grad():
    def error(lib, x):
        (x.detach() * 2).sum().backward()
    _error_then_fresh(error)

    def on_leaf(lib, x):
        lib.ones(3).sum().backward()
    _error_then_fresh(on_leaf)


def test_backward_under_no_grad_result():
    def error(lib, x):
        with lib.no_grad():
            y = (x * 2).sum()
        y.backward()
    _error_then_fresh(error)


@pytest.mark.parametrize("shape", [(2,), (1, 3), (3, 1), ()], ids=str)
def test_backward_with_wrong_gradient_shape(shape):
    def error(lib, x):
        (x * 2).backward(lib.ones(shape))
    _error_then_fresh(error)


def test_backward_of_scalar_with_wrong_gradient_shape():
    def error(lib, x):
        (x * 2).sum().backward(lib.ones(1))
    _error_then_fresh(error)


# Second backward without retain_graph: torch raises only when a freed
# record's rule needs a saved tensor, and so must tapegrad.
SECOND_BACKWARD = {
    "x * x": lambda lib, x: (x * x).sum(),
    "x * y": lambda lib, x: (x * lib.tensor([1.0, 2.0, 3.0])).sum(),
    "x / y": lambda lib, x: (x / lib.tensor([1.0, 2.0, 3.0])).sum(),
    "x ** 2": lambda lib, x: (x ** 2).sum(),
    "2 ** x": lambda lib, x: (2 ** x).sum(),
    "2 / x": lambda lib, x: (2 / x).sum(),
    "exp": lambda lib, x: x.exp().sum(),
    "log": lambda lib, x: x.abs().log().sum(),
    "sqrt": lambda lib, x: x.abs().sqrt().sum(),
    "sin": lambda lib, x: x.sin().sum(),
    "cos": lambda lib, x: x.cos().sum(),
    "tan": lambda lib, x: x.tan().sum(),
    "tanh": lambda lib, x: x.tanh().sum(),
    "sigmoid": lambda lib, x: x.sigmoid().sum(),
    "relu": lambda lib, x: x.relu().sum(),
    "abs": lambda lib, x: x.abs().sum(),
    "clamp": lambda lib, x: x.clamp(min=0).sum(),
    "tutorial": lambda lib, x: ((x + 2) * (x + 2) * 3).mean(),
    "deep": lambda lib, x: (x + 1).neg().exp().mul(3).sum(),
    # no saved tensors: torch sweeps these again, accumulating
    "x + x": lambda lib, x: (x + x).sum(),
    "x - 2": lambda lib, x: (x - 2).sum(),
    "2 - x": lambda lib, x: (2 - x).sum(),
    "x + 1": lambda lib, x: (x + 1).sum(),
    "-x": lambda lib, x: (-x).mean(),
    "sum": lambda lib, x: x.sum(),
    "sum(dim)": lambda lib, x: x.sum(0),
    "mean": lambda lib, x: x.mean(),
    "clone": lambda lib, x: x.clone().sum(),
    "double()": lambda lib, x: x.double().sum(),
    # torch's MulBackward0 / DivBackward0 save the wrapped scalar: these raise
    "x * 2": lambda lib, x: (x * 2).sum(),
    "x / 2": lambda lib, x: (x / 2).sum(),
}


def _second_backward(expression):
    outcome = {}
    for lib in (torch, tapegrad):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = expression(lib, x)
        y.backward()
        try:
            y.backward()
            outcome[lib] = ("accumulated", x.grad.clone())
        except RuntimeError as e:
            assert "backward through the graph a second time" in str(e)
            outcome[lib] = ("raised", x.grad.clone())     # the first gradient, untouched
        outcome[lib] += (_fresh(lib, x),)
    assert outcome[tapegrad][0] == outcome[torch][0]
    assert_same(outcome[tapegrad][1], outcome[torch][1])
    assert_same(outcome[tapegrad][2], outcome[torch][2])


@pytest.mark.parametrize("expression", SECOND_BACKWARD)
def test_second_backward_raises_where_torch_does(expression):
    _second_backward(SECOND_BACKWARD[expression])


def test_second_backward_error_leaves_the_graph_usable_for_new_work():
    # after the error, the same leaves join a new graph and an older retained one
    grads = {}
    for lib in (torch, tapegrad):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        kept = (x.sin() * x).sum()
        lost = (x.exp() * x).sum()
        lost.backward()
        with pytest.raises(RuntimeError):
            lost.backward()
        kept.backward(retain_graph=True)
        kept.backward()
        (x.tanh() ** 2).sum().backward()
        grads[lib] = x.grad
    assert_same(grads[tapegrad], grads[torch])
