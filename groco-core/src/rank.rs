//! Soft ranks, rank_i = Σ_j j·`P[i][j]` (0-based), computed as P·v with v_j = j: one vector
//! pushed through the comparators in reverse, O(n·depth), never forming P. The backward pushes
//! dL/drank forward through them, giving dL/dα_c = ±(h_a − h_b)(v_a − v_b) per comparator.

use crate::real::{from_usize, Real};
use crate::relaxation::with_relaxation;
use crate::sorter::{check_finite, check_len, check_scratch, take};
use crate::values::{self, AlphaTape, FullTape};
use crate::{Error, Sorter};

impl<F: Real> Sorter<F> {
    /// Scratch for [`Sorter::try_soft_ranks_backward`]: 4C + n (`try_soft_ranks` needs C).
    pub fn ranks_scratch_len(&self) -> usize {
        4 * self.slots() + self.n()
    }

    /// Soft ranks of `x`: rank_i = Σ_j j·`P[i][j]`, in [0, n−1]. Scratch: C (≤ `scratch_len`).
    ///
    /// ```
    /// use groco_core::{Network, Relaxation, SortConfig, Sorter};
    /// let s = Sorter::try_new(3, SortConfig::new(Network::OddEven, Relaxation::Cauchy, 100.0))?;
    /// let mut ranks = [0.0f64; 3];
    /// let mut scratch = vec![0.0; s.scratch_len()];
    /// s.try_soft_ranks(&[5.0, -2.0, 1.0], &mut ranks, &mut scratch)?;
    /// assert!((ranks[0] - 2.0).abs() < 0.05 && ranks[1].abs() < 0.05);
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    pub fn try_soft_ranks(&self, x: &[F], ranks: &mut [F], scratch: &mut [F]) -> Result<(), Error> {
        let n = self.n();
        check_len("x", x.len(), n)?;
        check_len("ranks", ranks.len(), n)?;
        check_scratch(scratch.len(), self.slots())?;
        self.check_row("x", x, 0)?;
        let alpha = &mut scratch[..self.slots()];
        ranks.copy_from_slice(x);
        with_relaxation!(self.config, r => {
            values::forward(&self.topo, &r, ranks, &mut AlphaTape(&mut *alpha))
        });
        for (j, v) in ranks.iter_mut().enumerate() {
            *v = from_usize(j);
        }
        let v = ranks.as_chunks_mut::<1>().0;
        values::mix::<F, 1, true>(&self.topo, alpha, v, |_, _, _| {});
        Ok(())
    }

    /// grad_x = d/dx Σ_i grad_ranks_i·rank_i. Scratch: [`Sorter::ranks_scratch_len`].
    ///
    /// ```
    /// use groco_core::{SortConfig, Sorter};
    /// let s = Sorter::try_new(2, SortConfig::<f64>::default())?;
    /// let mut scratch = vec![0.0; s.ranks_scratch_len()];
    /// let mut gx = [0.0; 2];
    /// s.try_soft_ranks_backward(&[0.0, 1.0], &[1.0, 0.0], &mut gx, &mut scratch)?;
    /// assert!(gx[0] > 0.0 && gx[1] < 0.0); // raising x_0 raises its rank
    /// # Ok::<(), groco_core::Error>(())
    /// ```
    pub fn try_soft_ranks_backward(
        &self,
        x: &[F],
        grad_ranks: &[F],
        grad_x: &mut [F],
        scratch: &mut [F],
    ) -> Result<(), Error> {
        let (n, c) = (self.n(), self.slots());
        check_len("x", x.len(), n)?;
        check_len("grad_ranks", grad_ranks.len(), n)?;
        check_len("grad_x", grad_x.len(), n)?;
        check_scratch(scratch.len(), self.ranks_scratch_len())?;
        self.check_row("x", x, 0)?;
        check_finite("grad_ranks", grad_ranks, 0)?;
        let mut s = scratch;
        let alpha = take(&mut s, c);
        let slope = take(&mut s, c);
        let diff_x = take(&mut s, c);
        let dv = take(&mut s, c);
        let h = take(&mut s, n).as_chunks_mut::<1>().0;
        grad_x.copy_from_slice(x);
        let mut tape = FullTape {
            alpha: &mut *alpha,
            slope: &mut *slope,
            diff: &mut *diff_x,
        };
        with_relaxation!(self.config, r => values::forward(&self.topo, &r, grad_x, &mut tape));
        for (j, v) in h.iter_mut().enumerate() {
            *v = [from_usize(j)];
        }
        values::mix::<F, 1, true>(
            &self.topo,
            alpha,
            h,
            #[inline(always)]
            |slot, _, d| dv[slot] = d[0],
        );
        for (v, &g) in h.iter_mut().zip(grad_ranks) {
            *v = [g];
        }
        values::mix::<F, 1, false>(
            &self.topo,
            alpha,
            h,
            #[inline(always)]
            |slot, sign, d| {
                dv[slot] = sign * d[0] * dv[slot];
            },
        );
        grad_x.iter_mut().for_each(|g| *g = F::zero());
        values::backward(
            &self.topo,
            alpha,
            slope,
            diff_x,
            grad_x,
            #[inline(always)]
            |slot| dv[slot],
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{fd_check, naive_forward, seed, Rng};
    use crate::{Network, Relaxation, SortConfig, Sorter};

    fn ranks_from_p(cfg: &SortConfig<f64>, x: &[f64]) -> Vec<f64> {
        let n = x.len();
        let (_, p) = naive_forward(cfg, x);
        (0..n)
            .map(|i| (0..n).map(|j| j as f64 * p[i * n + j]).sum())
            .collect()
    }

    #[test]
    fn ranks_match_p_and_finite_differences() {
        let mut rng = Rng::new(4);
        for net in Network::ALL {
            for relax in Relaxation::ALL {
                for n in [1usize, 2, 5, 9, 16, 23] {
                    let cfg = SortConfig::new(net, relax, 0.5 + 4.0 * rng.uniform());
                    let s = Sorter::try_new(n, cfg).unwrap();
                    let x: Vec<f64> = rng.vec(n, 1.0);
                    let mut ranks = vec![0.0; n];
                    let mut scratch = vec![f64::NAN; s.scratch_len()];
                    s.try_soft_ranks(&x, &mut ranks, &mut scratch).unwrap();
                    let want = ranks_from_p(&cfg, &x);
                    for (a, b) in ranks.iter().zip(&want) {
                        assert!((a - b).abs() < 1e-12, "{net} {relax} n={n}: {a} vs {b}");
                    }
                    let gr: Vec<f64> = rng.vec(n, 1.0);
                    let mut gx = vec![0.0; n];
                    let mut sc = vec![f64::NAN; s.ranks_scratch_len()];
                    s.try_soft_ranks_backward(&x, &gr, &mut gx, &mut sc)
                        .unwrap();
                    let f = |x: &[f64]| -> f64 {
                        ranks_from_p(&cfg, x)
                            .iter()
                            .zip(&gr)
                            .map(|(a, b)| a * b)
                            .sum()
                    };
                    for (i, &g) in gx.iter().enumerate() {
                        let (ok, fd) = fd_check(f, &x, i, g, 1e-6);
                        assert!(
                            ok,
                            "{net} {relax} n={n} i={i}: {g} vs fd {fd} (seed {})",
                            seed()
                        );
                    }
                }
            }
        }
    }
}
