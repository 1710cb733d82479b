//! cargo-fuzz target `checkpoint_loader`; the harness is in `fuzz/harness/trainer.rs`.
#![no_main]

#[path = "../harness/trainer.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::checkpoint_loader(data));
