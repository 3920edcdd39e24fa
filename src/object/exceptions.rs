//! The exception classes: static type objects chained through `tp_base`
//! (`TaskletExit` -> `SystemExit` -> `BaseException`), instances with `args`.

use super::typeobj::{builtin, PyType_Type};
use super::*;
use crate::errors::guard;
use crate::errors::{self, PyResult};
use core::ffi::CStr;
use core::ptr::null_mut;

/// An exception instance: its argument tuple.
#[repr(C)]
pub struct PyBaseExceptionObject {
    /// Header.
    pub ob_base: PyObject,
    /// The arguments the exception was created with (a tuple).
    pub args: *mut PyObject,
}

/// `tp_new` of the exception classes: an instance holding `args` (the
/// empty tuple when NULL).
///
/// # Safety
/// `ty` must be a ready exception class; `args` and `kwds` NULL or live.
unsafe extern "C-unwind" fn exc_new(
    ty: *mut PyTypeObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees both are NULL or live.
        if unsafe { protocol::check_args(args, kwds) }.is_err() {
            return null_mut();
        }
        // SAFETY: the caller guarantees `ty` is a ready type.
        let Ok(op) = (unsafe { typeobj::alloc(ty, 0) }) else {
            return null_mut();
        };
        // SAFETY: `op` is a new instance of an exception class (laid out as
        // `PyBaseExceptionObject`) that nobody else sees, owned here; the
        // caller guarantees a non-NULL `args` is live.
        unsafe {
            let args = if args.is_null() {
                match tuple::empty() {
                    Ok(t) => t,
                    Err(_) => {
                        decref(op);
                        return null_mut();
                    }
                }
            } else {
                new_ref(args)
            };
            (*op.cast::<PyBaseExceptionObject>()).args = args;
        }
        op
    })
}

/// The name CPython's messages give a type: `tp_name`, which for a class
/// made at run time is its short name.
///
/// # Safety
/// `ty` must be a type object.
unsafe fn message_name<'a>(ty: *mut PyTypeObject) -> &'a str {
    // SAFETY: the caller guarantees `ty` is a type object.
    unsafe {
        if (*ty).tp_flags & Py_TPFLAGS_HEAPTYPE != 0 {
            typeobj::short_name(ty)
        } else {
            typeobj::name(ty)
        }
    }
}

/// `tp_init` of the exception classes: replaces `args`; keyword arguments
/// are refused.
///
/// # Safety
/// `op` must be a live exception instance, `args` and `kwds` NULL or live.
unsafe extern "C-unwind" fn exc_init(
    op: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> c_int {
    guard(-1, || {
        // SAFETY: the caller guarantees both are NULL or live.
        if unsafe { protocol::check_args(args, kwds) }.is_err() {
            return -1;
        }
        if !kwds.is_null() {
            // SAFETY: `kwds` is a dict (checked above), and `op` is live, so its
            // type is.
            unsafe {
                if dict::len(kwds) > 0 {
                    errors::type_error(&format!(
                        "{}() takes no keyword arguments",
                        message_name(type_of(op))
                    ));
                    return -1;
                }
            }
        }
        if !args.is_null() {
            let e = op.cast::<PyBaseExceptionObject>();
            // SAFETY: the caller guarantees `op` is a live exception instance,
            // whose `args` is NULL or an owned reference (replaced here), and a
            // non-NULL `args` live.
            unsafe {
                let old = core::mem::replace(&mut (*e).args, new_ref(args));
                xdecref(old);
            }
        }
        0
    })
}

/// `tp_dealloc` of the exception classes: releases `args`, in constant
/// stack however deep exceptions nest in arguments ([`Graveyard`]).
///
/// # Safety
/// `op` must be an exception instance whose reference count has dropped to
/// zero.
pub(crate) unsafe extern "C-unwind" fn exc_dealloc(op: *mut PyObject) {
    guard((), || {
        // SAFETY: the caller's guarantee is what `clear` needs.
        unsafe { Graveyard::dealloc_container(op, clear) }
    })
}

/// Releases the argument tuple of a dead exception into `graveyard`.
///
/// # Safety
/// `op` must be an exception instance whose reference count has dropped to
/// zero.
pub(crate) unsafe fn clear(op: *mut PyObject, graveyard: &mut Graveyard) {
    // SAFETY: per the contract, `args` is NULL or an owned reference,
    // released once (the field is cleared first).
    unsafe {
        let args = core::mem::replace(&mut (*op.cast::<PyBaseExceptionObject>()).args, null_mut());
        graveyard.release(args);
    }
}

/// Runs `f` with the argument tuple of `op`, held meanwhile: the user code
/// `f` runs (a `tp_repr`) may replace it (`tp_init`).
///
/// # Safety
/// `op` must be a live exception instance.
unsafe fn with_args<R>(op: *mut PyObject, f: impl FnOnce(*mut PyObject) -> R) -> R {
    // SAFETY: the caller guarantees `op` is a live exception instance, so
    // its `args` is a live tuple; the reference taken is released once.
    unsafe {
        let args = new_ref(args_of(op));
        let r = f(args);
        decref(args);
        r
    }
}

/// `tp_str` of the exception classes: `""`, `str` of the one argument, or
/// `str` of the argument tuple.
///
/// # Safety
/// `op` must be a live exception instance.
unsafe extern "C-unwind" fn exc_str(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live exception instance; its
        // `args` is a live tuple of live items, held meanwhile.
        unsafe {
            with_args(op, |args| match tuple::items(args) {
                [] => unicode::from_str(""),
                [one] => protocol::str_object(*one).unwrap_or(null_mut()),
                _ => protocol::str_object(args).unwrap_or(null_mut()),
            })
        }
    })
}

/// `tp_str` of `KeyError`: the repr of the one argument, else as
/// [`exc_str`].
///
/// # Safety
/// `op` must be a live exception instance.
unsafe extern "C-unwind" fn key_error_str(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live exception instance; its
        // `args` is a live tuple of live items, held meanwhile.
        unsafe {
            with_args(op, |args| match tuple::items(args) {
                [one] => protocol::repr_object(*one).unwrap_or(null_mut()),
                _ => exc_str(op),
            })
        }
    })
}

/// `tp_str` of `OSError` and its subclasses: `[Errno N] text` for the two
/// arguments `(errno, strerror)`, else as [`exc_str`] (CPython).
///
/// # Safety
/// `op` must be a live exception instance.
unsafe extern "C-unwind" fn os_error_str(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live exception instance; its
        // `args` is a live tuple of live items, held meanwhile.
        unsafe {
            with_args(op, |args| match tuple::items(args) {
                &[errno, text] => {
                    let mut out = String::from("[Errno ");
                    let shown = protocol::push_str(&mut out, errno).and_then(|()| {
                        out.push_str("] ");
                        protocol::push_str(&mut out, text)
                    });
                    shown.map_or(null_mut(), |()| unicode::from_str(&out))
                }
                _ => exc_str(op),
            })
        }
    })
}

/// `tp_repr` of the exception classes: `Name(arg)` or `Name(args...)`.
///
/// # Safety
/// `op` must be a live exception instance.
unsafe extern "C-unwind" fn exc_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live exception instance, so
        // its type is a type object; its `args` is a live tuple of live items,
        // held meanwhile.
        unsafe {
            let mut out = repr_prefix(op);
            let shown: PyResult<()> = with_args(op, |args| {
                // One argument shows as `(repr)`, others as the tuple's repr.
                let one = tuple::len(args) == 1;
                if one {
                    out.push('(');
                }
                protocol::push_repr(&mut out, if one { tuple::get(args, 0) } else { args })?;
                if one {
                    out.push(')');
                }
                Ok(())
            });
            match shown {
                Ok(()) => unicode::from_string(out),
                Err(_) => null_mut(),
            }
        }
    })
}

/// The start of the repr of an exception: its class's short name. Out of
/// line: `exc_repr` is a frame of every level of a nested repr.
///
/// # Safety
/// `op` must be a live exception instance.
#[inline(never)]
unsafe fn repr_prefix(op: *mut PyObject) -> String {
    // SAFETY: the caller guarantees `op` is live, so its type is a type
    // object.
    unsafe { typeobj::short_name(type_of(op)) }.to_string()
}

const fn exc_type(
    name: &'static CStr,
    base: *mut PyTypeObject,
    str_slot: reprfunc,
) -> PyTypeObject {
    PyTypeObject {
        tp_new: Some(exc_new),
        tp_init: Some(exc_init),
        tp_dealloc: Some(exc_dealloc),
        tp_str: str_slot,
        tp_repr: Some(exc_repr),
        ..builtin(
            &raw mut PyType_Type,
            name,
            core::mem::size_of::<PyBaseExceptionObject>(),
            0,
            base,
            Py_TPFLAGS_BASETYPE,
        )
    }
}

/// The `tp_str` of a row of [`exception_classes`]: [`exc_str`] unless the
/// row names another.
macro_rules! str_slot {
    () => {
        exc_str
    };
    ($f:ident) => {
        $f
    };
}

macro_rules! exception_classes {
    ($($ty:ident, $getter:ident, $name:literal, $base:expr $(, $str:ident)?;)*) => {
        $(
            static mut $ty: PyTypeObject = exc_type($name, $base, Some(str_slot!($($str)?)));

            #[doc = concat!("The `", stringify!($name), "` class, borrowed.")]
            #[inline]
            pub fn $getter() -> *mut PyObject {
                (&raw mut $ty).cast()
            }
        )*
    };
}

exception_classes! {
BASE_EXCEPTION, base_exception, c"BaseException", &raw mut typeobj::PyBaseObject_Type;
SYSTEM_EXIT, system_exit, c"SystemExit", &raw mut BASE_EXCEPTION;
TASKLET_EXIT, tasklet_exit, c"TaskletExit", &raw mut SYSTEM_EXIT;
EXCEPTION, exception, c"Exception", &raw mut BASE_EXCEPTION;
STOP_ITERATION, stop_iteration, c"StopIteration", &raw mut EXCEPTION;
ARITHMETIC_ERROR, arithmetic_error, c"ArithmeticError", &raw mut EXCEPTION;
ZERO_DIVISION_ERROR, zero_division_error, c"ZeroDivisionError", &raw mut ARITHMETIC_ERROR;
OVERFLOW_ERROR, overflow_error, c"OverflowError", &raw mut ARITHMETIC_ERROR;
ATTRIBUTE_ERROR, attribute_error, c"AttributeError", &raw mut EXCEPTION;
LOOKUP_ERROR, lookup_error, c"LookupError", &raw mut EXCEPTION;
INDEX_ERROR, index_error, c"IndexError", &raw mut LOOKUP_ERROR;
MEMORY_ERROR, memory_error, c"MemoryError", &raw mut EXCEPTION;
RUNTIME_ERROR, runtime_error, c"RuntimeError", &raw mut EXCEPTION;
RECURSION_ERROR, recursion_error, c"RecursionError", &raw mut RUNTIME_ERROR;
OS_ERROR, os_error, c"OSError", &raw mut EXCEPTION, os_error_str;
TIMEOUT_ERROR, timeout_error, c"TimeoutError", &raw mut OS_ERROR, os_error_str;
NOT_IMPLEMENTED_ERROR, not_implemented_error, c"NotImplementedError", &raw mut RUNTIME_ERROR;
SYSTEM_ERROR, system_error, c"SystemError", &raw mut EXCEPTION;
TYPE_ERROR, type_error, c"TypeError", &raw mut EXCEPTION;
VALUE_ERROR, value_error, c"ValueError", &raw mut EXCEPTION;
WARNING, warning, c"Warning", &raw mut EXCEPTION;
USER_WARNING, user_warning, c"UserWarning", &raw mut WARNING;
}

/// The BaseException exception class.
#[no_mangle]
pub static mut PyExc_BaseException: *mut PyObject = (&raw mut BASE_EXCEPTION).cast();

/// The SystemExit exception class.
#[no_mangle]
pub static mut PyExc_SystemExit: *mut PyObject = (&raw mut SYSTEM_EXIT).cast();

/// The TaskletExit exception class.
#[no_mangle]
pub static mut PyExc_TaskletExit: *mut PyObject = (&raw mut TASKLET_EXIT).cast();

/// The Exception exception class.
#[no_mangle]
pub static mut PyExc_Exception: *mut PyObject = (&raw mut EXCEPTION).cast();

/// The StopIteration exception class.
#[no_mangle]
pub static mut PyExc_StopIteration: *mut PyObject = (&raw mut STOP_ITERATION).cast();

/// The ArithmeticError exception class.
#[no_mangle]
pub static mut PyExc_ArithmeticError: *mut PyObject = (&raw mut ARITHMETIC_ERROR).cast();

/// The ZeroDivisionError exception class.
#[no_mangle]
pub static mut PyExc_ZeroDivisionError: *mut PyObject = (&raw mut ZERO_DIVISION_ERROR).cast();

/// The OverflowError exception class.
#[no_mangle]
pub static mut PyExc_OverflowError: *mut PyObject = (&raw mut OVERFLOW_ERROR).cast();

/// The AttributeError exception class.
#[no_mangle]
pub static mut PyExc_AttributeError: *mut PyObject = (&raw mut ATTRIBUTE_ERROR).cast();

/// The LookupError exception class.
#[no_mangle]
pub static mut PyExc_LookupError: *mut PyObject = (&raw mut LOOKUP_ERROR).cast();

/// The IndexError exception class.
#[no_mangle]
pub static mut PyExc_IndexError: *mut PyObject = (&raw mut INDEX_ERROR).cast();

/// The MemoryError exception class.
#[no_mangle]
pub static mut PyExc_MemoryError: *mut PyObject = (&raw mut MEMORY_ERROR).cast();

/// The RuntimeError exception class.
#[no_mangle]
pub static mut PyExc_RuntimeError: *mut PyObject = (&raw mut RUNTIME_ERROR).cast();

/// The RecursionError exception class.
#[no_mangle]
pub static mut PyExc_RecursionError: *mut PyObject = (&raw mut RECURSION_ERROR).cast();

/// The OSError exception class (base Exception): OSError(errno,
/// strerror) reads [Errno N] strerror.
#[no_mangle]
pub static mut PyExc_OSError: *mut PyObject = (&raw mut OS_ERROR).cast();

/// The TimeoutError exception class (base OSError).
#[no_mangle]
pub static mut PyExc_TimeoutError: *mut PyObject = (&raw mut TIMEOUT_ERROR).cast();

/// The NotImplementedError exception class.
#[no_mangle]
pub static mut PyExc_NotImplementedError: *mut PyObject = (&raw mut NOT_IMPLEMENTED_ERROR).cast();

/// The SystemError exception class.
#[no_mangle]
pub static mut PyExc_SystemError: *mut PyObject = (&raw mut SYSTEM_ERROR).cast();

/// The TypeError exception class.
#[no_mangle]
pub static mut PyExc_TypeError: *mut PyObject = (&raw mut TYPE_ERROR).cast();

/// The ValueError exception class.
#[no_mangle]
pub static mut PyExc_ValueError: *mut PyObject = (&raw mut VALUE_ERROR).cast();

/// The Warning exception class.
#[no_mangle]
pub static mut PyExc_Warning: *mut PyObject = (&raw mut WARNING).cast();

/// The UserWarning exception class.
#[no_mangle]
pub static mut PyExc_UserWarning: *mut PyObject = (&raw mut USER_WARNING).cast();

// KeyError's `str()` is the repr of its single argument.
static mut KEY_ERROR: PyTypeObject =
    exc_type(c"KeyError", &raw mut LOOKUP_ERROR, Some(key_error_str));

/// The KeyError exception class.
#[no_mangle]
pub static mut PyExc_KeyError: *mut PyObject = (&raw mut KEY_ERROR).cast();

/// The `KeyError` exception class, borrowed.
pub fn key_error() -> *mut PyObject {
    (&raw mut KEY_ERROR).cast()
}

/// Whether `op` is an exception class (a subclass of BaseException).
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn is_class(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; it is treated as a type
    // object only once it is known to be one.
    unsafe { typeobj::check(op) && typeobj::is_subtype(op.cast(), base_exception().cast()) }
}

/// Whether `op` is an exception instance.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn is_instance(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; BaseException is a type.
    unsafe { type_check(op, base_exception().cast()) }
}

// The `args` of an instance that was allocated without `tp_new`
// (`PyType_GenericAlloc`): an immortal empty tuple.
static mut NO_ARGS: PyVarObject = PyVarObject {
    ob_base: static_header(&raw mut tuple::PyTuple_Type),
    ob_size: 0,
};

/// The argument tuple of an exception instance, borrowed (never NULL).
///
/// # Safety
/// `op` must be an exception instance.
pub unsafe fn args_of(op: *mut PyObject) -> *mut PyObject {
    // SAFETY: the caller guarantees `op` is an exception instance, laid out
    // as `PyBaseExceptionObject`.
    let args = unsafe { (*op.cast::<PyBaseExceptionObject>()).args };
    if args.is_null() {
        (&raw mut NO_ARGS).cast()
    } else {
        args
    }
}

/// Creates an instance of the class `ty` from a raw error value: NULL means
/// no arguments, a tuple is the argument tuple, anything else one argument.
///
/// # Safety
/// `ty` must be an exception class; `value` NULL or a live object.
pub unsafe fn instantiate(ty: *mut PyObject, value: *mut PyObject) -> PyResult<*mut PyObject> {
    // SAFETY: the caller guarantees `value` is NULL (checked first) or
    // live, and `ty` a live exception class (callable: `type_call`);
    // `args` is a tuple owned here and released once.
    unsafe {
        let args = if value.is_null() {
            tuple::empty()?
        } else if tuple::check(value) {
            new_ref(value)
        } else {
            tuple::from_borrowed(&[value])?
        };
        let inst = protocol::call(ty, args, null_mut());
        decref(args);
        inst
    }
}

/// `PyErr_NewException("module.Name", base, dict)`.
///
/// # Safety
/// `base` must be NULL or a live object.
pub unsafe fn new_class(name: &CStr, base: *mut PyObject) -> PyResult<*mut PyObject> {
    if !name.to_bytes().contains(&b'.') {
        return Err(errors::system_error(
            "PyErr_NewException: name must be module.class",
        ));
    }
    let base = if base.is_null() { exception() } else { base };
    // SAFETY: `base` is `Exception` or, by the caller's contract, live.
    if !unsafe { is_class(base) } {
        return Err(errors::type_error(
            "PyErr_NewException: base must be an exception class",
        ));
    }
    // SAFETY: `base` is an exception class, so a live type object: a ready
    // one (the built-in classes, those made here), or a user's class, which
    // is writable until `PyType_Ready` ran on it.
    unsafe { typeobj::new_heap_type(name, base.cast()) }
}
