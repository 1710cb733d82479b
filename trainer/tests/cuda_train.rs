//! A 20-step training run through `Cuda` (feature `cuda`), by the built `trainer` binary:
//! small-cnn on 640 embedded digits in batches of 32 (one epoch of 20 steps, every step
//! logged), for GroCo and for NT-Xent. The run must pick `cuda` when asked, log a finite loss
//! and gradient norm at every step, and write its k-NN score. Where no CUDA device answers, one
//! uncaptured line says these tests did not run and why; with `GROCO_REQUIRE_CUDA=1` (the GPU
//! check) that fails instead.
#![cfg(feature = "cuda")]

mod common;

use std::io::Write;
use std::path::Path;

use common::{arg, finite_step_losses, read_json, read_metrics, temp, trainer_ok};

#[test]
fn cuda_twenty_step_training_runs() {
    if let Err(why) = groco_dfdx::probe::cuda_probe(0) {
        if std::env::var("GROCO_REQUIRE_CUDA").as_deref() == Ok("1") {
            panic!("GROCO_REQUIRE_CUDA=1 but no CUDA device: {why}");
        }
        let line = format!("2 Cuda tests (20-step groco and nt-xent runs) did not run: {why}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
        return;
    }
    let dir = temp();
    let config = arg(dir.path(), "every-step.toml");
    std::fs::write(&config, "log_every = 1\n").unwrap();
    for loss in ["groco", "nt-xent"] {
        let out = arg(dir.path(), loss);
        let args = [
            "train",
            "--config",
            &config,
            "--device",
            "cuda",
            "--loss",
            loss,
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--topk-neg",
            "5",
            "--train-limit",
            "640",
            "--test-limit",
            "200",
            "--out",
            &out,
        ];
        let run = trainer_ok(dir.path(), &args);
        assert!(run.stdout.contains("device: cuda"), "{}", run.stdout);
        let run_dir = Path::new(&out);
        let summary = read_json(&run_dir.join("summary.json"));
        assert_eq!(summary["device"], "cuda", "{summary}");
        let losses = finite_step_losses(run_dir);
        assert_eq!(losses.len(), 20, "{loss}: {losses:?}");
        for r in read_metrics(run_dir)
            .iter()
            .filter(|r| r.get("step").is_some())
        {
            let g = r["grad_norm"].as_f64().unwrap_or(f64::NAN);
            assert!(g.is_finite() && g > 0.0, "{loss}: {r}");
        }
        let knn = summary["knn_top1"].as_f64().unwrap_or(f64::NAN);
        assert!(knn > 10.0, "{loss}: k-NN {knn}");
    }
}
