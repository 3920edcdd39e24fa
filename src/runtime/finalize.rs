//! The end of tasklets and threads: a suspended tasklet whose last
//! reference goes is killed first (SPEC §2.7); a thread that ends kills its
//! started tasklets, drops the rest and ends for the other threads (§6.6,
//! §7.6).

use super::bomb;
use super::messages as msg;
use super::scheduler::{enter_main, kill, run};
use super::switch::{self, settle};
use super::tasklet::{self, Delivery, Kind, Tasklet};
use super::thread_state::Ts;
use super::threads::{self, HandOff};
use crate::errors::{self, PyResult, Raised};
use crate::object::{self, decref};
use core::ptr::null_mut;

/// SPEC §2.7: a tasklet whose last reference goes while it still has C
/// frames on its stack is killed first. Returns whether it may be freed.
///
/// # Safety
/// `t`'s count dropped to zero: nobody else reaches it.
pub(crate) unsafe fn finalize_on_dealloc(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let s = tasklet::state(t);
        if !s.started() {
            return true;
        }
        let thread = s.thread();
        let own = Ts::existing().is_some_and(|ts| ts.is(thread));
        if !thread.ended() && !own {
            // Another thread's tasklet: a single pending kill there, which
            // owns the resurrected reference (SPEC §2.7).
            object::set_refcnt(t.cast(), 1);
            (*t).is_zombie = true;
            let saved = errors::take();
            if let Ok(b) = bomb::tasklet_exit() {
                match threads::request(t, HandOff::Throw(b), true) {
                    Ok(()) => {
                        errors::restore(saved);
                        return false;
                    }
                    Err(what) => threads::drop_hand_off(null_mut(), what),
                }
            }
            errors::clear();
            errors::restore(saved);
        } else if own {
            object::set_refcnt(t.cast(), 1);
            (*t).is_zombie = true;
            let saved = errors::take();
            for _ in 0..10 {
                if (*t).coro.is_none() {
                    break;
                }
                if kill(t, false).is_err() {
                    errors::clear();
                }
            }
            errors::restore(saved);
            if object::decref_in_dealloc(t.cast()) > 0 {
                return false;
            }
            if (*t).coro.is_none() {
                return true;
            }
            // Kept, with its stack, until the thread finalizes.
            object::set_refcnt(t.cast(), 1);
            if let Some(ts) = Ts::existing() {
                ts.keep_uncollectable(t);
            }
            return false;
        }
        threads::count_uncollectable();
        false
    }
}

/// `PyStackless_Finalize` (SPEC §7.6): kills the started tasklets of the
/// calling thread, longest-suspended first, drops the rest, ends the
/// thread for the others and releases its scheduler state.
///
/// # Safety
/// Runs on the calling thread, outside.
pub(crate) unsafe fn finalize() -> PyResult<()> {
    let Some(ts) = Ts::existing() else {
        return Ok(());
    };
    if !ts.main().is_null() {
        return Err(errors::runtime_error(msg::FINALIZE_INSIDE));
    }
    // SAFETY: our own state and tasklets.
    unsafe {
        // Nothing is handed over from now on (a partner drops our blocked
        // tasklets from its channel rather than hand them a value); what
        // was handed over until now is applied.
        for (t, what) in ts.shared().close() {
            threads::apply(ts, t, what);
        }
        if !ts.started().is_empty() {
            enter_main(ts, |ts| {
                let mut victims = ts.started();
                victims.sort_by_key(|&t| (*t).switched_out_at);
                victims.retain(|&t| object::try_incref(t.cast()));
                drop_runnables(ts);
                for &t in &victims {
                    if (*t).coro.is_some() {
                        kill_at_exit(ts, t);
                    }
                    decref(t.cast());
                }
                for t in ts.take_uncollectable() {
                    decref(t.cast());
                }
                Ok(())
            })?;
        }
        // Its tasklets are threadless from here on.
        ts.shared().end();
        while !ts.head().is_null() {
            let t = ts.head();
            ts.unlink(t);
            tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Paused));
            decref(t.cast());
        }
        // A tasklet that survived its kill and waits on a timer again:
        // off the timer and paused, like the runnables above; a timed
        // channel operation stays in its queue (the channel drops it).
        while let Some(t) = ts.timers_pop_due(i64::MAX) {
            if tasklet::state(t).is(Kind::Sleeping) {
                tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Paused));
                // The sleep's reference.
                ts.release_later(t.cast());
            }
            // The timer's.
            ts.release_later(t.cast());
        }
        // One that waits on an fd again: paused, its sleep's reference
        // released.
        for t in ts.fds().abandon(ts) {
            ts.release_later(t.cast());
        }
        for w in ts.take_watchdogs() {
            decref(w.cast());
        }
        ts.release_now();
        threads::retire(ts.shared());
        ts.free();
    }
    Ok(())
}

/// Kills a started tasklet when its thread ends: like `Kill`, except that
/// a tasklet holding a value a channel delivered gets it first (no message
/// is lost) and dies at its next switching call.
///
/// # Safety
/// `t` must be a started tasklet of `ts`'s thread; the caller is main.
unsafe fn kill_at_exit(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        settle(ts, t);
        let r = if (*t).delivered != Delivery::None {
            match bomb::tasklet_exit() {
                Ok(b) => {
                    object::xdecref(switch::give_bomb(t, b, true));
                    run(t, false)
                }
                Err(Raised) => Err(Raised),
            }
        } else {
            kill(t, false)
        };
        if r.is_err() {
            errors::clear();
        }
    }
}

/// Takes every tasklet but the current one out of the ring and drops the
/// ring's references: not-started tasklets go without running, and killing
/// a runnable one runs nothing else (SPEC §7.6).
///
/// # Safety
/// `ts` is the calling thread's state, inside.
unsafe fn drop_runnables(ts: Ts) {
    let cur = ts.head();
    // SAFETY: ring members are live tasklets of this thread.
    unsafe {
        loop {
            let t = (*cur).ring.next();
            if t == cur {
                return;
            }
            ts.unlink(t);
            tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Paused));
            decref(t.cast());
        }
    }
}
