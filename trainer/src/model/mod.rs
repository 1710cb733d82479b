//! The networks the trainer trains: an encoder (`small-cnn`, `small-cnn-flat` or `resnet18`) followed by the GroCo
//! projection head. k-NN and linear evaluation read the encoder's features, before the head,
//! with BatchNorm in eval mode.

mod head;
mod resnet;
mod small_cnn;

use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use groco_dfdx::layers::{Activation, LayerDevice};
use groco_dfdx::Error;

pub use head::{NoAffineBatchNorm1d, ProjectionHead};

/// A tensor on an owned gradient tape.
pub type Taped<S, D> = Tensor<S, f32, D, OwnedTape<f32, D>>;
pub use resnet::ResNet18;
pub use small_cnn::{Flat4x4, GlobalAvg, Readout, SmallCnn};

/// A convolutional encoder: images in the layers' `(C, H, W, B)` layout to `(B, FEATURES)` rows.
pub trait Encoder<D: LayerDevice<f32>>: TensorCollection<f32, D> + Sized {
    /// Width of the feature vector.
    const FEATURES: usize;
    /// Input channels.
    const CHANNELS: usize;
    /// A freshly initialised encoder (from the device's seeded RNG).
    fn try_build(dev: &D) -> Result<Self, Error>;
    /// Train mode: batch statistics, running statistics updated.
    fn try_forward_train<T: Tape<f32, D>>(
        &mut self,
        x: Activation<f32, D, T>,
    ) -> Result<Tensor<(usize, usize), f32, D, T>, Error>;
    /// Eval mode: running statistics.
    fn try_forward_eval(
        &self,
        x: Activation<f32, D>,
    ) -> Result<Tensor<(usize, usize), f32, D>, Error>;
}

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
    use groco_dfdx::layers::images_to_activation;

    #[test]
    fn resnet18_shapes() {
        let dev = Cpu::seed_from_u64(0);
        let mut m = ResNet18Model::<3, Cpu>::try_build(&dev).unwrap();
        let pixels: Vec<f32> = (0..4 * 3 * 32 * 32)
            .map(|i| ((i * 7919 + i / 3072 * 13) % 256) as f32 / 255.0)
            .collect();
        let x = images_to_activation(&dev, &pixels, 4, 3, 32, 32).unwrap();
        assert_eq!(*m.try_features_eval(x.clone()).unwrap().shape(), (4, 512));
        let grads = m.alloc_grads();
        let z = m.try_project_train(x.traced(grads)).unwrap();
        let grads = z.powi(3).mean().backward();
        let mut opt = crate::optim::Optimizer::new(crate::optim::OptimizerConfig {
            rule: crate::optim::Rule::Lars,
            momentum: 0.9,
            weight_decay: 1e-5,
            lars_eta: 0.02,
        });
        let stats = opt.try_step_checked(&mut m, &grads, 0.1).unwrap().unwrap();
        assert!(stats.finite && stats.grad_norm > 0.0, "{stats:?}");
    }

    #[test]
    fn small_cnn_shapes_and_a_training_step() {
        let dev = Cpu::seed_from_u64(0);
        let mut m = SmallCnnModel::<1, Cpu>::try_build(&dev).unwrap();
        let pixels: Vec<f32> = (0..4 * 28 * 28)
            .map(|i| ((i * 7919) % 256) as f32 / 255.0)
            .collect();
        let x = images_to_activation(&dev, &pixels, 4, 1, 28, 28).unwrap();
        let f = m.try_features_eval(x.clone()).unwrap();
        assert_eq!(*f.shape(), (4, 128));
        let flat = SmallCnnFlatModel::<1, Cpu>::try_build(&dev).unwrap();
        assert_eq!(
            *flat.try_features_eval(x.clone()).unwrap().shape(),
            (4, 2048)
        );
        let grads = m.alloc_grads();
        let z = m.try_project_train(x.traced(grads)).unwrap();
        assert_eq!(z.shape().0, 4);
        let grads = z.powi(3).mean().backward();
        let mut opt = crate::optim::Optimizer::new(crate::optim::OptimizerConfig {
            rule: crate::optim::Rule::Sgd,
            momentum: 0.9,
            weight_decay: 1e-5,
            lars_eta: 0.001,
        });
        let stats = opt.try_step_checked(&mut m, &grads, 0.1).unwrap().unwrap();
        assert!(stats.finite && stats.grad_norm > 0.0);
        let snap = crate::checkpoint::snapshot(&m).unwrap();
        assert!(
            snap.tensors
                .iter()
                .any(|(n, _, _)| n == "encoder.c1.weight"),
            "{:?}",
            snap.tensors.iter().map(|t| &t.0).collect::<Vec<_>>()
        );
    }
}
