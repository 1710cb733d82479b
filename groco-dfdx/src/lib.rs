//! groco-dfdx: dfdx 0.13 bindings for groco-core (placeholder while the crate is written).
#![deny(missing_docs)]
