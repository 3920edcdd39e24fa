//! The scheduler state of one OS thread (Stackless's TS, SPEC §1.3) and
//! the handle through which that thread, and only it, reaches it.
//!
//! [`ThreadState`] is made of `Cell`s, so it is `!Sync` and [`Ts`], a copy
//! of a pointer to it, is `!Send`: the type system keeps it on its thread.
//! What other threads may see of a thread lives in its [`ThreadShared`]:
//! the owner publishes `current`, `main`, `runcount` and `nesting_level`
//! there with plain (relaxed) stores whenever they change.

use super::fds::FdTable;
use super::poller::Poller;
use super::run_queue::RunQueue;
use super::stack::{self, AltStack, StackPool, TaskletStack};
use super::tasklet::Tasklet;
use super::threads::{self, ThreadShared};
use super::timer_queue::TimerQueue;
use super::watchdog::TimerSettings;
use crate::errors;
use crate::object::{xdecref, PyObject};
use core::cell::Cell;
use core::ffi::{c_int, c_long, c_ulong};
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::Ordering;

/// A thread's started tasklets, each at the index it got when it started.
/// A finished one leaves a hole, which the next one to start fills: an end
/// writes no other tasklet (moving the last one into the hole would touch
/// its object, a cache miss when a million wake in random order).
#[derive(Default)]
struct Started {
    list: Vec<*mut Tasklet>,
    holes: Vec<usize>,
}

/// The scheduler state of one OS thread. Every field belongs to that thread.
pub(crate) struct ThreadState {
    shared: &'static ThreadShared,
    /// The stack the fault handler runs on, if the thread had none.
    _alt_stack: Option<AltStack>,
    /// The runnables; its head is the current tasklet.
    ring: RunQueue<Tasklet>,
    /// While a schedule callback runs: the tasklet it reports as current
    /// (`prev`, which may have left the ring, SPEC §5.9), else NULL.
    callback_current: Cell<*mut Tasklet>,
    /// The tasklet `run_loop` resumes next.
    target: Cell<*mut Tasklet>,
    /// A reference dropped on behalf of the tasklet resumed next (§2.7).
    deferred: Cell<*mut PyObject>,
    /// Tasklets inside `run()`, innermost last (owned references).
    watchdogs: Slot<Vec<*mut Tasklet>>,
    /// Slot 0: the tasklet whose timed `run()` owns the timer (owned).
    interrupt_watchdog: Cell<*mut Tasklet>,
    /// The tasklet a hard interrupt took the CPU from (owned).
    interrupted: Cell<*mut Tasklet>,
    timer: Cell<TimerSettings>,
    ticks: Cell<c_long>,
    /// The nesting level of the running code (published in `shared`).
    nesting_level: Cell<c_int>,
    switch_trap: Cell<c_int>,
    /// A schedule or channel callback runs (SPEC §5.9).
    schedlock: Cell<bool>,
    stacks: Slot<StackPool>,
    /// Started tasklets with a live coroutine (not main).
    started: Slot<Started>,
    /// Its tasklets' objects, freed, kept for reuse (memory only), all of
    /// them, as `stacks` keeps every stack: freeing a million objects in
    /// the order their tasklets end (random, for sleepers) cost a fifth of
    /// waking them in `sleep-1M` (`free` merging each with its neighbours).
    /// Another thread's tasklets are freed, not kept.
    tasklet_cache: Slot<Vec<*mut PyObject>>,
    /// Tasklets that survived the kills of their deallocation (SPEC §2.7),
    /// with the reference that keeps them: finalization kills them again.
    uncollectable: Slot<Vec<*mut Tasklet>>,
    /// References given up inside a switch, released at the next call
    /// into the runtime (`release_later`).
    to_release: Slot<Vec<*mut PyObject>>,
    switch_count: Cell<u64>,
    /// The timers of its sleepers and timed channel operations.
    timers: Slot<TimerQueue<Tasklet>>,
    /// The earliest deadline of `timers`, `i64::MAX` for none: what every
    /// switch checks, one load.
    earliest: Cell<i64>,
    /// The outermost `PyStackless_RunUntil` running, if any.
    until: Cell<Option<Until>>,
    /// Whether it has timers or fd waits or runs `RunUntil`: whether a
    /// switch must look at the clock (one load on the switch path).
    clock_watch: Cell<bool>,
    /// Where the thread sleeps when it has nothing to run.
    poller: Poller,
    /// The waits of its tasklets on fds.
    fds: FdTable,
}

/// A `PyStackless_RunUntil` call: its watchdog (the tasklet that called
/// it), and its deadline, `None` when it was -1 or had passed when the call
/// began (then the run never returns at a scheduling point).
#[derive(Clone, Copy)]
pub(crate) struct Until {
    pub watchdog: *mut Tasklet,
    pub deadline: Option<i64>,
}

/// A field of the thread state that is not `Copy`: reached only by the
/// methods below, each of which borrows it for a few instructions and calls
/// nothing that could reach it again (no user code, no other field).
#[derive(Default)]
struct Slot<T>(core::cell::UnsafeCell<T>);

impl<T> Slot<T> {
    /// Runs `f` on the field. `f` must not reach this slot again.
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the slot is `!Sync` (its thread's alone), and no borrow of
        // it is live: `f` is one of this module's short closures, which
        // touch nothing else (see `Slot`).
        f(unsafe { &mut *self.0.get() })
    }
}

thread_local! {
    static TS: Cell<*mut ThreadState> = const { Cell::new(null_mut()) };
}

/// The calling thread's scheduler state: a copyable handle that cannot
/// leave its thread. Valid until the thread finalizes its state, which
/// happens only outside every call that holds one.
#[derive(Clone, Copy)]
pub(crate) struct Ts(NonNull<ThreadState>);

impl core::ops::Deref for Ts {
    type Target = ThreadState;

    #[inline(always)]
    fn deref(&self) -> &ThreadState {
        // SAFETY: the state lives until `finalize` frees it, after the last
        // handle of its thread is gone (see `Ts`).
        unsafe { self.0.as_ref() }
    }
}

impl Ts {
    /// The calling thread's state, made (and the thread registered) on
    /// first use.
    #[inline(always)]
    pub(crate) fn get() -> Ts {
        match Ts::existing() {
            Some(ts) => ts,
            None => Ts::create(),
        }
    }

    /// The calling thread's state if it has one.
    #[inline(always)]
    pub(crate) fn existing() -> Option<Ts> {
        NonNull::new(TS.with(Cell::get)).map(Ts)
    }

    #[cold]
    fn create() -> Ts {
        // SAFETY: pthread_self has no preconditions.
        let thread_id = unsafe { libc::pthread_self() } as c_ulong;
        stack::install_handler();
        let state = Box::new(ThreadState {
            shared: threads::register(thread_id),
            _alt_stack: AltStack::install(),
            ring: RunQueue::new(),
            callback_current: Cell::new(null_mut()),
            target: Cell::new(null_mut()),
            deferred: Cell::new(null_mut()),
            watchdogs: Slot::default(),
            interrupt_watchdog: Cell::new(null_mut()),
            interrupted: Cell::new(null_mut()),
            timer: Cell::new(TimerSettings::default()),
            ticks: Cell::new(0),
            nesting_level: Cell::new(0),
            switch_trap: Cell::new(0),
            schedlock: Cell::new(false),
            stacks: Slot::default(),
            started: Slot::default(),
            tasklet_cache: Slot::default(),
            uncollectable: Slot::default(),
            to_release: Slot::default(),
            switch_count: Cell::new(0),
            timers: Slot::default(),
            earliest: Cell::new(i64::MAX),
            until: Cell::new(None),
            clock_watch: Cell::new(false),
            poller: Poller::new(),
            fds: FdTable::default(),
        });
        state.shared.set_wake_fd(state.poller.wake_fd());
        let ts = Ts(NonNull::from(Box::leak(state)));
        TS.with(|c| c.set(ts.0.as_ptr()));
        // Registers the thread-exit destructor (SPEC §6.6).
        EXIT_GUARD.with(|_| ());
        ts
    }

    /// Frees the state: the thread has finalized. The handle and every
    /// copy of it are dangling from here on.
    pub(crate) fn free(self) {
        TS.with(|c| c.set(null_mut()));
        for op in self.tasklet_cache.with(core::mem::take) {
            // SAFETY: cached objects are freed tasklets nobody references.
            unsafe { threads::free_tasklet(op) };
        }
        // SAFETY: made by `Box::leak` in `create`; no handle is used after
        // this (see the contract above).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }

    /// What other threads see of this thread.
    #[inline(always)]
    pub(crate) fn shared(self) -> &'static ThreadShared {
        self.shared
    }

    /// Whether `other` is the calling thread's own handle.
    pub(crate) fn is(self, shared: &ThreadShared) -> bool {
        core::ptr::eq(self.shared, shared)
    }
}

/// Whether the calling code runs in the stretch at the end of its stack
/// where a recursion stops with `RecursionError` (see
/// [`stack::recursion_margin`]): of the current tasklet's stack, or of the
/// thread's own stack for main (a thread the runtime never saw gets its
/// state here, which knows the bounds of its stack).
pub(crate) fn stack_nearly_full() -> bool {
    let ts = Ts::get();
    let here = 0u8;
    let sp = core::ptr::addr_of!(here) as usize;
    let t = ts.current();
    let (low, floor) = if t.is_null() || t == ts.main() {
        ts.shared().recursion_stretch()
    } else {
        // SAFETY: the current tasklet of this thread: its owner fields are
        // ours to read.
        unsafe { ((*t).stack_low, (*t).stack_floor) }
    };
    low <= sp && sp < floor
}

/// Its destructor runs when the thread ends: the thread's tasklets are
/// killed or unbound as `PyStackless_Finalize` does.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if Ts::existing().is_some() {
            // SAFETY: runs on the ending thread, outside any switch.
            let _ = unsafe { super::finalize::finalize() };
            errors::clear();
        }
    }
}

thread_local! {
    static EXIT_GUARD: ExitGuard = const { ExitGuard };
}

impl ThreadState {
    /// The main tasklet, NULL while the thread is outside.
    #[inline(always)]
    pub(crate) fn main(&self) -> *mut Tasklet {
        self.shared.main.load(Ordering::Relaxed)
    }

    /// Sets (or clears) the main tasklet.
    pub(crate) fn set_main(&self, t: *mut Tasklet) {
        self.shared.main.store(t, Ordering::Relaxed);
    }

    /// The head of the ring: the current tasklet while a main exists.
    #[inline(always)]
    pub(crate) fn head(&self) -> *mut Tasklet {
        self.ring.head()
    }

    /// The current tasklet as users see it: the head, or during a schedule
    /// callback the tasklet switched from.
    pub(crate) fn current(&self) -> *mut Tasklet {
        let c = self.callback_current.get();
        if c.is_null() {
            self.ring.head()
        } else {
            c
        }
    }

    /// The number of tasklets in the ring (as published: only this thread
    /// writes it).
    pub(crate) fn runcount(&self) -> c_int {
        self.shared.runcount.load(Ordering::Relaxed)
    }

    #[inline(always)]
    fn count(&self, delta: c_int) {
        let n = self.shared.runcount.load(Ordering::Relaxed);
        self.shared.runcount.store(n + delta, Ordering::Relaxed);
    }

    /// Tells other threads the current tasklet: the head, unless a schedule
    /// callback reports another.
    #[inline(always)]
    fn publish_current(&self) {
        if self.callback_current.get().is_null() {
            self.shared
                .current
                .store(self.ring.head(), Ordering::Relaxed);
        }
    }

    /// Makes `t`, a member, the head: a switch, never made while a
    /// schedule callback runs.
    #[inline(always)]
    pub(crate) fn set_head(&self, t: *mut Tasklet) {
        debug_assert!(self.callback_current.get().is_null());
        self.ring.set_head(t);
        self.shared.current.store(t, Ordering::Relaxed);
    }

    /// Appends `t` at the tail of the ring (a reference moves in).
    ///
    /// # Safety
    /// `t` must be a live, unlinked tasklet of this thread.
    #[inline(always)]
    pub(crate) unsafe fn link(&self, t: *mut Tasklet) {
        let empty = self.ring.head().is_null();
        // SAFETY: per the contract.
        unsafe { self.ring.push_back(t) };
        self.count(1);
        if empty {
            self.publish_current();
        }
    }

    /// Links `t` just before `at`, a member.
    ///
    /// # Safety
    /// As [`ThreadState::link`]; `at` must be a member.
    pub(crate) unsafe fn link_before(&self, at: *mut Tasklet, t: *mut Tasklet) {
        // SAFETY: per the contract.
        unsafe { self.ring.link_before(at, t) };
        self.count(1);
    }

    /// Links `t` right after `at`, a member.
    ///
    /// # Safety
    /// As [`ThreadState::link`]; `at` must be a member.
    #[inline(always)]
    pub(crate) unsafe fn link_after(&self, at: *mut Tasklet, t: *mut Tasklet) {
        // SAFETY: per the contract.
        unsafe { self.ring.link_after(at, t) };
        self.count(1);
    }

    /// Unlinks `t` (its reference passes to the caller). Removing the head
    /// makes its successor the head.
    ///
    /// # Safety
    /// `t` must be a member of this thread's ring.
    #[inline(always)]
    pub(crate) unsafe fn unlink(&self, t: *mut Tasklet) {
        let head = t == self.ring.head();
        // SAFETY: per the contract.
        unsafe { self.ring.remove(t) };
        self.count(-1);
        if head {
            self.publish_current();
        }
    }

    /// Tells other threads that nothing runs here (the ring is empty, the
    /// thread is about to park).
    pub(crate) fn publish_nothing_current(&self) {
        debug_assert!(self.ring.head().is_null());
        self.shared.current.store(null_mut(), Ordering::Relaxed);
    }

    /// Unlinks `t`, the head, which is about to switch away: the switch
    /// publishes the new current tasklet.
    ///
    /// # Safety
    /// `t` must be the head of this thread's ring.
    #[inline(always)]
    pub(crate) unsafe fn unlink_current(&self, t: *mut Tasklet) {
        debug_assert!(t == self.ring.head());
        // SAFETY: per the contract.
        unsafe { self.ring.remove(t) };
        self.count(-1);
    }

    /// Reports `prev` as current while a schedule callback runs (NULL ends
    /// that).
    pub(crate) fn set_callback_current(&self, prev: *mut Tasklet) {
        self.callback_current.set(prev);
        let current = if prev.is_null() {
            self.ring.head()
        } else {
            prev
        };
        self.shared.current.store(current, Ordering::Relaxed);
    }

    /// The tasklet `run_loop` resumes next.
    pub(crate) fn target(&self) -> *mut Tasklet {
        self.target.get()
    }

    pub(crate) fn set_target(&self, t: *mut Tasklet) {
        self.target.set(t);
    }

    /// Hands a reference to be dropped by the tasklet resumed next.
    pub(crate) fn defer_release(&self, op: *mut PyObject) {
        debug_assert!(self.deferred.get().is_null());
        self.deferred.set(op);
    }

    /// Takes back a deferred reference after a switch that did not happen.
    pub(crate) fn cancel_release(&self) -> *mut PyObject {
        self.deferred.replace(null_mut())
    }

    /// Drops the deferred reference, right after a tasklet resumed.
    pub(crate) fn release_deferred(&self) {
        let op = self.cancel_release();
        // SAFETY: a deferred reference is owned.
        unsafe { xdecref(op) };
    }

    /// The innermost watchdog, else main.
    pub(crate) fn wakeup_target(&self) -> *mut Tasklet {
        match self.watchdogs.with(|w| w.last().copied()) {
            Some(t) => t,
            None => self.main(),
        }
    }

    /// Pushes a watchdog (a reference moves in).
    pub(crate) fn push_watchdog(&self, t: *mut Tasklet) {
        self.watchdogs.with(|w| w.push(t));
    }

    /// Pops the innermost watchdog (its reference moves out).
    pub(crate) fn pop_watchdog(&self) -> Option<*mut Tasklet> {
        self.watchdogs.with(|w| w.pop())
    }

    /// Whether `t` is inside `run()`.
    pub(crate) fn is_watchdog(&self, t: *mut Tasklet) -> bool {
        self.watchdogs.with(|w| w.contains(&t))
    }

    /// Takes every watchdog (their references move out).
    pub(crate) fn take_watchdogs(&self) -> Vec<*mut Tasklet> {
        self.watchdogs.with(core::mem::take)
    }

    pub(crate) fn interrupt_watchdog(&self) -> *mut Tasklet {
        self.interrupt_watchdog.get()
    }

    pub(crate) fn replace_interrupt_watchdog(&self, t: *mut Tasklet) -> *mut Tasklet {
        self.interrupt_watchdog.replace(t)
    }

    pub(crate) fn replace_interrupted(&self, t: *mut Tasklet) -> *mut Tasklet {
        self.interrupted.replace(t)
    }

    pub(crate) fn timer(&self) -> TimerSettings {
        self.timer.get()
    }

    pub(crate) fn set_timer(&self, timer: TimerSettings) {
        self.timer.set(timer);
    }

    pub(crate) fn ticks(&self) -> c_long {
        self.ticks.get()
    }

    pub(crate) fn add_ticks(&self, n: c_long) {
        self.ticks.set(self.ticks.get().wrapping_add(n));
    }

    /// The nesting level of the running code (SPEC §9.3).
    #[inline(always)]
    pub(crate) fn nesting_level(&self) -> c_int {
        self.nesting_level.get()
    }

    #[inline(always)]
    pub(crate) fn set_nesting_level(&self, level: c_int) {
        if self.nesting_level.replace(level) != level {
            self.shared.nesting_level.store(level, Ordering::Relaxed);
        }
    }

    pub(crate) fn switch_trap(&self) -> c_int {
        self.switch_trap.get()
    }

    pub(crate) fn set_switch_trap(&self, level: c_int) {
        self.switch_trap.set(level);
    }

    #[inline(always)]
    pub(crate) fn schedlock(&self) -> bool {
        self.schedlock.get()
    }

    pub(crate) fn set_schedlock(&self, on: bool) {
        self.schedlock.set(on);
    }

    /// The switch-outs counted so far.
    #[inline(always)]
    pub(crate) fn switch_count(&self) -> u64 {
        self.switch_count.get()
    }

    /// Counts a switch-out; returns its sequence number.
    #[inline(always)]
    pub(crate) fn next_switch(&self) -> u64 {
        let n = self.switch_count.get() + 1;
        self.switch_count.set(n);
        n
    }

    /// A stack for a tasklet about to start; None when out of memory.
    pub(crate) fn take_stack(&self) -> Option<TaskletStack> {
        self.stacks.with(|pool| pool.take())
    }

    /// Gives back the stack of a finished tasklet.
    pub(crate) fn give_stack(&self, stack: TaskletStack) {
        self.stacks.with(|pool| pool.give(stack));
    }

    /// Records a tasklet that got a coroutine; returns its index.
    pub(crate) fn add_started(&self, t: *mut Tasklet) -> usize {
        self.started.with(|started| match started.holes.pop() {
            Some(index) => {
                started.list[index] = t;
                index
            }
            None => {
                started.list.push(t);
                started.list.len() - 1
            }
        })
    }

    /// Forgets the started tasklet at `index`.
    pub(crate) fn remove_started(&self, index: usize) {
        self.started.with(|started| {
            started.list[index] = null_mut();
            started.holes.push(index);
        })
    }

    /// The started tasklets (a copy).
    pub(crate) fn started(&self) -> Vec<*mut Tasklet> {
        self.started.with(|started| {
            started
                .list
                .iter()
                .copied()
                .filter(|t| !t.is_null())
                .collect()
        })
    }

    /// Keeps a tasklet that survived its kills (a reference moves in).
    pub(crate) fn keep_uncollectable(&self, t: *mut Tasklet) {
        self.uncollectable.with(|list| list.push(t));
        threads::count_uncollectable();
    }

    /// The kept survivors, with their references.
    pub(crate) fn take_uncollectable(&self) -> Vec<*mut Tasklet> {
        self.uncollectable.with(core::mem::take)
    }

    /// The earliest deadline of the thread's timers, `i64::MAX` for none.
    #[inline(always)]
    pub(crate) fn earliest(&self) -> i64 {
        self.earliest.get()
    }

    fn timers_changed(&self, earliest: Option<i64>) {
        let earliest = earliest.unwrap_or(i64::MAX);
        self.earliest.set(earliest);
        self.poller.earliest_changed(earliest);
        self.watch_changed();
    }

    /// Derives [`ThreadState::clock_watch`] again, after its timers, its
    /// fd waits or its `RunUntil` changed.
    #[inline(always)]
    pub(crate) fn watch_changed(&self) {
        self.clock_watch.set(
            self.earliest.get() != i64::MAX || self.until.get().is_some() || self.fds.waits() != 0,
        );
    }

    /// Whether a switch must look at the clock: the thread has timers or
    /// fd waits, or runs `PyStackless_RunUntil`.
    #[inline(always)]
    pub(crate) fn clock_watch(&self) -> bool {
        self.clock_watch.get()
    }

    /// Adds a timer (see [`TimerQueue::add`]).
    ///
    /// # Safety
    /// As [`TimerQueue::add`]; `t` is a tasklet of this thread.
    pub(crate) unsafe fn timers_add(&self, t: *mut Tasklet, deadline: i64) {
        // SAFETY: per the contract.
        self.timers
            .with(|timers| unsafe { timers.add(t, deadline) });
        // A timer added takes none away: the earliest is the new one's
        // deadline or stays.
        self.timers_changed(Some(deadline.min(self.earliest.get())));
    }

    /// Cancels a timer (see [`TimerQueue::cancel`]).
    ///
    /// # Safety
    /// As [`TimerQueue::cancel`]; `t` is a tasklet of this thread.
    pub(crate) unsafe fn timers_cancel(&self, t: *mut Tasklet) -> bool {
        // SAFETY: per the contract.
        let (had, e) = self
            .timers
            .with(|timers| (unsafe { timers.cancel(t) }, timers.earliest()));
        self.timers_changed(e);
        had
    }

    /// A tasklet whose timer comes soon, to prefetch (see
    /// [`TimerQueue::upcoming`]).
    pub(crate) fn timers_upcoming(&self, n: usize) -> Option<*mut Tasklet> {
        self.timers.with(|timers| timers.upcoming(n))
    }

    /// Removes a timer due at `now` (see [`TimerQueue::pop_due`]).
    pub(crate) fn timers_pop_due(&self, now: i64) -> Option<*mut Tasklet> {
        if self.earliest.get() > now {
            return None;
        }
        let (t, e) = self
            .timers
            .with(|timers| (timers.pop_due(now), timers.earliest()));
        self.timers_changed(e);
        t
    }

    /// The thread's poller.
    pub(crate) fn poller(&self) -> &Poller {
        &self.poller
    }

    /// The outermost `PyStackless_RunUntil` running.
    #[inline(always)]
    pub(crate) fn until(&self) -> Option<Until> {
        self.until.get()
    }

    /// Starts or ends a `PyStackless_RunUntil`.
    pub(crate) fn set_until(&self, until: Option<Until>) {
        self.until.set(until);
        self.watch_changed();
    }

    /// The waits of the thread's tasklets on fds.
    #[inline(always)]
    pub(crate) fn fds(&self) -> &FdTable {
        &self.fds
    }

    /// After its fd waits changed: derives `clock_watch` again and tells
    /// other threads whether it has any.
    pub(crate) fn fds_changed(&self) {
        self.watch_changed();
        self.shared.set_waits_on_fds(self.fds.waits() != 0);
    }

    /// Whether a host loop watches the thread's poller.
    pub(crate) fn hosted(&self) -> bool {
        self.poller.hosted()
    }

    /// A host loop watches the thread's poller from now on: its timerfd
    /// follows the earliest deadline, and hand-offs write its eventfd
    /// (`PyStackless_GetPollFd`).
    pub(crate) fn host(&self) {
        if self.poller.host(self.earliest.get()) {
            self.shared.lock().host();
        }
    }

    /// Releases `op` (an owned reference) at the current tasklet's next
    /// call into the runtime: here, inside a switch, its deallocation could
    /// run code that switches.
    pub(crate) fn release_later(&self, op: *mut PyObject) {
        self.to_release.with(|list| list.push(op));
    }

    /// Releases what [`ThreadState::release_later`] kept; the caller is a
    /// call into the runtime made by the current tasklet, outside switches.
    #[inline(always)]
    pub(crate) fn release_now(&self) {
        if !self.to_release.with(|list| list.is_empty()) {
            self.release_kept();
        }
    }

    #[cold]
    fn release_kept(&self) {
        while let Some(op) = self.to_release.with(|list| list.pop()) {
            // SAFETY: kept references are owned.
            unsafe { crate::object::decref(op) };
        }
    }

    /// A freed tasklet object to reuse, if one is kept.
    pub(crate) fn take_cached_tasklet(&self) -> Option<*mut PyObject> {
        self.tasklet_cache.with(|cache| cache.pop())
    }

    /// Keeps a freed tasklet object for reuse.
    pub(crate) fn cache_tasklet(&self, op: *mut PyObject) {
        self.tasklet_cache.with(|cache| cache.push(op));
    }
}
