//! The tasklet object: its fields and who owns them, the atomic state word,
//! the predicates of SPEC §2.1 and binding (§8.1).

use super::bomb;
use super::channel::{self, Channel};
use super::messages as msg;
use super::run_queue::{Linked, Links};
use super::stack::TaskletStack;
pub(crate) use super::state::{
    alive, blocked, has_c_stack, has_thread, is_current, is_main, is_own, nesting_level, paused,
    recursion_depth, replace_state, scheduled, set_state, state, thread_id, Kind, Requests, State,
};
use super::switch::settle;
use super::thread_state::Ts;
use super::threads;
use crate::capi;
use crate::errors::{self, ErrorState, PyResult, Raised};
use crate::object::typeobj::{self, builtin, PyBaseObject_Type, PyType_Type};
use crate::object::{
    self, decref, none, protocol, tuple, xdecref, PyObject, PyTypeObject, Py_TPFLAGS_BASETYPE,
};
use core::cell::Cell;
use core::ffi::{c_int, c_long, c_ulong};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering};
use corosensei::{Coroutine, Yielder};

/// The coroutine a started tasklet runs on.
pub(crate) type TaskletCoroutine = Coroutine<(), (), (), TaskletStack>;

/// Number of pointer-sized private words after the header of a tasklet.
pub const PY_TASKLET_PRIVATE_WORDS: usize = 36;

/// A tasklet. The fields after ob_base are private to the runtime; the
/// type is complete so that C code can subclass it by embedding (first
/// member a PyTaskletObject, tp_base = &PyTasklet_Type).
///
/// Threads: a tasklet belongs to one thread (the one that created it, or
/// the one PyTasklet_BindThread named) and runs only there. Any thread may
/// hold references to it and call every PyTasklet_ function on it: the
/// predicates read its atomic state; Setup, Insert, Run, Remove, Kill,
/// Throw and RaiseException of a tasklet of another thread are handed to
/// its thread, which applies them at its next scheduling point; Switch to
/// it fails. When its thread ends, a started tasklet is killed there, and
/// the tasklet has no thread from then on.
#[repr(C)]
pub struct PyTaskletObject {
    /// Header.
    pub ob_base: PyObject,
    /// Runtime state; do not touch.
    pub _private: [usize; PY_TASKLET_PRIVATE_WORDS],
}

/// The runtime's view of a tasklet object.
///
/// Who owns what (DESIGN.md "Who owns what"):
///
/// | field | owner |
/// | --- | --- |
/// | `ob_base.ob_refcnt` | atomic |
/// | `state` | atomic. Written by the owning thread (release stores), except: out of `Idle` another thread may CAS it under the owner's inbox lock (`Setup`, `BindThread`), and the owner CASes too; while `Blocked*` it is written only under the lock of `channel`, by whoever holds it |
/// | `requests` | atomic: added under the owner's inbox lock, counted down by the owner |
/// | `atomic`, `ignore_nesting`, `block_trap` | atomic (relaxed): any thread sets them, the owner reads them |
/// | `pending_irq` | atomic (relaxed): the owner writes, any thread reads |
/// | `recursion_depth`, `nesting_level` | atomic (relaxed): saved by the owner at switch-out, read by any thread |
/// | `channel` | atomic: written under the channel's lock (and the owner's inbox lock when cleared by another thread); read without a lock only to find which lock to take |
/// | `queue` | the lock of `channel` |
/// | `tempval`, `delivered`, `func`, `args`, `kwds`, `pending_bomb` | the owning thread; the lock of `channel` while `Blocked*`; the inbox lock of its thread while `Handed` (the thread that hands it over writes them under that lock; the owner reads them once it applied the hand-off, or under that lock) |
/// | `ring`, `is_zombie`, `err`, `started_index`, `switched_out_at`, `yielder`, `red_zone`, `stack_low`, `stack_floor`, `timer`, `saved_sp`, `fiber`, `coro` | the owning thread |
#[repr(C)]
pub(crate) struct Tasklet {
    pub ob_base: PyObject,
    pub state: AtomicU64,
    pub requests: Requests,
    pub atomic: AtomicBool,
    pub ignore_nesting: AtomicBool,
    pub block_trap: AtomicBool,
    pub pending_irq: AtomicBool,
    /// The finalizer is killing it (SPEC §2.7).
    pub is_zombie: bool,
    /// Whether `tempval` holds a value a channel delivered, not yet
    /// claimed, and from which thread (see [`Delivery`]).
    pub delivered: Delivery,
    pub recursion_depth: AtomicI32,
    pub nesting_level: AtomicI32,
    pub ring: Links<Tasklet>,
    /// Links in the queue of `channel` (NULL-terminated).
    pub queue: QueueLinks,
    pub channel: AtomicPtr<Channel>,
    /// Owned; `None` when empty. Holds the bound callable before setup.
    pub tempval: *mut PyObject,
    /// The pending call (owned), set while the tasklet is alive and not
    /// started.
    pub func: *mut PyObject,
    pub args: *mut PyObject,
    pub kwds: *mut PyObject,
    /// Error indicator saved while the tasklet is switched out.
    pub err: ErrorState,
    /// A bomb raised at the tasklet's next switching call (owned, or NULL).
    pub pending_bomb: *mut PyObject,
    /// Position in its thread's list of started tasklets.
    pub started_index: usize,
    /// Order in which started tasklets were last switched out.
    pub switched_out_at: u64,
    pub yielder: *const Yielder<(), ()>,
    /// The red zone of an unguarded stack, checked at switch-out, or NULL.
    pub red_zone: *const u64,
    /// Where its stack ends, `[stack_low, stack_floor)` the stretch where a
    /// recursion stops (0, 0 until it starts, and for main).
    pub stack_low: usize,
    pub stack_floor: usize,
    /// Its slot in its thread's timers (slot + 1), 0 without a timer.
    pub timer: Cell<usize>,
    /// About where its stack pointer was when it last switched out (0 until
    /// then): where a switch to it first touches its stack, which the
    /// switches before it prefetch (`switch::prefetch_ahead`).
    pub saved_sp: usize,
    /// Its stack's fiber, for ThreadSanitizer (empty without it).
    pub fiber: super::tsan::Fiber,
    pub coro: Option<TaskletCoroutine>,
}

/// Whether a tasklet's tempval holds a value a channel operation delivered
/// (its send or receive completed) that it has not claimed yet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Delivery {
    /// No: the tempval is its own (or a bomb).
    None,
    /// A partner of its own thread completed the operation: a kill or an
    /// uncaught error from its own thread replaces the value, as in
    /// Stackless (SPEC §5.6, §2.5); a kill from another thread or from the
    /// thread's end waits for the tasklet's next switching call.
    Local,
    /// A partner on another thread completed it: every kill waits for the
    /// tasklet's next switching call instead, so that no message is lost
    /// to a race between threads.
    Remote,
}

/// The links of a blocked tasklet in its channel's queue.
pub(crate) struct QueueLinks {
    pub next: *mut Tasklet,
    pub prev: *mut Tasklet,
}

impl Linked for Tasklet {
    fn links(&self) -> &Links<Tasklet> {
        &self.ring
    }
}

const _: () = assert!(core::mem::size_of::<Tasklet>() <= core::mem::size_of::<PyTaskletObject>());

/// The type of tasklets; C code may subclass it (tp_base = &PyTasklet_Type,
/// then PyType_Ready).
#[no_mangle]
pub static mut PyTasklet_Type: PyTypeObject = PyTypeObject {
    tp_new: Some(tasklet_new),
    tp_init: Some(tasklet_init),
    tp_call: Some(tasklet_call),
    tp_dealloc: Some(tasklet_dealloc),
    ..builtin(
        &raw mut PyType_Type,
        c"stackless.tasklet",
        core::mem::size_of::<PyTaskletObject>(),
        0,
        &raw mut PyBaseObject_Type,
        Py_TPFLAGS_BASETYPE,
    )
};

/// The tasklet type.
pub(crate) fn tasklet_type() -> *mut PyTypeObject {
    &raw mut PyTasklet_Type
}

/// Whether `op` is a tasklet (or an instance of a subtype).
///
/// # Safety
/// `op` must be a live object.
pub(crate) unsafe fn check(op: *mut PyObject) -> bool {
    // SAFETY: per the contract.
    unsafe { object::type_check(op, tasklet_type()) }
}

/// Allocates a tasklet of `ty` bound to the calling thread, with all flags 0.
///
/// # Safety
/// `ty` must be the tasklet type or a ready subtype.
pub(crate) unsafe fn alloc(ty: *mut PyTypeObject) -> PyResult<*mut Tasklet> {
    let ts = Ts::get();
    let op = match ts.take_cached_tasklet() {
        Some(op) if ty == tasklet_type() => {
            // SAFETY: a freed tasklet object of this thread, reachable by
            // nobody else.
            unsafe {
                object::set_refcnt(op, 1);
                (*op).ob_type = ty;
            }
            op
        }
        cached => {
            if let Some(op) = cached {
                ts.cache_tasklet(op);
            }
            // SAFETY: `ty` is a ready tasklet type.
            unsafe { typeobj::alloc(ty, 0)? }
        }
    };
    let t = op.cast::<Tasklet>();
    // SAFETY: `op` is an allocation of at least `size_of::<Tasklet>()`
    // bytes whose header is initialised; the rest is written here.
    unsafe {
        let header = core::ptr::read(&raw const (*t).ob_base);
        core::ptr::write(
            t,
            Tasklet {
                ob_base: header,
                state: AtomicU64::new(State::new(ts.shared(), Kind::Idle, false).bits()),
                requests: Requests::new(),
                atomic: AtomicBool::new(false),
                ignore_nesting: AtomicBool::new(false),
                block_trap: AtomicBool::new(false),
                pending_irq: AtomicBool::new(false),
                is_zombie: false,
                delivered: Delivery::None,
                recursion_depth: AtomicI32::new(0),
                nesting_level: AtomicI32::new(0),
                ring: Links::new(),
                queue: QueueLinks {
                    next: null_mut(),
                    prev: null_mut(),
                },
                channel: AtomicPtr::new(null_mut()),
                tempval: none::new_none(),
                func: null_mut(),
                args: null_mut(),
                kwds: null_mut(),
                err: ErrorState::EMPTY,
                pending_bomb: null_mut(),
                started_index: usize::MAX,
                switched_out_at: 0,
                yielder: core::ptr::null(),
                red_zone: core::ptr::null(),
                stack_low: 0,
                stack_floor: 0,
                timer: Cell::new(0),
                saved_sp: 0,
                fiber: super::tsan::Fiber::current(),
                coro: None,
            },
        );
    }
    Ok(t)
}

/// `tp_new` of tasklets: a new, unbound tasklet of `ty`.
///
/// # Safety
/// `ty` must be the tasklet type or a ready subtype.
unsafe extern "C-unwind" fn tasklet_new(
    ty: *mut PyTypeObject,
    _args: *mut PyObject,
    _kwds: *mut PyObject,
) -> *mut PyObject {
    errors::guard(null_mut(), || {
        // SAFETY: called through the type, which is a tasklet type.
        unsafe { alloc(ty) }.map_or(null_mut(), |t| t.cast())
    })
}

/// `tasklet(func)`: binds `func` (None: unbound).
///
/// # Safety
/// `op` must be a tasklet, `args` a tuple.
unsafe extern "C-unwind" fn tasklet_init(
    op: *mut PyObject,
    args: *mut PyObject,
    _kwds: *mut PyObject,
) -> c_int {
    errors::guard(-1, || {
        if capi::required_kind(op, check).is_err()
            || capi::required_kind(args, tuple::check).is_err()
        {
            return -1;
        }
        // SAFETY: `args` is a tuple.
        let func = match unsafe { tuple::items(args) } {
            [] => null_mut(),
            [f] => *f,
            _ => {
                errors::type_error("tasklet() takes at most 1 argument");
                return -1;
            }
        };
        // SAFETY: `op` is the tasklet being initialised.
        match unsafe { bind(op.cast(), func, null_mut(), null_mut()) } {
            Ok(()) => 0,
            Err(Raised) => -1,
        }
    })
}

/// Calling a tasklet sets it up with the call's arguments and returns it.
///
/// # Safety
/// `op` must be a tasklet, `args` a tuple, `kwds` NULL or a dict.
unsafe extern "C-unwind" fn tasklet_call(
    op: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    errors::guard(null_mut(), || {
        if capi::required_kind(op, check).is_err() {
            return null_mut();
        }
        // SAFETY: `op` is a tasklet; args/kwds NULL or live (checked by
        // setup).
        unsafe {
            match super::scheduler::setup(op.cast(), args, kwds) {
                Ok(()) => object::new_ref(op),
                Err(Raised) => null_mut(),
            }
        }
    })
}

/// `tp_dealloc` of tasklets (SPEC §2.7).
///
/// # Safety
/// `op` must be a tasklet whose last reference went.
unsafe extern "C-unwind" fn tasklet_dealloc(op: *mut PyObject) {
    errors::guard((), || {
        let t = op.cast::<Tasklet>();
        // SAFETY: the last reference went: nobody else reaches `t`.
        unsafe {
            if !super::finalize::finalize_on_dealloc(t) {
                return;
            }
            drop_frame(t);
            let tempval = core::mem::replace(&mut (*t).tempval, null_mut());
            xdecref(tempval);
            xdecref(core::mem::replace(&mut (*t).pending_bomb, null_mut()));
            (*t).err.release();
            // Only never-resumed coroutines reach this point (finished ones
            // gave their stack back): dropping one runs nothing.
            drop((*t).coro.take());
            // Its own thread keeps it: another thread that drops the last
            // references to tasklets it never makes would keep them all.
            match Ts::existing() {
                Some(ts) if object::type_of(op) == tasklet_type() && ts.is(state(t).thread()) => {
                    ts.cache_tasklet(op)
                }
                _ => super::threads::free_tasklet(op),
            }
        }
    })
}

/// `PyTasklet_New(ty, func)`: the tasklet type itself is allocated and
/// bound directly; a subtype is called, so that its `tp_init` runs.
///
/// # Safety
/// `ty` must be a type object; `func` NULL or live.
pub(crate) unsafe fn new(ty: *mut PyTypeObject, func: *mut PyObject) -> PyResult<*mut Tasklet> {
    // SAFETY: per the contract.
    unsafe {
        if !typeobj::is_subtype(ty, tasklet_type()) {
            return Err(errors::set_none(crate::object::exceptions::type_error()));
        }
        let func = if func == none::none() {
            null_mut()
        } else {
            func
        };
        if ty == tasklet_type() {
            let t = alloc(ty)?;
            if let Err(e) = bind(t, func, null_mut(), null_mut()) {
                decref(t.cast());
                return Err(e);
            }
            return Ok(t);
        }
        let args = if func.is_null() {
            tuple::empty()?
        } else {
            tuple::from_borrowed(&[func])?
        };
        let r = protocol::call(ty.cast(), args, null_mut());
        decref(args);
        r.map(|t| t.cast())
    }
}

/// Releases the pending call.
///
/// # Safety
/// `t` must be a live tasklet whose fields the caller may write.
pub(crate) unsafe fn drop_frame(t: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        let (f, a, k) = (
            core::mem::replace(&mut (*t).func, null_mut()),
            core::mem::replace(&mut (*t).args, null_mut()),
            core::mem::replace(&mut (*t).kwds, null_mut()),
        );
        xdecref(f);
        xdecref(a);
        xdecref(k);
    }
}

/// Replaces the tempval (stealing `value`), releasing the old one.
///
/// # Safety
/// `t` must be live, the caller the owner of its tempval; `value` owned.
pub(crate) unsafe fn set_tempval(t: *mut Tasklet, value: *mut PyObject) {
    // SAFETY: per the contract.
    unsafe {
        (*t).delivered = Delivery::None;
        let old = core::mem::replace(&mut (*t).tempval, value);
        xdecref(old);
    }
}

/// Takes the tempval, leaving `None`: the value a resumed tasklet receives.
/// A bomb explodes: its exception is set and the claim fails.
///
/// # Safety
/// `t` must be live, the caller the owner of its tempval.
pub(crate) unsafe fn claim_tempval(t: *mut Tasklet) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract.
    unsafe {
        (*t).delivered = Delivery::None;
        let v = core::mem::replace(&mut (*t).tempval, none::new_none());
        if bomb::check(v) {
            bomb::explode(v);
            return Err(Raised);
        }
        Ok(v)
    }
}

/// `PyTasklet_BindEx` (SPEC §8.1). `None` counts as NULL for all three.
///
/// # Safety
/// `t` must be live; the others NULL or live.
pub(crate) unsafe fn bind(
    t: *mut Tasklet,
    func: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> PyResult<()> {
    let absent = |o: *mut PyObject| o.is_null() || o == none::none();
    let (func, args, kwds) = (
        if absent(func) { null_mut() } else { func },
        if absent(args) { null_mut() } else { args },
        if absent(kwds) { null_mut() } else { kwds },
    );
    // SAFETY: per the contract; a tasklet that is neither scheduled nor
    // started is touched by no thread but the caller.
    unsafe {
        if !func.is_null() && !protocol::is_callable(func) {
            return Err(errors::type_error(msg::NOT_CALLABLE));
        }
        protocol::check_call_args(args, kwds)?;
        if is_current(t) {
            return Err(errors::runtime_error(msg::REBIND_CURRENT));
        }
        if scheduled(t) {
            return Err(errors::runtime_error(msg::SCHEDULED));
        }
        if has_c_stack(t) {
            return Err(errors::runtime_error(msg::C_STATE));
        }
        if is_main(t) && args.is_null() && kwds.is_null() {
            return Err(errors::runtime_error(msg::UNBIND_MAIN));
        }
        if args.is_null() && kwds.is_null() {
            become_idle(t);
            set_tempval(
                t,
                if func.is_null() {
                    none::new_none()
                } else {
                    object::new_ref(func)
                },
            );
            return Ok(());
        }
        let callable = if func.is_null() { (*t).tempval } else { func };
        if !protocol::is_callable(callable) {
            return Err(errors::runtime_error(msg::NOT_BOUND));
        }
        if !has_thread(t) {
            return Err(errors::runtime_error(msg::NO_THREAD));
        }
        let args = if args.is_null() {
            tuple::empty()?
        } else {
            object::new_ref(args)
        };
        let s = state(t);
        let paused = s.with_kind(Kind::Paused).with_started(false);
        if !replace_state(t, s, paused) {
            decref(args);
            return Err(errors::runtime_error(msg::SCHEDULED));
        }
        drop_frame(t);
        (*t).recursion_depth.store(0, Ordering::Relaxed);
        set_pending_call(t, object::new_ref(callable), args, object::xnew_ref(kwds));
        Ok(())
    }
}

/// Drops the pending call of a tasklet that is neither scheduled nor
/// started: it becomes `Idle`. Of several threads that try at once (on a
/// threadless tasklet, which no thread owns), the one whose transition
/// succeeds drops the call.
///
/// # Safety
/// `t` must be live, neither scheduled nor started.
pub(crate) unsafe fn become_idle(t: *mut Tasklet) {
    // SAFETY: per the contract; the pending call belongs to whoever moves
    // the state out of `Paused`.
    unsafe {
        loop {
            let s = state(t);
            if s.is(Kind::Idle) {
                return;
            }
            if replace_state(t, s, s.with_kind(Kind::Idle)) {
                drop_frame(t);
                (*t).recursion_depth.store(0, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// Makes `func(*args, **kwds)` the pending call (steals all three) and
/// empties the tempval.
///
/// # Safety
/// `t` must be live and hold no pending call; the caller owns its fields.
pub(crate) unsafe fn set_pending_call(
    t: *mut Tasklet,
    func: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) {
    // SAFETY: per the contract.
    unsafe {
        (*t).func = func;
        (*t).args = args;
        (*t).kwds = kwds;
        set_tempval(t, none::new_none());
    }
}

/// `PyTasklet_BindThread` (SPEC §6.2): `thread_id` -1 is the calling thread.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn bind_thread(t: *mut Tasklet, thread_id: c_long) -> PyResult<()> {
    let ts = Ts::get();
    // SAFETY: per the contract.
    unsafe {
        loop {
            let s = state(t);
            if thread_id == -1 && ts.is(s.thread()) {
                return Ok(());
            }
            if !s.waits() && (s.in_scheduler() || scheduled(t)) {
                return Err(errors::runtime_error(msg::REBIND_RUNNABLE));
            }
            if has_c_stack(t) || is_main(t) {
                return Err(errors::runtime_error(msg::C_STATE));
            }
            // Only a tasklet that is neither scheduled nor started is left:
            // no thread but the caller touches it.
            debug_assert!(matches!(s.kind(), Kind::Idle | Kind::Paused));
            let target = if thread_id == -1 {
                ts.shared()
            } else {
                match threads::find(thread_id as c_ulong) {
                    Some(shared) => shared,
                    None => return Err(errors::value_error(msg::BAD_THREAD)),
                }
            };
            if replace_state(t, s, s.with_thread(target)) {
                return Ok(());
            }
        }
    }
}

/// Runs `f` on `t` where its tempval may be touched: under its channel's
/// lock while it is blocked; on its own thread (once settled); from another
/// thread only while it is neither scheduled nor current there.
///
/// # Safety
/// `t` must be live.
unsafe fn with_tempval<R>(t: *mut Tasklet, f: impl Fn(*mut Tasklet) -> R) -> PyResult<R> {
    // SAFETY: per the contract.
    unsafe {
        loop {
            if blocked(t) != 0 {
                if let Some(r) = channel::with_blocked(t, |_| f(t)) {
                    return Ok(r);
                }
                continue;
            }
            let ts = Ts::get();
            if is_own(t, ts) {
                settle(ts, t);
            } else if has_thread(t) && (scheduled(t) || is_current(t)) {
                return Err(errors::runtime_error(msg::TEMPVAL_OTHER_THREAD));
            }
            return Ok(f(t));
        }
    }
}

/// `PyTasklet_GetTempval`: a new reference to the tempval.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn get_tempval_checked(t: *mut Tasklet) -> PyResult<*mut PyObject> {
    // SAFETY: per the contract; `with_tempval` gives access.
    unsafe { with_tempval(t, |t| object::new_ref((*t).tempval)) }
}

/// `PyTasklet_SetTempval`: replaces the tempval with `value` (borrowed).
///
/// # Safety
/// `t` and `value` must be live.
pub(crate) unsafe fn set_tempval_checked(t: *mut Tasklet, value: *mut PyObject) -> PyResult<()> {
    // SAFETY: per the contract; `with_tempval` gives access.
    unsafe {
        let old = with_tempval(t, |t| {
            (*t).delivered = Delivery::None;
            core::mem::replace(&mut (*t).tempval, object::new_ref(value))
        });
        old.map(|old| xdecref(old))
    }
}

/// The tasklet after (`next`) or before `t` in its ring or channel queue
/// (new reference), or `None`. The ring of another thread is its own: a
/// runnable tasklet of another thread has no neighbours to report.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn neighbour(t: *mut Tasklet, next: bool) -> PyResult<*mut PyObject> {
    let or_none = |n: *mut Tasklet| {
        // SAFETY: a neighbour is a live member of the same ring or queue.
        unsafe {
            if n.is_null() {
                none::new_none()
            } else {
                object::new_ref(n.cast())
            }
        }
    };
    // SAFETY: per the contract.
    unsafe {
        if let Some(n) = channel::with_blocked(t, |_| {
            or_none(if next {
                (*t).queue.next
            } else {
                (*t).queue.prev
            })
        }) {
            return Ok(n);
        }
        let ts = Ts::get();
        if !is_own(t, ts) || !(*t).ring.is_linked() {
            return Ok(or_none(null_mut()));
        }
        Ok(or_none(if next {
            (*t).ring.next()
        } else {
            (*t).ring.prev()
        }))
    }
}
