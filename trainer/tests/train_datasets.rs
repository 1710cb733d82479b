//! The `idx:` and `cifar10:` datasets train end to end (on small files written here), and
//! requests that cannot be served fail before training with a clear message.

use std::path::Path;

use groco_testkit::datasets::{cifar_record, idx_images, idx_labels, lcg_bytes, write_idx_split};
use trainer::config::{DeviceKind, TrainConfig};
use trainer::train::{try_train, RunOptions};

fn write_idx(dir: &Path, prefix: &str, n: usize, side: usize, seed: u64) {
    let (n32, side32) = (n as u32, side as u32);
    let images = idx_images(n32, side32, side32, lcg_bytes(n * side * side, seed));
    let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
    write_idx_split(dir, prefix, &images, &idx_labels(&labels));
}

fn write_cifar10(dir: &Path, per_file: usize) {
    let record = |i: usize, seed: u64| {
        cifar_record(&[(i % 10) as u8], lcg_bytes(3072, seed * 1000 + i as u64))
    };
    for f in 1..=5u64 {
        let data: Vec<u8> = (0..per_file).flat_map(|i| record(i, f)).collect();
        std::fs::write(dir.join(format!("data_batch_{f}.bin")), data).unwrap();
    }
    let data: Vec<u8> = (0..per_file).flat_map(|i| record(i, 9)).collect();
    std::fs::write(dir.join("test_batch.bin"), data).unwrap();
}

fn tiny(dataset: String) -> TrainConfig {
    TrainConfig {
        dataset,
        epochs: 1,
        batch_size: 16,
        topk_neg: 3,
        eval_every: 1,
        log_every: 1,
        ..TrainConfig::default()
    }
}

fn run(config: &TrainConfig, out: &Path) -> trainer::train::Outcome {
    let opts = RunOptions {
        out: Some(out.to_path_buf()),
        ..RunOptions::default()
    };
    try_train(config, &opts).unwrap()
}

#[test]
fn idx_dataset_trains() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path(), "train", 48, 20, 1);
    write_idx(dir.path(), "t10k", 16, 20, 2);
    let config = tiny(format!("idx:{}", dir.path().display()));
    let outcome = run(&config, &dir.path().join("run"));
    assert_eq!(outcome.summary.epochs, 1);
    assert!(outcome.summary.final_loss.is_finite());
    assert!(dir
        .path()
        .join("run/checkpoint/state.safetensors")
        .is_file());
}

#[test]
fn cifar10_dataset_trains_with_three_channels() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 8);
    let config = tiny(format!("cifar10:{}", dir.path().display()));
    let outcome = run(&config, &dir.path().join("run"));
    assert_eq!(outcome.summary.epochs, 1);
    let ckpt = trainer::report::checkpoint::Checkpoint::try_load(&dir.path().join("run")).unwrap();
    assert_eq!(ckpt.meta["channels"], 3);
    let c1 = ckpt
        .model
        .tensors
        .iter()
        .find(|t| t.0 == "encoder.c1.weight")
        .unwrap();
    assert_eq!(c1.1, vec![32, 3, 3, 3]);
}

#[test]
fn cuda_without_the_feature_and_missing_data_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = tiny(format!("idx:{}", dir.path().join("nope").display()));
    let err = try_train(&missing, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("train-images-idx3-ubyte"), "{err}");
    if !cfg!(feature = "cuda") {
        let cuda = TrainConfig {
            device: DeviceKind::Cuda,
            ..tiny("mnist5k".into())
        };
        let err = try_train(&cuda, &RunOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
