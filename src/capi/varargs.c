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

/* A build in progress. One pass over the format (count_format) finds the
 * item count of every container before anything is built: counts[k] is
 * that of the k-th container in the order of the opening brackets, the
 * order in which the build meets them; so the build takes time linear in
 * the format, however deep it nests. Containers nest through
 * Py_EnterRecursiveCall: a format nested too deeply raises RecursionError.
 * After a failure the rest of the format is skipped without recursion
 * (skip_container), reading the arguments so that stolen ('N') references
 * are released. */
typedef struct {
    const char *format; /* the next format character */
    va_list *va;
    const Py_ssize_t *counts;
    Py_ssize_t next; /* the index in counts of the next container */
    int lost;        /* a bad format character was met: where the arguments
                      * after it are is unknown, so none is read any more */
} build_state;

/* The end of the RecursionError of a format nested too deeply. */
#define BUILD_RECURSION " in Py_BuildValue"

/* The containers of a format with at most this many are counted without
 * malloc. */
#define SMALL_FORMAT 16

static PyObject *build_item(build_state *st);

static int format_error(const char *message) {
    if (PyErr_Occurred() == NULL) {
        PyErr_SetString(PyExc_SystemError, message);
    }
    return -1;
}

/* The number of containers (opening brackets) of a format. */
static Py_ssize_t count_containers(const char *format) {
    Py_ssize_t n = 0;
    for (; *format != '\0'; format++) {
        n += *format == '(' || *format == '{';
    }
    return n;
}

/* Counts the top-level items of a format (returned) and those of each of
 * its containers (into counts), in one pass; `open` and `kinds` hold the
 * containers being counted and their brackets (room for one per
 * container). -1 with SystemError("unmatched paren in format") when a
 * bracket has no match. */
static Py_ssize_t count_format(const char *format, Py_ssize_t *counts, Py_ssize_t *open, char *kinds) {
    Py_ssize_t top = 0, depth = 0, next = 0;
    for (; *format != '\0'; format++) {
        char c = *format;
        switch (c) {
        case ')': case '}':
            if (depth == 0 || kinds[open[depth - 1]] != (c == ')' ? '(' : '{')) {
                return format_error("unmatched paren in format");
            }
            depth--;
            continue;
        case '#': case '&': case ',': case ':': case ' ': case '\t':
            continue;
        }
        /* An item of the innermost open container, or of the top level. */
        if (depth == 0) {
            top++;
        } else {
            counts[open[depth - 1]]++;
        }
        if (c == '(' || c == '{') {
            counts[next] = 0;
            kinds[next] = c;
            open[depth++] = next++;
        }
    }
    if (depth != 0) {
        return format_error("unmatched paren in format");
    }
    return top;
}

/* Reads the arguments of format character c (just read) without building
 * anything, as build_item would read them; a stolen ('N') reference is
 * released. After an unknown character no argument is read any more. */
static void skip_argument(build_state *st, char c) {
    if (st->lost) {
        return;
    }
    switch (c) {
    case 'b': case 'B': case 'h': case 'i': case 'c': case 'C':
        (void)va_arg(*st->va, int);
        break;
    case 'H': case 'I':
        (void)va_arg(*st->va, unsigned int);
        break;
    case 'n':
        (void)va_arg(*st->va, Py_ssize_t);
        break;
    case 'l':
        (void)va_arg(*st->va, long);
        break;
    case 'k':
        (void)va_arg(*st->va, unsigned long);
        break;
    case 'L':
        (void)va_arg(*st->va, long long);
        break;
    case 'K':
        (void)va_arg(*st->va, unsigned long long);
        break;
    case 'd': case 'f':
        (void)va_arg(*st->va, double);
        break;
    case 's': case 'z': case 'U': case 'y':
        (void)va_arg(*st->va, const char *);
        if (*st->format == '#') {
            st->format++;
            (void)va_arg(*st->va, Py_ssize_t);
        }
        break;
    case 'O': case 'S':
        (void)va_arg(*st->va, PyObject *);
        break;
    case 'N':
        Py_XDECREF(va_arg(*st->va, PyObject *));
        break;
    case ':': case ',': case ' ': case '\t':
        break;
    default:
        st->lost = 1;
    }
}

/* Skips the rest of a container whose opening bracket was read, up to its
 * closing bracket (the end of the format at the top level), reading the
 * arguments of its items, nested ones included, as skip_argument does: in
 * one pass and constant stack (count_format checked the brackets). */
static void skip_container(build_state *st) {
    Py_ssize_t depth = 1;
    while (depth > 0 && *st->format != '\0') {
        char c = *st->format++;
        if (c == '(' || c == '{') {
            depth++;
            st->next++;
        } else if (c == ')' || c == '}') {
            depth--;
        } else {
            skip_argument(st, c);
        }
    }
}

/* Reads the closing `end` of a container whose items were built (nothing
 * at the top level, where `end` is NUL) and returns the container. Anything
 * else before the bracket (a separator) is refused as CPython refuses it:
 * the container is released, the rest skipped, and NULL returned with
 * SystemError("unmatched paren in format"). */
static PyObject *finish_container(build_state *st, char end, PyObject *container) {
    if (*st->format == end) {
        if (end != '\0') {
            st->format++;
        }
        return container;
    }
    format_error("unmatched paren in format");
    Py_DECREF(container);
    skip_container(st);
    return NULL;
}

/* Builds a tuple of the n items that follow, then reads its closing `end`. */
static PyObject *build_tuple(build_state *st, char end, Py_ssize_t n) {
    PyObject *tuple = PyTuple_New(n);
    if (tuple == NULL) {
        skip_container(st);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = build_item(st);
        if (item == NULL) {
            Py_DECREF(tuple);
            skip_container(st);
            return NULL;
        }
        PyTuple_SetItem(tuple, i, item);
    }
    return finish_container(st, end, tuple);
}

/* Builds a dict of the n items that follow (keys and values alternate; an
 * odd count is SystemError("Bad dict format")), then reads its '}'. */
static PyObject *build_dict(build_state *st, Py_ssize_t n) {
    PyObject *dict = n % 2 == 0 ? PyDict_New() : NULL;
    if (dict == NULL) {
        format_error("Bad dict format");
        skip_container(st);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i += 2) {
        PyObject *key = build_item(st);
        PyObject *value = key == NULL ? NULL : build_item(st);
        int failed = value == NULL || PyDict_SetItem(dict, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (failed) {
            Py_DECREF(dict);
            skip_container(st);
            return NULL;
        }
    }
    return finish_container(st, '}', dict);
}

static PyObject *build_text(build_state *st, int as_bytes) {
    const char *s = va_arg(*st->va, const char *);
    Py_ssize_t n = -1;
    if (*st->format == '#') {
        st->format++;
        n = va_arg(*st->va, Py_ssize_t);
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

static PyObject *build_item(build_state *st) {
    for (;;) {
        char c = *st->format++;
        switch (c) {
        case '(': case '{': {
            Py_ssize_t n = st->counts[st->next++];
            if (Py_EnterRecursiveCall(BUILD_RECURSION) < 0) {
                skip_container(st);
                return NULL;
            }
            PyObject *container = c == '(' ? build_tuple(st, ')', n) : build_dict(st, n);
            Py_LeaveRecursiveCall();
            return container;
        }
        case 'b': case 'B': case 'h': case 'i':
            return PyLong_FromLong((long)va_arg(*st->va, int));
        case 'H':
            /* As CPython: an unsigned int, not truncated to a short. */
            return PyLong_FromLong((long)va_arg(*st->va, unsigned int));
        case 'I':
            return PyLong_FromUnsignedLong((unsigned long)va_arg(*st->va, unsigned int));
        case 'n':
            return PyLong_FromSsize_t(va_arg(*st->va, Py_ssize_t));
        case 'l':
            return PyLong_FromLong(va_arg(*st->va, long));
        case 'k':
            return PyLong_FromUnsignedLong(va_arg(*st->va, unsigned long));
        case 'L':
            return PyLong_FromLongLong(va_arg(*st->va, long long));
        case 'K':
            return PyLong_FromUnsignedLongLong(va_arg(*st->va, unsigned long long));
        case 'd': case 'f':
            return PyFloat_FromDouble(va_arg(*st->va, double));
        case 'c': {
            char ch = (char)va_arg(*st->va, int);
            return PyBytes_FromStringAndSize(&ch, 1);
        }
        case 'C': {
            int ch = va_arg(*st->va, int);
            return code_point_text(ch);
        }
        case 's': case 'z': case 'U':
            return build_text(st, 0);
        case 'y':
            return build_text(st, 1);
        case 'O': case 'S': case 'N': {
            PyObject *o = va_arg(*st->va, PyObject *);
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
            if (c == '\0') {
                st->format--; /* never past the end */
            }
            st->lost = 1;
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
    Py_ssize_t containers = count_containers(format);
    Py_ssize_t small_counts[SMALL_FORMAT], small_open[SMALL_FORMAT];
    char small_kinds[SMALL_FORMAT];
    Py_ssize_t *counts = small_counts, *open = small_open;
    char *kinds = small_kinds;
    void *block = NULL;
    if (containers > SMALL_FORMAT) {
        block = malloc((size_t)containers * (2 * sizeof(Py_ssize_t) + 1));
        if (block == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        counts = (Py_ssize_t *)block;
        open = counts + containers;
        kinds = (char *)(open + containers);
    }
    Py_ssize_t n = count_format(format, counts, open, kinds);
    PyObject *result = NULL;
    if (n == 0) {
        Py_INCREF(Py_None);
        result = Py_None;
    } else if (n > 0) {
        va_list lva;
        va_copy(lva, va);
        build_state st = {format, &lva, counts, 0, 0};
        result = n == 1 ? build_item(&st) : build_tuple(&st, '\0', n);
        va_end(lva);
    }
    free(block);
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
