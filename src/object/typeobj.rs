//! `type` and `object`: type objects, `PyType_Ready`, allocation, and the
//! generic slots every type inherits.

use super::*;
use crate::errors::guard;
use crate::errors::{self, PyResult, Raised};
use core::ffi::CStr;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use parking_lot::Mutex;
use std::collections::HashSet;

/// A type object with CPython's defaults, for the static built-in types.
pub const fn builtin(
    meta: *mut PyTypeObject,
    name: &'static CStr,
    basicsize: usize,
    itemsize: usize,
    base: *mut PyTypeObject,
    flags: c_ulong,
) -> PyTypeObject {
    PyTypeObject {
        ob_base: PyVarObject {
            ob_base: static_header(meta),
            ob_size: 0,
        },
        tp_name: name.as_ptr(),
        tp_basicsize: basicsize as Py_ssize_t,
        tp_itemsize: itemsize as Py_ssize_t,
        tp_dealloc: Some(default_dealloc),
        tp_repr: None,
        tp_str: None,
        tp_call: None,
        tp_flags: flags | Py_TPFLAGS_READY,
        tp_doc: core::ptr::null(),
        tp_methods: null_mut(),
        tp_base: base,
        tp_init: None,
        tp_alloc: Some(generic_alloc),
        tp_new: None,
        tp_free: Some(object_free),
        tp_iternext: None,
    }
}

/// type: the type of every type object.
#[no_mangle]
pub static mut PyType_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(type_repr),
    tp_call: Some(type_call),
    tp_dealloc: Some(type_dealloc),
    ..builtin(
        &raw mut PyType_Type,
        c"type",
        core::mem::size_of::<PyTypeObject>(),
        0,
        &raw mut PyBaseObject_Type,
        Py_TPFLAGS_BASETYPE,
    )
};

/// object: the root of every type hierarchy.
#[no_mangle]
pub static mut PyBaseObject_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(object_repr),
    tp_new: Some(object_new),
    tp_init: Some(object_init),
    ..builtin(
        &raw mut PyType_Type,
        c"object",
        core::mem::size_of::<PyObject>(),
        0,
        null_mut(),
        Py_TPFLAGS_BASETYPE,
    )
};

/// The `type` type object.
pub fn type_type() -> *mut PyTypeObject {
    &raw mut PyType_Type
}

/// The `object` type object.
pub fn object_type() -> *mut PyTypeObject {
    &raw mut PyBaseObject_Type
}

/// Whether `op` is a type object.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live; `type` is a type.
    unsafe { type_check(op, type_type()) }
}

/// Whether `a` is `b` or derives from it through its `tp_base` chain.
///
/// # Safety
/// Both must be type objects.
pub unsafe fn is_subtype(a: *mut PyTypeObject, b: *mut PyTypeObject) -> bool {
    if b == object_type() {
        return true;
    }
    let mut t = a;
    while !t.is_null() {
        if t == b {
            return true;
        }
        // SAFETY: `t` is `a` or one of its bases: by the caller's contract a
        // type object, whose `tp_base` is NULL or a type object.
        t = unsafe { (*t).tp_base };
    }
    false
}

/// The type's full name (`tp_name`).
///
/// # Safety
/// `ty` must be a type object that outlives the returned text.
pub unsafe fn name<'a>(ty: *mut PyTypeObject) -> &'a str {
    // SAFETY: the caller guarantees `ty` is a type object that outlives the
    // text; a non-NULL `tp_name` is a NUL-terminated string that lives as
    // long as the type.
    unsafe {
        if (*ty).tp_name.is_null() {
            return "?";
        }
        CStr::from_ptr((*ty).tp_name).to_str().unwrap_or("?")
    }
}

/// The type's short name: `tp_name` after its last dot.
///
/// # Safety
/// `ty` must be a type object that outlives the returned text.
pub unsafe fn short_name<'a>(ty: *mut PyTypeObject) -> &'a str {
    // SAFETY: the caller's guarantee is the one `name` needs.
    let n = unsafe { name(ty) };
    n.rsplit('.').next().unwrap_or(n)
}

/// The name CPython's error messages show for a type, its `tp_name`: all
/// of it for a static type (`'mod.T' object has no attribute 'x'`), the
/// part after the last dot for a heap type (CPython keeps a heap type's
/// module in `__module__`, not in `tp_name`).
///
/// # Safety
/// `ty` must be a type object that outlives the returned text.
pub unsafe fn message_name<'a>(ty: *mut PyTypeObject) -> &'a str {
    // SAFETY: the caller guarantees `ty` is a type object that outlives the
    // text.
    unsafe {
        if (*ty).tp_flags & Py_TPFLAGS_HEAPTYPE != 0 {
            short_name(ty)
        } else {
            name(ty)
        }
    }
}

/// The type name of an object as error messages show it ([`message_name`]).
///
/// # Safety
/// `op` must point to a live object whose type outlives the returned text.
pub unsafe fn type_name_of<'a>(op: *mut PyObject) -> &'a str {
    // SAFETY: the caller guarantees `op` is live, so its type is a type
    // object, and that the type outlives the text.
    unsafe { message_name(type_of(op)) }
}

/// CPython's text for a class that would be among its own bases.
const INHERITANCE_CYCLE: &str = "a __bases__ item causes an inheritance cycle";

/// Serialises `PyType_Ready`: the slots of a type and its unready bases are
/// written with it held, and published by the `Py_TPFLAGS_READY` bit
/// ([`is_ready`]).
static READY_LOCK: Mutex<()> = Mutex::new(());

/// The atomic view of a type's `tp_flags`: `Py_TPFLAGS_READY` is set with
/// release ordering once every slot is written, and read with acquire.
///
/// # Safety
/// `ty` must point to a type object.
unsafe fn flags<'a>(ty: *mut PyTypeObject) -> &'a AtomicU64 {
    // SAFETY: the caller guarantees `ty` is a type object, so `tp_flags` is
    // an aligned `c_ulong` (a u64 here); Rust code touches a type's flags
    // only through this view once it may be shared.
    unsafe { AtomicU64::from_ptr(&raw mut (*ty).tp_flags) }
}

/// The atomic view of an object's `ob_type`: `PyType_Ready` fills that of
/// a static type while other threads may look at it.
///
/// # Safety
/// `op` must point to an object header.
unsafe fn meta<'a>(op: *mut PyTypeObject) -> &'a AtomicPtr<PyTypeObject> {
    // SAFETY: the caller guarantees `op` starts with an object header, whose
    // `ob_type` is an aligned pointer.
    unsafe { AtomicPtr::from_ptr(&raw mut (*op).ob_base.ob_base.ob_type) }
}

/// Whether `ty` went through `PyType_Ready` (the built-in types always
/// did). When it did, every slot it filled is visible to the caller.
///
/// # Safety
/// `ty` must point to a type object.
#[inline]
pub unsafe fn is_ready(ty: *mut PyTypeObject) -> bool {
    // SAFETY: per the contract.
    unsafe { flags(ty) }.load(Ordering::Acquire) & Py_TPFLAGS_READY != 0
}

/// Requires a type that went through `PyType_Ready`: for the runtime's and
/// the object model's constructors. Else `SystemError("type 'NAME' is not
/// ready: call PyType_Ready() on it first")`.
///
/// # Safety
/// `ty` must point to a type object (one that `PyType_Ready` has not seen
/// included: see [`check_type_arg`]).
#[inline]
pub unsafe fn require_ready(ty: *mut PyTypeObject) -> PyResult<()> {
    // SAFETY: per the contract.
    if unsafe { is_ready(ty) } {
        Ok(())
    } else {
        // SAFETY: per the contract.
        Err(unsafe { not_ready(ty) })
    }
}

/// Sets the error of [`require_ready`].
///
/// # Safety
/// `ty` must point to a type object.
#[cold]
#[inline(never)]
unsafe fn not_ready(ty: *mut PyTypeObject) -> Raised {
    errors::system_error(&format!(
        "type '{}' is not ready: call PyType_Ready() on it first",
        // SAFETY: per the contract.
        unsafe { name(ty) }
    ))
}

/// Whether a type argument from C may be read as a type: its header names
/// `type` or a subtype of it, or nothing (a static type `PyType_Ready` has
/// not seen yet). Nothing past the header is read. The predicate of
/// [`check_type_arg`], for `capi::required_kind`.
///
/// # Safety
/// `op` must point to an object header.
pub unsafe fn is_type_arg(op: *mut PyObject) -> bool {
    // SAFETY: by the caller's contract `op` has a header.
    let m = unsafe { meta(op.cast()) }.load(Ordering::Acquire);
    // SAFETY: a non-NULL type in a header is a type object, whose bases
    // `is_subtype` walks.
    m.is_null() || unsafe { is_subtype(m, type_type()) }
}

/// Checks a type argument from C: not NULL and [`is_type_arg`]. Else
/// `SystemError("bad argument to internal function")`.
///
/// # Safety
/// `ty` must be NULL or point to an object header.
pub unsafe fn check_type_arg(ty: *mut PyTypeObject) -> PyResult<()> {
    // SAFETY: `ty` is not NULL, so by the caller's contract it has a header.
    if !ty.is_null() && unsafe { is_type_arg(ty.cast()) } {
        Ok(())
    } else {
        Err(errors::bad_internal_call())
    }
}

/// `PyType_Ready`: fills in the inherited slots of a type and of its bases
/// that are not ready yet, from the root down. Refuses, writing nothing: an
/// argument or a base that is no type (`SystemError`), a chain of bases with
/// a cycle, a base that does not allow subclassing, a basic size smaller
/// than the base's (`TypeError`), a type without a name (`SystemError`).
/// Readying a ready type does nothing; threads may ready one type at once.
///
/// # Safety
/// `ty` must be NULL or point to an object header; if that names no type,
/// `ty` must point to a type object, and so must each `tp_base` (NULL
/// aside) of its chain of bases up to a ready one. Types that are not ready
/// yet are written here; nobody else may write them meanwhile.
pub unsafe fn ready(ty: *mut PyTypeObject) -> PyResult<()> {
    // SAFETY: `check_type_arg` reads only the header; past it, `ty` is a
    // type object (caller), and so are the bases `unready_chain` returns,
    // which are written only with the lock held.
    unsafe {
        check_type_arg(ty)?;
        if is_ready(ty) {
            return Ok(());
        }
        let _serial = READY_LOCK.lock();
        if is_ready(ty) {
            return Ok(());
        }
        let chain = unready_chain(ty)?;
        check_chain(&chain)?;
        for &t in chain.iter().rev() {
            fill_in(t);
        }
    }
    Ok(())
}

/// `ty` and its bases up to the first ready one, derived first. Refuses a
/// base that is no type, and a cycle.
///
/// # Safety
/// As for [`ready`], with `READY_LOCK` held; `ty` passed `check_type_arg`.
unsafe fn unready_chain(ty: *mut PyTypeObject) -> PyResult<Vec<*mut PyTypeObject>> {
    let mut chain = Vec::new();
    let mut seen = HashSet::new();
    let mut t = ty;
    // SAFETY: each `t` is `ty` or a base of the chain: checked to be a type
    // before its flags or its base are read.
    unsafe {
        while !t.is_null() {
            check_type_arg(t)?;
            if is_ready(t) {
                break;
            }
            if !seen.insert(t) {
                return Err(errors::type_error(INHERITANCE_CYCLE));
            }
            chain.push(t);
            t = (*t).tp_base;
        }
    }
    Ok(chain)
}

/// The checks of [`ready`] on the types of an [`unready_chain`], from the
/// root down, before anything is written.
///
/// # Safety
/// `chain` must come from `unready_chain`, with `READY_LOCK` still held.
unsafe fn check_chain(chain: &[*mut PyTypeObject]) -> PyResult<()> {
    // The basic size the previous (base) type of the chain will have.
    let mut inherited: Option<Py_ssize_t> = None;
    for &t in chain.iter().rev() {
        // SAFETY: `t` is an unready type object; its base is NULL (which
        // means `object`), the previous type of the chain, or a ready type.
        unsafe {
            if (*t).tp_name.is_null() {
                return Err(errors::system_error(
                    "Type does not define the tp_name field.",
                ));
            }
            let base = if (*t).tp_base.is_null() {
                object_type()
            } else {
                (*t).tp_base
            };
            if (*base).tp_flags & Py_TPFLAGS_BASETYPE == 0 {
                return Err(errors::type_error(&format!(
                    "type '{}' is not an acceptable base type",
                    message_name(base)
                )));
            }
            let base_size = inherited.unwrap_or((*base).tp_basicsize);
            let size = (*t).tp_basicsize;
            if size != 0 && size < base_size {
                return Err(errors::type_error(&format!(
                    "tp_basicsize for type '{}' ({size}) is too small for base '{}' ({base_size})",
                    name(t),
                    name(base)
                )));
            }
            inherited = Some(if size == 0 { base_size } else { size });
        }
    }
    Ok(())
}

/// Readies one type whose base is ready: fills in its base, its inherited
/// slots, its header, then publishes the ready bit.
///
/// # Safety
/// `ty` must be an unready type object that passed `check_chain`, other
/// than `object`, whose base is ready; `READY_LOCK` must be held.
unsafe fn fill_in(ty: *mut PyTypeObject) {
    // SAFETY: per the contract, `ty` is written by nobody else, and its base
    // is a ready type object other than `ty`.
    unsafe {
        if (*ty).tp_base.is_null() {
            (*ty).tp_base = object_type();
        }
        let base = (*ty).tp_base;
        inherit_slots(ty, base);
        // CPython's rule: a static type whose base is `object` does not
        // inherit `tp_new`, so that it cannot be instantiated unless it
        // says how (`cannot create 'T' instances`).
        if (*ty).tp_new.is_none()
            && (base != object_type() || (*ty).tp_flags & Py_TPFLAGS_HEAPTYPE != 0)
        {
            (*ty).tp_new = (*base).tp_new;
        }
        let _ = meta(ty).compare_exchange(
            null_mut(),
            type_type(),
            Ordering::Release,
            Ordering::Relaxed,
        );
        let _ = refcnt(ty.cast()).compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed);
        flags(ty).fetch_or(Py_TPFLAGS_READY, Ordering::Release);
    }
}

/// Copies the slots `ty` leaves empty from `base`.
///
/// # Safety
/// `ty` must point to a writable type object that nobody else uses
/// meanwhile, and `base` to a different type object.
unsafe fn inherit_slots(ty: *mut PyTypeObject, base: *mut PyTypeObject) {
    // SAFETY: the caller guarantees `ty` is writable and nobody else uses it.
    let t = unsafe { &mut *ty };
    // SAFETY: `base` is a type object other than `ty`, so `b` and `t` do not
    // alias.
    let b = unsafe { &*base };
    if t.tp_basicsize == 0 {
        t.tp_basicsize = b.tp_basicsize;
    }
    if t.tp_itemsize == 0 {
        t.tp_itemsize = b.tp_itemsize;
    }
    t.tp_dealloc = t.tp_dealloc.or(b.tp_dealloc);
    t.tp_repr = t.tp_repr.or(b.tp_repr);
    t.tp_str = t.tp_str.or(b.tp_str);
    t.tp_call = t.tp_call.or(b.tp_call);
    t.tp_init = t.tp_init.or(b.tp_init);
    t.tp_alloc = t.tp_alloc.or(b.tp_alloc);
    t.tp_free = t.tp_free.or(b.tp_free);
    t.tp_iternext = t.tp_iternext.or(b.tp_iternext);
}

/// `PyType_GenericAlloc`: a zeroed instance with refcount 1; NULL with
/// `SystemError` when `ty` is not ready.
///
/// # Safety
/// `ty` must be a type object; one with items (`tp_itemsize` not 0) must
/// start its instances with a `PyVarObject`.
pub unsafe extern "C-unwind" fn generic_alloc(
    ty: *mut PyTypeObject,
    nitems: Py_ssize_t,
) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `ty` is a type object, ready once
        // checked.
        unsafe { require_ready(ty).and_then(|()| alloc_ready(ty, nitems)) }.unwrap_or(null_mut())
    })
}

/// The body of [`generic_alloc`] for a ready type.
///
/// # Safety
/// As for `generic_alloc`, and `ty` must be ready.
unsafe fn alloc_ready(ty: *mut PyTypeObject, nitems: Py_ssize_t) -> PyResult<*mut PyObject> {
    // SAFETY: `ty` is a ready type object.
    let Some(size) = (unsafe { instance_size(ty, nitems) }) else {
        return Err(errors::no_memory());
    };
    // SAFETY: calloc has no precondition; the result is checked for NULL.
    let op = unsafe { libc::calloc(1, size) } as *mut PyObject;
    if op.is_null() {
        return Err(errors::no_memory());
    }
    // SAFETY: `op` is a new zeroed block that nobody else sees, large enough
    // for the header and, for a type with items, the item count
    // (`instance_size`). A heap type is live (`ty` is) and the instance
    // takes a reference to it.
    unsafe {
        (*op).ob_refcnt = 1;
        (*op).ob_type = ty;
        if (*ty).tp_itemsize != 0 {
            (*op.cast::<PyVarObject>()).ob_size = nitems;
        }
        if (*ty).tp_flags & Py_TPFLAGS_HEAPTYPE != 0 {
            incref(ty.cast());
        }
    }
    Ok(op)
}

/// The bytes of an instance of `ty` with `nitems` items (none when
/// negative): at least its header, a `PyVarObject` for a type with items.
/// None when a size is negative or the total does not fit in an object.
///
/// # Safety
/// `ty` must be a type object.
unsafe fn instance_size(ty: *mut PyTypeObject, nitems: Py_ssize_t) -> Option<usize> {
    // SAFETY: the caller guarantees `ty` is a type object.
    let (basic, item) = unsafe { ((*ty).tp_basicsize, (*ty).tp_itemsize) };
    let basic = usize::try_from(basic).ok()?;
    let item = usize::try_from(item).ok()?;
    let header = if item == 0 {
        core::mem::size_of::<PyObject>()
    } else {
        core::mem::size_of::<PyVarObject>()
    };
    let size = usize::try_from(nitems.max(0))
        .ok()?
        .checked_mul(item)?
        .checked_add(basic)?
        .max(header);
    (size <= Py_ssize_t::MAX as usize).then_some(size)
}

/// Allocates an instance of `ty` through its `tp_alloc`; `SystemError`
/// when `ty` is not ready.
///
/// # Safety
/// `ty` must be a type object.
pub unsafe fn alloc(ty: *mut PyTypeObject, nitems: Py_ssize_t) -> PyResult<*mut PyObject> {
    // SAFETY: the caller guarantees `ty` is a type object; once it is known
    // to be ready, its `tp_alloc` may be called (`generic_alloc`'s body
    // directly: the check and the guard are for C callers).
    unsafe {
        require_ready(ty)?;
        match (*ty).tp_alloc {
            Some(f) if !core::ptr::fn_addr_eq(f, generic_alloc as GenericAlloc) => {
                let op = f(ty, nitems);
                if op.is_null() {
                    Err(Raised)
                } else {
                    Ok(op)
                }
            }
            _ => alloc_ready(ty, nitems),
        }
    }
}

/// The type of [`generic_alloc`].
type GenericAlloc = unsafe extern "C-unwind" fn(*mut PyTypeObject, Py_ssize_t) -> *mut PyObject;

/// The type of [`object_free`].
type FreeFn = unsafe extern "C-unwind" fn(*mut c_void);

/// The default `tp_free`: `free()`.
///
/// # Safety
/// `p` must come from `generic_alloc` (calloc) or be NULL.
pub unsafe extern "C-unwind" fn object_free(p: *mut c_void) {
    guard((), || {
        // SAFETY: the caller guarantees `p` is NULL or a live calloc block.
        unsafe { libc::free(p) };
    })
}

/// Frees the memory of `op` through its type's `tp_free`, and releases the
/// instance's reference to a heap type.
///
/// # Safety
/// `op` must be a dead object (refcount 0) whose fields were released.
pub unsafe fn free_object(op: *mut PyObject) {
    // SAFETY: the caller guarantees `op` is a dead, unfreed object: its type
    // is read before its memory goes back to the type's `tp_free` (which
    // matches its `tp_alloc`), and the reference an instance of a heap type
    // holds to it (taken in `generic_alloc`) is released after that.
    unsafe {
        let ty = type_of(op);
        match (*ty).tp_free {
            // `object_free`'s body directly: its guard is for C callers.
            Some(f) if !core::ptr::fn_addr_eq(f, object_free as FreeFn) => f(op.cast()),
            _ => libc::free(op.cast()),
        }
        if (*ty).tp_flags & Py_TPFLAGS_HEAPTYPE != 0 {
            decref(ty.cast());
        }
    }
}

/// The `tp_dealloc` of objects that hold no references: that of the
/// built-in types that set none, for C code that calls its base's.
///
/// # Safety
/// `op` must be a dead object.
pub unsafe extern "C-unwind" fn default_dealloc(op: *mut PyObject) {
    guard((), || {
        // SAFETY: the caller guarantees `op` is dead; it holds no references.
        unsafe { free_object(op) };
    })
}

/// Storage of a type created at run time (`PyErr_NewException`).
#[repr(C)]
struct HeapType {
    ty: PyTypeObject,
    name: *mut c_char,
}

/// Creates a heap type named `name` deriving from `base`.
///
/// # Safety
/// `base` must be a live type object, ready or writable, as [`ready`]
/// needs (it readies `base` first, and refuses one that does not allow
/// subclassing).
pub unsafe fn new_heap_type(name: &CStr, base: *mut PyTypeObject) -> PyResult<*mut PyObject> {
    // SAFETY: calloc and strdup (of a NUL-terminated `CStr`) have no other
    // precondition; their results are checked for NULL. `heap` is a new
    // zeroed `HeapType` nobody else sees, so its type object is writable;
    // the caller guarantees `base` is what `ready` needs, and the new type
    // takes a reference to it.
    unsafe {
        let heap = libc::calloc(1, core::mem::size_of::<HeapType>()) as *mut HeapType;
        if heap.is_null() {
            return Err(errors::no_memory());
        }
        let name_copy = libc::strdup(name.as_ptr());
        if name_copy.is_null() {
            libc::free(heap.cast());
            return Err(errors::no_memory());
        }
        (*heap).name = name_copy;
        let ty = &raw mut (*heap).ty;
        (*ty).ob_base.ob_base.ob_refcnt = 1;
        (*ty).ob_base.ob_base.ob_type = type_type();
        (*ty).tp_name = name_copy;
        (*ty).tp_flags = Py_TPFLAGS_HEAPTYPE | Py_TPFLAGS_BASETYPE;
        (*ty).tp_base = base;
        incref(base.cast());
        ready(ty)?;
        Ok(ty.cast())
    }
}

/// `tp_dealloc` of `type`: frees a heap type (static types are never
/// freed: they are immortal, and this leaves them alone).
///
/// # Safety
/// `op` must be a type object whose reference count has dropped to zero.
unsafe extern "C-unwind" fn type_dealloc(op: *mut PyObject) {
    guard((), || {
        let ty = op as *mut PyTypeObject;
        // SAFETY: the caller guarantees `op` is a dead type object. A heap type
        // was made by `new_heap_type`, so it is a `HeapType` from calloc with a
        // strdup'ed name, freed here once, and it holds a reference to its base.
        unsafe {
            if (*ty).tp_flags & Py_TPFLAGS_HEAPTYPE == 0 {
                return;
            }
            let heap = op as *mut HeapType;
            xdecref((*ty).tp_base.cast());
            libc::free((*heap).name.cast());
            libc::free(heap.cast());
        }
    })
}

/// `tp_repr` of `type`: `<class 'name'>`.
///
/// # Safety
/// `op` must be a live type object.
unsafe extern "C-unwind" fn type_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a live type object.
        unicode::from_string(format!("<class '{}'>", unsafe { name(op.cast()) }))
    })
}

/// `tp_repr` of `object`: `<name object at 0x...>`.
///
/// # Safety
/// `op` must be a live object.
pub(crate) unsafe extern "C-unwind" fn object_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        unicode::from_string(format!(
            "<{} object at {:p}>",
            // SAFETY: the caller guarantees `op` is live, so its type is.
            unsafe { name(type_of(op)) },
            op
        ))
    })
}

/// `tp_new` of `object`: a new instance; arguments are refused unless the
/// type has an `__init__` of its own.
///
/// # Safety
/// `ty` must be a ready type object; `args` and `kwds` NULL or live.
unsafe extern "C-unwind" fn object_new(
    ty: *mut PyTypeObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `ty` is a ready type; `args` and `kwds`
        // are checked to be NULL or a tuple and a dict before use.
        unsafe {
            if protocol::check_args(args, kwds).is_err() {
                return null_mut();
            }
            let has_args = (!args.is_null() && tuple::len(args) > 0)
                || (!kwds.is_null() && dict::len(kwds) > 0);
            let default_init = (*ty).tp_init.is_some_and(|f| {
                core::ptr::fn_addr_eq(f, object_init as unsafe extern "C-unwind" fn(_, _, _) -> _)
            });
            if has_args && default_init {
                errors::type_error(&format!("{}() takes no arguments", message_name(ty)));
                return null_mut();
            }
            alloc(ty, 0).unwrap_or(null_mut())
        }
    })
}

/// `tp_init` of `object`: accepts anything and does nothing.
///
/// # Safety
/// None: no argument is read (the slot's type is `unsafe`).
unsafe extern "C-unwind" fn object_init(
    _op: *mut PyObject,
    _args: *mut PyObject,
    _kwds: *mut PyObject,
) -> c_int {
    guard(-1, || 0)
}

/// `type(...)`: `type(x)` is x's type; any other type creates an instance
/// through `tp_new` and initialises it through `tp_init`.
///
/// # Safety
/// `op` must be a live type object; `args` and `kwds` NULL or live.
unsafe extern "C-unwind" fn type_call(
    op: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        let ty = op as *mut PyTypeObject;
        // SAFETY: the caller guarantees both are NULL or live.
        if unsafe { protocol::check_args(args, kwds) }.is_err() {
            return null_mut();
        }
        // SAFETY: `args` is NULL (checked first) or a tuple, whose one item
        // (length checked) is live, so its type is.
        if ty == type_type() && !args.is_null() && unsafe { tuple::len(args) } == 1 {
            // SAFETY: as above, `args` is a tuple with one live item.
            return unsafe { new_ref(type_of(tuple::items(args)[0]).cast()) };
        }
        // SAFETY: the caller guarantees `op` is a live type object; once it is
        // known to be ready, its `tp_new` is called with it and the caller's
        // `args` and `kwds`; the object it returns is NULL (checked) or a new
        // reference to a live object, whose own type's `tp_init` is called with
        // it, and which is released once if that fails.
        unsafe {
            if require_ready(ty).is_err() {
                return null_mut();
            }
            let Some(new) = (*ty).tp_new else {
                errors::type_error(&format!("cannot create '{}' instances", message_name(ty)));
                return null_mut();
            };
            let obj = new(ty, args, kwds);
            if obj.is_null() || !type_check(obj, ty) {
                return obj;
            }
            if let Some(init) = (*type_of(obj)).tp_init {
                if init(obj, args, kwds) < 0 {
                    decref(obj);
                    return null_mut();
                }
            }
            obj
        }
    })
}
