//! Picks the device and the concrete network type (encoder × input channels) for a task at run
//! time, and runs the task's generic body with them.

use dfdx::prelude::*;

use crate::config::{DeviceKind, EncoderKind};
use crate::error::{Error, Result};
use crate::losses::TrainDevice;
use crate::model::{Net, ResNet18Model, SmallCnnModel};

/// A job generic over the network and device types.
pub trait NetTask {
    /// What the job returns.
    type Output;
    /// Runs the job with network type `N` on device `dev`.
    fn run<N: Net<D>, D: TrainDevice>(self, dev: D) -> Result<Self::Output>;
}

/// Runs `task` on `device` (seeded with `seed`) with the `encoder` for `channels` input channels.
pub fn try_dispatch<T: NetTask>(
    device: DeviceKind,
    seed: u64,
    encoder: EncoderKind,
    channels: usize,
    task: T,
) -> Result<T::Output> {
    match device {
        DeviceKind::Cpu => with_net(Cpu::seed_from_u64(seed), encoder, channels, task),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            let dev = Cuda::try_seed_from_u64(seed).map_err(|e| Error::Device(format!("{e:?}")))?;
            with_net(dev, encoder, channels, task)
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(Error::Device(
            "--device cuda needs a trainer built with `--features cuda`".into(),
        )),
    }
}

fn with_net<D: TrainDevice, T: NetTask>(
    dev: D,
    encoder: EncoderKind,
    channels: usize,
    task: T,
) -> Result<T::Output> {
    match (encoder, channels) {
        (EncoderKind::SmallCnn, 1) => task.run::<SmallCnnModel<1, D>, D>(dev),
        (EncoderKind::SmallCnn, 3) => task.run::<SmallCnnModel<3, D>, D>(dev),
        (EncoderKind::Resnet18, 1) => task.run::<ResNet18Model<1, D>, D>(dev),
        (EncoderKind::Resnet18, 3) => task.run::<ResNet18Model<3, D>, D>(dev),
        (_, c) => Err(Error::config(
            "channels",
            c,
            "the encoders take 1 or 3 channels",
        )),
    }
}
