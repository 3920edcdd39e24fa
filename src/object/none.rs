//! `None`, `True` and `False`: static singletons.

use super::long::{PyLongObject, PyLong_Type};
use super::typeobj::{builtin, PyType_Type};
use super::*;
use crate::errors::guard;
use core::ptr::null_mut;

/// `tp_repr` of `None`: `"None"`.
///
/// # Safety
/// None: `_op` is not read (the slot's type is `unsafe`).
unsafe extern "C-unwind" fn none_repr(_op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || unicode::from_str("None"))
}

/// `tp_repr` of bool: `"True"` or `"False"`.
///
/// # Safety
/// None: `op` is only compared with `Py_True`, never read.
unsafe extern "C-unwind" fn bool_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        unicode::from_str(if op == py_true() { "True" } else { "False" })
    })
}

/// The type of None.
#[no_mangle]
pub static mut _PyNone_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(none_repr),
    ..builtin(
        &raw mut PyType_Type,
        c"NoneType",
        core::mem::size_of::<PyObject>(),
        0,
        &raw mut typeobj::PyBaseObject_Type,
        0,
    )
};

/// The type of True and False, a subtype of int.
#[no_mangle]
pub static mut PyBool_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(bool_repr),
    ..builtin(
        &raw mut PyType_Type,
        c"bool",
        core::mem::size_of::<PyLongObject>(),
        0,
        &raw mut PyLong_Type,
        0,
    )
};

/// The None object (Py_None).
#[no_mangle]
pub static mut _Py_NoneStruct: PyObject = static_header(&raw mut _PyNone_Type);

/// The False object (Py_False).
#[no_mangle]
pub static mut _Py_FalseStruct: PyLongObject = PyLongObject::new_static(&raw mut PyBool_Type, 0);

/// The True object (Py_True).
#[no_mangle]
pub static mut _Py_TrueStruct: PyLongObject = PyLongObject::new_static(&raw mut PyBool_Type, 1);

/// `Py_None`, borrowed.
#[inline(always)]
pub fn none() -> *mut PyObject {
    &raw mut _Py_NoneStruct
}

/// `Py_True`, borrowed.
pub fn py_true() -> *mut PyObject {
    (&raw mut _Py_TrueStruct).cast()
}

/// `Py_False`, borrowed.
pub fn py_false() -> *mut PyObject {
    (&raw mut _Py_FalseStruct).cast()
}

/// A new reference to `None`.
#[inline(always)]
pub fn new_none() -> *mut PyObject {
    // SAFETY: None is a static object.
    unsafe { new_ref(none()) }
}

/// A new reference to `True` or `False`.
pub fn new_bool(v: bool) -> *mut PyObject {
    // SAFETY: True and False are static objects.
    unsafe { new_ref(if v { py_true() } else { py_false() }) }
}
