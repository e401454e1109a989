"""0-d float math recorded without NumPy (tapegrad/scalars.py), in C
(tapegrad/_record.c) and in Python, each test run on both: each op that
takes that path gives the general path's bits and torch's values and
gradients; a Scalar reads, prints and changes in place as any tensor; what
the path cannot do goes the general way, with the general way's results."""
import inspect
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch as pt

import tapegrad as torch
from tapegrad import scalars
from tapegrad import tape as tape_module

UNARY = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "neg", "abs",
         "log1p", "expm1", "exp2", "log2", "log10", "rsqrt", "reciprocal", "erf", "floor", "ceil",
         "round", "square"]
CASES = {
    **{name: (lambda name: lambda x, y: getattr(x, name)() * y)(name) for name in UNARY},
    "x + y": lambda x, y: x + y, "x - y": lambda x, y: x - y, "x * y": lambda x, y: x * y,
    "x / y": lambda x, y: x / y, "x ** y": lambda x, y: x ** y, "-x": lambda x, y: -x * y,
    "add(x, y)": lambda x, y: torch_of(x).add(x, y), "x.mul(y)": lambda x, y: x.mul(y),
    "x + 2": lambda x, y: (x + 2) * y, "2 + x": lambda x, y: (2 + x) * y,
    "x - 2": lambda x, y: (x - 2) * y, "2 - x": lambda x, y: (2 - x) * y,
    "x * 3": lambda x, y: x * 3 * y, "3 * x": lambda x, y: 3 * x * y,
    "x / 4": lambda x, y: x / 4 * y, "4 / x": lambda x, y: 4 / x * y,
    "x ** 2": lambda x, y: x ** 2 * y, "x ** 0.5": lambda x, y: x ** 0.5 * y,
    "2 ** x": lambda x, y: 2 ** x * y,
    "a chain": lambda x, y: ((x * y + 0.5).tanh() ** 2 - x / y).exp(),
}


@pytest.fixture(autouse=True, params=["c", "python"] if scalars.IN_C else ["python"])
def path(request, monkeypatch):
    """Each test on each path, on a new tape: one that other tests left just
    short of reclaiming would send an op the general way (record_scalar)."""
    monkeypatch.setattr(tape_module._local, "tape", tape_module.Tape(), raising=False)
    with scalars.taking(request.param):
        yield request.param


def torch_of(t):
    return pt if isinstance(t, pt.Tensor) else torch


def _leaves(m, dtype, values=(0.7, 1.3)):
    return [m.tensor(np.array(v, dtype), requires_grad=True) for v in values]


def _bits(t):
    return t.detach().numpy().tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CASES)
def test_each_op_gives_the_general_paths_bits_and_torchs_results(name, dtype):
    f = CASES[name]
    x, y = _leaves(torch, dtype)
    out = f(x, y)
    assert out._v is not None                   # a Scalar: recorded by scalars.py
    assert type(out) is torch.Tensor and out.dtype is {np.float32: torch.float32,
                                                       np.float64: torch.float64}[dtype]
    out.backward()
    x2, y2 = _leaves(torch, dtype)
    with scalars.taking("general"):
        ref = f(x2, y2)
        assert ref._v is None
        ref.backward()
    assert _bits(out) == _bits(ref)
    assert _bits(x.grad) == _bits(x2.grad) and _bits(y.grad) == _bits(y2.grad)
    px, py = _leaves(pt, dtype)
    want = f(px, py)
    want.backward()
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.item(), want.item(), rtol=rtol)
    for a, b in ((x, px), (y, py)):
        np.testing.assert_allclose(a.grad.item(), b.grad.item(), rtol=rtol * 10)


def _reads_and_changes(m):
    x, y = _leaves(m, np.float32)
    z = x * y
    seen = [str(z), z.shape, z.dtype == m.float32, z.ndim, z.item()]
    z.mul_(2)                        # in place on a non-leaf, as torch allows
    w = (z + 1) * x
    w.backward()
    return seen + [repr(w), x.grad.item(), y.grad.item(), float(z.detach().numpy())]


def test_a_scalar_reads_prints_and_changes_in_place_as_torchs():
    ours, want = _reads_and_changes(torch), _reads_and_changes(pt)
    assert ours[0] == want[0] and tuple(ours[1]) == tuple(want[1]) == ()
    assert ours[2:] == want[2:]


GENERAL = {   # what the path leaves to the general way, and why
    "exp overflows in Python": lambda m: m.tensor(1000.0, requires_grad=True).exp(),
    "1 / 0": lambda m: m.tensor(1.0, requires_grad=True) / m.tensor(0.0),
    "a complex power": lambda m: m.tensor(-8.0, requires_grad=True) ** (1 / 3),
    "two dtypes": lambda m: m.tensor(2.0, requires_grad=True) * m.tensor(3.0, dtype=m.float64),
    "a 1-d operand": lambda m: m.tensor(2.0, requires_grad=True) * m.tensor([3.0, 4.0]),
    "an int operand": lambda m: m.tensor(2.0, requires_grad=True) * m.tensor(3),
    "add with alpha": lambda m: m.add(m.tensor(2.0, requires_grad=True), m.tensor(3.0), alpha=2),
}


@pytest.mark.parametrize("name", GENERAL)
def test_what_the_path_cannot_do_goes_the_general_way(name):
    out, want = GENERAL[name](torch), GENERAL[name](pt)
    assert out._v is None
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-6)
    assert out.dtype.is_floating_point and str(out.dtype).split(".")[1] == str(want.dtype).split(".")[1]


def test_float32_overflow_rounds_to_inf_as_the_kernels_do():
    x = torch.tensor(1e30, requires_grad=True)
    out = x * x
    assert out._v == float("inf") and out.item() == pt.tensor(1e30) * pt.tensor(1e30)


@pytest.mark.filterwarnings("ignore:Anomaly Detection")
def test_no_grad_and_anomaly_mode_go_the_general_way():
    x = torch.tensor(0.5, requires_grad=True)
    with torch.no_grad():
        assert (x * 2)._v is None
    with torch.autograd.detect_anomaly():
        assert (x * 2)._v is None
    assert (torch.tensor(0.5) * 2)._v is None          # nothing requires grad


def _graph(m, n=400):
    """bench/test_graphs.py's scalar graph: its value and the leaves' gradients."""
    a, b, c = leaves = [m.tensor(v, requires_grad=True) for v in (0.9, 0.1, 0.5)]
    y = c
    for _ in range(n // 4):
        y = (y * a + b).tanh() ** 2
    y.backward()
    return [y.item()] + [t.grad.item() for t in leaves]


def test_a_graph_in_several_threads_at_once_gets_the_same_bits():
    """Each thread records on its own tape; the C path finds it per call."""
    want, results, start = _graph(torch), [], threading.Barrier(3)

    def run():
        start.wait()
        results.extend(_graph(torch) for _ in range(3))
    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [want] * 9


def test_grad_mode_is_each_threads_own():
    """no_grad in one thread leaves another recording (the C path keeps
    its copy of the switch per thread)."""
    seen, inside, done = {}, threading.Event(), threading.Event()

    def without_grad():
        with torch.no_grad():
            inside.set()
            done.wait()
            seen["no_grad thread"] = (torch.tensor(0.5, requires_grad=True) * 2)._v
    thread = threading.Thread(target=without_grad)
    thread.start()
    inside.wait()
    seen["this thread"] = (torch.tensor(0.5, requires_grad=True) * 2)._v
    done.set()
    thread.join()
    assert seen == {"this thread": 1.0, "no_grad thread": None}


def test_a_new_tape_for_the_thread_is_the_one_recorded_on(monkeypatch):
    """The C path keeps a copy of the thread's tape, which setting
    tape._local.tape updates (replay swaps tapes so)."""
    new = tape_module.Tape()
    monkeypatch.setattr(tape_module._local, "tape", new)
    b = torch.tensor(0.5, requires_grad=True) * 2          # the leaf's first use
    c = b * 3                                              # a Scalar of this tape's
    assert c._tape is new and c._v == 3.0 and new.n_rec == 2


def test_tapegrad_pure_python_in_the_environment_keeps_the_python_path(path):
    """TAPEGRAD_PURE_PYTHON=1: no C extension in use, the same bits."""
    code = ("import tapegrad, tapegrad.scalars as s, sys; sys.path.insert(0, %r); "
            "from test_scalars import _graph; print(repr([s.IN_C, _graph(tapegrad)]))"
            % os.path.dirname(__file__))
    env = dict(os.environ, TAPEGRAD_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == repr([False, _graph(torch)])


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="no C compiler: the install goes on without the C extension")
def test_the_c_extension_is_built_where_there_is_a_compiler():
    assert scalars.IN_C or os.environ.get("TAPEGRAD_PURE_PYTHON") == "1"


def test_tensor_methods_keep_their_python_names_docs_and_signatures():
    """help() and inspect see the Python functions the C path stands in for."""
    from tapegrad import math_ops
    for name in ("__add__", "__rmul__", "__pow__", "tanh", "exp", "__neg__"):
        method, function = getattr(torch.Tensor, name), getattr(math_ops, name.strip("_"), None)
        function = function or inspect.unwrap(method)
        assert method.__name__ == function.__name__ and method.__doc__ == function.__doc__
        assert inspect.signature(method) == inspect.signature(function)
    x = torch.tensor(2.0, requires_grad=True)
    assert x.__mul__(3).item() == torch.Tensor.__mul__(x, 3).item() == 6.0
