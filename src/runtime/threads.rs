//! Threads: the registry of threads that use the runtime, each thread's
//! inbox through which other threads hand it tasklets, and sleeping with
//! deadlock detection (SPEC §6, DESIGN.md "Threads").
//!
//! A thread's ring is touched only by its owner. Another thread that makes
//! one of its tasklets runnable (a channel rendezvous, `Insert`, `Run`, a
//! kill) pushes it into the owner's inbox and wakes the owner if it sleeps;
//! the owner drains the inbox at its next scheduling point, at the cost of
//! one plain load when it is empty. Locks: a channel's lock may be held
//! while taking an inbox lock, never the other way round; the liveness lock
//! is taken only on the way to sleep and at thread exit.

use super::scheduler::ThreadState;
use super::tasklet::Tasklet;
use super::tsan;
use crate::object::{xdecref, PyObject};
use core::ffi::c_ulong;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use parking_lot::{Condvar, Mutex};

/// What another thread asks the owner to do with one of its tasklets; the
/// hand-over owns a reference to the tasklet.
pub(crate) enum HandOff {
    /// Append it to the ring (it was inserted or its partner arrived).
    Insert,
    /// Run it next (`PyTasklet_Run` from another thread).
    RunNext,
    /// Raise the bomb (owned) in it when it runs (kill, throw).
    Throw(*mut PyObject),
    /// Take it out of the ring (`PyTasklet_Remove` from another thread).
    Remove,
}

struct InboxState {
    items: Vec<(*mut Tasklet, HandOff)>,
    /// The thread ended: nothing more is accepted.
    closed: bool,
    /// Wake up and re-check for a deadlock (another thread ended).
    recheck: bool,
}

/// A thread's inbox.
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    pending: AtomicBool,
    wake: Condvar,
    /// The owner sleeps in [`sleep`] (changed under the registry's lock).
    asleep: AtomicBool,
}

// SAFETY: the raw pointers in the inbox are only used under its lock or by
// the owner thread after it took them out.
unsafe impl Send for InboxState {}

/// The inbox's lock, with the TSan annotations of its critical section.
struct Locked<'a> {
    guard: parking_lot::MutexGuard<'a, InboxState>,
    inbox: &'a Inbox,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        tsan::release(self.inbox);
    }
}

impl core::ops::Deref for Locked<'_> {
    type Target = InboxState;
    fn deref(&self) -> &InboxState {
        &self.guard
    }
}

impl core::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut InboxState {
        &mut self.guard
    }
}

impl Inbox {
    fn lock(&self) -> Locked<'_> {
        let guard = self.state.lock();
        tsan::acquire(self);
        Locked { guard, inbox: self }
    }

    /// An empty, open inbox.
    pub(crate) fn new() -> Inbox {
        Inbox {
            state: Mutex::new(InboxState {
                items: Vec::new(),
                closed: false,
                recheck: false,
            }),
            pending: AtomicBool::new(false),
            wake: Condvar::new(),
            asleep: AtomicBool::new(false),
        }
    }

    /// Whether hand-overs wait to be drained: one plain load.
    #[inline(always)]
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Hands `t` over (the caller's reference moves in) and wakes the owner
    /// if `wake`. Fails, returning the hand-over, when the thread ended.
    ///
    /// # Safety
    /// `t` must be a live tasklet of this inbox's thread.
    pub(crate) unsafe fn push(
        &self,
        t: *mut Tasklet,
        what: HandOff,
        wake: bool,
    ) -> Result<(), HandOff> {
        let mut s = self.lock();
        if s.closed {
            return Err(what);
        }
        if matches!(what, HandOff::Remove) {
            (*t).remove_pending.store(true, Ordering::Relaxed);
        } else {
            (*t).in_inbox.store(true, Ordering::Relaxed);
        }
        s.items.push((t, what));
        self.pending.store(true, Ordering::Release);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Takes everything handed over (owner only).
    pub(crate) fn take(&self) -> Vec<(*mut Tasklet, HandOff)> {
        let mut s = self.lock();
        self.pending.store(false, Ordering::Relaxed);
        core::mem::take(&mut s.items)
    }

    /// Closes the inbox at thread exit and returns what is still in it.
    pub(crate) fn close(&self) -> Vec<(*mut Tasklet, HandOff)> {
        let mut s = self.lock();
        s.closed = true;
        self.pending.store(false, Ordering::Relaxed);
        core::mem::take(&mut s.items)
    }

    fn request_recheck(&self) {
        let mut s = self.lock();
        s.recheck = true;
        self.wake.notify_one();
    }

    /// Blocks until something is handed over or a re-check is requested.
    fn wait(&self) {
        let mut s = self.lock();
        while s.items.is_empty() && !s.recheck {
            tsan::release(self);
            self.wake.wait(&mut s.guard);
            tsan::acquire(self);
        }
        s.recheck = false;
    }
}

/// Releases what a hand-over owns.
///
/// # Safety
/// The hand-over's references must be owned.
pub(crate) unsafe fn drop_hand_off(t: *mut Tasklet, what: HandOff) {
    (*t).in_inbox.store(false, Ordering::Relaxed);
    (*t).remove_pending.store(false, Ordering::Relaxed);
    if let HandOff::Throw(bomb) = what {
        xdecref(bomb);
    }
    xdecref(t.cast());
}

struct Registry {
    initial: Option<c_ulong>,
    live: Vec<(c_ulong, *mut ThreadState)>,
    retired: Vec<*mut ThreadState>,
}

// SAFETY: the registry only stores the pointers; a state is used by its own
// thread, and by others only through its inbox (which is Sync).
unsafe impl Send for Registry {}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    initial: None,
    live: Vec::new(),
    retired: Vec::new(),
});

static UNCOLLECTABLE: AtomicUsize = AtomicUsize::new(0);

/// Records the first thread that initialises the runtime; returns whether
/// `thread_id` is that thread.
pub(crate) fn claim_initial(thread_id: c_ulong) -> bool {
    *REGISTRY.lock().initial.get_or_insert(thread_id) == thread_id
}

/// Registers a new scheduler state.
pub(crate) fn register(thread_id: c_ulong, ts: *mut ThreadState) {
    REGISTRY.lock().live.push((thread_id, ts));
}

/// Moves an ended thread's state out of the live list (it is kept, never
/// freed) and wakes the sleeping threads: they may be deadlocked now.
pub(crate) fn retire(ts: *mut ThreadState) {
    let mut r = REGISTRY.lock();
    r.live.retain(|&(_, s)| s != ts);
    r.retired.push(ts);
    for &(_, other) in &r.live {
        // SAFETY: registered states are never freed; the inbox is Sync.
        unsafe { (*other).inbox.request_recheck() };
    }
}

/// The state of the live thread `thread_id`, if registered.
pub(crate) fn find(thread_id: c_ulong) -> Option<*mut ThreadState> {
    REGISTRY
        .lock()
        .live
        .iter()
        .find(|&&(id, _)| id == thread_id)
        .map(|&(_, ts)| ts)
}

/// SPEC §3.3 case 3: puts the calling thread to sleep until another thread
/// hands it a tasklet (or ends). Returns false at once when no other thread
/// is awake to do that: the caller is deadlocked.
///
/// # Safety
/// `ts` must be the calling thread's own state.
pub(crate) unsafe fn sleep(ts: *mut ThreadState) -> bool {
    {
        let r = REGISTRY.lock();
        if (*ts).inbox.pending() {
            return true;
        }
        // A sleeper that was handed something is as good as awake.
        let awake = r
            .live
            .iter()
            .filter(|&&(_, o)| {
                o != ts && (!(*o).inbox.asleep.load(Ordering::Relaxed) || (*o).inbox.pending())
            })
            .count();
        if awake == 0 {
            return false;
        }
        (*ts).inbox.asleep.store(true, Ordering::Relaxed);
    }
    (*ts).inbox.wait();
    let _r = REGISTRY.lock();
    (*ts).inbox.asleep.store(false, Ordering::Relaxed);
    true
}

/// Counts a tasklet that survived its kill and is never freed (SPEC §2.7).
pub(crate) fn count_uncollectable() {
    UNCOLLECTABLE.fetch_add(1, Ordering::Relaxed);
}

/// How many tasklets were left uncollectable.
pub(crate) fn uncollectable() -> usize {
    UNCOLLECTABLE.load(Ordering::Relaxed)
}
