"""memory: what one recorded scalar op costs in memory (bench/README.md).

A fresh process per library builds the 100,000-op scalar graph of
test_graphs.py (0-d float32, mul add tanh pow) and runs backward. After
warm-up graphs of 1,000 and 5,000 ops, the second passing the tape's
reclaiming of the first (so the code of both paths is loaded; the
compiled functions load on first use, about 1 MB: code, not per-op
memory), then dropped, the peak-RSS mark
is reset (`echo 5 > /proc/self/clear_refs`, which sets VmHWM to VmRSS;
where that is refused, ru_maxrss is used and the figure is an upper
bound); the figure is VmHWM after backward minus VmRSS before the graph,
over the number of ops.

For tapegrad the child also reads the tape's own tables after the forward
pass (tapegrad.tape.current()) and splits the bytes per record into:

  tables          rec_i + rec_f + rec_k per record and slot_i + refs + goff
                  per live slot, as used (rows filled) and as reserved
                  (address space: the tables are mappings whose rows count
                  in RSS once written, see tapegrad/tape.py)
  tensor data     the bytes of the arrays the tape holds (tape.arrays; a
                  settled 0-d value lives in its slot row, in the tables)
  Python objects  those arrays' ndarray headers (sys.getsizeof less
                  their own data) and the pointers of the list holding them

The process's RSS also counts malloc's rounding (a 4-byte 0-d array's data
takes a 32-byte chunk), the 0-d arrays not settled yet, and the gradient
arena of the backward pass.

The timing pytest-benchmark shows for this group is the child's wall time
(one round); the memory figures are in the summary and in extra_info.
"""
import json
import subprocess
import sys
import tempfile

import pytest

N_OPS = 100_000

CHILD = r"""
import gc, json, resource, sys
import {lib} as m

def status():
    out = {{}}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out

def graph(n_ops):
    leaves = [m.tensor(v, requires_grad=True) for v in (0.9, 0.1, 0.5)]
    a, b, c = leaves
    y = c
    for _ in range(n_ops // 4):
        y = (y * a + b).tanh() ** 2
    return leaves, y

def tape_bytes():
    from tapegrad.tape import current
    tape = current()
    n_rec = tape.n_rec
    live = tape.n_slots - len(tape.free)
    rec_row = tape.rec_i.itemsize * tape.rec_i.shape[1] + tape.rec_f.itemsize * tape.rec_f.shape[1] \
        + tape.rec_k.itemsize
    slot_row = tape.slot_i.itemsize * tape.slot_i.shape[1] + tape.refs.itemsize + tape.goff.itemsize
    used = n_rec * rec_row + live * slot_row
    reserved = sum(t.nbytes for t in (tape.rec_i, tape.rec_f, tape.rec_k, tape.slot_i, tape.refs,
                                       tape.goff, tape.shapes))
    data = objects = 0
    for a in tape.arrays:
        if a is not None:
            data += a.nbytes
            objects += sys.getsizeof(a) - (a.nbytes if a.flags.owndata else 0)
    objects += sys.getsizeof(tape.arrays) + sys.getsizeof(tape.free) + sum(
        sys.getsizeof(d) for d in (tape.owners, tape.counters, tape.hooks, tape.functions,
                                   tape.stacks))
    per = lambda x: x / max(n_rec, 1)
    return dict(n_rec=n_rec, n_slots=live, rec_row_bytes=rec_row, slot_row_bytes=slot_row,
                tables_used=per(used), tables_reserved=per(reserved), tensor_data=per(data),
                python_objects=per(objects), total=per(used + data + objects),
                total_reserved=per(reserved + data + objects))

for n in (1000, 5000):           # the second passes a reclaim of the first
    leaves, y = graph(n)
    y.backward()
    del leaves, y
gc.collect()
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    method = "VmHWM reset by clear_refs"
except OSError:
    method = "ru_maxrss (not reset: an upper bound)"
before = status()
leaves, y = graph({n_ops})
after_forward = status()
tape = tape_bytes() if m.__name__ == "tapegrad" else None
y.backward()
grad = float(leaves[0].grad)
after = status()
if method.startswith("ru_maxrss"):
    after["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(before=before, after_forward=after_forward, after=after, tape=tape,
                      method=method, grad=grad)))
"""


def measure(lib_name, n_ops=N_OPS):
    code = CHILD.format(lib=lib_name, n_ops=n_ops)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tempfile.gettempdir())
    if out.returncode:
        raise RuntimeError(f"child failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    growth = max(r["after"]["VmHWM"], r["after_forward"]["VmHWM"]) - r["before"]["VmRSS"]
    figures = dict(n_ops=n_ops, method=r["method"], rss_before=r["before"]["VmRSS"],
                   rss_growth=growth, rss_bytes_per_op=growth / n_ops,
                   forward_rss_bytes_per_op=(r["after_forward"]["VmHWM"] - r["before"]["VmRSS"])
                   / n_ops, grad=r["grad"])
    if r["tape"]:
        figures["tape"] = r["tape"]
    return figures


def test_memory_scalar_graph(benchmark, lib, record_memory):
    benchmark.group = f"memory scalar_graph N={N_OPS} (child wall time; bytes in the summary)"
    benchmark.extra_info["lib"] = lib.__name__
    figures = benchmark.pedantic(measure, args=(lib.__name__,), rounds=1, iterations=1)
    record_memory(lib.__name__, figures)
    if lib.__name__ == "tapegrad":      # same gradient as torch's, else the figure means nothing
        torch_grad = measure_grad_torch()
        assert figures["grad"] == pytest.approx(torch_grad, rel=1e-4, abs=1e-6)


def measure_grad_torch():
    torch = pytest.importorskip("torch")
    a, b, c = [torch.tensor(v, requires_grad=True) for v in (0.9, 0.1, 0.5)]
    y = c
    for _ in range(N_OPS // 4):
        y = (y * a + b).tanh() ** 2
    y.backward()
    return float(a.grad)
