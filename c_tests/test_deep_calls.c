/* Unbounded recursion through PyObject_Call stops with
 * RecursionError("maximum recursion depth exceeded while calling a Python
 * object") before any stack overflows (EXTENSIONS.md §8): through C
 * functions (which do not count in the recursion depth, SPEC §9.5, so only
 * the stack stops them) and through a callable type (counted), on a
 * tasklet's default stack, on the smallest stack (16 KiB), in main inside
 * PyStackless_Call_Main, and on a thread outside any Call_Main. */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"

#include <pthread.h>
#include <unistd.h>

#define TOO_DEEP "maximum recursion depth exceeded while calling a Python object"

/* The least depth a recursion reaches on a 256 KiB and a 16 KiB stack
 * (about 470 and 15 in a release build; a sanitizer's frames are several
 * times larger). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MIN_DEPTH_DEFAULT 20
#define MIN_DEPTH_SMALL 1
#else
#define MIN_DEPTH_DEFAULT 200
#define MIN_DEPTH_SMALL 5
#endif

/* How deep the last recursion went. */
static long reached;

/* The function object of `recurse`. */
static PyObject *recurse_fn;

/* Calls itself through PyObject_Call, with a frame that really uses some
 * stack. */
static PyObject *recurse(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    volatile char frame[200];
    frame[0] = 1;
    reached++;
    PyObject *none = PyTuple_New(0);
    PyObject *r = PyObject_Call(recurse_fn, none, NULL);
    Py_DECREF(none);
    return frame[0] ? r : NULL;
}

static PyMethodDef recurse_def = {"recurse", recurse, METH_VARARGS, NULL};

/* A callable type that calls itself: the object model counts each call. */
static PyObject *counted_call(PyObject *self, PyObject *args, PyObject *kwds) {
    (void)kwds;
    reached++;
    return PyObject_Call(self, args, NULL);
}

static PyTypeObject Counted_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "test.Counted",
    .tp_basicsize = sizeof(PyObject),
    .tp_call = counted_call,
    .tp_new = PyType_GenericNew,
};

/* Runs both recursions; each ends in RecursionError after at least
 * `min_depth` levels. */
static void recurse_both_ways(long min_depth) {
    reached = 0;
    PyObject *r = PyObject_CallObject(recurse_fn, NULL);
    CHECK_PTR(r, NULL);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP);
    CHECK(reached >= min_depth);

    PyObject *c = PyObject_CallObject((PyObject *)&Counted_Type, NULL);
    CHECK(c != NULL);
    reached = 0;
    r = PyObject_CallObject(c, NULL);
    CHECK_PTR(r, NULL);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP);
    CHECK(reached >= min_depth && reached <= 1000);
    /* The depth is back where it was: the same again. */
    reached = 0;
    r = PyObject_CallObject(c, NULL);
    CHECK_PTR(r, NULL);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP);
    CHECK(reached >= min_depth && reached <= 1000);
    Py_DECREF(c);
}

static long min_depth_in_tasklet;

static PyObject *in_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    recurse_both_ways(min_depth_in_tasklet);
    trace("done");
    Py_RETURN_NONE;
}

/* Runs the recursions in a tasklet with stacks of `size` bytes. */
static void in_a_tasklet_of(size_t size, long min_depth) {
    size_t old = PyStackless_SetStackSize(size);
    min_depth_in_tasklet = min_depth;
    trace_reset();
    PyTaskletObject *t = spawn(in_tasklet);
    PyObject *r = PyStackless_RunWatchdog(0);
    CHECK_PTR(r, Py_None);
    Py_XDECREF(r);
    CHECK_TRACE("done");
    Py_XDECREF(t);
    PyStackless_SetStackSize(old);
}

TEST(recursion_stops_on_a_default_stack) {
    in_a_tasklet_of(256 * 1024, MIN_DEPTH_DEFAULT);
}

TEST(recursion_stops_on_the_smallest_stack) {
    in_a_tasklet_of(16 * 1024, MIN_DEPTH_SMALL);
}

TEST(recursion_stops_in_main) {
    recurse_both_ways(1000);
}

static void *outside_thread(void *arg) {
    (void)arg;
    recurse_both_ways(1000);
    return NULL;
}

TEST(recursion_stops_on_a_thread_outside) {
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, outside_thread, NULL), 0);
    CHECK_INT(pthread_join(th, NULL), 0);
}

int main(void) {
    alarm(120);
    recurse_fn = PyCFunction_New(&recurse_def, NULL);
    if (PyType_Ready(&Counted_Type) != 0 || recurse_fn == NULL) {
        return 2;
    }
    RUN_INSIDE(recursion_stops_on_a_default_stack);
    RUN_INSIDE(recursion_stops_on_the_smallest_stack);
    RUN_INSIDE(recursion_stops_in_main);
    RUN(recursion_stops_on_a_thread_outside);
    Py_DECREF(recurse_fn);
    return harness_summary("test_deep_calls");
}
