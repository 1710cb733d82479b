//! The regular pieces a layer decomposes into, which the kernels walk with slices instead of
//! per-comparator index arithmetic: whole [`Blocks`] of a strided layer, and [`Run`]s of
//! regularly spaced comparators.

/// Whole blocks of a strided layer, see [`super::Layer::blocks`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocks {
    pub(crate) w0: usize,
    pub(crate) w1: usize,
    pub(crate) m: usize,
    pub(crate) slot: usize,
    /// Padded index of wire w0, for the direction bit.
    pub(super) ix0: usize,
    /// The direction of block q is bit `dir_shift` of ix0 + 2mq (never set for ≥ usize::BITS).
    pub(super) dir_shift: u32,
}

impl Blocks {
    /// Calls `f(j0, a, b, flip)` for each block q of `v[w0..w1]`: `j0 = m·q` is its first
    /// comparator (at slot `slot + j0`), `a` and `b` its two halves of m values, `flip` its
    /// direction. With `unroll`, blocks of m = 2, 4 or 8 come with m a constant, so that a
    /// kernel's loop over a block unrolls (for one-tile kernels; the several-tile ones
    /// vectorise across comparators when unrolled, with gathers, and run 2× slower).
    #[inline(always)]
    pub(crate) fn for_each<T>(
        &self,
        v: &mut [T],
        unroll: bool,
        mut f: impl FnMut(usize, &mut [T], &mut [T], bool),
    ) {
        let v = &mut v[self.w0..self.w1];
        match (unroll, self.m) {
            (true, 2) => self.for_each_m::<T, 2>(v, f),
            (true, 4) => self.for_each_m::<T, 4>(v, f),
            (true, 8) => self.for_each_m::<T, 8>(v, f),
            (_, m) => {
                for (q, blk) in v.chunks_exact_mut(2 * m).enumerate() {
                    let (a, b) = blk.split_at_mut(m);
                    f(m * q, a, &mut b[..m], self.flip(q));
                }
            }
        }
    }

    /// [`Blocks::for_each`] for m = M.
    #[inline(always)]
    fn for_each_m<T, const M: usize>(
        &self,
        v: &mut [T],
        mut f: impl FnMut(usize, &mut [T], &mut [T], bool),
    ) {
        debug_assert_eq!(self.m, M);
        for (q, blk) in v.as_chunks_mut::<M>().0.chunks_exact_mut(2).enumerate() {
            if let [a, b] = blk {
                f(M * q, a, b, self.flip(q));
            }
        }
    }

    /// Whether block q is descending.
    #[inline(always)]
    pub(crate) fn flip(&self, q: usize) -> bool {
        self.dir_shift < usize::BITS && ((self.ix0 + 2 * self.m * q) >> self.dir_shift) & 1 == 1
    }
}

/// `len` comparators j = 0.. of one layer, reading wires a = a0 + stride·j and b = a + m,
/// at slots slot + j, all with the same direction. Either `stride == 1` and `len <= m`
/// (the a wires and the b wires form two disjoint contiguous blocks), or `stride == 2` and
/// `m == 1` (adjacent pairs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub(crate) a0: usize,
    pub(crate) m: usize,
    pub(crate) stride: usize,
    pub(crate) len: usize,
    pub(crate) slot: usize,
    pub(crate) flip: bool,
}

/// Calls `f(j, wire_a, wire_b)` for the comparators of `run` over the wire values `v`.
#[inline(always)]
pub(crate) fn for_run_pairs<T>(v: &mut [T], run: &Run, mut f: impl FnMut(usize, &mut T, &mut T)) {
    if run.stride == 2 {
        let pairs = v[run.a0..run.a0 + 2 * run.len].chunks_exact_mut(2);
        for (j, pair) in pairs.enumerate() {
            if let [a, b] = pair {
                f(j, a, b);
            }
        }
    } else {
        let (lo, hi) = v.split_at_mut(run.a0 + run.m);
        let (va, vb) = (&mut lo[run.a0..run.a0 + run.len], &mut hi[..run.len]);
        for (j, (a, b)) in va.iter_mut().zip(vb).enumerate() {
            f(j, a, b);
        }
    }
}
