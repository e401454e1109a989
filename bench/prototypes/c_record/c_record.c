/* A measurement prototype, not part of the package (README.md here):
 * tapegrad's 0-d record path (scalars.record and Tape.record_scalar) in C,
 * with the same checks, writing tapegrad's own tables and making real
 * Tensor objects, and Tensor.__del__ in C. Rules for mul, add (two
 * tensors), tanh and pow_scalar only, written out here rather than taken
 * from the op table. Whatever it does not handle goes to the Python
 * callable it wraps: another op or dtype, a leaf's first use on the tape,
 * a version counter, grad mode off, anomaly mode, a recorded step, a tape
 * due to grow, settle or reclaim, a value that is not finite.
 *
 * Built with -DMIRROR, it keeps the tape's per-op counters in C between
 * calls (reloaded after any fallback, written back on every record): a
 * stand-in for those counters living in a C object the tape owns, which
 * is what it measures. Unsafe as it is: Python code that changes the tape
 * outside a fallback would not be seen. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

static PyTypeObject *TensorType;
static Py_ssize_t off_data, off_rg, off_slot, off_tape, off_grad, off_vc, off_hooks, off_v, off_dt;
static PyObject *grad_local, *anomaly_mod, *recording, *tape_local;
static PyObject *s_enabled, *s_tape, *s_sweeping, *s_n_rec, *s_rec_k, *s_reclaim_at, *s_settled,
    *s_held_bytes, *s_free, *s_n_slots, *s_arrays, *s_row0, *s_slot_view, *s_rec_view,
    *s_const_view, *s_ref_view;
static long SETTLE_EVERY = 1024;

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

static void *view_buf(PyObject *tape, PyObject *name) {
    PyObject *mv = PyObject_GetAttr(tape, name);
    if (!mv) return NULL;
    void *p = PyMemoryView_GET_BUFFER(mv)->buf;
    Py_DECREF(mv);
    return p;
}

static long attr_long(PyObject *o, PyObject *name, int *ok) {
    PyObject *v = PyObject_GetAttr(o, name);
    if (!v) { *ok = 0; PyErr_Clear(); return 0; }
    long r = PyLong_AsLong(v);
    Py_DECREF(v);
    return r;
}

/* (value, slot, version, dtype code) of 0-d float tensor x on tape; 0 if not */
static int operand(PyObject *x, PyObject *tape, double *v, long *s, long *ver, int *dt) {
    if (Py_TYPE(x) != TensorType) return 0;
    PyObject *pv = SLOT(x, off_v);
    if (pv && pv != Py_None) {
        if (SLOT(x, off_tape) != tape) return 0;
        *v = PyFloat_AS_DOUBLE(pv);
        *s = PyLong_AsLong(SLOT(x, off_slot));
        *ver = 0;
        *dt = (int)PyLong_AsLong(SLOT(x, off_dt));
        return 1;
    }
    PyObject *a = SLOT(x, off_data);
    if (!a || !PyArray_Check(a) || PyArray_NDIM((PyArrayObject *)a) != 0) return 0;
    if (SLOT(x, off_tape) != tape) return 0;            /* first use on this tape: Python */
    long slot = PyLong_AsLong(SLOT(x, off_slot));
    if (slot < 0) return 0;
    PyObject *vc = SLOT(x, off_vc);
    if (vc && vc != Py_None) return 0;                  /* (prototype: no version counters) */
    int t = PyArray_TYPE((PyArrayObject *)a);
    if (t == NPY_FLOAT32) { *v = *(float *)PyArray_DATA((PyArrayObject *)a); *dt = 0; }
    else if (t == NPY_FLOAT64) { *v = *(double *)PyArray_DATA((PyArrayObject *)a); *dt = 1; }
    else return 0;
    *s = slot;
    *ver = 0;
    return 1;
}

#ifndef MIRROR
/* Tape.record_scalar: the new slot, or -1 (nothing changed) where Python
 * must do it. The tape's attributes are read from its instance dict (it
 * has no descriptors of these names): a quarter of a getattr's cost. */
static PyObject *item(PyObject *d, PyObject *name, int *ok) {
    PyObject *v = PyDict_GetItemWithError(d, name);
    if (!v) *ok = 0;
    return v;
}

static long record_scalar(PyObject *tape, long code, long a, long b, double k0, double value,
                          int dt, long ver_a, long ver_b) {
    int ok = 1;
    PyObject *d = PyObject_GenericGetDict(tape, NULL);
    if (!d) { PyErr_Clear(); return -1; }
    Py_DECREF(d);                                      /* (the tape keeps it) */
    PyObject *n_rec = item(d, s_n_rec, &ok), *rec_k = item(d, s_rec_k, &ok), *at = item(d, s_reclaim_at, &ok),
        *settled = item(d, s_settled, &ok), *held = item(d, s_held_bytes, &ok), *n_slots_o = item(d, s_n_slots, &ok),
        *free = item(d, s_free, &ok), *arrays = item(d, s_arrays, &ok), *row0 = item(d, s_row0, &ok),
        *slot_view = item(d, s_slot_view, &ok), *ref_view = item(d, s_ref_view, &ok),
        *rec_view = item(d, s_rec_view, &ok), *const_view = item(d, s_const_view, &ok);
    if (!ok) { PyErr_Clear(); return -1; }
    long r = PyLong_AsLong(n_rec), n_slots = PyLong_AsLong(n_slots_o);
    long cap = (long)PyArray_DIM((PyArrayObject *)rec_k, 0);
    Py_ssize_t n_free = PyList_GET_SIZE(free);
    if (r == cap || r >= PyLong_AsLong(PyTuple_GET_ITEM(at, 0))
            || r >= PyLong_AsLong(settled) + SETTLE_EVERY
            || PyLong_AsLong(held) >= PyLong_AsLong(PyTuple_GET_ITEM(at, 1))
            || (!n_free && n_slots == PyList_GET_SIZE(arrays))) return -1;
    long s;
    if (n_free) {
        s = PyLong_AsLong(PyList_GET_ITEM(free, n_free - 1));
        PyList_SetSlice(free, n_free - 1, n_free, NULL);
    } else {
        s = n_slots;
        PyObject *n = PyLong_FromLong(s + 1);
        PyDict_SetItem(d, s_n_slots, n);
        Py_DECREF(n);
    }
    int64_t *slot = (int64_t *)PyMemoryView_GET_BUFFER(slot_view)->buf + 6 * s;
    slot[0] = PyLong_AsLong(row0) + s * 48; slot[1] = 0; slot[2] = r; slot[3] = dt | 4 | 64; slot[4] = 0;
    if (dt == 0) { slot[5] = 0; *(float *)&slot[5] = (float)value; }
    else *(double *)&slot[5] = value;
    ((int32_t *)PyMemoryView_GET_BUFFER(ref_view)->buf)[s] = 1;
    int32_t *rec = (int32_t *)PyMemoryView_GET_BUFFER(rec_view)->buf + 9 * r;
    rec[0] = code; rec[1] = a; rec[2] = b; rec[3] = -1; rec[4] = s; rec[5] = 0;
    rec[6] = ver_a; rec[7] = ver_b; rec[8] = 0;
    if (k0 != 0.0) {
        double *c = (double *)PyMemoryView_GET_BUFFER(const_view)->buf + 2 * r;
        c[0] = k0; c[1] = 0.0;
    }
    PyObject *n = PyLong_FromLong(r + 1);
    PyDict_SetItem(d, s_n_rec, n);
    Py_DECREF(n);
    return s;
}

#else
/* -DMIRROR: the tape's per-op state kept here, reloaded after any fallback */
static struct { PyObject *tape; long n_rec, cap, at_rec, at_bytes, settled, held, n_slots, n_arrays, row0;
                PyObject *free; int64_t *slot; int32_t *refs, *rec; double *cst; } M;

static int load(PyObject *tape) {
    int ok = 1;
    M.n_rec = attr_long(tape, s_n_rec, &ok);
    PyObject *rec_k = PyObject_GetAttr(tape, s_rec_k);
    M.cap = (long)PyArray_DIM((PyArrayObject *)rec_k, 0); Py_DECREF(rec_k);
    PyObject *at = PyObject_GetAttr(tape, s_reclaim_at);
    M.at_rec = PyLong_AsLong(PyTuple_GET_ITEM(at, 0)); M.at_bytes = PyLong_AsLong(PyTuple_GET_ITEM(at, 1)); Py_DECREF(at);
    M.settled = attr_long(tape, s_settled, &ok); M.held = attr_long(tape, s_held_bytes, &ok);
    M.n_slots = attr_long(tape, s_n_slots, &ok);
    PyObject *arrays = PyObject_GetAttr(tape, s_arrays); M.n_arrays = PyList_GET_SIZE(arrays); Py_DECREF(arrays);
    M.free = PyObject_GetAttr(tape, s_free); Py_DECREF(M.free);
    M.row0 = attr_long(tape, s_row0, &ok);
    M.slot = view_buf(tape, s_slot_view); M.refs = view_buf(tape, s_ref_view);
    M.rec = view_buf(tape, s_rec_view); M.cst = view_buf(tape, s_const_view);
    M.tape = tape;
    return ok;
}

static long record_scalar(PyObject *tape, long code, long a, long b, double k0, double value,
                          int dt, long ver_a, long ver_b) {
    if (M.tape != tape && !load(tape)) { M.tape = NULL; return -1; }
    long r = M.n_rec;
    Py_ssize_t n_free = PyList_GET_SIZE(M.free);
    if (r == M.cap || r >= M.at_rec || r >= M.settled + SETTLE_EVERY || M.held >= M.at_bytes
            || (!n_free && M.n_slots == M.n_arrays)) { M.tape = NULL; return -1; }
    long s;
    if (n_free) {
        s = PyLong_AsLong(PyList_GET_ITEM(M.free, n_free - 1));
        PyList_SetSlice(M.free, n_free - 1, n_free, NULL);
    } else {
        s = M.n_slots++;
        PyObject *n = PyLong_FromLong(M.n_slots); PyObject_SetAttr(tape, s_n_slots, n); Py_DECREF(n);
    }
    int64_t *slot = M.slot + 6 * s;
    slot[0] = M.row0 + s * 48; slot[1] = 0; slot[2] = r; slot[3] = dt | 4 | 64; slot[4] = 0;
    if (dt == 0) { slot[5] = 0; *(float *)&slot[5] = (float)value; }
    else *(double *)&slot[5] = value;
    M.refs[s] = 1;
    int32_t *rec = M.rec + 9 * r;
    rec[0] = code; rec[1] = a; rec[2] = b; rec[3] = -1; rec[4] = s; rec[5] = 0;
    rec[6] = ver_a; rec[7] = ver_b; rec[8] = 0;
    if (k0 != 0.0) { M.cst[2 * r] = k0; M.cst[2 * r + 1] = 0.0; }
    M.n_rec = r + 1;
    PyObject *n = PyLong_FromLong(r + 1); PyObject_SetAttr(tape, s_n_rec, n); Py_DECREF(n);
    return s;
}

#endif

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    int rule;          /* 0 mul, 1 add, 2 tanh, 3 pow_scalar, 4 __del__ */
    long code;
    PyObject *slow;
} Fast;

static PyObject *fast_record(Fast *f, PyObject *x, PyObject *y) {
    PyObject *en = PyObject_GetAttr(grad_local, s_enabled);
    if (!en) { PyErr_Clear(); return NULL; }
    Py_DECREF(en);
    if (en != Py_True) return NULL;
    if (PyDict_GetItemWithError(PyModule_GetDict(anomaly_mod), s_enabled) != Py_False) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *rec0 = PyList_GET_ITEM(recording, 0);
    if (PyLong_AsLong(rec0) != 0) return NULL;
    PyObject *tape = PyObject_GetAttr(tape_local, s_tape);
    if (!tape) { PyErr_Clear(); return NULL; }
    Py_DECREF(tape);                                   /* the thread's local keeps it */
    PyObject *d = PyObject_GenericGetDict(tape, NULL);
    if (!d) { PyErr_Clear(); return NULL; }
    Py_DECREF(d);                                      /* (the tape keeps it) */
    PyObject *sw = PyDict_GetItemWithError(d, s_sweeping);
    if (!sw || PyLong_AsLong(sw)) { PyErr_Clear(); return NULL; }
    double va, vb = 0.0, k0 = 0.0, v;
    long sa, sb = -1, vera, verb = 0;
    int da, db;
    if (!operand(x, tape, &va, &sa, &vera, &da)) return NULL;
    int rg = SLOT(x, off_rg) == Py_True;
    if (f->rule <= 1) {
        if (!operand(y, tape, &vb, &sb, &verb, &db) || db != da) return NULL;
        rg = rg || SLOT(y, off_rg) == Py_True;
        if (f->rule == 1) k0 = 1.0;
    } else if (f->rule == 3) {
        if (PyFloat_CheckExact(y)) k0 = PyFloat_AS_DOUBLE(y);
        else if (PyLong_CheckExact(y)) k0 = (double)PyLong_AsLong(y);
        else return NULL;
    }
    if (!rg) return NULL;
    switch (f->rule) {
        case 0: v = va * vb; break;
        case 1: v = va + vb; break;
        case 2: v = tanh(va); break;
        default: v = pow(va, k0);
    }
    if (!isfinite(v)) return NULL;                     /* Python's rule raises or goes complex */
    if (da == 0) v = (float)v;
    long s = record_scalar(tape, f->code, sa, sb, k0, v, da, vera, verb);
    if (s < 0) return NULL;
    PyObject *out = TensorType->tp_alloc(TensorType, 0);
    SLOT(out, off_v) = PyFloat_FromDouble(v);
    SLOT(out, off_dt) = PyLong_FromLong(da);
    SLOT(out, off_slot) = PyLong_FromLong(s);
    Py_INCREF(tape); SLOT(out, off_tape) = tape;
    Py_INCREF(Py_True); SLOT(out, off_rg) = Py_True;
    Py_INCREF(Py_None); SLOT(out, off_grad) = Py_None;
    Py_INCREF(Py_None); SLOT(out, off_vc) = Py_None;
    Py_INCREF(Py_None); SLOT(out, off_hooks) = Py_None;
    return out;
}

static PyObject *fast_call(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Fast *f = (Fast *)self;
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (f->rule == 4) {                                /* __del__ */
        if (n == 1 && !kwnames) {
            PyObject *x = args[0], *ps = SLOT(x, off_slot), *tape = SLOT(x, off_tape);
            if (ps && tape && tape != Py_None) {
                long s = PyLong_AsLong(ps);
                if (s >= 0) {
                    PyObject *d = PyObject_GenericGetDict(tape, NULL);
                    PyObject *mv = d ? PyDict_GetItemWithError(d, s_ref_view) : NULL;
                    Py_XDECREF(d);
                    if (mv) { ((int32_t *)PyMemoryView_GET_BUFFER(mv)->buf)[s] -= 1; Py_RETURN_NONE; }
                    PyErr_Clear();
                }
            } else if (ps) Py_RETURN_NONE;
        }
        return PyObject_Vectorcall(f->slow, args, nargsf, kwnames);
    }
    if (!kwnames && n == (f->rule == 2 ? 1 : 2)) {
        PyObject *out = fast_record(f, args[0], f->rule == 2 ? NULL : args[1]);
        if (out) return out;
        if (PyErr_Occurred()) PyErr_Clear();
    }
#ifdef MIRROR
    M.tape = NULL;
#endif
    return PyObject_Vectorcall(f->slow, args, nargsf, kwnames);
}

static PyObject *fast_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    int rule; long code; PyObject *slow;
    if (!PyArg_ParseTuple(args, "ilO", &rule, &code, &slow)) return NULL;
    Fast *f = (Fast *)type->tp_alloc(type, 0);
    f->vectorcall = fast_call; f->rule = rule; f->code = code;
    Py_INCREF(slow); f->slow = slow;
    return (PyObject *)f;
}

static PyObject *fast_get(PyObject *self, PyObject *obj, PyObject *type) {
    if (obj == NULL || obj == Py_None) { Py_INCREF(self); return self; }
    return PyMethod_New(self, obj);
}

static void fast_dealloc(PyObject *self) { Py_XDECREF(((Fast *)self)->slow); Py_TYPE(self)->tp_free(self); }

static PyTypeObject FastType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "c_record.Fast", .tp_basicsize = sizeof(Fast),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_vectorcall_offset = offsetof(Fast, vectorcall), .tp_call = PyVectorcall_Call,
    .tp_new = fast_new, .tp_dealloc = fast_dealloc, .tp_descr_get = fast_get,
};

static Py_ssize_t member_offset(PyObject *type, const char *name) {
    PyObject *d = PyObject_GetAttrString(type, name);
    Py_ssize_t off = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    return off;
}

static PyObject *setup(PyObject *m, PyObject *args) {
    PyObject *tensor;
    if (!PyArg_ParseTuple(args, "OOOOO", &tensor, &grad_local, &anomaly_mod, &recording, &tape_local)) return NULL;
    Py_INCREF(tensor); Py_INCREF(grad_local); Py_INCREF(anomaly_mod); Py_INCREF(recording); Py_INCREF(tape_local);
    TensorType = (PyTypeObject *)tensor;
    off_data = member_offset(tensor, "_data"); off_rg = member_offset(tensor, "_rg");
    off_slot = member_offset(tensor, "_slot"); off_tape = member_offset(tensor, "_tape");
    off_grad = member_offset(tensor, "_grad"); off_vc = member_offset(tensor, "_vc");
    off_hooks = member_offset(tensor, "_hooks"); off_v = member_offset(tensor, "_v");
    off_dt = member_offset(tensor, "_dt");
#undef I
#define I(v, s) v = PyUnicode_InternFromString(s)
    I(s_enabled, "enabled"); I(s_tape, "tape"); I(s_sweeping, "sweeping"); I(s_n_rec, "n_rec");
    I(s_rec_k, "rec_k"); I(s_reclaim_at, "_reclaim_at"); I(s_settled, "_settled");
    I(s_held_bytes, "held_bytes"); I(s_free, "free"); I(s_n_slots, "n_slots"); I(s_arrays, "arrays");
    I(s_row0, "_row0"); I(s_slot_view, "slot_view"); I(s_rec_view, "rec_view");
    I(s_const_view, "const_view"); I(s_ref_view, "ref_view");
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"setup", setup, METH_VARARGS, NULL}, {NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "c_record", NULL, -1, methods};

PyMODINIT_FUNC PyInit_c_record(void) {
    import_array();
    if (PyType_Ready(&FastType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    Py_INCREF(&FastType);
    PyModule_AddObject(m, "Fast", (PyObject *)&FastType);
    return m;
}
