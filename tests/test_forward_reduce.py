"""The compiled reduction forwards (kernels/forward_reduce.py) against the
NumPy forwards of the op table, on random shapes, dims and both dtypes,
called through the ops' forward entry points (those eager code and replay
call)."""
import itertools
import math

import numpy as np
import pytest

from tapegrad import eager
from tapegrad.forward import KEEPDIM, _row
from tapegrad.kernels.replay import call_forward
from tapegrad.optable import CODE, OPS

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")      # NumPy warns of its NaNs

SHAPES = [(), (1,), (5,), (0,), (3, 4), (4, 0), (2, 3, 4), (2, 0, 3), (1, 5, 2)]
RTOL = {np.float32: 1e-6, np.float64: 1e-12}
NO_TARGETS = np.zeros(0, np.int64)
SENTINEL = 1e30                        # in Y before a call: every element must be overwritten


def call(name, shape, a, k0=0.0, k1=0.0, ki=0, b=None, targets=NO_TARGETS):
    """Y of the given shape from op `name`'s forward kernel on input a (and b, targets)."""
    y = np.full(shape, SENTINEL, a.dtype)
    b = np.zeros(0, a.dtype) if b is None else b
    code, dt = CODE[name], int(a.dtype == np.float64)
    entry = eager._ENTRY[dt][code] or eager._compile(code, dt)
    call_forward(entry, y.reshape(-1), np.ascontiguousarray(a).reshape(-1), b, targets,
                 float(k0), float(k1), int(ki), _row(y.shape), _row(a.shape), _row(b.shape),
                 _row(targets.shape))
    return y


def check(got, want, dtype):
    want = np.asarray(want)
    assert got.shape == want.shape and want.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype], equal_nan=True)


def data(shape, dtype, seed, low=-2.0):
    """Values of size about 1: errors are relative to 1 where a result cancels."""
    return np.random.default_rng(seed).uniform(low, 2.0, shape).astype(dtype)


def reductions():
    """(shape, ki) for every set of dims of every shape, with and without KEEPDIM."""
    for shape in SHAPES:
        for dims in itertools.product((0, 1), repeat=len(shape)):
            mask = sum(bit << d for d, bit in enumerate(dims))
            yield shape, mask
            yield shape, mask | KEEPDIM


def reduces_nothing(shape, ki):
    """An empty group with something to put it in: max and min raise first."""
    return any(ki >> d & 1 and n == 0 for d, n in enumerate(shape)) and \
        all(n for d, n in enumerate(shape) if not ki >> d & 1)


REDUCTIONS = [("sum", "sum_dim", 0.0, 0.0, 0.5), ("mean", "mean_dim", 0.0, 0.0, 0.5),
              ("max", "amax", 0.0, 0.0, -2.0), ("min", "amin", 0.0, 0.0, -2.0),
              ("prod", "prod", 0.0, 0.0, -2.0),
              ("var", "var", 1.0, 0.0, -2.0), ("var", "var", 0.0, 0.0, -2.0),
              ("var", "std", 1.0, 1.0, -2.0), ("var", "var", 3.0, 0.0, -2.0),
              ("norm", "norm", np.inf, 0.0, -2.0), ("norm", "norm", 1.0, 0.0, -2.0),
              ("norm", "norm", 2.0, 0.0, -2.0), ("norm", "norm", 3.0, 0.0, -2.0),
              ("norm", "norm", 0.5, 0.0, -2.0), ("logsumexp", "logsumexp", 0.0, 0.0, -2.0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, op, k0, k1, low", REDUCTIONS)
def test_reductions(name, op, k0, k1, low, dtype):
    """Sums draw from [0.5, 2): a sum that cancels differs by its order."""
    forward = OPS[CODE[op]].forward
    for seed, (shape, ki) in enumerate(reductions()):
        if name in ("max", "min") and reduces_nothing(shape, ki):
            continue
        a = data(shape, dtype, seed, low)
        want = forward(a, k0, k1, ki)
        check(call(name, np.shape(want), a, k0, k1, ki), want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "cumsum"])
def test_along_a_dim(name, dtype):
    forward = OPS[CODE[name]].forward
    for seed, shape in enumerate(SHAPES):
        for d in range(max(len(shape), 1)):
            a = data(shape, dtype, seed, 0.5 if name == "cumsum" else -2.0)
            want = forward(a, 0.0, 0.0, d).reshape(shape)      # np.cumsum makes a 0-d input 1-d
            check(call(name, shape, a, ki=d), want, dtype)


NONFINITE = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 1.0, -np.inf], [np.nan, 1.0, 2.0],
                      [np.inf, np.inf, 0.0], [-np.inf, 1.0, 2.0], [1.0, 2.0, 3.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_infinities_and_nan(dtype):
    """NaN wins in max, min and logsumexp; -inf lanes of softmax give NaN, as in NumPy."""
    a = NONFINITE.astype(dtype)
    for name, op, k0 in [("max", "amax", 0.0), ("min", "amin", 0.0), ("sum", "sum_dim", 0.0),
                         ("logsumexp", "logsumexp", 0.0), ("norm", "norm", np.inf),
                         ("norm", "norm", 2.0), ("var", "var", 1.0), ("prod", "prod", 0.0)]:
        for ki in (1, 2, 3):
            want = OPS[CODE[op]].forward(a, k0, 0.0, ki)
            check(call(name, np.shape(want), a, k0, ki=ki), want, dtype)
    for name in ("softmax", "log_softmax", "cumsum"):
        for d in (0, 1):
            check(call(name, a.shape, a, ki=d), OPS[CODE[name]].forward(a, 0.0, 0.0, d), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sum_of_everything_in_lanes(dtype):
    """x.sum() runs in vector lanes (forward_reduce._total): its float64 sum
    is as close to the exact sum as NumPy's pairwise one, the same on every
    call, and inf and NaN come out as they would in order."""
    a = data((100_003,), dtype, 7)
    exact = math.fsum(a.astype(np.float64))
    got = call("sum", (), a)
    assert abs(float(got) - exact) <= 1e-10 * np.abs(a).sum() and got.dtype == dtype
    assert call("sum", (), a).tobytes() == got.tobytes()
    assert float(call("mean", (), a)) == pytest.approx(exact / a.size, rel=RTOL[dtype])
    for bad, want in (([np.inf], np.inf), ([np.inf, -np.inf], np.nan), ([np.nan, np.inf], np.nan)):
        b = a.copy()
        b[[17, 50_001][:len(bad)]] = bad
        check(call("sum", (), b), np.array(want, dtype), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_loss(dtype):
    """Targets of the ignored class (k1, also a real class) count 0; a -inf
    log-probability there still gives NaN."""
    forward = OPS[CODE["nll_loss"]].forward
    rng = np.random.default_rng(0)
    for rows, classes, k1, k0, ki in itertools.product((1, 4, 7), (1, 3), (-100.0, 0.0),
                                                       (1.0, 0.25), (0, 1)):
        logp = np.log(rng.uniform(0.05, 1.0, (rows, classes))).astype(dtype)
        weight = rng.uniform(0.5, 2.0, classes).astype(dtype)
        targets = rng.integers(0, classes, rows)
        targets[::3] = int(k1)
        if k1 == -100.0:
            logp[0, 0] = -np.inf
        want = forward(logp, weight, targets, k0, k1, ki)
        got = call("nll_loss", np.shape(want), logp, k0, k1, ki, weight, targets)
        check(got, want, dtype)
    vector = np.log(np.array([0.2, 0.5, 0.3], dtype))           # one sample of shape (C,)
    check(call("nll_loss", (), vector, 1.0, -100.0, 0, np.ones(3, dtype), np.array([1])),
          forward(vector, np.ones(3, dtype), np.array([1]), 1.0, -100.0, 0), dtype)
