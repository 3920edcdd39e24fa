/*
 * Tasklets: states and predicates, binding and setup, re-use, kill / throw /
 * raise_exception, uncaught exceptions, TaskletExit and SystemExit, the
 * flags, deallocation, how the tasklet's function is called, bad input
 * (SPEC §2, §5.4-§5.7, §8.1, §9.3-§9.5, §9.11; scenarios S16-S26, S29,
 * S30, S32-S35, S63).
 */
#include "tasklet_helpers.h"

/* ---- Helpers of this file ---------------------------------------------- */

#define SPAWN(name) spawn_def(&name##_def, NULL)
#define SPAWN_S(name, s) spawn_def_s(&name##_def, (s))

/* 1 if the tasklet's tempval is `expected` (the same object). */
static int tempval_is(PyTaskletObject *t, PyObject *expected) {
    PyObject *v = PyTasklet_GetTempval(t);
    int same = v == expected;
    Py_XDECREF(v);
    return same;
}

static const char *const ST_UNBOUND = "a0 s0 p0 b0 r1 n0";
static const char *const ST_NOT_STARTED_RUNNABLE = "a1 s1 p0 b0 r1 n0";
static const char *const ST_NOT_STARTED_PAUSED = "a1 s0 p1 b0 r1 n0";
static const char *const ST_STARTED_RUNNABLE = "a1 s1 p0 b0 r0 n1";
static const char *const ST_STARTED_PAUSED = "a1 s0 p1 b0 r0 n1";
static const char *const ST_CURRENT = "a1 s1 p0 b0 r1 n0";
static const char *const ST_DEAD = "a0 s0 p0 b0 r1 n0";

/* ---- Tasklet bodies ------------------------------------------------------ */

BODY(noop) {
    (void)args;
    Py_RETURN_NONE;
}

/* Logs its string argument. */
BODY(log_arg) {
    trace("%s", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* Logs its argument, then returns a string (which is discarded). */
BODY(log_and_return) {
    trace("%s", arg_str(args, 0));
    return PyUnicode_FromString("discarded result");
}

/* Body that must never run. */
BODY(must_not_run) {
    (void)args;
    trace("BODY RAN");
    Py_RETURN_NONE;
}

/* "<name>1", Schedule(None, remove), "<name>2"; logs "<name> <error>" when
 * the Schedule fails and re-raises. Arguments: (name, remove). */
BODY(park) {
    const char *name = arg_str(args, 0);
    int remove = (int)PyLong_AsLong(PyTuple_GetItem(args, 1));
    trace("%s1", name);
    PyObject *r = PyStackless_Schedule(Py_None, remove);
    if (r == NULL) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        trace("%s %s", name, ((PyTypeObject *)t)->tp_name);
        PyErr_Restore(t, v, tb);
        return NULL;
    }
    Py_DECREF(r);
    trace("%s2", name);
    Py_RETURN_NONE;
}

static PyTaskletObject *spawn_park(const char *name, int remove) {
    PyObject *args = Py_BuildValue("(si)", name, remove);
    PyTaskletObject *t = spawn_def(&park_def, args);
    Py_DECREF(args);
    name_object(t, name);
    return t;
}

/* Parks (Schedule(None, 1)); when resumed by an exception, logs its repr
 * and ends normally (the exception is handled). */
BODY(catcher) {
    (void)args;
    PyObject *r = PyStackless_Schedule(Py_None, 1);
    if (r == NULL) {
        trace("caught %s", error_repr());
        Py_RETURN_NONE;
    }
    Py_DECREF(r);
    trace("resumed normally");
    Py_RETURN_NONE;
}

/* A catcher, started and paused. */
static PyTaskletObject *paused_catcher(void) {
    PyTaskletObject *t = SPAWN(catcher);
    if (t != NULL && PyTasklet_Run(t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

/* Raises ZeroDivisionError with its string argument. */
BODY(raise_zde) {
    PyErr_SetString(PyExc_ZeroDivisionError, arg_str(args, 0));
    return NULL;
}

/* ---- States and predicates (SPEC §2.1, §8.1) ------------------------------ */

TEST(new_tasklet_is_unbound) {
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK(t != NULL);
    CHECK_PTR(Py_TYPE(t), &PyTasklet_Type);
    CHECK(PyTasklet_Check(t));
    CHECK_STATES(t, ST_UNBOUND);
    CHECK_INT(PyTasklet_IsMain(t), 0);
    CHECK_INT(PyTasklet_IsCurrent(t), 0);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    CHECK_INT(PyTasklet_GetAtomic(t), 0);
    CHECK_INT(PyTasklet_GetIgnoreNesting(t), 0);
    CHECK_INT(PyTasklet_GetBlockTrap(t), 0);
    CHECK_INT(PyTasklet_GetPendingIrq(t), 0);
    CHECK_PTR(PyTasklet_GetFrame(t), NULL);
    CHECK_NO_ERROR();
    CHECK(tempval_is(t, Py_None));
    PyObject *n = PyTasklet_GetNext(t), *p = PyTasklet_GetPrev(t);
    CHECK(n == Py_None && p == Py_None);
    Py_DECREF(n);
    Py_DECREF(p);
    CHECK_INT(PyTasklet_GetThreadId(t), thread_ident());
    Py_DECREF(t);
    /* None as the function is the same as NULL. */
    t = PyTasklet_New(NULL, Py_None);
    CHECK(t != NULL);
    CHECK_STATES(t, ST_UNBOUND);
    CHECK(tempval_is(t, Py_None));
    Py_DECREF(t);
}

TEST(new_tasklet_with_function_is_bound) {
    PyObject *func = FUNC(noop);
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    CHECK(t != NULL);
    CHECK_STATES(t, ST_UNBOUND);
    CHECK(tempval_is(t, func));
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(t);
    Py_DECREF(func);
}

TEST(new_tasklet_bad_arguments) {
    PyObject *five = PyLong_FromLong(5);
    CHECK(PyTasklet_New(NULL, five) == NULL);
    CHECK_ERROR(PyExc_TypeError, "tasklet function must be a callable or None");
    /* Not a subtype of tasklet: TypeError without a message. */
    CHECK(PyTasklet_New(&PyLong_Type, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "");
    /* Not a type object at all: a bad call. */
    PyObject *empty = PyTuple_New(0);
    CHECK(PyTasklet_New((PyTypeObject *)five, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK(PyTasklet_New((PyTypeObject *)empty, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK(PyTasklet_New((PyTypeObject *)Py_None, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    Py_DECREF(empty);
    Py_DECREF(five);
}

typedef struct {
    PyTaskletObject base;
    long extra;
} MyTaskletObject;

static PyTypeObject MyTasklet_Type = {
    .ob_base = {{1, NULL}, 0},
    .tp_name = "test.MyTasklet",
    .tp_basicsize = sizeof(MyTaskletObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_base = &PyTasklet_Type,
};

TEST(new_tasklet_of_a_subtype) {
    CHECK_INT(PyType_Ready(&MyTasklet_Type), 0);
    PyObject *func = FUNC(log_arg);
    PyTaskletObject *t = PyTasklet_New(&MyTasklet_Type, func);
    Py_DECREF(func);
    CHECK(t != NULL);
    CHECK_PTR(Py_TYPE(t), &MyTasklet_Type);
    CHECK(PyTasklet_Check(t));
    ((MyTaskletObject *)t)->extra = 42;
    PyObject *args = Py_BuildValue("(s)", "sub runs");
    CHECK_INT(PyTasklet_Setup(t, args, NULL), 0);
    Py_DECREF(args);
    CHECK_STATES(t, ST_NOT_STARTED_RUNNABLE);
    CHECK_RUN_NONE();
    CHECK_TRACE("sub runs");
    CHECK_STATES(t, ST_DEAD);
    CHECK_INT(((MyTaskletObject *)t)->extra, 42);
    Py_DECREF(t);
}

TEST(set_up_tasklet_is_runnable_not_started) {
    names_reset();
    PyTaskletObject *t = SPAWN_S(log_and_return, "T runs");
    CHECK(t != NULL);
    name_object(t, "T");
    CHECK_STATES(t, ST_NOT_STARTED_RUNNABLE);
    CHECK(tempval_is(t, Py_None));
    CHECK_PTR(PyTasklet_GetFrame(t), NULL);
    CHECK_NO_ERROR();
    CHECK_INT(PyTasklet_IsCurrent(t), 0);
    CHECK_INT(PyStackless_GetRunCount(), 2);
    CHECK_RING("main T");
    CHECK_RUN_NONE();
    CHECK_TRACE("T runs");
    /* Dead: the result was discarded (tempval None), no links. */
    CHECK_STATES(t, ST_DEAD);
    CHECK(tempval_is(t, Py_None));
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    PyObject *n = PyTasklet_GetNext(t);
    CHECK(n == Py_None);
    Py_DECREF(n);
    CHECK_INT(PyTasklet_GetThreadId(t), thread_ident());
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(t);
}

/* What a running tasklet sees of itself and of main. */
static char probe_buf[256];

BODY(probe) {
    (void)args;
    PyTaskletObject *self = current(), *m = main_tasklet();
    snprintf(probe_buf, sizeof probe_buf, "self[%s cur%d main%d] main[%s cur%d main%d]",
             states(self), PyTasklet_IsCurrent(self), PyTasklet_IsMain(self), states(m),
             PyTasklet_IsCurrent(m), PyTasklet_IsMain(m));
    Py_RETURN_NONE;
}

TEST(running_tasklet_and_suspended_main) {
    /* Main suspended in Run(t) is runnable (in the ring) with C state. */
    PyTaskletObject *t = SPAWN(probe);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_STR(probe_buf, "self[a1 s1 p0 b0 r1 n0 cur1 main0] main[a1 s1 p0 b0 r0 n1 cur0 main1]");
    Py_DECREF(t);
    /* Main inside run() is paused. */
    t = SPAWN(probe);
    CHECK_RUN_NONE();
    CHECK_STR(probe_buf, "self[a1 s1 p0 b0 r1 n0 cur1 main0] main[a1 s0 p1 b0 r0 n1 cur0 main1]");
    Py_DECREF(t);
}

TEST(main_tasklet_state) {
    PyTaskletObject *m = main_tasklet();
    CHECK(m != NULL);
    CHECK_PTR(current(), m);
    CHECK_STATES(m, ST_CURRENT);
    CHECK_INT(PyTasklet_IsMain(m), 1);
    CHECK_INT(PyTasklet_IsCurrent(m), 1);
    CHECK_INT(PyTasklet_GetRecursionDepth(m), 0);
    CHECK_INT(PyTasklet_GetThreadId(m), thread_ident());
    CHECK(tempval_is(m, Py_None));
    CHECK_INT(PyStackless_GetCurrentId(), thread_ident());
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

TEST(suspended_started_tasklets) {
    names_reset();
    PyTaskletObject *a = spawn_park("A", 0), *b = spawn_park("B", 1);
    CHECK(a != NULL && b != NULL);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK_TRACE("A1 B1");
    CHECK_STATES(a, ST_STARTED_RUNNABLE);
    CHECK_STATES(b, ST_STARTED_PAUSED);
    CHECK_INT(PyTasklet_GetRecursionDepth(a), 0);
    CHECK_INT(PyTasklet_GetRecursionDepth(b), 0);
    CHECK_RING("main A");
    CHECK_INT(PyTasklet_Insert(b), 0);
    CHECK_RING("main A B");
    CHECK_RUN_NONE();
    CHECK_TRACE("A1 B1 A2 B2");
    CHECK_STATES(a, ST_DEAD);
    CHECK_STATES(b, ST_DEAD);
    Py_DECREF(a);
    Py_DECREF(b);
}

static PyTaskletObject *saved_main;

static PyObject *save_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    saved_main = (PyTaskletObject *)PyStackless_GetMain();
    Py_RETURN_NONE;
}

/* SPEC §2.5 / §7.3: the former main is dead once Call_Main returned. */
TEST(former_main_is_dead) {
    static PyMethodDef def = {"save_main", save_main, METH_VARARGS, NULL};
    PyObject *func = PyCFunction_New(&def, NULL);
    PyObject *r = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK(saved_main != NULL);
    CHECK_STATES(saved_main, ST_DEAD);
    CHECK_INT(PyTasklet_IsMain(saved_main), 0);
    CHECK_INT(PyTasklet_IsCurrent(saved_main), 0);
    Py_DECREF(saved_main);
    CHECK(PyStackless_GetMain() == NULL);
    CHECK_NO_ERROR();
}

/* SPEC §8.3, S61: outside there is no current tasklet. */
TEST(outside_queries) {
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_NO_ERROR();
    CHECK(PyStackless_GetMain() == NULL);
    CHECK_NO_ERROR();
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_INT(PyStackless_GetCurrentId(), thread_ident());
}

/* ---- Bind and setup (S32, §2.2, §2.6) ------------------------------------ */

static int s32_count;

/* Parks, then counts in a "finally" whether resumed or killed. */
BODY(s32_task) {
    (void)args;
    PyObject *r = PyStackless_Schedule(Py_None, 1);
    s32_count++;
    if (r == NULL) {
        trace("%s", error_text());
        PyErr_SetNone(PyExc_TaskletExit);
        return NULL;
    }
    return r;
}

/* S32 (a) */
TEST(s32a_bind_setup_pause_insert) {
    s32_count = 0;
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK_STATES(t, ST_UNBOUND);
    CHECK_PTR(PyTasklet_GetFrame(t), NULL);
    CHECK_INT(PyTasklet_BindEx(t, NULL, NULL, NULL), 0);
    CHECK_STATES(t, ST_UNBOUND);
    CHECK(tempval_is(t, Py_None));
    PyObject *func = FUNC(s32_task);
    CHECK_INT(PyTasklet_BindEx(t, func, NULL, NULL), 0);
    CHECK(tempval_is(t, func));
    CHECK_STATES(t, ST_UNBOUND);
    PyObject *args = Py_BuildValue("(i)", 0);
    CHECK_INT(PyTasklet_Setup(t, args, NULL), 0);
    Py_DECREF(args);
    CHECK(tempval_is(t, Py_None));
    CHECK_STATES(t, ST_NOT_STARTED_RUNNABLE);
    CHECK_RUN_NONE();
    CHECK_STATES(t, ST_STARTED_PAUSED);
    CHECK_INT(s32_count, 0);
    CHECK_INT(PyTasklet_Insert(t), 0);
    CHECK_RUN_NONE();
    CHECK_INT(s32_count, 1);
    CHECK_STATES(t, ST_DEAD);
    CHECK_TRACE("");
    Py_DECREF(t);
    Py_DECREF(func);
}

/* S32 (b) */
TEST(s32b_bind_not_callable) {
    PyObject *func = FUNC(noop), *five = PyLong_FromLong(5);
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_BindEx(t, five, NULL, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "tasklet function must be a callable or None");
    CHECK(tempval_is(t, func));
    PyObject *empty = PyTuple_New(0);
    CHECK_INT(PyTasklet_BindEx(t, five, empty, NULL), -1);
    Py_DECREF(empty);
    CHECK_ERROR(PyExc_TypeError, "tasklet function must be a callable or None");
    CHECK_STATES(t, ST_UNBOUND);
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(five);
}

BODY(bind_self) {
    (void)args;
    PyObject *func = FUNC(noop);
    if (PyTasklet_BindEx(current(), func, NULL, NULL) < 0) {
        trace("%s", error_text());
    }
    if (PyTasklet_BindEx(current(), NULL, NULL, NULL) < 0) {
        trace("%s", error_text());
    }
    Py_DECREF(func);
    Py_RETURN_NONE;
}

/* S32 (c) */
TEST(s32c_bind_current) {
    PyTaskletObject *m = main_tasklet();
    CHECK_INT(PyTasklet_BindEx(m, NULL, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "can't (re)bind the current tasklet");
    PyObject *func = FUNC(noop);
    CHECK_INT(PyTasklet_BindEx(m, func, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "can't (re)bind the current tasklet");
    Py_DECREF(func);
    PyTaskletObject *t = SPAWN(bind_self);
    CHECK_RUN_NONE();
    CHECK_TRACE("RuntimeError: can't (re)bind the current tasklet "
                "RuntimeError: can't (re)bind the current tasklet");
    Py_DECREF(t);
}

/* S32 (d) */
TEST(s32d_bind_scheduled) {
    PyTaskletObject *t = spawn_park("A", 0);
    PyObject *func = FUNC(noop), *args = PyTuple_New(0);
    /* Runnable, not started. */
    CHECK_INT(PyTasklet_BindEx(t, NULL, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet is scheduled");
    CHECK_INT(PyTasklet_BindEx(t, func, args, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet is scheduled");
    /* Run once, runnable again (with C state: "scheduled" is checked first). */
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK_STATES(t, ST_STARTED_RUNNABLE);
    CHECK_INT(PyTasklet_BindEx(t, NULL, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet is scheduled");
    CHECK_RUN_NONE();
    CHECK_TRACE("A1 A2");
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(args);
}

/* S32 (e); SPEC §2.7 */
TEST(s32e_bind_c_state_then_drop_kills) {
    s32_count = 0;
    PyTaskletObject *t = SPAWN(s32_task);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_STATES(t, ST_STARTED_PAUSED);
    CHECK_INT(PyTasklet_BindEx(t, NULL, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet has C state on its stack");
    PyObject *func = FUNC(noop), *args = PyTuple_New(0);
    CHECK_INT(PyTasklet_BindEx(t, func, args, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet has C state on its stack");
    Py_DECREF(func);
    Py_DECREF(args);
    CHECK_INT(s32_count, 0);
    Py_DECREF(t); /* the last reference: the tasklet is killed */
    CHECK_INT(s32_count, 1);
    CHECK_TRACE("TaskletExit: ");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_NO_ERROR();
}

/* Logs repr(args) and the keywords (NULL, i.e. none, shown as {}). */
static PyObject *argstest(PyObject *self, PyObject *args, PyObject *kwds) {
    (void)self;
    trace("%s %s", harness_text(args, 1), kwds ? harness_text(kwds, 1) : "{}");
    Py_RETURN_NONE;
}

static PyMethodDef argstest_def = {"argstest", (PyCFunction)(void (*)(void))argstest,
                                   METH_VARARGS | METH_KEYWORDS, NULL};

/* S32 (f) */
TEST(s32f_bound_but_not_set_up_cannot_run) {
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    PyObject *func = PyCFunction_New(&argstest_def, NULL);
    CHECK_INT(PyTasklet_BindEx(t, func, NULL, NULL), 0);
    CHECK(tempval_is(t, func));
    CHECK_INT(PyTasklet_Run(t), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_INT(PyTasklet_Insert(t), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_INT(PyTasklet_Switch(t), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_STATES(t, ST_UNBOUND);
    CHECK_TRACE("");
    Py_DECREF(t);
    Py_DECREF(func);
}

/* S32 (g) */
TEST(s32g_bind_with_arguments) {
    PyObject *func = PyCFunction_New(&argstest_def, NULL);
    PyObject *args = Py_BuildValue("(ss)", "foo", "bar");
    PyObject *kwargs = Py_BuildValue("{s:i}", "a", 1);
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK_INT(PyTasklet_BindEx(t, func, args, NULL), 0);
    CHECK_STATES(t, ST_NOT_STARTED_PAUSED);
    CHECK(tempval_is(t, Py_None));
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_STATES(t, ST_DEAD);
    CHECK_INT(PyTasklet_BindEx(t, func, NULL, kwargs), 0);
    CHECK_STATES(t, ST_NOT_STARTED_PAUSED);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(PyTasklet_BindEx(t, func, args, kwargs), 0);
    CHECK_INT(PyTasklet_Run(t), 0);
    /* None counts as NULL for all three. */
    CHECK_INT(PyTasklet_BindEx(t, func, args, Py_None), 0);
    CHECK_INT(PyTasklet_Run(t), 0);
    Py_DECREF(t);
    /* The function bound at creation, the arguments by BindEx. */
    t = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_BindEx(t, NULL, args, kwargs), 0);
    CHECK_STATES(t, ST_NOT_STARTED_PAUSED);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_TRACE("('foo', 'bar') {} () {'a': 1} ('foo', 'bar') {'a': 1} ('foo', 'bar') {} "
                "('foo', 'bar') {'a': 1}");
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(args);
    Py_DECREF(kwargs);
}

/* A paused, not started tasklet may be re-bound or unbound: its pending
 * call is forgotten and nothing runs (SPEC §2.2). */
TEST(rebind_and_unbind_paused_not_started) {
    PyObject *func = FUNC(log_arg);
    PyObject *first = Py_BuildValue("(s)", "first"), *second = Py_BuildValue("(s)", "second");
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_BindEx(t, NULL, first, NULL), 0);
    /* The pending call holds the function now: args alone are not enough. */
    CHECK_INT(PyTasklet_BindEx(t, NULL, second, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "the tasklet was not bound to a function");
    CHECK_INT(PyTasklet_BindEx(t, func, second, NULL), 0);
    CHECK_STATES(t, ST_NOT_STARTED_PAUSED);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_TRACE("second");
    CHECK_INT(PyTasklet_BindEx(t, func, first, NULL), 0);
    CHECK_INT(PyTasklet_BindEx(t, NULL, NULL, NULL), 0);
    CHECK_STATES(t, ST_UNBOUND);
    CHECK(tempval_is(t, Py_None));
    CHECK_INT(PyTasklet_Run(t), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_TRACE("second");
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(first);
    Py_DECREF(second);
}

BODY(setup_self) {
    (void)args;
    PyObject *empty = PyTuple_New(0);
    if (PyTasklet_Setup(current(), empty, NULL) < 0) {
        trace("%s", error_text());
    }
    Py_DECREF(empty);
    Py_RETURN_NONE;
}

/* S32 (h); SPEC §2.3 Setup column */
TEST(s32h_setup_alive) {
    PyObject *empty = PyTuple_New(0);
    PyTaskletObject *t = SPAWN(setup_self);
    CHECK_INT(PyTasklet_Setup(t, empty, NULL), -1); /* runnable, not started */
    CHECK_ERROR(PyExc_RuntimeError, "tasklet is alive");
    CHECK_INT(PyTasklet_Setup(main_tasklet(), empty, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet is alive");
    CHECK_RUN_NONE();
    CHECK_TRACE("RuntimeError: tasklet is alive");
    Py_DECREF(t);
    /* Paused, not started; paused with C state. */
    PyObject *func = FUNC(noop);
    t = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_BindEx(t, NULL, empty, NULL), 0);
    CHECK_INT(PyTasklet_Setup(t, empty, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet is alive");
    Py_DECREF(t);
    t = paused_catcher();
    CHECK_INT(PyTasklet_Setup(t, empty, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet is alive");
    CHECK_INT(PyTasklet_Kill(t), 0);
    CHECK_TRACE("RuntimeError: tasklet is alive caught TaskletExit()");
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(empty);
}

/* S32 (i) */
TEST(s32i_not_bound_to_a_function) {
    PyObject *empty = PyTuple_New(0);
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK_INT(PyTasklet_BindEx(t, NULL, empty, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "the tasklet was not bound to a function");
    CHECK_INT(PyTasklet_Setup(t, empty, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "the tasklet was not bound to a function");
    CHECK_STATES(t, ST_UNBOUND);
    Py_DECREF(t);
    /* A dead tasklet: its function is gone. */
    t = SPAWN(noop);
    CHECK_RUN_NONE();
    CHECK_INT(PyTasklet_Setup(t, empty, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "the tasklet was not bound to a function");
    CHECK_INT(PyTasklet_BindEx(t, NULL, empty, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "the tasklet was not bound to a function");
    CHECK(tempval_is(t, Py_None));
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
    Py_DECREF(empty);
}

static char bind_main_buf[256];

BODY(bind_main) {
    (void)args;
    int rc = PyTasklet_BindEx(main_tasklet(), NULL, NULL, NULL);
    snprintf(bind_main_buf, sizeof bind_main_buf, "%d %s", rc, error_text());
    Py_RETURN_NONE;
}

/* SPEC §2.4: main in the ring is "scheduled"; suspended in run(), it has
 * C state. */
TEST(bind_main_from_a_tasklet) {
    PyTaskletObject *t = SPAWN(bind_main);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_STR(bind_main_buf, "-1 RuntimeError: tasklet is scheduled");
    Py_DECREF(t);
    t = SPAWN(bind_main);
    CHECK_RUN_NONE();
    CHECK_STR(bind_main_buf, "-1 RuntimeError: tasklet has C state on its stack");
    Py_DECREF(t);
}

/* SPEC §2.6: a dead tasklet can be bound and set up again. */
TEST(dead_tasklet_is_reused) {
    PyTaskletObject *t = SPAWN_S(log_arg, "first");
    CHECK_RUN_NONE();
    CHECK_STATES(t, ST_DEAD);
    PyObject *func = FUNC(log_arg);
    CHECK_INT(PyTasklet_BindEx(t, func, NULL, NULL), 0);
    CHECK(tempval_is(t, func));
    PyObject *args = Py_BuildValue("(s)", "second");
    CHECK_INT(PyTasklet_Setup(t, args, NULL), 0);
    Py_DECREF(args);
    CHECK_STATES(t, ST_NOT_STARTED_RUNNABLE);
    CHECK_RUN_NONE();
    args = Py_BuildValue("(s)", "third");
    CHECK_INT(PyTasklet_BindEx(t, func, args, NULL), 0);
    Py_DECREF(args);
    CHECK_STATES(t, ST_NOT_STARTED_PAUSED);
    CHECK_INT(PyTasklet_Insert(t), 0);
    CHECK_STATES(t, ST_NOT_STARTED_RUNNABLE);
    CHECK_RUN_NONE();
    CHECK_TRACE("first second third");
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
    Py_DECREF(func);
}

BODY(report_flags) {
    (void)args;
    PyTaskletObject *self = current();
    trace("flags %d%d%d", PyTasklet_GetAtomic(self), PyTasklet_GetIgnoreNesting(self),
          PyTasklet_GetBlockTrap(self));
    Py_RETURN_NONE;
}

/* SPEC §2.6: death, BindEx and Setup leave the flags alone; §1.1: a new
 * tasklet does not inherit atomic. */
TEST(flags_survive_death_and_rebinding) {
    PyTaskletObject *t = SPAWN(report_flags);
    CHECK_INT(PyTasklet_SetAtomic(t, 1), 0);
    CHECK_INT(PyTasklet_SetIgnoreNesting(t, 1), 0);
    PyTasklet_SetBlockTrap(t, 1);
    CHECK_RUN_NONE();
    CHECK_STATES(t, ST_DEAD);
    CHECK_INT(PyTasklet_GetAtomic(t), 1);
    CHECK_INT(PyTasklet_GetIgnoreNesting(t), 1);
    CHECK_INT(PyTasklet_GetBlockTrap(t), 1);
    PyObject *func = FUNC(report_flags), *empty = PyTuple_New(0);
    CHECK_INT(PyTasklet_BindEx(t, func, NULL, NULL), 0);
    CHECK_INT(PyTasklet_Setup(t, empty, NULL), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("flags 111 flags 111");
    Py_DECREF(t);
    PyTaskletObject *m = main_tasklet();
    CHECK_INT(PyTasklet_SetAtomic(m, 1), 0);
    t = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_GetAtomic(t), 0);
    CHECK_INT(PyTasklet_SetAtomic(m, 0), 1);
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(empty);
}

/* SPEC §8.1: calling a tasklet object sets it up and returns it; a tasklet
 * whose function is another tasklet sets that one up. */
TEST(calling_a_tasklet_sets_it_up) {
    PyObject *func = FUNC(log_arg);
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    PyObject *args = Py_BuildValue("(s)", "called");
    PyObject *r = PyObject_Call((PyObject *)t, args, NULL);
    CHECK_PTR(r, t);
    Py_DECREF(r);
    CHECK_STATES(t, ST_NOT_STARTED_RUNNABLE);
    CHECK(PyObject_Call((PyObject *)t, args, NULL) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet is alive");
    CHECK_RUN_NONE();
    Py_DECREF(args);
    /* The outer tasklet sets up u with its own arguments and ends. */
    PyTaskletObject *u = PyTasklet_New(NULL, func);
    PyTaskletObject *outer = PyTasklet_New(NULL, (PyObject *)u);
    args = Py_BuildValue("(s)", "via outer");
    CHECK_INT(PyTasklet_Setup(outer, args, NULL), 0);
    Py_DECREF(args);
    CHECK_STATES(u, ST_UNBOUND);
    CHECK_RUN_NONE();
    CHECK_TRACE("called via outer");
    CHECK_STATES(u, ST_DEAD);
    CHECK_STATES(outer, ST_DEAD);
    Py_DECREF(outer);
    Py_DECREF(u);
    Py_DECREF(t);
    Py_DECREF(func);
}

/* ---- Remove, Insert, Run, Switch (S34, S35, §8.1) ------------------------ */

BODY(remove_self) {
    (void)args;
    if (PyTasklet_Remove(current()) < 0) {
        trace("%s", error_text());
    }
    Py_RETURN_NONE;
}

/* S35 (the non-channel part) */
TEST(s35_remove_current) {
    CHECK_INT(PyTasklet_Remove(main_tasklet()), -1);
    CHECK_ERROR(PyExc_RuntimeError, "The current tasklet cannot be removed.");
    PyTaskletObject *t = SPAWN(remove_self);
    CHECK_RUN_NONE();
    CHECK_TRACE("RuntimeError: The current tasklet cannot be removed.");
    Py_DECREF(t);
}

TEST(remove_in_every_state) {
    names_reset();
    PyObject *func = FUNC(noop);
    PyTaskletObject *unbound = PyTasklet_New(NULL, NULL), *bound = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_Remove(unbound), 0);
    CHECK_INT(PyTasklet_Remove(bound), 0);
    PyTaskletObject *a = SPAWN_S(log_arg, "A"), *b = SPAWN_S(log_arg, "B");
    name_object(a, "A");
    name_object(b, "B");
    CHECK_INT(PyStackless_GetRunCount(), 3);
    CHECK_INT(PyTasklet_Remove(a), 0);
    CHECK_STATES(a, ST_NOT_STARTED_PAUSED);
    CHECK_INT(PyStackless_GetRunCount(), 2);
    CHECK_RING("main B");
    CHECK_INT(PyTasklet_Remove(a), 0); /* paused: no-op */
    CHECK_INT(PyTasklet_Insert(a), 0);
    CHECK_RING("main B A");
    CHECK_RUN_NONE();
    CHECK_TRACE("B A");
    CHECK_INT(PyTasklet_Remove(a), 0); /* dead: no-op */
    CHECK_STATES(a, ST_DEAD);
    PyTaskletObject *p = paused_catcher();
    CHECK_INT(PyTasklet_Remove(p), 0); /* paused, started: no-op */
    CHECK_STATES(p, ST_STARTED_PAUSED);
    CHECK_INT(PyTasklet_Kill(p), 0);
    Py_DECREF(p);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(unbound);
    Py_DECREF(bound);
    Py_DECREF(func);
}

TEST(insert_in_every_state) {
    names_reset();
    PyObject *func = FUNC(noop);
    PyTaskletObject *unbound = PyTasklet_New(NULL, NULL), *bound = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_Insert(unbound), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_INT(PyTasklet_Insert(bound), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    PyTaskletObject *a = SPAWN_S(log_arg, "A"), *b = SPAWN_S(log_arg, "B");
    name_object(a, "A");
    name_object(b, "B");
    CHECK_INT(PyTasklet_Insert(a), 0); /* already in the ring: no-op */
    CHECK_INT(PyTasklet_Insert(main_tasklet()), 0);
    CHECK_RING("main A B");
    CHECK_INT(PyStackless_GetRunCount(), 3);
    /* A paused tasklet with C state is appended at the tail. */
    PyTaskletObject *p = paused_catcher();
    name_object(p, "P");
    CHECK_RING("main A B");
    CHECK_INT(PyTasklet_Insert(p), 0);
    CHECK_RING("main A B P");
    CHECK_RUN_NONE();
    CHECK_TRACE("A B resumed normally");
    CHECK_INT(PyTasklet_Insert(a), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    Py_DECREF(p);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(unbound);
    Py_DECREF(bound);
    Py_DECREF(func);
}

BODY(run_self) {
    (void)args;
    trace("run self %d", PyTasklet_Run(current()));
    trace("switch self %d", PyTasklet_Switch(current()));
    Py_RETURN_NONE;
}

/* SPEC §8.1: Run/Switch of the current tasklet is a successful no-op;
 * the _nr variants return 0, never 1. */
TEST(run_and_switch_current_are_noops) {
    names_reset();
    PyTaskletObject *a = SPAWN_S(log_arg, "A"), *b = SPAWN(run_self);
    name_object(a, "A");
    name_object(b, "B");
    CHECK_INT(PyTasklet_Run(main_tasklet()), 0);
    CHECK_INT(PyTasklet_Run_nr(main_tasklet()), 0);
    CHECK_INT(PyTasklet_Switch(main_tasklet()), 0); /* S34 (b) */
    CHECK_INT(PyTasklet_Switch_nr(main_tasklet()), 0);
    CHECK_PTR(current(), main_tasklet());
    CHECK_RING("main A B");
    CHECK_TRACE("");
    CHECK_RUN_NONE();
    CHECK_TRACE("A run self 0 switch self 0");
    Py_DECREF(a);
    Py_DECREF(b);
}

/* Run does not move a tasklet of the ring: B, after A, runs before main
 * resumes (SPEC §3.1). */
TEST(run_nr_and_switch_nr_switch) {
    PyTaskletObject *a = SPAWN_S(log_arg, "A"), *b = SPAWN_S(log_arg, "B");
    CHECK_INT(PyTasklet_Run_nr(a), 0);
    CHECK_TRACE("A B");
    PyTaskletObject *c = SPAWN_S(log_arg, "C");
    CHECK_INT(PyTasklet_Switch_nr(c), 0);
    CHECK_TRACE("A B C");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
}

static int s34_finished;

/* S34: asserts that the source (main) is paused, re-inserts it. */
BODY(s34_target) {
    (void)args;
    PyTaskletObject *m = main_tasklet();
    trace("paused=%d", PyTasklet_Paused(m));
    if (PyTasklet_Insert(m) < 0) {
        return NULL;
    }
    trace("scheduled=%d", PyTasklet_Scheduled(m));
    s34_finished = 1;
    Py_RETURN_NONE;
}

/* S34 (a) */
TEST(s34a_switch_to_runnable) {
    s34_finished = 0;
    PyTaskletObject *t = SPAWN(s34_target);
    CHECK_INT(PyTasklet_Switch(t), 0);
    CHECK_INT(s34_finished, 1);
    CHECK_TRACE("paused=1 scheduled=1");
    CHECK_STATES(t, ST_DEAD);
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    Py_DECREF(t);
}

/* S34 (d) */
TEST(s34d_switch_to_paused) {
    s34_finished = 0;
    PyObject *func = FUNC(s34_target), *empty = PyTuple_New(0);
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK_INT(PyTasklet_BindEx(t, func, empty, NULL), 0);
    CHECK_STATES(t, ST_NOT_STARTED_PAUSED);
    CHECK_INT(PyTasklet_Switch(t), 0);
    CHECK_INT(s34_finished, 1);
    CHECK_TRACE("paused=1 scheduled=1");
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(empty);
}

/* SPEC §8.1 Switch: the caller stays paused until someone revives it;
 * when the ring runs empty, main (the wake-up target) is revived. */
TEST(switch_away_until_the_ring_is_empty) {
    names_reset();
    PyTaskletObject *a = spawn_park("A", 0), *b = SPAWN_S(log_arg, "B");
    name_object(b, "B");
    CHECK_INT(PyTasklet_Switch(a), 0);
    CHECK_TRACE("A1 B A2");
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    CHECK_RING("main");
    Py_DECREF(a);
    Py_DECREF(b);
}

/* ---- Kill (S16-S22, §5.6) ------------------------------------------------ */

/* S16 */
TEST(s16_kill_runnable_not_started) {
    names_reset();
    PyTaskletObject *u = SPAWN(must_not_run), *x = SPAWN_S(log_arg, "X runs");
    name_object(u, "U");
    name_object(x, "X");
    CHECK_RING("main U X");
    CHECK_INT(PyTasklet_Kill(u), 0);
    CHECK_TRACE("X runs");
    CHECK_RING("main");
    CHECK_STATES(u, ST_DEAD);
    CHECK_STATES(x, ST_DEAD);
    Py_DECREF(u);
    Py_DECREF(x);
}

/* S17 */
TEST(s17_pending_kill_not_started) {
    PyTaskletObject *u = SPAWN(must_not_run);
    CHECK_INT(PyTasklet_KillEx(u, 1), 0);
    CHECK_STATES(u, ST_NOT_STARTED_RUNNABLE);
    CHECK_RUN_NONE();
    CHECK_TRACE("");
    CHECK_STATES(u, ST_DEAD);
    Py_DECREF(u);
}

/* S18 */
TEST(s18_kill_paused) {
    names_reset();
    PyTaskletObject *p = spawn_park("P", 1);
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_STATES(p, ST_STARTED_PAUSED);
    PyTaskletObject *x = SPAWN_S(log_arg, "X runs");
    name_object(x, "X");
    CHECK_INT(PyTasklet_Kill(p), 0);
    CHECK_TRACE("P1 P TaskletExit");
    CHECK_STATES(p, ST_DEAD);
    CHECK_RING("main X");
    CHECK_RUN_NONE();
    CHECK_TRACE("P1 P TaskletExit X runs");
    Py_DECREF(p);
    Py_DECREF(x);
}

BODY(kill_self) {
    (void)args;
    int rc = PyTasklet_Kill(current());
    int is_exit = PyErr_ExceptionMatches(PyExc_TaskletExit);
    trace("kill self %d exit=%d", rc, is_exit);
    return NULL; /* re-raise the TaskletExit */
}

/* S19 */
TEST(s19_kill_current) {
    PyTaskletObject *t = SPAWN(kill_self);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_TRACE("kill self -1 exit=1");
    CHECK_STATES(t, ST_DEAD);
    CHECK_INT(PyTasklet_GetThreadId(t), thread_ident());
    CHECK_INT(PyTasklet_Kill(main_tasklet()), -1);
    CHECK_ERROR(PyExc_TaskletExit, "");
    Py_DECREF(t);
}

/* S20: the operations on a tasklet with nothing to execute. */
static void check_ops_on_dead(PyTaskletObject *k) {
    PyObject *args = Py_BuildValue("(i)", 1);
    CHECK_INT(PyTasklet_Kill(k), 0);
    CHECK_INT(PyTasklet_KillEx(k, 1), 0);
    CHECK_INT(PyTasklet_Throw(k, 0, PyExc_TaskletExit, NULL, NULL), 0);
    CHECK_INT(PyTasklet_Throw(k, 0, PyExc_ValueError, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot throw to a dead tasklet");
    CHECK_INT(PyTasklet_Throw(k, 1, PyExc_ValueError, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot throw to a dead tasklet");
    CHECK_INT(PyTasklet_RaiseException(k, PyExc_ValueError, args), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot throw to a dead tasklet");
    CHECK_INT(PyTasklet_Run(k), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_INT(PyTasklet_Insert(k), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_INT(PyTasklet_Remove(k), 0);
    CHECK_STATES(k, ST_DEAD);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(args);
}

TEST(s20_operations_on_dead) {
    PyTaskletObject *k = SPAWN(noop);
    CHECK_RUN_NONE();
    check_ops_on_dead(k);
    Py_DECREF(k);
}

TEST(s20_operations_on_unbound) {
    PyTaskletObject *k = PyTasklet_New(NULL, NULL);
    check_ops_on_dead(k);
    Py_DECREF(k);
}

TEST(s20_operations_on_bound_not_set_up) {
    PyObject *func = FUNC(must_not_run);
    PyTaskletObject *k = PyTasklet_New(NULL, func);
    check_ops_on_dead(k);
    CHECK(tempval_is(k, func));
    CHECK_TRACE("");
    Py_DECREF(k);
    Py_DECREF(func);
}

/* kill_main of tasklet_helpers.h, for SPAWN. */
static PyMethodDef kill_main_def = {"kill_main", kill_main, METH_VARARGS, NULL};

/* S21 (a) */
TEST(s21a_kill_main_in_schedule) {
    names_reset();
    PyTaskletObject *km = SPAWN(kill_main);
    name_object(km, "KM");
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_TaskletExit, "");
    CHECK_TRACE("kills");
    CHECK_RING("main KM");
    CHECK_RUN_NONE();
    CHECK_TRACE("kills after");
    Py_DECREF(km);
}

/* S21 (b) */
TEST(s21b_kill_main_in_run) {
    names_reset();
    PyTaskletObject *km = SPAWN(kill_main);
    name_object(km, "KM");
    CHECK_RUN_FAILS(PyExc_TaskletExit, "");
    CHECK_TRACE("kills");
    CHECK_RING("main KM");
    CHECK_RUN_NONE();
    CHECK_TRACE("kills after");
    Py_DECREF(km);
}

static int s22_killed;

BODY(s22_foo) {
    (void)args;
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TaskletExit)) {
            s22_killed = 1;
        }
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* S22, pending */
TEST(s22_kill_pending_true) {
    s22_killed = 0;
    PyTaskletObject *t = SPAWN(s22_foo);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(s22_killed, 0);
    CHECK_INT(PyTasklet_KillEx(t, 1), 0);
    CHECK_INT(s22_killed, 0);
    CHECK_STATES(t, ST_STARTED_RUNNABLE);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(s22_killed, 1);
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
}

/* S22, not pending */
TEST(s22_kill_pending_false) {
    s22_killed = 0;
    PyTaskletObject *t = SPAWN(s22_foo);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(s22_killed, 0);
    CHECK_INT(PyTasklet_KillEx(t, 0), 0);
    CHECK_INT(s22_killed, 1);
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
}

/* SPEC §5.6: a runnable victim is not moved, so the tasklets after it in
 * the ring run before the killer resumes. */
TEST(kill_runnable_started_is_not_moved) {
    names_reset();
    PyTaskletObject *a = spawn_park("A", 0), *b = spawn_park("B", 0);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK_RING("main A B");
    CHECK_INT(PyTasklet_Kill(a), 0);
    CHECK_TRACE("A1 B1 A TaskletExit B2");
    CHECK_RING("main");
    Py_DECREF(a);
    Py_DECREF(b);
}

/* A pending kill of a paused tasklet makes it runnable (at the tail). */
TEST(pending_kill_of_paused_inserts_it) {
    names_reset();
    PyTaskletObject *p = spawn_park("P", 1);
    CHECK_INT(PyTasklet_Run(p), 0);
    PyTaskletObject *x = SPAWN_S(log_arg, "X");
    name_object(x, "X");
    CHECK_INT(PyTasklet_KillEx(p, 1), 0);
    CHECK_STATES(p, ST_STARTED_RUNNABLE);
    CHECK_RING("main X P");
    CHECK_TRACE("P1");
    CHECK_RUN_NONE();
    CHECK_TRACE("P1 X P TaskletExit");
    Py_DECREF(p);
    Py_DECREF(x);
}

/* ---- Throw and raise_exception (S24-S26, §5.6, §8.1) --------------------- */

/* S24, immediate */
TEST(s24_throw_into_new_immediate) {
    PyTaskletObject *s = SPAWN(must_not_run);
    CHECK_PTR(PyTasklet_GetFrame(s), NULL);
    CHECK_NO_ERROR();
    CHECK_INT(PyTasklet_Alive(s), 1);
    CHECK_INT(PyTasklet_Throw(s, 0, PyExc_IndexError, NULL, NULL), -1);
    CHECK_ERROR(PyExc_IndexError, "");
    CHECK_STATES(s, ST_DEAD);
    CHECK_TRACE("");
    Py_DECREF(s);
}

/* S24, pending */
TEST(s24_throw_into_new_pending) {
    PyTaskletObject *s = SPAWN(must_not_run);
    PyObject *v = PyUnicode_FromString("pending");
    CHECK_INT(PyTasklet_Throw(s, 1, PyExc_IndexError, v, NULL), 0);
    Py_DECREF(v);
    CHECK_STATES(s, ST_NOT_STARTED_RUNNABLE);
    CHECK_RUN_FAILS(PyExc_IndexError, "pending");
    CHECK_STATES(s, ST_DEAD);
    CHECK_TRACE("");
    Py_DECREF(s);
}

/* S25 */
TEST(s25_kill_new_then_run) {
    PyTaskletObject *s = SPAWN(must_not_run);
    CHECK_INT(PyTasklet_Throw(s, 0, PyExc_TaskletExit, NULL, NULL), 0);
    CHECK_RUN_NONE();
    CHECK_INT(PyTasklet_Run(s), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_TRACE("");
    Py_DECREF(s);
}

/* S26 */
TEST(s26_invalid_throws) {
    PyTaskletObject *t = SPAWN(must_not_run), *cur = main_tasklet();
    PyObject *inst = PyObject_CallFunction(PyExc_IndexError, "i", 1);
    PyObject *args = Py_BuildValue("(iii)", 1, 2, 3), *five = PyLong_FromLong(5);
    CHECK_INT(PyTasklet_Throw(cur, 0, inst, args, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "instance exception may not have a separate value");
    CHECK_INT(PyTasklet_Throw(t, 0, inst, args, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "instance exception may not have a separate value");
    CHECK_INT(PyTasklet_Throw(t, 0, five, NULL, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "exceptions must be classes, or instances, not int");
    CHECK_INT(PyTasklet_Throw(t, 0, PyExc_ValueError, Py_None, five), -1);
    CHECK_ERROR(PyExc_TypeError, "third argument must be a traceback object");
    CHECK_INT(PyTasklet_RaiseException(t, five, NULL), -1);
    CHECK_ERROR(PyExc_TypeError,
                "tasklet.raise_exception needs Exception or string subclass as first parameter");
    /* SPEC §10 bug 8: no string exceptions. */
    PyObject *text = PyUnicode_FromString("StringException");
    CHECK_INT(PyTasklet_RaiseException(t, text, NULL), -1);
    CHECK_ERROR(PyExc_TypeError,
                "tasklet.raise_exception needs Exception or string subclass as first parameter");
    /* C decision (SPEC §8.1 Throw): a NULL exception is a bad call. */
    CHECK_INT(PyTasklet_Throw(t, 0, NULL, NULL, NULL), -1);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK_STATES(t, ST_NOT_STARTED_RUNNABLE);
    CHECK(tempval_is(t, Py_None));
    CHECK_INT(PyTasklet_Kill(t), 0);
    CHECK_TRACE("");
    Py_DECREF(text);
    Py_DECREF(t);
    Py_DECREF(inst);
    Py_DECREF(args);
    Py_DECREF(five);
}

/* SPEC §8.1: raising in the caller itself fails with that exception. */
TEST(raise_in_self_fails_at_once) {
    PyObject *args = Py_BuildValue("(ii)", 1, 2);
    PyTaskletObject *m = main_tasklet();
    CHECK_INT(PyTasklet_RaiseException(m, PyExc_ValueError, args), -1);
    CHECK(PyErr_ExceptionMatches(PyExc_ValueError));
    CHECK_STR(error_repr(), "ValueError(1, 2)");
    CHECK_INT(PyTasklet_Throw(m, 0, PyExc_KeyError, NULL, NULL), -1);
    CHECK_ERROR(PyExc_KeyError, "");
    CHECK_INT(PyTasklet_Throw(m, 1, PyExc_IndexError, NULL, NULL), -1);
    CHECK_ERROR(PyExc_IndexError, "");
    CHECK_STATES(m, ST_CURRENT);
    Py_DECREF(args);
}

/* Raises (how 0: RaiseException, 1: Throw) in a fresh paused catcher,
 * which logs what it caught and ends; the call returns 0. */
static void raise_into_catcher(int how, PyObject *exc, PyObject *val) {
    PyTaskletObject *t = paused_catcher();
    CHECK(t != NULL);
    int rc = how == 0 ? PyTasklet_RaiseException(t, exc, val)
                      : PyTasklet_Throw(t, 0, exc, val, NULL);
    CHECK_INT(rc, 0);
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
}

/* SPEC §8.1 RaiseException/Throw argument forms; cf. S27. */
TEST(raise_and_throw_argument_forms) {
    PyObject *pair = Py_BuildValue("(ii)", 1, 2), *five = PyLong_FromLong(5),
             *empty = PyTuple_New(0);
    PyObject *inst = PyObject_CallFunction(PyExc_ValueError, "s", "x");
    raise_into_catcher(0, PyExc_ValueError, pair);
    raise_into_catcher(0, PyExc_ValueError, five);
    raise_into_catcher(0, PyExc_ValueError, empty);
    raise_into_catcher(0, PyExc_ValueError, NULL);
    raise_into_catcher(1, PyExc_ValueError, pair);
    raise_into_catcher(1, PyExc_ValueError, five);
    raise_into_catcher(1, PyExc_ValueError, NULL);
    raise_into_catcher(1, inst, NULL);
    raise_into_catcher(1, inst, Py_None);
    raise_into_catcher(0, PyExc_TaskletExit, NULL);
    Py_DECREF(pair);
    Py_DECREF(five);
    Py_DECREF(empty);
    Py_DECREF(inst);
    if (harness_case_failed) {
        return;
    }
    CHECK_TRACE("caught ValueError(1, 2) caught ValueError(5) caught ValueError() "
                "caught ValueError() caught ValueError(1, 2) caught ValueError(5) "
                "caught ValueError() caught ValueError('x') caught ValueError('x') "
                "caught TaskletExit()");
}

/* A pending throw into a paused tasklet: inserted, raised when it runs. */
TEST(pending_throw_into_paused) {
    PyTaskletObject *t = paused_catcher();
    PyObject *v = PyUnicode_FromString("later");
    CHECK_INT(PyTasklet_Throw(t, 1, PyExc_KeyError, v, NULL), 0);
    Py_DECREF(v);
    CHECK_STATES(t, ST_STARTED_RUNNABLE);
    CHECK_TRACE("");
    CHECK_RUN_NONE();
    CHECK_TRACE("caught KeyError('later')");
    Py_DECREF(t);
}

/* An uncaught throw goes to main; RaiseException returns -1 with it. */
TEST(uncaught_raise_exception_goes_to_main) {
    PyTaskletObject *t = spawn_park("A", 1);
    CHECK_INT(PyTasklet_Run(t), 0);
    PyObject *v = PyUnicode_FromString("boom");
    CHECK_INT(PyTasklet_RaiseException(t, PyExc_ValueError, v), -1);
    Py_DECREF(v);
    CHECK_ERROR(PyExc_ValueError, "boom");
    CHECK_TRACE("A1 A ValueError");
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
}

BODY(raise_in_main) {
    (void)args;
    PyObject *v = PyUnicode_FromString("from R");
    int rc = PyTasklet_RaiseException(main_tasklet(), PyExc_ValueError, v);
    Py_DECREF(v);
    if (rc < 0) {
        return NULL;
    }
    trace("R after");
    Py_RETURN_NONE;
}

/* SPEC §2.4, §5.6: an exception raised in main from a tasklet fails main's
 * pending call; the raiser stays runnable. */
TEST(raise_exception_in_main_from_a_tasklet) {
    names_reset();
    PyTaskletObject *r = SPAWN(raise_in_main);
    name_object(r, "R");
    CHECK_INT(PyTasklet_Run(r), -1);
    CHECK_ERROR(PyExc_ValueError, "from R");
    CHECK_RING("main R");
    CHECK_TRACE("");
    CHECK_RUN_NONE();
    CHECK_TRACE("R after");
    Py_DECREF(r);
}

/* ---- Error handler (S29, §5.4) ----------------------------------------- */

static int handler_calls;
static char handler_buf[512];
static int handler_raises;

static PyObject *error_handler(PyObject *self, PyObject *args) {
    (void)self;
    handler_calls++;
    PyTaskletObject *cur = current();
    snprintf(handler_buf, sizeof handler_buf, "%s %s %s current=%s nesting=%d",
             ((PyTypeObject *)PyTuple_GetItem(args, 0))->tp_name,
             harness_text(PyTuple_GetItem(args, 1), 1), harness_text(PyTuple_GetItem(args, 2), 1),
             name_of((PyObject *)cur), PyTasklet_GetNestingLevel(cur));
    if (handler_raises) {
        PyErr_SetString(PyExc_IndexError, "we are the mods");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef error_handler_def = {"error_handler", error_handler, METH_VARARGS, NULL};

static int install_handler(int raises) {
    handler_calls = 0;
    handler_raises = raises;
    handler_buf[0] = '\0';
    PyObject *h = PyCFunction_New(&error_handler_def, NULL);
    PyObject *old = PyStackless_SetErrorHandler(h);
    Py_DECREF(h);
    int was_none = old == Py_None;
    Py_XDECREF(old);
    return was_none;
}

static void remove_handler(void) {
    PyObject *old = PyStackless_SetErrorHandler(NULL);
    Py_XDECREF(old);
}

/* S29 (a) */
TEST(s29a_error_handler_handles) {
    names_reset();
    CHECK(install_handler(0));
    PyTaskletObject *t = SPAWN_S(raise_zde, "I am borken");
    name_object(t, "T");
    CHECK_RUN_NONE();
    remove_handler();
    CHECK_INT(handler_calls, 1);
    CHECK_STR(handler_buf,
              "ZeroDivisionError ZeroDivisionError('I am borken') None current=T nesting=1");
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
}

/* S29 (b) */
TEST(s29b_error_handler_raises) {
    CHECK(install_handler(1));
    PyTaskletObject *t = SPAWN_S(raise_zde, "I am borken");
    CHECK_RUN_FAILS(PyExc_IndexError, "we are the mods");
    remove_handler();
    CHECK_INT(handler_calls, 1);
    Py_DECREF(t);
}

/* S29 (c), (d) */
TEST(s29c_error_handler_early_throw) {
    names_reset();
    CHECK(install_handler(0));
    PyTaskletObject *s = SPAWN(must_not_run);
    name_object(s, "S");
    PyObject *v = PyUnicode_FromString("thrown error");
    CHECK_INT(PyTasklet_Throw(s, 0, PyExc_ZeroDivisionError, v, NULL), 0);
    Py_DECREF(v);
    CHECK_INT(handler_calls, 1);
    CHECK_STR(handler_buf,
              "ZeroDivisionError ZeroDivisionError('thrown error') None current=S nesting=1");
    CHECK_TRACE("");
    /* (d) an error raised by the function itself, via Run(s). */
    PyTaskletObject *s2 = SPAWN_S(raise_zde, "own");
    name_object(s2, "S2");
    CHECK_INT(PyTasklet_Run(s2), 0);
    remove_handler();
    CHECK_INT(handler_calls, 2);
    CHECK_STR(handler_buf, "ZeroDivisionError ZeroDivisionError('own') None current=S2 nesting=1");
    Py_DECREF(s);
    Py_DECREF(s2);
}

static int s29_ran;

BODY(s29_pending_body) {
    (void)args;
    s29_ran = 1;
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    PyErr_SetString(PyExc_ZeroDivisionError, "not reached");
    return NULL;
}

/* S29 (e) */
TEST(s29e_error_handler_pending_throw) {
    names_reset();
    s29_ran = 0;
    CHECK(install_handler(0));
    PyTaskletObject *s = SPAWN(s29_pending_body);
    name_object(s, "S");
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(s29_ran, 1);
    PyObject *v = PyUnicode_FromString("pending");
    CHECK_INT(PyTasklet_Throw(s, 1, PyExc_ZeroDivisionError, v, NULL), 0);
    Py_DECREF(v);
    CHECK_INT(handler_calls, 0);
    CHECK_INT(PyTasklet_Run(s), 0);
    remove_handler();
    CHECK_INT(handler_calls, 1);
    CHECK_STR(handler_buf,
              "ZeroDivisionError ZeroDivisionError('pending') None current=S nesting=1");
    Py_DECREF(s);
}

TEST(error_handler_setter) {
    PyObject *h = PyCFunction_New(&error_handler_def, NULL);
    PyObject *old = PyStackless_SetErrorHandler(h);
    CHECK(old == Py_None);
    Py_DECREF(old);
    old = PyStackless_SetErrorHandler(Py_None);
    CHECK_PTR(old, h);
    Py_DECREF(old);
    old = PyStackless_SetErrorHandler(NULL);
    CHECK(old == Py_None);
    Py_DECREF(old);
    Py_DECREF(h);
}

/* ---- TaskletExit and SystemExit (S63, §5.5) ---------------------------- */

BODY(raise_tasklet_exit) {
    PyErr_SetObject(PyExc_TaskletExit, PyTuple_GetItem(args, 0));
    return NULL;
}

/* S63 (the TaskletExit part) */
TEST(s63_tasklet_exit_is_silent) {
    CHECK(install_handler(0));
    PyTaskletObject *t = SPAWN_S(raise_tasklet_exit, "bye");
    CHECK_RUN_NONE();
    remove_handler();
    CHECK_INT(handler_calls, 0);
    CHECK_STATES(t, ST_DEAD);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(t);
}

TEST(tasklet_exit_is_a_system_exit) {
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TaskletExit, PyExc_SystemExit), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_SystemExit, PyExc_BaseException), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_SystemExit, PyExc_Exception), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TaskletExit, PyExc_Exception), 0);
}

static int exit_status[8];
static int exit_calls;

static void exit_hook(int status) {
    exit_status[exit_calls++ % 8] = status;
}

/* Raises SystemExit(*args). */
BODY(raise_system_exit) {
    PyObject *e = PyObject_Call(PyExc_SystemExit, args, NULL);
    if (e == NULL) {
        return NULL;
    }
    PyErr_SetObject(PyExc_SystemExit, e);
    Py_DECREF(e);
    return NULL;
}

/* SPEC §5.5, §9.9: SystemExit leaving a tasklet of the initial thread goes
 * to the exit hook; when the hook returns, the tasklet ends silently. */
TEST(system_exit_calls_the_exit_hook) {
    exit_calls = 0;
    CHECK(install_handler(0));
    PyStackless_SetExitHook(exit_hook);
    PyObject *a3 = Py_BuildValue("(i)", 3), *anone = Py_BuildValue("(O)", Py_None),
             *astr = Py_BuildValue("(s)", "exit text"), *empty = PyTuple_New(0);
    PyTaskletObject *t1 = spawn_def(&raise_system_exit_def, a3);
    PyTaskletObject *t2 = spawn_def(&raise_system_exit_def, empty);
    PyTaskletObject *t3 = spawn_def(&raise_system_exit_def, anone);
    PyTaskletObject *t4 = spawn_def(&raise_system_exit_def, astr);
    PyObject *r = PyStackless_RunWatchdog(0);
    PyStackless_SetExitHook(NULL);
    remove_handler();
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK_INT(exit_calls, 4);
    CHECK_INT(exit_status[0], 3);
    CHECK_INT(exit_status[1], 0);
    CHECK_INT(exit_status[2], 0);
    CHECK_INT(exit_status[3], 1);
    CHECK_INT(handler_calls, 0);
    CHECK_STATES(t1, ST_DEAD);
    CHECK_STATES(t4, ST_DEAD);
    Py_DECREF(t1);
    Py_DECREF(t2);
    Py_DECREF(t3);
    Py_DECREF(t4);
    Py_DECREF(a3);
    Py_DECREF(anone);
    Py_DECREF(astr);
    Py_DECREF(empty);
}

static PyObject *killed_main_body(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *km = SPAWN(kill_main);
    if (km == NULL) {
        return NULL;
    }
    Py_DECREF(km); /* the ring keeps it */
    return PyStackless_Schedule(Py_None, 0);
}

/* SPEC §2.4, §5.5: TaskletExit is not swallowed for main: it leaves
 * Call_Main; the killer stays in the ring, outside. */
TEST(tasklet_exit_leaves_call_main) {
    static PyMethodDef def = {"killed_main", killed_main_body, METH_VARARGS, NULL};
    trace_reset();
    PyObject *func = PyCFunction_New(&def, NULL);
    PyObject *r = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_TaskletExit, "");
    CHECK_TRACE("kills");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    /* From outside, run() lets the killer finish. */
    r = PyStackless_RunWatchdog(0);
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK_TRACE("kills after");
    CHECK_INT(PyStackless_GetRunCount(), 0);
}

static PyObject *main_raises_system_exit(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *e = PyObject_CallFunction(PyExc_SystemExit, "i", 3);
    PyErr_SetObject(PyExc_SystemExit, e);
    Py_DECREF(e);
    return NULL;
}

/* SPEC §5.5: SystemExit leaving main is not swallowed and does not go to
 * the exit hook: it leaves Call_Main. */
TEST(system_exit_leaves_call_main) {
    static PyMethodDef def = {"main_exit", main_raises_system_exit, METH_VARARGS, NULL};
    exit_calls = 0;
    PyStackless_SetExitHook(exit_hook);
    PyObject *func = PyCFunction_New(&def, NULL);
    PyObject *r = PyStackless_Call_Main(func, NULL, NULL);
    Py_DECREF(func);
    PyStackless_SetExitHook(NULL);
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_SystemExit, "3");
    CHECK_INT(exit_calls, 0);
}

/* ---- atomic and the other flags (S30, §5.7, §8.1) ----------------------- */

/* S30 */
TEST(s30_atomic_flag) {
    PyTaskletObject *cur = current();
    CHECK_INT(PyTasklet_SetAtomic(cur, 0), 0);
    CHECK_INT(PyTasklet_SetAtomic(cur, 1), 0);
    CHECK_INT(PyTasklet_GetAtomic(cur), 1);
    CHECK_INT(PyTasklet_SetAtomic(cur, 1), 1);
    CHECK_INT(PyTasklet_SetAtomic(cur, 0), 1);
    CHECK_INT(PyTasklet_GetAtomic(cur), 0);
    /* The "context manager": old = SetAtomic(cur, 1) ... SetAtomic(cur, old). */
    int old = PyTasklet_SetAtomic(cur, 1);
    CHECK_INT(PyTasklet_GetAtomic(cur), 1);
    CHECK_INT(PyTasklet_SetAtomic(cur, old), 1);
    CHECK_INT(PyTasklet_GetAtomic(cur), 0);
    /* Any value != 0 is 1. */
    CHECK_INT(PyTasklet_SetAtomic(cur, 7), 0);
    CHECK_INT(PyTasklet_SetAtomic(cur, 0), 1);
}

/* SPEC §5.7: atomic never blocks explicit switches; setting it on another
 * tasklet (dead ones included) just sets the flag. */
TEST(atomic_does_not_block_explicit_switches) {
    PyTaskletObject *cur = current();
    PyTaskletObject *a = spawn_park("A", 0);
    CHECK_INT(PyTasklet_SetAtomic(cur, 1), 0);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK_TRACE("A1");
    CHECK_INT(PyTasklet_SetAtomic(a, 1), 0);
    CHECK_INT(PyTasklet_Run(a), 0);
    CHECK_TRACE("A1 A2");
    CHECK_INT(PyTasklet_GetAtomic(a), 1);
    CHECK_INT(PyTasklet_SetAtomic(a, 0), 1);
    CHECK_INT(PyTasklet_SetAtomic(cur, 0), 1);
    Py_DECREF(a);
}

TEST(ignore_nesting_and_block_trap_flags) {
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK_INT(PyTasklet_SetIgnoreNesting(t, 5), 0);
    CHECK_INT(PyTasklet_GetIgnoreNesting(t), 1);
    CHECK_INT(PyTasklet_SetIgnoreNesting(t, 0), 1);
    CHECK_INT(PyTasklet_GetIgnoreNesting(t), 0);
    PyTasklet_SetBlockTrap(t, -3);
    CHECK_INT(PyTasklet_GetBlockTrap(t), 1);
    PyTasklet_SetBlockTrap(t, 0);
    CHECK_INT(PyTasklet_GetBlockTrap(t), 0);
    CHECK_INT(PyTasklet_GetPendingIrq(t), 0);
    Py_DECREF(t);
}

/* ---- Deallocation (SPEC §2.7) -------------------------------------------- */

/* Dropping the last reference to a paused, started tasklet kills it; the
 * DECREF returns after its TaskletExit handling ran. */
TEST(dealloc_of_paused_started_kills_it) {
    PyTaskletObject *p = spawn_park("P", 1);
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_TRACE("P1");
    Py_DECREF(p);
    CHECK_TRACE("P1 P TaskletExit");
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_NO_ERROR();
}

/* Not-started tasklets are freed without running their function. */
TEST(dealloc_of_not_started_runs_nothing) {
    PyObject *func = FUNC(must_not_run), *empty = PyTuple_New(0);
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_BindEx(t, NULL, empty, NULL), 0);
    Py_DECREF(t);
    t = SPAWN(must_not_run);
    CHECK_INT(PyTasklet_Remove(t), 0);
    Py_DECREF(t);
    CHECK_TRACE("");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(func);
    Py_DECREF(empty);
}

static PyTaskletObject *dropped;

/* Drops the last reference to `dropped` (a paused tasklet). */
BODY(drop_it) {
    (void)args;
    trace("D drops");
    Py_CLEAR(dropped);
    trace("D after");
    Py_RETURN_NONE;
}

/* SPEC §2.7: the tasklet that drops the last reference resumes right after
 * the victim died, before the rest of the ring. */
TEST(dealloc_by_a_tasklet_resumes_it_right_after) {
    dropped = spawn_park("P", 1);
    CHECK_INT(PyTasklet_Run(dropped), 0);
    PyTaskletObject *d = SPAWN(drop_it), *x = SPAWN_S(log_arg, "X");
    CHECK_RUN_NONE();
    CHECK_TRACE("P1 D drops P TaskletExit D after X");
    CHECK(dropped == NULL);
    Py_DECREF(d);
    Py_DECREF(x);
}

static PyTaskletObject *switch_target;

BODY(switch_to_target) {
    (void)args;
    trace("F switches");
    if (PyTasklet_Switch(switch_target) < 0) {
        trace("F %s", error_text());
        PyErr_SetNone(PyExc_TaskletExit);
        return NULL;
    }
    trace("F resumed");
    Py_RETURN_NONE;
}

/* SPEC §2.7: a fire-and-forget tasklet that leaves the ring by Switch is
 * killed by the tasklet it switched to, before that one's call returns. */
TEST(switch_away_by_a_fire_and_forget_tasklet) {
    switch_target = spawn_park("P", 1);
    CHECK_INT(PyTasklet_Run(switch_target), 0);
    PyTaskletObject *f = SPAWN(switch_to_target);
    Py_DECREF(f);
    CHECK_RUN_NONE();
    CHECK_TRACE("P1 F switches F TaskletExit:  P2");
    CHECK_STATES(switch_target, ST_DEAD);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(switch_target);
}

static int stubborn_catches;

/* Catches TaskletExit ten times, parking again each time; the eleventh
 * ends it. */
BODY(stubborn) {
    (void)args;
    for (;;) {
        PyObject *r = PyStackless_Schedule(Py_None, 1);
        if (r != NULL) {
            Py_DECREF(r);
            continue;
        }
        if (!PyErr_ExceptionMatches(PyExc_TaskletExit) || ++stubborn_catches > 10) {
            return NULL;
        }
        PyErr_Clear();
    }
}

/* SPEC §2.7: up to 10 kill attempts; a tasklet that survives them is kept
 * (uncollectable), never freed with its stack; PyStackless_Finalize kills
 * it once more (the eleventh kill ends it, valgrind checks it is freed). */
TEST(dealloc_of_a_tasklet_that_survives_ten_kills) {
    stubborn_catches = 0;
    size_t before = PyStackless_GetUncollectableCount();
    PyTaskletObject *t = SPAWN(stubborn);
    CHECK_INT(PyTasklet_Run(t), 0);
    Py_DECREF(t);
    CHECK_INT(stubborn_catches, 10);
    CHECK_INT(PyStackless_GetUncollectableCount(), before + 1);
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_NO_ERROR();
}

/* SPEC §7.6: the last call of the program kills the survivor once more. */
TEST(finalize_ends_the_survivor) {
    CHECK_INT(PyStackless_Finalize(), 0);
    CHECK_INT(stubborn_catches, 11);
    CHECK_INT(PyStackless_GetRunCount(), 0);
}

/* ---- How the tasklet's function is called (SPEC §9.11) ------------------- */

/* Sets up a tasklet of `def` with a Py_BuildValue'd args tuple and keywords
 * (NULL: none) and runs it; returns the tasklet. */
static PyTaskletObject *setup_with(PyMethodDef *def, PyObject *self, PyObject *args,
                                   PyObject *kwds) {
    PyObject *func = PyCFunction_NewEx(def, self, NULL);
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    Py_DECREF(func);
    if (t != NULL && PyTasklet_Setup(t, args, kwds) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

static PyMethodDef log_arg_plain_def = {"log_arg", log_arg, METH_VARARGS, NULL};

TEST(call_varargs_and_keywords) {
    PyObject *args = Py_BuildValue("(s)", "x"), *kw = Py_BuildValue("{s:i}", "k", 1),
             *empty_kw = PyDict_New();
    /* Setup does not check; the TypeError is raised when it starts. */
    PyTaskletObject *t = setup_with(&log_arg_plain_def, NULL, args, kw);
    CHECK(t != NULL);
    CHECK_RUN_FAILS(PyExc_TypeError, "log_arg() takes no keyword arguments");
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
    t = setup_with(&log_arg_plain_def, NULL, args, empty_kw);
    CHECK_RUN_NONE();
    Py_DECREF(t);
    t = setup_with(&argstest_def, NULL, args, kw);
    CHECK_RUN_NONE();
    Py_DECREF(t);
    CHECK_TRACE("x ('x',) {'k': 1}");
    Py_DECREF(args);
    Py_DECREF(kw);
    Py_DECREF(empty_kw);
}

static PyObject *noargs_body(PyObject *self, PyObject *arg) {
    (void)self;
    trace("noargs %s", arg == NULL ? "NULL" : "?");
    Py_RETURN_NONE;
}

static PyMethodDef noargs_def = {"noargs_body", noargs_body, METH_NOARGS, NULL};

TEST(call_noargs) {
    PyObject *empty = PyTuple_New(0), *one = Py_BuildValue("(i)", 1),
             *kw = Py_BuildValue("{s:i}", "a", 1);
    PyTaskletObject *t = setup_with(&noargs_def, NULL, empty, NULL);
    CHECK_RUN_NONE();
    Py_DECREF(t);
    t = setup_with(&noargs_def, NULL, one, NULL);
    CHECK_RUN_FAILS(PyExc_TypeError, "noargs_body() takes no arguments (1 given)");
    Py_DECREF(t);
    t = setup_with(&noargs_def, NULL, empty, kw);
    CHECK_RUN_FAILS(PyExc_TypeError, "noargs_body() takes no keyword arguments");
    Py_DECREF(t);
    CHECK_TRACE("noargs NULL");
    Py_DECREF(empty);
    Py_DECREF(one);
    Py_DECREF(kw);
}

static PyObject *meth_o_body(PyObject *self, PyObject *arg) {
    (void)self;
    trace("O %s", harness_text(arg, 1));
    Py_RETURN_NONE;
}

static PyMethodDef meth_o_def = {"meth_o_body", meth_o_body, METH_O, NULL};

TEST(call_meth_o) {
    PyObject *one = Py_BuildValue("(s)", "one"), *two = Py_BuildValue("(ss)", "a", "b"),
             *empty = PyTuple_New(0);
    PyTaskletObject *t = setup_with(&meth_o_def, NULL, one, NULL);
    CHECK_RUN_NONE();
    Py_DECREF(t);
    t = setup_with(&meth_o_def, NULL, two, NULL);
    CHECK_RUN_FAILS(PyExc_TypeError, "meth_o_body() takes exactly one argument (2 given)");
    Py_DECREF(t);
    t = setup_with(&meth_o_def, NULL, empty, NULL);
    CHECK_RUN_FAILS(PyExc_TypeError, "meth_o_body() takes exactly one argument (0 given)");
    Py_DECREF(t);
    CHECK_TRACE("O 'one'");
    Py_DECREF(one);
    Py_DECREF(two);
    Py_DECREF(empty);
}

static PyObject *self_body(PyObject *self, PyObject *args) {
    trace("self %s args %s", harness_text(self, 1), harness_text(args, 1));
    Py_RETURN_NONE;
}

static PyMethodDef self_def = {"self_body", self_body, METH_VARARGS, NULL};

TEST(call_with_self) {
    PyObject *self = PyUnicode_FromString("me"), *args = Py_BuildValue("(i)", 7);
    PyTaskletObject *t = setup_with(&self_def, self, args, NULL);
    CHECK_RUN_NONE();
    CHECK_TRACE("self 'me' args (7,)");
    /* Setup with NULL args is (), NULL kwds no keywords. */
    Py_DECREF(t);
    t = setup_with(&self_def, self, NULL, NULL);
    CHECK_RUN_NONE();
    CHECK_TRACE("self 'me' args (7,) self 'me' args ()");
    Py_DECREF(t);
    Py_DECREF(self);
    Py_DECREF(args);
}

BODY(null_body) {
    (void)args;
    return NULL;
}

BODY(result_with_error_body) {
    (void)args;
    PyErr_SetString(PyExc_ValueError, "hidden");
    Py_RETURN_NONE;
}

TEST(call_result_checks) {
    PyTaskletObject *t = SPAWN(null_body);
    CHECK_RUN_FAILS(PyExc_SystemError,
                    "<built-in function null_body> returned NULL without setting an error");
    Py_DECREF(t);
    t = SPAWN(result_with_error_body);
    CHECK_RUN_FAILS(PyExc_SystemError,
                    "<built-in function result_with_error_body> returned a result with an "
                    "error set");
    Py_DECREF(t);
}

/* The argument error of a tasklet started by Run goes to main's Run. */
TEST(call_argument_error_in_run) {
    PyObject *two = Py_BuildValue("(ii)", 1, 2);
    PyTaskletObject *t = setup_with(&meth_o_def, NULL, two, NULL);
    CHECK_INT(PyTasklet_Run(t), -1);
    CHECK_ERROR(PyExc_TypeError, "meth_o_body() takes exactly one argument (2 given)");
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
    Py_DECREF(two);
}

/* A callable object of a C type: called through tp_call, inside the
 * recursion guard (SPEC §9.5, §9.11). Its call logs its arguments and the
 * current tasklet's recursion depth, parks when asked to, and with an int
 * argument n > 0 calls itself with n - 1. */
static PyObject *deep_call(PyObject *self, PyObject *args, PyObject *kwds) {
    long n = PyTuple_Size(args) > 0 ? PyLong_AsLong(PyTuple_GetItem(args, 0)) : 0;
    trace("call(%ld%s) depth %d", n, kwds ? " kw" : "", PyTasklet_GetRecursionDepth(current()));
    if (n > 0) {
        PyObject *a = Py_BuildValue("(l)", n - 1);
        PyObject *r = PyObject_Call(self, a, NULL);
        Py_DECREF(a);
        if (r != NULL) {
            trace("back at %ld depth %d", n, PyTasklet_GetRecursionDepth(current()));
        }
        return r;
    }
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r != NULL) {
        trace("resumed depth %d", PyTasklet_GetRecursionDepth(current()));
    }
    return r;
}

static PyTypeObject Deep_Type = {
    .ob_base = {{1, NULL}, 0},
    .tp_name = "test.Deep",
    .tp_basicsize = sizeof(PyObject),
    .tp_call = deep_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

/* S33 */
TEST(s33_recursion_depth) {
    CHECK_INT(PyType_Ready(&Deep_Type), 0);
    PyObject *deep = PyType_GenericNew(&Deep_Type, NULL, NULL);
    CHECK(deep != NULL);
    PyTaskletObject *t = PyTasklet_New(NULL, deep);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    PyObject *args = Py_BuildValue("(i)", 1);
    CHECK_INT(PyTasklet_Setup(t, args, NULL), 0);
    Py_DECREF(args);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    /* Suspended inside two guarded calls: 2; main meanwhile 0. */
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 2);
    CHECK_INT(PyTasklet_GetRecursionDepth(main_tasklet()), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("call(1) depth 1 call(0) depth 2 resumed depth 2 back at 1 depth 1");
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    CHECK_INT(PyTasklet_GetRecursionDepth(main_tasklet()), 0);
    /* BindEx of the dead tasklet: 0. */
    CHECK_INT(PyTasklet_BindEx(t, deep, NULL, NULL), 0);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    Py_DECREF(t);
    Py_DECREF(deep);
}

static char depth_buf[64];

BODY(report_depth) {
    (void)args;
    snprintf(depth_buf, sizeof depth_buf, "self %d main %d",
             PyTasklet_GetRecursionDepth(current()),
             PyTasklet_GetRecursionDepth(main_tasklet()));
    PyObject *r = PyStackless_Schedule(Py_None, 1);
    return r;
}

/* S33: a C function as the tasklet's function adds no level, in any state. */
TEST(s33_recursion_depth_of_c_functions) {
    PyTaskletObject *t = SPAWN(report_depth);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_STR(depth_buf, "self 0 main 0");
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    CHECK_INT(PyTasklet_Insert(t), 0);
    CHECK_RUN_NONE();
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    Py_DECREF(t);
}

/* A callable object as the tasklet's function gets the call's keywords. */
TEST(call_callable_object) {
    CHECK_INT(PyType_Ready(&Deep_Type), 0);
    PyObject *deep = PyType_GenericNew(&Deep_Type, NULL, NULL);
    PyTaskletObject *t = PyTasklet_New(NULL, deep);
    PyObject *args = Py_BuildValue("(i)", 0), *kw = Py_BuildValue("{s:i}", "k", 1);
    CHECK_INT(PyTasklet_Setup(t, args, kw), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("call(0 kw) depth 1 resumed depth 1");
    Py_DECREF(args);
    Py_DECREF(kw);
    Py_DECREF(t);
    Py_DECREF(deep);
}

/* ---- Bad input (SPEC §8, project decision) ------------------------------ */

#define CHECK_BAD_CALL(expr, failure)                                          \
    do {                                                                       \
        CHECK((expr) == (failure));                                            \
        CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");  \
    } while (0)

/* Every PyTasklet_* function that can fail, with a bad tasklet `p`. */
static void check_bad_tasklet_calls(PyTaskletObject *p) {
    PyObject *empty = PyTuple_New(0), *func = FUNC(noop);
    CHECK_BAD_CALL(PyTasklet_Setup(p, empty, NULL), -1);
    CHECK_BAD_CALL(PyTasklet_BindEx(p, func, NULL, NULL), -1);
    CHECK_BAD_CALL(PyTasklet_BindThread(p, -1), -1);
    CHECK_BAD_CALL(PyTasklet_Run(p), -1);
    CHECK_BAD_CALL(PyTasklet_Run_nr(p), -1);
    CHECK_BAD_CALL(PyTasklet_Switch(p), -1);
    CHECK_BAD_CALL(PyTasklet_Switch_nr(p), -1);
    CHECK_BAD_CALL(PyTasklet_Remove(p), -1);
    CHECK_BAD_CALL(PyTasklet_Insert(p), -1);
    CHECK_BAD_CALL(PyTasklet_RaiseException(p, PyExc_ValueError, NULL), -1);
    CHECK_BAD_CALL(PyTasklet_Throw(p, 0, PyExc_ValueError, NULL, NULL), -1);
    CHECK_BAD_CALL(PyTasklet_Kill(p), -1);
    CHECK_BAD_CALL(PyTasklet_KillEx(p, 1), -1);
    CHECK_BAD_CALL(PyTasklet_GetTempval(p), NULL);
    CHECK_BAD_CALL(PyTasklet_SetTempval(p, Py_None), -1);
    CHECK_BAD_CALL(PyTasklet_GetNext(p), NULL);
    CHECK_BAD_CALL(PyTasklet_GetPrev(p), NULL);
    Py_DECREF(empty);
    Py_DECREF(func);
}

/* Every predicate, getter and setter: 0 (or nothing), no exception. */
static void check_bad_tasklet_queries(PyTaskletObject *p) {
    CHECK_INT(PyTasklet_GetAtomic(p), 0);
    CHECK_INT(PyTasklet_SetAtomic(p, 1), 0);
    CHECK_INT(PyTasklet_GetIgnoreNesting(p), 0);
    CHECK_INT(PyTasklet_SetIgnoreNesting(p, 1), 0);
    CHECK_INT(PyTasklet_GetPendingIrq(p), 0);
    CHECK_INT(PyTasklet_GetBlockTrap(p), 0);
    PyTasklet_SetBlockTrap(p, 1);
    CHECK(PyTasklet_GetFrame(p) == NULL);
    CHECK_INT(PyTasklet_IsMain(p), 0);
    CHECK_INT(PyTasklet_IsCurrent(p), 0);
    CHECK_INT(PyTasklet_GetRecursionDepth(p), 0);
    CHECK_INT(PyTasklet_GetNestingLevel(p), 0);
    CHECK_INT(PyTasklet_Alive(p), 0);
    CHECK_INT(PyTasklet_Paused(p), 0);
    CHECK_INT(PyTasklet_Scheduled(p), 0);
    CHECK_INT(PyTasklet_Restorable(p), 0);
    CHECK_INT(PyTasklet_GetBlocked(p), 0);
    CHECK_INT(PyTasklet_GetThreadId(p), 0);
    CHECK_NO_ERROR();
}

TEST(bad_input_null) {
    check_bad_tasklet_calls(NULL);
    if (harness_case_failed) {
        return;
    }
    check_bad_tasklet_queries(NULL);
}

/* Setup, BindEx and a call of the tasklet refuse an args that is not a
 * tuple and a kwds that is not a dict, and change nothing: the tasklet
 * still runs with good arguments afterwards. */
TEST(bad_call_arguments_are_refused) {
    PyObject *func = FUNC(log_arg), *five = PyLong_FromLong(5);
    PyObject *args = Py_BuildValue("(s)", "runs");
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    CHECK_INT(PyTasklet_Setup(t, five, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "argument list must be a tuple");
    CHECK_INT(PyTasklet_Setup(t, args, five), -1);
    CHECK_ERROR(PyExc_TypeError, "keyword list must be a dictionary");
    CHECK_INT(PyTasklet_Setup(t, args, args), -1);
    CHECK_ERROR(PyExc_TypeError, "keyword list must be a dictionary");
    CHECK_INT(PyTasklet_BindEx(t, func, five, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "argument list must be a tuple");
    CHECK_INT(PyTasklet_BindEx(t, NULL, args, five), -1);
    CHECK_ERROR(PyExc_TypeError, "keyword list must be a dictionary");
    CHECK(Py_TYPE(t)->tp_call((PyObject *)t, five, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "argument list must be a tuple");
    CHECK_STATES(t, ST_UNBOUND);
    CHECK_INT(PyTasklet_Setup(t, args, NULL), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("runs");
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(five);
    Py_DECREF(args);
}

/* The type's slots, called directly from C, check what they are given. */
TEST(tasklet_slots_refuse_bad_arguments) {
    PyObject *five = PyLong_FromLong(5), *empty = PyTuple_New(0);
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK_INT(PyTasklet_Type.tp_init((PyObject *)t, five, NULL), -1);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK_INT(PyTasklet_Type.tp_init(five, empty, NULL), -1);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK(PyTasklet_Type.tp_call(five, empty, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK(PyTasklet_Type.tp_call(NULL, empty, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK_STATES(t, ST_UNBOUND);
    Py_DECREF(t);
    Py_DECREF(five);
    Py_DECREF(empty);
}

TEST(bad_input_not_a_tasklet) {
    PyObject *five = PyLong_FromLong(5);
    check_bad_tasklet_calls((PyTaskletObject *)five);
    if (!harness_case_failed) {
        check_bad_tasklet_queries((PyTaskletObject *)five);
    }
    if (!harness_case_failed) {
        check_bad_tasklet_calls((PyTaskletObject *)Py_None);
    }
    if (!harness_case_failed) {
        check_bad_tasklet_queries((PyTaskletObject *)Py_None);
    }
    Py_DECREF(five);
}

/* Bad arguments besides the tasklet (C decisions, SPEC §8.1). */
TEST(bad_input_other_arguments) {
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK_INT(PyTasklet_SetTempval(t, NULL), -1);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    PyObject *func = FUNC(noop), *five = PyLong_FromLong(5);
    CHECK_INT(PyTasklet_BindEx(t, func, NULL, NULL), 0);
    CHECK_INT(PyTasklet_Setup(t, five, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "argument list must be a tuple");
    CHECK_STATES(t, ST_UNBOUND);
    CHECK(tempval_is(t, func));
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(five);
}

int main(void) {
    RUN_INSIDE(new_tasklet_is_unbound);
    RUN_INSIDE(new_tasklet_with_function_is_bound);
    RUN_INSIDE(new_tasklet_bad_arguments);
    RUN_INSIDE(new_tasklet_of_a_subtype);
    RUN_INSIDE(set_up_tasklet_is_runnable_not_started);
    RUN_INSIDE(running_tasklet_and_suspended_main);
    RUN_INSIDE(main_tasklet_state);
    RUN_INSIDE(suspended_started_tasklets);
    RUN(former_main_is_dead);
    RUN(outside_queries);

    RUN_INSIDE(s32a_bind_setup_pause_insert);
    RUN_INSIDE(s32b_bind_not_callable);
    RUN_INSIDE(s32c_bind_current);
    RUN_INSIDE(s32d_bind_scheduled);
    RUN_INSIDE(s32e_bind_c_state_then_drop_kills);
    RUN_INSIDE(s32f_bound_but_not_set_up_cannot_run);
    RUN_INSIDE(s32g_bind_with_arguments);
    RUN_INSIDE(rebind_and_unbind_paused_not_started);
    RUN_INSIDE(s32h_setup_alive);
    RUN_INSIDE(s32i_not_bound_to_a_function);
    RUN_INSIDE(bind_main_from_a_tasklet);
    RUN_INSIDE(dead_tasklet_is_reused);
    RUN_INSIDE(flags_survive_death_and_rebinding);
    RUN_INSIDE(calling_a_tasklet_sets_it_up);

    RUN_INSIDE(s35_remove_current);
    RUN_INSIDE(remove_in_every_state);
    RUN_INSIDE(insert_in_every_state);
    RUN_INSIDE(run_and_switch_current_are_noops);
    RUN_INSIDE(run_nr_and_switch_nr_switch);
    RUN_INSIDE(s34a_switch_to_runnable);
    RUN_INSIDE(s34d_switch_to_paused);
    RUN_INSIDE(switch_away_until_the_ring_is_empty);

    RUN_INSIDE(s16_kill_runnable_not_started);
    RUN_INSIDE(s17_pending_kill_not_started);
    RUN_INSIDE(s18_kill_paused);
    RUN_INSIDE(s19_kill_current);
    RUN_INSIDE(s20_operations_on_dead);
    RUN_INSIDE(s20_operations_on_unbound);
    RUN_INSIDE(s20_operations_on_bound_not_set_up);
    RUN_INSIDE(s21a_kill_main_in_schedule);
    RUN_INSIDE(s21b_kill_main_in_run);
    RUN_INSIDE(s22_kill_pending_true);
    RUN_INSIDE(s22_kill_pending_false);
    RUN_INSIDE(kill_runnable_started_is_not_moved);
    RUN_INSIDE(pending_kill_of_paused_inserts_it);

    RUN_INSIDE(s24_throw_into_new_immediate);
    RUN_INSIDE(s24_throw_into_new_pending);
    RUN_INSIDE(s25_kill_new_then_run);
    RUN_INSIDE(s26_invalid_throws);
    RUN_INSIDE(raise_in_self_fails_at_once);
    RUN_INSIDE(raise_and_throw_argument_forms);
    RUN_INSIDE(pending_throw_into_paused);
    RUN_INSIDE(uncaught_raise_exception_goes_to_main);
    RUN_INSIDE(raise_exception_in_main_from_a_tasklet);

    RUN_INSIDE(s29a_error_handler_handles);
    RUN_INSIDE(s29b_error_handler_raises);
    RUN_INSIDE(s29c_error_handler_early_throw);
    RUN_INSIDE(s29e_error_handler_pending_throw);
    RUN_INSIDE(error_handler_setter);

    RUN_INSIDE(s63_tasklet_exit_is_silent);
    RUN(tasklet_exit_is_a_system_exit);
    RUN_INSIDE(system_exit_calls_the_exit_hook);
    RUN(tasklet_exit_leaves_call_main);
    RUN(system_exit_leaves_call_main);

    RUN_INSIDE(s30_atomic_flag);
    RUN_INSIDE(atomic_does_not_block_explicit_switches);
    RUN_INSIDE(ignore_nesting_and_block_trap_flags);

    RUN_INSIDE(dealloc_of_paused_started_kills_it);
    RUN_INSIDE(dealloc_of_not_started_runs_nothing);
    RUN_INSIDE(dealloc_by_a_tasklet_resumes_it_right_after);
    RUN_INSIDE(switch_away_by_a_fire_and_forget_tasklet);
    RUN_INSIDE(dealloc_of_a_tasklet_that_survives_ten_kills);

    RUN_INSIDE(call_varargs_and_keywords);
    RUN_INSIDE(call_noargs);
    RUN_INSIDE(call_meth_o);
    RUN_INSIDE(call_with_self);
    RUN_INSIDE(call_result_checks);
    RUN_INSIDE(call_argument_error_in_run);
    RUN_INSIDE(s33_recursion_depth);
    RUN_INSIDE(s33_recursion_depth_of_c_functions);
    RUN_INSIDE(call_callable_object);

    RUN_INSIDE(bad_input_null);
    RUN_INSIDE(bad_call_arguments_are_refused);
    RUN_INSIDE(tasklet_slots_refuse_bad_arguments);
    RUN_INSIDE(bad_input_not_a_tasklet);
    RUN_INSIDE(bad_input_other_arguments);

    RUN(finalize_ends_the_survivor); /* calls PyStackless_Finalize */
    return harness_summary("test_tasklets");
}
