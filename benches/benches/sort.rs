//! Criterion bench `sort`: the groco-core relaxed sort in f32 on random input, one thread.
//!
//! IDs (a contract, `benches/compare_diffsort.py` runs them by name):
//! - `forward/odd_even_cauchy_n11_b1024`: sorted values and P.
//! - `forward_backward/<network>_cauchy_n<n>_b<B>`: the forward with P, then the full VJP
//!   (grad_x from random grad_sorted and grad_P), as two separate calls, the way an autograd
//!   framework runs them.

use criterion::{criterion_group, criterion_main, Criterion};
use groco_core::{Network, Relaxation, SortConfig, Sorter};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Shape {
    network: Network,
    n: usize,
    batch: usize,
}

impl Shape {
    fn id(&self) -> String {
        format!("{}_cauchy_n{}_b{}", self.network, self.n, self.batch)
    }
}

/// Buffers for one shape: inputs random normal-ish, outputs preallocated.
struct Bufs {
    sorter: Sorter<f32>,
    x: Vec<f32>,
    grad_sorted: Vec<f32>,
    grad_perm: Vec<f32>,
    sorted: Vec<f32>,
    perm: Vec<f32>,
    grad_x: Vec<f32>,
    scratch: Vec<f32>,
}

impl Bufs {
    fn new(shape: &Shape) -> Bufs {
        let cfg = SortConfig::new(shape.network, Relaxation::Cauchy, 1.0f32);
        let sorter = Sorter::try_new(shape.n, cfg).expect("valid shape");
        let (n, b) = (shape.n, shape.batch);
        let mut rng = ChaCha8Rng::seed_from_u64(2023);
        let mut rand_vec =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.gen::<f32>() * 2.0 - 1.0).collect() };
        Bufs {
            sorter,
            x: rand_vec(b * n),
            grad_sorted: rand_vec(b * n),
            grad_perm: rand_vec(b * n * n),
            sorted: vec![0.0; b * n],
            perm: vec![0.0; b * n * n],
            grad_x: vec![0.0; b * n],
            scratch: vec![0.0; sorter.batch_scratch_len(b)],
        }
    }

    fn forward(&mut self) {
        self.sorter
            .try_forward_batch(&self.x, &mut self.sorted, &mut self.perm, &mut self.scratch)
            .expect("forward");
    }

    fn backward(&mut self) {
        self.sorter
            .try_backward_batch(
                &self.x,
                &self.grad_sorted,
                &self.grad_perm,
                &mut self.grad_x,
                &mut self.scratch,
            )
            .expect("backward");
    }
}

fn sort_benches(c: &mut Criterion) {
    let gro = Shape {
        network: Network::OddEven,
        n: 11,
        batch: 1024,
    };
    let mut group = c.benchmark_group("forward");
    let mut bufs = Bufs::new(&gro);
    group.bench_function(gro.id(), |b| b.iter(|| bufs.forward()));
    group.finish();

    let shapes = [
        gro,
        Shape {
            network: Network::Bitonic,
            n: 32,
            batch: 256,
        },
        Shape {
            network: Network::Bitonic,
            n: 256,
            batch: 4,
        },
        Shape {
            network: Network::Bitonic,
            n: 1024,
            batch: 1,
        },
    ];
    let mut group = c.benchmark_group("forward_backward");
    for shape in &shapes {
        let mut bufs = Bufs::new(shape);
        group.bench_function(shape.id(), |b| {
            b.iter(|| {
                bufs.forward();
                bufs.backward();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sort_benches);
criterion_main!(benches);
