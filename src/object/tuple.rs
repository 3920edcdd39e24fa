//! `tuple`: a fixed number of object references stored inline.

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use crate::errors::guard;
use crate::errors::{self, PyResult};
use core::ptr::null_mut;

const ITEMS_OFFSET: usize = core::mem::size_of::<PyVarObject>();

/// `tp_dealloc` of tuples: releases the items, in constant stack however
/// deep tuples nest ([`Graveyard`]).
///
/// # Safety
/// `op` must be a tuple whose reference count has dropped to zero.
pub(crate) unsafe extern "C-unwind" fn tuple_dealloc(op: *mut PyObject) {
    guard((), || {
        // SAFETY: the caller's guarantee is what `clear` needs.
        unsafe { Graveyard::dealloc_container(op, clear) }
    })
}

/// Releases the items of a dead tuple into `graveyard`.
///
/// # Safety
/// `op` must be a tuple whose reference count has dropped to zero; its
/// items are released once.
pub(crate) unsafe fn clear(op: *mut PyObject, graveyard: &mut Graveyard) {
    // SAFETY: per the contract, each item is NULL or an owned reference.
    unsafe {
        for &item in items(op) {
            graveyard.release(item);
        }
    }
}

/// `tp_repr` of tuples: `(a, b)`, `(a,)`, `()`; `(...)` for a tuple
/// inside its own repr.
///
/// # Safety
/// `op` must be a live tuple.
unsafe extern "C-unwind" fn tuple_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live tuple.
        let n = unsafe { len(op) };
        if n == 0 {
            return unicode::from_str("()");
        }
        if protocol::repr_enter(op) {
            return unicode::from_str("(...)");
        }
        let mut out = String::from("(");
        // SAFETY: `op` stays a live tuple of `n` slots (the caller holds it);
        // each item is read when its turn comes and held while its repr runs,
        // which may replace it in the tuple.
        let shown = (0..n).try_for_each(|i| unsafe {
            if i > 0 {
                out.push_str(", ");
            }
            let item = xnew_ref(get(op, i));
            let r = protocol::push_repr(&mut out, item);
            xdecref(item);
            r
        });
        protocol::repr_leave(op);
        if shown.is_err() {
            return null_mut();
        }
        out.push_str(if n == 1 { ",)" } else { ")" });
        unicode::from_string(out)
    })
}

/// The type of tuples.
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
    // SAFETY: the caller guarantees `op` is live; `PyTuple_Type` is a type.
    unsafe { type_check(op, &raw mut PyTuple_Type) }
}

/// A new tuple of `n` NULL items (the shared empty tuple for 0);
/// `MemoryError` when it cannot be allocated.
pub fn new(n: usize) -> PyResult<*mut PyObject> {
    if n == 0 {
        return empty();
    }
    let Ok(n) = Py_ssize_t::try_from(n) else {
        return Err(errors::no_memory());
    };
    // SAFETY: PyTuple_Type is a ready static type; calloc zeroes the items.
    unsafe { typeobj::alloc(&raw mut PyTuple_Type, n) }
}

/// A new tuple holding new references to `objs`.
///
/// # Safety
/// Every element must be a live object.
pub unsafe fn from_borrowed(objs: &[*mut PyObject]) -> PyResult<*mut PyObject> {
    let t = new(objs.len())?;
    // SAFETY: `t` is a new tuple of `objs.len()` NULL slots nobody else
    // sees; the caller guarantees every element is live.
    unsafe {
        for (slot, &o) in items_mut(t).iter_mut().zip(objs) {
            *slot = new_ref(o);
        }
    }
    Ok(t)
}

/// The number of items.
///
/// # Safety
/// `op` must be a tuple.
pub unsafe fn len(op: *mut PyObject) -> usize {
    // SAFETY: the caller guarantees `op` is a tuple, which starts with a
    // `PyVarObject`.
    unsafe { (*op.cast::<PyVarObject>()).ob_size as usize }
}

/// The items, borrowed.
///
/// # Safety
/// `op` must be a tuple that outlives the slice.
pub unsafe fn items<'a>(op: *mut PyObject) -> &'a [*mut PyObject] {
    // SAFETY: the caller guarantees `op` is a tuple that outlives the slice:
    // its `len(op)` item slots follow the header at `ITEMS_OFFSET` (pointer
    // aligned), allocated with it.
    unsafe { core::slice::from_raw_parts(op.cast::<u8>().add(ITEMS_OFFSET).cast(), len(op)) }
}

/// Item `i`, borrowed, read now (user code may have replaced it since the
/// tuple was last looked at).
///
/// # Safety
/// `op` must be a live tuple with more than `i` items.
pub unsafe fn get(op: *mut PyObject, i: usize) -> *mut PyObject {
    // SAFETY: the caller guarantees slot `i` is one of the tuple's, which
    // follow the header at `ITEMS_OFFSET` (pointer aligned).
    unsafe {
        op.cast::<u8>()
            .add(ITEMS_OFFSET)
            .cast::<*mut PyObject>()
            .add(i)
            .read()
    }
}

/// The item slots, for filling a new tuple.
///
/// # Safety
/// `op` must be a tuple nobody else sees yet.
pub unsafe fn items_mut<'a>(op: *mut PyObject) -> &'a mut [*mut PyObject] {
    // SAFETY: as for `items`; the caller guarantees nobody else sees the
    // tuple, so the slots are not aliased.
    unsafe { core::slice::from_raw_parts_mut(op.cast::<u8>().add(ITEMS_OFFSET).cast(), len(op)) }
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
