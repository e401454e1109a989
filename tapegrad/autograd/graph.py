"""grad_fn objects: thin views of a record, made on access.

A node holds its output slot (one count in tape.refs), which keeps the
record and its history alive as long as the node is, as PyTorch's grad_fn
keeps its graph alive.
"""
import weakref

from ..kernels import layout as L
from ..optable import OPS

_classes = {}

# The inputs torch lists in next_functions, where they differ from the
# record's first `arity` columns: a Python number of + - * / shows as
# (None, 0) (NUMBER), a condition or mask is no input, and nn.Linear's
# AddmmBackward0 lists bias, input, weight.
NUMBER = -2
_INPUTS = {"add_scalar": (L.A, NUMBER), "sub_scalar": (L.A, NUMBER),
           "mul_scalar": (L.A, NUMBER), "div_scalar": (L.A, NUMBER),
           "rdiv_scalar": (L.A, NUMBER), "where": (L.A, L.B), "masked_fill": (L.A,),
           "nll_loss": (L.A,), "linear": (L.C, L.A, L.B)}

# Nodes torch has where tapegrad's record does two things at once: F.linear
# transposes the weight (TBackward0) before addmm / mm, and reshape of a
# non-contiguous tensor clones it (CloneBackward0) before its unsafe view.
# next_functions shows them, made up (see Made), at that input's position.
_MADE = {"linear": (2, "TBackward0"), "linear_nobias": (1, "TBackward0"),
         "unsafe_view": (0, "CloneBackward0")}

# One view per slot while it lives, so `y.grad_fn is y.grad_fn` as in torch.
_views = weakref.WeakKeyDictionary()     # tape -> {slot: Node} (weak values)
_accumulators = weakref.WeakKeyDictionary()   # tape -> {slot: AccumulateGrad}
_made = weakref.WeakKeyDictionary()     # tape -> {output slot: Made}


class Node:
    __slots__ = ("_tape", "_slot", "__weakref__")
    _where = ""      # torch names a custom Function's node by its module in repr

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{self._where}{self.name()} object at {id(self):#x}>"

    @property
    def _rec(self):
        return int(self._tape.slot_i[self._slot, L.REC])

    @property
    def next_functions(self):
        tape, r = self._tape, self._rec
        out = []
        op = OPS[tape.rec_i[r, L.OP]]
        if op.name == "function":     # a custom Function lists its inputs in slot c
            inputs = tape.arrays[int(tape.rec_i[r, L.C])].tolist()
        else:
            cols = _INPUTS.get(op.name, (L.A, L.B, L.C)[:op.arity])
            inputs = [-1 if col == NUMBER else int(tape.rec_i[r, col]) for col in cols]
        for s in inputs:
            if s < 0:
                out.append((None, 0))
                continue
            if tape.slot_i[s, L.REC] >= 0:
                out.append((node(tape, s), 0))
            elif tape.slot_i[s, L.FLAGS] & L.RG:
                out.append((accumulator(tape, s), 0))
            else:
                out.append((None, 0))
        made = _MADE.get(op.name)
        if made is not None and out[made[0]][0] is not None:
            i, name = made
            out[i] = (_made_node(tape, self._slot, name, out[i][0]), 0)
        return tuple(out)

    def __del__(self):
        self._tape.release(self._slot)


class AccumulateGrad:
    """The node that adds a leaf's gradient into its .grad."""
    __slots__ = ("variable", "__weakref__")
    next_functions = ()

    def __init__(self, tape, s):
        ref = tape.owners.get(s)
        self.variable = ref and ref()

    def name(self):
        return "torch::autograd::AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


class Made:
    """A node torch has and tapegrad has no record for (see _MADE): it only
    shows the graph as torch's, its one next function the input's."""
    __slots__ = ("_next", "__weakref__")

    def __init__(self, fn):
        self._next = ((fn, 0),)

    @property
    def next_functions(self):
        return self._next

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"


def _made_node(tape, out_slot, name, fn):
    cache = _made.get(tape)
    if cache is None:
        cache = _made[tape] = weakref.WeakValueDictionary()
    n = cache.get(out_slot)
    if n is None or n._next[0][0] is not fn:
        cls = _classes.get(("made", name))
        if cls is None:
            cls = _classes["made", name] = type(name, (Made,), {"__slots__": ()})
        n = cache[out_slot] = cls(fn)
    return n


def accumulator(tape, s):
    """Leaf slot s's AccumulateGrad: the same object while it lives and
    its leaf still owns the slot."""
    cache = _accumulators.get(tape)
    if cache is None:
        cache = _accumulators[tape] = weakref.WeakValueDictionary()
    acc = cache.get(s)
    ref = tape.owners.get(s)
    if acc is None or acc.variable is not (ref and ref()):
        acc = cache[s] = AccumulateGrad(tape, s)
    return acc


def node(tape, slot):
    cache = _views.get(tape)
    if cache is None:
        cache = _views[tape] = weakref.WeakValueDictionary()
    n = cache.get(slot)
    if n is not None and n._rec >= 0:
        return n
    n = cache[slot] = _new_node(tape, slot)
    return n


def _new_node(tape, slot):
    r = tape.slot_i[slot, L.REC]
    name = OPS[tape.rec_i[r, L.OP]].grad_fn
    where = ""
    if name == "FunctionBackward":       # a custom Function: named after its class
        name = tape.functions[int(tape.rec_k[r])]._name
        where = "tapegrad.autograd.function."
    cls = _classes.get((where, name))
    if cls is None:
        cls = _classes[where, name] = type(name, (Node,), {"__slots__": (), "_where": where})
    n = object.__new__(cls)
    n._tape, n._slot = tape, slot
    tape.hold(slot)
    return n
