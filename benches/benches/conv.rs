//! Criterion bench `conv` (being written).

fn main() {}
