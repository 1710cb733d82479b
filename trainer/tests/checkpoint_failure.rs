//! A checkpoint write that fails (simulated by making the write's temp file a symlink to
//! `/dev/full`, which refuses every write with ENOSPC, even for root) is a clear error naming
//! the file, never a panic, and the previous checkpoint stays byte for byte intact and loadable.
//! A training run whose checkpoint write fails stops with that error and can be resumed.
#![cfg(target_os = "linux")]

use std::fs;
use std::path::{Path, PathBuf};

use trainer::config::{LossKind, TrainConfig};
use trainer::report::checkpoint::{Checkpoint, Snapshot, META_FILE, STATE_FILE};
use trainer::report::runlog::temp_path;
use trainer::train::{try_train, RunOptions};
use trainer::Error;

/// Points the temp file this process would write for `target` at `/dev/full`.
fn full_disk_for(target: &Path) -> PathBuf {
    let link = temp_path(target);
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    link
}

fn checkpoint(epoch: usize, value: f32) -> Checkpoint {
    Checkpoint {
        model: Snapshot {
            tensors: vec![("layer.weight".into(), vec![2, 3], vec![value; 6])],
        },
        momenta: vec![vec![value; 6]],
        meta: serde_json::json!({ "epochs_done": epoch }),
    }
}

fn assert_disk_full_error(err: &Error, file: &Path) {
    let text = err.to_string();
    assert!(
        matches!(err, Error::Checkpoint { path, .. } if path == file),
        "{err:?}"
    );
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
}

#[test]
fn a_failed_state_write_names_the_file_and_keeps_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(STATE_FILE);
    checkpoint(1, 0.5).try_save(dir.path()).unwrap();
    let before = fs::read(&state).unwrap();

    let link = full_disk_for(&state);
    let err = checkpoint(2, 0.25).try_save(dir.path()).unwrap_err();
    assert_disk_full_error(&err, &state);
    assert!(err.to_string().contains("previous checkpoint"), "{err}");
    assert_eq!(
        fs::read(&state).unwrap(),
        before,
        "the old state file changed"
    );
    assert_eq!(
        Checkpoint::try_load(dir.path()).unwrap(),
        checkpoint(1, 0.5)
    );
    assert!(
        fs::symlink_metadata(&link).is_err(),
        "the failed temp file was left behind"
    );
    assert!(Path::new("/dev/full").exists());

    // With space again, the next write goes through.
    checkpoint(2, 0.25).try_save(dir.path()).unwrap();
    assert_eq!(
        Checkpoint::try_load(dir.path()).unwrap(),
        checkpoint(2, 0.25)
    );
}

#[test]
fn a_failed_meta_write_names_meta_json_and_leaves_a_loadable_state() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(1, 0.5).try_save(dir.path()).unwrap();
    let meta = dir.path().join(META_FILE);
    full_disk_for(&meta);
    let err = checkpoint(2, 0.25).try_save(dir.path()).unwrap_err();
    assert_disk_full_error(&err, &meta);
    assert!(err.to_string().contains("readable copy"), "{err}");
    assert_eq!(
        Checkpoint::try_load(dir.path()).unwrap(),
        checkpoint(2, 0.25)
    );
    let readable: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&meta).unwrap()).unwrap();
    assert_eq!(readable["epochs_done"], 1, "meta.json was torn");
}

#[test]
fn a_training_run_whose_checkpoint_write_fails_stops_with_the_error_and_keeps_the_last() {
    let config = TrainConfig {
        epochs: 2,
        batch_size: 16,
        topk_neg: 5,
        train_limit: 48,
        test_limit: 32,
        eval_every: 0,
        loss: LossKind::Groco,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let first = RunOptions {
        out: Some(run.clone()),
        stop_after_epochs: Some(1),
        ..RunOptions::default()
    };
    try_train(&config, &first).unwrap();
    let state = run.join("checkpoint").join(STATE_FILE);
    let before = fs::read(&state).unwrap();
    let summary = fs::read(run.join("summary.json")).unwrap();

    let link = full_disk_for(&state);
    let resume = RunOptions {
        resume: Some(run.clone()),
        ..RunOptions::default()
    };
    let err = try_train(&config, &resume).unwrap_err();
    assert_disk_full_error(&err, &state);
    assert_eq!(
        fs::read(&state).unwrap(),
        before,
        "the epoch-1 checkpoint changed"
    );
    let kept = Checkpoint::try_load(&run).unwrap();
    assert_eq!(kept.meta["epochs_done"], 1);
    assert_eq!(
        fs::read(run.join("summary.json")).unwrap(),
        summary,
        "the failed run replaced the summary of the stopped one"
    );
    assert!(fs::symlink_metadata(&link).is_err());

    // The kept checkpoint resumes to the end once the disk has room again.
    let done = try_train(&config, &resume).unwrap();
    assert_eq!(done.summary.epochs, 2);
    assert_eq!(Checkpoint::try_load(&run).unwrap().meta["epochs_done"], 2);
}
