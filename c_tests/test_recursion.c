/* Recursion in the object model (EXTENSIONS.md §8): nesting without end
 * raises RecursionError("maximum recursion depth exceeded" and CPython's
 * ending) with the guard balanced, never a crash: Py_BuildValue of a deep
 * format, repr() and str() of deep tuples, dicts and exceptions, equal
 * deep tuple keys, isinstance() with deep tuples of classes. Deep
 * containers are freed in constant stack, and exception matching walks a
 * deep tuple without recursion. Py_BuildValue takes time linear in its
 * format.
 *
 * Every case runs on the main thread's stack, then inside a tasklet on the
 * smallest stack (16 KiB), each in a child process of its own (this
 * program run again with the case's name), so that an overflow fails that
 * case only. On the smallest stack the guard stops a recursion by the
 * stack it has left, long before its depth limit. RECURSION_STACK=<bytes>
 * runs every tasklet case on a stack of that size instead. */
#define _POSIX_C_SOURCE 200809L
#include "tasklet_helpers.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ASan's red zones make every frame several times larger, TSan's
 * bookkeeping about twice as large: under them the stacks are that much
 * larger too. */
#if defined(__SANITIZE_ADDRESS__)
#define STACK_SCALE 16
#elif defined(__SANITIZE_THREAD__)
#define STACK_SCALE 4
#else
#define STACK_SCALE 1
#endif
#define SMALLEST_STACK (16384 * STACK_SCALE)

/* Deeper than any limit: what the runtime must refuse, never run into. */
#define DEEP 100000
/* What deallocation must manage in constant stack. */
#define DEEPER 1000000

/* Nesting that fits even the smallest stack. */
#define SHALLOW 20

#define TOO_DEEP "maximum recursion depth exceeded"

static const char *self_path = "/proc/self/exe";

/* ---- Deep objects, built without recursion ----------------------------------- */

/* Deallocations of the Leaf at the bottom of the deep objects. */
static int leaf_deallocs;

static void leaf_dealloc(PyObject *op) {
    leaf_deallocs++;
    Py_TYPE(op)->tp_free(op);
}

static PyTypeObject Leaf_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rectest.Leaf",
    .tp_dealloc = leaf_dealloc,
    .tp_new = PyType_GenericNew,
};

static PyObject *new_leaf(void) {
    leaf_deallocs = 0;
    if (PyType_Ready(&Leaf_Type) < 0) {
        return NULL;
    }
    return PyObject_CallObject((PyObject *)&Leaf_Type, NULL);
}

enum shape { TUPLES, DICTS, EXCEPTIONS, MIXED };

/* `depth` containers of `shape` around `leaf` (stolen): (((leaf,),),),
 * {'k': {'k': leaf}}, ValueError(ValueError(leaf)), or the three in turn
 * (a tuple innermost). */
static PyObject *nest(PyObject *leaf, long depth, enum shape shape) {
    PyObject *o = leaf;
    for (long i = 0; o != NULL && i < depth; i++) {
        enum shape s = shape == MIXED ? (enum shape)(i % 3) : shape;
        PyObject *outer;
        if (s == TUPLES) {
            outer = PyTuple_Pack(1, o);
        } else if (s == DICTS) {
            outer = PyDict_New();
            if (outer != NULL && PyDict_SetItemString(outer, "k", o) < 0) {
                Py_CLEAR(outer);
            }
        } else {
            outer = PyObject_CallFunction(PyExc_ValueError, "O", o);
        }
        Py_DECREF(o);
        o = outer;
    }
    return o;
}

/* The tuple ((...(int,),...),) `depth` deep around `cls` or an int. */
static PyObject *nested_tuple(long depth, PyObject *bottom) {
    if (bottom == NULL) {
        bottom = PyLong_FromLong(1);
    } else {
        Py_INCREF(bottom);
    }
    return nest(bottom, depth, TUPLES);
}

/* A format of `depth` brackets around `middle`. */
static char *nested_format(long depth, const char *open, const char *middle, const char *close) {
    size_t lo = strlen(open), lm = strlen(middle), lc = strlen(close);
    char *f = malloc((size_t)depth * (lo + lc) + lm + 1);
    char *p = f;
    for (long i = 0; f != NULL && i < depth; i++, p += lo) {
        memcpy(p, open, lo);
    }
    if (f != NULL) {
        memcpy(p, middle, lm);
        p += lm;
        for (long i = 0; i < depth; i++, p += lc) {
            memcpy(p, close, lc);
        }
        *p = '\0';
    }
    return f;
}

/* The recursion depth of the current tasklet: each case checks that the
 * guard is balanced after every failure. */
static int depth_now(void) {
    return PyTasklet_GetRecursionDepth(current());
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- Py_EnterRecursiveCall ----------------------------------------------------- */

static int levels;

/* Recurses through the guard until it refuses; counts the levels. */
static int recurse_through_the_guard(const char *where) {
    if (Py_EnterRecursiveCall(where) < 0) {
        return -1;
    }
    levels++;
    int r = recurse_through_the_guard(where);
    Py_LeaveRecursiveCall();
    return r;
}

TEST(enter_recursive_call_from_c) {
    int depth = depth_now();
    levels = 0;
    CHECK_INT(recurse_through_the_guard(" in rectest"), -1);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " in rectest");
    CHECK(levels > 10 && levels <= 1000);
    CHECK_INT(depth_now(), depth);
    CHECK_INT(recurse_through_the_guard(NULL), -1);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP);
    CHECK_INT(recurse_through_the_guard(" in \xc3\xa9t\xc3\xa9"), -1);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " in \xc3\xa9t\xc3\xa9");
    CHECK_INT(recurse_through_the_guard(" in \xff"), -1); /* decoded with replacement */
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " in \xef\xbf\xbd");
    CHECK_INT(depth_now(), depth);
}

/* ---- Py_BuildValue -------------------------------------------------------------- */

TEST(build_value_nested_too_deep) {
    int depth = depth_now();
    char *f = nested_format(DEEP, "(", "i", ")");
    CHECK(f != NULL);
    PyObject *r = Py_BuildValue(f, 1);
    free(f);
    CHECK_PTR(r, NULL);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " in Py_BuildValue");
    CHECK_INT(depth_now(), depth);
    f = nested_format(DEEP, "{():", "()", "}");
    CHECK(f != NULL);
    r = Py_BuildValue(f);
    free(f);
    CHECK_PTR(r, NULL);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " in Py_BuildValue");
    CHECK_INT(depth_now(), depth);
}

/* The stolen references of a failed build are released, those past the
 * failure included (the rest of the format is skipped, its arguments
 * read). */
TEST(build_value_too_deep_releases_stolen_references) {
    PyObject *a = PyUnicode_FromString("a"), *b = PyUnicode_FromString("b"), *c = PyUnicode_FromString("c");
    char *inner = nested_format(DEEP, "(", "N", ")");
    CHECK(inner != NULL);
    size_t n = strlen(inner);
    char *f = malloc(n + 8);
    CHECK(f != NULL);
    snprintf(f, n + 8, "(N%sN)", inner);
    free(inner);
    Py_INCREF(a);
    Py_INCREF(b);
    Py_INCREF(c);
    PyObject *r = Py_BuildValue(f, a, b, c);
    free(f);
    CHECK_PTR(r, NULL);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " in Py_BuildValue");
    CHECK_INT(Py_REFCNT(a), 1);
    CHECK_INT(Py_REFCNT(b), 1);
    CHECK_INT(Py_REFCNT(c), 1);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
}

TEST(build_value_nested_within_the_limit) {
    char *f = nested_format(SHALLOW, "(", "i", ")");
    CHECK(f != NULL);
    PyObject *r = Py_BuildValue(f, 7);
    free(f);
    CHECK(r != NULL);
    PyObject *o = r;
    for (int i = 0; i < SHALLOW; i++) {
        CHECK(PyTuple_Check(o));
        CHECK_INT(PyTuple_Size(o), 1);
        o = PyTuple_GetItem(o, 0);
    }
    CHECK_INT(PyLong_AsLong(o), 7);
    Py_DECREF(r);
}

/* The fastest of three builds of a format without arguments. */
static double build_time(const char *format) {
    double best = 1e9;
    for (int i = 0; i < 3; i++) {
        double t0 = seconds();
        PyObject *r = Py_BuildValue(format);
        double t = seconds() - t0;
        Py_XDECREF(r);
        PyErr_Clear();
        best = t < best ? t : best;
    }
    return best;
}

/* A format nested DEEP deep costs about what a flat one of the same length
 * costs (one pass to count, one to build or skip), not the square of its
 * depth (a count of the items at every level). */
TEST(build_value_takes_time_linear_in_the_format) {
    char *deep = nested_format(DEEP, "(", "", ")");
    char *flat = nested_format(1, "(", "", ")");
    CHECK(deep != NULL && flat != NULL);
    free(flat);
    flat = malloc(2 * DEEP + 3);
    CHECK(flat != NULL);
    flat[0] = '(';
    for (long i = 0; i < DEEP; i++) {
        flat[1 + 2 * i] = '(';
        flat[2 + 2 * i] = ')';
    }
    flat[2 * DEEP + 1] = ')';
    flat[2 * DEEP + 2] = '\0';
    double t_flat = build_time(flat), t_deep = build_time(deep);
    free(deep);
    free(flat);
    if (t_deep > 10 * t_flat + 0.05) {
        char m[128];
        snprintf(m, sizeof m, "nested %.3f ms, flat %.3f ms", t_deep * 1e3, t_flat * 1e3);
        harness_fail(__FILE__, __LINE__, m);
    }
}

/* ---- repr() and str() ------------------------------------------------------------ */

static void check_repr_too_deep(PyObject *o, const char *str_suffix) {
    int depth = depth_now();
    CHECK(o != NULL);
    CHECK_PTR(PyObject_Repr(o), NULL);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " while getting the repr of an object");
    CHECK_INT(depth_now(), depth);
    CHECK_PTR(PyObject_Str(o), NULL);
    CHECK_ERROR(PyExc_RecursionError, str_suffix);
    CHECK_INT(depth_now(), depth);
    CHECK_PTR(PyUnicode_FromFormat("%R", o), NULL);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " while getting the repr of an object");
    CHECK_INT(depth_now(), depth);
}

TEST(repr_of_deep_tuples) {
    PyObject *o = nest(new_leaf(), DEEP, TUPLES);
    check_repr_too_deep(o, TOO_DEEP " while getting the repr of an object");
    Py_XDECREF(o);
    CHECK_INT(leaf_deallocs, 1);
}

TEST(repr_of_deep_dicts) {
    PyObject *o = nest(new_leaf(), DEEP, DICTS);
    check_repr_too_deep(o, TOO_DEEP " while getting the repr of an object");
    Py_XDECREF(o);
    CHECK_INT(leaf_deallocs, 1);
}

/* str() of an exception is str() of its one argument. */
TEST(repr_of_deep_exceptions) {
    PyObject *o = nest(new_leaf(), DEEP, EXCEPTIONS);
    check_repr_too_deep(o, TOO_DEEP " while getting the str of an object");
    Py_XDECREF(o);
    CHECK_INT(leaf_deallocs, 1);
}

TEST(repr_within_the_limit) {
    char expected[1024] = "1", wrapped[1024];
    for (int i = 0; i < SHALLOW; i++) {
        static const char *const forms[] = {"(%s,)", "{'k': %s}", "ValueError(%s)"};
        snprintf(wrapped, sizeof wrapped, forms[i % 3], expected);
        memcpy(expected, wrapped, sizeof expected);
    }
    PyObject *o = nest(PyLong_FromLong(1), SHALLOW, MIXED);
    CHECK(o != NULL);
    CHECK_REPR(o, expected);
    Py_DECREF(o);
}

/* ---- Freeing ------------------------------------------------------------------------ */

/* A million nested containers are freed in constant stack (the leaf
 * once). */
TEST(deep_containers_are_freed) {
    static const enum shape shapes[] = {TUPLES, DICTS, EXCEPTIONS, MIXED};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        PyObject *o = nest(new_leaf(), DEEPER, shapes[i]);
        CHECK(o != NULL);
        Py_DECREF(o);
        CHECK_INT(leaf_deallocs, 1);
    }
}

/* ---- Comparison and matching ------------------------------------------------------- */

TEST(equal_deep_tuple_keys) {
    int depth = depth_now();
    PyObject *d = PyDict_New();
    PyObject *k1 = nested_tuple(DEEP, NULL), *k2 = nested_tuple(DEEP, NULL);
    CHECK(k1 != NULL && k2 != NULL);
    CHECK_INT(PyDict_SetItem(d, k1, Py_True), 0);
    CHECK_INT(PyDict_SetItem(d, k1, Py_False), 0); /* the same object */
    CHECK_INT(PyDict_SetItem(d, k2, Py_None), -1);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " in comparison");
    CHECK_INT(depth_now(), depth);
    CHECK_INT(PyDict_Size(d), 1);
    PyObject *s1 = nested_tuple(SHALLOW, NULL), *s2 = nested_tuple(SHALLOW, NULL);
    CHECK_INT(PyDict_SetItem(d, s1, Py_True), 0);
    CHECK_INT(PyDict_SetItem(d, s2, Py_None), 0);
    CHECK_INT(PyDict_Size(d), 2);
    Py_DECREF(s1);
    Py_DECREF(s2);
    Py_DECREF(k1);
    Py_DECREF(k2);
    Py_DECREF(d);
}

TEST(isinstance_with_deep_tuples_of_classes) {
    int depth = depth_now();
    PyObject *five = PyLong_FromLong(5);
    PyObject *deep = nested_tuple(DEEP, (PyObject *)&PyLong_Type);
    PyObject *shallow = nested_tuple(SHALLOW, (PyObject *)&PyLong_Type);
    CHECK(deep != NULL && shallow != NULL);
    CHECK_INT(PyObject_IsInstance(five, deep), -1);
    CHECK_ERROR(PyExc_RecursionError, TOO_DEEP " in __instancecheck__");
    CHECK_INT(depth_now(), depth);
    CHECK_INT(PyObject_IsInstance(five, shallow), 1);
    CHECK_INT(PyObject_IsInstance(Py_None, shallow), 0);
    Py_DECREF(five);
    Py_DECREF(deep);
    Py_DECREF(shallow);
}

/* PyErr_GivenExceptionMatches cannot fail: it walks any depth. */
TEST(exception_matches_deep_tuples) {
    PyObject *deep = nested_tuple(DEEPER, PyExc_LookupError);
    CHECK(deep != NULL);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_KeyError, deep), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TypeError, deep), 0);
    PyErr_SetString(PyExc_IndexError, "i");
    CHECK_INT(PyErr_ExceptionMatches(deep), 1);
    CHECK_ERROR(PyExc_IndexError, "i");
    Py_DECREF(deep);
}

/* ---- Running the cases ------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*run)(void);
} recursion_case;

#define CASE(name) {#name, test_##name}

static const recursion_case cases[] = {
    CASE(enter_recursive_call_from_c),
    CASE(build_value_nested_too_deep),
    CASE(build_value_too_deep_releases_stolen_references),
    CASE(build_value_nested_within_the_limit),
    CASE(build_value_takes_time_linear_in_the_format),
    CASE(repr_of_deep_tuples),
    CASE(repr_of_deep_dicts),
    CASE(repr_of_deep_exceptions),
    CASE(repr_within_the_limit),
    CASE(deep_containers_are_freed),
    CASE(equal_deep_tuple_keys),
    CASE(isinstance_with_deep_tuples_of_classes),
    CASE(exception_matches_deep_tuples),
};
#define NCASES (sizeof cases / sizeof cases[0])

/* The stack of the tasklets the cases run on. */
static size_t tasklet_stack(void) {
    const char *forced = getenv("RECURSION_STACK");
    return forced != NULL ? (size_t)strtoul(forced, NULL, 10) : SMALLEST_STACK;
}

static const recursion_case *tasklet_case;

static PyObject *run_tasklet_case(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    tasklet_case->run();
    if (!harness_case_failed && PyErr_Occurred() != NULL) {
        harness_fail(__FILE__, __LINE__, "case left an exception set");
        PyErr_Print();
    }
    PyErr_Clear();
    Py_RETURN_NONE;
}

/* The child: runs case `index` in a tasklet on `stack` bytes of stack;
 * exits 0 when it passed. */
static int child(const char *index, const char *stack) {
    tasklet_case = &cases[atoi(index)];
    harness_case_begin(tasklet_case->name);
    PyStackless_SetStackSize((size_t)strtoul(stack, NULL, 10));
    PyTaskletObject *t = spawn(run_tasklet_case);
    if (t == NULL) {
        PyErr_Print();
        return 2;
    }
    PyObject *r = PyStackless_RunWatchdog(0);
    if (r == NULL) {
        PyErr_Print();
        return 3;
    }
    Py_DECREF(r);
    int ran = !PyTasklet_Alive(t);
    Py_DECREF(t);
    return ran && !harness_case_failed ? 0 : 1;
}

/* The parent: case `i` in a tasklet in a child process; its output is
 * shown, indented, when it fails. */
static void run_in_tasklet(size_t i) {
    char name[160], index[16], stack[32];
    size_t size = tasklet_stack();
    snprintf(name, sizeof name, "%s-in-a-tasklet-of-%zu-bytes", cases[i].name, size);
    snprintf(index, sizeof index, "%zu", i);
    snprintf(stack, sizeof stack, "%zu", size);
    harness_case_begin(name);
    FILE *out = tmpfile();
    if (out == NULL) {
        harness_fail(__FILE__, __LINE__, "tmpfile() failed");
        harness_case_end(__FILE__, __LINE__);
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
        execl(self_path, self_path, "child", index, stack, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char m[96];
        if (WIFSIGNALED(status)) {
            snprintf(m, sizeof m, "the child died of signal %d", WTERMSIG(status));
        } else {
            snprintf(m, sizeof m, "the child exited with %d", WEXITSTATUS(status));
        }
        harness_fail(__FILE__, __LINE__, m);
        char line[512];
        rewind(out);
        while (fgets(line, sizeof line, out) != NULL) {
            printf("      %s", line);
        }
    }
    fclose(out);
    harness_case_end(__FILE__, __LINE__);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "child") == 0) {
        return child(argv[2], argv[3]);
    }
    alarm(300); /* a hang is a failure, never a stuck run */
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) {
        path[n] = '\0';
        self_path = path;
    }
    for (size_t i = 0; i < NCASES; i++) {
        harness_case_begin(cases[i].name);
        cases[i].run();
        harness_case_end(__FILE__, __LINE__);
    }
    for (size_t i = 0; i < NCASES; i++) {
        run_in_tasklet(i);
    }
    return harness_summary("test_recursion");
}
