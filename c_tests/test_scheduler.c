/*
 * The scheduler: the runnables ring, schedule / schedule_remove, run,
 * switch, nothing left to run, uncaught exceptions, switch_trap, run count,
 * current and current id (SPEC §3, §5.1, §5.4, §5.8, §8.3; scenarios S28,
 * S31, S41, S52-S55, S61).
 */
#include "tasklet_helpers.h"

#include <stdint.h>

/* ---- Helpers of this file ---------------------------------------------- */

/* A new tasklet of def's function with the string argument `name` (the
 * tasklet's name in ring_text()), set up. */
static PyTaskletObject *spawn_def_named(PyMethodDef *def, const char *name) {
    PyTaskletObject *t = spawn_def_s(def, name);
    if (t != NULL) {
        name_object(t, name);
    }
    return t;
}

#define SPAWN(body, name) spawn_def_named(&body##_def, (name))

/* Schedule(retval, remove) that must return `expected` (the same object). */
#define CHECK_SCHEDULE(retval, remove, expected)                               \
    do {                                                                       \
        PyObject *r_ = PyStackless_Schedule((retval), (remove));               \
        if (r_ == NULL) {                                                      \
            harness_fail(__FILE__, __LINE__, error_text());                    \
            return;                                                            \
        }                                                                      \
        CHECK_PTR(r_, (expected));                                             \
        Py_DECREF(r_);                                                         \
    } while (0)

static const char *const ST_NOT_STARTED_RUNNABLE = "a1 s1 p0 b0 r1 n0";
static const char *const ST_STARTED_RUNNABLE = "a1 s1 p0 b0 r0 n1";
static const char *const ST_STARTED_PAUSED = "a1 s0 p1 b0 r0 n1";
static const char *const ST_CURRENT = "a1 s1 p0 b0 r1 n0";
static const char *const ST_DEAD = "a0 s0 p0 b0 r1 n0";

/* ---- Tasklet bodies ------------------------------------------------------ */

/* Logs its name. */
BODY(log_name) {
    trace("%s", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* "<name>1", Schedule, "<name>2" (the original round-robin body). */
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

/* Logs "<name><i>" for i = 1..n with a Schedule between: (name, n). */
static PyObject *steps_impl(PyObject *args, int n) {
    const char *name = arg_str(args, 0);
    for (int i = 1; i <= n; i++) {
        if (i > 1) {
            PyObject *r = PyStackless_Schedule(Py_None, 0);
            if (r == NULL) {
                trace("%s %s", name, error_text());
                PyErr_SetNone(PyExc_TaskletExit);
                return NULL;
            }
            Py_DECREF(r);
        }
        trace("%s%d", name, i);
    }
    Py_RETURN_NONE;
}

BODY(steps2) {
    return steps_impl(args, 2);
}

BODY(steps3) {
    return steps_impl(args, 3);
}

/* Parks with Schedule(None, 1); logs "<name> <error>" if that fails. */
BODY(parker) {
    const char *name = arg_str(args, 0);
    trace("%s parks", name);
    PyObject *r = PyStackless_Schedule(Py_None, 1);
    if (r == NULL) {
        trace("%s %s", name, error_text());
        PyErr_SetNone(PyExc_TaskletExit);
        return NULL;
    }
    Py_DECREF(r);
    trace("%s resumed", name);
    Py_RETURN_NONE;
}

/* Logs "<name> raises" and raises ZeroDivisionError("<name>"). */
BODY(raiser) {
    const char *name = arg_str(args, 0);
    trace("%s raises", name);
    PyErr_SetString(PyExc_ZeroDivisionError, name);
    return NULL;
}

/* ---- The ring (SPEC §3.1) ------------------------------------------------ */

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

TEST(setup_appends_at_the_tail) {
    names_reset();
    PyTaskletObject *a = SPAWN(log_name, "A"), *b = SPAWN(log_name, "B"),
                    *c = SPAWN(log_name, "C");
    CHECK_RING("main A B C");
    CHECK_INT(PyStackless_GetRunCount(), 4);
    PyObject *prev = PyTasklet_GetPrev(main_tasklet());
    CHECK_PTR(prev, c);
    Py_DECREF(prev);
    PyObject *next = PyTasklet_GetNext(c);
    CHECK_PTR(next, main_tasklet());
    Py_DECREF(next);
    CHECK_RUN_NONE();
    CHECK_TRACE("A B C");
    CHECK_RING("main");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
}

/* Schedule is FIFO round-robin; a dying tasklet hands over to its ring
 * successor (SPEC §2.5, §3.1). */
TEST(schedule_round_robin_from_main) {
    names_reset();
    PyTaskletObject *a = SPAWN(steps3, "A"), *b = SPAWN(steps2, "B");
    CHECK_SCHEDULE(Py_None, 0, Py_None);
    CHECK_TRACE("A1 B1");
    CHECK_RING("main A B");
    CHECK_SCHEDULE(Py_None, 0, Py_None);
    CHECK_TRACE("A1 B1 A2 B2");
    CHECK_RING("main A");
    CHECK_SCHEDULE(Py_None, 0, Py_None);
    CHECK_TRACE("A1 B1 A2 B2 A3");
    CHECK_RING("main");
    Py_DECREF(a);
    Py_DECREF(b);
}

/* ---- schedule / schedule_remove (SPEC §5.1, S54, S55) ------------------- */

/* S54 (main alone); SPEC §5.1 edge cases */
TEST(s54_schedule_alone_returns_retval) {
    PyObject *x = PyUnicode_FromString("x"), *y = PyUnicode_FromString("y");
    CHECK_SCHEDULE(x, 0, x);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_SCHEDULE(y, 1, y);
    CHECK_INT(PyTasklet_Scheduled(main_tasklet()), 1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    /* NULL retval is None (SPEC §8.3); the _nr variant is the same. */
    CHECK_SCHEDULE(NULL, 0, Py_None);
    CHECK_SCHEDULE(NULL, 1, Py_None);
    PyObject *r = PyStackless_Schedule_nr(x, 0);
    CHECK_PTR(r, x);
    Py_DECREF(r);
    Py_DECREF(x);
    Py_DECREF(y);
}

static PyObject *s54_values[2];

/* S54: r1 = Schedule("hello", 0); r2 = Schedule("bye", 1). */
BODY(s54_task) {
    (void)args;
    PyObject *hello = PyUnicode_FromString("hello"), *bye = PyUnicode_FromString("bye");
    PyObject *r1 = PyStackless_Schedule(hello, 0);
    Py_DECREF(hello);
    if (r1 == NULL) {
        Py_DECREF(bye);
        return NULL;
    }
    trace("r1=%s", harness_text(r1, 1));
    s54_values[0] = r1;
    PyObject *r2 = PyStackless_Schedule(bye, 1);
    Py_DECREF(bye);
    if (r2 == NULL) {
        return NULL;
    }
    trace("r2=%s", harness_text(r2, 1));
    s54_values[1] = r2;
    return PyUnicode_FromString("the result");
}

static const char *tempval_text(PyTaskletObject *t) {
    PyObject *v = PyTasklet_GetTempval(t);
    const char *text = harness_text(v, 1);
    Py_XDECREF(v);
    return text;
}

/* S54 */
TEST(s54_schedule_return_values_and_tempval) {
    s54_values[0] = s54_values[1] = NULL;
    PyObject *func = FUNC(s54_task), *empty = PyTuple_New(0);
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    /* Bound, not set up: the tempval is the function. */
    PyObject *tv = PyTasklet_GetTempval(t);
    CHECK_PTR(tv, func);
    Py_DECREF(tv);
    CHECK_INT(PyTasklet_Setup(t, empty, NULL), 0);
    CHECK_STR(tempval_text(t), "None");
    CHECK(PyTasklet_GetFrame(t) == NULL);
    CHECK_INT(PyTasklet_Alive(t), 1);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_STR(tempval_text(t), "'hello'");
    CHECK_STATES(t, ST_STARTED_RUNNABLE);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_TRACE("r1='hello'");
    CHECK_STATES(t, ST_STARTED_PAUSED);
    CHECK_STR(tempval_text(t), "'bye'");
    PyObject *changed = PyUnicode_FromString("changed");
    CHECK_INT(PyTasklet_SetTempval(t, changed), 0);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_TRACE("r1='hello' r2='changed'");
    CHECK_PTR(s54_values[1], changed);
    /* The function's result is discarded. */
    CHECK_STATES(t, ST_DEAD);
    CHECK_STR(tempval_text(t), "None");
    Py_DECREF(s54_values[0]);
    Py_DECREF(s54_values[1]);
    Py_DECREF(changed);
    Py_DECREF(t);
    Py_DECREF(func);
    Py_DECREF(empty);
}

/* S55 (1): the last runnable tasklet parks while main is in run(). */
TEST(s55_1_schedule_remove_of_the_last_tasklet) {
    names_reset();
    PyTaskletObject *t = SPAWN(parker, "T");
    CHECK_RUN_NONE();
    CHECK_TRACE("T parks");
    CHECK_STATES(t, ST_STARTED_PAUSED);
    CHECK_RING("main");
    CHECK_INT(PyTasklet_Kill(t), 0);
    CHECK_TRACE("T parks T TaskletExit: ");
    CHECK_STATES(t, ST_DEAD);
    Py_DECREF(t);
}

static PyChannelObject *s55_channel;

BODY(s55_2_task) {
    (void)args;
    PyObject *r = PyStackless_Schedule(Py_None, 1);
    if (r != NULL) {
        trace("no deadlock");
        Py_DECREF(r);
    } else {
        trace("%s", error_text());
    }
    trace("%s", PyTasklet_Scheduled(current()) ? "back in the ring" : "not in the ring");
    if (PyChannel_Send(s55_channel, Py_None) < 0) {
        return NULL;
    }
    trace("sent");
    Py_RETURN_NONE;
}

/* S55 (2): main is blocked on a channel; the last tasklet may not leave. */
TEST(s55_2_schedule_remove_while_main_is_blocked) {
    names_reset();
    s55_channel = PyChannel_New(NULL);
    PyTaskletObject *t = SPAWN(s55_2_task, "T");
    PyObject *r = PyChannel_Receive(s55_channel);
    CHECK(r == Py_None);
    Py_DECREF(r);
    CHECK_TRACE("RuntimeError: Deadlock: the last runnable tasklet cannot be blocked. "
                "back in the ring");
    CHECK_RING("main T");
    CHECK_RUN_NONE();
    CHECK_TRACE("RuntimeError: Deadlock: the last runnable tasklet cannot be blocked. "
                "back in the ring sent");
    Py_DECREF(t);
    Py_DECREF(s55_channel);
}

/* S55 (3); SPEC §2.7: a fire-and-forget tasklet parks itself while main is
 * in run(): main drops its last reference and it is killed before run()
 * returns. */
TEST(s55_3_fire_and_forget_schedule_remove) {
    names_reset();
    PyTaskletObject *t = SPAWN(parker, "T");
    Py_DECREF(t);
    CHECK_RUN_NONE();
    trace("run returned");
    CHECK_TRACE("T parks T TaskletExit:  run returned");
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

/* S55 (4): the same while main does Schedule(None, 1). */
TEST(s55_4_fire_and_forget_while_main_parks) {
    names_reset();
    PyTaskletObject *t = SPAWN(parker, "T");
    Py_DECREF(t);
    CHECK_SCHEDULE(Py_None, 1, Py_None);
    trace("schedule returned");
    CHECK_TRACE("T parks T TaskletExit:  schedule returned");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_STATES(main_tasklet(), ST_CURRENT);
}

/* SPEC §5.1: schedule_remove by main with others runnable: main leaves the
 * ring and is revived when it runs empty (§3.3). */
TEST(schedule_remove_by_main_with_others) {
    names_reset();
    PyTaskletObject *a = SPAWN(steps2, "A");
    PyObject *v = PyUnicode_FromString("v");
    CHECK_SCHEDULE(v, 1, v);
    CHECK_TRACE("A1 A2");
    CHECK_RING("main");
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    Py_DECREF(v);
    Py_DECREF(a);
}

/* ---- run (untimed) and nothing left to run (SPEC §3.3, §5.2) ------------- */

TEST(run_with_nothing_to_do_returns_none) {
    CHECK_RUN_NONE();
    CHECK_RING("main");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    PyObject *r = PyStackless_RunWatchdogEx(0, 0);
    CHECK(r == Py_None);
    Py_DECREF(r);
}

BODY(count_runnables) {
    trace("%s count %d main paused %d", arg_str(args, 0), PyStackless_GetRunCount(),
          PyTasklet_Paused(main_tasklet()));
    Py_RETURN_NONE;
}

/* SPEC §5.11: main inside run(), paused and watchdog tasklets are not
 * counted. */
TEST(run_count) {
    names_reset();
    CHECK_INT(PyStackless_GetRunCount(), 1);
    PyTaskletObject *p = SPAWN(parker, "P");
    CHECK_INT(PyStackless_GetRunCount(), 2);
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    PyTaskletObject *a = SPAWN(count_runnables, "A"), *b = SPAWN(count_runnables, "B");
    CHECK_INT(PyStackless_GetRunCount(), 3);
    CHECK_RUN_NONE();
    CHECK_TRACE("P parks A count 2 main paused 1 B count 1 main paused 1");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyTasklet_Kill(p), 0);
    Py_DECREF(p);
    Py_DECREF(a);
    Py_DECREF(b);
}

BODY(report_current) {
    PyTaskletObject *cur = current();
    trace("%s current=%s is_current=%d main_is_current=%d", arg_str(args, 0),
          name_of((PyObject *)cur), PyTasklet_IsCurrent(cur),
          PyTasklet_IsCurrent(main_tasklet()));
    Py_RETURN_NONE;
}

/* SPEC §8.3 GetCurrent. */
TEST(get_current) {
    names_reset();
    PyObject *c = PyStackless_GetCurrent();
    CHECK_PTR(c, main_tasklet());
    Py_DECREF(c);
    PyTaskletObject *t = SPAWN(report_current, "T");
    CHECK_RUN_NONE();
    CHECK_TRACE("T current=T is_current=1 main_is_current=0");
    Py_DECREF(t);
}

static long ids[3];

BODY(record_id) {
    (void)args;
    ids[0] = PyStackless_GetCurrentId();
    ids[1] = (long)(uintptr_t)current();
    Py_RETURN_NONE;
}

/* S61 (single thread) */
TEST(s61_current_id) {
    CHECK_INT(PyStackless_GetCurrentId(), thread_ident());
    PyTaskletObject *t = SPAWN(record_id, "T");
    CHECK_RUN_NONE();
    CHECK(ids[0] != thread_ident());
    CHECK_INT(ids[0], ids[1]);
    CHECK_INT(ids[1], (long)(uintptr_t)t);
    CHECK_INT(PyStackless_GetCurrentId(), thread_ident());
    Py_DECREF(t);
}

/* S61: outside. */
TEST(s61_current_id_outside) {
    CHECK_INT(PyStackless_GetCurrentId(), thread_ident());
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_NO_ERROR();
    CHECK_INT(PyStackless_GetRunCount(), 0);
}

/* ---- S52, S53: run and switch ordering ----------------------------------- */

/* S52: logs its name, Schedule, logs "<name> end". */
BODY(s52_f) {
    const char *name = arg_str(args, 0);
    trace("%s", name);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    trace("%s end", name);
    Py_RETURN_NONE;
}

/* S52 (1) */
TEST(s52a_run_first_of_three) {
    names_reset();
    PyTaskletObject *t1 = SPAWN(s52_f, "t1"), *t2 = SPAWN(s52_f, "t2"), *t3 = SPAWN(s52_f, "t3");
    CHECK_INT(PyTasklet_Run(t1), 0);
    CHECK_TRACE("t1 t2 t3");
    CHECK_RING("main t1 t2 t3");
    CHECK_RUN_NONE();
    CHECK_TRACE("t1 t2 t3 t1 end t2 end t3 end");
    Py_DECREF(t1);
    Py_DECREF(t2);
    Py_DECREF(t3);
}

/* S52 (2) */
TEST(s52b_run_second_of_three) {
    names_reset();
    PyTaskletObject *t1 = SPAWN(s52_f, "t1"), *t2 = SPAWN(s52_f, "t2"), *t3 = SPAWN(s52_f, "t3");
    CHECK_INT(PyTasklet_Run(t2), 0);
    CHECK_TRACE("t2 t3");
    CHECK_RING("main t1 t2 t3");
    CHECK_RUN_NONE();
    CHECK_TRACE("t2 t3 t1 t2 end t3 end t1 end");
    Py_DECREF(t1);
    Py_DECREF(t2);
    Py_DECREF(t3);
}

/* S52 (3) */
TEST(s52c_run_removed_tasklet) {
    names_reset();
    PyTaskletObject *t1 = SPAWN(s52_f, "t1"), *t2 = SPAWN(s52_f, "t2"), *t3 = SPAWN(s52_f, "t3");
    CHECK_INT(PyTasklet_Remove(t2), 0);
    CHECK_RING("main t1 t3");
    CHECK_INT(PyTasklet_Paused(t2), 1);
    CHECK_INT(PyTasklet_Run(t2), 0);
    CHECK_TRACE("t2");
    CHECK_RING("main t1 t3 t2");
    CHECK_RUN_NONE();
    CHECK_TRACE("t2 t1 t3 t2 end t1 end t3 end");
    Py_DECREF(t1);
    Py_DECREF(t2);
    Py_DECREF(t3);
}

/* S53: logs whether main is paused, then switches back to it. */
BODY(s53_back) {
    (void)args;
    PyTaskletObject *m = main_tasklet();
    trace("main paused=%d scheduled=%d", PyTasklet_Paused(m), PyTasklet_Scheduled(m));
    if (PyTasklet_Switch(m) < 0) {
        return NULL;
    }
    trace("back again");
    Py_RETURN_NONE;
}

/* S53 */
TEST(s53_switch_away_from_main) {
    names_reset();
    PyTaskletObject *t1 = SPAWN(steps3, "t1"), *t2 = SPAWN(steps3, "t2"),
                    *t3 = SPAWN(steps3, "t3"), *back = SPAWN(s53_back, "back");
    CHECK_INT(PyTasklet_Switch(t1), 0);
    CHECK_TRACE("t11 t21 t31 main paused=1 scheduled=0");
    CHECK_RING("main t1 t2 t3");
    CHECK_STATES(back, ST_STARTED_PAUSED);
    CHECK_RUN_NONE();
    CHECK_TRACE("t11 t21 t31 main paused=1 scheduled=0 t12 t22 t32 t13 t23 t33");
    CHECK_STATES(back, ST_STARTED_PAUSED);
    CHECK_INT(PyTasklet_Insert(back), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("t11 t21 t31 main paused=1 scheduled=0 t12 t22 t32 t13 t23 t33 back again");
    Py_DECREF(t1);
    Py_DECREF(t2);
    Py_DECREF(t3);
    Py_DECREF(back);
}

/* ---- Main addressed by other tasklets (SPEC §2.4) ------------------------ */

BODY(run_main) {
    const char *name = arg_str(args, 0);
    trace("%s1", name);
    if (PyTasklet_Run(main_tasklet()) < 0) {
        return NULL;
    }
    trace("%s2", name);
    Py_RETURN_NONE;
}

/* Run(main) while main is inside run(): its run() returns None. */
TEST(run_main_from_a_tasklet) {
    names_reset();
    PyTaskletObject *w = SPAWN(run_main, "W");
    CHECK_RUN_NONE();
    CHECK_TRACE("W1");
    CHECK_RING("main W");
    CHECK_RUN_NONE();
    CHECK_TRACE("W1 W2");
    Py_DECREF(w);
}

BODY(insert_main) {
    const char *name = arg_str(args, 0);
    if (PyTasklet_Insert(main_tasklet()) < 0) {
        return NULL;
    }
    trace("%s1", name);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    trace("%s2", name);
    Py_RETURN_NONE;
}

/* Insert(main) while main is inside run(): reached later, run() returns. */
TEST(insert_main_from_a_tasklet) {
    names_reset();
    PyTaskletObject *w = SPAWN(insert_main, "W");
    CHECK_RUN_NONE();
    CHECK_TRACE("W1");
    CHECK_RING("main W");
    CHECK_RUN_NONE();
    CHECK_TRACE("W1 W2");
    Py_DECREF(w);
}

BODY(remove_main) {
    (void)args;
    PyTaskletObject *m = main_tasklet();
    trace("remove %d", PyTasklet_Remove(m));
    trace("main paused=%d", PyTasklet_Paused(m));
    Py_RETURN_NONE;
}

/* Remove(main): main is still the wake-up target and is revived when the
 * ring runs empty; its Schedule returns normally. */
TEST(remove_main_from_a_tasklet) {
    names_reset();
    PyTaskletObject *r = SPAWN(remove_main, "R");
    PyObject *v = PyUnicode_FromString("v");
    CHECK_SCHEDULE(v, 0, v);
    CHECK_TRACE("remove 0 main paused=1");
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    CHECK_RING("main");
    Py_DECREF(v);
    Py_DECREF(r);
}

/* ---- Uncaught exceptions (SPEC §5.4, S41) -------------------------------- */

/* S41 (a) */
TEST(s41a_uncaught_exception_in_run) {
    names_reset();
    PyTaskletObject *a = SPAWN(steps3, "A"), *b = SPAWN(raiser, "B"), *c = SPAWN(steps2, "C");
    CHECK_RUN_FAILS(PyExc_ZeroDivisionError, "B");
    CHECK_TRACE("A1 B raises");
    CHECK_RING("main C A");
    CHECK_INT(PyTasklet_Alive(a), 1);
    CHECK_INT(PyTasklet_Alive(b), 0);
    CHECK_INT(PyTasklet_Alive(c), 1);
    CHECK_RUN_NONE();
    CHECK_TRACE("A1 B raises C1 A2 C2 A3");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
}

/* S41 (b) */
TEST(s41b_uncaught_exception_in_schedule) {
    names_reset();
    PyTaskletObject *a = SPAWN(steps3, "A"), *b = SPAWN(raiser, "B"), *c = SPAWN(steps2, "C");
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_ZeroDivisionError, "B");
    CHECK_TRACE("A1 B raises");
    CHECK_RING("main A C");
    CHECK_RUN_NONE();
    CHECK_TRACE("A1 B raises A2 C1 A3 C2");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
}

/* SPEC §5.4, §8.1 Run: the error of the run tasklet fails main's Run. */
TEST(uncaught_exception_fails_run_of_the_tasklet) {
    names_reset();
    PyTaskletObject *b = SPAWN(raiser, "B"), *x = SPAWN(log_name, "X");
    CHECK_INT(PyTasklet_Run(b), -1);
    CHECK_ERROR(PyExc_ZeroDivisionError, "B");
    CHECK_TRACE("B raises");
    CHECK_RING("main X");
    CHECK_RUN_NONE();
    CHECK_TRACE("B raises X");
    Py_DECREF(b);
    Py_DECREF(x);
}

/* SPEC §5.4: main switched away (paused, not in run()) still receives the
 * error: it is appended and switched to at once, before X. */
TEST(uncaught_exception_revives_a_paused_main) {
    names_reset();
    PyTaskletObject *b = SPAWN(raiser, "B"), *x = SPAWN(log_name, "X");
    CHECK_INT(PyTasklet_Switch(b), -1);
    CHECK_ERROR(PyExc_ZeroDivisionError, "B");
    CHECK_TRACE("B raises");
    CHECK_RING("main X");
    CHECK_RUN_NONE();
    CHECK_TRACE("B raises X");
    Py_DECREF(b);
    Py_DECREF(x);
}

/* ---- switch_trap (SPEC §5.8, S28 without channels) ----------------------- */

/* S28: Schedule, Schedule(..., 1) and run() with another runnable. */
TEST(s28_schedule_and_run_trapped) {
    names_reset();
    PyTaskletObject *a = SPAWN(log_name, "A");
    PyObject *v = PyUnicode_FromString("v");
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK(PyStackless_Schedule(v, 0) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK(PyStackless_Schedule(v, 1) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_RUN_FAILS(PyExc_RuntimeError, "switch_trap");
    /* Nothing changed. */
    CHECK_RING("main A");
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    CHECK_STR(tempval_text(main_tasklet()), "None");
    CHECK_STATES(a, ST_NOT_STARTED_RUNNABLE);
    CHECK_TRACE("");
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_SCHEDULE(v, 0, v);
    CHECK_TRACE("A");
    Py_DECREF(v);
    Py_DECREF(a);
}

/* S28: Run and Switch of a runnable and of a paused tasklet. */
TEST(s28_run_and_switch_trapped) {
    names_reset();
    PyTaskletObject *s = SPAWN(log_name, "S"), *p = SPAWN(parker, "P");
    CHECK_INT(PyTasklet_Remove(p), 0);
    CHECK_INT(PyStackless_SwitchTrap(1), 0);
    CHECK_INT(PyTasklet_Run(s), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyTasklet_Run(p), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyTasklet_Switch(s), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyTasklet_Switch(p), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_RING("main S");
    CHECK_INT(PyTasklet_Paused(p), 1); /* still paused */
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    CHECK_TRACE("");
    CHECK_INT(PyStackless_SwitchTrap(-1), 1);
    CHECK_INT(PyTasklet_Switch(p), 0);
    CHECK_TRACE("P parks S");
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_TRACE("P parks S P resumed");
    Py_DECREF(s);
    Py_DECREF(p);
}

/* S28: Kill and RaiseException that would switch (paused victim). */
TEST(s28_kill_and_raise_trapped) {
    names_reset();
    PyTaskletObject *p = SPAWN(parker, "P");
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyTasklet_Kill(p), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyTasklet_RaiseException(p, PyExc_ValueError, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyTasklet_Throw(p, 0, PyExc_ValueError, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_STATES(p, ST_STARTED_PAUSED);
    CHECK_STR(tempval_text(p), "None");
    /* A pending kill does not switch: allowed. */
    CHECK_INT(PyTasklet_KillEx(p, 1), 0);
    CHECK_STATES(p, ST_STARTED_RUNNABLE);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_RUN_NONE();
    CHECK_TRACE("P parks P TaskletExit: ");
    Py_DECREF(p);
}

/* S28: what completes without a switch succeeds under the trap. */
TEST(s28_allowed_under_the_trap) {
    names_reset();
    PyObject *v = PyUnicode_FromString("v");
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyStackless_AdjustSwitchTrap(0), 1);
    CHECK_INT(PyStackless_SwitchTrap(0), 1);
    CHECK_INT(PyTasklet_Switch(main_tasklet()), 0);
    CHECK_INT(PyTasklet_Run(main_tasklet()), 0);
    CHECK_SCHEDULE(v, 0, v);
    CHECK_SCHEDULE(v, 1, v);
    CHECK_RUN_NONE();
    PyTaskletObject *a = SPAWN(log_name, "A");
    CHECK_INT(PyTasklet_Remove(a), 0);
    CHECK_INT(PyTasklet_Insert(a), 0);
    CHECK_RING("main A");
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_INT(PyStackless_AdjustSwitchTrap(0), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("A");
    Py_DECREF(v);
    Py_DECREF(a);
}

/* ---- S31: schedule and schedule_remove from a tasklet -------------------- */

BODY(s31_foo) {
    (void)args;
    trace("foo scheduled=%d", PyTasklet_Scheduled(main_tasklet()));
    Py_RETURN_NONE;
}

/* S31 (a) */
TEST(s31a_schedule_lets_the_tasklet_run) {
    names_reset();
    PyTaskletObject *t = SPAWN(s31_foo, "T");
    CHECK_SCHEDULE(Py_None, 0, Py_None);
    CHECK_TRACE("foo scheduled=1");
    Py_DECREF(t);
}

BODY(s31_foo_inserts) {
    (void)args;
    PyTaskletObject *m = main_tasklet();
    trace("foo scheduled=%d", PyTasklet_Scheduled(m));
    if (PyTasklet_Insert(m) < 0) {
        return NULL;
    }
    trace("inserted scheduled=%d", PyTasklet_Scheduled(m));
    Py_RETURN_NONE;
}

/* S31 (b) */
TEST(s31b_schedule_remove_then_inserted) {
    names_reset();
    PyTaskletObject *t = SPAWN(s31_foo_inserts, "T");
    CHECK_SCHEDULE(Py_None, 1, Py_None);
    CHECK_TRACE("foo scheduled=0 inserted scheduled=1");
    CHECK_STATES(main_tasklet(), ST_CURRENT);
    Py_DECREF(t);
}

int main(void) {
    RUN_INSIDE(round_robin);
    RUN_INSIDE(setup_appends_at_the_tail);
    RUN_INSIDE(schedule_round_robin_from_main);

    RUN_INSIDE(s54_schedule_alone_returns_retval);
    RUN_INSIDE(s54_schedule_return_values_and_tempval);
    RUN_INSIDE(s55_1_schedule_remove_of_the_last_tasklet);
    RUN_INSIDE(s55_2_schedule_remove_while_main_is_blocked);
    RUN_INSIDE(s55_3_fire_and_forget_schedule_remove);
    RUN_INSIDE(s55_4_fire_and_forget_while_main_parks);
    RUN_INSIDE(schedule_remove_by_main_with_others);

    RUN_INSIDE(run_with_nothing_to_do_returns_none);
    RUN_INSIDE(run_count);
    RUN_INSIDE(get_current);
    RUN_INSIDE(s61_current_id);
    RUN(s61_current_id_outside);

    RUN_INSIDE(s52a_run_first_of_three);
    RUN_INSIDE(s52b_run_second_of_three);
    RUN_INSIDE(s52c_run_removed_tasklet);
    RUN_INSIDE(s53_switch_away_from_main);

    RUN_INSIDE(run_main_from_a_tasklet);
    RUN_INSIDE(insert_main_from_a_tasklet);
    RUN_INSIDE(remove_main_from_a_tasklet);

    RUN_INSIDE(s41a_uncaught_exception_in_run);
    RUN_INSIDE(s41b_uncaught_exception_in_schedule);
    RUN_INSIDE(uncaught_exception_fails_run_of_the_tasklet);
    RUN_INSIDE(uncaught_exception_revives_a_paused_main);

    RUN_INSIDE(s28_schedule_and_run_trapped);
    RUN_INSIDE(s28_run_and_switch_trapped);
    RUN_INSIDE(s28_kill_and_raise_trapped);
    RUN_INSIDE(s28_allowed_under_the_trap);

    RUN_INSIDE(s31a_schedule_lets_the_tasklet_run);
    RUN_INSIDE(s31b_schedule_remove_then_inserted);

    PyStackless_Finalize();
    return harness_summary("test_scheduler");
}
