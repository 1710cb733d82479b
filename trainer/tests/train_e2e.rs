//! End-to-end: a tiny training run on a subset of the embedded data writes every output, a short
//! run beats its own random-init encoder, and a run stopped after one epoch and resumed ends with
//! the same weights (and the same random-init baseline) as one never stopped.

use std::path::Path;

use trainer::config::{LossKind, TrainConfig};
use trainer::error::Error;
use trainer::report::checkpoint::Checkpoint;
use trainer::report::runlog::MetricsLog;
use trainer::report::{Event, MetricRecord};
use trainer::train::{try_train, RunOptions};

fn tiny(loss: LossKind) -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch_size: 32,
        topk_neg: 5,
        train_limit: 128,
        test_limit: 64,
        eval_every: 1,
        log_every: 1,
        warmup_epochs: 0.5,
        loss,
        ..TrainConfig::default()
    }
}

fn opts(out: &Path) -> RunOptions {
    RunOptions {
        out: Some(out.to_path_buf()),
        ..RunOptions::default()
    }
}

#[test]
fn tiny_run_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let outcome = try_train(&tiny(LossKind::Groco), &opts(&out)).unwrap();
    for f in [
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "checkpoint/state.safetensors",
        "checkpoint/meta.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let s = &outcome.summary;
    assert_eq!(s.epochs, 2);
    assert!(s.final_loss.is_finite() && s.knn_top1 > 10.0, "{s:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "knn_top1",
        "epochs",
        "final_loss",
        "seconds",
        "images_per_second",
        "dataset",
        "loss",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    let records = MetricsLog::try_read_all(&out).unwrap();
    let steps = records
        .iter()
        .filter(|r| matches!(r, MetricRecord::Step(_)))
        .count();
    assert_eq!(steps, 8);
    // Epoch 0 (the random-init encoder), then epochs 1 and 2.
    let knn: Vec<(usize, f64)> = records
        .iter()
        .filter_map(|r| match r {
            MetricRecord::Event(Event::Knn {
                epoch, knn_top1, ..
            }) => Some((*epoch, *knn_top1)),
            _ => None,
        })
        .collect();
    let epochs: Vec<usize> = knn.iter().map(|k| k.0).collect();
    assert_eq!(epochs, [0, 1, 2]);
    let random = s
        .random_init_knn_top1
        .expect("a fresh run scores its random init");
    assert_eq!(knn[0].1, random);
    assert_eq!(summary["random_init_knn_top1"].as_f64(), Some(random));
    let config: TrainConfig =
        toml::from_str(&std::fs::read_to_string(out.join("config.toml")).unwrap()).unwrap();
    assert_eq!(config, tiny(LossKind::Groco));
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    for loss in [LossKind::Groco, LossKind::NtXent] {
        let dir = tempfile::tempdir().unwrap();
        let (full, split) = (dir.path().join("full"), dir.path().join("split"));
        try_train(&tiny(loss), &opts(&full)).unwrap();
        let first = RunOptions {
            stop_after_epochs: Some(1),
            ..opts(&split)
        };
        let stopped = try_train(&tiny(loss), &first).unwrap();
        assert_eq!(stopped.summary.epochs, 1);
        let resume = RunOptions {
            resume: Some(split.clone()),
            ..RunOptions::default()
        };
        let resumed = try_train(&tiny(loss), &resume).unwrap();
        assert_eq!(resumed.run_dir, split);
        let a = Checkpoint::try_load(&full).unwrap();
        let b = Checkpoint::try_load(&split).unwrap();
        assert_eq!(a.meta["epochs_done"], 2);
        assert_eq!(b.meta["epochs_done"], 2);
        assert_eq!(a.model.tensors.len(), b.model.tensors.len());
        for ((na, _, va), (nb, _, vb)) in a.model.tensors.iter().zip(&b.model.tensors) {
            assert_eq!(na, nb);
            assert_eq!(va, vb, "{loss:?}: tensor {na} differs after resume");
        }
        assert_eq!(a.momenta, b.momenta);
        let full_summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(full.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(
            resumed.summary.random_init_knn_top1,
            full_summary["random_init_knn_top1"].as_f64(),
            "{loss:?}: the resumed run reads its random-init baseline from the checkpoint"
        );
    }
}

/// A short run on a fixed seed ends above the same encoder at its random initialisation, on the
/// same splits: training adds something, not just "more than chance".
#[test]
fn a_short_run_beats_its_random_init_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        epochs: 10,
        batch_size: 64,
        train_limit: 512,
        test_limit: 200,
        eval_every: 0,
        warmup_epochs: 1.0,
        ..TrainConfig::default()
    };
    let s = try_train(&config, &opts(&dir.path().join("run")))
        .unwrap()
        .summary;
    let random = s.random_init_knn_top1.unwrap();
    println!("trained {:.2}% vs random init {random:.2}%", s.knn_top1);
    assert!(
        s.knn_top1 >= random + 5.0,
        "trained {:.2}% vs random init {random:.2}%",
        s.knn_top1
    );
}

#[test]
fn nan_guard_and_bad_config_fail_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let bad = TrainConfig {
        topk_neg: 32,
        ..tiny(LossKind::Groco)
    };
    let err = try_train(&bad, &opts(&dir.path().join("x")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("topk_neg"), "{err}");
    assert!(
        !dir.path().join("x").exists(),
        "a run directory was created for a bad config"
    );
}

/// A run whose loss turns non-finite mid-run stops before the update that would take it: the
/// error names the epoch and step, the metrics log records it, and the last good checkpoint
/// (weights and momenta) is the one on disk.
#[test]
fn a_run_whose_loss_turns_non_finite_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let config = TrainConfig {
        epochs: 3,
        ..tiny(LossKind::Groco)
    };
    let first = RunOptions {
        stop_after_epochs: Some(1),
        ..opts(&run)
    };
    try_train(&config, &first).unwrap();
    let good = Checkpoint::try_load(&run).unwrap();
    // The same run, resumed with a learning rate beyond f32 (it rounds to infinity): the first
    // step of epoch 2 is finite (computed from the good weights), its update is not, so the
    // loss of the step after it is not. (Merely huge rates, 1e30, do not get there: batch norm
    // and the L2-normalised projections make the loss invariant to the weights' scale.)
    let mut edited = good.clone();
    edited.meta["config"]["lr"] = serde_json::json!(1e300);
    edited.try_save(&run.join("checkpoint")).unwrap();
    let resume = RunOptions {
        resume: Some(run.clone()),
        ..RunOptions::default()
    };
    let steps_per_epoch = 128 / 32;
    match try_train(&config, &resume).unwrap_err() {
        Error::NonFiniteLoss { epoch, step, .. } => {
            assert_eq!(epoch, 1, "the divergence is in the resumed epoch");
            assert!(
                step > steps_per_epoch,
                "step {step}: after the first update"
            );
        }
        other => panic!("expected a non-finite loss, got {other}"),
    }
    let kept = Checkpoint::try_load(&run).unwrap();
    assert_eq!(kept.meta["epochs_done"], 1);
    assert_eq!(kept.meta["config"]["lr"], 1e300);
    assert_eq!(
        kept.model.tensors, good.model.tensors,
        "the weights on disk changed"
    );
    assert_eq!(kept.momenta, good.momenta, "the momenta on disk changed");
    let records = MetricsLog::try_read_all(&run).unwrap();
    let stops: Vec<usize> = records
        .iter()
        .filter_map(|r| match r {
            MetricRecord::Event(Event::NonFiniteLoss { epoch, .. }) => Some(*epoch),
            _ => None,
        })
        .collect();
    assert_eq!(
        stops,
        [1],
        "the log records the non-finite loss once, in epoch 2"
    );
}
