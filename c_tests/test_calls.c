/* Calls: built-in function objects, PyObject_Call & co., methods of user
 * types, Py_BuildValue, PyUnicode_FromFormat and PyErr_Format. Every
 * expected value and message is CPython 3.7's. */
#include "harness.h"

#include <limits.h>

/* Copies the text of a str (stolen) into a static buffer; "<NULL>" for
 * NULL (the exception is left set for CHECK_ERROR). */
static const char *take_text(PyObject *s) {
    static char buf[4][512];
    static int slot;
    char *out = buf[slot++ % 4];
    if (s == NULL) {
        return "<NULL>";
    }
    const char *text = PyUnicode_AsUTF8(s);
    snprintf(out, 512, "%s", text ? text : "<not a str>");
    Py_DECREF(s);
    return out;
}

/* repr() of a new reference, which is released. */
static const char *take_repr(PyObject *o) {
    if (o == NULL) {
        return "<NULL>";
    }
    PyObject *r = PyObject_Repr(o);
    Py_DECREF(o);
    return take_text(r);
}

/* ---- A user type with methods, counting deallocations ------------------ */

typedef struct {
    PyObject_HEAD
    long value;
} BoxObject;

static int box_deallocs;

static void box_dealloc(PyObject *op) {
    box_deallocs++;
    Py_TYPE(op)->tp_free(op);
}

static PyObject *box_get(PyObject *self, PyObject *unused) {
    if (unused != NULL) {
        return PyUnicode_FromString("METH_NOARGS got an argument");
    }
    return PyLong_FromLong(((BoxObject *)self)->value);
}

/* add(n, m=0): METH_VARARGS. */
static PyObject *box_add(PyObject *self, PyObject *args) {
    Py_ssize_t n = PyTuple_Size(args);
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PyTuple_GetItem(args, i));
        if (v == -1 && PyErr_Occurred()) {
            return NULL;
        }
        ((BoxObject *)self)->value += v;
    }
    return PyLong_FromLong(((BoxObject *)self)->value);
}

/* set(x): METH_O. */
static PyObject *box_set(PyObject *self, PyObject *arg) {
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) {
        return NULL;
    }
    ((BoxObject *)self)->value = v;
    Py_RETURN_NONE;
}

static PyObject *box_self(PyObject *self, PyObject *unused) {
    (void)unused;
    Py_INCREF(self);
    return self;
}

static PyMethodDef box_methods[] = {
    {"get", box_get, METH_NOARGS, NULL},
    {"add", box_add, METH_VARARGS, NULL},
    {"set", box_set, METH_O, NULL},
    {"self", box_self, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Box_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "calltest.Box",
    .tp_basicsize = sizeof(BoxObject),
    .tp_dealloc = box_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_methods = box_methods,
    .tp_new = PyType_GenericNew,
};

static PyObject *subbox_twice(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyLong_FromLong(2 * ((BoxObject *)self)->value);
}

static PyMethodDef subbox_methods[] = {
    {"twice", subbox_twice, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

/* Inherits Box's methods through tp_base. */
static PyTypeObject SubBox_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "calltest.SubBox",
    .tp_base = &Box_Type,
    .tp_methods = subbox_methods,
};

static PyObject *new_box(PyTypeObject *type, long value) {
    if (PyType_Ready(type) < 0) {
        return NULL;
    }
    PyObject *b = PyObject_CallObject((PyObject *)type, NULL);
    if (b != NULL) {
        ((BoxObject *)b)->value = value;
    }
    return b;
}

/* ---- Built-in functions -------------------------------------------------- */

/* Returns (self or None, args). */
static PyObject *fn_varargs(PyObject *self, PyObject *args) {
    return Py_BuildValue("(OO)", self ? self : Py_None, args);
}

/* Returns (args, kwargs or None). */
static PyObject *fn_keywords(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    return Py_BuildValue("(OO)", args, kwargs ? kwargs : Py_None);
}

static PyObject *fn_noargs(PyObject *self, PyObject *arg) {
    return Py_BuildValue("(Os)", self ? self : Py_None, arg == NULL ? "NULL" : "not NULL");
}

/* Returns its argument. */
static PyObject *fn_o(PyObject *self, PyObject *arg) {
    (void)self;
    Py_INCREF(arg);
    return arg;
}

static PyObject *fn_null_no_error(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return NULL;
}

static PyObject *fn_result_and_error(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyObject *result = new_box(&Box_Type, 1);
    PyErr_SetString(PyExc_ValueError, "stray");
    return result;
}

static PyObject *fn_raises(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyErr_Format(PyExc_KeyError, "%s", "missing");
}

static PyMethodDef def_varargs = {"va", fn_varargs, METH_VARARGS, NULL};
static PyMethodDef def_keywords = {"kw", (PyCFunction)(void (*)(void))fn_keywords,
                                   METH_VARARGS | METH_KEYWORDS, NULL};
static PyMethodDef def_noargs = {"noargs", fn_noargs, METH_NOARGS, NULL};
static PyMethodDef def_o = {"one", fn_o, METH_O, NULL};
static PyMethodDef def_null = {"nullfn", fn_null_no_error, METH_VARARGS, NULL};
static PyMethodDef def_both = {"both", fn_result_and_error, METH_VARARGS, NULL};
static PyMethodDef def_raises = {"raiser", fn_raises, METH_NOARGS, NULL};

/* Calls f(*args, **kwargs) and releases args and kwargs (either may be
 * NULL). */
static PyObject *call_steal(PyObject *f, PyObject *args, PyObject *kwargs) {
    PyObject *r = PyObject_Call(f, args, kwargs);
    Py_XDECREF(args);
    Py_XDECREF(kwargs);
    return r;
}

TEST(cfunction_varargs) {
    PyObject *f = PyCFunction_New(&def_varargs, NULL);
    CHECK(f != NULL);
    CHECK(PyCFunction_Check(f));
    CHECK_INT(PyCallable_Check(f), 1);
    PyObject *args = Py_BuildValue("(is)", 1, "a");
    CHECK_STR(take_repr(PyObject_Call(f, args, NULL)), "(None, (1, 'a'))");
    /* The argument tuple is passed as is. */
    PyObject *r = PyObject_Call(f, args, NULL);
    CHECK_PTR(PyTuple_GetItem(r, 1), args);
    Py_DECREF(r);
    CHECK_STR(take_repr(PyObject_CallObject(f, NULL)), "(None, ())");
    Py_DECREF(args);
    Py_DECREF(f);
}

TEST(cfunction_varargs_rejects_keywords) {
    PyObject *f = PyCFunction_New(&def_varargs, NULL);
    CHECK(call_steal(f, Py_BuildValue("(i)", 1), Py_BuildValue("{s:i}", "k", 1)) == NULL);
    CHECK_ERROR(PyExc_TypeError, "va() takes no keyword arguments");
    /* An empty keyword dict is accepted. */
    CHECK_STR(take_repr(call_steal(f, Py_BuildValue("(i)", 1), PyDict_New())), "(None, (1,))");
    Py_DECREF(f);
}

TEST(cfunction_keywords) {
    PyObject *f = PyCFunction_NewEx(&def_keywords, NULL, NULL);
    CHECK(f != NULL);
    CHECK_STR(take_repr(call_steal(f, Py_BuildValue("(i)", 1), Py_BuildValue("{s:i}", "k", 1))), "((1,), {'k': 1})");
    CHECK_STR(take_repr(call_steal(f, PyTuple_New(0), NULL)), "((), None)");
    /* An empty keyword dict is passed on as it is. */
    CHECK_STR(take_repr(call_steal(f, PyTuple_New(0), PyDict_New())), "((), {})");
    Py_DECREF(f);
}

TEST(cfunction_noargs) {
    PyObject *f = PyCFunction_New(&def_noargs, NULL);
    CHECK_STR(take_repr(PyObject_CallObject(f, NULL)), "(None, 'NULL')");
    CHECK(call_steal(f, Py_BuildValue("(ii)", 1, 2), NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "noargs() takes no arguments (2 given)");
    CHECK(call_steal(f, PyTuple_New(0), Py_BuildValue("{s:i}", "k", 1)) == NULL);
    CHECK_ERROR(PyExc_TypeError, "noargs() takes no keyword arguments");
    /* Keywords are checked before the argument count. */
    CHECK(call_steal(f, Py_BuildValue("(i)", 1), Py_BuildValue("{s:i}", "k", 1)) == NULL);
    CHECK_ERROR(PyExc_TypeError, "noargs() takes no keyword arguments");
    Py_DECREF(f);
}

TEST(cfunction_o) {
    PyObject *f = PyCFunction_New(&def_o, NULL);
    PyObject *x = PyUnicode_FromString("x");
    PyObject *r = PyObject_CallFunction(f, "O", x);
    CHECK_PTR(r, x);
    Py_DECREF(r);
    CHECK(call_steal(f, PyTuple_New(0), NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "one() takes exactly one argument (0 given)");
    CHECK(call_steal(f, Py_BuildValue("(ii)", 1, 2), NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "one() takes exactly one argument (2 given)");
    CHECK(call_steal(f, Py_BuildValue("(i)", 1), Py_BuildValue("{s:i}", "k", 1)) == NULL);
    CHECK_ERROR(PyExc_TypeError, "one() takes no keyword arguments");
    Py_DECREF(x);
    Py_DECREF(f);
}

TEST(cfunction_self_and_module) {
    PyObject *self = PyUnicode_FromString("me");
    PyObject *module = PyUnicode_FromString("mod");
    PyObject *f = PyCFunction_NewEx(&def_varargs, self, module);
    CHECK_INT(Py_REFCNT(self), 2);
    CHECK_INT(Py_REFCNT(module), 2);
    CHECK_STR(take_repr(PyObject_CallFunction(f, "i", 3)), "('me', (3,))");
    PyObject *g = PyCFunction_New(&def_noargs, self);
    CHECK_STR(take_repr(PyObject_CallObject(g, NULL)), "('me', 'NULL')");
    Py_DECREF(f);
    Py_DECREF(g);
    CHECK_INT(Py_REFCNT(self), 1);
    CHECK_INT(Py_REFCNT(module), 1);
    Py_DECREF(self);
    Py_DECREF(module);
}

TEST(cfunction_repr) {
    PyObject *f = PyCFunction_New(&def_varargs, NULL);
    CHECK_REPR(f, "<built-in function va>");
    CHECK_STR_OF(f, "<built-in function va>");
    CHECK_REPR(Py_TYPE(f), "<class 'builtin_function_or_method'>");
    Py_DECREF(f);
}

TEST(cfunction_null_without_error) {
    PyObject *f = PyCFunction_New(&def_null, NULL);
    CHECK(PyObject_CallObject(f, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "<built-in function nullfn> returned NULL without setting an error");
    Py_DECREF(f);
}

TEST(cfunction_result_with_error) {
    PyObject *f = PyCFunction_New(&def_both, NULL);
    int before = box_deallocs;
    CHECK(PyObject_CallObject(f, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "<built-in function both> returned a result with an error set");
    /* The result was released. */
    CHECK_INT(box_deallocs, before + 1);
    Py_DECREF(f);
}

TEST(cfunction_error_passes_through) {
    PyObject *f = PyCFunction_New(&def_raises, NULL);
    CHECK(PyObject_CallObject(f, NULL) == NULL);
    CHECK_ERROR(PyExc_KeyError, "'missing'");
    Py_DECREF(f);
}

TEST(cfunction_new_null_def) {
    CHECK(PyCFunction_New(NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
}

/* ---- PyObject_Call & co. ----------------------------------------------- */

TEST(call_errors) {
    PyObject *f = PyCFunction_New(&def_varargs, NULL);
    PyObject *i = PyLong_FromLong(1);
    CHECK(PyObject_Call(f, i, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    PyObject *args = PyTuple_New(0);
    CHECK(PyObject_Call(f, args, i) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK(PyObject_Call(NULL, args, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
    CHECK(PyObject_CallObject(i, NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "'int' object is not callable");
    CHECK(PyObject_CallFunction(NULL, NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "null argument to internal routine");
    Py_DECREF(args);
    Py_DECREF(i);
    Py_DECREF(f);
}

TEST(call_object_with_tuple) {
    PyObject *f = PyCFunction_New(&def_varargs, NULL);
    PyObject *args = Py_BuildValue("(ss)", "a", "b");
    CHECK_STR(take_repr(PyObject_CallObject(f, args)), "(None, ('a', 'b'))");
    Py_DECREF(args);
    Py_DECREF(f);
}

TEST(call_function_formats) {
    PyObject *f = PyCFunction_New(&def_varargs, NULL);
    CHECK_STR(take_repr(PyObject_CallFunction(f, NULL)), "(None, ())");
    CHECK_STR(take_repr(PyObject_CallFunction(f, "")), "(None, ())");
    CHECK_STR(take_repr(PyObject_CallFunction(f, "i", 1)), "(None, (1,))");
    CHECK_STR(take_repr(PyObject_CallFunction(f, "is", 1, "x")), "(None, (1, 'x'))");
    /* A format that builds a tuple gives the argument tuple itself. */
    CHECK_STR(take_repr(PyObject_CallFunction(f, "(ii)", 1, 2)), "(None, (1, 2))");
    PyObject *t = Py_BuildValue("(ii)", 3, 4);
    CHECK_STR(take_repr(PyObject_CallFunction(f, "O", t)), "(None, (3, 4))");
    CHECK_STR(take_repr(PyObject_CallFunction(f, "(O)", t)), "(None, ((3, 4),))");
    Py_DECREF(t);
    Py_DECREF(f);
}

TEST(call_function_bad_format) {
    PyObject *f = PyCFunction_New(&def_varargs, NULL);
    CHECK(PyObject_CallFunction(f, "x") == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad format char passed to Py_BuildValue");
    Py_DECREF(f);
}

TEST(call_method_of_user_type) {
    PyObject *b = new_box(&Box_Type, 5);
    CHECK(b != NULL);
    CHECK_STR(take_repr(PyObject_CallMethod(b, "get", NULL)), "5");
    CHECK_STR(take_repr(PyObject_CallMethod(b, "add", "ii", 2, 3)), "10");
    CHECK_STR(take_repr(PyObject_CallMethod(b, "set", "i", 1)), "None");
    CHECK_STR(take_repr(PyObject_CallMethod(b, "get", "")), "1");
    PyObject *same = PyObject_CallMethod(b, "self", NULL);
    CHECK_PTR(same, b);
    Py_DECREF(same);
    CHECK_INT(Py_REFCNT(b), 1);
    Py_DECREF(b);
}

TEST(call_method_errors) {
    PyObject *b = new_box(&Box_Type, 5);
    CHECK(PyObject_CallMethod(b, "missing", NULL) == NULL);
    CHECK_ERROR(PyExc_AttributeError, "'calltest.Box' object has no attribute 'missing'");
    CHECK(PyObject_CallMethod(b, "get", "i", 1) == NULL);
    CHECK_ERROR(PyExc_TypeError, "get() takes no arguments (1 given)");
    CHECK(PyObject_CallMethod(b, "set", NULL) == NULL);
    CHECK_ERROR(PyExc_TypeError, "set() takes exactly one argument (0 given)");
    CHECK(PyObject_CallMethod(b, "set", "s", "x") == NULL);
    CHECK_ERROR(PyExc_TypeError, "an integer is required (got type str)");
    PyObject *i = PyLong_FromLong(1);
    CHECK(PyObject_CallMethod(i, "x", NULL) == NULL);
    CHECK_ERROR(PyExc_AttributeError, "'int' object has no attribute 'x'");
    CHECK(PyObject_CallMethod(NULL, "x", NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "null argument to internal routine");
    Py_DECREF(i);
    Py_DECREF(b);
}

TEST(bound_method_object) {
    PyObject *b = new_box(&Box_Type, 4);
    PyObject *m = PyObject_GetAttrString(b, "get");
    CHECK(m != NULL);
    CHECK(PyCFunction_Check(m));
    CHECK_INT(Py_REFCNT(b), 2);
    char expected[128];
    snprintf(expected, sizeof expected, "<built-in method get of calltest.Box object at %p>", (void *)b);
    CHECK_REPR(m, expected);
    CHECK_STR(take_repr(PyObject_CallObject(m, NULL)), "4");
    Py_DECREF(m);
    CHECK_INT(Py_REFCNT(b), 1);
    Py_DECREF(b);
}

TEST(methods_inherited_through_tp_base) {
    PyObject *s = new_box(&SubBox_Type, 21);
    CHECK(s != NULL);
    CHECK_PTR(Py_TYPE(s), &SubBox_Type);
    CHECK_STR(take_repr(PyObject_CallMethod(s, "twice", NULL)), "42");
    CHECK_STR(take_repr(PyObject_CallMethod(s, "get", NULL)), "21");
    PyObject *b = new_box(&Box_Type, 1);
    CHECK(PyObject_CallMethod(b, "twice", NULL) == NULL);
    CHECK_ERROR(PyExc_AttributeError, "'calltest.Box' object has no attribute 'twice'");
    int before = box_deallocs;
    Py_DECREF(s);
    Py_DECREF(b);
    CHECK_INT(box_deallocs, before + 2);
}

/* A callable type whose call slot calls itself again, without end. */
static PyObject *recurse_call(PyObject *self, PyObject *args, PyObject *kwds) {
    (void)kwds;
    return PyObject_Call(self, args, NULL);
}

static PyTypeObject Recurse_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "calltest.Recurse",
    .tp_call = recurse_call,
    .tp_new = PyType_GenericNew,
};

TEST(recursion_limit) {
    CHECK_INT(PyType_Ready(&Recurse_Type), 0);
    PyObject *r = PyObject_CallObject((PyObject *)&Recurse_Type, NULL);
    CHECK(r != NULL);
    CHECK(PyObject_CallObject(r, NULL) == NULL);
    CHECK_ERROR(PyExc_RecursionError, "maximum recursion depth exceeded while calling a Python object");
    /* The depth is back to normal: the next call fails the same way. */
    CHECK(PyObject_CallObject(r, NULL) == NULL);
    CHECK_ERROR(PyExc_RecursionError, "maximum recursion depth exceeded while calling a Python object");
    Py_DECREF(r);
}

/* ---- Py_BuildValue --------------------------------------------------------- */

TEST(build_value_tuple) {
    PyObject *o = Py_BuildValue("(isd)", 1, "two", 3.5);
    CHECK(o != NULL);
    CHECK_REPR(o, "(1, 'two', 3.5)");
    Py_DECREF(o);
}

TEST(build_value_empty_is_none) {
    PyObject *o = Py_BuildValue("");
    CHECK_PTR(o, Py_None);
    Py_DECREF(o);
    o = Py_BuildValue("  ");
    CHECK_PTR(o, Py_None);
    Py_DECREF(o);
}

TEST(build_value_single_item_not_tupled) {
    PyObject *o = Py_BuildValue("i", 42);
    CHECK(PyLong_Check(o));
    CHECK_INT(PyLong_AsLong(o), 42);
    Py_DECREF(o);
    CHECK_STR(take_repr(Py_BuildValue("(i)", 42)), "(42,)");
    CHECK_STR(take_repr(Py_BuildValue("ii", 1, 2)), "(1, 2)");
    CHECK_STR(take_repr(Py_BuildValue("i, i", 1, 2)), "(1, 2)");
}

TEST(build_value_small_ints) {
    CHECK_STR(take_repr(Py_BuildValue("b", -3)), "-3");
    CHECK_STR(take_repr(Py_BuildValue("B", 200)), "200");
    CHECK_STR(take_repr(Py_BuildValue("h", -300)), "-300");
    CHECK_STR(take_repr(Py_BuildValue("H", 65535)), "65535");
    /* 'H' takes an unsigned int (CPython does not truncate it). */
    CHECK_STR(take_repr(Py_BuildValue("H", 70000u)), "70000");
    CHECK_STR(take_repr(Py_BuildValue("i", INT_MIN)), "-2147483648");
    CHECK_STR(take_repr(Py_BuildValue("I", UINT_MAX)), "4294967295");
}

TEST(build_value_long_ints) {
    CHECK_STR(take_repr(Py_BuildValue("l", LONG_MIN)), "-9223372036854775808");
    CHECK_STR(take_repr(Py_BuildValue("k", ULONG_MAX)), "18446744073709551615");
    CHECK_STR(take_repr(Py_BuildValue("L", LLONG_MIN)), "-9223372036854775808");
    CHECK_STR(take_repr(Py_BuildValue("K", ULLONG_MAX)), "18446744073709551615");
    CHECK_STR(take_repr(Py_BuildValue("n", (Py_ssize_t)-5)), "-5");
}

TEST(build_value_chars) {
    CHECK_STR(take_repr(Py_BuildValue("c", 'x')), "b'x'");
    CHECK_STR(take_repr(Py_BuildValue("c", 0)), "b'\\x00'");
    CHECK_STR(take_repr(Py_BuildValue("C", 'A')), "'A'");
    CHECK_STR(take_repr(Py_BuildValue("C", 0xe9)), "'\xc3\xa9'");
    CHECK_STR(take_repr(Py_BuildValue("C", 0x1F600)), "'\xf0\x9f\x98\x80'");
    CHECK(Py_BuildValue("C", 0x110000) == NULL);
    CHECK_ERROR(PyExc_ValueError, "chr() arg not in range(0x110000)");
    CHECK(Py_BuildValue("C", -1) == NULL);
    CHECK_ERROR(PyExc_ValueError, "chr() arg not in range(0x110000)");
}

TEST(build_value_floats) {
    CHECK_STR(take_repr(Py_BuildValue("d", 2.5)), "2.5");
    CHECK_STR(take_repr(Py_BuildValue("f", (double)0.5f)), "0.5");
    CHECK_STR(take_repr(Py_BuildValue("d", 1e100)), "1e+100");
}

TEST(build_value_strings) {
    CHECK_STR(take_repr(Py_BuildValue("s", "hi")), "'hi'");
    CHECK_STR(take_repr(Py_BuildValue("s", NULL)), "None");
    CHECK_STR(take_repr(Py_BuildValue("z", NULL)), "None");
    CHECK_STR(take_repr(Py_BuildValue("z", "z")), "'z'");
    CHECK_STR(take_repr(Py_BuildValue("U", "u")), "'u'");
    CHECK_STR(take_repr(Py_BuildValue("s#", "abcdef", (Py_ssize_t)2)), "'ab'");
    CHECK_STR(take_repr(Py_BuildValue("z#", NULL, (Py_ssize_t)0)), "None");
    CHECK_STR(take_repr(Py_BuildValue("U#", "a\0b", (Py_ssize_t)3)), "'a\\x00b'");
    CHECK_STR(take_repr(Py_BuildValue("s#i", "xyz", (Py_ssize_t)1, 7)), "('x', 7)");
}

TEST(build_value_bytes) {
    CHECK_STR(take_repr(Py_BuildValue("y", "ab")), "b'ab'");
    CHECK_STR(take_repr(Py_BuildValue("y#", "a\0b", (Py_ssize_t)3)), "b'a\\x00b'");
    CHECK_STR(take_repr(Py_BuildValue("y", NULL)), "None");
}

TEST(build_value_objects) {
    PyObject *x = PyUnicode_FromString("x");
    PyObject *o = Py_BuildValue("O", x);
    CHECK_PTR(o, x);
    CHECK_INT(Py_REFCNT(x), 2);
    Py_DECREF(o);
    o = Py_BuildValue("S", x);
    CHECK_PTR(o, x);
    CHECK_INT(Py_REFCNT(x), 2);
    Py_DECREF(o);
    PyObject *t = Py_BuildValue("(OSO)", x, x, Py_None);
    CHECK_INT(Py_REFCNT(x), 3);
    CHECK_REPR(t, "('x', 'x', None)");
    Py_DECREF(t);
    CHECK_INT(Py_REFCNT(x), 1);
    Py_DECREF(x);
}

TEST(build_value_n_steals) {
    PyObject *x = PyUnicode_FromString("x");
    Py_INCREF(x);
    PyObject *t = Py_BuildValue("(N)", x);
    CHECK_INT(Py_REFCNT(x), 2);
    Py_DECREF(t);
    CHECK_INT(Py_REFCNT(x), 1);
    PyObject *o = Py_BuildValue("N", x);
    CHECK_PTR(o, x);
    CHECK_INT(Py_REFCNT(x), 1);
    Py_DECREF(o);
}

TEST(build_value_n_released_on_failure) {
    int before = box_deallocs;
    CHECK(Py_BuildValue("(Nx)", new_box(&Box_Type, 1)) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad format char passed to Py_BuildValue");
    CHECK_INT(box_deallocs, before + 1);
    CHECK(Py_BuildValue("NO", new_box(&Box_Type, 2), NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "NULL object passed to Py_BuildValue");
    CHECK_INT(box_deallocs, before + 2);
    CHECK(Py_BuildValue("{sNs}", "a", new_box(&Box_Type, 3), "b") == NULL);
    CHECK_ERROR(PyExc_SystemError, "Bad dict format");
    CHECK_INT(box_deallocs, before + 3);
}

TEST(build_value_nested) {
    CHECK_STR(take_repr(Py_BuildValue("(i(ss)())", 1, "a", "b")), "(1, ('a', 'b'), ())");
    CHECK_STR(take_repr(Py_BuildValue("((((i))))", 1)), "((((1,),),),)");
    CHECK_STR(take_repr(Py_BuildValue("(i){s:(ii)}", 0, "k", 1, 2)), "((0,), {'k': (1, 2)})");
}

TEST(build_value_dicts) {
    CHECK_STR(take_repr(Py_BuildValue("{}")), "{}");
    CHECK_STR(take_repr(Py_BuildValue("{s:i,s:i}", "a", 1, "b", 2)), "{'a': 1, 'b': 2}");
    CHECK_STR(take_repr(Py_BuildValue("{i:s}", 1, "one")), "{1: 'one'}");
    CHECK_STR(take_repr(Py_BuildValue("{s:i,s:i}", "a", 1, "a", 2)), "{'a': 2}");
}

TEST(build_value_errors) {
    CHECK(Py_BuildValue("x", 1) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad format char passed to Py_BuildValue");
    CHECK(Py_BuildValue("O", NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "NULL object passed to Py_BuildValue");
    CHECK(Py_BuildValue("(ii", 1, 2) == NULL);
    CHECK_ERROR(PyExc_SystemError, "unmatched paren in format");
    CHECK(Py_BuildValue("{s:i", "a", 1) == NULL);
    CHECK_ERROR(PyExc_SystemError, "unmatched paren in format");
    CHECK(Py_BuildValue("{sis}", "a", 1, "b") == NULL);
    CHECK_ERROR(PyExc_SystemError, "Bad dict format");
    CHECK(Py_BuildValue(NULL) == NULL);
    CHECK_ERROR(PyExc_SystemError, "bad argument to internal function");
}

/* A NULL object after a failed call passes the pending error on. */
TEST(build_value_null_keeps_pending_error) {
    PyErr_SetString(PyExc_ValueError, "earlier");
    CHECK(Py_BuildValue("(iO)", 1, NULL) == NULL);
    CHECK_ERROR(PyExc_ValueError, "earlier");
}

/* ---- PyUnicode_FromFormat / PyErr_Format ------------------------------------ */

#define FMT(...) take_text(PyUnicode_FromFormat(__VA_ARGS__))

TEST(format_integers) {
    CHECK_STR(FMT("%d", -5), "-5");
    CHECK_STR(FMT("%i", 7), "7");
    CHECK_STR(FMT("%u", 4000000000u), "4000000000");
    CHECK_STR(FMT("%ld", LONG_MIN), "-9223372036854775808");
    CHECK_STR(FMT("%li", -1L), "-1");
    CHECK_STR(FMT("%lu", ULONG_MAX), "18446744073709551615");
    CHECK_STR(FMT("%lld", LLONG_MIN), "-9223372036854775808");
    CHECK_STR(FMT("%llu", ULLONG_MAX), "18446744073709551615");
    CHECK_STR(FMT("%zd", (Py_ssize_t)-3), "-3");
    CHECK_STR(FMT("%zi", (Py_ssize_t)4), "4");
    CHECK_STR(FMT("%zu", (size_t)3), "3");
    CHECK_STR(FMT("%x", 255), "ff");
    CHECK_STR(FMT("%x", -1), "ffffffff");
}

TEST(format_width_and_precision) {
    CHECK_STR(FMT("[%5d]", 42), "[   42]");
    CHECK_STR(FMT("[%05d]", 42), "[00042]");
    CHECK_STR(FMT("[%.4d]", 42), "[0042]");
    CHECK_STR(FMT("[%6.4d]", 42), "[  0042]");
    CHECK_STR(FMT("[%5s]", "ab"), "[   ab]");
    CHECK_STR(FMT("[%1s]", "abc"), "[abc]");
}

TEST(format_chars) {
    CHECK_STR(FMT("%c", 'A'), "A");
    CHECK_STR(FMT("%c%c", 0xe9, 0x20ac), "\xc3\xa9\xe2\x82\xac");
    CHECK(PyUnicode_FromFormat("%c", 0x110000) == NULL);
    CHECK_ERROR(PyExc_OverflowError, "character argument not in range(0x110000)");
}

TEST(format_strings) {
    CHECK_STR(FMT("%s!", "hi"), "hi!");
    CHECK_STR(FMT("%.3s", "abcdef"), "abc");
    CHECK_STR(FMT("%.10s", "abc"), "abc");
    /* The precision of %s counts bytes; a cut character becomes U+FFFD. */
    CHECK_STR(FMT("%.2s", "\xc3\xa9\xc3\xa8"), "\xc3\xa9");
    CHECK_STR(FMT("%.3s", "\xc3\xa9\xc3\xa8"), "\xc3\xa9\xef\xbf\xbd");
    CHECK_STR(FMT("%s", "\xff"), "\xef\xbf\xbd");
}

TEST(format_pointer) {
    int x;
    char expected[64];
    snprintf(expected, sizeof expected, "%p", (void *)&x);
    CHECK(strncmp(expected, "0x", 2) == 0);
    CHECK_STR(FMT("%p", (void *)&x), expected);
}

TEST(format_objects) {
    PyObject *s = PyUnicode_FromString("text");
    PyObject *i = PyLong_FromLong(5);
    CHECK_STR(FMT("%U", s), "text");
    CHECK_STR(FMT("%S", s), "text");
    CHECK_STR(FMT("%R", s), "'text'");
    CHECK_STR(FMT("%S|%R", i, i), "5|5");
    CHECK_STR(FMT("%R", Py_None), "None");
    CHECK_STR(FMT("%.2U", s), "te");
    CHECK_STR(FMT("%.3R", s), "'te");
    CHECK_STR(FMT("[%6U]", s), "[  text]");
    CHECK_STR(FMT("%V", s, "unused"), "text");
    CHECK_STR(FMT("%V", NULL, "fallback"), "fallback");
    CHECK_STR(FMT("%.4V", NULL, "fallback"), "fall");
    Py_DECREF(s);
    Py_DECREF(i);
}

TEST(format_precision_counts_characters) {
    PyObject *s = PyUnicode_FromString("\xc3\xa9\xc3\xa8\xc3\xa0");
    CHECK_STR(FMT("%.2U", s), "\xc3\xa9\xc3\xa8");
    CHECK_STR(FMT("%.1S", s), "\xc3\xa9");
    CHECK_STR(FMT("[%4U]", s), "[ \xc3\xa9\xc3\xa8\xc3\xa0]");
    Py_DECREF(s);
}

TEST(format_percent_and_text) {
    CHECK_STR(FMT("100%%"), "100%");
    CHECK_STR(FMT("%%d"), "%d");
    CHECK_STR(FMT("no specifiers"), "no specifiers");
    CHECK_STR(FMT(""), "");
    CHECK_STR(FMT("a%db%sc", 1, "x"), "a1bxc");
    /* An unknown specifier copies the rest of the format as it is. */
    CHECK_STR(FMT("%d %q %d", 1, 2), "1 %q %d");
}

TEST(format_rejects_non_ascii) {
    PyObject *s = PyUnicode_FromString("x");
    /* A non-ASCII byte in the format itself is an error. */
    CHECK(PyUnicode_FromFormat("\xc3\xa9 %S", s) == NULL);
    CHECK_ERROR(PyExc_ValueError,
                "PyUnicode_FromFormatV() expects an ASCII-encoded format string, got a non-ASCII byte: 0xc3");
    Py_DECREF(s);
}

TEST(err_format) {
    PyObject *o = PyUnicode_FromString("o");
    CHECK(PyErr_Format(PyExc_ValueError, "bad %s %d %R", "value", 3, o) == NULL);
    CHECK_ERROR(PyExc_ValueError, "bad value 3 'o'");
    CHECK(PyErr_Format(PyExc_KeyError, "%S", o) == NULL);
    CHECK_ERROR(PyExc_KeyError, "'o'");
    CHECK(PyErr_Format(PyExc_TypeError, "%.1s%%", "xyz") == NULL);
    CHECK_ERROR(PyExc_TypeError, "x%");
    Py_DECREF(o);
}

int main(void) {
    RUN(cfunction_varargs);
    RUN(cfunction_varargs_rejects_keywords);
    RUN(cfunction_keywords);
    RUN(cfunction_noargs);
    RUN(cfunction_o);
    RUN(cfunction_self_and_module);
    RUN(cfunction_repr);
    RUN(cfunction_null_without_error);
    RUN(cfunction_result_with_error);
    RUN(cfunction_error_passes_through);
    RUN(cfunction_new_null_def);
    RUN(call_errors);
    RUN(call_object_with_tuple);
    RUN(call_function_formats);
    RUN(call_function_bad_format);
    RUN(call_method_of_user_type);
    RUN(call_method_errors);
    RUN(bound_method_object);
    RUN(methods_inherited_through_tp_base);
    RUN(recursion_limit);
    RUN(build_value_tuple);
    RUN(build_value_empty_is_none);
    RUN(build_value_single_item_not_tupled);
    RUN(build_value_small_ints);
    RUN(build_value_long_ints);
    RUN(build_value_chars);
    RUN(build_value_floats);
    RUN(build_value_strings);
    RUN(build_value_bytes);
    RUN(build_value_objects);
    RUN(build_value_n_steals);
    RUN(build_value_n_released_on_failure);
    RUN(build_value_nested);
    RUN(build_value_dicts);
    RUN(build_value_errors);
    RUN(build_value_null_keeps_pending_error);
    RUN(format_integers);
    RUN(format_width_and_precision);
    RUN(format_chars);
    RUN(format_strings);
    RUN(format_pointer);
    RUN(format_objects);
    RUN(format_precision_counts_characters);
    RUN(format_percent_and_text);
    RUN(format_rejects_non_ascii);
    RUN(err_format);
    return harness_summary("test_calls");
}
