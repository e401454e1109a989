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


def test_warmup_asks_for_every_entry_point_of_each_dtype(monkeypatch):
    """warmup() compiles (or loads) each op's VJP and forward entry points
    for float32 and float64, and the C path's cfuncs; here the compiling
    itself is only recorded (all of it takes minutes on an empty cache)."""
    from tapegrad import eager
    from tapegrad.kernels import registry
    asked, compile_missing = [], registry.compile_missing

    def recording(table, ops, pairs, kind="entry"):
        asked.append((kind, table is (ENTRIES if kind == "entry" else eager.FENTRIES), sorted(pairs)))
        if len(pairs) < 10:            # warmup's own small backward compiles for real
            compile_missing(table, ops, pairs, kind)
    monkeypatch.setattr(registry, "compile_missing", recording)
    monkeypatch.setattr(registry, "scalar_rule", lambda: asked.append("scalar_rule"))
    monkeypatch.setattr(registry, "plain_sgd", lambda: asked.append("plain_sgd"))
    tg.warmup()
    every = sorted((code, dt) for code in range(len(generate.OPS)) for dt in (0, 1))
    assert ("entry", True, every) in asked and ("fentry", True, every) in asked
    assert "scalar_rule" in asked and "plain_sgd" in asked
