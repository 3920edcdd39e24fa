//! Exports of time (EXTENSIONS.md §1, §2, §5): the clock, sleeping, and
//! runs bounded by a deadline. Deadlines are absolute values of
//! `PyStackless_Now()`; -1 is "no deadline", any other negative value a
//! `ValueError("invalid deadline")`.

use super::{to_object, to_status};
use crate::errors::{self, guard};
use crate::object::PyObject;
use crate::runtime::messages as msg;
use crate::runtime::thread_state::Ts;
use crate::runtime::{scheduler, timers, watchdog};
use core::ffi::c_int;
use core::ptr::null_mut;

/// The time of CLOCK_MONOTONIC in nanoseconds: the clock of every deadline
/// (a deadline is a value of it; -1: none). Cannot fail. Does not switch.
/// Threads: any thread; one clock for all.
#[no_mangle]
pub extern "C" fn PyStackless_Now() -> i64 {
    guard(0, timers::now)
}

/// Suspends the current tasklet until deadline (-1: until it is killed or
/// thrown to), then appends it at the end of its thread's runnables (equal
/// deadlines in the order they were set). While it sleeps it is alive and
/// scheduled, not paused, blocked on no channel, and not counted by
/// PyStackless_GetRunCount; Run, Insert and Remove of it fail as for a
/// blocked tasklet. When nothing is runnable the thread sleeps until the
/// earliest deadline: never a deadlock. A deadline that passed is
/// PyStackless_Schedule(Py_None, 0). main may sleep; atomic does not
/// prevent sleeping.
///
/// Returns 0, or -1: ValueError("invalid deadline");
/// RuntimeError("switch_trap"); the exception of a kill, throw or
/// RaiseException (which take it off its timer at once); with -1 and
/// nothing else that could ever run, the Deadlock RuntimeError a receive
/// would get. May switch tasklets. Auto-wraps from outside. Threads: any
/// thread, for its own current tasklet, whose timer the calling thread
/// keeps; a kill or throw from another thread wakes it through its thread.
#[no_mangle]
pub extern "C" fn PyStackless_SleepUntil(deadline: i64) -> c_int {
    guard(-1, || {
        // SAFETY: called from C, outside any switch.
        to_status(timers::deadline(deadline).and_then(|d| unsafe { scheduler::sleep_until(d) }))
    })
}

/// PyStackless_SleepUntil(PyStackless_Now() + ns); ns < 0 is a
/// ValueError("sleep length must be non-negative"). May switch tasklets.
/// Threads: as PyStackless_SleepUntil.
#[no_mangle]
pub extern "C" fn PyStackless_Sleep(ns: i64) -> c_int {
    guard(-1, || {
        if ns < 0 {
            errors::value_error(msg::SLEEP_NEGATIVE);
            return -1;
        }
        PyStackless_SleepUntil(timers::now().saturating_add(ns))
    })
}

/// Runs the calling thread's scheduler as PyStackless_RunWatchdog(0);
/// when nothing is runnable but tasklets of this thread sleep, wait in a
/// channel operation with a deadline, or wait on an fd
/// (PyStackless_WaitFd), the thread sleeps (in the kernel, no CPU) until
/// the first of: a timer, an fd event, a hand-off from another thread, or
/// deadline.
///
/// Returns None (new reference) once deadline has passed, at the next
/// scheduling point after it (a switching call or the end of a tasklet; a
/// running tasklet is never interrupted; the others stay runnable), or
/// once the thread has nothing runnable, sleeping or waiting:
/// PyStackless_RunUntil(-1) runs all the work of the thread, timed waits
/// included, to its end. A deadline that passed already (a host loop's
/// PyStackless_RunUntil(PyStackless_Now())) runs everything that is
/// ready, and what becomes ready meanwhile (timers that come due
/// included), without waiting. A call inside another
/// PyStackless_RunUntil is an untimed run. NULL with ValueError("invalid
/// deadline"), or as PyStackless_RunWatchdog. May switch tasklets.
/// Auto-wraps from outside. Threads: any thread; it runs the calling
/// thread's tasklets only, and other threads wake it by handing it work.
#[no_mangle]
pub extern "C" fn PyStackless_RunUntil(deadline: i64) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: called from C, outside any switch.
        to_object(timers::deadline(deadline).and_then(|d| unsafe { watchdog::run_until(d) }))
    })
}

/// The earliest deadline of the calling thread's sleepers and timed
/// waits (channel operations, PyStackless_WaitFd), or -1 when it has
/// none. Cannot fail. Does not switch. Threads: any thread, about itself.
#[no_mangle]
pub extern "C" fn PyStackless_NextDeadline() -> i64 {
    guard(timers::NO_DEADLINE, || match Ts::existing() {
        Some(ts) if ts.earliest() != i64::MAX => ts.earliest(),
        _ => timers::NO_DEADLINE,
    })
}
