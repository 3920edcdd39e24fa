/* The time extensions across threads (EXTENSIONS.md §2, §3, §5): kill,
 * throw and raise_exception of another thread's sleepers and timed
 * waiters; a thread with timers is one that will wake, never a deadlock
 * for the others; RunUntil woken by a hand-off; the race of a partner
 * and a deadline: every value received exactly once or its send timed
 * out, never lost, never twice; and a thread's end (Finalize or its exit)
 * killing its sleepers and timed waiters. Environment: TIME_SEED (the
 * race's random deadlines; default 1), TIME_LIMIT_S (the hang guard's
 * limit in seconds; default 120; `make stress` sets it below its own
 * timeout). The timing rule is time_helpers.h's. */
#include "time_helpers.h"
#include "stages.h"

#include "hang_guard.h"
#include "worker.h"

#include <pthread.h>

/* ---- A worker thread that runs its own scheduler --------------------------- */

static void reset(void) {
    set_stage(0);
    pthread_mutex_lock(&lock);
    wlog_buf[0] = '\0';
    pthread_mutex_unlock(&lock);
}

/* A new tasklet of def's function with the arguments Py_BuildValue(format,
 * ...) makes, set up; NULL with the exception on failure. */
static PyTaskletObject *spawn_built(PyMethodDef *def, const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);
    va_end(va);
    if (args == NULL) {
        return NULL;
    }
    PyTaskletObject *t = spawn_def(def, args);
    Py_DECREF(args);
    return t;
}

static PyChannelObject *ch, *ch2;

/* ---- Tasklet bodies (they log) --------------------------------------------- */

/* (name, deadline): SleepUntil; logs "<name> woke" or the exception. */
BODY(w_sleep) {
    const char *n = arg_str(args, 0);
    if (PyStackless_SleepUntil(PyLong_AsLong(PyTuple_GetItem(args, 1))) < 0) {
        wlog("%s %s", n, take_exc_repr());
    } else {
        wlog("%s woke", n);
    }
    Py_RETURN_NONE;
}

/* (name, ch, value, deadline): SendUntil; logs "<name> sent" or the
 * exception. */
BODY(w_send_until) {
    const char *n = arg_str(args, 0);
    if (PyChannel_SendUntil((PyChannelObject *)PyTuple_GetItem(args, 1), PyTuple_GetItem(args, 2),
                            PyLong_AsLong(PyTuple_GetItem(args, 3))) < 0) {
        wlog("%s %s", n, take_exc_repr());
    } else {
        wlog("%s sent", n);
    }
    Py_RETURN_NONE;
}

/* RunUntil(-1), then logs "run None next=<NextDeadline()> <before-far|late>". */
static PyObject *run_and_log(int64_t far) {
    PyObject *r = PyStackless_RunUntil(-1);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    wlog("run None next=%lld %s", (long long)PyStackless_NextDeadline(),
         PyStackless_Now() < far ? "before-far" : "late");
    Py_RETURN_NONE;
}

/* ---- Kill, throw, raise_exception from another thread ----------------------- */

static PyTaskletObject *victims[4];

/* Sleepers S1, S2, a timed receiver R on ch and a timed sender W on ch2,
 * all with a FAR deadline; then RunUntil(-1). */
BODY(victims_worker) {
    (void)args;
    int64_t far = far_deadline();
    victims[0] = run_built(&w_sleep_def, "(sL)", "S1", (long long)far);
    victims[1] = victims[0] ? run_built(&w_sleep_def, "(sL)", "S2", (long long)far) : NULL;
    victims[2] = victims[1] ? run_built(&w_recv_until_def, "(sOL)", "R", ch, (long long)far) : NULL;
    victims[3] = victims[2] ? run_built(&w_send_until_def, "(sOOL)", "W", ch2, Py_None, (long long)far) : NULL;
    if (victims[3] == NULL) {
        set_stage(1);
        return NULL;
    }
    set_stage(1);
    return run_and_log(far);
}

/* EXTENSIONS §2 and §3 with SPEC §5.6/§6.3: from another thread these act
 * as pending; a timed waiter leaves its channel at once, every victim's
 * call fails with the exception, and no timer is left behind. */
TEST(remote_kill_throw_and_raise_reach_sleepers_and_timed_waiters) {
    worker w;
    reset();
    start_worker(&w, &victims_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    CHECK(victims[3] != NULL);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyChannel_GetBalance(ch2), 1);
    PyObject *k = Py_BuildValue("(s)", "k"), *text = PyUnicode_FromString("remote");
    CHECK_INT(PyTasklet_Kill(victims[0]), 0);
    CHECK_INT(PyTasklet_RaiseException(victims[1], PyExc_KeyError, k), 0);
    CHECK_INT(PyTasklet_Throw(victims[2], 0, PyExc_ValueError, text, NULL), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_KillEx(victims[3], 1), 0);
    CHECK_INT(PyChannel_GetBalance(ch2), 0);
    Py_DECREF(k);
    Py_DECREF(text);
    CHECK(join_worker(&w));
    CHECK_LOG("S1 TaskletExit() S2 KeyError('k') R ValueError('remote') W TaskletExit() "
              "run None next=-1 before-far");
    for (int i = 0; i < 4; i++) {
        CHECK_INT(PyTasklet_Alive(victims[i]), 0);
        Py_CLEAR(victims[i]);
    }
}

/* ---- A thread with timers will wake ------------------------------------------- */

BODY(sleeps_then_sends) {
    (void)args;
    set_stage(1);
    if (PyStackless_Sleep(50 * MS) < 0) {
        return NULL;
    }
    PyObject *v = PyUnicode_FromString("awake");
    int rc = PyChannel_Send(ch, v);
    Py_DECREF(v);
    return rc < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
}

BODY(receives_while_the_other_sleeps) {
    (void)args;
    set_stage(1);
    wait_stage(2);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL); /* let the other thread fall asleep */
    PyObject *v = PyChannel_Receive(ch);
    if (v == NULL) {
        wlog("worker %s", take_exc_repr());
        Py_RETURN_NONE;
    }
    wlog("worker got %s", harness_text(v, 0));
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* EXTENSIONS §2: SPEC §3.3 and §6.4 count a thread with timers as one that
 * will wake. Main blocks while the worker's only tasklet sleeps; then the
 * worker blocks while main sleeps. Neither gets the Deadlock error. */
TEST(a_sleeping_thread_is_no_deadlock_for_another) {
    worker w;
    reset();
    start_worker(&w, &sleeps_then_sends_def, WORKER_FINALIZES);
    wait_stage(1);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL); /* let the worker fall asleep */
    PyObject *v = PyChannel_Receive(ch);
    CHECK(v != NULL);
    CHECK_STR_OF(v, "awake");
    Py_DECREF(v);
    CHECK(join_worker(&w));

    reset();
    start_worker(&w, &receives_while_the_other_sleeps_def, WORKER_FINALIZES);
    wait_stage(1);
    set_stage(2);
    int64_t d = after_ms(50);
    CHECK_INT(PyStackless_SleepUntil(d), 0);
    CHECK_NOT_BEFORE(d);
    CHECK_LOG("");
    PyObject *x = PyUnicode_FromString("x");
    int rc = PyChannel_Send(ch, x);
    Py_DECREF(x);
    CHECK_INT(rc, 0);
    CHECK(join_worker(&w));
    CHECK_LOG("worker got x");
}

/* ---- RunUntil woken by a hand-off ----------------------------------------------- */

static PyTaskletObject *handoff[3];

/* (name): logs "<name> runs", kills handoff[1]. */
BODY(w_killer) {
    wlog("%s runs", arg_str(args, 0));
    return PyTasklet_Kill(handoff[1]) < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
}

/* R waits on ch and F sleeps, both until FAR; P is paused. RunUntil(-1). */
BODY(handoff_worker) {
    (void)args;
    int64_t far = far_deadline();
    handoff[0] = run_built(&w_recv_until_def, "(sOL)", "R", ch, (long long)far);
    handoff[1] = handoff[0] ? run_built(&w_sleep_def, "(sL)", "F", (long long)far) : NULL;
    handoff[2] = handoff[1] ? spawn_built(&w_killer_def, "(s)", "P") : NULL;
    if (handoff[2] == NULL || PyTasklet_Remove(handoff[2]) < 0) {
        set_stage(1);
        return NULL;
    }
    set_stage(1);
    return run_and_log(far);
}

/* EXTENSIONS §5: an idle RunUntil wakes for a channel partner of another
 * thread and for a tasklet another thread inserts, and returns when no
 * timed work is left. */
TEST(run_until_wakes_for_hand_offs_from_another_thread) {
    worker w;
    reset();
    start_worker(&w, &handoff_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    CHECK(handoff[2] != NULL);
    CHECK_INT(PyTasklet_Paused(handoff[2]), 1);
    PyObject *x = PyUnicode_FromString("x");
    int rc = PyChannel_Send(ch, x);
    Py_DECREF(x);
    CHECK_INT(rc, 0);
    CHECK_INT(PyTasklet_Insert(handoff[2]), 0);
    CHECK(join_worker(&w));
    CHECK_LOG("R got x P runs F TaskletExit() run None next=-1 before-far");
    for (int i = 0; i < 3; i++) {
        Py_CLEAR(handoff[i]);
    }
}

/* ---- The race of a partner and a deadline ------------------------------------- */

enum { ROUNDS = 1000 };

/* Per phase (0: main sends, the worker receives; 1: the reverse). */
static int sent[2][ROUNDS];     /* its SendUntil succeeded */
static int received[2][ROUNDS]; /* times received */
static long stats[2][6];        /* sends ok, sends timed out, receives ok, receives timed out,
                                   sends and receives timed out in the race's window (below) */
static int race_abort;          /* atomic: a side failed, the other stops */
static long race_progress[2];   /* atomic: operations done per phase, for the hang report */
static unsigned long long seed;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A deadline for one operation: a quarter already passed (a try), the rest
 * 0 to 63 microseconds away. */
static int64_t race_deadline(uint64_t *rng) {
    uint64_t r = rng_next(rng);
    if (r % 4 == 0) {
        return PyStackless_Now() - 1;
    }
    return PyStackless_Now() + (int64_t)((r >> 8) % 64) * 1000;
}

static int aborted(void) {
    if (__atomic_load_n(&race_abort, __ATOMIC_ACQUIRE)) {
        PyErr_SetString(PyExc_RuntimeError, "the other side of the race failed");
        return 1;
    }
    return 0;
}

static int fail_race(void) {
    __atomic_store_n(&race_abort, 1, __ATOMIC_RELEASE);
    return -1;
}

/* The window of the race, counted and printed, never asserted (timing): a
 * call whose deadline was still ahead when it began, and whose partner
 * arrived (began its operation on the channel) after that deadline had
 * passed but before the call returned. Either outcome is one: the call
 * timed out (race_window_hit, counted as it happens) or it succeeded
 * all the same (counted after the race from the times below). Per phase
 * and role (0: the sender, 1: the receiver): when that role last began an
 * operation. */
static int64_t race_arrival[2][2]; /* atomic */
/* Per phase and value: when its successful send began and its deadline,
 * and the same of the receive that got it (written by their own threads,
 * read after the join). */
static int64_t send_start[2][ROUNDS], send_deadline[2][ROUNDS];
static int64_t recv_start[2][ROUNDS], recv_deadline[2][ROUNDS];

/* Marks `role` arriving; returns the time. */
static int64_t race_arrive(int phase, int role) {
    int64_t now = PyStackless_Now();
    __atomic_store_n(&race_arrival[phase][role], now, __ATOMIC_SEQ_CST);
    return now;
}

/* Whether the partner arrived after `deadline` (one that was still ahead
 * at `start`) and before now: called right after a call that timed out. */
static int race_window_hit(int phase, int role, int64_t start, int64_t deadline) {
    int64_t now = PyStackless_Now();
    int64_t partner = __atomic_load_n(&race_arrival[phase][1 - role], __ATOMIC_SEQ_CST);
    return deadline > start && partner >= deadline && partner <= now;
}

/* Receives with deadlines until the sentinel None; counts every value. */
static int race_receive(int phase, uint64_t *rng) {
    for (;;) {
        if (aborted()) {
            return -1;
        }
        int64_t d = race_deadline(rng), start = race_arrive(phase, 1);
        PyObject *v = PyChannel_ReceiveUntil(ch, d);
        if (v == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_TimeoutError)) {
                return fail_race();
            }
            stats[phase][5] += race_window_hit(phase, 1, start, d);
            PyErr_Clear();
            stats[phase][3]++;
            continue;
        }
        if (v == Py_None) {
            Py_DECREF(v);
            return 0;
        }
        long i = PyLong_AsLong(v);
        Py_DECREF(v);
        if (i < 0 || i >= ROUNDS) {
            PyErr_SetString(PyExc_ValueError, "a value that was never sent");
            return fail_race();
        }
        received[phase][i]++;
        recv_start[phase][i] = start;
        recv_deadline[phase][i] = d;
        stats[phase][2]++;
        __atomic_add_fetch(&race_progress[phase], 1, __ATOMIC_RELAXED);
        hang_guard_progress();
    }
}

/* Sends 0 .. ROUNDS-1 once each with a deadline, then the sentinel None. */
static int race_send(int phase, uint64_t *rng) {
    for (long i = 0; i < ROUNDS; i++) {
        PyObject *v = PyLong_FromLong(i);
        int64_t d = race_deadline(rng), start = race_arrive(phase, 0);
        int rc = PyChannel_SendUntil(ch, v, d);
        Py_DECREF(v);
        if (rc == 0) {
            sent[phase][i] = 1;
            send_start[phase][i] = start;
            send_deadline[phase][i] = d;
            stats[phase][0]++;
        } else if (PyErr_ExceptionMatches(PyExc_TimeoutError)) {
            stats[phase][4] += race_window_hit(phase, 0, start, d);
            PyErr_Clear();
            stats[phase][1]++;
        } else {
            return fail_race();
        }
        __atomic_add_fetch(&race_progress[phase], 1, __ATOMIC_RELAXED);
        hang_guard_progress();
    }
    for (;;) {
        if (aborted()) {
            return -1;
        }
        race_arrive(phase, 0);
        if (PyChannel_SendUntil(ch, Py_None, after_ms(100)) == 0) {
            return 0;
        }
        if (!PyErr_ExceptionMatches(PyExc_TimeoutError)) {
            return fail_race();
        }
        PyErr_Clear();
    }
}

BODY(race_worker) {
    (void)args;
    uint64_t rng = seed * 2 + 1;
    set_stage(1);
    if (race_receive(0, &rng) < 0 || race_send(1, &rng) < 0) {
        fail_race();
        return NULL;
    }
    wlog("worker next=%lld", (long long)PyStackless_NextDeadline());
    Py_RETURN_NONE;
}

/* EXTENSIONS §3: a partner and the deadline arriving together from another
 * thread give exactly one outcome. Each value is received exactly as often
 * as its send succeeded (once, or never). Afterwards neither thread has a
 * timer left (§6: NextDeadline counts only the sleepers and timed waits
 * there are). On stderr: how many calls had their partner arrive past
 * their deadline, by outcome (timed out, succeeded), to show that the
 * race's window is hit. */
TEST(partner_and_deadline_race_loses_and_duplicates_nothing) {
    worker w;
    reset();
    uint64_t rng = seed * 2 + 2;
    start_worker(&w, &race_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    int rc = race_send(0, &rng);
    if (rc == 0) {
        rc = race_receive(1, &rng);
    }
    int64_t main_next = PyStackless_NextDeadline();
    if (rc < 0) {
        fail_race();
        harness_fail(__FILE__, __LINE__, error_text());
    }
    CHECK(join_worker(&w));
    CHECK_INT(rc, 0);
    for (int phase = 0; phase < 2; phase++) {
        for (int i = 0; i < ROUNDS; i++) {
            if (received[phase][i] != sent[phase][i]) {
                char m[256];
                snprintf(m, sizeof m, "seed=%llu phase %d: value %d sent %d time(s), received %d time(s)", seed,
                         phase, i, sent[phase][i], received[phase][i]);
                harness_fail(__FILE__, __LINE__, m);
                return;
            }
        }
        CHECK_INT(stats[phase][0] + stats[phase][1], ROUNDS);
        CHECK_INT(stats[phase][2], stats[phase][0]);
        printf("    phase %d: %ld sent, %ld sends timed out, %ld receives timed out\n", phase, stats[phase][0],
               stats[phase][1], stats[phase][3]);
    }
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(main_next, -1);
    CHECK_LOG("worker next=-1");
    for (int phase = 0; phase < 2; phase++) {
        long late_sends = 0, late_receives = 0;
        for (int i = 0; i < ROUNDS; i++) {
            if (!sent[phase][i]) {
                continue;
            }
            late_sends += send_deadline[phase][i] > send_start[phase][i] &&
                          recv_start[phase][i] >= send_deadline[phase][i];
            late_receives += recv_deadline[phase][i] > recv_start[phase][i] &&
                             send_start[phase][i] >= recv_deadline[phase][i];
        }
        fprintf(stderr,
                "    seed=%llu phase %d: partner arrived past the deadline: timed out %ld sends, %ld receives; "
                "succeeded %ld sends, %ld receives\n",
                seed, phase, stats[phase][4], stats[phase][5], late_sends, late_receives);
    }
}

/* ---- Timed waiters when their thread ends -------------------------------- */

/* One run: the worker's order of running S and R ("SR" or "RS"), whether it
 * keeps its references to them (in waiters[]) or drops them (then only the
 * timer and the channel hold them), the channel R waits on, and FAR. */
static const char *waiters_order;
static int waiters_keep;
static PyTaskletObject *waiters[2];
static PyChannelObject *waiters_ch;
static int64_t waiters_far;

/* Sets up S (SleepUntil(FAR)) and R (ReceiveUntil(waiters_ch, FAR)), in
 * this order, pauses both, runs them in waiters_order until they wait,
 * logs "<order> <kept|dropped>: balance=<b> next=<far|other>
 * runcount=<n>", keeps or drops its references, logs "returns" and
 * returns: only the thread's end is left to end S and R. */
BODY(timed_waiters_worker) {
    (void)args;
    int64_t far = waiters_far = far_deadline();
    PyTaskletObject *s = spawn_built(&w_sleep_def, "(sL)", "S", (long long)far);
    PyTaskletObject *r = s ? spawn_built(&w_recv_until_def, "(sOL)", "R", waiters_ch, (long long)far) : NULL;
    /* Paused, so that each runs only when Run says. */
    if (r == NULL || PyTasklet_Remove(s) < 0 || PyTasklet_Remove(r) < 0) {
        Py_XDECREF(s);
        Py_XDECREF(r);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (PyTasklet_Run(waiters_order[i] == 'S' ? s : r) < 0) {
            Py_DECREF(s);
            Py_DECREF(r);
            return NULL;
        }
    }
    int64_t next = PyStackless_NextDeadline();
    wlog("%s %s: balance=%d next=%s runcount=%d", waiters_order, waiters_keep ? "kept" : "dropped",
         PyChannel_GetBalance(waiters_ch), next == far ? "far" : "other", PyStackless_GetRunCount());
    if (waiters_keep) {
        waiters[0] = s;
        waiters[1] = r;
    } else {
        Py_DECREF(s);
        Py_DECREF(r);
    }
    wlog("returns");
    Py_RETURN_NONE;
}

/* One run of the worker above, ending as `end` says, then the checks from
 * main (the case's thread). */
static void check_thread_end_kills_timed_waiters(enum worker_end end, const char *order, int keep) {
    worker w;
    reset();
    waiters_order = order;
    waiters_keep = keep;
    waiters[0] = waiters[1] = NULL;
    waiters_ch = PyChannel_New(NULL);
    CHECK(waiters_ch != NULL);
    long uncollectable = (long)PyStackless_GetUncollectableCount();
    start_worker(&w, &timed_waiters_worker_def, end);
    CHECK(join_worker(&w));
    /* The thread's end did not wait for the timers: FAR is 30 s away (a
     * hang instead is the hang guard's to catch). */
    CHECK(PyStackless_Now() < waiters_far);
    /* SPEC §7.6 (PyStackless_Finalize; the thread-exit destructor gives
     * the same treatment, §6.6): the started tasklets are killed "one at a
     * time, in the order in which they were last switched out, the
     * longest-suspended first". S and R are set up S first; the order in
     * which they ran (and so were switched out) decides, not that. */
    char expected[256];
    const char *first = order[0] == 'S' ? "S" : "R", *second = order[0] == 'S' ? "R" : "S";
    snprintf(expected, sizeof expected,
             "%s %s: balance=-1 next=far runcount=1 returns %s TaskletExit() %s TaskletExit()", order,
             keep ? "kept" : "dropped", first, second);
    CHECK_LOG(expected);
    for (int i = 0; i < 2 && keep; i++) {
        CHECK_INT(PyTasklet_Alive(waiters[i]), 0);
        Py_CLEAR(waiters[i]);
    }
    CHECK_INT((long)PyStackless_GetUncollectableCount() - uncollectable, 0);
    /* R left the channel: nobody to take a value, so a send with a passed
     * deadline is a try that fails at once and keeps no reference. */
    CHECK_INT(PyChannel_GetBalance(waiters_ch), 0);
    PyObject *q = PyChannel_GetQueue(waiters_ch);
    CHECK(q == Py_None);
    Py_DECREF(q);
    PyObject *v = Py_BuildValue("(s)", "v");
    Py_ssize_t refs = Py_REFCNT(v);
    CHECK_INT(PyChannel_SendUntil(waiters_ch, v, 0), -1);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(Py_REFCNT(v), refs);
    Py_DECREF(v);
    CHECK_INT(PyChannel_GetBalance(waiters_ch), 0);
    Py_CLEAR(waiters_ch);
}

/* EXTENSIONS §2 and §3 with SPEC §7.6: a thread that finalizes kills its
 * sleeper and its timed receiver (TaskletExit, longest-suspended first),
 * does not wait for their deadline, and leaves the channel with no waiter,
 * whether the test or only the timer and the channel hold them. */
TEST(finalize_kills_a_sleeper_and_a_timed_receiver) {
    const char *orders[] = {"SR", "RS"};
    for (int i = 0; i < 4 && !harness_case_failed; i++) {
        check_thread_end_kills_timed_waiters(WORKER_FINALIZES, orders[i % 2], i < 2);
    }
}

/* The same when the thread ends without PyStackless_Finalize: its
 * thread-exit destructor gives the same treatment (SPEC §7.6, §6.6). */
TEST(thread_exit_kills_a_sleeper_and_a_timed_receiver) {
    const char *orders[] = {"SR", "RS"};
    for (int i = 0; i < 4 && !harness_case_failed; i++) {
        check_thread_end_kills_timed_waiters(WORKER_EXITS, orders[i % 2], i < 2);
    }
}

/* ---- A sleeper that survives its thread's end --------------------------- */

static int stubborn_kills;

/* Sleeps far, again after each kill (it catches TaskletExit). */
static PyObject *stubborn_sleeper(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    while (PyStackless_SleepUntil(far_deadline()) < 0) {
        PyErr_Clear();
        stubborn_kills++;
    }
    Py_RETURN_NONE;
}

static PyMethodDef stubborn_def = {"stubborn_sleeper", stubborn_sleeper, METH_VARARGS, NULL};

/* The function of the uncollectable tasklet, which keeps it forever: held
 * here too, so that the leak checkers see it reachable. */
static PyObject *stubborn_func;

/* A thread whose one tasklet sleeps, then the thread finalizes. */
static void *stubborn_thread(void *arg) {
    (void)arg;
    PyObject *args = PyTuple_New(0);
    stubborn_func = PyCFunction_New(&stubborn_def, NULL);
    PyTaskletObject *t = spawn_func(stubborn_func, args);
    Py_DECREF(args);
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_XDECREF(r);
    Py_DECREF(t);
    PyStackless_Finalize();
    return NULL;
}

/* The thread's end kills the sleeper; it sleeps again: it is left off its
 * timer, paused and counted uncollectable (as a runnable survivor is), not
 * lost with the thread's timers. */
TEST(a_sleeper_that_survives_its_thread_is_uncollectable) {
    long before = (long)PyStackless_GetUncollectableCount();
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, stubborn_thread, NULL), 0);
    CHECK_INT(pthread_join(th, NULL), 0);
    CHECK_INT(stubborn_kills, 1);
    CHECK_INT((long)PyStackless_GetUncollectableCount() - before, 1);
}

static void context(char *buf, size_t size) {
    snprintf(buf, size, "    case %s, seed=%llu, race operations %ld + %ld", harness_case ? harness_case : "-",
             seed, __atomic_load_n(&race_progress[0], __ATOMIC_RELAXED),
             __atomic_load_n(&race_progress[1], __ATOMIC_RELAXED));
}

int main(void) {
    seed = (unsigned long long)env_long("TIME_SEED", 1);
    hang_guard_start("test_time_threads", (int)env_long("TIME_LIMIT_S", 120), 40, context);
    ch = PyChannel_New(NULL);
    ch2 = PyChannel_New(NULL);
    RUN_INSIDE(remote_kill_throw_and_raise_reach_sleepers_and_timed_waiters);
    hang_guard_progress();
    RUN_INSIDE(a_sleeping_thread_is_no_deadlock_for_another);
    hang_guard_progress();
    RUN_INSIDE(run_until_wakes_for_hand_offs_from_another_thread);
    hang_guard_progress();
    RUN_INSIDE(partner_and_deadline_race_loses_and_duplicates_nothing);
    hang_guard_progress();
    RUN_INSIDE(finalize_kills_a_sleeper_and_a_timed_receiver);
    hang_guard_progress();
    RUN_INSIDE(thread_exit_kills_a_sleeper_and_a_timed_receiver);
    hang_guard_progress();
    RUN(a_sleeper_that_survives_its_thread_is_uncollectable);
    Py_DECREF(ch);
    Py_DECREF(ch2);
    PyStackless_Finalize();
    return harness_summary("test_time_threads");
}
