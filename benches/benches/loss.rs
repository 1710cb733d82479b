//! Criterion bench `loss` (being written).

fn main() {}
