//! Criterion bench `sort`: the groco-core relaxed sort on random input, one thread, run through
//! `groco-dispatch` (the widest vector ISA the CPU has; `GROCO_ISA=portable|avx2|avx512`
//! narrows it, and the bench prints the one it used).
//!
//! IDs (a contract, `benches/compare_diffsort.py` runs them by name):
//! - `forward/odd_even_cauchy_n11_b1024`: sorted values and P, f32.
//! - `forward_backward/<network>_cauchy_n<n>_b<B>`: the forward with P, then the full VJP
//!   (grad_x from random grad_sorted and grad_P), as two separate calls, the way an autograd
//!   framework runs them, f32.
//! - `forward_backward_f64/<network>_cauchy_n<n>_b<B>`: the same in f64.

use criterion::{criterion_group, criterion_main, Criterion};
use groco_core::{Network, Real, Relaxation, SortConfig, Sorter};
use groco_dispatch::Dispatch;
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
struct Bufs<F> {
    sorter: Sorter<F>,
    x: Vec<F>,
    grad_sorted: Vec<F>,
    grad_perm: Vec<F>,
    sorted: Vec<F>,
    perm: Vec<F>,
    grad_x: Vec<F>,
    scratch: Vec<F>,
}

impl<F: Real> Bufs<F> {
    fn new(shape: &Shape) -> Bufs<F> {
        let cfg = SortConfig::new(shape.network, Relaxation::Cauchy, F::one());
        let sorter = Sorter::try_new(shape.n, cfg).expect("valid shape");
        let (n, b) = (shape.n, shape.batch);
        let mut rng = ChaCha8Rng::seed_from_u64(2023);
        let mut rand_vec = |len: usize| -> Vec<F> {
            (0..len)
                .map(|_| F::from(rng.gen::<f32>() * 2.0 - 1.0).unwrap())
                .collect()
        };
        Bufs {
            sorter,
            x: rand_vec(b * n),
            grad_sorted: rand_vec(b * n),
            grad_perm: rand_vec(b * n * n),
            sorted: vec![F::zero(); b * n],
            perm: vec![F::zero(); b * n * n],
            grad_x: vec![F::zero(); b * n],
            scratch: vec![F::zero(); sorter.batch_scratch_len(b)],
        }
    }

    fn forward(&mut self) {
        let (s, x) = (&self.sorter, &self.x);
        let (y, p, sc) = (&mut self.sorted, &mut self.perm, &mut self.scratch);
        Dispatch::detect()
            .run(
                #[inline(always)]
                || s.try_forward_batch_inlined(x, y, p, sc, Dispatch::detect().transposer()),
            )
            .expect("forward");
    }

    fn backward(&mut self) {
        let (s, x, gs, gp) = (&self.sorter, &self.x, &self.grad_sorted, &self.grad_perm);
        let (gx, sc) = (&mut self.grad_x, &mut self.scratch);
        Dispatch::detect()
            .run(
                #[inline(always)]
                || s.try_backward_batch_inlined(x, gs, gp, gx, sc, Dispatch::detect().transposer()),
            )
            .expect("backward");
    }
}

/// The forward + VJP of every shape, as `<group>/<id>`.
fn forward_backward<F: Real>(c: &mut Criterion, group: &str, shapes: &[Shape]) {
    let mut group = c.benchmark_group(group);
    for shape in shapes {
        let mut bufs = Bufs::<F>::new(shape);
        group.bench_function(shape.id(), |b| {
            b.iter(|| {
                bufs.forward();
                bufs.backward();
            })
        });
    }
    group.finish();
}

fn sort_benches(c: &mut Criterion) {
    eprintln!("groco-dispatch ISA: {}", Dispatch::detect());
    let gro = Shape {
        network: Network::OddEven,
        n: 11,
        batch: 1024,
    };
    let mut group = c.benchmark_group("forward");
    let mut bufs = Bufs::<f32>::new(&gro);
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
    forward_backward::<f32>(c, "forward_backward", &shapes);
    forward_backward::<f64>(c, "forward_backward_f64", &shapes);
}

criterion_group!(benches, sort_benches);
criterion_main!(benches);
