"""Train an MLP on scikit-learn's handwritten digits (1797 images of 8x8
pixels, bundled with scikit-learn: no download) and report test accuracy.

The usual PyTorch training loop, with tapegrad in torch's place: a
TensorDataset and a shuffling DataLoader, an nn.Sequential MLP,
CrossEntropyLoss and Adam; a tqdm bar per epoch shows the loss, the test
accuracy is printed at the end and the loss curve is saved as a PNG.

With --replay the training step is wrapped in tapegrad.replay: recorded on
its first call (and on the first short last batch), replayed on the others
without running its Python; the results are bitwise the same.

    pip install "tapegrad[examples]"
    python examples/digits_mlp.py [--epochs N] [--batch-size B] [--lr LR] [--plot PATH] [--replay]
"""
import argparse
import os
import sys
import time

import numpy as np

import tapegrad as torch
from tapegrad import nn
from tapegrad.utils.data import DataLoader, TensorDataset


def _extras():
    """tqdm, matplotlib and scikit-learn: the `examples` extra."""
    try:
        import matplotlib
        import sklearn.datasets
        import sklearn.model_selection
        import tqdm
    except ImportError as e:
        name = (e.name or str(e)).split(".")[0]
        package = {"sklearn": "scikit-learn"}.get(name, name)
        sys.exit(f"digits_mlp.py needs {package}, from tapegrad's examples extra: "
                 'pip install "tapegrad[examples]"')
    matplotlib.use("Agg")            # files only, no display needed
    return sklearn, tqdm.tqdm


def load_digits(sklearn, seed):
    """Train / test tensors, standardized with the training set's statistics."""
    digits = sklearn.datasets.load_digits()
    x_train, x_test, y_train, y_test = sklearn.model_selection.train_test_split(
        digits.data.astype(np.float32), digits.target.astype(np.int64), test_size=0.2,
        random_state=seed, stratify=digits.target)
    x_train, x_test = torch.tensor(x_train), torch.tensor(x_test)
    mean = x_train.mean(0)
    std = x_train.std(0)
    std[std == 0] = 1                  # border pixels that are always 0 stay 0, as sklearn does
    return ((x_train - mean) / std, torch.tensor(y_train),
            (x_test - mean) / std, torch.tensor(y_test))


def build_model(hidden=128):
    return nn.Sequential(
        nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, 10),
    )


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def save_plot(losses, steps_per_epoch, path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(len(losses)) / steps_per_epoch, losses, lw=0.8)
    ax.set(xlabel="epoch", ylabel="cross-entropy loss", yscale="log",
           title="MLP on scikit-learn's digits (tapegrad)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train_step(model, loss_fn, optimizer, xb, yb):
    """One step; it returns the loss and leaves reading it to the caller,
    so that a replayed step need not run its Python."""
    loss = loss_fn(model(xb), yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def train(epochs=20, batch_size=64, lr=2e-3, seed=0, plot="digits_loss.png", progress=True,
          replay=False):
    sklearn, tqdm = _extras()
    torch.manual_seed(seed)                     # weights and dropout
    x_train, y_train, x_test, y_test = load_digits(sklearn, seed)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True,
                        generator=seed)
    model = build_model()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    step = torch.replay(train_step) if replay else train_step
    print(model)
    print(f"{len(x_train)} training and {len(x_test)} test images, {epochs} epochs")

    losses = []
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        bar = tqdm(loader, desc=f"epoch {epoch + 1:2d}/{epochs}", disable=not progress,
                   leave=False)
        for xb, yb in bar:
            losses.append(step(model, loss_fn, optimizer, xb, yb).item())
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)    # shown at tqdm's pace
        epoch_loss = np.mean(losses[-len(loader):])
        print(f"epoch {epoch + 1:2d}/{epochs}  mean loss {epoch_loss:.4f}")
    elapsed = time.perf_counter() - start

    acc = accuracy(model, x_test, y_test)
    print(f"trained in {elapsed:.1f} s" + (f" ({step.replay_stats})" if replay else ""))
    print(f"test accuracy: {100 * acc:.1f}%")
    if plot:
        save_plot(losses, len(loader), plot)
        print(f"loss curve saved to {os.path.abspath(plot)}")
    return losses, acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="digits_loss.png",
                        help="where to save the loss curve (PNG); '' to skip")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    parser.add_argument("--replay", action="store_true",
                        help="record the training step once and replay it (tapegrad.replay)")
    args = parser.parse_args()
    train(args.epochs, args.batch_size, args.lr, args.seed, args.plot, not args.no_progress,
          args.replay)
