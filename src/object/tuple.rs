//! `tuple`: a fixed number of object references stored inline.

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use crate::errors::PyResult;
use core::ptr::null_mut;

const ITEMS_OFFSET: usize = core::mem::size_of::<PyVarObject>();

unsafe extern "C-unwind" fn tuple_dealloc(op: *mut PyObject) {
    for &item in items(op) {
        xdecref(item);
    }
    typeobj::free_object(op);
}

unsafe extern "C-unwind" fn tuple_repr(op: *mut PyObject) -> *mut PyObject {
    let items = items(op);
    let mut parts = Vec::with_capacity(items.len());
    for &item in items {
        match protocol::repr_string(item) {
            Ok(s) => parts.push(s),
            Err(_) => return null_mut(),
        }
    }
    let body = parts.join(", ");
    unicode::from_string(if items.len() == 1 {
        format!("({body},)")
    } else {
        format!("({body})")
    })
}

/// `tuple`.
#[no_mangle]
pub static mut PyTuple_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(tuple_repr),
    tp_dealloc: Some(tuple_dealloc),
    ..builtin(
        &raw mut PyType_Type,
        c"tuple",
        ITEMS_OFFSET,
        core::mem::size_of::<*mut PyObject>(),
        &raw mut PyBaseObject_Type,
        Py_TPFLAGS_BASETYPE,
    )
};

/// Whether `op` is a tuple.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    type_check(op, &raw mut PyTuple_Type)
}

/// A new tuple of `n` NULL items (the shared empty tuple for 0).
pub fn new(n: usize) -> PyResult<*mut PyObject> {
    if n == 0 {
        return empty();
    }
    // SAFETY: PyTuple_Type is a ready static type; calloc zeroes the items.
    unsafe { typeobj::alloc(&raw mut PyTuple_Type, n as Py_ssize_t) }
}

/// A new tuple holding new references to `objs`.
///
/// # Safety
/// Every element must be a live object.
pub unsafe fn from_borrowed(objs: &[*mut PyObject]) -> PyResult<*mut PyObject> {
    let t = new(objs.len())?;
    for (slot, &o) in items_mut(t).iter_mut().zip(objs) {
        *slot = new_ref(o);
    }
    Ok(t)
}

/// The number of items.
///
/// # Safety
/// `op` must be a tuple.
pub unsafe fn len(op: *mut PyObject) -> usize {
    (*op.cast::<PyVarObject>()).ob_size as usize
}

/// The items, borrowed.
///
/// # Safety
/// `op` must be a tuple that outlives the slice.
pub unsafe fn items<'a>(op: *mut PyObject) -> &'a [*mut PyObject] {
    core::slice::from_raw_parts(op.cast::<u8>().add(ITEMS_OFFSET).cast(), len(op))
}

/// The item slots, for filling a new tuple.
///
/// # Safety
/// `op` must be a tuple nobody else sees yet.
pub unsafe fn items_mut<'a>(op: *mut PyObject) -> &'a mut [*mut PyObject] {
    core::slice::from_raw_parts_mut(op.cast::<u8>().add(ITEMS_OFFSET).cast(), len(op))
}

/// The empty tuple: one immortal object, as in CPython.
static mut EMPTY: PyVarObject = PyVarObject {
    ob_base: static_header(&raw mut PyTuple_Type),
    ob_size: 0,
};

/// The empty tuple (a new reference to the immortal singleton).
pub fn empty() -> PyResult<*mut PyObject> {
    Ok((&raw mut EMPTY).cast())
}
