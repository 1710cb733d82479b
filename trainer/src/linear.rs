//! Linear probing: a softmax classifier trained on frozen, eval-mode encoder features.
//!
//! Features are computed once and cached in memory, standardised with the training split's
//! per-dimension mean and standard deviation, and a linear layer W·f + b is trained with
//! mini-batch SGD (momentum 0.9) on the cross-entropy, with a cosine learning-rate schedule.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::eval::try_features;
use crate::losses::TrainDevice;
use crate::model::Net;
use crate::schedule::CosineSchedule;

/// Settings of the probe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearProbeConfig {
    /// Passes over the training features.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Seed of the mini-batch order.
    pub seed: u64,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        LinearProbeConfig {
            epochs: 100,
            lr: 0.1,
            batch_size: 256,
            weight_decay: 0.0,
            seed: 0,
        }
    }
}

/// Accuracy of a probe on the test split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearScore {
    /// Top-1 accuracy in [0, 1].
    pub top1: f64,
    /// Top-5 accuracy in [0, 1].
    pub top5: f64,
    /// Test images scored.
    pub queries: usize,
}

/// Features of `net` on both splits, then [`try_fit_and_score`].
pub fn try_linear_probe<N: Net<D>, D: TrainDevice>(
    net: &N,
    dev: &D,
    train: &ImageSet,
    test: &ImageSet,
    size: usize,
    cfg: &LinearProbeConfig,
) -> Result<LinearScore> {
    let (xtr, dim) = try_features(net, dev, train, size)?;
    let (xte, _) = try_features(net, dev, test, size)?;
    let classes = train.num_classes().max(test.num_classes());
    try_fit_and_score(&xtr, train.labels(), &xte, test.labels(), dim, classes, cfg)
}

/// Trains the probe on `(xtr, ytr)` and scores it on `(xte, yte)`; rows of `dim` features.
pub fn try_fit_and_score(
    xtr: &[f32],
    ytr: &[u16],
    xte: &[f32],
    yte: &[u16],
    dim: usize,
    classes: usize,
    cfg: &LinearProbeConfig,
) -> Result<LinearScore> {
    let n = ytr.len();
    if dim == 0 || xtr.len() != n * dim || xte.len() != yte.len() * dim || n == 0 {
        return Err(Error::ShapeMismatch {
            what: "linear probe features",
            expected: format!("{n} + {} rows of {dim}", yte.len()),
            found: format!("{} + {} values", xtr.len(), xte.len()),
        });
    }
    if let Some(i) = ytr.iter().chain(yte).position(|&y| y as usize >= classes) {
        return Err(Error::config(
            "label",
            i,
            format!("labels must be below {classes}"),
        ));
    }
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.lr.is_nan() || cfg.lr <= 0.0 {
        return Err(Error::config(
            "linear probe",
            cfg.epochs,
            "epochs, batch size and lr must be > 0",
        ));
    }
    // Standardise with the training statistics.
    let mut mean = vec![0.0f64; dim];
    let mut var = vec![0.0f64; dim];
    for row in xtr.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for row in xtr.chunks_exact(dim) {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (v as f64 - m).powi(2);
        }
    }
    let inv_std: Vec<f32> = var
        .iter()
        .map(|s| (1.0 / (s / n as f64 + 1e-6).sqrt()) as f32)
        .collect();
    let standardise = |x: &[f32]| -> Vec<f32> {
        x.chunks_exact(dim)
            .flat_map(|row| {
                row.iter()
                    .zip(&mean)
                    .zip(&inv_std)
                    .map(|((&v, &m), &s)| (v - m as f32) * s)
            })
            .collect()
    };
    let (xtr, xte) = (standardise(xtr), standardise(xte));

    let mut w = vec![0.0f32; classes * dim];
    let mut b = vec![0.0f32; classes];
    let mut mw = vec![0.0f32; classes * dim];
    let mut mb = vec![0.0f32; classes];
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    let schedule = CosineSchedule::new(cfg.lr, 0, cfg.epochs * steps_per_epoch);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut logits = vec![0.0f32; classes];
    let mut step = 0;
    for _ in 0..cfg.epochs {
        order.shuffle(&mut rng);
        for batch in order.chunks(cfg.batch_size) {
            let mut gw = vec![0.0f32; classes * dim];
            let mut gb = vec![0.0f32; classes];
            for &i in batch {
                let x = &xtr[i * dim..(i + 1) * dim];
                softmax_into(&w, &b, x, &mut logits);
                logits[ytr[i] as usize] -= 1.0;
                for (c, &g) in logits.iter().enumerate() {
                    gb[c] += g;
                    for (gwi, &xi) in gw[c * dim..(c + 1) * dim].iter_mut().zip(x) {
                        *gwi += g * xi;
                    }
                }
            }
            let lr = schedule.lr(step) as f32;
            let scale = 1.0 / batch.len() as f32;
            let wd = cfg.weight_decay as f32;
            for ((wi, mi), gi) in w.iter_mut().zip(&mut mw).zip(&gw) {
                *mi = 0.9 * *mi + gi * scale + wd * *wi;
                *wi -= lr * *mi;
            }
            for ((bi, mi), gi) in b.iter_mut().zip(&mut mb).zip(&gb) {
                *mi = 0.9 * *mi + gi * scale;
                *bi -= lr * *mi;
            }
            step += 1;
        }
    }
    let (mut top1, mut top5) = (0usize, 0usize);
    for (i, &y) in yte.iter().enumerate() {
        softmax_into(&w, &b, &xte[i * dim..(i + 1) * dim], &mut logits);
        let target = logits[y as usize];
        let better = logits.iter().filter(|&&l| l > target).count();
        top1 += usize::from(better == 0);
        top5 += usize::from(better < 5);
    }
    let q = yte.len().max(1) as f64;
    Ok(LinearScore {
        top1: top1 as f64 / q,
        top5: top5 as f64 / q,
        queries: yte.len(),
    })
}

/// Softmax probabilities of W·x + b into `out`.
fn softmax_into(w: &[f32], b: &[f32], x: &[f32], out: &mut [f32]) {
    let dim = x.len();
    for (c, o) in out.iter_mut().enumerate() {
        *o = b[c]
            + w[c * dim..(c + 1) * dim]
                .iter()
                .zip(x)
                .map(|(a, b)| a * b)
                .sum::<f32>();
    }
    let max = out.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for o in out.iter_mut() {
        *o = (*o - max).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two Gaussian blobs per class in 2-D that a linear classifier separates.
    #[test]
    fn separable_classes_are_learned_and_shuffled_labels_are_not() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let centres = [[3.0f32, 0.0], [-3.0, 0.0], [0.0, 3.0]];
        let mut make = |n: usize| {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for i in 0..n {
                let c = i % 3;
                use rand::Rng;
                x.push(centres[c][0] + rng.gen_range(-1.0..1.0));
                x.push(centres[c][1] + rng.gen_range(-1.0..1.0));
                y.push(c as u16);
            }
            (x, y)
        };
        let (xtr, ytr) = make(300);
        let (xte, yte) = make(90);
        let cfg = LinearProbeConfig {
            epochs: 20,
            ..Default::default()
        };
        let s = try_fit_and_score(&xtr, &ytr, &xte, &yte, 2, 3, &cfg).unwrap();
        assert!(s.top1 > 0.95, "{s:?}");
        let mut shuffled = yte.clone();
        shuffled.rotate_left(1);
        let s = try_fit_and_score(&xtr, &ytr, &xte, &shuffled, 2, 3, &cfg).unwrap();
        assert!(s.top1 < 0.5, "{s:?}");
    }

    #[test]
    fn bad_shapes_and_labels_are_errors() {
        let cfg = LinearProbeConfig::default();
        assert!(try_fit_and_score(&[1.0; 3], &[0, 1], &[1.0; 2], &[0], 2, 2, &cfg).is_err());
        assert!(try_fit_and_score(&[1.0; 4], &[0, 5], &[1.0; 2], &[0], 2, 2, &cfg).is_err());
    }
}
