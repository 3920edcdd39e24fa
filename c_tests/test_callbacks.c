/*
 * The schedule callback and the fast callback (SPEC §5.9, §8.4):
 * sequences, the current tasklet during the call, (NULL, main) at main
 * creation, errors reported as unraisable. Scenarios S49 (its non-channel
 * parts), S50, S51.
 */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Helpers --------------------------------------------------------- */

/* The schedule callback of most cases: traces (prev>next,cur=current). */
static PyObject *sched_cb(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *cur = PyStackless_GetCurrent();
    trace("cb(%s>%s,cur=%s)", name_of(PyTuple_GetItem(args, 0)), name_of(PyTuple_GetItem(args, 1)), name_of(cur));
    Py_XDECREF(cur);
    Py_RETURN_NONE;
}

static int install(PyCFunction f, const char *fname) {
    PyObject *cb = cfunc_named(f, fname);
    int rc = PyStackless_SetScheduleCallback(cb);
    Py_DECREF(cb);
    return rc;
}
#define INSTALL(f) install((f), #f)

static void uninstall(void) {
    PyStackless_SetScheduleCallback(NULL);
}

/* The fast hook: counts calls and traces (from>to). */
static int hook_calls;

static int counting_hook(PyTaskletObject *from, PyTaskletObject *to) {
    hook_calls++;
    trace("(%s>%s)", name_of((PyObject *)from), name_of((PyObject *)to));
    return 0;
}

/* Everything written to stderr between capture_start and capture_end. */
static char captured[8192];
static FILE *capture_file;
static int saved_stderr = -1;

static void capture_start(void) {
    fflush(stderr);
    capture_file = tmpfile();
    saved_stderr = dup(2);
    dup2(fileno(capture_file), 2);
}

static void capture_end(void) {
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    rewind(capture_file);
    size_t n = fread(captured, 1, sizeof captured - 1, capture_file);
    captured[n] = '\0';
    fclose(capture_file);
}

#define CHECK_CAPTURED(text)                                                   \
    do {                                                                       \
        if (strstr(captured, (text)) == NULL) {                                \
            char m_[1024];                                                     \
            snprintf(m_, sizeof m_, "stderr \"%.400s\" lacks \"%s\"", captured, (text)); \
            harness_fail(__FILE__, __LINE__, m_);                              \
            return;                                                            \
        }                                                                      \
    } while (0)

/* step(name): trace "<name> start"; Schedule; trace "<name> end". */
static PyObject *step(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s start", n);
    if (schedule() < 0) {
        return NULL;
    }
    trace("%s end", n);
    Py_RETURN_NONE;
}

/* thrice(name): 3 x Schedule. */
static PyObject *thrice(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (int i = 0; i < 3; i++) {
        if (schedule() < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

#define SPAWN(f, n) spawn_named((f), #f, (n), NULL)

#define BEGIN()                                                                \
    do {                                                                       \
        names_reset();                                                         \
        hook_calls = 0;                                                        \
    } while (0)

/* ---- Setter and getter (§5.9, §8.4) ------------------------------------- */

/* S49: initially none; setting stores a new reference and releases the
 * old one; NULL removes. */
TEST(setter_and_getter) {
    CHECK(PyStackless_GetScheduleCallback() == NULL);
    CHECK_NO_ERROR();
    PyObject *cb = cfunc(sched_cb), *cb2 = cfunc(step);
    Py_ssize_t r0 = Py_REFCNT(cb), r2 = Py_REFCNT(cb2);
    CHECK_INT(PyStackless_SetScheduleCallback(cb), 0);
    CHECK_INT(Py_REFCNT(cb), r0 + 1);
    PyObject *got = PyStackless_GetScheduleCallback();
    CHECK_PTR(got, cb);
    Py_DECREF(got);
    CHECK_INT(PyStackless_SetScheduleCallback(cb2), 0);
    CHECK_INT(Py_REFCNT(cb), r0);
    CHECK_INT(Py_REFCNT(cb2), r2 + 1);
    got = PyStackless_GetScheduleCallback();
    CHECK_PTR(got, cb2);
    Py_DECREF(got);
    CHECK_INT(PyStackless_SetScheduleCallback(NULL), 0);
    CHECK_INT(Py_REFCNT(cb2), r2);
    CHECK(PyStackless_GetScheduleCallback() == NULL);
    CHECK_NO_ERROR();
    Py_DECREF(cb);
    Py_DECREF(cb2);
}

/* §5.9: a non-callable (None included) is a TypeError; nothing changes. */
TEST(setter_rejects_non_callables) {
    PyObject *cb = cfunc(sched_cb);
    CHECK_INT(PyStackless_SetScheduleCallback(cb), 0);
    PyObject *five = PyLong_FromLong(5);
    CHECK_INT(PyStackless_SetScheduleCallback(five), -1);
    CHECK_ERROR(PyExc_TypeError, "schedule callback must be callable");
    Py_DECREF(five);
    CHECK_INT(PyStackless_SetScheduleCallback(Py_None), -1);
    CHECK_ERROR(PyExc_TypeError, "schedule callback must be callable");
    PyObject *got = PyStackless_GetScheduleCallback();
    CHECK_PTR(got, cb);
    Py_DECREF(got);
    uninstall();
    Py_DECREF(cb);
}

/* ---- Sequences (S49) --------------------------------------------------- */

/* S49: run() over A (schedules once) and B (no switch). */
TEST(sequence_of_run) {
    BEGIN();
    PyTaskletObject *a = SPAWN(step, "A"), *b = SPAWN(straight, "B");
    CHECK_INT(INSTALL(sched_cb), 0);
    PyObject *r = PyStackless_RunWatchdog(0);
    uninstall();
    CHECK_NONE(r);
    CHECK_TRACE("cb(main>A,cur=main) A start cb(A>B,cur=A) B start B end cb(B>A,cur=B) A end "
                "cb(A>main,cur=A)");
    Py_DECREF(a);
    Py_DECREF(b);
}

static PyObject *raise_zero_division(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyErr_SetString(PyExc_ZeroDivisionError, "E");
    return NULL;
}

/* S49: a tasklet dying with an exception is reported as (E, main). */
TEST(sequence_of_uncaught_exception) {
    BEGIN();
    PyTaskletObject *e = spawn(raise_zero_division);
    name_object(e, "E");
    CHECK_INT(INSTALL(sched_cb), 0);
    PyObject *r = PyStackless_RunWatchdog(0);
    uninstall();
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_ZeroDivisionError, "E");
    CHECK_TRACE("cb(main>E,cur=main) cb(E>main,cur=E)");
    Py_DECREF(e);
}

/* pausing: Schedule(None, 1); traces TaskletExit when killed. */
static PyObject *pausing(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *r = PyStackless_Schedule(Py_None, 1);
    if (r == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TaskletExit)) {
            trace("K TaskletExit");
        }
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* S49: kill of a paused tasklet: (main, K), K's handler, (K, main). */
TEST(sequence_of_kill) {
    BEGIN();
    PyTaskletObject *k = spawn(pausing);
    name_object(k, "K");
    CHECK_INT(PyTasklet_Run(k), 0);
    CHECK_INT(PyTasklet_Paused(k), 1);
    CHECK_INT(INSTALL(sched_cb), 0);
    int rc = PyTasklet_Kill(k);
    uninstall();
    CHECK_INT(rc, 0);
    CHECK_TRACE("cb(main>K,cur=main) K TaskletExit cb(K>main,cur=K)");
    CHECK_INT(PyTasklet_Alive(k), 0);
    Py_DECREF(k);
}

static PyTaskletObject *ticker_t;

static PyObject *ticking(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (int i = 0; i < 100; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
    }
    trace("T done");
    Py_RETURN_NONE;
}

/* §5.9: interrupts are real switches and are reported. */
TEST(sequence_of_hard_interrupt) {
    BEGIN();
    ticker_t = spawn(ticking);
    name_object(ticker_t, "T");
    CHECK_INT(INSTALL(sched_cb), 0);
    PyObject *r = PyStackless_RunWatchdog(10);
    int rc = PyTasklet_Insert(ticker_t);
    PyObject *r2 = PyStackless_RunWatchdog(0);
    uninstall();
    CHECK_PTR(r, ticker_t);
    Py_DECREF(r);
    CHECK_INT(rc, 0);
    CHECK_NONE(r2);
    CHECK_TRACE("cb(main>T,cur=main) cb(T>main,cur=T) cb(main>T,cur=main) T done cb(T>main,cur=T)");
    Py_CLEAR(ticker_t);
}

/* slicing(name): 100 ticks; trace; Schedule; trace. */
static PyObject *slicing(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    for (int i = 0; i < 100; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
    }
    trace("%s sliced", n);
    if (schedule() < 0) {
        return NULL;
    }
    trace("%s end", n);
    Py_RETURN_NONE;
}

/* §5.9: the callback runs after soft-interrupt processing: A's schedule
 * is reported as (A, main), not (A, B). */
TEST(sequence_of_soft_interrupt) {
    BEGIN();
    PyTaskletObject *a = SPAWN(slicing, "A"), *b = SPAWN(straight, "B");
    CHECK_INT(INSTALL(sched_cb), 0);
    PyObject *r = PyStackless_RunWatchdogEx(10, PY_WATCHDOG_SOFT);
    PyObject *r2 = PyStackless_RunWatchdog(0);
    uninstall();
    CHECK_NONE(r);
    CHECK_NONE(r2);
    CHECK_TRACE("cb(main>A,cur=main) A sliced cb(A>main,cur=A) cb(main>B,cur=main) B start B end "
                "cb(B>A,cur=B) A end cb(A>main,cur=A)");
    Py_DECREF(a);
    Py_DECREF(b);
}

/* §5.9: no callback for no-op switches. */
TEST(no_callback_without_a_real_switch) {
    BEGIN();
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    CHECK_INT(INSTALL(sched_cb), 0);
    PyObject *r1 = PyStackless_Schedule(Py_None, 0);
    PyObject *r2 = PyStackless_Schedule(Py_None, 1);
    PyObject *r3 = PyStackless_RunWatchdog(0);
    PyObject *r4 = PyStackless_RunWatchdog(100);
    int rc1 = PyTasklet_Run(main);
    int rc2 = PyTasklet_Switch(main);
    uninstall();
    Py_DECREF(main);
    CHECK_NONE(r1);
    CHECK_NONE(r2);
    CHECK_NONE(r3);
    CHECK_NONE(r4);
    CHECK_INT(rc1, 0);
    CHECK_INT(rc2, 0);
    CHECK_TRACE("");
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

/* ---- Main creation (§2.4, §7.3) ---------------------------------------- */

static PyObject *body(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *cur = PyStackless_GetCurrent();
    trace("body cur=%s", name_of(cur));
    Py_XDECREF(cur);
    Py_RETURN_NONE;
}

/* §5.9: (None, main) with current == main at creation; nothing at main's
 * end. */
TEST(main_creation_is_reported) {
    BEGIN();
    trace_reset();
    CHECK_INT(INSTALL(sched_cb), 0);
    PyObject *f = cfunc(body);
    PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
    PyObject *r2 = PyStackless_Call_Main(f, NULL, NULL);
    uninstall();
    Py_DECREF(f);
    CHECK_NONE(r);
    CHECK_NONE(r2);
    CHECK_TRACE("cb(None>main,cur=main) body cur=main cb(None>main,cur=main) body cur=main");
}

/* S49: a new thread entering the runtime reports (None, its main). */
static char thread_trace[256];

static PyObject *thread_body(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    trace("thread body");
    Py_RETURN_NONE;
}

static void *thread_main(void *arg) {
    (void)arg;
    PyObject *f = cfunc(thread_body);
    PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
    Py_DECREF(f);
    trace("result=%s", r == Py_None ? "None" : "?");
    Py_XDECREF(r);
    PyStackless_Finalize();
    snprintf(thread_trace, sizeof thread_trace, "%.200s", trace_buf);
    return NULL;
}

TEST(new_thread_reports_its_main) {
    BEGIN();
    trace_reset();
    CHECK_INT(INSTALL(sched_cb), 0);
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, thread_main, NULL), 0);
    CHECK_INT(pthread_join(th, NULL), 0);
    uninstall();
    CHECK_STR(thread_trace, "cb(None>main,cur=main) thread body result=None");
}

/* ---- Inside the callback (§5.9) --------------------------------------- */

/* Traces the nesting level of the current tasklet and ticks: inside the
 * callback schedlock is set and the nesting level is 1, so no interrupt. */
static PyObject *ticking_cb(PyObject *self, PyObject *args) {
    (void)self;
    PyTaskletObject *prev = (PyTaskletObject *)PyTuple_GetItem(args, 0);
    PyObject *cur = PyStackless_GetCurrent();
    int failures = 0;
    for (int i = 0; i < 50; i++) {
        failures += PyStackless_Tick(1) != 0;
    }
    trace("cb(%s) nesting=%d pending=%d failures=%d", cur == (PyObject *)prev ? "cur=prev" : "?",
          PyTasklet_GetNestingLevel((PyTaskletObject *)cur), PyTasklet_GetPendingIrq(prev), failures);
    Py_XDECREF(cur);
    Py_RETURN_NONE;
}

TEST(inside_the_callback) {
    BEGIN();
    PyTaskletObject *a = SPAWN(straight, "A");
    CHECK_INT(INSTALL(ticking_cb), 0);
    PyObject *r = PyStackless_RunWatchdog(10);
    uninstall();
    CHECK_NONE(r);
    CHECK_TRACE("cb(cur=prev) nesting=1 pending=1 failures=0 A start A end "
                "cb(cur=prev) nesting=1 pending=1 failures=0");
    PyTaskletObject *main = (PyTaskletObject *)PyStackless_GetMain();
    CHECK_INT(PyTasklet_GetNestingLevel(main), 0);
    Py_DECREF(main);
    Py_DECREF(a);
}

/* The error indicator of the switching code is saved around the call. */
static PyObject *error_checking_cb(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    trace("cb error=%s", PyErr_Occurred() == NULL ? "none" : "set");
    Py_RETURN_NONE;
}

TEST(callback_sees_no_pending_error) {
    BEGIN();
    PyTaskletObject *e = spawn(raise_zero_division);
    CHECK_INT(INSTALL(error_checking_cb), 0);
    PyObject *r = PyStackless_RunWatchdog(0);
    uninstall();
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_ZeroDivisionError, "E");
    CHECK_TRACE("cb error=none cb error=none");
    Py_DECREF(e);
}

/* Inserts `extra` during the first callback; traces the run count. */
static PyTaskletObject *extra;

static PyObject *inserting_cb(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (extra != NULL && PyTasklet_Paused(extra)) {
        PyObject *cur = PyStackless_GetCurrent();
        trace("cb cur=%s runcount=%d", name_of(cur), PyStackless_GetRunCount());
        Py_XDECREF(cur);
        if (PyTasklet_Insert(extra) < 0) {
            return NULL;
        }
        trace("runcount=%d", PyStackless_GetRunCount());
    }
    Py_RETURN_NONE;
}

/* §5.9: the callback may make a tasklet runnable; it is appended at the
 * tail of the ring, even while prev (main, inside run()) is out of it. */
TEST(callback_may_insert) {
    BEGIN();
    PyTaskletObject *a = SPAWN(straight, "A");
    PyObject *f = cfunc(straight);
    PyObject *args = Py_BuildValue("(s)", "X");
    extra = PyTasklet_New(NULL, f);
    CHECK_INT(PyTasklet_BindEx(extra, NULL, args, NULL), 0);
    Py_DECREF(args);
    Py_DECREF(f);
    CHECK_INT(PyTasklet_Paused(extra), 1);
    CHECK_INT(INSTALL(inserting_cb), 0);
    PyObject *r = PyStackless_RunWatchdog(0);
    uninstall();
    CHECK_NONE(r);
    CHECK_TRACE("cb cur=main runcount=1 runcount=2 A start A end X start X end");
    CHECK_INT(PyTasklet_Alive(extra), 0);
    Py_CLEAR(extra);
    Py_DECREF(a);
}

/* Traces what the callback sees of prev: alive, scheduled, the run count. */
static PyObject *state_cb(PyObject *self, PyObject *args) {
    (void)self;
    PyTaskletObject *prev = (PyTaskletObject *)PyTuple_GetItem(args, 0);
    trace("cb(%s>%s) alive=%d scheduled=%d runcount=%d", name_of((PyObject *)prev),
          name_of(PyTuple_GetItem(args, 1)), PyTasklet_Alive(prev), PyTasklet_Scheduled(prev),
          PyStackless_GetRunCount());
    Py_RETURN_NONE;
}

static PyObject *ends_at_once(PyObject *self, PyObject *args) {
    (void)self;
    trace("%s ran", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* §2.5 steps 2-4 (found by differential testing against Stackless): when
 * the callback sees the last switch of a finished tasklet, the tasklet has
 * already left the runnables and is dead: not counted, not alive, not
 * scheduled. */
TEST(callback_sees_the_dying_tasklet_dead) {
    BEGIN();
    PyTaskletObject *a = spawn_named(ends_at_once, "ends_at_once", "A", NULL);
    CHECK_INT(INSTALL(state_cb), 0);
    PyObject *r = PyStackless_RunWatchdog(0);
    uninstall();
    CHECK_NONE(r);
    CHECK_TRACE("cb(main>A) alive=1 scheduled=0 runcount=1 A ran "
                "cb(A>main) alive=0 scheduled=0 runcount=1");
    Py_DECREF(a);
}

/* ---- Errors (S50) ------------------------------------------------------ */

/* S50: raises RuntimeError("scheduleCallback") when next is main. */
static PyObject *failing_cb(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *main = PyStackless_GetMain();
    Py_DECREF(main);
    if (PyTuple_GetItem(args, 1) == main) {
        PyErr_SetString(PyExc_RuntimeError, "scheduleCallback");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* S50 */
TEST(failing_callback_is_unraisable) {
    BEGIN();
    PyTaskletObject *t = SPAWN(straight, "T");
    CHECK_INT(INSTALL(failing_cb), 0);
    capture_start();
    PyObject *r = PyStackless_RunWatchdog(0);
    capture_end();
    uninstall();
    CHECK_NONE(r);
    CHECK_NO_ERROR();
    CHECK_TRACE("T start T end");
    CHECK_CAPTURED("Error in scheduling callback");
    CHECK_CAPTURED("RuntimeError: scheduleCallback");
    CHECK_INT(PyTasklet_Alive(t), 0);
    Py_DECREF(t);
}

static int failing_hook(PyTaskletObject *from, PyTaskletObject *to) {
    trace("(%s>%s)", name_of((PyObject *)from), name_of((PyObject *)to));
    PyErr_SetString(PyExc_ValueError, "fast hook failed");
    return -1;
}

/* §5.9: a non-zero return of the fast hook is reported and cleared; the
 * switch proceeds. */
TEST(failing_fast_hook_is_unraisable) {
    BEGIN();
    PyTaskletObject *t = SPAWN(straight, "T");
    PyStackless_SetScheduleFastcallback(failing_hook);
    capture_start();
    PyObject *r = PyStackless_RunWatchdog(0);
    capture_end();
    PyStackless_SetScheduleFastcallback(NULL);
    CHECK_NONE(r);
    CHECK_NO_ERROR();
    CHECK_TRACE("(main>T) T start T end (T>main)");
    CHECK_CAPTURED("Error in scheduling callback");
    CHECK_CAPTURED("ValueError: fast hook failed");
    CHECK(strstr(strstr(captured, "fast hook failed") + 1, "fast hook failed") != NULL);
    Py_DECREF(t);
}

/* §5.9: a switch from inside the callback is a fatal error. Checked in a
 * child process. */
static PyObject *switching_cb(PyObject *self, PyObject *args) {
    (void)self;
    if (PyTuple_GetItem(args, 0) == Py_None) {
        Py_RETURN_NONE;
    }
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    Py_XDECREF(r);
    Py_RETURN_NONE;
}

static PyObject *spawn_and_run(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *t = SPAWN(straight, "T");
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_DECREF(t);
    return r;
}

/* A callback that blocks on a channel nobody sends on. */
static PyObject *blocking_cb(PyObject *self, PyObject *args) {
    (void)self;
    if (PyTuple_GetItem(args, 0) == Py_None) {
        Py_RETURN_NONE;
    }
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *r = PyChannel_Receive(ch);
    Py_XDECREF(r);
    Py_DECREF(ch);
    Py_RETURN_NONE;
}

/* Runs a tasklet under RunWatchdog with the schedule callback `cb` in a
 * child, which must abort with the fatal message. */
static void expect_fatal_callback(PyCFunction cb, const char *name) {
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        install(cb, name);
        PyObject *f = cfunc(spawn_and_run);
        PyStackless_Call_Main(f, NULL, NULL);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], captured + len, sizeof captured - 1 - len)) > 0) {
        len += (size_t)n;
    }
    captured[len] = '\0';
    close(fds[0]);
    int status = 0;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status));
    CHECK_INT(WTERMSIG(status), SIGABRT);
    CHECK_CAPTURED("Recursive scheduler call due to callbacks!");
}

TEST(switch_inside_callback_is_fatal) {
    expect_fatal_callback(switching_cb, "switching_cb");
}

TEST(blocking_inside_callback_is_fatal) {
    expect_fatal_callback(blocking_cb, "blocking_cb");
}

/* ---- The fast callback (S51) --------------------------------------------- */

/* S51: two tasklets each scheduling 3 times: 9 switches, exactly. */
TEST(fast_callback_counts_switches) {
    BEGIN();
    PyTaskletObject *a = SPAWN(thrice, "A"), *b = SPAWN(thrice, "B");
    PyStackless_SetScheduleFastcallback(counting_hook);
    PyObject *r = PyStackless_RunWatchdog(0);
    PyStackless_SetScheduleFastcallback(NULL);
    CHECK_NONE(r);
    CHECK_INT(hook_calls, 9);
    CHECK_TRACE("(main>A) (A>B) (B>A) (A>B) (B>A) (A>B) (B>A) (A>B) (B>main)");
    Py_DECREF(a);
    Py_DECREF(b);
}

/* §5.9: the fast hook replaces the callable's hook (the callable stays
 * registered); installing a callable replaces the fast hook; removing the
 * callable removes both; SetScheduleFastcallback(NULL) disables. */
TEST(fast_callback_and_callable_replace_each_other) {
    BEGIN();
    PyObject *cb = cfunc(sched_cb);
    PyTaskletObject *a = SPAWN(straight, "A");
    CHECK_INT(PyStackless_SetScheduleCallback(cb), 0);
    PyStackless_SetScheduleFastcallback(counting_hook);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("(main>A) A start A end (A>main)");
    PyObject *got = PyStackless_GetScheduleCallback();
    CHECK_PTR(got, cb);
    Py_DECREF(got);
    Py_DECREF(a);

    trace_reset();
    a = SPAWN(straight, "A");
    CHECK_INT(PyStackless_SetScheduleCallback(cb), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("cb(main>A,cur=main) A start A end cb(A>main,cur=A)");
    Py_DECREF(a);

    trace_reset();
    a = SPAWN(straight, "A");
    PyStackless_SetScheduleFastcallback(NULL);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("A start A end");
    got = PyStackless_GetScheduleCallback();
    CHECK_PTR(got, cb);
    Py_DECREF(got);
    Py_DECREF(a);

    trace_reset();
    a = SPAWN(straight, "A");
    PyStackless_SetScheduleFastcallback(counting_hook);
    CHECK_INT(PyStackless_SetScheduleCallback(NULL), 0);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("A start A end");
    CHECK(PyStackless_GetScheduleCallback() == NULL);
    CHECK_NO_ERROR();
    CHECK_INT(hook_calls, 2);
    Py_DECREF(a);
    Py_DECREF(cb);
}

/* §8.4: `from` is NULL when a main tasklet is created. */
TEST(fast_callback_at_main_creation) {
    BEGIN();
    trace_reset();
    PyStackless_SetScheduleFastcallback(counting_hook);
    PyObject *f = cfunc(body);
    PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
    PyStackless_SetScheduleFastcallback(NULL);
    Py_DECREF(f);
    CHECK_NONE(r);
    CHECK_TRACE("(NULL>main) body cur=main");
    CHECK_INT(hook_calls, 1);
}

int main(void) {
    alarm(120); /* it starts threads: a hang is a failure, never a stuck run */
    RUN(setter_and_getter);
    RUN(setter_rejects_non_callables);
    RUN_INSIDE(sequence_of_run);
    RUN_INSIDE(sequence_of_uncaught_exception);
    RUN_INSIDE(sequence_of_kill);
    RUN_INSIDE(sequence_of_hard_interrupt);
    RUN_INSIDE(sequence_of_soft_interrupt);
    RUN_INSIDE(no_callback_without_a_real_switch);
    RUN(main_creation_is_reported);
    RUN(new_thread_reports_its_main);
    RUN_INSIDE(inside_the_callback);
    RUN_INSIDE(callback_sees_no_pending_error);
    RUN_INSIDE(callback_may_insert);
    RUN_INSIDE(callback_sees_the_dying_tasklet_dead);
    RUN_INSIDE(failing_callback_is_unraisable);
    RUN_INSIDE(failing_fast_hook_is_unraisable);
    RUN(switch_inside_callback_is_fatal);
    RUN(blocking_inside_callback_is_fatal);
    RUN_INSIDE(fast_callback_counts_switches);
    RUN_INSIDE(fast_callback_and_callable_replace_each_other);
    RUN(fast_callback_at_main_creation);
    PyStackless_Finalize();
    return harness_summary("test_callbacks");
}
