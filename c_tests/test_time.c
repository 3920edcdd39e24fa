/* The time extensions on one thread (EXTENSIONS.md §1-§3, §5, §7): the
 * clock and deadlines, sleeping, channel operations with a deadline,
 * PyStackless_RunUntil and PyStackless_NextDeadline, OSError and
 * TimeoutError. Across threads: test_time_threads.c. The timing rule is
 * time_helpers.h's: orders of events, never durations. */
#include "time_helpers.h"

#include "hang_guard.h"

/* ---- §1 The clock and deadlines ---------------------------------------------- */

static int64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

TEST(now_is_the_monotonic_clock_in_ns) {
    int64_t before = clock_ns();
    int64_t now = PyStackless_Now();
    int64_t after = clock_ns();
    CHECK(before <= now && now <= after);
    struct timespec two_ms = {0, 2 * 1000 * 1000};
    nanosleep(&two_ms, NULL);
    int64_t later = PyStackless_Now();
    CHECK(later - now >= 2 * MS);
    CHECK(later <= clock_ns());
    for (int i = 0; i < 100000; i++) {
        int64_t next = PyStackless_Now();
        CHECK(next >= later);
        later = next;
    }
    CHECK_NO_ERROR();
}

TEST(invalid_deadlines_are_value_errors) {
    PyChannelObject *ch = PyChannel_New(NULL);
    /* Checked before anything happens, a waiting partner included. */
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK_INT(PyTasklet_Run(r), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    int64_t bad[] = {-2, -MS, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(PyStackless_SleepUntil(bad[i]), -1);
        CHECK_ERROR(PyExc_ValueError, INVALID_DEADLINE_TEXT);
        CHECK_INT(PyChannel_SendUntil(ch, Py_None, bad[i]), -1);
        CHECK_ERROR(PyExc_ValueError, INVALID_DEADLINE_TEXT);
        CHECK_PTR(PyChannel_ReceiveUntil(ch, bad[i]), NULL);
        CHECK_ERROR(PyExc_ValueError, INVALID_DEADLINE_TEXT);
        CHECK_PTR(PyStackless_RunUntil(bad[i]), NULL);
        CHECK_ERROR(PyExc_ValueError, INVALID_DEADLINE_TEXT);
    }
    CHECK_TRACE("");
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyStackless_GetRunCount(), 2);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyChannel_Send(ch, Py_None), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("R received None X runs");
    Py_DECREF(r);
    Py_DECREF(x);
    Py_DECREF(ch);
}

TEST(negative_sleep_is_a_value_error) {
    PyTaskletObject *x = make(b_log, "(s)", "X");
    int64_t bad[] = {-1, -MS, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(PyStackless_Sleep(bad[i]), -1);
        CHECK_ERROR(PyExc_ValueError, NEGATIVE_SLEEP_TEXT);
    }
    CHECK_TRACE("");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_RUN_NONE();
    Py_DECREF(x);
}

/* ---- §2 Sleeping --------------------------------------------------------------- */

/* A new tasklet that sleeps until `d`, run until it sleeps; NULL with the
 * exception on failure. */
static PyTaskletObject *asleep(const char *name, int64_t d) {
    PyTaskletObject *t = SLEEPER(name, d);
    if (t != NULL && PyTasklet_Run(t) < 0) {
        Py_CLEAR(t);
    }
    return t;
}

/* Takes the runnable, not started tasklets out of the ring, so that the
 * test runs them in an order of its own. */
static int pause_all(PyTaskletObject **t, int n) {
    for (int i = 0; i < n; i++) {
        if (PyTasklet_Remove(t[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

TEST(sleeper_reads_like_a_blocked_tasklet) {
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *s = SLEEPER("S", d);
    CHECK_INT(PyStackless_GetRunCount(), 2);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_TRACE("S sleeps");
    CHECK_INT(PyTasklet_Alive(s), 1);
    CHECK_INT(PyTasklet_Scheduled(s), 1);
    CHECK_INT(PyTasklet_Paused(s), 0);
    CHECK_INT(PyTasklet_GetBlocked(s), 0);
    CHECK_INT(PyTasklet_IsCurrent(s), 0);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_RING("main");
    CHECK_INT(PyStackless_NextDeadline(), d);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("S sleeps S woke");
    CHECK_INT(PyTasklet_Alive(s), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(s);
}

/* A woken sleeper goes behind the tasklets already runnable. */
TEST(woken_sleeper_is_appended_at_the_end) {
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *s = SLEEPER("S", d);
    CHECK_INT(PyTasklet_Run(s), 0);
    /* A keeps the thread past d, then ends: S is due, B and C wait. */
    PyTaskletObject *a = make(b_hog, "(sL)", "A", (long long)d);
    PyTaskletObject *b = make(b_log, "(s)", "B"), *c = make(b_log, "(s)", "C");
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("S sleeps A runs B runs C runs S woke");
    Py_DECREF(s);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
}

/* A tasklet's end is a scheduling point: the sleepers due by then wake
 * there, not once the runnables run out (B sees no deadline left). */
TEST(sleepers_due_when_a_tasklet_ends_wake_there) {
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *s = SLEEPER("S", d);
    CHECK_INT(PyTasklet_Run(s), 0);
    PyTaskletObject *a = make(b_hog, "(sL)", "A", (long long)d), *b = make(b_probe, "(s)", "B");
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("S sleeps A runs B next=-1 S woke");
    Py_DECREF(s);
    Py_DECREF(a);
    Py_DECREF(b);
}

TEST(equal_deadlines_fire_in_the_order_set) {
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *a = SLEEPER("A", d), *b = SLEEPER("B", d), *c = SLEEPER("C", d);
    PyTaskletObject *all[] = {a, b, c};
    CHECK_INT(pause_all(all, 3), 0);
    CHECK_INT(PyTasklet_Run(c), 0);
    CHECK_INT(PyTasklet_Run(a), 0);
    CHECK_INT(PyTasklet_Run(b), 0);
    CHECK_INT(PyStackless_NextDeadline(), d);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("C sleeps A sleeps B sleeps C woke A woke B woke");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
}

TEST(due_sleepers_wake_in_deadline_order) {
    int64_t base = after_ms(SETUP_MS);
    PyTaskletObject *late = SLEEPER("L", base + 2 * MS), *early = SLEEPER("E", base),
                    *middle = SLEEPER("M", base + MS);
    PyTaskletObject *all[] = {early, middle, late};
    CHECK_INT(pause_all(all, 3), 0);
    CHECK_INT(PyTasklet_Run(late), 0);
    CHECK_INT(PyTasklet_Run(early), 0);
    CHECK_INT(PyTasklet_Run(middle), 0);
    busy_until(base + 2 * MS); /* all three due at the next scheduling point */
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("L sleeps E sleeps M sleeps E woke M woke L woke");
    Py_DECREF(late);
    Py_DECREF(early);
    Py_DECREF(middle);
}

/* Main yields by `how` (0: Schedule(None, 0), 1: SleepUntil(0), 2:
 * SleepUntil(Now() - 1), 3: Sleep(0)) with X and Y runnable; returns the
 * trace. */
static const char *yield_among_two(int how) {
    trace_reset();
    PyTaskletObject *x = make(b_step, "(s)", "X"), *y = make(b_step, "(s)", "Y");
    trace("main yields");
    int rc = how == 0   ? schedule()
             : how == 3 ? PyStackless_Sleep(0)
                        : PyStackless_SleepUntil(how == 1 ? 0 : PyStackless_Now() - 1);
    trace("main back %d next=%lld", rc, (long long)PyStackless_NextDeadline());
    PyObject *r = PyStackless_RunWatchdog(0);
    trace(r == Py_None ? "run None" : "run failed");
    Py_XDECREF(r);
    Py_DECREF(x);
    Py_DECREF(y);
    return trace_buf;
}

TEST(passed_deadline_is_a_schedule) {
    const char *expected = "main yields X start Y start main back 0 next=-1 X end Y end run None";
    CHECK_STR(yield_among_two(0), expected);
    CHECK_STR(yield_among_two(1), expected);
    CHECK_STR(yield_among_two(2), expected);
    CHECK_STR(yield_among_two(3), expected);
    /* Alone: no switch, even under a switch trap, as Schedule. */
    trace_reset();
    CHECK_INT(PyStackless_SleepUntil(0), 0);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyStackless_SleepUntil(PyStackless_Now() - 1), 0);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

TEST(main_may_sleep) {
    int64_t d = after_ms(3);
    CHECK_INT(PyStackless_SleepUntil(d), 0);
    CHECK_NOT_BEFORE(d);
    int64_t start = PyStackless_Now();
    CHECK_INT(PyStackless_Sleep(3 * MS), 0);
    CHECK_NOT_BEFORE(start + 3 * MS);
    /* The last runnable tasklet ends while main sleeps: main sleeps on. */
    PyTaskletObject *x = make(b_log, "(s)", "X");
    d = after_ms(3);
    trace("main sleeps");
    CHECK_INT(PyStackless_SleepUntil(d), 0);
    CHECK_NOT_BEFORE(d);
    trace("main woke");
    CHECK_TRACE("main sleeps X runs main woke");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(x);
}

/* A thread whose tasklets (or main) only sleep sleeps in the kernel
 * (CHECK_IDLE_CPU): one long wait on the timerfd, or short ones of a few
 * ms each on epoll's timeout. */
TEST(a_thread_whose_tasklets_sleep_uses_no_cpu) {
    int64_t d = after_ms(IDLE_MS);
    PyTaskletObject *s = SLEEPER("S", d);
    int64_t cpu = thread_cpu_ns();
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_NOT_BEFORE(d);
    CHECK_IDLE_CPU(thread_cpu_ns() - cpu, "RunUntil, one sleeper");
    cpu = thread_cpu_ns();
    d = after_ms(IDLE_MS);
    CHECK_INT(PyStackless_SleepUntil(d), 0);
    CHECK_NOT_BEFORE(d);
    CHECK_IDLE_CPU(thread_cpu_ns() - cpu, "SleepUntil of main");
    cpu = thread_cpu_ns();
    d = after_ms(IDLE_MS);
    while (PyStackless_Now() < d) {
        CHECK_INT(PyStackless_Sleep(3 * MS), 0);
    }
    CHECK_IDLE_CPU(thread_cpu_ns() - cpu, "Sleep(3 ms) over and over");
    CHECK_TRACE("S sleeps S woke");
    Py_DECREF(s);
}

TEST(sleepers_are_never_a_deadlock) {
    PyChannelObject *ch = PyChannel_New(NULL);
    /* Main blocks while S sleeps: the thread waits for S, which sends. */
    PyTaskletObject *s = make(b_sleep_send, "(sOL)", "S", ch, (long long)after_ms(3));
    CHECK_INT(PyTasklet_Run(s), 0);
    PyObject *v = PyChannel_Receive(ch);
    CHECK(v != NULL);
    CHECK_STR_OF(v, "late");
    Py_DECREF(v);
    CHECK_RUN_NONE();
    CHECK_TRACE("S sleeps S woke S sent");
    /* R blocks, the last runnable, while main sleeps: R just waits. */
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    int64_t d = after_ms(3);
    CHECK_INT(PyStackless_SleepUntil(d), 0);
    CHECK_NOT_BEFORE(d);
    CHECK_INT(PyTasklet_GetBlocked(r), -1);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyChannel_Send(ch, Py_None), 0);
    CHECK_TRACE("S sleeps S woke S sent R received None");
    /* Main with a deadline, alone: a wait, not a Deadlock. */
    d = after_ms(3);
    CHECK_PTR(PyChannel_ReceiveUntil(ch, d), NULL);
    CHECK_NOT_BEFORE(d);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    d = after_ms(3);
    CHECK_INT(PyChannel_SendUntil(ch, Py_None, d), -1);
    CHECK_NOT_BEFORE(d);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    Py_DECREF(s);
    Py_DECREF(r);
    Py_DECREF(ch);
}

/* Every timer counts, a timed wait's too; a kill removes its victim's
 * timer before the Kill call returns. */
TEST(next_deadline_is_the_earliest) {
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyChannelObject *ch = PyChannel_New(NULL);
    int64_t base = far_deadline();
    PyTaskletObject *a = asleep("A", base + 5 * MS);
    CHECK(a != NULL);
    CHECK_INT(PyStackless_NextDeadline(), base + 5 * MS);
    PyTaskletObject *b = asleep("B", base + 3 * MS), *c = asleep("C", base + 7 * MS);
    CHECK(b != NULL && c != NULL);
    CHECK_INT(PyStackless_NextDeadline(), base + 3 * MS);
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)(base + MS));
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyStackless_NextDeadline(), base + MS);
    /* Sleep(ns) sets Now() + ns. */
    int64_t ns = (FAR_MS / 2) * MS;
    PyTaskletObject *n = make(b_nap, "(sL)", "N", (long long)ns);
    int64_t before = PyStackless_Now();
    CHECK_INT(PyTasklet_Run(n), 0);
    int64_t after = PyStackless_Now();
    int64_t next = PyStackless_NextDeadline();
    CHECK(before + ns <= next && next <= after + ns);
    CHECK_INT(PyTasklet_Kill(n), 0);
    CHECK_INT(PyStackless_NextDeadline(), base + MS);
    CHECK_INT(PyTasklet_Kill(r), 0);
    CHECK_INT(PyStackless_NextDeadline(), base + 3 * MS);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_Kill(b), 0);
    CHECK_INT(PyStackless_NextDeadline(), base + 5 * MS);
    CHECK_INT(PyTasklet_Kill(c), 0);
    CHECK_INT(PyStackless_NextDeadline(), base + 5 * MS);
    CHECK_INT(PyTasklet_Kill(a), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_TRACE("A sleeps B sleeps C sleeps N naps N TaskletExit() R TaskletExit() B TaskletExit() "
                "C TaskletExit() A TaskletExit()");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    Py_DECREF(r);
    Py_DECREF(n);
    Py_DECREF(ch);
}

/* SPEC §4.8 for a sleeper: a kill switches to it at once and the caller
 * runs right after it; a pending kill makes it runnable at the tail. */
TEST(kill_of_a_sleeper_follows_the_blocked_rules) {
    PyTaskletObject *s = SLEEPER("S", far_deadline());
    CHECK_INT(PyTasklet_Run(s), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_INT(PyTasklet_Kill(s), 0);
    CHECK_TRACE("S sleeps S TaskletExit()");
    CHECK_INT(PyTasklet_Alive(s), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyTaskletObject *p = SLEEPER("P", far_deadline());
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_INT(PyTasklet_KillEx(p, 1), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyTasklet_Scheduled(p), 1);
    CHECK_INT(PyStackless_GetRunCount(), 3);
    CHECK_TRACE("S sleeps S TaskletExit() P sleeps");
    CHECK_RUN_NONE();
    CHECK_TRACE("S sleeps S TaskletExit() P sleeps X runs P TaskletExit()");
    CHECK_INT(PyTasklet_Alive(p), 0);
    Py_DECREF(s);
    Py_DECREF(x);
    Py_DECREF(p);
}

TEST(throw_and_raise_exception_wake_a_sleeper) {
    PyObject *text = PyUnicode_FromString("thrown"), *k = Py_BuildValue("(s)", "k");
    PyTaskletObject *s = asleep("S", far_deadline());
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Throw(s, 0, PyExc_ValueError, text, NULL), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyTaskletObject *t = asleep("T", far_deadline());
    CHECK(t != NULL);
    CHECK_INT(PyTasklet_RaiseException(t, PyExc_KeyError, k), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyTaskletObject *p = asleep("P", far_deadline());
    CHECK(p != NULL);
    CHECK_INT(PyTasklet_Throw(p, 1, PyExc_IndexError, text, NULL), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyTasklet_Scheduled(p), 1);
    CHECK_TRACE("S sleeps S ValueError('thrown') T sleeps T KeyError('k') P sleeps");
    CHECK_RUN_NONE();
    CHECK_TRACE("S sleeps S ValueError('thrown') T sleeps T KeyError('k') P sleeps P IndexError('thrown')");
    Py_DECREF(s);
    Py_DECREF(t);
    Py_DECREF(p);
    Py_DECREF(text);
    Py_DECREF(k);
}

TEST(kill_and_throw_of_a_timed_waiter) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *v = PyUnicode_FromString("v"), *text = PyUnicode_FromString("thrown");
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)far_deadline());
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyTasklet_Kill(r), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyTaskletObject *s = make(b_send_until, "(sOOL)", "S", ch, v, (long long)far_deadline());
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    CHECK_INT(PyTasklet_Throw(s, 0, PyExc_ValueError, text, NULL), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyTaskletObject *p = make(b_recv_until, "(sOL)", "P", ch, (long long)far_deadline());
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_INT(PyTasklet_Throw(p, 1, PyExc_IndexError, text, NULL), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyTasklet_Scheduled(p), 1);
    CHECK_TRACE("R TaskletExit() S ValueError('thrown')");
    CHECK_RUN_NONE();
    CHECK_TRACE("R TaskletExit() S ValueError('thrown') P IndexError('thrown')");
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(p);
    CHECK_INT(Py_REFCNT(v), 1);
    Py_DECREF(v);
    Py_DECREF(text);
    Py_DECREF(ch);
}

TEST(run_insert_or_remove_of_a_sleeper_is_refused) {
    int64_t d = far_deadline();
    PyTaskletObject *s = SLEEPER("S", d);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyTasklet_Run(s), -1);
    CHECK_ERROR(PyExc_RuntimeError, BLOCKED_RUN_TEXT);
    CHECK_INT(PyTasklet_Insert(s), -1);
    CHECK_ERROR(PyExc_RuntimeError, BLOCKED_RUN_TEXT);
    CHECK_INT(PyTasklet_Switch(s), -1);
    CHECK_ERROR(PyExc_RuntimeError, BLOCKED_RUN_TEXT);
    CHECK_INT(PyTasklet_Remove(s), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot remove a blocked tasklet.");
    /* Still asleep, on its timer. */
    CHECK_INT(PyTasklet_Scheduled(s), 1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyStackless_NextDeadline(), d);
    CHECK_TRACE("S sleeps");
    CHECK_INT(PyTasklet_Kill(s), 0);
    CHECK_TRACE("S sleeps S TaskletExit()");
    Py_DECREF(s);
}

TEST(switch_trap_refuses_to_sleep) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyStackless_Sleep(MS), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_SleepUntil(after_ms(1)), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_SleepUntil(0), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_PTR(PyChannel_ReceiveUntil(ch, far_deadline()), NULL);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyChannel_SendUntil(ch, Py_None, far_deadline()), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    /* Nothing changed. */
    CHECK_TRACE("");
    CHECK_RING("main X");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_RUN_NONE();
    CHECK_TRACE("X runs");
    Py_DECREF(x);
    Py_DECREF(ch);
}

/* block_trap does not apply to sleeping (no channel), but does to a
 * channel operation with a deadline ahead (not to one whose deadline has
 * passed: a try, which never blocks); atomic prevents neither. */
TEST(block_trap_and_atomic_do_not_prevent_sleeping) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *me = main_tasklet();
    PyTaskletObject *x = make(b_log, "(s)", "X");
    PyTasklet_SetBlockTrap(me, 1);
    int64_t d = after_ms(2);
    CHECK_INT(PyStackless_SleepUntil(d), 0);
    CHECK_NOT_BEFORE(d);
    CHECK_TRACE("X runs");
    CHECK_PTR(PyChannel_ReceiveUntil(ch, far_deadline()), NULL);
    CHECK_ERROR(PyExc_RuntimeError, BLOCK_TRAP_TEXT);
    CHECK_PTR(PyChannel_ReceiveUntil(ch, 0), NULL);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyTasklet_SetBlockTrap(me, 0);
    PyTaskletObject *y = make(b_log, "(s)", "Y");
    CHECK_INT(PyTasklet_SetAtomic(me, 1), 0);
    d = after_ms(2);
    CHECK_INT(PyStackless_SleepUntil(d), 0);
    CHECK_NOT_BEFORE(d);
    CHECK_INT(PyTasklet_SetAtomic(me, 0), 1);
    CHECK_TRACE("X runs Y runs");
    Py_DECREF(x);
    Py_DECREF(y);
    Py_DECREF(ch);
}

/* Outside (no main tasklet): as PyStackless_Schedule, a temporary main. */
TEST(sleep_from_outside_auto_wraps) {
    trace_reset();
    PyTaskletObject *x = make(b_log, "(s)", "X");
    int64_t d = after_ms(2);
    CHECK_INT(PyStackless_SleepUntil(d), 0);
    CHECK_NOT_BEFORE(d);
    CHECK_TRACE("X runs");
    CHECK_INT(PyStackless_Sleep(MS), 0);
    CHECK_INT(PyStackless_SleepUntil(0), 0);
    CHECK_INT(PyStackless_SleepUntil(-2), -1);
    CHECK_ERROR(PyExc_ValueError, INVALID_DEADLINE_TEXT);
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK(PyStackless_GetMain() == NULL);
    CHECK_NO_ERROR();
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyTasklet_Alive(x), 0);
    Py_DECREF(x);
}

/* ---- §3 Channel operations with a deadline ----------------------------------- */

TEST(until_minus_one_is_plain_send_and_receive) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *v = PyUnicode_FromString("v"), *w = PyUnicode_FromString("w");
    CHECK_PTR(PyChannel_ReceiveUntil(ch, -1), NULL);
    CHECK_ERROR(PyExc_RuntimeError, DEADLOCK_TEXT);
    CHECK_INT(PyChannel_SendUntil(ch, v, -1), -1);
    CHECK_ERROR(PyExc_RuntimeError, DEADLOCK_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    /* A waiting receiver runs at once (preference -1), as for Send. */
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK_INT(PyTasklet_Run(r), 0);
    trace("main sends");
    CHECK_INT(PyChannel_SendUntil(ch, v, -1), 0);
    trace("main sent");
    /* Waiting with no deadline sets no timer. */
    PyTaskletObject *p = make(b_probe, "(s)", "P"), *s = make(b_send, "(sOO)", "S", ch, w);
    CHECK_RESULT(PyChannel_ReceiveUntil(ch, -1), w);
    CHECK_TRACE("main sends R received v main sent P next=-1");
    CHECK_RUN_NONE();
    CHECK_TRACE("main sends R received v main sent P next=-1 S sent");
    Py_DECREF(r);
    Py_DECREF(p);
    Py_DECREF(s);
    Py_DECREF(v);
    Py_DECREF(w);
    Py_DECREF(ch);
}

TEST(partner_before_the_deadline_moves_the_value) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *v = PyUnicode_FromString("v"), *w = PyUnicode_FromString("w");
    int64_t d = far_deadline();
    char expected[256];
    /* Main waits with a deadline; P sees its timer, S sends. */
    PyTaskletObject *p = make(b_probe, "(s)", "P"), *s = make(b_send, "(sOO)", "S", ch, v);
    CHECK_RESULT(PyChannel_ReceiveUntil(ch, d), v);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    snprintf(expected, sizeof expected, "P next=%lld", (long long)d);
    CHECK_TRACE(expected);
    CHECK_RUN_NONE();
    /* R waits with a deadline, main sends. */
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)d);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyStackless_NextDeadline(), d);
    CHECK_INT(PyChannel_Send(ch, w), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    /* T sends with a deadline, main receives. */
    PyTaskletObject *t = make(b_send_until, "(sOOL)", "T", ch, w, (long long)d);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    CHECK_RESULT(PyChannel_Receive(ch), w);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_RUN_NONE();
    snprintf(expected, sizeof expected, "P next=%lld S sent R got w T sent", (long long)d);
    CHECK_TRACE(expected);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    Py_DECREF(p);
    Py_DECREF(s);
    Py_DECREF(r);
    Py_DECREF(t);
    Py_DECREF(v);
    Py_DECREF(w);
    Py_DECREF(ch);
}

/* The deadline first: TimeoutError, the balance as if it had never
 * blocked, no channel callback for the removal. */
TEST(deadline_first_times_out_as_if_never_blocked) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *v = PyUnicode_FromString("v");
    CHECK_INT(trace_channel_callbacks(), 0);
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *r1 = make(b_recv_until, "(sOL)", "R1", ch, (long long)d);
    CHECK_INT(PyTasklet_Run(r1), 0);
    PyTaskletObject *r2 = make(b_recv, "(sO)", "R2", ch);
    CHECK_INT(PyTasklet_Run(r2), 0);
    CHECK_INT(PyChannel_GetBalance(ch), -2);
    CHECK_STR(queue_text(ch), "R1 R2");
    CHECK_INT(PyStackless_SleepUntil(d + MS), 0);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_STR(queue_text(ch), "R2");
    CHECK_INT(PyChannel_Send(ch, v), 0);
    CHECK_TRACE("cb(R1,0,1) cb(R2,0,1) R1 " TIMED_OUT_REPR " cb(main,1,0) R2 received v");
    /* A sender: its value is dropped, not delivered later. */
    trace_reset();
    d = after_ms(SETUP_MS);
    PyTaskletObject *s = make(b_send_until, "(sOOL)", "S", ch, v, (long long)d);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    CHECK_INT(PyStackless_SleepUntil(d + MS), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_PTR(PyChannel_ReceiveUntil(ch, 0), NULL);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_TRACE("cb(S,1,1) S " TIMED_OUT_REPR);
    CHECK_INT(PyTasklet_Alive(s), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(r1);
    Py_DECREF(r2);
    Py_DECREF(s);
    CHECK_INT(Py_REFCNT(v), 1);
    Py_DECREF(v);
    Py_DECREF(ch);
}

/* A passed deadline and no partner: a non-blocking try. */
TEST(passed_deadline_without_partner_fails_at_once) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_INT(trace_channel_callbacks(), 0);
    int64_t passed[] = {0, PyStackless_Now() - 1};
    for (int i = 0; i < 2; i++) {
        CHECK_PTR(PyChannel_ReceiveUntil(ch, passed[i]), NULL);
        CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
        CHECK_INT(PyChannel_SendUntil(ch, Py_None, passed[i]), -1);
        CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    }
    CHECK_TRACE("");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_RING("main X");
    /* A tasklet waiting in the same direction is no partner. */
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_PTR(PyChannel_ReceiveUntil(ch, 0), NULL);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_STR(queue_text(ch), "R");
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_TRACE("cb(R,0,1)");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyChannel_Send(ch, Py_None), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("cb(R,0,1) R received None X runs");
    Py_DECREF(x);
    Py_DECREF(r);
    Py_DECREF(ch);
}

/* A channel callback that keeps the thread until `slow_callback_until`. */
static int64_t slow_callback_until;

static PyObject *slow_channel_callback(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    trace("cb");
    busy_until(slow_callback_until);
    Py_RETURN_NONE;
}

static PyMethodDef slow_callback_def = {"slow_callback", slow_channel_callback, METH_VARARGS, NULL};

/* The deadline was ahead when the call began and passed while the channel
 * callback ran: the call fails at once as for a passed deadline, without
 * blocking (X never runs meanwhile), no timer left. */
TEST(deadline_passing_in_the_channel_callback_fails_at_once) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    PyObject *cb = PyCFunction_New(&slow_callback_def, NULL);
    CHECK_INT(PyStackless_SetChannelCallback(cb), 0);
    int64_t d = after_ms(SETUP_MS);
    slow_callback_until = d;
    CHECK_PTR(PyChannel_ReceiveUntil(ch, d), NULL);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    slow_callback_until = after_ms(SETUP_MS);
    CHECK_INT(PyChannel_SendUntil(ch, Py_None, slow_callback_until), -1);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_TRACE("cb cb");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_RING("main X");
    CHECK_RUN_NONE();
    CHECK_TRACE("cb cb X runs");
    Py_DECREF(cb);
    Py_DECREF(x);
    Py_DECREF(ch);
}

TEST(passed_deadline_with_a_partner_transfers) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *v = PyUnicode_FromString("v"), *w = PyUnicode_FromString("w");
    CHECK_INT(trace_channel_callbacks(), 0);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_SendUntil(ch, v, 0), 0);
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, w);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_RESULT(PyChannel_ReceiveUntil(ch, PyStackless_Now() - 1), w);
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("cb(R,0,1) cb(main,1,0) R received v cb(S,1,1) cb(main,0,0) S sent");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(v);
    Py_DECREF(w);
    Py_DECREF(ch);
}

/* ---- §5 RunUntil ---------------------------------------------------------------- */

/* The partner comes first, and the deadline passes before the woken
 * tasklet runs: the partner's outcome stands (exactly one outcome), the
 * timer went with the partner. A timed sender woken by a receiver, then a
 * timed receiver that a preferred sender leaves runnable. */
TEST(the_partner_wins_though_the_deadline_passes_before_the_waiter_runs) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *w = PyUnicode_FromString("w");
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *s = make(b_send_until, "(sOOL)", "S", ch, w, (long long)d);
    CHECK_INT(PyTasklet_Run(s), 0);
    PyObject *got = PyChannel_Receive(ch);
    CHECK_PTR(got, w);
    Py_XDECREF(got);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    busy_until(d + MS);
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent");
    PyChannel_SetPreference(ch, 1);
    d = after_ms(SETUP_MS);
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)d);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_Send(ch, w), 0);
    CHECK_INT(PyTasklet_Scheduled(r), 1);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    busy_until(d + MS);
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent R got w");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    Py_DECREF(s);
    Py_DECREF(r);
    CHECK_INT(Py_REFCNT(w), 1);
    Py_DECREF(w);
    Py_DECREF(ch);
}

/* §3's "same algorithm": closing. A closed channel refuses a timed
 * operation that would wait as it refuses a plain one (SPEC §4.5), but a
 * try (a passed deadline) fails with TimeoutError before any closed
 * check, as §3 says of every try without a partner; a try with a partner
 * waiting drains it. A timed waiter on a closing channel times out, and
 * the channel is closed once it has. */
TEST(closing_applies_to_timed_operations) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyChannel_Close(ch);
    CHECK_PTR(PyChannel_ReceiveUntil(ch, far_deadline()), NULL);
    CHECK_ERROR(PyExc_ValueError, CLOSED_TEXT);
    CHECK_INT(PyChannel_SendUntil(ch, Py_None, far_deadline()), -1);
    CHECK_ERROR(PyExc_ValueError, CLOSED_TEXT);
    CHECK_PTR(PyChannel_ReceiveUntil(ch, 0), NULL);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyChannel_SendUntil(ch, Py_None, 0), -1);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    Py_DECREF(ch);
    ch = PyChannel_New(NULL);
    PyObject *w = PyUnicode_FromString("w");
    PyTaskletObject *s = make(b_send_until, "(sOOL)", "S", ch, w, (long long)far_deadline());
    CHECK_INT(PyTasklet_Run(s), 0);
    PyChannel_Close(ch);
    PyObject *got = PyChannel_ReceiveUntil(ch, 0);
    CHECK_PTR(got, w);
    Py_XDECREF(got);
    CHECK_INT(PyChannel_GetClosed(ch), 1);
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent");
    Py_DECREF(s);
    Py_DECREF(w);
    Py_DECREF(ch);
    ch = PyChannel_New(NULL);
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)d);
    CHECK_INT(PyTasklet_Run(r), 0);
    PyChannel_Close(ch);
    CHECK_INT(PyChannel_GetClosing(ch), 1);
    CHECK_INT(PyChannel_GetClosed(ch), 0);
    CHECK_INT(PyStackless_SleepUntil(d + MS), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyChannel_GetClosed(ch), 1);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_TRACE("S sent R " TIMED_OUT_REPR);
    Py_DECREF(r);
    Py_DECREF(ch);
}

/* §3's "same algorithm": exceptions sent over a channel reach a timed
 * receiver as they reach a plain one, and take it off its timer. */
TEST(exceptions_over_channels_reach_timed_receivers) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *args = Py_BuildValue("(s)", "sent"), *text = PyUnicode_FromString("thrown");
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)far_deadline());
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_SendException(ch, PyExc_KeyError, args), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    PyTaskletObject *t = make(b_recv_until, "(sOL)", "T", ch, (long long)far_deadline());
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(PyChannel_SendThrow(ch, PyExc_IndexError, text, NULL), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("R KeyError('sent') T IndexError('thrown')");
    Py_DECREF(r);
    Py_DECREF(t);
    Py_DECREF(args);
    Py_DECREF(text);
    Py_DECREF(ch);
}

TEST(raise_exception_of_a_timed_waiter) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *args = Py_BuildValue("(s)", "raised");
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)far_deadline());
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyTasklet_RaiseException(r, PyExc_KeyError, args), 0);
    CHECK_TRACE("R KeyError('raised')");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_Alive(r), 0);
    Py_DECREF(r);
    Py_DECREF(args);
    Py_DECREF(ch);
}

/* (name, ch, deadline, out): ReceiveUntil(ch, deadline), traced as
 * b_recv_until does, then sends "late" on `out`. */
static PyObject *b_recv_until_then_send(PyObject *self, PyObject *args) {
    PyObject *r = b_recv_until(self, args);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    PyObject *v = PyUnicode_FromString("late");
    int rc = PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 3), v);
    Py_DECREF(v);
    if (rc < 0) {
        return trace_failure(arg_str(args, 0));
    }
    Py_RETURN_NONE;
}

/* A tasklet in a timed channel operation will wake, as a sleeper will:
 * main blocking meanwhile is no Deadlock. */
TEST(a_timed_waiter_is_never_a_deadlock) {
    PyChannelObject *ch = PyChannel_New(NULL), *idle = PyChannel_New(NULL);
    int64_t d = after_ms(3);
    PyTaskletObject *w = make(b_recv_until_then_send, "(sOLO)", "W", idle, (long long)d, ch);
    CHECK_INT(PyTasklet_Run(w), 0);
    PyObject *v = PyChannel_Receive(ch);
    CHECK(v != NULL);
    CHECK_STR(v != NULL ? harness_text(v, 0) : "NULL", "late");
    Py_XDECREF(v);
    CHECK_RUN_NONE();
    CHECK_TRACE("W " TIMED_OUT_REPR);
    CHECK_INT(PyTasklet_Alive(w), 0);
    CHECK_INT(PyChannel_GetBalance(idle), 0);
    Py_DECREF(w);
    Py_DECREF(idle);
    Py_DECREF(ch);
}

/* Outside (no main tasklet): a timed channel operation auto-wraps, waits
 * for its deadline and times out. */
TEST(timed_channel_operations_from_outside_time_out) {
    PyChannelObject *ch = PyChannel_New(NULL);
    int64_t d = after_ms(3);
    CHECK_PTR(PyChannel_ReceiveUntil(ch, d), NULL);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_NOT_BEFORE(d);
    d = after_ms(3);
    CHECK_INT(PyChannel_SendUntil(ch, Py_None, d), -1);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_NOT_BEFORE(d);
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(ch);
}

/* B spins past `d`, the deadline of RunUntil, then `b_body` switches or
 * ends: B is not interrupted, and RunUntil returns at its next scheduling
 * point (tracing `trace`, with `runcount` runnables); C never started, and
 * runs in the run that follows (`trace_after`). */
static void check_run_until_stops_after_b(PyCFunction b_body, const char *trace, int runcount,
                                          const char *trace_after) {
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *b = make(b_body, "(sL)", "B", (long long)d), *c = make(b_log, "(s)", "C");
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_TRACE(trace);
    CHECK_INT(PyTasklet_Scheduled(c), 1);
    CHECK_INT(PyStackless_GetRunCount(), runcount);
    CHECK_RUN_NONE();
    CHECK_TRACE(trace_after);
    CHECK_INT(PyTasklet_Alive(b), 0);
    CHECK_INT(PyTasklet_Alive(c), 0);
    Py_DECREF(b);
    Py_DECREF(c);
}

/* B's next switching call. */
TEST(run_until_returns_at_the_first_scheduling_point_after_its_deadline) {
    check_run_until_stops_after_b(b_step, "B start B busy", 3, "B start B busy C runs B end");
}

/* The end of B is a scheduling point too. */
TEST(run_until_returns_when_a_tasklet_ends_after_its_deadline) {
    check_run_until_stops_after_b(b_hog, "B runs", 2, "B runs C runs");
}

TEST(run_until_waits_idle_until_its_deadline) {
    PyChannelObject *ch = PyChannel_New(NULL);
    int64_t far = far_deadline();
    PyTaskletObject *s = SLEEPER("S", far);
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)far);
    int64_t d = after_ms(3);
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_NOT_BEFORE(d);
    CHECK_TRACE("S sleeps");
    CHECK_INT(PyStackless_NextDeadline(), far);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyTasklet_Kill(s), 0);
    CHECK_INT(PyTasklet_Kill(r), 0);
    CHECK_TRACE("S sleeps S TaskletExit() R TaskletExit()");
    Py_DECREF(s);
    Py_DECREF(r);
    Py_DECREF(ch);
}

TEST(run_until_minus_one_runs_timed_work_to_its_end) {
    PyChannelObject *ch = PyChannel_New(NULL);
    int64_t base = after_ms(SETUP_MS);
    PyTaskletObject *s = make(b_sleep, "(sLL)", "S", (long long)base, (long long)(base + 20 * MS));
    PyTaskletObject *r = make(b_recv_until, "(sOL)", "R", ch, (long long)(base + 10 * MS));
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("S sleeps X runs S woke R " TIMED_OUT_REPR " S woke");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    /* Errors as RunWatchdog: an uncaught one ends the run, sleepers stay. */
    int64_t far = far_deadline();
    PyTaskletObject *t = SLEEPER("T", far), *e = make(b_raise, "(s)", "E");
    CHECK_PTR(PyStackless_RunUntil(-1), NULL);
    CHECK_ERROR(PyExc_ValueError, "boom");
    CHECK_INT(PyStackless_NextDeadline(), far);
    CHECK_INT(PyTasklet_Kill(t), 0);
    Py_DECREF(s);
    Py_DECREF(r);
    Py_DECREF(x);
    Py_DECREF(t);
    Py_DECREF(e);
    Py_DECREF(ch);
}

/* The tasklet whose references b_observe reports. */
static PyTaskletObject *observed;

/* (name, deadline): SleepUntil, then "<name> sees <refcount of observed>". */
static PyObject *b_observe(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    if (PyStackless_SleepUntil(PyLong_AsLong(PyTuple_GetItem(args, 1))) < 0) {
        return trace_failure(n);
    }
    trace("%s sees %zd", n, Py_REFCNT((PyObject *)observed));
    Py_RETURN_NONE;
}

/* A sleeper that wakes and ends is released at once, though nothing calls
 * into the runtime after it: its timer's reference does not wait for the
 * next call (a thread whose tasklets only sleep once and end would keep
 * every one of them until RunUntil returns). */
TEST(a_woken_sleeper_that_ends_keeps_no_reference) {
    int64_t base = after_ms(SETUP_MS);
    observed = SLEEPER("S", base);
    PyTaskletObject *o = make(b_observe, "(sL)", "O", (long long)(base + 5 * MS));
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("S sleeps S woke O sees 1");
    Py_DECREF(observed);
    Py_DECREF(o);
}

/* Returns when nothing is runnable, sleeping or waiting, not at its
 * deadline. */
TEST(run_until_returns_when_no_work_is_left) {
    int64_t far = far_deadline();
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_NONE(PyStackless_RunUntil(far));
    CHECK(PyStackless_Now() < far);
    PyTaskletObject *s = SLEEPER("S", after_ms(2));
    CHECK_NONE(PyStackless_RunUntil(far));
    CHECK(PyStackless_Now() < far);
    CHECK_TRACE("X runs S sleeps S woke");
    Py_DECREF(x);
    Py_DECREF(s);
}

TEST(run_watchdog_returns_while_tasklets_sleep) {
    int64_t far = far_deadline();
    PyTaskletObject *s = SLEEPER("S", far), *x = make(b_log, "(s)", "X");
    CHECK_RUN_NONE();
    CHECK_TRACE("S sleeps X runs");
    CHECK_INT(PyTasklet_Alive(s), 1);
    CHECK_INT(PyStackless_NextDeadline(), far);
    CHECK_INT(PyTasklet_Kill(s), 0);
    Py_DECREF(s);
    Py_DECREF(x);
}

/* RunUntil(Now()), as a host loop calls it (EXTENSIONS §6): everything
 * that is ready runs, what becomes ready on the way too, and nothing is
 * waited for. */
TEST(run_until_now_runs_what_is_ready_without_waiting) {
    int64_t far = far_deadline();
    PyTaskletObject *f = SLEEPER("F", far);
    CHECK_INT(PyTasklet_Run(f), 0);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    PyTaskletObject *x = make(b_log, "(s)", "X"), *z = make(b_step, "(s)", "Z");
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("F sleeps X runs Z start Z end");
    int64_t d = after_ms(1);
    PyTaskletObject *due = SLEEPER("D", d);
    CHECK_INT(PyTasklet_Run(due), 0);
    busy_until(d);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("F sleeps X runs Z start Z end D sleeps D woke");
    CHECK_INT(PyStackless_NextDeadline(), far);
    CHECK_INT(PyTasklet_Kill(f), 0);
    Py_DECREF(f);
    Py_DECREF(x);
    Py_DECREF(z);
    Py_DECREF(due);
}

/* A nested RunUntil(-1) returns when the runnables are empty, as
 * RunWatchdog(0) does, without waiting for S. */
TEST(nested_run_until_is_an_untimed_run) {
    PyTaskletObject *s = SLEEPER("S", after_ms(SETUP_MS)), *t = make(b_nested, "(s)", "T");
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("S sleeps T runs T back S woke");
    Py_DECREF(s);
    Py_DECREF(t);
}

/* EXTENSIONS §6's host loop, outside any main tasklet: RunUntil(Now()),
 * wait for NextDeadline, again. */
TEST(host_loop_drives_sleepers_from_outside) {
    trace_reset();
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *s = SLEEPER("S", d);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("S sleeps");
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_INT(PyStackless_NextDeadline(), d);
    CHECK_INT(PyTasklet_Alive(s), 1);
    for (int i = 0; i < 100 && (PyStackless_NextDeadline() != -1 || PyStackless_GetRunCount() > 0); i++) {
        int64_t next = PyStackless_NextDeadline();
        if (next != -1) {
            os_sleep_until(next);
        }
        CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    }
    CHECK_TRACE("S sleeps S woke");
    CHECK_INT(PyTasklet_Alive(s), 0);
    /* RunUntil(-1) from outside runs the timed work to its end. */
    PyTaskletObject *t = SLEEPER("T", after_ms(2));
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("S sleeps S woke T sleeps T woke");
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(s);
    Py_DECREF(t);
}

/* ---- §7 OSError and TimeoutError ------------------------------------------------ */

#define BASE_OF(cls) ((PyObject *)((PyTypeObject *)(cls))->tp_base)

TEST(os_error_and_timeout_error_classes) {
    CHECK(PyType_Check(PyExc_OSError));
    CHECK(PyType_Check(PyExc_TimeoutError));
    CHECK_PTR(BASE_OF(PyExc_OSError), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_TimeoutError), PyExc_OSError);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TimeoutError, PyExc_OSError), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_OSError, PyExc_Exception), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TimeoutError, PyExc_Exception), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_OSError, PyExc_TimeoutError), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TimeoutError, PyExc_RuntimeError), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_OSError, PyExc_ValueError), 0);
    CHECK_STR(((PyTypeObject *)PyExc_OSError)->tp_name, "OSError");
    CHECK_STR(((PyTypeObject *)PyExc_TimeoutError)->tp_name, "TimeoutError");
    CHECK_REPR(PyExc_OSError, "<class 'OSError'>");
    CHECK_REPR(PyExc_TimeoutError, "<class 'TimeoutError'>");
}

TEST(os_error_instances_follow_cpython) {
    PyObject *t = PyObject_CallFunction(PyExc_TimeoutError, "s", TIMED_OUT_TEXT);
    PyObject *o = PyObject_CallFunction(PyExc_OSError, "(is)", 9, "Bad file descriptor");
    CHECK(t != NULL && o != NULL);
    CHECK_INT(PyObject_IsInstance(t, PyExc_OSError), 1);
    CHECK_STR_OF(t, TIMED_OUT_TEXT);
    CHECK_REPR(t, TIMED_OUT_REPR);
    CHECK_STR_OF(o, "[Errno 9] Bad file descriptor");
    CHECK_REPR(o, "OSError(9, 'Bad file descriptor')");
    PyObject *args = PyObject_GetAttrString(o, "args");
    CHECK(args != NULL);
    CHECK_REPR(args, "(9, 'Bad file descriptor')");
    Py_DECREF(args);
    Py_DECREF(t);
    Py_DECREF(o);
}

/* The error of a timed-out call is a TimeoutError itself, args
 * ('timed out',). */
TEST(timed_out_call_raises_timeout_error) {
    PyChannelObject *ch = PyChannel_New(NULL);
    CHECK_PTR(PyChannel_ReceiveUntil(ch, 0), NULL);
    CHECK_PTR(PyErr_Occurred(), PyExc_TimeoutError);
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    CHECK(v != NULL);
    CHECK_REPR(v, TIMED_OUT_REPR);
    PyObject *args = PyObject_GetAttrString(v, "args");
    CHECK(args != NULL);
    CHECK_REPR(args, "('timed out',)");
    Py_DECREF(args);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    Py_DECREF(ch);
}

static void context(char *buf, size_t size) {
    snprintf(buf, size, "    in case %s", harness_case ? harness_case : "(none)");
}

int main(void) {
    hang_guard_start("test_time", 120, 0, context);
    RUN(now_is_the_monotonic_clock_in_ns);
    RUN_INSIDE(invalid_deadlines_are_value_errors);
    RUN_INSIDE(negative_sleep_is_a_value_error);
    RUN_INSIDE(sleeper_reads_like_a_blocked_tasklet);
    RUN_INSIDE(woken_sleeper_is_appended_at_the_end);
    RUN_INSIDE(sleepers_due_when_a_tasklet_ends_wake_there);
    RUN_INSIDE(equal_deadlines_fire_in_the_order_set);
    RUN_INSIDE(due_sleepers_wake_in_deadline_order);
    RUN_INSIDE(passed_deadline_is_a_schedule);
    RUN_INSIDE(main_may_sleep);
    RUN_INSIDE(a_thread_whose_tasklets_sleep_uses_no_cpu);
    RUN_INSIDE(sleepers_are_never_a_deadlock);
    RUN_INSIDE(next_deadline_is_the_earliest);
    RUN_INSIDE(kill_of_a_sleeper_follows_the_blocked_rules);
    RUN_INSIDE(throw_and_raise_exception_wake_a_sleeper);
    RUN_INSIDE(kill_and_throw_of_a_timed_waiter);
    RUN_INSIDE(run_insert_or_remove_of_a_sleeper_is_refused);
    RUN_INSIDE(switch_trap_refuses_to_sleep);
    RUN_INSIDE(block_trap_and_atomic_do_not_prevent_sleeping);
    RUN(sleep_from_outside_auto_wraps);
    RUN_INSIDE(until_minus_one_is_plain_send_and_receive);
    RUN_INSIDE(partner_before_the_deadline_moves_the_value);
    RUN_INSIDE(deadline_first_times_out_as_if_never_blocked);
    RUN_INSIDE(passed_deadline_without_partner_fails_at_once);
    RUN_INSIDE(deadline_passing_in_the_channel_callback_fails_at_once);
    RUN_INSIDE(passed_deadline_with_a_partner_transfers);
    RUN_INSIDE(the_partner_wins_though_the_deadline_passes_before_the_waiter_runs);
    RUN_INSIDE(closing_applies_to_timed_operations);
    RUN_INSIDE(exceptions_over_channels_reach_timed_receivers);
    RUN_INSIDE(raise_exception_of_a_timed_waiter);
    RUN_INSIDE(a_timed_waiter_is_never_a_deadlock);
    RUN(timed_channel_operations_from_outside_time_out);
    RUN_INSIDE(run_until_returns_at_the_first_scheduling_point_after_its_deadline);
    RUN_INSIDE(run_until_returns_when_a_tasklet_ends_after_its_deadline);
    RUN_INSIDE(run_until_waits_idle_until_its_deadline);
    RUN_INSIDE(run_until_minus_one_runs_timed_work_to_its_end);
    RUN_INSIDE(a_woken_sleeper_that_ends_keeps_no_reference);
    RUN_INSIDE(run_until_returns_when_no_work_is_left);
    RUN_INSIDE(run_watchdog_returns_while_tasklets_sleep);
    RUN_INSIDE(run_until_now_runs_what_is_ready_without_waiting);
    RUN_INSIDE(nested_run_until_is_an_untimed_run);
    RUN(host_loop_drives_sleepers_from_outside);
    RUN(os_error_and_timeout_error_classes);
    RUN(os_error_instances_follow_cpython);
    RUN_INSIDE(timed_out_call_raises_timeout_error);
    PyStackless_Finalize();
    return harness_summary("test_time");
}
