"""A model built on a custom autograd Function, checked with gradcheck.

Swish (x * sigmoid(x)) written as a tapegrad.autograd.Function with a
hand-derived backward; gradcheck compares it with finite differences, then
a small network using it learns y = sin(3x).

    python examples/custom_function.py [--steps N]
"""
import argparse

import tapegrad as torch


class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        return grad_output * (s * (1 + x * (1 - s)))


def train(steps=300, lr=0.1, log_every=50):
    check = torch.randn(6, dtype=torch.float64, requires_grad=True)
    ok = torch.autograd.gradcheck(Swish.apply, (check,))
    print(f"gradcheck of Swish: {'passed' if ok else 'FAILED'}")

    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64).reshape(64, 1)
    y = torch.sin(3 * x)
    w1 = (torch.randn(1, 32) * 3.0).requires_grad_()
    b1 = (torch.randn(32) * 2.0).requires_grad_()
    w2 = (torch.randn(32, 1) * 0.2).requires_grad_()
    params = [w1, b1, w2]
    losses = []
    for step in range(steps):
        loss = ((Swish.apply(x @ w1 + b1) @ w2 - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        losses.append(loss.item())
        if log_every and step % log_every == 0:
            print(f"step {step:4d}  loss {loss:.4f}")
    print(f"final loss {losses[-1]:.4f}")
    return ok, losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    train(parser.parse_args().steps)
