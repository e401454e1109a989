"""Logistic regression with raw tensors, in the tutorials' style: two
Gaussian clouds in the plane, p = sigmoid(x @ w + b), and the binary cross
entropy written out with clamp and log; backward() fills w.grad and b.grad,
the update runs under no_grad, then the gradients are zeroed.

    python examples/logistic_regression.py [--steps N] [--lr LR]
"""
import argparse

import tapegrad as torch


def make_data(n=200):
    """Class 0 around (-1, -1), class 1 around (1, 1)."""
    y = (torch.rand(n, 1) < 0.5).float()
    x = torch.randn(n, 2) + (2 * y - 1)
    return x, y


def train(steps=300, lr=0.5, log_every=50):
    torch.manual_seed(0)
    x, y = make_data()
    w = torch.zeros(2, 1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    eps = 1e-7                      # keeps log() away from log(0)
    losses = []
    for step in range(steps):
        p = torch.sigmoid(x @ w + b)
        loss = -(y * torch.log(p.clamp(min=eps))
                 + (1 - y) * torch.log((1 - p).clamp(min=eps))).mean()
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
        losses.append(loss.item())
        if log_every and step % log_every == 0:
            print(f"step {step:4d}  loss {loss:.4f}")
    with torch.no_grad():
        accuracy = ((x @ w + b > 0).float() == y).float().mean().item()
    print(f"final loss {losses[-1]:.4f}, training accuracy: {100 * accuracy:.1f}%")
    return losses, accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.5)
    args = parser.parse_args()
    train(args.steps, args.lr)
