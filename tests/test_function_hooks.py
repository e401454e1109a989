"""Custom Functions, hooks, autograd.grad and version counters, each run
the same way in torch and tapegrad and compared."""
import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.autograd import engine

from functions import my_relu


def both(f):
    return f(torch), f(tg)


def test_custom_function_matches_torch():
    def run(m):
        x = m.tensor([-1.0, 2.0, 3.0], requires_grad=True)
        y = my_relu(m).apply(x * 2)
        (y * y).sum().backward()
        name = type(y.grad_fn).__name__ if m is torch else y.grad_fn.name()
        return x.grad.tolist(), name
    assert both(run)[0] == both(run)[1]


def test_function_with_several_inputs_outputs_and_non_tensor_args():
    def run(m):
        class Split(m.autograd.Function):
            @staticmethod
            def forward(ctx, a, scale, b):
                ctx.save_for_backward(a, b)
                ctx.scale = scale
                assert ctx.needs_input_grad == (True, False, True)
                return a * b * scale, a + b

            @staticmethod
            def backward(ctx, g1, g2):
                a, b = ctx.saved_tensors
                return g1 * b * ctx.scale + g2, None, g1 * a * ctx.scale + g2
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = m.tensor([3.0, -1.0], requires_grad=True)
        p, s = Split.apply(a, 2.0, b)
        (p.sum() * 3 + s.prod()).backward()
        return a.grad.tolist(), b.grad.tolist()
    t, g = both(run)
    assert np.allclose(t, g)


def test_unused_output_gets_a_zero_gradient_and_forward_runs_without_grad():
    def run(m):
        class Two(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                assert not m.is_grad_enabled()
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 * 2 + g2 * 3
        x = m.tensor([1.0, 2.0], requires_grad=True)
        first, _ = Two.apply(x)
        first.sum().backward()
        return x.grad.tolist()
    assert both(run)[0] == both(run)[1]


def test_wrong_number_of_gradients_raises_runtime_error():
    def run(m):
        class Bad(m.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x + y

            @staticmethod
            def backward(ctx, g):
                return g
        x = m.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="incorrect number of gradients"):
            Bad.apply(x, x).sum().backward()
    both(run)


def test_function_in_a_10000_op_graph_enters_the_interpreter_twice(monkeypatch):
    calls = []
    real = engine.run
    monkeypatch.setattr(engine, "run", lambda *a: calls.append(a[0]) or real(*a))
    x = tg.tensor(0.3, requires_grad=True)
    y = x
    for _ in range(5_000):
        y = (y * 0.999).tanh()
    y = my_relu(tg).apply(y)
    for _ in range(5_000):
        y = y * 1.0001
    y.backward()
    assert len(calls) == 2
    # same chain in float64 torch
    tx = torch.tensor(0.3, requires_grad=True, dtype=torch.float64)
    ty = tx
    for _ in range(5_000):
        ty = (ty * 0.999).tanh()
    ty = my_relu(torch).apply(ty)
    for _ in range(5_000):
        ty = ty * 1.0001
    ty.backward()
    assert np.isclose(x.grad.item(), tx.grad.item(), rtol=1e-3)


def test_hooks_replace_gradients_in_order_and_retain_grad_sees_the_result():
    def run(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        seen = []
        y.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
        removed = y.register_hook(lambda g: g * 100)
        removed.remove()
        y.register_hook(lambda g: g + 1)
        y.retain_grad()
        ((y * y).sum() + y.sum()).backward()
        x.register_hook(lambda g: g * 10)
        (x * 1).sum().backward()
        return x.grad.tolist(), seen, y.grad.tolist()
    assert both(run)[0] == both(run)[1]


def test_hook_on_tensor_without_grad_raises():
    for m in (torch, tg):
        with pytest.raises(RuntimeError):
            m.ones(2).register_hook(lambda g: g)


def test_backward_inside_a_hook_works_as_in_torch():
    def run(m):
        w = m.tensor([2.0], requires_grad=True)
        x = m.tensor([1.0, 3.0], requires_grad=True)
        inner = []

        def hook(g):
            with m.enable_grad():           # backward runs hooks with grad mode off
                (w * w).sum().backward()    # re-entrant
            inner.append(w.grad.tolist())
            return g
        y = x * x
        y.register_hook(hook)
        y.sum().backward()
        return x.grad.tolist(), inner
    assert both(run)[0] == both(run)[1]


def test_autograd_grad_leaves_dot_grad_alone():
    def run(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        w = m.tensor([0.5, -1.0], requires_grad=True)
        h = x * w
        y = h.tanh().sum()
        gx, gh = m.autograd.grad(y, [x, h], retain_graph=True)
        (gw,) = m.autograd.grad([y, h.sum()], [w], grad_outputs=[m.tensor(2.0), None])
        return gx.tolist(), gh.tolist(), gw.tolist(), x.grad, w.grad
    t, g = both(run)
    assert np.allclose(t[:3], g[:3]) and g[3] is None and g[4] is None


def test_autograd_grad_unused_input():
    for m in (torch, tg):
        x = m.ones(2, requires_grad=True)
        z = m.ones(2, requires_grad=True)
        y = (x * 2).sum()
        with pytest.raises(RuntimeError, match="not have been used"):
            m.autograd.grad(y, [x, z], retain_graph=True)
        assert m.autograd.grad(y, [x, z], allow_unused=True)[1] is None


def _changed_saved_input(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
        z.sum().backward()
    return str(info.value).replace("torch.", "tapegrad.")


def test_saved_tensor_changed_in_place_raises_torch_message():
    t, g = both(_changed_saved_input)
    assert t == g


def test_version_counter_bumps_where_torch_does():
    def run(m):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        versions = [y._version]
        y.detach().zero_()            # an alias: bumps y's version
        versions.append(y._version)
        y.data.zero_()                # .data does not share the version counter
        versions.append(y._version)
        w = x * 2                     # nothing saved w: changing it is fine
        v = w + 1
        w.mul_(3)
        v.sum().backward()
        return versions, x.grad.tolist()
    assert both(run)[0] == both(run)[1]


def test_leaf_changed_after_being_saved_raises_and_the_tape_stays_usable():
    for m in (torch, tg):
        w = m.tensor([1.0, 2.0], requires_grad=True)
        loss = (w * w).sum()
        with m.no_grad():
            w -= 0.1 * w
        with pytest.raises(RuntimeError):
            loss.backward()
        (w * w).sum().backward()
        assert np.allclose(w.grad.tolist(), [1.8, 3.6])
