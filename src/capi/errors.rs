//! Exports of the error indicator (`PyErr_*`). The indicator is per thread
//! and, inside the scheduler, per tasklet: switches never carry an error
//! from one tasklet to another.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{optional_kind, required, to_object};
use crate::errors::guard;
use crate::errors::{self as err, ErrorState};
use crate::object::{self, exceptions, PyObject};
use core::ffi::{c_char, c_int, CStr};
use core::ptr::null_mut;

/// Sets the error indicator to (type, str(message)). A type that is no
/// exception class, or a NULL message, sets SystemError instead.
#[no_mangle]
pub extern "C" fn PyErr_SetString(r#type: *mut PyObject, message: *const c_char) {
    guard((), || {
        // SAFETY: `type` is checked; `message` is NUL-terminated per the C API.
        unsafe {
            if err::check_exception_class(r#type).is_err() || required(message.cast_mut()).is_err()
            {
                return;
            }
            err::set_string(r#type, &CStr::from_ptr(message).to_string_lossy());
        }
    })
}

/// Sets the error indicator to (type, value); both borrowed, value may
/// be NULL.
#[no_mangle]
pub extern "C" fn PyErr_SetObject(r#type: *mut PyObject, value: *mut PyObject) {
    guard((), || {
        // SAFETY: `type` is checked; `value` NULL or live.
        unsafe {
            if err::check_exception_class(r#type).is_ok() {
                err::set_object(r#type, value);
            }
        }
    })
}

/// Sets the error indicator to (type, NULL).
#[no_mangle]
pub extern "C" fn PyErr_SetNone(r#type: *mut PyObject) {
    guard((), || PyErr_SetObject(r#type, null_mut()))
}

/// The pending exception's type, borrowed, or NULL when none is set.
#[no_mangle]
pub extern "C" fn PyErr_Occurred() -> *mut PyObject {
    guard(null_mut(), err::occurred)
}

/// Clears the error indicator.
#[no_mangle]
pub extern "C" fn PyErr_Clear() {
    guard((), err::clear)
}

/// Checks the three out-pointers of `PyErr_Fetch`/`NormalizeException`.
fn triple_arg(
    ptype: *mut *mut PyObject,
    pvalue: *mut *mut PyObject,
    ptb: *mut *mut PyObject,
) -> Option<()> {
    if ptype.is_null() || pvalue.is_null() || ptb.is_null() {
        err::bad_internal_call();
        return None;
    }
    Some(())
}

/// Stores a triple into checked out-pointers.
///
/// # Safety
/// The pointers must have passed [`triple_arg`].
unsafe fn store_triple(
    state: ErrorState,
    ptype: *mut *mut PyObject,
    pvalue: *mut *mut PyObject,
    ptb: *mut *mut PyObject,
) {
    // SAFETY: the out-pointers were checked non-NULL by `triple_arg`.
    unsafe {
        *ptype = state.ty;
        *pvalue = state.value;
        *ptb = state.tb;
    }
}

/// Moves the error indicator into *ptype, *pvalue, *ptb (new
/// references, NULL when absent) and clears it.
#[no_mangle]
pub extern "C" fn PyErr_Fetch(
    ptype: *mut *mut PyObject,
    pvalue: *mut *mut PyObject,
    ptb: *mut *mut PyObject,
) {
    guard((), || {
        if triple_arg(ptype, pvalue, ptb).is_some() {
            // SAFETY: the three out-pointers were checked.
            unsafe { store_triple(err::take(), ptype, pvalue, ptb) }
        }
    })
}

/// Sets the error indicator from a triple, stealing the three references
/// (any may be NULL; a NULL type clears it). A type that is no exception
/// class sets SystemError instead (the references are still released).
#[no_mangle]
pub extern "C" fn PyErr_Restore(r#type: *mut PyObject, value: *mut PyObject, tb: *mut PyObject) {
    guard((), || {
        let state = ErrorState {
            ty: r#type,
            value,
            tb,
        };
        // SAFETY: the three references are stolen: stored, or released once
        // the type was checked (the check reads it).
        unsafe {
            if r#type.is_null() {
                err::clear();
                state.release();
            } else if err::check_exception_class(r#type).is_ok() {
                err::restore(state);
            } else {
                state.release();
            }
        }
    })
}

/// Makes *pvalue an instance of *ptype (in place, owned references), as
/// CPython does for a fetched triple.
#[no_mangle]
pub extern "C" fn PyErr_NormalizeException(
    ptype: *mut *mut PyObject,
    pvalue: *mut *mut PyObject,
    ptb: *mut *mut PyObject,
) {
    guard((), || {
        if triple_arg(ptype, pvalue, ptb).is_none() {
            return;
        }
        // SAFETY: the checked out-pointers hold an owned triple per the C API.
        unsafe {
            let mut state = ErrorState {
                ty: *ptype,
                value: *pvalue,
                tb: *ptb,
            };
            err::normalize(&mut state);
            store_triple(state, ptype, pvalue, ptb);
        }
    })
}

/// 1 if given (a class or instance) matches exc (a class or tuple of
/// classes), else 0.
#[no_mangle]
pub extern "C" fn PyErr_GivenExceptionMatches(given: *mut PyObject, exc: *mut PyObject) -> c_int {
    guard(0, || {
        // SAFETY: NULL or live objects.
        unsafe { err::given_matches(given, exc) as c_int }
    })
}

/// 1 if the pending exception matches exc, else 0.
#[no_mangle]
pub extern "C" fn PyErr_ExceptionMatches(exc: *mut PyObject) -> c_int {
    guard(0, || {
        // SAFETY: NULL or a live object.
        unsafe { err::matches(exc) as c_int }
    })
}

/// A new exception class named name ("module.Name"), deriving from
/// base (NULL: Exception). dict (NULL or a dict) is ignored. New
/// reference, or NULL with SystemError when the name has no dot or dict
/// is no dict, TypeError when base is no exception class.
#[no_mangle]
pub extern "C" fn PyErr_NewException(
    name: *const c_char,
    base: *mut PyObject,
    dict: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        if name.is_null() || optional_kind(dict, object::dict::check).is_err() {
            err::bad_internal_call();
            return null_mut();
        }
        // SAFETY: NUL-terminated name; base NULL or live.
        to_object(unsafe { exceptions::new_class(CStr::from_ptr(name), base) })
    })
}

/// Sets MemoryError; returns NULL.
#[no_mangle]
pub extern "C" fn PyErr_NoMemory() -> *mut PyObject {
    guard(null_mut(), || {
        err::no_memory();
        null_mut()
    })
}

/// Sets TypeError("bad argument type for built-in operation"); returns 0.
#[no_mangle]
pub extern "C" fn PyErr_BadArgument() -> c_int {
    guard(0, || {
        err::type_error(err::BAD_ARGUMENT);
        0
    })
}

/// Sets SystemError("bad argument to internal function").
#[no_mangle]
pub extern "C" fn PyErr_BadInternalCall() {
    guard((), || {
        err::bad_internal_call();
    })
}

/// Writes the pending exception to stderr as TypeName: message and
/// clears it. Does nothing when none is set.
#[no_mangle]
pub extern "C" fn PyErr_Print() {
    guard((), err::print)
}
