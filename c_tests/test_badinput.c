/* Bad input to every exported object and error function: NULL where an
 * object is required, an object of the wrong type where a specific type is
 * required. Each call returns its documented failure value and sets the
 * exact exception (CPython's TypeError, or SystemError("bad argument to
 * internal function") where CPython would crash or assert), never crashes. */
#include "harness.h"

#include <limits.h>
#include <pthread.h>

#define BAD_CALL "bad argument to internal function"

#if defined(__SANITIZE_ADDRESS__)
/* ASan aborts on a huge allocation unless told to fail it as malloc does
 * (huge_sizes_raise_memory_error). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "allocator_may_return_null=1";
}
#endif
#define BAD_ARG "bad argument type for built-in operation"

/* ---- Reference counting and types ---------------------------------------- */

TEST(type_ready_null) {
    CHECK_INT(PyType_Ready(NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
}

TEST(refcount_functions_accept_null) {
    _Py_Dealloc(NULL);
    Py_IncRef(NULL);
    Py_DecRef(NULL);
    CHECK_NO_ERROR();
    PyObject *o = PyLong_FromLong(1000);
    Py_IncRef(o);
    CHECK_INT(Py_REFCNT(o), 2);
    Py_DecRef(o);
    CHECK_INT(Py_REFCNT(o), 1);
    Py_DecRef(o);
    CHECK_NO_ERROR();
}

TEST(type_is_subtype_of_null_or_non_type_is_0) {
    PyObject *five = PyLong_FromLong(5);
    CHECK_INT(PyType_IsSubtype(NULL, &PyLong_Type), 0);
    CHECK_INT(PyType_IsSubtype(&PyLong_Type, NULL), 0);
    CHECK_INT(PyType_IsSubtype(NULL, NULL), 0);
    CHECK_INT(PyType_IsSubtype((PyTypeObject *)five, &PyBaseObject_Type), 0);
    CHECK_INT(PyType_IsSubtype(&PyLong_Type, (PyTypeObject *)five), 0);
    CHECK_INT(PyType_IsSubtype(&PyBool_Type, &PyLong_Type), 1);
    CHECK_INT(PyType_IsSubtype(&PyLong_Type, &PyBool_Type), 0);
    Py_DECREF(five);
    CHECK_NO_ERROR();
}

TEST(generic_alloc_and_new_refuse_bad_types) {
    PyObject *five = PyLong_FromLong(5);
    CHECK_PTR(PyType_GenericAlloc(NULL, 0), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyType_GenericAlloc((PyTypeObject *)five, 0), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyType_GenericAlloc(&PyTuple_Type, -1), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyType_GenericNew(NULL, NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyType_GenericNew((PyTypeObject *)five, NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyObject *t = PyType_GenericAlloc(&PyTuple_Type, 2);
    CHECK(t != NULL);
    CHECK_INT(PyTuple_Size(t), 2);
    CHECK_PTR(PyTuple_GetItem(t, 1), NULL); /* an empty slot, no error */
    CHECK_NO_ERROR();
    Py_DECREF(t);
    Py_DECREF(five);
}

/* A type whose tp_alloc is PyType_GenericAlloc (CPython's usual spelling). */
static PyTypeObject Plain_Type;

TEST(generic_alloc_works_as_tp_alloc) {
    Plain_Type.tp_name = "test.Plain";
    Plain_Type.tp_basicsize = sizeof(PyObject);
    Plain_Type.tp_alloc = PyType_GenericAlloc;
    Plain_Type.tp_new = PyType_GenericNew;
    CHECK_INT(PyType_Ready(&Plain_Type), 0);
    PyObject *a = PyType_GenericNew(&Plain_Type, NULL, NULL);
    CHECK(a != NULL);
    CHECK_PTR(Py_TYPE(a), &Plain_Type);
    PyObject *b = PyObject_CallObject((PyObject *)&Plain_Type, NULL);
    CHECK(b != NULL);
    CHECK_PTR(Py_TYPE(b), &Plain_Type);
    Py_DECREF(a);
    Py_DECREF(b);
}

/* An exception made without tp_new has no argument tuple of its own. */
TEST(generic_new_exception_has_empty_args) {
    PyObject *e = PyType_GenericNew((PyTypeObject *)PyExc_ValueError, NULL, NULL);
    CHECK(e != NULL);
    CHECK_STR_OF(e, "");
    CHECK_REPR(e, "ValueError()");
    PyObject *args = PyObject_GetAttrString(e, "args");
    CHECK(args != NULL);
    CHECK(PyTuple_Check(args));
    CHECK_INT(PyTuple_Size(args), 0);
    Py_DECREF(args);
    PyErr_SetObject(PyExc_ValueError, e);
    CHECK_ERROR(PyExc_ValueError, "");
    Py_DECREF(e);
}

/* ---- Numbers --------------------------------------------------------------- */

TEST(long_as_long_bad_input) {
    PyObject *s = PyUnicode_FromString("1");
    PyObject *f = PyFloat_FromDouble(1.0);
    PyObject *big = PyLong_FromUnsignedLong(ULONG_MAX);
    PyObject *minus_one = PyLong_FromLong(-1);
    CHECK_INT(PyLong_AsLong(NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyLong_AsLong(s), -1);
    CHECK_ERROR(PyExc_TypeError, "an integer is required (got type str)");
    CHECK_INT(PyLong_AsLong(f), 1); /* CPython 3.7 truncates floats */
    CHECK_NO_ERROR();
    CHECK_INT(PyLong_AsLong(Py_None), -1);
    CHECK_ERROR(PyExc_TypeError, "an integer is required (got type NoneType)");
    CHECK_INT(PyLong_AsLong(big), -1);
    CHECK_ERROR(PyExc_OverflowError, "Python int too large to convert to C long");
    CHECK_INT(PyLong_AsLong(minus_one), -1); /* a real -1: no error */
    CHECK_NO_ERROR();
    CHECK_INT(PyLong_AsLong(Py_True), 1);
    Py_DECREF(s);
    Py_DECREF(f);
    Py_DECREF(big);
    Py_DECREF(minus_one);
}

/* The constructors from C numbers take every value of their type. */
TEST(number_constructors_take_any_value) {
    PyObject *o[7] = {
        PyLong_FromLong(LONG_MIN),
        PyLong_FromUnsignedLong(ULONG_MAX),
        PyLong_FromLongLong(LLONG_MIN),
        PyLong_FromUnsignedLongLong(ULLONG_MAX),
        PyLong_FromSsize_t(-1),
        PyFloat_FromDouble(-0.0),
        PyFloat_FromDouble(1e308 * 10),
    };
    char expected[7][32];
    snprintf(expected[0], 32, "%ld", LONG_MIN);
    snprintf(expected[1], 32, "%lu", ULONG_MAX);
    snprintf(expected[2], 32, "%lld", LLONG_MIN);
    snprintf(expected[3], 32, "%llu", ULLONG_MAX);
    snprintf(expected[4], 32, "-1");
    snprintf(expected[5], 32, "-0.0");
    snprintf(expected[6], 32, "inf");
    for (int i = 0; i < 7; i++) {
        CHECK(o[i] != NULL);
        CHECK_REPR(o[i], expected[i]);
    }
    CHECK_NO_ERROR();
    for (int i = 0; i < 7; i++) {
        Py_DECREF(o[i]);
    }
}

TEST(float_as_double_bad_input) {
    PyObject *s = PyUnicode_FromString("1.5");
    PyObject *i = PyLong_FromLong(3);
    CHECK(PyFloat_AsDouble(NULL) == -1.0);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK(PyFloat_AsDouble(s) == -1.0);
    CHECK_ERROR(PyExc_TypeError, "must be real number, not str");
    CHECK(PyFloat_AsDouble(Py_None) == -1.0);
    CHECK_ERROR(PyExc_TypeError, "must be real number, not NoneType");
    CHECK(PyFloat_AsDouble(i) == 3.0);
    CHECK_NO_ERROR();
    Py_DECREF(s);
    Py_DECREF(i);
}

/* ---- str and bytes ----------------------------------------------------------- */

TEST(unicode_from_null_or_negative_size) {
    CHECK_PTR(PyUnicode_FromString(NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyUnicode_FromStringAndSize(NULL, 3), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyUnicode_FromStringAndSize("abc", -1), NULL);
    CHECK_ERROR(PyExc_SystemError, "Negative size passed to PyUnicode_FromStringAndSize");
    PyObject *empty = PyUnicode_FromStringAndSize(NULL, 0);
    CHECK(empty != NULL);
    CHECK_STR(PyUnicode_AsUTF8(empty), "");
    Py_DECREF(empty);
}

/* CPython's UnicodeDecodeError texts (a ValueError subclass there). */
TEST(unicode_from_invalid_utf8) {
    CHECK_PTR(PyUnicode_FromString("\xff"), NULL);
    CHECK_ERROR(PyExc_ValueError, "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte");
    CHECK_PTR(PyUnicode_FromString("ab\x80"), NULL);
    CHECK_ERROR(PyExc_ValueError, "'utf-8' codec can't decode byte 0x80 in position 2: invalid start byte");
    CHECK_PTR(PyUnicode_FromString("\xc3("), NULL);
    CHECK_ERROR(PyExc_ValueError,
                "'utf-8' codec can't decode byte 0xc3 in position 0: invalid continuation byte");
    CHECK_PTR(PyUnicode_FromString("\xe2\x82" "A"), NULL);
    CHECK_ERROR(PyExc_ValueError,
                "'utf-8' codec can't decode bytes in position 0-1: invalid continuation byte");
    CHECK_PTR(PyUnicode_FromString("\xe0\x80"), NULL);
    CHECK_ERROR(PyExc_ValueError,
                "'utf-8' codec can't decode byte 0xe0 in position 0: invalid continuation byte");
    CHECK_PTR(PyUnicode_FromString("\xe2\x82"), NULL);
    CHECK_ERROR(PyExc_ValueError,
                "'utf-8' codec can't decode bytes in position 0-1: unexpected end of data");
    CHECK_PTR(PyUnicode_FromStringAndSize("ab\xe2", 3), NULL);
    CHECK_ERROR(PyExc_ValueError,
                "'utf-8' codec can't decode byte 0xe2 in position 2: unexpected end of data");
}

TEST(unicode_as_utf8_bad_input) {
    PyObject *i = PyLong_FromLong(1);
    PyObject *b = PyBytes_FromStringAndSize("x", 1);
    CHECK_PTR(PyUnicode_AsUTF8(NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyUnicode_AsUTF8(i), NULL);
    CHECK_ERROR(PyExc_TypeError, BAD_ARG);
    CHECK_PTR(PyUnicode_AsUTF8(b), NULL);
    CHECK_ERROR(PyExc_TypeError, BAD_ARG);
    Py_DECREF(i);
    Py_DECREF(b);
}

TEST(bytes_from_negative_size_or_null) {
    CHECK_PTR(PyBytes_FromStringAndSize("abc", -1), NULL);
    CHECK_ERROR(PyExc_SystemError, "Negative size passed to PyBytes_FromStringAndSize");
    PyObject *zeros = PyBytes_FromStringAndSize(NULL, 3);
    CHECK(zeros != NULL);
    CHECK_INT(PyBytes_Size(zeros), 3);
    CHECK_REPR(zeros, "b'\\x00\\x00\\x00'");
    Py_DECREF(zeros);
}

TEST(bytes_accessors_bad_input) {
    PyObject *s = PyUnicode_FromString("text");
    PyObject *i = PyLong_FromLong(1);
    PyObject *e = PyErr_NewException("mod.Err", NULL, NULL);
    PyObject *inst = PyObject_CallObject(e, NULL);
    CHECK_PTR(PyBytes_AsString(NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyBytes_AsString(s), NULL);
    CHECK_ERROR(PyExc_TypeError, "expected bytes, str found");
    CHECK_PTR(PyBytes_AsString(i), NULL);
    CHECK_ERROR(PyExc_TypeError, "expected bytes, int found");
    CHECK_PTR(PyBytes_AsString(inst), NULL);
    CHECK_ERROR(PyExc_TypeError, "expected bytes, Err found");
    CHECK_INT(PyBytes_Size(NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyBytes_Size(s), -1);
    CHECK_ERROR(PyExc_TypeError, "expected bytes, str found");
    CHECK_INT(PyBytes_Size(Py_None), -1);
    CHECK_ERROR(PyExc_TypeError, "expected bytes, NoneType found");
    Py_DECREF(inst);
    Py_DECREF(e);
    Py_DECREF(s);
    Py_DECREF(i);
}

/* ---- Tuples ----------------------------------------------------------------- */

TEST(tuple_new_negative_size) {
    CHECK_PTR(PyTuple_New(-1), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
}

/* CPython's PY_SSIZE_T_MAX (the header has no such macro). */
#define SSIZE_MAX_ ((Py_ssize_t)((size_t)-1 >> 1))

/* Sizes whose byte count overflows, or that no allocation can hold, give
 * MemoryError (CPython's PyErr_NoMemory, no message), never a short
 * allocation or a crash. */
TEST(huge_sizes_raise_memory_error) {
    static const Py_ssize_t sizes[] = {
        SSIZE_MAX_,
        SSIZE_MAX_ / (Py_ssize_t)sizeof(PyObject *),
        (SSIZE_MAX_ - (Py_ssize_t)sizeof(PyVarObject)) / (Py_ssize_t)sizeof(PyObject *) + 1,
        SSIZE_MAX_ / 2,
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CHECK_PTR(PyTuple_New(sizes[i]), NULL);
        CHECK_ERROR(PyExc_MemoryError, "");
        CHECK_PTR(PyType_GenericAlloc(&PyTuple_Type, sizes[i]), NULL);
        CHECK_ERROR(PyExc_MemoryError, "");
        CHECK_PTR(PyBytes_FromStringAndSize(NULL, sizes[i]), NULL);
        CHECK_ERROR(PyExc_MemoryError, "");
        CHECK_PTR(PyTuple_Pack(sizes[i]), NULL);
        CHECK_ERROR(PyExc_MemoryError, "");
    }
    CHECK_PTR(PyBytes_FromStringAndSize(NULL, SSIZE_MAX_ - 8), NULL);
    CHECK_ERROR(PyExc_MemoryError, "");
}

/* A type with items whose basic size leaves no room for the item count:
 * the count still lands inside the allocation (valgrind and ASan see). */
static PyTypeObject Items_Type = {PyVarObject_HEAD_INIT(NULL, 0) .tp_name = "badtest.Items",
                                  .tp_basicsize = sizeof(PyObject), .tp_itemsize = 1,
                                  .tp_new = PyType_GenericNew};

TEST(generic_alloc_of_items_with_a_small_basic_size) {
    CHECK_INT(PyType_Ready(&Items_Type), 0);
    PyObject *o = PyType_GenericAlloc(&Items_Type, 0);
    CHECK(o != NULL);
    CHECK_INT(((PyVarObject *)o)->ob_size, 0);
    Py_DECREF(o);
    CHECK_PTR(PyType_GenericAlloc(&Items_Type, SSIZE_MAX_), NULL);
    CHECK_ERROR(PyExc_MemoryError, "");
}

TEST(tuple_get_item_bad_input) {
    PyObject *d = PyDict_New();
    PyObject *t = Py_BuildValue("(ii)", 1, 2);
    CHECK_PTR(PyTuple_GetItem(NULL, 0), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyTuple_GetItem(d, 0), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyTuple_GetItem(t, 2), NULL);
    CHECK_ERROR(PyExc_IndexError, "tuple index out of range");
    CHECK_PTR(PyTuple_GetItem(t, -1), NULL);
    CHECK_ERROR(PyExc_IndexError, "tuple index out of range");
    CHECK_INT(PyLong_AsLong(PyTuple_GetItem(t, 1)), 2);
    Py_DECREF(d);
    Py_DECREF(t);
}

/* PyTuple_SetItem steals the item, also when it fails. */
TEST(tuple_set_item_steals_on_failure) {
    PyObject *d = PyDict_New();
    PyObject *t = PyTuple_New(1);
    PyObject *item = PyUnicode_FromString("stolen");
    Py_INCREF(item);
    CHECK_INT(PyTuple_SetItem(d, 0, item), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(Py_REFCNT(item), 1);
    Py_INCREF(item);
    CHECK_INT(PyTuple_SetItem(NULL, 0, item), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(Py_REFCNT(item), 1);
    Py_INCREF(item);
    CHECK_INT(PyTuple_SetItem(t, 1, item), -1);
    CHECK_ERROR(PyExc_IndexError, "tuple assignment index out of range");
    CHECK_INT(Py_REFCNT(item), 1);
    Py_INCREF(item);
    CHECK_INT(PyTuple_SetItem(t, -1, item), -1);
    CHECK_ERROR(PyExc_IndexError, "tuple assignment index out of range");
    CHECK_INT(Py_REFCNT(item), 1);
    CHECK_INT(PyTuple_SetItem(d, 0, NULL), -1); /* a NULL item is allowed */
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    Py_INCREF(item);
    CHECK_INT(PyTuple_SetItem(t, 0, item), 0);
    CHECK_INT(Py_REFCNT(item), 2);
    Py_DECREF(t);
    CHECK_INT(Py_REFCNT(item), 1);
    Py_DECREF(item);
    Py_DECREF(d);
}

TEST(tuple_size_bad_input) {
    PyObject *s = PyUnicode_FromString("abc");
    CHECK_INT(PyTuple_Size(NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyTuple_Size(s), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    Py_DECREF(s);
}

TEST(tuple_pack_bad_input) {
    PyObject *o = PyLong_FromLong(1);
    CHECK_PTR(PyTuple_Pack(-1), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyTuple_Pack(2, o, (PyObject *)NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(Py_REFCNT(o), 1);
    Py_DECREF(o);
}

/* ---- Dicts -------------------------------------------------------------------- */

TEST(dict_set_item_bad_input) {
    PyObject *d = PyDict_New();
    PyObject *t = PyTuple_New(0);
    PyObject *k = PyUnicode_FromString("k");
    PyObject *v = PyLong_FromLong(1);
    CHECK_INT(PyDict_SetItem(NULL, k, v), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyDict_SetItem(t, k, v), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyDict_SetItem(d, NULL, v), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyDict_SetItem(d, k, NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(Py_REFCNT(k), 1);
    CHECK_INT(Py_REFCNT(v), 1);
    CHECK_INT(PyDict_Size(d), 0);
    Py_DECREF(d);
    Py_DECREF(t);
    Py_DECREF(k);
    Py_DECREF(v);
}

TEST(dict_set_item_string_bad_input) {
    PyObject *d = PyDict_New();
    PyObject *t = PyTuple_New(0);
    PyObject *v = PyLong_FromLong(1);
    CHECK_INT(PyDict_SetItemString(NULL, "k", v), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyDict_SetItemString(t, "k", v), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyDict_SetItemString(d, NULL, v), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyDict_SetItemString(d, "k", NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyDict_SetItemString(d, "\xff", v), -1);
    CHECK_ERROR(PyExc_ValueError, "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte");
    CHECK_INT(Py_REFCNT(v), 1);
    CHECK_INT(PyDict_Size(d), 0);
    Py_DECREF(d);
    Py_DECREF(t);
    Py_DECREF(v);
}

TEST(dict_get_item_string_bad_input) {
    PyObject *d = PyDict_New();
    PyObject *l = PyLong_FromLong(1);
    CHECK_PTR(PyDict_GetItemString(NULL, "k"), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyDict_GetItemString(l, "k"), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyDict_GetItemString(d, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyDict_GetItemString(d, "missing"), NULL); /* no error */
    CHECK_NO_ERROR();
    Py_DECREF(d);
    Py_DECREF(l);
}

TEST(dict_size_bad_input) {
    PyObject *t = PyTuple_New(0);
    CHECK_INT(PyDict_Size(NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyDict_Size(t), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    Py_DECREF(t);
}

/* ---- Capsules ------------------------------------------------------------------ */

TEST(capsule_new_null_pointer) {
    CHECK_PTR(PyCapsule_New(NULL, "name", NULL), NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_New called with null pointer");
}

TEST(capsule_get_pointer_bad_input) {
    static int target;
    PyObject *c = PyCapsule_New(&target, "mod.cap", NULL);
    PyObject *anon = PyCapsule_New(&target, NULL, NULL);
    PyObject *i = PyLong_FromLong(1);
    CHECK(c != NULL && anon != NULL);
    CHECK_PTR(PyCapsule_GetPointer(NULL, "mod.cap"), NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with invalid PyCapsule object");
    CHECK_PTR(PyCapsule_GetPointer(i, "mod.cap"), NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with invalid PyCapsule object");
    CHECK_PTR(PyCapsule_GetPointer(c, "mod.other"), NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with incorrect name");
    CHECK_PTR(PyCapsule_GetPointer(c, NULL), NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with incorrect name");
    CHECK_PTR(PyCapsule_GetPointer(anon, "mod.cap"), NULL);
    CHECK_ERROR(PyExc_ValueError, "PyCapsule_GetPointer called with incorrect name");
    CHECK_PTR(PyCapsule_GetPointer(c, "mod.cap"), &target);
    CHECK_PTR(PyCapsule_GetPointer(anon, NULL), &target);
    CHECK_NO_ERROR();
    Py_DECREF(c);
    Py_DECREF(anon);
    Py_DECREF(i);
}

/* ---- C functions and calls ------------------------------------------------------ */

static PyObject *return_none(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    Py_RETURN_NONE;
}

static PyObject *return_null_silently(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return NULL;
}

static PyObject *result_held;

static PyObject *return_result_and_error(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    PyErr_SetString(PyExc_ValueError, "also set");
    Py_INCREF(result_held);
    return result_held;
}

TEST(cfunction_new_null) {
    CHECK_PTR(PyCFunction_New(NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyCFunction_NewEx(NULL, NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
}

TEST(cfunction_bad_definitions) {
    static PyMethodDef no_function = {"nofunc", NULL, METH_VARARGS, NULL};
    static PyMethodDef bad_flags = {"badflags", return_none, 0x40, NULL};
    PyObject *f = PyCFunction_New(&no_function, NULL);
    PyObject *g = PyCFunction_New(&bad_flags, NULL);
    CHECK(f != NULL && g != NULL);
    CHECK_PTR(PyObject_CallObject(f, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyObject_CallObject(g, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "badflags() method: bad call flags");
    Py_DECREF(f);
    Py_DECREF(g);
}

TEST(cfunction_wrong_argument_counts) {
    static PyMethodDef one = {"one", return_none, METH_O, NULL};
    static PyMethodDef none = {"none", return_none, METH_NOARGS, NULL};
    static PyMethodDef var = {"var", return_none, METH_VARARGS, NULL};
    PyObject *f1 = PyCFunction_New(&one, NULL);
    PyObject *f0 = PyCFunction_New(&none, NULL);
    PyObject *fv = PyCFunction_New(&var, NULL);
    PyObject *two = Py_BuildValue("(ii)", 1, 2);
    PyObject *kw = Py_BuildValue("{s:i}", "x", 1);
    CHECK_PTR(PyObject_CallObject(f1, two), NULL);
    CHECK_ERROR(PyExc_TypeError, "one() takes exactly one argument (2 given)");
    CHECK_PTR(PyObject_CallObject(f1, NULL), NULL);
    CHECK_ERROR(PyExc_TypeError, "one() takes exactly one argument (0 given)");
    CHECK_PTR(PyObject_CallObject(f0, two), NULL);
    CHECK_ERROR(PyExc_TypeError, "none() takes no arguments (2 given)");
    CHECK_PTR(PyObject_Call(fv, two, kw), NULL);
    CHECK_ERROR(PyExc_TypeError, "var() takes no keyword arguments");
    Py_DECREF(f1);
    Py_DECREF(f0);
    Py_DECREF(fv);
    Py_DECREF(two);
    Py_DECREF(kw);
}

/* A C function that breaks the failure protocol gets SystemError. */
TEST(cfunction_breaking_the_protocol) {
    static PyMethodDef silent = {"silent", return_null_silently, METH_NOARGS, NULL};
    static PyMethodDef both = {"both", return_result_and_error, METH_NOARGS, NULL};
    PyObject *f = PyCFunction_New(&silent, NULL);
    PyObject *g = PyCFunction_New(&both, NULL);
    result_held = PyUnicode_FromString("result");
    CHECK_PTR(PyObject_CallObject(f, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "<built-in function silent> returned NULL without setting an error");
    CHECK_PTR(PyObject_CallObject(g, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "<built-in function both> returned a result with an error set");
    CHECK_INT(Py_REFCNT(result_held), 1);
    Py_DECREF(result_held);
    Py_DECREF(f);
    Py_DECREF(g);
}

TEST(object_call_bad_input) {
    static PyMethodDef var = {"var", return_none, METH_VARARGS, NULL};
    PyObject *f = PyCFunction_New(&var, NULL);
    PyObject *args = PyTuple_New(0);
    PyObject *list_like = PyDict_New();
    PyObject *five = PyLong_FromLong(5);
    CHECK_PTR(PyObject_Call(NULL, args, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyObject_Call(f, NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyObject_Call(f, list_like, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyObject_Call(f, args, args), NULL); /* kwargs not a dict */
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyObject_Call(five, args, NULL), NULL);
    CHECK_ERROR(PyExc_TypeError, "'int' object is not callable");
    PyObject *r = PyObject_Call(f, args, NULL);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    Py_DECREF(f);
    Py_DECREF(args);
    Py_DECREF(list_like);
    Py_DECREF(five);
}

TEST(call_object_bad_input) {
    static PyMethodDef var = {"var", return_none, METH_VARARGS, NULL};
    PyObject *f = PyCFunction_New(&var, NULL);
    PyObject *s = PyUnicode_FromString("not a tuple");
    CHECK_PTR(PyObject_CallObject(NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyObject_CallObject(f, s), NULL); /* CPython 3.7's check */
    CHECK_ERROR(PyExc_TypeError, "argument list must be a tuple");
    CHECK_PTR(PyObject_CallObject(s, NULL), NULL);
    CHECK_ERROR(PyExc_TypeError, "'str' object is not callable");
    Py_DECREF(f);
    Py_DECREF(s);
}

/* The call, new and init slots of the built-in types, called directly by
 * C code, refuse an argument list that is no tuple and keywords that are
 * no dict (SystemError where CPython would crash); NULL arguments mean (). */
TEST(slots_called_directly_check_their_arguments) {
    static PyMethodDef var = {"var", return_none, METH_VARARGS, NULL};
    PyObject *f = PyCFunction_New(&var, NULL);
    PyObject *five = PyLong_FromLong(5);
    PyObject *args = PyTuple_New(0);
    PyTypeObject *value_error = (PyTypeObject *)PyExc_ValueError;
    CHECK_PTR(Py_TYPE(f)->tp_call(f, five, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(Py_TYPE(f)->tp_call(f, args, five), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyObject *r = Py_TYPE(f)->tp_call(f, NULL, NULL);
    CHECK_PTR(r, Py_None);
    Py_DECREF(r);
    CHECK_PTR(PyType_Type.tp_call(PyExc_ValueError, five, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyType_Type.tp_call(PyExc_ValueError, args, five), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(value_error->tp_new(value_error, five, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyBaseObject_Type.tp_new(&PyBaseObject_Type, five, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyBaseObject_Type.tp_new(&PyBaseObject_Type, args, five), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyObject *e = value_error->tp_new(value_error, NULL, NULL);
    CHECK(e != NULL);
    CHECK_INT(value_error->tp_init(e, five, NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(value_error->tp_init(e, args, five), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_REPR(e, "ValueError()");
    Py_DECREF(e);
    Py_DECREF(args);
    Py_DECREF(five);
    Py_DECREF(f);
}

TEST(call_function_bad_input) {
    PyObject *five = PyLong_FromLong(5);
    CHECK_PTR(PyObject_CallFunction(NULL, "i", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, "null argument to internal routine");
    CHECK_PTR(PyObject_CallFunction(five, NULL), NULL);
    CHECK_ERROR(PyExc_TypeError, "'int' object is not callable");
    CHECK_PTR(PyObject_CallFunction(PyExc_ValueError, "w", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, "bad format char passed to Py_BuildValue");
    CHECK_PTR(PyObject_CallFunction(PyExc_ValueError, "O", (PyObject *)NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "NULL object passed to Py_BuildValue");
    Py_DECREF(five);
}

TEST(call_method_bad_input) {
    PyObject *five = PyLong_FromLong(5);
    CHECK_PTR(PyObject_CallMethod(NULL, "m", NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "null argument to internal routine");
    CHECK_PTR(PyObject_CallMethod(five, NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "null argument to internal routine");
    CHECK_PTR(PyObject_CallMethod(five, "nope", "i", 1), NULL);
    CHECK_ERROR(PyExc_AttributeError, "'int' object has no attribute 'nope'");
    CHECK_PTR(PyObject_CallMethod((PyObject *)&PyLong_Type, "nope", NULL), NULL);
    CHECK_ERROR(PyExc_AttributeError, "type object 'int' has no attribute 'nope'");
    Py_DECREF(five);
}

/* ---- Attributes, str, repr, truth, isinstance ------------------------------------ */

TEST(get_attr_string_bad_input) {
    PyObject *five = PyLong_FromLong(5);
    CHECK_PTR(PyObject_GetAttrString(NULL, "args"), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyObject_GetAttrString(five, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyObject_GetAttrString(five, "args"), NULL);
    CHECK_ERROR(PyExc_AttributeError, "'int' object has no attribute 'args'");
    Py_DECREF(five);
}

TEST(str_and_repr_of_null) {
    PyObject *s = PyObject_Str(NULL);
    PyObject *r = PyObject_Repr(NULL);
    CHECK_NO_ERROR();
    CHECK(s != NULL && r != NULL);
    CHECK_STR(PyUnicode_AsUTF8(s), "<NULL>");
    CHECK_STR(PyUnicode_AsUTF8(r), "<NULL>");
    Py_DECREF(s);
    Py_DECREF(r);
}

TEST(is_true_and_callable_check_of_null) {
    CHECK_INT(PyObject_IsTrue(NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyCallable_Check(NULL), 0);
    CHECK_NO_ERROR();
    CHECK_INT(PyObject_IsTrue(Py_None), 0);
    CHECK_INT(PyCallable_Check(Py_None), 0);
    CHECK_INT(PyCallable_Check(PyExc_ValueError), 1);
}

TEST(is_instance_bad_input) {
    PyObject *five = PyLong_FromLong(5);
    PyObject *bad = PyTuple_Pack(1, five);
    PyObject *first_matches = PyTuple_Pack(2, (PyObject *)&PyLong_Type, five);
    CHECK_INT(PyObject_IsInstance(NULL, (PyObject *)&PyLong_Type), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyObject_IsInstance(five, NULL), -1);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(PyObject_IsInstance(five, five), -1);
    CHECK_ERROR(PyExc_TypeError, "isinstance() arg 2 must be a type or tuple of types");
    CHECK_INT(PyObject_IsInstance(five, bad), -1);
    CHECK_ERROR(PyExc_TypeError, "isinstance() arg 2 must be a type or tuple of types");
    CHECK_INT(PyObject_IsInstance(five, first_matches), 1);
    CHECK_NO_ERROR();
    Py_DECREF(first_matches);
    Py_DECREF(bad);
    Py_DECREF(five);
}

/* ---- Memory, threads ------------------------------------------------------------- */

TEST(malloc_and_free_edge_cases) {
    void *p = PyObject_Malloc(0);
    CHECK(p != NULL);
    PyObject_Free(p);
    PyObject_Free(NULL);
    CHECK_NO_ERROR();
}

TEST(thread_ident_is_pthread_self) {
    CHECK(PyThread_get_thread_ident() == (unsigned long)pthread_self());
    CHECK_NO_ERROR();
}

/* ---- The error functions ------------------------------------------------------------ */

TEST(err_set_with_null_type) {
    PyObject *v = PyLong_FromLong(1);
    PyErr_SetString(NULL, "x");
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyErr_SetObject(NULL, v);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(Py_REFCNT(v), 1);
    PyErr_SetNone(NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    Py_DECREF(v);
}

TEST(err_set_with_non_exception_type) {
    PyObject *v = PyLong_FromLong(1);
    PyErr_SetObject((PyObject *)&PyDict_Type, v);
    CHECK_ERROR(PyExc_SystemError, "exception <class 'dict'> not a BaseException subclass");
    CHECK_INT(Py_REFCNT(v), 1);
    PyErr_SetString(Py_None, "x");
    CHECK_ERROR(PyExc_SystemError, "exception None not a BaseException subclass");
    PyErr_SetNone((PyObject *)&PyBaseObject_Type);
    CHECK_ERROR(PyExc_SystemError, "exception <class 'object'> not a BaseException subclass");
    Py_DECREF(v);
}

TEST(err_fetch_and_normalize_with_null_pointers) {
    PyObject *t = NULL, *v = NULL, *tb = NULL;
    PyErr_SetString(PyExc_ValueError, "lost");
    PyErr_Fetch(NULL, &v, &tb);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyErr_Fetch(&t, NULL, &tb);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyErr_Fetch(&t, &v, NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyErr_NormalizeException(NULL, &v, &tb);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyErr_NormalizeException(&t, NULL, &tb);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyErr_NormalizeException(&t, &v, NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(t, NULL);
    CHECK_PTR(v, NULL);
    CHECK_PTR(tb, NULL);
}

/* PyErr_Restore with a type that is no exception class releases the three
 * references and sets SystemError. */
TEST(err_restore_non_exception_type) {
    PyObject *five = PyLong_FromLong(5);
    PyObject *v = PyUnicode_FromString("value");
    Py_INCREF(five);
    Py_INCREF(v);
    PyErr_Restore(five, v, NULL);
    CHECK_ERROR(PyExc_SystemError, "exception 5 not a BaseException subclass");
    CHECK_INT(Py_REFCNT(five), 1);
    CHECK_INT(Py_REFCNT(v), 1);
    Py_INCREF(&PyLong_Type);
    Py_INCREF(v);
    PyErr_Restore((PyObject *)&PyLong_Type, v, NULL);
    CHECK_ERROR(PyExc_SystemError, "exception <class 'int'> not a BaseException subclass");
    CHECK_INT(Py_REFCNT(v), 1);
    Py_DECREF(five);
    Py_DECREF(v);
}

TEST(err_matches_with_null) {
    CHECK_INT(PyErr_GivenExceptionMatches(NULL, PyExc_Exception), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(PyExc_TypeError, NULL), 0);
    CHECK_INT(PyErr_GivenExceptionMatches(NULL, NULL), 0);
    CHECK_INT(PyErr_ExceptionMatches(NULL), 0);
    PyErr_SetString(PyExc_TypeError, "kept");
    CHECK_INT(PyErr_ExceptionMatches(NULL), 0);
    CHECK_ERROR(PyExc_TypeError, "kept");
}

TEST(err_new_exception_bad_input) {
    PyObject *five = PyLong_FromLong(5);
    PyObject *inst = PyObject_CallObject(PyExc_ValueError, NULL);
    CHECK_PTR(PyErr_NewException(NULL, NULL, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyErr_NewException("mod.E", five, NULL), NULL);
    CHECK_ERROR(PyExc_TypeError, "PyErr_NewException: base must be an exception class");
    CHECK_PTR(PyErr_NewException("mod.E", (PyObject *)&PyLong_Type, NULL), NULL);
    CHECK_ERROR(PyExc_TypeError, "PyErr_NewException: base must be an exception class");
    CHECK_PTR(PyErr_NewException("mod.E", inst, NULL), NULL);
    CHECK_ERROR(PyExc_TypeError, "PyErr_NewException: base must be an exception class");
    CHECK_PTR(PyErr_NewException("mod.E", NULL, five), NULL); /* dict not a dict */
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyObject *dict = PyDict_New();
    PyObject *e = PyErr_NewException("mod.E", NULL, dict);
    CHECK(e != NULL);
    CHECK_REPR(e, "<class 'mod.E'>");
    Py_DECREF(e);
    Py_DECREF(dict);
    Py_DECREF(inst);
    Py_DECREF(five);
}

TEST(err_format_bad_input) {
    PyObject *five = PyLong_FromLong(5);
    CHECK_PTR(PyErr_Format(NULL, "x %d", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(PyErr_Format(five, "x %d", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, "exception 5 not a BaseException subclass");
    CHECK_PTR(PyErr_Format(PyExc_ValueError, NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_INT(Py_REFCNT(five), 1);
    Py_DECREF(five);
}

/* ---- The variadic builders ---------------------------------------------------------- */

static PyObject *va_build(const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *r = Py_VaBuildValue(format, va);
    va_end(va);
    return r;
}

static PyObject *va_format(const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *r = PyUnicode_FromFormatV(format, va);
    va_end(va);
    return r;
}

TEST(build_value_bad_input) {
    CHECK_PTR(Py_BuildValue(NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(va_build(NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(Py_BuildValue("O", (PyObject *)NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "NULL object passed to Py_BuildValue");
    CHECK_PTR(Py_BuildValue("(iO)", 1, (PyObject *)NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "NULL object passed to Py_BuildValue");
    CHECK_PTR(Py_BuildValue("w", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, "bad format char passed to Py_BuildValue");
    CHECK_PTR(Py_BuildValue("(i", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, "unmatched paren in format");
    CHECK_PTR(Py_BuildValue("i)", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, "unmatched paren in format");
    CHECK_PTR(Py_BuildValue("{i}", 1), NULL);
    CHECK_ERROR(PyExc_SystemError, "Bad dict format");
}

/* A stolen ('N') reference is released when the build fails. */
TEST(build_value_releases_stolen_references_on_failure) {
    PyObject *o = PyUnicode_FromString("stolen");
    Py_INCREF(o);
    CHECK_PTR(Py_BuildValue("(NO)", o, (PyObject *)NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, "NULL object passed to Py_BuildValue");
    CHECK_INT(Py_REFCNT(o), 1);
    Py_INCREF(o);
    CHECK_PTR(Py_BuildValue("(Nw)", o), NULL);
    CHECK_ERROR(PyExc_SystemError, "bad format char passed to Py_BuildValue");
    CHECK_INT(Py_REFCNT(o), 1);
    Py_DECREF(o);
}

TEST(unicode_from_format_bad_input) {
    CHECK_PTR(PyUnicode_FromFormat(NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    CHECK_PTR(va_format(NULL), NULL);
    CHECK_ERROR(PyExc_SystemError, BAD_CALL);
    PyObject *s = PyUnicode_FromFormat("[%S|%R|%s|%V]", (PyObject *)NULL, (PyObject *)NULL,
                                       (const char *)NULL, (PyObject *)NULL, (const char *)NULL);
    CHECK(s != NULL);
    CHECK_STR(PyUnicode_AsUTF8(s), "[<NULL>|<NULL>|(null)|(null)]");
    Py_DECREF(s);
    s = PyUnicode_FromFormat("100%q %d", 5);
    CHECK(s != NULL);
    CHECK_STR(PyUnicode_AsUTF8(s), "100%q %d");
    Py_DECREF(s);
}

int main(void) {
    RUN(type_ready_null);
    RUN(refcount_functions_accept_null);
    RUN(type_is_subtype_of_null_or_non_type_is_0);
    RUN(generic_alloc_and_new_refuse_bad_types);
    RUN(generic_alloc_works_as_tp_alloc);
    RUN(generic_new_exception_has_empty_args);
    RUN(long_as_long_bad_input);
    RUN(number_constructors_take_any_value);
    RUN(float_as_double_bad_input);
    RUN(unicode_from_null_or_negative_size);
    RUN(unicode_from_invalid_utf8);
    RUN(unicode_as_utf8_bad_input);
    RUN(bytes_from_negative_size_or_null);
    RUN(bytes_accessors_bad_input);
    RUN(tuple_new_negative_size);
    RUN(huge_sizes_raise_memory_error);
    RUN(generic_alloc_of_items_with_a_small_basic_size);
    RUN(tuple_get_item_bad_input);
    RUN(tuple_set_item_steals_on_failure);
    RUN(tuple_size_bad_input);
    RUN(tuple_pack_bad_input);
    RUN(dict_set_item_bad_input);
    RUN(dict_set_item_string_bad_input);
    RUN(dict_get_item_string_bad_input);
    RUN(dict_size_bad_input);
    RUN(capsule_new_null_pointer);
    RUN(capsule_get_pointer_bad_input);
    RUN(cfunction_new_null);
    RUN(cfunction_bad_definitions);
    RUN(cfunction_wrong_argument_counts);
    RUN(cfunction_breaking_the_protocol);
    RUN(object_call_bad_input);
    RUN(call_object_bad_input);
    RUN(slots_called_directly_check_their_arguments);
    RUN(call_function_bad_input);
    RUN(call_method_bad_input);
    RUN(get_attr_string_bad_input);
    RUN(str_and_repr_of_null);
    RUN(is_true_and_callable_check_of_null);
    RUN(is_instance_bad_input);
    RUN(malloc_and_free_edge_cases);
    RUN(thread_ident_is_pthread_self);
    RUN(err_set_with_null_type);
    RUN(err_set_with_non_exception_type);
    RUN(err_fetch_and_normalize_with_null_pointers);
    RUN(err_restore_non_exception_type);
    RUN(err_matches_with_null);
    RUN(err_new_exception_bad_input);
    RUN(err_format_bad_input);
    RUN(build_value_bad_input);
    RUN(build_value_releases_stolen_references_on_failure);
    RUN(unicode_from_format_bad_input);
    return harness_summary("test_badinput");
}
