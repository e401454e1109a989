"""Shared setup for the side-by-side benchmarks (see bench/README.md).

Every benchmark is parametrized over `lib` ("torch", "tapegrad") and runs
the same code on the module it gets, so pytest-benchmark prints both sides
in one group. Both sides get the same number of threads: torch is set to
numba.get_num_threads() before any benchmark runs.

The `side_by_side` fixture runs one benchmark: it sets the group, warms up
(the first tapegrad call loads the compiled sweep from Numba's cache, the
first torch call initializes its thread pool), times the function with
pytest-benchmark's own calibration, and stores the stats so that the
terminal summary can print tapegrad/torch per group. Nothing here asserts
on timings.
"""
import math

import numba
import pytest

LIBS = ("torch", "tapegrad")
_RESULTS = pytest.StashKey[list]()


def pytest_configure(config):
    config.stash[_RESULTS] = []
    try:
        import torch
    except ImportError:      # the torch side is skipped, tapegrad still runs
        return
    torch.set_num_threads(numba.get_num_threads())


@pytest.fixture(params=LIBS)
def lib(request):
    """The module under test: torch or tapegrad."""
    if request.param == "torch":
        return pytest.importorskip("torch")
    import tapegrad
    return tapegrad


@pytest.fixture
def side_by_side(benchmark, lib, request):
    """run(group, fn, n_ops=None, **info): benchmark fn() in `group` for
    this lib; `info` goes to extra_info. With n_ops, the time per op goes to
    extra_info too (and to the summary)."""
    def run(group, fn, n_ops=None, warmup=1, **info):
        benchmark.group = group
        benchmark.extra_info.update(lib=lib.__name__, threads=_threads(lib), **info)
        for _ in range(warmup):
            fn()
        result = benchmark(fn)
        stats = getattr(benchmark.stats, "stats", None)   # None under --benchmark-disable
        if stats is not None:
            if n_ops:
                benchmark.extra_info["n_ops"] = n_ops
                benchmark.extra_info["mean_per_op_us"] = stats.mean / n_ops * 1e6
                benchmark.extra_info["min_per_op_us"] = stats.min / n_ops * 1e6
            request.config.stash[_RESULTS].append(
                dict(group=group, lib=lib.__name__, mean=stats.mean, min=stats.min,
                     rounds=stats.rounds, n_ops=n_ops, threads=_threads(lib)))
        return result
    return run


def _threads(lib):
    return lib.get_num_threads() if lib.__name__ == "torch" else numba.get_num_threads()


# -- tapegrad / torch ratios -------------------------------------------------

def _ratios(rows):
    """{group: {"torch": row, "tapegrad": row, "ratio_mean": ..., "ratio_min": ...}}."""
    groups = {}
    for row in rows:
        groups.setdefault(row["group"], {})[row["lib"]] = row
    for sides in groups.values():
        if "torch" in sides and "tapegrad" in sides:
            t, g = sides["torch"], sides["tapegrad"]
            sides["ratio_mean"] = g["mean"] / t["mean"]
            sides["ratio_min"] = g["min"] / t["min"]
    return groups


def _fmt(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3f} {unit}"
    return f"{seconds * 1e9:.1f} ns"


@pytest.hookimpl(trylast=True)      # after pytest-benchmark's own table
def pytest_terminal_summary(terminalreporter, config):
    rows = config.stash.get(_RESULTS, [])
    groups = _ratios(rows)
    if not groups:
        return
    tr = terminalreporter
    tr.write_sep("-", "tapegrad vs torch, same run (ratio > 1: tapegrad slower)")
    torch_threads = next((row["threads"] for row in rows if row["lib"] == "torch"), "-")
    tr.write_line(f"threads: torch {torch_threads}, numba {numba.get_num_threads()}")
    tr.write_line(f"{'group':<20}{'torch mean':>14}{'tapegrad mean':>16}{'ratio(mean)':>13}"
                  f"{'ratio(min)':>12}")
    for name, sides in sorted(groups.items()):
        t, g = sides.get("torch"), sides.get("tapegrad")
        cells = [_fmt(t["mean"]) if t else "-", _fmt(g["mean"]) if g else "-"]
        ratio = (f"{sides['ratio_mean']:>12.2f}x{sides['ratio_min']:>11.2f}x"
                 if "ratio_mean" in sides else f"{'-':>13}{'-':>12}")
        tr.write_line(f"{name:<20}{cells[0]:>14}{cells[1]:>16}{ratio}")
        for side in (t, g):
            if side and side["n_ops"]:
                tr.write_line(f"    {side['lib']:<10} {side['n_ops']} ops: "
                              f"{side['mean'] / side['n_ops'] * 1e6:.3f} us/op mean, "
                              f"{side['min'] / side['n_ops'] * 1e6:.3f} us/op min")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """--benchmark-json / --benchmark-autosave: add the same-run ratios."""
    rows = []
    for bench in benchmarks:
        lib = (bench.params or {}).get("lib")
        if lib in LIBS and bench.stats and not math.isnan(bench.stats.mean):
            rows.append(dict(group=bench.group, lib=lib, mean=bench.stats.mean,
                             min=bench.stats.min, rounds=bench.stats.rounds,
                             n_ops=bench.extra_info.get("n_ops")))
    output_json["tapegrad_vs_torch"] = {
        name: {k: v for k, v in sides.items() if k.startswith("ratio")}
        for name, sides in _ratios(rows).items() if "ratio_mean" in sides}
