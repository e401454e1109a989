"""Core engine benchmarks, tapegrad and torch side by side (bench/README.md).

Each workload is written once against a module `m` (torch or tapegrad) and
timed on both in the same run:

  scalar_graph       10,000 recorded ops on 0-d float32 tensors, then
                     backward: the per-op cost of recording and sweeping.
  elementwise_chain  a 10-op elementwise loss on 1e6 float32 values, then
                     backward: the cost of the kernels themselves.

The checks below compare results with torch (correctness, not timing): a
benchmark of a wrong gradient is no benchmark.
"""
import numpy as np
import pytest

ITERS = 2_500                 # 4 ops each: mul, add, tanh, pow
SCALAR_OPS = 4 * ITERS
N = 1_000_000


def _value(t):
    return np.asarray(t.detach().numpy(), np.float64)


# -- scalar_graph --------------------------------------------------------------

def scalar_leaves(m):
    return [m.tensor(v, requires_grad=True) for v in (0.9, 0.1, 0.5)]


def scalar_graph(m, leaves):
    a, b, c = leaves
    for t in leaves:
        t.grad = None
    y = c
    for _ in range(ITERS):
        y = (y * a + b).tanh() ** 2
    y.backward()
    return y


def test_scalar_graph(side_by_side, lib):
    leaves = scalar_leaves(lib)
    side_by_side("scalar_graph", lambda: scalar_graph(lib, leaves), n_ops=SCALAR_OPS)
    _check(lib, scalar_leaves, scalar_graph, leaves)


# -- elementwise_chain ---------------------------------------------------------

def chain_input(m):
    x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    return [m.tensor(x, requires_grad=True)]


def elementwise_chain(m, leaves):
    (x,) = leaves
    x.grad = None
    loss = (x.sin() * x + (-x * x).exp() * 0.5 + x.tanh()).mean()
    loss.backward()
    return loss


def test_elementwise_chain(side_by_side, lib):
    leaves = chain_input(lib)
    side_by_side("elementwise_chain", lambda: elementwise_chain(lib, leaves), n=N,
                 ops="sin mul neg mul exp mul add tanh add mean")
    _check(lib, chain_input, elementwise_chain, leaves)


# -- correctness against torch ---------------------------------------------------

def _check(lib, make_leaves, workload, leaves):
    """One more round's output and leaf gradients agree with torch's on the
    same inputs."""
    if lib.__name__ == "torch":
        return
    torch = pytest.importorskip("torch")
    ref_leaves = make_leaves(torch)
    ref_out = workload(torch, ref_leaves)
    out = workload(lib, leaves)
    np.testing.assert_allclose(_value(out), _value(ref_out), rtol=1e-4, atol=1e-6)
    for t, r in zip(leaves, ref_leaves):
        np.testing.assert_allclose(_value(t.grad), _value(r.grad), rtol=1e-4, atol=1e-6)
