//! The six comparator relaxations of diffsort, each a small type with α and dα/dd side by side.
//!
//! For a comparator with inputs a, b and d = b − a, v = steepness·d:
//!
//! | name | α(d) |
//! |---|---|
//! | `logistic` | sigmoid(v) |
//! | `logistic_phi` | sigmoid(v / (\|d\| + 1e-10)^λ) |
//! | `gaussian` | ½(1 + erf(v/√2)) |
//! | `reciprocal` | ½(v/(2+\|v\|) + 1) |
//! | `cauchy` | atan(v)/π + ½ |
//! | `optimal` | clamp(v, −¼, ¼) + ½ + sign₀(v)(¼ − 1/(16(\|v\| + 1e-10))) |
//!
//! sign₀ is +1 for v > ¼, −1 for v < −¼, else 0. At kinks the slopes are PyTorch autograd's
//! subgradients: d|d|/dd = 0 at 0, and clamp passes the gradient at its bounds. Each formula
//! keeps diffsort's order of operations (e.g. gaussian divides by σ = 1/steepness).
//!
//! # Precision
//!
//! All six stay finite for any finite d with steepness·(max − min) finite (the `try_` calls
//! refuse the rest with [`Error::Overflow`]); `tests/numerics.rs` sweeps |x| up to 1e30 and
//! steepness up to 1e4 in f32 and f64. Where precision is lost (figures measured there):
//!
//! - **1 − α.** Every comparator mixes with α and 1 − α, the latter formed by subtraction (as
//!   diffsort does), so it is accurate to ~ε in absolute terms only (ε = 6e-8 in f32, 1e-16 in
//!   f64): entries of P, and the GroCo row loss's q and r, below ~ε are rounding noise. The
//!   GroCo loss takes ln q, and PyTorch's BCE slope divides by q(1 − q), so its gradient
//!   amplifies that noise by 1/μ, μ = min q(1 − q). f32 gradients agree with f64 to
//!   e ≤ 2e-4 + 2.4e-7/μ (e = max|g32 − g64| / max|g64| per row; 5e-2 + 2.4e-7/μ for
//!   `logistic_phi`, below) over 10 000 random rows with μ ≥ 1e-6; below that the loss is
//!   saturated in f32 (worst e measured: 4.4e4).
//! - **`logistic_phi` near ties.** Its slope is ¼·s/(1e-10)^λ at a tie (790 569 at s = 1e4,
//!   λ = ¼; finite, and f32 matches f64 there to 3.2e-6 through the sorter), but falls as
//!   ≈ (1 − λ)·s·|d|^−λ / 4 once |d| ≫ 1e-10: a cusp 1e-10 wide. In f32, d resolves only to
//!   ulp(x) ≈ 1.2e-7·|x|, where the slope is already 7.5× smaller than at the tie (79.06 vs
//!   10.55 at s = 1), so whenever a comparator sees inputs within ~1e-5 (relative) of each
//!   other, rounding picks a point on the cusp, and the error compounds over the layers: f32
//!   gradients then differ from f64 by up to 6.4× (s = 1), 13× (s = 100), 25× (s = 1e4) the
//!   largest gradient (measured on rows of 4 levels 1 + jδ, δ ∈ [1.2e-7, 1e-5], every
//!   network, n ≤ 32). Use f64, or a monotonic relaxation, where near ties matter. At large
//!   steepness the same happens for rows
//!   with repeated values even at δ = 0.1 (2.5× at s = 100): α rounds to exactly 1 in f32 and
//!   the mixed values then tie exactly, where f64 sees a 1e-9 gap. The relaxation alone, with
//!   d given exactly, is f32-accurate (|Δα| ≤ 6.6e-8; slope to 3.7e-6 relative where
//!   α ≤ 0.99, the rest being 1 − α's rounding).

use core::fmt;
use core::str::FromStr;

use crate::real::{abs, atan, cst, erf, sign0, Real};
use crate::Error;

/// Which relaxation a comparator uses (diffsort's `distribution` names).
///
/// ```
/// use groco_core::Relaxation;
/// let r: Relaxation = "logistic_phi".parse().unwrap();
/// assert_eq!(r, Relaxation::LogisticPhi);
/// assert_eq!(Relaxation::Cauchy.to_string(), "cauchy");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Relaxation {
    /// sigmoid(v).
    Logistic,
    /// sigmoid(v / (|d| + 1e-10)^art_lambda) (ART, Petersen et al. 2021).
    LogisticPhi,
    /// The normal CDF of v.
    Gaussian,
    /// ½(v/(2+|v|) + 1); monotonic.
    Reciprocal,
    /// atan(v)/π + ½; monotonic.
    #[default]
    Cauchy,
    /// The error-optimal sigmoid of Petersen et al. 2022; monotonic.
    Optimal,
}

impl Relaxation {
    /// All relaxations, in declaration order.
    pub const ALL: [Relaxation; 6] = [
        Relaxation::Logistic,
        Relaxation::LogisticPhi,
        Relaxation::Gaussian,
        Relaxation::Reciprocal,
        Relaxation::Cauchy,
        Relaxation::Optimal,
    ];

    /// diffsort's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Relaxation::Logistic => "logistic",
            Relaxation::LogisticPhi => "logistic_phi",
            Relaxation::Gaussian => "gaussian",
            Relaxation::Reciprocal => "reciprocal",
            Relaxation::Cauchy => "cauchy",
            Relaxation::Optimal => "optimal",
        }
    }
}

impl fmt::Display for Relaxation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Relaxation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Relaxation::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| Error::unknown_name("relaxation", s))
    }
}

/// A relaxed comparator weight α(d), d = x_b − x_a, with its slope.
///
/// ```
/// use groco_core::relaxation::{Cauchy, Relax};
/// let c = Cauchy::new(2.0f64);
/// let (alpha, slope) = c.value_and_slope(0.0);
/// assert_eq!(alpha, 0.5);
/// assert!((slope - 2.0 / core::f64::consts::PI).abs() < 1e-15);
/// assert_eq!(c.value(0.25), alpha_of(0.25));
/// # fn alpha_of(d: f64) -> f64 { (2.0 * d).atan() / core::f64::consts::PI + 0.5 }
/// ```
pub trait Relax<F: Real>: Copy {
    /// α(d).
    fn value(&self, d: F) -> F;
    /// (α(d), dα/dd).
    fn value_and_slope(&self, d: F) -> (F, F);
}

macro_rules! relaxation_type {
    ($(#[$m:meta])* $name:ident { $($field:ident),* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $name<F> {
            $(#[doc = concat!("The `", stringify!($field), "` parameter.")] pub $field: F,)*
        }
    };
}

relaxation_type!(
    /// `logistic`: α = sigmoid(d·s), dα/dd = α(1−α)s.
    Logistic { steepness }
);
relaxation_type!(
    /// `logistic_phi`: α = sigmoid(d·s / (|d| + 1e-10)^λ).
    ///
    /// At an exact tie (d = 0) α = ½ and dα/dd = ¼·s/(1e-10)^λ, finite (790 569 at s = 1e4,
    /// λ = ¼). Near ties the slope has a cusp 1e-10 wide, far below f32's resolution of d, so
    /// f32 gradients there can differ from f64 by up to ~25× the largest gradient: see the
    /// [module docs](self#precision).
    LogisticPhi { steepness, lambda }
);
relaxation_type!(
    /// `gaussian`: α = ½ + ½erf(d/σ/√2) with σ = 1/s; dα/dd = (1/σ)/√(2π)·exp(−½(d/σ)²).
    Gaussian { sigma }
);
relaxation_type!(
    /// `reciprocal`: α = ½(v/(2+|v|) + 1), dα/dd = s/(2+|v|)².
    Reciprocal { steepness }
);
relaxation_type!(
    /// `cauchy`: α = (1/π)atan(v) + ½, dα/dd = (s/π)/(1+v²).
    Cauchy { steepness }
);
relaxation_type!(
    /// `optimal`: α = clamp(v,−¼,¼) + ½ + sign₀(v)(¼ − (1/16)/(|v|+1e-10)).
    Optimal { steepness }
);

impl<F: Real> Logistic<F> {
    /// With steepness s.
    pub fn new(steepness: F) -> Self {
        Logistic { steepness }
    }
}
impl<F: Real> LogisticPhi<F> {
    /// With steepness s and exponent λ (`art_lambda`).
    pub fn new(steepness: F, lambda: F) -> Self {
        LogisticPhi { steepness, lambda }
    }
}
impl<F: Real> Gaussian<F> {
    /// With steepness s (σ = 1/s, as diffsort).
    pub fn new(steepness: F) -> Self {
        Gaussian {
            sigma: F::one() / steepness,
        }
    }
}
impl<F: Real> Reciprocal<F> {
    /// With steepness s.
    pub fn new(steepness: F) -> Self {
        Reciprocal { steepness }
    }
}
impl<F: Real> Cauchy<F> {
    /// With steepness s.
    pub fn new(steepness: F) -> Self {
        Cauchy { steepness }
    }
}
impl<F: Real> Optimal<F> {
    /// With steepness s.
    pub fn new(steepness: F) -> Self {
        Optimal { steepness }
    }
}

#[inline(always)]
fn sigmoid<F: Real>(z: F) -> F {
    F::one() / (F::one() + (-z).exp())
}

impl<F: Real> Relax<F> for Logistic<F> {
    #[inline(always)]
    fn value(&self, d: F) -> F {
        sigmoid(d * self.steepness)
    }
    #[inline(always)]
    fn value_and_slope(&self, d: F) -> (F, F) {
        let a = self.value(d);
        (a, (F::one() - a) * a * self.steepness)
    }
}

impl<F: Real> Relax<F> for LogisticPhi<F> {
    #[inline(always)]
    fn value(&self, d: F) -> F {
        let den = (abs(d) + cst(1e-10)).powf(self.lambda);
        sigmoid(d * self.steepness / den)
    }
    #[inline(always)]
    fn value_and_slope(&self, d: F) -> (F, F) {
        let q = abs(d) + cst(1e-10);
        let den = q.powf(self.lambda);
        let num = d * self.steepness;
        let a = sigmoid(num / den);
        // z = num/den; dz/dd = s/den − num/den²·λq^(λ−1)·sign(d) (sign(0) = 0).
        let dden = self.lambda * q.powf(self.lambda - F::one()) * sign0(d);
        let dz = self.steepness / den - num / (den * den) * dden;
        (a, (F::one() - a) * a * dz)
    }
}

impl<F: Real> Relax<F> for Gaussian<F> {
    #[inline(always)]
    fn value(&self, d: F) -> F {
        let half = cst::<F>(0.5);
        half + half * erf(d / self.sigma / F::SQRT_2())
    }
    #[inline(always)]
    fn value_and_slope(&self, d: F) -> (F, F) {
        let z = d / self.sigma;
        let slope = F::one() / self.sigma / (F::TAU()).sqrt() * (cst::<F>(-0.5) * z * z).exp();
        (self.value(d), slope)
    }
}

impl<F: Real> Relax<F> for Reciprocal<F> {
    #[inline(always)]
    fn value(&self, d: F) -> F {
        let v = self.steepness * d;
        cst::<F>(0.5) * (v / (cst::<F>(2.0) + abs(v)) + F::one())
    }
    #[inline(always)]
    fn value_and_slope(&self, d: F) -> (F, F) {
        let v = self.steepness * d;
        let t = cst::<F>(2.0) + abs(v);
        (cst::<F>(0.5) * (v / t + F::one()), self.steepness / (t * t))
    }
}

impl<F: Real> Relax<F> for Cauchy<F> {
    #[inline(always)]
    fn value(&self, d: F) -> F {
        F::FRAC_1_PI() * atan(self.steepness * d) + cst(0.5)
    }
    #[inline(always)]
    fn value_and_slope(&self, d: F) -> (F, F) {
        let v = self.steepness * d;
        (
            F::FRAC_1_PI() * atan(v) + cst(0.5),
            self.steepness * F::FRAC_1_PI() / (F::one() + v * v),
        )
    }
}

impl<F: Real> Relax<F> for Optimal<F> {
    #[inline(always)]
    fn value(&self, d: F) -> F {
        self.value_and_slope(d).0
    }
    #[inline(always)]
    fn value_and_slope(&self, d: F) -> (F, F) {
        let quarter = cst::<F>(0.25);
        let v = self.steepness * d;
        let clamped = if v < -quarter {
            -quarter
        } else if v > quarter {
            quarter
        } else {
            v
        };
        let sgn = if v > quarter {
            F::one()
        } else if v < -quarter {
            -F::one()
        } else {
            F::zero()
        };
        // The tail term is evaluated only where sign₀ ≠ 0 (|v| > ¼): elsewhere it is exactly
        // zero, and in floats where 1e-10 underflows (f16) 0·(¼ − 1/16/0) would be NaN.
        let q = abs(v) + cst(1e-10);
        let (tail_value, tail_slope) = if sgn == F::zero() {
            (F::zero(), F::zero())
        } else {
            // slope of the tail: sign₀(v)·sign(v)/(16 q²)
            let t = quarter - cst::<F>(0.0625) / q;
            (sgn * t, sgn * sign0(v) * cst::<F>(0.0625) / (q * q))
        };
        let a = clamped + cst(0.5) + tail_value;
        // clamp passes the gradient on [−¼, ¼] (bounds included)
        let inside = if v >= -quarter && v <= quarter {
            F::one()
        } else {
            F::zero()
        };
        let tail = tail_slope;
        (a, (inside + tail) * self.steepness)
    }
}

/// Calls `$body` with `$r` bound to the relaxation type `$cfg.relaxation` names, built from
/// `$cfg`'s steepness and art_lambda (monomorphising `$body` per relaxation).
macro_rules! with_relaxation {
    ($cfg:expr, $r:ident => $body:expr) => {{
        use $crate::relaxation as rx;
        let cfg = &$cfg;
        match cfg.relaxation {
            $crate::Relaxation::Logistic => {
                let $r = rx::Logistic::new(cfg.steepness);
                $body
            }
            $crate::Relaxation::LogisticPhi => {
                let $r = rx::LogisticPhi::new(cfg.steepness, cfg.art_lambda);
                $body
            }
            $crate::Relaxation::Gaussian => {
                let $r = rx::Gaussian::new(cfg.steepness);
                $body
            }
            $crate::Relaxation::Reciprocal => {
                let $r = rx::Reciprocal::new(cfg.steepness);
                $body
            }
            $crate::Relaxation::Cauchy => {
                let $r = rx::Cauchy::new(cfg.steepness);
                $body
            }
            $crate::Relaxation::Optimal => {
                let $r = rx::Optimal::new(cfg.steepness);
                $body
            }
        }
    }};
}
pub(crate) use with_relaxation;

#[cfg(test)]
mod tests;
