"""The op table: the single source of truth for every differentiable op.

One row per op and call form (PyTorch names `2 - x` RsubBackward1 and `x - 2`
SubBackward0, so they are two rows). A row holds:

  name     our name; the op code is the row's position (OPS[code])
  grad_fn  PyTorch's grad_fn class name for this call form
  arity    number of tensor inputs (a, b, c)
  forward  NumPy forward: forward(*arrays, k0, k1, ki) -> array
  vjp      the derivative rule per input, as data: a Python expression over
           g (incoming gradient), a/b/c (inputs), y (output), k0, k1
           (float constants), evaluated elementwise; kernels/generate.py turns
           it into a Numba kernel. Rules that are not elementwise name a
           hand-written kernel in kernels/ instead ("kernel:NAME").
  saves    which of a/b/c/y the rule reads (derived from the expressions);
           a record that saves nothing may be swept again after its graph
           was freed, as in PyTorch.

Broadcasting is the kernels' business: an elementwise rule is written for
one element and the generated kernel reduces it onto the input's shape.
"""
import ast
from typing import NamedTuple

import numpy as np
from scipy import special


class Op(NamedTuple):
    name: str
    grad_fn: str
    arity: int
    forward: object
    vjp: object
    saves: frozenset


def _saves(vjp, extra=()):
    if isinstance(vjp, str):
        return frozenset(extra)
    names = {n.id for e in vjp for n in ast.walk(ast.parse(e)) if isinstance(n, ast.Name)}
    return frozenset(names & {"a", "b", "c", "y"})


def _quiet(f):
    """NumPy warns where PyTorch silently gives inf or nan (log(0), 1/0)."""
    def forward(*args, **kw):
        with np.errstate(all="ignore"):
            return f(*args, **kw)
    return forward


def _dims(ki, ndim):
    return tuple(d for d in range(ndim) if ki >> d & 1)


def _sum(a, k0, k1, ki):
    return np.sum(a, axis=_dims(ki, a.ndim), keepdims=bool(k1))


def _mean(a, k0, k1, ki):
    return np.mean(a, axis=_dims(ki, a.ndim), keepdims=bool(k1))


def _op(name, grad_fn, arity, forward, vjp, saves=()):
    return Op(name, grad_fn, arity, forward, vjp, _saves(vjp, saves))


OPS = (
    # binary, broadcasting; add/sub scale b by alpha = k0
    _op("add", "AddBackward0", 2, lambda a, b, k0, k1, ki: a + b if k0 == 1 else a + k0 * b,
        ("g", "g * k0")),
    _op("sub", "SubBackward0", 2, lambda a, b, k0, k1, ki: a - b if k0 == 1 else a - k0 * b,
        ("g", "-g * k0")),
    _op("mul", "MulBackward0", 2, lambda a, b, k0, k1, ki: a * b, ("g * b", "g * a")),
    _op("div", "DivBackward0", 2, _quiet(lambda a, b, k0, k1, ki: a / b),
        ("g / b", "-g * a / (b * b)")),
    _op("pow", "PowBackward1", 2, _quiet(lambda a, b, k0, k1, ki: a ** b),
        ("g * pow_dbase(a, b)", "g * pow_dexp(a, b, y)")),
    # a tensor and a Python scalar k0
    _op("add_scalar", "AddBackward0", 1, lambda a, k0, k1, ki: a + k0, ("g",)),
    _op("sub_scalar", "SubBackward0", 1, lambda a, k0, k1, ki: a - k0, ("g",)),
    _op("rsub_scalar", "RsubBackward1", 1, lambda a, k0, k1, ki: k0 - a, ("-g",)),
    _op("mul_scalar", "MulBackward0", 1, lambda a, k0, k1, ki: a * k0, ("g * k0",)),
    _op("div_scalar", "DivBackward0", 1, _quiet(lambda a, k0, k1, ki: a / k0), ("g / k0",)),
    _op("rdiv_scalar", "MulBackward0", 1, _quiet(lambda a, k0, k1, ki: k0 / a),
        ("-g * k0 / (a * a)",)),
    _op("pow_scalar", "PowBackward0", 1, _quiet(lambda a, k0, k1, ki: a ** k0),
        ("g * pow_dbase(a, k0)",)),
    _op("rpow_scalar", "PowBackward2", 1, _quiet(lambda a, k0, k1, ki: k0 ** a),
        ("g * pow_dexp(k0, a, y)",)),
    # unary
    _op("neg", "NegBackward0", 1, lambda a, k0, k1, ki: -a, ("-g",)),
    _op("exp", "ExpBackward0", 1, _quiet(lambda a, k0, k1, ki: np.exp(a)), ("g * y",)),
    _op("log", "LogBackward0", 1, _quiet(lambda a, k0, k1, ki: np.log(a)), ("g / a",)),
    _op("sqrt", "SqrtBackward0", 1, _quiet(lambda a, k0, k1, ki: np.sqrt(a)), ("g / (2 * y)",)),
    _op("sin", "SinBackward0", 1, lambda a, k0, k1, ki: np.sin(a), ("g * cos(a)",)),
    _op("cos", "CosBackward0", 1, lambda a, k0, k1, ki: np.cos(a), ("-g * sin(a)",)),
    _op("tan", "TanBackward0", 1, lambda a, k0, k1, ki: np.tan(a), ("g * (1 + y * y)",)),
    _op("tanh", "TanhBackward0", 1, lambda a, k0, k1, ki: np.tanh(a), ("g * (1 - y * y)",)),
    _op("sigmoid", "SigmoidBackward0", 1, lambda a, k0, k1, ki: special.expit(a),
        ("g * y * (1 - y)",)),
    _op("relu", "ReluBackward0", 1, lambda a, k0, k1, ki: np.maximum(a, 0, dtype=a.dtype),
        ("g if y > 0 else 0.0",)),
    _op("abs", "AbsBackward0", 1, lambda a, k0, k1, ki: np.abs(a), ("g * sign(a)",)),
    # clamp to [k0, k1] (inf where a bound is missing)
    _op("clamp", "ClampBackward1", 1, lambda a, k0, k1, ki: np.clip(a, k0, k1).astype(a.dtype),
        ("g if k0 <= a <= k1 else 0.0",)),
    _op("clone", "CloneBackward0", 1, lambda a, k0, k1, ki: a.copy(), ("g",)),
    # dtype change; the kernel casts the gradient back to the input's dtype
    _op("to_copy", "ToCopyBackward0", 1, None, "kernel:cast_vjp"),
    # reductions over the dims in bitmask ki; k1 = keepdim. The kernel
    # broadcasts g back, scaled by k0 (1 for sum, 1/count for mean).
    _op("sum", "SumBackward0", 1, _sum, "kernel:expand_vjp"),
    _op("sum_dim", "SumBackward1", 1, _sum, "kernel:expand_vjp"),
    _op("mean", "MeanBackward0", 1, _mean, "kernel:expand_vjp"),
    _op("mean_dim", "MeanBackward1", 1, _mean, "kernel:expand_vjp"),
)

CODE = {op.name: code for code, op in enumerate(OPS)}
