//! The groco trainer library: GroCo self-supervised pre-training of an encoder, evaluated by k-NN
//! (and linear probes), from datasets on disk or the embedded MNIST-5k set.
//!
//! Rooms, each importing only from the rooms below it:
//!
//! - [`commands`]: the subcommands (`train`, `eval`, `compare`, `bench`) and the command line.
//! - [`train`]: the loss of a step, SGD/LARS, warm-up + cosine, one step, the loop, resume.
//! - [`report`]: the run directory, checkpoints, `metrics.jsonl`, the summary, progress, plots.
//! - [`eval`]: eval-mode features, weighted k-NN, the linear probe, the random-init baseline.
//! - [`augment`]: SimCLR/DINO-style random views, a pure function of (seed, epoch, sample, view),
//!   and a [`augment::BatchLoader`] that builds batches on worker threads.
//! - [`model`]: the `small-cnn`, `small-cnn-flat` and `resnet18` encoders, the GroCo projection
//!   head, the device trait and the run-time dispatch to a concrete network and device.
//! - [`data`]: the embedded MNIST-5k set, readers for IDX, CIFAR, STL-10 and image folders, and
//!   the preparation of a configuration's splits.
//! - [`config`], [`error`], [`heap`]: the configuration, the error type, the heap counter.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod augment;
pub mod commands;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod heap;
pub mod model;
pub mod report;
pub mod train;

pub use error::{Error, Result};
