"""Graph benchmarks, tapegrad and torch side by side (bench/README.md).

Each workload is written once against a module `m` (torch or tapegrad) and
timed on both in the same run:

  scalar_graph       N = 1,000 / 10,000 / 100,000 recorded ops on 0-d
                     float32 tensors (mul, add, tanh, pow in a loop over
                     three leaves): the per-op cost of recording
                     (`forward`), of sweeping (`backward`) and of both
                     (`both`), reported per op.
  elementwise_chain  a 10-op elementwise loss on n = 1e5 / 1e6 / 1e7
                     float32 values, forward + backward: the cost of the
                     kernels themselves.

What a phase times:

  forward   build the graph and drop it: torch frees its nodes when the
            output dies, tapegrad reclaims dead records during a later
            forward (amortized into the forward rounds), so both pay
            their release inside the timed phase.
  backward  y.backward() on a graph built in an untimed setup before
            every round; the graph is dropped in the next setup (untimed
            on both sides).
  both      reset .grad, forward, backward, drop: one training-loop step.

The checks below compare results with torch (correctness, not timing): a
benchmark of a wrong gradient is no benchmark.
"""
import numpy as np
import pytest

SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
PHASES = {"forward": "fwd", "backward": "bwd", "both": "fwd+bwd"}
CHAIN_SIZES = {"1e5": 100_000, "1e6": 1_000_000, "1e7": 10_000_000}
CHAIN_ROUNDS = {"1e7": 5}          # fixed rounds where a round is long; others calibrate
# Untimed calls first: a training loop's steady state. At 1e7 tapegrad's
# buffer pool (tapegrad/buffers.py) fills over the first four steps, while
# the tape still holds the step before; torch's first step is its steady one.
CHAIN_WARMUP = {"1e7": 4}

# Kept for bench/profile_core.py: the 10,000-op graph and the 1e6 chain.
ITERS = 2_500                       # 4 ops each: mul, add, tanh, pow
SCALAR_OPS = 4 * ITERS
N = 1_000_000


def _value(t):
    return np.asarray(t.detach().numpy(), np.float64)


def _reset(leaves):
    for t in leaves:
        t.grad = None


# -- scalar_graph --------------------------------------------------------------

def scalar_leaves(m):
    return [m.tensor(v, requires_grad=True) for v in (0.9, 0.1, 0.5)]


def scalar_forward(m, leaves, n_ops=SCALAR_OPS):
    a, b, c = leaves
    y = c
    for _ in range(n_ops // 4):
        y = (y * a + b).tanh() ** 2
    return y


def scalar_graph(m, leaves, n_ops=SCALAR_OPS):
    """Forward + backward; returns the output (for the checks)."""
    _reset(leaves)
    y = scalar_forward(m, leaves, n_ops)
    y.backward()
    return y


def phase_functions(leaves, forward, phase):
    """(setup or None, timed function) for one phase of a workload whose
    graph `forward()` builds; nothing the timed function makes outlives it
    except .grad, and in the backward phase the graph it sweeps."""
    if phase == "forward":
        def run_forward():
            forward()
        return None, run_forward
    if phase == "backward":
        held = []

        def setup():
            held.clear()                 # the previous round's graph dies here, untimed
            _reset(leaves)
            held.append(forward())

        def run_backward():
            held[0].backward()
        return setup, run_backward

    def run_both():
        _reset(leaves)
        forward().backward()
    return None, run_both


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("phase", PHASES)
def test_scalar_graph(side_by_side, lib, phase, size):
    n_ops = SIZES[size]
    leaves = scalar_leaves(lib)
    setup, fn = phase_functions(leaves, lambda: scalar_forward(lib, leaves, n_ops), phase)
    side_by_side(f"scalar_graph N={n_ops} {PHASES[phase]}", fn, n_ops=n_ops, setup=setup,
                 phase=phase, ops="mul add tanh pow")
    if phase == "both":
        _check(lib, scalar_leaves, lambda m, ls: scalar_graph(m, ls, n_ops), leaves)


# -- elementwise_chain ---------------------------------------------------------

def chain_input(m, n=N):
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    return [m.tensor(x, requires_grad=True)]


def elementwise_chain(m, leaves):
    (x,) = leaves
    x.grad = None
    loss = (x.sin() * x + (-x * x).exp() * 0.5 + x.tanh()).mean()
    loss.backward()
    return loss


@pytest.mark.parametrize("size", CHAIN_SIZES)
def test_elementwise_chain(side_by_side, lib, size):
    n = CHAIN_SIZES[size]
    leaves = chain_input(lib, n)

    def run():
        elementwise_chain(lib, leaves)
    side_by_side(f"elementwise_chain n={size}", run, n=n, rounds=CHAIN_ROUNDS.get(size),
                 warmup=CHAIN_WARMUP.get(size, 1),
                 ops="sin mul neg mul exp mul add tanh add mean")
    _check(lib, lambda m: chain_input(m, n), elementwise_chain, leaves)


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
