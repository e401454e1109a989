"""tapegrad.autograd.gradcheck against torch.autograd.gradcheck: the same
function on the same float64 data gives the same verdict, and a failure
the same exception type and message (torch. read as tapegrad.). It must
accept correct gradients and reject a wrong one."""
import warnings

import numpy as np
import pytest
import torch

import tapegrad
from tapegrad.autograd import GradcheckError

RNG = np.random.default_rng(0)


def _inputs(lib, arrays, requires_grad=True):
    return tuple(lib.tensor(a.copy(), requires_grad=requires_grad and a.dtype.kind == "f")
                 if isinstance(a, np.ndarray) else a for a in arrays)


def outcome(lib, fn, arrays, **kwargs):
    """(result or exception type, message) of lib's gradcheck of fn(lib, ...)."""
    inputs = _inputs(lib, arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return lib.autograd.gradcheck(lambda *xs: fn(lib, *xs), inputs, **kwargs), None
        except Exception as e:
            base = RuntimeError if type(e).__name__ == "GradcheckError" else type(e)
            return base, str(e).replace("torch.", "tapegrad.")


def same_as_torch(fn, *arrays, **kwargs):
    ours = outcome(tapegrad, fn, arrays, **kwargs)
    theirs = outcome(torch, fn, arrays, **kwargs)
    assert ours == theirs
    return ours


def rand(*shape, low=0.2, high=1.5):
    return RNG.uniform(low, high, shape)


# -- correct gradients pass -------------------------------------------------------

CORRECT = {
    "sin": (lambda lib, x: lib.sin(x), [rand(3, 2)]),
    "exp_log": (lambda lib, x: lib.log(x) * lib.exp(-x), [rand(4)]),
    "tanh_sigmoid": (lambda lib, x: lib.tanh(x) + lib.sigmoid(x * 2), [rand(2, 3, low=-1)]),
    "pow_sqrt": (lambda lib, x: x ** 3 / lib.sqrt(x), [rand(5)]),
    "broadcast_binary": (lambda lib, x, y: x * y - y / x + x ** y, [rand(2, 3), rand(3)]),
    "matmul": (lambda lib, a, b: a @ b, [rand(2, 3), rand(3, 4)]),
    "reductions": (lambda lib, x: (x.sum(0), x.mean(), x.norm(), lib.logsumexp(x, 1)),
                   [rand(3, 2)]),
    "softmax": (lambda lib, x: lib.softmax(x, 1), [rand(2, 4, low=-1)]),
    "indexing_and_views": (lambda lib, x: x[1:, [0, 2]].T.reshape(-1) * x[0, 1], [rand(3, 3)]),
    "cat_stack": (lambda lib, x, y: lib.cat([x, y * 2]).sum(0) + lib.stack([x, y]).prod(0)[0],
                  [rand(2, 3), rand(2, 3)]),
    "max_and_clamp": (lambda lib, x: x.max(1)[0] + x.clamp(min=0.5).sum(), [rand(3, 4)]),
    "where": (lambda lib, x, y: lib.where(x > 0.8, x * y, y), [rand(6), rand(6)]),
    "non_tensor_inputs": (lambda lib, x, k, name: (x * k).sum() if name == "sum" else x,
                          [rand(3), 2.5, "sum"]),
    "unused_input": (lambda lib, x, y: x * 2, [rand(3), rand(3)]),
    "identity": (lambda lib, x: x, [rand(3)]),
}


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_gradients_pass(name):
    fn, arrays = CORRECT[name]
    assert same_as_torch(fn, *arrays) == (True, None)


def test_single_tensor_input():
    x = tapegrad.tensor(rand(3), requires_grad=True)
    assert tapegrad.autograd.gradcheck(tapegrad.sin, x)


def test_inputs_left_as_they_were():
    data = rand(2, 3)
    x = tapegrad.tensor(data.copy(), requires_grad=True)
    assert tapegrad.autograd.gradcheck(lambda x: (x * x).sum(), (x,))
    assert x.grad is None
    assert x.detach().numpy().tolist() == data.tolist()


# -- a wrong gradient fails ------------------------------------------------------

def fake_square(lib, x):
    """Value x * x, gradient 5 (not 2x): the detach() trick."""
    return x * x + (x - x.detach()) * 5


def test_wrong_gradient_raises_gradcheck_error():
    x = tapegrad.tensor(np.array([0.5, 0.2, 0.3]), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        tapegrad.autograd.gradcheck(lambda x: fake_square(tapegrad, x), (x,))
    assert isinstance(info.value, RuntimeError)
    assert str(info.value) == (
        "Jacobian mismatch for output 0 with respect to input 0,\n"
        "numerical:tensor([[1.0000, 0.0000, 0.0000],\n"
        "        [0.0000, 0.4000, 0.0000],\n"
        "        [0.0000, 0.0000, 0.6000]], dtype=tapegrad.float64)\n"
        "analytical:tensor([[6.0000, 0.0000, 0.0000],\n"
        "        [0.0000, 5.4000, 0.0000],\n"
        "        [0.0000, 0.0000, 5.6000]], dtype=tapegrad.float64)\n")


def test_wrong_gradient_same_message_as_torch():
    kind, message = same_as_torch(fake_square, rand(2, 2))
    assert kind is RuntimeError and message.startswith("Jacobian mismatch for output 0 with "
                                                       "respect to input 0,\nnumerical:")


def test_wrong_gradient_without_raising_returns_false():
    assert same_as_torch(fake_square, rand(3), raise_exception=False) == (False, None)


def test_mismatch_names_the_output_and_input():
    def fn(lib, a, b):                  # output 1's gradient w.r.t. input 1 is off by 3
        return a * b, a + b * b + (b - b.detach()) * 3
    kind, message = same_as_torch(fn, rand(2), rand(2))
    assert kind is RuntimeError
    assert message.startswith("Jacobian mismatch for output 1 with respect to input 1,\n")


def test_a_slightly_wrong_gradient_and_the_tolerances():
    def fn(lib, x):                     # gradient 2x + 1e-6
        return x * x + (x - x.detach()) * 1e-6
    assert same_as_torch(fn, rand(3)) == (True, None)
    kind, message = same_as_torch(fn, rand(3), atol=1e-9, rtol=1e-9)
    assert kind is RuntimeError


def test_wrong_custom_function_backward_is_caught():
    class BadSquare(tapegrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x                # should be 2 * g * x

    x = tapegrad.tensor(rand(3), requires_grad=True)
    with pytest.raises(GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"):
        tapegrad.autograd.gradcheck(BadSquare.apply, (x,))


def test_backward_that_ignores_grad_output_is_caught():
    class SumIgnoringG(tapegrad.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.shape = x.shape
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return tapegrad.ones(ctx.shape, dtype=tapegrad.float64)

    x = tapegrad.tensor(rand(3), requires_grad=True)
    with pytest.raises(GradcheckError, match="backward not multiplied by grad_output"):
        tapegrad.autograd.gradcheck(SumIgnoringG.apply, (x,))


# -- what gradcheck refuses or warns about, as torch ---------------------------------

def test_no_input_requires_grad_raises_value_error():
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        tapegrad.autograd.gradcheck(lambda x: x * 2, (tapegrad.ones(2, dtype=tapegrad.float64),))
    assert same_as_torch(lambda lib, x: x * 2, np.array([1, 2])) == (
        ValueError, "gradcheck expects at least one input tensor to require gradient, but none "
        "of them have requires_grad=True.")


def test_float32_input_warns_as_torch():
    x = tapegrad.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="Input #0 requires gradient and is not a double "
                                         "precision floating point"):
        tapegrad.autograd.gradcheck(lambda x: x * 2, (x,), raise_exception=False)


def test_float32_verdict_as_torch():
    def fn(lib, x):
        return x.float() * 2
    data = (np.ones(2, np.float32),)
    ours = outcome(tapegrad, fn, data)
    theirs = outcome(torch, fn, data)
    assert ours == theirs and ours[0] is RuntimeError


def test_no_differentiable_output():
    def detached(lib, x):
        return (x * 2).detach()

    def integer(lib, x):
        return (x > 1).long()
    assert same_as_torch(detached, rand(3)) == (
        RuntimeError, "Numerical gradient for function expected to be zero")
    assert same_as_torch(integer, rand(3)) == (True, None)
