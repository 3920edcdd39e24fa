/* The hand-written part of stackless.h: macros, inline helpers and the
 * declarations of the C-variadic functions (src/capi/varargs.c). build.rs
 * appends the text under each banner to the section of the header with
 * the same title; comments follow the outline of the generated ones. */

/* ===== Tasklets ===== */

// 1 if op is a tasklet (of PyTasklet_Type or a subtype), else 0 (also for
// NULL). Does not switch. Threads: any thread.
#define PyTasklet_Check(op) PyObject_TypeCheck((op), &PyTasklet_Type)

/* ===== Channels ===== */

// 1 if op is a channel (of PyChannel_Type or a subtype), else 0 (also for
// NULL). Does not switch. Threads: any thread.
#define PyChannel_Check(op) PyObject_TypeCheck((op), &PyChannel_Type)

/* ===== The stackless module ===== */

// Stackless's documentation spells the watchdog flags so.
#define Py_WATCHDOG_SOFT PY_WATCHDOG_SOFT
#define Py_WATCHDOG_IGNORE_NESTING PY_WATCHDOG_IGNORE_NESTING
#define Py_WATCHDOG_TIMEOUT PY_WATCHDOG_TOTALTIMEOUT
#define PY_WATCHDOG_TIMEOUT PY_WATCHDOG_TOTALTIMEOUT

/* ===== Interface functions ===== */

// 1 if obj is the soft-switch token Py_UnwindToken (never, in this
// runtime), else 0.
#define STACKLESS_UNWINDING(obj) ((PyObject *)(obj) == Py_UnwindToken)

// Calls the method name of o (o itself when name is NULL) as the main
// tasklet of the calling thread (PyStackless_Call_Main), with arguments
// built from format (NULL or "": none) as PyObject_CallFunction does.
//
// Returns the result (new reference), or NULL: SystemError("null argument
// to internal routine") for a NULL o, AttributeError(name) when o has no
// such attribute, TypeError("call of non-callable attribute"), or the
// errors of PyStackless_Call_Main. May switch tasklets. Threads: any thread
// that is outside (has no main tasklet); it runs that thread's tasklets.
PyObject *PyStackless_CallMethod_Main(PyObject *o, const char *name, const char *format, ...);

// Calls the C function meth, bound to self (may be NULL), as the main
// tasklet of the calling thread (PyStackless_Call_Main), with arguments
// built from format (NULL or "": none). meth must outlive the call.
//
// Returns the result (new reference), or NULL with SystemError for a NULL
// meth, or the errors of PyStackless_Call_Main. May switch tasklets.
// Threads: any thread that is outside (has no main tasklet); it runs that
// thread's tasklets.
PyObject *PyStackless_CallCMethod_Main(PyMethodDef *meth, PyObject *self, const char *format, ...);

/* ===== Object model ===== */

// The first member of an object struct, and the initializer of a static
// object of type type (reference count 1), as in CPython.
#define PyObject_HEAD PyObject ob_base;
#define PyObject_VAR_HEAD PyVarObject ob_base;
#define PyObject_HEAD_INIT(type) { 1, (type) },
#define PyVarObject_HEAD_INIT(type, size) { { 1, (type) }, (size) },

// The reference count and the type of op (not NULL).
#define Py_REFCNT(op) (((PyObject *)(op))->ob_refcnt)
#define Py_TYPE(op) (((PyObject *)(op))->ob_type)

// Reference counts are atomic: any thread may take and release references
// to any object. Immortal objects (None, True, False, the built-in types)
// are left alone.
static inline void _Py_INCREF(PyObject *op) {
    if (__atomic_load_n(&op->ob_refcnt, __ATOMIC_RELAXED) < _Py_IMMORTAL_REFCNT) {
        __atomic_fetch_add(&op->ob_refcnt, 1, __ATOMIC_RELAXED);
    }
}
static inline void _Py_DECREF(PyObject *op) {
    if (__atomic_load_n(&op->ob_refcnt, __ATOMIC_RELAXED) < _Py_IMMORTAL_REFCNT &&
        __atomic_sub_fetch(&op->ob_refcnt, 1, __ATOMIC_ACQ_REL) == 0) {
        _Py_Dealloc(op);
    }
}
static inline void _Py_XINCREF(PyObject *op) {
    if (op != NULL) {
        _Py_INCREF(op);
    }
}
static inline void _Py_XDECREF(PyObject *op) {
    if (op != NULL) {
        _Py_DECREF(op);
    }
}
// Takes (INCREF) or releases (DECREF) a reference to op; the X forms
// accept NULL. A release of the last reference frees the object; a
// tasklet that started and is suspended is killed first, and runs to its
// end before Py_DECREF returns.
#define Py_INCREF(op) _Py_INCREF((PyObject *)(op))
#define Py_DECREF(op) _Py_DECREF((PyObject *)(op))
#define Py_XINCREF(op) _Py_XINCREF((PyObject *)(op))
#define Py_XDECREF(op) _Py_XDECREF((PyObject *)(op))
// Sets the variable op to NULL, then releases what it held (NULL allowed).
#define Py_CLEAR(op) \
    do { \
        PyObject *_py_tmp = (PyObject *)(op); \
        if (_py_tmp != NULL) { \
            (op) = NULL; \
            Py_DECREF(_py_tmp); \
        } \
    } while (0)
// Stores op2 (a reference it steals) in the variable op, then releases
// what op held (not NULL).
#define Py_SETREF(op, op2) \
    do { \
        PyObject *_py_tmp = (PyObject *)(op); \
        (op) = (op2); \
        Py_DECREF(_py_tmp); \
    } while (0)

// The singletons (borrowed), and returning a new reference to one.
#define Py_None (&_Py_NoneStruct)
#define Py_True ((PyObject *)&_Py_TrueStruct)
#define Py_False ((PyObject *)&_Py_FalseStruct)
#define Py_RETURN_NONE return Py_INCREF(Py_None), Py_None
#define Py_RETURN_TRUE return Py_INCREF(Py_True), Py_True
#define Py_RETURN_FALSE return Py_INCREF(Py_False), Py_False

// 1 if ob is an instance of tp or of a subtype, else 0 (also for NULL).
static inline int _PyObject_TypeCheck(PyObject *ob, PyTypeObject *tp) {
    return ob != NULL && (ob->ob_type == tp || PyType_IsSubtype(ob->ob_type, tp));
}
#define PyObject_TypeCheck(ob, tp) _PyObject_TypeCheck((PyObject *)(ob), (tp))
// 1 if op is an instance of the type or of a subtype (CheckExact: of the
// type itself), else 0 (also for NULL).
#define PyType_Check(op) PyObject_TypeCheck((op), &PyType_Type)
#define PyLong_Check(op) PyObject_TypeCheck((op), &PyLong_Type)
#define PyBool_Check(op) PyObject_TypeCheck((op), &PyBool_Type)
#define PyFloat_Check(op) PyObject_TypeCheck((op), &PyFloat_Type)
#define PyUnicode_Check(op) PyObject_TypeCheck((op), &PyUnicode_Type)
#define PyBytes_Check(op) PyObject_TypeCheck((op), &PyBytes_Type)
#define PyTuple_Check(op) PyObject_TypeCheck((op), &PyTuple_Type)
#define PyDict_Check(op) PyObject_TypeCheck((op), &PyDict_Type)
#define PyCFunction_Check(op) PyObject_TypeCheck((op), &PyCFunction_Type)
#define PyCapsule_CheckExact(op) ((op) != NULL && Py_TYPE(op) == &PyCapsule_Type)

// Builds a value from format (CPython's Py_BuildValue): i b h B H I l k L
// K n c (bytes) C (str of a code point) d f s z U y (with # for a
// Py_ssize_t length), O S (borrowed), N (stolen, also on failure), ( )
// tuples, { } dicts. No item gives None, one item that item, several a
// tuple. Returns a new reference, or NULL with an exception (SystemError
// for a NULL format).
PyObject *Py_BuildValue(const char *format, ...);
// Py_BuildValue with a va_list.
PyObject *Py_VaBuildValue(const char *format, va_list va);
// A new tuple of the n objects that follow (borrowed), or NULL.
PyObject *PyTuple_Pack(Py_ssize_t n, ...);
// A new str from a printf-like format, as CPython 3.7's: %% %c (a code
// point) %d %i %u %x, with l, ll or z (size_t) before d i u x; %p; %s
// (UTF-8, invalid bytes replaced); %U (str object), %S (str(obj)), %R
// (repr(obj)), %V (object or, if NULL, char *). A width pads on the left
// ("%5d", "%05d", "%5s"); a precision is the minimum number of digits of
// an integer, the maximum number of bytes of %s and of characters of %U %S
// %R %V. An unknown conversion copies the rest of the format as it is. The
// format must be ASCII (else ValueError). Returns a new reference, or NULL.
PyObject *PyUnicode_FromFormat(const char *format, ...);
// PyUnicode_FromFormat with a va_list.
PyObject *PyUnicode_FromFormatV(const char *format, va_list va);
// Sets the exception exc with a message from PyUnicode_FromFormat; always
// returns NULL.
PyObject *PyErr_Format(PyObject *exc, const char *format, ...);
// Calls callable with arguments built by Py_BuildValue(format, ...); a
// NULL or empty format means no arguments, a non-tuple result is the only
// argument. Returns a new reference, or NULL. May switch tasklets.
// Threads: any thread.
PyObject *PyObject_CallFunction(PyObject *callable, const char *format, ...);
// Calls the method name of o (PyObject_GetAttrString) with arguments as
// PyObject_CallFunction. Returns a new reference, or NULL. May switch
// tasklets. Threads: any thread.
PyObject *PyObject_CallMethod(PyObject *o, const char *name, const char *format, ...);
