"""Compare tapegrad.printing.format_tensor with torch's own tensor repr."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# Load the module by path so the test does not depend on the rest of the package.
_PATH = pathlib.Path(__file__).resolve().parents[1] / "tapegrad" / "printing.py"
_spec = importlib.util.spec_from_file_location("_tapegrad_printing_under_test", _PATH)
printing = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = printing
_spec.loader.exec_module(printing)

SUFFIXES = {
    None: (),
    "requires_grad": ("requires_grad=True",),
    "grad_fn": ("grad_fn=<MulBackward0>",),
}

SHAPES = [
    (), (0,), (1,), (5,), (2, 0), (0, 3), (3, 0, 2), (1, 1), (1, 4), (4, 1),
    (2, 3), (3, 1, 2), (2, 2, 2, 2), (1, 2, 1, 3), (25,), (150,), (3, 40),
    (2, 2, 30), (1001,), (2000,), (40, 30), (5, 300), (3, 20, 20),
    (2, 3, 4, 50), (6, 7, 8, 9), (1, 1, 1100), (7, 150),
]


def _float_values(rng, kind, shape):
    n = int(np.prod(shape))
    if kind == "small_int":
        return rng.integers(-10, 10, n).astype(np.float64)
    if kind == "normal":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-2, 3)
    if kind == "mixed":  # spans 1e-5..1e5, which triggers scientific notation
        return rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-5, 5, n)
    if kind == "large":
        return rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(7, 30, n)
    if kind == "big_int":  # integral but above 1e8
        return np.round(rng.standard_normal(n) * 1e9)
    if kind == "tiny":
        return rng.standard_normal(n) * 10.0 ** rng.uniform(-30, -4, n)
    if kind == "zeros":
        return rng.choice([0.0, -0.0], n)
    if kind == "nonfinite":
        values = rng.standard_normal(n) * 100
        mask = rng.random(n) < 0.3
        values[mask] = rng.choice([np.nan, np.inf, -np.inf], int(mask.sum()))
        return values
    if kind == "nonfinite_int":
        values = rng.integers(-5, 5, n).astype(np.float64)
        values[rng.random(n) < 0.4] = np.nan
        values[rng.random(n) < 0.2] = -np.inf
        return values
    raise AssertionError(kind)


FLOAT_KINDS = ["small_int", "normal", "mixed", "large", "big_int", "tiny",
               "zeros", "nonfinite", "nonfinite_int"]


def _make_cases():
    rng = np.random.default_rng(12345)
    cases = []
    for shape in SHAPES:
        for dtype in ("float32", "float64"):
            for kind in rng.choice(FLOAT_KINDS, 4, replace=False):
                values = _float_values(rng, kind, shape).reshape(shape).astype(dtype)
                suffix = rng.choice(list(SUFFIXES))
                cases.append((f"{dtype}-{shape}-{kind}-{suffix}", values, dtype, suffix))
        n = int(np.prod(shape))
        for bound in (10, 10**6, 2**62):
            values = rng.integers(-bound, bound, n, dtype=np.int64).reshape(shape)
            cases.append((f"int64-{shape}-{bound}", values, "int64", None))
        values = (rng.random(n) < 0.5).reshape(shape)
        cases.append((f"bool-{shape}", values, "bool", None))
    # float64 with a max/min ratio that overflows to inf
    values = np.array([1e300, -1e-300, 2.5])
    cases.append(("float64-overflow-ratio", values, "float64", None))
    return cases


CASES = _make_cases()


def _torch_repr(values, suffix):
    t = torch.from_numpy(values.copy())
    if suffix is not None:
        t.requires_grad_(True)
        if suffix == "grad_fn":
            t = t * 1
    return repr(t).replace("torch.", "tapegrad.")


def _check(values, dtype, suffix=None, **kwargs):
    expected = _torch_repr(values, suffix)
    assert printing.format_tensor(values, dtype, suffixes=SUFFIXES[suffix], **kwargs) == expected


@pytest.fixture
def reset_options():
    yield
    torch.set_printoptions(profile="default")
    printing.set_printoptions(profile="default")


@pytest.mark.parametrize("values,dtype,suffix", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_torch_repr(values, dtype, suffix):
    _check(values, dtype, suffix)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("shape", [(2, 3), (0,), (0, 2)])
def test_default_dtype_float64(dtype, shape):
    values = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _check(values, dtype, default_dtype="float64")
    finally:
        torch.set_default_dtype(old)


def test_parameter_prefix():
    values = np.linspace(-3, 3, 60, dtype=np.float32).reshape(3, 20)
    expected = repr(torch.nn.Parameter(torch.from_numpy(values.copy())))
    got = printing.format_tensor(
        values, "float32", suffixes=("requires_grad=True",),
        prefix="Parameter containing:\ntensor(",
    )
    assert got == expected


def test_long_suffix_wraps():
    values = np.arange(17, dtype=np.float64) / 3
    expected = _torch_repr(values, "grad_fn")
    assert "\n" in expected.split("]")[-1]  # the suffixes really were wrapped
    _check(values, "float64", "grad_fn")


def test_unknown_dtype_rejected():
    with pytest.raises(ValueError):
        printing.format_tensor(np.zeros(2), "float16")


OPTIONS = [
    dict(precision=2),
    dict(precision=0),
    dict(precision=7),
    dict(sci_mode=False),
    dict(sci_mode=True),
    dict(threshold=5),
    dict(threshold=5, edgeitems=1),
    dict(threshold=10, edgeitems=0),
    dict(threshold=0),
    dict(linewidth=40),
    dict(linewidth=10),
    dict(profile="short"),
    dict(profile="full"),
    dict(profile="full", precision=3, sci_mode=True),
]


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_printoptions(options, reset_options):
    torch.set_printoptions(**options)
    printing.set_printoptions(**options)
    assert printing.get_printoptions() == torch._tensor_str.get_printoptions()
    rng = np.random.default_rng(7)
    for shape in [(), (4,), (12,), (3, 5), (2, 3, 8), (1200,), (40, 40)]:
        for kind in ("small_int", "normal", "mixed", "nonfinite", "zeros"):
            values = _float_values(rng, kind, shape).reshape(shape)
            _check(values.astype(np.float32), "float32", "requires_grad")
            _check(values, "float64")
        _check(rng.integers(-50, 50, int(np.prod(shape))).reshape(shape), "int64")
        _check(np.asarray(rng.random(shape) < 0.5), "bool")


def test_printoptions_context_manager(reset_options):
    values = np.array([1.123456, 2.5])
    with printing.printoptions(precision=2):
        assert printing.format_tensor(values, "float32") == "tensor([1.12, 2.50])"
    assert printing.get_printoptions()["precision"] == 4
    assert printing.format_tensor(values, "float32") == "tensor([1.1235, 2.5000])"
