//! The configuration fields, declared once: each line gives a field's doc, its command-line flag,
//! its type and its default. `train_config!` turns the list into [`TrainConfig`] (the resolved
//! configuration, every field set), its `Default`, [`ConfigOverrides`] (what a config file or the
//! command line sets: the same fields as `Option`s, a clap `Args` and a serde struct that refuses
//! unknown keys) and [`TrainConfig::apply`] (overrides on top of a configuration).

use groco_core::{Network, Relaxation};
use serde::{Deserialize, Serialize};

use super::kinds::{DeviceKind, EncoderKind, LossKind, OptimizerKind};

/// Parses a `groco_core` name (network, relaxation) for clap, with the core's message.
fn parse_named<T: std::str::FromStr<Err = groco_core::Error>>(s: &str) -> Result<T, String> {
    s.parse().map_err(|e: groco_core::Error| e.to_string())
}

macro_rules! train_config {
    ($(
        $(#[doc = $doc:expr])*
        #[arg($($arg:tt)*)]
        $field:ident: $ty:ty = $default:expr,
    )*) => {
        /// The fully resolved training configuration.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct TrainConfig {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for TrainConfig {
            fn default() -> Self {
                TrainConfig { $( $field: $default, )* }
            }
        }

        /// A partial configuration: what a config file or the command line sets (only the
        /// fields given are `Some`).
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        pub struct ConfigOverrides {
            /// A preset to start from (file only; the command line has `--preset`).
            #[arg(skip)]
            pub preset: Option<String>,
            $( $(#[doc = $doc])* #[arg($($arg)*)] pub $field: Option<$ty>, )*
        }

        impl TrainConfig {
            /// The field names, in declaration order (as in config files).
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Applies the set fields of `o` on top of `self`.
            pub fn apply(&mut self, o: &ConfigOverrides) {
                $( if let Some(v) = &o.$field { self.$field = v.clone(); } )*
            }
        }
    };
}

train_config! {
    /// Dataset spec: `mnist5k`, `idx:DIR`, `cifar10:DIR`, `cifar100:DIR`, `stl10:DIR`,
    /// `folder:DIR`.
    #[arg(long, value_name = "SPEC")]
    dataset: String = "mnist5k".into(),
    /// The self-supervised loss (`trainer train --loss`; `compare` trains both).
    #[arg(skip)]
    loss: LossKind = LossKind::Groco,
    /// The encoder backbone.
    #[arg(long, value_enum)]
    encoder: EncoderKind = EncoderKind::SmallCnn,
    /// Number of passes over the training split.
    #[arg(long, value_name = "N")]
    epochs: usize = 40,
    /// Images per step (each contributes `views` augmented views).
    #[arg(long, value_name = "B")]
    batch_size: usize = 128,
    /// Augmented global views per image (>= 2).
    #[arg(long, value_name = "V")]
    views: usize = 2,
    /// Extra small crops per image (multi-crop); they are anchors but never positives.
    #[arg(long, value_name = "N")]
    small_crops: usize = 0,
    /// Side length of the small crops, in pixels.
    #[arg(long, value_name = "S")]
    small_crop_size: usize = 12,
    /// GroCo: number of hardest negatives kept per row.
    #[arg(long, value_name = "K")]
    topk_neg: usize = 10,
    /// GroCo: steepness of the relaxed comparators.
    #[arg(long, value_name = "S")]
    steepness: f64 = 1.0,
    /// GroCo: sorting network (`odd_even`, `bitonic`, `odd_even_merge`).
    #[arg(long, value_parser = parse_named::<Network>)]
    network: Network = Network::OddEven,
    /// GroCo: comparator relaxation (`cauchy`, `logistic`, `logistic_phi`, `gaussian`,
    /// `reciprocal`, `optimal`).
    #[arg(long, value_parser = parse_named::<Relaxation>)]
    relaxation: Relaxation = Relaxation::Cauchy,
    /// GroCo: the lambda of the `logistic_phi` relaxation.
    #[arg(long, value_name = "L")]
    art_lambda: f64 = 0.25,
    /// NT-Xent temperature.
    #[arg(long, value_name = "T")]
    temperature: f64 = 0.2,
    /// Base learning rate for batch 256; the used rate is `lr * batch_size / 256`.
    #[arg(long, value_name = "LR")]
    lr: f64 = 8.0,
    /// Weight decay.
    #[arg(long, value_name = "WD")]
    weight_decay: f64 = 1e-5,
    /// SGD momentum.
    #[arg(long, value_name = "M")]
    momentum: f64 = 0.9,
    /// Linear warm-up length, in epochs.
    #[arg(long, value_name = "E")]
    warmup_epochs: f64 = 5.0,
    /// The optimiser.
    #[arg(long, value_enum)]
    optimizer: OptimizerKind = OptimizerKind::Sgd,
    /// Width of the projection head's hidden layers.
    #[arg(long, value_name = "N")]
    head_hidden: usize = 512,
    /// Output width of the projection head.
    #[arg(long, value_name = "N")]
    head_out: usize = 128,
    /// Number of linear layers in the projection head (the official GroCo code uses 3).
    #[arg(long, value_name = "N")]
    head_layers: usize = 3,
    /// k-NN: neighbours that vote.
    #[arg(long, value_name = "K")]
    knn_k: usize = 20,
    /// k-NN: temperature of the vote weights exp(sim / T).
    #[arg(long, value_name = "T")]
    knn_temperature: f64 = 0.07,
    /// Run the online k-NN evaluation every this many epochs (0: only at the end).
    #[arg(long, value_name = "N")]
    eval_every: usize = 10,
    /// Log a metrics line every this many steps.
    #[arg(long, value_name = "N")]
    log_every: usize = 10,
    /// Seed for data order, augmentation and initialisation.
    #[arg(long, value_name = "S")]
    seed: u64 = 0,
    /// Device: `auto` picks CUDA when this binary has `--features cuda` and a GPU answers, else
    /// the CPU.
    #[arg(long, value_enum)]
    device: DeviceKind = DeviceKind::Auto,
    /// Run a linear probe after training (`--linear-probe` alone means true).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    linear_probe: bool = false,
    /// Most L-BFGS iterations per fit of the linear probe.
    #[arg(long, value_name = "N")]
    linear_epochs: usize = 100,
    /// Augmentation worker threads.
    #[arg(long, value_name = "N")]
    workers: usize = 1,
    /// Limit the training split to this many images (0: all). For quick runs and tests.
    #[arg(long, value_name = "N")]
    train_limit: usize = 0,
    /// Limit the test split to this many images (0: all).
    #[arg(long, value_name = "N")]
    test_limit: usize = 0,
}
