/*
 * For the threaded tests: worker threads (a thread whose main tasklet runs
 * one C function through PyStackless_Call_Main, then finalizes the
 * thread's scheduler or leaves it to the thread's exit) and a log that
 * every thread may write (under stages.h's lock).
 */
#ifndef STACKLESS_WORKER_H
#define STACKLESS_WORKER_H

#include "channel_helpers.h"
#include "stages.h"

#include <pthread.h>
#include <stackless.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* How a worker's thread ends after its main function returned:
 * WORKER_FINALIZES calls PyStackless_Finalize(), WORKER_EXITS leaves the
 * scheduler to the thread's exit (its exit destructor cleans up). */
enum worker_end { WORKER_FINALIZES, WORKER_EXITS };

/* A thread whose main tasklet runs def's function (PyStackless_Call_Main)
 * and then ends as `end` says; failed: the function returned NULL (the
 * error is printed). */
typedef struct {
    PyMethodDef *def;
    enum worker_end end;
    int failed;
    pthread_t thread;
} worker;

static inline void *worker_main(void *arg) {
    worker *w = arg;
    PyObject *f = PyCFunction_New(w->def, NULL);
    PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
    Py_DECREF(f);
    w->failed = r == NULL;
    if (r == NULL) {
        PyErr_Print();
    }
    Py_XDECREF(r);
    if (w->end == WORKER_FINALIZES) {
        PyStackless_Finalize();
    }
    return NULL;
}

static inline void start_worker(worker *w, PyMethodDef *def, enum worker_end end) {
    w->def = def;
    w->end = end;
    w->failed = 0;
    pthread_create(&w->thread, NULL, worker_main, w);
}

/* Joins the worker; true when its main function succeeded. */
static inline int join_worker(worker *w) {
    return pthread_join(w->thread, NULL) == 0 && !w->failed;
}

/* ---- A log that every thread may write ---------------------------------- */

static char wlog_buf[2048];

/* Appends one event to the log that every thread may write. */
static inline void wlog(const char *format, ...) {
    char event[512];
    va_list va;
    va_start(va, format);
    vsnprintf(event, sizeof event, format, va);
    va_end(va);
    pthread_mutex_lock(&lock);
    size_t len = strlen(wlog_buf);
    snprintf(wlog_buf + len, sizeof wlog_buf - len, "%s%s", len ? " " : "", event);
    pthread_mutex_unlock(&lock);
}

/* The log, copied under the lock. */
static inline const char *wlog_text(void) {
    static char copy[sizeof wlog_buf];
    pthread_mutex_lock(&lock);
    memcpy(copy, wlog_buf, sizeof copy);
    pthread_mutex_unlock(&lock);
    return copy;
}

#define CHECK_LOG(expected) CHECK_STR(wlog_text(), expected)

/* ---- Tasklets -------------------------------------------------------------- */

/* A new tasklet of def's function with the arguments Py_BuildValue(format,
 * ...) makes, set up and run until it waits (blocks or sleeps); NULL with
 * the exception on failure. */
static inline PyTaskletObject *run_built(PyMethodDef *def, const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);
    va_end(va);
    PyTaskletObject *t = args ? spawn_def(def, args) : NULL;
    Py_XDECREF(args);
    if (t != NULL && PyTasklet_Run(t) < 0) {
        Py_CLEAR(t);
    }
    return t;
}

/* ---- Tasklet bodies that log ----------------------------------------------- */

/* Not every test that includes this header runs these bodies
 * (test_threads.c runs none): a method definition it leaves unused is no
 * error. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"

/* (name, ch, deadline): ReceiveUntil; logs "<name> got <str>" or the
 * exception. */
BODY(w_recv_until) {
    const char *n = arg_str(args, 0);
    PyObject *v = PyChannel_ReceiveUntil((PyChannelObject *)PyTuple_GetItem(args, 1),
                                         PyLong_AsLong(PyTuple_GetItem(args, 2)));
    if (v == NULL) {
        wlog("%s %s", n, take_exc_repr());
    } else {
        wlog("%s got %s", n, harness_text(v, 0));
        Py_DECREF(v);
    }
    Py_RETURN_NONE;
}

#pragma GCC diagnostic pop

#endif
