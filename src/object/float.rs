//! `float`: a C double, printed the way Python's `repr(float)` prints it.

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use crate::errors::guard;
use crate::errors::{self, PyResult};
use core::ptr::null_mut;

/// A `float` object.
#[repr(C)]
pub struct FloatObject {
    /// Header.
    pub ob_base: PyObject,
    /// The value.
    pub value: f64,
}

/// `tp_repr` of floats: [`repr_f64`].
///
/// # Safety
/// `op` must be a live float.
unsafe extern "C-unwind" fn float_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live float.
        unicode::from_string(repr_f64(unsafe { (*op.cast::<FloatObject>()).value }))
    })
}

/// The type of floats.
#[no_mangle]
pub static mut PyFloat_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(float_repr),
    ..builtin(
        &raw mut PyType_Type,
        c"float",
        core::mem::size_of::<FloatObject>(),
        0,
        &raw mut PyBaseObject_Type,
        Py_TPFLAGS_BASETYPE,
    )
};

/// Whether `op` is a float.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; `PyFloat_Type` is a type.
    unsafe { type_check(op, &raw mut PyFloat_Type) }
}

/// A new float.
pub fn from_f64(v: f64) -> *mut PyObject {
    // SAFETY: PyFloat_Type is a ready static type; the value is written into
    // the new float, which nobody else sees yet.
    unsafe {
        let Ok(op) = typeobj::alloc(&raw mut PyFloat_Type, 0) else {
            return core::ptr::null_mut();
        };
        (*op.cast::<FloatObject>()).value = v;
        op
    }
}

/// `PyFloat_AsDouble`: floats and ints.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn as_f64(op: *mut PyObject) -> PyResult<f64> {
    // SAFETY: the caller guarantees `op` is live; its value is read only
    // once its type is known.
    unsafe {
        if check(op) {
            Ok((*op.cast::<FloatObject>()).value)
        } else if long::check(op) {
            Ok(long::value(op) as f64)
        } else {
            Err(errors::type_error(&format!(
                "must be real number, not {}",
                typeobj::type_name_of(op)
            )))
        }
    }
}

/// Python's `repr(float)`: the shortest string that round-trips, in
/// positional notation for exponents -4..16, else scientific (`1e+16`).
pub fn repr_f64(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-5".
    let sci = format!("{:e}", v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!(
            "{sign}{first}{frac}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::repr_f64;

    #[test]
    fn repr_matches_python() {
        assert_eq!(repr_f64(1.0), "1.0");
        assert_eq!(repr_f64(0.1), "0.1");
        assert_eq!(repr_f64(-2.5), "-2.5");
        assert_eq!(repr_f64(1e16), "1e+16");
        assert_eq!(repr_f64(123456789.0), "123456789.0");
        assert_eq!(repr_f64(1.5e-5), "1.5e-05");
        assert_eq!(repr_f64(0.0001), "0.0001");
        assert_eq!(repr_f64(1e300), "1e+300");
        assert_eq!(repr_f64(f64::NAN), "nan");
        assert_eq!(repr_f64(f64::NEG_INFINITY), "-inf");
    }
}
