//! Single-row analytic backward (VJP) of (sorted, P) with respect to x, with no tape: the
//! values pass is redone to record α, dα/dd and x_a − x_b; each tile of W P rows runs
//! forward (recording p_a − p_b) and back (accumulating dL/dα); the values transpose then
//! carries dL/dsorted and dL/dα to dL/dx.
//!
//! dL/dα_c = (g_min − g_max)(x_a − x_b) + Σ_i (G_i,min − G_i,max)(p_i,a − p_i,b), and
//! dL/dx_b = −dL/dx_a = dL/dα_c · α'_c through the comparator's own inputs.

use crate::forward::unit_rows;
use crate::real::Real;
use crate::relaxation::with_relaxation;
use crate::rows::{self, FoldedSum, Shared};
use crate::sorter::{check_finite, check_len, check_scratch, take, take_lanes, HALF_LANES, LANES};
use crate::values::{self, FullTape};
use crate::{Error, ScalarTranspose, Sorter, Transpose};

impl<F: Real> Sorter<F> {
    /// grad_x = d/dx [Σ_j grad_sorted_j·sorted_j + Σ_ij grad_perm_ij·P_ij], recomputing what it
    /// needs from `x`. Scratch: [`Sorter::scratch_len`].
    ///
    /// ```
    /// use groco_core::{SortConfig, Sorter};
    /// let s = Sorter::try_new(2, SortConfig::<f64>::default())?;
    /// let mut scratch = vec![0.0; s.scratch_len()];
    /// let mut gx = [0.0; 2];
    /// // d(sorted_0 + sorted_1)/dx = (1, 1): the relaxed sort preserves the sum.
    /// s.try_backward(&[1.0, 0.0], &[1.0, 1.0], &[0.0; 4], &mut gx, &mut scratch)?;
    /// assert!((gx[0] - 1.0).abs() < 1e-12 && (gx[1] - 1.0).abs() < 1e-12);
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    pub fn try_backward(
        &self,
        x: &[F],
        grad_sorted: &[F],
        grad_perm: &[F],
        grad_x: &mut [F],
        scratch: &mut [F],
    ) -> Result<(), Error> {
        self.try_backward_inlined(x, grad_sorted, grad_perm, grad_x, scratch, ScalarTranspose)
    }

    /// [`Sorter::try_backward`], always inlined into its caller, so that it compiles for the
    /// caller's target features: what a caller compiled for a wider vector ISA calls
    /// (groco-dispatch's `Dispatch::run`), with the [`Transpose`] for that ISA. Same results,
    /// bit for bit; ordinary callers use [`Sorter::try_backward`], which is compiled once.
    /// ```
    /// use groco_core::{ScalarTranspose, SortConfig, Sorter};
    /// let s = Sorter::try_new(3, SortConfig::<f32>::default())?;
    /// let mut scratch = vec![0.0; s.scratch_len()];
    /// let (x, gs, gp) = ([3.0, 1.0, 2.0], [1.0, 0.0, -1.0], [0.5; 9]);
    /// let [mut g, mut g2] = [[0.0; 3]; 2];
    /// s.try_backward(&x, &gs, &gp, &mut g, &mut scratch)?;
    /// s.try_backward_inlined(&x, &gs, &gp, &mut g2, &mut scratch, ScalarTranspose)?;
    /// assert_eq!(g, g2);
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_backward_inlined(
        &self,
        x: &[F],
        grad_sorted: &[F],
        grad_perm: &[F],
        grad_x: &mut [F],
        scratch: &mut [F],
        tr: impl Transpose<F>,
    ) -> Result<(), Error> {
        let n = self.n();
        check_len("x", x.len(), n)?;
        check_len("grad_sorted", grad_sorted.len(), n)?;
        check_len("grad_perm", grad_perm.len(), n * n)?;
        check_len("grad_x", grad_x.len(), n)?;
        check_scratch(scratch.len(), self.scratch_len())?;
        self.check_row("x", x, 0)?;
        check_finite("grad_sorted", grad_sorted, 0)?;
        check_finite("grad_perm", grad_perm, 0)?;
        self.backward_row(x, grad_sorted, grad_perm, grad_x, scratch, tr);
        Ok(())
    }

    /// [`Sorter::try_backward`] on checked arguments (scratch of `scratch_len`).
    #[inline(always)]
    pub(crate) fn backward_row(
        &self,
        x: &[F],
        grad_sorted: &[F],
        grad_perm: &[F],
        grad_x: &mut [F],
        scratch: &mut [F],
        tr: impl Transpose<F>,
    ) {
        let (n, c) = (self.n(), self.slots());
        let mut s = scratch;
        let alpha = take(&mut s, c);
        let slope = take(&mut s, c);
        let diff_x = take(&mut s, c);
        let acc = take_lanes::<F, HALF_LANES>(&mut s, c);
        let diff = take_lanes::<F, LANES>(&mut s, c);
        let pv = take_lanes::<F, LANES>(&mut s, n);

        // Phase 1: values (in grad_x, discarded), recording the tape.
        grad_x.copy_from_slice(x);
        let mut tape = FullTape {
            alpha: &mut *alpha,
            slope: &mut *slope,
            diff: &mut *diff_x,
        };
        with_relaxation!(self.config, r => values::forward(&self.topo, &r, grad_x, &mut tape));

        // Phase 2: P rows, W at a time.
        acc.as_flattened_mut().fill(F::zero());
        let alphas = Shared(&*alpha);
        let mut sums = FoldedSum(&mut *acc);
        for r0 in (0..n).step_by(LANES) {
            let rows = LANES.min(n - r0);
            let tile = (r0, r0 + rows);
            unit_rows(pv, r0, rows);
            let (pv, diff) = (pv.as_chunks_mut::<1>().0, diff.as_chunks_mut::<1>().0);
            rows::forward::<F, _, LANES, 1, true>(&self.topo, tile, &alphas, pv, diff);
            rows::load_tiles(pv, 1, &grad_perm[r0 * n..], (n, n, rows), tr);
            rows::backward(&self.topo, tile, &alphas, pv, diff, &mut sums);
        }

        // Phase 3: the values transpose.
        grad_x.copy_from_slice(grad_sorted);
        values::backward(
            &self.topo,
            alpha,
            slope,
            diff_x,
            grad_x,
            #[inline(always)]
            |slot| acc[slot].iter().fold(F::zero(), |s, &v| s + v),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{fd_check, naive_forward, seed, Rng};
    use crate::{Network, Relaxation, SortConfig, Sorter};

    /// L(x) = Σ sorted·gs + Σ P·gP through the dense reference.
    fn loss(cfg: &SortConfig<f64>, x: &[f64], gs: &[f64], gp: &[f64]) -> f64 {
        let (y, p) = naive_forward(cfg, x);
        y.iter().zip(gs).map(|(a, b)| a * b).sum::<f64>()
            + p.iter().zip(gp).map(|(a, b)| a * b).sum::<f64>()
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(2);
        for net in Network::ALL {
            for relax in Relaxation::ALL {
                for n in [1usize, 2, 3, 6, 13, 17, 20] {
                    let cfg = SortConfig::new(net, relax, 0.5 + 3.0 * rng.uniform());
                    let s = Sorter::try_new(n, cfg).unwrap();
                    let x: Vec<f64> = rng.vec(n, 1.0);
                    let gs: Vec<f64> = rng.vec(n, 1.0);
                    let gp: Vec<f64> = rng.vec(n * n, 1.0);
                    let mut gx = vec![0.0; n];
                    let mut scratch = vec![f64::NAN; s.scratch_len()];
                    s.try_backward(&x, &gs, &gp, &mut gx, &mut scratch).unwrap();
                    for (i, &g) in gx.iter().enumerate() {
                        let (ok, fd) = fd_check(|x| loss(&cfg, x, &gs, &gp), &x, i, g, 1e-6);
                        assert!(
                            ok,
                            "{net} {relax} n={n} i={i}: analytic {g} vs fd {fd} (seed {})",
                            seed()
                        );
                    }
                }
            }
        }
    }

    /// Rows wide enough for the cache-tiled walk (`rows::tile_log`: tiles of 128 wires in
    /// f64): the backward along a random direction against central differences of the dense
    /// loss (the forward of such rows is in `forward::tests`).
    #[test]
    fn tiled_passes_match_the_dense_reference() {
        let mut rng = Rng::new(4);
        for net in [Network::Bitonic, Network::OddEvenMerge] {
            for n in [300usize, 600] {
                let relax = rng.pick(&Relaxation::ALL);
                let cfg = SortConfig::new(net, relax, 0.5 + 3.0 * rng.uniform());
                let ctx = format!("{net} {relax} n={n} (seed {})", seed());
                let x: Vec<f64> = rng.vec(n, 1.0);
                let s = Sorter::try_new(n, cfg).unwrap();
                let mut scratch = vec![f64::NAN; s.scratch_len()];
                let (gs, gp, dir): (Vec<f64>, Vec<f64>, Vec<f64>) =
                    (rng.vec(n, 1.0), rng.vec(n * n, 1.0), rng.vec(n, 1.0));
                let mut gx = vec![f64::NAN; n];
                s.try_backward(&x, &gs, &gp, &mut gx, &mut scratch).unwrap();
                let along = |t: &[f64]| {
                    let xt: Vec<f64> = x.iter().zip(&dir).map(|(a, d)| a + t[0] * d).collect();
                    loss(&cfg, &xt, &gs, &gp)
                };
                let g: f64 = gx.iter().zip(&dir).map(|(a, b)| a * b).sum();
                let (ok, fd) = fd_check(along, &[0.0], 0, g, 1e-6);
                assert!(ok, "{ctx}: analytic {g} vs fd {fd}");
            }
        }
    }

    #[test]
    fn backward_errors() {
        use crate::Error;
        let s = Sorter::try_new(2, SortConfig::<f64>::default()).unwrap();
        let mut sc = vec![0.0; s.scratch_len()];
        let mut gx = [0.0; 2];
        let e = s.try_backward(&[0.0, 1.0], &[0.0, f64::NAN], &[0.0; 4], &mut gx, &mut sc);
        assert_eq!(
            e,
            Err(Error::NonFinite {
                what: "grad_sorted",
                index: 1
            })
        );
        let e = s.try_backward(&[0.0, 1.0], &[0.0; 2], &[0.0; 3], &mut gx, &mut sc);
        assert!(matches!(
            e,
            Err(Error::LengthMismatch {
                what: "grad_perm",
                ..
            })
        ));
        let e = s.try_backward(&[0.0, 1.0], &[0.0; 2], &[0.0; 4], &mut gx, &mut sc[..5]);
        assert!(matches!(e, Err(Error::ScratchTooSmall { .. })));
    }
}
