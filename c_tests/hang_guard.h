/*
 * A guard against hangs for the threaded tests: a monitor thread (outside
 * the runtime) fails the program when it runs longer than a limit or when
 * the progress counter the test bumps stops moving for a while. It prints
 * "FAILED: <program> (hang: ...)" with the test's own context (seed, state
 * of its threads), with HANG_GDB=1 also the backtraces of every thread
 * (gdb attached to the process), and ends the program with status 3. An
 * alarm a little later is the last resort should the monitor be stuck.
 */
#ifndef STACKLESS_TEST_HANG_GUARD_H
#define STACKLESS_TEST_HANG_GUARD_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Writes what the test is doing into `buf` (called on the monitor thread:
 * read only atomics and plain data of ended threads). */
typedef void (*hang_context_fn)(char *buf, size_t size);

static struct {
    long progress; /* atomic: bumped by the test */
    int limit_s;
    int stall_s;
    hang_context_fn context;
    const char *program;
} hang_guard;

static inline double hang_guard_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Tells the monitor that the test moved on. */
static inline void hang_guard_progress(void) {
    __atomic_add_fetch(&hang_guard.progress, 1, __ATOMIC_RELAXED);
}

static inline void hang_guard_fire(const char *why) {
    static char ctx[8192];
    ctx[0] = '\0';
    if (hang_guard.context != NULL) {
        hang_guard.context(ctx, sizeof ctx);
    }
    printf("FAILED: %s (hang: %s)\n%s\n", hang_guard.program, why, ctx);
    fflush(stdout);
    const char *gdb = getenv("HANG_GDB");
    if (gdb != NULL && gdb[0] == '1') {
        char cmd[256];
        snprintf(cmd, sizeof cmd,
                 "gdb -batch -p %d -ex 'info threads' -ex 'thread apply all bt' </dev/null 1>&2",
                 (int)getpid());
        if (system(cmd) != 0) {
            fprintf(stderr, "hang_guard: gdb failed\n");
        }
    }
    printf("-- %s: hang\n", hang_guard.program);
    fflush(stdout);
    _exit(3);
}

static inline void *hang_guard_thread(void *arg) {
    (void)arg;
    double start = hang_guard_now(), changed = start;
    long seen = -1;
    for (;;) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        double now = hang_guard_now();
        long p = __atomic_load_n(&hang_guard.progress, __ATOMIC_RELAXED);
        if (p != seen) {
            seen = p;
            changed = now;
        }
        char why[128];
        if (now - start > hang_guard.limit_s) {
            snprintf(why, sizeof why, "still running after %d s", hang_guard.limit_s);
            hang_guard_fire(why);
        }
        if (hang_guard.stall_s > 0 && now - changed > hang_guard.stall_s) {
            snprintf(why, sizeof why, "no progress for %d s", hang_guard.stall_s);
            hang_guard_fire(why);
        }
    }
    return NULL;
}

static inline void hang_guard_alarm(int sig) {
    (void)sig;
    static const char m[] = "FAILED: hang (alarm: the hang guard did not fire)\n";
    if (write(1, m, sizeof m - 1) < 0) {
        _exit(3);
    }
    _exit(3);
}

/* Starts the monitor: the program fails after `limit_s` seconds, or when
 * `stall_s` > 0 seconds pass without hang_guard_progress(). */
static inline void hang_guard_start(const char *program, int limit_s, int stall_s, hang_context_fn context) {
    hang_guard.program = program;
    hang_guard.limit_s = limit_s;
    hang_guard.stall_s = stall_s;
    hang_guard.context = context;
    pthread_t monitor;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&monitor, &attr, hang_guard_thread, NULL);
    pthread_attr_destroy(&attr);
    signal(SIGALRM, hang_guard_alarm);
    alarm((unsigned)limit_s + 30);
}

/* An integer from the environment, or `fallback`. */
static inline long env_long(const char *name, long fallback) {
    const char *s = getenv(name);
    if (s == NULL || *s == '\0') {
        return fallback;
    }
    char *end;
    long v = strtol(s, &end, 0);
    return *end == '\0' ? v : fallback;
}

#endif
