//! The self-supervised loss of a training step: the projections of all views come stacked as one
//! `(V·B, D)` tensor (view-major), are split into V views of `(B, D)` on the same tape, and go
//! to groco-dfdx's GroCo or NT-Xent op.

use dfdx::prelude::*;
use groco_dfdx::loss::{groco_loss, nt_xent, GrocoConfig};

use crate::config::{LossKind, TrainConfig};
use crate::error::{Error, Result};
use crate::model::TrainDevice;

type Taped<S, D> = Tensor<S, f32, D, OwnedTape<f32, D>>;

/// The configured loss.
#[derive(Clone, Copy, Debug)]
pub enum LossFn {
    /// GroCo with its settings; `n_pos_augs` is the number of global views.
    Groco(GrocoConfig),
    /// NT-Xent with this temperature.
    NtXent(f64),
}

impl LossFn {
    /// The loss `config` asks for, where the first `global_views` views are positives-eligible.
    pub fn try_new(config: &TrainConfig, global_views: usize) -> Result<Self> {
        Ok(match config.loss {
            LossKind::Groco => LossFn::Groco(GrocoConfig {
                topk_neg: config.topk_neg,
                steepness: config.steepness,
                network: config.network,
                relaxation: config.relaxation,
                art_lambda: config.art_lambda,
                n_pos_augs: Some(global_views),
                stop_grad: true,
            }),
            LossKind::NtXent => LossFn::NtXent(config.temperature),
        })
    }

    /// The loss of `z`, the stacked projections of `global` views of `batch` images each, and of
    /// `z_small`, those of `small` small crops (multi-crop; anchors only, never positives).
    pub fn try_loss<D: TrainDevice>(
        &self,
        z: Taped<(usize, usize), D>,
        z_small: Option<Taped<(usize, usize), D>>,
        global: usize,
        small: usize,
        batch: usize,
    ) -> Result<Taped<Rank0, D>> {
        let mut parts = split_views(z, global, batch)?;
        match z_small {
            Some(zs) => parts.extend(split_views(zs, small, batch)?),
            None if small > 0 => {
                return Err(Error::config(
                    "small_crops",
                    small,
                    "projections of the small crops are missing",
                ))
            }
            None => {}
        }
        let views = parts.len();
        Ok(match *self {
            LossFn::Groco(cfg) => groco_loss(parts, cfg)?,
            LossFn::NtXent(t) => {
                let mut it = parts.into_iter();
                let (a, b) = (it.next(), it.next());
                match (a, b, it.next()) {
                    (Some(a), Some(b), None) => nt_xent([a, b], t)?,
                    _ => {
                        return Err(Error::config(
                            "views",
                            views,
                            "nt-xent takes exactly 2 views",
                        ))
                    }
                }
            }
        })
    }
}

/// Splits `(views·batch, D)` into `views` tensors of `(batch, D)`, all on the same tape.
fn split_views<D: TrainDevice>(
    z: Taped<(usize, usize), D>,
    views: usize,
    batch: usize,
) -> Result<Vec<Taped<(usize, usize), D>>> {
    let (rows, _) = *z.shape();
    if rows != views * batch || views == 0 {
        return Err(Error::ShapeMismatch {
            what: "stacked projections",
            expected: format!("{views} views x {batch} rows"),
            found: format!("{rows} rows"),
        });
    }
    let device = |e| Error::Device(format!("{e:?}"));
    let mut parts = Vec::with_capacity(views);
    for v in 1..views {
        let part = z
            .with_empty_tape()
            .try_slice((v * batch..(v + 1) * batch, ..));
        parts.push(part.map_err(device)?);
    }
    parts.insert(0, z.try_slice((0..batch, ..)).map_err(device)?);
    Ok(parts)
}
