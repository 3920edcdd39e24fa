//! The state of a tasklet as every thread may read it: the atomic state
//! word (what it is doing, whether it started, its thread), the requests
//! of other threads, and the predicates of SPEC §2.1 computed from them.

use super::tasklet::Tasklet;
use super::thread_state::Ts;
use super::threads::ThreadShared;
use crate::object::protocol;
use core::ffi::{c_int, c_ulong};
use core::sync::atomic::{AtomicU32, Ordering};

/// What a tasklet is doing, as any thread may ask (SPEC §2.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Nothing to execute: new, bound, unbound or dead.
    Idle = 0,
    /// Alive and in no ring or queue.
    Paused = 1,
    /// In its thread's ring (the current tasklet included).
    Runnable = 2,
    /// Made runnable by another thread and in its thread's inbox: the owner
    /// links it at its next scheduling point.
    Handed = 3,
    /// In a channel queue, sending.
    BlockedSend = 4,
    /// In a channel queue, receiving.
    BlockedRecv = 5,
    /// Out of the ring until its timer fires or it is killed
    /// (EXTENSIONS.md §2): scheduled, but not runnable and on no channel.
    Sleeping = 6,
}

/// The state word: the tasklet's [`Kind`], whether it has started (it has
/// a frame with C state: a coroutine, or main's native stack) and the
/// thread it belongs to, in one atomic so that every predicate reads one
/// consistent snapshot from any thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct State(u64);

impl State {
    const KIND: u64 = 0b0111;
    const STARTED: u64 = 0b1000;
    /// `ThreadShared` is 64-byte aligned: its address keeps the low bits free.
    const THREAD: u64 = !0x3f;

    /// A new state word.
    pub(crate) fn new(thread: &'static ThreadShared, kind: Kind, started: bool) -> State {
        let addr = thread as *const ThreadShared as u64;
        debug_assert_eq!(addr & !Self::THREAD, 0);
        State(addr | kind as u64 | if started { Self::STARTED } else { 0 })
    }

    /// The word's bits, to store.
    pub(crate) fn bits(self) -> u64 {
        self.0
    }

    /// What the tasklet is doing.
    #[inline(always)]
    pub(crate) fn kind(self) -> Kind {
        const KINDS: [Kind; 8] = [
            Kind::Idle,
            Kind::Paused,
            Kind::Runnable,
            Kind::Handed,
            Kind::BlockedSend,
            Kind::BlockedRecv,
            Kind::Sleeping,
            Kind::Idle,
        ];
        KINDS[(self.0 & Self::KIND) as usize]
    }

    /// Whether it is doing `kind` (one compare).
    #[inline(always)]
    pub(crate) fn is(self, kind: Kind) -> bool {
        self.0 & Self::KIND == kind as u64
    }

    /// Whether it has a started frame.
    pub(crate) fn started(self) -> bool {
        self.0 & Self::STARTED != 0
    }

    /// Its thread (which may have ended).
    pub(crate) fn thread(self) -> &'static ThreadShared {
        // SAFETY: the bits come from a `&'static ThreadShared` (`new`), and
        // thread states are never freed.
        unsafe { &*((self.0 & Self::THREAD) as *const ThreadShared) }
    }

    /// The same with another kind.
    pub(crate) fn with_kind(self, kind: Kind) -> State {
        State(self.0 & !Self::KIND | kind as u64)
    }

    /// The same with the started bit set or cleared.
    pub(crate) fn with_started(self, started: bool) -> State {
        State(if started {
            self.0 | Self::STARTED
        } else {
            self.0 & !Self::STARTED
        })
    }

    /// The same, bound to another thread.
    pub(crate) fn with_thread(self, thread: &'static ThreadShared) -> State {
        State::new(thread, self.kind(), self.started())
    }

    /// +1 blocked sending, -1 blocked receiving, else 0.
    #[inline(always)]
    pub(crate) fn blocked(self) -> i8 {
        i8::from(self.is(Kind::BlockedSend)) - i8::from(self.is(Kind::BlockedRecv))
    }

    /// Blocked on a channel or sleeping: a tasklet that waits, which
    /// `Run`, `Insert`, `Remove` and a rebind refuse.
    #[inline(always)]
    pub(crate) fn waits(self) -> bool {
        self.blocked() != 0 || self.is(Kind::Sleeping)
    }

    /// In a ring, a queue, asleep, or on its way into a ring.
    pub(crate) fn in_scheduler(self) -> bool {
        self.0 & Self::KIND > Kind::Paused as u64
    }
}

/// Outstanding `Insert`/`Run`/`Remove` hand-offs of other threads (SPEC
/// §6.3: their effect on `Scheduled` is visible when the call returns, the
/// owner applies them later): a count, and whether the latest one was an
/// insertion or a removal. The count's low bit is `INSERTED`.
pub(crate) struct Requests(AtomicU32);

impl Requests {
    const INSERTED: u32 = 1;
    const ONE: u32 = 2;

    pub(crate) const fn new() -> Requests {
        Requests(AtomicU32::new(0))
    }

    /// Records a request, `insert` or remove (under the owner's inbox lock).
    pub(crate) fn add(&self, insert: bool) {
        let _ = self
            .0
            .fetch_update(Ordering::Release, Ordering::Relaxed, |r| {
                Some((r & !Self::INSERTED) + Self::ONE + u32::from(insert))
            });
    }

    /// The owner applied (or dropped) one request.
    pub(crate) fn done(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Release, Ordering::Relaxed, |r| {
                let r = r - Self::ONE;
                Some(if r < Self::ONE { 0 } else { r })
            });
    }

    /// `Some(scheduled)` while requests are outstanding, else None.
    fn latest(&self) -> Option<bool> {
        let r = self.0.load(Ordering::Acquire);
        (r >= Self::ONE).then_some(r & Self::INSERTED != 0)
    }
}

/// The state word, as any thread may read it.
///
/// # Safety
/// `t` must be a live tasklet.
#[inline(always)]
pub(crate) unsafe fn state(t: *mut Tasklet) -> State {
    // SAFETY: per the contract.
    State(unsafe { (*t).state.load(Ordering::Acquire) })
}

/// Writes the state word: by the owning thread, or by the holder of the
/// lock of the channel the tasklet is blocked on.
///
/// # Safety
/// `t` must be a live tasklet and the caller its writer (see `Tasklet`).
#[inline(always)]
pub(crate) unsafe fn set_state(t: *mut Tasklet, s: State) {
    // SAFETY: per the contract.
    unsafe { (*t).state.store(s.0, Ordering::Release) }
}

/// Replaces the state word if it is still `old` (transitions out of
/// `Idle`, which another thread may make too).
///
/// # Safety
/// `t` must be a live tasklet.
pub(crate) unsafe fn replace_state(t: *mut Tasklet, old: State, new: State) -> bool {
    // SAFETY: per the contract.
    unsafe {
        (*t).state
            .compare_exchange(old.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Whether the tasklet belongs to a live thread.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn has_thread(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    !unsafe { state(t) }.thread().ended()
}

/// Whether the tasklet belongs to the calling thread (and it is live).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn is_own(t: *mut Tasklet, ts: Ts) -> bool {
    // SAFETY: per the contract.
    core::ptr::eq(unsafe { state(t) }.thread(), ts.shared())
}

/// `is_current`: the current tasklet of its own thread, which is inside.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn is_current(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    let th = unsafe { state(t) }.thread();
    !th.ended()
        && !th.main.load(Ordering::Relaxed).is_null()
        && th.current.load(Ordering::Relaxed) == t
}

/// `is_main`: the main tasklet of its own thread.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn is_main(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    let th = unsafe { state(t) }.thread();
    !th.ended() && th.main.load(Ordering::Relaxed) == t
}

/// `alive` (SPEC §2.1): it has a thread and something to execute.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn alive(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    let s = unsafe { state(t) };
    !s.thread().ended() && s.kind() != Kind::Idle
}

/// `scheduled`: in a ring or a channel queue, or on the way into a ring;
/// outstanding insertions and removals of other threads count as done.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn scheduled(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract. The requests are read first: the owner
    // counts one down only after it applied it to the state word. The
    // current tasklet is in its ring whatever was asked (a removal of it
    // is dropped).
    unsafe {
        (*t).requests.latest().map_or_else(
            || state(t).in_scheduler(),
            |inserted| inserted || is_current(t),
        )
    }
}

/// `paused`: alive and not scheduled.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn paused(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    unsafe { alive(t) && !scheduled(t) }
}

/// +1 blocked sending, -1 receiving, else 0.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn blocked(t: *mut Tasklet) -> i8 {
    // SAFETY: per the contract.
    unsafe { state(t) }.blocked()
}

/// Whether the tasklet is suspended with C state (a started frame).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn has_c_stack(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    unsafe { state(t).started() && !is_current(t) }
}

/// The nesting level (SPEC §9.3).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn nesting_level(t: *mut Tasklet) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        if is_current(t) {
            state(t).thread().nesting_level.load(Ordering::Relaxed)
        } else if has_c_stack(t) {
            (*t).nesting_level.load(Ordering::Relaxed) + 1
        } else {
            0
        }
    }
}

/// The recursion depth (SPEC §9.5): live for the calling thread's current
/// tasklet, as saved at its last switch otherwise.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn recursion_depth(t: *mut Tasklet) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        if Ts::existing().is_some_and(|ts| is_own(t, ts)) && is_current(t) {
            protocol::recursion_depth()
        } else {
            (*t).recursion_depth.load(Ordering::Relaxed)
        }
    }
}

/// The thread id of the tasklet's thread, or `-1` (as unsigned) when none.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn thread_id(t: *mut Tasklet) -> c_ulong {
    // SAFETY: per the contract.
    let th = unsafe { state(t) }.thread();
    if th.ended() {
        c_ulong::MAX
    } else {
        th.thread_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_thread() -> &'static ThreadShared {
        super::super::threads::register(424242)
    }

    #[test]
    fn the_state_word_packs_kind_started_and_thread() {
        let th = a_thread();
        let s = State::new(th, Kind::Runnable, false);
        assert_eq!(s.kind(), Kind::Runnable);
        assert!(!s.started());
        assert!(core::ptr::eq(s.thread(), th));
        let b = s.with_kind(Kind::BlockedRecv).with_started(true);
        assert_eq!(b.kind(), Kind::BlockedRecv);
        assert_eq!(b.blocked(), -1);
        assert!(b.started());
        assert!(core::ptr::eq(b.thread(), th));
        assert_eq!(b.with_kind(Kind::BlockedSend).blocked(), 1);
        assert!(b.in_scheduler());
        assert!(!b.with_kind(Kind::Paused).in_scheduler());
        assert!(!b.with_kind(Kind::Idle).in_scheduler());
        assert!(b.with_kind(Kind::Handed).in_scheduler());
        let other = a_thread();
        let moved = b.with_thread(other);
        assert!(core::ptr::eq(moved.thread(), other));
        assert_eq!(moved.kind(), Kind::BlockedRecv);
        assert!(moved.started());
        super::super::threads::retire(th);
        super::super::threads::retire(other);
    }

    #[test]
    fn the_latest_request_decides_until_all_are_applied() {
        let r = Requests::new();
        assert_eq!(r.latest(), None);
        r.add(true);
        assert_eq!(r.latest(), Some(true));
        r.add(false);
        assert_eq!(r.latest(), Some(false));
        r.add(true);
        assert_eq!(r.latest(), Some(true));
        r.done();
        r.done();
        assert_eq!(r.latest(), Some(true));
        r.done();
        assert_eq!(r.latest(), None);
    }
}
