//! [`SymGram`]: the Gram matrix S = Z·Zᵀ of n rows, computed by halves.
//!
//! S is symmetric, so only its upper triangle is computed, in row panels of [`PANEL`] rows:
//! panel P (rows s..s+p) holds S[s..s+p][s..n] = Z[s..s+p]·Z[s..n]ᵀ, one gemm each, the panels
//! spread over rayon. That is n(n+p)/2 of the n² dot products (56% at n = 1024). A row of S is
//! then read back from its own panel (columns ≥ s, contiguous) and from the earlier panels
//! (columns < s, one column of each: strided, but consecutive rows share cache lines), or, for
//! consecutive rows at once, candidate c < s of all of them from row c of its panel
//! (contiguous). Right after each panel's gemm, while it is in cache, the largest value of
//! each column over each [`CHUNK`] of its rows can be kept, for the top-k's bounds.

use rayon::prelude::*;

use super::float::LossFloat;
use super::top_k::CHUNK;
use crate::host::gemm::{gemm, MatRef};
use crate::host::Scratch;

/// Rows per panel.
pub(crate) const PANEL: usize = 128;

/// The upper triangle of Z·Zᵀ by row panels (see the module docs).
#[derive(Debug)]
pub(crate) struct SymGram<F: LossFloat> {
    data: Scratch<F>,
    /// Offset of each panel in `data`.
    offsets: Vec<usize>,
    /// `maxima[i·n + r]`: the largest of S[c][r] over the [`CHUNK`] rows c of chunk i, for
    /// every r right of the chunk's panel (the rest unset).
    maxima: Scratch<F>,
    n: usize,
}

impl<F: LossFloat> SymGram<F> {
    /// The Gram matrix of the `n` rows of `z` (`n` × `cols`, row-major).
    pub fn new(z: &[F], n: usize, cols: usize) -> Self {
        Self::build(z, n, cols, false)
    }

    /// [`SymGram::new`], also keeping the chunk maxima that [`SymGram::cross_maxima`] reads.
    pub fn with_chunk_maxima(z: &[F], n: usize, cols: usize) -> Self {
        Self::build(z, n, cols, true)
    }

    fn build(z: &[F], n: usize, cols: usize, chunk_maxima: bool) -> Self {
        let starts: Vec<usize> = (0..n).step_by(PANEL).collect();
        let mut offsets = Vec::with_capacity(starts.len());
        let mut total = 0;
        for &s in &starts {
            offsets.push(total);
            total += PANEL.min(n - s) * (n - s);
        }
        let mut data = Scratch::take(total);
        let mut maxima = Scratch::take(if chunk_maxima {
            n.div_ceil(CHUNK) * n
        } else {
            0
        });
        let mut panels = Vec::with_capacity(starts.len());
        let (mut rest, mut rest_max) = (&mut data[..], &mut maxima[..]);
        for &s in &starts {
            let (head, tail) = rest.split_at_mut(PANEL.min(n - s) * (n - s));
            let len_max = if chunk_maxima {
                PANEL.min(n - s).div_ceil(CHUNK) * n
            } else {
                0
            };
            let (head_max, tail_max) = rest_max.split_at_mut(len_max);
            panels.push((s, head, head_max));
            (rest, rest_max) = (tail, tail_max);
        }
        panels.into_par_iter().for_each(|(s, out, max)| {
            let (p, w) = (PANEL.min(n - s), n - s);
            let a = MatRef::row_major(&z[s * cols..(s + p) * cols], p, cols);
            let b = MatRef::row_major(&z[s * cols..], w, cols).t();
            gemm(out, a, b, false);
            // the chunk maxima of the columns right of the panel, while it is in cache
            for (rows, mx) in out.chunks(CHUNK * w).zip(max.chunks_mut(n)) {
                let mx = &mut mx[s + p..];
                let mut rows = rows.chunks_exact(w).map(|row| &row[p..]);
                if let Some(first) = rows.next() {
                    mx.copy_from_slice(first);
                }
                for row in rows {
                    for (m, &v) in mx.iter_mut().zip(row) {
                        *m = if v > *m { v } else { *m };
                    }
                }
            }
        });
        SymGram {
            data,
            offsets,
            maxima,
            n,
        }
    }

    /// The largest of S[c][r0..r0 + len] over the [`CHUNK`] candidates c of chunk i (rows
    /// i·CHUNK.., of an earlier panel than row r0's), as [`SymGram::cross`]. Only on a Gram
    /// built by [`SymGram::with_chunk_maxima`].
    #[inline(always)]
    pub fn cross_maxima(&self, i: usize, r0: usize, len: usize) -> &[F] {
        debug_assert!(
            r0 / PANEL > i * CHUNK / PANEL,
            "chunk {i} is not left of row {r0}"
        );
        &self.maxima[i * self.n + r0..][..len]
    }

    /// The first row of row `r`'s panel, s, and row r's own part S[r][s..n] (contiguous).
    #[inline(always)]
    pub fn own(&self, r: usize) -> (usize, &[F]) {
        let (pr, s) = (r / PANEL, r / PANEL * PANEL);
        let w = self.n - s;
        (s, &self.data[self.offsets[pr] + (r - s) * w..][..w])
    }

    /// S[c][r0..r0 + len] = S[r0..r0 + len][c] for a row c of an earlier panel than row r0's
    /// (c < r0's `own` start), contiguous in c's panel: candidate c of `len` rows from r0.
    #[inline(always)]
    pub fn cross(&self, c: usize, r0: usize, len: usize) -> &[F] {
        let (q, sq) = (c / PANEL, c / PANEL * PANEL);
        debug_assert!(
            r0 / PANEL > q,
            "row {c} is not in an earlier panel than row {r0}"
        );
        let wq = self.n - sq;
        &self.data[self.offsets[q] + (c - sq) * wq + (r0 - sq)..][..len]
    }

    /// Writes row `r` of S into `out` (length n).
    pub fn row(&self, r: usize, out: &mut [F]) {
        let (s, own) = self.own(r);
        out[s..].copy_from_slice(own);
        // columns left of the panel: one strided column of each earlier panel
        for (q, &off) in self.offsets[..r / PANEL].iter().enumerate() {
            let (sq, wq) = (q * PANEL, self.n - q * PANEL);
            for (i, o) in out[sq..sq + PANEL].iter_mut().enumerate() {
                *o = self.data[off + i * wq + r - sq];
            }
        }
    }

    /// Writes all of S into `out` (n × n, row-major).
    pub fn fill(&self, out: &mut [F]) {
        out.par_chunks_mut(self.n)
            .enumerate()
            .for_each(|(r, row)| self.row(r, row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_the_full_product() {
        for (n, cols) in [(1, 3), (5, 2), (128, 4), (129, 3), (300, 7)] {
            let z: Vec<f64> = (0..n * cols)
                .map(|i| ((i * 37 % 23) as f64 - 11.0) / 7.0)
                .collect();
            let g = SymGram::with_chunk_maxima(&z, n, cols);
            let mut full = vec![f64::NAN; n * n];
            g.fill(&mut full);
            for i in 0..n {
                for j in 0..n {
                    let want: f64 = (0..cols).map(|c| z[i * cols + c] * z[j * cols + c]).sum();
                    assert!((full[i * n + j] - want).abs() < 1e-12, "n={n} ({i}, {j})");
                }
            }
            // candidate c of 16 consecutive rows at once, for every c left of their panel
            for r0 in (0..n.saturating_sub(15)).step_by(16) {
                for c in 0..g.own(r0).0 {
                    for (j, &v) in g.cross(c, r0, 16).iter().enumerate() {
                        assert_eq!(v, full[(r0 + j) * n + c], "n={n} cross({c}, {r0})[{j}]");
                    }
                }
                // and the maxima of every chunk of CHUNK candidates left of their panel
                for i in 0..g.own(r0).0 / CHUNK {
                    for (j, &v) in g.cross_maxima(i, r0, 16).iter().enumerate() {
                        let r = r0 + j;
                        let want = (i * CHUNK..(i + 1) * CHUNK)
                            .map(|c| full[r * n + c])
                            .fold(f64::NEG_INFINITY, f64::max);
                        assert_eq!(v, want, "n={n} cross_maxima({i}, {r0})[{j}]");
                    }
                }
            }
        }
    }
}
