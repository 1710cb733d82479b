//! cargo-fuzz target `stl10_reader`; the harness is in `fuzz/harness/trainer.rs`.
#![no_main]

#[path = "../harness/trainer.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::stl10_reader(data));
