//! For the unit tests only: the system allocator, except that a thread may
//! set a ceiling above which its allocations fail, as they do when the
//! address space runs out under `ulimit -v`. It lets a test see what a
//! failed allocation does to a connection, with no limit on the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

std::thread_local! {
    /// The largest allocation this thread may make; constant-initialised and
    /// without a destructor, so that reading it never allocates.
    static CEILING: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Fails this thread's allocations of more than `bytes` until the guard is
/// dropped.
pub fn fail_above(bytes: usize) -> Guard {
    CEILING.with(|ceiling| ceiling.set(bytes));
    Guard
}

/// Lifts the ceiling when dropped.
#[derive(Debug)]
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        CEILING.with(|ceiling| ceiling.set(usize::MAX));
    }
}

fn allowed(size: usize) -> bool {
    CEILING
        .try_with(Cell::get)
        .map_or(true, |ceiling| size <= ceiling)
}

/// The test build's allocator.
pub struct Ceilinged;

#[allow(unsafe_code)]
// SAFETY: every call is passed to the system allocator unchanged, or fails
// with a null pointer, which `GlobalAlloc` allows for alloc and realloc.
unsafe impl GlobalAlloc for Ceilinged {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's guarantees for `layout` are System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by System with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for alloc.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !allowed(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` was allocated by System with `layout`; the caller
        // guarantees `new_size` is valid for it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Ceilinged = Ceilinged;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceiling_fails_larger_allocations_on_its_thread_only() {
        let guard = fail_above(1000);
        let mut small: Vec<u8> = Vec::new();
        assert!(small.try_reserve_exact(1000).is_ok());
        let mut large: Vec<u8> = Vec::new();
        assert!(large.try_reserve_exact(1001).is_err());
        let elsewhere = std::thread::spawn(|| Vec::<u8>::new().try_reserve_exact(5000).is_ok());
        assert!(elsewhere.join().expect("joined"));
        drop(guard);
        assert!(large.try_reserve_exact(1001).is_ok());
    }
}
