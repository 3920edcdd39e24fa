//! Time (EXTENSIONS.md §1-3, §5): the clock, each thread's timers, and what
//! a timer does when it fires.
//!
//! A thread's timers are the deadlines of its sleepers and of its tasklets
//! blocked in a channel operation with a deadline, in a queue ordered by
//! (deadline, order of setting): equal deadlines fire in the order they
//! were set. Each tasklet knows its timer's slot (`Tasklet::timer`): a
//! timer is set in O(log n) or better and cancelled in O(1) amortized,
//! without allocation once the queue has grown (see
//! [`TimerQueue`](super::timer_queue::TimerQueue)). The queue, and every
//! tasklet's `timer`, belong to the thread: other threads never touch them
//! (a partner or a kill from another thread hands the tasklet over, and the
//! owner cancels its timer when it applies the hand-off).
//!
//! A timer owns a reference to its tasklet. Whatever ends the wait first
//! wins: the owner cancels the timer when it makes the tasklet runnable by
//! another path (a kill, a partner), and the call that waited cancels it
//! when it resumes in any case. A timer that fires finds its tasklet still
//! waiting (then it wakes it) or not (then it only drops its reference).
//! For a channel operation the channel's lock decides between a partner
//! and the deadline: exactly one of them takes the tasklet out of the
//! queue.

use super::bomb;
use super::channel;
use super::messages as msg;
use super::tasklet::{self, Kind, Tasklet};
use super::thread_state::Ts;
use super::timer_queue::Timed;
use crate::errors::{self, PyResult};
use crate::object::{self, PyObject};
use core::cell::Cell;

/// The C API's "no deadline".
pub(crate) const NO_DEADLINE: i64 = -1;

/// `PyStackless_Now`: `CLOCK_MONOTONIC` in nanoseconds.
#[inline(always)]
pub(crate) fn now() -> i64 {
    read_clock(libc::CLOCK_MONOTONIC)
}

/// The clock `id` in nanoseconds.
#[inline(always)]
fn read_clock(id: libc::clockid_t) -> i64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write; the monotonic clocks exist
    // on every Linux.
    unsafe { libc::clock_gettime(id, &mut t) };
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: a fifth of the cost of
/// [`now`], behind it by up to a tick.
#[inline(always)]
pub(crate) fn coarse_now() -> i64 {
    read_clock(libc::CLOCK_MONOTONIC_COARSE)
}

/// Whether `deadline` is surely still to come, read from the coarse clock
/// (`CLOCK_MONOTONIC_COARSE`, a fifth of the cost of [`now`]): it lags the
/// precise clock by less than a tick, and [`COARSE_TICKS`] ticks of margin
/// cover that. False means "maybe due": ask [`now`]. A scheduling point
/// checks its timers this way, so that a thread whose deadlines are far
/// pays no clock read per switch; the idle path always reads [`now`].
#[inline(always)]
pub(crate) fn surely_future(deadline: i64) -> bool {
    coarse_now().saturating_add(coarse_margin()) < deadline
}

/// Ticks of the coarse clock that [`surely_future`] allows for its lag.
const COARSE_TICKS: i64 = 2;

/// [`COARSE_TICKS`] ticks of the coarse clock, in ns (read once).
fn coarse_margin() -> i64 {
    static MARGIN: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *MARGIN.get_or_init(|| {
        let mut res = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `res` is a valid timespec to write.
        let ok = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } == 0;
        // Without the resolution, a second: then few checks are skipped.
        let tick = if ok {
            res.tv_sec * 1_000_000_000 + res.tv_nsec
        } else {
            1_000_000_000
        };
        COARSE_TICKS * tick
    })
}

/// Whether `deadline` has passed: the coarse clock first, [`now`] only
/// when it may have.
#[inline(always)]
pub(crate) fn passed(deadline: i64) -> bool {
    !surely_future(deadline) && deadline <= now()
}

/// A deadline from C: `None` for [`NO_DEADLINE`], `ValueError("invalid
/// deadline")` for any other negative value.
pub(crate) fn deadline(value: i64) -> PyResult<Option<i64>> {
    match value {
        NO_DEADLINE => Ok(None),
        d if d < 0 => Err(errors::value_error(msg::INVALID_DEADLINE)),
        d => Ok(Some(d)),
    }
}

impl Timed for Tasklet {
    unsafe fn slot<'a>(p: *mut Tasklet) -> &'a Cell<usize> {
        // SAFETY: per the contract.
        unsafe { &(*p).timer }
    }
}

/// Sets a timer for `t` at `deadline`; the timer owns a new reference.
///
/// # Safety
/// `t` must be a live tasklet of `ts`'s thread without a timer.
pub(crate) unsafe fn arm(ts: Ts, t: *mut Tasklet, deadline: i64) {
    // SAFETY: per the contract; the reference keeps `t` live.
    unsafe {
        object::incref(t.cast());
        ts.timers_add(t, deadline);
    }
}

/// Cancels the timer of `t`, if it has one, and drops the timer's
/// reference.
///
/// # Safety
/// `t` must be a live tasklet of `ts`'s thread, and the caller must hold
/// another reference to it (the timer's is never the last one here: a
/// release must not run a deallocator inside a switch).
#[inline(always)]
pub(crate) unsafe fn disarm(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract; the owner's field.
    if unsafe { (*t).timer.get() } != 0 {
        // SAFETY: as above.
        unsafe { disarm_slow(ts, t) };
    }
}

/// # Safety
/// As [`disarm`].
#[inline(never)]
unsafe fn disarm_slow(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract: not the last reference.
    unsafe {
        if ts.timers_cancel(t) {
            object::decref(t.cast());
        }
    }
}

/// Wakes the sleeper `t` (state `Sleeping`): off its timer if it still has
/// one, appended to the runnables. Its sleep's reference moves into the
/// ring.
///
/// # Safety
/// `t` must be a sleeping tasklet of `ts`'s thread.
pub(crate) unsafe fn wake(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        disarm(ts, t);
        tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Runnable));
        ts.link(t);
    }
}

/// How many timers after the next one [`fire_due`] prefetches the tasklet
/// of: far enough ahead for the load to land before that timer fires.
/// Prefetching more made `sleep-1M` slower, in alternating runs: the
/// objects 8 timers ahead and the stacks 4 ahead, 1.7-1.8 against 1.3-1.6
/// µs per wake; every line of the object and, as a timer fires, its
/// tasklet's stack, 1.2-1.6 against 1.1-1.3.
const PREFETCH_TIMERS: usize = 2;

/// Fires every timer due at `now`, earliest first: a sleeper becomes
/// runnable; a tasklet still blocked in its channel operation leaves the
/// queue (its balance as if it never blocked, no channel callback) and
/// becomes runnable with `TimeoutError("timed out")` to raise; any other
/// tasklet's wait already ended. Runs inside switches: the timer's
/// reference to a tasklet it made runnable is dropped at once (the ring's
/// keeps it), anything else is released later (its deallocation could
/// switch). So a thread that only wakes sleepers, whose tasklets never call
/// into the runtime again, does not pile up a reference per timer.
///
/// # Safety
/// `ts` is the calling thread's state.
pub(crate) unsafe fn fire_due(ts: Ts, now: i64) {
    while let Some(t) = ts.timers_pop_due(now) {
        if let Some(next) = ts.timers_upcoming(PREFETCH_TIMERS) {
            // Likely due soon too: its miss overlaps the work until then.
            super::prefetch(next.cast());
        }
        // SAFETY: the timer's reference keeps `t` live; it is ours.
        unsafe {
            match tasklet::state(t).kind() {
                Kind::Sleeping => wake(ts, t),
                Kind::BlockedSend | Kind::BlockedRecv if channel::unblock(t, Kind::Runnable) => {
                    // The queue's reference moves into the ring.
                    let raised = timed_out();
                    let left = core::mem::replace(&mut (*t).tempval, raised);
                    (*t).delivered = tasklet::Delivery::None;
                    ts.release_later(left);
                    ts.link(t);
                }
                _ => {
                    ts.release_later(t.cast());
                    continue;
                }
            }
            // Not the last reference: the ring holds one, which only this
            // thread drops.
            object::decref(t.cast());
        }
    }
}

/// The bomb of a timed-out channel operation: `TimeoutError("timed out")`,
/// or the `MemoryError` that making it raised. Without memory for either,
/// the process ends with a message: the operation can neither succeed nor
/// fail.
fn timed_out() -> *mut PyObject {
    errors::timed_out();
    bomb::from_error()
        .or_else(|errors::Raised| bomb::from_error())
        .unwrap_or_else(|errors::Raised| super::switch::fatal(msg::NO_MEMORY_FOR_TIMEOUT))
}
