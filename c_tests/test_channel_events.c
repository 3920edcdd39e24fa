/* Channels on one thread, continued: exceptions over channels (SPEC §4.6),
 * killing and throwing to blocked tasklets (§4.8), destruction of a channel
 * with blocked tasklets (§4.10), the channel callback (§5.10), and the
 * larger scenarios S43, S56, S64 (b) and the seed's "Cooperative
 * Multitasking" example. */
#include "channel_helpers.h"

/* (name, ch): traces "receiving", receives; on TaskletExit traces
 * "TaskletExit"; always traces "finally"; passes errors on. */
static PyObject *b_blk(PyObject *self, PyObject *args) {
    (void)self;
    trace("receiving");
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v == NULL && PyErr_ExceptionMatches(PyExc_TaskletExit)) {
        trace("TaskletExit");
    }
    trace("finally");
    if (v == NULL) {
        return NULL;
    }
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* A new exception instance klass(*args) (args built from format). */
static PyObject *exc_instance(PyObject *klass, const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);
    va_end(va);
    if (args == NULL) {
        return NULL;
    }
    PyObject *e = PyObject_Call(klass, args, NULL);
    Py_DECREF(args);
    return e;
}

/* A receiver blocked on a new channel: runs `b_recv_catch` as "T". */
static PyTaskletObject *blocked_catcher(PyChannelObject **ch) {
    *ch = PyChannel_New(NULL);
    PyTaskletObject *t = make(b_recv_catch, "(sO)", "T", *ch);
    if (t != NULL && PyTasklet_Run(t) < 0) {
        Py_CLEAR(t);
    }
    return t;
}

/* ---- Exceptions over channels (§4.6) -------------------------------------- */

/* S06 send_exception */
TEST(s06_send_exception) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *args = Py_BuildValue("(iii)", 1, 2, 3);
    PyTaskletObject *t = make(b_send_exc, "(sOOO)", "T", ch, PyExc_ValueError, args);
    CHECK(t != NULL);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    CHECK_INT(PyTasklet_GetBlocked(t), 1);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_EXC_REPR("ValueError(1, 2, 3)");
    CHECK_INT(PyTasklet_Scheduled(t), 1);
    CHECK_INT(PyTasklet_GetBlocked(t), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_TRACE("");
    CHECK_RUN_NONE();
    CHECK_TRACE("T sent");
    CHECK_INT(PyTasklet_Alive(t), 0);
    Py_DECREF(args);
    Py_DECREF(t);
    Py_DECREF(ch);
}

TEST(send_exception_argument_forms) {
    PyObject *pair = Py_BuildValue("(ii)", 1, 2), *five = PyLong_FromLong(5);
    PyObject *empty = PyTuple_New(0), *text = PyUnicode_FromString("x");
    PyObject *values[5] = {pair, five, NULL, empty, text};
    for (int i = 0; i < 5; i++) {
        PyChannelObject *ch;
        PyTaskletObject *t = blocked_catcher(&ch);
        CHECK(t != NULL);
        CHECK_INT(PyChannel_SendException(ch, PyExc_ValueError, values[i]), 0);
        CHECK_INT(PyTasklet_Alive(t), 0);
        Py_DECREF(t);
        Py_DECREF(ch);
    }
    CHECK_TRACE("T caught ValueError(1, 2) T caught ValueError(5) T caught ValueError() "
                "T caught ValueError() T caught ValueError('x')");
    Py_DECREF(pair);
    Py_DECREF(five);
    Py_DECREF(empty);
    Py_DECREF(text);
}

TEST(send_exception_accepts_any_base_exception_subclass) {
    PyObject *my_error = PyErr_NewException("test.MyError", PyExc_KeyError, NULL);
    CHECK(my_error != NULL);
    PyObject *x = PyUnicode_FromString("x"), *three = PyLong_FromLong(3);
    PyChannelObject *ch;
    PyTaskletObject *t = blocked_catcher(&ch);
    CHECK(t != NULL);
    CHECK_INT(PyChannel_SendException(ch, my_error, x), 0);
    Py_DECREF(t);
    Py_DECREF(ch);
    t = blocked_catcher(&ch);
    CHECK(t != NULL);
    CHECK_INT(PyChannel_SendException(ch, PyExc_SystemExit, three), 0);
    CHECK_TRACE("T caught MyError('x') T caught SystemExit(3)");
    Py_DECREF(t);
    Py_DECREF(ch);
    Py_DECREF(x);
    Py_DECREF(three);
    Py_DECREF(my_error);
}

#define SEND_EXCEPTION_TEXT \
    "channel.send_exception needs Exception or string subclass as first parameter"

TEST(send_exception_type_errors) {
    PyChannelObject *ch;
    PyTaskletObject *t = blocked_catcher(&ch);
    CHECK(t != NULL);
    PyObject *five = PyLong_FromLong(5), *name = PyUnicode_FromString("ValueError");
    PyObject *inst = exc_instance(PyExc_ValueError, "(i)", 1);
    CHECK(inst != NULL);
    PyObject *bad[5] = {Py_None, five, name, inst, (PyObject *)&PyLong_Type};
    for (int i = 0; i < 5; i++) {
        CHECK_INT(PyChannel_SendException(ch, bad[i], NULL), -1);
        CHECK_ERROR(PyExc_TypeError, SEND_EXCEPTION_TEXT);
    }
    /* Nothing was sent: the receiver still waits. */
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyTasklet_GetBlocked(t), -1);
    CHECK_TRACE("");
    CHECK_INT(PyChannel_SendException(ch, PyExc_KeyError, NULL), 0);
    CHECK_TRACE("T caught KeyError()");
    Py_DECREF(five);
    Py_DECREF(name);
    Py_DECREF(inst);
    Py_DECREF(t);
    Py_DECREF(ch);
}

TEST(send_exception_blocks_like_a_send) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *seven = PyLong_FromLong(7);
    PyTaskletObject *s = make(b_send_exc, "(sOOO)", "S", ch, PyExc_IndexError, seven);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    CHECK_INT(PyTasklet_GetBlocked(s), 1);
    CHECK_STR(queue_text(ch), "S");
    PyTaskletObject *r = make(b_recv_catch, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    /* R took from a waiting sender (preference -1: R continues). */
    CHECK_TRACE("R caught IndexError(7)");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_STR(ring_text(), "main S");
    CHECK_RUN_NONE();
    CHECK_TRACE("R caught IndexError(7) S sent");
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(seven);
    Py_DECREF(ch);
}

/* (name, ch, exc, val): PyChannel_SendThrow(ch, exc, val, None). */
static PyObject *b_send_throw(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    if (PyChannel_SendThrow((PyChannelObject *)PyTuple_GetItem(args, 1), PyTuple_GetItem(args, 2),
                            PyTuple_GetItem(args, 3), Py_None) < 0) {
        return trace_failure(name);
    }
    trace("%s sent", name);
    Py_RETURN_NONE;
}

TEST(send_throw_forms) {
    PyObject *pair = Py_BuildValue("(ii)", 1, 2), *five = PyLong_FromLong(5);
    PyObject *inst = exc_instance(PyExc_IndexError, "(iii)", 1, 2, 3);
    CHECK(inst != NULL);
    struct {
        PyObject *exc, *val, *tb;
    } forms[7] = {
        {PyExc_ValueError, pair, NULL},  {PyExc_ValueError, five, Py_None},
        {PyExc_ValueError, NULL, NULL},  {PyExc_ValueError, Py_None, Py_None},
        {inst, NULL, NULL},              {inst, Py_None, Py_None},
        {PyExc_IndexError, inst, NULL},
    };
    for (int i = 0; i < 7; i++) {
        PyChannelObject *ch;
        PyTaskletObject *t = blocked_catcher(&ch);
        CHECK(t != NULL);
        CHECK_INT(PyChannel_SendThrow(ch, forms[i].exc, forms[i].val, forms[i].tb), 0);
        CHECK_INT(PyTasklet_Alive(t), 0);
        Py_DECREF(t);
        Py_DECREF(ch);
    }
    CHECK_TRACE("T caught ValueError(1, 2) T caught ValueError(5) T caught ValueError() "
                "T caught ValueError() T caught IndexError(1, 2, 3) T caught IndexError(1, 2, 3) "
                "T caught IndexError(1, 2, 3)");
    Py_DECREF(pair);
    Py_DECREF(five);
    Py_DECREF(inst);
}

static PyObject *kept_exc;

/* (name, ch): receives once and keeps the exception instance it fails with. */
static PyObject *b_recv_keep_exc(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v != NULL) {
        Py_DECREF(v);
        trace("%s received", arg_str(args, 0));
        Py_RETURN_NONE;
    }
    PyObject *t, *tb;
    PyErr_Fetch(&t, &kept_exc, &tb);
    PyErr_NormalizeException(&t, &kept_exc, &tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    Py_RETURN_NONE;
}

TEST(send_throw_delivers_the_very_instance) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *inst = exc_instance(PyExc_KeyError, "(s)", "k");
    CHECK(inst != NULL);
    /* The sender blocks first; the receiver comes later. */
    PyTaskletObject *s = make(b_send_throw, "(sOOO)", "S", ch, inst, Py_None);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    PyTaskletObject *r = make(b_recv_keep_exc, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_RUN_NONE();
    CHECK_PTR(kept_exc, inst);
    CHECK_TRACE("S sent");
    Py_CLEAR(kept_exc);
    CHECK_INT(Py_REFCNT(inst), 1);
    Py_DECREF(inst);
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(ch);
}

TEST(send_throw_type_errors) {
    PyChannelObject *ch;
    PyTaskletObject *t = blocked_catcher(&ch);
    CHECK(t != NULL);
    PyObject *five = PyLong_FromLong(5), *text = PyUnicode_FromString("x");
    PyObject *inst = exc_instance(PyExc_IndexError, "(i)", 1), *args = Py_BuildValue("(iii)", 1, 2, 3);
    CHECK(inst != NULL);
    CHECK_INT(PyChannel_SendThrow(ch, five, NULL, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "exceptions must be classes, or instances, not int");
    CHECK_INT(PyChannel_SendThrow(ch, text, NULL, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "exceptions must be classes, or instances, not str");
    CHECK_INT(PyChannel_SendThrow(ch, Py_None, NULL, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "exceptions must be classes, or instances, not NoneType");
    CHECK_INT(PyChannel_SendThrow(ch, inst, args, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "instance exception may not have a separate value");
    CHECK_INT(PyChannel_SendThrow(ch, PyExc_ValueError, Py_None, five), -1);
    CHECK_ERROR(PyExc_TypeError, "third argument must be a traceback object");
    /* The traceback is checked first. */
    CHECK_INT(PyChannel_SendThrow(ch, five, NULL, text), -1);
    CHECK_ERROR(PyExc_TypeError, "third argument must be a traceback object");
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyTasklet_GetBlocked(t), -1);
    CHECK_TRACE("");
    CHECK_INT(PyChannel_SendThrow(ch, inst, NULL, NULL), 0);
    CHECK_TRACE("T caught IndexError(1)");
    Py_DECREF(five);
    Py_DECREF(text);
    Py_DECREF(inst);
    Py_DECREF(args);
    Py_DECREF(t);
    Py_DECREF(ch);
}

/* ---- Killing and throwing to blocked tasklets (§4.8) ------------------------ */

/* S14 kill a blocked tasklet */
TEST(s14_kill_a_blocked_tasklet) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *blk = make(b_blk, "(sO)", "Blk", ch);
    CHECK(blk != NULL);
    CHECK_INT(PyTasklet_Run(blk), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK(x != NULL);
    CHECK_INT(PyChannel_GetBalance(ch), -1);
    CHECK_INT(PyTasklet_GetBlocked(blk), -1);
    CHECK_INT(PyTasklet_Kill(blk), 0);
    CHECK_TRACE("receiving TaskletExit finally");
    CHECK_INT(PyTasklet_Alive(blk), 0);
    CHECK_INT(PyTasklet_Scheduled(blk), 0);
    CHECK_INT(PyTasklet_GetBlocked(blk), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_STR(ring_text(), "main X");
    CHECK_RUN_NONE();
    CHECK_TRACE("receiving TaskletExit finally X runs");
    Py_DECREF(blk);
    Py_DECREF(x);
    Py_DECREF(ch);
}

/* S15 pending kill of a blocked tasklet */
TEST(s15_pending_kill_of_a_blocked_tasklet) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *blk = make(b_blk, "(sO)", "Blk", ch);
    CHECK(blk != NULL);
    CHECK_INT(PyTasklet_Run(blk), 0);
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK(x != NULL);
    CHECK_INT(PyTasklet_KillEx(blk, 1), 0);
    CHECK_TRACE("receiving");
    CHECK_INT(PyTasklet_GetBlocked(blk), 0);
    CHECK_INT(PyTasklet_Scheduled(blk), 1);
    CHECK_INT(PyTasklet_Alive(blk), 1);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_STR(queue_text(ch), "");
    CHECK_STR(ring_text(), "main X Blk");
    CHECK_RUN_NONE();
    CHECK_TRACE("receiving X runs TaskletExit finally");
    CHECK_INT(PyTasklet_Alive(blk), 0);
    Py_DECREF(blk);
    Py_DECREF(x);
    Py_DECREF(ch);
}

TEST(kill_a_blocked_sender_releases_its_value) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *d = PyDict_New();
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, d);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(Py_REFCNT(d), 3);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    CHECK_INT(PyTasklet_Kill(s), 0);
    CHECK_TRACE("S TaskletExit");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_Alive(s), 0);
    CHECK_INT(Py_REFCNT(d), 1);
    Py_DECREF(s);
    Py_DECREF(d);
    Py_DECREF(ch);
}

TEST(kill_in_the_middle_of_the_queue) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r1 = make(b_recv, "(sO)", "R1", ch);
    PyTaskletObject *r2 = make(b_recv, "(sO)", "R2", ch);
    PyTaskletObject *r3 = make(b_recv, "(sO)", "R3", ch);
    CHECK(r1 && r2 && r3);
    CHECK_RUN_NONE();
    CHECK_STR(queue_text(ch), "R1 R2 R3");
    CHECK_INT(PyTasklet_Kill(r2), 0);
    CHECK_TRACE("R2 TaskletExit");
    CHECK_INT(PyChannel_GetBalance(ch), -2);
    CHECK_STR(queue_text(ch), "R1 R3");
    PyObject *a = PyUnicode_FromString("a"), *b = PyUnicode_FromString("b");
    CHECK_INT(PyChannel_Send(ch, a), 0);
    CHECK_INT(PyChannel_Send(ch, b), 0);
    CHECK_TRACE("R2 TaskletExit R1 received a R3 received b");
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(r1);
    Py_DECREF(r2);
    Py_DECREF(r3);
    Py_DECREF(ch);
}

/* (name): kills main, then traces "<name> after". */
static PyObject *b_kill_main(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    PyObject *main_t = PyStackless_GetMain();
    trace("%s kills", name);
    int rc = PyTasklet_Kill((PyTaskletObject *)main_t);
    Py_DECREF(main_t);
    if (rc < 0) {
        return trace_failure(name);
    }
    trace("%s after", name);
    Py_RETURN_NONE;
}

TEST(kill_main_blocked_on_a_channel) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *k = make(b_kill_main, "(s)", "K");
    CHECK(k != NULL);
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_TaskletExit, "");
    CHECK_TRACE("K kills");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_GetBlocked(main_tasklet()), 0);
    CHECK_STR(ring_text(), "main K");
    CHECK_RUN_NONE();
    CHECK_TRACE("K kills K after");
    Py_DECREF(k);
    Py_DECREF(ch);
}

TEST(pending_throw_to_a_blocked_sender_unblocks_it_at_once) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, Py_None);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    CHECK_INT(PyTasklet_Throw(s, 1, PyExc_IndexError, NULL, NULL), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_GetBlocked(s), 0);
    CHECK_STR(ring_text(), "main S");
    CHECK_TRACE("");
    /* S's send fails with IndexError, uncaught: run() gets it. */
    CHECK_PTR(PyStackless_RunWatchdog(0), NULL);
    CHECK_EXC_REPR("IndexError()");
    CHECK_TRACE("S IndexError");
    CHECK_INT(PyTasklet_Alive(s), 0);
    Py_DECREF(s);
    Py_DECREF(ch);
}

/* S23 throw immediate vs pending: the exception arguments of each form. */
static void throw_case(int pending, PyObject *exc, PyObject *val, const char *expected) {
    PyChannelObject *ch;
    PyTaskletObject *s = blocked_catcher(&ch);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Throw(s, pending, exc, val, NULL), 0);
    if (pending) {
        CHECK_TRACE("");
        CHECK_INT(PyTasklet_Alive(s), 1);
        CHECK_INT(PyTasklet_GetBlocked(s), 0);
        CHECK_INT(PyTasklet_Scheduled(s), 1);
        CHECK_INT(PyChannel_GetBalance(ch), 0);
        CHECK_INT(PyTasklet_Run(s), 0);
    }
    CHECK_INT(PyTasklet_Alive(s), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_TRACE(expected);
    Py_DECREF(s);
    Py_DECREF(ch);
}

/* S23 immediate, no arguments */
TEST(s23_throw_immediate_noargs) {
    throw_case(0, PyExc_IndexError, NULL, "T caught IndexError()");
}
/* S23 immediate, arguments */
TEST(s23_throw_immediate_args) {
    PyObject *args = Py_BuildValue("(iii)", 1, 2, 3);
    throw_case(0, PyExc_IndexError, args, "T caught IndexError(1, 2, 3)");
    Py_DECREF(args);
}
/* S23 immediate, instance */
TEST(s23_throw_immediate_instance) {
    PyObject *inst = exc_instance(PyExc_IndexError, "(iii)", 1, 2, 3);
    throw_case(0, inst, NULL, "T caught IndexError(1, 2, 3)");
    Py_DECREF(inst);
}
/* S23 immediate, exc_info triple */
TEST(s23_throw_immediate_exc_info) {
    PyObject *inst = exc_instance(PyExc_IndexError, "(iii)", 1, 2, 3);
    throw_case(0, PyExc_IndexError, inst, "T caught IndexError(1, 2, 3)");
    Py_DECREF(inst);
}
/* S23 pending, no arguments */
TEST(s23_throw_pending_noargs) {
    throw_case(1, PyExc_IndexError, NULL, "T caught IndexError()");
}
/* S23 pending, arguments */
TEST(s23_throw_pending_args) {
    PyObject *args = Py_BuildValue("(iii)", 1, 2, 3);
    throw_case(1, PyExc_IndexError, args, "T caught IndexError(1, 2, 3)");
    Py_DECREF(args);
}
/* S23 pending, instance */
TEST(s23_throw_pending_instance) {
    PyObject *inst = exc_instance(PyExc_IndexError, "(iii)", 1, 2, 3);
    throw_case(1, inst, NULL, "T caught IndexError(1, 2, 3)");
    Py_DECREF(inst);
}
/* S23 pending, exc_info triple */
TEST(s23_throw_pending_exc_info) {
    PyObject *inst = exc_instance(PyExc_IndexError, "(iii)", 1, 2, 3);
    throw_case(1, PyExc_IndexError, inst, "T caught IndexError(1, 2, 3)");
    Py_DECREF(inst);
}

/* S27 raise_exception argument forms */
TEST(s27_raise_exception_argument_forms) {
    PyObject *pair = Py_BuildValue("(ii)", 1, 2), *five = PyLong_FromLong(5), *empty = PyTuple_New(0);
    for (int i = 0; i < 6; i++) {
        PyChannelObject *ch;
        PyTaskletObject *t = blocked_catcher(&ch);
        CHECK(t != NULL);
        int rc = i == 0   ? PyTasklet_RaiseException(t, PyExc_ValueError, pair)
                 : i == 1 ? PyTasklet_RaiseException(t, PyExc_ValueError, five)
                 : i == 2 ? PyTasklet_RaiseException(t, PyExc_ValueError, empty)
                 : i == 3 ? PyTasklet_RaiseException(t, PyExc_ValueError, NULL)
                 : i == 4 ? PyTasklet_Throw(t, 0, PyExc_ValueError, pair, NULL)
                          : PyTasklet_Throw(t, 0, PyExc_ValueError, five, NULL);
        CHECK_INT(rc, 0);
        CHECK_INT(PyTasklet_Alive(t), 0);
        CHECK_INT(PyChannel_GetBalance(ch), 0);
        Py_DECREF(t);
        Py_DECREF(ch);
    }
    CHECK_TRACE("T caught ValueError(1, 2) T caught ValueError(5) T caught ValueError() "
                "T caught ValueError() T caught ValueError(1, 2) T caught ValueError(5)");
    Py_DECREF(pair);
    Py_DECREF(five);
    Py_DECREF(empty);
}

/* ---- Destruction of a channel with blocked tasklets (§4.10) ---------------- */

static PyChannelObject *g_ch1, *g_ch2;

/* (name): receives once from g_ch1 (holding no reference of its own). */
static PyObject *b_recv_global(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    PyObject *v = PyChannel_Receive(g_ch1);
    if (v == NULL) {
        return trace_failure(name);
    }
    trace("%s received %s", name, harness_text(v, 0));
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* (name, value): sends value once on g_ch2 (holding no reference of its
 * own to the channel). */
static PyObject *b_send_global(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    if (PyChannel_Send(g_ch2, PyTuple_GetItem(args, 1)) < 0) {
        return trace_failure(name);
    }
    trace("%s send returned", name);
    Py_RETURN_NONE;
}

/* S57 channel destroyed under blocked tasklets */
TEST(s57_channel_destroyed_under_blocked_tasklets) {
    g_ch1 = PyChannel_New(NULL);
    g_ch2 = PyChannel_New(NULL);
    PyObject *payload = PyUnicode_FromString("payload");
    PyTaskletObject *r = make(b_recv_global, "(s)", "R");
    PyTaskletObject *s = make(b_send_global, "(sO)", "S", payload);
    CHECK(r && s);
    CHECK_RUN_NONE();
    CHECK_INT(PyChannel_GetBalance(g_ch1), -1);
    CHECK_INT(PyChannel_GetBalance(g_ch2), 1);
    CHECK_INT(Py_REFCNT(g_ch1), 1);
    CHECK_INT(Py_REFCNT(g_ch2), 1);
    Py_CLEAR(g_ch1);
    Py_CLEAR(g_ch2);
    CHECK_INT(PyTasklet_GetBlocked(r), 0);
    CHECK_INT(PyTasklet_Scheduled(r), 0);
    CHECK_INT(PyTasklet_Alive(r), 1);
    CHECK_INT(PyTasklet_Paused(r), 1);
    CHECK_INT(PyTasklet_GetBlocked(s), 0);
    CHECK_INT(PyTasklet_Scheduled(s), 0);
    CHECK_INT(PyTasklet_Alive(s), 1);
    CHECK_INT(PyTasklet_Paused(s), 1);
    CHECK_STR(ring_text(), "main");
    CHECK_TRACE("");
    CHECK_INT(PyTasklet_Insert(r), 0);
    CHECK_INT(PyTasklet_Insert(s), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("R received None S send returned");
    CHECK_INT(PyTasklet_Alive(r), 0);
    CHECK_INT(PyTasklet_Alive(s), 0);
    Py_DECREF(r);
    Py_DECREF(s);
    CHECK_INT(Py_REFCNT(payload), 1);
    Py_DECREF(payload);
}

TEST(destroyed_channel_kills_a_tasklet_only_it_referenced) {
    /* §4.10: dropping the queue's reference frees the tasklet, which is
     * killed first (§2.7). */
    g_ch1 = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv_global, "(s)", "R");
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_GetBalance(g_ch1), -1);
    Py_DECREF(r);
    CHECK_TRACE("");
    Py_CLEAR(g_ch1);
    CHECK_TRACE("R TaskletExit");
    CHECK_STR(ring_text(), "main");
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

/* ---- The channel callback (§5.10) ------------------------------------------ */

/* "0"/"1" for an int object (not a bool), else "BAD". */
static const char *flag_text(PyObject *o) {
    if (o == NULL || Py_TYPE(o) != &PyLong_Type) {
        return "BAD";
    }
    long v = PyLong_AsLong(o);
    return v == 0 ? "0" : v == 1 ? "1" : "BAD";
}

/* Traces (channel, tasklet, sending, willblock, tasklet.tempval, current). */
static PyObject *cb_log(PyObject *self, PyObject *args) {
    (void)self;
    if (PyTuple_Size(args) != 4) {
        trace("cb(%d args)", (int)PyTuple_Size(args));
        Py_RETURN_NONE;
    }
    PyObject *t = PyTuple_GetItem(args, 1);
    PyObject *tv = PyTasklet_GetTempval((PyTaskletObject *)t);
    PyObject *cur = PyStackless_GetCurrent();
    trace("cb(%s,%s,%s,%s,%s,%s)", name_of(PyTuple_GetItem(args, 0)), name_of(t),
          flag_text(PyTuple_GetItem(args, 2)), flag_text(PyTuple_GetItem(args, 3)),
          tv ? harness_text(tv, 0) : "NULL", name_of(cur));
    Py_XDECREF(tv);
    Py_XDECREF(cur);
    Py_RETURN_NONE;
}

/* Traces (tasklet, sending, willblock) and the balance it sees. */
static PyObject *cb_balance(PyObject *self, PyObject *args) {
    (void)self;
    trace("cb(%s,%s,%s) bal=%d", name_of(PyTuple_GetItem(args, 1)), flag_text(PyTuple_GetItem(args, 2)),
          flag_text(PyTuple_GetItem(args, 3)),
          PyChannel_GetBalance((PyChannelObject *)PyTuple_GetItem(args, 0)));
    Py_RETURN_NONE;
}

/* Installs the C function f as the channel callback. */
static int set_channel_callback(PyCFunction f, const char *name) {
    PyObject *cb = body_function(f, name);
    int rc = PyStackless_SetChannelCallback(cb);
    Py_DECREF(cb);
    return rc;
}

/* S12 channel callback arguments */
TEST(s12_channel_callback_arguments) {
    PyChannelObject *ch = PyChannel_New(NULL);
    name_object(ch, "ch");
    PyObject *seven = PyLong_FromLong(7), *eight = PyLong_FromLong(8);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(set_channel_callback(cb_log, "cb_log"), 0);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_Send(ch, seven), 0);
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, eight);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    PyObject *got = PyChannel_Receive(ch);
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_PTR(got, eight);
    Py_DECREF(got);
    CHECK_RUN_NONE();
    CHECK_TRACE("cb(ch,R,0,1,None,R) cb(ch,main,1,0,7,main) R received 7 "
                "cb(ch,S,1,1,8,S) cb(ch,main,0,0,None,main) S sent");
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(seven);
    Py_DECREF(eight);
    Py_DECREF(ch);
}

TEST(channel_callback_setter) {
    CHECK_PTR(PyStackless_GetChannelCallback(), NULL);
    CHECK_NO_ERROR();
    PyObject *five = PyLong_FromLong(5);
    CHECK_INT(PyStackless_SetChannelCallback(five), -1);
    CHECK_ERROR(PyExc_TypeError, "channel callback must be callable");
    CHECK_INT(PyStackless_SetChannelCallback(Py_None), -1);
    CHECK_ERROR(PyExc_TypeError, "channel callback must be callable");
    CHECK_PTR(PyStackless_GetChannelCallback(), NULL);
    PyObject *cb = body_function(cb_log, "cb_log");
    CHECK_INT(PyStackless_SetChannelCallback(cb), 0);
    PyObject *got = PyStackless_GetChannelCallback();
    CHECK_PTR(got, cb);
    Py_DECREF(got);
    /* A failed set leaves the callback installed. */
    CHECK_INT(PyStackless_SetChannelCallback(five), -1);
    CHECK_ERROR(PyExc_TypeError, "channel callback must be callable");
    got = PyStackless_GetChannelCallback();
    CHECK_PTR(got, cb);
    Py_DECREF(got);
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_PTR(PyStackless_GetChannelCallback(), NULL);
    CHECK_NO_ERROR();
    /* Removed: no more calls. */
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_Send(ch, five), 0);
    CHECK_TRACE("R received 5");
    CHECK_INT(Py_REFCNT(cb), 1);
    Py_DECREF(cb);
    Py_DECREF(five);
    Py_DECREF(r);
    Py_DECREF(ch);
}

TEST(channel_callback_timing_and_failing_operations) {
    PyChannelObject *ch = PyChannel_New(NULL), *closed = PyChannel_New(NULL);
    PyChannel_Close(closed);
    CHECK_INT(set_channel_callback(cb_balance, "cb_balance"), 0);
    /* Called before operations that then fail. */
    PyObject *main_t = PyStackless_GetMain();
    PyTasklet_SetBlockTrap((PyTaskletObject *)main_t, 1);
    CHECK_INT(PyChannel_Send(ch, Py_None), -1);
    CHECK_ERROR(PyExc_RuntimeError, "this tasklet does not like to be blocked.");
    PyTasklet_SetBlockTrap((PyTaskletObject *)main_t, 0);
    Py_DECREF(main_t);
    trace("|");
    CHECK_PTR(PyChannel_Receive(closed), NULL);
    CHECK_ERROR(PyExc_ValueError, "Send/receive operation on a closed channel");
    trace("|");
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Deadlock: the last runnable tasklet cannot be blocked.");
    trace("|");
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK(x != NULL);
    CHECK_INT(PyStackless_AdjustSwitchTrap(1), 0);
    CHECK_INT(PyChannel_SendException(ch, PyExc_ValueError, NULL), -1);
    CHECK_ERROR(PyExc_RuntimeError, "switch_trap");
    CHECK_INT(PyStackless_AdjustSwitchTrap(-1), 1);
    trace("|");
    /* Argument errors come before the operation: no call. */
    CHECK_INT(PyChannel_SendException(ch, Py_None, NULL), -1);
    CHECK_ERROR(PyExc_TypeError,
                "channel.send_exception needs Exception or string subclass as first parameter");
    CHECK_INT(PyChannel_SendThrow(ch, Py_None, NULL, NULL), -1);
    CHECK_ERROR(PyExc_TypeError, "exceptions must be classes, or instances, not NoneType");
    trace("|");
    /* The balance seen is the one before the operation. */
    PyTaskletObject *r = make(b_recv_catch, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_SendThrow(ch, PyExc_KeyError, NULL, NULL), 0);
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_TRACE("cb(main,1,1) bal=0 | cb(main,0,1) bal=0 | cb(main,0,1) bal=0 | "
                "cb(main,1,1) bal=0 | | cb(R,0,1) bal=0 cb(main,1,0) bal=-1 R caught KeyError() "
                "X runs");
    Py_DECREF(x);
    Py_DECREF(r);
    Py_DECREF(ch);
    Py_DECREF(closed);
}

/* Raises ValueError("callback failed"). */
static PyObject *cb_fail(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    trace("cb");
    PyErr_SetString(PyExc_ValueError, "callback failed");
    return NULL;
}

TEST(channel_callback_errors_are_unraisable) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    PyObject *x = PyUnicode_FromString("x");
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, x);
    CHECK(r && s);
    CHECK_INT(set_channel_callback(cb_fail, "cb_fail"), 0);
    capture_stderr();
    /* R blocks, S finds R waiting and R, the receiver, runs at once. */
    PyObject *res = PyStackless_RunWatchdog(0);
    const char *err = captured_stderr();
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_NO_ERROR();
    CHECK_PTR(res, Py_None);
    Py_DECREF(res);
    CHECK_TRACE("cb cb R received x S sent");
    CHECK_CONTAINS(err, "Error in channel callback");
    CHECK_CONTAINS(err, "ValueError: callback failed");
    const char *second = strstr(err, "Error in channel callback");
    CHECK(second != NULL && strstr(second + 1, "Error in channel callback") != NULL);
    Py_DECREF(r);
    Py_DECREF(s);
    Py_DECREF(x);
    Py_DECREF(ch);
}

#define RECURSIVE_TEXT "Recursive channel call due to callbacks!"

/* Tries a send and a receive on g_ch2, traces what happened. */
static PyObject *cb_recursive(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    int rc = PyChannel_Send(g_ch2, Py_None);
    trace("inner send %d %s", rc, take_exc_repr());
    PyObject *v = PyChannel_Receive(g_ch2);
    trace("inner receive %s %s", v ? "value" : "NULL", take_exc_repr());
    Py_XDECREF(v);
    Py_RETURN_NONE;
}

/* S13 channel callback recursion guard */
TEST(s13_channel_callback_recursion_guard) {
    PyChannelObject *ch = PyChannel_New(NULL);
    g_ch2 = PyChannel_New(NULL);
    PyObject *outer = PyUnicode_FromString("outer");
    PyTaskletObject *r = make(b_recv, "(sO)", "R", ch);
    CHECK(r != NULL);
    CHECK_INT(set_channel_callback(cb_recursive, "cb_recursive"), 0);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_Send(ch, outer), 0);
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_NO_ERROR();
    CHECK_TRACE("inner send -1 RuntimeError('" RECURSIVE_TEXT "') "
                "inner receive NULL RuntimeError('" RECURSIVE_TEXT "') "
                "inner send -1 RuntimeError('" RECURSIVE_TEXT "') "
                "inner receive NULL RuntimeError('" RECURSIVE_TEXT "') R received outer");
    CHECK_INT(PyChannel_GetBalance(g_ch2), 0);
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    Py_CLEAR(g_ch2);
    Py_DECREF(r);
    Py_DECREF(outer);
    Py_DECREF(ch);
}

/* Lets the recursion error escape from the callback. */
static PyObject *cb_recursive_raise(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    if (PyChannel_Send(g_ch2, Py_None) == 0) {
        trace("inner send succeeded");
        Py_RETURN_NONE;
    }
    return NULL;
}

/* S13 with the inner error left to the callback's caller */
TEST(s13_recursion_error_escaping_the_callback_is_unraisable) {
    PyChannelObject *ch = PyChannel_New(NULL);
    g_ch2 = PyChannel_New(NULL);
    PyObject *outer = PyUnicode_FromString("outer");
    PyTaskletObject *s = make(b_send, "(sOO)", "S", ch, outer);
    CHECK(s != NULL);
    CHECK_INT(PyTasklet_Run(s), 0);
    CHECK_INT(set_channel_callback(cb_recursive_raise, "cb_recursive_raise"), 0);
    capture_stderr();
    PyObject *got = PyChannel_Receive(ch);
    const char *err = captured_stderr();
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_NO_ERROR();
    CHECK_PTR(got, outer);
    Py_DECREF(got);
    CHECK_CONTAINS(err, "Error in channel callback");
    CHECK_CONTAINS(err, "RuntimeError: " RECURSIVE_TEXT);
    CHECK_RUN_NONE();
    CHECK_TRACE("S sent");
    Py_CLEAR(g_ch2);
    Py_DECREF(s);
    Py_DECREF(outer);
    Py_DECREF(ch);
}

static int sched_cb_calls;

/* A schedule callback trying a channel operation. */
static PyObject *sched_cb_receive(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *v = PyChannel_Receive(g_ch2);
    if (sched_cb_calls++ == 0) {
        trace("in schedule callback: %s %s", v ? "value" : "NULL", take_exc_repr());
    }
    PyErr_Clear();
    Py_XDECREF(v);
    Py_RETURN_NONE;
}

static PyObject *cb_noop(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Py_RETURN_NONE;
}

TEST(channel_operation_inside_a_schedule_callback) {
    g_ch2 = PyChannel_New(NULL);
    sched_cb_calls = 0;
    PyTaskletObject *x = make(b_log, "(s)", "X");
    CHECK(x != NULL);
    CHECK_INT(set_channel_callback(cb_noop, "cb_noop"), 0);
    PyObject *scb = body_function(sched_cb_receive, "sched_cb_receive");
    CHECK_INT(PyStackless_SetScheduleCallback(scb), 0);
    Py_DECREF(scb);
    int rc = PyTasklet_Run(x);
    CHECK_INT(PyStackless_SetScheduleCallback(NULL), 0);
    CHECK_INT(PyStackless_SetChannelCallback(NULL), 0);
    CHECK_INT(rc, 0);
    CHECK_NO_ERROR();
    /* main -> X and X -> main. */
    CHECK_INT(sched_cb_calls, 2);
    CHECK_TRACE("in schedule callback: NULL RuntimeError('" RECURSIVE_TEXT "') X runs");
    CHECK_INT(PyChannel_GetBalance(g_ch2), 0);
    Py_CLEAR(g_ch2);
    Py_DECREF(x);
}

/* ---- Scenarios ---------------------------------------------------------------- */

static int done;

/* (name): schedules once, then done++. */
static PyObject *b_worker(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return trace_failure(arg_str(args, 0));
    }
    Py_DECREF(r);
    done++;
    trace("%s done", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* (name, c): run(); done++; sends None on c. */
static PyObject *b_runner(PyObject *self, PyObject *args) {
    (void)self;
    const char *name = arg_str(args, 0);
    PyObject *r = PyStackless_RunWatchdog(0);
    if (r == NULL) {
        return trace_failure(name);
    }
    trace("%s run returned %s", name, harness_text(r, 0));
    Py_DECREF(r);
    done++;
    if (PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 1), Py_None) < 0) {
        return trace_failure(name);
    }
    trace("%s sent", name);
    Py_RETURN_NONE;
}

/* S43 run() from a worker, main blocked */
TEST(s43_run_from_a_worker_while_main_is_blocked) {
    done = 0;
    PyChannelObject *c = PyChannel_New(NULL);
    PyTaskletObject *w = make(b_worker, "(s)", "W");
    PyTaskletObject *r = make(b_runner, "(sO)", "R", c);
    CHECK(w && r);
    PyObject *got = PyChannel_Receive(c);
    CHECK_PTR(got, Py_None);
    Py_DECREF(got);
    CHECK_INT(done, 2);
    CHECK_TRACE("W done R run returned None");
    CHECK_STR(ring_text(), "main R");
    CHECK_RUN_NONE();
    CHECK_TRACE("W done R run returned None R sent");
    CHECK_INT(PyTasklet_Alive(r), 0);
    Py_DECREF(w);
    Py_DECREF(r);
    Py_DECREF(c);
}

/* S56 send_exception that blocks while main is in run() */
TEST(s56_blocked_send_exception_while_main_is_in_run) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *k = Py_BuildValue("(s)", "k");
    PyTaskletObject *se = make(b_send_exc, "(sOOO)", "se", ch, PyExc_KeyError, k);
    CHECK(se != NULL);
    CHECK_PTR(PyStackless_RunWatchdog(0), NULL);
    CHECK_EXC_REPR("KeyError('k')");
    CHECK_TRACE("");
    CHECK_INT(PyChannel_GetBalance(ch), 1);
    CHECK_INT(PyTasklet_GetBlocked(se), 1);
    CHECK_INT(PyTasklet_Scheduled(se), 1);
    CHECK_STR(ring_text(), "main");
    CHECK_INT(PyTasklet_Kill(se), 0);
    CHECK_TRACE("se TaskletExit");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_INT(PyTasklet_Alive(se), 0);
    Py_DECREF(se);
    Py_DECREF(k);
    Py_DECREF(ch);
}

/* S56, then the exception is received: the sender still holds it */
TEST(s56_blocked_sender_still_holds_the_exception) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *k = Py_BuildValue("(s)", "k");
    PyTaskletObject *se = make(b_send_exc, "(sOOO)", "se", ch, PyExc_KeyError, k);
    CHECK(se != NULL);
    CHECK_PTR(PyStackless_RunWatchdog(0), NULL);
    CHECK_EXC_REPR("KeyError('k')");
    CHECK_PTR(PyChannel_Receive(ch), NULL);
    CHECK_EXC_REPR("KeyError('k')");
    CHECK_INT(PyChannel_GetBalance(ch), 0);
    CHECK_RUN_NONE();
    CHECK_TRACE("se sent");
    Py_DECREF(se);
    Py_DECREF(k);
    Py_DECREF(ch);
}

static int server_count;
static int client_sends[3];

/* (name, chan): receives forever, counting. */
static PyObject *b_server(PyObject *self, PyObject *args) {
    (void)self;
    for (;;) {
        PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
        if (v == NULL) {
            return trace_failure(arg_str(args, 0));
        }
        server_count++;
        Py_DECREF(v);
    }
}

/* (name, chan, index): 1000 iterations with a tick point each; every 50th
 * sends its name. */
static PyObject *b_client(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *name = PyTuple_GetItem(args, 0);
    long index = PyLong_AsLong(PyTuple_GetItem(args, 2));
    for (int i = 1; i <= 1000; i++) {
        if (PyStackless_Tick(1) < 0) {
            return trace_failure(PyUnicode_AsUTF8(name));
        }
        if (i % 50 == 0) {
            if (PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 1), name) < 0) {
                return trace_failure(PyUnicode_AsUTF8(name));
            }
            client_sends[index]++;
        }
    }
    Py_RETURN_NONE;
}

/* S64 (b): the SimpleScheduler over a server and three clients; returns the
 * number of interrupts, -1 on failure. */
static int server_and_clients(long timeout) {
    server_count = 0;
    memset(client_sends, 0, sizeof client_sends);
    PyChannelObject *chan = PyChannel_New(NULL);
    PyTaskletObject *t[4] = {
        make(b_server, "(sO)", "server", chan),
        make(b_client, "(sOi)", "c0", chan, 0),
        make(b_client, "(sOi)", "c1", chan, 1),
        make(b_client, "(sOi)", "c2", chan, 2),
    };
    int interrupts = 0;
    while (PyStackless_GetRunCount() > 1) {
        PyObject *r = PyStackless_RunWatchdog(timeout);
        if (r == NULL) {
            interrupts = -1;
            break;
        }
        if (r != Py_None) {
            interrupts++;
            if (PyTasklet_Insert((PyTaskletObject *)r) < 0) {
                interrupts = -1;
            }
        }
        Py_DECREF(r);
    }
    if (interrupts >= 0) {
        trace("count %d", server_count);
        if (PyChannel_SendException(chan, PyExc_StopIteration, NULL) == 0) {
            trace("send_exception returned 0");
        } else {
            trace("send_exception failed: %s", take_exc_repr());
        }
        trace("server alive %d", PyTasklet_Alive(t[0]));
    }
    for (int i = 0; i < 4; i++) {
        Py_XDECREF(t[i]);
    }
    Py_DECREF(chan);
    return interrupts;
}

/* S64 (b) pre-emptive scheduler with a server */
TEST(s64b_server_and_clients) {
    CHECK_INT(server_and_clients(100), 0);
    CHECK_TRACE("count 60 server StopIteration send_exception failed: StopIteration() "
                "server alive 0");
    CHECK_INT(client_sends[0], 20);
    CHECK_INT(client_sends[1], 20);
    CHECK_INT(client_sends[2], 20);
}

/* S64 (b) with a time slice shorter than the clients' runs between sends:
 * the watchdog interrupts them and the count is the same. */
TEST(s64b_server_and_interrupted_clients) {
    int interrupts = server_and_clients(10);
    CHECK(interrupts > 0);
    CHECK_TRACE("count 60 server StopIteration send_exception failed: StopIteration() "
                "server alive 0");
    CHECK_INT(client_sends[0], 20);
    CHECK_INT(client_sends[1], 20);
    CHECK_INT(client_sends[2], 20);
}

/* ---- The seed's "Cooperative Multitasking" example ---------------------------- */

static PyObject *receiving_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    trace("[Receiving tasklet started]");
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v == NULL) {
        return NULL;
    }
    trace("[%s]", PyUnicode_AsUTF8(v));
    Py_DECREF(v);
    trace("[Receiving tasklet finished]");
    Py_RETURN_NONE;
}

static PyObject *sending_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    trace("[Sending tasklet started]");
    PyObject *msg = PyUnicode_FromString("send from sending_tasklet");
    int rc = PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 1), msg);
    Py_DECREF(msg);
    if (rc < 0) {
        return NULL;
    }
    trace("[sending tasklet finished]");
    Py_RETURN_NONE;
}

static PyObject *another_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    trace("[Just another tasklet in the scheduler]");
    Py_RETURN_NONE;
}

TEST(cooperative_multitasking_example) {
    PyChannelObject *channel = PyChannel_New(NULL);
    PyTaskletObject *t[3] = {
        make(receiving_tasklet, "(sO)", "receiving", channel),
        make(sending_tasklet, "(sO)", "sending", channel),
        make(another_tasklet, "(s)", "another"),
    };
    CHECK(t[0] && t[1] && t[2]);
    CHECK_RUN_NONE();
    CHECK_TRACE("[Receiving tasklet started] [Sending tasklet started] "
                "[send from sending_tasklet] [Receiving tasklet finished] "
                "[Just another tasklet in the scheduler] [sending tasklet finished]");
    for (int i = 0; i < 3; i++) {
        CHECK_INT(PyTasklet_Alive(t[i]), 0);
        Py_DECREF(t[i]);
    }
    Py_DECREF(channel);
}

/* Run from outside, last: a tasklet blocked on a channel that only the
 * tasklet references (a cycle) is killed by PyStackless_Finalize (§7.6),
 * which frees both. */
TEST(finalize_kills_a_tasklet_blocked_on_an_unreferenced_channel) {
    trace_reset();
    PyChannelObject *ch = PyChannel_New(NULL);
    PyTaskletObject *l = make(b_blk, "(sO)", "L", ch);
    CHECK(l != NULL);
    CHECK_INT(PyTasklet_Run(l), 0);
    CHECK_INT(PyTasklet_GetBlocked(l), -1);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    Py_DECREF(ch);
    Py_DECREF(l);
    CHECK_TRACE("receiving");
    CHECK_INT(PyStackless_Finalize(), 0);
    CHECK_TRACE("receiving TaskletExit finally");
}

int main(void) {
    RUN_INSIDE(s06_send_exception);
    RUN_INSIDE(send_exception_argument_forms);
    RUN_INSIDE(send_exception_accepts_any_base_exception_subclass);
    RUN_INSIDE(send_exception_type_errors);
    RUN_INSIDE(send_exception_blocks_like_a_send);
    RUN_INSIDE(send_throw_forms);
    RUN_INSIDE(send_throw_delivers_the_very_instance);
    RUN_INSIDE(send_throw_type_errors);
    RUN_INSIDE(s14_kill_a_blocked_tasklet);
    RUN_INSIDE(s15_pending_kill_of_a_blocked_tasklet);
    RUN_INSIDE(kill_a_blocked_sender_releases_its_value);
    RUN_INSIDE(kill_in_the_middle_of_the_queue);
    RUN_INSIDE(kill_main_blocked_on_a_channel);
    RUN_INSIDE(pending_throw_to_a_blocked_sender_unblocks_it_at_once);
    RUN_INSIDE(s23_throw_immediate_noargs);
    RUN_INSIDE(s23_throw_immediate_args);
    RUN_INSIDE(s23_throw_immediate_instance);
    RUN_INSIDE(s23_throw_immediate_exc_info);
    RUN_INSIDE(s23_throw_pending_noargs);
    RUN_INSIDE(s23_throw_pending_args);
    RUN_INSIDE(s23_throw_pending_instance);
    RUN_INSIDE(s23_throw_pending_exc_info);
    RUN_INSIDE(s27_raise_exception_argument_forms);
    RUN_INSIDE(s57_channel_destroyed_under_blocked_tasklets);
    RUN_INSIDE(destroyed_channel_kills_a_tasklet_only_it_referenced);
    RUN_INSIDE(s12_channel_callback_arguments);
    RUN_INSIDE(channel_callback_setter);
    RUN_INSIDE(channel_callback_timing_and_failing_operations);
    RUN_INSIDE(channel_callback_errors_are_unraisable);
    RUN_INSIDE(s13_channel_callback_recursion_guard);
    RUN_INSIDE(s13_recursion_error_escaping_the_callback_is_unraisable);
    RUN_INSIDE(channel_operation_inside_a_schedule_callback);
    RUN_INSIDE(s43_run_from_a_worker_while_main_is_blocked);
    RUN_INSIDE(s56_blocked_send_exception_while_main_is_in_run);
    RUN_INSIDE(s56_blocked_sender_still_holds_the_exception);
    RUN_INSIDE(s64b_server_and_clients);
    RUN_INSIDE(s64b_server_and_interrupted_clients);
    RUN_INSIDE(cooperative_multitasking_example);
    RUN(finalize_kills_a_tasklet_blocked_on_an_unreferenced_channel);
    PyStackless_Finalize();
    return harness_summary("test_channel_events");
}
