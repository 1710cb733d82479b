//! The loss rows of the README's "Bad input" table: NaN/±inf inputs, sizes 0 and 1, non-positive
//! steepness and temperature, too many negatives and huge finite inputs. Every case is either a
//! named error or a defined, finite value; none panics.

use dfdx::prelude::*;
use groco_dfdx::loss::{
    diff_sort, diff_sort_values, groco_loss, nt_xent, soft_rank, GrocoConfig, Network, Relaxation,
    SortConfig,
};
use groco_dfdx::Error;

type T2<F> = Tensor<(usize, usize), F, Cpu>;

/// A deterministic (rows, cols) tensor with distinct, varied entries.
fn input<F: Dtype + num_traits::Float>(dev: &Cpu, rows: usize, cols: usize, shift: f64) -> T2<F> {
    let v = (0..rows * cols)
        .map(|i| F::from(((i as f64 + shift) * 0.7).sin() * 2.0 + 0.1 * i as f64).unwrap())
        .collect();
    dev.tensor_from_vec(v, (rows, cols))
}

fn with_value(x: &T2<f32>, at: usize, v: f32) -> T2<f32> {
    let mut data = x.as_vec();
    data[at] = v;
    x.device().tensor_from_vec(data, *x.shape())
}

const GROCO: GrocoConfig = GrocoConfig {
    topk_neg: 3,
    steepness: 1.0,
    network: Network::OddEven,
    relaxation: Relaxation::Cauchy,
    art_lambda: 0.25,
    n_pos_augs: None,
    stop_grad: true,
};

const BAD: [f32; 3] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];

#[test]
fn groco_loss_rejects_nan_and_inf() {
    let dev = Cpu::default();
    let x = input::<f32>(&dev, 4, 8, 0.0);
    let y = input::<f32>(&dev, 4, 8, 1.0);
    for v in BAD {
        let bad = with_value(&y, 2 * 8 + 5, v);
        let e = groco_loss([x.clone(), bad.clone()], GROCO).unwrap_err();
        assert_eq!(
            e.to_string(),
            "groco_loss: views[1] row 2 column 5 is not finite (NaN or ±inf)"
        );
        let e = groco_loss([bad, x.clone(), y.clone()], GROCO).unwrap_err();
        assert!(e.to_string().contains("views[0] row 2 column 5"), "{e}");
    }
}

#[test]
fn nt_xent_rejects_nan_and_inf() {
    let dev = Cpu::default();
    let x = input::<f32>(&dev, 4, 8, 0.0);
    for v in BAD {
        let bad = with_value(&x, 8 + 1, v);
        let e = nt_xent([bad, x.clone()], 0.5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nt_xent: views[0] row 1 column 1 is not finite (NaN or ±inf)"
        );
    }
}

#[test]
fn sort_ops_reject_nan_and_inf() {
    let dev = Cpu::default();
    let cfg = SortConfig::<f32>::default();
    let x = input::<f32>(&dev, 3, 5, 0.0);
    for v in BAD {
        let bad = with_value(&x, 5 + 4, v);
        let want = "row 1 column 4 is not finite (NaN or ±inf)";
        let e = diff_sort(bad.clone(), cfg).unwrap_err().to_string();
        assert_eq!(e, format!("diff_sort: x {want}"));
        let e = diff_sort_values(bad.clone(), cfg).unwrap_err().to_string();
        assert_eq!(e, format!("diff_sort_values: x {want}"));
        let e = soft_rank(bad, cfg).unwrap_err().to_string();
        assert_eq!(e, format!("soft_rank: x {want}"));
    }
}

#[test]
fn empty_inputs_are_refused() {
    let dev = Cpu::default();
    let cfg = SortConfig::<f32>::default();
    for (rows, cols) in [(0, 8), (4, 0)] {
        let z: T2<f32> = dev.zeros_like(&(rows, cols));
        let found = format!("found ({rows}, {cols})");
        let e = groco_loss([z.clone(), z.clone()], GROCO).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Shape {
                    op: "groco_loss",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains(&found), "{e}");
        let e = nt_xent([z.clone(), z.clone()], 0.5).unwrap_err();
        assert!(matches!(e, Error::Shape { op: "nt_xent", .. }), "{e}");
        assert!(e.to_string().contains(&found), "{e}");
        for e in [
            diff_sort(z.clone(), cfg).map(|_| ()).unwrap_err(),
            diff_sort_values(z.clone(), cfg).map(|_| ()).unwrap_err(),
            soft_rank(z.clone(), cfg).map(|_| ()).unwrap_err(),
        ] {
            assert!(matches!(e, Error::Shape { .. }), "{e}");
            assert!(e.to_string().contains(&found), "{e}");
        }
    }
    let e = groco_loss(Vec::<T2<f32>>::new(), GROCO).unwrap_err();
    assert_eq!(
        e.to_string(),
        "groco_loss: views = 0 is invalid: the GroCo loss needs at least 2 views"
    );
}

#[test]
fn groco_loss_batch_of_one_is_refused() {
    let dev = Cpu::default();
    let x = input::<f32>(&dev, 1, 8, 0.0);
    let cfg = GrocoConfig {
        topk_neg: 1,
        ..GROCO
    };
    let e = groco_loss([x.clone(), x], cfg).unwrap_err();
    assert_eq!(
        e.to_string(),
        "groco_loss: expected views of at least 2 rows (the negatives of a row are the other \
         rows), found 1 row"
    );
}

#[test]
fn nt_xent_batch_of_one_is_zero() {
    // One pair and no negatives: the softmax over {positive} is 1, so the loss and its gradient
    // are exactly 0 (the fixture nt_xent-b1-d3 checks the same against PyTorch).
    let dev = Cpu::default();
    let a = input::<f64>(&dev, 1, 6, 0.0);
    let b = input::<f64>(&dev, 1, 6, 3.0);
    let loss = nt_xent([a.leaky_trace(), b.leaky_trace()], 0.5).unwrap();
    assert_eq!(loss.array(), 0.0);
    let g = loss.backward();
    assert!(g.get(&a).as_vec().iter().all(|&v| v == 0.0));
    assert!(g.get(&b).as_vec().iter().all(|&v| v == 0.0));
}

#[test]
fn sorting_one_element_is_the_identity() {
    let dev = Cpu::default();
    for network in [Network::OddEven, Network::Bitonic, Network::OddEvenMerge] {
        let cfg = SortConfig::new(network, Relaxation::Cauchy, 1.0f64);
        let x = input::<f64>(&dev, 3, 1, 0.0);
        let (sorted, perm) = diff_sort(x.leaky_trace(), cfg).unwrap();
        assert_eq!(sorted.as_vec(), x.as_vec(), "{network:?}");
        assert_eq!(perm.as_vec(), vec![1.0; 3], "{network:?}");
        let g = (sorted.sum::<Rank0, _>() + perm.sum()).backward();
        assert_eq!(g.get(&x).as_vec(), vec![1.0; 3], "{network:?}");
        assert_eq!(soft_rank(x.clone(), cfg).unwrap().as_vec(), vec![0.0; 3]);
    }
}

#[test]
fn nonpositive_steepness_is_rejected() {
    let dev = Cpu::default();
    let x = input::<f32>(&dev, 4, 8, 0.0);
    for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let want = format!("steepness must be finite and > 0, got {}", s as f32);
        let cfg = GrocoConfig {
            steepness: s,
            ..GROCO
        };
        let e = groco_loss([x.clone(), x.clone()], cfg).unwrap_err();
        assert_eq!(e.to_string(), format!("groco_loss: {want}"));
        let sort = SortConfig::new(Network::OddEven, Relaxation::Cauchy, s as f32);
        for (op, e) in [
            (
                "diff_sort",
                diff_sort(x.clone(), sort).map(|_| ()).unwrap_err(),
            ),
            (
                "diff_sort_values",
                diff_sort_values(x.clone(), sort).map(|_| ()).unwrap_err(),
            ),
            (
                "soft_rank",
                soft_rank(x.clone(), sort).map(|_| ()).unwrap_err(),
            ),
        ] {
            assert_eq!(e.to_string(), format!("{op}: {want}"));
        }
    }
}

#[test]
fn nonpositive_temperature_is_rejected() {
    let dev = Cpu::default();
    let x = input::<f32>(&dev, 4, 8, 0.0);
    for t in [0.0, -0.5, f64::NAN, f64::INFINITY] {
        let e = nt_xent([x.clone(), x.clone()], t).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("nt_xent: temperature = {t} is invalid: must be finite and > 0")
        );
    }
}

#[test]
fn topk_larger_than_the_negatives_is_refused() {
    let dev = Cpu::default();
    let x = input::<f32>(&dev, 4, 8, 0.0);
    let cfg = GrocoConfig {
        topk_neg: 4,
        ..GROCO
    };
    let e = groco_loss([x.clone(), x], cfg).unwrap_err();
    assert_eq!(
        e.to_string(),
        "groco_loss: topk_neg = 4 is invalid: must be between 1 and B - 1 (the other rows of the \
         batch are the negatives)"
    );
}

#[test]
fn huge_finite_inputs_give_the_loss_of_the_scaled_down_inputs() {
    // Cosine similarity is scale-free: rows scaled by 1e30 (whose squared norm overflows f32)
    // must give the loss of the unscaled rows, and their gradient scaled by 1e-30.
    let dev = Cpu::default();
    let x = input::<f32>(&dev, 4, 8, 0.0);
    let y = input::<f32>(&dev, 4, 8, 1.0);
    let big =
        |t: &T2<f32>| dev.tensor_from_vec(t.as_vec().iter().map(|v| v * 1e30).collect(), (4, 8));
    let (bx, by) = (big(&x), big(&y));
    let small = nt_xent([x.clone(), y.clone()], 0.5).unwrap().array();
    let large = nt_xent([bx.clone(), by.clone()], 0.5).unwrap().array();
    assert!((small - large).abs() < 1e-5, "nt_xent: {small} vs {large}");
    let small = groco_loss([x.leaky_trace(), y.leaky_trace()], GROCO).unwrap();
    let large = groco_loss([bx.leaky_trace(), by.leaky_trace()], GROCO).unwrap();
    let (ls, ll) = (small.array(), large.array());
    assert!((ls - ll).abs() < 1e-5, "groco_loss: {ls} vs {ll}");
    let (gs, gl) = (small.backward(), large.backward());
    let (gs, gl) = (gs.get(&x).as_vec(), gl.get(&bx).as_vec());
    let scale = gs.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    for (a, b) in gs.iter().zip(&gl) {
        assert!(
            b.is_finite() && (a - b * 1e30).abs() <= 1e-4 * scale,
            "{a} vs {b}e30"
        );
    }
}
