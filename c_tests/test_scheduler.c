/* The scheduler: schedule, run, switch, ordering of the ring (SPEC §3, §5). */
#include "tasklet_helpers.h"

static PyObject *step_twice(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    trace("%s1", name);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    trace("%s2", name);
    Py_RETURN_NONE;
}

TEST(round_robin) {
    PyObject *a = Py_BuildValue("(s)", "A"), *b = Py_BuildValue("(s)", "B");
    PyTaskletObject *ta = spawn_with(step_twice, a), *tb = spawn_with(step_twice, b);
    Py_DECREF(a);
    Py_DECREF(b);
    CHECK(ta != NULL && tb != NULL);
    CHECK_INT(PyStackless_GetRunCount(), 3);
    PyObject *r = PyStackless_RunWatchdog(0);
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK_TRACE("A1 B1 A2 B2");
    CHECK_INT(PyTasklet_Alive(ta), 0);
    Py_DECREF(ta);
    Py_DECREF(tb);
}

int main(void) {
    RUN_INSIDE(round_robin);
    PyStackless_Finalize();
    return harness_summary("test_scheduler");
}
