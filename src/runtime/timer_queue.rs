//! A thread's timers, ordered by (deadline, order of setting): the data
//! structure alone, without tasklets or clocks (those are `timers.rs`).
//!
//! A million sleeping tasklets fire in deadline order about a microsecond
//! apart, so that popping a timer must not miss the cache more than once. A
//! heap of a million entries misses in every one of its lower levels, so
//! most timers wait in buckets instead, about a millisecond of deadlines
//! each, and a bucket is sorted only when its turn comes: then its timers
//! pop in sequence, and the tasklets of the next ones can be prefetched.
//!
//! Where an entry waits:
//! - `pending`: the last timer set, until the next one is set: a timer
//!   cancelled soon after it was set (a timed channel operation's that a
//!   partner beats) is never filed;
//! - `due`: the bucket whose turn came last, sorted, the earliest last;
//! - `wheel`: the next [`BUCKETS`] buckets from `cursor` (the bucket after
//!   `due`'s), each unsorted in the slot of its index modulo [`BUCKETS`],
//!   in chunks of a page that any bucket takes from a common pool
//!   ([`Buckets`]);
//! - `heap`: the rest, in a 4-ary heap: a timer set for a bucket whose turn
//!   has come (usually due at once), or beyond the wheel (moved into it
//!   when a later turn brings it within reach).
//!
//! The earliest timer is the pending one, `due`'s last entry, or the
//! heap's top; when `due` is empty the wheel's earliest (`wheel_first`,
//! kept as timers are filed) stands for `due`'s. A cancel only clears the
//! timer's bit in `live`: its entry stays, dead, until it comes first, its
//! bucket is sorted or left behind by a rewind, or dead entries outnumber
//! live ones (then all are dropped at once). Entries carry their item, so
//! that a pop reads the entry and the bit and nothing else; a dead entry's
//! item is never read (it may be gone).

use core::cell::Cell;

/// What [`TimerQueue`] needs of the objects it times: the cell that holds
/// an object's slot (the slot + 1; 0 while it has no timer).
pub(crate) trait Timed {
    /// The object's slot.
    ///
    /// # Safety
    /// `p` must point to a live object whose slot the caller owns.
    unsafe fn slot<'a>(p: *mut Self) -> &'a Cell<usize>;
}

/// log2 of a bucket's width in ns: about a millisecond.
const BUCKET_SHIFT: u32 = 20;

/// Buckets in the wheel: deadlines up to about 2.1 s after the earliest.
const BUCKETS: usize = 2048;

/// Dead entries kept before they are dropped all at once (and at least as
/// many as live ones).
const DEAD_BEFORE_COMPACTING: usize = 64;

/// A timer: its deadline, its order of setting, its item and its slot.
struct Entry<T> {
    deadline: i64,
    seq: u64,
    item: *mut T,
    slot: u32,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Entry<T> {}

impl<T> Entry<T> {
    /// The order of firing: deadline, then order of setting (never equal).
    #[inline(always)]
    fn key(&self) -> (i64, u64) {
        (self.deadline, self.seq)
    }

    /// Whether `self` fires before `other`.
    #[inline(always)]
    fn before(&self, other: &Entry<T>) -> bool {
        self.key() < other.key()
    }

    /// The index of its bucket.
    #[inline(always)]
    fn bucket(&self) -> i64 {
        self.deadline >> BUCKET_SHIFT
    }
}

/// The slot in the wheel of bucket `index`.
#[inline(always)]
fn wheel_slot(index: i64) -> usize {
    index.rem_euclid(BUCKETS as i64) as usize
}

/// Whether bit `i` of `bits` is set.
#[inline(always)]
fn is_set(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

/// Sets bit `i` of `bits`.
#[inline(always)]
fn set_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

/// Clears bit `i` of `bits`.
#[inline(always)]
fn clear_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] &= !(1 << (i % 64));
}

/// Children per node of [`Heap`].
const ARITY: usize = 4;

/// A 4-ary min-heap of entries.
struct Heap<T>(Vec<Entry<T>>);

impl<T> Heap<T> {
    fn top(&self) -> Option<&Entry<T>> {
        self.0.first()
    }

    fn push(&mut self, e: Entry<T>) {
        self.0.push(e);
        let mut i = self.0.len() - 1;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !e.before(&self.0[parent]) {
                break;
            }
            self.0[i] = self.0[parent];
            i = parent;
        }
        self.0[i] = e;
    }

    fn pop(&mut self) -> Option<Entry<T>> {
        if self.0.is_empty() {
            return None;
        }
        let top = self.0.swap_remove(0);
        if !self.0.is_empty() {
            self.sift_down(0);
        }
        Some(top)
    }

    /// Keeps the entries `keep` accepts and rebuilds the heap (in O(n)).
    fn retain(&mut self, keep: impl FnMut(&Entry<T>) -> bool) {
        self.0.retain(keep);
        for i in (0..self.0.len() / ARITY + 1).rev() {
            if i < self.0.len() {
                self.sift_down(i);
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.0.len();
        let moving = self.0[i];
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            let mut least = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.0[c].before(&self.0[least]) {
                    least = c;
                }
            }
            if !self.0[least].before(&moving) {
                break;
            }
            self.0[i] = self.0[least];
            i = least;
        }
        self.0[i] = moving;
    }
}

/// Entries in a chunk of [`Buckets`]: a page of them (a few in the unit
/// tests, so that their buckets span several chunks).
const CHUNK: usize = if cfg!(test) {
    3
} else {
    4096 / core::mem::size_of::<Entry<()>>()
};

/// No chunk: the end of a list.
const NO_CHUNK: u32 = u32::MAX;

/// A chunk of a bucket's entries: at most [`CHUNK`], in a vector allocated
/// once, and the next chunk of its list.
struct Chunk<T> {
    entries: Vec<Entry<T>>,
    next: u32,
}

/// The wheel's [`BUCKETS`] slots, each a list of chunks, the one being
/// filled first. A slot emptied gives its chunks back to a pool that every
/// slot draws from: once the pool has grown to the most entries ever
/// waiting at once, filing a timer allocates nothing, whatever bucket it
/// goes to. (A vector per slot, doubled as it filled, copied its entries
/// and faulted in half as much memory again as it held, and kept its
/// memory in its own slot: `sleep-1M`'s million timers took 12,500 page
/// faults to file.)
struct Buckets<T> {
    /// Every chunk made, in the list of a slot or in the pool.
    chunks: Vec<Chunk<T>>,
    /// The first chunk of each slot's list, [`NO_CHUNK`] when it has none
    /// (allocated by the first entry).
    heads: Vec<u32>,
    /// The pool: free chunks, linked through `next`.
    free: u32,
}

impl<T> Buckets<T> {
    const EMPTY: Buckets<T> = Buckets {
        chunks: Vec::new(),
        heads: Vec::new(),
        free: NO_CHUNK,
    };

    /// Adds `e` to the entries of `slot`.
    #[inline(always)]
    fn push(&mut self, slot: usize, e: Entry<T>) {
        let head = match self.heads.get(slot) {
            Some(&head) if head != NO_CHUNK && self.chunks[head as usize].entries.len() < CHUNK => {
                head
            }
            _ => self.start_chunk(slot),
        };
        self.chunks[head as usize].entries.push(e);
    }

    /// Links an empty chunk first in the list of `slot` (making the slots
    /// at the first entry), and returns it.
    #[cold]
    #[inline(never)]
    fn start_chunk(&mut self, slot: usize) -> u32 {
        if self.heads.is_empty() {
            self.heads = vec![NO_CHUNK; BUCKETS];
        }
        let chunk = self.take_chunk();
        self.chunks[chunk as usize].next = self.heads[slot];
        self.heads[slot] = chunk;
        chunk
    }

    /// An empty chunk: from the pool, else a new one.
    fn take_chunk(&mut self) -> u32 {
        if self.free != NO_CHUNK {
            let chunk = self.free;
            self.free = self.chunks[chunk as usize].next;
            return chunk;
        }
        self.chunks.push(Chunk {
            entries: Vec::with_capacity(CHUNK),
            next: NO_CHUNK,
        });
        match u32::try_from(self.chunks.len() - 1) {
            Ok(chunk) if chunk != NO_CHUNK => chunk,
            _ => panic!("fewer than 2^32 - 1 chunks"),
        }
    }

    /// Empties `slot`, giving `f` each of its chunks' entries (to take
    /// them all); its chunks go back to the pool.
    fn empty(&mut self, slot: usize, mut f: impl FnMut(&mut Vec<Entry<T>>)) {
        let mut chunk = core::mem::replace(&mut self.heads[slot], NO_CHUNK);
        while chunk != NO_CHUNK {
            let c = &mut self.chunks[chunk as usize];
            f(&mut c.entries);
            c.entries.clear();
            let next = core::mem::replace(&mut c.next, self.free);
            self.free = chunk;
            chunk = next;
        }
    }

    /// Empties `slot` into `into`.
    fn take(&mut self, slot: usize, into: &mut Vec<Entry<T>>) {
        self.empty(slot, |entries| into.extend_from_slice(entries));
    }

    /// Keeps the entries of `slot` that `keep` accepts; returns how many.
    fn retain(&mut self, slot: usize, mut keep: impl FnMut(&Entry<T>) -> bool) -> usize {
        let mut len = 0;
        let mut chunk = self.heads[slot];
        while chunk != NO_CHUNK {
            let c = &mut self.chunks[chunk as usize];
            c.entries.retain(&mut keep);
            len += c.entries.len();
            chunk = c.next;
        }
        if len == 0 {
            self.empty(slot, |_| {});
        }
        len
    }

    /// The entries of `slot`, in no order.
    #[cfg(test)]
    fn entries(&self, slot: usize) -> Vec<Entry<T>> {
        let mut all = Vec::new();
        let mut chunk = self.heads.get(slot).copied().unwrap_or(NO_CHUNK);
        while chunk != NO_CHUNK {
            let c = &self.chunks[chunk as usize];
            all.extend_from_slice(&c.entries);
            chunk = c.next;
        }
        all
    }
}

/// The slots of the timers: which are live, which are free. A slot is
/// taken when a timer is set and free again when its entry leaves the
/// queue; in between it is live until the timer fires or is cancelled,
/// then dead.
#[derive(Default)]
struct Slots {
    /// A bit per slot: set while its timer is filed and live.
    live: Vec<u64>,
    /// Slots ever handed out.
    count: u32,
    /// Slots whose entry left the queue.
    free: Vec<u32>,
    /// Dead entries in the queue.
    dead: usize,
}

impl Slots {
    /// A free slot.
    fn take(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.count = self.count.checked_add(1).expect("fewer than 2^32 timers");
            if self.live.len() * 64 < self.count as usize {
                self.live.push(0);
            }
            self.count - 1
        })
    }

    fn is_live(&self, slot: u32) -> bool {
        is_set(&self.live, slot as usize)
    }

    /// The timer of `slot` is filed, live.
    fn set_live(&mut self, slot: u32) {
        set_bit(&mut self.live, slot as usize);
    }

    /// The filed timer of `slot` is cancelled: its entry stays, dead.
    fn kill(&mut self, slot: u32) {
        clear_bit(&mut self.live, slot as usize);
        self.dead += 1;
    }

    /// The live timer of `slot` fired: its entry left.
    fn fired(&mut self, slot: u32) {
        clear_bit(&mut self.live, slot as usize);
        self.free.push(slot);
    }

    /// The dead entry of `slot` left the queue.
    fn drop_dead(&mut self, slot: u32) {
        self.free.push(slot);
        self.dead -= 1;
    }

    /// Whether `e` stays in the queue: true when live; a dead entry leaves.
    fn keep(&mut self, e: &Entry<impl Sized>) -> bool {
        let live = self.is_live(e.slot);
        if !live {
            self.drop_dead(e.slot);
        }
        live
    }
}

/// Which part holds the earliest timer.
enum Source {
    Pending,
    Due,
    Wheel,
    Heap,
}

/// A thread's timers: set in O(1) (O(log n) for the heap's), cancelled in
/// O(1) amortized, popped in deadline order in O(1) amortized plus a
/// bucket's sort; no allocation once the vectors and the chunk pool have
/// grown to the most timers waiting at once.
pub(crate) struct TimerQueue<T: Timed> {
    /// The current bucket, sorted latest first: every entry in a bucket
    /// before `cursor`.
    due: Vec<Entry<T>>,
    /// [`BUCKETS`] slots: slot `wheel_slot(i)` holds the entries of bucket
    /// `i`, for `i` in `cursor..cursor + BUCKETS`.
    wheel: Buckets<T>,
    /// A bit per slot of `wheel`: set while the slot holds entries.
    occupied: [u64; BUCKETS / 64],
    /// Entries in the wheel, dead ones included.
    wheel_len: usize,
    /// The wheel's first bucket.
    cursor: i64,
    /// While `due` is empty and the wheel is not: the wheel's earliest
    /// entry, live.
    wheel_first: Option<Entry<T>>,
    heap: Heap<T>,
    slots: Slots,
    seq: u64,
    /// The last timer set, not yet filed in a part (its `live` bit not
    /// set): a timer cancelled before the next one is set, as a timed
    /// channel operation's that a partner beats, costs no more.
    pending: Option<Entry<T>>,
}

impl<T: Timed> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue {
            due: Vec::new(),
            wheel: Buckets::EMPTY,
            occupied: [0; BUCKETS / 64],
            wheel_len: 0,
            cursor: 0,
            wheel_first: None,
            heap: Heap(Vec::new()),
            slots: Slots::default(),
            seq: 0,
            pending: None,
        }
    }
}

impl<T: Timed> TimerQueue<T> {
    /// The earliest deadline, if any.
    pub(crate) fn earliest(&self) -> Option<i64> {
        self.first().map(|(e, _)| e.deadline)
    }

    /// Sets a timer for `item` at `deadline` (not negative).
    ///
    /// # Safety
    /// `item` must be live, without a timer, and stay live while it has one.
    pub(crate) unsafe fn add(&mut self, item: *mut T, deadline: i64) {
        debug_assert!(deadline >= 0);
        let slot = self.slots.take();
        // SAFETY: per the contract.
        unsafe { T::slot(item) }.set(slot as usize + 1);
        self.seq += 1;
        let e = Entry {
            deadline,
            seq: self.seq,
            item,
            slot,
        };
        if let Some(last) = self.pending.replace(e) {
            self.insert(last);
        }
    }

    /// Files `e`, a live timer set before, in its part.
    fn insert(&mut self, e: Entry<T>) {
        self.slots.set_live(e.slot);
        let bucket = e.bucket();
        if self.due.is_empty() {
            if self.wheel_len == 0 {
                self.cursor = bucket;
            } else if bucket < self.cursor {
                self.rewind(bucket);
            }
        }
        if (self.cursor..self.cursor + BUCKETS as i64).contains(&bucket) {
            self.wheel_push(e);
            if self.due.is_empty() && !self.wheel_first.is_some_and(|f| f.before(&e)) {
                self.wheel_first = Some(e);
            }
        } else {
            self.heap.push(e);
        }
    }

    /// Cancels the timer of `item`; false when it has none.
    ///
    /// # Safety
    /// `item` must be live.
    pub(crate) unsafe fn cancel(&mut self, item: *mut T) -> bool {
        // SAFETY: per the contract.
        let cell = unsafe { T::slot(item) };
        let Some(slot) = cell.get().checked_sub(1) else {
            return false;
        };
        cell.set(0);
        if self.pending.is_some_and(|e| e.slot as usize == slot) {
            self.pending = None;
            // Never filed: its slot is free at once.
            self.slots.free.push(slot as u32);
            return true;
        }
        self.slots.kill(slot as u32);
        if self.wheel_first.is_some_and(|f| f.slot as usize == slot) {
            self.wheel_first = None;
        }
        self.settle();
        true
    }

    /// Removes the earliest timer if its deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: i64) -> Option<*mut T> {
        let (first, source) = self.first()?;
        if first.deadline > now {
            return None;
        }
        let e = match source {
            Source::Pending => self.pending.take(),
            Source::Due => self.due.pop(),
            Source::Wheel => {
                self.wheel_first = None;
                self.turn();
                self.due.pop()
            }
            Source::Heap => self.heap.pop(),
        };
        debug_assert!(e.is_some_and(|e| e.seq == first.seq));
        // (A pending timer's bit is clear already.)
        self.slots.fired(first.slot);
        // SAFETY: a live entry's item is live.
        unsafe { T::slot(first.item) }.set(0);
        self.settle();
        Some(first.item)
    }

    /// The item of the timer `n` places after the earliest in the current
    /// bucket, or the last one's, if any (maybe dead, never to read): to
    /// prefetch.
    pub(crate) fn upcoming(&self, n: usize) -> Option<*mut T> {
        let i = self.due.len().saturating_sub(1 + n);
        self.due.get(i).map(|e| e.item)
    }

    /// The earliest entry and where it is.
    fn first(&self) -> Option<(Entry<T>, Source)> {
        let near = match self.due.last() {
            Some(e) => Some((*e, Source::Due)),
            None => self.wheel_first.map(|e| (e, Source::Wheel)),
        };
        let filed = match (near, self.heap.top()) {
            (Some(n), Some(h)) if h.before(&n.0) => Some((*h, Source::Heap)),
            (Some(n), _) => Some(n),
            (None, Some(h)) => Some((*h, Source::Heap)),
            (None, None) => None,
        };
        match (filed, self.pending) {
            (Some(f), Some(p)) if p.before(&f.0) => Some((p, Source::Pending)),
            (None, Some(p)) => Some((p, Source::Pending)),
            (filed, _) => filed,
        }
    }

    fn wheel_push(&mut self, e: Entry<T>) {
        let slot = wheel_slot(e.bucket());
        self.wheel.push(slot, e);
        set_bit(&mut self.occupied, slot);
        self.wheel_len += 1;
    }

    /// Empties slot `slot` of the wheel into `due` (empty), keeping only
    /// its live entries.
    fn wheel_take(&mut self, slot: usize) {
        self.wheel.take(slot, &mut self.due);
        clear_bit(&mut self.occupied, slot);
        self.wheel_len -= self.due.len();
        self.due.retain(|e| self.slots.keep(e));
    }

    /// The index of the wheel's first bucket that holds entries (the wheel
    /// must hold some).
    fn next_bucket(&self) -> i64 {
        let start = wheel_slot(self.cursor);
        let words = BUCKETS / 64;
        for i in 0..=words {
            let w = (start / 64 + i) % words;
            let mut bits = self.occupied[w];
            if i == 0 {
                bits &= !0 << (start % 64);
            }
            if bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                return self.cursor + ((slot + BUCKETS - start) % BUCKETS) as i64;
            }
        }
        unreachable!("next_bucket on an empty wheel")
    }

    /// Turns the wheel while `due` is empty: its next bucket, without its
    /// dead entries, becomes `due`, sorted; then the heap's entries that
    /// the wheel now reaches move into it.
    fn turn(&mut self) {
        while self.due.is_empty() && self.wheel_len > 0 {
            let bucket = self.next_bucket();
            self.wheel_take(wheel_slot(bucket));
            self.cursor = bucket + 1;
            self.due
                .sort_unstable_by_key(|e| core::cmp::Reverse(e.key()));
        }
        self.wheel_first = None;
        if self.due.is_empty() {
            return;
        }
        let reach = self.cursor..self.cursor + BUCKETS as i64;
        while self.heap.top().is_some_and(|e| reach.contains(&e.bucket())) {
            let e = self.heap.pop().expect("a top");
            self.wheel_push(e);
        }
    }

    /// Moves the wheel back to start at `bucket` (before `cursor`, with
    /// `due` empty): the live entries it no longer reaches go to the heap,
    /// the dead ones leave.
    fn rewind(&mut self, bucket: i64) {
        let end = self.cursor + BUCKETS as i64;
        let from = (bucket + BUCKETS as i64).max(self.cursor);
        for index in from..end {
            let slot = wheel_slot(index);
            if is_set(&self.occupied, slot) {
                clear_bit(&mut self.occupied, slot);
                let (heap, slots, wheel_len) =
                    (&mut self.heap, &mut self.slots, &mut self.wheel_len);
                self.wheel.empty(slot, |entries| {
                    *wheel_len -= entries.len();
                    // A dead entry leaves (the heap's top must be live).
                    for e in entries.iter() {
                        if slots.keep(e) {
                            heap.push(*e);
                        }
                    }
                });
            }
        }
        self.cursor = bucket;
        if self.wheel_len == 0 {
            self.wheel_first = None;
        }
    }

    /// Restores the queue's promises after a cancel or a pop: the earliest
    /// entry of each part live, `due` filled while the wheel holds entries
    /// (or `wheel_first` known), and no more dead entries than live ones
    /// (beyond a few).
    fn settle(&mut self) {
        loop {
            while self.due.last().is_some_and(|e| !self.slots.is_live(e.slot)) {
                let e = self.due.pop().expect("a last");
                self.slots.drop_dead(e.slot);
            }
            if self.due.is_empty() && self.wheel_len > 0 && self.wheel_first.is_none() {
                self.turn();
                continue;
            }
            break;
        }
        while self.heap.top().is_some_and(|e| !self.slots.is_live(e.slot)) {
            let e = self.heap.pop().expect("a top");
            self.slots.drop_dead(e.slot);
        }
        let len = self.due.len() + self.wheel_len + self.heap.0.len();
        let dead = self.slots.dead;
        if dead > DEAD_BEFORE_COMPACTING && 2 * dead > len {
            self.compact();
        }
    }

    /// Drops every dead entry (in O(n)).
    fn compact(&mut self) {
        let slots = &mut self.slots;
        let mut keep = |e: &Entry<T>| slots.keep(e);
        self.due.retain(&mut keep);
        self.heap.retain(&mut keep);
        self.wheel_len = 0;
        for w in 0..BUCKETS / 64 {
            let mut bits = self.occupied[w];
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let len = self.wheel.retain(slot, &mut keep);
                self.wheel_len += len;
                if len == 0 {
                    clear_bit(&mut self.occupied, slot);
                }
            }
        }
        debug_assert_eq!(self.slots.dead, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::{Timed, TimerQueue, BUCKETS, BUCKET_SHIFT, CHUNK};
    use core::cell::Cell;
    use std::collections::BTreeMap;

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

    const MS: i64 = 1 << BUCKET_SHIFT;

    /// Timers fire in deadline order; equal deadlines in the order set.
    #[test]
    fn fire_in_deadline_then_set_order() {
        let mut v = items(6);
        let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
        let mut t = TimerQueue::default();
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

    /// When most timers are cancelled the queue drops their entries: the
    /// rest keep their order, and the slots are reused.
    #[test]
    fn compaction_keeps_the_order() {
        let n = 1000;
        let mut v = items(n);
        let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
        let mut t = TimerQueue::default();
        let deadline = |i: usize| ((i * 7919) % 211) as i64 * MS / 3;
        for (i, &item) in p.iter().enumerate() {
            // SAFETY: live items without timers.
            unsafe { t.add(item, deadline(i)) };
        }
        for (i, &item) in p.iter().enumerate() {
            if i % 10 != 0 {
                // SAFETY: live items.
                assert!(unsafe { t.cancel(item) });
                // SAFETY: as above.
                assert!(!unsafe { t.cancel(item) });
            }
        }
        let len = filed(&t);
        assert!(len < n / 2, "no compaction: {len} entries");
        assert_eq!(t.slots.dead, len - n / 10);
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
        assert_eq!(
            (t.due.len(), t.wheel_len, t.heap.0.len(), t.slots.dead),
            (0, 0, 0, 0)
        );
        assert_eq!(
            t.slots.free.len(),
            t.slots.count as usize,
            "a slot was lost"
        );
        assert!(v.iter().all(|i| i.0.get() == 0));
    }

    /// Timers within the wheel's reach wait in it: an earlier timer moves
    /// the wheel back (what it no longer reaches goes to the heap), and a
    /// turn brings the heap's timers within reach into the wheel.
    #[test]
    fn the_wheel_holds_what_it_reaches() {
        let mut v = items(4);
        let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
        let mut t = TimerQueue::default();
        let place = |t: &TimerQueue<Item>| {
            let pending = usize::from(t.pending.is_some());
            (t.due.len(), t.wheel_len, t.heap.0.len(), pending)
        };
        let s = 1000 * MS;
        let set = |t: &mut TimerQueue<Item>, i: usize, d: i64| {
            // SAFETY: a live item without a timer.
            unsafe { t.add(p[i], d) }
        };
        set(&mut t, 0, s);
        assert_eq!(place(&t), (0, 0, 0, 1), "the last one set waits");
        set(&mut t, 1, 3 * s);
        set(&mut t, 2, 0);
        assert_eq!(place(&t), (0, 2, 0, 1));
        set(&mut t, 3, s / 2);
        assert_eq!(place(&t), (0, 2, 1, 1), "3 s is beyond the reach from 0");
        assert_eq!(t.pop_due(0), Some(p[2]));
        assert_eq!(place(&t), (1, 1, 0, 1), "the turn to 1 s reaches 3 s");
        assert_eq!(t.pop_due(s / 2), Some(p[3]));
        assert_eq!(t.pop_due(s), Some(p[0]));
        assert_eq!(place(&t), (1, 0, 0, 0));
        assert_eq!(t.pop_due(3 * s), Some(p[1]));
        assert_eq!(place(&t), (0, 0, 0, 0));
    }

    /// A bucket emptied gives its chunks back to the pool, from which any
    /// other bucket fills: timers as many as before, in other buckets,
    /// take no new chunk.
    #[test]
    fn the_buckets_share_their_chunks() {
        let n = 8 * CHUNK;
        let mut v = items(n);
        let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
        let mut t = TimerQueue::default();
        let base = 1 << 40;
        for (buckets, start) in [(4, base), (8, base + 100 * MS)] {
            for (i, &item) in p.iter().enumerate() {
                // SAFETY: a live item without a timer.
                unsafe { t.add(item, start + (i % buckets) as i64 * MS) };
            }
            assert_eq!(
                t.wheel.chunks.len(),
                8,
                "{buckets} buckets of {} entries",
                n / buckets
            );
            check_invariants(&t);
            assert_eq!(core::iter::from_fn(|| t.pop_due(i64::MAX)).count(), n);
            assert_eq!(t.wheel_len, 0);
        }
    }

    /// A rewind drops the dead entries it no longer reaches rather than
    /// move them to the heap, whose top must be live.
    #[test]
    fn a_rewind_drops_dead_entries() {
        let mut v = items(4);
        let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
        let mut t = TimerQueue::default();
        let base = 1 << 40;
        let set = |t: &mut TimerQueue<Item>, i: usize, d: i64| {
            // SAFETY: a live item without a timer.
            unsafe { t.add(p[i], d) }
        };
        set(&mut t, 0, base);
        set(&mut t, 1, base + 2000 * MS);
        set(&mut t, 2, base - 100 * MS);
        // SAFETY: a live item.
        assert!(unsafe { t.cancel(p[1]) });
        assert_eq!((t.wheel_len, t.slots.dead), (2, 1));
        set(&mut t, 3, base + 5 * MS);
        assert_eq!((t.wheel_len, t.heap.0.len(), t.slots.dead), (2, 0, 0));
        check_invariants(&t);
        let order: Vec<_> = core::iter::from_fn(|| t.pop_due(i64::MAX)).collect();
        assert_eq!(order, [p[2], p[0], p[3]]);
        assert_eq!(t.slots.free.len(), t.slots.count as usize);
    }

    /// Entries in the parts (not the pending one), dead ones included.
    fn filed(t: &TimerQueue<Item>) -> usize {
        t.due.len() + t.wheel_len + t.heap.0.len()
    }

    /// Every chunk is in exactly one list, a slot's or the pool; only a
    /// slot's list holds entries, and a slot holds a list only while it
    /// holds entries.
    fn check_chunks(w: &super::Buckets<Item>) {
        let mut seen = vec![false; w.chunks.len()];
        let lists = w.heads.iter().copied().chain([w.free]);
        for (i, head) in lists.enumerate() {
            let pool = i == w.heads.len();
            assert!(
                pool || head == super::NO_CHUNK || !w.entries(i).is_empty(),
                "an empty list"
            );
            let mut chunk = head;
            while chunk != super::NO_CHUNK {
                let twice = core::mem::replace(&mut seen[chunk as usize], true);
                assert!(!twice, "a chunk in two lists");
                let c = &w.chunks[chunk as usize];
                assert!(c.entries.len() <= CHUNK && c.entries.capacity() == CHUNK);
                assert!(!pool || c.entries.is_empty(), "entries in the pool");
                chunk = c.next;
            }
        }
        assert!(seen.iter().all(|&s| s), "a chunk lost");
    }

    /// The queue's promises (see the module doc and [`TimerQueue`]).
    fn check_invariants(t: &TimerQueue<Item>) {
        let reach = t.cursor..t.cursor + BUCKETS as i64;
        assert!(t.due.windows(2).all(|w| w[1].before(&w[0])), "due unsorted");
        assert!(
            t.due.iter().all(|e| e.bucket() < t.cursor),
            "due beyond the cursor"
        );
        let mut len = 0;
        let mut wheel_min: Option<super::Entry<Item>> = None;
        for slot in 0..BUCKETS {
            let bucket = t.wheel.entries(slot);
            assert_eq!(super::is_set(&t.occupied, slot), !bucket.is_empty());
            for e in &bucket {
                assert!(reach.contains(&e.bucket()) && super::wheel_slot(e.bucket()) == slot);
                if wheel_min.is_none_or(|m| e.before(&m)) {
                    wheel_min = Some(*e);
                }
            }
            len += bucket.len();
        }
        assert_eq!(len, t.wheel_len);
        check_chunks(&t.wheel);
        if t.due.is_empty() && t.wheel_len > 0 {
            let first = t.wheel_first.expect("wheel_first known");
            assert_eq!(Some(first.seq), wheel_min.map(|e| e.seq));
            assert!(t.slots.is_live(first.slot));
        } else {
            assert!(t.wheel_first.is_none());
        }
        assert!(t.due.last().is_none_or(|e| t.slots.is_live(e.slot)));
        assert!(t.heap.top().is_none_or(|e| t.slots.is_live(e.slot)));
        assert!(t.pending.is_none_or(|e| !t.slots.is_live(e.slot)));
    }

    /// A deterministic generator for the model test (splitmix64).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Random sets, cancels and pops against a sorted map: every pop is the
    /// map's first, `earliest` always agrees, nothing is lost. Deadlines
    /// fall in the current bucket, the wheel, beyond it, before the
    /// earliest (the wheel rewinds) and in the past; many are equal.
    #[test]
    fn agrees_with_a_sorted_map() {
        for seed in 0..40 {
            let mut rng = Rng(seed);
            let n = 600;
            let mut v = items(n);
            let p: Vec<*mut Item> = v.iter_mut().map(|i| i as *mut Item).collect();
            let mut t = TimerQueue::default();
            let mut model: BTreeMap<(i64, u64), usize> = BTreeMap::new();
            let mut key_of: Vec<Option<(i64, u64)>> = vec![None; n];
            let mut seq = 0;
            let mut last_set = None;
            let mut now: i64 = 1 << 40;
            let wheel = BUCKETS as i64 * MS;
            for _ in 0..6000 {
                match rng.below(10) {
                    0..=4 => {
                        let i = rng.below(n as u64) as usize;
                        if key_of[i].is_some() {
                            continue;
                        }
                        let d = match rng.below(8) {
                            0 => now + rng.below(MS as u64) as i64,
                            1 => now + rng.below(wheel as u64) as i64,
                            2 => now + wheel + rng.below(3 * wheel as u64) as i64,
                            3 => now - rng.below(5 * MS as u64) as i64,
                            4 => now + 10 * MS * rng.below(4) as i64,
                            5 => rng.below(3) as i64,
                            6 => i64::MAX - rng.below(3) as i64,
                            _ => now + rng.below(50_000 * MS as u64) as i64,
                        };
                        seq += 1;
                        // SAFETY: a live item without a timer.
                        unsafe { t.add(p[i], d) };
                        model.insert((d, seq), i);
                        key_of[i] = Some((d, seq));
                        last_set = Some(i);
                    }
                    5 if rng.below(20) == 0 => {
                        // A burst: dead entries outnumber live ones, and
                        // the queue compacts.
                        for i in 0..n {
                            if let Some(k) = key_of[i].filter(|_| rng.below(4) != 0) {
                                // SAFETY: a live item.
                                assert!(unsafe { t.cancel(p[i]) });
                                model.remove(&k);
                                key_of[i] = None;
                            }
                        }
                    }
                    5 | 6 => {
                        // Half the time the last one set (maybe pending).
                        let i = match last_set.filter(|_| rng.below(2) == 0) {
                            Some(i) => i,
                            None => rng.below(n as u64) as usize,
                        };
                        // SAFETY: a live item.
                        let had = unsafe { t.cancel(p[i]) };
                        assert_eq!(had, key_of[i].is_some());
                        if let Some(k) = key_of[i].take() {
                            model.remove(&k);
                        }
                    }
                    _ => {
                        let step = if rng.below(8) == 0 { wheel } else { 2 * MS };
                        now += rng.below(step as u64) as i64;
                        while let Some(x) = t.pop_due(now) {
                            let i = p.iter().position(|&q| q == x).unwrap();
                            let (&k, &j) = model.iter().next().expect("the model has it");
                            assert_eq!((i, key_of[i]), (j, Some(k)), "seed {seed}: out of order");
                            assert!(k.0 <= now);
                            model.remove(&k);
                            key_of[i] = None;
                        }
                        assert!(model.keys().next().is_none_or(|k| k.0 > now));
                    }
                }
                assert_eq!(
                    t.earliest(),
                    model.keys().next().map(|k| k.0),
                    "seed {seed}"
                );
                let len = filed(&t) + usize::from(t.pending.is_some());
                assert_eq!(len - t.slots.dead, model.len(), "seed {seed}");
                check_invariants(&t);
            }
            while let Some(x) = t.pop_due(i64::MAX) {
                let i = p.iter().position(|&q| q == x).unwrap();
                let (&k, _) = model.iter().next().expect("the model has it");
                assert_eq!(key_of[i], Some(k), "seed {seed}: out of order at the end");
                model.remove(&k);
                key_of[i] = None;
            }
            assert!(model.is_empty());
            assert_eq!(
                t.slots.free.len(),
                t.slots.count as usize,
                "seed {seed}: a slot was lost"
            );
            assert!(v.iter().all(|i| i.0.get() == 0));
        }
    }
}
