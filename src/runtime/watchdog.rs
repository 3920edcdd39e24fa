//! The watchdog (SPEC §5.2-§5.3, §9.2): `run()`, its timer of ticks, hard
//! and soft interrupts, and the switch trap.

use super::messages as msg;
use super::switch::{self, NotSwitched};
use super::tasklet::{self, Kind, Tasklet};
use super::thread_state::{Ts, Until};
use crate::errors::{self, PyResult};
use crate::object::{self, decref, none, xdecref, PyObject};
use core::ffi::{c_int, c_long};
use core::ptr::null_mut;
use core::sync::atomic::Ordering;

/// PyStackless_RunWatchdogEx flag: when a tasklet leaves the runnables
/// empty, the thread sleeps until another thread hands it work, instead of
/// ending the run.
pub const Py_WATCHDOG_THREADBLOCK: c_int = 1;
/// PyStackless_RunWatchdogEx flag: a timeout ends the run with None at the
/// next switch, instead of interrupting the tasklet.
pub const PY_WATCHDOG_SOFT: c_int = 2;
/// PyStackless_RunWatchdogEx flag: interrupts at any nesting level.
pub const PY_WATCHDOG_IGNORE_NESTING: c_int = 4;
/// PyStackless_RunWatchdogEx flag: the timeout counts all ticks since the
/// run started, not since the last switch.
pub const PY_WATCHDOG_TOTALTIMEOUT: c_int = 8;

/// What a timed `run()` installs and restores.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct TimerSettings {
    pub active: bool,
    pub runflags: c_int,
    pub watermark: c_long,
    pub interval: c_long,
}

impl TimerSettings {
    /// The timer of a `run(timeout, flags)` started at tick `ticks`.
    fn start(ticks: c_long, interval: c_long, runflags: c_int) -> TimerSettings {
        TimerSettings {
            active: true,
            runflags,
            interval,
            watermark: ticks.wrapping_add(interval),
        }
    }

    fn has(self, flag: c_int) -> bool {
        self.runflags & flag != 0
    }

    /// Whether the slice ran out at tick `ticks`. The counter wraps, so the
    /// two are compared by their distance (any timeout up to `LONG_MAX`
    /// ticks works).
    fn expired(self, ticks: c_long) -> bool {
        self.active && ticks.wrapping_sub(self.watermark) > 0
    }

    /// A new slice from tick `ticks` (a switch happened); unchanged with
    /// TOTALTIMEOUT, where the timeout counts from the start of `run()`.
    fn restarted(self, ticks: c_long) -> TimerSettings {
        if self.has(PY_WATCHDOG_TOTALTIMEOUT) {
            self
        } else {
            self.deferred(ticks)
        }
    }

    /// The interrupt comes again one interval from tick `ticks`.
    fn deferred(self, ticks: c_long) -> TimerSettings {
        TimerSettings {
            watermark: ticks.wrapping_add(self.interval),
            ..self
        }
    }
}

/// Whether the active timed `run()` lets the thread sleep (THREADBLOCK).
pub(crate) fn threadblock(ts: Ts) -> bool {
    let timer = ts.timer();
    timer.active && timer.has(Py_WATCHDOG_THREADBLOCK)
}

/// A new time slice after a switch.
#[inline(always)]
pub(crate) fn restart_slice(ts: Ts) {
    let timer = ts.timer();
    if timer.active {
        ts.set_timer(timer.restarted(ts.ticks()));
    }
}

fn nesting_ok(ts: Ts, t: *mut Tasklet) -> bool {
    ts.nesting_level() == 0
        // SAFETY: `t` is a live tasklet of this thread.
        || unsafe { (*t).ignore_nesting.load(Ordering::Relaxed) }
        || ts.timer().has(PY_WATCHDOG_IGNORE_NESTING)
}

fn interrupt_target(ts: Ts) -> *mut Tasklet {
    let w = ts.interrupt_watchdog();
    if w.is_null() {
        ts.main()
    } else {
        w
    }
}

/// SPEC §5.3 soft interrupt, taken at the switch `prev -> next`; the
/// switch consumes `prev`'s pending flag whether or not it is taken.
///
/// # Safety
/// `prev` and `next` must be live tasklets of `ts`'s thread, `next` linked.
pub(crate) unsafe fn soft_interrupt(
    ts: Ts,
    prev: *mut Tasklet,
    next: *mut Tasklet,
    no_soft_irq: bool,
) -> *mut Tasklet {
    if !ts.timer().active || !ts.timer().has(PY_WATCHDOG_SOFT) {
        return next;
    }
    // SAFETY: per the contract; `w` is main or a watchdog of this thread.
    unsafe {
        (*prev).pending_irq.store(false, Ordering::Relaxed);
        let w = interrupt_target(ts);
        if tasklet::state(w).kind() != Kind::Paused || w == prev || w == next {
            return next;
        }
        if no_soft_irq || !nesting_ok(ts, prev) {
            (*next).pending_irq.store(true, Ordering::Relaxed);
            return next;
        }
        tasklet::set_state(w, tasklet::state(w).with_kind(Kind::Runnable));
        object::incref(w.cast());
        ts.link_before(next, w);
        w
    }
}

/// `PyStackless_RunWatchdogEx` (SPEC §5.2).
///
/// # Safety
/// Runs the calling thread's scheduler.
pub(crate) unsafe fn run_watchdog(timeout: c_long, flags: c_int) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract.
    unsafe { run(timeout, flags, None) }
}

/// `PyStackless_RunUntil` (EXTENSIONS.md §5): an untimed run that, while
/// nothing is runnable but the thread has timers or fd waits, waits for
/// them; it returns once `deadline` (`None`: never) has passed, at the
/// next scheduling point, or once the thread has neither runnables nor
/// timers nor fd waits.
/// A deadline that passed already runs what is ready without waiting; a
/// call inside another `RunUntil` is an untimed run.
///
/// # Safety
/// As [`run_watchdog`].
pub(crate) unsafe fn run_until(deadline: Option<i64>) -> PyResult<*mut PyObject> {
    let waits = deadline.is_none_or(|d| d > super::timers::now());
    let ts = Ts::get();
    if ts.hosted() || ts.fds().waits() != 0 {
        // What a host loop's poll saw, or what is ready by now: its
        // waiters run in this call.
        // SAFETY: our own state, outside any switch.
        unsafe { super::fds::poll_now(ts) };
    }
    // SAFETY: per the contract.
    let result = unsafe { run(0, 0, waits.then_some(deadline)) };
    if ts.hosted() {
        // The host loop sleeps next: its poll fd is readable for work
        // only, and at the earliest deadline.
        ts.shared().quiet(ts.poller());
        ts.poller().arm(ts.earliest());
    }
    result
}

/// [`run_watchdog`], and [`run_until`] with `until`.
///
/// # Safety
/// As [`run_watchdog`].
unsafe fn run(
    timeout: c_long,
    flags: c_int,
    until: Option<Option<i64>>,
) -> PyResult<*mut PyObject> {
    if !(0..=255).contains(&flags) {
        return Err(errors::value_error(msg::FLAGS_RANGE));
    }
    // SAFETY: every tasklet touched is the caller's or of its thread.
    unsafe {
        super::scheduler::with_main(|ts| {
            let w = ts.head();
            ts.push_watchdog(object::new_ref(w.cast()).cast());
            let owns_timer = timeout > 0 && ts.interrupt_watchdog().is_null();
            let saved = ts.timer();
            if owns_timer {
                ts.replace_interrupt_watchdog(object::new_ref(w.cast()).cast());
                ts.set_timer(TimerSettings::start(ts.ticks(), timeout, flags));
            }
            // A `RunUntil` inside another one is an untimed run.
            let owns_until = match until {
                Some(deadline) if ts.until().is_none() => {
                    ts.set_until(Some(Until {
                        watchdog: w,
                        deadline,
                    }));
                    true
                }
                _ => false,
            };
            let next = (*w).ring.next();
            let next = if next == w { null_mut() } else { next };
            ts.unlink(w);
            tasklet::set_state(w, tasklet::state(w).with_kind(Kind::Paused));
            decref(w.cast());
            let leaves = (*w).tempval;
            let switched = switch::switch_to(ts, w, next, false, leaves);
            let stop_timer = || {
                if owns_timer {
                    xdecref(ts.replace_interrupt_watchdog(null_mut()).cast());
                    ts.set_timer(saved);
                }
                if owns_until {
                    ts.set_until(None);
                }
            };
            let result = match switched {
                Err(NotSwitched) => {
                    ts.pop_watchdog();
                    relink_as_current(ts, w);
                    stop_timer();
                    return Err(errors::Raised);
                }
                Ok(result) => result,
            };
            pop_watchdogs(ts, w);
            stop_timer();
            decref(result?);
            let interrupted = ts.replace_interrupted(null_mut());
            if !interrupted.is_null() {
                if flags & PY_WATCHDOG_SOFT == 0 {
                    if tasklet::state(interrupted).is(Kind::Runnable) {
                        ts.unlink(interrupted);
                        tasklet::set_state(
                            interrupted,
                            tasklet::state(interrupted).with_kind(Kind::Paused),
                        );
                        decref(interrupted.cast());
                    }
                    return Ok(interrupted.cast());
                }
                decref(interrupted.cast());
            }
            Ok(none::new_none())
        })
    }
}

/// Makes `t` the head of the ring: main when it starts, or the caller
/// after a failed switch. A reference the caller owns moves into the ring.
///
/// # Safety
/// `t` must be a started tasklet of `ts`'s thread, out of the ring.
pub(crate) unsafe fn relink_as_current(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Runnable));
        if ts.head().is_null() {
            ts.link(t);
        } else {
            ts.link_before(ts.head(), t);
        }
        ts.set_head(t);
    }
}

/// SPEC §5.2 step 7: pops the watchdog stack down to and including `w`;
/// the paused watchdogs above it become runnable.
///
/// # Safety
/// `w` must be a live tasklet of `ts`'s thread.
unsafe fn pop_watchdogs(ts: Ts, w: *mut Tasklet) {
    if !ts.is_watchdog(w) {
        return;
    }
    while let Some(top) = ts.pop_watchdog() {
        // SAFETY: the stack owned a reference to each; they are ours.
        unsafe {
            if top == w {
                decref(w.cast());
                return;
            }
            if tasklet::state(top).in_scheduler() {
                decref(top.cast());
            } else {
                tasklet::set_state(top, tasklet::state(top).with_kind(Kind::Runnable));
                ts.link(top);
            }
        }
    }
}

/// `PyStackless_Tick(n)` (SPEC §9.2): a point where the watchdog may
/// interrupt the current tasklet.
pub(crate) fn tick(n: c_long) -> PyResult<()> {
    if n < 0 {
        return Err(errors::value_error(msg::TICKS_NEGATIVE));
    }
    let ts = Ts::get();
    if ts.timer().expired(ts.ticks()) && !ts.main().is_null() && !errors::is_set() {
        interrupt(ts)?;
    }
    ts.add_ticks(n);
    Ok(())
}

/// The watchdog's handler (SPEC §5.3).
fn interrupt(ts: Ts) -> PyResult<()> {
    // During a schedule callback: the tasklet switched from (SPEC §5.9).
    let cur = ts.current();
    // SAFETY: the current tasklet of this thread is live.
    let atomic = unsafe { (*cur).atomic.load(Ordering::Relaxed) };
    if ts.timer().has(PY_WATCHDOG_SOFT)
        || atomic
        || ts.schedlock()
        || !nesting_ok(ts, cur)
        || ts.switch_trap() != 0
    {
        ts.set_timer(ts.timer().deferred(ts.ticks()));
        // SAFETY: as above.
        unsafe { (*cur).pending_irq.store(true, Ordering::Relaxed) };
        return Ok(());
    }
    // SAFETY: `cur` is current; the interrupt target is main or a
    // watchdog of this thread.
    unsafe {
        (*cur).pending_irq.store(false, Ordering::Relaxed);
        let old = ts.replace_interrupted(object::new_ref(cur.cast()).cast());
        xdecref(old.cast());
        match switch::switch_to(ts, cur, interrupt_target(ts), false, null_mut()) {
            Ok(result) => decref(result?),
            Err(NotSwitched) => return Err(errors::Raised),
        }
    }
    Ok(())
}

/// After `atomic` or `ignore_nesting` of the current tasklet changed, or
/// the nesting level dropped back (a callback or the error handler
/// returned): a deferred hard interrupt that nothing forbids any more is
/// taken at the third following tick point (SPEC §5.3).
///
/// # Safety
/// `t` must be a live tasklet.
pub(crate) unsafe fn recheck_pending_irq(t: *mut Tasklet) {
    let Some(ts) = Ts::existing() else {
        return;
    };
    // SAFETY: per the contract; the flags are read only for our own
    // current tasklet.
    unsafe {
        if !tasklet::is_own(t, ts)
            || !tasklet::is_current(t)
            || !(*t).pending_irq.load(Ordering::Relaxed)
        {
            return;
        }
        let timer = ts.timer();
        if !timer.active
            || timer.has(PY_WATCHDOG_SOFT)
            || (*t).atomic.load(Ordering::Relaxed)
            || ts.schedlock()
            || ts.switch_trap() != 0
            || !nesting_ok(ts, t)
        {
            return;
        }
        ts.set_timer(TimerSettings {
            watermark: ts.ticks().wrapping_add(1),
            ..timer
        });
        (*t).pending_irq.store(false, Ordering::Relaxed);
    }
}

/// `PyStackless_SwitchTrap(delta)`: returns the old level.
pub(crate) fn adjust_switch_trap(delta: c_int) -> c_int {
    let ts = Ts::get();
    let old = ts.switch_trap();
    ts.set_switch_trap(old.wrapping_add(delta));
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_expires_after_its_interval() {
        let t = TimerSettings::start(100, 5, 0);
        assert_eq!(t.watermark, 105);
        assert!(!t.expired(105));
        assert!(t.expired(106));
        assert!(!TimerSettings::default().expired(1_000));
    }

    #[test]
    fn a_switch_restarts_the_slice_unless_the_timeout_is_total() {
        let t = TimerSettings::start(0, 10, 0);
        assert_eq!(t.restarted(50).watermark, 60);
        let total = TimerSettings::start(0, 10, PY_WATCHDOG_TOTALTIMEOUT);
        assert_eq!(total.restarted(50).watermark, 10);
        // A deferred interrupt always comes one interval later.
        assert_eq!(total.deferred(50).watermark, 60);
    }

    #[test]
    fn the_tick_counter_wraps_without_overflow() {
        let t = TimerSettings::start(c_long::MAX, 2, 0);
        assert_eq!(t.watermark, c_long::MIN + 1);
        assert_eq!(t.restarted(c_long::MAX).watermark, c_long::MIN + 1);
        assert!(!t.expired(c_long::MIN + 1));
        assert!(t.expired(c_long::MIN + 2));
    }

    #[test]
    fn the_longest_timeout_runs_out_only_after_as_many_ticks() {
        let t = TimerSettings::start(7, c_long::MAX, 0);
        assert!(!t.expired(8));
        assert!(!t.expired(c_long::wrapping_add(7, c_long::MAX)));
        assert!(t.expired(c_long::wrapping_add(7, c_long::MAX).wrapping_add(1)));
    }
}
