"""Running a tutorial's code cells as Jupyter runs them, with `torch`
bound to a library of our choosing, and comparing what they print.

run_notebook(cells, lib) executes the cells in order in one namespace, in
which `import torch` (and `from torch.autograd import ...`) gives `lib`.
Each cell's stdout is captured, and, as Jupyter displays it, the repr of
a last-line expression that is not None. An exception ends that cell only;
it is kept for the cell's test to re-raise.

SameData(lib, seed) wraps torch or tapegrad so that rand/randn draw from
one NumPy stream: torch and tapegrad then compute on the same numbers, and
a random cell's printed output can be compared exactly.

tutorial_tests(CELLS, seeds) makes the fixtures and tests every seed
module has: each cell prints what the tutorial shows, and what torch
prints on the same data.
"""
import ast
import builtins
import contextlib
import io
import re
import traceback
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import tapegrad


@dataclass
class Cell:
    """A code cell and what the tutorial shows it printing (None: nothing
    shown, so it must print nothing). random: its values come from
    rand/randn, so only their format and count can match the tutorial."""
    code: str
    printed: str | None = None
    random: bool = False
    warns: str | None = None        # a UserWarning the tutorial shows, by a part of its text


@dataclass
class Result:
    output: str
    warnings: list = field(default_factory=list)
    error: BaseException | None = None
    trace: str = ""


class SameData:
    """`lib` with rand, randn, rand_like and randn_like drawing from a NumPy
    generator seeded with `seed` (float32 unless dtype= says otherwise)."""

    def __init__(self, lib, seed=0):
        self._lib = lib
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def _make(self, draw, size, dtype=None, requires_grad=False, device=None, **_):
        if len(size) == 1 and isinstance(size[0], (tuple, list)):
            size = tuple(size[0])
        name = str(dtype or self._lib.get_default_dtype()).rsplit(".", 1)[-1]
        t = self._lib.from_numpy(draw(tuple(size)).astype(name))
        return t.requires_grad_(True) if requires_grad else t

    def rand(self, *size, **kwargs):
        return self._make(self._rng.random, size, **kwargs)

    def randn(self, *size, **kwargs):
        return self._make(self._rng.standard_normal, size, **kwargs)

    def rand_like(self, x, **kwargs):
        return self.rand(*x.shape, **{"dtype": x.dtype, **kwargs})

    def randn_like(self, x, **kwargs):
        return self.randn(*x.shape, **{"dtype": x.dtype, **kwargs})


def _importer(lib):
    """__import__ that answers `torch` and `torch.x.y` with lib and lib.x.y."""
    real = builtins.__import__

    def imp(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name == "torch" or name.startswith("torch.")):
            if not fromlist:
                return lib
            mod = lib
            for part in name.split(".")[1:]:
                mod = getattr(mod, part)
            return mod
        return real(name, globals, locals, fromlist, level)
    return imp


def run_cell(code, namespace):
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    result = Result("")
    with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(compile(tree, "<cell>", "exec"), namespace)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
                if value is not None:
                    print(repr(value))
        except Exception as e:          # the cell's test re-raises it
            result.error = e
            result.trace = traceback.format_exc()
    result.output = out.getvalue()
    result.warnings = list(caught)
    return result


def run_notebook(cells, lib):
    namespace = {"__name__": "__main__",
                 "__builtins__": {**vars(builtins), "__import__": _importer(lib)}}
    results = [run_cell(cell.code, namespace) for cell in cells]
    return results, namespace


# -- comparing printed text ---------------------------------------------------------

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"\s*-?(?:\d+\.\d*|inf|nan)(?:e[+-]?\d+)?")


def normalized(text):
    """Printed text with torch's module name as ours and object addresses
    masked, split into lines (trailing blank lines dropped)."""
    text = _ADDRESS.sub("0x...", text.replace("torch.", "tapegrad."))
    return text.rstrip("\n").split("\n") if text.strip() else []


def structure(text):
    """The lines with every float value (and the spaces that align it)
    replaced by '#': the format and the number of elements, not the values."""
    return [_NUMBER.sub("#", line) for line in normalized(text)]


def floats(text):
    return [float(m.strip()) for m in _NUMBER.findall(text)]


def check_result(result):
    if result.error is not None:
        raise AssertionError(f"the cell raised:\n{result.trace}") from result.error


# -- the checks each seed's tests make -------------------------------------------------

def assert_as_tutorial(cell, result):
    """The cell printed what the tutorial shows: line by line, or for a
    random cell the same format with the same number of values; and it
    warned (UserWarning) only where the tutorial shows a warning."""
    check_result(result)
    warned = [str(w.message) for w in result.warnings if issubclass(w.category, UserWarning)]
    if cell.warns is None:
        assert not warned, f"unexpected warnings: {warned}"
    else:
        assert len(warned) == 1 and cell.warns in warned[0], warned
    want = cell.printed or ""
    if cell.random:
        assert structure(result.output) == structure(want), \
            f"printed\n{result.output}\nnot shaped like the tutorial's\n{want}"
    else:
        assert normalized(result.output) == normalized(want)


def assert_as_torch(ours, theirs):
    """tapegrad printed exactly what torch printed for the same cell and data,
    and warned (UserWarning) where torch did."""
    check_result(theirs)
    check_result(ours)
    assert normalized(ours.output) == normalized(theirs.output)
    user = [[str(w.message) for w in r.warnings if issubclass(w.category, UserWarning)]
            for r in (ours, theirs)]
    assert len(user[0]) == len(user[1]), f"warnings {user[0]} vs torch's {user[1]}"


def tutorial_tests(cells, seeds=None):
    """The fixtures and tests of a seed module whose tutorial has these
    cells, for the module to bind to their own names:

        (ours, same_data, test_cell_prints_what_the_tutorial_shows,
         test_cell_prints_what_torch_prints) = tutorial_tests(CELLS, SEEDS)

    ours: (results, namespace) of the cells run with tapegrad, seeded.
    same_data: {torch: ..., tapegrad: ...}, the cells run by each library on
    the same NumPy data, once per seed in `seeds` (None: once, seed 0)."""
    ids = list(cells)

    @pytest.fixture(scope="module")
    def ours():
        tapegrad.manual_seed(0)         # the values differ from the tutorial's anyway; fix them
        return run_notebook(list(cells.values()), tapegrad)

    params = {} if seeds is None else {"params": seeds, "ids": [f"seed{s}" for s in seeds]}

    @pytest.fixture(scope="module", **params)
    def same_data(request):
        seed = getattr(request, "param", 0)
        return {lib: run_notebook(list(cells.values()), SameData(lib, seed=seed))
                for lib in (torch, tapegrad)}

    @pytest.mark.parametrize("n", range(len(ids)), ids=ids)
    def test_cell_prints_what_the_tutorial_shows(ours, n):
        assert_as_tutorial(cells[ids[n]], ours[0][n])

    @pytest.mark.parametrize("n", range(len(ids)), ids=ids)
    def test_cell_prints_what_torch_prints(same_data, n):
        assert_as_torch(same_data[tapegrad][0][n], same_data[torch][0][n])

    return ours, same_data, test_cell_prints_what_the_tutorial_shows, test_cell_prints_what_torch_prints
