"""Tape lifetime, threads and anomaly detection."""
import resource
import threading
import time
import warnings

import numpy as np
import pytest
import torch

import tapegrad as tg
from tapegrad.tape import current


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_20000_training_steps_run_in_flat_memory():
    tg.manual_seed(0)
    w1 = tg.randn(8, 16, requires_grad=True)
    w2 = tg.randn(16, 1, requires_grad=True)
    x, y = tg.randn(32, 8), tg.randn(32, 1)
    tape = current()
    for step in range(20_000):
        if step == 2_000:
            rss, records = _peak_rss_mb(), tape.n_rec
        loss = (((x @ w1).tanh() @ w2 - y) ** 2).mean()
        if step % 10 == 0:
            continue                          # an evaluation pass nobody differentiates
        loss.backward()
        with tg.no_grad():
            w1 -= 0.001 * w1.grad
            w2 -= 0.001 * w2.grad
        w1.grad = w2.grad = None
    assert _peak_rss_mb() - rss < 10
    assert tape.n_rec <= max(2 * records, 4096)


def _train(seed, steps, stamps):
    """A small model trained in this thread; returns its final weights."""
    rng = np.random.default_rng(seed)
    w = tg.tensor(rng.standard_normal((4, 8)), requires_grad=True)
    v = tg.tensor(rng.standard_normal((8, 1)), requires_grad=True)
    x, y = tg.tensor(rng.standard_normal((64, 4))), tg.tensor(rng.standard_normal((64, 1)))
    stamps.append(time.perf_counter())
    for _ in range(steps):
        loss = (((x @ w).relu() @ v - y) ** 2).mean()
        loss.backward()
        with tg.no_grad():
            w -= 0.01 * w.grad
            v -= 0.01 * v.grad
        w.grad.zero_()
        v.grad.zero_()
    stamps.append(time.perf_counter())
    return w.detach().numpy().copy(), v.detach().numpy().copy()


def test_two_threads_train_at_once_with_the_results_of_one_after_the_other():
    sequential = [_train(seed, 300, []) for seed in (1, 2)]
    results, stamps = [None, None], [[], []]

    def worker(i):
        results[i] = _train(i + 1, 300, stamps[i])
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, sequential):
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
    (s0, e0), (s1, e1) = stamps
    assert s0 < e1 and s1 < e0, "the two training loops did not overlap in time"


def test_backward_in_another_thread_raises_a_clear_error():
    x = tg.ones(2, requires_grad=True)
    y = (x * 2).sum()
    errors = []

    def worker():
        try:
            y.backward()
        except RuntimeError as e:
            errors.append(str(e))
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors and "thread" in errors[0]
    y.backward()                          # the building thread still can
    assert x.grad.tolist() == [2.0, 2.0]


def test_anomaly_detection_names_the_op_whose_backward_made_nan():
    messages = []
    for m in (torch, tg):
        x = m.tensor([0.0, 1.0], requires_grad=True)
        with m.autograd.detect_anomaly(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = (x.sqrt() * 0).sum()
            with pytest.raises(RuntimeError) as info:
                y.backward()
        messages.append(str(info.value))
        assert any("sqrt()" in str(w.message) for w in caught)
    assert messages[0] == messages[1]
    assert not tg.autograd.is_anomaly_enabled()


def test_errors_leave_the_tape_usable():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    bad = [lambda: x + tg.ones(2), lambda: x @ tg.ones(2), lambda: x[5],
           lambda: (x * x).backward(), lambda: tg.ones(2).backward(),
           lambda: (x * 2).sum().backward(tg.ones(3))]
    for f in bad:
        with pytest.raises((RuntimeError, IndexError)):
            f()
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
