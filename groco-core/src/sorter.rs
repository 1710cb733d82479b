//! [`SortConfig`] and [`Sorter`]: a validated (n, network, relaxation, steepness) with the
//! scratch sizes of every call, and the input checks all `try_` calls share.
//!
//! Scratch is caller-supplied `[F]`, as RustFFT does. With C = `depth·width` comparator slots
//! (odd-even: n·⌊n/2⌋; bitonic and odd-even merge: ½k(k+1)·2^(k−1) with k = ⌈log2 n⌉) and
//! W = [`LANES`]:
//!
//! | call | scratch |
//! |---|---|
//! | `try_sort_values` | 0 |
//! | `try_forward` | C + W·n + A |
//! | `try_backward` | 3C + 1.5W·C + W·n + 3A |
//! | `try_soft_ranks` / `_backward` | C / 4C + n |
//! | batches, lane mode (n ≤ 64, ≥ W/2 rows) | W·(5n + 8C) + 7A |
//!
//! A = 64 bytes in elements (16 for f32): each array of lane vectors starts on a cache line,
//! wherever the caller's scratch starts, so that no vector load or store straddles two lines
//! (at 16 f32 lanes an unaligned array costs about a fifth of the time); each may skip up to A
//! elements. `scratch_len` is the maximum of the single-row rows (the backward's). The backward keeps,
//! per lane, one float per comparator for P's difference p_a − p_b (and W/2 floats per
//! comparator for the running dL/dα): O(W·n·depth) memory instead of the O(n²·depth) of
//! storing P at every layer, paid for by running the P-row recursion forward a second time
//! inside the backward. At bitonic n = 1024 in f32 that is 3.1 MB (776 704 floats).

use crate::network::Topology;
use crate::real::{cst, Real};
use crate::{Error, Network, Relaxation};

/// Lanes processed side by side: P rows of one input (single row) or batch rows (lane mode).
pub const LANES: usize = 16;

/// Lanes of the single-row backward's dL/dα accumulator (lanes k and k + 8 fold together).
pub(crate) const HALF_LANES: usize = LANES / 2;

/// Largest n for which batches run batch rows in lanes.
pub(crate) const LANE_MAX_N: usize = 64;

/// P rows per pass of the lane-batched kernels (each comparator's per-lane α serves them all).
pub(crate) const LANE_TILES: usize = 4;

/// Everything that defines a relaxed sort besides n.
///
/// ```
/// use groco_core::{Network, Relaxation, SortConfig};
/// let c = SortConfig::<f32>::default();
/// assert_eq!((c.network, c.relaxation, c.steepness, c.art_lambda),
///            (Network::OddEven, Relaxation::Cauchy, 1.0, 0.25));
/// let b = SortConfig::new(Network::Bitonic, Relaxation::Optimal, 10.0f64);
/// assert_eq!(b.art_lambda, 0.25);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SortConfig<F> {
    /// The comparator wiring.
    pub network: Network,
    /// The comparator relaxation.
    pub relaxation: Relaxation,
    /// Steepness s, finite and > 0.
    pub steepness: F,
    /// λ of `logistic_phi` (ignored by the others), finite and >= 0.
    pub art_lambda: F,
}

impl<F: Real> SortConfig<F> {
    /// A config with `art_lambda` = 0.25.
    pub fn new(network: Network, relaxation: Relaxation, steepness: F) -> Self {
        SortConfig {
            network,
            relaxation,
            steepness,
            art_lambda: cst(0.25),
        }
    }

    /// Checks steepness and art_lambda; returns the largest |α argument| per unit of
    /// (max − min), for the overflow check of the inputs.
    pub(crate) fn try_scale(&self) -> Result<F, Error> {
        let s = self.steepness;
        if !(s.is_finite() && s > F::zero()) {
            return Err(Error::InvalidSteepness {
                value: s.to_f64().unwrap_or(f64::NAN),
            });
        }
        let lam = self.art_lambda;
        let bad_lambda = || Error::InvalidArtLambda {
            value: lam.to_f64().unwrap_or(f64::NAN),
        };
        if !(lam.is_finite() && lam >= F::zero()) {
            return Err(bad_lambda());
        }
        if self.relaxation == Relaxation::LogisticPhi {
            // d / |d|^λ falls with |d| for λ > 1 (no longer a monotone relaxation), and the tie
            // slope s · 1e10^λ overflows the gradients: only 0 <= λ <= 1 is a relaxation.
            if lam > F::one() {
                return Err(bad_lambda());
            }
            let den_min = cst::<F>(1e-10).powf(lam);
            let scale = s / den_min;
            if !(den_min.is_normal() && scale.is_finite()) {
                return Err(bad_lambda());
            }
            return Ok(scale);
        }
        Ok(s)
    }
}

impl<F: Real> Default for SortConfig<F> {
    /// odd_even, cauchy, steepness 1, art_lambda 0.25 (the GroCo defaults).
    fn default() -> Self {
        SortConfig::new(Network::OddEven, Relaxation::Cauchy, F::one())
    }
}

/// A relaxed sorting network for rows of n values: validated, cheap to construct, no
/// allocation. P follows diffsort: `sorted = x · P`, `P[i][j]` the weight of input i in output j,
/// stored row-major (`perm[i*n + j]`). (The papers write the transpose, sorted = P x.)
///
/// ```
/// use groco_core::{SortConfig, Sorter};
/// let s = Sorter::try_new(3, SortConfig::<f64>::default())?;
/// let x = [2.0, 0.0, 1.0];
/// let (mut sorted, mut perm) = ([0.0; 3], [0.0; 9]);
/// let mut scratch = vec![0.0; s.scratch_len()];
/// s.try_forward(&x, &mut sorted, &mut perm, &mut scratch)?;
/// assert!(sorted[0] < sorted[1] && sorted[1] < sorted[2]);
/// for j in 0..3 {
///     let col: f64 = (0..3).map(|i| x[i] * perm[i * 3 + j]).sum();
///     assert!((col - sorted[j]).abs() < 1e-12);
/// }
/// # Ok::<(), groco_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Sorter<F> {
    pub(crate) config: SortConfig<F>,
    pub(crate) topo: Topology,
    pub(crate) scale: F,
}

impl<F: Real> Sorter<F> {
    /// Validates `n >= 1`, the config, and that every buffer size fits in `usize`.
    pub fn try_new(n: usize, config: SortConfig<F>) -> Result<Self, Error> {
        if n == 0 {
            return Err(Error::EmptyInput);
        }
        let scale = config.try_scale()?;
        let topo = Topology::new(config.network, n).ok_or(Error::TooLarge { n })?;
        let c = topo.slots();
        let fits = n
            .checked_mul(n)
            .and_then(|_| c.checked_mul(2 * LANES + 5))
            .and_then(|v| v.checked_add(2 * LANES * n))
            .is_some();
        if !fits {
            return Err(Error::TooLarge { n });
        }
        Ok(Sorter {
            config,
            topo,
            scale,
        })
    }

    /// Row length n.
    pub fn n(&self) -> usize {
        self.topo.n()
    }

    /// The config it was built with.
    pub fn config(&self) -> &SortConfig<F> {
        &self.config
    }

    /// Number of comparator slots C (= depth · width; see the module table).
    pub fn slots(&self) -> usize {
        self.topo.slots()
    }

    /// Scratch (elements of F) enough for every single-row call: 3C + 1.5W·C + W·n + 3A (the
    /// module docs).
    pub fn scratch_len(&self) -> usize {
        let (n, c) = (self.n(), self.slots());
        3 * c + (LANES + HALF_LANES) * c + LANES * n + align_slack::<F>(3)
    }

    /// Scratch for `try_forward` alone: C + W·n + A.
    pub fn forward_scratch_len(&self) -> usize {
        self.slots() + LANES * self.n() + align_slack::<F>(1)
    }

    /// Scratch for the batch calls on `rows` rows: the single-row size, or W·(5n + 8C) + 7A
    /// when rows run in lanes (n ≤ 64 and rows ≥ W/2: n + 4n wires, and 4C + 4C slots for 4
    /// P rows per pass), whichever is larger.
    pub fn batch_scratch_len(&self, rows: usize) -> usize {
        let single = self.scratch_len();
        if self.lane_rows(rows) {
            let (n, c, t) = (self.n(), self.slots(), LANE_TILES);
            single.max(LANES * ((1 + t) * n + (4 + t) * c) + align_slack::<F>(7))
        } else {
            single
        }
    }

    /// Whether a group of `rows` batch rows runs with one batch row per lane.
    pub(crate) fn lane_rows(&self, rows: usize) -> bool {
        self.n() <= LANE_MAX_N && 2 * rows >= LANES && self.n() > 1
    }

    /// Checks `x` (one row at flat offset `at` of argument `what`): finite, and steepness times
    /// its spread finite.
    pub(crate) fn check_row(&self, what: &'static str, x: &[F], at: usize) -> Result<(), Error> {
        check_finite(what, x, at)?;
        if self.spread_fits(x) {
            Ok(())
        } else {
            Err(Error::Overflow { what })
        }
    }

    /// [`Sorter::check_row`] on each row of n in `x` (a multiple of n long), with the same first
    /// error, in one vectorised pass over the whole of `x` when every row passes: all finite and
    /// the spread of all of `x` fits (the spread of a row is at most that); otherwise row by row.
    #[inline(always)]
    pub(crate) fn check_rows(&self, what: &'static str, x: &[F], at: usize) -> Result<(), Error> {
        if check_finite(what, x, at).is_ok() && self.spread_fits(x) {
            return Ok(());
        }
        let n = self.n();
        for (i, row) in x.chunks_exact(n).enumerate() {
            self.check_row(what, row, at + i * n)?;
        }
        Ok(())
    }

    /// [`Sorter::check_row`]'s spread test on the first `lanes` lanes of the finite rows held
    /// lane-wise in `xs` (value i of lane k at `xs[i][k]`), all lanes at once.
    #[inline(always)]
    pub(crate) fn lanes_fit<const W: usize>(&self, xs: &[[F; W]], lanes: usize) -> bool {
        let (mut lo, mut hi) = (xs[0], xs[0]);
        for x in &xs[1..] {
            lo = core::array::from_fn(|k| lo[k].min(x[k]));
            hi = core::array::from_fn(|k| hi[k].max(x[k]));
        }
        (0..lanes).all(|k| ((hi[k] - lo[k]) * self.scale).is_finite())
    }

    /// Whether steepness times the spread of the finite, non-empty `x` is finite.
    #[inline(always)]
    fn spread_fits(&self, x: &[F]) -> bool {
        let (lo, hi) = min_max(x);
        ((hi - lo) * self.scale).is_finite()
    }
}

/// The least and greatest values of the finite, non-empty `v`, `LANES` at a time (so that it
/// vectorises).
#[inline(always)]
fn min_max<F: Real>(v: &[F]) -> (F, F) {
    let (mut lo, mut hi) = ([v[0]; LANES], [v[0]; LANES]);
    let (chunks, rest) = v.as_chunks::<LANES>();
    for c in chunks {
        lo = core::array::from_fn(|k| lo[k].min(c[k]));
        hi = core::array::from_fn(|k| hi[k].max(c[k]));
    }
    for &x in rest {
        (lo[0], hi[0]) = (lo[0].min(x), hi[0].max(x));
    }
    let lo = lo.iter().fold(lo[0], |m, &x| m.min(x));
    let hi = hi.iter().fold(hi[0], |m, &x| m.max(x));
    (lo, hi)
}

/// `Err(NonFinite)` at the first NaN/±inf of `v` (index reported as `at + i`).
#[inline(always)]
pub(crate) fn check_finite<F: Real>(what: &'static str, v: &[F], at: usize) -> Result<(), Error> {
    // a branch-free test per 64 values (it vectorises, in plain loops that inline into a
    // dispatched caller); the position only in a failing chunk
    const CHUNK: usize = 64;
    #[inline(always)]
    fn all_finite<F: Real>(c: &[F]) -> bool {
        let mut ok = true;
        for x in c {
            ok &= x.is_finite();
        }
        ok
    }
    let c0 = CHUNK
        * v.as_chunks::<CHUNK>()
            .0
            .iter()
            .take_while(|c| all_finite(&c[..]))
            .count();
    // v[c0..] is a failing chunk onwards, or the remainder: at most CHUNK values to search
    match v[c0..].iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            what,
            index: at + c0 + i,
        }),
    }
}

/// `Err(LengthMismatch)` unless `len == expected`.
pub(crate) fn check_len(what: &'static str, len: usize, expected: usize) -> Result<(), Error> {
    if len == expected {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            actual: len,
        })
    }
}

/// `Err(ScratchTooSmall)` unless `len >= needed`.
pub(crate) fn check_scratch(len: usize, needed: usize) -> Result<(), Error> {
    if len >= needed {
        Ok(())
    } else {
        Err(Error::ScratchTooSmall {
            needed,
            actual: len,
        })
    }
}

/// Splits the first `len` elements off `*s`.
pub(crate) fn take<'a, F>(s: &mut &'a mut [F], len: usize) -> &'a mut [F] {
    let (head, tail) = core::mem::take(s).split_at_mut(len);
    *s = tail;
    head
}

/// Bytes each array of lane vectors is aligned to in scratch (see the module docs).
const LANE_ALIGN: usize = 64;

/// Scratch elements that aligning `arrays` arrays of lane vectors may skip: A each.
pub(crate) const fn align_slack<F>(arrays: usize) -> usize {
    arrays * LANE_ALIGN.div_ceil(core::mem::size_of::<F>())
}

/// Splits `len` lanes of W (i.e. `len * W` elements) off `*s`, first skipping what puts their
/// start on a [`LANE_ALIGN`]-byte boundary (at most [`align_slack`]`(1)` elements).
pub(crate) fn take_lanes<'a, F, const W: usize>(
    s: &mut &'a mut [F],
    len: usize,
) -> &'a mut [[F; W]] {
    let skip = s.as_ptr().align_offset(LANE_ALIGN).min(align_slack::<F>(1));
    take(s, skip);
    take(s, len * W).as_chunks_mut::<W>().0
}

#[cfg(test)]
mod tests;
