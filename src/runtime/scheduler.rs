//! The Stackless operations on top of the ring and the switch: the main
//! tasklet and the outside (SPEC §7), schedule, setup, insert, remove, run,
//! throw and kill (§5, §8.1), operations on tasklets of other threads
//! (§6.3), deallocation of suspended tasklets (§2.7) and thread death
//! (§6.6, §7.6).

use super::bomb;
use super::channel;
use super::messages as msg;
use super::switch::{self, claim, settle, NotSwitched};
use super::tasklet::{self, Delivery, Kind, Tasklet};
use super::thread_state::Ts;
use super::threads::{self, HandOff};
use super::timers;
use super::watchdog::relink_as_current;
use crate::errors::{self, PyResult, Raised};
use crate::object::{self, decref, none, protocol, tuple, xdecref, PyObject};
use core::ffi::{c_int, c_long};
use core::ptr::null_mut;
use core::sync::atomic::Ordering;

/// Runs `body` as the body of a temporary main tasklet when the thread is
/// outside (SPEC §7.2), else directly. First applies what other threads
/// handed over, and raises a bomb that waits for the current tasklet's
/// next switching call.
///
/// # Safety
/// Runs on the calling thread; `body` gets its handle.
pub(crate) unsafe fn with_main<R>(body: impl FnOnce(Ts) -> PyResult<R>) -> PyResult<R> {
    let ts = Ts::get();
    // SAFETY: our own state and tasklets.
    unsafe {
        if ts.shared().pending() {
            threads::drain(ts);
        }
        ts.release_now();
        if ts.main().is_null() {
            return enter_main(ts, body);
        }
        let cur = ts.head();
        if !(*cur).pending_bomb.is_null() {
            bomb::explode(core::mem::replace(&mut (*cur).pending_bomb, null_mut()));
            return Err(Raised);
        }
    }
    body(ts)
}

/// SPEC §7.3 steps 3-5: makes a main tasklet, runs `body` as main, ends it.
///
/// # Safety
/// The thread is outside.
pub(crate) unsafe fn enter_main<R>(ts: Ts, body: impl FnOnce(Ts) -> PyResult<R>) -> PyResult<R> {
    // SAFETY: the new main is ours; the thread state owns one reference to
    // it and the ring another.
    unsafe {
        let main = tasklet::alloc(tasklet::tasklet_type())?;
        tasklet::set_state(
            main,
            tasklet::state(main)
                .with_kind(Kind::Runnable)
                .with_started(true),
        );
        object::incref(main.cast());
        ts.set_main(main);
        relink_as_current(ts, main);
        super::callbacks::schedule_callback(ts, null_mut(), main);
        let result = body(ts);
        debug_assert!(ts.head() == main);
        ts.unlink(main);
        ts.set_main(null_mut());
        tasklet::set_state(
            main,
            tasklet::state(main)
                .with_kind(Kind::Idle)
                .with_started(false),
        );
        tasklet::set_tempval(main, none::new_none());
        decref(main.cast());
        decref(main.cast());
        result
    }
}

/// `PyStackless_Call_Main` (SPEC §7.3).
///
/// # Safety
/// The pointers are NULL or live.
pub(crate) unsafe fn call_main(
    func: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> PyResult<*mut PyObject> {
    let ts = Ts::get();
    if !ts.main().is_null() {
        return Err(errors::runtime_error(msg::CALL_MAIN_NESTED));
    }
    // SAFETY: per the contract.
    unsafe {
        if func.is_null() || !protocol::is_callable(func) {
            return Err(errors::type_error(msg::CALL_MAIN_NOT_CALLABLE));
        }
        if errors::is_set() {
            return Err(Raised);
        }
        protocol::check_call_args(args, kwds)?;
        enter_main(ts, |_| {
            let args = if args.is_null() {
                tuple::empty()?
            } else {
                object::new_ref(args)
            };
            let r = protocol::call(func, args, kwds);
            decref(args);
            r
        })
    }
}

/// The current tasklet, or NULL when the thread is outside.
pub(crate) fn current() -> *mut Tasklet {
    match Ts::existing() {
        Some(ts) if !ts.main().is_null() => ts.current(),
        _ => null_mut(),
    }
}

/// The main tasklet of the calling thread, or NULL when it is outside.
pub(crate) fn main() -> *mut Tasklet {
    Ts::existing().map_or(null_mut(), |ts| ts.main())
}

/// `PyStackless_GetCurrentId` (SPEC §6.5).
pub(crate) fn current_id() -> c_long {
    let t = current();
    if t.is_null() || t == main() {
        // SAFETY: pthread_self has no preconditions.
        unsafe { libc::pthread_self() as c_long }
    } else {
        t as usize as c_long
    }
}

/// `PyStackless_GetRunCount`: tasklets other threads handed over count
/// (they joined the ring when the hand-over returned, SPEC §6.3).
pub(crate) fn run_count() -> c_int {
    let Some(ts) = Ts::existing() else {
        return 0;
    };
    if ts.shared().pending() {
        // SAFETY: our own state.
        unsafe { threads::drain(ts) };
    }
    ts.runcount()
}

/// `PyStackless_Schedule(retval, remove)` (SPEC §5.1).
///
/// # Safety
/// `retval` NULL or live.
pub(crate) unsafe fn schedule(retval: *mut PyObject, remove: bool) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract.
    unsafe { with_main(|ts| schedule_on(ts, retval, remove)) }
}

/// [`schedule`] on the calling thread's state: inlined into each caller,
/// so that `schedule` keeps one caller and stays inlined into its export.
///
/// # Safety
/// As [`schedule`]; `ts` has a main tasklet.
#[inline(always)]
unsafe fn schedule_on(ts: Ts, retval: *mut PyObject, remove: bool) -> PyResult<*mut PyObject> {
    // SAFETY: every tasklet touched is ours.
    unsafe {
        let prev = ts.head();
        let retval = if retval.is_null() {
            none::none()
        } else {
            retval
        };
        let old = core::mem::replace(&mut (*prev).tempval, object::new_ref(retval));
        let mut next = (*prev).ring.next();
        if remove {
            ts.unlink(prev);
            tasklet::set_state(prev, tasklet::state(prev).with_kind(Kind::Paused));
            ts.defer_release(prev.cast());
            if next == prev {
                next = null_mut();
            }
        }
        match switch::switch_to(ts, prev, next, false, retval) {
            Ok(result) => {
                xdecref(old);
                result
            }
            Err(NotSwitched) => {
                tasklet::set_tempval(prev, old);
                if remove {
                    ts.cancel_release();
                    relink_as_current(ts, prev);
                }
                Err(Raised)
            }
        }
    }
}

/// `PyStackless_SleepUntil` (EXTENSIONS.md §2): the current tasklet leaves
/// the runnables until `deadline` (`None`: until it is killed or thrown
/// to); a deadline that passed is `schedule(None, false)`. While it sleeps
/// its ring's reference is its sleep's, and its timer holds another.
///
/// # Safety
/// Called from C, outside any switch.
pub(crate) unsafe fn sleep_until(deadline: Option<i64>) -> PyResult<()> {
    // SAFETY: every tasklet touched is ours.
    unsafe {
        with_main(|ts| {
            if deadline.is_some_and(timers::passed) {
                return schedule_on(ts, null_mut(), false).map(|r| decref(r));
            }
            sleep(ts, deadline)
        })
    }
}

/// The current tasklet sleeps (state `Sleeping`) until its timer fires at
/// `deadline` (`None`: no timer) or something else wakes it: a kill, a
/// throw, or the fd it waits on (`super::fds`). Fails without sleeping
/// under switch_trap, or when the switch fails.
///
/// # Safety
/// Inside `with_main` on `ts`'s thread, outside any switch.
pub(crate) unsafe fn sleep(ts: Ts, deadline: Option<i64>) -> PyResult<()> {
    if ts.switch_trap() != 0 {
        return Err(errors::runtime_error(msg::SWITCH_TRAP));
    }
    // SAFETY: every tasklet touched is ours.
    unsafe {
        let prev = ts.head();
        let old = core::mem::replace(&mut (*prev).tempval, none::new_none());
        let next = (*prev).ring.next();
        let next = if next == prev { null_mut() } else { next };
        ts.unlink(prev);
        tasklet::set_state(prev, tasklet::state(prev).with_kind(Kind::Sleeping));
        if let Some(d) = deadline {
            timers::arm(ts, prev, d);
        }
        let switched = switch::switch_to(ts, prev, next, false, null_mut());
        timers::disarm(ts, prev);
        match switched {
            Ok(result) => {
                xdecref(old);
                decref(result?);
                Ok(())
            }
            Err(NotSwitched) => {
                tasklet::set_tempval(prev, old);
                if tasklet::state(prev).is(Kind::Sleeping) {
                    relink_as_current(ts, prev);
                } else {
                    // Woken on the way (its timer fired): it is runnable.
                    ts.set_head(prev);
                }
                Err(Raised)
            }
        }
    }
}

/// `PyTasklet_Setup` (SPEC §8.1): the pending call is `tempval(*args,
/// **kwds)`; appended to its thread's ring (another thread's is not woken,
/// §6.3).
///
/// # Safety
/// `t` must be live; `args` NULL or a tuple, `kwds` NULL or live.
pub(crate) unsafe fn setup(
    t: *mut Tasklet,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> PyResult<()> {
    // SAFETY: per the contract, args and kwds are NULL or live.
    unsafe { protocol::check_call_args(args, kwds)? };
    let ts = Ts::get();
    // SAFETY: per the contract. A tasklet that is not alive is touched by
    // no thread but the one whose compare-and-swap makes it alive.
    unsafe {
        loop {
            let s = tasklet::state(t);
            if tasklet::alive(t) {
                return Err(errors::runtime_error(msg::ALIVE));
            }
            let own = ts.is(s.thread());
            let mut inbox = (!own).then(|| s.thread().lock());
            let kind = if own { Kind::Runnable } else { Kind::Handed };
            // Claimed: from here on no other thread touches its fields
            // (the state word says it is alive).
            if !tasklet::replace_state(t, s, s.with_kind(kind).with_started(false)) {
                continue;
            }
            let refused = if !protocol::is_callable((*t).tempval) {
                Some(msg::NOT_BOUND)
            } else if s.thread().ended() {
                Some(msg::NO_THREAD)
            } else if inbox.as_ref().is_some_and(|g| g.closed()) {
                Some(msg::THREAD_UNINITIALIZED)
            } else {
                None
            };
            let args = match refused {
                Some(_) => null_mut(),
                None if args.is_null() => tuple::empty().unwrap_or(null_mut()),
                None => object::new_ref(args),
            };
            if args.is_null() {
                // Back to what it was: nothing changed.
                tasklet::set_state(t, s);
                return Err(refused.map_or(Raised, errors::runtime_error));
            }
            let func = core::mem::replace(&mut (*t).tempval, none::new_none());
            tasklet::drop_frame(t);
            tasklet::set_pending_call(t, func, args, object::xnew_ref(kwds));
            object::incref(t.cast());
            match inbox.as_mut() {
                None => ts.link(t),
                Some(g) => g.push(t, HandOff::Ready, false),
            }
            return Ok(());
        }
    }
}

/// `PyTasklet_Insert` (SPEC §8.1).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn insert(t: *mut Tasklet) -> PyResult<()> {
    let ts = Ts::get();
    if ts.shared().pending() {
        // SAFETY: our own state.
        unsafe { threads::drain(ts) };
    }
    // SAFETY: per the contract.
    unsafe {
        loop {
            let s = tasklet::state(t);
            if s.waits() {
                return Err(errors::runtime_error(msg::RUN_BLOCKED));
            }
            let own = ts.is(s.thread());
            // Its own thread goes by the state word: a removal another
            // thread asked for is not done yet (and is dropped if this
            // insertion overtakes it).
            if (own && s.in_scheduler()) || (!own && tasklet::scheduled(t)) {
                return Ok(());
            }
            if s.thread().ended() || (!own && s.thread().main.load(Ordering::Relaxed).is_null()) {
                return Err(errors::runtime_error(msg::THREAD_UNINITIALIZED));
            }
            if s.is(Kind::Idle) {
                return Err(errors::runtime_error(msg::RUN_DEAD));
            }
            if !own {
                return foreign(t, HandOff::Insert, true, msg::THREAD_UNINITIALIZED);
            }
            if s.is(Kind::Handed) {
                settle(ts, t);
                return Ok(());
            }
            if claim(t, s, Kind::Runnable) {
                object::incref(t.cast());
                ts.link(t);
                return Ok(());
            }
        }
    }
}

/// Hands a request to the thread of `t` (another, live thread); fails with
/// `RuntimeError(dead_message)` when that thread ended meanwhile.
///
/// # Safety
/// `t` must be a live tasklet of another thread.
unsafe fn foreign(t: *mut Tasklet, what: HandOff, wake: bool, dead_message: &str) -> PyResult<()> {
    // SAFETY: per the contract; the hand-off owns a new reference.
    unsafe {
        object::incref(t.cast());
        match threads::request(t, what, wake) {
            Ok(()) => Ok(()),
            Err(what) => {
                threads::drop_hand_off(t, what);
                Err(errors::runtime_error(dead_message))
            }
        }
    }
}

/// `PyTasklet_Remove` (SPEC §8.1).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn remove(t: *mut Tasklet) -> PyResult<()> {
    // SAFETY: per the contract.
    unsafe {
        if !tasklet::has_thread(t) {
            return Ok(());
        }
        if tasklet::state(t).waits() {
            return Err(errors::runtime_error(msg::REMOVE_BLOCKED));
        }
        if tasklet::is_current(t) {
            return Err(errors::runtime_error(msg::REMOVE_CURRENT));
        }
        if !tasklet::scheduled(t) {
            return Ok(());
        }
        let ts = Ts::get();
        if !tasklet::is_own(t, ts) {
            // SPEC §6.3: removed from its own thread's ring, by that thread.
            return foreign(t, HandOff::Remove, false, msg::THREAD_UNINITIALIZED);
        }
        if ts.shared().pending() {
            threads::drain(ts);
        }
        let s = tasklet::state(t);
        if s.is(Kind::Runnable) && t != ts.head() {
            ts.unlink(t);
            tasklet::set_state(t, s.with_kind(Kind::Paused));
            decref(t.cast());
        }
        Ok(())
    }
}

/// `PyTasklet_Run` (`pause_caller` false) and `PyTasklet_Switch` (true).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn run(t: *mut Tasklet, pause_caller: bool) -> PyResult<()> {
    // SAFETY: per the contract; the tasklets switched are ours.
    unsafe {
        with_main(|ts| {
            if !tasklet::has_thread(t) {
                return Err(errors::runtime_error(msg::NO_THREAD));
            }
            let prev = ts.head();
            if t == prev {
                decref(tasklet::claim_tempval(t)?);
                return Ok(());
            }
            let s = tasklet::state(t);
            if s.waits() {
                return Err(errors::runtime_error(msg::RUN_BLOCKED));
            }
            if !ts.is(s.thread()) {
                if pause_caller {
                    return Err(errors::runtime_error(msg::SWITCH_OTHER_THREAD));
                }
                if s.is(Kind::Idle) {
                    return Err(errors::runtime_error(msg::RUN_DEAD));
                }
                // SPEC §6.3: it runs next over there; the caller does not
                // switch.
                return foreign(t, HandOff::RunNext, true, msg::THREAD_UNINITIALIZED);
            }
            if s.is(Kind::Idle) {
                return Err(errors::runtime_error(msg::RUN_DEAD));
            }
            if pause_caller {
                ts.unlink(prev);
                tasklet::set_state(prev, tasklet::state(prev).with_kind(Kind::Paused));
                ts.defer_release(prev.cast());
            }
            match switch::switch_to(ts, prev, t, false, null_mut()) {
                Ok(result) => decref(result?),
                Err(NotSwitched) => {
                    if pause_caller {
                        ts.cancel_release();
                        relink_as_current(ts, prev);
                    }
                    return Err(Raised);
                }
            }
            Ok(())
        })
    }
}

/// SPEC §5.6: raise the bomb (stolen) in `t`, now or when it next runs.
///
/// # Safety
/// `t` must be live; `the_bomb` an owned bomb.
pub(crate) unsafe fn throw_bomb(
    t: *mut Tasklet,
    pending: bool,
    the_bomb: *mut PyObject,
) -> PyResult<()> {
    let mut unused = Some(the_bomb);
    // SAFETY: per the contract.
    let r = unsafe {
        with_main(|ts| {
            unused = None;
            if t == ts.head() {
                bomb::explode(the_bomb);
                return Err(Raised);
            }
            if !tasklet::alive(t) {
                let exit = bomb::is_tasklet_exit(the_bomb);
                decref(the_bomb);
                if exit {
                    unlink_dead(t);
                    return Ok(());
                }
                return Err(errors::runtime_error(if tasklet::has_thread(t) {
                    msg::THROW_DEAD
                } else {
                    msg::NO_THREAD
                }));
            }
            if !tasklet::is_own(t, ts) {
                return throw_foreign(t, the_bomb);
            }
            throw_own(ts, t, pending, the_bomb)
        })
    };
    if let Some(b) = unused {
        // SAFETY: the bomb was never handed on (the call failed before).
        unsafe { decref(b) };
    }
    r
}

/// SPEC §5.6 for a tasklet of the calling thread.
///
/// # Safety
/// `t` must be an alive tasklet of `ts`'s thread, not current.
unsafe fn throw_own(
    ts: Ts,
    t: *mut Tasklet,
    pending: bool,
    the_bomb: *mut PyObject,
) -> PyResult<()> {
    if !pending && ts.switch_trap() != 0 {
        // As the switch would, before anything changes.
        // SAFETY: the bomb is owned.
        unsafe { decref(the_bomb) };
        return Err(errors::runtime_error(msg::SWITCH_TRAP));
    }
    // SAFETY: per the contract.
    unsafe {
        settle(ts, t);
        // A blocked one leaves its queue at once (§4.8); a partner on
        // another thread may have taken it first. A sleeper leaves its
        // timer at once (EXTENSIONS.md §2).
        let unblocked = if tasklet::state(t).is(Kind::Sleeping) {
            timers::wake(ts, t);
            true
        } else if tasklet::blocked(t) != 0 && channel::unblock(t, Kind::Runnable) {
            timers::disarm(ts, t);
            ts.link(t);
            true
        } else {
            false
        };
        settle(ts, t);
        if (*t).delivered == Delivery::Remote {
            // A partner on another thread completed its operation: it gets
            // the value, the exception at its next switching call.
            xdecref(switch::give_bomb(t, the_bomb, true));
            if pending {
                return switch::make_runnable(ts, t)
                    .map(|_| ())
                    .map_err(|NotSwitched| Raised);
            }
            return match switch::switch_to(ts, ts.head(), t, false, null_mut()) {
                Ok(result) => result.map(|v| decref(v)),
                Err(NotSwitched) => Err(Raised),
            };
        }
        let old = core::mem::replace(&mut (*t).tempval, the_bomb);
        (*t).delivered = Delivery::None;
        if pending {
            xdecref(old);
            return switch::make_runnable(ts, t)
                .map(|_| ())
                .map_err(|NotSwitched| Raised);
        }
        match switch::switch_to(ts, ts.head(), t, false, null_mut()) {
            Ok(result) => {
                xdecref(old);
                decref(result?);
                Ok(())
            }
            Err(NotSwitched) => {
                tasklet::set_tempval(t, old);
                if unblocked {
                    ts.unlink(t);
                    tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Paused));
                    decref(t.cast());
                }
                Err(Raised)
            }
        }
    }
}

/// SPEC §5.6, §6.3: a kill or throw to a tasklet of another thread is
/// always pending. A blocked one leaves its queue now; the others get the
/// bomb from their own thread.
///
/// # Safety
/// `t` must be a live tasklet of another thread; `b` an owned bomb.
unsafe fn throw_foreign(t: *mut Tasklet, b: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract.
    unsafe {
        loop {
            let s = tasklet::state(t);
            if s.thread().main.load(Ordering::Relaxed).is_null() || s.thread().ended() {
                decref(b);
                return Err(errors::runtime_error(msg::THREAD_UNINITIALISED));
            }
            match s.kind() {
                Kind::Idle => {
                    decref(b);
                    return Ok(());
                }
                Kind::BlockedSend | Kind::BlockedRecv => match channel::throw_blocked(t, b) {
                    Ok(true) => return Ok(()),
                    Ok(false) => continue,
                    Err(back) => {
                        // Its thread is ending.
                        decref(back);
                        return Err(errors::runtime_error(msg::THREAD_UNINITIALISED));
                    }
                },
                _ => return foreign(t, HandOff::Throw(b), true, msg::THREAD_UNINITIALISED),
            }
        }
    }
}

/// Takes a dead tasklet out of the channel queue that may still hold it
/// (a tasklet of an ended thread).
///
/// # Safety
/// `t` must be live.
unsafe fn unlink_dead(t: *mut Tasklet) {
    // SAFETY: per the contract; a blocked tasklet's state belongs to its
    // channel's lock, which `unblock` takes.
    unsafe {
        if tasklet::blocked(t) != 0 && channel::unblock(t, Kind::Paused) {
            decref(t.cast());
        }
    }
}

/// `PyTasklet_KillEx` (SPEC §8.1).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn kill(t: *mut Tasklet, pending: bool) -> PyResult<()> {
    // SAFETY: per the contract; a threadless tasklet has no owner.
    unsafe {
        if !tasklet::has_thread(t) && tasklet::blocked(t) == 0 {
            tasklet::become_idle(t);
        }
        throw_bomb(t, pending, bomb::tasklet_exit()?)
    }
}
