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
    /// Whether the encoder takes its pixels centred: [0, 1] mapped to [−1, 1] by
    /// (x − 0.5)/0.5, as torchvision's `Normalize(0.5, 0.5)` (see [`centre_pixels`]).
    const CENTRED_INPUT: bool;
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

/// Maps pixels in [0, 1] to [−1, 1] in place: (x − 0.5)/0.5.
///
/// ```
/// let mut px = [0.0f32, 0.25, 1.0];
/// trainer::model::centre_pixels(&mut px);
/// assert_eq!(px, [-1.0, -0.5, 1.0]);
/// ```
pub fn centre_pixels(pixels: &mut [f32]) {
    pixels.iter_mut().for_each(|p| *p = (*p - 0.5) / 0.5);
}
