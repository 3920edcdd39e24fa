/* A randomized many-thread test of the thread support (SPEC §6): N threads
 * each run M tasklets that do random operations on K shared channels and
 * on each other's tasklets (send/receive with every preference and
 * schedule_all, schedule, insert/run/remove across threads, kills and
 * throws addressed to other threads, close/open, every predicate on other
 * threads' objects), while the threads run their schedulers in both styles
 * (timed THREADBLOCK runs that sleep, untimed runs that spin) and end with
 * tasklets still blocked: half of them call PyStackless_Finalize, the
 * others leave it to the thread-exit destructor.
 *
 * Every value sent is unique. At the end: a value whose send returned 0
 * was received exactly once, one whose send failed at most once, nothing
 * was received that was never sent; every tasklet is dead, every channel
 * empty, no exception left set. (Kills and throws come only from other
 * threads, and a tasklet's thread's end: those never replace a value a
 * channel delivered, which the tasklet gets first. A kill from the
 * tasklet's own thread may, as in Stackless, SPEC §5.6.)
 *
 * Environment: CHAOS_SEED (first seed; default 1), CHAOS_RUNS (seeds in a
 * row; default 3 without CHAOS_SEED, else 1), CHAOS_THREADS (8),
 * CHAOS_TASKLETS (per thread; default 4-6 at random), CHAOS_OPS (per
 * tasklet; 150), CHAOS_CHANNELS (4), CHAOS_STALL_MS (a thread stops
 * running its scheduler when no tasklet anywhere did anything for this
 * long; 50), CHAOS_BUDGET_MS (at most this long per seed; 3000),
 * CHAOS_LIMIT_S (the hang guard: at most this long in all; 60),
 * CHAOS_HANG_S (the hang guard: no operation anywhere for this long; 10),
 * CHAOS_VERBOSE=1 (a line per seed), CHAOS_SKIP (operations
 * left out, comma-separated, to narrow a failure down: send, receive,
 * schedule, insert, run, remove, kill, throw, close, predicates, wake (an
 * insert of another thread's main), rescue (main's throw into a blocked
 * tasklet of another thread when nothing moves), threadblock or spin (the
 * two ways a thread runs its scheduler), remove-own or remove-other (a
 * remove of a tasklet of one's own thread, of another thread), own or
 * other (insert, run and remove of a tasklet of one's own thread, of
 * another thread)). */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"
#include "hang_guard.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>

enum { MAX_THREADS = 64, MAX_TASKLETS = 32, MAX_CHANNELS = 16, MAX_PROBLEMS = 8 };
enum { COUNTER_BITS = 24 };

/* ---- Configuration ------------------------------------------------------ */

static unsigned long long seed;
static int n_threads, n_ops, n_channels, fixed_tasklets;
static long stall_ms, budget_ms;
static int verbose;

/* ---- The random numbers: splitmix64, one stream per tasklet and thread -- */

static uint64_t next_random(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int rnd(uint64_t *s, int n) {
    return (int)(next_random(s) % (uint64_t)n);
}

static uint64_t stream(unsigned long long base, int a, int b) {
    uint64_t s = base * 1000003ull + (uint64_t)a * 7919ull + (uint64_t)b * 104729ull + 17;
    next_random(&s);
    return s;
}

/* ---- Shared state ------------------------------------------------------- */

/* Made once, by the setup thread: the tasklet functions and the test's
 * exception class. */
static PyMethodDef tasklet_def, main_def;
static PyObject *tasklet_f, *main_f, *test_error;

/* Per seed: the channels (made by the setup thread) and every tasklet,
 * table[thread][i]: the table owns a reference until the end of the seed,
 * so any thread may use the pointer once it is published (release store,
 * acquire load). */
static PyChannelObject *channels[MAX_CHANNELS];
static PyTaskletObject *table[MAX_THREADS][MAX_TASKLETS];
static int tasklet_count[MAX_THREADS];
static unsigned long thread_ids[MAX_THREADS]; /* atomic */
static int ready;                              /* atomic: threads that spawned */
static long progress;                          /* atomic: operations done */

typedef struct {
    long long value;
    signed char channel;
    signed char rc; /* 1: the send never returned, 0, -1 */
} send_rec;

enum { OUT_DONE, OUT_STALL, OUT_BUDGET, OUT_COUNT };

/* What one thread did; written only by that thread (its tasklets and its
 * main run on it, also when they are killed at its end), read by the main
 * thread after joining it. */
typedef struct {
    send_rec *sends;
    int n_sends, cap_sends;
    long long *recvs;
    signed char *recv_channel;
    int n_recvs, cap_recvs;
    int deadlock_recvs[MAX_CHANNELS];
    long ops, sends_ok, sends_failed, kills, throws, inserts, runs, removes, closes, predicates;
    long wakes, schedules, exits, test_errors, deadlocks, closed_errors, other_errors;
    long main_deadlocks, main_test_errors, iterations, threadblock_runs, rescues;
    int outcome;
    int finalize;
    int ended; /* atomic */
    int n_problems;
    char problems[MAX_PROBLEMS][300];
    uint64_t rng; /* the main tasklet's */
} thread_log;

static thread_log logs[MAX_THREADS];

typedef struct {
    uint64_t rng;
    int counter;
} tasklet_state;

static tasklet_state tstates[MAX_THREADS][MAX_TASKLETS];

static double now_ms(void) {
    return hang_guard_now() * 1000.0;
}

/* Records a violation seen on thread `t` (kept: the first MAX_PROBLEMS). */
static void problem(int t, const char *format, ...) {
    thread_log *L = &logs[t];
    if (L->n_problems < MAX_PROBLEMS) {
        va_list va;
        va_start(va, format);
        vsnprintf(L->problems[L->n_problems], sizeof L->problems[0], format, va);
        va_end(va);
    }
    L->n_problems++;
}

static PyTaskletObject *table_get(int t, int i) {
    return __atomic_load_n(&table[t][i], __ATOMIC_ACQUIRE);
}

/* ---- Errors ------------------------------------------------------------- */

enum { E_EXIT, E_TEST, E_DEADLOCK, E_CLOSED, E_LEGIT, E_UNEXPECTED };

/* RuntimeErrors that random operations legitimately run into. */
static const char *const legit_runtime_errors[] = {
    "You cannot run a blocked tasklet",
    "You cannot run an unbound(dead) tasklet",
    "Target thread isn't initialized",
    "Target thread isn't initialised",
    "tasklet has no thread",
    "You cannot remove a blocked tasklet.",
    "The current tasklet cannot be removed.",
    "You cannot throw to a dead tasklet",
    "Thread id not found",
};

/* Takes the pending exception and says what it is; its text goes to `buf`
 * (thread-safe: no static buffers). */
static int take_error_kind(char *buf, size_t size) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        snprintf(buf, size, "(no exception set)");
        return E_UNEXPECTED;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    const char *text = "?";
    PyObject *s = value ? PyObject_Str(value) : NULL;
    if (s != NULL) {
        text = PyUnicode_AsUTF8(s);
    } else {
        PyErr_Clear();
    }
    snprintf(buf, size, "%s: %s", ((PyTypeObject *)type)->tp_name, text ? text : "?");
    int kind = E_UNEXPECTED;
    if (PyErr_GivenExceptionMatches(type, PyExc_TaskletExit)) {
        kind = E_EXIT;
    } else if (PyErr_GivenExceptionMatches(type, test_error)) {
        kind = E_TEST;
    } else if (PyErr_GivenExceptionMatches(type, PyExc_ValueError) && text &&
               strcmp(text, "Send/receive operation on a closed channel") == 0) {
        kind = E_CLOSED;
    } else if (PyErr_GivenExceptionMatches(type, PyExc_RuntimeError) && text) {
        if (strcmp(text, "Deadlock: the last runnable tasklet cannot be blocked.") == 0) {
            kind = E_DEADLOCK;
        }
        for (size_t i = 0; i < sizeof legit_runtime_errors / sizeof *legit_runtime_errors; i++) {
            if (strcmp(text, legit_runtime_errors[i]) == 0) {
                kind = E_LEGIT;
            }
        }
    }
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return kind;
}

/* ---- The tasklets' operations ------------------------------------------- */

/* A random tasklet: of another thread (`other`), else of any thread. */
static PyTaskletObject *pick_tasklet(uint64_t *rng, int me, int other, int *owner) {
    int t = rnd(rng, n_threads);
    if (other) {
        if (n_threads < 2) {
            return NULL;
        }
        t = (me + 1 + rnd(rng, n_threads - 1)) % n_threads;
    }
    int n = __atomic_load_n(&tasklet_count[t], __ATOMIC_ACQUIRE);
    if (n == 0) {
        return NULL;
    }
    if (owner) {
        *owner = t;
    }
    return table_get(t, rnd(rng, n));
}

static int check_range(int t, const char *what, int v, int lo, int hi) {
    if (v < lo || v > hi) {
        problem(t, "%s == %d, expected %d..%d", what, v, lo, hi);
        return 0;
    }
    return 1;
}

/* Every predicate on a tasklet of thread `owner` (another thread's or
 * ours): values in range, never main, its thread or -1. */
static void check_tasklet_predicates(int t, PyTaskletObject *x, int owner) {
    Py_INCREF(x); /* a reference of our own, across threads */
    check_range(t, "Alive", PyTasklet_Alive(x), 0, 1);
    check_range(t, "Scheduled", PyTasklet_Scheduled(x), 0, 1);
    check_range(t, "Paused", PyTasklet_Paused(x), 0, 1);
    check_range(t, "IsCurrent", PyTasklet_IsCurrent(x), 0, 1);
    check_range(t, "GetBlocked", PyTasklet_GetBlocked(x), -1, 1);
    if (PyTasklet_IsMain(x) != 0) {
        problem(t, "IsMain of tasklet of thread %d is %d", owner, PyTasklet_IsMain(x));
    }
    long id = PyTasklet_GetThreadId(x);
    unsigned long expected = __atomic_load_n(&thread_ids[owner], __ATOMIC_ACQUIRE);
    if (id != -1 && (unsigned long)id != expected) {
        problem(t, "GetThreadId of a tasklet of thread %d == %ld, expected %ld or -1", owner, id,
                (long)expected);
    }
    Py_DECREF(x);
}

/* The calling tasklet's own predicates: it runs, so they are exact. */
static void check_self(int t, PyTaskletObject *me) {
    if (PyTasklet_Alive(me) != 1 || PyTasklet_IsCurrent(me) != 1 || PyTasklet_Scheduled(me) != 1 ||
        PyTasklet_Paused(me) != 0 || PyTasklet_GetBlocked(me) != 0 || PyTasklet_IsMain(me) != 0) {
        problem(t, "running tasklet: alive %d current %d scheduled %d paused %d blocked %d main %d",
                PyTasklet_Alive(me), PyTasklet_IsCurrent(me), PyTasklet_Scheduled(me),
                PyTasklet_Paused(me), PyTasklet_GetBlocked(me), PyTasklet_IsMain(me));
    }
    if ((unsigned long)PyTasklet_GetThreadId(me) != (unsigned long)PyThread_get_thread_ident()) {
        problem(t, "GetThreadId of the running tasklet is not its thread's id");
    }
    if (current() != me) {
        problem(t, "PyStackless_GetCurrent is not the running tasklet");
    }
    PyTaskletObject *m = main_tasklet();
    if (m == NULL || PyTasklet_IsMain(m) != 1 || PyTasklet_IsCurrent(m) != 0) {
        problem(t, "own main: IsMain %d IsCurrent %d", m ? PyTasklet_IsMain(m) : -9,
                m ? PyTasklet_IsCurrent(m) : -9);
    }
}

static void check_channel_predicates(int t, PyChannelObject *ch) {
    int limit = MAX_THREADS * MAX_TASKLETS;
    check_range(t, "GetBalance", PyChannel_GetBalance(ch), -limit, limit);
    check_range(t, "GetClosing", PyChannel_GetClosing(ch), 0, 1);
    PyObject *q = PyChannel_GetQueue(ch);
    if (q == NULL) {
        char text[256];
        take_error_kind(text, sizeof text);
        problem(t, "GetQueue failed: %s", text);
    } else {
        if (q != Py_None && (!PyTasklet_Check(q) || PyTasklet_IsMain((PyTaskletObject *)q))) {
            problem(t, "GetQueue returned %s", q == Py_None ? "None" : "a main or no tasklet");
        }
        Py_DECREF(q);
    }
}

/* GetThreadInfo of another thread: a 3-tuple, or "Thread id not found". */
static void check_thread_info(int t, int other) {
    unsigned long id = __atomic_load_n(&thread_ids[other], __ATOMIC_ACQUIRE);
    PyObject *info = PyStackless_GetThreadInfo((long)id);
    if (info == NULL) {
        char text[256];
        int kind = take_error_kind(text, sizeof text);
        if (kind != E_LEGIT) {
            problem(t, "GetThreadInfo(thread %d): %s", other, text);
        }
        return;
    }
    if (!PyTuple_Check(info) || PyTuple_Size(info) != 3) {
        problem(t, "GetThreadInfo(thread %d) is not a 3-tuple", other);
    } else {
        PyObject *m = PyTuple_GetItem(info, 0), *c = PyTuple_GetItem(info, 1);
        long n = PyLong_AsLong(PyTuple_GetItem(info, 2));
        if ((m != Py_None && !PyTasklet_Check(m)) || (c != Py_None && !PyTasklet_Check(c)) || n < 0) {
            problem(t, "GetThreadInfo(thread %d): bad items (runcount %ld)", other, n);
        }
    }
    Py_DECREF(info); /* may free the main of a thread that ended meanwhile */
}

/* Wakes another thread's main (a watchdog inside run() returns). */
static int wake_main_of(int other) {
    unsigned long id = __atomic_load_n(&thread_ids[other], __ATOMIC_ACQUIRE);
    PyObject *info = PyStackless_GetThreadInfo((long)id);
    if (info == NULL) {
        return -1;
    }
    PyObject *m = PyTuple_GetItem(info, 0);
    int rc = 0;
    if (m != Py_None) {
        rc = PyTasklet_Insert((PyTaskletObject *)m);
    }
    Py_DECREF(info);
    return rc;
}

/* The operations by name, for CHAOS_SKIP; op_kind maps the random number
 * 0..999 of the tasklet loop to one of them. */
enum { OP_SEND, OP_RECEIVE, OP_SCHEDULE, OP_INSERT, OP_RUN, OP_REMOVE, OP_KILL, OP_THROW, OP_CLOSE,
       OP_PREDICATES, OP_WAKE, OP_RESCUE, OP_THREADBLOCK, OP_SPIN, OP_REMOVE_OWN, OP_REMOVE_OTHER,
       OP_OWN, OP_OTHER, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"send", "receive", "schedule", "insert", "run",
                                               "remove", "kill", "throw", "close", "predicates",
                                               "wake", "rescue", "threadblock", "spin",
                                               "remove-own", "remove-other", "own", "other"};
static unsigned skipped;

static int op_kind(int r) {
    static const int limits[] = {240, 480, 580, 630, 670, 700, 712, 740, 760, 950, 965};
    for (int k = 0; k < (int)(sizeof limits / sizeof *limits); k++) {
        if (r < limits[k]) {
            return k;
        }
    }
    return OP_SCHEDULE;
}

static PyObject *chaos_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    int t = (int)PyLong_AsLong(PyTuple_GetItem(args, 0));
    int i = (int)PyLong_AsLong(PyTuple_GetItem(args, 1));
    thread_log *L = &logs[t];
    tasklet_state *S = &tstates[t][i];
    uint64_t *rng = &S->rng;
    PyTaskletObject *me = table_get(t, i);
    for (int op = 0; op < n_ops; op++) {
        __atomic_add_fetch(&progress, 1, __ATOMIC_RELAXED);
        hang_guard_progress();
        L->ops++;
        int r = rnd(rng, 1000), rc = 0, k = rnd(rng, n_channels), recv_op = 0;
        PyChannelObject *ch = channels[k];
        const char *what = "?";
        if (skipped & (1u << op_kind(r))) {
            r = 999; /* a plain schedule instead */
        }
        if (r < 480 && rnd(rng, 7) == 0) {
            PyChannel_SetPreference(ch, rnd(rng, 3) - 1);
            PyChannel_SetScheduleAll(ch, rnd(rng, 4) == 0);
        }
        if (r < 240) {
            what = "send";
            long long v = ((long long)(t * MAX_TASKLETS + i) << COUNTER_BITS) | S->counter++;
            send_rec *rec = &L->sends[L->n_sends++];
            rec->value = v;
            rec->channel = (signed char)k;
            rec->rc = 1;
            PyObject *o = PyLong_FromLong((long)v);
            rc = PyChannel_Send(ch, o);
            Py_DECREF(o);
            rec->rc = (signed char)rc;
            if (rc == 0) {
                L->sends_ok++;
            } else {
                L->sends_failed++;
            }
        } else if (r < 480) {
            what = "receive";
            recv_op = 1;
            PyObject *o = PyChannel_Receive(ch);
            if (o == NULL) {
                rc = -1;
            } else {
                if (PyLong_Check(o)) {
                    L->recvs[L->n_recvs] = PyLong_AsLong(o);
                    L->recv_channel[L->n_recvs] = (signed char)k;
                    L->n_recvs++;
                } else {
                    PyObject *repr = PyObject_Repr(o);
                    const char *text = repr ? PyUnicode_AsUTF8(repr) : NULL;
                    problem(t, "phantom: a receive on channel %d returned %.60s (%s), not a value sent", k,
                            text ? text : "?", Py_TYPE(o)->tp_name);
                    Py_XDECREF(repr);
                    PyErr_Clear();
                }
                Py_DECREF(o);
            }
        } else if (r < 580) {
            what = "schedule";
            L->schedules++;
            PyObject *o = PyStackless_Schedule(Py_None, rnd(rng, 4) == 0);
            if (o == NULL) {
                rc = -1;
            } else if (o != Py_None) {
                problem(t, "Schedule returned something else than its retval");
                Py_DECREF(o);
            } else {
                Py_DECREF(o);
            }
        } else if (r < 700) {
            int owner = 0;
            PyTaskletObject *x = pick_tasklet(rng, t, 0, &owner);
            /* The same operations on tasklets of one's own thread or of
             * other threads can be left out on their own. */
            int mine = owner == t;
            if (x != NULL && (skipped & (1u << (mine ? OP_OWN : OP_OTHER))) && r >= 580) {
                x = NULL;
            }
            if (x != NULL && (skipped & (1u << (mine ? OP_REMOVE_OWN : OP_REMOVE_OTHER))) && r >= 670) {
                x = NULL;
            }
            if (x != NULL) {
                Py_INCREF(x);
                if (r < 630) {
                    what = "insert";
                    L->inserts++;
                    rc = PyTasklet_Insert(x);
                } else if (r < 670) {
                    what = "run";
                    L->runs++;
                    rc = PyTasklet_Run(x);
                } else {
                    what = "remove";
                    L->removes++;
                    rc = PyTasklet_Remove(x);
                }
                Py_DECREF(x);
            }
        } else if (r < 740) {
            int owner = 0;
            PyTaskletObject *x = pick_tasklet(rng, t, 1, &owner);
            if (x != NULL) {
                Py_INCREF(x);
                if (r < 712) {
                    what = "kill";
                    L->kills++;
                    rc = PyTasklet_KillEx(x, rnd(rng, 2));
                } else {
                    what = "throw";
                    L->throws++;
                    rc = PyTasklet_Throw(x, 1, test_error, NULL, NULL);
                }
                Py_DECREF(x);
            }
        } else if (r < 760) {
            what = "close/open";
            L->closes++;
            if (PyChannel_GetClosing(ch)) {
                PyChannel_Open(ch);
            } else {
                PyChannel_Close(ch);
            }
        } else if (r < 950) {
            what = "predicates";
            L->predicates++;
            int owner = 0;
            PyTaskletObject *x = pick_tasklet(rng, t, rnd(rng, 2), &owner);
            if (x != NULL) {
                check_tasklet_predicates(t, x, owner);
            }
            check_channel_predicates(t, ch);
            if (n_threads > 1) {
                check_thread_info(t, (t + 1 + rnd(rng, n_threads - 1)) % n_threads);
            }
            check_self(t, me);
        } else if (r < 965 && n_threads > 1) {
            what = "wake main";
            L->wakes++;
            rc = wake_main_of((t + 1 + rnd(rng, n_threads - 1)) % n_threads);
        } else {
            what = "schedule";
            L->schedules++;
            rc = schedule();
        }
        if (rc == 0) {
            if (PyErr_Occurred() != NULL) {
                char text[256];
                take_error_kind(text, sizeof text);
                problem(t, "%s succeeded with an exception set: %s", what, text);
            }
            continue;
        }
        if (PyErr_ExceptionMatches(PyExc_TaskletExit)) {
            /* Killed (by another thread or at our thread's end): end now. */
            L->exits++;
            return NULL;
        }
        char text[256];
        switch (take_error_kind(text, sizeof text)) {
        case E_TEST:
            L->test_errors++;
            break;
        case E_DEADLOCK:
            L->deadlocks++;
            if (recv_op) {
                L->deadlock_recvs[k]++;
            }
            if (rnd(rng, 4) == 0) {
                Py_RETURN_NONE; /* end the tasklet */
            }
            break;
        case E_CLOSED:
            L->closed_errors++;
            break;
        case E_LEGIT:
            L->other_errors++;
            break;
        default:
            problem(t, "%s failed: %s", what, text);
            break;
        }
    }
    Py_RETURN_NONE;
}

/* ---- A thread --------------------------------------------------------- */

static int own_alive(int t) {
    int alive = 0;
    for (int i = 0; i < tasklet_count[t]; i++) {
        alive += PyTasklet_Alive(table[t][i]);
    }
    return alive;
}

/* When nothing moves (every tasklet blocked somewhere): a throw into a
 * blocked tasklet of another thread, which then carries on with its next
 * operation. Throws to the thread's own tasklets are left out on purpose:
 * see the conservation rule at the top. */
static void rescue(int t, uint64_t *rng) {
    int owner = 0;
    PyTaskletObject *x = pick_tasklet(rng, t, 1, &owner);
    if (x == NULL || PyTasklet_GetBlocked(x) == 0) {
        return;
    }
    logs[t].rescues++;
    if (PyTasklet_Throw(x, 1, test_error, NULL, NULL) < 0) {
        char text[256];
        if (take_error_kind(text, sizeof text) != E_LEGIT) {
            problem(t, "main: throw to a blocked tasklet: %s", text);
        }
    }
}

/* The main tasklet of thread t: spawns its tasklets, waits for the other
 * threads to do the same, then runs its scheduler until its tasklets are
 * done, nothing moves anywhere for a while, or the time is up. */
static PyObject *chaos_main(PyObject *self, PyObject *args) {
    (void)self;
    int t = (int)PyLong_AsLong(PyTuple_GetItem(args, 0));
    thread_log *L = &logs[t];
    uint64_t *rng = &L->rng;
    __atomic_store_n(&thread_ids[t], (unsigned long)PyThread_get_thread_ident(), __ATOMIC_RELEASE);
    int n = fixed_tasklets > 0 ? fixed_tasklets : 4 + rnd(rng, 3);
    for (int i = 0; i < n; i++) {
        tstates[t][i].rng = stream(seed, t, i + 1);
        tstates[t][i].counter = 0;
        PyObject *a = Py_BuildValue("(ii)", t, i);
        PyTaskletObject *x = spawn_func(tasklet_f, a);
        Py_DECREF(a);
        if (x == NULL) {
            return NULL;
        }
        __atomic_store_n(&table[t][i], x, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&tasklet_count[t], n, __ATOMIC_RELEASE);
    __atomic_add_fetch(&ready, 1, __ATOMIC_ACQ_REL);
    double start = now_ms();
    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < n_threads) {
        if (now_ms() - start > 10000) {
            problem(t, "the other threads did not start within 10 s");
            break;
        }
        sched_yield();
    }
    start = now_ms();
    double changed = start;
    long seen = -1, deadlocks_seen = 0;
    L->outcome = OUT_DONE;
    for (;;) {
        if (own_alive(t) == 0) {
            L->outcome = OUT_DONE;
            break;
        }
        double now = now_ms();
        long p = __atomic_load_n(&progress, __ATOMIC_RELAXED);
        if (p != seen) {
            seen = p;
            changed = now;
        } else if (now - changed > stall_ms) {
            L->outcome = OUT_STALL;
            break;
        }
        if (now - start > budget_ms) {
            L->outcome = OUT_BUDGET;
            break;
        }
        L->iterations++;
        if (rnd(rng, 4) == 0) {
            /* Paused tasklets (Schedule(.., 1), a Remove) run again. */
            for (int i = 0; i < tasklet_count[t]; i++) {
                PyTaskletObject *x = table[t][i];
                if (PyTasklet_Alive(x) && PyTasklet_Paused(x) && PyTasklet_Insert(x) < 0) {
                    char text[256];
                    if (take_error_kind(text, sizeof text) != E_LEGIT) {
                        problem(t, "main: Insert of a paused tasklet: %s", text);
                    }
                }
            }
        }
        if ((L->main_deadlocks > deadlocks_seen || now - changed > stall_ms / 5.0) && n_threads > 1 &&
            !(skipped & (1u << OP_RESCUE))) {
            rescue(t, rng);
        }
        deadlocks_seen = L->main_deadlocks;
        PyObject *r;
        int threadblock = rnd(rng, 2);
        if (skipped & (1u << OP_THREADBLOCK)) {
            threadblock = 0;
        } else if (skipped & (1u << OP_SPIN)) {
            threadblock = 1;
        }
        if (threadblock) {
            L->threadblock_runs++;
            r = PyStackless_RunWatchdogEx(1000000000L, Py_WATCHDOG_THREADBLOCK);
        } else {
            r = PyStackless_RunWatchdog(0);
            sched_yield();
        }
        if (r == NULL) {
            char text[256];
            switch (take_error_kind(text, sizeof text)) {
            case E_DEADLOCK:
                L->main_deadlocks++;
                sched_yield();
                break;
            case E_TEST: /* thrown into a tasklet before it started: uncaught there */
                L->main_test_errors++;
                break;
            default:
                problem(t, "main: run failed: %s", text);
                break;
            }
        } else {
            if (r != Py_None) {
                problem(t, "main: run returned something else than None");
            }
            Py_DECREF(r);
            if (PyErr_Occurred() != NULL) {
                char text[256];
                take_error_kind(text, sizeof text);
                problem(t, "main: run returned None with an exception set: %s", text);
            }
        }
    }
    Py_RETURN_NONE;
}

static void *chaos_thread(void *arg) {
    int t = (int)(intptr_t)arg;
    thread_log *L = &logs[t];
    PyObject *a = Py_BuildValue("(i)", t);
    PyObject *r = PyStackless_Call_Main(main_f, a, NULL);
    Py_DECREF(a);
    if (r == NULL) {
        char text[256];
        take_error_kind(text, sizeof text);
        problem(t, "Call_Main failed: %s", text);
    }
    Py_XDECREF(r);
    if (L->finalize && PyStackless_Finalize() != 0) {
        char text[256];
        take_error_kind(text, sizeof text);
        problem(t, "Finalize failed: %s", text);
    }
    if (PyErr_Occurred() != NULL) {
        char text[256];
        take_error_kind(text, sizeof text);
        problem(t, "thread ends with an exception set: %s", text);
    }
    __atomic_store_n(&L->ended, 1, __ATOMIC_RELEASE);
    return NULL; /* without Finalize: the thread-exit destructor kills */
}

/* Makes the shared objects on a thread of its own, which then ends: the
 * program's main thread stays out of the runtime while the workers run,
 * so that their deadlock detection sees only them. */
static void *setup_thread(void *arg) {
    (void)arg;
    if (tasklet_f == NULL) {
        tasklet_def = (PyMethodDef){"chaos_tasklet", chaos_tasklet, METH_VARARGS, NULL};
        main_def = (PyMethodDef){"chaos_main", chaos_main, METH_VARARGS, NULL};
        tasklet_f = PyCFunction_New(&tasklet_def, NULL);
        main_f = PyCFunction_New(&main_def, NULL);
        test_error = PyErr_NewException("chaos.TestError", PyExc_Exception, NULL);
    }
    for (int k = 0; k < n_channels; k++) {
        channels[k] = PyChannel_New(NULL);
    }
    return NULL;
}

/* ---- The hang guard's view ----------------------------------------------- */

static void chaos_context(char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "    seed=%llu: threads=%d ops=%d channels=%d progress=%ld\n",
                                  seed, n_threads, n_ops, n_channels,
                                  __atomic_load_n(&progress, __ATOMIC_RELAXED));
    for (int t = 0; t < n_threads && len < size; t++) {
        thread_log *L = &logs[t];
        len += (size_t)snprintf(buf + len, size - len,
                                "    seed=%llu: thread %d ended=%d finalize=%d iterations=%ld ops=%ld\n",
                                seed, t, __atomic_load_n(&L->ended, __ATOMIC_ACQUIRE), L->finalize,
                                L->iterations, L->ops);
    }
    for (int k = 0; k < n_channels && len < size && channels[k] != NULL; k++) {
        len += (size_t)snprintf(buf + len, size - len, "    seed=%llu: channel %d balance %d closing %d\n",
                                seed, k, PyChannel_GetBalance(channels[k]),
                                PyChannel_GetClosing(channels[k]));
    }
}

/* ---- One seed --------------------------------------------------------------- */

#define CHAOS_FAIL(...)                                                        \
    do {                                                                       \
        char m_[512], f_[600];                                                 \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                  \
        snprintf(f_, sizeof f_, "seed=%llu: %s", seed, m_);                    \
        harness_fail(__FILE__, __LINE__, f_);                                  \
    } while (0)

/* Checks that every value was received as its send says. */
static void check_conservation(long *lost_out) {
    long slots = (long)n_threads * MAX_TASKLETS * n_ops;
    signed char *sent = malloc((size_t)slots); /* 0 never sent, else rc + 2 (1, 2 or 3) */
    signed char *sent_channel = malloc((size_t)slots);
    int *got = calloc((size_t)slots, sizeof *got);
    memset(sent, 0, (size_t)slots);
    for (int t = 0; t < n_threads; t++) {
        for (int j = 0; j < logs[t].n_sends; j++) {
            send_rec *s = &logs[t].sends[j];
            long id = (long)(s->value >> COUNTER_BITS), c = (long)(s->value & ((1 << COUNTER_BITS) - 1));
            long slot = id * n_ops + c;
            sent[slot] = (signed char)(s->rc + 2);
            sent_channel[slot] = s->channel;
        }
    }
    int reported = 0;
    for (int t = 0; t < n_threads; t++) {
        for (int j = 0; j < logs[t].n_recvs; j++) {
            long long v = logs[t].recvs[j];
            long id = (long)(v >> COUNTER_BITS), c = (long)(v & ((1 << COUNTER_BITS) - 1));
            if (v < 0 || id >= (long)n_threads * MAX_TASKLETS || c >= n_ops || sent[id * n_ops + c] == 0) {
                if (reported++ < 5) {
                    CHAOS_FAIL("phantom: thread %d received %lld on channel %d, never sent", t, v,
                               logs[t].recv_channel[j]);
                }
                continue;
            }
            long slot = id * n_ops + c;
            if (sent_channel[slot] != logs[t].recv_channel[j] && reported++ < 5) {
                CHAOS_FAIL("value %lld sent on channel %d received on channel %d", v, sent_channel[slot],
                           logs[t].recv_channel[j]);
            }
            got[slot]++;
        }
    }
    long lost = 0;
    for (long slot = 0; slot < slots; slot++) {
        if (got[slot] > 1 && reported++ < 5) {
            CHAOS_FAIL("duplicated: value %ld (thread %ld tasklet %ld #%ld, send rc %d) received %d times",
                       (slot / n_ops) << COUNTER_BITS | (slot % n_ops), slot / n_ops / MAX_TASKLETS,
                       slot / n_ops % MAX_TASKLETS, slot % n_ops, sent[slot] - 2, got[slot]);
        }
        if (sent[slot] == 2 && got[slot] == 0) {
            lost++;
            if (reported++ < 5) {
                CHAOS_FAIL("lost: value of thread %ld tasklet %ld #%ld on channel %d: send returned 0, never received",
                           slot / n_ops / MAX_TASKLETS, slot / n_ops % MAX_TASKLETS, slot % n_ops,
                           sent_channel[slot]);
            }
        }
    }
    *lost_out = lost;
    free(sent);
    free(sent_channel);
    free(got);
}

static void chaos_seed(void) {
    double started = now_ms();
    memset(table, 0, sizeof table);
    memset(tasklet_count, 0, sizeof tasklet_count);
    memset(thread_ids, 0, sizeof thread_ids);
    memset(channels, 0, sizeof channels);
    ready = 0;
    progress = 0;
    for (int t = 0; t < n_threads; t++) {
        thread_log *L = &logs[t];
        memset(L, 0, sizeof *L);
        L->rng = stream(seed, t, 0);
        L->finalize = (int)((t + seed) % 2);
        L->cap_sends = L->cap_recvs = MAX_TASKLETS * n_ops;
        L->sends = calloc((size_t)L->cap_sends, sizeof *L->sends);
        L->recvs = calloc((size_t)L->cap_recvs, sizeof *L->recvs);
        L->recv_channel = calloc((size_t)L->cap_recvs, 1);
    }
    pthread_t setup, threads[MAX_THREADS];
    pthread_create(&setup, NULL, setup_thread, NULL);
    pthread_join(setup, NULL);
    for (int t = 0; t < n_threads; t++) {
        if (pthread_create(&threads[t], NULL, chaos_thread, (void *)(intptr_t)t) != 0) {
            CHAOS_FAIL("pthread_create failed");
            n_threads = t;
            break;
        }
    }
    for (int t = 0; t < n_threads; t++) {
        pthread_join(threads[t], NULL);
        hang_guard_progress();
    }
    /* Every thread ended: what it saw. */
    long totals[8] = {0};
    int outcomes[OUT_COUNT] = {0};
    for (int t = 0; t < n_threads; t++) {
        thread_log *L = &logs[t];
        if (!__atomic_load_n(&L->ended, __ATOMIC_ACQUIRE)) {
            CHAOS_FAIL("thread %d was joined but did not end", t);
        }
        for (int j = 0; j < L->n_problems && j < MAX_PROBLEMS; j++) {
            CHAOS_FAIL("thread %d: %s", t, L->problems[j]);
        }
        if (L->n_problems > MAX_PROBLEMS) {
            CHAOS_FAIL("thread %d: %d more problems", t, L->n_problems - MAX_PROBLEMS);
        }
        outcomes[L->outcome]++;
        totals[0] += L->sends_ok;
        totals[1] += L->n_recvs;
        totals[2] += L->kills + L->throws;
        totals[3] += L->deadlocks + L->main_deadlocks;
        totals[4] += L->exits;
        totals[5] += L->closed_errors + L->other_errors + L->test_errors;
        totals[6] += L->ops;
    }
    /* Every tasklet is dead and no longer bound; the channels are empty. */
    for (int t = 0; t < n_threads; t++) {
        for (int i = 0; i < tasklet_count[t]; i++) {
            PyTaskletObject *x = table[t][i];
            if (PyTasklet_Alive(x) || PyTasklet_GetThreadId(x) != -1 || PyTasklet_GetBlocked(x) != 0) {
                CHAOS_FAIL("tasklet %d.%d after its thread ended: alive %d thread id %ld blocked %d", t, i,
                           PyTasklet_Alive(x), PyTasklet_GetThreadId(x), PyTasklet_GetBlocked(x));
            }
        }
    }
    for (int k = 0; k < n_channels; k++) {
        int balance = PyChannel_GetBalance(channels[k]);
        PyObject *q = PyChannel_GetQueue(channels[k]);
        if (balance != 0 || q != Py_None) {
            CHAOS_FAIL("channel %d after every thread ended: balance %d, queue %s", k, balance,
                       q == Py_None ? "empty" : "not empty");
        }
        Py_XDECREF(q);
    }
    long lost = 0;
    check_conservation(&lost);
    if (PyErr_Occurred() != NULL) {
        CHAOS_FAIL("an exception is set on the main thread: %s", error_text());
    }
    if (verbose || harness_case_failed) {
        printf("    seed=%llu: %d threads, %ld ops, %ld sends ok, %ld received, %ld lost, "
               "%ld kills+throws, %ld deadlocks, %ld TaskletExits, %ld other errors; "
               "done/stall/budget %d/%d/%d; %.0f ms\n",
               seed, n_threads, totals[6], totals[0], totals[1], lost, totals[2], totals[3],
               totals[4], totals[5], outcomes[OUT_DONE], outcomes[OUT_STALL], outcomes[OUT_BUDGET],
               now_ms() - started);
    }
    for (int t = 0; t < n_threads; t++) {
        for (int i = 0; i < tasklet_count[t]; i++) {
            Py_CLEAR(table[t][i]);
        }
        free(logs[t].sends);
        free(logs[t].recvs);
        free(logs[t].recv_channel);
    }
    for (int k = 0; k < n_channels; k++) {
        Py_CLEAR(channels[k]);
    }
}

int main(void) {
    int have_seed = getenv("CHAOS_SEED") != NULL && getenv("CHAOS_SEED")[0] != '\0';
    unsigned long long first = (unsigned long long)env_long("CHAOS_SEED", 1);
    int runs = (int)env_long("CHAOS_RUNS", have_seed ? 1 : 3);
    int threads = (int)env_long("CHAOS_THREADS", 8);
    n_ops = (int)env_long("CHAOS_OPS", 150);
    n_channels = (int)env_long("CHAOS_CHANNELS", 4);
    fixed_tasklets = (int)env_long("CHAOS_TASKLETS", 0);
    stall_ms = env_long("CHAOS_STALL_MS", 50);
    budget_ms = env_long("CHAOS_BUDGET_MS", 3000);
    verbose = (int)env_long("CHAOS_VERBOSE", 0);
    const char *skip = getenv("CHAOS_SKIP");
    for (int k = 0; skip != NULL && k < OP_COUNT; k++) {
        const char *at = strstr(skip, op_names[k]);
        size_t n = strlen(op_names[k]);
        if (at != NULL && (at == skip || at[-1] == ',') && (at[n] == '\0' || at[n] == ',')) {
            skipped |= 1u << k;
        }
    }
    if (threads < 1 || threads > MAX_THREADS || fixed_tasklets < 0 || fixed_tasklets > MAX_TASKLETS ||
        n_ops < 1 || n_ops >= (1 << COUNTER_BITS) || n_channels < 1 || n_channels > MAX_CHANNELS) {
        printf("FAILED: test_thread_chaos (bad settings: threads 1..%d, tasklets 0..%d, channels 1..%d)\n",
               MAX_THREADS, MAX_TASKLETS, MAX_CHANNELS);
        return 1;
    }
    hang_guard_start("test_thread_chaos", (int)env_long("CHAOS_LIMIT_S", 60),
                     (int)env_long("CHAOS_HANG_S", 10), chaos_context);
    for (int run = 0; run < runs; run++) {
        static char name[64];
        seed = first + (unsigned long long)run;
        n_threads = threads;
        snprintf(name, sizeof name, "thread_chaos_seed_%llu", seed);
        harness_case_begin(name);
        chaos_seed();
        harness_case_end(__FILE__, __LINE__);
    }
    Py_CLEAR(tasklet_f);
    Py_CLEAR(main_f);
    Py_CLEAR(test_error);
    PyStackless_Finalize();
    return harness_summary("test_thread_chaos");
}
