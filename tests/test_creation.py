"""Creation functions, tensor properties and dtype promotion, against PyTorch."""
import itertools
import operator

import numpy as np
import pytest
import torch

import tapegrad
from helpers import assert_same, check, dtype_name

LIBS = pytest.mark.parametrize("lib", [torch, tapegrad], ids=["torch", "tapegrad"])


def same(make):
    """make(lib) gives the same tensor (dtype, shape, values) in both."""
    actual, expected = make(tapegrad), make(torch)
    assert_same(actual, expected)
    assert actual.requires_grad == expected.requires_grad
    return actual


# -- tensor(): dtype inference ---------------------------------------------------------

PYTHON_DATA = [
    1, 1.5, True, -3, 0.0, [1, 2], [1.0, 2], [True, False], [[1, 2], [3, 4]], [1, 2.5],
    [True, 2], [True, 2.5], [[0.5], [1.5]], (1, 2), [[[1]], [[2]]], [2 ** 40], [],
    [[]], [1e-30, 1e30], [float("inf"), float("nan")],
]


@pytest.mark.parametrize("data", PYTHON_DATA, ids=repr)
def test_tensor_from_python_data(data):
    same(lambda lib: lib.tensor(data))


NUMPY_DATA = [
    np.array([1.0, 2.0]), np.array([1.0, 2.0], np.float32), np.array([1, 2]),
    np.array([True, False]), np.array(2.5), np.array(7), np.zeros((2, 0, 3)),
    np.arange(12.0).reshape(3, 4), np.arange(12.0).reshape(3, 4).T,
    np.float64(2.5), np.float32(2.5), np.int64(3), np.bool_(True),
]


@pytest.mark.parametrize("data", NUMPY_DATA, ids=lambda a: f"{type(a).__name__}-{a.dtype}")
def test_tensor_from_numpy_data(data):
    same(lambda lib: lib.tensor(data))


@pytest.mark.parametrize("data", [[1, 2], [1.7, -2.2], [True, False], np.array([1.5, 2.5])],
                         ids=repr)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_tensor_with_dtype(data, dtype):
    same(lambda lib: lib.tensor(data, dtype=getattr(lib, dtype)))


@LIBS
def test_tensor_copies_its_data(lib):
    array = np.array([1.0, 2.0])
    t = lib.tensor(array)
    array[0] = 9.0
    assert t.tolist() == [1.0, 2.0]


@LIBS
def test_tensor_with_requires_grad(lib):
    t = lib.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad_fn is None
    (t * t).sum().backward()
    assert t.grad.tolist() == [2.0, 4.0]


# -- filled, random, ranges ------------------------------------------------------------

FILLED = {
    "ones(2, 3)": lambda lib: lib.ones(2, 3),
    "ones((2, 3))": lambda lib: lib.ones((2, 3)),
    "ones([4])": lambda lib: lib.ones([4]),
    "ones(())": lambda lib: lib.ones(()),
    "ones(0, 2)": lambda lib: lib.ones(0, 2),
    "ones(int64)": lambda lib: lib.ones(2, dtype=lib.int64),
    "ones(bool)": lambda lib: lib.ones(2, dtype=lib.bool),
    "zeros(3)": lambda lib: lib.zeros(3),
    "zeros(float64)": lambda lib: lib.zeros(2, 2, dtype=lib.float64),
    "zeros(requires_grad)": lambda lib: lib.zeros(2, requires_grad=True),
    "full int": lambda lib: lib.full((2, 2), 7),
    "full float": lambda lib: lib.full((2, 2), 7.5),
    "full bool": lambda lib: lib.full((3,), True),
    "full dtype": lambda lib: lib.full([2], 1.5, dtype=lib.float64),
    "full 0-d": lambda lib: lib.full((), -2.0),
    "full requires_grad": lambda lib: lib.full((2,), 3.0, requires_grad=True),
    "arange(5)": lambda lib: lib.arange(5),
    "arange(5.)": lambda lib: lib.arange(5.0),
    "arange(1, 4)": lambda lib: lib.arange(1, 4),
    "arange(0, 1, 0.25)": lambda lib: lib.arange(0, 1, 0.25),
    "arange(0, 10, 3)": lambda lib: lib.arange(0, 10, 3),
    "arange(10, 0, -3)": lambda lib: lib.arange(10, 0, -3),
    "arange(1, 2.5, 0.5)": lambda lib: lib.arange(1, 2.5, 0.5),
    "arange(-1, 1, 0.1)": lambda lib: lib.arange(-1, 1, 0.1),
    "arange(5, dtype=float64)": lambda lib: lib.arange(5, dtype=lib.float64),
    "arange(0)": lambda lib: lib.arange(0),
    "linspace(0, 1, 5)": lambda lib: lib.linspace(0, 1, 5),
    "linspace(0, 1, 1)": lambda lib: lib.linspace(0, 1, 1),
    "linspace(3, -3, 7)": lambda lib: lib.linspace(3, -3, 7),
    "linspace(-1, 1, 4, float64)": lambda lib: lib.linspace(-1, 1, 4, dtype=lib.float64),
    "linspace(0, 2, 100)": lambda lib: lib.linspace(0, 2, 100),
    "eye(3)": lambda lib: lib.eye(3),
    "eye(2, 3)": lambda lib: lib.eye(2, 3),
    "eye(3, 1)": lambda lib: lib.eye(3, 1),
    "eye(2, int64)": lambda lib: lib.eye(2, dtype=lib.int64),
    "eye(2, requires_grad)": lambda lib: lib.eye(2, requires_grad=True),
}


@pytest.mark.parametrize("name", FILLED)
def test_filled_and_ranges(name):
    same(FILLED[name])


@pytest.mark.parametrize("base_dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("like", ["zeros_like", "ones_like", "full_like"])
def test_like(like, base_dtype):
    def make(lib, **kw):
        base = lib.tensor(np.arange(6).reshape(2, 3), dtype=getattr(lib, base_dtype))
        fn = getattr(lib, like)
        return fn(base, 3, **kw) if like == "full_like" else fn(base, **kw)
    same(make)
    same(lambda lib: make(lib, dtype=lib.float64))
    if base_dtype != "int64":
        same(lambda lib: make(lib, requires_grad=True))


@pytest.mark.parametrize("like", ["rand_like", "randn_like", "empty_like"])
def test_like_shape_and_dtype(like):
    for dtype in ("float32", "float64"):
        out = getattr(tapegrad, like)(tapegrad.zeros(2, 3, dtype=getattr(tapegrad, dtype)))
        ref = getattr(torch, like)(torch.zeros(2, 3, dtype=getattr(torch, dtype)))
        assert tuple(out.shape) == tuple(ref.shape) == (2, 3)
        assert dtype_name(out.dtype) == dtype_name(ref.dtype) == dtype


@pytest.mark.parametrize("fn", ["rand", "randn"])
def test_random_shapes_and_dtypes(fn):
    for args, kw in [((2, 3), {}), (((4,),), {}), ((5,), {"dtype": "float64"}), (((),), {}),
                     ((3,), {"requires_grad": True})]:
        kw_for = lambda lib: {k: getattr(lib, v) if k == "dtype" else v for k, v in kw.items()}
        out = getattr(tapegrad, fn)(*args, **kw_for(tapegrad))
        ref = getattr(torch, fn)(*args, **kw_for(torch))
        assert tuple(out.shape) == tuple(ref.shape)
        assert dtype_name(out.dtype) == dtype_name(ref.dtype)
        assert out.requires_grad == ref.requires_grad and out.is_leaf


def test_random_distributions():
    tapegrad.manual_seed(1)
    u = tapegrad.rand(20_000).numpy()
    n = tapegrad.randn(20_000, dtype=tapegrad.float64).numpy()
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03


def test_manual_seed_gives_the_same_values():
    tapegrad.manual_seed(1234)
    first = [tapegrad.rand(5).tolist(), tapegrad.randn(2, 3).tolist(),
             tapegrad.rand_like(tapegrad.zeros(3)).tolist()]
    tapegrad.manual_seed(1234)
    again = [tapegrad.rand(5).tolist(), tapegrad.randn(2, 3).tolist(),
             tapegrad.rand_like(tapegrad.zeros(3)).tolist()]
    assert first == again
    tapegrad.manual_seed(1235)
    assert tapegrad.rand(5).tolist() != first[0]
    assert tapegrad.rand(5).tolist() != tapegrad.rand(5).tolist()


# -- from_numpy ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy(dtype):
    array = np.arange(6).reshape(2, 3).astype(dtype)
    same(lambda lib: lib.from_numpy(array))


@LIBS
def test_from_numpy_shares_memory(lib):
    array = np.zeros(3)
    t = lib.from_numpy(array)
    array[1] = 5.0                          # numpy writes are seen by the tensor
    assert t.tolist() == [0.0, 5.0, 0.0]
    t.add_(1)                               # and tensor writes by numpy
    assert array.tolist() == [1.0, 6.0, 1.0]
    assert t.numpy() is array or np.shares_memory(t.numpy(), array)


@LIBS
def test_from_numpy_leaf_sees_updates_in_later_graphs(lib):
    array = np.array([1.0, 2.0])
    w = lib.from_numpy(array).requires_grad_()
    (w * w).sum().backward()
    array[:] = [3.0, -1.0]
    w.grad = None
    (w * w).sum().backward()
    assert w.grad.tolist() == [6.0, -2.0]


@LIBS
def test_from_numpy_rejects_other_objects(lib):
    with pytest.raises(TypeError):
        lib.from_numpy([1.0, 2.0])


# -- properties -----------------------------------------------------------------------------

@LIBS
def test_properties(lib):
    t = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.size() == (2, 3) and tuple(t.shape) == (2, 3)
    assert t.size(0) == 2 and t.size(-1) == 3 and t.size(1) == 3
    assert t.dim() == 2 and t.ndim == 2 and t.numel() == 6 and len(t) == 2
    assert t.dtype == lib.float32 and t.dtype.is_floating_point
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    s = lib.tensor(2.5)
    assert s.shape == () and s.dim() == 0 and s.ndim == 0 and s.numel() == 1
    assert s.item() == 2.5 and type(s.item()) is float and s.tolist() == 2.5
    assert type(lib.tensor(3).item()) is int and type(lib.tensor(True).item()) is bool
    assert lib.tensor([[7.0]]).item() == 7.0
    assert lib.zeros(2, 0, 4).numel() == 0 and lib.zeros(2, 0, 4).shape == (2, 0, 4)
    with pytest.raises(IndexError):
        t.size(2)


@LIBS
def test_item_of_many_elements_raises(lib):
    with pytest.raises(RuntimeError):
        lib.tensor([1.0, 2.0]).item()


@LIBS
def test_numpy(lib):
    t = lib.tensor([1.0, 2.0])
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.tolist() == [1.0, 2.0]
    a[0] = 9.0                               # shares memory
    assert t.tolist() == [9.0, 2.0]
    assert lib.tensor([1, 2]).numpy().dtype == np.int64
    with pytest.raises(RuntimeError):
        lib.ones(2, requires_grad=True).numpy()
    assert lib.ones(2, requires_grad=True).detach().numpy().tolist() == [1.0, 1.0]


# -- dtype promotion -------------------------------------------------------------------------

def test_float32_times_python_float_stays_float32():
    check(lambda lib, x: x * 0.1, np.array([1.0, 2.0]), dtype=np.float32)
    check(lambda lib, x: 2.5 + x, np.array([1.0, 2.0]), dtype=np.float32)


def test_int_divided_by_int_gives_float32():
    check(lambda lib, n: n / 2, np.array([1, 2, 3]), grad=False)
    check(lambda lib, n: n / n, np.array([1, 2, 3]), grad=False)
    check(lambda lib, n: 7 / n, np.array([1, 2, 3]), grad=False)


def test_float32_plus_0d_float64_stays_float32():
    out, _ = check(lambda lib, x, y: x + y, np.array([1.0, 2.0], np.float32), np.array(0.5),
                   dtype=None)
    assert out.dtype is tapegrad.float32


def test_float32_plus_float64_gives_float64_and_float32_grad():
    out, _ = check(lambda lib, x, y: x + y, np.array([1.0, 2.0], np.float32),
                   np.array([0.5, 0.25]), dtype=None)
    assert out.dtype is tapegrad.float64
    a = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    b = tapegrad.tensor([0.5, 0.25], dtype=tapegrad.float64, requires_grad=True)
    (a + b).sum().backward()
    assert a.grad.dtype is tapegrad.float32 and b.grad.dtype is tapegrad.float64


def test_int_tensor_plus_float_scalar():
    check(lambda lib, n: n + 0.5, np.array([1, 2]), grad=False)
    check(lambda lib, n: n * 1.5, np.array(3), grad=False)
    check(lambda lib, n: n + 1, np.array([1, 2]), grad=False)              # stays int64
    check(lambda lib, n: n + True, np.array([True, False]), grad=False)     # stays bool


def _operand(lib, kind):
    """A Python scalar ("bool", "int", "float") or a tensor (dtype, ndim 0 or 1)."""
    if kind in ("bool", "int", "float"):
        return {"bool": True, "int": 2, "float": 2.5}[kind]
    dtype, ndim = kind
    values = {"bool": [True, False], "int64": [3, 2], "float32": [1.5, 2.0],
              "float64": [1.5, 2.0]}[dtype]
    return lib.tensor(values if ndim else values[0], dtype=getattr(lib, dtype))


OPERANDS = ["bool", "int", "float"] + [(d, n) for d in ("bool", "int64", "float32", "float64")
                                       for n in (0, 1)]
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
             "**": operator.pow}


@pytest.mark.parametrize("op", OPERATORS)
def test_promotion_matrix(op):
    """Every pair of operand kinds: the same result dtype and values as torch,
    or the same exception type where torch refuses (bool subtraction, ...)."""
    fn = OPERATORS[op]
    for a, b in itertools.product(OPERANDS, OPERANDS):
        if isinstance(a, str) and isinstance(b, str):
            continue
        outcome = {}
        for lib in (torch, tapegrad):
            try:
                outcome[lib] = fn(_operand(lib, a), _operand(lib, b))
            except (RuntimeError, NotImplementedError, TypeError) as e:
                outcome[lib] = type(e)
        if isinstance(outcome[torch], type):
            assert outcome[tapegrad] is outcome[torch], (a, op, b)
        else:
            assert not isinstance(outcome[tapegrad], type), (a, op, b, outcome[tapegrad])
            assert_same(outcome[tapegrad], outcome[torch], rtol=1e-6, atol=0,
                        what=f"{a} {op} {b}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_math_on_integers_gives_the_default_float(dtype):
    previous = tapegrad.get_default_dtype()
    tapegrad.set_default_dtype(getattr(tapegrad, dtype))
    torch_previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        for fn in (lambda lib, n: n.exp(), lambda lib, n: n.sqrt(), lambda lib, n: n.sigmoid(),
                   lambda lib, n: n / 2, lambda lib, n: n * 0.5, lambda lib, n: n.abs(),
                   lambda lib, n: n.relu(), lambda lib, n: n.sum(), lambda lib, n: -n):
            check(fn, np.array([1, 4, 9]), grad=False)
        same(lambda lib: lib.tensor([1.5, 2.5]))
        same(lambda lib: lib.ones(2))
        same(lambda lib: lib.arange(0, 1, 0.5))
    finally:
        tapegrad.set_default_dtype(previous)
        torch.set_default_dtype(torch_previous)
