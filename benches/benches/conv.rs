//! Criterion bench `conv`: groco-dfdx's CNN layers on `Cpu`, f32, batch 256, forward + backward,
//! for the shapes of the small-cnn encoders (28x28 greyscale input):
//! conv3x3 1->32 s1, 32->64 s2, 64->128 s2, 128->128 s2 (each + BN + ReLU), flatten (2048).
//!
//! IDs:
//! - `conv/<in>to<out>_s<stride>_<h>x<w>_b256`: one convolution, `y.sum().backward()` (the
//!   first layer without the input gradient, as in the encoder);
//! - `bn_relu/c<C>_<h>x<w>_b256`: fused train-mode BatchNorm2D + ReLU;
//! - `encoder/small_cnn_b256`: the four conv + BN + ReLU blocks (fused conv + batch norm op,
//!   no input gradient for the first) and the flatten, with a sum-of-squares loss;
//! - `encoder/small_cnn_unfused_b256`: the same with separate conv and batch norm ops.
//!
//! dfdx's CPU cache is on (as in training). Threads: rayon's default (`RAYON_NUM_THREADS`).

use criterion::{criterion_group, criterion_main, Criterion};
use dfdx::prelude::*;
use groco_dfdx::layers::{images_to_activation, Activation, BatchNormRelu2d, Conv2d, Flatten};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const B: usize = 256;

fn random_input(dev: &Cpu, c: usize, h: usize, seed: u64) -> Activation<f32, Cpu> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let img: Vec<f32> = (0..B * c * h * h)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    images_to_activation(dev, &img, B, c, h, h).unwrap()
}

fn bench_conv<const I: usize, const O: usize, const S: usize>(
    c: &mut Criterion,
    dev: &Cpu,
    h: usize,
) {
    let conv = Conv2d::<I, O, 3, S, 1, 1, f32, Cpu>::build(dev);
    let x = random_input(dev, I, h, 1);
    let mut grads = conv.alloc_grads();
    c.bench_function(&format!("conv/{I}to{O}_s{S}_{h}x{h}_b{B}"), |bch| {
        bch.iter(|| {
            let x = x
                .clone()
                .traced(std::mem::replace(&mut grads, Gradients::leaky()));
            // the first layer (1 input channel) reads the images: no input gradient, as in the encoder
            let y = if I == 1 {
                conv.try_forward_no_input_grad(x)
            } else {
                conv.try_forward(x)
            }
            .unwrap();
            let g = y.sum().backward();
            grads = g;
            conv.zero_grads(&mut grads);
        })
    });
}

fn bench_bn<const C: usize>(c: &mut Criterion, dev: &Cpu, h: usize) {
    let mut bn = BatchNormRelu2d::<C, f32, Cpu>::build(dev);
    let x = random_input(dev, C, h, 2);
    let mut grads = bn.alloc_grads();
    c.bench_function(&format!("bn_relu/c{C}_{h}x{h}_b{B}"), |bch| {
        bch.iter(|| {
            let y = bn
                .try_forward_train(
                    x.clone()
                        .traced(std::mem::replace(&mut grads, Gradients::leaky())),
                )
                .unwrap();
            grads = y.sum().backward();
            bn.zero_grads(&mut grads);
        })
    });
}

/// The convolutional part shared by small-cnn and small-cnn-flat.
#[derive(Clone, Debug)]
struct SmallCnn<E: Dtype, D: Storage<E>> {
    c1: Conv2d<1, 32, 3, 1, 1, 1, E, D>,
    b1: BatchNormRelu2d<32, E, D>,
    c2: Conv2d<32, 64, 3, 2, 1, 1, E, D>,
    b2: BatchNormRelu2d<64, E, D>,
    c3: Conv2d<64, 128, 3, 2, 1, 1, E, D>,
    b3: BatchNormRelu2d<128, E, D>,
    c4: Conv2d<128, 128, 3, 2, 1, 1, E, D>,
    b4: BatchNormRelu2d<128, E, D>,
}

impl<E: groco_dfdx::layers::LayerFloat, D: Device<E>> TensorCollection<E, D> for SmallCnn<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = SmallCnn<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                (
                    Self::module("c1", |s| &s.c1, |s| &mut s.c1),
                    Self::module("b1", |s| &s.b1, |s| &mut s.b1),
                    Self::module("c2", |s| &s.c2, |s| &mut s.c2),
                    Self::module("b2", |s| &s.b2, |s| &mut s.b2),
                ),
                (
                    Self::module("c3", |s| &s.c3, |s| &mut s.c3),
                    Self::module("b3", |s| &s.b3, |s| &mut s.b3),
                    Self::module("c4", |s| &s.c4, |s| &mut s.c4),
                    Self::module("b4", |s| &s.b4, |s| &mut s.b4),
                ),
            ),
            |((c1, b1, c2, b2), (c3, b3, c4, b4))| SmallCnn {
                c1,
                b1,
                c2,
                b2,
                c3,
                b3,
                c4,
                b4,
            },
        )
    }
}

fn bench_encoder(c: &mut Criterion, dev: &Cpu, fused: bool) {
    let mut net = SmallCnn::<f32, Cpu>::build(dev);
    let x = random_input(dev, 1, 28, 3);
    let mut grads = net.alloc_grads();
    let id = if fused {
        format!("encoder/small_cnn_b{B}")
    } else {
        format!("encoder/small_cnn_unfused_b{B}")
    };
    c.bench_function(&id, |bch| {
        bch.iter(|| {
            let x = x
                .clone()
                .traced(std::mem::replace(&mut grads, Gradients::leaky()));
            let y = if fused {
                let y = net.c1.try_forward_bn_train(&mut net.b1, x, false).unwrap();
                let y = net.c2.try_forward_bn_train(&mut net.b2, y, true).unwrap();
                let y = net.c3.try_forward_bn_train(&mut net.b3, y, true).unwrap();
                net.c4.try_forward_bn_train(&mut net.b4, y, true).unwrap()
            } else {
                let y = net.c1.try_forward_no_input_grad(x).unwrap();
                let y = net.b1.try_forward_train(y).unwrap();
                let y = net.c2.try_forward(y).unwrap();
                let y = net.b2.try_forward_train(y).unwrap();
                let y = net.c3.try_forward(y).unwrap();
                let y = net.b3.try_forward_train(y).unwrap();
                let y = net.c4.try_forward(y).unwrap();
                net.b4.try_forward_train(y).unwrap()
            };
            let rows = Flatten::<2048>.try_forward(y).unwrap();
            grads = rows.square().mean().backward();
            net.zero_grads(&mut grads);
        })
    });
}

fn benches(c: &mut Criterion) {
    let dev = Cpu::seed_from_u64(0);
    dev.enable_cache();
    bench_conv::<1, 32, 1>(c, &dev, 28);
    bench_conv::<32, 64, 2>(c, &dev, 28);
    bench_conv::<64, 128, 2>(c, &dev, 14);
    bench_conv::<128, 128, 2>(c, &dev, 7);
    bench_bn::<32>(c, &dev, 28);
    bench_bn::<64>(c, &dev, 14);
    bench_bn::<128>(c, &dev, 7);
    bench_encoder(c, &dev, true);
    bench_encoder(c, &dev, false);
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_secs(2));
    targets = benches
}
criterion_main!(group);
