//! Exports of the tasklet section of the C-API (SPEC §8.1).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{required, required_kind, to_object, to_status, valid};
use crate::errors::guard;
use crate::errors::PyResult;
use crate::object::{typeobj, PyObject, PyTypeObject};
use crate::runtime::messages as msg;
use crate::runtime::tasklet::{self, PyTaskletObject, Tasklet};
use crate::runtime::{bomb, scheduler, watchdog};
use core::ffi::{c_int, c_long};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, Ordering};

/// Checks a tasklet argument (see [`required_kind`]).
pub(crate) fn tasklet_arg(task: *mut PyTaskletObject) -> PyResult<*mut Tasklet> {
    required_kind(task, tasklet::check).map(|t| t.cast())
}

/// For predicates and getters: the tasklet, or None for bad input.
fn tasklet_or_none(task: *mut PyTaskletObject) -> Option<*mut Tasklet> {
    valid(task, tasklet::check).map(|t| t.cast())
}

/// Sets a flag that defers watchdog interrupts (`atomic`, `ignore_nesting`)
/// to `flag != 0` and re-checks a deferred interrupt; returns the previous
/// value, 0 for bad input.
fn set_interrupt_flag(
    task: *mut PyTaskletObject,
    flag: c_int,
    field: impl FnOnce(*mut Tasklet) -> *const AtomicBool,
) -> c_int {
    let Some(t) = tasklet_or_none(task) else {
        return 0;
    };
    // SAFETY: `field` points into the checked, live tasklet.
    unsafe {
        let old = (*field(t)).swap(flag != 0, Ordering::Relaxed);
        watchdog::recheck_pending_irq(t);
        old as c_int
    }
}

/// Reads one of the tasklet's atomic flags; 0 for bad input.
fn flag(
    task: *mut PyTaskletObject,
    field: impl FnOnce(*mut Tasklet) -> *const AtomicBool,
) -> c_int {
    // SAFETY: `field` points into the checked, live tasklet.
    tasklet_or_none(task).is_some_and(|t| unsafe { (*field(t)).load(Ordering::Relaxed) }) as c_int
}

/// Runs `f` on a checked tasklet; -1 with `SystemError` for bad input.
fn with_tasklet(task: *mut PyTaskletObject, f: impl FnOnce(*mut Tasklet) -> PyResult<()>) -> c_int {
    to_status(tasklet_arg(task).and_then(f))
}

/// Evaluates a predicate; 0 for bad input.
fn predicate(task: *mut PyTaskletObject, f: unsafe fn(*mut Tasklet) -> bool) -> c_int {
    // SAFETY: a checked, live tasklet.
    tasklet_or_none(task).is_some_and(|t| unsafe { f(t) }) as c_int
}

/// A new tasklet of `type` (NULL: `PyTasklet_Type`) bound to `func` (NULL or
/// `Py_None`: unbound; bind it later with `PyTasklet_BindEx`).
///
/// Returns a new reference; NULL with `SystemError` when `type` is not a
/// type object, `TypeError` when it is not a subtype of tasklet (no
/// message) or `func` is not callable ("tasklet function must be a
/// callable or None"). Does not switch. Any thread; the
/// tasklet belongs to the calling thread.
#[no_mangle]
pub extern "C" fn PyTasklet_New(
    r#type: *mut PyTypeObject,
    func: *mut PyObject,
) -> *mut PyTaskletObject {
    guard(null_mut(), || {
        let ty = if r#type.is_null() {
            tasklet::tasklet_type()
        } else {
            r#type
        };
        let Ok(ty) = required_kind(ty, typeobj::is_type_arg) else {
            return null_mut();
        };
        // SAFETY: `ty` is a type object; `func` NULL or live.
        unsafe { tasklet::new(ty, func) }.map_or(null_mut(), |t| t.cast())
    })
}

/// Binds the tasklet's function to `args` (NULL: `()`) and `kwds` (NULL: no
/// keywords) and appends it to the runnables of its thread.
///
/// Returns 0, or -1: `TypeError` "argument list must be a tuple", "keyword
/// list must be a dictionary"; `RuntimeError` "tasklet is alive", "the
/// tasklet was not bound to a function", "tasklet has no thread". Does not
/// switch.
#[no_mangle]
pub extern "C" fn PyTasklet_Setup(
    task: *mut PyTaskletObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> c_int {
    guard(-1, || {
        with_tasklet(task, |t| {
            // SAFETY: a checked tasklet; args/kwds NULL or live.
            unsafe { scheduler::setup(t, args, kwds) }
        })
    })
}

/// Binds `func` and/or `args`/`kwargs` (each may be NULL or `Py_None`):
/// with no arguments the tasklet is bound (or, without `func`, unbound);
/// with arguments it becomes paused and ready to run (not scheduled).
///
/// Returns 0, or -1: `TypeError` "tasklet function must be a callable or
/// None", "argument list must be a tuple", "keyword list must be a
/// dictionary"; `RuntimeError` "can't (re)bind the current tasklet", "tasklet is
/// scheduled", "tasklet has C state on its stack", "can't unbind the main
/// tasklet", "the tasklet was not bound to a function", "tasklet has no
/// thread". Does not switch.
#[no_mangle]
pub extern "C" fn PyTasklet_BindEx(
    task: *mut PyTaskletObject,
    func: *mut PyObject,
    args: *mut PyObject,
    kwargs: *mut PyObject,
) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet; the others NULL or live.
        with_tasklet(task, |t| unsafe { tasklet::bind(t, func, args, kwargs) })
    })
}

/// Binds the tasklet to the thread `thread_id` (-1: the calling thread).
///
/// Returns 0, or -1: `RuntimeError` "can't (re)bind a runnable tasklet",
/// "tasklet has C state on its stack"; `ValueError` "bad thread" for an
/// unknown thread. A tasklet of the calling thread rebound with -1 is a
/// no-op. Does not switch.
#[no_mangle]
pub extern "C" fn PyTasklet_BindThread(task: *mut PyTaskletObject, thread_id: c_long) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { tasklet::bind_thread(t, thread_id) })
    })
}

/// Runs `task` now: it is switched to (inserted first if paused); the
/// caller stays runnable and continues when it is scheduled again.
///
/// Returns 0, or -1: `RuntimeError` "You cannot run a blocked tasklet",
/// "You cannot run an unbound(dead) tasklet", "tasklet has no thread",
/// "switch_trap"; `MemoryError` when `task` cannot get a stack to start
/// on (it is then paused); or any exception delivered to the caller
/// meanwhile (e.g. an uncaught error of `task` when the caller is main).
/// Switches tasklets. Auto-wraps when called from outside.
#[no_mangle]
pub extern "C" fn PyTasklet_Run(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::run(t, false) })
    })
}

/// `PyTasklet_Run`; every switch is a hard switch, so this returns 0 on
/// success, never 1.
#[no_mangle]
pub extern "C" fn PyTasklet_Run_nr(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || PyTasklet_Run(task))
}

/// Like `PyTasklet_Run`, but the caller is paused (removed from the
/// runnables) until someone runs or inserts it again.
///
/// Returns 0, or -1 as `PyTasklet_Run`, plus `RuntimeError` "can't switch to
/// a different thread.". Switching to the current tasklet is a no-op.
#[no_mangle]
pub extern "C" fn PyTasklet_Switch(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::run(t, true) })
    })
}

/// `PyTasklet_Switch`; returns 0 on success, never 1.
#[no_mangle]
pub extern "C" fn PyTasklet_Switch_nr(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || PyTasklet_Switch(task))
}

/// Removes `task` from the runnables (it becomes paused).
///
/// Returns 0 (also when it is not scheduled), or -1 with `RuntimeError`
/// "You cannot remove a blocked tasklet.", "The current tasklet cannot be
/// removed.". Does not switch.
#[no_mangle]
pub extern "C" fn PyTasklet_Remove(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::remove(t) })
    })
}

/// Appends `task` to the runnables of its thread, if it is not there yet.
///
/// Returns 0, or -1 with `RuntimeError` "You cannot run a blocked tasklet",
/// "You cannot run an unbound(dead) tasklet", "Target thread isn't
/// initialized". Does not switch.
#[no_mangle]
pub extern "C" fn PyTasklet_Insert(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::insert(t) })
    })
}

/// Raises `klass(*args)` in `task` (`args` a tuple, else the only
/// argument; NULL: none), switching to it at once.
///
/// Returns 0 when the caller resumes, -1 on failure: `TypeError`
/// "tasklet.raise_exception needs Exception or string subclass as first
/// parameter", "You cannot throw to a dead tasklet", and the exception
/// itself when `task` is the caller. Switches tasklets.
#[no_mangle]
pub extern "C" fn PyTasklet_RaiseException(
    task: *mut PyTaskletObject,
    klass: *mut PyObject,
    args: *mut PyObject,
) -> c_int {
    guard(-1, || {
        with_tasklet(task, |t| {
            // SAFETY: a checked tasklet; klass/args NULL or live.
            unsafe {
                let b = bomb::exception(klass, args, msg::RAISE_NEEDS_CLASS)?;
                scheduler::throw_bomb(t, false, b)
            }
        })
    })
}

/// Raises `(exc, val, tb)` in `task` as `tasklet.throw()`: `exc` a class
/// (with an optional value) or an instance (then `val` must be NULL or
/// `None`); `tb` must be NULL or `None`. With `pending` the tasklet only
/// becomes runnable and the exception is raised when it runs.
///
/// Returns 0, or -1 with `TypeError` ("exceptions must be classes, or
/// instances, not T", "instance exception may not have a separate value",
/// "third argument must be a traceback object") or `RuntimeError`.
/// Switches tasklets unless `pending`.
#[no_mangle]
pub extern "C" fn PyTasklet_Throw(
    task: *mut PyTaskletObject,
    pending: c_int,
    exc: *mut PyObject,
    val: *mut PyObject,
    tb: *mut PyObject,
) -> c_int {
    guard(-1, || {
        with_tasklet(task, |t| {
            // SAFETY: a checked tasklet; the triple NULL or live.
            unsafe {
                let b = bomb::from_throw(exc, val, tb)?;
                scheduler::throw_bomb(t, pending != 0, b)
            }
        })
    })
}

/// Kills `task`: raises `TaskletExit` in it at once (see
/// `PyTasklet_KillEx`). Returns 0 or -1. Switches tasklets.
#[no_mangle]
pub extern "C" fn PyTasklet_Kill(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || PyTasklet_KillEx(task, 0))
}

/// Raises `TaskletExit` in `task`; with `pending` only when it next runs.
/// A dead, unbound or never set-up tasklet: success, nothing happens.
/// Killing the caller itself returns -1 with `TaskletExit` set.
#[no_mangle]
pub extern "C" fn PyTasklet_KillEx(task: *mut PyTaskletObject, pending: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::kill(t, pending != 0) })
    })
}

/// 1 if the tasklet is atomic (no watchdog interrupts), else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_GetAtomic(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        flag(task, |t| unsafe { &raw const (*t).atomic })
    })
}

/// Sets the atomic flag to `flag != 0`; returns the previous value (0 for
/// bad input).
#[no_mangle]
pub extern "C" fn PyTasklet_SetAtomic(task: *mut PyTaskletObject, flag: c_int) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        set_interrupt_flag(task, flag, |t| unsafe { &raw const (*t).atomic })
    })
}

/// 1 if the tasklet may be interrupted at any nesting level, else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_GetIgnoreNesting(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        flag(task, |t| unsafe { &raw const (*t).ignore_nesting })
    })
}

/// Sets ignore_nesting to `flag != 0`; returns the previous value.
#[no_mangle]
pub extern "C" fn PyTasklet_SetIgnoreNesting(task: *mut PyTaskletObject, flag: c_int) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        set_interrupt_flag(task, flag, |t| unsafe { &raw const (*t).ignore_nesting })
    })
}

/// 1 if a watchdog interrupt of the tasklet was deferred, else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_GetPendingIrq(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        flag(task, |t| unsafe { &raw const (*t).pending_irq })
    })
}

/// 1 if the tasklet must not block on a channel, else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_GetBlockTrap(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        flag(task, |t| unsafe { &raw const (*t).block_trap })
    })
}

/// Sets block_trap to `value != 0`.
#[no_mangle]
pub extern "C" fn PyTasklet_SetBlockTrap(task: *mut PyTaskletObject, value: c_int) {
    guard((), || {
        if let Some(t) = tasklet_or_none(task) {
            // SAFETY: a checked, live tasklet.
            unsafe { (*t).block_trap.store(value != 0, Ordering::Relaxed) };
        }
    })
}

/// Always NULL without an exception: a tasklet runs C code, which has no
/// Python frame.
#[no_mangle]
pub extern "C" fn PyTasklet_GetFrame(task: *mut PyTaskletObject) -> *mut PyObject {
    guard(null_mut(), || {
        // No tasklet has a frame, whatever `task` is.
        _ = task;
        null_mut()
    })
}

/// 1 if `task` is the main tasklet of its thread, else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_IsMain(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::is_main))
}

/// 1 if `task` is the current tasklet of its thread, else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_IsCurrent(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::is_current))
}

/// The recursion depth of `task` (0 for a tasklet running C functions).
#[no_mangle]
pub extern "C" fn PyTasklet_GetRecursionDepth(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        tasklet_or_none(task).map_or(0, |t| unsafe { tasklet::recursion_depth(t) })
    })
}

/// The nesting level of `task`: 0 unless it is suspended with C state
/// (then at least 1) or runs inside a callback.
#[no_mangle]
pub extern "C" fn PyTasklet_GetNestingLevel(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        tasklet_or_none(task).map_or(0, |t| unsafe { tasklet::nesting_level(t) })
    })
}

/// 1 if `task` is alive (has something to execute), else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_Alive(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::alive))
}

/// 1 if `task` is alive but neither runnable nor blocked, else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_Paused(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::paused))
}

/// 1 if `task` is in the runnables or blocked on a channel, else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_Scheduled(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::scheduled))
}

/// 1 if `task` has no C state on its stack (nesting level 0), else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_Restorable(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        predicate(task, |t| unsafe { tasklet::nesting_level(t) == 0 })
    })
}

/// Extension: -1 if `task` is blocked receiving, 1 sending, else 0.
#[no_mangle]
pub extern "C" fn PyTasklet_GetBlocked(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        tasklet_or_none(task).map_or(0, |t| unsafe { c_int::from(tasklet::blocked(t)) })
    })
}

/// Extension: the tasklet's tempval (new reference): the value it receives
/// when it resumes. NULL with `SystemError` for bad input, or with
/// `RuntimeError` when another thread asks while the tasklet is scheduled
/// or running there (its tempval is that thread's then). Does not switch.
#[no_mangle]
pub extern "C" fn PyTasklet_GetTempval(task: *mut PyTaskletObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked, live tasklet.
        to_object(tasklet_arg(task).and_then(|t| unsafe { tasklet::get_tempval_checked(t) }))
    })
}

/// Extension: replaces the tempval with `value` (borrowed), e.g. to hand
/// a result to a tasklet parked with `PyStackless_Schedule(retval, 1)`.
/// Returns 0, or -1 with `SystemError`, or `RuntimeError` as
/// `PyTasklet_GetTempval` from another thread. Does not switch.
#[no_mangle]
pub extern "C" fn PyTasklet_SetTempval(task: *mut PyTaskletObject, value: *mut PyObject) -> c_int {
    guard(-1, || {
        with_tasklet(task, |t| {
            let value = required(value)?;
            // SAFETY: a checked tasklet and a live value.
            unsafe { tasklet::set_tempval_checked(t, value) }
        })
    })
}

/// Extension: the id of the tasklet's thread, -1 when its thread died (0
/// for bad input, like every getter that cannot fail, SPEC §8).
#[no_mangle]
pub extern "C" fn PyTasklet_GetThreadId(task: *mut PyTaskletObject) -> c_long {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        tasklet_or_none(task).map_or(0, |t| unsafe { tasklet::thread_id(t) as c_long })
    })
}

/// Extension: the tasklet after `task` in its ring or channel queue (new
/// reference), or `None`. NULL with `SystemError` for bad input. From
/// another thread, only a channel queue's neighbours are reported (a ring
/// is its thread's own): a runnable tasklet there reads `None`.
#[no_mangle]
pub extern "C" fn PyTasklet_GetNext(task: *mut PyTaskletObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked, live tasklet.
        to_object(tasklet_arg(task).and_then(|t| unsafe { tasklet::neighbour(t, true) }))
    })
}

/// Extension: the tasklet before `task` in its ring or channel queue (new
/// reference), or `None`; from another thread as `PyTasklet_GetNext`.
#[no_mangle]
pub extern "C" fn PyTasklet_GetPrev(task: *mut PyTaskletObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked, live tasklet.
        to_object(tasklet_arg(task).and_then(|t| unsafe { tasklet::neighbour(t, false) }))
    })
}
