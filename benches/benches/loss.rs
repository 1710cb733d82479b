//! Criterion bench `loss`: the dfdx loss ops of groco-dfdx, forward and backward of the whole
//! loss on `Cpu` in f32 (rayon's default thread pool: every core), from two views (B, 128) that
//! share a base (as augmented views do) with row norms spread over two decades.
//!
//! IDs (`benches/torch_losses.py` times the torch reference on the same shapes):
//! - `groco/v2_b256_d128_k10`, `groco/v2_b1024_d128_k10`: `groco_loss`, default settings
//!   (odd-even, cauchy, steepness 1, stop-grad), k = 10.
//! - `nt_xent/v2_b256_d128`: `nt_xent` at temperature 0.5.

use criterion::{criterion_group, criterion_main, Criterion};
use dfdx::prelude::*;
use groco_dfdx::loss::{groco_loss, nt_xent, GrocoConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type View = Tensor<(usize, Const<128>), f32, Cpu>;

fn views(dev: &Cpu, b: usize) -> [View; 2] {
    let mut rng = ChaCha8Rng::seed_from_u64(2023);
    let base: Vec<f32> = (0..b * 128).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut view = || {
        let mut v: Vec<f32> = base
            .iter()
            .map(|x| x + 0.5 * rng.gen_range(-1.0f32..1.0))
            .collect();
        for row in v.chunks_mut(128) {
            let s = 10f32.powf(rng.gen_range(-1.0..1.0));
            row.iter_mut().for_each(|x| *x *= s);
        }
        dev.tensor_from_vec(v, (b, Const))
    };
    [view(), view()]
}

fn loss_benches(c: &mut Criterion) {
    let dev = Cpu::default();
    dev.enable_cache();
    let mut g = c.benchmark_group("groco");
    for b in [256, 1024] {
        let [x1, x2] = views(&dev, b);
        g.bench_function(format!("v2_b{b}_d128_k10"), |bench| {
            bench.iter(|| {
                let loss = groco_loss([x1.leaky_trace(), x2.leaky_trace()], GrocoConfig::default())
                    .expect("loss");
                loss.backward()
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("nt_xent");
    let [x1, x2] = views(&dev, 256);
    g.bench_function("v2_b256_d128", |bench| {
        bench.iter(|| {
            nt_xent([x1.leaky_trace(), x2.leaky_trace()], 0.5)
                .expect("loss")
                .backward()
        })
    });
    g.finish();
}

criterion_group!(benches, loss_benches);
criterion_main!(benches);
