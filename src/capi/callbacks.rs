//! Exports of the debugging and monitoring functions (SPEC §8.4).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::to_status;
use crate::errors::guard;
use crate::object::PyObject;
use crate::runtime::callbacks::{self, slp_schedule_hook_func};
use core::ffi::c_int;
use core::ptr::null_mut;

/// Installs callable (not None; NULL removes it) as the channel callback,
/// called as callable(channel, tasklet, sending, willblock) before every
/// send and receive (after it, when the partner is of another thread).
/// Errors it raises are reported as unraisable ("Error in channel
/// callback") and cleared.
///
/// Returns 0, or -1 with TypeError("channel callback must be callable").
/// Does not switch. Threads: any thread; one callback for the process,
/// called on the thread of the tasklet that sends or receives, on several
/// threads at once.
#[no_mangle]
pub extern "C" fn PyStackless_SetChannelCallback(callable: *mut PyObject) -> c_int {
    guard(-1, || {
        // SAFETY: NULL or a live object.
        to_status(unsafe { callbacks::set_channel_callable(callable) })
    })
}

/// Installs callable (not None; NULL removes it and the fast callback) as
/// the schedule callback, called as callable(from, to) at every real switch
/// and as callable(None, main) when a main tasklet starts. Errors are
/// reported as unraisable ("Error in scheduling callback") and cleared.
///
/// Returns 0, or -1 with TypeError("schedule callback must be callable").
/// Does not switch. Threads: any thread; one callback for the process,
/// called on the thread that switches, on several threads at once.
#[no_mangle]
pub extern "C" fn PyStackless_SetScheduleCallback(callable: *mut PyObject) -> c_int {
    guard(-1, || {
        // SAFETY: NULL or a live object.
        to_status(unsafe { callbacks::set_schedule_callable(callable) })
    })
}

/// Replaces the C hook called at every switch as func(from, to) (from NULL
/// when a main tasklet starts; both borrowed for the call). A non-zero
/// result means it set an exception, which is reported and cleared. NULL
/// disables it; a callable installed by PyStackless_SetScheduleCallback
/// stays installed but is no longer called. Does not switch. Threads: any
/// thread; one hook for the process, called on the thread that switches, on
/// several threads at once.
#[no_mangle]
pub extern "C" fn PyStackless_SetScheduleFastcallback(func: slp_schedule_hook_func) {
    guard((), || callbacks::set_schedule_hook(func))
}

/// Extension: the schedule callback (new reference), or NULL without an
/// exception when none is installed. Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyStackless_GetScheduleCallback() -> *mut PyObject {
    guard(null_mut(), callbacks::schedule_callable)
}

/// Extension: the channel callback (new reference), or NULL without an
/// exception when none is installed. Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyStackless_GetChannelCallback() -> *mut PyObject {
    guard(null_mut(), callbacks::channel_callable)
}
