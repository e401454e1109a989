"""Every product runs on one BLAS a process (kernels/blas.py): MKL's where
the `mkl` extra is installed, else SciPy's, with the same compiled code
(cached on disk) on either."""
import importlib.metadata
import os
import subprocess
import sys

import numpy as np

import tapegrad as torch
from tapegrad.kernels import blas


def _products():
    """Outputs and gradients of mm, a broadcast batched matmul and linear
    (float64), each with NumPy's value of it: [(name, got, expected)]."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    c, d = rng.standard_normal((2, 4, 5, 7)), rng.standard_normal((4, 7, 3))
    x, w, bias = rng.standard_normal((6, 7)), rng.standard_normal((4, 7)), rng.standard_normal(4)
    ta, tb, tc, td, tx, tw, tbias = (torch.tensor(v, requires_grad=True) for v in (a, b, c, d, x, w, bias))
    out = []
    y = ta @ tb
    (y * y).sum().backward()
    out += [("mm", y, a @ b), ("mm grad a", ta.grad, 2 * (a @ b) @ b.T),
            ("mm grad b", tb.grad, a.T @ (2 * a @ b))]
    y = tc @ td
    y.sum().backward()
    ones = np.ones((2, 4, 5, 3))
    out += [("batched", y, c @ d), ("batched grad", td.grad, (np.swapaxes(c, -1, -2) @ ones).sum(axis=0))]
    y = torch.nn.functional.linear(tx, tw, tbias)
    (y * y).sum().backward()
    g = 2 * (x @ w.T + bias)
    out += [("linear", y, x @ w.T + bias), ("linear grad x", tx.grad, g @ w),
            ("linear grad w", tw.grad, g.T @ x), ("linear grad bias", tbias.grad, g.sum(axis=0))]
    return [(name, got.detach().numpy(), expected) for name, got, expected in out]


def test_mkl_is_used_where_the_mkl_extra_is_installed():
    try:
        installed = bool(importlib.metadata.files("mkl"))
    except importlib.metadata.PackageNotFoundError:
        installed = False
    chosen = installed and os.environ.get("TAPEGRAD_BLAS") != "scipy"
    assert blas.NAME == ("MKL" if chosen else "SciPy's BLAS")


def test_products_and_their_gradients_are_numpys():
    for name, got, expected in _products():
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=name)


def test_tapegrad_blas_scipy_runs_the_same_cached_code_on_scipys_blas():
    code = ("import sys; sys.path.insert(0, %r); import numpy as np; from test_blas import _products; "
            "from tapegrad.kernels import blas; print(blas.NAME); "
            "[np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, err_msg=n) for n, g, e in _products()]"
            % os.path.dirname(__file__))
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, TAPEGRAD_BLAS="scipy"),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "SciPy's BLAS"
