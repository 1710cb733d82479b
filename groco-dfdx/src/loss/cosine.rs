//! Cosine-similarity building blocks on host rows: z = x / max(‖x‖, ε) with ε = 1e-8 (as
//! `torch.nn.functional.normalize` and the reference losses compute it), its backward, and dot
//! products. A row whose ‖x‖² overflows the float type is normalised as y / ‖y‖ with
//! y = x / max|x|, the same direction, instead of collapsing to zero.
//!
//! Backward of the normalisation (PyTorch's subgradient at the clamp, which passes the gradient
//! when ‖x‖ ≥ ε): dx = (dz − z·(z·dz)) / ‖x‖ when ‖x‖ ≥ ε, and dx = dz / ε otherwise.

use rayon::prelude::*;

use super::float::{cst, LossFloat};
use crate::host::Scratch;

/// The ε of the normalisation.
pub const COSINE_EPS: f64 = 1e-8;

/// Rows below this many values are not worth a rayon task.
const MIN_PAR_VALUES: usize = 1 << 13;

/// Rows of `x` (`rows` × `cols`, row-major) divided by their clamped norms.
#[derive(Debug)]
pub(crate) struct Normalized<F: LossFloat> {
    /// The normalised rows.
    pub z: Scratch<F>,
    /// 1 / max(‖x_r‖, ε) per row.
    inv: Vec<F>,
    /// Whether row r's norm was below ε (the clamp blocks the norm's gradient).
    clamped: Vec<bool>,
    cols: usize,
}

impl<F: LossFloat> Normalized<F> {
    /// Normalises the rows of `x`.
    pub fn new(x: &[F], cols: usize) -> Self {
        let rows = x.len() / cols;
        let eps = cst::<F>(COSINE_EPS);
        let mut z = Scratch::take(x.len());
        let mut inv = vec![F::zero(); rows];
        let mut clamped = vec![false; rows];
        let min_len = (MIN_PAR_VALUES / cols).max(1);
        x.par_chunks(cols)
            .zip(z.par_chunks_mut(cols))
            .zip(inv.par_iter_mut().zip(clamped.par_iter_mut()))
            .with_min_len(min_len)
            .for_each(|((xr, zr), (iv, cl))| {
                let norm = dot(xr, xr).sqrt();
                if !norm.is_finite() {
                    // ‖x‖² overflows F (|x| beyond about 1e19 in f32; the inputs are finite):
                    // normalise x / max|x| instead, which has the same direction.
                    let m = xr.iter().fold(F::zero(), |a, &v| a.max(v.abs()));
                    let r = xr
                        .iter()
                        .fold(F::zero(), |a, &v| a + (v / m) * (v / m))
                        .sqrt();
                    *cl = false;
                    *iv = F::one() / (m * r); // 0 if m·r overflows too: a vanishing gradient
                    for (o, &v) in zr.iter_mut().zip(xr) {
                        *o = (v / m) / r;
                    }
                    return;
                }
                *cl = norm < eps;
                let den = norm.max(eps);
                *iv = F::one() / den;
                for (o, &v) in zr.iter_mut().zip(xr) {
                    *o = v / den; // divided, as PyTorch does, not multiplied by 1/den
                }
            });
        Normalized {
            z,
            inv,
            clamped,
            cols,
        }
    }

    /// Row `r` of z.
    pub fn row(&self, r: usize) -> &[F] {
        &self.z[r * self.cols..(r + 1) * self.cols]
    }

    /// Turns dL/dz (in `g`) into dL/dx, in place.
    pub fn backward_in_place(&self, g: &mut [F]) {
        let cols = self.cols;
        let min_len = (MIN_PAR_VALUES / cols).max(1);
        g.par_chunks_mut(cols)
            .zip(self.z.par_chunks(cols))
            .zip(self.inv.par_iter().zip(self.clamped.par_iter()))
            .with_min_len(min_len)
            .for_each(|((gr, zr), (&iv, &cl))| {
                let proj = if cl { F::zero() } else { dot(zr, gr) };
                for (gv, &zv) in gr.iter_mut().zip(zr) {
                    *gv = (*gv - zv * proj) * iv;
                }
            });
    }
}

/// Σ a_i·b_i.
#[inline]
pub(crate) fn dot<F: LossFloat>(a: &[F], b: &[F]) -> F {
    // four accumulators: lets the compiler vectorise without reassociating one chain
    let mut acc = [F::zero(); 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (&x, &y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_matches_definition_and_finite_differences() {
        let x = [3.0f64, 4.0, 0.0, 1e-9, -2e-9, 0.0, 0.5, -1.5, 2.0];
        let n = Normalized::new(&x, 3);
        assert_eq!(n.row(0).to_vec(), vec![0.6, 0.8, 0.0]);
        // row 1's norm is below ε: z = x / ε
        assert!((n.row(1)[0] - 0.1).abs() < 1e-12 && (n.row(1)[1] + 0.2).abs() < 1e-12);
        let gz = [0.3, -0.7, 1.1, 0.2, 0.4, -0.6, 1.0, 0.5, -0.25];
        let mut gx = gz;
        n.backward_in_place(&mut gx);
        let f = |x: &[f64]| -> f64 {
            Normalized::new(x, 3)
                .z
                .iter()
                .zip(&gz)
                .map(|(a, b)| a * b)
                .sum()
        };
        for i in 0..9 {
            let h = if (3..6).contains(&i) { 1e-12 } else { 1e-6 };
            let (mut xp, mut xm) = (x, x);
            xp[i] += h;
            xm[i] -= h;
            let fd = (f(&xp) - f(&xm)) / (2.0 * h);
            assert!(
                (fd - gx[i]).abs() < 1e-6 * (1.0 + fd.abs()),
                "x[{i}]: {} vs fd {fd}",
                gx[i]
            );
        }
    }

    #[test]
    fn dot_matches_naive() {
        for len in [0, 1, 3, 4, 7, 128] {
            let a: Vec<f64> = (0..len)
                .map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0)
                .collect();
            let b: Vec<f64> = (0..len)
                .map(|i| ((i * 13 % 7) as f64 - 3.0) / 2.0)
                .collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - want).abs() < 1e-12, "len {len}");
        }
    }
}
