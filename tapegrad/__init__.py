"""tapegrad: define-by-run autograd on a flat tape, swept by compiled code.

`import tapegrad as torch` runs ordinary autograd tutorial code.
"""
from . import autograd, convert, inplace, math_ops
from .autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (arange, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                       manual_seed, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, tensor, zeros, zeros_like)
from .device import cuda, device, set_default_device
from .dtypes import (bool_ as bool, float32, float64, get_default_dtype, int64,
                     set_default_dtype)
from .math_ops import (abs, add, all, allclose, any, clamp, clip, clone, cos, div, eq, equal, exp,
                       ge, gt, le, log, lt, mean, mul, ne, neg, norm, pow, relu, rsub, sigmoid,
                       sin, sqrt, sub, sum, tan, tanh)
from .printing import get_printoptions, set_printoptions
from .tensor import Size, Tensor

float = float32
double = float64
long = int64

__version__ = "0.1.0"
