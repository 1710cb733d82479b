//! Test support: a seeded RNG (seed from `GROCO_SEED`), and a dense, straightforward reference
//! of the relaxed sort (P as a full matrix updated comparator by comparator, as diffsort's
//! matrix formulation does) that the fast kernels are checked against.

use crate::relaxation::{with_relaxation, Relax};
use crate::{Real, SortConfig};

/// The test seed: `GROCO_SEED` if set, else a fixed default.
pub(crate) fn seed() -> u64 {
    std::env::var("GROCO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2023)
}

/// splitmix64.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn new(salt: u64) -> Self {
        Rng(seed() ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
    pub(crate) fn vec<F: Real>(&mut self, len: usize, scale: f64) -> Vec<F> {
        (0..len)
            .map(|_| F::from(self.normal() * scale).unwrap())
            .collect()
    }
}

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

/// Instantiates a generic test body `fn $name<F: Real>(tol: f64)` for f32 and f64.
macro_rules! for_f32_f64 {
    ($name:ident, $tol32:expr, $tol64:expr) => {
        mod $name {
            #[test]
            fn f32() {
                super::$name::<f32>($tol32);
            }
            #[test]
            fn f64() {
                super::$name::<f64>($tol64);
            }
        }
    };
}
pub(crate) use for_f32_f64;

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
