//! Training configuration: defaults, named presets, a TOML file and command-line flags, composed
//! in that order (later wins), then validated before any work starts.
//!
//! Every field of [`TrainConfig`] can be set in a config file; unknown keys are rejected, not
//! ignored. The resolved configuration is written to the run directory as `config.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;

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
    /// A small CNN for small greyscale images (the default).
    SmallCnn,
    /// ResNet-18, CIFAR variant (3x3 stem, no max-pool).
    Resnet18,
}

impl EncoderKind {
    /// The (hidden, output) widths its projection head is compiled with.
    pub fn head_dims(self) -> (usize, usize) {
        match self {
            EncoderKind::SmallCnn => (512, 128),
            EncoderKind::Resnet18 => (2048, 256),
        }
    }

    /// The kebab-case name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::SmallCnn => "small-cnn",
            EncoderKind::Resnet18 => "resnet18",
        }
    }
}

/// Which device runs the model: `auto` (the default) picks CUDA device 0 when the binary was
/// built with `--features cuda` and the driver answers, else the CPU;
/// [`crate::dispatch::try_resolve_device`] makes the choice and says why.
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

/// The fully resolved training configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Dataset spec: `mnist5k`, `idx:DIR`, `cifar10:DIR`, `cifar100:DIR`, `stl10:DIR`, `folder:DIR`.
    pub dataset: String,
    /// The self-supervised loss.
    pub loss: LossKind,
    /// The encoder backbone.
    pub encoder: EncoderKind,
    /// Number of passes over the training split.
    pub epochs: usize,
    /// Images per step (each contributes `views` augmented views).
    pub batch_size: usize,
    /// Augmented global views per image (>= 2).
    pub views: usize,
    /// Extra small crops per image (multi-crop); they are anchors but never positives.
    pub small_crops: usize,
    /// Side length of the small crops, in pixels.
    pub small_crop_size: usize,
    /// GroCo: number of hardest negatives kept per row.
    pub topk_neg: usize,
    /// GroCo: steepness of the relaxed comparators.
    pub steepness: f64,
    /// GroCo: sorting network (`odd_even`, `bitonic`, `odd_even_merge`).
    pub network: String,
    /// GroCo: comparator relaxation (`cauchy`, `logistic`, ...).
    pub relaxation: String,
    /// GroCo: the lambda of the `logistic_phi` relaxation.
    pub art_lambda: f64,
    /// NT-Xent temperature.
    pub temperature: f64,
    /// Base learning rate for batch 256; the used rate is `lr * batch_size / 256`.
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Linear warm-up length, in epochs.
    pub warmup_epochs: f64,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Width of the projection head's hidden layers.
    pub head_hidden: usize,
    /// Output width of the projection head.
    pub head_out: usize,
    /// Number of linear layers in the projection head (the official GroCo code uses 3).
    pub head_layers: usize,
    /// k-NN: neighbours that vote.
    pub knn_k: usize,
    /// k-NN: temperature of the vote weights exp(sim / T).
    pub knn_temperature: f64,
    /// Run the online k-NN evaluation every this many epochs (0: only at the end).
    pub eval_every: usize,
    /// Log a metrics line every this many steps.
    pub log_every: usize,
    /// Seed for data order, augmentation and initialisation.
    pub seed: u64,
    /// Device.
    pub device: DeviceKind,
    /// Run a linear probe after training.
    pub linear_probe: bool,
    /// Epochs of the linear probe.
    pub linear_epochs: usize,
    /// Augmentation worker threads.
    pub workers: usize,
    /// Limit the training split to this many images (0: all). For quick runs and tests.
    pub train_limit: usize,
    /// Limit the test split to this many images (0: all).
    pub test_limit: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            dataset: "mnist5k".into(),
            loss: LossKind::Groco,
            encoder: EncoderKind::SmallCnn,
            epochs: 40,
            batch_size: 256,
            views: 2,
            small_crops: 0,
            small_crop_size: 12,
            topk_neg: 10,
            steepness: 1.0,
            network: "odd_even".into(),
            relaxation: "cauchy".into(),
            art_lambda: 0.25,
            temperature: 0.2,
            lr: 3.0,
            weight_decay: 1e-5,
            momentum: 0.9,
            warmup_epochs: 5.0,
            optimizer: OptimizerKind::Sgd,
            head_hidden: 512,
            head_out: 128,
            head_layers: 3,
            knn_k: 20,
            knn_temperature: 0.07,
            eval_every: 10,
            log_every: 10,
            seed: 0,
            device: DeviceKind::Auto,
            linear_probe: false,
            linear_epochs: 100,
            workers: 1,
            train_limit: 0,
            test_limit: 0,
        }
    }
}

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

    /// Reads a TOML config file holding any subset of the fields; unknown keys are an error.
    pub fn try_overrides_from_file(path: &Path) -> Result<ConfigOverrides, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::try_overrides_from_str(&text, path)
    }

    /// Parses the text of a TOML config file, as [`TrainConfig::try_overrides_from_file`] does
    /// after reading it; `path` only names the file in errors.
    ///
    /// ```
    /// use std::path::Path;
    /// use trainer::config::TrainConfig;
    /// let o = TrainConfig::try_overrides_from_str("epochs = 3", Path::new("c.toml")).unwrap();
    /// assert_eq!(o.epochs, Some(3));
    /// assert!(TrainConfig::try_overrides_from_str("epoch = 3", Path::new("c.toml")).is_err());
    /// ```
    pub fn try_overrides_from_str(text: &str, path: &Path) -> Result<ConfigOverrides, Error> {
        toml::from_str(text).map_err(|e| Error::Parse {
            file: path.display().to_string(),
            line: e
                .span()
                .map(|r| {
                    text.get(..r.start)
                        .map_or(0, |t| t.matches('\n').count() + 1)
                })
                .unwrap_or(0),
            reason: e.message().to_string(),
        })
    }

    /// Serialises the resolved configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a TrainConfig always serialises")
    }

    /// The learning rate actually used at the peak of the schedule: `lr * batch_size / 256`.
    pub fn scaled_lr(&self) -> f64 {
        self.lr * self.batch_size as f64 / 256.0
    }

    /// Checks every field, so that a bad value fails before any training starts.
    pub fn try_validate(&self) -> Result<(), Error> {
        fn bad(
            field: &'static str,
            value: impl std::fmt::Display,
            reason: &str,
        ) -> Result<(), Error> {
            Err(Error::config(field, value, reason))
        }
        // config.toml (and TOML config files) hold integers as signed 64-bit.
        for (field, value) in [
            ("epochs", self.epochs as u64),
            ("batch_size", self.batch_size as u64),
            ("views", self.views as u64),
            ("small_crops", self.small_crops as u64),
            ("small_crop_size", self.small_crop_size as u64),
            ("topk_neg", self.topk_neg as u64),
            ("head_hidden", self.head_hidden as u64),
            ("head_out", self.head_out as u64),
            ("head_layers", self.head_layers as u64),
            ("knn_k", self.knn_k as u64),
            ("eval_every", self.eval_every as u64),
            ("log_every", self.log_every as u64),
            ("seed", self.seed),
            ("linear_epochs", self.linear_epochs as u64),
            ("workers", self.workers as u64),
            ("train_limit", self.train_limit as u64),
            ("test_limit", self.test_limit as u64),
        ] {
            if value > i64::MAX as u64 {
                return bad(
                    field,
                    value,
                    "must be at most 2^63 - 1 (config.toml stores i64)",
                );
            }
        }
        if self.epochs == 0 {
            return bad("epochs", 0, "must be at least 1");
        }
        if self.batch_size < 2 {
            return bad("batch_size", self.batch_size, "must be at least 2");
        }
        if self.views < 2 {
            return bad("views", self.views, "the losses need at least 2 views");
        }
        if self.loss == LossKind::Groco && (self.topk_neg == 0 || self.topk_neg >= self.batch_size)
        {
            let reason = format!(
                "must be in 1..={} (each row has batch_size - 1 = {} negatives)",
                self.batch_size - 1,
                self.batch_size - 1
            );
            return bad("topk_neg", self.topk_neg, &reason);
        }
        if self.loss == LossKind::NtXent && (self.views != 2 || self.small_crops != 0) {
            return bad(
                "views",
                self.views,
                "nt-xent takes exactly 2 views and no small crops",
            );
        }
        for (field, value) in [
            ("steepness", self.steepness),
            ("lr", self.lr),
            ("temperature", self.temperature),
            ("knn_temperature", self.knn_temperature),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return bad(field, value, "must be a finite number > 0");
            }
        }
        for (field, value) in [
            ("weight_decay", self.weight_decay),
            ("warmup_epochs", self.warmup_epochs),
            ("art_lambda", self.art_lambda),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return bad(field, value, "must be a finite number >= 0");
            }
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", self.momentum, "must be in [0, 1)");
        }
        let (hidden, out) = self.encoder.head_dims();
        if self.head_layers != 3 || self.head_hidden != hidden || self.head_out != out {
            let reason = format!(
                "the {} head is compiled as 3 layers {hidden}-{hidden}-{out} (head_layers = 3, \
                 head_hidden = {hidden}, head_out = {out})",
                self.encoder.name()
            );
            let value = format!(
                "{}/{}/{}",
                self.head_layers, self.head_hidden, self.head_out
            );
            return bad("head_hidden", value, &reason);
        }
        if self.knn_k == 0 {
            return bad("knn_k", 0, "must be at least 1");
        }
        if self.log_every == 0 {
            return bad("log_every", 0, "must be at least 1");
        }
        if self.small_crops > 0 && self.small_crop_size < 4 {
            return bad(
                "small_crop_size",
                self.small_crop_size,
                "must be at least 4",
            );
        }
        // small-cnn flattens its final map, which has side ceil(side / 8) and must pool to 4x4.
        let final_side = self.small_crop_size.div_ceil(8);
        if self.small_crops > 0
            && self.encoder == EncoderKind::SmallCnn
            && !final_side.is_multiple_of(4)
        {
            return bad(
                "small_crop_size",
                self.small_crop_size,
                "small-cnn needs crops whose final feature map (side / 8, rounded up) pools to \
                 4x4: use 25..=32 px, or --encoder resnet18 for smaller crops",
            );
        }
        if self.workers == 0 {
            return bad("workers", 0, "must be at least 1");
        }
        self.network
            .parse::<groco_core::Network>()
            .map_err(|e| Error::config("network", &self.network, e.to_string()))?;
        self.relaxation
            .parse::<groco_core::Relaxation>()
            .map_err(|e| Error::config("relaxation", &self.relaxation, e.to_string()))?;
        Ok(())
    }

    /// Checks the fields that depend on the dataset's size (`train_images` after `train_limit`),
    /// so that a too-small dataset fails before the run directory is made, not after an epoch.
    pub fn try_check_data(&self, train_images: usize) -> Result<(), Error> {
        let reason = |what: &str| {
            format!(
                "{what} must be at most the {train_images} training images of {}",
                self.dataset
            )
        };
        if self.batch_size > train_images {
            let r = reason("a batch");
            return Err(Error::config("batch_size", self.batch_size, r));
        }
        if self.knn_k > train_images {
            let r = reason("the k-NN neighbours (the bank is the training split)");
            return Err(Error::config("knn_k", self.knn_k, r));
        }
        Ok(())
    }

    /// With `--resume`, a run continues the configuration saved in its checkpoint (`self`).
    /// A preset, config file or flag that asks for a different value is an error naming the
    /// first such field, instead of being silently ignored.
    pub fn try_check_resume(
        &self,
        checkpoint: &Path,
        preset: Option<&str>,
        file: Option<&PathBuf>,
        flags: &ConfigOverrides,
    ) -> Result<(), Error> {
        let from_file = match file {
            Some(path) => TrainConfig::try_overrides_from_file(path)?,
            None => ConfigOverrides::default(),
        };
        let mut wanted = match preset.or(from_file.preset.as_deref()) {
            Some(name) => TrainConfig::try_preset(name)?,
            None => self.clone(),
        };
        wanted.apply(&from_file);
        wanted.apply(flags);
        // The device is where the run executes, not what it trains: a preset's default
        // (`auto`) does not conflict with the device a checkpoint was saved with (runs saved
        // before `auto` existed say `cpu`); only an explicit file or flag setting does.
        if from_file.device.is_none() && flags.device.is_none() {
            wanted.device = self.device;
        }
        let (Ok(serde_json::Value::Object(saved)), Ok(serde_json::Value::Object(asked))) =
            (serde_json::to_value(self), serde_json::to_value(&wanted))
        else {
            return Ok(());
        };
        let null = serde_json::Value::Null;
        match saved.iter().find(|(k, v)| asked.get(*k) != Some(*v)) {
            Some((field, value)) => Err(Error::Checkpoint {
                path: checkpoint.to_path_buf(),
                message: format!(
                    "was trained with {field} = {value}, but {field} = {} was asked for; a \
                     resumed run continues its saved configuration (drop the setting, or start \
                     a new run)",
                    asked.get(field).unwrap_or(&null)
                ),
            }),
            None => Ok(()),
        }
    }

    /// Applies the set fields of `o` on top of `self`.
    pub fn apply(&mut self, o: &ConfigOverrides) {
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = &o.$f { self.$f = v.clone(); } )* };
        }
        take!(
            dataset,
            loss,
            encoder,
            epochs,
            batch_size,
            views,
            small_crops,
            small_crop_size,
            topk_neg,
            steepness,
            network,
            relaxation,
            art_lambda,
            temperature,
            lr,
            weight_decay,
            momentum,
            warmup_epochs,
            optimizer,
            head_hidden,
            head_out,
            head_layers,
            knn_k,
            knn_temperature,
            eval_every,
            log_every,
            seed,
            device,
            linear_probe,
            linear_epochs,
            workers,
            train_limit,
            test_limit
        );
    }
}

/// A partial configuration: what a config file or the command line sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ConfigOverrides {
    /// A preset to start from (file only; the command line has `--preset`).
    pub preset: Option<String>,
    pub dataset: Option<String>,
    pub loss: Option<LossKind>,
    pub encoder: Option<EncoderKind>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub views: Option<usize>,
    pub small_crops: Option<usize>,
    pub small_crop_size: Option<usize>,
    pub topk_neg: Option<usize>,
    pub steepness: Option<f64>,
    pub network: Option<String>,
    pub relaxation: Option<String>,
    pub art_lambda: Option<f64>,
    pub temperature: Option<f64>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub momentum: Option<f64>,
    pub warmup_epochs: Option<f64>,
    pub optimizer: Option<OptimizerKind>,
    pub head_hidden: Option<usize>,
    pub head_out: Option<usize>,
    pub head_layers: Option<usize>,
    pub knn_k: Option<usize>,
    pub knn_temperature: Option<f64>,
    pub eval_every: Option<usize>,
    pub log_every: Option<usize>,
    pub seed: Option<u64>,
    pub device: Option<DeviceKind>,
    pub linear_probe: Option<bool>,
    pub linear_epochs: Option<usize>,
    pub workers: Option<usize>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
}

/// Resolves defaults, then the preset (flag or file), then the file, then the flags.
pub fn try_resolve(
    preset: Option<&str>,
    file: Option<&PathBuf>,
    flags: &ConfigOverrides,
) -> Result<TrainConfig, Error> {
    let from_file = match file {
        Some(path) => TrainConfig::try_overrides_from_file(path)?,
        None => ConfigOverrides::default(),
    };
    let preset = preset.or(from_file.preset.as_deref());
    let mut config = match preset {
        Some(name) => TrainConfig::try_preset(name)?,
        None => TrainConfig::default(),
    };
    config.apply(&from_file);
    config.apply(flags);
    config.try_validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_beyond_i64_are_refused_so_config_toml_can_be_written() {
        // Found by the config/checkpoint fuzz targets: `to_toml` panicked on such a seed.
        let c = TrainConfig {
            seed: u64::MAX,
            ..TrainConfig::default()
        };
        let e = c.try_validate().unwrap_err().to_string();
        assert!(
            e.contains("seed") && e.contains("18446744073709551615"),
            "{e}"
        );
        let c = TrainConfig {
            seed: i64::MAX as u64,
            ..TrainConfig::default()
        };
        c.try_validate().unwrap();
        assert!(c.to_toml().contains("seed = 9223372036854775807"));
    }

    fn write_temp(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let (_d, path) = write_temp("epochs = 7\nbatch_size = 64\nloss = \"nt-xent\"\n");
        let flags = ConfigOverrides {
            epochs: Some(3),
            ..Default::default()
        };
        let c = try_resolve(None, Some(&path), &flags).unwrap();
        assert_eq!(c.epochs, 3);
        assert_eq!(c.batch_size, 64);
        assert_eq!(c.loss, LossKind::NtXent);
        assert_eq!(c.views, TrainConfig::default().views);
    }

    #[test]
    fn unknown_key_is_rejected_and_named() {
        let (_d, path) = write_temp("epochz = 7\n");
        let err = try_resolve(None, Some(&path), &ConfigOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("epochz"), "{err}");
    }

    #[test]
    fn invalid_values_are_named() {
        let cases: [(&str, ConfigOverrides); 4] = [
            (
                "views",
                ConfigOverrides {
                    views: Some(1),
                    ..Default::default()
                },
            ),
            (
                "topk_neg",
                ConfigOverrides {
                    topk_neg: Some(256),
                    ..Default::default()
                },
            ),
            (
                "steepness",
                ConfigOverrides {
                    steepness: Some(0.0),
                    ..Default::default()
                },
            ),
            (
                "network",
                ConfigOverrides {
                    network: Some("bubble".into()),
                    ..Default::default()
                },
            ),
        ];
        for (field, flags) in cases {
            let err = try_resolve(None, None, &flags).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn resolved_config_round_trips_through_toml() {
        let c = TrainConfig::try_preset("cifar10-resnet18").unwrap();
        let back: TrainConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn device_defaults_to_auto_everywhere_and_cpu_configs_still_parse() {
        assert_eq!(TrainConfig::default().device, DeviceKind::Auto);
        for name in PRESETS {
            assert_eq!(
                TrainConfig::try_preset(name).unwrap().device,
                DeviceKind::Auto
            );
        }
        // A config.toml written before `auto` existed.
        let saved = TrainConfig {
            device: DeviceKind::Cpu,
            ..TrainConfig::default()
        };
        let text = saved.to_toml();
        assert!(text.contains("device = \"cpu\""), "{text}");
        let back: TrainConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, saved);
        let auto = TrainConfig::default().to_toml();
        assert!(auto.contains("device = \"auto\""), "{auto}");
        let (_d, path) = write_temp("device = \"gpu\"\n");
        let err = try_resolve(None, Some(&path), &ConfigOverrides::default()).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("gpu") && err.contains("auto"), "{err}");
    }

    #[test]
    fn a_cpu_checkpoint_resumes_under_a_preset_but_not_under_another_device_flag() {
        let saved = TrainConfig {
            device: DeviceKind::Cpu,
            ..TrainConfig::default()
        };
        let ckpt = Path::new("run/checkpoint");
        let none = ConfigOverrides::default();
        saved.try_check_resume(ckpt, None, None, &none).unwrap();
        saved
            .try_check_resume(ckpt, Some("mnist5k"), None, &none)
            .unwrap();
        let cpu = ConfigOverrides {
            device: Some(DeviceKind::Cpu),
            ..Default::default()
        };
        saved.try_check_resume(ckpt, None, None, &cpu).unwrap();
        let cuda = ConfigOverrides {
            device: Some(DeviceKind::Cuda),
            ..Default::default()
        };
        let err = saved
            .try_check_resume(ckpt, Some("mnist5k"), None, &cuda)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("device = \"cpu\"") && err.contains("\"cuda\""),
            "{err}"
        );
    }

    #[test]
    fn every_preset_validates() {
        for name in PRESETS {
            TrainConfig::try_preset(name)
                .unwrap()
                .try_validate()
                .unwrap();
        }
        assert!(TrainConfig::try_preset("nope").is_err());
    }
}
