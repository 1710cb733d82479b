//! [`TopK`]: the k largest candidates of up to [`LANES`] anchor rows, each row's candidates
//! arriving in ascending index order in chunks of [`CHUNK`]; equal values keep the lower index
//! first (as the core's own top-k).
//!
//! [`TopK::select`] first bounds each row from below: the k-th largest of the maxima of its
//! disjoint chunks is reached by k distinct candidates, so no candidate below it is among the
//! k largest (the rows' k-th largest maxima found together, in lanes). A row then reads only
//! the chunks whose maximum reaches its bound (about k of them), keeps their candidates at or
//! above it (about k: the [`Survivors`]) and ranks those branch-free. Many ties at the bound
//! (more survivors than fit) fall back to the one-pass insertion scan ([`TopK::scan_row_by`]):
//! each row keeps its best, descending, in a sorted buffer of k; once full, only a value above
//! its k-th can enter, by insertion; one vectorised compare per chunk gives the bit mask of
//! the values that can. The kept lists are those of the plain one-pass scan, ties included.
//! Candidates are finite.

use core::cmp::Ordering;

use groco_core::{Real, LANES};

use super::float::LossFloat;
use super::survivors::{at_least, Survivors};

/// Candidates per compare in [`TopK::scan_row_by`], and per maximum of the bounds.
pub(crate) const CHUNK: usize = 32;

/// The running top-k of `rows ≤ LANES` rows (see the module docs).
pub(crate) struct TopK<'a, F> {
    /// Row j's kept values, descending, at `j·k..(j + 1)·k`.
    vals: &'a mut [F],
    /// Their candidate indices.
    idx: &'a mut [usize],
    k: usize,
    rows: usize,
    /// How many of its k each row holds yet.
    lens: [usize; LANES],
    /// Each row's lower bound (see the module docs; −∞ until [`TopK::select`] sets it).
    lows: [F; LANES],
}

impl<'a, F: LossFloat> TopK<'a, F> {
    /// Empty top-k lists of `k > 0` for the `vals.len() / k` rows (at most [`LANES`]) that
    /// `vals` and `idx` (of equal length, a multiple of k) hold.
    pub(crate) fn new(vals: &'a mut [F], idx: &'a mut [usize], k: usize) -> Self {
        assert!(k > 0 && vals.len() == idx.len() && vals.len().is_multiple_of(k));
        let rows = vals.len() / k;
        assert!(rows <= LANES, "at most {LANES} rows, got {rows}");
        TopK {
            vals,
            idx,
            k,
            rows,
            lens: [0; LANES],
            lows: [F::neg_infinity(); LANES],
        }
    }

    /// Floats of scratch that [`TopK::select`] needs over `n` candidates.
    pub(crate) fn maxima_len(n: usize) -> usize {
        (LANES + 1) * (n.div_ceil(CHUNK) + 1)
    }

    /// Offers each row j its candidates in ascending order: first `cross` whole chunks
    /// (`chunk(j, i)`: its candidates i·CHUNK.., `cross_max(i)[j]` their largest), then its own
    /// `own(j) = (base, values, skip)` (as [`TopK::scan_row_by`]). Each row is first bounded from
    /// below by the k-th largest of its chunk maxima (the module docs), kept in `maxima`
    /// ([`TopK::maxima_len`] of the candidate count); then a chunk whose maximum is under the
    /// row's threshold is passed over unread.
    #[inline(always)]
    pub(crate) fn select<'c>(
        &mut self,
        cross: usize,
        chunk: impl Fn(usize, usize) -> &'c [F; CHUNK],
        cross_max: impl Fn(usize) -> &'c [F],
        own: impl Fn(usize) -> (usize, &'c [F], usize),
        maxima: &mut [F],
    ) where
        F: 'c,
    {
        let (rows, k) = (self.rows, self.k);
        // chunk-major: the maximum of chunk ci of row j at mx[ci·LANES + j]
        let (mx, spare) = maxima.split_at_mut(maxima.len() / (LANES + 1) * LANES);
        // the cross part's chunk maxima, all rows at once
        for (ci, m) in mx[..cross * LANES]
            .as_chunks_mut::<LANES>()
            .0
            .iter_mut()
            .enumerate()
        {
            let src = cross_max(ci);
            *m = core::array::from_fn(|j| if j < rows { src[j] } else { F::neg_infinity() });
        }
        // each row's own chunks (absent ones, and the lanes of absent rows, −∞)
        let own_chunks = (0..rows).map(|j| own(j).1.len().div_ceil(CHUNK)).max();
        let at = cross + own_chunks.unwrap_or(0);
        mx[cross * LANES..at * LANES].fill(F::neg_infinity());
        for j in 0..rows {
            let (base, vals, skip) = own(j);
            for (ci, chunk) in vals.chunks(CHUNK).enumerate() {
                let c0 = base + ci * CHUNK;
                mx[(cross + ci) * LANES + j] = match <&[F; CHUNK]>::try_from(chunk) {
                    Ok(full) if !(c0..c0 + CHUNK).contains(&skip) => max_of(full),
                    _ => chunk
                        .iter()
                        .enumerate()
                        .filter(|&(o, _)| c0 + o != skip)
                        .fold(F::neg_infinity(), |m, (_, &v)| if v > m { v } else { m }),
                };
            }
        }
        let bounded = at >= k;
        if bounded {
            self.lows = kth_largest(&mx[..at * LANES], k, spare);
        }
        let mut found = Survivors::new();
        for j in 0..rows {
            let (low, (base, vals, skip)) = (self.lows[j], own(j));
            if bounded {
                // the candidates at or above the bound, in ascending order, from the chunks
                // whose maximum reaches it (at least k: the k chunks of the k largest maxima)
                found.clear();
                let fit = (0..at).filter(|&ci| mx[ci * LANES + j] >= low).all(|ci| {
                    if ci < cross {
                        found.take(chunk(j, ci), CHUNK, ci * CHUNK, low, usize::MAX)
                    } else {
                        let o0 = (ci - cross) * CHUNK;
                        let part = &vals[o0..vals.len().min(o0 + CHUNK)];
                        if let Ok(full) = <&[F; CHUNK]>::try_from(part) {
                            return found.take(full, CHUNK, base + o0, low, skip);
                        }
                        // the last, partial chunk
                        found.take(&padded(part), part.len(), base + o0, low, skip)
                    }
                });
                if fit {
                    let (vals, idx) = (
                        &mut self.vals[j * k..(j + 1) * k],
                        &mut self.idx[j * k..(j + 1) * k],
                    );
                    found.rank_into(vals, idx);
                    self.lens[j] = k;
                    continue;
                }
            }
            // too few chunks for a bound, or more survivors than fit (many ties at the bound):
            // the one-pass insertion scan, past the chunks under the row's threshold
            for ci in 0..cross {
                if mx[ci * LANES + j] >= self.threshold(j) {
                    self.offer_chunk(j, chunk(j, ci), CHUNK, ci * CHUNK, usize::MAX);
                }
            }
            self.scan_row_by(j, vals, base, skip, |ci, t| {
                mx[(cross + ci) * LANES + j] >= t
            });
        }
    }

    /// Row j's entry threshold: a candidate below it cannot enter (it is the row's k-th when
    /// full, its bound while filling; an entering candidate is at or above both).
    #[inline(always)]
    fn threshold(&self, j: usize) -> F {
        if self.lens[j] == self.k {
            self.vals[j * self.k + self.k - 1]
        } else {
            self.lows[j]
        }
    }

    /// Offers candidate `c` with value `v` to row j.
    #[inline(always)]
    fn push(&mut self, j: usize, c: usize, v: F) {
        let k = self.k;
        let (vals, idx) = (
            &mut self.vals[j * k..(j + 1) * k],
            &mut self.idx[j * k..(j + 1) * k],
        );
        let len = &mut self.lens[j];
        if *len == k {
            if v <= vals[k - 1] {
                return;
            }
        } else if v < self.lows[j] {
            return;
        } else {
            *len += 1;
        }
        let mut at = *len - 1;
        while at > 0 && vals[at - 1] < v {
            vals[at] = vals[at - 1];
            idx[at] = idx[at - 1];
            at -= 1;
        }
        vals[at] = v;
        idx[at] = c;
    }

    /// [`TopK::scan_row_by`] over every chunk.
    #[cfg(test)]
    pub(crate) fn scan_row(&mut self, j: usize, row: &[F], base: usize, skip: usize) {
        self.scan_row_by(j, row, base, skip, |_, _| true);
    }

    /// Offers row j the candidates `base..base + row.len()`, values `row`, except `skip`, in one
    /// pass of insertions, chunk by chunk, skipping the chunks i for which `open(i, threshold)`
    /// does not hold (they cannot reach the row's threshold).
    #[inline(always)]
    fn scan_row_by(
        &mut self,
        j: usize,
        row: &[F],
        base: usize,
        skip: usize,
        open: impl Fn(usize, F) -> bool,
    ) {
        let (chunks, rest) = row.as_chunks::<CHUNK>();
        for (ci, chunk) in chunks.iter().enumerate() {
            if open(ci, self.threshold(j)) {
                self.offer_chunk(j, chunk, CHUNK, base + ci * CHUNK, skip);
            }
        }
        let ci = chunks.len();
        if !rest.is_empty() && open(ci, self.threshold(j)) {
            self.offer_chunk(j, &padded(rest), rest.len(), base + ci * CHUNK, skip);
        }
    }

    /// The insertion scan of the first `len` of 32 candidates: one compare says whether any
    /// reaches the row's threshold, and only then their bit mask is built.
    #[inline(always)]
    fn offer_chunk(&mut self, j: usize, chunk: &[F; CHUNK], len: usize, c0: usize, skip: usize) {
        let t = self.threshold(j);
        if !chunk.iter().fold(false, |a, &v| a | (v >= t)) {
            return;
        }
        let mut mask = at_least(chunk, len, t);
        while mask != 0 {
            let o = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if c0 + o != skip {
                self.push(j, c0 + o, chunk[o]);
            }
        }
    }
}

/// A partial chunk, padded with −∞ to [`CHUNK`] values; its users take only the first
/// `part.len()`.
#[inline(always)]
fn padded<F: Real>(part: &[F]) -> [F; CHUNK] {
    let mut full = [F::neg_infinity(); CHUNK];
    full[..part.len()].copy_from_slice(part);
    full
}

/// Largest k for which [`kth_largest`] keeps its running lists in registers.
const KTH_MAX: usize = 32;

/// The k-th largest (counting equal values) of each lane of the chunk-major `mx` (`at` rows of
/// [`LANES`], at ≥ k), all lanes at once: each row of values is inserted into k descending lists
/// by compare-exchanges (branch-free, it vectorises). For k above [`KTH_MAX`], lane by lane by
/// a selection in `spare` (at least `at` floats).
#[inline(always)]
fn kth_largest<F: Real>(mx: &[F], k: usize, spare: &mut [F]) -> [F; LANES] {
    let rows = mx.as_chunks::<LANES>().0;
    if k <= KTH_MAX {
        let mut top = [[F::neg_infinity(); LANES]; KTH_MAX];
        for &row in rows {
            let mut v = row;
            for t in &mut top[..k] {
                let hi = core::array::from_fn(|j| if v[j] > t[j] { v[j] } else { t[j] });
                v = core::array::from_fn(|j| if v[j] > t[j] { t[j] } else { v[j] });
                *t = hi;
            }
        }
        return top[k - 1];
    }
    let by_value = |a: &F, b: &F| b.partial_cmp(a).unwrap_or(Ordering::Equal);
    let spare = &mut spare[..rows.len()];
    core::array::from_fn(|j| {
        for (s, row) in spare.iter_mut().zip(rows) {
            *s = row[j];
        }
        *spare.select_nth_unstable_by(k - 1, by_value).1
    })
}

/// The largest of 32 values, by halves (elementwise maxima vectorise; a running maximum
/// would not).
#[inline(always)]
fn max_of<F: Real>(v: &[F; CHUNK]) -> F {
    let max = |a: F, b: F| if b > a { b } else { a };
    let m16: [F; 16] = core::array::from_fn(|i| max(v[i], v[i + 16]));
    let m8: [F; 8] = core::array::from_fn(|i| max(m16[i], m16[i + 8]));
    let m4: [F; 4] = core::array::from_fn(|i| max(m8[i], m8[i + 4]));
    max(max(m4[0], m4[2]), max(m4[1], m4[3]))
}

/// The `vals.len()` largest entries of `row` other than `row[skip]`, descending, with their
/// indices; equal values keep the lower index first.
#[cfg(test)]
pub(crate) fn top_k<F: LossFloat>(row: &[F], skip: usize, vals: &mut [F], idx: &mut [usize]) {
    let k = vals.len();
    if k > 0 {
        TopK::new(vals, idx, k).scan_row(0, row, 0, skip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The k largest of `row` but `skip`, by a full sort.
    fn by_sort(row: &[f64], skip: usize, k: usize) -> Vec<(f64, usize)> {
        let mut want: Vec<(f64, usize)> = row
            .iter()
            .copied()
            .enumerate()
            .filter(|&(c, _)| c != skip)
            .map(|(c, v)| (v, c))
            .collect();
        want.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
        want.truncate(k);
        want
    }

    /// A row long enough for several chunks, with ties across chunk boundaries.
    fn tied_row(len: usize, salt: usize) -> Vec<f64> {
        let mut row = vec![0.3f64, 0.9, -0.2, 0.9, 0.5, 1.5, 0.1, 0.5];
        row.extend((0..len).map(|i| (((i + salt) * 7) % 11) as f64 / 10.0));
        row
    }

    /// `len` distinct values in a scrambled order (a row whose k-th largest is unique, so
    /// that a bound set too high drops a candidate).
    fn distinct_row(len: usize, salt: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 7919 + salt * 104_729) % 10_007) as f64 / 10_007.0)
            .collect()
    }

    /// Lane by lane, the k-th largest of a column equals the sorted column's, for k at and
    /// past the vectorised limit.
    #[test]
    fn kth_largest_matches_a_sort() {
        for at in [1, 2, 7, 33, 80] {
            let mx: Vec<f64> = (0..LANES)
                .flat_map(|j| distinct_row(at, j))
                .collect::<Vec<_>>();
            // chunk-major: lane j of row i at i·LANES + j (with a repeat in lane 3)
            let mut cm: Vec<f64> = (0..at * LANES)
                .map(|x| mx[(x % LANES) * at + x / LANES])
                .collect();
            if at > 1 {
                cm[3] = cm[LANES + 3];
            }
            let ks = [1, 2, at / 2 + 1, at.min(KTH_MAX), at.min(KTH_MAX + 1), at];
            for k in ks.into_iter().filter(|&k| k <= at) {
                let mut spare = vec![0.0; at];
                let got = kth_largest(&cm, k, &mut spare);
                for (j, &g) in got.iter().enumerate() {
                    let mut col: Vec<f64> = (0..at).map(|i| cm[i * LANES + j]).collect();
                    col.sort_by(|a, b| b.partial_cmp(a).unwrap());
                    assert_eq!(g, col[k - 1], "at={at} k={k} lane {j}");
                }
            }
        }
    }

    #[test]
    fn top_k_matches_a_full_sort() {
        let row = tied_row(40, 0);
        for skip in 0..row.len() {
            for k in 1..row.len() {
                let (mut vals, mut idx) = (vec![0.0; k], vec![0; k]);
                top_k(&row, skip, &mut vals, &mut idx);
                let got: Vec<(f64, usize)> =
                    vals.iter().copied().zip(idx.iter().copied()).collect();
                assert_eq!(got, by_sort(&row, skip, k), "skip={skip} k={k}");
            }
        }
    }

    /// Each row's chunks left of `split`, then its own tail, equal the per-row full sort, with
    /// and without the chunk-maxima bound and skip (with a cross part of whole chunks, as the
    /// Gram gives): for full and partial row groups, splits that fill some rows and not
    /// others, and bounds by the vectorised k-th largest (k ≤ 32) and by selection.
    #[test]
    fn chunks_then_rows_match_a_full_sort() {
        for rows in [1, 5, LANES] {
            for (split, k, len) in [
                (0, 4, 200),
                (3, 4, 200),
                (20, 4, 200),
                (20, 30, 200),
                (47, 9, 200),
                (150, 3, 200),
                (64, 7, 200),
                (96, 1, 200),
                (128, 12, 200),
                (128, 32, 1400),
                (64, 40, 1400),
                (1024, 35, 1400),
            ] {
                // row j: len + 8 candidates; its own index (skipped) lies at or after `split`
                for distinct in [false, true] {
                    let row = if distinct { distinct_row } else { tied_row };
                    let data: Vec<Vec<f64>> = (0..rows).map(|j| row(len, j)).collect();
                    let len = data[0].len();
                    let skip = |j: usize| split + j % (len - split);
                    let chunk = |j: usize, i: usize| -> &[f64; CHUNK] {
                        data[j][i * CHUNK..(i + 1) * CHUNK]
                            .try_into()
                            .expect("chunk")
                    };
                    let chunk_max: Vec<Vec<f64>> = (0..split / CHUNK)
                        .map(|i| {
                            (0..rows)
                                .map(|j| chunk(j, i).iter().copied().fold(f64::MIN, f64::max))
                                .collect()
                        })
                        .collect();
                    let check = |vals: &[f64], idx: &[usize], how: &str| {
                        for (j, row) in data.iter().enumerate() {
                            let got: Vec<(f64, usize)> = vals[j * k..(j + 1) * k]
                                .iter()
                                .copied()
                                .zip(idx[j * k..(j + 1) * k].iter().copied())
                                .collect();
                            let ctx = format!("{how} rows={rows} split={split} k={k} row {j}");
                            assert_eq!(got, by_sort(row, skip(j), k), "{ctx}");
                        }
                    };
                    for bounded in [false, true] {
                        let (mut vals, mut idx) = (vec![0.0; rows * k], vec![0; rows * k]);
                        let mut top = TopK::new(&mut vals, &mut idx, k);
                        if bounded && split % CHUNK == 0 {
                            let mut maxima = vec![f64::NAN; TopK::<f64>::maxima_len(len)];
                            let own = |j: usize| (split, &data[j][split..], skip(j));
                            let cross_max = |i: usize| &chunk_max[i][..];
                            top.select(split / CHUNK, chunk, cross_max, own, &mut maxima);
                        } else {
                            for (j, row) in data.iter().enumerate() {
                                top.scan_row(j, &row[..split], 0, usize::MAX);
                                top.scan_row(j, &row[split..], split, skip(j));
                            }
                        }
                        check(
                            &vals,
                            &idx,
                            &format!("bounded={bounded} distinct={distinct}"),
                        );
                    }
                }
            }
        }
    }
}
