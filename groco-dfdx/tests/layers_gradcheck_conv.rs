//! Convolution against finite differences (f64), a naive direct convolution, and the composed
//! dfdx-op path (what `Cuda` runs); the fused convolution + batch norm op against the two ops
//! and finite differences.

mod layers_util;

use dfdx::prelude::*;
use groco_dfdx::layers::{self, composed, BatchNormAct2d, ConvGeom, Dims, LayerDevice, Window};

#[cfg(feature = "cuda")]
mod cuda_util;
use groco_dfdx::path::{with_cpu_path, CpuPath};
use layers_util::{assert_close, assert_close_floor, fd_check, rng, uniform, weighted_sum};

type Act<D = Cpu, T = NoneTape> = layers::Activation<f64, D, T>;

#[derive(Clone, Copy, Debug)]
struct ConvCase {
    c: usize,
    o: usize,
    k: usize,
    s: usize,
    p: usize,
    g: usize,
    bias: bool,
}

const CONV_CASES: [ConvCase; 7] = [
    ConvCase {
        c: 3,
        o: 4,
        k: 3,
        s: 1,
        p: 1,
        g: 1,
        bias: true,
    },
    ConvCase {
        c: 3,
        o: 4,
        k: 3,
        s: 2,
        p: 1,
        g: 1,
        bias: false,
    },
    ConvCase {
        c: 2,
        o: 3,
        k: 3,
        s: 1,
        p: 0,
        g: 1,
        bias: false,
    },
    ConvCase {
        c: 2,
        o: 2,
        k: 3,
        s: 2,
        p: 0,
        g: 1,
        bias: true,
    },
    ConvCase {
        c: 4,
        o: 4,
        k: 3,
        s: 1,
        p: 1,
        g: 2,
        bias: true,
    },
    ConvCase {
        c: 4,
        o: 6,
        k: 3,
        s: 2,
        p: 1,
        g: 2,
        bias: false,
    },
    ConvCase {
        c: 2,
        o: 3,
        k: 1,
        s: 1,
        p: 0,
        g: 1,
        bias: true,
    },
];

const IN: (usize, usize, usize) = (5, 6, 2); // h, w, b

fn conv_dims(cc: ConvCase) -> (Dims, usize, usize) {
    let d = Dims {
        c: cc.c,
        h: IN.0,
        w: IN.1,
        b: IN.2,
    };
    (d, cc.o * (cc.c / cc.g) * cc.k * cc.k, cc.o)
}

/// Loss and gradients of a convolution on `Cpu`, by the host kernel or the composed path.
fn conv_loss(
    cc: ConvCase,
    inputs: &[Vec<f64>],
    use_composed: bool,
) -> (f64, Vec<Vec<f64>>, Vec<f64>) {
    conv_loss_on(&Cpu::default(), cc, inputs, use_composed)
}

/// Loss and gradients of a convolution on `dev`, by its layer implementation or the composed
/// path.
fn conv_loss_on<D: LayerDevice<f64>>(
    dev: &D,
    cc: ConvCase,
    inputs: &[Vec<f64>],
    use_composed: bool,
) -> (f64, Vec<Vec<f64>>, Vec<f64>) {
    let (d, _, _) = conv_dims(cc);
    let x: Act<D> = dev.tensor_from_vec(inputs[0].clone(), d.shape());
    let w = dev.tensor_from_vec(inputs[1].clone(), (cc.o, cc.c / cc.g, cc.k, cc.k));
    let b = dev.tensor_from_vec(
        inputs.get(2).cloned().unwrap_or_default(),
        (if cc.bias { cc.o } else { 0 },),
    );
    let win = Window {
        kernel: cc.k,
        stride: cc.s,
        padding: cc.p,
    };
    let bias = cc.bias.then_some(&b);
    let y = if use_composed {
        let g = ConvGeom::try_new(d, cc.o, win, cc.g).unwrap();
        composed::conv2d(x.leaky_trace(), &w, bias, &g).unwrap()
    } else {
        layers::try_conv2d(x.leaky_trace(), &w, bias, win, cc.g).unwrap()
    };
    let out = y.retaped::<NoneTape>().as_vec();
    let loss = weighted_sum(dev, y);
    let value = loss.as_vec()[0];
    let grads = loss.backward();
    let mut gs = vec![grads.get(&x).as_vec(), grads.get(&w).as_vec()];
    if cc.bias {
        gs.push(grads.get(&b).as_vec());
    }
    (value, gs, out)
}

fn conv_inputs(cc: ConvCase, salt: u64) -> Vec<Vec<f64>> {
    let mut r = rng(salt);
    let (d, wl, bl) = conv_dims(cc);
    let mut v = vec![uniform(&mut r, d.len()), uniform(&mut r, wl)];
    if cc.bias {
        v.push(uniform(&mut r, bl));
    }
    v
}

/// The convolution's gradients through `Cuda` (feature `cuda`: the recomputing composed path)
/// against finite differences, as on `Cpu`; see `cuda_or_skip`.
#[cfg(feature = "cuda")]
#[test]
fn cuda_conv2d_gradients_match_finite_differences() {
    if let Some(dev) = cuda_util::cuda_or_skip(1, "conv2d gradient checks") {
        for (i, cc) in CONV_CASES.into_iter().enumerate() {
            let inputs = conv_inputs(cc, 100 + i as u64);
            let f = |p: &[Vec<f64>]| {
                let (l, g, _) = conv_loss_on(&dev, cc, p, false);
                (l, g)
            };
            fd_check(&format!("cuda conv2d {cc:?}"), &inputs, &f, 1e-7);
        }
    }
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    for (i, cc) in CONV_CASES.into_iter().enumerate() {
        let inputs = conv_inputs(cc, 100 + i as u64);
        let f = |p: &[Vec<f64>]| {
            let (l, g, _) = conv_loss(cc, p, false);
            (l, g)
        };
        fd_check(&format!("conv2d {cc:?}"), &inputs, &f, 1e-7);
    }
}

/// Direct convolution on NCHW buffers, the textbook definition.
fn naive_conv(
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    d: Dims,
    cc: ConvCase,
) -> (Vec<f64>, usize, usize) {
    let oh = (d.h + 2 * cc.p - cc.k) / cc.s + 1;
    let ow = (d.w + 2 * cc.p - cc.k) / cc.s + 1;
    let (ig, og) = (cc.c / cc.g, cc.o / cc.g);
    let mut out = vec![0.0; d.b * cc.o * oh * ow];
    for bi in 0..d.b {
        for o in 0..cc.o {
            let grp = o / og;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[o]);
                    for ci in 0..ig {
                        let c = grp * ig + ci;
                        for ki in 0..cc.k {
                            for kj in 0..cc.k {
                                let iy = (oy * cc.s + ki) as isize - cc.p as isize;
                                let ix = (ox * cc.s + kj) as isize - cc.p as isize;
                                if iy < 0 || ix < 0 || iy >= d.h as isize || ix >= d.w as isize {
                                    continue;
                                }
                                let xv =
                                    x[((bi * d.c + c) * d.h + iy as usize) * d.w + ix as usize];
                                acc += xv * w[((o * ig + ci) * cc.k + ki) * cc.k + kj];
                            }
                        }
                    }
                    out[((bi * cc.o + o) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    (out, oh, ow)
}

#[test]
fn conv2d_forward_matches_naive_direct_convolution() {
    let dev = Cpu::default();
    for (i, cc) in CONV_CASES.into_iter().enumerate() {
        let mut r = rng(200 + i as u64);
        let d = Dims {
            c: cc.c,
            h: 7,
            w: 6,
            b: 3,
        };
        let x_nchw = uniform(&mut r, d.len());
        let w = uniform(&mut r, cc.o * (cc.c / cc.g) * cc.k * cc.k);
        let b = uniform(&mut r, cc.o);
        let (want, oh, ow) = naive_conv(&x_nchw, &w, cc.bias.then_some(&b[..]), d, cc);
        let x = layers::images_to_activation(&dev, &x_nchw, d.b, d.c, d.h, d.w).unwrap();
        let wt = dev.tensor_from_vec(w, (cc.o, cc.c / cc.g, cc.k, cc.k));
        let bt = dev.tensor_from_vec(b, (cc.o,));
        let win = Window {
            kernel: cc.k,
            stride: cc.s,
            padding: cc.p,
        };
        let y = layers::try_conv2d(x, &wt, cc.bias.then_some(&bt), win, cc.g).unwrap();
        assert_eq!(*y.shape(), (cc.o, oh, ow, d.b));
        assert_close(
            &format!("conv2d forward {cc:?}"),
            &layers::activation_to_images(&y),
            &want,
            1e-13,
        );
    }
}

#[test]
fn conv2d_cpu_kernel_agrees_with_composed_path() {
    for (i, cc) in CONV_CASES.into_iter().enumerate() {
        let inputs = conv_inputs(cc, 300 + i as u64);
        let (l1, g1, y1) = conv_loss(cc, &inputs, false);
        let (l2, g2, y2) = conv_loss(cc, &inputs, true);
        assert_close(&format!("conv2d output {cc:?}"), &y1, &y2, 1e-13);
        assert_close(&format!("conv2d loss {cc:?}"), &[l1], &[l2], 1e-13);
        for (a, b) in g1.iter().zip(&g2) {
            assert_close(&format!("conv2d grads {cc:?}"), a, b, 1e-13);
        }
    }
}

#[test]
fn conv2d_without_input_grad_keeps_parameter_gradients() {
    let dev = Cpu::default();
    let cc = CONV_CASES[0];
    let inputs = conv_inputs(cc, 800);
    let (d, _, _) = conv_dims(cc);
    let x: Act = dev.tensor_from_vec(inputs[0].clone(), d.shape());
    let w = dev.tensor_from_vec(inputs[1].clone(), (cc.o, cc.c, cc.k, cc.k));
    let b = dev.tensor_from_vec(inputs[2].clone(), (cc.o,));
    let win = Window {
        kernel: cc.k,
        stride: cc.s,
        padding: cc.p,
    };
    let y = layers::try_conv2d_no_input_grad(x.leaky_trace(), &w, Some(&b), win, 1).unwrap();
    let grads = weighted_sum(&dev, y).backward();
    let (_, full, _) = conv_loss(cc, &inputs, false);
    assert_close(
        "weight grad without input grad",
        &grads.get(&w).as_vec(),
        &full[1],
        1e-14,
    );
    assert_close(
        "bias grad without input grad",
        &grads.get(&b).as_vec(),
        &full[2],
        1e-14,
    );
}

/// conv (`CONV_CASES` with 4 output channels or fewer padded to that) then train-mode batch
/// norm over its output, fused or as two ops. Returns the loss, gradients (x, w, [b], γ, β) and
/// running statistics.
fn conv_bn_loss<const O: usize, const RELU: bool>(
    cc: ConvCase,
    inputs: &[Vec<f64>],
    fused: bool,
) -> (f64, Vec<Vec<f64>>, Vec<f64>) {
    assert_eq!(cc.o, O);
    let dev = Cpu::default();
    let (d, _, _) = conv_dims(cc);
    let x: Act = dev.tensor_from_vec(inputs[0].clone(), d.shape());
    let w = dev.tensor_from_vec(inputs[1].clone(), (cc.o, cc.c / cc.g, cc.k, cc.k));
    let b = dev.tensor_from_vec(
        if cc.bias { inputs[2].clone() } else { vec![] },
        (if cc.bias { cc.o } else { 0 },),
    );
    let bias = cc.bias.then_some(&b);
    let mut bn = BatchNormAct2d::<O, RELU, f64, Cpu>::build(&dev);
    let last = inputs.len();
    bn.scale.copy_from(&inputs[last - 2]);
    bn.bias.copy_from(&inputs[last - 1]);
    let win = Window {
        kernel: cc.k,
        stride: cc.s,
        padding: cc.p,
    };
    let y = if fused {
        layers::try_conv2d_batch_norm_train(
            x.leaky_trace(),
            &w,
            bias,
            win,
            cc.g,
            bn.params(),
            RELU,
            true,
        )
        .unwrap()
    } else {
        let z = layers::try_conv2d(x.leaky_trace(), &w, bias, win, cc.g).unwrap();
        bn.try_forward_train(z).unwrap()
    };
    let loss = weighted_sum(&dev, y);
    let value = loss.array();
    let grads = loss.backward();
    let mut gs = vec![grads.get(&x).as_vec(), grads.get(&w).as_vec()];
    if cc.bias {
        gs.push(grads.get(&b).as_vec());
    }
    gs.push(grads.get(&bn.scale).as_vec());
    gs.push(grads.get(&bn.bias).as_vec());
    (
        value,
        gs,
        [bn.running_mean.as_vec(), bn.running_var.as_vec()].concat(),
    )
}

fn conv_bn_inputs(cc: ConvCase, salt: u64) -> Vec<Vec<f64>> {
    let mut v = conv_inputs(cc, salt);
    let mut r = rng(salt + 1);
    v.push(
        uniform(&mut r, cc.o)
            .iter()
            .map(|g| 1.0 + 0.5 * g)
            .collect(),
    );
    v.push(uniform(&mut r, cc.o));
    v
}

#[test]
fn fused_conv_batch_norm_matches_the_two_ops_and_finite_differences() {
    for (i, cc) in CONV_CASES
        .into_iter()
        .enumerate()
        .filter(|(_, cc)| cc.o == 4)
    {
        let inputs = conv_bn_inputs(cc, 900 + i as u64);
        for relu in [true, false] {
            let run = |p: &[Vec<f64>], fused: bool| {
                if relu {
                    conv_bn_loss::<4, true>(cc, p, fused)
                } else {
                    conv_bn_loss::<4, false>(cc, p, fused)
                }
            };
            let (a, b) = (run(&inputs, true), run(&inputs, false));
            let what = format!("conv+bn relu={relu} {cc:?}");
            assert_close(&format!("{what} loss"), &[a.0], &[b.0], 1e-13);
            for (k, (x, y)) in a.1.iter().zip(&b.1).enumerate() {
                assert_close(&format!("{what} grad {k}"), x, y, 1e-12);
            }
            assert_close(&format!("{what} running stats"), &a.2, &b.2, 1e-14);
            if i == 0 {
                fd_check(
                    &what,
                    &inputs,
                    &|p: &[Vec<f64>]| {
                        let (l, g, _) = run(p, true);
                        (l, g)
                    },
                    1e-7,
                );
            }
        }
    }
}

/// The recomputed conv + batch norm block that `Cuda` runs (`CpuPath::Composed` on `Cpu`):
/// the same loss, gradients and running statistics as the host's fused kernel.
#[test]
fn recomputed_conv_batch_norm_block_matches_the_fused_kernel() {
    for (i, cc) in CONV_CASES
        .into_iter()
        .enumerate()
        .filter(|(_, cc)| cc.o == 4)
    {
        let inputs = conv_bn_inputs(cc, 950 + i as u64);
        for relu in [true, false] {
            let run = || {
                if relu {
                    conv_bn_loss::<4, true>(cc, &inputs, true)
                } else {
                    conv_bn_loss::<4, false>(cc, &inputs, true)
                }
            };
            let host = run();
            let composed = with_cpu_path(CpuPath::Composed, run);
            let what = format!("recomputed conv+bn relu={relu} {cc:?}");
            assert_close(&format!("{what} loss"), &[composed.0], &[host.0], 1e-12);
            // a conv bias before batch norm has gradient 0 up to rounding: on the weights' scale
            let floor = host.1[1].iter().fold(1e-12f64, |m, v| m.max(v.abs()));
            for (k, (x, y)) in composed.1.iter().zip(&host.1).enumerate() {
                assert_close_floor(&format!("{what} grad {k}"), x, y, 1e-10, floor);
            }
            assert_close(
                &format!("{what} running stats"),
                &composed.2,
                &host.2,
                1e-12,
            );
        }
    }
}
