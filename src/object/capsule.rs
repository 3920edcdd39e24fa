//! `PyCapsule`: a named C pointer with an optional destructor.

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use crate::errors::guard;
use core::ffi::CStr;
use core::ptr::null_mut;

/// PyCapsule_Destructor: called with the capsule when it is freed.
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

/// `tp_dealloc` of capsules: calls the destructor, then frees the capsule.
///
/// # Safety
/// `op` must be a capsule whose reference count has dropped to zero.
unsafe extern "C-unwind" fn capsule_dealloc(op: *mut PyObject) {
    guard((), || {
        // SAFETY: the caller guarantees `op` is a dead capsule: its fields are
        // readable, its destructor (the creator's) is called with the capsule as
        // `PyCapsule_Destructor` expects, and its memory is freed last, once.
        unsafe {
            if let Some(d) = (*op.cast::<CapsuleObject>()).destructor {
                d(op);
            }
            typeobj::free_object(op);
        }
    })
}

/// `tp_repr` of capsules: `<capsule object "name" at 0x...>`.
///
/// # Safety
/// `op` must be a live capsule.
unsafe extern "C-unwind" fn capsule_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live capsule.
        let name = unsafe { (*op.cast::<CapsuleObject>()).name };
        let shown = if name.is_null() {
            "NULL".to_string()
        } else {
            // SAFETY: a non-NULL name is the NUL-terminated string the creator
            // lent, which must outlive the capsule (`PyCapsule_New`'s rule).
            format!("\"{}\"", unsafe { CStr::from_ptr(name) }.to_string_lossy())
        };
        unicode::from_string(format!("<capsule object {shown} at {op:p}>"))
    })
}

/// The type of capsules.
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
    // SAFETY: the caller guarantees `op` is live.
    unsafe { type_of(op) == &raw mut PyCapsule_Type }
}

/// `PyCapsule_New`: a capsule of `pointer` (not NULL, else `ValueError`)
/// named `name` (borrowed: it must outlive the capsule).
pub fn new(
    pointer: *mut c_void,
    name: *const c_char,
    destructor: PyCapsule_Destructor,
) -> crate::errors::PyResult<*mut PyObject> {
    if pointer.is_null() {
        return Err(crate::errors::value_error(
            "PyCapsule_New called with null pointer",
        ));
    }
    // SAFETY: PyCapsule_Type is a ready static type.
    let op = unsafe { typeobj::alloc(&raw mut PyCapsule_Type, 0)? };
    let c = op.cast::<CapsuleObject>();
    // SAFETY: `op` is a fresh capsule.
    unsafe {
        (*c).pointer = pointer;
        (*c).name = name;
        (*c).destructor = destructor;
    }
    Ok(op)
}

/// `PyCapsule_GetPointer`: the pointer of a capsule whose name equals
/// `name`, else `ValueError`.
///
/// # Safety
/// `op` must be NULL or live; `name` NULL or a NUL-terminated string.
pub unsafe fn pointer(
    op: *mut PyObject,
    name: *const c_char,
) -> crate::errors::PyResult<*mut c_void> {
    // SAFETY: checked non-NULL and a capsule before the fields are read;
    // the names are NULL or NUL-terminated per the contract.
    unsafe {
        if op.is_null() || !check(op) {
            return Err(crate::errors::value_error(
                "PyCapsule_GetPointer called with invalid PyCapsule object",
            ));
        }
        let c = op.cast::<CapsuleObject>();
        if !names_match((*c).name, name) {
            return Err(crate::errors::value_error(
                "PyCapsule_GetPointer called with incorrect name",
            ));
        }
        Ok((*c).pointer)
    }
}

/// Whether two capsule names are equal (both NULL counts as equal).
///
/// # Safety
/// Both must be NULL or NUL-terminated strings.
pub unsafe fn names_match(a: *const c_char, b: *const c_char) -> bool {
    match (a.is_null(), b.is_null()) {
        (true, true) => true,
        // SAFETY: neither is NULL, so by the caller's contract both are
        // NUL-terminated strings.
        (false, false) => unsafe { CStr::from_ptr(a) == CStr::from_ptr(b) },
        _ => false,
    }
}
