//! The crate's single float bound, [`Real`], and the special functions the relaxations need:
//! `atan` (a branch-free A&S 4.4.49 polynomial where the float is f32-or-coarser, libm otherwise)
//! and `erf` (libm, evaluated in f64).

use core::fmt::Debug;
use num_traits::{Float, FloatConst};

/// The float bound of the crate: any [`num_traits::Float`] with the constants of
/// [`num_traits::FloatConst`]. It has a blanket impl, so `f32` and `f64` (and `half`'s types,
/// with the `half` feature) are `Real` as they are.
///
/// ```
/// fn mean<F: groco_core::Real>(v: &[F]) -> F {
///     v.iter().fold(F::zero(), |s, &x| s + x) / F::from(v.len()).unwrap()
/// }
/// assert_eq!(mean(&[1.0f32, 2.0, 3.0]), 2.0);
/// ```
pub trait Real: Float + FloatConst + Debug + Default + Send + Sync + 'static {}

impl<T> Real for T where T: Float + FloatConst + Debug + Default + Send + Sync + 'static {}

/// `v` converted to `F` (every `Float` converts from any finite f64; NaN only if it cannot).
#[inline(always)]
pub(crate) fn cst<F: Real>(v: f64) -> F {
    F::from(v).unwrap_or_else(F::nan)
}

/// `usize` converted to `F` (may round for huge values in narrow floats).
#[inline(always)]
pub(crate) fn from_usize<F: Real>(v: usize) -> F {
    F::from(v).unwrap_or_else(F::nan)
}

/// True where `F` carries no more precision than f32, so the polynomial atan (|error| <= 2e-8)
/// is as exact as the type. Constant after monomorphisation.
#[inline(always)]
pub(crate) fn is_low_precision<F: Real>() -> bool {
    F::epsilon() >= cst(1e-7)
}

/// |x| by comparison (vectorises; `Float::abs` may be a libm call without std).
#[inline(always)]
pub(crate) fn abs<F: Real>(x: F) -> F {
    if x < F::zero() {
        -x
    } else {
        x
    }
}

/// sign(x) with sign(0) = 0, as PyTorch's `abs` backward uses.
#[inline(always)]
pub(crate) fn sign0<F: Real>(x: F) -> F {
    if x > F::zero() {
        F::one()
    } else if x < F::zero() {
        -F::one()
    } else {
        F::zero()
    }
}

/// atan(x). For f32-or-coarser floats a branch-free polynomial (Abramowitz & Stegun 4.4.49 on
/// [0, 1], |error| <= 2e-8, with the reduction atan x = pi/2 - atan(1/x) above 1) that
/// auto-vectorises; for wider floats `Float::atan` (libm), exact to the last bit or two.
#[inline(always)]
pub(crate) fn atan<F: Real>(x: F) -> F {
    if !is_low_precision::<F>() {
        return x.atan();
    }
    let neg = x < F::zero();
    let ax = if neg { -x } else { x };
    let big = ax > F::one();
    let z = if big { F::one() / ax } else { ax };
    let z2 = z * z;
    let mut p = cst::<F>(0.002_866_225_7);
    p = p * z2 + cst(-0.016_165_736_7);
    p = p * z2 + cst(0.042_909_613_8);
    p = p * z2 + cst(-0.075_289_640_0);
    p = p * z2 + cst(0.106_562_639_3);
    p = p * z2 + cst(-0.142_088_994_4);
    p = p * z2 + cst(0.199_935_508_5);
    p = p * z2 + cst(-0.333_331_452_8);
    p = p * z2 + F::one();
    let r = z * p;
    let r = if big { F::FRAC_PI_2() - r } else { r };
    if neg {
        -r
    } else {
        r
    }
}

/// erf(x), evaluated in f64 by libm and rounded to `F`.
#[inline]
pub(crate) fn erf<F: Real>(x: F) -> F {
    match x.to_f64() {
        Some(v) => cst(libm::erf(v)),
        None => F::nan(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atan_poly_is_f32_accurate() {
        let mut worst = 0.0f64;
        for i in -40000..=40000 {
            let x = i as f64 * 1e-3;
            let x = x * x * x.signum(); // dense near 0, reaching 1.6e3
            let got = atan(x as f32) as f64;
            worst = worst.max((got - (x as f32 as f64).atan()).abs());
        }
        assert!(worst < 2e-7, "worst abs error {worst}"); // 1.7 ulp at pi/2
        assert_eq!(atan(f32::INFINITY), core::f32::consts::FRAC_PI_2);
        assert_eq!(atan(0.0f32), 0.0);
    }

    #[test]
    fn atan_f64_is_libm() {
        for &x in &[-1e300, -3.5, -1e-12, 0.0, 0.3, 1.0, 7.25, 1e300] {
            assert_eq!(atan(x), libm::atan(x));
        }
    }

    #[test]
    fn erf_and_signs() {
        assert!((erf(0.5f64) - 0.520_499_877_813_046_5).abs() < 1e-15);
        assert!((erf(0.5f32) - 0.520_499_9).abs() < 1e-6);
        assert_eq!(sign0(0.0f64), 0.0);
        assert_eq!(sign0(-2.0f32), -1.0);
        assert_eq!(abs(-2.5f64), 2.5);
        assert!(is_low_precision::<f32>() && !is_low_precision::<f64>());
    }
}
