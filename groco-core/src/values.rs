//! The values pass (x through the relaxed comparators, recording α, dα/dd and x_a − x_b per
//! comparator) and its transpose, for one row or for W rows side by side in lanes; plus `mix`,
//! which pushes vectors through the comparators with α held fixed.
//!
//! Comparator c maps (x_a, x_b) to min = α x_a + (1−α) x_b, max = (1−α) x_a + α x_b with
//! α = f(x_b − x_a). Its transpose with gradients g_min, g_max and an extra dL/dα term e is
//! g_a = α g_min + (1−α) g_max − t, g_b = (1−α) g_min + α g_max + t,
//! t = ((g_min − g_max)(x_a − x_b) + e)·dα/dd.

use crate::network::Topology;
use crate::real::{is_low_precision, Real};
use crate::relaxation::Relax;

/// What the values pass records per comparator slot.
pub(crate) trait Tape<F> {
    /// Whether slopes are needed.
    const SLOPE: bool;
    /// Records slot `slot`.
    fn record(&mut self, slot: usize, alpha: F, slope: F, diff: F);
}

/// Records nothing (`try_sort_values`).
pub(crate) struct NoTape;
impl<F> Tape<F> for NoTape {
    const SLOPE: bool = false;
    #[inline(always)]
    fn record(&mut self, _: usize, _: F, _: F, _: F) {}
}

/// Records α only (forward passes).
pub(crate) struct AlphaTape<'a, F>(pub &'a mut [F]);
impl<F> Tape<F> for AlphaTape<'_, F> {
    const SLOPE: bool = false;
    #[inline(always)]
    fn record(&mut self, slot: usize, alpha: F, _: F, _: F) {
        self.0[slot] = alpha;
    }
}

/// Records α, dα/dd and x_a − x_b (backward passes).
pub(crate) struct FullTape<'a, F> {
    pub(crate) alpha: &'a mut [F],
    pub(crate) slope: &'a mut [F],
    pub(crate) diff: &'a mut [F],
}
impl<F> Tape<F> for FullTape<'_, F> {
    const SLOPE: bool = true;
    #[inline(always)]
    fn record(&mut self, slot: usize, alpha: F, slope: F, diff: F) {
        self.alpha[slot] = alpha;
        self.slope[slot] = slope;
        self.diff[slot] = diff;
    }
}

/// Runs the comparators on `x` in place (it ends sorted), recording into `tape`.
///
/// In f32 and narrower a layer's comparators, which touch disjoint wires, are taken `BATCH` at
/// a time: their α together (so that the relaxation's polynomials vectorise), then their
/// mixes, each with the same inputs and arithmetic as one at a time. Wider floats call libm
/// one comparator at a time, where the batch's copies would only add work.
#[inline(always)]
pub(crate) fn forward<F: Real, R: Relax<F>, T: Tape<F>>(
    topo: &Topology,
    relax: &R,
    x: &mut [F],
    tape: &mut T,
) {
    if !is_low_precision::<F>() {
        for layer in topo.layers() {
            layer.for_each(
                layer.full_range(),
                #[inline(always)]
                |slot, a, b, flip| {
                    let (xa, xb) = (x[a], x[b]);
                    let (alpha, slope) = alpha_slope(relax, xb - xa, T::SLOPE);
                    mix_one(x, if flip { (b, a) } else { (a, b) }, xa, xb, alpha);
                    tape.record(slot, alpha, slope, xa - xb);
                },
            );
        }
        return;
    }
    let mut q = Pending::new();
    for layer in topo.layers() {
        layer.for_each(
            layer.full_range(),
            #[inline(always)]
            |slot, a, b, flip| {
                q.push(slot, a, b, flip, x);
                if q.len == BATCH {
                    q.flush(relax, x, tape);
                }
            },
        );
        q.flush(relax, x, tape);
    }
}

/// Comparators per batch of the values pass (see [`forward`]).
const BATCH: usize = 32;

/// Comparators of one layer waiting for their α: slot, output wires (min, max) and inputs.
struct Pending<F> {
    len: usize,
    slot: [usize; BATCH],
    out: [(usize, usize); BATCH],
    xa: [F; BATCH],
    xb: [F; BATCH],
}

impl<F: Real> Pending<F> {
    #[inline(always)]
    fn new() -> Self {
        Pending {
            len: 0,
            slot: [0; BATCH],
            out: [(0, 0); BATCH],
            xa: [F::zero(); BATCH],
            xb: [F::zero(); BATCH],
        }
    }

    #[inline(always)]
    fn push(&mut self, slot: usize, a: usize, b: usize, flip: bool, x: &[F]) {
        let k = self.len;
        self.slot[k] = slot;
        self.out[k] = if flip { (b, a) } else { (a, b) };
        (self.xa[k], self.xb[k]) = (x[a], x[b]);
        self.len = k + 1;
    }

    /// α (and the slope) of all `BATCH` entries (stale ones are finite and unused), then the
    /// mixes and records of the first `len`.
    #[inline(always)]
    fn flush<R: Relax<F>, T: Tape<F>>(&mut self, relax: &R, x: &mut [F], tape: &mut T) {
        let (mut al, mut sl) = ([F::zero(); BATCH], [F::zero(); BATCH]);
        for k in 0..BATCH {
            let d = self.xb[k] - self.xa[k];
            (al[k], sl[k]) = alpha_slope(relax, d, T::SLOPE);
        }
        for k in 0..self.len {
            let (xa, xb, alpha) = (self.xa[k], self.xb[k], al[k]);
            mix_one(x, self.out[k], xa, xb, alpha);
            tape.record(self.slot[k], alpha, sl[k], xa - xb);
        }
        self.len = 0;
    }
}

/// α(d) and, when `slope`, dα/dd (else zero, and the slope is not computed).
#[inline(always)]
fn alpha_slope<F: Real, R: Relax<F>>(relax: &R, d: F, slope: bool) -> (F, F) {
    if slope {
        relax.value_and_slope(d)
    } else {
        (relax.value(d), F::zero())
    }
}

/// One comparator's mix of (x_a, x_b) into the output wires (min, max) = `out`.
#[inline(always)]
fn mix_one<F: Real>(x: &mut [F], out: (usize, usize), xa: F, xb: F, alpha: F) {
    let beta = F::one() - alpha;
    x[out.0] = alpha * xa + beta * xb;
    x[out.1] = beta * xa + alpha * xb;
}

/// The transpose of [`forward`]: turns `g` (dL/dsorted) into dL/dx in place, adding
/// `extra(slot)` to each comparator's dL/dα.
#[inline(always)]
pub(crate) fn backward<F: Real>(
    topo: &Topology,
    alpha: &[F],
    slope: &[F],
    diff: &[F],
    g: &mut [F],
    mut extra: impl FnMut(usize) -> F,
) {
    for layer in topo.layers().rev() {
        layer.for_each(
            layer.full_range(),
            #[inline(always)]
            |slot, a, b, flip| {
                let (oa, ob) = if flip { (b, a) } else { (a, b) };
                let (gmn, gmx) = (g[oa], g[ob]);
                let (al, be) = (alpha[slot], F::one() - alpha[slot]);
                let t = ((gmn - gmx) * diff[slot] + extra(slot)) * slope[slot];
                g[a] = al * gmn + be * gmx - t;
                g[b] = be * gmn + al * gmx + t;
            },
        );
    }
}

/// [`forward`] for W rows in lanes: `x[w][k]` is wire w of row k. Records α always and, when
/// `full`, dα/dd and x_a − x_b.
#[inline(always)]
pub(crate) fn forward_lanes<F: Real, R: Relax<F>, const W: usize, const FULL: bool>(
    topo: &Topology,
    relax: &R,
    x: &mut [[F; W]],
    alpha: &mut [[F; W]],
    slope: &mut [[F; W]],
    diff: &mut [[F; W]],
) {
    for layer in topo.layers() {
        layer.for_each(
            layer.full_range(),
            #[inline(always)]
            |slot, a, b, flip| {
                let (xa, xb) = (x[a], x[b]);
                let (mut al, mut sl, mut mn, mut mx) = ([F::zero(); W], [F::zero(); W], xa, xb);
                for k in 0..W {
                    let d = xb[k] - xa[k];
                    let (av, sv) = alpha_slope(relax, d, FULL);
                    let be = F::one() - av;
                    al[k] = av;
                    sl[k] = sv;
                    mn[k] = av * xa[k] + be * xb[k];
                    mx[k] = be * xa[k] + av * xb[k];
                }
                let (oa, ob) = if flip { (b, a) } else { (a, b) };
                x[oa] = mn;
                x[ob] = mx;
                alpha[slot] = al;
                if FULL {
                    slope[slot] = sl;
                    let mut dd = [F::zero(); W];
                    for k in 0..W {
                        dd[k] = xa[k] - xb[k];
                    }
                    diff[slot] = dd;
                }
            },
        );
    }
}

/// [`backward`] for W rows in lanes; `extra[slot]` holds each lane's dL/dα from P.
#[inline(always)]
pub(crate) fn backward_lanes<F: Real, const W: usize>(
    topo: &Topology,
    alpha: &[[F; W]],
    slope: &[[F; W]],
    diff: &[[F; W]],
    extra: &[[F; W]],
    g: &mut [[F; W]],
) {
    for layer in topo.layers().rev() {
        layer.for_each(
            layer.full_range(),
            #[inline(always)]
            |slot, a, b, flip| {
                let (oa, ob) = if flip { (b, a) } else { (a, b) };
                let (gmn, gmx) = (g[oa], g[ob]);
                let (al, sl, df, ex) = (alpha[slot], slope[slot], diff[slot], extra[slot]);
                let (mut ga, mut gb) = (gmn, gmx);
                for k in 0..W {
                    let be = F::one() - al[k];
                    let t = ((gmn[k] - gmx[k]) * df[k] + ex[k]) * sl[k];
                    ga[k] = al[k] * gmn[k] + be * gmx[k] - t;
                    gb[k] = be * gmn[k] + al[k] * gmx[k] + t;
                }
                g[a] = ga;
                g[b] = gb;
            },
        );
    }
}

/// Pushes Q vectors `v[w][q]` through the comparators with α fixed, layers in order
/// (`REVERSE = false`) or in reverse. Before mixing comparator `slot` it calls
/// `visit(slot, sign, v_a − v_b)` with sign = −1 for flipped comparators, so that
/// sign·(v_a − v_b)·(u_a − u_b) is h^T (dM/dα) u for the comparator's mixing matrix M.
///
/// Each comparator's mixing matrix is symmetric, so with P = M_1 ⋯ M_C (the order the layers
/// apply), `REVERSE` computes P·v and the forward order computes Pᵀ·v.
#[inline(always)]
pub(crate) fn mix<F: Real, const Q: usize, const REVERSE: bool>(
    topo: &Topology,
    alpha: &[F],
    v: &mut [[F; Q]],
    mut visit: impl FnMut(usize, F, [F; Q]),
) {
    let mut layers = topo.layers();
    while let Some(layer) = if REVERSE {
        layers.next_back()
    } else {
        layers.next()
    } {
        layer.for_each(
            layer.full_range(),
            #[inline(always)]
            |slot, a, b, flip| {
                let (va, vb) = (v[a], v[b]);
                let (al, be) = (alpha[slot], F::one() - alpha[slot]);
                let (mut mn, mut mx, mut d) = (va, vb, va);
                for q in 0..Q {
                    d[q] = va[q] - vb[q];
                    mn[q] = al * va[q] + be * vb[q];
                    mx[q] = be * va[q] + al * vb[q];
                }
                visit(slot, if flip { -F::one() } else { F::one() }, d);
                let (oa, ob) = if flip { (b, a) } else { (a, b) };
                v[oa] = mn;
                v[ob] = mx;
            },
        );
    }
}

/// [`mix`] for W rows in lanes, each with its own α: `v[w][q][k]` is component q of wire w in
/// row k, and `visit(slot, sign, v_a − v_b)` sees all lanes at once.
#[inline(always)]
pub(crate) fn mix_lanes<F: Real, const W: usize, const Q: usize, const REVERSE: bool>(
    topo: &Topology,
    alpha: &[[F; W]],
    v: &mut [[[F; W]; Q]],
    mut visit: impl FnMut(usize, F, &[[F; W]; Q]),
) {
    let mut layers = topo.layers();
    while let Some(layer) = if REVERSE {
        layers.next_back()
    } else {
        layers.next()
    } {
        layer.for_each(
            layer.full_range(),
            #[inline(always)]
            |slot, a, b, flip| {
                let (va, vb) = (v[a], v[b]);
                let al = alpha[slot];
                let (mut mn, mut mx, mut d) = (va, vb, va);
                for q in 0..Q {
                    for k in 0..W {
                        let be = F::one() - al[k];
                        d[q][k] = va[q][k] - vb[q][k];
                        mn[q][k] = al[k] * va[q][k] + be * vb[q][k];
                        mx[q][k] = be * va[q][k] + al[k] * vb[q][k];
                    }
                }
                visit(slot, if flip { -F::one() } else { F::one() }, &d);
                let (oa, ob) = if flip { (b, a) } else { (a, b) };
                v[oa] = mn;
                v[ob] = mx;
            },
        );
    }
}
