//! Channels: the FIFO queue of blocked tasklets, the balance, and the
//! send/receive algorithm of SPEC §4.2-§4.3.
//!
//! The queue links blocked tasklets through their `next`/`prev` fields as a
//! NULL-terminated list; the queue owns one reference to each. A blocked
//! tasklet has `blocked` = +1 (sending) or -1 (receiving) and `channel`
//! pointing here.

use super::messages as msg;
use super::scheduler::{self, callbacks, NotSwitched, ThreadState};
use super::tasklet::{self, bomb, Tasklet};
use super::threads::HandOff;
use crate::errors::{self, PyResult, Raised};
use crate::object::typeobj::{self, builtin, PyBaseObject_Type, PyType_Type};
use crate::object::{
    self, decref, exceptions, long, none, protocol, tuple, PyObject, PyTypeObject,
};
use core::ffi::c_int;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, Ordering};

/// Number of pointer-sized private words after the header of a channel.
pub const PY_CHANNEL_PRIVATE_WORDS: usize = 6;

/// A channel. The fields after `ob_base` are private; the type is complete
/// so that C code can subclass it by embedding.
#[repr(C)]
pub struct PyChannelObject {
    /// Header.
    pub ob_base: PyObject,
    /// Runtime state; do not touch.
    pub _private: [usize; PY_CHANNEL_PRIVATE_WORDS],
}

#[repr(C)]
pub(crate) struct Channel {
    pub ob_base: PyObject,
    head: *mut Tasklet,
    tail: *mut Tasklet,
    pub balance: c_int,
    pub preference: i8,
    pub closing: bool,
    pub schedule_all: bool,
    /// Guards the queue and the balance: channels are shared by threads.
    lock: QueueLock,
}

const _: () = assert!(core::mem::size_of::<Channel>() <= core::mem::size_of::<PyChannelObject>());

/// `PyChannel_Type`: subclassable.
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
    object::type_check(op, channel_type())
}

unsafe extern "C-unwind" fn channel_new(
    ty: *mut PyTypeObject,
    _args: *mut PyObject,
    _kwds: *mut PyObject,
) -> *mut PyObject {
    let Ok(op) = typeobj::alloc(ty, 0) else {
        return null_mut();
    };
    let ch = op.cast::<Channel>();
    (*ch).head = null_mut();
    (*ch).tail = null_mut();
    (*ch).balance = 0;
    (*ch).preference = -1;
    (*ch).closing = false;
    (*ch).schedule_all = false;
    core::ptr::write(&raw mut (*ch).lock, QueueLock(AtomicBool::new(false)));
    op
}

/// A channel's lock: one atomic exchange to take it, a plain release store
/// to give it back. It is held only for a few dozen instructions, never
/// across a switch or a callback, so a waiter spins and then yields.
#[repr(transparent)]
struct QueueLock(AtomicBool);

unsafe fn lock(ch: *mut Channel) {
    let flag = &(*ch).lock.0;
    let mut spins = 0u32;
    while flag.swap(true, Ordering::Acquire) {
        while flag.load(Ordering::Relaxed) {
            spins += 1;
            if spins < 64 {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
    super::tsan::acquire(flag);
}

unsafe fn unlock(ch: *mut Channel) {
    super::tsan::release(&raw const (*ch).lock);
    (*ch).lock.0.store(false, Ordering::Release);
}

/// SPEC §4.10: the blocked tasklets are unlinked and become paused.
unsafe extern "C-unwind" fn channel_dealloc(op: *mut PyObject) {
    let ch = op.cast::<Channel>();
    lock(ch);
    (*ch).closing = true;
    let mut released = Vec::new();
    while !(*ch).head.is_null() {
        let t = (*ch).head;
        unblock_locked(t);
        released.push(t);
    }
    unlock(ch);
    // Outside the lock: dropping a reference may kill the tasklet (§2.7).
    for t in released {
        decref(t.cast());
    }
    typeobj::free_object(op);
}

/// A new channel of `ty` (a subtype of the channel type).
///
/// # Safety
/// `ty` must be a ready type object.
pub(crate) unsafe fn new(ty: *mut PyTypeObject) -> PyResult<*mut PyObject> {
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

/// Appends `t` at the tail of the queue (the caller's reference moves in).
unsafe fn enqueue(ch: *mut Channel, t: *mut Tasklet, dir: i8) {
    (*t).prev = (*ch).tail;
    (*t).next = null_mut();
    if (*ch).tail.is_null() {
        (*ch).head = t;
    } else {
        (*(*ch).tail).next = t;
    }
    (*ch).tail = t;
    (*t).blocked = dir;
    (*t).channel = ch.cast();
    (*ch).balance += c_int::from(dir);
}

/// Puts `t` back at the head of the queue (undo of a failed rendezvous).
unsafe fn requeue_head(ch: *mut Channel, t: *mut Tasklet, dir: i8) {
    (*t).next = (*ch).head;
    (*t).prev = null_mut();
    if (*ch).head.is_null() {
        (*ch).tail = t;
    } else {
        (*(*ch).head).prev = t;
    }
    (*ch).head = t;
    (*t).blocked = dir;
    (*t).channel = ch.cast();
    (*ch).balance += c_int::from(dir);
}

/// Takes a blocked tasklet out of its channel's queue (from anywhere in it);
/// the balance moves toward 0 and the queue's reference passes to the
/// caller. False when a partner on another thread took it first (it is then
/// on its way into its thread's inbox).
///
/// # Safety
/// `t` must be live; its channel, if any, live.
pub(crate) unsafe fn unblock(t: *mut Tasklet) -> bool {
    let ch = core::ptr::read_volatile(&raw const (*t).channel).cast::<Channel>();
    if ch.is_null() {
        return false;
    }
    lock(ch);
    let still = (*t).blocked != 0 && (*t).channel == ch.cast();
    if still {
        unblock_locked(t);
    }
    unlock(ch);
    still
}

/// [`unblock`] with the channel's lock held.
unsafe fn unblock_locked(t: *mut Tasklet) {
    let ch = (*t).channel.cast::<Channel>();
    if (*t).prev.is_null() {
        (*ch).head = (*t).next;
    } else {
        (*(*t).prev).next = (*t).next;
    }
    if (*t).next.is_null() {
        (*ch).tail = (*t).prev;
    } else {
        (*(*t).next).prev = (*t).prev;
    }
    (*ch).balance -= c_int::from((*t).blocked);
    (*t).next = null_mut();
    (*t).prev = null_mut();
    (*t).blocked = 0;
    (*t).channel = null_mut();
}

/// The first tasklet of the queue (new reference) or `None`.
///
/// # Safety
/// `ch` must be a channel.
pub(crate) unsafe fn queue_head(ch: *mut PyObject) -> *mut PyObject {
    let ch = ch.cast::<Channel>();
    lock(ch);
    let head = (*ch).head;
    let r = if head.is_null() {
        none::new_none()
    } else {
        object::new_ref(head.cast())
    };
    unlock(ch);
    r
}

/// The channel's fields, for the getters and setters.
///
/// # Safety
/// `ch` must be a channel that outlives the borrow.
pub(crate) unsafe fn fields<'a>(ch: *mut PyObject) -> &'a mut Channel {
    &mut *ch.cast::<Channel>()
}

/// Sends `value` (borrowed; a bomb for exceptions) on `ch` (SPEC §4.2).
///
/// # Safety
/// `ch` must be a channel; `value` live.
pub(crate) unsafe fn send(ch: *mut PyObject, value: *mut PyObject) -> PyResult<()> {
    decref(action(ch.cast(), value, 1)?);
    Ok(())
}

/// Receives from `ch` (SPEC §4.2): the very object sent (new reference).
///
/// # Safety
/// `ch` must be a channel.
pub(crate) unsafe fn receive(ch: *mut PyObject) -> PyResult<*mut PyObject> {
    action(ch.cast(), null_mut(), -1)
}

/// Whether a partner waits for an operation in direction `dir`.
unsafe fn partner_waits(ch: *mut Channel, dir: i8) -> bool {
    if dir > 0 {
        (*ch).balance < 0
    } else {
        (*ch).balance > 0
    }
}

/// The send/receive algorithm; `dir` is +1 (send) or -1 (receive).
///
/// The operation holds no reference to the channel while the caller is
/// blocked, and touches it no more once a switch happened: a channel whose
/// last reference goes releases its blocked tasklets (SPEC §4.10). The
/// channel's lock is never held across a switch or a callback.
unsafe fn action(ch: *mut Channel, value: *mut PyObject, dir: i8) -> PyResult<*mut PyObject> {
    scheduler::with_main(|ts| {
        if (*ts).schedlock && callbacks::has_channel_callable() {
            return Err(errors::runtime_error(msg::RECURSIVE_CHANNEL));
        }
        let src = (*ts).current;
        let delivered = if dir > 0 {
            object::new_ref(value)
        } else {
            none::new_none()
        };
        let saved = core::mem::replace(&mut (*src).tempval, delivered);
        // The callback runs before the operation unless the partner is on
        // another thread: then after it (SPEC §4.2 steps 2 and 5).
        let mut callback_after = false;
        if callbacks::has_channel_callable() {
            lock(ch);
            let cando = partner_waits(ch, dir);
            callback_after = cando && (*(*ch).head).ts != ts;
            unlock(ch);
            if !callback_after {
                channel_callback(ts, ch, src, dir > 0, !cando);
            }
        }
        lock(ch);
        let result = if partner_waits(ch, dir) {
            rendezvous(ts, ch, src, dir)
        } else {
            block(ts, ch, src, dir)
        };
        match result {
            Ok(claimed) => {
                if callback_after {
                    channel_callback(ts, ch, src, dir > 0, false);
                }
                object::xdecref(saved);
                claimed
            }
            Err(NotSwitched) => {
                tasklet::set_tempval(src, saved);
                Err(Raised)
            }
        }
    })
}

/// SPEC §4.2 step 3: a partner is waiting. Called with the lock held.
unsafe fn rendezvous(
    ts: *mut ThreadState,
    ch: *mut Channel,
    src: *mut Tasklet,
    dir: i8,
) -> scheduler::Switched {
    let tgt = (*ch).head;
    unblock_locked(tgt);
    core::mem::swap(&mut (*src).tempval, &mut (*tgt).tempval);
    if (*tgt).ts != ts {
        // Another thread's tasklet: handed over (under the lock, so that
        // whoever finds it unblocked finds it in the inbox); no switch here.
        let handed = scheduler::hand_over(tgt, HandOff::Insert, true, msg::THREAD_UNINITIALIZED);
        unlock(ch);
        if handed.is_err() {
            // Its thread ended meanwhile; the value was delivered anyway.
            errors::clear();
        }
        return Ok(tasklet::claim_tempval(src));
    }
    unlock(ch);
    let switched = if (*ch).schedule_all {
        scheduler::ring_link(ts, tgt);
        scheduler::switch_to(ts, src, (*src).next, false)
    } else if c_int::from((*ch).preference) == -c_int::from(dir) {
        scheduler::link_after(ts, src, tgt);
        scheduler::switch_to(ts, src, tgt, true)
    } else {
        scheduler::ring_link(ts, tgt);
        return Ok(tasklet::claim_tempval(src));
    };
    if switched.is_err() {
        scheduler::ring_unlink(ts, tgt);
        core::mem::swap(&mut (*src).tempval, &mut (*tgt).tempval);
        lock(ch);
        requeue_head(ch, tgt, -dir);
        unlock(ch);
    }
    switched
}

/// SPEC §4.2 step 4: no partner; the caller blocks. Called with the lock
/// held.
unsafe fn block(
    ts: *mut ThreadState,
    ch: *mut Channel,
    src: *mut Tasklet,
    dir: i8,
) -> scheduler::Switched {
    if (*src).block_trap {
        unlock(ch);
        errors::runtime_error(msg::BLOCK_TRAP);
        return Err(NotSwitched);
    }
    if (*ch).closing {
        unlock(ch);
        errors::value_error(msg::CHANNEL_CLOSED);
        return Err(NotSwitched);
    }
    scheduler::ring_unlink(ts, src);
    enqueue(ch, src, dir);
    unlock(ch);
    let switched = scheduler::switch_to(ts, src, (*ts).current, false);
    if switched.is_ok() || unblock(src) {
        if switched.is_err() {
            scheduler::relink_as_current(ts, src);
        }
        return switched;
    }
    // A partner on another thread completed the operation meanwhile: the
    // caller is (about to be) in this thread's inbox and the call succeeds.
    errors::clear();
    while (*src).next.is_null() {
        scheduler::drain_inbox(ts, null_mut());
    }
    (*ts).current = src;
    Ok(tasklet::claim_tempval(src))
}

/// Calls the channel callback `(channel, tasklet, sending, willblock)`
/// with `schedlock` set; its errors are reported as unraisable (SPEC §5.10).
unsafe fn channel_callback(
    ts: *mut ThreadState,
    ch: *mut Channel,
    src: *mut Tasklet,
    sending: bool,
    willblock: bool,
) {
    if !callbacks::has_channel_callable() {
        return;
    }
    let cb = callbacks::channel_callable();
    if cb.is_null() {
        return;
    }
    (*ts).schedlock = true;
    (*ts).nesting_level += 1;
    let saved = errors::take();
    let r = (|| {
        let flags = [
            long::from_i128(sending.into()),
            long::from_i128(willblock.into()),
        ];
        if flags.iter().any(|f| f.is_null()) {
            flags.iter().for_each(|&f| object::xdecref(f));
            return Err(Raised);
        }
        let args = tuple::from_borrowed(&[ch.cast(), src.cast(), flags[0], flags[1]]);
        flags.iter().for_each(|&f| decref(f));
        let args = args?;
        let r = protocol::call(cb, args, null_mut());
        decref(args);
        decref(r?);
        Ok(())
    })();
    if r.is_err() {
        callbacks::write_unraisable(msg::CHANNEL_CALLBACK_ERROR);
    }
    errors::restore(saved);
    (*ts).nesting_level -= 1;
    (*ts).schedlock = false;
    scheduler::recheck_pending_irq(src);
    decref(cb);
}

/// A bomb for `PyChannel_SendException(klass, args)`: `args` a tuple is the
/// argument tuple, anything else one argument, NULL none.
///
/// # Safety
/// Both NULL or live.
pub(crate) unsafe fn exception_bomb(
    klass: *mut PyObject,
    args: *mut PyObject,
    message: &str,
) -> PyResult<*mut PyObject> {
    if klass.is_null() || !exceptions::is_class(klass) {
        return Err(errors::type_error(message));
    }
    let args = if args.is_null() {
        tuple::empty()?
    } else if tuple::check(args) {
        object::new_ref(args)
    } else {
        tuple::from_borrowed(&[args])?
    };
    let b = bomb::of(klass, args);
    decref(args);
    b
}
