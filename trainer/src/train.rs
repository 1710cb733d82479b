//! The training loop: data, model and optimiser set up from a [`TrainConfig`], then epochs of
//! augmented batches through the encoder, the head and the loss, with online k-NN evaluation,
//! per-epoch atomic checkpoints, `metrics.jsonl` and `summary.json` in the run directory.
//!
//! Determinism: the model is initialised from the seeded device RNG, and batch order and every
//! augmentation are pure functions of (seed, epoch, sample), so a run resumed from the
//! checkpoint after epoch e retraces the run that was never stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use dfdx::prelude::*;
use groco_dfdx::layers::images_to_activation;
use groco_dfdx::transfer::download_scalar;
use serde_json::json;

use crate::augment::{BatchLoader, LoaderConfig, Recipe, ViewBatch};
use crate::checkpoint::{self, Checkpoint};
use crate::config::{EncoderKind, TrainConfig};
use crate::data::{load, DatasetSpec, ImageSet, LoadOptions};
use crate::dispatch::{try_dispatch, NetTask};
use crate::error::{Error, Result};
use crate::eval::try_knn;
use crate::linear::{try_linear_probe, LinearProbeConfig};
use crate::losses::{LossFn, TrainDevice};
use crate::model::Net;
use crate::optim::{Optimizer, OptimizerConfig, Rule, StepStats};
use crate::progress::Progress;
use crate::runlog::{try_create_run_dir, try_write_atomic, MetricsLog};
use crate::schedule::CosineSchedule;

/// What a finished (or stopped) training run reports.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// k-NN top-1 (k = `knn_k`, on the test split), percent.
    pub knn_top1: f64,
    /// k-NN top-1 with k = 1, percent.
    pub knn1_top1: f64,
    /// k-NN top-1 (k = `knn_k`, same splits) of the same encoder with its initial weights,
    /// before the first step: what training added is `knn_top1` minus this. `None` for a run
    /// resumed from a checkpoint written before it was recorded.
    #[serde(default)]
    pub random_init_knn_top1: Option<f64>,
    /// Linear-probe top-1, percent, when a probe ran.
    pub linear_top1: Option<f64>,
    /// Epochs completed.
    pub epochs: usize,
    /// Mean loss over the last epoch.
    pub final_loss: f64,
    /// Wall time of the training (this invocation), seconds.
    pub seconds: f64,
    /// Training images (not views) per second.
    pub images_per_second: f64,
    /// Dataset spec.
    pub dataset: String,
    /// Loss name.
    pub loss: String,
    /// Encoder name.
    pub encoder: String,
    /// Seed.
    pub seed: u64,
}

/// Where a run lives and what it produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The summary (also in `summary.json`).
    pub summary: Summary,
}

/// Data prepared for a run: the train and test splits at the encoder's input size.
#[derive(Clone, Debug)]
pub struct PreparedData {
    /// Labelled training images (the k-NN bank and the linear probe's training set).
    pub train: Arc<ImageSet>,
    /// Pre-training images (augmented on the fly): `train`, plus STL-10's unlabeled split when
    /// [`try_prepare_train_data`] found `unlabeled_X.bin`.
    pub pretrain: Arc<ImageSet>,
    /// Test images (k-NN queries).
    pub test: ImageSet,
    /// Side of the encoder's input.
    pub size: usize,
    /// Channels the encoder takes.
    pub channels: usize,
}

/// The encoder's input side for a dataset of native side `native` and `channels` channels.
pub fn input_size(encoder: EncoderKind, native: usize) -> usize {
    match encoder {
        EncoderKind::SmallCnn | EncoderKind::SmallCnnFlat if native == 28 => 28,
        EncoderKind::SmallCnn | EncoderKind::SmallCnnFlat => 32,
        EncoderKind::Resnet18 if native <= 32 => 32,
        EncoderKind::Resnet18 => 64,
    }
}

/// Loads and prepares the dataset named in `config` for evaluation (`pretrain` is `train`).
pub fn try_prepare_data(config: &TrainConfig) -> Result<PreparedData> {
    prepare(config, false)
}

/// Loads and prepares the dataset named in `config` for pre-training: for `stl10:DIR` with an
/// `unlabeled_X.bin` (in `DIR` or `DIR/stl10_binary`), `pretrain` is the train split followed by
/// the unlabeled split (`train_limit` then keeps an evenly spaced subset of both together).
pub fn try_prepare_train_data(config: &TrainConfig) -> Result<PreparedData> {
    prepare(config, true)
}

fn prepare(config: &TrainConfig, pretrain_unlabeled: bool) -> Result<PreparedData> {
    let spec: DatasetSpec = config.dataset.parse()?;
    let has_unlabeled = |dir: &Path| {
        ["unlabeled_X.bin", "stl10_binary/unlabeled_X.bin"]
            .iter()
            .any(|f| dir.join(f).is_file())
    };
    let unlabeled =
        pretrain_unlabeled && matches!(&spec, DatasetSpec::Stl10(dir) if has_unlabeled(dir));
    let options = LoadOptions {
        unlabeled,
        ..LoadOptions::default()
    };
    let split = load(&spec, &options)?;
    let native = split.train.height().max(split.train.width());
    let size = input_size(config.encoder, native);
    let channels = if split.train.channels() == 1 { 1 } else { 3 };
    // A limit keeps an evenly spaced subset, so class-sorted files keep every class.
    let limit = |set: ImageSet, n: usize| {
        if n == 0 || n >= set.len() {
            set
        } else {
            let len = set.len();
            set.subset(&(0..n).map(|i| i * len / n).collect::<Vec<_>>())
        }
    };
    let pretrain = match split.unlabeled {
        Some(extra) => {
            let both = ImageSet::try_concat(&[&split.train, &extra])?;
            drop(extra);
            Some(limit(both, config.train_limit).try_with_channels(channels)?)
        }
        None => None,
    };
    let train = limit(split.train, config.train_limit).try_with_channels(channels)?;
    let test = limit(split.test, config.test_limit).try_with_channels(channels)?;
    let resize = |s: ImageSet| {
        if s.height() == size && s.width() == size {
            s
        } else {
            s.resized(size, size)
        }
    };
    let train = Arc::new(resize(train));
    Ok(PreparedData {
        pretrain: pretrain.map_or_else(|| train.clone(), |p| Arc::new(resize(p))),
        train,
        test: resize(test),
        size,
        channels,
    })
}

/// Options of one invocation that are not part of the model's configuration.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The run directory (default: a new one under `runs/`).
    pub out: Option<PathBuf>,
    /// Resume from this run or checkpoint directory.
    pub resume: Option<PathBuf>,
    /// Stop after this many epochs of this invocation.
    pub stop_after_epochs: Option<usize>,
    /// Print progress.
    pub verbose: bool,
}

/// The training configuration stored in the metadata of `ckpt` (loaded from `path`).
pub fn try_saved_config(path: &Path, ckpt: &Checkpoint) -> Result<TrainConfig> {
    serde_json::from_value(ckpt.meta["config"].clone()).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("config in checkpoint: {e}"),
    })
}

/// Trains as `config` says. With `opts.resume`, the configuration saved in the checkpoint is
/// used instead (a resumed run continues the same schedule).
pub fn try_train(config: &TrainConfig, opts: &RunOptions) -> Result<Outcome> {
    let (config, resume) = match &opts.resume {
        Some(path) => {
            let ckpt = Checkpoint::try_load(path)?;
            (try_saved_config(path, &ckpt)?, Some((path.clone(), ckpt)))
        }
        None => (config.clone(), None),
    };
    config.try_validate()?;
    let data = try_prepare_train_data(&config)?;
    config.try_check_data(data.train.len())?;
    let (device, seed, encoder, channels) =
        (config.device, config.seed, config.encoder, data.channels);
    let task = TrainTask {
        config,
        data,
        resume,
        opts: opts.clone(),
    };
    try_dispatch(device, seed, encoder, channels, task)
}

struct TrainTask {
    config: TrainConfig,
    data: PreparedData,
    resume: Option<(PathBuf, Checkpoint)>,
    opts: RunOptions,
}

impl NetTask for TrainTask {
    type Output = Outcome;
    fn run<N: Net<D>, D: TrainDevice>(self, dev: D) -> Result<Outcome> {
        run::<N, D>(dev, &self.config, self.data, self.resume, &self.opts)
    }
}

/// Concatenates views `range` of a batch (all of one size) into one NCHW buffer of `V·B` images.
fn stack_views(
    batch: &ViewBatch,
    range: std::ops::Range<usize>,
    into: &mut Vec<f32>,
) -> [usize; 4] {
    into.clear();
    let [b, c, h, w] = batch.shapes[range.start];
    let count = range.len();
    for v in &batch.views[range] {
        into.extend_from_slice(v);
    }
    [count * b, c, h, w]
}

/// The augmentation recipe for a run: digits-style for greyscale data, SimCLR-style for colour,
/// plus `small_crops` small views (multi-crop) when asked for.
pub fn augment_recipe(config: &TrainConfig, size: usize, channels: usize) -> Recipe {
    let recipe = if channels == 1 {
        Recipe::digits(size, config.views)
    } else {
        Recipe::simclr(size, config.views)
    };
    if config.small_crops > 0 {
        recipe.with_small_crops(config.small_crops, config.small_crop_size, (0.05, 0.4))
    } else {
        recipe
    }
}

/// One optimisation step on `batch`: forward of the global views (stacked) and of the small
/// crops, the loss, backward, and the optimiser update at rate `lr`. A non-finite loss or
/// gradient stops before the update, so the weights stay the last good ones.
///
/// What crosses between host and device (see `groco_dfdx::transfer`): the image batch up, and
/// one scalar down, L + 0·Σg², which is the loss when every gradient is finite and NaN
/// otherwise (the finiteness check is one reduction on the device). With `grad_norm` the
/// global gradient norm comes down too (the logged steps); the GroCo loss adds its selected
/// similarities down and their gradients up (see `groco_dfdx::loss::groco_loss`).
#[allow(clippy::too_many_arguments)]
pub fn try_train_step<N: Net<D>, D: TrainDevice>(
    net: &mut N,
    opt: &mut Optimizer<D>,
    dev: &D,
    loss_fn: &LossFn,
    batch: &ViewBatch,
    global: usize,
    lr: f64,
    stacked: &mut Vec<f32>,
    grad_norm: bool,
) -> Result<(f64, StepStats)> {
    let small = batch.views.len() - global;
    let b = batch.labels.len();
    let [n, c, h, w] = stack_views(batch, 0..global, stacked);
    let x = images_to_activation(dev, stacked, n, c, h, w)?;
    let grads = net.alloc_grads();
    let z = net.try_project_train(x.traced(grads))?;
    let z_small = if small > 0 {
        let [n, c, h, w] = stack_views(batch, global..global + small, stacked);
        let x = images_to_activation(dev, stacked, n, c, h, w)?;
        Some(net.try_project_train(x.leaky_traced())?)
    } else {
        None
    };
    let device = |e| Error::Device(format!("{e:?}"));
    // Projections that are no longer finite (the weights diverged) are a non-finite loss too:
    // the step stops here, before any update.
    let loss = loss_fn
        .try_loss(z, z_small, global, small, b)
        .map_err(|e| match e {
            Error::Model(groco_dfdx::Error::NonFinite { .. }) => Error::NonFiniteLoss {
                epoch: batch.epoch as usize,
                step: batch.batch,
                value: f64::NAN,
            },
            e => e,
        })?;
    let (value, tape) = loss.split_tape();
    let grads = value
        .clone()
        .put_tape(tape)
        .try_backward()
        .map_err(device)?;
    let grad_sq = opt.try_grad_sq(net, &grads).map_err(device)?;
    let checked = match &grad_sq {
        Some(sq) => value
            .try_add(sq.clone().try_mul(0.0).map_err(device)?)
            .map_err(device)?,
        None => value,
    };
    let checked = download_scalar(&checked, "loss (NaN if a gradient is not finite)") as f64;
    if !checked.is_finite() {
        return Err(Error::NonFiniteLoss {
            epoch: batch.epoch as usize,
            step: batch.batch,
            value: checked,
        });
    }
    let norm = match (&grad_sq, grad_norm) {
        (Some(sq), true) => (download_scalar(sq, "gradient norm (logged steps)") as f64).sqrt(),
        (None, true) => 0.0,
        (_, false) => f64::NAN,
    };
    opt.try_step(net, &grads, lr as f32).map_err(device)?;
    let stats = StepStats {
        grad_norm: norm,
        finite: true,
    };
    Ok((checked, stats))
}

/// The optimiser settings of a configuration.
pub fn optimizer_config(config: &TrainConfig) -> OptimizerConfig {
    OptimizerConfig {
        rule: match config.optimizer {
            crate::config::OptimizerKind::Sgd => Rule::Sgd,
            crate::config::OptimizerKind::Lars => Rule::Lars,
        },
        momentum: config.momentum as f32,
        weight_decay: config.weight_decay as f32,
        lars_eta: 0.02,
    }
}

fn run<N: Net<D>, D: TrainDevice>(
    dev: D,
    config: &TrainConfig,
    data: PreparedData,
    resume: Option<(PathBuf, Checkpoint)>,
    opts: &RunOptions,
) -> Result<Outcome> {
    let mut net = N::try_build(&dev)?;
    let mut opt = Optimizer::<D>::new(optimizer_config(config));
    let mut first_epoch = 0usize;
    let run_dir = match &resume {
        Some((path, ckpt)) => {
            checkpoint::try_restore(&mut net, &ckpt.model).map_err(|message| {
                Error::Checkpoint {
                    path: path.clone(),
                    message,
                }
            })?;
            checkpoint::try_check_momenta(&net, &ckpt.momenta).map_err(|message| {
                Error::Checkpoint {
                    path: path.clone(),
                    message,
                }
            })?;
            opt.set_momenta_host(&dev, &ckpt.momenta)
                .map_err(|e| Error::Device(format!("{e:?}")))?;
            first_epoch = ckpt.meta["epochs_done"].as_u64().unwrap_or(0) as usize;
            let state = checkpoint::resolve_state_file(path);
            let ckpt_dir = state.parent().unwrap_or(Path::new(".")).to_path_buf();
            Checkpoint::remove_stale_temps(&ckpt_dir);
            ckpt_dir.parent().map(Path::to_path_buf).unwrap_or(ckpt_dir)
        }
        None => try_create_run_dir(opts.out.as_deref(), config.loss.name(), &config.dataset)?,
    };
    if resume.is_none() {
        try_write_atomic(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    }
    // Records past the last checkpoint (the epoch a kill interrupted, a torn last line) are
    // dropped: the resumed run logs that epoch again. A fresh run (first_epoch 0) into a
    // directory a killed run left before its first checkpoint starts an empty log.
    let mut log = MetricsLog::try_open_resumed(&run_dir, first_epoch)?;

    let recipe = augment_recipe(config, data.size, data.channels);
    let global = recipe.global_views;
    let loader = BatchLoader::try_new(
        data.pretrain.clone(),
        recipe,
        LoaderConfig {
            batch_size: config.batch_size,
            seed: config.seed,
            workers: config.workers,
            prefetch: 2,
        },
    )?;
    let steps_per_epoch = loader.batches_per_epoch();
    let total_steps = steps_per_epoch * config.epochs;
    let warmup = (config.warmup_epochs * steps_per_epoch as f64).round() as usize;
    let schedule = CosineSchedule::new(config.scaled_lr(), warmup, total_steps);
    let loss_fn = LossFn::try_new(config, global)?;

    let last_epoch = match opts.stop_after_epochs {
        Some(n) => (first_epoch + n).min(config.epochs),
        None => config.epochs,
    };
    let mut progress = Progress::new(opts.verbose, (last_epoch - first_epoch) * steps_per_epoch);
    // The baseline: the same encoder with its initial weights, scored before the first step (a
    // resumed run reads it from the checkpoint). Evaluation draws nothing from the device's RNG,
    // so the training that follows is unchanged.
    let random_init_knn = match &resume {
        Some((_, ckpt)) => ckpt.meta["random_init_knn_top1"].as_f64(),
        None => {
            let scores = try_knn(
                &net,
                &dev,
                &data.train,
                &data.test,
                data.size,
                &[1, config.knn_k],
                config.knn_temperature,
            )?;
            let (top1, top1_k1) = (scores[1].top1 * 100.0, scores[0].top1 * 100.0);
            // Epoch 0 of the k-NN curve.
            log.try_log(&json!({"event": "knn", "epoch": 0, "knn_top1": top1, "knn1_top1": top1_k1, "k": config.knn_k}))?;
            progress.message(&format!(
                "random init: k-NN top-1 {top1:.2}% (k={})",
                config.knn_k
            ));
            Some(top1)
        }
    };
    let started = Instant::now();
    let mut images_seen = 0usize;
    let mut stacked = Vec::new();
    // A run resumed after its last checkpoint (killed while writing the summary, say) trains
    // no epoch: its loss comes from the checkpoint and its k-NN score from the restored weights.
    let mut last_epoch_loss = resume
        .as_ref()
        .and_then(|(_, c)| c.meta["last_epoch_loss"].as_f64())
        .unwrap_or(f64::NAN);
    let mut knn = (f64::NAN, f64::NAN);
    for epoch in first_epoch..last_epoch {
        let mut epoch_loss = 0.0;
        for batch in loader.epoch(epoch as u64) {
            let step = epoch * steps_per_epoch + batch.batch;
            let lr = schedule.lr(step);
            let (loss_value, stats) = match try_train_step(
                &mut net,
                &mut opt,
                &dev,
                &loss_fn,
                &batch,
                global,
                lr,
                &mut stacked,
                step % config.log_every == 0,
            ) {
                Ok(r) => r,
                Err(e) => {
                    if let Error::NonFiniteLoss { value, .. } = e {
                        log.try_log(&json!({"event": "non_finite_loss", "epoch": epoch, "step": step, "value": value.to_string()}))?;
                        return Err(Error::NonFiniteLoss { epoch, step, value });
                    }
                    return Err(e);
                }
            };
            epoch_loss += loss_value;
            images_seen += config.batch_size;
            let ips = images_seen as f64 / started.elapsed().as_secs_f64();
            if step % config.log_every == 0 {
                log.try_log(&json!({
                    "step": step, "epoch": epoch, "loss": loss_value, "lr": lr,
                    "grad_norm": stats.grad_norm, "images_per_second": ips,
                }))?;
            }
            progress.step(epoch, loss_value, lr, ips);
        }
        last_epoch_loss = epoch_loss / steps_per_epoch.max(1) as f64;
        let done = epoch + 1;
        let eval_now = done == config.epochs
            || (config.eval_every > 0 && done % config.eval_every == 0)
            || done == last_epoch;
        if eval_now {
            let scores = try_knn(
                &net,
                &dev,
                &data.train,
                &data.test,
                data.size,
                &[1, config.knn_k],
                config.knn_temperature,
            )?;
            knn = (scores[1].top1 * 100.0, scores[0].top1 * 100.0);
            log.try_log(&json!({"event": "knn", "epoch": done, "knn_top1": knn.0, "knn1_top1": knn.1, "k": config.knn_k}))?;
            progress.message(&format!(
                "epoch {done}: k-NN top-1 {:.2}% (k={})",
                knn.0, config.knn_k
            ));
        }
        let ckpt = Checkpoint {
            model: checkpoint::snapshot(&net).map_err(|e| Error::Device(format!("{e:?}")))?,
            momenta: opt.momenta_host(),
            meta: json!({
                "config": config, "epochs_done": done, "encoder": config.encoder.name(),
                "channels": data.channels, "input_size": data.size, "loss": config.loss.name(),
                "last_epoch_loss": last_epoch_loss, "random_init_knn_top1": random_init_knn,
            }),
        };
        ckpt.try_save(&run_dir.join("checkpoint"))?;
    }
    progress.finish();
    if first_epoch == last_epoch {
        let scores = try_knn(
            &net,
            &dev,
            &data.train,
            &data.test,
            data.size,
            &[1, config.knn_k],
            config.knn_temperature,
        )?;
        knn = (scores[1].top1 * 100.0, scores[0].top1 * 100.0);
    }
    let seconds = started.elapsed().as_secs_f64();
    let linear_top1 = if config.linear_probe {
        let probe = LinearProbeConfig {
            epochs: config.linear_epochs,
            seed: config.seed,
            ..LinearProbeConfig::default()
        };
        let score = try_linear_probe(&net, &dev, &data.train, &data.test, data.size, &probe)?;
        log.try_log(
            &json!({"event": "linear", "top1": score.top1 * 100.0, "top5": score.top5 * 100.0}),
        )?;
        Some(score.top1 * 100.0)
    } else {
        None
    };
    let summary = Summary {
        knn_top1: knn.0,
        knn1_top1: knn.1,
        random_init_knn_top1: random_init_knn,
        linear_top1,
        epochs: last_epoch,
        final_loss: last_epoch_loss,
        seconds,
        images_per_second: images_seen as f64 / seconds.max(1e-9),
        dataset: config.dataset.clone(),
        loss: config.loss.name().into(),
        encoder: config.encoder.name().into(),
        seed: config.seed,
    };
    // summary.json: the `Summary` fields, then the device and why it was picked (resolved once
    // per process, so this is the device the run used).
    #[derive(serde::Serialize)]
    struct SummaryFile<'a> {
        #[serde(flatten)]
        summary: &'a Summary,
        device: String,
        device_reason: String,
    }
    let device = crate::dispatch::try_resolve_device(config.device)?;
    let file = SummaryFile {
        summary: &summary,
        device: device.name,
        device_reason: device.reason,
    };
    let text = serde_json::to_string_pretty(&file).expect("summary serialises");
    try_write_atomic(&run_dir.join("summary.json"), text.as_bytes())?;
    crate::plots::try_run_plots(&run_dir)?;
    let (features, dim) = crate::eval::try_features(&net, &dev, &data.test, data.size)?;
    let title = format!("{} test features", config.encoder.name());
    crate::plots::try_pca_plot(&run_dir, &features, data.test.labels(), dim, &title)?;
    Ok(Outcome { run_dir, summary })
}
