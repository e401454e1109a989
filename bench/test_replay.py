"""replay groups: the scalar_graph and mlp_step workloads as one replayed
step (tapegrad.replay), next to torch running them normally in the same
run, and, for mlp_step, next to tapegrad's normal step (bench/README.md).

The replayed step is recorded in the warm-up call; the timed rounds are
replays (asserted from replay_stats after timing).
"""
import numpy as np
import pytest

from .test_graphs import SCALAR_OPS, _reset, scalar_forward, scalar_leaves
from .test_mlp import batch, initial_params, make_step


def _scalar_step(m, leaves):
    def step():
        _reset(leaves)
        y = scalar_forward(m, leaves, SCALAR_OPS)
        y.backward()
        return y
    return step


def test_replay_scalar_graph(timed, lib):
    leaves = scalar_leaves(lib)
    step = _scalar_step(lib, leaves)
    if lib.__name__ == "tapegrad":
        step = lib.replay(step)
    timed(f"replay scalar_graph N={SCALAR_OPS} fwd+bwd", step, lib.__name__, n_ops=SCALAR_OPS,
          ops="mul add tanh pow")
    if lib.__name__ == "tapegrad":
        _check_replays(step)
        normal = scalar_leaves(lib)
        _scalar_step(lib, normal)()
        assert [t.grad.item() for t in leaves] == [t.grad.item() for t in normal]


@pytest.mark.parametrize("row", ["torch", "tapegrad", "tapegrad normal"])
def test_replay_mlp_step(timed, row):
    m = pytest.importorskip("torch") if row == "torch" else pytest.importorskip("tapegrad")
    x, y = batch()
    step, params, api = make_step(m, initial_params(), x, y)
    if row == "tapegrad":
        step = m.replay(step)
    timed("replay mlp_step", step, row, api=api, layers="784-256-128-10")
    if row == "tapegrad":
        _check_replays(step)
        normal, normal_params, _ = make_step(m, initial_params(), x, y)
        replayed, replayed_params, _ = make_step(m, initial_params(), x, y)
        replayed = m.replay(replayed)
        for _ in range(3):
            assert normal().item() == replayed().item()
        for p, q in zip(normal_params, replayed_params):
            assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def _check_replays(step):
    stats = step.replay_stats
    assert stats["recordings"] == 1 and stats["replays"] > 0, stats
