//! Replays every saved input under `fuzz/regressions/<target>/` (crashes the `cargo fuzz`
//! targets found, and seeds that reach deep into the core) through the same harness the fuzz
//! targets run, so they stay fixed under a plain `cargo test` without cargo-fuzz.

#[path = "../../fuzz/harness/core.rs"]
mod harness;

use groco_testkit::fuzz::replay;

#[test]
fn core_sort_regressions() {
    replay("core_sort", harness::core_sort);
}

#[test]
fn core_row_loss_regressions() {
    replay("core_row_loss", harness::core_row_loss);
}
