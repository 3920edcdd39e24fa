/*
 * Helpers for the scheduler tests: a trace of events, C functions as
 * tasklet bodies, named tasklets and the ring as text, the pending
 * exception as text, checks of results, and running a test case as the
 * main tasklet.
 */
#ifndef STACKLESS_TASKLET_HELPERS_H
#define STACKLESS_TASKLET_HELPERS_H

#include "harness.h"

#include <stdarg.h>

/* ---- Traces -------------------------------------------------------------- */

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

/* ---- Making tasklets ----------------------------------------------------- */

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

/* A new tasklet running the function object func(*args) (args may be NULL:
 * ()), set up (runnable); keeps no state, so any thread may use it. */
static inline PyTaskletObject *spawn_func(PyObject *func, PyObject *args) {
    PyTaskletObject *t = PyTasklet_New(NULL, func);
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

/* A new tasklet running f(*args) (args may be NULL), set up (runnable). */
static inline PyTaskletObject *spawn_args(PyCFunction f, const char *name, PyObject *args) {
    PyObject *func = cfunc_named(f, name);
    PyTaskletObject *t = spawn_func(func, args);
    Py_DECREF(func);
    return t;
}
#define spawn(f) spawn_args((f), #f, NULL)
#define spawn_with(f, args) spawn_args((f), #f, (args))

/* A tasklet body with its own PyMethodDef `NAME_def` (METH_VARARGS). The
 * body sees `args`; `(void)args;` where it does not use them. */
#define BODY(name)                                                             \
    static PyObject *name##_impl(PyObject *args);                              \
    static PyObject *name(PyObject *self, PyObject *args) {                    \
        (void)self;                                                            \
        return name##_impl(args);                                              \
    }                                                                          \
    static PyMethodDef name##_def = {#name, name, METH_VARARGS, NULL};         \
    static PyObject *name##_impl(PyObject *args)

#define FUNC(name) PyCFunction_New(&name##_def, NULL)

/* A new tasklet running def's function with `args` (NULL: ()), set up. */
static inline PyTaskletObject *spawn_def(PyMethodDef *def, PyObject *args) {
    PyObject *func = PyCFunction_New(def, NULL);
    PyTaskletObject *t = spawn_func(func, args);
    Py_DECREF(func);
    return t;
}

/* The same with the one string argument `s`. */
static inline PyTaskletObject *spawn_def_s(PyMethodDef *def, const char *s) {
    PyObject *args = Py_BuildValue("(s)", s);
    PyTaskletObject *t = spawn_def(def, args);
    Py_DECREF(args);
    return t;
}

/* The string argument i of a tasklet function's argument tuple. */
static inline const char *arg_str(PyObject *args, Py_ssize_t i) {
    return PyUnicode_AsUTF8(PyTuple_GetItem(args, i));
}

/* ---- The current thread -------------------------------------------------- */

/* The current / main tasklet, borrowed (the thread keeps them alive). */
static inline PyTaskletObject *current(void) {
    PyObject *c = PyStackless_GetCurrent();
    Py_XDECREF(c);
    return (PyTaskletObject *)c;
}

static inline PyTaskletObject *main_tasklet(void) {
    PyObject *m = PyStackless_GetMain();
    Py_XDECREF(m);
    return (PyTaskletObject *)m;
}

static inline long thread_ident(void) {
    return (long)PyThread_get_thread_ident();
}

/* Schedule(None, 0) for C code: 0, or -1 with the exception. */
static inline int schedule(void) {
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* A tasklet body that kills the main tasklet: traces "kills", then "after"
 * when the kill returned. */
static inline PyObject *kill_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    trace("kills");
    int rc = PyTasklet_Kill(main);
    Py_DECREF(main);
    if (rc < 0) {
        return NULL;
    }
    trace("after");
    Py_RETURN_NONE;
}

/* A tasklet body: traces "<name> start", "<name> end", no switch. */
static inline PyObject *straight(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s start", n);
    trace("%s end", n);
    Py_RETURN_NONE;
}

/* Every state predicate of a tasklet in one string:
 * "alive scheduled paused blocked restorable nesting". */
static inline const char *states(PyTaskletObject *t) {
    static char buf[4][64];
    static int slot;
    char *out = buf[slot++ % 4];
    snprintf(out, 64, "a%d s%d p%d b%d r%d n%d", PyTasklet_Alive(t), PyTasklet_Scheduled(t),
             PyTasklet_Paused(t), PyTasklet_GetBlocked(t), PyTasklet_Restorable(t),
             PyTasklet_GetNestingLevel(t));
    return out;
}

#define CHECK_STATES(t, expected) CHECK_STR(states(t), expected)

/* ---- Names and the ring -------------------------------------------------- */

#define MAX_NAMED 64
static const void *named_obj[MAX_NAMED];
static const char *named_name[MAX_NAMED];
static int named_count;

/* Forgets every name given; a case that names its tasklets starts with it,
 * so that no name sticks to a later object at the same address. */
static inline void names_reset(void) {
    named_count = 0;
}

/* Gives `o` (a tasklet or a channel) a name for rings, queues and traces;
 * the latest MAX_NAMED names are kept. */
static inline void name_object(const void *o, const char *name) {
    named_obj[named_count % MAX_NAMED] = o;
    named_name[named_count % MAX_NAMED] = name;
    named_count++;
}

/* The latest name given to `o`, or NULL. */
static inline const char *registered_name(const void *o) {
    int n = named_count < MAX_NAMED ? named_count : MAX_NAMED;
    for (int i = 1; i <= n; i++) {
        int k = (named_count - i) % MAX_NAMED;
        if (named_obj[k] == o) {
            return named_name[k];
        }
    }
    return NULL;
}

/* "NULL", "None", "main" (the thread's main tasklet), the latest name given
 * to `o`, or "?". */
static inline const char *name_of(const void *o) {
    if (o == NULL) {
        return "NULL";
    }
    if (o == (const void *)Py_None) {
        return "None";
    }
    PyObject *main = PyStackless_GetMain();
    Py_XDECREF(main);
    if (o == (const void *)main) {
        return "main";
    }
    const char *name = registered_name(o);
    return name ? name : "?";
}

/* Names of the tasklets from `first` along their next links, stopping at
 * `None` or back at `first`, written into `buf`. */
static inline const char *chain_text(PyObject *first, char *buf, size_t size) {
    buf[0] = '\0';
    if (first == NULL || first == Py_None) {
        return buf;
    }
    PyObject *t = first;
    Py_INCREF(t);
    for (int i = 0; i < 32; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", len ? " " : "", name_of(t));
        PyObject *next = PyTasklet_GetNext((PyTaskletObject *)t);
        Py_DECREF(t);
        t = next;
        if (t == NULL || t == Py_None || t == first) {
            break;
        }
    }
    Py_XDECREF(t);
    return buf;
}

/* The ring read from the current tasklet, e.g. "main X P". */
static inline const char *ring_text(void) {
    static char buf[512];
    PyObject *cur = PyStackless_GetCurrent();
    if (cur == NULL) {
        return "(outside)";
    }
    chain_text(cur, buf, sizeof buf);
    Py_DECREF(cur);
    return buf;
}

#define CHECK_RING(expected) CHECK_STR(ring_text(), expected)

/* A new tasklet running f(name), or f(name, extra) where extra is not NULL;
 * set up (runnable) and named `name`. */
static inline PyTaskletObject *spawn_named(PyCFunction f, const char *fname, const char *name, PyObject *extra) {
    PyObject *a = extra ? Py_BuildValue("(sO)", name, extra) : Py_BuildValue("(s)", name);
    PyTaskletObject *t = spawn_args(f, fname, a);
    Py_DECREF(a);
    name_object(t, name);
    return t;
}

/* ---- Exceptions as text -------------------------------------------------- */

/* The pending exception, cleared, as "Type: str(value)" or (as_repr)
 * repr(value), e.g. "ValueError(1, 2)"; `none` when none is set. The text
 * is in a static buffer (8 in turn). */
static inline const char *take_error(int as_repr, const char *none) {
    static char buf[8][512];
    static int slot;
    char *out = buf[slot++ % 8];
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL) {
        snprintf(out, 512, "%s", none);
        return out;
    }
    PyErr_NormalizeException(&t, &v, &tb);
    if (as_repr) {
        snprintf(out, 512, "%s", harness_text(v, 1));
    } else {
        snprintf(out, 512, "%s: %s", ((PyTypeObject *)t)->tp_name, harness_text(v, 0));
    }
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return out;
}

/* The pending exception as "Type: str(value)", cleared; "no error" if none. */
static inline const char *error_text(void) {
    return take_error(0, "no error");
}

/* The pending exception as repr(value) ("ValueError(1, 2)"), cleared. */
static inline const char *error_repr(void) {
    return take_error(1, "no error");
}

/* ---- Checks of results --------------------------------------------------- */

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

/* run(): PyStackless_RunWatchdog(0), which must return None with no
 * exception set. */
#define CHECK_RUN_NONE()                                                       \
    do {                                                                       \
        PyObject *r_ = PyStackless_RunWatchdog(0);                             \
        if (r_ == NULL) {                                                      \
            harness_fail(__FILE__, __LINE__, error_text());                    \
            return;                                                            \
        }                                                                      \
        CHECK_NO_ERROR();                                                      \
        CHECK_PTR(r_, Py_None);                                                \
        Py_DECREF(r_);                                                         \
    } while (0)

/* run() that must fail with `type` and `message`. */
#define CHECK_RUN_FAILS(type, message)                                         \
    do {                                                                       \
        PyObject *r_ = PyStackless_RunWatchdog(0);                             \
        CHECK(r_ == NULL);                                                     \
        CHECK_ERROR((type), (message));                                        \
    } while (0)

/* ---- Running a case as the main tasklet ---------------------------------- */

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
