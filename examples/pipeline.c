/*
 * A producer/consumer pipeline: numbers flow through three stages, each a
 * tasklet, connected by channels.
 *
 *     produce --ch[0]--> square --ch[1]--> add_one --ch[2]--> consume
 *
 * The producer sends 1..5 and then closes the pipeline by sending
 * StopIteration as an exception; every stage passes the end on by catching
 * it and sending it further. The consumer prints every value and the sum.
 *
 * Build: cc -Iinclude examples/pipeline.c -Ltarget/release -lstackless
 */
#include <stackless.h>

#include <stdio.h>

enum { STAGES = 3, COUNT = 5 };

static PyChannelObject *ch[STAGES];

/* Receives from `in`; NULL at the end of the stream (StopIteration, which
 * is cleared) or on another error (left set). */
static PyObject *next_item(PyChannelObject *in, int *ended) {
    PyObject *item = PyChannel_Receive(in);
    *ended = item == NULL && PyErr_ExceptionMatches(PyExc_StopIteration);
    if (*ended) {
        PyErr_Clear();
    }
    return item;
}

static PyObject *produce(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (long i = 1; i <= COUNT; i++) {
        PyObject *n = PyLong_FromLong(i);
        int rc = PyChannel_Send(ch[0], n);
        Py_DECREF(n);
        if (rc < 0) {
            return NULL;
        }
    }
    if (PyChannel_SendException(ch[0], PyExc_StopIteration, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* One stage: receives from ch[k], applies `op`, sends to ch[k + 1]. Its
 * argument tuple is (k, op) with op 0 = square, 1 = add one. */
static PyObject *stage(PyObject *self, PyObject *args) {
    (void)self;
    long k = PyLong_AsLong(PyTuple_GetItem(args, 0));
    long op = PyLong_AsLong(PyTuple_GetItem(args, 1));
    for (;;) {
        int ended;
        PyObject *item = next_item(ch[k], &ended);
        if (ended) {
            break;
        }
        if (item == NULL) {
            return NULL;
        }
        long v = PyLong_AsLong(item);
        Py_DECREF(item);
        PyObject *out = PyLong_FromLong(op == 0 ? v * v : v + 1);
        int rc = PyChannel_Send(ch[k + 1], out);
        Py_DECREF(out);
        if (rc < 0) {
            return NULL;
        }
    }
    if (PyChannel_SendException(ch[k + 1], PyExc_StopIteration, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *consume(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    long sum = 0;
    for (;;) {
        int ended;
        PyObject *item = next_item(ch[STAGES - 1], &ended);
        if (ended) {
            break;
        }
        if (item == NULL) {
            return NULL;
        }
        printf("consumed %ld\n", PyLong_AsLong(item));
        sum += PyLong_AsLong(item);
        Py_DECREF(item);
    }
    printf("sum %ld\n", sum);
    Py_RETURN_NONE;
}

static PyMethodDef produce_def = {"produce", produce, METH_VARARGS, NULL};
static PyMethodDef stage_def = {"stage", stage, METH_VARARGS, NULL};
static PyMethodDef consume_def = {"consume", consume, METH_VARARGS, NULL};

/* Creates a tasklet running `def` with the arguments built from `format`. */
static int start(PyMethodDef *def, const char *format, long a, long b) {
    PyObject *func = PyCFunction_New(def, NULL);
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    PyObject *args = format ? Py_BuildValue(format, a, b) : PyTuple_New(0);
    int rc = t && args ? PyTasklet_Setup(t, args, NULL) : -1;
    Py_XDECREF(args);
    Py_XDECREF(t);
    Py_XDECREF(func);
    return rc;
}

static PyObject *run_pipeline(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (start(&consume_def, NULL, 0, 0) < 0 || start(&stage_def, "(ll)", 1L, 1L) < 0 ||
        start(&stage_def, "(ll)", 0L, 0L) < 0 || start(&produce_def, NULL, 0, 0) < 0) {
        return NULL;
    }
    /* The scheduler runs until every tasklet has finished. */
    return PyStackless_RunWatchdog(0);
}

int main(void) {
    for (int i = 0; i < STAGES; i++) {
        ch[i] = PyChannel_New(NULL);
    }
    static PyMethodDef run_def = {"run_pipeline", run_pipeline, METH_VARARGS, NULL};
    PyObject *func = PyCFunction_New(&run_def, NULL);
    PyObject *result = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    int status = result == NULL;
    if (status) {
        PyErr_Print();
    }
    Py_XDECREF(result);
    for (int i = 0; i < STAGES; i++) {
        Py_DECREF(ch[i]);
    }
    PyStackless_Finalize();
    return status;
}
