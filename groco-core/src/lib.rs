//! groco-core: differentiable sorting networks (placeholder while the crate is written).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
