//! Exports of the interface functions (SPEC §7, §8.5-§8.6).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{to_object, to_status};
use crate::errors::guard;
use crate::object::typeobj::{builtin, PyBaseObject_Type, PyType_Type};
use crate::object::{static_header, PyObject, PyTypeObject};
use crate::runtime::{finalize, scheduler};
use core::ptr::null_mut;

/// Runs func(*args, **kwds) (args a tuple or NULL, kwds a dict or NULL) as
/// the main tasklet of the calling thread, on the thread's own stack.
/// Inside, every function works "inside": main receives the uncaught
/// errors of other tasklets, may block, may be a watchdog. When func
/// returns, main ends; tasklets still runnable stay so.
///
/// Returns func's result (new reference), or NULL: RuntimeError("Call_Main
/// cannot run within a main tasklet"), TypeError("cframe function must be
/// a callable"), an exception already set on entry, TypeError "argument
/// list must be a tuple" or "keyword list must be a dictionary", or the
/// exception main ends with. May switch tasklets. Threads: any thread that
/// is outside (has no main tasklet); it runs that thread's tasklets.
#[no_mangle]
pub extern "C" fn PyStackless_Call_Main(
    func: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: each pointer is NULL or a live object (C callers pass
        // live objects); the core checks their types.
        to_object(unsafe { scheduler::call_main(func, args, kwds) })
    })
}

/// Extension: the last call of a thread, from outside. Kills every started
/// tasklet of the thread, longest-suspended first (each gets TaskletExit
/// and runs to its end), drops the tasklets that never started, and
/// releases the thread's scheduler state (a later call starts afresh).
/// Returns 0, or -1 with RuntimeError("PyStackless_Finalize must be called
/// outside of a main tasklet"). May switch tasklets. Threads: any thread,
/// for itself; tasklets of other threads are left alone. A thread that
/// ends without calling it gets the same at its exit.
#[no_mangle]
pub extern "C" fn PyStackless_Finalize() -> core::ffi::c_int {
    guard(-1, || {
        // SAFETY: operates on the calling thread's own state.
        to_status(unsafe { finalize::finalize() })
    })
}

static mut UNWIND_TYPE: PyTypeObject = builtin(
    &raw mut PyType_Type,
    c"UnwindToken",
    core::mem::size_of::<PyObject>(),
    0,
    &raw mut PyBaseObject_Type,
    0,
);

static mut UNWIND_TOKEN: PyObject = static_header(&raw mut UNWIND_TYPE);

/// The soft-switch token of Stackless, for source compatibility: this
/// runtime never returns it (every switch is hard).
#[no_mangle]
pub static mut Py_UnwindToken: *mut PyObject = &raw mut UNWIND_TOKEN;
