//! Time (EXTENSIONS.md §1-3, §5): the clock, each thread's timers, and what
//! a timer does when it fires.
//!
//! A thread's timers are the deadlines of its sleepers and of its tasklets
//! blocked in a channel operation with a deadline, in a heap ordered by
//! (deadline, order of setting): equal deadlines fire in the order they
//! were set. Each tasklet knows its timer's slot (`Tasklet::timer`): a
//! timer is set in O(log n) and cancelled in O(1) amortized, without
//! allocation once the heap has grown (see [`Timers`]). The heap, and
//! every tasklet's `timer`, belong to the thread: other threads never
//! touch them (a partner or a kill from another thread hands the tasklet
//! over, and the owner cancels its timer when it applies the hand-off).
//!
//! A timer owns a reference to its tasklet. Whatever ends the wait first
//! wins: the owner cancels the timer when it makes the tasklet runnable by
//! another path (a kill, a partner), and the call that waited cancels it
//! when it resumes in any case. A timer that fires finds its tasklet still
//! waiting (then it wakes it) or not (then it only drops its reference).
//! For a channel operation the channel's lock decides between a partner
//! and the deadline: exactly one of them takes the tasklet out of the
//! queue.

use super::bomb;
use super::channel;
use super::messages as msg;
use super::tasklet::{self, Kind, Tasklet};
use super::thread_state::Ts;
use crate::errors::{self, PyResult};
use crate::object::{self, PyObject};
use core::cell::Cell;

/// The C API's "no deadline".
pub(crate) const NO_DEADLINE: i64 = -1;

/// `PyStackless_Now`: `CLOCK_MONOTONIC` in nanoseconds.
#[inline(always)]
pub(crate) fn now() -> i64 {
    read_clock(libc::CLOCK_MONOTONIC)
}

/// The clock `id` in nanoseconds.
#[inline(always)]
fn read_clock(id: libc::clockid_t) -> i64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write; the monotonic clocks exist
    // on every Linux.
    unsafe { libc::clock_gettime(id, &mut t) };
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: a fifth of the cost of
/// [`now`], behind it by up to a tick.
#[inline(always)]
pub(crate) fn coarse_now() -> i64 {
    read_clock(libc::CLOCK_MONOTONIC_COARSE)
}

/// Whether `deadline` is surely still to come, read from the coarse clock
/// (`CLOCK_MONOTONIC_COARSE`, a fifth of the cost of [`now`]): it lags the
/// precise clock by less than a tick, and [`COARSE_TICKS`] ticks of margin
/// cover that. False means "maybe due": ask [`now`]. A scheduling point
/// checks its timers this way, so that a thread whose deadlines are far
/// pays no clock read per switch; the idle path always reads [`now`].
#[inline(always)]
pub(crate) fn surely_future(deadline: i64) -> bool {
    coarse_now().saturating_add(coarse_margin()) < deadline
}

/// Ticks of the coarse clock that [`surely_future`] allows for its lag.
const COARSE_TICKS: i64 = 2;

/// [`COARSE_TICKS`] ticks of the coarse clock, in ns (read once).
fn coarse_margin() -> i64 {
    static MARGIN: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *MARGIN.get_or_init(|| {
        let mut res = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `res` is a valid timespec to write.
        let ok = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } == 0;
        // Without the resolution, a second: then few checks are skipped.
        let tick = if ok {
            res.tv_sec * 1_000_000_000 + res.tv_nsec
        } else {
            1_000_000_000
        };
        COARSE_TICKS * tick
    })
}

/// Whether `deadline` has passed: the coarse clock first, [`now`] only
/// when it may have.
#[inline(always)]
pub(crate) fn passed(deadline: i64) -> bool {
    !surely_future(deadline) && deadline <= now()
}

/// A deadline from C: `None` for [`NO_DEADLINE`], `ValueError("invalid
/// deadline")` for any other negative value.
pub(crate) fn deadline(value: i64) -> PyResult<Option<i64>> {
    match value {
        NO_DEADLINE => Ok(None),
        d if d < 0 => Err(errors::value_error(msg::INVALID_DEADLINE)),
        d => Ok(Some(d)),
    }
}

/// What [`Timers`] needs of the objects it times: the cell that holds an
/// object's slot in the heap's table of items (the slot + 1; 0 when it
/// has no timer).
pub(crate) trait Timed {
    /// The object's slot.
    ///
    /// # Safety
    /// `p` must point to a live object whose slot the caller owns.
    unsafe fn slot<'a>(p: *mut Self) -> &'a Cell<usize>;
}

impl Timed for Tasklet {
    unsafe fn slot<'a>(p: *mut Tasklet) -> &'a Cell<usize> {
        // SAFETY: per the contract.
        unsafe { &(*p).timer }
    }
}

/// A heap entry: 16 bytes, so that the four children of a node share one
/// cache line. The item lives in the table of slots.
#[derive(Clone, Copy)]
struct Entry {
    deadline: i64,
    /// The order of setting among equal deadlines, compared by wrapping
    /// distance: right while timers of one deadline are set fewer than
    /// 2^31 sets apart.
    seq: u32,
    slot: u32,
}

impl Entry {
    /// Whether `self` fires before `other`.
    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        self.deadline < other.deadline
            || (self.deadline == other.deadline && (self.seq.wrapping_sub(other.seq) as i32) < 0)
    }
}

/// Children per node: a 4-ary heap is half as deep as a binary one, and a
/// node's children share one cache line.
const ARITY: usize = 4;

/// Cancelled entries the heap keeps before it compacts (and at least as
/// many as live ones).
const DEAD_BEFORE_COMPACTING: usize = 64;

/// A 4-ary min-heap of timers by (deadline, order of setting). Each timed
/// object holds a slot in `items`, which holds the object. A cancel only
/// empties the slot: the entry stays in the heap, dead, until it reaches
/// the top or the heap compacts (when the dead outnumber the live), so
/// that no entry ever needs to know its place and a sift moves entries
/// in the heap alone: a million sleeping tasklets are a million cache
/// misses apart, and a sift never touches them. The top entry is always
/// live.
pub(crate) struct Timers<T: Timed> {
    heap: Vec<Entry>,
    /// The item of each slot; NULL while its entry is dead or the slot free.
    items: Vec<*mut T>,
    /// Slots whose entry left the heap.
    free: Vec<u32>,
    /// Dead entries in the heap.
    dead: usize,
    seq: u32,
}

impl<T: Timed> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            heap: Vec::new(),
            items: Vec::new(),
            free: Vec::new(),
            dead: 0,
            seq: 0,
        }
    }
}

impl<T: Timed> Timers<T> {
    /// The earliest deadline, if any.
    pub(crate) fn earliest(&self) -> Option<i64> {
        self.heap.first().map(|e| e.deadline)
    }

    /// Sets a timer for `item` at `deadline`.
    ///
    /// # Safety
    /// `item` must be live, without a timer, and stay live while it has one.
    pub(crate) unsafe fn add(&mut self, item: *mut T, deadline: i64) {
        self.seq = self.seq.wrapping_add(1);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.items[slot as usize] = item;
                slot
            }
            None => {
                self.items.push(item);
                u32::try_from(self.items.len() - 1).expect("fewer than 2^32 timers")
            }
        };
        // SAFETY: per the contract.
        unsafe { T::slot(item) }.set(slot as usize + 1);
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            slot,
        });
        self.sift_up(self.heap.len() - 1);
    }

    /// Cancels the timer of `item`; false when it has none.
    ///
    /// # Safety
    /// `item` must be live.
    pub(crate) unsafe fn cancel(&mut self, item: *mut T) -> bool {
        // SAFETY: per the contract.
        let cell = unsafe { T::slot(item) };
        let slot = cell.get();
        if slot == 0 {
            return false;
        }
        cell.set(0);
        self.items[slot - 1] = core::ptr::null_mut();
        self.dead += 1;
        self.settle();
        true
    }

    /// Removes the earliest timer if its deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: i64) -> Option<*mut T> {
        if self.earliest()? > now {
            return None;
        }
        let slot = self.pop_top();
        let item = core::mem::replace(&mut self.items[slot as usize], core::ptr::null_mut());
        // SAFETY: the top entry is live: its item is live while it has a
        // timer.
        unsafe { T::slot(item) }.set(0);
        self.settle();
        Some(item)
    }

    /// The item of the earliest timer, if any: to prefetch.
    pub(crate) fn first_item(&self) -> Option<*mut T> {
        self.heap.first().map(|e| self.items[e.slot as usize])
    }

    /// Restores the heap's promises after a cancel or a pop: the top entry
    /// live, and no more dead entries than live ones (beyond a few).
    fn settle(&mut self) {
        while self
            .heap
            .first()
            .is_some_and(|e| self.items[e.slot as usize].is_null())
        {
            self.pop_top();
            self.dead -= 1;
        }
        if self.dead > DEAD_BEFORE_COMPACTING && 2 * self.dead > self.heap.len() {
            self.compact();
        }
    }

    /// Removes the top entry and frees its slot; returns the slot.
    fn pop_top(&mut self) -> u32 {
        let top = self.heap.swap_remove(0);
        if !self.heap.is_empty() {
            self.sift_down(0);
        }
        self.free.push(top.slot);
        top.slot
    }

    /// Drops every dead entry and rebuilds the heap (in O(n)).
    fn compact(&mut self) {
        let items = &self.items;
        let free = &mut self.free;
        self.heap.retain(|e| {
            let live = !items[e.slot as usize].is_null();
            if !live {
                free.push(e.slot);
            }
            live
        });
        self.dead = 0;
        for i in (0..self.heap.len() / ARITY + 1).rev() {
            if i < self.heap.len() {
                self.sift_down(i);
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let moving = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !moving.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = moving;
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        let moving = self.heap[i];
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            let mut least = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.heap[c].before(&self.heap[least]) {
                    least = c;
                }
            }
            if !self.heap[least].before(&moving) {
                break;
            }
            self.heap[i] = self.heap[least];
            i = least;
        }
        self.heap[i] = moving;
    }
}

/// Sets a timer for `t` at `deadline`; the timer owns a new reference.
///
/// # Safety
/// `t` must be a live tasklet of `ts`'s thread without a timer.
pub(crate) unsafe fn arm(ts: Ts, t: *mut Tasklet, deadline: i64) {
    // SAFETY: per the contract; the reference keeps `t` live.
    unsafe {
        object::incref(t.cast());
        ts.timers_add(t, deadline);
    }
}

/// Cancels the timer of `t`, if it has one, and drops the timer's
/// reference.
///
/// # Safety
/// `t` must be a live tasklet of `ts`'s thread, and the caller must hold
/// another reference to it (the timer's is never the last one here: a
/// release must not run a deallocator inside a switch).
#[inline(always)]
pub(crate) unsafe fn disarm(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract; the owner's field.
    if unsafe { (*t).timer.get() } != 0 {
        // SAFETY: as above.
        unsafe { disarm_slow(ts, t) };
    }
}

/// # Safety
/// As [`disarm`].
#[inline(never)]
unsafe fn disarm_slow(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract: not the last reference.
    unsafe {
        if ts.timers_cancel(t) {
            object::decref(t.cast());
        }
    }
}

/// Wakes the sleeper `t` (state `Sleeping`): off its timer if it still has
/// one, appended to the runnables. Its sleep's reference moves into the
/// ring.
///
/// # Safety
/// `t` must be a sleeping tasklet of `ts`'s thread.
pub(crate) unsafe fn wake(ts: Ts, t: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        disarm(ts, t);
        tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Runnable));
        ts.link(t);
    }
}

/// Fires every timer due at `now`, earliest first: a sleeper becomes
/// runnable; a tasklet still blocked in its channel operation leaves the
/// queue (its balance as if it never blocked, no channel callback) and
/// becomes runnable with `TimeoutError("timed out")` to raise; any other
/// tasklet's wait already ended. Runs inside switches: what it releases is
/// released later.
///
/// # Safety
/// `ts` is the calling thread's state.
pub(crate) unsafe fn fire_due(ts: Ts, now: i64) {
    while let Some(t) = ts.timers_pop_due(now) {
        if let Some(next) = ts.timers_first_item() {
            // The next one is likely due too: its miss overlaps this work.
            super::prefetch(next.cast());
        }
        // SAFETY: the timer's reference keeps `t` live; it is ours.
        unsafe {
            match tasklet::state(t).kind() {
                Kind::Sleeping => wake(ts, t),
                Kind::BlockedSend | Kind::BlockedRecv if channel::unblock(t, Kind::Runnable) => {
                    // The queue's reference moves into the ring.
                    let raised = timed_out();
                    let left = core::mem::replace(&mut (*t).tempval, raised);
                    (*t).delivered = tasklet::Delivery::None;
                    ts.release_later(left);
                    ts.link(t);
                }
                _ => {}
            }
            ts.release_later(t.cast());
        }
    }
}

/// The bomb of a timed-out channel operation: `TimeoutError("timed out")`,
/// or the `MemoryError` that making it raised. Without memory for either,
/// the process ends with a message: the operation can neither succeed nor
/// fail.
fn timed_out() -> *mut PyObject {
    errors::timed_out();
    bomb::from_error()
        .or_else(|errors::Raised| bomb::from_error())
        .unwrap_or_else(|errors::Raised| super::switch::fatal(msg::NO_MEMORY_FOR_TIMEOUT))
}

#[cfg(test)]
mod tests {
    use super::{Timed, Timers};
    use core::cell::Cell;

    struct Item(Cell<usize>);

    impl Timed for Item {
        unsafe fn slot<'a>(p: *mut Item) -> &'a Cell<usize> {
            // SAFETY: the test's items live until the end of the test.
            unsafe { &(*p).0 }
        }
    }

    fn items(n: usize) -> Vec<Item> {
        (0..n).map(|_| Item(Cell::new(0))).collect()
    }

    /// Timers fire in deadline order; equal deadlines in the order set.
    #[test]
    fn fire_in_deadline_then_set_order() {
        let mut v = items(6);
        let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
        let mut t = Timers::default();
        for (i, d) in [30, 10, 20, 10, 30, 5].into_iter().enumerate() {
            // SAFETY: live items without timers.
            unsafe { t.add(p[i], d) };
        }
        assert_eq!(t.earliest(), Some(5));
        assert!(t.pop_due(4).is_none());
        let mut order = Vec::new();
        while let Some(x) = t.pop_due(100) {
            order.push(p.iter().position(|&q| q == x).unwrap());
        }
        assert_eq!(order, [5, 1, 3, 2, 0, 4]);
        assert!(v.iter().all(|i| i.0.get() == 0));
    }

    /// A cancelled timer never fires; the others keep their order; slots
    /// stay right through every move.
    #[test]
    fn cancel_anywhere_keeps_the_heap() {
        let n = 200;
        let mut v = items(n);
        let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
        let mut t = Timers::default();
        for (i, &item) in p.iter().enumerate() {
            // SAFETY: live items without timers.
            unsafe { t.add(item, ((i * 7919) % 101) as i64) };
        }
        for &item in p.iter().step_by(3) {
            // SAFETY: live items.
            assert!(unsafe { t.cancel(item) });
            // SAFETY: as above.
            assert!(!unsafe { t.cancel(item) });
        }
        let mut last = (i64::MIN, 0);
        let mut fired = 0;
        while let Some(x) = t.pop_due(i64::MAX) {
            let i = p.iter().position(|&q| q == x).unwrap();
            assert_ne!(i % 3, 0, "a cancelled timer fired");
            let key = (((i * 7919) % 101) as i64, i);
            assert!(key > last, "out of order");
            last = key;
            fired += 1;
        }
        assert_eq!(fired, n - n.div_ceil(3));
    }

    /// When most timers are cancelled the heap drops their entries and
    /// rebuilds itself: the rest keep their order, and cancelling again
    /// and setting anew reuse the slots.
    #[test]
    fn compaction_keeps_the_order() {
        let n = 1000;
        let mut v = items(n);
        let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
        let mut t = Timers::default();
        let deadline = |i: usize| ((i * 7919) % 211) as i64;
        for (i, &item) in p.iter().enumerate() {
            // SAFETY: live items without timers.
            unsafe { t.add(item, deadline(i)) };
        }
        for (i, &item) in p.iter().enumerate() {
            if i % 10 != 0 {
                // SAFETY: live items.
                assert!(unsafe { t.cancel(item) });
            }
        }
        assert!(
            t.heap.len() < n / 2,
            "no compaction: {} entries",
            t.heap.len()
        );
        assert_eq!(t.dead, t.heap.len() - n / 10);
        let mut last = (i64::MIN, 0);
        let mut fired = 0;
        while let Some(x) = t.pop_due(i64::MAX) {
            let i = p.iter().position(|&q| q == x).unwrap();
            assert_eq!(i % 10, 0, "a cancelled timer fired");
            let key = (deadline(i), i);
            assert!(key > last, "out of order");
            last = key;
            fired += 1;
        }
        assert_eq!(fired, n / 10);
        assert_eq!((t.heap.len(), t.dead), (0, 0));
        assert_eq!(t.free.len(), t.items.len(), "a slot was lost");
        assert!(v.iter().all(|i| i.0.get() == 0));
    }
}
