//! The [`Encoder`] trait: a convolutional backbone from images to feature rows, in train mode
//! (batch statistics, on the tape) and eval mode (running statistics).

use dfdx::nn::tensor_collection::TensorCollection;
use dfdx::prelude::*;
use groco_dfdx::layers::{Activation, LayerDevice};
use groco_dfdx::Error;

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
