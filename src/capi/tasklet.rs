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

/// A new tasklet of type (NULL: PyTasklet_Type) bound to func (NULL or
/// None: unbound; bind it later with PyTasklet_BindEx). A subtype is called
/// as type(func), so that its tp_init runs.
///
/// Returns a new reference; NULL with SystemError when type is not a type
/// object, TypeError when it is not a subtype of tasklet (no message) or
/// func is not callable ("tasklet function must be a callable or None").
/// Does not switch. Threads: any thread; the tasklet belongs to the calling
/// thread, which joins the runtime (deadlock detection counts it).
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

/// Binds the tasklet's function to args (NULL: no arguments) and kwds
/// (NULL: no keywords) and appends the tasklet to the runnables of its
/// thread.
///
/// Returns 0, or -1: TypeError "argument list must be a tuple", "keyword
/// list must be a dictionary"; RuntimeError "tasklet is alive", "the
/// tasklet was not bound to a function", "tasklet has no thread", "Target
/// thread isn't initialized" (its thread is ending). Does not switch.
/// Threads: any thread; a tasklet of another thread joins the runnables of
/// that thread, which is not woken for it.
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

/// Binds func, args and kwargs to the tasklet (each may be NULL or None):
/// without args and kwargs the tasklet is bound to func (without func,
/// unbound) and not alive; with them it becomes paused, ready to run (not
/// scheduled), with func or the function it was bound to.
///
/// Returns 0, or -1: TypeError "tasklet function must be a callable or
/// None", "argument list must be a tuple", "keyword list must be a
/// dictionary"; RuntimeError "can't (re)bind the current tasklet", "tasklet
/// is scheduled", "tasklet has C state on its stack", "can't unbind the
/// main tasklet", "the tasklet was not bound to a function", "tasklet has
/// no thread". Does not switch. Threads: any thread; the tasklet stays with
/// its thread.
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

/// Binds the tasklet to the thread thread_id (-1: the calling thread): it
/// runs there once it is inserted or run.
///
/// Returns 0, or -1: RuntimeError "can't (re)bind a runnable tasklet",
/// "tasklet has C state on its stack" (it started, or it is a main
/// tasklet); ValueError "bad thread" for a thread that is not in the
/// runtime (it never joined it, or it ended). A tasklet of the calling
/// thread rebound with -1 is a no-op. Does not switch. Threads: any thread,
/// for a tasklet of any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_BindThread(task: *mut PyTaskletObject, thread_id: c_long) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { tasklet::bind_thread(t, thread_id) })
    })
}

/// Runs task now: the caller switches to it (inserting it first if it is
/// paused) and stays runnable, to continue when it is scheduled again.
/// Running the current tasklet does nothing.
///
/// Returns 0, or -1: RuntimeError "You cannot run a blocked tasklet" (also
/// one that sleeps), "You cannot run an unbound(dead) tasklet", "tasklet
/// has no thread", "switch_trap"; MemoryError when task cannot get a stack
/// to start on (it is then paused); or any exception delivered to the
/// caller meanwhile (e.g. an uncaught error of task when the caller is
/// main). May switch tasklets. Auto-wraps from outside. Threads: any
/// thread. A tasklet of another thread is handed to that thread, woken if
/// it sleeps, to run there next (right after its current tasklet); the
/// caller does not switch, and fails with RuntimeError "Target thread isn't
/// initialized" when that thread has ended.
#[no_mangle]
pub extern "C" fn PyTasklet_Run(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::run(t, false) })
    })
}

/// PyTasklet_Run: every switch is a hard switch, so this returns 0 on
/// success, never 1. May switch tasklets. Threads: as PyTasklet_Run.
#[no_mangle]
pub extern "C" fn PyTasklet_Run_nr(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || PyTasklet_Run(task))
}

/// PyTasklet_Run, but the caller is paused (it leaves the runnables) until
/// someone runs or inserts it again. Switching to the current tasklet does
/// nothing.
///
/// Returns 0, or -1 as PyTasklet_Run. May switch tasklets. Auto-wraps from
/// outside. Threads: any thread, to a tasklet of its own; a tasklet of
/// another thread fails with RuntimeError "can't switch to a different
/// thread.".
#[no_mangle]
pub extern "C" fn PyTasklet_Switch(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::run(t, true) })
    })
}

/// PyTasklet_Switch; returns 0 on success, never 1. May switch tasklets.
/// Threads: as PyTasklet_Switch.
#[no_mangle]
pub extern "C" fn PyTasklet_Switch_nr(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || PyTasklet_Switch(task))
}

/// Removes task from the runnables of its thread: it becomes paused.
///
/// Returns 0 (also when it is not scheduled or has no thread), or -1 with
/// RuntimeError "You cannot remove a blocked tasklet." (also one that
/// sleeps), "The current tasklet cannot be removed." (the current tasklet
/// of its thread), "Target thread isn't initialized" (its thread is
/// ending). Does not switch. Threads: any thread. A tasklet of another
/// thread is handed to that thread, which takes it out of its runnables at
/// its next scheduling point and is not woken for it; PyTasklet_Scheduled
/// reads 0 as soon as the call returns.
#[no_mangle]
pub extern "C" fn PyTasklet_Remove(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::remove(t) })
    })
}

/// Appends task to the runnables of its thread, unless it is there already.
///
/// Returns 0, or -1 with RuntimeError "You cannot run a blocked tasklet"
/// (also one that sleeps), "You cannot run an unbound(dead) tasklet",
/// "Target thread isn't initialized" (its thread is outside, with no main
/// tasklet, or ended). Does not switch. Threads: any thread. A tasklet of
/// another thread is handed to that thread, woken if it sleeps, which
/// appends it at its next scheduling point; PyTasklet_Scheduled reads 1 as
/// soon as the call returns.
#[no_mangle]
pub extern "C" fn PyTasklet_Insert(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::insert(t) })
    })
}

/// Raises klass(*args) in task (args a tuple, else the only argument; NULL:
/// none) and switches to it at once; the caller stays runnable. A blocked
/// or sleeping task stops waiting.
///
/// Returns 0 when the caller resumes, -1 on failure: TypeError
/// "tasklet.raise_exception needs Exception or string subclass as first
/// parameter"; RuntimeError "You cannot throw to a dead tasklet", "tasklet
/// has no thread", "switch_trap"; the exception itself when task is the
/// caller; or any exception delivered to the caller meanwhile. May switch
/// tasklets. Auto-wraps from outside. Threads: any thread. To a tasklet of
/// another thread the exception is always pending and the caller does not
/// switch: a blocked task leaves its channel at once, and its thread (woken
/// if it sleeps) raises the exception when task next runs (a running one:
/// at its next switching call); RuntimeError "Target thread isn't
/// initialised" when that thread is outside or ended.
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

/// Raises (exc, val, tb) in task as tasklet.throw() does: exc a class (with
/// an optional val) or an instance (then val must be NULL or None); tb must
/// be NULL or None. With pending non-zero task only becomes runnable and
/// the exception is raised when it runs; else the caller switches to it at
/// once and stays runnable. A blocked or sleeping task stops waiting.
///
/// Returns 0, or -1 with TypeError ("exceptions must be classes, or
/// instances, not T", "instance exception may not have a separate value",
/// "third argument must be a traceback object"), RuntimeError as
/// PyTasklet_RaiseException, the exception itself when task is the caller,
/// or any exception delivered to the caller meanwhile. May switch tasklets.
/// With pending it never does. Auto-wraps from outside. Threads: any thread; to
/// a tasklet of another thread as PyTasklet_RaiseException (always
/// pending).
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

/// Kills task: PyTasklet_KillEx(task, 0). Returns 0 or -1. May switch
/// tasklets. Threads: as PyTasklet_KillEx.
#[no_mangle]
pub extern "C" fn PyTasklet_Kill(task: *mut PyTaskletObject) -> c_int {
    guard(-1, || PyTasklet_KillEx(task, 0))
}

/// Raises TaskletExit in task: at once, the caller switching to it and
/// staying runnable, or with pending non-zero when task next runs. A dead,
/// unbound or never set-up tasklet: success, nothing happens.
///
/// Returns 0, or -1: TaskletExit when task is the caller; RuntimeError
/// "switch_trap"; or any exception delivered to the caller meanwhile. May
/// switch tasklets. With pending it never does. Auto-wraps from outside.
/// Threads: any thread; to a tasklet of another thread as
/// PyTasklet_RaiseException (always pending).
#[no_mangle]
pub extern "C" fn PyTasklet_KillEx(task: *mut PyTaskletObject, pending: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: a checked tasklet.
        with_tasklet(task, |t| unsafe { scheduler::kill(t, pending != 0) })
    })
}

/// 1 if the tasklet is atomic (no watchdog interrupts it), else 0 (also for
/// bad input). Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_GetAtomic(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        flag(task, |t| unsafe { &raw const (*t).atomic })
    })
}

/// Sets the atomic flag of the tasklet to flag != 0: while it is set, no
/// watchdog interrupts the tasklet. Returns the previous value (0 for bad
/// input). Does not switch. Threads: any thread; the flag acts on the
/// tasklet's own thread (it never stops other threads).
#[no_mangle]
pub extern "C" fn PyTasklet_SetAtomic(task: *mut PyTaskletObject, flag: c_int) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        set_interrupt_flag(task, flag, |t| unsafe { &raw const (*t).atomic })
    })
}

/// 1 if a watchdog may interrupt the tasklet at any nesting level, else 0
/// (also for bad input). Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_GetIgnoreNesting(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        flag(task, |t| unsafe { &raw const (*t).ignore_nesting })
    })
}

/// Sets ignore_nesting of the tasklet to flag != 0. Returns the previous
/// value (0 for bad input). Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_SetIgnoreNesting(task: *mut PyTaskletObject, flag: c_int) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        set_interrupt_flag(task, flag, |t| unsafe { &raw const (*t).ignore_nesting })
    })
}

/// 1 if a watchdog interrupt of the tasklet was deferred (to the next
/// switch of a soft run, or until atomic, a callback or the switch trap no
/// longer forbid it), else 0 (also for bad input). Does not switch.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_GetPendingIrq(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        flag(task, |t| unsafe { &raw const (*t).pending_irq })
    })
}

/// 1 if the tasklet must not block on a channel (its send or receive that
/// would block fails with RuntimeError "this tasklet does not like to be
/// blocked."), else 0 (also for bad input). Does not switch. Threads: any
/// thread.
#[no_mangle]
pub extern "C" fn PyTasklet_GetBlockTrap(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: `t` is the checked, live tasklet.
        flag(task, |t| unsafe { &raw const (*t).block_trap })
    })
}

/// Sets block_trap of the tasklet to value != 0; nothing for bad input.
/// Does not switch. Threads: any thread.
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
/// Python frame. Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_GetFrame(task: *mut PyTaskletObject) -> *mut PyObject {
    guard(null_mut(), || {
        // No tasklet has a frame, whatever `task` is.
        _ = task;
        null_mut()
    })
}

/// 1 if task is the main tasklet of its thread, else 0 (also for bad
/// input). Does not switch. Threads: any thread; the answer is about the
/// tasklet's own thread.
#[no_mangle]
pub extern "C" fn PyTasklet_IsMain(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::is_main))
}

/// 1 if task is the current tasklet of its thread, else 0 (also for bad
/// input). Does not switch. Threads: any thread; the answer is about the
/// tasklet's own thread.
#[no_mangle]
pub extern "C" fn PyTasklet_IsCurrent(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::is_current))
}

/// The recursion depth of task (the levels Py_EnterRecursiveCall counts; 0
/// for a tasklet running C functions), 0 for bad input. Does not switch.
/// Threads: any thread; a tasklet that runs on another thread reports the
/// depth it had when it last switched out.
#[no_mangle]
pub extern "C" fn PyTasklet_GetRecursionDepth(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        tasklet_or_none(task).map_or(0, |t| unsafe { tasklet::recursion_depth(t) })
    })
}

/// The nesting level of task: 0 unless it is suspended with C state (then
/// at least 1) or runs inside a callback; 0 for bad input. Does not switch.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_GetNestingLevel(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        tasklet_or_none(task).map_or(0, |t| unsafe { tasklet::nesting_level(t) })
    })
}

/// 1 if task is alive (it has something to execute and a thread), else 0
/// (also for bad input). Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_Alive(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::alive))
}

/// 1 if task is alive but neither runnable, blocked nor asleep, else 0
/// (also for bad input). Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_Paused(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::paused))
}

/// 1 if task is in the runnables of its thread, blocked on a channel or
/// asleep, else 0 (also for bad input). Does not switch. Threads: any
/// thread; an Insert or Remove that another thread handed over counts as
/// done.
#[no_mangle]
pub extern "C" fn PyTasklet_Scheduled(task: *mut PyTaskletObject) -> c_int {
    guard(0, || predicate(task, tasklet::scheduled))
}

/// 1 if task has no C state on its stack (nesting level 0), else 0 (also
/// for bad input). Does not switch. Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_Restorable(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        predicate(task, |t| unsafe { tasklet::nesting_level(t) == 0 })
    })
}

/// Extension: -1 if task is blocked receiving, 1 if it is blocked sending,
/// else 0 (also for bad input and a sleeping tasklet). Does not switch.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_GetBlocked(task: *mut PyTaskletObject) -> c_int {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        tasklet_or_none(task).map_or(0, |t| unsafe { c_int::from(tasklet::blocked(t)) })
    })
}

/// Extension: the tempval of task (new reference): the value it receives
/// when it resumes. NULL with SystemError for bad input. Does not switch.
/// Threads: any thread; from another thread, while task is scheduled or
/// current there (and not blocked on a channel), NULL with RuntimeError:
/// its tempval is that thread's then.
#[no_mangle]
pub extern "C" fn PyTasklet_GetTempval(task: *mut PyTaskletObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked, live tasklet.
        to_object(tasklet_arg(task).and_then(|t| unsafe { tasklet::get_tempval_checked(t) }))
    })
}

/// Extension: replaces the tempval of task with value (borrowed, not NULL),
/// e.g. to hand a result to a tasklet parked with
/// PyStackless_Schedule(retval, 1). Returns 0, or -1 with SystemError for
/// bad input. Does not switch. Threads: any thread; from another thread
/// -1 with RuntimeError as PyTasklet_GetTempval.
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

/// Extension: the id of the tasklet's thread (PyThread_get_thread_ident()
/// there), -1 when its thread ended, 0 for bad input. Does not switch.
/// Threads: any thread.
#[no_mangle]
pub extern "C" fn PyTasklet_GetThreadId(task: *mut PyTaskletObject) -> c_long {
    guard(0, || {
        // SAFETY: a checked, live tasklet.
        tasklet_or_none(task).map_or(0, |t| unsafe { tasklet::thread_id(t) as c_long })
    })
}

/// Extension: the tasklet after task in its thread's runnables or in its
/// channel's queue (new reference), or None. NULL with SystemError for bad
/// input. Does not switch. Threads: any thread; from another thread only a
/// channel queue's neighbours are reported (the runnables are their
/// thread's own): a runnable tasklet there reads None.
#[no_mangle]
pub extern "C" fn PyTasklet_GetNext(task: *mut PyTaskletObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked, live tasklet.
        to_object(tasklet_arg(task).and_then(|t| unsafe { tasklet::neighbour(t, true) }))
    })
}

/// Extension: the tasklet before task in its thread's runnables or in its
/// channel's queue (new reference), or None. NULL with SystemError for bad
/// input. Does not switch. Threads: any thread; from another thread as
/// PyTasklet_GetNext.
#[no_mangle]
pub extern "C" fn PyTasklet_GetPrev(task: *mut PyTaskletObject) -> *mut PyObject {
    guard(null_mut(), || {
        // SAFETY: a checked, live tasklet.
        to_object(tasklet_arg(task).and_then(|t| unsafe { tasklet::neighbour(t, false) }))
    })
}
