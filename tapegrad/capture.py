"""What the front end tells a step being recorded for replay (replay.py).

While a Recorder is active on this thread, every op records on the step's
own tape, also without grad, and the places where Python could see or
change a tensor outside the tape report here:

  guard()    Python read a value (item(), float(), bool(), an index tensor):
             replay compares it and falls back to a normal call if it changed
  checked()  library code computed a constant from tensor values (nll_loss's
             count of counted targets): replay recomputes and compares it
  call()     backward(), an optimizer's step() or zero_grad(), a scheduler's
             step(), a .grad assignment: replay makes the same call again
  assign()   an in-place change without grad: a record that copies the new
             value into the tensor's memory
  refuse()   anything else (a NumPy view of the data, random numbers, a
             custom Function, printing): the step is not replayable, and
             runs normally every call after a one-time warning

A recorder paused inside a call() sees nothing: the call replays whole.
"""
import functools
import threading

import numpy as np

_local = threading.local()
RECORDING = [0]          # threads recording now: hot paths test this first


def active():
    """This thread's recorder, or None (also while it is paused)."""
    if not RECORDING[0]:
        return None
    r = getattr(_local, "recorder", None)
    return r if r is not None and not r.paused else None


def refuse(why):
    r = active()
    if r is not None:
        r.refuse(why)


def guard(t, what):
    r = active()
    if r is not None:
        r.guard(t, what)


def checked(fn):
    """fn(), a Python value computed from tensor values."""
    r = active()
    return fn() if r is None else r.checked(fn)


def replayed(method=None, *, effect=True):
    """Decorator: inside a recorded step, `method` is a call() the replay
    makes again. effect=False: making it twice changes nothing more
    (zero_grad), so values read after it can still be guarded."""
    if method is None:
        return functools.partial(replayed, effect=effect)

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        r = active()
        if r is None:
            return method(*args, **kwargs)
        return r.call(method, args, kwargs, effect)
    return wrapper


class Recorder:
    """The program of one recorded step: a list of steps, each
    ("run", first record, end record), ("guard", ref, value),
    ("check", fn, value) or ("call", method, args, kwargs)."""

    def __init__(self, tape):
        self.tape = tape
        self.steps = []
        self.start = 0           # first record not yet in a "run" step
        self.paused = 0
        self.why = None          # why the step is not replayable
        self.effects = False     # has the step changed anything outside itself yet?
        self.leaves = []         # (slot, ref): leaf slots made while recording
        self.grads = {}          # id(grad tensor) -> (owner, grad): .grad reads

    def __enter__(self):
        _local.recorder = self
        RECORDING[0] += 1
        return self

    def __exit__(self, *exc):
        RECORDING[0] -= 1
        _local.recorder = None
        self.cut()

    def refuse(self, why):
        if self.why is None:
            self.why = why

    def cut(self):
        n = self.tape.n_rec
        if n > self.start:
            self.steps.append(("run", self.start, n))
            self.start = n

    def _late(self, what):
        """A value read after the step changed things cannot be guarded: a
        changed value would need the changes undone to fall back."""
        if self.effects:
            self.refuse(f"it reads a tensor's value ({what}) after backward(), an optimizer step "
                        "or an in-place update. Return the tensor and read it outside the step")
        return self.effects

    def guard(self, t, what):
        if not self._late(what):
            self.cut()
            self.steps.append(("guard", self.ref(t), np.array(t._data, copy=True)))

    def checked(self, fn):
        value = fn()
        if not self._late("a constant computed from tensor values"):
            self.cut()
            self.steps.append(("check", fn, value))
        return value

    def call(self, method, args, kwargs, effect=True):
        self.cut()
        self.effects = self.effects or effect
        self.steps.append(("call", method, args, kwargs))
        before = self.tape.n_rec
        self.paused += 1
        try:
            return method(*args, **kwargs)
        finally:
            self.paused -= 1
            if self.tape.n_rec != before:
                self.refuse(f"{method.__qualname__} recorded ops of its own")
            self.start = self.tape.n_rec

    def note_grad(self, owner, grad):
        if grad is not None:
            self.grads[id(grad)] = (owner, grad)

    def leaf(self, s, t):
        self.leaves.append((s, self.ref(t)))

    def ref(self, t):
        """How replay finds tensor t again: a .grad read is the owner's
        .grad at that time (backward may have made a new one)."""
        owner = self.grads.get(id(t))
        return ("grad", owner[0]) if owner is not None and owner[1] is t else ("tensor", t)


def resolve(ref):
    kind, t = ref
    return t.grad if kind == "grad" else t
