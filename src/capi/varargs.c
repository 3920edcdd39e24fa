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

/* Consumes the closing `end` of a container (nothing at the top level,
 * where `end` is NUL) and returns the container, or releases it and returns
 * NULL when building it `failed` or the paren does not match. */
static PyObject *finish_container(const char **p_format, char end, PyObject *container, int failed) {
    if (**p_format != end) {
        failed = 1;
        format_error("unmatched paren in format");
    } else if (end != '\0') {
        ++*p_format;
    }
    if (failed) {
        Py_XDECREF(container);
        return NULL;
    }
    return container;
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
    return finish_container(p_format, end, tuple, failed);
}

/* Builds a dict of `n` items (keys and values alternate); consumes the
 * closing '}'. Like build_tuple, every item is built even after a failure,
 * an odd count included ("Bad dict format"). */
static PyObject *build_dict(const char **p_format, va_list *p_va, Py_ssize_t n) {
    PyObject *dict = PyDict_New();
    int failed = dict == NULL;
    if (n % 2 != 0) {
        failed = 1;
        format_error("Bad dict format");
    }
    for (Py_ssize_t i = 0; i < n; i += 2) {
        PyObject *key = build_item(p_format, p_va);
        PyObject *value = i + 1 < n ? build_item(p_format, p_va) : NULL;
        if (!failed && (key == NULL || value == NULL || PyDict_SetItem(dict, key, value) < 0)) {
            failed = 1;
        }
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    return finish_container(p_format, '}', dict, failed);
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

/* Writes the UTF-8 encoding of code point `cp` (0 to 0x10FFFF) to `out`;
 * returns its length. */
static int utf8_encode(unsigned int cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A one-character str for a Unicode code point (PyUnicode_FromOrdinal). */
static PyObject *code_point_text(int cp) {
    char buf[4];
    if (cp < 0 || cp > 0x10FFFF) {
        PyErr_SetString(PyExc_ValueError, "chr() arg not in range(0x110000)");
        return NULL;
    }
    return PyUnicode_FromStringAndSize(buf, utf8_encode((unsigned int)cp, buf));
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
            /* As CPython: an unsigned int, not truncated to a short. */
            return PyLong_FromLong((long)va_arg(*p_va, unsigned int));
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

static void buffer_fill(text_buffer *b, char c, long count) {
    for (; count > 0; count--) {
        buffer_append(b, &c, 1);
    }
}

/* The length of the valid UTF-8 sequence at s[0..n), or 0 when s starts
 * with an invalid or cut sequence; *bad is then the length of its maximal
 * valid prefix (at least 1), which one U+FFFD replaces. */
static size_t utf8_sequence(const unsigned char *s, size_t n, size_t *bad) {
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (i >= n || s[i] < min || s[i] > max) {
            *bad = i;
            return 0;
        }
    }
    return need;
}

/* Appends n bytes of C text decoded as UTF-8 with errors="replace". */
static void append_utf8_lossy(text_buffer *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t bad = 0, len = utf8_sequence(u + i, n - i, &bad);
        if (len > 0) {
            buffer_append(b, s + i, len);
            i += len;
        } else {
            buffer_append(b, "\xEF\xBF\xBD", 3);
            i += bad;
        }
    }
}

/* Appends n bytes of text decoded as Latin-1. */
static void append_latin1(text_buffer *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char buf[4];
        buffer_append(b, buf, (size_t)utf8_encode((unsigned char)s[i], buf));
    }
}

/* Appends valid UTF-8 text, cut to `precision` characters (none when
 * negative) and padded on the left with spaces to `width` characters. */
static void append_padded(text_buffer *b, const char *s, long width, long precision) {
    size_t n = 0;
    long chars = 0;
    while (s[n] != '\0' && (precision < 0 || chars < precision)) {
        n++;
        while (((unsigned char)s[n] & 0xC0) == 0x80) {
            n++;
        }
        chars++;
    }
    buffer_fill(b, ' ', width - chars);
    buffer_append(b, s, n);
}

/* Appends C text (UTF-8, errors="replace"): up to `precision` bytes of it,
 * padded to `width` characters. */
static void append_cstr(text_buffer *b, const char *s, long width, long precision) {
    size_t n = 0;
    if (s == NULL) {
        s = "(null)";
    }
    while (s[n] != '\0' && (precision < 0 || (long)n < precision)) {
        n++;
    }
    text_buffer decoded = {NULL, 0, 0, 0};
    append_utf8_lossy(&decoded, s, n);
    buffer_append(&decoded, "", 0);
    if (decoded.failed) {
        b->failed = 1;
    } else {
        append_padded(b, decoded.data, width, -1);
    }
    free(decoded.data);
}

/* Appends str(o) or repr(o); a str object as it is. */
static void append_object(text_buffer *b, PyObject *o, int use_repr, long width, long precision) {
    PyObject *s = use_repr ? PyObject_Repr(o) : PyObject_Str(o);
    if (s == NULL) {
        b->failed = 1;
        return;
    }
    append_padded(b, PyUnicode_AsUTF8(s), width, precision);
    Py_DECREF(s);
}

/* Appends the digits of an integer conversion with CPython's padding:
 * zeros up to `precision` digits, then `width` with spaces (or zeros). */
static void append_number(text_buffer *b, const char *digits, int zeropad, long width, long precision) {
    long len = (long)strlen(digits);
    if (precision < len) {
        precision = len;
    }
    buffer_fill(b, zeropad ? '0' : ' ', width - precision);
    buffer_fill(b, '0', precision - len);
    buffer_append(b, digits, (size_t)len);
}

/* Reads a decimal number at *p; -1 when there is none. */
static long parse_decimal(const char **p) {
    long v = -1;
    while (**p >= '0' && **p <= '9') {
        v = (v < 0 ? 0 : v * 10) + (**p - '0');
        if (v > 1000000) {
            v = 1000000;
        }
        ++*p;
    }
    return v;
}

/* Formats one conversion starting at the '%' at `f`, as CPython 3.7's
 * unicode_fromformat_arg; returns the position after it, or NULL with an
 * exception. */
static const char *format_arg(text_buffer *b, const char *f, va_list *va) {
    const char *p = f++;
    int zeropad = 0, longs = 0, size_t_mod = 0;
    char digits[64];
    if (*f == '0') {
        zeropad = 1;
        f++;
    }
    long width = parse_decimal(&f);
    long precision = -1;
    if (*f == '.') {
        f++;
        precision = parse_decimal(&f);
        if (*f == '%') {
            f--; /* "%.3%s": the conversion is the '3', an unknown one */
        }
    }
    if (*f == '\0') {
        f--; /* "%.123": the conversion is the '3' */
    }
    /* l, ll and z apply to d, i and u (and, beyond CPython, to x). */
    if (*f == 'l' && f[1] != '\0' && strchr("diux", f[1]) != NULL) {
        longs = 1;
        f++;
    } else if (*f == 'l' && f[1] == 'l' && f[2] != '\0' && strchr("diux", f[2]) != NULL) {
        longs = 2;
        f += 2;
    } else if (*f == 'z' && f[1] != '\0' && strchr("diux", f[1]) != NULL) {
        size_t_mod = 1;
        f++;
    }
    switch (*f) {
    case 'c': {
        int cp = va_arg(*va, int);
        char buf[4];
        if (cp < 0 || cp > 0x10FFFF) {
            PyErr_SetString(PyExc_OverflowError, "character argument not in range(0x110000)");
            return NULL;
        }
        buffer_append(b, buf, (size_t)utf8_encode((unsigned int)cp, buf));
        break;
    }
    case 'd': case 'i':
        if (size_t_mod) {
            snprintf(digits, sizeof digits, "%zd", va_arg(*va, Py_ssize_t));
        } else if (longs == 2) {
            snprintf(digits, sizeof digits, "%lld", va_arg(*va, long long));
        } else if (longs == 1) {
            snprintf(digits, sizeof digits, "%ld", va_arg(*va, long));
        } else {
            snprintf(digits, sizeof digits, "%d", va_arg(*va, int));
        }
        append_number(b, digits, zeropad, width, precision);
        break;
    case 'u': case 'x': {
        int hex = *f == 'x';
        if (size_t_mod) {
            snprintf(digits, sizeof digits, hex ? "%zx" : "%zu", va_arg(*va, size_t));
        } else if (longs == 2) {
            snprintf(digits, sizeof digits, hex ? "%llx" : "%llu", va_arg(*va, unsigned long long));
        } else if (longs == 1) {
            snprintf(digits, sizeof digits, hex ? "%lx" : "%lu", va_arg(*va, unsigned long));
        } else {
            snprintf(digits, sizeof digits, hex ? "%x" : "%u", va_arg(*va, unsigned int));
        }
        append_number(b, digits, zeropad, width, precision);
        break;
    }
    case 'p': {
        int n = snprintf(digits + 2, sizeof digits - 2, "%p", va_arg(*va, void *));
        /* %p is ill-defined: make sure the text starts with 0x. */
        if (digits[3] == 'X' || digits[3] == 'x') {
            digits[3] = 'x';
            buffer_append(b, digits + 2, (size_t)n);
        } else {
            digits[0] = '0';
            digits[1] = 'x';
            buffer_append(b, digits, (size_t)n + 2);
        }
        break;
    }
    case 's':
        append_cstr(b, va_arg(*va, const char *), width, precision);
        break;
    case 'U': case 'S':
        append_object(b, va_arg(*va, PyObject *), 0, width, precision);
        break;
    case 'R':
        append_object(b, va_arg(*va, PyObject *), 1, width, precision);
        break;
    case 'V': {
        PyObject *o = va_arg(*va, PyObject *);
        const char *s = va_arg(*va, const char *);
        if (o != NULL) {
            append_object(b, o, 0, width, precision);
        } else {
            append_cstr(b, s, width, precision);
        }
        break;
    }
    case '%':
        buffer_append(b, "%", 1);
        break;
    default:
        /* An unknown conversion: the rest of the format is copied as it is
         * (the arguments cannot be skipped). */
        append_latin1(b, p, strlen(p));
        return p + strlen(p);
    }
    return f + 1;
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
    const char *f = format;
    while (*f != '\0' && !b.failed) {
        if (*f == '%') {
            f = format_arg(&b, f, &lva);
            if (f == NULL) {
                b.failed = 1;
                break;
            }
            continue;
        }
        const char *start = f;
        for (; *f != '\0' && *f != '%'; f++) {
            if ((unsigned char)*f > 127) {
                PyErr_Format(PyExc_ValueError,
                             "PyUnicode_FromFormatV() expects an ASCII-encoded format "
                             "string, got a non-ASCII byte: 0x%02x",
                             (unsigned char)*f);
                b.failed = 1;
                break;
            }
        }
        buffer_append(&b, start, (size_t)(f - start));
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

/* Calls callable through `call` (PyObject_Call or PyStackless_Call_Main)
 * with the arguments built from format. */
static PyObject *call_with_format(PyObject *(*call)(PyObject *, PyObject *, PyObject *),
                                  PyObject *callable, const char *format, va_list va) {
    PyObject *args = build_args(format, va);
    if (args == NULL) {
        return NULL;
    }
    PyObject *result = call(callable, args, NULL);
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
    PyObject *result = call_with_format(PyObject_Call, callable, format, va);
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
    PyObject *result = call_with_format(PyObject_Call, callable, format, va);
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
    PyObject *result = call_with_format(PyStackless_Call_Main, func, format, va);
    va_end(va);
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
    PyObject *result = call_with_format(PyStackless_Call_Main, func, format, va);
    va_end(va);
    Py_DECREF(func);
    return result;
}
