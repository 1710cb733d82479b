//! The "Bad input" table of docs/bad-input.md, row by row: each test runs the `trainer` binary on one kind of
//! bad input and checks what the user sees: a non-zero exit, no panic, and an `error:` line that
//! names the file, field or value at fault.

use std::path::{Path, PathBuf};
use std::process::Command;

use dfdx::prelude::*;
use groco_testkit::datasets::{self, cifar_record, idx_labels, write_idx_split, STL_SIDE};
use image::{Rgb, RgbImage};
use serde_json::json;
use trainer::config::{EncoderKind, TrainConfig};
use trainer::data::{load, DatasetSpec, LoadOptions};
use trainer::model::SmallCnnModel;
use trainer::report::checkpoint::{snapshot, Checkpoint};

/// Runs the binary with `args`; asserts it failed cleanly and returns its stderr.
fn fails(args: &[&str]) -> String {
    fails_with_code(args).0
}

/// As [`fails`], with the exit code: 2 for a command line clap refuses, 1 for every other error.
fn fails_with_code(args: &[&str]) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .expect("the trainer binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{args:?} succeeded; stderr: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{args:?} panicked: {stderr}"
    );
    assert!(
        stderr.contains("error"),
        "{args:?}: no error line: {stderr}"
    );
    (stderr, out.status.code().unwrap_or(-1))
}

/// `trainer train --dataset SPEC` (the data is checked before anything else is done).
fn train_on(spec: &str) -> String {
    fails(&["train", "--dataset", spec])
}

fn spec(kind: &str, dir: &Path) -> String {
    format!("{kind}:{}", dir.display())
}

fn contains_all(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "{p:?} missing from: {text}");
    }
}

// ---- writers for small, valid datasets ----

/// IDX images whose pixel `i` is `7i mod 251`.
fn idx_images(n: u32, h: u32, w: u32) -> Vec<u8> {
    datasets::idx_images(n, h, w, (0..n * h * w).map(|i| (i * 7 % 251) as u8))
}

fn write_idx(dir: &Path) {
    write_idx_split(
        dir,
        "train",
        &idx_images(4, 5, 4),
        &idx_labels(&[0, 1, 0, 1]),
    );
    write_idx_split(dir, "t10k", &idx_images(2, 5, 4), &idx_labels(&[1, 0]));
}

/// `n` CIFAR-10 records of `pixels` bytes each: label `i % 10`, pixel `p` is `p mod 256`.
fn cifar_records(n: usize, pixels: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| cifar_record(&[(i % 10) as u8], (0..pixels).map(|p| p as u8)))
        .collect()
}

fn write_cifar10(dir: &Path) {
    for i in 1..=5 {
        let name = format!("data_batch_{i}.bin");
        std::fs::write(dir.join(name), cifar_records(2, 3072)).unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), cifar_records(2, 3072)).unwrap();
}

const STL_RECORD: usize = 3 * STL_SIDE * STL_SIDE;

fn write_stl10(dir: &Path) {
    for split in ["train", "test"] {
        let x = dir.join(format!("{split}_X.bin"));
        std::fs::write(x, vec![7u8; 2 * STL_RECORD]).unwrap();
        std::fs::write(dir.join(format!("{split}_y.bin")), [1u8, 10]).unwrap();
    }
}

fn write_folder(root: &Path) {
    for (i, d) in ["train/cat", "train/dog", "val/cat", "val/dog"]
        .iter()
        .enumerate()
    {
        std::fs::create_dir_all(root.join(d)).unwrap();
        RgbImage::from_pixel(6, 5, Rgb([40 * i as u8, 9, 200]))
            .save(root.join(d).join("a.png"))
            .unwrap();
    }
}

// ---- missing files ----

#[test]
fn cifar10_missing_file_is_named() {
    let d = tempfile::tempdir().unwrap();
    write_cifar10(d.path());
    std::fs::remove_file(d.path().join("test_batch.bin")).unwrap();
    let e = train_on(&spec("cifar10", d.path()));
    contains_all(
        &e,
        &[
            &format!("dataset directory {} is missing", d.path().display()),
            "expected: test_batch.bin (or cifar-10-batches-bin/test_batch.bin)",
        ],
    );
    assert!(!e.contains("data_batch_1"), "only the missing file: {e}");
}

#[test]
fn stl10_missing_files_are_listed() {
    let d = tempfile::tempdir().unwrap();
    let e = train_on(&spec("stl10", &d.path().join("stl")));
    contains_all(
        &e,
        &[
            "stl is missing or incomplete",
            "train_X.bin (or stl10_binary/train_X.bin)",
            "test_y.bin (or stl10_binary/test_y.bin)",
        ],
    );
}

#[test]
fn folder_without_train_and_val_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("train/cat")).unwrap();
    let e = train_on(&spec("folder", d.path()));
    contains_all(
        &e,
        &[
            &format!("dataset directory {} is missing", d.path().display()),
            "train/<class>/*.{jpg,jpeg,png}, val/<class>/*.{jpg,jpeg,png}",
        ],
    );
}

// ---- truncated and corrupt files ----

#[test]
fn idx_truncated_file() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    let path = d.path().join("t10k-images-idx3-ubyte");
    std::fs::write(&path, &idx_images(2, 5, 4)[..53]).unwrap();
    let e = train_on(&spec("idx", d.path()));
    contains_all(
        &e,
        &[&format!(
            "{}: truncated file: 53 bytes, header says 56",
            path.display()
        )],
    );
}

#[test]
fn idx_corrupt_gzip() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    std::fs::remove_file(d.path().join("train-labels-idx1-ubyte")).unwrap();
    let path = d.path().join("train-labels-idx1-ubyte.gz");
    std::fs::write(&path, b"\x1f\x8b not really gzip").unwrap();
    let e = train_on(&spec("idx", d.path()));
    contains_all(&e, &[&format!("{}: invalid gzip header", path.display())]);
}

#[test]
fn idx_wrong_magic() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    // A labels file where the images should be.
    let path = d.path().join("train-images-idx3-ubyte");
    std::fs::write(&path, idx_labels(&[0, 1, 0, 1])).unwrap();
    let e = train_on(&spec("idx", d.path()));
    contains_all(
        &e,
        &[&format!(
            "{}: wrong magic number 0x00000801 (expected 0x00000803)",
            path.display()
        )],
    );
}

#[test]
fn idx_image_and_label_counts_disagree() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    std::fs::write(
        d.path().join("train-labels-idx1-ubyte"),
        idx_labels(&[0, 1, 0]),
    )
    .unwrap();
    let e = train_on(&spec("idx", d.path()));
    contains_all(
        &e,
        &[
            "train-images-idx3-ubyte holds 4 images but",
            "train-labels-idx1-ubyte holds 3 labels",
        ],
    );
}

#[test]
fn idx_trailing_bytes() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    let path = d.path().join("train-labels-idx1-ubyte");
    let mut long = idx_labels(&[0, 1, 0, 1]);
    long.extend_from_slice(b"junk");
    std::fs::write(&path, long).unwrap();
    let e = train_on(&spec("idx", d.path()));
    contains_all(
        &e,
        &[&format!(
            "{}: 16 bytes, but the header accounts for only 12",
            path.display()
        )],
    );
}

#[test]
fn cifar10_truncated_batch() {
    let d = tempfile::tempdir().unwrap();
    write_cifar10(d.path());
    let path = d.path().join("data_batch_2.bin");
    std::fs::write(&path, &cifar_records(2, 3072)[..6000]).unwrap();
    let e = train_on(&spec("cifar10", d.path()));
    contains_all(
        &e,
        &[&format!(
            "{}: size 6000 bytes is not a whole number of 3073-byte records",
            path.display()
        )],
    );
}

#[test]
fn cifar10_label_out_of_range() {
    let d = tempfile::tempdir().unwrap();
    write_cifar10(d.path());
    let path = d.path().join("test_batch.bin");
    let mut recs = cifar_records(2, 3072);
    recs[3073] = 12;
    std::fs::write(&path, recs).unwrap();
    let e = train_on(&spec("cifar10", d.path()));
    contains_all(
        &e,
        &[&format!(
            "{}: item 1 has label 12, allowed 0..9",
            path.display()
        )],
    );
}

#[test]
fn stl10_truncated_images() {
    let d = tempfile::tempdir().unwrap();
    write_stl10(d.path());
    let path = d.path().join("test_X.bin");
    std::fs::write(&path, vec![0u8; 2 * STL_RECORD - 5]).unwrap();
    let e = train_on(&spec("stl10", d.path()));
    contains_all(
        &e,
        &[&format!(
            "{}: size 55291 bytes is not a whole number of 27648-byte records",
            path.display()
        )],
    );
}

#[test]
fn stl10_labels_and_images_disagree() {
    let d = tempfile::tempdir().unwrap();
    write_stl10(d.path());
    std::fs::write(d.path().join("train_y.bin"), [1u8, 2, 3]).unwrap();
    let e = train_on(&spec("stl10", d.path()));
    contains_all(
        &e,
        &[
            "train_X.bin holds 2 images but",
            "train_y.bin holds 3 labels",
        ],
    );
}

#[test]
fn folder_undecodable_image() {
    let d = tempfile::tempdir().unwrap();
    write_folder(d.path());
    let path = d.path().join("val/dog/broken.png");
    std::fs::write(&path, b"\x89PNG garbage").unwrap();
    let e = train_on(&spec("folder", d.path()));
    contains_all(&e, &[&format!("{}: cannot decode image:", path.display())]);
}

// ---- sizes and channels ----

#[test]
fn idx_zero_sized_images() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    let path = d.path().join("train-images-idx3-ubyte");
    std::fs::write(&path, idx_images(4, 0, 4)).unwrap();
    let e = train_on(&spec("idx", d.path()));
    contains_all(
        &e,
        &[
            "IDX image size = 0x4",
            &format!("{}: images must be non-empty", path.display()),
        ],
    );
}

#[test]
fn idx_colour_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    // A 4-D IDX file (n, rows, cols, 3 channels): IDX input must be 3-D greyscale.
    let mut rgb = Vec::new();
    for x in [0x0804u32, 4, 5, 4, 3] {
        rgb.extend_from_slice(&x.to_be_bytes());
    }
    rgb.extend(std::iter::repeat_n(0u8, 4 * 5 * 4 * 3));
    let path = d.path().join("train-images-idx3-ubyte");
    std::fs::write(&path, rgb).unwrap();
    let e = train_on(&spec("idx", d.path()));
    contains_all(
        &e,
        &[&format!(
            "{}: wrong magic number 0x00000804 (expected 0x00000803)",
            path.display()
        )],
    );
}

#[test]
fn cifar10_images_of_the_wrong_size() {
    let d = tempfile::tempdir().unwrap();
    write_cifar10(d.path());
    // Two records of 64×64 RGB images instead of 32×32.
    let path = d.path().join("data_batch_1.bin");
    std::fs::write(&path, cifar_records(2, 3 * 64 * 64)).unwrap();
    let e = train_on(&spec("cifar10", d.path()));
    contains_all(
        &e,
        &[&format!(
            "{}: size 24578 bytes is not a whole number of 3073-byte records",
            path.display()
        )],
    );
}

// ---- folder layout ----

#[test]
fn empty_class_folder() {
    let d = tempfile::tempdir().unwrap();
    write_folder(d.path());
    let empty = d.path().join("train/bird");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "not an image").unwrap();
    let e = train_on(&spec("folder", d.path()));
    contains_all(
        &e,
        &[&format!(
            "class folder {} holds no .jpg/.jpeg/.png images",
            empty.display()
        )],
    );
}

#[test]
fn folder_val_without_classes() {
    let d = tempfile::tempdir().unwrap();
    write_folder(d.path());
    for c in ["cat", "dog"] {
        std::fs::remove_dir_all(d.path().join("val").join(c)).unwrap();
    }
    let e = train_on(&spec("folder", d.path()));
    contains_all(
        &e,
        &[
            &format!(
                "dataset directory {} is missing",
                d.path().join("val").display()
            ),
            "<class>/*.{jpg,jpeg,png} subfolders",
        ],
    );
}

#[test]
fn folder_val_class_not_in_train() {
    let d = tempfile::tempdir().unwrap();
    write_folder(d.path());
    let bird = d.path().join("val/bird");
    std::fs::create_dir_all(&bird).unwrap();
    RgbImage::new(3, 3).save(bird.join("b.png")).unwrap();
    let e = train_on(&spec("folder", d.path()));
    contains_all(
        &e,
        &[&format!(
            "invalid class folder = {}: not among the train classes [\"cat\", \"dog\"]",
            bird.display()
        )],
    );
}

#[test]
fn folder_non_image_files_are_skipped() {
    let d = tempfile::tempdir().unwrap();
    write_folder(d.path());
    std::fs::write(d.path().join("train/cat/notes.txt"), "x").unwrap();
    std::fs::write(d.path().join("train/cat/Thumbs.db"), [0u8; 9]).unwrap();
    let s = load(
        &DatasetSpec::Folder(d.path().into()),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!((s.train.len(), s.test.len()), (2, 2));
}

#[test]
fn dataset_smaller_than_a_batch() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    let out = d.path().join("run");
    let e = fails(&[
        "train",
        "--dataset",
        &spec("idx", d.path()),
        "--out",
        out.to_str().unwrap(),
    ]);
    contains_all(
        &e,
        &[&format!(
            "invalid batch_size = {}: a batch must be at most the 4 training images of idx:{}",
            trainer::config::TrainConfig::default().batch_size,
            d.path().display()
        )],
    );
    assert!(!out.exists(), "a run directory was made for a bad config");
}

#[test]
fn knn_k_larger_than_the_training_split() {
    let d = tempfile::tempdir().unwrap();
    write_idx(d.path());
    let e = fails(&[
        "train",
        "--dataset",
        &spec("idx", d.path()),
        "--batch-size",
        "4",
        "--topk-neg",
        "2",
    ]);
    contains_all(
        &e,
        &["invalid knn_k = 20: the k-NN neighbours (the bank is the training split) must be at most the 4 training images"],
    );
}

// ---- configuration ----

fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_batch_size_zero() {
    let e = fails(&["train", "--batch-size", "0"]);
    contains_all(&e, &["invalid batch_size = 0: must be at least 2"]);
}

#[test]
fn config_negative_lr() {
    let d = tempfile::tempdir().unwrap();
    let path = config_file(d.path(), "lr = -0.1\n");
    let e = fails(&["train", "--config", path.to_str().unwrap()]);
    contains_all(&e, &["invalid lr = -0.1: must be a finite number > 0"]);
}

#[test]
fn config_topk_larger_than_negatives() {
    let e = fails(&["train", "--batch-size", "64", "--topk-neg", "64"]);
    contains_all(
        &e,
        &["invalid topk_neg = 64: must be in 1..=63 (each row has batch_size - 1 = 63 negatives)"],
    );
}

#[test]
fn config_nonpositive_steepness() {
    let d = tempfile::tempdir().unwrap();
    for (text, shown) in [
        ("steepness = 0.0\n", "0"),
        ("steepness = -2.5\n", "-2.5"),
        ("steepness = nan\n", "NaN"),
    ] {
        let path = config_file(d.path(), text);
        let e = fails(&["train", "--config", path.to_str().unwrap()]);
        contains_all(
            &e,
            &[&format!(
                "invalid steepness = {shown}: must be a finite number > 0"
            )],
        );
    }
}

#[test]
fn config_unknown_key_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    let path = config_file(d.path(), "epochs = 3\nbatchsize = 64\n");
    let e = fails(&["train", "--config", path.to_str().unwrap()]);
    contains_all(
        &e,
        &[
            &format!("{}:2: unknown field `batchsize`", path.display()),
            "expected one of",
            "`batch_size`",
        ],
    );
}

#[test]
fn config_value_of_the_wrong_type() {
    let d = tempfile::tempdir().unwrap();
    let path = config_file(d.path(), "# comment\nepochs = \"three\"\n");
    let e = fails(&["train", "--config", path.to_str().unwrap()]);
    contains_all(
        &e,
        &[&format!(
            "{}:2: invalid type: string \"three\", expected usize",
            path.display()
        )],
    );
}

#[test]
fn config_unknown_network_name() {
    let (e, code) = fails_with_code(&["train", "--network", "bubble"]);
    contains_all(
        &e,
        &["invalid value 'bubble' for '--network <NETWORK>': unknown network name `bubble`"],
    );
    assert_eq!(code, 2, "a refused command line exits 2");
    let d = tempfile::tempdir().unwrap();
    let path = config_file(d.path(), "epochs = 3\nrelaxation = \"bubble\"\n");
    let (e, code) = fails_with_code(&["train", "--config", path.to_str().unwrap()]);
    contains_all(
        &e,
        &[&format!(
            "{}:2: unknown variant `bubble`, expected one of `logistic`",
            path.display()
        )],
    );
    assert_eq!(code, 1, "a bad config file exits 1");
}

#[test]
fn config_bad_dataset_spec() {
    let e = train_on("imagenet:/data");
    contains_all(
        &e,
        &["dataset spec \"imagenet:/data\": unknown kind \"imagenet\"; expected one of mnist5k, idx:DIR"],
    );
}

// ---- checkpoints ----

/// A small-cnn checkpoint for 1-channel images whose metadata claims `config`.
fn write_checkpoint(run: &Path, config: &TrainConfig) -> PathBuf {
    let dev = Cpu::default();
    let net = SmallCnnModel::<1, Cpu>::try_build(&dev).unwrap();
    let ckpt = Checkpoint {
        model: snapshot(&net).unwrap(),
        momenta: Vec::new(),
        meta: json!({
            "config": config, "epochs_done": 1, "encoder": config.encoder.name(),
            "channels": 1, "input_size": 28,
        }),
    };
    ckpt.try_save(&run.join("checkpoint")).unwrap()
}

#[test]
fn eval_encoder_flag_with_a_checkpoint_is_refused() {
    let d = tempfile::tempdir().unwrap();
    write_checkpoint(d.path(), &TrainConfig::default());
    let e = fails(&[
        "eval",
        "knn",
        "--checkpoint",
        d.path().to_str().unwrap(),
        "--encoder",
        "resnet18",
    ]);
    contains_all(
        &e,
        &["the argument '--checkpoint <PATH>' cannot be used with '--encoder <ENCODER>'"],
    );
}

#[test]
fn checkpoint_of_another_encoder() {
    let d = tempfile::tempdir().unwrap();
    // small-cnn tensors under metadata that says resnet18 (e.g. a state file copied between runs).
    let claims = TrainConfig {
        encoder: EncoderKind::Resnet18,
        ..TrainConfig::default()
    };
    let state = write_checkpoint(d.path(), &claims);
    let e = fails(&["eval", "knn", "--checkpoint", state.to_str().unwrap()]);
    contains_all(
        &e,
        &[
            &format!(
                "checkpoint {}: does not fit this encoder: tensor",
                state.display()
            ),
            "is missing",
        ],
    );
}

#[test]
fn checkpoint_for_another_channel_count() {
    let d = tempfile::tempdir().unwrap();
    write_checkpoint(d.path(), &TrainConfig::default());
    let data = d.path().join("c10");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar10(&data);
    let e = fails(&[
        "eval",
        "knn",
        "--checkpoint",
        d.path().to_str().unwrap(),
        "--dataset",
        &spec("cifar10", &data),
        "--k",
        "3",
    ]);
    contains_all(
        &e,
        &[&format!(
            "checkpoint {}: its small-cnn encoder was trained on 1-channel images, but cifar10:{} \
             has 3 channels",
            d.path().display(),
            data.display()
        )],
    );
}

#[test]
fn resume_with_a_different_config_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let state = write_checkpoint(d.path(), &TrainConfig::default());
    let e = fails(&[
        "train",
        "--resume",
        d.path().to_str().unwrap(),
        "--encoder",
        "resnet18",
    ]);
    contains_all(
        &e,
        &[&format!(
            "checkpoint {}: was trained with encoder = \"small-cnn\", but encoder = \"resnet18\" \
             was asked for",
            state.display()
        )],
    );
}

#[test]
fn corrupt_checkpoint_file() {
    let d = tempfile::tempdir().unwrap();
    let state = write_checkpoint(d.path(), &TrainConfig::default());
    let bytes = std::fs::read(&state).unwrap();
    std::fs::write(&state, &bytes[..bytes.len() / 2]).unwrap();
    let e = fails(&["eval", "knn", "--checkpoint", d.path().to_str().unwrap()]);
    contains_all(
        &e,
        &[
            &format!("checkpoint {}: ", state.display()),
            "truncated or corrupt",
        ],
    );
}

#[test]
fn missing_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let e = fails(&["eval", "knn", "--checkpoint", d.path().to_str().unwrap()]);
    contains_all(
        &e,
        &[&format!(
            "{}: No such file or directory",
            d.path().join("state.safetensors").display()
        )],
    );
}
