/*
 * Helpers for the scheduler tests: a trace of events, C functions as
 * tasklet bodies, and running a test case as the main tasklet.
 */
#ifndef STACKLESS_TASKLET_HELPERS_H
#define STACKLESS_TASKLET_HELPERS_H

#include "harness.h"

#include <stdarg.h>

static char trace_buf[8192];

static inline void trace_reset(void) {
    trace_buf[0] = '\0';
}

/* Appends one event (printf-style) to the trace, space-separated. */
static inline void trace(const char *format, ...) {
    size_t len = strlen(trace_buf);
    if (len > 0 && len < sizeof trace_buf - 1) {
        trace_buf[len++] = ' ';
        trace_buf[len] = '\0';
    }
    va_list va;
    va_start(va, format);
    vsnprintf(trace_buf + len, sizeof trace_buf - len, format, va);
    va_end(va);
}

#define CHECK_TRACE(expected) CHECK_STR(trace_buf, expected)

/* A C function object for `f` (METH_VARARGS); up to 64 per program. */
static inline PyObject *cfunc_named(PyCFunction f, const char *name) {
    static PyMethodDef defs[64];
    static int used;
    PyMethodDef *def = &defs[used++ % 64];
    def->ml_name = name;
    def->ml_meth = f;
    def->ml_flags = METH_VARARGS;
    def->ml_doc = NULL;
    return PyCFunction_New(def, NULL);
}
#define cfunc(f) cfunc_named((f), #f)

/* A new tasklet running f(*args) (args may be NULL), set up (runnable). */
static inline PyTaskletObject *spawn_args(PyCFunction f, const char *name, PyObject *args) {
    PyObject *func = cfunc_named(f, name);
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    Py_DECREF(func);
    if (t == NULL) {
        return NULL;
    }
    PyObject *a = args ? (Py_INCREF(args), args) : PyTuple_New(0);
    int rc = PyTasklet_Setup(t, a, NULL);
    Py_DECREF(a);
    if (rc < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}
#define spawn(f) spawn_args((f), #f, NULL)
#define spawn_with(f, args) spawn_args((f), #f, (args))

/* The string argument i of a tasklet function's argument tuple. */
static inline const char *arg_str(PyObject *args, Py_ssize_t i) {
    return PyUnicode_AsUTF8(PyTuple_GetItem(args, i));
}

/* Releases the result `r` of a call and returns 1 when it is `expected`;
 * otherwise fails the case with `what` (printing the exception when `r` is
 * NULL) and returns 0. */
static inline int check_result(const char *file, int line, PyObject *r, PyObject *expected, const char *what) {
    if (r != expected) {
        harness_fail(file, line, what);
        if (r == NULL) {
            PyErr_Print();
        }
        Py_XDECREF(r);
        return 0;
    }
    Py_DECREF(r);
    return 1;
}

/* Fails the case (and returns) unless `r` is None; releases `r`. */
#define CHECK_NONE(r)                                                          \
    do {                                                                       \
        PyObject *r_ = (r);                                                    \
        if (!check_result(__FILE__, __LINE__, r_, Py_None, "expected None from " #r)) { \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Fails the case (and returns) unless `r` is exactly `expected`; releases
 * `r`. */
#define CHECK_RESULT(r, expected)                                              \
    do {                                                                       \
        PyObject *r_ = (r);                                                    \
        if (!check_result(__FILE__, __LINE__, r_, (PyObject *)(expected), "unexpected result of " #r)) { \
            return;                                                            \
        }                                                                      \
    } while (0)

static void (*inside_body)(void);

static inline PyObject *inside_trampoline(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    inside_body();
    Py_RETURN_NONE;
}

/* Runs a test case as the body of the main tasklet (PyStackless_Call_Main),
 * then checks that the thread is back outside with nothing runnable. */
static inline void run_inside(void (*body)(void)) {
    static PyMethodDef def = {"inside", inside_trampoline, METH_VARARGS, NULL};
    inside_body = body;
    trace_reset();
    PyObject *func = PyCFunction_New(&def, NULL);
    PyObject *r = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    if (r == NULL) {
        if (!harness_case_failed) {
            harness_fail(__FILE__, __LINE__, "Call_Main failed:");
        }
        PyErr_Print();
        return;
    }
    Py_DECREF(r);
    if (!harness_case_failed && PyStackless_GetRunCount() != 0) {
        harness_fail(__FILE__, __LINE__, "tasklets left runnable after the case");
    }
}

#define RUN_INSIDE(name)                                                       \
    do {                                                                       \
        harness_case_begin(#name);                                             \
        run_inside(test_##name);                                               \
        harness_case_end(__FILE__, __LINE__);                                  \
    } while (0)

#endif
