//! `dict`: a small insertion-ordered mapping (keyword arguments, user data).

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use crate::errors::guard;
use crate::errors::PyResult;
use core::ptr::null_mut;

/// A `dict` object; its entries live in a Rust vector.
#[repr(C)]
pub struct DictObject {
    /// Header.
    pub ob_base: PyObject,
    entries: *mut Vec<(*mut PyObject, *mut PyObject)>,
}

/// The entry vector of a dict, created on first use.
///
/// # Safety
/// `op` must be a live dict, and no other reference to its entries may be
/// in use while the returned one is.
unsafe fn entries<'a>(op: *mut PyObject) -> &'a mut Vec<(*mut PyObject, *mut PyObject)> {
    let d = op.cast::<DictObject>();
    // SAFETY: the caller guarantees `op` is a live dict, so its `entries`
    // field is readable and is NULL or a vector from `Box::into_raw`, which
    // nobody else borrows meanwhile (the caller's contract).
    unsafe {
        if (*d).entries.is_null() {
            (*d).entries = Box::into_raw(Box::default());
        }
        &mut *(*d).entries
    }
}

/// `tp_dealloc` of dicts: releases the keys and values, in constant stack
/// however deep dicts nest ([`Graveyard`]).
///
/// # Safety
/// `op` must be a dict whose reference count has dropped to zero.
pub(crate) unsafe extern "C-unwind" fn dict_dealloc(op: *mut PyObject) {
    guard((), || {
        // SAFETY: the caller's guarantee is what `clear` needs.
        unsafe { Graveyard::dealloc_container(op, clear) }
    })
}

/// Releases the keys and values of a dead dict into `graveyard`.
///
/// # Safety
/// `op` must be a dict whose reference count has dropped to zero.
pub(crate) unsafe fn clear(op: *mut PyObject, graveyard: &mut Graveyard) {
    let d = op.cast::<DictObject>();
    // SAFETY: per the contract, `op` is a dead dict: its vector (if any)
    // came from `Box::into_raw` and is taken back once (the field is
    // cleared first), and each key and value is an owned reference.
    unsafe {
        let entries = core::mem::replace(&mut (*d).entries, null_mut());
        if !entries.is_null() {
            for (k, v) in *Box::from_raw(entries) {
                graveyard.release(k);
                graveyard.release(v);
            }
        }
    }
}

/// Entry `i` as new references to its key and value, or None past the end.
///
/// # Safety
/// `op` must be a live dict.
unsafe fn entry(op: *mut PyObject, i: usize) -> Option<(*mut PyObject, *mut PyObject)> {
    // SAFETY: the caller guarantees `op` is a live dict; the borrow of its
    // entries ends here, and its keys and values are live.
    unsafe {
        let (k, v) = *entries(op).get(i)?;
        Some((new_ref(k), new_ref(v)))
    }
}

/// `tp_repr` of dicts: `{k: v, ...}`; `{...}` for a dict inside its own
/// repr. As CPython's, it walks the entries by position and holds each key
/// and value while their reprs run, which may change the dict.
///
/// # Safety
/// `op` must be a live dict.
unsafe extern "C-unwind" fn dict_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live dict.
        if unsafe { len(op) } == 0 {
            return unicode::from_str("{}");
        }
        if protocol::repr_enter(op) {
            return unicode::from_str("{...}");
        }
        let mut out = String::from("{");
        let mut i = 0;
        let mut shown = Ok(());
        // SAFETY: `op` stays a live dict (the caller holds it); `k` and `v` are
        // new references, released once.
        while let Some((k, v)) = unsafe { entry(op, i) } {
            if i > 0 {
                out.push_str(", ");
            }
            // SAFETY: as above.
            shown = unsafe {
                let r = protocol::push_repr(&mut out, k).and_then(|()| {
                    out.push_str(": ");
                    protocol::push_repr(&mut out, v)
                });
                decref(k);
                decref(v);
                r
            };
            if shown.is_err() {
                break;
            }
            i += 1;
        }
        protocol::repr_leave(op);
        if shown.is_err() {
            return null_mut();
        }
        out.push('}');
        unicode::from_string(out)
    })
}

/// The type of dicts.
#[no_mangle]
pub static mut PyDict_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(dict_repr),
    tp_dealloc: Some(dict_dealloc),
    ..builtin(
        &raw mut PyType_Type,
        c"dict",
        core::mem::size_of::<DictObject>(),
        0,
        &raw mut PyBaseObject_Type,
        Py_TPFLAGS_BASETYPE,
    )
};

/// Whether `op` is a dict.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; `PyDict_Type` is a type.
    unsafe { type_check(op, &raw mut PyDict_Type) }
}

/// A new empty dict.
pub fn new() -> PyResult<*mut PyObject> {
    // SAFETY: PyDict_Type is a ready static type.
    unsafe { typeobj::alloc(&raw mut PyDict_Type, 0) }
}

/// Whether two keys are the same key, as Python's `==` on the hashable
/// built-in types: numbers by value across int, bool and float (`1 == 1.0
/// == True`), str and bytes by content, tuples item by item (nested ones
/// through the recursion guard: `RecursionError("maximum recursion depth
/// exceeded in comparison")`, as CPython's rich comparison); any other
/// object only equals itself. No user code runs.
///
/// # Safety
/// Both must be live objects (tuples among them holding live items).
unsafe fn key_eq(a: *mut PyObject, b: *mut PyObject) -> PyResult<bool> {
    if a == b {
        return Ok(true);
    }
    // SAFETY: the caller guarantees both are live, and the items of tuples
    // among them; `data` and `items` are read only after the type checks.
    unsafe {
        if let (Some(x), Some(y)) = (number(a), number(b)) {
            return Ok(x == y);
        }
        if unicode::check(a) && unicode::check(b) || bytes::check(a) && bytes::check(b) {
            return Ok(unicode::data(a) == unicode::data(b));
        }
        if tuple::check(a) && tuple::check(b) {
            let (x, y) = (tuple::items(a), tuple::items(b));
            if x.len() != y.len() {
                return Ok(false);
            }
            protocol::enter_recursive_call(" in comparison")?;
            let mut equal = Ok(true);
            for (&p, &q) in x.iter().zip(y) {
                equal = key_eq(p, q);
                if equal != Ok(true) {
                    break;
                }
            }
            protocol::leave_recursive_call();
            return equal;
        }
    }
    Ok(false)
}

/// The value of a number key: an int, or a float.
#[derive(Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

impl PartialEq for Number {
    /// Exact comparison: an int equals a float only when the float has
    /// that integral value (no rounding of the int).
    fn eq(&self, other: &Number) -> bool {
        match (*self, *other) {
            (Number::Int(x), Number::Int(y)) => x == y,
            (Number::Float(x), Number::Float(y)) => x == y,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                f.fract() == 0.0 && f.abs() < 2f64.powi(127) && f as i128 == i
            }
        }
    }
}

/// The value of `op` if it is an int or a float.
///
/// # Safety
/// `op` must be a live object.
unsafe fn number(op: *mut PyObject) -> Option<Number> {
    // SAFETY: the caller guarantees `op` is live; `value` is read only from
    // an int (checked just before).
    unsafe {
        if long::check(op) {
            Some(Number::Int(long::value(op)))
        } else if float::check(op) {
            float::as_f64(op).ok().map(Number::Float)
        } else {
            None
        }
    }
}

/// The number of entries.
///
/// # Safety
/// `op` must be a dict.
pub unsafe fn len(op: *mut PyObject) -> usize {
    // SAFETY: the caller guarantees `op` is a dict; the borrow ends here.
    unsafe { entries(op) }.len()
}

/// Stores `value` under `key` (both borrowed; the dict takes references).
/// Fails only when comparing nested tuple keys recurses too deeply.
///
/// # Safety
/// `op` must be a dict; `key` and `value` live objects (a tuple key with
/// live items, as `key_eq` compares them).
pub unsafe fn set_item(
    op: *mut PyObject,
    key: *mut PyObject,
    value: *mut PyObject,
) -> PyResult<()> {
    // SAFETY: the caller guarantees `op` is a dict and `key`, `value` live
    // (tuple keys with live items), which holds for the keys stored before
    // too. Each borrow of the entries ends before the next statement; the
    // replaced value is released after the dict was changed, as its
    // deallocation may run code that uses the dict.
    unsafe {
        let mut i = 0;
        while let Some(&(k, _)) = entries(op).get(i) {
            if key_eq(k, key)? {
                let old = core::mem::replace(&mut entries(op)[i].1, new_ref(value));
                decref(old);
                return Ok(());
            }
            i += 1;
        }
        entries(op).push((new_ref(key), new_ref(value)));
    }
    Ok(())
}

/// The value stored under the str key `key`, borrowed, or NULL.
///
/// # Safety
/// `op` must be a dict.
pub unsafe fn get_item_str(op: *mut PyObject, key: &[u8]) -> *mut PyObject {
    // SAFETY: the caller guarantees `op` is a dict; its keys are live, and
    // `data` is read only from str keys (checked first).
    unsafe {
        entries(op)
            .iter()
            .find(|(k, _)| unicode::check(*k) && unicode::data(*k) == key)
            .map_or(null_mut(), |&(_, v)| v)
    }
}
