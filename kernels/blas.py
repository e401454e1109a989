"""The BLAS every matrix product calls: MKL's where the `mkl` extra is
installed, else the OpenBLAS SciPy ships (the one Numba's np.dot calls).

On this project's machines MKL's sgemm takes about three quarters of
OpenBLAS's time at a 256x784x256 product. Both export the Fortran
interface, sgemm(transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C,
ldc) with every argument a pointer, so the choice is made once per process,
at import: the chosen function's address is registered with LLVM under a
name of tapegrad's own, which compiled code calls. Code cached on disk thus
finds this process's BLAS when it is loaded, whichever that is.

MKL runs on the GNU OpenMP runtime, the one Numba's parallel kernels and
PyTorch use here, with its own choice of threads (one per core, as
Numba's). Setting its thread count (MKL_Set_Num_Threads) made PyTorch's
elementwise ops in the same process 25 times slower (0.53 -> 12.9 ms on
a 1e5-element chain), and the Intel runtime, whose threads spin 200 ms
after each product, 3 times slower; left alone, neither moves.
TAPEGRAD_BLAS=scipy keeps SciPy's BLAS with MKL installed.
"""
import ctypes
import importlib.metadata
import os

import llvmlite.binding as llvm
from numba.extending import get_cython_function_address

_GNU_THREADING = 3        # mkl_service.h: MKL_THREADING_GNU


def _mkl_runtime():
    """MKL's runtime library set up for tapegrad, or None where the `mkl`
    package is not installed (or TAPEGRAD_BLAS=scipy)."""
    if os.environ.get("TAPEGRAD_BLAS") == "scipy":
        return None
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    paths = [f.locate() for f in files if f.name.startswith("libmkl_rt.so")]
    if not paths:
        return None
    lib = ctypes.CDLL(str(paths[0]))
    lib.MKL_Set_Threading_Layer(_GNU_THREADING)
    return lib


_MKL = _mkl_runtime()
NAME = "MKL" if _MKL else "SciPy's BLAS"
for _kind in "sd":
    _address = (ctypes.cast(getattr(_MKL, _kind + "gemm"), ctypes.c_void_p).value if _MKL
                else get_cython_function_address("scipy.linalg.cython_blas", _kind + "gemm"))
    llvm.add_symbol(f"tapegrad_{_kind}gemm", _address)
