//! `PyCapsule`: a named C pointer with an optional destructor.

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use core::ffi::CStr;

/// `PyCapsule_Destructor`: called with the capsule when it is freed.
#[allow(non_camel_case_types)]
pub type PyCapsule_Destructor = Option<unsafe extern "C-unwind" fn(*mut PyObject)>;

/// A capsule object.
#[repr(C)]
pub struct CapsuleObject {
    /// Header.
    pub ob_base: PyObject,
    /// The pointer (never NULL).
    pub pointer: *mut c_void,
    /// The name, borrowed from the creator, or NULL.
    pub name: *const c_char,
    /// Called when the capsule is freed.
    pub destructor: PyCapsule_Destructor,
}

unsafe extern "C-unwind" fn capsule_dealloc(op: *mut PyObject) {
    if let Some(d) = (*op.cast::<CapsuleObject>()).destructor {
        d(op);
    }
    typeobj::free_object(op);
}

unsafe extern "C-unwind" fn capsule_repr(op: *mut PyObject) -> *mut PyObject {
    let name = (*op.cast::<CapsuleObject>()).name;
    let shown = if name.is_null() {
        "NULL".to_string()
    } else {
        format!("\"{}\"", CStr::from_ptr(name).to_string_lossy())
    };
    unicode::from_string(format!("<capsule object {shown} at {op:p}>"))
}

/// `PyCapsule`.
#[no_mangle]
pub static mut PyCapsule_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(capsule_repr),
    tp_dealloc: Some(capsule_dealloc),
    ..builtin(
        &raw mut PyType_Type,
        c"PyCapsule",
        core::mem::size_of::<CapsuleObject>(),
        0,
        &raw mut PyBaseObject_Type,
        0,
    )
};

/// Whether `op` is a capsule.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    type_of(op) == &raw mut PyCapsule_Type
}

/// Whether two capsule names are equal (both NULL counts as equal).
///
/// # Safety
/// Both must be NULL or NUL-terminated strings.
pub unsafe fn names_match(a: *const c_char, b: *const c_char) -> bool {
    match (a.is_null(), b.is_null()) {
        (true, true) => true,
        (false, false) => CStr::from_ptr(a) == CStr::from_ptr(b),
        _ => false,
    }
}
