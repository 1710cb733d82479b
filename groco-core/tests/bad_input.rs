//! Bad input to the core (docs/bad-input.md names these tests):
//! NaN/±inf values, n = 0 and n = 1, and steepness ≤ 0 (or NaN). Every `try_` call refuses bad
//! input with an [`Error`] that names the argument and the index or value; none panics, and
//! n = 1 has a well-defined trivial result. The exact `Display` texts are checked here.

use groco_core::{Error, GrocoRowLoss, Network, Real, Relaxation, SortConfig, Sorter};

fn configs<F: Real>() -> impl Iterator<Item = SortConfig<F>> {
    Network::ALL.into_iter().flat_map(|net| {
        Relaxation::ALL
            .into_iter()
            .map(move |r| SortConfig::new(net, r, F::from(2.0).unwrap()))
    })
}

fn nan_and_inf<F: Real>() {
    for cfg in configs::<F>() {
        let ctx = format!("{} {}", cfg.network, cfg.relaxation);
        let n = 5;
        let s = Sorter::try_new(n, cfg).unwrap();
        let mut sc = vec![F::zero(); s.batch_scratch_len(3).max(s.ranks_scratch_len())];
        let ok: Vec<F> = (0..n)
            .map(|i| F::from(i as f64 * 0.3 - 0.5).unwrap())
            .collect();
        let (mut y, mut p, mut gx) = (
            vec![F::zero(); n],
            vec![F::zero(); n * n],
            vec![F::zero(); n],
        );
        let (gs, gp) = (vec![F::one(); n], vec![F::one(); n * n]);
        for (bad, idx) in [(F::nan(), 2), (F::infinity(), 0), (F::neg_infinity(), 4)] {
            let mut x = ok.clone();
            x[idx] = bad;
            let want = Error::NonFinite {
                what: "x",
                index: idx,
            };
            let text = format!("`x` holds a non-finite value at index {idx}");
            let e = s.try_sort_values(&x, &mut y, &mut []).unwrap_err();
            assert_eq!(
                (&e, e.to_string()),
                (&want, text.clone()),
                "{ctx} sort_values"
            );
            let e = s.try_forward(&x, &mut y, &mut p, &mut sc).unwrap_err();
            assert_eq!(e, want, "{ctx} forward");
            let e = s.try_backward(&x, &gs, &gp, &mut gx, &mut sc).unwrap_err();
            assert_eq!(e, want, "{ctx} backward");
            let e = s.try_soft_ranks(&x, &mut y, &mut sc).unwrap_err();
            assert_eq!(e, want, "{ctx} soft_ranks");
            let e = s
                .try_soft_ranks_backward(&x, &gs, &mut gx, &mut sc)
                .unwrap_err();
            assert_eq!(e, want, "{ctx} soft_ranks_backward");
            // in a batch the index is the flat one: row 2, column idx
            let mut xb: Vec<F> = ok.iter().cycle().take(3 * n).copied().collect();
            xb[2 * n + idx] = bad;
            let (mut yb, mut pb, mut gxb) = (
                vec![F::zero(); 3 * n],
                vec![F::zero(); 3 * n * n],
                vec![F::zero(); 3 * n],
            );
            let want_b = Error::NonFinite {
                what: "x",
                index: 2 * n + idx,
            };
            let e = s
                .try_forward_batch(&xb, &mut yb, &mut pb, &mut sc)
                .unwrap_err();
            assert_eq!(e, want_b, "{ctx} forward_batch");
            let (gsb, gpb) = (vec![F::one(); 3 * n], vec![F::one(); 3 * n * n]);
            let e = s
                .try_backward_batch(&xb, &gsb, &gpb, &mut gxb, &mut sc)
                .unwrap_err();
            assert_eq!(e, want_b, "{ctx} backward_batch");
            // upstream gradients
            let mut g = gs.clone();
            g[idx] = bad;
            let e = s.try_backward(&ok, &g, &gp, &mut gx, &mut sc).unwrap_err();
            assert_eq!(
                e,
                Error::NonFinite {
                    what: "grad_sorted",
                    index: idx
                },
                "{ctx}"
            );
            assert_eq!(
                e.to_string(),
                format!("`grad_sorted` holds a non-finite value at index {idx}")
            );
            let mut g = gp.clone();
            g[3 * n + idx] = bad;
            let e = s.try_backward(&ok, &gs, &g, &mut gx, &mut sc).unwrap_err();
            assert_eq!(
                e,
                Error::NonFinite {
                    what: "grad_perm",
                    index: 3 * n + idx
                },
                "{ctx}"
            );
            let mut g = gs.clone();
            g[idx] = bad;
            let e = s
                .try_soft_ranks_backward(&ok, &g, &mut gx, &mut sc)
                .unwrap_err();
            assert_eq!(
                e,
                Error::NonFinite {
                    what: "grad_ranks",
                    index: idx
                },
                "{ctx}"
            );

            // GroCo row loss: 2 positives, 4 negatives, top 3
            let l = GrocoRowLoss::try_new(2, 4, 3, cfg).unwrap();
            let mut lsc = vec![F::zero(); l.scratch_len()];
            let (mut gpos, mut gneg) = ([F::zero(); 2], [F::zero(); 4]);
            let pos = [F::from(0.9).unwrap(), F::from(0.4).unwrap()];
            let neg: Vec<F> = [0.1, -0.3, 0.5, 0.2]
                .iter()
                .map(|&v| F::from(v).unwrap())
                .collect();
            let mut badpos = pos;
            badpos[idx % 2] = bad;
            let want = Error::NonFinite {
                what: "positives",
                index: idx % 2,
            };
            assert_eq!(
                l.try_loss(&badpos, &neg, &mut lsc).unwrap_err(),
                want,
                "{ctx}"
            );
            let e = l
                .try_loss_and_grad(&badpos, &neg, &mut gpos, &mut gneg, &mut lsc)
                .unwrap_err();
            assert_eq!(e, want, "{ctx}");
            assert_eq!(
                e.to_string(),
                format!("`positives` holds a non-finite value at index {}", idx % 2)
            );
            let mut badneg = neg.clone();
            badneg[idx % 4] = bad;
            let want = Error::NonFinite {
                what: "negatives",
                index: idx % 4,
            };
            assert_eq!(
                l.try_loss(&pos, &badneg, &mut lsc).unwrap_err(),
                want,
                "{ctx}"
            );
            let e = l
                .try_loss_and_grad(&pos, &badneg, &mut gpos, &mut gneg, &mut lsc)
                .unwrap_err();
            assert_eq!(e, want, "{ctx}");
        }
        // Finite values whose spread times the steepness overflows the float type are refused
        // too: α and its slope would be NaN.
        let big = F::max_value() / F::from(2.0).unwrap();
        let mut x = ok.clone();
        x[1] = big;
        x[3] = -big;
        let e = s.try_forward(&x, &mut y, &mut p, &mut sc).unwrap_err();
        assert_eq!(e, Error::Overflow { what: "x" }, "{ctx}");
        assert_eq!(
            e.to_string(),
            "steepness * (max - min) of `x` overflows the float type"
        );
        let l = GrocoRowLoss::try_new(2, 4, 4, cfg).unwrap();
        let mut lsc = vec![F::zero(); l.scratch_len()];
        let e = l.try_loss(
            &[big, F::zero()],
            &[-big, F::zero(), F::zero(), F::zero()],
            &mut lsc,
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "steepness * (max - min) of `positives and negatives` overflows the float type"
        );
    }
}

#[test]
fn nan_and_inf_inputs_are_rejected() {
    nan_and_inf::<f32>();
    nan_and_inf::<f64>();
}

fn zero_and_one<F: Real>() {
    let one = |v: f64| F::from(v).unwrap();
    for cfg in configs::<F>() {
        let ctx = format!("{} {}", cfg.network, cfg.relaxation);
        // n = 0: refused
        let e = Sorter::try_new(0, cfg).unwrap_err();
        assert_eq!(e, Error::EmptyInput, "{ctx}");
        assert_eq!(e.to_string(), "empty input: n must be at least 1");
        for (p, m, k) in [(0, 0, 0), (0, 7, 0)] {
            let e = GrocoRowLoss::try_new(p, m, k, cfg).unwrap_err();
            assert_eq!(e, Error::EmptyInput, "{ctx} p={p} m={m} k={k}");
        }
        let e = GrocoRowLoss::try_new(1, 0, 1, cfg).unwrap_err();
        assert_eq!(
            e,
            Error::TooFewNegatives {
                needed: 1,
                actual: 0
            }
        );
        assert_eq!(
            e.to_string(),
            "GroCo row loss keeps the top 1 negatives but got only 0"
        );
        // an empty batch
        let s = Sorter::try_new(1, cfg).unwrap();
        let mut sc = vec![F::nan(); s.batch_scratch_len(4).max(s.ranks_scratch_len())];
        let e = s
            .try_forward_batch(&[], &mut [], &mut [], &mut sc)
            .unwrap_err();
        assert_eq!(e, Error::EmptyInput, "{ctx}");
        let e = s
            .try_backward_batch(&[], &[], &[], &mut [], &mut sc)
            .unwrap_err();
        assert_eq!(e, Error::EmptyInput, "{ctx}");

        // n = 1: the identity. sorted = x, P = [1], grad_x = grad_sorted, rank 0 with
        // gradient 0.
        let x = [one(-3.5)];
        let (mut y, mut p, mut gx) = ([F::nan()], [F::nan()], [F::nan()]);
        s.try_sort_values(&x, &mut y, &mut []).unwrap();
        assert_eq!(y, x, "{ctx}");
        s.try_forward(&x, &mut y, &mut p, &mut sc).unwrap();
        assert_eq!((y, p), (x, [F::one()]), "{ctx}");
        s.try_backward(&x, &[one(0.7)], &[one(5.0)], &mut gx, &mut sc)
            .unwrap();
        assert_eq!(gx, [one(0.7)], "{ctx}");
        s.try_soft_ranks(&x, &mut y, &mut sc).unwrap();
        assert_eq!(y, [F::zero()], "{ctx}");
        s.try_soft_ranks_backward(&x, &[one(2.0)], &mut gx, &mut sc)
            .unwrap();
        assert_eq!(gx, [F::zero()], "{ctx}");
        let xb = [one(1.0), one(-2.0), one(0.5), one(9.0)];
        let (mut yb, mut pb, mut gxb) = ([F::nan(); 4], [F::nan(); 4], [F::nan(); 4]);
        s.try_forward_batch(&xb, &mut yb, &mut pb, &mut sc).unwrap();
        assert_eq!((yb, pb), (xb, [F::one(); 4]), "{ctx}");
        let gsb = [one(0.1), one(0.2), one(0.3), one(0.4)];
        s.try_backward_batch(&xb, &gsb, &[one(1.0); 4], &mut gxb, &mut sc)
            .unwrap();
        assert_eq!(gxb, gsb, "{ctx}");

        // GroCo with n = k + p = 1: the single value is already in its class, so the loss and
        // every gradient are 0 (negatives outside the top k get 0 too).
        for (p, m, k) in [(1, 0, 0), (1, 4, 0), (0, 1, 1), (0, 4, 1)] {
            let l = GrocoRowLoss::try_new(p, m, k, cfg).unwrap();
            let mut lsc = vec![F::nan(); l.scratch_len()];
            let pos = vec![one(0.25); p];
            let neg: Vec<F> = (0..m).map(|i| one(i as f64 - 1.0)).collect();
            let (mut gp, mut gn) = (vec![F::nan(); p], vec![F::nan(); m]);
            let loss = l
                .try_loss_and_grad(&pos, &neg, &mut gp, &mut gn, &mut lsc)
                .unwrap();
            let c = format!("{ctx} p={p} m={m} k={k}");
            assert_eq!(loss, F::zero(), "{c}");
            assert_eq!(l.try_loss(&pos, &neg, &mut lsc).unwrap(), F::zero(), "{c}");
            assert!(
                gp.iter().chain(&gn).all(|&g| g == F::zero()),
                "{c}: {gp:?} {gn:?}"
            );
        }
    }
}

#[test]
fn sizes_zero_and_one() {
    zero_and_one::<f32>();
    zero_and_one::<f64>();
}

fn nonpositive_steepness<F: Real>() {
    for base in configs::<F>() {
        for (s, shown) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (-1.0, "-1"),
            (-0.5, "-0.5"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::INFINITY, "inf"),
        ] {
            let cfg = SortConfig {
                steepness: F::from(s).unwrap(),
                ..base
            };
            let ctx = format!("{} {} steepness {s}", base.network, base.relaxation);
            for n in [1, 2, 9] {
                let e = Sorter::try_new(n, cfg).unwrap_err();
                assert!(matches!(e, Error::InvalidSteepness { .. }), "{ctx}: {e:?}");
                let want = format!("steepness must be finite and > 0, got {shown}");
                assert_eq!(e.to_string(), want, "{ctx}");
                let e = GrocoRowLoss::try_new(n, 3, 2, cfg).unwrap_err();
                assert_eq!(e.to_string(), want, "{ctx}");
            }
        }
    }
}

#[test]
fn nonpositive_steepness_is_rejected() {
    nonpositive_steepness::<f32>();
    nonpositive_steepness::<f64>();
}
