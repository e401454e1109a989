"""grad_fn objects: thin views of a record, made on access.

A node holds its output slot (one count in tape.refs), which keeps the
record and its history alive as long as the node is, as PyTorch's grad_fn
keeps its graph alive.
"""
from ..kernels import layout as L
from ..optable import OPS

_classes = {}


class Node:
    __slots__ = ("_tape", "_slot")

    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

    @property
    def _rec(self):
        return int(self._tape.slot_i[self._slot, L.REC])

    @property
    def next_functions(self):
        tape, r = self._tape, self._rec
        out = []
        for col in (L.A, L.B, L.C)[:OPS[tape.rec_i[r, L.OP]].arity]:
            s = int(tape.rec_i[r, col])
            if tape.slot_i[s, L.REC] >= 0:
                out.append((node(tape, s), 0))
            elif tape.slot_i[s, L.FLAGS] & L.RG:
                out.append((AccumulateGrad(tape, s), 0))
            else:
                out.append((None, 0))
        return tuple(out)

    def __del__(self):
        self._tape.release(self._slot)


class AccumulateGrad:
    __slots__ = ("variable",)

    def __init__(self, tape, s):
        ref = tape.owners.get(s)
        self.variable = ref and ref()

    def name(self):
        return "torch::autograd::AccumulateGrad"


def node(tape, slot):
    name = OPS[tape.rec_i[tape.slot_i[slot, L.REC], L.OP]].grad_fn
    cls = _classes.get(name)
    if cls is None:
        cls = _classes[name] = type(name, (Node,), {"__slots__": ()})
    n = object.__new__(cls)
    n._tape, n._slot = tape, slot
    tape.hold(slot)
    return n
