//! Exports of the object model: constructors, accessors and the abstract
//! object protocol, with CPython's signatures and reference conventions.
// Exports take raw pointers from C, where `unsafe` does not exist; each one
// checks its pointers before use.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{required, required_kind, to_object, to_status};
use crate::errors::guard;
use crate::errors::{self as err, PyResult};
use crate::object::{
    self, bytes, capsule, cfunction, dict, float, long, protocol, tuple, typeobj, unicode,
    PyMethodDef, PyObject, PyTypeObject, Py_ssize_t,
};
use core::ffi::{c_char, c_int, c_long, c_longlong, c_ulong, c_ulonglong, c_void, CStr};
use core::ptr::null_mut;

// PyType_Ready comes first: cbindgen emits types in the order the first
// export meets them, and PyTypeObject must lead the PyObject cycle.
/// Finishes a user-defined type and its bases that are not ready yet:
/// fills ob_type, tp_base (default object) and every slot left NULL from
/// the base, then marks it Py_TPFLAGS_READY. A ready type is left alone.
///
/// Returns 0, or -1 with nothing written: SystemError for NULL, an object
/// or a base that is no type, or a type without tp_name; TypeError for a
/// cycle of bases, a base that does not allow subclassing, or a
/// tp_basicsize smaller than the base's. Threads: any thread, several at
/// once on the same type.
#[no_mangle]
pub extern "C" fn PyType_Ready(r#type: *mut PyTypeObject) -> c_int {
    guard(-1, || {
        // SAFETY: NULL or an object; a type object that is not ready yet
        // is written, as the C API allows.
        to_status(unsafe { typeobj::ready(r#type) })
    })
}

/// Frees an object whose reference count reached zero (used by Py_DECREF).
///
/// Not for direct use.
#[no_mangle]
pub extern "C" fn _Py_Dealloc(op: *mut PyObject) {
    guard((), || {
        if !op.is_null() {
            // SAFETY: called by Py_DECREF when the count reached zero.
            unsafe { object::dealloc(op) }
        }
    })
}

/// Py_IncRef(op): Py_XINCREF as a function. op may be NULL.
#[no_mangle]
pub extern "C" fn Py_IncRef(op: *mut PyObject) {
    guard((), || {
        // SAFETY: NULL or a live object, per the C API.
        unsafe { object::xincref(op) }
    })
}

/// Py_DecRef(op): Py_XDECREF as a function. op may be NULL.
#[no_mangle]
pub extern "C" fn Py_DecRef(op: *mut PyObject) {
    guard((), || {
        // SAFETY: NULL or an owned reference, per the C API.
        unsafe { object::xdecref(op) }
    })
}

/// A new int from a C long. Returns a new reference, NULL on failure.
#[no_mangle]
pub extern "C" fn PyLong_FromLong(v: c_long) -> *mut PyObject {
    guard(null_mut(), || long::from_i128(v.into()))
}

/// A new int from a C unsigned long. Returns a new reference.
#[no_mangle]
pub extern "C" fn PyLong_FromUnsignedLong(v: c_ulong) -> *mut PyObject {
    guard(null_mut(), || long::from_i128(v.into()))
}

/// A new int from a C long long. Returns a new reference.
#[no_mangle]
pub extern "C" fn PyLong_FromLongLong(v: c_longlong) -> *mut PyObject {
    guard(null_mut(), || long::from_i128(v.into()))
}

/// A new int from a C unsigned long long. Returns a new reference.
#[no_mangle]
pub extern "C" fn PyLong_FromUnsignedLongLong(v: c_ulonglong) -> *mut PyObject {
    guard(null_mut(), || long::from_i128(v.into()))
}

/// A new int from a Py_ssize_t. Returns a new reference.
#[no_mangle]
pub extern "C" fn PyLong_FromSsize_t(v: Py_ssize_t) -> *mut PyObject {
    guard(null_mut(), || long::from_i128(v as i128))
}

/// The value of an int as a C long.
///
/// Returns -1 with TypeError for a non-int, OverflowError when it does
/// not fit, SystemError for NULL (check PyErr_Occurred() when -1).
#[no_mangle]
pub extern "C" fn PyLong_AsLong(op: *mut PyObject) -> c_long {
    guard(-1, || {
        // SAFETY: checked non-NULL; C passes live objects.
        required(op)
            .and_then(|op| unsafe { long::as_long(op) })
            .unwrap_or(-1)
    })
}

/// A new float. Returns a new reference, NULL on failure.
#[no_mangle]
pub extern "C" fn PyFloat_FromDouble(v: f64) -> *mut PyObject {
    guard(null_mut(), || float::from_f64(v))
}

/// The value of a float (or int) as a C double; -1.0 with TypeError
/// for other objects, SystemError for NULL.
#[no_mangle]
pub extern "C" fn PyFloat_AsDouble(op: *mut PyObject) -> f64 {
    guard(-1.0, || {
        // SAFETY: checked non-NULL.
        required(op)
            .and_then(|op| unsafe { float::as_f64(op) })
            .unwrap_or(-1.0)
    })
}

/// A `str` from `len` bytes at `s`, or from the NUL-terminated `s`.
///
/// # Safety
/// `s` must be NULL or hold `len` bytes (NUL-terminated when `len` is None).
unsafe fn text_from(s: *const c_char, len: Option<Py_ssize_t>) -> PyResult<*mut PyObject> {
    let bytes = match len {
        Some(n) if n < 0 => {
            return Err(err::system_error(
                "Negative size passed to PyUnicode_FromStringAndSize",
            ))
        }
        Some(n) if s.is_null() && n > 0 => return Err(err::bad_internal_call()),
        Some(n) if s.is_null() => &[][..n as usize],
        // SAFETY: `s` holds `n` bytes per the contract.
        Some(n) => unsafe { core::slice::from_raw_parts(s.cast::<u8>(), n as usize) },
        None if s.is_null() => return Err(err::bad_internal_call()),
        // SAFETY: `s` is NUL-terminated per the contract.
        None => unsafe { CStr::from_ptr(s) }.to_bytes(),
    };
    match core::str::from_utf8(bytes) {
        Ok(text) => Ok(unicode::from_str(text)),
        Err(e) => Err(err::value_error(&decode_error_message(bytes, e))),
    }
}

/// CPython's text for a UTF-8 decoding error: the offending bytes (the
/// longest start of a valid sequence, or what is left at the end) and why.
fn decode_error_message(bytes: &[u8], e: core::str::Utf8Error) -> String {
    let start = e.valid_up_to();
    let (len, reason) = match e.error_len() {
        None => (bytes.len() - start, "unexpected end of data"),
        Some(1) if !(0xc2..=0xf4).contains(&bytes[start]) => (1, "invalid start byte"),
        Some(n) => (n, "invalid continuation byte"),
    };
    if len == 1 {
        format!(
            "'utf-8' codec can't decode byte 0x{:02x} in position {start}: {reason}",
            bytes[start]
        )
    } else {
        format!(
            "'utf-8' codec can't decode bytes in position {start}-{}: {reason}",
            start + len - 1
        )
    }
}

/// A new str from NUL-terminated UTF-8. NULL with ValueError for
/// invalid UTF-8, SystemError for a NULL pointer.
#[no_mangle]
pub extern "C" fn PyUnicode_FromString(s: *const c_char) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a NUL-terminated string per the C API.
        to_object(unsafe { text_from(s, None) })
    })
}

/// A new str from size bytes of UTF-8 at s (s may be NULL when size is 0).
/// NULL with ValueError for invalid UTF-8, SystemError for a negative size
/// or a NULL s with a positive size.
#[no_mangle]
pub extern "C" fn PyUnicode_FromStringAndSize(s: *const c_char, size: Py_ssize_t) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: `s` holds `size` bytes per the C API.
        to_object(unsafe { text_from(s, Some(size)) })
    })
}

/// The UTF-8 text of a str, NUL-terminated, valid as long as the object
/// lives. NULL with TypeError for a non-str, SystemError for NULL.
#[no_mangle]
pub extern "C" fn PyUnicode_AsUTF8(op: *mut PyObject) -> *const c_char {
    guard(core::ptr::null(), || {
        // SAFETY: checked non-NULL and a str before use.
        unsafe {
            if op.is_null() {
                err::bad_internal_call();
            } else if !unicode::check(op) {
                err::type_error(err::BAD_ARGUMENT);
            } else {
                return unicode::data_ptr(op);
            }
        }
        core::ptr::null()
    })
}

/// A new bytes of size bytes copied from s (zeroed when s is NULL).
/// NULL with MemoryError when it cannot be allocated, SystemError for
/// a negative size.
#[no_mangle]
pub extern "C" fn PyBytes_FromStringAndSize(s: *const c_char, size: Py_ssize_t) -> *mut PyObject {
    guard(null_mut(), || {
        if size < 0 {
            err::system_error("Negative size passed to PyBytes_FromStringAndSize");
            return null_mut();
        }
        // SAFETY: `s` is NULL or holds `size` bytes per the C API.
        unsafe { bytes::from_raw(s.cast(), size as usize) }
    })
}

/// `op` if it is a `bytes`, else `TypeError`.
///
/// # Safety
/// `op` must be NULL or live.
unsafe fn expect_bytes(op: *mut PyObject) -> PyResult<*mut PyObject> {
    let op = required(op)?;
    // SAFETY: `op` is non-NULL and live per the contract.
    unsafe {
        if bytes::check(op) {
            Ok(op)
        } else {
            Err(err::type_error(&format!(
                "expected bytes, {} found",
                typeobj::type_name_of(op)
            )))
        }
    }
}

/// The NUL-terminated contents of a bytes, valid as long as it lives.
/// NULL with TypeError for other objects.
#[no_mangle]
pub extern "C" fn PyBytes_AsString(op: *mut PyObject) -> *mut c_char {
    guard(null_mut(), || {
        // SAFETY: checked to be a bytes object.
        unsafe { expect_bytes(op).map_or(null_mut(), |op| unicode::data_ptr(op)) }
    })
}

/// The length of a bytes; -1 with TypeError for other objects.
#[no_mangle]
pub extern "C" fn PyBytes_Size(op: *mut PyObject) -> Py_ssize_t {
    guard(-1, || {
        // SAFETY: checked to be a bytes object.
        unsafe { expect_bytes(op).map_or(-1, |op| unicode::data(op).len() as Py_ssize_t) }
    })
}

/// A new tuple of size NULL items, to be filled with PyTuple_SetItem.
/// NULL with MemoryError when it cannot be allocated, SystemError for
/// a negative size.
#[no_mangle]
pub extern "C" fn PyTuple_New(size: Py_ssize_t) -> *mut PyObject {
    guard(null_mut(), || {
        if size < 0 {
            err::bad_internal_call();
            return null_mut();
        }
        to_object(tuple::new(size as usize))
    })
}

/// The item at index, borrowed. NULL with IndexError("tuple index out of
/// range"), or SystemError for a non-tuple.
#[no_mangle]
pub extern "C" fn PyTuple_GetItem(op: *mut PyObject, index: Py_ssize_t) -> *mut PyObject {
    guard(null_mut(), || {
        let Ok(op) = required_kind(op, tuple::check) else {
            return null_mut();
        };
        // SAFETY: checked to be a tuple.
        let items = unsafe { tuple::items(op) };
        match usize::try_from(index).ok().and_then(|i| items.get(i)) {
            Some(&item) => item,
            None => {
                err::set_string(
                    object::exceptions::index_error(),
                    "tuple index out of range",
                );
                null_mut()
            }
        }
    })
}

/// Stores item at index, stealing the reference (also on failure).
/// Returns 0, or -1 with IndexError("tuple assignment index out of range")
/// or SystemError for a non-tuple.
#[no_mangle]
pub extern "C" fn PyTuple_SetItem(
    op: *mut PyObject,
    index: Py_ssize_t,
    item: *mut PyObject,
) -> c_int {
    guard(-1, || {
        // SAFETY: `item` is stolen (NULL allowed); `op` is checked.
        unsafe {
            let Ok(op) = required_kind(op, tuple::check) else {
                object::xdecref(item);
                return -1;
            };
            let items = tuple::items_mut(op);
            match usize::try_from(index).ok().and_then(|i| items.get_mut(i)) {
                Some(slot) => {
                    let old = core::mem::replace(slot, item);
                    object::xdecref(old);
                    0
                }
                None => {
                    object::xdecref(item);
                    err::set_string(
                        object::exceptions::index_error(),
                        "tuple assignment index out of range",
                    );
                    -1
                }
            }
        }
    })
}

/// The number of items of a tuple; -1 with SystemError for a non-tuple.
#[no_mangle]
pub extern "C" fn PyTuple_Size(op: *mut PyObject) -> Py_ssize_t {
    guard(-1, || {
        // SAFETY: checked to be a tuple.
        required_kind(op, tuple::check).map_or(-1, |op| unsafe { tuple::len(op) as Py_ssize_t })
    })
}

/// A new empty dict.
#[no_mangle]
pub extern "C" fn PyDict_New() -> *mut PyObject {
    guard(null_mut(), || to_object(dict::new()))
}

/// Stores value (borrowed) under key; 0, or -1 with SystemError for a
/// non-dict or NULL, RecursionError when comparing nested tuple keys
/// recurses too deeply.
#[no_mangle]
pub extern "C" fn PyDict_SetItem(
    op: *mut PyObject,
    key: *mut PyObject,
    value: *mut PyObject,
) -> c_int {
    guard(-1, || {
        to_status((|| {
            let op = required_kind(op, dict::check)?;
            let key = required(key)?;
            let value = required(value)?;
            // SAFETY: all three checked.
            unsafe { dict::set_item(op, key, value) }
        })())
    })
}

/// Stores value (borrowed) under the str key key (UTF-8). Returns 0, or -1
/// as PyDict_SetItem, or with ValueError for a key that is not UTF-8.
#[no_mangle]
pub extern "C" fn PyDict_SetItemString(
    op: *mut PyObject,
    key: *const c_char,
    value: *mut PyObject,
) -> c_int {
    guard(-1, || {
        to_status((|| {
            let op = required_kind(op, dict::check)?;
            let value = required(value)?;
            // SAFETY: `key` is a NUL-terminated string per the C API.
            let k = to_object(unsafe { text_from(key, None) });
            if k.is_null() {
                return Err(crate::errors::Raised);
            }
            // SAFETY: all checked; `k` is owned.
            unsafe {
                let r = dict::set_item(op, k, value);
                object::decref(k);
                r
            }
        })())
    })
}

/// The value under the str key key, borrowed; NULL without an exception
/// when missing, NULL with SystemError for a non-dict.
#[no_mangle]
pub extern "C" fn PyDict_GetItemString(op: *mut PyObject, key: *const c_char) -> *mut PyObject {
    guard(null_mut(), || {
        let Ok(op) = required_kind(op, dict::check) else {
            return null_mut();
        };
        if key.is_null() {
            err::bad_internal_call();
            return null_mut();
        }
        // SAFETY: a dict and a NUL-terminated key.
        unsafe { dict::get_item_str(op, CStr::from_ptr(key).to_bytes()) }
    })
}

/// The number of entries; -1 with SystemError for a non-dict.
#[no_mangle]
pub extern "C" fn PyDict_Size(op: *mut PyObject) -> Py_ssize_t {
    guard(-1, || {
        // SAFETY: checked to be a dict.
        required_kind(op, dict::check).map_or(-1, |op| unsafe { dict::len(op) as Py_ssize_t })
    })
}

/// A new capsule (new reference) holding pointer under name (may be NULL;
/// lent, it must outlive the capsule); destructor (may be NULL) runs when
/// the capsule is freed. NULL with ValueError for a NULL pointer.
#[no_mangle]
pub extern "C" fn PyCapsule_New(
    pointer: *mut c_void,
    name: *const c_char,
    destructor: capsule::PyCapsule_Destructor,
) -> *mut PyObject {
    guard(null_mut(), || {
        to_object(capsule::new(pointer, name, destructor))
    })
}

/// The pointer of a capsule whose name equals name; NULL with
/// ValueError for another name or a non-capsule.
#[no_mangle]
pub extern "C" fn PyCapsule_GetPointer(op: *mut PyObject, name: *const c_char) -> *mut c_void {
    guard(null_mut(), || {
        // SAFETY: NULL or a live object; the name NULL or NUL-terminated.
        unsafe { capsule::pointer(op, name) }.unwrap_or(null_mut())
    })
}

/// A new built-in function object (new reference) for ml (which must
/// outlive it), bound to bound_to (may be NULL), the first argument of
/// every call; module may be NULL. NULL with SystemError for a NULL ml.
#[no_mangle]
pub extern "C" fn PyCFunction_NewEx(
    ml: *mut PyMethodDef,
    bound_to: *mut PyObject,
    module: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        if ml.is_null() {
            err::bad_internal_call();
            return null_mut();
        }
        // SAFETY: `ml` checked; `bound_to`/`module` NULL or live.
        to_object(unsafe { cfunction::new(ml, bound_to, module) })
    })
}

/// PyCFunction_NewEx(ml, bound_to, NULL).
#[no_mangle]
pub extern "C" fn PyCFunction_New(ml: *mut PyMethodDef, bound_to: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || PyCFunction_NewEx(ml, bound_to, null_mut()))
}

/// Calls callable(*args, **kwargs). args must be a tuple, kwargs
/// NULL or a dict (else SystemError). Returns a new reference, or NULL
/// with the exception. May switch tasklets. Threads:
/// any thread.
#[no_mangle]
pub extern "C" fn PyObject_Call(
    callable: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        to_object(required(callable).and_then(|callable| {
            // SAFETY: checked non-NULL; `protocol::call` checks the others.
            unsafe { protocol::call(callable, args, kwargs) }
        }))
    })
}

/// Calls callable(*args); args may be NULL (no arguments), else it must
/// be a tuple (TypeError("argument list must be a tuple"), as CPython).
/// May switch tasklets. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyObject_CallObject(
    callable: *mut PyObject,
    args: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        to_object((|| {
            let callable = required(callable)?;
            if args.is_null() {
                let empty = tuple::empty()?;
                // SAFETY: a checked callable and an owned empty tuple.
                return unsafe {
                    let r = protocol::call(callable, empty, null_mut());
                    object::decref(empty);
                    r
                };
            }
            // SAFETY: `args` is not NULL: a live object per the C API; the
            // callable is checked.
            unsafe {
                protocol::check_call_args(args, null_mut())?;
                protocol::call(callable, args, null_mut())
            }
        })())
    })
}

/// getattr(op, name), a new reference: a method of the type's tp_methods
/// (bound to op), an exception's args, or a type's __name__; else NULL
/// with AttributeError.
#[no_mangle]
pub extern "C" fn PyObject_GetAttrString(op: *mut PyObject, name: *const c_char) -> *mut PyObject {
    guard(null_mut(), || {
        to_object((|| {
            let op = required(op)?;
            if name.is_null() {
                return Err(err::bad_internal_call());
            }
            // SAFETY: live object and NUL-terminated name.
            unsafe { protocol::getattr(op, &CStr::from_ptr(name).to_string_lossy()) }
        })())
    })
}

/// str(op): a new str, or NULL. NULL op gives the str "<NULL>".
#[no_mangle]
pub extern "C" fn PyObject_Str(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: NULL or a live object.
        to_object(unsafe { protocol::str_object(op) })
    })
}

/// repr(op): a new str, or NULL. NULL op gives the str "<NULL>".
#[no_mangle]
pub extern "C" fn PyObject_Repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: NULL or a live object.
        to_object(unsafe { protocol::repr_object(op) })
    })
}

/// The truth value of op: 1 or 0; -1 with SystemError for NULL.
#[no_mangle]
pub extern "C" fn PyObject_IsTrue(op: *mut PyObject) -> c_int {
    guard(-1, || {
        // SAFETY: checked non-NULL.
        required(op).map_or(-1, |op| unsafe { protocol::is_true(op) } as c_int)
    })
}

/// 1 if a is b or a subtype of it, else 0 (also for NULL or an object
/// that is no type).
#[no_mangle]
pub extern "C" fn PyType_IsSubtype(a: *mut PyTypeObject, b: *mut PyTypeObject) -> c_int {
    guard(0, || {
        if a.is_null() || b.is_null() {
            return 0;
        }
        // SAFETY: non-NULL objects per the C API; checked to be types before
        // their `tp_base` chain is read.
        unsafe {
            let is_type = |t: *mut PyTypeObject| typeobj::check(t.cast());
            (a == b || (is_type(a) && is_type(b) && typeobj::is_subtype(a, b))) as c_int
        }
    })
}

/// isinstance(inst, cls): 1, 0, or -1 with TypeError when cls is
/// neither a type nor a tuple of types.
#[no_mangle]
pub extern "C" fn PyObject_IsInstance(inst: *mut PyObject, cls: *mut PyObject) -> c_int {
    guard(-1, || {
        let (Ok(inst), Ok(cls)) = (required(inst), required(cls)) else {
            return -1;
        };
        // SAFETY: both checked.
        match unsafe { protocol::is_instance(inst, cls) } {
            Ok(b) => b as c_int,
            Err(_) => -1,
        }
    })
}

/// 1 if op can be called, else 0 (also for NULL).
#[no_mangle]
pub extern "C" fn PyCallable_Check(op: *mut PyObject) -> c_int {
    guard(0, || {
        // SAFETY: checked non-NULL.
        (!op.is_null() && unsafe { protocol::is_callable(op) }) as c_int
    })
}

/// Allocates a zeroed instance of type with room for nitems items;
/// refcount 1. The default tp_alloc. NULL with SystemError when type is
/// NULL, no type object or not ready, or nitems is negative.
#[no_mangle]
pub extern "C" fn PyType_GenericAlloc(
    r#type: *mut PyTypeObject,
    nitems: Py_ssize_t,
) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: checked to be a type object before it is used as one.
        unsafe {
            if typeobj::check_type_arg(r#type).is_err() {
                return null_mut();
            }
            if nitems < 0 {
                err::bad_internal_call();
                return null_mut();
            }
            // Not through `tp_alloc`: this function is often that slot.
            typeobj::generic_alloc(r#type, nitems)
        }
    })
}

/// The default tp_new: allocates through tp_alloc, ignoring arguments.
/// NULL with SystemError when type is NULL, no type object or not ready.
#[no_mangle]
pub extern "C" fn PyType_GenericNew(
    r#type: *mut PyTypeObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        // The arguments are tp_init's.
        _ = (args, kwds);
        // SAFETY: checked to be a type object before it is used as one.
        to_object(unsafe {
            typeobj::check_type_arg(r#type).and_then(|()| typeobj::alloc(r#type, 0))
        })
    })
}

/// Py_EnterRecursiveCall(where): counts one more level of nesting of the
/// calling tasklet, before a recursive step (a container inside a
/// container, a call that may call back). where (may be NULL) ends the
/// message. Returns 0, or -1 with RecursionError("maximum recursion depth
/// exceeded" + where) and nothing counted when the nesting is too deep.
/// Each 0 is paired with a Py_LeaveRecursiveCall(). Threads: any thread;
/// the count is its current tasklet's.
#[no_mangle]
pub extern "C" fn Py_EnterRecursiveCall(r#where: *const c_char) -> c_int {
    guard(-1, || {
        let where_ = if r#where.is_null() {
            &[][..]
        } else {
            // SAFETY: a NUL-terminated string per the C API.
            unsafe { CStr::from_ptr(r#where) }.to_bytes()
        };
        // The usual ASCII literal is used as it is (this runs at every
        // level of a nesting), anything else decoded.
        to_status(if where_.is_ascii() {
            // SAFETY: ASCII is UTF-8.
            protocol::enter_recursive_call(unsafe { core::str::from_utf8_unchecked(where_) })
        } else {
            protocol::enter_recursive_call(&String::from_utf8_lossy(where_))
        })
    })
}

/// Py_LeaveRecursiveCall(): ends a level counted by Py_EnterRecursiveCall.
/// Threads: any thread; the count is its current tasklet's.
#[no_mangle]
pub extern "C" fn Py_LeaveRecursiveCall() {
    guard((), protocol::leave_recursive_call)
}

/// Allocates size bytes for an object (malloc); NULL, without an exception,
/// when there is no memory.
#[no_mangle]
pub extern "C" fn PyObject_Malloc(size: usize) -> *mut c_void {
    guard(null_mut(), || {
        // SAFETY: plain allocation.
        unsafe { libc::malloc(size.max(1)) }
    })
}

/// Frees memory from PyObject_Malloc or PyType_GenericAlloc (the
/// default tp_free).
#[no_mangle]
pub extern "C" fn PyObject_Free(p: *mut c_void) {
    guard((), || {
        // SAFETY: memory from malloc/calloc or NULL.
        unsafe { libc::free(p) }
    })
}

/// The calling thread's id (pthread_self()), as CPython.
#[no_mangle]
pub extern "C" fn PyThread_get_thread_ident() -> c_ulong {
    guard(0, || {
        // SAFETY: pthread_self has no preconditions.
        unsafe { libc::pthread_self() as c_ulong }
    })
}
