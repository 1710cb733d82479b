//! Differentiable sorting and the GroCo and NT-Xent losses as dfdx tensor ops, each with a
//! hand-written backward: the sorting ops' and the GroCo loss's through groco-core's analytic
//! VJP, NT-Xent's by its closed form.
//!
//! - [`diff_sort`], [`diff_sort_values`], [`soft_rank`]: relaxed sorting of the rows of a
//!   `(B, N)` tensor (see [`sort_op`] for how two outputs share one tape).
//! - [`groco_loss`] with [`GrocoConfig`]: the GroCo loss over V views `(B, D)`.
//! - [`nt_xent()`]: SimCLR's NT-Xent over 2 views.
//!
//! # Using the losses in a training step
//! The views are the projection head's outputs, `(B, D)` tensors on an `OwnedTape` (any
//! `Dim`s: `(usize, Const<128>)` from a dfdx `Linear` works as it is). Pass them by value, as
//! an array or a `Vec`; the loss merges their tapes and returns a scalar on the merged tape:
//! ```
//! use dfdx::prelude::*;
//! use groco_dfdx::loss::{groco_loss, nt_xent, GrocoConfig};
//! type Head = (Linear<16, 32>, ReLU, Linear<32, 8>);
//! let dev = Cpu::default();
//! let head = dev.build_module::<Head, f32>();
//! let (x1, x2): (Tensor<(usize, Const<16>), f32, _>, Tensor<(usize, Const<16>), f32, _>) =
//!     (dev.sample_normal_like(&(12, Const)), dev.sample_normal_like(&(12, Const)));
//! let grads = head.alloc_grads();
//! let z1 = head.forward(x1.trace(grads));
//! let z2 = head.forward(x2.leaky_trace()); // second view: its tape merges into the loss's
//! let loss = groco_loss([z1, z2], GrocoConfig { topk_neg: 5, ..Default::default() })?;
//! let grads = loss.backward();
//! assert_eq!(grads.get(&head.0.weight).shape(), head.0.weight.shape());
//!
//! let z1 = head.forward(x1.leaky_trace());
//! let z2 = head.forward(x2.leaky_trace());
//! let loss = nt_xent([z1, z2], 0.5)?;
//! assert!(loss.array() > 0.0);
//! # Ok::<(), groco_dfdx::Error>(())
//! ```
//!
//! # Where the work happens
//! Everything runs on the host ([`LossDevice`]): on `Cpu` in the tensors' own memory, with the
//! similarity matrices computed by the `gemm` crate and the rows spread over rayon; on `Cuda`
//! the inputs are copied to the host and the results (outputs and input gradients) copied back.
//! The CPU cost is small next to a training step (see the `loss` bench), and the copies are of
//! the op's inputs and outputs only.

mod cosine;
mod device;
mod float;
mod gram;
mod groco;
mod groco_config;
mod groco_host;
mod groco_resident;
mod nt_xent;
mod nt_xent_resident;
mod resident;
pub mod sort_op;
mod survivors;
mod top_k;
mod views;

pub use cosine::COSINE_EPS;
pub use device::LossDevice;
pub use float::LossFloat;
pub use groco::groco_loss;
pub use groco_config::GrocoConfig;
pub use groco_core::{Network, Relaxation, SortConfig};
pub use nt_xent::nt_xent;
pub use resident::ResidentDevice;
pub use sort_op::{diff_sort, diff_sort_values, soft_rank};
