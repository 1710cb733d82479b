//! Test support: a seeded RNG (seed from `GROCO_SEED`), and a dense, straightforward reference
//! of the relaxed sort (P as a full matrix updated comparator by comparator, as diffsort's
//! matrix formulation does) that the fast kernels are checked against.

use crate::relaxation::{with_relaxation, Relax};
use crate::{Real, SortConfig};

// The seed, the splitmix64 RNG and `for_f32_f64!` come from the shared test kit.
pub(crate) use groco_testkit::{for_f32_f64, seed, Rng};

/// Dense reference forward: (sorted, P row-major).
pub(crate) fn naive_forward<F: Real>(cfg: &SortConfig<F>, x: &[F]) -> (Vec<F>, Vec<F>) {
    with_relaxation!(cfg, r => naive_with(cfg, &r, x))
}

fn naive_with<F: Real, R: Relax<F>>(cfg: &SortConfig<F>, r: &R, x: &[F]) -> (Vec<F>, Vec<F>) {
    let n = x.len();
    let mut v = x.to_vec();
    let mut p = vec![F::zero(); n * n];
    for i in 0..n {
        p[i * n + i] = F::one();
    }
    cfg.network.for_each_comparator(n, |_, c| {
        let alpha = r.value(v[c.b] - v[c.a]);
        let beta = F::one() - alpha;
        let (mn, mx) = (
            alpha * v[c.a] + beta * v[c.b],
            beta * v[c.a] + alpha * v[c.b],
        );
        v[c.min_wire()] = mn;
        v[c.max_wire()] = mx;
        for i in 0..n {
            let (pa, pb) = (p[i * n + c.a], p[i * n + c.b]);
            p[i * n + c.min_wire()] = alpha * pa + beta * pb;
            p[i * n + c.max_wire()] = beta * pa + alpha * pb;
        }
    });
    (v, p)
}

/// max |a − b| / (1 + |b|) over the elements.
pub(crate) fn max_rel<F: Real>(a: &[F], b: &[F]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let (x, y) = (x.to_f64().unwrap(), y.to_f64().unwrap());
            (x - y).abs() / (1.0 + y.abs())
        })
        .fold(0.0, f64::max)
}

/// Central finite differences of `f` in coordinate `i` at steps 1e-5 ... 1e-8 (times
/// 1 + |x_i|): returns the one closest to `analytic` and whether it is within
/// `rel·(1 + |fd|)`. Several steps, because truncation error dominates large steps near the
/// steep spots of logistic_phi and gaussian tails, and rounding dominates small ones.
pub(crate) fn fd_check(
    f: impl Fn(&[f64]) -> f64,
    x: &[f64],
    i: usize,
    analytic: f64,
    rel: f64,
) -> (bool, f64) {
    let mut best = f64::NAN;
    for step in [1e-5, 1e-6, 1e-7, 1e-8] {
        let h = step * (1.0 + x[i].abs());
        let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
        xp[i] += h;
        xm[i] -= h;
        let fd = (f(&xp) - f(&xm)) / (2.0 * h);
        if best.is_nan() || (fd - analytic).abs() < (best - analytic).abs() {
            best = fd;
        }
    }
    ((best - analytic).abs() <= rel * (1.0 + best.abs()), best)
}

/// Runs `run` on a NaN-filled scratch of exactly `len` values at each of 16 start offsets (so
/// every alignment of an f32 slice against a 64-byte line) and asserts that each offset gives
/// the result of a run on a fresh buffer of exactly `len`. `what` names the case in the failure
/// message.
pub(crate) fn same_at_each_offset<T: PartialEq + core::fmt::Debug>(
    what: &str,
    len: usize,
    mut run: impl FnMut(&mut [f32]) -> T,
) {
    let mut buf = vec![f32::NAN; len + 16];
    let mut first = None;
    for off in 0..16 {
        let got = run(&mut buf[off..off + len]);
        let want = first.get_or_insert_with(|| run(&mut vec![f32::NAN; len]));
        assert_eq!(*want, got, "{what}: offset {off} (GROCO_SEED={})", seed());
    }
}
