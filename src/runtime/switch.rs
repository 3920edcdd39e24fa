//! Switching: the generic switch of SPEC §3.2, the trampoline, what
//! happens when nothing is runnable (§3.3), tasklet start and death (§2.5).
//!
//! Every tasklet but main runs on its own corosensei coroutine; main runs
//! on the thread's native stack. corosensei is asymmetric, so a switch
//! between two tasklets goes through [`run_loop`], which runs on main's
//! stack inside main's pending switching call: the leaving tasklet suspends
//! to the loop and the loop resumes the next one. When the next one is main
//! the loop returns and main's call goes on.
//!
//! Every function here runs on the thread that owns the tasklets it is
//! given; `ts` is that thread's handle.

use super::bomb;
use super::callbacks;
use super::channel;
use super::fds;
use super::messages as msg;
use super::stack;
use super::tasklet::{self, Delivery, Kind, Tasklet, TaskletCoroutine};
use super::thread_state::Ts;
use super::threads;
use super::timers;
use super::tsan::Fiber;
use super::watchdog;
use crate::errors::{self, ErrorState, PyResult, Raised};
use crate::object::{self, decref, exceptions, protocol, xdecref, PyObject};
use core::ffi::c_int;
use core::ptr::null_mut;
use core::sync::atomic::Ordering;
use corosensei::{Coroutine, CoroutineResult, Yielder};

/// A switching call failed before any switch: nothing changed, the caller
/// undoes its own preparations. The exception is set.
#[derive(Debug)]
pub(crate) struct NotSwitched;

/// The outcome of a switch: `Err(NotSwitched)` when it could not happen,
/// else the value the caller claimed when it was resumed.
pub(crate) type Switched = Result<PyResult<*mut PyObject>, NotSwitched>;

/// Ends the process with a message: the runtime found its own state broken.
#[cold]
pub(crate) fn fatal(message: &str) -> ! {
    eprintln!("Fatal error in libstackless: {message}");
    std::process::abort();
}

/// Runnables from which a switch prefetches the tasklets that run after
/// the next one: a smaller ring stays in the caches anyway (256 tasklets
/// with a few KiB of stack each fill a core's L2; a batch of 100 spawns
/// pays nothing, 1,000 senders in `fanin` gain).
const PREFETCH_RING: c_int = 256;

/// Prefetches, for a large ring whose tasklets are cold (a million
/// sleepers woken in the order of their deadlines, not of their memory),
/// the object of the third tasklet after `next` (all its lines) and the
/// stack of the second around where it switched out. Each switch loads
/// what the next ones need while a tasklet runs: the stack's first touch
/// after a switch was most of the cost of waking a cold tasklet
/// (`sleep-1M`: 2.0 to 1.2 µs per wake). The links read on the way were
/// prefetched by the switches before.
///
/// # Safety
/// `next` must be a member of the calling thread's ring.
#[inline(never)]
unsafe fn prefetch_ahead(next: *mut Tasklet) {
    // SAFETY: ring members are live tasklets of this thread.
    unsafe {
        let second = (*(*next).ring.next()).ring.next();
        let third = (*second).ring.next().cast::<u8>();
        for offset in (0..core::mem::size_of::<Tasklet>()).step_by(128) {
            super::prefetch(third.wrapping_add(offset));
        }
        let sp = (*second).saved_sp as *const u8;
        // From the registers saved below it to the frames above it.
        for offset in (-128..=640).step_by(128) {
            super::prefetch(sp.wrapping_offset(offset));
        }
    }
}

/// Switches since it last ran after which a tasklet is taken for cold:
/// its stack has left the caches.
const COLD_AFTER_SWITCHES: u64 = 4096;

/// Prefetches the stack of `next`, about to resume, when it is cold (a
/// sleeper woken after a million others ran): from where it switched out
/// to the end of that page, the frames it returns through, which would
/// otherwise miss one after another as each return loads the next.
///
/// # Safety
/// `next` must be a live tasklet of `ts`'s thread.
#[inline(always)]
unsafe fn prefetch_if_cold(ts: Ts, next: *mut Tasklet) {
    // SAFETY: per the contract, the owner's field.
    let last_ran = unsafe { (*next).switched_out_at };
    if ts.switch_count().wrapping_sub(last_ran) > COLD_AFTER_SWITCHES {
        // SAFETY: as above.
        unsafe { prefetch_stack(next) };
    }
}

/// Prefetches the stack of `next` from where it switched out (less the
/// registers saved below) to the end of that page; main (no stack of its
/// own, no such address) is skipped.
///
/// # Safety
/// As [`prefetch_if_cold`].
#[inline(never)]
unsafe fn prefetch_stack(next: *mut Tasklet) {
    // SAFETY: per the contract, the owner's field.
    let sp = unsafe { (*next).saved_sp };
    if sp == 0 {
        return;
    }
    let end = (sp | (stack::page_size() - 1)) + 1;
    for line in (sp - 128..end).step_by(128) {
        super::prefetch(line as *const u8);
    }
}

/// Saves the context of `prev` (leaving) and installs that of `next`
/// (resuming): error indicator, recursion depth, nesting level.
///
/// # Safety
/// Both must be live tasklets of `ts`'s thread.
unsafe fn exchange_context(ts: Ts, prev: *mut Tasklet, next: *mut Tasklet) {
    if ts.runcount() >= PREFETCH_RING {
        // SAFETY: per the contract, `next` is in the ring.
        unsafe { prefetch_ahead(next) };
    }
    // SAFETY: per the contract, the owner's fields of both.
    unsafe {
        prefetch_if_cold(ts, next);
        let err = core::mem::replace(&mut (*next).err, ErrorState::EMPTY);
        let mut depth = 0;
        errors::exchange_context(
            &mut (*prev).err,
            &mut depth,
            err,
            (*next).recursion_depth.load(Ordering::Relaxed),
        );
        (*prev).recursion_depth.store(depth, Ordering::Relaxed);
        (*prev)
            .nesting_level
            .store(ts.nesting_level(), Ordering::Relaxed);
        ts.set_nesting_level((*next).nesting_level.load(Ordering::Relaxed));
        (*prev).switched_out_at = ts.next_switch();
    }
}

/// Moves the CPU from `prev` (current, running) to `next` and returns when
/// `prev` is resumed.
///
/// # Safety
/// As [`exchange_context`]; `prev` is the running tasklet.
unsafe fn transfer(ts: Ts, prev: *mut Tasklet, next: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        exchange_context(ts, prev, next);
        ts.set_target(next);
        if (*prev).yielder.is_null() {
            run_loop(ts);
        } else {
            let here = 0u8;
            (*prev).saved_sp = core::ptr::addr_of!(here) as usize;
            // SAFETY: `prev` runs on its coroutine, whose yielder lives as
            // long as the coroutine's stack.
            (*(*prev).yielder).suspend(());
        }
    }
}

/// The trampoline, on main's stack: resumes `ts.target()` until it is main.
///
/// # Safety
/// Runs on main's stack, inside main's switching call.
unsafe fn run_loop(ts: Ts) {
    let home = Fiber::current();
    loop {
        let t = ts.target();
        if t == ts.main() {
            return;
        }
        // SAFETY: the target is a live tasklet of this thread with a
        // coroutine (`ensure_coroutine` ran before it became the target);
        // while it runs, nothing but this loop touches its coroutine.
        unsafe {
            let Some(coro) = (*t).coro.as_mut() else {
                fatal("switched to a tasklet without a coroutine")
            };
            (*t).fiber.enter();
            let result = coro.resume(());
            home.enter();
            match result {
                CoroutineResult::Yield(()) => {
                    if !(*t).red_zone.is_null() {
                        stack::check_red_zone((*t).red_zone);
                    }
                }
                CoroutineResult::Return(()) => {
                    if !(*t).red_zone.is_null() {
                        stack::check_red_zone((*t).red_zone);
                    }
                    let coro = (*t).coro.take().unwrap_or_else(|| unreachable!());
                    ts.give_stack(coro.into_stack());
                    retire_started(ts, t);
                    (*t).yielder = core::ptr::null();
                    // The ring's reference to the dead tasklet.
                    decref(t.cast());
                }
            }
        }
    }
}

/// Creates the coroutine of a tasklet about to start.
///
/// # Safety
/// `t` must be a live tasklet of `ts`'s thread, in its ring.
#[inline(always)]
pub(crate) unsafe fn ensure_coroutine(ts: Ts, t: *mut Tasklet) -> PyResult<()> {
    // SAFETY: per the contract.
    if unsafe { (*t).coro.is_some() } || t == ts.main() {
        return Ok(());
    }
    // SAFETY: as above.
    unsafe { create_coroutine(ts, t) }
}

/// The cold part of [`ensure_coroutine`].
///
/// # Safety
/// As [`ensure_coroutine`].
#[inline(never)]
unsafe fn create_coroutine(ts: Ts, t: *mut Tasklet) -> PyResult<()> {
    let Some(stack) = ts.take_stack() else {
        return Err(errors::no_memory());
    };
    let red_zone = stack.red_zone();
    let fiber = stack.fiber();
    let low = stack.low();
    let floor = low + stack::recursion_margin(stack.size());
    stack.claim(t as usize, ts.shared().thread_id);
    let coro: TaskletCoroutine = Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
        // SAFETY: `t` stays alive while it runs: its ring holds a reference.
        unsafe { tasklet_body(t, y) }
    });
    // SAFETY: `t` is a runnable tasklet of this thread (the caller's
    // contract): its state and owner fields are ours to write.
    unsafe {
        (*t).red_zone = red_zone;
        (*t).stack_low = low;
        (*t).stack_floor = floor;
        (*t).fiber = fiber;
        (*t).coro = Some(coro);
        // Its stack is new, and its switch-outs count on this thread from
        // now on (one that ended on another thread and was bound to this
        // one carries that thread's count).
        (*t).saved_sp = 0;
        (*t).switched_out_at = ts.switch_count();
        tasklet::set_state(t, tasklet::state(t).with_started(true));
        (*t).started_index = ts.add_started(t);
    }
    Ok(())
}

/// Forgets a finished tasklet's place in the list of started tasklets.
///
/// # Safety
/// `t` must be a started tasklet of `ts`'s thread.
unsafe fn retire_started(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        ts.remove_started((*t).started_index);
        (*t).started_index = usize::MAX;
    }
}

/// The body of every tasklet's coroutine.
///
/// # Safety
/// `t` is the tasklet the coroutine was made for, current on its thread.
unsafe fn tasklet_body(t: *mut Tasklet, yielder: &Yielder<(), ()>) {
    let ts = Ts::get();
    // SAFETY: `t` is current on this thread.
    unsafe {
        (*t).yielder = yielder;
        ts.release_deferred();
        let result = match tasklet::claim_tempval(t) {
            Err(Raised) => Err(Raised),
            Ok(v) => {
                decref(v);
                call_pending(t)
            }
        };
        tasklet_end(ts, t, result);
    }
}

/// Calls the tasklet's pending `func(*args, **kwds)` (SPEC §9.11).
///
/// # Safety
/// `t` is current on this thread and has a pending call.
unsafe fn call_pending(t: *mut Tasklet) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract; the call's references are taken out.
    unsafe {
        let func = core::mem::replace(&mut (*t).func, null_mut());
        let args = core::mem::replace(&mut (*t).args, null_mut());
        let kwds = core::mem::replace(&mut (*t).kwds, null_mut());
        let result = protocol::call(func, args, kwds);
        decref(func);
        decref(args);
        xdecref(kwds);
        result
    }
}

/// Applies what other threads handed over until `t`, which was made
/// runnable by one of them, is in the ring (the hand-off is in the inbox
/// by the time `t` reads `Handed`: both happen under the inbox lock).
///
/// # Safety
/// `t` must be a live tasklet of `ts`'s thread.
pub(crate) unsafe fn settle(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract.
    while unsafe { tasklet::state(t) }.is(Kind::Handed) {
        // SAFETY: `ts` is the calling thread's state.
        unsafe { threads::drain(ts) };
    }
}

/// Makes a paused, blocked or handed tasklet runnable: appended at the
/// tail. Returns whether it had to be linked; fails with
/// `RuntimeError("can't switch to a different thread.")` when another
/// thread rebound it meanwhile.
///
/// # Safety
/// `t` must be a live, alive tasklet of `ts`'s thread.
#[inline(always)]
pub(crate) unsafe fn make_runnable(ts: Ts, t: *mut Tasklet) -> Result<bool, NotSwitched> {
    // SAFETY: per the contract.
    unsafe {
        if tasklet::state(t).is(Kind::Runnable) {
            return Ok(false);
        }
        link_runnable(ts, t)
    }
}

/// The slow part of [`make_runnable`].
///
/// # Safety
/// As [`make_runnable`].
#[inline(never)]
unsafe fn link_runnable(ts: Ts, t: *mut Tasklet) -> Result<bool, NotSwitched> {
    // SAFETY: the caller's contract (`make_runnable`).
    unsafe {
        loop {
            let s = tasklet::state(t);
            if !ts.is(s.thread()) {
                errors::runtime_error(msg::SWITCH_OTHER_THREAD);
                return Err(NotSwitched);
            }
            match s.kind() {
                Kind::Runnable => return Ok(true),
                Kind::Handed => settle(ts, t),
                Kind::BlockedSend | Kind::BlockedRecv => {
                    // The queue's reference moves into the ring; if a
                    // partner took the tasklet first it is `Handed`.
                    if channel::unblock(t, Kind::Runnable) {
                        ts.link(t);
                        return Ok(true);
                    }
                }
                Kind::Sleeping => {
                    timers::wake(ts, t);
                    return Ok(true);
                }
                Kind::Paused => {
                    if claim(t, s, Kind::Runnable) {
                        object::incref(t.cast());
                        ts.link(t);
                        return Ok(true);
                    }
                }
                Kind::Idle => {
                    errors::runtime_error(msg::RUN_DEAD);
                    return Err(NotSwitched);
                }
            }
        }
    }
}

/// The owner's transition of `t` from `s` (as it just read it) to `kind`:
/// a plain store for a started tasklet, which only the owner writes; a
/// compare-and-swap for one that is not started, which another thread may
/// rebind or set up meanwhile. False when that happened.
///
/// # Safety
/// `t` must be a live tasklet of the calling thread, neither blocked nor
/// handed.
pub(crate) unsafe fn claim(t: *mut Tasklet, s: tasklet::State, kind: Kind) -> bool {
    // SAFETY: per the contract.
    unsafe {
        if s.started() {
            tasklet::set_state(t, s.with_kind(kind));
            true
        } else {
            tasklet::replace_state(t, s, s.with_kind(kind))
        }
    }
}

/// Delivers a bomb (stolen) to `t`, which will claim it when it resumes;
/// if `t` holds the result of a channel operation a partner completed
/// (from another thread, or from any thread when `keep_local`), the bomb
/// waits for its next switching call instead, so that no message is lost.
/// Returns what it displaced, for the caller to release (outside any lock).
///
/// # Safety
/// `t` must be a live tasklet of the calling thread, not blocked; if it is
/// `Handed`, the caller holds its thread's inbox lock.
#[must_use]
pub(crate) unsafe fn give_bomb(
    t: *mut Tasklet,
    b: *mut PyObject,
    keep_local: bool,
) -> *mut PyObject {
    // SAFETY: per the contract, the fields are ours.
    unsafe {
        let keep = match (*t).delivered {
            Delivery::None => false,
            Delivery::Local => keep_local,
            Delivery::Remote => true,
        };
        if keep {
            core::mem::replace(&mut (*t).pending_bomb, b)
        } else {
            (*t).delivered = Delivery::None;
            core::mem::replace(&mut (*t).tempval, b)
        }
    }
}

/// The generic switch of SPEC §3.2 from the current tasklet `prev` to
/// `next` (NULL: nothing runnable, §3.3). `no_soft_irq` marks the
/// preference-driven rendezvous of §4.2. `leaves` is the value `prev`
/// leaves behind (borrowed, or NULL): a bomb among them is passed to a
/// revived wake-up target (§3.3).
///
/// # Safety
/// `prev` must be the current tasklet of `ts`'s thread; `next` NULL or a
/// live, alive tasklet of that thread.
pub(crate) unsafe fn switch_to(
    ts: Ts,
    prev: *mut Tasklet,
    next: *mut Tasklet,
    no_soft_irq: bool,
    leaves: *mut PyObject,
) -> Switched {
    if ts.schedlock() {
        fatal(msg::RECURSIVE_SCHEDULE);
    }
    // SAFETY: per the contract.
    unsafe {
        let next = if ts.clock_watch() {
            time_point(ts, prev, next)
        } else {
            next
        };
        let mut next = if next.is_null() {
            block_target(ts, prev, leaves)?
        } else {
            next
        };
        if ts.switch_trap() != 0 && prev != next {
            errors::runtime_error(msg::SWITCH_TRAP);
            return Err(NotSwitched);
        }
        make_runnable(ts, next)?;
        if (*prev).pending_irq.load(Ordering::Relaxed) && prev != next {
            next = watchdog::soft_interrupt(ts, prev, next, no_soft_irq);
        }
        if prev == next {
            ts.release_deferred();
            return Ok(tasklet::claim_tempval(prev));
        }
        if ensure_coroutine(ts, next).is_err() {
            // No stack for it: it leaves the ring (paused, not started), so
            // that no later switch trips on it, and the call fails.
            unlink_back(ts, next);
            return Err(NotSwitched);
        }
        callbacks::schedule_callback(ts, prev, next);
        watchdog::restart_slice(ts);
        ts.set_head(next);
        transfer(ts, prev, next);
        ts.release_deferred();
        Ok(tasklet::claim_tempval(prev))
    }
}

/// A scheduling point while the thread has timers or fd waits or runs
/// `PyStackless_RunUntil`: the timers due fire and, now and then, the fds
/// are polled (the tasklets they wake are appended to the runnables), and
/// once the deadline of `RunUntil` passed its caller runs next, so that
/// the call returns (EXTENSIONS.md §5). Returns the tasklet to switch to
/// (NULL: none runnable).
///
/// # Safety
/// As [`switch_to`].
#[inline(never)]
unsafe fn time_point(ts: Ts, prev: *mut Tasklet, next: *mut Tasklet) -> *mut Tasklet {
    // SAFETY: our own state.
    unsafe {
        if !timers::surely_future(ts.earliest()) {
            timers::fire_due(ts, timers::now());
        }
        if ts.fds().waits() != 0 {
            fds::poll_due(ts);
        }
    }
    let next = if next.is_null() { ts.head() } else { next };
    match ts.until() {
        Some(until)
            if until.deadline.is_some_and(timers::passed)
                && until.watchdog == ts.wakeup_target()
                && until.watchdog != prev
                // SAFETY: a watchdog is a live tasklet of this thread.
                && unsafe { tasklet::state(until.watchdog) }.is(Kind::Paused) =>
        {
            // SAFETY: a paused tasklet of this thread; it runs before
            // `next`, which keeps its place.
            unsafe { revive_before(ts, until.watchdog, next) };
            until.watchdog
        }
        _ => next,
    }
}

/// Links `w`, paused, just before `next` (at the tail when NULL).
///
/// # Safety
/// `w` must be a paused tasklet of `ts`'s thread; `next` NULL or a member
/// of its ring.
unsafe fn revive_before(ts: Ts, w: *mut Tasklet, next: *mut Tasklet) {
    // SAFETY: per the contract; the ring takes a new reference.
    unsafe {
        tasklet::set_state(w, tasklet::state(w).with_kind(Kind::Runnable));
        object::incref(w.cast());
        if next.is_null() {
            ts.link(w);
        } else {
            ts.link_before(next, w);
        }
    }
}

/// Takes a tasklet that could not be switched to out of the ring: it is
/// paused and the ring's reference dropped.
///
/// # Safety
/// `t` must be a started or paused member of `ts`'s ring, not current.
unsafe fn unlink_back(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        ts.unlink(t);
        tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Paused));
        decref(t.cast());
    }
}

/// SPEC §3.3: the tasklet leaving the ring left it empty.
///
/// # Safety
/// `prev` must be the tasklet of `ts`'s thread that is switching away.
unsafe fn block_target(
    ts: Ts,
    prev: *mut Tasklet,
    leaves: *mut PyObject,
) -> Result<*mut Tasklet, NotSwitched> {
    loop {
        catch_up(ts);
        if !ts.head().is_null() {
            return Ok(ts.head());
        }
        let w = ts.wakeup_target();
        // SAFETY: the wake-up target is a live tasklet of this thread.
        let kind = unsafe { tasklet::state(w) }.kind();
        if kind == Kind::Handed {
            continue;
        }
        let floating = kind == Kind::Paused;
        let threadblock = watchdog::threadblock(ts);
        let wait = wait_until(ts, w);
        let revive = if floating && !threadblock && wait.is_none() {
            true
        } else {
            ts.publish_nothing_current();
            if let Some(deadline) = wait {
                // Timers: the thread will wake, never a deadlock.
                ts.shared().park_until(ts.poller(), deadline);
                continue;
            }
            if ts.shared().park(ts.poller()) {
                // Woken: something was handed over, or re-check the deadlock.
                continue;
            }
            floating && ts.shared().is_initial
        };
        if !revive {
            errors::runtime_error(msg::DEADLOCK);
            return Err(NotSwitched);
        }
        // SAFETY: `leaves` is NULL or live; `w` is not blocked.
        unsafe {
            if w != prev && !leaves.is_null() && bomb::check(leaves) {
                tasklet::set_tempval(w, object::new_ref(leaves));
            }
        }
        return Ok(w);
    }
}

/// The first steps of the idle path (DESIGN.md "Time and I/O"): applies
/// what other threads handed over, wakes the waiters of the fds its last
/// sleep found ready, and fires the timers due.
fn catch_up(ts: Ts) {
    // SAFETY: our own state.
    unsafe {
        if ts.shared().pending() {
            threads::drain(ts);
        }
        if ts.poller().has_ready() {
            fds::dispatch(ts);
        }
        if ts.earliest() != i64::MAX {
            timers::fire_due(ts, timers::now());
        }
    }
}

/// How long an idle thread whose wake-up target is `w` may sleep: until
/// its earliest timer (`i64::MAX`: none, but tasklets wait on fds). While
/// it has timers or fd waits, the thread will wake, and the target waits:
/// it sleeps or blocks, or it runs `RunUntil`, whose deadline bounds the
/// sleep. `None`: nothing to wait for.
fn wait_until(ts: Ts, w: *mut Tasklet) -> Option<i64> {
    let earliest = ts.earliest();
    if earliest == i64::MAX && ts.fds().waits() == 0 {
        return None;
    }
    // SAFETY: the wake-up target is a live tasklet of this thread.
    if !unsafe { tasklet::state(w) }.is(Kind::Paused) {
        return Some(earliest);
    }
    // A floating target waits for timers only inside its `RunUntil`, and
    // until the deadline of that.
    let until = ts.until().filter(|u| u.watchdog == w)?;
    match until.deadline {
        None => Some(earliest),
        Some(d) if timers::now() < d => Some(earliest.min(d)),
        Some(_) => None,
    }
}

/// Tasklet death, SPEC §2.5: runs on the dying tasklet's coroutine, picks
/// the next tasklet and leaves it in `ts.target()` for [`run_loop`].
///
/// # Safety
/// `t` is the current tasklet of `ts`'s thread, on its own coroutine.
unsafe fn tasklet_end(ts: Ts, t: *mut Tasklet, result: PyResult<*mut PyObject>) {
    // SAFETY: per the contract; every tasklet touched belongs to this thread.
    unsafe {
        let mut the_bomb = match result {
            Ok(v) => {
                decref(v);
                null_mut()
            }
            Err(Raised) => uncaught_error(ts),
        };
        tasklet::drop_frame(t);
        (*t).recursion_depth.store(0, Ordering::Relaxed);
        if ts.shared().pending() {
            threads::drain(ts);
        }
        // A kill that arrived while it ended: it is dead anyway.
        xdecref(core::mem::replace(&mut (*t).pending_bomb, null_mut()));
        let successor = (*t).ring.next();
        // A scheduling point like any switch (EXTENSIONS.md §5): the timers
        // due fire, and `RunUntil`'s caller may run next.
        let successor = if ts.clock_watch() && the_bomb.is_null() {
            time_point(ts, t, successor)
        } else {
            successor
        };
        let w = ts.wakeup_target();
        let mut next = if !the_bomb.is_null() {
            null_mut()
        } else if successor == t {
            wait_for_wakers(ts, t, w)
        } else {
            successor
        };
        if next.is_null() {
            next = w;
            let was_blocked = tasklet::blocked(w);
            let _ = make_runnable(ts, w);
            if the_bomb.is_null() && was_blocked != 0 && (*w).delivered == Delivery::None {
                errors::runtime_error(if was_blocked < 0 {
                    msg::MAIN_RECEIVING
                } else {
                    msg::MAIN_SENDING
                });
                the_bomb = bomb::from_error().unwrap_or(null_mut());
            }
            if !the_bomb.is_null() {
                xdecref(give_bomb(w, the_bomb, false));
            }
        } else {
            let _ = make_runnable(ts, next);
        }
        if ensure_coroutine(ts, next).is_err() {
            // No stack for `next`: it leaves the ring (paused, not
            // started), and its start fails in the wake-up target.
            unlink_back(ts, next);
            next = w;
            let _ = make_runnable(ts, w);
            xdecref(give_bomb(
                w,
                bomb::from_error().unwrap_or(null_mut()),
                false,
            ));
        }
        // Dead before the callback sees it (SPEC §2.5: steps 2 and 3 come
        // before the switch of step 4).
        ts.unlink(t);
        tasklet::set_state(
            t,
            tasklet::state(t).with_kind(Kind::Idle).with_started(false),
        );
        callbacks::schedule_callback(ts, t, next);
        watchdog::restart_slice(ts);
        ts.set_head(next);
        exchange_context(ts, t, next);
        core::mem::replace(&mut (*t).err, ErrorState::EMPTY).release();
        ts.set_target(next);
    }
}

/// The last runnable tasklet `t` ends: while the wake-up target `w` waits
/// for the thread's timers or fd waits (see [`wait_until`]), the thread
/// sleeps until one of them, or a hand-off, wakes a tasklet. Returns the
/// first tasklet that became runnable, or NULL when there is nothing to
/// wait for.
///
/// # Safety
/// `t` must be the ending tasklet of `ts`'s thread, alone in its ring.
unsafe fn wait_for_wakers(ts: Ts, t: *mut Tasklet, w: *mut Tasklet) -> *mut Tasklet {
    loop {
        catch_up(ts);
        // SAFETY: per the contract, `t` is in the ring.
        let successor = unsafe { (*t).ring.next() };
        if successor != t {
            return successor;
        }
        match wait_until(ts, w) {
            Some(deadline) => ts.shared().park_until(ts.poller(), deadline),
            None => return null_mut(),
        }
    }
}

/// The uncaught exception of a dying tasklet (SPEC §2.5 step 1): silent for
/// TaskletExit, process exit for SystemExit on the initial thread, else the
/// error handler, else a bomb for the wake-up target (returned).
fn uncaught_error(ts: Ts) -> *mut PyObject {
    // SAFETY: the built-in exception classes.
    if unsafe { errors::matches(exceptions::tasklet_exit()) } {
        errors::clear();
        return null_mut();
    }
    // SAFETY: as above.
    if unsafe { errors::matches(exceptions::system_exit()) } {
        if ts.shared().is_initial {
            callbacks::system_exit();
        }
        errors::clear();
        return null_mut();
    }
    if callbacks::call_error_handler(ts).is_ok() {
        return null_mut();
    }
    bomb::from_error().unwrap_or(null_mut())
}
