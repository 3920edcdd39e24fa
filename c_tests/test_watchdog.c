/*
 * The watchdog: run() and its nesting, who wakes a watchdog (SPEC §5.2),
 * pre-emption with exact tick arithmetic (§5.3, §9.2), the flags of
 * PyStackless_RunWatchdogEx (§8.3). Scenarios S36-S39, S42, S44-S48, S64.
 *
 * Tick arithmetic used throughout: after a time slice starts, the tick
 * point that finds more than `timeout` ticks in the slice interrupts, so
 * with PyStackless_Tick(1) exactly timeout + 1 calls complete and the
 * (timeout + 2)-th call is the one that switches to the watchdog.
 */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"

#include <limits.h>
#include <pthread.h>

/* ---- Helpers --------------------------------------------------------- */

/* Completed PyStackless_Tick calls, per tasklet (indexed by the first
 * letter of its name). */
static long ticks_done[26];
static int done;

static void reset(void) {
    memset(ticks_done, 0, sizeof ticks_done);
    done = 0;
}

static long *ticks_of(const char *name) {
    return &ticks_done[(name[0] - 'A') % 26];
}

static PyObject *build_args(const char *format, const char *s, long n, long m) {
    return Py_BuildValue(format, s, n, m);
}

/* ticker(name, n, step): n calls of PyStackless_Tick(step), counted in
 * ticks_done; traces "<name> done", or "<name> failed" when a call fails
 * (the exception propagates). */
static PyObject *ticker(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    long count = PyLong_AsLong(PyTuple_GetItem(args, 1));
    long step = PyLong_AsLong(PyTuple_GetItem(args, 2));
    for (long i = 0; i < count; i++) {
        if (PyStackless_Tick(step) < 0) {
            trace("%s failed", n);
            return NULL;
        }
        ++*ticks_of(n);
    }
    trace("%s done", n);
    Py_RETURN_NONE;
}

static PyTaskletObject *spawn_ticker(const char *n, long count, long step) {
    PyObject *a = build_args("(sll)", n, count, step);
    PyTaskletObject *t = spawn_with(ticker, a);
    Py_DECREF(a);
    name_object(t, n);
    return t;
}

/* scheduler(name, n): n calls of Schedule, no tick point; traces at the end. */
static PyObject *scheduler(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    long count = PyLong_AsLong(PyTuple_GetItem(args, 1));
    for (long i = 0; i < count; i++) {
        if (schedule() < 0) {
            return NULL;
        }
    }
    trace("%s done", n);
    Py_RETURN_NONE;
}

static PyTaskletObject *spawn_scheduler(const char *n, long count) {
    PyObject *a = build_args("(sll)", n, count, 0);
    PyTaskletObject *t = spawn_with(scheduler, a);
    Py_DECREF(a);
    name_object(t, n);
    return t;
}

/* burst(name, rounds, ticks): rounds x {ticks x Tick(1); Schedule}. */
static PyObject *burst(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    long rounds = PyLong_AsLong(PyTuple_GetItem(args, 1));
    long count = PyLong_AsLong(PyTuple_GetItem(args, 2));
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < count; i++) {
            if (PyStackless_Tick(1) < 0) {
                trace("%s failed", n);
                return NULL;
            }
            ++*ticks_of(n);
        }
        if (schedule() < 0) {
            return NULL;
        }
    }
    trace("%s done", n);
    Py_RETURN_NONE;
}

static PyTaskletObject *spawn_burst(const char *n, long rounds, long count) {
    PyObject *a = build_args("(sll)", n, rounds, count);
    PyTaskletObject *t = spawn_with(burst, a);
    Py_DECREF(a);
    name_object(t, n);
    return t;
}

/* Ticks until killed (returns NULL with the exception). */
static PyObject *endless_ticker(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    for (;;) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
        ++*ticks_of(n);
    }
}

static PyObject *raise_index_error(PyObject *self, PyObject *args) {
    (void)self;
    PyErr_SetString(PyExc_IndexError, arg_str(args, 0));
    return NULL;
}

/* S48: the thread's watchdog list is back to "slot 0 empty, no entries",
 * checked through behaviour: main (current, alone) is the wake-up target of
 * an uncaught error, and a timed run() owns the timer again. */
static void check_watchdog_list_empty(void) {
    PyObject *main = PyStackless_GetMain();
    PyObject *cur = PyStackless_GetCurrent();
    Py_DECREF(cur);
    CHECK_PTR(cur, main);
    PyObject *info = PyStackless_GetThreadInfo(-1);
    CHECK(info != NULL);
    CHECK_PTR(PyTuple_GetItem(info, 0), main);
    CHECK_PTR(PyTuple_GetItem(info, 1), main);
    CHECK_INT(PyLong_AsLong(PyTuple_GetItem(info, 2)), 1);
    Py_DECREF(info);
    Py_DECREF(main);

    PyObject *a = Py_BuildValue("(s)", "probe");
    PyTaskletObject *e = spawn_with(raise_index_error, a);
    Py_DECREF(a);
    CHECK(PyStackless_RunWatchdog(0) == NULL);
    CHECK_ERROR(PyExc_IndexError, "probe");
    Py_DECREF(e);

    a = Py_BuildValue("(s)", "Z");
    PyTaskletObject *z = spawn_with(endless_ticker, a);
    Py_DECREF(a);
    long before = *ticks_of("Z");
    CHECK_RESULT(PyStackless_RunWatchdog(5), z);
    CHECK_INT(*ticks_of("Z") - before, 6);
    CHECK_INT(PyTasklet_Kill(z), 0);
    CHECK_INT(PyTasklet_Alive(z), 0);
    Py_DECREF(z);
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

#define CHECK_WATCHDOG_LIST_EMPTY()                                            \
    do {                                                                       \
        check_watchdog_list_empty();                                           \
        if (harness_case_failed) {                                             \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Starts a case: clean counters and names. */
#define BEGIN()                                                                \
    do {                                                                       \
        reset();                                                               \
        names_reset();                                                         \
    } while (0)

/* ---- §5.3 / §9.2: hard timeouts and ticks ------------------------------ */

/* S36 */
TEST(hard_timeout_lifecycle) {
    BEGIN();
    PyTaskletObject *t = spawn_ticker("T", 1000, 1);
    CHECK(t != NULL);
    CHECK_INT(PyTasklet_Alive(t), 1);
    CHECK_INT(PyTasklet_Scheduled(t), 1);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    PyObject *r = PyStackless_RunWatchdog(10);
    CHECK_PTR(r, t);
    Py_DECREF(r);
    CHECK_INT(*ticks_of("T"), 11);
    CHECK_INT(PyTasklet_Alive(t), 1);
    CHECK_INT(PyTasklet_Paused(t), 1);
    CHECK_INT(PyTasklet_Scheduled(t), 0);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyTasklet_Insert(t), 0);
    CHECK_INT(PyTasklet_Paused(t), 0);
    CHECK_INT(PyTasklet_Scheduled(t), 1);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("T done");
    CHECK_INT(*ticks_of("T"), 1000);
    CHECK_INT(PyTasklet_Alive(t), 0);
    CHECK_INT(PyTasklet_GetRecursionDepth(t), 0);
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* S36 counter-check (§9.2): the runtime's own calls are no tick points. */
TEST(no_tick_points_no_interrupt) {
    BEGIN();
    PyTaskletObject *t = spawn_scheduler("S", 50);
    CHECK_NONE(PyStackless_RunWatchdog(10));
    CHECK_TRACE("S done");
    CHECK_INT(PyTasklet_Alive(t), 0);
    Py_DECREF(t);
    t = spawn_scheduler("U", 50);
    CHECK_NONE(PyStackless_RunWatchdogEx(10, PY_WATCHDOG_TOTALTIMEOUT));
    CHECK_TRACE("S done U done");
    CHECK_INT(PyTasklet_Alive(t), 0);
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §9.2: without tick points a timed run behaves as an untimed one for
 * every timeout and every flag combination. */
TEST(no_tick_points_any_flags) {
    static const long timeouts[] = {1, 10, 1000000000L};
    for (int f = 0; f < 16; f++) {
        for (int i = 0; i < 3; i++) {
            BEGIN();
            trace_reset();
            PyTaskletObject *a = spawn_scheduler("A", 20);
            PyTaskletObject *b = spawn_scheduler("B", 10);
            PyObject *r = PyStackless_RunWatchdogEx(timeouts[i], f);
            if (r != Py_None) {
                char m[128];
                snprintf(m, sizeof m, "flags %d timeout %ld did not return None", f, timeouts[i]);
                harness_fail(__FILE__, __LINE__, m);
                PyErr_Clear();
                Py_XDECREF(r);
                return;
            }
            Py_DECREF(r);
            CHECK_TRACE("B done A done");
            CHECK_INT(PyTasklet_Alive(a), 0);
            CHECK_INT(PyTasklet_Alive(b), 0);
            Py_DECREF(a);
            Py_DECREF(b);
        }
    }
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.3: the handler is entered at the tick point that finds more than
 * `timeout` ticks in the slice (the comparison precedes the increment). */
TEST(tick_arithmetic) {
    static const struct {
        long timeout, step, completed;
    } cases[] = {
        {1, 1, 2}, {10, 1, 11}, {100, 1, 101}, {10, 5, 3}, {10, 4, 3}, {10, 3, 4}, {10, 11, 1}, {10, 10, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        BEGIN();
        trace_reset();
        PyTaskletObject *t = spawn_ticker("T", 1000, cases[i].step);
        PyObject *r = PyStackless_RunWatchdog(cases[i].timeout);
        CHECK_PTR(r, t);
        Py_DECREF(r);
        if (*ticks_of("T") != cases[i].completed) {
            char m[128];
            snprintf(m, sizeof m, "timeout %ld step %ld: %ld ticks completed, expected %ld", cases[i].timeout,
                     cases[i].step, *ticks_of("T"), cases[i].completed);
            harness_fail(__FILE__, __LINE__, m);
            return;
        }
        CHECK_INT(PyTasklet_Kill(t), 0);
        CHECK_TRACE("T failed");
        CHECK_INT(PyTasklet_Alive(t), 0);
        Py_DECREF(t);
    }
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* The counter wraps around but a timeout never does: the longest one
 * (LONG_MAX ticks) is not reached by a tasklet ticking huge steps, a short
 * one still is after them; a negative count is refused. */
TEST(extreme_tick_counts) {
    BEGIN();
    PyTaskletObject *t = spawn_ticker("T", 3, LONG_MAX / 2);
    PyObject *r = PyStackless_RunWatchdog(LONG_MAX);
    CHECK_NONE(r);
    CHECK_TRACE("T done");
    Py_DECREF(t);
    trace_reset();
    t = spawn_ticker("U", 1000, LONG_MAX / 4);
    r = PyStackless_RunWatchdog(10);
    CHECK_PTR(r, t);
    Py_DECREF(r);
    CHECK_INT(*ticks_of("U"), 1);
    CHECK_INT(PyTasklet_Kill(t), 0);
    Py_DECREF(t);
    CHECK_INT(PyStackless_Tick(-1), -1);
    CHECK_ERROR(PyExc_ValueError, "tick count must not be negative");
    CHECK_INT(PyStackless_Tick(LONG_MIN), -1);
    CHECK_ERROR(PyExc_ValueError, "tick count must not be negative");
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §3.2 step 8: every real switch restarts the time slice. */
TEST(slice_restarts_at_every_switch) {
    BEGIN();
    PyTaskletObject *a = spawn_burst("A", 5, 8);
    PyTaskletObject *b = spawn_scheduler("B", 5);
    CHECK_NONE(PyStackless_RunWatchdog(10));
    CHECK_TRACE("A done B done");
    CHECK_INT(*ticks_of("A"), 40);
    Py_DECREF(a);
    Py_DECREF(b);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.3 TOTALTIMEOUT: the watermark set by run() stays across switches. */
TEST(total_timeout_counts_all_ticks) {
    BEGIN();
    PyTaskletObject *a = spawn_burst("A", 5, 8);
    PyTaskletObject *b = spawn_scheduler("B", 5);
    PyObject *r = PyStackless_RunWatchdogEx(10, PY_WATCHDOG_TOTALTIMEOUT);
    CHECK_PTR(r, a);
    Py_DECREF(r);
    CHECK_INT(*ticks_of("A"), 11);
    CHECK_STR(ring_text(), "main B");
    CHECK_INT(PyTasklet_Insert(a), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("B done A done");
    CHECK_INT(*ticks_of("A"), 40);
    Py_DECREF(a);
    Py_DECREF(b);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §3.2 step 6: a schedule() with nobody else runnable is no switch and
 * does not restart the slice. */
TEST(no_restart_without_a_real_switch) {
    BEGIN();
    PyTaskletObject *a = spawn_burst("A", 5, 8);
    PyObject *r = PyStackless_RunWatchdog(10);
    CHECK_PTR(r, a);
    Py_DECREF(r);
    CHECK_INT(*ticks_of("A"), 11);
    CHECK_INT(PyTasklet_Kill(a), 0);
    CHECK_TRACE("A failed");
    Py_DECREF(a);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* slicer(name): 3 x {200 ticks; trace "<name><i>"; Schedule}. */
static PyObject *slicer(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 200; k++) {
            if (PyStackless_Tick(1) < 0) {
                return NULL;
            }
        }
        trace("%s%d", n, i);
        if (schedule() < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyTaskletObject *spawn_slicer(const char *n) {
    PyObject *a = Py_BuildValue("(s)", n);
    PyTaskletObject *t = spawn_with(slicer, a);
    Py_DECREF(a);
    name_object(t, n);
    return t;
}

/* S37 (hard) */
TEST(hard_interrupt_ordering) {
    BEGIN();
    PyTaskletObject *a = spawn_slicer("A"), *b = spawn_slicer("B"), *c = spawn_slicer("C");
    PyObject *r = PyStackless_RunWatchdog(100);
    CHECK_PTR(r, a);
    Py_DECREF(r);
    CHECK_TRACE("");
    CHECK_STR(ring_text(), "main B C");
    CHECK_INT(PyTasklet_Paused(a), 1);
    CHECK_INT(PyTasklet_Insert(a), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("B0 C0 A0 B1 C1 A1 B2 C2 A2");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* S37 (soft) */
TEST(soft_interrupt_ordering) {
    BEGIN();
    PyTaskletObject *a = spawn_slicer("A"), *b = spawn_slicer("B"), *c = spawn_slicer("C");
    CHECK_NONE(PyStackless_RunWatchdogEx(100, PY_WATCHDOG_SOFT));
    CHECK_TRACE("A0");
    CHECK_STR(ring_text(), "main B C A");
    CHECK_INT(PyTasklet_GetPendingIrq(a), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("A0 B0 C0 A1 B1 C1 A2 B2 C2");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* atomic_ticker: atomic for 3000 ticks, then not atomic for 3000 ticks. */
static PyObject *atomic_ticker(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *cur = (PyTaskletObject *)PyStackless_GetCurrent();
    Py_DECREF(cur);
    trace("old=%d", PyTasklet_SetAtomic(cur, 1));
    for (int i = 0; i < 3000; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
    }
    trace("atomic done pending=%d", PyTasklet_GetPendingIrq(cur));
    trace("old=%d", PyTasklet_SetAtomic(cur, 0));
    trace("pending=%d", PyTasklet_GetPendingIrq(cur));
    for (int i = 0; i < 3000; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
        ++*ticks_of("X");
    }
    trace("after");
    Py_RETURN_NONE;
}

/* S38, with the exact tick point of the deferred interrupt: the third
 * tick point after SetAtomic(0). */
TEST(atomic_defers_interrupt) {
    BEGIN();
    PyTaskletObject *t = spawn(atomic_ticker);
    PyObject *r = PyStackless_RunWatchdog(100);
    CHECK_PTR(r, t);
    Py_DECREF(r);
    CHECK_TRACE("old=0 atomic done pending=1 old=1 pending=0");
    CHECK_INT(*ticks_of("X"), 2);
    CHECK_INT(PyTasklet_Insert(t), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("old=0 atomic done pending=1 old=1 pending=0 after");
    CHECK_INT(*ticks_of("X"), 3000);
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.7: atomic on a tasklet that is not current only sets the flag; an
 * atomic tasklet still switches explicitly. */
TEST(atomic_never_blocks_explicit_switches) {
    BEGIN();
    PyTaskletObject *a = spawn_burst("A", 3, 0), *b = spawn_burst("B", 3, 0);
    CHECK_INT(PyTasklet_SetAtomic(a, 1), 0);
    CHECK_INT(PyTasklet_GetAtomic(a), 1);
    CHECK_INT(PyTasklet_GetPendingIrq(a), 0);
    CHECK_NONE(PyStackless_RunWatchdog(10));
    CHECK_TRACE("A done B done");
    CHECK_INT(PyTasklet_GetAtomic(a), 1);
    Py_DECREF(a);
    Py_DECREF(b);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* trapped_ticker: 30 ticks under a switch trap, then ticks without. */
static PyObject *trapped_ticker(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *cur = (PyTaskletObject *)PyStackless_GetCurrent();
    Py_DECREF(cur);
    PyStackless_SwitchTrap(1);
    for (int i = 0; i < 30; i++) {
        if (PyStackless_Tick(1) < 0) {
            PyStackless_SwitchTrap(-1);
            return NULL;
        }
    }
    trace("trapped pending=%d", PyTasklet_GetPendingIrq(cur));
    PyStackless_SwitchTrap(-1);
    for (int i = 0; i < 100; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
        ++*ticks_of("X");
    }
    trace("after");
    Py_RETURN_NONE;
}

/* §5.3/§5.8: a switch trap defers the interrupt with a new full slice;
 * deferrals at slice tick 11 and 22 (timeout 10), so after 30 trapped
 * ticks the interrupt comes at tick 33: three more ticks complete. */
TEST(switch_trap_defers_interrupt) {
    BEGIN();
    PyTaskletObject *t = spawn(trapped_ticker);
    PyObject *r = PyStackless_RunWatchdog(10);
    CHECK_PTR(r, t);
    Py_DECREF(r);
    CHECK_TRACE("trapped pending=1");
    CHECK_INT(*ticks_of("X"), 3);
    CHECK_INT(PyStackless_SwitchTrap(0), 0);
    CHECK_INT(PyTasklet_Insert(t), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("trapped pending=1 after");
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* error_pending_ticker: 50 ticks with an exception set, then ticks. */
static PyObject *error_pending_ticker(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyErr_SetString(PyExc_ValueError, "pending");
    int failures = 0;
    for (int i = 0; i < 50; i++) {
        failures += PyStackless_Tick(1) != 0;
    }
    trace("failures=%d", failures);
    PyErr_Clear();
    for (int i = 0; i < 100; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
        ++*ticks_of("X");
    }
    trace("after");
    Py_RETURN_NONE;
}

/* §5.3: the tick point checks only while no exception is pending; the
 * counter still advances, so the first tick point after PyErr_Clear
 * interrupts. */
TEST(no_interrupt_while_an_exception_is_set) {
    BEGIN();
    PyTaskletObject *t = spawn(error_pending_ticker);
    PyObject *r = PyStackless_RunWatchdog(10);
    CHECK_PTR(r, t);
    Py_DECREF(r);
    CHECK_TRACE("failures=0");
    CHECK_INT(*ticks_of("X"), 0);
    CHECK_INT(PyTasklet_Insert(t), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("failures=0 after");
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* An error handler that ticks: nesting level 1 inside it (§9.3). With
 * `enable` set it sets ignore_nesting on the dying tasklet after 30 ticks. */
static int handler_enables;

static PyObject *ticking_handler(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *cur = (PyTaskletObject *)PyStackless_GetCurrent();
    Py_DECREF(cur);
    trace("handler nesting=%d", PyTasklet_GetNestingLevel(cur));
    for (int i = 0; i < 30; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
        ++*ticks_of("H");
    }
    trace("pending=%d", PyTasklet_GetPendingIrq(cur));
    if (handler_enables) {
        PyTasklet_SetIgnoreNesting(cur, 1);
        trace("pending=%d", PyTasklet_GetPendingIrq(cur));
        for (int i = 0; i < 30; i++) {
            if (PyStackless_Tick(1) < 0) {
                return NULL;
            }
            ++*ticks_of("I");
        }
    }
    trace("handler end");
    Py_RETURN_NONE;
}

static PyObject *raise_value_error(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyErr_SetString(PyExc_ValueError, "e");
    return NULL;
}

static int install_ticking_handler(void) {
    PyObject *h = cfunc(ticking_handler);
    PyObject *old = PyStackless_SetErrorHandler(h);
    Py_DECREF(h);
    if (old == NULL) {
        return -1;
    }
    Py_DECREF(old);
    return 0;
}

static void remove_error_handler(void) {
    PyObject *old = PyStackless_SetErrorHandler(NULL);
    Py_XDECREF(old);
}

/* §5.3 NESTING_OK: at nesting level 1 (inside the error handler) the
 * interrupt is deferred. */
TEST(nesting_defers_interrupt) {
    BEGIN();
    handler_enables = 0;
    CHECK_INT(install_ticking_handler(), 0);
    PyTaskletObject *e = spawn(raise_value_error);
    PyObject *r = PyStackless_RunWatchdog(10);
    remove_error_handler();
    CHECK_NONE(r);
    CHECK_TRACE("handler nesting=1 pending=1 handler end");
    CHECK_INT(*ticks_of("H"), 30);
    CHECK_INT(PyTasklet_Alive(e), 0);
    Py_DECREF(e);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.3 IGNORE_NESTING (flag of run()): interrupts at any nesting level. */
TEST(ignore_nesting_flag_interrupts_nested_code) {
    BEGIN();
    handler_enables = 0;
    CHECK_INT(install_ticking_handler(), 0);
    PyTaskletObject *e = spawn(raise_value_error);
    PyObject *r = PyStackless_RunWatchdogEx(10, Py_WATCHDOG_IGNORE_NESTING);
    CHECK_PTR(r, e);
    Py_DECREF(r);
    CHECK_TRACE("handler nesting=1");
    CHECK_INT(*ticks_of("H"), 11);
    CHECK_INT(PyTasklet_Paused(e), 1);
    CHECK_INT(PyTasklet_Insert(e), 0);
    r = PyStackless_RunWatchdog(0);
    remove_error_handler();
    CHECK_NONE(r);
    CHECK_TRACE("handler nesting=1 pending=0 handler end");
    CHECK_INT(PyTasklet_Alive(e), 0);
    Py_DECREF(e);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.3 ignore_nesting (flag of the tasklet). */
TEST(ignore_nesting_tasklet_flag_interrupts_nested_code) {
    BEGIN();
    handler_enables = 0;
    CHECK_INT(install_ticking_handler(), 0);
    PyTaskletObject *e = spawn(raise_value_error);
    CHECK_INT(PyTasklet_SetIgnoreNesting(e, 1), 0);
    CHECK_INT(PyTasklet_GetIgnoreNesting(e), 1);
    PyObject *r = PyStackless_RunWatchdog(10);
    CHECK_PTR(r, e);
    Py_DECREF(r);
    CHECK_INT(*ticks_of("H"), 11);
    CHECK_INT(PyTasklet_Insert(e), 0);
    r = PyStackless_RunWatchdog(0);
    remove_error_handler();
    CHECK_NONE(r);
    CHECK_TRACE("handler nesting=1 pending=0 handler end");
    Py_DECREF(e);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.3 deferred interrupt: once SetIgnoreNesting makes it allowed, it is
 * taken at the third following tick point. */
TEST(deferred_interrupt_taken_after_set_ignore_nesting) {
    BEGIN();
    handler_enables = 1;
    CHECK_INT(install_ticking_handler(), 0);
    PyTaskletObject *e = spawn(raise_value_error);
    PyObject *r = PyStackless_RunWatchdog(10);
    CHECK_PTR(r, e);
    Py_DECREF(r);
    CHECK_TRACE("handler nesting=1 pending=1 pending=0");
    CHECK_INT(*ticks_of("H"), 30);
    CHECK_INT(*ticks_of("I"), 2);
    CHECK_INT(PyTasklet_Insert(e), 0);
    r = PyStackless_RunWatchdog(0);
    remove_error_handler();
    handler_enables = 0;
    CHECK_NONE(r);
    CHECK_TRACE("handler nesting=1 pending=1 pending=0 handler end");
    CHECK_INT(*ticks_of("I"), 30);
    Py_DECREF(e);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* A channel callback that ticks: deferred (nesting level 1, schedlock). */
static PyObject *ticking_channel_cb(PyObject *self, PyObject *args) {
    (void)self;
    PyTaskletObject *t = (PyTaskletObject *)PyTuple_GetItem(args, 1);
    for (int i = 0; i < 25; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
    }
    trace("cb pending=%d", PyTasklet_GetPendingIrq(t));
    Py_RETURN_NONE;
}

static PyChannelObject *nested_channel;

static PyObject *send_v(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyUnicode_FromString("v");
    int rc = PyChannel_Send(nested_channel, v);
    Py_DECREF(v);
    return rc < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
}

static PyObject *receive_and_tick(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *cur = (PyTaskletObject *)PyStackless_GetCurrent();
    Py_DECREF(cur);
    PyObject *v = PyChannel_Receive(nested_channel);
    if (v == NULL) {
        return NULL;
    }
    trace("R got %s pending=%d", PyUnicode_AsUTF8(v), PyTasklet_GetPendingIrq(cur));
    Py_DECREF(v);
    for (int i = 0; i < 100; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
        ++*ticks_of("R");
    }
    trace("R done");
    Py_RETURN_NONE;
}

/* §5.3: a hard interrupt deferred inside a callback (nesting level 1) is
 * taken at the third tick point after the nesting level drops back. */
TEST(deferred_interrupt_taken_after_nesting_drops) {
    BEGIN();
    nested_channel = PyChannel_New(NULL);
    PyTaskletObject *s = spawn(send_v);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyChannel_GetBalance(nested_channel), 1);
    PyTaskletObject *r = spawn(receive_and_tick);
    PyObject *cb = cfunc(ticking_channel_cb);
    CHECK_INT(PyStackless_SetChannelCallback(cb), 0);
    Py_DECREF(cb);
    PyObject *res = PyStackless_RunWatchdog(10);
    PyStackless_SetChannelCallback(NULL);
    CHECK_PTR(res, r);
    Py_DECREF(res);
    CHECK_TRACE("cb pending=1 R got v pending=0");
    CHECK_INT(*ticks_of("R"), 2);
    CHECK_INT(PyTasklet_Insert(r), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("cb pending=1 R got v pending=0 R done");
    CHECK_INT(PyTasklet_Alive(s), 0);
    Py_DECREF(s);
    Py_DECREF(r);
    Py_CLEAR(nested_channel);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §9.2: PyStackless_Tick returns -1 when the interrupted tasklet resumes
 * with an exception (kill). */
TEST(tick_fails_when_killed_while_interrupted) {
    BEGIN();
    PyTaskletObject *t = spawn_ticker("T", 1000, 1);
    CHECK_RESULT(PyStackless_RunWatchdog(3), t);
    CHECK_INT(*ticks_of("T"), 4);
    CHECK_INT(PyTasklet_Kill(t), 0);
    CHECK_TRACE("T failed");
    CHECK_INT(PyTasklet_Alive(t), 0);
    CHECK_INT(*ticks_of("T"), 4);
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* catch_ticker: ticks; a failing tick is caught and traced. */
static PyObject *catch_ticker(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (;;) {
        if (PyStackless_Tick(1) < 0) {
            PyObject *t, *v, *tb;
            PyErr_Fetch(&t, &v, &tb);
            PyErr_NormalizeException(&t, &v, &tb);
            PyObject *s = PyObject_Str(v);
            trace("caught %s(%s)", ((PyTypeObject *)t)->tp_name, PyUnicode_AsUTF8(s));
            Py_DECREF(s);
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_XDECREF(tb);
            Py_RETURN_NONE;
        }
    }
}

/* §9.2: ... or a throw. */
TEST(tick_fails_when_thrown_to_while_interrupted) {
    BEGIN();
    PyTaskletObject *t = spawn(catch_ticker);
    CHECK_RESULT(PyStackless_RunWatchdog(3), t);
    PyObject *text = PyUnicode_FromString("thrown");
    CHECK_INT(PyTasklet_Throw(t, 0, PyExc_KeyError, text, NULL), 0);
    Py_DECREF(text);
    CHECK_TRACE("caught KeyError('thrown')");
    CHECK_INT(PyTasklet_Alive(t), 0);
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §9.2: a tick point without an active timed run, or outside, does
 * nothing and returns 0. */
TEST(tick_without_timer) {
    CHECK_INT(PyStackless_Tick(1), 0);
    CHECK_INT(PyStackless_Tick(1000000), 0);
    CHECK_NO_ERROR();
}

static PyObject *tick_inside(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    long failures = 0;
    for (int i = 0; i < 1000; i++) {
        failures += PyStackless_Tick(1) != 0;
    }
    return PyLong_FromLong(failures);
}

TEST(tick_without_timer_inside) {
    PyObject *f = cfunc(tick_inside);
    PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
    Py_DECREF(f);
    CHECK(r != NULL);
    CHECK_INT(PyLong_AsLong(r), 0);
    Py_DECREF(r);
}

/* ---- Soft interrupts handed on (§5.3, §4.2 step 3) --------------------- */

static PyChannelObject *soft_channel;

static PyObject *soft_receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *cur = (PyTaskletObject *)PyStackless_GetCurrent();
    Py_DECREF(cur);
    PyObject *v = PyChannel_Receive(soft_channel);
    if (v == NULL) {
        return NULL;
    }
    trace("R got %s pending=%d", PyUnicode_AsUTF8(v), PyTasklet_GetPendingIrq(cur));
    Py_DECREF(v);
    if (schedule() < 0) {
        return NULL;
    }
    trace("R end");
    Py_RETURN_NONE;
}

static PyObject *soft_sender(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (int i = 0; i < 200; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
    }
    PyObject *x = PyUnicode_FromString("x");
    int rc = PyChannel_Send(soft_channel, x);
    Py_DECREF(x);
    if (rc < 0) {
        return NULL;
    }
    trace("A sent");
    Py_RETURN_NONE;
}

/* §5.3: a rendezvous that switches to the preferred partner takes no soft
 * interrupt; the pending flag moves on to the partner, whose next switch
 * wakes the watchdog. */
TEST(soft_interrupt_handed_on_through_rendezvous) {
    BEGIN();
    soft_channel = PyChannel_New(NULL);
    PyTaskletObject *r = spawn(soft_receiver), *a = spawn(soft_sender);
    name_object(r, "R");
    name_object(a, "A");
    CHECK_NONE(PyStackless_RunWatchdogEx(100, PY_WATCHDOG_SOFT));
    CHECK_TRACE("R got x pending=1");
    CHECK_STR(ring_text(), "main A R");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("R got x pending=1 A sent R end");
    Py_DECREF(r);
    Py_DECREF(a);
    Py_CLEAR(soft_channel);
    CHECK_WATCHDOG_LIST_EMPTY();
}

static PyObject *wake_watchdog_while_pending(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *cur = (PyTaskletObject *)PyStackless_GetCurrent();
    Py_DECREF(cur);
    for (int i = 0; i < 50; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
    }
    trace("A pending=%d", PyTasklet_GetPendingIrq(cur));
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    int rc = PyTasklet_Run(main);
    Py_DECREF(main);
    if (rc < 0) {
        return NULL;
    }
    trace("A back pending=%d", PyTasklet_GetPendingIrq(cur));
    if (schedule() < 0) {
        return NULL;
    }
    trace("A end");
    Py_RETURN_NONE;
}

static PyObject *ran(PyObject *self, PyObject *args) {
    (void)self;
    trace("%s ran", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* §5.3: a pending soft interrupt is consumed by the next switch the
 * tasklet makes, also when that switch goes to the watchdog itself. */
TEST(soft_interrupt_consumed_by_switch_to_watchdog) {
    BEGIN();
    PyTaskletObject *a = spawn(wake_watchdog_while_pending);
    CHECK_NONE(PyStackless_RunWatchdogEx(10, PY_WATCHDOG_SOFT));
    CHECK_TRACE("A pending=1");
    CHECK_INT(PyTasklet_GetPendingIrq(a), 0);
    PyObject *args = Py_BuildValue("(s)", "B");
    PyTaskletObject *b = spawn_with(ran, args);
    Py_DECREF(args);
    CHECK_NONE(PyStackless_RunWatchdogEx(1000, PY_WATCHDOG_SOFT));
    CHECK_TRACE("A pending=1 A back pending=0 B ran A end");
    Py_DECREF(a);
    Py_DECREF(b);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* ---- §8.3 flags ----------------------------------------------------- */

TEST(flag_values_and_aliases) {
    CHECK_INT(Py_WATCHDOG_THREADBLOCK, 1);
    CHECK_INT(PY_WATCHDOG_SOFT, 2);
    CHECK_INT(PY_WATCHDOG_IGNORE_NESTING, 4);
    CHECK_INT(PY_WATCHDOG_TOTALTIMEOUT, 8);
    CHECK_INT(Py_WATCHDOG_SOFT, PY_WATCHDOG_SOFT);
    CHECK_INT(Py_WATCHDOG_IGNORE_NESTING, PY_WATCHDOG_IGNORE_NESTING);
    CHECK_INT(Py_WATCHDOG_TIMEOUT, PY_WATCHDOG_TOTALTIMEOUT);
    CHECK_INT(PY_WATCHDOG_TIMEOUT, PY_WATCHDOG_TOTALTIMEOUT);
}

TEST(flags_out_of_range) {
    static const int bad[] = {-1, 256, 1000, -256};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(PyStackless_RunWatchdogEx(0, bad[i]) == NULL);
        CHECK_ERROR(PyExc_ValueError, "flags must be in [0..255]");
        CHECK(PyStackless_RunWatchdogEx(10, bad[i]) == NULL);
        CHECK_ERROR(PyExc_ValueError, "flags must be in [0..255]");
    }
    CHECK_INT(PyStackless_GetRunCount(), 1);
    /* Any value in 0..255 is accepted, the internal bit 128 included. */
    CHECK_NONE(PyStackless_RunWatchdogEx(0, 255));
    CHECK_NONE(PyStackless_RunWatchdogEx(10, 255));
    CHECK_NONE(PyStackless_RunWatchdogEx(10, 128));
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.2 step 4: THREADBLOCK acts only with timeout > 0; on the initial
 * thread with no other thread, the watchdog is revived (§3.3 case 2). */
TEST(threadblock_single_thread) {
    BEGIN();
    PyTaskletObject *a = spawn_scheduler("A", 3);
    CHECK_NONE(PyStackless_RunWatchdogEx(0, Py_WATCHDOG_THREADBLOCK));
    PyTaskletObject *b = spawn_scheduler("B", 3);
    CHECK_NONE(PyStackless_RunWatchdogEx(1000000, Py_WATCHDOG_THREADBLOCK));
    CHECK_TRACE("A done B done");
    Py_DECREF(a);
    Py_DECREF(b);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* park: Schedule(None, 1); traces how it comes back. */
static PyObject *park(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *r = PyStackless_Schedule(Py_None, 1);
    if (r == NULL) {
        trace("park failed: %s", PyErr_ExceptionMatches(PyExc_TaskletExit) ? "TaskletExit" : "other");
        return NULL;
    }
    Py_DECREF(r);
    trace("parked back");
    Py_RETURN_NONE;
}

/* On a thread that is not the initial one, §3.3 revives the watchdog when
 * a tasklet leaves the ring empty only without THREADBLOCK in the active
 * timed run; an untimed run ignores the flag (§5.2 step 4). */
static PyObject *untimed_threadblock_run(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *t = spawn(park);
    PyObject *r = PyStackless_RunWatchdogEx(0, Py_WATCHDOG_THREADBLOCK);
    trace("paused=%d", PyTasklet_Paused(t));
    if (PyTasklet_Kill(t) < 0) {
        Py_XDECREF(r);
        r = NULL;
    }
    Py_DECREF(t);
    return r;
}

static void *threadblock_thread(void *arg) {
    PyObject **result = arg;
    PyObject *f = cfunc(untimed_threadblock_run);
    *result = PyStackless_Call_Main(f, NULL, NULL);
    Py_DECREF(f);
    if (*result == NULL) {
        PyErr_Print();
    }
    PyStackless_Finalize();
    return NULL;
}

TEST(threadblock_ignored_without_timeout) {
    trace_reset();
    PyObject *result = NULL;
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, threadblock_thread, &result), 0);
    CHECK_INT(pthread_join(th, NULL), 0);
    CHECK_NONE(result);
    CHECK_TRACE("paused=1 park failed: TaskletExit");
}

/* ---- §5.2 run() ----------------------------------------------------- */

/* §5.2 step 5: nothing to run: None at once, no switch, even trapped. */
TEST(run_with_empty_ring) {
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_NONE(PyStackless_RunWatchdog(10));
    CHECK_INT(PyStackless_SwitchTrap(1), 0);
    PyObject *r = PyStackless_RunWatchdog(0);
    PyObject *r2 = PyStackless_RunWatchdog(10);
    CHECK_INT(PyStackless_SwitchTrap(-1), 1);
    CHECK_NONE(r);
    CHECK_NONE(r2);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.2 step 6: a trapped run() fails, changes nothing, and restores the
 * interrupt settings (§10 source bug 4 not copied). */
TEST(run_under_switch_trap) {
    BEGIN();
    PyTaskletObject *t = spawn_ticker("T", 50, 1);
    CHECK_INT(PyStackless_SwitchTrap(1), 0);
    PyObject *r = PyStackless_RunWatchdog(10);
    PyStackless_SwitchTrap(-1);
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_GetRunCount(), 2);
    CHECK_STR(ring_text(), "main T");
    CHECK_TRACE("");
    /* The failed timed run left no timer: an untimed run is not cut. */
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("T done");
    CHECK_INT(*ticks_of("T"), 50);
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

static PyObject *observe_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    PyObject *cur = PyStackless_GetCurrent();
    PyObject *info = PyStackless_GetThreadInfo(-1);
    trace("paused=%d scheduled=%d current=%d runcount=%d info=%s,%s,%ld", PyTasklet_Paused(main),
          PyTasklet_Scheduled(main), PyTasklet_IsCurrent(main), PyStackless_GetRunCount(),
          PyTuple_GetItem(info, 0) == (PyObject *)main ? "main" : "?",
          PyTuple_GetItem(info, 1) == cur ? "me" : "?", PyLong_AsLong(PyTuple_GetItem(info, 2)));
    Py_DECREF(info);
    Py_DECREF(cur);
    Py_DECREF(main);
    Py_RETURN_NONE;
}

/* §5.2: main inside run() is Paused, not Scheduled, not counted. */
TEST(main_state_inside_run) {
    PyTaskletObject *t = spawn(observe_main);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("paused=1 scheduled=0 current=0 runcount=1 info=main,me,1");
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* Wakers: each addresses main, which is inside run(). */
static PyObject *insert_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    int rc = PyTasklet_Insert(main);
    Py_DECREF(main);
    if (rc < 0) {
        return NULL;
    }
    trace("X inserted main");
    if (schedule() < 0) {
        return NULL;
    }
    trace("X end");
    Py_RETURN_NONE;
}

/* §5.2 who wakes a watchdog: Insert by another tasklet. */
TEST(insert_wakes_watchdog) {
    BEGIN();
    PyTaskletObject *x = spawn(insert_main);
    name_object(x, "X");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("X inserted main");
    CHECK_STR(ring_text(), "main X");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("X inserted main X end");
    Py_DECREF(x);
    CHECK_WATCHDOG_LIST_EMPTY();
}

static PyObject *switch_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    trace("X switches");
    int rc = PyTasklet_Switch(main);
    Py_DECREF(main);
    if (rc < 0) {
        return NULL;
    }
    trace("X back");
    Py_RETURN_NONE;
}

/* §5.2 who wakes a watchdog: Switch by another tasklet (which pauses). */
TEST(switch_wakes_watchdog) {
    BEGIN();
    PyTaskletObject *x = spawn(switch_main);
    name_object(x, "X");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("X switches");
    CHECK_INT(PyTasklet_Paused(x), 1);
    CHECK_STR(ring_text(), "main");
    CHECK_INT(PyTasklet_Insert(x), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("X switches X back");
    Py_DECREF(x);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.2 who wakes a watchdog: Kill; the killer stays runnable (S21b). */
TEST(kill_wakes_watchdog) {
    BEGIN();
    PyTaskletObject *k = spawn(kill_main);
    name_object(k, "K");
    CHECK(PyStackless_RunWatchdog(0) == NULL);
    CHECK_ERROR(PyExc_TaskletExit, "");
    CHECK_TRACE("kills");
    CHECK_STR(ring_text(), "main K");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("kills after");
    Py_DECREF(k);
    CHECK_WATCHDOG_LIST_EMPTY();
}

static PyObject *throw_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    PyObject *text = PyUnicode_FromString("to main");
    trace("throws");
    int rc = PyTasklet_Throw(main, 0, PyExc_IndexError, text, NULL);
    Py_DECREF(text);
    Py_DECREF(main);
    if (rc < 0) {
        return NULL;
    }
    trace("after");
    Py_RETURN_NONE;
}

/* §5.2 who wakes a watchdog: Throw; others stay runnable. */
TEST(throw_wakes_watchdog) {
    BEGIN();
    PyTaskletObject *k = spawn(throw_main);
    PyTaskletObject *y = spawn_scheduler("Y", 1);
    name_object(k, "K");
    CHECK(PyStackless_RunWatchdog(0) == NULL);
    CHECK_ERROR(PyExc_IndexError, "to main");
    CHECK_TRACE("throws");
    CHECK_STR(ring_text(), "main K Y");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("throws after Y done");
    Py_DECREF(k);
    Py_DECREF(y);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* §5.4: an uncaught error wakes the watchdog even though others are still
 * runnable; they stay in the ring. */
TEST(uncaught_error_wakes_watchdog) {
    BEGIN();
    PyTaskletObject *a = spawn_scheduler("A", 2);
    PyObject *args = Py_BuildValue("(s)", "boom");
    PyTaskletObject *e = spawn_with(raise_index_error, args);
    Py_DECREF(args);
    name_object(e, "E");
    CHECK(PyStackless_RunWatchdog(0) == NULL);
    CHECK_ERROR(PyExc_IndexError, "boom");
    CHECK_STR(ring_text(), "main A");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("A done");
    Py_DECREF(a);
    Py_DECREF(e);
    CHECK_WATCHDOG_LIST_EMPTY();
}

static PyChannelObject *block_channel;

static PyObject *receive_once(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    trace("B receives");
    PyObject *v = PyChannel_Receive(block_channel);
    if (v == NULL) {
        return NULL;
    }
    trace("B got %ld", PyLong_AsLong(v));
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* §5.2, §4.4: the ring running empty wakes the watchdog; a tasklet that
 * blocked stays blocked. */
TEST(blocking_tasklet_wakes_watchdog) {
    BEGIN();
    block_channel = PyChannel_New(NULL);
    PyTaskletObject *b = spawn(receive_once);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("B receives");
    CHECK_INT(PyTasklet_GetBlocked(b), -1);
    CHECK_INT(PyChannel_GetBalance(block_channel), -1);
    PyObject *seven = PyLong_FromLong(7);
    CHECK_INT(PyChannel_Send(block_channel, seven), 0);
    Py_DECREF(seven);
    CHECK_TRACE("B receives B got 7");
    CHECK_INT(PyTasklet_Alive(b), 0);
    Py_DECREF(b);
    Py_CLEAR(block_channel);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* ---- Watchdogs on tasklets, nesting (TestNewWatchdog) ------------------ */

/* The worker of TestNewWatchdog.setUp: Schedule; done++. */
static PyObject *worker(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (schedule() < 0) {
        return NULL;
    }
    done++;
    Py_RETURN_NONE;
}

/* runner: run(); done++. */
static PyObject *runner(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *r = PyStackless_RunWatchdog(0);
    if (r == NULL) {
        trace("runner run failed");
        return NULL;
    }
    trace("runner run returned %s", name_of(r));
    Py_DECREF(r);
    done++;
    Py_RETURN_NONE;
}

/* S42 */
TEST(run_from_worker) {
    BEGIN();
    PyTaskletObject *w = spawn(worker);
    PyTaskletObject *r = spawn(runner);
    while (done == 0) {
        CHECK_INT(schedule(), 0);
    }
    CHECK_INT(done, 1);
    CHECK_INT(PyTasklet_Paused(r), 1);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(done, 2);
    CHECK_TRACE("runner run returned None");
    CHECK_INT(PyTasklet_Alive(r), 0);
    Py_DECREF(w);
    Py_DECREF(r);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* S44: runner: run(); done == 1 and main paused; done++. */
static PyObject *inner_runner(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *r = PyStackless_RunWatchdog(0);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    trace("inner run returned done=%d main paused=%d", done, PyTasklet_Paused(main));
    Py_DECREF(main);
    done++;
    Py_RETURN_NONE;
}

/* S44 */
TEST(nested_runs_complete_inner_first) {
    BEGIN();
    PyTaskletObject *w = spawn(worker);
    PyTaskletObject *r = spawn(inner_runner);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_INT(done, 2);
    CHECK_TRACE("inner run returned done=1 main paused=1");
    Py_DECREF(w);
    Py_DECREF(r);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* S45: runner creates a failing tasklet; its run() gets the error. */
static PyObject *error_runner(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *a = Py_BuildValue("(s)", "foo");
    PyTaskletObject *e = spawn_with(raise_index_error, a);
    Py_DECREF(a);
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_DECREF(e);
    if (r != NULL) {
        trace("inner run returned");
        Py_DECREF(r);
    } else if (PyErr_ExceptionMatches(PyExc_IndexError)) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        PyObject *s = PyObject_Str(v);
        trace("inner run raised %s", PyUnicode_AsUTF8(s));
        Py_DECREF(s);
        Py_XDECREF(t);
        Py_XDECREF(v);
        Py_XDECREF(tb);
    } else {
        return NULL;
    }
    done++;
    Py_RETURN_NONE;
}

/* S45 */
TEST(inner_run_gets_the_error) {
    BEGIN();
    PyTaskletObject *w = spawn(worker);
    PyTaskletObject *r = spawn(error_runner);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("inner run raised foo");
    CHECK_INT(done, 2);
    Py_DECREF(w);
    Py_DECREF(r);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* S46: wakeup: Run(main); done++. */
static PyObject *wakeup(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    int rc = PyTasklet_Run(main);
    Py_DECREF(main);
    if (rc < 0) {
        return NULL;
    }
    trace("wakeup back");
    done++;
    Py_RETURN_NONE;
}

static PyObject *wakeup_runner(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *w = spawn(wakeup);
    name_object(w, "W");
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_DECREF(w);
    if (r == NULL) {
        return NULL;
    }
    trace("runner run returned %s", name_of(r));
    Py_DECREF(r);
    done++;
    Py_RETURN_NONE;
}

/* S46 */
TEST(manual_wakeup_of_the_outer_watchdog) {
    BEGIN();
    PyTaskletObject *w = spawn(worker);
    PyTaskletObject *r = spawn(wakeup_runner);
    name_object(r, "R");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_INT(done, 1);
    CHECK_TRACE("");
    /* The inner watchdog R was made runnable again. */
    CHECK_INT(PyTasklet_Scheduled(r), 1);
    CHECK_STR(ring_text(), "main W R");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_INT(done, 3);
    CHECK_TRACE("wakeup back runner run returned None");
    Py_DECREF(w);
    Py_DECREF(r);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* S47 */
TEST(main_keeps_running_while_a_worker_is_watchdog) {
    BEGIN();
    PyTaskletObject *w = spawn(worker);
    PyTaskletObject *r = spawn(runner);
    while (done == 0) {
        CHECK_INT(schedule(), 0);
    }
    CHECK_INT(done, 1);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_INT(done, 1);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_INT(done, 1);
    CHECK_INT(schedule(), 0);
    CHECK_INT(done, 1);
    CHECK_INT(PyTasklet_Alive(r), 1);
    CHECK_INT(PyTasklet_Kill(r), 0);
    CHECK_INT(PyTasklet_Alive(r), 0);
    CHECK_TRACE("runner run failed");
    CHECK_INT(done, 1);
    Py_DECREF(w);
    Py_DECREF(r);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* S39: the first timed run() owns the timer; a later timed run() inside
 * it behaves untimed, and the outer one is the one interrupted. */
static PyTaskletObject *spin;

static PyObject *spin_forever(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (;;) {
        if (PyStackless_Tick(1) < 0) {
            trace("spin killed");
            return NULL;
        }
        ++*ticks_of("S");
        if (schedule() < 0) {
            return NULL;
        }
    }
}

static PyObject *inner_watchdog(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    spin = spawn(spin_forever);
    name_object(spin, "spin");
    PyObject *r = PyStackless_RunWatchdogEx(50, PY_WATCHDOG_IGNORE_NESTING);
    if (r == NULL) {
        return NULL;
    }
    trace("inner run returned %s", name_of(r));
    Py_DECREF(r);
    int rc = PyTasklet_Kill(spin);
    trace("spin alive=%d", PyTasklet_Alive(spin));
    return rc < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
}

/* S39 */
TEST(nested_timed_runs_first_wins) {
    BEGIN();
    PyTaskletObject *w = spawn(inner_watchdog);
    name_object(w, "inner");
    PyObject *r = PyStackless_RunWatchdogEx(5000, PY_WATCHDOG_TOTALTIMEOUT | PY_WATCHDOG_IGNORE_NESTING);
    CHECK(spin != NULL);
    CHECK_PTR(r, spin);
    Py_DECREF(r);
    CHECK_INT(*ticks_of("S"), 5001);
    CHECK_TRACE("");
    CHECK_INT(PyTasklet_Paused(w), 0);
    CHECK_INT(PyTasklet_Scheduled(w), 1);
    CHECK_INT(PyTasklet_Paused(spin), 1);
    CHECK_STR(ring_text(), "main inner");
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("inner run returned None spin killed spin alive=0");
    CHECK_INT(PyTasklet_Alive(w), 0);
    Py_CLEAR(spin);
    Py_DECREF(w);
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* TestNewWatchdog._test_watchdog_on_tasklet: a timed run() on a tasklet
 * makes that tasklet the interrupt target. */
static int on_tasklet_soft;
static PyTaskletObject *victims[2];

static PyObject *tick_and_schedule_forever(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    for (;;) {
        for (int i = 0; i < 200; i++) {
            if (PyStackless_Tick(1) < 0) {
                trace("%s killed", n);
                return NULL;
            }
            ++*ticks_of(n);
        }
        if (schedule() < 0) {
            trace("%s killed", n);
            return NULL;
        }
    }
}

static PyObject *timed_runner(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    int flags = (on_tasklet_soft ? PY_WATCHDOG_SOFT : 0) | PY_WATCHDOG_TOTALTIMEOUT | PY_WATCHDOG_IGNORE_NESTING;
    PyObject *r = PyStackless_RunWatchdogEx(2, flags);
    if (r == NULL) {
        return NULL;
    }
    trace("R got %s", name_of(r));
    Py_DECREF(r);
    if (PyTasklet_Kill(victims[0]) < 0 || PyTasklet_Kill(victims[1]) < 0) {
        return NULL;
    }
    trace("R end");
    Py_RETURN_NONE;
}

static void watchdog_on_tasklet(int soft, const char *expected, long t1_ticks) {
    BEGIN();
    on_tasklet_soft = soft;
    PyObject *a1 = Py_BuildValue("(s)", "P"), *a2 = Py_BuildValue("(s)", "Q");
    victims[0] = spawn_with(tick_and_schedule_forever, a1);
    victims[1] = spawn_with(tick_and_schedule_forever, a2);
    Py_DECREF(a1);
    Py_DECREF(a2);
    name_object(victims[0], "P");
    name_object(victims[1], "Q");
    PyTaskletObject *r = spawn(timed_runner);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE(expected);
    CHECK_INT(*ticks_of("P"), t1_ticks);
    CHECK_INT(*ticks_of("Q"), 200);
    CHECK_INT(PyTasklet_Alive(victims[0]), 0);
    CHECK_INT(PyTasklet_Alive(victims[1]), 0);
    Py_CLEAR(victims[0]);
    Py_CLEAR(victims[1]);
    Py_DECREF(r);
    CHECK_WATCHDOG_LIST_EMPTY();
}

TEST(watchdog_on_tasklet_hard) {
    watchdog_on_tasklet(0, "R got P P killed Q killed R end", 203);
}

TEST(watchdog_on_tasklet_soft) {
    watchdog_on_tasklet(1, "R got None P killed Q killed R end", 400);
}

/* TestNewWatchdog._test_schedule_deeper: a timed watchdog wd1, an untimed
 * watchdog wd2 inside it, and a worker that re-inserts wd2 and ticks. */
static int deeper_soft;
static PyTaskletObject *deeper[3];

static PyObject *deeper_worker(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    trace("wd2 scheduled=%d", PyTasklet_Scheduled(deeper[1]));
    if (PyTasklet_Insert(deeper[1]) < 0) {
        return NULL;
    }
    done++;
    for (int i = 0; i < 10000; i++) {
        if (PyStackless_Tick(1) < 0) {
            trace("worker killed");
            return NULL;
        }
    }
    if (deeper_soft && schedule() < 0) {
        return NULL;
    }
    done++;
    trace("worker end");
    Py_RETURN_NONE;
}

static PyObject *deeper_watchdog2(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    deeper[2] = spawn(deeper_worker);
    PyObject *r = PyStackless_RunWatchdog(0);
    if (r == NULL) {
        return NULL;
    }
    trace("wd2 run returned %s", name_of(r));
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyObject *deeper_watchdog1(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    deeper[1] = spawn(deeper_watchdog2);
    int flags = (deeper_soft ? PY_WATCHDOG_SOFT : 0) | PY_WATCHDOG_IGNORE_NESTING | PY_WATCHDOG_TOTALTIMEOUT;
    PyObject *victim = PyStackless_RunWatchdogEx(1000, flags);
    if (victim == NULL) {
        return NULL;
    }
    trace("wd1 run returned %s done=%d", victim == (PyObject *)deeper[2] ? "worker" : name_of(victim), done);
    Py_DECREF(victim);
    Py_RETURN_NONE;
}

static void schedule_deeper(int soft, const char *expected, int expected_done) {
    BEGIN();
    deeper_soft = soft;
    deeper[0] = spawn(deeper_watchdog1);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE(expected);
    CHECK_INT(done, expected_done);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_INT(done, expected_done);
    CHECK_INT(PyTasklet_Alive(deeper[0]), 0);
    CHECK_INT(PyTasklet_Alive(deeper[1]), 0);
    CHECK_INT(PyTasklet_Alive(deeper[2]), !soft);
    CHECK_INT(PyTasklet_Kill(deeper[2]), 0);
    for (int i = 0; i < 3; i++) {
        Py_CLEAR(deeper[i]);
    }
    CHECK_WATCHDOG_LIST_EMPTY();
}

TEST(schedule_deeper_hard) {
    schedule_deeper(0, "wd2 scheduled=0 wd1 run returned worker done=1 wd2 run returned None", 1);
}

TEST(schedule_deeper_soft) {
    schedule_deeper(1, "wd2 scheduled=0 wd1 run returned None done=1 wd2 run returned None worker end", 2);
}

/* S48 on its own: a fresh main has an empty watchdog list. */
TEST(watchdog_list_empty) {
    CHECK_WATCHDOG_LIST_EMPTY();
}

/* ---- S64: a pre-emptive scheduler ------------------------------------- */

/* SimpleScheduler: while GetRunCount() > 1: r = RunWatchdog(100); if r is a
 * tasklet: Insert(r). Returns the number of interrupts, -1 on error. */
static int simple_scheduler(void) {
    int interrupts = 0;
    while (PyStackless_GetRunCount() > 1) {
        PyObject *r = PyStackless_RunWatchdog(100);
        if (r == NULL) {
            return -1;
        }
        if (r != Py_None) {
            interrupts++;
            if (PyTasklet_Insert((PyTaskletObject *)r) < 0) {
                Py_DECREF(r);
                return -1;
            }
        }
        Py_DECREF(r);
    }
    return interrupts;
}

/* S64(a): three tasklets of 1000 ticks; each slice completes 101 ticks, so
 * each tasklet is interrupted 9 times. */
TEST(preemptive_scheduler_simple) {
    BEGIN();
    PyTaskletObject *a = spawn_ticker("A", 1000, 1), *b = spawn_ticker("B", 1000, 1), *c = spawn_ticker("C", 1000, 1);
    CHECK_INT(simple_scheduler(), 27);
    CHECK_TRACE("A done B done C done");
    CHECK_INT(*ticks_of("A") + *ticks_of("B") + *ticks_of("C"), 3000);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    CHECK_WATCHDOG_LIST_EMPTY();
}

static PyObject *raise_user_warning(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyErr_SetString(PyExc_UserWarning, "careful");
    return NULL;
}

/* S64(c) */
TEST(preemptive_scheduler_exception) {
    PyTaskletObject *t = spawn(raise_user_warning);
    CHECK(PyStackless_RunWatchdog(100) == NULL);
    CHECK_ERROR(PyExc_UserWarning, "careful");
    CHECK_INT(PyTasklet_Alive(t), 0);
    Py_DECREF(t);
    CHECK_WATCHDOG_LIST_EMPTY();
}

int main(void) {
    RUN_INSIDE(hard_timeout_lifecycle);
    RUN_INSIDE(no_tick_points_no_interrupt);
    RUN_INSIDE(no_tick_points_any_flags);
    RUN_INSIDE(tick_arithmetic);
    RUN_INSIDE(extreme_tick_counts);
    RUN_INSIDE(slice_restarts_at_every_switch);
    RUN_INSIDE(total_timeout_counts_all_ticks);
    RUN_INSIDE(no_restart_without_a_real_switch);
    RUN_INSIDE(hard_interrupt_ordering);
    RUN_INSIDE(soft_interrupt_ordering);
    RUN_INSIDE(atomic_defers_interrupt);
    RUN_INSIDE(atomic_never_blocks_explicit_switches);
    RUN_INSIDE(switch_trap_defers_interrupt);
    RUN_INSIDE(no_interrupt_while_an_exception_is_set);
    RUN_INSIDE(nesting_defers_interrupt);
    RUN_INSIDE(ignore_nesting_flag_interrupts_nested_code);
    RUN_INSIDE(ignore_nesting_tasklet_flag_interrupts_nested_code);
    RUN_INSIDE(deferred_interrupt_taken_after_set_ignore_nesting);
    RUN_INSIDE(deferred_interrupt_taken_after_nesting_drops);
    RUN_INSIDE(tick_fails_when_killed_while_interrupted);
    RUN_INSIDE(tick_fails_when_thrown_to_while_interrupted);
    RUN(tick_without_timer);
    RUN(tick_without_timer_inside);
    RUN_INSIDE(soft_interrupt_handed_on_through_rendezvous);
    RUN_INSIDE(soft_interrupt_consumed_by_switch_to_watchdog);
    RUN(flag_values_and_aliases);
    RUN_INSIDE(flags_out_of_range);
    RUN_INSIDE(threadblock_single_thread);
    RUN(threadblock_ignored_without_timeout);
    RUN_INSIDE(run_with_empty_ring);
    RUN_INSIDE(run_under_switch_trap);
    RUN_INSIDE(main_state_inside_run);
    RUN_INSIDE(insert_wakes_watchdog);
    RUN_INSIDE(switch_wakes_watchdog);
    RUN_INSIDE(kill_wakes_watchdog);
    RUN_INSIDE(throw_wakes_watchdog);
    RUN_INSIDE(uncaught_error_wakes_watchdog);
    RUN_INSIDE(blocking_tasklet_wakes_watchdog);
    RUN_INSIDE(run_from_worker);
    RUN_INSIDE(nested_runs_complete_inner_first);
    RUN_INSIDE(inner_run_gets_the_error);
    RUN_INSIDE(manual_wakeup_of_the_outer_watchdog);
    RUN_INSIDE(main_keeps_running_while_a_worker_is_watchdog);
    RUN_INSIDE(nested_timed_runs_first_wins);
    RUN_INSIDE(watchdog_on_tasklet_hard);
    RUN_INSIDE(watchdog_on_tasklet_soft);
    RUN_INSIDE(schedule_deeper_hard);
    RUN_INSIDE(schedule_deeper_soft);
    RUN_INSIDE(watchdog_list_empty);
    RUN_INSIDE(preemptive_scheduler_simple);
    RUN_INSIDE(preemptive_scheduler_exception);
    PyStackless_Finalize();
    return harness_summary("test_watchdog");
}
