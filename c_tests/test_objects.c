/* The object model: constructors, accessors, str/repr, calls, types. */
#include "harness.h"

TEST(long_roundtrip) {
    PyObject *o = PyLong_FromLong(-42);
    CHECK(o != NULL);
    CHECK(PyLong_Check(o));
    CHECK_INT(PyLong_AsLong(o), -42);
    CHECK_REPR(o, "-42");
    Py_DECREF(o);
}

TEST(build_value_tuple) {
    PyObject *o = Py_BuildValue("(isd)", 1, "two", 3.5);
    CHECK(o != NULL);
    CHECK_REPR(o, "(1, 'two', 3.5)");
    Py_DECREF(o);
}

TEST(exception_str_and_repr) {
    PyObject *e = PyObject_CallFunction(PyExc_ValueError, "s", "boom");
    CHECK(e != NULL);
    CHECK_STR_OF(e, "boom");
    CHECK_REPR(e, "ValueError('boom')");
    Py_DECREF(e);
}

TEST(set_string_then_matches) {
    PyErr_SetString(PyExc_TypeError, "bad");
    CHECK(PyErr_ExceptionMatches(PyExc_Exception));
    CHECK_ERROR(PyExc_TypeError, "bad");
}

int main(void) {
    RUN(long_roundtrip);
    RUN(build_value_tuple);
    RUN(exception_str_and_repr);
    RUN(set_string_then_matches);
    return harness_summary("test_objects");
}
