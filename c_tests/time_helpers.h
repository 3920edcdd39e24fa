/*
 * Shared by the tests of the time extensions (EXTENSIONS.md §1-§3, §5, §7;
 * test_time.c and test_time_threads.c): the messages expected, deadlines in
 * milliseconds on the runtime's clock, waiting without a scheduling point,
 * and tasklet bodies that trace what they do (for one thread only: the
 * trace is not shared safely between threads).
 *
 * Timing rule of these tests: deadlines are a few ms away and the tests
 * assert the order of events and that nothing returned before its
 * deadline, never how long a call took. FAR is a deadline a passing test
 * never reaches (its tasklet is killed first); an implementation that
 * waits for it fails, slowly, rather than passing.
 */
#ifndef STACKLESS_TIME_HELPERS_H
#define STACKLESS_TIME_HELPERS_H

#define _POSIX_C_SOURCE 200809L

#include "channel_helpers.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>

#define INVALID_DEADLINE_TEXT "invalid deadline"
/* Not fixed by EXTENSIONS.md (it says only "ValueError"): CPython's text
 * for time.sleep(-1). */
#define NEGATIVE_SLEEP_TEXT "sleep length must be non-negative"
#define TIMED_OUT_TEXT "timed out"
#define TIMED_OUT_REPR "TimeoutError('timed out')"
#define BLOCKED_RUN_TEXT "You cannot run a blocked tasklet"
#define BLOCK_TRAP_TEXT "this tasklet does not like to be blocked."
#define DEADLOCK_TEXT "Deadlock: the last runnable tasklet cannot be blocked."

#define MS ((int64_t)1000000)
#define FAR_MS ((int64_t)30000)
/* Time a test may take to set up its tasklets (under valgrind or a
 * sanitizer too) before a deadline whose order it asserts. */
#define SETUP_MS ((int64_t)50)

/* The deadline `ms` milliseconds from now. */
static inline int64_t after_ms(int64_t ms) {
    return PyStackless_Now() + ms * MS;
}

/* A deadline that a passing test never reaches. */
static inline int64_t far_deadline(void) {
    return after_ms(FAR_MS);
}

/* Spins until the clock has passed `deadline`: the running tasklet keeps
 * the thread, no scheduling point happens meanwhile. */
static inline void busy_until(int64_t deadline) {
    while (PyStackless_Now() <= deadline) {
    }
}

/* Sleeps the OS thread (not a tasklet) until the runtime's clock reads
 * `deadline`: the runtime's clock is CLOCK_MONOTONIC. */
static inline void os_sleep_until(int64_t deadline) {
    struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Fails the case unless the last timed call did not return before its
 * deadline `d`. */
#define CHECK_NOT_BEFORE(d) CHECK(PyStackless_Now() >= (d))

/* ---- CPU time --------------------------------------------------------------- */

/* The CPU time the calling thread has used, in ns. */
static inline int64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An idle wait of the tests (EXTENSIONS §5: an idle thread sleeps in the
 * kernel), in ms; it may use a tenth of that in CPU, far more than a
 * thread asleep in the kernel uses and far less than a polling loop. */
#define IDLE_MS ((int64_t)200)

/* Fails the case unless `cpu` ns of the thread's CPU, used in an idle wait
 * of IDLE_MS (`what`), is within that bound. */
#define CHECK_IDLE_CPU(cpu, what)                                              \
    do {                                                                       \
        if ((cpu) >= IDLE_MS / 10 * MS) {                                      \
            char m_[128];                                                      \
            snprintf(m_, sizeof m_, "%s: %lld us of CPU in %lld ms", (what),   \
                     (long long)((cpu) / 1000), (long long)IDLE_MS);           \
            harness_fail(__FILE__, __LINE__, m_);                              \
            return;                                                            \
        }                                                                      \
    } while (0)

/* ---- Tasklet bodies (one thread: they trace) ------------------------------- */

/* Traces "<name> <repr of the pending exception>" and clears it; a
 * TimeoutError that came before `deadline` is marked " early". */
static inline void trace_caught(const char *name, int64_t deadline) {
    int early = PyErr_ExceptionMatches(PyExc_TimeoutError) && PyStackless_Now() < deadline;
    trace("%s %s%s", name, take_exc_repr(), early ? " early" : "");
}

/* (name, deadline, ...): "<name> sleeps", then for each deadline SleepUntil
 * and "<name> woke" (" early" when before it). An exception is caught and
 * traced as "<name> <repr>". */
static inline PyObject *b_sleep(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s sleeps", n);
    for (Py_ssize_t i = 1; i < PyTuple_Size(args); i++) {
        int64_t d = PyLong_AsLong(PyTuple_GetItem(args, i));
        if (PyStackless_SleepUntil(d) < 0) {
            trace_caught(n, d);
            Py_RETURN_NONE;
        }
        trace("%s woke%s", n, PyStackless_Now() < d ? " early" : "");
    }
    Py_RETURN_NONE;
}

/* (name, ns): "<name> naps", Sleep(ns), "<name> woke" or the exception. */
static inline PyObject *b_nap(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s naps", n);
    if (PyStackless_Sleep(PyLong_AsLong(PyTuple_GetItem(args, 1))) < 0) {
        trace_caught(n, 0);
    } else {
        trace("%s woke", n);
    }
    Py_RETURN_NONE;
}

/* (name, ch, deadline): "<name> sleeps"; SleepUntil; "<name> woke"; sends
 * "late" on ch; "<name> sent". */
static inline PyObject *b_sleep_send(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s sleeps", n);
    if (PyStackless_SleepUntil(PyLong_AsLong(PyTuple_GetItem(args, 2))) < 0) {
        return trace_failure(n);
    }
    trace("%s woke", n);
    PyObject *v = PyUnicode_FromString("late");
    int rc = PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 1), v);
    Py_DECREF(v);
    if (rc < 0) {
        return trace_failure(n);
    }
    trace("%s sent", n);
    Py_RETURN_NONE;
}

/* (name, ch, deadline): ReceiveUntil; "<name> got <str(value)>" or the
 * exception, caught. */
static inline PyObject *b_recv_until(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    int64_t d = PyLong_AsLong(PyTuple_GetItem(args, 2));
    PyObject *v = PyChannel_ReceiveUntil((PyChannelObject *)PyTuple_GetItem(args, 1), d);
    if (v == NULL) {
        trace_caught(n, d);
    } else {
        trace("%s got %s", n, harness_text(v, 0));
        Py_DECREF(v);
    }
    Py_RETURN_NONE;
}

/* (name, ch, value, deadline): SendUntil; "<name> sent" or the exception,
 * caught. */
static inline PyObject *b_send_until(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    int64_t d = PyLong_AsLong(PyTuple_GetItem(args, 3));
    if (PyChannel_SendUntil((PyChannelObject *)PyTuple_GetItem(args, 1), PyTuple_GetItem(args, 2), d) < 0) {
        trace_caught(n, d);
    } else {
        trace("%s sent", n);
    }
    Py_RETURN_NONE;
}

/* (name, deadline): "<name> runs", spins past the deadline, ends. */
static inline PyObject *b_hog(PyObject *self, PyObject *args) {
    (void)self;
    trace("%s runs", arg_str(args, 0));
    busy_until(PyLong_AsLong(PyTuple_GetItem(args, 1)));
    Py_RETURN_NONE;
}

/* (name[, deadline]): "<name> start", spins past the deadline if one is
 * given ("<name> busy"), Schedule, "<name> end". */
static inline PyObject *b_step(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s start", n);
    if (PyTuple_Size(args) > 1) {
        busy_until(PyLong_AsLong(PyTuple_GetItem(args, 1)));
        trace("%s busy", n);
    }
    if (schedule() < 0) {
        return trace_failure(n);
    }
    trace("%s end", n);
    Py_RETURN_NONE;
}

/* (name): "<name> next=<PyStackless_NextDeadline()>". */
static inline PyObject *b_probe(PyObject *self, PyObject *args) {
    (void)self;
    trace("%s next=%lld", arg_str(args, 0), (long long)PyStackless_NextDeadline());
    Py_RETURN_NONE;
}

/* (name): raises ValueError("boom"). */
static inline PyObject *b_raise(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyErr_SetString(PyExc_ValueError, "boom");
    return NULL;
}

/* (name): "<name> runs", a nested RunUntil(-1), "<name> back". */
static inline PyObject *b_nested(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s runs", n);
    PyObject *r = PyStackless_RunUntil(-1);
    if (r == NULL) {
        return trace_failure(n);
    }
    Py_DECREF(r);
    trace("%s back", n);
    Py_RETURN_NONE;
}

#define SLEEPER(name, d) make(b_sleep, "(sL)", (name), (long long)(d))

/* The channel callback: "cb(<tasklet>,<sending>,<willblock>)". */
static inline PyObject *cb_trace(PyObject *self, PyObject *args) {
    (void)self;
    trace("cb(%s,%ld,%ld)", name_of(PyTuple_GetItem(args, 1)), PyLong_AsLong(PyTuple_GetItem(args, 2)),
          PyLong_AsLong(PyTuple_GetItem(args, 3)));
    Py_RETURN_NONE;
}

static inline int trace_channel_callbacks(void) {
    PyObject *cb = body_function(cb_trace, "cb_trace");
    int rc = PyStackless_SetChannelCallback(cb);
    Py_DECREF(cb);
    return rc;
}

#endif
