//! The untrained baseline: the randomly initialised encoder of a configuration (seeded with its
//! seed, so it is the network a run of that configuration starts from), scored by k-NN and the
//! linear probe on exactly the data such a run evaluates on.

use crate::config::TrainConfig;
use crate::data::{try_prepare_data, PreparedData};
use crate::error::Result;
use crate::model::{try_dispatch, Net, NetTask, TrainDevice};

use super::features::try_knn;
use super::linear::{try_linear_probe, LinearProbeConfig, LinearScore};

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

/// What the baseline computes on a freshly built network.
struct RandomInitTask<'a> {
    config: &'a TrainConfig,
    data: &'a PreparedData,
}

impl NetTask for RandomInitTask<'_> {
    type Output = (RandomInitScores, Option<LinearScore>);
    fn run<N: Net<D>, D: TrainDevice>(self, dev: D) -> Result<Self::Output> {
        let (c, d) = (self.config, self.data);
        let net = N::try_build(&dev)?;
        let ks = [1, c.knn_k];
        let knn = try_knn(
            &net,
            &dev,
            &d.train,
            &d.test,
            d.size,
            &ks,
            c.knn_temperature,
        )?;
        let linear = if c.linear_probe {
            let probe = LinearProbeConfig {
                epochs: c.linear_epochs,
                seed: c.seed,
                ..LinearProbeConfig::default()
            };
            Some(try_linear_probe(
                &net, &dev, &d.train, &d.test, d.size, &probe,
            )?)
        } else {
            None
        };
        let scores = RandomInitScores {
            knn1_top1: knn[0].top1 * 100.0,
            knn_top1: knn[1].top1 * 100.0,
            linear_top1: linear.as_ref().map(|s| s.top1 * 100.0),
        };
        Ok((scores, linear))
    }
}

/// k-NN top-1 for k = 1 and k = `config.knn_k` and, when `config.linear_probe` is on, the
/// linear-probe top-1 of the randomly initialised encoder of `config`.
pub fn try_random_init_scores(config: &TrainConfig) -> Result<RandomInitScores> {
    Ok(try_random_init_report(config)?.0)
}

/// [`try_random_init_scores`] with the probe's whole report (train, validation and test
/// accuracy, chosen weight decay), `None` when `config.linear_probe` is off.
pub fn try_random_init_report(
    config: &TrainConfig,
) -> Result<(RandomInitScores, Option<LinearScore>)> {
    let data = try_prepare_data(config)?;
    let (device, seed, encoder, channels) =
        (config.device, config.seed, config.encoder, data.channels);
    let task = RandomInitTask {
        config,
        data: &data,
    };
    try_dispatch(device, seed, encoder, channels, task)
}

/// How a probe was fitted, in words: train and validation top-1, the chosen weight decay and
/// whether L-BFGS converged.
///
/// ```
/// use trainer::eval::{probe_fit, LinearScore};
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
