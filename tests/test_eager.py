"""Eager float math runs the compiled forward kernels replay runs; 0-d
float64 values take a Python shortcut that must give the kernel's bits.
Large arrays run vector math through NumPy, forward and backward."""
import numpy as np
import pytest

import tapegrad as torch
from tapegrad import eager
from tapegrad.optable import OPS

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, -2.5, 1e-300, 1e300, 710.0, -745.0, np.inf, -np.inf,
           np.nan]
SCALAR_OPS = [code for code, op in enumerate(OPS) if eager.PYTHON[code]]


def _draws(n, seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([SPECIAL, rng.normal(0, 3, n), rng.uniform(-1, 1, n) * 10.0 ** rng.integers(-5, 5, n)])
    return rng.permutation(values)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("code", SCALAR_OPS, ids=[OPS[c].name for c in SCALAR_OPS])
def test_python_shortcut_gives_the_kernels_bits(code, dt):
    arity = OPS[code].arity
    with np.errstate(over="ignore"):         # 1e300 in float32 is inf
        xs = [_draws(60, seed).astype(dt) for seed in range(arity)]
    ks = [(1.0, 0.0), (0.5, 3.0), (-2.0, 2.0), (2.0, np.inf)]
    for i in range(len(xs[0])):
        arrays = [np.array(x[i]) for x in xs]
        for k0, k1 in ks:
            kernel = eager.forward(code, int(dt == np.float64), arrays, k0, k1, 0, eager.broadcast)
            shortcut = eager.scalar(code, arrays, k0, k1)
            if shortcut is not None:
                assert shortcut.dtype == dt
                assert kernel.tobytes() == shortcut.tobytes() or (
                    np.isnan(kernel) and np.isnan(shortcut)), (OPS[code].name, arrays, k0, k1)


def test_eager_matches_numpy_forward_closely():
    """The compiled forwards against the op table's NumPy forwards on arrays."""
    rng = np.random.default_rng(0)
    for code in SCALAR_OPS:
        op = OPS[code]
        arrays = [rng.uniform(0.2, 2.0, (3, 4)) for _ in range(op.arity)]
        with np.errstate(all="ignore"):
            want = op.forward(*arrays, 0.5, 1.5, 0)
        got = eager.forward(code, 1, arrays, 0.5, 1.5, 0, eager.broadcast)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=op.name)


def test_eager_scalar_graph_matches_torch():
    import torch as pt
    x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    px = pt.tensor(0.7, dtype=pt.float64, requires_grad=True)
    for lib, v in ((torch, x), (pt, px)):
        z = v
        for _ in range(20):
            z = (z * 1.1 + v).tanh() ** 2 - z.exp() / 3
        z.backward()
    assert float(x.grad) == pytest.approx(float(px.grad), rel=1e-12)


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", ["sin", "cos", "erf"])
def test_large_arrays_run_numpy_vjps_that_match_torch(name, dt):
    """From eager.NUMPY_FROM elements on, sin/cos/erf records carry the
    NUMPY_VJP bit and backward runs their rule through NumPy; below it the
    compiled kernel runs. Both agree with torch, also with a hook on the
    output (the sweep stops for it first) and when gradients accumulate."""
    import torch as pt
    from tapegrad.kernels import layout as L
    for n in (eager.NUMPY_FROM - 1, eager.NUMPY_FROM + 5):
        v = np.linspace(-4, 4, n)
        x, px = torch.tensor(v, dtype=getattr(torch, dt), requires_grad=True), \
            pt.tensor(v, dtype=getattr(pt, dt), requires_grad=True)
        for lib, t in ((torch, x), (pt, px)):
            y = getattr(t, name)()
            y.register_hook(lambda g: g * 3)
            if lib is torch:
                r = y._tape.slot_i[y._slot, L.REC]
                assert bool(y._tape.rec_i[r, L.STATE] & L.NUMPY_VJP) == (n >= eager.NUMPY_FROM)
            (y * t).sum().backward(retain_graph=True)
            (y * t).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), px.grad.numpy(), rtol=2e-6 if dt == "float32" else 1e-13,
                                   atol=1e-6 if dt == "float32" else 1e-13)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sin", "cos", "erf"])
def test_numpy_vjp_rules_give_what_numpy_gives_for_the_expression(name, dt):
    """The rules run step by step into pooled arrays: the same bits as NumPy
    evaluating the rule's expression with its own temporaries."""
    from tapegrad.optable import CODE
    op = OPS[CODE[name]]
    rng = np.random.default_rng(1)
    g, a = (rng.standard_normal(1 << 19) * 4).astype(dt), (rng.standard_normal(1 << 19) * 4).astype(dt)
    a[:3] = np.inf, -np.inf, np.nan
    with np.errstate(all="ignore"):
        want = eval(op.vjp[0], dict(sin=np.sin, cos=np.cos, exp=np.exp, g=g, a=a, y=None))
    got = eager.NUMPY_VJP[CODE[name]](g, a, None, 0.0, 0.0)
    assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled")
def test_a_numpy_vjp_under_anomaly_detection():
    """cos(inf) is NaN: the NumPy VJP of sin raises as torch's does."""
    x = torch.full((eager.NUMPY_FROM,), float("inf"), requires_grad=True)
    with pytest.warns(UserWarning, match="Error detected in SinBackward0"), \
            torch.autograd.detect_anomaly(), \
            pytest.raises(RuntimeError, match="Function 'SinBackward0' returned nan values in its 0th output"):
        x.sin().sum().backward()
    assert x.grad is None
