//! Live heap bytes of the process, counted by the `trainer` binary's global allocator: the
//! counters live here (safe code), the allocator that updates them in `main.rs`.
//!
//! `trainer bench` reads them to report the peak bytes alive during a training step: on `Cpu`
//! every tensor is a heap allocation, so with `--cpu-path composed` this is what the
//! device-generic step (the code `Cuda` runs) keeps alive at its peak. In a binary without the
//! counting allocator (the tests, say) [`peak`] is `None`.
//!
//! ```
//! use trainer::heap;
//! assert_eq!(heap::peak(), None); // doc tests run without the counting allocator
//! heap::note_alloc(100);
//! heap::note_dealloc(100);
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static INSTALLED: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Marks the counting allocator as installed (called once by the binary).
pub fn install() {
    INSTALLED.store(true, Ordering::Relaxed);
}

/// Counts `bytes` allocated.
#[inline]
pub fn note_alloc(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

/// Counts `bytes` freed.
#[inline]
pub fn note_dealloc(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

/// Bytes alive now, if counted.
pub fn live() -> Option<usize> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| LIVE.load(Ordering::Relaxed))
}

/// The most bytes alive at once since the last [`reset_peak`], if counted.
pub fn peak() -> Option<usize> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| PEAK.load(Ordering::Relaxed))
}

/// Starts a new peak from the bytes alive now.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}
