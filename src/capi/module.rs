//! Exports of the stackless module functions (SPEC §8.3) and the
//! extensions of §8.7.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{to_object, to_status};
use crate::errors::guard;
use crate::object::{self, PyObject};
use crate::runtime::{callbacks, scheduler, stack, threads, watchdog};
use core::ffi::{c_int, c_long};
use core::ptr::null_mut;

/// Suspends the current tasklet and runs the next runnable one; with
/// `remove` non-zero the caller leaves the runnables (it is paused until
/// someone inserts it). `retval` (NULL: `None`) is what the call returns,
/// unless the tempval was replaced meanwhile.
///
/// Returns a new reference, or NULL with the exception delivered to the
/// caller (kill, uncaught error of another tasklet, "switch_trap",
/// "Deadlock: ..."). Switches tasklets. Auto-wraps when called from outside.
#[no_mangle]
pub extern "C" fn PyStackless_Schedule(retval: *mut PyObject, remove: c_int) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: retval NULL or live.
        to_object(unsafe { scheduler::schedule(retval, remove != 0) })
    })
}

/// `PyStackless_Schedule`; never returns `Py_UnwindToken`.
#[no_mangle]
pub extern "C" fn PyStackless_Schedule_nr(retval: *mut PyObject, remove: c_int) -> *mut PyObject {
    guard(null_mut(), || PyStackless_Schedule(retval, remove))
}

/// The number of runnable tasklets of the calling thread, the current one
/// included (blocked, paused and watchdog tasklets are not counted).
#[no_mangle]
pub extern "C" fn PyStackless_GetRunCount() -> c_int {
    guard(0, scheduler::run_count)
}

/// The current tasklet (new reference), or NULL **without** an exception
/// when the thread is outside (no main tasklet).
#[no_mangle]
pub extern "C" fn PyStackless_GetCurrent() -> *mut PyObject {
    guard(null_mut(), || {
        let t = scheduler::current();
        // SAFETY: the current tasklet is live.
        unsafe { object::xnew_ref(t.cast()) }
    })
}

/// A unique id of the current tasklet: the thread id for main and outside,
/// else the tasklet's address. Ids of dead tasklets may be reused.
#[no_mangle]
pub extern "C" fn PyStackless_GetCurrentId() -> c_long {
    guard(-1, scheduler::current_id)
}

/// Extension: the main tasklet of the calling thread (new reference), or
/// NULL without an exception when outside.
#[no_mangle]
pub extern "C" fn PyStackless_GetMain() -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the calling thread's main tasklet is NULL or live.
        unsafe { object::xnew_ref(scheduler::main().cast()) }
    })
}

/// Runs the scheduler until the runnables are empty (`timeout` 0), or with
/// `timeout` > 0 until a tasklet runs for `timeout` ticks without switching
/// (see `PyStackless_Tick`): `PyStackless_RunWatchdogEx(timeout, 0)`.
#[no_mangle]
pub extern "C" fn PyStackless_RunWatchdog(timeout: c_long) -> *mut PyObject {
    guard(null_mut(), || PyStackless_RunWatchdogEx(timeout, 0))
}

/// Runs the scheduler (SPEC §5.2) with `flags` from `Py_WATCHDOG_THREADBLOCK`,
/// `PY_WATCHDOG_SOFT`, `PY_WATCHDOG_IGNORE_NESTING`,
/// `PY_WATCHDOG_TOTALTIMEOUT` (they act only when `timeout` > 0 and this
/// call owns the timer).
///
/// Returns `None` (new reference), the interrupted tasklet (hard timeout;
/// it is paused: insert or kill it), or NULL: `ValueError("flags must be in
/// [0..255]")`, "switch_trap", or an uncaught exception of a tasklet.
/// Callable from any tasklet; auto-wraps from outside.
#[no_mangle]
pub extern "C" fn PyStackless_RunWatchdogEx(timeout: c_long, flags: c_int) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: scheduler operations on the calling thread.
        to_object(unsafe { watchdog::run_watchdog(timeout, flags) })
    })
}

/// Extension: a tick point, where a watchdog may interrupt the current
/// tasklet (SPEC §9.2). Advances the thread's tick counter by `n`. The
/// runtime's own calls are never tick points.
///
/// Returns 0 (also after an interrupt, when the tasklet resumes), or -1:
/// `ValueError("tick count must not be negative")`, or an exception
/// delivered to the tasklet while it was interrupted.
#[no_mangle]
pub extern "C" fn PyStackless_Tick(n: c_long) -> c_int {
    guard(-1, || to_status(watchdog::tick(n)))
}

/// Extension mirroring `stackless.switch_trap(delta)`: adds `delta` to the
/// calling thread's switch trap and returns the previous level. While it is
/// non-zero, any operation that would switch tasklets fails with
/// `RuntimeError("switch_trap")`.
#[no_mangle]
pub extern "C" fn PyStackless_SwitchTrap(delta: c_int) -> c_int {
    guard(0, || watchdog::adjust_switch_trap(delta))
}

/// Stackless's name for `PyStackless_SwitchTrap`.
#[no_mangle]
pub extern "C" fn PyStackless_AdjustSwitchTrap(delta: c_int) -> c_int {
    guard(0, || PyStackless_SwitchTrap(delta))
}

/// Extension: sets the stack size of tasklets started from now on (bytes,
/// rounded up to pages, at least `STACKLESS_MIN_STACK_SIZE` (16 KiB), at
/// most `STACKLESS_MAX_STACK_SIZE` (1 GiB): a size outside is brought to
/// the nearer bound; default 256 KiB or the environment variable
/// `STACKLESS_STACK_SIZE`). Returns the previous size. A tasklet that
/// overflows its stack ends the process with a message that names it: its
/// stack ends in a guard region (`MADV_GUARD_INSTALL`, Linux 6.13 and
/// later) or in guard pages (`mprotect`, while the kernel's mapping budget
/// lasts); past that budget, on an older kernel, in a red zone checked at
/// every switch and when the tasklet ends, which sees an overflow only if
/// it wrote into the red zone (`STACKLESS_GUARD=mprotect` or `redzone`
/// forces a fallback). A tasklet that cannot get a stack when it is to start leaves the
/// runnables, paused, and the switching call that tried to start it fails
/// with `MemoryError` (when a tasklet ends, its wake-up target gets it);
/// nothing else changes.
#[no_mangle]
pub extern "C" fn PyStackless_SetStackSize(size: usize) -> usize {
    guard(0, || stack::set_stack_size(size))
}

/// Extension mirroring `stackless.get_thread_info(thread_id)`: a new tuple
/// `(main or None, current or None, runcount)` for `thread_id` (-1: the
/// calling thread). NULL with `RuntimeError("Thread id not found")`.
#[no_mangle]
pub extern "C" fn PyStackless_GetThreadInfo(thread_id: c_long) -> *mut PyObject {
    guard(null_mut(), || to_object(threads::thread_info(thread_id)))
}

/// Extension mirroring `stackless.set_error_handler(handler)`: `handler`
/// is called as `handler(type, value, traceback)` on a tasklet that dies
/// with an uncaught exception; if it returns, the error is handled. NULL or
/// `None` removes it. Returns the previous handler or `None` (new
/// reference); NULL with `TypeError` for a non-callable.
#[no_mangle]
pub extern "C" fn PyStackless_SetErrorHandler(handler: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: NULL or a live object.
        to_object(unsafe { callbacks::set_error_handler(handler) })
    })
}

/// What a `SystemExit` leaving a tasklet of the initial thread does: the
/// hook gets the exit status (None: 0, an int: that int, else 1). NULL
/// restores the default, `exit(status)`.
pub type PyStackless_ExitHook = Option<unsafe extern "C-unwind" fn(c_int)>;

/// Extension: installs the exit hook (SPEC §9.9). If the hook returns, the
/// tasklet ends silently.
#[no_mangle]
pub extern "C" fn PyStackless_SetExitHook(hook: PyStackless_ExitHook) {
    guard((), || callbacks::set_exit_hook(hook))
}

/// Extension: the number of tasklets that survived being killed and are
/// kept forever with their stacks (SPEC §2.7).
#[no_mangle]
pub extern "C" fn PyStackless_GetUncollectableCount() -> usize {
    guard(0, threads::uncollectable)
}
