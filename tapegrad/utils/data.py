"""Dataset, TensorDataset and DataLoader, as torch.utils.data (single process).

Batches are built with NumPy: a TensorDataset is batched by fancy-indexing
its tensors' arrays once per batch (no per-sample tensors), any other
dataset by stacking its samples' arrays. Batch tensors are plain data: they
do not record on the tape, even when a dataset tensor requires grad.
"""
import collections.abc
import math
import numbers

import numpy as np

from .. import creation, dtypes
from ..record import wrap
from ..tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate"]

_COLLATE_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                  "lists; found {}")


class Dataset:
    """A map-style dataset: __getitem__(index) and __len__."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset):
    """Sample i is (t[i] for t in tensors)."""

    def __init__(self, *tensors):
        if any(tensors[0].size(0) != t.size(0) for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(wrap(np.asarray(t._data[index])) for t in self.tensors)

    def __len__(self):
        return self.tensors[0].size(0)


def default_collate(batch):
    """torch's default_collate: tensors and arrays stack along a new first
    dim, numbers become a tensor, dicts and sequences collate per field
    (a tuple sample gives a list, as in torch)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return wrap(np.stack([x._data for x in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(_COLLATE_ERROR.format(elem.dtype))
        return creation.tensor(np.stack(batch))
    if isinstance(elem, np.generic):
        return creation.tensor(np.array(batch))
    if isinstance(elem, float):
        return creation.tensor(batch, dtype=dtypes.float64)
    if isinstance(elem, numbers.Integral):      # bools stay bool, ints become int64
        return creation.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):        # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(x) != len(elem) for x in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        return fields if isinstance(elem, (tuple, list)) else type(elem)(fields)
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


def _convert(sample):
    """Unbatched loading (batch_size=None): arrays become tensors, as torch."""
    if isinstance(sample, np.ndarray) and sample.dtype.kind not in "OSUV":
        return creation.tensor(sample)
    if isinstance(sample, tuple):
        return tuple(_convert(x) for x in sample)
    if isinstance(sample, list):
        return [_convert(x) for x in sample]
    return sample


def _rng_of(generator):
    """generator=: None (tapegrad.manual_seed's generator, read per epoch), an
    int seed (a private generator made once, so epochs differ but repeat
    run to run), or a numpy.random.Generator."""
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError("generator must be None, an int seed or a numpy.random.Generator, "
                    f"got {type(generator).__name__}")


class DataLoader:
    """Iterates a dataset in batches, in this process.

    num_workers, pin_memory, timeout, worker_init_fn, prefetch_factor and
    persistent_workers are accepted so torch code runs, and change nothing:
    loading is single-process (NumPy batching is fast enough for that).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, *, generator=None, prefetch_factor=None,
                 persistent_workers=False):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is not None and (isinstance(batch_size, bool)
                                         or not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.generator = generator
        self._rng = _rng_of(generator)

    def _indices(self):
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        if not self.shuffle:
            return range(n)
        if self._rng is None:           # tapegrad's global generator (manual_seed)
            return creation.randperm(n)._data
        return self._rng.permutation(n)

    def _batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        idx = self._indices()
        n, b = len(idx), self.batch_size
        stop = n - n % b if self.drop_last else n
        for start in range(0, stop, b):
            yield idx[start:start + b]

    def __iter__(self):
        ds = self.dataset
        if self.batch_size is None and self.batch_sampler is None:
            for i in self._indices():
                yield self.collate_fn(ds[int(i)]) if self.collate_fn else _convert(ds[int(i)])
            return
        # A plain TensorDataset: one fancy index per tensor per batch
        fast = self.collate_fn is None and type(ds).__getitem__ is TensorDataset.__getitem__
        for batch in self._batches():
            if fast:
                rows = np.asarray(batch, dtype=np.int64)
                yield [wrap(t._data[rows]) for t in ds.tensors]
            else:
                collate = self.collate_fn or default_collate
                yield collate([ds[int(i)] for i in batch])

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
