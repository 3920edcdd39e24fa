//! The poller of a thread (DESIGN.md "Time and I/O"): one epoll set that
//! holds an eventfd, which other threads write to wake the thread when
//! they hand it something, and a timerfd set to the thread's earliest
//! deadline. A thread with nothing to run sleeps in one `epoll_wait`: in
//! the kernel, with no CPU used, until a hand-off or its deadline.
//!
//! The epoll set and the timerfd belong to the thread; the eventfd is
//! written by any thread, but only while the owner is parked, under the
//! owner's inbox lock (see `threads::Parked`), so that it is never
//! written after the thread closed it.

use super::switch::fatal;
use core::cell::Cell;
use core::ffi::c_int;

/// What the epoll set reports, by its `u64` data.
const WAKE: u64 = 0;
const TIMER: u64 = 1;

/// A thread's epoll set, eventfd and timerfd.
pub(crate) struct Poller {
    epoll: c_int,
    event: c_int,
    timer: c_int,
    /// The deadline the timerfd is set to (`i64::MAX`: disarmed), so that
    /// a wait for the same deadline costs no system call to set it.
    armed: Cell<i64>,
    /// How long the thread spins on its inbox before it sleeps here
    /// (adapted by `threads::ThreadShared::spin`).
    pub(crate) spin_ns: Cell<i64>,
}

/// Ends the process: the thread cannot sleep without its poller.
#[cold]
fn broken(what: &str) -> ! {
    let err = std::io::Error::last_os_error();
    fatal(&format!("the poller of a thread failed ({what}: {err})"))
}

impl Poller {
    /// A new poller, or the process ends with a message naming what the
    /// kernel refused (out of file descriptors).
    pub(crate) fn new() -> Poller {
        // SAFETY: plain system calls on fds made here; `ev` outlives them.
        unsafe {
            let epoll = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if epoll < 0 {
                broken("epoll_create1");
            }
            let event = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
            if event < 0 {
                broken("eventfd");
            }
            let timer = libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            );
            if timer < 0 {
                broken("timerfd_create");
            }
            for (fd, data) in [(event, WAKE), (timer, TIMER)] {
                let mut ev = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: data,
                };
                if libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut ev) != 0 {
                    broken("epoll_ctl");
                }
            }
            Poller {
                epoll,
                event,
                timer,
                armed: Cell::new(i64::MAX),
                spin_ns: Cell::new(super::threads::SPIN_START_NS),
            }
        }
    }

    /// The eventfd that wakes the thread.
    pub(crate) fn wake_fd(&self) -> c_int {
        self.event
    }

    /// Sleeps until the eventfd is written or `deadline` (`i64::MAX`: none)
    /// passes, or a signal interrupts; what woke it is consumed.
    pub(crate) fn wait(&self, deadline: i64) {
        self.arm(deadline);
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
        // SAFETY: `events` is a writable array of its length.
        let n = unsafe { libc::epoll_wait(self.epoll, events.as_mut_ptr(), 2, -1) };
        for ev in events.iter().take(n.max(0) as usize) {
            let mut count = 0u64;
            let fd = if ev.u64 == WAKE {
                self.event
            } else {
                self.timer
            };
            // SAFETY: reads 8 bytes into `count` from a non-blocking fd of
            // ours; a failure (nothing to read) changes nothing.
            unsafe { libc::read(fd, (&raw mut count).cast(), 8) };
            if ev.u64 == TIMER {
                self.armed.set(i64::MAX);
            }
        }
    }

    /// Sets the timerfd to `deadline` (absolute, `CLOCK_MONOTONIC`), or
    /// disarms it for `i64::MAX`.
    fn arm(&self, deadline: i64) {
        if deadline == self.armed.get() {
            return;
        }
        let at = if deadline == i64::MAX {
            libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }
        } else {
            // A deadline of 0 would disarm: the earliest instant instead.
            let d = deadline.max(1);
            libc::timespec {
                tv_sec: d / 1_000_000_000,
                tv_nsec: d % 1_000_000_000,
            }
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: at,
        };
        // SAFETY: our timerfd; `spec` is a valid itimerspec.
        let r = unsafe {
            libc::timerfd_settime(
                self.timer,
                libc::TFD_TIMER_ABSTIME,
                &spec,
                core::ptr::null_mut(),
            )
        };
        if r != 0 {
            broken("timerfd_settime");
        }
        self.armed.set(deadline);
    }
}

/// Wakes the thread whose eventfd is `fd`.
pub(crate) fn wake(fd: c_int) {
    let one = 1u64;
    // SAFETY: writes 8 bytes from `one`; the fd is open while its thread
    // is parked (see the module doc). A full counter (EAGAIN) wakes too.
    unsafe { libc::write(fd, (&raw const one).cast(), 8) };
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: our fds, closed once.
        unsafe {
            libc::close(self.epoll);
            libc::close(self.event);
            libc::close(self.timer);
        }
    }
}
