/*
 * The C-variadic functions of the API. Stable Rust cannot define C-variadic
 * functions, so they live here, compiled into the same library by build.rs,
 * and build their results through the exported Rust constructors.
 * Every definition marked SLP_EXPORT is exported from the shared library.
 */
#include "stackless.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLP_EXPORT __attribute__((visibility("default")))

/* ---- Py_BuildValue ---------------------------------------------------- */

static PyObject *build_item(const char **p_format, va_list *p_va);

static int format_error(const char *message) {
    if (PyErr_Occurred() == NULL) {
        PyErr_SetString(PyExc_SystemError, message);
    }
    return -1;
}

/* The number of items before `end` at the current nesting level, or -1. */
static Py_ssize_t count_items(const char *format, char end) {
    Py_ssize_t count = 0;
    int level = 0;
    for (; *format != '\0'; format++) {
        char c = *format;
        if (level == 0 && c == end) {
            return count;
        }
        switch (c) {
        case '(': case '{':
            if (level == 0) {
                count++;
            }
            level++;
            break;
        case ')': case '}':
            level--;
            if (level < 0) {
                format_error("unmatched paren in format");
                return -1;
            }
            break;
        case '#': case '&': case ',': case ':': case ' ': case '\t':
            break;
        default:
            if (level == 0) {
                count++;
            }
        }
    }
    if (level != 0 || end != '\0') {
        format_error("unmatched paren in format");
        return -1;
    }
    return count;
}

/* Builds `n` items into a new tuple; consumes the closing `end`. Every item
 * is built even after a failure so that stolen ('N') references are
 * released and the va_list stays in step. */
static PyObject *build_tuple(const char **p_format, va_list *p_va, char end, Py_ssize_t n) {
    PyObject *tuple = PyTuple_New(n);
    int failed = tuple == NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = build_item(p_format, p_va);
        if (item == NULL) {
            failed = 1;
        }
        if (tuple != NULL) {
            PyTuple_SetItem(tuple, i, item);
        } else {
            Py_XDECREF(item);
        }
    }
    if (**p_format != end) {
        failed = 1;
        format_error("unmatched paren in format");
    } else if (end != '\0') {
        ++*p_format;
    }
    if (failed) {
        Py_XDECREF(tuple);
        return NULL;
    }
    return tuple;
}

static PyObject *build_dict(const char **p_format, va_list *p_va, Py_ssize_t n) {
    PyObject *dict = PyDict_New();
    int failed = dict == NULL || n % 2 != 0;
    for (Py_ssize_t i = 0; i + 1 < n + 1 - (n % 2) && i < n; i += 2) {
        PyObject *key = build_item(p_format, p_va);
        PyObject *value = build_item(p_format, p_va);
        if (key == NULL || value == NULL || dict == NULL || PyDict_SetItem(dict, key, value) < 0) {
            failed = 1;
        }
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    if (n % 2 != 0) {
        format_error("Bad dict format");
    }
    if (**p_format != '}') {
        failed = 1;
        format_error("unmatched paren in format");
    } else {
        ++*p_format;
    }
    if (failed) {
        Py_XDECREF(dict);
        return NULL;
    }
    return dict;
}

static PyObject *build_text(const char **p_format, va_list *p_va, int as_bytes) {
    const char *s = va_arg(*p_va, const char *);
    Py_ssize_t n = -1;
    if (**p_format == '#') {
        ++*p_format;
        n = va_arg(*p_va, Py_ssize_t);
    }
    if (s == NULL) {
        Py_RETURN_NONE;
    }
    if (n < 0) {
        n = (Py_ssize_t)strlen(s);
    }
    return as_bytes ? PyBytes_FromStringAndSize(s, n) : PyUnicode_FromStringAndSize(s, n);
}

/* A one-character str for a Unicode code point (UTF-8 encoded). */
static PyObject *code_point_text(int cp) {
    unsigned char buf[4];
    Py_ssize_t n;
    if (cp < 0 || cp > 0x10FFFF) {
        PyErr_SetString(PyExc_OverflowError, "%c arg not in range(0x110000)");
        return NULL;
    } else if (cp < 0x80) {
        buf[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        buf[0] = (unsigned char)(0xC0 | (cp >> 6));
        buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        buf[0] = (unsigned char)(0xE0 | (cp >> 12));
        buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        buf[0] = (unsigned char)(0xF0 | (cp >> 18));
        buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return PyUnicode_FromStringAndSize((const char *)buf, n);
}

static PyObject *build_item(const char **p_format, va_list *p_va) {
    for (;;) {
        char c = *(*p_format)++;
        switch (c) {
        case '(': {
            Py_ssize_t n = count_items(*p_format, ')');
            return n < 0 ? NULL : build_tuple(p_format, p_va, ')', n);
        }
        case '{': {
            Py_ssize_t n = count_items(*p_format, '}');
            return n < 0 ? NULL : build_dict(p_format, p_va, n);
        }
        case 'b': case 'B': case 'h': case 'i':
            return PyLong_FromLong((long)va_arg(*p_va, int));
        case 'H':
            return PyLong_FromLong((long)(unsigned short)va_arg(*p_va, int));
        case 'I':
            return PyLong_FromUnsignedLong((unsigned long)va_arg(*p_va, unsigned int));
        case 'n':
            return PyLong_FromSsize_t(va_arg(*p_va, Py_ssize_t));
        case 'l':
            return PyLong_FromLong(va_arg(*p_va, long));
        case 'k':
            return PyLong_FromUnsignedLong(va_arg(*p_va, unsigned long));
        case 'L':
            return PyLong_FromLongLong(va_arg(*p_va, long long));
        case 'K':
            return PyLong_FromUnsignedLongLong(va_arg(*p_va, unsigned long long));
        case 'd': case 'f':
            return PyFloat_FromDouble(va_arg(*p_va, double));
        case 'c': {
            char ch = (char)va_arg(*p_va, int);
            return PyBytes_FromStringAndSize(&ch, 1);
        }
        case 'C': {
            int ch = va_arg(*p_va, int);
            return code_point_text(ch);
        }
        case 's': case 'z': case 'U':
            return build_text(p_format, p_va, 0);
        case 'y':
            return build_text(p_format, p_va, 1);
        case 'O': case 'S': case 'N': {
            PyObject *o = va_arg(*p_va, PyObject *);
            if (o == NULL) {
                format_error("NULL object passed to Py_BuildValue");
                return NULL;
            }
            if (c != 'N') {
                Py_INCREF(o);
            }
            return o;
        }
        case ':': case ',': case ' ': case '\t':
            break;
        default:
            format_error("bad format char passed to Py_BuildValue");
            return NULL;
        }
    }
}

SLP_EXPORT PyObject *Py_VaBuildValue(const char *format, va_list va) {
    if (format == NULL) {
        PyErr_BadInternalCall();
        return NULL;
    }
    Py_ssize_t n = count_items(format, '\0');
    if (n < 0) {
        return NULL;
    }
    if (n == 0) {
        Py_RETURN_NONE;
    }
    va_list lva;
    va_copy(lva, va);
    const char *f = format;
    PyObject *result;
    if (n == 1) {
        result = build_item(&f, &lva);
    } else {
        result = build_tuple(&f, &lva, '\0', n);
    }
    va_end(lva);
    return result;
}

SLP_EXPORT PyObject *Py_BuildValue(const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *result = Py_VaBuildValue(format, va);
    va_end(va);
    return result;
}

SLP_EXPORT PyObject *PyTuple_Pack(Py_ssize_t n, ...) {
    PyObject *tuple = PyTuple_New(n);
    if (tuple == NULL) {
        return NULL;
    }
    va_list va;
    va_start(va, n);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = va_arg(va, PyObject *);
        if (o == NULL) {
            va_end(va);
            Py_DECREF(tuple);
            PyErr_BadInternalCall();
            return NULL;
        }
        Py_INCREF(o);
        PyTuple_SetItem(tuple, i, o);
    }
    va_end(va);
    return tuple;
}

/* ---- PyUnicode_FromFormat --------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} text_buffer;

static void buffer_append(text_buffer *b, const char *s, size_t n) {
    if (b->failed) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *data = (char *)realloc(b->data, cap);
        if (data == NULL) {
            b->failed = 1;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Appends up to `precision` bytes (all if negative) of `s`. */
static void append_text(text_buffer *b, const char *s, long precision) {
    size_t n = strlen(s);
    if (precision >= 0 && (size_t)precision < n) {
        n = (size_t)precision;
    }
    buffer_append(b, s, n);
}

/* Appends str(o) or repr(o). */
static void append_object(text_buffer *b, PyObject *o, int use_repr, long precision) {
    PyObject *s = use_repr ? PyObject_Repr(o) : PyObject_Str(o);
    if (s == NULL) {
        b->failed = 1;
        return;
    }
    append_text(b, PyUnicode_AsUTF8(s), precision);
    Py_DECREF(s);
}

SLP_EXPORT PyObject *PyUnicode_FromFormatV(const char *format, va_list va) {
    if (format == NULL) {
        PyErr_BadInternalCall();
        return NULL;
    }
    text_buffer b = {NULL, 0, 0, 0};
    va_list lva;
    va_copy(lva, va);
    buffer_append(&b, "", 0);
    for (const char *f = format; *f != '\0' && !b.failed; f++) {
        if (*f != '%') {
            const char *next = strchr(f, '%');
            size_t n = next ? (size_t)(next - f) : strlen(f);
            buffer_append(&b, f, n);
            f += n - 1;
            continue;
        }
        const char *spec_start = f++;
        while (*f == '-' || *f == '0') {
            f++;
        }
        while (*f >= '0' && *f <= '9') {
            f++;
        }
        long precision = -1;
        if (*f == '.') {
            precision = strtol(f + 1, (char **)&f, 10);
        }
        int longs = 0, size_t_mod = 0;
        while (*f == 'l') {
            longs++;
            f++;
        }
        if (*f == 'z') {
            size_t_mod = 1;
            f++;
        }
        char spec[32];
        size_t spec_len = (size_t)(f - spec_start);
        char out[64];
        int n = 0;
        if (spec_len > sizeof spec - 2) {
            b.failed = 1;
            PyErr_SetString(PyExc_SystemError, "format specifier too long");
            break;
        }
        memcpy(spec, spec_start, spec_len);
        spec[spec_len] = *f;
        spec[spec_len + 1] = '\0';
        switch (*f) {
        case '%':
            buffer_append(&b, "%", 1);
            break;
        case 'c': {
            char ch = (char)va_arg(lva, int);
            buffer_append(&b, &ch, 1);
            break;
        }
        case 'd': case 'i':
            if (size_t_mod) {
                n = snprintf(out, sizeof out, spec, va_arg(lva, Py_ssize_t));
            } else if (longs == 2) {
                n = snprintf(out, sizeof out, spec, va_arg(lva, long long));
            } else if (longs == 1) {
                n = snprintf(out, sizeof out, spec, va_arg(lva, long));
            } else {
                n = snprintf(out, sizeof out, spec, va_arg(lva, int));
            }
            buffer_append(&b, out, (size_t)n);
            break;
        case 'u': case 'x':
            if (size_t_mod) {
                n = snprintf(out, sizeof out, spec, va_arg(lva, size_t));
            } else if (longs == 2) {
                n = snprintf(out, sizeof out, spec, va_arg(lva, unsigned long long));
            } else if (longs == 1) {
                n = snprintf(out, sizeof out, spec, va_arg(lva, unsigned long));
            } else {
                n = snprintf(out, sizeof out, spec, va_arg(lva, unsigned int));
            }
            buffer_append(&b, out, (size_t)n);
            break;
        case 'p':
            n = snprintf(out, sizeof out, "%p", va_arg(lva, void *));
            buffer_append(&b, out, (size_t)n);
            break;
        case 's': {
            const char *s = va_arg(lva, const char *);
            append_text(&b, s ? s : "(null)", precision);
            break;
        }
        case 'U':
            append_object(&b, va_arg(lva, PyObject *), 0, precision);
            break;
        case 'S':
            append_object(&b, va_arg(lva, PyObject *), 0, precision);
            break;
        case 'R':
            append_object(&b, va_arg(lva, PyObject *), 1, precision);
            break;
        case 'V': {
            PyObject *o = va_arg(lva, PyObject *);
            const char *s = va_arg(lva, const char *);
            if (o != NULL) {
                append_object(&b, o, 0, precision);
            } else {
                append_text(&b, s ? s : "(null)", precision);
            }
            break;
        }
        default:
            /* Unknown specifier: copy the rest of the format verbatim. */
            buffer_append(&b, spec_start, strlen(spec_start));
            f = spec_start + strlen(spec_start) - 1;
            break;
        }
    }
    va_end(lva);
    PyObject *result = NULL;
    if (!b.failed) {
        result = PyUnicode_FromStringAndSize(b.data, (Py_ssize_t)b.len);
    } else if (PyErr_Occurred() == NULL) {
        PyErr_NoMemory();
    }
    free(b.data);
    return result;
}

SLP_EXPORT PyObject *PyUnicode_FromFormat(const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *result = PyUnicode_FromFormatV(format, va);
    va_end(va);
    return result;
}

SLP_EXPORT PyObject *PyErr_Format(PyObject *exc, const char *format, ...) {
    va_list va;
    va_start(va, format);
    PyObject *message = PyUnicode_FromFormatV(format, va);
    va_end(va);
    if (message != NULL) {
        PyErr_SetObject(exc, message);
        Py_DECREF(message);
    }
    return NULL;
}

/* ---- Calls with built arguments ----------------------------------------- */

/* The argument tuple for a format: () when empty, a 1-tuple for a
 * non-tuple value. */
static PyObject *build_args(const char *format, va_list va) {
    if (format == NULL || *format == '\0') {
        return PyTuple_New(0);
    }
    PyObject *args = Py_VaBuildValue(format, va);
    if (args == NULL || PyTuple_Check(args)) {
        return args;
    }
    PyObject *tuple = PyTuple_Pack(1, args);
    Py_DECREF(args);
    return tuple;
}

static PyObject *call_with_format(PyObject *callable, const char *format, va_list va) {
    PyObject *args = build_args(format, va);
    if (args == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Call(callable, args, NULL);
    Py_DECREF(args);
    return result;
}

SLP_EXPORT PyObject *PyObject_CallFunction(PyObject *callable, const char *format, ...) {
    if (callable == NULL) {
        if (PyErr_Occurred() == NULL) {
            PyErr_SetString(PyExc_SystemError, "null argument to internal routine");
        }
        return NULL;
    }
    va_list va;
    va_start(va, format);
    PyObject *result = call_with_format(callable, format, va);
    va_end(va);
    return result;
}

SLP_EXPORT PyObject *PyObject_CallMethod(PyObject *o, const char *name, const char *format, ...) {
    if (o == NULL || name == NULL) {
        if (PyErr_Occurred() == NULL) {
            PyErr_SetString(PyExc_SystemError, "null argument to internal routine");
        }
        return NULL;
    }
    PyObject *callable = PyObject_GetAttrString(o, name);
    if (callable == NULL) {
        return NULL;
    }
    va_list va;
    va_start(va, format);
    PyObject *result = call_with_format(callable, format, va);
    va_end(va);
    Py_DECREF(callable);
    return result;
}

/* ---- The interface functions ------------------------------------------- */

SLP_EXPORT PyObject *PyStackless_CallMethod_Main(PyObject *o, const char *name, const char *format, ...) {
    if (o == NULL) {
        if (PyErr_Occurred() == NULL) {
            PyErr_SetString(PyExc_SystemError, "null argument to internal routine");
        }
        return NULL;
    }
    PyObject *func;
    if (name != NULL) {
        func = PyObject_GetAttrString(o, name);
        if (func == NULL) {
            PyErr_SetString(PyExc_AttributeError, name);
            return NULL;
        }
    } else {
        Py_INCREF(o);
        func = o;
    }
    if (!PyCallable_Check(func)) {
        Py_DECREF(func);
        PyErr_SetString(PyExc_TypeError, "call of non-callable attribute");
        return NULL;
    }
    va_list va;
    va_start(va, format);
    PyObject *args = build_args(format, va);
    va_end(va);
    PyObject *result = NULL;
    if (args != NULL) {
        result = PyStackless_Call_Main(func, args, NULL);
        Py_DECREF(args);
    }
    Py_DECREF(func);
    return result;
}

SLP_EXPORT PyObject *PyStackless_CallCMethod_Main(PyMethodDef *meth, PyObject *self, const char *format, ...) {
    PyObject *func = PyCFunction_New(meth, self);
    if (func == NULL) {
        return NULL;
    }
    va_list va;
    va_start(va, format);
    PyObject *args = build_args(format, va);
    va_end(va);
    PyObject *result = NULL;
    if (args != NULL) {
        result = PyStackless_Call_Main(func, args, NULL);
        Py_DECREF(args);
    }
    Py_DECREF(func);
    return result;
}
