//! Channels: the object, its lock, the FIFO queue of blocked tasklets and
//! the balance, and taking a blocked tasklet out of its queue from any
//! thread. The send/receive algorithm is in `transfer`.
//!
//! Everything a channel holds is behind its lock ([`Guard`]): there is no
//! other way to reach the fields. The queue links blocked tasklets through
//! their `queue` links as a NULL-terminated list and owns one reference to
//! each. A blocked tasklet's state word says `Blocked*` and its `channel`
//! points here; both change only under this lock.
//!
//! A tasklet blocked here holds no reference to the channel (SPEC §4.10),
//! so the channel may be freed while it is blocked. Whoever wants to unblock
//! a tasklet without already holding its channel finds the channel under
//! the tasklet's thread's inbox lock and takes a reference with
//! `try_incref`; the deallocator clears `channel` under that same lock
//! before the memory goes.

use super::messages as msg;
use super::tasklet::{self, Delivery, Kind, Tasklet};
use super::thread_state::Ts;
use super::threads::HandOff;
use crate::errors::{self, PyResult, Raised};
use crate::object::typeobj::{self, builtin, PyBaseObject_Type, PyType_Type};
use crate::object::{self, decref, none, PyObject, PyTypeObject};
use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, Ordering};

/// Number of pointer-sized private words after the header of a channel.
pub const PY_CHANNEL_PRIVATE_WORDS: usize = 6;

/// A channel. The fields after ob_base are private; the type is complete
/// so that C code can subclass it by embedding (first member a
/// PyChannelObject, tp_base = &PyChannel_Type).
///
/// Threads: a channel may be shared by the tasklets of any number of
/// threads. Each channel has a lock of its own, held only inside the calls
/// (never while user code runs), so every PyChannel_ function may be called
/// on it from any thread at any time. A transfer to a tasklet of another
/// thread hands that tasklet to its thread; preference and schedule_all do
/// not apply across threads.
#[repr(C)]
pub struct PyChannelObject {
    /// Header.
    pub ob_base: PyObject,
    /// Runtime state; do not touch.
    pub _private: [usize; PY_CHANNEL_PRIVATE_WORDS],
}

/// The runtime's view of a channel object.
///
/// | field | owner |
/// | --- | --- |
/// | `ob_base.ob_refcnt` | atomic |
/// | `lock` | atomic: taken with one exchange (acquire), released with a store (release) |
/// | `queue` | the lock (reached only through [`Guard`]) |
#[repr(C)]
pub(crate) struct Channel {
    pub ob_base: PyObject,
    lock: AtomicBool,
    queue: UnsafeCell<Queue>,
}

/// What the lock guards.
pub(crate) struct Queue {
    pub head: *mut Tasklet,
    tail: *mut Tasklet,
    pub balance: c_int,
    pub preference: i8,
    pub closing: bool,
    pub schedule_all: bool,
}

const _: () = assert!(core::mem::size_of::<Channel>() <= core::mem::size_of::<PyChannelObject>());

/// The type of channels; C code may subclass it (tp_base = &PyChannel_Type,
/// then PyType_Ready).
#[no_mangle]
pub static mut PyChannel_Type: PyTypeObject = PyTypeObject {
    tp_new: Some(channel_new),
    tp_dealloc: Some(channel_dealloc),
    ..builtin(
        &raw mut PyType_Type,
        c"stackless.channel",
        core::mem::size_of::<PyChannelObject>(),
        0,
        &raw mut PyBaseObject_Type,
        object::Py_TPFLAGS_BASETYPE,
    )
};

/// The channel type.
pub(crate) fn channel_type() -> *mut PyTypeObject {
    &raw mut PyChannel_Type
}

/// Whether `op` is a channel.
///
/// # Safety
/// `op` must be live.
pub(crate) unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: per the contract.
    unsafe { object::type_check(op, channel_type()) }
}

/// `tp_new` of channels: an empty channel of `ty`.
///
/// # Safety
/// `ty` must be the channel type or a ready subtype.
unsafe extern "C-unwind" fn channel_new(
    ty: *mut PyTypeObject,
    _args: *mut PyObject,
    _kwds: *mut PyObject,
) -> *mut PyObject {
    errors::guard(null_mut(), || {
        // SAFETY: called through a channel type.
        let Ok(op) = (unsafe { typeobj::alloc(ty, 0) }) else {
            return null_mut();
        };
        let ch = op.cast::<Channel>();
        // SAFETY: a fresh allocation of at least `size_of::<Channel>()` bytes.
        unsafe {
            core::ptr::write(&raw mut (*ch).lock, AtomicBool::new(false));
            core::ptr::write(
                &raw mut (*ch).queue,
                UnsafeCell::new(Queue {
                    head: null_mut(),
                    tail: null_mut(),
                    balance: 0,
                    preference: -1,
                    closing: false,
                    schedule_all: false,
                }),
            );
        }
        op
    })
}

/// A channel, locked. The lock is held only for a few dozen instructions,
/// never across a switch or a callback, so a waiter spins, then yields.
pub(crate) struct Guard<'a> {
    ch: &'a Channel,
}

impl core::ops::Deref for Guard<'_> {
    type Target = Queue;
    fn deref(&self) -> &Queue {
        // SAFETY: the lock is held.
        unsafe { &*self.ch.queue.get() }
    }
}

impl core::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Queue {
        // SAFETY: the lock is held, and only this guard hands out the queue.
        unsafe { &mut *self.ch.queue.get() }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.ch.lock.store(false, Ordering::Release);
    }
}

/// Locks `ch`.
///
/// # Safety
/// `ch` must be a live channel for as long as the guard lives.
pub(crate) unsafe fn lock<'a>(ch: *mut Channel) -> Guard<'a> {
    // SAFETY: per the contract.
    let ch: &'a Channel = unsafe { &*ch };
    let mut spins = 0u32;
    while ch.lock.swap(true, Ordering::Acquire) {
        while ch.lock.load(Ordering::Relaxed) {
            spins += 1;
            if spins < 64 {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
    Guard { ch }
}

/// Runs `f` on the fields of a channel object, under its lock.
///
/// # Safety
/// `op` must be a live channel.
pub(crate) unsafe fn with_queue<R>(op: *mut PyObject, f: impl FnOnce(&mut Queue) -> R) -> R {
    // SAFETY: per the contract.
    let mut g = unsafe { lock(op.cast()) };
    f(&mut g)
}

/// SPEC §4.10: the blocked tasklets are unlinked and become paused.
///
/// # Safety
/// `op` must be a channel whose last reference went.
unsafe extern "C-unwind" fn channel_dealloc(op: *mut PyObject) {
    errors::guard((), || {
        let ch = op.cast::<Channel>();
        let mut released = Vec::new();
        // SAFETY: the last reference went; only tasklets in the queue still
        // point here, and each is cleared under its thread's inbox lock (see
        // the module's doc) before the memory goes.
        unsafe {
            let mut g = lock(ch);
            g.closing = true;
            while !g.head.is_null() {
                let t = g.head;
                let thread = tasklet::state(t).thread();
                let _inbox = thread.lock();
                unlink_locked(&mut g, t, Kind::Paused);
                released.push(t);
            }
            drop(g);
            // Outside the lock: dropping a reference may kill the tasklet (§2.7).
            for t in released {
                decref(t.cast());
            }
            typeobj::free_object(op);
        }
    })
}

/// A new channel of `ty` (a subtype of the channel type). The calling
/// thread joins the runtime: from now on it counts as a thread that may
/// still send or receive, so that another thread that waits on the channel
/// is not told it is deadlocked (SPEC §6.4).
///
/// # Safety
/// `ty` must be a ready type object.
pub(crate) unsafe fn new(ty: *mut PyTypeObject) -> PyResult<*mut PyObject> {
    Ts::get();
    // SAFETY: per the contract.
    unsafe {
        if !typeobj::is_subtype(ty, channel_type()) {
            return Err(errors::type_error(msg::CHANNEL_NEW_TYPE));
        }
        let op = channel_new(ty, null_mut(), null_mut());
        if op.is_null() {
            Err(Raised)
        } else {
            Ok(op)
        }
    }
}

/// Appends `t` at the tail of the queue (the caller's reference moves in);
/// it is blocked from now on.
///
/// # Safety
/// `t` must be the calling thread's current tasklet, out of its ring; `g`
/// the lock of `ch`.
pub(crate) unsafe fn enqueue(g: &mut Guard, ch: *mut Channel, t: *mut Tasklet, dir: i8) {
    // SAFETY: per the contract: the queue links and (from now on) the state
    // word belong to the lock.
    unsafe {
        (*t).queue.prev = g.tail;
        (*t).queue.next = null_mut();
        if g.tail.is_null() {
            g.head = t;
        } else {
            (*g.tail).queue.next = t;
        }
        g.tail = t;
        link_blocked(g, ch, t, dir);
    }
}

/// Puts `t` back at the head of the queue (undo of a failed rendezvous).
///
/// # Safety
/// As [`enqueue`]; `t` was just taken from the head.
pub(crate) unsafe fn requeue_head(g: &mut Guard, ch: *mut Channel, t: *mut Tasklet, dir: i8) {
    // SAFETY: per the contract.
    unsafe {
        (*t).queue.next = g.head;
        (*t).queue.prev = null_mut();
        if g.head.is_null() {
            g.tail = t;
        } else {
            (*g.head).queue.prev = t;
        }
        g.head = t;
        link_blocked(g, ch, t, dir);
    }
}

/// The rest of blocking `t` in direction `dir`, once it is in the queue.
///
/// # Safety
/// As [`enqueue`].
unsafe fn link_blocked(g: &mut Guard, ch: *mut Channel, t: *mut Tasklet, dir: i8) {
    let kind = if dir > 0 {
        Kind::BlockedSend
    } else {
        Kind::BlockedRecv
    };
    // SAFETY: the caller holds the lock; `t` is ours and in the queue.
    unsafe {
        (*t).channel.store(ch, Ordering::Relaxed);
        tasklet::set_state(t, tasklet::state(t).with_kind(kind));
    }
    g.balance += c_int::from(dir);
}

/// Takes `t` out of the queue (from anywhere in it); the balance moves
/// toward 0, the state becomes `then` and the queue's reference passes to
/// the caller.
///
/// # Safety
/// `g` must be the lock of the channel `t` is blocked on.
pub(crate) unsafe fn unlink_locked(g: &mut Guard, t: *mut Tasklet, then: Kind) {
    // SAFETY: per the contract, the queue links and the state word are the
    // lock's.
    unsafe {
        let (next, prev) = ((*t).queue.next, (*t).queue.prev);
        if prev.is_null() {
            g.head = next;
        } else {
            (*prev).queue.next = next;
        }
        if next.is_null() {
            g.tail = prev;
        } else {
            (*next).queue.prev = prev;
        }
        let s = tasklet::state(t);
        g.balance -= c_int::from(s.blocked());
        (*t).queue.next = null_mut();
        (*t).queue.prev = null_mut();
        (*t).channel.store(null_mut(), Ordering::Relaxed);
        tasklet::set_state(t, s.with_kind(then));
    }
}

/// [`unlink_locked`] for the head of the queue, whose state word `s` the
/// caller just read: the rendezvous path, kept short.
///
/// # Safety
/// As [`unlink_locked`]; `t` is `g`'s head and `s` its state.
#[inline(always)]
pub(crate) unsafe fn unlink_head(g: &mut Guard, t: *mut Tasklet, s: tasklet::State, then: Kind) {
    // SAFETY: per the contract.
    unsafe {
        debug_assert!(g.head == t && (*t).queue.prev.is_null());
        let next = (*t).queue.next;
        g.head = next;
        if next.is_null() {
            g.tail = null_mut();
        } else {
            (*next).queue.prev = null_mut();
        }
        g.balance -= c_int::from(s.blocked());
        (*t).queue.next = null_mut();
        (*t).channel.store(null_mut(), Ordering::Relaxed);
        tasklet::set_state(t, s.with_kind(then));
    }
}

/// The channel `t` is blocked on, with a new reference, or None when it is
/// not blocked. Safe against the channel's deallocation (see the module's
/// doc).
///
/// # Safety
/// `t` must be live.
unsafe fn channel_of(t: *mut Tasklet) -> Option<*mut Channel> {
    loop {
        // SAFETY: per the contract; under the inbox lock the channel `t`
        // points to is not freed (its deallocator takes that lock first).
        unsafe {
            let _inbox = tasklet::state(t).thread().lock();
            let ch = (*t).channel.load(Ordering::Relaxed);
            if ch.is_null() {
                return None;
            }
            if object::try_incref(ch.cast()) {
                return Some(ch);
            }
        }
        // Being deallocated: it clears `t.channel` as soon as we let go.
        std::thread::yield_now();
    }
}

/// Takes a blocked tasklet of the calling thread out of its channel's
/// queue; it becomes `then` and the queue's reference passes to the
/// caller. False when it is not blocked, or a partner on another thread
/// took it first (it is then `Handed`).
///
/// # Safety
/// `t` must be a live tasklet of the calling thread.
pub(crate) unsafe fn unblock(t: *mut Tasklet, then: Kind) -> bool {
    // SAFETY: per the contract; the reference keeps the channel alive.
    unsafe {
        let Some(ch) = channel_of(t) else {
            return false;
        };
        let done = unblock_from(ch, t, then);
        decref(ch.cast());
        done
    }
}

/// [`unblock`] from a channel the caller keeps alive.
///
/// # Safety
/// `ch` must be a live channel; `t` a live tasklet.
pub(crate) unsafe fn unblock_from(ch: *mut Channel, t: *mut Tasklet, then: Kind) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let mut g = lock(ch);
        let still = tasklet::state(t).blocked() != 0 && (*t).channel.load(Ordering::Relaxed) == ch;
        if still {
            unlink_locked(&mut g, t, then);
        }
        still
    }
}

/// A kill or throw from another thread to `t`, blocked there: it is taken
/// out of the queue now (SPEC §4.8, also for pending throws), gets the bomb
/// (stolen) and is handed to its thread. `Ok(false)` when `t` is not
/// blocked (any more); `Err` with the bomb when its thread ended.
///
/// # Safety
/// `t` must be a live tasklet of another thread; `b` an owned bomb.
pub(crate) unsafe fn throw_blocked(
    t: *mut Tasklet,
    b: *mut PyObject,
) -> Result<bool, *mut PyObject> {
    // SAFETY: per the contract; the reference keeps the channel alive.
    unsafe {
        let Some(ch) = channel_of(t) else {
            return Ok(false);
        };
        let mut g = lock(ch);
        let mut displaced = null_mut();
        let r = if tasklet::state(t).blocked() == 0 || (*t).channel.load(Ordering::Relaxed) != ch {
            Ok(false)
        } else {
            let mut inbox = tasklet::state(t).thread().lock();
            if inbox.closed() {
                Err(b)
            } else {
                // The bomb goes in while `t` is still blocked (its tempval
                // the lock's), before `Handed` publishes it.
                displaced = core::mem::replace(&mut (*t).tempval, b);
                (*t).delivered = Delivery::None;
                unlink_locked(&mut g, t, Kind::Handed);
                // The queue's reference moves into the hand-off.
                inbox.push(t, HandOff::Ready, true);
                Ok(true)
            }
        };
        drop(g);
        // Outside the locks: releasing may run any deallocator.
        object::xdecref(displaced);
        decref(ch.cast());
        r
    }
}

/// The first tasklet of the queue (new reference) or `None`.
///
/// # Safety
/// `op` must be a channel.
pub(crate) unsafe fn queue_head(op: *mut PyObject) -> *mut PyObject {
    // SAFETY: per the contract; the queue holds a reference to its head.
    unsafe {
        with_queue(op, |q| {
            if q.head.is_null() {
                none::new_none()
            } else {
                object::new_ref(q.head.cast())
            }
        })
    }
}

/// Runs `f` with the lock of the channel `t` is blocked on held (its
/// tempval and queue links are the lock's then); None when `t` is not
/// blocked.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn with_blocked<R>(t: *mut Tasklet, f: impl FnOnce(&Queue) -> R) -> Option<R> {
    // SAFETY: per the contract; the reference keeps the channel alive.
    unsafe {
        let ch = channel_of(t)?;
        let g = lock(ch);
        let still = tasklet::state(t).blocked() != 0 && (*t).channel.load(Ordering::Relaxed) == ch;
        let r = still.then(|| f(&g));
        drop(g);
        decref(ch.cast());
        r
    }
}
