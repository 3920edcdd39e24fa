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

/// A new channel of `type` (NULL: `PyChannel_Type`): empty, balance 0,
/// preference -1, schedule_all 0, not closing. New reference; NULL with
/// `SystemError` when `type` is not a type object, `TypeError("channel_new:
/// type must be subtype of channel")` when it is no subtype. The calling
/// thread joins the runtime: deadlock detection counts it as a thread that
/// may still send or receive. Does not switch. Any thread.
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

/// Sends `arg` (borrowed) on the channel; blocks until a receiver takes it
/// unless one is waiting (SPEC §4.2-§4.3 say who runs next).
///
/// Returns 0, or -1: `RuntimeError` "this tasklet does not like to be
/// blocked.", "Deadlock: the last runnable tasklet cannot be blocked.",
/// "switch_trap"; `ValueError` "Send/receive operation on a closed
/// channel"; or an exception delivered while blocked. May switch.
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

/// `PyChannel_Send`; returns 0 on success, never 1.
#[no_mangle]
pub extern "C" fn PyChannel_Send_nr(channel: *mut PyChannelObject, arg: *mut PyObject) -> c_int {
    guard(-1, || PyChannel_Send(channel, arg))
}

/// `PyChannel_Send` that gives up at `deadline` (-1: it is
/// `PyChannel_Send`). A sender that blocks is taken out of the queue when
/// the deadline passes first: the call fails with `TimeoutError("timed
/// out")`, the balance as if it had never blocked, and no channel callback
/// for the removal. With the deadline passed and no receiver waiting it
/// fails at once, without a switch or a callback. A receiver that comes as
/// the deadline passes, also on another thread, gives exactly one outcome:
/// the value moves and the call succeeds, or the call times out and the
/// receiver never saw it. Returns 0, or -1 with the errors of
/// `PyChannel_Send`, `TimeoutError`, or `ValueError("invalid deadline")`.
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

/// `PyChannel_Receive` that gives up at `deadline`, as
/// `PyChannel_SendUntil`: a new reference, or NULL with the errors of
/// `PyChannel_Receive`, `TimeoutError("timed out")`, or
/// `ValueError("invalid deadline")`.
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

/// Receives from the channel: the very object that was sent (new
/// reference), blocking until a sender comes. NULL on failure (errors as
/// `PyChannel_Send`, or the exception a sender sent). May switch.
#[no_mangle]
pub extern "C" fn PyChannel_Receive(channel: *mut PyChannelObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked channel.
        channel_arg(channel)
            .and_then(|ch| unsafe { transfer::receive(ch) })
            .unwrap_or(null_mut())
    })
}

/// `PyChannel_Receive`; never returns `Py_UnwindToken`.
#[no_mangle]
pub extern "C" fn PyChannel_Receive_nr(channel: *mut PyChannelObject) -> *mut PyObject {
    guard(null_mut(), || PyChannel_Receive(channel))
}

/// Sends an exception: the receiver's receive fails with `klass(*value)`
/// (`value` a tuple; anything else is the only argument; NULL none).
/// Returns 0, or -1 with `TypeError("channel.send_exception needs Exception
/// or string subclass as first parameter")` or the errors of a send.
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

/// Sends `(exc, val, tb)` as `raise` would (see `PyTasklet_Throw` for the
/// checks). Returns 0 or -1.
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

/// The first tasklet of the queue (new reference), or `None` when the queue
/// is empty. NULL with `SystemError` for bad input.
#[no_mangle]
pub extern "C" fn PyChannel_GetQueue(channel: *mut PyChannelObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked channel.
        channel_arg(channel).map_or(null_mut(), |ch| unsafe { channel::queue_head(ch) })
    })
}

/// Marks the channel closing: operations that would block fail.
#[no_mangle]
pub extern "C" fn PyChannel_Close(channel: *mut PyChannelObject) {
    guard((), || field(channel, (), |c| c.closing = true))
}

/// Clears the closing mark.
#[no_mangle]
pub extern "C" fn PyChannel_Open(channel: *mut PyChannelObject) {
    guard((), || field(channel, (), |c| c.closing = false))
}

/// 1 if the channel is closing, else 0.
#[no_mangle]
pub extern "C" fn PyChannel_GetClosing(channel: *mut PyChannelObject) -> c_int {
    guard(0, || field(channel, 0, |c| c.closing as c_int))
}

/// 1 if the channel is closing and no tasklet is blocked on it, else 0.
#[no_mangle]
pub extern "C" fn PyChannel_GetClosed(channel: *mut PyChannelObject) -> c_int {
    guard(0, || {
        field(channel, 0, |c| (c.closing && c.balance == 0) as c_int)
    })
}

/// The preference: -1 (receiver runs first, the default), 0, or 1 (sender).
#[no_mangle]
pub extern "C" fn PyChannel_GetPreference(channel: *mut PyChannelObject) -> c_int {
    guard(0, || field(channel, 0, |c| c_int::from(c.preference)))
}

/// Sets the preference to the sign of `val`.
#[no_mangle]
pub extern "C" fn PyChannel_SetPreference(channel: *mut PyChannelObject, val: c_int) {
    guard((), || {
        field(channel, (), |c| c.preference = val.signum() as i8)
    })
}

/// 1 if schedule_all is set (every rendezvous switches), else 0.
#[no_mangle]
pub extern "C" fn PyChannel_GetScheduleAll(channel: *mut PyChannelObject) -> c_int {
    guard(0, || field(channel, 0, |c| c.schedule_all as c_int))
}

/// Sets schedule_all to `val != 0`.
#[no_mangle]
pub extern "C" fn PyChannel_SetScheduleAll(channel: *mut PyChannelObject, val: c_int) {
    guard((), || field(channel, (), |c| c.schedule_all = val != 0))
}

/// The balance: the number of blocked senders, or minus the number of
/// blocked receivers.
#[no_mangle]
pub extern "C" fn PyChannel_GetBalance(channel: *mut PyChannelObject) -> c_int {
    guard(0, || field(channel, 0, |c| c.balance))
}
