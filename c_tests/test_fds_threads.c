/* Waiting on file descriptors across threads (EXTENSIONS.md §4-§6): main
 * waits on an fd another thread writes; kill, throw and RaiseException of
 * another thread's fd waiters; ForgetFd wakes the waiters of every
 * thread; a tasklet waiting on an fd is never a deadlock; an idle thread
 * wakes for a sleeper, an fd and a hand-off in the order they happen; a
 * host loop's poll fd becomes readable for a hand-off, and its loop ends
 * with all work done after a few wake-ups. Threads wait on each other
 * through stages and logs, each wait bounded. The timing rule is
 * time_helpers.h's: orders of events, never durations. */
#include "fd_helpers.h"
#include "stages.h"

#include "hang_guard.h"
#include "worker.h"

#include <pthread.h>

/* ---- Logs that every thread may write -------------------------------------- */

/* Waits (the OS thread, not a tasklet) until the log holds `text`, for a
 * BOUND at most; whether it does. */
static int wait_for_log(const char *text) {
    int64_t bound = bound_deadline();
    for (;;) {
        pthread_mutex_lock(&lock);
        int found = strstr(wlog_buf, text) != NULL;
        pthread_mutex_unlock(&lock);
        if (found) {
            return 1;
        }
        if (PyStackless_Now() >= bound) {
            return 0;
        }
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
}

/* The stage now (read under the lock). */
static int stage_now(void) {
    pthread_mutex_lock(&lock);
    int s = stage;
    pthread_mutex_unlock(&lock);
    return s;
}

static void reset(void) {
    set_stage(0);
    pthread_mutex_lock(&lock);
    wlog_buf[0] = '\0';
    pthread_mutex_unlock(&lock);
}

static void nap_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* ---- Worker threads ------------------------------------------------------------ */

/* A plain thread (no scheduler of its own) that, once stage 1 is reached
 * and `delay_ms` passed, writes one byte into `fd`, noting when it began
 * to write. */
typedef struct {
    int fd;
    long delay_ms;
    int64_t writing_at; /* atomic */
    pthread_t thread;
} writer;

static void *writer_main(void *arg) {
    writer *w = arg;
    wait_stage(1);
    nap_ms(w->delay_ms);
    __atomic_store_n(&w->writing_at, PyStackless_Now(), __ATOMIC_RELEASE);
    if (put_byte(w->fd, 'w') < 0) {
        __atomic_store_n(&w->writing_at, -1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void start_writer(writer *w, int fd, long delay_ms) {
    w->fd = fd;
    w->delay_ms = delay_ms;
    w->writing_at = 0;
    pthread_create(&w->thread, NULL, writer_main, w);
}

/* Joins the writer; when it began to write (-1: the write failed). */
static int64_t join_writer(writer *w) {
    pthread_join(w->thread, NULL);
    return __atomic_load_n(&w->writing_at, __ATOMIC_ACQUIRE);
}

static PyChannelObject *ch;

/* ---- Tasklet bodies (they log) ------------------------------------------------- */

/* (name, fd, events, deadline): WaitFd; logs "<name> ready <bits>" (with
 * " late" as fd_helpers.h says) or the exception. */
BODY(w_wait) {
    const char *n = arg_str(args, 0);
    int64_t start = PyStackless_Now(), d = PyLong_AsLong(PyTuple_GetItem(args, 3));
    int got = PyStackless_WaitFd((int)PyLong_AsLong(PyTuple_GetItem(args, 1)),
                                 (int)PyLong_AsLong(PyTuple_GetItem(args, 2)), d);
    if (got < 0) {
        wlog("%s %s", n, take_exc_repr());
    } else {
        wlog("%s ready %d%s", n, got, returned_late(start, d) ? " late" : "");
    }
    Py_RETURN_NONE;
}

/* (name, fd, deadline): WaitFd(READ), reads one byte c; logs "<name> read
 * <c>" (" late" as w_wait's) or the exception. */
BODY(w_wait_read) {
    const char *n = arg_str(args, 0);
    int fd = (int)PyLong_AsLong(PyTuple_GetItem(args, 1));
    int64_t start = PyStackless_Now(), d = PyLong_AsLong(PyTuple_GetItem(args, 2));
    if (PyStackless_WaitFd(fd, READ, d) < 0) {
        wlog("%s %s", n, take_exc_repr());
        Py_RETURN_NONE;
    }
    int late = returned_late(start, d);
    wlog("%s read %c%s", n, take_byte(fd), late ? " late" : "");
    Py_RETURN_NONE;
}

/* (name, fd, ch): wait_bounded(READ), logs "<name> ready <bits>" (LATE
 * + bits when late), then sends "ready" on ch. */
BODY(w_wait_then_send) {
    const char *n = arg_str(args, 0);
    int got = wait_bounded((int)PyLong_AsLong(PyTuple_GetItem(args, 1)), READ);
    if (got < 0) {
        wlog("%s %s", n, take_exc_repr());
        Py_RETURN_NONE;
    }
    wlog("%s ready %d", n, got);
    PyObject *v = PyUnicode_FromString("ready");
    int rc = PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 2), v);
    Py_DECREF(v);
    if (rc < 0) {
        wlog("%s %s", n, take_exc_repr());
    }
    Py_RETURN_NONE;
}

/* (name, deadline): SleepUntil; logs "<name> woke" or the exception. */
BODY(w_sleep) {
    const char *n = arg_str(args, 0);
    int64_t d = PyLong_AsLong(PyTuple_GetItem(args, 1));
    if (PyStackless_SleepUntil(d) < 0) {
        wlog("%s %s", n, take_exc_repr());
    } else {
        wlog("%s woke%s", n, PyStackless_Now() < d ? " early" : "");
    }
    Py_RETURN_NONE;
}

/* RunUntil(bound), then logs "run None next=<NextDeadline()>
 * <before-bound|late>": late when it waited for the bound, which no
 * passing test reaches. */
static PyObject *run_and_log(void) {
    int64_t bound = bound_deadline();
    PyObject *r = PyStackless_RunUntil(bound);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    wlog("run None next=%lld %s", (long long)PyStackless_NextDeadline(),
         PyStackless_Now() < bound ? "before-bound" : "late");
    Py_RETURN_NONE;
}

/* Sends str `text` on ch; 0 or -1 with the exception. */
static int send_text(const char *text) {
    PyObject *v = PyUnicode_FromString(text);
    int rc = PyChannel_Send(ch, v);
    Py_DECREF(v);
    return rc;
}

/* ---- main waits on an fd another thread writes --------------------------------- */

/* Main, alone in its thread, waits in the kernel until a plain thread
 * writes; no Deadlock, and not before the write. */
TEST(main_waits_on_an_fd_another_thread_writes) {
    reset();
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    writer wr;
    start_writer(&wr, p[1], 20);
    set_stage(1);
    int got = wait_bounded(p[0], READ);
    int64_t woke = PyStackless_Now();
    int64_t writing_at = join_writer(&wr);
    CHECK_INT(got, READ);
    CHECK(writing_at > 0);
    CHECK(woke >= writing_at);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    close_pair(p);
}

/* ---- Kill, throw, RaiseException from another thread ---------------------------- */

static PyTaskletObject *victims[4];
static int victim_fds[2];

/* W1 .. W4 wait on the pipe's read end (W2 and W4 with a BOUND deadline);
 * then RunUntil. */
BODY(victims_worker) {
    (void)args;
    int fd = victim_fds[0];
    victims[0] = run_built(&w_wait_def, "(siiL)", "W1", fd, READ, -1LL);
    victims[1] = victims[0] ? run_built(&w_wait_def, "(siiL)", "W2", fd, READ, (long long)bound_deadline()) : NULL;
    victims[2] = victims[1] ? run_built(&w_wait_def, "(siiL)", "W3", fd, BOTH, -1LL) : NULL;
    victims[3] = victims[2] ? run_built(&w_wait_def, "(siiL)", "W4", fd, READ, (long long)bound_deadline()) : NULL;
    set_stage(1);
    if (victims[3] == NULL) {
        return NULL;
    }
    return run_and_log();
}

/* EXTENSIONS §4 with SPEC §5.6/§6.3: from another thread kill, throw and
 * raise_exception act as pending; each waiter's call fails with the
 * exception and leaves its thread's poller (the worker's RunUntil ends
 * then, long before its bound). */
TEST(remote_kill_throw_and_raise_reach_fd_waiters) {
    reset();
    CHECK_INT(make_pipe(victim_fds), 0);
    worker w;
    start_worker(&w, &victims_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    CHECK(victims[3] != NULL);
    PyObject *k = Py_BuildValue("(s)", "k"), *text = PyUnicode_FromString("remote");
    CHECK_INT(PyTasklet_Kill(victims[0]), 0);
    CHECK_INT(PyTasklet_RaiseException(victims[1], PyExc_KeyError, k), 0);
    CHECK_INT(PyTasklet_Throw(victims[2], 0, PyExc_ValueError, text, NULL), 0);
    CHECK_INT(PyTasklet_KillEx(victims[3], 1), 0);
    Py_DECREF(k);
    Py_DECREF(text);
    CHECK(join_worker(&w));
    CHECK_LOG("W1 TaskletExit() W2 KeyError('k') W3 ValueError('remote') W4 TaskletExit() "
              "run None next=-1 before-bound");
    for (int i = 0; i < 4; i++) {
        CHECK_INT(PyTasklet_Alive(victims[i]), 0);
        Py_CLEAR(victims[i]);
    }
    /* The fd's event later reaches no thread's dead waiter. */
    CHECK_INT(put_byte(victim_fds[1], 'x'), 0);
    CHECK_INT(wait_bounded(victim_fds[0], READ), READ);
    close_pair(victim_fds);
}

/* ---- ForgetFd reaches every thread ---------------------------------------------- */

static int shared_fds[2];
static PyTaskletObject *remote_waiter;

/* W waits on the shared pipe; RunUntil. */
BODY(forget_worker) {
    (void)args;
    remote_waiter = run_built(&w_wait_def, "(siiL)", "W", shared_fds[0], READ, (long long)bound_deadline());
    set_stage(1);
    if (remote_waiter == NULL) {
        return NULL;
    }
    return run_and_log();
}

/* Two threads wait on one pipe: ForgetFd on this thread wakes this
 * thread's waiter at once (the count), and the other thread's at that
 * thread's next scheduling point (it sleeps in RunUntil: it is woken), both
 * with OSError(EBADF), long before their bound. */
TEST(forget_fd_wakes_the_waiters_of_every_thread) {
    reset();
    CHECK_INT(make_pipe(shared_fds), 0);
    worker w;
    start_worker(&w, &forget_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    CHECK(remote_waiter != NULL);
    PyTaskletObject *m = run_built(&w_wait_def, "(siiL)", "M", shared_fds[0], READ, (long long)bound_deadline());
    CHECK(m != NULL);
    CHECK_INT(PyStackless_ForgetFd(shared_fds[0]), 1);
    CHECK(join_worker(&w));
    CHECK_LOG("W " EBADF_REPR " run None next=-1 before-bound");
    CHECK_RUN_NONE();
    CHECK_LOG("W " EBADF_REPR " run None next=-1 before-bound M " EBADF_REPR);
    CHECK_INT(PyStackless_ForgetFd(shared_fds[0]), 0);
    Py_CLEAR(remote_waiter);
    Py_DECREF(m);
    close_pair(shared_fds);
}

/* ---- Never a deadlock ----------------------------------------------------------------- */

/* Main blocks receiving on a channel that only W fills, and W waits on a
 * pipe that a plain thread writes later: the thread waits, no Deadlock. */
TEST(fd_waiter_is_never_a_deadlock) {
    reset();
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyTaskletObject *t = run_built(&w_wait_then_send_def, "(siO)", "W", p[0], ch);
    CHECK(t != NULL);
    writer wr;
    start_writer(&wr, p[1], 20);
    set_stage(1);
    PyObject *v = PyChannel_Receive(ch);
    if (v == NULL) {
        wlog("main %s", take_exc_repr());
    } else {
        wlog("main got %s", harness_text(v, 0));
        Py_DECREF(v);
    }
    CHECK(join_writer(&wr) > 0);
    CHECK_LOG("W ready 1 main got ready");
    CHECK_RUN_NONE();
    CHECK_INT(PyTasklet_Alive(t), 0);
    /* RunUntil(-1) with only an fd waiter: waits for it too. */
    CHECK_INT(drain(p[0]), 1);
    reset();
    PyTaskletObject *r = run_built(&w_wait_read_def, "(siL)", "R", p[0], (long long)bound_deadline());
    CHECK(r != NULL);
    start_writer(&wr, p[1], 20);
    set_stage(1);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK(join_writer(&wr) > 0);
    CHECK_LOG("R read w");
    Py_DECREF(t);
    Py_DECREF(r);
    close_pair(p);
}

/* ---- An idle thread wakes for each kind of event ---------------------------------------- */

static int order_fds[2];

/* S sleeps a little, W waits on a pipe, R receives on ch (with a BOUND);
 * RunUntil: the thread is idle but for what the three wait for. */
BODY(order_worker) {
    (void)args;
    PyTaskletObject *s = run_built(&w_sleep_def, "(sL)", "S", (long long)after_ms(SETUP_MS));
    int64_t bound = bound_deadline();
    PyTaskletObject *w = s ? run_built(&w_wait_def, "(siiL)", "W", order_fds[0], READ, (long long)bound) : NULL;
    PyTaskletObject *r = w ? run_built(&w_recv_until_def, "(sOL)", "R", ch, (long long)bound) : NULL;
    set_stage(1);
    PyObject *result = r ? run_and_log() : NULL;
    Py_XDECREF(s);
    Py_XDECREF(w);
    Py_XDECREF(r);
    return result;
}

/* A sleeper's deadline, then an fd event, then a hand-off from another
 * thread, each after the previous one was served: the idle thread wakes
 * for each, in that order, and ends its run when all are done. */
TEST(idle_thread_wakes_for_a_sleeper_an_fd_and_a_hand_off_in_order) {
    reset();
    CHECK_INT(make_pipe(order_fds), 0);
    worker w;
    start_worker(&w, &order_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    int ok = wait_for_log("S woke") && put_byte(order_fds[1], 'x') == 0 && wait_for_log("W ready 1") &&
             send_text("x") == 0;
    const char *why = ok ? "" : error_text();
    CHECK(join_worker(&w));
    CHECK_LOG("S woke W ready 1 R got x run None next=-1 before-bound");
    CHECK_STR(why, "");
    close_pair(order_fds);
}

/* ---- A host loop (EXTENSIONS §6) -------------------------------------------------------- */

/* Runs `body` on a new thread, outside any main tasklet, as a host loop's
 * thread; stage 99 once it returned (so that no wait_stage of the
 * test's thread outlives a body that failed early); then the thread
 * finalizes. */
typedef struct {
    void (*body)(void);
    pthread_t thread;
} host;

static void *host_main(void *arg) {
    host *h = arg;
    h->body();
    set_stage(99);
    PyStackless_Finalize();
    return NULL;
}

static void start_host(host *h, void (*body)(void)) {
    h->body = body;
    pthread_create(&h->thread, NULL, host_main, h);
}

static void join_host(host *h) {
    pthread_join(h->thread, NULL);
}

static PyTaskletObject *host_tasklets[3];
static int host_loops;

/* R receives on ch; the poll fd is readable only once another thread
 * sent. */
static void host_hand_off_body(void) {
    int pfd = PyStackless_GetPollFd();
    CHECK(pfd >= 0);
    /* No deadline: no timer that could make the poll fd readable. */
    host_tasklets[0] = run_built(&w_recv_until_def, "(sOL)", "R", ch, -1LL);
    CHECK(host_tasklets[0] != NULL);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_INT(readable_within(pfd, 0), 0);
    set_stage(1);
    CHECK_INT(readable_within(pfd, (int)BOUND_MS), 1);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_INT(readable_within(pfd, 0), 0);
    CHECK_INT(PyTasklet_Alive(host_tasklets[0]), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyStackless_GetRunCount(), 0);
}

/* (c) of §6: a hand-off from another thread (a send to a receiving
 * tasklet of the host's thread) makes the poll fd readable. */
TEST(host_poll_fd_is_readable_for_a_hand_off) {
    reset();
    host h;
    start_host(&h, host_hand_off_body);
    wait_stage(1);
    int rc = stage_now() < 99 ? send_text("x") : 0;
    join_host(&h);
    CHECK_INT(rc, 0);
    CHECK_LOG("R got x");
    Py_CLEAR(host_tasklets[0]);
}

/* (name): "<name> spins", keeps the thread (no scheduling point) until
 * stage 2 or a BOUND, "<name> ends". */
BODY(w_spin_until_stage_2) {
    const char *n = arg_str(args, 0);
    wlog("%s spins", n);
    int64_t bound = bound_deadline();
    while (stage_now() < 2 && PyStackless_Now() < bound) {
    }
    wlog("%s ends", n);
    Py_RETURN_NONE;
}

/* R receives on ch while B keeps the thread: the hand-off arrives while
 * the host's RunUntil(Now()) runs and is served in that call. */
static void host_busy_hand_off_body(void) {
    int pfd = PyStackless_GetPollFd();
    host_tasklets[0] = run_built(&w_recv_until_def, "(sOL)", "R", ch, -1LL);
    CHECK(host_tasklets[0] != NULL);
    host_tasklets[1] = spawn_def_s(&w_spin_until_stage_2_def, "B");
    CHECK(host_tasklets[1] != NULL);
    set_stage(1);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_INT(PyTasklet_Alive(host_tasklets[0]), 0);
    CHECK_INT(PyTasklet_Alive(host_tasklets[1]), 0);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(readable_within(pfd, 0), 0);
}

/* Nothing is due once RunUntil(Now()) served the hand-off: the poll fd is
 * not readable (no spurious wake-up for a hand-off already served). */
TEST(host_poll_fd_is_not_readable_after_a_hand_off_served_while_running) {
    reset();
    host h;
    start_host(&h, host_busy_hand_off_body);
    wait_stage(1);
    int rc = 0;
    if (wait_for_log("B spins") && stage_now() < 99) {
        rc = send_text("x");
    }
    set_stage(2);
    join_host(&h);
    CHECK_INT(rc, 0);
    CHECK_LOG("B spins B ends R got x");
    Py_CLEAR(host_tasklets[0]);
    Py_CLEAR(host_tasklets[1]);
}

static int host_fds[2];

/* A whole host loop: poll on the poll fd until NextDeadline at the
 * latest, then RunUntil(Now()), until W (an fd), S (a deadline) and R (a
 * hand-off) are done. */
static void host_loop_body(void) {
    int pfd = PyStackless_GetPollFd();
    host_tasklets[0] = run_built(&w_wait_read_def, "(siL)", "W", host_fds[0], (long long)bound_deadline());
    host_tasklets[1] = run_built(&w_sleep_def, "(sL)", "S", (long long)after_ms(30));
    host_tasklets[2] = run_built(&w_recv_until_def, "(sOL)", "R", ch, (long long)bound_deadline());
    CHECK(host_tasklets[0] != NULL && host_tasklets[1] != NULL && host_tasklets[2] != NULL);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    set_stage(1);
    int64_t bound = bound_deadline();
    host_loops = 0;
    while (PyStackless_Now() < bound &&
           (PyTasklet_Alive(host_tasklets[0]) || PyTasklet_Alive(host_tasklets[1]) ||
            PyTasklet_Alive(host_tasklets[2]))) {
        int64_t next = PyStackless_NextDeadline(), now = PyStackless_Now();
        int ms = next == -1 ? (int)BOUND_MS : next <= now ? 0 : (int)((next - now + MS - 1) / MS);
        readable_within(pfd, ms);
        host_loops++;
        CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    }
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyStackless_GetRunCount(), 0);
}

/* The loop ends once the work is done, after a bounded number of
 * wake-ups (no busy waiting): three events in ~30 ms. */
TEST(host_loop_runs_all_work_with_few_wake_ups) {
    reset();
    CHECK_INT(make_pipe(host_fds), 0);
    host h;
    start_host(&h, host_loop_body);
    wait_stage(1);
    nap_ms(10);
    int rc = put_byte(host_fds[1], 'a');
    nap_ms(10);
    if (rc == 0 && stage_now() < 99) {
        rc = send_text("x");
    }
    join_host(&h);
    CHECK_INT(rc, 0);
    for (int i = 0; i < 3; i++) {
        CHECK(host_tasklets[i] != NULL);
        CHECK_INT(PyTasklet_Alive(host_tasklets[i]), 0);
        Py_CLEAR(host_tasklets[i]);
    }
    const char *log = wlog_text();
    CHECK(strstr(log, "W read a") != NULL);
    CHECK(strstr(log, "S woke") != NULL && strstr(log, "early") == NULL);
    CHECK(strstr(log, "R got x") != NULL);
    printf("    host loop: %d wake-ups; %s\n", host_loops, log);
    CHECK(host_loops >= 1);
    CHECK(host_loops < 50);
    close_pair(host_fds);
}

static void context(char *buf, size_t size) {
    snprintf(buf, size, "    case %s", harness_case ? harness_case : "-");
}

int main(void) {
    hang_guard_start("test_fds_threads", 120, 40, context);
    ch = PyChannel_New(NULL);
    RUN_INSIDE(main_waits_on_an_fd_another_thread_writes);
    hang_guard_progress();
    RUN_INSIDE(remote_kill_throw_and_raise_reach_fd_waiters);
    hang_guard_progress();
    RUN_INSIDE(forget_fd_wakes_the_waiters_of_every_thread);
    hang_guard_progress();
    RUN_INSIDE(fd_waiter_is_never_a_deadlock);
    hang_guard_progress();
    RUN_INSIDE(idle_thread_wakes_for_a_sleeper_an_fd_and_a_hand_off_in_order);
    hang_guard_progress();
    RUN_INSIDE(host_poll_fd_is_readable_for_a_hand_off);
    hang_guard_progress();
    RUN_INSIDE(host_poll_fd_is_not_readable_after_a_hand_off_served_while_running);
    hang_guard_progress();
    RUN_INSIDE(host_loop_runs_all_work_with_few_wake_ups);
    Py_DECREF(ch);
    PyStackless_Finalize();
    return harness_summary("test_fds_threads");
}
