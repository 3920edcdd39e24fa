//! Built-in function objects made from a `PyMethodDef` (`PyCFunction_NewEx`).

use super::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use super::*;
use crate::errors::guard;
use crate::errors::{self, PyResult};
use core::ffi::CStr;
use core::ptr::null_mut;

/// A built-in function (or method bound to `m_self`).
#[repr(C)]
pub struct CFunctionObject {
    /// Header.
    pub ob_base: PyObject,
    /// The definition, borrowed: it must outlive the object.
    pub m_ml: *mut PyMethodDef,
    /// The object passed as `self`, or NULL.
    pub m_self: *mut PyObject,
    /// The module object, or NULL.
    pub m_module: *mut PyObject,
}

/// `tp_dealloc` of built-in functions: releases `self` and the module.
///
/// # Safety
/// `op` must be a built-in function object whose reference count has
/// dropped to zero.
unsafe extern "C-unwind" fn cfunction_dealloc(op: *mut PyObject) {
    guard((), || {
        let f = op.cast::<CFunctionObject>();
        // SAFETY: the caller guarantees `op` is a dead built-in function: its
        // fields are readable, `m_self` and `m_module` are NULL or the owned
        // references `new` took, and the memory is freed last, once.
        unsafe {
            xdecref((*f).m_self);
            xdecref((*f).m_module);
            typeobj::free_object(op);
        }
    })
}

/// `tp_repr` of built-in functions: `<built-in function name>`, or
/// `<built-in method name of T object at 0x...>` when bound.
///
/// # Safety
/// `op` must be a live built-in function object.
unsafe extern "C-unwind" fn cfunction_repr(op: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        let f = op.cast::<CFunctionObject>();
        // SAFETY: the caller guarantees `op` is a live built-in function, so its
        // definition is live (`new`'s contract) and its `m_self` is NULL
        // (checked before use) or a live object it holds a reference to.
        unsafe {
            let name = method_name(op);
            unicode::from_string(if (*f).m_self.is_null() {
                format!("<built-in function {name}>")
            } else {
                format!(
                    "<built-in method {name} of {} object at {:p}>",
                    typeobj::type_name_of((*f).m_self),
                    (*f).m_self
                )
            })
        }
    })
}

/// `tp_call` of built-in functions: [`call`] in the slot's convention;
/// NULL `args` means `()`.
///
/// # Safety
/// `op` must be a built-in function object, `args` and `kwds` NULL or live.
unsafe extern "C-unwind" fn cfunction_call(
    op: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the caller guarantees `op` is a built-in function and the
        // others NULL or live; `args` and `kwds` are checked before `call`
        // gets them.
        unsafe {
            if protocol::check_args(args, kwds).is_err() {
                return null_mut();
            }
            let result = if args.is_null() {
                tuple::empty().and_then(|empty| {
                    let r = call(op, empty, kwds);
                    decref(empty);
                    r
                })
            } else {
                call(op, args, kwds)
            };
            result.unwrap_or(null_mut())
        }
    })
}

/// The type of C function objects (builtin_function_or_method).
#[no_mangle]
pub static mut PyCFunction_Type: PyTypeObject = PyTypeObject {
    tp_repr: Some(cfunction_repr),
    tp_call: Some(cfunction_call),
    tp_dealloc: Some(cfunction_dealloc),
    ..builtin(
        &raw mut PyType_Type,
        c"builtin_function_or_method",
        core::mem::size_of::<CFunctionObject>(),
        0,
        &raw mut PyBaseObject_Type,
        0,
    )
};

/// Whether `op` is a built-in function object.
///
/// # Safety
/// `op` must point to a live object.
pub unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: the caller guarantees `op` is live.
    unsafe { type_of(op) == &raw mut PyCFunction_Type }
}

/// A new built-in function object.
///
/// # Safety
/// `ml` must outlive the object; `self_`/`module` NULL or live objects.
pub unsafe fn new(
    ml: *mut PyMethodDef,
    self_: *mut PyObject,
    module: *mut PyObject,
) -> PyResult<*mut PyObject> {
    // SAFETY: `PyCFunction_Type` is a ready static type.
    let op = unsafe { typeobj::alloc(&raw mut PyCFunction_Type, 0) }?;
    let f = op.cast::<CFunctionObject>();
    // SAFETY: `op` is a new, zeroed built-in function object nobody else
    // sees; the caller guarantees `self_` and `module` are NULL or live.
    unsafe {
        (*f).m_ml = ml;
        (*f).m_self = self_;
        xincref(self_);
        (*f).m_module = module;
        xincref(module);
    }
    Ok(op)
}

/// The `ml_name` of a built-in function object.
///
/// # Safety
/// `op` must be a built-in function object whose definition outlives the
/// returned text.
pub unsafe fn method_name<'a>(op: *mut PyObject) -> &'a str {
    // SAFETY: the caller guarantees `op` is a built-in function object, so
    // its definition is live (`new`'s contract); a non-NULL `ml_name` is a
    // NUL-terminated string that lives as long as the definition.
    unsafe {
        let ml = (*op.cast::<CFunctionObject>()).m_ml;
        if (*ml).ml_name.is_null() {
            "?"
        } else {
            CStr::from_ptr((*ml).ml_name).to_str().unwrap_or("?")
        }
    }
}

/// Calls a built-in function with CPython's argument checks (SPEC §9.11).
///
/// # Safety
/// `op` must be a built-in function object, `args` a tuple, `kwds` NULL or
/// a dict.
pub(crate) unsafe fn call(
    op: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> PyResult<*mut PyObject> {
    let f = op.cast::<CFunctionObject>();
    // SAFETY: the caller guarantees `op` is a built-in function object (so
    // its definition is live: `new`'s contract, and `m_self` NULL or live),
    // `args` a tuple and `kwds` NULL (checked first) or a dict. The C
    // function is called with the arguments its `METH_*` flags declare,
    // which is what its definer promised; `args` has exactly one item
    // (checked) where its first is read.
    unsafe {
        let ml = (*f).m_ml;
        let flags = (*ml).ml_flags & (METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O);
        let Some(meth) = (*ml).ml_meth else {
            return Err(errors::bad_internal_call());
        };
        let has_kwds = !kwds.is_null() && dict::len(kwds) > 0;
        let n = tuple::len(args);
        if flags == METH_VARARGS | METH_KEYWORDS {
            // The transmute: METH_KEYWORDS functions are stored cast to
            // PyCFunction; both are plain C function pointers of the same
            // size.
            let meth: unsafe extern "C-unwind" fn(
                *mut PyObject,
                *mut PyObject,
                *mut PyObject,
            ) -> *mut PyObject = core::mem::transmute(meth);
            return Ok(meth((*f).m_self, args, kwds));
        }
        if has_kwds {
            return Err(errors::type_error(&format!(
                "{}() takes no keyword arguments",
                method_name(op)
            )));
        }
        match flags {
            METH_VARARGS => Ok(meth((*f).m_self, args)),
            METH_NOARGS if n != 0 => Err(errors::type_error(&format!(
                "{}() takes no arguments ({n} given)",
                method_name(op)
            ))),
            METH_NOARGS => Ok(meth((*f).m_self, null_mut())),
            METH_O if n != 1 => Err(errors::type_error(&format!(
                "{}() takes exactly one argument ({n} given)",
                method_name(op)
            ))),
            METH_O => Ok(meth((*f).m_self, tuple::items(args)[0])),
            _ => Err(errors::system_error(&format!(
                "{}() method: bad call flags",
                method_name(op)
            ))),
        }
    }
}
