//! groco-core: differentiable sorting networks (Petersen et al., ICML 2021 / ICLR 2022) with
//! analytic Jacobians, exact to the `diffsort` 0.2.0 reference, and the GroCo row loss
//! (Shvetsova et al., ICCV 2023). `no_std`, allocation-free, no unsafe, generic over the float.
//! Each compute entry point has an `*_inlined` twin that is `#[inline(always)]` all the way
//! down, so a caller can build it for a wider vector ISA (the `groco-dispatch` crate does,
//! choosing AVX2 or AVX-512 at run time); the plain entry points are compiled once.
//!
//! A relaxed sorting network replaces each comparator's (min, max) by
//! (α·a + (1−α)·b, (1−α)·a + α·b) with α = f(steepness·(b − a)) for one of six sigmoids f
//! ([`Relaxation`]). Composing the layers gives the sorted values and a doubly stochastic
//! relaxed permutation matrix P with `sorted = x·P` (diffsort's convention: `P[i][j]` is the
//! weight of input i in output j; the papers write its transpose).
//!
//! - [`Sorter`]: values only (O(n·depth)), values and P, the VJP of both, soft ranks, and
//!   batched forms over flat slices. Callers pass scratch sized by its `*scratch_len` functions.
//! - [`GrocoRowLoss`]: the GroCo loss of one anchor and its gradient, O(n·depth); or of many
//!   anchors, [`LANES`] side by side (`try_loss_and_grad_rows`), bit for bit the same.
//! - [`Network`]: odd-even transposition and bitonic wired exactly as diffsort, plus Batcher's
//!   odd-even merge sort.
//!
//! ```
//! use groco_core::{Network, Relaxation, SortConfig, Sorter};
//! let cfg = SortConfig::new(Network::Bitonic, Relaxation::Cauchy, 10.0f64);
//! let sorter = Sorter::try_new(4, cfg)?;
//! let x = [0.4, -1.0, 2.5, 0.1];
//! let (mut sorted, mut perm) = ([0.0; 4], [0.0; 16]);
//! let mut scratch = vec![0.0; sorter.scratch_len()];
//! sorter.try_forward(&x, &mut sorted, &mut perm, &mut scratch)?;
//! // A loss L = sum(sorted * gs) + sum(perm * gp) and its gradient with respect to x:
//! let (gs, gp) = ([1.0, 0.0, 0.0, -1.0], [0.0; 16]);
//! let mut grad_x = [0.0; 4];
//! sorter.try_backward(&x, &gs, &gp, &mut grad_x, &mut scratch)?;
//! assert!(grad_x[1] > 0.5 && grad_x[2] < -0.5); // ∂(min − max)/∂(argmin, argmax)
//! # Ok::<(), groco_core::Error>(())
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backward;
mod batch;
mod error;
mod forward;
mod groco;
mod network;
mod rank;
mod real;
pub mod relaxation;
mod rows;
mod sorter;
mod transpose;
mod values;

pub use error::Error;
pub use groco::GrocoRowLoss;
pub use network::{Comparator, Network};
pub use real::Real;
pub use relaxation::Relaxation;
pub use sorter::{SortConfig, Sorter, LANES};
pub use transpose::{ScalarTranspose, Transpose};

#[cfg(test)]
mod testutil;
