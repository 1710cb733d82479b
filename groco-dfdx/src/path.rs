//! Which implementation the layers and losses run on `Cpu`: the hand-written host kernels
//! (the default, and the fast path), or the device-generic code that `Cuda` runs, composed of
//! dfdx's own ops.
//!
//! `Cuda` always runs the device-generic code. Selecting [`CpuPath::Composed`] makes `Cpu` run
//! that very code too, which is how the tests check the GPU path against the fixtures on a
//! machine without a GPU. The choice is per thread (tests run on many threads at once); a
//! training step and its backward run on the thread that started them.
//!
//! ```
//! use groco_dfdx::path::{cpu_path, with_cpu_path, CpuPath};
//! assert_eq!(cpu_path(), CpuPath::Native);
//! let inside = with_cpu_path(CpuPath::Composed, cpu_path);
//! assert_eq!(inside, CpuPath::Composed);
//! assert_eq!(cpu_path(), CpuPath::Native);
//! ```

use std::cell::Cell;

/// The implementation `Cpu` runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CpuPath {
    /// The host kernels (im2col + gemm + rayon, fused batch norm, host losses).
    #[default]
    Native,
    /// The device-generic compositions of dfdx ops that `Cuda` runs.
    Composed,
}

thread_local! {
    static PATH: Cell<CpuPath> = const { Cell::new(CpuPath::Native) };
}

/// The path `Cpu` runs on this thread.
pub fn cpu_path() -> CpuPath {
    PATH.with(Cell::get)
}

/// Sets the path `Cpu` runs on this thread (until set again).
pub fn set_cpu_path(path: CpuPath) {
    PATH.with(|p| p.set(path));
}

/// Runs `f` with `path` on this thread, then restores the previous path.
pub fn with_cpu_path<R>(path: CpuPath, f: impl FnOnce() -> R) -> R {
    let before = cpu_path();
    set_cpu_path(path);
    let out = f();
    set_cpu_path(before);
    out
}
