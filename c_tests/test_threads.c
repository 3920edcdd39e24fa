/* Threads (SPEC §6): one scheduler per OS thread, channels between threads,
 * operations addressed to another thread's tasklets, sleeping and waking,
 * deadlocks across threads, and thread death. */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"
#include "stages.h"
#include "worker.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- Helpers: a worker thread that runs its own scheduler ------------- */

static void reset(void) {
    stage = 0;
    pthread_mutex_lock(&lock);
    wlog_buf[0] = '\0';
    pthread_mutex_unlock(&lock);
}

/* Runs the worker's scheduler until `done`: the "scheduler per thread"
 * loop of the Stackless docs (an untimed run returns when nothing local is
 * runnable, SPEC §6.4). */
static PyObject *serve_until(int done) {
    for (;;) {
        pthread_mutex_lock(&lock);
        int over = stage >= done;
        pthread_mutex_unlock(&lock);
        if (over) {
            break;
        }
        PyObject *r = PyStackless_RunWatchdog(0);
        if (r == NULL) {
            return NULL;
        }
        Py_DECREF(r);
        sleep_us(1000);
    }
    return PyStackless_RunWatchdog(0);
}

static PyChannelObject *ch, *other_ch;
static PyTaskletObject *remote[3];
static unsigned long worker_id;

/* ---- S58: a rendezvous with a partner on another thread ---------------- */

static PyObject *s58_receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    wlog("receiving");
    PyObject *v = PyChannel_Receive(ch);
    if (v == NULL) {
        return NULL;
    }
    wlog("%s", PyUnicode_AsUTF8(v));
    Py_DECREF(v);
    set_stage(3);
    Py_RETURN_NONE;
}

BODY(s58_worker) {
    (void)args;
    PyTaskletObject *r = spawn(s58_receiver);
    if (r == NULL || PyTasklet_Run(r) < 0) {
        return NULL;
    }
    set_stage(1);
    PyObject *res = serve_until(3);
    Py_DECREF(r);
    return res;
}

TEST(s58_send_to_a_receiver_of_another_thread_does_not_switch) {
    worker w;
    reset();
    start_worker(&w, &s58_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    PyObject *x = PyUnicode_FromString("x");
    CHECK_INT(PyChannel_Send(ch, x), 0);
    Py_DECREF(x);
    /* The caller continued at once, whatever the preference. */
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    wait_stage(3);
    CHECK(join_worker(&w));
    CHECK_LOG("receiving x");
}

BODY(late_sender) {
    (void)args;
    set_stage(1); /* a thread counts from its first call into the runtime */
    sleep_us(50000);
    PyObject *v = PyUnicode_FromString("from C");
    int rc = PyChannel_Send(ch, v);
    Py_DECREF(v);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

TEST(s58_main_sleeps_until_another_thread_sends) {
    worker w;
    reset();
    start_worker(&w, &late_sender_def, WORKER_FINALIZES);
    wait_stage(1);
    PyObject *v = PyChannel_Receive(ch);
    CHECK(v != NULL);
    CHECK_STR(PyUnicode_AsUTF8(v), "from C");
    Py_DECREF(v);
    CHECK(join_worker(&w));
}

/* ---- S59: remote insert and run; the order they run in ----------------- */

static PyObject *log_name(PyObject *self, PyObject *args) {
    (void)self;
    wlog("%s", arg_str(args, 0));
    if ((unsigned long)PyThread_get_thread_ident() != worker_id) {
        wlog("wrong-thread");
    }
    Py_RETURN_NONE;
}

BODY(s59_worker) {
    (void)args;
    worker_id = PyThread_get_thread_ident();
    const char *names[3] = {"t1", "t2", "t3"};
    PyObject *f = cfunc(log_name);
    for (int i = 0; i < 3; i++) {
        remote[i] = PyTasklet_New(NULL, f);
        PyObject *a = Py_BuildValue("(s)", names[i]);
        int rc = PyTasklet_BindEx(remote[i], NULL, a, NULL);
        Py_DECREF(a);
        if (rc < 0) {
            Py_DECREF(f);
            return NULL;
        }
    }
    Py_DECREF(f);
    set_stage(1);
    return serve_until(2);
}

TEST(s59_remote_insert_and_run_order) {
    worker w;
    reset();
    start_worker(&w, &s59_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    int runcount = PyStackless_GetRunCount();
    CHECK_INT(PyTasklet_Paused(remote[1]), 1);
    CHECK_INT(PyTasklet_Insert(remote[1]), 0);
    /* Scheduled as soon as Insert returns. */
    CHECK_INT(PyTasklet_Scheduled(remote[1]), 1);
    CHECK_INT(PyTasklet_Insert(remote[2]), 0);
    CHECK_INT(PyTasklet_Run(remote[0]), 0);
    CHECK_INT(PyStackless_GetRunCount(), runcount);
    for (int i = 0; i < 200 && strcmp(wlog_text(), "t1 t2 t3") != 0; i++) {
        sleep_us(1000);
    }
    set_stage(2);
    CHECK(join_worker(&w));
    CHECK_LOG("t1 t2 t3");
    for (int i = 0; i < 3; i++) {
        CHECK_INT(PyTasklet_Alive(remote[i]), 0);
        Py_CLEAR(remote[i]);
    }
}

/* ---- Rules for tasklets of a live other thread ------------------------- */

static PyObject *blocked_receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyChannel_Receive(ch);
    if (v == NULL) {
        wlog("%s", PyErr_ExceptionMatches(PyExc_TaskletExit) ? "TaskletExit" : "error");
        if ((unsigned long)PyThread_get_thread_ident() != worker_id) {
            wlog("wrong-thread");
        }
        return NULL;
    }
    Py_DECREF(v);
    Py_RETURN_NONE;
}

BODY(rules_worker) {
    (void)args;
    worker_id = PyThread_get_thread_ident();
    remote[0] = spawn(blocked_receiver);
    if (remote[0] == NULL || PyTasklet_Run(remote[0]) < 0) {
        return NULL;
    }
    PyObject *name = Py_BuildValue("(s)", "r");
    remote[1] = spawn_with(log_name, name);
    Py_DECREF(name);
    set_stage(1);
    /* Keep the runnable one runnable: do not run the scheduler yet. */
    wait_stage(2);
    return serve_until(3);
}

TEST(operations_on_tasklets_of_another_thread) {
    worker w;
    reset();
    start_worker(&w, &rules_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    PyTaskletObject *b = remote[0], *r = remote[1];
    CHECK_INT(PyTasklet_GetThreadId(b), (long)worker_id);
    CHECK_INT(PyTasklet_Alive(b), 1);
    CHECK_INT(PyTasklet_IsCurrent(b), 0);
    CHECK_INT(PyTasklet_IsMain(b), 0);
    CHECK_INT(PyTasklet_GetBlocked(b), -1);
    CHECK_INT(PyTasklet_Switch(r), -1);
    CHECK_ERROR(PyExc_RuntimeError, "can't switch to a different thread.");
    CHECK_INT(PyTasklet_BindThread(r, -1), -1);
    CHECK_ERROR(PyExc_RuntimeError, "can't (re)bind a runnable tasklet");
    CHECK_INT(PyTasklet_BindThread(b, -1), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet has C state on its stack");
    CHECK_INT(PyTasklet_Insert(r), 0); /* already scheduled: no-op */
    /* Its tempval and its ring are its thread's while it is scheduled. */
    CHECK(PyTasklet_GetTempval(r) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "the tempval of a tasklet scheduled on another thread is that thread's");
    CHECK_INT(PyTasklet_SetTempval(r, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, "the tempval of a tasklet scheduled on another thread is that thread's");
    PyObject *next = PyTasklet_GetNext(r);
    CHECK_PTR(next, Py_None);
    Py_DECREF(next);
    /* Removed from its own thread's ring: unscheduled when Remove returns,
     * and the caller's run count does not change. */
    int runcount = PyStackless_GetRunCount();
    CHECK_INT(PyTasklet_Remove(r), 0);
    CHECK_INT(PyTasklet_Scheduled(r), 0);
    CHECK_INT(PyTasklet_Paused(r), 1);
    CHECK_INT(PyStackless_GetRunCount(), runcount);
    /* A kill of another thread's tasklet is pending there: the caller goes
     * on, and a blocked victim leaves its queue at once (SPEC §4.8). */
    CHECK_INT(PyTasklet_Kill(b), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_GetBlocked(b), 0);
    CHECK_INT(PyTasklet_Scheduled(b), 1);
    set_stage(2);
    for (int i = 0; i < 200 && PyTasklet_Alive(b); i++) {
        sleep_us(1000);
    }
    CHECK_INT(PyTasklet_Alive(b), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    /* The removed one did not run over there; inserted again, it does. */
    CHECK_LOG("TaskletExit");
    CHECK_INT(PyTasklet_Insert(r), 0);
    CHECK_INT(PyTasklet_Scheduled(r), 1);
    for (int i = 0; i < 200 && PyTasklet_Alive(r); i++) {
        sleep_us(1000);
    }
    set_stage(3);
    CHECK(join_worker(&w));
    CHECK_LOG("TaskletExit r");
    Py_CLEAR(remote[0]);
    Py_CLEAR(remote[1]);
}

/* ---- S60: tasklets of a dead thread ------------------------------------ */

BODY(s60_worker) {
    (void)args;
    worker_id = PyThread_get_thread_ident();
    PyObject *name = Py_BuildValue("(s)", "t1");
    remote[0] = spawn_with(log_name, name); /* never started */
    Py_DECREF(name);
    remote[1] = spawn(blocked_receiver);
    if (remote[1] == NULL || PyTasklet_Run(remote[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE; /* the thread ends: its exit destructor cleans up */
}

TEST(s60_tasklets_of_a_dead_thread) {
    worker w;
    reset();
    start_worker(&w, &s60_worker_def, WORKER_EXITS);
    CHECK(join_worker(&w));
    /* The started one was killed on its own thread when it ended. */
    CHECK_LOG("TaskletExit");
    CHECK_INT(PyTasklet_Alive(remote[1]), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    PyTaskletObject *t = remote[0];
    CHECK_INT(PyTasklet_GetThreadId(t), -1);
    CHECK_INT(PyTasklet_Alive(t), 0);
    CHECK_INT(PyTasklet_Scheduled(t), 0);
    CHECK_INT(PyTasklet_Paused(t), 0);
    CHECK_INT(PyTasklet_Restorable(t), 1);
    CHECK_INT(PyTasklet_Insert(t), -1);
    CHECK_ERROR(PyExc_RuntimeError, "Target thread isn't initialized");
    CHECK_INT(PyTasklet_Run(t), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet has no thread");
    CHECK_INT(PyTasklet_Switch(t), -1);
    CHECK_ERROR(PyExc_RuntimeError, "tasklet has no thread");
    CHECK_INT(PyTasklet_Remove(t), 0);
    CHECK_INT(PyTasklet_SetAtomic(t, 1), 0);
    CHECK_INT(PyTasklet_SetAtomic(t, 0), 1);
    /* Rebound to a live thread, it runs there. */
    CHECK_INT(PyTasklet_BindThread(t, -1), 0);
    CHECK_INT(PyTasklet_GetThreadId(t), (long)PyThread_get_thread_ident());
    CHECK_INT(PyTasklet_Alive(t), 1);
    worker_id = PyThread_get_thread_ident();
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_LOG("TaskletExit t1");
    Py_CLEAR(remote[0]);
    Py_CLEAR(remote[1]);
}

/* Switches SPIN_SWITCHES times with the other spinner, then "spun". */
enum { SPIN_SWITCHES = 6000 };

static PyObject *spinner(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (int i = 0; i < SPIN_SWITCHES; i++) {
        if (schedule() < 0) {
            return NULL;
        }
    }
    wlog("spun");
    Py_RETURN_NONE;
}

/* Two spinners switch 12,000 times on this thread and end. */
BODY(busy_worker) {
    (void)args;
    remote[0] = spawn(spinner);
    remote[1] = spawn(spinner);
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_CLEAR(remote[1]);
    return r;
}

/* Binds the first spinner, ended, to this new thread, which has switched
 * less than the spinner's old thread, and runs it again. */
BODY(fresh_worker) {
    (void)args;
    PyObject *f = cfunc(spinner), *no_args = PyTuple_New(0);
    int rc = PyTasklet_BindThread(remote[0], -1);
    rc |= PyTasklet_BindEx(remote[0], f, NULL, NULL);
    rc |= PyTasklet_Setup(remote[0], no_args, NULL);
    remote[1] = spawn(spinner);
    Py_DECREF(f);
    Py_DECREF(no_args);
    if (rc != 0 || remote[1] == NULL) {
        return NULL;
    }
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_CLEAR(remote[1]);
    return r;
}

/* A tasklet's switches are counted by the thread it runs on: one that
 * ended on a thread that switched a lot runs again on another (a debug
 * build panicked in the switch that compared the two threads' counts). */
TEST(a_tasklet_ended_on_a_busy_thread_runs_again_on_another) {
    worker a, b;
    reset();
    start_worker(&a, &busy_worker_def, WORKER_FINALIZES);
    CHECK(join_worker(&a));
    CHECK_LOG("spun spun");
    start_worker(&b, &fresh_worker_def, WORKER_FINALIZES);
    CHECK(join_worker(&b));
    CHECK_LOG("spun spun spun spun");
    CHECK_INT(PyTasklet_Alive(remote[0]), 0);
    Py_CLEAR(remote[0]);
}

TEST(s60_kill_of_a_threadless_tasklet_succeeds) {
    worker w;
    reset();
    start_worker(&w, &s60_worker_def, WORKER_EXITS);
    CHECK(join_worker(&w));
    CHECK_INT(PyTasklet_Kill(remote[0]), 0);
    CHECK_INT(PyTasklet_Alive(remote[0]), 0);
    PyObject *a = PyTuple_New(0);
    CHECK_INT(PyTasklet_BindEx(remote[0], NULL, NULL, NULL), 0);
    CHECK_INT(PyTasklet_Setup(remote[0], a, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "the tasklet was not bound to a function");
    Py_DECREF(a);
    Py_CLEAR(remote[0]);
    Py_CLEAR(remote[1]);
}

/* ---- Hand-offs across threads keep every message ----------------------- */

/* Receives, traces the value, then makes one more switching call. */
static PyObject *receive_then_schedule(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyChannel_Receive(ch);
    if (v == NULL) {
        wlog("%s", PyErr_ExceptionMatches(PyExc_TaskletExit) ? "TaskletExit-in-receive" : "error");
        return NULL;
    }
    wlog("%s", PyUnicode_AsUTF8(v));
    Py_DECREF(v);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        wlog("%s", PyErr_ExceptionMatches(PyExc_TaskletExit) ? "TaskletExit" : "error");
        return NULL;
    }
    Py_DECREF(r);
    wlog("not-killed");
    Py_RETURN_NONE;
}

BODY(receiving_worker) {
    (void)args;
    worker_id = PyThread_get_thread_ident();
    remote[0] = spawn(receive_then_schedule);
    if (remote[0] == NULL || PyTasklet_Run(remote[0]) < 0) {
        return NULL;
    }
    set_stage(1);
    wait_stage(2); /* the other thread sends and kills meanwhile */
    return serve_until(3);
}

/* A tasklet of another thread that a send completed, then a kill reached
 * before it ran: it gets the value first, and the kill at its next
 * switching call (no message is lost to a kill that crosses threads). */
TEST(cross_thread_kill_after_a_delivery_keeps_the_value) {
    worker w;
    reset();
    start_worker(&w, &receiving_worker_def, WORKER_FINALIZES);
    wait_stage(1);
    PyObject *x = PyUnicode_FromString("x");
    CHECK_INT(PyChannel_Send(ch, x), 0);
    Py_DECREF(x);
    CHECK_INT(PyTasklet_Kill(remote[0]), 0);
    set_stage(2);
    for (int i = 0; i < 2000 && strcmp(wlog_text(), "x TaskletExit") != 0; i++) {
        sleep_us(1000);
    }
    set_stage(3);
    CHECK(join_worker(&w));
    CHECK_LOG("x TaskletExit");
    CHECK_INT(PyTasklet_Alive(remote[0]), 0);
    Py_CLEAR(remote[0]);
}

/* Catches the kill of its thread's end and waits on the channel again. */
static PyObject *stubborn_receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    for (;;) {
        PyObject *v = PyChannel_Receive(ch);
        if (v != NULL) {
            wlog("received");
            Py_DECREF(v);
            Py_RETURN_NONE;
        }
        if (!PyErr_ExceptionMatches(PyExc_TaskletExit)) {
            return NULL;
        }
        PyErr_Clear();
        wlog("caught");
    }
}

/* Kept forever with the survivor below (its stack, which LeakSanitizer
 * does not scan, holds the only other reference). */
static PyObject *stubborn_f;

BODY(leaves_a_survivor) {
    (void)args;
    stubborn_f = cfunc(stubborn_receiver);
    remote[0] = spawn_func(stubborn_f, NULL);
    if (remote[0] == NULL || PyTasklet_Run(remote[0]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE; /* the thread ends: its exit kills the receiver once */
}

/* Kept forever: a tasklet that survived its thread's end is uncollectable
 * (SPEC §6.6), and must stay reachable for valgrind. */
static PyTaskletObject *survivor;

/* SPEC §6.6: a tasklet that survived its thread's end and waits on a
 * channel can never run again; a sender never hands it a value (which
 * would be lost): it is dropped from the queue, and the send blocks. */
TEST(a_send_never_hands_a_value_to_a_dead_thread) {
    worker w;
    reset();
    start_worker(&w, &leaves_a_survivor_def, WORKER_EXITS);
    CHECK(join_worker(&w));
    CHECK_LOG("caught");
    survivor = remote[0];
    remote[0] = NULL;
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyTasklet_Alive(survivor), 0);
    PyObject *x = PyUnicode_FromString("x");
    CHECK_INT(PyChannel_Send(ch, x), -1);
    Py_DECREF(x);
    CHECK_ERROR(PyExc_RuntimeError, "Deadlock: the last runnable tasklet cannot be blocked.");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_GetBlocked(survivor), 0);
    CHECK_LOG("caught");
}

BODY(parked_main) {
    (void)args;
    worker_id = PyThread_get_thread_ident();
    set_stage(1);
    PyObject *v = PyChannel_Receive(ch); /* parks: no tasklet runs here */
    if (v == NULL) {
        return NULL;
    }
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* get_thread_info of another thread: its main, no current while nothing
 * runs there, its run count. */
TEST(thread_info_of_another_thread) {
    worker w;
    reset();
    start_worker(&w, &parked_main_def, WORKER_FINALIZES);
    wait_stage(1);
    while (PyChannel_GetBalance(ch) != -1) {
        sleep_us(1000);
    }
    PyObject *info = PyStackless_GetThreadInfo((long)worker_id);
    CHECK(info != NULL);
    PyObject *main = PyTuple_GetItem(info, 0);
    CHECK(PyTasklet_Check(main));
    CHECK_INT(PyTasklet_IsMain((PyTaskletObject *)main), 1);
    CHECK_INT(PyTasklet_GetThreadId((PyTaskletObject *)main), (long)worker_id);
    CHECK_INT(PyTasklet_GetBlocked((PyTaskletObject *)main), -1);
    CHECK_PTR(PyTuple_GetItem(info, 1), Py_None);
    CHECK_INT(PyLong_AsLong(PyTuple_GetItem(info, 2)), 0);
    Py_DECREF(info);
    CHECK_INT(PyChannel_Send(ch, Py_None), 0);
    CHECK(join_worker(&w));
}

/* Main of a worker: waits on other_ch (parks), then replies on ch. */
BODY(waits_then_replies) {
    (void)args;
    worker_id = PyThread_get_thread_ident();
    set_stage(1);
    PyObject *v = PyChannel_Receive(other_ch);
    if (v == NULL) {
        return NULL;
    }
    wlog("%s", PyUnicode_AsUTF8(v));
    Py_DECREF(v);
    PyObject *reply = PyUnicode_FromString("reply");
    int rc = PyChannel_Send(ch, reply);
    Py_DECREF(reply);
    return rc < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
}

static PyObject *sends_to_other_ch(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyUnicode_FromString("set-up");
    int rc = PyChannel_Send(other_ch, v);
    Py_DECREF(v);
    return rc < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
}

/* SPEC §6.3: Setup of a tasklet of another thread does not wake that
 * thread; but when every other thread waits too, the work it was handed
 * runs rather than a Deadlock being reported. */
TEST(work_handed_to_a_parked_thread_is_not_a_deadlock) {
    worker w;
    reset();
    start_worker(&w, &waits_then_replies_def, WORKER_FINALIZES);
    wait_stage(1);
    for (int i = 0; i < 5000 && PyChannel_GetBalance(other_ch) != -1; i++) {
        sleep_us(1000);
    }
    sleep_us(20000); /* let it park */
    PyObject *f = cfunc(sends_to_other_ch);
    PyTaskletObject *t = PyTasklet_New(NULL, f);
    Py_DECREF(f);
    CHECK_INT(PyTasklet_BindThread(t, (long)worker_id), 0);
    PyObject *none = PyTuple_New(0);
    CHECK_INT(PyTasklet_Setup(t, none, NULL), 0);
    Py_DECREF(none);
    CHECK_INT(PyTasklet_Scheduled(t), 1);
    PyObject *v = PyChannel_Receive(ch);
    CHECK(v != NULL);
    CHECK_STR(PyUnicode_AsUTF8(v), "reply");
    Py_DECREF(v);
    CHECK(join_worker(&w));
    CHECK_LOG("set-up");
    Py_DECREF(t);
}

/* ---- Deadlocks across threads (SPEC §6.4) ------------------------------ */

BODY(sleeper) {
    (void)args;
    set_stage(1);
    PyObject *v = PyChannel_Receive(other_ch); /* sleeps: main is awake */
    if (v == NULL) {
        return NULL;
    }
    wlog("woken");
    Py_DECREF(v);
    Py_RETURN_NONE;
}

TEST(last_awake_thread_gets_the_deadlock) {
    worker w;
    reset();
    start_worker(&w, &sleeper_def, WORKER_FINALIZES);
    wait_stage(1);
    sleep_us(20000); /* let it fall asleep */
    CHECK(PyChannel_Receive(ch) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Deadlock: the last runnable tasklet cannot be blocked.");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyChannel_Send(other_ch, Py_None), 0);
    CHECK(join_worker(&w));
    CHECK_LOG("woken");
}

static PyObject *ends_quickly(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Py_RETURN_NONE;
}

BODY(sends_later) {
    (void)args;
    set_stage(1);
    wait_stage(2);
    sleep_us(20000);
    if (PyChannel_Send(ch, Py_None) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* §6.4 (verified): a local tasklet that ends does not consult other threads. */
TEST(ending_tasklet_does_not_wait_for_other_threads) {
    worker w;
    reset();
    start_worker(&w, &sends_later_def, WORKER_FINALIZES);
    wait_stage(1);
    PyTaskletObject *t = spawn(ends_quickly);
    set_stage(2);
    CHECK(PyChannel_Receive(ch) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "the main tasklet is receiving without a sender available.");
    /* The worker's send then finds main blocked again and completes. */
    PyObject *v = PyChannel_Receive(ch);
    CHECK_PTR(v, Py_None);
    Py_DECREF(v);
    CHECK(join_worker(&w));
    Py_DECREF(t);
}

/* ---- THREADBLOCK: a timed run sleeps instead of returning ------------- */

static PyObject *local_waiter(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyChannel_Receive(ch);
    if (v == NULL) {
        return NULL;
    }
    trace("got %s", PyUnicode_AsUTF8(v));
    Py_DECREF(v);
    Py_RETURN_NONE;
}

BODY(send_word) {
    (void)args;
    set_stage(1);
    sleep_us(20000);
    PyObject *v = PyUnicode_FromString("late");
    int rc = PyChannel_Send(ch, v);
    Py_DECREF(v);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

TEST(threadblock_run_waits_for_another_thread) {
    worker w;
    reset();
    PyTaskletObject *t = spawn(local_waiter);
    start_worker(&w, &send_word_def, WORKER_FINALIZES);
    wait_stage(1);
    PyObject *r = PyStackless_RunWatchdogEx(1000000000L, Py_WATCHDOG_THREADBLOCK);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    CHECK_TRACE("got late");
    CHECK_INT(PyTasklet_Alive(t), 0);
    CHECK(join_worker(&w));
    Py_DECREF(t);
}

TEST(untimed_run_returns_instead_of_sleeping) {
    PyTaskletObject *t = spawn(local_waiter);
    PyObject *r = PyStackless_RunWatchdogEx(0, Py_WATCHDOG_THREADBLOCK);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    CHECK_INT(PyTasklet_GetBlocked(t), -1);
    CHECK_INT(PyTasklet_Kill(t), 0);
    Py_DECREF(t);
}

/* ---- Thread info, ids, bind errors -------------------------------------- */

TEST(thread_info_and_ids) {
    CHECK(PyStackless_GetThreadInfo(0) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Thread id not found");
    CHECK(PyStackless_GetThreadInfo(424242) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Thread id not found");
    PyObject *info = PyStackless_GetThreadInfo(-1);
    CHECK(info != NULL);
    PyObject *main = PyStackless_GetMain();
    CHECK_PTR(PyTuple_GetItem(info, 0), main);
    CHECK_PTR(PyTuple_GetItem(info, 1), main);
    CHECK_INT(PyLong_AsLong(PyTuple_GetItem(info, 2)), 1);
    Py_DECREF(main);
    Py_DECREF(info);
    CHECK_INT(PyStackless_GetCurrentId(), (long)PyThread_get_thread_ident());
    PyTaskletObject *t = spawn(ends_quickly);
    CHECK_INT(PyTasklet_BindThread(t, (long)PyThread_get_thread_ident()), -1);
    CHECK_ERROR(PyExc_RuntimeError, "can't (re)bind a runnable tasklet");
    CHECK_INT(PyTasklet_Remove(t), 0);
    CHECK_INT(PyTasklet_BindThread(t, 12345), -1);
    CHECK_ERROR(PyExc_ValueError, "bad thread");
    CHECK_INT(PyTasklet_Kill(t), 0);
    Py_DECREF(t);
}

int main(void) {
    alarm(120); /* a hang is a failure, never a stuck run */
    ch = PyChannel_New(NULL);
    other_ch = PyChannel_New(NULL);
    RUN_INSIDE(s58_send_to_a_receiver_of_another_thread_does_not_switch);
    RUN_INSIDE(s58_main_sleeps_until_another_thread_sends);
    RUN_INSIDE(s59_remote_insert_and_run_order);
    RUN_INSIDE(operations_on_tasklets_of_another_thread);
    RUN_INSIDE(s60_tasklets_of_a_dead_thread);
    RUN(a_tasklet_ended_on_a_busy_thread_runs_again_on_another);
    RUN_INSIDE(s60_kill_of_a_threadless_tasklet_succeeds);
    RUN_INSIDE(last_awake_thread_gets_the_deadlock);
    RUN_INSIDE(ending_tasklet_does_not_wait_for_other_threads);
    RUN_INSIDE(threadblock_run_waits_for_another_thread);
    RUN_INSIDE(untimed_run_returns_instead_of_sleeping);
    RUN_INSIDE(thread_info_and_ids);
    RUN_INSIDE(cross_thread_kill_after_a_delivery_keeps_the_value);
    RUN_INSIDE(a_send_never_hands_a_value_to_a_dead_thread);
    RUN_INSIDE(thread_info_of_another_thread);
    RUN_INSIDE(work_handed_to_a_parked_thread_is_not_a_deadlock);
    Py_DECREF(ch);
    Py_DECREF(other_ch);
    PyStackless_Finalize();
    return harness_summary("test_threads");
}
