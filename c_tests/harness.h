/*
 * The C test harness: TEST(name) defines a case, RUN(name) runs it, and
 * harness_summary() ends the program. Each case prints "PASSED: name" or
 * "FAILED: name" with file:line and the values compared. A case also fails
 * when it leaves an exception set.
 */
#ifndef STACKLESS_TEST_HARNESS_H
#define STACKLESS_TEST_HARNESS_H

#include <stackless.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_passed, harness_failed, harness_case_failed;
static const char *harness_case;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                              \
    do {                                                                       \
        harness_case_begin(#name);                                             \
        test_##name();                                                         \
        harness_case_end(__FILE__, __LINE__);                                  \
    } while (0)

static inline void harness_fail(const char *file, int line, const char *what) {
    if (!harness_case_failed) {
        printf("FAILED: %s\n", harness_case);
    }
    harness_case_failed = 1;
    printf("    %s:%d: %s\n", file, line, what);
    fflush(stdout);
}

/* The bookkeeping of RUN (and RUN_INSIDE) around one case: begin names the
 * case; end fails it when it left an exception set (file:line is where the
 * case was run), clears the exception and counts and prints the result. */
static inline void harness_case_begin(const char *name) {
    harness_case = name;
    harness_case_failed = 0;
}

static inline void harness_case_end(const char *file, int line) {
    if (!harness_case_failed && PyErr_Occurred() != NULL) {
        harness_fail(file, line, "case left an exception set");
        PyErr_Print();
    }
    PyErr_Clear();
    if (harness_case_failed) {
        harness_failed++;
    } else {
        harness_passed++;
        printf("PASSED: %s\n", harness_case);
    }
    fflush(stdout);
}

/* Fails the case and returns from it when `cond` is false. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            harness_fail(__FILE__, __LINE__, "CHECK(" #cond ")");               \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_INT(actual, expected)                                            \
    do {                                                                       \
        long long a_ = (long long)(actual), e_ = (long long)(expected);        \
        if (a_ != e_) {                                                        \
            char m_[256];                                                      \
            snprintf(m_, sizeof m_, "%s == %lld, expected %s == %lld",         \
                     #actual, a_, #expected, e_);                              \
            harness_fail(__FILE__, __LINE__, m_);                              \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_PTR(actual, expected)                                            \
    do {                                                                       \
        const void *a_ = (const void *)(actual), *e_ = (const void *)(expected); \
        if (a_ != e_) {                                                        \
            char m_[256];                                                      \
            snprintf(m_, sizeof m_, "%s == %p, expected %s == %p",             \
                     #actual, a_, #expected, e_);                              \
            harness_fail(__FILE__, __LINE__, m_);                              \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_STR(actual, expected)                                            \
    do {                                                                       \
        const char *a_ = (actual), *e_ = (expected);                           \
        if (a_ == NULL || strcmp(a_, e_) != 0) {                               \
            char m_[1024];                                                     \
            snprintf(m_, sizeof m_, "%.80s == \"%.440s\", expected \"%.440s\"", \
                     #actual, a_ ? a_ : "(null)", e_);                         \
            harness_fail(__FILE__, __LINE__, m_);                              \
            return;                                                            \
        }                                                                      \
    } while (0)

/* str(o) or repr(o) as text in a static buffer (the object is borrowed). */
static inline const char *harness_text(PyObject *o, int use_repr) {
    static char buf[4][1024];
    static int slot;
    char *out = buf[slot++ % 4];
    PyObject *s = o == NULL ? NULL : (use_repr ? PyObject_Repr(o) : PyObject_Str(o));
    if (s == NULL) {
        snprintf(out, 1024, "<str/repr failed>");
        PyErr_Clear();
    } else {
        snprintf(out, 1024, "%s", PyUnicode_AsUTF8(s));
        Py_DECREF(s);
    }
    return out;
}

/* Compares str(o) or repr(o) with the expected text. */
#define CHECK_STR_OF(o, expected) CHECK_STR(harness_text((PyObject *)(o), 0), expected)
#define CHECK_REPR(o, expected) CHECK_STR(harness_text((PyObject *)(o), 1), expected)

/* Checks that the pending exception is of `type` with str() == `message`
 * (NULL: any message), then clears it. */
static inline int harness_check_error(const char *file, int line, PyObject *type, const char *message) {
    PyObject *t, *v, *tb;
    char m[1024];
    if (PyErr_Occurred() == NULL) {
        harness_fail(file, line, "expected an exception, none is set");
        return 0;
    }
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    int ok = PyErr_GivenExceptionMatches(t, type);
    const char *text = harness_text(v, 0);
    if (!ok) {
        snprintf(m, sizeof m, "expected %s, got %s: %s", ((PyTypeObject *)type)->tp_name,
                 ((PyTypeObject *)t)->tp_name, text);
        harness_fail(file, line, m);
    } else if (message != NULL && strcmp(text, message) != 0) {
        snprintf(m, sizeof m, "message \"%s\", expected \"%s\"", text, message);
        harness_fail(file, line, m);
        ok = 0;
    }
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return ok;
}

#define CHECK_ERROR(type, message)                                             \
    do {                                                                       \
        if (!harness_check_error(__FILE__, __LINE__, (type), (message))) {    \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_NO_ERROR()                                                       \
    do {                                                                       \
        if (PyErr_Occurred() != NULL) {                                        \
            harness_fail(__FILE__, __LINE__, "unexpected exception:");         \
            PyErr_Print();                                                     \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Prints the program's counts and returns its exit status. */
static inline int harness_summary(const char *program) {
    printf("-- %s: %d passed, %d failed\n", program, harness_passed, harness_failed);
    return harness_failed ? 1 : 0;
}

#endif
