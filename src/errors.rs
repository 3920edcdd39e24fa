//! The error indicator (`PyErr_*`): one exception triple per thread, saved
//! and restored per tasklet by the scheduler at every switch.

use crate::object::exceptions as exc;
use crate::object::{self, decref, incref, none, unicode, xdecref, PyObject};
use core::cell::Cell;
use core::ptr::null_mut;
use std::io::Write;

/// Marker for "failed, and the exception is set in the error indicator".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised;

/// The result of a core operation that fails CPython's way.
pub type PyResult<T> = Result<T, Raised>;

/// CPython's `PyErr_BadInternalCall` text.
pub(crate) const BAD_INTERNAL_CALL: &str = "bad argument to internal function";
/// CPython's `PyErr_BadArgument` text.
pub(crate) const BAD_ARGUMENT: &str = "bad argument type for built-in operation";

/// An exception triple `(type, value, traceback)`; any part may be NULL.
#[derive(Clone, Copy, Debug)]
pub struct ErrorState {
    /// The exception type (NULL: no error).
    pub ty: *mut PyObject,
    /// The value: an instance, an argument, or NULL.
    pub value: *mut PyObject,
    /// The traceback (always NULL in this runtime, kept for the C API).
    pub tb: *mut PyObject,
}

impl ErrorState {
    /// No error.
    pub const EMPTY: ErrorState = ErrorState {
        ty: null_mut(),
        value: null_mut(),
        tb: null_mut(),
    };

    /// Whether an error is held.
    pub fn is_set(&self) -> bool {
        !self.ty.is_null()
    }

    /// Drops the references held.
    ///
    /// # Safety
    /// The triple must own its references (each NULL or an owned reference
    /// to a live object); they are given up.
    pub unsafe fn release(self) {
        // SAFETY: the caller guarantees each part is NULL or an owned
        // reference, which is what `xdecref` consumes.
        unsafe {
            xdecref(self.ty);
            xdecref(self.value);
            xdecref(self.tb);
        }
    }
}

/// The per-thread context that is also per tasklet: the error indicator and
/// the recursion depth, saved and restored together at every switch. It has
/// no destructor, so it stays usable in every thread-exit destructor (the
/// scheduler's kills tasklets there); [`ExitRelease`] releases what it holds.
struct ThreadContext {
    curexc: Cell<ErrorState>,
    recursion_depth: Cell<i32>,
}

/// Registered when a thread first sets an error: at thread exit it releases
/// whatever error is still pending.
struct ExitRelease;

impl Drop for ExitRelease {
    fn drop(&mut self) {
        clear();
    }
}

thread_local! {
    static CONTEXT: ThreadContext = const {
        ThreadContext {
            curexc: Cell::new(ErrorState::EMPTY),
            recursion_depth: Cell::new(0),
        }
    };
    static EXIT_RELEASE: ExitRelease = const { ExitRelease };
}

/// Takes the whole error indicator out, leaving it empty (owned references).
pub fn take() -> ErrorState {
    CONTEXT
        .try_with(|c| c.curexc.replace(ErrorState::EMPTY))
        .unwrap_or(ErrorState::EMPTY)
}

/// Puts `state` into the error indicator, releasing what was there.
///
/// # Safety
/// `state` must own its references (they are stolen).
pub unsafe fn restore(state: ErrorState) {
    if state.is_set() {
        // Registers the release at thread exit (nothing once it ran).
        let _ = EXIT_RELEASE.try_with(|_| ());
    }
    let old = CONTEXT
        .try_with(|c| c.curexc.replace(state))
        .unwrap_or(state);
    // SAFETY: `old` is what the indicator held, which owns its references,
    // or (the thread-local is gone) `state`, whose references the caller
    // gave us.
    unsafe { old.release() };
}

/// The current exception type, borrowed, or NULL.
pub fn occurred() -> *mut PyObject {
    CONTEXT
        .try_with(|c| c.curexc.get().ty)
        .unwrap_or(null_mut())
}

/// Whether an exception is set.
pub fn is_set() -> bool {
    !occurred().is_null()
}

/// The calling thread's recursion depth (`Py_EnterRecursiveCall`'s count).
pub fn recursion_depth() -> i32 {
    CONTEXT.try_with(|c| c.recursion_depth.get()).unwrap_or(0)
}

/// Replaces the calling thread's recursion depth.
pub fn set_recursion_depth(depth: i32) {
    let _ = CONTEXT.try_with(|c| c.recursion_depth.set(depth));
}

/// A switch: moves the thread's error indicator and recursion depth into
/// `saved_err`/`saved_depth` (of the tasklet leaving) and installs
/// `err`/`depth` (of the tasklet resuming), in one thread-local access.
///
/// # Safety
/// `err` must own its references (the indicator takes them over);
/// `saved_err` must be empty (what it holds is overwritten, not released).
pub unsafe fn exchange_context(
    saved_err: &mut ErrorState,
    saved_depth: &mut i32,
    err: ErrorState,
    depth: i32,
) {
    let _ = CONTEXT.try_with(|c| {
        *saved_err = c.curexc.replace(err);
        *saved_depth = c.recursion_depth.replace(depth);
    });
}

/// `PyErr_Clear`.
pub fn clear() {
    // SAFETY: the triple taken out of the indicator owns its references.
    unsafe { take().release() }
}

/// `PyErr_SetObject(ty, value)`: borrows both.
///
/// # Safety
/// `ty` must be an exception class; `value` NULL or a live object.
pub unsafe fn set_object(ty: *mut PyObject, value: *mut PyObject) -> Raised {
    // SAFETY: the caller guarantees `ty` is live and `value` NULL or live;
    // the references taken here are the ones `restore` steals.
    unsafe {
        incref(ty);
        object::xincref(value);
        restore(ErrorState {
            ty,
            value,
            tb: null_mut(),
        });
    }
    Raised
}

/// `PyErr_SetString(ty, msg)`. `ty` must be an exception class: one of
/// [`exc`]'s, or one the caller checked with [`check_exception_class`].
// Safe to call so that the core raises in one line; every caller passes a
// live exception class.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn set_string(ty: *mut PyObject, msg: &str) -> Raised {
    let value = unicode::from_str(msg);
    // SAFETY: `ty` is a live exception class (this function's rule, which
    // every caller keeps); `value` is a new reference, or NULL and not used.
    unsafe {
        if value.is_null() {
            return Raised;
        }
        set_object(ty, value);
        decref(value);
    }
    Raised
}

/// `PyErr_SetNone(ty)`. `ty` must be an exception class, as for
/// [`set_string`].
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn set_none(ty: *mut PyObject) -> Raised {
    // SAFETY: `ty` is a live exception class (this function's rule, which
    // every caller keeps); a NULL value is allowed.
    unsafe { set_object(ty, null_mut()) }
}

/// Sets `SystemError("bad argument to internal function")`.
pub fn bad_internal_call() -> Raised {
    set_string(exc::system_error(), BAD_INTERNAL_CALL)
}

/// Sets a `TypeError` with `msg`.
pub fn type_error(msg: &str) -> Raised {
    set_string(exc::type_error(), msg)
}

/// Sets a `RuntimeError` with `msg`.
pub fn runtime_error(msg: &str) -> Raised {
    set_string(exc::runtime_error(), msg)
}

/// Sets a `ValueError` with `msg`.
pub fn value_error(msg: &str) -> Raised {
    set_string(exc::value_error(), msg)
}

/// Sets a `SystemError` with `msg`.
pub fn system_error(msg: &str) -> Raised {
    set_string(exc::system_error(), msg)
}

/// Sets `TimeoutError("timed out")`: a deadline passed first.
pub fn timed_out() -> Raised {
    set_string(exc::timeout_error(), crate::runtime::messages::TIMED_OUT)
}

/// Sets `OSError(errno, strerror)`, as CPython does for a failed system
/// call: its `str()` is `[Errno N] strerror`.
pub fn os_error(errno: core::ffi::c_int) -> Raised {
    let mut buf = [0 as core::ffi::c_char; 128];
    // SAFETY: `buf` is writable for its length; the XSI strerror_r writes a
    // terminated string into it, or fails and leaves it empty.
    let text = unsafe {
        libc::strerror_r(errno, buf.as_mut_ptr(), buf.len());
        core::ffi::CStr::from_ptr(buf.as_ptr()).to_string_lossy()
    };
    let number = object::long::from_i128(errno.into());
    let text = unicode::from_str(&text);
    // SAFETY: both are new references or NULL; the tuple takes its own.
    unsafe {
        if !number.is_null() && !text.is_null() {
            if let Ok(args) = object::tuple::from_borrowed(&[number, text]) {
                set_object(exc::os_error(), args);
                decref(args);
            }
        }
        xdecref(number);
        xdecref(text);
    }
    Raised
}

/// `PyErr_NoMemory`.
pub fn no_memory() -> Raised {
    set_none(exc::memory_error())
}

/// How many times [`normalize`] tries again when creating the instance
/// raised a new exception (which then replaces the triple).
const NORMALIZE_ATTEMPTS: usize = 4;

/// Makes sure the held value is an instance of the held type (in place), as
/// CPython's `PyErr_NormalizeException`: a NULL or `None` value means no
/// arguments, a tuple is the argument tuple, another object the only
/// argument; an instance of a subclass makes its class the type. A type that
/// is no exception class is left alone. When creating the instance fails,
/// the new exception replaces the triple and is normalized in turn. The
/// error indicator is left as it was.
///
/// # Safety
/// The triple must own its references.
pub unsafe fn normalize(state: &mut ErrorState) {
    let pending = take();
    // SAFETY: the caller guarantees the triple owns its references, and the
    // indicator is now empty, as `normalize_triple` needs; `pending` was
    // taken out of the indicator, so it owns its references.
    unsafe {
        normalize_triple(state);
        restore(pending);
    }
}

/// [`normalize`] with an empty error indicator, which it leaves empty.
///
/// # Safety
/// The triple must own its references, and the error indicator must be
/// empty.
unsafe fn normalize_triple(state: &mut ErrorState) {
    for _ in 0..NORMALIZE_ATTEMPTS {
        let (ty, value) = (state.ty, state.value);
        // SAFETY: the triple owns its references, so a non-NULL `ty` is live.
        if ty.is_null() || !unsafe { exc::is_class(ty) } {
            return;
        }
        if !value.is_null()
            // SAFETY: `value` is not NULL, so (owned by the triple) it is
            // live; `ty` was just checked to be a type object.
            && unsafe { exc::is_instance(value) && object::type_check(value, ty.cast()) }
        {
            // SAFETY: `value` is live, so its type is; the triple owns `ty`,
            // which it gives up for a new reference to `cls`.
            unsafe {
                let cls = object::type_of(value).cast::<PyObject>();
                if cls != ty {
                    incref(cls);
                    decref(ty);
                    state.ty = cls;
                }
            }
            return;
        }
        let arg = if value == none::none() {
            null_mut()
        } else {
            value
        };
        // SAFETY: `ty` is a live exception class (checked above) and `arg`
        // NULL or the live value.
        match unsafe { exc::instantiate(ty, arg) } {
            Ok(inst) => {
                // SAFETY: the triple owns `value`, replaced by `inst`.
                unsafe { xdecref(value) };
                state.value = inst;
                return;
            }
            Err(Raised) => {
                // The new error replaces the old one; the old traceback is
                // kept when the new error has none.
                let mut new = take();
                // SAFETY: the triple owns `ty`, `value` and its traceback;
                // each is given up once (the traceback either moves to `new`
                // or is released) before `new` replaces the triple.
                unsafe {
                    if new.tb.is_null() {
                        new.tb = state.tb;
                    } else {
                        xdecref(state.tb);
                    }
                    decref(ty);
                    xdecref(value);
                }
                *state = new;
            }
        }
    }
}

/// Whether `given` (a class or an instance) matches `exc` (a class or a
/// tuple of classes, nested to any depth: walked without recursion), as
/// `PyErr_GivenExceptionMatches`: an exception instance stands for its
/// class, exception classes match their subclasses, and any other objects
/// match only themselves.
///
/// # Safety
/// Both must be NULL or live objects.
pub unsafe fn given_matches(given: *mut PyObject, exc_: *mut PyObject) -> bool {
    if given.is_null() || exc_.is_null() {
        return false;
    }
    // SAFETY: both are not NULL, so by the caller's contract live; the items
    // of a tuple are NULL or live, and the tuple keeps them alive meanwhile.
    unsafe {
        let given = if exc::is_instance(given) {
            object::type_of(given).cast()
        } else {
            given
        };
        if !object::tuple::check(exc_) {
            return matches_class(given, exc_);
        }
        let mut pending = vec![exc_];
        while let Some(e) = pending.pop() {
            if e.is_null() {
                continue;
            }
            if object::tuple::check(e) {
                pending.extend(object::tuple::items(e).iter().rev());
            } else if matches_class(given, e) {
                return true;
            }
        }
        false
    }
}

/// Whether `given` (no instance) matches the class `exc_`: a subclass of
/// it when both are exception classes, else `exc_` itself.
///
/// # Safety
/// Both must be live objects.
unsafe fn matches_class(given: *mut PyObject, exc_: *mut PyObject) -> bool {
    // SAFETY: both are live; `is_subtype` is reached only with two
    // exception classes (type objects).
    unsafe {
        if exc::is_class(given) && exc::is_class(exc_) {
            object::typeobj::is_subtype(given.cast(), exc_.cast())
        } else {
            given == exc_
        }
    }
}

/// Whether the pending exception matches `exc_`.
///
/// # Safety
/// `exc_` must be NULL or a live object.
pub unsafe fn matches(exc_: *mut PyObject) -> bool {
    // SAFETY: the pending type is NULL or held by the indicator (live);
    // the caller guarantees `exc_` is NULL or live.
    unsafe { given_matches(occurred(), exc_) }
}

/// `TypeName: message` (or `TypeName` when the message is empty), as
/// `PyErr_Print` writes an exception.
///
/// # Safety
/// The triple must hold live objects (or NULLs) and own its references, its
/// type must be NULL or an exception class (as the error indicator's always
/// is); it is replaced by its normalized form, which owns its references.
pub unsafe fn describe(state: &mut ErrorState) -> String {
    // SAFETY: the caller guarantees the triple owns its references.
    unsafe { normalize(state) };
    if state.ty.is_null() {
        return String::new();
    }
    // SAFETY: normalizing leaves the caller's exception class or puts the
    // class of a new error there: either way a live type object.
    let name = unsafe { object::typeobj::name(state.ty.cast()) }.to_string();
    let msg = if state.value.is_null() {
        Ok(String::new())
    } else {
        // SAFETY: a non-NULL value of the triple is live.
        unsafe { object::protocol::str_string(state.value) }
    };
    match msg {
        Ok(m) if m.is_empty() => name,
        Ok(m) => format!("{name}: {m}"),
        Err(Raised) => {
            clear();
            format!("{name}: <exception str() failed>")
        }
    }
}

/// Takes the pending exception and writes it to stderr as `PyErr_Print`.
/// A failed write (a full disk, a closed pipe) is ignored, as CPython does.
pub fn print() {
    let mut state = take();
    if !state.is_set() {
        return;
    }
    // SAFETY: the taken triple owns its references.
    let text = unsafe {
        let text = describe(&mut state);
        state.release();
        text
    };
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Checks that `ty` is an exception class, for `PyErr_Set*`.
///
/// # Safety
/// `ty` must be NULL or a live object.
pub unsafe fn check_exception_class(ty: *mut PyObject) -> PyResult<()> {
    if ty.is_null() {
        return Err(bad_internal_call());
    }
    // SAFETY: `ty` is not NULL, so by the caller's contract it is live.
    if unsafe { exc::is_class(ty) } {
        return Ok(());
    }
    // SAFETY: as above, `ty` is live.
    let shown = unsafe { object::protocol::repr_string(ty) }?;
    Err(system_error(&format!(
        "exception {shown} not a BaseException subclass"
    )))
}

/// Runs the body of an export or of a slot that C code may call: a panic
/// becomes `SystemError` and `fail`. No unwinding ever crosses into C.
#[inline(always)]
pub(crate) fn guard<R>(fail: R, body: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(payload) => {
            internal_error(&*payload);
            fail
        }
    }
}

/// Sets the `SystemError` of a panic that [`guard`] caught. Out of line: a
/// panic is a bug, and the export's fast path stays small.
#[cold]
#[inline(never)]
fn internal_error(payload: &(dyn std::any::Any + Send)) {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    system_error(&format!("internal error in libstackless: {what}"));
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

    /// The Rust files under `dir`, recursively.
    fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// Every function C code may call runs its body inside `guard`: each
    /// export (`#[no_mangle]`) and each slot a type object stores (an
    /// `extern "C-unwind" fn`). The one exception, the fault handler of
    /// `stack.rs`, is an `extern "C" fn` (a panic there aborts): it runs on
    /// the signal stack and must not allocate, as `guard`'s error would.
    #[test]
    fn every_function_c_calls_goes_through_the_guard() {
        let mut files = Vec::new();
        sources(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
            &mut files,
        );
        let (mut exports, mut slots) = (0, 0);
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines = text.lines();
            let mut exported = false;
            while let Some(line) = lines.next() {
                let line = line.trim_start();
                if line == "#[no_mangle]" {
                    exported = true;
                    continue;
                }
                let definition = line
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ");
                // A definition names the function (a type has `fn(`).
                let slot = definition
                    .strip_prefix("unsafe extern \"C-unwind\" fn ")
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_alphabetic()));
                let export = exported && definition.contains("extern \"C\" fn");
                exported = exported && line.starts_with("#[");
                if !slot && !export {
                    continue;
                }
                // The body starts after the signature's opening brace.
                let mut sig = line.to_string();
                while !sig.trim_end().ends_with('{') {
                    sig = lines.next().unwrap().to_string();
                }
                let body = lines.next().unwrap().trim();
                assert!(
                    body.starts_with("guard(") || body.starts_with("errors::guard("),
                    "{}: `{}` does not start with guard(",
                    path.display(),
                    line
                );
                if slot {
                    slots += 1;
                } else {
                    exports += 1;
                }
            }
        }
        assert!(exports >= 130, "only {exports} exports found");
        assert!(slots >= 35, "only {slots} slots found");
    }
}
