"""Random sequences of valid and invalid operations, run in torch and in
tapegrad side by side: every step must raise the same exception type or give
the same values, and the gradients at the end must agree."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg


def _pick(pool, i):
    return pool[i % len(pool)]


# Each step: (name, fn(lib, pool, i, j) -> new tensor or None). Several are
# invalid on purpose for some operands: shape mismatches, a second backward,
# backward of a non-scalar, in-place on a leaf, out-of-range indexing.
STEPS = [
    ("add", lambda m, p, i, j: _pick(p, i) + _pick(p, j)),
    ("mul", lambda m, p, i, j: _pick(p, i) * _pick(p, j)),
    ("matmul", lambda m, p, i, j: _pick(p, i) @ _pick(p, j)),
    ("tanh", lambda m, p, i, j: _pick(p, i).tanh()),
    ("sum0", lambda m, p, i, j: _pick(p, i).sum(0)),
    ("mean", lambda m, p, i, j: _pick(p, i).mean()),
    ("index", lambda m, p, i, j: _pick(p, i)[j % 4]),
    ("backward", lambda m, p, i, j: _pick(p, i).backward(retain_graph=bool(j % 2))),
    ("inplace", lambda m, p, i, j: _pick(p, i).add_(1.0)),
    ("item", lambda m, p, i, j: m.tensor(_pick(p, i).item())),
    ("int_grad", lambda m, p, i, j: m.tensor([1, 2]).requires_grad_()),
    ("detach", lambda m, p, i, j: _pick(p, i).detach() * 2),
]


def _start(m):
    rng = np.random.default_rng(0)
    x = m.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    w = m.tensor(rng.standard_normal(3), requires_grad=True)
    c = m.tensor(rng.standard_normal((2, 3)))
    return [x, w, c], (x, w)


def _run(m, program):
    pool, leaves = _start(m)
    trace = []
    for step, i, j in program:
        name, fn = STEPS[step]
        try:
            out = fn(m, pool, i, j)
        except Exception as e:             # noqa: BLE001 - the type is the result
            trace.append((name, type(e).__name__))
            continue
        if out is not None:
            pool.append(out)
            trace.append((name, np.round(out.detach().numpy().astype(float), 6).tolist()))
        else:
            trace.append((name, None))
    final = sum((t.sum() for t in pool if t.requires_grad and t.dtype == m.float64), m.tensor(0.0))
    grads = []
    if final.requires_grad:
        try:
            final.backward()
            grads = [None if l.grad is None else np.round(l.grad.numpy(), 6).tolist() for l in leaves]
        except RuntimeError as e:
            grads = [type(e).__name__]
    return trace, grads


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, len(STEPS) - 1), st.integers(0, 20), st.integers(0, 20)),
                max_size=8))
def test_random_sequences_behave_like_torch(program):
    want = _run(torch, program)
    got = _run(tg, program)
    assert got == want
