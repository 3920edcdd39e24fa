/*
 * Inside and outside (SPEC §7): auto-wrapping of switching calls made from
 * outside, PyStackless_Call_Main, PyStackless_CallMethod_Main,
 * PyStackless_CallCMethod_Main, PyStackless_Finalize (§7.6), and
 * Py_UnwindToken / STACKLESS_UNWINDING (§8.6). Scenario S62.
 */
#include "tasklet_helpers.h"

/* ---- Helpers --------------------------------------------------------- */

/* The main tasklets the recording callback saw created (owned, so that
 * each one is a distinct object): M1, M2, ... */
static PyObject *mains[8];
static int n_mains;

static const char *label(PyObject *t) {
    static const char *m[] = {"M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8"};
    if (t == NULL || t == Py_None) {
        return "NULL";
    }
    for (int i = 0; i < n_mains; i++) {
        if (mains[i] == t) {
            return m[i];
        }
    }
    const char *name = registered_name(t);
    return name ? name : "?";
}

/* The schedule callback: traces (prev>next); keeps every new main. */
static PyObject *record_cb(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *prev = PyTuple_GetItem(args, 0), *next = PyTuple_GetItem(args, 1);
    if (prev == Py_None && n_mains < 8) {
        Py_INCREF(next);
        mains[n_mains++] = next;
    }
    trace("(%s>%s)", label(prev), label(next));
    Py_RETURN_NONE;
}

static void record(void) {
    PyObject *cb = cfunc(record_cb);
    PyStackless_SetScheduleCallback(cb);
    Py_DECREF(cb);
}

static void stop_recording(void) {
    PyStackless_SetScheduleCallback(NULL);
    for (int i = 0; i < n_mains; i++) {
        Py_CLEAR(mains[i]);
    }
    n_mains = 0;
}

#define BEGIN()                                                                \
    do {                                                                       \
        trace_reset();                                                         \
        names_reset();                                                         \
    } while (0)

#define SPAWN(f, n) spawn_named((f), #f, (n), NULL)
#define SPAWN_WITH(f, n, extra) spawn_named((f), #f, (n), (extra))

/* Traces the pending exception as "<Type><args>" and clears it. */
static void trace_exception(const char *who) {
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *args = v ? PyObject_GetAttrString(v, "args") : NULL;
    PyObject *r = args ? PyObject_Repr(args) : NULL;
    trace("%s caught %s%s", who, t ? ((PyTypeObject *)t)->tp_name : "?", r ? PyUnicode_AsUTF8(r) : "?");
    Py_XDECREF(r);
    Py_XDECREF(args);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
}

/* step(name): "<name> start"; Schedule; "<name> end". */
static PyObject *step(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s start", n);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        trace("%s exit", n);
        return NULL;
    }
    Py_DECREF(r);
    trace("%s end", n);
    Py_RETURN_NONE;
}

/* pauser(name): "<name> start"; Schedule(None, 1); "<name> end". */
static PyObject *pauser(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s start", n);
    PyObject *r = PyStackless_Schedule(Py_None, 1);
    if (r == NULL) {
        trace("%s exit", n);
        return NULL;
    }
    Py_DECREF(r);
    trace("%s end", n);
    Py_RETURN_NONE;
}

/* blocker(name, ch): "<name> start"; Receive(ch); "<name> got <v>". */
static PyObject *blocker(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    trace("%s start", n);
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v == NULL) {
        trace("%s exit", n);
        return NULL;
    }
    PyObject *r = PyObject_Repr(v);
    trace("%s got %s", n, PyUnicode_AsUTF8(r));
    Py_DECREF(r);
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* catcher(name, ch): Receive(ch); traces the value or the exception. */
static PyObject *catcher(PyObject *self, PyObject *args) {
    (void)self;
    const char *n = arg_str(args, 0);
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v == NULL) {
        trace_exception(n);
        Py_RETURN_NONE;
    }
    PyObject *r = PyObject_Repr(v);
    trace("%s got %s", n, PyUnicode_AsUTF8(r));
    Py_DECREF(r);
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* never(name): must not run. */
static PyObject *never(PyObject *self, PyObject *args) {
    (void)self;
    trace("%s ran", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* ---- S62: auto-wrapping ------------------------------------------------ */

/* S62: sender A and receiver B, driven from outside by Schedule. */
static PyObject *s62_sender(PyObject *self, PyObject *args) {
    (void)self;
    trace("A start");
    PyObject *one = PyLong_FromLong(1);
    int rc = PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 1), one);
    Py_DECREF(one);
    if (rc < 0) {
        return NULL;
    }
    trace("A end");
    Py_RETURN_NONE;
}

static PyObject *s62_receiver(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *v = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 1));
    if (v == NULL) {
        return NULL;
    }
    trace("B got %ld", PyLong_AsLong(v));
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* S62 */
TEST(outside_schedule_loop) {
    BEGIN();
    PyChannelObject *c = PyChannel_New(NULL);
    PyTaskletObject *a = SPAWN_WITH(s62_sender, "A", (PyObject *)c);
    PyTaskletObject *b = SPAWN_WITH(s62_receiver, "B", (PyObject *)c);
    CHECK_INT(PyStackless_GetRunCount(), 2);
    record();
    int loops = 0, failed = 0;
    while (PyStackless_GetRunCount() > 0 && loops < 10) {
        PyObject *r = PyStackless_Schedule(Py_None, 0);
        failed += r != Py_None;
        Py_XDECREF(r);
        loops++;
    }
    CHECK_TRACE("(NULL>M1) (M1>A) A start (A>B) B got 1 (B>M1) (NULL>M2) (M2>A) A end (A>M2)");
    CHECK_INT(n_mains, 2);
    CHECK(mains[0] != mains[1]);
    CHECK_INT(PyTasklet_Alive((PyTaskletObject *)mains[0]), 0);
    CHECK_INT(PyTasklet_IsMain((PyTaskletObject *)mains[1]), 0);
    stop_recording();
    CHECK_INT(failed, 0);
    CHECK_INT(loops, 2);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_NO_ERROR();
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
}

/* §7.2, §6.5: the queries from outside. */
TEST(outside_queries) {
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK(PyStackless_GetMain() == NULL);
    CHECK_NO_ERROR();
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK(PyStackless_GetCurrentId() == (long)PyThread_get_thread_ident());
    PyObject *info = PyStackless_GetThreadInfo(-1);
    CHECK(info != NULL);
    CHECK_REPR(info, "(None, None, 0)");
    Py_DECREF(info);
}

/* §7.2: RunWatchdog(0) from outside runs the ring until it is empty. */
TEST(outside_run_watchdog) {
    BEGIN();
    PyTaskletObject *a = SPAWN(step, "A"), *b = SPAWN(straight, "B");
    record();
    PyObject *r = PyStackless_RunWatchdog(0);
    stop_recording();
    CHECK_NONE(r);
    CHECK_TRACE("(NULL>M1) (M1>A) A start (A>B) B start B end (B>A) A end (A>M1)");
    CHECK_INT(PyStackless_GetRunCount(), 0);
    Py_DECREF(a);
    Py_DECREF(b);
}

/* ticks(name): 100 ticks, then "<name> done". */
static PyObject *ticks(PyObject *self, PyObject *args) {
    (void)self;
    for (int i = 0; i < 100; i++) {
        if (PyStackless_Tick(1) < 0) {
            return NULL;
        }
    }
    trace("%s done", arg_str(args, 0));
    Py_RETURN_NONE;
}

/* §7.2: a timed run from outside returns the interrupted tasklet; it stays
 * paused outside until inserted. */
TEST(outside_timed_run) {
    BEGIN();
    PyTaskletObject *t = SPAWN(ticks, "T");
    PyObject *r = PyStackless_RunWatchdog(10);
    CHECK_PTR(r, t);
    Py_DECREF(r);
    CHECK_INT(PyTasklet_Paused(t), 1);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_INT(PyTasklet_Insert(t), 0);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("T done");
    CHECK_INT(PyTasklet_Alive(t), 0);
    Py_DECREF(t);
}

/* §5.1 from outside: main alone, no switch, retval returned. */
TEST(outside_schedule_alone) {
    BEGIN();
    PyObject *rv = PyUnicode_FromString("rv");
    record();
    PyObject *r1 = PyStackless_Schedule(rv, 0);
    PyObject *r2 = PyStackless_Schedule(rv, 1);
    stop_recording();
    CHECK_PTR(r1, rv);
    CHECK_PTR(r2, rv);
    Py_DECREF(r1);
    Py_DECREF(r2);
    Py_DECREF(rv);
    CHECK_TRACE("(NULL>M1) (NULL>M2)");
    CHECK_INT(PyStackless_GetRunCount(), 0);
}

/* §7.2: Run and Switch from outside. */
TEST(outside_run_and_switch) {
    BEGIN();
    record();
    PyTaskletObject *t = SPAWN(straight, "T");
    int rc1 = PyTasklet_Run(t);
    PyTaskletObject *u = SPAWN(straight, "U");
    int rc2 = PyTasklet_Switch(u);
    stop_recording();
    CHECK_INT(rc1, 0);
    CHECK_INT(rc2, 0);
    CHECK_TRACE("(NULL>M1) (M1>T) T start T end (T>M1) (NULL>M2) (M2>U) U start U end (U>M2)");
    CHECK_INT(PyStackless_GetRunCount(), 0);
    Py_DECREF(t);
    Py_DECREF(u);
}

/* §7.2: Kill and Throw from outside; an uncaught error goes to the
 * temporary main, so the call fails with it. */
TEST(outside_kill_and_throw) {
    BEGIN();
    PyTaskletObject *p = SPAWN(pauser, "P");
    CHECK_INT(PyTasklet_Run(p), 0);
    PyTaskletObject *q = SPAWN(pauser, "Q");
    CHECK_INT(PyTasklet_Run(q), 0);
    CHECK_INT(PyTasklet_Paused(p), 1);
    CHECK_INT(PyTasklet_Paused(q), 1);
    CHECK_INT(PyTasklet_Kill(p), 0);
    CHECK_INT(PyTasklet_Alive(p), 0);
    PyObject *text = PyUnicode_FromString("thrown");
    int rc = PyTasklet_Throw(q, 0, PyExc_IndexError, text, NULL);
    Py_DECREF(text);
    CHECK_INT(rc, -1);
    CHECK_ERROR(PyExc_IndexError, "thrown");
    CHECK_INT(PyTasklet_Alive(q), 0);
    CHECK_TRACE("P start Q start P exit Q exit");
    CHECK_INT(PyStackless_GetRunCount(), 0);
    Py_DECREF(p);
    Py_DECREF(q);
}

/* §7.2: a blocking operation from outside behaves as if main blocked. */
TEST(outside_blocking_is_a_deadlock) {
    PyChannelObject *c = PyChannel_New(NULL);
    CHECK(PyChannel_Receive(c) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Deadlock: the last runnable tasklet cannot be blocked.");
    PyObject *v = PyUnicode_FromString("v");
    CHECK_INT(PyChannel_Send(c, v), -1);
    CHECK_ERROR(PyExc_RuntimeError, "Deadlock: the last runnable tasklet cannot be blocked.");
    Py_DECREF(v);
    CHECK_INT(PyChannel_GetBalance(c), 0);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    Py_DECREF(c);
}

/* §7.2, §10 bug 11: Send from outside returns 0, as inside. */
TEST(outside_send_returns_zero) {
    BEGIN();
    PyChannelObject *c = PyChannel_New(NULL);
    PyTaskletObject *r = SPAWN_WITH(blocker, "R", (PyObject *)c);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyChannel_GetBalance(c), -1);
    PyObject *v = PyUnicode_FromString("v");
    CHECK_INT(PyChannel_Send(c, v), 0);
    CHECK_NO_ERROR();
    Py_DECREF(v);
    CHECK_TRACE("R start R got 'v'");
    CHECK_INT(PyTasklet_Alive(r), 0);
    CHECK_INT(PyChannel_GetBalance(c), 0);
    Py_DECREF(r);
    Py_DECREF(c);
}

/* §7.2, §10 bug 12: SendException and RaiseException from outside use an
 * argument tuple as the arguments, as inside. */
TEST(outside_exception_arguments) {
    BEGIN();
    PyChannelObject *c = PyChannel_New(NULL);
    PyTaskletObject *r = SPAWN_WITH(catcher, "R", (PyObject *)c);
    CHECK_INT(PyTasklet_Run(r), 0);
    PyObject *one = Py_BuildValue("(s)", "one");
    CHECK_INT(PyChannel_SendException(c, PyExc_ValueError, one), 0);
    CHECK_TRACE("R caught ValueError('one',)");
    Py_DECREF(r);

    r = SPAWN_WITH(catcher, "S", (PyObject *)c);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyTasklet_RaiseException(r, PyExc_ValueError, one), 0);
    CHECK_TRACE("R caught ValueError('one',) S caught ValueError('one',)");
    Py_DECREF(r);

    PyObject *empty = PyTuple_New(0);
    r = SPAWN_WITH(catcher, "T", (PyObject *)c);
    CHECK_INT(PyTasklet_Run(r), 0);
    CHECK_INT(PyTasklet_RaiseException(r, PyExc_ValueError, empty), 0);
    CHECK_TRACE("R caught ValueError('one',) S caught ValueError('one',) T caught ValueError()");
    Py_DECREF(r);
    Py_DECREF(empty);
    Py_DECREF(one);
    CHECK_INT(PyChannel_GetBalance(c), 0);
    Py_DECREF(c);
}

/* §7.2, §10 bug 5: BindEx with arguments from outside leaves the tasklet
 * paused, as inside. */
TEST(outside_bind_with_arguments) {
    BEGIN();
    PyObject *f = cfunc(straight);
    PyTaskletObject *t = PyTasklet_New(NULL, NULL);
    name_object(t, "T");
    PyObject *args = Py_BuildValue("(s)", "T");
    CHECK_INT(PyTasklet_BindEx(t, f, args, NULL), 0);
    Py_DECREF(args);
    Py_DECREF(f);
    CHECK_INT(PyTasklet_Alive(t), 1);
    CHECK_INT(PyTasklet_Paused(t), 1);
    CHECK_INT(PyTasklet_Scheduled(t), 0);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    CHECK_INT(PyTasklet_Run(t), 0);
    CHECK_TRACE("T start T end");
    Py_DECREF(t);
}

/* §7.2: a pending kill from outside makes the victim runnable; it dies
 * when it is reached. */
TEST(outside_pending_kill) {
    BEGIN();
    PyTaskletObject *p = SPAWN(pauser, "P");
    CHECK_INT(PyTasklet_Run(p), 0);
    CHECK_INT(PyTasklet_KillEx(p, 1), 0);
    CHECK_TRACE("P start");
    CHECK_INT(PyTasklet_Scheduled(p), 1);
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("P start P exit");
    CHECK_INT(PyTasklet_Alive(p), 0);
    Py_DECREF(p);
}

/* §7.2 / §5.2 step 1: the flags are checked before a main is made. */
TEST(outside_flags_error_makes_no_main) {
    BEGIN();
    record();
    PyObject *r = PyStackless_RunWatchdogEx(0, 256);
    stop_recording();
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_ValueError, "flags must be in [0..255]");
    CHECK_TRACE("");
}

/* ---- PyStackless_Call_Main (§7.3) ------------------------------------- */

static PyObject *body(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    trace("body");
    Py_RETURN_NONE;
}

TEST(call_main_within_main) {
    PyObject *f = cfunc(body);
    CHECK(PyStackless_Call_Main(f, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Call_Main cannot run within a main tasklet");
    CHECK(PyStackless_Call_Main(NULL, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Call_Main cannot run within a main tasklet");
    Py_DECREF(f);
    CHECK_TRACE("");
}

TEST(call_main_not_callable) {
    BEGIN();
    record();
    PyObject *five = PyLong_FromLong(5);
    PyObject *r1 = PyStackless_Call_Main(NULL, NULL, NULL);
    CHECK_ERROR(PyExc_TypeError, "cframe function must be a callable");
    PyObject *r2 = PyStackless_Call_Main(five, NULL, NULL);
    CHECK_ERROR(PyExc_TypeError, "cframe function must be a callable");
    stop_recording();
    Py_DECREF(five);
    CHECK(r1 == NULL);
    CHECK(r2 == NULL);
    CHECK_TRACE("");
}

/* §7.3 step 2: an exception set on entry: NULL at once, left set. */
TEST(call_main_with_exception_set) {
    BEGIN();
    record();
    PyObject *f = cfunc(body);
    PyErr_SetString(PyExc_IndexError, "before");
    PyObject *r = PyStackless_Call_Main(f, NULL, NULL);
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_IndexError, "before");
    /* The callable check comes first. */
    PyErr_SetString(PyExc_IndexError, "before");
    r = PyStackless_Call_Main(NULL, NULL, NULL);
    stop_recording();
    Py_DECREF(f);
    CHECK(r == NULL);
    CHECK_ERROR(PyExc_TypeError, "cframe function must be a callable");
    CHECK_TRACE("");
    CHECK(PyStackless_GetMain() == NULL);
}

static PyObject *echo(PyObject *self, PyObject *args, PyObject *kwds) {
    (void)self;
    return Py_BuildValue("(OO)", args, kwds ? kwds : Py_None);
}

static PyMethodDef echo_def = {"echo", (PyCFunction)(void (*)(void))echo, METH_VARARGS | METH_KEYWORDS, NULL};

/* §7.3: arguments and keywords are passed; the result is returned. */
TEST(call_main_arguments_and_result) {
    PyObject *f = PyCFunction_New(&echo_def, NULL);
    PyObject *args = Py_BuildValue("(si)", "a", 1);
    PyObject *kwds = PyDict_New();
    PyObject *two = PyLong_FromLong(2);
    PyDict_SetItemString(kwds, "k", two);
    Py_DECREF(two);
    PyObject *r = PyStackless_Call_Main(f, args, kwds);
    CHECK(r != NULL);
    CHECK_REPR(r, "(('a', 1), {'k': 2})");
    CHECK_INT(Py_REFCNT(r), 1);
    Py_DECREF(r);
    r = PyStackless_Call_Main(f, NULL, NULL);
    CHECK(r != NULL);
    CHECK_REPR(r, "((), None)");
    Py_DECREF(r);
    /* Not a tuple / not a dict: CPython's TypeError, as for every call
     * whose arguments come in separately (PyTasklet_Setup too). */
    CHECK(PyStackless_Call_Main(f, kwds, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "argument list must be a tuple");
    CHECK(PyStackless_Call_Main(f, args, args) == NULL);
    CHECK_ERROR(PyExc_TypeError, "keyword list must be a dictionary");
    Py_DECREF(args);
    Py_DECREF(kwds);
    Py_DECREF(f);
}

static PyObject *raise_in_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyErr_SetString(PyExc_IndexError, "from main");
    return NULL;
}

/* §7.3 step 6: the exception main ends with. */
TEST(call_main_returns_the_exception) {
    PyObject *f = cfunc(raise_in_main);
    CHECK(PyStackless_Call_Main(f, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_IndexError, "from main");
    Py_DECREF(f);
    CHECK(PyStackless_GetMain() == NULL);
    CHECK_INT(PyStackless_GetRunCount(), 0);
}

static PyObject *raise_zero_division(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyErr_SetString(PyExc_ZeroDivisionError, "zde");
    return NULL;
}

static PyObject *run_a_failing_tasklet(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *t = spawn(raise_zero_division);
    PyObject *r = PyStackless_RunWatchdog(0);
    Py_DECREF(t);
    return r;
}

/* §7.3 step 4: main receives uncaught errors of other tasklets. */
TEST(call_main_receives_uncaught_errors) {
    PyObject *f = cfunc(run_a_failing_tasklet);
    CHECK(PyStackless_Call_Main(f, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_ZeroDivisionError, "zde");
    Py_DECREF(f);
}

static PyTaskletObject *killer;

static PyObject *main_gets_killed(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    killer = spawn(kill_main);
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        trace("main %s", PyErr_ExceptionMatches(PyExc_TaskletExit) ? "TaskletExit" : "?");
    }
    return r;
}

/* §2.4, §5.5: TaskletExit is not swallowed for main; the killer stays in
 * the ring that main leaves behind. */
TEST(call_main_killed) {
    BEGIN();
    PyObject *f = cfunc(main_gets_killed);
    CHECK(PyStackless_Call_Main(f, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_TaskletExit, "");
    Py_DECREF(f);
    CHECK_TRACE("kills main TaskletExit");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyTasklet_Scheduled(killer), 1);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("kills main TaskletExit after");
    CHECK_INT(PyTasklet_Alive(killer), 0);
    Py_CLEAR(killer);
}

static PyObject *return_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyStackless_GetCurrent();
}

static PyObject *observe_fresh_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *m = (PyTaskletObject *)PyStackless_GetMain();
    PyObject *cur = PyStackless_GetCurrent();
    PyObject *tempval = PyTasklet_GetTempval(m);
    trace("current=%d main=%d alive=%d scheduled=%d paused=%d atomic=%d ignore_nesting=%d block_trap=%d "
          "tempval=%s runcount=%d same_thread=%d id_is_thread=%d",
          cur == (PyObject *)m, PyTasklet_IsMain(m), PyTasklet_Alive(m), PyTasklet_Scheduled(m),
          PyTasklet_Paused(m), PyTasklet_GetAtomic(m), PyTasklet_GetIgnoreNesting(m), PyTasklet_GetBlockTrap(m),
          tempval == Py_None ? "None" : "?", PyStackless_GetRunCount(),
          PyTasklet_GetThreadId(m) == (long)PyThread_get_thread_ident(),
          PyStackless_GetCurrentId() == (long)PyThread_get_thread_ident());
    Py_XDECREF(tempval);
    Py_XDECREF(cur);
    Py_XDECREF(m);
    Py_RETURN_NONE;
}

/* §7.3 step 3: the new main: flags 0, tempval None, current, in the ring,
 * bound to this thread; its id is the thread id (§6.5). */
TEST(call_main_fresh_main) {
    BEGIN();
    PyObject *f = cfunc(observe_fresh_main);
    CHECK_NONE(PyStackless_Call_Main(f, NULL, NULL));
    Py_DECREF(f);
    CHECK_TRACE("current=1 main=1 alive=1 scheduled=1 paused=0 atomic=0 ignore_nesting=0 block_trap=0 "
                "tempval=None runcount=1 same_thread=1 id_is_thread=1");
}

/* §7.3 step 5: the old main is dead afterwards. */
TEST(call_main_old_main_is_dead) {
    PyObject *f = cfunc(return_main);
    PyTaskletObject *m = (PyTaskletObject *)PyStackless_Call_Main(f, NULL, NULL);
    Py_DECREF(f);
    CHECK(m != NULL);
    CHECK(PyTasklet_Check(m));
    CHECK_INT(PyTasklet_Alive(m), 0);
    CHECK_INT(PyTasklet_IsMain(m), 0);
    CHECK_INT(PyTasklet_IsCurrent(m), 0);
    CHECK_INT(PyTasklet_Scheduled(m), 0);
    CHECK_INT(PyTasklet_Paused(m), 0);
    CHECK_INT(PyTasklet_Run(m), -1);
    CHECK_ERROR(PyExc_RuntimeError, "You cannot run an unbound(dead) tasklet");
    CHECK_INT(PyTasklet_Kill(m), 0);
    CHECK_INT(Py_REFCNT(m), 1);
    Py_DECREF(m);
}

static PyTaskletObject *left_behind;

static PyObject *leave_one_behind(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *a = Py_BuildValue("(s)", "X");
    left_behind = spawn_with(never, a);
    Py_DECREF(a);
    Py_RETURN_NONE;
}

/* §7.3 step 5: main's end leaves the rest of the ring untouched, nothing
 * runs; outside, no tasklet is current (§10 bug 10 not copied). */
TEST(call_main_leaves_the_ring) {
    BEGIN();
    PyObject *f = cfunc(leave_one_behind);
    CHECK_NONE(PyStackless_Call_Main(f, NULL, NULL));
    Py_DECREF(f);
    CHECK_TRACE("");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_INT(PyTasklet_Scheduled(left_behind), 1);
    CHECK_INT(PyTasklet_IsCurrent(left_behind), 0);
    CHECK_INT(PyTasklet_Alive(left_behind), 1);
    CHECK(PyStackless_GetCurrent() == NULL);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("X ran");
    CHECK_INT(PyStackless_GetRunCount(), 0);
    Py_CLEAR(left_behind);
}

/* ---- PyStackless_CallMethod_Main (§7.4) -------------------------------- */

static PyObject *greet(PyObject *self, PyObject *args) {
    const char *who;
    PyObject *first = PyTuple_GetItem(args, 0);
    if (first == NULL) {
        return NULL;
    }
    who = PyUnicode_AsUTF8(first);
    PyTaskletObject *cur = (PyTaskletObject *)PyStackless_GetCurrent();
    PyObject *r = Py_BuildValue("(sisn)", who, PyTasklet_IsMain(cur), Py_TYPE(self)->tp_name, PyTuple_Size(args));
    Py_XDECREF(cur);
    return r;
}

static PyMethodDef greeter_methods[] = {
    {"greet", greet, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Greeter_Type;

static PyObject *new_greeter(void) {
    if (Greeter_Type.tp_name != NULL) {
        return PyType_GenericNew(&Greeter_Type, NULL, NULL);
    }
    Greeter_Type.tp_name = "Greeter";
    Greeter_Type.tp_basicsize = sizeof(PyObject);
    Greeter_Type.tp_methods = greeter_methods;
    Greeter_Type.tp_new = PyType_GenericNew;
    if (PyType_Ready(&Greeter_Type) < 0) {
        return NULL;
    }
    return PyType_GenericNew(&Greeter_Type, NULL, NULL);
}

static PyObject *echo_varargs(PyObject *self, PyObject *args) {
    (void)self;
    Py_INCREF(args);
    return args;
}

TEST(call_method_main) {
    PyObject *g = new_greeter();
    CHECK(g != NULL);
    PyObject *r = PyStackless_CallMethod_Main(g, "greet", "(s)", "bob");
    CHECK(r != NULL);
    CHECK_REPR(r, "('bob', 1, 'Greeter', 1)");
    Py_DECREF(r);
    /* A single non-tuple value is wrapped in a 1-tuple. */
    r = PyStackless_CallMethod_Main(g, "greet", "s", "amy");
    CHECK(r != NULL);
    CHECK_REPR(r, "('amy', 1, 'Greeter', 1)");
    Py_DECREF(r);
    r = PyStackless_CallMethod_Main(g, "greet", "si", "al", 7);
    CHECK(r != NULL);
    CHECK_REPR(r, "('al', 1, 'Greeter', 2)");
    Py_DECREF(r);
    /* Errors of the method come back. */
    CHECK(PyStackless_CallMethod_Main(g, "greet", NULL) == NULL);
    CHECK_ERROR(PyExc_IndexError, NULL);
    Py_DECREF(g);
}

/* §7.4: name NULL calls o itself; NULL or empty format means (). */
TEST(call_method_main_without_name) {
    PyObject *f = cfunc(echo_varargs);
    PyObject *r = PyStackless_CallMethod_Main(f, NULL, NULL);
    CHECK(r != NULL);
    CHECK_REPR(r, "()");
    Py_DECREF(r);
    r = PyStackless_CallMethod_Main(f, NULL, "");
    CHECK(r != NULL);
    CHECK_REPR(r, "()");
    Py_DECREF(r);
    r = PyStackless_CallMethod_Main(f, NULL, "i", 5);
    CHECK(r != NULL);
    CHECK_REPR(r, "(5,)");
    Py_DECREF(r);
    r = PyStackless_CallMethod_Main(f, NULL, "(ii)", 1, 2);
    CHECK(r != NULL);
    CHECK_REPR(r, "(1, 2)");
    Py_DECREF(r);
    Py_DECREF(f);
}

/* §7.4 errors. */
TEST(call_method_main_errors) {
    CHECK(PyStackless_CallMethod_Main(NULL, "x", NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "null argument to internal routine");
    /* An exception already set is kept. */
    PyErr_SetString(PyExc_IndexError, "kept");
    CHECK(PyStackless_CallMethod_Main(NULL, "x", NULL) == NULL);
    CHECK_ERROR(PyExc_IndexError, "kept");
    /* A failed lookup is AttributeError(name), the original replaced. */
    PyObject *g = new_greeter();
    CHECK(PyStackless_CallMethod_Main(g, "nope", NULL) == NULL);
    CHECK_ERROR(PyExc_AttributeError, "nope");
    Py_DECREF(g);
    /* Not callable. */
    PyObject *e = PyObject_CallFunction(PyExc_IndexError, "s", "e");
    CHECK(e != NULL);
    CHECK(PyStackless_CallMethod_Main(e, "args", NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "call of non-callable attribute");
    Py_DECREF(e);
    PyObject *five = PyLong_FromLong(5);
    CHECK(PyStackless_CallMethod_Main(five, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "call of non-callable attribute");
    Py_DECREF(five);
    /* A format Py_BuildValue rejects: nothing is called. */
    PyObject *f = cfunc(echo_varargs);
    CHECK(PyStackless_CallMethod_Main(f, NULL, "(i", 1) == NULL);
    CHECK_ERROR(PyExc_SystemError, "unmatched paren in format");
    Py_DECREF(f);
    CHECK(PyStackless_GetMain() == NULL);
}

TEST(call_method_main_within_main) {
    PyObject *f = cfunc(echo_varargs);
    CHECK(PyStackless_CallMethod_Main(f, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Call_Main cannot run within a main tasklet");
    Py_DECREF(f);
}

/* ---- PyStackless_CallCMethod_Main (§7.5) ------------------------------- */

static PyObject *self_and_args(PyObject *self, PyObject *args) {
    PyTaskletObject *cur = (PyTaskletObject *)PyStackless_GetCurrent();
    PyObject *r = Py_BuildValue("(OOi)", self ? self : Py_None, args, PyTasklet_IsMain(cur));
    Py_XDECREF(cur);
    return r;
}

static PyMethodDef self_and_args_def = {"self_and_args", self_and_args, METH_VARARGS, NULL};
static PyMethodDef raise_def = {"raise_in_main", raise_in_main, METH_VARARGS, NULL};

TEST(call_cmethod_main) {
    PyObject *me = PyUnicode_FromString("me");
    PyObject *r = PyStackless_CallCMethod_Main(&self_and_args_def, me, "(ii)", 1, 2);
    CHECK(r != NULL);
    CHECK_REPR(r, "('me', (1, 2), 1)");
    Py_DECREF(r);
    r = PyStackless_CallCMethod_Main(&self_and_args_def, NULL, NULL);
    CHECK(r != NULL);
    CHECK_REPR(r, "(None, (), 1)");
    Py_DECREF(r);
    r = PyStackless_CallCMethod_Main(&self_and_args_def, me, "s", "x");
    CHECK(r != NULL);
    CHECK_REPR(r, "('me', ('x',), 1)");
    Py_DECREF(r);
    CHECK_INT(Py_REFCNT(me), 1);
    Py_DECREF(me);
    CHECK(PyStackless_CallCMethod_Main(&raise_def, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_IndexError, "from main");
}

TEST(call_cmethod_main_within_main) {
    CHECK(PyStackless_CallCMethod_Main(&self_and_args_def, NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_RuntimeError, "Call_Main cannot run within a main tasklet");
}

/* ---- PyStackless_Finalize (§7.6) ----------------------------------------- */

static PyTaskletObject *fin[4]; /* P, R, N (B is only held by its channel) */

static PyObject *prepare_finalize(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyChannelObject *c = PyChannel_New(NULL);
    PyTaskletObject *p = SPAWN(pauser, "P");
    PyTaskletObject *b = SPAWN_WITH(blocker, "B", (PyObject *)c);
    PyTaskletObject *r = SPAWN(step, "R");
    PyTaskletObject *n = SPAWN(never, "N");
    Py_DECREF(c);
    /* Suspend them in the order R, B, P (not their creation order), with
     * the never-started N right behind R in the ring. */
    int rc = PyTasklet_Remove(p);
    rc |= PyTasklet_Remove(b);
    rc |= PyTasklet_Remove(n);
    rc |= PyTasklet_Run(r);
    rc |= PyTasklet_Insert(n);
    rc |= PyTasklet_Insert(b);
    rc |= PyTasklet_Run(b);
    rc |= PyTasklet_Insert(p);
    rc |= PyTasklet_Run(p);
    Py_DECREF(b);
    fin[0] = p;
    fin[1] = r;
    fin[2] = n;
    if (rc != 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Runs `prepare` in a main tasklet (it traces `before` and leaves
 * `runcount` runnables), finalizes (the trace is then `after`), and checks
 * that the `n` tasklets `prepare` left in `fin` are dead and unscheduled,
 * releasing them. */
static void check_finalize(PyCFunction prepare, const char *before, int runcount, const char *after,
                           int n) {
    BEGIN();
    PyObject *f = cfunc_named(prepare, "prepare");
    CHECK_NONE(PyStackless_Call_Main(f, NULL, NULL));
    Py_DECREF(f);
    CHECK_TRACE(before);
    CHECK_INT(PyStackless_GetRunCount(), runcount);
    CHECK_INT(PyStackless_Finalize(), 0);
    CHECK_NO_ERROR();
    CHECK_TRACE(after);
    CHECK_INT(PyStackless_GetRunCount(), 0);
    for (int i = 0; i < n; i++) {
        CHECK_INT(PyTasklet_Alive(fin[i]), 0);
        CHECK_INT(PyTasklet_Scheduled(fin[i]), 0);
        Py_CLEAR(fin[i]);
    }
}

/* §7.6: started tasklets are killed, longest-suspended first; not-started
 * ones are dropped without running; the state is released. */
TEST(finalize_kill_order) {
    check_finalize(prepare_finalize, "R start B start P start", 2,
                   "R start B start P start R exit B exit P exit", 3);
}

/* E starts, then A; E ends; B starts in the place E left among the started
 * tasklets. A and B are killed at finalization, each once, in the order
 * they were suspended. */
static PyObject *prepare_reused_place(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyTaskletObject *e = SPAWN(step, "E");
    fin[0] = SPAWN(pauser, "A");
    int rc = schedule();
    rc |= schedule();
    fin[1] = SPAWN(pauser, "B");
    rc |= schedule();
    rc |= PyTasklet_Alive(e) != 0;
    Py_DECREF(e);
    if (rc != 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

TEST(finalize_kills_a_tasklet_started_in_the_place_of_an_ended_one) {
    check_finalize(prepare_reused_place, "E start A start E end B start", 0,
                   "E start A start E end B start A exit B exit", 2);
}

static int worker_done;

static PyObject *worker(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *r = PyStackless_Schedule(Py_None, 0);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    worker_done = 1;
    Py_RETURN_NONE;
}

static PyObject *runner(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *r = PyStackless_RunWatchdog(0);
    if (r == NULL) {
        trace("runner run failed: %s", PyErr_ExceptionMatches(PyExc_TaskletExit) ? "TaskletExit" : "?");
        return NULL;
    }
    trace("runner run returned");
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* S47's situation at the end of main: a worker R sits in run(). */
static PyObject *leave_a_watchdog(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    worker_done = 0;
    PyTaskletObject *w = spawn(worker);
    fin[1] = spawn(runner);
    while (!worker_done) {
        PyObject *r = PyStackless_Schedule(Py_None, 0);
        if (r == NULL) {
            Py_DECREF(w);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_DECREF(w);
    Py_RETURN_NONE;
}

/* §7.6: a tasklet paused inside run() is killed too: its run() fails. */
TEST(finalize_kills_a_watchdog) {
    BEGIN();
    PyObject *f = cfunc(leave_a_watchdog);
    CHECK_NONE(PyStackless_Call_Main(f, NULL, NULL));
    Py_DECREF(f);
    CHECK_INT(PyTasklet_Paused(fin[1]), 1);
    CHECK_INT(PyStackless_Finalize(), 0);
    CHECK_TRACE("runner run failed: TaskletExit");
    CHECK_INT(PyTasklet_Alive(fin[1]), 0);
    Py_CLEAR(fin[1]);
}

/* §7.6: afterwards the thread starts afresh; Finalize with nothing left
 * reports success. */
TEST(finalize_then_start_again) {
    BEGIN();
    CHECK_INT(PyStackless_Finalize(), 0);
    CHECK_INT(PyStackless_Finalize(), 0);
    PyTaskletObject *t = SPAWN(step, "T");
    CHECK_INT(PyStackless_GetRunCount(), 1);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    CHECK_TRACE("T start T end");
    Py_DECREF(t);
    CHECK_INT(PyStackless_Finalize(), 0);
    CHECK_INT(PyStackless_GetRunCount(), 0);
}

/* §7.6: a tasklet that was only set up is dropped without running. */
TEST(finalize_drops_not_started) {
    BEGIN();
    PyTaskletObject *n = SPAWN(never, "N");
    CHECK_INT(PyTasklet_Alive(n), 1);
    CHECK_INT(PyStackless_Finalize(), 0);
    CHECK_TRACE("");
    CHECK_INT(PyTasklet_Alive(n), 0);
    CHECK_INT(PyTasklet_Scheduled(n), 0);
    CHECK_INT(Py_REFCNT(n), 1);
    Py_DECREF(n);
}

/* Project decision: Finalize inside a main tasklet is refused. */
TEST(finalize_inside_main) {
    CHECK_INT(PyStackless_Finalize(), -1);
    CHECK_ERROR(PyExc_RuntimeError, "PyStackless_Finalize must be called outside of a main tasklet");
    CHECK_INT(PyStackless_GetRunCount(), 1);
}

/* ---- Py_UnwindToken (§8.6) -------------------------------------------- */

TEST(unwind_token) {
    CHECK(Py_UnwindToken != NULL);
    CHECK_INT(STACKLESS_UNWINDING(Py_UnwindToken), 1);
    CHECK_INT(STACKLESS_UNWINDING(Py_None), 0);
}

/* §8: the _nr variants switch hard and return 0 / the value, never the
 * token. */
TEST(nr_variants_never_unwind) {
    BEGIN();
    PyChannelObject *c = PyChannel_New(NULL);
    PyTaskletObject *a = SPAWN(step, "A");
    PyObject *rv = PyUnicode_FromString("rv");
    PyObject *r = PyStackless_Schedule_nr(rv, 0);
    CHECK_PTR(r, rv);
    Py_DECREF(r);
    CHECK_TRACE("A start");
    PyTaskletObject *b = SPAWN_WITH(blocker, "B", (PyObject *)c);
    CHECK_INT(PyTasklet_Run_nr(b), 0);
    CHECK_INT(PyChannel_Send_nr(c, rv), 0);
    CHECK_TRACE("A start B start B got 'rv' A end");
    PyTaskletObject *s = SPAWN(step, "S");
    CHECK_INT(PyTasklet_Switch_nr(s), 0);
    CHECK_TRACE("A start B start B got 'rv' A end S start S end");
    Py_DECREF(rv);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(s);
    Py_DECREF(c);
}

static PyObject *send_one(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *one = PyLong_FromLong(1);
    int rc = PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 1), one);
    Py_DECREF(one);
    return rc < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
}

TEST(receive_nr_returns_the_value) {
    BEGIN();
    PyChannelObject *c = PyChannel_New(NULL);
    PyTaskletObject *s = SPAWN_WITH(send_one, "S", (PyObject *)c);
    PyObject *v = PyChannel_Receive_nr(c);
    CHECK(v != NULL);
    CHECK(!STACKLESS_UNWINDING(v));
    CHECK_INT(PyLong_AsLong(v), 1);
    Py_DECREF(v);
    CHECK_NONE(PyStackless_RunWatchdog(0));
    Py_DECREF(s);
    Py_DECREF(c);
}

int main(void) {
    RUN(outside_schedule_loop);
    RUN(outside_queries);
    RUN(outside_run_watchdog);
    RUN(outside_timed_run);
    RUN(outside_schedule_alone);
    RUN(outside_run_and_switch);
    RUN(outside_kill_and_throw);
    RUN(outside_blocking_is_a_deadlock);
    RUN(outside_send_returns_zero);
    RUN(outside_exception_arguments);
    RUN(outside_bind_with_arguments);
    RUN(outside_pending_kill);
    RUN(outside_flags_error_makes_no_main);
    RUN_INSIDE(call_main_within_main);
    RUN(call_main_not_callable);
    RUN(call_main_with_exception_set);
    RUN(call_main_arguments_and_result);
    RUN(call_main_returns_the_exception);
    RUN(call_main_receives_uncaught_errors);
    RUN(call_main_killed);
    RUN(call_main_fresh_main);
    RUN(call_main_old_main_is_dead);
    RUN(call_main_leaves_the_ring);
    RUN(call_method_main);
    RUN(call_method_main_without_name);
    RUN(call_method_main_errors);
    RUN_INSIDE(call_method_main_within_main);
    RUN(call_cmethod_main);
    RUN_INSIDE(call_cmethod_main_within_main);
    RUN(finalize_kill_order);
    RUN(finalize_kills_a_tasklet_started_in_the_place_of_an_ended_one);
    RUN(finalize_kills_a_watchdog);
    RUN(finalize_then_start_again);
    RUN(finalize_drops_not_started);
    RUN_INSIDE(finalize_inside_main);
    RUN(unwind_token);
    RUN_INSIDE(nr_variants_never_unwind);
    RUN_INSIDE(receive_nr_returns_the_value);
    PyStackless_Finalize();
    return harness_summary("test_outside");
}
