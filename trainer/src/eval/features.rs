//! Evaluation of an encoder: eval-mode features of a whole image set, and the weighted k-NN
//! protocol (cosine similarity on L2-normalised features, votes weighted by exp(sim / T), the
//! train split as the bank and the test split as the queries).

use dfdx::prelude::*;
use groco_dfdx::layers::images_to_activation;
use groco_dfdx::transfer::download_vec;

use super::knn::{l2_normalize, try_knn_accuracy, KnnConfig, KnnScore};
use crate::augment::eval_batches;
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::model::Net;
use crate::model::TrainDevice;

/// Images per forward pass when extracting features.
pub const EVAL_BATCH: usize = 256;

/// Eval-mode encoder features of every image of `set` (resized to `size`, pixels mapped to the
/// network's input by [`Net::map_input`]), `len × dim`, not normalised. Returns the features
/// and `dim`.
pub fn try_features<N: Net<D>, D: TrainDevice>(
    net: &N,
    dev: &D,
    set: &ImageSet,
    size: usize,
) -> Result<(Vec<f32>, usize)> {
    let mut out = Vec::new();
    let mut dim = 0;
    for mut batch in eval_batches(set, size, size, EVAL_BATCH)? {
        let [b, c, h, w] = batch.shape;
        N::map_input(&mut batch.images);
        let x = images_to_activation(dev, &batch.images, b, c, h, w)?;
        let f = net.try_features_eval(x)?;
        dim = f.shape().1;
        out.extend_from_slice(&download_vec(&f, "features (evaluation)"));
    }
    if let Some(i) = out.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "encoder features",
            row: i / dim.max(1),
        });
    }
    Ok((out, dim))
}

/// k-NN accuracy of `net` for each k in `ks`: bank = `train`, queries = `test`.
pub fn try_knn<N: Net<D>, D: TrainDevice>(
    net: &N,
    dev: &D,
    train: &ImageSet,
    test: &ImageSet,
    size: usize,
    ks: &[usize],
    temperature: f64,
) -> Result<Vec<KnnScore>> {
    let (mut bank, dim) = try_features(net, dev, train, size)?;
    let (mut queries, _) = try_features(net, dev, test, size)?;
    l2_normalize(&mut bank, dim);
    l2_normalize(&mut queries, dim);
    let cfg = KnnConfig {
        ks: ks.to_vec(),
        temperature: temperature as f32,
        ..KnnConfig::default()
    };
    let classes = train.num_classes().max(test.num_classes());
    try_knn_accuracy(
        &bank,
        train.labels(),
        &queries,
        test.labels(),
        dim,
        classes,
        &cfg,
    )
}
