/* The error indicator (PyErr_*), the exception classes and PyErr_Print. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

/* ---- Helpers ------------------------------------------------------------ */

/* Runs PyErr_Print() with file descriptor 2 sent to a temporary file and
 * returns what it wrote (a static buffer). */
static const char *print_captured(void) {
    static char buf[1024];
    FILE *tmp = tmpfile();
    if (tmp == NULL) {
        return "<tmpfile failed>";
    }
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    PyErr_Print();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof buf - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    return buf;
}

/* Fetches the pending exception into t, v, tb (owned). */
#define FETCH(t, v, tb) PyErr_Fetch(&(t), &(v), &(tb))

/* Fetches and normalizes the pending exception into t, v, tb (owned). */
#define FETCH_NORMALIZED(t, v, tb)                                             \
    do {                                                                       \
        PyErr_Fetch(&(t), &(v), &(tb));                                        \
        PyErr_NormalizeException(&(t), &(v), &(tb));                           \
    } while (0)

#define RELEASE3(t, v, tb)                                                     \
    do {                                                                       \
        Py_XDECREF(t);                                                         \
        Py_XDECREF(v);                                                         \
        Py_XDECREF(tb);                                                        \
    } while (0)

/* An exception subclass whose tp_init fails with RuntimeError. */
static int failing_init(PyObject *self, PyObject *args, PyObject *kwds) {
    (void)self;
    (void)args;
    (void)kwds;
    PyErr_SetString(PyExc_RuntimeError, "init failed");
    return -1;
}

static PyTypeObject FailingInit_Type;

static PyObject *failing_init_class(void) {
    if (!(FailingInit_Type.tp_flags & Py_TPFLAGS_READY)) {
        FailingInit_Type.tp_name = "test.FailingInit";
        FailingInit_Type.tp_base = (PyTypeObject *)PyExc_Exception;
        FailingInit_Type.tp_init = failing_init;
        if (PyType_Ready(&FailingInit_Type) < 0) {
            return NULL;
        }
    }
    return (PyObject *)&FailingInit_Type;
}

/* ---- Setting, reading and clearing the indicator ------------------------ */

TEST(set_string_stores_type_and_str_value) {
    PyErr_SetString(PyExc_TypeError, "boom");
    CHECK_PTR(PyErr_Occurred(), PyExc_TypeError);
    PyObject *t, *v, *tb;
    FETCH(t, v, tb);
    CHECK_PTR(PyErr_Occurred(), NULL);
    CHECK_PTR(t, PyExc_TypeError);
    CHECK(PyUnicode_Check(v));
    CHECK_STR(PyUnicode_AsUTF8(v), "boom");
    CHECK_INT(Py_REFCNT(v), 1);
    CHECK_PTR(tb, NULL);
    RELEASE3(t, v, tb);
}

TEST(set_string_keeps_utf8_text) {
    PyErr_SetString(PyExc_ValueError, "caf\xc3\xa9 \xe2\x82\xac");
    CHECK_ERROR(PyExc_ValueError, "caf\xc3\xa9 \xe2\x82\xac");
}

/* A NULL message is a bad call (CPython would crash on it). */
TEST(set_string_with_null_message_is_a_bad_call) {
    PyErr_SetString(PyExc_ValueError, NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
}

TEST(set_object_borrows_the_value) {
    PyObject *o = PyLong_FromLong(7);
    PyErr_SetObject(PyExc_ValueError, o);
    CHECK_INT(Py_REFCNT(o), 2);
    PyObject *t, *v, *tb;
    FETCH(t, v, tb);
    CHECK_PTR(t, PyExc_ValueError);
    CHECK_PTR(v, o);
    CHECK_PTR(tb, NULL);
    CHECK_INT(Py_REFCNT(o), 2);
    RELEASE3(t, v, tb);
    CHECK_INT(Py_REFCNT(o), 1);
    Py_DECREF(o);
}

TEST(set_none_stores_no_value) {
    PyErr_SetNone(PyExc_KeyError);
    CHECK_PTR(PyErr_Occurred(), PyExc_KeyError);
    PyObject *t, *v, *tb;
    FETCH(t, v, tb);
    CHECK_PTR(t, PyExc_KeyError);
    CHECK_PTR(v, NULL);
    CHECK_PTR(tb, NULL);
    RELEASE3(t, v, tb);
}

TEST(setting_replaces_and_releases_the_previous_error) {
    PyObject *o = PyLong_FromLong(1);
    PyErr_SetObject(PyExc_TypeError, o);
    CHECK_INT(Py_REFCNT(o), 2);
    PyErr_SetString(PyExc_ValueError, "second");
    CHECK_INT(Py_REFCNT(o), 1);
    CHECK_PTR(PyErr_Occurred(), PyExc_ValueError);
    Py_DECREF(o);
    CHECK_ERROR(PyExc_ValueError, "second");
}

TEST(occurred_is_borrowed_and_clear_empties) {
    CHECK_PTR(PyErr_Occurred(), NULL);
    PyObject *e = PyErr_NewException("test.Borrowed", NULL, NULL);
    CHECK(e != NULL);
    CHECK_INT(Py_REFCNT(e), 1);
    PyErr_SetNone(e);
    CHECK_INT(Py_REFCNT(e), 2);
    CHECK_PTR(PyErr_Occurred(), e);
    CHECK_INT(Py_REFCNT(e), 2);
    PyErr_Clear();
    CHECK_PTR(PyErr_Occurred(), NULL);
    CHECK_INT(Py_REFCNT(e), 1);
    PyErr_Clear(); /* clearing nothing is harmless */
    CHECK_PTR(PyErr_Occurred(), NULL);
    Py_DECREF(e);
}

TEST(clear_releases_the_value) {
    PyObject *o = PyUnicode_FromString("held");
    PyErr_SetObject(PyExc_RuntimeError, o);
    CHECK_INT(Py_REFCNT(o), 2);
    PyErr_Clear();
    CHECK_INT(Py_REFCNT(o), 1);
    CHECK_PTR(PyErr_Occurred(), NULL);
    Py_DECREF(o);
}

TEST(fetch_without_error_gives_three_nulls) {
    PyObject *t = Py_None, *v = Py_None, *tb = Py_None;
    PyErr_Fetch(&t, &v, &tb);
    CHECK_PTR(t, NULL);
    CHECK_PTR(v, NULL);
    CHECK_PTR(tb, NULL);
    CHECK_PTR(PyErr_Occurred(), NULL);
}

TEST(restore_steals_the_references) {
    PyObject *o = PyUnicode_FromString("restored");
    Py_INCREF(o); /* one reference for the indicator, one kept */
    Py_INCREF(PyExc_IndexError);
    PyErr_Restore(PyExc_IndexError, o, NULL);
    CHECK_INT(Py_REFCNT(o), 2);
    CHECK_PTR(PyErr_Occurred(), PyExc_IndexError);
    PyObject *t, *v, *tb;
    FETCH(t, v, tb);
    CHECK_PTR(t, PyExc_IndexError);
    CHECK_PTR(v, o);
    CHECK_INT(Py_REFCNT(o), 2);
    PyErr_Restore(t, v, tb);
    PyErr_Clear();
    CHECK_INT(Py_REFCNT(o), 1);
    Py_DECREF(o);
}

TEST(restore_with_null_type_clears_and_releases) {
    PyErr_SetString(PyExc_TypeError, "to be cleared");
    PyObject *o = PyLong_FromLong(99);
    Py_INCREF(o);
    PyErr_Restore(NULL, o, NULL);
    CHECK_PTR(PyErr_Occurred(), NULL);
    CHECK_INT(Py_REFCNT(o), 1);
    Py_DECREF(o);
}

TEST(fetch_then_restore_round_trips) {
    PyErr_SetString(PyExc_ZeroDivisionError, "division by zero");
    PyObject *t, *v, *tb;
    FETCH(t, v, tb);
    CHECK_PTR(PyErr_Occurred(), NULL);
    PyErr_Restore(t, v, tb);
    CHECK_PTR(PyErr_Occurred(), PyExc_ZeroDivisionError);
    CHECK_ERROR(PyExc_ZeroDivisionError, "division by zero");
}

/* What a second thread saw of the error indicator. */
struct thread_view {
    PyObject *occurred_at_start;
    int matched_own_error;
    int leave_error_set;
};

static void *look_at_indicator(void *arg) {
    struct thread_view *view = arg;
    view->occurred_at_start = PyErr_Occurred();
    PyErr_SetString(PyExc_ValueError, "in thread");
    view->matched_own_error = PyErr_ExceptionMatches(PyExc_ValueError);
    if (!view->leave_error_set) {
        PyErr_Clear();
    }
    return NULL;
}

TEST(error_indicator_is_per_thread) {
    PyErr_SetString(PyExc_TypeError, "main thread");
    struct thread_view view = {Py_None, 0, 0};
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, look_at_indicator, &view), 0);
    CHECK_INT(pthread_join(th, NULL), 0);
    CHECK_PTR(view.occurred_at_start, NULL);
    CHECK_INT(view.matched_own_error, 1);
    CHECK_ERROR(PyExc_TypeError, "main thread");
}

/* A thread that ends with an error set releases it (valgrind: no leak). */
TEST(thread_exit_releases_the_error) {
    PyObject *e = PyErr_NewException("mod.ThreadError", NULL, NULL);
    CHECK(e != NULL);
    struct thread_view view = {Py_None, 0, 1};
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, look_at_indicator, &view), 0);
    CHECK_INT(pthread_join(th, NULL), 0);
    CHECK_INT(view.matched_own_error, 1);
    CHECK_PTR(PyErr_Occurred(), NULL);
    Py_DECREF(e);
}

/* ---- PyErr_NormalizeException ------------------------------------------- */

TEST(normalize_string_value_becomes_instance) {
    PyErr_SetString(PyExc_ValueError, "msg");
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    CHECK_NO_ERROR();
    CHECK_PTR(t, PyExc_ValueError);
    CHECK_PTR(Py_TYPE(v), PyExc_ValueError);
    PyObject *args = PyObject_GetAttrString(v, "args");
    CHECK(args != NULL);
    CHECK_REPR(args, "('msg',)");
    Py_DECREF(args);
    CHECK_STR_OF(v, "msg");
    CHECK_REPR(v, "ValueError('msg')");
    CHECK_PTR(tb, NULL);
    RELEASE3(t, v, tb);
}

TEST(normalize_tuple_value_becomes_args) {
    PyObject *value = Py_BuildValue("(is)", 1, "x");
    PyErr_SetObject(PyExc_ValueError, value);
    Py_DECREF(value);
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    CHECK_PTR(Py_TYPE(v), PyExc_ValueError);
    PyObject *args = PyObject_GetAttrString(v, "args");
    CHECK(args != NULL);
    CHECK_PTR(args, value); /* the tuple itself is the argument tuple */
    CHECK_INT(PyTuple_Size(args), 2);
    CHECK_REPR(args, "(1, 'x')");
    Py_DECREF(args);
    CHECK_STR_OF(v, "(1, 'x')");
    CHECK_REPR(v, "ValueError(1, 'x')");
    RELEASE3(t, v, tb);
}

TEST(normalize_null_value_gives_empty_args) {
    PyErr_SetNone(PyExc_StopIteration);
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    CHECK_PTR(t, PyExc_StopIteration);
    CHECK_PTR(Py_TYPE(v), PyExc_StopIteration);
    PyObject *args = PyObject_GetAttrString(v, "args");
    CHECK(args != NULL);
    CHECK_INT(PyTuple_Size(args), 0);
    Py_DECREF(args);
    CHECK_STR_OF(v, "");
    CHECK_REPR(v, "StopIteration()");
    RELEASE3(t, v, tb);
}

/* CPython: a None value, like NULL, means no arguments. */
TEST(normalize_none_value_gives_empty_args) {
    PyErr_SetObject(PyExc_ValueError, Py_None);
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    CHECK_PTR(Py_TYPE(v), PyExc_ValueError);
    CHECK_REPR(v, "ValueError()");
    RELEASE3(t, v, tb);
}

TEST(normalize_keeps_an_instance_of_the_type) {
    PyObject *e = PyObject_CallFunction(PyExc_ValueError, "s", "mine");
    CHECK(e != NULL);
    PyErr_SetObject(PyExc_ValueError, e);
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    CHECK_PTR(t, PyExc_ValueError);
    CHECK_PTR(v, e);
    CHECK_INT(Py_REFCNT(e), 2);
    RELEASE3(t, v, tb);
    CHECK_INT(Py_REFCNT(e), 1);
    Py_DECREF(e);
}

/* CPython: an instance of a subclass makes its class the type. */
TEST(normalize_believes_a_subclass_instance) {
    PyObject *e = PyObject_CallFunction(PyExc_KeyError, "s", "k");
    CHECK(e != NULL);
    PyErr_SetObject(PyExc_LookupError, e);
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    CHECK_PTR(t, PyExc_KeyError);
    CHECK_PTR(v, e);
    RELEASE3(t, v, tb);
    CHECK_INT(Py_REFCNT(e), 1);
    Py_DECREF(e);
}

TEST(normalize_wraps_an_instance_of_another_class) {
    PyObject *e = PyObject_CallFunction(PyExc_ValueError, "s", "inner");
    CHECK(e != NULL);
    PyErr_SetObject(PyExc_TypeError, e);
    Py_DECREF(e);
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    CHECK_PTR(t, PyExc_TypeError);
    CHECK_PTR(Py_TYPE(v), PyExc_TypeError);
    CHECK_REPR(v, "TypeError(ValueError('inner'))");
    CHECK_STR_OF(v, "inner");
    RELEASE3(t, v, tb);
}

TEST(normalize_of_an_empty_triple_does_nothing) {
    PyObject *t = NULL, *v = NULL, *tb = NULL;
    PyErr_NormalizeException(&t, &v, &tb);
    CHECK_NO_ERROR();
    CHECK_PTR(t, NULL);
    CHECK_PTR(v, NULL);
    CHECK_PTR(tb, NULL);
}

/* CPython leaves a triple alone whose type is no exception class. */
TEST(normalize_leaves_a_non_class_type_alone) {
    PyObject *t = PyLong_FromLong(5), *v = PyUnicode_FromString("x"), *tb = NULL;
    PyObject *t0 = t, *v0 = v;
    PyErr_NormalizeException(&t, &v, &tb);
    CHECK_NO_ERROR();
    CHECK_PTR(t, t0);
    CHECK_PTR(v, v0);
    CHECK_INT(Py_REFCNT(t), 1);
    CHECK_INT(Py_REFCNT(v), 1);
    RELEASE3(t, v, tb);
}

TEST(normalize_failure_replaces_the_triple) {
    PyObject *cls = failing_init_class();
    CHECK(cls != NULL);
    PyErr_SetString(cls, "never shown");
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    CHECK_NO_ERROR();
    CHECK_PTR(t, PyExc_RuntimeError);
    CHECK_PTR(Py_TYPE(v), PyExc_RuntimeError);
    CHECK_REPR(v, "RuntimeError('init failed')");
    CHECK_PTR(tb, NULL);
    RELEASE3(t, v, tb);
}

TEST(normalize_leaves_the_pending_error_alone) {
    PyErr_SetString(PyExc_ValueError, "pending");
    PyObject *t = PyExc_TypeError, *v = PyUnicode_FromString("other"), *tb = NULL;
    Py_INCREF(t);
    PyErr_NormalizeException(&t, &v, &tb);
    CHECK_PTR(t, PyExc_TypeError);
    CHECK_REPR(v, "TypeError('other')");
    RELEASE3(t, v, tb);
    CHECK_ERROR(PyExc_ValueError, "pending");
}

TEST(normalized_triple_restores_unchanged) {
    PyErr_SetString(PyExc_IndexError, "tuple index out of range");
    PyObject *t, *v, *tb;
    FETCH_NORMALIZED(t, v, tb);
    PyObject *inst = v;
    PyErr_Restore(t, v, tb);
    FETCH_NORMALIZED(t, v, tb);
    CHECK_PTR(t, PyExc_IndexError);
    CHECK_PTR(v, inst);
    CHECK_STR_OF(v, "tuple index out of range");
    RELEASE3(t, v, tb);
}

/* ---- Matching ------------------------------------------------------------- */

TEST(exception_matches_the_pending_error) {
    PyErr_SetString(PyExc_KeyError, "k");
    CHECK_INT(PyErr_ExceptionMatches(PyExc_KeyError), 1);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_LookupError), 1);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_Exception), 1);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_BaseException), 1);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_IndexError), 0);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_TypeError), 0);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_SystemExit), 0);
    PyObject *yes = PyTuple_Pack(2, PyExc_IndexError, PyExc_LookupError);
    PyObject *no = PyTuple_Pack(2, PyExc_TypeError, PyExc_ValueError);
    CHECK_INT(PyErr_ExceptionMatches(yes), 1);
    CHECK_INT(PyErr_ExceptionMatches(no), 0);
    Py_DECREF(yes);
    Py_DECREF(no);
    CHECK_INT(PyErr_ExceptionMatches(NULL), 0);
    CHECK_ERROR(PyExc_KeyError, "'k'");
}

TEST(exception_matches_nothing_when_no_error) {
    CHECK_INT(PyErr_ExceptionMatches(PyExc_BaseException), 0);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_Exception), 0);
    CHECK_NO_ERROR();
}

TEST(given_matches_classes_and_instances) {
    PyObject *e = PyObject_CallFunction(PyExc_ZeroDivisionError, NULL);
    CHECK(e != NULL);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_ZeroDivisionError, PyExc_ZeroDivisionError), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_ZeroDivisionError, PyExc_ArithmeticError), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(e, PyExc_ZeroDivisionError), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(e, PyExc_ArithmeticError), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(e, PyExc_Exception), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(e, PyExc_OverflowError), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_ArithmeticError, PyExc_ZeroDivisionError), 0);
    /* the second argument must be a class: an instance matches nothing */
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_ZeroDivisionError, e), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(e, e), 0);
    Py_DECREF(e);
    CHECK_NO_ERROR();
}

TEST(given_matches_tuples_of_classes) {
    PyObject *inner = PyTuple_Pack(2, PyExc_TypeError, PyExc_LookupError);
    PyObject *nested = PyTuple_Pack(2, PyExc_ValueError, inner);
    PyObject *empty = PyTuple_New(0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_IndexError, inner), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TypeError, inner), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_ValueError, inner), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_KeyError, nested), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_ValueError, nested), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_RuntimeError, nested), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_Exception, empty), 0);
    Py_DECREF(nested);
    Py_DECREF(inner);
    Py_DECREF(empty);
    CHECK_NO_ERROR();
}

/* CPython: objects other than exception classes and instances match only
 * themselves. */
TEST(given_matches_other_objects_only_by_identity) {
    PyObject *five = PyLong_FromLong(5);
    CHECK_INT(PyErr_GivenExceptionMatches(five, (PyObject *)&PyLong_Type), 0);
    CHECK_INT(PyErr_GivenExceptionMatches((PyObject *)&PyBool_Type, (PyObject *)&PyLong_Type), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TypeError, (PyObject *)&PyBaseObject_Type), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(five, five), 1);
    CHECK_INT(PyErr_GivenExceptionMatches((PyObject *)&PyLong_Type, (PyObject *)&PyLong_Type), 1);
    Py_DECREF(five);
    CHECK_NO_ERROR();
}

/* ---- The class hierarchy ------------------------------------------------- */

#define BASE_OF(cls) ((PyObject *)((PyTypeObject *)(cls))->tp_base)

TEST(hierarchy_is_cpythons) {
    CHECK_PTR(BASE_OF(PyExc_BaseException), &PyBaseObject_Type);
    CHECK_PTR(BASE_OF(PyExc_SystemExit), PyExc_BaseException);
    CHECK_PTR(BASE_OF(PyExc_TaskletExit), PyExc_SystemExit);
    CHECK_PTR(BASE_OF(PyExc_Exception), PyExc_BaseException);
    CHECK_PTR(BASE_OF(PyExc_StopIteration), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_ArithmeticError), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_ZeroDivisionError), PyExc_ArithmeticError);
    CHECK_PTR(BASE_OF(PyExc_OverflowError), PyExc_ArithmeticError);
    CHECK_PTR(BASE_OF(PyExc_LookupError), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_IndexError), PyExc_LookupError);
    CHECK_PTR(BASE_OF(PyExc_KeyError), PyExc_LookupError);
    CHECK_PTR(BASE_OF(PyExc_RuntimeError), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_RecursionError), PyExc_RuntimeError);
    CHECK_PTR(BASE_OF(PyExc_NotImplementedError), PyExc_RuntimeError);
    CHECK_PTR(BASE_OF(PyExc_Warning), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_UserWarning), PyExc_Warning);
    CHECK_PTR(BASE_OF(PyExc_TypeError), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_ValueError), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_AttributeError), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_MemoryError), PyExc_Exception);
    CHECK_PTR(BASE_OF(PyExc_SystemError), PyExc_Exception);
}

TEST(tasklet_exit_is_no_exception) {
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TaskletExit, PyExc_SystemExit), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TaskletExit, PyExc_BaseException), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TaskletExit, PyExc_Exception), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_SystemExit, PyExc_Exception), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_SystemExit, PyExc_TaskletExit), 0);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_TaskletExit, (PyTypeObject *)PyExc_Exception), 0);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_RecursionError, (PyTypeObject *)PyExc_Exception), 1);
}

TEST(classes_have_cpythons_names) {
    struct {
        PyObject *cls;
        const char *name;
    } classes[] = {
        {PyExc_BaseException, "BaseException"}, {PyExc_SystemExit, "SystemExit"},
        {PyExc_TaskletExit, "TaskletExit"}, {PyExc_Exception, "Exception"},
        {PyExc_StopIteration, "StopIteration"}, {PyExc_ArithmeticError, "ArithmeticError"},
        {PyExc_ZeroDivisionError, "ZeroDivisionError"}, {PyExc_OverflowError, "OverflowError"},
        {PyExc_LookupError, "LookupError"}, {PyExc_IndexError, "IndexError"},
        {PyExc_KeyError, "KeyError"}, {PyExc_RuntimeError, "RuntimeError"},
        {PyExc_RecursionError, "RecursionError"}, {PyExc_NotImplementedError, "NotImplementedError"},
        {PyExc_Warning, "Warning"}, {PyExc_UserWarning, "UserWarning"},
        {PyExc_TypeError, "TypeError"}, {PyExc_ValueError, "ValueError"},
        {PyExc_AttributeError, "AttributeError"}, {PyExc_MemoryError, "MemoryError"},
        {PyExc_SystemError, "SystemError"},
    };
    char repr[64];
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        CHECK(PyType_Check(classes[i].cls));
        CHECK_STR(((PyTypeObject *)classes[i].cls)->tp_name, classes[i].name);
        snprintf(repr, sizeof repr, "<class '%s'>", classes[i].name);
        CHECK_REPR(classes[i].cls, repr);
    }
}

/* ---- Exception instances ------------------------------------------------- */

TEST(instances_carry_args) {
    PyObject *e = PyObject_CallFunction(PyExc_RuntimeError, "(si)", "a", 1);
    CHECK(e != NULL);
    CHECK(PyObject_IsInstance(e, PyExc_RuntimeError) == 1);
    PyObject *args = PyObject_GetAttrString(e, "args");
    CHECK(args != NULL);
    CHECK(PyTuple_Check(args));
    CHECK_INT(PyTuple_Size(args), 2);
    CHECK_STR(PyUnicode_AsUTF8(PyTuple_GetItem(args, 0)), "a");
    CHECK_INT(PyLong_AsLong(PyTuple_GetItem(args, 1)), 1);
    CHECK_INT(Py_REFCNT(args), 2); /* the instance's and ours */
    Py_DECREF(args);
    Py_DECREF(e);

    PyObject *none = PyObject_CallObject(PyExc_Exception, NULL);
    CHECK(none != NULL);
    args = PyObject_GetAttrString(none, "args");
    CHECK(args != NULL);
    CHECK_INT(PyTuple_Size(args), 0);
    Py_DECREF(args);
    Py_DECREF(none);
}

TEST(instance_str_and_repr_follow_cpython) {
    PyObject *zero = PyObject_CallFunction(PyExc_ValueError, NULL);
    PyObject *one = PyObject_CallFunction(PyExc_ValueError, "i", 3);
    PyObject *two = PyObject_CallFunction(PyExc_ValueError, "(ss)", "a", "b");
    PyObject *key = PyObject_CallFunction(PyExc_KeyError, "s", "k");
    PyObject *key2 = PyObject_CallFunction(PyExc_KeyError, "(ii)", 1, 2);
    CHECK(zero && one && two && key && key2);
    CHECK_STR_OF(zero, "");
    CHECK_REPR(zero, "ValueError()");
    CHECK_STR_OF(one, "3");
    CHECK_REPR(one, "ValueError(3)");
    CHECK_STR_OF(two, "('a', 'b')");
    CHECK_REPR(two, "ValueError('a', 'b')");
    CHECK_STR_OF(key, "'k'");
    CHECK_REPR(key, "KeyError('k')");
    CHECK_STR_OF(key2, "(1, 2)");
    Py_DECREF(zero);
    Py_DECREF(one);
    Py_DECREF(two);
    Py_DECREF(key);
    Py_DECREF(key2);
}

TEST(keyword_arguments_are_refused) {
    PyObject *args = PyTuple_New(0);
    PyObject *kwargs = PyDict_New();
    PyObject *one = PyLong_FromLong(1);
    PyDict_SetItemString(kwargs, "x", one);
    CHECK_PTR(PyObject_Call(PyExc_ValueError, args, kwargs), NULL);
    CHECK_ERROR(PyExc_TypeError, "ValueError() takes no keyword arguments");
    PyObject *e = PyErr_NewException("mod.Error", NULL, NULL);
    CHECK_PTR(PyObject_Call(e, args, kwargs), NULL);
    CHECK_ERROR(PyExc_TypeError, "Error() takes no keyword arguments");
    /* an empty dict is no keyword argument */
    PyObject *empty = PyDict_New();
    PyObject *inst = PyObject_Call(PyExc_ValueError, args, empty);
    CHECK(inst != NULL);
    CHECK_REPR(inst, "ValueError()");
    Py_DECREF(inst);
    Py_DECREF(empty);
    Py_DECREF(e);
    Py_DECREF(one);
    Py_DECREF(kwargs);
    Py_DECREF(args);
}

/* ---- PyErr_NewException --------------------------------------------------- */

TEST(new_exception_derives_exception) {
    PyObject *e = PyErr_NewException("mod.Error", NULL, NULL);
    CHECK(e != NULL);
    CHECK(PyType_Check(e));
    CHECK_PTR(BASE_OF(e), PyExc_Exception);
    CHECK_STR(((PyTypeObject *)e)->tp_name, "mod.Error");
    CHECK_REPR(e, "<class 'mod.Error'>");
    PyObject *name = PyObject_GetAttrString(e, "__name__");
    CHECK(name != NULL);
    CHECK_STR(PyUnicode_AsUTF8(name), "Error");
    Py_DECREF(name);
    CHECK_INT(PyErr_GivenExceptionMatches(e, PyExc_Exception), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(e, PyExc_BaseException), 1);
    CHECK_INT(PyErr_GivenExceptionMatches(e, PyExc_TypeError), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_Exception, e), 0);
    Py_DECREF(e);
}

TEST(new_exception_with_base) {
    PyObject *e = PyErr_NewException("pkg.mod.BadValue", PyExc_ValueError, NULL);
    CHECK(e != NULL);
    CHECK_PTR(BASE_OF(e), PyExc_ValueError);
    PyObject *sub = PyErr_NewException("pkg.mod.WorseValue", e, NULL);
    CHECK(sub != NULL);
    CHECK_PTR(BASE_OF(sub), e);
    CHECK_REPR(sub, "<class 'pkg.mod.WorseValue'>");
    PyErr_SetString(sub, "worse");
    CHECK_INT(PyErr_ExceptionMatches(e), 1);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_ValueError), 1);
    CHECK_INT(PyErr_ExceptionMatches(PyExc_TypeError), 0);
    CHECK_ERROR(sub, "worse");
    Py_DECREF(sub);
    Py_DECREF(e);
}

TEST(new_exception_instances) {
    PyObject *e = PyErr_NewException("mod.Error", NULL, NULL);
    CHECK(e != NULL);
    PyObject *inst = PyObject_CallFunction(e, "s", "boom");
    CHECK(inst != NULL);
    CHECK_PTR(Py_TYPE(inst), e);
    CHECK_STR_OF(inst, "boom");
    CHECK_REPR(inst, "Error('boom')");
    PyObject *args = PyObject_GetAttrString(inst, "args");
    CHECK(args != NULL);
    CHECK_REPR(args, "('boom',)");
    Py_DECREF(args);
    PyObject *empty = PyObject_CallObject(e, NULL);
    CHECK(empty != NULL);
    CHECK_STR_OF(empty, "");
    CHECK_REPR(empty, "Error()");
    Py_DECREF(empty);
    Py_DECREF(inst);
    Py_DECREF(e);
}

TEST(new_exception_name_needs_a_dot) {
    CHECK_PTR(PyErr_NewException("NoDot", NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "PyErr_NewException: name must be module.class");
    CHECK_PTR(PyErr_NewException("", PyExc_ValueError, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "PyErr_NewException: name must be module.class");
}

/* The class is a heap type: instances, subclasses and the error indicator
 * hold references to it, and it is freed with the last one (valgrind). */
TEST(new_exception_is_a_refcounted_heap_type) {
    PyObject *e = PyErr_NewException("mod.Temp", NULL, NULL);
    CHECK(e != NULL);
    CHECK(((PyTypeObject *)e)->tp_flags & Py_TPFLAGS_HEAPTYPE);
    CHECK_INT(Py_REFCNT(e), 1);
    PyObject *inst = PyObject_CallObject(e, NULL);
    CHECK(inst != NULL);
    CHECK_INT(Py_REFCNT(e), 2);
    PyObject *sub = PyErr_NewException("mod.TempSub", e, NULL);
    CHECK(sub != NULL);
    CHECK_INT(Py_REFCNT(e), 3);
    PyErr_SetString(sub, "held");
    CHECK_INT(Py_REFCNT(sub), 2);
    PyErr_Clear();
    CHECK_INT(Py_REFCNT(sub), 1);
    Py_DECREF(sub);
    CHECK_INT(Py_REFCNT(e), 2);
    Py_DECREF(inst);
    CHECK_INT(Py_REFCNT(e), 1);
    Py_DECREF(e);
    CHECK_NO_ERROR();
}

/* ---- NoMemory, BadArgument, BadInternalCall, Format ---------------------- */

TEST(no_memory_sets_memory_error) {
    CHECK_PTR(PyErr_NoMemory(), NULL);
    CHECK_PTR(PyErr_Occurred(), PyExc_MemoryError);
    CHECK_ERROR(PyExc_MemoryError, "");
}

TEST(bad_argument_sets_type_error) {
    CHECK_INT(PyErr_BadArgument(), 0);
    CHECK_PTR(PyErr_Occurred(), PyExc_TypeError);
    CHECK_ERROR(PyExc_TypeError, "bad argument type for built-in operation");
}

TEST(bad_internal_call_sets_system_error) {
    PyErr_BadInternalCall();
    CHECK_PTR(PyErr_Occurred(), PyExc_SystemError);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
}

TEST(format_sets_a_formatted_message) {
    PyObject *o = PyLong_FromLong(42);
    CHECK_PTR(PyErr_Format(PyExc_ValueError, "%s=%d (%R)", "x", -3, o), NULL);
    CHECK_ERROR(PyExc_ValueError, "x=-3 (42)");
    Py_DECREF(o);
}

TEST(setting_a_non_exception_type_sets_system_error) {
    PyErr_SetString((PyObject *)&PyLong_Type, "x");
    CHECK_ERROR(PyExc_SystemError, "exception <class 'int'> not a BaseException subclass");
    PyErr_SetNone((PyObject *)&PyUnicode_Type);
    CHECK_ERROR(PyExc_SystemError, "exception <class 'str'> not a BaseException subclass");
    PyObject *five = PyLong_FromLong(5);
    PyErr_SetObject(five, five);
    CHECK_ERROR(PyExc_SystemError, "exception 5 not a BaseException subclass");
    CHECK_INT(Py_REFCNT(five), 1);
    PyObject *inst = PyObject_CallFunction(PyExc_TypeError, "s", "an instance");
    PyErr_SetString(inst, "y");
    CHECK_ERROR(PyExc_SystemError, "exception TypeError('an instance') not a BaseException subclass");
    Py_DECREF(inst);
    Py_DECREF(five);
}

/* ---- PyErr_Print ---------------------------------------------------------- */

TEST(print_writes_type_and_message_and_clears) {
    PyErr_SetString(PyExc_TypeError, "msg");
    CHECK_STR(print_captured(), "TypeError: msg\n");
    CHECK_PTR(PyErr_Occurred(), NULL);
}

TEST(print_writes_only_the_type_for_an_empty_message) {
    PyErr_SetNone(PyExc_ValueError);
    CHECK_STR(print_captured(), "ValueError\n");
    PyErr_SetString(PyExc_StopIteration, "");
    CHECK_STR(print_captured(), "StopIteration\n");
    PyErr_SetObject(PyExc_RuntimeError, Py_None);
    CHECK_STR(print_captured(), "RuntimeError\n");
    PyErr_NoMemory();
    CHECK_STR(print_captured(), "MemoryError\n");
    CHECK_PTR(PyErr_Occurred(), NULL);
}

TEST(print_uses_str_of_the_instance) {
    PyErr_SetString(PyExc_KeyError, "k");
    CHECK_STR(print_captured(), "KeyError: 'k'\n");
    PyObject *pair = Py_BuildValue("(ii)", 1, 2);
    PyErr_SetObject(PyExc_ValueError, pair);
    Py_DECREF(pair);
    CHECK_STR(print_captured(), "ValueError: (1, 2)\n");
    PyObject *n = PyLong_FromLong(-7);
    PyErr_SetObject(PyExc_OverflowError, n);
    Py_DECREF(n);
    CHECK_STR(print_captured(), "OverflowError: -7\n");
}

TEST(print_names_the_class_of_the_instance) {
    PyObject *e = PyObject_CallFunction(PyExc_KeyError, "s", "k");
    PyErr_SetObject(PyExc_Exception, e);
    CHECK_STR(print_captured(), "KeyError: 'k'\n");
    PyErr_SetObject(PyExc_TypeError, e);
    CHECK_STR(print_captured(), "TypeError: 'k'\n");
    CHECK_INT(Py_REFCNT(e), 1);
    Py_DECREF(e);
}

TEST(print_qualifies_a_module_class) {
    PyObject *e = PyErr_NewException("mod.Name", NULL, NULL);
    CHECK(e != NULL);
    PyErr_SetString(e, "msg");
    CHECK_STR(print_captured(), "mod.Name: msg\n");
    PyErr_SetNone(e);
    CHECK_STR(print_captured(), "mod.Name\n");
    CHECK_INT(Py_REFCNT(e), 1);
    Py_DECREF(e);
}

TEST(print_reports_a_failed_normalization) {
    PyObject *cls = failing_init_class();
    CHECK(cls != NULL);
    PyErr_SetString(cls, "never shown");
    CHECK_STR(print_captured(), "RuntimeError: init failed\n");
    CHECK_PTR(PyErr_Occurred(), NULL);
}

TEST(print_without_error_writes_nothing) {
    CHECK_STR(print_captured(), "");
    CHECK_PTR(PyErr_Occurred(), NULL);
}

/* A failed write (here ENOSPC) is ignored, as in CPython. */
TEST(print_ignores_a_failed_write) {
    int full = open("/dev/full", O_WRONLY);
    CHECK(full >= 0);
    PyErr_SetString(PyExc_TypeError, "lost");
    fflush(stderr);
    int saved = dup(2);
    dup2(full, 2);
    PyErr_Print();
    dup2(saved, 2);
    close(saved);
    close(full);
    CHECK_PTR(PyErr_Occurred(), NULL);
}

int main(void) {
    alarm(120); /* it starts threads: a hang is a failure, never a stuck run */
    RUN(set_string_stores_type_and_str_value);
    RUN(set_string_keeps_utf8_text);
    RUN(set_string_with_null_message_is_a_bad_call);
    RUN(set_object_borrows_the_value);
    RUN(set_none_stores_no_value);
    RUN(setting_replaces_and_releases_the_previous_error);
    RUN(occurred_is_borrowed_and_clear_empties);
    RUN(clear_releases_the_value);
    RUN(fetch_without_error_gives_three_nulls);
    RUN(restore_steals_the_references);
    RUN(restore_with_null_type_clears_and_releases);
    RUN(fetch_then_restore_round_trips);
    RUN(error_indicator_is_per_thread);
    RUN(thread_exit_releases_the_error);
    RUN(normalize_string_value_becomes_instance);
    RUN(normalize_tuple_value_becomes_args);
    RUN(normalize_null_value_gives_empty_args);
    RUN(normalize_none_value_gives_empty_args);
    RUN(normalize_keeps_an_instance_of_the_type);
    RUN(normalize_believes_a_subclass_instance);
    RUN(normalize_wraps_an_instance_of_another_class);
    RUN(normalize_of_an_empty_triple_does_nothing);
    RUN(normalize_leaves_a_non_class_type_alone);
    RUN(normalize_failure_replaces_the_triple);
    RUN(normalize_leaves_the_pending_error_alone);
    RUN(normalized_triple_restores_unchanged);
    RUN(exception_matches_the_pending_error);
    RUN(exception_matches_nothing_when_no_error);
    RUN(given_matches_classes_and_instances);
    RUN(given_matches_tuples_of_classes);
    RUN(given_matches_other_objects_only_by_identity);
    RUN(hierarchy_is_cpythons);
    RUN(tasklet_exit_is_no_exception);
    RUN(classes_have_cpythons_names);
    RUN(instances_carry_args);
    RUN(instance_str_and_repr_follow_cpython);
    RUN(keyword_arguments_are_refused);
    RUN(new_exception_derives_exception);
    RUN(new_exception_with_base);
    RUN(new_exception_instances);
    RUN(new_exception_name_needs_a_dot);
    RUN(new_exception_is_a_refcounted_heap_type);
    RUN(no_memory_sets_memory_error);
    RUN(bad_argument_sets_type_error);
    RUN(bad_internal_call_sets_system_error);
    RUN(format_sets_a_formatted_message);
    RUN(setting_a_non_exception_type_sets_system_error);
    RUN(print_writes_type_and_message_and_clears);
    RUN(print_writes_only_the_type_for_an_empty_message);
    RUN(print_uses_str_of_the_instance);
    RUN(print_names_the_class_of_the_instance);
    RUN(print_qualifies_a_module_class);
    RUN(print_reports_a_failed_normalization);
    RUN(print_without_error_writes_nothing);
    RUN(print_ignores_a_failed_write);
    return harness_summary("test_errors");
}
