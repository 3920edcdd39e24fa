//! The tasklet object: its fields, its type, bombs (exceptions in transit),
//! the predicates of SPEC §2.1 and the binding operations of §8.1.
//!
//! Raw-pointer invariants of this module and of `scheduler`: a `*mut
//! Tasklet` is a live tasklet object; `next`/`prev` link it into exactly one
//! ring or channel queue (both NULL when floating); the ring or queue owns
//! one reference to each member; `ts` is NULL or a `ThreadState` that is
//! never freed (a dead thread's state is only marked dead).

use super::messages as msg;
use super::scheduler::{self, ThreadState};
use super::stack::TaskletStack;
use crate::errors::{self, ErrorState, PyResult, Raised};
use crate::object::typeobj::{self, builtin, PyBaseObject_Type, PyType_Type};
use crate::object::{
    self, decref, exceptions, none, protocol, tuple, xdecref, PyObject, PyTypeObject,
    Py_TPFLAGS_BASETYPE,
};
use core::ffi::{c_int, c_ulong};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, Ordering};
use corosensei::{Coroutine, Yielder};

/// The coroutine a started tasklet runs on.
pub(crate) type TaskletCoroutine = Coroutine<(), (), (), TaskletStack>;

/// Number of pointer-sized private words after the header of a tasklet.
pub const PY_TASKLET_PRIVATE_WORDS: usize = 30;

/// A tasklet. The fields after `ob_base` are private to the runtime; the
/// type is complete so that C code can subclass it by embedding (first
/// member a `PyTaskletObject`, `tp_base = &PyTasklet_Type`).
#[repr(C)]
pub struct PyTaskletObject {
    /// Header.
    pub ob_base: PyObject,
    /// Runtime state; do not touch.
    pub _private: [usize; PY_TASKLET_PRIVATE_WORDS],
}

/// Whether a tasklet has something to execute (Stackless's `frame`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Frame {
    /// Unbound, bound, or dead.
    None,
    /// Set up, not started: `func(*args, **kwds)` is pending.
    Pending,
    /// Running or suspended on its own stack (or main on the native stack).
    Started,
}

/// The runtime's view of a tasklet object.
#[repr(C)]
pub(crate) struct Tasklet {
    pub ob_base: PyObject,
    pub next: *mut Tasklet,
    pub prev: *mut Tasklet,
    pub ts: *mut ThreadState,
    /// Owned; `None` when empty. Holds the bound callable before setup.
    pub tempval: *mut PyObject,
    /// The pending call (owned), set while `frame == Pending`.
    pub func: *mut PyObject,
    pub args: *mut PyObject,
    pub kwds: *mut PyObject,
    pub frame: Frame,
    /// 0, +1 blocked sending, -1 blocked receiving.
    pub blocked: i8,
    pub atomic: bool,
    pub ignore_nesting: bool,
    pub block_trap: bool,
    pub is_zombie: bool,
    pub pending_irq: bool,
    pub recursion_depth: i32,
    pub nesting_level: i32,
    /// The channel whose queue holds the tasklet while it is blocked.
    pub channel: *mut PyObject,
    /// Error indicator saved while the tasklet is switched out.
    pub err: ErrorState,
    /// Position in its thread's list of started tasklets.
    pub started_index: usize,
    /// Order in which started tasklets were last switched out.
    pub switched_out_at: u64,
    pub yielder: *const Yielder<(), ()>,
    /// Handed over to its thread's inbox, not yet drained (SPEC §6.3).
    pub in_inbox: AtomicBool,
    /// Another thread removed it; its thread unlinks it at its next
    /// scheduling point (it reads as unscheduled from now on).
    pub remove_pending: AtomicBool,
    /// The red zone of an unguarded stack, checked at switch-out, or NULL.
    pub red_zone: *const u64,
    pub coro: Option<TaskletCoroutine>,
}

const _: () = assert!(core::mem::size_of::<Tasklet>() <= core::mem::size_of::<PyTaskletObject>());

/// `PyTasklet_Type`: subclassable.
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
    object::type_check(op, tasklet_type())
}

/// Allocates a tasklet of `ty` bound to the calling thread, with all flags 0.
///
/// # Safety
/// `ty` must be the tasklet type or a ready subtype.
pub(crate) unsafe fn alloc(ty: *mut PyTypeObject) -> PyResult<*mut Tasklet> {
    let ts = scheduler::thread_state();
    let op = match (*ts).tasklet_cache.pop() {
        Some(op) if ty == tasklet_type() => {
            (*op).ob_refcnt = 1;
            (*op).ob_type = ty;
            op
        }
        cached => {
            if let Some(op) = cached {
                (*ts).tasklet_cache.push(op);
            }
            typeobj::alloc(ty, 0)?
        }
    };
    let t = op.cast::<Tasklet>();
    let header = core::ptr::read(&raw const (*t).ob_base);
    core::ptr::write(
        t,
        Tasklet {
            ob_base: header,
            next: null_mut(),
            prev: null_mut(),
            ts,
            tempval: none::new_none(),
            func: null_mut(),
            args: null_mut(),
            kwds: null_mut(),
            frame: Frame::None,
            blocked: 0,
            atomic: false,
            ignore_nesting: false,
            block_trap: false,
            is_zombie: false,
            pending_irq: false,
            recursion_depth: 0,
            nesting_level: 0,
            channel: null_mut(),
            err: ErrorState::EMPTY,
            started_index: usize::MAX,
            switched_out_at: 0,
            yielder: core::ptr::null(),
            in_inbox: AtomicBool::new(false),
            remove_pending: AtomicBool::new(false),
            red_zone: core::ptr::null(),
            coro: None,
        },
    );
    Ok(t)
}

unsafe extern "C-unwind" fn tasklet_new(
    ty: *mut PyTypeObject,
    _args: *mut PyObject,
    _kwds: *mut PyObject,
) -> *mut PyObject {
    alloc(ty).map_or(null_mut(), |t| t.cast())
}

/// `tasklet(func)`: binds `func` (None: unbound).
unsafe extern "C-unwind" fn tasklet_init(
    op: *mut PyObject,
    args: *mut PyObject,
    _kwds: *mut PyObject,
) -> c_int {
    let func = match tuple::items(args) {
        [] => null_mut(),
        [f] => *f,
        _ => {
            errors::type_error("tasklet() takes at most 1 argument");
            return -1;
        }
    };
    match bind(op.cast(), func, null_mut(), null_mut()) {
        Ok(()) => 0,
        Err(Raised) => -1,
    }
}

/// Calling a tasklet sets it up with the call's arguments and returns it.
unsafe extern "C-unwind" fn tasklet_call(
    op: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) -> *mut PyObject {
    match scheduler::setup(op.cast(), args, kwds) {
        Ok(()) => object::new_ref(op),
        Err(Raised) => null_mut(),
    }
}

unsafe extern "C-unwind" fn tasklet_dealloc(op: *mut PyObject) {
    let t = op.cast::<Tasklet>();
    if !scheduler::finalize_on_dealloc(t) {
        return;
    }
    drop_frame(t);
    let tempval = core::mem::replace(&mut (*t).tempval, null_mut());
    xdecref(tempval);
    (*t).err.release();
    // Only never-resumed coroutines reach this point (finished ones gave
    // their stack back): dropping one runs nothing.
    drop((*t).coro.take());
    let ts = scheduler::existing_thread_state();
    if object::type_of(op) == tasklet_type()
        && !ts.is_null()
        && (*ts).tasklet_cache.len() < TASKLET_CACHE
    {
        (*ts).tasklet_cache.push(op);
    } else {
        typeobj::free_object(op);
    }
}

/// Freed tasklet objects a thread keeps for reuse: creating a tasklet then
/// costs no allocation.
const TASKLET_CACHE: usize = 1024;

/// `PyTasklet_New(ty, func)`: the tasklet type itself is allocated and
/// bound directly; a subtype is called, so that its `tp_init` runs.
///
/// # Safety
/// `ty` must be a type object; `func` NULL or live.
pub(crate) unsafe fn new(ty: *mut PyTypeObject, func: *mut PyObject) -> PyResult<*mut Tasklet> {
    if !typeobj::is_subtype(ty, tasklet_type()) {
        return Err(errors::set_none(exceptions::type_error()));
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

/// Releases the pending call; the tasklet has nothing to execute.
///
/// # Safety
/// `t` must be a live tasklet.
pub(crate) unsafe fn drop_frame(t: *mut Tasklet) {
    let (f, a, k) = (
        core::mem::replace(&mut (*t).func, null_mut()),
        core::mem::replace(&mut (*t).args, null_mut()),
        core::mem::replace(&mut (*t).kwds, null_mut()),
    );
    (*t).frame = Frame::None;
    xdecref(f);
    xdecref(a);
    xdecref(k);
}

/// Replaces the tempval (stealing `value`), releasing the old one.
///
/// # Safety
/// `t` must be live; `value` an owned reference.
pub(crate) unsafe fn set_tempval(t: *mut Tasklet, value: *mut PyObject) {
    let old = core::mem::replace(&mut (*t).tempval, value);
    xdecref(old);
}

/// Takes the tempval, leaving `None`: the value a resumed tasklet receives.
/// A bomb explodes: its exception is set and the claim fails.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn claim_tempval(t: *mut Tasklet) -> PyResult<*mut PyObject> {
    let v = core::mem::replace(&mut (*t).tempval, none::new_none());
    if bomb::check(v) {
        bomb::explode(v);
        return Err(Raised);
    }
    Ok(v)
}

/// Whether the tasklet belongs to a live thread.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn has_thread(t: *mut Tasklet) -> bool {
    !(*t).ts.is_null() && !(*(*t).ts).dead
}

/// `is_current`: the current tasklet of its own thread, which is inside.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn is_current(t: *mut Tasklet) -> bool {
    has_thread(t) && !(*(*t).ts).main.is_null() && (*(*t).ts).current == t
}

/// `is_main`: the main tasklet of its own thread.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn is_main(t: *mut Tasklet) -> bool {
    has_thread(t) && (*(*t).ts).main == t
}

/// `alive` (SPEC §2.1).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn alive(t: *mut Tasklet) -> bool {
    has_thread(t) && (is_current(t) || (*t).frame != Frame::None)
}

/// `scheduled`: in a ring or a channel queue.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn scheduled(t: *mut Tasklet) -> bool {
    (!(*t).next.is_null() && !(*t).remove_pending.load(Ordering::Relaxed))
        || (*t).blocked != 0
        || (*t).in_inbox.load(Ordering::Relaxed)
}

/// `paused`: alive and floating.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn paused(t: *mut Tasklet) -> bool {
    alive(t) && !scheduled(t)
}

/// Whether the tasklet is suspended with C frames on its own stack.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn has_c_stack(t: *mut Tasklet) -> bool {
    (*t).coro.as_ref().is_some_and(|c| c.started()) && !is_current(t)
}

/// The nesting level (SPEC §9.3).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn nesting_level(t: *mut Tasklet) -> c_int {
    if is_current(t) {
        (*(*t).ts).nesting_level
    } else if has_c_stack(t) || (is_main(t) && (*t).frame == Frame::Started) {
        (*t).nesting_level + 1
    } else {
        0
    }
}

/// The recursion depth (SPEC §9.5).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn recursion_depth(t: *mut Tasklet) -> c_int {
    if is_current(t) {
        protocol::recursion_depth()
    } else {
        (*t).recursion_depth
    }
}

/// The thread id of the tasklet's thread, or `-1` (as unsigned) when none.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn thread_id(t: *mut Tasklet) -> c_ulong {
    if has_thread(t) {
        (*(*t).ts).thread_id
    } else {
        c_ulong::MAX
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
    if !func.is_null() && !protocol::is_callable(func) {
        return Err(errors::type_error(msg::NOT_CALLABLE));
    }
    if is_current(t) {
        return Err(errors::runtime_error(msg::REBIND_CURRENT));
    }
    if scheduled(t) {
        return Err(errors::runtime_error(msg::SCHEDULED));
    }
    if has_c_stack(t) || (is_main(t) && (*t).frame == Frame::Started) {
        return Err(errors::runtime_error(msg::C_STATE));
    }
    if is_main(t) && args.is_null() && kwds.is_null() {
        return Err(errors::runtime_error(msg::UNBIND_MAIN));
    }
    if args.is_null() && kwds.is_null() {
        drop_frame(t);
        (*t).recursion_depth = 0;
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
    drop_frame(t);
    (*t).recursion_depth = 0;
    set_pending_call(t, object::new_ref(callable), args, object::xnew_ref(kwds));
    Ok(())
}

/// Makes `func(*args, **kwds)` the pending call (steals all three) and
/// empties the tempval.
///
/// # Safety
/// `t` must be live and hold no pending call.
pub(crate) unsafe fn set_pending_call(
    t: *mut Tasklet,
    func: *mut PyObject,
    args: *mut PyObject,
    kwds: *mut PyObject,
) {
    (*t).func = func;
    (*t).args = args;
    (*t).kwds = kwds;
    (*t).frame = Frame::Pending;
    set_tempval(t, none::new_none());
}

/// Exceptions in transit between tasklets (Stackless's "bombs").
pub(crate) mod bomb {
    use super::*;

    #[repr(C)]
    struct Bomb {
        ob_base: PyObject,
        state: ErrorState,
    }

    unsafe extern "C-unwind" fn bomb_dealloc(op: *mut PyObject) {
        (*op.cast::<Bomb>()).state.release();
        typeobj::free_object(op);
    }

    static mut BOMB_TYPE: PyTypeObject = PyTypeObject {
        tp_dealloc: Some(bomb_dealloc),
        ..builtin(
            &raw mut PyType_Type,
            c"stackless.bomb",
            core::mem::size_of::<Bomb>(),
            0,
            &raw mut PyBaseObject_Type,
            0,
        )
    };

    /// Whether `op` is a bomb.
    ///
    /// # Safety
    /// `op` must be live.
    pub(crate) unsafe fn check(op: *mut PyObject) -> bool {
        object::type_of(op) == &raw mut BOMB_TYPE
    }

    /// A bomb holding `state` (stolen). On allocation failure the state is
    /// released and the MemoryError is returned.
    ///
    /// # Safety
    /// `state` must own its references.
    pub(crate) unsafe fn new(state: ErrorState) -> PyResult<*mut PyObject> {
        match typeobj::alloc(&raw mut BOMB_TYPE, 0) {
            Ok(op) => {
                (*op.cast::<Bomb>()).state = state;
                Ok(op)
            }
            Err(Raised) => {
                state.release();
                Err(Raised)
            }
        }
    }

    /// A bomb of the pending exception (which is cleared).
    pub(crate) fn from_error() -> PyResult<*mut PyObject> {
        // SAFETY: the taken state owns its references.
        unsafe { new(errors::take()) }
    }

    /// A bomb for the class `ty` with the raw value `value` (borrowed).
    ///
    /// # Safety
    /// `ty` must be an exception class; `value` NULL or live.
    pub(crate) unsafe fn of(ty: *mut PyObject, value: *mut PyObject) -> PyResult<*mut PyObject> {
        new(ErrorState {
            ty: object::new_ref(ty),
            value: object::xnew_ref(value),
            tb: null_mut(),
        })
    }

    /// A bomb for `throw(exc, val, tb)` with the checks of SPEC §4.6: `exc`
    /// a class (with an optional value) or an instance (then no value);
    /// `tb` NULL or `None`.
    ///
    /// # Safety
    /// All three NULL or live.
    pub(crate) unsafe fn from_throw(
        exc: *mut PyObject,
        val: *mut PyObject,
        tb: *mut PyObject,
    ) -> PyResult<*mut PyObject> {
        let absent = |o: *mut PyObject| o.is_null() || o == none::none();
        if exc.is_null() {
            return Err(errors::bad_internal_call());
        }
        if !absent(tb) {
            return Err(errors::type_error(msg::THIRD_ARG_TRACEBACK));
        }
        if exceptions::is_class(exc) {
            return of(exc, if absent(val) { null_mut() } else { val });
        }
        if exceptions::is_instance(exc) {
            if !absent(val) {
                return Err(errors::type_error(msg::INSTANCE_WITH_VALUE));
            }
            return of(object::type_of(exc).cast(), exc);
        }
        Err(errors::type_error(&msg::not_an_exception(
            typeobj::type_name_of(exc),
        )))
    }

    /// Whether the bomb carries `TaskletExit` (or a subclass).
    ///
    /// # Safety
    /// `op` must be a bomb.
    pub(crate) unsafe fn is_tasklet_exit(op: *mut PyObject) -> bool {
        errors::given_matches((*op.cast::<Bomb>()).state.ty, exceptions::tasklet_exit())
    }

    /// Sets the bomb's exception as the pending error and releases the bomb.
    ///
    /// # Safety
    /// `op` must be an owned reference to a bomb.
    pub(crate) unsafe fn explode(op: *mut PyObject) {
        let s = (*op.cast::<Bomb>()).state;
        object::xincref(s.ty);
        object::xincref(s.value);
        object::xincref(s.tb);
        errors::restore(s);
        decref(op);
    }
}
