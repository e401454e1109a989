/* tapegrad._record: the 0-d record path of tapegrad/scalars.py in C.
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
    long settle_every, in_row_flags;
    int off;                         /* every op the general way (scalars.off) */
} S;

static PyObject *s_enabled, *s_tape, *s_sweeping, *s_n_rec, *s_reclaim_at, *s_settled,
    *s_held_bytes, *s_n_slots, *s_c_tables, *s_settle, *s_grad_off;

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
    if (vc && vc != Py_None) {
        if (!PyArray_CheckExact(vc) || PyArray_TYPE((PyArrayObject *)vc) != NPY_INT64)
            return ASK_PYTHON;
        *version = (long)*(int64_t *)PyArray_DATA((PyArrayObject *)vc);
    } else {
        *version = 0;
    }
    void *p = PyArray_DATA((PyArrayObject *)a);
    *value = type == NPY_FLOAT32 ? (double)*(float *)p : *(double *)p;
    *dt = type == NPY_FLOAT32 ? 0 : 1;
    return 1;
}

/* Tape.record_scalar on tape (d: its instance dict): the new slot; -1
 * where it returns None; ASK_PYTHON where the tape is not as it expects */
static long record_scalar(PyObject *tape, PyObject *d, long code, long a, long b, double k0,
                          double value, int dt, long version_a, long version_b) {
    PyObject *n_rec = PyDict_GetItemWithError(d, s_n_rec), *at = PyDict_GetItemWithError(d, s_reclaim_at),
             *settled = PyDict_GetItemWithError(d, s_settled), *held = PyDict_GetItemWithError(d, s_held_bytes),
             *n_slots = PyDict_GetItemWithError(d, s_n_slots), *tables = PyDict_GetItemWithError(d, s_c_tables);
    if (!n_rec || !at || !settled || !held || !n_slots || !tables || !PyTuple_CheckExact(tables)
            || PyTuple_GET_SIZE(tables) != 8 || !PyTuple_CheckExact(at) || PyTuple_GET_SIZE(at) != 2)
        return ASK_PYTHON;
    /* Tape.c_tables: slot, ref, record and constant views, _row0, record capacity, arrays, free */
    int64_t *slots = buffer(PyTuple_GET_ITEM(tables, 0));
    int32_t *refs = buffer(PyTuple_GET_ITEM(tables, 1)), *recs = buffer(PyTuple_GET_ITEM(tables, 2));
    double *consts = buffer(PyTuple_GET_ITEM(tables, 3));
    PyObject *row0 = PyTuple_GET_ITEM(tables, 4), *capacity = PyTuple_GET_ITEM(tables, 5),
             *arrays = PyTuple_GET_ITEM(tables, 6), *free = PyTuple_GET_ITEM(tables, 7);
    if (!slots || !refs || !recs || !consts || !PyList_CheckExact(free) || !PyList_CheckExact(arrays))
        return ASK_PYTHON;
    long r = PyLong_AsLong(n_rec), s = PyLong_AsLong(n_slots), first = PyLong_AsLong(settled);
    Py_ssize_t n_free = PyList_GET_SIZE(free);
    if (r == PyLong_AsLong(capacity) || r >= PyLong_AsLong(PyTuple_GET_ITEM(at, 0))
            || PyLong_AsLong(held) >= PyLong_AsLong(PyTuple_GET_ITEM(at, 1))
            || (!n_free && s == PyList_GET_SIZE(arrays)))
        return PyErr_Occurred() ? ASK_PYTHON : -1;     /* due to reclaim or grow: record() */
    if (r >= first + S.settle_every) {                 /* as record() does */
        PyObject *done = PyObject_CallMethodOneArg(tape, s_settle, settled);
        if (!done)
            return ASK_PYTHON;
        Py_DECREF(done);
        first = r;                                     /* (settle() sets _settled to n_rec) */
    }
    PyObject *next_rec = PyLong_FromLong(r + 1), *next_slot = n_free ? NULL : PyLong_FromLong(s + 1);
    if (!next_rec || (!n_free && !next_slot)) {
        Py_XDECREF(next_rec);
        return ASK_PYTHON;
    }
    if (n_free) {
        s = PyLong_AsLong(PyList_GET_ITEM(free, n_free - 1));
        PyList_SetSlice(free, n_free - 1, n_free, NULL);
    } else {
        PyDict_SetItem(d, s_n_slots, next_slot);
        Py_DECREF(next_slot);
    }
    int64_t *row = slots + SLOT_COLS * s;
    row[0] = PyLong_AsLong(row0) + s * SLOT_COLS * 8;     /* the settled word's address */
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
    refs[s] = 1;
    int32_t *rec = recs + REC_COLS * r;
    rec[0] = (int32_t)code; rec[1] = (int32_t)a; rec[2] = (int32_t)b; rec[3] = -1;
    rec[4] = (int32_t)s; rec[5] = 0; rec[6] = (int32_t)version_a; rec[7] = (int32_t)version_b;
    rec[8] = 0;
    if (k0 != 0.0) {                                   /* rows past n_rec are zero */
        consts[2 * r] = k0;
        consts[2 * r + 1] = 0.0;
    }
    PyDict_SetItem(d, s_n_rec, next_rec);
    if (first == r)                          /* settled already: nothing for settle() to see */
        PyDict_SetItem(d, s_settled, next_rec);
    Py_DECREF(next_rec);
    return s;
}

static PyObject *ask_python(long code, PyObject *x, PyObject *y, double k0) {
    return PyObject_CallFunction(S.python_record, "lOOd", code, x, y ? y : Py_None, k0);
}

static int truthy(PyObject *o) {
    return o == Py_True ? 1 : o == Py_False ? 0 : PyObject_IsTrue(o);
}

/* scalars.record(code, x, y, k0): a Scalar, or None; a new reference */
static PyObject *record(long code, PyObject *x, PyObject *y, double k0) {
    if (S.off || code < 0 || code >= S.n_codes || !S.has_rule[code])
        Py_RETURN_NONE;
    PyObject *thread = PyThreadState_GetDict();       /* grad mode: set_grad_enabled's copy */
    PyObject *off = thread ? PyDict_GetItemWithError(thread, s_grad_off) : NULL;
    PyObject *anomaly = PyDict_GetItemWithError(PyModule_GetDict(S.anomaly), s_enabled);
    if (!anomaly || PyErr_Occurred())
        return NULL;
    if (off == Py_True || truthy(anomaly) || truthy(PyList_GET_ITEM(S.recording, 0)))
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
    PyObject *value = PyFloat_FromDouble(v), *slot = PyLong_FromLong(s), *dt = PyLong_FromLong(da),
             *out = value && slot && dt ? S.tensor->tp_alloc(S.tensor, 0) : NULL;
    if (!out) {            /* (the record stays, held by no one: reclaiming takes it back) */
        Py_XDECREF(value); Py_XDECREF(slot); Py_XDECREF(dt);
        return NULL;
    }
    SLOT(out, S.v) = value;
    SLOT(out, S.dt) = dt;
    SLOT(out, S.slot) = slot;
    Py_INCREF(tape); SLOT(out, S.tape) = tape;
    Py_INCREF(Py_True); SLOT(out, S.rg) = Py_True;
    Py_INCREF(Py_None); SLOT(out, S.grad) = Py_None;
    Py_INCREF(Py_None); SLOT(out, S.vc) = Py_None;
    Py_INCREF(Py_None); SLOT(out, S.hooks) = Py_None;
    return out;
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
    int32_t *refs = tables && PyTuple_CheckExact(tables) && PyTuple_GET_SIZE(tables) == 8
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
    if (!PyArg_ParseTuple(args, "O!OO!OOOll", &PyType_Type, &tensor, &S.anomaly, &PyList_Type,
                          &S.recording, &S.python_record, &S.rule_address, &has_rule,
                          &S.settle_every, &S.in_row_flags))
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
    {"set_off", set_off, METH_O, "set_off(off): record() returns None for every op while off; "
     "returns the previous setting."},
    {"setup", setup, METH_VARARGS,
     "setup(Tensor, anomaly_mode, RECORDING, python_record, rule_address, has_rule, settle_every, "
     "in_row_flags)"},
    {"record", (PyCFunction)(void (*)(void))record_py, METH_FASTCALL,
     "record(code, x, y, k0=0.0): scalars.record in C."},
    {NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tapegrad._record",
                                    "The 0-d record path in C (tapegrad/scalars.py).", -1, methods};

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
    return m;
}
