//! The small CPython-compatible object model the Stackless C-API needs.
//!
//! Objects are C structs that start with [`PyObject`]; every built-in type is
//! a static [`PyTypeObject`] that is never freed. Reference counts are atomic
//! because objects cross threads over channels and there is no global lock.

pub mod bytes;
pub mod capsule;
pub mod cfunction;
pub mod dict;
pub mod exceptions;
pub mod float;
pub mod long;
pub mod none;
pub mod protocol;
pub mod tuple;
pub mod typeobj;
pub mod unicode;

use core::ffi::{c_char, c_int, c_ulong, c_void};
use core::sync::atomic::{AtomicIsize, Ordering};

/// The signed size type of the object model (ssize_t).
#[allow(non_camel_case_types)]
pub type Py_ssize_t = isize;

/// The header every object starts with.
///
/// Threads: reference counts are atomic, so any thread may take and release
/// references to any object, and a channel may carry objects to another
/// thread. Objects that do not change (int, float, str, bytes, None, True,
/// False, a tuple once filled, a ready type) may be used by several threads
/// at once. Objects have no lock: a dict, or a tuple being filled, must not
/// be changed by one thread while another uses it.
#[repr(C)]
pub struct PyObject {
    /// Reference count, changed atomically (Py_INCREF/Py_DECREF).
    pub ob_refcnt: Py_ssize_t,
    /// The object's type.
    pub ob_type: *mut PyTypeObject,
}

/// The header of objects with a variable number of items.
#[repr(C)]
pub struct PyVarObject {
    /// The fixed header.
    pub ob_base: PyObject,
    /// The number of items.
    pub ob_size: Py_ssize_t,
}

/// tp_dealloc: frees an object whose reference count reached zero.
#[allow(non_camel_case_types)]
pub type destructor = Option<unsafe extern "C-unwind" fn(*mut PyObject)>;
/// tp_repr / tp_str: a new string reference, or NULL with an exception.
#[allow(non_camel_case_types)]
pub type reprfunc = Option<unsafe extern "C-unwind" fn(*mut PyObject) -> *mut PyObject>;
/// tp_call: (self, args, kwargs) to a new reference or NULL.
#[allow(non_camel_case_types)]
pub type ternaryfunc = Option<
    unsafe extern "C-unwind" fn(*mut PyObject, *mut PyObject, *mut PyObject) -> *mut PyObject,
>;
/// tp_init: (self, args, kwargs) to 0 or -1.
#[allow(non_camel_case_types)]
pub type initproc =
    Option<unsafe extern "C-unwind" fn(*mut PyObject, *mut PyObject, *mut PyObject) -> c_int>;
/// tp_new: (type, args, kwargs) to a new object or NULL.
#[allow(non_camel_case_types)]
pub type newfunc = Option<
    unsafe extern "C-unwind" fn(*mut PyTypeObject, *mut PyObject, *mut PyObject) -> *mut PyObject,
>;
/// tp_alloc: (type, nitems) to a new zeroed object with refcount 1.
#[allow(non_camel_case_types)]
pub type allocfunc =
    Option<unsafe extern "C-unwind" fn(*mut PyTypeObject, Py_ssize_t) -> *mut PyObject>;
/// tp_free: releases the memory of an object.
#[allow(non_camel_case_types)]
pub type freefunc = Option<unsafe extern "C-unwind" fn(*mut c_void)>;
/// tp_iternext: the next item, or NULL (StopIteration or another error).
#[allow(non_camel_case_types)]
pub type iternextfunc = Option<unsafe extern "C-unwind" fn(*mut PyObject) -> *mut PyObject>;

/// A C function of a PyMethodDef (METH_VARARGS, METH_NOARGS, METH_O).
pub type PyCFunction =
    Option<unsafe extern "C-unwind" fn(*mut PyObject, *mut PyObject) -> *mut PyObject>;
/// A C function of a `PyMethodDef` with `METH_VARARGS | METH_KEYWORDS`.
pub type PyCFunctionWithKeywords = Option<
    unsafe extern "C-unwind" fn(*mut PyObject, *mut PyObject, *mut PyObject) -> *mut PyObject,
>;

/// The function is called as meth(self, args).
pub const METH_VARARGS: c_int = 0x0001;
/// With METH_VARARGS: called as meth(self, args, kwargs).
pub const METH_KEYWORDS: c_int = 0x0002;
/// The function takes no arguments: meth(self, NULL).
pub const METH_NOARGS: c_int = 0x0004;
/// The function takes exactly one argument: meth(self, arg).
pub const METH_O: c_int = 0x0008;

/// One method of a type's tp_methods table, or of a C function object.
#[repr(C)]
pub struct PyMethodDef {
    /// The method's name.
    pub ml_name: *const c_char,
    /// The C function; cast to PyCFunction for METH_KEYWORDS.
    pub ml_meth: PyCFunction,
    /// METH_* flags.
    pub ml_flags: c_int,
    /// Documentation, or NULL.
    pub ml_doc: *const c_char,
}

/// The type's slots are filled in (PyType_Ready has run).
pub const Py_TPFLAGS_READY: c_ulong = 1 << 12;
/// The type was allocated at run time (instances hold a reference to it).
pub const Py_TPFLAGS_HEAPTYPE: c_ulong = 1 << 9;
/// The type may be used as tp_base of another type.
pub const Py_TPFLAGS_BASETYPE: c_ulong = 1 << 10;
/// The flags every type has.
pub const Py_TPFLAGS_DEFAULT: c_ulong = 0;

/// A type object. Only the slots the runtime supports are present; their
/// names and meanings are CPython's.
#[repr(C)]
pub struct PyTypeObject {
    /// Header: the type's type (PyType_Type) and refcount.
    pub ob_base: PyVarObject,
    /// "module.Name" or "Name".
    pub tp_name: *const c_char,
    /// Size of an instance in bytes.
    pub tp_basicsize: Py_ssize_t,
    /// Size of one item of a variable-size instance.
    pub tp_itemsize: Py_ssize_t,
    /// Frees an instance.
    pub tp_dealloc: destructor,
    /// repr(obj).
    pub tp_repr: reprfunc,
    /// str(obj); falls back to tp_repr.
    pub tp_str: reprfunc,
    /// obj(*args, **kwargs).
    pub tp_call: ternaryfunc,
    /// Py_TPFLAGS_*.
    pub tp_flags: c_ulong,
    /// Documentation, or NULL.
    pub tp_doc: *const c_char,
    /// NULL-terminated method table, or NULL.
    pub tp_methods: *mut PyMethodDef,
    /// The base type; NULL means object after PyType_Ready.
    pub tp_base: *mut PyTypeObject,
    /// Initialises a new instance.
    pub tp_init: initproc,
    /// Allocates an instance.
    pub tp_alloc: allocfunc,
    /// Creates an instance.
    pub tp_new: newfunc,
    /// Frees the memory of an instance.
    pub tp_free: freefunc,
    /// Next item of an iterator.
    pub tp_iternext: iternextfunc,
}

// SAFETY: type objects are immutable after `PyType_Ready`; the statics below
// are only read through raw pointers.
unsafe impl Sync for PyTypeObject {}

/// Objects whose reference count is at least this are immortal (the static
/// singletons and types): Py_INCREF/Py_DECREF leave them alone, which
/// keeps atomic operations on None off the hot paths.
pub const _Py_IMMORTAL_REFCNT: Py_ssize_t = 1099511627776;

/// A static object header of type `ty`.
pub const fn static_header(ty: *mut PyTypeObject) -> PyObject {
    PyObject {
        ob_refcnt: _Py_IMMORTAL_REFCNT,
        ob_type: ty,
    }
}

/// The atomic view of an object's reference count.
///
/// # Safety
/// `op` must point to a live object.
#[inline(always)]
unsafe fn refcnt<'a>(op: *mut PyObject) -> &'a AtomicIsize {
    // SAFETY: the caller guarantees `op` is live, so `ob_refcnt` is an
    // aligned isize; it is only ever accessed atomically (the header's
    // Py_INCREF/Py_DECREF use __atomic builtins).
    unsafe { AtomicIsize::from_ptr(&raw mut (*op).ob_refcnt) }
}

/// `Py_INCREF`.
///
/// # Safety
/// `op` must point to a live object.
#[inline(always)]
pub unsafe fn incref(op: *mut PyObject) {
    // SAFETY: the caller guarantees `op` is live.
    let rc = unsafe { refcnt(op) };
    if rc.load(Ordering::Relaxed) < _Py_IMMORTAL_REFCNT {
        rc.fetch_add(1, Ordering::Relaxed);
    }
}

/// `Py_XINCREF`.
///
/// # Safety
/// `op` must be NULL or point to a live object.
#[inline(always)]
pub unsafe fn xincref(op: *mut PyObject) {
    if !op.is_null() {
        // SAFETY: `op` is not NULL, so by the caller's contract it is live.
        unsafe { incref(op) };
    }
}

/// `Py_DECREF`: frees the object when the count reaches zero.
///
/// # Safety
/// `op` must point to a live object whose reference the caller owns.
#[inline(always)]
pub unsafe fn decref(op: *mut PyObject) {
    // SAFETY: the caller guarantees `op` is live.
    let rc = unsafe { refcnt(op) };
    if rc.load(Ordering::Relaxed) < _Py_IMMORTAL_REFCNT && rc.fetch_sub(1, Ordering::AcqRel) == 1 {
        // SAFETY: the count went from 1 to 0: the caller's reference was the
        // last one, so nobody else can reach `op` any more.
        unsafe { dealloc(op) };
    }
}

/// `Py_XDECREF`.
///
/// # Safety
/// `op` must be NULL or an owned reference to a live object.
#[inline(always)]
pub unsafe fn xdecref(op: *mut PyObject) {
    if !op.is_null() {
        // SAFETY: `op` is not NULL, so by the caller's contract it is an
        // owned reference to a live object.
        unsafe { decref(op) };
    }
}

/// Returns a new reference to `op`.
///
/// # Safety
/// `op` must point to a live object.
#[inline(always)]
pub unsafe fn new_ref(op: *mut PyObject) -> *mut PyObject {
    // SAFETY: the caller guarantees `op` is live.
    unsafe { incref(op) };
    op
}

/// Calls the type's `tp_dealloc`.
///
/// # Safety
/// `op` must be an object whose reference count has dropped to zero (its
/// memory not yet freed, nobody else using it); it is freed.
pub unsafe fn dealloc(op: *mut PyObject) {
    // SAFETY: the caller guarantees `op` is an unfreed object, so its header
    // is readable and `ob_type` is its type object; the dealloc slot is
    // called with a dead instance of that type, which is its contract.
    unsafe {
        let ty = (*op).ob_type;
        match (*ty).tp_dealloc {
            // `default_dealloc`'s body directly: its guard is for C callers.
            Some(f) if !core::ptr::fn_addr_eq(f, typeobj::default_dealloc as DeallocFn) => f(op),
            _ => typeobj::free_object(op),
        }
    }
}

/// The type of a `tp_dealloc` slot function.
type DeallocFn = unsafe extern "C-unwind" fn(*mut PyObject);

/// Releases the references a dead container holds into a [`Graveyard`].
pub(crate) type ClearFn = unsafe fn(*mut PyObject, &mut Graveyard);

/// The containers of the object model a [`Graveyard`] frees itself: their
/// `tp_dealloc` and how to release their references.
const CONTAINERS: [(DeallocFn, ClearFn); 3] = [
    (tuple::tuple_dealloc, tuple::clear),
    (dict::dict_dealloc, dict::clear),
    (exceptions::exc_dealloc, exceptions::clear),
];

/// The dead containers that the deallocation of another released, waiting
/// to be freed. Freeing them one after the other from a loop rather than
/// from inside the deallocation that released them keeps the stack flat
/// however deeply tuples, dicts and exceptions nest (what CPython's
/// trashcan does for its containers). Any other object is deallocated at
/// once.
pub(crate) struct Graveyard(Vec<*mut PyObject>);

impl Graveyard {
    /// Deallocates the dead container `op`: releases its references with
    /// `clear`, frees it, then frees the containers that released.
    ///
    /// # Safety
    /// `op` must be an object whose reference count has dropped to zero, of
    /// a type whose references `clear` releases.
    pub(crate) unsafe fn dealloc_container(op: *mut PyObject, clear: ClearFn) {
        let mut graveyard = Graveyard(Vec::new());
        // SAFETY: per the contract: `op` is dead; its references are
        // released once, then its memory freed once.
        unsafe {
            clear(op, &mut graveyard);
            typeobj::free_object(op);
            graveyard.bury();
        }
    }

    /// `Py_XDECREF(op)`, except that a container of [`CONTAINERS`] whose
    /// count drops to zero is kept, to be freed by [`Graveyard::bury`].
    ///
    /// # Safety
    /// `op` must be NULL or an owned reference to a live object.
    #[inline(always)]
    pub(crate) unsafe fn release(&mut self, op: *mut PyObject) {
        if op.is_null() {
            return;
        }
        // SAFETY: the caller guarantees `op` is live and its reference owned.
        unsafe {
            let rc = refcnt(op);
            if rc.load(Ordering::Relaxed) >= _Py_IMMORTAL_REFCNT
                || rc.fetch_sub(1, Ordering::AcqRel) != 1
            {
                return;
            }
            // The count went from 1 to 0: nobody else can reach `op`.
            if clear_of(op).is_some() && self.0.try_reserve(1).is_ok() {
                self.0.push(op);
            } else {
                dealloc(op);
            }
        }
    }

    /// Frees the containers kept, releasing their references into this
    /// graveyard, until none is left.
    ///
    /// # Safety
    /// The containers kept are dead (`release` put them there).
    unsafe fn bury(&mut self) {
        while let Some(op) = self.0.pop() {
            // SAFETY: `op` is a dead container of `CONTAINERS` (`release`),
            // freed once: its references released, then its memory.
            unsafe {
                if let Some(clear) = clear_of(op) {
                    clear(op, self);
                    typeobj::free_object(op);
                }
            }
        }
    }
}

/// How to release the references of `op` when its type deallocates with
/// one of [`CONTAINERS`].
///
/// # Safety
/// `op` must point to an unfreed object.
#[inline]
unsafe fn clear_of(op: *mut PyObject) -> Option<ClearFn> {
    // SAFETY: the caller guarantees the header of `op` is readable, so its
    // type is a type object.
    let dealloc = unsafe { (*type_of(op)).tp_dealloc }?;
    CONTAINERS
        .iter()
        .find(|(d, _)| core::ptr::fn_addr_eq(*d, dealloc))
        .map(|&(_, clear)| clear)
}

/// The object's type.
///
/// # Safety
/// `op` must point to a live object.
#[inline(always)]
pub unsafe fn type_of(op: *mut PyObject) -> *mut PyTypeObject {
    // SAFETY: the caller guarantees `op` is live, so its header is readable.
    unsafe { (*op).ob_type }
}

/// Whether `op` is an instance of `ty` or of a subtype.
///
/// # Safety
/// `op` must point to a live object and `ty` to a type object.
#[inline]
pub unsafe fn type_check(op: *mut PyObject, ty: *mut PyTypeObject) -> bool {
    // SAFETY: the caller guarantees `op` is live, so `t` is its type object,
    // and that `ty` is a type object: both are what `is_subtype` needs.
    unsafe {
        let t = (*op).ob_type;
        t == ty || typeobj::is_subtype(t, ty)
    }
}

/// Casts a static type object to an object pointer.
#[inline(always)]
pub fn type_as_object(ty: *mut PyTypeObject) -> *mut PyObject {
    ty.cast()
}

/// Returns a new reference to `op`, or NULL.
///
/// # Safety
/// `op` must be NULL or point to a live object.
#[inline(always)]
pub unsafe fn xnew_ref(op: *mut PyObject) -> *mut PyObject {
    // SAFETY: the caller guarantees `op` is NULL or live.
    unsafe { xincref(op) };
    op
}

/// Sets the reference count of an object that no other thread can reach
/// (one being resurrected in its deallocator, or reused from a free list).
///
/// # Safety
/// `op` must point to an object that only the caller can reach.
#[inline(always)]
pub unsafe fn set_refcnt(op: *mut PyObject, count: Py_ssize_t) {
    // SAFETY: the caller passes an object it alone can reach.
    unsafe { refcnt(op) }.store(count, Ordering::Release);
}

/// Takes a new reference to an object found through a pointer that owns
/// none, unless its count already dropped to zero (it is being
/// deallocated). Returns whether the reference was taken.
///
/// # Safety
/// `op` must point to memory that stays an object (live or being
/// deallocated, not yet freed) for the duration of the call.
pub unsafe fn try_incref(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees the memory is still an object.
    let rc = unsafe { refcnt(op) };
    rc.fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
        (n > 0).then(|| if n < _Py_IMMORTAL_REFCNT { n + 1 } else { n })
    })
    .is_ok()
}

/// Drops a reference without deallocating: for a deallocator that
/// resurrected its object and gives the extra reference back. Returns the
/// count left.
///
/// # Safety
/// `op` must point to a live object; the caller owns the reference.
pub unsafe fn decref_in_dealloc(op: *mut PyObject) -> Py_ssize_t {
    // SAFETY: per the contract.
    unsafe { refcnt(op) }.fetch_sub(1, Ordering::AcqRel) - 1
}
