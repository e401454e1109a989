"""Shared setup for the side-by-side benchmarks (see bench/README.md).

Every benchmark is parametrized over `lib` ("torch", "tapegrad") and runs
the same code on the module it gets, so pytest-benchmark prints both sides
in one group. Both sides get the same number of threads: torch is set to
numba.get_num_threads() before any benchmark runs.

The `side_by_side` fixture runs one benchmark: it sets the group, warms up
(the first tapegrad call loads the compiled sweep from Numba's cache, the
first torch call initializes its thread pool), times the function (with
pytest-benchmark's own calibration, or in pedantic mode when the benchmark
needs an untimed setup per round or a fixed number of rounds) and stores
the stats so that the terminal summary can print tapegrad/torch per group
and check the targets (TARGETS below). The `timed` fixture does the same
for a row that is neither library (the NumPy floor of mlp_step). Nothing
here asserts on timings.
"""
import math
import os
import time

import numba
import pytest

from tapegrad.kernels import blas

LIBS = ("torch", "tapegrad")
_RESULTS = pytest.StashKey[list]()
_MEMORY = pytest.StashKey[dict]()
_LOAD = pytest.StashKey[tuple]()


def pytest_configure(config):
    config.stash[_RESULTS] = []
    config.stash[_MEMORY] = {}
    config.stash[_LOAD] = _cpu_now()
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


def _cpu_now():
    """(wall s, CPU s busy on the whole machine, CPU s of this process and
    its waited-for children, CPU s stolen by the host), or None where
    /proc/stat is missing."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6) if i < len(fields))   # user nice system irq softirq
    steal = fields[7] if len(fields) > 7 else 0
    t = os.times()
    return (time.monotonic(), busy / tick, t.user + t.system + t.children_user + t.children_system,
            steal / tick)


def _others_load(config):
    """(cores the machine's other processes kept busy, cores the host stole),
    on average since the session started: above ~0.2 the figures are
    disturbed. None where /proc/stat is missing."""
    start, now = config.stash.get(_LOAD, None), _cpu_now()
    if not start or not now or now[0] - start[0] <= 0:
        return None
    wall = now[0] - start[0]
    return (max(0.0, (now[1] - start[1]) - (now[2] - start[2])) / wall,
            (now[3] - start[3]) / wall)


def _threads(name):
    if name == "torch":
        import torch
        return torch.get_num_threads()
    return numba.get_num_threads()


@pytest.fixture
def timed(benchmark, request):
    """run(group, fn, lib_name, n_ops=None, warmup=1, setup=None, rounds=None,
    **info): benchmark fn() in `group` as the row `lib_name`.

    Without setup and rounds, pytest-benchmark calibrates as usual. With
    `setup` (called untimed before every round, also before the warm-up
    calls) or a fixed `rounds`, it runs in pedantic mode, one call per
    round; without `rounds` the number of rounds fills
    --benchmark-max-time with setup included (at least
    --benchmark-min-rounds)."""
    config = request.config

    def run(group, fn, lib_name, n_ops=None, warmup=1, setup=None, rounds=None, **info):
        benchmark.group = group
        benchmark.extra_info.update(lib=lib_name, threads=_threads(lib_name), **info)
        spent = 0.0
        for _ in range(warmup):
            t0 = time.perf_counter()
            if setup is not None:
                setup()
            fn()
            spent = time.perf_counter() - t0
        if setup is None and rounds is None:
            result = benchmark(fn)
        else:
            if rounds is None:
                max_time = float(getattr(benchmark, "_max_time", 1.0))
                min_rounds = int(getattr(benchmark, "_min_rounds", 5))
                rounds = max(min_rounds, min(10_000, math.ceil(max_time / max(spent, 1e-6))))
            result = benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1)
        stats = getattr(benchmark.stats, "stats", None)   # None under --benchmark-disable
        if stats is not None:
            if n_ops:
                benchmark.extra_info["n_ops"] = n_ops
                benchmark.extra_info["median_per_op_us"] = stats.median / n_ops * 1e6
                benchmark.extra_info["mean_per_op_us"] = stats.mean / n_ops * 1e6
                benchmark.extra_info["min_per_op_us"] = stats.min / n_ops * 1e6
            config.stash[_RESULTS].append(
                dict(group=group, lib=lib_name, mean=stats.mean, min=stats.min,
                     median=stats.median, rounds=stats.rounds, n_ops=n_ops,
                     threads=_threads(lib_name)))
        return result
    return run


@pytest.fixture
def side_by_side(timed, lib):
    """run(group, fn, n_ops=None, **options): `timed` for this lib; `info`
    goes to extra_info. With n_ops, the time per op goes to extra_info too
    (and to the summary)."""
    def run(group, fn, n_ops=None, **options):
        return timed(group, fn, lib.__name__, n_ops=n_ops, **options)
    return run


@pytest.fixture
def record_memory(benchmark, request):
    """record_memory(lib_name, figures): memory figures (a dict) for the
    summary, the targets and extra_info["memory"]."""
    def record(lib_name, figures):
        benchmark.extra_info["memory"] = figures
        request.config.stash[_MEMORY][lib_name] = figures
    return record


# -- ratios and targets --------------------------------------------------------

def _ratios(rows):
    """{group: {lib: row, ..., "ratio_median"/"ratio_mean"/"ratio_min": tapegrad
    over torch, "floor_median"/...: tapegrad over the numpy row,
    "normal_median"/...: tapegrad (replayed) over the "tapegrad normal" row}},
    in the order the groups ran."""
    groups = {}
    for row in rows:
        groups.setdefault(row["group"], {})[row["lib"]] = row
    for sides in groups.values():
        g = sides.get("tapegrad")
        for other, prefix in (("torch", "ratio"), ("numpy", "floor"), ("tapegrad normal", "normal")):
            if g and other in sides:
                for stat in ("median", "mean", "min"):
                    sides[f"{prefix}_{stat}"] = g[stat] / sides[other][stat]
    return groups


# (what, group or memory key, which figure, limit, unit); a ratio is
# tapegrad's median over torch's ("ratio"), over the NumPy floor ("floor") or, replayed,
# over its normal step ("normal").
TARGETS = (
    ("scalar_graph N=10,000 fwd+bwd, vs torch", "scalar_graph N=10000 fwd+bwd", "ratio", 0.1, "x"),
    ("scalar_graph N=10,000 backward alone, vs torch", "scalar_graph N=10000 bwd", "ratio", 0.01, "x"),
    ("elementwise_chain n=1e6, vs torch", "elementwise_chain n=1e6", "ratio", 0.5, "x"),
    ("elementwise_chain n=1e7, vs torch", "elementwise_chain n=1e7", "ratio", 0.35, "x"),
    ("mlp_step, vs torch", "mlp_step", "ratio", 0.9, "x"),
    ("mlp_step, vs the NumPy floor", "mlp_step", "floor", 1.1, "x"),
    ("memory: peak RSS growth per scalar op", "memory", "rss_bytes_per_op", 150, " B"),
    ("cold_start, warm cache (s)", "cold_start warm cache", "seconds", 1.0, " s"),
    ("cold_start, empty cache (s)", "cold_start empty cache", "seconds", 20.0, " s"),
    ("replay scalar_graph N=10,000 fwd+bwd, vs torch", "replay scalar_graph N=10000 fwd+bwd",
     "ratio", 0.02, "x"),
    ("replay mlp_step, vs tapegrad's normal step", "replay mlp_step", "normal", 1.0, "x"),
)


def _targets(groups, memory):
    """[(what, value or None, limit, unit, "met"/"missed"/"not run")]."""
    out = []
    for what, key, figure, limit, unit in TARGETS:
        if figure in ("ratio", "floor", "normal"):
            value = groups.get(key, {}).get(f"{figure}_median")
        elif figure == "seconds":
            row = groups.get(key, {}).get("tapegrad")
            value = row and row["median"]
        else:
            value = memory.get("tapegrad", {}).get(figure)
        strict = unit == " s"
        verdict = ("not run" if value is None else
                   "met" if (value < limit if strict else value <= limit) else "missed")
        out.append((what, value, ("< " if strict else "<= ") + f"{limit:g}{unit}", unit, verdict))
    return out


def _fmt(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3f} {unit}"
    return f"{seconds * 1e9:.1f} ns"


def _value(value, unit):
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.3f}x"
    if unit == " s":
        return f"{value:.3f} s"
    return f"{value:.0f}{unit}"


def _ratio_table(tr, rows, groups):
    """The per-group table: medians, tapegrad/torch, the NumPy floor, us per op."""
    tr.write_sep("-", "tapegrad vs torch, same run (ratio > 1: tapegrad slower)")
    torch_threads = next((row["threads"] for row in rows if row["lib"] == "torch"), "-")
    tr.write_line(f"threads: torch {torch_threads}, numba {numba.get_num_threads()}; "
                  f"tapegrad's products on {blas.NAME}; ratios of medians (mean, min in brackets)")
    tr.write_line(f"{'group':<32}{'torch median':>14}{'tapegrad median':>17}{'ratio':>9}"
                  f"{'(mean':>9}{'min)':>9}")
    for name, sides in groups.items():
        t, g = sides.get("torch"), sides.get("tapegrad")
        cells = [_fmt(t["median"]) if t else "-", _fmt(g["median"]) if g else "-"]
        ratio = (f"{sides['ratio_median']:>8.3f}x{sides['ratio_mean']:>8.3f}x"
                 f"{sides['ratio_min']:>8.3f}x" if "ratio_median" in sides
                 else f"{'-':>9}{'-':>9}{'-':>9}")
        tr.write_line(f"{name:<32}{cells[0]:>14}{cells[1]:>17}{ratio}")
        if "tapegrad normal" in sides:
            tr.write_line(f"    tapegrad normal {_fmt(sides['tapegrad normal']['median'])} median; "
                          f"replayed / normal {sides['normal_median']:.3f}x")
        if "numpy" in sides:
            tr.write_line(f"    numpy floor {_fmt(sides['numpy']['median'])} median; tapegrad / "
                          f"numpy {sides['floor_median']:.3f}x (mean {sides['floor_mean']:.3f}x, "
                          f"min {sides['floor_min']:.3f}x)")
        per_op = [f"{s['lib']} {s['median'] / s['n_ops'] * 1e6:.3f}"
                  for s in (t, g) if s and s["n_ops"]]
        if per_op:
            tr.write_line(f"    us/op (median): {', '.join(per_op)}")


@pytest.hookimpl(trylast=True)      # after pytest-benchmark's own table
def pytest_terminal_summary(terminalreporter, config):
    rows = config.stash.get(_RESULTS, [])
    memory = config.stash.get(_MEMORY, {})
    groups = _ratios(rows)
    if not groups and not memory:
        return
    tr = terminalreporter
    load = _others_load(config)
    if load is not None:
        others, steal = load
        tr.write_sep("-", "machine load")
        tr.write_line(f"other processes kept {others:.2f} of {os.cpu_count()} cores busy on average "
                      f"during this run, the host stole {steal:.2f} "
                      f"({'disturbed: run again when idle' if others + steal > 0.2 else 'quiet'})")
    if groups:
        _ratio_table(tr, rows, groups)
    if memory:
        tr.write_sep("-", "memory: scalar graph, forward + backward, fresh process per library")
        for name, m in sorted(memory.items()):
            tr.write_line(f"{name:<9} {m['n_ops']} ops: peak RSS growth {m['rss_growth'] / 2**20:.1f}"
                          f" MiB, {m['rss_bytes_per_op']:.0f} B/op (forward alone "
                          f"{m['forward_rss_bytes_per_op']:.0f} B/op)")
            if "tape" in m:
                tp = m["tape"]
                tr.write_line(f"          tape after forward: {tp['n_rec']} records, {tp['n_slots']}"
                              f" live slots; bytes per record: tables {tp['tables_used']:.0f} "
                              f"(reserved {tp['tables_reserved']:.0f}), tensor data "
                              f"{tp['tensor_data']:.0f}, Python objects {tp['python_objects']:.0f}"
                              f"; total {tp['total']:.0f} (reserved {tp['total_reserved']:.0f})")
    tr.write_sep("-", "targets (tapegrad; ratios of medians)")
    for what, value, limit, unit, verdict in _targets(groups, memory):
        tr.write_line(f"{what:<50}{_value(value, unit):>12}  {limit:<10}{verdict}")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """--benchmark-json / --benchmark-autosave: add the same-run ratios and
    the targets."""
    rows, memory = [], {}
    for bench in benchmarks:
        info = bench.extra_info or {}
        if "memory" in info:             # a memory figure, not a timing to compare
            memory[info.get("lib")] = info["memory"]
            continue
        lib = info.get("lib") or (bench.params or {}).get("lib")
        if lib and bench.stats and not math.isnan(bench.stats.mean):
            rows.append(dict(group=bench.group, lib=lib, mean=bench.stats.mean,
                             min=bench.stats.min, median=bench.stats.median,
                             rounds=bench.stats.rounds, n_ops=info.get("n_ops")))
    groups = _ratios(rows)
    load = _others_load(config)
    output_json["machine_load"] = load and dict(other_processes_cores=load[0], host_steal_cores=load[1])
    output_json["tapegrad_vs_torch"] = {
        name: {k: v for k, v in sides.items() if k.startswith(("ratio", "floor", "normal"))}
        for name, sides in groups.items() if "ratio_median" in sides or "floor_median" in sides}
    output_json["targets"] = [dict(target=what, value=value, limit=limit, verdict=verdict)
                              for what, value, limit, _, verdict in _targets(groups, memory)]
