"""The committed generated kernels match the op table and hand-written kernels."""
from tapegrad.kernels import generate


def test_interpreter_is_up_to_date():
    assert (generate.HERE / "interpreter.py").read_text() == generate.source(), \
        "kernels/interpreter.py is stale: run python -m tapegrad.kernels.generate"


def test_sweep_digest_is_up_to_date():
    assert (generate.HERE / "sweep.py").read_text() == generate.sweep_source(), \
        "kernels/sweep.py's KERNELS_DIGEST is stale: run python -m tapegrad.kernels.generate"


def test_every_op_is_dispatched():
    source = generate.source()
    for code, op in enumerate(generate.OPS):
        if op.name not in generate.SWEEP_HANDLES:
            assert f"op == {code}:  # {op.name}" in source
