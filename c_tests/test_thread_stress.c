/* Stress tests of the thread support (SPEC §6): several threads, each with
 * its own scheduler and many tasklets, exchanging over a million messages
 * over shared channels; kills and inserts across threads; threads starting
 * and ending while others run. Every message is counted and summed: none
 * may be lost or duplicated. The program ends by itself (an alarm fails it
 * if it ever hangs). */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

enum { THREADS = 4, SENDERS = 8, RECEIVERS = 8, PER_SENDER = 31250 };
/* THREADS * SENDERS * PER_SENDER = 1,000,000 messages. */

static PyChannelObject *channels[2];

/* The tasklet functions, made once: tasklet_helpers.h's cfunc() recycles a
 * small table of method definitions and is not meant for threads. */
static PyMethodDef sender_def, receiver_def, victim_def, parked_def, consumer_def, short_def;
static PyMethodDef exchange_def, owner_def, killer_def;
static PyObject *sender_f, *receiver_f, *victim_f, *parked_f, *exchange_f, *owner_f, *consumer_f, *short_f;

static PyObject *func_of(PyMethodDef *def, const char *name, PyCFunction f) {
    def->ml_name = name;
    def->ml_meth = f;
    def->ml_flags = METH_VARARGS;
    return PyCFunction_New(def, NULL);
}

static long long received_sum[THREADS], received_count[THREADS];

/* Threads whose main function failed: each test checks that none did. */
static int failed_threads;

static void thread_failed(void) {
    PyErr_Print();
    __atomic_add_fetch(&failed_threads, 1, __ATOMIC_RELAXED);
}

/* Sends PER_SENDER distinct numbers base, base + 1, ... on one of the
 * two shared channels (args: base, channel). */
static PyObject *sender(PyObject *self, PyObject *args) {
    (void)self;
    long base = PyLong_AsLong(PyTuple_GetItem(args, 0));
    PyChannelObject *ch = channels[PyLong_AsLong(PyTuple_GetItem(args, 1))];
    for (long i = 0; i < PER_SENDER; i++) {
        PyObject *v = PyLong_FromLong(base + i);
        int rc = PyChannel_Send(ch, v);
        Py_DECREF(v);
        if (rc < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* Receives its share from one channel and adds it to its thread's sum and
 * count (args: thread, channel). */
static PyObject *receiver(PyObject *self, PyObject *args) {
    (void)self;
    long thread = PyLong_AsLong(PyTuple_GetItem(args, 0));
    PyChannelObject *ch = channels[PyLong_AsLong(PyTuple_GetItem(args, 1))];
    for (long i = 0; i < PER_SENDER * SENDERS / RECEIVERS; i++) {
        PyObject *v = PyChannel_Receive(ch);
        if (v == NULL) {
            return NULL;
        }
        received_sum[thread] += PyLong_AsLong(v);
        received_count[thread]++;
        Py_DECREF(v);
    }
    Py_RETURN_NONE;
}

/* Runs the thread's tasklets, sleeping while they all wait for partners of
 * other threads (a timed run with THREADBLOCK). */
static int run_local(void) {
    PyObject *r = PyStackless_RunWatchdogEx(1000000000L, Py_WATCHDOG_THREADBLOCK);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static PyObject *exchange_body(PyObject *self, PyObject *args) {
    (void)self;
    long thread = PyLong_AsLong(PyTuple_GetItem(args, 0));
    PyTaskletObject *all[SENDERS + RECEIVERS];
    for (int i = 0; i < SENDERS; i++) {
        PyObject *a = Py_BuildValue("(li)", (thread * SENDERS + i) * (long)PER_SENDER, i & 1);
        all[i] = spawn_func(sender_f, a);
        Py_DECREF(a);
    }
    for (int i = 0; i < RECEIVERS; i++) {
        PyObject *a = Py_BuildValue("(li)", thread, i & 1);
        all[SENDERS + i] = spawn_func(receiver_f, a);
        Py_DECREF(a);
    }
    int rc = 0;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < SENDERS + RECEIVERS; i++) {
            alive += PyTasklet_Alive(all[i]);
        }
        if (alive == 0 || (rc = run_local()) < 0) {
            break;
        }
    }
    for (int i = 0; i < SENDERS + RECEIVERS; i++) {
        Py_DECREF(all[i]);
    }
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static void *exchange_thread(void *arg) {
    long thread = (long)(intptr_t)arg;
    PyObject *r = PyStackless_CallMethod_Main(exchange_f, NULL, "(l)", thread);
    if (r == NULL) {
        thread_failed();
    }
    Py_XDECREF(r);
    PyStackless_Finalize();
    return NULL;
}

TEST(a_million_messages_between_four_threads) {
    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; t++) {
        received_sum[t] = received_count[t] = 0;
        pthread_create(&threads[t], NULL, exchange_thread, (void *)(intptr_t)t);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
    }
    CHECK_INT(__atomic_load_n(&failed_threads, __ATOMIC_RELAXED), 0);
    long long n = (long long)THREADS * SENDERS * PER_SENDER, sum = 0, count = 0;
    for (int t = 0; t < THREADS; t++) {
        sum += received_sum[t];
        count += received_count[t];
    }
    CHECK_INT(count, n);
    CHECK_INT(sum, n * (n - 1) / 2);
    CHECK_INT(PyChannel_GetBalance(channels[0]), 0);
    CHECK_INT(PyChannel_GetBalance(channels[1]), 0);
}

/* ---- Kills and inserts across threads ------------------------------------ */

enum { VICTIMS = 200 };

static PyTaskletObject *victims[VICTIMS], *parked[VICTIMS];
static int exits_seen, parked_ran, wrong_thread;
static unsigned long owner_id;
static volatile int owner_ready, killer_done;

static PyObject *victim(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyChannel_Receive(channels[0]);
    if (v == NULL) {
        if (PyErr_ExceptionMatches(PyExc_TaskletExit)) {
            exits_seen++;
        }
        wrong_thread += PyThread_get_thread_ident() != owner_id;
        return NULL;
    }
    Py_DECREF(v);
    Py_RETURN_NONE;
}

static PyObject *parked_body(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    parked_ran++;
    wrong_thread += PyThread_get_thread_ident() != owner_id;
    Py_RETURN_NONE;
}

static PyObject *owner_body(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    owner_id = PyThread_get_thread_ident();
    PyObject *none = PyTuple_New(0);
    for (int i = 0; i < VICTIMS; i++) {
        victims[i] = spawn_func(victim_f, NULL);
        parked[i] = PyTasklet_New(NULL, parked_f);
        PyTasklet_BindEx(parked[i], NULL, none, NULL);
    }
    Py_DECREF(none);
    PyObject *r = PyStackless_RunWatchdog(0); /* every victim blocks */
    Py_XDECREF(r);
    __atomic_store_n(&owner_ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&killer_done, __ATOMIC_ACQUIRE) || parked_ran + exits_seen < 2 * VICTIMS) {
        r = PyStackless_RunWatchdog(0);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
        sched_yield();
    }
    Py_RETURN_NONE;
}

static void *owner_thread(void *arg) {
    (void)arg;
    PyObject *r = PyStackless_Call_Main(owner_f, NULL, NULL);
    if (r == NULL) {
        thread_failed();
    }
    Py_XDECREF(r);
    PyStackless_Finalize();
    return NULL;
}

static int killer_failures;

static PyObject *killer_body(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (int i = 0; i < VICTIMS; i++) {
        killer_failures += PyTasklet_Kill(victims[i]) != 0;
        killer_failures += PyTasklet_Insert(parked[i]) != 0;
    }
    Py_RETURN_NONE;
}

TEST(kills_and_inserts_across_threads) {
    exits_seen = parked_ran = wrong_thread = killer_failures = 0;
    owner_ready = killer_done = 0;
    pthread_t owner;
    pthread_create(&owner, NULL, owner_thread, NULL);
    while (!__atomic_load_n(&owner_ready, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    CHECK_INT(PyChannel_GetBalance(channels[0]), -VICTIMS);
    PyObject *f = func_of(&killer_def, "killer", killer_body);
    PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
    Py_DECREF(f);
    CHECK(r != NULL);
    Py_DECREF(r);
    __atomic_store_n(&killer_done, 1, __ATOMIC_RELEASE);
    pthread_join(owner, NULL);
    CHECK_INT(__atomic_load_n(&failed_threads, __ATOMIC_RELAXED), 0);
    CHECK_INT(killer_failures, 0);
    CHECK_INT(exits_seen, VICTIMS);
    CHECK_INT(parked_ran, VICTIMS);
    CHECK_INT(wrong_thread, 0);
    CHECK_INT(PyChannel_GetBalance(channels[0]), 0);
    for (int i = 0; i < VICTIMS; i++) {
        CHECK_INT(PyTasklet_Alive(victims[i]), 0);
        Py_CLEAR(victims[i]);
        Py_CLEAR(parked[i]);
    }
}

/* ---- Threads starting and ending while others run ----------------------- */

enum { SHORT_THREADS = 40, PER_SHORT = 500 };

static long long consumed_sum, consumed_count;

static PyObject *consumer_body(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (long i = 0; i < (long)SHORT_THREADS * PER_SHORT; i++) {
        PyObject *v = PyChannel_Receive(channels[1]);
        if (v == NULL) {
            return NULL;
        }
        consumed_sum += PyLong_AsLong(v);
        consumed_count++;
        Py_DECREF(v);
    }
    Py_RETURN_NONE;
}

static void *consumer_thread(void *arg) {
    (void)arg;
    PyObject *r = PyStackless_Call_Main(consumer_f, NULL, NULL);
    if (r == NULL) {
        thread_failed();
    }
    Py_XDECREF(r);
    PyStackless_Finalize();
    return NULL;
}

static PyObject *short_body(PyObject *self, PyObject *args) {
    (void)self;
    long base = PyLong_AsLong(PyTuple_GetItem(args, 0));
    for (long i = 0; i < PER_SHORT; i++) {
        PyObject *v = PyLong_FromLong(base + i);
        int rc = PyChannel_Send(channels[1], v);
        Py_DECREF(v);
        if (rc < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* A short-lived thread: sends its share, then ends without finalizing (its
 * thread-exit destructor cleans up). */
static void *short_thread(void *arg) {
    PyObject *r = PyStackless_CallMethod_Main(short_f, NULL, "(l)", (long)(intptr_t)arg);
    if (r == NULL) {
        thread_failed();
    }
    Py_XDECREF(r);
    return NULL;
}

TEST(threads_start_and_end_while_others_run) {
    consumed_sum = consumed_count = 0;
    pthread_t consumer, shorts[4];
    pthread_create(&consumer, NULL, consumer_thread, NULL);
    for (int i = 0; i < SHORT_THREADS; i += 4) {
        for (int j = 0; j < 4; j++) {
            pthread_create(&shorts[j], NULL, short_thread, (void *)(intptr_t)((i + j) * PER_SHORT));
        }
        for (int j = 0; j < 4; j++) {
            pthread_join(shorts[j], NULL);
        }
    }
    pthread_join(consumer, NULL);
    CHECK_INT(__atomic_load_n(&failed_threads, __ATOMIC_RELAXED), 0);
    long long n = (long long)SHORT_THREADS * PER_SHORT;
    CHECK_INT(consumed_count, n);
    CHECK_INT(consumed_sum, n * (n - 1) / 2);
}

int main(void) {
    alarm(300);
    channels[0] = PyChannel_New(NULL);
    channels[1] = PyChannel_New(NULL);
    sender_f = func_of(&sender_def, "sender", sender);
    receiver_f = func_of(&receiver_def, "receiver", receiver);
    victim_f = func_of(&victim_def, "victim", victim);
    parked_f = func_of(&parked_def, "parked", parked_body);
    exchange_f = func_of(&exchange_def, "exchange", exchange_body);
    owner_f = func_of(&owner_def, "owner", owner_body);
    consumer_f = func_of(&consumer_def, "consumer", consumer_body);
    short_f = func_of(&short_def, "short", short_body);
    RUN(a_million_messages_between_four_threads);
    RUN(kills_and_inserts_across_threads);
    RUN(threads_start_and_end_while_others_run);
    Py_DECREF(sender_f);
    Py_DECREF(receiver_f);
    Py_DECREF(victim_f);
    Py_DECREF(parked_f);
    Py_DECREF(exchange_f);
    Py_DECREF(owner_f);
    Py_DECREF(consumer_f);
    Py_DECREF(short_f);
    Py_DECREF(channels[0]);
    Py_DECREF(channels[1]);
    PyStackless_Finalize();
    return harness_summary("test_thread_stress");
}
