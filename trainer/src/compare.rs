//! `trainer compare`: GroCo and NT-Xent trained under the same budget, and the random-init
//! encoder, on the same data, encoder and seeds; a table, `compare.json` and a plot. Every method,
//! the random-init encoder included, is scored by k-NN (k = 1 and `knn_k`) and by a linear probe
//! (`linear_epochs` epochs) on frozen features.

use serde_json::json;

use crate::cli::CompareArgs;
use crate::config::{try_resolve, LossKind, TrainConfig};
use crate::error::Result;
use crate::evalcmd::{probe_fit, RandomInitScores};
use crate::linear::LinearScore;
use crate::runlog::{try_create_run_dir, try_write_atomic};
use crate::train::{try_train, RunOptions, Summary};

/// Mean and (sample) standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Runs the comparison.
pub fn try_compare(args: &CompareArgs) -> Result<()> {
    let base = try_resolve(
        args.flags.preset.as_deref(),
        args.flags.config.as_ref(),
        &args.flags.overrides(None),
    )?;
    // The linear probe is part of the comparison (issue 5): always on here.
    let base = TrainConfig {
        linear_probe: true,
        ..base
    };
    let dir = try_create_run_dir(args.out.as_deref(), "compare", &base.dataset)?;
    let mut rows: Vec<(String, Vec<Summary>)> = Vec::new();
    for loss in [LossKind::Groco, LossKind::NtXent] {
        let mut runs = Vec::new();
        for s in 0..args.seeds.max(1) {
            let config = TrainConfig {
                loss,
                seed: base.seed + s as u64,
                ..base.clone()
            };
            let out = dir.join(format!("{}-seed{}", loss.name(), config.seed));
            println!("== {} seed {} ==", loss.name(), config.seed);
            let opts = RunOptions {
                out: Some(out),
                verbose: true,
                ..RunOptions::default()
            };
            runs.push(try_train(&config, &opts)?.summary);
        }
        rows.push((loss.name().to_string(), runs));
    }
    // The random-init encoder is scored on the same (limited) splits as the trained ones.
    let (mut random, mut probes) = (Vec::new(), Vec::new());
    for s in 0..args.seeds.max(1) {
        let config = TrainConfig {
            seed: base.seed + s as u64,
            ..base.clone()
        };
        let (scores, probe) = crate::evalcmd::try_random_init_report(&config)?;
        random.push(scores);
        probes.push(probe);
    }
    print_and_write(&dir, &base, &rows, &random, &probes)
}

fn print_and_write(
    dir: &std::path::Path,
    base: &TrainConfig,
    rows: &[(String, Vec<Summary>)],
    random: &[RandomInitScores],
    probes: &[Option<LinearScore>],
) -> Result<()> {
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
    let doc = json!({"config": base, "seeds": random.len(), "methods": json_rows});
    try_write_atomic(
        &dir.join("compare.json"),
        serde_json::to_string_pretty(&doc)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    crate::plots::try_compare_plot(dir, base.knn_k, rows, random)?;
    println!("comparison directory: {}", dir.display());
    Ok(())
}
