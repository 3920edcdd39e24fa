//! The core: tasklets, the per-thread scheduler, channels, stacks, threads.
//! Who owns which field across threads is stated in the doc of each struct
//! that more than one thread can reach (DESIGN.md "Who owns what").

pub mod bomb;
pub mod callbacks;
pub mod channel;
pub mod fds;
pub mod finalize;
pub mod messages;
pub mod poller;
pub mod run_queue;
pub mod scheduler;
pub mod stack;
pub mod state;
pub mod switch;
pub mod tasklet;
pub mod thread_state;
pub mod threads;
pub mod timer_queue;
pub mod timers;
pub mod transfer;
pub mod tsan;
pub mod watchdog;

/// Asks the CPU to load the cache line at `p` (and the next), which is
/// about to be read. Only a hint: `p` may be anything.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
