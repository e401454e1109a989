"""The tape's design promises: one interpreter call per backward, aliasing
kept across table growth, records reclaimed when nothing reaches them, and
0-d values settled into their slot rows once nothing else reaches them."""
import cProfile
import pstats

import numpy as np
import pytest

import tapegrad as torch
from tapegrad import record
from tapegrad import tape as tape_module
from tapegrad.autograd.engine import WRITES
from tapegrad.kernels import layout as L
from tapegrad.optable import CODE, OPS
from tapegrad.tape import SETTLE_EVERY, Tape, current
from tapegrad.viz import to_dot


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


def test_tape_stays_flat_over_a_long_loop(monkeypatch):
    # a tape of its own: on the thread's shared tape, where in its reclaiming
    # cycle earlier tests left it moved the sizes sampled below
    tape = Tape()
    monkeypatch.setattr(tape_module._local, "tape", tape, raising=False)
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


def test_backward_reaches_inputs_recorded_long_before_the_rest_of_its_graph():
    """plan() walks down to the oldest record that made an input it
    passed, past records of other graphs, live and dead, in between."""
    x = torch.tensor([0.5, -2.0], requires_grad=True)
    early = x.tanh()                           # recorded first
    other = torch.tensor(1.5, requires_grad=True)
    kept = other
    for _ in range(50):
        kept = kept * 1.01                     # a live graph in between
        (other * 2).exp()                      # dead ones
    z = (early * 3).sum() + (x * x).sum()
    z.backward()
    want = 3 * (1 - np.tanh([0.5, -2.0]) ** 2) + 2 * np.array([0.5, -2.0])
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6)
    assert other.grad is None
    kept.backward()
    assert other.grad.item() == pytest.approx(1.01 ** 50, rel=1e-5)


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


def test_backward_lets_go_of_large_arrays_nothing_needs(small_tape):
    """Arrays of LARGE bytes or more go once backward has freed every record
    that names them and Python holds them no more; what a tensor, a graph
    not yet swept or a retained graph still needs stays, and gradients are
    torch's."""
    torch_ = __import__("torch")
    start = np.random.default_rng(0).standard_normal((200, 200)).astype(np.float32)

    def graphs(m):
        x = m.tensor(start, requires_grad=True)
        a = x * 2
        held = a.exp() * 1e-3
        b = held.tanh()
        shared = x + 1.5
        return x, a, held, b, shared, (b + shared).sum(), (shared * shared).sum()

    tx, *_, t_loss, t_other = graphs(torch_)
    t_loss.backward(retain_graph=True)
    (t_loss + t_other).backward()
    x, a, held, b, shared, loss, other = graphs(torch)
    slots = dict(a=a._slot, held=held._slot, b=b._slot, shared=shared._slot)
    del a, b, shared
    before = small_tape.held_bytes
    loss.backward(retain_graph=True)                      # retained: all stay
    assert all(small_tape.arrays[s] is not None for s in slots.values())
    loss.backward()
    gone = [name for name, s in slots.items() if small_tape.arrays[s] is None]
    assert sorted(gone) == ["a", "b"]      # held is held; `other` reads shared, not swept yet
    assert before - small_tape.held_bytes == 4 * start.nbytes    # and exp(a), b + shared
    other.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(held.detach().numpy(), np.exp(2 * start) * 1e-3, rtol=1e-6)


def test_a_training_loop_holds_one_steps_activations(small_tape):
    w = torch.randn(256, 256, requires_grad=True)
    x = torch.randn(256, 256)
    sizes = []
    for _ in range(40):                    # 512 KB of activations a step
        loss = (x @ w).relu().sum()
        loss.backward()
        w.grad = None
        sizes.append(small_tape.held_bytes)
    assert max(sizes) <= w._data.nbytes + x._data.nbytes + 1024       # (and some 0-d values)


@pytest.fixture
def small_tape(monkeypatch):
    """A fresh tape of 64 rows for this thread: every table grows under the test."""
    tape = Tape(capacity=64)
    monkeypatch.setattr(tape_module._local, "tape", tape, raising=False)
    return tape


def _settled(tape):
    return np.flatnonzero(tape.slot_i[:tape.n_slots, L.FLAGS] & L.IN_ROW)


def _chain(m, n_ops, dtype):
    a = m.tensor(0.5, dtype=dtype, requires_grad=True)
    b = m.tensor(-0.25, dtype=dtype, requires_grad=True)
    y = a
    for _ in range(n_ops // 4):
        y = ((y * a + b).tanh()) ** 2
    return a, b, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_settled_values_give_torchs_gradients_across_table_growth(small_tape, dtype):
    torch_ = __import__("torch")
    ta, tb, ty = _chain(torch_, 4 * SETTLE_EVERY, getattr(torch_, dtype))
    a, b, y = _chain(torch, 4 * SETTLE_EVERY, getattr(torch, dtype))
    settled = _settled(small_tape)
    assert len(settled) > 2 * SETTLE_EVERY            # most values moved into their rows
    assert all(small_tape.arrays[s] is None for s in settled)
    assert sum(x is not None for x in small_tape.arrays) < SETTLE_EVERY + 16
    assert len(small_tape.refs) > 4 * SETTLE_EVERY    # and the tables grew after settling
    ty.backward(retain_graph=True)
    y.backward(retain_graph=True)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    assert np.isclose(a.grad.item(), ta.grad.item(), rtol=rtol)
    assert np.isclose(b.grad.item(), tb.grad.item(), rtol=rtol)
    ty.backward()                                     # the second backward reads them again
    y.backward()
    assert np.isclose(a.grad.item(), ta.grad.item(), rtol=rtol)


def test_settling_waits_until_python_lets_go_of_a_value(small_tape):
    a = torch.tensor(0.5, requires_grad=True)
    v = a * 3.0
    z = v * a                        # mul saves v's value for backward
    view = v.data.numpy()            # reaches v's data after v is gone
    s = v._slot
    del v
    small_tape.settle()
    assert not small_tape.slot_i[s, L.FLAGS] & L.IN_ROW
    assert small_tape.value(s) is view
    del view
    small_tape.settle()
    assert small_tape.slot_i[s, L.FLAGS] & L.IN_ROW and small_tape.arrays[s] is None
    assert small_tape.value(s).shape == () and small_tape.value(s).item() == 1.5
    z.backward()                     # z = 3a^2
    assert a.grad.item() == 3.0


def test_hook_and_picture_of_a_settled_tensor(small_tape):
    def graph():
        a = torch.tensor(0.5, requires_grad=True)
        v = a * 3.0
        seen = []
        v.register_hook(lambda g: seen.append((g.shape, g.item())))
        return a, v, v * v, seen
    twin = graph()                   # its v stays alive
    a, v, z, seen = graph()
    s = v._slot
    del v
    small_tape.settle()
    assert s in _settled(small_tape) and small_tape.arrays[s] is None
    assert to_dot(z, show_saved=True) == to_dot(twin[2], show_saved=True)
    z.backward()                     # dz/dv = 2v = 3; dz/da = 18a = 9
    assert seen == [(torch.Size([]), 3.0)]
    assert a.grad.item() == 9.0


def test_a_new_grad_is_its_region_of_the_arena_and_later_backwards_leave_it_alone():
    torch_ = __import__("torch")
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(shape).astype(np.float32) for shape in ((300, 40), (40,), (8, 300))]

    def loss(m, w, b, x):
        return ((x @ w + b).tanh() ** 2).sum()
    tw, tb = [torch_.tensor(v, requires_grad=True) for v in values[:2]]
    loss(torch_, tw, tb, torch_.tensor(values[2])).backward()
    want_w, want_b = tw.grad.numpy(), tb.grad.numpy()

    tape = current()
    w, b = [torch.tensor(v, requires_grad=True) for v in values[:2]]
    x = torch.tensor(values[2])
    loss(torch, w, b, x).backward()

    def in_arena(t):                      # (no reference kept: one would pin the arena)
        return np.shares_memory(t.grad.numpy(), tape.arenas[0])
    assert in_arena(w) and in_arena(b)
    assert np.allclose(w.grad.numpy(), want_w, rtol=1e-4, atol=1e-4)
    b.grad.mul_(0.0)                      # regions of one arena, yet apart
    assert np.allclose(w.grad.numpy(), want_w, rtol=1e-4, atol=1e-4)
    first = w.grad
    loss(torch, w, b, x).backward()       # the grads keep their arena; this one gets another
    assert w.grad is first and not in_arena(w)
    assert np.allclose(w.grad.numpy(), 2 * want_w, rtol=1e-4, atol=1e-4)
    assert np.allclose(b.grad.numpy(), want_b, rtol=1e-4, atol=1e-4)
    w.grad = b.grad = first = None        # as zero_grad(): the arena in use is free again
    address = tape.arenas[0].ctypes.data
    loss(torch, w, b, x).backward()
    assert tape.arenas[0].ctypes.data == address and in_arena(w)
    assert np.allclose(w.grad.numpy(), want_w, rtol=1e-4, atol=1e-4)


PRODUCTS = {   # leaves' shapes, loss
    "linear": (((6, 5), (3, 5), (3,)), lambda F, x, w, b: F.linear(x, w, b)),
    "batches": (((2, 4, 5), (2, 5, 3)), lambda F, a, b: a @ b),
    "broadcast": (((2, 4, 5), (5, 3)), lambda F, a, b: a @ b),     # b's gradient: two products
    "twice": (((4, 5), (5, 3)), lambda F, a, b: a @ b + (a * 2) @ b),
    "one input": (((4, 4),), lambda F, a: a @ a),
}


@pytest.mark.parametrize("case", list(PRODUCTS))
def test_products_write_their_gradients_over_the_arenas_old_bytes(case):
    """linalg.py's products write a gradient nothing has written yet (BLAS
    beta = 0) instead of having the sweep zero it first: the arena's old
    bytes, NaN here, must not show through, and a gradient that several
    products add to must have all of them."""
    torch_ = __import__("torch")
    shapes, product = PRODUCTS[case]
    values = [np.random.default_rng(1).standard_normal(s).astype(np.float32) for s in shapes]

    def grads(m):
        leaves = [m.tensor(v, requires_grad=True) for v in values]
        (product(m.nn.functional, *leaves) ** 2).sum().backward()
        return [t.grad.numpy().copy() for t in leaves]
    grads(torch)                      # the arena now exists, and no .grad holds it after this
    current().arenas[0][:] = np.nan
    for got, want in zip(grads(torch), grads(torch_)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_leaf_given_its_own_gradient_copies_it():
    w = torch.ones(3, requires_grad=True)
    g = torch.tensor([1.0, 2.0, 3.0])
    w.backward(g)
    g.mul_(10.0)
    assert w.grad.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("n", [1, 3, 5000])     # one element: inline; from 4,096 on: NumPy's sin
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_written_first_match_torch(n, dtype):
    """The sweep writes a gradient nothing has written yet rather than adding
    to a zeroed one (kernels/sweep.py): an input named twice, a broadcast
    one (zeroed, then added to), hand-written kernels after elementwise
    ones, NumPy's rules, and a hook reading and replacing a gradient."""
    torch_ = __import__("torch")
    rng = np.random.default_rng(2)
    values = [rng.standard_normal(n), rng.standard_normal(1), rng.standard_normal((4, n))]

    def grads(m):
        x, w, k = [m.tensor(v, dtype=getattr(m, dtype), requires_grad=True) for v in values]
        a = x * x                        # one slot as both inputs
        b = (a.sin() + x) * w            # w broadcast
        c = k @ b                        # matmul's own kernel after elementwise ones
        h = b.exp()
        h.register_hook(lambda g: g * 2)
        (c.sum() + h.mean() + m.where(x > 0, x, -x).sum()).backward()
        return [t.grad.numpy() for t in (x, w, k)]
    rtol = 1e-4 if dtype == "float32" else 1e-10
    for got, want in zip(grads(torch), grads(torch_)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


INLINE_CASES = ["add", "mul", "div", "pow", "pow_scalar", "rsub_scalar", "tanh", "sigmoid", "relu",
                "maximum", "where", "lerp_tensor"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_element_vjps_give_the_kernels_bits(dtype):
    """The sweep runs an elementwise record of one-element values inline
    (interpreter.scalar_vjp), not through its op's kernel: the same
    arithmetic, so element 0 of a three-element record gets the same bits,
    written fresh, accumulated, and with one input named twice. (Ops of
    each kind of rule: every op would compile every kernel, minutes.)"""
    rng = np.random.default_rng(4)
    for code in [CODE[name] for name in INLINE_CASES]:
        assert WRITES[code] == 1, OPS[code].name
        values = rng.uniform(0.3, 1.7, (OPS[code].arity, 3)).astype(dtype)
        seed = rng.uniform(-2, 2, 3).astype(dtype)
        got = []
        for n in (1, 3):
            xs = [torch.tensor(v[:n], requires_grad=True) for v in values]
            y = record.apply(code, xs, 0.5, 1.5) + record.apply(code, [xs[0]] * len(xs), 0.5, 1.5)
            y.backward(torch.tensor(seed[:n]))
            got.append([x.grad.numpy()[0].tobytes() for x in xs])
        assert got[0] == got[1], OPS[code].name


@pytest.mark.parametrize("rows", [0, 5])
def test_hand_written_kernels_add_into_gradients_the_sweep_zeroed(rows):
    """linear's kernel adds its products (BLAS with beta 1) into gradients
    the sweep zeroes first: its weight used twice, its input's gradient also
    written by an elementwise op, an empty batch (nothing but zeros)."""
    torch_ = __import__("torch")
    rng = np.random.default_rng(3)
    values = [rng.standard_normal((rows, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)]

    def grads(m):
        x, w, b = [m.tensor(v, requires_grad=True) for v in values]
        h = m.nn.functional.linear(x.tanh(), w, b)
        (h.sum() + m.nn.functional.linear(x, w).sum() + (w * w).sum()).backward()
        return [t.grad.numpy() for t in (x, w, b)]
    for got, want in zip(grads(torch), grads(torch_)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
