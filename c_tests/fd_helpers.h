/*
 * Shared by the tests of waiting on file descriptors (EXTENSIONS.md §4-§6;
 * test_fds.c and test_fds_threads.c): pipes and socketpairs, filling and
 * draining them, the messages expected, the OSError of a bad fd, the CPU
 * time of a thread, and tasklet bodies that wait on fds and trace what
 * they see (for one thread only, as time_helpers.h's).
 *
 * The timing rule is time_helpers.h's: orders of events and "not before
 * its deadline", never durations. A waiter that a passing test wakes by
 * an fd event waits with a BOUND deadline: a broken library then fails
 * the case instead of hanging the program until the hang guard ends it.
 * A wait that returns ready only once its BOUND passed is marked "late"
 * (a lost wake-up that the timer covered up), which no check expects.
 */
#ifndef STACKLESS_FD_HELPERS_H
#define STACKLESS_FD_HELPERS_H

#include "time_helpers.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_EVENTS_TEXT "events must be PY_WAIT_READ, PY_WAIT_WRITE or both"
#define EBADF_TEXT "[Errno 9] Bad file descriptor"
#define EBADF_REPR "OSError(9, 'Bad file descriptor')"
#define EBADF_ARGS "(9, 'Bad file descriptor')"
#define READ PY_WAIT_READ
#define WRITE PY_WAIT_WRITE
#define BOTH (PY_WAIT_READ | PY_WAIT_WRITE)

/* A deadline that a passing test never reaches for a wait that an fd
 * event ends (see above). */
#define BOUND_MS ((int64_t)5000)

static inline int64_t bound_deadline(void) {
    return after_ms(BOUND_MS);
}

/* Whether a wait that began at `start` with deadline `d` and returned
 * ready did so late: only once a deadline still ahead at the start had
 * passed. */
static inline int returned_late(int64_t start, int64_t d) {
    return d != -1 && d > start && PyStackless_Now() >= d;
}

/* What WaitFd returns for a late ready (see above): no PY_WAIT_* subset. */
#define LATE 100

/* PyStackless_WaitFd(fd, events, BOUND) for a wait that an fd event must
 * end: the ready bits, -1 with the exception, or LATE + the bits when it
 * returned ready only once the BOUND had passed. */
static inline int wait_bounded(int fd, int events) {
    int64_t start = PyStackless_Now(), d = start + BOUND_MS * MS;
    int got = PyStackless_WaitFd(fd, events, d);
    return got > 0 && returned_late(start, d) ? LATE + got : got;
}

/* ---- Pipes and socketpairs ------------------------------------------------ */

static inline int set_cloexec(int fd) {
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* A pipe: fds[0] the read end, fds[1] the write end; -1 on failure. */
static inline int make_pipe(int fds[2]) {
    if (pipe(fds) != 0) {
        return -1;
    }
    set_cloexec(fds[0]);
    set_cloexec(fds[1]);
    return 0;
}

/* A connected pair of stream sockets (each end readable when the other
 * wrote, writable while its buffer has room); -1 on failure. */
static inline int make_socketpair(int fds[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
        return -1;
    }
    set_cloexec(fds[0]);
    set_cloexec(fds[1]);
    return 0;
}

static inline void close_pair(int fds[2]) {
    close(fds[0]);
    close(fds[1]);
}

/* Writes one byte `c`; 0 or -1. */
static inline int put_byte(int fd, char c) {
    return write(fd, &c, 1) == 1 ? 0 : -1;
}

/* Reads one byte; '!' when the read failed. */
static inline char take_byte(int fd) {
    char c = '?';
    return read(fd, &c, 1) == 1 ? c : '!';
}

static inline int set_nonblocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) {
        return -1;
    }
    return fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

/* Reads what `fd` holds without blocking; returns how many bytes. */
static inline long drain(int fd) {
    char buf[4096];
    long total = 0;
    set_nonblocking(fd, 1);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        total += n;
    }
    set_nonblocking(fd, 0);
    return total;
}

/* Writes into `fd` until a write would block (a full pipe or socket);
 * returns how many bytes. */
static inline long fill(int fd) {
    static const char buf[4096];
    long total = 0;
    set_nonblocking(fd, 1);
    for (;;) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        total += n;
    }
    set_nonblocking(fd, 0);
    return total;
}

/* What poll(2) says `fd` is ready for now, as PY_WAIT_* bits: what the
 * kernel thinks, to compare with what the library says. */
static inline int kernel_ready(int fd, int events) {
    struct pollfd p = {fd, (short)((events & READ ? POLLIN : 0) | (events & WRITE ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 0) < 0) {
        return -1;
    }
    return (p.revents & POLLIN ? READ : 0) | (p.revents & POLLOUT ? WRITE : 0);
}

/* Whether `fd` is readable, after waiting up to `ms` (0: a look now). */
static inline int readable_within(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    return n == 1 && (p.revents & POLLIN) != 0;
}

/* ---- The OSError of a bad fd ---------------------------------------------- */

/* Checks that the pending exception is exactly OSError (not a subclass)
 * with args (9, 'Bad file descriptor') and str "[Errno 9] Bad file
 * descriptor", then clears it; 0 (and the case failed) otherwise. */
static inline int check_ebadf(const char *file, int line) {
    PyObject *t, *v, *tb;
    char m[512];
    if (PyErr_Occurred() == NULL) {
        harness_fail(file, line, "expected OSError(EBADF), none is set");
        return 0;
    }
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *args = v ? PyObject_GetAttrString(v, "args") : NULL;
    const char *type = t ? ((PyTypeObject *)t)->tp_name : "NULL";
    const char *text = harness_text(v, 0);
    const char *args_text = harness_text(args, 1);
    int ok = t == PyExc_OSError && strcmp(text, EBADF_TEXT) == 0 && strcmp(args_text, EBADF_ARGS) == 0;
    if (!ok) {
        snprintf(m, sizeof m, "expected OSError, str \"%s\", args %s; got %s, str \"%s\", args %s", EBADF_TEXT,
                 EBADF_ARGS, type, text, args_text);
        harness_fail(file, line, m);
    }
    PyErr_Clear();
    Py_XDECREF(args);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return ok;
}

#define CHECK_EBADF()                                                          \
    do {                                                                       \
        if (!check_ebadf(__FILE__, __LINE__)) {                                \
            return;                                                            \
        }                                                                      \
    } while (0)

/* ---- Tasklet bodies (one thread: they trace) ------------------------------- */

/* (name, fd, events, deadline[, times]): "<name> waits", then `times`
 * (default 1) WaitFd(fd, events, deadline), each traced as "<name> ready
 * <bits>" (" late" when only after a deadline ahead at the start); an
 * exception ends the loop, caught and traced as "<name> <repr>" (a
 * TimeoutError before the deadline marked " early"). */
static inline PyObject *b_wait(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    int fd = (int)PyLong_AsLong(PyTuple_GetItem(args, 1));
    int events = (int)PyLong_AsLong(PyTuple_GetItem(args, 2));
    int64_t d = PyLong_AsLong(PyTuple_GetItem(args, 3));
    long times = PyTuple_Size(args) > 4 ? PyLong_AsLong(PyTuple_GetItem(args, 4)) : 1;
    trace("%s waits", n);
    for (long i = 0; i < times; i++) {
        int64_t start = PyStackless_Now();
        int got = PyStackless_WaitFd(fd, events, d);
        if (got < 0) {
            trace_caught(n, d);
            Py_RETURN_NONE;
        }
        trace("%s ready %d%s", n, got, returned_late(start, d) ? " late" : "");
    }
    Py_RETURN_NONE;
}

/* (name, fd, deadline): "<name> waits", WaitFd(fd, READ, deadline), reads
 * one byte c and traces "<name> read <c>" (" late" as b_wait's); an
 * exception as b_wait. */
static inline PyObject *b_wait_read(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    int fd = (int)PyLong_AsLong(PyTuple_GetItem(args, 1));
    int64_t d = PyLong_AsLong(PyTuple_GetItem(args, 2));
    trace("%s waits", n);
    int64_t start = PyStackless_Now();
    int got = PyStackless_WaitFd(fd, READ, d);
    if (got < 0) {
        trace_caught(n, d);
        Py_RETURN_NONE;
    }
    int late = returned_late(start, d);
    trace("%s read %c%s", n, take_byte(fd), late ? " late" : "");
    Py_RETURN_NONE;
}

/* (name, fd, byte[, deadline]): sleeps until the deadline if one is given
 * ("<name> sleeps", "<name> woke"), writes the byte (a one-character
 * string) into fd, traces "<name> wrote". */
static inline PyObject *b_write(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    int fd = (int)PyLong_AsLong(PyTuple_GetItem(args, 1));
    const char *byte = arg_str(args, 2);
    if (PyTuple_Size(args) > 3) {
        trace("%s sleeps", n);
        if (PyStackless_SleepUntil(PyLong_AsLong(PyTuple_GetItem(args, 3))) < 0) {
            return trace_failure(n);
        }
        trace("%s woke", n);
    }
    if (put_byte(fd, byte[0]) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "write failed");
        return trace_failure(n);
    }
    trace("%s wrote", n);
    Py_RETURN_NONE;
}

/* (name, fd): "<name> forgets", ForgetFd(fd), "<name> woke <count>" (or
 * the exception). */
static inline PyObject *b_forget(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s forgets", n);
    int woken = PyStackless_ForgetFd((int)PyLong_AsLong(PyTuple_GetItem(args, 1)));
    if (woken < 0) {
        return trace_failure(n);
    }
    trace("%s woke %d", n, woken);
    Py_RETURN_NONE;
}

#define WAITER(name, fd, events, d) make(b_wait, "(siiL)", (name), (fd), (events), (long long)(d))

#endif
