"""The legacy and tutorial API against torch: autograd.Variable,
FloatTensor / DoubleTensor / LongTensor / BoolTensor (constructors and
isinstance), Tensor.type(), is_tensor, numel, is_floating_point, typename,
get_default_dtype, set_default_tensor_type and the new_* methods."""
import warnings

import numpy as np
import pytest
import torch

import tapegrad
from helpers import assert_same

LIBS = pytest.mark.parametrize("lib", [torch, tapegrad], ids=["torch", "tapegrad"])


def same(make):
    """make(lib) gives the same tensor (dtype, shape, values) in both."""
    ours, theirs = make(tapegrad), make(torch)
    assert_same(ours, theirs)
    assert repr(ours) == repr(theirs).replace("torch.", "tapegrad.")
    return ours


def same_error(make):
    with pytest.raises(Exception) as theirs:
        make(torch)
    with pytest.raises(type(theirs.value)):
        make(tapegrad)


# -- Variable -----------------------------------------------------------------------

@LIBS
def test_variable_returns_a_new_leaf_sharing_memory(lib):
    from_autograd = lib.autograd.Variable
    x = lib.ones(2, 2)
    v = from_autograd(x, requires_grad=True)
    assert type(v) is lib.Tensor and v is not x
    assert v.requires_grad and v.is_leaf and v.grad_fn is None
    assert not x.requires_grad
    with lib.no_grad():
        v.mul_(3)
    assert x.tolist() == [[3.0, 3.0], [3.0, 3.0]]     # same memory


@LIBS
def test_variable_defaults_and_isinstance(lib):
    Variable = lib.autograd.Variable
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    v = Variable(y)
    assert not v.requires_grad and v.grad_fn is None
    assert isinstance(x, Variable) and isinstance(y, Variable)
    assert not isinstance(np.ones(2), Variable) and not isinstance(1.0, Variable)


@LIBS
def test_variable_errors(lib):
    Variable = lib.autograd.Variable
    with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
        Variable([1.0, 2.0])
    with pytest.raises(RuntimeError, match="floating point"):
        Variable(lib.ones(2, dtype=lib.int64), requires_grad=True)


def test_variable_volatile_warns_and_is_ignored():
    with pytest.warns(UserWarning, match="volatile was removed"):
        v = tapegrad.autograd.Variable(tapegrad.ones(2), volatile=True)
    assert not v.requires_grad


def test_variable_in_the_tutorial():
    grads = {}
    for lib in (torch, tapegrad):
        x = lib.autograd.Variable(lib.ones(2, 2), requires_grad=True)
        out = ((x + 2) * (x + 2) * 3).mean()
        out.backward()
        grads[lib] = x.grad
    assert_same(grads[tapegrad], grads[torch])


# -- FloatTensor and friends -------------------------------------------------------

LEGACY = ["FloatTensor", "DoubleTensor", "LongTensor", "BoolTensor"]


@pytest.mark.parametrize("name", LEGACY)
@pytest.mark.parametrize("data", [[0.1, 1.0, 0.0001], [[1, 2], [3, 4]], [True, False], [],
                                  (2, 3), [1.7, -2.5]], ids=str)
def test_constructor_from_data(name, data):
    same(lambda lib: getattr(lib, name)(data))


@pytest.mark.parametrize("name", LEGACY)
def test_constructor_from_numpy_copies(name):
    array = np.array([1.0, 0.0, 3.0])
    t = same(lambda lib: getattr(lib, name)(array))
    array[0] = 9.0
    assert t.tolist()[0] != 9.0


@pytest.mark.parametrize("name", LEGACY)
@pytest.mark.parametrize("sizes", [(2, 3), (4,), (0,), (2, 0, 1)], ids=str)
def test_constructor_from_sizes(name, sizes):
    for lib in (torch, tapegrad):
        t = getattr(lib, name)(*sizes)
        assert tuple(t.shape) == sizes
        assert str(t.dtype).split(".")[-1] == str(getattr(torch, name).dtype).split(".")[-1]
    assert tuple(tapegrad.FloatTensor(tapegrad.Size([2, 3])).shape) == (2, 3)
    assert tuple(tapegrad.FloatTensor().shape) == (0,)


@pytest.mark.parametrize("make", [
    lambda lib: lib.FloatTensor(2.5),                          # a number is no data
    lambda lib: lib.FloatTensor(-1),                           # negative size
    lambda lib: lib.FloatTensor([1.0], requires_grad=True),    # no such keyword
    lambda lib: lib.FloatTensor(lib.ones(2, dtype=lib.float64)),
], ids=["number", "negative", "keyword", "other_dtype"])
def test_constructor_errors(make):
    same_error(make)


def test_constructor_from_a_tensor_of_its_type_shares_it():
    x = tapegrad.ones(2)
    assert tapegrad.FloatTensor(x)._data is x._data


@LIBS
@pytest.mark.parametrize("name, dtype", [("FloatTensor", "float32"), ("DoubleTensor", "float64"),
                                         ("LongTensor", "int64"), ("BoolTensor", "bool")])
def test_isinstance_checks_the_dtype(lib, name, dtype):
    kind = getattr(lib, name)
    for other in ("float32", "float64", "int64", "bool"):
        t = lib.ones(2, dtype=getattr(lib, other))
        assert isinstance(t, kind) == (other == dtype)
        assert isinstance(t, lib.Tensor)
    if dtype in ("float32", "float64"):
        assert isinstance(lib.ones(2, dtype=getattr(lib, dtype), requires_grad=True), kind)
    assert not isinstance(np.ones(2), kind)
    assert not issubclass(kind, lib.Tensor)
    assert str(kind.dtype).split(".")[-1] == dtype


def test_legacy_type_repr():
    assert repr(tapegrad.FloatTensor) == "<class 'tapegrad.FloatTensor'>"
    assert repr(torch.FloatTensor) == "<class 'torch.FloatTensor'>"
    assert tapegrad.LongTensor.__name__ == torch.LongTensor.__name__ == "LongTensor"


def test_tutorial_backward_with_float_tensor_gradient():
    grads = {}
    for lib in (torch, tapegrad):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 2
        while y.data.norm() < 1000:
            y = y * 2
        y.backward(lib.FloatTensor([0.1, 1.0, 0.0001]))
        grads[lib] = x.grad
    assert_same(grads[tapegrad], grads[torch])
    assert grads[tapegrad].tolist() == pytest.approx([51.2, 512.0, 0.0512])  # 2**9: |x| 2**9 >= 1000


# -- Tensor.type() -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_type_string(dtype):
    ours = tapegrad.ones(2, dtype=getattr(tapegrad, dtype)).type()
    theirs = torch.ones(2, dtype=getattr(torch, dtype)).type()
    assert ours == theirs.replace("torch.", "tapegrad.")


@pytest.mark.parametrize("target", ["DoubleTensor", "LongTensor", "FloatTensor", "BoolTensor"])
def test_type_conversion_by_class_name_and_dtype(target):
    data = np.array([1.5, -2.0, 0.0], np.float32)
    legacy = getattr(torch, target)
    by_dtype = legacy.dtype
    for make_arg in (lambda lib: getattr(lib, target), lambda lib: f"torch.{target}",
                     lambda lib: getattr(lib, str(by_dtype).split(".")[-1])):
        same(lambda lib: lib.tensor(data).type(make_arg(lib)))
    assert tapegrad.tensor(data).type(f"tapegrad.{target}").type() == f"tapegrad.{target}"


def test_type_to_its_own_type_is_the_same_tensor():
    x = tapegrad.ones(2)
    assert x.type(tapegrad.FloatTensor) is x and x.type(tapegrad.float32) is x
    y = torch.ones(2)
    assert y.type(torch.FloatTensor) is y


def test_type_conversion_is_differentiable_between_floats():
    for lib in (torch, tapegrad):
        x = lib.ones(2, requires_grad=True)
        y = x.type(lib.DoubleTensor)
        assert y.grad_fn.name() == "ToCopyBackward0"


def test_type_unknown_name():
    same_error(lambda lib: lib.ones(2).type("torch.Foo"))
    with pytest.raises(ValueError, match="invalid type: 'torch.Foo'"):
        tapegrad.ones(2).type("torch.Foo")


# -- functions -----------------------------------------------------------------------

@LIBS
def test_is_tensor_numel_is_floating_point(lib):
    x = lib.ones(2, 3)
    assert lib.is_tensor(x) and not lib.is_tensor(np.ones(2)) and not lib.is_tensor([1])
    assert lib.numel(x) == 6 and lib.numel(lib.tensor(3.0)) == 1 and lib.numel(lib.ones(0)) == 0
    assert lib.is_floating_point(x) and not lib.is_floating_point(lib.ones(2, dtype=lib.int64))
    assert x.is_floating_point() and not lib.ones(2, dtype=lib.bool).is_floating_point()
    with pytest.raises(TypeError):
        lib.numel([1, 2])
    with pytest.raises(TypeError):
        lib.is_floating_point([1.0])


def test_typename():
    for make in (lambda lib: lib.ones(2), lambda lib: lib.ones(2, dtype=lib.int64),
                 lambda lib: lib.ones(2, dtype=lib.float64)):
        assert tapegrad.typename(make(tapegrad)) == \
            torch.typename(make(torch)).replace("torch.", "tapegrad.")
    assert tapegrad.typename(3) == torch.typename(3) == "int"
    assert tapegrad.typename(np.ones(1)) == torch.typename(np.ones(1)) == "numpy.ndarray"


@LIBS
def test_default_dtype(lib):
    assert lib.get_default_dtype() is lib.float32
    assert isinstance(lib.float32, lib.dtype)
    try:
        lib.set_default_dtype(lib.float64)
        assert lib.get_default_dtype() is lib.float64
        assert lib.tensor([1.5]).dtype is lib.float64
        assert lib.ones(2).dtype is lib.float64
    finally:
        lib.set_default_dtype(lib.float32)
    assert lib.tensor([1.5]).dtype is lib.float32


@LIBS
def test_set_default_tensor_type(lib):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lib.set_default_tensor_type(lib.DoubleTensor)
            assert lib.get_default_dtype() is lib.float64
            lib.set_default_tensor_type("torch.FloatTensor")
        assert lib.get_default_dtype() is lib.float32
    finally:
        lib.set_default_dtype(lib.float32)


@LIBS
def test_promote_types(lib):
    assert lib.promote_types(lib.float32, lib.float64) is lib.float64
    assert lib.promote_types(lib.int64, lib.float32) is lib.float32
    assert lib.promote_types(lib.bool, lib.int64) is lib.int64


# -- Tensor methods of the same age ----------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda lib, x: x.new_zeros(2, 3),
    lambda lib, x: x.new_zeros((2,)),
    lambda lib, x: x.new_ones(3, dtype=lib.int64),
    lambda lib, x: x.new_full((2, 2), 7.0),
    lambda lib, x: x.new_tensor([1, 2, 3]),
    lambda lib, x: x.new_empty(0, 2),
    lambda lib, x: x.type_as(lib.ones(1, dtype=lib.int64)),
], ids=["new_zeros", "new_zeros_tuple", "new_ones_dtype", "new_full", "new_tensor", "new_empty",
        "type_as"])
def test_new_methods(make):
    same(lambda lib: make(lib, lib.tensor([1.5, 2.5], dtype=lib.float64)))


@LIBS
def test_size_methods(lib):
    x = lib.ones(2, 3, dtype=lib.float64)
    assert x.nelement() == 6 and x.ndimension() == 2 and x.element_size() == 8
    assert lib.ones(2).element_size() == 4 and not x.is_cuda
