//! `small-cnn` and `small-cnn-flat`, the encoders for small greyscale images: four 3×3
//! convolutions (C→32 stride 1, 32→64 stride 2, 64→128 stride 2, 128→128 stride 2), each followed
//! by fused BatchNorm+ReLU, then a readout of the last 128-channel map.
//!
//! - [`GlobalAvg`] (`small-cnn`, the default) averages the map over space: 128 features, as
//!   SimCLR, solo-learn and the ResNet path do; it takes centred pixels (`CENTRED_INPUT`). The
//!   features keep no pixel layout, so a random encoder is weak (72.6 % k-NN on mnist5k at seed
//!   0) and what training adds is visible.
//! - [`Flat4x4`] (`small-cnn-flat`) takes [0, 1] pixels and flattens the 4×4×128 map to 2048
//!   features. It keeps where in the digit each stroke is, so its random-init k-NN on mnist5k
//!   (92.6 %) is close to raw pixels'. A 28×28 or 32×32 input ends at 4×4; a larger input whose
//!   last map is a multiple of 4 is average-pooled down to 4×4 first.

use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use std::marker::PhantomData;

use groco_dfdx::layers::{
    try_flatten, try_global_avg_pool, try_pool2d, Activation, BatchNormRelu2d, Conv2d, ConvBnChain,
    Dims, LayerDevice, PoolKind, Window,
};
use groco_dfdx::Error;

use super::encoder::Encoder;

/// How the last `128 × h × w` map becomes a feature row.
pub trait Readout: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// Width of the feature row.
    const FEATURES: usize;
    /// Whether the model with this readout takes centred pixels ([`Encoder::CENTRED_INPUT`]).
    const CENTRED_INPUT: bool;
    /// `(128, h, w, B)` map to `(B, FEATURES)` rows.
    fn try_read<D: LayerDevice<f32>, T: Tape<f32, D>>(
        x: Activation<f32, D, T>,
    ) -> Result<Tensor<(usize, usize), f32, D, T>, Error>;
}

/// Global average pooling to 128 features (`small-cnn`).
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobalAvg;

impl Readout for GlobalAvg {
    const FEATURES: usize = 128;
    const CENTRED_INPUT: bool = true;
    fn try_read<D: LayerDevice<f32>, T: Tape<f32, D>>(
        x: Activation<f32, D, T>,
    ) -> Result<Tensor<(usize, usize), f32, D, T>, Error> {
        try_global_avg_pool(x)
    }
}

/// The 4×4×128 map flattened to 2048 features (`small-cnn-flat`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Flat4x4;

impl Readout for Flat4x4 {
    const FEATURES: usize = 128 * 16;
    const CENTRED_INPUT: bool = false;
    fn try_read<D: LayerDevice<f32>, T: Tape<f32, D>>(
        x: Activation<f32, D, T>,
    ) -> Result<Tensor<(usize, usize), f32, D, T>, Error> {
        try_flatten(pool_to_4x4(x)?)
    }
}

/// The small CNN for `C` input channels, read out by `R` ([`GlobalAvg`] or [`Flat4x4`]).
#[derive(Clone, Debug)]
pub struct SmallCnn<const C: usize, R: Readout, D: LayerDevice<f32>> {
    c1: Conv2d<C, 32, 3, 1, 1, 1, f32, D>,
    b1: BatchNormRelu2d<32, f32, D>,
    c2: Conv2d<32, 64, 3, 2, 1, 1, f32, D>,
    b2: BatchNormRelu2d<64, f32, D>,
    c3: Conv2d<64, 128, 3, 2, 1, 1, f32, D>,
    b3: BatchNormRelu2d<128, f32, D>,
    c4: Conv2d<128, 128, 3, 2, 1, 1, f32, D>,
    b4: BatchNormRelu2d<128, f32, D>,
    readout: PhantomData<R>,
}

/// Average-pools a map larger than 4×4 down to 4×4 (its side must be a multiple of 4).
fn pool_to_4x4<D: LayerDevice<f32>, T: Tape<f32, D>>(
    x: Activation<f32, D, T>,
) -> Result<Activation<f32, D, T>, Error> {
    let d = Dims::of(&x);
    if d.h == 4 && d.w == 4 {
        return Ok(x);
    }
    if d.h != d.w || !d.h.is_multiple_of(4) {
        return Err(Error::shape(
            "small-cnn",
            "a final feature map of 4x4 or a square multiple of 4",
            format!("{}x{}", d.h, d.w),
        ));
    }
    let k = d.h / 4;
    try_pool2d(
        x,
        Window {
            kernel: k,
            stride: k,
            padding: 0,
        },
        PoolKind::Avg,
    )
}

impl<const C: usize, R: Readout, D: LayerDevice<f32>> Encoder<D> for SmallCnn<C, R, D> {
    const FEATURES: usize = R::FEATURES;
    const CHANNELS: usize = C;
    const CENTRED_INPUT: bool = R::CENTRED_INPUT;

    fn try_build(dev: &D) -> Result<Self, Error> {
        let e = Error::device;
        Ok(SmallCnn {
            c1: Conv2d::try_build(dev).map_err(e)?,
            b1: BatchNormRelu2d::try_build(dev).map_err(e)?,
            c2: Conv2d::try_build(dev).map_err(e)?,
            b2: BatchNormRelu2d::try_build(dev).map_err(e)?,
            c3: Conv2d::try_build(dev).map_err(e)?,
            b3: BatchNormRelu2d::try_build(dev).map_err(e)?,
            c4: Conv2d::try_build(dev).map_err(e)?,
            b4: BatchNormRelu2d::try_build(dev).map_err(e)?,
            readout: PhantomData,
        })
    }

    fn try_forward_train<T: Tape<f32, D>>(
        &mut self,
        x: Activation<f32, D, T>,
    ) -> Result<Tensor<(usize, usize), f32, D, T>, Error> {
        // Fused convolution + BatchNorm + ReLU blocks, chained (on `Cpu` the activations
        // between them stay host buffers); the images need no gradient.
        let chain = ConvBnChain::try_new(x)?;
        let chain = self.c1.try_chain_bn_train(&mut self.b1, chain, false)?;
        let chain = self.c2.try_chain_bn_train(&mut self.b2, chain, true)?;
        let chain = self.c3.try_chain_bn_train(&mut self.b3, chain, true)?;
        let chain = self.c4.try_chain_bn_train(&mut self.b4, chain, true)?;
        R::try_read(chain.try_finish()?)
    }

    fn try_forward_eval(
        &self,
        x: Activation<f32, D>,
    ) -> Result<Tensor<(usize, usize), f32, D>, Error> {
        let x = self.b1.try_forward_eval(self.c1.try_forward(x)?)?;
        let x = self.b2.try_forward_eval(self.c2.try_forward(x)?)?;
        let x = self.b3.try_forward_eval(self.c3.try_forward(x)?)?;
        let x = self.b4.try_forward_eval(self.c4.try_forward(x)?)?;
        R::try_read(x)
    }
}

impl<const C: usize, R: Readout, D: LayerDevice<f32>> TensorCollection<f32, D>
    for SmallCnn<C, R, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ();

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                (
                    Self::module("c1", |s| &s.c1, |s| &mut s.c1),
                    Self::module("b1", |s| &s.b1, |s| &mut s.b1),
                    Self::module("c2", |s| &s.c2, |s| &mut s.c2),
                    Self::module("b2", |s| &s.b2, |s| &mut s.b2),
                ),
                (
                    Self::module("c3", |s| &s.c3, |s| &mut s.c3),
                    Self::module("b3", |s| &s.b3, |s| &mut s.b3),
                    Self::module("c4", |s| &s.c4, |s| &mut s.c4),
                    Self::module("b4", |s| &s.b4, |s| &mut s.b4),
                ),
            ),
            |_| (),
        )
    }
}
