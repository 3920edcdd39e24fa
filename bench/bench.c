/*
 * libstackless benchmarks. `bench ROW [N]` runs one row and prints its
 * figures on one line: ns/op for the timing rows (threads-2-mixed adds the
 * percentage of its messages that crossed threads; timed-recv prints
 * "timed_ns plain_ns timed/plain"); for the blocked-N rows
 * "bytes_per_tasklet create_ns_per_tasklet wake_ns_per_tasklet"; for
 * `bench sleep N` (N tasklets; any row name that starts with "sleep" but
 * the two below) "bytes_per_tasklet set_ns fire_ns last_late_us", for
 * `bench sleep-burst N` and `bench sleep-plain N` "bytes_per_tasklet
 * set_ns fire_ns" (bench_sleep says what they are); for `idle`, the CPU
 * time in µs that a thread whose tasklets all sleep uses per second.
 * bench/run.sh runs every row several times and prints the table. Every
 * row ends the program after a time limit (120 s for the threaded rows,
 * 600 s for the others; BENCH_LIMIT=seconds to change it, 0 for none).
 */
#define _POSIX_C_SOURCE 200809L
#include <stackless.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { NS_PER_S = 1000000000 };

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* CPU time of the process, user + system (getrusage's figure, in ns). */
static int64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void fail(const char *what) {
    fprintf(stderr, "bench: %s failed\n", what);
    PyErr_Print();
    exit(1);
}

/* No row may hang: each ends the program after a time limit (BENCH_LIMIT
 * seconds, 0 for none), with a message naming the row. */
static char limit_message[128];
static size_t limit_length;

static void limit_reached(int sig) {
    (void)sig;
    if (write(2, limit_message, limit_length) < 0) {
        _exit(3);
    }
    _exit(3);
}

static void set_limit(const char *row, unsigned seconds) {
    const char *env = getenv("BENCH_LIMIT");
    if (env != NULL && *env != '\0') {
        seconds = (unsigned)atoi(env);
    }
    snprintf(limit_message, sizeof limit_message, "bench: %s still running after %u s (BENCH_LIMIT)\n", row,
             seconds);
    limit_length = strlen(limit_message);
    signal(SIGALRM, limit_reached);
    alarm(seconds);
}

static long iterations;
static PyChannelObject *channel;

static PyObject *new_func(PyCFunction f, const char *name) {
    static PyMethodDef defs[8];
    static int used;
    PyMethodDef *def = &defs[used++];
    def->ml_name = name;
    def->ml_meth = f;
    def->ml_flags = METH_VARARGS;
    def->ml_doc = NULL;
    return PyCFunction_New(def, NULL);
}

static PyTaskletObject *spawn(PyObject *func) {
    PyTaskletObject *t = PyTasklet_New(NULL, func);
    if (t == NULL || PyTasklet_Setup(t, NULL, NULL) < 0) {
        fail("spawn");
    }
    return t;
}

static void run_all(void) {
    PyObject *r = PyStackless_RunWatchdog(0);
    if (r == NULL) {
        fail("run");
    }
    Py_DECREF(r);
}

/* ---- switch: two tasklets alternating with PyStackless_Schedule ------- */

static PyObject *yielder(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (long i = 0; i < iterations; i++) {
        PyObject *r = PyStackless_Schedule(Py_None, 0);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

static double bench_switch(void) {
    PyObject *f = new_func(yielder, "yielder");
    PyTaskletObject *a = spawn(f), *b = spawn(f);
    double t0 = now_ns();
    run_all();
    double dt = now_ns() - t0;
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(f);
    return dt / (2.0 * (double)iterations);
}

/* ---- pingpong: one-way messages over a channel ------------------------ */

static PyObject *sender(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (long i = 0; i < iterations; i++) {
        if (PyChannel_Send(channel, Py_None) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (long i = 0; i < iterations; i++) {
        PyObject *v = PyChannel_Receive(channel);
        if (v == NULL) {
            return NULL;
        }
        Py_DECREF(v);
    }
    Py_RETURN_NONE;
}

static double bench_pingpong(int preference) {
    channel = PyChannel_New(NULL);
    PyChannel_SetPreference(channel, preference);
    PyObject *fs = new_func(sender, "sender"), *fr = new_func(receiver, "receiver");
    PyTaskletObject *r = spawn(fr), *s = spawn(fs);
    double t0 = now_ns();
    run_all();
    double dt = now_ns() - t0;
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(fs);
    Py_DECREF(fr);
    Py_DECREF(channel);
    return dt / (double)iterations;
}

/* ---- timed-recv: pingpong-1 with a deadline on every receive ---------- */

/* As receiver, with a deadline an hour away: every receive blocks with a
 * timer that the sender beats, and the timer is cancelled. */
static PyObject *timed_receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    int64_t deadline = PyStackless_Now() + 3600LL * NS_PER_S;
    for (long i = 0; i < iterations; i++) {
        PyObject *v = PyChannel_ReceiveUntil(channel, deadline);
        if (v == NULL) {
            return NULL;
        }
        Py_DECREF(v);
    }
    Py_RETURN_NONE;
}

/* Nanoseconds for n one-way messages from a sender to the receiving
 * tasklet function `fr`, preference -1 (the receiver blocks every time). */
static double pingpong_ns(PyObject *fs, PyObject *fr, long n) {
    long saved = iterations;
    iterations = n;
    channel = PyChannel_New(NULL);
    PyTaskletObject *r = spawn(fr), *s = spawn(fs);
    double t0 = now_ns();
    run_all();
    double dt = now_ns() - t0;
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(channel);
    iterations = saved;
    return dt;
}

/* Prints "timed_ns plain_ns timed/plain" per message: the same loop with
 * PyChannel_ReceiveUntil and with PyChannel_Receive, in this run, each
 * half of the messages in the order plain, timed, timed, plain, after a
 * warm-up, so that a drift of the clock speed weighs on both alike. */
static void bench_timed_recv(void) {
    PyObject *fs = new_func(sender, "sender");
    PyObject *fr = new_func(receiver, "receiver");
    PyObject *ft = new_func(timed_receiver, "timed_receiver");
    long half = iterations / 2;
    pingpong_ns(fs, fr, half / 10);
    pingpong_ns(fs, ft, half / 10);
    double plain = pingpong_ns(fs, fr, half);
    double timed = pingpong_ns(fs, ft, half);
    timed += pingpong_ns(fs, ft, half);
    plain += pingpong_ns(fs, fr, half);
    plain /= 2.0 * (double)half;
    timed /= 2.0 * (double)half;
    printf("%.2f %.2f %.3f\n", timed, plain, timed / plain);
    Py_DECREF(ft);
    Py_DECREF(fr);
    Py_DECREF(fs);
}

/* ---- spawn: create + run to completion, in batches of 100 ------------- */

static PyObject *nothing(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Py_RETURN_NONE;
}

static PyObject *parked(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyChannel_Receive(channel);
}

static double bench_spawn(long in_flight) {
    PyObject *f = new_func(nothing, "nothing");
    PyObject *fp = new_func(parked, "parked");
    channel = PyChannel_New(NULL);
    for (long i = 0; i < in_flight; i++) {
        Py_DECREF(spawn(fp));
    }
    run_all();
    enum { BATCH = 100 };
    long batches = iterations / BATCH;
    PyTaskletObject *batch[BATCH];
    for (int warm = 0; warm < 2; warm++) {
        for (int i = 0; i < BATCH; i++) {
            batch[i] = spawn(f);
        }
        run_all();
        for (int i = 0; i < BATCH; i++) {
            Py_DECREF(batch[i]);
        }
    }
    double t0 = now_ns();
    for (long b = 0; b < batches; b++) {
        for (int i = 0; i < BATCH; i++) {
            batch[i] = spawn(f);
        }
        run_all();
        for (int i = 0; i < BATCH; i++) {
            Py_DECREF(batch[i]);
        }
    }
    double dt = now_ns() - t0;
    for (long i = 0; i < in_flight; i++) {
        if (PyChannel_Send(channel, Py_None) < 0) {
            fail("wake");
        }
    }
    run_all();
    Py_DECREF(channel);
    Py_DECREF(fp);
    Py_DECREF(f);
    return dt / (double)(batches * BATCH);
}

/* ---- fanin: 1,000 senders, one receiver ------------------------------- */

static double bench_fanin(void) {
    enum { SENDERS = 1000 };
    long per_sender = iterations / SENDERS;
    long saved = iterations;
    channel = PyChannel_New(NULL);
    PyObject *fs = new_func(sender, "sender"), *fr = new_func(receiver, "receiver");
    iterations = per_sender;
    PyTaskletObject *senders[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        senders[i] = spawn(fs);
    }
    iterations = per_sender * SENDERS;
    double t0 = now_ns();
    PyObject *r = PyObject_CallObject(fr, NULL);
    if (r == NULL) {
        fail("receive");
    }
    Py_DECREF(r);
    double dt = now_ns() - t0;
    run_all();
    for (int i = 0; i < SENDERS; i++) {
        Py_DECREF(senders[i]);
    }
    Py_DECREF(fs);
    Py_DECREF(fr);
    Py_DECREF(channel);
    iterations = saved;
    return dt / (double)(per_sender * SENDERS);
}

/* ---- blocked-N: N tasklets blocked receiving on one channel ----------- */

static long vm_hwm_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kib;
}

static void bench_blocked(long n) {
    PyObject *fp = new_func(parked, "parked");
    channel = PyChannel_New(NULL);
    long before = vm_hwm_kib();
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        Py_DECREF(spawn(fp));
    }
    run_all();
    double created = now_ns() - t0;
    long after = vm_hwm_kib();
    if (PyChannel_GetBalance(channel) != -n) {
        fail("blocking every tasklet");
    }
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (PyChannel_Send(channel, Py_None) < 0) {
            fail("wake");
        }
    }
    run_all();
    double woken = now_ns() - t0;
    printf("%.0f %.1f %.1f\n", (double)(after - before) * 1024.0 / (double)n, created / (double)n,
           woken / (double)n);
    Py_DECREF(channel);
    Py_DECREF(fp);
}

/* ---- idle: a thread whose tasklets all sleep --------------------------- */

#define IDLE_TASKLETS 10
#define IDLE_SLEEPS 3

/* Sleeps 1 s, IDLE_SLEEPS times. */
static PyObject *idle_sleeper(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (int i = 0; i < IDLE_SLEEPS; i++) {
        if (PyStackless_Sleep(1000000000) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* Another thread in the runtime for the whole row, so that the idle
 * thread's spin before it sleeps is on (it spins only when another thread
 * could hand it something). */
static void *idle_other(void *arg) {
    (void)arg;
    PyChannelObject *c = PyChannel_New(NULL);
    struct timespec rest = {IDLE_SLEEPS + 1, 500000000};
    nanosleep(&rest, NULL);
    Py_XDECREF(c);
    PyStackless_Finalize();
    return NULL;
}

/* IDLE_TASKLETS tasklets each sleep 1 s three times (EXTENSIONS.md §5: an
 * idle thread sleeps in the kernel, never in a polling loop): the CPU time
 * of the thread (CLOCK_THREAD_CPUTIME_ID) from the moment all sleep until the
 * last wakes and ends, per second of that time, in µs. */
static void bench_idle(void) {
    pthread_t other;
    pthread_create(&other, NULL, idle_other, NULL);
    PyObject *f = new_func(idle_sleeper, "idle_sleeper");
    PyTaskletObject *t[IDLE_TASKLETS];
    for (int i = 0; i < IDLE_TASKLETS; i++) {
        t[i] = spawn(f);
    }
    run_all(); /* every tasklet runs to its first sleep */
    struct timespec cpu0, cpu1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
    int64_t t0 = PyStackless_Now();
    PyObject *r = PyStackless_RunUntil(-1);
    if (r == NULL) {
        fail("idle");
    }
    Py_DECREF(r);
    int64_t t1 = PyStackless_Now();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
    double cpu_us = (double)(cpu1.tv_sec - cpu0.tv_sec) * 1e6 + (double)(cpu1.tv_nsec - cpu0.tv_nsec) / 1e3;
    printf("%.1f\n", cpu_us / ((double)(t1 - t0) / 1e9));
    for (int i = 0; i < IDLE_TASKLETS; i++) {
        Py_DECREF(t[i]);
    }
    Py_DECREF(f);
    pthread_join(other, NULL);
}

/* ---- sleep-N: N tasklets each sleeping once, deadlines over 1 s ------- */

/* How the tasklets of sleep-N wait in their second round (the row's name):
 * - SLEEP_TIMED ("sleep"): SleepUntil, deadlines over 1 s, which the fire
 *   phase waits for;
 * - SLEEP_BURST ("sleep-burst"): the same, but the fire phase starts once
 *   every deadline has passed: its CPU time is the work of firing and
 *   running the tasklets, without the waits between deadlines;
 * - SLEEP_PLAIN ("sleep-plain"): PyStackless_Schedule instead; main then
 *   removes every tasklet and inserts them again in the order of their
 *   deadlines, and runs them: the rounds and the order of waking of
 *   sleep-burst, with no timer. sleep-burst less sleep-plain is what the
 *   timers themselves cost, set and fired, at that scale. */
enum sleep_mode { SLEEP_TIMED, SLEEP_BURST, SLEEP_PLAIN };

/* Tasklet i (the order of first runs) sleeps until sleep_base +
 * sleep_offset[i]; the offsets are drawn below 1 s with a fixed seed. The
 * rest is what the tasklets record for bench_sleep. */
static enum sleep_mode sleep_mode;
static int64_t *sleep_offset;
static int64_t sleep_base;
static long sleep_started, sleep_set, sleep_fired, sleep_out_of_order;
static int64_t sleep_last_deadline, sleep_last_late;

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static PyObject *sleeper(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    long i = sleep_started++;
    /* First round: the tasklet's first run, back to the end of the queue. */
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    /* Second round: set the timer (or yield, without one). */
    int64_t deadline = sleep_base + sleep_offset[i];
    sleep_set++;
    if (sleep_mode == SLEEP_PLAIN) {
        r = PyStackless_Schedule(Py_None, 0);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
    } else if (PyStackless_SleepUntil(deadline) < 0) {
        return NULL;
    }
    /* Woken: in deadline order (EXTENSIONS.md §2). */
    sleep_out_of_order += deadline < sleep_last_deadline;
    sleep_last_deadline = deadline;
    if (++sleep_fired == sleep_started) {
        /* The last (every tasklet started in the first round). */
        sleep_last_late = PyStackless_Now() - deadline;
    }
    Py_RETURN_NONE;
}

/* Orders tasklet numbers by their deadlines. */
static int by_deadline(const void *a, const void *b) {
    int64_t x = sleep_offset[*(const long *)a], y = sleep_offset[*(const long *)b];
    return (x > y) - (x < y);
}

/* Prints "bytes_per_tasklet set_ns fire_ns last_late_us" ("sleep"), or
 * "bytes_per_tasklet set_ns fire_ns" (sleep-burst, sleep-plain):
 * - bytes: VmHWM growth from before the spawns to the moment every tasklet
 *   sleeps, per tasklet (as blocked-N);
 * - set: wall time of the round in which every tasklet, already started
 *   once, runs on to its PyStackless_SleepUntil, per tasklet;
 * - fire: CPU time (user + system) of the process from the end of that
 *   round until PyStackless_RunUntil(-1) returns, per tasklet: every timer
 *   fired and its tasklet run to its end, plus whatever the idle thread
 *   burns while it waits for the deadlines (nothing, if it sleeps in the
 *   kernel as EXTENSIONS.md §5 says, but a thread that keeps up with
 *   deadlines a microsecond apart never sleeps: then the figure is about
 *   1,000 ns whatever the work); sleep-burst and sleep-plain as their
 *   modes say;
 * - last late: PyStackless_Now() when the last tasklet wakes, minus its
 *   deadline, in microseconds.
 * The deadlines must lie after the set round, which must not include the
 * first run of a tasklet (the first touch of its stack costs far more than
 * a timer). So every tasklet runs once and yields before any deadline is
 * known; the deadlines then start one first-round time plus 100 ms later
 * (the set round, a switch and a timer per tasklet, is the cheaper one),
 * which the row checks. sleep-N drops its references to the tasklets at
 * once, so that each is freed as it ends; sleep-burst and sleep-plain keep
 * them (to insert them again), so that neither frees them. */
static void bench_sleep(long n, enum sleep_mode mode) {
    if (n < 1) {
        fail("sleep-N with N < 1");
    }
    PyObject *f = new_func(sleeper, "sleeper");
    sleep_mode = mode;
    sleep_offset = malloc((size_t)n * sizeof *sleep_offset);
    PyTaskletObject **kept = mode == SLEEP_TIMED ? NULL : malloc((size_t)n * sizeof *kept);
    if (sleep_offset == NULL || (mode != SLEEP_TIMED && kept == NULL)) {
        fail("malloc");
    }
    uint64_t seed = 1;
    for (long i = 0; i < n; i++) {
        sleep_offset[i] = (int64_t)(splitmix64(&seed) % (uint64_t)NS_PER_S);
    }
    long before = vm_hwm_kib();
    for (long i = 0; i < n; i++) {
        PyTaskletObject *t = spawn(f);
        if (kept != NULL) {
            kept[i] = t;
        } else {
            Py_DECREF(t);
        }
    }
    int64_t t0 = PyStackless_Now();
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        fail("first round");
    }
    Py_DECREF(r);
    int64_t first_round = PyStackless_Now() - t0;
    if (sleep_started != n) {
        fail("first round: not every tasklet ran");
    }
    sleep_base = PyStackless_Now() + first_round + NS_PER_S / 10;
    int64_t set_start = PyStackless_Now();
    r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        fail("set round");
    }
    Py_DECREF(r);
    int64_t set_end = PyStackless_Now();
    long hwm_kib = vm_hwm_kib();
    if (sleep_set != n || (mode != SLEEP_PLAIN && (set_end >= sleep_base || sleep_fired != 0))) {
        fprintf(stderr, "bench: sleep: the set round ran into the deadlines (%ld of %ld set, %lld ns past the first)\n",
                sleep_set, n, (long long)(set_end - sleep_base));
        exit(1);
    }
    long *order = NULL;
    if (mode == SLEEP_BURST) {
        while (PyStackless_Now() <= sleep_base + NS_PER_S) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    } else if (mode == SLEEP_PLAIN) {
        order = malloc((size_t)n * sizeof *order);
        if (order == NULL) {
            fail("malloc");
        }
        for (long i = 0; i < n; i++) {
            order[i] = i;
            if (PyTasklet_Remove(kept[i]) < 0) {
                fail("remove");
            }
        }
        qsort(order, (size_t)n, sizeof *order, by_deadline);
    }
    int64_t fire_start = cpu_ns();
    if (mode == SLEEP_PLAIN) {
        for (long i = 0; i < n; i++) {
            if (PyTasklet_Insert(kept[order[i]]) < 0) {
                fail("insert");
            }
        }
    }
    r = PyStackless_RunUntil(-1);
    if (r == NULL) {
        fail("RunUntil(-1)");
    }
    Py_DECREF(r);
    int64_t fire_cpu = cpu_ns() - fire_start;
    if (sleep_fired != n || sleep_out_of_order != 0 || (mode != SLEEP_PLAIN && sleep_last_late < 0)) {
        fprintf(stderr, "bench: sleep: %ld of %ld fired, %ld out of deadline order, the last %lld ns late\n",
                sleep_fired, n, sleep_out_of_order, (long long)sleep_last_late);
        exit(1);
    }
    printf("%.0f %.1f %.1f", (double)(hwm_kib - before) * 1024.0 / (double)n, (double)(set_end - set_start) / (double)n,
           (double)fire_cpu / (double)n);
    if (mode == SLEEP_TIMED) {
        printf(" %.1f", (double)sleep_last_late / 1e3);
    }
    printf("\n");
    for (long i = 0; kept != NULL && i < n; i++) {
        Py_DECREF(kept[i]);
    }
    free(kept);
    free(order);
    free(sleep_offset);
    Py_DECREF(f);
}

/* ---- threads-2, threads-2-mixed: a channel shared by two threads ------ */

enum { PER_SIDE = 4 };

/* What the tasklets of one side do: threads-2 has PER_SIDE senders on one
 * thread and PER_SIDE receivers on the other; threads-2-mixed has PER_SIDE
 * of each on both threads. */
enum { SIDE_RECEIVES, SIDE_SENDS, SIDE_MIXED };

/* The functions of the tasklets of both sides, made before the second
 * thread starts: new_func is not thread-safe. */
static PyObject *sender_f, *receiver_f, *mixed_sender_f, *mixed_receiver_f, *threads_side_f;

/* threads-2-mixed: the side (0 or 1) of the calling thread, and how many
 * messages the receivers of each side got from the other side. A sender
 * sends its side's marker, Py_True or Py_False (immortal: sending them
 * changes no shared reference count); only side k's tasklets write
 * crossed[k], and the main thread reads it after the join. */
static _Thread_local int side;
static long crossed[2];
/* How many sides have made their tasklets (see threads_side). */
static atomic_int sides_ready;

static PyObject *side_marker(int s) {
    return s == 0 ? Py_True : Py_False;
}

static PyObject *mixed_sender(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *marker = side_marker(side);
    for (long i = 0; i < iterations; i++) {
        if (PyChannel_Send(channel, marker) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *mixed_receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *mine = side_marker(side);
    long from_other = 0;
    for (long i = 0; i < iterations; i++) {
        PyObject *v = PyChannel_Receive(channel);
        if (v == NULL) {
            return NULL;
        }
        from_other += v != mine;
        Py_DECREF(v);
    }
    crossed[side] += from_other;
    Py_RETURN_NONE;
}

/* One side: its tasklets (see SIDE_*), run with THREADBLOCK so that the
 * thread sleeps while they wait for the other thread. Arguments: (mode,
 * side). */
static PyObject *threads_side(PyObject *self, PyObject *args) {
    (void)self;
    int mode = (int)PyLong_AsLong(PyTuple_GetItem(args, 0));
    side = (int)PyLong_AsLong(PyTuple_GetItem(args, 1));
    PyTaskletObject *t[2 * PER_SIDE];
    int count = 0;
    for (int i = 0; i < PER_SIDE; i++) {
        switch (mode) {
        case SIDE_RECEIVES:
            t[count++] = spawn(receiver_f);
            break;
        case SIDE_SENDS:
            t[count++] = spawn(sender_f);
            break;
        default:
            t[count++] = spawn(mixed_receiver_f);
            t[count++] = spawn(mixed_sender_f);
            break;
        }
    }
    /* Both sides start together: else the first side's tasklets could
     * pair up among themselves before the other side exists. */
    atomic_fetch_add(&sides_ready, 1);
    while (atomic_load(&sides_ready) < 2) {
    }
    for (;;) {
        int alive = 0;
        for (int i = 0; i < count; i++) {
            alive += PyTasklet_Alive(t[i]);
        }
        if (alive == 0) {
            break;
        }
        PyObject *r = PyStackless_RunWatchdogEx(1000000000L, Py_WATCHDOG_THREADBLOCK);
        if (r == NULL) {
            fail("threads run");
        }
        Py_DECREF(r);
    }
    for (int i = 0; i < count; i++) {
        Py_DECREF(t[i]);
    }
    Py_RETURN_NONE;
}

static int other_mode;

static void *threads_other(void *arg) {
    (void)arg;
    PyObject *r = PyStackless_CallMethod_Main(threads_side_f, NULL, "(ii)", other_mode, 1);
    if (r == NULL) {
        fail("threads side 1");
    }
    Py_DECREF(r);
    PyStackless_Finalize();
    return NULL;
}

/* Runs outside any main tasklet: the two sides are two threads. Prints ns
 * per message; threads-2-mixed adds the percentage of the messages that
 * crossed threads (the rest went to a receiver on the sender's thread). */
static void bench_threads2(int mixed) {
    long total = iterations;
    int senders = mixed ? 2 * PER_SIDE : PER_SIDE;
    iterations = total / senders; /* per sender, and per receiver */
    long messages = iterations * senders;
    channel = PyChannel_New(NULL);
    sender_f = new_func(sender, "sender");
    receiver_f = new_func(receiver, "receiver");
    mixed_sender_f = new_func(mixed_sender, "mixed_sender");
    mixed_receiver_f = new_func(mixed_receiver, "mixed_receiver");
    threads_side_f = new_func(threads_side, "threads_side");
    other_mode = mixed ? SIDE_MIXED : SIDE_RECEIVES;
    atomic_store(&sides_ready, 0);
    pthread_t other;
    double t0 = now_ns();
    pthread_create(&other, NULL, threads_other, NULL);
    PyObject *r = PyStackless_CallMethod_Main(threads_side_f, NULL, "(ii)", mixed ? SIDE_MIXED : SIDE_SENDS, 0);
    if (r == NULL) {
        fail("threads side 0");
    }
    Py_DECREF(r);
    pthread_join(other, NULL);
    double dt = now_ns() - t0;
    Py_DECREF(threads_side_f);
    Py_DECREF(mixed_receiver_f);
    Py_DECREF(mixed_sender_f);
    Py_DECREF(receiver_f);
    Py_DECREF(sender_f);
    Py_DECREF(channel);
    if (mixed) {
        printf("%.2f %.1f\n", dt / (double)messages, 100.0 * (double)(crossed[0] + crossed[1]) / (double)messages);
    } else {
        printf("%.2f\n", dt / (double)messages);
    }
}

static PyObject *bench_body(PyObject *self, PyObject *args) {
    (void)self;
    const char *row = PyUnicode_AsUTF8(PyTuple_GetItem(args, 0));
    double ns = 0;
    if (strcmp(row, "switch") == 0) {
        ns = bench_switch();
    } else if (strncmp(row, "pingpong", 8) == 0) {
        ns = bench_pingpong(atoi(row + 8));
    } else if (strcmp(row, "timed-recv") == 0) {
        bench_timed_recv();
        Py_RETURN_NONE;
    } else if (strcmp(row, "spawn") == 0) {
        ns = bench_spawn(0);
    } else if (strcmp(row, "spawn-10k") == 0) {
        ns = bench_spawn(10000);
    } else if (strcmp(row, "fanin") == 0) {
        ns = bench_fanin();
    } else if (strcmp(row, "sleep-burst") == 0) {
        bench_sleep(iterations, SLEEP_BURST);
        Py_RETURN_NONE;
    } else if (strcmp(row, "sleep-plain") == 0) {
        bench_sleep(iterations, SLEEP_PLAIN);
        Py_RETURN_NONE;
    } else if (strncmp(row, "sleep", 5) == 0) {
        bench_sleep(iterations, SLEEP_TIMED);
        Py_RETURN_NONE;
    } else if (strcmp(row, "idle") == 0) {
        bench_idle();
        Py_RETURN_NONE;
    } else if (strncmp(row, "blocked", 7) == 0) {
        bench_blocked(iterations);
        Py_RETURN_NONE;
    } else {
        fprintf(stderr, "bench: unknown row %s\n", row);
        exit(2);
    }
    printf("%.2f\n", ns);
    Py_RETURN_NONE;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench ROW [N]\n");
        return 2;
    }
    iterations = argc > 2 ? atol(argv[2]) : 1000000;
    /* The threaded rows sleep and wake threads: a lost wake-up would hang. */
    set_limit(argv[1], strncmp(argv[1], "threads", 7) == 0 ? 120 : 600);
    if (strcmp(argv[1], "threads-2") == 0 || strcmp(argv[1], "threads-2-mixed") == 0) {
        bench_threads2(strcmp(argv[1], "threads-2-mixed") == 0);
        PyStackless_Finalize();
        return 0;
    }
    PyObject *body = new_func(bench_body, "bench");
    PyObject *r = PyStackless_CallMethod_Main(body, NULL, "(s)", argv[1]);
    if (r == NULL) {
        fail(argv[1]);
    }
    Py_DECREF(r);
    Py_DECREF(body);
    PyStackless_Finalize();
    return 0;
}
