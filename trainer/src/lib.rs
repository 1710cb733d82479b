//! The groco trainer library: GroCo self-supervised pre-training of an encoder, evaluated by k-NN
//! (and linear probes), from datasets on disk or the embedded MNIST-5k set.
//!
//! - [`data`]: the embedded MNIST-5k set and readers for IDX, CIFAR, STL-10 and image folders.
//! - [`augment`]: SimCLR/DINO-style random views, a pure function of (seed, epoch, sample, view),
//!   and a [`augment::BatchLoader`] that builds batches on worker threads.
//! - [`model`]: the `small-cnn`, `small-cnn-flat` and `resnet18` encoders and the GroCo projection head.
//! - [`losses`], [`optim`], [`schedule`]: the loss of a step, SGD/LARS, warm-up + cosine.
//! - [`train`]: the training loop; [`checkpoint`] and [`runlog`]: what it writes.
//! - [`eval`] and [`knn`]: weighted k-NN accuracy of features, in chunks so the bank may be large.
//! - [`config`] and [`cli`]: the configuration and the command line.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod augment;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod compare;
pub mod config;
pub mod data;
pub mod dispatch;
pub mod error;
pub mod eval;
pub mod evalcmd;
pub mod heap;
pub mod knn;
pub mod linear;
pub mod losses;
pub mod model;
pub mod optim;
pub mod plots;
pub mod progress;
pub mod runlog;
pub mod schedule;
pub mod train;

pub use error::{Error, Result};
