"""tapegrad.save / tapegrad.load: tensors and nested containers of them.

The file is NumPy's .npz (a zip of .npy arrays): every tensor or array is
one entry, and the containers around them are one JSON entry. Nothing is
pickled, so loading runs no code (np.load with allow_pickle=False). A file
path is opened here, so the name given is the name written (np.savez would
append .npz to a path string).

Kept: dict (int, str, ... keys), OrderedDict, list, tuple, tapegrad.Size,
tensors (dtype, shape, requires_grad; a tensor appearing twice is loaded as
one tensor), NumPy arrays and scalars, int, float (also inf and nan), bool,
str, None, tapegrad dtypes.
"""
import json
import os
from collections import OrderedDict

import numpy as np

from . import dtypes
from .device import check as _check_device
from .device import device as _Device
from .record import wrap
from .tensor import Size, Tensor

_FORMAT = "tapegrad.save"
_VERSION = 1
_HEADER = "__tapegrad__"        # the JSON entry's name; tensors are "0", "1", ...


def _encode(obj, arrays, memo):
    if isinstance(obj, (Tensor, np.ndarray)):
        key = memo.get(id(obj))
        if key is None:
            data = obj._data if isinstance(obj, Tensor) else obj
            if data.dtype.kind not in "biuf":
                raise TypeError(f"tapegrad.save can't store an array of dtype {data.dtype}")
            key = memo[id(obj)] = str(len(arrays))
            arrays[key] = data
        if isinstance(obj, Tensor):
            return {"tensor": key, "requires_grad": obj.requires_grad}
        return {"ndarray": key}
    if isinstance(obj, np.generic):             # before float: np.float64 is a float
        key = str(len(arrays))
        arrays[key] = np.asarray(obj)
        return {"npscalar": key}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dtypes.dtype):
        return {"dtype": obj.name}
    if isinstance(obj, dict):
        tag = "odict" if isinstance(obj, OrderedDict) else "dict"
        return {tag: [[_encode(k, arrays, memo), _encode(v, arrays, memo)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        tag = "size" if isinstance(obj, Size) else {list: "list", tuple: "tuple"}.get(type(obj))
        if tag:
            return {tag: [_encode(v, arrays, memo) for v in obj]}
    raise TypeError(f"tapegrad.save can't store a {type(obj).__name__}: it stores tensors, NumPy "
                    "arrays, numbers, strings, None and dicts/lists/tuples of them (no pickled "
                    "objects). Save the object's state_dict() instead.")


def _decode(node, arrays, memo):
    if not isinstance(node, dict):
        return node
    (tag, value), *rest = node.items()
    if tag == "tensor":
        if value not in memo:
            t = wrap(arrays[value])
            if node["requires_grad"]:
                t.requires_grad_(True)
            memo[value] = t
        return memo[value]
    if tag == "ndarray":
        return memo.setdefault(value, arrays[value])
    if tag == "npscalar":
        return arrays[value][()]
    if tag == "dtype":
        return getattr(dtypes, value if value != "bool" else "bool_")
    if tag in ("dict", "odict"):
        pairs = ((_key(_decode(k, arrays, memo)), _decode(v, arrays, memo)) for k, v in value)
        return OrderedDict(pairs) if tag == "odict" else dict(pairs)
    items = [_decode(v, arrays, memo) for v in value]
    return {"list": list, "tuple": tuple, "size": Size}[tag](items)


def _key(k):
    return tuple(k) if isinstance(k, list) else k       # defensive: keys must be hashable


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Writes `obj` to `f`, a path (str or os.PathLike, used exactly as given)
    or a binary file object open for writing."""
    arrays = {}
    tree = _encode(obj, arrays, {})
    header = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree})
    arrays[_HEADER] = np.frombuffer(header.encode("utf-8"), np.uint8)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
    else:
        np.savez(f, allow_pickle=False, **arrays)


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **kwargs):
    """Reads what tapegrad.save wrote from `f` (a path or a binary file object).
    map_location may name the CPU; everything loads onto the CPU."""
    if isinstance(map_location, (str, _Device)):
        _check_device(map_location)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return _read(fh, os.fspath(f))
    return _read(f, getattr(f, "name", "the file object"))


def _read(fh, name):
    problem = f"{name!r} is not a file written by tapegrad.save, or it is truncated or corrupt"
    try:
        npz = np.load(fh, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            if _HEADER not in npz.files:
                raise ValueError(f"no {_HEADER} entry")
            header = json.loads(bytes(npz[_HEADER]).decode("utf-8"))
            arrays = {k: npz[k] for k in npz.files if k != _HEADER}
    except Exception as e:          # any failure to parse: not our file, or damaged
        raise RuntimeError(f"{problem} ({type(e).__name__}: {e})") from e
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise RuntimeError(f"{problem} (no tapegrad header)")
    if header.get("version", 0) > _VERSION:
        raise RuntimeError(f"{name!r} was written by a newer tapegrad (format version "
                           f"{header['version']}); upgrade tapegrad to load it")
    try:
        return _decode(header["tree"], arrays, {})
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RuntimeError(f"{problem} (bad structure: {e})") from e
