//! Exceptions in transit between tasklets (Stackless's "bombs", SPEC §1.5).

use super::messages as msg;
use crate::errors::{self, ErrorState, PyResult, Raised};
use crate::object::typeobj::{self, builtin, PyBaseObject_Type, PyType_Type};
use crate::object::{self, decref, exceptions, none, tuple, PyObject, PyTypeObject};
use core::ptr::null_mut;

#[repr(C)]
struct Bomb {
    ob_base: PyObject,
    state: ErrorState,
}

/// `tp_dealloc` of bombs.
///
/// # Safety
/// `op` must be a bomb whose last reference went.
unsafe extern "C-unwind" fn bomb_dealloc(op: *mut PyObject) {
    errors::guard((), || {
        // SAFETY: the last reference to a bomb went.
        unsafe {
            (*op.cast::<Bomb>()).state.release();
            typeobj::free_object(op);
        }
    })
}

static mut BOMB_TYPE: PyTypeObject = PyTypeObject {
    tp_dealloc: Some(bomb_dealloc),
    ..builtin(
        &raw mut PyType_Type,
        c"stackless.bomb",
        core::mem::size_of::<Bomb>(),
        0,
        &raw mut PyBaseObject_Type,
        0,
    )
};

/// Whether `op` is a bomb.
///
/// # Safety
/// `op` must be live.
pub(crate) unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: per the contract.
    unsafe { object::type_of(op) == &raw mut BOMB_TYPE }
}

/// A bomb holding `state` (stolen). On allocation failure the state is
/// released and the MemoryError is returned.
///
/// # Safety
/// `state` must own its references.
pub(crate) unsafe fn new(state: ErrorState) -> PyResult<*mut PyObject> {
    // SAFETY: a fresh allocation of the bomb type; `state` is owned.
    unsafe {
        match typeobj::alloc(&raw mut BOMB_TYPE, 0) {
            Ok(op) => {
                (*op.cast::<Bomb>()).state = state;
                Ok(op)
            }
            Err(Raised) => {
                state.release();
                Err(Raised)
            }
        }
    }
}

/// A bomb of the pending exception (which is cleared).
pub(crate) fn from_error() -> PyResult<*mut PyObject> {
    // SAFETY: the taken state owns its references.
    unsafe { new(errors::take()) }
}

/// A bomb for the class `ty` with the raw value `value` (borrowed).
///
/// # Safety
/// `ty` must be an exception class; `value` NULL or live.
pub(crate) unsafe fn of(ty: *mut PyObject, value: *mut PyObject) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract; the new references are owned by the state.
    unsafe {
        new(ErrorState {
            ty: object::new_ref(ty),
            value: object::xnew_ref(value),
            tb: null_mut(),
        })
    }
}

/// A `TaskletExit` bomb.
pub(crate) fn tasklet_exit() -> PyResult<*mut PyObject> {
    // SAFETY: TaskletExit is an exception class.
    unsafe { of(exceptions::tasklet_exit(), null_mut()) }
}

/// A bomb for `throw(exc, val, tb)` with the checks of SPEC §4.6: `exc`
/// a class (with an optional value) or an instance (then no value);
/// `tb` NULL or `None`.
///
/// # Safety
/// All three NULL or live.
pub(crate) unsafe fn from_throw(
    exc: *mut PyObject,
    val: *mut PyObject,
    tb: *mut PyObject,
) -> PyResult<*mut PyObject> {
    let absent = |o: *mut PyObject| o.is_null() || o == none::none();
    if exc.is_null() {
        return Err(errors::bad_internal_call());
    }
    if !absent(tb) {
        return Err(errors::type_error(msg::THIRD_ARG_TRACEBACK));
    }
    // SAFETY: per the contract, `exc` and `val` are live.
    unsafe {
        if exceptions::is_class(exc) {
            return of(exc, if absent(val) { null_mut() } else { val });
        }
        if exceptions::is_instance(exc) {
            if !absent(val) {
                return Err(errors::type_error(msg::INSTANCE_WITH_VALUE));
            }
            return of(object::type_of(exc).cast(), exc);
        }
        Err(errors::type_error(&msg::not_an_exception(
            typeobj::type_name_of(exc),
        )))
    }
}

/// Whether the bomb carries `TaskletExit` (or a subclass).
///
/// # Safety
/// `op` must be a bomb.
pub(crate) unsafe fn is_tasklet_exit(op: *mut PyObject) -> bool {
    // SAFETY: per the contract.
    unsafe { errors::given_matches((*op.cast::<Bomb>()).state.ty, exceptions::tasklet_exit()) }
}

/// Sets the bomb's exception as the pending error and releases the bomb.
///
/// # Safety
/// `op` must be an owned reference to a bomb.
pub(crate) unsafe fn explode(op: *mut PyObject) {
    // SAFETY: per the contract; the state's references are copied before
    // the bomb (which owns them) is released.
    unsafe {
        let s = (*op.cast::<Bomb>()).state;
        object::xincref(s.ty);
        object::xincref(s.value);
        object::xincref(s.tb);
        errors::restore(s);
        decref(op);
    }
}

/// A bomb for `PyChannel_SendException(klass, args)`: `args` a tuple is the
/// argument tuple, anything else one argument, NULL none.
///
/// # Safety
/// Both NULL or live.
pub(crate) unsafe fn exception(
    klass: *mut PyObject,
    args: *mut PyObject,
    message: &str,
) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract.
    unsafe {
        if klass.is_null() || !exceptions::is_class(klass) {
            return Err(errors::type_error(message));
        }
        let args = if args.is_null() {
            tuple::empty()?
        } else if tuple::check(args) {
            object::new_ref(args)
        } else {
            tuple::from_borrowed(&[args])?
        };
        let b = of(klass, args);
        decref(args);
        b
    }
}
