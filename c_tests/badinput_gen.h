/*
 * The runtime of the bad-input test that c_tests/badinput_gen.py generates
 * from include/stackless.h: the objects and fixtures its table names, and
 * the loop that runs every call in a forked child and judges the outcome.
 *
 * The generated file includes this header first, then defines the tables
 * of the functions, exc_class() and make_arg(), and calls badinput_main().
 * Each call runs twice, in a fresh child each time: outside (no main
 * tasklet) and inside (from the function of PyStackless_Call_Main). The
 * child builds the arguments, makes the call, writes what happened into
 * memory shared with the parent and ends with _exit() (no leak check, no
 * finalisation: only the call is judged). A child that dies (signal,
 * sanitizer report) or hangs (alarm) before it has written its outcome
 * crashed. The parent prints one PASSED/FAILED line per function and
 * context, and under a FAILED line one indented line per call that went
 * wrong.
 */
#ifndef STACKLESS_TEST_BADINPUT_GEN_H
#define STACKLESS_TEST_BADINPUT_GEN_H

#define _DEFAULT_SOURCE
#include <stackless.h>

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
#include <unistd.h>

/* A call that has not returned after this many seconds hangs. */
#define BADINPUT_ALARM_S 5
#define BADINPUT_MAX_ARGS 8

/* ---- Arguments -------------------------------------------------------- */

union arg {
    void *p;
    void (*fn)(void);
    long long i;
    unsigned long long u;
    double d;
};

/* Where an argument comes from: NULL, an integer or double literal, or a
 * C expression of the table (case `expr` of the generated make_arg()). */
enum source_kind { SRC_NULL, SRC_EXPR, SRC_INT, SRC_UINT, SRC_DOUBLE };

struct source {
    enum source_kind kind;
    int expr;
    long long i;
    unsigned long long u;
    double d;
};

/* ---- Expectations -------------------------------------------------------- */

enum expect_kind {
    EXPECT_FAIL,     /* the failure value and a matching exception */
    EXPECT_SETS,     /* (void) a matching exception is set */
    EXPECT_VALUE,    /* exactly `value`, no exception */
    EXPECT_OK,       /* not the failure value, no exception */
    EXPECT_ANY,      /* failure value and exception, or neither */
    EXPECT_NO_CRASH, /* returns */
};

struct expect {
    enum expect_kind kind;
    unsigned exc_mask;   /* bit k: exc_class(k) matches; 0: any class */
    const char *message; /* NULL: any; {type}/{repr}: of the bad argument */
    long long value;     /* EXPECT_VALUE; a pointer result compares as an integer */
};

struct variant {
    const char *label; /* "task=NULL", "size=-1", "(good arguments)" */
    int param;         /* the argument replaced by `bad`; -1: none */
    struct source bad;
    struct expect outside, inside;
};

struct outcome;

struct function {
    const char *name;
    int nargs;
    const struct source *good; /* one per argument */
    void (*call)(const union arg *a, struct outcome *o);
    const char *failure;       /* "NULL", "-1", ...; NULL: no failure value */
    const struct variant *variants;
    int nvariants;
};

/* Defined by the generated file: the exception class of bit `k` of an
 * exc_mask, and the value of the table's C expression number `expr`. */
static PyObject *exc_class(int k);
static void make_arg(int expr, union arg *a);

/* ---- What a child reports -------------------------------------------------- */

enum stage { STAGE_STARTED, STAGE_CALLING, STAGE_RETURNED, STAGE_DONE, STAGE_NO_FIXTURE };

struct outcome {
    enum stage stage;
    int is_failure;  /* the result is the function's failure value */
    long long value; /* the result as an integer (pointers: their address) */
    char result[64];
    int exc_set, exc_matches, message_matches;
    char exc_type[64];
    char exc_message[256];
    char expected_message[256];
    char fixture_error[400];
};

static void record_ptr(struct outcome *o, const void *r, int is_failure) {
    o->value = (long long)(intptr_t)r;
    o->is_failure = is_failure;
    if (r == NULL) {
        snprintf(o->result, sizeof o->result, "NULL");
    } else {
        snprintf(o->result, sizeof o->result, "%p", r);
    }
    o->stage = STAGE_RETURNED;
}

static void record_int(struct outcome *o, long long r, int is_failure) {
    o->value = r;
    o->is_failure = is_failure;
    snprintf(o->result, sizeof o->result, "%lld", r);
    o->stage = STAGE_RETURNED;
}

static void record_uint(struct outcome *o, unsigned long long r, int is_failure) {
    o->value = (long long)r;
    o->is_failure = is_failure;
    snprintf(o->result, sizeof o->result, "%llu", r);
    o->stage = STAGE_RETURNED;
}

static void record_double(struct outcome *o, double r, int is_failure) {
    o->value = (long long)r;
    o->is_failure = is_failure;
    snprintf(o->result, sizeof o->result, "%g", r);
    o->stage = STAGE_RETURNED;
}

static void record_void(struct outcome *o) {
    o->value = 0;
    o->is_failure = 0;
    snprintf(o->result, sizeof o->result, "(void)");
    o->stage = STAGE_RETURNED;
}

/* ---- Fixtures: the objects the table's C expressions name ------------------ */

static PyObject *return_none(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Py_RETURN_NONE;
}

static PyMethodDef noop_def = {"noop", return_none, METH_VARARGS, NULL};

static PyObject *new_cfunction(void) {
    return PyCFunction_New(&noop_def, NULL);
}

static PyObject *new_tasklet(void) {
    return (PyObject *)PyTasklet_New(NULL, NULL);
}

static PyObject *new_bound_tasklet(void) {
    PyObject *f = new_cfunction();
    PyObject *t = f == NULL ? NULL : (PyObject *)PyTasklet_New(NULL, f);
    Py_XDECREF(f);
    return t;
}

/* Bound, with its arguments, in the runnables (not started). */
static PyObject *new_runnable_tasklet(void) {
    PyObject *t = new_bound_tasklet(), *args = PyTuple_New(0);
    if (t != NULL && args != NULL && PyTasklet_Setup((PyTaskletObject *)t, args, NULL) == 0) {
        Py_DECREF(args);
        return t;
    }
    Py_XDECREF(args);
    Py_XDECREF(t);
    return NULL;
}

/* Bound, with its arguments, paused (not in the runnables). */
static PyObject *new_paused_tasklet(void) {
    PyObject *t = new_bound_tasklet(), *args = PyTuple_New(0);
    if (t != NULL && args != NULL && PyTasklet_BindEx((PyTaskletObject *)t, NULL, args, NULL) == 0) {
        Py_DECREF(args);
        return t;
    }
    Py_XDECREF(args);
    Py_XDECREF(t);
    return NULL;
}

static PyObject *receive_one(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *r = PyChannel_Receive((PyChannelObject *)PyTuple_GetItem(args, 0));
    if (r == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(r);
    Py_RETURN_NONE;
}

static PyObject *send_one(PyObject *self, PyObject *args) {
    (void)self;
    if (PyChannel_Send((PyChannelObject *)PyTuple_GetItem(args, 0), Py_None) < 0) {
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

static PyMethodDef receive_one_def = {"receive_one", receive_one, METH_VARARGS, NULL};
static PyMethodDef send_one_def = {"send_one", send_one, METH_VARARGS, NULL};

/* A channel with a tasklet blocked on it running `def` (which ignores an
 * exception it receives). */
static PyObject *new_channel_with(PyMethodDef *def) {
    PyChannelObject *ch = PyChannel_New(NULL);
    PyObject *f = PyCFunction_New(def, NULL);
    PyTaskletObject *t = f == NULL ? NULL : PyTasklet_New(NULL, f);
    PyObject *args = ch == NULL ? NULL : Py_BuildValue("(O)", (PyObject *)ch);
    int ok = t != NULL && args != NULL && PyTasklet_Setup(t, args, NULL) == 0 && PyTasklet_Run(t) == 0;
    Py_XDECREF(args);
    Py_XDECREF(t);
    Py_XDECREF(f);
    if (!ok) {
        Py_XDECREF(ch);
        return NULL;
    }
    return (PyObject *)ch;
}

static PyObject *new_receiving_channel(void) {
    return new_channel_with(&receive_one_def);
}

static PyObject *new_sending_channel(void) {
    return new_channel_with(&send_one_def);
}

/* A type to be readied (ob_type NULL, as a C extension writes it). */
static PyTypeObject fresh_type = {.tp_name = "badinput.Fresh", .tp_basicsize = sizeof(PyObject)};

/* Two types that are each other's base. */
static PyTypeObject cycle_a, cycle_b;

static PyTypeObject *new_cycle_type(void) {
    cycle_a.tp_name = "badinput.CycleA";
    cycle_a.tp_basicsize = sizeof(PyObject);
    cycle_a.tp_base = &cycle_b;
    cycle_b.tp_name = "badinput.CycleB";
    cycle_b.tp_basicsize = sizeof(PyObject);
    cycle_b.tp_base = &cycle_a;
    return &cycle_a;
}

/* A subtype of tasklet whose instances would be smaller than a tasklet. */
static PyTypeObject small_type = {
    .tp_name = "badinput.Small",
    .tp_basicsize = sizeof(PyObject),
    .tp_base = &PyTasklet_Type,
};

/* Subtypes of tasklet and channel that PyType_Ready never saw. */
static PyTypeObject unready_tasklet_type = {
    .tp_name = "badinput.UnreadyTasklet",
    .tp_basicsize = sizeof(PyTaskletObject),
    .tp_base = &PyTasklet_Type,
};

static PyTypeObject unready_channel_type = {
    .tp_name = "badinput.UnreadyChannel",
    .tp_basicsize = sizeof(PyChannelObject),
    .tp_base = &PyChannel_Type,
};

/* An object with one method, "m". */
static PyMethodDef with_method_methods[] = {
    {"m", return_none, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject with_method_type = {
    .tp_name = "badinput.WithMethod",
    .tp_basicsize = sizeof(PyObject),
    .tp_methods = with_method_methods,
};

static PyObject *new_object_with_method(void) {
    if (PyType_Ready(&with_method_type) < 0) {
        return NULL;
    }
    return PyType_GenericNew(&with_method_type, NULL, NULL);
}

/* WRITABLE_FD: the write end of a pipe nobody reads, open (and writable
 * while the pipe has room) from before main on, at a number fixed so that
 * the table can name it as an integer. */
#define WRITABLE_FD 100

__attribute__((constructor)) static void open_writable_fd(void) {
    int ends[2];
    if (pipe(ends) < 0 || dup2(ends[1], WRITABLE_FD) < 0) {
        perror("badinput: the writable fd");
        exit(2);
    }
}

/* Unbounded nesting: tuples in tuples, a Py_BuildValue format, a callable
 * that calls itself. DEEP is past any recursion limit; DEEP_FORMAT too,
 * and small enough that a parser that rescans the format for every level
 * still answers within the alarm. */
#define DEEP 100000
#define DEEP_FORMAT 10000

static PyObject *new_deep_tuple(void) {
    PyObject *t = PyTuple_New(0);
    for (int i = 0; i < DEEP && t != NULL; i++) {
        PyObject *outer = PyTuple_New(1);
        if (outer == NULL || PyTuple_SetItem(outer, 0, t) < 0) {
            Py_XDECREF(outer);
            return NULL;
        }
        t = outer;
    }
    return t;
}

static const char *deep_format(void) {
    static char format[2 * DEEP_FORMAT + 2];
    memset(format, '(', DEEP_FORMAT);
    format[DEEP_FORMAT] = 'i';
    memset(format + DEEP_FORMAT + 1, ')', DEEP_FORMAT);
    format[2 * DEEP_FORMAT + 1] = '\0';
    return format;
}

static PyObject *recursive_callable;

static PyObject *call_self(PyObject *self, PyObject *args) {
    (void)self;
    return PyObject_Call(recursive_callable, args, NULL);
}

static PyMethodDef call_self_def = {"call_self", call_self, METH_VARARGS, NULL};

static PyObject *new_recursive_callable(void) {
    recursive_callable = PyCFunction_New(&call_self_def, NULL);
    return recursive_callable;
}

/* A runnable tasklet on the smallest stack whose function calls itself. */
static PyObject *new_recursive_tasklet(void) {
    PyStackless_SetStackSize(STACKLESS_MIN_STACK_SIZE);
    PyObject *f = new_recursive_callable(), *args = PyTuple_New(0);
    PyTaskletObject *t = f == NULL ? NULL : PyTasklet_New(NULL, f);
    if (t != NULL && args != NULL && PyTasklet_Setup(t, args, NULL) == 0) {
        Py_DECREF(args);
        return (PyObject *)t;
    }
    Py_XDECREF(args);
    Py_XDECREF((PyObject *)t);
    return NULL;
}

/* An object whose reference count reached zero (for _Py_Dealloc). */
static PyObject *new_dying_object(void) {
    PyObject *o = PyLong_FromLong(123456789);
    if (o != NULL) {
        Py_REFCNT(o) = 0;
    }
    return o;
}

/* Memory for a `void *` or `char *` parameter. */
static char buffer[64];

/* A new reference to `o`, for a parameter that steals one. */
static PyObject *new_ref(PyObject *o) {
    Py_XINCREF(o);
    return o;
}

/* A slot for an out-parameter, holding `o` (NULL: nothing). */
static PyObject **new_slot_of(PyObject *o) {
    static PyObject *slots[BADINPUT_MAX_ARGS];
    static int used;
    PyObject **slot = &slots[used++ % BADINPUT_MAX_ARGS];
    *slot = o;
    return slot;
}

static PyObject **new_slot(void) {
    return new_slot_of(NULL);
}

static void capsule_destructor(PyObject *capsule) {
    (void)capsule;
}

static PyObject *new_capsule(void) {
    return PyCapsule_New(buffer, "badinput.cap", capsule_destructor);
}

static int fast_hook(PyTaskletObject *from, PyTaskletObject *to) {
    (void)from;
    (void)to;
    return 0;
}

static void exit_hook(int status) {
    (void)status;
}

/* ---- The child -------------------------------------------------------------- */

static struct outcome *shared;      /* MAP_SHARED: the child writes, the parent reads */
static const struct function *now_f;
static const struct variant *now_v;
static int now_inside;

static const struct expect *expectation(const struct variant *v, int inside) {
    return inside ? &v->inside : &v->outside;
}

static void build_arg(const struct source *s, union arg *a) {
    switch (s->kind) {
    case SRC_NULL:
        break;
    case SRC_EXPR:
        make_arg(s->expr, a);
        break;
    case SRC_INT:
        a->i = s->i;
        break;
    case SRC_UINT:
        a->u = s->u;
        break;
    case SRC_DOUBLE:
        a->d = s->d;
        break;
    }
}

/* The pending exception's class name and str(), and clears it. */
static void take_exception(char *type, size_t type_size, char *message, size_t message_size) {
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    snprintf(type, type_size, "%s", t == NULL ? "?" : ((PyTypeObject *)t)->tp_name);
    PyObject *s = v == NULL ? NULL : PyObject_Str(v);
    const char *text = s == NULL ? NULL : PyUnicode_AsUTF8(s);
    snprintf(message, message_size, "%s", text == NULL ? "<str() failed>" : text);
    Py_XDECREF(s);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    PyErr_Clear();
}

/* The expected message with {type} and {repr} of the bad argument. */
static void render_message(const char *template, PyObject *bad, char *out, size_t size) {
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = template; *p != '\0' && n + 1 < size;) {
        const char *insert = NULL;
        PyObject *repr = NULL;
        if (strncmp(p, "{type}", 6) == 0) {
            insert = bad == NULL ? "NULL" : Py_TYPE(bad)->tp_name;
            p += 6;
        } else if (strncmp(p, "{repr}", 6) == 0) {
            repr = PyObject_Repr(bad);
            insert = repr == NULL ? "<repr() failed>" : PyUnicode_AsUTF8(repr);
            p += 6;
        }
        if (insert != NULL) {
            n += (size_t)snprintf(out + n, size - n, "%s", insert);
            Py_XDECREF(repr);
        } else {
            out[n++] = *p++;
            out[n] = '\0';
        }
    }
}

static int exception_matches(unsigned mask) {
    if (mask == 0) {
        return 1;
    }
    for (int k = 0; mask >> k != 0; k++) {
        if ((mask >> k & 1) && PyErr_ExceptionMatches(exc_class(k))) {
            return 1;
        }
    }
    return 0;
}

/* Builds the arguments, makes the call, reports, and ends the child. */
static void run_call(void) {
    const struct function *f = now_f;
    const struct variant *v = now_v;
    const struct expect *e = expectation(v, now_inside);
    struct outcome *o = shared;
    union arg a[BADINPUT_MAX_ARGS];
    memset(a, 0, sizeof a);
    for (int i = 0; i < f->nargs; i++) {
        build_arg(i == v->param ? &v->bad : &f->good[i], &a[i]);
    }
    if (e->message != NULL) {
        render_message(e->message, v->param < 0 ? NULL : (PyObject *)a[v->param].p, o->expected_message,
                       sizeof o->expected_message);
    }
    if (PyErr_Occurred() != NULL) {
        char type[64], message[256];
        take_exception(type, sizeof type, message, sizeof message);
        snprintf(o->fixture_error, sizeof o->fixture_error, "%.63s: %.255s", type, message);
        o->stage = STAGE_NO_FIXTURE;
        _exit(0);
    }
    o->stage = STAGE_CALLING;
    f->call(a, o);
    o->exc_set = PyErr_Occurred() != NULL;
    if (o->exc_set) {
        o->exc_matches = exception_matches(e->exc_mask);
        take_exception(o->exc_type, sizeof o->exc_type, o->exc_message, sizeof o->exc_message);
        o->message_matches = e->message == NULL || strcmp(o->exc_message, o->expected_message) == 0;
    }
    o->stage = STAGE_DONE;
    _exit(0);
}

static PyObject *run_call_as_main(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    run_call();
    Py_RETURN_NONE;
}

static PyMethodDef run_call_as_main_def = {"run_call_as_main", run_call_as_main, METH_VARARGS, NULL};

static void child(void) {
    alarm(BADINPUT_ALARM_S);
    if (!now_inside) {
        run_call();
    }
    PyObject *body = PyCFunction_New(&run_call_as_main_def, NULL);
    PyObject *r = body == NULL ? NULL : PyStackless_Call_Main(body, NULL, NULL);
    char type[64] = "", message[256] = "";
    if (r == NULL && PyErr_Occurred() != NULL) {
        take_exception(type, sizeof type, message, sizeof message);
    }
    snprintf(shared->fixture_error, sizeof shared->fixture_error,
             "PyStackless_Call_Main returned without running the call: %.63s %.255s", type, message);
    shared->stage = STAGE_NO_FIXTURE;
    _exit(0);
}

/* ---- The parent ------------------------------------------------------------ */

static FILE *child_output; /* the child's stdout and stderr */

static const char *describe_expect(const struct expect *e, const struct function *f, const char *message,
                                   char *buf, size_t size) {
    char exc[320];
    if (e->message != NULL) {
        snprintf(exc, sizeof exc, "an exception (\"%s\")", message);
    } else {
        snprintf(exc, sizeof exc, "an exception");
    }
    if (e->exc_mask != 0) {
        size_t n = 0;
        char names[128] = "";
        for (int k = 0; e->exc_mask >> k != 0; k++) {
            if (e->exc_mask >> k & 1) {
                n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", n ? " or " : "",
                                      ((PyTypeObject *)exc_class(k))->tp_name);
            }
        }
        if (e->message != NULL) {
            snprintf(exc, sizeof exc, "%s(\"%s\")", names, message);
        } else {
            snprintf(exc, sizeof exc, "%s", names);
        }
    }
    switch (e->kind) {
    case EXPECT_FAIL:
        snprintf(buf, size, "expected %s with %s", f->failure, exc);
        break;
    case EXPECT_SETS:
        snprintf(buf, size, "expected %s set", exc);
        break;
    case EXPECT_VALUE:
        snprintf(buf, size, "expected %lld without exception", e->value);
        break;
    case EXPECT_OK:
        snprintf(buf, size, "expected success without exception");
        break;
    case EXPECT_ANY:
        snprintf(buf, size, "expected a failure with an exception or a success without one");
        break;
    case EXPECT_NO_CRASH:
        snprintf(buf, size, "expected no crash");
        break;
    }
    return buf;
}

/* What the child wrote about its crash: the first line of a sanitizer's
 * report or of the runtime's fatal error, else its first line. */
static const char *crash_line(char *buf, size_t size) {
    char line[512];
    buf[0] = '\0';
    rewind(child_output);
    while (fgets(line, (int)sizeof line, child_output) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        int names_error = strstr(line, "ERROR:") != NULL || strstr(line, "Fatal error") != NULL;
        if (names_error || buf[0] == '\0') {
            snprintf(buf, size, "%s", line);
        }
        if (names_error) {
            break;
        }
    }
    return buf;
}

/* What went wrong with the call (into buf), or NULL when it behaved. */
static const char *judge(const struct function *f, const struct expect *e, const struct outcome *o, int status,
                         char *buf, size_t size) {
    char exc[400] = "";
    if (o->exc_set) {
        snprintf(exc, sizeof exc, "%s(\"%s\")", o->exc_type, o->exc_message);
    }
    if (o->stage == STAGE_NO_FIXTURE) {
        snprintf(buf, size, "test setup failed: %s", o->fixture_error);
        return buf;
    }
    if (o->stage != STAGE_DONE) {
        char how[96], line[200];
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            snprintf(how, sizeof how, "hang: no return within %d s", BADINPUT_ALARM_S);
        } else if (WIFSIGNALED(status)) {
            snprintf(how, sizeof how, "crash: %s", strsignal(WTERMSIG(status)));
        } else {
            snprintf(how, sizeof how, "crash: exit status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        }
        crash_line(line, sizeof line);
        snprintf(buf, size, "%s%s%s%s%s", how,
                 o->stage == STAGE_RETURNED ? " after it returned " : "",
                 o->stage == STAGE_RETURNED ? o->result : "", line[0] ? " -- " : "", line);
        return buf;
    }
    const char *what = NULL;
    switch (e->kind) {
    case EXPECT_FAIL:
        what = !o->is_failure ? "wrong success"
               : !o->exc_set  ? "failure without exception"
               : !o->exc_matches ? "wrong exception type"
               : !o->message_matches ? "wrong message"
                                     : NULL;
        break;
    case EXPECT_SETS:
        what = !o->exc_set ? "no exception set"
               : !o->exc_matches ? "wrong exception type"
               : !o->message_matches ? "wrong message"
                                     : NULL;
        break;
    case EXPECT_VALUE:
        what = o->value != e->value ? "wrong value" : o->exc_set ? "exception set" : NULL;
        break;
    case EXPECT_OK:
        what = o->is_failure ? (o->exc_set ? "failed" : "failure without exception")
               : o->exc_set  ? "success with an exception set"
                             : NULL;
        break;
    case EXPECT_ANY:
        what = o->is_failure && !o->exc_set ? "failure without exception"
               : !o->is_failure && o->exc_set ? (f->failure ? "success with an exception set" : "exception set")
                                              : NULL;
        break;
    case EXPECT_NO_CRASH:
        break;
    }
    if (what == NULL) {
        return NULL;
    }
    char expected[640];
    snprintf(buf, size, "%s: returned %s%s%s; %s", what, o->result, o->exc_set ? " with " : ", no exception",
             exc, describe_expect(e, f, o->expected_message, expected, sizeof expected));
    return buf;
}

static int run_child(void) {
    fflush(stdout);
    fflush(child_output);
    if (ftruncate(fileno(child_output), 0) != 0) {
        perror("ftruncate");
        exit(2);
    }
    rewind(child_output);
    memset(shared, 0, sizeof *shared);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        dup2(fileno(child_output), 1);
        dup2(fileno(child_output), 2);
        child();
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
    }
    return status;
}

static int badinput_main(const char *program, const struct function *functions, int nfunctions) {
    static const char *const contexts[2] = {"outside", "inside Call_Main"};
    struct timespec start, end;
    int passed = 0, failed = 0, calls = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    child_output = tmpfile();
    if (shared == MAP_FAILED || child_output == NULL) {
        perror("badinput setup");
        return 2;
    }
    for (int fi = 0; fi < nfunctions; fi++) {
        const struct function *f = &functions[fi];
        for (int inside = 0; inside < 2; inside++) {
            int bad = 0;
            for (int vi = 0; vi < f->nvariants; vi++) {
                char what[1200];
                now_f = f;
                now_v = &f->variants[vi];
                now_inside = inside;
                int status = run_child();
                calls++;
                const char *wrong = judge(f, expectation(now_v, inside), shared, status, what, sizeof what);
                if (wrong != NULL) {
                    if (bad++ == 0) {
                        printf("FAILED: badinput %s (%s)\n", f->name, contexts[inside]);
                    }
                    printf("    %s %s [%s]: %s\n", f->name, now_v->label, contexts[inside], wrong);
                }
            }
            if (bad == 0) {
                passed++;
                printf("PASSED: badinput %s (%s, %d call%s)\n", f->name, contexts[inside], f->nvariants,
                       f->nvariants == 1 ? "" : "s");
            } else {
                failed++;
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double s = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    printf("-- %s: %d passed, %d failed (%d functions, %d calls in forked children, %.1f s)\n", program, passed,
           failed, nfunctions, calls, s);
    return failed ? 1 : 0;
}

#endif
