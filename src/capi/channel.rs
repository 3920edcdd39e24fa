//! Exports of the channel section of the C-API (SPEC §8.2).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{required, required_kind, to_object, to_status, valid};
use crate::errors::guard;
use crate::errors::PyResult;
use crate::object::{typeobj, PyObject, PyTypeObject};
use crate::runtime::channel::{self, PyChannelObject, Queue};
use crate::runtime::messages as msg;
use crate::runtime::{bomb, timers, transfer};
use core::ffi::c_int;
use core::ptr::null_mut;

/// Checks a channel argument (see [`required_kind`]).
fn channel_arg(ch: *mut PyChannelObject) -> PyResult<*mut PyObject> {
    required_kind(ch, channel::check).map(|c| c.cast())
}

/// Reads or writes fields of a checked channel, under its lock; `default`
/// for bad input.
fn field<R>(ch: *mut PyChannelObject, default: R, f: impl FnOnce(&mut Queue) -> R) -> R {
    match valid(ch, channel::check) {
        // SAFETY: a checked, live channel.
        Some(ch) => unsafe { channel::with_queue(ch.cast(), f) },
        None => default,
    }
}

/// A new channel of type (NULL: PyChannel_Type): empty, balance 0,
/// preference -1, schedule_all 0, not closing.
///
/// Returns a new reference; NULL with SystemError when type is not a type
/// object, TypeError("channel_new: type must be subtype of channel") when it
/// is no subtype. Does not switch. Threads: any thread; the calling thread
/// joins the runtime (deadlock detection counts it as a thread that may
/// still send or receive). A channel may be shared by the tasklets of
/// several threads.
#[no_mangle]
pub extern "C" fn PyChannel_New(r#type: *mut PyTypeObject) -> *mut PyChannelObject {
    guard(null_mut(), || {
        let ty = if r#type.is_null() {
            channel::channel_type()
        } else {
            r#type
        };
        let Ok(ty) = required_kind(ty, typeobj::is_type_arg) else {
            return null_mut();
        };
        // SAFETY: a type object.
        unsafe { channel::new(ty) }.map_or(null_mut(), |c| c.cast())
    })
}

/// Sends arg (borrowed, not NULL) on the channel: to the first receiver
/// waiting, else the caller blocks until a receiver takes it. Who runs next
/// when a receiver of the calling thread waits: with preference -1 (the
/// default) the receiver at once, the caller after all the others; with 0
/// or 1 the caller continues and the receiver is appended to the
/// runnables; with schedule_all the receiver is appended and the next
/// runnable tasklet runs.
///
/// Returns 0, or -1: RuntimeError "this tasklet does not like to be
/// blocked." (block_trap), "Deadlock: the last runnable tasklet cannot be
/// blocked.", "switch_trap"; ValueError "Send/receive operation on a closed
/// channel" (it would block on a closing channel); or an exception
/// delivered while blocked. May switch tasklets. Auto-wraps from outside.
/// Threads: any thread. A receiver of another thread is handed to its
/// thread, woken if it sleeps, with the value; the caller continues,
/// whatever the preference and schedule_all, and the channel callback runs
/// after the transfer. A thread that blocks sleeps while another thread
/// could still wake it.
#[no_mangle]
pub extern "C" fn PyChannel_Send(channel: *mut PyChannelObject, arg: *mut PyObject) -> c_int {
    guard(-1, || {
        to_status(channel_arg(channel).and_then(|ch| {
            let arg = required(arg)?;
            // SAFETY: a checked channel and a live value.
            unsafe { transfer::send(ch, arg) }
        }))
    })
}

/// PyChannel_Send; returns 0 on success, never 1. May switch tasklets.
/// Threads: as PyChannel_Send.
#[no_mangle]
pub extern "C" fn PyChannel_Send_nr(channel: *mut PyChannelObject, arg: *mut PyObject) -> c_int {
    guard(-1, || PyChannel_Send(channel, arg))
}

/// PyChannel_Send that gives up at deadline (-1: it is PyChannel_Send). A
/// sender that blocks is taken out of the queue when the deadline passes
/// first: the call fails with TimeoutError("timed out"), the balance as if
/// it had never blocked, and no channel callback for the removal. With the
/// deadline passed and no receiver waiting it fails at once with
/// TimeoutError, without a switch or a callback: a try, which never blocks,
/// so neither block_trap nor a closing channel refuses it (a closing
/// channel refuses a wait with the ValueError of PyChannel_Send). A
/// receiver that comes as the deadline passes, also on another thread,
/// gives exactly one outcome: the value moves and the call succeeds, or
/// the call times out and the receiver never saw it.
///
/// Returns 0, or -1 with the errors of PyChannel_Send, TimeoutError, or
/// ValueError("invalid deadline"). May switch tasklets. Auto-wraps from
/// outside. Threads: as PyChannel_Send; the deadline is kept by the calling
/// thread.
#[no_mangle]
pub extern "C" fn PyChannel_SendUntil(
    channel: *mut PyChannelObject,
    arg: *mut PyObject,
    deadline: i64,
) -> c_int {
    guard(-1, || {
        to_status(channel_arg(channel).and_then(|ch| {
            let arg = required(arg)?;
            let deadline = timers::deadline(deadline)?;
            // SAFETY: a checked channel and a live value.
            unsafe { transfer::send_until(ch, arg, deadline) }
        }))
    })
}

/// PyChannel_Receive that gives up at deadline (-1: it is
/// PyChannel_Receive), as PyChannel_SendUntil does.
///
/// Returns the value received (new reference), or NULL with the errors of
/// PyChannel_Receive, TimeoutError("timed out"), or ValueError("invalid
/// deadline"). May switch tasklets. Auto-wraps from outside. Threads: as
/// PyChannel_Receive; the deadline is kept by the calling thread.
#[no_mangle]
pub extern "C" fn PyChannel_ReceiveUntil(
    channel: *mut PyChannelObject,
    deadline: i64,
) -> *mut PyObject {
    guard(null_mut(), || {
        to_object(channel_arg(channel).and_then(|ch| {
            let deadline = timers::deadline(deadline)?;
            // SAFETY: a checked channel.
            unsafe { transfer::receive_until(ch, deadline) }
        }))
    })
}

/// Receives from the channel: from the first sender waiting, else the
/// caller blocks until a sender comes. Who runs next when a sender of the
/// calling thread waits: with preference 1 the sender at once, the caller
/// after all the others; with -1 (the default) or 0 the caller continues
/// and the sender is appended to the runnables; with schedule_all the
/// sender is appended and the next runnable tasklet runs.
///
/// Returns the very object that was sent (new reference), or NULL: the
/// errors of PyChannel_Send, or the exception a sender sent
/// (PyChannel_SendException, PyChannel_SendThrow). May switch tasklets.
/// Auto-wraps from outside. Threads: any thread. A sender of another thread
/// is handed to its thread, woken if it sleeps; the caller continues,
/// whatever the preference and schedule_all, and the channel callback runs
/// after the transfer. A thread that blocks sleeps while another thread
/// could still wake it.
#[no_mangle]
pub extern "C" fn PyChannel_Receive(channel: *mut PyChannelObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked channel.
        channel_arg(channel)
            .and_then(|ch| unsafe { transfer::receive(ch) })
            .unwrap_or(null_mut())
    })
}

/// PyChannel_Receive; never returns Py_UnwindToken. May switch tasklets.
/// Threads: as PyChannel_Receive.
#[no_mangle]
pub extern "C" fn PyChannel_Receive_nr(channel: *mut PyChannelObject) -> *mut PyObject {
    guard(null_mut(), || PyChannel_Receive(channel))
}

/// Sends an exception: the receiver's receive fails with klass(*value)
/// (value a tuple; anything else is the only argument; NULL: none). Blocks
/// as PyChannel_Send does.
///
/// Returns 0, or -1 with TypeError("channel.send_exception needs Exception
/// or string subclass as first parameter") or the errors of PyChannel_Send.
/// May switch tasklets. Auto-wraps from outside. Threads: as
/// PyChannel_Send.
#[no_mangle]
pub extern "C" fn PyChannel_SendException(
    channel: *mut PyChannelObject,
    klass: *mut PyObject,
    value: *mut PyObject,
) -> c_int {
    guard(-1, || {
        to_status(channel_arg(channel).and_then(|ch| {
            // SAFETY: a checked channel; klass/value NULL or live.
            unsafe {
                let b = bomb::exception(klass, value, msg::SEND_EXCEPTION_NEEDS_CLASS)?;
                let r = transfer::send(ch, b);
                crate::object::decref(b);
                r
            }
        }))
    })
}

/// Sends (exc, val, tb) as raise would: the receiver's receive fails with
/// it (see PyTasklet_Throw for the checks of the three). Blocks as
/// PyChannel_Send does.
///
/// Returns 0, or -1 with the TypeError of PyTasklet_Throw or the errors of
/// PyChannel_Send. May switch tasklets. Auto-wraps from outside. Threads:
/// as PyChannel_Send.
#[no_mangle]
pub extern "C" fn PyChannel_SendThrow(
    channel: *mut PyChannelObject,
    exc: *mut PyObject,
    val: *mut PyObject,
    tb: *mut PyObject,
) -> c_int {
    guard(-1, || {
        to_status(channel_arg(channel).and_then(|ch| {
            // SAFETY: a checked channel; the triple NULL or live.
            unsafe {
                let b = bomb::from_throw(exc, val, tb)?;
                let r = transfer::send(ch, b);
                crate::object::decref(b);
                r
            }
        }))
    })
}

/// The first tasklet of the channel's queue (new reference), the one served
/// first, or None when the queue is empty. NULL with SystemError for bad
/// input. Does not switch. Threads: any thread; the tasklet may be of any
/// thread.
#[no_mangle]
pub extern "C" fn PyChannel_GetQueue(channel: *mut PyChannelObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked channel.
        channel_arg(channel).map_or(null_mut(), |ch| unsafe { channel::queue_head(ch) })
    })
}

/// Marks the channel closing: from now on a send or receive that would
/// block fails with ValueError "Send/receive operation on a closed
/// channel"; tasklets already blocked stay, and operations that find a
/// partner complete. Nothing for bad input. Does not switch. Threads: any
/// thread.
#[no_mangle]
pub extern "C" fn PyChannel_Close(channel: *mut PyChannelObject) {
    guard((), || field(channel, (), |c| c.closing = true))
}

/// Clears the closing mark; nothing for bad input. Does not switch.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn PyChannel_Open(channel: *mut PyChannelObject) {
    guard((), || field(channel, (), |c| c.closing = false))
}

/// 1 if the channel is closing, else 0 (also for bad input). Does not
/// switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyChannel_GetClosing(channel: *mut PyChannelObject) -> c_int {
    guard(0, || field(channel, 0, |c| c.closing as c_int))
}

/// 1 if the channel is closing and no tasklet is blocked on it, else 0
/// (also for bad input). Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyChannel_GetClosed(channel: *mut PyChannelObject) -> c_int {
    guard(0, || {
        field(channel, 0, |c| (c.closing && c.balance == 0) as c_int)
    })
}

/// The preference: -1 (a waiting receiver runs first, the default), 0
/// (neither), or 1 (a waiting sender); 0 for bad input. Does not switch.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn PyChannel_GetPreference(channel: *mut PyChannelObject) -> c_int {
    guard(0, || field(channel, 0, |c| c_int::from(c.preference)))
}

/// Sets the preference to the sign of val; nothing for bad input. Does not
/// switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyChannel_SetPreference(channel: *mut PyChannelObject, val: c_int) {
    guard((), || {
        field(channel, (), |c| c.preference = val.signum() as i8)
    })
}

/// 1 if schedule_all is set (every transfer on the calling thread runs the
/// next runnable tasklet), else 0 (also for bad input). Does not switch.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn PyChannel_GetScheduleAll(channel: *mut PyChannelObject) -> c_int {
    guard(0, || field(channel, 0, |c| c.schedule_all as c_int))
}

/// Sets schedule_all to val != 0; nothing for bad input. Does not switch.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn PyChannel_SetScheduleAll(channel: *mut PyChannelObject, val: c_int) {
    guard((), || field(channel, (), |c| c.schedule_all = val != 0))
}

/// The balance: the number of blocked senders, or minus the number of
/// blocked receivers; 0 for bad input. Does not switch. Threads: any
/// thread.
#[no_mangle]
pub extern "C" fn PyChannel_GetBalance(channel: *mut PyChannelObject) -> c_int {
    guard(0, || field(channel, 0, |c| c.balance))
}
