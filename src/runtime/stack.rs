//! Tasklet stacks, carved from large slabs so that a million of them fit a
//! stock Linux: a guard page costs two memory mappings and
//! `vm.max_map_count` is 65530 by default. The first stacks get real guard
//! pages; past a mapping budget the guard page stays mapped but untouched,
//! a red zone whose first words are checked at every switch-out (reading an
//! untouched page maps the shared zero page and costs no memory). Freed
//! stacks go back to a per-thread pool, so creating a tasklet costs no
//! system call once the pool is warm.

use core::num::NonZeroUsize;
use core::sync::atomic::{AtomicUsize, Ordering};
use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};
use parking_lot::Mutex;

/// Default usable size of a tasklet stack (address space; only the pages a
/// tasklet touches cost memory).
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest accepted stack size.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Environment variable that sets the stack size at start-up.
pub const STACK_SIZE_ENV: &str = "STACKLESS_STACK_SIZE";
/// Stacks carved from one slab (one mmap).
const SLAB_STACKS: usize = 64;
/// Words of the red zone checked at switch-out on unguarded stacks.
const RED_ZONE_WORDS: usize = 8;

/// 0 until first use, then the stack size for new tasklets.
static STACK_SIZE: AtomicUsize = AtomicUsize::new(0);
/// Guard pages still allowed (each costs two mappings).
static GUARD_BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);

fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let page = PAGE.load(Ordering::Relaxed);
    if page != 0 {
        return page;
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize };
    PAGE.store(page, Ordering::Relaxed);
    page
}

fn round_to_pages(size: usize) -> usize {
    let page = page_size();
    size.max(MIN_STACK_SIZE).div_ceil(page) * page
}

/// The stack size new tasklets get: `PyStackless_SetStackSize`, else
/// `STACKLESS_STACK_SIZE`, else 256 KiB.
pub fn stack_size() -> usize {
    let size = STACK_SIZE.load(Ordering::Relaxed);
    if size != 0 {
        return size;
    }
    let from_env = std::env::var(STACK_SIZE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(DEFAULT_STACK_SIZE);
    let size = round_to_pages(from_env);
    STACK_SIZE.store(size, Ordering::Relaxed);
    size
}

/// Sets the stack size of tasklets started from now on (rounded up to whole
/// pages, at least [`MIN_STACK_SIZE`]). Returns the previous size.
pub fn set_stack_size(size: usize) -> usize {
    let old = stack_size();
    STACK_SIZE.store(round_to_pages(size), Ordering::Relaxed);
    old
}

/// A quarter of `vm.max_map_count` as guard pages: each splits a mapping
/// in two, and the rest of the process needs mappings too.
fn initial_guard_budget() -> usize {
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65530);
    max / 4
}

/// Takes one guard page from the budget; false when it is spent.
fn take_guard() -> bool {
    if GUARD_BUDGET.load(Ordering::Relaxed) == usize::MAX {
        let _ = GUARD_BUDGET.compare_exchange(
            usize::MAX,
            initial_guard_budget(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    GUARD_BUDGET
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
        .is_ok()
}

/// One tasklet stack: `[limit, base)`; its lowest page is a guard page or,
/// when `guarded` is false, a red zone that must stay zero.
pub struct TaskletStack {
    limit: usize,
    base: usize,
    guarded: bool,
    _valgrind: ValgrindStackRegistration,
}

impl TaskletStack {
    /// Usable size in bytes.
    pub fn size(&self) -> usize {
        self.base - self.limit - page_size()
    }

    /// The red-zone words of an unguarded stack, or NULL when the stack has
    /// a real guard page.
    pub fn red_zone(&self) -> *const u64 {
        if self.guarded {
            core::ptr::null()
        } else {
            self.limit as *const u64
        }
    }
}

/// Whether an unguarded stack's red zone is still untouched.
///
/// # Safety
/// `zone` must come from [`TaskletStack::red_zone`] of a live stack.
pub unsafe fn red_zone_intact(zone: *const u64) -> bool {
    // SAFETY: the red zone is the first page of a live stack, which holds
    // RED_ZONE_WORDS words.
    (0..RED_ZONE_WORDS).all(|i| unsafe { core::ptr::read_volatile(zone.add(i)) } == 0)
}

// SAFETY: base and limit bound a page-aligned region owned by this value
// with a guard page (or checked red zone) at the bottom and at least
// MIN_STACK_SIZE usable bytes.
unsafe impl Stack for TaskletStack {
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.base).unwrap()
    }

    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.limit).unwrap()
    }
}

/// Free stacks of every thread that let theirs go (thread exit).
static SHARED_FREE: Mutex<Vec<TaskletStack>> = Mutex::new(Vec::new());

/// Runs `f` on the shared free stacks, under their lock.
fn with_shared_free<R>(f: impl FnOnce(&mut Vec<TaskletStack>) -> R) -> R {
    f(&mut SHARED_FREE.lock())
}

/// The calling thread's free stacks.
#[derive(Default)]
pub struct StackPool {
    free: Vec<TaskletStack>,
}

impl StackPool {
    /// A stack of the current size: from the pool, from stacks other
    /// threads left, or carved from a new slab. None when out of memory.
    pub fn take(&mut self) -> Option<TaskletStack> {
        let size = stack_size();
        loop {
            match self.free.pop() {
                Some(s) if s.size() == size => return Some(s),
                Some(s) => with_shared_free(|shared| shared.push(s)),
                None => break,
            }
        }
        let reused = with_shared_free(|shared| {
            let i = shared.iter().position(|s| s.size() == size)?;
            Some(shared.swap_remove(i))
        });
        if reused.is_some() {
            return reused;
        }
        self.carve_slab(size)?;
        self.free.pop()
    }

    /// Returns a stack no coroutine uses any more. Its touched pages stay
    /// resident for the next tasklet: returning them to the system would
    /// cost a system call per tasklet on the spawn path.
    pub fn give(&mut self, stack: TaskletStack) {
        self.free.push(stack);
    }

    /// Maps a slab of [`SLAB_STACKS`] stacks into the pool.
    fn carve_slab(&mut self, size: usize) -> Option<()> {
        let page = page_size();
        let slot = size + page;
        let len = slot * SLAB_STACKS;
        // SAFETY: an anonymous private mapping; the result is checked.
        let slab = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if slab == libc::MAP_FAILED {
            return None;
        }
        // The slab lives as long as the process: its stacks are recycled.
        for i in (0..SLAB_STACKS).rev() {
            let limit = slab as usize + i * slot;
            // SAFETY: the guard page lies inside the slab just mapped.
            let guarded = take_guard()
                && unsafe { libc::mprotect(limit as *mut libc::c_void, page, libc::PROT_NONE) }
                    == 0;
            self.free.push(TaskletStack {
                limit,
                base: limit + slot,
                guarded,
                _valgrind: ValgrindStackRegistration::new((limit + page) as *mut u8, size),
            });
        }
        Some(())
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        with_shared_free(|shared| shared.append(&mut self.free));
    }
}
