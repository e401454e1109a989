"""Every loss and option of tapegrad.nn against torch on the same inputs:
values and gradients (of the input, and of the target where torch gives
one), float64 tight and float32 loose, several shapes and all reductions;
the module forms, grad_fn names, and errors."""
import threading
import warnings

import numpy as np
import pytest
import torch

import tapegrad
from tapegrad import nn

from helpers import TOLERANCE, assert_same

pytestmark = pytest.mark.usefixtures("torch_single_threaded")


REDUCTIONS = ("mean", "sum", "none")
DTYPES = (np.float64, np.float32)
RNG = np.random.default_rng(0)


def run(fn, *arrays, dtype=np.float64, grads=(0,)):
    """fn(lib, *tensors) in both libraries; float arrays become `dtype`
    tensors, requiring grad where their position is in `grads`. Compares the
    loss and, after backward with the same upstream gradient, every grad.
    Returns our loss."""
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in map(np.asarray, arrays)]
    results = []
    for lib in (torch, tapegrad):
        leaves = [lib.tensor(a.copy(), requires_grad=i in grads) for i, a in enumerate(arrays)]
        loss = fn(lib, *leaves)
        if grads:
            upstream = np.random.default_rng(1).standard_normal(tuple(loss.shape)).astype(dtype)
            loss.backward(lib.tensor(upstream))
        results.append((loss, leaves))
    (want, theirs), (got, ours) = results
    rtol, atol = TOLERANCE[np.dtype(dtype)]
    assert_same(got, want, rtol, atol)
    for i in grads:
        assert_same(ours[i].grad, theirs[i].grad, rtol, atol, what=f"grad of argument {i}")
    return got


def probabilities(shape, low=0.02, high=0.98):
    return RNG.uniform(low, high, shape)


def classes(shape, n, ignore=None):
    t = RNG.integers(0, n, shape)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t


# -- regression losses ----------------------------------------------------------
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_regression_losses(name, shape, reduction, dtype):
    x, y = RNG.standard_normal(shape), RNG.standard_normal(shape)
    run(lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction=reduction),
        x, y, dtype=dtype, grads=(0, 1))


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_weighted(name, reduction):
    x, y, w = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4)), RNG.uniform(0, 2, (3, 4))
    run(lambda lib, a, b, c: getattr(lib.nn.functional, name)(a, b, reduction=reduction, weight=c),
        x, y, w, grads=(0, 1))


def test_mse_broadcast_warns_like_torch():
    x, y = RNG.standard_normal(3), RNG.standard_normal((3, 1))
    with pytest.warns(UserWarning, match=r"Using a target size \(tapegrad.Size\(\[3, 1\]\)\) "
                                         r"that is different to the input size"):
        got = nn.functional.mse_loss(tapegrad.tensor(x), tapegrad.tensor(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(got, torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y)))


# -- binary cross entropy ---------------------------------------------------------
@pytest.mark.parametrize("shape", [(6,), (3, 4)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(shape, reduction, dtype, weighted):
    x, y = probabilities(shape), RNG.uniform(0, 1, shape)      # soft targets too
    y.reshape(-1)[::2] = RNG.integers(0, 2, y.size)[::2]
    arrays = [x, y] + ([RNG.uniform(0.5, 2, shape[-1:])] if weighted else [])
    run(lambda lib, a, b, *w: lib.nn.functional.binary_cross_entropy(
        a, b, *w, reduction=reduction), *arrays, dtype=dtype, grads=(0, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_clamps_log_at_minus_100(dtype):
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-50, 0.5])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    got = run(lambda lib, a, b: lib.nn.functional.binary_cross_entropy(a, b, reduction="none"),
              x, y, dtype=dtype, grads=())
    assert got.tolist()[2:4] == [100.0, 100.0]
    # At x = 0 or 1 ours is the derivative of the clamped formula (0 through
    # the clamped log, 1/(1-x) or -1/x through the other); torch's fused
    # kernel gives (x - t) / max(x (1 - x), 1e-12) there: 0 or +-1e12.
    xs = tapegrad.tensor(x, dtype=tapegrad.float64, requires_grad=True)
    loss = nn.functional.binary_cross_entropy(xs, tapegrad.tensor(y, dtype=tapegrad.float64),
                                              reduction="sum")
    loss.backward()
    assert xs.grad.tolist()[:4] == [1.0, -1.0, 0.0, 0.0] and xs.grad.tolist()[5] == -2.0


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", ["plain", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_with_logits(shape, reduction, dtype, options):
    x = RNG.standard_normal(shape) * 4
    x.reshape(-1)[:3] = (0.0, 40.0, -40.0)                   # the kink and saturation
    y = RNG.uniform(0, 1, shape)
    kw = {}
    if options in ("weight", "both"):
        kw["weight"] = RNG.uniform(0.5, 2, shape[-1:])
    if options in ("pos_weight", "both"):
        kw["pos_weight"] = RNG.uniform(0.5, 3, shape[-1:])
    names = list(kw)
    run(lambda lib, a, b, *extra: lib.nn.functional.binary_cross_entropy_with_logits(
        a, b, reduction=reduction, **dict(zip(names, extra))),
        x, y, *kw.values(), dtype=dtype, grads=(0, 1))


# -- nll_loss and cross_entropy -------------------------------------------------------
SHAPES = [((7, 5), (7,)), ((5,), ()), ((4, 3, 6), (4, 6)), ((2, 4, 3, 2), (2, 3, 2))]
CLASS_OPTIONS = {"plain": {}, "weight": {"weight": True}, "ignore": {"ignore_index": 1},
                 "ignore-default": {"ignore_index": -100},
                 "weight-ignore": {"weight": True, "ignore_index": 2}}


def class_case(shapes, options):
    (xs, ts), n = shapes, shapes[0][0 if len(shapes[0]) == 1 else 1]
    ignore = options.get("ignore_index")
    target = classes(ts, n, ignore if ts else None)
    weight = RNG.uniform(0.5, 2, n) if options.get("weight") else None
    kw = {"ignore_index": ignore} if ignore is not None else {}
    return RNG.standard_normal(xs) * 2, target, weight, kw


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("options", CLASS_OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_class_indices(shapes, options, reduction, smoothing):
    x, target, weight, kw = class_case(shapes, CLASS_OPTIONS[options])
    for dtype in DTYPES:
        arrays = [x, target] + ([weight] if weight is not None else [])
        run(lambda lib, a, t, *w: lib.nn.functional.cross_entropy(
            a, t, *w, reduction=reduction, label_smoothing=smoothing, **kw), *arrays, dtype=dtype)


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("options", CLASS_OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(shapes, options, reduction):
    x, target, weight, kw = class_case(shapes, CLASS_OPTIONS[options])
    logp = x - np.log(np.exp(x).sum(axis=0 if x.ndim == 1 else 1, keepdims=True))
    for dtype in DTYPES:
        arrays = [logp, target] + ([weight] if weight is not None else [])
        got = run(lambda lib, a, t, *w: lib.nn.functional.nll_loss(
            a, t, *w, reduction=reduction, **kw), *arrays, dtype=dtype)
        if x.ndim <= 2 or reduction != "none":
            assert got.grad_fn.name() == "NllLossBackward0"


@pytest.mark.parametrize("shape", [(6, 4), (4,), (3, 4, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"weight": True},
                                     {"weight": True, "label_smoothing": 0.3}])
def test_cross_entropy_probability_targets(shape, reduction, options):
    x = RNG.standard_normal(shape)
    axis = 0 if len(shape) == 1 else 1
    target = RNG.uniform(0, 1, shape)
    target /= target.sum(axis=axis, keepdims=True)
    kw = {k: v for k, v in options.items() if k != "weight"}
    weight = [RNG.uniform(0.5, 2, shape[axis])] if options.get("weight") else []
    for dtype in DTYPES:
        run(lambda lib, a, t, *w: lib.nn.functional.cross_entropy(
            a, t, *w, reduction=reduction, **kw), x, target, *weight, dtype=dtype, grads=(0, 1))


def test_cross_entropy_in_several_threads_each_on_its_own_tape():
    """Unweighted, the loss keeps one tensor of class weights per thread (a
    thread records on its own tape): steps in three threads at once, twice
    each, get torch's gradients."""
    x, t = RNG.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    leaf = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(leaf, torch.tensor(t)).backward()
    results, start = [], threading.Barrier(3)

    def steps():
        start.wait()
        for _ in range(2):
            ours = tapegrad.tensor(x, requires_grad=True)
            nn.functional.cross_entropy(ours, tapegrad.tensor(t)).backward()
            results.append(ours.grad.numpy())
    threads = [threading.Thread(target=steps) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    for got in results:
        np.testing.assert_allclose(got, leaf.grad.numpy(), rtol=1e-12)


def test_cross_entropy_all_targets_ignored_is_nan_like_torch():
    x, t = RNG.standard_normal((3, 4)), np.full(3, -100)
    got = nn.functional.cross_entropy(tapegrad.tensor(x), tapegrad.tensor(t))
    want = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    assert np.isnan(got.item()) and np.isnan(want.item())


# -- the module forms pass their options through ---------------------------------------
MODULES = [
    ("MSELoss", dict(reduction="sum"), "regression"),
    ("L1Loss", dict(reduction="none"), "regression"),
    ("BCELoss", dict(weight=True), "probabilities"),
    ("BCEWithLogitsLoss", dict(weight=True, pos_weight=True, reduction="sum"), "regression"),
    ("NLLLoss", dict(weight=True, ignore_index=0), "classes"),
    ("CrossEntropyLoss", dict(weight=True, ignore_index=1, label_smoothing=0.1,
                              reduction="sum"), "classes"),
]


@pytest.mark.parametrize("name,options,kind", MODULES)
def test_loss_modules(name, options, kind):
    x = probabilities((5, 4)) if kind == "probabilities" else RNG.standard_normal((5, 4))
    y = classes((5,), 4) if kind == "classes" else RNG.uniform(0, 1, (5, 4))
    extra = {k: RNG.uniform(0.5, 2, 4) for k, v in options.items() if v is True}
    plain = {k: v for k, v in options.items() if v is not True}

    def fn(lib, a, b, *tensors):
        module = getattr(lib.nn, name)(**plain, **dict(zip(extra, tensors)))
        assert list(module.state_dict()) == list(extra)          # class weights are buffers
        return module(a, b)
    run(fn, x, y, *extra.values())


def test_grad_fn_names():
    """Where torch runs a fused loss kernel, ours is composed from ops and
    the grad_fn is the last op's; nll_loss and cross_entropy match torch."""
    x, p = tapegrad.randn(3, 4, requires_grad=True), tapegrad.rand(3, 4, requires_grad=True)
    y, t = tapegrad.rand(3, 4), tapegrad.tensor([0, 1, 3])
    F = nn.functional
    names = {
        "NllLossBackward0": [F.cross_entropy(x, t), F.nll_loss(x.log_softmax(1), t),
                             F.cross_entropy(x, t, reduction="none")],
        "MeanBackward0": [F.mse_loss(x, y), F.l1_loss(x, y), F.binary_cross_entropy(p, y),
                          F.binary_cross_entropy_with_logits(x, y)],
        "SumBackward0": [F.mse_loss(x, y, reduction="sum")],
        "AddBackward0": [F.cross_entropy(x, t, label_smoothing=0.1)],     # as in torch
    }
    for name, losses in names.items():
        assert [loss.grad_fn.name() for loss in losses] == [name] * len(losses)


# -- errors ------------------------------------------------------------------------
def test_errors_match_torch():
    F = nn.functional
    cases = [
        (lambda lib: lib.nn.functional.nll_loss(lib.zeros(3, 4), lib.tensor([0, 1, 7])),
         IndexError, "Target 7 is out of bounds."),
        (lambda lib: lib.nn.functional.nll_loss(lib.zeros(3, 4), lib.tensor([0, -1, 2])),
         IndexError, "Target -1 is out of bounds."),
        (lambda lib: lib.nn.functional.nll_loss(lib.zeros(3, 4), lib.tensor([0, -100, 9])),
         IndexError, "Target 9 is out of bounds."),        # past an ignored one
        (lambda lib: lib.nn.functional.cross_entropy(lib.zeros(3, 4), lib.tensor([0, 1])),
         ValueError, "Expected input batch_size (3) to match target batch_size (2)."),
        (lambda lib: lib.nn.functional.cross_entropy(lib.zeros(3, 4), lib.tensor([True] * 3)),
         RuntimeError, "expected target dtype to be Long or Byte, but got Bool"),
        (lambda lib: lib.nn.functional.binary_cross_entropy(lib.tensor([1.5]), lib.tensor([1.0])),
         RuntimeError, "all elements of input should be between 0 and 1"),
        (lambda lib: lib.nn.functional.binary_cross_entropy(lib.tensor([0.5]), lib.tensor([2.0])),
         RuntimeError, "all elements of target should be between 0 and 1"),
        (lambda lib: lib.nn.functional.mse_loss(lib.zeros(2), lib.zeros(2), reduction="avg"),
         ValueError, "avg is not a valid value for reduction"),
        (lambda lib: lib.nn.functional.nll_loss(lib.zeros(3, 4), lib.tensor([0, 1, 2]),
                                                lib.ones(3)),
         RuntimeError, "weight tensor should be defined either for all 4 classes or no classes "
                       "but got weight tensor of shape: [3]"),
        (lambda lib: lib.nn.functional.binary_cross_entropy_with_logits(lib.zeros(2),
                                                                        lib.zeros(3)),
         ValueError, "Target size ({size}([3])) must be the same as input size ({size}([2]))"),
    ]
    for fn, error, message in cases:
        for lib in (torch, tapegrad):
            with pytest.raises(error) as info:
                fn(lib)
            size = f"{lib.__name__}.Size"
            assert message.format(size=size) in str(info.value)
    assert F.cross_entropy is nn.functional.cross_entropy


def test_legacy_size_average_and_reduce():
    x, y = RNG.standard_normal(4), RNG.standard_normal(4)
    for kw in (dict(size_average=False), dict(reduce=False), dict(size_average=True, reduce=True)):
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            got = nn.MSELoss(**kw)(tapegrad.tensor(x), tapegrad.tensor(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_same(got, torch.nn.MSELoss(**kw)(torch.tensor(x), torch.tensor(y)))
