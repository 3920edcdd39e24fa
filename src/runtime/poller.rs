//! The poller of a thread (DESIGN.md "Time and I/O"): one epoll set that
//! holds an eventfd, which other threads write to wake the thread when
//! they hand it something, a timerfd set to the thread's earliest
//! deadline, and the file descriptors its tasklets wait on
//! (`super::fds`). A thread with nothing to run sleeps in one
//! `epoll_wait`: in the kernel, with no CPU used, until a hand-off, an fd
//! event or its deadline. The epoll set is also what
//! `PyStackless_GetPollFd` gives a host event loop.
//!
//! The epoll set and the timerfd belong to the thread; the eventfd is
//! written by any thread, but only while the owner is parked or driven by
//! a host loop, under the owner's inbox lock (see `threads::Parked`), so
//! that it is never written after the thread closed it.

use super::switch::fatal;
use core::cell::{Cell, RefCell};
use core::ffi::c_int;

/// What the epoll set reports, by its `u64` data: the eventfd, the
/// timerfd, or a watched fd `n` as `FD_BASE + n`.
const WAKE: u64 = 0;
const TIMER: u64 = 1;
const FD_BASE: u64 = 2;

/// Events one `epoll_wait` takes at most; more wait for the next.
const BATCH: usize = 256;

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
    /// The events of watched fds that the last waits collected, not yet
    /// dispatched (`(fd, epoll events)`); keeps its capacity.
    ready: RefCell<Vec<(c_int, u32)>>,
    /// The buffer `epoll_wait` fills (`BATCH` entries).
    batch: RefCell<Vec<libc::epoll_event>>,
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
                ready: RefCell::new(Vec::new()),
                batch: RefCell::new(vec![libc::epoll_event { events: 0, u64: 0 }; BATCH]),
            }
        }
    }

    /// The eventfd that wakes the thread.
    pub(crate) fn wake_fd(&self) -> c_int {
        self.event
    }

    /// The epoll fd: what a host loop watches.
    pub(crate) fn fd(&self) -> c_int {
        self.epoll
    }

    /// Sleeps until the eventfd is written, a watched fd has an event, or
    /// `deadline` (`i64::MAX`: none) passes, or a signal interrupts. What
    /// woke it is consumed; fd events are kept for [`Poller::take_ready`].
    pub(crate) fn wait(&self, deadline: i64) {
        self.arm(deadline);
        self.collect(-1);
    }

    /// Collects what is ready now without sleeping (as [`Poller::wait`]).
    pub(crate) fn poll(&self) {
        self.collect(0);
    }

    /// One `epoll_wait` of `timeout` ms.
    fn collect(&self, timeout: c_int) {
        let mut batch = self.batch.borrow_mut();
        // SAFETY: `batch` is a writable array of its length.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll,
                batch.as_mut_ptr(),
                batch.len() as c_int,
                timeout,
            )
        };
        let mut ready = self.ready.borrow_mut();
        for ev in batch.iter().take(n.max(0) as usize) {
            let (data, events) = (ev.u64, ev.events);
            if data >= FD_BASE {
                ready.push(((data - FD_BASE) as c_int, events));
                continue;
            }
            consume(if data == WAKE { self.event } else { self.timer });
            if data == TIMER {
                self.armed.set(i64::MAX);
            }
        }
    }

    /// Consumes a write of the eventfd that is no longer news: what it
    /// announced was served already.
    pub(crate) fn consume_wake(&self) {
        consume(self.event);
    }

    /// Whether fd events wait to be dispatched.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    /// The fd events collected since the last call, for `f` to dispatch
    /// (which must not reach the poller's buffer of events).
    pub(crate) fn take_ready(&self, mut f: impl FnMut(c_int, u32)) {
        let mut ready = self.ready.take();
        for &(fd, events) in &ready {
            f(fd, events);
        }
        ready.clear();
        self.ready.replace(ready);
    }

    /// Arms `fd` for one event of `interest` (epoll events, one-shot: the
    /// event disarms it), adding it to the epoll set unless `registered`
    /// says it is there. On failure, the errno.
    pub(crate) fn watch(&self, fd: c_int, registered: bool, interest: u32) -> Result<(), c_int> {
        let ctl = |op: c_int| {
            let mut ev = libc::epoll_event {
                events: interest | libc::EPOLLONESHOT as u32,
                u64: FD_BASE + fd as u64,
            };
            // SAFETY: our epoll fd; `ev` outlives the call.
            if unsafe { libc::epoll_ctl(self.epoll, op, fd, &mut ev) } == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO))
            }
        };
        if !registered {
            return ctl(libc::EPOLL_CTL_ADD);
        }
        // Closed since, and its number reused: the new file is not there.
        ctl(libc::EPOLL_CTL_MOD).or_else(|e| {
            if e == libc::ENOENT {
                ctl(libc::EPOLL_CTL_ADD)
            } else {
                Err(e)
            }
        })
    }

    /// Takes `fd` out of the epoll set; a closed fd has left it already.
    pub(crate) fn unwatch(&self, fd: c_int) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: our epoll fd; a failure (closed, not there) changes
        // nothing.
        unsafe { libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Sets the timerfd to `deadline` if that is earlier than what it is
    /// set to: a host loop then wakes for the earliest deadline.
    pub(crate) fn arm_earlier(&self, deadline: i64) {
        if deadline < self.armed.get() {
            self.arm(deadline);
        }
    }

    /// Sets the timerfd to `deadline` (absolute, `CLOCK_MONOTONIC`), or
    /// disarms it for `i64::MAX`.
    pub(crate) fn arm(&self, deadline: i64) {
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

/// Reads the counter of our eventfd or timerfd `fd`, so that it is not
/// readable until written or expired anew.
fn consume(fd: c_int) {
    let mut count = 0u64;
    // SAFETY: reads 8 bytes into `count` from a non-blocking fd of ours; a
    // failure (nothing to read) changes nothing.
    unsafe { libc::read(fd, (&raw mut count).cast(), 8) };
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
