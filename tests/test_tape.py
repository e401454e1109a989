"""The tape's design promises: one interpreter call per backward, aliasing
kept across table growth, and records reclaimed when nothing reaches them."""
import cProfile
import pstats

import numpy as np

import tapegrad as torch
from tapegrad.tape import current


def scalar_graph(n_ops):
    a = torch.tensor(0.5, requires_grad=True)
    b = torch.tensor(-0.25, requires_grad=True)
    y = a
    for _ in range(n_ops // 4):
        y = ((y * a + b).tanh()) ** 2
    return a, b, y


def test_backward_of_10000_ops_is_one_sweep():
    scalar_graph(8)[2].backward()        # loads the compiled sweep first
    a, b, y = scalar_graph(10_000)
    profile = cProfile.Profile()
    profile.enable()
    y.backward()
    profile.disable()
    stats = pstats.Stats(profile)
    assert stats.total_calls < 100, f"backward made {stats.total_calls} Python calls"
    assert a.grad is not None and b.grad is not None


def test_scalar_graph_gradient_matches_float64_reference():
    torch_ = __import__("torch")
    ta = torch_.tensor(0.5, requires_grad=True, dtype=torch_.float64)
    tb = torch_.tensor(-0.25, requires_grad=True, dtype=torch_.float64)
    y = ta
    for _ in range(250):
        y = ((y * ta + tb).tanh()) ** 2
    y.backward()
    a = torch.tensor(0.5, requires_grad=True, dtype=torch.float64)
    b = torch.tensor(-0.25, requires_grad=True, dtype=torch.float64)
    z = a
    for _ in range(250):
        z = ((z * a + b).tanh()) ** 2
    z.backward()
    assert np.isclose(z.item(), y.item(), rtol=1e-12)
    assert np.isclose(a.grad.item(), ta.grad.item(), rtol=1e-10)
    assert np.isclose(b.grad.item(), tb.grad.item(), rtol=1e-10)


def test_from_numpy_and_detach_share_memory_across_table_growth():
    array = np.ones(3, np.float32)
    x = torch.from_numpy(array).requires_grad_()
    d = x.detach()
    y = x * 2
    for _ in range(5_000):               # grows the record and slot tables
        y = y * 1.0
    array[0] = 7.0
    assert x.tolist()[0] == 7.0
    assert d.tolist()[0] == 7.0
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_weights_updated_in_place_are_seen_by_later_records():
    w = torch.ones(2, requires_grad=True)
    (w * w).sum().backward()
    with torch.no_grad():
        w -= 0.5 * w.grad            # w is now [0, 0]
    w.grad = None
    (w * w + w).sum().backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_tape_stays_flat_over_a_long_loop():
    tape = current()
    w = torch.randn(4, requires_grad=True)
    x = torch.randn(8, 4)
    sizes = []
    for step in range(3_000):
        loss = ((x * w).sum(1).tanh() ** 2).mean()
        if step % 10:                    # every tenth forward is never differentiated
            loss.backward()
            with torch.no_grad():
                w -= 0.01 * w.grad
            w.grad.zero_()
        if step % 500 == 499:
            sizes.append((tape.n_rec, tape.n_slots - len(tape.free)))
    assert max(n for n, _ in sizes) < 10_000
    assert sizes[-1][0] <= 2 * sizes[0][0] + 10 and sizes[-1][1] <= 2 * sizes[0][1] + 10


def test_dropped_graph_releases_its_arrays():
    tape = current()
    tape.reclaim()
    before = tape.held_bytes
    x = torch.randn(1000, 1000, requires_grad=True)
    y = (x * 2).exp().sum()
    del y
    tape.reclaim()
    assert tape.held_bytes - before <= x._data.nbytes   # only x's own slot stays
    del x
    tape.reclaim()
    assert tape.held_bytes <= before
