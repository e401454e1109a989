"""Draw autograd graphs to PNG files, as torchviz's make_dot does for PyTorch.

Two pictures:
  xplus2.png  the tutorial's y = x + 2: x, AccumulateGrad, AddBackward0, y
              (the Python constant 2 is folded into the op, as in torchviz)
  mlp.png     the loss of a tiny two-layer net, its weights named

    python examples/graph_picture.py [--out DIR] [--show-saved]

Needs the graphviz Python package (pip install "tapegrad[viz]") and
Graphviz's `dot` program (apt-get install graphviz, brew install graphviz).
"""
import argparse
import os

import tapegrad as torch
from tapegrad.viz import make_dot


def tutorial_graph():
    """y = x + 2, from the autograd tutorial."""
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    return y, {"x": x, "y": y}


def mlp_graph():
    """Mean squared error of a 3 -> 5 -> 1 net with a tanh hidden layer.

    Built from raw tensors with elementwise ops and sum(dim) only, not
    nn.Linear or matmul: each layer is a broadcasting multiply + sum over a
    dim (with x of shape (batch, 1, 3) and W1 of shape (5, 3), (x * W1).sum(2)
    is x @ W1.T). So the picture shows MulBackward0 and SumBackward1 where a
    PyTorch nn.Linear would show AddmmBackward0 and TBackward0.
    """
    torch.manual_seed(0)
    x = torch.randn(8, 1, 3)                      # a batch of 8 inputs
    target = torch.randn(8)
    W1 = torch.randn(5, 3, requires_grad=True)
    b1 = torch.zeros(5, requires_grad=True)
    w2 = torch.randn(5, requires_grad=True)
    b2 = torch.zeros(1, requires_grad=True)
    hidden = ((x * W1).sum(2) + b1).tanh()        # (8, 5)
    out = (hidden * w2).sum(1) + b2               # (8,)
    loss = ((out - target) ** 2).mean()
    return loss, {"W1": W1, "b1": b1, "w2": w2, "b2": b2, "loss": loss}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for the PNG files (default: .)")
    parser.add_argument("--show-saved", action="store_true",
                        help="also draw the tensors each op saved for backward")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    paths = []
    for stem, build in (("xplus2", tutorial_graph), ("mlp", mlp_graph)):
        output, names = build()
        dot = make_dot(output, params=names, show_saved=args.show_saved)
        path = os.path.abspath(dot.render(os.path.join(args.out, stem), format="png", cleanup=True))
        paths.append(path)
        print(path)
    return paths


if __name__ == "__main__":
    main()
