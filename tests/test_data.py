"""tapegrad.utils.data against torch.utils.data: batches, collation, len,
drop_last, and shuffling that is a permutation and repeats under a seed."""
import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import tapegrad
from tapegrad.utils import data


def xy(n=10):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 5, n)


def as_np(batch):
    if isinstance(batch, (torch.Tensor, tapegrad.Tensor)):
        return (str(batch.dtype).split(".")[1], batch.numpy().tolist())
    if isinstance(batch, dict):
        return {k: as_np(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(as_np(b) for b in batch)
    return batch


def test_tensor_dataset():
    x, y = xy()
    ds = data.TensorDataset(tapegrad.tensor(x), tapegrad.tensor(y))
    assert len(ds) == 10 and isinstance(ds, data.Dataset)
    sample = ds[3]
    assert isinstance(sample, tuple) and len(sample) == 2
    assert as_np(sample) == as_np(tdata.TensorDataset(torch.tensor(x), torch.tensor(y))[3])


def test_tensor_dataset_length_check_like_torch():
    with pytest.raises(AssertionError) as t_err:
        tdata.TensorDataset(torch.zeros(3, 2), torch.zeros(4))
    with pytest.raises(AssertionError) as g_err:
        data.TensorDataset(tapegrad.zeros(3, 2), tapegrad.zeros(4))
    assert str(g_err.value) == str(t_err.value) == "Size mismatch between tensors"


@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 1, False), (10, 3, False), (10, 3, True),
                                                    (10, 5, True), (10, 20, False), (10, 20, True),
                                                    (0, 4, False)])
def test_unshuffled_batches_and_len_like_torch(n, batch_size, drop_last):
    x, y = xy(n)
    t_loader = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                batch_size=batch_size, drop_last=drop_last)
    g_loader = data.DataLoader(data.TensorDataset(tapegrad.tensor(x), tapegrad.tensor(y)),
                               batch_size=batch_size, drop_last=drop_last)
    assert len(g_loader) == len(t_loader)
    got, want = [as_np(b) for b in g_loader], [as_np(b) for b in t_loader]
    assert got == want and len(got) == len(g_loader)


class Samples(data.Dataset):
    """Samples of every kind default_collate handles."""

    def __init__(self, lib, n=7):
        self.lib, self.x, self.y = lib, *xy(n)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return (self.lib.tensor(self.x[i]), float(self.x[i, 0]), int(self.y[i]), bool(i % 2),
                {"arr": self.x[i], "name": f"s{i}", "n": np.int64(i)}, [self.lib.tensor(i * 1.5)])


class TorchSamples(tdata.Dataset):
    __init__, __len__, __getitem__ = Samples.__init__, Samples.__len__, Samples.__getitem__


@pytest.mark.parametrize("batch_size,drop_last", [(3, False), (3, True), (7, False)])
def test_default_collate_like_torch(batch_size, drop_last):
    got = [as_np(b) for b in data.DataLoader(Samples(tapegrad), batch_size, drop_last=drop_last)]
    t_loader = tdata.DataLoader(TorchSamples(torch), batch_size, drop_last=drop_last)
    want = [as_np(b) for b in t_loader]
    assert got == want


def test_custom_collate_and_no_batching():
    ds = data.TensorDataset(tapegrad.arange(5))
    loader = data.DataLoader(ds, batch_size=2, collate_fn=lambda items: [int(s[0]) for s in items])
    assert list(loader) == [[0, 1], [2, 3], [4]]
    unbatched = data.DataLoader(ds, batch_size=None)
    assert len(unbatched) == 5 and [s[0].item() for s in unbatched] == [0, 1, 2, 3, 4]
    by_batch = data.DataLoader(ds, batch_sampler=[[4, 0], [2]])
    assert [b[0].tolist() for b in by_batch] == [[4, 0], [2]] and len(by_batch) == 2


def rows_seen(loader):
    return np.concatenate([b[0].numpy()[:, 0] for b in loader]).astype(int).tolist()


def test_shuffle_is_a_permutation_and_follows_manual_seed():
    ds = data.TensorDataset(tapegrad.tensor(np.arange(50.0).reshape(25, 2)))
    loader = data.DataLoader(ds, batch_size=4, shuffle=True)
    tapegrad.manual_seed(0)
    first, second = rows_seen(loader), rows_seen(loader)
    assert sorted(first) == sorted(second) == list(range(0, 50, 2))
    assert first != second                     # each epoch draws a new order
    tapegrad.manual_seed(0)
    assert rows_seen(loader) == first and rows_seen(loader) == second
    assert first != list(range(0, 50, 2))


@pytest.mark.parametrize("make", [lambda: 1234, lambda: np.random.default_rng(1234)],
                         ids=["int-seed", "numpy-generator"])
def test_generator_makes_shuffling_repeatable(make):
    ds = data.TensorDataset(tapegrad.tensor(np.arange(40.0).reshape(20, 2)))
    a = data.DataLoader(ds, batch_size=3, shuffle=True, generator=make())
    b = data.DataLoader(ds, batch_size=3, shuffle=True, generator=make())
    tapegrad.manual_seed(1)
    epochs_a = [rows_seen(a), rows_seen(a)]
    tapegrad.manual_seed(2)                    # the global seed does not matter here
    assert [rows_seen(b), rows_seen(b)] == epochs_a and epochs_a[0] != epochs_a[1]


def test_drop_last_with_shuffle():
    ds = data.TensorDataset(tapegrad.zeros(10, 2))
    loader = data.DataLoader(ds, batch_size=3, shuffle=True, drop_last=True, generator=0)
    assert len(loader) == 3 and [len(b[0]) for b in loader] == [3, 3, 3]


@pytest.mark.parametrize("kw", [dict(batch_size=0), dict(batch_size=-2), dict(batch_size=1.5),
                                dict(drop_last=1), dict(sampler=[0, 1], shuffle=True),
                                dict(batch_sampler=[[0]], batch_size=2)])
def test_bad_arguments_like_torch(kw):
    with pytest.raises(ValueError) as t_err:
        tdata.DataLoader(tdata.TensorDataset(torch.zeros(4)), **kw)
    with pytest.raises(ValueError) as g_err:
        data.DataLoader(data.TensorDataset(tapegrad.zeros(4)), **kw)
    assert str(g_err.value) == str(t_err.value)


def test_generator_type_is_checked():
    with pytest.raises(TypeError, match="generator must be"):
        data.DataLoader(data.TensorDataset(tapegrad.zeros(4)), generator="seed")


def test_batches_are_fresh_arrays_not_views():
    x = tapegrad.tensor(np.arange(8.0).reshape(4, 2))
    batch = next(iter(data.DataLoader(data.TensorDataset(x), batch_size=2)))[0]
    batch._data[:] = -1
    assert x.tolist()[0] == [0.0, 1.0]
