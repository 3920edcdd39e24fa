//! The core: tasklets, the per-thread scheduler, channels, stacks, threads.
//! Safe Rust where it can be; the raw-pointer parts state their invariants
//! at the top of `tasklet` and `scheduler`.

pub mod channel;
pub mod messages;
pub mod scheduler;
pub mod stack;
pub mod tasklet;
pub mod threads;
mod tsan;
