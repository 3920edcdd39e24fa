/* The object model: constructors, accessors, str/repr, types, refcounts.
 * Every expected value and message is CPython 3.7's. Calls, Py_BuildValue
 * and PyUnicode_FromFormat are in test_calls.c. */
#include "harness.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>

/* ---- A user-defined static type that counts its deallocations ------------ */

typedef struct {
    PyObject_HEAD
    long value;
} CounterObject;

static int counter_deallocs;

static void counter_dealloc(PyObject *op) {
    counter_deallocs++;
    Py_TYPE(op)->tp_free(op);
}

static PyObject *counter_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    (void)args;
    (void)kwds;
    CounterObject *self = (CounterObject *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->value = 100;
    }
    return (PyObject *)self;
}

/* Counter(n) stores n; Counter() keeps tp_new's 100. */
static int counter_init(PyObject *self, PyObject *args, PyObject *kwds) {
    (void)kwds;
    if (PyTuple_Size(args) > 0) {
        long v = PyLong_AsLong(PyTuple_GetItem(args, 0));
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        ((CounterObject *)self)->value = v;
    }
    return 0;
}

static PyTypeObject Counter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.Counter",
    .tp_basicsize = sizeof(CounterObject),
    .tp_dealloc = counter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = counter_new,
    .tp_init = counter_init,
};

/* A subtype of Counter that only sets its name and base. */
static PyTypeObject SubCounter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.SubCounter",
    .tp_base = &Counter_Type,
};

/* A type with no slots at all: PyType_Ready must fill them in. */
static PyTypeObject Plain_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.Plain",
};

/* A static type whose base is object and that sets no tp_new. */
static PyTypeObject NoNew_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.NoNew",
    .tp_basicsize = sizeof(PyObject),
};

/* A type that does not allow subclassing, and a would-be subtype. */
static PyTypeObject Final_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.Final",
    .tp_new = PyType_GenericNew,
};
static PyTypeObject FinalSub_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.FinalSub",
    .tp_base = &Final_Type,
};

static PyObject *callable_call(PyObject *self, PyObject *args, PyObject *kwds) {
    (void)self;
    (void)args;
    (void)kwds;
    Py_RETURN_NONE;
}

/* repr() of an instance asks for repr() of itself, without end. */
static PyObject *selfish_repr(PyObject *self) {
    return PyObject_Repr(self);
}

static PyTypeObject Selfish_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.Selfish",
    .tp_repr = selfish_repr,
    .tp_new = PyType_GenericNew,
};

/* Instances can be called. */
static PyTypeObject Callable_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.Callable",
    .tp_call = callable_call,
    .tp_new = PyType_GenericNew,
};

/* A new Counter with the given value (through the type's call slot). */
static PyObject *new_counter(long value) {
    if (PyType_Ready(&Counter_Type) < 0) {
        return NULL;
    }
    PyObject *args = Py_BuildValue("(l)", value);
    if (args == NULL) {
        return NULL;
    }
    PyObject *o = PyObject_Call((PyObject *)&Counter_Type, args, NULL);
    Py_DECREF(args);
    return o;
}

/* repr text for an object at an address: fmt has one %p. */
static const char *with_address(const char *fmt, const void *p) {
    static char buf[256];
    snprintf(buf, sizeof buf, fmt, p);
    return buf;
}

/* ---- int and bool --------------------------------------------------------- */

TEST(long_roundtrip) {
    PyObject *o = PyLong_FromLong(-42);
    CHECK(o != NULL);
    CHECK(PyLong_Check(o));
    CHECK_PTR(Py_TYPE(o), &PyLong_Type);
    CHECK_INT(PyLong_AsLong(o), -42);
    CHECK_NO_ERROR();
    CHECK_REPR(o, "-42");
    CHECK_STR_OF(o, "-42");
    Py_DECREF(o);
}

TEST(long_from_every_c_type) {
    PyObject *a = PyLong_FromLong(LONG_MIN);
    PyObject *b = PyLong_FromUnsignedLong(ULONG_MAX);
    PyObject *c = PyLong_FromLongLong(LLONG_MIN);
    PyObject *d = PyLong_FromUnsignedLongLong(ULLONG_MAX);
    PyObject *e = PyLong_FromSsize_t((Py_ssize_t)-7);
    PyObject *f = PyLong_FromLong(0);
    CHECK(a && b && c && d && e && f);
    CHECK_REPR(a, "-9223372036854775808");
    CHECK_REPR(b, "18446744073709551615");
    CHECK_REPR(c, "-9223372036854775808");
    CHECK_REPR(d, "18446744073709551615");
    CHECK_REPR(e, "-7");
    CHECK_REPR(f, "0");
    CHECK_INT(PyLong_AsLong(a), LONG_MIN);
    CHECK_INT(PyLong_AsLong(c), LLONG_MIN);
    CHECK_INT(PyLong_AsLong(e), -7);
    CHECK_NO_ERROR();
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    Py_DECREF(d);
    Py_DECREF(e);
    Py_DECREF(f);
}

TEST(long_as_long_overflow) {
    PyObject *big = PyLong_FromUnsignedLong(ULONG_MAX);
    CHECK(big != NULL);
    CHECK_INT(PyLong_AsLong(big), -1);
    CHECK_ERROR(PyExc_OverflowError, "Python int too large to convert to C long");
    PyObject *edge = PyLong_FromUnsignedLong((unsigned long)LONG_MAX + 1);
    CHECK_INT(PyLong_AsLong(edge), -1);
    CHECK_ERROR(PyExc_OverflowError, "Python int too large to convert to C long");
    PyObject *max = PyLong_FromUnsignedLong((unsigned long)LONG_MAX);
    CHECK_INT(PyLong_AsLong(max), LONG_MAX);
    CHECK_NO_ERROR();
    Py_DECREF(big);
    Py_DECREF(edge);
    Py_DECREF(max);
}

TEST(long_as_long_type_errors) {
    PyObject *s = PyUnicode_FromString("12");
    CHECK_INT(PyLong_AsLong(s), -1);
    CHECK_ERROR(PyExc_TypeError, "an integer is required (got type str)");
    CHECK_INT(PyLong_AsLong(Py_None), -1);
    CHECK_ERROR(PyExc_TypeError, "an integer is required (got type NoneType)");
    CHECK(PyType_Ready(&Counter_Type) == 0);
    PyObject *c = new_counter(1);
    CHECK_INT(PyLong_AsLong(c), -1);
    CHECK_ERROR(PyExc_TypeError, "an integer is required (got type objtest.Counter)");
    CHECK_INT(PyLong_AsLong(NULL), -1);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    Py_DECREF(s);
    Py_DECREF(c);
}

/* CPython 3.7 converts a float through its __int__ (truncation). */
TEST(long_as_long_of_float) {
    PyObject *f = PyFloat_FromDouble(3.9);
    PyObject *g = PyFloat_FromDouble(-3.9);
    PyObject *inf = PyFloat_FromDouble(INFINITY);
    PyObject *nan = PyFloat_FromDouble(NAN);
    PyObject *huge = PyFloat_FromDouble(1e30);
    CHECK_INT(PyLong_AsLong(f), 3);
    CHECK_INT(PyLong_AsLong(g), -3);
    CHECK_NO_ERROR();
    CHECK_INT(PyLong_AsLong(inf), -1);
    CHECK_ERROR(PyExc_OverflowError, "cannot convert float infinity to integer");
    CHECK_INT(PyLong_AsLong(nan), -1);
    CHECK_ERROR(PyExc_ValueError, "cannot convert float NaN to integer");
    CHECK_INT(PyLong_AsLong(huge), -1);
    CHECK_ERROR(PyExc_OverflowError, "Python int too large to convert to C long");
    Py_DECREF(f);
    Py_DECREF(g);
    Py_DECREF(inf);
    Py_DECREF(nan);
    Py_DECREF(huge);
}

TEST(bool_is_int) {
    CHECK(PyLong_Check(Py_True));
    CHECK(PyLong_Check(Py_False));
    CHECK(PyBool_Check(Py_True));
    CHECK_PTR(Py_TYPE(Py_True), &PyBool_Type);
    CHECK_PTR(PyBool_Type.tp_base, &PyLong_Type);
    CHECK_INT(PyLong_AsLong(Py_True), 1);
    CHECK_INT(PyLong_AsLong(Py_False), 0);
    CHECK(PyFloat_AsDouble(Py_True) == 1.0);
    CHECK_REPR(Py_True, "True");
    CHECK_REPR(Py_False, "False");
    CHECK_STR_OF(Py_True, "True");
    PyObject *one = PyLong_FromLong(1);
    CHECK(!PyBool_Check(one));
    Py_DECREF(one);
}

TEST(none_repr_and_type) {
    CHECK_REPR(Py_None, "None");
    CHECK_STR_OF(Py_None, "None");
    CHECK_PTR(Py_TYPE(Py_None), &_PyNone_Type);
    CHECK_REPR(Py_TYPE(Py_None), "<class 'NoneType'>");
}

/* ---- float ---------------------------------------------------------------- */

static const char *float_repr(double v) {
    static char buf[128];
    PyObject *f = PyFloat_FromDouble(v);
    snprintf(buf, sizeof buf, "%s", harness_text(f, 1));
    Py_XDECREF(f);
    return buf;
}

TEST(float_repr_like_python) {
    CHECK_STR(float_repr(1.0), "1.0");
    CHECK_STR(float_repr(0.1), "0.1");
    CHECK_STR(float_repr(-2.5), "-2.5");
    CHECK_STR(float_repr(1e16), "1e+16");
    CHECK_STR(float_repr(1e15), "1000000000000000.0");
    CHECK_STR(float_repr(1.5e-5), "1.5e-05");
    CHECK_STR(float_repr(0.0001), "0.0001");
    CHECK_STR(float_repr(1.0 / 3.0), "0.3333333333333333");
    CHECK_STR(float_repr(123456789.0), "123456789.0");
    CHECK_STR(float_repr(1e22), "1e+22");
    CHECK_STR(float_repr(DBL_MAX), "1.7976931348623157e+308");
    CHECK_STR(float_repr(5e-324), "5e-324");
    CHECK_STR(float_repr(0.0), "0.0");
    CHECK_STR(float_repr(-0.0), "-0.0");
    CHECK_STR(float_repr(INFINITY), "inf");
    CHECK_STR(float_repr(-INFINITY), "-inf");
    CHECK_STR(float_repr(NAN), "nan");
}

TEST(float_str_equals_repr) {
    PyObject *f = PyFloat_FromDouble(2.5e-7);
    CHECK(PyFloat_Check(f));
    CHECK_REPR(f, "2.5e-07");
    CHECK_STR_OF(f, "2.5e-07");
    Py_DECREF(f);
}

TEST(float_as_double) {
    PyObject *f = PyFloat_FromDouble(-1.25);
    PyObject *i = PyLong_FromLong(-3);
    PyObject *big = PyLong_FromUnsignedLongLong(1ULL << 60);
    CHECK(PyFloat_AsDouble(f) == -1.25);
    CHECK(PyFloat_AsDouble(i) == -3.0);
    CHECK(PyFloat_AsDouble(big) == 1152921504606846976.0);
    CHECK_NO_ERROR();
    Py_DECREF(f);
    Py_DECREF(i);
    Py_DECREF(big);
}

TEST(float_as_double_type_error) {
    PyObject *s = PyUnicode_FromString("1.0");
    CHECK(PyFloat_AsDouble(s) == -1.0);
    CHECK_ERROR(PyExc_TypeError, "must be real number, not str");
    CHECK(PyFloat_AsDouble(Py_None) == -1.0);
    CHECK_ERROR(PyExc_TypeError, "must be real number, not NoneType");
    Py_DECREF(s);
}

/* ---- str -------------------------------------------------------------------- */

TEST(str_from_string) {
    PyObject *s = PyUnicode_FromString("h\xc3\xa9llo");
    CHECK(s != NULL);
    CHECK(PyUnicode_Check(s));
    CHECK_STR(PyUnicode_AsUTF8(s), "h\xc3\xa9llo");
    CHECK_STR_OF(s, "h\xc3\xa9llo");
    CHECK_REPR(s, "'h\xc3\xa9llo'");
    Py_DECREF(s);
}

TEST(str_from_string_and_size) {
    PyObject *s = PyUnicode_FromStringAndSize("abcdef", 3);
    PyObject *e = PyUnicode_FromStringAndSize(NULL, 0);
    PyObject *z = PyUnicode_FromStringAndSize("a\0b", 3);
    CHECK(s && e && z);
    CHECK_STR(PyUnicode_AsUTF8(s), "abc");
    CHECK_STR(PyUnicode_AsUTF8(e), "");
    CHECK_REPR(e, "''");
    CHECK(memcmp(PyUnicode_AsUTF8(z), "a\0b", 4) == 0);
    CHECK_REPR(z, "'a\\x00b'");
    Py_DECREF(s);
    Py_DECREF(e);
    Py_DECREF(z);
}

TEST(str_errors) {
    CHECK(PyUnicode_FromStringAndSize("abc", -1) == NULL);
    CHECK_ERROR(PyExc_SystemError, "Negative size passed to PyUnicode_FromStringAndSize");
    CHECK(PyUnicode_FromString("\xff") == NULL);
    CHECK_ERROR(PyExc_ValueError,
                "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte");
    PyObject *i = PyLong_FromLong(1);
    CHECK(PyUnicode_AsUTF8(i) == NULL);
    CHECK_ERROR(PyExc_TypeError, "bad argument type for built-in operation");
    Py_DECREF(i);
}

/* str() of a str is the object itself. */
TEST(str_of_str_is_identity) {
    PyObject *s = PyUnicode_FromString("x");
    PyObject *t = PyObject_Str(s);
    CHECK_PTR(t, s);
    CHECK_INT(Py_REFCNT(s), 2);
    Py_DECREF(t);
    Py_DECREF(s);
}

static const char *str_repr(const char *utf8) {
    static char buf[256];
    PyObject *s = PyUnicode_FromString(utf8);
    snprintf(buf, sizeof buf, "%s", harness_text(s, 1));
    Py_XDECREF(s);
    return buf;
}

TEST(str_repr_quoting) {
    CHECK_STR(str_repr("a"), "'a'");
    CHECK_STR(str_repr("it's"), "\"it's\"");
    CHECK_STR(str_repr("say \"hi\""), "'say \"hi\"'");
    CHECK_STR(str_repr("it's \"x\""), "'it\\'s \"x\"'");
    CHECK_STR(str_repr(""), "''");
}

TEST(str_repr_escapes) {
    CHECK_STR(str_repr("a\nb"), "'a\\nb'");
    CHECK_STR(str_repr("\t"), "'\\t'");
    CHECK_STR(str_repr("\r"), "'\\r'");
    CHECK_STR(str_repr("back\\slash"), "'back\\\\slash'");
    CHECK_STR(str_repr("\x01"), "'\\x01'");
    CHECK_STR(str_repr("\x1f\x7f"), "'\\x1f\\x7f'");
    /* Non-ASCII: printable characters stay, the others are escaped. */
    CHECK_STR(str_repr("\xc3\xa9"), "'\xc3\xa9'");
    CHECK_STR(str_repr("\xe2\x82\xac"), "'\xe2\x82\xac'");
    CHECK_STR(str_repr("\xc2\x80"), "'\\x80'");
    CHECK_STR(str_repr("\xc2\xa0"), "'\\xa0'");
    CHECK_STR(str_repr("\xc2\xad"), "'\\xad'");
    CHECK_STR(str_repr("\xe2\x80\xa8"), "'\\u2028'");
    CHECK_STR(str_repr("\xef\xbb\xbf"), "'\\ufeff'");
    CHECK_STR(str_repr("\xf3\xb0\x80\x80"), "'\\U000f0000'");
    CHECK_STR(str_repr("\xf0\x9f\x98\x80"), "'\xf0\x9f\x98\x80'");
}

/* ---- bytes ------------------------------------------------------------------ */

TEST(bytes_roundtrip) {
    PyObject *b = PyBytes_FromStringAndSize("ab\0c", 4);
    CHECK(b != NULL);
    CHECK(PyBytes_Check(b));
    CHECK_INT(PyBytes_Size(b), 4);
    CHECK(memcmp(PyBytes_AsString(b), "ab\0c", 5) == 0);
    CHECK_REPR(b, "b'ab\\x00c'");
    CHECK_STR_OF(b, "b'ab\\x00c'");
    Py_DECREF(b);
}

TEST(bytes_from_null_is_zeroed) {
    PyObject *b = PyBytes_FromStringAndSize(NULL, 3);
    CHECK(b != NULL);
    CHECK_INT(PyBytes_Size(b), 3);
    CHECK_REPR(b, "b'\\x00\\x00\\x00'");
    PyObject *e = PyBytes_FromStringAndSize("", 0);
    CHECK_INT(PyBytes_Size(e), 0);
    CHECK_STR(PyBytes_AsString(e), "");
    CHECK_REPR(e, "b''");
    Py_DECREF(b);
    Py_DECREF(e);
}

static const char *bytes_repr(const char *s, Py_ssize_t n) {
    static char buf[256];
    PyObject *b = PyBytes_FromStringAndSize(s, n);
    snprintf(buf, sizeof buf, "%s", harness_text(b, 1));
    Py_XDECREF(b);
    return buf;
}

TEST(bytes_repr_escapes) {
    CHECK_STR(bytes_repr("it's", 4), "b\"it's\"");
    CHECK_STR(bytes_repr("'\"", 2), "b'\\'\"'");
    CHECK_STR(bytes_repr("\n\t\r\\", 4), "b'\\n\\t\\r\\\\'");
    CHECK_STR(bytes_repr("\x80\xff\x7f", 3), "b'\\x80\\xff\\x7f'");
    CHECK_STR(bytes_repr("\xc3\xa9", 2), "b'\\xc3\\xa9'");
}

TEST(bytes_type_errors) {
    PyObject *s = PyUnicode_FromString("text");
    CHECK(PyBytes_AsString(s) == NULL);
    CHECK_ERROR(PyExc_TypeError, "expected bytes, str found");
    CHECK_INT(PyBytes_Size(s), -1);
    CHECK_ERROR(PyExc_TypeError, "expected bytes, str found");
    CHECK_INT(PyBytes_Size(Py_None), -1);
    CHECK_ERROR(PyExc_TypeError, "expected bytes, NoneType found");
    CHECK(PyBytes_FromStringAndSize("x", -1) == NULL);
    CHECK_ERROR(PyExc_SystemError, "Negative size passed to PyBytes_FromStringAndSize");
    Py_DECREF(s);
}

/* ---- tuple ------------------------------------------------------------------ */

TEST(tuple_new_set_get) {
    PyObject *t = PyTuple_New(2);
    CHECK(t != NULL);
    CHECK(PyTuple_Check(t));
    CHECK_INT(PyTuple_Size(t), 2);
    PyObject *a = PyLong_FromLong(1);
    PyObject *b = PyUnicode_FromString("b");
    CHECK_INT(PyTuple_SetItem(t, 0, a), 0);
    CHECK_INT(PyTuple_SetItem(t, 1, b), 0);
    /* Stolen: the tuple now owns the only references. */
    CHECK_INT(Py_REFCNT(a), 1);
    CHECK_PTR(PyTuple_GetItem(t, 0), a);
    CHECK_PTR(PyTuple_GetItem(t, 1), b);
    /* Borrowed: GetItem does not add a reference. */
    CHECK_INT(Py_REFCNT(a), 1);
    CHECK_REPR(t, "(1, 'b')");
    Py_DECREF(t);
}

TEST(tuple_repr_forms) {
    PyObject *empty = PyTuple_New(0);
    PyObject *one = Py_BuildValue("(i)", 1);
    PyObject *two = Py_BuildValue("(ii)", 1, 2);
    PyObject *nested = Py_BuildValue("((i)sO(()))", 1, "a", Py_None);
    CHECK(empty && one && two && nested);
    CHECK_REPR(empty, "()");
    CHECK_REPR(one, "(1,)");
    CHECK_REPR(two, "(1, 2)");
    CHECK_REPR(nested, "((1,), 'a', None, ((),))");
    CHECK_STR_OF(two, "(1, 2)");
    Py_DECREF(empty);
    Py_DECREF(one);
    Py_DECREF(two);
    Py_DECREF(nested);
}

TEST(tuple_get_item_out_of_range) {
    PyObject *t = Py_BuildValue("(ii)", 1, 2);
    CHECK(PyTuple_GetItem(t, 2) == NULL);
    CHECK_ERROR(PyExc_IndexError, "tuple index out of range");
    CHECK(PyTuple_GetItem(t, -1) == NULL);
    CHECK_ERROR(PyExc_IndexError, "tuple index out of range");
    PyObject *i = PyLong_FromLong(1);
    CHECK(PyTuple_GetItem(i, 0) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK_INT(PyTuple_Size(i), -1);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    Py_DECREF(i);
    Py_DECREF(t);
}

TEST(tuple_set_item_steals_even_on_failure) {
    PyObject *t = PyTuple_New(1);
    int before = counter_deallocs;
    CHECK_INT(PyTuple_SetItem(t, 1, new_counter(1)), -1);
    CHECK_ERROR(PyExc_IndexError, "tuple assignment index out of range");
    CHECK_INT(counter_deallocs, before + 1);
    CHECK_INT(PyTuple_SetItem(t, -1, new_counter(2)), -1);
    CHECK_ERROR(PyExc_IndexError, "tuple assignment index out of range");
    CHECK_INT(counter_deallocs, before + 2);
    PyObject *notuple = PyLong_FromLong(0);
    CHECK_INT(PyTuple_SetItem(notuple, 0, new_counter(3)), -1);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK_INT(counter_deallocs, before + 3);
    Py_DECREF(notuple);
    Py_DECREF(t);
}

TEST(tuple_set_item_replaces_and_releases) {
    PyObject *t = PyTuple_New(1);
    int before = counter_deallocs;
    CHECK_INT(PyTuple_SetItem(t, 0, new_counter(1)), 0);
    CHECK_INT(PyTuple_SetItem(t, 0, new_counter(2)), 0);
    CHECK_INT(counter_deallocs, before + 1);
    CHECK_INT(((CounterObject *)PyTuple_GetItem(t, 0))->value, 2);
    Py_DECREF(t);
    CHECK_INT(counter_deallocs, before + 2);
}

TEST(tuple_pack) {
    PyObject *a = PyLong_FromLong(1), *b = PyUnicode_FromString("x");
    PyObject *t = PyTuple_Pack(3, a, b, Py_None);
    CHECK(t != NULL);
    CHECK_INT(PyTuple_Size(t), 3);
    CHECK_INT(Py_REFCNT(a), 2);
    CHECK_PTR(PyTuple_GetItem(t, 2), Py_None);
    CHECK_REPR(t, "(1, 'x', None)");
    PyObject *e = PyTuple_Pack(0);
    CHECK_REPR(e, "()");
    Py_DECREF(t);
    CHECK_INT(Py_REFCNT(a), 1);
    Py_DECREF(e);
    Py_DECREF(a);
    Py_DECREF(b);
}

TEST(tuple_new_negative) {
    CHECK(PyTuple_New(-1) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
}

/* ---- dict ------------------------------------------------------------------- */

TEST(dict_set_get_string) {
    PyObject *d = PyDict_New();
    PyObject *v = PyLong_FromLong(1);
    CHECK(PyDict_Check(d));
    CHECK_INT(PyDict_Size(d), 0);
    CHECK_REPR(d, "{}");
    CHECK_INT(PyDict_SetItemString(d, "a", v), 0);
    CHECK_INT(Py_REFCNT(v), 2);
    CHECK_INT(PyDict_Size(d), 1);
    PyObject *got = PyDict_GetItemString(d, "a");
    CHECK_PTR(got, v);
    CHECK_INT(Py_REFCNT(v), 2);
    CHECK_REPR(d, "{'a': 1}");
    Py_DECREF(d);
    CHECK_INT(Py_REFCNT(v), 1);
    Py_DECREF(v);
}

TEST(dict_missing_key_no_error) {
    PyObject *d = PyDict_New();
    CHECK(PyDict_GetItemString(d, "nope") == NULL);
    CHECK(PyErr_Occurred() == NULL);
    Py_DECREF(d);
}

TEST(dict_replace_value) {
    PyObject *d = PyDict_New();
    int before = counter_deallocs;
    PyObject *c1 = new_counter(1), *c2 = new_counter(2);
    CHECK_INT(PyDict_SetItemString(d, "k", c1), 0);
    Py_DECREF(c1);
    CHECK_INT(PyDict_SetItemString(d, "k", c2), 0);
    Py_DECREF(c2);
    CHECK_INT(counter_deallocs, before + 1);
    CHECK_INT(PyDict_Size(d), 1);
    CHECK_PTR(PyDict_GetItemString(d, "k"), c2);
    Py_DECREF(d);
    CHECK_INT(counter_deallocs, before + 2);
}

TEST(dict_repr_in_insertion_order) {
    PyObject *d = Py_BuildValue("{s:i,s:s,i:O}", "b", 2, "a", "x", 3, Py_None);
    CHECK(d != NULL);
    CHECK_REPR(d, "{'b': 2, 'a': 'x', 3: None}");
    CHECK_STR_OF(d, "{'b': 2, 'a': 'x', 3: None}");
    Py_DECREF(d);
}

/* Keys compare as Python compares them: 1 == 1.0 == True, equal bytes and
 * equal tuples are the same key. */
TEST(dict_keys_compare_by_value) {
    PyObject *d = PyDict_New();
    PyObject *k1 = PyLong_FromLong(1), *k2 = PyFloat_FromDouble(1.0);
    PyObject *b1 = PyBytes_FromStringAndSize("k", 1), *b2 = PyBytes_FromStringAndSize("k", 1);
    PyObject *t1 = Py_BuildValue("(is)", 1, "a"), *t2 = Py_BuildValue("(is)", 1, "a");
    PyObject *s = PyUnicode_FromString("k");
    CHECK_INT(PyDict_SetItem(d, k1, Py_None), 0);
    CHECK_INT(PyDict_SetItem(d, k2, Py_True), 0);
    CHECK_INT(PyDict_SetItem(d, Py_True, Py_False), 0);
    CHECK_INT(PyDict_Size(d), 1);
    CHECK_REPR(d, "{1: False}");
    CHECK_INT(PyDict_SetItem(d, b1, Py_None), 0);
    CHECK_INT(PyDict_SetItem(d, b2, Py_True), 0);
    CHECK_INT(PyDict_Size(d), 2);
    CHECK_INT(PyDict_SetItem(d, s, Py_None), 0);
    CHECK_INT(PyDict_Size(d), 3);
    CHECK_INT(PyDict_SetItem(d, t1, Py_None), 0);
    CHECK_INT(PyDict_SetItem(d, t2, Py_True), 0);
    CHECK_INT(PyDict_Size(d), 4);
    CHECK_REPR(d, "{1: False, b'k': True, 'k': None, (1, 'a'): True}");
    Py_DECREF(d);
    Py_DECREF(k1);
    Py_DECREF(k2);
    Py_DECREF(b1);
    Py_DECREF(b2);
    Py_DECREF(t1);
    Py_DECREF(t2);
    Py_DECREF(s);
}

/* ---- containers changed by the code their repr runs ---------------------- */

/* A Meddler's repr runs user code against the container it sits in: it
 * appends `meddle_count` entries to `meddle_dict`, or replaces
 * `meddle_dict['a']` (`meddle_replace`), or item 0 of `meddle_tuple`, the
 * first time only. Deallocations are counted. */
static PyTypeObject Meddler_Type;
static PyObject *meddle_dict, *meddle_tuple, *meddle_exception;
static int meddle_count, meddle_replace, meddle_done, meddler_deallocs, meddler_deallocs_seen;

static PyObject *meddler_repr(PyObject *self) {
    if (!meddle_done) {
        meddle_done = 1;
        for (int i = 0; meddle_dict != NULL && i < meddle_count; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", i);
            PyObject *v = PyLong_FromLong(i);
            PyDict_SetItemString(meddle_dict, key, v);
            Py_DECREF(v);
        }
        if (meddle_dict != NULL && meddle_replace) {
            PyDict_SetItemString(meddle_dict, "a", Py_None);
        }
        if (meddle_tuple != NULL) {
            Py_INCREF(Py_None);
            PyTuple_SetItem(meddle_tuple, 0, Py_None);
        }
        if (meddle_exception != NULL) {
            PyObject *no_args = PyTuple_New(0);
            Py_TYPE(meddle_exception)->tp_init(meddle_exception, no_args, NULL);
            Py_DECREF(no_args);
        }
        /* Whoever called this repr still holds `self`. */
        meddler_deallocs_seen = meddler_deallocs;
    }
    return PyUnicode_FromString(Py_TYPE(self) == &Meddler_Type ? "M" : "?");
}

static void meddler_dealloc(PyObject *op) {
    meddler_deallocs++;
    Py_TYPE(op)->tp_free(op);
}

static PyTypeObject Meddler_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.Meddler",
    .tp_repr = meddler_repr,
    .tp_dealloc = meddler_dealloc,
    .tp_new = PyType_GenericNew,
};

static PyObject *new_meddler(void) {
    meddle_dict = meddle_tuple = meddle_exception = NULL;
    meddle_count = meddle_replace = meddle_done = meddler_deallocs = meddler_deallocs_seen = 0;
    if (PyType_Ready(&Meddler_Type) < 0) {
        return NULL;
    }
    return PyObject_CallObject((PyObject *)&Meddler_Type, NULL);
}

/* Entries added while repr() runs are shown, as CPython's PyDict_Next
 * walk shows them; the entries are never read from a freed vector. */
TEST(dict_repr_while_a_value_adds_entries) {
    PyObject *m = new_meddler();
    CHECK(m != NULL);
    PyObject *d = Py_BuildValue("{s:N,s:i}", "a", m, "b", 1);
    CHECK(d != NULL);
    meddle_dict = d;
    meddle_count = 40;
    PyObject *r = PyObject_Repr(d);
    CHECK(r != NULL);
    const char *text = PyUnicode_AsUTF8(r);
    CHECK(strncmp(text, "{'a': M, 'b': 1, 'k0': 0, 'k1': 1, ", 35) == 0);
    CHECK(strcmp(text + strlen(text) - 10, "'k39': 39}") == 0);
    Py_DECREF(r);
    CHECK_INT(PyDict_Size(d), 42);
    Py_DECREF(d);
    CHECK_INT(meddler_deallocs, 1);
}

/* A value whose repr replaces it: repr() holds it until it is done (the
 * dict's reference alone would be gone), and shows what it saw. */
TEST(dict_repr_while_a_value_replaces_itself) {
    PyObject *m = new_meddler();
    CHECK(m != NULL);
    PyObject *d = PyDict_New();
    CHECK_INT(PyDict_SetItemString(d, "a", m), 0);
    Py_DECREF(m);
    meddle_dict = d;
    meddle_replace = 1;
    CHECK_REPR(d, "{'a': M}");
    CHECK_INT(meddler_deallocs_seen, 0);
    CHECK_INT(meddler_deallocs, 1);
    CHECK_REPR(d, "{'a': None}");
    Py_DECREF(d);
}

/* The same for a tuple whose item's repr replaces it. */
TEST(tuple_repr_while_an_item_replaces_itself) {
    PyObject *m = new_meddler();
    CHECK(m != NULL);
    PyObject *t = PyTuple_New(2);
    PyTuple_SetItem(t, 0, m);
    PyTuple_SetItem(t, 1, PyLong_FromLong(2));
    meddle_tuple = t;
    CHECK_REPR(t, "(M, 2)");
    CHECK_INT(meddler_deallocs_seen, 0);
    CHECK_INT(meddler_deallocs, 1);
    CHECK_REPR(t, "(None, 2)");
    Py_DECREF(t);
}

/* And for an exception whose argument's repr replaces its arguments. */
TEST(exception_repr_while_an_argument_replaces_the_arguments) {
    PyObject *m = new_meddler();
    CHECK(m != NULL);
    PyObject *e = PyObject_CallFunction(PyExc_ValueError, "N", m);
    CHECK(e != NULL);
    meddle_exception = e;
    CHECK_REPR(e, "ValueError(M)");
    CHECK_INT(meddler_deallocs_seen, 0);
    CHECK_INT(meddler_deallocs, 1);
    CHECK_REPR(e, "ValueError()");
    Py_DECREF(e);
}

/* A value whose dealloc adds entries to the dict that replaces it. */
static void meddler_dealloc_adds(PyObject *op) {
    meddler_deallocs++;
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof key, "d%d", i);
        PyDict_SetItemString(meddle_dict, key, Py_None);
    }
    Py_TYPE(op)->tp_free(op);
}

static PyTypeObject DeallocMeddler_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.DeallocMeddler",
    .tp_dealloc = meddler_dealloc_adds,
    .tp_new = PyType_GenericNew,
};

TEST(dict_set_item_while_the_old_value_adds_entries) {
    CHECK_INT(PyType_Ready(&DeallocMeddler_Type), 0);
    PyObject *m = PyObject_CallObject((PyObject *)&DeallocMeddler_Type, NULL);
    CHECK(m != NULL);
    meddler_deallocs = 0;
    meddle_dict = PyDict_New();
    CHECK_INT(PyDict_SetItemString(meddle_dict, "a", m), 0);
    Py_DECREF(m);
    CHECK_INT(PyDict_SetItemString(meddle_dict, "a", Py_True), 0);
    CHECK_INT(meddler_deallocs, 1);
    CHECK_INT(PyDict_Size(meddle_dict), 41);
    CHECK_PTR(PyDict_GetItemString(meddle_dict, "a"), Py_True);
    Py_DECREF(meddle_dict);
    meddle_dict = NULL;
}

/* Containers that hold themselves show "..." for the inner one, as
 * CPython's Py_ReprEnter makes them. */
TEST(repr_of_containers_that_hold_themselves) {
    PyObject *d = PyDict_New();
    CHECK_INT(PyDict_SetItemString(d, "self", d), 0);
    CHECK_REPR(d, "{'self': {...}}");
    PyObject *t = PyTuple_New(2);
    Py_INCREF(t);
    PyTuple_SetItem(t, 0, t);
    Py_INCREF(d);
    PyTuple_SetItem(t, 1, d);
    CHECK_REPR(t, "((...), {'self': {...}})");
    CHECK_STR_OF(t, "((...), {'self': {...}})");
    /* Break the cycles. */
    CHECK_INT(PyDict_SetItemString(d, "self", Py_None), 0);
    Py_INCREF(Py_None);
    PyTuple_SetItem(t, 0, Py_None);
    CHECK_REPR(t, "(None, {'self': None})");
    Py_DECREF(t);
    Py_DECREF(d);
}

TEST(dict_is_true) {
    PyObject *d = PyDict_New();
    CHECK_INT(PyObject_IsTrue(d), 0);
    PyDict_SetItemString(d, "a", Py_None);
    CHECK_INT(PyObject_IsTrue(d), 1);
    Py_DECREF(d);
}

/* ---- capsules ----------------------------------------------------------------- */

static int capsule_payload = 42;
static int capsule_destructor_calls;
static void *capsule_destructor_saw;

static void capsule_destructor(PyObject *cap) {
    capsule_destructor_calls++;
    capsule_destructor_saw = PyCapsule_GetPointer(cap, "objtest.cap");
}

TEST(capsule_get_pointer) {
    PyObject *c = PyCapsule_New(&capsule_payload, "objtest.cap", NULL);
    CHECK(c != NULL);
    CHECK(PyCapsule_CheckExact(c));
    /* Names compare by content, not by address. */
    char name[] = "objtest.cap";
    CHECK_PTR(PyCapsule_GetPointer(c, name), &capsule_payload);
    CHECK_NO_ERROR();
    CHECK(PyCapsule_GetPointer(c, "objtest.other") == NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with incorrect name");
    CHECK(PyCapsule_GetPointer(c, NULL) == NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with incorrect name");
    CHECK_INT(PyObject_IsTrue(c), 1);
    Py_DECREF(c);
}

TEST(capsule_null_name) {
    PyObject *c = PyCapsule_New(&capsule_payload, NULL, NULL);
    CHECK(c != NULL);
    CHECK_PTR(PyCapsule_GetPointer(c, NULL), &capsule_payload);
    CHECK(PyCapsule_GetPointer(c, "x") == NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with incorrect name");
    CHECK_REPR(c, with_address("<capsule object NULL at %p>", c));
    Py_DECREF(c);
}

TEST(capsule_errors) {
    CHECK(PyCapsule_New(NULL, "x", NULL) == NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_New called with null pointer");
    PyObject *i = PyLong_FromLong(1);
    CHECK(PyCapsule_GetPointer(i, NULL) == NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with invalid PyCapsule object");
    CHECK(PyCapsule_GetPointer(NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with invalid PyCapsule object");
    CHECK(!PyCapsule_CheckExact(i));
    Py_DECREF(i);
}

TEST(capsule_destructor_on_last_decref) {
    capsule_destructor_calls = 0;
    capsule_destructor_saw = NULL;
    PyObject *c = PyCapsule_New(&capsule_payload, "objtest.cap", capsule_destructor);
    CHECK(c != NULL);
    Py_INCREF(c);
    Py_DECREF(c);
    CHECK_INT(capsule_destructor_calls, 0);
    Py_DECREF(c);
    CHECK_INT(capsule_destructor_calls, 1);
    /* The destructor can still read the capsule. */
    CHECK_PTR(capsule_destructor_saw, &capsule_payload);
}

TEST(capsule_repr) {
    PyObject *c = PyCapsule_New(&capsule_payload, "objtest.cap", NULL);
    CHECK_REPR(c, with_address("<capsule object \"objtest.cap\" at %p>", c));
    CHECK_REPR(Py_TYPE(c), "<class 'PyCapsule'>");
    Py_DECREF(c);
}

/* ---- str()/repr() of built-in types and exceptions ------------------------------ */

TEST(type_reprs) {
    CHECK_REPR(&PyLong_Type, "<class 'int'>");
    CHECK_REPR(&PyBool_Type, "<class 'bool'>");
    CHECK_REPR(&PyFloat_Type, "<class 'float'>");
    CHECK_REPR(&PyUnicode_Type, "<class 'str'>");
    CHECK_REPR(&PyBytes_Type, "<class 'bytes'>");
    CHECK_REPR(&PyTuple_Type, "<class 'tuple'>");
    CHECK_REPR(&PyDict_Type, "<class 'dict'>");
    CHECK_REPR(&PyType_Type, "<class 'type'>");
    CHECK_REPR(&PyBaseObject_Type, "<class 'object'>");
    CHECK_REPR(&PyCFunction_Type, "<class 'builtin_function_or_method'>");
    CHECK_REPR(PyExc_ValueError, "<class 'ValueError'>");
    CHECK_REPR(PyExc_TaskletExit, "<class 'TaskletExit'>");
    CHECK_STR_OF(&PyLong_Type, "<class 'int'>");
    CHECK(PyType_Ready(&Counter_Type) == 0);
    CHECK_REPR(&Counter_Type, "<class 'objtest.Counter'>");
}

TEST(object_and_instance_repr) {
    PyObject *args = PyTuple_New(0);
    PyObject *o = PyObject_Call((PyObject *)&PyBaseObject_Type, args, NULL);
    CHECK(o != NULL);
    CHECK_PTR(Py_TYPE(o), &PyBaseObject_Type);
    CHECK_REPR(o, with_address("<object object at %p>", o));
    CHECK_STR_OF(o, with_address("<object object at %p>", o));
    PyObject *c = new_counter(1);
    CHECK_REPR(c, with_address("<objtest.Counter object at %p>", c));
    Py_DECREF(c);
    Py_DECREF(o);
    Py_DECREF(args);
}

TEST(object_takes_no_arguments) {
    PyObject *args = Py_BuildValue("(i)", 1);
    CHECK(PyObject_Call((PyObject *)&PyBaseObject_Type, args, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "object() takes no arguments");
    Py_DECREF(args);
}

/* An exception instance of class exc with the arguments built from fmt. */
static PyObject *make_exc(PyObject *exc, const char *fmt, PyObject *arg1, PyObject *arg2) {
    PyObject *args = fmt[0] == '\0' ? PyTuple_New(0) : Py_BuildValue(fmt, arg1, arg2);
    PyObject *e = args ? PyObject_Call(exc, args, NULL) : NULL;
    Py_XDECREF(args);
    return e;
}

TEST(exception_str_and_repr) {
    PyObject *e = PyObject_CallFunction(PyExc_ValueError, "s", "boom");
    CHECK(e != NULL);
    CHECK_STR_OF(e, "boom");
    CHECK_REPR(e, "ValueError('boom')");
    Py_DECREF(e);
}

TEST(exception_no_args) {
    PyObject *e = make_exc(PyExc_RuntimeError, "", NULL, NULL);
    CHECK(e != NULL);
    CHECK_STR_OF(e, "");
    CHECK_REPR(e, "RuntimeError()");
    PyObject *args = PyObject_GetAttrString(e, "args");
    CHECK_REPR(args, "()");
    Py_DECREF(args);
    Py_DECREF(e);
}

TEST(exception_one_non_str_arg) {
    PyObject *five = PyLong_FromLong(5);
    PyObject *e = make_exc(PyExc_TypeError, "(O)", five, NULL);
    CHECK_STR_OF(e, "5");
    CHECK_REPR(e, "TypeError(5)");
    Py_DECREF(e);
    PyObject *tup = Py_BuildValue("(i)", 1);
    e = make_exc(PyExc_TypeError, "(O)", tup, NULL);
    CHECK_STR_OF(e, "(1,)");
    CHECK_REPR(e, "TypeError((1,))");
    Py_DECREF(e);
    Py_DECREF(tup);
    Py_DECREF(five);
}

TEST(exception_two_args) {
    PyObject *one = PyLong_FromLong(1), *two = PyLong_FromLong(2);
    PyObject *e = make_exc(PyExc_ValueError, "(OO)", one, two);
    CHECK_STR_OF(e, "(1, 2)");
    CHECK_REPR(e, "ValueError(1, 2)");
    PyObject *args = PyObject_GetAttrString(e, "args");
    CHECK_REPR(args, "(1, 2)");
    Py_DECREF(args);
    Py_DECREF(e);
    PyObject *a = PyUnicode_FromString("a");
    e = make_exc(PyExc_Exception, "(OO)", a, Py_None);
    CHECK_STR_OF(e, "('a', None)");
    CHECK_REPR(e, "Exception('a', None)");
    Py_DECREF(e);
    Py_DECREF(a);
    Py_DECREF(one);
    Py_DECREF(two);
}

TEST(key_error_str_is_repr_of_arg) {
    PyObject *k = PyUnicode_FromString("key");
    PyObject *e = make_exc(PyExc_KeyError, "(O)", k, NULL);
    CHECK_STR_OF(e, "'key'");
    CHECK_REPR(e, "KeyError('key')");
    Py_DECREF(e);
    e = make_exc(PyExc_KeyError, "", NULL, NULL);
    CHECK_STR_OF(e, "");
    CHECK_REPR(e, "KeyError()");
    Py_DECREF(e);
    e = make_exc(PyExc_KeyError, "(OO)", k, k);
    CHECK_STR_OF(e, "('key', 'key')");
    Py_DECREF(e);
    PyErr_SetObject(PyExc_KeyError, k);
    CHECK_ERROR(PyExc_KeyError, "'key'");
    Py_DECREF(k);
}

TEST(exception_of_exception) {
    PyObject *k = PyUnicode_FromString("k");
    PyObject *inner = make_exc(PyExc_KeyError, "(O)", k, NULL);
    PyObject *outer = make_exc(PyExc_ValueError, "(O)", inner, NULL);
    CHECK_STR_OF(outer, "'k'");
    CHECK_REPR(outer, "ValueError(KeyError('k'))");
    Py_DECREF(outer);
    Py_DECREF(inner);
    Py_DECREF(k);
}

TEST(exception_keywords_rejected) {
    PyObject *args = PyTuple_New(0);
    PyObject *kw = Py_BuildValue("{s:i}", "a", 1);
    CHECK(PyObject_Call(PyExc_ValueError, args, kw) == NULL);
    CHECK_ERROR(PyExc_TypeError, "ValueError() takes no keyword arguments");
    PyObject *empty = PyDict_New();
    PyObject *e = PyObject_Call(PyExc_ValueError, args, empty);
    CHECK(e != NULL);
    CHECK_REPR(e, "ValueError()");
    Py_DECREF(e);
    Py_DECREF(empty);
    Py_DECREF(kw);
    Py_DECREF(args);
}

TEST(new_exception_class) {
    PyObject *cls = PyErr_NewException("objtest.MyError", NULL, NULL);
    CHECK(cls != NULL);
    CHECK(PyType_Check(cls));
    CHECK_REPR(cls, "<class 'objtest.MyError'>");
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)PyExc_Exception), 1);
    PyObject *name = PyObject_GetAttrString(cls, "__name__");
    CHECK_REPR(name, "'MyError'");
    Py_DECREF(name);
    PyObject *e = PyObject_CallFunction(cls, "s", "x");
    CHECK(e != NULL);
    CHECK_REPR(e, "MyError('x')");
    CHECK_STR_OF(e, "x");
    CHECK_INT(PyObject_IsInstance(e, PyExc_Exception), 1);
    Py_DECREF(e);
    Py_DECREF(cls);
}

/* A heap type's tp_name holds no module in CPython: messages show "MyError". */
TEST(new_exception_class_in_messages) {
    PyObject *cls = PyErr_NewException("objtest.MyError", PyExc_ValueError, NULL);
    CHECK(cls != NULL);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)PyExc_ValueError), 1);
    PyObject *e = PyObject_CallFunction(cls, NULL);
    CHECK(e != NULL);
    CHECK(PyObject_GetAttrString(e, "nope") == NULL);
    CHECK_ERROR(PyExc_AttributeError, "'MyError' object has no attribute 'nope'");
    CHECK(PyObject_GetAttrString(cls, "nope") == NULL);
    CHECK_ERROR(PyExc_AttributeError, "type object 'MyError' has no attribute 'nope'");
    PyObject *args = PyTuple_New(0);
    PyObject *kw = Py_BuildValue("{s:i}", "a", 1);
    CHECK(PyObject_Call(cls, args, kw) == NULL);
    CHECK_ERROR(PyExc_TypeError, "MyError() takes no keyword arguments");
    Py_DECREF(e);
    Py_DECREF(cls);
    Py_DECREF(kw);
    Py_DECREF(args);
    /* A class holds a reference to its (heap) base until it is freed. */
    PyObject *base = PyErr_NewException("objtest.Base", NULL, NULL);
    PyObject *sub = PyErr_NewException("objtest.Sub", base, NULL);
    Py_ssize_t base_refs = Py_REFCNT(base);
    Py_DECREF(sub);
    CHECK_INT(Py_REFCNT(base), base_refs - 1);
    Py_DECREF(base);
}

TEST(exception_hierarchy) {
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_TaskletExit, (PyTypeObject *)PyExc_SystemExit), 1);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_TaskletExit, (PyTypeObject *)PyExc_BaseException), 1);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_TaskletExit, (PyTypeObject *)PyExc_Exception), 0);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_KeyError, (PyTypeObject *)PyExc_LookupError), 1);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_IndexError, (PyTypeObject *)PyExc_LookupError), 1);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_ZeroDivisionError, (PyTypeObject *)PyExc_ArithmeticError), 1);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_OverflowError, (PyTypeObject *)PyExc_ArithmeticError), 1);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_RecursionError, (PyTypeObject *)PyExc_RuntimeError), 1);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_StopIteration, (PyTypeObject *)PyExc_Exception), 1);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)PyExc_ValueError, (PyTypeObject *)PyExc_TypeError), 0);
}

TEST(set_string_then_matches) {
    PyErr_SetString(PyExc_TypeError, "bad");
    CHECK(PyErr_ExceptionMatches(PyExc_Exception));
    CHECK_ERROR(PyExc_TypeError, "bad");
}

/* ---- types ------------------------------------------------------------------ */

TEST(type_ready_fills_slots) {
    CHECK(Py_TYPE(&Plain_Type) == NULL);
    CHECK(Plain_Type.tp_base == NULL);
    CHECK(Plain_Type.tp_repr == NULL);
    CHECK_INT(PyType_Ready(&Plain_Type), 0);
    CHECK_PTR(Py_TYPE(&Plain_Type), &PyType_Type);
    CHECK_PTR(Plain_Type.tp_base, &PyBaseObject_Type);
    CHECK(Plain_Type.tp_flags & Py_TPFLAGS_READY);
    CHECK_INT(Plain_Type.tp_basicsize, sizeof(PyObject));
    CHECK(Plain_Type.tp_repr == PyBaseObject_Type.tp_repr);
    CHECK(Plain_Type.tp_alloc == PyBaseObject_Type.tp_alloc);
    CHECK(Plain_Type.tp_free == PyBaseObject_Type.tp_free);
    CHECK(Plain_Type.tp_init == PyBaseObject_Type.tp_init);
    /* A static type whose base is object does not inherit tp_new. */
    CHECK(Plain_Type.tp_new == NULL);
    CHECK(PyType_Check((PyObject *)&Plain_Type));
    /* A second call changes nothing. */
    CHECK_INT(PyType_Ready(&Plain_Type), 0);
    CHECK_PTR(Plain_Type.tp_base, &PyBaseObject_Type);
}

TEST(type_ready_requires_name) {
    PyTypeObject nameless = {PyVarObject_HEAD_INIT(NULL, 0) .tp_basicsize = sizeof(PyObject)};
    CHECK_INT(PyType_Ready(&nameless), -1);
    CHECK_ERROR(PyExc_SystemError, "Type does not define the tp_name field.");
}

TEST(type_ready_base_must_allow_subclassing) {
    CHECK_INT(PyType_Ready(&FinalSub_Type), -1);
    CHECK_ERROR(PyExc_TypeError, "type 'objtest.Final' is not an acceptable base type");
}

TEST(cannot_create_instances_without_tp_new) {
    CHECK_INT(PyType_Ready(&NoNew_Type), 0);
    CHECK(NoNew_Type.tp_new == NULL);
    CHECK_INT(PyCallable_Check((PyObject *)&NoNew_Type), 1);
    PyObject *args = PyTuple_New(0);
    CHECK(PyObject_Call((PyObject *)&NoNew_Type, args, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "cannot create 'objtest.NoNew' instances");
    Py_DECREF(args);
}

TEST(calling_type_runs_new_and_init) {
    CHECK_INT(PyType_Ready(&Counter_Type), 0);
    PyObject *args = PyTuple_New(0);
    PyObject *a = PyObject_Call((PyObject *)&Counter_Type, args, NULL);
    CHECK(a != NULL);
    CHECK_PTR(Py_TYPE(a), &Counter_Type);
    CHECK_INT(Py_REFCNT(a), 1);
    CHECK_INT(((CounterObject *)a)->value, 100);
    PyObject *b = PyObject_CallFunction((PyObject *)&Counter_Type, "i", 7);
    CHECK(b != NULL);
    CHECK_INT(((CounterObject *)b)->value, 7);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(args);
}

TEST(failing_init_frees_instance) {
    CHECK_INT(PyType_Ready(&Counter_Type), 0);
    int before = counter_deallocs;
    CHECK(PyObject_CallFunction((PyObject *)&Counter_Type, "s", "x") == NULL);
    CHECK_ERROR(PyExc_TypeError, "an integer is required (got type str)");
    CHECK_INT(counter_deallocs, before + 1);
}

TEST(subtype_inherits_from_user_type) {
    CHECK_INT(PyType_Ready(&SubCounter_Type), 0);
    CHECK_PTR(SubCounter_Type.tp_base, &Counter_Type);
    CHECK_INT(SubCounter_Type.tp_basicsize, sizeof(CounterObject));
    CHECK(SubCounter_Type.tp_dealloc == counter_dealloc);
    CHECK(SubCounter_Type.tp_new == counter_new);
    CHECK(SubCounter_Type.tp_init == counter_init);
    CHECK_INT(PyType_IsSubtype(&SubCounter_Type, &Counter_Type), 1);
    CHECK_INT(PyType_IsSubtype(&Counter_Type, &SubCounter_Type), 0);
    CHECK_INT(PyType_IsSubtype(&SubCounter_Type, &PyBaseObject_Type), 1);
    int before = counter_deallocs;
    PyObject *s = PyObject_CallFunction((PyObject *)&SubCounter_Type, "i", 5);
    CHECK(s != NULL);
    CHECK_PTR(Py_TYPE(s), &SubCounter_Type);
    CHECK_INT(((CounterObject *)s)->value, 5);
    CHECK(PyObject_TypeCheck(s, &Counter_Type));
    CHECK_INT(PyObject_IsInstance(s, (PyObject *)&Counter_Type), 1);
    CHECK_REPR(s, with_address("<objtest.SubCounter object at %p>", s));
    Py_DECREF(s);
    CHECK_INT(counter_deallocs, before + 1);
}

TEST(type_check_macros) {
    PyObject *i = PyLong_FromLong(3);
    CHECK(PyObject_TypeCheck(Py_True, &PyLong_Type));
    CHECK(PyObject_TypeCheck(i, &PyLong_Type));
    CHECK(PyObject_TypeCheck(i, &PyBaseObject_Type));
    CHECK(!PyObject_TypeCheck(i, &PyBool_Type));
    CHECK(!PyObject_TypeCheck(i, &PyFloat_Type));
    CHECK(PyType_Check((PyObject *)&PyLong_Type));
    CHECK(PyType_Check((PyObject *)&PyType_Type));
    CHECK(PyType_Check(PyExc_ValueError));
    CHECK(!PyType_Check(i));
    CHECK(!PyType_Check(Py_None));
    CHECK_INT(PyType_IsSubtype(&PyBool_Type, &PyLong_Type), 1);
    CHECK_INT(PyType_IsSubtype(&PyLong_Type, &PyBool_Type), 0);
    CHECK_INT(PyType_IsSubtype(&PyType_Type, &PyBaseObject_Type), 1);
    CHECK_INT(PyType_IsSubtype(&PyLong_Type, &PyLong_Type), 1);
    Py_DECREF(i);
}

TEST(is_instance) {
    PyObject *i = PyLong_FromLong(3);
    PyObject *strint = PyTuple_Pack(2, (PyObject *)&PyUnicode_Type, (PyObject *)&PyLong_Type);
    PyObject *strbytes = PyTuple_Pack(2, (PyObject *)&PyUnicode_Type, (PyObject *)&PyBytes_Type);
    PyObject *nested = Py_BuildValue("(O(OO))", &PyUnicode_Type, &PyFloat_Type, &PyLong_Type);
    PyObject *empty = PyTuple_New(0);
    CHECK_INT(PyObject_IsInstance(i, (PyObject *)&PyLong_Type), 1);
    CHECK_INT(PyObject_IsInstance(Py_True, (PyObject *)&PyLong_Type), 1);
    CHECK_INT(PyObject_IsInstance(i, (PyObject *)&PyBool_Type), 0);
    CHECK_INT(PyObject_IsInstance(i, (PyObject *)&PyBaseObject_Type), 1);
    CHECK_INT(PyObject_IsInstance(i, strint), 1);
    CHECK_INT(PyObject_IsInstance(i, strbytes), 0);
    CHECK_INT(PyObject_IsInstance(i, nested), 1);
    CHECK_INT(PyObject_IsInstance(i, empty), 0);
    CHECK_INT(PyObject_IsInstance((PyObject *)&PyLong_Type, (PyObject *)&PyType_Type), 1);
    CHECK_NO_ERROR();
    Py_DECREF(i);
    Py_DECREF(strint);
    Py_DECREF(strbytes);
    Py_DECREF(nested);
    Py_DECREF(empty);
}

TEST(is_instance_type_error) {
    PyObject *i = PyLong_FromLong(3);
    CHECK_INT(PyObject_IsInstance(i, i), -1);
    CHECK_ERROR(PyExc_TypeError, "isinstance() arg 2 must be a type or tuple of types");
    PyObject *bad = PyTuple_Pack(2, (PyObject *)&PyUnicode_Type, i);
    CHECK_INT(PyObject_IsInstance(i, bad), -1);
    CHECK_ERROR(PyExc_TypeError, "isinstance() arg 2 must be a type or tuple of types");
    /* A match before the bad item ends the search. */
    PyObject *good_first = PyTuple_Pack(2, (PyObject *)&PyLong_Type, i);
    CHECK_INT(PyObject_IsInstance(i, good_first), 1);
    CHECK_NO_ERROR();
    Py_DECREF(bad);
    Py_DECREF(good_first);
    Py_DECREF(i);
}

TEST(callable_check) {
    CHECK_INT(PyType_Ready(&Callable_Type), 0);
    CHECK_INT(PyType_Ready(&Counter_Type), 0);
    PyObject *args = PyTuple_New(0);
    PyObject *callable = PyObject_Call((PyObject *)&Callable_Type, args, NULL);
    PyObject *counter = new_counter(0);
    PyObject *i = PyLong_FromLong(1);
    PyObject *exc = make_exc(PyExc_ValueError, "", NULL, NULL);
    CHECK_INT(PyCallable_Check(callable), 1);
    CHECK_INT(PyCallable_Check(counter), 0);
    CHECK_INT(PyCallable_Check((PyObject *)&Counter_Type), 1);
    CHECK_INT(PyCallable_Check((PyObject *)&PyLong_Type), 1);
    CHECK_INT(PyCallable_Check(PyExc_ValueError), 1);
    CHECK_INT(PyCallable_Check(exc), 0);
    CHECK_INT(PyCallable_Check(i), 0);
    CHECK_INT(PyCallable_Check(Py_None), 0);
    CHECK_INT(PyCallable_Check(NULL), 0);
    PyObject *r = PyObject_Call(callable, args, NULL);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    CHECK(PyObject_Call(counter, args, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "'objtest.Counter' object is not callable");
    CHECK(PyObject_Call(i, args, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "'int' object is not callable");
    Py_DECREF(callable);
    Py_DECREF(counter);
    Py_DECREF(i);
    Py_DECREF(exc);
    Py_DECREF(args);
}

TEST(repr_recursion_limit) {
    CHECK_INT(PyType_Ready(&Selfish_Type), 0);
    PyObject *o = PyObject_CallObject((PyObject *)&Selfish_Type, NULL);
    CHECK(o != NULL);
    CHECK(PyObject_Repr(o) == NULL);
    CHECK_ERROR(PyExc_RecursionError, "maximum recursion depth exceeded while getting the repr of an object");
    /* str() falls back to repr(). */
    CHECK(PyObject_Str(o) == NULL);
    CHECK_ERROR(PyExc_RecursionError, "maximum recursion depth exceeded while getting the repr of an object");
    Py_DECREF(o);
}

TEST(type_of_object) {
    PyObject *i = PyLong_FromLong(1);
    PyObject *args = PyTuple_Pack(1, i);
    PyObject *t = PyObject_Call((PyObject *)&PyType_Type, args, NULL);
    CHECK_PTR(t, &PyLong_Type);
    Py_DECREF(t);
    Py_DECREF(args);
    Py_DECREF(i);
}

TEST(type_attributes) {
    CHECK_INT(PyType_Ready(&Counter_Type), 0);
    PyObject *name = PyObject_GetAttrString((PyObject *)&Counter_Type, "__name__");
    CHECK_REPR(name, "'Counter'");
    Py_DECREF(name);
    name = PyObject_GetAttrString((PyObject *)&PyLong_Type, "__name__");
    CHECK_REPR(name, "'int'");
    Py_DECREF(name);
    CHECK(PyObject_GetAttrString((PyObject *)&Counter_Type, "nope") == NULL);
    CHECK_ERROR(PyExc_AttributeError, "type object 'objtest.Counter' has no attribute 'nope'");
    CHECK(PyObject_GetAttrString((PyObject *)&PyLong_Type, "nope") == NULL);
    CHECK_ERROR(PyExc_AttributeError, "type object 'int' has no attribute 'nope'");
}

TEST(generic_alloc_and_new) {
    CHECK_INT(PyType_Ready(&Counter_Type), 0);
    PyObject *o = PyType_GenericAlloc(&Counter_Type, 0);
    CHECK(o != NULL);
    CHECK_INT(Py_REFCNT(o), 1);
    CHECK_PTR(Py_TYPE(o), &Counter_Type);
    CHECK_INT(((CounterObject *)o)->value, 0);
    PyObject *p = PyType_GenericNew(&Counter_Type, NULL, NULL);
    CHECK(p != NULL);
    CHECK_INT(((CounterObject *)p)->value, 0);
    int before = counter_deallocs;
    Py_DECREF(o);
    Py_DECREF(p);
    CHECK_INT(counter_deallocs, before + 2);
}

/* ---- truth ------------------------------------------------------------------ */

static int truth_of(PyObject *o) {
    int r = PyObject_IsTrue(o);
    Py_XDECREF(o);
    return r;
}

TEST(is_true_of_every_type) {
    CHECK_INT(PyObject_IsTrue(Py_None), 0);
    CHECK_INT(PyObject_IsTrue(Py_True), 1);
    CHECK_INT(PyObject_IsTrue(Py_False), 0);
    CHECK_INT(truth_of(PyLong_FromLong(0)), 0);
    CHECK_INT(truth_of(PyLong_FromLong(-1)), 1);
    CHECK_INT(truth_of(PyLong_FromUnsignedLongLong(ULLONG_MAX)), 1);
    CHECK_INT(truth_of(PyFloat_FromDouble(0.0)), 0);
    CHECK_INT(truth_of(PyFloat_FromDouble(-0.0)), 0);
    CHECK_INT(truth_of(PyFloat_FromDouble(0.5)), 1);
    CHECK_INT(truth_of(PyFloat_FromDouble(NAN)), 1);
    CHECK_INT(truth_of(PyUnicode_FromString("")), 0);
    CHECK_INT(truth_of(PyUnicode_FromString("0")), 1);
    CHECK_INT(truth_of(PyBytes_FromStringAndSize("", 0)), 0);
    CHECK_INT(truth_of(PyBytes_FromStringAndSize("\0", 1)), 1);
    CHECK_INT(truth_of(PyTuple_New(0)), 0);
    CHECK_INT(truth_of(Py_BuildValue("(O)", Py_None)), 1);
    CHECK_INT(truth_of(PyDict_New()), 0);
    CHECK_INT(truth_of(new_counter(0)), 1);
    CHECK_INT(truth_of(make_exc(PyExc_ValueError, "", NULL, NULL)), 1);
    CHECK_INT(PyObject_IsTrue((PyObject *)&PyLong_Type), 1);
    CHECK_INT(PyObject_IsTrue(NULL), -1);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
}

/* ---- reference counts ----------------------------------------------------- */

TEST(refcount_incref_decref) {
    PyObject *o = new_counter(1);
    CHECK_INT(Py_REFCNT(o), 1);
    Py_INCREF(o);
    CHECK_INT(Py_REFCNT(o), 2);
    Py_XINCREF(o);
    CHECK_INT(Py_REFCNT(o), 3);
    Py_DECREF(o);
    Py_XDECREF(o);
    CHECK_INT(Py_REFCNT(o), 1);
    Py_IncRef(o);
    CHECK_INT(Py_REFCNT(o), 2);
    Py_DecRef(o);
    CHECK_INT(Py_REFCNT(o), 1);
    int before = counter_deallocs;
    Py_DECREF(o);
    CHECK_INT(counter_deallocs, before + 1);
}

TEST(refcount_null_is_ignored) {
    PyObject *nothing = NULL;
    Py_XINCREF(nothing);
    Py_XDECREF(nothing);
    Py_IncRef(NULL);
    Py_DecRef(NULL);
    Py_CLEAR(nothing);
    CHECK(nothing == NULL);
    CHECK_NO_ERROR();
}

/* The singletons and built-in types are immortal: reference counting
 * leaves them alone (no atomic operation on the hot paths). */
TEST(refcount_singletons_are_immortal) {
    Py_INCREF(Py_None);
    Py_INCREF(Py_True);
    Py_INCREF(PyExc_ValueError);
    CHECK_INT(Py_REFCNT(Py_None), _Py_IMMORTAL_REFCNT);
    CHECK_INT(Py_REFCNT(Py_True), _Py_IMMORTAL_REFCNT);
    CHECK_INT(Py_REFCNT(PyExc_ValueError), _Py_IMMORTAL_REFCNT);
    Py_DECREF(Py_None);
    Py_DECREF(Py_True);
    Py_DECREF(PyExc_ValueError);
    Py_DECREF(Py_False);
    CHECK_INT(Py_REFCNT(Py_None), _Py_IMMORTAL_REFCNT);
    CHECK_INT(Py_REFCNT(Py_False), _Py_IMMORTAL_REFCNT);
    CHECK_INT(Py_REFCNT(&PyLong_Type), _Py_IMMORTAL_REFCNT);
}

static PyObject *return_none(void) {
    Py_RETURN_NONE;
}

TEST(py_return_none_returns_none) {
    PyObject *n = return_none();
    CHECK_PTR(n, Py_None);
    CHECK_INT(Py_REFCNT(Py_None), _Py_IMMORTAL_REFCNT);
    Py_DECREF(n);
}

TEST(py_clear) {
    PyObject *o = new_counter(1);
    int before = counter_deallocs;
    Py_CLEAR(o);
    CHECK(o == NULL);
    CHECK_INT(counter_deallocs, before + 1);
}

TEST(py_setref) {
    PyObject *o = new_counter(1);
    PyObject *p = new_counter(2);
    int before = counter_deallocs;
    Py_SETREF(o, p);
    CHECK_PTR(o, p);
    CHECK_INT(counter_deallocs, before + 1);
    CHECK_INT(Py_REFCNT(p), 1);
    Py_DECREF(o);
    CHECK_INT(counter_deallocs, before + 2);
}

/* Each object is freed exactly once, whoever holds the last reference. */
TEST(dealloc_exactly_once) {
    int before = counter_deallocs;
    PyObject *a = new_counter(1), *b = new_counter(2), *c = new_counter(3);
    PyObject *t = PyTuple_Pack(2, a, b);
    PyObject *d = PyDict_New();
    PyDict_SetItemString(d, "c", c);
    PyDict_SetItemString(d, "t", t);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_DECREF(c);
    CHECK_INT(counter_deallocs, before);
    Py_DECREF(t);
    CHECK_INT(counter_deallocs, before);
    Py_DECREF(d);
    CHECK_INT(counter_deallocs, before + 3);
}

TEST(new_objects_have_refcount_one) {
    PyObject *objs[] = {
        PyLong_FromLong(12345), PyFloat_FromDouble(1.5), PyUnicode_FromString("s"),
        PyBytes_FromStringAndSize("b", 1), PyTuple_New(1), PyDict_New(),
        PyCapsule_New(&capsule_payload, NULL, NULL),
    };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        CHECK(objs[i] != NULL);
        CHECK_INT(Py_REFCNT(objs[i]), 1);
    }
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        Py_DECREF(objs[i]);
    }
}

/* ---- slots called by C code ------------------------------------------------ */

/* Every built-in type has the memory slots C code calls directly: a
 * subtype's tp_dealloc ends with its base's, tp_alloc and tp_free pair. */
TEST(builtin_types_have_memory_slots) {
    PyTypeObject *types[] = {&PyBaseObject_Type, &PyType_Type,     &PyLong_Type,       &PyBool_Type,
                             &PyFloat_Type,      &PyUnicode_Type,  &PyBytes_Type,      &PyTuple_Type,
                             &PyDict_Type,       &PyCapsule_Type,  &PyCFunction_Type,
                             (PyTypeObject *)PyExc_ValueError,     (PyTypeObject *)PyExc_KeyError};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        CHECK(types[i]->tp_dealloc != NULL);
        CHECK(types[i]->tp_alloc != NULL);
        CHECK(types[i]->tp_free != NULL);
        CHECK(types[i]->tp_repr != NULL);
    }
}

static int chained_deallocs;

static void chained_dealloc(PyObject *op) {
    chained_deallocs++;
    PyBaseObject_Type.tp_dealloc(op);
}

static PyTypeObject Chained_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "objtest.Chained",
    .tp_dealloc = chained_dealloc,
    .tp_new = PyType_GenericNew,
};

TEST(dealloc_ends_with_the_base_dealloc) {
    CHECK_INT(PyType_Ready(&Chained_Type), 0);
    PyObject *o = PyObject_CallObject((PyObject *)&Chained_Type, NULL);
    CHECK(o != NULL);
    Py_DECREF(o);
    CHECK_INT(chained_deallocs, 1);
    PyObject *i = PyLong_Type.tp_alloc(&PyLong_Type, 0);
    CHECK(i != NULL);
    PyObject *r = PyLong_Type.tp_repr(i);
    CHECK_STR(PyUnicode_AsUTF8(r), "0");
    Py_DECREF(r);
    PyLong_Type.tp_dealloc(i);
    CHECK_NO_ERROR();
}

/* ---- threads ---------------------------------------------------------------- */

static void *thread_ident_check(void *arg) {
    unsigned long *out = (unsigned long *)arg;
    out[0] = PyThread_get_thread_ident();
    out[1] = (unsigned long)pthread_self();
    return NULL;
}

TEST(thread_ident_is_pthread_self) {
    CHECK(PyThread_get_thread_ident() == (unsigned long)pthread_self());
    unsigned long seen[2] = {0, 0};
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, thread_ident_check, seen), 0);
    CHECK_INT(pthread_join(th, NULL), 0);
    CHECK(seen[0] == seen[1]);
    CHECK(seen[0] != PyThread_get_thread_ident());
}

int main(void) {
    alarm(120); /* it starts threads: a hang is a failure, never a stuck run */
    RUN(long_roundtrip);
    RUN(long_from_every_c_type);
    RUN(long_as_long_overflow);
    RUN(long_as_long_type_errors);
    RUN(long_as_long_of_float);
    RUN(bool_is_int);
    RUN(none_repr_and_type);
    RUN(float_repr_like_python);
    RUN(float_str_equals_repr);
    RUN(float_as_double);
    RUN(float_as_double_type_error);
    RUN(str_from_string);
    RUN(str_from_string_and_size);
    RUN(str_errors);
    RUN(str_of_str_is_identity);
    RUN(str_repr_quoting);
    RUN(str_repr_escapes);
    RUN(bytes_roundtrip);
    RUN(bytes_from_null_is_zeroed);
    RUN(bytes_repr_escapes);
    RUN(bytes_type_errors);
    RUN(tuple_new_set_get);
    RUN(tuple_repr_forms);
    RUN(tuple_get_item_out_of_range);
    RUN(tuple_set_item_steals_even_on_failure);
    RUN(tuple_set_item_replaces_and_releases);
    RUN(tuple_pack);
    RUN(tuple_new_negative);
    RUN(dict_set_get_string);
    RUN(dict_missing_key_no_error);
    RUN(dict_replace_value);
    RUN(dict_repr_in_insertion_order);
    RUN(dict_keys_compare_by_value);
    RUN(dict_repr_while_a_value_adds_entries);
    RUN(dict_repr_while_a_value_replaces_itself);
    RUN(tuple_repr_while_an_item_replaces_itself);
    RUN(exception_repr_while_an_argument_replaces_the_arguments);
    RUN(dict_set_item_while_the_old_value_adds_entries);
    RUN(repr_of_containers_that_hold_themselves);
    RUN(dict_is_true);
    RUN(capsule_get_pointer);
    RUN(capsule_null_name);
    RUN(capsule_errors);
    RUN(capsule_destructor_on_last_decref);
    RUN(capsule_repr);
    RUN(type_reprs);
    RUN(object_and_instance_repr);
    RUN(object_takes_no_arguments);
    RUN(exception_str_and_repr);
    RUN(exception_no_args);
    RUN(exception_one_non_str_arg);
    RUN(exception_two_args);
    RUN(key_error_str_is_repr_of_arg);
    RUN(exception_of_exception);
    RUN(exception_keywords_rejected);
    RUN(new_exception_class);
    RUN(new_exception_class_in_messages);
    RUN(exception_hierarchy);
    RUN(set_string_then_matches);
    RUN(type_ready_fills_slots);
    RUN(type_ready_requires_name);
    RUN(type_ready_base_must_allow_subclassing);
    RUN(cannot_create_instances_without_tp_new);
    RUN(calling_type_runs_new_and_init);
    RUN(failing_init_frees_instance);
    RUN(subtype_inherits_from_user_type);
    RUN(type_check_macros);
    RUN(is_instance);
    RUN(is_instance_type_error);
    RUN(callable_check);
    RUN(repr_recursion_limit);
    RUN(type_of_object);
    RUN(type_attributes);
    RUN(generic_alloc_and_new);
    RUN(is_true_of_every_type);
    RUN(refcount_incref_decref);
    RUN(refcount_null_is_ignored);
    RUN(refcount_singletons_are_immortal);
    RUN(py_return_none_returns_none);
    RUN(py_clear);
    RUN(py_setref);
    RUN(dealloc_exactly_once);
    RUN(new_objects_have_refcount_one);
    RUN(builtin_types_have_memory_slots);
    RUN(dealloc_ends_with_the_base_dealloc);
    RUN(thread_ident_is_pthread_self);
    return harness_summary("test_objects");
}
