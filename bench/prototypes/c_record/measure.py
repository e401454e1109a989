"""One variant of the C record path prototype, in this process:
    python measure.py VARIANT [BUILD]    (VARIANT: python, no_del, c_path, mirror)

Runs bench/test_graphs.py's 10,000-op scalar graph with tapegrad as it is
(python), or with c_record's record path installed on Tensor's __mul__,
__add__, tanh and __pow__ (no_del), also on __del__ (c_path), the same
built with -DMIRROR (mirror); checks the values and gradients are bitwise
the Python path's, then prints tapegrad's and torch's microseconds per op,
forward and backward, twice (run.py builds BUILD and runs every variant)."""
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3]))
import tapegrad  # noqa: E402
import torch  # noqa: E402
from tapegrad import capture, tape  # noqa: E402
from tapegrad.autograd import anomaly_mode, grad_mode  # noqa: E402
from tapegrad.optable import CODE  # noqa: E402
from tapegrad.tensor import Tensor  # noqa: E402

from bench.test_graphs import scalar_forward, scalar_leaves  # noqa: E402

N = 10_000
OPS = (("__mul__", 0, "mul"), ("__add__", 1, "add"), ("tanh", 2, "tanh"), ("__pow__", 3, "pow_scalar"))


def result(m):
    leaves = scalar_leaves(m)
    y = scalar_forward(m, leaves, N)
    y.backward()
    return y.item(), [t.grad.item() for t in leaves]


def per_op(m, rounds=15):
    """Medians of (forward, backward) in us per op."""
    leaves = scalar_leaves(m)
    scalar_forward(m, leaves, N).backward()
    times = []
    for _ in range(rounds):
        for t in leaves:
            t.grad = None
        t0 = time.perf_counter()
        y = scalar_forward(m, leaves, N)
        t1 = time.perf_counter()
        y.backward()
        times.append((t1 - t0, time.perf_counter() - t1))
    return np.median(times, axis=0) / N * 1e6


def install(build, variant):
    sys.path.insert(0, build)
    import c_record
    c_record.setup(Tensor, grad_mode._local, anomaly_mode, capture.RECORDING, tape._local)
    for name, rule, code in OPS:
        setattr(Tensor, name, c_record.Fast(rule, CODE[code], Tensor.__dict__[name]))
    if variant != "no_del":
        Tensor.__del__ = c_record.Fast(4, -1, Tensor.__dict__["__del__"])


if __name__ == "__main__":
    variant = sys.argv[1]
    torch.set_num_threads(2)
    want = result(tapegrad)
    if variant != "python":
        install(sys.argv[2], variant)
        assert result(tapegrad) == want, "the C path's values or gradients differ from Python's"
    for _ in range(2):
        (f, b), (tf, tb) = per_op(tapegrad), per_op(torch)
        print(f"{variant:8s} forward {f:.3f} backward {b:.3f} us/op | torch {tf:.3f} {tb:.3f} | "
              f"forward+backward / torch {(f + b) / (tf + tb):.3f}")
