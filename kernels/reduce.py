"""VJP kernels of reductions. Same signature as the generated kernels:
(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc).

Reductions over the dims in bitmask ki see G and Y in the order of the
reduced tensor, so element i of the input maps to rindex(i, sa, ki)."""
import numpy as np

from .jit import jit
from .memory import dim_split, rindex
from .ufunc_loops import call


@jit(inline="always")
def expand_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """sum / mean: broadcast g back, times k0 (1, or 1/count for mean)."""
    if G.size == 1:
        g = G[0] * k0
        for i in range(GA.size):
            GA[i] += g
    else:
        for i in range(GA.size):
            GA[i] += G[rindex(i, sa, ki)] * k0


@jit
def add_cast(dst, src):
    """Gradient of a dtype change: accumulate src into dst's dtype."""
    for i in range(dst.size):
        dst[i] += src[i]


@jit(inline="always")
def extreme_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """amax / amin / max() / min(): the gradient is shared evenly by the
    elements equal to the result (PyTorch's evenly_distribute_backward)."""
    count = np.zeros(G.size)
    for i in range(A.size):
        j = rindex(i, sa, ki)
        if A[i] == Y[j]:
            count[j] += 1
    for i in range(GA.size):
        j = rindex(i, sa, ki)
        if A[i] == Y[j]:
            GA[i] += G[j] / count[j]


@jit(inline="always")
def prod_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """prod: g * y / a, with a single zero getting the product of the others
    and two or more zeros giving no gradient."""
    zeros = np.zeros(G.size, np.int64)
    others = np.ones(G.size)
    for i in range(A.size):
        j = rindex(i, sa, ki)
        if A[i] == 0:
            zeros[j] += 1
        else:
            others[j] *= A[i]
    for i in range(GA.size):
        j = rindex(i, sa, ki)
        if zeros[j] == 0:
            GA[i] += G[j] * Y[j] / A[i]
        elif zeros[j] == 1 and A[i] == 0:
            GA[i] += G[j] * others[j]


@jit
def _group_mean(A, sa, ki, n_out):
    mean = np.zeros(n_out)
    for i in range(A.size):
        mean[rindex(i, sa, ki)] += A[i]
    per = A.size // n_out if n_out else 0
    for j in range(n_out):
        mean[j] /= per
    return mean, per


@jit(inline="always")
def var_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """var with correction k0; std (k1 == 1) divides by the result."""
    mean, n = _group_mean(A, sa, ki, G.size)
    for i in range(GA.size):
        j = rindex(i, sa, ki)
        d = (A[i] - mean[j]) / (n - k0)
        GA[i] += G[j] * d / Y[j] if k1 else G[j] * 2 * d


@jit(inline="always")
def norm_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """Vector p-norm, p = k0 (inf shares evenly among the largest |a|)."""
    if k0 == np.inf:
        count = np.zeros(G.size)
        for i in range(A.size):
            j = rindex(i, sa, ki)
            if abs(A[i]) == Y[j]:
                count[j] += 1
    for i in range(GA.size):
        j = rindex(i, sa, ki)
        a = A[i]
        if k0 == 1:
            GA[i] += G[j] * np.sign(a)
        elif k0 == 2:
            if Y[j] != 0:
                GA[i] += G[j] * a / Y[j]
        elif k0 == np.inf:
            if abs(a) == Y[j]:
                GA[i] += G[j] * np.sign(a) / count[j]
        elif Y[j] != 0:
            GA[i] += G[j] * a * abs(a) ** (k0 - 2) / Y[j] ** (k0 - 1)


@jit(inline="always")
def logsumexp_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    for i in range(GA.size):
        j = rindex(i, sa, ki)
        GA[i] += G[j] * np.exp(A[i] - Y[j])


@jit(inline="always")
def softmax_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """Along dim ki: y * (g - sum(g * y))."""
    outer, n, inner = dim_split(sa, ki)
    for o in range(outer):
        for i in range(inner):
            base = o * n * inner + i
            s = 0.0
            for j in range(n):
                s += G[base + j * inner] * Y[base + j * inner]
            for j in range(n):
                k = base + j * inner
                GA[k] += Y[k] * (G[k] - s)


@jit(inline="always")
def log_softmax_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """Along dim ki: g - exp(y) * sum(g), the exps through NumPy's vector
    loop (ufunc_loops.py)."""
    outer, n, inner = dim_split(sa, ki)
    ey = np.empty_like(Y)
    call("exp", Y, ey, Y.size)
    for o in range(outer):
        for i in range(inner):
            base = o * n * inner + i
            s = 0.0
            for j in range(n):
                s += G[base + j * inner]
            for j in range(n):
                k = base + j * inner
                GA[k] += G[k] - ey[k] * s


@jit(inline="always")
def cumsum_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """Along dim ki: the reversed cumulative sum of g."""
    outer, n, inner = dim_split(sa, ki)
    for o in range(outer):
        for i in range(inner):
            base = o * n * inner + i
            acc = 0.0
            for j in range(n - 1, -1, -1):
                acc += G[base + j * inner]
                GA[base + j * inner] += acc


@jit(inline="always")
def nll_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """nll_loss: A log-probabilities (rows, classes), B class weights, I
    targets; k0 the scale, k1 the ignored class, ki set for reduction none."""
    rows = I.size
    classes = A.size // rows if rows else 0
    for i in range(rows):
        t = I[i]
        if t != k1:
            GA[i * classes + t] -= G[i if ki else 0] * B[t] * k0
