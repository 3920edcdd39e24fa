//! Threads: what other threads may see of and ask of a thread
//! ([`ThreadShared`]), its inbox of hand-offs, the registry of threads that
//! run tasklets, and parking with deadlock detection (SPEC §6).
//!
//! A thread's ring and the scheduling fields of its tasklets belong to that
//! thread alone. Another thread that wants one of its tasklets to change
//! state (a channel partner, `Insert`, `Run`, `Remove`, a kill) hands the
//! tasklet over through the owner's inbox and wakes the owner if it is
//! parked; the owner applies the hand-offs at its next scheduling point, at
//! the cost of one load when the inbox is empty.
//!
//! Locks, in the only order they are ever nested: a channel's lock, then an
//! inbox lock, then the registry lock. No lock is held while user code runs
//! or across a switch.
//!
//! Stale hand-offs are recognised by construction: each [`HandOff`] names
//! the state it expects, and the owner applies it only if the tasklet is
//! still in that state. A hand-off that its own thread overtook (the owner
//! inserted the tasklet itself, it ran and blocked again) finds another
//! state and is dropped: nothing is linked twice, nothing is resumed from a
//! state it no longer has. Only `Ready` carries a change of ownership: the
//! tasklet is `Handed`, a state no thread but the inbox's owner leaves.
//!
//! Thread death: a thread ends (`PyStackless_Finalize`, or its thread-exit
//! destructor) by first killing its started tasklets while its inbox is
//! still open, so that a partner that completes a killed tasklet's
//! operation meanwhile hands it over as usual (and a kill never destroys a
//! value a channel delivered: the tasklet gets it, then dies). Then, under
//! the inbox lock, it marks itself ended and takes what is left in the
//! inbox; the tasklets of those hand-offs become threadless. From then on
//! every hand-off to it fails under that same lock, so none can race with
//! the end: a `Setup`, `Insert`, `Run` or kill from another thread gets
//! `RuntimeError("Target thread isn't initialized")` (or "initialised" for
//! throws, as in Stackless), and a channel partner that finds a tasklet of
//! an ended thread in the queue (one that survived its kill and blocked
//! again) drops it from the queue and goes on with the next partner: no
//! value is handed to a thread that can never run it. The thread's
//! `ThreadShared` is never freed; its tasklets read as threadless.

use super::channel;
use super::messages as msg;
use super::poller::{self, Poller};
use super::switch::{self, give_bomb};
use super::tasklet::{self, Kind, Tasklet};
use super::thread_state::Ts;
use super::timers;
use crate::errors::{self, PyResult, Raised};
use crate::object::{self, decref, none, tuple, xdecref, PyObject};
use core::ffi::{c_int, c_long, c_ulong};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use parking_lot::{Mutex, MutexGuard};

/// What another thread asks the owner to do with one of its tasklets. The
/// hand-off owns a reference to the tasklet. Each names the state it
/// expects; the owner applies it only if the tasklet is still in that state
/// (`scheduler::apply_hand_off`), so a hand-off overtaken by the owner's own
/// transitions is recognised as stale and dropped.
pub(crate) enum HandOff {
    /// The tasklet is `Handed` (a channel partner completed its operation,
    /// a kill unblocked it, or it was set up from here): append it to the
    /// ring. Expects `Handed`.
    Ready,
    /// `Insert` from another thread: append it. Expects `Paused` (a
    /// runnable one is left where it is).
    Insert,
    /// `Run` from another thread: run it next. Expects `Paused` or
    /// `Runnable` (then it moves right after the current tasklet).
    RunNext,
    /// `Remove` from another thread. Expects `Runnable`, not current.
    Remove,
    /// A kill or throw (the bomb is owned): raise it in the tasklet when it
    /// runs. Expects it alive; a paused one becomes runnable.
    Throw(*mut PyObject),
}

impl HandOff {
    /// Whether this hand-off is counted in the tasklet's `requests` (those
    /// that change `Scheduled` before the owner applies them).
    pub(crate) fn is_request(&self) -> bool {
        matches!(self, HandOff::Insert | HandOff::RunNext | HandOff::Remove)
    }
}

/// The inbox proper, under its lock.
struct InboxState {
    items: Vec<(*mut Tasklet, HandOff)>,
    /// The thread is ending: nothing is accepted any more.
    closed: bool,
    /// Whether and how the owner sleeps.
    parked: Parked,
    /// A host loop watches the owner's poller (`PyStackless_GetPollFd`):
    /// a hand-off that wakes writes the eventfd also while the owner runs.
    hosted: bool,
    /// The eventfd was written for a hosted owner, and that write is not
    /// consumed yet (`ThreadShared::quiet`).
    signalled: bool,
    /// Fds that `PyStackless_ForgetFd` on another thread forgot: the
    /// owner wakes its waiters on them.
    forgotten: Vec<c_int>,
}

impl InboxState {
    /// Whether anything waits for the owner: hand-offs, or fds forgotten
    /// on another thread.
    fn has_work(&self) -> bool {
        !self.items.is_empty() || !self.forgotten.is_empty()
    }
}

/// How a thread sleeps, if it does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parked {
    No,
    /// In [`ThreadShared::park`], not counted awake: a waker counts it.
    Uncounted,
    /// In [`ThreadShared::park_until`]: it has timers and stays counted
    /// awake (it will wake by itself).
    Timed,
}

impl Parked {
    /// Wakes the thread (whose eventfd is `fd`) if it sleeps: counts it
    /// awake again if it was not counted. Called under its inbox lock.
    fn wake(&mut self, fd: &AtomicI32) {
        match core::mem::replace(self, Parked::No) {
            Parked::No => {}
            Parked::Uncounted => {
                AWAKE.fetch_add(1, Ordering::AcqRel);
                poller::wake(fd.load(Ordering::Relaxed));
            }
            Parked::Timed => poller::wake(fd.load(Ordering::Relaxed)),
        }
    }
}

/// What other threads may see of a thread and ask of it. Never freed: a
/// tasklet's state word points at its thread's `ThreadShared` for as long
/// as the tasklet lives, also after the thread ended.
///
/// | field | owner |
/// | --- | --- |
/// | `thread_id`, `is_initial` | immutable |
/// | `current`, `main`, `runcount`, `nesting_level` | atomic: written by the owning thread only (relaxed stores of what its own state says), read by any thread |
/// | `inbox` | its lock |
/// | `pending` | atomic: set under the inbox lock (release), cleared by the owner under it |
/// | `ended` | atomic: set once by the owner when it ended (after it closed its inbox) |
/// | `wake_fd` | atomic: the eventfd of the owner's poller, set by the owner before it first parks and read under the inbox lock while it is parked or hosted |
/// | `waits_on_fds` | atomic: written by the owning thread only (relaxed), read by `forget_elsewhere` |
#[repr(align(64))]
pub(crate) struct ThreadShared {
    pub thread_id: c_ulong,
    /// The first thread that used the runtime (SPEC §1.4).
    pub is_initial: bool,
    pub current: AtomicPtr<Tasklet>,
    pub main: AtomicPtr<Tasklet>,
    pub runcount: AtomicI32,
    /// The nesting level of the code the thread runs (SPEC §9.3).
    pub nesting_level: AtomicI32,
    inbox: Mutex<InboxState>,
    pending: AtomicBool,
    ended: AtomicBool,
    wake_fd: AtomicI32,
    /// Whether its tasklets wait on fds (see `set_waits_on_fds`).
    waits_on_fds: AtomicBool,
    /// The thread's own stack, `[stack_low, stack_high)` (immutable), for
    /// the fault handler.
    stack_low: usize,
    stack_high: usize,
    /// The thread registered before it (immutable once linked): every
    /// thread ever registered, for the fault handler, which takes no lock.
    older: *const ThreadShared,
}

// SAFETY: the tasklet pointers in the inbox are only touched under its
// lock, and by the owner after it took them out; everything else is atomic
// or immutable.
unsafe impl Sync for ThreadShared {}
// SAFETY: as above; a `ThreadShared` is never moved after registration.
unsafe impl Send for ThreadShared {}

/// The inbox, locked: a foreign thread pushes, or makes a state transition
/// that must not interleave with other hand-offs or with the thread's end.
pub(crate) struct InboxGuard<'a> {
    state: MutexGuard<'a, InboxState>,
    owner: &'a ThreadShared,
}

impl InboxGuard<'_> {
    /// Whether the owner is ending: nothing may be handed to it any more.
    pub(crate) fn closed(&self) -> bool {
        self.state.closed
    }

    /// Hands `t` over (the caller's reference moves in) and, if `wake`,
    /// wakes the owner if it is parked, counting it awake again at once (so
    /// that no other thread can see every thread asleep while this wake-up
    /// is under way).
    ///
    /// # Safety
    /// `t` must be a live tasklet of this thread; the inbox must be open.
    pub(crate) unsafe fn push(&mut self, t: *mut Tasklet, what: HandOff, wake: bool) {
        debug_assert!(!self.closed());
        self.state.items.push((t, what));
        self.owner.pending.store(true, Ordering::Release);
        if wake {
            self.wake();
        }
    }

    /// Asks the owner to wake its waiters on `fd` with EBADF
    /// (`PyStackless_ForgetFd` on another thread), and wakes it.
    ///
    /// The inbox must be open.
    pub(crate) fn push_forgotten(&mut self, fd: c_int) {
        debug_assert!(!self.closed());
        self.state.forgotten.push(fd);
        self.owner.pending.store(true, Ordering::Release);
        self.wake();
    }

    /// Wakes the owner if it is parked (counting it awake again at once),
    /// or writes its eventfd for the host loop that drives it.
    fn wake(&mut self) {
        self.state.parked.wake(&self.owner.wake_fd);
        if self.state.hosted && !self.state.signalled {
            self.state.signalled = true;
            poller::wake(self.owner.wake_fd.load(Ordering::Relaxed));
        }
    }

    /// A host loop watches the owner's poller from now on (owner only).
    pub(crate) fn host(&mut self) {
        self.state.hosted = true;
    }
}

impl ThreadShared {
    /// The stretch at the end of the thread's own stack where a recursion
    /// stops (see [`super::stack::recursion_margin`]): `[low, floor)`,
    /// empty when the bounds are unknown.
    pub(crate) fn recursion_stretch(&self) -> (usize, usize) {
        let size = self.stack_high - self.stack_low;
        (
            self.stack_low,
            self.stack_low + super::stack::recursion_margin(size),
        )
    }

    fn new(thread_id: c_ulong, is_initial: bool) -> ThreadShared {
        ThreadShared {
            thread_id,
            is_initial,
            current: AtomicPtr::new(null_mut()),
            main: AtomicPtr::new(null_mut()),
            runcount: AtomicI32::new(0),
            nesting_level: AtomicI32::new(0),
            inbox: Mutex::new(InboxState {
                items: Vec::new(),
                closed: false,
                parked: Parked::No,
                hosted: false,
                signalled: false,
                forgotten: Vec::new(),
            }),
            pending: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            wake_fd: AtomicI32::new(-1),
            waits_on_fds: AtomicBool::new(false),
            stack_low: 0,
            stack_high: 0,
            older: core::ptr::null(),
        }
    }

    /// Locks the inbox.
    pub(crate) fn lock(&self) -> InboxGuard<'_> {
        InboxGuard {
            state: self.inbox.lock(),
            owner: self,
        }
    }

    /// Whether the thread ended (its tasklets are threadless).
    pub(crate) fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Whether hand-offs wait to be applied: one load.
    #[inline(always)]
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes everything handed over, and the fds forgotten on other
    /// threads (owner only).
    pub(crate) fn take(&self) -> (Vec<(*mut Tasklet, HandOff)>, Vec<c_int>) {
        let mut s = self.inbox.lock();
        self.pending.store(false, Ordering::Relaxed);
        (
            core::mem::take(&mut s.items),
            core::mem::take(&mut s.forgotten),
        )
    }

    /// Publishes whether the thread's tasklets wait on fds (owner only):
    /// `PyStackless_ForgetFd` on another thread asks only such threads.
    pub(crate) fn set_waits_on_fds(&self, waits: bool) {
        self.waits_on_fds.store(waits, Ordering::Relaxed);
    }

    /// The thread begins to end (owner only): nothing is handed to it from
    /// now on; returns what was handed over until now.
    pub(crate) fn close(&self) -> Vec<(*mut Tasklet, HandOff)> {
        let mut s = self.inbox.lock();
        s.closed = true;
        s.forgotten.clear();
        // Never parked again: its poller goes with its state.
        self.wake_fd.store(-1, Ordering::Relaxed);
        self.pending.store(false, Ordering::Relaxed);
        core::mem::take(&mut s.items)
    }

    /// The thread ended (owner only, after `close`): its tasklets are
    /// threadless from now on.
    pub(crate) fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }

    /// The owner returns to its host loop (`PyStackless_RunUntil` of a
    /// hosted thread ends): an eventfd write for hand-offs it served
    /// meanwhile is consumed, so that the host's poll fd is not readable
    /// without work. Under the inbox lock: a hand-off pushed after this
    /// writes the eventfd anew.
    pub(crate) fn quiet(&self, poller: &Poller) {
        let mut s = self.inbox.lock();
        if s.signalled && !s.has_work() {
            poller.consume_wake();
            s.signalled = false;
        }
    }

    /// Records the eventfd of the owner's poller (owner only, before it
    /// first parks).
    pub(crate) fn set_wake_fd(&self, fd: c_int) {
        self.wake_fd.store(fd, Ordering::Relaxed);
    }

    /// Busy-waits briefly for a hand-off before the thread sleeps: one from
    /// a thread on another core comes sooner than a sleep and a wake-up
    /// take. True when one came; gives up at `deadline` too. How long it
    /// spins adapts (the poller's `spin_ns`): a spin that a hand-off ended
    /// doubles the next one, a spin in vain halves it, between
    /// [`SPIN_MIN_NS`] and [`SPIN_MAX_NS`], so that threads trading
    /// messages stop sleeping between them and a thread that waits for
    /// nothing spins next to never.
    fn spin(&self, poller: &Poller, deadline: i64) -> bool {
        if LIVE.load(Ordering::Relaxed) < 2 {
            // No other thread could hand it anything.
            return false;
        }
        let budget = poller.spin_ns.get();
        let start = super::timers::now();
        let full = start.saturating_add(budget);
        let until = full.min(deadline);
        loop {
            for _ in 0..SPIN_ROUND {
                if self.pending() {
                    poller.spin_ns.set((budget * 2).min(SPIN_MAX_NS));
                    return true;
                }
                core::hint::spin_loop();
            }
            if super::timers::now() >= until {
                if until == full {
                    poller.spin_ns.set((budget / 2).max(SPIN_MIN_NS));
                }
                return false;
            }
        }
    }

    /// SPEC §3.3/§6.4: parks the calling thread (the owner) in its poller
    /// until something is handed to it or a deadlock re-check is due.
    /// Returns false at once, without parking, when every other thread is
    /// parked too and none of them holds work it was handed without being
    /// woken (a `Setup` or a `Remove` from another thread does not wake it,
    /// SPEC §6.3): the caller is deadlocked. A thread that wakes a parked
    /// one counts it awake before it returns, so the count never shows a
    /// wake-up in flight as a deadlock.
    pub(crate) fn park(&self, poller: &Poller) -> bool {
        if self.spin(poller, i64::MAX) {
            return true;
        }
        loop {
            {
                let mut s = self.inbox.lock();
                if s.has_work() {
                    return true;
                }
                if AWAKE.fetch_sub(1, Ordering::AcqRel) != 1 {
                    s.parked = Parked::Uncounted;
                    drop(s);
                    loop {
                        poller.wait(i64::MAX);
                        if self.inbox.lock().parked == Parked::No {
                            return true;
                        }
                    }
                }
                AWAKE.fetch_add(1, Ordering::AcqRel);
            }
            if !wake_one_with_work(self) {
                return false;
            }
        }
    }

    /// Sleeps the calling thread (the owner, which has timers) in its
    /// poller until `deadline` or until something is handed to it. It
    /// stays counted awake: a thread with timers will wake (SPEC §3.3,
    /// §6.4 as EXTENSIONS.md §2 extends them).
    pub(crate) fn park_until(&self, poller: &Poller, deadline: i64) {
        if self.spin(poller, deadline) {
            return;
        }
        {
            let mut s = self.inbox.lock();
            if s.has_work() || deadline <= super::timers::now() {
                return;
            }
            s.parked = Parked::Timed;
        }
        poller.wait(deadline);
        self.inbox.lock().parked = Parked::No;
    }

    /// Wakes the thread if it is parked uncounted with work in its inbox.
    fn unpark_with_work(&self) -> bool {
        let mut s = self.inbox.lock();
        let woken = s.parked == Parked::Uncounted && s.has_work();
        if woken {
            s.parked.wake(&self.wake_fd);
        }
        woken
    }

    /// Wakes the thread if it is parked uncounted, to re-check for a
    /// deadlock.
    fn unpark(&self) {
        let mut s = self.inbox.lock();
        if s.parked == Parked::Uncounted {
            s.parked.wake(&self.wake_fd);
        }
    }
}

/// Releases what a hand-off owns.
///
/// # Safety
/// The hand-off's references must be owned.
pub(crate) unsafe fn drop_hand_off(t: *mut Tasklet, what: HandOff) {
    if let HandOff::Throw(bomb) = what {
        // SAFETY: the hand-off owns the bomb.
        unsafe { xdecref(bomb) };
    }
    // SAFETY: the hand-off owns a reference to the tasklet.
    unsafe { xdecref(t.cast()) };
}

struct Registry {
    initial: Option<c_ulong>,
    live: Vec<&'static ThreadShared>,
    /// Threads that ended: their tasklets may still point to them.
    ended: Vec<&'static ThreadShared>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    initial: None,
    live: Vec::new(),
    ended: Vec::new(),
});

/// How long an idle thread spins on its inbox before it sleeps, at first
/// and at the least and the most (see `ThreadShared::spin`).
pub(crate) const SPIN_START_NS: i64 = 20_000;
const SPIN_MIN_NS: i64 = 2_000;
const SPIN_MAX_NS: i64 = 200_000;
/// Inbox checks between two reads of the clock while spinning.
const SPIN_ROUND: u32 = 64;

/// Registered threads that have not ended.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Registered threads that are not parked (SPEC §6.4: a thread that could
/// still hand something to a parked one).
static AWAKE: AtomicUsize = AtomicUsize::new(0);

static UNCOLLECTABLE: AtomicUsize = AtomicUsize::new(0);

/// Every thread ever registered, newest first (see `ThreadShared::older`).
static ALL: AtomicPtr<ThreadShared> = AtomicPtr::new(null_mut());

/// Registers the calling thread: its shared face, counted awake. The first
/// thread ever registered is the initial thread.
pub(crate) fn register(thread_id: c_ulong) -> &'static ThreadShared {
    let mut shared = Box::new(ThreadShared::new(thread_id, false));
    (shared.stack_low, shared.stack_high) = own_stack();
    let mut r = REGISTRY.lock();
    shared.is_initial = *r.initial.get_or_insert(thread_id) == thread_id;
    // Linked under the registry lock: ALL has one writer at a time.
    shared.older = ALL.load(Ordering::Relaxed);
    let shared: &'static ThreadShared = Box::leak(shared);
    ALL.store(
        shared as *const ThreadShared as *mut ThreadShared,
        Ordering::Release,
    );
    r.live.push(shared);
    LIVE.fetch_add(1, Ordering::Relaxed);
    AWAKE.fetch_add(1, Ordering::AcqRel);
    shared
}

/// The calling thread's own stack, `(low, high)`, or zeros when unknown.
fn own_stack() -> (usize, usize) {
    // SAFETY: pthread attributes of the calling thread, initialised by
    // pthread_getattr_np and destroyed after use.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return (0, 0);
        }
        let mut addr = null_mut();
        let mut size = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok {
            (addr as usize, addr as usize + size)
        } else {
            (0, 0)
        }
    }
}

/// If `addr` lies within `gap` bytes below the calling thread's own stack,
/// the overflow of its main tasklet: `(thread id, stack size)`. Safe to
/// call from a signal handler (no lock, no allocation).
pub(crate) fn native_stack_overflow(addr: usize, gap: usize) -> Option<(c_ulong, usize)> {
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as c_ulong;
    let mut t = ALL.load(Ordering::Acquire);
    while !t.is_null() {
        // SAFETY: registered thread states are never freed, and a linked
        // one is fully written.
        let s = unsafe { &*t };
        if s.thread_id == me && !s.ended() {
            let below = s.stack_low.wrapping_sub(addr);
            return (s.stack_low != 0 && below > 0 && below <= gap)
                .then_some((me, s.stack_high - s.stack_low));
        }
        t = s.older as *mut ThreadShared;
    }
    None
}

/// Takes an ended thread out of the registry. If it was the last one
/// awake, the parked threads are deadlocked: each is woken to find out.
pub(crate) fn retire(shared: &'static ThreadShared) {
    let mut r = REGISTRY.lock();
    r.live.retain(|&s| !core::ptr::eq(s, shared));
    r.ended.push(shared);
    LIVE.fetch_sub(1, Ordering::Relaxed);
    if AWAKE.fetch_sub(1, Ordering::AcqRel) == 1 {
        for &other in &r.live {
            other.unpark();
        }
    }
}

/// Wakes one parked thread other than `me` that was handed work without
/// being woken; false when there is none.
fn wake_one_with_work(me: &ThreadShared) -> bool {
    REGISTRY
        .lock()
        .live
        .iter()
        .any(|&other| !core::ptr::eq(other, me) && other.unpark_with_work())
}

/// The shared face of the live thread `thread_id`, if registered.
pub(crate) fn find(thread_id: c_ulong) -> Option<&'static ThreadShared> {
    REGISTRY
        .lock()
        .live
        .iter()
        .copied()
        .find(|s| s.thread_id == thread_id)
}

/// Counts a tasklet that survived its kill and is never freed (SPEC §2.7).
pub(crate) fn count_uncollectable() {
    UNCOLLECTABLE.fetch_add(1, Ordering::Relaxed);
}

/// How many tasklets were left uncollectable.
pub(crate) fn uncollectable() -> usize {
    UNCOLLECTABLE.load(Ordering::Relaxed)
}

/// Applies everything other threads handed over (owner only). The
/// references the hand-offs give up are released later, by the current
/// tasklet's next call into the runtime ([`Ts::release_later`]): a drain
/// runs inside switches, where a tasklet's deallocation (which kills a
/// suspended one, SPEC §2.7) must not run.
///
/// # Safety
/// `ts` is the calling thread's state.
pub(crate) unsafe fn drain(ts: Ts) {
    let (items, forgotten) = ts.shared().take();
    for (t, what) in items {
        // SAFETY: each hand-off owns a reference to a tasklet of this thread.
        unsafe { apply(ts, t, what) };
    }
    for fd in forgotten {
        // SAFETY: our own state.
        unsafe { super::fds::forget_here(ts, fd) };
    }
}

/// `PyStackless_ForgetFd` for the other threads: each live thread other
/// than `me` whose tasklets wait on fds is asked to wake its waiters on
/// `fd`. A thread that begins a wait on `fd` while this runs may miss the
/// request, as any wait that races with the fd's `close` may.
pub(crate) fn forget_elsewhere(me: &ThreadShared, fd: c_int) {
    // A snapshot: the registry lock is never held while an inbox is
    // locked here.
    let others: Vec<&'static ThreadShared> = REGISTRY
        .lock()
        .live
        .iter()
        .copied()
        .filter(|&s| !core::ptr::eq(s, me) && s.waits_on_fds.load(Ordering::Relaxed))
        .collect();
    for other in others {
        let mut g = other.lock();
        if !g.closed() {
            g.push_forgotten(fd);
        }
    }
}

/// Applies one hand-off if its tasklet is still in the state it expects
/// (see [`HandOff`]), else drops it as stale. The hand-off's reference to
/// the tasklet moves into the ring when the tasklet is linked.
///
/// # Safety
/// `t` must be a tasklet of `ts`'s thread, the reference owned.
pub(crate) unsafe fn apply(ts: Ts, t: *mut Tasklet, what: HandOff) {
    // SAFETY: per the contract; the owner's fields of its own tasklet.
    unsafe {
        let s = tasklet::state(t);
        let request = what.is_request();
        if !ts.is(s.thread()) {
            // Rebound to another thread since it was asked: stale.
            if request {
                (*t).requests.done();
            }
            if let HandOff::Throw(b) = what {
                decref(b);
            }
            ts.release_later(t.cast());
            return;
        }
        let linked = match what {
            HandOff::Ready => {
                debug_assert_eq!(s.kind(), Kind::Handed);
                // A partner or a kill ended a timed wait: off its timer.
                timers::disarm(ts, t);
                tasklet::set_state(t, s.with_kind(Kind::Runnable));
                ts.link(t);
                true
            }
            HandOff::Insert => {
                let ok = s.is(Kind::Paused) && switch::claim(t, s, Kind::Runnable);
                if ok {
                    ts.link(t);
                }
                ok
            }
            HandOff::RunNext => run_next(ts, t, s),
            HandOff::Remove => {
                if s.is(Kind::Runnable) && t != ts.head() {
                    ts.unlink(t);
                    tasklet::set_state(t, s.with_kind(Kind::Paused));
                    ts.release_later(t.cast());
                }
                false
            }
            HandOff::Throw(b) => {
                throw(ts, t, b);
                false
            }
        };
        if request {
            (*t).requests.done();
        }
        if !linked {
            ts.release_later(t.cast());
        }
    }
}

/// `Run` from another thread: `t` runs next (SPEC §6.3). Returns whether
/// the hand-off's reference moved into the ring.
///
/// # Safety
/// As [`apply`].
unsafe fn run_next(ts: Ts, t: *mut Tasklet, s: tasklet::State) -> bool {
    // SAFETY: per the contract.
    unsafe {
        match s.kind() {
            Kind::Paused if switch::claim(t, s, Kind::Runnable) => {}
            Kind::Runnable if t != ts.head() => {
                // Moves: the ring's reference is given up instead of the
                // hand-off's (both are owned, it is not the last one).
                ts.unlink(t);
                decref(t.cast());
            }
            _ => return false,
        }
        let head = ts.head();
        if head.is_null() {
            ts.link(t);
        } else {
            ts.link_after(head, t);
        }
        true
    }
}

/// A kill or throw from another thread: the bomb (owned) is raised in `t`
/// when it runs, or at its next switching call if it is running or holds a
/// value a channel delivered.
///
/// # Safety
/// As [`apply`].
unsafe fn throw(ts: Ts, t: *mut Tasklet, b: *mut PyObject) {
    // SAFETY: per the contract.
    unsafe {
        match tasklet::state(t).kind() {
            Kind::Idle => decref(b),
            _ if t == ts.head() && !ts.main().is_null() => {
                xdecref(core::mem::replace(&mut (*t).pending_bomb, b));
            }
            // It blocked after the throw was handed over: unblocked now (the
            // queue's reference moves into the ring), unless a partner took
            // it first (then it got its value and the bomb waits).
            Kind::BlockedSend | Kind::BlockedRecv if channel::unblock(t, Kind::Runnable) => {
                timers::disarm(ts, t);
                ts.link(t);
                tasklet::set_tempval(t, b);
            }
            Kind::Sleeping => {
                timers::wake(ts, t);
                tasklet::set_tempval(t, b);
            }
            _ => {
                // A `Handed` tasklet's fields are its inbox lock's until
                // its `Ready` is applied (see `Tasklet`).
                let inbox = ts.shared().lock();
                let displaced = give_bomb(t, b, true);
                drop(inbox);
                xdecref(displaced);
            }
        }
    }
}

/// Hands `t`, a tasklet of another thread, a request (`Insert`, `RunNext`,
/// `Remove`, or a `Throw`, followed by an `Insert` for a paused one). The
/// caller's reference to `t` moves into the hand-off. Fails, handing the
/// request back with the reference, when that thread ended.
///
/// # Safety
/// `t` must be a live tasklet of another thread; the reference owned.
pub(crate) unsafe fn request(t: *mut Tasklet, what: HandOff, wake: bool) -> Result<(), HandOff> {
    // SAFETY: per the contract.
    unsafe {
        let mut g = tasklet::state(t).thread().lock();
        if g.closed() {
            return Err(what);
        }
        let insert = match what {
            HandOff::Throw(_) => tasklet::state(t).is(Kind::Paused),
            _ => false,
        };
        match what {
            HandOff::Insert | HandOff::RunNext => (*t).requests.add(true),
            HandOff::Remove => (*t).requests.add(false),
            _ => {}
        }
        g.push(t, what, wake);
        if insert {
            (*t).requests.add(true);
            object::incref(t.cast());
            g.push(t, HandOff::Insert, wake);
        }
    }
    Ok(())
}

/// Threads reading another thread's published `main`/`current`
/// ([`snapshot`]): while there are any, tasklet memory is not given back
/// to the allocator (a freed tasklet goes to [`DEFERRED`]), so a reader may
/// look at the count of a tasklet that died under its eyes.
static READERS: AtomicUsize = AtomicUsize::new(0);

/// Tasklet objects freed while a snapshot was being taken.
static DEFERRED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// `(main, current, runcount)` of a thread as it published them, with new
/// references to the tasklets (NULL for none; `current` is NULL when the
/// run count is 0).
pub(crate) fn snapshot(shared: &ThreadShared) -> (*mut Tasklet, *mut Tasklet, c_int) {
    READERS.fetch_add(1, Ordering::SeqCst);
    // Pairs with the fence in `free_tasklet`: either that free sees this
    // reader, or this reader sees the slot that no longer names the freed
    // tasklet.
    core::sync::atomic::fence(Ordering::SeqCst);
    let main = take_published(&shared.main);
    let runcount = shared.runcount.load(Ordering::Relaxed);
    let current = if runcount == 0 || main.is_null() {
        null_mut()
    } else {
        take_published(&shared.current)
    };
    if READERS.fetch_sub(1, Ordering::SeqCst) == 1 {
        for op in core::mem::take(&mut *DEFERRED.lock()) {
            // SAFETY: deferred objects are freed tasklets nobody references.
            unsafe { crate::object::typeobj::free_object(op as *mut PyObject) };
        }
    }
    (main, current, runcount)
}

/// A new reference to the tasklet a published slot names, or NULL.
fn take_published(slot: &AtomicPtr<Tasklet>) -> *mut Tasklet {
    loop {
        let t = slot.load(Ordering::Acquire);
        if t.is_null() {
            return t;
        }
        // SAFETY: while this thread counts in READERS, the memory of a
        // tasklet the slot named stays a tasklet object (see READERS).
        unsafe {
            if object::try_incref(t.cast()) {
                if slot.load(Ordering::Acquire) == t {
                    return t;
                }
                decref(t.cast());
            }
        }
        std::thread::yield_now();
    }
}

/// Gives the memory of a dead tasklet object back, unless a snapshot is
/// being taken (then it is freed when the last one ends).
///
/// # Safety
/// `op` must be a deallocated tasklet that nobody references.
pub(crate) unsafe fn free_tasklet(op: *mut PyObject) {
    core::sync::atomic::fence(Ordering::SeqCst);
    if READERS.load(Ordering::Relaxed) == 0 {
        // SAFETY: per the contract.
        unsafe { crate::object::typeobj::free_object(op) };
    } else {
        DEFERRED.lock().push(op as usize);
    }
}

/// `PyStackless_GetThreadInfo(thread_id)`: `(main or None, current or
/// None, runcount)` of the thread (-1: the calling one).
pub(crate) fn thread_info(thread_id: c_long) -> PyResult<*mut PyObject> {
    let shared = if thread_id == -1 {
        Ts::get().shared()
    } else {
        match find(thread_id as c_ulong).filter(|_| thread_id != 0) {
            Some(shared) => shared,
            None => return Err(errors::runtime_error(msg::THREAD_NOT_FOUND)),
        }
    };
    let (main, current, runcount) = snapshot(shared);
    let or_none = |t: *mut Tasklet| if t.is_null() { none::none() } else { t.cast() };
    // SAFETY: the snapshot holds references to both tasklets.
    unsafe {
        let count = object::long::from_i128(runcount.into());
        let r = if count.is_null() {
            Err(Raised)
        } else {
            let r = tuple::from_borrowed(&[or_none(main), or_none(current), count]);
            decref(count);
            r
        };
        xdecref(main.cast());
        xdecref(current.cast());
        r
    }
}
