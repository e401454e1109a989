"""tapegrad.replay: replayed training is bitwise normal training, and the
counters show the replays happened; guards fall back, what cannot replay
says so and runs normally."""
import copy
import pathlib
import sys
import warnings

import numpy as np
import pytest

import tapegrad as torch
from tapegrad import nn
from tapegrad import tape as tape_module
from tapegrad.kernels import layout as L

STEPS = 100


def _same(a, b):
    return all(np.array_equal(p.detach().numpy(), q.detach().numpy()) for p, q in zip(a, b))


def _twins(build, seed=0):
    torch.manual_seed(seed)
    model = build()
    return model, copy.deepcopy(model)


def _train_both(make_step, model, twin, batches, opt_of):
    """The same step run normally on `model` and replayed on `twin`;
    returns (normal losses, replayed losses, replayed step)."""
    normal, fast = make_step(model, opt_of(model)), torch.replay(make_step(twin, opt_of(twin)))
    want, got = [], []
    for batch in batches:
        want.append(normal(*batch).item())
        got.append(fast(*batch).item())
    return want, got, fast


def _classify_batches(n, rows, features, classes, seed=0):
    """Batches of a learnable task: the class is the largest of the first features."""
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(rows, features)).astype(np.float32) for _ in range(n)]
    return [(torch.tensor(x), torch.tensor(x[:, :classes].argmax(1))) for x in xs]


def _step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def test_mlp_adam_100_steps_bitwise():
    model, twin = _twins(lambda: nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16),
                                               nn.Tanh(), nn.Linear(16, 5)))
    batches = _classify_batches(STEPS, 16, 20, 5)
    want, got, fast = _train_both(_step, model, twin, batches,
                                  lambda m: torch.optim.Adam(m.parameters(), lr=1e-2))
    assert want == got
    assert _same(model.parameters(), twin.parameters())
    assert fast.replay_stats == dict(recordings=1, replays=STEPS - 1, fallbacks=0, unreplayable=0)
    assert want[-1] < want[0] / 2          # it trains


def test_learning_rate_changed_between_steps_is_read_by_replay():
    """A scheduler stepping outside the step and a hand-set lr both reach the
    replayed optimizer step, as Adam's step count does."""
    model, twin = _twins(lambda: nn.Linear(6, 3))
    opts = {}

    def opt_of(m):
        opts[id(m)] = torch.optim.Adam(m.parameters(), lr=0.1)
        return opts[id(m)]
    normal, fast = _step(model, opt_of(model)), torch.replay(_step(twin, opt_of(twin)))
    scheds = [torch.optim.lr_scheduler.StepLR(opts[id(m)], step_size=5, gamma=0.5)
              for m in (model, twin)]
    for i, (x, y) in enumerate(_classify_batches(30, 8, 6, 3)):
        assert normal(x, y).item() == fast(x, y).item()
        for s in scheds:
            s.step()
        if i == 20:
            for m in (model, twin):
                opts[id(m)].param_groups[0]["lr"] = 0.003
    assert _same(model.parameters(), twin.parameters())
    assert opts[id(twin)].param_groups[0]["lr"] == opts[id(model)].param_groups[0]["lr"]
    assert fast.replay_stats["replays"] == 29


def _digits_example():
    sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "examples"))
    try:
        import digits_mlp
    finally:
        sys.path.pop(0)
    return digits_mlp


def test_digits_example_step_with_dropout_bitwise():
    """The example's own model (with dropout: masks are drawn by a call the
    replay makes again) and step, on its batch size with a short last batch."""
    digits = _digits_example()
    results = []
    for replay in (False, True):
        torch.manual_seed(0)
        model = digits.build_model(hidden=32)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        step = torch.replay(digits.train_step) if replay else digits.train_step
        batches = _classify_batches(STEPS - 1, 64, 64, 10) + _classify_batches(1, 29, 64, 10, 1)
        loss_fn = nn.CrossEntropyLoss()
        losses = [step(model, loss_fn, opt, x, y).item() for x, y in batches]
        results.append((losses, model))
    (want, normal), (got, replayed) = results
    assert want == got
    assert _same(normal.parameters(), replayed.parameters())
    assert step.replay_stats == dict(recordings=2, replays=STEPS - 2, fallbacks=0, unreplayable=0)


@pytest.mark.parametrize("settle_every", [tape_module.SETTLE_EVERY, 16])
def test_scalar_model_with_manual_sgd_bitwise(monkeypatch, settle_every):
    """A scalar-heavy model (micrograd style: 0-d float64 parameters, a few
    hundred ops) trained by hand: updates under no_grad and grad.zero_().
    Settling every 16 records, most of the step's values live in their
    slot rows (tapegrad/tape.py), where replay writes them anew."""
    monkeypatch.setattr(tape_module, "SETTLE_EVERY", settle_every)
    def build():
        rng = np.random.default_rng(1)
        return [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in rng.normal(size=8)]

    def make(params):
        def step(xs, ys):
            loss = torch.tensor(0.0, dtype=torch.float64)
            for x, y in zip(xs, ys):
                h = [(params[i] * x + params[i + 4]).tanh() for i in range(4)]
                out = h[0] * h[1] - h[2] / (1 + h[3] ** 2)
                loss = loss + (out - y) ** 2
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= 0.05 * p.grad
                    p.grad.zero_()
            return loss
        return step
    rng = np.random.default_rng(2)
    data = [([torch.tensor(v, dtype=torch.float64) for v in rng.normal(size=10)],
             [torch.tensor(v, dtype=torch.float64) for v in rng.normal(size=10)]) for _ in range(STEPS)]
    a, b = build(), build()
    normal, fast = make(a), torch.replay(make(b))
    for xs, ys in data:
        assert normal(xs, ys).item() == fast(xs, ys).item()
    assert _same(a, b)
    assert fast.replay_stats["replays"] == STEPS - 1
    if settle_every == 16:
        (program,) = fast.programs.values()
        assert (program.tape.slot_i[:program.tape.n_slots, L.FLAGS] & L.IN_ROW).sum() > 100


def _guarded_step(m, branch_on):
    opt = torch.optim.SGD(m.parameters(), lr=0.05)

    def step(x, y, flag):
        opt.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        if branch_on(loss, flag).item():     # a guard
            loss = loss * 0.5
        loss.backward()
        opt.step()
        return loss
    return step


def _regression_batches(n, seed=3):
    rng = np.random.default_rng(seed)
    return [(torch.tensor(rng.normal(size=(8, 4)).astype(np.float32)),
             torch.tensor(rng.normal(size=(8, 1)).astype(np.float32))) for _ in range(n)]


def test_guard_falls_back_when_the_branch_value_changes():
    """The branch reads a tensor with item(): calls where it reads what the
    recording read replay; a changed value runs normally and records again."""
    model, twin = _twins(lambda: nn.Linear(4, 1))
    normal = _guarded_step(model, lambda loss, flag: flag)
    fast = torch.replay(_guarded_step(twin, lambda loss, flag: flag))
    flags = [0.0] * 6 + [1.0] * 6 + [0.0] * 6
    for (x, y), f in zip(_regression_batches(len(flags)), flags):
        f = torch.tensor(f)
        assert normal(x, y, f).item() == fast(x, y, f).item()
    assert _same(model.parameters(), twin.parameters())
    assert fast.replay_stats == dict(recordings=3, replays=15, fallbacks=2, unreplayable=0)


def test_branch_on_the_loss_falls_back_every_call_and_warns():
    model, twin = _twins(lambda: nn.Linear(4, 1))
    normal = _guarded_step(model, lambda loss, flag: loss)
    fast = torch.replay(_guarded_step(twin, lambda loss, flag: loss))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for x, y in _regression_batches(6):
            assert normal(x, y, None).item() == fast(x, y, None).item()
    assert _same(model.parameters(), twin.parameters())
    assert fast.replay_stats == dict(recordings=6, replays=0, fallbacks=5, unreplayable=0)
    assert any("keeps falling back" in str(w.message) for w in caught)


def test_reading_the_loss_after_the_update_is_not_replayable_and_says_so():
    model, twin = _twins(lambda: nn.Linear(3, 1))
    logged = []

    def make(m, log):
        opt = torch.optim.SGD(m.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = m(x).pow(2).mean()
            loss.backward()
            opt.step()
            log.append(loss.item())          # after the update: cannot be guarded
        return step
    normal, fast = make(model, []), torch.replay(make(twin, logged))
    x = torch.ones(2, 3)
    with pytest.warns(RuntimeWarning, match="not replayable: it reads a tensor's value"):
        for _ in range(4):
            normal(x)
            fast(x)
    assert len(logged) == 4 and _same(model.parameters(), twin.parameters())
    assert fast.replay_stats == dict(recordings=1, replays=0, fallbacks=0, unreplayable=3)


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 3 * x * x * g


def test_custom_function_runs_normally_with_a_warning():
    w = torch.tensor([0.5, -1.0], requires_grad=True)

    def step(x):
        w.grad = None
        loss = (Cube.apply(w) * x).sum()
        loss.backward()
        return w.grad.clone()
    fast = torch.replay(step)
    with pytest.warns(RuntimeWarning, match="custom Function Cube"):
        grads = [fast(torch.tensor([1.0, 2.0])) for _ in range(3)]
    for g in grads:
        assert g.tolist() == [0.75, 6.0]
    assert fast.replay_stats["unreplayable"] == 2


def test_hook_inside_the_step_runs_on_every_replay():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def step(x):
        w.grad = None
        h = w * x
        h.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
        h.sum().backward()
        return w.grad
    fast = torch.replay(step)
    for v in (1.0, 3.0, 5.0):
        g = fast(torch.tensor([v, v]))
        assert g.tolist() == [2 * v, 2 * v]
    assert seen == [[1.0, 1.0]] * 3
    assert fast.replay_stats["replays"] == 2


def test_new_shapes_record_again_and_outputs_are_new_tensors():
    w = torch.tensor(2.0, requires_grad=True)
    fast = torch.replay(lambda x: (x * w).sum())
    a = fast(torch.ones(3))
    b = fast(torch.ones(3) * 2)
    c = fast(torch.ones(4))
    d = fast(torch.ones(3) * 3)
    assert (a.item(), b.item(), c.item(), d.item()) == (6.0, 12.0, 8.0, 18.0)
    assert fast.replay_stats == dict(recordings=2, replays=2, fallbacks=0, unreplayable=0)
    assert not a.requires_grad


def test_train_and_eval_mode_are_checked():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    fast = torch.replay(lambda x: model(x))
    x = torch.ones(2, 4)
    fast(x)
    fast(x)
    model.eval()
    with torch.no_grad():
        want = model(x)
    assert torch.equal(fast(x), want)
    assert fast.replay_stats == dict(recordings=2, replays=1, fallbacks=1, unreplayable=0)


def test_changed_target_count_is_checked():
    """nll_loss's mean divides by the number of counted targets, which
    Python computes from the targets: a batch with an ignored one must not
    reuse the old count."""
    torch.manual_seed(0)
    logits = torch.randn(4, 3, requires_grad=True)
    fast = torch.replay(lambda y: nn.functional.cross_entropy(logits, y, ignore_index=1))
    for y in ([0, 2, 0, 2], [0, 2, 1, 2], [0, 1, 1, 2]):
        y = torch.tensor(y)
        assert fast(y).item() == nn.functional.cross_entropy(logits, y, ignore_index=1).item()
    assert fast.replay_stats["fallbacks"] == 2


def test_large_arrays_replay_numpys_vector_math_bitwise():
    """From eager.NUMPY_FROM elements on, transcendental ops run NumPy's
    SIMD loops eagerly, and replay runs those records through NumPy too."""
    from tapegrad import eager
    w = torch.tensor(np.linspace(-1, 1, eager.NUMPY_FROM + 3, dtype=np.float32), requires_grad=True)

    def step(x):
        w.grad = None
        loss = ((x * w).sin().exp() + (x - w).tanh() ** 3).mean()
        loss.backward()
        return loss, w.grad
    fast = torch.replay(step)
    rng = np.random.default_rng(4)
    for _ in range(4):
        x = torch.tensor(rng.normal(size=w.shape).astype(np.float32))
        want_loss, want_grad = (t.clone() for t in step(x))
        got_loss, got_grad = fast(x)
        assert got_loss.item() == want_loss.item()
        assert np.array_equal(got_grad.numpy(), want_grad.numpy())
    assert fast.replay_stats["replays"] == 3


def test_a_long_replayed_loop_runs_in_flat_memory():
    def rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) * 1024
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    @torch.replay
    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss
    x = torch.ones(4, 8)
    for _ in range(500):
        step(x)
    before = rss()
    for _ in range(5000):
        step(x)
    assert rss() - before < 4 << 20
    assert step.replay_stats["replays"] == 5499
