//! The registry of threads that use the runtime: the initial thread, thread
//! ids for `PyStackless_GetThreadInfo`, and retired scheduler states (kept,
//! never freed, so that tasklets of a dead thread can still see that it
//! died).

use super::scheduler::ThreadState;
use core::ffi::c_ulong;
use core::sync::atomic::{AtomicUsize, Ordering};
use parking_lot::Mutex;

struct Registry {
    initial: Option<c_ulong>,
    live: Vec<(c_ulong, *mut ThreadState)>,
    retired: Vec<*mut ThreadState>,
}

// SAFETY: the registry only stores the pointers; each state is used by its
// own thread (and read by others only through the registry's lock).
unsafe impl Send for Registry {}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    initial: None,
    live: Vec::new(),
    retired: Vec::new(),
});

static UNCOLLECTABLE: AtomicUsize = AtomicUsize::new(0);

/// Records the first thread that initialises the runtime; returns whether
/// `thread_id` is that thread.
pub(crate) fn claim_initial(thread_id: c_ulong) -> bool {
    *REGISTRY.lock().initial.get_or_insert(thread_id) == thread_id
}

/// Registers a new scheduler state.
pub(crate) fn register(thread_id: c_ulong, ts: *mut ThreadState) {
    REGISTRY.lock().live.push((thread_id, ts));
}

/// Moves a dead thread's state out of the live list; it is kept.
pub(crate) fn retire(ts: *mut ThreadState) {
    let mut r = REGISTRY.lock();
    r.live.retain(|&(_, s)| s != ts);
    r.retired.push(ts);
}

/// The state of the live thread `thread_id`, if registered.
pub(crate) fn find(thread_id: c_ulong) -> Option<*mut ThreadState> {
    REGISTRY
        .lock()
        .live
        .iter()
        .find(|&&(id, _)| id == thread_id)
        .map(|&(_, ts)| ts)
}

/// Counts a tasklet that survived its kill and is never freed (SPEC §2.7).
pub(crate) fn count_uncollectable() {
    UNCOLLECTABLE.fetch_add(1, Ordering::Relaxed);
}

/// How many tasklets were left uncollectable.
pub(crate) fn uncollectable() -> usize {
    UNCOLLECTABLE.load(Ordering::Relaxed)
}
