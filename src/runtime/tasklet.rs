//! The tasklet object: its fields and who owns them, the atomic state word,
//! the predicates of SPEC §2.1 and binding (§8.1).

use super::bomb;
use super::channel::Channel;
use super::messages as msg;
use super::run_queue::{Linked, Links};
use super::stack::TaskletStack;
use super::thread_state::Ts;
use super::threads::ThreadShared;
use crate::errors::{self, ErrorState, PyResult, Raised};
use crate::object::typeobj::{self, builtin, PyBaseObject_Type, PyType_Type};
use crate::object::{
    self, decref, none, protocol, tuple, xdecref, PyObject, PyTypeObject, Py_TPFLAGS_BASETYPE,
};
use core::ffi::{c_int, c_ulong};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
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

/// What a tasklet is doing, as any thread may ask (SPEC §2.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Kind {
    /// Nothing to execute: new, bound, unbound or dead.
    Idle = 0,
    /// Alive and in no ring or queue.
    Paused = 1,
    /// In its thread's ring (the current tasklet included).
    Runnable = 2,
    /// Made runnable by another thread and in its thread's inbox: the owner
    /// links it at its next scheduling point.
    Handed = 3,
    /// In a channel queue, sending.
    BlockedSend = 4,
    /// In a channel queue, receiving.
    BlockedRecv = 5,
}

/// The state word: the tasklet's [`Kind`], whether it has started (it has
/// a frame with C state: a coroutine, or main's native stack) and the
/// thread it belongs to, in one atomic so that every predicate reads one
/// consistent snapshot from any thread.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct State(u64);

impl State {
    const KIND: u64 = 0b0111;
    const STARTED: u64 = 0b1000;
    /// `ThreadShared` is 64-byte aligned: its address keeps the low bits free.
    const THREAD: u64 = !0x3f;

    /// A new state word.
    pub(crate) fn new(thread: &'static ThreadShared, kind: Kind, started: bool) -> State {
        let addr = thread as *const ThreadShared as u64;
        debug_assert_eq!(addr & !Self::THREAD, 0);
        State(addr | kind as u64 | if started { Self::STARTED } else { 0 })
    }

    /// What the tasklet is doing.
    #[inline(always)]
    pub(crate) fn kind(self) -> Kind {
        const KINDS: [Kind; 8] = [
            Kind::Idle,
            Kind::Paused,
            Kind::Runnable,
            Kind::Handed,
            Kind::BlockedSend,
            Kind::BlockedRecv,
            Kind::Idle,
            Kind::Idle,
        ];
        KINDS[(self.0 & Self::KIND) as usize]
    }

    /// Whether it is doing `kind` (one compare).
    #[inline(always)]
    pub(crate) fn is(self, kind: Kind) -> bool {
        self.0 & Self::KIND == kind as u64
    }

    /// Whether it has a started frame.
    pub(crate) fn started(self) -> bool {
        self.0 & Self::STARTED != 0
    }

    /// Its thread (which may have ended).
    pub(crate) fn thread(self) -> &'static ThreadShared {
        // SAFETY: the bits come from a `&'static ThreadShared` (`new`), and
        // thread states are never freed.
        unsafe { &*((self.0 & Self::THREAD) as *const ThreadShared) }
    }

    /// The same with another kind.
    pub(crate) fn with_kind(self, kind: Kind) -> State {
        State(self.0 & !Self::KIND | kind as u64)
    }

    /// The same with the started bit set or cleared.
    pub(crate) fn with_started(self, started: bool) -> State {
        State(if started {
            self.0 | Self::STARTED
        } else {
            self.0 & !Self::STARTED
        })
    }

    /// The same, bound to another thread.
    pub(crate) fn with_thread(self, thread: &'static ThreadShared) -> State {
        State::new(thread, self.kind(), self.started())
    }

    /// +1 blocked sending, -1 blocked receiving, else 0.
    #[inline(always)]
    pub(crate) fn blocked(self) -> i8 {
        if self.is(Kind::BlockedSend) {
            1
        } else if self.is(Kind::BlockedRecv) {
            -1
        } else {
            0
        }
    }

    /// In a ring, a queue, or on its way into a ring.
    pub(crate) fn in_scheduler(self) -> bool {
        self.0 & Self::KIND > Kind::Paused as u64
    }
}

/// Outstanding `Insert`/`Run`/`Remove` hand-offs of other threads (SPEC
/// §6.3: their effect on `Scheduled` is visible when the call returns, the
/// owner applies them later): a count, and whether the latest one was an
/// insertion or a removal. The count's low bit is `INSERTED`.
pub(crate) struct Requests(AtomicU32);

impl Requests {
    const INSERTED: u32 = 1;
    const ONE: u32 = 2;

    const fn new() -> Requests {
        Requests(AtomicU32::new(0))
    }

    /// Records a request, `insert` or remove (under the owner's inbox lock).
    pub(crate) fn add(&self, insert: bool) {
        let _ = self
            .0
            .fetch_update(Ordering::Release, Ordering::Relaxed, |r| {
                Some((r & !Self::INSERTED) + Self::ONE + u32::from(insert))
            });
    }

    /// The owner applied (or dropped) one request.
    pub(crate) fn done(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Release, Ordering::Relaxed, |r| {
                let r = r - Self::ONE;
                Some(if r < Self::ONE { 0 } else { r })
            });
    }

    /// `Some(scheduled)` while requests are outstanding, else None.
    fn latest(&self) -> Option<bool> {
        let r = self.0.load(Ordering::Acquire);
        (r >= Self::ONE).then_some(r & Self::INSERTED != 0)
    }
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
/// | `tempval`, `delivered` | the owning thread; the lock of `channel` while `Blocked*`; the hand-off while `Handed` (written before it is pushed, read after it is taken) |
/// | `ring`, `func`, `args`, `kwds`, `is_zombie`, `err`, `pending_bomb`, `started_index`, `switched_out_at`, `yielder`, `red_zone`, `coro` | the owning thread |
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
    /// `tempval` holds a value a channel delivered, not yet claimed: a kill
    /// from another thread or from thread death then waits in
    /// `pending_bomb` instead of replacing it (no message is ever lost).
    pub delivered: bool,
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
    pub coro: Option<TaskletCoroutine>,
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
    // SAFETY: per the contract.
    unsafe { object::type_check(op, tasklet_type()) }
}

/// The state word, as any thread may read it.
///
/// # Safety
/// `t` must be a live tasklet.
#[inline(always)]
pub(crate) unsafe fn state(t: *mut Tasklet) -> State {
    // SAFETY: per the contract.
    State(unsafe { (*t).state.load(Ordering::Acquire) })
}

/// Writes the state word: by the owning thread, or by the holder of the
/// lock of the channel the tasklet is blocked on.
///
/// # Safety
/// `t` must be a live tasklet and the caller its writer (see `Tasklet`).
#[inline(always)]
pub(crate) unsafe fn set_state(t: *mut Tasklet, s: State) {
    // SAFETY: per the contract.
    unsafe { (*t).state.store(s.0, Ordering::Release) }
}

/// Replaces the state word if it is still `old` (transitions out of
/// `Idle`, which another thread may make too).
///
/// # Safety
/// `t` must be a live tasklet.
pub(crate) unsafe fn replace_state(t: *mut Tasklet, old: State, new: State) -> bool {
    // SAFETY: per the contract.
    unsafe {
        (*t).state
            .compare_exchange(old.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
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
                state: AtomicU64::new(State::new(ts.shared(), Kind::Idle, false).0),
                requests: Requests::new(),
                atomic: AtomicBool::new(false),
                ignore_nesting: AtomicBool::new(false),
                block_trap: AtomicBool::new(false),
                pending_irq: AtomicBool::new(false),
                is_zombie: false,
                delivered: false,
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
    // SAFETY: called through the type, which is a tasklet type.
    unsafe { alloc(ty) }.map_or(null_mut(), |t| t.cast())
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
    // SAFETY: `args` is the call's argument tuple.
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
    // SAFETY: `op` is a tasklet; args/kwds come from the call.
    unsafe {
        match super::scheduler::setup(op.cast(), args, kwds) {
            Ok(()) => object::new_ref(op),
            Err(Raised) => null_mut(),
        }
    }
}

/// `tp_dealloc` of tasklets (SPEC §2.7).
///
/// # Safety
/// `op` must be a tasklet whose last reference went.
unsafe extern "C-unwind" fn tasklet_dealloc(op: *mut PyObject) {
    let t = op.cast::<Tasklet>();
    // SAFETY: the last reference went: nobody else reaches `t`.
    unsafe {
        if !super::scheduler::finalize_on_dealloc(t) {
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
        match Ts::existing() {
            Some(ts) if object::type_of(op) == tasklet_type() && ts.cache_tasklet(op) => {}
            _ => super::threads::free_tasklet(op),
        }
    }
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
        (*t).delivered = false;
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
        (*t).delivered = false;
        let v = core::mem::replace(&mut (*t).tempval, none::new_none());
        if bomb::check(v) {
            bomb::explode(v);
            return Err(Raised);
        }
        Ok(v)
    }
}

/// Whether the tasklet belongs to a live thread.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn has_thread(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    !unsafe { state(t) }.thread().ended()
}

/// Whether the tasklet belongs to the calling thread (and it is live).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn is_own(t: *mut Tasklet, ts: Ts) -> bool {
    // SAFETY: per the contract.
    core::ptr::eq(unsafe { state(t) }.thread(), ts.shared())
}

/// `is_current`: the current tasklet of its own thread, which is inside.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn is_current(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    let th = unsafe { state(t) }.thread();
    !th.ended()
        && !th.main.load(Ordering::Relaxed).is_null()
        && th.current.load(Ordering::Relaxed) == t
}

/// `is_main`: the main tasklet of its own thread.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn is_main(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    let th = unsafe { state(t) }.thread();
    !th.ended() && th.main.load(Ordering::Relaxed) == t
}

/// `alive` (SPEC §2.1): it has a thread and something to execute.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn alive(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    let s = unsafe { state(t) };
    !s.thread().ended() && s.kind() != Kind::Idle
}

/// `scheduled`: in a ring or a channel queue, or on the way into a ring;
/// outstanding insertions and removals of other threads count as done.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn scheduled(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract. The requests are read first: the owner
    // counts one down only after it applied it to the state word.
    unsafe { (*t).requests.latest() }.unwrap_or_else(|| unsafe { state(t) }.in_scheduler())
}

/// `paused`: alive and not scheduled.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn paused(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    unsafe { alive(t) && !scheduled(t) }
}

/// +1 blocked sending, -1 receiving, else 0.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn blocked(t: *mut Tasklet) -> i8 {
    // SAFETY: per the contract.
    unsafe { state(t) }.blocked()
}

/// Whether the tasklet is suspended with C state (a started frame).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn has_c_stack(t: *mut Tasklet) -> bool {
    // SAFETY: per the contract.
    unsafe { state(t).started() && !is_current(t) }
}

/// The nesting level (SPEC §9.3).
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn nesting_level(t: *mut Tasklet) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        if is_current(t) {
            state(t).thread().nesting_level.load(Ordering::Relaxed)
        } else if has_c_stack(t) {
            (*t).nesting_level.load(Ordering::Relaxed) + 1
        } else {
            0
        }
    }
}

/// The recursion depth (SPEC §9.5): live for the calling thread's current
/// tasklet, as saved at its last switch otherwise.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn recursion_depth(t: *mut Tasklet) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        if Ts::existing().is_some_and(|ts| is_own(t, ts)) && is_current(t) {
            protocol::recursion_depth()
        } else {
            (*t).recursion_depth.load(Ordering::Relaxed)
        }
    }
}

/// The thread id of the tasklet's thread, or `-1` (as unsigned) when none.
///
/// # Safety
/// `t` must be live.
pub(crate) unsafe fn thread_id(t: *mut Tasklet) -> c_ulong {
    // SAFETY: per the contract.
    let th = unsafe { state(t) }.thread();
    if th.ended() {
        c_ulong::MAX
    } else {
        th.thread_id
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
/// started: it becomes `Idle`.
///
/// # Safety
/// `t` must be live, neither scheduled nor started.
pub(crate) unsafe fn become_idle(t: *mut Tasklet) {
    // SAFETY: per the contract.
    unsafe {
        loop {
            let s = state(t);
            if s.is(Kind::Idle) || replace_state(t, s, s.with_kind(Kind::Idle)) {
                break;
            }
        }
        drop_frame(t);
        (*t).recursion_depth.store(0, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn a_thread() -> &'static ThreadShared {
        super::super::threads::register(424242)
    }

    #[test]
    fn the_state_word_packs_kind_started_and_thread() {
        let th = a_thread();
        let s = State::new(th, Kind::Runnable, false);
        assert_eq!(s.kind(), Kind::Runnable);
        assert!(!s.started());
        assert!(core::ptr::eq(s.thread(), th));
        let b = s.with_kind(Kind::BlockedRecv).with_started(true);
        assert_eq!(b.kind(), Kind::BlockedRecv);
        assert_eq!(b.blocked(), -1);
        assert!(b.started());
        assert!(core::ptr::eq(b.thread(), th));
        assert_eq!(b.with_kind(Kind::BlockedSend).blocked(), 1);
        assert!(b.in_scheduler());
        assert!(!b.with_kind(Kind::Paused).in_scheduler());
        assert!(!b.with_kind(Kind::Idle).in_scheduler());
        assert!(b.with_kind(Kind::Handed).in_scheduler());
        let other = a_thread();
        let moved = b.with_thread(other);
        assert!(core::ptr::eq(moved.thread(), other));
        assert_eq!(moved.kind(), Kind::BlockedRecv);
        assert!(moved.started());
        super::super::threads::retire(th);
        super::super::threads::retire(other);
    }

    #[test]
    fn the_latest_request_decides_until_all_are_applied() {
        let r = Requests::new();
        assert_eq!(r.latest(), None);
        r.add(true);
        assert_eq!(r.latest(), Some(true));
        r.add(false);
        assert_eq!(r.latest(), Some(false));
        r.add(true);
        assert_eq!(r.latest(), Some(true));
        r.done();
        r.done();
        assert_eq!(r.latest(), Some(true));
        r.done();
        assert_eq!(r.latest(), None);
    }
}
