//! cargo-fuzz target `core_row_loss`; the harness is in `fuzz/harness/core.rs`.
#![no_main]

#[path = "../harness/core.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::core_row_loss(data));
