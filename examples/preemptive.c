/*
 * Pre-emptive scheduling with the watchdog.
 *
 * The workers below never yield by themselves: each one adds up numbers in
 * a loop. A C function cannot be interrupted just anywhere, so each loop
 * iteration calls PyStackless_Tick(1), a point where the watchdog may
 * interrupt it. PyStackless_RunWatchdog(timeout) runs the tasklets and
 * returns the one that ran for more than `timeout` ticks in a row; the
 * scheduler loop in main puts it back at the end of the queue with
 * PyTasklet_Insert, and runs again until only main is left.
 *
 * Build and run: make demo
 */
#include <stackless.h>
#include <stdio.h>

#define TIMEOUT 50

struct job {
    const char *name;
    long count; /* numbers to add */
    long done;  /* numbers added so far */
    PyTaskletObject *tasklet;
};

static struct job jobs[] = {
    {"A", 250, 0, NULL},
    {"B", 120, 0, NULL},
    {"C", 60, 0, NULL},
};
#define NJOBS ((int)(sizeof jobs / sizeof jobs[0]))

/* The body of a worker: adds 1..count, one tick per number. */
static PyObject *adder(PyObject *self, PyObject *args) {
    (void)self;
    struct job *job = &jobs[PyLong_AsLong(PyTuple_GetItem(args, 0))];
    long sum = 0;
    while (job->done < job->count) {
        if (PyStackless_Tick(1) < 0) {
            return NULL; /* killed while it was interrupted */
        }
        sum += ++job->done;
    }
    printf("%s: sum of 1..%ld = %ld\n", job->name, job->count, sum);
    Py_RETURN_NONE;
}

static PyMethodDef adder_def = {"adder", adder, METH_VARARGS, NULL};

static struct job *job_of(PyObject *t) {
    for (int i = 0; i < NJOBS; i++) {
        if ((PyObject *)jobs[i].tasklet == t) {
            return &jobs[i];
        }
    }
    return NULL;
}

/* The scheduler, as the main tasklet. */
static PyObject *scheduler(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *func = PyCFunction_New(&adder_def, NULL);
    if (func == NULL) {
        return NULL;
    }
    for (int i = 0; i < NJOBS; i++) {
        PyObject *a = Py_BuildValue("(i)", i);
        jobs[i].tasklet = PyTasklet_New(NULL, func);
        if (a == NULL || jobs[i].tasklet == NULL || PyTasklet_Setup(jobs[i].tasklet, a, NULL) < 0) {
            Py_XDECREF(a);
            Py_DECREF(func);
            return NULL;
        }
        Py_DECREF(a);
    }
    Py_DECREF(func);

    int slices = 0;
    while (PyStackless_GetRunCount() > 1) {
        PyObject *r = PyStackless_RunWatchdog(TIMEOUT);
        if (r == NULL) {
            return NULL; /* a worker failed */
        }
        slices++;
        if (r != Py_None) {
            /* r was interrupted: it is paused until we insert it again. */
            struct job *job = job_of(r);
            printf("scheduler: interrupted %s after %ld of %ld\n", job->name, job->done, job->count);
            if (PyTasklet_Insert((PyTaskletObject *)r) < 0) {
                Py_DECREF(r);
                return NULL;
            }
        }
        Py_DECREF(r);
    }
    printf("scheduler: all finished after %d runs\n", slices);
    Py_RETURN_NONE;
}

static PyMethodDef scheduler_def = {"scheduler", scheduler, METH_VARARGS, NULL};

int main(void) {
    PyObject *func = PyCFunction_New(&scheduler_def, NULL);
    PyObject *result = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    int status = 0;
    if (result == NULL) {
        PyErr_Print();
        status = 1;
    } else {
        Py_DECREF(result);
    }
    for (int i = 0; i < NJOBS; i++) {
        Py_XDECREF(jobs[i].tasklet);
    }
    PyStackless_Finalize();
    return status;
}
