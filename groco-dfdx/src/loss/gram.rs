//! [`SymGram`]: the Gram matrix S = Z·Zᵀ of n rows, computed by halves.
//!
//! S is symmetric, so only its upper triangle is computed, in row panels of [`PANEL`] rows:
//! panel P (rows s..s+p) holds `S[s..s+p][s..n] = Z[s..s+p]·Z[s..n]ᵀ`, one gemm each, the panels
//! spread over rayon in pairs of near-equal work (the i-th widest with the i-th narrowest).
//! That is n(n+p)/2 of the n² dot products (56% at n = 1024). A row of S is
//! then read back from its own panel (columns ≥ s, contiguous) and from the earlier panels
//! (columns < s, one column of each: strided). For the top-k, [`SymGram::with_rows`] also
//! writes, right after each panel's gemm while it is in cache, the transpose of the panel's
//! part right of itself, tile by tile (the lower triangle, `PANEL` × `PANEL` tiles), so that
//! every row's columns left of its panel are contiguous too ([`SymGram::cross_chunk`]), and
//! the largest value of each column over each [`CHUNK`] of its rows: row r's chunk maxima,
//! the top-k's bounds.

use groco_core::{Transpose, LANES};
use groco_dispatch::Dispatch;
use rayon::prelude::*;

use super::float::LossFloat;
use super::top_k::CHUNK;
use crate::host::gemm::{gemm, MatRef};
use crate::host::Scratch;

/// Rows per panel.
pub(crate) const PANEL: usize = 128;

// a chunk of candidates lies in one panel, a transposed tile is whole 16×16 blocks
const _: () = assert!(PANEL.is_multiple_of(CHUNK) && PANEL.is_multiple_of(LANES));

/// The upper triangle of Z·Zᵀ by row panels (see the module docs).
#[derive(Debug)]
pub(crate) struct SymGram<F: LossFloat> {
    data: Scratch<F>,
    /// Offset of each panel in `data`.
    offsets: Vec<usize>,
    /// `maxima[i·n + r]`: the largest of `S[c][r]` over the [`CHUNK`] rows c of chunk i, for
    /// every r right of the chunk's panel (the rest unset).
    maxima: Scratch<F>,
    /// Panel q's part right of itself, transposed by tiles: tile Q > q holds S[r][sq..sq + p]
    /// for the rows r of panel Q, row-major (`PANEL` columns), at `lower_offsets[q]` +
    /// (Q − q − 1)·`PANEL`².
    lower: Scratch<F>,
    lower_offsets: Vec<usize>,
    n: usize,
}

/// One panel's gemm output and, with rows kept, its chunk maxima and transposed tiles.
type PanelOut<'a, F> = (usize, &'a mut [F], &'a mut [F], &'a mut [F]);

impl<F: LossFloat> SymGram<F> {
    /// The Gram matrix of the `n` rows of `z` (`n` × `cols`, row-major).
    pub fn new(z: &[F], n: usize, cols: usize) -> Self {
        Self::build(z, n, cols, None)
    }

    /// [`SymGram::new`], also keeping every row's columns left of its panel contiguous and
    /// their chunk maxima ([`SymGram::cross_chunk`], [`SymGram::cross_maxima`]), with `isa`'s
    /// vectors and transposes.
    pub fn with_rows(z: &[F], n: usize, cols: usize, isa: Dispatch) -> Self {
        Self::build(z, n, cols, Some(isa))
    }

    fn build(z: &[F], n: usize, cols: usize, rows: Option<Dispatch>) -> Self {
        let starts: Vec<usize> = (0..n).step_by(PANEL).collect();
        let len = |s: usize| PANEL.min(n - s) * (n - s);
        let len_max = |s: usize| match rows {
            Some(_) => PANEL.min(n - s).div_ceil(CHUNK) * n,
            None => 0,
        };
        let len_low = |s: usize| match rows {
            Some(_) => PANEL.min(n - s) * (n - s - PANEL.min(n - s)),
            None => 0,
        };
        let offsets_of = |f: &dyn Fn(usize) -> usize| -> (Vec<usize>, usize) {
            let mut total = 0;
            let offs = starts
                .iter()
                .map(|&s| {
                    let at = total;
                    total += f(s);
                    at
                })
                .collect();
            (offs, total)
        };
        let (offsets, total) = offsets_of(&len);
        let (lower_offsets, total_low) = offsets_of(&len_low);
        let mut data = Scratch::take(total);
        let mut maxima = Scratch::take(starts.iter().map(|&s| len_max(s)).sum());
        let mut lower = Scratch::take(total_low);
        let mut panels: Vec<PanelOut<'_, F>> = Vec::with_capacity(starts.len());
        let (mut rest, mut rest_max, mut rest_low) =
            (&mut data[..], &mut maxima[..], &mut lower[..]);
        for &s in &starts {
            let (head, tail) = rest.split_at_mut(len(s));
            let (head_max, tail_max) = rest_max.split_at_mut(len_max(s));
            let (head_low, tail_low) = rest_low.split_at_mut(len_low(s));
            panels.push((s, head, head_max, head_low));
            (rest, rest_max, rest_low) = (tail, tail_max, tail_low);
        }
        // panel i (work ∝ n − s) paired with panel m − 1 − i: tasks of near-equal work
        let late = panels.split_off(panels.len().div_ceil(2));
        let late = late
            .into_iter()
            .rev()
            .map(Some)
            .chain(core::iter::once(None));
        let pairs: Vec<_> = panels.into_iter().zip(late).collect();
        pairs.into_par_iter().for_each(|(first, last)| {
            for (s, out, max, low) in core::iter::once(first).chain(last) {
                let (p, w) = (PANEL.min(n - s), n - s);
                let a = MatRef::row_major(&z[s * cols..(s + p) * cols], p, cols);
                let b = MatRef::row_major(&z[s * cols..], w, cols).t();
                gemm(out, a, b, false);
                if let Some(isa) = rows {
                    // while the panel is in cache
                    isa.run(
                        #[inline(always)]
                        || {
                            transpose_right(out, (s, p, n), low, max, isa);
                        },
                    );
                }
            }
        });
        SymGram {
            data,
            offsets,
            maxima,
            lower,
            lower_offsets,
            n,
        }
    }

    /// The largest of S[c][r0..r0 + len] over the [`CHUNK`] candidates c of chunk i (rows
    /// i·CHUNK.., of an earlier panel than row r0's): row r0 + j's chunk i maximum at j. Only
    /// on a Gram built by [`SymGram::with_rows`].
    #[inline(always)]
    pub fn cross_maxima(&self, i: usize, r0: usize, len: usize) -> &[F] {
        debug_assert!(
            r0 / PANEL > i * CHUNK / PANEL,
            "chunk {i} is not left of row {r0}"
        );
        &self.maxima[i * self.n + r0..][..len]
    }

    /// S[r][i·CHUNK..(i + 1)·CHUNK], chunk i of row r's columns left of its panel (contiguous,
    /// from the transposed tiles). Only on a Gram built by [`SymGram::with_rows`].
    #[inline(always)]
    pub fn cross_chunk(&self, r: usize, i: usize) -> &[F; CHUNK] {
        let (pr, c0) = (r / PANEL, i * CHUNK);
        let q = c0 / PANEL;
        debug_assert!(q < pr, "chunk {i} is not left of row {r}");
        let tile_row = (pr - q - 1) * PANEL + r - pr * PANEL;
        let at = self.lower_offsets[q] + tile_row * PANEL + c0 - q * PANEL;
        self.lower[at..at + CHUNK].try_into().expect("CHUNK values")
    }

    /// The first row of row `r`'s panel, s, and row r's own part `S[r][s..n]` (contiguous).
    #[inline(always)]
    pub fn own(&self, r: usize) -> (usize, &[F]) {
        let (pr, s) = (r / PANEL, r / PANEL * PANEL);
        let w = self.n - s;
        (s, &self.data[self.offsets[pr] + (r - s) * w..][..w])
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

/// Panel (s, p) of an n-row Gram (`out`, p × (n − s))'s columns right of itself transposed
/// into `low`, tile by tile (see [`SymGram`]'s `lower`), by [`LANES`]² blocks with `isa`'s
/// transpose; and, from the same blocks, the largest of each such column r over each
/// [`CHUNK`] of the panel's rows: `max[i·n + r]` for chunk i.
#[inline(always)]
fn transpose_right<F: LossFloat>(
    out: &[F],
    (s, p, n): (usize, usize, usize),
    low: &mut [F],
    max: &mut [F],
    isa: Dispatch,
) {
    let (w, tr) = (n - s, isa.transposer());
    let mut block = [[F::zero(); LANES]; LANES];
    let mut t = [[F::zero(); LANES]; LANES];
    let larger = |a: F, b: F| if b > a { b } else { a };
    for (tile, dst) in low.chunks_mut(PANEL * p).enumerate() {
        // tile columns c0.. of the panel: rows of a later panel
        let (c0, rows) = (p + tile * PANEL, dst.len() / p);
        for (ci, mx) in max.chunks_mut(n).enumerate() {
            let mx = &mut mx[s + c0..s + c0 + rows];
            let chunk_rows = ci * CHUNK..(ci + 1) * CHUNK;
            let mut r0 = 0;
            while r0 + LANES <= rows {
                let mut m = [F::neg_infinity(); LANES];
                for i0 in chunk_rows.clone().step_by(LANES) {
                    for (k, b) in block.iter_mut().enumerate() {
                        let at = (i0 + k) * w + c0 + r0;
                        b.copy_from_slice(&out[at..at + LANES]);
                        m = core::array::from_fn(|l| larger(m[l], b[l]));
                    }
                    tr.transpose(&block, &mut t);
                    for (r, row) in t.iter().enumerate() {
                        let at = (r0 + r) * p + i0;
                        dst[at..at + LANES].copy_from_slice(row);
                    }
                }
                mx[r0..r0 + LANES].copy_from_slice(&m);
                r0 += LANES;
            }
            for r in r0..rows {
                let mut m = F::neg_infinity();
                for k in chunk_rows.clone() {
                    let v = out[k * w + c0 + r];
                    dst[r * p + k] = v;
                    m = larger(m, v);
                }
                mx[r] = m;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use groco_dispatch::Isa;

    use super::*;

    /// Every entry, chunk of a row left of its panel and chunk maximum, on every ISA's
    /// transposes (f32: shuffles; f64: the scalar fallback), against the plain product.
    fn check<F: LossFloat + Into<f64>>(tol: f64) {
        for (n, cols) in [(1, 3), (5, 2), (128, 4), (129, 3), (300, 7), (400, 2)] {
            let z: Vec<F> = (0..n * cols)
                .map(|i| F::from(((i * 37 % 23) as f64 - 11.0) / 7.0).expect("small"))
                .collect();
            for isa in Isa::supported() {
                let g = SymGram::with_rows(&z, n, cols, Dispatch::try_new(isa).expect("isa"));
                let mut full = vec![F::nan(); n * n];
                g.fill(&mut full);
                for i in 0..n {
                    for j in 0..n {
                        let want: f64 = (0..cols)
                            .map(|c| z[i * cols + c].into() * z[j * cols + c].into())
                            .sum();
                        let got: f64 = full[i * n + j].into();
                        assert!((got - want).abs() < tol, "n={n} ({i}, {j})");
                    }
                }
                for r in 0..n {
                    for i in 0..g.own(r).0 / CHUNK {
                        let got = g.cross_chunk(r, i);
                        let want = &full[r * n + i * CHUNK..][..CHUNK];
                        assert_eq!(&got[..], want, "n={n} {isa} cross_chunk({r}, {i})");
                    }
                }
                for r0 in (0..n.saturating_sub(15)).step_by(16) {
                    for i in 0..g.own(r0).0 / CHUNK {
                        for (j, &v) in g.cross_maxima(i, r0, 16).iter().enumerate() {
                            let r = r0 + j;
                            let want = (i * CHUNK..(i + 1) * CHUNK)
                                .map(|c| full[r * n + c])
                                .fold(F::neg_infinity(), |m, x| if x > m { x } else { m });
                            assert_eq!(v, want, "n={n} cross_maxima({i}, {r0})[{j}]");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rows_match_the_full_product() {
        check::<f64>(1e-12);
        check::<f32>(1e-4);
    }
}
