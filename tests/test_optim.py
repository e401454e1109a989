"""tapegrad.optim against torch.optim: from the same weights and the same
gradient sequence (set on leaves through NumPy), every optimizer and option
ends at the same parameters; state_dict layout and round trip; errors."""
import cProfile
import io
import pstats

import numpy as np
import pytest
import torch

import tapegrad

N_STEPS = 20
SHAPES = ((3, 4), (5,), ())

CASES = {
    "SGD": [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, dampening=0.5),
            dict(lr=0.1, momentum=0.9, nesterov=True), dict(lr=0.1, weight_decay=0.1),
            dict(lr=0.1, maximize=True),
            dict(lr=0.05, momentum=0.8, weight_decay=0.1, maximize=True),
            dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)],
    "Adam": [dict(), dict(lr=0.01), dict(lr=0.01, amsgrad=True), dict(lr=0.01, weight_decay=0.1),
             dict(lr=0.01, maximize=True), dict(lr=0.01, betas=(0.3, 0.5), eps=1e-3),
             dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)],
    "AdamW": [dict(), dict(lr=0.01), dict(lr=0.01, amsgrad=True), dict(lr=0.01, weight_decay=0.5),
              dict(lr=0.01, weight_decay=0), dict(lr=0.01, maximize=True),
              dict(lr=0.01, betas=(0.3, 0.5)),
              dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)],
    "RMSprop": [dict(), dict(centered=True), dict(momentum=0.9), dict(centered=True, momentum=0.9),
                dict(weight_decay=0.1), dict(maximize=True), dict(alpha=0.3, centered=True),
                dict(lr=0.001, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1,
                     maximize=True)],
}
ALL = [(name, kw) for name, kws in CASES.items() for kw in kws]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for name, kw in ALL]


def make_pair(shapes=SHAPES, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    inits = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return ([torch.tensor(a, requires_grad=True) for a in inits],
            [tapegrad.tensor(a, requires_grad=True) for a in inits])


def grad_steps(shapes=SHAPES, n=N_STEPS, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(n)]


def optimizers(name, tp, gp, *args, **kw):
    """The same optimizer from both libraries, on torch's and tapegrad's params."""
    return (getattr(torch.optim, name)(tp, *args, **kw),
            getattr(tapegrad.optim, name)(gp, *args, **kw))


def set_grads(params, arrays, lib):
    for p, a in zip(params, arrays):
        p.grad = None if a is None else lib.tensor(a.copy())


def run(t_opt, g_opt, tp, gp, steps):
    for arrays in steps:
        set_grads(tp, arrays, torch)
        set_grads(gp, arrays, tapegrad)
        t_opt.step()
        g_opt.step()


def assert_params(tp, gp, rtol=1e-8, atol=1e-12):
    for i, (t, g) in enumerate(zip(tp, gp)):
        assert g.dtype.name == str(t.dtype).split(".")[1]
        np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"parameter {i}")


def as_plain(obj):
    """A state dict as plain Python: tensors become (dtype, shape, values)."""
    if isinstance(obj, (torch.Tensor, tapegrad.Tensor)):
        values = obj.detach().numpy().tolist()
        return ("tensor", str(obj.dtype).split(".")[1], tuple(obj.shape), values)
    if isinstance(obj, dict):
        return {k: as_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_plain(v) for v in obj)
    return obj


def assert_same_state_dict(g_sd, t_sd, rtol=1e-8, atol=1e-12):
    g, t = as_plain(g_sd), as_plain(t_sd)
    assert list(g) == list(t) == ["state", "param_groups"]
    assert g["param_groups"] == t["param_groups"]
    assert [type(v) for grp in g["param_groups"] for v in grp.values()] == \
        [type(v) for grp in t["param_groups"] for v in grp.values()]
    assert list(g["state"]) == list(t["state"])
    for k in t["state"]:
        assert list(g["state"][k]) == list(t["state"][k]), f"state {k} keys"
        for name, (_, dt, shape, vals) in t["state"][k].items():
            _, gdt, gshape, gvals = g["state"][k][name]
            assert (gdt, gshape) == (dt, shape), name
            np.testing.assert_allclose(gvals, vals, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("name,kw", ALL, ids=IDS)
def test_matches_torch_float64(name, kw):
    tp, gp = make_pair()
    t_opt, g_opt = optimizers(name, tp, gp, **kw)
    run(t_opt, g_opt, tp, gp, grad_steps())
    assert_params(tp, gp)
    assert_same_state_dict(g_opt.state_dict(), t_opt.state_dict())


@pytest.mark.parametrize("name,kw", [(n, CASES[n][-1]) for n in CASES], ids=list(CASES))
def test_matches_torch_float32(name, kw):
    tp, gp = make_pair(dtype=np.float32)
    t_opt, g_opt = optimizers(name, tp, gp, **kw)
    run(t_opt, g_opt, tp, gp, grad_steps(dtype=np.float32))
    assert_params(tp, gp, rtol=1e-5, atol=1e-6)
    assert_same_state_dict(g_opt.state_dict(), t_opt.state_dict(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                     ("RMSprop", dict(centered=True, momentum=0.5))])
def test_params_without_grad_are_skipped(name, kw):
    tp, gp = make_pair()
    t_opt, g_opt = optimizers(name, tp, gp, **kw)
    steps = grad_steps()
    for i, arrays in enumerate(steps):      # parameter 1 has no grad on even steps, 2 never
        arrays[1] = None if i % 2 == 0 else arrays[1]
        arrays[2] = None
    run(t_opt, g_opt, tp, gp, steps)
    assert_params(tp, gp)
    assert_same_state_dict(g_opt.state_dict(), t_opt.state_dict())


@pytest.mark.parametrize("name", list(CASES))
def test_param_groups_with_own_lr(name):
    tp, gp = make_pair()
    groups = lambda ps: [{"params": [ps[0]], "lr": 0.05}, {"params": ps[1:]}]     # noqa: E731
    t_opt, g_opt = optimizers(name, groups(tp), groups(gp), lr=0.003)
    run(t_opt, g_opt, tp, gp, grad_steps())
    assert_params(tp, gp)
    assert [g["lr"] for g in g_opt.param_groups] == [0.05, 0.003]
    assert_same_state_dict(g_opt.state_dict(), t_opt.state_dict())


def test_add_param_group():
    tp, gp = make_pair()
    t_opt, g_opt = optimizers("SGD", tp[:1], gp[:1], lr=0.1, momentum=0.9)
    t_opt.add_param_group({"params": tp[1:], "lr": 0.5})
    g_opt.add_param_group({"params": gp[1:], "lr": 0.5})
    run(t_opt, g_opt, tp, gp, grad_steps())
    assert_params(tp, gp)
    assert_same_state_dict(g_opt.state_dict(), t_opt.state_dict())
    with pytest.raises(ValueError, match="more than one parameter group"):
        g_opt.add_param_group({"params": gp[:1]})


@pytest.mark.parametrize("name,kw", [(n, CASES[n][-1]) for n in CASES], ids=list(CASES))
@pytest.mark.parametrize("via_file", [False, True])
def test_state_dict_round_trip_continues_identically(name, kw, via_file):
    tp, gp = make_pair()
    t_opt, g_opt = optimizers(name, tp, gp, **kw)
    steps = grad_steps(n=2 * N_STEPS)
    run(t_opt, g_opt, tp, gp, steps[:N_STEPS])
    g_sd = g_opt.state_dict()
    if via_file:
        buf = io.BytesIO()
        tapegrad.save(g_sd, buf)
        buf.seek(0)
        g_sd = tapegrad.load(buf)
    assert_same_state_dict(g_sd, t_opt.state_dict())
    # fresh parameters and optimizers (another lr, overwritten by the load), only they go on
    tp2 = [torch.tensor(t.detach().numpy().copy(), requires_grad=True) for t in tp]
    gp2 = [tapegrad.tensor(g.detach().numpy().copy(), requires_grad=True) for g in gp]
    t_opt2, g_opt2 = optimizers(name, tp2, gp2, lr=123.0)
    t_opt2.load_state_dict(t_opt.state_dict())
    g_opt2.load_state_dict(g_sd)
    assert g_opt2.param_groups[0]["params"] == gp2 and g_opt2.param_groups[0]["lr"] != 123.0
    run(t_opt2, g_opt2, tp2, gp2, steps[N_STEPS:])
    assert_params(tp2, gp2)
    assert_same_state_dict(g_opt2.state_dict(), t_opt2.state_dict())


def test_adam_step_is_a_0d_tensor_like_torch():
    tp, gp = make_pair()
    t_opt, g_opt = torch.optim.Adam(tp), tapegrad.optim.Adam(gp)
    run(t_opt, g_opt, tp, gp, grad_steps(n=3))
    step = g_opt.state_dict()["state"][0]["step"]
    assert isinstance(step, tapegrad.Tensor) and step.shape == () and step.dtype is tapegrad.float32
    assert step.item() == t_opt.state_dict()["state"][0]["step"].item() == 3.0


def test_update_is_in_place_and_aliases_see_it():
    p = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    alias = p.detach()
    data = p._data
    opt = tapegrad.optim.SGD([p], lr=0.5)
    p.grad = tapegrad.tensor([1.0, -1.0])
    opt.step()
    assert p._data is data
    assert alias.tolist() == [0.5, 2.5]


def test_non_contiguous_parameter_is_updated():
    base = np.arange(6.0).reshape(2, 3)
    p = tapegrad.from_numpy(base.T)            # a transposed (non-contiguous) view
    p.requires_grad_(True)
    opt = tapegrad.optim.SGD([p], lr=1.0, momentum=0.5)
    for _ in range(2):
        p.grad = tapegrad.tensor(np.ones((3, 2)))
        opt.step()
    np.testing.assert_array_equal(base, np.arange(6.0).reshape(2, 3) - 2.5)


def test_step_is_compiled_not_per_element_python():
    p = tapegrad.zeros(100_000, requires_grad=True)
    opt = tapegrad.optim.Adam([p], amsgrad=True)
    p.grad = tapegrad.ones(100_000)
    opt.step()                                 # loads the compiled kernel
    profile = cProfile.Profile()
    profile.enable()
    opt.step()
    profile.disable()
    assert pstats.Stats(profile).total_calls < 200


def test_zero_grad():
    p = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    opt = tapegrad.optim.SGD([p], lr=0.1)
    p.grad = tapegrad.tensor([3.0, 4.0])
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and p.grad.tolist() == [0.0, 0.0] and not p.grad.requires_grad
    opt.zero_grad()
    assert p.grad is None
    opt.zero_grad()                            # no grad: nothing to do
    opt.step()                                 # and step skips it
    assert p.tolist() == [1.0, 2.0]


def test_step_closure():
    p = tapegrad.tensor([1.0], requires_grad=True)
    opt = tapegrad.optim.SGD([p], lr=0.1)
    seen = []

    def closure():
        seen.append(tapegrad.is_grad_enabled())
        p.grad = tapegrad.tensor([2.0])
        return 7.5

    with tapegrad.no_grad():
        assert opt.step(closure) == 7.5
    assert seen == [True] and abs(p.item() - 0.8) < 1e-7


def test_repr_like_torch():
    tp, gp = make_pair()
    assert repr(tapegrad.optim.Adam(gp)) == repr(torch.optim.Adam(tp))
    assert repr(tapegrad.optim.SGD(gp, momentum=0.9)) == repr(torch.optim.SGD(tp, momentum=0.9))


def test_sgd_of_a_tensor_is_a_type_error():
    with pytest.raises(TypeError) as t_err:
        torch.optim.SGD(torch.zeros(2), lr=0.1)
    with pytest.raises(TypeError) as g_err:
        tapegrad.optim.SGD(tapegrad.zeros(2), lr=0.1)
    assert str(g_err.value) == str(t_err.value).replace("torch.", "tapegrad.")
    assert str(g_err.value).endswith("but got tapegrad.FloatTensor")


BAD = [("SGD", dict(lr=-1)), ("SGD", dict(lr=0.1, momentum=-0.5)), ("SGD", dict(weight_decay=-1)),
       ("SGD", dict(nesterov=True)), ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True)),
       ("Adam", dict(lr=-1)), ("Adam", dict(eps=-1.0)), ("Adam", dict(betas=(1.0, 0.999))),
       ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-1)),
       ("Adam", dict(betas=(0.9, 1))), ("AdamW", dict(lr=-0.5)), ("AdamW", dict(betas=(0.9, 1.5))),
       ("RMSprop", dict(lr=-1)), ("RMSprop", dict(alpha=-1)), ("RMSprop", dict(eps=-1)),
       ("RMSprop", dict(momentum=-1)), ("RMSprop", dict(weight_decay=-1))]


@pytest.mark.parametrize("name,kw", BAD, ids=[f"{n}-{kw}" for n, kw in BAD])
def test_invalid_hyperparameters_like_torch(name, kw):
    tp, gp = make_pair()
    with pytest.raises(Exception) as t_err:
        getattr(torch.optim, name)(tp, **kw)
    with pytest.raises(type(t_err.value)) as g_err:
        getattr(tapegrad.optim, name)(gp, **kw)
    assert str(g_err.value) == str(t_err.value)


@pytest.mark.parametrize("make", [
    lambda lib, ps: lib.optim.SGD([], lr=0.1),
    lambda lib, ps: lib.optim.SGD([ps[0], 1.0], lr=0.1),
    lambda lib, ps: lib.optim.SGD([{"params": ps[:1]}, {"params": ps[:1]}], lr=0.1),
    lambda lib, ps: lib.optim.SGD([{"params": set(ps[:1])}], lr=0.1),
    lambda lib, ps: lib.optim.SGD([ps[0] * 2], lr=0.1),
    lambda lib, ps: lib.optim.Adam([ps[0]]).add_param_group(ps[1]),
], ids=["empty", "not-a-tensor", "twice", "set", "non-leaf", "group-not-dict"])
def test_bad_params_like_torch(make):
    tp, gp = make_pair()
    with pytest.raises(Exception) as t_err:
        make(torch, tp)
    with pytest.raises(type(t_err.value)) as g_err:
        make(tapegrad, gp)
    # torch's class is torch.Tensor; ours lives in tapegrad.tensor
    want = str(t_err.value).replace("torch.Tensor'", "tapegrad.tensor.Tensor'")
    assert str(g_err.value) == want.replace("torch.", "tapegrad.")


def test_load_state_dict_mismatch():
    tp, gp = make_pair()
    opt = tapegrad.optim.SGD(gp, lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(tapegrad.optim.SGD(gp[:1], lr=0.1).state_dict())


# -- LR schedulers -----------------------------------------------------------
SCHEDULERS = [("StepLR", dict(step_size=3)), ("StepLR", dict(step_size=4, gamma=0.5)),
              ("CosineAnnealingLR", dict(T_max=10)),
              ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001))]


def scheduled(lib, params, name, kw):
    opt = lib.optim.SGD([{"params": params[:1], "lr": 0.1}, {"params": params[1:]}], lr=0.03)
    return opt, getattr(lib.optim.lr_scheduler, name)(opt, **kw)


@pytest.mark.parametrize("name,kw", SCHEDULERS, ids=[f"{n}-{kw}" for n, kw in SCHEDULERS])
def test_scheduler_lr_sequence_and_state_like_torch(name, kw):
    tp, gp = make_pair()
    t_opt, t_sched = scheduled(torch, tp, name, kw)
    g_opt, g_sched = scheduled(tapegrad, gp, name, kw)
    for epoch, arrays in enumerate(grad_steps(n=40)):      # past T_max: the cosine climbs back
        run(t_opt, g_opt, tp, gp, [arrays])
        t_sched.step()
        g_sched.step()
        assert g_sched.last_epoch == t_sched.last_epoch == epoch + 1
        np.testing.assert_allclose(g_sched.get_last_lr(), t_sched.get_last_lr(), rtol=1e-12, atol=0)
        assert [g["lr"] for g in g_opt.param_groups] == g_sched.get_last_lr()
        if epoch == 12:
            t_state, g_state = t_sched.state_dict(), g_sched.state_dict()
            assert list(g_state) == list(t_state)
            assert {k: v for k, v in g_state.items() if k != "_last_lr"} == \
                {k: v for k, v in t_state.items() if k != "_last_lr"}
    assert_params(tp, gp)
    # a new scheduler resumes from the saved state
    g_opt2, g_sched2 = scheduled(tapegrad, make_pair()[1], name, kw)
    g_opt2.load_state_dict(g_opt.state_dict())
    g_sched2.load_state_dict(g_sched.state_dict())
    for _ in range(5):
        g_opt2.step()
        g_sched2.step()
        t_opt.step()
        t_sched.step()
        np.testing.assert_allclose(g_sched2.get_last_lr(), t_sched.get_last_lr(), rtol=1e-12)


def test_scheduler_warns_when_stepped_before_the_optimizer():
    p = tapegrad.zeros(2, requires_grad=True)
    opt = tapegrad.optim.SGD([p], lr=0.1)
    sched = tapegrad.optim.lr_scheduler.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        tapegrad.optim.lr_scheduler.StepLR(object(), step_size=1)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_a_graph_saved_before_step_refuses_backward_as_torch(name):
    """step() changes the parameters in place: a graph that saved their
    old values must not give gradients of the new ones."""
    errors = []
    for lib in (torch, tapegrad):
        w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        opt = getattr(lib.optim, name)([w], lr=0.1)
        (w * w).sum().backward()
        y = (w * w).sum()                      # MulBackward0 saved w
        opt.step()
        assert w._version >= 1
        with pytest.raises(RuntimeError) as e:
            y.backward()
        errors.append(str(e.value))
    assert errors[0].startswith("one of the variables needed for gradient computation has been "
                                "modified by an inplace operation: [torch.FloatTensor [3]] is at version")
    assert errors[1].startswith("one of the variables needed for gradient computation has been "
                                "modified by an inplace operation: [tapegrad.FloatTensor [3]] is at version")
