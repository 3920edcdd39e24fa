//! Tasklet stacks: mmap'd regions with a guard page, recycled through a
//! per-thread pool so that creating a tasklet costs no system call once the
//! pool is warm.

use core::num::NonZeroUsize;
use core::sync::atomic::{AtomicUsize, Ordering};
use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};

/// Default usable size of a tasklet stack (address space; only the pages a
/// tasklet touches cost memory).
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest accepted stack size.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Environment variable that sets the stack size at start-up.
pub const STACK_SIZE_ENV: &str = "STACKLESS_STACK_SIZE";

/// 0 until first use, then the stack size for new tasklets.
static STACK_SIZE: AtomicUsize = AtomicUsize::new(0);

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
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

/// One tasklet stack: `[limit, base)`, its lowest page a guard page.
pub struct TaskletStack {
    mapping: *mut libc::c_void,
    len: usize,
    _valgrind: ValgrindStackRegistration,
}

impl TaskletStack {
    /// Maps a new stack with `size` usable bytes, or None when out of memory.
    fn new(size: usize) -> Option<TaskletStack> {
        let page = page_size();
        let len = size + page;
        // SAFETY: an anonymous private mapping; the result is checked.
        let mapping = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if mapping == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: the first page belongs to the mapping just made.
        if unsafe { libc::mprotect(mapping, page, libc::PROT_NONE) } != 0 {
            // SAFETY: unmapping what was mapped above.
            unsafe { libc::munmap(mapping, len) };
            return None;
        }
        let usable = (mapping as usize + page) as *mut u8;
        Some(TaskletStack {
            mapping,
            len,
            _valgrind: ValgrindStackRegistration::new(usable, size),
        })
    }

    /// Usable size in bytes.
    pub fn size(&self) -> usize {
        self.len - page_size()
    }
}

impl Drop for TaskletStack {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned and no coroutine runs on it any more.
        unsafe { libc::munmap(self.mapping, self.len) };
    }
}

// SAFETY: base and limit bound a mapping owned by this value, aligned to a
// page, with a guard page at the bottom and at least MIN_STACK_SIZE usable.
unsafe impl Stack for TaskletStack {
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.mapping as usize + self.len).unwrap()
    }

    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.mapping as usize).unwrap()
    }
}

/// How many free stacks a thread keeps for reuse.
const POOL_LIMIT: usize = 1024;

/// The calling thread's free stacks.
#[derive(Default)]
pub struct StackPool {
    free: Vec<TaskletStack>,
}

impl StackPool {
    /// A stack of the current size: from the pool, or newly mapped.
    pub fn take(&mut self) -> Option<TaskletStack> {
        let size = stack_size();
        while let Some(stack) = self.free.pop() {
            if stack.size() == size {
                return Some(stack);
            }
        }
        TaskletStack::new(size)
    }

    /// Returns a stack no coroutine uses any more.
    pub fn give(&mut self, stack: TaskletStack) {
        if self.free.len() < POOL_LIMIT && stack.size() == stack_size() {
            self.free.push(stack);
        }
    }
}
