//! The plots: written as PNG and SVG with something drawn, bad input named, the PCA axes right.

use std::path::Path;

use super::super::summary::Summary;
use super::chart::*;
use super::compare::*;
use super::pca::*;
use super::run::*;
use crate::error::Error;
use crate::eval::RandomInitScores;

/// Asserts `dir/stem.png` is a 960×600 PNG with something drawn and `dir/stem.svg` an SVG
/// holding `text`.
fn assert_plot(dir: &Path, stem: &str, text: &str) {
    let png = std::fs::read(dir.join(format!("{stem}.png"))).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{stem}.png is not a PNG"
    );
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), SIZE);
    let coloured = img
        .pixels()
        .filter(|p| p.0[0].abs_diff(p.0[2]) > 60)
        .count();
    assert!(
        coloured > 500,
        "{stem}.png has only {coloured} coloured pixels"
    );
    let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains(text),
        "{stem}.svg lacks {text:?}"
    );
}

fn summary(loss: &str, knn: f64, linear: Option<f64>) -> Summary {
    let (dataset, encoder) = ("mnist5k".into(), "small-cnn".into());
    Summary {
        knn_top1: knn,
        knn1_top1: knn - 2.0,
        random_init_knn_top1: None,
        linear_top1: linear,
        epochs: 40,
        final_loss: 0.3,
        seconds: 10.0,
        images_per_second: 900.0,
        dataset,
        loss: loss.into(),
        encoder,
        seed: 0,
    }
}

#[test]
fn run_plots_are_written_from_the_metrics_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for step in 0..120 {
        let (loss, lr) = (
            1.0 / (1.0 + step as f64 / 30.0),
            0.3 * (step as f64 / 120.0),
        );
        log += &format!(
            "{{\"step\":{step},\"epoch\":{},\"loss\":{loss},\"lr\":{lr}}}\n",
            step / 30
        );
        if step % 30 == 29 {
            let (e, acc) = (step / 30 + 1, 50.0 + step as f64 / 4.0);
            log += &format!("{{\"event\":\"knn\",\"epoch\":{e},\"knn_top1\":{acc},\"knn1_top1\":40,\"k\":20}}\n");
        }
    }
    log += "{\"event\":\"non_finite_loss\",\"epoch\":3,\"step\":119,\"value\":\"NaN\"}\n\n";
    std::fs::write(dir.path().join("metrics.jsonl"), log).unwrap();
    let written = try_run_plots(dir.path()).unwrap();
    assert_eq!(written.len(), 6);
    assert_plot(dir.path(), "loss", "moving average");
    assert_plot(dir.path(), "lr", "learning rate");
    assert_plot(dir.path(), "knn", "k = 20");
}

#[test]
fn run_plots_name_a_missing_or_malformed_log() {
    let dir = tempfile::tempdir().unwrap();
    match try_run_plots(dir.path()) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("metrics.jsonl")),
        other => panic!("expected Error::Io naming metrics.jsonl, got {other:?}"),
    }
    std::fs::write(
        dir.path().join("metrics.jsonl"),
        "{\"step\":1,\"epoch\":0,\"loss\":0.5,\"lr\":0.1}\n{oops\n{}\n",
    )
    .unwrap();
    match try_run_plots(dir.path()) {
        Err(Error::Parse { line: 2, file, .. }) => assert!(file.ends_with("metrics.jsonl")),
        other => panic!("expected Error::Parse at line 2, got {other:?}"),
    }
}

#[test]
fn compare_plot_shows_methods_and_the_random_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let groco = vec![
        summary("groco", 86.0, Some(90.0)),
        summary("groco", 87.0, None),
    ];
    let ntxent = vec![summary("ntxent", 85.0, Some(89.0))];
    let rows = [
        ("GroCo".to_string(), groco),
        ("NT-Xent".to_string(), ntxent),
    ];
    let random = |knn_top1, linear_top1| RandomInitScores {
        knn1_top1: knn_top1 - 1.0,
        knn_top1,
        linear_top1,
    };
    let random = [random(40.0, Some(50.0)), random(42.0, Some(52.0))];
    try_compare_plot(dir.path(), 20, &rows, &random).unwrap();
    assert_plot(dir.path(), "compare", "random init");
    let svg = std::fs::read_to_string(dir.path().join("compare.svg")).unwrap();
    for text in [
        "mnist5k",
        "86.5 ± 0.7",
        "41.0 ± 1.4",
        "51.0 ± 1.4",
        "k-NN (k = 20)",
        "linear probe",
        "NT-Xent",
    ] {
        assert!(svg.contains(text), "compare.svg lacks {text:?}");
    }
}

#[test]
fn pca_plot_is_written_and_bad_shapes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let features: Vec<f32> = (0..400 * 4).map(|i| ((i * 7919) % 101) as f32).collect();
    let labels: Vec<u16> = (0..400).map(|i| (i % 12) as u16).collect();
    try_pca_plot(dir.path(), &features, &labels, 4, "synthetic").unwrap();
    assert_plot(dir.path(), "pca", "% of variance");
    let err = try_pca_plot(dir.path(), &features[..7], &labels, 4, "x").unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    let err = try_pca_plot(dir.path(), &features, &labels[1..], 4, "x").unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    let mut bad = features.clone();
    bad[4 * 9 + 2] = f32::NAN;
    let err = try_pca_plot(dir.path(), &bad, &labels, 4, "x").unwrap_err();
    assert!(matches!(err, Error::NonFinite { row: 9, .. }), "{err}");
}

#[test]
fn pca_finds_the_axes_the_variance_lies_along() {
    let seed = std::env::var("GROCO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7u64);
    let mut state = seed;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    // Spread 5 along u, 2 along w (orthogonal to u), 0.1 isotropic noise, offset by 3.
    let dim = 6;
    let u = [1.0, 2.0, 0.0, 0.0, -1.0, 1.0].map(|x: f64| x / 7f64.sqrt());
    let w = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0].map(|x: f64| x / 2f64.sqrt());
    let mut x = Vec::new();
    for _ in 0..500 {
        let (a, b) = (10.0 * uniform(), 4.0 * uniform());
        x.extend((0..dim).map(|d| (3.0 + a * u[d] + b * w[d] + 0.2 * uniform()) as f32));
    }
    let n = 500.0;
    let mean: Vec<f64> = (0..dim)
        .map(|d| {
            x.iter()
                .skip(d)
                .step_by(dim)
                .map(|&v| v as f64)
                .sum::<f64>()
                / n
        })
        .collect();
    let centred: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| v as f64 - mean[i % dim])
        .collect();
    let ([a, b], var, total) = principal_axes(&centred, dim);
    let msg = format!("GROCO_SEED={seed}: axes {a:?} {b:?}, variances {var:?} of {total}");
    assert!(dot(&a, &u).abs() > 0.999, "first axis is not u; {msg}");
    assert!(dot(&b, &w).abs() > 0.995, "second axis is not w; {msg}");
    assert!(var[0] > var[1] && var[0] / total > 0.8, "{msg}");
    assert!(
        (dot(&a, &a) - 1.0).abs() < 1e-9 && dot(&a, &b).abs() < 1e-9,
        "{msg}"
    );
}
