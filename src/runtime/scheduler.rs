//! The per-thread scheduler: the runnables ring, the generic switch of SPEC
//! §3 with its trampoline, tasklet death (§2.5), schedule/run/switch/kill
//! (§5), the watchdog and ticks (§5.2-§5.3, §9.2), the callbacks (§5.9), the
//! main tasklet and the "outside" (§7).
//!
//! Switching: every tasklet but main runs on its own corosensei coroutine;
//! main runs on the thread's native stack. corosensei is asymmetric, so a
//! switch between two tasklets goes through `run_loop`, which runs on main's
//! stack inside main's pending switching call: the leaving tasklet suspends
//! to the loop and the loop resumes the next one. When the next one is main
//! the loop returns and main's call goes on.
//!
//! Functions taking `*mut ThreadState` require the calling thread's own
//! state; pointer invariants are those of `tasklet`.

use super::messages as msg;
use super::stack::{self, StackPool};
use super::tasklet::{self, bomb, Frame, Tasklet, TaskletCoroutine};
use super::threads::{self, HandOff, Inbox};
use crate::errors::{self, ErrorState, PyResult, Raised};
use crate::object::{self, decref, exceptions, none, protocol, tuple, xdecref, PyObject};
use core::cell::Cell;
use core::ffi::{c_int, c_long, c_ulong};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use corosensei::{Coroutine, CoroutineResult, Yielder};
use parking_lot::Mutex;

/// Thread may sleep instead of reviving the watchdog (SPEC §3.3).
pub const Py_WATCHDOG_THREADBLOCK: c_int = 1;
/// Soft interrupts: `run()` returns None at the next switch.
pub const PY_WATCHDOG_SOFT: c_int = 2;
/// Interrupts at any nesting level.
pub const PY_WATCHDOG_IGNORE_NESTING: c_int = 4;
/// The timeout counts all ticks since `run()` started.
pub const PY_WATCHDOG_TOTALTIMEOUT: c_int = 8;

/// The scheduler state of one OS thread (Stackless's TS).
pub(crate) struct ThreadState {
    pub thread_id: c_ulong,
    pub is_initial: bool,
    pub dead: bool,
    pub main: *mut Tasklet,
    /// Head of the ring (the current tasklet while a main exists).
    pub current: *mut Tasklet,
    /// Head of the ring while a schedule callback runs with `current` set
    /// to a `prev` that already left the ring (SPEC §5.9), else NULL.
    callback_head: *mut Tasklet,
    pub runcount: c_int,
    /// The tasklet `run_loop` resumes next.
    target: *mut Tasklet,
    /// A reference dropped on behalf of the tasklet resumed next (§2.7).
    deferred: *mut PyObject,
    /// Tasklets inside `run()`, innermost last (owned references).
    pub watchdogs: Vec<*mut Tasklet>,
    /// Slot 0: the tasklet whose timed `run()` owns the timer (owned).
    interrupt_watchdog: *mut Tasklet,
    /// The tasklet a hard interrupt took the CPU from (owned).
    interrupted: *mut Tasklet,
    timer: TimerSettings,
    ticks: c_long,
    pub nesting_level: c_int,
    pub switch_trap: c_int,
    pub schedlock: bool,
    stacks: StackPool,
    /// Started tasklets with a live coroutine (not main).
    started: Vec<*mut Tasklet>,
    /// Freed tasklet objects kept for reuse (memory only).
    pub tasklet_cache: Vec<*mut PyObject>,
    /// Tasklets other threads handed to this one (the only shared part).
    pub inbox: Inbox,
    /// A bomb another thread threw at the running tasklet: raised at its
    /// next switching call (SPEC §10, source bug 7).
    current_bomb: *mut PyObject,
    switch_count: u64,
}

/// What a timed `run()` installs and restores.
#[derive(Clone, Copy, Default)]
struct TimerSettings {
    active: bool,
    runflags: c_int,
    watermark: c_long,
    interval: c_long,
}

thread_local! {
    static TS: Cell<*mut ThreadState> = const { Cell::new(null_mut()) };
}

/// The calling thread's scheduler state, created on first use.
pub(crate) fn thread_state() -> *mut ThreadState {
    let ts = TS.with(Cell::get);
    if ts.is_null() {
        new_thread_state()
    } else {
        ts
    }
}

/// The calling thread's scheduler state if it has one.
pub(crate) fn existing_thread_state() -> *mut ThreadState {
    TS.with(Cell::get)
}

#[cold]
fn new_thread_state() -> *mut ThreadState {
    // SAFETY: pthread_self has no preconditions.
    let thread_id = unsafe { libc::pthread_self() } as c_ulong;
    let ts = Box::into_raw(Box::new(ThreadState {
        thread_id,
        is_initial: threads::claim_initial(thread_id),
        dead: false,
        main: null_mut(),
        current: null_mut(),
        callback_head: null_mut(),
        runcount: 0,
        target: null_mut(),
        deferred: null_mut(),
        watchdogs: Vec::new(),
        interrupt_watchdog: null_mut(),
        interrupted: null_mut(),
        timer: TimerSettings::default(),
        ticks: 0,
        nesting_level: 0,
        switch_trap: 0,
        schedlock: false,
        stacks: StackPool::default(),
        started: Vec::new(),
        tasklet_cache: Vec::new(),
        inbox: Inbox::new(),
        current_bomb: null_mut(),
        switch_count: 0,
    }));
    threads::register(thread_id, ts);
    TS.with(|c| c.set(ts));
    // Registers the thread-exit destructor (SPEC §6.6).
    EXIT_GUARD.with(|_| ());
    ts
}

/// Its destructor runs when the thread ends: the thread's tasklets are
/// killed or unbound as `PyStackless_Finalize` does.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        // SAFETY: runs on the ending thread, outside any switch.
        unsafe {
            if !existing_thread_state().is_null() {
                let _ = finalize();
                errors::clear();
            }
        }
    }
}

thread_local! {
    static EXIT_GUARD: ExitGuard = const { ExitGuard };
}

/// Applies what other threads handed over: the tasklets join the ring
/// (`RunNext` right after the current one), bombs go into tempvals.
/// `running` is the tasklet on whose behalf the drain runs (NULL: none);
/// a bomb for it is kept for its current call.
pub(crate) unsafe fn drain_inbox(ts: *mut ThreadState, running: *mut Tasklet) {
    apply_hand_offs(ts, (*ts).inbox.take(), running);
}

unsafe fn apply_hand_offs(
    ts: *mut ThreadState,
    items: Vec<(*mut Tasklet, HandOff)>,
    running: *mut Tasklet,
) {
    for (t, what) in items {
        if matches!(what, HandOff::Remove) {
            (*t).remove_pending.store(false, Ordering::Relaxed);
            // The current tasklet stays: it cannot be removed (SPEC §8.1).
            if !(*t).next.is_null() && (*t).blocked == 0 && t != (*ts).current {
                ring_unlink(ts, t);
                decref(t.cast());
            }
            decref(t.cast());
            continue;
        }
        (*t).in_inbox.store(false, Ordering::Relaxed);
        let run_next = matches!(what, HandOff::RunNext);
        if let HandOff::Throw(b) = what {
            if t == running {
                xdecref(core::mem::replace(&mut (*ts).current_bomb, b));
                decref(t.cast());
                continue;
            }
            tasklet::set_tempval(t, b);
        }
        if (*t).blocked != 0 {
            // Only a throw unblocks: an insert can only find the tasklet
            // blocked if it ran (and blocked again) since the insert was
            // handed over, so the insert is stale. For a throw, the queue's
            // reference moves into the ring; if a partner took the tasklet
            // first, it comes again with the partner's hand-over.
            if matches!(what, HandOff::Throw(_)) && super::channel::unblock(t) {
                ring_link(ts, t);
            }
            decref(t.cast());
        } else if (*t).next.is_null() && (*t).frame != Frame::None && tasklet::has_thread(t) {
            if run_next && !(*ts).current.is_null() {
                link_after(ts, (*ts).current, t);
            } else {
                ring_link(ts, t);
            }
        } else {
            decref(t.cast());
        }
    }
}

/// Hands `t` (a tasklet of another thread; the caller's reference moves)
/// to its thread. Fails with "Target thread isn't initialized" when that
/// thread ended.
pub(crate) unsafe fn hand_over(
    t: *mut Tasklet,
    what: HandOff,
    wake: bool,
    dead_message: &str,
) -> PyResult<()> {
    match (*(*t).ts).inbox.push(t, what, wake) {
        Ok(()) => Ok(()),
        Err(what) => {
            threads::drop_hand_off(t, what);
            Err(errors::runtime_error(dead_message))
        }
    }
}

// ---- The ring ---------------------------------------------------------

/// Links `t` just before `at` (at the tail when `at` is the head).
unsafe fn link_before(ts: *mut ThreadState, at: *mut Tasklet, t: *mut Tasklet) {
    if at.is_null() {
        (*t).next = t;
        (*t).prev = t;
        (*ts).current = t;
    } else {
        (*t).next = at;
        (*t).prev = (*at).prev;
        (*(*at).prev).next = t;
        (*at).prev = t;
    }
    (*ts).runcount += 1;
}

/// Appends `t` at the tail of the ring, moving a reference the caller owns
/// into the ring.
pub(crate) unsafe fn ring_link(ts: *mut ThreadState, t: *mut Tasklet) {
    let head = if (*ts).callback_head.is_null() {
        (*ts).current
    } else {
        (*ts).callback_head
    };
    link_before(ts, head, t);
}

/// Unlinks `t` from its thread's ring; the ring's reference passes to the
/// caller. Removing the head makes its successor the head.
pub(crate) unsafe fn ring_unlink(ts: *mut ThreadState, t: *mut Tasklet) {
    if (*t).next == t {
        (*ts).current = null_mut();
    } else {
        (*(*t).prev).next = (*t).next;
        (*(*t).next).prev = (*t).prev;
        if (*ts).current == t {
            (*ts).current = (*t).next;
        }
    }
    (*t).next = null_mut();
    (*t).prev = null_mut();
    (*ts).runcount -= 1;
}

/// Links `t` right after `at` (moving the caller's reference into the ring).
pub(crate) unsafe fn link_after(ts: *mut ThreadState, at: *mut Tasklet, t: *mut Tasklet) {
    link_before(ts, (*at).next, t);
}

/// Puts the caller back as the head of the ring after a failed switch
/// (moving the caller's reference back into the ring).
pub(crate) unsafe fn relink_as_current(ts: *mut ThreadState, t: *mut Tasklet) {
    ring_link(ts, t);
    (*ts).current = t;
}

/// Makes a floating or blocked tasklet runnable: appended at the tail.
/// Returns whether it had to be linked.
#[inline(always)]
unsafe fn make_runnable(ts: *mut ThreadState, t: *mut Tasklet) -> bool {
    if !(*t).next.is_null() {
        // In the ring already (a queue link implies `blocked`).
        return (*t).blocked != 0 && link_runnable(ts, t);
    }
    link_runnable(ts, t)
}

#[inline(never)]
unsafe fn link_runnable(ts: *mut ThreadState, t: *mut Tasklet) -> bool {
    if (*t).blocked != 0 && super::channel::unblock(t) {
        ring_link(ts, t);
        true
    } else if (*t).in_inbox.load(Ordering::Relaxed) || (*t).blocked != 0 {
        // Another thread completed its channel operation: it is (about to
        // be) in this thread's inbox.
        while (*t).next.is_null() {
            drain_inbox(ts, null_mut());
        }
        true
    } else if (*t).next.is_null() {
        object::incref(t.cast());
        ring_link(ts, t);
        true
    } else {
        false
    }
}

/// The innermost watchdog, else main.
pub(crate) unsafe fn wakeup_target(ts: *mut ThreadState) -> *mut Tasklet {
    (*ts).watchdogs.last().copied().unwrap_or((*ts).main)
}

/// Hands a reference to be dropped by the tasklet resumed next.
unsafe fn defer_release(ts: *mut ThreadState, op: *mut PyObject) {
    debug_assert!((*ts).deferred.is_null());
    (*ts).deferred = op;
}

/// Takes back a deferred reference after a switch that did not happen.
unsafe fn cancel_release(ts: *mut ThreadState) -> *mut PyObject {
    core::mem::replace(&mut (*ts).deferred, null_mut())
}

/// Drops the deferred reference, right after a tasklet resumed.
unsafe fn release_deferred(ts: *mut ThreadState) {
    let op = cancel_release(ts);
    xdecref(op);
}

// ---- Switching ----------------------------------------------------------

/// A switching call failed before any switch: nothing changed, the caller
/// undoes its own preparations. The exception is set.
#[derive(Debug)]
pub(crate) struct NotSwitched;

/// The outcome of a switch: `Err(NotSwitched)` when it could not happen,
/// else the value the caller claimed when it was resumed.
pub(crate) type Switched = Result<PyResult<*mut PyObject>, NotSwitched>;

/// Saves the context of `prev` (leaving) and installs that of `next`
/// (resuming): error indicator, recursion depth, nesting level.
unsafe fn exchange_context(ts: *mut ThreadState, prev: *mut Tasklet, next: *mut Tasklet) {
    let err = core::mem::replace(&mut (*next).err, ErrorState::EMPTY);
    errors::exchange_context(
        &mut (*prev).err,
        &mut (*prev).recursion_depth,
        err,
        (*next).recursion_depth,
    );
    (*prev).nesting_level = (*ts).nesting_level;
    (*ts).nesting_level = (*next).nesting_level;
    (*ts).switch_count += 1;
    (*prev).switched_out_at = (*ts).switch_count;
}

/// Moves the CPU from `prev` (current, running) to `next` and returns when
/// `prev` is resumed.
unsafe fn transfer(ts: *mut ThreadState, prev: *mut Tasklet, next: *mut Tasklet) {
    exchange_context(ts, prev, next);
    (*ts).target = next;
    if (*prev).yielder.is_null() {
        run_loop(ts);
    } else {
        // SAFETY: `prev` runs on its coroutine, whose yielder lives as long
        // as the coroutine's stack.
        (*(*prev).yielder).suspend(());
    }
}

/// The trampoline, on main's stack: resumes `ts.target` until it is main.
unsafe fn run_loop(ts: *mut ThreadState) {
    loop {
        let t = (*ts).target;
        if t == (*ts).main {
            return;
        }
        let Some(coro) = (*t).coro.as_mut() else {
            unreachable!("switched to a tasklet without a coroutine")
        };
        // While it runs, nothing but this loop touches a tasklet's coroutine.
        match coro.resume(()) {
            CoroutineResult::Yield(()) => {
                if !(*t).red_zone.is_null() && !stack::red_zone_intact((*t).red_zone) {
                    fatal(msg::STACK_OVERFLOW);
                }
            }
            CoroutineResult::Return(()) => {
                let coro = (*t).coro.take().unwrap();
                (*ts).stacks.give(coro.into_stack());
                retire_started(ts, t);
                (*t).yielder = core::ptr::null();
                // The ring's reference to the dead tasklet.
                decref(t.cast());
            }
        }
    }
}

/// Creates the coroutine of a tasklet about to start.
#[inline(always)]
unsafe fn ensure_coroutine(ts: *mut ThreadState, t: *mut Tasklet) -> PyResult<()> {
    if (*t).coro.is_some() || t == (*ts).main {
        return Ok(());
    }
    create_coroutine(ts, t)
}

#[inline(never)]
unsafe fn create_coroutine(ts: *mut ThreadState, t: *mut Tasklet) -> PyResult<()> {
    let Some(stack) = (*ts).stacks.take() else {
        return Err(errors::no_memory());
    };
    (*t).red_zone = stack.red_zone();
    let coro: TaskletCoroutine = Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
        // SAFETY: `t` stays alive while it runs: its ring holds a reference.
        unsafe { tasklet_body(t, y) }
    });
    (*t).coro = Some(coro);
    (*t).frame = Frame::Started;
    (*t).started_index = (*ts).started.len();
    (*ts).started.push(t);
    Ok(())
}

unsafe fn retire_started(ts: *mut ThreadState, t: *mut Tasklet) {
    let i = (*t).started_index;
    let list = &mut (*ts).started;
    list.swap_remove(i);
    if let Some(&moved) = list.get(i) {
        (*moved).started_index = i;
    }
    (*t).started_index = usize::MAX;
}

/// The body of every tasklet's coroutine.
unsafe fn tasklet_body(t: *mut Tasklet, yielder: &Yielder<(), ()>) {
    (*t).yielder = yielder;
    let ts = (*t).ts;
    release_deferred(ts);
    let result = match tasklet::claim_tempval(t) {
        Err(Raised) => Err(Raised),
        Ok(v) => {
            decref(v);
            call_pending(t)
        }
    };
    tasklet_end(ts, t, result);
}

/// Calls the tasklet's pending `func(*args, **kwds)` (SPEC §9.11).
unsafe fn call_pending(t: *mut Tasklet) -> PyResult<*mut PyObject> {
    let func = core::mem::replace(&mut (*t).func, null_mut());
    let args = core::mem::replace(&mut (*t).args, null_mut());
    let kwds = core::mem::replace(&mut (*t).kwds, null_mut());
    let result = protocol::call(func, args, kwds);
    decref(func);
    decref(args);
    xdecref(kwds);
    result
}

/// The generic switch of SPEC §3.2 from the current tasklet `prev` to
/// `next` (NULL: nothing runnable, §3.3). `no_soft_irq` marks the
/// preference-driven rendezvous of §4.2.
pub(crate) unsafe fn switch_to(
    ts: *mut ThreadState,
    prev: *mut Tasklet,
    next: *mut Tasklet,
    no_soft_irq: bool,
) -> Switched {
    if (*ts).schedlock {
        fatal(msg::RECURSIVE_SCHEDULE);
    }
    let mut next = if next.is_null() {
        block_target(ts, prev)?
    } else {
        next
    };
    if (*ts).switch_trap != 0 && prev != next {
        errors::runtime_error(msg::SWITCH_TRAP);
        return Err(NotSwitched);
    }
    let linked = make_runnable(ts, next);
    if (*prev).pending_irq && prev != next {
        next = soft_interrupt(ts, prev, next, no_soft_irq);
    }
    if prev == next {
        release_deferred(ts);
        return Ok(tasklet::claim_tempval(prev));
    }
    if ensure_coroutine(ts, next).is_err() {
        if linked {
            ring_unlink(ts, next);
            decref(next.cast());
        }
        return Err(NotSwitched);
    }
    schedule_callback(ts, prev, next);
    restart_slice(ts);
    (*ts).current = next;
    transfer(ts, prev, next);
    release_deferred(ts);
    Ok(tasklet::claim_tempval(prev))
}

/// SPEC §3.3: the tasklet leaving the ring left it empty.
unsafe fn block_target(
    ts: *mut ThreadState,
    prev: *mut Tasklet,
) -> Result<*mut Tasklet, NotSwitched> {
    loop {
        if (*ts).inbox.pending() {
            drain_inbox(ts, null_mut());
        }
        if !(*ts).current.is_null() {
            return Ok((*ts).current);
        }
        let w = wakeup_target(ts);
        let floating = (*w).next.is_null() && (*w).blocked == 0;
        let threadblock = (*ts).timer.active && (*ts).timer.runflags & Py_WATCHDOG_THREADBLOCK != 0;
        let revive = if floating && !threadblock {
            true
        } else if threads::sleep(ts) {
            // Woken: something was handed over, or re-check the deadlock.
            continue;
        } else {
            floating && (*ts).is_initial
        };
        if !revive {
            errors::runtime_error(msg::DEADLOCK);
            return Err(NotSwitched);
        }
        if w != prev && bomb::check((*prev).tempval) {
            tasklet::set_tempval(w, object::new_ref((*prev).tempval));
        }
        return Ok(w);
    }
}

fn nesting_ok(ts: *mut ThreadState, t: *mut Tasklet) -> bool {
    // SAFETY: both are live per the module's invariants.
    unsafe {
        (*ts).nesting_level == 0
            || (*t).ignore_nesting
            || (*ts).timer.runflags & PY_WATCHDOG_IGNORE_NESTING != 0
    }
}

/// SPEC §5.3 soft interrupt, taken at the switch `prev -> next`; the
/// switch consumes `prev`'s pending flag whether or not it is taken.
unsafe fn soft_interrupt(
    ts: *mut ThreadState,
    prev: *mut Tasklet,
    next: *mut Tasklet,
    no_soft_irq: bool,
) -> *mut Tasklet {
    if !(*ts).timer.active || (*ts).timer.runflags & PY_WATCHDOG_SOFT == 0 {
        return next;
    }
    (*prev).pending_irq = false;
    let w = interrupt_target(ts);
    if !(*w).next.is_null() || (*w).blocked != 0 || w == prev || w == next {
        return next;
    }
    if no_soft_irq || !nesting_ok(ts, prev) {
        (*next).pending_irq = true;
        return next;
    }
    object::incref(w.cast());
    link_before(ts, next, w);
    w
}

unsafe fn interrupt_target(ts: *mut ThreadState) -> *mut Tasklet {
    if (*ts).interrupt_watchdog.is_null() {
        (*ts).main
    } else {
        (*ts).interrupt_watchdog
    }
}

unsafe fn restart_slice(ts: *mut ThreadState) {
    if (*ts).timer.runflags & PY_WATCHDOG_TOTALTIMEOUT == 0 {
        (*ts).timer.watermark = (*ts).ticks + (*ts).timer.interval;
    }
}

#[cold]
fn fatal(message: &str) -> ! {
    eprintln!("Fatal error in libstackless: {message}");
    std::process::abort();
}

/// Tasklet death, SPEC §2.5: runs on the dying tasklet's coroutine, picks
/// the next tasklet and leaves it in `ts.target` for `run_loop`.
unsafe fn tasklet_end(ts: *mut ThreadState, t: *mut Tasklet, result: PyResult<*mut PyObject>) {
    let mut pending_bomb = match result {
        Ok(v) => {
            decref(v);
            null_mut()
        }
        Err(Raised) => uncaught_error(ts),
    };
    tasklet::drop_frame(t);
    (*t).recursion_depth = 0;
    if (*ts).inbox.pending() {
        drain_inbox(ts, null_mut());
    }
    let successor = if (*t).next == t {
        null_mut()
    } else {
        (*t).next
    };
    let w = wakeup_target(ts);
    let mut next = successor;
    if next.is_null() {
        next = w;
        if (*w).blocked != 0 && pending_bomb.is_null() {
            let text = if (*w).blocked < 0 {
                msg::MAIN_RECEIVING
            } else {
                msg::MAIN_SENDING
            };
            errors::runtime_error(text);
            pending_bomb = bomb::from_error().unwrap_or(null_mut());
        }
    }
    if !pending_bomb.is_null() {
        next = w;
        tasklet::set_tempval(w, pending_bomb);
    }
    make_runnable(ts, next);
    if ensure_coroutine(ts, next).is_err() {
        // No stack for `next`: its start fails in the wake-up target.
        next = w;
        make_runnable(ts, w);
        tasklet::set_tempval(w, bomb::from_error().unwrap_or(null_mut()));
    }
    schedule_callback(ts, t, next);
    ring_unlink(ts, t);
    restart_slice(ts);
    (*ts).current = next;
    exchange_context(ts, t, next);
    core::mem::replace(&mut (*t).err, ErrorState::EMPTY).release();
    (*ts).target = next;
}

/// The uncaught exception of a dying tasklet (SPEC §2.5 step 1): silent for
/// TaskletExit, process exit for SystemExit on the initial thread, else the
/// error handler, else a bomb for the wake-up target (returned).
unsafe fn uncaught_error(ts: *mut ThreadState) -> *mut PyObject {
    if errors::matches(exceptions::tasklet_exit()) {
        errors::clear();
        return null_mut();
    }
    if errors::matches(exceptions::system_exit()) {
        if (*ts).is_initial {
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

// ---- Main, inside and outside ---------------------------------------------

/// Runs `body` as the body of a temporary main tasklet when the thread is
/// outside (SPEC §7.2), else directly.
pub(crate) unsafe fn with_main<R>(
    body: impl FnOnce(*mut ThreadState) -> PyResult<R>,
) -> PyResult<R> {
    let ts = thread_state();
    if (*ts).inbox.pending() {
        drain_inbox(ts, (*ts).current);
    }
    if !(*ts).main.is_null() {
        let b = core::mem::replace(&mut (*ts).current_bomb, null_mut());
        if !b.is_null() {
            bomb::explode(b);
            return Err(Raised);
        }
        return body(ts);
    }
    enter_main(ts, body)
}

/// SPEC §7.3 steps 3-5: makes a main tasklet, runs `body` as main, ends it.
unsafe fn enter_main<R>(
    ts: *mut ThreadState,
    body: impl FnOnce(*mut ThreadState) -> PyResult<R>,
) -> PyResult<R> {
    let main = tasklet::alloc(tasklet::tasklet_type())?;
    (*main).frame = Frame::Started;
    (*ts).main = main;
    object::incref(main.cast());
    relink_as_current(ts, main);
    schedule_callback(ts, null_mut(), main);
    let result = body(ts);
    debug_assert!((*ts).current == main);
    ring_unlink(ts, main);
    (*ts).main = null_mut();
    (*main).frame = Frame::None;
    tasklet::set_tempval(main, none::new_none());
    decref(main.cast());
    decref(main.cast());
    result
}

/// `PyStackless_Call_Main` (SPEC §7.3).
pub(crate) unsafe fn call_main(
    func: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> PyResult<*mut PyObject> {
    let ts = thread_state();
    if !(*ts).main.is_null() {
        return Err(errors::runtime_error(msg::CALL_MAIN_NESTED));
    }
    if func.is_null() || !protocol::is_callable(func) {
        return Err(errors::type_error(msg::CALL_MAIN_NOT_CALLABLE));
    }
    if errors::is_set() {
        return Err(Raised);
    }
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

/// The current tasklet, or NULL when the thread is outside.
pub(crate) fn current() -> *mut Tasklet {
    let ts = existing_thread_state();
    // SAFETY: the calling thread's own state.
    if ts.is_null() || unsafe { (*ts).main.is_null() } {
        null_mut()
    } else {
        // SAFETY: as above.
        unsafe { (*ts).current }
    }
}

/// `PyStackless_GetCurrentId` (SPEC §6.5).
pub(crate) fn current_id() -> c_long {
    let t = current();
    // SAFETY: a non-NULL current means the calling thread's state exists.
    if t.is_null() || unsafe { (*(*t).ts).main == t } {
        // SAFETY: pthread_self has no preconditions.
        unsafe { libc::pthread_self() as c_long }
    } else {
        t as usize as c_long
    }
}

/// `PyStackless_GetRunCount`: tasklets other threads handed over count
/// (they joined the ring when the hand-over returned, SPEC §6.3).
pub(crate) fn run_count() -> c_int {
    let ts = existing_thread_state();
    if ts.is_null() {
        return 0;
    }
    // SAFETY: the calling thread's own state.
    unsafe {
        if (*ts).inbox.pending() {
            drain_inbox(ts, null_mut());
        }
        (*ts).runcount
    }
}

// ---- Operations of SPEC §5 and §8.1 ----------------------------------------

/// `PyStackless_Schedule(retval, remove)` (SPEC §5.1).
pub(crate) unsafe fn schedule(retval: *mut PyObject, remove: bool) -> PyResult<*mut PyObject> {
    with_main(|ts| {
        let prev = (*ts).current;
        let retval = if retval.is_null() {
            none::none()
        } else {
            retval
        };
        let old = core::mem::replace(&mut (*prev).tempval, object::new_ref(retval));
        let mut next = (*prev).next;
        if remove {
            ring_unlink(ts, prev);
            defer_release(ts, prev.cast());
            if next == prev {
                next = null_mut();
            }
        }
        match switch_to(ts, prev, next, false) {
            Ok(result) => {
                xdecref(old);
                result
            }
            Err(NotSwitched) => {
                tasklet::set_tempval(prev, old);
                if remove {
                    cancel_release(ts);
                    relink_as_current(ts, prev);
                }
                Err(Raised)
            }
        }
    })
}

/// `PyTasklet_Setup` (SPEC §8.1): the pending call is `tempval(*args,
/// **kwds)`; appended to its thread's ring.
pub(crate) unsafe fn setup(
    t: *mut Tasklet,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> PyResult<()> {
    if tasklet::alive(t) {
        return Err(errors::runtime_error(msg::ALIVE));
    }
    if !protocol::is_callable((*t).tempval) {
        return Err(errors::runtime_error(msg::NOT_BOUND));
    }
    if !tasklet::has_thread(t) {
        return Err(errors::runtime_error(msg::NO_THREAD));
    }
    let args = if args.is_null() {
        tuple::empty()?
    } else {
        object::new_ref(args)
    };
    let func = core::mem::replace(&mut (*t).tempval, none::new_none());
    tasklet::drop_frame(t);
    tasklet::set_pending_call(t, func, args, object::xnew_ref(kwds));
    object::incref(t.cast());
    if (*t).ts == thread_state() {
        ring_link((*t).ts, t);
        Ok(())
    } else {
        // SPEC §6.3: appended to its own thread's ring, which is not woken.
        hand_over(t, HandOff::Insert, false, msg::THREAD_UNINITIALIZED)
    }
}

/// `PyTasklet_Insert` (SPEC §8.1).
pub(crate) unsafe fn insert(t: *mut Tasklet) -> PyResult<()> {
    if (*t).blocked != 0 {
        return Err(errors::runtime_error(msg::RUN_BLOCKED));
    }
    if tasklet::scheduled(t) {
        return Ok(());
    }
    if !tasklet::has_thread(t) || ((*t).ts != thread_state() && (*(*t).ts).main.is_null()) {
        return Err(errors::runtime_error(msg::THREAD_UNINITIALIZED));
    }
    if (*t).frame == Frame::None && !tasklet::is_current(t) {
        return Err(errors::runtime_error(msg::RUN_DEAD));
    }
    object::incref(t.cast());
    if (*t).ts == thread_state() {
        ring_link((*t).ts, t);
        Ok(())
    } else {
        hand_over(t, HandOff::Insert, true, msg::THREAD_UNINITIALIZED)
    }
}

/// `PyTasklet_Remove` (SPEC §8.1).
pub(crate) unsafe fn remove(t: *mut Tasklet) -> PyResult<()> {
    if !tasklet::has_thread(t) {
        return Ok(());
    }
    if (*t).blocked != 0 {
        return Err(errors::runtime_error(msg::REMOVE_BLOCKED));
    }
    if tasklet::is_current(t) {
        return Err(errors::runtime_error(msg::REMOVE_CURRENT));
    }
    if !tasklet::scheduled(t) {
        return Ok(());
    }
    if (*t).ts != thread_state() {
        // SPEC §6.3: removed from its own thread's ring, by that thread.
        object::incref(t.cast());
        return hand_over(t, HandOff::Remove, false, msg::THREAD_UNINITIALIZED);
    }
    ring_unlink((*t).ts, t);
    decref(t.cast());
    Ok(())
}

/// `PyTasklet_Run` (`pause_caller` false) and `PyTasklet_Switch` (true).
pub(crate) unsafe fn run(t: *mut Tasklet, pause_caller: bool) -> PyResult<()> {
    with_main(|ts| {
        if !tasklet::has_thread(t) {
            return Err(errors::runtime_error(msg::NO_THREAD));
        }
        let prev = (*ts).current;
        if t == prev {
            decref(tasklet::claim_tempval(t)?);
            return Ok(());
        }
        if (*t).blocked != 0 {
            return Err(errors::runtime_error(msg::RUN_BLOCKED));
        }
        if (*t).ts != ts {
            if pause_caller {
                return Err(errors::runtime_error(msg::SWITCH_OTHER_THREAD));
            }
            if (*t).next.is_null() && (*t).frame == Frame::None {
                return Err(errors::runtime_error(msg::RUN_DEAD));
            }
            // SPEC §6.3: it runs next over there; the caller does not switch.
            object::incref(t.cast());
            return hand_over(t, HandOff::RunNext, true, msg::THREAD_UNINITIALIZED);
        }
        if (*t).next.is_null() && (*t).frame == Frame::None {
            return Err(errors::runtime_error(msg::RUN_DEAD));
        }
        if pause_caller {
            ring_unlink(ts, prev);
            defer_release(ts, prev.cast());
        }
        match switch_to(ts, prev, t, false) {
            Ok(result) => decref(result?),
            Err(NotSwitched) => {
                if pause_caller {
                    cancel_release(ts);
                    relink_as_current(ts, prev);
                }
                return Err(Raised);
            }
        }
        Ok(())
    })
}

/// SPEC §5.6: raise the bomb (stolen) in `t`, now or when it next runs.
pub(crate) unsafe fn throw_bomb(
    t: *mut Tasklet,
    pending: bool,
    the_bomb: *mut PyObject,
) -> PyResult<()> {
    with_main(|ts| {
        if t == (*ts).current {
            bomb::explode(the_bomb);
            return Err(Raised);
        }
        if !tasklet::alive(t) {
            let exit = bomb::is_tasklet_exit(the_bomb);
            decref(the_bomb);
            if exit && (tasklet::has_thread(t) || (*t).frame == Frame::None) {
                unlink_anywhere(t);
                return Ok(());
            }
            return Err(errors::runtime_error(if tasklet::has_thread(t) {
                msg::THROW_DEAD
            } else {
                msg::NO_THREAD
            }));
        }
        if (*t).ts != ts {
            // SPEC §5.6: to another thread a throw is always pending.
            if (*(*t).ts).main.is_null() {
                decref(the_bomb);
                return Err(errors::runtime_error(msg::THREAD_UNINITIALISED));
            }
            object::incref(t.cast());
            return hand_over(t, HandOff::Throw(the_bomb), true, msg::THREAD_UNINITIALISED);
        }
        let old = core::mem::replace(&mut (*t).tempval, the_bomb);
        if pending {
            make_runnable((*t).ts, t);
            xdecref(old);
            return Ok(());
        }
        match switch_to(ts, (*ts).current, t, false) {
            Ok(result) => {
                xdecref(old);
                decref(result?);
                Ok(())
            }
            Err(NotSwitched) => {
                tasklet::set_tempval(t, old);
                Err(Raised)
            }
        }
    })
}

/// Takes a dead tasklet out of whatever ring or queue still holds it.
unsafe fn unlink_anywhere(t: *mut Tasklet) {
    if (*t).blocked != 0 {
        if super::channel::unblock(t) {
            decref(t.cast());
        }
    } else if !(*t).next.is_null() && tasklet::has_thread(t) {
        ring_unlink((*t).ts, t);
        decref(t.cast());
    }
}

/// `PyTasklet_KillEx` (SPEC §8.1).
pub(crate) unsafe fn kill(t: *mut Tasklet, pending: bool) -> PyResult<()> {
    if !tasklet::has_thread(t) {
        tasklet::drop_frame(t);
    }
    let the_bomb = bomb::of(exceptions::tasklet_exit(), null_mut())?;
    throw_bomb(t, pending, the_bomb)
}

/// SPEC §2.7: a tasklet whose last reference goes while it still has C
/// frames on its stack is killed first. Returns whether it may be freed.
pub(crate) unsafe fn finalize_on_dealloc(t: *mut Tasklet) -> bool {
    let suspended = (*t).coro.as_ref().is_some_and(|c| c.started());
    if !suspended {
        return true;
    }
    if tasklet::has_thread(t) && (*t).ts != existing_thread_state() {
        // Another thread's tasklet: a single pending kill there, which
        // owns the resurrected reference (SPEC §2.7).
        (*t).ob_base.ob_refcnt = 1;
        (*t).is_zombie = true;
        let saved = errors::take();
        if let Ok(b) = bomb::of(exceptions::tasklet_exit(), null_mut()) {
            match (*(*t).ts).inbox.push(t, HandOff::Throw(b), true) {
                Ok(()) => {
                    errors::restore(saved);
                    return false;
                }
                Err(HandOff::Throw(b)) => decref(b),
                Err(_) => {}
            }
        }
        errors::clear();
        errors::restore(saved);
    } else if tasklet::has_thread(t) {
        (*t).ob_base.ob_refcnt = 1;
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
        (*t).ob_base.ob_refcnt -= 1;
        if (*t).ob_base.ob_refcnt > 0 {
            return false;
        }
        if (*t).coro.is_none() {
            return true;
        }
    }
    threads::count_uncollectable();
    false
}

/// `PyStackless_RunWatchdogEx` (SPEC §5.2).
pub(crate) unsafe fn run_watchdog(timeout: c_long, flags: c_int) -> PyResult<*mut PyObject> {
    if !(0..=255).contains(&flags) {
        return Err(errors::value_error(msg::FLAGS_RANGE));
    }
    with_main(|ts| {
        let w = (*ts).current;
        (*ts).watchdogs.push(object::new_ref(w.cast()).cast());
        let owns_timer = timeout > 0 && (*ts).interrupt_watchdog.is_null();
        let saved = (*ts).timer;
        if owns_timer {
            (*ts).interrupt_watchdog = object::new_ref(w.cast()).cast();
            (*ts).timer = TimerSettings {
                active: true,
                runflags: flags,
                interval: timeout,
                watermark: (*ts).ticks + timeout,
            };
        }
        let next = if (*w).next == w {
            null_mut()
        } else {
            (*w).next
        };
        ring_unlink(ts, w);
        decref(w.cast());
        let switched = switch_to(ts, w, next, false);
        let stop_timer = |ts: *mut ThreadState| {
            if owns_timer {
                let slot = core::mem::replace(&mut (*ts).interrupt_watchdog, null_mut());
                xdecref(slot.cast());
                (*ts).timer = saved;
            }
        };
        let result = match switched {
            Err(NotSwitched) => {
                (*ts).watchdogs.pop();
                relink_as_current(ts, w);
                stop_timer(ts);
                return Err(Raised);
            }
            Ok(result) => result,
        };
        pop_watchdogs(ts, w);
        stop_timer(ts);
        decref(result?);
        let interrupted = core::mem::replace(&mut (*ts).interrupted, null_mut());
        if !interrupted.is_null() {
            if flags & PY_WATCHDOG_SOFT == 0 {
                if tasklet::scheduled(interrupted) && (*interrupted).blocked == 0 {
                    ring_unlink(ts, interrupted);
                    decref(interrupted.cast());
                }
                return Ok(interrupted.cast());
            }
            decref(interrupted.cast());
        }
        Ok(none::new_none())
    })
}

/// SPEC §5.2 step 7: pops the watchdog stack down to and including `w`;
/// the unscheduled watchdogs above it become runnable.
unsafe fn pop_watchdogs(ts: *mut ThreadState, w: *mut Tasklet) {
    if !(*ts).watchdogs.contains(&w) {
        return;
    }
    while let Some(top) = (*ts).watchdogs.pop() {
        if top == w {
            decref(w.cast());
            return;
        }
        if tasklet::scheduled(top) {
            decref(top.cast());
        } else {
            ring_link(ts, top);
        }
    }
}

/// `PyStackless_Tick(n)` (SPEC §9.2): a point where the watchdog may
/// interrupt the current tasklet.
pub(crate) unsafe fn tick(n: c_long) -> PyResult<()> {
    let ts = thread_state();
    if (*ts).timer.active
        && !(*ts).main.is_null()
        && !errors::is_set()
        && (*ts).ticks > (*ts).timer.watermark
    {
        interrupt(ts)?;
    }
    (*ts).ticks += n;
    Ok(())
}

/// The watchdog's handler (SPEC §5.3).
unsafe fn interrupt(ts: *mut ThreadState) -> PyResult<()> {
    let cur = (*ts).current;
    if (*ts).timer.runflags & PY_WATCHDOG_SOFT != 0
        || (*cur).atomic
        || (*ts).schedlock
        || !nesting_ok(ts, cur)
        || (*ts).switch_trap != 0
    {
        (*ts).timer.watermark = (*ts).ticks + (*ts).timer.interval;
        (*cur).pending_irq = true;
        return Ok(());
    }
    (*cur).pending_irq = false;
    let old = core::mem::replace(&mut (*ts).interrupted, object::new_ref(cur.cast()).cast());
    xdecref(old.cast());
    match switch_to(ts, cur, interrupt_target(ts), false) {
        Ok(result) => decref(result?),
        Err(NotSwitched) => return Err(Raised),
    }
    Ok(())
}

/// After `atomic` or `ignore_nesting` of the current tasklet changed, or
/// the nesting level dropped back (a callback or the error handler
/// returned): a deferred hard interrupt that nothing forbids any more is
/// taken at the third following tick point (SPEC §5.3).
pub(crate) unsafe fn recheck_pending_irq(t: *mut Tasklet) {
    let ts = existing_thread_state();
    if ts.is_null() || (*t).ts != ts || !tasklet::is_current(t) || !(*t).pending_irq {
        return;
    }
    let timer = (*ts).timer;
    if !timer.active
        || timer.runflags & PY_WATCHDOG_SOFT != 0
        || (*t).atomic
        || (*ts).schedlock
        || (*ts).switch_trap != 0
        || !nesting_ok(ts, t)
    {
        return;
    }
    (*ts).timer.watermark = (*ts).ticks + 1;
    (*t).pending_irq = false;
}

/// `PyStackless_SwitchTrap(delta)`: returns the old level.
pub(crate) fn adjust_switch_trap(delta: c_int) -> c_int {
    let ts = thread_state();
    // SAFETY: the calling thread's own state.
    unsafe {
        let old = (*ts).switch_trap;
        (*ts).switch_trap = old.wrapping_add(delta);
        old
    }
}

/// `PyStackless_Finalize` (SPEC §7.6): kills the started tasklets of the
/// calling thread, longest-suspended first, drops the rest, and releases the
/// thread's scheduler state.
pub(crate) unsafe fn finalize() -> PyResult<()> {
    let ts = existing_thread_state();
    if ts.is_null() {
        return Ok(());
    }
    if !(*ts).main.is_null() {
        return Err(errors::runtime_error(msg::FINALIZE_INSIDE));
    }
    // What other threads handed over is applied; later hand-overs fail.
    apply_hand_offs(ts, (*ts).inbox.close(), null_mut());
    if !(*ts).started.is_empty() {
        enter_main(ts, |ts| {
            let mut victims = (*ts).started.clone();
            victims.sort_by_key(|&t| (*t).switched_out_at);
            for &t in &victims {
                object::incref(t.cast());
            }
            drop_runnables(ts);
            for &t in &victims {
                if (*t).coro.is_some() && kill(t, false).is_err() {
                    errors::clear();
                }
                decref(t.cast());
            }
            Ok(())
        })?;
    }
    while !(*ts).current.is_null() {
        let t = (*ts).current;
        ring_unlink(ts, t);
        decref(t.cast());
    }
    for w in core::mem::take(&mut (*ts).watchdogs) {
        decref(w.cast());
    }
    (*ts).dead = true;
    (*ts).stacks = StackPool::default();
    for op in core::mem::take(&mut (*ts).tasklet_cache) {
        crate::object::typeobj::free_object(op);
    }
    TS.with(|c| c.set(null_mut()));
    threads::retire(ts);
    Ok(())
}

/// Takes every tasklet but the current one out of the ring and drops the
/// ring's references: not-started tasklets go without running, and killing
/// a runnable one runs nothing else (SPEC §7.6).
unsafe fn drop_runnables(ts: *mut ThreadState) {
    let cur = (*ts).current;
    loop {
        let t = (*cur).next;
        if t == cur {
            return;
        }
        ring_unlink(ts, t);
        decref(t.cast());
    }
}

// ---- Callbacks ------------------------------------------------------------

/// `slp_schedule_hook_func`: `(from, to)`; non-zero means an error is set.
pub type slp_schedule_hook_func = Option<
    unsafe extern "C-unwind" fn(
        *mut tasklet::PyTaskletObject,
        *mut tasklet::PyTaskletObject,
    ) -> c_int,
>;

/// Calls the schedule hook for the switch `prev -> next` (prev may be NULL
/// for main's creation), with `schedlock` set and the error indicator saved.
/// During the call the current tasklet is `prev` (SPEC §5.9), also when
/// `prev` already left the ring.
#[inline(always)]
unsafe fn schedule_callback(ts: *mut ThreadState, prev: *mut Tasklet, next: *mut Tasklet) {
    if let Some(hook) = callbacks::schedule_hook() {
        call_schedule_hook(ts, hook, prev, next);
    }
}

#[cold]
unsafe fn call_schedule_hook(
    ts: *mut ThreadState,
    hook: unsafe extern "C-unwind" fn(
        *mut tasklet::PyTaskletObject,
        *mut tasklet::PyTaskletObject,
    ) -> c_int,
    prev: *mut Tasklet,
    next: *mut Tasklet,
) {
    (*ts).schedlock = true;
    (*ts).nesting_level += 1;
    let head = (*ts).current;
    if !prev.is_null() {
        if (*prev).next.is_null() || (*prev).blocked != 0 {
            (*ts).callback_head = head;
        }
        (*ts).current = prev;
    }
    let saved = errors::take();
    if hook(prev.cast(), next.cast()) != 0 {
        callbacks::write_unraisable(msg::SCHEDULE_CALLBACK_ERROR);
    }
    errors::restore(saved);
    (*ts).nesting_level -= 1;
    (*ts).schedlock = false;
    recheck_pending_irq((*ts).current);
    (*ts).current = head;
    (*ts).callback_head = null_mut();
}

/// The global callbacks (shared by all threads) and the hooks embedders set.
pub(crate) mod callbacks {
    use super::*;

    /// A Python-level object held by a global setting.
    struct Held(*mut PyObject);
    // SAFETY: the object's refcount is atomic; only the pointer moves.
    unsafe impl Send for Held {}

    static SCHEDULE_HOOK: AtomicPtr<()> = AtomicPtr::new(null_mut());
    static SCHEDULE_CALLABLE: Mutex<Held> = Mutex::new(Held(null_mut()));
    static CHANNEL_CALLABLE: Mutex<Held> = Mutex::new(Held(null_mut()));
    /// Whether a channel callback is installed: checked without the lock on
    /// every channel operation.
    static HAS_CHANNEL_CALLABLE: AtomicBool = AtomicBool::new(false);
    static ERROR_HANDLER: Mutex<Held> = Mutex::new(Held(null_mut()));
    static EXIT_HOOK: AtomicPtr<()> = AtomicPtr::new(null_mut());

    /// The fast hook, if any.
    #[inline(always)]
    pub(crate) fn schedule_hook() -> slp_schedule_hook_func {
        let p = SCHEDULE_HOOK.load(Ordering::Acquire);
        if p.is_null() {
            None
        } else {
            // SAFETY: only valid hook function pointers are stored.
            Some(unsafe {
                core::mem::transmute::<
                    *mut (),
                    unsafe extern "C-unwind" fn(
                        *mut tasklet::PyTaskletObject,
                        *mut tasklet::PyTaskletObject,
                    ) -> c_int,
                >(p)
            })
        }
    }

    /// `PyStackless_SetScheduleFastcallback`.
    pub(crate) fn set_schedule_hook(hook: slp_schedule_hook_func) {
        SCHEDULE_HOOK.store(hook.map_or(null_mut(), |f| f as *mut ()), Ordering::Release);
    }

    /// Replaces a held object (a new reference to `value`, NULL clears);
    /// returns the old one (owned).
    unsafe fn replace(slot: &Mutex<Held>, value: *mut PyObject) -> *mut PyObject {
        object::xincref(value);
        core::mem::replace(&mut slot.lock().0, value)
    }

    unsafe fn get(slot: &Mutex<Held>) -> *mut PyObject {
        object::xnew_ref(slot.lock().0)
    }

    /// `PyStackless_SetScheduleCallback`: NULL removes it (and the hook).
    pub(crate) unsafe fn set_schedule_callable(callable: *mut PyObject) -> PyResult<()> {
        if !callable.is_null() && !protocol::is_callable(callable) {
            return Err(errors::type_error(msg::SCHEDULE_CALLBACK_NOT_CALLABLE));
        }
        xdecref(replace(&SCHEDULE_CALLABLE, callable));
        set_schedule_hook(if callable.is_null() {
            None
        } else {
            Some(call_schedule_callable)
        });
        Ok(())
    }

    /// The installed schedule callback (new reference) or NULL.
    pub(crate) unsafe fn schedule_callable() -> *mut PyObject {
        get(&SCHEDULE_CALLABLE)
    }

    unsafe extern "C-unwind" fn call_schedule_callable(
        from: *mut tasklet::PyTaskletObject,
        to: *mut tasklet::PyTaskletObject,
    ) -> c_int {
        let cb = get(&SCHEDULE_CALLABLE);
        if cb.is_null() {
            return 0;
        }
        let or_none =
            |t: *mut tasklet::PyTaskletObject| if t.is_null() { none::none() } else { t.cast() };
        let r = tuple::from_borrowed(&[or_none(from), or_none(to)]).and_then(|args| {
            let r = protocol::call(cb, args, null_mut());
            decref(args);
            r
        });
        decref(cb);
        match r {
            Ok(v) => {
                decref(v);
                0
            }
            Err(Raised) => -1,
        }
    }

    /// `PyStackless_SetChannelCallback`: NULL removes it.
    pub(crate) unsafe fn set_channel_callable(callable: *mut PyObject) -> PyResult<()> {
        if !callable.is_null() && !protocol::is_callable(callable) {
            return Err(errors::type_error(msg::CHANNEL_CALLBACK_NOT_CALLABLE));
        }
        xdecref(replace(&CHANNEL_CALLABLE, callable));
        HAS_CHANNEL_CALLABLE.store(!callable.is_null(), Ordering::Relaxed);
        Ok(())
    }

    /// Whether a channel callback is installed.
    pub(crate) fn has_channel_callable() -> bool {
        HAS_CHANNEL_CALLABLE.load(Ordering::Relaxed)
    }

    /// The installed channel callback (new reference) or NULL.
    pub(crate) unsafe fn channel_callable() -> *mut PyObject {
        get(&CHANNEL_CALLABLE)
    }

    /// `PyStackless_SetErrorHandler`: returns the previous handler (new
    /// reference, `None` when there was none); NULL or `None` removes it.
    pub(crate) unsafe fn set_error_handler(handler: *mut PyObject) -> PyResult<*mut PyObject> {
        let handler = if handler == none::none() {
            null_mut()
        } else {
            handler
        };
        if !handler.is_null() && !protocol::is_callable(handler) {
            return Err(errors::type_error("error handler must be callable"));
        }
        let old = replace(&ERROR_HANDLER, handler);
        Ok(if old.is_null() { none::new_none() } else { old })
    }

    /// SPEC §5.4: calls the error handler with the pending exception, on the
    /// dying tasklet. Ok when it handled the error (the error is cleared).
    pub(crate) unsafe fn call_error_handler(ts: *mut ThreadState) -> PyResult<()> {
        let handler = get(&ERROR_HANDLER);
        if handler.is_null() {
            return Err(Raised);
        }
        let mut state = errors::take();
        errors::normalize(&mut state);
        let or_none = |o: *mut PyObject| if o.is_null() { none::none() } else { o };
        let args =
            tuple::from_borrowed(&[or_none(state.ty), or_none(state.value), or_none(state.tb)]);
        state.release();
        (*ts).nesting_level += 1;
        let r = args.and_then(|args| {
            let r = protocol::call(handler, args, null_mut());
            decref(args);
            r
        });
        (*ts).nesting_level -= 1;
        recheck_pending_irq((*ts).current);
        decref(handler);
        r.map(|v| decref(v))
    }

    /// `PyStackless_SetExitHook`: what a SystemExit leaving a tasklet of
    /// the initial thread does (default: `exit(status)`).
    pub(crate) fn set_exit_hook(hook: Option<unsafe extern "C-unwind" fn(c_int)>) {
        EXIT_HOOK.store(hook.map_or(null_mut(), |f| f as *mut ()), Ordering::Release);
    }

    /// SPEC §9.9: ends the process with the pending SystemExit's code (None
    /// 0, an int that int, anything else printed and 1), through the hook.
    pub(crate) unsafe fn system_exit() {
        let mut state = errors::take();
        errors::normalize(&mut state);
        let code = if state.value.is_null() {
            null_mut()
        } else {
            match tuple::items(exceptions::args_of(state.value)) {
                [one] => *one,
                _ => null_mut(),
            }
        };
        let status = if code.is_null() || code == none::none() {
            0
        } else if object::long::check(code) {
            object::long::value(code) as c_int
        } else {
            if let Ok(text) = protocol::str_string(code) {
                eprintln!("{text}");
            }
            errors::clear();
            1
        };
        state.release();
        let hook = EXIT_HOOK.load(Ordering::Acquire);
        if hook.is_null() {
            std::process::exit(status);
        }
        // SAFETY: only valid hook function pointers are stored.
        let hook = core::mem::transmute::<*mut (), unsafe extern "C-unwind" fn(c_int)>(hook);
        hook(status);
    }

    /// Reports the pending exception as unraisable, with a context text,
    /// on stderr, and clears it (SPEC §9.8).
    pub(crate) fn write_unraisable(context: &str) {
        let mut state = errors::take();
        // SAFETY: the taken state owns its references.
        let text = unsafe {
            let t = errors::describe(&mut state);
            state.release();
            t
        };
        eprintln!("Exception ignored in: {context}\n{text}");
    }
}
