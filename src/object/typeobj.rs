//! `type` and `object`: type objects, `PyType_Ready`, allocation, and the
//! generic slots every type inherits.

use super::*;
use crate::errors::{self, PyResult, Raised};
use core::ffi::CStr;
use core::ptr::null_mut;

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
        tp_dealloc: None,
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

/// `type`: the type of every type object.
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

/// `object`: the root of every type hierarchy.
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

/// `PyType_Ready`: fills in the inherited slots of a user type.
///
/// # Safety
/// `ty` must point to a type object that is ready (it is left alone) or
/// writable, and not used by another thread meanwhile; the same holds for
/// its `tp_base` (NULL or a type object, other than `ty`) and its bases.
pub unsafe fn ready(ty: *mut PyTypeObject) -> PyResult<()> {
    // SAFETY: the caller guarantees `ty` is a type object, written only
    // while not ready, and that its bases are ready or writable type
    // objects, which is what the recursive `ready` and `inherit_slots` need
    // (`base` is not `ty`).
    unsafe {
        if (*ty).tp_flags & Py_TPFLAGS_READY != 0 {
            return Ok(());
        }
        if (*ty).tp_name.is_null() {
            return Err(errors::system_error(
                "Type does not define the tp_name field.",
            ));
        }
        if (*ty).tp_base.is_null() && ty != object_type() {
            (*ty).tp_base = object_type();
        }
        let base = (*ty).tp_base;
        if !base.is_null() {
            ready(base)?;
            if (*base).tp_flags & Py_TPFLAGS_BASETYPE == 0 {
                return Err(errors::type_error(&format!(
                    "type '{}' is not an acceptable base type",
                    message_name(base)
                )));
            }
            inherit_slots(ty, base);
            // CPython's rule: a static type whose base is `object` does not
            // inherit `tp_new`, so that it cannot be instantiated unless it
            // says how (`cannot create 'T' instances`).
            if (*ty).tp_new.is_none()
                && (base != object_type() || (*ty).tp_flags & Py_TPFLAGS_HEAPTYPE != 0)
            {
                (*ty).tp_new = (*base).tp_new;
            }
        }
        if (*ty).ob_base.ob_base.ob_type.is_null() {
            (*ty).ob_base.ob_base.ob_type = type_type();
        }
        if (*ty).ob_base.ob_base.ob_refcnt == 0 {
            (*ty).ob_base.ob_base.ob_refcnt = 1;
        }
        (*ty).tp_flags |= Py_TPFLAGS_READY;
    }
    Ok(())
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

/// `PyType_GenericAlloc`: a zeroed instance with refcount 1.
///
/// # Safety
/// `ty` must be a ready type object; one with items (`tp_itemsize` not 0)
/// must start its instances with a `PyVarObject`.
pub unsafe extern "C-unwind" fn generic_alloc(
    ty: *mut PyTypeObject,
    nitems: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: the caller guarantees `ty` is a ready type object.
    let size = unsafe {
        (*ty).tp_basicsize as usize + nitems.max(0) as usize * (*ty).tp_itemsize as usize
    };
    // SAFETY: calloc has no precondition; the result is checked for NULL.
    let op =
        unsafe { libc::calloc(1, size.max(core::mem::size_of::<PyObject>())) } as *mut PyObject;
    if op.is_null() {
        errors::no_memory();
        return null_mut();
    }
    // SAFETY: `op` is a new zeroed block of at least a header's size that
    // nobody else sees; a type with items has a basic size that covers the
    // `PyVarObject` header (caller). A heap type is live (`ty` is) and the
    // instance takes a reference to it.
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
    op
}

/// Allocates an instance of `ty` through its `tp_alloc`.
///
/// # Safety
/// `ty` must be a ready type object.
pub unsafe fn alloc(ty: *mut PyTypeObject, nitems: Py_ssize_t) -> PyResult<*mut PyObject> {
    // SAFETY: the caller guarantees `ty` is a ready type object, which is
    // what its `tp_alloc` (or `generic_alloc`) needs.
    let op = unsafe {
        let f = (*ty).tp_alloc.unwrap_or(generic_alloc);
        f(ty, nitems)
    };
    if op.is_null() {
        Err(Raised)
    } else {
        Ok(op)
    }
}

/// The default `tp_free`: `free()`.
///
/// # Safety
/// `p` must come from `generic_alloc` (calloc) or be NULL.
pub unsafe extern "C-unwind" fn object_free(p: *mut c_void) {
    // SAFETY: the caller guarantees `p` is NULL or a live calloc block.
    unsafe { libc::free(p) };
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
        (*ty).tp_free.unwrap_or(object_free)(op.cast());
        if (*ty).tp_flags & Py_TPFLAGS_HEAPTYPE != 0 {
            decref(ty.cast());
        }
    }
}

/// The `tp_dealloc` of objects that hold no references.
///
/// # Safety
/// `op` must be a dead object.
pub unsafe extern "C-unwind" fn default_dealloc(op: *mut PyObject) {
    // SAFETY: the caller guarantees `op` is dead; it holds no references.
    unsafe { free_object(op) };
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
}

/// `tp_repr` of `type`: `<class 'name'>`.
///
/// # Safety
/// `op` must be a live type object.
unsafe extern "C-unwind" fn type_repr(op: *mut PyObject) -> *mut PyObject {
    // SAFETY: the caller guarantees `op` is a live type object.
    unicode::from_string(format!("<class '{}'>", unsafe { name(op.cast()) }))
}

/// `tp_repr` of `object`: `<name object at 0x...>`.
///
/// # Safety
/// `op` must be a live object.
unsafe extern "C-unwind" fn object_repr(op: *mut PyObject) -> *mut PyObject {
    unicode::from_string(format!(
        "<{} object at {:p}>",
        // SAFETY: the caller guarantees `op` is live, so its type is.
        unsafe { name(type_of(op)) },
        op
    ))
}

/// `tp_new` of `object`: a new instance; arguments are refused unless the
/// type has an `__init__` of its own.
///
/// # Safety
/// `ty` must be a ready type object; `args` NULL or a tuple, `kwds` NULL or
/// a dict.
unsafe extern "C-unwind" fn object_new(
    ty: *mut PyTypeObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: the caller guarantees `args` is NULL (checked first) or a
    // tuple, `kwds` NULL (checked first) or a dict, and `ty` a ready type.
    unsafe {
        let has_args =
            (!args.is_null() && tuple::len(args) > 0) || (!kwds.is_null() && dict::len(kwds) > 0);
        let default_init = (*ty).tp_init.is_some_and(|f| {
            core::ptr::fn_addr_eq(f, object_init as unsafe extern "C-unwind" fn(_, _, _) -> _)
        });
        if has_args && default_init {
            errors::type_error(&format!("{}() takes no arguments", message_name(ty)));
            return null_mut();
        }
        alloc(ty, 0).unwrap_or(null_mut())
    }
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
    0
}

/// `type(...)`: `type(x)` is x's type; any other type creates an instance
/// through `tp_new` and initialises it through `tp_init`.
///
/// # Safety
/// `op` must be a live, ready type object; `args` NULL or a tuple of live
/// objects, `kwds` NULL or a dict.
unsafe extern "C-unwind" fn type_call(
    op: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    let ty = op as *mut PyTypeObject;
    // SAFETY: the caller guarantees `args` is NULL (checked first) or a
    // tuple, whose one item (length checked) is live, so its type is.
    if ty == type_type() && !args.is_null() && unsafe { tuple::len(args) } == 1 {
        // SAFETY: as above, `args` is a tuple with one live item.
        return unsafe { new_ref(type_of(tuple::items(args)[0]).cast()) };
    }
    // SAFETY: the caller guarantees `op` is a live, ready type object; its
    // `tp_new` is called with it and the caller's `args` and `kwds`; the
    // object it returns is NULL (checked) or a new reference to a live
    // object, whose own type's `tp_init` is called with it, and which is
    // released once if that fails.
    unsafe {
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
}
