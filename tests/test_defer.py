"""Deferred elementwise work (tapegrad/defer.py): a loss of large elementwise
ops is swept tile by tile, its gradients bitwise those of the normal sweep
and its values torch's; whatever else reads a deferred value gets eager's
value, and later in-place changes of the inputs do not reach it."""
import threading

import numpy as np
import pytest
import torch as pt

import tapegrad as torch
from tapegrad import buffers, defer
from tapegrad.defer import Deferred
from tapegrad.optable import OPS
from tapegrad.record import apply
from tapegrad.tape import current

defer_sweep = defer.sweep
N = defer.FROM + 3 * defer.TILE // 4 + 7      # FROM/TILE tiles and a partial one; two crews

LOSSES = {
    "chain": lambda x, y: (x.sin() * x + (-x * x).exp() * 0.5 + x.tanh()).mean(),
    "arithmetic": lambda x, y: ((x * y - x / y + 2 * x - y ** 2) * 0.3 + 1).sum(),
    "unary": lambda x, y: (x.exp().log() + x.sqrt() + x.sigmoid() + x.cos() + (x - 1).relu()
                           + (y - 1).abs()).mean(),
    "scalar forms": lambda x, y: ((2 - x) / 3 + 1 / x + x ** 1.5 + 2 ** y - x * 0.5).mean(),
    "clamp and shared inputs": lambda x, y: (x.clamp(0.5, 1.5) * y + x * x).sum(),
    "a tail after the sum": lambda x, y: 0.5 * (x * y).sum(),
    "a longer tail": lambda x, y: -((x.exp() - y).mean() / 3) + 1,
}


def _inputs(m, dtype=np.float32, n=N, seed=0):
    rng = np.random.default_rng(seed)
    return [m.tensor(rng.uniform(0.1, 2.0, n).astype(dtype), requires_grad=True) for _ in range(2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LOSSES)
def test_a_fused_backward_gives_the_normal_sweeps_gradients_and_torchs(name, dtype, monkeypatch):
    f = LOSSES[name]
    swept = []
    monkeypatch.setattr(defer, "sweep", lambda *args: swept.append(defer_sweep(*args)))
    x, y = _inputs(torch, dtype)
    loss = f(x, y)
    assert type(loss) is Deferred            # nothing computed yet
    loss.backward()
    assert swept and type(loss) is torch.Tensor
    assert current().pending == [] and current().snapshots == {}

    x2, y2 = _inputs(torch, dtype)
    normal = f(x2, y2)
    normal.item()                             # reading it computes everything, as eager does
    normal.backward()
    for a, b in ((x, x2), (y, y2)):
        assert _bytes(a.grad) == _bytes(b.grad)
    np.testing.assert_allclose(loss.item(), normal.item(), rtol=1e-6)

    px, py = _inputs(pt, dtype)
    ref = f(px, py)
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-5)
    for a, b in ((x, px), (y, py)):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-7)


def _bytes(t):
    return None if t is None else t.numpy().tobytes()


DEFERRED_OPS = [code for code, defers in enumerate(defer.DEFERS) if defers]


@pytest.mark.parametrize("code", DEFERRED_OPS, ids=[OPS[code].name for code in DEFERRED_OPS])
def test_each_op_that_defers_fuses_to_the_normal_sweeps_gradients(code, monkeypatch):
    """Each op's rules, as fusion.py writes them into a tile's loops, give
    its kernels' bits (constants 0.7 and 1.3 where it reads them). The
    second product's rule reads the first product, which the loop computes
    from the op's value: so that value's bits count too."""
    def loss(inputs):
        return (apply(code, inputs[:OPS[code].arity], 0.7, 1.3) * inputs[-1] * inputs[-1]).sum()
    swept = []
    monkeypatch.setattr(defer, "sweep", lambda *args: swept.append(defer_sweep(*args)))
    fused, normal = _inputs(torch) + _inputs(torch, seed=1)[:1], _inputs(torch) + _inputs(torch, seed=1)[:1]
    out = loss(fused)
    assert type(out) is Deferred
    out.backward()
    reference = loss(normal)
    reference.item()
    reference.backward()
    assert swept
    for a, b in zip(fused, normal):
        assert _bytes(a.grad) == _bytes(b.grad)


def test_a_deferred_value_read_is_the_eager_value(monkeypatch):
    (x, _) = _inputs(torch)
    y = x.sin() * x + 1
    assert type(y) is Deferred and y.shape == (N,) and y.dtype is torch.float32
    got = y.detach().numpy().copy()
    assert type(y) is torch.Tensor
    monkeypatch.setattr(defer, "FROM", 1 << 60)       # nothing deferred: the eager path
    eager = (x.sin() * x + 1).detach().numpy()
    assert got.tobytes() == eager.tobytes()
    assert repr(x.sin() * x).startswith("tensor([")


def test_later_in_place_changes_do_not_reach_deferred_values():
    (x, _) = _inputs(torch)
    before = x.detach().numpy().copy()
    y = x * 2
    with torch.no_grad():
        x.add_(1)                                     # (a leaf's change under no_grad)
    np.testing.assert_array_equal(y.detach().numpy(), before * 2)

    a = np.ones(N, np.float32)
    z = torch.from_numpy(a).requires_grad_()
    loss = (z * 3).sum()
    a[:] = 5                                          # behind autograd's back, through NumPy
    loss.backward()
    assert loss.item() == 3 * N                       # torch computed it before the write
    np.testing.assert_array_equal(z.grad.numpy(), np.full(N, 3, np.float32))


def _graphs(m):
    """Losses whose deferred values something else sees: they cannot fuse."""
    x, y = _inputs(m)
    h = x.sin() * y
    h.retain_grad()
    seen = []
    k = y.exp()
    k.register_hook(lambda g: seen.append(g.sum().item()))
    kept = x.tanh()
    loss = (h + k * kept).mean() + (x.cos() @ y) / N
    loss.backward()
    return [x.grad, y.grad, h.grad, kept], seen


def test_deferred_values_something_else_sees_still_give_torchs_gradients():
    ours, our_hook = _graphs(torch)
    ref, ref_hook = _graphs(pt)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(our_hook, ref_hook, rtol=1e-5)


def test_retain_graph_and_a_second_backward_behave_as_torchs():
    for m in (torch, pt):
        x, y = _inputs(m)
        loss = (x.exp() * y).mean()
        loss.backward(retain_graph=True)
        loss.backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * (y * x.exp()).detach().numpy() / N,
                                   rtol=1e-5)
        loss = (x.exp() * y).mean()
        loss.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            loss.backward()


def test_a_saved_input_changed_in_place_raises_as_torchs():
    for m in (torch, pt):
        x, _ = _inputs(m)
        h = m.cat([x, x])                 # not elementwise: a real value
        loss = h.sin().sum()
        h.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_reclaiming_computes_pending_values_first():
    x, _ = _inputs(torch)
    y = (x * 3).exp()
    del _
    current().reclaim()
    assert current().pending == []
    np.testing.assert_allclose(y.detach().numpy(), np.exp(x.detach().numpy() * 3), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Anomaly Detection")
def test_no_grad_small_arrays_and_anomaly_mode_run_eagerly():
    x, _ = _inputs(torch)
    with torch.no_grad():
        assert type(x.sin()) is torch.Tensor
    assert type(x[:1000].sin()) is torch.Tensor
    with torch.autograd.detect_anomaly():
        assert type(x.sin()) is torch.Tensor


def test_fused_training_steps_run_in_flat_memory():
    x, y = _inputs(torch)
    loss_fn = LOSSES["chain"]
    held = []
    for step in range(30):
        x.grad = None
        loss_fn(x, y).backward()
        held.append((buffers.held(), current().held_bytes))
    assert held[-1][0] == held[5][0], held            # the buffer pool: the same buffers
    assert held[-1][1] - held[5][1] < 1024, held      # the tape: 0-d losses until reclaimed


ENTRY_POINTS = {
    "autograd.grad": lambda m, x, y: list(m.autograd.grad((x.sin() * y).mean(), [x, y])),
    "backward(gradient)": lambda m, x, y: _backward_with(m, x.exp() * y, m.ones_like(x), x),
    "in place on a deferred value": lambda m, x, y: _backward_with(m, (x * 2).add_(y), None, x),
    "indexed": lambda m, x, y: [(x.tanh() * y)[7:11].detach()],
    "under no_grad": lambda m, x, y: [_no_grad(m, x.exp() * y)],
    "a tail that reads its value": lambda m, x, y: _backward_with(m, (x.tanh() * y).mean() ** 2,
                                                                  m.ones(()), x),
}


def _backward_with(m, out, gradient, x):
    (out.sum() if gradient is None else out).backward(gradient)
    return [out.detach(), x.grad]


def _no_grad(m, t):
    with m.no_grad():
        return t + 1


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_other_ways_in_give_torchs_results(name):
    ours = ENTRY_POINTS[name](torch, *_inputs(torch))
    ref = ENTRY_POINTS[name](pt, *_inputs(pt))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_threads_sweep_their_own_tapes():
    def run(out, key):
        x, y = _inputs(torch)
        for _ in range(5):
            x.grad = None
            LOSSES["chain"](x, y).backward()
        out[key] = x.grad.numpy().tobytes()
    out = {}
    threads = [threading.Thread(target=run, args=(out, k)) for k in range(3)]
    for t in threads:
        t.start()
    run(out, "main")
    for t in threads:
        t.join()
    assert len(set(out.values())) == 1 and len(out) == 4
