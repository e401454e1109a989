"""The one comparison helper, in the spirit of tinygrad's helper_test_op:
run the same function on torch and on tapegrad leaves made from the same
NumPy arrays, and compare outputs, grad_fn names and every leaf's gradient."""
import numpy as np
import torch

import tapegrad

# (rtol, atol) per dtype: float64 tight, float32 loose.
TOLERANCE = {np.dtype(np.float64): (1e-10, 1e-12), np.dtype(np.float32): (1e-4, 1e-4)}


def dtype_name(dtype):
    """'float32' for torch.float32, tapegrad.float32 and np.float32 alike."""
    if isinstance(dtype, (torch.dtype, tapegrad.dtypes.dtype)):
        return str(dtype).rsplit(".", 1)[-1]
    return np.dtype(dtype).name


def assert_same(actual, expected, rtol=None, atol=None, what="output"):
    """tapegrad tensor `actual` equals torch tensor `expected`: dtype, shape
    and values (NaN where torch has NaN, inf where torch has inf)."""
    assert dtype_name(actual.dtype) == dtype_name(expected.dtype), \
        f"{what}: dtype {actual.dtype} != torch's {expected.dtype}"
    assert tuple(actual.shape) == tuple(expected.shape), \
        f"{what}: shape {tuple(actual.shape)} != torch's {tuple(expected.shape)}"
    want = expected.detach().numpy()
    got = actual.detach().numpy()
    if want.dtype.kind == "f":
        default = TOLERANCE[want.dtype]
        np.testing.assert_allclose(got, want, rtol=default[0] if rtol is None else rtol,
                                   atol=default[1] if atol is None else atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def check(fn, *arrays, dtype=np.float64, grad=True, rtol=None, atol=None, seed=0):
    """Compare fn(torch, *leaves) with fn(tapegrad, *leaves).

    arrays: anything np.asarray takes; float arrays are cast to `dtype`
    (dtype=None keeps each array's own dtype, for mixed-dtype cases) and,
    with grad=True, become leaves that require grad. fn receives the module
    first, so it can call lib.exp(x), lib.clamp(x, min=0), ...

    Checks the outputs (dtype, shape, values), requires_grad, the grad_fn
    name, then backpropagates the same random upstream gradient through
    both and checks every leaf's .grad (None where torch has None).
    Returns (tapegrad output, torch output)."""
    arrays = [np.asarray(a) for a in arrays]
    if dtype is not None:
        arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    ours = [tapegrad.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]

    expected = fn(torch, *theirs)
    actual = fn(tapegrad, *ours)
    # Mixed float32/float64: float32 rounding reaches every result (torch
    # and tapegrad round in different places), so the loose tolerance rules.
    floats = {a.dtype for a in arrays if a.dtype.kind == "f"}
    if expected.is_floating_point():
        floats.add(expected.detach().numpy().dtype)
    if len(floats) > 1:
        loose = TOLERANCE[np.dtype(np.float32)]
        rtol, atol = (loose[0] if rtol is None else rtol), (loose[1] if atol is None else atol)
    assert_same(actual, expected, rtol, atol)
    assert actual.requires_grad == expected.requires_grad
    want_fn = expected.grad_fn and expected.grad_fn.name()
    got_fn = actual.grad_fn and actual.grad_fn.name()
    assert got_fn == want_fn, f"grad_fn {got_fn} != torch's {want_fn}"

    if grad and expected.requires_grad:
        upstream = np.random.default_rng(seed).standard_normal(tuple(expected.shape))
        upstream = upstream.astype(expected.detach().numpy().dtype)
        expected.backward(torch.tensor(upstream))
        actual.backward(tapegrad.tensor(upstream))
        for i, (mine, ref) in enumerate(zip(ours, theirs)):
            if ref.grad is None:
                assert mine.grad is None, f"leaf {i}: grad {mine.grad}, torch has None"
            else:
                assert mine.grad is not None, f"leaf {i}: no grad, torch has {ref.grad}"
                assert_same(mine.grad, ref.grad, rtol, atol, what=f"grad of leaf {i}")
    return actual, expected
