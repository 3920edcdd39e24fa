/*
 * Cooperative scheduling: three tasklets take turns.
 *
 * Each tasklet runs a C function. It does one step of its work, then calls
 * PyStackless_Schedule to let the next runnable tasklet go; the scheduler
 * runs them round-robin in the order they were started. The program's own
 * code runs as the main tasklet, through PyStackless_Call_Main, and waits in
 * PyStackless_RunWatchdog(0) until every tasklet has finished.
 *
 * Build and run: make demo
 */
#include <stackless.h>
#include <stdio.h>

/* The body of a tasklet: worker(name, steps). A tasklet function returns a
 * new reference, or NULL with an exception set. */
static PyObject *worker(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = PyUnicode_AsUTF8(PyTuple_GetItem(args, 0));
    long steps = PyLong_AsLong(PyTuple_GetItem(args, 1));
    for (long i = 1; i <= steps; i++) {
        printf("%s: step %ld of %ld\n", name, i, steps);
        /* Let the others run; we come back here on our next turn. */
        PyObject *r = PyStackless_Schedule(Py_None, 0);
        if (r == NULL) {
            return NULL; /* killed, or an error delivered to us */
        }
        Py_DECREF(r);
    }
    printf("%s: done\n", name);
    Py_RETURN_NONE;
}

static PyMethodDef worker_def = {"worker", worker, METH_VARARGS, NULL};

/* Starts a tasklet running worker(name, steps). The scheduler keeps its own
 * reference to a runnable tasklet, so we can let go of ours at once. */
static int start_worker(const char *name, long steps) {
    PyObject *func = PyCFunction_New(&worker_def, NULL);
    if (func == NULL) {
        return -1;
    }
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    Py_DECREF(func);
    if (t == NULL) {
        return -1;
    }
    PyObject *args = Py_BuildValue("(sl)", name, steps);
    int rc = args == NULL ? -1 : PyTasklet_Setup(t, args, NULL);
    Py_XDECREF(args);
    Py_DECREF(t);
    return rc;
}

/* The main tasklet. */
static PyObject *main_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (start_worker("alice", 3) < 0 || start_worker("bob", 2) < 0 || start_worker("carol", 1) < 0) {
        return NULL;
    }
    printf("main: %d tasklets runnable, main included\n", PyStackless_GetRunCount());
    /* Run the scheduler until nothing is left to run. An uncaught error of
     * a tasklet would come back here as NULL. */
    PyObject *r = PyStackless_RunWatchdog(0);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    printf("main: all done\n");
    Py_RETURN_NONE;
}

static PyMethodDef main_def = {"main_tasklet", main_tasklet, METH_VARARGS, NULL};

int main(void) {
    PyObject *func = PyCFunction_New(&main_def, NULL);
    PyObject *result = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    int status = 0;
    if (result == NULL) {
        PyErr_Print();
        status = 1;
    } else {
        Py_DECREF(result);
    }
    /* Kills whatever is left and releases the scheduler of this thread. */
    PyStackless_Finalize();
    return status;
}
