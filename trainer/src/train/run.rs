//! The training loop: data, model and optimiser set up from a [`TrainConfig`], then epochs of
//! augmented batches through the encoder, the head and the loss, with online k-NN evaluation,
//! per-epoch atomic checkpoints, `metrics.jsonl` and `summary.json` in the run directory.
//!
//! Determinism: the model is initialised from the seeded device RNG, and batch order and every
//! augmentation are pure functions of (seed, epoch, sample), so a run resumed from the
//! checkpoint after epoch e retraces the run that was never stopped.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use crate::augment::{BatchLoader, LoaderConfig};
use crate::config::TrainConfig;
use crate::data::{try_prepare_train_data, PreparedData};
use crate::error::{Error, Result};
use crate::eval::{try_knn, try_linear_probe, LinearProbeConfig};
use crate::model::{try_dispatch, Net, NetTask, TrainDevice};
use crate::report::checkpoint::{self, Checkpoint};
use crate::report::{
    try_create_run_dir, try_write_atomic, Event, MetricRecord, MetricsLog, Progress, StepRecord,
    Summary,
};

use super::loss::LossFn;
use super::optim::Optimizer;
use super::resume::Resume;
use super::schedule::CosineSchedule;
use super::step::{augment_recipe, optimizer_config, try_train_step};

/// Where a run lives and what it produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The summary (also in `summary.json`).
    pub summary: Summary,
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

/// Trains as `config` says. With `opts.resume`, the configuration saved in the checkpoint is
/// used instead (a resumed run continues the same schedule).
pub fn try_train(config: &TrainConfig, opts: &RunOptions) -> Result<Outcome> {
    let resume = opts.resume.as_deref().map(Resume::try_load).transpose()?;
    try_train_with(config, resume, opts)
}

/// [`try_train`] with the checkpoint already loaded (`opts.resume` is then not read): a resumed
/// run trains `resume.config`, not `config`.
pub fn try_train_with(
    config: &TrainConfig,
    resume: Option<Resume>,
    opts: &RunOptions,
) -> Result<Outcome> {
    let config = resume.as_ref().map_or(config, |r| &r.config).clone();
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
    resume: Option<Resume>,
    opts: RunOptions,
}

impl NetTask for TrainTask {
    type Output = Outcome;
    fn run<N: Net<D>, D: TrainDevice>(self, dev: D) -> Result<Outcome> {
        run::<N, D>(dev, &self.config, self.data, self.resume, &self.opts)
    }
}

fn run<N: Net<D>, D: TrainDevice>(
    dev: D,
    config: &TrainConfig,
    data: PreparedData,
    resume: Option<Resume>,
    opts: &RunOptions,
) -> Result<Outcome> {
    let mut net = N::try_build(&dev)?;
    let mut opt = Optimizer::<D>::new(optimizer_config(config));
    let (first_epoch, run_dir) = match &resume {
        Some(r) => {
            r.try_restore(&mut net, &mut opt, &dev)?;
            (r.epochs_done(), r.run_dir())
        }
        None => (
            0,
            try_create_run_dir(opts.out.as_deref(), config.loss.name(), &config.dataset)?,
        ),
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
        Some(r) => r.random_init_knn_top1(),
        None => {
            let (top1, top1_k1) = try_knn_pair(&net, &dev, &data, config)?;
            // Epoch 0 of the k-NN curve.
            log.try_log(&knn_record(0, (top1, top1_k1), config))?;
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
    let mut last_epoch_loss = resume.as_ref().map_or(f64::NAN, Resume::last_epoch_loss);
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
                        log.try_log(&MetricRecord::Event(Event::NonFiniteLoss {
                            epoch,
                            step,
                            value: value.to_string(),
                        }))?;
                        return Err(Error::NonFiniteLoss { epoch, step, value });
                    }
                    return Err(e);
                }
            };
            epoch_loss += loss_value;
            images_seen += config.batch_size;
            let ips = images_seen as f64 / started.elapsed().as_secs_f64();
            if step % config.log_every == 0 {
                log.try_log(&MetricRecord::Step(StepRecord {
                    step,
                    epoch,
                    loss: loss_value,
                    lr,
                    grad_norm: Some(stats.grad_norm).filter(|g| g.is_finite()),
                    images_per_second: ips,
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
            knn = try_knn_pair(&net, &dev, &data, config)?;
            log.try_log(&knn_record(done, knn, config))?;
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
        knn = try_knn_pair(&net, &dev, &data, config)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let linear_top1 = if config.linear_probe {
        let probe = LinearProbeConfig {
            epochs: config.linear_epochs,
            seed: config.seed,
            ..LinearProbeConfig::default()
        };
        let score = try_linear_probe(&net, &dev, &data.train, &data.test, data.size, &probe)?;
        log.try_log(&MetricRecord::Event(Event::Linear {
            top1: score.top1 * 100.0,
            top5: score.top5 * 100.0,
        }))?;
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
    let device = crate::model::try_resolve_device(config.device)?;
    let file = SummaryFile {
        summary: &summary,
        device: device.name,
        device_reason: device.reason,
    };
    let text = serde_json::to_string_pretty(&file).expect("summary serialises");
    try_write_atomic(&run_dir.join("summary.json"), text.as_bytes())?;
    crate::report::plots::try_run_plots(&run_dir)?;
    let (features, dim) = crate::eval::try_features(&net, &dev, &data.test, data.size)?;
    let title = format!("{} test features", config.encoder.name());
    crate::report::plots::try_pca_plot(&run_dir, &features, data.test.labels(), dim, &title)?;
    Ok(Outcome { run_dir, summary })
}

/// k-NN top-1 at `knn_k` and at k = 1, in percent, of `net`'s eval-mode features (the test
/// split against the train split).
fn try_knn_pair<N: Net<D>, D: TrainDevice>(
    net: &N,
    dev: &D,
    data: &PreparedData,
    config: &TrainConfig,
) -> Result<(f64, f64)> {
    let ks = [1, config.knn_k];
    let scores = try_knn(
        net,
        dev,
        &data.train,
        &data.test,
        data.size,
        &ks,
        config.knn_temperature,
    )?;
    Ok((scores[1].top1 * 100.0, scores[0].top1 * 100.0))
}

/// The `metrics.jsonl` record of a k-NN evaluation after `epoch` epochs.
fn knn_record(epoch: usize, (top1, top1_k1): (f64, f64), config: &TrainConfig) -> MetricRecord {
    MetricRecord::Event(Event::Knn {
        epoch,
        knn_top1: top1,
        knn1_top1: Some(top1_k1),
        k: Some(config.knn_k),
    })
}
