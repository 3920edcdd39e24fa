//! The abstract object protocol: call, str, repr, truth, attributes,
//! isinstance, and the recursion guard.

use super::*;
use crate::errors::{self, PyResult, Raised};
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
/// `RecursionError` (`" while calling a Python object"`).
pub fn enter_recursive_call(where_: &str) -> PyResult<()> {
    let depth = recursion_depth() + 1;
    if depth > RECURSION_LIMIT {
        return Err(errors::set_string(
            exceptions::recursion_error(),
            &format!("maximum recursion depth exceeded{where_}"),
        ));
    }
    set_recursion_depth(depth);
    Ok(())
}

/// `Py_LeaveRecursiveCall`.
pub fn leave_recursive_call() {
    set_recursion_depth(recursion_depth() - 1);
}

/// `PyObject_Call`: calls `callable(*args, **kwds)` and checks that the
/// result agrees with the error indicator.
///
/// # Safety
/// `callable` must be live, `args` a tuple, `kwds` NULL or a dict.
pub unsafe fn call(
    callable: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> PyResult<*mut PyObject> {
    let Some(f) = (*type_of(callable)).tp_call else {
        return Err(errors::type_error(&format!(
            "'{}' object is not callable",
            typeobj::type_name_of(callable)
        )));
    };
    let guarded = !cfunction::check(callable);
    if guarded {
        enter_recursive_call(" while calling a Python object")?;
    }
    let result = f(callable, args, kwds);
    if guarded {
        leave_recursive_call();
    }
    check_result(callable, result)
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
            let shown = repr_string(callable)?;
            Err(errors::system_error(&format!(
                "{shown} returned NULL without setting an error"
            )))
        }
        (false, true) => {
            decref(result);
            let cause = errors::take();
            let shown = repr_string(callable);
            cause.release();
            Err(errors::system_error(&format!(
                "{} returned a result with an error set",
                shown?
            )))
        }
    }
}

/// The result of a `tp_repr`/`tp_str` slot: NULL without an exception set
/// becomes a `SystemError`, as CPython's result check does for calls.
fn slot_result(op: *mut PyObject) -> PyResult<*mut PyObject> {
    if !op.is_null() {
        Ok(op)
    } else if errors::is_set() {
        Err(Raised)
    } else {
        Err(errors::system_error(
            "NULL result without error in PyObject_Repr or PyObject_Str",
        ))
    }
}

/// `PyObject_Repr`: a new str; `"<NULL>"` for NULL (an unfilled tuple slot).
///
/// # Safety
/// `op` must be NULL or live.
pub unsafe fn repr_object(op: *mut PyObject) -> PyResult<*mut PyObject> {
    if op.is_null() {
        return slot_result(unicode::from_str("<NULL>"));
    }
    enter_recursive_call(" while getting the repr of an object")?;
    let r = match (*type_of(op)).tp_repr {
        Some(f) => f(op),
        None => unicode::from_string(format!(
            "<{} object at {:p}>",
            typeobj::name(type_of(op)),
            op
        )),
    };
    leave_recursive_call();
    let r = slot_result(r)?;
    ensure_str(r, "__repr__")
}

/// `PyObject_Str`: a new str (falls back to `repr`).
///
/// # Safety
/// `op` must be live.
pub unsafe fn str_object(op: *mut PyObject) -> PyResult<*mut PyObject> {
    if op.is_null() {
        return slot_result(unicode::from_str("<NULL>"));
    }
    let Some(f) = (*type_of(op)).tp_str else {
        return repr_object(op);
    };
    enter_recursive_call(" while getting the str of an object")?;
    let r = f(op);
    leave_recursive_call();
    let r = slot_result(r)?;
    ensure_str(r, "__str__")
}

unsafe fn ensure_str(r: *mut PyObject, slot: &str) -> PyResult<*mut PyObject> {
    if unicode::check(r) {
        return Ok(r);
    }
    let name = typeobj::type_name_of(r).to_string();
    decref(r);
    Err(errors::type_error(&format!(
        "{slot} returned non-string (type {name})"
    )))
}

/// `repr(op)` as Rust text.
///
/// # Safety
/// `op` must be live.
pub unsafe fn repr_string(op: *mut PyObject) -> PyResult<String> {
    let r = repr_object(op)?;
    let s = unicode::as_str(r).to_string();
    decref(r);
    Ok(s)
}

/// `str(op)` as Rust text.
///
/// # Safety
/// `op` must be live.
pub unsafe fn str_string(op: *mut PyObject) -> PyResult<String> {
    let r = str_object(op)?;
    let s = unicode::as_str(r).to_string();
    decref(r);
    Ok(s)
}

/// `PyObject_IsTrue`.
///
/// # Safety
/// `op` must be live.
pub unsafe fn is_true(op: *mut PyObject) -> bool {
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

/// `PyCallable_Check`.
///
/// # Safety
/// `op` must be live.
pub unsafe fn is_callable(op: *mut PyObject) -> bool {
    (*type_of(op)).tp_call.is_some()
}

unsafe fn find_method(ty: *mut PyTypeObject, name: &[u8]) -> *mut PyMethodDef {
    let mut t = ty;
    while !t.is_null() {
        let mut m = (*t).tp_methods;
        while !m.is_null() && !(*m).ml_name.is_null() {
            if core::ffi::CStr::from_ptr((*m).ml_name).to_bytes() == name {
                return m;
            }
            m = m.add(1);
        }
        t = (*t).tp_base;
    }
    null_mut()
}

/// `PyObject_GetAttrString`: methods of the type's `tp_methods` chain (bound
/// to `op`), `args` of exceptions, `__name__` of types.
///
/// # Safety
/// `op` must be live.
pub unsafe fn getattr(op: *mut PyObject, name: &str) -> PyResult<*mut PyObject> {
    if typeobj::check(op) {
        if name == "__name__" {
            return slot_result(unicode::from_str(typeobj::short_name(op.cast())));
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

/// `PyObject_IsInstance(inst, cls)`: `cls` is a type or a tuple of types.
///
/// # Safety
/// Both must be live.
pub unsafe fn is_instance(inst: *mut PyObject, cls: *mut PyObject) -> PyResult<bool> {
    if tuple::check(cls) {
        for &c in tuple::items(cls) {
            if is_instance(inst, c)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if !typeobj::check(cls) {
        return Err(errors::type_error(
            "isinstance() arg 2 must be a type or tuple of types",
        ));
    }
    Ok(type_check(inst, cls.cast()))
}
