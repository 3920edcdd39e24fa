/*
 * Worker threads for the threaded tests: a thread whose main tasklet runs
 * one C function through PyStackless_Call_Main, then finalizes the thread.
 */
#ifndef STACKLESS_WORKER_H
#define STACKLESS_WORKER_H

#include <pthread.h>
#include <stackless.h>

/* A thread whose main tasklet runs def's function (PyStackless_Call_Main);
 * failed: it returned NULL (the error is printed). */
typedef struct {
    PyMethodDef *def;
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
    PyStackless_Finalize();
    return NULL;
}

static inline void start_worker(worker *w, PyMethodDef *def) {
    w->def = def;
    w->failed = 0;
    pthread_create(&w->thread, NULL, worker_main, w);
}

/* Joins the worker; true when its main function succeeded. */
static inline int join_worker(worker *w) {
    return pthread_join(w->thread, NULL) == 0 && !w->failed;
}

#endif
