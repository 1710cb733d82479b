//! Shared helpers for the groco criterion benches.
