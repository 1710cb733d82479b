//! The command line: `trainer [train|eval|compare|bench]`, parsed with clap. With no
//! subcommand the binary runs `train` with the embedded default preset.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigOverrides, DeviceKind, EncoderKind, LossKind};

/// GroCo self-supervised training and evaluation.
#[derive(Debug, Parser)]
#[command(name = "trainer", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `train` with the defaults when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Self-supervised pre-training, then k-NN evaluation.
    Train(TrainArgs),
    /// Evaluate an encoder.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Train GroCo and NT-Xent under the same budget and compare them with a random encoder.
    Compare(CompareArgs),
    /// Time full training steps (forward, loss, backward, optimiser).
    Bench(BenchArgs),
}

/// Flags shared by everything that trains: a config file, a preset, and one flag per
/// configuration field (declared with the field in `config/fields.rs`).
#[derive(Debug, Default, Args)]
pub struct TrainFlags {
    /// A TOML config file; flags given here win over it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// A named preset (mnist5k, cifar10-resnet18, cifar100-resnet18, stl10-resnet18,
    /// imagenet100-resnet18).
    #[arg(long)]
    pub preset: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub set: ConfigOverrides,
}

impl TrainFlags {
    /// The overrides these flags make (only the flags that were given), with `loss` when set.
    pub fn overrides(&self, loss: Option<LossKind>) -> ConfigOverrides {
        ConfigOverrides {
            loss: loss.or(self.set.loss),
            ..self.set.clone()
        }
    }
}

/// `trainer train`.
#[derive(Debug, Default, Args)]
pub struct TrainArgs {
    /// The loss to train with.
    #[arg(long, value_enum)]
    pub loss: Option<LossKind>,
    /// The run directory (default: runs/TIMESTAMP-LOSS-DATASET/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue from a run directory or a checkpoint directory.
    #[arg(long, value_name = "DIR|FILE")]
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs of this invocation (the schedule still spans --epochs).
    #[arg(long, value_name = "N", hide = true)]
    pub stop_after_epochs: Option<usize>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub flags: TrainFlags,
}

/// `trainer eval ...`.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Weighted k-NN top-1 on L2-normalised encoder features (test split against train split).
    Knn(KnnArgs),
    /// Linear probe on frozen encoder features.
    Linear(LinearArgs),
}

/// Which encoder to evaluate.
#[derive(Debug, Args)]
pub struct EncoderSource {
    /// A checkpoint directory (or a run directory holding `checkpoint/`).
    #[arg(long, value_name = "PATH", required_unless_present = "random_init")]
    pub checkpoint: Option<PathBuf>,
    /// Evaluate an untrained, randomly initialised encoder instead (the baseline).
    #[arg(long, conflicts_with = "checkpoint")]
    pub random_init: bool,
    /// Encoder for --random-init (a checkpoint names its own).
    #[arg(
        long,
        value_enum,
        default_value = "small-cnn",
        conflicts_with = "checkpoint"
    )]
    pub encoder: EncoderKind,
    /// Dataset spec.
    #[arg(long, value_name = "SPEC", default_value = "mnist5k")]
    pub dataset: String,
    /// Seed for the random initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: auto picks CUDA when this binary has `--features cuda` and a GPU answers, else
    /// the CPU.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
}

/// `trainer eval knn`.
#[derive(Debug, Args)]
pub struct KnnArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: EncoderSource,
    /// Neighbours that vote.
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// Vote temperature.
    #[arg(long, default_value_t = 0.07)]
    pub temperature: f64,
}

/// `trainer eval linear`.
#[derive(Debug, Args)]
pub struct LinearArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: EncoderSource,
    /// Most L-BFGS iterations per fit of the linear classifier.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Unused: the L-BFGS probe has no learning rate (accepted so that older scripts still run).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
}

/// `trainer compare`.
#[derive(Debug, Default, Args)]
pub struct CompareArgs {
    /// Repeat over N seeds (seed, seed+1, ...) and report mean ± std and the paired
    /// differences GroCo − NT-Xent with their standard errors.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Only the same-epochs comparison: skip the runs of the cheaper loss that match the dearer
    /// one's wall time.
    #[arg(long)]
    pub same_epochs_only: bool,
    /// The comparison directory (default: runs/TIMESTAMP-compare-DATASET/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub flags: TrainFlags,
}

/// `trainer bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Encoder.
    #[arg(long, value_enum, default_value = "small-cnn")]
    pub encoder: EncoderKind,
    /// Images per step.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Timed steps (after warm-up).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Warm-up steps.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Loss.
    #[arg(long, value_enum, default_value = "groco")]
    pub loss: LossKind,
    /// Include the data pipeline (augmentation on worker threads) instead of fixed input.
    #[arg(long)]
    pub with_data: bool,
    /// Dataset for --with-data.
    #[arg(long, default_value = "mnist5k")]
    pub dataset: String,
    /// Print the resident memory (VmRSS) after these timed steps, e.g. 100,2000.
    #[arg(long, value_name = "STEPS", value_delimiter = ',')]
    pub rss_at: Vec<usize>,
    /// Device: auto picks CUDA when this binary has `--features cuda` and a GPU answers, else
    /// the CPU.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceKind,
    /// On the CPU: the host kernels (`native`), or the device-generic code that CUDA runs
    /// (`composed`: dfdx ops, recomputing convolution, device-resident loss).
    #[arg(long, value_enum, default_value = "native")]
    pub cpu_path: CpuPathArg,
}

/// `--cpu-path`: which implementation the CPU runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CpuPathArg {
    /// The host kernels.
    #[default]
    Native,
    /// The device-generic code that CUDA runs.
    Composed,
}

impl From<CpuPathArg> for groco_dfdx::path::CpuPath {
    fn from(p: CpuPathArg) -> Self {
        match p {
            CpuPathArg::Native => Self::Native,
            CpuPathArg::Composed => Self::Composed,
        }
    }
}
