"""Where tapegrad's time goes in three benchmark workloads: the 10,000-op
scalar graph and the 1e6-element chain of bench/test_graphs.py, and the MLP
of bench/test_mlp.py (forward + loss and backward; the SGD step is not in it).

    python bench/profile_core.py [scalar_graph|elementwise_chain|mlp_step] [--cprofile N]

Prints, per workload, the median and min over rounds of: the forward pass
(op recording), backward's parts (engine.plan, engine.run: the compiled
sweep, _arena: zeroing the gradient arena, _accumulate: writing .grad, the
rest of backward in Python) and minor page faults. With --cprofile, the
top Python functions of the forward pass by own time (cProfile slows Python
code several times over: read shares, not times).

The engine's compiled entry points are wrapped in this process only, so
they show up as their own entries; no library file is changed.
"""
import argparse
import cProfile
import io
import pathlib
import pstats
import resource
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import tapegrad  # noqa: E402
from tapegrad import tape as _tape  # noqa: E402
from tapegrad.autograd import engine  # noqa: E402

from bench import test_graphs as workloads  # noqa: E402
from bench import test_mlp  # noqa: E402

PARTS = ("plan", "run", "_arena", "_accumulate")
_spent = {}


def _timed(owner, name):
    f = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            _spent[name] = _spent.get(name, 0.0) + time.perf_counter() - t0
    wrapper.__qualname__ = wrapper.__name__ = f"{name} [timed]"
    setattr(owner, name, wrapper)


for _name in PARTS:                  # module functions, or methods of the engine's sweep object
    _owner = next((o for o in (engine, getattr(engine, "_Sweep", None))
                   if o is not None and _name in vars(o)), None)
    if _owner is not None:
        _timed(_owner, _name)
_timed(_tape.Tape, "reclaim")        # reclaiming dead records, during the forward pass


def forward_scalar_graph(leaves):
    a, b, c = leaves
    y = c
    for _ in range(workloads.ITERS):
        y = (y * a + b).tanh() ** 2
    return y


def forward_elementwise_chain(leaves):
    (x,) = leaves
    return (x.sin() * x + (-x * x).exp() * 0.5 + x.tanh()).mean()


_MLP = {}


def mlp_leaves(m):
    x, y = test_mlp.batch()
    _MLP["loss"], params, _ = test_mlp.module_model(m, test_mlp.initial_params(), x, y)
    return params


def forward_mlp_step(leaves):
    return _MLP["loss"]()


WORKLOADS = {
    "scalar_graph": (workloads.scalar_leaves, forward_scalar_graph, 20),
    "elementwise_chain": (workloads.chain_input, forward_elementwise_chain, 40),
    "mlp_step": (mlp_leaves, forward_mlp_step, 40),     # forward + loss, backward; no SGD step
}


def _faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def split(name):
    make, forward, rounds = WORKLOADS[name]
    leaves = make(tapegrad)
    rows = []
    for i in range(rounds + 2):                 # two untimed rounds first
        _spent.clear()
        for t in leaves:
            t.grad = None
        f0, t0 = _faults(), time.perf_counter()
        y = forward(leaves)
        f1, t1 = _faults(), time.perf_counter()
        y.backward()
        t2, f2 = time.perf_counter(), _faults()
        del y
        if i >= 2:
            rows.append({"forward": t1 - t0, "  Tape.reclaim": _spent.get("reclaim", 0.0),
                         "backward": t2 - t1,
                         **{f"  {p}": _spent.get(p, 0.0) for p in PARTS},
                         "  rest of backward": t2 - t1 - sum(_spent.get(p, 0.0) for p in PARTS),
                         "page faults fwd": f1 - f0, "page faults bwd": f2 - f1})
    print(f"== {name}: tapegrad, {rounds} rounds (ms, page faults as counts)")
    print(f"   {'':24}{'median':>10}{'min':>10}")
    for key in rows[0]:
        vals = [r[key] for r in rows]
        scale = 1 if key.startswith("page") else 1e3
        print(f"   {key:24}{statistics.median(vals) * scale:10.3f}{min(vals) * scale:10.3f}")


def profile_forward(name, rounds):
    make, forward, _ = WORKLOADS[name]
    leaves = make(tapegrad)
    forward(leaves).backward()
    profile = cProfile.Profile()
    for _ in range(rounds):
        for t in leaves:
            t.grad = None
        profile.enable()
        y = forward(leaves)
        profile.disable()
        y.backward()
        del y
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
    print(f"== {name}: cProfile of the forward pass, {rounds} rounds, by own time")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", nargs="*",
                        help=f"any of {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="also cProfile N forward passes")
    args = parser.parse_args()
    for name in args.workload:
        if name not in WORKLOADS:
            parser.error(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    for name in args.workload or WORKLOADS:
        split(name)
        if args.cprofile:
            profile_forward(name, args.cprofile)


if __name__ == "__main__":
    main()
