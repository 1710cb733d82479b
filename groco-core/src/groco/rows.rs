//! The GroCo row loss of many anchors at once: W = [`LANES`] rows side by side, one per lane,
//! each with its own α. The per-row maths is [`GrocoRowLoss::try_loss_and_grad`]'s, operation
//! for operation (values pass with its tape, q and r pushed back through the comparators, the
//! BCE slopes pushed forward, the values pass's transpose), so the results are bit for bit the
//! row-by-row ones; only the pre-ordering, the BCE terms and the scatter run lane by lane.

use super::GrocoRowLoss;
use crate::real::{cst, from_usize, Real};
use crate::relaxation::with_relaxation;
use crate::sorter::{align_slack, check_finite, check_len, check_scratch, take, take_lanes, LANES};
use crate::values;
use crate::Error;

const W: usize = LANES;

impl<F: Real> GrocoRowLoss<F> {
    /// Scratch for [`GrocoRowLoss::try_loss_and_grad_rows`], whatever the number of rows:
    /// W·(5C + 3n) + n + 7A (A: 64 bytes in elements, see [`Sorter`](crate::Sorter)): five
    /// lane arrays per comparator slot, the row values and their two pushed vectors in lanes,
    /// and one plain row.
    pub fn rows_scratch_len(&self) -> usize {
        let (n, c) = (self.sorter.n(), self.sorter.slots());
        W * (5 * c + 3 * n) + n + align_slack::<F>(7)
    }

    /// The loss of `losses.len()` anchors and its gradient, W rows at a time: row r's
    /// positives are `positives[r·n_pos..]`, its candidate negatives `negatives[r·n_neg..]`,
    /// and the gradients go to the same places of `grad_pos` and `grad_neg`. Bit for bit
    /// [`GrocoRowLoss::try_loss_and_grad`] on each row. Scratch:
    /// [`GrocoRowLoss::rows_scratch_len`].
    ///
    /// ```
    /// use groco_core::{GrocoRowLoss, SortConfig};
    /// let l = GrocoRowLoss::try_new(1, 3, 2, SortConfig::<f32>::default())?;
    /// let pos = [0.9, 0.2];
    /// let neg = [0.1, 0.5, -0.2, 0.3, 0.4, 0.0];
    /// let (mut gp, mut gn, mut losses) = ([0.0; 2], [0.0; 6], [0.0; 2]);
    /// let mut scratch = vec![0.0; l.rows_scratch_len()];
    /// l.try_loss_and_grad_rows(&pos, &neg, &mut gp, &mut gn, &mut losses, &mut scratch)?;
    /// let (mut gp1, mut gn1) = ([0.0; 1], [0.0; 3]);
    /// let loss1 = l.try_loss_and_grad(&pos[1..], &neg[3..], &mut gp1, &mut gn1, &mut scratch)?;
    /// assert_eq!((losses[1], gp[1], &gn[3..]), (loss1, gp1[0], &gn1[..]));
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    pub fn try_loss_and_grad_rows(
        &self,
        positives: &[F],
        negatives: &[F],
        grad_pos: &mut [F],
        grad_neg: &mut [F],
        losses: &mut [F],
        scratch: &mut [F],
    ) -> Result<(), Error> {
        self.try_loss_and_grad_rows_inlined(
            positives, negatives, grad_pos, grad_neg, losses, scratch,
        )
    }

    /// [`GrocoRowLoss::try_loss_and_grad_rows`], always inlined into its caller, so that it compiles for the
    /// caller's target features: what a caller compiled for a wider vector ISA calls
    /// (groco-dispatch's `Dispatch::run`). Same results, bit for bit; ordinary callers use
    /// [`GrocoRowLoss::try_loss_and_grad_rows`], which is compiled once.
    /// ```
    /// use groco_core::{GrocoRowLoss, SortConfig};
    /// let l = GrocoRowLoss::try_new(1, 3, 2, SortConfig::<f64>::default())?;
    /// let (pos, neg) = ([0.9, 0.8], [0.1, 0.5, -0.2, 0.3, 0.0, 0.2]); // 2 rows
    /// let mut scratch = vec![0.0; l.rows_scratch_len()];
    /// let ([mut gp, mut gp2], [mut gn, mut gn2]) = ([[0.0; 2]; 2], [[0.0; 6]; 2]);
    /// let [mut ls, mut ls2] = [[0.0; 2]; 2];
    /// l.try_loss_and_grad_rows(&pos, &neg, &mut gp, &mut gn, &mut ls, &mut scratch)?;
    /// l.try_loss_and_grad_rows_inlined(&pos, &neg, &mut gp2, &mut gn2, &mut ls2, &mut scratch)?;
    /// assert_eq!((ls, gp, gn), (ls2, gp2, gn2));
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_loss_and_grad_rows_inlined(
        &self,
        positives: &[F],
        negatives: &[F],
        grad_pos: &mut [F],
        grad_neg: &mut [F],
        losses: &mut [F],
        scratch: &mut [F],
    ) -> Result<(), Error> {
        let rows = losses.len();
        let (p, m) = (self.n_pos, self.n_neg);
        check_len("positives", positives.len(), rows * p)?;
        check_len("negatives", negatives.len(), rows * m)?;
        check_len("grad_pos", grad_pos.len(), rows * p)?;
        check_len("grad_neg", grad_neg.len(), rows * m)?;
        check_scratch(scratch.len(), self.rows_scratch_len())?;
        check_finite("positives", positives, 0)?;
        check_finite("negatives", negatives, 0)?;
        let mut r0 = 0;
        while r0 < rows {
            let g = W.min(rows - r0);
            self.group(
                (
                    &positives[r0 * p..(r0 + g) * p],
                    &negatives[r0 * m..(r0 + g) * m],
                ),
                (
                    &mut grad_pos[r0 * p..(r0 + g) * p],
                    &mut grad_neg[r0 * m..(r0 + g) * m],
                ),
                &mut losses[r0..r0 + g],
                &mut *scratch,
            )?;
            r0 += g;
        }
        Ok(())
    }

    /// `g = losses.len() <= W` rows, one per lane; lanes g.. repeat row 0 and are dropped.
    #[inline(always)]
    fn group(
        &self,
        (pos, neg): (&[F], &[F]),
        (gpos, gneg): (&mut [F], &mut [F]),
        losses: &mut [F],
        scratch: &mut [F],
    ) -> Result<(), Error> {
        let (n, c, g) = (self.sorter.n(), self.sorter.slots(), losses.len());
        let (p, m) = (self.n_pos, self.n_neg);
        let mut s = scratch;
        let alpha = take_lanes::<F, W>(&mut s, c);
        let slope = take_lanes::<F, W>(&mut s, c);
        let diff_x = take_lanes::<F, W>(&mut s, c);
        let dq = take_lanes::<F, W>(&mut s, c);
        let dr = take_lanes::<F, W>(&mut s, c);
        let xs = take_lanes::<F, W>(&mut s, n);
        let v = take_lanes::<F, W>(&mut s, 2 * n).as_chunks_mut::<2>().0;
        let row = take(&mut s, n);
        for lane in 0..W {
            let r = if lane < g { lane } else { 0 };
            self.pre_order(&pos[r * p..(r + 1) * p], &neg[r * m..(r + 1) * m], row);
            for (x, &val) in xs.iter_mut().zip(&*row) {
                x[lane] = val;
            }
        }
        // the single-row call's input check, all rows at once (their values are finite)
        if !self.sorter.lanes_fit(xs, g) {
            return Err(Error::Overflow {
                what: "positives and negatives",
            });
        }
        let topo = &self.sorter.topo;
        with_relaxation!(self.sorter.config, r => {
            values::forward_lanes::<F, _, W, true>(topo, &r, xs, alpha, slope, diff_x)
        });
        for (i, vi) in v.iter_mut().enumerate() {
            let u = if i >= self.k { F::one() } else { F::zero() };
            *vi = [[u; W], [F::one() - u; W]];
        }
        values::mix_lanes::<F, W, 2, true>(
            topo,
            alpha,
            v,
            #[inline(always)]
            |slot, _, d| (dq[slot], dr[slot]) = (d[0], d[1]),
        );
        // the BCE terms and their slopes, lane by lane, summed in the row call's order
        let mut total = [F::zero(); W];
        for (i, vi) in v.iter_mut().enumerate() {
            for (lane, t) in total.iter_mut().enumerate() {
                let gq = self.slot_terms(i, [vi[0][lane], vi[1][lane]], t);
                (vi[0][lane], vi[1][lane]) = (gq[0], gq[1]);
            }
        }
        let nf = from_usize::<F>(n);
        for (loss, &t) in losses.iter_mut().zip(&total) {
            *loss = cst::<F>(0.5) * t / nf;
        }
        // v now holds (dL/dq, dL/dr); push it forward and form dL/dα per comparator.
        values::mix_lanes::<F, W, 2, false>(
            topo,
            alpha,
            v,
            #[inline(always)]
            |slot, sign, d| {
                let (e, r) = (&mut dq[slot], dr[slot]);
                for k in 0..W {
                    e[k] = sign * (d[0][k] * e[k] + d[1][k] * r[k]);
                }
            },
        );
        // dq now holds dL/dα per comparator and lane
        xs.as_flattened_mut().fill(F::zero());
        values::backward_lanes(topo, alpha, slope, diff_x, dq, xs);
        for lane in 0..g {
            for (o, x) in row.iter_mut().zip(&*xs) {
                *o = x[lane];
            }
            self.scatter(
                &pos[lane * p..(lane + 1) * p],
                &neg[lane * m..(lane + 1) * m],
                row,
                &mut gpos[lane * p..(lane + 1) * p],
                &mut gneg[lane * m..(lane + 1) * m],
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{for_f32_f64, same_at_each_offset, seed, Rng};
    use crate::{Error, GrocoRowLoss, Network, Real, Relaxation, SortConfig};

    /// Every row of a batch equals the row call, bit for bit: full groups, a partial last
    /// group, and a single row; every network and relaxation.
    fn rows_match_row_calls<F: Real>() {
        let mut rng = Rng::new(21);
        for net in Network::ALL {
            for relax in Relaxation::ALL {
                for (p, m, k, rows) in [
                    (1, 10, 10, 37),
                    (3, 12, 5, 16),
                    (2, 30, 9, 1),
                    (5, 3, 3, 20),
                ] {
                    let steep = F::from(0.5 + 3.0 * rng.uniform()).unwrap();
                    let l =
                        GrocoRowLoss::try_new(p, m, k, SortConfig::new(net, relax, steep)).unwrap();
                    let pos: Vec<F> = rng.vec(rows * p, 1.0);
                    let neg: Vec<F> = rng.vec(rows * m, 1.0);
                    let (mut gp, mut gn) = (vec![F::nan(); rows * p], vec![F::nan(); rows * m]);
                    let mut losses = vec![F::nan(); rows];
                    let mut sc = vec![F::nan(); l.rows_scratch_len()];
                    l.try_loss_and_grad_rows(&pos, &neg, &mut gp, &mut gn, &mut losses, &mut sc)
                        .unwrap();
                    let mut sc1 = vec![F::nan(); l.scratch_len()];
                    for (r, &got) in losses.iter().enumerate() {
                        let (pr, mr) = (r * p..(r + 1) * p, r * m..(r + 1) * m);
                        let (mut gp1, mut gn1) = (vec![F::nan(); p], vec![F::nan(); m]);
                        let loss = l
                            .try_loss_and_grad(
                                &pos[pr.clone()],
                                &neg[mr.clone()],
                                &mut gp1,
                                &mut gn1,
                                &mut sc1,
                            )
                            .unwrap();
                        let ctx = format!(
                            "{net} {relax} p={p} m={m} k={k} row {r}/{rows} (GROCO_SEED={})",
                            seed()
                        );
                        assert_eq!(got.to_bits_u64(), loss.to_bits_u64(), "loss {ctx}");
                        assert_eq!(bits(&gp[pr]), bits(&gp1), "grad_pos {ctx}");
                        assert_eq!(bits(&gn[mr]), bits(&gn1), "grad_neg {ctx}");
                    }
                }
            }
        }
    }
    for_f32_f64!(rows_match_row_calls);

    /// The documented scratch holds the lane arrays' alignment skips: a call runs on scratch
    /// of exactly [`GrocoRowLoss::rows_scratch_len`] at each of 16 start offsets, with the
    /// same results.
    #[test]
    fn rows_run_on_exactly_the_documented_scratch() {
        let l = GrocoRowLoss::try_new(2, 30, 20, SortConfig::<f32>::default()).unwrap();
        let rows = 11;
        let mut rng = Rng::new(22);
        let (pos, neg): (Vec<f32>, Vec<f32>) = (rng.vec(rows * 2, 1.0), rng.vec(rows * 30, 1.0));
        same_at_each_offset("rows", l.rows_scratch_len(), |sc| {
            let (mut gp, mut gn, mut losses) =
                (vec![0.0; rows * 2], vec![0.0; rows * 30], vec![0.0; rows]);
            l.try_loss_and_grad_rows(&pos, &neg, &mut gp, &mut gn, &mut losses, sc)
                .unwrap();
            [losses, gp, gn]
        });
    }

    trait Bits {
        fn to_bits_u64(self) -> u64;
    }
    impl<F: Real> Bits for F {
        fn to_bits_u64(self) -> u64 {
            self.to_f64().unwrap().to_bits()
        }
    }

    fn bits<F: Real>(v: &[F]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits_u64()).collect()
    }

    #[test]
    fn rows_errors_name_the_argument() {
        let l = GrocoRowLoss::try_new(1, 3, 2, SortConfig::<f64>::default()).unwrap();
        let mut sc = vec![0.0; l.rows_scratch_len()];
        let (pos, neg) = ([0.5, 0.1], [0.0, 0.2, 0.3, 0.4, f64::NAN, 0.1]);
        let (mut gp, mut gn, mut losses) = ([0.0; 2], [0.0; 6], [0.0; 2]);
        let e = l
            .try_loss_and_grad_rows(&pos, &neg, &mut gp, &mut gn, &mut losses, &mut sc)
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::NonFinite {
                    what: "negatives",
                    index: 4
                }
            ),
            "{e:?}"
        );
        let e = l
            .try_loss_and_grad_rows(&pos[..1], &neg, &mut gp, &mut gn, &mut losses, &mut sc)
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::LengthMismatch {
                    what: "positives",
                    expected: 2,
                    actual: 1
                }
            ),
            "{e:?}"
        );
        let e = l
            .try_loss_and_grad_rows(&pos, &neg[..5], &mut gp, &mut gn, &mut losses, &mut sc)
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::LengthMismatch {
                    what: "negatives",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = l
            .try_loss_and_grad_rows(&pos, &neg, &mut gp, &mut gn, &mut losses, &mut sc[1..])
            .unwrap_err();
        assert!(matches!(e, Error::ScratchTooSmall { .. }), "{e:?}");
        // a row whose spread overflows, checked with the others at once: the row call's error
        let (pos, neg) = ([0.5, 1e308], [0.0, 0.2, 0.3, -1e308, -1e308, -1e308]);
        let want = Error::Overflow {
            what: "positives and negatives",
        };
        let mut sc1 = vec![0.0; l.scratch_len()];
        let e1 = l.try_loss_and_grad(&pos[1..], &neg[3..], &mut gp[..1], &mut gn[..3], &mut sc1);
        assert_eq!(e1.unwrap_err(), want);
        let e = l
            .try_loss_and_grad_rows(&pos, &neg, &mut gp, &mut gn, &mut losses, &mut sc)
            .unwrap_err();
        assert_eq!(e, want);
        l.try_loss_and_grad_rows(
            &pos[..1],
            &neg[..3],
            &mut gp[..1],
            &mut gn[..3],
            &mut losses[..1],
            &mut sc,
        )
        .unwrap();
    }
}
