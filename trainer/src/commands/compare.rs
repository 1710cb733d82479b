//! `trainer compare`: GroCo and NT-Xent trained under the same budget, and the random-init
//! encoder, on the same data, encoder and seeds; a table, `compare.json` and a plot. Every method,
//! the random-init encoder included, is scored by k-NN (k = 1 and `knn_k`) and by a linear probe
//! (`linear_epochs` epochs) on frozen features.

use serde_json::json;

use super::cli::CompareArgs;
use crate::config::{try_resolve, LossKind, TrainConfig};
use crate::error::Result;
use crate::eval::linear::LinearScore;
use crate::eval::{probe_fit, RandomInitScores};
use crate::report::runlog::{try_create_run_dir, try_write_atomic};
use crate::report::{mean_std, paired_difference, Summary};
use crate::train::{try_train, RunOptions};

/// The epochs that give the cheaper of two losses the wall time of the dearer one: `epochs`
/// scaled by the ratio of their mean training seconds, and which loss gets them. `None` when the
/// two are within 5 % of each other (the same-epochs runs already match in wall time).
///
/// ```
/// use trainer::commands::compare::same_wall_time;
/// use trainer::config::LossKind;
/// assert_eq!(same_wall_time(40, 300.0, 200.0), Some((LossKind::NtXent, 60)));
/// assert_eq!(same_wall_time(40, 200.0, 300.0), Some((LossKind::Groco, 60)));
/// assert_eq!(same_wall_time(40, 300.0, 295.0), None);
/// ```
pub fn same_wall_time(epochs: usize, groco_s: f64, nt_xent_s: f64) -> Option<(LossKind, usize)> {
    let ratio = groco_s / nt_xent_s;
    if !ratio.is_finite() || (ratio - 1.0).abs() <= 0.05 {
        return None;
    }
    let (cheaper, scale) = if ratio > 1.0 {
        (LossKind::NtXent, ratio)
    } else {
        (LossKind::Groco, 1.0 / ratio)
    };
    Some((cheaper, (epochs as f64 * scale).round() as usize))
}

/// One method of the comparison: a loss trained for some epochs, once per seed.
struct Method {
    name: String,
    loss: LossKind,
    epochs: usize,
    runs: Vec<Summary>,
}

/// Runs `trainer compare`: the device line, then the comparison.
pub fn try_compare_command(args: &CompareArgs) -> Result<()> {
    let base = try_resolve(
        args.flags.preset.as_deref(),
        args.flags.config.as_ref(),
        &args.flags.overrides(None),
    )?;
    super::device::try_print_device(base.device)?;
    try_compare(args, base)
}

/// Runs the comparison of `base` (the resolved configuration of `args`).
pub fn try_compare(args: &CompareArgs, base: TrainConfig) -> Result<()> {
    // The linear probe is part of the comparison: always on here.
    let base = TrainConfig {
        linear_probe: true,
        ..base
    };
    let dir = try_create_run_dir(args.out.as_deref(), "compare", &base.dataset)?;
    let seeds: Vec<u64> = (0..args.seeds.max(1) as u64)
        .map(|s| base.seed + s)
        .collect();
    let train = |loss: LossKind, epochs: usize, tag: &str| -> Result<Vec<Summary>> {
        let mut runs = Vec::new();
        for &seed in &seeds {
            let config = TrainConfig {
                loss,
                epochs,
                seed,
                ..base.clone()
            };
            let out = dir.join(format!("{tag}-seed{seed}"));
            println!("== {tag} seed {seed} ({epochs} epochs) ==");
            let opts = RunOptions {
                out: Some(out),
                verbose: true,
                ..RunOptions::default()
            };
            runs.push(try_train(&config, &opts)?.summary);
        }
        Ok(runs)
    };
    let mut methods = Vec::new();
    for loss in [LossKind::Groco, LossKind::NtXent] {
        methods.push(Method {
            name: loss.name().to_string(),
            loss,
            epochs: base.epochs,
            runs: train(loss, base.epochs, loss.name())?,
        });
    }
    // Same wall time: the loss with the cheaper step trains more epochs, as many as the two
    // losses' mean training seconds say it takes to spend the dearer one's time.
    let seconds = |m: &Method| mean_std(&m.runs.iter().map(|s| s.seconds).collect::<Vec<_>>()).0;
    let matched = same_wall_time(base.epochs, seconds(&methods[0]), seconds(&methods[1]));
    if let (false, Some((loss, epochs))) = (args.same_epochs_only, matched) {
        let tag = format!("{}-{epochs}ep", loss.name());
        methods.push(Method {
            name: format!("{} ({epochs} epochs, same wall time)", loss.name()),
            loss,
            epochs,
            runs: train(loss, epochs, &tag)?,
        });
    }
    // The random-init encoder is scored on the same (limited) splits as the trained ones.
    let (mut random, mut probes) = (Vec::new(), Vec::new());
    for &seed in &seeds {
        let config = TrainConfig {
            seed,
            ..base.clone()
        };
        let (scores, probe) = crate::eval::try_random_init_report(&config)?;
        random.push(scores);
        probes.push(probe);
    }
    print_and_write(&dir, &base, &methods, &random, &probes)
}

fn print_and_write(
    dir: &std::path::Path,
    base: &TrainConfig,
    methods: &[Method],
    random: &[RandomInitScores],
    probes: &[Option<LinearScore>],
) -> Result<()> {
    let rows: Vec<(String, Vec<Summary>)> = methods
        .iter()
        .map(|m| (m.name.clone(), m.runs.clone()))
        .collect();
    let rows = &rows[..];
    let fmt = |v: &[f64]| {
        let (m, s) = mean_std(v);
        if v.len() > 1 {
            format!("{m:.2} ± {s:.2}")
        } else {
            format!("{m:.2}")
        }
    };
    // Mean and sample standard deviation over the seeds (null where a value is missing).
    let stats = |v: &[f64]| {
        let (mean, std) = mean_std(v);
        json!({"mean": mean, "std": std})
    };
    println!(
        "\n| method | k-NN top-1 k=1 (%) | k-NN top-1 k={} (%) | linear top-1 (%) | wall (s) | images/s |",
        base.knn_k
    );
    println!("|---|---|---|---|---|---|");
    let mut json_rows = Vec::new();
    for (name, runs) in rows {
        let pick = |f: fn(&Summary) -> f64| runs.iter().map(f).collect::<Vec<_>>();
        let linear = pick(|s| s.linear_top1.unwrap_or(f64::NAN));
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            fmt(&pick(|s| s.knn1_top1)),
            fmt(&pick(|s| s.knn_top1)),
            if linear.iter().all(|v| v.is_nan()) {
                "-".into()
            } else {
                fmt(&linear)
            },
            fmt(&pick(|s| s.seconds)),
            fmt(&pick(|s| s.images_per_second)),
        );
        json_rows.push(json!({
            "method": name, "runs": runs,
            "knn1_top1": stats(&pick(|s| s.knn1_top1)), "knn_top1": stats(&pick(|s| s.knn_top1)),
            "linear_top1": stats(&linear), "seconds": stats(&pick(|s| s.seconds)),
            "images_per_second": stats(&pick(|s| s.images_per_second)),
        }));
    }
    let r1: Vec<f64> = random.iter().map(|r| r.knn1_top1).collect();
    let rk: Vec<f64> = random.iter().map(|r| r.knn_top1).collect();
    let rl: Vec<f64> = random.iter().filter_map(|r| r.linear_top1).collect();
    let rl_cell = if rl.is_empty() { "-".into() } else { fmt(&rl) };
    println!(
        "| random-init | {} | {} | {rl_cell} | - | - |",
        fmt(&r1),
        fmt(&rk)
    );
    // The random-init probes' fits (train and validation top-1, weight decay), one per seed.
    let seeds = (0..random.len()).map(|s| base.seed + s as u64);
    for (seed, probe) in seeds.clone().zip(probes) {
        if let Some(p) = probe {
            println!("random-init seed {seed} linear probe fit: {}", probe_fit(p));
        }
    }
    let random_runs: Vec<_> = seeds
        .zip(random)
        .zip(probes)
        .map(|((seed, r), probe)| {
            json!({"seed": seed, "knn1_top1": r.knn1_top1, "knn_top1": r.knn_top1,
                   "linear_top1": r.linear_top1, "linear_probe": probe})
        })
        .collect();
    json_rows.push(json!({
        "method": "random-init", "runs": random_runs,
        "knn1_top1": stats(&r1), "knn_top1": stats(&rk), "linear_top1": stats(&rl),
    }));
    let paired = paired_rows(methods);
    if !paired.is_empty() {
        println!(
            "\n| GroCo − NT-Xent, paired by seed (mean ± standard error) | k-NN top-1 k={} | linear top-1 |",
            base.knn_k
        );
        println!("|---|---|---|");
    }
    let mut json_paired = Vec::new();
    for (label, groco, nt) in &paired {
        let metric = |f: fn(&Summary) -> f64| {
            let (a, b): (Vec<f64>, Vec<f64>) = groco
                .runs
                .iter()
                .zip(&nt.runs)
                .map(|(g, n)| (f(g), f(n)))
                .unzip();
            let (mean, se) = paired_difference(&a, &b);
            let diffs: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            (mean, se, diffs)
        };
        let knn = metric(|s| s.knn_top1);
        let linear = metric(|s| s.linear_top1.unwrap_or(f64::NAN));
        let cell = |(m, se, _): &(f64, f64, Vec<f64>)| {
            if se.is_nan() {
                format!("{m:+.2}")
            } else {
                format!("{m:+.2} ± {se:.2}")
            }
        };
        println!("| {label} | {} | {} |", cell(&knn), cell(&linear));
        json_paired.push(json!({
            "pairing": label, "groco_epochs": groco.epochs, "nt_xent_epochs": nt.epochs,
            "knn_top1": {"mean": knn.0, "se": knn.1, "per_seed": knn.2},
            "linear_top1": {"mean": linear.0, "se": linear.1, "per_seed": linear.2},
        }));
    }
    let doc =
        json!({"config": base, "seeds": random.len(), "methods": json_rows, "paired": json_paired});
    try_write_atomic(
        &dir.join("compare.json"),
        serde_json::to_string_pretty(&doc)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    crate::report::plots::try_compare_plot(dir, base.knn_k, rows, random)?;
    println!("comparison directory: {}", dir.display());
    Ok(())
}

/// The pairs the comparison reports: GroCo and NT-Xent at the same epochs, and, when a
/// same-wall-time method ran, GroCo against NT-Xent at the same wall time.
fn paired_rows(methods: &[Method]) -> Vec<(String, &Method, &Method)> {
    let find = |loss, epochs| {
        methods
            .iter()
            .find(|m| m.loss == loss && m.epochs == epochs)
    };
    let mut pairs = Vec::new();
    let (Some(groco), Some(nt)) = (methods.first(), methods.get(1)) else {
        return pairs;
    };
    pairs.push((format!("same epochs ({} each)", groco.epochs), groco, nt));
    if let Some(extra) = methods.get(2) {
        let (g, n) = match extra.loss {
            LossKind::NtXent => (groco, extra),
            LossKind::Groco => (extra, nt),
        };
        if let (Some(g), Some(n)) = (
            find(LossKind::Groco, g.epochs),
            find(LossKind::NtXent, n.epochs),
        ) {
            pairs.push((
                format!(
                    "same wall time (GroCo {} epochs, NT-Xent {})",
                    g.epochs, n.epochs
                ),
                g,
                n,
            ));
        }
    }
    pairs
}
