//! Preparing a configuration's dataset for a run: loading the splits named by its spec, at the
//! encoder's input size, with `train_limit` and `test_limit` applied (and STL-10's unlabeled split
//! added to the pre-training images when present).

use std::path::Path;
use std::sync::Arc;

use crate::config::{EncoderKind, TrainConfig};
use crate::error::Result;

use super::{load, DatasetSpec, ImageSet, LoadOptions};

/// Data prepared for a run: the train and test splits at the encoder's input size.
#[derive(Clone, Debug)]
pub struct PreparedData {
    /// Labelled training images (the k-NN bank and the linear probe's training set).
    pub train: Arc<ImageSet>,
    /// Pre-training images (augmented on the fly): `train`, plus STL-10's unlabeled split when
    /// [`try_prepare_train_data`] found `unlabeled_X.bin`.
    pub pretrain: Arc<ImageSet>,
    /// Test images (k-NN queries).
    pub test: ImageSet,
    /// Side of the encoder's input.
    pub size: usize,
    /// Channels the encoder takes.
    pub channels: usize,
}

/// The encoder's input side for a dataset of native side `native` and `channels` channels.
pub fn input_size(encoder: EncoderKind, native: usize) -> usize {
    match encoder {
        EncoderKind::SmallCnn | EncoderKind::SmallCnnFlat if native == 28 => 28,
        EncoderKind::SmallCnn | EncoderKind::SmallCnnFlat => 32,
        EncoderKind::Resnet18 if native <= 32 => 32,
        EncoderKind::Resnet18 => 64,
    }
}

/// Loads and prepares the dataset named in `config` for evaluation (`pretrain` is `train`).
pub fn try_prepare_data(config: &TrainConfig) -> Result<PreparedData> {
    prepare(config, false)
}

/// Loads and prepares the dataset named in `config` for pre-training: for `stl10:DIR` with an
/// `unlabeled_X.bin` (in `DIR` or `DIR/stl10_binary`), `pretrain` is the train split followed by
/// the unlabeled split (`train_limit` then keeps an evenly spaced subset of both together).
pub fn try_prepare_train_data(config: &TrainConfig) -> Result<PreparedData> {
    prepare(config, true)
}

fn prepare(config: &TrainConfig, pretrain_unlabeled: bool) -> Result<PreparedData> {
    let spec: DatasetSpec = config.dataset.parse()?;
    let has_unlabeled = |dir: &Path| {
        ["unlabeled_X.bin", "stl10_binary/unlabeled_X.bin"]
            .iter()
            .any(|f| dir.join(f).is_file())
    };
    let unlabeled =
        pretrain_unlabeled && matches!(&spec, DatasetSpec::Stl10(dir) if has_unlabeled(dir));
    let options = LoadOptions {
        unlabeled,
        ..LoadOptions::default()
    };
    let split = load(&spec, &options)?;
    let native = split.train.height().max(split.train.width());
    let size = input_size(config.encoder, native);
    let channels = if split.train.channels() == 1 { 1 } else { 3 };
    // A limit keeps an evenly spaced subset, so class-sorted files keep every class.
    let limit = |set: ImageSet, n: usize| {
        if n == 0 || n >= set.len() {
            set
        } else {
            let len = set.len();
            set.subset(&(0..n).map(|i| i * len / n).collect::<Vec<_>>())
        }
    };
    let pretrain = match split.unlabeled {
        Some(extra) => {
            let both = ImageSet::try_concat(&[&split.train, &extra])?;
            drop(extra);
            Some(limit(both, config.train_limit).try_with_channels(channels)?)
        }
        None => None,
    };
    let train = limit(split.train, config.train_limit).try_with_channels(channels)?;
    let test = limit(split.test, config.test_limit).try_with_channels(channels)?;
    let resize = |s: ImageSet| {
        if s.height() == size && s.width() == size {
            s
        } else {
            s.resized(size, size)
        }
    };
    let train = Arc::new(resize(train));
    Ok(PreparedData {
        pretrain: pretrain.map_or_else(|| train.clone(), |p| Arc::new(resize(p))),
        train,
        test: resize(test),
        size,
        channels,
    })
}
