//! `bytes`: immutable byte strings, with the layout of `str`.

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::unicode::{alloc_with_bytes, data, quote, DATA_OFFSET};
use super::*;

unsafe extern "C-unwind" fn bytes_repr(op: *mut PyObject) -> *mut PyObject {
    let text: String = data(op).iter().map(|&b| b as char).collect();
    unicode::from_string(quote(&text, true))
}

/// `bytes`.
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
    type_check(op, &raw mut PyBytes_Type)
}

/// A new bytes object.
pub fn from_slice(b: &[u8]) -> *mut PyObject {
    // SAFETY: PyBytes_Type is a ready static type.
    unsafe { alloc_with_bytes(&raw mut PyBytes_Type, b) }
}
