//! `bytes`: immutable byte strings, with the layout of `str`.

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::unicode::{alloc_with_bytes, alloc_with_raw, data, quote, DATA_OFFSET};
use super::*;
use crate::errors::guard;
use core::ptr::null_mut;

/// `tp_repr` of bytes: `b'...'`, with Python's escapes.
///
/// # Safety
/// `op` must be a live bytes object.
unsafe extern "C-unwind" fn bytes_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live bytes object; the slice
        // is dropped before this returns.
        let text: String = unsafe { data(op) }.iter().map(|&b| b as char).collect();
        unicode::from_string(quote(&text, true))
    })
}

/// The type of bytes objects.
#[no_mangle]
pub static mut PyBytes_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(bytes_repr),
    ..builtin(
        &raw mut PyType_Type,
        c"bytes",
        DATA_OFFSET + 1,
        1,
        &raw mut PyBaseObject_Type,
        Py_TPFLAGS_BASETYPE,
    )
};

/// Whether `op` is a bytes object.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; `PyBytes_Type` is a type.
    unsafe { type_check(op, &raw mut PyBytes_Type) }
}

/// A new bytes object.
pub fn from_slice(b: &[u8]) -> *mut PyObject {
    // SAFETY: PyBytes_Type is a ready static type.
    unsafe { alloc_with_bytes(&raw mut PyBytes_Type, b) }
}

/// A new bytes object of `len` bytes copied from `src`, or zero bytes when
/// `src` is NULL; NULL with `MemoryError` when it cannot be allocated.
///
/// # Safety
/// `src` must be NULL or hold `len` readable bytes.
pub unsafe fn from_raw(src: *const u8, len: usize) -> *mut PyObject {
    // SAFETY: PyBytes_Type is a ready static type; the caller's guarantee
    // on `src`, which no new object can overlap.
    unsafe { alloc_with_raw(&raw mut PyBytes_Type, src, len) }
}
