"""Generate kernels/interpreter.py from the op table.

    python -m tapegrad.kernels.generate        # rewrite interpreter.py

Numba caches a function by its own file, and cannot cache functions made by
exec, so the elementwise kernels (from the rules in the op table) are
written out as real source, with, per op, a VJP entry point (entry_NAME,
called by the backward sweep) and, per op with a compiled forward, a
forward entry point (fentry_NAME, called by eager code and by the replay
sweep alike: they run one kernel, so they agree to the bit). Elementwise
ops also get parallel ones (pentry_NAME, pfentry_NAME, in parallel.py):
the same kernel run on blocks of elements spread over Numba's threads,
for large arrays.
registry.py compiles each entry point on first use and the sweeps call it
by address.
Numba does not notice edits to functions a cached function calls from
other files, so interpreter.py's header, and a KERNELS_DIGEST line in
sweep.py and lifetime.py, carry a digest of the hand-written kernels and
the rules: editing any of them changes those files, which invalidates
their caches. tests/test_generated.py fails when a committed file is stale.
"""
import ast
import hashlib
import pathlib

from tapegrad.optable import OPS

HERE = pathlib.Path(__file__).parent
HAND_WRITTEN = ("jit.py", "layout.py", "memory.py", "scalar.py", "reduce.py", "shape.py", "linalg.py",
                "forward_reduce.py", "ufunc_loops.py")
SIG = "G, Y, A, B, C, I, GA, GB, GC, k0, k1, ki, sy, sa, sb, sc"
FSIG = "Y, A, B, C, I, k0, k1, ki, sy, sa, sb, sc"
INPUTS = "abc"
SCALAR_HELPERS = ("clamp", "gelu", "gelu_grad", "maximum", "minimum", "pow_dbase", "pow_dexp",
                  "silu_grad", "softplus_grad")
NUMPY_MATH = ("ceil", "cos", "exp", "expm1", "float64", "floor", "log", "log10", "log1p", "log2",
              "rint", "sign", "sin", "sqrt", "tan", "tanh", "trunc")


def names(expr):
    """The variables and functions an expression names."""
    return {n.id for n in ast.walk(ast.parse(expr)) if isinstance(n, ast.Name)}


def _loads(expr, index):
    """Lines loading the values an expression reads, at the given indices."""
    used = names(expr)
    lines = [f"g = G[{index['y']}]"]
    lines += [f"{v} = {v.upper()}[{index[v]}]" for v in "abcy" if v in used]
    return lines


def _elementwise(op):
    """The VJP kernel of an elementwise op. Bit i of `fresh` says input i's
    gradient holds nothing yet (kernels/sweep.py): a same-size one is then
    written instead of added to, a broadcast one zeroed first."""
    arity = op.arity
    out = ['@jit(inline="always")', f"def vjp_{op.name}({SIG}, fresh):"]
    for bit, (x, expr) in enumerate(zip(INPUTS[:arity], op.vjp)):
        gx, mask = "G" + x.upper(), 1 << bit
        same = _loads(expr, dict(a="i", b="i", c="i", y="i"))
        loops = [f"if fresh & {mask}:", "    for i in range(G.size):"]
        loops += ["        " + line for line in same + [f"{gx}[i] = {expr}"]]
        loops += ["else:", "    for i in range(G.size):"]
        loops += ["        " + line for line in same + [f"{gx}[i] += {expr}"]]
        out.append(f"    if {gx}.size:")
        if arity == 1:
            out += ["        " + line for line in loops]
            continue
        full = " and ".join(f"{v.upper()}.size == G.size" for v in INPUTS[:arity])
        out.append(f"        if {full}:")
        out += ["            " + line for line in loops]
        idx = {v: f"i{v}" for v in INPUTS[:arity]}
        idx["y"] = "i"
        spread = [f"i{v} = bindex(i, sy, s{v})" for v in INPUTS[:arity] if v == x or v in names(expr)]
        spread += _loads(expr, idx) + [f"{gx}[i{x}] += {expr}"]
        out += ["        else:", f"            if fresh & {mask}:", f"                {gx}[:] = 0",
                "            for i in range(G.size):"]
        out += ["                " + line for line in spread]
    return "\n".join(out)


def _elementwise_fwd(op):
    """The forward rule in float64 whatever the dtype, rounded once on
    store: so Python floats give the same bits (tapegrad/eager.py)."""
    named = names(op.fwd)
    used = [v for v in INPUTS[:op.arity] if v in named]
    out = ['@jit(inline="always")', f"def fwd_{op.name}({FSIG}):"]
    full = " and ".join(f"{v.upper()}.size == Y.size" for v in INPUTS[:op.arity])
    out += [f"    if {full}:", "        for i in range(Y.size):"]
    out += [f"            {v} = float64({v.upper()}[i])" for v in used] + [f"            Y[i] = {op.fwd}"]
    out += ["    else:", "        for i in range(Y.size):"]
    out += [f"            {v} = float64({v.upper()}[bindex(i, sy, s{v})])" for v in used]
    out += [f"            Y[i] = {op.fwd}"]
    return "\n".join(out)


_SPLIT = {"G", "Y", "A", "B", "C", "GA", "GB", "GC"}    # the arrays of elementwise kernels
# Blocks per parallel call, shared out among Numba's threads. A constant:
# a kernel that asks get_num_threads() cannot be cached.
BLOCKS = 16


def _cuts(names):
    """Arguments of a kernel call on elements lo..lo + m of each array (an
    empty one, an input the op does not have, stays as it is)."""
    return ", ".join(f"cut({v}, lo, m)" if v in _SPLIT else v for v in names.split(", "))


def _parallel(kind, op):
    """A driver that runs kind_NAME (vjp or fwd) on one block of elements
    per thread: only for records whose inputs all have the output's size
    (eager.PARALLEL_FROM), so each block is the same-size case on its own."""
    sig = SIG + ", fresh" if kind == "vjp" else FSIG
    n = "G.size" if kind == "vjp" else "Y.size"
    return "\n".join([
        "@jit(parallel=True)", f"def p{kind}_{op.name}({sig}):",
        f"    n = {n}", f"    for t in prange({BLOCKS}):",
        f"        lo = n * t // {BLOCKS}", f"        m = n * (t + 1) // {BLOCKS} - lo",
        f"        {kind}_{op.name}({_cuts(sig)})"])


def _scalar_fwd():
    """All elementwise forward rules in one function of the op code, on
    float64 values: replay runs a record of one-element values through it,
    without an entry point's call (the same arithmetic as fwd_NAME)."""
    ops = [(code, op) for code, op in enumerate(OPS) if op.fwd and not _hand_written(op.fwd)]
    out = ['@jit(inline="always")', "def scalar_fwd(op, a, b, c, k0, k1):"]
    for code, op in ops:
        out += [f"    if op == {code}:  # {op.name}", f"        return {op.fwd}"]
    out.append("    return 0.0")
    out += ["", "", "def scalar_rule(op, a, b, c, k0, k1):",
            '    """scalar_fwd, the body of a cfunc (registry.scalar_rule): the rules of',
            '    tapegrad/_record.c, the 0-d record path in C."""',
            "    return scalar_fwd(op, a, b, c, k0, k1)"]
    return "\n".join(out)


def _scalar_vjp():
    """All elementwise derivative rules in one function of the op code, on
    values of the dtype (as vjp_NAME computes them), widened to float64:
    the sweep runs a record of one-element values through it. Not inlined
    into its caller by Numba: that took seconds more to compile."""
    out = ["@jit", "def scalar_vjp(op, g, a, b, c, y, k0, k1):"]
    for code, op in enumerate(OPS):
        if isinstance(op.vjp, tuple):
            rules = [f"float64({e})" for e in op.vjp] + ["0.0"] * (3 - len(op.vjp))
            out += [f"    if op == {code}:  # {op.name}", f"        return {', '.join(rules)}"]
    out.append("    return 0.0, 0.0, 0.0")
    return "\n".join(out)


def _kernel_name(rule, default):
    """"kernel:module.name" names a hand-written kernel in kernels/module.py."""
    return rule.rsplit(".", 1)[1] if isinstance(rule, str) and rule.startswith("kernel:") else default


SWEEP_HANDLES = ("to_copy", "function")    # kernels/sweep.py runs these itself


def _entries(prefix=""):
    """Entry points per op, compiled on first use by registry.py; with
    prefix "p", the parallel ones of the elementwise ops."""
    lines = []
    for op in OPS:
        if op.name in SWEEP_HANDLES:
            continue
        # an elementwise kernel takes the fresh bits (sweep.py), and so does
        # a hand-written one that asks; the sweep zeroes what the rest add to
        fresh = ", p[FRESH]" if takes_fresh(op) else ""
        if isinstance(op.vjp, tuple) or not prefix:
            lines += [f"def {prefix}entry_{op.name}(like, p, f):",
                      f"    {SIG} = unpack(carray(like, (0,)), p, f)",
                      f"    {prefix}{_kernel_name(op.vjp, 'vjp_' + op.name)}({SIG}{fresh})", "", ""]
        if op.fwd and not (prefix and _hand_written(op.fwd)):
            kernel = _kernel_name(op.fwd, "fwd_" + op.name)
            lines += [f"def {prefix}fentry_{op.name}(like, p, f):",
                      f"    {SIG} = unpack(carray(like, (0,)), p, f)",
                      f"    {prefix}{kernel}({FSIG})", "", ""]
    return "\n".join(lines)


def _hand_written(rule):
    return isinstance(rule, str) and rule.startswith("kernel:")


def takes_fresh(op):
    """Does op's VJP kernel take the sweep's FRESH bits? Every elementwise
    one does; a hand-written one does when its last parameter is `fresh`."""
    if isinstance(op.vjp, tuple):
        return True
    if not _hand_written(op.vjp) or op.name in SWEEP_HANDLES:
        return False
    module, name = op.vjp.split(":", 1)[1].split(".")
    tree = ast.parse((HERE / f"{module}.py").read_text())
    kernel = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == name)
    return kernel.args.args[-1].arg == "fresh"


def digest():
    h = hashlib.sha256()
    for name in HAND_WRITTEN:
        h.update((HERE / name).read_bytes())
    for name in DIGESTED:            # they inline each other (replay.py: sweep.py's packing)
        h.update("".join(line for line in (HERE / name).read_text().splitlines(keepends=True)
                         if not line.startswith("KERNELS_DIGEST =")).encode())
    h.update(repr([(op.name, op.arity, op.vjp, op.fwd) for op in OPS]).encode())
    return h.hexdigest()[:16]


def source():
    by_module = {}
    for op in OPS:
        for rule in (op.vjp, op.fwd):
            if _hand_written(rule) and op.name not in SWEEP_HANDLES:
                module, name = rule.split(":", 1)[1].split(".")
                by_module.setdefault(module, set()).add(name)
    parts = [
        f'"""GENERATED by kernels/generate.py from tapegrad/optable.py: do not edit.\n\n'
        f'Kernels digest: {digest()}\n"""',
        "from math import atan2, erf\n\nfrom numba import carray\n"
        f"from numpy import {', '.join(NUMPY_MATH)}\n",
        "from .jit import jit",
        "from .memory import FRESH, bindex, unpack",
        *(f"from .{m} import {', '.join(sorted(names))}" for m, names in sorted(by_module.items())),
        f"from .scalar import {', '.join(SCALAR_HELPERS)}",
        "",
        "",
    ]
    vjps, fwds = _elementwise_ops()
    parts += [_elementwise(op) + "\n\n" for op in vjps]
    parts += [_elementwise_fwd(op) + "\n\n" for op in fwds]
    parts.append(f"PARALLEL = {tuple(op.name for op in vjps)!r}   # ops in parallel.py: entries\n"
                 f"PARALLEL_FWD = {tuple(op.name for op in fwds)!r}   # and forward entries\n"
                 f"TAKE_FRESH = {tuple(op.name for op in OPS if takes_fresh(op) and op not in vjps)!r}"
                 "   # hand-written VJPs taking FRESH\n\n")
    parts += [_scalar_fwd() + "\n\n", _scalar_vjp() + "\n\n"]
    parts.append(_entries())
    return "\n".join(parts).rstrip("\n") + "\n"


def _elementwise_ops():
    """(ops with an elementwise VJP kernel, ops with an elementwise forward)."""
    return ([op for op in OPS if isinstance(op.vjp, tuple)],
            [op for op in OPS if op.fwd and not _hand_written(op.fwd)])


def parallel_source():
    """kernels/parallel.py: the parallel drivers and entries, in a module
    of their own that only a large array imports (their dispatchers would
    add to every import of tapegrad)."""
    vjps, fwds = _elementwise_ops()
    parts = [
        f'"""GENERATED by kernels/generate.py from tapegrad/optable.py: do not edit.\n\n'
        "The elementwise kernels of interpreter.py run on blocks of elements\n"
        "spread over Numba's threads (registry.py imports this on first use).\n\n"
        f'Kernels digest: {digest()}\n"""',
        "from numba import carray, prange\n",
        "from .interpreter import " + ", ".join(
            [f"vjp_{op.name}" for op in vjps] + [f"fwd_{op.name}" for op in fwds]),
        "from .jit import jit",
        "from .memory import FRESH, cut, unpack",
        "",
        "",
    ]
    parts += [_parallel("vjp", op) + "\n\n" for op in vjps]
    parts += [_parallel("fwd", op) + "\n\n" for op in fwds]
    parts.append(_entries("p"))
    return "\n".join(parts).rstrip("\n") + "\n"


# Hand-written files whose cached functions inline code or constants from the
# others: each carries a KERNELS_DIGEST line, rewritten here, so an edit
# anywhere in kernels/ invalidates their caches too.
DIGESTED = ("sweep.py", "lifetime.py", "replay.py")


def with_digest(name):
    """The text of kernels/`name` with its KERNELS_DIGEST line brought up to date."""
    lines = (HERE / name).read_text().splitlines(keepends=True)
    return "".join(f'KERNELS_DIGEST = "{digest()}"\n' if line.startswith("KERNELS_DIGEST =")
                   else line for line in lines)


if __name__ == "__main__":
    (HERE / "interpreter.py").write_text(source())
    (HERE / "parallel.py").write_text(parallel_source())
    for name in DIGESTED:
        (HERE / name).write_text(with_digest(name))
    print("wrote interpreter.py, parallel.py and the digests of " + ", ".join(DIGESTED))
