//! Linear probing: a multinomial logistic regression on frozen, eval-mode encoder features, its
//! L2 weight decay chosen on a validation split, solved to convergence by full-batch L-BFGS.
//!
//! # Protocol
//!
//! 1. **Standardise.** Feature j becomes x̃ⱼ = (xⱼ − μⱼ)/σⱼ, with the mean μⱼ and population
//!    standard deviation σⱼ of the *whole training split*, on train, validation and test rows
//!    alike. A feature constant on the training split (σⱼ = 0, or σⱼ ≤ 1e-7·|μⱼ|, f32 rounding;
//!    e.g. an always-black border pixel) carries nothing to learn from and is set to 0.
//! 2. **Validation split.** Stratified and seeded: each class's training rows are shuffled by a
//!    ChaCha8 RNG seeded with `seed` (classes in label order) and the first
//!    round(`val_fraction` · n꜀) of them, at most n꜀ − 1, are held out.
//! 3. **Choose λ.** For each weight decay in `weight_decays`, largest first, the classifier is
//!    fitted on the other rows (warm-started from the previous λ's solution: a regularisation
//!    path) and scored on the held-out rows. The best validation top-1 wins; ties go to the lower
//!    validation cross-entropy, then to the larger λ. Without validation rows (or grid),
//!    `weight_decay` is used.
//! 4. **Refit** on the *whole* training split with the chosen λ, warm-started from its validation
//!    fit. That refit, not the validation-split model, is the probe; its train and test accuracy
//!    are reported with the validation top-1 that chose λ.
//!
//! # Objective and solver
//!
//! With logits zᵢ = W x̃ᵢ + b (W is K × d, b has K entries) and pᵢ = softmax(zᵢ), a fit minimises
//!
//! L(W, b) = (1/n) Σᵢ [ln Σ꜀ exp(zᵢ꜀) − zᵢ,yᵢ] + (λ/2)‖W‖²  (the bias is not decayed), with
//! ∇_W L = (1/n) Σᵢ (pᵢ − e_yᵢ) x̃ᵢᵀ + λW and ∇_b L = (1/n) Σᵢ (pᵢ − e_yᵢ).
//!
//! L is convex (strictly in W when λ > 0). Full-batch L-BFGS minimises it from W = 0, b = 0: the
//! last m = 10 pairs (s, y) = (Δθ, Δ∇L) with sᵀy > 1e-10·yᵀy give the direction by the two-loop
//! recursion with initial inverse Hessian (sᵀy / yᵀy)·I; the first direction is −∇L scaled to
//! unit length. A backtracking line search from step 1 halves the step until
//! L(θ + t·dir) ≤ L(θ) + 1e-4·t·∇Lᵀdir (at most 20 halvings). A fit stops at the first of:
//! ‖∇L‖∞ ≤ `tolerance` (1e-4 by default, scikit-learn's for this solver); a relative decrease
//! (L_prev − L)/max(|L|, 1) ≤ 1e-9 or a failed line search (L is converged as far as f32
//! logits resolve it); these three count as converged; or `epochs` iterations (not converged).
//!
//! **Determinism and cost.** L and ∇L are sums over fixed blocks of 128 rows (f32 dot products, f64 softmax) added in block
//! order in f64: bit-identical for given inputs and seed on any number of cores. An iteration
//! costs about one pass over the rows (4·n·d·K flops); on the raw pixels of MNIST-5k (4000 × 784)
//! the whole protocol takes about 300 passes, a few seconds on 2 cores.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::features::try_features;
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::model::Net;
use crate::model::TrainDevice;

/// The default grid of L2 weight decays λ, largest first.
pub const WEIGHT_DECAYS: [f64; 7] = [1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 0.0];

/// Settings of the probe (defaults: 100 iterations, [`WEIGHT_DECAYS`], 20 % held out).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearProbeConfig {
    /// Most L-BFGS iterations per fit (each about one full pass over the training rows).
    pub epochs: usize,
    /// Ignored: L-BFGS picks its steps by line search. Kept so older callers still build.
    pub lr: f64,
    /// The weight decay used when none can be chosen (no validation rows or an empty grid).
    pub weight_decay: f64,
    /// The weight decays λ tried on the validation split.
    pub weight_decays: &'static [f64],
    /// Share of each class's training rows held out to choose λ, in [0, 1).
    pub val_fraction: f64,
    /// A fit has converged when no gradient entry exceeds this in magnitude.
    pub tolerance: f64,
    /// Seed of the validation split.
    pub seed: u64,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        LinearProbeConfig {
            epochs: 100,
            lr: 0.1,
            weight_decay: 1e-4,
            weight_decays: &WEIGHT_DECAYS,
            val_fraction: 0.2,
            tolerance: 1e-4,
            seed: 0,
        }
    }
}

/// What a probe reports; `top1`, `top5` and `queries` are on the test split. Fields missing
/// from a serialised record (one written before they existed) read as their defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LinearScore {
    /// Test top-1 accuracy in [0, 1].
    pub top1: f64,
    /// Test top-5 accuracy in [0, 1].
    pub top5: f64,
    /// Test images scored.
    pub queries: usize,
    /// Top-1 accuracy of the probe on the whole training split, in [0, 1].
    pub train_top1: f64,
    /// Validation top-1 at the chosen weight decay (`None` without a validation split).
    pub val_top1: Option<f64>,
    /// Validation images.
    pub val_queries: usize,
    /// The chosen L2 weight decay λ.
    pub weight_decay: f64,
    /// L-BFGS iterations of the final fit.
    pub iterations: usize,
    /// Whether the final fit met a convergence criterion within `epochs` iterations.
    pub converged: bool,
}

/// A fitted probe: the training split's standardisation, the classifier and its fit report.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearProbe {
    /// Per-feature training mean μ.
    pub mean: Vec<f32>,
    /// Per-feature 1/σ (0 for a feature constant on the training split).
    pub inv_std: Vec<f32>,
    /// θ = (W, `classes × dim` row-major, acting on standardised features; then b).
    pub theta: Vec<f64>,
    /// Training and validation figures; the test fields are 0 (see [`LinearProbe::try_score`]).
    pub report: LinearScore,
}

impl LinearProbe {
    /// The report with the top-1 and top-5 accuracy on rows `x` (raw features) labelled `y`.
    pub fn try_score(&self, x: &[f32], y: &[u16]) -> Result<LinearScore> {
        let (d, k) = (self.mean.len(), self.theta.len() / (self.mean.len() + 1));
        try_check(x, y, d, k, "linear probe test features")?;
        let xs = standardise(x, &self.mean, &self.inv_std);
        let mut score = self.report;
        [_, score.top1, score.top5] = Problem(&xs, y, d, k, 1).scores(&self.theta);
        score.queries = y.len();
        Ok(score)
    }
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

/// [`try_fit`] on `(xtr, ytr)`, scored on `(xte, yte)`; rows of `dim` features.
///
/// ```
/// use trainer::eval::linear::{try_fit_and_score, LinearProbeConfig};
/// let cfg = LinearProbeConfig::default();
/// // The class is the sign of the one feature.
/// let (x, y) = ([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0], [0, 0, 0, 1, 1, 1]);
/// let s = try_fit_and_score(&x, &y, &[-3.0, 3.0], &[0, 1], 1, 2, &cfg).unwrap();
/// assert_eq!((s.top1, s.queries, s.train_top1, s.val_queries), (1.0, 2, 1.0, 2));
/// let e = try_fit_and_score(&x, &y, &[f32::NAN], &[0], 1, 2, &cfg).unwrap_err();
/// assert_eq!(e.to_string(), "linear probe test features: row 0 holds a NaN or infinite value");
/// ```
pub fn try_fit_and_score(
    xtr: &[f32],
    ytr: &[u16],
    xte: &[f32],
    yte: &[u16],
    dim: usize,
    classes: usize,
    cfg: &LinearProbeConfig,
) -> Result<LinearScore> {
    try_check(xte, yte, dim, classes, "linear probe test features")?;
    try_fit(xtr, ytr, dim, classes, cfg)?.try_score(xte, yte)
}

/// Fits the probe (see the module doc) on rows `x` of `dim` raw features, labels `y` < `classes`.
pub fn try_fit(
    x: &[f32],
    y: &[u16],
    dim: usize,
    classes: usize,
    cfg: &LinearProbeConfig,
) -> Result<LinearProbe> {
    try_check(x, y, dim, classes, "linear probe train features")?;
    try_settings(cfg, y.len())?;
    let (mean, inv_std) = standardisation(x, dim);
    let xs = standardise(x, &mean, &inv_std);
    let (mut report, mut theta) = (LinearScore::default(), vec![0.0; classes * (dim + 1)]);
    let (fit_rows, val_rows) = stratified_split(y, classes, cfg.val_fraction, cfg.seed);
    let pick = |rows: &[usize]| -> (Vec<f32>, Vec<u16>) {
        let xr = rows.iter().flat_map(|&i| &xs[i * dim..(i + 1) * dim]);
        (xr.copied().collect(), rows.iter().map(|&i| y[i]).collect())
    };
    let ((xf, yf), (xv, yv)) = (pick(&fit_rows), pick(&val_rows));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fit = Problem(&xf, &yf, dim, classes, cores);
    let val = Problem(&xv, &yv, dim, classes, 1);
    // (top-1, cross-entropy, λ, θ) of the best λ so far.
    let mut best: Option<(f64, f64, f64, Vec<f64>)> = None;
    for &lambda in cfg.weight_decays.iter().filter(|_| !yv.is_empty()) {
        fit.minimise(&mut theta, lambda, cfg);
        let [ce, top1, _] = val.scores(&theta);
        let better = best.as_ref().is_none_or(|b| {
            top1 > b.0 || (top1 == b.0 && (ce < b.1 || (ce == b.1 && lambda > b.2)))
        });
        if better {
            best = Some((top1, ce, lambda, theta.clone()));
        }
    }
    report.weight_decay = cfg.weight_decay;
    if let Some((top1, _, lambda, best_theta)) = best {
        (report.val_top1, report.val_queries, report.weight_decay) = (Some(top1), yv.len(), lambda);
        theta = best_theta;
    }
    let all = Problem(&xs, y, dim, classes, cores);
    (report.iterations, report.converged) = all.minimise(&mut theta, report.weight_decay, cfg);
    report.train_top1 = all.scores(&theta)[1];
    Ok(LinearProbe {
        mean,
        inv_std,
        theta,
        report,
    })
}

/// Checks the settings of a fit on `rows` training rows.
fn try_settings(cfg: &LinearProbeConfig, rows: usize) -> Result<()> {
    let mut decays = cfg.weight_decays.iter().chain([&cfg.weight_decay]);
    let (part, tol) = (cfg.val_fraction, cfg.tolerance);
    let (field, value, rule) = if let Some(&l) = decays.find(|l| !(l.is_finite() && **l >= 0.0)) {
        ("linear probe weight decay", l, "must be finite and >= 0")
    } else if rows == 0 || cfg.epochs == 0 {
        let field = ["linear probe epochs", "linear probe training rows"][usize::from(rows == 0)];
        (field, 0.0, "must be at least 1")
    } else if !(0.0..1.0).contains(&part) {
        ("linear probe val_fraction", part, "must be in [0, 1)")
    } else if tol.is_nan() || tol < 0.0 {
        ("linear probe tolerance", tol, "must be >= 0")
    } else {
        return Ok(());
    };
    Err(Error::config(field, value, rule))
}

/// Checks that `x` holds `y.len()` finite rows of `dim` and that labels are below `classes`.
fn try_check(x: &[f32], y: &[u16], dim: usize, classes: usize, what: &'static str) -> Result<()> {
    if dim == 0 || x.len() != y.len() * dim {
        return Err(Error::ShapeMismatch {
            what,
            expected: format!("{} rows of {dim} > 0 values", y.len()),
            found: format!("{} values", x.len()),
        });
    }
    if let Some(i) = y.iter().position(|&l| l as usize >= classes) {
        let reason = format!("labels of {what} must be below {classes}; row {i} has it");
        return Err(Error::config("label", y[i], reason));
    }
    match x.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::NonFinite { what, row: i / dim }),
        None => Ok(()),
    }
}

/// Per-feature training mean and 1/σ (0 where the feature is constant), in f64, two passes.
fn standardisation(x: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = (x.len() / dim) as f64;
    let (mut mean, mut var) = (vec![0.0f64; dim], vec![0.0f64; dim]);
    for row in x.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64 / n;
        }
    }
    for row in x.chunks_exact(dim) {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (v as f64 - m).powi(2) / n;
        }
    }
    let inv = |(s, m): (&f64, &f64)| match s.sqrt() {
        sd if sd > 0.0 && sd > 1e-7 * m.abs() => (1.0 / sd) as f32,
        _ => 0.0,
    };
    let inv_std = var.iter().zip(&mean).map(inv).collect();
    (mean.iter().map(|&m| m as f32).collect(), inv_std)
}

/// (x − μ)/σ per feature (0 for constant features).
fn standardise(x: &[f32], mean: &[f32], inv_std: &[f32]) -> Vec<f32> {
    let rows = x.chunks_exact(mean.len());
    let pairs = rows.flat_map(|r| r.iter().zip(mean).zip(inv_std));
    pairs.map(|((&v, &m), &s)| (v - m) * s).collect()
}

/// Row indices of (fit, validation), stratified by class and seeded.
fn stratified_split(y: &[u16], classes: usize, part: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut held = vec![false; y.len()];
    for c in 0..classes {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] as usize == c).collect();
        rows.shuffle(&mut rng);
        let take = (part * rows.len() as f64).round() as usize;
        for &i in &rows[..take.min(rows.len().saturating_sub(1))] {
            held[i] = true;
        }
    }
    (0..y.len()).partition(|&i| !held[i])
}

/// Σ aᵢbᵢ in eight fixed lanes (vectorisable; the order does not depend on the caller).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (mut acc, mut tail) = ([0.0f32; 8], 0.0);
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// y += a·x.
fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    y.iter_mut().zip(x).for_each(|(yi, xi)| *yi += a * xi);
}

/// Rows per block of the loss and gradient sums.
const BLOCK: usize = 128;

/// Standardised rows, their labels, dim, classes and the threads the sums are spread over.
struct Problem<'a>(&'a [f32], &'a [u16], usize, usize, usize);

impl Problem<'_> {
    /// [mean cross-entropy, top-1, top-5] of θ, without decay.
    fn scores(&self, theta: &[f64]) -> [f64; 3] {
        self.loss_grad(theta, 0.0, &mut vec![0.0; theta.len()])
    }

    /// Adds row block `j`'s Σ (pᵢ − e_yᵢ)(x̃ᵢ, 1) to `g` (W part, then b) and returns its
    /// [Σ cross-entropy, top-1 hits, top-5 hits]; ties rank the lower class first.
    fn block(&self, j: usize, w: &[f32], b: &[f64], g: &mut [f32]) -> [f64; 3] {
        let Problem(x, y, d, k, _) = *self;
        let rows = j * BLOCK..((j + 1) * BLOCK).min(y.len());
        let (mut z, mut sums) = (vec![0.0f64; k], [0.0; 3]);
        let rows_x = x[rows.start * d..rows.end * d].chunks_exact(d);
        for (row, t) in rows_x.zip(y[rows].iter().map(|&label| label as usize)) {
            for ((zc, wc), &bc) in z.iter_mut().zip(w.chunks_exact(d)).zip(b) {
                *zc = bc + dot(wc, row) as f64;
            }
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            let ahead = |&c: &usize| z[c] > z[t] || (z[c] == z[t] && c < t);
            let rank = (0..k).filter(ahead).count();
            sums[0] += lse - z[t];
            sums[1] += f64::from(u8::from(rank == 0));
            sums[2] += f64::from(u8::from(rank < 5));
            for (c, &zc) in z.iter().enumerate() {
                let r = ((zc - lse).exp() - f64::from(u8::from(c == t))) as f32;
                g[k * d + c] += r;
                for (gi, &xi) in g[c * d..(c + 1) * d].iter_mut().zip(row) {
                    *gi += r * xi;
                }
            }
        }
        sums
    }

    /// [L(θ), top-1, top-5], writing ∇L(θ) into `grad`; θ = (W row-major, b).
    fn loss_grad(&self, theta: &[f64], lambda: f64, grad: &mut [f64]) -> [f64; 3] {
        let Problem(_, y, d, k, threads) = *self;
        let (kd, width, blocks) = (k * d, theta.len(), y.len().div_ceil(BLOCK));
        let w: Vec<f32> = theta[..kd].iter().map(|&v| v as f32).collect();
        let (mut partial, mut sums) = (vec![0.0f32; blocks * width], vec![[0.0; 3]; blocks]);
        // Each thread sums a run of `per` blocks, each into its own slot.
        let per = blocks.div_ceil(threads.max(1)).max(1);
        let runs = partial.chunks_mut(per * width).zip(sums.chunks_mut(per));
        std::thread::scope(|s| {
            for (r, (g, l)) in runs.enumerate() {
                let (w, b) = (&w, &theta[kd..]);
                s.spawn(move || {
                    for (i, (g, l)) in g.chunks_mut(width).zip(l).enumerate() {
                        *l = self.block(r * per + i, w, b, g);
                    }
                });
            }
        });
        let n = y.len().max(1) as f64;
        grad.fill(0.0);
        for g in partial.chunks_exact(width) {
            grad.iter_mut()
                .zip(g)
                .for_each(|(a, &v)| *a += v as f64 / n);
        }
        axpy(&mut grad[..kd], lambda, &theta[..kd]);
        let total = |i: usize| sums.iter().map(|s| s[i]).sum::<f64>() / n;
        let decay = 0.5 * lambda * dot64(&theta[..kd], &theta[..kd]);
        [total(0) + decay, total(1), total(2)]
    }

    /// L-BFGS from `theta` (see the module doc); returns (iterations, converged).
    fn minimise(&self, theta: &mut [f64], lambda: f64, cfg: &LinearProbeConfig) -> (usize, bool) {
        let mut g = vec![0.0; theta.len()];
        let (mut g_new, mut trial) = (g.clone(), g.clone());
        let mut f = self.loss_grad(theta, lambda, &mut g)[0];
        // (s, y, 1/sᵀy), oldest first.
        let mut history: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
        let small = |g: &[f64]| g.iter().all(|v| v.abs() <= cfg.tolerance);
        for it in 0..cfg.epochs {
            if small(&g) {
                return (it, true);
            }
            // Two-loop recursion: dir = −H·g.
            let mut dir: Vec<f64> = g.iter().map(|v| -v).collect();
            let mut alphas = vec![0.0; history.len()];
            for ((s, y, rho), a) in history.iter().zip(&mut alphas).rev() {
                *a = rho * dot64(s, &dir);
                axpy(&mut dir, -*a, y);
            }
            let gamma = match history.last() {
                Some((_, y, rho)) => 1.0 / (rho * dot64(y, y)),
                None => 1.0 / dot64(&g, &g).sqrt(),
            };
            dir.iter_mut().for_each(|d| *d *= gamma);
            for ((s, y, rho), a) in history.iter().zip(&alphas) {
                let beta = rho * dot64(y, &dir);
                axpy(&mut dir, a - beta, s);
            }
            let slope = dot64(&g, &dir);
            let (mut step, mut accepted) = (1.0, None);
            while accepted.is_none() && slope < 0.0 && step >= 0.5f64.powi(20) {
                trial.copy_from_slice(theta);
                axpy(&mut trial, step, &dir);
                let f_new = self.loss_grad(&trial, lambda, &mut g_new)[0];
                match f_new <= f + 1e-4 * step * slope {
                    true => accepted = Some(f_new),
                    false => step *= 0.5,
                }
            }
            let Some(f_new) = accepted else {
                return (it, true);
            };
            let s: Vec<f64> = dir.iter().map(|d| step * d).collect();
            let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
            let sy = dot64(&s, &y);
            if sy > 1e-10 * dot64(&y, &y) {
                history.push((s, y, 1.0 / sy));
                history.drain(..history.len().saturating_sub(10));
            }
            theta.copy_from_slice(&trial);
            std::mem::swap(&mut g, &mut g_new);
            let decrease = f - f_new;
            f = f_new;
            if decrease <= 1e-9 * f.abs().max(1.0) {
                return (it + 1, true);
            }
        }
        (cfg.epochs, small(&g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_central_differences_on_any_thread_count() {
        let x = [0.5f32, -1.0, 2.0, 0.0, -0.5, 1.5, 1.0, 1.0, -2.0];
        let problem = Problem(&x, &[0, 2, 1], 3, 3, 1);
        let theta: Vec<f64> = (0..12).map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.1).collect();
        let (mut g, mut scratch) = (vec![0.0; 12], vec![0.0; 12]);
        problem.loss_grad(&theta, 0.3, &mut g);
        for i in 0..12 {
            let mut t = theta.clone();
            t[i] += 1e-3;
            let up = problem.loss_grad(&t, 0.3, &mut scratch)[0];
            t[i] -= 2e-3;
            let numeric = (up - problem.loss_grad(&t, 0.3, &mut scratch)[0]) / 2e-3;
            let msg = format!("θ[{i}]: {numeric} vs {}", g[i]);
            assert!((numeric - g[i]).abs() < 1e-4, "{msg}");
        }
        // 300 rows: three blocks, on 1, 2 or 3 threads, with bit-identical sums.
        let (x, y): (Vec<f32>, _) = ((0..900).map(|i| (i % 7) as f32).collect(), [1; 300]);
        let run = |threads, g: &mut [f64]| Problem(&x, &y, 3, 3, threads).loss_grad(&theta, 0.3, g);
        let one = run(1, &mut g).map(f64::to_bits);
        for threads in [2, 3] {
            let other = run(threads, &mut scratch).map(f64::to_bits);
            assert_eq!((one, &g), (other, &scratch), "{threads} threads");
        }
    }
}
