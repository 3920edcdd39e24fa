//! The core: tasklets, the per-thread scheduler, channels, stacks, threads.
//! Who owns which field across threads is stated in the doc of each struct
//! that more than one thread can reach (DESIGN.md "Who owns what").

pub mod bomb;
pub mod callbacks;
pub mod channel;
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
pub mod timers;
pub mod transfer;
pub mod tsan;
pub mod watchdog;
