//! The exported C functions. Every export is a plain `#[no_mangle] pub
//! extern "C" fn` whose body goes through [`guard`]: argument checks, a call
//! into the core, and the mapping to the C convention. No logic lives here.

pub mod object;

pub mod callbacks;
pub mod channel;
pub mod errors;
pub mod interface;
pub mod module;
pub mod tasklet;

use crate::errors::{self as err, PyResult, Raised};
use crate::object::PyObject;
use core::ffi::c_int;
use core::ptr::null_mut;

/// Runs the body of an export: a panic becomes `SystemError` and `fail`.
/// No unwinding ever crosses into C.
#[inline(always)]
pub(crate) fn guard<R>(fail: R, body: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            err::system_error(&format!("internal error in libstackless: {what}"));
            fail
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::guard;
    use crate::errors;
    use crate::object::{exceptions, unicode};

    /// Takes the pending exception and returns its type and message.
    fn take_error() -> (*mut crate::object::PyObject, String) {
        let state = errors::take();
        assert!(state.is_set(), "no exception is set");
        // SAFETY: the taken triple owns its references; the value of a
        // `set_string` error is a str.
        unsafe {
            assert!(unicode::check(state.value));
            let message = unicode::as_str(state.value).to_string();
            let ty = state.ty;
            state.release();
            (ty, message)
        }
    }

    /// A panic inside `guard` becomes `SystemError` and the failure value.
    #[test]
    fn a_panic_in_guard_becomes_system_error() {
        errors::clear();
        assert_eq!(guard(-1, || -> i32 { panic!("x") }), -1);
        let (ty, message) = take_error();
        assert_eq!(ty, exceptions::system_error());
        assert_eq!(message, "internal error in libstackless: x");

        // A formatted payload (a String) and a pointer failure value.
        let n = 7;
        let r = guard(core::ptr::null_mut(), || -> *mut u8 { panic!("bad {n}") });
        assert!(r.is_null());
        let (ty, message) = take_error();
        assert_eq!(ty, exceptions::system_error());
        assert_eq!(message, "internal error in libstackless: bad 7");
    }

    /// A panic replaces an exception the body had set; a body that returns
    /// leaves the indicator alone.
    #[test]
    fn guard_passes_results_through() {
        errors::clear();
        assert_eq!(guard(-1, || 5), 5);
        assert!(!errors::is_set());
        let r = guard(-1, || -> i32 {
            errors::value_error("first");
            panic!("then a panic")
        });
        assert_eq!(r, -1);
        let (ty, message) = take_error();
        assert_eq!(ty, exceptions::system_error());
        assert_eq!(message, "internal error in libstackless: then a panic");
    }

    /// Every export of `src/capi` runs its body inside `guard`.
    #[test]
    fn every_export_goes_through_the_guard() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/capi");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines = text.lines().peekable();
            while let Some(line) = lines.next() {
                if !line.starts_with("pub extern \"C\" fn")
                    && !line.starts_with("pub unsafe extern \"C\" fn")
                {
                    continue;
                }
                // The body starts after the signature's opening brace.
                let mut sig = line.to_string();
                while !sig.trim_end().ends_with('{') {
                    sig = lines.next().unwrap().to_string();
                }
                let body = lines.next().unwrap().trim();
                assert!(
                    body.starts_with("guard("),
                    "{}: export `{}` does not start with guard(",
                    path.display(),
                    line
                );
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} exports found");
    }
}
