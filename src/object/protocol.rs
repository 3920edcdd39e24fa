//! The abstract object protocol: call, str, repr, truth, attributes,
//! isinstance, and the recursion guard.

use super::*;
use crate::errors::{self, PyResult, Raised};
use core::cell::RefCell;
use core::ptr::null_mut;

/// The recursion limit of the guard (`sys.getrecursionlimit()`).
pub(crate) const RECURSION_LIMIT: i32 = 1000;

/// The calling thread's recursion depth (saved per tasklet at switches).
pub fn recursion_depth() -> i32 {
    errors::recursion_depth()
}

/// Replaces the calling thread's recursion depth.
pub fn set_recursion_depth(depth: i32) {
    errors::set_recursion_depth(depth);
}

/// `Py_EnterRecursiveCall(where_)`: `where_` completes the message of the
/// `RecursionError` (`" while calling a Python object"`). The error comes
/// past [`RECURSION_LIMIT`] nested calls, or sooner when the stack is
/// nearly full, so that a recursion stops before any stack overflows.
pub fn enter_recursive_call(where_: &str) -> PyResult<()> {
    let depth = recursion_depth() + 1;
    if depth > RECURSION_LIMIT {
        return Err(recursion_error(where_));
    }
    check_stack(where_)?;
    set_recursion_depth(depth);
    Ok(())
}

/// `RecursionError` when the stack is nearly full, whatever the depth.
fn check_stack(where_: &str) -> PyResult<()> {
    if crate::runtime::thread_state::stack_nearly_full() {
        return Err(recursion_error(where_));
    }
    Ok(())
}

fn recursion_error(where_: &str) -> Raised {
    errors::set_string(
        exceptions::recursion_error(),
        &format!("maximum recursion depth exceeded{where_}"),
    )
}

/// `Py_LeaveRecursiveCall`.
pub fn leave_recursive_call() {
    set_recursion_depth(recursion_depth() - 1);
}

/// CPython's texts for the arguments of a call that are not a tuple and a
/// dict.
const ARGS_NOT_TUPLE: &str = "argument list must be a tuple";
const KWDS_NOT_DICT: &str = "keyword list must be a dictionary";

/// Checks the arguments of a call made later (a tasklet's pending call):
/// `args` NULL or a tuple, `kwds` NULL or a dict, else `TypeError`.
///
/// # Safety
/// `args` and `kwds` must be NULL or live objects.
pub unsafe fn check_call_args(args: *mut PyObject, kwds: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract, each is read only when non-NULL.
    unsafe {
        if !args.is_null() && !tuple::check(args) {
            return Err(errors::type_error(ARGS_NOT_TUPLE));
        }
        if !kwds.is_null() && !dict::check(kwds) {
            return Err(errors::type_error(KWDS_NOT_DICT));
        }
    }
    Ok(())
}

/// The end of the `RecursionError` message of a call.
const CALLING: &str = " while calling a Python object";

/// Checks the arguments of a call slot (`tp_call`, `tp_new`, `tp_init`),
/// which C code may call directly: `args` NULL or a tuple, `kwds` NULL or a
/// dict, else `SystemError("bad argument to internal function")`.
///
/// # Safety
/// Both must be NULL or live.
#[inline]
pub unsafe fn check_args(args: *mut PyObject, kwds: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract, each is checked for NULL first.
    let ok =
        unsafe { (args.is_null() || tuple::check(args)) && (kwds.is_null() || dict::check(kwds)) };
    if ok {
        Ok(())
    } else {
        Err(errors::bad_internal_call())
    }
}

/// `PyObject_Call`: calls `callable(*args, **kwds)` and checks that the
/// result agrees with the error indicator. `args` that is no tuple (NULL
/// included) and `kwds` that is no dict raise `SystemError`.
///
/// # Safety
/// `callable` must be live, `args` and `kwds` NULL or live.
pub unsafe fn call(
    callable: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> PyResult<*mut PyObject> {
    // SAFETY: the caller guarantees both are NULL or live.
    if args.is_null() || unsafe { check_args(args, kwds) }.is_err() {
        return Err(errors::bad_internal_call());
    }
    // SAFETY: the caller guarantees `callable` is live.
    let ty = unsafe { type_of(callable) };
    if ty.is_null() {
        // Only a static type object that `PyType_Ready` has not seen has no
        // type of its own.
        // SAFETY: such a type object is what `require_ready` reads.
        unsafe { typeobj::require_ready(callable.cast()) }?;
        return Err(errors::bad_internal_call());
    }
    // SAFETY: `ty` is the type of a live object.
    let Some(f) = (unsafe { (*ty).tp_call }) else {
        return Err(errors::type_error(&format!(
            "'{}' object is not callable",
            // SAFETY: as above.
            unsafe { typeobj::type_name_of(callable) }
        )));
    };
    // SAFETY: as above.
    let result = if unsafe { cfunction::check(callable) } {
        // A built-in function adds no level (SPEC §9.5), but it stops too
        // when the stack is nearly full. Its call slot's body is called
        // directly: the slot's checks and guard are for C callers.
        check_stack(CALLING)?;
        // SAFETY: a built-in function, `args` a tuple and `kwds` NULL or a
        // dict (checked above).
        unsafe { cfunction::call(callable, args, kwds) }.unwrap_or(null_mut())
    } else {
        enter_recursive_call(CALLING)?;
        // SAFETY: `tp_call` of the callable's own type, with the callable,
        // `args` a tuple and `kwds` NULL or a dict (checked above).
        let result = unsafe { f(callable, args, kwds) };
        leave_recursive_call();
        result
    };
    // SAFETY: `callable` is live; `result` is what the slot returned, NULL
    // or a new reference.
    unsafe { check_result(callable, result) }
}

/// CPython's `_Py_CheckFunctionResult`.
///
/// # Safety
/// `callable` must be live; `result` NULL or an owned reference.
pub unsafe fn check_result(
    callable: *mut PyObject,
    result: *mut PyObject,
) -> PyResult<*mut PyObject> {
    match (result.is_null(), errors::is_set()) {
        (false, false) => Ok(result),
        (true, true) => Err(Raised),
        (true, false) => {
            // SAFETY: the caller guarantees `callable` is live.
            let shown = unsafe { repr_string(callable) }?;
            Err(errors::system_error(&format!(
                "{shown} returned NULL without setting an error"
            )))
        }
        (false, true) => {
            // SAFETY: the caller guarantees `result` is an owned reference
            // (given up here) and `callable` live; `cause` was taken out of
            // the indicator, so it owns its references.
            let shown = unsafe {
                decref(result);
                let cause = errors::take();
                let shown = repr_string(callable);
                cause.release();
                shown
            };
            Err(errors::system_error(&format!(
                "{} returned a result with an error set",
                shown?
            )))
        }
    }
}

/// The str `"<NULL>"`: what repr and str show for NULL (an unfilled tuple
/// slot).
#[cold]
#[inline(never)]
fn null_text() -> PyResult<*mut PyObject> {
    let r = unicode::from_str("<NULL>");
    // A NULL str comes with MemoryError set.
    if r.is_null() {
        Err(Raised)
    } else {
        Ok(r)
    }
}

/// [`enter_recursive_call`] out of line: the frames of a nested repr stay
/// small.
#[inline(never)]
fn enter_text_slot(where_: &str) -> PyResult<()> {
    enter_recursive_call(where_)
}

/// Calls the `tp_repr` or `tp_str` slot `f` of `op` under the recursion
/// guard and checks that it returned a str. One frame of every level of a
/// nested repr: the rest is out of line.
///
/// # Safety
/// `op` must be live and `f` a text slot of its type.
#[inline(always)]
unsafe fn call_text_slot(
    op: *mut PyObject,
    f: unsafe extern "C-unwind" fn(*mut PyObject) -> *mut PyObject,
    where_: &str,
    slot: &'static str,
) -> PyResult<*mut PyObject> {
    enter_text_slot(where_)?;
    // SAFETY: per the contract.
    let r = unsafe { f(op) };
    leave_recursive_call();
    // SAFETY: `r` is NULL or a new reference, as a slot returns.
    if !r.is_null() && unsafe { unicode::check(r) } {
        Ok(r)
    } else {
        // SAFETY: as above.
        Err(unsafe { bad_text_result(r, slot) })
    }
}

/// The error of a text slot that returned no str: NULL without an
/// exception set becomes a `SystemError` (as CPython's result check does
/// for calls), another object a `TypeError` (the object is released).
///
/// # Safety
/// `r` must be NULL or an owned reference to a live object.
#[cold]
#[inline(never)]
unsafe fn bad_text_result(r: *mut PyObject, slot: &str) -> Raised {
    if r.is_null() {
        return if errors::is_set() {
            Raised
        } else {
            errors::system_error("NULL result without error in PyObject_Repr or PyObject_Str")
        };
    }
    // SAFETY: `r` is live, and the caller's reference, given up once its
    // type name was copied.
    let name = unsafe {
        let name = typeobj::type_name_of(r).to_string();
        decref(r);
        name
    };
    errors::type_error(&format!("{slot} returned non-string (type {name})"))
}

/// `PyObject_Repr`: a new str; `"<NULL>"` for NULL (an unfilled tuple slot).
///
/// # Safety
/// `op` must be NULL or live.
pub unsafe fn repr_object(op: *mut PyObject) -> PyResult<*mut PyObject> {
    if op.is_null() {
        return null_text();
    }
    // SAFETY: `op` is not NULL, so by the caller's contract it is live and
    // its type a type object; the repr of `object` serves a type that has
    // none (one that is not ready).
    unsafe {
        let f = (*type_of(op)).tp_repr.unwrap_or(typeobj::object_repr);
        call_text_slot(op, f, " while getting the repr of an object", "__repr__")
    }
}

/// `PyObject_Str`: a new str (falls back to `repr`).
///
/// # Safety
/// `op` must be NULL or live.
pub unsafe fn str_object(op: *mut PyObject) -> PyResult<*mut PyObject> {
    if op.is_null() {
        return null_text();
    }
    // SAFETY: `op` is not NULL, so by the caller's contract it is live.
    let Some(f) = (unsafe { (*type_of(op)).tp_str }) else {
        // SAFETY: as above.
        return unsafe { repr_object(op) };
    };
    // SAFETY: `tp_str` of the object's own type, called with the object.
    unsafe { call_text_slot(op, f, " while getting the str of an object", "__str__") }
}

/// Appends `repr(op)` to `out` (`<NULL>` for NULL).
///
/// # Safety
/// `op` must be NULL or live.
#[inline(always)]
pub unsafe fn push_repr(out: &mut String, op: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract.
    unsafe { push_text(out, repr_object(op)?) };
    Ok(())
}

/// Appends `str(op)` to `out` (`<NULL>` for NULL).
///
/// # Safety
/// `op` must be NULL or live.
pub unsafe fn push_str(out: &mut String, op: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract.
    unsafe { push_text(out, str_object(op)?) };
    Ok(())
}

/// Appends the str `text` (a new reference, released) to `out`.
///
/// # Safety
/// `text` must be a live str the caller owns.
#[inline(always)]
unsafe fn push_text(out: &mut String, text: *mut PyObject) {
    // SAFETY: per the contract; copied before it is released.
    unsafe {
        out.push_str(unicode::as_str(text));
        decref(text);
    }
}

thread_local! {
    /// The containers whose repr is being computed on this thread
    /// (CPython's `Py_ReprEnter` list), innermost last.
    static REPR_ACTIVE: RefCell<Vec<*mut PyObject>> = const { RefCell::new(Vec::new()) };
}

/// `Py_ReprEnter`: whether the repr of `op` is already being computed on
/// this thread (a container that holds itself, which then shows as `...`);
/// if not, `op` is recorded until [`repr_leave`]. Out of line, as
/// `repr_leave`: the frames of a nested repr stay small.
#[inline(never)]
pub fn repr_enter(op: *mut PyObject) -> bool {
    REPR_ACTIVE
        .try_with(|active| {
            let mut active = active.borrow_mut();
            if active.contains(&op) {
                true
            } else {
                active.push(op);
                false
            }
        })
        .unwrap_or(false)
}

/// `Py_ReprLeave`: the repr of `op` is done.
#[inline(never)]
pub fn repr_leave(op: *mut PyObject) {
    let _ = REPR_ACTIVE.try_with(|active| {
        let mut active = active.borrow_mut();
        if let Some(i) = active.iter().rposition(|&o| o == op) {
            active.remove(i);
        }
    });
}

/// `repr(op)` as Rust text.
///
/// # Safety
/// `op` must be live.
pub unsafe fn repr_string(op: *mut PyObject) -> PyResult<String> {
    // SAFETY: the caller guarantees `op` is live; `r` is a new str
    // reference, copied before it is released.
    unsafe {
        let r = repr_object(op)?;
        let s = unicode::as_str(r).to_string();
        decref(r);
        Ok(s)
    }
}

/// `str(op)` as Rust text.
///
/// # Safety
/// `op` must be live.
pub unsafe fn str_string(op: *mut PyObject) -> PyResult<String> {
    // SAFETY: the caller guarantees `op` is live; `r` is a new str
    // reference, copied before it is released.
    unsafe {
        let r = str_object(op)?;
        let s = unicode::as_str(r).to_string();
        decref(r);
        Ok(s)
    }
}

/// `PyObject_IsTrue`.
///
/// # Safety
/// `op` must be live.
pub unsafe fn is_true(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; each accessor is used only
    // after the check of the type it needs.
    unsafe {
        if op == none::none() {
            false
        } else if long::check(op) {
            long::value(op) != 0
        } else if float::check(op) {
            float::as_f64(op) != Ok(0.0)
        } else if unicode::check(op) || bytes::check(op) {
            !unicode::data(op).is_empty()
        } else if tuple::check(op) {
            tuple::len(op) != 0
        } else if dict::check(op) {
            dict::len(op) != 0
        } else {
            true
        }
    }
}

/// `PyCallable_Check`.
///
/// # Safety
/// `op` must be live.
pub unsafe fn is_callable(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live, so its type is.
    unsafe { (*type_of(op)).tp_call.is_some() }
}

/// The method `name` of the `tp_methods` tables of `ty` and its bases, or
/// NULL.
///
/// # Safety
/// `ty` must be a type object whose bases are type objects; each
/// `tp_methods` NULL or a table ended by an entry with a NULL `ml_name`.
unsafe fn find_method(ty: *mut PyTypeObject, name: &[u8]) -> *mut PyMethodDef {
    let mut t = ty;
    while !t.is_null() {
        // SAFETY: `t` is `ty` or one of its bases, a type object (caller);
        // its table is walked up to the end entry, and each name before it
        // is a NUL-terminated string.
        unsafe {
            let mut m = (*t).tp_methods;
            while !m.is_null() && !(*m).ml_name.is_null() {
                if core::ffi::CStr::from_ptr((*m).ml_name).to_bytes() == name {
                    return m;
                }
                m = m.add(1);
            }
            t = (*t).tp_base;
        }
    }
    null_mut()
}

/// `PyObject_GetAttrString`: methods of the type's `tp_methods` chain (bound
/// to `op`), `args` of exceptions, `__name__` of types.
///
/// # Safety
/// `op` must be live.
pub unsafe fn getattr(op: *mut PyObject, name: &str) -> PyResult<*mut PyObject> {
    // SAFETY: the caller guarantees `op` is live; it is used as a type or as
    // an exception only after the check for one. A method found is in a
    // table of `op`'s type, which lives as long as `op`, which the new
    // function object holds a reference to.
    unsafe {
        if typeobj::check(op) {
            if name == "__name__" {
                let name = unicode::from_str(typeobj::short_name(op.cast()));
                return if name.is_null() {
                    Err(Raised)
                } else {
                    Ok(name)
                };
            }
            return Err(errors::set_string(
                exceptions::attribute_error(),
                &format!(
                    "type object '{}' has no attribute '{name}'",
                    typeobj::message_name(op.cast())
                ),
            ));
        }
        if name == "args" && exceptions::is_instance(op) {
            return Ok(new_ref(exceptions::args_of(op)));
        }
        let m = find_method(type_of(op), name.as_bytes());
        if !m.is_null() {
            return cfunction::new(m, op, null_mut());
        }
        Err(errors::set_string(
            exceptions::attribute_error(),
            &format!(
                "'{}' object has no attribute '{name}'",
                typeobj::type_name_of(op)
            ),
        ))
    }
}

/// `PyObject_IsInstance(inst, cls)`: `cls` is a type or a tuple of types
/// (nested ones through the recursion guard, as CPython:
/// `RecursionError("maximum recursion depth exceeded in
/// __instancecheck__")`).
///
/// # Safety
/// Both must be live, and so must the items of a tuple `cls` (nested
/// tuples included).
pub unsafe fn is_instance(inst: *mut PyObject, cls: *mut PyObject) -> PyResult<bool> {
    // SAFETY: the caller guarantees both are live, and the items of a tuple
    // `cls`; `cls` is used as a type only once it is known to be one.
    unsafe {
        if tuple::check(cls) {
            enter_recursive_call(" in __instancecheck__")?;
            let mut found = Ok(false);
            for &c in tuple::items(cls) {
                found = is_instance(inst, c);
                if found != Ok(false) {
                    break;
                }
            }
            leave_recursive_call();
            return found;
        }
        if !typeobj::check(cls) {
            return Err(errors::type_error(
                "isinstance() arg 2 must be a type or tuple of types",
            ));
        }
        Ok(type_check(inst, cls.cast()))
    }
}
