//! `str`: immutable UTF-8 text stored inline after the header, always
//! NUL-terminated so `PyUnicode_AsUTF8` can hand out a pointer.

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use crate::errors;
use crate::errors::guard;
use core::ptr::null_mut;

/// Size of the fixed part of `str` and `bytes` objects (data follows).
pub(crate) const DATA_OFFSET: usize = core::mem::size_of::<PyVarObject>();

/// `tp_repr` of str: the quoted, escaped text.
///
/// # Safety
/// `op` must be a live str.
unsafe extern "C-unwind" fn str_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live str.
        from_string(quote(unsafe { as_str(op) }, false))
    })
}

/// `tp_str` of str: the object itself (a new reference).
///
/// # Safety
/// `op` must be a live str.
unsafe extern "C-unwind" fn str_str(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is live.
        unsafe { new_ref(op) }
    })
}

/// The type of strs (text in UTF-8).
#[no_mangle]
pub static mut PyUnicode_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(str_repr),
    tp_str: Some(str_str),
    ..builtin(
        &raw mut PyType_Type,
        c"str",
        DATA_OFFSET + 1,
        1,
        &raw mut PyBaseObject_Type,
        Py_TPFLAGS_BASETYPE,
    )
};

/// Whether `op` is a str.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; `PyUnicode_Type` is a type.
    unsafe { type_check(op, &raw mut PyUnicode_Type) }
}

/// A new object of `ty` (str or bytes) of `len` bytes copied from `src`,
/// zero bytes when `src` is NULL, and a trailing NUL. NULL with
/// `MemoryError` when it cannot be allocated.
///
/// # Safety
/// `ty` must be `str` or `bytes` (or a subtype with their layout); `src`
/// NULL or `len` readable bytes outside any object that is being created.
pub unsafe fn alloc_with_raw(ty: *mut PyTypeObject, src: *const u8, len: usize) -> *mut PyObject {
    let Ok(n) = Py_ssize_t::try_from(len) else {
        errors::no_memory();
        return null_mut();
    };
    // SAFETY: the caller guarantees `ty` is a type with the layout of str:
    // one byte per item after `DATA_OFFSET`, and one more (the basic size
    // counts it) for the NUL, which calloc zeroed.
    let Ok(op) = (unsafe { typeobj::alloc(ty, n) }) else {
        return null_mut();
    };
    if !src.is_null() {
        // SAFETY: the new object has room for `len` bytes at `DATA_OFFSET`
        // (see above) and nobody else sees it; the caller guarantees `src`
        // holds `len` bytes elsewhere.
        unsafe { core::ptr::copy_nonoverlapping(src, op.cast::<u8>().add(DATA_OFFSET), len) };
    }
    op
}

/// A new object of `ty` (str or bytes) holding `data` and a trailing NUL.
///
/// # Safety
/// `ty` must be `str` or `bytes` (or a subtype with their layout).
pub unsafe fn alloc_with_bytes(ty: *mut PyTypeObject, data: &[u8]) -> *mut PyObject {
    // SAFETY: the caller's guarantee; a Rust slice is no object's memory.
    unsafe { alloc_with_raw(ty, data.as_ptr(), data.len()) }
}

/// The bytes of a str or bytes object (without the trailing NUL).
///
/// # Safety
/// `op` must be a str or bytes object that outlives the slice.
pub unsafe fn data<'a>(op: *mut PyObject) -> &'a [u8] {
    // SAFETY: the caller guarantees `op` is a str or bytes object that
    // outlives the slice: `ob_size` bytes follow its header at
    // `DATA_OFFSET`, never written after creation.
    unsafe {
        let len = (*op.cast::<PyVarObject>()).ob_size as usize;
        core::slice::from_raw_parts(op.cast::<u8>().add(DATA_OFFSET), len)
    }
}

/// Pointer to the NUL-terminated data of a str or bytes object.
///
/// # Safety
/// `op` must be a str or bytes object.
pub unsafe fn data_ptr(op: *mut PyObject) -> *mut c_char {
    // SAFETY: the caller guarantees `op` is a str or bytes object, whose
    // allocation extends past `DATA_OFFSET`.
    unsafe { op.cast::<c_char>().add(DATA_OFFSET) }
}

/// A new str from Rust text.
pub fn from_str(s: &str) -> *mut PyObject {
    // SAFETY: PyUnicode_Type is a ready static type.
    unsafe { alloc_with_bytes(&raw mut PyUnicode_Type, s.as_bytes()) }
}

/// A new str from an owned Rust string.
pub fn from_string(s: String) -> *mut PyObject {
    from_str(&s)
}

/// The text of a str object.
///
/// # Safety
/// `op` must be a str object that outlives the borrow.
pub unsafe fn as_str<'a>(op: *mut PyObject) -> &'a str {
    // SAFETY: the caller guarantees `op` is a str that outlives the borrow;
    // str objects are only ever created from valid UTF-8.
    unsafe { core::str::from_utf8_unchecked(data(op)) }
}

/// Python's quoting of str (`'text'`) and bytes (`b'text'`) for `repr`.
pub fn quote(s: &str, bytes: bool) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 3);
    if bytes {
        out.push('b');
    }
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f || (bytes && c as u32 > 0x7f) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if !is_printable(c) => {
                let cp = c as u32;
                out.push_str(&if cp <= 0xff {
                    format!("\\x{cp:02x}")
                } else if cp <= 0xffff {
                    format!("\\u{cp:04x}")
                } else {
                    format!("\\U{cp:08x}")
                });
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// Code points that `repr` escapes beyond ASCII (Python's
/// `str.isprintable()` is false for them), as inclusive ranges: the C1
/// controls (Cc), the separators other than the space (Zs, Zl, Zp), the
/// format characters (Cf), the private-use areas (Co), the noncharacters
/// and the planes that Unicode 11 (Python 3.7's database) leaves unassigned
/// (Cn). Smaller unassigned gaps inside assigned blocks are not listed.
const NOT_PRINTABLE: &[(u32, u32)] = &[
    (0x80, 0xa0),
    (0xad, 0xad),
    (0x600, 0x605),
    (0x61c, 0x61c),
    (0x6dd, 0x6dd),
    (0x70f, 0x70f),
    (0x8e2, 0x8e2),
    (0x1680, 0x1680),
    (0x180e, 0x180e),
    (0x2000, 0x200f),
    (0x2028, 0x202f),
    (0x205f, 0x206f),
    (0x3000, 0x3000),
    (0xe000, 0xf8ff),
    (0xfdd0, 0xfdef),
    (0xfeff, 0xfeff),
    (0xfff9, 0xfffb),
    (0x110bd, 0x110bd),
    (0x110cd, 0x110cd),
    (0x1bca0, 0x1bca3),
    (0x1d173, 0x1d17a),
    (0x2fa1e, 0xdffff),
    (0xe0000, 0xe00ff),
    (0xe01f0, 0x10ffff),
];

/// Whether `repr` shows a non-ASCII character as it is.
fn is_printable(c: char) -> bool {
    let cp = c as u32;
    // U+xxFFFE and U+xxFFFF are noncharacters in every plane.
    if cp & 0xfffe == 0xfffe {
        return false;
    }
    !NOT_PRINTABLE
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&cp))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quote_picks_python_quotes() {
        assert_eq!(quote("a", false), "'a'");
        assert_eq!(quote("it's", false), "\"it's\"");
        assert_eq!(quote("'\"", false), "'\\'\"'");
        assert_eq!(quote("it's", true), "b\"it's\"");
    }

    #[test]
    fn quote_escapes_what_python_escapes() {
        assert_eq!(
            quote("\n\t\r\\\x01\x7f", false),
            "'\\n\\t\\r\\\\\\x01\\x7f'"
        );
        assert_eq!(
            quote("\u{e9}\u{20ac}\u{1f600}", false),
            "'\u{e9}\u{20ac}\u{1f600}'"
        );
        assert_eq!(quote("\u{85}\u{a0}\u{ad}", false), "'\\x85\\xa0\\xad'");
        assert_eq!(
            quote("\u{2028}\u{200b}\u{feff}\u{fffe}", false),
            "'\\u2028\\u200b\\ufeff\\ufffe'"
        );
        assert_eq!(quote("\u{e000}\u{10ffff}", false), "'\\ue000\\U0010ffff'");
        assert_eq!(quote("\u{e9}", true), "b'\\xe9'");
    }
}
