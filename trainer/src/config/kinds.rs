//! The named choices of the configuration: the loss, the encoder, the device and the optimiser,
//! each a kebab-case name on the command line and in files.

use serde::{Deserialize, Serialize};

/// Which self-supervised loss to train with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// GroCo group-ordering loss (the default).
    Groco,
    /// SimCLR NT-Xent, the contrastive baseline.
    NtXent,
}

impl LossKind {
    /// The kebab-case name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Groco => "groco",
            LossKind::NtXent => "nt-xent",
        }
    }
}

/// Which encoder backbone to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// A small CNN for small greyscale images ending in global average pooling (the default).
    SmallCnn,
    /// The same CNN with its last 4×4 map flattened (2048 features; the default before the
    /// pooled one, kept for its checkpoints and figures).
    SmallCnnFlat,
    /// ResNet-18, CIFAR variant (3x3 stem, no max-pool).
    Resnet18,
}

impl EncoderKind {
    /// The (hidden, output) widths its projection head is compiled with.
    pub fn head_dims(self) -> (usize, usize) {
        match self {
            EncoderKind::SmallCnn | EncoderKind::SmallCnnFlat => (512, 128),
            EncoderKind::Resnet18 => (2048, 256),
        }
    }

    /// The kebab-case name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::SmallCnn => "small-cnn",
            EncoderKind::SmallCnnFlat => "small-cnn-flat",
            EncoderKind::Resnet18 => "resnet18",
        }
    }
}

/// Which device runs the model: `auto` (the default) picks CUDA device 0 when the binary was
/// built with `--features cuda` and the driver answers, else the CPU;
/// [`crate::model::try_resolve_device`] makes the choice and says why.
///
/// ```
/// use trainer::config::{DeviceKind, TrainConfig};
/// assert_eq!(TrainConfig::default().device, DeviceKind::Auto);
/// let file = std::path::Path::new("c.toml");
/// let o = TrainConfig::try_overrides_from_str("device = \"cpu\"", file).unwrap();
/// assert_eq!(o.device, Some(DeviceKind::Cpu));
/// assert_eq!(DeviceKind::Cuda.name(), "cuda");
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// CUDA device 0 when this binary has the `cuda` feature and a device answers, else the CPU.
    #[default]
    Auto,
    /// dfdx's `Cpu` device.
    Cpu,
    /// dfdx's `Cuda` device 0 (needs a build with `--features cuda` and a usable GPU; an error
    /// otherwise, never a fallback).
    Cuda,
}

impl DeviceKind {
    /// The kebab-case name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Auto => "auto",
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        }
    }
}

/// Which optimiser updates the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with momentum and weight decay.
    Sgd,
    /// LARS (layer-wise adaptive rate scaling); BatchNorm and bias parameters are excluded from
    /// adaptation and weight decay.
    Lars,
}
