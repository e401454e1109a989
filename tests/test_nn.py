"""tapegrad.nn against torch.nn: registration, the module tree, repr,
state_dict (also through tapegrad.save / load), deepcopy and pickle, modes
and Dropout, dtype conversion, init, clip_grad_norm_, activations, and an
MLP's gradients and Adam steps matched to torch's."""
import copy
import math
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tapegrad
from tapegrad import nn
from tapegrad.nn import functional as F
from tapegrad.nn import init

from helpers import assert_same, check


pytestmark = pytest.mark.usefixtures("torch_single_threaded")


def both(build):
    """The same architecture from both libraries: build(nn_module)."""
    return build(torch.nn), build(nn)


def copy_weights(theirs, ours):
    """torch's parameters and buffers into our model, through NumPy."""
    state = {k: tapegrad.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()}
    assert str(ours.load_state_dict(state)) == "<All keys matched successfully>"


def mlp(lib, d_in=5, hidden=8, d_out=3):
    return lib.Sequential(lib.Linear(d_in, hidden), lib.Tanh(), lib.Linear(hidden, d_out))


def net(lib):
    """A custom module, written the same way against either library."""
    top = torch if lib is torch.nn else tapegrad

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.encoder = lib.Sequential(lib.Linear(4, 6), lib.ReLU())
            self.heads = lib.ModuleList([lib.Linear(6, 2) for _ in range(3)])
            self.scale = lib.Parameter(lib.init.ones_(top.empty(2)))
            self.register_buffer("steps", top.zeros(1))
            self.register_buffer("cache", top.zeros(2), persistent=False)

        def forward(self, x):
            h = self.encoder(x)
            return sum(head(h) for head in self.heads) * self.scale
    return Net()


# -- repr --------------------------------------------------------------------
REPRS = [
    lambda lib: lib.Sequential(lib.Linear(4, 3), lib.ReLU()),
    lambda lib: lib.Linear(3, 2, bias=False),
    lambda lib: lib.Sequential(lib.Flatten(), lib.Linear(4, 3), lib.LeakyReLU(), lib.Dropout(0.2),
                               lib.Sequential(lib.Linear(3, 3), lib.Sigmoid()), lib.Tanh(),
                               lib.GELU(), lib.GELU(approximate="tanh"), lib.Softmax(dim=1),
                               lib.LogSoftmax(dim=-1), lib.Identity()),
    lambda lib: lib.Sequential(lib.ReLU(inplace=True), lib.LeakyReLU(0.2, inplace=True),
                               lib.ELU(), lib.ELU(alpha=0.5, inplace=True), lib.SiLU(),
                               lib.Hardtanh(-2.0, 2.0), lib.Softplus(beta=2.0), lib.Softmax(),
                               lib.Dropout(p=0.3, inplace=True), lib.Flatten(0, 2)),
    lambda lib: lib.ModuleList([lib.Linear(2, 2), lib.Linear(2, 2), lib.Linear(2, 2),
                                lib.ReLU(), lib.Linear(2, 2)]),
    lambda lib: lib.ModuleList([]),
    lambda lib: lib.Sequential(OrderedDict(fc=lib.Linear(2, 3), act=lib.ReLU())),
    lambda lib: lib.Sequential(lib.MSELoss(), lib.L1Loss(), lib.BCELoss(), lib.BCEWithLogitsLoss(),
                               lib.CrossEntropyLoss(), lib.NLLLoss()),
    net,
]


@pytest.mark.parametrize("build", REPRS)
def test_repr_matches_torch(build):
    theirs, ours = both(build)
    assert repr(ours) == repr(theirs)
    assert str(ours) == str(theirs)


def test_parameter_repr_and_type():
    for values, dt in (([1.0, 2.5], "float32"), ([[1.0, -2.0], [3.0, 4.0]], "float64")):
        a = np.array(values, dtype=dt)
        theirs, ours = torch.nn.Parameter(torch.tensor(a)), nn.Parameter(tapegrad.tensor(a))
        assert repr(ours) == repr(theirs).replace("torch.", "tapegrad.")
        assert str(ours) == str(theirs).replace("torch.", "tapegrad.")
    frozen = nn.Parameter(tapegrad.tensor([1.0]), requires_grad=False)
    assert repr(frozen) == "Parameter containing:\ntensor([1.])"
    p = nn.Parameter(tapegrad.ones(2, 2))
    assert isinstance(p, tapegrad.Tensor) and p.requires_grad and p.is_leaf
    assert type(p * 2) is tapegrad.Tensor and type(p.detach()) is tapegrad.Tensor
    assert type(p.sum()) is tapegrad.Tensor and (p * 2).grad_fn.name() == "MulBackward0"
    assert nn.Parameter().shape == (0,)


def test_parameter_shares_memory_and_gets_grads():
    t = tapegrad.zeros(3)
    p = nn.Parameter(t)
    t._data[0] = 5.0            # torch's Parameter(t) is an alias of t too
    assert p.tolist() == [5.0, 0.0, 0.0]
    (p * p).sum().backward()
    assert p.grad.tolist() == [10.0, 0.0, 0.0]
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(tapegrad.tensor([1, 2]))


# -- registration and the module tree ------------------------------------------
def test_named_members_match_torch():
    theirs, ours = both(net)
    for method in ("named_parameters", "named_buffers", "named_children", "named_modules"):
        assert [n for n, _ in getattr(ours, method)()] == [n for n, _ in getattr(theirs, method)()]
    assert [type(m).__name__ for m in ours.modules()] == \
        [type(m).__name__ for m in theirs.modules()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 9
    assert [n for n, _ in ours.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in ours.named_parameters(prefix="net")] == \
        [n for n, _ in theirs.named_parameters(prefix="net")]
    assert list(ours.children())[1] is ours.heads
    assert ours.get_submodule("heads.2") is ours.heads[2]
    assert ours.steps.shape == (1,) and ours.cache.shape == (2,)


def test_assignment_registers_and_replaces():
    layer = nn.Linear(3, 2)
    new = nn.Parameter(tapegrad.ones(2, 3))
    layer.weight = new
    assert layer.weight is new and dict(layer.named_parameters())["weight"] is new
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    assert "bias" not in layer.state_dict()
    with pytest.raises(TypeError, match=r"cannot assign 'tapegrad.FloatTensor' as parameter "
                                        r"'weight' \(tapegrad.nn.Parameter or None expected\)"):
        layer.weight = tapegrad.ones(2, 3)
    model = nn.Sequential()
    model.add_module("fc", layer)
    model.register_parameter("extra", nn.Parameter(tapegrad.zeros(1)))
    model.register_buffer("count", tapegrad.zeros(1, dtype=tapegrad.int64))
    assert [n for n, _ in model.named_parameters()] == ["extra", "fc.weight"]
    assert list(model.state_dict()) == ["extra", "count", "fc.weight"]
    model.count = nn.Linear(1, 1)          # a module replaces a buffer of that name
    assert "count" not in model._buffers and model.count is model._modules["count"]
    del model.count
    with pytest.raises(AttributeError, match="'Sequential' object has no attribute 'count'"):
        model.count
    with pytest.raises(KeyError, match="attribute 'fc' already exists"):
        model.register_buffer("fc", tapegrad.zeros(1))
    with pytest.raises(KeyError, match=r'contain "\."'):
        model.register_parameter("a.b", None)
    moved = nn.Parameter(tapegrad.zeros(1), requires_grad=False)
    moved.add_(tapegrad.ones(1, requires_grad=True))      # now the output of an op
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'w'"):
        model.register_parameter("w", moved)


def test_assignment_before_init_and_plain_tensors():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tapegrad.ones(1))
    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        Early()
    m = nn.Module()
    m.t = tapegrad.ones(2)                 # a plain tensor is a plain attribute, as in torch
    assert list(m.state_dict()) == [] and m.t.shape == (2,)
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        m(1)


def test_shared_parameters_counted_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(model.modules())) == 3


def test_sequential_and_module_list_behave_like_lists():
    theirs, ours = both(lambda lib: lib.Sequential(lib.Linear(2, 3), lib.ReLU(), lib.Linear(3, 1)))
    assert len(ours) == 3 and isinstance(ours[-1], nn.Linear)
    assert repr(ours[1:]) == repr(theirs[1:]) and type(ours[1:]) is nn.Sequential
    for seq in (ours, theirs):
        seq.append(type(seq[1])())
        del seq[0]
    assert repr(ours) == repr(theirs)
    assert [type(m).__name__ for m in ours] == ["ReLU", "Linear", "ReLU"]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        ours[5]
    ml = nn.ModuleList([nn.ReLU()])
    ml += [nn.Tanh()]
    ml.insert(0, nn.Identity())
    ml[1] = nn.Sigmoid()
    assert [type(m).__name__ for m in ml] == ["Identity", "Sigmoid", "Tanh"]
    assert type(ml[:2]) is nn.ModuleList and len(ml[:2]) == 2


# -- state_dict --------------------------------------------------------------
def test_state_dict_matches_torch_and_round_trips(tmp_path):
    theirs, ours = both(net)
    copy_weights(theirs, ours)
    ref = theirs.state_dict()
    state = ours.state_dict()
    assert list(state) == list(ref) and isinstance(state, OrderedDict)
    for k in ref:
        assert_same(state[k], ref[k])
        assert not state[k].requires_grad
    # values alias the parameters, as torch's detach() does
    state["encoder.0.bias"]._data[0] = 42.0
    assert ours.encoder[0].bias[0].item() == 42.0
    tapegrad.save(ours.state_dict(), tmp_path / "net.pt")
    fresh = net(nn)
    fresh.load_state_dict(tapegrad.load(tmp_path / "net.pt"))
    x = tapegrad.randn(5, 4)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), ours(x).detach().numpy())
    assert fresh.encoder[0].bias[0].item() == 42.0


def test_load_state_dict_errors_match_torch():
    theirs, ours = both(lambda lib: lib.Sequential(lib.Linear(3, 2), lib.ReLU(), lib.Linear(2, 1)))
    bad = {k: v for k, v in theirs.state_dict().items() if k != "0.bias"}
    bad["2.foo"], bad["extra"] = torch.zeros(1), torch.zeros(1)
    bad["0.weight"] = torch.zeros(4, 3)
    mine = {k: tapegrad.tensor(v.numpy()) for k, v in bad.items()}
    with pytest.raises(RuntimeError) as want:
        theirs.load_state_dict(bad)
    with pytest.raises(RuntimeError) as got:
        ours.load_state_dict(mine)
    assert str(got.value) == str(want.value).replace("torch.", "tapegrad.")
    del bad["0.weight"], mine["0.weight"]
    want_keys = theirs.load_state_dict(bad, strict=False)
    got_keys = ours.load_state_dict(mine, strict=False)
    assert got_keys.missing_keys == want_keys.missing_keys == ["0.weight", "0.bias"]
    assert got_keys.unexpected_keys == want_keys.unexpected_keys
    assert repr(got_keys) == repr(want_keys)


def test_load_state_dict_copies_in_place_and_assign():
    layer = nn.Linear(2, 2)
    weight = layer.weight
    layer.load_state_dict({"weight": tapegrad.ones(2, 2, dtype=tapegrad.float64),
                           "bias": tapegrad.zeros(2)})
    assert layer.weight is weight and layer.weight.dtype is tapegrad.float32
    assert layer.weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    new = tapegrad.full((2,), 3.0)
    layer.load_state_dict({"weight": tapegrad.ones(2, 2), "bias": new}, assign=True)
    assert isinstance(layer.bias, nn.Parameter) and layer.bias.requires_grad
    assert layer.bias.tolist() == [3.0, 3.0]


# -- deepcopy and pickle -------------------------------------------------------
def test_deepcopy_and_pickle_of_models():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    tied = nn.Sequential(model[0], model[0])
    x = tapegrad.randn(5, 3)
    model(x).sum().backward()
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(clone(x).detach().numpy(), model(x).detach().numpy())
        for (name, p), (_, q) in zip(model.named_parameters(), clone.named_parameters()):
            assert type(q) is nn.Parameter and q.requires_grad and q is not p
            assert not np.shares_memory(p._data, q._data)
            assert q.grad is None           # torch's Parameter copies drop .grad
        with tapegrad.no_grad():
            clone[0].weight.mul_(0.0)
        assert model[0].weight.abs().sum().item() > 0
        assert clone.training and repr(clone) == repr(model)
    for clone in (copy.deepcopy(tied), pickle.loads(pickle.dumps(tied))):
        assert clone[0] is clone[1] and len(list(clone.parameters())) == 2


def test_deepcopy_and_pickle_of_tensors():
    x = tapegrad.tensor([[1.0, 2.0]], dtype=tapegrad.float64, requires_grad=True)
    (x * x).sum().backward()
    y = copy.deepcopy(x)
    assert y.requires_grad and y.is_leaf and y.grad.tolist() == [[2.0, 4.0]]
    assert y.dtype is tapegrad.float64 and not np.shares_memory(x._data, y._data)
    z = pickle.loads(pickle.dumps(x[0]))       # a non-leaf pickles as its values
    assert z.tolist() == [1.0, 2.0] and z.requires_grad and z.grad_fn is None
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(x * 2)


# -- modes, Dropout, zero_grad, apply ------------------------------------------
def test_train_eval_propagate():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.ReLU()))
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model[1].train(False)
    assert model.training and not model[1][0].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        model.train("yes")


def test_dropout_scales_in_training_and_is_identity_in_eval():
    tapegrad.manual_seed(0)
    drop = nn.Dropout(p=0.25)
    x = tapegrad.ones(200, 100, dtype=tapegrad.float64, requires_grad=True)
    y = drop(x)
    values = y.detach().numpy()
    assert set(np.unique(values)) <= {0.0, 1 / 0.75}
    assert abs((values == 0).mean() - 0.25) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)   # d(x * mask)/dx is the mask
    assert y.grad_fn.name() == "MulBackward0"               # torch's F.dropout records a Mul too
    drop.eval()
    assert drop(x) is x
    tapegrad.manual_seed(1)
    a = F.dropout(x, 0.5).detach().numpy()
    tapegrad.manual_seed(1)
    assert np.array_equal(a, F.dropout(x, 0.5).detach().numpy())
    assert F.dropout(x, 1.0).abs().sum().item() == 0 and F.dropout(x, 0.0) is x
    h = x * 1.0
    assert F.dropout(h, 0.25, inplace=True) is h and (h.detach().numpy() == 0).any()
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"between 0 and 1, but got {p}"):
            nn.Dropout(p)


def test_zero_grad_and_requires_grad():
    model = mlp(nn)
    model(tapegrad.randn(4, 5)).sum().backward()
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.abs().sum().item() == 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_apply_visits_children_first():
    theirs, ours = both(net)
    seen = {"t": [], "g": []}
    theirs.apply(lambda m: seen["t"].append(type(m).__name__))
    ours.apply(lambda m: seen["g"].append(type(m).__name__))
    assert seen["g"] == seen["t"]
    ours.apply(lambda m: init.constant_(m.weight, 0.5) if isinstance(m, nn.Linear) else None)
    assert ours.heads[1].weight.tolist()[0] == [0.5] * 6


# -- dtype conversion --------------------------------------------------------------
def test_double_float_to_keep_parameter_objects():
    model = net(nn)
    params = list(model.parameters())
    optimizer = tapegrad.optim.SGD(model.parameters(), lr=0.1)
    model(tapegrad.randn(2, 4)).sum().backward()
    assert model.double() is model
    assert list(model.parameters()) == params and all(a is b for a, b in
                                                      zip(model.parameters(), params))
    assert all(p.dtype is tapegrad.float64 and p.grad.dtype is tapegrad.float64 for p in params)
    assert model.steps.dtype is tapegrad.float64
    x = tapegrad.randn(2, 4, dtype=tapegrad.float64)
    before = params[0].detach().clone()
    optimizer.zero_grad()
    model(x).sum().backward()
    optimizer.step()                       # the optimizer still holds the same parameters
    assert not np.allclose(before.numpy(), params[0].detach().numpy())
    model.to(tapegrad.float32)
    assert all(p.dtype is tapegrad.float32 for p in params)
    model.register_buffer("count", tapegrad.zeros(1, dtype=tapegrad.int64))
    model.double().float()
    assert model.count.dtype is tapegrad.int64           # only floating tensors convert
    assert model.to("cpu") is model and model.cpu() is model
    with pytest.raises(TypeError, match="only accepts floating point"):
        model.to(tapegrad.int64)
    with pytest.raises(RuntimeError, match="CPU only"):
        model.cuda()


# -- init ------------------------------------------------------------------------
def test_calculate_gain_and_fans_match_torch():
    for name in ("linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2))
    for shape in ((3, 4), (5, 4, 3, 3), (2, 7, 5)):
        assert init._calculate_fan_in_and_fan_out(tapegrad.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(tapegrad.empty(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(tapegrad.empty(3, 3), mode="fan_avg")


def bounds_and_std(fill, shape=(400, 500)):
    t = tapegrad.empty(*shape)
    out = fill(t)
    assert out is t
    values = t.numpy()
    return np.abs(values).max(), values.mean(), values.std()


def test_init_statistics():
    tapegrad.manual_seed(0)
    fan_in, fan_out = 500, 400
    cases = [   # (fill, uniform bound or None, expected std)
        (lambda t: init.uniform_(t, -2, 2), 2.0, 4 / math.sqrt(12)),
        (lambda t: init.normal_(t, 0, 0.3), None, 0.3),
        (lambda t: init.xavier_uniform_(t, gain=2), 2 * math.sqrt(6 / (fan_in + fan_out)), None),
        (lambda t: init.xavier_normal_(t), None, math.sqrt(2 / (fan_in + fan_out))),
        (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(6 / fan_in), None),
        (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(fan_in), None),
        (lambda t: init.kaiming_normal_(t, mode="fan_out"), None,
         math.sqrt(2 / (1 + 0.01 ** 2)) / math.sqrt(fan_out)),
    ]
    for fill, bound, std in cases:
        top, mean, sd = bounds_and_std(fill)
        assert abs(mean) < 0.01 * (bound or std)          # 4.5 standard errors
        if bound is not None:
            assert top <= bound and top > 0.99 * bound
            std = std or bound / math.sqrt(3)
        assert sd == pytest.approx(std, rel=0.01)
    t = tapegrad.empty(2, 3)
    assert init.constant_(t, 0.25).tolist() == [[0.25] * 3] * 2
    assert init.ones_(t).sum().item() == 6 and init.zeros_(t).sum().item() == 0
    g = np.random.default_rng(5)
    a = init.normal_(tapegrad.empty(3), generator=g).tolist()
    assert a == pytest.approx(np.random.default_rng(5).normal(0, 1, 3).astype(np.float32).tolist())


def test_linear_default_init_bounds():
    tapegrad.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert p.dtype is tapegrad.float32 and np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound
    assert layer.weight.detach().numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert nn.Linear(2, 3, dtype=tapegrad.float64).weight.dtype is tapegrad.float64


def test_init_updates_what_the_tape_sees():
    layer = nn.Linear(2, 1)
    x = tapegrad.ones(1, 2)
    layer(x)                                   # the weight now has a slot on the tape
    init.constant_(layer.weight, 2.0)
    init.zeros_(layer.bias)
    out = layer(x)
    assert out.item() == 4.0
    out.backward()
    assert layer.weight.grad.tolist() == [[1.0, 1.0]]


# -- clip_grad_norm_ -----------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1, float("inf"), 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in ((3, 4), (5,), ())]
    tp = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    gp = [tapegrad.zeros(*g.shape, dtype=tapegrad.float64, requires_grad=True) for g in grads]
    for t, g, a in zip(tp, gp, grads):
        t.grad, g.grad = torch.tensor(a), tapegrad.tensor(a)
    want = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
    got = nn.utils.clip_grad_norm_(gp, max_norm, norm_type)
    assert_same(got, want)
    for t, g in zip(tp, gp):
        assert_same(g.grad, t.grad)


def test_clip_grad_edge_cases():
    p = tapegrad.zeros(2, requires_grad=True)
    assert nn.utils.clip_grad_norm_([p], 1.0).item() == 0.0      # no grads yet
    p.grad = tapegrad.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    p.grad = tapegrad.tensor([3.0, -4.0])
    total = nn.utils.clip_grad_norm_(p, 1.0)
    assert total.item() == 5.0 and p.grad.numpy() == pytest.approx([0.6, -0.8], rel=1e-5)
    p.grad = tapegrad.tensor([3.0, -4.0])
    nn.utils.clip_grad_value_(p, 2.5)
    assert p.grad.tolist() == [2.5, -2.5]


# -- functional activations: single ops, so grad_fn names match torch's too ---------
ACTIVATIONS = [
    lambda lib, x: lib.nn.functional.relu(x),
    lambda lib, x: lib.nn.functional.leaky_relu(x, 0.2),
    lambda lib, x: lib.nn.functional.gelu(x),
    lambda lib, x: lib.nn.functional.gelu(x, approximate="tanh"),
    lambda lib, x: lib.nn.functional.silu(x),
    lambda lib, x: lib.nn.functional.softplus(x, beta=2.0, threshold=1.0),
    lambda lib, x: lib.nn.functional.elu(x, alpha=0.7),
    lambda lib, x: lib.nn.functional.hardtanh(x, -0.5, 0.5),
    lambda lib, x: lib.nn.functional.sigmoid(x),
    lambda lib, x: lib.nn.functional.tanh(x),
    lambda lib, x: lib.nn.functional.softmax(x, dim=1),
    lambda lib, x: lib.nn.functional.log_softmax(x, dim=-1),
    lambda lib, x: lib.nn.functional.linear(x, x[:2] * 2, x[0, :2] * 3),
    lambda lib, x: lib.nn.Softmax(dim=0)(lib.nn.LeakyReLU(0.1)(x)),
]


@pytest.mark.parametrize("fn", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activations_match_torch(fn, dtype):
    x = np.random.default_rng(1).standard_normal((3, 4)) * 2
    check(fn, x, dtype=dtype)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "hardtanh", "silu"])
def test_inplace_activations_match_torch(name):
    def fn(lib, x):
        h = x * 1.5                       # a non-leaf: in place is allowed on it
        out = getattr(lib.nn.functional, name)(h, inplace=True)
        assert out is h
        return out * 2
    check(fn, np.random.default_rng(2).standard_normal((3, 4)))
    leaf = tapegrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        getattr(F, name)(leaf, inplace=True)


def test_softmax_without_dim_warns_like_torch():
    x = np.random.default_rng(0).standard_normal((2, 3))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        got = F.softmax(tapegrad.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.nn.functional.softmax(torch.tensor(x))
    assert_same(got, want)


def test_one_hot_matches_torch():
    idx = np.array([[0, 3], [2, 1]])
    for n in (-1, 5):
        assert_same(F.one_hot(tapegrad.tensor(idx), n),
                    torch.nn.functional.one_hot(torch.tensor(idx), n))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(tapegrad.tensor(idx), 3)
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(tapegrad.tensor([1.0]))


LAYERS = [   # (model builder, input shape)
    (lambda lib: lib.Linear(4, 5), (2, 3, 4)),         # torch: ViewBackward0, ours: AddmmBackward0
    (lambda lib: lib.Linear(4, 5, bias=False), (4,)),
    (lambda lib: lib.Sequential(lib.Flatten(), lib.Linear(12, 3)), (2, 3, 4)),
    (lambda lib: lib.Sequential(lib.Linear(4, 6), lib.ReLU(inplace=True), lib.Dropout(0.5),
                                lib.Linear(6, 2), lib.LogSoftmax(dim=1)).eval(), (5, 4)),
]


@pytest.mark.parametrize("build,shape", LAYERS)
def test_layers_match_torch(build, shape):
    theirs, ours = both(build)
    theirs.double(), ours.double()
    copy_weights(theirs, ours)
    x = np.random.default_rng(3).standard_normal(shape)
    tx, gx = torch.tensor(x, requires_grad=True), tapegrad.tensor(x, requires_grad=True)
    want, got = theirs(tx), ours(gx)
    assert_same(got, want)
    want.sum().backward()
    got.sum().backward()
    assert_same(gx.grad, tx.grad)
    for (name, p), (_, q) in zip(theirs.named_parameters(), ours.named_parameters()):
        assert_same(q.grad, p.grad, what=name)


# -- a model end to end ------------------------------------------------------------
def test_mlp_gradients_match_torch_float64():
    torch.manual_seed(0)
    theirs = mlp(torch.nn).double()
    ours = mlp(nn).double()
    copy_weights(theirs, ours)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 5)), rng.integers(0, 3, 7)
    want = torch.nn.CrossEntropyLoss()(theirs(torch.tensor(x)), torch.tensor(y))
    got = nn.CrossEntropyLoss()(ours(tapegrad.tensor(x)), tapegrad.tensor(y))
    want.backward()
    got.backward()
    assert got.grad_fn.name() == want.grad_fn.name() == "NllLossBackward0"
    assert got.item() == pytest.approx(want.item(), rel=1e-12)
    for (name, p), (_, q) in zip(theirs.named_parameters(), ours.named_parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_adam_on_a_model_matches_torch(dtype, tol):
    torch.manual_seed(1)
    theirs = mlp(torch.nn, 4, 16, 3).to(dtype)
    ours = mlp(nn, 4, 16, 3).to(getattr(tapegrad, str(dtype).split(".")[1]))
    copy_weights(theirs, ours)
    t_opt = torch.optim.Adam(theirs.parameters(), lr=0.01, weight_decay=1e-3)
    g_opt = tapegrad.optim.Adam(ours.parameters(), lr=0.01, weight_decay=1e-3)
    rng = np.random.default_rng(2)
    np_dt = np.float64 if dtype is torch.float64 else np.float32
    for step in range(20):
        x, y = rng.standard_normal((8, 4)).astype(np_dt), rng.integers(0, 3, 8)
        losses = []
        for model, opt, lib in ((theirs, t_opt, torch), (ours, g_opt, tapegrad)):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=tol, abs=tol)
    for (name, p), (_, q) in zip(theirs.named_parameters(), ours.named_parameters()):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=tol, atol=tol,
                                   err_msg=name)
