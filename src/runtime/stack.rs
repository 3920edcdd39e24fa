//! Tasklet stacks, carved from large slabs so that a million of them fit a
//! stock Linux, every one guarded, and the handler that names an overflow
//! (EXTENSIONS.md §8).
//!
//! Below each stack lies a guard region. On Linux 6.13 and later it is a
//! `MADV_GUARD_INSTALL` region, which costs no memory mapping: any number
//! of stacks are guarded. Where the kernel lacks it, the guard is an
//! `mprotect`ed region as long as a mapping budget lasts (each splits a
//! mapping in two, and `vm.max_map_count` is 65530 by default), and past it
//! a red zone that stays mapped and must stay zero, checked when the
//! tasklet switches out and when it ends. (`STACKLESS_GUARD=mprotect` or
//! `=redzone` forces the older paths, for tests.)
//!
//! A fault in a guard region, or just below a thread's own stack (main
//! inside `PyStackless_Call_Main`), is caught by a `SIGSEGV`/`SIGBUS`
//! handler that runs on an alternate signal stack of the thread, writes one
//! line naming the tasklet and the stack size, and aborts. Any other fault
//! goes to the handler installed before, or to the default action.
//!
//! Freed stacks go back to a per-thread pool, so creating a tasklet costs
//! no system call once the pool is warm.

use super::threads;
use super::tsan::Fiber;
use core::ffi::{c_int, c_ulong, c_void};
use core::num::NonZeroUsize;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};
use parking_lot::Mutex;

/// Default usable size of a tasklet stack (address space; only the pages a
/// tasklet touches cost memory).
pub const STACKLESS_DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest accepted stack size.
pub const STACKLESS_MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest accepted stack size (1 GiB of address space per tasklet).
pub const STACKLESS_MAX_STACK_SIZE: usize = 1 << 30;
/// Environment variable that sets the stack size at start-up.
pub const STACK_SIZE_ENV: &str = "STACKLESS_STACK_SIZE";
/// Environment variable that forces an older kernel's guard: `mprotect`
/// (guard pages within the mapping budget) or `redzone`.
const GUARD_ENV: &str = "STACKLESS_GUARD";
/// Stacks carved from one slab (one mmap).
const SLAB_STACKS: usize = 64;
/// The guard region below each stack: a frame larger than this could jump
/// over it.
const GUARD_SIZE: usize = 16 * 1024;
/// `madvise` advice that installs guard regions (Linux 6.13).
const MADV_GUARD_INSTALL: c_int = 102;
/// The most stack a recursion leaves unused: it stops with `RecursionError`
/// there (see [`recursion_margin`]).
const RECURSION_MARGIN: usize = 32 * 1024;

/// 0 until first use, then the stack size for new tasklets.
static STACK_SIZE: AtomicUsize = AtomicUsize::new(0);
/// `mprotect` guard regions still allowed (each costs two mappings).
static GUARD_BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);
/// How new stacks are guarded: one of the `MODE_*` values.
static MODE: AtomicU8 = AtomicU8::new(MODE_UNDECIDED);

const MODE_UNDECIDED: u8 = 0;
const MODE_GUARD_REGION: u8 = 1;
const MODE_PROTECT: u8 = 2;
const MODE_RED_ZONE: u8 = 3;

/// The system's page size.
pub(crate) fn page_size() -> usize {
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
    size.clamp(STACKLESS_MIN_STACK_SIZE, STACKLESS_MAX_STACK_SIZE)
        .div_ceil(page)
        * page
}

/// The guard region's size, in whole pages.
fn guard_size() -> usize {
    GUARD_SIZE.div_ceil(page_size()) * page_size()
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
        .unwrap_or(STACKLESS_DEFAULT_STACK_SIZE);
    let size = round_to_pages(from_env);
    STACK_SIZE.store(size, Ordering::Relaxed);
    size
}

/// Sets the stack size of tasklets started from now on (rounded up to whole
/// pages, at least [`STACKLESS_MIN_STACK_SIZE`], at most
/// [`STACKLESS_MAX_STACK_SIZE`]). Returns the previous size.
pub fn set_stack_size(size: usize) -> usize {
    let old = stack_size();
    STACK_SIZE.store(round_to_pages(size), Ordering::Relaxed);
    old
}

/// The lowest bytes of a stack of `size` usable bytes where a recursion
/// stops with `RecursionError` instead of overflowing: the lower half, at
/// most [`RECURSION_MARGIN`]. 8 KiB of the smallest stack is what raising
/// the error and returning needs in a sanitizer's build, with room to
/// spare in a release build.
pub fn recursion_margin(size: usize) -> usize {
    (size / 2).min(RECURSION_MARGIN)
}

/// How stacks are guarded from now on, decided at the first slab.
fn mode() -> u8 {
    let m = MODE.load(Ordering::Relaxed);
    if m != MODE_UNDECIDED {
        return m;
    }
    let m = match std::env::var(GUARD_ENV).as_deref() {
        Ok("mprotect") => MODE_PROTECT,
        Ok("redzone") => MODE_RED_ZONE,
        _ => MODE_GUARD_REGION,
    };
    let _ = MODE.compare_exchange(MODE_UNDECIDED, m, Ordering::Relaxed, Ordering::Relaxed);
    MODE.load(Ordering::Relaxed)
}

/// A quarter of `vm.max_map_count` as `mprotect` guards: each splits a
/// mapping in two, and the rest of the process needs mappings too.
fn initial_guard_budget() -> usize {
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65530);
    max / 4
}

/// Takes one `mprotect` guard from the budget; false when it is spent.
fn take_protect_budget() -> bool {
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

/// Guards `[start, start + len)`, inside a slab just mapped; returns
/// whether the region faults (false: it is a red zone to check).
fn guard(start: usize, len: usize) -> bool {
    if mode() == MODE_GUARD_REGION {
        // SAFETY: the region lies inside a private anonymous mapping of ours.
        if unsafe { libc::madvise(start as *mut c_void, len, MADV_GUARD_INSTALL) } == 0 {
            return true;
        }
        // An older kernel: the fallbacks from now on.
        MODE.store(MODE_PROTECT, Ordering::Relaxed);
    }
    mode() == MODE_PROTECT
        && take_protect_budget()
        // SAFETY: as above.
        && unsafe { libc::mprotect(start as *mut c_void, len, libc::PROT_NONE) } == 0
}

/// A slab of stacks, for the fault handler: where it is, how it is cut, and
/// which tasklet runs on each stack. Never freed (nor unmapped: its stacks
/// are recycled); linked into [`SLABS`] once, read without locks.
struct Slab {
    start: usize,
    slot: usize,
    guard: usize,
    /// The tasklet (address) that runs on each stack, 0 when none.
    owners: [AtomicUsize; SLAB_STACKS],
    /// Its thread's id.
    threads: [AtomicUsize; SLAB_STACKS],
    next: *const Slab,
}

// SAFETY: immutable once linked, but for the atomics.
unsafe impl Sync for Slab {}
// SAFETY: as above.
unsafe impl Send for Slab {}

/// Every slab, newest first.
static SLABS: AtomicPtr<Slab> = AtomicPtr::new(null_mut());

/// One tasklet stack: `[limit, base)`. The lowest `guard` bytes are its
/// guard region, or a red zone that must stay zero when `red_zone`.
pub struct TaskletStack {
    limit: usize,
    base: usize,
    red_zone: bool,
    slab: &'static Slab,
    index: usize,
    fiber: Fiber,
    _valgrind: ValgrindStackRegistration,
}

impl TaskletStack {
    /// Usable size in bytes.
    pub fn size(&self) -> usize {
        self.base - self.limit - self.slab.guard
    }

    /// The lowest usable address (above the guard region).
    pub fn low(&self) -> usize {
        self.limit + self.slab.guard
    }

    /// The red zone of an unguarded stack, or NULL when the stack has a
    /// guard region.
    pub fn red_zone(&self) -> *const u64 {
        if self.red_zone {
            self.limit as *const u64
        } else {
            core::ptr::null()
        }
    }

    /// The fiber ThreadSanitizer knows this stack by.
    pub(crate) fn fiber(&self) -> Fiber {
        self.fiber
    }

    /// Records that `tasklet` (an address) of thread `thread` runs on this
    /// stack, for the fault handler.
    pub fn claim(&self, tasklet: usize, thread: c_ulong) {
        self.slab.threads[self.index].store(thread as usize, Ordering::Relaxed);
        self.slab.owners[self.index].store(tasklet, Ordering::Release);
    }

    /// No tasklet runs on this stack any more.
    pub fn release(&self) {
        self.slab.owners[self.index].store(0, Ordering::Release);
    }
}

/// Checks the red zone of an unguarded stack (when its tasklet switches
/// out and when it ends): a write anywhere in it is an overflow, reported
/// like one that hit a guard region, and the process aborts. Every word is
/// read (16 KiB, a few hundred nanoseconds): this is the last resort of
/// kernels without guard regions, past the budget of guard pages.
///
/// # Safety
/// `zone` must come from [`TaskletStack::red_zone`] (stacks are never
/// unmapped).
pub unsafe fn check_red_zone(zone: *const u64) {
    let words = guard_size() / 8;
    // SAFETY: the zone holds `words` mapped words (a red zone is never
    // protected).
    let zone = unsafe { core::slice::from_raw_parts(zone, words) };
    if zone.iter().fold(0, |acc, &w| acc | w) != 0 {
        let (tasklet, thread, size) = guard_hit(zone.as_ptr() as usize).unwrap_or((0, 0, 0));
        overflow::report(tasklet, thread, size);
    }
}

// SAFETY: base and limit bound a page-aligned region owned by this value
// with a guard region (or checked red zone) at the bottom and at least
// STACKLESS_MIN_STACK_SIZE usable bytes.
unsafe impl Stack for TaskletStack {
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.base).unwrap()
    }

    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.limit).unwrap()
    }
}

/// The descriptor of a free stack that ran a tasklet, kept at the top of
/// the stack itself, with the next such stack.
struct FreeNode {
    stack: TaskletStack,
    next: *mut FreeNode,
}

/// Free stacks linked through their own memory: holding one writes only
/// the top of that stack, which its tasklet just left. (A vector of their
/// descriptors faulted in 12,000 pages as the first million sleepers of
/// `sleep-1M` ended.)
struct FreeList {
    first: *mut FreeNode,
    last: *mut FreeNode,
}

// SAFETY: the stacks on a list are used by no thread; the list's holder
// owns them (a pool's thread, or whoever holds [`SHARED_FREE`]'s lock).
unsafe impl Send for FreeList {}

impl FreeList {
    const EMPTY: FreeList = FreeList {
        first: null_mut(),
        last: null_mut(),
    };

    /// Links a stack no coroutine uses any more first.
    fn push(&mut self, stack: TaskletStack) {
        let at = (stack.base - size_of::<FreeNode>()) & !(align_of::<FreeNode>() - 1);
        let node = at as *mut FreeNode;
        // SAFETY: the top of a stack nobody runs on, writable (the guard
        // region or red zone is at its bottom), aligned, and large enough
        // (a stack is at least MIN_STACK_SIZE); `pop` reads it back before
        // the stack is used again.
        unsafe {
            node.write(FreeNode {
                stack,
                next: self.first,
            })
        };
        if self.first.is_null() {
            self.last = node;
        }
        self.first = node;
    }

    /// The first stack, unlinked.
    fn pop(&mut self) -> Option<TaskletStack> {
        if self.first.is_null() {
            return None;
        }
        // SAFETY: `push` wrote the node; it is read once, as the stack
        // leaves the list.
        let FreeNode { stack, next } = unsafe { self.first.read() };
        self.first = next;
        if next.is_null() {
            self.last = null_mut();
        }
        Some(stack)
    }

    /// Links every stack of `other` before this list's, whatever their
    /// number, without reading them.
    fn prepend(&mut self, other: FreeList) {
        if other.first.is_null() {
            return;
        }
        // SAFETY: `other`'s last node, written by `push`, is ours.
        unsafe { (*other.last).next = self.first };
        if self.first.is_null() {
            self.last = other.last;
        }
        self.first = other.first;
    }
}

/// Free stacks sorted by size, a list each.
struct BySize(Vec<(usize, FreeList)>);

impl BySize {
    /// The list of the stacks of `size`.
    fn list(&mut self, size: usize) -> &mut FreeList {
        let i = match self.0.iter().position(|(s, _)| *s == size) {
            Some(i) => i,
            None => {
                self.0.push((size, FreeList::EMPTY));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// A stack of `size`, unlinked, if any.
    fn pop(&mut self, size: usize) -> Option<TaskletStack> {
        let (_, list) = self.0.iter_mut().find(|(s, _)| *s == size)?;
        list.pop()
    }

    /// The list of the stacks of `size`, taken out.
    fn remove(&mut self, size: usize) -> FreeList {
        match self.0.iter().position(|(s, _)| *s == size) {
            Some(i) => self.0.swap_remove(i).1,
            None => FreeList::EMPTY,
        }
    }
}

/// Free stacks of every thread that let theirs go (thread exit, or a
/// stack size changed since the stack was made).
///
/// | what | owner |
/// |---|---|
/// | the lists, their nodes and the stacks on them | this lock |
/// | a list sorted by a pool before it is spliced in | that pool's thread |
static SHARED_FREE: Mutex<BySize> = Mutex::new(BySize(Vec::new()));

/// The calling thread's free stacks.
pub struct StackPool {
    /// The stacks given back, the latest first.
    used: FreeList,
    /// The stacks of the newest slab that never ran a tasklet: their
    /// memory stays untouched until one does.
    fresh: Vec<TaskletStack>,
}

impl Default for StackPool {
    fn default() -> Self {
        StackPool {
            used: FreeList::EMPTY,
            fresh: Vec::new(),
        }
    }
}

impl StackPool {
    /// A stack of the current size: from the pool, from stacks other
    /// threads left, or carved from a new slab. None when out of memory.
    pub fn take(&mut self) -> Option<TaskletStack> {
        self.take_sized(stack_size())
    }

    /// A stack of `size` usable bytes (whole pages), as [`StackPool::take`].
    fn take_sized(&mut self, size: usize) -> Option<TaskletStack> {
        if self.first_size().is_some_and(|first| first != size) {
            // The size changed since the pool's stacks were made.
            self.share(Some(size));
        }
        if let Some(s) = self.pop() {
            return Some(s);
        }
        let reused = SHARED_FREE.lock().pop(size);
        if reused.is_some() {
            return reused;
        }
        self.carve_slab(size)?;
        self.fresh.pop()
    }

    /// The size of the stack [`StackPool::pop`] gives next, if any.
    fn first_size(&self) -> Option<usize> {
        if self.used.first.is_null() {
            return self.fresh.last().map(TaskletStack::size);
        }
        // SAFETY: `push` wrote the node, which stays until `pop` reads it.
        Some(unsafe { (*self.used.first).stack.size() })
    }

    /// Moves the stacks of every size but `keep` (every size when None) to
    /// the shared lists. They are sorted by size first, reading a page of
    /// each (milliseconds for a million), and linked into the shared lists
    /// after, under the lock: a few writes per size, so that a thread that
    /// ends, or changes the size, holding many stacks never stalls the
    /// others that need one. Fresh stacks of the size kept stay untouched.
    fn share(&mut self, keep: Option<usize>) {
        let mut by_size = BySize(Vec::new());
        while let Some(s) = self.used.pop() {
            by_size.list(s.size()).push(s);
        }
        if self.fresh.last().is_some_and(|s| Some(s.size()) != keep) {
            for s in self.fresh.drain(..) {
                by_size.list(s.size()).push(s);
            }
        }
        if let Some(size) = keep {
            self.used = by_size.remove(size);
        }
        let mut shared = SHARED_FREE.lock();
        for (size, list) in by_size.0 {
            shared.list(size).prepend(list);
        }
    }

    /// Returns a stack no coroutine uses any more. Its touched pages stay
    /// resident for the next tasklet: returning them to the system would
    /// cost a system call per tasklet on the spawn path.
    pub fn give(&mut self, stack: TaskletStack) {
        stack.release();
        self.used.push(stack);
    }

    /// The latest stack given back, else a fresh one, whatever its size.
    fn pop(&mut self) -> Option<TaskletStack> {
        self.used.pop().or_else(|| self.fresh.pop())
    }

    /// Maps a slab of [`SLAB_STACKS`] stacks into the pool.
    fn carve_slab(&mut self, size: usize) -> Option<()> {
        let guard_len = guard_size();
        let slot = size + guard_len;
        let len = slot * SLAB_STACKS;
        // SAFETY: an anonymous private mapping; the result is checked.
        let start = unsafe {
            libc::mmap(
                null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        let slab: &'static Slab = Box::leak(Box::new(Slab {
            start: start as usize,
            slot,
            guard: guard_len,
            owners: [const { AtomicUsize::new(0) }; SLAB_STACKS],
            threads: [const { AtomicUsize::new(0) }; SLAB_STACKS],
            next: null_mut(),
        }));
        push_slab(slab);
        // The slab lives as long as the process: its stacks are recycled.
        for i in (0..SLAB_STACKS).rev() {
            let limit = start as usize + i * slot;
            let red_zone = !guard(limit, guard_len);
            self.fresh.push(TaskletStack {
                limit,
                base: limit + slot,
                red_zone,
                slab,
                index: i,
                fiber: Fiber::new(),
                _valgrind: ValgrindStackRegistration::new((limit + guard_len) as *mut u8, size),
            });
        }
        Some(())
    }
}

impl Drop for StackPool {
    /// Leaves every stack to the other threads.
    fn drop(&mut self) {
        self.share(None);
    }
}

/// Links a new slab into [`SLABS`].
fn push_slab(slab: &'static Slab) {
    let node = slab as *const Slab as *mut Slab;
    let mut head = SLABS.load(Ordering::Relaxed);
    loop {
        // SAFETY: the node is not linked yet; only this thread writes it.
        unsafe { (*node).next = head };
        match SLABS.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

/// Every slab, newest first, without a lock or an allocation (safe in a
/// signal handler).
fn slabs() -> impl Iterator<Item = &'static Slab> {
    // SAFETY: slabs are never freed; a linked one is fully written.
    let first = unsafe { SLABS.load(Ordering::Acquire).as_ref() };
    core::iter::successors(first, |slab| {
        // SAFETY: as above.
        unsafe { slab.next.as_ref() }
    })
}

/// The tasklet and thread whose guard region holds `addr`, and the stack
/// size: `(tasklet, thread, size)`. Safe to call from a signal handler.
fn guard_hit(addr: usize) -> Option<(usize, usize, usize)> {
    let slab = slabs().find(|slab| addr.wrapping_sub(slab.start) < slab.slot * SLAB_STACKS)?;
    let off = addr - slab.start;
    if off % slab.slot >= slab.guard {
        return None;
    }
    let i = off / slab.slot;
    Some((
        slab.owners[i].load(Ordering::Acquire),
        slab.threads[i].load(Ordering::Relaxed),
        slab.slot - slab.guard,
    ))
}

pub(crate) use overflow::{install_handler, AltStack};

/// The fault handler and the alternate signal stacks it runs on.
mod overflow {
    use super::*;
    use core::cell::UnsafeCell;
    use core::fmt::Write;
    use std::sync::Once;

    /// The alternate signal stack's size.
    const ALT_STACK_SIZE: usize = 64 * 1024;
    /// How far below a thread's own stack a fault still counts as its
    /// overflow (Linux keeps a gap of 1 MiB below a growing stack).
    const THREAD_GAP: usize = 1 << 20;

    /// The handlers installed before ours, written once before ours is.
    struct Previous(UnsafeCell<[libc::sigaction; 2]>);
    // SAFETY: written once (under `INSTALL`) before the handler that reads
    // it is installed, read-only afterwards.
    unsafe impl Sync for Previous {}

    // SAFETY: an all-zero sigaction is a valid (default) action.
    static PREVIOUS: Previous = Previous(UnsafeCell::new(unsafe { core::mem::zeroed() }));
    static INSTALL: Once = Once::new();

    /// Installs the fault handler for the whole process, once.
    pub(crate) fn install_handler() {
        INSTALL.call_once(|| {
            for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
                // SAFETY: a zeroed sigaction is valid; the handler has the
                // SA_SIGINFO signature; PREVIOUS is written before the
                // handler that reads it can run.
                unsafe {
                    let mut action: libc::sigaction = core::mem::zeroed();
                    action.sa_sigaction = on_fault as *const () as usize;
                    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut action.sa_mask);
                    let previous = &mut (*PREVIOUS.0.get())[i];
                    libc::sigaction(sig, &action, previous);
                }
            }
        });
    }

    /// A buffer the message is written into, on the signal stack.
    struct Line {
        bytes: [u8; 400],
        len: usize,
    }

    impl Write for Line {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let n = s.len().min(self.bytes.len() - self.len);
            self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }

    /// Writes the overflow line and aborts.
    pub(crate) fn report(tasklet: usize, thread: usize, size: usize) -> ! {
        let mut line = Line {
            bytes: [0; 400],
            len: 0,
        };
        let _ = write!(line, "Fatal error in libstackless: ");
        let _ = if tasklet == 0 {
            write!(line, "the main tasklet of thread {thread}")
        } else {
            write!(line, "tasklet {tasklet:#x} of thread {thread}")
        };
        let _ = writeln!(
            line,
            " overflowed its stack of {size} bytes; {}",
            super::super::messages::RAISE_STACK_SIZE
        );
        // SAFETY: write(2) is async-signal-safe; the buffer is initialised.
        unsafe {
            libc::write(2, line.bytes.as_ptr().cast(), line.len);
            libc::abort();
        }
    }

    /// The handler: an overflow is reported, anything else goes to the
    /// handler installed before.
    extern "C" fn on_fault(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO.
        let addr = unsafe { (*info).si_addr() } as usize;
        if let Some((tasklet, thread, size)) = guard_hit(addr) {
            report(tasklet, thread, size);
        }
        if let Some((thread, size)) = threads::native_stack_overflow(addr, THREAD_GAP) {
            report(0, thread as usize, size);
        }
        // SAFETY: PREVIOUS was written before this handler was installed.
        let previous = unsafe { &(*PREVIOUS.0.get())[usize::from(sig != libc::SIGSEGV)] };
        let handler = previous.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // The default action, when the faulting instruction runs again.
            // SAFETY: resetting a signal's action is async-signal-safe.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler, called as it asked to be.
            unsafe {
                let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                    core::mem::transmute(handler);
                f(sig, info, ctx);
            }
        } else {
            // SAFETY: as above.
            unsafe {
                let f: extern "C" fn(c_int) = core::mem::transmute(handler);
                f(sig);
            }
        }
    }

    /// An alternate signal stack of the calling thread, which the fault
    /// handler runs on (an overflow leaves no room on the stack that
    /// faulted). None when the thread had one of its own already.
    pub(crate) struct AltStack(*mut c_void);

    impl AltStack {
        /// Gives the calling thread an alternate signal stack, unless it
        /// has one.
        pub(crate) fn install() -> Option<AltStack> {
            // SAFETY: querying and setting the calling thread's signal
            // stack; the memory is a fresh private mapping checked below.
            unsafe {
                let mut current: libc::stack_t = core::mem::zeroed();
                if libc::sigaltstack(null_mut(), &mut current) != 0
                    || current.ss_flags & libc::SS_DISABLE == 0
                {
                    return None;
                }
                let mem = libc::mmap(
                    null_mut(),
                    ALT_STACK_SIZE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                if mem == libc::MAP_FAILED {
                    return None;
                }
                let stack = libc::stack_t {
                    ss_sp: mem,
                    ss_flags: 0,
                    ss_size: ALT_STACK_SIZE,
                };
                if libc::sigaltstack(&stack, null_mut()) != 0 {
                    libc::munmap(mem, ALT_STACK_SIZE);
                    return None;
                }
                Some(AltStack(mem))
            }
        }
    }

    impl Drop for AltStack {
        /// Takes the stack down (at the thread's end), if it is still the
        /// thread's.
        fn drop(&mut self) {
            // SAFETY: the calling thread's signal stack, ours if it still
            // points at our mapping; unmapped only once disabled.
            unsafe {
                let mut current: libc::stack_t = core::mem::zeroed();
                if libc::sigaltstack(null_mut(), &mut current) == 0 && current.ss_sp == self.0 {
                    let off = libc::stack_t {
                        ss_sp: null_mut(),
                        ss_flags: libc::SS_DISABLE,
                        ss_size: 0,
                    };
                    if libc::sigaltstack(&off, null_mut()) == 0 {
                        libc::munmap(self.0, ALT_STACK_SIZE);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{guard_size, page_size, slabs, StackPool, SLAB_STACKS, STACKLESS_MIN_STACK_SIZE};

    /// Slabs carved for stacks of `size` usable bytes.
    fn slabs_of(size: usize) -> usize {
        slabs()
            .filter(|slab| slab.slot == size + guard_size())
            .count()
    }

    /// A pool that changes its stack size, then one that ends holding
    /// stacks of two sizes, leave each stack in the shared list of its size
    /// (prepended to the stacks already there): another pool takes them
    /// all, each of the size it asks for, and no slab is carved for them.
    #[test]
    fn stacks_left_go_to_the_shared_list_of_their_size() {
        // Sizes no other test uses: the shared lists are the process's.
        let x = STACKLESS_MIN_STACK_SIZE + 3 * page_size();
        let y = STACKLESS_MIN_STACK_SIZE + 5 * page_size();
        let mut a = StackPool::default();
        let xs: Vec<_> = (0..3).map(|_| a.take_sized(x).expect("a stack")).collect();
        // The size changes: the fresh stacks of size x go to the shared list.
        let ys: Vec<_> = (0..2).map(|_| a.take_sized(y).expect("a stack")).collect();
        xs.into_iter().chain(ys).for_each(|s| a.give(s));
        drop(a);
        assert_eq!((slabs_of(x), slabs_of(y)), (1, 1));
        let mut b = StackPool::default();
        for size in [x, y] {
            let all: Vec<_> = (0..SLAB_STACKS)
                .map(|_| b.take_sized(size).expect("a stack"))
                .collect();
            assert!(all.iter().all(|s| s.size() == size));
            assert_eq!(slabs_of(size), 1, "a slab carved for size {size}");
            all.into_iter().for_each(|s| b.give(s));
        }
    }
}
