/* Channels on one thread (SPEC §4.1-§4.5, §8.2): creation, bad input, the
 * queue and the balance, who runs next (§4.3), blocking and deadlocks,
 * block_trap, switch_trap, closing. Exceptions over channels, kill/throw,
 * destruction and the channel callback are in test_channel_events.c. */
#include "channel_helpers.h"

#include <limits.h>

/* The current tasklet, borrowed (the caller keeps it alive). */
/* ---- Creation and the setters (§1.2, §8.2) ------------------------------- */

TEST(new_channel_defaults) {
    PyChannelObject *ch = PyChannel_New(NULL);
    CHECK(ch != NULL);
    CHECK_PTR(Py_TYPE(ch), &PyChannel_Type);
    CHECK(PyChannel_Check(ch));
    CHECK_INT(Py_REFCNT(ch), 1);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyChannel_GetPreference(ch), -1);
    CHECK_INT(PyChannel_GetScheduleAll(ch), 0);
    CHECK_INT(PyChannel_GetClosing(ch), 0);
    CHECK_INT(PyChannel_GetClosed(ch), 0);
    PyObject *q = PyChannel_GetQueue(ch);
    CHECK_PTR(q, Py_None);
    Py_DECREF(q);
    CHECK_NO_ERROR();
    Py_DECREF(ch);
    ch = PyChannel_New(&PyChannel_Type);
    CHECK(ch != NULL);
    CHECK_PTR(Py_TYPE(ch), &PyChannel_Type);
    Py_DECREF(ch);
}

TEST(new_channel_with_non_channel_type) {
    PyChannelObject *ch = PyChannel_New(&PyTasklet_Type);
    CHECK_PTR(ch, NULL);
    CHECK_ERROR(PyExc_TypeError, "channel_new: type must be subtype of channel");
    ch = PyChannel_New(&PyLong_Type);
    CHECK_PTR(ch, NULL);
    CHECK_ERROR(PyExc_TypeError, "channel_new: type must be subtype of channel");
    /* Not a type object at all: a bad call. */
    PyObject *objects[] = {PyLong_FromLong(5), PyTuple_New(0), Py_None};
    for (int i = 0; i < 3; i++) {
        CHECK_PTR(PyChannel_New((PyTypeObject *)objects[i]), NULL);
        CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    }
    Py_DECREF(objects[0]);
    Py_DECREF(objects[1]);
}

/* A C subtype of the channel type, subclassing by embedding. */
typedef struct {
    PyChannelObject base;
    long extra;
} SubChannel;

static PyTypeObject SubChannel_Type = {
    PyVarObject_HEAD_INIT(&PyType_Type, 0)
    .tp_name = "test.SubChannel",
    .tp_basicsize = sizeof(SubChannel),
    .tp_base = &PyChannel_Type,
};

TEST(channel_subtype_works_as_a_channel) {
    CHECK_INT(PyType_Ready(&SubChannel_Type), 0);
    PyChannelObject *ch = PyChannel_New(&SubChannel_Type);
    CHECK(ch != NULL);
    CHECK_PTR(Py_TYPE(ch), &SubChannel_Type);
    CHECK(PyChannel_Check(ch));
    ((SubChannel *)ch)->extra = 42;
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyChannel_GetPreference(ch), -1);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    PyObject *v = PyUnicode_FromString("through the subtype");
    CHECK_INT(PyChannel_Send(ch, v), 0);
    Py_DECREF(v);
    CHECK_TRACE("R received through the subtype");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(((SubChannel *)ch)->extra, 42);
    CHECK_INT(PyTasklet_Alive(r), 0);
    Py_DECREF(r);
    Py_DECREF(ch);
}

TEST(preference_setter_stores_the_sign) {
    PyChannelObject *ch = PyChannel_New(NULL);
    CHECK(ch != NULL);
    PyChannel_SetPreference(ch, 5);
    CHECK_INT(PyChannel_GetPreference(ch), 1);
    PyChannel_SetPreference(ch, 0);
    CHECK_INT(PyChannel_GetPreference(ch), 0);
    PyChannel_SetPreference(ch, -7);
    CHECK_INT(PyChannel_GetPreference(ch), -1);
    PyChannel_SetPreference(ch, INT_MAX);
    CHECK_INT(PyChannel_GetPreference(ch), 1);
    PyChannel_SetPreference(ch, INT_MIN);
    CHECK_INT(PyChannel_GetPreference(ch), -1);
    PyChannel_SetPreference(ch, 1);
    CHECK_INT(PyChannel_GetPreference(ch), 1);
    CHECK_NO_ERROR();
    Py_DECREF(ch);
}

TEST(schedule_all_setter_stores_a_flag) {
    PyChannelObject *ch = PyChannel_New(NULL);
    CHECK(ch != NULL);
    PyChannel_SetScheduleAll(ch, 2);
    CHECK_INT(PyChannel_GetScheduleAll(ch), 1);
    PyChannel_SetScheduleAll(ch, 0);
    CHECK_INT(PyChannel_GetScheduleAll(ch), 0);
    PyChannel_SetScheduleAll(ch, -1);
    CHECK_INT(PyChannel_GetScheduleAll(ch), 1);
    CHECK_INT(PyChannel_GetPreference(ch), -1);
    CHECK_NO_ERROR();
    Py_DECREF(ch);
}

/* ---- Bad input (§8 "Argument validation", a project decision) ------------ */

#define CHECK_BAD_CALL() CHECK_ERROR(PyExc_SystemError, "bad argument to internal function")

/* Every channel function with `bad` (NULL or not a channel) as the channel:
 * failure value and SystemError, getters 0, void setters do nothing. */
static void check_bad_channel(PyChannelObject *bad) {
    CHECK_INT(PyChannel_Send(bad, Py_None), -1);
    CHECK_BAD_CALL();
    CHECK_INT(PyChannel_Send_nr(bad, Py_None), -1);
    CHECK_BAD_CALL();
    CHECK_PTR(PyChannel_Receive(bad), NULL);
    CHECK_BAD_CALL();
    CHECK_PTR(PyChannel_Receive_nr(bad), NULL);
    CHECK_BAD_CALL();
    CHECK_INT(PyChannel_SendException(bad, PyExc_ValueError, NULL), -1);
    CHECK_BAD_CALL();
    CHECK_INT(PyChannel_SendThrow(bad, PyExc_ValueError, NULL, NULL), -1);
    CHECK_BAD_CALL();
    /* The channel is checked before the exception arguments. */
    CHECK_INT(PyChannel_SendException(bad, Py_None, NULL), -1);
    CHECK_BAD_CALL();
    CHECK_INT(PyChannel_SendThrow(bad, Py_None, NULL, Py_True), -1);
    CHECK_BAD_CALL();
    CHECK_PTR(PyChannel_GetQueue(bad), NULL);
    CHECK_BAD_CALL();
    PyChannel_Close(bad);
    PyChannel_Open(bad);
    PyChannel_SetPreference(bad, 1);
    PyChannel_SetScheduleAll(bad, 1);
    CHECK_NO_ERROR();
    CHECK_INT(PyChannel_GetClosing(bad), 0);
    CHECK_INT(PyChannel_GetClosed(bad), 0);
    CHECK_INT(PyChannel_GetPreference(bad), 0);
    CHECK_INT(PyChannel_GetScheduleAll(bad), 0);
    CHECK_INT(PyChannel_GetBalance(bad), 0);
    CHECK_NO_ERROR();
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

TEST(bad_channel_null) {
    check_bad_channel(NULL);
}

TEST(bad_channel_none) {
    check_bad_channel((PyChannelObject *)Py_None);
}

TEST(bad_channel_int) {
    PyObject *five = PyLong_FromLong(5);
    check_bad_channel((PyChannelObject *)five);
    CHECK_INT(PyLong_AsLong(five), 5);
    Py_DECREF(five);
}

TEST(bad_channel_tasklet) {
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    CHECK(t != NULL);
    check_bad_channel((PyChannelObject *)t);
    CHECK_INT(PyTasklet_Alive(t), 0);
    CHECK_INT(PyTasklet_Scheduled(t), 0);
    Py_DECREF(t);
}

TEST(send_null_value) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_Send(ch, NULL), -1);
    CHECK_BAD_CALL();
    CHECK_INT(PyChannel_Send_nr(ch, NULL), -1);
    CHECK_BAD_CALL();
    /* Nothing was delivered: the receiver still waits. */
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyTasklet_GetBlocked(r), -1);
    CHECK_TRACE("");
    CHECK_INT(PyChannel_Send(ch, Py_None), 0);
    CHECK_TRACE("R received None");
    Py_DECREF(r);
    Py_DECREF(ch);
}

/* ---- Blocking, the queue and the balance (§4.1) ------------------------- */

/* S01 blocking send */
TEST(s01_blocking_send) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *one = PyLong_FromLong(1);
    PyTaskletObject *t = make(b_send, "(sOO)", "T", ch, one);
    CHECK(t != NULL);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(PyTasklet_Scheduled(t), 1);
    CHECK_INT(PyTasklet_Paused(t), 0);
    CHECK_INT(PyTasklet_Alive(t), 1);
    CHECK_INT(PyTasklet_GetBlocked(t), 1);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    PyObject *q = PyChannel_GetQueue(ch);
    CHECK_PTR(q, t);
    Py_DECREF(q);
    PyObject *tv = PyTasklet_GetTempval(t);
    CHECK_PTR(tv, one);
    Py_DECREF(tv);
    CHECK_STR(ring_text(), "main");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyTasklet_Kill(t), 0);
    CHECK_TRACE("T TaskletExit");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_Alive(t), 0);
    Py_DECREF(t);
    Py_DECREF(one);
    Py_DECREF(ch);
}

/* S02 blocking receive */
TEST(s02_blocking_receive) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *t = make(b_recv, "(sO)", "T", ch);
    CHECK(t != NULL);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(PyTasklet_Scheduled(t), 1);
    CHECK_INT(PyTasklet_Paused(t), 0);
    CHECK_INT(PyTasklet_Alive(t), 1);
    CHECK_INT(PyTasklet_GetBlocked(t), -1);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_STR(queue_text(ch), "T");
    PyObject *tv = PyTasklet_GetTempval(t);
    CHECK_PTR(tv, Py_None);
    Py_DECREF(tv);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyTasklet_Kill(t), 0);
    CHECK_TRACE("T TaskletExit");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_GetBlocked(t), 0);
    Py_DECREF(t);
    Py_DECREF(ch);
}

TEST(blocked_senders_deliver_in_fifo_order) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *v[3] = {PyUnicode_FromString("first"), PyUnicode_FromString("second"),
                      PyUnicode_FromString("third")};
    /* Each blocks in turn; the queue keeps their order. */
    PyTaskletObject *s3 = make(b_send, "(sOO)", "S3", ch, v[2]);
    CHECK(s3 != NULL);
    CHECK_INT(PyTasklet_Run(s3), 0);
    PyTaskletObject *s1 = make(b_send, "(sOO)", "S1", ch, v[0]);
    CHECK(s1 != NULL);
    CHECK_INT(PyTasklet_Run(s1), 0);
    PyTaskletObject *s2 = make(b_send, "(sOO)", "S2", ch, v[1]);
    CHECK(s2 != NULL);
    CHECK_INT(PyTasklet_Run(s2), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 3);
    CHECK_STR(queue_text(ch), "S3 S1 S2");
    for (int i = 0; i < 3; i++) {
        PyObject *got = PyChannel_Receive(ch);
        CHECK_PTR(got, v[(i + 2) % 3]);
        Py_DECREF(got);
        CHECK_INT(PyChannel_GetBalance(ch), 2 - i);
    }
    CHECK_STR(queue_text(ch), "");
    CHECK_TRACE("");
    CHECK_STR(ring_text(), "main S3 S1 S2");
    CHECK_RUN_NONE();
    CHECK_TRACE("S3 sent S1 sent S2 sent");
    Py_DECREF(s1);
    Py_DECREF(s2);
    Py_DECREF(s3);
    for (int i = 0; i < 3; i++) {
        Py_DECREF(v[i]);
    }
    Py_DECREF(ch);
}

TEST(blocked_receivers_are_served_in_fifo_order) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r1 = make(b_recv, "(sO)", "R1", ch);
    PyTaskletObject *r2 = make(b_recv, "(sO)", "R2", ch);
    PyTaskletObject *r3 = make(b_recv, "(sO)", "R3", ch);
    CHECK(r1 && r2 && r3);
    CHECK_RUN_NONE();
    CHECK_INT(PyChannel_GetBalance(ch), -3);
    CHECK_STR(queue_text(ch), "R1 R2 R3");
    PyObject *head = PyChannel_GetQueue(ch);
    CHECK_PTR(head, r1);
    Py_DECREF(head);
    const char *words[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        PyObject *w = PyUnicode_FromString(words[i]);
        CHECK_INT(PyChannel_Send(ch, w), 0);
        Py_DECREF(w);
        CHECK_INT(PyChannel_GetBalance(ch), i - 2);
    }
    CHECK_TRACE("R1 received a R2 received b R3 received c");
    Py_DECREF(r1);
    Py_DECREF(r2);
    Py_DECREF(r3);
    Py_DECREF(ch);
}

static PyObject *kept;

/* (name, ch): receives once and keeps the received object in `kept`. */
static PyObject *b_recv_keep(PyObject *self, PyObject *args) {
    (void)self;
    kept = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (kept == NULL) {
        return trace_failure(arg_str(args, 0));
    }
    Py_RETURN_NONE;
}

/* The values of the identity tests: one of each kind (new references). */
static int identity_values(PyObject **v) {
    v[0] = PyLong_FromLong(123456);
    v[1] = PyUnicode_FromString("text");
    v[2] = Py_BuildValue("(ii)", 1, 2);
    v[3] = PyDict_New();
    v[4] = (Py_INCREF(Py_None), Py_None);
    v[5] = (PyObject *)PyTasklet_New(NULL, NULL);
    v[6] = (PyObject *)PyChannel_New(NULL);
    v[7] = PyFloat_FromDouble(2.5);
    v[8] = PyBytes_FromStringAndSize("ab", 2);
    for (int i = 0; i < 9; i++) {
        if (v[i] == NULL) {
            return 0;
        }
    }
    return 9;
}

TEST(receiver_gets_the_very_object_sent) {
    PyObject *v[9];
    int n = identity_values(v);
    CHECK_INT(n, 9);
    PyChannelObject *ch = PyChannel_New(NULL);
    for (int i = 0; i < n; i++) {
        PyTaskletObject *r = make(b_recv_keep, "(sO)", "R", ch);
        CHECK(r != NULL);
        CHECK_INT(PyTasklet_Run(r), 0);
        Py_ssize_t before = Py_REFCNT(v[i]);
        CHECK_INT(PyChannel_Send(ch, v[i]), 0);
        CHECK_PTR(kept, v[i]);
        /* The receiver owns one new reference (None is immortal). */
        if (v[i] != Py_None) {
            CHECK_INT(Py_REFCNT(v[i]), before + 1);
        }
        Py_CLEAR(kept);
        CHECK_INT(PyTasklet_Alive(r), 0);
        Py_DECREF(r);
    }
    for (int i = 0; i < n; i++) {
        Py_DECREF(v[i]);
    }
    Py_DECREF(ch);
}

TEST(waiting_senders_deliver_the_very_objects_in_order) {
    PyObject *v[9];
    int n = identity_values(v);
    CHECK_INT(n, 9);
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *s[9];
    for (int i = 0; i < n; i++) {
        s[i] = make(b_send, "(sOO)", "S", ch, v[i]);
        CHECK(s[i] != NULL);
    }
    CHECK_RUN_NONE();
    CHECK_INT(PyChannel_GetBalance(ch), 9);
    for (int i = 0; i < n; i++) {
        PyObject *got = PyChannel_Receive(ch);
        CHECK_PTR(got, v[i]);
        Py_DECREF(got);
    }
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent S sent S sent S sent S sent S sent S sent S sent S sent");
    for (int i = 0; i < n; i++) {
        Py_DECREF(s[i]);
        Py_DECREF(v[i]);
    }
    Py_DECREF(ch);
}

TEST(runtime_holds_a_reference_until_delivery) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *d = PyDict_New();
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, d);
    CHECK(s != NULL);
    CHECK_INT(Py_REFCNT(d), 2); /* ours and the argument tuple's */
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(Py_REFCNT(d), 3); /* plus the blocked sender's */
    PyObject *got = PyChannel_Receive(ch);
    CHECK_PTR(got, d);
    CHECK_INT(Py_REFCNT(d), 3); /* the sender's reference moved to us */
    Py_DECREF(got);
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent");
    CHECK_INT(Py_REFCNT(d), 1);
    Py_DECREF(s);
    Py_DECREF(d);
    Py_DECREF(ch);
}

TEST(nr_variants_return_zero_and_the_value) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *x = PyUnicode_FromString("x");
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_Send_nr(ch, x), 0);
    CHECK_TRACE("R received x");
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, x);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    PyObject *got = PyChannel_Receive_nr(ch);
    CHECK_PTR(got, x);
    Py_DECREF(got);
    CHECK_RUN_NONE();
    CHECK_TRACE("R received x S sent");
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(x);
    Py_DECREF(ch);
}

/* ---- block_trap (§4.2 step 4) --------------------------------------------- */

/* S03 non-blocking send with block_trap */
TEST(s03_non_blocking_send_with_block_trap) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_TRACE("");
    PyTasklet_SetBlockTrap(current(), 1);
    PyObject *one = PyLong_FromLong(1);
    CHECK_INT(PyChannel_Send(ch, one), 0);
    Py_DECREF(one);
    CHECK_TRACE("R received 1");
    PyTasklet_SetBlockTrap(current(), 0);
    CHECK_INT(PyTasklet_Alive(r), 0);
    Py_DECREF(r);
    Py_DECREF(ch);
}

/* S04 non-blocking receive with block_trap */
TEST(s04_non_blocking_receive_with_block_trap) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *one = PyLong_FromLong(1);
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, one);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    PyTasklet_SetBlockTrap(current(), 1);
    PyObject *got = PyChannel_Receive(ch);
    PyTasklet_SetBlockTrap(current(), 0);
    CHECK_PTR(got, one);
    Py_DECREF(got);
    /* No switch: the sender is runnable, its send has not returned. */
    CHECK_TRACE("");
    CHECK_INT(PyTasklet_GetBlocked(s), 0);
    CHECK_INT(PyTasklet_Scheduled(s), 1);
    CHECK_INT(PyTasklet_Alive(s), 1);
    CHECK_STR(ring_text(), "main S");
    CHECK_INT(PyTasklet_Kill(s), 0);
    CHECK_TRACE("S TaskletExit");
    CHECK_INT(PyTasklet_Alive(s), 0);
    Py_DECREF(s);
    Py_DECREF(one);
    Py_DECREF(ch);
}

#define BLOCK_TRAP_TEXT "this tasklet does not like to be blocked."

/* (name, ch): with its own block_trap set, tries to send and to receive. */
static PyObject *b_block_trapped(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    PyChannelObject *ch = (PyChannelObject *)PyTuple_GetItem(args, 1);
    PyObject *me = PyStackless_GetCurrent();
    PyTasklet_SetBlockTrap((PyTaskletObject *)me, 1);
    Py_DECREF(me);
    int rc = PyChannel_Send(ch, Py_None);
    trace("%s send %d %s", name, rc, take_exc_repr());
    PyObject *v = PyChannel_Receive(ch);
    trace("%s receive %s %s", name, v ? "value" : "NULL", take_exc_repr());
    Py_XDECREF(v);
    trace("%s balance %d", name, PyChannel_GetBalance(ch));
    Py_RETURN_NONE;
}

/* S08 block_trap */
TEST(s08_block_trap_in_main_and_in_a_tasklet) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *main_t = current();
    CHECK_INT(PyTasklet_GetBlockTrap(main_t), 0);
    PyTasklet_SetBlockTrap(main_t, 7);
    CHECK_INT(PyTasklet_GetBlockTrap(main_t), 1);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, BLOCK_TRAP_TEXT);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, BLOCK_TRAP_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    PyTasklet_SetBlockTrap(main_t, 0);
    CHECK_INT(PyTasklet_GetBlockTrap(main_t), 0);
    CHECK_STR(ring_text(), "main");
    PyTaskletObject *t = make(b_block_trapped, "(sO)", "T", ch);
    CHECK(t != NULL);
    CHECK_INT(PyTasklet_GetBlockTrap(t), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("T send -1 RuntimeError('" BLOCK_TRAP_TEXT "') "
                "T receive NULL RuntimeError('" BLOCK_TRAP_TEXT "') T balance 0");
    /* Death leaves the flag as it was (§2.6). */
    CHECK_INT(PyTasklet_Alive(t), 0);
    CHECK_INT(PyTasklet_GetBlockTrap(t), 1);
    Py_DECREF(t);
    Py_DECREF(ch);
}

TEST(block_trap_allows_a_send_that_switches_to_the_receiver) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK(x != NULL);
    PyTasklet_SetBlockTrap(current(), 1);
    PyObject *v = PyUnicode_FromString("v");
    CHECK_INT(PyChannel_Send(ch, v), 0);
    Py_DECREF(v);
    PyTasklet_SetBlockTrap(current(), 0);
    CHECK_TRACE("R received v X runs");
    Py_DECREF(r);
    Py_DECREF(x);
    Py_DECREF(ch);
}

/* ---- Closing (§4.5) -------------------------------------------------------- */

/* S09 (a) closing/closed, without iteration */
TEST(s09a_closed_channel_refuses_to_block) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyChannel_Close(ch);
    CHECK_INT(PyChannel_GetClosing(ch), 1);
    CHECK_INT(PyChannel_GetClosed(ch), 1);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_ValueError, CLOSED_TEXT);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_ValueError, CLOSED_TEXT);
    CHECK_INT(PyChannel_SendException(ch, PyExc_KeyError, NULL), -1);
    CHECK_ERROR(PyExc_ValueError, CLOSED_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    /* block_trap is checked first. */
    PyTasklet_SetBlockTrap(current(), 1);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, BLOCK_TRAP_TEXT);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, BLOCK_TRAP_TEXT);
    PyTasklet_SetBlockTrap(current(), 0);
    CHECK_STR(ring_text(), "main");
    Py_DECREF(ch);
}

/* S09 (b) closing drains the waiting senders, without iteration */
TEST(s09b_closing_channel_drains_senders) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *one = PyLong_FromLong(1), *two = PyLong_FromLong(2);
    PyTaskletObject *t1 = make(b_send, "(sOO)", "t1", ch, one);
    PyTaskletObject *t2 = make(b_send, "(sOO)", "t2", ch, two);
    CHECK(t1 && t2);
    PyChannel_Close(ch);
    PyChannel_Open(ch);
    CHECK_INT(PyChannel_GetClosing(ch), 0);
    CHECK_RUN_NONE();
    PyChannel_Close(ch);
    CHECK_INT(PyChannel_GetClosing(ch), 1);
    CHECK_INT(PyChannel_GetClosed(ch), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 2);
    PyObject *got = PyChannel_Receive(ch);
    CHECK_PTR(got, one);
    Py_DECREF(got);
    CHECK_INT(PyChannel_GetClosed(ch), 0);
    got = PyChannel_Receive(ch);
    CHECK_PTR(got, two);
    Py_DECREF(got);
    CHECK_INT(PyChannel_GetClosed(ch), 1);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_ValueError, CLOSED_TEXT);
    CHECK_TRACE("");
    CHECK_RUN_NONE();
    CHECK_TRACE("t1 sent t2 sent");
    Py_DECREF(t1);
    Py_DECREF(t2);
    Py_DECREF(one);
    Py_DECREF(two);
    Py_DECREF(ch);
}

TEST(close_wakes_nobody_and_a_waiting_receiver_is_still_served) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    PyChannel_Close(ch);
    CHECK_INT(PyChannel_GetClosing(ch), 1);
    CHECK_INT(PyChannel_GetClosed(ch), 0);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyTasklet_GetBlocked(r), -1);
    CHECK_STR(queue_text(ch), "R");
    CHECK_STR(ring_text(), "main");
    CHECK_TRACE("");
    PyObject *x = PyUnicode_FromString("x");
    CHECK_INT(PyChannel_Send(ch, x), 0);
    CHECK_TRACE("R received x");
    CHECK_INT(PyChannel_GetClosed(ch), 1);
    CHECK_INT(PyChannel_Send(ch, x), -1);
    CHECK_ERROR(PyExc_ValueError, CLOSED_TEXT);
    Py_DECREF(x);
    Py_DECREF(r);
    Py_DECREF(ch);
}

TEST(open_after_close_allows_blocking_again) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyChannel_Close(ch);
    PyChannel_Open(ch);
    CHECK_INT(PyChannel_GetClosing(ch), 0);
    CHECK_INT(PyChannel_GetClosed(ch), 0);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyChannel_Send(ch, Py_True), 0);
    CHECK_TRACE("R received True");
    Py_DECREF(r);
    Py_DECREF(ch);
}

/* ---- Who runs next (§4.3) -------------------------------------------------- */

/* S11 preference / schedule_all matrix: ring [main, X], partner P blocked;
 * main sends or receives, traces "main returned", runs the rest. */
static void matrix_case(int send, int preference, int schedule_all, const char *ring_after,
                        const char *expected) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *val = PyUnicode_FromString("val");
    PyChannel_SetPreference(ch, preference);
    PyChannel_SetScheduleAll(ch, schedule_all);
    PyTaskletObject *p = send ? make(b_recv, "(sO)", "P", ch) : make(b_send, "(sOO)", "P", ch, val);
    CHECK(p != NULL);
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_INT(PyChannel_GetBalance(ch), send ? -1 : 1);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK(x != NULL);
    CHECK_STR(ring_text(), "main X");
    if (send) {
        CHECK_INT(PyChannel_Send(ch, val), 0);
        trace("main returned");
    } else {
        PyObject *got = PyChannel_Receive(ch);
        CHECK_PTR(got, val);
        trace("main returned %s", PyUnicode_AsUTF8(got));
        Py_DECREF(got);
    }
    CHECK_STR(ring_text(), ring_after);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_RUN_NONE();
    trace("end");
    CHECK_TRACE(expected);
    CHECK_INT(PyTasklet_Alive(p), 0);
    CHECK_INT(PyTasklet_Alive(x), 0);
    Py_DECREF(p);
    Py_DECREF(x);
    Py_DECREF(val);
    Py_DECREF(ch);
}

/* S11 send, preference -1, schedule_all 0 */
TEST(s11_send_pref_receiver) {
    matrix_case(1, -1, 0, "main", "P received val X runs main returned end");
}
/* S11 send, preference 0, schedule_all 0 */
TEST(s11_send_pref_none) {
    matrix_case(1, 0, 0, "main X P", "main returned X runs P received val end");
}
/* S11 send, preference +1, schedule_all 0 */
TEST(s11_send_pref_sender) {
    matrix_case(1, 1, 0, "main X P", "main returned X runs P received val end");
}
/* S11 receive, preference -1, schedule_all 0 */
TEST(s11_receive_pref_receiver) {
    matrix_case(0, -1, 0, "main X P", "main returned val X runs P sent end");
}
/* S11 receive, preference 0, schedule_all 0 */
TEST(s11_receive_pref_none) {
    matrix_case(0, 0, 0, "main X P", "main returned val X runs P sent end");
}
/* S11 receive, preference +1, schedule_all 0 */
TEST(s11_receive_pref_sender) {
    matrix_case(0, 1, 0, "main", "P sent X runs main returned val end");
}
/* S11 send, preference -1, schedule_all 1 */
TEST(s11_send_pref_receiver_schedule_all) {
    matrix_case(1, -1, 1, "main", "X runs P received val main returned end");
}
/* S11 send, preference 0, schedule_all 1 */
TEST(s11_send_pref_none_schedule_all) {
    matrix_case(1, 0, 1, "main", "X runs P received val main returned end");
}
/* S11 send, preference +1, schedule_all 1 */
TEST(s11_send_pref_sender_schedule_all) {
    matrix_case(1, 1, 1, "main", "X runs P received val main returned end");
}
/* S11 receive, preference -1, schedule_all 1 */
TEST(s11_receive_pref_receiver_schedule_all) {
    matrix_case(0, -1, 1, "main", "X runs P sent main returned val end");
}
/* S11 receive, preference 0, schedule_all 1 */
TEST(s11_receive_pref_none_schedule_all) {
    matrix_case(0, 0, 1, "main", "X runs P sent main returned val end");
}
/* S11 receive, preference +1, schedule_all 1 */
TEST(s11_receive_pref_sender_schedule_all) {
    matrix_case(0, 1, 1, "main", "X runs P sent main returned val end");
}

TEST(preferred_partner_runs_before_the_rest_of_the_ring) {
    /* Ring [main, X, Y]: the preferred receiver is linked right after main,
     * and main goes behind everybody. */
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *p = make(b_recv, "(sO)", "P", ch);
    CHECK(p != NULL);
    CHECK_INT(PyTasklet_Run(p), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X"), *y = make(b_log, "(s)", "Y");
    CHECK(x && y);
    CHECK_INT(PyChannel_Send(ch, Py_False), 0);
    CHECK_TRACE("P received False X runs Y runs");
    CHECK_STR(ring_text(), "main");
    Py_DECREF(p);
    Py_DECREF(x);
    Py_DECREF(y);
    Py_DECREF(ch);
}

TEST(schedule_all_with_the_caller_alone_switches_to_the_partner) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyChannel_SetScheduleAll(ch, 1);
    PyChannel_SetPreference(ch, 1);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_STR(ring_text(), "main");
    CHECK_INT(PyChannel_Send(ch, Py_True), 0);
    CHECK_TRACE("R received True");
    CHECK_INT(PyTasklet_Alive(r), 0);
    CHECK_STR(ring_text(), "main");
    Py_DECREF(r);
    Py_DECREF(ch);
}

TEST(blocking_switches_to_the_ring_successor) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *v = PyUnicode_FromString("v");
    PyTaskletObject *a = make(b_log, "(s)", "A");
    PyTaskletObject *b = make(b_send, "(sOO)", "B", ch, v);
    CHECK(a && b);
    CHECK_STR(ring_text(), "main A B");
    PyObject *got = PyChannel_Receive(ch);
    CHECK_PTR(got, v);
    Py_DECREF(got);
    /* A ran, then B's send found main waiting and main, the receiver, was
     * preferred: B has not returned from its send yet. */
    CHECK_TRACE("A runs");
    CHECK_STR(ring_text(), "main B");
    CHECK_RUN_NONE();
    CHECK_TRACE("A runs B sent");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(v);
    Py_DECREF(ch);
}

/* ---- Deadlocks (§4.4) ------------------------------------------------------ */

#define DEADLOCK_TEXT "Deadlock: the last runnable tasklet cannot be blocked."

/* S05 last runnable cannot block */
TEST(s05_main_alone_cannot_block) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *main_t = current();
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, DEADLOCK_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, DEADLOCK_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_IsCurrent(main_t), 1);
    CHECK_INT(PyTasklet_Scheduled(main_t), 1);
    CHECK_INT(PyTasklet_GetBlocked(main_t), 0);
    CHECK_STR(ring_text(), "main");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    Py_DECREF(ch);
}

/* S05 with a receiver already queued: the balance is unchanged */
TEST(s05_deadlock_leaves_the_queue_unchanged) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, DEADLOCK_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_STR(queue_text(ch), "R");
    CHECK_STR(ring_text(), "main");
    CHECK_INT(PyTasklet_GetBlocked(current()), 0);
    PyObject *bye = PyUnicode_FromString("bye");
    CHECK_INT(PyChannel_Send(ch, bye), 0);
    Py_DECREF(bye);
    CHECK_TRACE("R received bye");
    Py_DECREF(r);
    Py_DECREF(ch);
}

/* S05 from outside: the temporary main blocks alone (§7.2) */
TEST(s05_outside_blocking_alone_deadlocks) {
    PyChannelObject *ch = PyChannel_New(NULL);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, DEADLOCK_TEXT);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, DEADLOCK_TEXT);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_PTR(PyStackless_GetCurrent(), NULL);
    CHECK_NO_ERROR();
    Py_DECREF(ch);
}

static PyObject *b_noop(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Py_RETURN_NONE;
}

/* S40 (a) main receiving, the last other tasklet ends */
TEST(s40a_main_receiving_without_a_sender) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *n = make(b_noop, "(s)", "N");
    CHECK(n != NULL);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, "the main tasklet is receiving without a sender available.");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_Alive(n), 0);
    CHECK_STR(ring_text(), "main");
    Py_DECREF(n);
    Py_DECREF(ch);
}

/* S40 (b) main sending, the last other tasklet ends */
TEST(s40b_main_sending_without_a_receiver) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *n = make(b_noop, "(s)", "N");
    CHECK(n != NULL);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, "the main tasklet is sending without a receiver available.");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_STR(queue_text(ch), "");
    CHECK_STR(ring_text(), "main");
    Py_DECREF(n);
    Py_DECREF(ch);
}

/* (name, text): raises ZeroDivisionError(text). */
static PyObject *b_raise(PyObject *self, PyObject *args) {
    (void)self;
    trace("%s raises", arg_str(args, 0));
    PyErr_SetString(PyExc_ZeroDivisionError, arg_str(args, 1));
    return NULL;
}

/* S40 (c) main blocked, a tasklet dies with an uncaught exception */
TEST(s40c_blocked_main_gets_an_uncaught_exception) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *e = make(b_raise, "(ss)", "E", "mumbai");
    CHECK(e != NULL);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_ZeroDivisionError, "mumbai");
    CHECK_TRACE("E raises");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_STR(ring_text(), "main");
    Py_DECREF(e);
    Py_DECREF(ch);
}

/* (name, fresh, mc): a receive on `fresh` while main is blocked is a
 * deadlock; caught, then None is sent on mc. */
static PyObject *b_deadlock_then_send(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v != NULL) {
        Py_DECREF(v);
        trace("%s received", name);
        Py_RETURN_NONE;
    }
    trace("%s caught %s", name, take_exc_repr());
    if (PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 2), Py_None) < 0) {
        return trace_failure(name);
    }
    trace("%s sent", name);
    Py_RETURN_NONE;
}

/* S40 (d) a tasklet blocking while main is blocked gets the Deadlock error */
TEST(s40d_tasklet_blocking_while_main_is_blocked) {
    PyChannelObject *fresh = PyChannel_New(NULL), *mc = PyChannel_New(NULL);
    PyTaskletObject *t = make(b_deadlock_then_send, "(sOO)", "T", fresh, mc);
    CHECK(t != NULL);
    PyObject *got = PyChannel_Receive(mc);
    CHECK_PTR(got, Py_None);
    Py_DECREF(got);
    CHECK_TRACE("T caught RuntimeError('" DEADLOCK_TEXT "')");
    CHECK_INT(PyChannel_GetBalance(fresh), 0);
    CHECK_STR(ring_text(), "main T");
    CHECK_RUN_NONE();
    CHECK_TRACE("T caught RuntimeError('" DEADLOCK_TEXT "') T sent");
    Py_DECREF(t);
    Py_DECREF(fresh);
    Py_DECREF(mc);
}

/* S40 (e) the same, uncaught: the Deadlock error reaches main */
TEST(s40e_uncaught_deadlock_reaches_blocked_main) {
    PyChannelObject *fresh = PyChannel_New(NULL), *mc = PyChannel_New(NULL);
    PyTaskletObject *t = make(b_recv, "(sO)", "T", fresh);
    CHECK(t != NULL);
    CHECK_PTR(PyChannel_Receive(mc), NULL);
    CHECK_ERROR(PyExc_RuntimeError, DEADLOCK_TEXT);
    CHECK_TRACE("T RuntimeError");
    CHECK_INT(PyTasklet_Alive(t), 0);
    CHECK_INT(PyChannel_GetBalance(fresh), 0);
    CHECK_INT(PyChannel_GetBalance(mc), 0);
    Py_DECREF(t);
    Py_DECREF(fresh);
    Py_DECREF(mc);
}

/* (name): schedules once, traces "<name> done". */
static PyObject *b_schedule_once(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return trace_failure(arg_str(args, 0));
    }
    Py_DECREF(r);
    trace("%s done", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* S40 (f) run() gets the uncaught exception; the rest stays runnable */
TEST(s40f_run_gets_the_uncaught_exception) {
    PyTaskletObject *t1 = make(b_schedule_once, "(s)", "t1");
    PyTaskletObject *t2 = make(b_raise, "(ss)", "t2", "bar");
    CHECK(t1 && t2);
    PyObject *r = PyStackless_RunWatchdog(0);
    CHECK_PTR(r, NULL);
    CHECK_ERROR(PyExc_ZeroDivisionError, "bar");
    CHECK_TRACE("t2 raises");
    CHECK_STR(ring_text(), "main t1");
    CHECK_RUN_NONE();
    CHECK_TRACE("t2 raises t1 done");
    Py_DECREF(t1);
    Py_DECREF(t2);
}

TEST(tasklet_blocking_while_main_is_in_run) {
    /* §4.4: run() returns; the blocked tasklet stays blocked. */
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_RUN_NONE();
    CHECK_TRACE("");
    CHECK_INT(PyTasklet_GetBlocked(r), -1);
    CHECK_INT(PyTasklet_Scheduled(r), 1);
    CHECK_INT(PyTasklet_Paused(r), 0);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_STR(ring_text(), "main");
    PyObject *late = PyUnicode_FromString("late");
    CHECK_INT(PyChannel_Send(ch, late), 0);
    Py_DECREF(late);
    CHECK_TRACE("R received late");
    Py_DECREF(r);
    Py_DECREF(ch);
}

/* ---- switch_trap (§4.2, §5.8) ---------------------------------------------- */

TEST(switch_trap_refuses_operations_that_would_block) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK(x != NULL);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyChannel_SendException(ch, PyExc_ValueError, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyChannel_SendThrow(ch, PyExc_ValueError, NULL, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_STR(ring_text(), "main X");
    CHECK_TRACE("");
    CHECK_INT(PyTasklet_GetBlocked(current()), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("X runs");
    Py_DECREF(x);
    Py_DECREF(ch);
}

TEST(switch_trap_allows_a_rendezvous_without_a_switch) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *v = PyUnicode_FromString("v");
    /* Receive from a waiting sender with preference -1: main continues. */
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, v);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    PyObject *got = PyChannel_Receive(ch);
    CHECK_PTR(got, v);
    Py_DECREF(got);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_STR(ring_text(), "main S");
    /* Send to a waiting receiver with preference +1: main continues. */
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent");
    PyChannel_SetPreference(ch, 1);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyChannel_Send(ch, v), 0);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_TRACE("S sent");
    CHECK_STR(ring_text(), "main R");
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent R received v");
    Py_DECREF(s);
    Py_DECREF(r);
    Py_DECREF(v);
    Py_DECREF(ch);
}

TEST(switch_trap_allows_preference_zero_both_ways) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyChannel_SetPreference(ch, 0);
    PyObject *v = PyUnicode_FromString("v");
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, v);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    PyObject *got = PyChannel_Receive(ch);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_PTR(got, v);
    Py_DECREF(got);
    CHECK_STR(ring_text(), "main R S");
    CHECK_INT(PyTasklet_Run(r), 0);
    /* R blocked; S, after it in the ring, ran and finished. */
    CHECK_TRACE("S sent");
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyChannel_Send(ch, v), 0);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_TRACE("S sent");
    CHECK_STR(ring_text(), "main R");
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent R received v");
    Py_DECREF(s);
    Py_DECREF(r);
    Py_DECREF(v);
    Py_DECREF(ch);
}

TEST(switch_trap_refuses_kill_and_raise_on_a_blocked_tasklet) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r1 = make(b_recv, "(sO)", "R1", ch);
    PyTaskletObject *r2 = make(b_recv, "(sO)", "R2", ch);
    CHECK(r1 && r2);
    CHECK_RUN_NONE();
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyTasklet_Kill(r1), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyTasklet_RaiseException(r2, PyExc_ValueError, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_STR(queue_text(ch), "R1 R2");
    CHECK_INT(PyChannel_GetBalance(ch), -2);
    CHECK_INT(PyTasklet_GetBlocked(r1), -1);
    PyObject *tv = PyTasklet_GetTempval(r1);
    CHECK_PTR(tv, Py_None);
    Py_DECREF(tv);
    CHECK_STR(ring_text(), "main");
    CHECK_TRACE("");
    CHECK_INT(PyChannel_Send(ch, Py_True), 0);
    CHECK_INT(PyChannel_Send(ch, Py_False), 0);
    CHECK_TRACE("R1 received True R2 received False");
    Py_DECREF(r1);
    Py_DECREF(r2);
    Py_DECREF(ch);
}

TEST(switch_trap_failed_rendezvous_restores_the_queue) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r1 = make(b_recv, "(sO)", "R1", ch);
    PyTaskletObject *r2 = make(b_recv, "(sO)", "R2", ch);
    CHECK(r1 && r2);
    CHECK_RUN_NONE();
    PyObject *x = PyUnicode_FromString("x");
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    /* Preference -1: the receiver would run at once. */
    CHECK_INT(PyChannel_Send(ch, x), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    /* schedule_all: a switch to the ring successor. */
    PyChannel_SetScheduleAll(ch, 1);
    CHECK_INT(PyChannel_Send(ch, x), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    PyChannel_SetScheduleAll(ch, 0);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_INT(PyChannel_GetBalance(ch), -2);
    CHECK_STR(queue_text(ch), "R1 R2");
    CHECK_INT(PyTasklet_GetBlocked(r1), -1);
    PyObject *tv = PyTasklet_GetTempval(r1);
    CHECK_PTR(tv, Py_None);
    Py_DECREF(tv);
    CHECK_INT(Py_REFCNT(x), 1);
    CHECK_STR(ring_text(), "main");
    CHECK_TRACE("");
    PyObject *a = PyUnicode_FromString("a"), *b = PyUnicode_FromString("b");
    CHECK_INT(PyChannel_Send(ch, a), 0);
    CHECK_INT(PyChannel_Send(ch, b), 0);
    CHECK_TRACE("R1 received a R2 received b");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(x);
    Py_DECREF(r1);
    Py_DECREF(r2);
    Py_DECREF(ch);
}

TEST(switch_trap_failed_receive_keeps_the_sender_at_the_head) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *one = PyLong_FromLong(1), *two = PyLong_FromLong(2);
    PyTaskletObject *s1 = make(b_send, "(sOO)", "S1", ch, one);
    PyTaskletObject *s2 = make(b_send, "(sOO)", "S2", ch, two);
    CHECK(s1 && s2);
    CHECK_RUN_NONE();
    PyChannel_SetPreference(ch, 1);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_STR(queue_text(ch), "S1 S2");
    CHECK_INT(PyChannel_GetBalance(ch), 2);
    PyObject *tv = PyTasklet_GetTempval(s1);
    CHECK_PTR(tv, one);
    Py_DECREF(tv);
    PyObject *got = PyChannel_Receive(ch);
    CHECK_PTR(got, one);
    Py_DECREF(got);
    CHECK_TRACE("S1 sent");
    PyChannel_SetPreference(ch, -1);
    got = PyChannel_Receive(ch);
    CHECK_PTR(got, two);
    Py_DECREF(got);
    CHECK_RUN_NONE();
    CHECK_TRACE("S1 sent S2 sent");
    Py_DECREF(s1);
    Py_DECREF(s2);
    Py_DECREF(one);
    Py_DECREF(two);
    Py_DECREF(ch);
}

TEST(closing_is_checked_before_the_switch_trap) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK(x != NULL);
    PyChannel_Close(ch);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_ValueError, CLOSED_TEXT);
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    CHECK_RUN_NONE();
    CHECK_TRACE("X runs");
    Py_DECREF(x);
    Py_DECREF(ch);
}

/* ---- From outside (§7.2, §10 source bugs 11 and 12) ----------------------- */

TEST(outside_send_returns_zero) {
    trace_reset();
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    PyObject *x = PyUnicode_FromString("x");
    CHECK_INT(PyChannel_Send(ch, x), 0);
    CHECK_NO_ERROR();
    Py_DECREF(x);
    CHECK_TRACE("R received x");
    CHECK_INT(PyTasklet_Alive(r), 0);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_PTR(PyStackless_GetCurrent(), NULL);
    Py_DECREF(r);
    Py_DECREF(ch);
}

TEST(outside_receive_returns_the_value) {
    trace_reset();
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *y = PyUnicode_FromString("y");
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, y);
    CHECK(s != NULL);
    PyObject *got = PyChannel_Receive(ch);
    CHECK_PTR(got, y);
    Py_DECREF(got);
    /* The temporary main was preferred; the sender is left runnable. */
    CHECK_TRACE("");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyTasklet_Scheduled(s), 1);
    CHECK_INT(PyTasklet_GetBlocked(s), 0);
    PyObject *r = PyStackless_RunWatchdog(0);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    CHECK_TRACE("S sent");
    CHECK_INT(PyStackless_GetRunCount(), 0);
    Py_DECREF(s);
    Py_DECREF(y);
    Py_DECREF(ch);
}

TEST(outside_send_exception_uses_the_tuple_as_arguments) {
    trace_reset();
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv_catch, "(sO)", "R", ch);
    CHECK(r != NULL);
    PyObject *empty = PyTuple_New(0);
    CHECK_INT(PyChannel_SendException(ch, PyExc_ValueError, empty), 0);
    Py_DECREF(empty);
    CHECK_TRACE("R caught ValueError()");
    Py_DECREF(r);
    r = make(b_recv_catch, "(sO)", "R", ch);
    CHECK(r != NULL);
    PyObject *one = Py_BuildValue("(s)", "one");
    CHECK_INT(PyChannel_SendException(ch, PyExc_ValueError, one), 0);
    Py_DECREF(one);
    CHECK_TRACE("R caught ValueError() R caught ValueError('one')");
    CHECK_INT(PyStackless_GetRunCount(), 0);
    Py_DECREF(r);
    Py_DECREF(ch);
}

int main(void) {
    RUN_INSIDE(new_channel_defaults);
    RUN(new_channel_with_non_channel_type);
    RUN_INSIDE(channel_subtype_works_as_a_channel);
    RUN_INSIDE(preference_setter_stores_the_sign);
    RUN_INSIDE(schedule_all_setter_stores_a_flag);
    RUN_INSIDE(bad_channel_null);
    RUN_INSIDE(bad_channel_none);
    RUN_INSIDE(bad_channel_int);
    RUN_INSIDE(bad_channel_tasklet);
    RUN_INSIDE(send_null_value);
    RUN_INSIDE(s01_blocking_send);
    RUN_INSIDE(s02_blocking_receive);
    RUN_INSIDE(blocked_senders_deliver_in_fifo_order);
    RUN_INSIDE(blocked_receivers_are_served_in_fifo_order);
    RUN_INSIDE(receiver_gets_the_very_object_sent);
    RUN_INSIDE(waiting_senders_deliver_the_very_objects_in_order);
    RUN_INSIDE(runtime_holds_a_reference_until_delivery);
    RUN_INSIDE(nr_variants_return_zero_and_the_value);
    RUN_INSIDE(s03_non_blocking_send_with_block_trap);
    RUN_INSIDE(s04_non_blocking_receive_with_block_trap);
    RUN_INSIDE(s08_block_trap_in_main_and_in_a_tasklet);
    RUN_INSIDE(block_trap_allows_a_send_that_switches_to_the_receiver);
    RUN_INSIDE(s09a_closed_channel_refuses_to_block);
    RUN_INSIDE(s09b_closing_channel_drains_senders);
    RUN_INSIDE(close_wakes_nobody_and_a_waiting_receiver_is_still_served);
    RUN_INSIDE(open_after_close_allows_blocking_again);
    RUN_INSIDE(s11_send_pref_receiver);
    RUN_INSIDE(s11_send_pref_none);
    RUN_INSIDE(s11_send_pref_sender);
    RUN_INSIDE(s11_receive_pref_receiver);
    RUN_INSIDE(s11_receive_pref_none);
    RUN_INSIDE(s11_receive_pref_sender);
    RUN_INSIDE(s11_send_pref_receiver_schedule_all);
    RUN_INSIDE(s11_send_pref_none_schedule_all);
    RUN_INSIDE(s11_send_pref_sender_schedule_all);
    RUN_INSIDE(s11_receive_pref_receiver_schedule_all);
    RUN_INSIDE(s11_receive_pref_none_schedule_all);
    RUN_INSIDE(s11_receive_pref_sender_schedule_all);
    RUN_INSIDE(preferred_partner_runs_before_the_rest_of_the_ring);
    RUN_INSIDE(schedule_all_with_the_caller_alone_switches_to_the_partner);
    RUN_INSIDE(blocking_switches_to_the_ring_successor);
    RUN_INSIDE(s05_main_alone_cannot_block);
    RUN_INSIDE(s05_deadlock_leaves_the_queue_unchanged);
    RUN(s05_outside_blocking_alone_deadlocks);
    RUN_INSIDE(s40a_main_receiving_without_a_sender);
    RUN_INSIDE(s40b_main_sending_without_a_receiver);
    RUN_INSIDE(s40c_blocked_main_gets_an_uncaught_exception);
    RUN_INSIDE(s40d_tasklet_blocking_while_main_is_blocked);
    RUN_INSIDE(s40e_uncaught_deadlock_reaches_blocked_main);
    RUN_INSIDE(s40f_run_gets_the_uncaught_exception);
    RUN_INSIDE(tasklet_blocking_while_main_is_in_run);
    RUN_INSIDE(switch_trap_refuses_operations_that_would_block);
    RUN_INSIDE(switch_trap_allows_a_rendezvous_without_a_switch);
    RUN_INSIDE(switch_trap_allows_preference_zero_both_ways);
    RUN_INSIDE(switch_trap_refuses_kill_and_raise_on_a_blocked_tasklet);
    RUN_INSIDE(switch_trap_failed_rendezvous_restores_the_queue);
    RUN_INSIDE(switch_trap_failed_receive_keeps_the_sender_at_the_head);
    RUN_INSIDE(closing_is_checked_before_the_switch_trap);
    RUN(outside_send_returns_zero);
    RUN(outside_receive_returns_the_value);
    RUN(outside_send_exception_uses_the_tuple_as_arguments);
    PyStackless_Finalize();
    return harness_summary("test_channels");
}
