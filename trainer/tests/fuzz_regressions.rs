//! Replays every saved input under `fuzz/regressions/<target>/` (crashes the `cargo fuzz`
//! targets found, and seeds that reach deep into each parser) through the same harness the
//! fuzz targets run, so they stay fixed under a plain `cargo test` without cargo-fuzz.

#[path = "../../fuzz/harness/trainer.rs"]
mod harness;

use groco_testkit::fuzz::replay;

#[test]
fn idx_reader_regressions() {
    replay("idx_reader", harness::idx_reader);
}

#[test]
fn cifar_reader_regressions() {
    replay("cifar_reader", harness::cifar_reader);
}

#[test]
fn stl10_reader_regressions() {
    replay("stl10_reader", harness::stl10_reader);
}

#[test]
fn checkpoint_loader_regressions() {
    replay("checkpoint_loader", harness::checkpoint_loader);
}

#[test]
fn config_parser_regressions() {
    replay("config_parser", harness::config_parser);
}
