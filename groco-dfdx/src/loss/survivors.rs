//! [`Survivors`]: a row's candidates at or above its top-k bound (see `top_k`), collected
//! chunk by chunk in ascending index order, and their ranking: survivor i's place in the
//! order (value descending, equal values by lower index) is the count of survivors before it,
//! rank_i = #{j : v_j > v_i} + #{j < i : v_j = v_i}, compared 16 at a time without branches.

use groco_core::Real;

const IOTA: [u32; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// The bit mask of the first `len` of `chunk` (at most 32) at or above `t`: one vectorised
/// compare.
#[inline(always)]
pub(crate) fn at_least<F: Real, const C: usize>(chunk: &[F; C], len: usize, t: F) -> u32 {
    const { assert!(C <= 32) };
    let mask = chunk
        .iter()
        .enumerate()
        .fold(0u32, |m, (o, &v)| m | (u32::from(v >= t) << o));
    mask & ((1u64 << len) - 1) as u32
}

/// Most candidates a row's [`Survivors`] hold.
pub(crate) const SURVIVORS: usize = 64;

/// A row's candidates at or above its bound, in ascending order, and their ranking.
pub(crate) struct Survivors<F> {
    vals: [F; SURVIVORS],
    idx: [usize; SURVIVORS],
    len: usize,
}

impl<F: Real> Survivors<F> {
    /// None yet.
    pub(crate) fn new() -> Self {
        Survivors {
            vals: [F::neg_infinity(); SURVIVORS],
            idx: [0; SURVIVORS],
            len: 0,
        }
    }

    /// Forgets them all, for the next row.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `len` of `chunk` (candidates c0.., at most 32) at or above `low`, but
    /// `skip`; false (and nothing kept) if they do not fit.
    #[inline(always)]
    pub(crate) fn take<const C: usize>(
        &mut self,
        chunk: &[F; C],
        len: usize,
        c0: usize,
        low: F,
        skip: usize,
    ) -> bool {
        let mut mask = at_least(chunk, len, low);
        if (c0..c0 + len).contains(&skip) {
            mask &= !(1 << (skip - c0));
        }
        if self.len + mask.count_ones() as usize > SURVIVORS {
            return false;
        }
        while mask != 0 {
            let o = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            self.vals[self.len] = chunk[o];
            self.idx[self.len] = c0 + o;
            self.len += 1;
        }
        true
    }

    /// Writes the `vals.len()` largest (equal values: lower index first), descending: each
    /// survivor's rank is the count of those before it in that order, branch-free.
    #[inline(always)]
    pub(crate) fn rank_into(&mut self, vals: &mut [F], idx: &mut [usize]) {
        let (n, k) = (self.len, vals.len());
        debug_assert!(n >= k, "{n} survivors for {k}");
        // whole blocks of 16, the tail −∞ (below every finite candidate)
        let blocks = n.div_ceil(16);
        self.vals[n..blocks * 16].fill(F::neg_infinity());
        for i in 0..n {
            let v = self.vals[i];
            let mut rank = 0u32;
            for (b, block) in self.vals[..blocks * 16]
                .as_chunks::<16>()
                .0
                .iter()
                .enumerate()
            {
                // the block's entries before survivor i: o < before
                let before = i.saturating_sub(b * 16).min(16) as u32;
                rank += block
                    .iter()
                    .zip(IOTA)
                    .map(|(&x, o)| u32::from((x > v) | ((x == v) & (o < before))))
                    .sum::<u32>();
            }
            let rank = rank as usize;
            if rank < k {
                vals[rank] = v;
                idx[rank] = self.idx[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows with ties (a few levels) and without, against a sort by (value desc, index asc),
    /// for every k; and a chunk that does not fit is refused whole.
    #[test]
    fn ranking_matches_a_sort() {
        for (len, levels) in [
            (1, 3),
            (7, 2),
            (16, 5),
            (17, 3),
            (40, 1000),
            (64, 4),
            (64, 997),
        ] {
            let vals: Vec<f64> = (0..len)
                .map(|i| ((i * 7919 + 13) % levels) as f64 / levels as f64)
                .collect();
            let mut want: Vec<(f64, usize)> = vals.iter().copied().zip(0..).collect();
            want.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
            for k in 1..=len {
                let mut s = Survivors::new();
                for (c0, chunk) in (0..).step_by(16).zip(vals.chunks(16)) {
                    let mut padded = [0.0; 16];
                    padded[..chunk.len()].copy_from_slice(chunk);
                    assert!(s.take(&padded, chunk.len(), c0, f64::MIN, usize::MAX));
                }
                let (mut v, mut ix) = (vec![f64::NAN; k], vec![usize::MAX; k]);
                s.rank_into(&mut v, &mut ix);
                let got: Vec<(f64, usize)> = v.into_iter().zip(ix).collect();
                assert_eq!(got, want[..k], "len={len} levels={levels} k={k}");
            }
        }
        let mut s = Survivors::new();
        let chunk = [1.0f32; 32];
        assert!(s.take(&chunk, 32, 0, 0.0, 5)); // 31 kept: the skipped one is not
        assert!(s.take(&chunk, 32, 32, 0.0, usize::MAX)); // 63
        assert!(!s.take(&chunk, 2, 64, 0.0, usize::MAX)); // 65 do not fit
        assert!(s.take(&chunk, 1, 64, 0.0, usize::MAX)); // 64 do
        let (mut v, mut ix) = ([0.0; 3], [0; 3]);
        s.rank_into(&mut v, &mut ix);
        assert_eq!(ix, [0, 1, 2]);
        assert!(!s.take(&chunk, 1, 65, 0.0, usize::MAX));
        assert!(s.take(&chunk, 1, 65, 2.0, usize::MAX)); // none at or above 2: nothing to fit
    }
}
