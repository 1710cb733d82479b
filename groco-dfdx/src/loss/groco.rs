//! The GroCo loss (Shvetsova et al., ICCV 2023) over V augmented views of a batch, as a dfdx op
//! whose backward runs through groco-core's analytic row-loss gradient.
//!
//! For anchor view v and row b, the positives are the cosine similarities of `z_v[b]` with the
//! same row of the other positives-eligible views (the first P), the candidate negatives its
//! similarities with the other rows of view v; the core's GroCo row loss keeps the k largest
//! negatives, relax-sorts [negatives, positives] and scores how well the positives land on top.
//! The loss is the mean over rows, then over the V anchor views. With `stop_grad` (the default)
//! only the anchor side of each similarity receives gradient. See `groco_host` for the
//! computation and its cost.

use dfdx::prelude::*;

use super::device::LossDevice;
use super::float::LossFloat;
use super::groco_config::GrocoConfig;
use super::groco_host::groco_host;
use super::groco_resident::groco_resident;
use super::views::scalar_loss_op;
use crate::Error;

/// The GroCo loss of V ≥ 2 views, each `(B, D)` (the projection head's outputs for V
/// augmentations of the same B images), as a scalar on the views' merged tape.
///
/// Errors: fewer than 2 views, views of different shapes, B < 2 or D = 0, `topk_neg` outside
/// 1..=B−1, `n_pos_augs` outside 2..=V, a NaN/±inf input, an invalid steepness or art_lambda.
///
/// On `Cpu` the loss is one op: its forward computes everything on the host and, on a tape, also
/// the gradient, which the backward scales by the output's gradient. On `Cuda` (and on `Cpu`
/// with [`crate::path::CpuPath::Composed`]) it runs on the device, composed of dfdx ops, with
/// only the core's row losses on the host: `(B, V·(k + P − 1))` selected similarities go down
/// and their gradients come back up (see [`LossDevice::resident`]).
///
/// ```
/// use dfdx::prelude::*;
/// use groco_dfdx::loss::{groco_loss, GrocoConfig};
/// let dev = Cpu::default();
/// let head = dev.build_module::<Linear<4, 3>, f32>();
/// let x1: Tensor<Rank2<8, 4>, f32, _> = dev.sample_normal();
/// let x2: Tensor<Rank2<8, 4>, f32, _> = dev.sample_normal();
/// // two views through a shared head; the second view's tape merges into the loss's
/// let z1 = head.forward(x1.traced(head.alloc_grads()));
/// let z2 = head.forward(x2.leaky_traced());
/// let cfg = GrocoConfig { topk_neg: 3, ..GrocoConfig::default() };
/// let loss = groco_loss([z1, z2], cfg)?;
/// assert!(loss.array() > 0.0);
/// let grads = loss.backward();
/// assert!(grads.get(&head.weight).array().iter().flatten().any(|g| *g != 0.0));
/// # Ok::<(), groco_dfdx::Error>(())
/// ```
pub fn groco_loss<B, C, F, D, T>(
    views: impl IntoIterator<Item = Tensor<(B, C), F, D, T>>,
    config: GrocoConfig,
) -> Result<Tensor<Rank0, F, D, T>, Error>
where
    B: Dim,
    C: Dim,
    F: LossFloat,
    D: LossDevice<F>,
    T: Tape<F, D>,
{
    let views: Vec<_> = views.into_iter().collect();
    if views.len() < 2 {
        return Err(Error::config(
            "groco_loss",
            "views",
            views.len(),
            "the GroCo loss needs at least 2 views",
        ));
    }
    if D::resident() {
        return groco_resident(views, &config);
    }
    scalar_loss_op("groco_loss", views, |v, want_grad| {
        groco_host(v, &config, want_grad)
    })
}
