//! `trainer eval knn` and `trainer eval linear`: evaluate a checkpoint's encoder, or a randomly
//! initialised one (the untrained baseline), on a dataset.

use std::path::PathBuf;

use crate::checkpoint::{self, Checkpoint};
use crate::cli::{EncoderSource, KnnArgs, LinearArgs};
use crate::config::TrainConfig;
use crate::dispatch::{try_dispatch, NetTask};
use crate::error::{Error, Result};
use crate::eval::try_knn;
use crate::linear::{try_linear_probe, LinearProbeConfig, LinearScore};
use crate::losses::TrainDevice;
use crate::model::Net;
use crate::train::{try_prepare_data, try_saved_config, PreparedData};

/// An encoder to evaluate, with the data prepared for it.
struct Loaded {
    config: TrainConfig,
    data: PreparedData,
    weights: Option<(PathBuf, Checkpoint)>,
}

fn try_load(source: &EncoderSource) -> Result<Loaded> {
    let (mut config, weights) = match &source.checkpoint {
        Some(path) => {
            let ckpt = Checkpoint::try_load(path)?;
            (try_saved_config(path, &ckpt)?, Some((path.clone(), ckpt)))
        }
        None => (
            TrainConfig {
                encoder: source.encoder,
                seed: source.seed,
                ..TrainConfig::default()
            },
            None,
        ),
    };
    config.dataset = source.dataset.clone();
    config.device = source.device;
    config.train_limit = 0;
    config.test_limit = 0;
    let data = try_prepare_data(&config)?;
    if let Some((path, ckpt)) = &weights {
        let trained = ckpt.meta["channels"].as_u64();
        if trained.is_some_and(|c| c != data.channels as u64) {
            return Err(Error::Checkpoint {
                path: path.clone(),
                message: format!(
                    "its {} encoder was trained on {}-channel images, but {} has {} channels",
                    config.encoder.name(),
                    trained.unwrap_or(0),
                    config.dataset,
                    data.channels
                ),
            });
        }
    }
    Ok(Loaded {
        config,
        data,
        weights,
    })
}

fn try_build<N: Net<D>, D: TrainDevice>(
    dev: &D,
    weights: &Option<(PathBuf, Checkpoint)>,
) -> Result<N> {
    let mut net = N::try_build(dev)?;
    if let Some((path, ckpt)) = weights {
        checkpoint::try_restore(&mut net, &ckpt.model).map_err(|message| Error::Checkpoint {
            path: path.clone(),
            message: format!("does not fit this encoder: {message}"),
        })?;
    }
    Ok(net)
}

struct KnnTask {
    loaded: Loaded,
    k: usize,
    temperature: f64,
}

impl NetTask for KnnTask {
    type Output = Vec<crate::knn::KnnScore>;
    fn run<N: Net<D>, D: TrainDevice>(self, dev: D) -> Result<Self::Output> {
        let net: N = try_build(&dev, &self.loaded.weights)?;
        let d = &self.loaded.data;
        let ks = if self.k == 1 {
            vec![1]
        } else {
            vec![1, self.k]
        };
        try_knn(&net, &dev, &d.train, &d.test, d.size, &ks, self.temperature)
    }
}

/// The k-NN scores (k = 1 and k = `args.k`) of the encoder `args` names.
fn try_knn_all(args: &KnnArgs) -> Result<Vec<crate::knn::KnnScore>> {
    if args.k == 0 {
        return Err(Error::config("k", 0, "must be at least 1"));
    }
    let loaded = try_load(&args.source)?;
    let c = &loaded.config;
    let (device, seed, encoder, channels) = (c.device, c.seed, c.encoder, loaded.data.channels);
    let task = KnnTask {
        loaded,
        k: args.k,
        temperature: args.temperature,
    };
    try_dispatch(device, seed, encoder, channels, task)
}

/// k-NN top-1 in percent for k = 1 and k = `args.k`.
pub fn try_knn_scores(args: &KnnArgs) -> Result<(f64, f64)> {
    let scores = try_knn_all(args)?;
    Ok((
        scores[0].top1 * 100.0,
        scores[scores.len() - 1].top1 * 100.0,
    ))
}

/// The scores of the randomly initialised encoder of a run, in percent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomInitScores {
    /// 1-NN top-1.
    pub knn1_top1: f64,
    /// k-NN top-1 at `knn_k`.
    pub knn_top1: f64,
    /// Linear-probe top-1 (`None` when `config.linear_probe` is off).
    pub linear_top1: Option<f64>,
}

/// k-NN top-1 for k = 1 and k = `config.knn_k` and, when `config.linear_probe` is on, the
/// linear-probe top-1 of the randomly initialised encoder of `config` (seeded with
/// `config.seed`, so it is the network a run of `config` starts from), on exactly the data such a
/// run evaluates on (`train_limit` and `test_limit` included) and with the same probe settings.
pub fn try_random_init_scores(config: &TrainConfig) -> Result<RandomInitScores> {
    Ok(try_random_init_report(config)?.0)
}

/// [`try_random_init_scores`] with the probe's whole report (train, validation and test
/// accuracy, chosen weight decay), `None` when `config.linear_probe` is off.
pub fn try_random_init_report(
    config: &TrainConfig,
) -> Result<(RandomInitScores, Option<LinearScore>)> {
    let data = try_prepare_data(config)?;
    let channels = data.channels;
    let loaded = || Loaded {
        config: config.clone(),
        data: data.clone(),
        weights: None,
    };
    let (device, seed, encoder) = (config.device, config.seed, config.encoder);
    let knn = KnnTask {
        loaded: loaded(),
        k: config.knn_k,
        temperature: config.knn_temperature,
    };
    let scores = try_dispatch(device, seed, encoder, channels, knn)?;
    let linear = if config.linear_probe {
        let probe = LinearProbeConfig {
            epochs: config.linear_epochs,
            seed,
            ..LinearProbeConfig::default()
        };
        let task = LinearTask {
            loaded: loaded(),
            probe,
        };
        Some(try_dispatch(device, seed, encoder, channels, task)?)
    } else {
        None
    };
    let scores = RandomInitScores {
        knn1_top1: scores[0].top1 * 100.0,
        knn_top1: scores[scores.len() - 1].top1 * 100.0,
        linear_top1: linear.map(|s| s.top1 * 100.0),
    };
    Ok((scores, linear))
}

/// How a probe was fitted, in words: train and validation top-1, the chosen weight decay and
/// whether L-BFGS converged.
///
/// ```
/// use trainer::evalcmd::probe_fit;
/// use trainer::linear::LinearScore;
/// let s = LinearScore { train_top1: 0.975, val_top1: Some(0.9), val_queries: 800,
///     weight_decay: 0.01, iterations: 42, converged: true, ..LinearScore::default() };
/// assert_eq!(probe_fit(&s), "train top-1 97.50%, validation top-1 90.00% on 800 images, \
///     weight decay 1e-2 (best on validation), L-BFGS converged in 42 iterations");
/// ```
pub fn probe_fit(s: &LinearScore) -> String {
    let decay = match s.weight_decay {
        0.0 => "0".to_string(),
        l => format!("{l:e}"),
    };
    let chosen = match s.val_top1 {
        Some(v) => format!(
            "validation top-1 {:.2}% on {} images, weight decay {decay} (best on validation)",
            v * 100.0,
            s.val_queries
        ),
        None => format!("no validation split, weight decay {decay} (the default)"),
    };
    let fit = if s.converged {
        "converged in"
    } else {
        "stopped, not converged, after"
    };
    format!(
        "train top-1 {:.2}%, {chosen}, L-BFGS {fit} {} iterations",
        s.train_top1 * 100.0,
        s.iterations
    )
}

/// Runs `trainer eval knn` and prints the accuracies.
pub fn try_knn_command(args: &KnnArgs) -> Result<()> {
    let what = describe(&args.source);
    for s in &try_knn_all(args)? {
        println!(
            "{what}: k-NN (k = {}, T = {}) top-1 {:.2}%, top-5 {:.2}% on {} test images",
            s.k,
            args.temperature,
            s.top1 * 100.0,
            s.top5 * 100.0,
            s.queries
        );
    }
    Ok(())
}

struct LinearTask {
    loaded: Loaded,
    probe: LinearProbeConfig,
}

impl NetTask for LinearTask {
    type Output = crate::linear::LinearScore;
    fn run<N: Net<D>, D: TrainDevice>(self, dev: D) -> Result<Self::Output> {
        let net: N = try_build(&dev, &self.loaded.weights)?;
        let d = &self.loaded.data;
        try_linear_probe(&net, &dev, &d.train, &d.test, d.size, &self.probe)
    }
}

/// Runs `trainer eval linear` and prints the accuracies.
pub fn try_linear_command(args: &LinearArgs) -> Result<()> {
    let loaded = try_load(&args.source)?;
    let c = &loaded.config;
    let (device, seed, encoder, channels) = (c.device, c.seed, c.encoder, loaded.data.channels);
    let what = describe(&args.source);
    let probe = LinearProbeConfig {
        epochs: args.epochs,
        lr: args.lr,
        seed,
        ..LinearProbeConfig::default()
    };
    let score = try_dispatch(
        device,
        seed,
        encoder,
        channels,
        LinearTask { loaded, probe },
    )?;
    println!(
        "{what}: linear probe top-1 {:.2}%, top-5 {:.2}% on {} test images",
        score.top1 * 100.0,
        score.top5 * 100.0,
        score.queries
    );
    println!("{what}: probe fit: {}", probe_fit(&score));
    Ok(())
}

fn describe(source: &EncoderSource) -> String {
    match &source.checkpoint {
        Some(p) => format!("checkpoint {}", p.display()),
        None => format!("random-init {}", source.encoder.name()),
    }
}
