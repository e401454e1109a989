"""Pictures of the autograd graph, in the layout of torchviz's make_dot.

    from tapegrad.viz import make_dot, to_dot
    y = x + 2
    make_dot(y, params={"x": x}).render("graph", format="png")   # graph.png
    print(to_dot(y))                                             # DOT text

What is drawn (as torchviz draws it):

  - the output tensor(s): darkolivegreen1 boxes labelled with their shape
  - each backward op: a lightgrey box with its grad_fn name (AddBackward0);
    a Python number in `x + 2` is folded into the op, so it has no box
  - each leaf that requires grad: an AccumulateGrad box fed by a lightblue
    box with the leaf's name (from `params`) and shape, e.g. "x\\n (2, 2)"
  - with show_saved=True, the tensors an op saved for its backward: orange
    boxes joined to the op by an undirected edge

Edges run from inputs towards the output, as the forward pass did.

The graph is walked through the public views only (tensor.grad_fn,
fn.next_functions, AccumulateGrad.variable), so the walk is the same for
PyTorch tensors and does not depend on how the tape stores its records.
Two things the views do not offer yet are read from the view's own fields
here: a stable identity for a grad_fn view (each access makes a new view
object, where PyTorch returns the same one) and the saved tensors (PyTorch
exposes them as `_saved_*` attributes; see _saved).

to_dot needs nothing beyond tapegrad. make_dot returns a graphviz.Digraph and
needs the graphviz Python package (`pip install "tapegrad[viz]"`); rendering
it to SVG or PNG also needs Graphviz's `dot` program on PATH.
"""
import re

__all__ = ["make_dot", "to_dot"]

# torchviz's settings, so the pictures look the same.
NODE_ATTR = {"style": "filled", "shape": "box", "align": "left", "fontsize": "10",
             "ranksep": "0.1", "height": "0.2", "fontname": "monospace"}
OUTPUT_COLOR = "darkolivegreen1"
LEAF_COLOR = "lightblue"
SAVED_COLOR = "orange"
SAVED_PREFIX = "_saved_"

INSTALL_PACKAGE = ('tapegrad.viz.make_dot needs the graphviz Python package: pip install graphviz '
                   '(or pip install "tapegrad[viz]"). tapegrad.viz.to_dot(output) gives the DOT '
                   'text without it.')
INSTALL_DOT = ("Graphviz's `dot` program was not found on PATH (tried {!r}); it is needed to "
               "render the graph to SVG or PNG. Install Graphviz: apt-get install graphviz "
               "(Debian/Ubuntu), brew install graphviz (macOS), conda install graphviz, or see "
               "https://graphviz.org/download/. Without it, to_dot(output) or Digraph.source "
               "still give the DOT text.")


# -- the description: a list of DOT statements, built once, printed twice ---

class _Description:
    """Nodes and edges in the order torchviz adds them."""

    def __init__(self):
        self.body = []          # ("node", name, label, attrs) | ("edge", tail, head, attrs)

    def node(self, name, label, **attrs):
        self.body.append(("node", name, label, attrs))

    def edge(self, tail, head, **attrs):
        self.body.append(("edge", tail, head, attrs))

    def graph_attr(self):
        # torchviz's resize_graph: 0.15 inch per statement, at least 12.
        size = max(12, round(len(self.body) * 0.15, 2))
        return {"size": f"{size:g},{size:g}"}


def _shape_str(shape):
    return "(" + ", ".join("%d" % v for v in shape) + ")"


def _tensor_label(name, shape):
    return "%s\n %s" % (name, _shape_str(shape))


def _tensor_key(t):
    """One node per tensor value. A tapegrad tensor is named by its tape
    slot, so a leaf reached through AccumulateGrad, passed in `params` and
    saved by an op is one box; other tensors by identity, as torchviz does."""
    slot = getattr(t, "_slot", -1)
    if isinstance(slot, int) and slot >= 0:
        return ("slot", id(t._tape), slot)
    return ("id", id(t))


def _fn_key(fn):
    """The identity of a grad_fn. A tapegrad view is made anew on every
    access, so it is named by the slot it is a view of; an AccumulateGrad by
    its leaf; anything else (PyTorch's nodes) by identity."""
    variable = getattr(fn, "variable", None)
    if variable is not None:
        return ("acc",) + _tensor_key(variable)
    slot = getattr(fn, "_slot", None)
    if isinstance(slot, int) and hasattr(fn, "_tape"):
        return ("fn", id(fn._tape), slot)
    return ("obj", id(fn))


def _param_names(params):
    """{tensor key: name} from a dict name -> tensor, an object with
    named_parameters() (a Module), or an iterable of (name, tensor) pairs."""
    if params is None:
        return {}, []
    if hasattr(params, "named_parameters"):
        items = params.named_parameters()
    elif hasattr(params, "items"):
        items = params.items()
    else:
        items = params
    names, keep = {}, []
    for name, t in items:
        if not hasattr(t, "shape"):
            raise TypeError(f"make_dot: params must map names to tensors; {name!r} maps to "
                            f"{type(t).__name__}")
        names[_tensor_key(t)] = str(name)
        keep.append(t)
    return names, keep


# -- saved tensors ----------------------------------------------------------

# What tapegrad's op table calls the inputs a rule reads, in PyTorch's words
# (MulBackward0._saved_self, ._saved_other, ExpBackward0._saved_result).
_SAVED_NAMES = {"a": "self", "b": "other", "c": "c", "y": "result"}
_SAVED_RENAMES = {"PowBackward1": {"b": "exponent"}}


def _saved(fn, fn_key):
    """(attribute, key, shape) for each tensor `fn` saved for its backward.

    PyTorch's nodes expose them as `_saved_*` attributes; tapegrad's views do
    not (yet), so for those the op table says which inputs the rule reads
    (Op.saves) and the view's record says which slots those are. A record
    whose graph backward has freed saves nothing any more; PyTorch raises on
    reading it, torchviz then fails, here it is drawn without saved boxes.
    """
    out = []
    attrs = [a for a in dir(fn) if a.startswith(SAVED_PREFIX)]
    if attrs:
        for attr in attrs:
            val = getattr(fn, attr)
            attr = attr[len(SAVED_PREFIX):]
            if _is_tensor(val):
                out.append((attr, _tensor_key(val), val.shape, val))
            elif isinstance(val, tuple):
                out += [("%s[%d]" % (attr, i), _tensor_key(t), t.shape, t)
                        for i, t in enumerate(val) if _is_tensor(t)]
        return out
    if not (hasattr(fn, "_tape") and hasattr(fn, "_slot")):
        return out
    from .kernels import layout as L
    from .optable import OPS
    tape, r = fn._tape, fn._rec
    if tape.rec_i[r, L.STATE] & L.FREED:
        return out
    op = OPS[tape.rec_i[r, L.OP]]
    names = dict(_SAVED_NAMES, **_SAVED_RENAMES.get(op.grad_fn, {}))
    for which, col in (("a", L.A), ("b", L.B), ("c", L.C)):
        if which in op.saves:
            s = int(tape.rec_i[r, col])
            array = tape.value(s)
            if array is not None:
                out.append((names[which], ("slot", id(tape), s), array.shape, None))
    if "y" in op.saves:
        array = tape.value(fn._slot)
        if array is not None:
            # PyTorch hands out a new tensor for a saved output on every
            # access, so torchviz draws it apart from the output's box.
            out.append((names["y"], ("result",) + fn_key, array.shape, None))
    return out


def _is_tensor(x):
    return hasattr(x, "grad_fn") and hasattr(x, "shape")


# -- the walk ---------------------------------------------------------------

def _describe(output, params=None, show_saved=False):
    names, keep = _param_names(params)
    dot = _Description()
    ids = {}                 # key -> DOT node name
    seen = set()             # keys already drawn (tensors) or walked (grad_fns)
    saved = {}               # key of a saved tensor -> its label, drawn at the end
    saved_edges = []         # (index in dot.body, key) of the edges to saved tensors

    def node_name(key):
        name = ids.get(key)
        if name is None:
            name = ids[key] = "n%d" % len(ids)
        return name

    def var_label(t, key):
        return _tensor_label(names.get(key, ""), t.shape)

    def add_nodes(fn):
        """torchviz's add_nodes, as a generator yielding the functions to
        walk next, so a long graph does not hit Python's recursion limit."""
        key = _fn_key(fn)
        if key in seen:
            return
        seen.add(key)
        keep.append(fn)                  # keeps ids unique while we walk
        me = node_name(key)
        if show_saved:
            for attr, skey, shape, val in _saved(fn, key):
                keep.append(val)
                saved.setdefault(skey, _tensor_label(attr, shape))
                saved_edges.append((len(dot.body), skey))
                dot.edge(me, node_name(skey), dir="none")
        if hasattr(fn, "variable"):      # AccumulateGrad: draw its leaf
            var = fn.variable
            if var is not None:
                vkey = _tensor_key(var)
                keep.append(var)
                if vkey not in seen:
                    seen.add(vkey)
                    dot.node(node_name(vkey), var_label(var, vkey), fillcolor=LEAF_COLOR)
                dot.edge(node_name(vkey), me)
        dot.node(me, type(fn).__name__)
        for u, _ in getattr(fn, "next_functions", ()):
            if u is not None:
                dot.edge(node_name(_fn_key(u)), me)
                yield u

    def walk(fn):
        stack = [add_nodes(fn)]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
            else:
                stack.append(add_nodes(nxt))

    def add_base_tensor(var, color=OUTPUT_COLOR):
        key = _tensor_key(var)
        if key in seen:
            return
        seen.add(key)
        keep.append(var)
        dot.node(node_name(key), var_label(var, key), fillcolor=color)
        fn = var.grad_fn
        if fn is not None:
            walk(fn)
            dot.edge(node_name(_fn_key(fn)), node_name(key))
        is_view = getattr(var, "_is_view", None)
        if is_view is not None and is_view():
            add_base_tensor(var._base, color="darkolivegreen3")
            dot.edge(node_name(_tensor_key(var._base)), node_name(key), style="dotted")

    outputs = output if isinstance(output, (tuple, list)) else (output,)
    for v in outputs:
        if not _is_tensor(v):
            raise TypeError(f"make_dot: expected a tensor or a tuple of tensors, got "
                            f"{type(v).__name__}")
        add_base_tensor(v)
    # A saved tensor that has a box of its own (a leaf, an output) keeps it
    # and its colour; the undirected edge then does not pull it below the op
    # (torchviz draws such a tensor twice and lets the last colour win). The
    # others get an orange box named after the attribute that saved them.
    for i, skey in saved_edges:
        if skey in seen:
            dot.body[i][3]["constraint"] = "false"
    for skey, label in saved.items():
        if skey not in seen:
            dot.node(node_name(skey), label, fillcolor=SAVED_COLOR)
    return dot


# -- DOT text ---------------------------------------------------------------

# graphviz's quoting rules (graphviz.quoting.quote), so that to_dot(y) and
# make_dot(y).source are the same text.
_ID = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*|-?(\.[0-9]+|[0-9]+(\.[0-9]*)?))$")
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}
_QUOTE = re.compile(r'(?P<bs>(?:\\{2})*)\\?(?P<q>")')


def _quote(s):
    s = str(s)
    if _ID.match(s) and s.lower() not in _KEYWORDS:
        return s
    return '"%s"' % _QUOTE.sub(r"\g<bs>\\\g<q>", s)


def _attrs(label=None, attrs=()):
    parts = [] if label is None else ["label=" + _quote(label)]
    parts += ["%s=%s" % (_quote(k), _quote(v)) for k, v in sorted(dict(attrs).items())]
    return " [%s]" % " ".join(parts) if parts else ""


def _source(dot):
    lines = ["digraph {",
             "\tgraph" + _attrs(attrs=dot.graph_attr()),
             "\tnode" + _attrs(attrs=NODE_ATTR)]
    for kind, a, b, attrs in dot.body:
        if kind == "node":
            lines.append("\t%s%s" % (_quote(a), _attrs(b, attrs)))
        else:
            lines.append("\t%s -> %s%s" % (_quote(a), _quote(b), _attrs(attrs=attrs)))
    return "\n".join(lines) + "\n}\n"


def to_dot(output, params=None, show_saved=False):
    """The DOT text of the graph that reaches `output` (a tensor or a tuple
    of tensors); needs no graphviz package. Arguments as in make_dot."""
    return _source(_describe(output, params, show_saved))


# -- graphviz ---------------------------------------------------------------

_digraph = None


def _digraph_class():
    """graphviz.Digraph, with rendering that says how to install `dot` when
    it is missing. Made on first use: importing tapegrad imports no graphviz."""
    global _digraph
    if _digraph is not None:
        return _digraph
    try:
        import graphviz
    except ImportError as e:
        raise ImportError(INSTALL_PACKAGE) from e

    class DotNotFound(graphviz.ExecutableNotFound):
        """graphviz.ExecutableNotFound (a RuntimeError), saying what to install."""
        _msg = INSTALL_DOT

    def explained(method):
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except DotNotFound:
                raise
            except graphviz.ExecutableNotFound as e:
                raise DotNotFound(["dot"]) from e
        call.__name__, call.__doc__ = method.__name__, method.__doc__
        return call

    class Digraph(graphviz.Digraph):
        __doc__ = graphviz.Digraph.__doc__
        render = explained(graphviz.Digraph.render)
        pipe = explained(graphviz.Digraph.pipe)      # also Jupyter's display
        view = explained(graphviz.Digraph.view)
        unflatten = explained(graphviz.Digraph.unflatten)

    for cls in (Digraph, DotNotFound):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    _digraph = Digraph
    return Digraph


def make_dot(output, params=None, show_saved=False):
    """A graphviz Digraph of the autograd graph that reaches `output`.

    output:     a tensor, or a tuple of tensors
    params:     names for leaves: a dict name -> tensor, a module (its
                named_parameters()), or (name, tensor) pairs
    show_saved: also draw the tensors each op saved for its backward

    Render it with `.render("graph", format="png")` (needs Graphviz's `dot`),
    or show it in Jupyter by leaving it as a cell's value.
    """
    Digraph = _digraph_class()
    desc = _describe(output, params, show_saved)
    dot = Digraph(node_attr=dict(NODE_ATTR), graph_attr=desc.graph_attr())
    for kind, a, b, attrs in desc.body:
        if kind == "node":
            dot.node(a, b, **attrs)
        else:
            dot.edge(a, b, **attrs)
    return dot
