//! `trainer bench`: times whole training steps (forward, loss, backward, optimiser) after a
//! warm-up, on one fixed batch or, with `--with-data`, on batches from the augmentation pipeline,
//! and prints images per second from the median step time. With `--rss-at N,M,...` it also
//! records the resident set size (`VmRSS` of `/proc/self/status`) after those timed steps, to
//! check that memory stays flat over a long run.

use std::time::Instant;

use groco_dfdx::path::with_cpu_path;

use super::cli::BenchArgs;
use crate::augment::{BatchLoader, LoaderConfig};
use crate::config::TrainConfig;
use crate::data::{try_prepare_data, PreparedData};
use crate::error::{Error, Result};
use crate::heap;
use crate::model::Net;
use crate::model::TrainDevice;
use crate::model::{try_dispatch, NetTask};
use crate::train::optim::Optimizer;
use crate::train::{augment_recipe, optimizer_config, try_train_step, LossFn};

/// Step timings of a bench run.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// Seconds per timed step, in order.
    pub step_seconds: Vec<f64>,
    /// Images (not views) per step.
    pub batch_size: usize,
    /// `(timed step, resident bytes)` after each step asked for with `--rss-at`, in step order.
    pub rss: Vec<(usize, u64)>,
    /// `(peak, before)`: the most heap bytes alive at once during a timed step, and those alive
    /// before the first timed step (weights, momenta, data, caches), where the binary counts
    /// them (see [`heap`]).
    pub heap_peak: Option<(usize, usize)>,
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

    /// Relative change of resident memory from the first to the last recorded step
    /// (`0.01` is 1 % growth); `None` with fewer than two records.
    pub fn rss_change(&self) -> Option<f64> {
        match (self.rss.first(), self.rss.last()) {
            (Some(&(a, first)), Some(&(b, last))) if a != b && first > 0 => {
                Some(last as f64 / first as f64 - 1.0)
            }
            _ => None,
        }
    }
}

const STATUS: &str = "/proc/self/status";

/// The resident set size of this process in bytes, from the `VmRSS` line of
/// `/proc/self/status` (Linux).
///
/// ```
/// # #[cfg(target_os = "linux")]
/// assert!(trainer::commands::bench::try_resident_bytes().unwrap() > 0);
/// ```
pub fn try_resident_bytes() -> Result<u64> {
    let text = std::fs::read_to_string(STATUS).map_err(|e| Error::io(STATUS, e))?;
    parse_vm_rss(&text).ok_or_else(|| Error::Parse {
        file: STATUS.into(),
        line: 0,
        reason: "no `VmRSS: <n> kB` line".into(),
    })
}

/// The peak resident set size of this process (`VmHWM` of `/proc/self/status`), where the
/// system reports it.
pub fn try_peak_resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line["VmHWM:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The `VmRSS` value of a `/proc/<pid>/status` text, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let kb: u64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kb * 1024)
}

struct BenchTask {
    config: TrainConfig,
    data: PreparedData,
    warmup: usize,
    steps: usize,
    with_data: bool,
    rss_at: Vec<usize>,
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
        let mut rss = Vec::with_capacity(self.rss_at.len());
        let mut heap_peak = None;
        for i in 0..self.warmup + self.steps {
            let before = heap::live();
            heap::reset_peak();
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
                false,
            )?;
            if i >= self.warmup {
                step_seconds.push(start.elapsed().as_secs_f64());
                if let (Some(before), Some(peak)) = (before, heap::peak()) {
                    let (p, _) = heap_peak.get_or_insert((peak, before));
                    *p = (*p).max(peak);
                }
                let timed = i + 1 - self.warmup;
                if self.rss_at.binary_search(&timed).is_ok() {
                    rss.push((timed, try_resident_bytes()?));
                }
            }
        }
        Ok(BenchResult {
            step_seconds,
            batch_size: config.batch_size,
            rss,
            heap_peak,
        })
    }
}

/// The training configuration a bench of `args` runs: the defaults with the bench's encoder
/// (and that encoder's head widths), batch size, loss, dataset and device.
fn bench_config(args: &BenchArgs) -> TrainConfig {
    let (head_hidden, head_out) = args.encoder.head_dims();
    TrainConfig {
        encoder: args.encoder,
        head_hidden,
        head_out,
        batch_size: args.batch_size,
        loss: args.loss,
        dataset: args.dataset.clone(),
        device: args.device,
        workers: 2,
        ..TrainConfig::default()
    }
}

/// Runs the bench `args` describes and returns its timings.
pub fn try_run_bench(args: &BenchArgs) -> Result<BenchResult> {
    if args.steps == 0 {
        return Err(Error::config("steps", 0, "must be at least 1"));
    }
    let mut rss_at = args.rss_at.clone();
    rss_at.sort_unstable();
    rss_at.dedup();
    if let Some(&bad) = rss_at.iter().find(|&&s| s == 0 || s > args.steps) {
        return Err(Error::config(
            "rss_at",
            bad,
            format!("must be a timed step, 1 to --steps ({})", args.steps),
        ));
    }
    let config = bench_config(args);
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
        rss_at,
    };
    with_cpu_path(args.cpu_path.into(), || {
        try_dispatch(device, seed, encoder, channels, task)
    })
}

/// The report `trainer bench` prints for `args` and its result `r`.
pub fn report(args: &BenchArgs, r: &BenchResult) -> String {
    let mut out = format!(
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
    if let Some((peak, before)) = r.heap_peak {
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        out += &format!(
            "\npeak heap bytes alive during a step: {:.1} MiB ({peak} bytes; {:.1} MiB were alive \
             before it: weights, momenta, data)",
            mib(peak),
            mib(before)
        );
    }
    if let Some(peak) = try_peak_resident_bytes() {
        out += &format!(
            "\npeak resident memory (VmHWM): {:.1} MiB",
            peak as f64 / (1024.0 * 1024.0)
        );
    }
    for (step, bytes) in &r.rss {
        out += &format!(
            "\nresident memory after step {step}: {:.1} MiB ({bytes} bytes)",
            *bytes as f64 / (1024.0 * 1024.0)
        );
    }
    if let (Some(change), Some((a, _)), Some((b, _))) =
        (r.rss_change(), r.rss.first(), r.rss.last())
    {
        out += &format!(
            "\nresident memory change from step {a} to step {b}: {:+.2}%",
            change * 100.0
        );
    }
    out
}

/// `trainer bench`: prints the device it picked and why, runs, and prints the timings.
pub fn try_bench(args: &BenchArgs) -> Result<()> {
    let device = crate::model::try_resolve_device(args.device)?;
    println!("device: {device}");
    let r = try_run_bench(args)?;
    println!("{}", report(args, &r));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::cli::{Cli, Command};
    use clap::Parser;

    fn bench_args(flags: &str) -> BenchArgs {
        let argv = ["trainer", "bench"]
            .into_iter()
            .chain(flags.split_whitespace());
        match Cli::try_parse_from(argv).unwrap().command {
            Some(Command::Bench(args)) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn every_encoder_has_a_valid_bench_config() {
        for encoder in ["small-cnn", "small-cnn-flat", "resnet18"] {
            let args = bench_args(&format!("--encoder {encoder} --cpu-path composed"));
            bench_config(&args).try_validate().unwrap();
        }
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\ttrainer\nVmPeak:\t  9000 kB\nVmRSS:\t  2048 kB\nThreads: 3\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("VmRSS: lots\n"), None);
        assert_eq!(parse_vm_rss("VmSize: 1 kB\n"), None);
    }

    #[test]
    fn rss_at_records_and_prints_the_asked_steps() {
        let args = bench_args("--steps 3 --warmup 1 --batch-size 16 --rss-at 3,1");
        assert_eq!(args.rss_at, vec![3, 1]);
        let r = try_run_bench(&args).unwrap();
        assert_eq!(r.step_seconds.len(), 3);
        let steps: Vec<usize> = r.rss.iter().map(|&(s, _)| s).collect();
        assert_eq!(steps, vec![1, 3]);
        assert!(r.rss.iter().all(|&(_, b)| b > 1 << 20), "{:?}", r.rss);
        let text = report(&args, &r);
        assert!(text.contains("resident memory after step 1: "), "{text}");
        assert!(text.contains("resident memory after step 3: "), "{text}");
        assert!(text.contains("from step 1 to step 3: "), "{text}");
    }

    #[test]
    fn rss_at_outside_the_timed_steps_is_refused() {
        for bad in ["0", "4"] {
            let args = bench_args(&format!("--steps 3 --rss-at {bad}"));
            let err = try_run_bench(&args).unwrap_err().to_string();
            assert!(err.contains("rss_at") && err.contains(bad), "{err}");
        }
    }
}
