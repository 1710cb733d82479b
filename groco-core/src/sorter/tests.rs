//! Unit tests of `sorter.rs`: config validation, the scratch contract and its alignment, and
//! the shared input checks.

use super::*;
use crate::testutil::same_at_each_offset;

/// The first NaN or ±inf is reported, in any 64-value chunk or the remainder.
#[test]
fn check_finite_reports_the_first_bad_index() {
    for len in [1, 63, 64, 65, 150] {
        assert_eq!(check_finite("v", &vec![1.0f32; len], 7), Ok(()));
        for first in 0..len {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut v = vec![1.0f32; len];
                v[first] = bad;
                if first + 70 < len {
                    v[first + 70] = f32::NAN;
                }
                let want = Err(Error::NonFinite {
                    what: "v",
                    index: 7 + first,
                });
                assert_eq!(check_finite("v", &v, 7), want, "len {len} at {first}");
            }
        }
    }
}

#[test]
fn config_validation() {
    let ok = SortConfig::<f64>::default();
    assert!(Sorter::try_new(4, ok).is_ok());
    assert_eq!(Sorter::try_new(0, ok).unwrap_err(), Error::EmptyInput);
    for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let c = SortConfig { steepness: s, ..ok };
        assert!(matches!(
            Sorter::try_new(4, c),
            Err(Error::InvalidSteepness { .. })
        ));
    }
    let phi = SortConfig {
        relaxation: Relaxation::LogisticPhi,
        ..ok
    };
    for l in [-0.5, f64::NAN, 40.0] {
        let c = SortConfig {
            art_lambda: l,
            ..phi
        };
        assert!(matches!(
            Sorter::try_new(4, c),
            Err(Error::InvalidArtLambda { .. })
        ));
    }
    // λ above 1 is refused in both types (not monotone; fuzz finding), λ = 1 is accepted.
    for l in [1.0 + 1e-9, 2.69, 5.0] {
        let c = SortConfig {
            art_lambda: l,
            ..phi
        };
        assert!(Sorter::try_new(4, c).is_err(), "art_lambda {l}");
    }
    assert!(Sorter::try_new(
        4,
        SortConfig {
            art_lambda: 1.0,
            ..phi
        }
    )
    .is_ok());
    let phi32 = SortConfig::<f32> {
        relaxation: Relaxation::LogisticPhi,
        art_lambda: 1.0,
        ..SortConfig::default()
    };
    assert!(Sorter::try_new(4, phi32).is_ok());
    let phi32 = SortConfig::<f32> {
        art_lambda: 2.69,
        ..phi32
    };
    assert!(Sorter::try_new(4, phi32).is_err());
    assert!(matches!(
        Sorter::try_new(usize::MAX / 2, ok),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn scratch_stays_under_the_memory_contract() {
    // At bitonic n = 1024 in f32 the backward's scratch stays under 16 MiB
    let cfg = SortConfig::new(Network::Bitonic, Relaxation::Cauchy, 1.0f32);
    let s = Sorter::try_new(1024, cfg).unwrap();
    let bytes = s.batch_scratch_len(1) * core::mem::size_of::<f32>();
    assert_eq!(s.slots(), 55 * 512);
    assert!(bytes < 16 << 20, "{bytes} bytes");
    assert_eq!(s.scratch_len(), 27 * 55 * 512 + 16 * 1024 + 3 * 16);
}

/// Lane arrays start on a cache line wherever the scratch starts, and the documented
/// lengths hold the skips: every call runs on scratch of exactly its length at each of 16
/// start offsets, with the same results.
#[test]
fn lane_arrays_are_aligned_within_the_documented_scratch() {
    let mut buf = vec![0.0f32; 64];
    for off in 0..16 {
        let mut s = &mut buf[off..];
        let lanes = take_lanes::<f32, LANES>(&mut s, 1);
        assert_eq!(lanes.as_ptr() as usize % LANE_ALIGN, 0, "offset {off}");
    }
    let (n, rows) = (11, 9);
    let s = Sorter::try_new(n, SortConfig::<f32>::default()).unwrap();
    let x: Vec<f32> = (0..rows * n).map(|i| (i as f32 * 0.61).sin()).collect();
    let gp: Vec<f32> = (0..rows * n * n).map(|i| (i as f32 * 0.23).cos()).collect();
    let gs = &x[..];
    same_at_each_offset("batch and single rows", s.batch_scratch_len(rows), |sc| {
        let (mut y, mut p, mut gx) = (
            vec![0.0; rows * n],
            vec![0.0; rows * n * n],
            vec![0.0; rows * n],
        );
        s.try_forward_batch(&x, &mut y, &mut p, sc).unwrap();
        s.try_backward_batch(&x, gs, &gp, &mut gx, sc).unwrap();
        let (mut y1, mut p1, mut g1) = (vec![0.0; n], vec![0.0; n * n], vec![0.0; n]);
        let one = &mut sc[..s.scratch_len()];
        s.try_forward(&x[..n], &mut y1, &mut p1, one).unwrap();
        s.try_backward(&x[..n], &gs[..n], &gp[..n * n], &mut g1, one)
            .unwrap();
        [y, p, gx, y1, p1, g1]
    });
}

#[test]
fn row_checks() {
    let s = Sorter::try_new(3, SortConfig::<f32>::default()).unwrap();
    assert!(s.check_row("x", &[1.0, 2.0, 3.0], 0).is_ok());
    assert_eq!(
        s.check_row("x", &[1.0, f32::NAN, 3.0], 6),
        Err(Error::NonFinite {
            what: "x",
            index: 7
        })
    );
    assert_eq!(
        s.check_row("x", &[-3e38, 0.0, 3e38], 0),
        Err(Error::Overflow { what: "x" })
    );
}

/// The batch check returns what row-by-row checks return first, on rows long enough for
/// its vector pass (and its remainder), including a batch whose total spread overflows
/// while every row's fits.
#[test]
fn batch_row_checks_match_row_by_row() {
    let s = Sorter::try_new(7, SortConfig::<f32>::default()).unwrap();
    let row_by_row = |x: &[f32]| {
        x.chunks_exact(7)
            .enumerate()
            .try_for_each(|(i, r)| s.check_row("x", r, 10 + 7 * i))
    };
    let base: Vec<f32> = (0..7 * 9).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut cases = vec![base.clone()];
    for (at, v) in [(0, f32::NAN), (30, f32::INFINITY), (62, f32::NEG_INFINITY)] {
        let mut x = base.clone();
        x[at] = v;
        cases.push(x);
    }
    // row 1 overflows before row 3's NaN
    let mut x = base.clone();
    (x[7], x[8], x[22]) = (-3e38, 3e38, f32::NAN);
    cases.push(x);
    // rows of 2e38 and of -2e38: each fits, the batch's spread does not
    let mut x = base.clone();
    x[..14].iter_mut().for_each(|v| *v += 2e38);
    x[14..28].iter_mut().for_each(|v| *v -= 2e38);
    cases.push(x);
    for (c, x) in cases.iter().enumerate() {
        assert_eq!(s.check_rows("x", x, 10), row_by_row(x), "case {c}");
    }
    assert!(s.check_rows("x", &cases[5], 10).is_ok());
    assert_eq!(
        s.check_rows("x", &cases[4], 10),
        Err(Error::Overflow { what: "x" })
    );
}
