//! Exports of file descriptors (EXTENSIONS.md §4, §6): tasklets that wait
//! on fds, and the poll fd that lets a host event loop drive a thread's
//! scheduler.

use crate::errors::guard;
use crate::runtime::fds;
use crate::runtime::thread_state::Ts;
use crate::runtime::timers;
use core::ffi::c_int;

/// Suspends the current tasklet until the file descriptor fd is ready for
/// at least one of events (PY_WAIT_READ, PY_WAIT_WRITE, or both):
/// level-triggered, ready means that a read or a write would not block
/// now (an error or a hang-up counts as ready for both). deadline is a
/// value of PyStackless_Now(), or -1 for none. Several tasklets may wait
/// on one fd, for the same or different events; each is woken when its
/// events are ready. While it waits the tasklet reads as a sleeper does:
/// alive and scheduled, not paused, blocked on no channel, not counted by
/// PyStackless_GetRunCount; Run, Insert and Remove of it fail as for a
/// blocked tasklet. A thread whose tasklets wait on fds sleeps in the
/// kernel when nothing is runnable (never a deadlock), and a busy thread
/// polls its fds at least every few milliseconds. A deadline that has
/// passed already makes the call a try: the ready subset if the fd is
/// ready now, else the TimeoutError, without switching. A regular file,
/// which is always ready, returns events at once.
///
/// Returns the ready subset of events (> 0), or -1 with:
/// ValueError("events must be PY_WAIT_READ, PY_WAIT_WRITE or both");
/// ValueError("invalid deadline"); OSError(errno, strerror) for a bad fd
/// (its str() is "[Errno 9] Bad file descriptor", as in CPython), also when
/// PyStackless_ForgetFd(fd) woke it; TimeoutError("timed out") when the
/// deadline passed first; RuntimeError("switch_trap"); the exception of a
/// kill, throw or RaiseException (the tasklet leaves the poller at once).
/// May switch tasklets. Auto-wraps from outside.
/// Threads: any thread, for its own current tasklet; the fd is watched by
/// the calling thread's poller.
#[no_mangle]
pub extern "C" fn PyStackless_WaitFd(fd: c_int, events: c_int, deadline: i64) -> c_int {
    guard(-1, || {
        // SAFETY: called from C, outside any switch.
        timers::deadline(deadline)
            .and_then(|d| unsafe { fds::wait(fd, events, d) })
            .unwrap_or(-1)
    })
}

/// Wakes every tasklet that waits on fd with OSError(9, "Bad file
/// descriptor"), and takes fd out of the pollers. A program calls it
/// before it closes an fd that tasklets may wait on: a waiter on a closed
/// fd would wait until its deadline. The fd need not be open. The calling
/// thread's waiters are woken at once (appended to its runnables); those
/// of another thread at that thread's next scheduling point (a thread
/// that sleeps is woken for it). A wait that begins on another thread
/// while this runs may miss it, as it could miss the close.
///
/// Returns how many tasklets of the calling thread it woke (0 or more), or
/// -1 with OSError(9, "Bad file descriptor") for a negative fd. Does not
/// switch.
/// Threads: any thread; it reaches the waiters of every thread.
#[no_mangle]
pub extern "C" fn PyStackless_ForgetFd(fd: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: called from C, outside any switch.
        unsafe { fds::forget(fd) }.unwrap_or(-1)
    })
}

/// The poll fd of the calling thread, for a host event loop (libuv, asio,
/// a game's frame loop, poll()): it becomes readable when the thread's
/// scheduler has work: a hand-off from another thread, an fd that a
/// tasklet waits on is ready, or the earliest deadline has passed. The
/// host loop adds it to its own set (readable, level-triggered), sleeps
/// until PyStackless_NextDeadline() at the latest, and then calls
/// PyStackless_RunUntil(PyStackless_Now()), which runs everything that is
/// ready without waiting. It calls RunUntil before it first sleeps too:
/// tasklets the thread makes runnable itself (new ones, a partner on a
/// channel) do not make the fd readable. Made on first use with the
/// thread's scheduler state, and closed with it (PyStackless_Finalize, or
/// the thread's exit): a call after that makes a new one. Owned by the
/// runtime: never close it, and never read it.
///
/// Returns the fd (>= 0). Cannot fail. Does not switch.
/// Threads: any thread, for itself; each thread has its own poll fd.
#[no_mangle]
pub extern "C" fn PyStackless_GetPollFd() -> c_int {
    guard(-1, || {
        let ts = Ts::get();
        ts.host();
        ts.poller().fd()
    })
}
