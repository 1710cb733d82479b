//! groco-dfdx: dfdx 0.13 (stable Rust) bindings for groco, and the CNN layers dfdx 0.13 lacks on
//! stable.
//!
//! - [`layers`]: 2-D convolution (im2col + `gemm` on the CPU), fused BatchNorm2D(+ReLU), max/avg
//!   pooling, global average pooling and flatten, on the `(C, H, W, B)` activation layout
//!   described in [`layers`]. Every layer has a `Cpu` kernel with a hand-written backward and a
//!   device-generic path composed of dfdx's own ops, which is what `Cuda` runs.
//! - [`loss`]: differentiable sorting ([`loss::diff_sort`], [`loss::soft_rank`]) and the GroCo
//!   and NT-Xent losses ([`loss::groco_loss`], [`loss::nt_xent`]) as dfdx ops whose backward is
//!   groco-core's analytic VJP.
//! - [`host`]: what both use on the host: the element types ([`host::LayerFloat`]), pooled
//!   scratch buffers and a strided gemm.
//! - [`error`]: the crate's one error type; [`transfer`]: every host↔device copy, counted;
//!   [`path`]: the per-thread choice of `Cpu` implementation; [`probe`]: the panic-free CUDA probe.
//!
//! Modules import one way: `layers` and `loss` import from `host` and never from each other, and
//! all three only from the small modules below them (`error`, `transfer`, `path` and a private
//! cache of constant tensors).
//!
//! # dfdx's CPU allocation cache and `tensor_from_vec`
//! dfdx's `Cpu` device keeps a cache of freed tensor buffers once `enable_cache()` has been
//! called (it is off by default; training loops turn it on because it is much faster). A buffer
//! handed to dfdx with `tensor_from_vec` becomes a cached allocation when its tensor is dropped,
//! but nothing in a training step asks the cache for a buffer of that size again if the code
//! keeps creating its tensors from fresh `Vec`s: the cache then grows by one buffer every step
//! and memory climbs without bound. This crate never hands dfdx a fresh `Vec` on a hot path:
//! outputs are created with `zeros_like` (which draws from the cache) followed by `copy_from`,
//! and large temporaries live in a bounded scratch pool
//! ([`host::ScratchPool`]). Code that feeds data in every step should do the same; see
//! [`layers::images_to_activation`]. The test `tests/layers_memory.rs` runs hundreds of training
//! steps with the cache on and checks that the resident set stays flat.
#![deny(missing_docs)]

mod constants;
pub mod error;
pub mod host;
pub mod layers;
pub mod loss;
pub mod path;
pub mod probe;
pub mod transfer;

pub use error::Error;
