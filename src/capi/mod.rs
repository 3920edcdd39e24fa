//! The exported C functions. Every export is a plain `#[no_mangle] pub
//! extern "C" fn` whose body goes through [`guard`]: argument checks, a call
//! into the core, and the mapping to the C convention. No logic lives here.

pub mod object;

pub mod callbacks;
pub mod channel;
pub mod errors;
pub mod interface;
pub mod io;
pub mod module;
pub mod tasklet;
pub mod time;

use crate::errors::{self as err, PyResult, Raised};
use crate::object::PyObject;
use core::ffi::c_int;
use core::ptr::null_mut;

/// A new reference, or NULL when the core failed.
pub(crate) fn to_object(r: PyResult<*mut PyObject>) -> *mut PyObject {
    r.unwrap_or(null_mut())
}

/// `0` on success, `-1` when the core failed.
pub(crate) fn to_status(r: PyResult<()>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(Raised) => -1,
    }
}

/// The one argument check of every export. `op` must not be NULL and must
/// pass `check` (a type check such as `tasklet::check`; [`any`] for a
/// parameter of any type); else `SystemError("bad argument to internal
/// function")`, CPython's answer to a C caller's bad argument. Nothing is
/// read from `op` before the NULL check.
pub(crate) fn required_kind<T>(
    op: *mut T,
    check: unsafe fn(*mut PyObject) -> bool,
) -> PyResult<*mut T> {
    valid(op, check).ok_or_else(err::bad_internal_call)
}

/// [`required_kind`] with [`any`]: a required object of any type.
pub(crate) fn required<T>(op: *mut T) -> PyResult<*mut T> {
    required_kind(op, any)
}

/// [`required_kind`] for an optional parameter: NULL passes.
pub(crate) fn optional_kind<T>(
    op: *mut T,
    check: unsafe fn(*mut PyObject) -> bool,
) -> PyResult<*mut T> {
    if op.is_null() {
        Ok(op)
    } else {
        required_kind(op, check)
    }
}

/// The same check for the predicates and getters that answer a default,
/// with no exception, for bad input: `Some(op)` when it passes.
pub(crate) fn valid<T>(op: *mut T, check: unsafe fn(*mut PyObject) -> bool) -> Option<*mut T> {
    // SAFETY: checked non-NULL before `check` reads its type; C callers
    // pass live objects.
    (!op.is_null() && unsafe { check(op.cast()) }).then_some(op)
}

/// The check of a parameter of any type.
///
/// # Safety
/// None: reads nothing.
pub(crate) unsafe fn any(_op: *mut PyObject) -> bool {
    true
}
