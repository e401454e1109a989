"""Kernels of structural ops: views, indexing, cat. The VJPs have the
generated kernels' signature (G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy,
sa, sb, sc), the forwards (replay's; eager runs NumPy's indexing, the same
copies) (Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc)."""

from .jit import jit
from .memory import dim_split


@jit(inline="always")
def copy_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """reshape / view / squeeze / unsqueeze: same elements in the same order."""
    for i in range(GA.size):
        GA[i] += G[i]


@jit(inline="always")
def take_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """Output element i is input element I[i] (permute, expand, indexing,
    gather, ...): scatter-add back, so repeated indices accumulate."""
    if GA.size:
        for i in range(G.size):
            GA[I[i]] += G[i]


@jit(inline="always")
def cat_vjp(G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """Two inputs concatenated along dim ki: each takes back its block."""
    outer, na, inner = dim_split(sa, ki)
    nb = sb[2 + ki]
    wa, wb = na * inner, nb * inner
    for o in range(outer):
        if GA.size:
            for j in range(wa):
                GA[o * wa + j] += G[o * (wa + wb) + j]
        if GB.size:
            for j in range(wb):
                GB[o * wb + j] += G[o * (wa + wb) + wa + j]


@jit(inline="always")
def copy_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    for i in range(Y.size):
        Y[i] = A[i]


@jit(inline="always")
def take_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    for i in range(Y.size):
        Y[i] = A[I[i]]


@jit(inline="always")
def cat_fwd(Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc):
    outer, na, inner = dim_split(sa, ki)
    wa, wb = na * inner, sb[2 + ki] * inner
    for o in range(outer):
        for j in range(wa):
            Y[o * (wa + wb) + j] = A[o * wa + j]
        for j in range(wb):
            Y[o * (wa + wb) + wa + j] = B[o * wb + j]
