//! The devices the trainer runs on: those for which groco-dfdx implements both the layers and the
//! losses (`Cpu`, and `Cuda` with `--features cuda`).

use groco_dfdx::layers::LayerDevice;
use groco_dfdx::loss::LossDevice;

/// A device the trainer can run on: the layers and the losses are implemented for it.
pub trait TrainDevice: LayerDevice<f32> + LossDevice<f32> {}
impl<D: LayerDevice<f32> + LossDevice<f32>> TrainDevice for D {}
