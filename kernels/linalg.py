"""Matrix products on BLAS: Numba's np.dot calls it for contiguous 2-D float
blocks (it needs SciPy). Batched and broadcast cases loop over 2-D blocks.
Eager forward, replay and the backward sweep use these same kernels.

The VJPs write their products straight into the gradients (gemm through
the BLAS wrapper Numba's np.dot calls): np.dot would allocate each product
first (fresh pages for a large weight, every step) and then take a second
pass to add it. They take the sweep's FRESH bits (kernels/sweep.py): a
gradient nothing has written yet gets beta = 0 (BLAS writes it, NaN in the
arena's old bytes and all), which saves the sweep zeroing it first; the
rest beta = 1 (added to)."""
import numpy as np
from numba.extending import overload
from numba.np.linalg import _BLAS, ensure_blas, get_blas_kind

from .jit import jit
from .memory import NDIM, bindex_lead


def gemm(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc, add):
    """C = op(A) @ op(B), or C += it where `add`, in BLAS's column-major
    terms (op: transpose where trans_* is "t"); a row-major matrix is its
    transpose there. m x n must not be empty."""
    raise NotImplementedError("compiled code only")


@overload(gemm)
def _gemm(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc, add):
    ensure_blas()
    xxgemm = _BLAS().numba_xxgemm(C.dtype)
    kind = ord(get_blas_kind(C.dtype, "gemm"))

    def impl(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc, add):
        if k == 0:            # (a product over nothing: BLAS would skip the call)
            if not add:
                C[:] = 0
            return
        alpha = np.ones(1, C.dtype)
        beta = np.ones(1, C.dtype) if add else np.zeros(1, C.dtype)
        xxgemm(kind, ord(trans_a), ord(trans_b), m, n, k, alpha.ctypes, A.ctypes, lda, B.ctypes, ldb,
               beta.ctypes, C.ctypes, ldc)
    return impl


@jit(inline="always")
def _dims(sa, sb, sy):
    """(n, k, m, batch dims of a, of b, of y, number of batches) of a @ b,
    with a 1-D a taken as (1, k) and a 1-D b as (k, 1)."""
    na, nb = sa[NDIM], sb[NDIM]
    n, k = (1, sa[2]) if na == 1 else (sa[2 + na - 2], sa[2 + na - 1])
    m = 1 if nb == 1 else sb[2 + nb - 1]
    ab, bb = max(na - 2, 0), max(nb - 2, 0)
    yb = max(ab, bb)
    batches = 1
    for d in range(yb):
        batches *= sy[2 + d]
    return n, k, m, ab, bb, yb, batches


@jit
def matmul_into(Y, A, B, sy, sa, sb):
    n, k, m, ab, bb, yb, batches = _dims(sa, sb, sy)
    for t in range(batches):
        ia, ib = bindex_lead(t, sy, yb, sa, ab), bindex_lead(t, sy, yb, sb, bb)
        out = Y[t * n * m:(t + 1) * n * m].reshape((n, m))
        if k == 0:
            out[:] = 0
        else:
            np.dot(A[ia * n * k:(ia + 1) * n * k].reshape((n, k)),
                   B[ib * k * m:(ib + 1) * k * m].reshape((k, m)), out)


@jit(inline="always")
def matmul_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    matmul_into(Y, A, B, sy, sa, sb)


@jit(inline="always")
def matmul_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc, fresh):
    """dA += G @ B^T, dB += A^T @ G, per batch (broadcast batches accumulate)."""
    n, k, m, ab, bb, yb, batches = _dims(sa, sb, sy)
    # a fresh gradient is written by its first product (beta = 0); one that
    # several batches add to (a broadcast input) is zeroed first
    add_a, add_b = not fresh & 1, not fresh & 2
    if not add_a and GA.size != n * k * batches:
        GA[:] = 0
        add_a = True
    if not add_b and GB.size != k * m * batches:
        GB[:] = 0
        add_b = True
    for t in range(batches):
        ia, ib = bindex_lead(t, sy, yb, sa, ab), bindex_lead(t, sy, yb, sb, bb)
        g = G[t * n * m:(t + 1) * n * m]
        if GA.size:       # GA (n, k) = g (n, m) @ B^T, B (k, m)
            gemm("t", "n", k, n, m, B[ib * k * m:(ib + 1) * k * m], m, g, m,
                 GA[ia * n * k:(ia + 1) * n * k], k, add_a)
        if GB.size:       # GB (k, m) = A^T @ g, A (n, k)
            gemm("n", "t", m, k, n, g, m, A[ia * n * k:(ia + 1) * n * k], k,
                 GB[ib * k * m:(ib + 1) * k * m], m, add_b)


@jit
def linear_into(Y, X, W, bias, rows):
    """Y = X @ W^T + bias for X (rows, in), W (out, in): PyTorch's addmm."""
    n_out = W.shape[0] if W.ndim == 2 else 1
    n_in = X.size // rows if rows else 0
    w = W.reshape((n_out, n_in))
    out = Y.reshape((rows, n_out))
    if rows and n_in:
        np.dot(X.reshape((rows, n_in)), w.T, out)
    else:
        out[:] = 0
    if bias.size:
        for r in range(rows):
            for j in range(n_out):
                out[r, j] += bias[j]


@jit(inline="always")
def linear_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    """As eager linear (tapegrad/forward.py): A (rows, in), B (out, in), bias C."""
    rows = 1
    for d in range(sa[NDIM] - 1):
        rows *= sa[2 + d]
    if rows:
        linear_into(Y, A, B.reshape((sb[2], sb[3])), C, rows)


@jit(inline="always")
def linear_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc, fresh):
    """Y = A @ B^T + C with A (rows, in), B (out, in), C (out,)."""
    n_out = sb[2]
    n_in = sb[3]
    rows = G.size // n_out if n_out else A.size // n_in if n_in else 0
    if GA.size:           # GA (rows, in) = g (rows, out) @ B (out, in)
        gemm("n", "n", n_in, rows, n_out, B, n_in, G, n_out, GA, n_in, not fresh & 1)
    if GB.size:           # GB (out, in) = g.T @ A (rows, in)
        gemm("n", "t", n_in, n_out, rows, A, n_in, G, n_out, GB, n_in, not fresh & 2)
    if GC.size:
        if fresh & 4:
            GC[:] = 0
        g = G.reshape((rows, n_out))
        for r in range(rows):
            for j in range(n_out):
                GC[j] += g[r, j]
