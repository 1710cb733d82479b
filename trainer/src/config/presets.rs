//! Named presets: the hyper-parameters SSL papers use per dataset, on top of the defaults.

use crate::error::Error;

use super::fields::TrainConfig;
use super::kinds::{EncoderKind, OptimizerKind};

/// Named presets: hyper-parameters for the datasets SSL papers use.
pub const PRESETS: &[&str] = &[
    "mnist5k",
    "cifar10-resnet18",
    "cifar100-resnet18",
    "stl10-resnet18",
    "imagenet100-resnet18",
];

impl TrainConfig {
    /// The configuration of a named preset (see [`PRESETS`]).
    pub fn try_preset(name: &str) -> Result<Self, Error> {
        let base = TrainConfig::default();
        let resnet = |dataset: &str, epochs: usize| TrainConfig {
            dataset: dataset.into(),
            encoder: EncoderKind::Resnet18,
            epochs,
            batch_size: 256,
            lr: 0.4,
            weight_decay: 1e-5,
            optimizer: OptimizerKind::Lars,
            warmup_epochs: 10.0,
            head_hidden: 2048,
            head_out: 256,
            eval_every: 20,
            workers: 4,
            ..TrainConfig::default()
        };
        match name {
            "mnist5k" => Ok(base),
            "cifar10-resnet18" => Ok(resnet("cifar10:data/cifar-10-batches-bin", 1000)),
            "cifar100-resnet18" => Ok(resnet("cifar100:data/cifar-100-binary", 1000)),
            "stl10-resnet18" => Ok(resnet("stl10:data/stl10_binary", 400)),
            "imagenet100-resnet18" => Ok(TrainConfig {
                // solo-learn's 6 local crops of 96 px beside 224-px global crops, scaled to the
                // 64-px global crops of `folder:` images (96 / 224 · 64 ≈ 28).
                small_crops: 6,
                small_crop_size: 28,
                ..resnet("folder:data/imagenet100", 400)
            }),
            other => Err(Error::config(
                "preset",
                other,
                format!("unknown preset; known presets: {}", PRESETS.join(", ")),
            )),
        }
    }
}
