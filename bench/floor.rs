//! The physical floor: one raw corosensei resume + suspend round trip, in
//! ns, measured the way `bench/bench.c` measures the library. Prints one
//! number.

use corosensei::{Coroutine, Yielder};
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let mut coro = Coroutine::new(|y: &Yielder<(), ()>, ()| loop {
        y.suspend(());
    });
    for _ in 0..n / 10 {
        coro.resume(());
    }
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(coro.resume(()));
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{ns:.2}");
}
