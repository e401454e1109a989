"""Matrix products on BLAS (kernels/blas.py: MKL's or SciPy's), all through
gemm. Batched and broadcast cases loop over 2-D blocks. Eager forward,
replay and the backward sweep use these same kernels.

The VJPs write their products straight into the gradients: np.dot would
allocate each product first (fresh pages for a large weight, every step) and then take a second
pass to add it. They take the sweep's FRESH bits (kernels/sweep.py): a
gradient nothing has written yet gets beta = 0 (BLAS writes it, NaN in the
arena's old bytes and all), which saves the sweep zeroing it first; the
rest beta = 1 (added to)."""
import numpy as np
from numba import types
from numba.extending import overload

from . import blas  # noqa: F401  (registers the tapegrad_?gemm symbols)
from .jit import jit
from .memory import NDIM, bindex_lead


def gemm(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc, add):
    """C = op(A) @ op(B), or C += it where `add`, in BLAS's column-major
    terms (op: transpose where trans_* is "t"); a row-major matrix is its
    transpose there. A, B and C are contiguous; m x n must not be empty."""
    raise NotImplementedError("compiled code only")


# Fortran's ?gemm: every argument a pointer (kernels/blas.py)
_XGEMM = {t: types.ExternalFunction(f"tapegrad_{kind}gemm", types.void(*[types.voidptr] * 13))
          for t, kind in ((types.float32, "s"), (types.float64, "d"))}


@overload(gemm)
def _gemm(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc, add):
    xgemm = _XGEMM[C.dtype]

    def impl(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc, add):
        if k == 0:            # (a product over nothing: BLAS would skip the call)
            if not add:
                C[:] = 0
            return
        trans = np.array([ord(trans_a), ord(trans_b)], np.uint8)
        ints = np.array([m, n, k, lda, ldb, ldc], np.int32)
        scale = np.array([1, 1 if add else 0], C.dtype)        # alpha, beta
        xgemm(trans.ctypes, trans[1:].ctypes, ints.ctypes, ints[1:].ctypes, ints[2:].ctypes,
              scale.ctypes, A.ctypes, ints[3:].ctypes, B.ctypes, ints[4:].ctypes,
              scale[1:].ctypes, C.ctypes, ints[5:].ctypes)
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
        if n * m:         # y (n, m) = a (n, k) @ b (k, m)
            gemm("n", "n", m, n, k, B[ib * k * m:(ib + 1) * k * m], m,
                 A[ia * n * k:(ia + 1) * n * k], k, Y[t * n * m:(t + 1) * n * m], m, False)


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
    if rows and n_out:    # out (rows, out) = X (rows, in) @ w.T
        gemm("t", "n", n_out, rows, n_in, w, n_in, X, n_in, out, n_out, False)
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
