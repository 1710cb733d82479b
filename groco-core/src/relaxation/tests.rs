//! Tests of `relaxation.rs`.

use super::*;
use crate::testutil::for_f32_f64;
use crate::SortConfig;

fn config<F: Real>(relax: Relaxation, steep: f64) -> SortConfig<F> {
    SortConfig {
        relaxation: relax,
        steepness: cst::<F>(steep),
        art_lambda: cst(0.25),
        ..SortConfig::default()
    }
}

/// (α(d), dα/dd) of `relax` in F.
fn eval<F: Real>(relax: Relaxation, steep: f64, d: f64) -> (f64, f64) {
    let cfg = config::<F>(relax, steep);
    let (a, s) = with_relaxation!(cfg, r => {
        assert_eq!(r.value(cst(d)), r.value_and_slope(cst(d)).0, "{relax}: value paths");
        r.value_and_slope(cst(d))
    });
    (a.to_f64().unwrap(), s.to_f64().unwrap())
}

fn points() -> impl Iterator<Item = f64> {
    (-300..=300).map(|i| i as f64 * 0.013 + 0.0031)
}

#[test]
fn slopes_match_finite_differences_f64() {
    for relax in Relaxation::ALL {
        for steep in [1.0, 7.5, 40.0] {
            for d in points() {
                let v = (steep * d).abs();
                if relax == Relaxation::Optimal && (v - 0.25).abs() < 1e-4 {
                    continue; // the kinks of `optimal`
                }
                let h = 1e-6 * (1.0 + d.abs()) / steep;
                let fd = (eval::<f64>(relax, steep, d + h).0 - eval::<f64>(relax, steep, d - h).0)
                    / (2.0 * h);
                let s = eval::<f64>(relax, steep, d).1;
                assert!(
                    (fd - s).abs() <= 1e-6 * (1.0 + s.abs()),
                    "{relax} s={steep}: slope {s} vs finite difference {fd} at d = {d}"
                );
            }
        }
    }
}

#[test]
fn f32_agrees_with_f64() {
    for relax in Relaxation::ALL {
        for d in points() {
            let (a32, s32) = eval::<f32>(relax, 7.5, d);
            let (a64, s64) = eval::<f64>(relax, 7.5, d);
            assert!((a32 - a64).abs() < 3e-7, "{relax}: α {a32} vs {a64} at {d}");
            assert!(
                (s32 - s64).abs() < 3e-6 * (1.0 + s64.abs()),
                "{relax}: slope at {d}"
            );
        }
    }
}

fn shape_properties<F: Real>(tol: f64) {
    for relax in Relaxation::ALL {
        assert_eq!(eval::<F>(relax, 3.0, 0.0).0, 0.5, "{relax}: α(0)");
        let mut prev = f64::NEG_INFINITY;
        for d in points() {
            let a = eval::<F>(relax, 3.0, d).0;
            assert!((0.0..=1.0).contains(&a), "{relax}: α({d}) = {a}");
            assert!(a >= prev, "{relax}: not monotone at {d}");
            prev = a;
            let am = eval::<F>(relax, 3.0, -d).0;
            assert!((am + a - 1.0).abs() <= tol, "{relax}: symmetry at {d}");
        }
    }
}
for_f32_f64!(shape_properties, 2e-7, 1e-15);

#[test]
fn kink_subgradients_match_autograd() {
    // optimal at v = ±1/4: clamp passes the gradient, the tail term is masked out.
    let o = Optimal::new(1.0f64);
    assert_eq!(o.value_and_slope(0.25).1, 1.0);
    assert_eq!(o.value_and_slope(-0.25).1, 1.0);
    assert_eq!(o.value_and_slope(0.0), (0.5, 1.0));
    // logistic_phi at d = 0: d|d|/dd = 0, so dz/dd = s / (1e-10)^λ.
    let p = LogisticPhi::new(2.0f64, 0.25);
    let (a, s) = p.value_and_slope(0.0);
    assert_eq!(a, 0.5);
    assert!((s - 0.25 * 2.0 / 1e-10f64.powf(0.25)).abs() < 1e-9);
    // reciprocal at 0: 1/4 · s
    assert_eq!(Reciprocal::new(3.0f64).value_and_slope(0.0).1, 0.75);
}

#[cfg(feature = "half")]
#[test]
fn optimal_is_finite_where_1e_10_underflows() {
    // In f16, 1e-10 is 0: the tail term must not turn 0·∞ into NaN on the flat part.
    let o = Optimal::new(half::f16::from_f32(1.0));
    let (a, s) = o.value_and_slope(half::f16::from_f32(0.0));
    assert_eq!((a.to_f32(), s.to_f32()), (0.5, 1.0));
    let (a, _) = o.value_and_slope(half::f16::from_f32(2.0));
    assert!((a.to_f32() - (1.0 - 0.0625 / 2.0)).abs() < 1e-3);
}

#[test]
fn names_round_trip() {
    for r in Relaxation::ALL {
        assert_eq!(r.name().parse::<Relaxation>().unwrap(), r);
    }
    assert!("sigmoid".parse::<Relaxation>().is_err());
}

#[cfg(feature = "serde")]
#[test]
fn serde_names_are_the_diffsort_names() {
    for x in Relaxation::ALL {
        let value = serde_json::to_value(x).unwrap();
        assert_eq!(value, serde_json::Value::String(x.name().into()));
        let json = serde_json::to_string(&x).unwrap();
        assert_eq!(serde_json::from_str::<Relaxation>(&json).unwrap(), x);
    }
    assert!(serde_json::from_str::<Relaxation>("\"nope\"").is_err());
}
