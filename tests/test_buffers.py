"""The pool of large arrays (tapegrad/buffers.py): a buffer is handed out
again only when nothing refers to any array made from it."""
import threading
import time

import numpy as np
import pytest

import tapegrad as torch
from tapegrad import buffers
from tapegrad.tape import current


@pytest.fixture
def small_pool(monkeypatch):
    """Pool from 1 KiB on, so tests use small arrays; an empty pool."""
    monkeypatch.setattr(buffers, "FROM", 1024)
    monkeypatch.setattr(buffers, "_buffers", {})


def address(a):
    return a.__array_interface__["data"][0]


def test_a_buffer_is_reused_once_nothing_holds_it(small_pool):
    a = buffers.empty((16, 16), np.float64)
    first = address(a)
    b = buffers.empty((16, 16), np.float64)
    assert address(b) != first                 # a still holds the first
    del a
    c = buffers.empty((256,), np.float64)      # same bytes, another shape
    assert address(c) == first and c.shape == (256,)
    assert buffers.empty((100,), np.float32).nbytes == 400   # below FROM: plain np.empty
    assert buffers.held() == 2 * 2048


@pytest.mark.parametrize("hold", ["view", "numpy", "tensor", "grad"])
def test_anything_made_from_a_buffer_keeps_it(small_pool, hold):
    x = torch.ones(512, dtype=torch.float64, requires_grad=True)
    y = (x * 3).exp()                          # exp's output comes from the pool
    kept = {"view": lambda: y.detach()[10:20], "numpy": lambda: y.detach().numpy()[::2],
            "tensor": lambda: y.detach(), "grad": lambda: None}[hold]()
    y.sum().backward()
    if hold == "grad":
        kept = x.grad
    want = kept.tolist() if hasattr(kept, "tolist") else None
    del y
    for k in range(5):                          # new arrays of the same size must not reuse it
        z = (x * (k + 4.0)).exp()
        assert not np.may_share_memory(z.detach().numpy(), np.asarray(kept.detach().numpy()
                                       if isinstance(kept, torch.Tensor) else kept))
    assert kept.tolist() == want


def test_idle_buffers_are_let_go(small_pool, monkeypatch):
    """At a take or at the tape's reclaiming pass, once idle for KEEP seconds."""
    monkeypatch.setattr(buffers, "KEEP", 0.05)
    a, kept = buffers.empty((1024,), np.float32), buffers.empty((512,), np.float32)
    del a
    time.sleep(0.1)
    b = buffers.empty((2048,), np.float32)
    assert buffers.held() == 2048 + 8192       # the free 4 KiB one went, the held one stays
    del b
    time.sleep(0.1)
    current().reclaim()
    assert buffers.held() == 2048 and kept.size == 512


def test_two_threads_never_share_a_buffer(small_pool):
    taken, errors = [], []

    def work(seed):
        for i in range(300):
            a = buffers.empty((64,), np.float64)
            a[:] = seed
            if not (a == seed).all():
                errors.append(seed)
            taken.append(address(a))
            if i % 3:
                del a
    threads = [threading.Thread(target=work, args=(s,)) for s in (1.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_large_training_loop_keeps_the_pool_flat(monkeypatch):
    """Steps on 1-MiB float32 arrays with the pool from 1 MiB on: the pool
    grows while the tape holds the first steps' arrays (until its amortized
    reclaiming frees them), then stays within that; the gradients are
    those of torch."""
    import torch as pt
    monkeypatch.setattr(buffers, "FROM", 1 << 20)
    monkeypatch.setattr(buffers, "_buffers", {})
    v = np.linspace(-3, 3, 1 << 18, dtype=np.float32)
    sizes = []
    for lib in (torch, pt):
        x = lib.tensor(v, requires_grad=True)
        for step in range(30):
            x.grad = None
            ((x.sin() * x + (-x * x).exp() * 0.5 + x.tanh()).mean() * (step + 1)).backward()
            if lib is torch:
                sizes.append(buffers.held())
        if lib is torch:
            mine = x.grad.numpy().copy()
    np.testing.assert_allclose(mine, x.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert 0 < max(sizes[15:]) <= max(sizes[:15])
