"""tapegrad.viz: pictures of the autograd graph in torchviz's layout.

The DOT text is checked for known graphs (nodes, edges, labels, colours) and
against the same walk over PyTorch's graph of the same program; rendering is
checked where Graphviz's `dot` is installed (.ci/run installs it)."""
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch as T

import tapegrad as torch
from tapegrad import viz
from tapegrad.viz import make_dot, to_dot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "graph_picture.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")

_NODE = re.compile(r'\t(\w+) \[label=("(?:[^"\\]|\\.)*"|\w+)(?: (.*))?\]$')
_EDGE = re.compile(r"\t(\w+) -> (\w+)(?: \[(.*)\])?$")


def _attrs(text):
    return dict(kv.split("=") for kv in (text or "").split())


def parse_dot(dot):
    """DOT text -> ({name: (label, attrs)}, [(tail label, head label, attrs)]).
    A label's newline (name, then shape) is read back as the two characters \\n."""
    dot = re.sub(r"\n(?!\t|\})", r"\\n", dot)   # join a label's continuation line
    nodes, edges = {}, []
    for line in dot.splitlines():
        m = _NODE.match(line)
        if m:
            nodes[m.group(1)] = (m.group(2).strip('"'), _attrs(m.group(3)))
        elif _EDGE.match(line):
            t, h, attrs = _EDGE.match(line).groups()
            edges.append((t, h, _attrs(attrs)))
    return nodes, [(nodes[t][0], nodes[h][0], attrs) for t, h, attrs in edges]


def labels(dot):
    return sorted(label for label, _ in parse_dot(dot)[0].values())


def x_plus_2():
    x = torch.ones(2, 2, requires_grad=True)
    return x, x + 2


# -- the tutorial's graph ----------------------------------------------------

def test_x_plus_2_exact_text():
    x, y = x_plus_2()
    assert to_dot(y, params={"x": x}) == (
        'digraph {\n'
        '\tgraph [size="12,12"]\n'
        '\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box '
        'style=filled]\n'
        '\tn0 [label="\n (2, 2)" fillcolor=darkolivegreen1]\n'
        '\tn1 [label=AddBackward0]\n'
        '\tn2 -> n1\n'
        '\tn3 [label="x\n (2, 2)" fillcolor=lightblue]\n'
        '\tn3 -> n2\n'
        '\tn2 [label=AccumulateGrad]\n'
        '\tn1 -> n0\n'
        '}\n')


def test_x_plus_2_nodes_edges_and_colours():
    x, y = x_plus_2()
    nodes, edges = parse_dot(to_dot(y, params={"x": x, "y": y}))
    by_label = {label: attrs for label, attrs in nodes.values()}
    # the constant 2 is folded into AddBackward0: four boxes, no box for it
    assert sorted(by_label) == ["AccumulateGrad", "AddBackward0", "x\\n (2, 2)", "y\\n (2, 2)"]
    assert by_label["x\\n (2, 2)"] == {"fillcolor": "lightblue"}
    assert by_label["y\\n (2, 2)"] == {"fillcolor": "darkolivegreen1"}
    assert by_label["AddBackward0"] == {}           # the default fill: lightgrey
    assert sorted(edges) == [("AccumulateGrad", "AddBackward0", {}),
                             ("AddBackward0", "y\\n (2, 2)", {}),
                             ("x\\n (2, 2)", "AccumulateGrad", {})]


def test_unnamed_leaf_and_scalar_output_are_labelled_by_shape():
    x = torch.ones(3, requires_grad=True)
    out = (x * 2).sum()
    assert labels(to_dot(out)) == ["AccumulateGrad", "MulBackward0", "SumBackward0",
                                   "\\n ()", "\\n (3)"]


def test_node_attributes_are_torchviz_defaults():
    x, y = x_plus_2()
    lines = to_dot(y).splitlines()
    assert lines[1] == '\tgraph [size="12,12"]'
    assert lines[2] == ("\tnode [align=left fontname=monospace fontsize=10 height=0.2 "
                        "ranksep=0.1 shape=box style=filled]")


# -- sharing: one box per op and per leaf ------------------------------------

def test_reused_intermediate_and_leaf_are_one_box_each():
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    out = z.mean()
    nodes, edges = parse_dot(to_dot(out, params={"x": x}))
    names = sorted(label for label, _ in nodes.values())
    assert names == ["AccumulateGrad", "AddBackward0", "MeanBackward0", "MulBackward0",
                     "MulBackward0", "\\n ()", "x\\n (2, 2)"]
    # y * y: two edges from the one AddBackward0 into the first MulBackward0
    assert [e[:2] for e in edges].count(("AddBackward0", "MulBackward0")) == 2


def test_leaf_used_twice():
    x = torch.ones(2, requires_grad=True)
    nodes, edges = parse_dot(to_dot(x * x, params={"x": x}))
    assert sorted(label for label, _ in nodes.values()) == [
        "AccumulateGrad", "MulBackward0", "\\n (2)", "x\\n (2)"]
    assert [e[:2] for e in edges].count(("AccumulateGrad", "MulBackward0")) == 2


# -- the same picture as torchviz draws for PyTorch --------------------------

def _tutorial(lib):
    x = lib.ones(2, 2, requires_grad=True)
    y = x + 2
    return (y * y * 3).mean(), {"x": x}


def _mlp(lib):
    lib.manual_seed(0)
    x = lib.randn(8, 1, 3)
    target = lib.randn(8)
    W1 = lib.randn(5, 3, requires_grad=True)
    b1 = lib.zeros(5, requires_grad=True)
    w2 = lib.randn(5, requires_grad=True)
    b2 = lib.zeros(1, requires_grad=True)
    hidden = ((x * W1).sum(2) + b1).tanh()
    out = (hidden * w2).sum(1) + b2
    loss = ((out - target) ** 2).mean()
    return loss, {"W1": W1, "b1": b1, "w2": w2, "b2": b2}


def _branches(lib):
    a = lib.ones(3, requires_grad=True)
    b = lib.full((3,), 2.0, requires_grad=True)
    c = a.sin() * b + a.exp() / b - (a * b).sigmoid()
    return c.sum(), {"a": a, "b": b}


@pytest.mark.parametrize("program", [_tutorial, _mlp, _branches])
def test_same_dot_as_pytorch_graph(program):
    """The walk uses only grad_fn / next_functions / variable, so it runs on
    PyTorch's graph too: the two pictures of one program must agree."""
    out, params = program(torch)
    out_t, params_t = program(T)
    assert to_dot(out, params=params) == to_dot(out_t, params=params_t)


# -- params, outputs ---------------------------------------------------------

class _Module:
    def __init__(self, **params):
        self._params = params

    def named_parameters(self):
        return iter(self._params.items())


def test_params_as_dict_module_or_pairs():
    w = torch.ones(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    out = (w * 3 + b).sum()
    expected = to_dot(out, params={"w": w, "b": b})
    assert "w\n (2)" in expected and "b\n (2)" in expected
    assert to_dot(out, params=_Module(w=w, b=b)) == expected
    assert to_dot(out, params=[("w", w), ("b", b)]) == expected


def test_params_must_be_tensors():
    x, y = x_plus_2()
    with pytest.raises(TypeError, match="params must map names to tensors"):
        to_dot(y, params={"x": 2.0})


def test_several_outputs_share_their_graph():
    x = torch.ones(2, requires_grad=True)
    y = x.exp()
    a, b = y.sin(), y.cos()
    nodes, edges = parse_dot(to_dot((a, b), params={"x": x, "a": a, "b": b}))
    names = sorted(label for label, _ in nodes.values())
    assert names == ["AccumulateGrad", "CosBackward0", "ExpBackward0", "SinBackward0",
                     "a\\n (2)", "b\\n (2)", "x\\n (2)"]
    assert sum(1 for attrs in (a for _, a in nodes.values())
               if attrs.get("fillcolor") == "darkolivegreen1") == 2


def test_output_that_is_a_leaf_or_needs_no_grad():
    x = torch.ones(2, requires_grad=True)
    assert labels(to_dot(x, params={"x": x})) == ["x\\n (2)"]
    c = torch.ones(2) + 1
    assert labels(to_dot(c)) == ["\\n (2)"]


def test_bad_output():
    with pytest.raises(TypeError, match="expected a tensor"):
        to_dot(3.0)


def test_dropped_leaf_still_draws_its_accumulate_grad():
    y = torch.ones(2, requires_grad=True) * 2      # the leaf tensor is gone
    assert "AccumulateGrad" in labels(to_dot(y))


def test_long_graph_does_not_recurse():
    x = torch.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    nodes, edges = parse_dot(to_dot(y))
    assert len(nodes) == 3000 + 3 and len(edges) == 3000 + 2


def test_size_grows_with_the_graph():
    x = torch.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(100):
        y = y.sin()
    # torchviz's resize_graph: 0.15 per statement, at least 12
    assert '\tgraph [size="30.75,30.75"]' in to_dot(y)   # 103 nodes, 102 edges


# -- show_saved --------------------------------------------------------------

def test_show_saved_draws_saved_tensors():
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y                      # saves y (an intermediate) as self and other
    e = z.exp()                    # saves its result
    nodes, edges = parse_dot(to_dot(e, params={"x": x}, show_saved=True))
    orange = sorted(label for label, attrs in nodes.values() if attrs.get("fillcolor") == "orange")
    assert orange == ["result\\n (2, 2)", "self\\n (2, 2)"]   # y is one box, saved twice
    saved_edges = [(t, h) for t, h, attrs in edges if attrs.get("dir") == "none"]
    assert sorted(saved_edges) == [("ExpBackward0", "result\\n (2, 2)"),
                                   ("MulBackward0", "self\\n (2, 2)"),
                                   ("MulBackward0", "self\\n (2, 2)")]
    assert "orange" not in to_dot(e, params={"x": x})


def test_show_saved_leaf_keeps_its_name_and_colour():
    x = torch.ones(3, requires_grad=True)
    out = x.sin()                  # saves x itself
    nodes, edges = parse_dot(to_dot(out, params={"x": x}, show_saved=True))
    assert sorted(label for label, _ in nodes.values()) == [
        "AccumulateGrad", "SinBackward0", "\\n (3)", "x\\n (3)"]
    assert ("SinBackward0", "x\\n (3)", {"dir": "none", "constraint": "false"}) in edges


def test_show_saved_after_backward_draws_nothing_saved():
    x = torch.ones(3, requires_grad=True)
    out = (x.sin() * x).sum()
    out.backward()                 # frees the saved values, as PyTorch does
    assert "orange" not in to_dot(out, params={"x": x}, show_saved=True)
    assert labels(to_dot(out, show_saved=True)) == labels(to_dot(out))


# -- graphviz ----------------------------------------------------------------

def test_import_tapegrad_does_not_import_graphviz():
    code = "import sys, tapegrad, tapegrad.viz; print('graphviz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_to_dot_without_graphviz_and_make_dot_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)     # import graphviz fails
    monkeypatch.setattr(viz, "_digraph", None)
    x, y = x_plus_2()
    assert "AddBackward0" in to_dot(y)
    with pytest.raises(ImportError, match=r'pip install graphviz.*pip install "tapegrad\[viz\]"'):
        make_dot(y)


def test_make_dot_is_a_digraph_with_the_same_text():
    graphviz = pytest.importorskip("graphviz")
    x, y = x_plus_2()
    z = (y * y).exp().sum()
    dot = make_dot(z, params={"x": x})
    assert isinstance(dot, graphviz.Digraph)
    assert dot.source == to_dot(z, params={"x": x})
    assert make_dot(z, params={"x": x}, show_saved=True).source == to_dot(
        z, params={"x": x}, show_saved=True)


def test_rendering_without_dot_says_to_install_graphviz(monkeypatch, tmp_path):
    graphviz = pytest.importorskip("graphviz")
    x, y = x_plus_2()
    dot = make_dot(y, params={"x": x})
    monkeypatch.setenv("PATH", str(tmp_path))              # no dot on PATH
    with pytest.raises(graphviz.ExecutableNotFound, match="apt-get install graphviz") as info:
        dot.render(str(tmp_path / "g"), format="png")
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(RuntimeError, match="Install Graphviz"):
        dot.pipe(format="svg")


@needs_dot
def test_render_svg_and_png(tmp_path):
    pytest.importorskip("graphviz")
    x, y = x_plus_2()
    dot = make_dot(y, params={"x": x, "y": y})
    svg = dot.render(str(tmp_path / "g"), format="svg")
    png = dot.render(str(tmp_path / "g"), format="png")
    text = open(svg).read()
    for word in ("x", "(2, 2)", "AccumulateGrad", "AddBackward0", "y", "lightblue"):
        assert word in text
    with open(png, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    assert dot.pipe(format="png")[:8] == PNG_MAGIC


@needs_dot
def test_example_writes_both_pngs(tmp_path):
    pytest.importorskip("graphviz")
    out = tmp_path / "pictures"
    run = subprocess.run([sys.executable, EXAMPLE, "--out", str(out)], cwd=str(tmp_path),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    for name in ("xplus2.png", "mlp.png"):
        path = out / name
        assert str(path) in run.stdout
        assert path.read_bytes()[:8] == PNG_MAGIC
