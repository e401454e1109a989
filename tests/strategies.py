"""Hypothesis strategies shared by the property tests of the model ops
(test_ops_models.py, test_elementwise_models.py, test_shape_ops.py,
test_indexing.py): shapes from 0-d to 4-d with size-1 and size-0 dims,
dims (negative too), and operands that are sometimes non-contiguous.

An operand is (array, flipped). A flipped operand is stored with its first
and last dims swapped and handed to the test's function as
leaf.transpose(0, -1), on both sides: a non-contiguous strided view whose
gradient still reaches the stored leaf."""
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import check

DTYPES = [np.float64, np.float32]
dtypes = st.sampled_from(DTYPES)

# max_examples comes from the loaded profile (tests/conftest.py): 50 in CI, more under "slow"
SETTINGS = settings(deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# no subnormals: prod's kernel (G * y / a, kernels/reduce.py) underflows on them in float32
# where torch's G * (y / a) does not (reported)
VALUES = st.floats(-3, 3, width=32, allow_subnormal=False)
# small integer-valued floats, so that ties (max, min, maximum, ...) happen
TIES = st.integers(-2, 2).map(float)


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def arrays(shape, elements=VALUES):
    return hnp.arrays(np.float64, shape, elements=elements)


def dim(ndim):
    """A valid dim of an ndim-d tensor, negative or not (0-d tensors take 0 and -1)."""
    n = max(ndim, 1)
    return st.integers(-n, n - 1)


def dims(ndim):
    """A tuple of distinct dims, each written positive or negative at random."""
    n = max(ndim, 1)
    return st.lists(st.integers(0, n - 1), unique=True, max_size=n).flatmap(
        lambda ds: st.tuples(*[st.sampled_from([d, d - n]) for d in ds]))


@st.composite
def operand(draw, shape, elements=VALUES, contiguous=False):
    """(array, flipped) for a tensor of `shape`."""
    shape = tuple(shape)
    flipped = not contiguous and len(shape) >= 2 and draw(st.booleans())
    stored = (shape[-1],) + shape[1:-1] + (shape[0],) if flipped else shape
    return draw(arrays(stored, elements)), flipped


def broadcastable(n=2, min_dims=0, max_dims=4, min_side=1, max_side=4):
    """n mutually broadcastable shapes."""
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(
        lambda s: s.input_shapes)


def run(fn, operands, dtype, **kw):
    """check(fn) on the operands, each leaf first transposed where it was flipped."""
    flips = [f for _, f in operands]

    def body(lib, *leaves):
        return fn(lib, *[x.transpose(0, -1) if f else x for x, f in zip(leaves, flips)])
    return check(body, *[a for a, _ in operands], dtype=dtype, **kw)
