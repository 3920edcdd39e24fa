//! The callbacks (SPEC §5.4, §5.9, §5.10, §9.9): the global settings that
//! embedders install, shared by all threads, and the calls that run them.

use super::messages as msg;
use super::tasklet::{self, Tasklet};
use super::thread_state::Ts;
use super::watchdog;
use crate::errors::{self, PyResult, Raised};
use crate::object::{self, decref, exceptions, none, protocol, tuple, xdecref, PyObject};
use core::ffi::c_int;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use parking_lot::Mutex;

/// slp_schedule_hook_func: (from, to); non-zero means an error is set.
pub type slp_schedule_hook_func = Option<
    unsafe extern "C-unwind" fn(
        *mut tasklet::PyTaskletObject,
        *mut tasklet::PyTaskletObject,
    ) -> c_int,
>;

type Hook = unsafe extern "C-unwind" fn(
    *mut tasklet::PyTaskletObject,
    *mut tasklet::PyTaskletObject,
) -> c_int;

/// A Python-level object held by a global setting.
struct Held(*mut PyObject);
// SAFETY: the object's refcount is atomic; only the pointer moves.
unsafe impl Send for Held {}

static SCHEDULE_HOOK: AtomicPtr<()> = AtomicPtr::new(null_mut());
static SCHEDULE_CALLABLE: Mutex<Held> = Mutex::new(Held(null_mut()));
static CHANNEL_CALLABLE: Mutex<Held> = Mutex::new(Held(null_mut()));
/// Whether a channel callback is installed: checked without the lock on
/// every channel operation.
static HAS_CHANNEL_CALLABLE: AtomicBool = AtomicBool::new(false);
static ERROR_HANDLER: Mutex<Held> = Mutex::new(Held(null_mut()));
static EXIT_HOOK: AtomicPtr<()> = AtomicPtr::new(null_mut());

/// Calls the schedule hook for the switch `prev -> next` (prev may be NULL
/// for main's creation), with `schedlock` set and the error indicator
/// saved. During the call the current tasklet is `prev` (SPEC §5.9), also
/// when `prev` already left the ring.
///
/// # Safety
/// `prev` (or NULL) and `next` must be live tasklets of `ts`'s thread.
#[inline(always)]
pub(crate) unsafe fn schedule_callback(ts: Ts, prev: *mut Tasklet, next: *mut Tasklet) {
    if let Some(hook) = schedule_hook() {
        // SAFETY: per the contract.
        unsafe { call_schedule_hook(ts, hook, prev, next) };
    }
}

/// The cold part of [`schedule_callback`].
///
/// # Safety
/// As [`schedule_callback`]; `hook` is the installed hook.
#[cold]
unsafe fn call_schedule_hook(ts: Ts, hook: Hook, prev: *mut Tasklet, next: *mut Tasklet) {
    ts.set_schedlock(true);
    ts.set_nesting_level(ts.nesting_level() + 1);
    if !prev.is_null() {
        ts.set_callback_current(prev);
    }
    let saved = errors::take();
    // SAFETY: a hook installed by the embedder, called with live tasklets
    // (borrowed) as its contract says.
    if unsafe { hook(prev.cast(), next.cast()) } != 0 {
        write_unraisable(msg::SCHEDULE_CALLBACK_ERROR);
    }
    // SAFETY: the saved state owns its references.
    unsafe { errors::restore(saved) };
    ts.set_nesting_level(ts.nesting_level() - 1);
    ts.set_schedlock(false);
    // SAFETY: the current tasklet of this thread is live.
    unsafe { watchdog::recheck_pending_irq(ts.current()) };
    ts.set_callback_current(null_mut());
}

/// The fast hook, if any.
#[inline(always)]
pub(crate) fn schedule_hook() -> slp_schedule_hook_func {
    let p = SCHEDULE_HOOK.load(Ordering::Acquire);
    if p.is_null() {
        None
    } else {
        // SAFETY: only valid hook function pointers are stored.
        Some(unsafe { core::mem::transmute::<*mut (), Hook>(p) })
    }
}

/// `PyStackless_SetScheduleFastcallback`.
pub(crate) fn set_schedule_hook(hook: slp_schedule_hook_func) {
    SCHEDULE_HOOK.store(hook.map_or(null_mut(), |f| f as *mut ()), Ordering::Release);
}

/// Replaces a held object (a new reference to `value`, NULL clears);
/// returns the old one (owned).
///
/// # Safety
/// `value` must be NULL or live.
unsafe fn replace(slot: &Mutex<Held>, value: *mut PyObject) -> *mut PyObject {
    // SAFETY: per the contract.
    unsafe { object::xincref(value) };
    core::mem::replace(&mut slot.lock().0, value)
}

/// The held object (new reference) or NULL.
fn get(slot: &Mutex<Held>) -> *mut PyObject {
    let held = slot.lock();
    // SAFETY: a held object is live while the setting holds it.
    unsafe { object::xnew_ref(held.0) }
}

/// `PyStackless_SetScheduleCallback`: NULL removes it (and the hook).
///
/// # Safety
/// `callable` must be NULL or live.
pub(crate) unsafe fn set_schedule_callable(callable: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract.
    unsafe {
        if !callable.is_null() && !protocol::is_callable(callable) {
            return Err(errors::type_error(msg::SCHEDULE_CALLBACK_NOT_CALLABLE));
        }
        xdecref(replace(&SCHEDULE_CALLABLE, callable));
    }
    set_schedule_hook(if callable.is_null() {
        None
    } else {
        Some(call_schedule_callable)
    });
    Ok(())
}

/// The installed schedule callback (new reference) or NULL.
pub(crate) fn schedule_callable() -> *mut PyObject {
    get(&SCHEDULE_CALLABLE)
}

/// The hook that calls the schedule callable as `callable(from, to)`.
///
/// # Safety
/// `from` (or NULL) and `to` must be live tasklets.
unsafe extern "C-unwind" fn call_schedule_callable(
    from: *mut tasklet::PyTaskletObject,
    to: *mut tasklet::PyTaskletObject,
) -> c_int {
    errors::guard(-1, || {
        let cb = get(&SCHEDULE_CALLABLE);
        if cb.is_null() {
            return 0;
        }
        let or_none =
            |t: *mut tasklet::PyTaskletObject| if t.is_null() { none::none() } else { t.cast() };
        // SAFETY: `cb` is a live callable (new reference); the tasklets are
        // live for the duration of the hook.
        unsafe {
            let r = tuple::from_borrowed(&[or_none(from), or_none(to)]).and_then(|args| {
                let r = protocol::call(cb, args, null_mut());
                decref(args);
                r
            });
            decref(cb);
            match r {
                Ok(v) => {
                    decref(v);
                    0
                }
                Err(Raised) => -1,
            }
        }
    })
}

/// `PyStackless_SetChannelCallback`: NULL removes it.
///
/// # Safety
/// `callable` must be NULL or live.
pub(crate) unsafe fn set_channel_callable(callable: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract.
    unsafe {
        if !callable.is_null() && !protocol::is_callable(callable) {
            return Err(errors::type_error(msg::CHANNEL_CALLBACK_NOT_CALLABLE));
        }
        xdecref(replace(&CHANNEL_CALLABLE, callable));
    }
    HAS_CHANNEL_CALLABLE.store(!callable.is_null(), Ordering::Relaxed);
    Ok(())
}

/// Whether a channel callback is installed.
#[inline(always)]
pub(crate) fn has_channel_callable() -> bool {
    HAS_CHANNEL_CALLABLE.load(Ordering::Relaxed)
}

/// The installed channel callback (new reference) or NULL.
pub(crate) fn channel_callable() -> *mut PyObject {
    get(&CHANNEL_CALLABLE)
}

/// `PyStackless_SetErrorHandler`: returns the previous handler (new
/// reference, `None` when there was none); NULL or `None` removes it.
///
/// # Safety
/// `handler` must be NULL or live.
pub(crate) unsafe fn set_error_handler(handler: *mut PyObject) -> PyResult<*mut PyObject> {
    let handler = if handler == none::none() {
        null_mut()
    } else {
        handler
    };
    // SAFETY: per the contract.
    unsafe {
        if !handler.is_null() && !protocol::is_callable(handler) {
            return Err(errors::type_error(msg::ERROR_HANDLER_NOT_CALLABLE));
        }
        let old = replace(&ERROR_HANDLER, handler);
        Ok(if old.is_null() { none::new_none() } else { old })
    }
}

/// SPEC §5.4: calls the error handler with the pending exception, on the
/// dying tasklet. Ok when it handled the error (the error is cleared).
pub(crate) fn call_error_handler(ts: Ts) -> PyResult<()> {
    let handler = get(&ERROR_HANDLER);
    if handler.is_null() {
        return Err(Raised);
    }
    let mut state = errors::take();
    // SAFETY: the taken state owns its references; `handler` is a live
    // callable (new reference).
    unsafe {
        errors::normalize(&mut state);
        let or_none = |o: *mut PyObject| if o.is_null() { none::none() } else { o };
        let args =
            tuple::from_borrowed(&[or_none(state.ty), or_none(state.value), or_none(state.tb)]);
        state.release();
        ts.set_nesting_level(ts.nesting_level() + 1);
        let r = args.and_then(|args| {
            let r = protocol::call(handler, args, null_mut());
            decref(args);
            r
        });
        ts.set_nesting_level(ts.nesting_level() - 1);
        watchdog::recheck_pending_irq(ts.current());
        decref(handler);
        r.map(|v| decref(v))
    }
}

/// `PyStackless_SetExitHook`: what a SystemExit leaving a tasklet of the
/// initial thread does (default: `exit(status)`).
pub(crate) fn set_exit_hook(hook: Option<unsafe extern "C-unwind" fn(c_int)>) {
    EXIT_HOOK.store(hook.map_or(null_mut(), |f| f as *mut ()), Ordering::Release);
}

/// SPEC §9.9: ends the process with the pending SystemExit's code (None
/// 0, an int that int, anything else printed and 1), through the hook.
pub(crate) fn system_exit() {
    let mut state = errors::take();
    // SAFETY: the taken state owns its references.
    let status = unsafe {
        errors::normalize(&mut state);
        let code = if state.value.is_null() {
            null_mut()
        } else {
            match tuple::items(exceptions::args_of(state.value)) {
                [one] => *one,
                _ => null_mut(),
            }
        };
        let status = if code.is_null() || code == none::none() {
            0
        } else if object::long::check(code) {
            object::long::value(code) as c_int
        } else {
            if let Ok(text) = protocol::str_string(code) {
                eprintln!("{text}");
            }
            errors::clear();
            1
        };
        state.release();
        status
    };
    let hook = EXIT_HOOK.load(Ordering::Acquire);
    if hook.is_null() {
        std::process::exit(status);
    }
    // SAFETY: only valid hook function pointers are stored.
    unsafe {
        let hook = core::mem::transmute::<*mut (), unsafe extern "C-unwind" fn(c_int)>(hook);
        hook(status);
    }
}

/// Reports the pending exception as unraisable, with a context text,
/// on stderr, and clears it (SPEC §9.8).
pub(crate) fn write_unraisable(context: &str) {
    let mut state = errors::take();
    // SAFETY: the taken state owns its references.
    let text = unsafe {
        let t = errors::describe(&mut state);
        state.release();
        t
    };
    eprintln!("Exception ignored in: {context}\n{text}");
}
