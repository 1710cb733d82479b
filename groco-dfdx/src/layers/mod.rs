//! CNN layers for dfdx 0.13 on stable Rust: convolution, batch norm (+ReLU), pooling, global
//! average pooling and flatten, each with forward and backward on dfdx's tape.
//!
//! # Activation layout: `(C, H, W, B)`
//! Feature maps are [`Activation`]s, contiguous tensors with axes channel, row, column, batch
//! (batch innermost). PyTorch's NCHW element `(b, c, y, x)` is element `(c, y, x, b)` here.
//! This layout makes the CPU kernels simple and fast:
//! - im2col copies runs of `B` contiguous values, and the convolution's gemm output
//!   `(O, OH*OW*B)` is already the next layer's input;
//! - each channel is one contiguous row of `H*W*B` values, exactly what batch norm reduces;
//! - pooling works on whole `B`-vectors.
//!
//! Feed images with [`images_to_activation`] (from a flat NCHW batch); end the convolutional part
//! with [`try_flatten`] / [`Flatten`] or [`try_global_avg_pool`] / [`GlobalAvgPool`], which give
//! `(B, features)` row-major rows for a dfdx `Linear`.
//!
//! # Devices
//! [`LayerDevice`] picks the implementation: on `Cpu`, im2col + the `gemm` crate + rayon, and
//! fused kernels for batch norm, pooling and flatten, each with a hand-written backward
//! registered with `Tape::add_backward_op`; on `Cuda` (feature `cuda`), the compositions of
//! dfdx's own ops in [`composed`], which also serve as the reference the CPU kernels are tested
//! against.
//!
//! # Parameters
//! [`Conv2d`], [`Conv2dBias`] and [`BatchNormAct2d`] are dfdx `TensorCollection`s with
//! compile-time sizes (dfdx 0.13 can only build, save and optimise parameter tensors whose shape
//! is known at compile time), so `BuildModule`, dfdx's optimisers, `ZeroGrads` and safetensors
//! work on them, alone or inside a struct of layers. Their weights have PyTorch's shapes and
//! initialisation.
//!
//! # Example: a small training step
//! ```
//! use dfdx::prelude::*;
//! use groco_dfdx::layers::{images_to_activation, BatchNormRelu2d, Conv2d, Flatten};
//! let dev = Cpu::default();
//! let conv = Conv2d::<1, 4, 3, 2, 1, 1, f32, Cpu>::build(&dev);
//! let mut bn = BatchNormRelu2d::<4, f32, Cpu>::build(&dev);
//! let mut grads = conv.alloc_grads();
//! let x = images_to_activation(&dev, &vec![0.25f32; 8 * 6 * 6], 8, 1, 6, 6).unwrap();
//! let y = conv.try_forward(x.traced(grads)).unwrap(); // (4, 3, 3, 8)
//! let y = bn.try_forward_train(y).unwrap();
//! let rows = Flatten::<36>.try_forward(y).unwrap(); // (8, 36)
//! grads = rows.square().mean().backward();
//! assert_eq!(grads.get(&conv.weight).shape(), conv.weight.shape());
//! ```

mod batch_norm;
mod batch_norm_cpu;
mod chain;
pub mod composed;
mod conv2d;
mod conv2d_cpu;
mod conv2d_layer;
mod conv_bn_cpu;
mod conv_gemm;
mod device;
mod flatten;
mod geom;
pub mod im2col;
mod index_cache;
mod layout;
mod params;
mod pool;
mod pool_cpu;
mod recompute;

pub use batch_norm::{BatchNorm2d, BatchNormAct2d, BatchNormRelu2d};
pub use chain::ConvBnChain;
pub use conv2d::{
    try_chain_conv_bn, try_conv2d, try_conv2d_batch_norm_train, try_conv2d_no_input_grad,
};
pub use conv2d_layer::{Conv2d, Conv2dBias};
pub use device::LayerDevice;
pub use flatten::{try_flatten, try_global_avg_pool, Flatten, GlobalAvgPool};
pub use geom::{ConvGeom, PoolGeom, PoolKind, Window};
pub use layout::{activation_to_images, images_to_activation, transpose_into, Activation, Dims};
pub use params::{BnParams, ConvParams, Weight4};
pub use pool::{try_pool2d, AvgPool2d, MaxPool2d};
pub use recompute::{conv2d_recompute, conv_bn_recompute};

// The layers' element types live in `host`, which the losses share; kept here for old paths.
pub use crate::host::LayerFloat;
