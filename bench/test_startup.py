"""cold_start: from process start to the first gradient (bench/README.md).

A fresh Python process runs `import <lib>`, builds the 1,000-op scalar
graph of test_graphs.py (0-d float32, mul add tanh pow) and calls
backward(); a round is the time from just before the parent spawns the
process to the child's first gradient read back (both read
CLOCK_MONOTONIC), so interpreter start-up and imports count and the
child's exit does not.

  cold_start warm cache   tapegrad with Numba's on-disk cache as it is
                          (one untimed process first fills it if a kernel
                          changed), and torch for scale
  cold_start empty cache  tapegrad with NUMBA_CACHE_DIR pointed at a new
                          empty folder (Numba reads it at import, hence
                          the fresh process): every kernel the graph needs
                          is compiled

Few rounds (COLD_ROUNDS): each cold round compiles for seconds.
"""
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

WARM_ROUNDS = 3
COLD_ROUNDS = 1
N_OPS = 1_000

CHILD = """
import json, time
clock = lambda: time.clock_gettime(time.CLOCK_MONOTONIC)
import {lib} as m
imported = clock()
a, b, c = [m.tensor(v, requires_grad=True) for v in (0.9, 0.1, 0.5)]
y = c
for _ in range({iters}):
    y = (y * a + b).tanh() ** 2
recorded = clock()
y.backward()
g = float(a.grad)
done = clock()
print(json.dumps(dict(imported=imported, recorded=recorded, done=done, grad=g)))
"""


def _now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class ChildClock:
    """pytest-benchmark's timer for these rounds. Its runner reads the timer
    twice a round, before and after the call: the first read is now, the
    second is the time the child reported at its first gradient."""

    def __init__(self):
        self.calls = 0
        self.reported = None

    def __call__(self):
        self.calls += 1
        if self.calls % 2:
            self.reported = None
            return _now()
        return self.reported


def spawn(lib_name, env=None):
    """Run the child; returns (spawn time, the child's report)."""
    code = CHILD.format(lib=lib_name, iters=N_OPS // 4)
    start = _now()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=tempfile.gettempdir())
    if out.returncode:
        raise RuntimeError(f"child failed:\n{out.stderr[-3000:]}")
    return start, json.loads(out.stdout.strip().splitlines()[-1])


def _run_cold(timed, benchmark, group, lib_name, make_env, rounds, warmup, **info):
    clock = ChildClock()
    phases, env = [], [None]

    def setup():
        env[0] = make_env()

    def run():
        start, report = spawn(lib_name, env[0])
        clock.reported = report["done"]
        phases.append((report["imported"] - start, report["recorded"] - report["imported"],
                       report["done"] - report["recorded"], report["done"] - start))
    benchmark._timer = clock          # a round: spawn to first gradient (see ChildClock)
    timed(group, run, lib_name, setup=setup, rounds=rounds, warmup=warmup, n_ops_graph=N_OPS,
          **info)
    timed_phases = phases[warmup:]
    benchmark.extra_info["rounds_s"] = [
        dict(to_import=p[0], forward=p[1], backward=p[2], total=p[3]) for p in timed_phases]


def bytecode(lib_name):
    """Python's bytecode cache of the library's imported modules, written
    where it is missing. A regular install has one (pip compiles it, as it
    did torch's and numba's), but an editable install on a machine that
    sets PYTHONDONTWRITEBYTECODE (this one does) never writes it, and then
    every import compiles tapegrad's sources again, about 0.2 s of each
    start. A warm start is one with the caches filled: Numba's and Python's."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if (name == lib_name or name.startswith(lib_name + ".")) and path.endswith(".py"):
            compileall.compile_file(path, quiet=2)


def test_cold_start_warm_cache(timed, benchmark, lib):
    bytecode(lib.__name__)
    env = dict(os.environ)
    _run_cold(timed, benchmark, "cold_start warm cache", lib.__name__, lambda: env,
              rounds=WARM_ROUNDS, warmup=1, cache="warm" if lib.__name__ == "tapegrad" else "-")


def test_cold_start_empty_cache(timed, benchmark):
    pytest.importorskip("tapegrad")
    folders = []

    def fresh_cache():
        folders.append(tempfile.mkdtemp(prefix="tapegrad-numba-cache-"))
        return dict(os.environ, NUMBA_CACHE_DIR=folders[-1])
    try:
        _run_cold(timed, benchmark, "cold_start empty cache", "tapegrad", fresh_cache,
                  rounds=COLD_ROUNDS, warmup=0, cache="empty NUMBA_CACHE_DIR")
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
