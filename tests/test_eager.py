"""Eager float math runs the compiled forward kernels replay runs; 0-d
float64 values take a Python shortcut that must give the kernel's bits."""
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
