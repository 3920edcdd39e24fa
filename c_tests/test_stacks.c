/* Tasklet stacks: the size is set by STACKLESS_STACK_SIZE at start-up and
 * by PyStackless_SetStackSize (rounded up to pages, at least 16 KiB, at
 * most 1 GiB), and a tasklet may use (almost) all of it. */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"

#include <stdint.h>
#include <stdlib.h>

static long first_size;

TEST(environment_sets_the_initial_size) {
    CHECK_INT(first_size, 64 * 1024);
}

TEST(set_stack_size_returns_the_previous_size_rounded_to_pages) {
    size_t old = PyStackless_SetStackSize(20000);
    CHECK_INT(old, 64 * 1024);
    CHECK_INT(PyStackless_SetStackSize(1), 20480);
    CHECK_INT(PyStackless_SetStackSize(old), 16 * 1024);
    CHECK_INT(PyStackless_SetStackSize(old), 64 * 1024);
}

TEST(set_stack_size_brings_a_size_past_1_gib_to_1_gib) {
    size_t old = PyStackless_SetStackSize(SIZE_MAX);
    CHECK_INT(PyStackless_SetStackSize((size_t)1 << 40), MAX_STACK_SIZE);
    CHECK_INT(PyStackless_SetStackSize(old), MAX_STACK_SIZE);
    CHECK_INT(PyStackless_SetStackSize(old), old);
}

/* Uses about `kib` KiB of its stack, then reports it survived. */
static PyObject *deep(PyObject *self, PyObject *args) {
    (void)self;
    long kib = PyLong_AsLong(PyTuple_GetItem(args, 0));
    volatile char frame[1024];
    frame[0] = (char)kib;
    frame[sizeof frame - 1] = 1;
    if (kib > 1) {
        PyObject *a = Py_BuildValue("(l)", kib - 1);
        PyObject *r = deep(NULL, a);
        Py_DECREF(a);
        return r;
    }
    trace("deep %d", frame[sizeof frame - 1]);
    Py_RETURN_NONE;
}

TEST(a_tasklet_can_use_a_large_stack) {
    size_t old = PyStackless_SetStackSize(2 * 1024 * 1024);
    PyObject *a = Py_BuildValue("(l)", 1000L); /* about 1 MiB of frames */
    PyTaskletObject *t = spawn_with(deep, a);
    Py_DECREF(a);
    CHECK(t != NULL);
    PyObject *r = PyStackless_RunWatchdog(0);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    CHECK_TRACE("deep 1");
    Py_DECREF(t);
    PyStackless_SetStackSize(old);
}

TEST(a_tasklet_runs_on_a_1_gib_stack) {
    size_t old = PyStackless_SetStackSize(SIZE_MAX);
    PyObject *a = Py_BuildValue("(l)", 4L);
    PyTaskletObject *t = spawn_with(deep, a);
    Py_DECREF(a);
    CHECK(t != NULL);
    PyObject *r = PyStackless_RunWatchdog(0);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    CHECK_TRACE("deep 1");
    Py_XDECREF(t);
    PyStackless_SetStackSize(old);
}

TEST(stacks_are_reused) {
    for (int round = 0; round < 3; round++) {
        PyTaskletObject *ts[100];
        for (int i = 0; i < 100; i++) {
            PyObject *a = Py_BuildValue("(l)", 4L);
            ts[i] = spawn_with(deep, a);
            Py_DECREF(a);
        }
        PyObject *r = PyStackless_RunWatchdog(0);
        CHECK_PTR(r, Py_None);
        Py_DECREF(r);
        for (int i = 0; i < 100; i++) {
            CHECK_INT(PyTasklet_Alive(ts[i]), 0);
            Py_DECREF(ts[i]);
        }
    }
}

int main(void) {
    setenv("STACKLESS_STACK_SIZE", "65536", 1);
    first_size = (long)PyStackless_SetStackSize(64 * 1024);
    RUN(environment_sets_the_initial_size);
    RUN(set_stack_size_returns_the_previous_size_rounded_to_pages);
    RUN(set_stack_size_brings_a_size_past_1_gib_to_1_gib);
    RUN_INSIDE(a_tasklet_can_use_a_large_stack);
    RUN_INSIDE(a_tasklet_runs_on_a_1_gib_stack);
    RUN_INSIDE(stacks_are_reused);
    PyStackless_Finalize();
    return harness_summary("test_stacks");
}
