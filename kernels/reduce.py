"""VJP kernels that are not elementwise. Same signature as the generated
elementwise kernels: (G, Y, A, B, C, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc)."""
from numba import njit

from .memory import rindex


@njit(cache=True, nogil=True)
def expand_vjp(G, Y, A, B, C, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc):
    """sum / mean over the dims in bitmask ki: broadcast g back, times k0."""
    if G.size == 1:
        g = G[0] * k0
        for i in range(GA.size):
            GA[i] += g
    else:
        for i in range(GA.size):
            GA[i] += G[rindex(i, sa, ki)] * k0


@njit(cache=True, nogil=True)
def add_cast(dst, src):
    """Gradient of a dtype change: accumulate src into dst's dtype."""
    for i in range(dst.size):
        dst[i] += src[i]
