"""Fit y = 3x - 2 with raw tensors, in the tutorials' style: the loss is built
from tensor ops, backward() fills w.grad and b.grad, and the update runs under
no_grad, followed by grad.zero_().

    python examples/linear_regression.py [--steps N]
"""
import argparse

import tapegrad as torch


def train(steps=200, lr=0.1, log_every=20):
    torch.manual_seed(0)
    x = torch.randn(100, 1)
    y = 3 * x - 2 + 0.1 * torch.randn(100, 1)
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    losses = []
    for step in range(steps):
        loss = ((x * w + b - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
        losses.append(loss.item())
        if log_every and step % log_every == 0:
            print(f"step {step:4d}  loss {loss:.4f}")
    print(f"w = {w.item():.3f}, b = {b.item():.3f} (true: 3, -2)")
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    train(parser.parse_args().steps)
