"""The one way kernels are compiled.

cache: compiled code is kept on disk, so a second process starts fast.
nogil: threads really run kernels at once.
error_model="numpy": 1/0 gives inf and 0/0 nan, as in PyTorch, instead of
raising ZeroDivisionError (Numba's default for plain Python semantics).
"""
import functools

from numba import njit

jit = functools.partial(njit, cache=True, nogil=True, error_model="numpy")
