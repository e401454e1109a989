"""tapegrad: define-by-run autograd on a flat tape, swept by compiled code.

`import tapegrad as torch` runs ordinary autograd tutorial code.
"""
from . import autograd, convert, inplace, linalg, math_ops, reductions, shape_ops
from .autograd.engine import warmup
from .autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (arange, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                       manual_seed, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, tensor, zeros, zeros_like)
from .device import cuda, device, set_default_device
from .dtypes import (bool_ as bool, float32, float64, get_default_dtype, int64,
                     set_default_dtype)
from .linalg import bmm, dot, matmul, mm, mv
from .math_ops import (abs, add, allclose, atan2, ceil, clamp, clip, clone, cos, div, elu, eq,
                       equal, erf, exp, exp2, expm1, floor, fmod, ge, gelu, gt, hardtanh, le,
                       leaky_relu, lerp, log, log1p, log2, log10, lt, masked_fill, maximum, minimum,
                       mul, ne, neg, pow, reciprocal, relu, remainder, round, rsqrt, rsub, sigmoid,
                       sign, silu, sin, softplus, sqrt, square, sub, tan, tanh, where)
from .printing import get_printoptions, set_printoptions
from .reductions import (all, amax, amin, any, argmax, argmin, cumsum, log_softmax, logsumexp, max,
                         mean, min, norm, prod, softmax, std, sum, var)
from .shape_ops import (cat, chunk, expand_as, flatten, flip, gather, index_select, permute,
                        reshape, split, squeeze, stack, t, transpose, unsqueeze)
from .tensor import Size, Tensor
from . import optim, utils
from . import nn
from . import viz
from .replay import replay
from .serialization import load, save
from .legacy import (BoolTensor, DoubleTensor, FloatTensor, LongTensor, dtype, is_floating_point,
                     is_tensor, numel, promote_types, set_default_tensor_type, typename)

float = float32
double = float64
long = int64
concat = concatenate = cat

__version__ = "0.1.0"
