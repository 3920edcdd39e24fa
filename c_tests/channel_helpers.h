/*
 * Helpers shared by the channel tests (test_channels.c,
 * test_channel_events.c): named tasklets, reading a channel's queue as text
 * (names and the ring come from tasklet_helpers.h), tasklet bodies that
 * trace what they do, and capturing stderr.
 *
 * Every tasklet body takes an argument tuple whose item 0 is the tasklet's
 * name; the name is what traces, rings and queues show.
 */
#ifndef STACKLESS_CHANNEL_HELPERS_H
#define STACKLESS_CHANNEL_HELPERS_H

#define _POSIX_C_SOURCE 200809L

#include "tasklet_helpers.h"

#include <unistd.h>

/* The error of an operation on a closed channel (SPEC §4.5). */
#define CLOSED_TEXT "Send/receive operation on a closed channel"

/* ---- Queues ---------------------------------------------------------------- */

/* The channel's queue read from its head, e.g. "R1 R2" ("" when empty). */
static inline const char *queue_text(PyChannelObject *ch) {
    static char buf[512];
    PyObject *head = PyChannel_GetQueue(ch);
    if (head == NULL) {
        return "(error)";
    }
    chain_text(head, buf, sizeof buf);
    Py_DECREF(head);
    return buf;
}

/* ---- Making tasklets -------------------------------------------------------- */

/* One method definition per (function, name), never reused. */
static inline PyObject *body_function(PyCFunction f, const char *fname) {
    static PyMethodDef defs[128];
    static int used;
    for (int i = 0; i < used; i++) {
        if (defs[i].ml_meth == f && strcmp(defs[i].ml_name, fname) == 0) {
            return PyCFunction_New(&defs[i], NULL);
        }
    }
    if (used == 128) {
        return NULL;
    }
    defs[used].ml_name = fname;
    defs[used].ml_meth = f;
    defs[used].ml_flags = METH_VARARGS;
    defs[used].ml_doc = NULL;
    return PyCFunction_New(&defs[used++], NULL);
}

/* A new tasklet running f(*args), args built by Py_BuildValue(format, ...)
 * whose first item is the tasklet's name; set up (runnable) and named. */
static inline PyTaskletObject *make_named(PyCFunction f, const char *fname, const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);
    va_end(va);
    if (args == NULL) {
        return NULL;
    }
    PyObject *func = body_function(f, fname);
    PyTaskletObject *t = func ? spawn_func(func, args) : NULL;
    Py_XDECREF(func);
    if (t != NULL) {
        name_object(t, PyUnicode_AsUTF8(PyTuple_GetItem(args, 0)));
    }
    Py_DECREF(args);
    return t;
}
#define make(f, ...) make_named((f), #f, __VA_ARGS__)

/* ---- Exceptions as text --------------------------------------------------- */

/* The pending exception's type name ("none" when none is set). */
static inline const char *exc_name(void) {
    PyObject *t = PyErr_Occurred();
    return t ? ((PyTypeObject *)t)->tp_name : "none";
}

/* repr() of the pending exception's normalised value, e.g.
 * "ValueError(1, 2)"; the exception is cleared. */
static inline const char *take_exc_repr(void) {
    return take_error(1, "(no exception)");
}

/* Checks the pending exception's repr (its type and argument tuple) and
 * clears it. */
#define CHECK_EXC_REPR(expected)                                               \
    do {                                                                       \
        if (PyErr_Occurred() == NULL) {                                        \
            harness_fail(__FILE__, __LINE__, "expected an exception, none is set"); \
            return;                                                            \
        }                                                                      \
        CHECK_STR(take_exc_repr(), expected);                                  \
    } while (0)

/* ---- Tasklet bodies ---------------------------------------------------------- */

/* Traces "<name> <ExceptionType>" and passes the error on. */
static inline PyObject *trace_failure(const char *name) {
    trace("%s %s", name, exc_name());
    return NULL;
}

/* (name): traces "<name> runs". */
static inline PyObject *b_log(PyObject *self, PyObject *args) {
    (void)self;
    trace("%s runs", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* (name, ch): receives once, traces "<name> received <str(value)>". */
static inline PyObject *b_recv(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v == NULL) {
        return trace_failure(name);
    }
    trace("%s received %s", name, harness_text(v, 0));
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* (name, ch, value): sends value once, traces "<name> sent". */
static inline PyObject *b_send(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    if (PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 1), PyTuple_GetItem(args, 2)) < 0) {
        return trace_failure(name);
    }
    trace("%s sent", name);
    Py_RETURN_NONE;
}

/* (name, ch, klass, value): PyChannel_SendException, traces "<name> sent". */
static inline PyObject *b_send_exc(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    PyObject *value = PyTuple_Size(args) > 3 ? PyTuple_GetItem(args, 3) : NULL;
    if (PyChannel_SendException((PyChannelObject *)PyTuple_GetItem(args, 1), PyTuple_GetItem(args, 2), value) < 0) {
        return trace_failure(name);
    }
    trace("%s sent", name);
    Py_RETURN_NONE;
}

/* (name, ch): receives once; an exception other than TaskletExit is caught
 * and traced as "<name> caught <repr>". */
static inline PyObject *b_recv_catch(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TaskletExit)) {
            return trace_failure(name);
        }
        trace("%s caught %s", name, take_exc_repr());
        Py_RETURN_NONE;
    }
    trace("%s received %s", name, harness_text(v, 0));
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* ---- Capturing stderr ------------------------------------------------------ */

static FILE *capture_file;
static int capture_saved_fd = -1;

/* Redirects file descriptor 2 into a temporary file. */
static inline void capture_stderr(void) {
    fflush(stderr);
    capture_file = tmpfile();
    capture_saved_fd = dup(2);
    dup2(fileno(capture_file), 2);
}

/* Restores file descriptor 2 and returns what was written meanwhile. */
static inline const char *captured_stderr(void) {
    static char buf[8192];
    fflush(stderr);
    dup2(capture_saved_fd, 2);
    close(capture_saved_fd);
    rewind(capture_file);
    size_t n = fread(buf, 1, sizeof buf - 1, capture_file);
    buf[n] = '\0';
    fclose(capture_file);
    return buf;
}

/* Checks that `text` contains `part`. */
#define CHECK_CONTAINS(text, part)                                             \
    do {                                                                       \
        const char *t_ = (text);                                               \
        if (strstr(t_, (part)) == NULL) {                                      \
            char m_[1024];                                                     \
            snprintf(m_, sizeof m_, "\"%.400s\" does not contain \"%.400s\"", t_, (part)); \
            harness_fail(__FILE__, __LINE__, m_);                              \
            return;                                                            \
        }                                                                      \
    } while (0)

#endif
