//! `int`: signed integers of up to 128 bits (enough for every C integer type).

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use crate::errors::guard;
use crate::errors::{self, PyResult};
use core::ptr::null_mut;

/// An int object: a 128-bit two's complement value in two words.
#[repr(C)]
pub struct PyLongObject {
    /// Header.
    pub ob_base: PyObject,
    /// The low 64 bits of the value.
    pub lo: u64,
    /// The high 64 bits of the value (sign-extended).
    pub hi: i64,
}

impl PyLongObject {
    /// A static int (True, False).
    pub(crate) const fn new_static(ty: *mut PyTypeObject, v: i64) -> PyLongObject {
        PyLongObject {
            ob_base: static_header(ty),
            lo: v as u64,
            hi: if v < 0 { -1 } else { 0 },
        }
    }
}

/// `tp_repr` of ints: the decimal value.
///
/// # Safety
/// `op` must be a live int.
unsafe extern "C-unwind" fn long_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live int.
        unicode::from_string(unsafe { value(op) }.to_string())
    })
}

/// The type of ints (PyLongObject).
#[no_mangle]
pub static mut PyLong_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(long_repr),
    ..builtin(
        &raw mut PyType_Type,
        c"int",
        core::mem::size_of::<PyLongObject>(),
        0,
        &raw mut PyBaseObject_Type,
        Py_TPFLAGS_BASETYPE,
    )
};

/// Whether `op` is an int (bools included).
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; `PyLong_Type` is a type.
    unsafe { type_check(op, &raw mut PyLong_Type) }
}

/// A new int.
pub fn from_i128(v: i128) -> *mut PyObject {
    // SAFETY: PyLong_Type is a ready static type; the value is written into
    // the new int, which nobody else sees yet.
    unsafe {
        let Ok(op) = typeobj::alloc(&raw mut PyLong_Type, 0) else {
            return core::ptr::null_mut();
        };
        let l = op.cast::<PyLongObject>();
        (*l).lo = v as u64;
        (*l).hi = (v >> 64) as i64;
        op
    }
}

/// The value of an int object.
///
/// # Safety
/// `op` must be an int.
pub unsafe fn value(op: *mut PyObject) -> i128 {
    let l = op.cast::<PyLongObject>();
    // SAFETY: the caller guarantees `op` is an int, laid out as
    // `PyLongObject`.
    unsafe { (((*l).hi as i128) << 64) | (*l).lo as i128 }
}

/// The value as a C `long`, with CPython 3.7's conversions and errors: an
/// int as it is, a float truncated toward zero (its `__int__`), anything
/// else a `TypeError`.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn as_long(op: *mut PyObject) -> PyResult<core::ffi::c_long> {
    // SAFETY: the caller guarantees `op` is live; its value is read only
    // once its type is known.
    let v = unsafe {
        if check(op) {
            value(op)
        } else if float::check(op) {
            float_to_int(float::as_f64(op)?)?
        } else {
            return Err(errors::type_error(&format!(
                "an integer is required (got type {})",
                typeobj::type_name_of(op)
            )));
        }
    };
    core::ffi::c_long::try_from(v).map_err(|_| {
        errors::set_string(
            exceptions::overflow_error(),
            "Python int too large to convert to C long",
        )
    })
}

/// `int(v)` for a float: truncated toward zero. Values beyond 128 bits
/// saturate, which only matters for conversions that overflow anyway.
fn float_to_int(v: f64) -> PyResult<i128> {
    if v.is_nan() {
        Err(errors::value_error("cannot convert float NaN to integer"))
    } else if v.is_infinite() {
        Err(errors::set_string(
            exceptions::overflow_error(),
            "cannot convert float infinity to integer",
        ))
    } else {
        Ok(v.trunc() as i128)
    }
}
