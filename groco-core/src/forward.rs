//! Single-row forward: the sorted values alone (O(n·depth)), or with the relaxed permutation
//! matrix P (`sorted = x·P`), built W rows at a time by pushing unit vectors through the
//! comparators with the α of the values pass.

use crate::real::Real;
use crate::relaxation::with_relaxation;
use crate::rows::{self, Shared};
use crate::sorter::{check_len, check_scratch, take, take_lanes, LANES};
use crate::values::{self, AlphaTape, NoTape};
use crate::{Error, ScalarTranspose, Sorter, Transpose};

impl<F: Real> Sorter<F> {
    /// The relaxed sorted values of `x`, without P. Needs no scratch (any slice, even empty).
    ///
    /// ```
    /// use groco_core::{Network, Relaxation, SortConfig, Sorter};
    /// let cfg = SortConfig::new(Network::Bitonic, Relaxation::Cauchy, 50.0f32);
    /// let s = Sorter::try_new(5, cfg)?;
    /// let mut out = [0.0; 5];
    /// s.try_sort_values(&[3.0, 1.0, 4.0, 1.5, 9.0], &mut out, &mut [])?;
    /// assert!(out.windows(2).all(|w| w[0] <= w[1]));
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    pub fn try_sort_values(
        &self,
        x: &[F],
        sorted: &mut [F],
        _scratch: &mut [F],
    ) -> Result<(), Error> {
        let n = self.n();
        check_len("x", x.len(), n)?;
        check_len("sorted", sorted.len(), n)?;
        self.check_row("x", x, 0)?;
        sorted.copy_from_slice(x);
        with_relaxation!(self.config, r => values::forward(&self.topo, &r, sorted, &mut NoTape));
        Ok(())
    }

    /// Sorted values and P (n×n row-major, `perm[i*n + j]` = weight of input i in output j).
    /// Scratch: [`Sorter::forward_scratch_len`] (≤ [`Sorter::scratch_len`]).
    ///
    /// ```
    /// use groco_core::{SortConfig, Sorter};
    /// let s = Sorter::try_new(4, SortConfig::<f64>::default())?;
    /// let (mut y, mut p) = ([0.0; 4], [0.0; 16]);
    /// let mut scratch = vec![0.0; s.forward_scratch_len()];
    /// s.try_forward(&[0.3, -1.0, 2.0, 0.0], &mut y, &mut p, &mut scratch)?;
    /// for i in 0..4 {
    ///     let row: f64 = p[i * 4..i * 4 + 4].iter().sum();
    ///     assert!((row - 1.0).abs() < 1e-12); // P is doubly stochastic
    /// }
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    pub fn try_forward(
        &self,
        x: &[F],
        sorted: &mut [F],
        perm: &mut [F],
        scratch: &mut [F],
    ) -> Result<(), Error> {
        self.try_forward_inlined(x, sorted, perm, scratch, ScalarTranspose)
    }

    /// [`Sorter::try_forward`], always inlined into its caller, so that it compiles for the
    /// caller's target features: what a caller compiled for a wider vector ISA calls
    /// (groco-dispatch's `Dispatch::run`), with the [`Transpose`] for that ISA. Same results,
    /// bit for bit; ordinary callers use [`Sorter::try_forward`], which is compiled once.
    /// ```
    /// use groco_core::{ScalarTranspose, SortConfig, Sorter};
    /// let s = Sorter::try_new(3, SortConfig::<f32>::default())?;
    /// let mut scratch = vec![0.0; s.scratch_len()];
    /// let ([mut y, mut y2], [mut p, mut p2]) = ([[0.0; 3]; 2], [[0.0; 9]; 2]);
    /// s.try_forward(&[3.0, 1.0, 2.0], &mut y, &mut p, &mut scratch)?;
    /// s.try_forward_inlined(&[3.0, 1.0, 2.0], &mut y2, &mut p2, &mut scratch, ScalarTranspose)?;
    /// assert_eq!((y, p), (y2, p2));
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_forward_inlined(
        &self,
        x: &[F],
        sorted: &mut [F],
        perm: &mut [F],
        scratch: &mut [F],
        tr: impl Transpose<F>,
    ) -> Result<(), Error> {
        let n = self.n();
        check_len("x", x.len(), n)?;
        check_len("sorted", sorted.len(), n)?;
        check_len("perm", perm.len(), n * n)?;
        check_scratch(scratch.len(), self.forward_scratch_len())?;
        self.check_row("x", x, 0)?;
        let mut s = scratch;
        let alpha = take(&mut s, self.slots());
        let pv = take_lanes::<F, LANES>(&mut s, n);
        self.forward_row(x, sorted, perm, alpha, pv, tr);
        Ok(())
    }

    /// [`Sorter::try_forward`] on checked arguments.
    #[inline(always)]
    pub(crate) fn forward_row(
        &self,
        x: &[F],
        sorted: &mut [F],
        perm: &mut [F],
        alpha: &mut [F],
        pv: &mut [[F; LANES]],
        tr: impl Transpose<F>,
    ) {
        let n = self.n();
        sorted.copy_from_slice(x);
        with_relaxation!(self.config, r => {
            values::forward(&self.topo, &r, sorted, &mut AlphaTape(&mut *alpha))
        });
        let alphas = Shared(&*alpha);
        for r0 in (0..n).step_by(LANES) {
            let rows = LANES.min(n - r0);
            unit_rows(pv, r0, rows);
            let tile = pv.as_chunks_mut::<1>().0;
            let span = (r0, r0 + rows);
            rows::forward::<F, _, LANES, 1, false>(&self.topo, span, &alphas, tile, &mut []);
            rows::store_tiles(tile, 1, &mut perm[r0 * n..], (n, n, rows), tr);
        }
    }
}

/// Sets lanes k < rows of `pv` to the unit vectors e_(r0+k), everything else to 0.
#[inline(always)]
pub(crate) fn unit_rows<F: Real, const W: usize>(pv: &mut [[F; W]], r0: usize, rows: usize) {
    pv.as_flattened_mut().fill(F::zero());
    for k in 0..rows {
        pv[r0 + k][k] = F::one();
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{for_f32_f64, max_rel, naive_forward, Rng};
    use crate::{Network, Real, Relaxation, SortConfig, Sorter};

    /// The lane kernels (with support skipping) against the dense reference, every network,
    /// relaxation and n up to 40, plus a few larger n; and rows wide enough for the
    /// cache-tiled walk (`rows::tile_log`: 256 wires in f32, 128 in f64) on the networks that
    /// tile, with a random relaxation each.
    fn forward_matches_reference<F: Real>(tol: f64) {
        let mut rng = Rng::new(1);
        let mut cases = Vec::new();
        for net in Network::ALL {
            for relax in Relaxation::ALL {
                cases.extend((1..=40).chain([63, 64, 65, 100]).map(|n| (net, relax, n)));
            }
        }
        for net in [Network::Bitonic, Network::OddEvenMerge] {
            for n in [300, 600] {
                cases.push((net, rng.pick(&Relaxation::ALL), n));
            }
        }
        for (net, relax, n) in cases {
            let steep = 0.5 + 10.0 * rng.uniform();
            let cfg = SortConfig::new(net, relax, F::from(steep).unwrap());
            let s = Sorter::try_new(n, cfg).unwrap();
            let x: Vec<F> = rng.vec(n, 1.0);
            let (want_y, want_p) = naive_forward(&cfg, &x);
            let (mut y, mut p) = (vec![F::zero(); n], vec![F::nan(); n * n]);
            let mut scratch = vec![F::nan(); s.forward_scratch_len()];
            s.try_forward(&x, &mut y, &mut p, &mut scratch).unwrap();
            let ctx = format!("{net} {relax} n={n} seed={}", crate::testutil::seed());
            assert!(max_rel(&y, &want_y) <= tol, "sorted: {ctx}");
            assert!(max_rel(&p, &want_p) <= tol, "perm: {ctx}");
            let mut y2 = vec![F::zero(); n];
            s.try_sort_values(&x, &mut y2, &mut []).unwrap();
            assert_eq!(y, y2, "values-only path: {ctx}");
        }
    }
    for_f32_f64!(forward_matches_reference, 2e-5, 1e-13);

    #[test]
    fn length_and_scratch_errors() {
        use crate::Error;
        let s = Sorter::try_new(3, SortConfig::<f32>::default()).unwrap();
        let (mut y, mut p, mut sc) = ([0.0; 3], [0.0; 9], vec![0.0; s.forward_scratch_len()]);
        let e = s
            .try_forward(&[1.0, 2.0], &mut y, &mut p, &mut sc)
            .unwrap_err();
        assert_eq!(
            e,
            Error::LengthMismatch {
                what: "x",
                expected: 3,
                actual: 2
            }
        );
        let e = s
            .try_forward(&[1.0, 2.0, 3.0], &mut y, &mut p[..8], &mut sc)
            .unwrap_err();
        assert!(matches!(e, Error::LengthMismatch { what: "perm", .. }));
        let short = s.forward_scratch_len() - 1;
        let e = s
            .try_forward(&[1.0, 2.0, 3.0], &mut y, &mut p, &mut sc[..short])
            .unwrap_err();
        assert_eq!(
            e,
            Error::ScratchTooSmall {
                needed: short + 1,
                actual: short
            }
        );
        let e = s
            .try_forward(&[1.0, f32::INFINITY, 3.0], &mut y, &mut p, &mut sc)
            .unwrap_err();
        assert_eq!(
            e,
            Error::NonFinite {
                what: "x",
                index: 1
            }
        );
        let e = s
            .try_sort_values(&[f32::NAN, 0.0, 3.0], &mut y, &mut [])
            .unwrap_err();
        assert_eq!(
            e,
            Error::NonFinite {
                what: "x",
                index: 0
            }
        );
    }
}

#[cfg(all(test, feature = "half"))]
mod half_tests {
    use crate::testutil::{naive_forward, Rng};
    use crate::{Network, Real, Relaxation, SortConfig, Sorter};
    use half::{bf16, f16};

    /// f16/bf16 forward against f64 (inputs rounded to the type), with a tolerance of a few
    /// units of the type's epsilon times the depth. f16 refuses logistic_phi: 1e-10
    /// underflows it.
    fn against_f64<H: Real>(tol: f64) {
        let mut rng = Rng::new(21);
        for net in Network::ALL {
            for relax in Relaxation::ALL {
                let cfg = SortConfig::new(net, relax, H::from(2.0).unwrap());
                let Ok(s) = Sorter::try_new(8, cfg) else {
                    // only where 1e-10 underflows the type (f16)
                    assert!(
                        relax == Relaxation::LogisticPhi
                            && H::min_positive_value() > H::from(1e-10).unwrap()
                    );
                    continue;
                };
                let x64: Vec<f64> = rng.vec(8, 1.0);
                let x: Vec<H> = x64.iter().map(|&v| H::from(v).unwrap()).collect();
                let xr: Vec<f64> = x.iter().map(|v| v.to_f64().unwrap()).collect();
                let cfg64 = SortConfig::new(net, relax, 2.0f64);
                let (y64, p64) = naive_forward(&cfg64, &xr);
                let (mut y, mut p) = (vec![H::zero(); 8], vec![H::zero(); 64]);
                let mut sc = vec![H::zero(); s.scratch_len()];
                s.try_forward(&x, &mut y, &mut p, &mut sc).unwrap();
                for (a, b) in y.iter().zip(&y64).chain(p.iter().zip(&p64)) {
                    let a = a.to_f64().unwrap();
                    assert!(
                        (a - b).abs() <= tol * (1.0 + b.abs()),
                        "{net} {relax}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn f16_forward() {
        against_f64::<f16>(2e-2);
    }

    #[test]
    fn bf16_forward() {
        against_f64::<bf16>(1e-1);
    }
}
