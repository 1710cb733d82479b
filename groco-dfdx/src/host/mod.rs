//! Host utilities shared by [`crate::layers`] and [`crate::loss`]: the element types of the
//! host kernels, pooled scratch buffers, and a gemm on strided host slices.
//!
//! - [`LayerFloat`]: `f32` and `f64`, the element types every host kernel runs on.
//! - [`Scratch`] / [`ScratchPool`]: large temporaries borrowed from a bounded per-dtype pool and
//!   returned to it on drop, so a training loop reuses the same few buffers instead of
//!   page-faulting fresh `mmap`s every step (see the crate docs on dfdx's allocation cache).
//! - [`gemm`]: `C = A · B` (or `C += A · B`) on strided views, `A` and `B` transposed for free
//!   by swapping strides, split across rayon threads for the convolution shapes.
//!
//! Nothing here knows about layers or losses; both import from here, never the reverse.
//!
//! ```
//! use groco_dfdx::host::gemm::{gemm, MatRef};
//! use groco_dfdx::host::Scratch;
//! let a = [1.0f64, 2.0, 3.0, 4.0]; // (2, 2) row-major
//! let mut c = Scratch::<f64>::take(4);
//! gemm(&mut c, MatRef::row_major(&a, 2, 2), MatRef::row_major(&a, 2, 2).t(), false);
//! assert_eq!(&c[..], &[5.0, 11.0, 11.0, 25.0]); // A · Aᵀ
//! ```

mod float;
pub mod gemm;
mod scratch;

pub use float::LayerFloat;
pub use scratch::{Scratch, ScratchElement, ScratchPool};

pub(crate) use scratch::{cpu_tensor, read_cpu};
