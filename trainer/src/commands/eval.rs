//! `trainer eval knn` and `trainer eval linear`: evaluate a checkpoint's encoder, or a randomly
//! initialised one (the untrained baseline), on a dataset.

use std::path::PathBuf;

use super::cli::{EncoderSource, KnnArgs, LinearArgs};
use crate::config::TrainConfig;
use crate::data::{try_prepare_data, PreparedData};
use crate::error::{Error, Result};
use crate::eval::linear::{try_linear_probe, LinearProbeConfig};
use crate::eval::probe_fit;
use crate::eval::try_knn;
use crate::model::Net;
use crate::model::TrainDevice;
use crate::model::{try_dispatch, NetTask};
use crate::report::checkpoint::try_saved_config;
use crate::report::checkpoint::{self, Checkpoint};

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
    type Output = Vec<crate::eval::knn::KnnScore>;
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
fn try_knn_all(args: &KnnArgs) -> Result<Vec<crate::eval::knn::KnnScore>> {
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
    type Output = crate::eval::linear::LinearScore;
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
