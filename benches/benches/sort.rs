//! Criterion bench `sort` (being written).

fn main() {}
