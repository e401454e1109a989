"""An op on arrays that requires grad is recorded in C (_record.c's
record_array) where the extension is built: the same tape as the Python
path (record._recorded, Tape.record), and the Python path wherever C does
less (an input with no slot yet, a new shape, a tape due to settle,
reclaim or grow)."""
import numpy as np
import pytest

import tapegrad as torch
from tapegrad import eager, record, scalars
from tapegrad import tape as tape_module
from tapegrad.kernels import layout as L

pytestmark = pytest.mark.skipif(not scalars.IN_C, reason="the C extension is not built here")


def _step(model, x, y, w):
    """A forward of several kinds of record: linear (three inputs, a
    Parameter's version counter), relu, a constant (k0), an in-place changed
    leaf, a view, log_softmax and nll_loss (k1, ki), outputs of 64 KiB, a
    VJP through NumPy (sin) and parallel ones (mul, with PARALLEL_FROM
    lowered)."""
    h = model(x).relu() * 0.5
    h = (h * w).reshape(-1, 128)
    h = h * h.sin()
    loss = torch.nn.functional.cross_entropy(h[:16], y, reduction="sum") + (w * w).sum()
    return loss


def _tables(tape):
    n, s = tape.n_rec, tape.n_slots
    cols = [c for c in range(L.SLOT_COLS) if c not in (L.ADDR, L.VC_ADDR)]     # (addresses differ)
    return (tape.rec_i[:n].tobytes(), tape.rec_f[:n].tobytes(), tape.rec_k[:n].tobytes(),
            tape.slot_i[:s, cols].tobytes(), tape.refs[:s].tobytes(), tape.held_bytes,
            sorted(tape.large), list(tape.free), n, s)


def _run(path, monkeypatch, steps=3):
    """`steps` forward and backward passes on a new tape: (its tables after
    each forward, the gradients, Tape.record's calls in the last forward)."""
    monkeypatch.setattr(tape_module._local, "tape", tape_module.Tape(), raising=False)
    monkeypatch.setattr(eager, "PARALLEL_FROM", 128 * 128)
    torch.manual_seed(0)
    model = torch.nn.Linear(64, 128)
    x, y = torch.randn(128, 64), torch.randint(0, 128, (16,))
    w = torch.randn(128, 128, requires_grad=True)
    calls, kept = [], tape_module.Tape.record
    monkeypatch.setattr(tape_module.Tape, "record", lambda *a, **k: calls.append(a[1]) or kept(*a, **k))
    tables, grads = [], []
    with scalars.taking(path):
        for _ in range(steps):
            calls.clear()
            loss = _step(model, x, y, w)
            tables.append(_tables(tape_module.current()))
            loss.backward()
            with torch.no_grad():
                w.mul_(0.9)                        # a new version of w for the next record
            grads.append([p.grad.numpy().tobytes() for p in (model.weight, model.bias, w)])
    return tables, grads, list(calls)


def test_the_c_path_writes_the_python_paths_tape(monkeypatch):
    c_tables, c_grads, c_calls = _run("c", monkeypatch)
    py_tables, py_grads, py_calls = _run("python", monkeypatch)
    assert c_tables == py_tables
    assert c_grads == py_grads
    states = np.frombuffer(c_tables[-1][0], np.int32).reshape(-1, L.REC_COLS)[:, L.STATE]
    assert (states & L.NUMPY_VJP).any() and (states & L.PARALLEL).any()
    assert len(py_calls) == 12
    # the last step: every input has its slot and every shape is known; only
    # the slice's record, with its index map, goes the Python way
    assert c_calls == [torch.optable.CODE["slice"]]


def test_what_c_does_not_take_goes_the_python_way(monkeypatch):
    monkeypatch.setattr(tape_module._local, "tape", tape_module.Tape(), raising=False)
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(3, 4)
    tape = tape_module.current()
    (a * b).sum()                      # a and b get their slots; the shapes become known

    def offer(inputs, data):
        return record.record_array(torch.optable.CODE["mul"], inputs, data, L.RG, 0.0, 0.0, 0)
    assert offer([a, torch.randn(3, 4)], np.ones((3, 4), np.float32)) is None      # no slot
    assert offer([a, b], np.ones((5, 7), np.float32)) is None                      # a new shape
    assert offer([a, b], np.ones((4, 3), np.float32).T) is None                    # not C-contiguous
    n = tape.n_rec
    tape._reclaim_at = (n, tape._reclaim_at[1])                                    # due to reclaim
    assert offer([a, b], np.ones((3, 4), np.float32)) is None
    assert tape.n_rec == n
    out = a * b                        # Python's record() reclaims, then records
    assert tape.n_rec <= n + 1 and out._slot >= 0
    np.testing.assert_array_equal(out.detach().numpy(), a.detach().numpy() * b.numpy())


@pytest.mark.parametrize("name", ["relu", "exp", "log_softmax", "mul"])
def test_the_c_call_of_a_forward_kernel_gives_numbas_bits(name, monkeypatch):
    from tapegrad.kernels import replay
    x = torch.randn(64, 33)
    y = torch.randn(64, 33)
    run = {"relu": lambda: x.relu(), "exp": lambda: x.exp(), "log_softmax": lambda: x.log_softmax(1),
           "mul": lambda: x * y}[name]
    assert eager.call_forward is scalars._c.call_forward
    got = run().numpy().tobytes()
    calls = []
    monkeypatch.setattr(eager, "call_forward", lambda *a: calls.append(a) or replay.call_forward(*a))
    assert got == run().numpy().tobytes()
    assert len(calls) == 1


def test_backward_makes_a_leafs_first_grad_in_c_and_leaves_python_the_rest(monkeypatch):
    monkeypatch.setattr(tape_module._local, "tape", tape_module.Tape(), raising=False)
    from tapegrad.autograd import engine
    left = []
    kept = engine.collect
    monkeypatch.setattr(engine, "collect", lambda *a: left.append(kept(*a)) or left[-1])
    a, b, c = (torch.randn(4, 3, requires_grad=True) for _ in range(3))
    seen = []
    c.register_hook(lambda g: seen.append(g.numpy().copy()))
    unused = torch.randn(2, requires_grad=True)
    ((a * b).sum() + (c * 2).sum() + unused[0] * 0).backward()
    assert left == [[c._slot]]                 # c's hook runs in Python
    np.testing.assert_array_equal(a.grad.numpy(), b.detach().numpy())
    np.testing.assert_array_equal(b.grad.numpy(), a.detach().numpy())
    np.testing.assert_array_equal(c.grad.numpy(), np.full((4, 3), 2, np.float32))
    np.testing.assert_array_equal(seen[0], np.full((4, 3), 2, np.float32))
    np.testing.assert_array_equal(unused.grad.numpy(), [0, 0])      # reached, nothing written: zeros
    assert a.grad.requires_grad is False and a.grad.grad_fn is None and a.grad.is_leaf
    (a * b).sum().backward()                   # a .grad to add to: Python's
    assert sorted(left[-1]) == sorted([a._slot, b._slot])
    np.testing.assert_array_equal(a.grad.numpy(), 2 * b.detach().numpy())


def _sgd_steps(path, monkeypatch):
    """Three plain SGD steps on float32 and float64 parameters, one of them
    transposed (a copy the loop writes back) and one without a gradient:
    their bytes and versions after each step, and what the C loop left."""
    from tapegrad.optim import sgd
    left = []
    kept = sgd.plain_loop
    monkeypatch.setattr(sgd, "plain_loop", lambda *a: left.append(kept(*a)) or left[-1])
    rng = np.random.default_rng(0)
    ps = [torch.tensor(rng.standard_normal(s).astype(t), requires_grad=True)
          for s, t in (((5, 3), np.float32), ((7,), np.float64), ((4, 2), np.float32))]
    ps.append(torch.tensor(rng.standard_normal((2, 3)).astype(np.float32)).t().requires_grad_())
    opt = torch.optim.SGD(ps, lr=0.1)
    out = []
    with scalars.taking(path):
        for _ in range(3):
            opt.zero_grad()
            sum((p * p).sum() * 0.5 for i, p in enumerate(ps) if i != 2).backward()
            opt.step()
            out.append([(p.detach().numpy().tobytes(), p._version) for p in ps])
    return out, left


def test_plain_sgd_in_c_gives_the_python_loops_bits_and_versions(monkeypatch):
    c, left = _sgd_steps("c", monkeypatch)
    left = list(left)                  # (the second run's wrapper calls the first's too)
    python, _ = _sgd_steps("python", monkeypatch)
    assert c == python
    assert [len(rest) for rest in left] == [3, 1, 1]       # first versions; then the transposed one
