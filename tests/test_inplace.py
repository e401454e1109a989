"""In-place ops and the augmented operators, against torch."""
import numpy as np
import pytest
import torch

import tapegrad as tg


def run_both(f):
    return f(torch), f(tg)


@pytest.mark.parametrize("op", [
    lambda y, m: y.add_(2), lambda y, m: y.sub_(m.tensor([1.0, 2.0, 3.0])),
    lambda y, m: y.mul_(m.tensor([2.0, -1.0, 0.5])), lambda y, m: y.div_(4), lambda y, m: y.pow_(2),
    lambda y, m: y.clamp_(-1, 1.5), lambda y, m: y.zero_(), lambda y, m: y.fill_(0.5),
    lambda y, m: y.copy_(m.tensor([4.0, 5.0, 6.0])), lambda y, m: y.__iadd__(1),
    lambda y, m: y.__imul__(3), lambda y, m: y.__isub__(y.detach() * 2),
    lambda y, m: y.__itruediv__(2),
], ids=["add_", "sub_", "mul_", "div_", "pow_", "clamp_", "zero_", "fill_", "copy_", "+=", "*=",
        "-=", "/="])
def test_in_place_on_a_non_leaf_matches_torch(op):
    def run(m):
        x = m.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = x * 3
        out = op(y, m)
        assert out is y
        (y * y).sum().backward()
        return y.detach().tolist(), x.grad.tolist(), y._version
    t, g = run_both(run)
    assert np.allclose(t[0], g[0]) and np.allclose(t[1], g[1]) and t[2] == g[2]


def test_copy_sends_the_gradient_to_the_source():
    def run(m):
        src = m.tensor([1.0, 2.0], requires_grad=True)
        y = m.zeros(3, 2) * 1
        y.copy_(src * 2)
        (y * m.arange(6.0).reshape(3, 2)).sum().backward()
        return src.grad.tolist()
    assert run_both(run)[0] == run_both(run)[1]


def test_setitem_with_a_mask_and_a_slice():
    def run(m):
        x = m.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
        v = m.tensor(7.0, requires_grad=True)
        y = x.clone()
        y[y < 0] = 0
        y[1, :] = v
        (y * m.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        return y.detach().tolist(), x.grad.tolist(), v.grad.item()
    assert run_both(run)[0] == run_both(run)[1]


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    for m in (torch, tg):
        w = m.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            w.add_(1)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            w += 1
        with m.no_grad():
            w -= 0.5 * m.ones(3)
        assert w.tolist() == [0.5, 0.5, 0.5] and w.requires_grad and w.is_leaf


def test_manual_sgd_update_under_no_grad():
    def run(m):
        w = m.tensor([1.0, -2.0], requires_grad=True)
        for _ in range(3):
            loss = ((w * m.tensor([3.0, 4.0])) ** 2).sum()
            loss.backward()
            with m.no_grad():
                w -= 0.01 * w.grad
            w.grad.zero_()
        return w.tolist()
    t, g = run_both(run)
    assert np.allclose(t, g, rtol=1e-6)


def test_in_place_result_type_rules():
    for m in (torch, tg):
        i = m.tensor([1, 2])
        with pytest.raises(RuntimeError, match="can't be cast"):
            i += 1.5
        f = m.tensor([1.0, 2.0])
        f += m.tensor([1, 1])
        assert f.tolist() == [2.0, 3.0]


def test_in_place_with_an_alias_of_itself_saved_raises_like_torch():
    for m in (torch, tg):
        x = m.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = x * 3
        y.mul_(y.detach())
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
