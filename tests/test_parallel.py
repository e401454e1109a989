"""Parallel kernels (kernels/registry.py, eager.PARALLEL_FROM): a large
elementwise record whose inputs all have its output's size runs its kernel
on blocks of elements, one per thread, forward and backward. Each element's
arithmetic is the serial kernel's, so the bits are the same; where threads
cannot run safely, the serial kernels run."""
import os

import numpy as np
import pytest

import tapegrad as torch
from tapegrad import eager
from tapegrad.autograd import engine
from tapegrad.kernels import layout as L
from tapegrad.kernels import registry
from tapegrad.optable import CODE

N = eager.NUMPY_FROM + 13          # not a multiple of the block count


@pytest.fixture
def parallel_from_small(monkeypatch):
    """Parallel kernels from NUMPY_FROM elements (below it records skip the check)."""
    monkeypatch.setattr(eager, "PARALLEL_FROM", eager.NUMPY_FROM)


def _state(t):
    return int(t._tape.rec_i[t._tape.slot_i[t._slot, L.REC], L.STATE])


def _run(lib, dtype, fn, a, b):
    x = lib.tensor(a, dtype=dtype, requires_grad=True)
    y = lib.tensor(b, dtype=dtype, requires_grad=True)
    out = fn(x, y)
    (out * out).sum().backward()
    return out, x.grad, y.grad


# x * x feeds the same gradient twice: the first write, then an add. Few
# ops: each parallel kernel compiles once per dtype, a few seconds each.
CASES = {"mul": lambda x, y: x * y, "same input twice": lambda x, y: x * x * y,
         "unary": lambda x, y: (x * y).tanh(), "scalar": lambda x, y: x * 0.5 * y}


@pytest.mark.parametrize("case,dtype", [(case, "float32") for case in CASES]
                         + [("mul", "float64"), ("same input twice", "float64")])
def test_parallel_kernels_give_the_serial_bits_and_torchs_values(case, dtype, parallel_from_small,
                                                                 monkeypatch):
    import torch as pt
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(N), rng.standard_normal(N)
    out, ga, gb = _run(torch, getattr(torch, dtype), CASES[case], a, b)
    assert _state(out) & L.PARALLEL
    monkeypatch.setattr(eager, "PARALLEL_FROM", 1 << 62)
    serial = _run(torch, getattr(torch, dtype), CASES[case], a, b)
    assert not _state(serial[0]) & L.PARALLEL
    for got, want in zip((out, ga, gb), serial):
        assert np.array_equal(got.detach().numpy(), want.detach().numpy())
    ref = _run(pt, getattr(pt, dtype), CASES[case], a, b)
    tol = 1e-5 if dtype == "float32" else 1e-13     # (float32: 1 - tanh^2 near saturation)
    for got, want in zip((out, ga, gb), ref):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol)


def test_replay_runs_the_serial_forwards_to_the_same_bits(parallel_from_small):
    """Eager ran the parallel forwards, replay runs the serial ones."""
    w = torch.tensor(np.linspace(-1, 1, N, dtype=np.float32), requires_grad=True)

    def grad_of(x):
        w.grad = None
        CASES["unary"](x, w).sum().backward()
        return w.grad
    replayed = torch.replay(grad_of)
    for seed in range(3):
        x = torch.tensor(np.random.default_rng(seed).normal(size=N).astype(np.float32))
        assert np.array_equal(replayed(x).numpy(), grad_of(x).numpy())
    assert replayed.replay_stats["replays"] == 2


def test_broadcast_and_reductions_stay_serial(parallel_from_small):
    x = torch.ones(N, requires_grad=True)
    row = torch.ones(1, requires_grad=True)
    assert not _state(x * row) & L.PARALLEL        # row is broadcast: its gradient is a sum
    assert not _state(x.sum()) & L.PARALLEL
    assert not _state(x.sin()) & L.PARALLEL        # NumPy runs sin's VJP (NUMPY_VJP)


def test_without_a_safe_threading_layer_the_serial_kernels_run(parallel_from_small, monkeypatch):
    """parallel_ok() False (no TBB or OpenMP, or the user picked workqueue):
    PARALLEL records run the serial entries, with the same results."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(N), rng.standard_normal(N)
    want = _run(torch, torch.float32, CASES["mul"], a, b)
    monkeypatch.setattr(registry, "_parallel", [False])
    monkeypatch.setattr(engine, "ENTRIES", registry.table(engine.OPS))
    monkeypatch.setattr(eager, "FENTRIES", registry.table(engine.OPS, "fentry"))
    got = _run(torch, torch.float32, CASES["mul"], a, b)
    assert _state(got[0]) & L.PARALLEL
    assert engine.ENTRIES[CODE["mul"], 2] == 1 and eager.FENTRIES[CODE["mul"], 2] == 1
    for g, w in zip(got, want):
        assert np.array_equal(g.detach().numpy(), w.detach().numpy())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_runs_serial_kernels(parallel_from_small):
    """OpenMP's threads do not survive fork: a child runs the serial entries."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(N), rng.standard_normal(N)
    want = _run(torch, torch.float32, CASES["mul"], a, b)[1].numpy()   # the parent ran threads
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                          # the child: report, then leave at once
        try:
            serial = bool((engine.ENTRIES[:, 2:] == 1).all() and (eager.FENTRIES[:, 2:] == 1).all())
            grad = _run(torch, torch.float32, CASES["mul"], a, b)[1].numpy()
            os.write(write, bytes([serial, np.array_equal(grad, want)]))
        finally:
            os._exit(0)
    os.close(write)
    report = os.read(read, 2)
    os.waitpid(pid, 0)
    assert report == bytes([True, True])
