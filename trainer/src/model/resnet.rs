//! `resnet18`, the CIFAR variant used by SSL papers: a 3×3 stride-1 stem with 64 channels and no
//! max-pool, four stages of two basic blocks (64, 128, 256, 512 channels; stride 2 from the second
//! stage on), then global average pooling to 512 features.
//!
//! A basic block is y = ReLU(BN(conv3×3(ReLU(BN(conv3×3(x))))) + s(x)), with s the identity, or a
//! 1×1 stride-2 convolution + BN where the block downsamples.

use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use groco_dfdx::layers::{
    try_global_avg_pool, Activation, BatchNorm2d, BatchNormAct2d, BatchNormRelu2d, Conv2d,
    LayerDevice,
};
use groco_dfdx::Error;

use super::encoder::Encoder;

type Act<D, T> = Activation<f32, D, T>;

/// A basic block keeping `C` channels and the resolution.
#[derive(Clone, Debug)]
pub struct Block<const C: usize, D: LayerDevice<f32>> {
    c1: Conv2d<C, C, 3, 1, 1, 1, f32, D>,
    b1: BatchNormRelu2d<C, f32, D>,
    c2: Conv2d<C, C, 3, 1, 1, 1, f32, D>,
    b2: BatchNorm2d<C, f32, D>,
}

/// A basic block from `I` to `O` channels at stride 2, with a 1×1 convolution shortcut.
#[derive(Clone, Debug)]
pub struct DownBlock<const I: usize, const O: usize, D: LayerDevice<f32>> {
    c1: Conv2d<I, O, 3, 2, 1, 1, f32, D>,
    b1: BatchNormRelu2d<O, f32, D>,
    c2: Conv2d<O, O, 3, 1, 1, 1, f32, D>,
    b2: BatchNorm2d<O, f32, D>,
    cs: Conv2d<I, O, 1, 2, 0, 1, f32, D>,
    bs: BatchNorm2d<O, f32, D>,
}

/// Convolution then batch norm: in train mode (batch statistics) as one fused op (a fused
/// kernel on `Cpu`; on `Cuda` a block recomputed in the backward, which keeps only its input),
/// in eval mode (running statistics) one after the other. `input_grad` false skips the input's
/// gradient (the stem).
fn conv_norm<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const RELU: bool,
    D: LayerDevice<f32>,
    T: Tape<f32, D>,
>(
    conv: &Conv2d<I, O, K, S, P, 1, f32, D>,
    bn: &mut BatchNormAct2d<O, RELU, f32, D>,
    x: Act<D, T>,
    train: bool,
    input_grad: bool,
) -> Result<Act<D, T>, Error> {
    if train {
        conv.try_forward_bn_train(bn, x, input_grad)
    } else {
        bn.try_forward_eval(conv.try_forward(x)?)
    }
}

macro_rules! build_fields {
    ($dev:expr, $ty:ident { $($f:ident),* }) => {
        Ok($ty { $($f: BuildModule::try_build($dev).map_err(Error::device)?,)* })
    };
}

impl<const C: usize, D: LayerDevice<f32>> Block<C, D> {
    fn try_build(dev: &D) -> Result<Self, Error> {
        build_fields!(dev, Block { c1, b1, c2, b2 })
    }

    fn forward<T: Tape<f32, D>>(&mut self, x: Act<D, T>, train: bool) -> Result<Act<D, T>, Error> {
        let y = conv_norm(&self.c1, &mut self.b1, x.with_empty_tape(), train, true)?;
        let y = conv_norm(&self.c2, &mut self.b2, y, train, true)?;
        y.try_add(x)
            .and_then(|s| s.try_relu())
            .map_err(Error::device)
    }
}

impl<const I: usize, const O: usize, D: LayerDevice<f32>> DownBlock<I, O, D> {
    fn try_build(dev: &D) -> Result<Self, Error> {
        build_fields!(
            dev,
            DownBlock {
                c1,
                b1,
                c2,
                b2,
                cs,
                bs
            }
        )
    }

    fn forward<T: Tape<f32, D>>(&mut self, x: Act<D, T>, train: bool) -> Result<Act<D, T>, Error> {
        let s = conv_norm(&self.cs, &mut self.bs, x.with_empty_tape(), train, true)?;
        let y = conv_norm(&self.c1, &mut self.b1, x, train, true)?;
        let y = conv_norm(&self.c2, &mut self.b2, y, train, true)?;
        y.try_add(s)
            .and_then(|s| s.try_relu())
            .map_err(Error::device)
    }
}

impl<const C: usize, D: LayerDevice<f32>> TensorCollection<f32, D> for Block<C, D> {
    type To<E2: Dtype, D2: Device<E2>> = ();
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(v: &mut V) -> Result<Option<()>, V::Err> {
        v.visit_fields(
            (
                Self::module("c1", |s| &s.c1, |s| &mut s.c1),
                Self::module("b1", |s| &s.b1, |s| &mut s.b1),
                Self::module("c2", |s| &s.c2, |s| &mut s.c2),
                Self::module("b2", |s| &s.b2, |s| &mut s.b2),
            ),
            |_| (),
        )
    }
}

impl<const I: usize, const O: usize, D: LayerDevice<f32>> TensorCollection<f32, D>
    for DownBlock<I, O, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ();
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(v: &mut V) -> Result<Option<()>, V::Err> {
        v.visit_fields(
            (
                Self::module("c1", |s| &s.c1, |s| &mut s.c1),
                Self::module("b1", |s| &s.b1, |s| &mut s.b1),
                Self::module("c2", |s| &s.c2, |s| &mut s.c2),
                Self::module("b2", |s| &s.b2, |s| &mut s.b2),
                Self::module("cs", |s| &s.cs, |s| &mut s.cs),
                Self::module("bs", |s| &s.bs, |s| &mut s.bs),
            ),
            |_| (),
        )
    }
}

/// ResNet-18 (CIFAR variant) for `C` input channels.
#[derive(Clone, Debug)]
pub struct ResNet18<const C: usize, D: LayerDevice<f32>> {
    stem: Conv2d<C, 64, 3, 1, 1, 1, f32, D>,
    stem_bn: BatchNormRelu2d<64, f32, D>,
    l1a: Block<64, D>,
    l1b: Block<64, D>,
    l2a: DownBlock<64, 128, D>,
    l2b: Block<128, D>,
    l3a: DownBlock<128, 256, D>,
    l3b: Block<256, D>,
    l4a: DownBlock<256, 512, D>,
    l4b: Block<512, D>,
}

impl<const C: usize, D: LayerDevice<f32>> ResNet18<C, D> {
    fn forward<T: Tape<f32, D>>(
        &mut self,
        x: Act<D, T>,
        train: bool,
    ) -> Result<Tensor<(usize, usize), f32, D, T>, Error> {
        let x = conv_norm(&self.stem, &mut self.stem_bn, x, train, false)?;
        let x = self.l1a.forward(x, train)?;
        let x = self.l1b.forward(x, train)?;
        let x = self.l2a.forward(x, train)?;
        let x = self.l2b.forward(x, train)?;
        let x = self.l3a.forward(x, train)?;
        let x = self.l3b.forward(x, train)?;
        let x = self.l4a.forward(x, train)?;
        let x = self.l4b.forward(x, train)?;
        try_global_avg_pool(x)
    }
}

impl<const C: usize, D: LayerDevice<f32>> Encoder<D> for ResNet18<C, D> {
    const FEATURES: usize = 512;
    const CHANNELS: usize = C;
    const CENTRED_INPUT: bool = false;

    fn try_build(dev: &D) -> Result<Self, Error> {
        Ok(ResNet18 {
            stem: BuildModule::try_build(dev).map_err(Error::device)?,
            stem_bn: BuildModule::try_build(dev).map_err(Error::device)?,
            l1a: Block::try_build(dev)?,
            l1b: Block::try_build(dev)?,
            l2a: DownBlock::try_build(dev)?,
            l2b: Block::try_build(dev)?,
            l3a: DownBlock::try_build(dev)?,
            l3b: Block::try_build(dev)?,
            l4a: DownBlock::try_build(dev)?,
            l4b: Block::try_build(dev)?,
        })
    }

    fn try_forward_train<T: Tape<f32, D>>(
        &mut self,
        x: Act<D, T>,
    ) -> Result<Tensor<(usize, usize), f32, D, T>, Error> {
        self.forward(x, true)
    }

    fn try_forward_eval(
        &self,
        x: Act<D, NoneTape>,
    ) -> Result<Tensor<(usize, usize), f32, D>, Error> {
        // Eval mode mutates nothing; the clone shares tensor storage (dfdx tensors are Arc-backed).
        self.clone().forward(x, false)
    }
}

impl<const C: usize, D: LayerDevice<f32>> TensorCollection<f32, D> for ResNet18<C, D> {
    type To<E2: Dtype, D2: Device<E2>> = ();
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(v: &mut V) -> Result<Option<()>, V::Err> {
        v.visit_fields(
            (
                (
                    Self::module("stem", |s| &s.stem, |s| &mut s.stem),
                    Self::module("stem_bn", |s| &s.stem_bn, |s| &mut s.stem_bn),
                    Self::module("l1a", |s| &s.l1a, |s| &mut s.l1a),
                    Self::module("l1b", |s| &s.l1b, |s| &mut s.l1b),
                    Self::module("l2a", |s| &s.l2a, |s| &mut s.l2a),
                ),
                (
                    Self::module("l2b", |s| &s.l2b, |s| &mut s.l2b),
                    Self::module("l3a", |s| &s.l3a, |s| &mut s.l3a),
                    Self::module("l3b", |s| &s.l3b, |s| &mut s.l3b),
                    Self::module("l4a", |s| &s.l4a, |s| &mut s.l4a),
                    Self::module("l4b", |s| &s.l4b, |s| &mut s.l4b),
                ),
            ),
            |_| (),
        )
    }
}
