//! Giving memory back to the system: the allocator's settings for the
//! process, and a trim once a long job ends.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena for
//! reuse, and after a large block is freed it raises its threshold for
//! fresh mappings to that size (up to 32 MB), serving later blocks from
//! the arenas and keeping them there. A scan measures tensors on several
//! threads side by side, so each scan-and-cancel could leave a tensor's
//! buffers held in one more arena: the soak test (tests/soak_scan.rs) saw
//! the worker's memory climb from 34 MB after a whole scan to 64 MB over 50
//! cancelled ones. A fixed threshold keeps every block of 4 MiB or more
//! (a tensor's values, x̂) in its own mapping, returned when freed; the
//! buffers the formats pipeline and the scan reuse are pooled by us, not
//! by the allocator, so nothing fast depends on it.

/// Blocks from this size on get their own mapping.
const OWN_MAPPING_BYTES: i32 = 4 << 20;

/// Sets the allocator up for the process (glibc: a fixed mmap threshold);
/// elsewhere nothing. Call it first thing, so every block is served under it.
pub fn configure_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: mallopt only changes the allocator's tunables, under the
        // allocator's own lock (glibc's mallopt is thread-safe), and takes
        // no pointer.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, OWN_MAPPING_BYTES);
        }
    }
}

/// Returns the allocator's free memory to the system (glibc: `malloc_trim`,
/// which releases the free pages of every arena); elsewhere nothing.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only walks the allocator's own free lists; any
        // thread may call it at any time, and it touches no live allocation.
        unsafe {
            malloc_trim(0);
        }
    }
}
