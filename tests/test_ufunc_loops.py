"""NumPy's inner loops called from compiled code (kernels/ufunc_loops.py)
give NumPy's bits, and a fused tile of such ops runs as one function."""
import ctypes

import numpy as np
import pytest
from numba.core.errors import TypingError

import tapegrad as torch
from tapegrad import defer, fusion
from tapegrad.kernels.jit import jit
from tapegrad.kernels.ufunc_loops import NAMES, _stand_in, call, loop, native


def _values(dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(10_007) * 30).astype(dtype)
    x[:9] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e-40, 0.5, 88.7]
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_each_loop_is_numpys_own_and_gives_its_bits(name, dtype):
    ufunc = getattr(np, name)
    assert native(ufunc, dtype)
    x = _values(dtype)
    out = np.full_like(x, 7.0)
    jit(lambda a, o, n: call(name, a, o, n))(x, out, x.size - 1)      # all but the last
    with np.errstate(all="ignore"):
        expected = ufunc(x[:-1])
    assert out[:-1].tobytes() == expected.tobytes()
    assert out[-1] == 7.0


def test_there_is_no_loop_for_other_types_or_two_inputs():
    assert loop(np.sin, np.int16) is None
    assert loop(np.add, np.float32) is None


def test_a_stand_in_loop_computes_the_same_function():
    x = _values(np.float64)[9:]
    out = np.empty_like(x)
    args, dims, steps = (np.array([x.ctypes.data, out.ctypes.data], np.intp),
                         np.array([x.size], np.intp), np.array([8, 8], np.intp))
    _stand_in("exp", np.float64).ctypes(args.ctypes.data_as(ctypes.POINTER(ctypes.c_void_p)),
                                        dims.ctypes.data_as(ctypes.POINTER(ctypes.c_ssize_t)),
                                        steps.ctypes.data_as(ctypes.POINTER(ctypes.c_ssize_t)), None)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-15)


def test_a_chain_of_ufuncs_runs_each_tile_as_one_function(monkeypatch):
    x = torch.tensor(np.linspace(-3, 3, defer.FROM, dtype=np.float32), requires_grad=True)
    plans = []
    crew = defer._Crew.__init__

    def recording(self, *args):
        crew(self, *args)
        plans.append([step[0] for step in self.steps])
    monkeypatch.setattr(defer._Crew, "__init__", recording)
    (x.sin() * x + (-x * x).exp() * 0.5 + x.tanh()).mean().backward()
    assert plans and all(kinds == [fusion.WHOLE] for kinds in plans)


def test_a_call_on_other_types_does_not_compile():
    bad = jit(lambda a, o, n: call("exp", a, o, n))
    with pytest.raises(TypingError, match="call"):
        bad(np.ones(4, np.float32), np.ones(4, np.float64), 4)
    with pytest.raises(TypingError, match="call"):
        bad(np.ones(4, np.int32), np.ones(4, np.int32), 4)
