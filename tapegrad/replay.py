"""Record once, replay many: tapegrad.replay(step).

The first call with tensors of given shapes and dtypes runs `step` as
usual, with every op recorded on a tape of the step's own (also ops
without grad; capture.py says what else is noted). Later calls with that
signature run no Python of `step`: the new input values are copied in, a
compiled sweep (kernels/replay.py) runs the recorded records forward
through the kernels eager code ran, and the calls the step made
(backward(), optimizer.step(), zero_grad(), a scheduler's step()) are made
again: they read the learning rates, step counts and .grad of now.

A guard that sees a different value (a branch on loss.item()) makes that
call fall back: `step` runs normally and is recorded again. A step replay
cannot run correctly (random numbers, a custom Function, a NumPy view of a
tensor, printing) runs normally on every call, after one warning.

Outputs come back as new tensors holding the values (detached), or the
very tensors the step returned when those are parameters or other leaves.
"""
import functools
import warnings

import numpy as np

from . import capture, eager
from .kernels import layout as L
from .kernels import sweep
from .kernels.memory import address
from .optable import CODE, OPS
from .record import new
from .tape import Tape, _local
from .tensor import Tensor

CACHE = 8                   # recordings kept per step, by input signature
FALLBACKS_TO_WARN = 3       # fallbacks in a row before the one warning
_NEVER = (1 << 62, 1 << 62)  # a step's tape is never reclaimed: its records are the program
TO_COPY = CODE["to_copy"]
_ELEMENTWISE = np.array([bool(op.fwd) and not op.fwd.startswith("kernel:")
                         and isinstance(op.vjp, tuple) for op in OPS])
_VECTOR_MATH = np.array(eager.VECTOR_MATH)


def replay(fn):
    """fn, recorded on its first call and replayed on later ones (see the
    module's docstring). Also a decorator."""
    return Replayed(fn)


class Replayed:
    def __init__(self, fn):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.programs = {}          # signature -> Program, oldest first
        self.replay_stats = dict(recordings=0, replays=0, fallbacks=0, unreplayable=0)
        self._in_a_row = 0
        self._warned = set()

    def __call__(self, *args, **kwargs):
        key = _signature(args, kwargs)
        if key is None or capture.active() is not None:   # unhashable arguments, or nested
            return self.fn(*args, **kwargs)
        program = self.programs.get(key)
        if program is not None and program.why is not None:
            self.replay_stats["unreplayable"] += 1
            return self.fn(*args, **kwargs)
        if program is not None:
            result = program.run(args, kwargs)
            if result is not _FALLBACK:
                self.replay_stats["replays"] += 1
                self._in_a_row = 0
                return result
            self.replay_stats["fallbacks"] += 1
            self._in_a_row += 1
            if self._in_a_row == FALLBACKS_TO_WARN:
                self._warn("keeps falling back: a value it reads (item(), float(), bool(), an index "
                           "tensor) changes from call to call, so every call runs the step's "
                           "Python. To replay a step that logs its loss, return the loss and read "
                           "it outside the step.")
        return self._record(key, args, kwargs)

    def _record(self, key, args, kwargs):
        self.programs.pop(key, None)
        program = Program(self.fn)
        result = program.record(args, kwargs)
        self.replay_stats["recordings"] += 1
        if program.why is not None:
            self._warn(f"is not replayable: {program.why}. It runs normally on every call.")
        self.programs[key] = program
        while len(self.programs) > CACHE:
            del self.programs[next(iter(self.programs))]
        return result

    def _warn(self, what):
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(f"tapegrad.replay: {self.fn.__qualname__} {what}", RuntimeWarning,
                          stacklevel=3)


_FALLBACK = object()


def _signature(args, kwargs):
    """The key of a recording: each tensor's shape, dtype and requires_grad
    (a tensor that requires grad, such as a parameter, by identity), other
    arguments by value."""
    def one(x):
        if isinstance(x, Tensor):
            return (Tensor, x.shape, x.dtype.name, x._rg, id(x) if x._rg else None)
        if isinstance(x, (list, tuple)):
            return (type(x), tuple(one(v) for v in x))
        return x
    key = (tuple(one(a) for a in args), tuple(sorted((k, one(v)) for k, v in kwargs.items())))
    try:
        hash(key)
    except TypeError:
        return None
    return key


class Program:
    """One recorded step: its tape, its steps (capture.Recorder) and how to
    rebuild its outputs."""

    def __init__(self, fn):
        self.fn = fn
        self.why = None

    # -- recording ----------------------------------------------------------
    def record(self, args, kwargs):
        tape = self.tape = Tape()
        tape._reclaim_at = _NEVER
        tape.plans = {}
        outer = getattr(_local, "tape", None)
        self.inputs = []                       # (private tensor, the caller's tensor)
        args, kwargs = self._private(args), {k: self._private(kwargs[k]) for k in sorted(kwargs)}
        recorder = tape.recorder = capture.Recorder(tape)
        _local.tape = tape
        try:
            with recorder:
                result = self.fn(*args, **kwargs)
        finally:
            _local.tape = outer
            tape.recorder = None
        self.leaves = recorder.leaves
        self.steps = recorder.steps
        self.why = recorder.why or self._unreplayable_op()
        self.outputs = _map(result, lambda x: self._output(x, recorder))
        for mine, theirs in self.inputs:     # changed in place: the caller sees it, once
            if mine._vc is not None and mine._vc[0]:
                np.copyto(theirs._data, mine._data)
                self.why = self.why or "it changes an argument in place"
        self.inputs = [mine for mine, _ in self.inputs]
        if self.why is None:
            self._mark_inline()
            eager.compile_forward(tape, slice(0, tape.n_rec))
        return _unmap(self.outputs)

    def _private(self, x):
        """An argument tensor without grad becomes a private copy the step
        reads, refilled with the new values on each replay."""
        if isinstance(x, (list, tuple)):
            return type(x)(self._private(v) for v in x)
        if not isinstance(x, Tensor) or x._rg:
            return x
        mine = new(np.array(x._data, order="C"))
        self.inputs.append((mine, x))
        return mine

    def _unreplayable_op(self):
        tape = self.tape
        for code in set(tape.rec_i[:tape.n_rec, L.OP].tolist()):
            if code != TO_COPY and not OPS[code].fwd:
                return f"it runs {OPS[code].name}, which has no compiled forward yet"
        return None

    def _mark_inline(self):
        """Records of one-element values of an elementwise op run inline in
        the sweeps (kernels/replay.py), without an entry point's call; those
        eager ran through NumPy (eager.numpy_math) run through NumPy again."""
        tape = self.tape
        rec = tape.rec_i[:tape.n_rec]
        slots = rec[:, [L.A, L.B, L.C, L.OUT]]
        numel = np.where(slots < 0, 0, tape.shapes[tape.slot_i[slots, L.SHAPE], L.NUMEL])
        ones = ((slots < 0) | (numel == 1)).all(axis=1)
        rec[ones & _ELEMENTWISE[rec[:, L.OP]], L.STATE] |= L.INLINE
        largest = numel[:, :3].max(axis=1)
        for r in np.flatnonzero(_VECTOR_MATH[rec[:, L.OP]]).tolist():
            if eager.numpy_math(int(rec[r, L.OP]), int(largest[r])):
                rec[r, L.STATE] |= L.NUMPY

    @staticmethod
    def _output(x, recorder):
        if not isinstance(x, Tensor):
            return ("value", x)
        if x._rg and x.is_leaf:
            return ("same", x)
        return ("copy", recorder.ref(x))

    # -- replaying ----------------------------------------------------------
    def run(self, args, kwargs):
        for mine, x in zip(self.inputs, _tensors((args, kwargs))):
            np.copyto(mine._data, x._data)
        tape = self.tape
        outer = getattr(_local, "tape", None)
        _local.tape = tape
        scratch = sweep.scratch()
        try:
            tape.rec_i[:tape.n_rec, L.STATE] &= ~L.FREED        # backward freed them last time
            for step in self.steps:
                kind = step[0]
                if kind == "run":
                    if not self._refresh_leaves():
                        return _FALLBACK
                    eager.run_forward(tape, step[1], step[2], scratch)
                elif kind == "guard":
                    now = capture.resolve(step[1])
                    if now is None or not np.array_equal(now._data, step[2], equal_nan=True):
                        return _FALLBACK
                elif kind == "check":
                    if step[1]() != step[2]:
                        return _FALLBACK
                else:
                    step[1](*step[2], **step[3])
        finally:
            _local.tape = outer
        return _unmap(self.outputs)

    def _refresh_leaves(self):
        """Point each leaf slot at its tensor's data now (a parameter given
        new .data, a .grad backward made anew). False: a leaf changed shape
        or dtype, so the step must run normally."""
        tape = self.tape
        for s, ref in self.leaves:
            t = capture.resolve(ref)
            old = tape.arrays[s]
            if t is None or t._data.shape != old.shape or t._data.dtype != old.dtype:
                return False
            data = t._data
            if data is old:
                continue
            if data.flags.c_contiguous:
                tape.arrays[s] = data
                tape.slot_i[s, L.ADDR] = address(data)
            else:
                np.copyto(old, data)
        return True


def _tensors(x):
    """The argument tensors without grad, in the order _private met them."""
    if isinstance(x, Tensor):
        return [] if x._rg else [x]
    if isinstance(x, dict):
        return [t for k in sorted(x) for t in _tensors(x[k])]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _tensors(v)]
    return []


def _map(x, f):
    if isinstance(x, tuple) and not isinstance(x, Tensor):
        return ("tuple", type(x), [_map(v, f) for v in x])
    if isinstance(x, list):
        return ("list", list, [_map(v, f) for v in x])
    if isinstance(x, dict):
        return ("dict", type(x), {k: _map(v, f) for k, v in x.items()})
    return f(x)


def _unmap(m):
    kind = m[0]
    if kind in ("tuple", "list"):
        return m[1](_unmap(v) for v in m[2])
    if kind == "dict":
        return m[1]((k, _unmap(v)) for k, v in m[2].items())
    if kind == "copy":
        t = capture.resolve(m[1])
        return None if t is None else new(t._data.copy())
    return m[1]
