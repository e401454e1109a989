/* tapegrad._record: the 0-d record path of tapegrad/scalars.py in C, and
 * the record of an op on arrays (record._recorded's common case).
 *
 * scalars.record (Python) is the reference: record() here returns what it
 * returns for the same arguments, and calls it wherever this file does
 * less than it does (a leaf's first use on the tape, a subclass of Tensor,
 * a value that is not finite, which Python's rule may refuse). The value
 * comes from the op table's rules compiled by Numba (interpreter.scalar_fwd
 * as a cfunc, asked for on first use), the same arithmetic and bits as the
 * Python rules and the kernels. The tape's attributes are read from its
 * instance dict, and its tables written through its memoryviews, as
 * Tape.record_scalar writes them. The grad mode and the thread's tape are
 * read from this file's copies in the thread state's dict, which
 * grad_mode._set and tape._local's setter keep.
 *
 * Op is a callable that CPython calls without binding for a dunder
 * (Py_TPFLAGS_METHOD_DESCRIPTOR) and binds as a method otherwise: Tensor's
 * binary dunders, its unary methods and __del__, each with the Python
 * function it stands in for, called for everything it does not take.
 *
 * record_array() writes what record._recorded, Tape.record and
 * Tape.new_slot write for an op on arrays requiring grad, and returns None
 * (the Python path, the reference) wherever it does less; call_forward()
 * calls a forward kernel as kernels/replay.call_forward does, without
 * Numba's dispatch of twelve arguments; collect() makes the new .grad of
 * leaves as autograd/engine._collect does, and leaves it the rest; sgd()
 * is optim.SGD.step's loop over the parameters for plain SGD.
 *
 * Optional: setup.py builds it where a C compiler is found; without it
 * tapegrad runs the Python path. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

typedef double (*rule_fn)(int64_t, double, double, double, double, double);

/* what setup() was given; the offsets of Tensor's __slots__ */
static struct {
    PyTypeObject *tensor;
    Py_ssize_t data, rg, slot, tape, grad, vc, hooks, v, dt;
    PyObject *anomaly, *recording, *python_record, *rule_address;
    rule_fn rule;
    char *has_rule;
    Py_ssize_t n_codes;
    long settle_every, in_row_flags, large;
    int off;                         /* every op the general way (scalars.off) */
    char *vjp_kinds;                 /* vjp_tables(): per op code, 1 NumPy VJP, 2 parallel VJP */
    PyObject *eager;                 /* tapegrad.eager's dict: NUMPY_FROM, PARALLEL_FROM */
    long numpy_vjp_bit, parallel_bit;
} S;

static PyObject *s_enabled, *s_tape, *s_sweeping, *s_n_rec, *s_reclaim_at, *s_settled,
    *s_held_bytes, *s_n_slots, *s_c_tables, *s_settle, *s_grad_off, *s_shape_ids, *s_large,
    *s_numpy_from, *s_parallel_from;

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))
#define ASK_PYTHON (-2)

/* Tape layout (kernels/layout.py): a slot row is 6 int64 (ADDR, SHAPE, REC,
 * FLAGS, VC_ADDR, VC_SEEN: a settled value in the last), a record row 9
 * int32 (OP, A, B, C, OUT, STATE, VER_A, VER_B, VER_C), constants 2 float64. */
enum { SLOT_COLS = 6, REC_COLS = 9 };

static PyObject *tape_dict(PyObject *tape) {
    PyObject *d = PyObject_GenericGetDict(tape, NULL);     /* (the tape keeps it) */
    Py_XDECREF(d);
    return d;
}

/* the memoryview's buffer */
static void *buffer(PyObject *view) {
    return PyMemoryView_Check(view) ? PyMemoryView_GET_BUFFER(view)->buf : NULL;
}

/* the value of version counter vc (tensor.counter: an int64 array of one),
 * or NULL where vc is not one */
static int64_t *counter(PyObject *vc) {
    return PyArray_CheckExact(vc) && PyArray_TYPE((PyArrayObject *)vc) == NPY_INT64
        ? (int64_t *)PyArray_DATA((PyArrayObject *)vc) : NULL;
}

/* scalars._operand: 1 with (value, slot, version, dtype code) of 0-d float
 * tensor x on tape; 0 where Python's is None; ASK_PYTHON where it may not be */
static int operand(PyObject *x, PyObject *tape, double *value, long *slot, long *version, int *dt) {
    if (Py_TYPE(x) != S.tensor)
        return ASK_PYTHON;
    PyObject *v = SLOT(x, S.v);
    if (v && v != Py_None) {                           /* a Scalar */
        if (SLOT(x, S.tape) != tape)
            return 0;
        PyObject *s = SLOT(x, S.slot), *code = SLOT(x, S.dt);
        if (!PyFloat_CheckExact(v) || !s || !code)
            return ASK_PYTHON;
        *value = PyFloat_AS_DOUBLE(v);
        *slot = PyLong_AsLong(s);
        *version = 0;
        *dt = (int)PyLong_AsLong(code);
        return 1;
    }
    PyObject *a = SLOT(x, S.data);
    if (!a || !PyArray_CheckExact(a))
        return ASK_PYTHON;
    int type = PyArray_TYPE((PyArrayObject *)a);
    if ((type != NPY_FLOAT32 && type != NPY_FLOAT64) || PyArray_ISBYTESWAPPED((PyArrayObject *)a)
            || PyArray_NDIM((PyArrayObject *)a))
        return 0;                                      /* (scalars._CODE has native floats only) */
    PyObject *s = SLOT(x, S.slot);
    if (SLOT(x, S.tape) != tape || !s || (*slot = PyLong_AsLong(s)) < 0)
        return ASK_PYTHON;                             /* slot_on gives it one */
    PyObject *vc = SLOT(x, S.vc);
    int64_t *count = vc && vc != Py_None ? counter(vc) : NULL;
    if (vc && vc != Py_None && !count)
        return ASK_PYTHON;
    *version = count ? (long)*count : 0;
    void *p = PyArray_DATA((PyArrayObject *)a);
    *value = type == NPY_FLOAT32 ? (double)*(float *)p : *(double *)p;
    *dt = type == NPY_FLOAT32 ? 0 : 1;
    return 1;
}

/* A tape's counters (from its instance dict) and tables (Tape.c_tables) */
typedef struct {
    long n_rec, n_slots, settled, held, reclaim_rec, reclaim_held, capacity;
    int64_t *slots, *kis;
    int32_t *refs, *recs;
    double *consts;
    PyObject *row0, *arrays, *free;
} Tables;

/* 0 where the tape is not as this file expects */
static int read_tables(PyObject *d, Tables *t) {
    PyObject *n_rec = PyDict_GetItemWithError(d, s_n_rec), *at = PyDict_GetItemWithError(d, s_reclaim_at),
             *settled = PyDict_GetItemWithError(d, s_settled), *held = PyDict_GetItemWithError(d, s_held_bytes),
             *n_slots = PyDict_GetItemWithError(d, s_n_slots), *tables = PyDict_GetItemWithError(d, s_c_tables);
    if (!n_rec || !at || !settled || !held || !n_slots || !tables || !PyTuple_CheckExact(tables)
            || PyTuple_GET_SIZE(tables) != 9 || !PyTuple_CheckExact(at) || PyTuple_GET_SIZE(at) != 2)
        return 0;
    /* slot, ref, record, constant and ki views, _row0, record capacity, arrays, free */
    t->slots = buffer(PyTuple_GET_ITEM(tables, 0));
    t->refs = buffer(PyTuple_GET_ITEM(tables, 1));
    t->recs = buffer(PyTuple_GET_ITEM(tables, 2));
    t->consts = buffer(PyTuple_GET_ITEM(tables, 3));
    t->kis = buffer(PyTuple_GET_ITEM(tables, 8));
    t->row0 = PyTuple_GET_ITEM(tables, 4);
    t->arrays = PyTuple_GET_ITEM(tables, 6);
    t->free = PyTuple_GET_ITEM(tables, 7);
    t->n_rec = PyLong_AsLong(n_rec);
    t->n_slots = PyLong_AsLong(n_slots);
    t->settled = PyLong_AsLong(settled);
    t->held = PyLong_AsLong(held);
    t->reclaim_rec = PyLong_AsLong(PyTuple_GET_ITEM(at, 0));
    t->reclaim_held = PyLong_AsLong(PyTuple_GET_ITEM(at, 1));
    t->capacity = PyLong_AsLong(PyTuple_GET_ITEM(tables, 5));
    return t->slots && t->refs && t->recs && t->consts && t->kis && PyList_CheckExact(t->free)
        && PyList_CheckExact(t->arrays) && !PyErr_Occurred();
}

/* due to reclaim or grow (Tape.record does that) */
static int due(const Tables *t) {
    return t->n_rec == t->capacity || t->n_rec >= t->reclaim_rec || t->held >= t->reclaim_held
        || (!PyList_GET_SIZE(t->free) && t->n_slots == PyList_GET_SIZE(t->arrays));
}

/* Tape.new_slot's choice of slot, taken: the free list's last, or n_slots
 * (then one more); -1 with an exception set where Python fails */
static long take_slot(PyObject *d, Tables *t) {
    Py_ssize_t n_free = PyList_GET_SIZE(t->free);
    if (n_free) {
        long s = PyLong_AsLong(PyList_GET_ITEM(t->free, n_free - 1));
        return PyList_SetSlice(t->free, n_free - 1, n_free, NULL) < 0 ? -1 : s;
    }
    PyObject *next = PyLong_FromLong(t->n_slots + 1);
    if (!next || PyDict_SetItem(d, s_n_slots, next) < 0) {
        Py_XDECREF(next);
        return -1;
    }
    Py_DECREF(next);
    return t->n_slots;
}

/* the record row r (Tape.record's _REC, _CONST and _KI), and n_rec = r + 1 */
static int write_record(PyObject *d, Tables *t, long code, long a, long b, long c, long s, long state,
                        const long *versions, double k0, double k1, long ki) {
    long r = t->n_rec;
    PyObject *next = PyLong_FromLong(r + 1);
    if (!next)
        return -1;
    int32_t *rec = t->recs + REC_COLS * r;
    rec[0] = (int32_t)code; rec[1] = (int32_t)a; rec[2] = (int32_t)b; rec[3] = (int32_t)c;
    rec[4] = (int32_t)s; rec[5] = (int32_t)state;
    rec[6] = (int32_t)versions[0]; rec[7] = (int32_t)versions[1]; rec[8] = (int32_t)versions[2];
    if (k0 != 0.0 || k1 != 0.0) {                     /* rows past n_rec are zero */
        t->consts[2 * r] = k0;
        t->consts[2 * r + 1] = k1;
    }
    if (ki)
        t->kis[r] = ki;
    int failed = PyDict_SetItem(d, s_n_rec, next) < 0;
    Py_DECREF(next);
    t->n_rec = r + 1;
    return failed ? -1 : 0;
}

/* Tape.record_scalar on tape (d: its instance dict): the new slot; -1
 * where it returns None; ASK_PYTHON where the tape is not as it expects */
static long record_scalar(PyObject *tape, PyObject *d, long code, long a, long b, double k0,
                          double value, int dt, long version_a, long version_b) {
    Tables t;
    if (!read_tables(d, &t))
        return ASK_PYTHON;
    if (due(&t))
        return -1;                                     /* record() does it */
    long r = t.n_rec;
    if (r >= t.settled + S.settle_every) {             /* as record() does */
        PyObject *done = PyObject_CallMethodOneArg(tape, s_settle, PyDict_GetItem(d, s_settled));
        if (!done)
            return ASK_PYTHON;
        Py_DECREF(done);
        t.settled = r;                                 /* (settle() sets _settled to n_rec) */
    }
    long s = take_slot(d, &t);
    if (s < 0)
        return ASK_PYTHON;
    int64_t *row = t.slots + SLOT_COLS * s;
    row[0] = PyLong_AsLong(t.row0) + s * SLOT_COLS * 8;     /* the settled word's address */
    row[1] = 0;
    row[2] = r;
    row[3] = dt | S.in_row_flags;
    row[4] = 0;
    row[5] = 0;
    if (dt == 0) {                                     /* (memcpy: no aliasing through a cast) */
        float single = (float)value;
        memcpy(&row[5], &single, sizeof single);
    } else {
        memcpy(&row[5], &value, sizeof value);
    }
    t.refs[s] = 1;
    long versions[3] = {version_a, version_b, 0};
    if (write_record(d, &t, code, a, b, -1, s, 0, versions, k0, 0.0, 0) < 0)
        return ASK_PYTHON;
    if (t.settled == r)                      /* settled already: nothing for settle() to see */
        PyDict_SetItem(d, s_settled, PyDict_GetItem(d, s_n_rec));
    return s;
}

static PyObject *ask_python(long code, PyObject *x, PyObject *y, double k0) {
    return PyObject_CallFunction(S.python_record, "lOOd", code, x, y ? y : Py_None, k0);
}

static int truthy(PyObject *o) {
    return o == Py_True ? 1 : o == Py_False ? 0 : PyObject_IsTrue(o);
}

/* A new Tensor, as record.new makes it: its _data `data` (or a Scalar's
 * value `v`), requiring grad in slot s of `tape`, or with no tape (NULL)
 * neither */
static PyObject *new_tensor(PyObject *tape, long s, PyObject *data, PyObject *v, PyObject *dt) {
    PyObject *slot = PyLong_FromLong(tape ? s : -1), *out = slot ? S.tensor->tp_alloc(S.tensor, 0) : NULL;
    if (!out) {            /* (the record stays, held by no one: reclaiming takes it back) */
        Py_XDECREF(slot);
        return NULL;
    }
    if (data)
        SLOT(out, S.data) = Py_NewRef(data);
    if (dt)
        SLOT(out, S.dt) = Py_NewRef(dt);
    SLOT(out, S.v) = Py_NewRef(v ? v : Py_None);
    SLOT(out, S.slot) = slot;
    SLOT(out, S.tape) = Py_NewRef(tape ? tape : Py_None);
    SLOT(out, S.rg) = Py_NewRef(tape ? Py_True : Py_False);
    SLOT(out, S.grad) = Py_NewRef(Py_None);
    SLOT(out, S.vc) = Py_NewRef(Py_None);
    SLOT(out, S.hooks) = Py_NewRef(Py_None);
    return out;
}

/* 1 where grad mode is on and neither anomaly mode nor a replay's
 * recording is: then record() and record_array() may take an op; -1 on error */
static int recording_here(PyObject *thread) {
    PyObject *off = thread ? PyDict_GetItemWithError(thread, s_grad_off) : NULL;   /* set_grad_enabled's */
    PyObject *anomaly = PyDict_GetItemWithError(PyModule_GetDict(S.anomaly), s_enabled);
    if (!anomaly || PyErr_Occurred())
        return -1;
    return !(off == Py_True || truthy(anomaly) || truthy(PyList_GET_ITEM(S.recording, 0)));
}

/* scalars.record(code, x, y, k0): a Scalar, or None; a new reference */
static PyObject *record(long code, PyObject *x, PyObject *y, double k0) {
    if (S.off || code < 0 || code >= S.n_codes || !S.has_rule[code])
        Py_RETURN_NONE;
    PyObject *thread = PyThreadState_GetDict();
    int here = recording_here(thread);
    if (here < 0)
        return NULL;
    if (!here)
        Py_RETURN_NONE;
    if (Py_TYPE(x) != S.tensor || (y && Py_TYPE(y) != S.tensor))
        return ask_python(code, x, y, k0);
    if (!SLOT(x, S.rg) || (y && !SLOT(y, S.rg)))
        return ask_python(code, x, y, k0);
    int rg = truthy(SLOT(x, S.rg));
    if (rg == 0 && y)
        rg = truthy(SLOT(y, S.rg));
    if (rg < 0)
        return NULL;
    if (!rg)
        Py_RETURN_NONE;
    PyObject *tape = thread ? PyDict_GetItemWithError(thread, s_tape) : NULL;   /* set_tape's */
    if (!tape || tape == Py_None) {                    /* this thread's first op: current() */
        PyErr_Clear();
        return ask_python(code, x, y, k0);
    }
    PyObject *d = tape_dict(tape), *sweeping = d ? PyDict_GetItemWithError(d, s_sweeping) : NULL;
    if (!sweeping) {
        PyErr_Clear();
        return ask_python(code, x, y, k0);
    }
    if (truthy(sweeping))
        Py_RETURN_NONE;
    double a = 0.0, b = 0.0, v;
    long sa, sb = -1, va, vb = 0;
    int da, db, got = operand(x, tape, &a, &sa, &va, &da);
    if (got == 1 && y)
        got = operand(y, tape, &b, &sb, &vb, &db);
    if (got == ASK_PYTHON || PyErr_Occurred()) {
        PyErr_Clear();
        return ask_python(code, x, y, k0);
    }
    if (!got || (y && db != da))
        Py_RETURN_NONE;
    if (!S.rule) {                                     /* compiled on first use */
        PyObject *address = PyObject_CallNoArgs(S.rule_address);
        if (!address)
            return NULL;
        S.rule = (rule_fn)PyLong_AsVoidPtr(address);
        Py_DECREF(address);
        if (!S.rule)
            return NULL;
    }
    v = S.rule(code, a, b, 0.0, k0, 0.0);
    if (!isfinite(v))                                  /* Python's rule may raise or return it */
        return ask_python(code, x, y, k0);
    if (da == 0)
        v = (double)(float)v;                          /* as a float32 kernel's store rounds */
    long s = record_scalar(tape, d, code, sa, sb, k0, v, da, va, vb);
    if (s == ASK_PYTHON) {
        PyErr_Clear();
        return ask_python(code, x, y, k0);
    }
    if (s < 0)
        Py_RETURN_NONE;
    PyObject *value = PyFloat_FromDouble(v), *dt = PyLong_FromLong(da),
             *out = value && dt ? new_tensor(tape, s, NULL, value, dt) : NULL;
    Py_XDECREF(value);
    Py_XDECREF(dt);
    return out;
}

/* eager.vjp_state: the record's STATE bits, from vjp_tables()'s copy of
 * which ops have a NumPy VJP (1) or a parallel one (2) */
static long vjp_state(long code, Py_ssize_t size, PyObject *inputs) {
    PyObject *numpy_from = PyDict_GetItemWithError(S.eager, s_numpy_from),   /* (read each time, */
             *parallel_from = PyDict_GetItemWithError(S.eager, s_parallel_from);   /* as eager's) */
    if (!numpy_from || !parallel_from)
        return -1;
    if (size < PyLong_AsSsize_t(numpy_from))
        return 0;
    if (S.vjp_kinds[code] & 1)
        return S.numpy_vjp_bit;
    if (size < PyLong_AsSsize_t(parallel_from) || !(S.vjp_kinds[code] & 2))
        return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(inputs); i++) {
        PyObject *x = SLOT(PyList_GET_ITEM(inputs, i), S.data);
        if (!x || !PyArray_Check(x) || PyArray_SIZE((PyArrayObject *)x) != size)
            return 0;
    }
    return S.parallel_bit;
}

/* record._recorded(code, inputs, data, ...) for an op requiring grad, with
 * Tape.record and Tape.new_slot, where each input has a slot on this
 * thread's tape, data is a C-contiguous ndarray of a shape the tape knows,
 * and the tape is not due to settle, reclaim or grow: the output Tensor;
 * None (for the Python path) otherwise. A new reference. */
static PyObject *record_array(PyObject *module, PyObject *const *args, Py_ssize_t n) {
    if (n != 7)
        return PyErr_Format(PyExc_TypeError, "record_array takes 7 arguments");
    PyObject *inputs = args[1], *data = args[2];
    long code = PyLong_AsLong(args[0]), flags = PyLong_AsLong(args[3]), ki = PyLong_AsLong(args[6]);
    double k0 = PyFloat_AsDouble(args[4]), k1 = PyFloat_AsDouble(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (S.off || !S.tensor || !S.vjp_kinds || !S.eager || code < 0 || code >= S.n_codes || !PyList_CheckExact(inputs)
            || PyList_GET_SIZE(inputs) > 3 || !PyArray_CheckExact(data)
            || !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)data))
        Py_RETURN_NONE;
    PyObject *thread = PyThreadState_GetDict();
    int here = recording_here(thread);
    if (here <= 0)
        return here < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *tape = thread ? PyDict_GetItemWithError(thread, s_tape) : NULL;
    PyObject *d = tape && tape != Py_None ? tape_dict(tape) : NULL;
    PyObject *sweeping = d ? PyDict_GetItemWithError(d, s_sweeping) : NULL;
    PyObject *shape_ids = d ? PyDict_GetItemWithError(d, s_shape_ids) : NULL;
    PyObject *large = d ? PyDict_GetItemWithError(d, s_large) : NULL;
    Tables t;
    if (!sweeping || !shape_ids || !PyDict_CheckExact(shape_ids) || !large || !PySet_CheckExact(large)
            || truthy(sweeping) || !read_tables(d, &t) || due(&t) || t.n_rec >= t.settled + S.settle_every) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    long slots[3] = {-1, -1, -1}, versions[3] = {0, 0, 0};
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(inputs); i++) {
        PyObject *x = PyList_GET_ITEM(inputs, i);
        PyObject *slot = PyObject_TypeCheck(x, S.tensor) ? SLOT(x, S.slot) : NULL,   /* (a Parameter too) */
                 *vc = slot ? SLOT(x, S.vc) : NULL;
        if (!slot || SLOT(x, S.tape) != tape || (slots[i] = PyLong_AsLong(slot)) < 0 || !vc)
            Py_RETURN_NONE;                            /* slot_on gives it one */
        if (vc != Py_None) {
            int64_t *count = counter(vc);
            if (!count)
                Py_RETURN_NONE;
            versions[i] = (long)*count;
        }
    }
    PyArrayObject *a = (PyArrayObject *)data;
    PyObject *shape = PyTuple_New(PyArray_NDIM(a));
    if (!shape)
        return NULL;
    for (int i = 0; i < PyArray_NDIM(a); i++) {
        PyObject *n = PyLong_FromSsize_t(PyArray_DIM(a, i));
        if (!n) {
            Py_DECREF(shape);
            return NULL;
        }
        PyTuple_SET_ITEM(shape, i, n);
    }
    PyObject *sid = PyDict_GetItemWithError(shape_ids, shape);
    Py_DECREF(shape);
    if (!sid) {                                        /* a new shape: Tape._shape_id */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    long state = vjp_state(code, PyArray_SIZE(a), inputs);
    if (state < 0)
        return NULL;
    long nbytes = (long)PyArray_NBYTES(a), r = t.n_rec, s = take_slot(d, &t);
    PyObject *held = PyLong_FromLong(t.held + nbytes), *slot = s >= 0 ? PyLong_FromLong(s) : NULL;
    if (!held || !slot || PyList_SetItem(t.arrays, s, Py_NewRef(data)) < 0
            || PyDict_SetItem(d, s_held_bytes, held) < 0 || (nbytes >= S.large && PySet_Add(large, slot) < 0)) {
        Py_XDECREF(held);
        Py_XDECREF(slot);
        return NULL;
    }
    Py_DECREF(held);
    Py_DECREF(slot);
    int64_t *row = t.slots + SLOT_COLS * s;
    row[0] = PyArray_SIZE(a) ? (int64_t)(intptr_t)PyArray_DATA(a) : 0;
    row[1] = PyLong_AsLong(sid);
    row[2] = r;
    row[3] = flags;
    row[4] = 0;
    row[5] = 0;
    t.refs[s] = 1;
    if (write_record(d, &t, code, slots[0], slots[1], slots[2], s, state, versions, k0, k1, ki) < 0)
        return NULL;
    return new_tensor(tape, s, data, NULL, NULL);
}

/* kernels/replay.call_forward(entry, Y, A, B, C, k0, k1, ki, sy, sa, sb, sc)
 * without Numba's dispatch: the forward entry point at address `entry` (a
 * cfunc of registry.py) on contiguous arrays, with the GIL released as the
 * jitted caller releases it. The argument block is kernels/memory.py's. */
enum { M_Y = 1, M_VA = 2, M_N_Y = 8, M_KI = 15, M_SY = 16, M_ARGS = 21 };

static PyObject *call_forward(PyObject *module, PyObject *const *args, Py_ssize_t n) {
    if (n != 12)
        return PyErr_Format(PyExc_TypeError, "call_forward takes 12 arguments");
    int64_t p[M_ARGS] = {0};
    double f[2] = {PyFloat_AsDouble(args[5]), PyFloat_AsDouble(args[6])};
    long entry = PyLong_AsLong(args[0]), ki = PyLong_AsLong(args[7]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *arrays[8] = {args[1], args[2], args[3], args[4], args[8], args[9], args[10], args[11]};
    for (int i = 0; i < 8; i++) {
        PyArrayObject *a = (PyArrayObject *)arrays[i];
        if (!PyArray_Check(arrays[i]) || !PyArray_IS_C_CONTIGUOUS(a))
            return PyErr_Format(PyExc_TypeError, "call_forward takes C-contiguous arrays");
        int64_t address = (int64_t)(intptr_t)PyArray_DATA(a);
        if (i < 4) {                                   /* Y, A, B, C: address and size */
            p[(i == 0 ? M_Y : M_VA + i - 1)] = address;
            p[M_N_Y + i] = PyArray_SIZE(a);
        } else {                                       /* the four shape rows */
            p[M_SY + i - 4] = address;
        }
    }
    p[M_KI] = ki;
    void (*fn)(int64_t, int64_t, int64_t) = (void (*)(int64_t, int64_t, int64_t))(intptr_t)entry;
    Py_BEGIN_ALLOW_THREADS
    fn(0, (int64_t)(intptr_t)p, (int64_t)(intptr_t)f);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* autograd/engine._collect's common case: the gradient of each wanted
 * slot whose tensor is a leaf with no .grad and no hooks becomes that
 * tensor's .grad, a view of its region of the arena (zeroed if nothing
 * wrote it). Returns the wanted slots left to Python: the rest. */
static PyObject *collect(PyObject *module, PyObject *const *args, Py_ssize_t n) {
    if (n != 7)
        return PyErr_Format(PyExc_TypeError, "collect takes 7 arguments");
    PyObject *wanted = args[0], *owners = args[1];
    PyArrayObject *goff = (PyArrayObject *)args[2], *ready = (PyArrayObject *)args[3],
                  *slot_i = (PyArrayObject *)args[4], *arenas[2] = {(PyArrayObject *)args[5],
                                                                   (PyArrayObject *)args[6]};
    if (!PyList_CheckExact(wanted) || !PyDict_CheckExact(owners) || !PyArray_Check(args[2])
            || PyArray_TYPE(goff) != NPY_INT64 || !PyArray_Check(args[3]) || PyArray_TYPE(ready) != NPY_UINT8
            || !PyArray_Check(args[4]) || PyArray_TYPE(slot_i) != NPY_INT64 || !PyArray_Check(args[5])
            || !PyArray_Check(args[6]) || !PyArray_IS_C_CONTIGUOUS(goff) || !PyArray_IS_C_CONTIGUOUS(ready)
            || !PyArray_IS_C_CONTIGUOUS(slot_i) || !PyArray_IS_C_CONTIGUOUS(arenas[0])
            || !PyArray_IS_C_CONTIGUOUS(arenas[1]))
        return PyErr_Format(PyExc_TypeError, "collect(wanted, owners, goff, ready, slot_i, arena32, arena64)");
    if (S.off)
        return Py_NewRef(wanted);
    PyObject *rest = PyList_New(0);
    if (!rest)
        return NULL;
    int64_t *offsets = PyArray_DATA(goff), *rows = PyArray_DATA(slot_i);
    uint8_t *written = PyArray_DATA(ready);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(wanted); i++) {
        PyObject *key = PyList_GET_ITEM(wanted, i), *ref = PyDict_GetItemWithError(owners, key);
        long w = PyLong_AsLong(key);
        if (PyErr_Occurred())
            goto fail;
        if (!ref)
            continue;                                  /* (Python's: no owner, nothing to collect) */
        PyObject *owner = PyWeakref_Check(ref) ? PyWeakref_GetObject(ref) : NULL;
        if (owner == Py_None)
            continue;
        PyObject *data = owner && PyObject_TypeCheck(owner, S.tensor) ? SLOT(owner, S.data) : NULL;
        int64_t *row = rows + SLOT_COLS * w;
        PyArrayObject *arena = arenas[row[3] & 3], *a = (PyArrayObject *)data;
        int64_t off = w < PyArray_SIZE(goff) ? offsets[w] : -1;
        if (!data || !PyArray_CheckExact(data) || row[2] >= 0 || SLOT(owner, S.hooks) != Py_None
                || SLOT(owner, S.grad) != Py_None || off < 0
                || !PyArray_EquivTypes(PyArray_DESCR(a), PyArray_DESCR(arena))
                || off + PyArray_SIZE(a) > PyArray_SIZE(arena)) {
            if (PyList_Append(rest, key) < 0)          /* a hook, a .grad to add to, ...: Python */
                goto fail;
            continue;
        }
        char *start = (char *)PyArray_DATA(arena) + off * PyArray_ITEMSIZE(arena);
        if (!written[w]) {                             /* nothing wrote it: zero (sweep.grad) */
            memset(start, 0, PyArray_NBYTES(a));
            written[w] = 1;
        }
        PyArray_Descr *descr = PyArray_DESCR(arena);
        Py_INCREF(descr);
        PyObject *view = PyArray_NewFromDescr(&PyArray_Type, descr, PyArray_NDIM(a), PyArray_DIMS(a), NULL,
                                              start, NPY_ARRAY_CARRAY, NULL);
        if (!view || PyArray_SetBaseObject((PyArrayObject *)view, Py_NewRef((PyObject *)arena)) < 0) {
            Py_XDECREF(view);
            goto fail;
        }
        PyObject *grad = new_tensor(NULL, -1, view, NULL, NULL);     /* record.new(view) */
        Py_DECREF(view);
        if (!grad)
            goto fail;
        Py_SETREF(SLOT(owner, S.grad), grad);
    }
    return rest;
fail:
    Py_DECREF(rest);
    return NULL;
}

/* optim.SGD.step's loop for plain SGD (no momentum, weight decay or
 * maximize): each parameter whose data, gradient and version counter are
 * as its own loop expects is updated by kernels/optim.plain_sgd (entries:
 * its cfunc's addresses for float32 and float64) and gets a new version.
 * Returns the parameters left to Python: the rest. */
static PyObject *sgd(PyObject *module, PyObject *const *args, Py_ssize_t n) {
    if (n != 4 || !PyList_CheckExact(args[0]))
        return PyErr_Format(PyExc_TypeError, "sgd(params, neg_lr, entry32, entry64)");
    double neg_lr = PyFloat_AsDouble(args[1]);
    void (*entries[2])(void *, void *, int64_t, void *) = {
        (void (*)(void *, void *, int64_t, void *))PyLong_AsVoidPtr(args[2]),
        (void (*)(void *, void *, int64_t, void *))PyLong_AsVoidPtr(args[3])};
    if (PyErr_Occurred())
        return NULL;
    if (S.off)
        return Py_NewRef(args[0]);
    float lr32 = (float)neg_lr;                        /* as the loop casts -lr to the dtype */
    void *lrs[2] = {&lr32, &neg_lr};
    PyObject *params = args[0], *rest = PyList_New(0);
    if (!rest)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(params); i++) {
        PyObject *p = PyList_GET_ITEM(params, i);
        int ours = PyObject_TypeCheck(p, S.tensor);
        PyObject *grad = ours ? SLOT(p, S.grad) : NULL;
        if (grad == Py_None)
            continue;                                  /* (the loop skips it) */
        PyObject *vc = ours ? SLOT(p, S.vc) : NULL;
        int64_t *version = vc ? counter(vc) : NULL;
        PyArrayObject *a = ours ? (PyArrayObject *)SLOT(p, S.data) : NULL,
                      *g = grad && PyObject_TypeCheck(grad, S.tensor) ? (PyArrayObject *)SLOT(grad, S.data) : NULL;
        int type = a && PyArray_CheckExact((PyObject *)a) ? PyArray_TYPE(a) : -1;
        if ((type != NPY_FLOAT32 && type != NPY_FLOAT64) || !g || !PyArray_CheckExact((PyObject *)g)
                || PyArray_TYPE(g) != type || PyArray_SIZE(g) != PyArray_SIZE(a)
                || !PyArray_IS_C_CONTIGUOUS(a) || !PyArray_IS_C_CONTIGUOUS(g) || PyArray_ISBYTESWAPPED(a)
                || PyArray_ISBYTESWAPPED(g) || !version) {
            if (PyList_Append(rest, p) < 0) {          /* a first version counter, a copy, ...: Python */
                Py_DECREF(rest);
                return NULL;
            }
            continue;
        }
        int k = type == NPY_FLOAT64;
        void *data = PyArray_DATA(a), *gdata = PyArray_DATA(g);
        int64_t size = PyArray_SIZE(a);
        Py_BEGIN_ALLOW_THREADS
        entries[k](data, gdata, size, lrs[k]);
        Py_END_ALLOW_THREADS
        *version += 1;                                 /* tensor.bump */
    }
    return rest;
}

/* -- Op: a binary dunder, a unary method or __del__ ------------------------ */

enum { BINARY, UNARY, DEL };

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    int kind;
    long tensor_code, number_code;   /* x (op) tensor y, x (op) number y (-1: none) */
    double k0;                       /* the record's k0 for a tensor y */
    PyObject *python;                /* the function it stands in for */
} Op;

static PyObject *op_binary(Op *op, PyObject *x, PyObject *y) {
    if (Py_TYPE(y) == S.tensor)
        return op->tensor_code < 0 ? Py_NewRef(Py_None) : record(op->tensor_code, x, y, op->k0);
    if (!PyFloat_CheckExact(y) && !PyLong_CheckExact(y))   /* (not bool: Python's path) */
        return Py_NewRef(Py_None);
    double k = PyFloat_CheckExact(y) ? PyFloat_AS_DOUBLE(y) : PyLong_AsDouble(y);
    if (k == -1.0 && PyErr_Occurred()) {               /* an int too large: Python raises */
        PyErr_Clear();
        return Py_NewRef(Py_None);
    }
    return record(op->number_code, x, NULL, k);
}

static PyObject *op_del(PyObject *x) {
    PyObject *slot = SLOT(x, S.slot), *tape = SLOT(x, S.tape);
    if (!slot || !tape)
        return NULL;                                   /* (Python's raises) */
    long s = PyLong_AsLong(slot);
    if (s < 0)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *d = tape_dict(tape), *tables = d ? PyDict_GetItemWithError(d, s_c_tables) : NULL;
    int32_t *refs = tables && PyTuple_CheckExact(tables) && PyTuple_GET_SIZE(tables) == 9
        ? buffer(PyTuple_GET_ITEM(tables, 1)) : NULL;
    if (!refs)
        return NULL;
    refs[s] -= 1;
    Py_RETURN_NONE;
}

static PyObject *op_call(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Op *op = (Op *)self;
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    PyObject *out = NULL;
    if (!kwnames && n == (op->kind == BINARY ? 2 : 1)) {
        out = op->kind == BINARY ? op_binary(op, args[0], args[1])
            : op->kind == UNARY ? record(op->number_code, args[0], NULL, 0.0)
            : op_del(args[0]);
        if (out && (out != Py_None || op->kind == DEL))
            return out;
        Py_XDECREF(out);
        if (op->kind != DEL && PyErr_Occurred())
            return NULL;
        PyErr_Clear();
    }
    return PyObject_Vectorcall(op->python, args, nargsf, kwnames);
}

static PyObject *op_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"kind", "tensor_code", "number_code", "k0", "python", NULL};
    int kind;
    long tensor_code, number_code;
    double k0;
    PyObject *python;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "illdO", names, &kind, &tensor_code, &number_code,
                                     &k0, &python))
        return NULL;
    Op *op = (Op *)type->tp_alloc(type, 0);
    if (!op)
        return NULL;
    op->vectorcall = op_call;
    op->kind = kind;
    op->tensor_code = tensor_code;
    op->number_code = number_code;
    op->k0 = k0;
    op->python = Py_NewRef(python);
    return (PyObject *)op;
}

static void op_dealloc(PyObject *self) {
    Py_XDECREF(((Op *)self)->python);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *op_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (!obj || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

/* help() and inspect see the Python function's name, doc and signature */
static PyObject *op_attr(PyObject *self, void *name) {
    return PyObject_GetAttrString(((Op *)self)->python, (const char *)name);
}

static PyObject *op_wrapped(PyObject *self, void *unused) {
    return Py_NewRef(((Op *)self)->python);
}

static PyGetSetDef op_getset[] = {
    {"__name__", op_attr, NULL, NULL, "__name__"},
    {"__qualname__", op_attr, NULL, NULL, "__qualname__"},
    {"__doc__", op_attr, NULL, NULL, "__doc__"},
    {"__module__", op_attr, NULL, NULL, "__module__"},
    {"__wrapped__", op_wrapped, NULL, NULL, NULL},
    {NULL},
};

static PyTypeObject OpType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tapegrad._record.Op",
    .tp_basicsize = sizeof(Op),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_vectorcall_offset = offsetof(Op, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = op_new,
    .tp_dealloc = op_dealloc,
    .tp_descr_get = op_get,
    .tp_getset = op_getset,
    .tp_doc = "A Tensor method with the 0-d record path in C, else the Python function.",
};

/* -- the module --------------------------------------------------------------- */

static PyObject *record_py(PyObject *module, PyObject *const *args, Py_ssize_t n) {
    if (n < 3 || n > 4)
        return PyErr_Format(PyExc_TypeError, "record(code, x, y, k0=0.0) takes 3 or 4 arguments");
    long code = PyLong_AsLong(args[0]);
    double k0 = n == 4 ? PyFloat_AsDouble(args[3]) : 0.0;
    if (PyErr_Occurred())
        return NULL;
    return record(code, args[1], args[2] == Py_None ? NULL : args[2], k0);
}

static Py_ssize_t slot_offset(PyObject *type, const char *name) {
    PyObject *member = PyObject_GetAttrString(type, name);
    if (!member)
        return -1;
    Py_ssize_t offset = Py_IS_TYPE(member, &PyMemberDescr_Type)
        ? ((PyMemberDescrObject *)member)->d_member->offset : -1;
    Py_DECREF(member);
    if (offset < 0)
        PyErr_Format(PyExc_TypeError, "Tensor.%s is not a __slots__ member", name);
    return offset;
}

static PyObject *setup(PyObject *module, PyObject *args) {
    PyObject *tensor, *has_rule;
    if (!PyArg_ParseTuple(args, "O!OO!OOOlll", &PyType_Type, &tensor, &S.anomaly, &PyList_Type,
                          &S.recording, &S.python_record, &S.rule_address, &has_rule,
                          &S.settle_every, &S.in_row_flags, &S.large))
        return NULL;
    const char *names[] = {"_data", "_rg", "_slot", "_tape", "_grad", "_vc", "_hooks", "_v", "_dt"};
    Py_ssize_t *offsets[] = {&S.data, &S.rg, &S.slot, &S.tape, &S.grad, &S.vc, &S.hooks, &S.v, &S.dt};
    for (int i = 0; i < 9; i++)
        if ((*offsets[i] = slot_offset(tensor, names[i])) < 0)
            return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(has_rule, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyMem_Free(S.has_rule);
    S.has_rule = PyMem_Malloc(view.len);
    if (!S.has_rule) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    memcpy(S.has_rule, view.buf, view.len);
    S.n_codes = view.len;
    PyBuffer_Release(&view);
    S.tensor = (PyTypeObject *)tensor;
    PyObject *kept[] = {tensor, S.anomaly, S.recording, S.python_record, S.rule_address};
    for (int i = 0; i < 5; i++)
        Py_INCREF(kept[i]);                            /* (for the life of the process) */
    S.rule = NULL;
    Py_RETURN_NONE;
}

/* grad_mode._set's copy, per thread (the thread state's dict: a lookup,
 * where the threading.local of grad_mode.py costs a getattr) */
static PyObject *set_grad_enabled(PyObject *module, PyObject *on) {
    PyObject *thread = PyThreadState_GetDict();
    int enabled = PyObject_IsTrue(on);
    if (!thread || enabled < 0)
        return thread ? NULL : PyErr_Format(PyExc_RuntimeError, "no thread state dict");
    if (PyDict_SetItem(thread, s_grad_off, enabled ? Py_False : Py_True) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* tape._local.tape's copy, per thread, which its setter keeps */
static PyObject *set_tape(PyObject *module, PyObject *tape) {
    PyObject *thread = PyThreadState_GetDict();
    if (!thread)
        return PyErr_Format(PyExc_RuntimeError, "no thread state dict");
    if (PyDict_SetItem(thread, s_tape, tape) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* eager's tables for vjp_state: (kinds, eager's dict, the NUMPY_VJP and
 * PARALLEL bits); kinds has one byte per op code */
static PyObject *vjp_tables(PyObject *module, PyObject *args) {
    const char *kinds;
    Py_ssize_t n;
    PyObject *eager;
    if (!PyArg_ParseTuple(args, "y#O!ll", &kinds, &n, &PyDict_Type, &eager, &S.numpy_vjp_bit,
                          &S.parallel_bit))
        return NULL;
    if (n != S.n_codes)
        return PyErr_Format(PyExc_ValueError, "vjp_tables: %zd op codes, setup() had %zd", n, S.n_codes);
    char *copy = PyMem_Malloc(n);
    if (!copy)
        return PyErr_NoMemory();
    memcpy(copy, kinds, n);
    PyMem_Free(S.vjp_kinds);
    S.vjp_kinds = copy;
    Py_XSETREF(S.eager, Py_NewRef(eager));
    Py_RETURN_NONE;
}

static PyObject *set_off(PyObject *module, PyObject *off) {
    int was = S.off;
    if ((S.off = PyObject_IsTrue(off)) < 0)
        return NULL;
    return PyBool_FromLong(was);
}

static PyMethodDef methods[] = {
    {"set_grad_enabled", set_grad_enabled, METH_O,
     "set_grad_enabled(on): this thread's grad mode, as grad_mode._set sets it."},
    {"set_tape", set_tape, METH_O, "set_tape(tape): this thread's tape, as tape._local.tape's setter sets it."},
    {"vjp_tables", vjp_tables, METH_VARARGS,
     "vjp_tables(kinds, eager.__dict__, numpy_vjp_bit, parallel_bit): eager's tables for the "
     "records' STATE bits."},
    {"set_off", set_off, METH_O, "set_off(off): record() returns None for every op while off; "
     "returns the previous setting."},
    {"setup", setup, METH_VARARGS,
     "setup(Tensor, anomaly_mode, RECORDING, python_record, rule_address, has_rule, settle_every, "
     "in_row_flags, large)"},
    {"collect", (PyCFunction)(void (*)(void))collect, METH_FASTCALL,
     "collect(wanted, owners, goff, ready, slot_i, arena32, arena64): autograd/engine._collect's "
     "common case; returns the wanted slots left to Python."},
    {"sgd", (PyCFunction)(void (*)(void))sgd, METH_FASTCALL,
     "sgd(params, neg_lr, entry32, entry64): optim.SGD.step's loop for plain SGD; returns the "
     "parameters left to Python."},
    {"call_forward", (PyCFunction)(void (*)(void))call_forward, METH_FASTCALL,
     "call_forward(entry, Y, A, B, C, k0, k1, ki, sy, sa, sb, sc): kernels/replay.call_forward "
     "without Numba's dispatch."},
    {"record_array", (PyCFunction)(void (*)(void))record_array, METH_FASTCALL,
     "record_array(code, inputs, data, flags, k0, k1, ki): record._recorded's common case "
     "in C, or None."},
    {"record", (PyCFunction)(void (*)(void))record_py, METH_FASTCALL,
     "record(code, x, y, k0=0.0): scalars.record in C."},
    {NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tapegrad._record",
                                    "The hot path's steps in C: 0-d records (tapegrad/scalars.py), "
                                    "arrays' records, forward calls, leaves' .grad, plain SGD.", -1, methods};

PyMODINIT_FUNC PyInit__record(void) {
    import_array();
    if (PyType_Ready(&OpType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Op", (PyObject *)&OpType) < 0
            || PyModule_AddIntConstant(m, "BINARY", BINARY) < 0
            || PyModule_AddIntConstant(m, "UNARY", UNARY) < 0
            || PyModule_AddIntConstant(m, "DEL", DEL) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#define NAME(var, text) if (!(var = PyUnicode_InternFromString(text))) return NULL
    NAME(s_enabled, "enabled"); NAME(s_tape, "tapegrad._record: tape"); NAME(s_sweeping, "sweeping");
    NAME(s_n_rec, "n_rec"); NAME(s_reclaim_at, "_reclaim_at"); NAME(s_settled, "_settled");
    NAME(s_held_bytes, "held_bytes"); NAME(s_n_slots, "n_slots"); NAME(s_c_tables, "c_tables");
    NAME(s_settle, "settle"); NAME(s_grad_off, "tapegrad._record: grad mode off");
    NAME(s_shape_ids, "shape_ids"); NAME(s_large, "large"); NAME(s_numpy_from, "NUMPY_FROM");
    NAME(s_parallel_from, "PARALLEL_FROM");
    return m;
}
