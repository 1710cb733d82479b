//! The GroCo loss with everything but the row losses on the device: the same loss and gradient
//! as the host path (`groco_host`), with only two small copies per step.
//!
//! On the device, from dfdx ops ([`super::resident`]): the normalised views z_v; for anchor view
//! v the positives `z_v[b]·z_u[b]` (u < P, u ≠ v) and the Gram matrix S_v = z_v·z_vᵀ without its
//! diagonal; the k largest entries of each row by one-hot masks; and all of it side by side in
//! one `(B, W)` matrix R, W = Σ_v (k + P_v), P_v = P − 1 for the P positives-eligible views and P
//! for the others. With stop-gradient (the default) the positive and negative side of every
//! similarity is a detached copy, so only anchors get gradient.
//!
//! R goes to the host (B·W values), where groco-core's row loss gives the loss and dL/dR for
//! every (row, view); dL/dR comes back (B·W values). The scalar returned is
//! L + Σ (R − detached(R)) ⊙ dL/dR: its value is exactly L (the difference is exactly 0) and its
//! gradient with respect to R is dL/dR, which dfdx's autodiff then carries back through the
//! selection masks, the Gram matrices and the normalisation to the views.

use dfdx::prelude::*;
use groco_core::GrocoRowLoss;
use groco_dispatch::Dispatch;
use rayon::prelude::*;

use super::device::core_error;
use super::float::{cst, LossFloat};
use super::groco_config::{check_config, row_losses, GrocoConfig};
use super::resident::{
    detached, dev, gram, normalize_views, pick, row_dots, side_by_side, top_k_masks,
    without_diagonal, Col, ResidentDevice, Rows,
};
use super::views::{take_views, Taken};
use crate::transfer::{download, upload};
use crate::Error;

const OP: &str = "groco_loss";

/// The GroCo loss of `views` on their device (see the module docs).
pub(crate) fn groco_resident<B: Dim, C: Dim, F, D, T>(
    views: Vec<Tensor<(B, C), F, D, T>>,
    config: &GrocoConfig,
) -> Result<Tensor<Rank0, F, D, T>, Error>
where
    F: LossFloat,
    D: ResidentDevice<F>,
    T: Tape<F, D>,
{
    let Taken {
        xs,
        mut tape,
        rows: b,
        cols: d,
    } = take_views(OP, views)?;
    let nv = xs.len();
    let (p, k) = check_config(config, nv, b)?;
    let device = xs[0].device().clone();
    let z = normalize_views(xs, (b, d), &mut tape)?;
    // the side of a similarity that is not the anchor
    let other: Vec<Rows<F, D>> = if config.stop_grad {
        z.iter()
            .map(detached)
            .collect::<Result<_, _>>()
            .map_err(Error::device)?
    } else {
        z.clone()
    };
    let taped = |v: usize| z[v].clone().retaped::<T>();
    // without stop-gradient, the other side is z itself (taped where it is used)
    let mut columns: Vec<Col<F, D, T>> = Vec::new();
    let mut widths = Vec::with_capacity(nv);
    for v in 0..nv {
        let s = if config.stop_grad {
            dev(gram(taped(v), other[v].clone()))?
        } else {
            dev(gram(taped(v), taped(v)))?
        };
        let s = without_diagonal(s)?;
        let (s_plain, s_tape) = s.split_tape();
        tape = tape.merge(s_tape);
        for mask in top_k_masks(&s_plain, k)? {
            columns.push(dev(pick(mask, s_plain.clone().retaped::<T>()))?);
        }
        let pos: Vec<usize> = (0..p).filter(|&u| u != v).collect();
        for &u in &pos {
            columns.push(dev(row_dots(taped(v), other[u].clone()))?);
        }
        widths.push(k + pos.len());
    }
    let r = side_by_side(&device, columns)?;
    let (r, r_tape) = r.split_tape();
    tape = tape.merge(r_tape);
    let w: usize = widths.iter().sum();
    let mut host = vec![F::zero(); b * w];
    download(&r, &mut host, "groco rows");
    let rows = HostRows {
        values: &host,
        widths: &widths,
        k,
        p,
        b,
    };
    let losses = row_losses::<F>(config, p, k)?;
    let (loss, grad) = rows.loss(&losses, T::OWNS_TAPE)?;
    let zero = dev(device.try_zeros_like(&()))?;
    let Some(grad) = grad else {
        return Ok(dev(zero.try_add(loss))?.put_tape(tape));
    };
    let g = upload(&device, (b, w), &grad, "groco row gradients")?;
    let diff = dev(r.clone().retaped::<T>().try_sub(dev(detached(&r))?))?;
    let out = dev(dev(diff.try_mul(g))?.try_sum::<Rank0, _>())?;
    let (out, out_tape) = dev(out.try_add(loss))?.split_tape();
    Ok(out.put_tape(tape.merge(out_tape)))
}

/// The downloaded R: row r, view v holds k negatives then the positives, at column offset
/// `Σ_{u<v} widths[u]`.
struct HostRows<'a, F> {
    values: &'a [F],
    widths: &'a [usize],
    k: usize,
    p: usize,
    b: usize,
}

impl<F: LossFloat> HostRows<'_, F> {
    /// The loss and, with `want_grad`, dL/dR (same layout).
    fn loss(
        &self,
        losses: &[GrocoRowLoss<F>; 2],
        want_grad: bool,
    ) -> Result<(F, Option<Vec<F>>), Error> {
        let (k, b, nv) = (self.k, self.b, self.widths.len());
        let w: usize = self.widths.iter().sum();
        let scale = F::one() / cst::<F>((b * nv) as f64);
        let mut grad = vec![F::zero(); if want_grad { b * w } else { 0 }];
        let mut row_loss = vec![F::zero(); b];
        let scratch = losses[0].scratch_len().max(losses[1].scratch_len());
        let isa = Dispatch::detect();
        let run = |r: usize, out: &mut F, g: Option<&mut [F]>, sc: &mut Vec<F>| {
            isa.run(
                #[inline(always)]
                || {
                    let row = &self.values[r * w..(r + 1) * w];
                    let mut g = g;
                    let mut at = 0;
                    let mut total = F::zero();
                    for (v, &wv) in self.widths.iter().enumerate() {
                        let rl = &losses[usize::from(v >= self.p)];
                        let (neg, pos) = row[at..at + wv].split_at(k);
                        total += match g.as_deref_mut() {
                            Some(g) => {
                                let (gn, gp) = g[at..at + wv].split_at_mut(k);
                                let l = rl.try_loss_and_grad_inlined(pos, neg, gp, gn, sc);
                                gn.iter_mut().chain(gp.iter_mut()).for_each(|x| *x *= scale);
                                l
                            }
                            None => rl.try_loss_inlined(pos, neg, sc),
                        }
                        .map_err(|e| similarity_error(e, r, v))?;
                        at += wv;
                    }
                    *out = total;
                    Ok::<(), Error>(())
                },
            )
        };
        if want_grad {
            row_loss
                .par_iter_mut()
                .zip(grad.par_chunks_mut(w))
                .enumerate()
                .try_for_each_init(
                    || vec![F::zero(); scratch],
                    |sc, (r, (out, g))| run(r, out, Some(g), sc),
                )?;
        } else {
            row_loss.par_iter_mut().enumerate().try_for_each_init(
                || vec![F::zero(); scratch],
                |sc, (r, out)| run(r, out, None, sc),
            )?;
        }
        let loss = row_loss.iter().fold(F::zero(), |a, &l| a + l) * scale;
        Ok((loss, want_grad.then_some(grad)))
    }
}

/// A core error on row `r` of anchor view `v`: a non-finite similarity means a non-finite view.
fn similarity_error(e: groco_core::Error, r: usize, v: usize) -> Error {
    match e {
        groco_core::Error::NonFinite { .. } => Error::NonFinite {
            op: OP,
            what: format!("similarities of views[{v}] row {r} (a NaN or ±inf in the views)"),
        },
        e => core_error(OP)(e),
    }
}
