//! The GroCo loss over V views on host rows, with its gradient.
//!
//! With `z_v[b]` the normalised row b of view v, P the number of positives-eligible views and k
//! the kept negatives:
//! - anchor (v, b) has positives `z_v[b]·z_u[b]` for u < P, u ≠ v (ascending u) and candidate
//!   negatives `z_v[b]·z_v[c]` for c ≠ b, the rows of the Gram matrix S_v = Z_v·Z_vᵀ (its upper
//!   triangle by panel gemms and its transposed tiles, `gram::SymGram`; two views' Grams at a
//!   time up to B = 2048, then their rows, each pass over rayon);
//! - the k largest candidates are selected here (ties: lower c first, as the core), 16 rows at
//!   a time (`top_k::TopK`), and handed to the core's [`GrocoRowLoss`] with m = k,
//!   so the core's own top-k is O(k²) instead of O(k·B); its loss and gradient are those of
//!   the full row, since a candidate outside the top k has gradient 0;
//! - loss = (1/V) Σ_v (1/B) Σ_b rowloss(v, b).
//!
//! Gradient, with g_p, g_n the core's row gradients scaled by 1/(B·V): the anchor side gets
//! `dz_v[b] = Σ_u g_p,u·z_u[b] + Σ_j g_n,j·z_v[c_j]` (sparse: k + P terms per row, no second
//! gemm); without stop-grad the other side gets `dz_u[b] += g_p,u·z_v[b]` and
//! `dz_v[c_j] += g_n,j·z_v[b]`. Then the normalisation's backward.

use groco_core::{GrocoRowLoss, LANES};
use groco_dispatch::Dispatch;
use rayon::prelude::*;

use super::cosine::{dot, Normalized};
use super::device::core_error;
use super::float::{cst, LossFloat};
use super::gram::{SymGram, PANEL};
use super::groco_config::{check_config, row_losses, GrocoConfig};
use super::top_k::{TopK, CHUNK};
use super::views::{HostLoss, Views};
use crate::host::Scratch;
use crate::Error;

const OP: &str = "groco_loss";

/// Largest batch whose views' Grams are built two at a time (16 MB each in f32); larger
/// batches have work enough per view, and keep one Gram alive.
const PAIRED_VIEWS_MAX_ROWS: usize = 2048;

// a group of LANES rows lies in one Gram panel
const _: () = assert!(PANEL.is_multiple_of(LANES));

/// What the rows of one anchor view produced, kept for the stop-grad-off pass.
struct AnchorRows<F> {
    /// Row gradients wrt the positives, B × n_pos (scaled).
    gp: Vec<F>,
    /// Row gradients wrt the kept negatives, B × k (scaled).
    gn: Vec<F>,
    /// The candidate row c of each kept negative, B × k.
    idx: Vec<usize>,
}

/// The GroCo loss of `views` and, if `want_grad`, dL/dview.
pub(crate) fn groco_host<F: LossFloat>(
    views: Views<'_, F>,
    config: &GrocoConfig,
    want_grad: bool,
) -> Result<HostLoss<F>, Error> {
    // views two at a time, their Grams then their rows in one parallel pass each (better
    // balanced than one view's alone), while two Grams (about B² floats each) stay small
    let at_once = if views.rows <= PAIRED_VIEWS_MAX_ROWS {
        2
    } else {
        1
    };
    groco_host_by(views, config, want_grad, at_once)
}

/// [`groco_host`] with the views' Grams and rows `at_once` views at a time.
fn groco_host_by<F: LossFloat>(
    views: Views<'_, F>,
    config: &GrocoConfig,
    want_grad: bool,
    at_once: usize,
) -> Result<HostLoss<F>, Error> {
    let (nv, b, d) = (views.data.len(), views.rows, views.cols);
    let (p, k) = check_config(config, nv, b)?;
    let [eligible, extra] = row_losses(config, p, k)?;
    let z: Vec<Normalized<F>> = views.data.iter().map(|x| Normalized::new(x, d)).collect();
    let scale = F::one() / cst::<F>((b * nv) as f64);
    let mut dz: Vec<Scratch<F>> = (0..nv)
        // every row written (zeroed first) by its group of the anchor pass
        .map(|_| Scratch::take(if want_grad { b * d } else { 0 }))
        .collect();
    let mut kept = Vec::with_capacity(nv);
    let mut total = F::zero();
    let isa = Dispatch::detect();
    let order: Vec<usize> = (0..nv).collect();
    for (pair, dz_pair) in order.chunks(at_once).zip(dz.chunks_mut(at_once)) {
        let grams: Vec<SymGram<F>> = pair
            .par_iter()
            .map(|&v| SymGram::with_rows(&z[v].z, b, d, isa))
            .collect();
        let runs = pair
            .par_iter()
            .zip(grams.par_iter().zip(dz_pair.par_iter_mut()))
            .map(|(&v, (sims, dzv))| {
                let pos_views: Vec<usize> = (0..p).filter(|&u| u != v).collect();
                let rows = AnchorRun {
                    z: &z,
                    v,
                    pos_views: &pos_views,
                    b,
                    d,
                    k,
                    scale,
                    rl: if v < p { &eligible } else { &extra },
                    want_grad,
                };
                rows.run(sims, dzv)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        for (sum, anchor) in runs {
            total += sum / cst::<F>(b as f64);
            kept.push(anchor);
        }
    }
    let loss = total / cst::<F>(nv as f64);
    if !want_grad {
        return Ok(HostLoss { loss, grads: None });
    }
    if !config.stop_grad {
        other_side(&z, &kept, (p, b, d, k), &mut dz);
    }
    dz.par_iter_mut()
        .zip(&z)
        .for_each(|(g, zv)| zv.backward_in_place(g));
    Ok(HostLoss {
        loss,
        grads: Some(dz),
    })
}

/// The rows of one anchor view.
struct AnchorRun<'a, F: LossFloat> {
    z: &'a [Normalized<F>],
    v: usize,
    pos_views: &'a [usize],
    b: usize,
    d: usize,
    k: usize,
    scale: F,
    rl: &'a GrocoRowLoss<F>,
    want_grad: bool,
}

impl<F: LossFloat> AnchorRun<'_, F> {
    /// Row losses summed over the batch; writes the anchor-side dz of every row into `dz`.
    fn run(&self, sims: &SymGram<F>, dz: &mut [F]) -> Result<(F, AnchorRows<F>), Error> {
        let (np, b, d, k) = (self.pos_views.len(), self.b, self.d, self.k);
        let mut out = AnchorRows {
            gp: vec![F::zero(); b * np],
            gn: vec![F::zero(); b * k],
            idx: vec![0; b * k],
        };
        let mut losses = vec![F::zero(); b];
        // groups of LANES rows: the core runs a group's row losses side by side, one per lane
        let g = LANES;
        let dz_groups: Vec<Option<&mut [F]>> = if self.want_grad {
            dz.chunks_mut(g * d).map(Some).collect()
        } else {
            (0..b.div_ceil(g)).map(|_| None).collect()
        };
        let core_len = self.rl.rows_scratch_len().max(self.rl.scratch_len());
        let maxima_len = TopK::<F>::maxima_len(b);
        let scratch_len = core_len + g * (np + k) + maxima_len;
        let isa = Dispatch::detect();
        losses
            .par_chunks_mut(g)
            .zip(
                out.gp
                    .par_chunks_mut(g * np)
                    .zip(out.gn.par_chunks_mut(g * k)),
            )
            .zip(out.idx.par_chunks_mut(g * k).zip(dz_groups.into_par_iter()))
            .enumerate()
            .try_for_each_init(
                || Scratch::<F>::take(scratch_len),
                |sc, (group, ((loss, (gp, gn)), (idx, dzg)))| {
                    // the whole group (top-k, core row losses, sparse dz) for the widest ISA
                    isa.run(
                        #[inline(always)]
                        || {
                            let (rows, r0) = (loss.len(), group * g);
                            let (pos, rest) = sc.split_at_mut(rows * np);
                            let (neg, rest) = rest.split_at_mut(rows * k);
                            let (maxima, rest) = rest.split_at_mut(maxima_len);
                            let core_sc = &mut rest[..core_len];
                            // each row's candidates left of its panel (the Gram's transposed
                            // tiles), then its own part (skipping itself)
                            TopK::new(&mut *neg, &mut *idx, k).select(
                                sims.own(r0).0 / CHUNK,
                                #[inline(always)]
                                |j, i| sims.cross_chunk(r0 + j, i),
                                #[inline(always)]
                                |i| sims.cross_maxima(i, r0, rows),
                                #[inline(always)]
                                |i| {
                                    let (s, own) = sims.own(r0 + i);
                                    (s, own, r0 + i)
                                },
                                maxima,
                            );
                            for i in 0..rows {
                                let row = r0 + i;
                                let za = self.z[self.v].row(row);
                                let pr = &mut pos[i * np..(i + 1) * np];
                                for (pv, &u) in pr.iter_mut().zip(self.pos_views) {
                                    *pv = dot(za, self.z[u].row(row));
                                }
                            }
                            if !self.want_grad {
                                for (i, l) in loss.iter_mut().enumerate() {
                                    let (pr, nr) =
                                        (&pos[i * np..(i + 1) * np], &neg[i * k..(i + 1) * k]);
                                    *l = self
                                        .rl
                                        .try_loss_inlined(pr, nr, core_sc)
                                        .map_err(core_error(OP))?;
                                }
                                return Ok(());
                            }
                            self.rl
                                .try_loss_and_grad_rows_inlined(pos, neg, gp, gn, loss, core_sc)
                                .map_err(core_error(OP))?;
                            let Some(dzg) = dzg else { return Ok(()) };
                            dzg.fill(F::zero());
                            gp.iter_mut()
                                .chain(gn.iter_mut())
                                .for_each(|v| *v *= self.scale);
                            for (i, dzr) in dzg.chunks_mut(d).enumerate() {
                                let row = group * g + i;
                                let terms = gp[i * np..(i + 1) * np]
                                    .iter()
                                    .zip(self.pos_views)
                                    .map(|(&w, &u)| (w, self.z[u].row(row)));
                                let terms = terms.chain(
                                    gn[i * k..(i + 1) * k]
                                        .iter()
                                        .zip(&idx[i * k..(i + 1) * k])
                                        .map(|(&w, &c)| (w, self.z[self.v].row(c))),
                                );
                                for (w, zr) in terms {
                                    axpy(dzr, w, zr);
                                }
                            }
                            Ok::<(), Error>(())
                        },
                    )
                },
            )?;
        let sum = losses.iter().fold(F::zero(), |a, &l| a + l);
        Ok((sum, out))
    }
}

/// Without stop-grad: the positive and negative sides of each similarity, per target view.
fn other_side<F: LossFloat>(
    z: &[Normalized<F>],
    kept: &[AnchorRows<F>],
    (p, b, d, k): (usize, usize, usize, usize),
    dz: &mut [Scratch<F>],
) {
    dz.par_iter_mut().enumerate().for_each(|(w, dzw)| {
        // w as a positive of every other anchor v (w eligible, w ≠ v)
        if w < p {
            for (v, anchor) in kept.iter().enumerate().filter(|&(v, _)| v != w) {
                let np = if v < p { p - 1 } else { p };
                let slot = if w < v { w } else { w - 1 };
                for row in 0..b {
                    axpy(
                        &mut dzw[row * d..(row + 1) * d],
                        anchor.gp[row * np + slot],
                        z[v].row(row),
                    );
                }
            }
        }
        // w's rows as negatives of w's own anchors
        let anchor = &kept[w];
        for row in 0..b {
            for j in 0..k {
                let c = anchor.idx[row * k + j];
                axpy(
                    &mut dzw[c * d..(c + 1) * d],
                    anchor.gn[row * k + j],
                    z[w].row(row),
                );
            }
        }
    });
}

/// `y += a·x`.
#[inline]
fn axpy<F: LossFloat>(y: &mut [F], a: F, x: &[F]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The views' Grams one at a time, two at a time (with an odd view left over) or all at
    /// once give the same loss and gradients, bit for bit, with and without stop-grad.
    #[test]
    fn views_at_once_do_not_change_the_result() {
        let (nv, b, d) = (3, 150, 6);
        let data: Vec<Vec<f64>> = (0..nv)
            .map(|v| {
                (0..b * d)
                    .map(|i| (((i * 7919 + v * 104_729) % 1009) as f64 - 504.0) / 97.0)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = data.iter().map(|x| &x[..]).collect();
        let views = Views {
            data: &refs,
            rows: b,
            cols: d,
        };
        for stop_grad in [true, false] {
            let config = GrocoConfig {
                topk_neg: 7,
                stop_grad,
                ..GrocoConfig::default()
            };
            let run = |at_once| groco_host_by(views, &config, true, at_once).expect("loss");
            let one = run(1);
            for at_once in [2, 3] {
                let other = run(at_once);
                assert_eq!(
                    one.loss, other.loss,
                    "at_once={at_once} stop_grad={stop_grad}"
                );
                let (g1, g2) = (one.grads.as_ref(), other.grads.as_ref());
                for (a, b) in g1.expect("grads").iter().zip(g2.expect("grads")) {
                    assert_eq!(&a[..], &b[..], "at_once={at_once} stop_grad={stop_grad}");
                }
            }
        }
    }
}
