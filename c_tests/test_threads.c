/* Threads: one scheduler per OS thread (SPEC §6.1), thread info (§6.5),
 * BindThread's errors (§6.2), and operations across threads, which fail
 * cleanly until the cross-thread hand-over exists. */
#include "tasklet_helpers.h"

#include <pthread.h>

static const char *CROSS =
    "the tasklet belongs to another thread; operations across threads are not supported yet";

/* ---- A second thread that keeps a tasklet blocked and one runnable ----- */

static PyChannelObject *shared;
static PyTaskletObject *blocked_there, *runnable_there, *paused_there;
static unsigned long other_id;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stage;

static void set_stage(int s) {
    pthread_mutex_lock(&lock);
    stage = s;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void wait_stage(int s) {
    pthread_mutex_lock(&lock);
    while (stage < s) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
}

static PyObject *receiver(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyChannel_Receive(shared);
}

static PyObject *idle(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Py_RETURN_NONE;
}

static PyObject *other_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    other_id = PyThread_get_thread_ident();
    blocked_there = spawn(receiver);
    if (blocked_there == NULL || PyTasklet_Run(blocked_there) < 0) {
        return NULL;
    }
    runnable_there = spawn(idle);
    PyObject *f = cfunc(idle), *no_args = PyTuple_New(0);
    paused_there = PyTasklet_New(NULL, f);
    int rc = PyTasklet_BindEx(paused_there, NULL, no_args, NULL);
    Py_DECREF(f);
    Py_DECREF(no_args);
    if (rc < 0) {
        return NULL;
    }
    set_stage(1);
    wait_stage(2);
    /* Back on its own thread: the tasklets are usable again. */
    if (PyChannel_Send(shared, Py_None) < 0) {
        return NULL;
    }
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_XDECREF(r);
    return r == NULL ? NULL : (Py_INCREF(Py_None), Py_None);
}

static void *other_thread(void *arg) {
    (void)arg;
    PyObject *f = cfunc(other_main);
    PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
    Py_DECREF(f);
    if (r == NULL) {
        PyErr_Print();
    }
    Py_XDECREF(r);
    Py_CLEAR(blocked_there);
    Py_CLEAR(runnable_there);
    Py_CLEAR(paused_there);
    PyStackless_Finalize();
    set_stage(3);
    return NULL;
}

TEST(tasklets_of_another_thread_refuse_operations) {
    CHECK_INT(PyTasklet_Insert(runnable_there), 0); /* already scheduled: no-op */
    CHECK_INT(PyTasklet_Paused(paused_there), 1);
    CHECK_INT(PyTasklet_Insert(paused_there), -1);
    CHECK_ERROR(PyExc_RuntimeError, CROSS);
    CHECK_INT(PyTasklet_Paused(paused_there), 1);
    CHECK_INT(PyTasklet_Remove(runnable_there), -1);
    CHECK_ERROR(PyExc_RuntimeError, CROSS);
    CHECK_INT(PyTasklet_Run(runnable_there), -1);
    CHECK_ERROR(PyExc_RuntimeError, CROSS);
    CHECK_INT(PyTasklet_Switch(runnable_there), -1);
    CHECK_ERROR(PyExc_RuntimeError, "can't switch to a different thread.");
    CHECK_INT(PyTasklet_Kill(runnable_there), -1);
    CHECK_ERROR(PyExc_RuntimeError, CROSS);
    CHECK_INT(PyTasklet_KillEx(blocked_there, 1), -1);
    CHECK_ERROR(PyExc_RuntimeError, CROSS);
    CHECK_INT(PyTasklet_RaiseException(blocked_there, PyExc_ValueError, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, CROSS);
    /* Nothing changed over there. */
    CHECK_INT(PyTasklet_Scheduled(runnable_there), 1);
    CHECK_INT(PyTasklet_GetBlocked(blocked_there), -1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

TEST(predicates_use_the_tasklets_own_thread) {
    CHECK_INT(PyTasklet_GetThreadId(blocked_there), (long)other_id);
    CHECK_INT(PyTasklet_Alive(blocked_there), 1);
    CHECK_INT(PyTasklet_IsCurrent(blocked_there), 0);
    CHECK_INT(PyTasklet_IsMain(blocked_there), 0);
    CHECK_INT(PyTasklet_Scheduled(blocked_there), 1);
}

TEST(rendezvous_with_a_partner_of_another_thread_fails_cleanly) {
    CHECK_INT(PyChannel_GetBalance(shared), -1);
    CHECK_INT(PyChannel_Send(shared, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, CROSS);
    CHECK_INT(PyChannel_GetBalance(shared), -1);
    PyObject *q = PyChannel_GetQueue(shared);
    CHECK_PTR(q, blocked_there);
    Py_DECREF(q);
}

TEST(thread_info_of_another_thread) {
    PyObject *info = PyStackless_GetThreadInfo((long)other_id);
    CHECK(info != NULL);
    CHECK_INT(PyTuple_Size(info), 3);
    CHECK(PyTasklet_Check(PyTuple_GetItem(info, 0)));
    CHECK_INT(PyTasklet_IsMain((PyTaskletObject *)PyTuple_GetItem(info, 0)), 1);
    CHECK_INT(PyLong_AsLong(PyTuple_GetItem(info, 2)), 2);
    Py_DECREF(info);
}

TEST(bind_thread_errors) {
    PyTaskletObject *t = spawn(idle);
    CHECK(t != NULL);
    CHECK_INT(PyTasklet_BindThread(t, -1), 0); /* own thread: no-op */
    CHECK_INT(PyTasklet_BindThread(t, (long)PyThread_get_thread_ident()), -1);
    CHECK_ERROR(PyExc_RuntimeError, "can't (re)bind a runnable tasklet");
    CHECK_INT(PyTasklet_Remove(t), 0);
    CHECK_INT(PyTasklet_BindThread(t, 12345), -1);
    CHECK_ERROR(PyExc_ValueError, "bad thread");
    CHECK_INT(PyTasklet_BindThread(t, (long)other_id), 0);
    CHECK_INT(PyTasklet_GetThreadId(t), (long)other_id);
    CHECK_INT(PyTasklet_BindThread(t, -1), 0);
    CHECK_INT(PyTasklet_GetThreadId(t), (long)PyThread_get_thread_ident());
    CHECK_INT(PyTasklet_Kill(t), 0);
    Py_DECREF(t);
}

TEST(thread_info_errors_and_own_thread) {
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
}

TEST(main_id_is_the_thread_id) {
    CHECK_INT(PyStackless_GetCurrentId(), (long)PyThread_get_thread_ident());
}

int main(void) {
    shared = PyChannel_New(NULL);
    pthread_t thread;
    pthread_create(&thread, NULL, other_thread, NULL);
    wait_stage(1);
    RUN_INSIDE(tasklets_of_another_thread_refuse_operations);
    RUN_INSIDE(predicates_use_the_tasklets_own_thread);
    RUN_INSIDE(rendezvous_with_a_partner_of_another_thread_fails_cleanly);
    RUN_INSIDE(thread_info_of_another_thread);
    RUN_INSIDE(bind_thread_errors);
    RUN_INSIDE(thread_info_errors_and_own_thread);
    RUN_INSIDE(main_id_is_the_thread_id);
    set_stage(2);
    pthread_join(thread, NULL);
    Py_DECREF(shared);
    PyStackless_Finalize();
    return harness_summary("test_threads");
}
