"""tapegrad.save / tapegrad.load: nested state dicts round trip exactly,
through paths (kept as given) and file objects; foreign or damaged files
give a clear error; nothing is pickled."""
import io
import math
import pathlib
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import tapegrad


def nested():
    w = tapegrad.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    return {
        "model": OrderedDict([("layer.weight", w),
                              ("layer.bias", tapegrad.zeros(3, dtype=tapegrad.float64)),
                              ("steps", tapegrad.tensor(7)),
                              ("mask", tapegrad.tensor([True, False])),
                              ("scalar", tapegrad.tensor(2.5)), ("empty", tapegrad.zeros(0, 4))]),
        "optimizer": {"state": {0: {"step": tapegrad.tensor(3.0), "exp_avg": w}, 1: {}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "amsgrad": False,
                                        "foreach": None, "params": [0, 1]}]},
        "epoch": 12, "loss": float("inf"), "nan": float("nan"), "name": "run-1 ✓",
        "shape": tapegrad.Size([2, 3]), "dtype": tapegrad.float64, "array": np.arange(4),
        "np_scalar": np.float32(0.25), (1, "tuple key"): [None, True, -3, [1.5, ()]],
    }


def assert_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, tapegrad.Tensor):
        assert a.dtype is b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_round_trip_through_a_path_keeps_the_exact_name(tmp_path):
    obj = nested()
    path = tmp_path / "model.pt"
    tapegrad.save(obj, str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert zipfile.is_zipfile(path)            # an ordinary .npz inside
    assert_same(tapegrad.load(str(path)), obj)
    assert_same(tapegrad.load(path), obj)       # PathLike too


def test_round_trip_through_file_objects(tmp_path):
    obj = nested()
    buf = io.BytesIO()
    tapegrad.save(obj, buf)
    buf.seek(0)
    assert_same(tapegrad.load(buf), obj)
    with open(tmp_path / "ckpt", "wb") as f:
        tapegrad.save(obj, f)
    with open(tmp_path / "ckpt", "rb") as f:
        assert_same(tapegrad.load(f, map_location="cpu"), obj)


def test_loaded_tensors_are_independent_and_sharing_is_kept():
    obj = nested()
    buf = io.BytesIO()
    tapegrad.save(obj, buf)
    buf.seek(0)
    back = tapegrad.load(buf)
    assert back["optimizer"]["state"][0]["exp_avg"] is back["model"]["layer.weight"]
    back["model"]["layer.weight"]._data[0, 0] = 100.0
    assert obj["model"]["layer.weight"].tolist()[0][0] == 0.0


def test_bare_tensor_and_requires_grad(tmp_path):
    t = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    tapegrad.save(t, tmp_path / "t.pt")
    back = tapegrad.load(tmp_path / "t.pt")
    assert back.requires_grad and back.is_leaf and back.tolist() == [1.0, 2.0]
    (back * 3).sum().backward()
    assert back.grad.tolist() == [3.0, 3.0]


def test_optimizer_state_dict_round_trip(tmp_path):
    p = tapegrad.tensor([1.0, -2.0], requires_grad=True)
    opt = tapegrad.optim.Adam([p], lr=0.1, amsgrad=True)
    p.grad = tapegrad.tensor([0.5, 0.5])
    opt.step()
    tapegrad.save(opt.state_dict(), tmp_path / "opt.pt")
    back = tapegrad.load(tmp_path / "opt.pt")
    assert_same(back, opt.state_dict())
    opt2 = tapegrad.optim.Adam([tapegrad.tensor([1.0, -2.0], requires_grad=True)])
    opt2.load_state_dict(back)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("content", [b"", b"not a tapegrad file at all", b"\x80\x04K\x01.",
                                     b"PK\x03\x04" + b"\x00" * 40],
                         ids=["empty", "text", "pickle", "zip-head"])
def test_garbage_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(RuntimeError, match="not a file written by tapegrad.save"):
        tapegrad.load(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file_is_a_clear_error(tmp_path, keep):
    path = tmp_path / "model.pt"
    tapegrad.save(nested(), path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(RuntimeError, match="truncated or corrupt"):
        tapegrad.load(path)


def test_other_numpy_files_are_rejected(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    np.save(tmp_path / "one.npy", np.zeros(3))
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    for name in ("plain.npz", "one.npy", "objects.npz"):
        with pytest.raises(RuntimeError, match="not a file written by tapegrad.save"):
            tapegrad.load(tmp_path / name)


@pytest.mark.parametrize("obj", [{"f": print}, {1, 2}, {"x": object()}, np.array(["a"])],
                         ids=["function", "set", "object", "string-array"])
def test_unsupported_objects_are_refused(obj):
    with pytest.raises(TypeError, match="tapegrad.save can't store"):
        tapegrad.save(obj, io.BytesIO())


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        tapegrad.load(pathlib.Path(tmp_path) / "nope.pt")


def test_map_location_must_be_the_cpu(tmp_path):
    tapegrad.save({"a": 1}, tmp_path / "a.pt")
    with pytest.raises(RuntimeError, match="CPU only"):
        tapegrad.load(tmp_path / "a.pt", map_location="cuda:0")
