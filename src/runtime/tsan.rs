//! Happens-before annotations for ThreadSanitizer (`make check-tsan`).
//!
//! The Rust side is not instrumented on stable Rust, so TSan cannot see the
//! synchronisation of the channel locks and the inboxes and would report
//! every object handed from one thread to another. Built with the `tsan`
//! feature, each critical section tells TSan that it acquires and releases
//! the lock's address; without the feature these are empty.

/// cbindgen:ignore
#[cfg(feature = "tsan")]
extern "C" {
    fn __tsan_acquire(addr: *mut core::ffi::c_void);
    fn __tsan_release(addr: *mut core::ffi::c_void);
}

/// Marks the start of a critical section guarded by `lock`.
#[inline(always)]
pub(crate) fn acquire<T>(lock: *const T) {
    #[cfg(feature = "tsan")]
    // SAFETY: TSan's annotation only records the address.
    unsafe {
        __tsan_acquire(lock as *mut core::ffi::c_void)
    };
    #[cfg(not(feature = "tsan"))]
    let _ = lock;
}

/// Marks the end of a critical section guarded by `lock`.
#[inline(always)]
pub(crate) fn release<T>(lock: *const T) {
    #[cfg(feature = "tsan")]
    // SAFETY: TSan's annotation only records the address.
    unsafe {
        __tsan_release(lock as *mut core::ffi::c_void)
    };
    #[cfg(not(feature = "tsan"))]
    let _ = lock;
}
