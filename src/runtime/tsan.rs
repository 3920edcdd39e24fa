//! ThreadSanitizer's view of tasklet switches. TSan keeps one call stack
//! per thread, of fixed size, fed by the entry and exit of every
//! instrumented function; a tasklet that suspends leaves its frames on it,
//! and some thousand suspended tasklets overflow it and corrupt TSan's own
//! memory. With the `tsan` feature (`make check-tsan`), every tasklet stack
//! is a TSan fiber with a call stack of its own, and the trampoline tells
//! TSan each time it enters one and comes back. Without the feature every
//! function here is empty.

#[cfg(feature = "tsan")]
mod imp {
    use core::ffi::{c_uint, c_void};

    /// cbindgen:ignore
    extern "C" {
        fn __tsan_get_current_fiber() -> *mut c_void;
        fn __tsan_create_fiber(flags: c_uint) -> *mut c_void;
        fn __tsan_switch_to_fiber(fiber: *mut c_void, flags: c_uint);
    }

    /// A fiber of TSan's, made once per tasklet stack (stacks live as long
    /// as the process, and so do their fibers).
    #[derive(Clone, Copy)]
    pub(crate) struct Fiber(*mut c_void);

    // SAFETY: a handle TSan accepts from any thread; a stack, and its
    // fiber, runs on one thread at a time.
    unsafe impl Send for Fiber {}

    impl Fiber {
        pub(crate) fn new() -> Fiber {
            // SAFETY: no preconditions.
            Fiber(unsafe { __tsan_create_fiber(0) })
        }

        /// The fiber the calling thread runs now.
        pub(crate) fn current() -> Fiber {
            // SAFETY: no preconditions.
            Fiber(unsafe { __tsan_get_current_fiber() })
        }

        /// Tells TSan that the thread goes on in this fiber, with a
        /// happens-before edge from what it did so far.
        pub(crate) fn enter(self) {
            // SAFETY: a fiber from `new` or `current`, never destroyed.
            unsafe { __tsan_switch_to_fiber(self.0, 0) }
        }
    }
}

#[cfg(not(feature = "tsan"))]
mod imp {
    /// Nothing, without TSan.
    #[derive(Clone, Copy)]
    pub(crate) struct Fiber;

    impl Fiber {
        #[inline(always)]
        pub(crate) fn new() -> Fiber {
            Fiber
        }

        #[inline(always)]
        pub(crate) fn current() -> Fiber {
            Fiber
        }

        #[inline(always)]
        pub(crate) fn enter(self) {}
    }
}

pub(crate) use imp::Fiber;
