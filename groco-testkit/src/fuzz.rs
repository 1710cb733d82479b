//! Replaying the saved fuzz inputs.

use std::path::PathBuf;

/// Runs `f` on each file of `fuzz/regressions/<target>/` (the crashes the `cargo fuzz` targets
/// found, and seeds that reach deep), in name order, naming the file if `f` panics. Fails if
/// the folder is missing or empty.
pub fn replay(target: &str, f: fn(&[u8])) {
    let dir = crate::workspace_root()
        .join("fuzz/regressions")
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
