//! The networks the trainer trains: an encoder (`small-cnn`, `small-cnn-flat` or `resnet18`) followed by the GroCo
//! projection head. k-NN and linear evaluation read the encoder's features, before the head,
//! with BatchNorm in eval mode.
//!
//! [`try_dispatch`] picks the device and the concrete network type at run time; [`TrainDevice`]
//! is what a device must implement.

mod device;
mod dispatch;
mod encoder;
mod head;
mod net;
mod resnet;
mod small_cnn;

pub use device::TrainDevice;
pub use dispatch::{try_dispatch, try_resolve_device, Concrete, NetTask, ResolvedDevice};
pub use encoder::{centre_pixels, Encoder};
pub use head::{NoAffineBatchNorm1d, ProjectionHead};
pub use net::{Model, Net, ResNet18Model, SmallCnnFlatModel, SmallCnnModel, Taped};
pub use resnet::ResNet18;
pub use small_cnn::{Flat4x4, GlobalAvg, Readout, SmallCnn};
