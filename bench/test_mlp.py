"""mlp_step: one SGD training step of a small MLP (bench/README.md).

A 784-256-128-10 ReLU MLP, batch 256, float32, cross-entropy, plain SGD
(lr 0.01): zero_grad, forward, loss, backward, step. Three rows in one
group:

  torch     torch.nn.Sequential / CrossEntropyLoss / torch.optim.SGD
  tapegrad  the same with tapegrad.nn and tapegrad.optim when
            tapegrad.nn has Linear and CrossEntropyLoss; otherwise
            tapegrad.linalg.linear + relu + log_softmax + an indexed mean
            (NLL) and an SGD update under no_grad. extra_info["api"] says
            which ran.
  numpy     the floor: the same forward and backward written by hand in
            NumPy (the products on the BLAS tapegrad uses, through its
            gemm; the softmax cross-entropy gradient in closed form, SGD
            in place).

All three start from the same weights (drawn once with NumPy). Before
timing, one step of each from those weights is checked against torch's
(loss and updated weights).
"""
import numba
import numpy as np
import pytest

from tapegrad.kernels.linalg import gemm

LAYERS = (784, 256, 128, 10)
BATCH = 256
LR = 0.01


def initial_params():
    """[W1, b1, W2, b2, W3, b3] as torch.nn.Linear draws them (U(+-1/sqrt(fan_in)))."""
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return params


def batch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, LAYERS[0])).astype(np.float32)
    y = rng.integers(0, LAYERS[-1], BATCH).astype(np.int64)
    return x, y


def has_nn(m):
    """Does m.nn have what the module version of the step needs?"""
    try:
        nn = __import__(f"{m.__name__}.nn", fromlist=["nn"])
        __import__(f"{m.__name__}.optim")
    except ImportError:
        return False
    return all(hasattr(nn, name) for name in ("Linear", "ReLU", "Sequential", "CrossEntropyLoss"))


# -- the step on torch / tapegrad ----------------------------------------------

def module_model(m, params, x, y):
    """(loss(): forward + cross-entropy, the parameters, m.optim.SGD over
    them) with m.nn modules, starting from `params`."""
    layers = []
    for fan_in, fan_out in zip(LAYERS[:-1], LAYERS[1:]):
        layers += [m.nn.Linear(fan_in, fan_out), m.nn.ReLU()]
    model = m.nn.Sequential(*layers[:-1])
    with m.no_grad():
        for p, value in zip(model.parameters(), params):
            p.copy_(m.from_numpy(value.copy()))
    optimizer = m.optim.SGD(model.parameters(), lr=LR)
    loss_fn = m.nn.CrossEntropyLoss()
    x, y = m.from_numpy(x), m.from_numpy(y)

    def loss():
        return loss_fn(model(x), y)
    return loss, list(model.parameters()), optimizer


def module_step(m, params, x, y):
    """A step function with m.nn modules, m.nn.CrossEntropyLoss, m.optim.SGD,
    and the model's parameters (for the checks)."""
    loss_of, parameters, optimizer = module_model(m, params, x, y)

    def step():
        optimizer.zero_grad()
        loss = loss_of()
        loss.backward()
        optimizer.step()
        return loss
    return step, parameters


def functional_step(m, params, x, y):
    """The same step without m.nn: linear + relu + log_softmax + NLL by
    indexing, SGD by hand."""
    from tapegrad.linalg import linear
    ps = [m.from_numpy(value.copy()).requires_grad_() for value in params]
    x, y = m.from_numpy(x), m.from_numpy(y)
    rows = m.arange(BATCH)

    def step():
        for p in ps:
            p.grad = None
        h = x
        for i in range(0, len(ps), 2):
            h = linear(h, ps[i], ps[i + 1])
            if i + 2 < len(ps):
                h = h.relu()
        loss = -h.log_softmax(dim=1)[rows, y].mean()
        loss.backward()
        with m.no_grad():
            for p in ps:
                p -= LR * p.grad
        return loss
    return step, ps


def make_step(m, params, x, y):
    """(step, parameters, api name)."""
    if m.__name__ == "torch" or has_nn(m):
        return (*module_step(m, params, x, y), f"{m.__name__}.nn")
    return (*functional_step(m, params, x, y), "tapegrad.linalg.linear + functional")


# -- the NumPy floor -------------------------------------------------------------

@numba.njit
def _gemm(a, b, trans_a, trans_b, out):
    """out = op(a) @ op(b) for C-contiguous 2-D a and b (op: .T where
    trans_*), on tapegrad's BLAS: row-major out is column-major out.T =
    op(b).T @ op(a).T."""
    n, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    m = b.shape[0] if trans_b else b.shape[1]
    gemm("t" if trans_b else "n", "t" if trans_a else "n", m, n, k, b, b.shape[1], a, a.shape[1],
         out, m, False)
    return out


def mm(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) on the BLAS tapegrad's products call (kernels/blas.py),
    so the floor and tapegrad run the same products."""
    n = a.shape[1] if trans_a else a.shape[0]
    m = b.shape[0] if trans_b else b.shape[1]
    return _gemm(a, b, trans_a, trans_b, np.empty((n, m), a.dtype))


def numpy_step(params, x, y):
    """One SGD step of the same MLP by hand, parameters updated in place."""
    w1, b1, w2, b2, w3, b3 = params
    rows = np.arange(len(y))

    def step():
        h1 = mm(x, w1, trans_b=True)
        h1 += b1
        a1 = np.maximum(h1, 0)
        h2 = mm(a1, w2, trans_b=True)
        h2 += b2
        a2 = np.maximum(h2, 0)
        z = mm(a2, w3, trans_b=True)
        z += b3
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.log(s[:, 0]).mean() - z[rows, y].mean()
        dz = e / s                                  # softmax
        dz[rows, y] -= 1
        dz *= np.float32(1 / len(y))
        g_w3, g_b3 = mm(dz, a2, trans_a=True), dz.sum(axis=0)
        da2 = mm(dz, w3)
        da2 *= h2 > 0
        g_w2, g_b2 = mm(da2, a1, trans_a=True), da2.sum(axis=0)
        da1 = mm(da2, w2)
        da1 *= h1 > 0
        g_w1, g_b1 = mm(da1, x, trans_a=True), da1.sum(axis=0)
        lr = np.float32(LR)
        for p, g in zip(params, (g_w1, g_b1, g_w2, g_b2, g_w3, g_b3)):
            p -= lr * g
        return loss
    return step


# -- benchmarks --------------------------------------------------------------------

def test_mlp_step(side_by_side, lib):
    x, y = batch()
    step, _, api = make_step(lib, initial_params(), x, y)
    _check(lambda p: make_step(lib, p, x, y)[:2], lambda t: t.detach().numpy())
    side_by_side("mlp_step", step, api=api, layers="784-256-128-10", batch=BATCH)


def test_mlp_step_numpy_floor(timed):
    x, y = batch()
    step = numpy_step(initial_params(), x, y)

    def make(p):
        return numpy_step(p, x, y), p
    _check(make, lambda a: a)
    timed("mlp_step", step, "numpy", api="numpy by hand", layers="784-256-128-10", batch=BATCH)


def _check(make, to_numpy):
    """One step from the initial weights: loss and updated weights as torch's."""
    torch = pytest.importorskip("torch")
    x, y = batch()
    ref_step, ref_params, _ = make_step(torch, initial_params(), x, y)
    ref_loss = ref_step().item()
    step, params = make(initial_params())
    loss = step()
    np.testing.assert_allclose(loss.item(), ref_loss, rtol=1e-4)
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(to_numpy(p), r.detach().numpy(), rtol=1e-4, atol=1e-5)
