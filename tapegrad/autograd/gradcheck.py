"""gradcheck: analytic gradients against central finite differences, as
torch.autograd.gradcheck does in its default (slow) mode.

For every input that requires grad and every output that does, the
numerical Jacobian comes from perturbing one input element at a time by
+-eps (in place, in the input's own memory, then restored) and the
analytical one from one autograd.grad call per output element with a
one-hot grad_output. Both are laid out as torch lays them out: one row per
input element, one column per output element. They must agree by
|a - n| <= atol + rtol * |n| (torch.allclose's rule).
"""
import warnings

import numpy as np

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Error raised by gradcheck."""


def _as_tuple(x):
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _tensor(x):
    from ..tensor import Tensor
    return isinstance(x, Tensor)


def _check_inputs(inputs):
    found = False
    for i, x in enumerate(inputs):
        if _tensor(x) and x.requires_grad:
            if x.dtype.name != "float64":
                warnings.warn(f"Input #{i} requires gradient and is not a double precision "
                              "floating point or complex. This check will likely fail if all the "
                              "inputs are not of double precision floating point or complex. ",
                              UserWarning, stacklevel=3)
            if any(st == 0 and n > 1 for st, n in zip(x._data.strides, x._data.shape)):
                raise RuntimeError(f"The {i}th input has a dimension with stride 0. gradcheck only "
                                   "supports inputs that are non-overlapping to be able to compute "
                                   "the numerical gradients correctly. You should call .contiguous "
                                   "on the input before passing it to gradcheck.")
            found = True
    if not found:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of them have requires_grad=True.")


def _values(outputs):
    """The outputs' values as private NumPy copies (None for non-tensors)."""
    return [np.array(o._data, copy=True) if _tensor(o) else None for o in outputs]


def _numerical(func, inputs, i, outputs, eps):
    """Per output: the (inputs[i].numel(), output.numel()) finite-difference
    Jacobian, in the output's dtype."""
    x = inputs[i]
    data = x._data                    # perturbed in place: every use of x sees it
    jac = [np.zeros((x.numel(), o.numel()), o._data.dtype) if _tensor(o) else None
           for o in outputs]
    for k in range(x.numel()):
        idx = np.unravel_index(k, data.shape) if data.ndim else ()
        orig = data[idx].copy()
        try:
            data[idx] = orig - eps
            below = _values(_as_tuple(func(*inputs)))
            data[idx] = orig + eps
            above = _values(_as_tuple(func(*inputs)))
        finally:
            data[idx] = orig
        for o, (a, b, j) in enumerate(zip(below, above, jac)):
            if j is None:
                continue
            if a.shape != b.shape or a.dtype != b.dtype:
                raise AssertionError(f"Expected `func` to return outputs with the same shape and "
                                     f"dtype when inputs are perturbed on index {idx} by {eps}, "
                                     f"but output {o} changed")
            j[k] = ((b - a) / (2 * eps)).reshape(-1)
    return jac


def _analytical(output, diff_inputs):
    """(J per input of shape (input numel, output numel), sizes ok, dtypes ok),
    one autograd.grad call per output element."""
    from ..record import wrap
    from .engine import grad
    jac = [np.zeros((x.numel(), output.numel()), x._data.dtype) for x in diff_inputs]
    sizes_ok = types_ok = True
    onehot = np.zeros(output.numel(), output._data.dtype)
    for j in range(output.numel()):
        onehot[:] = 0
        onehot[j] = 1
        grads = grad(output, diff_inputs, wrap(onehot.reshape(output.shape).copy()),
                     retain_graph=True, allow_unused=True)
        for x, g, J in zip(diff_inputs, grads, jac):
            if g is None:
                continue
            if tuple(g.shape) != tuple(x.shape):
                sizes_ok = False
                continue
            if g.dtype is not x.dtype:
                types_ok = False
            J[:, j] = g._data.reshape(-1)
    return jac, sizes_ok, types_ok


def _matrix(array):
    from ..record import wrap
    return wrap(array)


def _gradcheck(func, inputs, eps, atol, rtol, nondet_tol, check_grad_dtypes):
    inputs = _as_tuple(inputs)
    _check_inputs(inputs)
    func_out = _as_tuple(func(*inputs))
    outputs = [o for o in func_out if _tensor(o) and o.requires_grad]
    diff = [i for i, x in enumerate(inputs) if _tensor(x) and x.requires_grad]

    numerical = [_numerical(func, inputs, i, func_out, eps) for i in diff]
    if not outputs:
        if any(j is not None and np.any(j != 0) for per_input in numerical for j in per_input):
            raise GradcheckError("Numerical gradient for function expected to be zero")
        return True
    # numerical[input][output], over the differentiable outputs only
    keep = [k for k, o in enumerate(func_out) if _tensor(o) and o.requires_grad]
    diff_inputs = [inputs[i] for i in diff]
    for o_idx, (k, out) in enumerate(zip(keep, outputs)):
        first, sizes_ok, types_ok = _analytical(out, diff_inputs)
        second, _, _ = _analytical(out, diff_inputs)
        if not types_ok and check_grad_dtypes:
            raise GradcheckError("Gradient has dtype mismatch")
        if not sizes_ok:
            raise GradcheckError("Analytical gradient has incorrect size")
        if any(a.size and np.abs(a - b).max() > nondet_tol for a, b in zip(first, second)):
            raise GradcheckError(
                "Backward is not reentrant, i.e., running backward with same input and "
                "grad_output multiple times gives different values, although analytical gradient "
                f"matches numerical gradient.The tolerance for nondeterminism was {nondet_tol}.")
        for i_idx, a in enumerate(first):
            n = numerical[i_idx][k]
            common = np.result_type(a, n)
            a64, n64 = a.astype(common), n.astype(common)
            with np.errstate(invalid="ignore"):
                close = np.abs(a64 - n64) <= atol + rtol * np.abs(n64)
            if not np.all(close | (np.isnan(a64) & np.isnan(n64))):
                raise GradcheckError(
                    f"Jacobian mismatch for output {o_idx:d} with respect to input {i_idx:d},\n"
                    f"numerical:{_matrix(n)}\nanalytical:{_matrix(a)}\n")
    _check_mul_by_grad_output(outputs, diff_inputs)
    return True


def _check_mul_by_grad_output(outputs, diff_inputs):
    """Backward of a zero grad_output must give zero gradients."""
    from ..record import wrap
    from .engine import grad
    zeros = [wrap(np.zeros_like(o._data)) for o in outputs]
    grads = grad(outputs, diff_inputs, zeros, retain_graph=True, allow_unused=True)
    for x, g in zip(diff_inputs, grads):
        if g is None:
            continue
        if tuple(g.shape) != tuple(x.shape):
            raise GradcheckError("grad is incorrect size")
        if np.any(g._data != 0):
            raise GradcheckError("backward not multiplied by grad_output")


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False, check_forward_ad=False,
              check_backward_ad=True, fast_mode=False, masked=None):
    """True if func's analytical gradients (backward) match central finite
    differences on `inputs` (a tensor or a tuple; non-tensors are passed
    through). On a mismatch raises GradcheckError naming the output and
    input and printing both Jacobians, or returns False when
    raise_exception=False. Inputs that require grad should be float64.

    fast_mode is accepted and runs the full (slow) check. Forward-mode AD
    and batched gradients are not supported; check_undefined_grad has
    nothing to check (tapegrad always materializes gradients)."""
    if check_forward_ad or check_batched_grad or check_batched_forward_grad:
        raise NotImplementedError("gradcheck: forward-mode AD and batched gradients are not "
                                  "supported by tapegrad; use check_forward_ad=False, "
                                  "check_batched_grad=False")
    if not check_backward_ad:
        raise AssertionError("Expected at least one of check_forward_ad or check_backward_ad to "
                             "be True")
    try:
        return _gradcheck(func, inputs, eps, atol, rtol, nondet_tol, check_grad_dtypes)
    except GradcheckError:
        if raise_exception:
            raise
        return False
