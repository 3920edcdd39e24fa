//! Waiting on file descriptors (EXTENSIONS.md §4, §6): the fds a thread's
//! tasklets wait on, watched by the thread's poller, level-triggered.
//!
//! A tasklet that waits on an fd sleeps (state `Sleeping`, as in
//! `PyStackless_Sleep`) with an [`FdWait`] on its own stack, linked into
//! the thread's [`FdTable`] under its fd; a deadline is a timer as for a
//! sleep. Whatever ends the wait first wins: an event of the fd (the
//! poller reports it, the table wakes the waiter with the ready subset),
//! `ForgetFd` (it wakes the waiter with EBADF), the timer, or a kill or
//! throw (they wake a sleeper). The waiter unlinks itself when it resumes,
//! if nothing unlinked it before.
//!
//! The epoll set watches an fd one-shot, for the union of its waiters'
//! events: an event disarms it, and the table arms it again only for the
//! waiters left. So an fd nobody waits on any more wakes the thread at
//! most once, and a wait costs one `epoll_ctl`. A wait on an fd without
//! waiters always arms it anew (one `EPOLL_CTL_MOD`, or an `ADD` when the
//! kernel dropped it): the fd may have been closed and its number reused
//! since its last wait.
//!
//! Everything here belongs to the thread: the table, its fds' entries in
//! the epoll set, and the waits of its tasklets. Another thread's
//! tasklets wait in their own thread's table.

use super::messages as msg;
use super::scheduler::{self, with_main};
use super::tasklet::{self, Kind, Tasklet};
use super::thread_state::Ts;
use super::timers;
use crate::errors::{self, PyResult};
use core::cell::{Cell, RefCell};
use core::ffi::c_int;

/// PY_WAIT_READ: wait until a read would not block.
pub const PY_WAIT_READ: c_int = 1;
/// PY_WAIT_WRITE: wait until a write would not block.
pub const PY_WAIT_WRITE: c_int = 2;

/// How often a thread that is never idle polls its fds, at least (read on
/// the coarse clock, so at most as often as it ticks).
const POLL_EVERY_NS: i64 = 1_000_000;

// `poll`'s and epoll's event bits are the same numbers on Linux: one
// translation serves both.
const _: () = assert!(
    libc::POLLIN as c_int == libc::EPOLLIN
        && libc::POLLOUT as c_int == libc::EPOLLOUT
        && libc::POLLERR as c_int == libc::EPOLLERR
        && libc::POLLHUP as c_int == libc::EPOLLHUP
        && libc::POLLRDHUP as c_int == libc::EPOLLRDHUP
);

/// The `PY_WAIT_*` bits that epoll (or poll) `events` make ready: an error
/// or a hang-up readies both, as a read or a write then returns at once.
fn ready_bits(events: u32) -> c_int {
    let events = events as c_int;
    let mut bits = 0;
    if events & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
        bits |= PY_WAIT_READ;
    }
    if events & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
        bits |= PY_WAIT_WRITE;
    }
    bits
}

/// The epoll events to watch for the `PY_WAIT_*` bits `wanted`.
fn interest(wanted: c_int) -> u32 {
    let mut events = 0;
    if wanted & PY_WAIT_READ != 0 {
        events |= libc::EPOLLIN;
    }
    if wanted & PY_WAIT_WRITE != 0 {
        events |= libc::EPOLLOUT;
    }
    events as u32
}

/// How a wait ended, as far as the table knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Not by the fd: by its timer, a kill or a throw.
    Waiting,
    /// The fd is ready for these `PY_WAIT_*` bits.
    Ready(c_int),
    /// `PyStackless_ForgetFd`.
    Forgotten,
}

/// One tasklet's wait on one fd, on the waiting tasklet's stack.
pub(crate) struct FdWait {
    tasklet: *mut Tasklet,
    /// `PY_WAIT_*` bits.
    events: c_int,
    outcome: Cell<Outcome>,
    /// Whether it is in its fd's list of waiters.
    linked: Cell<bool>,
}

impl FdWait {
    /// Whether its tasklet still sleeps in this wait: nothing else (its
    /// timer, a kill, a throw) woke it.
    ///
    /// # Safety
    /// The wait is linked, or was until now: its tasklet is live (its
    /// sleep holds a reference) and of the calling thread.
    unsafe fn sleeps(&self) -> bool {
        // SAFETY: per the contract.
        unsafe { tasklet::state(self.tasklet) }.is(Kind::Sleeping)
    }

    /// Ends the wait with `outcome`: its tasklet is appended to the
    /// runnables.
    ///
    /// # Safety
    /// As [`FdWait::sleeps`], which must be true; `ts` is its thread's.
    unsafe fn end(&self, ts: Ts, outcome: Outcome) {
        self.outcome.set(outcome);
        // SAFETY: per the contract, a sleeping tasklet of this thread.
        unsafe { timers::wake(ts, self.tasklet) };
    }
}

/// The waits on one fd, in the order they began; whether the fd is in the
/// epoll set, and for which events it is armed (0: disarmed).
#[derive(Default)]
struct Entry {
    waiters: Vec<*const FdWait>,
    registered: bool,
    armed: u32,
}

impl Entry {
    /// The epoll events its waiters want.
    fn wanted(&self) -> u32 {
        self.waiters
            .iter()
            // SAFETY: a linked wait lives on a suspended tasklet's stack.
            .map(|&w| interest(unsafe { (*w).events }))
            .fold(0, |a, b| a | b)
    }
}

/// A thread's waits on fds, indexed by fd.
#[derive(Default)]
pub(crate) struct FdTable {
    entries: RefCell<Vec<Entry>>,
    /// Linked waits: while there are any, the thread will wake by itself
    /// (never a deadlock), and its switches poll now and then.
    waits: Cell<usize>,
    /// When a busy thread polls its fds next (coarse clock).
    next_poll: Cell<i64>,
}

impl FdTable {
    /// How many waits are linked.
    #[inline(always)]
    pub(crate) fn waits(&self) -> usize {
        self.waits.get()
    }

    /// Links `w` under `fd`, and arms `fd` for it. On failure, the errno,
    /// and nothing linked.
    fn join(&self, ts: Ts, fd: c_int, w: &FdWait) -> Result<(), c_int> {
        let mut entries = self.entries.borrow_mut();
        let i = fd as usize;
        let (registered, armed, waited) = entries.get(i).map_or((false, 0, false), |e| {
            (e.registered, e.armed, !e.waiters.is_empty())
        });
        let arm = armed | interest(w.events);
        if !waited || arm != armed {
            // First, so that the table grows only for open fds.
            ts.poller().watch(fd, registered, arm)?;
        }
        if entries.len() <= i {
            entries.resize_with(i + 1, Entry::default);
        }
        let e = &mut entries[i];
        e.registered = true;
        e.armed = arm;
        e.waiters.push(w);
        w.linked.set(true);
        self.waits.set(self.waits.get() + 1);
        Ok(())
    }

    /// Unlinks `waiters[k]` of `e`.
    fn unlink(&self, e: &mut Entry, k: usize) {
        let w = e.waiters.remove(k);
        // SAFETY: a linked wait lives on a suspended tasklet's stack.
        unsafe { (*w).linked.set(false) };
        self.waits.set(self.waits.get() - 1);
    }

    /// Arms `fd`, which an event disarmed, for its waiters left, if any. A
    /// failure means the fd was closed: then it is in the set no more.
    fn rearm(ts: Ts, fd: c_int, e: &mut Entry) {
        e.armed = e.wanted();
        if e.armed != 0 && ts.poller().watch(fd, e.registered, e.armed).is_err() {
            e.registered = false;
            e.armed = 0;
        }
    }

    /// Takes `fd` out of the epoll set.
    fn drop_fd(ts: Ts, fd: c_int, e: &mut Entry) {
        if e.registered {
            ts.poller().unwatch(fd);
        }
        e.registered = false;
        e.armed = 0;
    }

    /// Unlinks `w` from `fd` if it is still linked (the waiting call, when
    /// it resumes). The fd stays armed: an event that comes for nobody
    /// costs less than a system call for every wait.
    fn leave(&self, fd: c_int, w: &FdWait) {
        if !w.linked.get() {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        let e = &mut entries[fd as usize];
        if let Some(k) = e.waiters.iter().position(|&x| core::ptr::eq(x, w)) {
            self.unlink(e, k);
        }
    }

    /// `fd` had `events`: wakes its waiters that they ready, and unlinks
    /// those that something else woke meanwhile.
    ///
    /// # Safety
    /// `ts` is the calling thread's state, inside a switch or a call.
    unsafe fn fire(&self, ts: Ts, fd: c_int, events: u32) {
        let bits = ready_bits(events);
        let mut entries = self.entries.borrow_mut();
        let Some(e) = entries.get_mut(fd as usize) else {
            return;
        };
        // The event disarmed it.
        e.armed = 0;
        let mut k = 0;
        while k < e.waiters.len() {
            // SAFETY: a linked wait lives on a suspended tasklet's stack,
            // and its tasklet is live.
            let w = unsafe { &*e.waiters[k] };
            // SAFETY: as above.
            let sleeping = unsafe { w.sleeps() };
            let got = w.events & bits;
            if sleeping && got == 0 {
                k += 1;
                continue;
            }
            self.unlink(e, k);
            if sleeping {
                // SAFETY: it sleeps; ours.
                unsafe { w.end(ts, Outcome::Ready(got)) };
            }
        }
        Self::rearm(ts, fd, e);
    }

    /// `PyStackless_ForgetFd`: wakes every waiter of `fd` that still
    /// sleeps with EBADF, unlinks them all, and drops `fd` from the epoll
    /// set. Returns how many it woke.
    ///
    /// # Safety
    /// `ts` is the calling thread's state, outside any switch.
    unsafe fn forget(&self, ts: Ts, fd: c_int) -> usize {
        let mut entries = self.entries.borrow_mut();
        let Some(e) = entries.get_mut(fd as usize) else {
            return 0;
        };
        let mut woken = 0;
        while let Some(&w) = e.waiters.first() {
            // SAFETY: as in `fire`.
            let w = unsafe { &*w };
            self.unlink(e, 0);
            // SAFETY: as in `fire`; it sleeps when `end` is called.
            unsafe {
                if w.sleeps() {
                    w.end(ts, Outcome::Forgotten);
                    woken += 1;
                }
            }
        }
        Self::drop_fd(ts, fd, e);
        woken
    }

    /// The thread ends: its waiters that still sleep (they survived the
    /// kills of its end and waited again) are paused, as runnable
    /// survivors are, and every fd leaves the epoll set. Returns the
    /// sleeps' references, for the caller to release.
    pub(crate) fn abandon(&self, ts: Ts) -> Vec<*mut Tasklet> {
        let mut paused = Vec::new();
        let mut entries = self.entries.borrow_mut();
        for (fd, e) in entries.iter_mut().enumerate() {
            while let Some(&w) = e.waiters.first() {
                // SAFETY: as in `fire`.
                let w = unsafe { &*w };
                self.unlink(e, 0);
                // SAFETY: as in `fire`: a live tasklet of this thread.
                unsafe {
                    if w.sleeps() {
                        let t = w.tasklet;
                        tasklet::set_state(t, tasklet::state(t).with_kind(Kind::Paused));
                        paused.push(t);
                    }
                }
            }
            Self::drop_fd(ts, fd as c_int, e);
        }
        paused
    }
}

/// Wakes the waiters of the fds the poller reported ready.
///
/// # Safety
/// `ts` is the calling thread's state.
pub(crate) unsafe fn dispatch(ts: Ts) {
    // SAFETY: per the contract.
    ts.poller()
        .take_ready(|fd, events| unsafe { ts.fds().fire(ts, fd, events) });
    ts.fds_changed();
}

/// At a scheduling point of a thread whose tasklets wait on fds: polls
/// them when the last poll is [`POLL_EVERY_NS`] old, so that a thread that
/// is never idle still wakes its waiters.
///
/// # Safety
/// `ts` is the calling thread's state, inside a switch.
pub(crate) unsafe fn poll_due(ts: Ts) {
    let now = timers::coarse_now();
    let fds = ts.fds();
    if now >= fds.next_poll.get() {
        fds.next_poll.set(now + POLL_EVERY_NS);
        // SAFETY: per the contract.
        unsafe { poll_now(ts) };
    }
}

/// Polls and wakes the waiters of what is ready now (also at the start of
/// a `RunUntil`, for what a host loop's poll saw).
///
/// # Safety
/// `ts` is the calling thread's state.
pub(crate) unsafe fn poll_now(ts: Ts) {
    ts.poller().poll();
    // SAFETY: per the contract.
    unsafe { dispatch(ts) };
}

/// Whether `fd` is ready now for the `PY_WAIT_*` bits `events`: the ready
/// subset (0: none), or the errno of a bad fd.
fn probe(fd: c_int, events: c_int) -> Result<c_int, c_int> {
    let mut p = libc::pollfd {
        fd,
        events: interest(events) as i16,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    if unsafe { libc::poll(&mut p, 1, 0) } < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    if p.revents & libc::POLLNVAL != 0 {
        return Err(libc::EBADF);
    }
    Ok(ready_bits(p.revents as u16 as u32) & events)
}

/// `PyStackless_WaitFd` (EXTENSIONS.md §4): the current tasklet sleeps
/// until `fd` is ready for one of `events` (`PY_WAIT_*`), `deadline`
/// passes, or it is killed, thrown to, or its fd forgotten. Returns the
/// ready subset. A deadline that passed already is a try that never
/// switches. A regular file, which epoll cannot watch, is always ready.
///
/// # Safety
/// Called from C, outside any switch.
pub(crate) unsafe fn wait(fd: c_int, events: c_int, deadline: Option<i64>) -> PyResult<c_int> {
    if events == 0 || events & !(PY_WAIT_READ | PY_WAIT_WRITE) != 0 {
        return Err(errors::value_error(msg::WAIT_EVENTS));
    }
    if fd < 0 {
        return Err(errors::os_error(libc::EBADF));
    }
    // SAFETY: per the contract.
    unsafe {
        with_main(|ts| {
            if deadline.is_some_and(timers::passed) {
                return match probe(fd, events) {
                    Ok(0) => Err(errors::timed_out()),
                    Ok(bits) => Ok(bits),
                    Err(e) => Err(errors::os_error(e)),
                };
            }
            let w = FdWait {
                tasklet: ts.head(),
                events,
                outcome: Cell::new(Outcome::Waiting),
                linked: Cell::new(false),
            };
            match ts.fds().join(ts, fd, &w) {
                Ok(()) => {}
                Err(libc::EPERM) => return Ok(events),
                Err(e) => return Err(errors::os_error(e)),
            }
            ts.fds_changed();
            let slept = scheduler::sleep(ts, deadline);
            ts.fds().leave(fd, &w);
            ts.fds_changed();
            slept?;
            match w.outcome.get() {
                Outcome::Ready(bits) => Ok(bits),
                Outcome::Forgotten => Err(errors::os_error(libc::EBADF)),
                Outcome::Waiting => Err(errors::timed_out()),
            }
        })
    }
}

/// `PyStackless_ForgetFd`: wakes the calling thread's waiters on `fd` at
/// once (see [`FdTable::forget`]; returns how many), and asks every other
/// thread whose tasklets wait on fds to wake its own at its next
/// scheduling point.
///
/// # Safety
/// Called from C, outside any switch.
pub(crate) unsafe fn forget(fd: c_int) -> PyResult<c_int> {
    if fd < 0 {
        return Err(errors::os_error(libc::EBADF));
    }
    let ts = Ts::get();
    // SAFETY: per the contract.
    let woken = unsafe { forget_here(ts, fd) };
    super::threads::forget_elsewhere(ts.shared(), fd);
    Ok(woken as c_int)
}

/// Wakes the thread's waiters on `fd` with EBADF (see
/// [`FdTable::forget`]); returns how many.
///
/// # Safety
/// `ts` is the calling thread's state.
pub(crate) unsafe fn forget_here(ts: Ts, fd: c_int) -> usize {
    // SAFETY: per the contract.
    let woken = unsafe { ts.fds().forget(ts, fd) };
    ts.fds_changed();
    woken
}
