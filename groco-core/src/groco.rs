//! The GroCo row loss (Shvetsova et al., ICCV 2023, as its official code computes it) for one
//! anchor: p positive and m ≥ k candidate negative similarities.
//!
//! s = [the k largest negatives ascending, the positives ascending] (n = k + p) is relax-sorted;
//! with P its permutation matrix, q_i = clip(Σ_{j≥k} `P[i][j]`, 0, 1) (target t_i = [i ≥ k]) and
//! r_i = clip(Σ_{j<k} `P[i][j]`, 0, 1) (target 1 − t_i), and
//! loss = (1/n) Σ_i ½(BCE(q_i, t_i) + BCE(r_i, 1 − t_i)),
//! BCE(q, t) = −(t·max(ln q, −100) + (1−t)·max(ln(1−q), −100)), as PyTorch's `BCELoss`.
//!
//! Only q = P·u and r = P·(1−u) are needed (u the indicator of positive output slots): two
//! vectors pushed through the comparators, O(n·depth), never forming P. The gradient uses
//! PyTorch's BCE backward, (q − t)/max(q(1−q), 1e-12), and clamp's (passing at the bounds),
//! then the hard pre-ordering routes each slot's gradient back to its input; negatives outside
//! the top k get 0. Ties in the pre-ordering are broken by input index.

use crate::real::{cst, from_usize, Real};
use crate::relaxation::with_relaxation;
use crate::sorter::{check_finite, check_len, check_scratch, take};
use crate::values::{self, AlphaTape, FullTape};
use crate::{Error, SortConfig, Sorter};

mod rows;

/// The GroCo loss of one anchor's row, with its exact gradient.
///
/// ```
/// use groco_core::{GrocoRowLoss, SortConfig};
/// let l = GrocoRowLoss::try_new(2, 5, 3, SortConfig::<f64>::default())?;
/// let (pos, neg) = ([0.9, 0.7], [0.1, 0.5, -0.2, 0.3, 0.0]);
/// let (mut gp, mut gn) = ([0.0; 2], [0.0; 5]);
/// let mut scratch = vec![0.0; l.scratch_len()];
/// let loss = l.try_loss_and_grad(&pos, &neg, &mut gp, &mut gn, &mut scratch)?;
/// assert!(loss > 0.0 && gp[0] < 0.0); // raising a positive lowers the loss
/// assert_eq!(gn[2], 0.0); // -0.2 is not among the top 3 negatives
/// assert_eq!(loss, l.try_loss(&pos, &neg, &mut scratch)?);
/// # Ok::<(), groco_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GrocoRowLoss<F> {
    sorter: Sorter<F>,
    n_pos: usize,
    n_neg: usize,
    k: usize,
}

impl<F: Real> GrocoRowLoss<F> {
    /// `n_pos` positives, `n_neg` candidate negatives of which the top `topk_neg` are kept.
    /// Errors: `TooFewNegatives` if n_neg < topk_neg, `EmptyInput` if n_pos + topk_neg = 0,
    /// and the [`Sorter::try_new`] errors.
    pub fn try_new(
        n_pos: usize,
        n_neg: usize,
        topk_neg: usize,
        config: SortConfig<F>,
    ) -> Result<Self, Error> {
        if n_neg < topk_neg {
            return Err(Error::TooFewNegatives {
                needed: topk_neg,
                actual: n_neg,
            });
        }
        let n = n_pos
            .checked_add(topk_neg)
            .ok_or(Error::TooLarge { n: usize::MAX })?;
        Ok(GrocoRowLoss {
            sorter: Sorter::try_new(n, config)?,
            n_pos,
            n_neg,
            k: topk_neg,
        })
    }

    /// The sorter on n = k + p values.
    pub fn sorter(&self) -> &Sorter<F> {
        &self.sorter
    }

    /// Scratch for both calls: 5C + 3n (per comparator slot α, dα/dd, x_a − x_b and the two
    /// differences of the pushed vectors at it; the row and its two pushed vectors).
    pub fn scratch_len(&self) -> usize {
        5 * self.sorter.slots() + 3 * self.sorter.n()
    }

    /// The loss alone (same scratch).
    pub fn try_loss(
        &self,
        positives: &[F],
        negatives: &[F],
        scratch: &mut [F],
    ) -> Result<F, Error> {
        self.try_loss_inlined(positives, negatives, scratch)
    }

    /// [`GrocoRowLoss::try_loss`], always inlined into its caller, so that it compiles for the
    /// caller's target features: what a caller compiled for a wider vector ISA calls
    /// (groco-dispatch's `Dispatch::run`). Same results, bit for bit; ordinary callers use
    /// [`GrocoRowLoss::try_loss`], which is compiled once.
    /// ```
    /// use groco_core::{GrocoRowLoss, SortConfig};
    /// let l = GrocoRowLoss::try_new(2, 5, 3, SortConfig::<f64>::default())?;
    /// let (pos, neg) = ([0.9, 0.7], [0.1, 0.5, -0.2, 0.3, 0.0]);
    /// let mut scratch = vec![0.0; l.scratch_len()];
    /// let loss = l.try_loss_inlined(&pos, &neg, &mut scratch)?;
    /// assert_eq!(loss, l.try_loss(&pos, &neg, &mut scratch)?);
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_loss_inlined(
        &self,
        positives: &[F],
        negatives: &[F],
        scratch: &mut [F],
    ) -> Result<F, Error> {
        self.check(positives, negatives, scratch)?;
        let (n, c) = (self.sorter.n(), self.sorter.slots());
        let mut s = scratch;
        let alpha = take(&mut s, c);
        let vals = take(&mut s, n);
        let v = take(&mut s, 2 * n).as_chunks_mut::<2>().0;
        self.pre_order(positives, negatives, vals);
        self.sorter.check_row("positives and negatives", vals, 0)?;
        let topo = &self.sorter.topo;
        with_relaxation!(self.sorter.config, r => {
            values::forward(topo, &r, vals, &mut AlphaTape(&mut *alpha))
        });
        self.indicators(v);
        values::mix::<F, 2, true>(topo, alpha, v, |_, _, _| {});
        Ok(self.loss_and_slopes(v))
    }

    /// The loss, with dloss/dpositives in `grad_pos` and dloss/dnegatives in `grad_neg`.
    pub fn try_loss_and_grad(
        &self,
        positives: &[F],
        negatives: &[F],
        grad_pos: &mut [F],
        grad_neg: &mut [F],
        scratch: &mut [F],
    ) -> Result<F, Error> {
        self.try_loss_and_grad_inlined(positives, negatives, grad_pos, grad_neg, scratch)
    }

    /// [`GrocoRowLoss::try_loss_and_grad`], always inlined into its caller, so that it compiles for the
    /// caller's target features: what a caller compiled for a wider vector ISA calls
    /// (groco-dispatch's `Dispatch::run`). Same results, bit for bit; ordinary callers use
    /// [`GrocoRowLoss::try_loss_and_grad`], which is compiled once.
    /// ```
    /// use groco_core::{GrocoRowLoss, SortConfig};
    /// let l = GrocoRowLoss::try_new(2, 5, 3, SortConfig::<f64>::default())?;
    /// let (pos, neg) = ([0.9, 0.7], [0.1, 0.5, -0.2, 0.3, 0.0]);
    /// let mut scratch = vec![0.0; l.scratch_len()];
    /// let ([mut gp, mut gp2], [mut gn, mut gn2]) = ([[0.0; 2]; 2], [[0.0; 5]; 2]);
    /// let loss = l.try_loss_and_grad(&pos, &neg, &mut gp, &mut gn, &mut scratch)?;
    /// let loss2 = l.try_loss_and_grad_inlined(&pos, &neg, &mut gp2, &mut gn2, &mut scratch)?;
    /// assert_eq!((loss, gp, gn), (loss2, gp2, gn2));
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_loss_and_grad_inlined(
        &self,
        positives: &[F],
        negatives: &[F],
        grad_pos: &mut [F],
        grad_neg: &mut [F],
        scratch: &mut [F],
    ) -> Result<F, Error> {
        self.check(positives, negatives, scratch)?;
        check_len("grad_pos", grad_pos.len(), self.n_pos)?;
        check_len("grad_neg", grad_neg.len(), self.n_neg)?;
        let (n, c) = (self.sorter.n(), self.sorter.slots());
        let mut s = scratch;
        let alpha = take(&mut s, c);
        let slope = take(&mut s, c);
        let diff_x = take(&mut s, c);
        let dv = take(&mut s, 2 * c).as_chunks_mut::<2>().0;
        let vals = take(&mut s, n);
        let v = take(&mut s, 2 * n).as_chunks_mut::<2>().0;
        self.pre_order(positives, negatives, vals);
        self.sorter.check_row("positives and negatives", vals, 0)?;
        let topo = &self.sorter.topo;
        let mut tape = FullTape {
            alpha: &mut *alpha,
            slope: &mut *slope,
            diff: &mut *diff_x,
        };
        with_relaxation!(self.sorter.config, r => values::forward(topo, &r, vals, &mut tape));
        self.indicators(v);
        values::mix::<F, 2, true>(
            topo,
            alpha,
            v,
            #[inline(always)]
            |slot, _, d| dv[slot] = d,
        );
        let loss = self.loss_and_slopes(v);
        // v now holds (dL/dq, dL/dr); push it forward and form dL/dα per comparator.
        values::mix::<F, 2, false>(
            topo,
            alpha,
            v,
            #[inline(always)]
            |slot, sign, d| {
                let e = sign * (d[0] * dv[slot][0] + d[1] * dv[slot][1]);
                dv[slot][0] = e;
            },
        );
        vals.iter_mut().for_each(|g| *g = F::zero());
        values::backward(
            topo,
            alpha,
            slope,
            diff_x,
            vals,
            #[inline(always)]
            |slot| dv[slot][0],
        );
        self.scatter(positives, negatives, vals, grad_pos, grad_neg);
        Ok(loss)
    }

    #[inline(always)]
    fn check(&self, positives: &[F], negatives: &[F], scratch: &[F]) -> Result<(), Error> {
        check_len("positives", positives.len(), self.n_pos)?;
        check_len("negatives", negatives.len(), self.n_neg)?;
        check_scratch(scratch.len(), self.scratch_len())?;
        check_finite("positives", positives, 0)?;
        check_finite("negatives", negatives, 0)
    }

    /// s = [top-k negatives ascending, positives ascending].
    #[inline(always)]
    fn pre_order(&self, positives: &[F], negatives: &[F], s: &mut [F]) {
        let k = self.k;
        for_each_selected(negatives, k, true, |slot, i| s[k - 1 - slot] = negatives[i]);
        for_each_selected(
            positives,
            self.n_pos,
            false,
            #[inline(always)]
            |slot, i| s[k + slot] = positives[i],
        );
    }

    /// Routes slot gradients `g` back through the pre-ordering.
    #[inline(always)]
    fn scatter(&self, positives: &[F], negatives: &[F], g: &[F], gp: &mut [F], gn: &mut [F]) {
        let k = self.k;
        gn.iter_mut().for_each(|v| *v = F::zero());
        for_each_selected(negatives, k, true, |slot, i| gn[i] = g[k - 1 - slot]);
        for_each_selected(positives, self.n_pos, false, |slot, i| gp[i] = g[k + slot]);
    }

    /// `v[i]` = (u_i, 1 − u_i), u the indicator of the positive slots i ≥ k.
    #[inline(always)]
    fn indicators(&self, v: &mut [[F; 2]]) {
        for (i, vi) in v.iter_mut().enumerate() {
            *vi = if i >= self.k {
                [F::one(), F::zero()]
            } else {
                [F::zero(), F::one()]
            };
        }
    }

    /// From `v[i]` = (Σ_{j≥k} P_ij, Σ_{j<k} P_ij): returns the loss and overwrites `v[i]` with
    /// (dL/d that, dL/d that) (PyTorch's clamp and BCE backward).
    #[inline(always)]
    fn loss_and_slopes(&self, v: &mut [[F; 2]]) -> F {
        let mut total = F::zero();
        for (i, vi) in v.iter_mut().enumerate() {
            *vi = self.slot_terms(i, *vi, &mut total);
        }
        cst::<F>(0.5) * total / from_usize::<F>(self.sorter.n())
    }

    /// Slot i of [`Self::loss_and_slopes`]: adds its two BCE terms to `total` (q, then r) and
    /// returns their slopes.
    #[inline(always)]
    fn slot_terms(&self, i: usize, vi: [F; 2], total: &mut F) -> [F; 2] {
        let n = from_usize::<F>(self.sorter.n());
        let half = cst::<F>(0.5);
        let t = if i >= self.k { F::one() } else { F::zero() };
        let mut g = [F::zero(); 2];
        for (q, target) in [(0, t), (1, F::one() - t)] {
            let raw = vi[q];
            let p = raw.max(F::zero()).min(F::one());
            *total = *total + bce(p, target);
            let pass = raw >= F::zero() && raw <= F::one();
            if pass {
                let den = ((F::one() - p) * p).max(cst(1e-12));
                g[q] = half / n * (p - target) / den;
            }
        }
        g
    }
}

/// PyTorch's BCE term with its log clamp at −100.
#[inline(always)]
fn bce<F: Real>(q: F, t: F) -> F {
    let floor = cst::<F>(-100.0);
    let lq = q.ln().max(floor);
    let l1q = (F::one() - q).ln().max(floor);
    -(t * lq + (F::one() - t) * l1q)
}

/// Calls `f(slot, index)` for the `count` smallest (or, `largest`, the largest) elements of
/// `v` in order (ascending, or descending), comparing (value, index) pairs. O(count·len),
/// without allocation.
#[inline(always)]
fn for_each_selected<F: Real>(
    v: &[F],
    count: usize,
    largest: bool,
    mut f: impl FnMut(usize, usize),
) {
    let mut prev: Option<(F, usize)> = None;
    for slot in 0..count {
        let mut best: Option<(F, usize)> = None;
        for (i, &x) in v.iter().enumerate() {
            let after_prev = match prev {
                None => true,
                Some((pv, pi)) if largest => x < pv || (x == pv && i > pi),
                Some((pv, pi)) => x > pv || (x == pv && i > pi),
            };
            let better = match best {
                None => true,
                Some((bv, _)) if largest => x > bv,
                Some((bv, _)) => x < bv,
            };
            if after_prev && better {
                best = Some((x, i));
            }
        }
        let Some(b) = best else { return };
        f(slot, b.1);
        prev = Some(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{fd_check, naive_forward, Rng};
    use crate::{Network, Relaxation};

    /// The loss straight from the definition (pre-order with a full sort, form P densely),
    /// and min over i of q_i(1 − q_i), r_i(1 − r_i).
    fn reference_loss(cfg: &SortConfig<f64>, pos: &[f64], neg: &[f64], k: usize) -> (f64, f64) {
        let mut negs = neg.to_vec();
        negs.sort_by(|a, b| b.partial_cmp(a).unwrap());
        let mut s: Vec<f64> = negs[..k].iter().rev().copied().collect();
        let mut p = pos.to_vec();
        p.sort_by(|a, b| a.partial_cmp(b).unwrap());
        s.extend(p);
        let n = s.len();
        let (_, perm) = naive_forward(cfg, &s);
        let bce =
            |q: f64, t: f64| -(t * q.ln().max(-100.0) + (1.0 - t) * (1.0 - q).ln().max(-100.0));
        let (mut total, mut margin) = (0.0, f64::INFINITY);
        for i in 0..n {
            let q: f64 = (k..n).map(|j| perm[i * n + j]).sum::<f64>().clamp(0.0, 1.0);
            let r: f64 = (0..k).map(|j| perm[i * n + j]).sum::<f64>().clamp(0.0, 1.0);
            let t = if i >= k { 1.0 } else { 0.0 };
            total += 0.5 * (bce(q, t) + bce(r, 1.0 - t));
            margin = margin.min(q * (1.0 - q)).min(r * (1.0 - r));
        }
        (total / n as f64, margin)
    }

    #[test]
    fn loss_and_gradient_match_reference_and_finite_differences() {
        let mut rng = Rng::new(5);
        let (mut checked, mut saturated) = (0, 0);
        for net in Network::ALL {
            for relax in Relaxation::ALL {
                for (p, m, k) in [(1, 10, 10), (3, 12, 5), (4, 4, 0), (2, 30, 9), (5, 3, 3)] {
                    let cfg = SortConfig::new(net, relax, 0.5 + 3.0 * rng.uniform());
                    let l = GrocoRowLoss::try_new(p, m, k, cfg).unwrap();
                    let pos: Vec<f64> = rng.vec(p, 1.0);
                    let neg: Vec<f64> = rng.vec(m, 1.0);
                    let (mut gp, mut gn) = (vec![f64::NAN; p], vec![f64::NAN; m]);
                    let mut sc = vec![f64::NAN; l.scratch_len()];
                    let loss = l
                        .try_loss_and_grad(&pos, &neg, &mut gp, &mut gn, &mut sc)
                        .unwrap();
                    let (want, margin) = reference_loss(&cfg, &pos, &neg, k);
                    let ctx = format!(
                        "{net} {relax} p={p} m={m} k={k} seed={}",
                        crate::testutil::seed()
                    );
                    // ln q and ln(1 − q) amplify rounding in q by 1/(q(1 − q)).
                    let tol = 1e-12 * (1.0 + want) + 1e-15 / margin.max(f64::MIN_POSITIVE);
                    assert!(
                        (loss - want).abs() < tol,
                        "{ctx}: {loss} vs {want}, tol {tol:e} margin {margin:e}"
                    );
                    assert_eq!(loss, l.try_loss(&pos, &neg, &mut sc).unwrap(), "{ctx}");
                    if margin < 1e-6 {
                        // PyTorch's BCE backward divides by max(q(1-q), 1e-12), which departs
                        // from the derivative of the loss near q = 0 or 1; see `bce_slope_*`.
                        // (k = 0 always is: q ≡ 1, r ≡ 0.)
                        saturated += usize::from(k > 0);
                        continue;
                    }
                    checked += 1;
                    let all: Vec<f64> = pos.iter().chain(&neg).copied().collect();
                    let f = |v: &[f64]| reference_loss(&cfg, &v[..p], &v[p..], k).0;
                    for i in 0..p + m {
                        let g = if i < p { gp[i] } else { gn[i - p] };
                        let (ok, fd) = fd_check(f, &all, i, g, 1e-6);
                        assert!(ok, "{ctx} input {i}: {g} vs fd {fd}");
                    }
                }
            }
        }
        assert!(
            checked >= 3 * saturated,
            "{checked} checked, {saturated} saturated"
        );
    }

    #[test]
    fn bce_slope_is_pytorchs_near_saturation() {
        // q within 1e-14 of its target 1: PyTorch's slope is (q - 1)/1e-12, not -1/q.
        let l = GrocoRowLoss::try_new(1, 1, 1, SortConfig::<f64>::default()).unwrap();
        let q = 1.0 - 1e-14;
        let mut v = [[0.5, 0.5], [q, 1.0 - q]];
        l.loss_and_slopes(&mut v);
        let want = 0.5 / 2.0 * (q - 1.0) / 1e-12;
        assert!(
            (v[1][0] - want).abs() < 1e-12 * want.abs(),
            "{} vs {want}",
            v[1][0]
        );
        // a sum just above 1 is clamped, and clamp blocks the gradient outside [0, 1].
        let mut v = [[0.5, 0.5], [1.0 + 1e-15, 0.0]];
        l.loss_and_slopes(&mut v);
        assert_eq!(v[1][0], 0.0);
    }

    #[test]
    fn errors() {
        let cfg = SortConfig::<f32>::default();
        assert_eq!(
            GrocoRowLoss::try_new(2, 3, 4, cfg).unwrap_err(),
            Error::TooFewNegatives {
                needed: 4,
                actual: 3
            }
        );
        assert_eq!(
            GrocoRowLoss::try_new(0, 5, 0, cfg).unwrap_err(),
            Error::EmptyInput
        );
        let l = GrocoRowLoss::try_new(2, 3, 2, cfg).unwrap();
        let mut sc = vec![0.0; l.scratch_len()];
        let (mut gp, mut gn) = ([0.0; 2], [0.0; 3]);
        assert_eq!(
            l.try_loss_and_grad(
                &[0.0, 1.0],
                &[0.0, f32::NAN, 1.0],
                &mut gp,
                &mut gn,
                &mut sc
            ),
            Err(Error::NonFinite {
                what: "negatives",
                index: 1
            })
        );
        assert!(matches!(
            l.try_loss(&[0.0], &[0.0; 3], &mut sc),
            Err(Error::LengthMismatch {
                what: "positives",
                ..
            })
        ));
        assert!(matches!(
            l.try_loss(&[0.0; 2], &[0.0; 3], &mut sc[..3]),
            Err(Error::ScratchTooSmall { .. })
        ));
    }
}
