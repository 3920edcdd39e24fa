/*
 * Cooperative multitasking: three tasklets and a channel.
 *
 * The C version of the classic Stackless example:
 *
 *     channel = stackless.channel()
 *     def receiving_tasklet():
 *         print("Receiving tasklet started")
 *         print(channel.receive())
 *         print("Receiving tasklet finished")
 *     def sending_tasklet():
 *         print("Sending tasklet started")
 *         channel.send("send from sending_tasklet")
 *         print("sending tasklet finished")
 *     def another_tasklet():
 *         print("Just another tasklet in the scheduler")
 *     stackless.tasklet(receiving_tasklet)()
 *     stackless.tasklet(sending_tasklet)()
 *     stackless.tasklet(another_tasklet)()
 *     stackless.run()
 *
 * It prints:
 *
 *     Receiving tasklet started
 *     Sending tasklet started
 *     send from sending_tasklet
 *     Receiving tasklet finished
 *     Just another tasklet in the scheduler
 *     sending tasklet finished
 *
 * The receiver blocks on the empty channel, so the sender runs. When the
 * sender sends, the waiting receiver is preferred (a channel's default
 * preference): it runs at once, finishes, and the scheduler goes on with
 * the next runnable tasklet; the sender runs last.
 *
 * Build: cc -Iinclude examples/cooperative.c -Ltarget/release -lstackless
 */
#include <stackless.h>

#include <stdio.h>

static PyChannelObject *channel;

/* A tasklet's function is an ordinary C function (METH_VARARGS): it gets
 * its argument tuple and returns a new reference, or NULL with an exception
 * set (for example when the tasklet is killed while it waits). */
static PyObject *receiving_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    printf("Receiving tasklet started\n");
    PyObject *message = PyChannel_Receive(channel);
    if (message == NULL) {
        return NULL;
    }
    printf("%s\n", PyUnicode_AsUTF8(message));
    Py_DECREF(message);
    printf("Receiving tasklet finished\n");
    Py_RETURN_NONE;
}

static PyObject *sending_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    printf("Sending tasklet started\n");
    PyObject *message = PyUnicode_FromString("send from sending_tasklet");
    int rc = PyChannel_Send(channel, message);
    Py_DECREF(message);
    if (rc < 0) {
        return NULL;
    }
    printf("sending tasklet finished\n");
    Py_RETURN_NONE;
}

static PyObject *another_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    printf("Just another tasklet in the scheduler\n");
    Py_RETURN_NONE;
}

static PyMethodDef functions[] = {
    {"receiving_tasklet", receiving_tasklet, METH_VARARGS, NULL},
    {"sending_tasklet", sending_tasklet, METH_VARARGS, NULL},
    {"another_tasklet", another_tasklet, METH_VARARGS, NULL},
};

/* stackless.tasklet(func)(): a new tasklet, set up with no arguments, so
 * that it is runnable. Returns 0 or -1. */
static int start_tasklet(PyMethodDef *def) {
    PyObject *func = PyCFunction_New(def, NULL);
    if (func == NULL) {
        return -1;
    }
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    Py_DECREF(func);
    if (t == NULL) {
        return -1;
    }
    int rc = PyTasklet_Setup(t, NULL, NULL);
    /* The scheduler keeps a runnable tasklet alive: we may let go. */
    Py_DECREF(t);
    return rc;
}

/* The program's main tasklet: starts the three tasklets and runs the
 * scheduler until none is left runnable. */
static PyObject *main_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (int i = 0; i < 3; i++) {
        if (start_tasklet(&functions[i]) < 0) {
            return NULL;
        }
    }
    return PyStackless_RunWatchdog(0);
}

int main(void) {
    static PyMethodDef main_def = {"main_tasklet", main_tasklet, METH_VARARGS, NULL};
    channel = PyChannel_New(NULL);
    PyObject *func = PyCFunction_New(&main_def, NULL);
    if (channel == NULL || func == NULL) {
        PyErr_Print();
        return 1;
    }
    PyObject *result = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    Py_CLEAR(channel);
    int status = 0;
    if (result == NULL) {
        PyErr_Print();
        status = 1;
    } else {
        Py_DECREF(result);
    }
    PyStackless_Finalize();
    return status;
}
