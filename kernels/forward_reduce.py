"""Forward kernels of reductions, for the eager forward and the replay sweep
alike, so both give bitwise the same values. One signature for all:
(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc); Y is overwritten. (Beside
nll_loss_fwd, nll_targets is Python's check of its targets, not an op.)

Reductions over the dims in bitmask ki send element i of A to
Y[rindex(i, sa, ki)]: the KEEPDIM bit (1 << 40) lies beyond any dim rindex
reads, since keeping the dims changes only Y's shape. Sums run in float64
whatever the dtype, in element order, except a sum of everything (x.sum(),
a loss): that one runs in vector lanes, in an order fixed when it is
compiled, so still the same values on every call.
Empty groups give the identity (0 for sums, 1 for prod, -inf for max);
callers raise before max or min reduce nothing, as torch does."""
import numpy as np

from .jit import jit
from .memory import dim_split, rindex
from .ufunc_loops import call


@jit(inline="always")
def _group(i, sa, ki, n):
    """rindex, skipped for a reduction to one value (x.sum(), a loss): it
    costs two divisions per dim, several times the sum itself."""
    return 0 if n == 1 else rindex(i, sa, ki)


@jit
def _sums(A, sa, ki, n):
    """The n group sums of A, in float64."""
    acc = np.zeros(n)
    if n == 1:
        acc[0] = total(A)
        return acc
    for i in range(A.size):
        acc[_group(i, sa, ki, n)] += A[i]
    return acc


@jit(fastmath={"reassoc"})
def total(A):
    """The sum of A in float64. Reassociation lets the loop run in vector
    lanes, 12x faster than one chain of adds; inf and NaN behave as ever."""
    s = 0.0
    for i in range(A.size):
        s += A[i]
    return s


@jit(inline="always")
def sum_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    acc = _sums(A, sa, ki, Y.size)
    for j in range(Y.size):
        Y[j] = acc[j]


@jit(inline="always")
def mean_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """The sum divided by the count, as np.mean (not times k0 = 1/count);
    the mean of nothing is 0/0 = nan, as torch's."""
    acc = _sums(A, sa, ki, Y.size)
    count = A.size // max(Y.size, 1)
    for j in range(Y.size):
        Y[j] = acc[j] / count


@jit(inline="always")
def max_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """amax / max(): a NaN wins, as in np.amax (once stored, every comparison
    with it is false)."""
    for j in range(Y.size):
        Y[j] = -np.inf
    for i in range(A.size):
        j = _group(i, sa, ki, Y.size)
        a = A[i]
        if a > Y[j] or np.isnan(a):
            Y[j] = a


@jit(inline="always")
def min_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """amin / min(): as max_fwd."""
    for j in range(Y.size):
        Y[j] = np.inf
    for i in range(A.size):
        j = _group(i, sa, ki, Y.size)
        a = A[i]
        if a < Y[j] or np.isnan(a):
            Y[j] = a


@jit(inline="always")
def prod_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    acc = np.ones(Y.size)
    for i in range(A.size):
        acc[_group(i, sa, ki, Y.size)] *= A[i]
    for j in range(Y.size):
        Y[j] = acc[j]


@jit(inline="always")
def var_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """var with correction k0, std when k1: the squared deviations from the
    mean (two passes: one pass of sums of squares cancels), over
    max(count - k0, 0) as numpy's ddof (so inf or nan when nothing is left)."""
    mean = _sums(A, sa, ki, Y.size)
    count = A.size // max(Y.size, 1)
    for j in range(Y.size):
        mean[j] /= count
    ss = np.zeros(Y.size)
    for i in range(A.size):
        j = _group(i, sa, ki, Y.size)
        d = A[i] - mean[j]
        ss[j] += d * d
    div = max(count - k0, 0.0)
    for j in range(Y.size):
        v = ss[j] / div
        Y[j] = np.sqrt(v) if k1 else v


@jit(inline="always")
def norm_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """Vector p-norm, p = k0: inf is the largest |a| (0 for nothing, NaN
    wins), 1 and 2 skip the powers, any other p is (sum |a|^p)^(1/p)."""
    if k0 == np.inf:
        for j in range(Y.size):
            Y[j] = 0.0
        for i in range(A.size):
            j = _group(i, sa, ki, Y.size)
            a = abs(A[i])
            if a > Y[j] or np.isnan(a):
                Y[j] = a
        return
    acc = np.zeros(Y.size)
    for i in range(A.size):
        a = abs(np.float64(A[i]))
        acc[_group(i, sa, ki, Y.size)] += a if k0 == 1 else (a * a if k0 == 2 else a ** k0)
    for j in range(Y.size):
        Y[j] = acc[j] if k0 == 1 else (np.sqrt(acc[j]) if k0 == 2 else acc[j] ** (1 / k0))


@jit(inline="always")
def logsumexp_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """log(sum(exp(a - m))) + m with m the group max, as SciPy's. The sum
    shifts by 0 when m is not finite (a - m would be NaN), and adding m then
    keeps it: -inf groups (and empty ones) give -inf, a +inf inf, a NaN NaN.
    A group of one (a 0-d input) gives its element back exactly."""
    max_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc)
    s = np.zeros(Y.size)
    for i in range(A.size):
        j = _group(i, sa, ki, Y.size)
        s[j] += np.exp(A[i] - (Y[j] if np.isfinite(Y[j]) else 0.0))
    for j in range(Y.size):
        Y[j] += np.log(s[j])


@jit(inline="always")
def _lane_max(A, base, n, inner):
    """The max of lane A[base + j * inner], j < n, a NaN winning."""
    m = -np.inf
    for j in range(n):
        a = A[base + j * inner]
        if a > m or np.isnan(a):
            m = a
    return m


@jit(inline="always")
def _lane_exps(A, sa, ki):
    """(a - max, exp(a - max), outer, n, inner) of each lane along dim ki,
    lane after lane, in float64; the exps through NumPy's vector loop, one
    call for all lanes (a scalar exp per element was most of a softmax)."""
    outer, n, inner = dim_split(sa, ki)
    shifted = np.empty(outer * inner * n)
    for o in range(outer):
        for i in range(inner):
            base, lane = o * n * inner + i, (o * inner + i) * n
            m = _lane_max(A, base, n, inner)
            for j in range(n):
                shifted[lane + j] = A[base + j * inner] - m
    exps = np.empty_like(shifted)
    call("exp", shifted, exps, shifted.size)
    return shifted, exps, outer, n, inner


@jit(inline="always")
def softmax_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """Along dim ki: exp(a - max) / sum. The shift by an infinite max, as in
    the NumPy forward (and torch), makes a lane of -inf or with an inf all
    NaN."""
    shifted, e, outer, n, inner = _lane_exps(A, sa, ki)
    for o in range(outer):
        for i in range(inner):
            base, lane = o * n * inner + i, (o * inner + i) * n
            s = 0.0
            for j in range(n):
                Y[base + j * inner] = e[lane + j]
                s += e[lane + j]
            for j in range(n):
                Y[base + j * inner] /= s


@jit(inline="always")
def log_softmax_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """Along dim ki: (a - max) - log(sum(exp(a - max))), NaN as softmax_fwd."""
    shifted, e, outer, n, inner = _lane_exps(A, sa, ki)
    for o in range(outer):
        for i in range(inner):
            base, lane = o * n * inner + i, (o * inner + i) * n
            s = 0.0
            for j in range(n):
                s += e[lane + j]
            ls = np.log(s)
            for j in range(n):
                Y[base + j * inner] = shifted[lane + j] - ls


@jit(inline="always")
def cumsum_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """Along dim ki, in float64 (a 0-d input is one lane of one)."""
    outer, n, inner = dim_split(sa, ki)
    for o in range(outer):
        for i in range(inner):
            base = o * n * inner + i
            acc = 0.0
            for j in range(n):
                k = base + j * inner
                acc += A[k]
                Y[k] = acc


@jit
def nll_targets(I, W, ignore, classes):
    """nll_loss's targets I checked in one pass: (the index of the first one
    out of range and not ignored, or -1; the sum of class weights W over the
    counted targets, in W's dtype and in order, as torch sums them)."""
    total = np.zeros(1, W.dtype)
    for i in range(I.size):
        t = I[i]
        if t != ignore:
            if t < 0 or t >= classes:
                return i, 0.0
            total[0] += W[t]
    return -1, np.float64(total[0])


@jit(inline="always")
def nll_loss_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """nll_loss: A log-probabilities (rows, classes), B class weights, I
    targets; k0 the scale, k1 the ignored class, ki set for reduction none
    (one loss per row, else their sum). Ignored rows are multiplied by 0,
    not skipped, as in the NumPy forward: a -inf there gives NaN."""
    rows = I.size
    classes = A.size // rows if rows else 0
    total = 0.0
    for i in range(rows):
        t = I[i]
        c = max(t, 0)
        loss = -np.float64(A[i * classes + c]) * B[c] * (1.0 if t != k1 else 0.0) * k0
        if ki:
            Y[i] = loss
        else:
            total += loss
    if not ki:
        Y[0] = total
