//! `trainer bench`: times whole training steps (forward, loss, backward, optimiser) after a
//! warm-up, on one fixed batch or, with `--with-data`, on batches from the augmentation pipeline,
//! and prints images per second from the median step time.

use std::time::Instant;

use crate::augment::{BatchLoader, LoaderConfig};
use crate::cli::BenchArgs;
use crate::config::TrainConfig;
use crate::dispatch::{try_dispatch, NetTask};
use crate::error::{Error, Result};
use crate::losses::{LossFn, TrainDevice};
use crate::model::Net;
use crate::optim::Optimizer;
use crate::train::{
    augment_recipe, optimizer_config, try_prepare_data, try_train_step, PreparedData,
};

/// Step timings of a bench run.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// Seconds per timed step, in order.
    pub step_seconds: Vec<f64>,
    /// Images (not views) per step.
    pub batch_size: usize,
}

impl BenchResult {
    /// Median seconds per step.
    pub fn median(&self) -> f64 {
        let mut s = self.step_seconds.clone();
        s.sort_by(f64::total_cmp);
        match s.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => s[n / 2],
            n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
        }
    }

    /// Images per second at the median step time.
    pub fn images_per_second(&self) -> f64 {
        self.batch_size as f64 / self.median()
    }
}

struct BenchTask {
    config: TrainConfig,
    data: PreparedData,
    warmup: usize,
    steps: usize,
    with_data: bool,
}

impl NetTask for BenchTask {
    type Output = BenchResult;
    fn run<N: Net<D>, D: TrainDevice>(self, dev: D) -> Result<BenchResult> {
        let config = &self.config;
        let mut net = N::try_build(&dev)?;
        let mut opt = Optimizer::<D>::new(optimizer_config(config));
        let recipe = augment_recipe(config, self.data.size, self.data.channels);
        let global = recipe.global_views;
        let loader = BatchLoader::try_new(
            self.data.train.clone(),
            recipe,
            LoaderConfig {
                batch_size: config.batch_size,
                seed: config.seed,
                workers: config.workers,
                prefetch: 2,
            },
        )?;
        let loss_fn = LossFn::try_new(config, global)?;
        let fixed = loader.batch(0, 0);
        let mut batches = (0u64..).flat_map(|e| loader.epoch(e));
        let mut stacked = Vec::new();
        let lr = config.scaled_lr() * 0.01;
        let mut step_seconds = Vec::with_capacity(self.steps);
        for i in 0..self.warmup + self.steps {
            let start = Instant::now();
            let owned;
            let batch = if self.with_data {
                owned = batches.next().expect("epochs never end");
                &owned
            } else {
                &fixed
            };
            try_train_step(
                &mut net,
                &mut opt,
                &dev,
                &loss_fn,
                batch,
                global,
                lr,
                &mut stacked,
            )?;
            if i >= self.warmup {
                step_seconds.push(start.elapsed().as_secs_f64());
            }
        }
        Ok(BenchResult {
            step_seconds,
            batch_size: config.batch_size,
        })
    }
}

/// Runs the bench `args` describes and returns its timings.
pub fn try_run_bench(args: &BenchArgs) -> Result<BenchResult> {
    if args.steps == 0 {
        return Err(Error::config("steps", 0, "must be at least 1"));
    }
    let config = TrainConfig {
        encoder: args.encoder,
        batch_size: args.batch_size,
        loss: args.loss,
        dataset: args.dataset.clone(),
        workers: 2,
        ..TrainConfig::default()
    };
    config.try_validate()?;
    let data = try_prepare_data(&config)?;
    let (device, seed, encoder, channels) =
        (config.device, config.seed, config.encoder, data.channels);
    let task = BenchTask {
        config,
        data,
        warmup: args.warmup,
        steps: args.steps,
        with_data: args.with_data,
    };
    try_dispatch(device, seed, encoder, channels, task)
}

/// `trainer bench`: runs and prints.
pub fn try_bench(args: &BenchArgs) -> Result<()> {
    let r = try_run_bench(args)?;
    println!(
        "{} {} batch {} ({}): median step {:.1} ms over {} steps, {:.0} images/s",
        args.encoder.name(),
        args.loss.name(),
        args.batch_size,
        if args.with_data {
            "with the augmentation pipeline"
        } else {
            "fixed input"
        },
        r.median() * 1e3,
        r.step_seconds.len(),
        r.images_per_second()
    );
    Ok(())
}
