//! Exports of the stackless module functions (SPEC §8.3) and the
//! extensions of §8.7.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{to_object, to_status};
use crate::errors::guard;
use crate::object::{self, PyObject};
use crate::runtime::{callbacks, scheduler, stack, threads, watchdog};
use core::ffi::{c_int, c_long};
use core::ptr::null_mut;

/// Suspends the current tasklet and runs the next runnable one; with remove
/// non-zero the caller leaves the runnables (it is paused until someone
/// inserts or runs it). retval (NULL: None) is what the call returns,
/// unless the tempval was replaced meanwhile.
///
/// Returns a new reference, or NULL with the exception delivered to the
/// caller (a kill, an uncaught error of another tasklet, "switch_trap",
/// "Deadlock: the last runnable tasklet cannot be blocked."). May switch
/// tasklets. Auto-wraps from outside. Threads: any thread; it schedules the
/// calling thread's tasklets.
#[no_mangle]
pub extern "C" fn PyStackless_Schedule(retval: *mut PyObject, remove: c_int) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: retval NULL or live.
        to_object(unsafe { scheduler::schedule(retval, remove != 0) })
    })
}

/// PyStackless_Schedule; never returns Py_UnwindToken. May switch tasklets.
/// Threads: as PyStackless_Schedule.
#[no_mangle]
pub extern "C" fn PyStackless_Schedule_nr(retval: *mut PyObject, remove: c_int) -> *mut PyObject {
    guard(null_mut(), || PyStackless_Schedule(retval, remove))
}

/// The number of runnable tasklets of the calling thread, the current one
/// included (blocked, sleeping, paused and watchdog tasklets are not
/// counted). Does not switch. Threads: any thread, about itself;
/// tasklets other threads handed to it count from when the hand-over
/// returned.
#[no_mangle]
pub extern "C" fn PyStackless_GetRunCount() -> c_int {
    guard(0, scheduler::run_count)
}

/// The current tasklet of the calling thread (new reference), or NULL
/// without an exception when the thread is outside (it has no main
/// tasklet). Does not switch. Threads: any thread, about itself.
#[no_mangle]
pub extern "C" fn PyStackless_GetCurrent() -> *mut PyObject {
    guard(null_mut(), || {
        let t = scheduler::current();
        // SAFETY: the current tasklet is live.
        unsafe { object::xnew_ref(t.cast()) }
    })
}

/// A unique id of the current tasklet of the calling thread: the thread id
/// (PyThread_get_thread_ident()) for main and outside, else one derived
/// from the tasklet's address. Ids of dead tasklets may be reused. Does not
/// switch. Threads: any thread, about itself.
#[no_mangle]
pub extern "C" fn PyStackless_GetCurrentId() -> c_long {
    guard(-1, scheduler::current_id)
}

/// Extension: the main tasklet of the calling thread (new reference), or
/// NULL without an exception when the thread is outside. Does not switch.
/// Threads: any thread, about itself.
#[no_mangle]
pub extern "C" fn PyStackless_GetMain() -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: the calling thread's main tasklet is NULL or live.
        unsafe { object::xnew_ref(scheduler::main().cast()) }
    })
}

/// Runs the scheduler of the calling thread:
/// PyStackless_RunWatchdogEx(timeout, 0).
///
/// Returns as PyStackless_RunWatchdogEx. May switch tasklets. Auto-wraps
/// from outside. Threads: as PyStackless_RunWatchdogEx.
#[no_mangle]
pub extern "C" fn PyStackless_RunWatchdog(timeout: c_long) -> *mut PyObject {
    guard(null_mut(), || PyStackless_RunWatchdogEx(timeout, 0))
}

/// Runs the scheduler of the calling thread: the caller leaves the
/// runnables until they run empty (timeout 0); with timeout > 0 also until
/// a tick point (PyStackless_Tick) of a tasklet finds more than timeout
/// ticks since its last switch (the check precedes the tick's increment).
/// flags (each acts only when timeout > 0 and this is the outermost timed
/// run): Py_WATCHDOG_THREADBLOCK, when a tasklet leaves the runnables
/// empty the thread sleeps until another thread hands it work, instead of
/// returning to the caller; PY_WATCHDOG_SOFT, a timeout returns None at
/// the next switch instead of interrupting; PY_WATCHDOG_IGNORE_NESTING,
/// interrupts at any nesting level; PY_WATCHDOG_TOTALTIMEOUT, timeout
/// counts all ticks since the run started, not since the last switch. What
/// is still runnable when it returns stays runnable.
///
/// Returns None (new reference), the interrupted tasklet (new reference; a
/// hard timeout left it paused: insert or kill it), or NULL:
/// ValueError("flags must be in [0..255]"), RuntimeError("switch_trap"),
/// or an uncaught exception of a tasklet. May switch tasklets. Callable
/// from any tasklet; auto-wraps from outside. Threads: any thread; it runs
/// the calling thread's tasklets only.
#[no_mangle]
pub extern "C" fn PyStackless_RunWatchdogEx(timeout: c_long, flags: c_int) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: scheduler operations on the calling thread.
        to_object(unsafe { watchdog::run_watchdog(timeout, flags) })
    })
}

/// Extension: a tick point, where a watchdog may interrupt the current
/// tasklet of the calling thread; advances the thread's tick counter by n.
/// The runtime's own calls are never tick points: a tasklet that never
/// calls this is never interrupted.
///
/// Returns 0 (also after an interrupt, when the tasklet resumes), or -1:
/// ValueError("tick count must not be negative"), or an exception
/// delivered to the tasklet while it was interrupted. May switch tasklets.
/// Only a timed watchdog makes it switch. Threads: any thread, for its own
/// current tasklet.
#[no_mangle]
pub extern "C" fn PyStackless_Tick(n: c_long) -> c_int {
    guard(-1, || to_status(watchdog::tick(n)))
}

/// Extension mirroring stackless.switch_trap(delta): adds delta to the
/// switch trap of the calling thread and returns the previous level. While
/// it is non-zero, any operation that would switch tasklets fails with
/// RuntimeError("switch_trap"). Does not switch. Threads: any thread; each
/// thread has its own switch trap.
#[no_mangle]
pub extern "C" fn PyStackless_SwitchTrap(delta: c_int) -> c_int {
    guard(0, || watchdog::adjust_switch_trap(delta))
}

/// Stackless's name for PyStackless_SwitchTrap. Does not switch. Threads:
/// as PyStackless_SwitchTrap.
#[no_mangle]
pub extern "C" fn PyStackless_AdjustSwitchTrap(delta: c_int) -> c_int {
    guard(0, || PyStackless_SwitchTrap(delta))
}

/// Extension: sets the stack size of the tasklets started from now on
/// (bytes, rounded up to pages, at least STACKLESS_MIN_STACK_SIZE (16 KiB),
/// at most STACKLESS_MAX_STACK_SIZE (1 GiB): a size outside is brought to
/// the nearer bound; STACKLESS_DEFAULT_STACK_SIZE (256 KiB) or the
/// environment variable STACKLESS_STACK_SIZE at first). Returns the
/// previous size.
///
/// A tasklet that overflows its stack ends the process with a message that
/// names it: its stack ends in a guard region (MADV_GUARD_INSTALL, Linux
/// 6.13 and later) or in guard pages (mprotect, while the kernel's mapping
/// budget lasts); past that budget, on an older kernel, in a red zone
/// checked at every switch and when the tasklet ends, which sees an
/// overflow only if it wrote into the red zone (STACKLESS_GUARD=mprotect or
/// redzone forces a fallback). A tasklet that cannot get a stack when it is
/// to start leaves the runnables, paused, and the switching call that tried
/// to start it fails with MemoryError (when a tasklet ends, its wake-up
/// target gets it); nothing else changes. Does not switch. Threads: any
/// thread; the size is the process's, for the tasklets every thread starts.
#[no_mangle]
pub extern "C" fn PyStackless_SetStackSize(size: usize) -> usize {
    guard(0, || stack::set_stack_size(size))
}

/// Extension mirroring stackless.get_thread_info(thread_id): a new tuple
/// (main or None, current or None, runcount) of the thread thread_id (-1:
/// the calling thread); current is None when runcount is 0. NULL with
/// RuntimeError("Thread id not found") for a thread that is not in the
/// runtime. Does not switch. Threads: any thread, about any thread (what
/// that thread last published).
#[no_mangle]
pub extern "C" fn PyStackless_GetThreadInfo(thread_id: c_long) -> *mut PyObject {
    guard(null_mut(), || to_object(threads::thread_info(thread_id)))
}

/// Extension mirroring stackless.set_error_handler(handler): handler is
/// called as handler(type, value, traceback) when a tasklet dies with an
/// uncaught exception; if it returns, the error is handled. NULL or None
/// removes it.
///
/// Returns the previous handler or None (new reference); NULL with
/// TypeError("error handler must be callable") for a non-callable. Does not
/// switch. Threads: any thread; one handler for the process, called on the
/// thread of the tasklet that died.
#[no_mangle]
pub extern "C" fn PyStackless_SetErrorHandler(handler: *mut PyObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: NULL or a live object.
        to_object(unsafe { callbacks::set_error_handler(handler) })
    })
}

/// What a SystemExit leaving a tasklet of the initial thread does: the
/// hook gets the exit status (None: 0, an int: that int, else 1). NULL
/// restores the default, exit(status).
pub type PyStackless_ExitHook = Option<unsafe extern "C-unwind" fn(c_int)>;

/// Extension: installs hook (NULL: the default, exit(status)), called when
/// a SystemExit leaves a tasklet other than main on the initial thread (the
/// first thread that used the runtime). If the hook returns, the tasklet
/// ends silently. Does not switch. Threads: any thread; one hook for the
/// process, called on the initial thread.
#[no_mangle]
pub extern "C" fn PyStackless_SetExitHook(hook: PyStackless_ExitHook) {
    guard((), || callbacks::set_exit_hook(hook))
}

/// Extension: the number of tasklets that survived being killed (they
/// caught TaskletExit when their last reference went, or when their thread
/// ended) and are kept forever with their stacks. Does not switch. Threads:
/// any thread; the count is the process's.
#[no_mangle]
pub extern "C" fn PyStackless_GetUncollectableCount() -> usize {
    guard(0, threads::uncollectable)
}
