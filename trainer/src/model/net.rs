//! What the trainer needs of a network: the [`Model`] of an encoder and its projection head, the [`Net`] trait the loop and the evaluation
//! are generic over, and the concrete model types.

use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use groco_dfdx::layers::{Activation, LayerDevice};
use groco_dfdx::Error;

use super::encoder::Encoder;
use super::head::ProjectionHead;

/// A tensor on an owned gradient tape.
pub type Taped<S, D> = Tensor<S, f32, D, OwnedTape<f32, D>>;
use super::resnet::ResNet18;
use super::small_cnn::{Flat4x4, GlobalAvg, SmallCnn};

/// Encoder + projection head. `F` must equal the encoder's `FEATURES`.
#[derive(Clone, Debug)]
pub struct Model<E, const F: usize, const H: usize, const O: usize, D: Device<f32>> {
    /// The backbone.
    pub encoder: E,
    /// The projection head.
    pub head: ProjectionHead<F, H, O, D>,
}

/// `small-cnn` (global average pooling) with its head: 128 → 512 → 512 → 128.
pub type SmallCnnModel<const C: usize, D> = Model<SmallCnn<C, GlobalAvg, D>, 128, 512, 128, D>;

/// `small-cnn-flat` (the 4×4 map flattened) with its head: 2048 → 512 → 512 → 128.
pub type SmallCnnFlatModel<const C: usize, D> = Model<SmallCnn<C, Flat4x4, D>, 2048, 512, 128, D>;

/// `resnet18` with its head: 512 → 2048 → 2048 → 256.
pub type ResNet18Model<const C: usize, D> = Model<ResNet18<C, D>, 512, 2048, 256, D>;

impl<E: Encoder<D>, const F: usize, const H: usize, const O: usize, D: LayerDevice<f32>>
    Model<E, F, H, O, D>
{
    /// Builds encoder and head from the device's RNG (seed the device for determinism).
    pub fn try_build(dev: &D) -> Result<Self, Error> {
        assert_eq!(
            E::FEATURES,
            F,
            "head input width must equal the encoder's features"
        );
        Ok(Model {
            encoder: E::try_build(dev)?,
            head: ProjectionHead::try_build(dev).map_err(Error::device)?,
        })
    }

    /// Train-mode projections `(B, O)` of a batch, on the tape.
    pub fn try_project_train(
        &mut self,
        x: Activation<f32, D, OwnedTape<f32, D>>,
    ) -> Result<Taped<(usize, Const<O>), D>, Error> {
        let f = self.encoder.try_forward_train(x)?;
        let found = f.shape().1;
        let f = f.try_realize::<(usize, Const<F>)>().map_err(|_| {
            Error::shape(
                "projection head",
                format!("{F} features"),
                format!("{found}"),
            )
        })?;
        self.head.try_forward_train(f).map_err(Error::device)
    }

    /// Eval-mode encoder features `(B, F)` (before the head), for k-NN and linear probes.
    pub fn try_features_eval(
        &self,
        x: Activation<f32, D>,
    ) -> Result<Tensor<(usize, usize), f32, D>, Error> {
        self.encoder.try_forward_eval(x)
    }
}

impl<E: Encoder<D>, const F: usize, const H: usize, const O: usize, D: LayerDevice<f32>>
    TensorCollection<f32, D> for Model<E, F, H, O, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ();

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("encoder", |s| &s.encoder, |s| &mut s.encoder),
                Self::module("head", |s| &s.head, |s| &mut s.head),
            ),
            |_| (),
        )
    }
}

/// What the training loop needs of a network, whatever its encoder and head sizes.
pub trait Net<D: LayerDevice<f32>>: TensorCollection<f32, D> + Sized {
    /// Input channels.
    const CHANNELS: usize;
    /// Width of the encoder features.
    const FEATURES: usize;
    /// Whether the encoder takes centred pixels ([`Encoder::CENTRED_INPUT`]).
    const CENTRED_INPUT: bool;
    /// Turns a batch of [0, 1] pixels into this network's input, in place (centred or as is).
    fn map_input(pixels: &mut [f32]) {
        if Self::CENTRED_INPUT {
            super::encoder::centre_pixels(pixels);
        }
    }
    /// A freshly initialised network (from the device's seeded RNG).
    fn try_build(dev: &D) -> Result<Self, Error>;
    /// Train-mode projections `(B, out)` on the tape.
    fn try_project_train(
        &mut self,
        x: Activation<f32, D, OwnedTape<f32, D>>,
    ) -> Result<Taped<(usize, usize), D>, Error>;
    /// Eval-mode encoder features `(B, FEATURES)`.
    fn try_features_eval(
        &self,
        x: Activation<f32, D>,
    ) -> Result<Tensor<(usize, usize), f32, D>, Error>;
}

impl<E: Encoder<D>, const F: usize, const H: usize, const O: usize, D: LayerDevice<f32>> Net<D>
    for Model<E, F, H, O, D>
{
    const CHANNELS: usize = E::CHANNELS;
    const FEATURES: usize = F;
    const CENTRED_INPUT: bool = E::CENTRED_INPUT;

    fn try_build(dev: &D) -> Result<Self, Error> {
        Model::try_build(dev)
    }

    fn try_project_train(
        &mut self,
        x: Activation<f32, D, OwnedTape<f32, D>>,
    ) -> Result<Taped<(usize, usize), D>, Error> {
        Ok(Model::try_project_train(self, x)?.realize::<(usize, usize)>())
    }

    fn try_features_eval(
        &self,
        x: Activation<f32, D>,
    ) -> Result<Tensor<(usize, usize), f32, D>, Error> {
        Model::try_features_eval(self, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pooled_small_cnn_alone_takes_centred_pixels() {
        let px = || vec![0.0f32, 0.5, 1.0, 0.75];
        let mut v = px();
        SmallCnnModel::<1, Cpu>::map_input(&mut v);
        assert_eq!(v, [-1.0, 0.0, 1.0, 0.5]);
        let (mut flat, mut resnet) = (px(), px());
        SmallCnnFlatModel::<1, Cpu>::map_input(&mut flat);
        ResNet18Model::<3, Cpu>::map_input(&mut resnet);
        assert_eq!((flat, resnet), (px(), px()));
    }
}
