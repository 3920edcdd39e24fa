/* Waiting on file descriptors on one thread (EXTENSIONS.md §4-§6):
 * PyStackless_WaitFd on pipes, socketpairs and a regular file, the ready
 * subset, level-triggered waits, several waiters on one fd, deadlines and
 * tries, kill, throw and RaiseException of a waiter, PyStackless_ForgetFd,
 * bad input, a waiter's state, RunUntil and RunWatchdog with waiters, a
 * busy thread, an idle one's CPU, and a host loop that watches
 * PyStackless_GetPollFd. Across threads: test_fds_threads.c. The timing
 * rule is time_helpers.h's: orders of events, never durations. */
#include "fd_helpers.h"

#include "hang_guard.h"

/* A new waiter run until it waits; NULL with the exception on failure. */
static PyTaskletObject *waiting(const char *name, int fd, int events, int64_t d) {
    PyTaskletObject *t = WAITER(name, fd, events, d);
    if (t != NULL && PyTasklet_Run(t) < 0) {
        Py_CLEAR(t);
    }
    return t;
}

/* ---- Readiness ------------------------------------------------------------------ */

/* An empty pipe is not readable: its waiter waits through an idle
 * RunUntil; one byte wakes it with PY_WAIT_READ. */
TEST(pipe_read_end_wakes_its_waiter_when_written) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyTaskletObject *w = waiting("W", p[0], READ, bound_deadline());
    CHECK(w != NULL);
    int64_t d = after_ms(5);
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_NOT_BEFORE(d);
    CHECK_TRACE("W waits");
    CHECK_INT(PyTasklet_Alive(w), 1);
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits W ready 1");
    CHECK_INT(PyTasklet_Alive(w), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(w);
    close_pair(p);
}

/* A full pipe is not writable until it is drained; then its waiter gets
 * PY_WAIT_WRITE. */
TEST(full_pipe_is_writable_only_when_drained) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK(fill(p[1]) > 0);
    CHECK_INT(kernel_ready(p[1], WRITE), 0);
    PyTaskletObject *w = waiting("W", p[1], WRITE, bound_deadline());
    CHECK(w != NULL);
    int64_t d = after_ms(5);
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_NOT_BEFORE(d);
    CHECK_TRACE("W waits");
    CHECK(drain(p[0]) > 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits W ready 2");
    /* An empty pipe's write end is writable at once, its read end not. */
    CHECK_INT(wait_bounded(p[1], WRITE), WRITE);
    CHECK_INT(PyStackless_WaitFd(p[0], READ, 0), -1);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    Py_DECREF(w);
    close_pair(p);
}

/* A socketpair's end is writable at once and readable when the other end
 * wrote. */
TEST(socketpair_is_writable_and_readable_when_written) {
    int s[2];
    CHECK_INT(make_socketpair(s), 0);
    PyTaskletObject *w = waiting("W", s[0], WRITE, bound_deadline());
    PyTaskletObject *r = waiting("R", s[0], READ, bound_deadline());
    CHECK(w != NULL && r != NULL);
    int64_t d = after_ms(5);
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_NOT_BEFORE(d);
    CHECK_TRACE("W waits R waits W ready 2");
    CHECK_INT(PyTasklet_Alive(r), 1);
    CHECK_INT(put_byte(s[1], 'x'), 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits R waits W ready 2 R ready 1");
    Py_DECREF(w);
    Py_DECREF(r);
    close_pair(s);
}

/* The return value is the subset of the events asked for that is ready,
 * what poll(2) says too. */
TEST(wait_returns_the_ready_subset) {
    int s[2], p[2];
    CHECK_INT(make_socketpair(s), 0);
    CHECK_INT(make_pipe(p), 0);
    /* Writable, not readable. */
    CHECK_INT(kernel_ready(s[0], BOTH), WRITE);
    CHECK_INT(wait_bounded(s[0], BOTH), WRITE);
    /* Both. */
    CHECK_INT(put_byte(s[1], 'x'), 0);
    CHECK_INT(kernel_ready(s[0], BOTH), BOTH);
    CHECK_INT(wait_bounded(s[0], BOTH), BOTH);
    CHECK_INT(wait_bounded(s[0], READ), READ);
    CHECK_INT(wait_bounded(s[0], WRITE), WRITE);
    /* Readable, not writable: a pipe's read end with data. */
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_INT(kernel_ready(p[0], BOTH), READ);
    CHECK_INT(wait_bounded(p[0], BOTH), READ);
    /* Writable, not readable: a pipe's write end. */
    CHECK_INT(wait_bounded(p[1], BOTH), WRITE);
    /* The same from a tasklet. */
    PyTaskletObject *a = WAITER("A", s[0], BOTH, bound_deadline());
    CHECK_NONE(PyStackless_RunUntil(-1));
    PyTaskletObject *b = WAITER("B", p[0], BOTH, bound_deadline());
    CHECK_NONE(PyStackless_RunUntil(-1));
    PyTaskletObject *c = WAITER("C", p[1], BOTH, bound_deadline());
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("A waits A ready 3 B waits B ready 1 C waits C ready 2");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    close_pair(s);
    close_pair(p);
}

/* Level-triggered: an fd that stays readable (nobody reads it) readies
 * every wait on it again, main's alone and a tasklet's. */
TEST(waiting_again_on_a_readable_fd_returns_again) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK_INT(put_byte(p[1], 'x'), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(wait_bounded(p[0], READ), READ);
    }
    PyTaskletObject *w = make(b_wait, "(siiLi)", "W", p[0], READ, (long long)bound_deadline(), 3);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits W ready 1 W ready 1 W ready 1");
    /* Still one byte in the pipe. */
    CHECK_INT(drain(p[0]), 1);
    Py_DECREF(w);
    close_pair(p);
}

/* Waiters for the same events are woken together, in the order they
 * began to wait. */
TEST(waiters_on_one_fd_wake_in_the_order_they_waited) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    int64_t d = bound_deadline();
    PyTaskletObject *a = WAITER("A", p[0], READ, d), *b = WAITER("B", p[0], READ, d),
                    *c = WAITER("C", p[0], READ, d);
    /* Not in the order made. */
    CHECK_INT(PyTasklet_Remove(a), 0);
    CHECK_INT(PyTasklet_Remove(b), 0);
    CHECK_INT(PyTasklet_Remove(c), 0);
    CHECK_INT(PyTasklet_Run(c), 0);
    CHECK_INT(PyTasklet_Run(a), 0);
    CHECK_INT(PyTasklet_Run(b), 0);
    CHECK_TRACE("C waits A waits B waits");
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("C waits A waits B waits C ready 1 A ready 1 B ready 1");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    close_pair(p);
}

/* Waiters for different events: each is woken for its own; those ready
 * together wake in the order they waited. */
TEST(waiters_for_different_events_wake_for_their_own) {
    int s[2];
    CHECK_INT(make_socketpair(s), 0);
    CHECK(fill(s[0]) > 0);
    int64_t d = bound_deadline();
    /* s[0]: neither readable nor writable. */
    CHECK_INT(kernel_ready(s[0], BOTH), 0);
    PyTaskletObject *w = waiting("W", s[0], WRITE, d), *r = waiting("R", s[0], READ, d),
                    *b = waiting("B", s[0], BOTH, d);
    CHECK(w != NULL && r != NULL && b != NULL);
    CHECK_INT(put_byte(s[1], 'x'), 0);
    int64_t until = after_ms(5);
    CHECK_NONE(PyStackless_RunUntil(until));
    CHECK_NOT_BEFORE(until);
    CHECK_TRACE("W waits R waits B waits R ready 1 B ready 1");
    CHECK_INT(PyTasklet_Alive(w), 1);
    CHECK(drain(s[1]) > 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits R waits B waits R ready 1 B ready 1 W ready 2");
    /* Both ready at once (no scheduling point between the two changes):
     * in the order of waiting, each its own subset. */
    trace_reset();
    CHECK_INT(drain(s[0]), 1);
    CHECK(fill(s[0]) > 0);
    CHECK_INT(kernel_ready(s[0], BOTH), 0);
    PyTaskletObject *b2 = waiting("B2", s[0], BOTH, d), *w2 = waiting("W2", s[0], WRITE, d),
                    *r2 = waiting("R2", s[0], READ, d);
    CHECK(b2 != NULL && w2 != NULL && r2 != NULL);
    CHECK_INT(put_byte(s[1], 'y'), 0);
    CHECK(drain(s[1]) > 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("B2 waits W2 waits R2 waits B2 ready 3 W2 ready 2 R2 ready 1");
    Py_DECREF(w);
    Py_DECREF(r);
    Py_DECREF(b);
    Py_DECREF(b2);
    Py_DECREF(w2);
    Py_DECREF(r2);
    close_pair(s);
}

/* A regular file is always ready: the call returns the events asked for
 * at once, without switching. */
TEST(regular_file_is_always_ready) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    int fd = fileno(f);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_INT(PyStackless_WaitFd(fd, READ, -1), READ);
    CHECK_INT(PyStackless_WaitFd(fd, WRITE, -1), WRITE);
    CHECK_INT(wait_bounded(fd, BOTH), BOTH);
    CHECK_INT(PyStackless_WaitFd(fd, BOTH, 0), BOTH);
    CHECK_TRACE("");
    CHECK_RING("main X");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyTaskletObject *w = WAITER("W", fd, BOTH, -1);
    CHECK_RUN_NONE();
    CHECK_TRACE("X runs W waits W ready 3");
    fclose(f);
    Py_DECREF(x);
    Py_DECREF(w);
}

/* ---- Deadlines ---------------------------------------------------------------- */

TEST(deadline_first_is_a_timeout) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    int64_t d = after_ms(5);
    PyTaskletObject *w = waiting("W", p[0], READ, d);
    CHECK(w != NULL);
    CHECK_INT(PyStackless_NextDeadline(), d);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits W " TIMED_OUT_REPR);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    /* Main, alone: a wait, then the timeout; never a Deadlock. */
    d = after_ms(5);
    CHECK_INT(PyStackless_WaitFd(p[0], READ, d), -1);
    CHECK_NOT_BEFORE(d);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    int s[2];
    CHECK_INT(make_socketpair(s), 0);
    CHECK(fill(s[0]) > 0);
    d = after_ms(5);
    CHECK_INT(PyStackless_WaitFd(s[0], WRITE, d), -1);
    CHECK_NOT_BEFORE(d);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    /* The timed-out waits left the poller: the fds' events wake nothing. */
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK(drain(s[1]) > 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits W " TIMED_OUT_REPR);
    Py_DECREF(w);
    close_pair(p);
    close_pair(s);
}

/* A deadline that has passed makes the call a try: the ready subset if
 * the fd is ready now, else TimeoutError at once; no switch either way. */
TEST(passed_deadline_is_a_try_without_switching) {
    int p[2], s[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK_INT(make_socketpair(s), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    int64_t passed[] = {0, PyStackless_Now() - 1};
    for (int i = 0; i < 2; i++) {
        CHECK_INT(PyStackless_WaitFd(p[0], READ, passed[i]), -1);
        CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
        CHECK_INT(PyStackless_WaitFd(s[0], BOTH, passed[i]), WRITE);
        CHECK_INT(PyStackless_WaitFd(p[1], WRITE, passed[i]), WRITE);
    }
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_INT(put_byte(s[1], 'x'), 0);
    CHECK_INT(fill(p[1]) > 0, 1);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(PyStackless_WaitFd(p[0], READ, passed[i]), READ);
        CHECK_INT(PyStackless_WaitFd(p[0], BOTH, passed[i]), READ);
        CHECK_INT(PyStackless_WaitFd(s[0], BOTH, passed[i]), BOTH);
        CHECK_INT(PyStackless_WaitFd(p[1], WRITE, passed[i]), -1);
        CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    }
    /* X never ran: no call switched. */
    CHECK_TRACE("");
    CHECK_RING("main X");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    /* A tasklet's tries do not switch either. */
    PyTaskletObject *t = make(b_wait, "(siiLi)", "T", p[1], WRITE, 0LL, 1);
    PyTaskletObject *u = make(b_wait, "(siiLi)", "U", p[0], READ, 0LL, 2);
    CHECK_RUN_NONE();
    CHECK_TRACE("X runs T waits T " TIMED_OUT_REPR " U waits U ready 1 U ready 1");
    Py_DECREF(x);
    Py_DECREF(t);
    Py_DECREF(u);
    close_pair(p);
    close_pair(s);
}

/* ---- Kill, throw, RaiseException ------------------------------------------------- */

/* A kill switches to the waiter at once (SPEC §4.8), which gets
 * TaskletExit and leaves the poller: nothing waits any more, RunUntil(-1)
 * returns, the fd's event later breaks nothing, and a new waiter on it
 * works. A pending kill makes it runnable at the tail. */
TEST(kill_of_a_waiter_takes_it_off_the_poller) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    int64_t bound = bound_deadline();
    PyTaskletObject *w = waiting("W", p[0], READ, bound);
    PyTaskletObject *v = waiting("V", p[0], READ, -1);
    CHECK(w != NULL && v != NULL);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_INT(PyStackless_NextDeadline(), bound);
    CHECK_INT(PyTasklet_Kill(w), 0);
    CHECK_TRACE("W waits V waits W TaskletExit()");
    CHECK_INT(PyTasklet_Alive(w), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyTasklet_KillEx(v, 1), 0);
    CHECK_INT(PyTasklet_Scheduled(v), 1);
    CHECK_INT(PyStackless_GetRunCount(), 3);
    CHECK_TRACE("W waits V waits W TaskletExit()");
    /* Nothing waits on the fd: RunUntil(-1) ends without it. */
    CHECK_NONE(PyStackless_RunUntil(bound));
    CHECK(PyStackless_Now() < bound);
    CHECK_TRACE("W waits V waits W TaskletExit() X runs V TaskletExit()");
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    PyTaskletObject *n = WAITER("N", p[0], READ, bound_deadline());
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits V waits W TaskletExit() X runs V TaskletExit() N waits N ready 1");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(w);
    Py_DECREF(v);
    Py_DECREF(x);
    Py_DECREF(n);
    close_pair(p);
}

TEST(throw_and_raise_exception_wake_a_waiter) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyObject *text = PyUnicode_FromString("thrown"), *k = Py_BuildValue("(s)", "k");
    PyTaskletObject *s = waiting("S", p[0], READ, bound_deadline());
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Throw(s, 0, PyExc_ValueError, text, NULL), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    PyTaskletObject *t = waiting("T", p[0], READ, -1);
    CHECK(t != NULL);
    CHECK_INT(PyTasklet_RaiseException(t, PyExc_KeyError, k), 0);
    PyTaskletObject *u = waiting("U", p[0], READ, bound_deadline());
    CHECK(u != NULL);
    CHECK_INT(PyTasklet_Throw(u, 1, PyExc_IndexError, text, NULL), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyTasklet_Scheduled(u), 1);
    CHECK_TRACE("S waits S ValueError('thrown') T waits T KeyError('k') U waits");
    CHECK_RUN_NONE();
    CHECK_TRACE("S waits S ValueError('thrown') T waits T KeyError('k') U waits U IndexError('thrown')");
    /* None of them still waits: RunUntil(-1) ends at once; an event later
     * breaks nothing. */
    int64_t bound = bound_deadline();
    CHECK_NONE(PyStackless_RunUntil(bound));
    CHECK(PyStackless_Now() < bound);
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_INT(wait_bounded(p[0], READ), READ);
    Py_DECREF(s);
    Py_DECREF(t);
    Py_DECREF(u);
    Py_DECREF(text);
    Py_DECREF(k);
    close_pair(p);
}

/* ---- ForgetFd ------------------------------------------------------------------- */

/* Every waiter of the fd, whatever its events, is woken with OSError
 * (EBADF) and appended to the runnables, in the order of waiting; the
 * call does not switch; waiters of other fds wait on. */
TEST(forget_fd_wakes_its_waiters_with_ebadf) {
    int p[2], q[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK_INT(make_pipe(q), 0);
    int64_t d = bound_deadline();
    PyTaskletObject *b = waiting("B", p[0], READ, d), *a = waiting("A", p[0], BOTH, -1),
                    *o = waiting("O", q[0], READ, d + MS);
    CHECK(a != NULL && b != NULL && o != NULL);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_INT(PyStackless_ForgetFd(p[0]), 2);
    CHECK_TRACE("B waits A waits O waits");
    CHECK_INT(PyStackless_GetRunCount(), 4);
    CHECK_RING("main X B A");
    CHECK_INT(PyStackless_NextDeadline(), d + MS); /* O's: B's timer is gone */
    CHECK_INT(PyStackless_ForgetFd(p[0]), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("B waits A waits O waits X runs B " EBADF_REPR " A " EBADF_REPR);
    CHECK_INT(PyTasklet_Alive(o), 1);
    CHECK_INT(PyStackless_ForgetFd(q[0]), 1);
    CHECK_RUN_NONE();
    CHECK_TRACE("B waits A waits O waits X runs B " EBADF_REPR " A " EBADF_REPR " O " EBADF_REPR);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    /* Main waits; a tasklet forgets the fd: main's call fails with
     * OSError(9, 'Bad file descriptor'), str "[Errno 9] Bad file
     * descriptor". */
    trace_reset();
    PyTaskletObject *f = make(b_forget, "(si)", "F", p[0]);
    CHECK_INT(wait_bounded(p[0], READ), -1);
    CHECK_EBADF();
    CHECK_TRACE("F forgets F woke 1");
    /* The fd is still open and may be waited on again. */
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_INT(wait_bounded(p[0], READ), READ);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(o);
    Py_DECREF(x);
    Py_DECREF(f);
    close_pair(p);
    close_pair(q);
}

/* Without waiters: 0, the fd open or not; a negative fd: OSError(EBADF). */
TEST(forget_fd_without_waiters_returns_zero) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK_INT(PyStackless_ForgetFd(p[0]), 0);
    CHECK_INT(PyStackless_ForgetFd(p[1]), 0);
    /* One that had waiters once. */
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_INT(wait_bounded(p[0], READ), READ);
    CHECK_INT(PyStackless_ForgetFd(p[0]), 0);
    close_pair(p);
    CHECK_INT(PyStackless_ForgetFd(p[0]), 0);
    CHECK_INT(PyStackless_ForgetFd(100000), 0);
    CHECK_INT(PyStackless_ForgetFd(INT_MAX), 0);
    CHECK_INT(PyStackless_ForgetFd(-1), -1);
    CHECK_EBADF();
    CHECK_INT(PyStackless_ForgetFd(INT_MIN), -1);
    CHECK_EBADF();
    CHECK_TRACE("");
}

/* ForgetFd, close, and a new file under the same number: waiting on it
 * works (the poller watches the new file, not the old one). */
TEST(fd_number_reused_after_forget_and_close_works) {
    int p[2], q[2];
    CHECK_INT(make_pipe(p), 0);
    int number = p[0];
    PyTaskletObject *w = waiting("W", p[0], READ, bound_deadline());
    CHECK(w != NULL);
    CHECK_INT(PyStackless_ForgetFd(p[0]), 1);
    close_pair(p);
    CHECK_RUN_NONE();
    CHECK_TRACE("W waits W " EBADF_REPR);
    CHECK_INT(make_pipe(q), 0);
    CHECK_INT(q[0], number); /* pipe() takes the lowest free numbers */
    PyTaskletObject *v = waiting("V", number, READ, bound_deadline());
    CHECK(v != NULL);
    int64_t d = after_ms(5);
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_TRACE("W waits W " EBADF_REPR " V waits");
    CHECK_INT(put_byte(q[1], 'y'), 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits W " EBADF_REPR " V waits V ready 1");
    Py_DECREF(w);
    Py_DECREF(v);
    close_pair(q);
}

/* ---- Bad input ---------------------------------------------------------------- */

/* A closed fd, -1 and a number never opened: OSError(9, 'Bad file
 * descriptor') at once, also as a try; nothing switched, nothing left. */
TEST(bad_fd_is_an_os_error_ebadf) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    close_pair(p);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    int bad[] = {p[0], p[1], -1, -2, INT_MIN, 100000, INT_MAX};
    int64_t deadlines[] = {-1, 0, PyStackless_Now() - 1, bound_deadline()};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t j = 0; j < sizeof deadlines / sizeof deadlines[0]; j++) {
            CHECK_INT(PyStackless_WaitFd(bad[i], READ, deadlines[j]), -1);
            CHECK_EBADF();
            CHECK_INT(PyStackless_WaitFd(bad[i], BOTH, deadlines[j]), -1);
            CHECK_EBADF();
        }
    }
    CHECK_TRACE("");
    CHECK_RING("main X");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    /* A tasklet's call fails the same. */
    PyTaskletObject *w = WAITER("W", p[0], READ, -1);
    CHECK_RUN_NONE();
    CHECK_TRACE("X runs W waits W " EBADF_REPR);
    Py_DECREF(x);
    Py_DECREF(w);
}

TEST(bad_events_are_value_errors) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK_INT(put_byte(p[1], 'x'), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    int bad[] = {0, 4, 8, 5, 7, 3 | 16, -1, -2, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(PyStackless_WaitFd(p[0], bad[i], -1), -1);
        CHECK_ERROR(PyExc_ValueError, WAIT_EVENTS_TEXT);
        CHECK_INT(PyStackless_WaitFd(p[0], bad[i], 0), -1);
        CHECK_ERROR(PyExc_ValueError, WAIT_EVENTS_TEXT);
    }
    CHECK_TRACE("");
    CHECK_RING("main X");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_RUN_NONE();
    Py_DECREF(x);
    close_pair(p);
}

TEST(invalid_deadlines_are_value_errors) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK_INT(put_byte(p[1], 'x'), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    int64_t bad[] = {-2, -MS, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(PyStackless_WaitFd(p[0], READ, bad[i]), -1);
        CHECK_ERROR(PyExc_ValueError, INVALID_DEADLINE_TEXT);
        CHECK_INT(PyStackless_WaitFd(p[1], WRITE, bad[i]), -1);
        CHECK_ERROR(PyExc_ValueError, INVALID_DEADLINE_TEXT);
    }
    CHECK_TRACE("");
    CHECK_RING("main X");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_RUN_NONE();
    Py_DECREF(x);
    close_pair(p);
}

/* ---- A waiter's state ------------------------------------------------------------ */

TEST(waiter_reads_like_a_sleeper) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyTaskletObject *w = WAITER("W", p[0], READ, -1);
    CHECK_INT(PyStackless_GetRunCount(), 2);
    CHECK_INT(PyTasklet_Run(w), 0);
    CHECK_TRACE("W waits");
    CHECK_INT(PyTasklet_Alive(w), 1);
    CHECK_INT(PyTasklet_Scheduled(w), 1);
    CHECK_INT(PyTasklet_Paused(w), 0);
    CHECK_INT(PyTasklet_GetBlocked(w), 0);
    CHECK_INT(PyTasklet_IsCurrent(w), 0);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_RING("main");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits W ready 1");
    CHECK_INT(PyTasklet_Alive(w), 0);
    Py_DECREF(w);
    close_pair(p);
}

TEST(run_insert_or_remove_of_a_waiter_is_refused) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    int64_t d = bound_deadline();
    PyTaskletObject *w = waiting("W", p[0], READ, d);
    CHECK(w != NULL);
    CHECK_INT(PyTasklet_Run(w), -1);
    CHECK_ERROR(PyExc_RuntimeError, BLOCKED_RUN_TEXT);
    CHECK_INT(PyTasklet_Insert(w), -1);
    CHECK_ERROR(PyExc_RuntimeError, BLOCKED_RUN_TEXT);
    CHECK_INT(PyTasklet_Switch(w), -1);
    CHECK_ERROR(PyExc_RuntimeError, BLOCKED_RUN_TEXT);
    CHECK_INT(PyTasklet_Remove(w), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot remove a blocked tasklet.");
    /* Still waiting, on its fd and its timer. */
    CHECK_INT(PyTasklet_Scheduled(w), 1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyStackless_NextDeadline(), d);
    CHECK_TRACE("W waits");
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits W ready 1");
    Py_DECREF(w);
    close_pair(p);
}

/* Waiting is a switch: switch_trap refuses it and nothing is left behind;
 * a try (a passed deadline) and a regular file do not switch. */
TEST(switch_trap_refuses_to_wait) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(wait_bounded(p[0], READ), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_WaitFd(p[0], READ, -1), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_WaitFd(p[1], WRITE, -1), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_WaitFd(p[1], WRITE, 0), WRITE);
    CHECK_INT(PyStackless_WaitFd(p[0], READ, 0), -1);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyStackless_WaitFd(fileno(f), READ, -1), READ);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    /* Nothing changed, and nothing waits. */
    CHECK_TRACE("");
    CHECK_RING("main X");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_RUN_NONE();
    CHECK_TRACE("X runs");
    int64_t bound = bound_deadline();
    CHECK_NONE(PyStackless_RunUntil(bound));
    CHECK(PyStackless_Now() < bound);
    Py_DECREF(x);
    fclose(f);
    close_pair(p);
}

/* main waits on an fd that a tasklet of its thread writes; main alone
 * waits on a ready one. */
TEST(main_may_wait_on_an_fd) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyTaskletObject *w = make(b_write, "(sis)", "P", p[1], "x");
    trace("main waits");
    CHECK_INT(wait_bounded(p[0], READ), READ);
    trace("main ready");
    /* P sleeps first: main waits in the kernel meanwhile. */
    CHECK_INT(drain(p[0]), 1);
    PyTaskletObject *s = make(b_write, "(sisL)", "S", p[1], "y", (long long)after_ms(5));
    trace("main waits");
    CHECK_INT(wait_bounded(p[0], READ), READ);
    trace("main ready");
    CHECK_TRACE("main waits P wrote main ready main waits S sleeps S woke S wrote main ready");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(w);
    Py_DECREF(s);
    close_pair(p);
}

/* Outside (no main tasklet): as PyStackless_Schedule, a temporary main. */
TEST(wait_fd_from_outside_auto_wraps) {
    trace_reset();
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK(PyStackless_GetCurrent() == NULL);
    PyTaskletObject *x = make(b_write, "(sis)", "X", p[1], "x");
    CHECK_INT(wait_bounded(p[0], READ), READ);
    CHECK_TRACE("X wrote");
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK(PyStackless_GetMain() == NULL);
    CHECK_NO_ERROR();
    int64_t d = after_ms(5);
    CHECK_INT(PyStackless_WaitFd(p[1], READ, d), -1);
    CHECK_NOT_BEFORE(d);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_INT(PyStackless_WaitFd(p[1], WRITE, 0), WRITE);
    CHECK_INT(PyStackless_WaitFd(-1, READ, -1), -1);
    CHECK_EBADF();
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyTasklet_Alive(x), 0);
    Py_DECREF(x);
    close_pair(p);
}

/* ---- RunUntil and RunWatchdog ------------------------------------------------------ */

/* RunUntil(-1) waits for the fds until every wait ended: one by its event
 * (a sleeper writes it), one by its deadline. */
TEST(run_until_minus_one_runs_fd_waits_to_their_end) {
    int p[2], q[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK_INT(make_pipe(q), 0);
    int64_t base = after_ms(SETUP_MS);
    PyTaskletObject *w = WAITER("W", p[0], READ, -1);
    PyTaskletObject *t = WAITER("T", q[0], READ, base + 20 * MS);
    PyTaskletObject *s = make(b_write, "(sisL)", "S", p[1], "x", (long long)base);
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits T waits S sleeps S woke S wrote W ready 1 T " TIMED_OUT_REPR);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(w);
    Py_DECREF(t);
    Py_DECREF(s);
    close_pair(p);
    close_pair(q);
}

/* Plain RunWatchdog keeps Stackless's rule: it returns when the runnables
 * are empty, waiters or not. */
TEST(run_watchdog_returns_while_tasklets_wait_on_fds) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyTaskletObject *w = WAITER("W", p[0], READ, -1), *x = make(b_log, "(s)", "X");
    CHECK_RUN_NONE();
    CHECK_TRACE("W waits X runs");
    CHECK_INT(PyTasklet_Alive(w), 1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyTasklet_Kill(w), 0);
    CHECK_TRACE("W waits X runs W TaskletExit()");
    Py_DECREF(w);
    Py_DECREF(x);
    close_pair(p);
}

/* RunUntil(d) returns at d while a tasklet still waits, which waits on. */
TEST(run_until_returns_at_its_deadline_while_a_tasklet_waits) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyTaskletObject *w = WAITER("W", p[0], READ, -1);
    int64_t d = after_ms(5);
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_NOT_BEFORE(d);
    CHECK_TRACE("W waits");
    CHECK_INT(PyTasklet_Alive(w), 1);
    CHECK_INT(PyTasklet_Scheduled(w), 1);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    d = after_ms(5);
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_NOT_BEFORE(d);
    CHECK_INT(put_byte(p[1], 'x'), 0);
    CHECK_NONE(PyStackless_RunUntil(bound_deadline()));
    CHECK_TRACE("W waits W ready 1");
    Py_DECREF(w);
    close_pair(p);
}

/* (name, text, bound): "<name> starts", schedules until the trace holds
 * `text` or the bound passed, "<name> ends". */
static PyObject *b_busy_until_traced(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    const char *text = arg_str(args, 1);
    int64_t bound = PyLong_AsLong(PyTuple_GetItem(args, 2));
    trace("%s starts", n);
    while (strstr(trace_buf, text) == NULL && PyStackless_Now() < bound) {
        if (schedule() < 0) {
            return trace_failure(n);
        }
    }
    trace("%s ends", n);
    Py_RETURN_NONE;
}

/* A thread that is never idle (B keeps scheduling) still polls its fds:
 * W's wake is traced before B ends. */
TEST(busy_thread_still_wakes_its_fd_waiters) {
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyTaskletObject *w = make(b_wait, "(siiLi)", "W", p[0], READ, (long long)bound_deadline(), 3);
    PyTaskletObject *a = make(b_write, "(sis)", "A", p[1], "x");
    PyTaskletObject *b = make(b_busy_until_traced, "(ssL)", "B", "W ready 1 W ready 1 W ready 1",
                              (long long)bound_deadline());
    CHECK_NONE(PyStackless_RunUntil(-1));
    CHECK_TRACE("W waits A wrote B starts W ready 1 W ready 1 W ready 1 B ends");
    /* In a plain RunWatchdog too. */
    trace_reset();
    PyTaskletObject *v = make(b_wait, "(siiL)", "V", p[0], READ, (long long)bound_deadline());
    PyTaskletObject *c = make(b_busy_until_traced, "(ssL)", "C", "V ready", (long long)bound_deadline());
    CHECK_RUN_NONE();
    CHECK_TRACE("V waits C starts V ready 1 C ends");
    Py_DECREF(w);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(v);
    Py_DECREF(c);
    close_pair(p);
}

/* An idle thread whose tasklets (or main) wait on fds sleeps in the
 * kernel (CHECK_IDLE_CPU). */
TEST(thread_waiting_on_idle_fds_uses_no_cpu) {
    int p[2], q[2], s[2];
    CHECK_INT(make_pipe(p), 0);
    CHECK_INT(make_pipe(q), 0);
    CHECK_INT(make_socketpair(s), 0);
    PyTaskletObject *a = waiting("A", p[0], READ, -1), *b = waiting("B", q[0], READ, bound_deadline()),
                    *c = waiting("C", s[0], READ, -1);
    CHECK(a != NULL && b != NULL && c != NULL);
    int64_t cpu = thread_cpu_ns();
    int64_t d = after_ms(IDLE_MS);
    CHECK_NONE(PyStackless_RunUntil(d));
    CHECK_NOT_BEFORE(d);
    CHECK_IDLE_CPU(thread_cpu_ns() - cpu, "RunUntil");
    /* main waits itself. */
    cpu = thread_cpu_ns();
    d = after_ms(IDLE_MS);
    CHECK_INT(PyStackless_WaitFd(s[1], READ, d), -1);
    CHECK_NOT_BEFORE(d);
    CHECK_ERROR(PyExc_TimeoutError, TIMED_OUT_TEXT);
    CHECK_IDLE_CPU(thread_cpu_ns() - cpu, "WaitFd of main");
    CHECK_TRACE("A waits B waits C waits");
    CHECK_INT(PyTasklet_Kill(a), 0);
    CHECK_INT(PyTasklet_Kill(b), 0);
    CHECK_INT(PyTasklet_Kill(c), 0);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    close_pair(p);
    close_pair(q);
    close_pair(s);
}

/* ---- A host loop (EXTENSIONS §6) ---------------------------------------------------- */

/* Outside any main tasklet, the host watches the poll fd: it is readable
 * when an fd a tasklet waits on is ready, and when the earliest deadline
 * passed (not before), and not when nothing is due after RunUntil(Now())
 * ran what was. The hand-off from another thread: test_fds_threads.c. */
TEST(host_loop_poll_fd_is_readable_for_a_ready_fd_and_a_deadline) {
    /* A fresh scheduler state: a new poller, hosted from the start. */
    CHECK_INT(PyStackless_Finalize(), 0);
    trace_reset();
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    int pfd = PyStackless_GetPollFd();
    CHECK(pfd >= 0);
    CHECK_INT(PyStackless_GetPollFd(), pfd);
    CHECK_INT(readable_within(pfd, 0), 0);
    /* (a) a ready fd. */
    PyTaskletObject *w = make(b_wait_read, "(siL)", "W", p[0], (long long)bound_deadline());
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("W waits");
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_INT(readable_within(pfd, 0), 0);
    CHECK_INT(put_byte(p[1], 'a'), 0);
    CHECK_INT(readable_within(pfd, 0), 1);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("W waits W read a");
    CHECK_INT(readable_within(pfd, 0), 0);
    /* (b) a sleeper's deadline. */
    int64_t d = after_ms(5);
    PyTaskletObject *s = SLEEPER("S", d);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("W waits W read a S sleeps");
    CHECK_INT(PyStackless_NextDeadline(), d);
    CHECK_INT(readable_within(pfd, (int)(BOUND_MS)), 1);
    CHECK_NOT_BEFORE(d);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("W waits W read a S sleeps S woke");
    CHECK_INT(readable_within(pfd, 0), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    /* A timed waiter: its fd or its deadline, whichever first. */
    d = after_ms(5);
    PyTaskletObject *t = make(b_wait_read, "(siL)", "T", p[0], (long long)d);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_INT(readable_within(pfd, 0), 0);
    CHECK_INT(readable_within(pfd, (int)(BOUND_MS)), 1);
    CHECK_NOT_BEFORE(d);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("W waits W read a S sleeps S woke T waits T " TIMED_OUT_REPR);
    CHECK_INT(readable_within(pfd, 0), 0);
    /* The whole loop: poll fd and NextDeadline, RunUntil(Now()). */
    trace_reset();
    int64_t base = after_ms(5);
    PyTaskletObject *s2 = SLEEPER("S2", base + 10 * MS);
    PyTaskletObject *w2 = make(b_wait_read, "(siL)", "W2", p[0], (long long)bound_deadline());
    PyTaskletObject *q = make(b_write, "(sisL)", "Q", p[1], "b", (long long)base);
    int loops = 0;
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    while (loops < 1000 && (PyTasklet_Alive(s2) || PyTasklet_Alive(w2) || PyTasklet_Alive(q))) {
        int64_t next = PyStackless_NextDeadline();
        int64_t now = PyStackless_Now();
        int ms = next == -1 ? (int)BOUND_MS : next <= now ? 0 : (int)((next - now + MS - 1) / MS);
        readable_within(pfd, ms);
        loops++;
        CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    }
    CHECK_TRACE("S2 sleeps W2 waits Q sleeps Q woke Q wrote W2 read b S2 woke");
    /* Two deadlines, one fd event: a few wake-ups, no polling. */
    char m[64];
    snprintf(m, sizeof m, "%d wake-ups", loops);
    if (loops >= 50) {
        harness_fail(__FILE__, __LINE__, m);
        return;
    }
    printf("    host loop: %s\n", m);
    CHECK_INT(readable_within(pfd, 0), 0);
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(w);
    Py_DECREF(s);
    Py_DECREF(t);
    Py_DECREF(s2);
    Py_DECREF(w2);
    Py_DECREF(q);
    close_pair(p);
    /* The thread is hosted no more. */
    CHECK_INT(PyStackless_Finalize(), 0);
}

/* (name, d1, d2): "<name> sleeps", SleepUntil(d1); an exception is
 * traced as "<name> <repr>"; then SleepUntil(d2), an exception traced as
 * "<name> <repr>". */
static PyObject *b_sleep_twice(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s sleeps", n);
    if (PyStackless_SleepUntil(PyLong_AsLong(PyTuple_GetItem(args, 1))) < 0) {
        trace("%s %s", n, take_exc_repr());
    }
    if (PyStackless_SleepUntil(PyLong_AsLong(PyTuple_GetItem(args, 2))) < 0) {
        trace_caught(n, 0);
    }
    Py_RETURN_NONE;
}

/* A deadline that is gone before it passed makes the poll fd readable no
 * more: once RunUntil(Now()) ran what was due, nothing is due when that
 * deadline passes (EXTENSIONS §6: readable when the scheduler has work).
 * `how`: 0, a timed waiter woken by its fd; 1, a sleeper thrown out of
 * its sleep that sleeps again and is killed; 2, the same, not killed: its
 * deadline moved later. */
static void deadline_gone(int how) {
    CHECK_INT(PyStackless_Finalize(), 0);
    trace_reset();
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    int pfd = PyStackless_GetPollFd();
    int64_t d = after_ms(SETUP_MS);
    PyTaskletObject *t;
    if (how == 0) {
        t = make(b_wait_read, "(siL)", "T", p[0], (long long)d);
    } else {
        t = make(b_sleep_twice, "(sLL)", "T", (long long)d, (long long)bound_deadline());
    }
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_INT(PyStackless_NextDeadline(), d);
    if (how == 0) {
        CHECK_INT(put_byte(p[1], 'x'), 0);
        CHECK_INT(readable_within(pfd, 0), 1);
        CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
        CHECK_TRACE("T waits T read x");
        CHECK_INT(PyStackless_NextDeadline(), -1);
    } else {
        CHECK_INT(PyTasklet_Throw(t, 0, PyExc_ValueError, NULL, NULL), 0);
        CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
        CHECK(PyStackless_NextDeadline() > d);
        if (how == 1) {
            CHECK_INT(PyTasklet_Kill(t), 0);
            CHECK_INT(PyStackless_NextDeadline(), -1);
        }
    }
    CHECK(PyStackless_Now() < d);
    CHECK_INT(readable_within(pfd, 0), 0);
    os_sleep_until(d + 2 * MS);
    CHECK_INT(readable_within(pfd, 0), 0);
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_INT(readable_within(pfd, 0), 0);
    if (PyTasklet_Alive(t)) {
        CHECK_INT(PyTasklet_Kill(t), 0);
    }
    Py_DECREF(t);
    close_pair(p);
    CHECK_INT(PyStackless_Finalize(), 0);
}

TEST(host_poll_fd_is_not_readable_at_the_deadline_of_a_waiter_woken_by_its_fd) {
    deadline_gone(0);
}

TEST(host_poll_fd_is_not_readable_at_the_deadline_of_a_killed_sleeper) {
    deadline_gone(1);
}

TEST(host_poll_fd_is_not_readable_at_a_deadline_moved_later) {
    deadline_gone(2);
}

/* The thread's end kills its waiters: each gets TaskletExit and leaves
 * the poller. */
TEST(finalize_kills_the_waiters) {
    CHECK_INT(PyStackless_Finalize(), 0);
    trace_reset();
    int p[2];
    CHECK_INT(make_pipe(p), 0);
    PyTaskletObject *w = make(b_wait, "(siiL)", "W", p[0], READ, -1LL);
    PyTaskletObject *v = make(b_wait, "(siiL)", "V", p[0], BOTH, (long long)bound_deadline());
    CHECK_NONE(PyStackless_RunUntil(PyStackless_Now()));
    CHECK_TRACE("W waits V waits");
    CHECK_INT(PyStackless_Finalize(), 0);
    CHECK_INT(PyTasklet_Alive(w), 0);
    CHECK_INT(PyTasklet_Alive(v), 0);
    CHECK_TRACE("W waits V waits W TaskletExit() V TaskletExit()");
    CHECK_INT(PyStackless_NextDeadline(), -1);
    Py_DECREF(w);
    Py_DECREF(v);
    close_pair(p);
}

static void context(char *buf, size_t size) {
    snprintf(buf, size, "    in case %s", harness_case ? harness_case : "(none)");
}

int main(void) {
    hang_guard_start("test_fds", 120, 0, context);
    RUN_INSIDE(pipe_read_end_wakes_its_waiter_when_written);
    RUN_INSIDE(full_pipe_is_writable_only_when_drained);
    RUN_INSIDE(socketpair_is_writable_and_readable_when_written);
    RUN_INSIDE(wait_returns_the_ready_subset);
    RUN_INSIDE(waiting_again_on_a_readable_fd_returns_again);
    RUN_INSIDE(waiters_on_one_fd_wake_in_the_order_they_waited);
    RUN_INSIDE(waiters_for_different_events_wake_for_their_own);
    RUN_INSIDE(regular_file_is_always_ready);
    RUN_INSIDE(deadline_first_is_a_timeout);
    RUN_INSIDE(passed_deadline_is_a_try_without_switching);
    RUN_INSIDE(kill_of_a_waiter_takes_it_off_the_poller);
    RUN_INSIDE(throw_and_raise_exception_wake_a_waiter);
    RUN_INSIDE(forget_fd_wakes_its_waiters_with_ebadf);
    RUN_INSIDE(forget_fd_without_waiters_returns_zero);
    RUN_INSIDE(fd_number_reused_after_forget_and_close_works);
    RUN_INSIDE(bad_fd_is_an_os_error_ebadf);
    RUN_INSIDE(bad_events_are_value_errors);
    RUN_INSIDE(invalid_deadlines_are_value_errors);
    RUN_INSIDE(waiter_reads_like_a_sleeper);
    RUN_INSIDE(run_insert_or_remove_of_a_waiter_is_refused);
    RUN_INSIDE(switch_trap_refuses_to_wait);
    RUN_INSIDE(main_may_wait_on_an_fd);
    RUN(wait_fd_from_outside_auto_wraps);
    RUN_INSIDE(run_until_minus_one_runs_fd_waits_to_their_end);
    RUN_INSIDE(run_watchdog_returns_while_tasklets_wait_on_fds);
    RUN_INSIDE(run_until_returns_at_its_deadline_while_a_tasklet_waits);
    RUN_INSIDE(busy_thread_still_wakes_its_fd_waiters);
    RUN_INSIDE(thread_waiting_on_idle_fds_uses_no_cpu);
    RUN(host_loop_poll_fd_is_readable_for_a_ready_fd_and_a_deadline);
    RUN(host_poll_fd_is_not_readable_at_the_deadline_of_a_waiter_woken_by_its_fd);
    RUN(host_poll_fd_is_not_readable_at_the_deadline_of_a_killed_sleeper);
    RUN(host_poll_fd_is_not_readable_at_a_deadline_moved_later);
    RUN(finalize_kills_the_waiters);
    PyStackless_Finalize();
    return harness_summary("test_fds");
}
