//! P-row kernels. The α of every comparator depends only on x, so row i of P is the network
//! applied to the unit vector e_i with α held fixed, and the P part of dL/dα_c is
//! Σ_i (G_i,min − G_i,max)(p_i,a − p_i,b), G_i being row i of dL/dP pushed back to comparator c.
//! A tile of W rows (W P rows of one input, or one P row of W inputs) runs forward, keeping
//! only p_a − p_b per comparator, then backward, accumulating that sum. Comparators a tile's
//! support cannot reach are skipped: they would only move zeros (see `Layer::range`).
//! R tiles can run in one pass (each wire holds R tiles of W lanes): with per-lane α that
//! shares each comparator's α load and loop step among R rows; their sums reach the
//! accumulator in tile order, so the result is bit for bit that of R passes.
//! A one-tile pass (R = 1) whose rows outgrow a cache tile walks the tail of each bitonic stage
//! block by block ([`Schedule`]), which moves only independent work: bit for bit the same.

use crate::network::{for_run_pairs, Schedule, Topology};
use crate::real::Real;
use crate::sorter::LANES;
use crate::transpose::Transpose;

/// Where a kernel reads each comparator's α for its W lanes.
pub(crate) trait Alphas<F, const W: usize> {
    /// What is stored per slot.
    type Item: Copy;
    /// The items of slots `slot..slot + len`.
    fn slice(&self, slot: usize, len: usize) -> &[Self::Item];
    /// α per lane.
    fn lanes(item: Self::Item) -> [F; W];
}

/// One α per comparator, shared by all lanes (lanes = P rows of one input).
pub(crate) struct Shared<'a, F>(pub &'a [F]);

impl<F: Real, const W: usize> Alphas<F, W> for Shared<'_, F> {
    type Item = F;
    #[inline(always)]
    fn slice(&self, slot: usize, len: usize) -> &[F] {
        &self.0[slot..slot + len]
    }
    #[inline(always)]
    fn lanes(item: F) -> [F; W] {
        [item; W]
    }
}

/// One α per lane (lanes = the same P row of W inputs).
pub(crate) struct PerLane<'a, F, const W: usize>(pub &'a [[F; W]]);

impl<F: Real, const W: usize> Alphas<F, W> for PerLane<'_, F, W> {
    type Item = [F; W];
    #[inline(always)]
    fn slice(&self, slot: usize, len: usize) -> &[[F; W]] {
        &self.0[slot..slot + len]
    }
    #[inline(always)]
    fn lanes(item: [F; W]) -> [F; W] {
        item
    }
}

/// Where the backward adds each comparator's per-lane (G_min − G_max)(p_a − p_b).
pub(crate) trait Accumulator<F, const W: usize> {
    /// What is stored per slot.
    type Item: Copy;
    /// The items of slots `slot..slot + len`.
    fn slice(&mut self, slot: usize, len: usize) -> &mut [Self::Item];
    /// Adds `terms` to `item`, in a kernel on R tiles (see [`lanewise`]).
    fn add<const R: usize>(item: &mut Self::Item, terms: [F; W]);
}

/// Per lane (lanes = W inputs, each with its own dL/dα).
pub(crate) struct PerLaneSum<'a, F, const W: usize>(pub &'a mut [[F; W]]);

impl<F: Real, const W: usize> Accumulator<F, W> for PerLaneSum<'_, F, W> {
    type Item = [F; W];
    #[inline(always)]
    fn slice(&mut self, slot: usize, len: usize) -> &mut [[F; W]] {
        &mut self.0[slot..slot + len]
    }
    #[inline(always)]
    fn add<const R: usize>(item: &mut [F; W], terms: [F; W]) {
        *item = lanewise::<F, W, R>(|k| item[k] + terms[k]);
    }
}

/// Folded over lanes (lanes = P rows of one input): lanes k and k + H add into lane k of an
/// H-lane accumulator per comparator (H = W/2), which keeps the accumulator at half the
/// memory of the per-lane one without a per-comparator horizontal sum; phase 3 adds the H.
pub(crate) struct FoldedSum<'a, F, const H: usize>(pub &'a mut [[F; H]]);

impl<F: Real, const W: usize, const H: usize> Accumulator<F, W> for FoldedSum<'_, F, H> {
    type Item = [F; H];
    #[inline(always)]
    fn slice(&mut self, slot: usize, len: usize) -> &mut [[F; H]] {
        &mut self.0[slot..slot + len]
    }
    #[inline(always)]
    fn add<const R: usize>(item: &mut [F; H], terms: [F; W]) {
        *item = lanewise::<F, H, R>(|k| item[k] + (terms[k] + terms[k + H]));
    }
}

/// `f(flip)` with `flip` a constant in each branch, so that a loop inside `f` is compiled once
/// per direction, with no per-comparator select of the destinations. Used for blocks only: on
/// the runs of adjacent pairs (m = 1) a constant direction let LLVM vectorise across
/// comparators with gathers and scatters, a third slower.
#[inline(always)]
fn by_flip(flip: bool, mut f: impl FnMut(bool)) {
    if flip {
        f(true)
    } else {
        f(false)
    }
}

/// One comparator on P rows: min = p_b + α(p_a − p_b), max = p_a − α(p_a − p_b), the minimum
/// to wire a unless `flip`. Returns p_a − p_b.
#[inline(always)]
fn mix_forward<F: Real, const W: usize, const R: usize>(
    al: [F; W],
    xa: &mut [F; W],
    xb: &mut [F; W],
    flip: bool,
) -> [F; W] {
    let (pa, pb) = (*xa, *xb);
    let d: [F; W] = lanewise::<F, W, R>(|k| pa[k] - pb[k]);
    let mn = lanewise::<F, W, R>(|k| pb[k] + al[k] * d[k]);
    let mx = lanewise::<F, W, R>(|k| pa[k] - al[k] * d[k]);
    // select the destinations, not the data (a pointer move instead of per-lane blends)
    let (to_mn, to_mx) = if flip { (xb, xa) } else { (xa, xb) };
    *to_mn = mn;
    *to_mx = mx;
    d
}

/// The transpose of [`mix_forward`] on gradient rows, given its p_a − p_b; returns the
/// per-lane (G_min − G_max)(p_a − p_b).
#[inline(always)]
fn mix_backward<F: Real, const W: usize, const R: usize>(
    al: [F; W],
    xa: &mut [F; W],
    xb: &mut [F; W],
    d: &[F; W],
    flip: bool,
) -> [F; W] {
    let (gmn, gmx) = if flip { (&*xb, &*xa) } else { (&*xa, &*xb) };
    let (gmn, gmx) = (*gmn, *gmx);
    let dg: [F; W] = lanewise::<F, W, R>(|k| gmn[k] - gmx[k]);
    *xa = lanewise::<F, W, R>(|k| gmx[k] + al[k] * dg[k]);
    *xb = lanewise::<F, W, R>(|k| gmn[k] - al[k] * dg[k]);
    lanewise::<F, W, R>(|k| dg[k] * d[k])
}

/// `[f(0), …, f(W − 1)]` for a kernel on R tiles: a plain loop for one tile, which keeps
/// the single-row kernels free of any call that LLVM may decline to inline (their code grows
/// with the tiled schedule), and `core::array::from_fn` for several, whose loop form the
/// vectoriser takes across comparators with gathers instead of across lanes.
#[inline(always)]
fn lanewise<F: Real, const W: usize, const R: usize>(mut f: impl FnMut(usize) -> F) -> [F; W] {
    if R == 1 {
        let mut out = [F::zero(); W];
        for (k, o) in out.iter_mut().enumerate() {
            *o = f(k);
        }
        out
    } else {
        core::array::from_fn(f)
    }
}

/// Bytes of P rows a tiled pass keeps hot (about a third of a typical 48 KiB L1).
const TILE_BYTES: usize = 16 * 1024;

/// log2 of the wires per cache tile of a one-tile pass (see [`Schedule`]): [`TILE_BYTES`] of
/// W-lane rows. `None` for several tiles (R > 1): those kernels serve n ≤ 64, whose rows fit.
#[inline(always)]
const fn tile_log<F, const W: usize, const R: usize>() -> Option<u32> {
    let wires = TILE_BYTES / (W * core::mem::size_of::<F>());
    if R == 1 && wires >= 2 {
        Some(wires.ilog2())
    } else {
        None
    }
}

/// Runs `pv` (wire-major, R tiles of W lanes) forward through the comparators a pass with
/// initial support `rows` can reach. With `STORE`, records p_a − p_b per slot into `diff`.
#[inline(always)]
pub(crate) fn forward<
    F: Real,
    A: Alphas<F, W>,
    const W: usize,
    const R: usize,
    const STORE: bool,
>(
    topo: &Topology,
    rows: (usize, usize),
    alphas: &A,
    pv: &mut [[[F; W]; R]],
    diff: &mut [[[F; W]; R]],
) {
    #[inline(always)]
    fn mix<F: Real, const W: usize, const R: usize, const STORE: bool>(
        al: [F; W],
        xa: &mut [[F; W]; R],
        xb: &mut [[F; W]; R],
        d: Option<&mut [[F; W]; R]>,
        flip: bool,
    ) {
        match d {
            Some(d) if STORE => {
                for r in 0..R {
                    d[r] = mix_forward::<F, W, R>(al, &mut xa[r], &mut xb[r], flip);
                }
            }
            _ => {
                for r in 0..R {
                    mix_forward::<F, W, R>(al, &mut xa[r], &mut xb[r], flip);
                }
            }
        }
    }
    for (layer, range) in Schedule::forward(topo, rows, tile_log::<F, W, R>()) {
        let len = range.1 - range.0;
        if let Some(bl) = layer.blocks(range) {
            let al = alphas.slice(bl.slot, len);
            if STORE {
                let df = &mut diff[bl.slot..bl.slot + len];
                bl.for_each(
                    pv,
                    R == 1,
                    #[inline(always)]
                    |j0, xa, xb, flip| {
                        let (al, df) = (&al[j0..][..xa.len()], &mut df[j0..][..xa.len()]);
                        by_flip(
                            flip,
                            #[inline(always)]
                            |flip| {
                                let it =
                                    xa.iter_mut().zip(xb.iter_mut()).zip(al).zip(df.iter_mut());
                                for (((xa, xb), &al), d) in it {
                                    mix::<F, W, R, STORE>(A::lanes(al), xa, xb, Some(d), flip);
                                }
                            },
                        );
                    },
                );
            } else {
                bl.for_each(
                    pv,
                    R == 1,
                    #[inline(always)]
                    |j0, xa, xb, flip| {
                        let al = &al[j0..][..xa.len()];
                        by_flip(
                            flip,
                            #[inline(always)]
                            |flip| {
                                for ((xa, xb), &al) in xa.iter_mut().zip(xb.iter_mut()).zip(al) {
                                    mix::<F, W, R, STORE>(A::lanes(al), xa, xb, None, flip);
                                }
                            },
                        );
                    },
                );
            }
            continue;
        }
        layer.for_each_run(
            range,
            #[inline(always)]
            |run| {
                let al = alphas.slice(run.slot, run.len);
                if STORE {
                    let df = &mut diff[run.slot..run.slot + run.len];
                    for_run_pairs(
                        pv,
                        &run,
                        #[inline(always)]
                        |j, xa, xb| {
                            let d = Some(&mut df[j]);
                            mix::<F, W, R, STORE>(A::lanes(al[j]), xa, xb, d, run.flip);
                        },
                    );
                } else {
                    for_run_pairs(
                        pv,
                        &run,
                        #[inline(always)]
                        |j, xa, xb| {
                            mix::<F, W, R, STORE>(A::lanes(al[j]), xa, xb, None, run.flip);
                        },
                    );
                }
            },
        );
    }
}

/// The transpose of [`forward`]: `pv` holds dL/dP rows on entry; adds
/// (G_min − G_max)(p_a − p_b) per lane into `acc`, tile by tile. Needs the `diff` of a `STORE`
/// forward over the same rows.
#[inline(always)]
pub(crate) fn backward<
    F: Real,
    A: Alphas<F, W>,
    S: Accumulator<F, W>,
    const W: usize,
    const R: usize,
>(
    topo: &Topology,
    rows: (usize, usize),
    alphas: &A,
    pv: &mut [[[F; W]; R]],
    diff: &[[[F; W]; R]],
    acc: &mut S,
) {
    #[inline(always)]
    fn mix<F: Real, S: Accumulator<F, W>, const W: usize, const R: usize>(
        al: [F; W],
        xa: &mut [[F; W]; R],
        xb: &mut [[F; W]; R],
        d: &[[F; W]; R],
        ac: &mut S::Item,
        flip: bool,
    ) {
        // the sum is carried in a local, not in memory (no store-to-load round trip per
        // tile); the R adds stay in tile order
        let mut sum = *ac;
        for r in 0..R {
            S::add::<R>(
                &mut sum,
                mix_backward::<F, W, R>(al, &mut xa[r], &mut xb[r], &d[r], flip),
            );
        }
        *ac = sum;
    }
    for (layer, range) in Schedule::backward(topo, rows, tile_log::<F, W, R>()) {
        let len = range.1 - range.0;
        if let Some(bl) = layer.blocks(range) {
            let al = alphas.slice(bl.slot, len);
            let df = &diff[bl.slot..bl.slot + len];
            let ac = acc.slice(bl.slot, len);
            bl.for_each(
                pv,
                R == 1,
                #[inline(always)]
                |j0, xa, xb, flip| {
                    let m = xa.len();
                    let (al, df, ac) = (&al[j0..][..m], &df[j0..][..m], &mut ac[j0..][..m]);
                    by_flip(
                        flip,
                        #[inline(always)]
                        |flip| {
                            let it = xa
                                .iter_mut()
                                .zip(xb.iter_mut())
                                .zip(al)
                                .zip(df)
                                .zip(ac.iter_mut());
                            for ((((xa, xb), &al), d), ac) in it {
                                mix::<F, S, W, R>(A::lanes(al), xa, xb, d, ac, flip);
                            }
                        },
                    );
                },
            );
            continue;
        }
        layer.for_each_run(
            range,
            #[inline(always)]
            |run| {
                let al = alphas.slice(run.slot, run.len);
                let df = &diff[run.slot..run.slot + run.len];
                let ac = acc.slice(run.slot, run.len);
                for_run_pairs(
                    pv,
                    &run,
                    #[inline(always)]
                    |j, xa, xb| {
                        mix::<F, S, W, R>(A::lanes(al[j]), xa, xb, &df[j], &mut ac[j], run.flip);
                    },
                );
            },
        );
    }
}

/// Writes lanes k < `lanes` of tiles 0..`tiles` of `pv` (n wires each) to memory: element
/// (k, m) with m = t·n + w, wire w of tile t, goes to `out[k·stride + m]`. That is P rows
/// r0.. of one input (one tile, stride n) or P rows i0..i0 + tiles of W inputs (stride n²).
/// [`LANES`] values of m at a time go through `tr`.
#[inline(always)]
pub(crate) fn store_tiles<F: Real, X: Transpose<F>, const R: usize>(
    pv: &[[[F; LANES]; R]],
    tiles: usize,
    out: &mut [F],
    (n, stride, lanes): (usize, usize, usize),
    tr: X,
) {
    let len = tiles * n;
    let (mut src, mut dst) = ([[F::zero(); LANES]; LANES], [[F::zero(); LANES]; LANES]);
    let (mut w, mut t) = (0, 0);
    for m0 in (0..len).step_by(LANES) {
        let cols = LANES.min(len - m0);
        let block = if let Some(block) = one_tile_block(pv, m0, cols) {
            w += LANES;
            block
        } else {
            // rows past `cols` keep stale values: they land in columns that are not stored
            for s in &mut src[..cols] {
                *s = pv[w][t];
                (w, t) = if w + 1 == n { (0, t + 1) } else { (w + 1, t) };
            }
            &src
        };
        tr.transpose(block, &mut dst);
        for (k, d) in dst[..lanes].iter().enumerate() {
            copy(&mut out[k * stride + m0..][..cols], d);
        }
    }
}

/// The inverse of [`store_tiles`]: loads `mem[k·stride + m]` into lane k of wire w of tile t
/// (m = t·n + w) for k < `lanes`, and zeros into the lanes past `lanes`.
#[inline(always)]
pub(crate) fn load_tiles<F: Real, X: Transpose<F>, const R: usize>(
    pv: &mut [[[F; LANES]; R]],
    tiles: usize,
    mem: &[F],
    (n, stride, lanes): (usize, usize, usize),
    tr: X,
) {
    let len = tiles * n;
    // rows past `lanes` stay zero: they become the zero lanes
    let (mut src, mut dst) = ([[F::zero(); LANES]; LANES], [[F::zero(); LANES]; LANES]);
    let (mut w, mut t) = (0, 0);
    for m0 in (0..len).step_by(LANES) {
        let cols = LANES.min(len - m0);
        // columns past `cols` keep stale values: they land in rows that are not loaded
        for (k, s) in src[..lanes].iter_mut().enumerate() {
            copy(&mut s[..cols], &mem[k * stride + m0..][..cols]);
        }
        if let Some(block) = one_tile_block_mut(pv, m0, cols) {
            tr.transpose(&src, block);
            w += LANES;
            continue;
        }
        tr.transpose(&src, &mut dst);
        for d in &dst[..cols] {
            pv[w][t] = *d;
            (w, t) = if w + 1 == n { (0, t + 1) } else { (w + 1, t) };
        }
    }
}

/// With one tile (R = 1), where wire w is element w, wires `m0..m0 + LANES` of `pv` as one
/// block in place, so that the transposes of [`store_tiles`] and [`load_tiles`] read or write
/// them without a copy; `None` for several tiles or a partial block (`cols` < [`LANES`]).
#[inline(always)]
fn one_tile_block<F, const R: usize>(
    pv: &[[[F; LANES]; R]],
    m0: usize,
    cols: usize,
) -> Option<&[[F; LANES]; LANES]> {
    if R != 1 || cols != LANES {
        return None;
    }
    pv.get(m0..m0 + LANES)?.as_flattened().try_into().ok()
}

/// [`one_tile_block`], mutable.
#[inline(always)]
fn one_tile_block_mut<F, const R: usize>(
    pv: &mut [[[F; LANES]; R]],
    m0: usize,
    cols: usize,
) -> Option<&mut [[F; LANES]; LANES]> {
    if R != 1 || cols != LANES {
        return None;
    }
    pv.get_mut(m0..m0 + LANES)?
        .as_flattened_mut()
        .try_into()
        .ok()
}

/// `dst.copy_from_slice(&src[..dst.len()])`, one vector move for a whole block of [`LANES`].
#[inline(always)]
fn copy<F: Copy>(dst: &mut [F], src: &[F]) {
    match <&mut [F; LANES]>::try_from(&mut *dst) {
        Ok(d) => *d = *<&[F; LANES]>::try_from(&src[..LANES]).expect("LANES values"),
        Err(_) => dst.copy_from_slice(&src[..dst.len()]),
    }
}
