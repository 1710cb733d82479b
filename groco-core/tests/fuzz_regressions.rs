//! Replays every saved input under `fuzz/regressions/<target>/` (crashes the `cargo fuzz`
//! targets found, and seeds that reach deep into the core) through the same harness the fuzz
//! targets run, so they stay fixed under a plain `cargo test` without cargo-fuzz.

#[path = "../../fuzz/harness/core.rs"]
#[allow(dead_code)]
mod harness;

use std::path::PathBuf;

/// Runs `f` on each file of `fuzz/regressions/<target>/`, naming the file if it panics.
fn replay(target: &str, f: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let run = std::panic::catch_unwind(|| f(&data));
        assert!(run.is_ok(), "fuzz regression {} panicked", file.display());
    }
}

#[test]
fn core_sort_regressions() {
    replay("core_sort", harness::core_sort);
}

#[test]
fn core_row_loss_regressions() {
    replay("core_row_loss", harness::core_row_loss);
}
