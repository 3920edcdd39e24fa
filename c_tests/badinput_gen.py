#!/usr/bin/env python3
"""The bad-input test of every function include/stackless.h exports.

    python3 c_tests/badinput_gen.py include/stackless.h build/tests/test_badinput_gen.c

reads every function prototype of the header (the cbindgen part and the
hand-written part; static inline helpers and macros are not exports) and
writes a C program (runtime: c_tests/badinput_gen.h) that calls each function
with bad arguments, one at a time, each call in a forked child, outside and
inside PyStackless_Call_Main:

  * NULL for every pointer;
  * for every object parameter that requires a kind of object, each sample
    object of another kind (SAMPLES: int, str, tuple, dict, None, tasklet,
    channel, a type, a C function);
  * for every integer parameter 0, -1 and the extremes of its C type;
  * the extra values the table names (hostile types, deep nesting, ...);
  * and once with good arguments only (the call must then succeed, so a
    failure seen with a bad argument is that argument's doing).

What each call must do comes from TABLE below, keyed by function name. A
function that is not in the table is tested by the default rules, so a new
export is exercised as soon as it is in the header:

  * a `PyTaskletObject *` must be a tasklet, a `PyChannelObject *` a
    channel, a `PyTypeObject *` a type; any other `PyObject *` may be any
    object; no pointer may be NULL;
  * a function returning a pointer fails with NULL, one returning a signed
    integer with -1, both with SystemError("bad argument to internal
    function") for a bad pointer or object; a function returning void or
    an unsigned integer has no failure value: a bad argument must not crash
    it;
  * every integer value is allowed: the call must not crash, and fail with
    an exception or succeed without one;
  * the good value of a parameter is the default of its C type (GOOD_BY_TYPE).

To describe a function, add `"Name": Fn(...)` to TABLE:

  Fn(fails=..., bad=..., good=..., inside=..., inside_keeps=(...), tail=[...],
     <parameter name>=P(...), ...)

  fails   the failure value as C text ("NULL", "-1", "0"), None when the
          function cannot fail (predicates, getters, void).
  bad     what a bad pointer or object argument does, unless the parameter
          says otherwise (default: Fail(SystemError, BAD_CALL) when there is
          a failure value, else NO_CRASH).
  good    what the call with good arguments does (default OK); a dict
          {"outside": ..., "inside": ...} when it depends on the context.
  inside  what every call does inside Call_Main, for functions that refuse
          to run there; a bad argument of a parameter in inside_keeps may
          be checked before or after that refusal: it fails with either.
  tail    the arguments passed to a C-variadic function: [(name, C type,
          P(...)), ...]; they are varied like parameters.

  P(kind=, good=, null=, wrong=, ints=, values={}, skip=())
  kind    which objects the parameter accepts (KINDS), default by C type.
  good    a C expression (fixtures in c_tests/badinput_gen.h) or number.
  null    what NULL does (default: the function's `bad`).
  wrong   what an object of another kind does (default: the function's `bad`).
  ints    what an integer value not named in `values` does (default ANY).
  values  {value: expectation}: integer values (C expressions), sample
          labels, or C expressions of further bad objects; they override
          the defaults above or add calls.
  skip    integer values not to try (the call would lie to the function,
          e.g. a length longer than the buffer passed).

Expectations: Fail(classes..., msg=) the failure value and one of the
exception classes (none named: any), with str() == msg when given ({type} is
the bad argument's tp_name, {repr} its repr); Sets(...) likewise for void
functions, which fail only through the error indicator; Value(v) exactly v
without exception (pointers compare as integers: Value(0) is NULL); OK the
call succeeds without exception; ANY it fails with an exception or succeeds
without one; NO_CRASH it returns.

The behaviour written here is the contract (SPEC.md, EXTENSIONS.md §8, the
header's comments, CPython), not what the library does today: a call that
differs is a FAILED line to fix in the library, not here.
"""

import re
import sys

BAD_CALL = "bad argument to internal function"
NULL_ARG = "null argument to internal routine"
BAD_ARG = "bad argument type for built-in operation"
# CPython's RecursionError texts: of a call, of repr() (str() of a tuple
# is the repr of its items).
RECURSION = "maximum recursion depth exceeded while calling a Python object"
RECURSION_REPR = "maximum recursion depth exceeded while getting the repr of an object"
RECURSION_BUILD = "maximum recursion depth exceeded in Py_BuildValue"
# CPython's texts for the arguments of a call that are not a tuple and a dict.
NOT_TUPLE = "argument list must be a tuple"
NOT_DICT = "keyword list must be a dictionary"
IN_MAIN = "Call_Main cannot run within a main tasklet"
DEADLOCK = "Deadlock: the last runnable tasklet cannot be blocked."
INVALID_DEADLINE = "invalid deadline"
SLEEP_NEGATIVE = "sleep length must be non-negative"
BAD_FD = "[Errno 9] Bad file descriptor"
WAIT_EVENTS = "events must be PY_WAIT_READ, PY_WAIT_WRITE or both"
NOT_CALLABLE = "'{type}' object is not callable"
NOT_EXC_SUBCLASS = "exception {repr} not a BaseException subclass"
BAD_THROW = "exceptions must be classes, or instances, not {type}"
BAD_TRACEBACK = "third argument must be a traceback object"


class Expect:
    def __init__(self, kind, classes=(), msg=None, value=0):
        self.kind, self.classes, self.msg, self.value = kind, classes, msg, value


def Fail(*classes, msg=None):
    return Expect("FAIL", classes, msg)


def Sets(*classes, msg=None):
    return Expect("SETS", classes, msg)


def Value(value):
    return Expect("VALUE", value=value)


OK = Expect("OK")
ANY = Expect("ANY")
NO_CRASH = Expect("NO_CRASH")
SYSTEM_ERROR = Fail("SystemError", msg=BAD_CALL)


class P:
    def __init__(self, kind=None, good=None, null=None, wrong=None, ints=None, values=None, skip=()):
        self.kind, self.good, self.null, self.wrong = kind, good, null, wrong
        self.ints, self.values, self.skip = ints, values or {}, skip


DEFAULT = object()


class Fn:
    # `spec`, not `self`: PyStackless_CallCMethod_Main has a parameter named self.
    def __init__(spec, fails=DEFAULT, bad=None, good=OK, inside=None, inside_keeps=(), tail=(), **params):
        spec.fails, spec.bad, spec.good = fails, bad, good
        spec.inside, spec.inside_keeps, spec.tail, spec.params = inside, inside_keeps, tail, params


# ---- Objects of every kind, and which kinds a parameter accepts ------------

SAMPLES = {
    "int": "PyLong_FromLong(5)",
    "str": 'PyUnicode_FromString("x")',
    "tuple": "PyTuple_New(0)",
    "dict": "PyDict_New()",
    "None": "Py_None",
    "tasklet": "new_tasklet()",
    "channel": "PyChannel_New(NULL)",
    "type": "&PyLong_Type",
    "cfunction": "new_cfunction()",
}

CALLABLE = {"tasklet", "type", "cfunction"}  # a tasklet is callable (SPEC §8.1 Setup)

KINDS = {
    "any": set(SAMPLES),
    "tasklet": {"tasklet"},
    "channel": {"channel"},
    "type": {"type"},
    "tasklet type": set(),
    "channel type": set(),
    "tuple": {"tuple"},
    "dict": {"dict"},
    "str": {"str"},
    "bytes": set(),
    "int": {"int"},
    "number": {"int"},
    "capsule": set(),
    "callable": CALLABLE,
    "callable or None": CALLABLE | {"None"},
    "exception class": set(),
    "exception": set(),  # a class or an instance
    "tuple or None": {"tuple", "None"},
    "dict or None": {"dict", "None"},
    "type or tuple": {"type", "tuple"},  # isinstance(): () is a tuple of types
    "None": {"None"},
}

KIND_BY_TYPE = {
    "PyObject *": "any",
    "PyTaskletObject *": "tasklet",
    "PyChannelObject *": "channel",
    "PyTypeObject *": "type",
}

GOOD_BY_TYPE = {
    "PyObject *": "PyLong_FromLong(5)",
    "PyTaskletObject *": "new_runnable_tasklet()",
    "PyChannelObject *": "PyChannel_New(NULL)",
    "PyTypeObject *": "&PyLong_Type",
    "PyObject **": "new_slot()",
    "PyMethodDef *": "&noop_def",
    "const char *": '"x"',
    "char *": "buffer",
    "void *": "buffer",
    "slp_schedule_hook_func": "fast_hook",
    "PyCapsule_Destructor": "capsule_destructor",
    "PyStackless_ExitHook": "exit_hook",
}

MAX_ARGS = 8  # BADINPUT_MAX_ARGS of badinput_gen.h

SIGNED = {"int", "long", "long long", "Py_ssize_t", "int64_t"}
UNSIGNED = {"unsigned long", "unsigned long long", "size_t", "uint64_t"}

# Py_ssize_t is ptrdiff_t: PTRDIFF_MIN/MAX are PY_SSIZE_T_MIN/MAX.
VALUES_BY_TYPE = {
    "int": ["0", "-1", "INT_MIN", "INT_MAX"],
    "long": ["0", "-1", "LONG_MIN", "LONG_MAX"],
    "long long": ["0", "-1", "LLONG_MIN", "LLONG_MAX"],
    "Py_ssize_t": ["0", "-1", "PTRDIFF_MIN", "PTRDIFF_MAX"],
    "int64_t": ["0", "-1", "INT64_MIN", "INT64_MAX"],
    "unsigned long": ["0", "ULONG_MAX"],
    "unsigned long long": ["0", "ULLONG_MAX"],
    "size_t": ["0", "SIZE_MAX"],
    "uint64_t": ["0", "UINT64_MAX"],
    "double": ["0.0", "-1.0", "NAN", "INFINITY", "-INFINITY"],
}

# ---- The table ----------------------------------------------------------------

# Predicates and getters that cannot fail return 0 for a bad tasklet or
# channel, setters that return void do nothing (SPEC §8 "Argument
# validation"); neither sets an exception.
QUERY = dict(fails=None, bad=Value(0))
SETTER = dict(bad=OK)

TABLE = {
    # ---- Reference counting and types
    "PyType_Ready": Fn(
        type=P(good="&fresh_type", values={
            # EXTENSIONS §8: a tp_base cycle, a tp_basicsize smaller than the base's.
            "new_cycle_type()": Fail("TypeError", "SystemError"),
            "&small_type": Fail("TypeError", "SystemError"),
        })),
    "_Py_Dealloc": Fn(op=P(good="new_dying_object()", null=OK)),
    "Py_IncRef": Fn(op=P(null=OK)),
    "Py_EnterRecursiveCall": Fn(where=P(good='" in a test"', null=OK)),  # NULL: no suffix
    "Py_DecRef": Fn(op=P(null=OK)),
    # ---- Numbers: every value of the C type converts
    "PyLong_FromLong": Fn(v=P(ints=OK)),
    "PyLong_FromUnsignedLong": Fn(v=P(ints=OK)),
    "PyLong_FromLongLong": Fn(v=P(ints=OK)),
    "PyLong_FromUnsignedLongLong": Fn(v=P(ints=OK)),
    "PyLong_FromSsize_t": Fn(v=P(ints=OK)),
    "PyLong_AsLong": Fn(op=P(kind="int", wrong=Fail("TypeError", msg="an integer is required (got type {type})"))),
    "PyFloat_FromDouble": Fn(v=P(ints=OK)),
    "PyFloat_AsDouble": Fn(fails="-1.0", op=P(kind="number", wrong=Fail("TypeError", msg="must be real number, not {type}"))),
    # ---- str and bytes
    "PyUnicode_FromString": Fn(),
    "PyUnicode_FromStringAndSize": Fn(
        size=P(good="1", values={
            "0": OK,
            "-1": Fail("SystemError", msg="Negative size passed to PyUnicode_FromStringAndSize"),
            "PTRDIFF_MIN": Fail("SystemError", msg="Negative size passed to PyUnicode_FromStringAndSize"),
        }, skip=("PTRDIFF_MAX",))),  # longer than the 2 bytes passed: the caller's error
    "PyUnicode_AsUTF8": Fn(op=P(kind="str", good='PyUnicode_FromString("x")', wrong=Fail("TypeError", msg=BAD_ARG))),
    "PyBytes_FromStringAndSize": Fn(
        s=P(null=OK),  # NULL: zeroed bytes
        size=P(good="1", values={
            "0": OK,
            "-1": Fail("SystemError", msg="Negative size passed to PyBytes_FromStringAndSize"),
            "PTRDIFF_MIN": Fail("SystemError", msg="Negative size passed to PyBytes_FromStringAndSize"),
            "PTRDIFF_MAX": Fail("MemoryError", "OverflowError"),
        })),
    "PyBytes_AsString": Fn(op=P(kind="bytes", good='PyBytes_FromStringAndSize("x", 1)',
                                wrong=Fail("TypeError", msg="expected bytes, {type} found"))),
    "PyBytes_Size": Fn(op=P(kind="bytes", good='PyBytes_FromStringAndSize("x", 1)',
                            wrong=Fail("TypeError", msg="expected bytes, {type} found"))),
    # ---- Tuples
    "PyTuple_New": Fn(size=P(good="1", values={
        "0": OK, "-1": SYSTEM_ERROR, "PTRDIFF_MIN": SYSTEM_ERROR,
        "PTRDIFF_MAX": Fail("MemoryError", "OverflowError")})),
    "PyTuple_GetItem": Fn(
        op=P(kind="tuple", good='Py_BuildValue("(i)", 5)'),
        index=P(ints=Fail("IndexError", msg="tuple index out of range"))),
    "PyTuple_SetItem": Fn(
        op=P(kind="tuple", good="PyTuple_New(1)"),
        index=P(ints=Fail("IndexError", msg="tuple assignment index out of range")),
        item=P(null=OK)),
    "PyTuple_Size": Fn(op=P(kind="tuple", good="PyTuple_New(0)")),
    # ---- Dicts
    "PyDict_SetItem": Fn(op=P(kind="dict", good="PyDict_New()"), key=P(good='PyUnicode_FromString("k")')),
    "PyDict_SetItemString": Fn(op=P(kind="dict", good="PyDict_New()"), key=P(good='"k"')),
    # NULL without an exception is "missing": the good key is there.
    "PyDict_GetItemString": Fn(op=P(kind="dict", good='Py_BuildValue("{s:i}", "k", 1)'), key=P(good='"k"')),
    "PyDict_Size": Fn(op=P(kind="dict", good="PyDict_New()")),
    # ---- Capsules
    "PyCapsule_New": Fn(
        pointer=P(good="buffer", null=Fail("ValueError", msg="PyCapsule_New called with null pointer")),
        name=P(good='"badinput.cap"', null=OK),
        destructor=P(null=OK)),
    "PyCapsule_GetPointer": Fn(
        op=P(kind="capsule", good="new_capsule()",
             null=Fail("ValueError", msg="PyCapsule_GetPointer called with invalid PyCapsule object"),
             wrong=Fail("ValueError", msg="PyCapsule_GetPointer called with invalid PyCapsule object")),
        name=P(good='"badinput.cap"', null=Fail("ValueError", msg="PyCapsule_GetPointer called with incorrect name"))),
    # ---- C functions and calls
    "PyCFunction_NewEx": Fn(bound_to=P(null=OK), module=P(good='PyUnicode_FromString("m")', null=OK)),
    "PyCFunction_New": Fn(bound_to=P(null=OK)),
    "PyObject_Call": Fn(
        callable=P(kind="callable", good="new_cfunction()", wrong=Fail("TypeError", msg=NOT_CALLABLE),
                   values={"new_recursive_callable()": Fail("RecursionError", msg=RECURSION)}),
        args=P(kind="tuple", good="PyTuple_New(0)"),
        kwargs=P(kind="dict", good="PyDict_New()", null=OK)),
    "PyObject_CallObject": Fn(
        callable=P(kind="callable", good="new_cfunction()", wrong=Fail("TypeError", msg=NOT_CALLABLE),
                   values={"new_recursive_callable()": Fail("RecursionError", msg=RECURSION)}),
        args=P(kind="tuple", good="PyTuple_New(0)", null=OK, wrong=Fail("TypeError", msg=NOT_TUPLE))),
    "PyObject_GetAttrString": Fn(op=P(good="&PyLong_Type"), name=P(good='"__name__"')),
    # NULL gives "<NULL>" (header); nesting deeper than any stack is named.
    "PyObject_Str": Fn(op=P(null=OK, values={"new_deep_tuple()": Fail("RecursionError", msg=RECURSION_REPR)})),
    "PyObject_Repr": Fn(op=P(null=OK, values={"new_deep_tuple()": Fail("RecursionError", msg=RECURSION_REPR)})),
    "PyObject_IsTrue": Fn(),
    "PyType_IsSubtype": Fn(**QUERY, good=Value(1), a=P(good="&PyBool_Type"), b=P(good="&PyLong_Type")),
    "PyObject_IsInstance": Fn(
        cls=P(kind="type or tuple", good="&PyLong_Type",
              wrong=Fail("TypeError", msg="isinstance() arg 2 must be a type or tuple of types"))),
    "PyCallable_Check": Fn(**QUERY, good=Value(1), op=P(good="new_cfunction()")),
    "PyType_GenericAlloc": Fn(
        type=P(good="&PyTuple_Type"),
        nitems=P(values={"-1": SYSTEM_ERROR, "PTRDIFF_MIN": SYSTEM_ERROR,
                         "PTRDIFF_MAX": Fail("MemoryError", "OverflowError")})),
    "PyType_GenericNew": Fn(
        type=P(good="&PyBaseObject_Type"),
        args=P(good="PyTuple_New(0)", null=OK),
        kwds=P(good="PyDict_New()", null=OK)),
    # A raw allocator, as CPython's: NULL without an exception when it cannot.
    "PyObject_Malloc": Fn(fails=None, size=P(good="16", values={"SIZE_MAX": Value(0)})),
    "PyObject_Free": Fn(p=P(good="PyObject_Malloc(16)", null=OK)),
    "PyThread_get_thread_ident": Fn(),
    # ---- Callbacks (SPEC §5.9, §5.10): None is no callable here
    "PyStackless_SetChannelCallback": Fn(callable=P(
        kind="callable", good="new_cfunction()", null=OK,
        wrong=Fail("TypeError", msg="channel callback must be callable"))),
    "PyStackless_SetScheduleCallback": Fn(callable=P(
        kind="callable", good="new_cfunction()", null=OK,
        wrong=Fail("TypeError", msg="schedule callback must be callable"))),
    "PyStackless_SetScheduleFastcallback": Fn(func=P(null=OK)),
    "PyStackless_GetScheduleCallback": Fn(fails=None, good=Value(0)),  # none installed
    "PyStackless_GetChannelCallback": Fn(fails=None, good=Value(0)),
    # ---- Channels (SPEC §8.2); good channels have a partner waiting
    "PyChannel_New": Fn(type=P(
        kind="channel type", good="&PyChannel_Type", null=OK, wrong=Fail("TypeError", "SystemError"),
        values={
            "type": Fail("TypeError", msg="channel_new: type must be subtype of channel"),
            "&unready_channel_type": Fail(),  # EXTENSIONS §8: a subtype that is not ready
        })),
    "PyChannel_Send": Fn(channel=P(good="new_receiving_channel()"), arg=P(good='PyUnicode_FromString("v")')),
    "PyChannel_Send_nr": Fn(channel=P(good="new_receiving_channel()"), arg=P(good='PyUnicode_FromString("v")')),
    "PyChannel_Receive": Fn(channel=P(good="new_sending_channel()")),
    "PyChannel_Receive_nr": Fn(channel=P(good="new_sending_channel()")),
    # A partner waits: the transfer happens whatever the deadline.
    "PyChannel_SendUntil": Fn(channel=P(good="new_receiving_channel()"), arg=P(good='PyUnicode_FromString("v")'),
                              deadline=P(good="-1", values={"INT64_MIN": Fail("ValueError", msg=INVALID_DEADLINE)})),
    "PyChannel_ReceiveUntil": Fn(channel=P(good="new_sending_channel()"),
                                 deadline=P(good="-1", values={"INT64_MIN": Fail("ValueError", msg=INVALID_DEADLINE)})),
    "PyChannel_SendException": Fn(
        channel=P(good="new_receiving_channel()"),
        klass=P(kind="exception class", good="PyExc_ValueError", null=Fail("SystemError", "TypeError"),
                wrong=Fail("TypeError", msg="channel.send_exception needs Exception or string subclass as first parameter")),
        value=P(good="PyTuple_New(0)", null=OK)),
    "PyChannel_SendThrow": Fn(
        channel=P(good="new_receiving_channel()"),
        exc=P(kind="exception", good="PyExc_ValueError", null=Fail("SystemError"), wrong=Fail("TypeError", msg=BAD_THROW)),
        val=P(good='PyUnicode_FromString("v")', null=OK),
        tb=P(kind="None", good="Py_None", null=OK, wrong=Fail("TypeError", msg=BAD_TRACEBACK))),
    "PyChannel_GetQueue": Fn(),
    "PyChannel_Close": Fn(**SETTER),
    "PyChannel_Open": Fn(**SETTER),
    "PyChannel_GetClosing": Fn(**QUERY),
    "PyChannel_GetClosed": Fn(**QUERY),
    "PyChannel_GetPreference": Fn(**QUERY),
    "PyChannel_SetPreference": Fn(**SETTER),
    "PyChannel_GetScheduleAll": Fn(**QUERY),
    "PyChannel_SetScheduleAll": Fn(**SETTER),
    "PyChannel_GetBalance": Fn(**QUERY),
    # ---- The error indicator
    "PyErr_SetString": Fn(
        good=Sets("ValueError", msg="x"),
        type=P(kind="exception class", good="PyExc_ValueError", null=Sets("SystemError", msg=BAD_CALL),
             wrong=Sets("SystemError", msg=NOT_EXC_SUBCLASS)),
        message=P(null=Sets("SystemError", msg=BAD_CALL))),
    "PyErr_SetObject": Fn(
        good=Sets("ValueError"),
        type=P(kind="exception class", good="PyExc_ValueError", null=Sets("SystemError", msg=BAD_CALL),
             wrong=Sets("SystemError", msg=NOT_EXC_SUBCLASS)),
        value=P(null=Sets("ValueError"))),
    "PyErr_SetNone": Fn(
        good=Sets("ValueError"),
        type=P(kind="exception class", good="PyExc_ValueError", null=Sets("SystemError", msg=BAD_CALL),
             wrong=Sets("SystemError", msg=NOT_EXC_SUBCLASS))),
    "PyErr_Occurred": Fn(fails=None, good=Value(0)),  # NULL: none set
    "PyErr_Clear": Fn(),
    "PyErr_Fetch": Fn(bad=Sets("SystemError", msg=BAD_CALL)),
    # Steals all three; a NULL type clears the indicator.
    "PyErr_Restore": Fn(
        good=Sets("ValueError"),
        type=P(kind="exception class", good="new_ref(PyExc_ValueError)", null=OK,
             wrong=Sets("SystemError", msg=NOT_EXC_SUBCLASS)),
        value=P(good='PyUnicode_FromString("v")', null=Sets("ValueError")),
        tb=P(null=Sets("ValueError"))),
    "PyErr_NormalizeException": Fn(
        bad=Sets("SystemError", msg=BAD_CALL),
        ptype=P(good="new_slot_of(new_ref(PyExc_ValueError))"),
        pvalue=P(good='new_slot_of(PyUnicode_FromString("v"))')),
    "PyErr_GivenExceptionMatches": Fn(**QUERY, good=Value(1), given=P(good="PyExc_ValueError"), exc=P(good="PyExc_Exception")),
    "PyErr_ExceptionMatches": Fn(**QUERY, good=Value(0), exc=P(good="PyExc_ValueError")),  # none set
    "PyErr_NewException": Fn(
        name=P(good='"badinput.E"', values={'"nodot"': Fail("SystemError")}),
        base=P(kind="exception class", good="PyExc_ValueError", null=OK,
               wrong=Fail("TypeError", msg="PyErr_NewException: base must be an exception class")),
        dict=P(kind="dict", good="PyDict_New()", null=OK)),
    "PyErr_NoMemory": Fn(good=Fail("MemoryError")),
    "PyErr_BadArgument": Fn(fails="0", good=Fail("TypeError", msg=BAD_ARG)),
    "PyErr_BadInternalCall": Fn(good=Sets("SystemError", msg=BAD_CALL)),
    "PyErr_Print": Fn(),  # nothing set: prints nothing
    # ---- Interface functions (SPEC §7.3-§7.6)
    "PyStackless_Call_Main": Fn(
        inside=Fail("RuntimeError", msg=IN_MAIN), inside_keeps=("args", "kwds"),
        func=P(kind="callable", good="new_cfunction()",
               null=Fail("TypeError", msg="cframe function must be a callable"),
               wrong=Fail("TypeError", msg="cframe function must be a callable"),
               values={"new_recursive_callable()": Fail("RecursionError", msg=RECURSION)}),
        args=P(kind="tuple", good="PyTuple_New(0)", null=OK, wrong=Fail("TypeError", msg=NOT_TUPLE)),
        kwds=P(kind="dict", good="PyDict_New()", null=OK, wrong=Fail("TypeError", msg=NOT_DICT))),
    "PyStackless_Finalize": Fn(inside=Fail("RuntimeError")),
    # ---- Scheduling (SPEC §8.3)
    "PyStackless_Schedule": Fn(retval=P(good='PyUnicode_FromString("v")', null=OK)),
    "PyStackless_Schedule_nr": Fn(retval=P(good='PyUnicode_FromString("v")', null=OK)),
    "PyStackless_GetRunCount": Fn(fails=None),
    "PyStackless_GetCurrent": Fn(fails=None, good={"outside": Value(0), "inside": OK}),
    "PyStackless_GetCurrentId": Fn(fails=None),
    "PyStackless_GetMain": Fn(fails=None, good={"outside": Value(0), "inside": OK}),
    "PyStackless_RunWatchdog": Fn(),
    "PyStackless_RunWatchdogEx": Fn(flags=P(values={
        "-1": Fail("ValueError", msg="flags must be in [0..255]"),
        "INT_MIN": Fail("ValueError", msg="flags must be in [0..255]"),
        "INT_MAX": Fail("ValueError", msg="flags must be in [0..255]"),
        "256": Fail("ValueError", msg="flags must be in [0..255]"),
        "255": OK,
    })),
    "PyStackless_Tick": Fn(n=P(good="1", values={
        "-1": Fail("ValueError", msg="tick count must not be negative"),
        "LONG_MIN": Fail("ValueError", msg="tick count must not be negative"),
        "LONG_MAX": OK,
    })),
    # ---- Time (EXTENSIONS.md §1, §2, §5). A deadline of INT64_MAX would
    # sleep for 292 years: not tried.
    "PyStackless_Now": Fn(fails=None),
    "PyStackless_NextDeadline": Fn(fails=None),
    "PyStackless_SleepUntil": Fn(deadline=P(good="0", values={  # passed: a Schedule
        "-1": Fail("RuntimeError", msg=DEADLOCK),  # nothing could ever wake it
        "INT64_MIN": Fail("ValueError", msg=INVALID_DEADLINE),
    }, skip=("INT64_MAX",))),
    "PyStackless_Sleep": Fn(ns=P(good="1000", values={
        "-1": Fail("ValueError", msg=SLEEP_NEGATIVE),
        "INT64_MIN": Fail("ValueError", msg=SLEEP_NEGATIVE),
    }, skip=("INT64_MAX",))),
    "PyStackless_RunUntil": Fn(deadline=P(good="-1", values={
        "INT64_MIN": Fail("ValueError", msg=INVALID_DEADLINE),
    })),
    # ---- File descriptors (EXTENSIONS.md §4, §6). fd 0 may be a terminal,
    # which would block: not tried.
    "PyStackless_WaitFd": Fn(
        fd=P(good="WRITABLE_FD", values={
            "-1": Fail("OSError", msg=BAD_FD),
            "INT_MIN": Fail("OSError", msg=BAD_FD),
            "INT_MAX": Fail("OSError", msg=BAD_FD),
        }, skip=("0",)),
        events=P(good="PY_WAIT_WRITE", values={
            "0": Fail("ValueError", msg=WAIT_EVENTS),
            "-1": Fail("ValueError", msg=WAIT_EVENTS),
            "INT_MIN": Fail("ValueError", msg=WAIT_EVENTS),
            "INT_MAX": Fail("ValueError", msg=WAIT_EVENTS),
        }),
        deadline=P(good="-1", values={
            "0": OK,  # passed: a try, and the fd is writable
            "INT64_MIN": Fail("ValueError", msg=INVALID_DEADLINE),
            "INT64_MAX": OK,
        })),
    "PyStackless_ForgetFd": Fn(fd=P(good="WRITABLE_FD", values={
        "0": Value(0),  # nothing waits on it
        "-1": Fail("OSError", msg=BAD_FD),
        "INT_MIN": Fail("OSError", msg=BAD_FD),
        "INT_MAX": Value(0),
    })),
    "PyStackless_GetPollFd": Fn(fails=None),
    "PyStackless_SwitchTrap": Fn(fails=None),  # returns the previous level
    "PyStackless_AdjustSwitchTrap": Fn(fails=None),
    "PyStackless_SetStackSize": Fn(size=P(good="65536")),  # clamped, never fails
    "PyStackless_GetThreadInfo": Fn(thread_id=P(good="-1", values={
        "0": Fail("RuntimeError", msg="Thread id not found"),  # SPEC §10.9: 0 is no thread
        "LONG_MIN": Fail("RuntimeError", msg="Thread id not found"),
        "LONG_MAX": Fail("RuntimeError", msg="Thread id not found"),
    })),
    "PyStackless_SetErrorHandler": Fn(handler=P(kind="callable or None", good="new_cfunction()", null=OK,
                                                 wrong=Fail("TypeError"))),
    "PyStackless_SetExitHook": Fn(hook=P(null=OK)),
    # ---- Tasklets (SPEC §8.1)
    "PyTasklet_New": Fn(
        type=P(kind="tasklet type", good="&PyTasklet_Type", null=OK, wrong=Fail("TypeError", "SystemError"),
               values={
                   "type": Fail("TypeError", msg=""),  # not a subtype: no message
                   "&unready_tasklet_type": Fail(),  # EXTENSIONS §8: a subtype that is not ready
               }),
        func=P(kind="callable or None", good="new_cfunction()", null=OK,
               wrong=Fail("TypeError", msg="tasklet function must be a callable or None"))),
    # EXTENSIONS §8: args not a tuple, kwds not a dict are refused.
    "PyTasklet_Setup": Fn(
        task=P(good="new_bound_tasklet()"),
        args=P(kind="tuple", good="PyTuple_New(0)", null=OK, wrong=Fail("TypeError", msg=NOT_TUPLE)),
        kwds=P(kind="dict", good="PyDict_New()", null=OK, wrong=Fail("TypeError", msg=NOT_DICT))),
    "PyTasklet_BindEx": Fn(
        task=P(good="new_bound_tasklet()"),
        func=P(kind="callable or None", good="new_cfunction()", null=OK,
               wrong=Fail("TypeError", msg="tasklet function must be a callable or None")),
        args=P(kind="tuple or None", good="PyTuple_New(0)", null=OK, wrong=Fail("TypeError", msg=NOT_TUPLE)),
        kwargs=P(kind="dict or None", good="PyDict_New()", null=OK, wrong=Fail("TypeError", msg=NOT_DICT))),
    "PyTasklet_BindThread": Fn(
        task=P(good="new_bound_tasklet()"),
        thread_id=P(good="-1", ints=Fail("ValueError", msg="bad thread"))),  # no such thread
    # A tasklet on the smallest stack recursing without end dies of a
    # RecursionError, which reaches the caller (main, SPEC §8.1 Run).
    "PyTasklet_Run": Fn(task=P(values={"new_recursive_tasklet()": Fail("RecursionError", msg=RECURSION)})),
    "PyTasklet_Insert": Fn(task=P(good="new_paused_tasklet()")),
    "PyTasklet_RaiseException": Fn(
        good=ANY,  # the exception ends the tasklet and reaches the caller (main)
        klass=P(kind="exception class", good="PyExc_ValueError", null=Fail("SystemError", "TypeError"),
                wrong=Fail("TypeError", msg="tasklet.raise_exception needs Exception or string subclass as first parameter")),
        args=P(good="PyTuple_New(0)", null=ANY)),
    "PyTasklet_Throw": Fn(
        pending=P(good="1"),
        exc=P(kind="exception", good="PyExc_ValueError", null=Fail("SystemError"), wrong=Fail("TypeError", msg=BAD_THROW)),
        val=P(good='PyUnicode_FromString("v")', null=OK),
        tb=P(kind="None", good="Py_None", null=OK, wrong=Fail("TypeError", msg=BAD_TRACEBACK))),
    "PyTasklet_GetAtomic": Fn(**QUERY),
    "PyTasklet_SetAtomic": Fn(**QUERY),  # the previous value; 0 for bad input
    "PyTasklet_GetIgnoreNesting": Fn(**QUERY),
    "PyTasklet_SetIgnoreNesting": Fn(**QUERY),
    "PyTasklet_GetPendingIrq": Fn(**QUERY),
    "PyTasklet_GetBlockTrap": Fn(**QUERY),
    "PyTasklet_SetBlockTrap": Fn(**SETTER),
    "PyTasklet_GetFrame": Fn(**QUERY, good=Value(0)),  # always NULL without exception
    "PyTasklet_IsMain": Fn(**QUERY),
    "PyTasklet_IsCurrent": Fn(**QUERY),
    "PyTasklet_GetRecursionDepth": Fn(**QUERY),
    "PyTasklet_GetNestingLevel": Fn(**QUERY),
    "PyTasklet_Alive": Fn(**QUERY),
    "PyTasklet_Paused": Fn(**QUERY),
    "PyTasklet_Scheduled": Fn(**QUERY),
    "PyTasklet_Restorable": Fn(**QUERY),
    "PyTasklet_GetBlocked": Fn(**QUERY),
    "PyTasklet_GetThreadId": Fn(**QUERY),
    # ---- The C-variadic functions (src/capi/varargs.c)
    "Py_BuildValue": Fn(
        format=P(good='"(iO)"', values={"deep_format()": Fail("RecursionError", msg=RECURSION_BUILD)}),
        tail=[("i", "int", P(good="1", ints=OK)),
              ("O", "PyObject *", P(null=Fail("SystemError", msg="NULL object passed to Py_BuildValue")))]),
    "Py_VaBuildValue": Fn(
        format=P(good='"(iO)"', values={"deep_format()": Fail("RecursionError", msg=RECURSION_BUILD)}),
        tail=[("i", "int", P(good="1", ints=OK)),
              ("O", "PyObject *", P(null=Fail("SystemError", msg="NULL object passed to Py_BuildValue")))]),
    "PyTuple_Pack": Fn(
        n=P(good="1", values={"0": OK, "-1": SYSTEM_ERROR, "PTRDIFF_MIN": SYSTEM_ERROR},
            skip=("PTRDIFF_MAX",)),  # more items than passed: the caller's error
        tail=[("o", "PyObject *", P())]),
    "PyUnicode_FromFormat": Fn(
        format=P(good='"%s %d %S"', values={'"\\xc3\\xa9"': Fail("ValueError")}),  # not ASCII
        tail=[("s", "const char *", P(null=OK)), ("d", "int", P(good="1", ints=OK)),
              ("S", "PyObject *", P(null=OK))]),
    "PyUnicode_FromFormatV": Fn(
        format=P(good='"%s %d %S"', values={'"\\xc3\\xa9"': Fail("ValueError")}),
        tail=[("s", "const char *", P(null=OK)), ("d", "int", P(good="1", ints=OK)),
              ("S", "PyObject *", P(null=OK))]),
    "PyErr_Format": Fn(
        good=Fail("ValueError", msg="x 1"),
        exc=P(kind="exception class", good="PyExc_ValueError", wrong=Fail("SystemError", msg=NOT_EXC_SUBCLASS)),
        format=P(good='"x %d"'),
        tail=[("d", "int", P(good="1", ints=Fail("ValueError")))]),
    "PyObject_CallFunction": Fn(
        callable=P(kind="callable", good="new_cfunction()", null=Fail("SystemError", msg=NULL_ARG),
                   wrong=Fail("TypeError", msg=NOT_CALLABLE)),
        format=P(good='"i"', null=OK),
        tail=[("i", "int", P(good="1", ints=OK))]),
    "PyObject_CallMethod": Fn(
        o=P(good="new_object_with_method()", null=Fail("SystemError", msg=NULL_ARG)),
        name=P(good='"m"', null=Fail("SystemError", msg=NULL_ARG)),
        format=P(good='"i"', null=OK),
        tail=[("i", "int", P(good="1", ints=OK))]),
    "PyStackless_CallMethod_Main": Fn(
        inside=Fail("RuntimeError", msg=IN_MAIN), inside_keeps=("o", "name"),
        o=P(good="new_object_with_method()", null=Fail("SystemError", msg=NULL_ARG)),
        name=P(good='"m"', null=Fail("TypeError", msg="call of non-callable attribute")),  # o itself
        format=P(good='"i"', null=OK),
        tail=[("i", "int", P(good="1", ints=OK))]),
    "PyStackless_CallCMethod_Main": Fn(
        inside=Fail("RuntimeError", msg=IN_MAIN), inside_keeps=("meth",),
        meth=P(null=Fail("SystemError")),
        self=P(null=OK),
        format=P(good='"i"', null=OK),
        tail=[("i", "int", P(good="1", ints=OK))]),
}

# ---- Reading the header ----------------------------------------------------------


class Param:
    def __init__(self, name, ctype):
        self.name, self.ctype = name, ctype


class Function:
    def __init__(self, name, ret, params, variadic, va_list):
        self.name, self.ret, self.params = name, ret, params
        self.variadic, self.va_list = variadic, va_list


def normalize(ctype):
    ctype = re.sub(r"\bstruct\s+", "", ctype)
    ctype = re.sub(r"\s*\*", " *", ctype).replace("* *", "**")
    return re.sub(r"\s+", " ", ctype).strip()


def parse_header(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    fn_types = set(re.findall(r"typedef\s[^;]*?\(\s*\*\s*(\w+)\s*\)\s*\(", text))
    exceptions = set(re.findall(r"extern\s+(?:struct\s+)?PyObject\s*\*\s*PyExc_(\w+)\s*;", text))
    functions = []
    proto = re.compile(r"^[ \t]*((?:const\s+)?(?:struct\s+)?\w+(?:[ \t]+\w+)*[\s*]+?)(\w+)\(([^()]*)\);", re.M)
    for m in proto.finditer(text):
        ret, name, plist = m.groups()
        if re.match(r"\s*(typedef|static|return|extern)\b", ret):
            continue
        params, variadic, va_list = [], False, False
        for raw in [p.strip() for p in plist.split(",")]:
            if raw == "void":
                continue
            if raw == "...":
                variadic = True
                continue
            pm = re.match(r"(.*?)(\w+)$", raw)
            ctype = normalize(pm.group(1))
            if ctype == "va_list":
                va_list = True
                continue
            params.append(Param(pm.group(2), ctype))
        functions.append(Function(name, normalize(ret), params, variadic, va_list))
    return functions, fn_types, exceptions


# ---- Expanding the table into calls --------------------------------------------------


class Variant:
    def __init__(self, label, param, source, outside, inside):
        self.label, self.param, self.source = label, param, source
        self.outside, self.inside = outside, inside


def die(message):
    sys.exit("badinput_gen.py: " + message)


def category(ctype, fn_types):
    if ctype in fn_types:
        return "fn"
    if ctype.endswith("*"):
        return "ptr"
    if ctype in SIGNED:
        return "int"
    if ctype in UNSIGNED:
        return "uint"
    if ctype == "double":
        return "double"
    die("no rule for the C type '%s': teach badinput_gen.py" % ctype)


def default_failure(ret):
    if ret.endswith("*"):
        return "NULL"
    if ret in SIGNED:
        return "-1"
    if ret == "double":
        return "-1.0"
    return None


def expand(f, spec, fn_types):
    """The arguments of one function (its tail included), their good
    values, its failure value and its calls."""
    params = list(f.params)
    if (f.variadic or f.va_list) and f.name not in TABLE:
        die("%s is C-variadic: give the arguments it is passed in TABLE (tail=...)" % f.name)
    for name, ctype, _ in spec.tail:
        params.append(Param(name, normalize(ctype)))
    if len(params) > MAX_ARGS:
        die("%s has more than %d arguments: raise BADINPUT_MAX_ARGS" % (f.name, MAX_ARGS))
    names = {p.name for p in params}
    for name in spec.params:
        if name not in names:
            die("TABLE[%r] names a parameter %r that the header does not declare" % (f.name, name))
    pspecs = dict(spec.params)
    for name, _, p in spec.tail:
        pspecs[name] = p
    failure = default_failure(f.ret) if spec.fails is DEFAULT else spec.fails
    bad = spec.bad or (SYSTEM_ERROR if failure else NO_CRASH)

    good = []
    for p in params:
        ps = pspecs.get(p.name, P())
        g = ps.good
        if g is None:
            cat = category(p.ctype, fn_types)
            g = "0" if cat in ("int", "uint") else "0.0" if cat == "double" else GOOD_BY_TYPE.get(p.ctype)
            if g is None:
                die("%s(%s): no good value for the type '%s': give one in TABLE" % (f.name, p.name, p.ctype))
        good.append(g)

    variants = []

    def add(label, index, source, expect, inside=None):
        if inside is None:
            inside = expect
            if spec.inside is not None:
                inside = spec.inside
                if params[index].name in spec.inside_keeps and expect.kind == "FAIL":
                    both = expect.classes + spec.inside.classes
                    inside = Fail(*both) if expect.classes and spec.inside.classes else Fail()
        for e in (expect, inside):
            if e.kind == "FAIL" and failure is None:
                die("%s %s: Fail() for a function without failure value (fails=None)" % (f.name, label))
            if e.kind == "SETS" and f.ret != "void":
                die("%s %s: Sets() is for void functions" % (f.name, label))
        variants.append(Variant(label, index, source, expect, inside))

    goods = spec.good if isinstance(spec.good, dict) else {"outside": spec.good, "inside": spec.good}
    add("(good arguments)", -1, None, goods["outside"], spec.inside or goods["inside"])
    for i, p in enumerate(params):
        ps = pspecs.get(p.name, P())
        cat = category(p.ctype, fn_types)
        if cat in ("ptr", "fn"):
            if good[i] != "NULL":
                add("%s=NULL" % p.name, i, ("NULL", None), ps.null or bad)
            kind = ps.kind or KIND_BY_TYPE.get(p.ctype)
            if kind is not None:
                if kind not in KINDS:
                    die("%s(%s): unknown kind %r" % (f.name, p.name, kind))
                for label, expr in SAMPLES.items():
                    if label in ps.values:
                        add("%s=%s" % (p.name, label), i, ("expr", expr, cat), ps.values[label])
                    elif label not in KINDS[kind]:
                        add("%s=%s" % (p.name, label), i, ("expr", expr, cat), ps.wrong or bad)
            for expr, expect in ps.values.items():
                if expr not in SAMPLES:
                    add("%s=%s" % (p.name, expr), i, ("expr", expr, cat), expect)
        else:
            values = VALUES_BY_TYPE[p.ctype] + [v for v in ps.values if v not in VALUES_BY_TYPE[p.ctype]]
            for v in values:
                if v in ps.skip or v == good[i]:
                    continue
                add("%s=%s" % (p.name, v), i, (cat, v), ps.values.get(v, ps.ints or ANY))
    return params, good, failure, variants


# ---- Writing the C program ------------------------------------------------------------


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Writer:
    def __init__(self, exceptions):
        self.exprs = {}  # (expr, category) -> case number
        self.classes = []
        self.known_exceptions = exceptions

    def expr_id(self, expr, cat):
        return self.exprs.setdefault((expr, cat), len(self.exprs))

    def exc_mask(self, classes):
        mask = 0
        for c in classes:
            if c not in self.known_exceptions:
                die("PyExc_%s is not in the header" % c)
            if c not in self.classes:
                self.classes.append(c)
            mask |= 1 << self.classes.index(c)
        return mask

    def source(self, src):
        if src is None or src[0] == "NULL":
            return "{SRC_NULL, 0, 0, 0, 0}"
        if src[0] == "expr":
            return "{SRC_EXPR, %d, 0, 0, 0}" % self.expr_id(src[1], src[2])
        if src[0] == "int":
            return "{SRC_INT, 0, (long long)(%s), 0, 0}" % src[1]
        if src[0] == "uint":
            return "{SRC_UINT, 0, 0, (unsigned long long)(%s), 0}" % src[1]
        return "{SRC_DOUBLE, 0, 0, 0, %s}" % src[1]

    def good_source(self, value, ctype, fn_types):
        cat = category(ctype, fn_types)
        if cat in ("int", "uint", "double"):
            return self.source((cat, value))
        if value == "NULL":
            return self.source(None)
        return self.source(("expr", value, cat))

    def expect(self, e):
        return "{EXPECT_%s, %du, %s, %d}" % (e.kind, self.exc_mask(e.classes),
                                            "NULL" if e.msg is None else c_string(e.msg), e.value)


def declare(ctype, name):
    return ctype + name if ctype.endswith("*") else "%s %s" % (ctype, name)


def argument(i, ctype, fn_types):
    cat = category(ctype, fn_types)
    field = {"ptr": "p", "fn": "fn", "int": "i", "uint": "u", "double": "d"}[cat]
    return "(%s)a[%d].%s" % (ctype, i, field)


def thunk(f, params, failure, fn_types):
    out = []
    callee = f.name
    if f.va_list:
        fixed = ", ".join(declare(p.ctype, p.name) for p in f.params)
        last = f.params[-1].name
        callee = "va_" + f.name
        names = ", ".join(p.name for p in f.params)
        out += ["static %s(%s, ...) {" % (declare(f.ret, callee), fixed),
                "    va_list va;",
                "    va_start(va, %s);" % last,
                "    %s = %s(%s, va);" % (declare(f.ret, "r"), f.name, names),
                "    va_end(va);",
                "    return r;",
                "}", ""]
    args = ", ".join(argument(i, p.ctype, fn_types) for i, p in enumerate(params))
    call = "%s(%s)" % (callee, args)
    out.append("static void call_%s(const union arg *a, struct outcome *o) {" % f.name)
    if not params:
        out.append("    (void)a;")
    fails = "r == %s" % failure if failure else "0"
    if f.ret == "void":
        out += ["    %s;" % call, "    record_void(o);"]
    elif f.ret.endswith("*"):
        out += ["    %s = %s;" % (declare(f.ret, "r"), call), "    record_ptr(o, (const void *)r, %s);" % fails]
    elif f.ret in SIGNED:
        out += ["    %s = %s;" % (declare(f.ret, "r"), call), "    record_int(o, (long long)r, %s);" % fails]
    elif f.ret in UNSIGNED:
        out += ["    %s = %s;" % (declare(f.ret, "r"), call), "    record_uint(o, (unsigned long long)r, %s);" % fails]
    elif f.ret == "double":
        out += ["    double r = %s;" % call, "    record_double(o, r, %s);" % fails]
    else:
        die("no rule for the return type '%s' of %s" % (f.ret, f.name))
    out += ["}", ""]
    return out


def generate(header_path):
    functions, fn_types, exceptions = parse_header(open(header_path).read())
    names = {f.name for f in functions}
    for name in TABLE:
        if name not in names:
            die("TABLE names %s, which the header does not declare" % name)
    w = Writer(exceptions)
    body = []
    entries = []
    for f in functions:
        spec = TABLE.get(f.name, Fn())
        params, good, failure, variants = expand(f, spec, fn_types)
        body += thunk(f, params, failure, fn_types)
        if params:
            body.append("static const struct source good_%s[] = {" % f.name)
            body += ["    %s, /* %s = %s */" % (w.good_source(g, p.ctype, fn_types), p.name, g.replace("*/", "* /"))
                     for p, g in zip(params, good)]
            body += ["};", ""]
        body.append("static const struct variant variants_%s[] = {" % f.name)
        for v in variants:
            body.append("    {%s, %d, %s, %s, %s}," % (c_string(v.label), v.param, w.source(v.source),
                                                        w.expect(v.outside), w.expect(v.inside)))
        body += ["};", ""]
        entries.append("    {%s, %d, %s, call_%s, %s, variants_%s, %d}," % (
            c_string(f.name), len(params), "good_" + f.name if params else "NULL", f.name,
            c_string(failure) if failure else "NULL", f.name, len(variants)))

    out = ["/* Generated by c_tests/badinput_gen.py from include/stackless.h -- do not edit. */",
           '#include "badinput_gen.h"', "",
           "static PyObject *exc_class(int k) {",
           "    switch (k) {"]
    for k, c in enumerate(w.classes):
        out += ["    case %d:" % k, "        return PyExc_%s;" % c]
    out += ["    }", "    return NULL;", "}", "",
            "static void make_arg(int expr, union arg *a) {",
            "    switch (expr) {"]
    for (expr, cat), k in sorted(w.exprs.items(), key=lambda item: item[1]):
        target = "a->fn = (void (*)(void))(%s)" % expr if cat == "fn" else "a->p = (void *)(%s)" % expr
        out += ["    case %d:" % k, "        %s;" % target, "        break;"]
    out += ["    }", "}", ""]
    out += body
    out += ["static const struct function functions[] = {"] + entries + ["};", "",
            "int main(void) {",
            '    return badinput_main("test_badinput_gen", functions, (int)(sizeof functions / sizeof functions[0]));',
            "}"]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: badinput_gen.py include/stackless.h OUTPUT.c")
    text = generate(sys.argv[1])
    with open(sys.argv[2], "w") as out:
        out.write(text)


if __name__ == "__main__":
    main()
