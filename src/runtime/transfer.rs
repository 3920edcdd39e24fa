//! Send and receive: the transfer algorithm of SPEC §4.2-§4.3, with
//! partners on the same thread or on others, and the channel callback
//! (§5.10).

use super::bomb;
use super::callbacks;
use super::channel::{
    enqueue, lock, requeue_head, unblock_from, unlink_head, unlink_locked, Channel, Guard, Queue,
};
use super::messages as msg;
use super::switch::{self, NotSwitched, Switched};
use super::tasklet::{self, Delivery, Kind, Tasklet};
use super::thread_state::Ts;
use super::threads::HandOff;
use super::timers;
use super::watchdog;
use crate::errors::{self, PyResult, Raised};
use crate::object::{self, decref, long, none, protocol, tuple, PyObject};
use core::ffi::c_int;
use core::ptr::null_mut;
use core::sync::atomic::Ordering;

/// Sends `value` (borrowed; a bomb for exceptions) on `ch` (SPEC §4.2).
///
/// # Safety
/// `ch` must be a channel; `value` live.
pub(crate) unsafe fn send(ch: *mut PyObject, value: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract.
    unsafe { send_until(ch, value, None) }
}

/// Receives from `ch` (SPEC §4.2): the very object sent (new reference).
///
/// # Safety
/// `ch` must be a channel.
pub(crate) unsafe fn receive(ch: *mut PyObject) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract.
    unsafe { receive_until(ch, None) }
}

/// [`send`] that gives up at `deadline` (EXTENSIONS.md §3): a sender that
/// blocks leaves the queue when the deadline passes first and fails with
/// `TimeoutError("timed out")`, as if it had never blocked; with the
/// deadline already passed and no receiver waiting it fails at once.
///
/// # Safety
/// As [`send`].
pub(crate) unsafe fn send_until(
    ch: *mut PyObject,
    value: *mut PyObject,
    deadline: Option<i64>,
) -> PyResult<()> {
    // SAFETY: per the contract.
    unsafe { decref(action(ch.cast(), value, 1, deadline.unwrap_or(NEVER))?) };
    Ok(())
}

/// [`receive`] that gives up at `deadline`, as [`send_until`].
///
/// # Safety
/// As [`receive`].
pub(crate) unsafe fn receive_until(
    ch: *mut PyObject,
    deadline: Option<i64>,
) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract.
    unsafe { action(ch.cast(), null_mut(), -1, deadline.unwrap_or(NEVER)) }
}

/// The deadline of an operation without one: the untimed path passes one
/// integer and tests it once.
const NEVER: i64 = i64::MAX;

/// Whether `deadline` has passed with no partner waiting in direction
/// `dir`: then the operation fails at once, without a switch or a
/// callback, with `TimeoutError("timed out")` set.
///
/// # Safety
/// `ch` must be a live channel.
#[inline(always)]
unsafe fn too_late(ch: *mut Channel, dir: i8, deadline: i64) -> bool {
    // SAFETY: per the contract.
    deadline != NEVER && unsafe { too_late_timed(ch, dir, deadline) }
}

/// [`too_late`] for an operation with a deadline.
///
/// # Safety
/// As [`too_late`].
#[inline(never)]
unsafe fn too_late_timed(ch: *mut Channel, dir: i8, deadline: i64) -> bool {
    let late = timers::passed(deadline) && {
        // SAFETY: per the contract.
        let g = unsafe { lock(ch) };
        !partner_waits(&g, dir)
    };
    if late {
        errors::timed_out();
    }
    late
}

/// Whether a partner waits for an operation in direction `dir`.
fn partner_waits(q: &Queue, dir: i8) -> bool {
    if dir > 0 {
        q.balance < 0
    } else {
        q.balance > 0
    }
}

/// The send/receive algorithm; `dir` is +1 (send) or -1 (receive).
///
/// The operation holds no reference to the channel while the caller is
/// blocked, and touches it no more once a switch happened: a channel whose
/// last reference goes releases its blocked tasklets (SPEC §4.10). The
/// channel's lock is never held across a switch or a callback.
///
/// # Safety
/// `ch` must be a live channel; `value` live when sending.
unsafe fn action(
    ch: *mut Channel,
    value: *mut PyObject,
    dir: i8,
    deadline: i64,
) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract; the caller's reference keeps `ch` alive
    // until a switch happened.
    unsafe {
        super::scheduler::with_main(|ts| {
            if ts.schedlock() && callbacks::has_channel_callable() {
                return Err(errors::runtime_error(msg::RECURSIVE_CHANNEL));
            }
            if too_late(ch, dir, deadline) {
                return Err(Raised);
            }
            let src = ts.head();
            let delivered = if dir > 0 {
                object::new_ref(value)
            } else {
                none::new_none()
            };
            let saved = core::mem::replace(&mut (*src).tempval, delivered);
            // The callback runs before the operation unless the partner is
            // on another thread: then after it (SPEC §4.2 steps 2 and 5).
            let mut callback_after = false;
            if callbacks::has_channel_callable() {
                let g = lock(ch);
                let cando = partner_waits(&g, dir);
                callback_after = cando && !tasklet::is_own(g.head, ts);
                drop(g);
                if !callback_after {
                    channel_callback(ts, ch, src, dir > 0, !cando);
                    // The deadline may have passed while it ran.
                    if too_late(ch, dir, deadline) {
                        tasklet::set_tempval(src, saved);
                        return Err(Raised);
                    }
                }
            }
            let leaves = if dir > 0 { value } else { none::none() };
            let result = transfer(ts, ch, src, dir, leaves, deadline);
            match result {
                Ok(claimed) => {
                    if callback_after {
                        channel_callback(ts, ch, src, dir > 0, false);
                    }
                    object::xdecref(saved);
                    claimed
                }
                Err(NotSwitched) => {
                    tasklet::set_tempval(src, saved);
                    Err(Raised)
                }
            }
        })
    }
}

/// SPEC §4.2 steps 3-4: a rendezvous with the first partner, or the caller
/// blocks. Partners whose thread ended are dropped from the queue on the
/// way (they can never run again).
///
/// # Safety
/// As [`action`]; `src` is the caller, current on `ts`'s thread; `leaves`
/// is what it leaves behind (its value when sending, else None); `deadline`
/// [`NEVER`] for an untimed operation.
unsafe fn transfer(
    ts: Ts,
    ch: *mut Channel,
    src: *mut Tasklet,
    dir: i8,
    leaves: *mut PyObject,
    deadline: i64,
) -> Switched {
    // SAFETY: per the contract.
    unsafe {
        let mut g = lock(ch);
        loop {
            if !partner_waits(&g, dir) {
                return block(ts, g, ch, src, dir, leaves, deadline);
            }
            let tgt = g.head;
            let st = tasklet::state(tgt);
            if ts.is(st.thread()) {
                return rendezvous(ts, g, ch, src, tgt, st, dir);
            }
            let mut inbox = st.thread().lock();
            if inbox.closed() {
                // Its thread is ending: it leaves the queue, and if it is
                // ever resumed its operation fails as its thread's end
                // kills it (it must not seem to have completed).
                let displaced = match bomb::tasklet_exit() {
                    Ok(b) => core::mem::replace(&mut (*tgt).tempval, b),
                    Err(Raised) => {
                        errors::clear();
                        null_mut()
                    }
                };
                unlink_locked(&mut g, tgt, Kind::Paused);
                drop(inbox);
                drop(g);
                // Outside the locks: releasing may run any deallocator.
                object::xdecref(displaced);
                decref(tgt.cast());
                g = lock(ch);
                continue;
            }
            // Another thread's tasklet: handed over, under both locks, so
            // that whoever finds it unblocked finds it in the inbox; no
            // switch here.
            // The values are exchanged while `tgt` is still blocked (its
            // tempval the lock's), before `Handed` publishes them.
            core::mem::swap(&mut (*src).tempval, &mut (*tgt).tempval);
            (*tgt).delivered = Delivery::Remote;
            unlink_head(&mut g, tgt, st, Kind::Handed);
            inbox.push(tgt, HandOff::Ready, true);
            return Ok(tasklet::claim_tempval(src));
        }
    }
}

/// SPEC §4.2 step 3 with a partner `tgt` of the calling thread.
///
/// # Safety
/// As [`transfer`]; `g` locks `ch`, whose head is `tgt`, of state `st`.
unsafe fn rendezvous(
    ts: Ts,
    mut g: Guard,
    ch: *mut Channel,
    src: *mut Tasklet,
    tgt: *mut Tasklet,
    st: tasklet::State,
    dir: i8,
) -> Switched {
    // SAFETY: per the contract; both tasklets are ours, `tgt` leaves the
    // queue under the lock and its reference moves into the ring.
    unsafe {
        unlink_head(&mut g, tgt, st, Kind::Runnable);
        // Its operation completed: a timed one is off its timer at once.
        timers::disarm(ts, tgt);
        core::mem::swap(&mut (*src).tempval, &mut (*tgt).tempval);
        // Both operations completed; either tasklet may be switched out
        // before it claims its result.
        (*tgt).delivered = Delivery::Local;
        (*src).delivered = Delivery::Local;
        let schedule_all = g.schedule_all;
        let preference = c_int::from(g.preference);
        drop(g);
        let switched = if schedule_all {
            ts.link(tgt);
            switch::switch_to(ts, src, (*src).ring.next(), false, null_mut())
        } else if preference == -c_int::from(dir) {
            ts.link_after(src, tgt);
            switch::switch_to(ts, src, tgt, true, null_mut())
        } else {
            ts.link(tgt);
            return Ok(tasklet::claim_tempval(src));
        };
        if switched.is_err() {
            ts.unlink(tgt);
            (*tgt).delivered = Delivery::None;
            (*src).delivered = Delivery::None;
            core::mem::swap(&mut (*src).tempval, &mut (*tgt).tempval);
            let mut g = lock(ch);
            requeue_head(&mut g, ch, tgt, -dir);
        }
        switched
    }
}

/// SPEC §4.2 step 4: no partner; the caller blocks, until `deadline` if
/// it has one (its timer takes it out of the queue if no partner came
/// first, `timers::fire_due`).
///
/// # Safety
/// As [`transfer`]; `g` locks `ch`.
unsafe fn block(
    ts: Ts,
    mut g: Guard,
    ch: *mut Channel,
    src: *mut Tasklet,
    dir: i8,
    leaves: *mut PyObject,
    deadline: i64,
) -> Switched {
    // SAFETY: per the contract.
    unsafe {
        if (*src).block_trap.load(Ordering::Relaxed) {
            drop(g);
            errors::runtime_error(msg::BLOCK_TRAP);
            return Err(NotSwitched);
        }
        if g.closing {
            drop(g);
            errors::value_error(msg::CHANNEL_CLOSED);
            return Err(NotSwitched);
        }
        // `action` found the deadline ahead (a moment ago, or after the
        // callback): one that passes from here on fires its timer at the
        // switch below.
        let timed = deadline != NEVER;
        // The ring's reference moves into the queue; the switch below
        // tells other threads the new current tasklet.
        ts.unlink_current(src);
        enqueue(&mut g, ch, src, dir);
        drop(g);
        if timed {
            timers::arm(ts, src, deadline);
        }
        let switched = switch::switch_to(ts, src, ts.head(), false, leaves);
        if timed {
            timers::disarm(ts, src);
        }
        if switched.is_ok() {
            return switched;
        }
        if unblock_from(ch, src, Kind::Runnable) {
            watchdog::relink_as_current(ts, src);
            return switched;
        }
        // A partner on another thread completed the operation meanwhile:
        // the caller is in this thread's inbox and the call succeeds.
        errors::clear();
        switch::settle(ts, src);
        ts.set_head(src);
        Ok(tasklet::claim_tempval(src))
    }
}

/// Calls the channel callback `(channel, tasklet, sending, willblock)`
/// with `schedlock` set; its errors are reported as unraisable (SPEC §5.10).
///
/// # Safety
/// `ch` must be a live channel, `src` the current tasklet of `ts`.
unsafe fn channel_callback(
    ts: Ts,
    ch: *mut Channel,
    src: *mut Tasklet,
    sending: bool,
    willblock: bool,
) {
    let cb = callbacks::channel_callable();
    if cb.is_null() {
        return;
    }
    ts.set_schedlock(true);
    ts.set_nesting_level(ts.nesting_level() + 1);
    let saved = errors::take();
    // SAFETY: `cb` is a live callable (new reference); `ch` and `src` live.
    let r = unsafe {
        (|| {
            let flags = [
                long::from_i128(sending.into()),
                long::from_i128(willblock.into()),
            ];
            if flags.iter().any(|f| f.is_null()) {
                flags.iter().for_each(|&f| object::xdecref(f));
                return Err(Raised);
            }
            let args = tuple::from_borrowed(&[ch.cast(), src.cast(), flags[0], flags[1]]);
            flags.iter().for_each(|&f| decref(f));
            let args = args?;
            let r = protocol::call(cb, args, null_mut());
            decref(args);
            decref(r?);
            Ok(())
        })()
    };
    if r.is_err() {
        callbacks::write_unraisable(msg::CHANNEL_CALLBACK_ERROR);
    }
    // SAFETY: the saved state owns its references; `src` is live.
    unsafe {
        errors::restore(saved);
        ts.set_nesting_level(ts.nesting_level() - 1);
        ts.set_schedlock(false);
        watchdog::recheck_pending_irq(src);
        decref(cb);
    }
}
