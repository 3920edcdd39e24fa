//! The poller of a thread (DESIGN.md "Time and I/O"): one epoll set that
//! holds an eventfd, which other threads write to wake the thread when
//! they hand it something, a timerfd, and the file descriptors its
//! tasklets wait on (`super::fds`). A thread with nothing to run sleeps in
//! one `epoll_pwait2` whose timeout is its earliest deadline: in the
//! kernel, with no CPU used, until a hand-off, an fd event or that
//! deadline. The epoll set is also what `PyStackless_GetPollFd` gives a
//! host event loop; the timerfd then follows the earliest deadline, so
//! that the host's poll wakes for it.
//!
//! The epoll set and the timerfd belong to the thread; the eventfd is
//! written by any thread, but only while the owner is parked or driven by
//! a host loop, under the owner's inbox lock (see `threads::Parked`), so
//! that it is never written after the thread closed it.

use super::switch::fatal;
use core::cell::{Cell, RefCell};
use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, Ordering};

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
    /// A host loop watches the epoll set: the timerfd follows the
    /// deadlines (else it stays disarmed, and a wait's timeout is its
    /// deadline).
    hosted: Cell<bool>,
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
                hosted: Cell::new(false),
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
    /// The kernel wakes it up to the thread's timer slack after `deadline`
    /// (`prctl(PR_SET_TIMERSLACK)`, 50 µs by default), as it does every
    /// sleep with a timeout: so timers close together wake an idle thread
    /// once. A wait longer than 10 ms sleeps on the timerfd instead, which
    /// fires at `deadline` ([`beyond_slack`]); the timerfd stays set if
    /// something else ends the wait first (at most one wake-up for nothing
    /// later).
    pub(crate) fn wait(&self, deadline: i64) {
        let left =
            (deadline != i64::MAX).then(|| deadline.saturating_sub(super::timers::now()).max(0));
        if self.hosted.get() || left.is_some_and(beyond_slack) {
            // The timerfd: the host's poll sees it, and it fires at the
            // deadline exactly, where a long timeout would end late.
            self.arm(deadline);
            self.collect(None);
        } else {
            self.collect(left);
        }
    }

    /// Collects what is ready now without sleeping (as [`Poller::wait`]).
    pub(crate) fn poll(&self) {
        self.collect(Some(0));
    }

    /// Whether a host loop watches the epoll set.
    pub(crate) fn hosted(&self) -> bool {
        self.hosted.get()
    }

    /// A host loop watches the epoll set from now on: the timerfd follows
    /// the deadlines, from `earliest` on. False when one did already.
    pub(crate) fn host(&self, earliest: i64) -> bool {
        if self.hosted.replace(true) {
            return false;
        }
        self.arm_earlier(earliest);
        true
    }

    /// The thread's earliest deadline is now `earliest`: a host loop's
    /// timerfd follows it when it comes sooner (a hosted `RunUntil` sets
    /// it exactly as it returns).
    pub(crate) fn earliest_changed(&self, earliest: i64) {
        if self.hosted.get() {
            self.arm_earlier(earliest);
        }
    }

    /// One wait of the epoll set for `left` ns (`None`: no timeout).
    fn collect(&self, left: Option<i64>) {
        let mut batch = self.batch.borrow_mut();
        let n = wait_for(self.epoll, &mut batch, left);
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
    fn arm_earlier(&self, deadline: i64) {
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

/// Whether the kernel lets the thread call `epoll_pwait2` (Linux 5.11, and
/// no seccomp filter that refuses it); else waits round their timeout up to
/// whole milliseconds.
static HAS_PWAIT2: AtomicBool = AtomicBool::new(true);

/// `epoll_wait` on `epoll` into `batch` for `left` ns (`None`: no
/// timeout); returns its result. Through the system call, not glibc's
/// wrapper, which older C libraries lack.
fn wait_for(epoll: c_int, batch: &mut [libc::epoll_event], left: Option<i64>) -> c_int {
    let (events, max) = (batch.as_mut_ptr(), batch.len() as c_int);
    if let Some(ns) = left.filter(|&ns| ns > 0 && HAS_PWAIT2.load(Ordering::Relaxed)) {
        let timeout = libc::timespec {
            tv_sec: ns / 1_000_000_000,
            tv_nsec: ns % 1_000_000_000,
        };
        // SAFETY: our epoll fd; `batch` is a writable array of `max`
        // entries; `timeout` outlives the call; no signal mask.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                epoll,
                events,
                max,
                &raw const timeout,
                core::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        } as c_int;
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            return n;
        }
        // ENOSYS, or EPERM from a seccomp filter that predates the call:
        // failing at once forever would make the caller spin.
        HAS_PWAIT2.store(false, Ordering::Relaxed);
    }
    let ms = match left {
        None => -1,
        Some(ns) => (ns.saturating_add(999_999) / 1_000_000).min(c_int::MAX.into()) as c_int,
    };
    // SAFETY: as above.
    unsafe { libc::epoll_wait(epoll, events, max, ms) }
}

/// Whether the kernel may end an epoll wait of `ns` later than the default
/// timer slack: by its "estimated accuracy" of a timeout, 0.1% of it (0.5%
/// for a thread of nice > 0), at most 100 ms (`fs/select.c`), where that
/// exceeds the thread's slack. A one-second wait could end 1 to 5 ms late;
/// such a wait sleeps on the timerfd, which fires at its deadline exactly
/// (two more system calls, to set and read it, where a second wait for
/// the rest would cost a second wake-up).
fn beyond_slack(ns: i64) -> bool {
    (ns / NICE_ACCURACY_DIVISOR).min(MAX_ACCURACY_NS) > DEFAULT_TIMER_SLACK_NS
}

/// The kernel's estimated accuracy of a wait of a thread of nice > 0: its
/// timeout divided by this.
const NICE_ACCURACY_DIVISOR: i64 = 200;

/// The kernel's largest estimated accuracy of a wait (`MAX_SLACK`).
const MAX_ACCURACY_NS: i64 = 100_000_000;

/// A thread's timer slack unless it sets its own (`PR_SET_TIMERSLACK`).
const DEFAULT_TIMER_SLACK_NS: i64 = 50_000;

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

#[cfg(test)]
mod tests {
    use super::{Poller, HAS_PWAIT2};
    use crate::runtime::timers::now;
    use core::sync::atomic::Ordering;

    /// A wait with nothing to wake it ends at its deadline, not before,
    /// through `epoll_pwait2` and through the fallback for kernels without
    /// it (whole milliseconds, rounded up); a wake ends it at once.
    #[test]
    fn a_wait_ends_at_its_deadline_not_before() {
        let p = Poller::new();
        for pwait2 in [true, false] {
            HAS_PWAIT2.store(pwait2, Ordering::Relaxed);
            for ns in [1, 300_000, 2_500_000, 30_000_000] {
                let deadline = now() + ns;
                p.wait(deadline);
                assert!(now() >= deadline, "woke early (epoll_pwait2: {pwait2})");
                assert!(!p.has_ready());
            }
            super::wake(p.wake_fd());
            let far = now() + 60_000_000_000;
            p.wait(far);
            assert!(now() < far, "the wake did not end the wait");
        }
        HAS_PWAIT2.store(true, Ordering::Relaxed);
    }

    /// The kernel's estimate passes the default slack from 10 ms of
    /// timeout on (at nice > 0; 50 ms at nice 0) and stops growing at 20 s.
    #[test]
    fn long_waits_are_beyond_the_slack() {
        use super::beyond_slack;
        assert!(!beyond_slack(0) && !beyond_slack(1_000_000) && !beyond_slack(10_000_000));
        assert!(beyond_slack(10_000_200) && beyond_slack(1_000_000_000));
        assert!(beyond_slack(i64::MAX));
    }
}
