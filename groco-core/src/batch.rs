//! Batched forward and backward over B rows held in flat slices (x: B·n, perm: B·n·n).
//!
//! Small rows (n ≤ 64) run W batch rows side by side, one per lane: the values pass, then
//! P rows i of all W inputs at once with per-lane α, T = `LANE_TILES` rows i per pass (a
//! partial last group is padded with copies of its first row, whose results are dropped).
//! Larger rows, and groups of fewer than W/2 rows, run one at a time with W P rows in lanes,
//! as the single-row calls do.

use crate::real::Real;
use crate::relaxation::with_relaxation;
use crate::rows::{self, PerLane, PerLaneSum};
use crate::sorter::{check_finite, check_len, check_scratch, take, take_lanes, LANES, LANE_TILES};
use crate::values;
use crate::{Error, ScalarTranspose, Sorter, Transpose};

const W: usize = LANES;
const T: usize = LANE_TILES;

impl<F: Real> Sorter<F> {
    /// Number of rows in a flat batch `x`, checked.
    #[inline(always)]
    fn batch_rows(&self, x: &[F]) -> Result<usize, Error> {
        let n = self.n();
        if x.is_empty() {
            return Err(Error::EmptyInput);
        }
        if !x.len().is_multiple_of(n) {
            return Err(Error::LengthMismatch {
                what: "x (a multiple of n)",
                expected: (x.len() / n + 1) * n,
                actual: x.len(),
            });
        }
        self.check_rows("x", x, 0)?;
        Ok(x.len() / n)
    }

    /// [`Sorter::try_forward`] on B rows: `x`, `sorted` of B·n, `perm` of B·n·n.
    /// Scratch: [`Sorter::batch_scratch_len`]`(B)`.
    ///
    /// ```
    /// use groco_core::{SortConfig, Sorter};
    /// let s = Sorter::try_new(3, SortConfig::<f32>::default())?;
    /// let x = [3.0, 1.0, 2.0, 0.0, 5.0, -1.0];
    /// let (mut y, mut p) = ([0.0; 6], [0.0; 18]);
    /// let mut scratch = vec![0.0; s.batch_scratch_len(2)];
    /// s.try_forward_batch(&x, &mut y, &mut p, &mut scratch)?;
    /// let (mut y1, mut p1) = ([0.0; 3], [0.0; 9]);
    /// s.try_forward(&x[3..], &mut y1, &mut p1, &mut scratch)?;
    /// assert_eq!(&y[3..], &y1);
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    pub fn try_forward_batch(
        &self,
        x: &[F],
        sorted: &mut [F],
        perm: &mut [F],
        scratch: &mut [F],
    ) -> Result<(), Error> {
        self.try_forward_batch_inlined(x, sorted, perm, scratch, ScalarTranspose)
    }

    /// [`Sorter::try_forward_batch`], always inlined into its caller, so that it compiles for the
    /// caller's target features: what a caller compiled for a wider vector ISA calls
    /// (groco-dispatch's `Dispatch::run`), with the [`Transpose`] for that ISA. Same results,
    /// bit for bit; ordinary callers use [`Sorter::try_forward_batch`], which is compiled once.
    /// ```
    /// use groco_core::{ScalarTranspose, SortConfig, Sorter};
    /// let s = Sorter::try_new(2, SortConfig::<f32>::default())?;
    /// let mut scratch = vec![0.0; s.batch_scratch_len(2)];
    /// let x = [3.0, 1.0, 0.0, 5.0];
    /// let ([mut y, mut y2], [mut p, mut p2]) = ([[0.0; 4]; 2], [[0.0; 8]; 2]);
    /// s.try_forward_batch(&x, &mut y, &mut p, &mut scratch)?;
    /// s.try_forward_batch_inlined(&x, &mut y2, &mut p2, &mut scratch, ScalarTranspose)?;
    /// assert_eq!((y, p), (y2, p2));
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_forward_batch_inlined(
        &self,
        x: &[F],
        sorted: &mut [F],
        perm: &mut [F],
        scratch: &mut [F],
        tr: impl Transpose<F>,
    ) -> Result<(), Error> {
        let n = self.n();
        let rows = self.batch_rows(x)?;
        check_len("sorted", sorted.len(), rows * n)?;
        check_len("perm", perm.len(), rows * n * n)?;
        check_scratch(scratch.len(), self.batch_scratch_len(rows))?;
        let nn = n * n;
        let mut b0 = 0;
        while b0 < rows {
            let g = W.min(rows - b0);
            let (xs, ys) = (&x[b0 * n..(b0 + g) * n], &mut sorted[b0 * n..(b0 + g) * n]);
            let ps = &mut perm[b0 * nn..(b0 + g) * nn];
            if self.lane_rows(g) {
                self.forward_group(xs, ys, ps, &mut *scratch, tr);
            } else {
                for ((xr, yr), pr) in xs
                    .chunks_exact(n)
                    .zip(ys.chunks_exact_mut(n))
                    .zip(ps.chunks_exact_mut(nn))
                {
                    let mut s = &mut *scratch;
                    let alpha = take(&mut s, self.slots());
                    let pv = take_lanes::<F, W>(&mut s, n);
                    self.forward_row(xr, yr, pr, alpha, pv, tr);
                }
            }
            b0 += g;
        }
        Ok(())
    }

    /// [`Sorter::try_backward`] on B rows: `x`, `grad_sorted`, `grad_x` of B·n, `grad_perm` of
    /// B·n·n. Scratch: [`Sorter::batch_scratch_len`]`(B)`.
    pub fn try_backward_batch(
        &self,
        x: &[F],
        grad_sorted: &[F],
        grad_perm: &[F],
        grad_x: &mut [F],
        scratch: &mut [F],
    ) -> Result<(), Error> {
        self.try_backward_batch_inlined(x, grad_sorted, grad_perm, grad_x, scratch, ScalarTranspose)
    }

    /// [`Sorter::try_backward_batch`], always inlined into its caller, so that it compiles for the
    /// caller's target features: what a caller compiled for a wider vector ISA calls
    /// (groco-dispatch's `Dispatch::run`), with the [`Transpose`] for that ISA. Same results,
    /// bit for bit; ordinary callers use [`Sorter::try_backward_batch`], which is compiled once.
    /// ```
    /// use groco_core::{ScalarTranspose, SortConfig, Sorter};
    /// let s = Sorter::try_new(2, SortConfig::<f32>::default())?;
    /// let mut scratch = vec![0.0; s.batch_scratch_len(2)];
    /// let (x, gs, gp) = ([3.0, 1.0, 0.0, 5.0], [1.0, 0.0, -1.0, 2.0], [0.5; 8]);
    /// let [mut g, mut g2] = [[0.0; 4]; 2];
    /// s.try_backward_batch(&x, &gs, &gp, &mut g, &mut scratch)?;
    /// s.try_backward_batch_inlined(&x, &gs, &gp, &mut g2, &mut scratch, ScalarTranspose)?;
    /// assert_eq!(g, g2);
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_backward_batch_inlined(
        &self,
        x: &[F],
        grad_sorted: &[F],
        grad_perm: &[F],
        grad_x: &mut [F],
        scratch: &mut [F],
        tr: impl Transpose<F>,
    ) -> Result<(), Error> {
        let n = self.n();
        let rows = self.batch_rows(x)?;
        let nn = n * n;
        check_len("grad_sorted", grad_sorted.len(), rows * n)?;
        check_len("grad_perm", grad_perm.len(), rows * nn)?;
        check_len("grad_x", grad_x.len(), rows * n)?;
        check_scratch(scratch.len(), self.batch_scratch_len(rows))?;
        check_finite("grad_sorted", grad_sorted, 0)?;
        check_finite("grad_perm", grad_perm, 0)?;
        let mut b0 = 0;
        while b0 < rows {
            let g = W.min(rows - b0);
            let span = b0 * n..(b0 + g) * n;
            let (xs, gs) = (&x[span.clone()], &grad_sorted[span.clone()]);
            let gp = &grad_perm[b0 * nn..(b0 + g) * nn];
            let gx = &mut grad_x[span];
            if self.lane_rows(g) {
                self.backward_group(xs, gs, gp, gx, &mut *scratch, tr);
            } else {
                for i in 0..g {
                    let (r, p) = (i * n..(i + 1) * n, i * nn..(i + 1) * nn);
                    self.backward_row(
                        &xs[r.clone()],
                        &gs[r.clone()],
                        &gp[p],
                        &mut gx[r],
                        &mut *scratch,
                        tr,
                    );
                }
            }
            b0 += g;
        }
        Ok(())
    }

    /// Forward of the `g <= W` rows of `x`, one per lane.
    #[inline(always)]
    fn forward_group(
        &self,
        x: &[F],
        sorted: &mut [F],
        perm: &mut [F],
        scratch: &mut [F],
        tr: impl Transpose<F>,
    ) {
        let (n, nn, c) = (self.n(), self.n() * self.n(), self.slots());
        let g = x.len() / n;
        let mut s = scratch;
        let xs = take_lanes::<F, W>(&mut s, n);
        let alpha = take_lanes::<F, W>(&mut s, c);
        let pv = take_lanes::<F, W>(&mut s, T * n).as_chunks_mut::<T>().0;
        load_lanes(xs, x, n, g);
        with_relaxation!(self.config, r => {
            values::forward_lanes::<F, _, W, false>(&self.topo, &r, xs, alpha, &mut [], &mut [])
        });
        store_lanes(xs, sorted, n, g);
        let alphas = PerLane(&*alpha);
        for i0 in (0..n).step_by(T) {
            let span = (i0, n.min(i0 + T));
            unit_tiles(pv, span);
            rows::forward::<F, _, W, T, false>(&self.topo, span, &alphas, pv, &mut []);
            rows::store_tiles(pv, span.1 - i0, &mut perm[i0 * n..], (n, nn, g), tr);
        }
    }

    /// Backward of the `g <= W` rows of `x`, one per lane.
    #[inline(always)]
    fn backward_group(
        &self,
        x: &[F],
        grad_sorted: &[F],
        grad_perm: &[F],
        grad_x: &mut [F],
        scratch: &mut [F],
        tr: impl Transpose<F>,
    ) {
        let (n, nn, c) = (self.n(), self.n() * self.n(), self.slots());
        let g = x.len() / n;
        let mut s = scratch;
        let xs = take_lanes::<F, W>(&mut s, n);
        let alpha = take_lanes::<F, W>(&mut s, c);
        let slope = take_lanes::<F, W>(&mut s, c);
        let diff_x = take_lanes::<F, W>(&mut s, c);
        let diff = take_lanes::<F, W>(&mut s, T * c).as_chunks_mut::<T>().0;
        let acc = take_lanes::<F, W>(&mut s, c);
        let pv = take_lanes::<F, W>(&mut s, T * n).as_chunks_mut::<T>().0;
        load_lanes(xs, x, n, g);
        with_relaxation!(self.config, r => {
            values::forward_lanes::<F, _, W, true>(&self.topo, &r, xs, alpha, slope, diff_x)
        });
        acc.as_flattened_mut().fill(F::zero());
        let alphas = PerLane(&*alpha);
        let mut sums = PerLaneSum(&mut *acc);
        for i0 in (0..n).step_by(T) {
            let span = (i0, n.min(i0 + T));
            unit_tiles(pv, span);
            rows::forward::<F, _, W, T, true>(&self.topo, span, &alphas, pv, diff);
            rows::load_tiles(pv, span.1 - i0, &grad_perm[i0 * n..], (n, nn, g), tr);
            rows::backward(&self.topo, span, &alphas, pv, diff, &mut sums);
        }
        xs.as_flattened_mut().fill(F::zero());
        for k in 0..g {
            for (p, &v) in xs.iter_mut().zip(&grad_sorted[k * n..(k + 1) * n]) {
                p[k] = v;
            }
        }
        values::backward_lanes(&self.topo, alpha, slope, diff_x, acc, xs);
        store_lanes(xs, grad_x, n, g);
    }
}

/// Sets tile t of `pv` to P row i0 + t's unit vector in every lane (all ones on wire i0 + t)
/// for the rows `span` = (i0, i1), and tiles past i1 to zero: they stay zero through the
/// forward (with zero differences) and the backward (no gradient is loaded into them), so
/// they add exact zeros.
#[inline(always)]
fn unit_tiles<F: Real>(pv: &mut [[[F; W]; T]], span: (usize, usize)) {
    for p in pv.iter_mut() {
        *p = [[F::zero(); W]; T];
    }
    for i in span.0..span.1 {
        pv[i][i - span.0] = [F::one(); W];
    }
}

/// Transposes `g` rows of `src` into lanes; lanes g.. get copies of row 0 (finite, unused).
#[inline(always)]
fn load_lanes<F: Real>(lanes: &mut [[F; W]], src: &[F], n: usize, g: usize) {
    for (w, l) in lanes.iter_mut().enumerate() {
        for k in 0..W {
            l[k] = src[if k < g { k * n + w } else { w }];
        }
    }
}

/// Transposes lanes 0..g back into `g` rows of `dst`.
#[inline(always)]
fn store_lanes<F: Real>(lanes: &[[F; W]], dst: &mut [F], n: usize, g: usize) {
    for k in 0..g {
        for (o, l) in dst[k * n..(k + 1) * n].iter_mut().zip(lanes) {
            *o = l[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{for_f32_f64, max_rel, Rng};
    use crate::{Error, Network, Real, Relaxation, SortConfig, Sorter};

    /// Batched calls (lane mode and row mode) agree with the single-row calls.
    fn batch_matches_single_rows<F: Real>(tol: f64) {
        let mut rng = Rng::new(3);
        for net in Network::ALL {
            for (n, rows) in [
                (1, 9),
                (2, 16),
                (3, 20),
                (11, 37),
                (16, 8),
                (32, 17),
                (33, 3),
                (64, 9),
                (70, 2),
            ] {
                let relax = rng.pick(&Relaxation::ALL);
                let cfg = SortConfig::new(net, relax, F::from(0.5 + 5.0 * rng.uniform()).unwrap());
                let s = Sorter::try_new(n, cfg).unwrap();
                let x: Vec<F> = rng.vec(rows * n, 1.0);
                let gs: Vec<F> = rng.vec(rows * n, 1.0);
                let gp: Vec<F> = rng.vec(rows * n * n, 1.0);
                let mut scratch = vec![F::nan(); s.batch_scratch_len(rows)];
                let (mut y, mut p, mut gx) = (
                    vec![F::nan(); rows * n],
                    vec![F::nan(); rows * n * n],
                    vec![F::nan(); rows * n],
                );
                s.try_forward_batch(&x, &mut y, &mut p, &mut scratch)
                    .unwrap();
                s.try_backward_batch(&x, &gs, &gp, &mut gx, &mut scratch)
                    .unwrap();
                for b in 0..rows {
                    let (r, q) = (b * n..(b + 1) * n, b * n * n..(b + 1) * n * n);
                    let (mut y1, mut p1, mut g1) = (
                        vec![F::zero(); n],
                        vec![F::zero(); n * n],
                        vec![F::zero(); n],
                    );
                    s.try_forward(&x[r.clone()], &mut y1, &mut p1, &mut scratch)
                        .unwrap();
                    s.try_backward(
                        &x[r.clone()],
                        &gs[r.clone()],
                        &gp[q.clone()],
                        &mut g1,
                        &mut scratch,
                    )
                    .unwrap();
                    let ctx = format!("{net} {relax} n={n} rows={rows} row {b}");
                    assert!(max_rel(&y[r.clone()], &y1) <= tol, "sorted {ctx}");
                    assert!(max_rel(&p[q], &p1) <= tol, "perm {ctx}");
                    assert!(max_rel(&gx[r], &g1) <= tol * 1e2, "grad_x {ctx}");
                }
            }
        }
    }
    for_f32_f64!(batch_matches_single_rows, 1e-5, 1e-13);

    #[test]
    fn batch_errors() {
        let s = Sorter::try_new(3, SortConfig::<f64>::default()).unwrap();
        let mut sc = vec![0.0; s.batch_scratch_len(2)];
        let (mut y, mut p) = ([0.0; 6], [0.0; 18]);
        assert_eq!(
            s.try_forward_batch(&[], &mut y, &mut p, &mut sc),
            Err(Error::EmptyInput)
        );
        assert!(matches!(
            s.try_forward_batch(&[0.0; 5], &mut y, &mut p, &mut sc),
            Err(Error::LengthMismatch { actual: 5, .. })
        ));
        let mut x = [0.0; 6];
        x[4] = f64::NAN;
        assert_eq!(
            s.try_forward_batch(&x, &mut y, &mut p, &mut sc),
            Err(Error::NonFinite {
                what: "x",
                index: 4
            })
        );
    }
}
