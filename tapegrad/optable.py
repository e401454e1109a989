"""The op table: the single source of truth for every differentiable op.

One row per op and call form (PyTorch names `2 - x` RsubBackward1 and `x - 2`
SubBackward0, so they are two rows). A row holds:

  name     our name; the op code is the row's position (OPS[code])
  grad_fn  PyTorch's grad_fn class name for this call form
  arity    number of tensor inputs (a, b, c)
  forward  NumPy forward: forward(*arrays, k0, k1, ki) -> array, for the
           integer dtypes and for float ops without a compiled forward; None
           for structural ops (views, indexing), whose forward applies the
           same NumPy indexing to the data and to a map of element indices
           (tapegrad/shape_ops.py), recorded as input c
  vjp      the derivative rule per input, as data: a Python expression over
           g (incoming gradient), a/b/c (inputs), y (output), k0, k1
           (float constants), evaluated elementwise; kernels/generate.py turns
           it into a Numba kernel. Rules that are not elementwise name a
           hand-written kernel in kernels/ instead ("kernel:NAME").
  fwd      the compiled forward: an elementwise expression over a/b/c,
           k0, k1, or "kernel:NAME" (kernels/); eager float math and replay
           (tapegrad/replay.py) both run it, so they agree to the bit. An op
           without one is not replayable.
  saves    which of a/b/c/y the rule reads (derived from the expressions;
           k marks a saved scalar); a record that saves nothing may be swept
           again after its graph was freed, as in PyTorch, and a saved value
           changed in place makes backward raise.

Broadcasting is the kernels' business: an elementwise rule is written for
one element and the generated kernel reduces it onto the input's shape.
"""
import ast
from typing import NamedTuple

import numpy as np

from . import forward as F


class Op(NamedTuple):
    name: str
    grad_fn: str
    arity: int
    forward: object
    vjp: object
    saves: frozenset
    fwd: object


def _saves(vjp, extra=()):
    if not isinstance(vjp, tuple):
        return frozenset(extra)
    names = {n.id for e in vjp for n in ast.walk(ast.parse(e)) if isinstance(n, ast.Name)}
    return frozenset(names & {"a", "b", "c", "y"} | set(extra))


def _quiet(f):
    """NumPy warns where PyTorch silently gives inf or nan (log(0), 1/0)."""
    def forward(*args, **kw):
        with np.errstate(all="ignore"):
            return f(*args, **kw)
    return forward


def _op(name, grad_fn, arity, forward, vjp, saves=(), fwd=None):
    return Op(name, grad_fn, arity, forward, vjp, _saves(vjp, saves), fwd)


OPS = (
    # binary, broadcasting; add/sub scale b by alpha = k0
    _op("add", "AddBackward0", 2, lambda a, b, k0, k1, ki: a + b if k0 == 1 else a + k0 * b,
        ("g", "g * k0"),
        fwd="a + b if k0 == 1 else a + k0 * b"),
    _op("sub", "SubBackward0", 2, lambda a, b, k0, k1, ki: a - b if k0 == 1 else a - k0 * b,
        ("g", "-g * k0"),
        fwd="a - b if k0 == 1 else a - k0 * b"),
    _op("mul", "MulBackward0", 2, lambda a, b, k0, k1, ki: a * b, ("g * b", "g * a"),
        fwd="a * b"),
    _op("div", "DivBackward0", 2, _quiet(lambda a, b, k0, k1, ki: a / b),
        ("g / b", "-g * a / (b * b)"),
        fwd="a / b"),
    _op("pow", "PowBackward1", 2, _quiet(lambda a, b, k0, k1, ki: a ** b),
        ("g * pow_dbase(a, b)", "g * pow_dexp(a, b, y)"),
        fwd="a ** b"),
    # a tensor and a Python scalar k0
    _op("add_scalar", "AddBackward0", 1, lambda a, k0, k1, ki: a + k0, ("g",),
        fwd="a + k0"),
    _op("sub_scalar", "SubBackward0", 1, lambda a, k0, k1, ki: a - k0, ("g",),
        fwd="a - k0"),
    _op("rsub_scalar", "RsubBackward1", 1, lambda a, k0, k1, ki: k0 - a, ("-g",),
        fwd="k0 - a"),
    # torch saves the scalar of * and / (as a tensor), so a second backward raises
    _op("mul_scalar", "MulBackward0", 1, lambda a, k0, k1, ki: a * k0, ("g * k0",), "k",
        fwd="a * k0"),
    _op("div_scalar", "DivBackward0", 1, _quiet(lambda a, k0, k1, ki: a / k0), ("g / k0",), "k",
        fwd="a / k0"),
    _op("rdiv_scalar", "MulBackward0", 1, _quiet(lambda a, k0, k1, ki: k0 / a),
        ("-g * k0 / (a * a)",),
        fwd="k0 / a"),
    _op("pow_scalar", "PowBackward0", 1, _quiet(lambda a, k0, k1, ki: a ** k0),
        ("g * pow_dbase(a, k0)",),
        fwd="a ** k0"),
    _op("rpow_scalar", "PowBackward2", 1, _quiet(lambda a, k0, k1, ki: k0 ** a),
        ("g * pow_dexp(k0, a, y)",),
        fwd="k0 ** a"),
    # unary
    _op("neg", "NegBackward0", 1, lambda a, k0, k1, ki: -a, ("-g",),
        fwd="-a"),
    _op("exp", "ExpBackward0", 1, _quiet(lambda a, k0, k1, ki: np.exp(a)), ("g * y",),
        fwd="exp(a)"),
    _op("log", "LogBackward0", 1, _quiet(lambda a, k0, k1, ki: np.log(a)), ("g / a",),
        fwd="log(a)"),
    _op("sqrt", "SqrtBackward0", 1, _quiet(lambda a, k0, k1, ki: np.sqrt(a)), ("g / (2 * y)",),
        fwd="sqrt(a)"),
    _op("sin", "SinBackward0", 1, _quiet(lambda a, k0, k1, ki: np.sin(a)), ("g * cos(a)",),
        fwd="sin(a)"),
    _op("cos", "CosBackward0", 1, _quiet(lambda a, k0, k1, ki: np.cos(a)), ("-g * sin(a)",),
        fwd="cos(a)"),
    _op("tan", "TanBackward0", 1, _quiet(lambda a, k0, k1, ki: np.tan(a)), ("g * (1 + y * y)",),
        fwd="tan(a)"),
    _op("tanh", "TanhBackward0", 1, lambda a, k0, k1, ki: np.tanh(a), ("g * (1 - y * y)",),
        fwd="tanh(a)"),
    _op("sigmoid", "SigmoidBackward0", 1, lambda a, k0, k1, ki: F.special().expit(a),
        ("g * y * (1 - y)",),
        fwd="1 / (1 + exp(-a))"),
    _op("relu", "ReluBackward0", 1, lambda a, k0, k1, ki: np.maximum(a, 0, dtype=a.dtype),
        ("g if y > 0 else 0.0",),
        fwd="0.0 if a <= 0 else a"),
    _op("abs", "AbsBackward0", 1, lambda a, k0, k1, ki: np.abs(a), ("g * sign(a)",),
        fwd="abs(a)"),
    # clamp to [k0, k1] (inf where a bound is missing)
    _op("clamp", "ClampBackward1", 1, lambda a, k0, k1, ki: np.clip(a, k0, k1).astype(a.dtype),
        ("g if k0 <= a <= k1 else 0.0",),
        fwd="clamp(a, k0, k1)"),
    # every element k0 (fill_ without grad, in a step recorded for replay)
    _op("fill", "FillBackward0", 1, lambda a, k0, k1, ki: np.full_like(a, k0), ("0.0",), fwd="k0"),
    _op("clone", "CloneBackward0", 1, lambda a, k0, k1, ki: a.copy(), ("g",),
        fwd="a"),
    # dtype change; the kernel casts the gradient back to the input's dtype
    _op("to_copy", "ToCopyBackward0", 1, None, "kernel:reduce.add_cast"),
    # a custom autograd.Function: Python runs its backward (autograd/function.py);
    # slot c lists its inputs, ki keys its context. Every output has a record.
    _op("function", "FunctionBackward", 0, None, None, "k"),
    # more elementwise ops
    _op("maximum", "MaximumBackward0", 2, lambda a, b, k0, k1, ki: np.maximum(a, b),
        ("g / 2 if a == b else (0.0 if a < b else g)", "g / 2 if a == b else (0.0 if a > b else g)"),
        fwd="maximum(a, b)"),
    _op("minimum", "MinimumBackward0", 2, lambda a, b, k0, k1, ki: np.minimum(a, b),
        ("g / 2 if a == b else (0.0 if a > b else g)", "g / 2 if a == b else (0.0 if a < b else g)"),
        fwd="minimum(a, b)"),
    # where(c, a, b) and masked_fill(a, mask b, value k0); conditions arrive as 0/1 floats
    _op("where", "WhereBackward0", 3, lambda a, b, c, k0, k1, ki: np.where(c != 0, a, b),
        ("g if c != 0 else 0.0", "0.0 if c != 0 else g", "0.0"),
        fwd="a if c != 0 else b"),
    _op("masked_fill", "MaskedFillBackward0", 2,
        lambda a, b, k0, k1, ki: np.where(b != 0, np.asarray(k0, a.dtype), a), ("0.0 if b != 0 else g", "0.0"),
        fwd="k0 if b != 0 else a"),
    _op("log1p", "Log1PBackward0", 1, _quiet(lambda a, k0, k1, ki: np.log1p(a)), ("g / (1 + a)",),
        fwd="log1p(a)"),
    _op("expm1", "Expm1Backward0", 1, _quiet(lambda a, k0, k1, ki: np.expm1(a)), ("g * (y + 1)",),
        fwd="expm1(a)"),
    _op("exp2", "Exp2Backward0", 1, _quiet(lambda a, k0, k1, ki: np.exp2(a)),
        ("g * y * 0.6931471805599453",),
        fwd="2.0 ** a"),
    _op("log2", "Log2Backward0", 1, _quiet(lambda a, k0, k1, ki: np.log2(a)),
        ("g / (a * 0.6931471805599453)",),
        fwd="log2(a)"),
    _op("log10", "Log10Backward0", 1, _quiet(lambda a, k0, k1, ki: np.log10(a)),
        ("g / (a * 2.302585092994046)",),
        fwd="log10(a)"),
    _op("rsqrt", "RsqrtBackward0", 1, _quiet(lambda a, k0, k1, ki: 1 / np.sqrt(a)),
        ("-0.5 * g * y * y * y",),
        fwd="1 / sqrt(a)"),
    _op("reciprocal", "ReciprocalBackward0", 1, _quiet(lambda a, k0, k1, ki: 1 / a), ("-g * y * y",),
        fwd="1 / a"),
    _op("sign", "SignBackward0", 1, lambda a, k0, k1, ki: np.sign(a), ("0.0",)),
    _op("floor", "FloorBackward0", 1, lambda a, k0, k1, ki: np.floor(a), ("0.0",),
        fwd="floor(a)"),
    _op("ceil", "CeilBackward0", 1, lambda a, k0, k1, ki: np.ceil(a), ("0.0",),
        fwd="ceil(a)"),
    _op("round", "RoundBackward0", 1, lambda a, k0, k1, ki: np.round(a), ("0.0",),
        fwd="rint(a)"),
    _op("erf", "ErfBackward0", 1, lambda a, k0, k1, ki: F.special().erf(a),
        ("g * 1.1283791670955126 * exp(-a * a)",),
        fwd="erf(a)"),
    _op("leaky_relu", "LeakyReluBackward0", 1, lambda a, k0, k1, ki: np.where(a > 0, a, a * k0),
        ("g if a > 0 else g * k0",),
        fwd="a if a > 0 else a * k0"),
    # k0 = 1 selects the tanh approximation
    _op("gelu", "GeluBackward0", 1, F.gelu, ("g * gelu_grad(a, k0)",),
        fwd="gelu(a, k0)"),
    _op("silu", "SiluBackward0", 1, lambda a, k0, k1, ki: a * F.special().expit(a), ("g * silu_grad(a)",),
        fwd="a / (1 + exp(-a))"),
    # beta k0, threshold k1
    _op("softplus", "SoftplusBackward0", 1, F.softplus,
        ("g if a * k0 > k1 else g * softplus_grad(a, k0)",),
        fwd="a if a * k0 > k1 else log1p(exp(k0 * a)) / k0"),
    _op("elu", "EluBackward0", 1, _quiet(lambda a, k0, k1, ki: np.where(a > 0, a, k0 * np.expm1(a))),
        ("g if a > 0 else g * (y + k0)",),
        fwd="a if a > 0 else k0 * expm1(a)"),
    _op("hardtanh", "HardtanhBackward0", 1, lambda a, k0, k1, ki: np.clip(a, k0, k1),
        ("g if k0 < a < k1 else 0.0",),
        fwd="clamp(a, k0, k1)"),
    _op("atan2", "Atan2Backward0", 2, lambda a, b, k0, k1, ki: np.arctan2(a, b),
        ("g * b / (a * a + b * b)", "-g * a / (a * a + b * b)"),
        fwd="atan2(a, b)"),
    _op("fmod", "FmodBackward1", 2, _quiet(lambda a, b, k0, k1, ki: np.fmod(a, b)),
        ("g", "-g * trunc(a / b)")),
    _op("fmod_scalar", "FmodBackward0", 1, _quiet(lambda a, k0, k1, ki: np.fmod(a, k0)), ("g",)),
    _op("remainder", "RemainderBackward1", 2, _quiet(lambda a, b, k0, k1, ki: np.remainder(a, b)),
        ("g", "-g * floor(a / b)")),
    _op("remainder_scalar", "RemainderBackward0", 1,
        _quiet(lambda a, k0, k1, ki: np.remainder(a, k0)), ("g",)),
    # lerp(a, b, weight k0) and lerp(a, b, weight c)
    _op("lerp", "LerpBackward0", 2, lambda a, b, k0, k1, ki: a + k0 * (b - a),
        ("g * (1 - k0)", "g * k0"),
        fwd="a + k0 * (b - a)"),
    _op("lerp_tensor", "LerpBackward1", 3, lambda a, b, c, k0, k1, ki: a + c * (b - a),
        ("g * (1 - c)", "g * c", "g * (b - a)"),
        fwd="a + c * (b - a)"),
    # reductions over the dims in bitmask ki (| forward.KEEPDIM to keep them).
    # expand_vjp broadcasts g back, scaled by k0 (1 for sum, 1/count for mean).
    _op("sum", "SumBackward0", 1, F.reduction(np.sum), "kernel:reduce.expand_vjp",
        fwd="kernel:forward_reduce.sum_fwd"),
    _op("sum_dim", "SumBackward1", 1, F.reduction(np.sum), "kernel:reduce.expand_vjp",
        fwd="kernel:forward_reduce.sum_fwd"),
    _op("mean", "MeanBackward0", 1, F.reduction(np.mean), "kernel:reduce.expand_vjp",
        fwd="kernel:forward_reduce.mean_fwd"),
    _op("mean_dim", "MeanBackward1", 1, F.reduction(np.mean), "kernel:reduce.expand_vjp",
        fwd="kernel:forward_reduce.mean_fwd"),
    _op("max", "MaxBackward1", 1, F.reduction(np.amax), "kernel:reduce.extreme_vjp", "ay",
        fwd="kernel:forward_reduce.max_fwd"),
    _op("min", "MinBackward1", 1, F.reduction(np.amin), "kernel:reduce.extreme_vjp", "ay",
        fwd="kernel:forward_reduce.min_fwd"),
    _op("amax", "AmaxBackward0", 1, F.reduction(np.amax), "kernel:reduce.extreme_vjp", "ay",
        fwd="kernel:forward_reduce.max_fwd"),
    _op("amin", "AminBackward0", 1, F.reduction(np.amin), "kernel:reduce.extreme_vjp", "ay",
        fwd="kernel:forward_reduce.min_fwd"),
    _op("prod", "ProdBackward0", 1, F.reduction(np.prod), "kernel:reduce.prod_vjp", "ay",
        fwd="kernel:forward_reduce.prod_fwd"),
    _op("prod_dim", "ProdBackward1", 1, F.reduction(np.prod), "kernel:reduce.prod_vjp", "ay",
        fwd="kernel:forward_reduce.prod_fwd"),
    # correction k0; k1 = 1 for std
    _op("var", "VarBackward0", 1, F.var, "kernel:reduce.var_vjp", "ay",
        fwd="kernel:forward_reduce.var_fwd"),
    _op("std", "StdBackward0", 1, F.var, "kernel:reduce.var_vjp", "ay",
        fwd="kernel:forward_reduce.var_fwd"),
    # p = k0
    _op("norm", "LinalgVectorNormBackward0", 1, F.norm, "kernel:reduce.norm_vjp", "ay",
        fwd="kernel:forward_reduce.norm_fwd"),
    _op("logsumexp", "LogsumexpBackward0", 1, F.logsumexp, "kernel:reduce.logsumexp_vjp", "ay",
        fwd="kernel:forward_reduce.logsumexp_fwd"),
    # along dim ki
    _op("softmax", "SoftmaxBackward0", 1, F.softmax, "kernel:reduce.softmax_vjp", "y",
        fwd="kernel:forward_reduce.softmax_fwd"),
    _op("log_softmax", "LogSoftmaxBackward0", 1, F.log_softmax, "kernel:reduce.log_softmax_vjp", "y",
        fwd="kernel:forward_reduce.log_softmax_fwd"),
    _op("cumsum", "CumsumBackward0", 1, lambda a, k0, k1, ki: np.cumsum(a, axis=ki),
        "kernel:reduce.cumsum_vjp",
        fwd="kernel:forward_reduce.cumsum_fwd"),
    # nll_loss(log-probs a, class weights b, targets c): scale k0, ignored class k1,
    # ki = 1 for reduction none
    _op("nll_loss", "NllLossBackward0", 3, F.nll_loss, "kernel:reduce.nll_vjp", "bc",
        fwd="kernel:forward_reduce.nll_loss_fwd"),
    # matrix products (kernels/linalg.py), named per call form as PyTorch does
    _op("mm", "MmBackward0", 2, F.matmul, "kernel:linalg.matmul_vjp", "ab", fwd="kernel:linalg.matmul_fwd"),
    _op("dot", "DotBackward0", 2, F.matmul, "kernel:linalg.matmul_vjp", "ab", fwd="kernel:linalg.matmul_fwd"),
    _op("mv", "MvBackward0", 2, F.matmul, "kernel:linalg.matmul_vjp", "ab", fwd="kernel:linalg.matmul_fwd"),
    _op("vm", "SqueezeBackward4", 2, F.matmul, "kernel:linalg.matmul_vjp", "ab", fwd="kernel:linalg.matmul_fwd"),
    _op("bmm", "BmmBackward0", 2, F.matmul, "kernel:linalg.matmul_vjp", "ab", fwd="kernel:linalg.matmul_fwd"),
    _op("matmul", "UnsafeViewBackward0", 2, F.matmul, "kernel:linalg.matmul_vjp", "ab", fwd="kernel:linalg.matmul_fwd"),
    # x @ w.T + b (nn.Linear on 2-D input); without b, x @ w.T
    _op("linear", "AddmmBackward0", 3, F.linear, "kernel:linalg.linear_vjp", "ab", fwd="kernel:linalg.linear_fwd"),
    _op("linear_nobias", "MmBackward0", 2, F.linear, "kernel:linalg.linear_vjp", "ab", fwd="kernel:linalg.linear_fwd"),
    # structural ops: same elements in the same order
    _op("view", "ViewBackward0", 1, None, "kernel:shape.copy_vjp", fwd="kernel:shape.copy_fwd"),
    _op("unsafe_view", "UnsafeViewBackward0", 1, None, "kernel:shape.copy_vjp", fwd="kernel:shape.copy_fwd"),
    _op("squeeze", "SqueezeBackward0", 1, None, "kernel:shape.copy_vjp", fwd="kernel:shape.copy_fwd"),
    _op("squeeze_dim", "SqueezeBackward1", 1, None, "kernel:shape.copy_vjp", fwd="kernel:shape.copy_fwd"),
    _op("unsqueeze", "UnsqueezeBackward0", 1, None, "kernel:shape.copy_vjp", fwd="kernel:shape.copy_fwd"),
    # structural ops: output element i is input element c[i]
    _op("select", "SelectBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("slice", "SliceBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("index", "IndexBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("permute", "PermuteBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("transpose", "TransposeBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("t", "TBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("expand", "ExpandBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("repeat", "RepeatBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("flip", "FlipBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("index_select", "IndexSelectBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("gather", "GatherBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("split", "SplitBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("max_dim", "MaxBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    _op("min_dim", "MinBackward0", 1, None, "kernel:shape.take_vjp", "c", fwd="kernel:shape.take_fwd"),
    # two tensors joined along dim ki (cat of more is a balanced tree of these)
    _op("cat", "CatBackward0", 2, lambda a, b, k0, k1, ki: np.concatenate([a, b], axis=ki),
        "kernel:shape.cat_vjp", fwd="kernel:shape.cat_fwd"),
    _op("stack", "StackBackward0", 2, lambda a, b, k0, k1, ki: np.concatenate([a, b], axis=ki),
        "kernel:shape.cat_vjp", fwd="kernel:shape.cat_fwd"),
)

CODE = {op.name: code for code, op in enumerate(OPS)}
