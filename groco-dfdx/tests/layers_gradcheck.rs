//! Finite-difference gradient checks (f64) for batch norm, pooling, global average pooling and
//! flatten, agreement of their `Cpu` kernels with the composed dfdx-op path (what `Cuda` runs),
//! and error handling. The convolution checks are in `layers_gradcheck_conv.rs`.

mod layers_util;

use dfdx::prelude::*;
use groco_dfdx::layers::{self, composed, BatchNormAct2d, Dims, PoolGeom, PoolKind, Window};
use layers_util::{assert_close, fd_check, rng, uniform, weighted_sum};

type Act<T = NoneTape> = layers::Activation<f64, Cpu, T>;

const BN_DIMS: Dims = Dims {
    c: 3,
    h: 3,
    w: 2,
    b: 4,
};

/// Loss, gradients (x, γ, β) and running statistics after one train-mode forward.
fn bn_loss<const RELU: bool>(
    inputs: &[Vec<f64>],
    use_composed: bool,
) -> (f64, Vec<Vec<f64>>, Vec<f64>) {
    let dev = Cpu::default();
    let mut bn = BatchNormAct2d::<3, RELU, f64, Cpu>::build(&dev);
    bn.scale.copy_from(&inputs[1]);
    bn.bias.copy_from(&inputs[2]);
    bn.running_mean.copy_from(&[0.5, -0.25, 0.0]);
    bn.running_var.copy_from(&[2.0, 1.0, 0.5]);
    let x: Act = dev.tensor_from_vec(inputs[0].clone(), BN_DIMS.shape());
    let y = if use_composed {
        let p = layers::BnParams {
            scale: &bn.scale,
            bias: &bn.bias,
            running_mean: &mut bn.running_mean,
            running_var: &mut bn.running_var,
            epsilon: bn.epsilon,
            momentum: bn.momentum,
        };
        composed::batch_norm_train(x.leaky_trace(), p, RELU).unwrap()
    } else {
        bn.try_forward_train(x.leaky_trace()).unwrap()
    };
    let loss = weighted_sum(&dev, y);
    let value = loss.array();
    let grads = loss.backward();
    let stats = [bn.running_mean.as_vec(), bn.running_var.as_vec()].concat();
    (
        value,
        vec![
            grads.get(&x).as_vec(),
            grads.get(&bn.scale).as_vec(),
            grads.get(&bn.bias).as_vec(),
        ],
        stats,
    )
}

fn bn_inputs(salt: u64) -> Vec<Vec<f64>> {
    let mut r = rng(salt);
    let mut x = uniform(&mut r, BN_DIMS.len());
    // give the channels different means and spreads
    let n = BN_DIMS.len() / BN_DIMS.c;
    for (c, chunk) in x.chunks_mut(n).enumerate() {
        chunk
            .iter_mut()
            .for_each(|v| *v = *v * (1.0 + c as f64) + c as f64 * 0.3 - 0.2);
    }
    let gamma = uniform(&mut r, 3).iter().map(|v| 1.0 + 0.5 * v).collect();
    vec![x, gamma, uniform(&mut r, 3)]
}

#[test]
fn batch_norm_gradients_match_finite_differences() {
    let inputs = bn_inputs(400);
    fd_check(
        "bn+relu train",
        &inputs,
        &|p: &[Vec<f64>]| {
            let (l, g, _) = bn_loss::<true>(p, false);
            (l, g)
        },
        1e-7,
    );
    fd_check(
        "bn train",
        &inputs,
        &|p: &[Vec<f64>]| {
            let (l, g, _) = bn_loss::<false>(p, false);
            (l, g)
        },
        1e-7,
    );
}

#[test]
fn batch_norm_cpu_kernel_agrees_with_composed_path() {
    let inputs = bn_inputs(401);
    for relu in [false, true] {
        let (a, b) = if relu {
            (
                bn_loss::<true>(&inputs, false),
                bn_loss::<true>(&inputs, true),
            )
        } else {
            (
                bn_loss::<false>(&inputs, false),
                bn_loss::<false>(&inputs, true),
            )
        };
        assert_close(&format!("bn loss relu={relu}"), &[a.0], &[b.0], 1e-12);
        for (x, y) in a.1.iter().zip(&b.1) {
            assert_close(&format!("bn grads relu={relu}"), x, y, 1e-12);
        }
        assert_close(&format!("bn running stats relu={relu}"), &a.2, &b.2, 1e-13);
    }
}

#[test]
fn batch_norm_running_stats_follow_pytorch_rule() {
    let inputs = bn_inputs(402);
    let (_, _, stats) = bn_loss::<true>(&inputs, false);
    let n = BN_DIMS.len() / BN_DIMS.c;
    let (rm0, rv0) = ([0.5, -0.25, 0.0], [2.0, 1.0, 0.5]);
    for (c, xs) in inputs[0].chunks(n).enumerate() {
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var_unbiased = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        assert!((stats[c] - (0.9 * rm0[c] + 0.1 * mean)).abs() < 1e-14);
        assert!((stats[3 + c] - (0.9 * rv0[c] + 0.1 * var_unbiased)).abs() < 1e-14);
    }
}

#[test]
fn batch_norm_eval_uses_running_statistics() {
    let dev = Cpu::default();
    let mut bn = layers::BatchNormRelu2d::<3, f64, Cpu>::build(&dev);
    bn.scale.copy_from(&[1.5, 0.5, -1.0]);
    bn.bias.copy_from(&[0.1, -0.2, 0.3]);
    bn.running_mean.copy_from(&[0.2, -0.1, 0.0]);
    bn.running_var.copy_from(&[0.5, 2.0, 1.0]);
    let inputs = bn_inputs(403);
    let x: Act = dev.tensor_from_vec(inputs[0].clone(), BN_DIMS.shape());
    let y = bn.forward(x).as_vec();
    let n = BN_DIMS.len() / 3;
    for (i, (&yv, &xv)) in y.iter().zip(&inputs[0]).enumerate() {
        let c = i / n;
        let (g, b, m, v) = (
            [1.5, 0.5, -1.0][c],
            [0.1, -0.2, 0.3][c],
            [0.2, -0.1, 0.0][c],
            [0.5, 2.0, 1.0][c],
        );
        let want = (g * (xv - m) / (v + 1e-5f64).sqrt() + b).max(0.0);
        assert!((yv - want).abs() < 1e-14, "{yv} vs {want}");
    }
}

const POOL_DIMS: Dims = Dims {
    c: 2,
    h: 5,
    w: 6,
    b: 3,
};

fn pool_loss(
    inputs: &[Vec<f64>],
    win: Window,
    kind: PoolKind,
    use_composed: bool,
) -> (f64, Vec<Vec<f64>>) {
    let dev = Cpu::default();
    let x: Act = dev.tensor_from_vec(inputs[0].clone(), POOL_DIMS.shape());
    let y = if use_composed {
        composed::pool2d(
            x.leaky_trace(),
            &PoolGeom::try_new(POOL_DIMS, win, kind).unwrap(),
        )
        .unwrap()
    } else {
        layers::try_pool2d(x.leaky_trace(), win, kind).unwrap()
    };
    let loss = weighted_sum(&dev, y);
    let v = loss.array();
    (v, vec![loss.backward().get(&x).as_vec()])
}

#[test]
fn pooling_gradients_match_finite_differences_and_composed_path() {
    let wins = [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)].map(|(k, s, p)| Window {
        kernel: k,
        stride: s,
        padding: p,
    });
    for (i, win) in wins.into_iter().enumerate() {
        for kind in [PoolKind::Max, PoolKind::Avg] {
            let inputs = vec![uniform(&mut rng(500 + i as u64), POOL_DIMS.len())];
            let what = format!("{kind:?} pool {win:?}");
            fd_check(
                &what,
                &inputs,
                &|p: &[Vec<f64>]| pool_loss(p, win, kind, false),
                1e-7,
            );
            let (a, b) = (
                pool_loss(&inputs, win, kind, false),
                pool_loss(&inputs, win, kind, true),
            );
            assert_close(&format!("{what} loss vs composed"), &[a.0], &[b.0], 1e-13);
            assert_close(
                &format!("{what} grads vs composed"),
                &a.1[0],
                &b.1[0],
                1e-13,
            );
        }
    }
}

fn rows_loss(inputs: &[Vec<f64>], gap: bool, use_composed: bool) -> (f64, Vec<Vec<f64>>) {
    let dev = Cpu::default();
    let x: Act = dev.tensor_from_vec(inputs[0].clone(), POOL_DIMS.shape());
    let y = match (gap, use_composed) {
        (true, false) => layers::try_global_avg_pool(x.leaky_trace()).unwrap(),
        (true, true) => composed::global_avg_pool(x.leaky_trace()).unwrap(),
        (false, false) => layers::try_flatten(x.leaky_trace()).unwrap(),
        (false, true) => composed::flatten(x.leaky_trace()).unwrap(),
    };
    let loss = weighted_sum(&dev, y);
    let v = loss.array();
    (v, vec![loss.backward().get(&x).as_vec()])
}

#[test]
fn gap_and_flatten_gradients_match_finite_differences_and_composed_path() {
    for gap in [true, false] {
        let inputs = vec![uniform(&mut rng(600 + gap as u64), POOL_DIMS.len())];
        let what = if gap { "global avg pool" } else { "flatten" };
        fd_check(
            what,
            &inputs,
            &|p: &[Vec<f64>]| rows_loss(p, gap, false),
            1e-8,
        );
        let (a, b) = (
            rows_loss(&inputs, gap, false),
            rows_loss(&inputs, gap, true),
        );
        assert_close(&format!("{what} vs composed"), &[a.0], &[b.0], 1e-13);
        assert_close(
            &format!("{what} grads vs composed"),
            &a.1[0],
            &b.1[0],
            1e-13,
        );
    }
}

#[test]
fn gap_and_flatten_give_nchw_rows() {
    let dev = Cpu::default();
    let d = POOL_DIMS;
    let img = uniform(&mut rng(700), d.len());
    let x = layers::images_to_activation(&dev, &img, d.b, d.c, d.h, d.w).unwrap();
    let rows = layers::try_flatten(x.clone()).unwrap();
    assert_eq!(*rows.shape(), (d.b, d.c * d.h * d.w));
    assert_eq!(rows.as_vec(), img);
    let gap = layers::try_global_avg_pool(x).unwrap().as_vec();
    let s = d.h * d.w;
    for b in 0..d.b {
        for c in 0..d.c {
            let want = img[(b * d.c + c) * s..(b * d.c + c + 1) * s]
                .iter()
                .sum::<f64>()
                / s as f64;
            assert!((gap[b * d.c + c] - want).abs() < 1e-14);
        }
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dev = Cpu::default();
    let x: Act = dev.zeros_like(&(3, 4, 4, 2));
    let w = dev.zeros_like(&(4, 2, 3, 3));
    let win = Window {
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    let e = layers::try_conv2d(x.clone(), &w, None, win, 1).unwrap_err();
    assert!(e.to_string().contains("weight"), "{e}");
    let e = layers::try_pool2d(
        x.clone(),
        Window {
            kernel: 2,
            stride: 1,
            padding: 2,
        },
        PoolKind::Max,
    )
    .unwrap_err();
    assert!(e.to_string().contains("padding"), "{e}");
    let empty: Act = dev.zeros_like(&(3, 4, 4, 0));
    assert!(layers::try_flatten(empty).is_err());
    let mut bn = layers::BatchNormRelu2d::<2, f64, Cpu>::build(&dev);
    assert!(bn
        .try_forward_train(x.leaky_trace())
        .unwrap_err()
        .to_string()
        .contains("2 channels"));
    let conv = layers::Conv2d::<2, 4, 3, 1, 1, 1, f64, Cpu>::build(&dev);
    assert!(conv
        .try_forward(x)
        .unwrap_err()
        .to_string()
        .contains("2 input channels"));
}
