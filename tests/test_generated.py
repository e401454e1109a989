"""The committed generated kernels match the op table and hand-written kernels."""
import numpy as np

import tapegrad as tg
from tapegrad.autograd.engine import ENTRIES
from tapegrad.kernels import generate, interpreter


def test_interpreter_is_up_to_date():
    assert (generate.HERE / "interpreter.py").read_text() == generate.source(), \
        "kernels/interpreter.py is stale: run python -m tapegrad.kernels.generate"


def test_parallel_kernels_are_up_to_date():
    assert (generate.HERE / "parallel.py").read_text() == generate.parallel_source(), \
        "kernels/parallel.py is stale: run python -m tapegrad.kernels.generate"


def test_digests_are_up_to_date():
    for name in generate.DIGESTED:
        assert (generate.HERE / name).read_text() == generate.with_digest(name), \
            f"kernels/{name}'s KERNELS_DIGEST is stale: run python -m tapegrad.kernels.generate"


def test_every_op_has_an_entry_point():
    for op in generate.OPS:
        assert hasattr(interpreter, f"entry_{op.name}") == (op.name not in generate.SWEEP_HANDLES)


def test_entry_points_compile_on_first_use_only():
    code = generate.OPS.index(next(op for op in generate.OPS if op.name == "atan2"))
    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    tg.atan2(x, x + 1).sum().backward()
    assert ENTRIES[code, 1] != 0
    assert np.allclose(x.grad.numpy(), [1 / (1 + 4) * (2 - 1), 1 / (4 + 9) * (3 - 2)])
