//! The sorting ops on dfdx tensors: compile-time shapes, the two outputs' shared tape, the
//! values-only and soft-rank ops against the full op and finite differences, batches large
//! enough to split over rayon tasks against the core's row calls, and the errors. Random inputs
//! from a fixed seed, overridable with `GROCO_SEED`.

use dfdx::prelude::*;
use groco_core::{Network, Relaxation, SortConfig, Sorter};
use groco_dfdx::loss::{diff_sort, diff_sort_values, soft_rank};
use groco_dfdx::Error;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The test seed: `GROCO_SEED`, or 11.
fn seed() -> u64 {
    groco_testkit::seed_or(11)
}

fn random(rng: &mut ChaCha8Rng, len: usize) -> Vec<f64> {
    (0..len).map(|_| rng.gen_range(-2.0..2.0)).collect()
}

/// The core's forward and VJP, row by row.
fn core_rows(
    cfg: SortConfig<f64>,
    n: usize,
    x: &[f64],
    gs: &[f64],
    gp: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let s = Sorter::try_new(n, cfg).unwrap();
    let mut sc = vec![0.0; s.scratch_len()];
    let (mut y, mut p, mut gx) = (
        vec![0.0; x.len()],
        vec![0.0; x.len() * n],
        vec![0.0; x.len()],
    );
    for r in 0..x.len() / n {
        let (a, q) = (r * n..(r + 1) * n, r * n * n..(r + 1) * n * n);
        s.try_forward(&x[a.clone()], &mut y[a.clone()], &mut p[q.clone()], &mut sc)
            .unwrap();
        s.try_backward(&x[a.clone()], &gs[a.clone()], &gp[q], &mut gx[a], &mut sc)
            .unwrap();
    }
    (y, p, gx)
}

fn close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
            "{what}[{i}] seed={}: {a} vs {b}",
            seed()
        );
    }
}

#[test]
fn compile_time_shapes_and_large_batches_match_the_core() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let dev = Cpu::default();
    let cfg = SortConfig::new(Network::Bitonic, Relaxation::Cauchy, 3.0);
    // (B, Const<7>) with B = 203: several rayon tasks and a partial lane group
    let (b, n) = (203, 7);
    let (x, gs, gp) = (
        random(&mut rng, b * n),
        random(&mut rng, b * n),
        random(&mut rng, b * n * n),
    );
    let xt: Tensor<(usize, Const<7>), f64, Cpu> = dev.tensor_from_vec(x.clone(), (b, Const));
    let (sorted, perm) = diff_sort(xt.leaky_trace(), cfg).unwrap();
    // the output shapes keep the compile-time N
    let _: &(usize, Const<7>) = sorted.shape();
    let _: &(usize, Const<7>, Const<7>) = perm.shape();
    let (y, p, gx) = core_rows(cfg, n, &x, &gs, &gp);
    close("sorted", &sorted.as_vec(), &y);
    close("perm", &perm.as_vec(), &p);
    let gs_t = dev.tensor_from_vec(gs, (b, Const::<7>));
    let gp_t = dev.tensor_from_vec(gp, (b, Const::<7>, Const::<7>));
    let loss = (perm * gp_t).sum::<Rank0, _>() + (sorted * gs_t).sum::<Rank0, _>();
    close("grad_x", &loss.backward().get(&xt).as_vec(), &gx);
    // fully static shape
    let xs: Tensor<Rank2<3, 4>, f32, Cpu> = dev.sample_normal();
    let (s, p) = diff_sort(xs.clone(), SortConfig::default()).unwrap();
    let (_, _): (
        Tensor<Rank2<3, 4>, f32, Cpu>,
        Tensor<Rank3<3, 4, 4>, f32, Cpu>,
    ) = (s.clone(), p.clone());
    let core = Sorter::try_new(4, SortConfig::<f32>::default()).unwrap();
    let (mut y, mut q) = ([0.0f32; 12], [0.0f32; 48]);
    let mut sc = vec![0.0; core.batch_scratch_len(3)];
    core.try_forward_batch(&xs.as_vec(), &mut y, &mut q, &mut sc)
        .unwrap();
    assert_eq!((s.as_vec(), p.as_vec()), (y.to_vec(), q.to_vec()));
}

#[test]
fn perm_alone_carries_the_tape_and_values_alone_match() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let dev = Cpu::default();
    let cfg = SortConfig::new(Network::OddEven, Relaxation::Logistic, 2.0);
    let (b, n) = (5, 6);
    let (x, gs, gp) = (
        random(&mut rng, b * n),
        random(&mut rng, b * n),
        random(&mut rng, b * n * n),
    );
    let xt: Tensor<(usize, usize), f64, Cpu> = dev.tensor_from_vec(x.clone(), (b, n));
    // P only: `sorted` (empty tape) is dropped
    let (_, perm) = diff_sort(xt.leaky_trace(), cfg).unwrap();
    let loss = (perm * dev.tensor_from_vec(gp.clone(), (b, n, n))).sum::<Rank0, _>();
    let (_, _, gx_p) = core_rows(cfg, n, &x, &vec![0.0; b * n], &gp);
    close(
        "grad_x (perm only)",
        &loss.backward().get(&xt).as_vec(),
        &gx_p,
    );
    // values only
    let sorted = diff_sort_values(xt.leaky_trace(), cfg).unwrap();
    let (y, _, gx_s) = core_rows(cfg, n, &x, &gs, &vec![0.0; b * n * n]);
    close("sorted (values op)", &sorted.as_vec(), &y);
    let loss = (sorted * dev.tensor_from_vec(gs, (b, n))).sum::<Rank0, _>();
    close(
        "grad_x (values op)",
        &loss.backward().get(&xt).as_vec(),
        &gx_s,
    );
}

#[test]
fn soft_rank_matches_perm_and_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let dev = Cpu::default();
    let cfg = SortConfig::new(Network::OddEven, Relaxation::Cauchy, 1.5);
    let (b, n) = (70, 5);
    let x = random(&mut rng, b * n);
    let gr = random(&mut rng, b * n);
    let xt: Tensor<(usize, usize), f64, Cpu> = dev.tensor_from_vec(x.clone(), (b, n));
    let ranks = soft_rank(xt.leaky_trace(), cfg).unwrap();
    let (_, p, _) = core_rows(cfg, n, &x, &vec![0.0; b * n], &vec![0.0; b * n * n]);
    let want: Vec<f64> = (0..b * n)
        .map(|bi| {
            (0..n)
                .map(|j| j as f64 * p[(bi / n) * n * n + (bi % n) * n + j])
                .sum()
        })
        .collect();
    close("ranks", &ranks.as_vec(), &want);
    let loss = (ranks * dev.tensor_from_vec(gr.clone(), (b, n))).sum::<Rank0, _>();
    let gx = loss.backward().get(&xt).as_vec();
    let f = |x: &[f64]| -> f64 {
        let r = soft_rank(dev.tensor_from_vec(x.to_vec(), (b, n)), cfg)
            .unwrap()
            .as_vec();
        r.iter().zip(&gr).map(|(a, g)| a * g).sum()
    };
    for i in (0..b * n).step_by(7) {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[i] += 1e-6;
        xm[i] -= 1e-6;
        let fd = (f(&xp) - f(&xm)) / 2e-6;
        assert!(
            (fd - gx[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
            "x[{i}] seed={}: {} vs fd {fd}",
            seed(),
            gx[i]
        );
    }
}

#[test]
fn errors_and_non_finite_upstream_gradients() {
    let dev = Cpu::default();
    let cfg = SortConfig::<f32>::default();
    let x: Tensor<(usize, usize), f32, Cpu> =
        dev.tensor_from_vec(vec![1.0, f32::INFINITY, 0.0, 2.0], (2, 2));
    let e = diff_sort(x, cfg).unwrap_err();
    assert_eq!(
        e.to_string(),
        "diff_sort: x row 0 column 1 is not finite (NaN or ±inf)"
    );
    let empty: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(0, 3));
    assert!(matches!(
        soft_rank(empty, cfg),
        Err(Error::Shape {
            op: "soft_rank",
            ..
        })
    ));
    let x: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(2, 3));
    let bad = SortConfig {
        steepness: 0.0,
        ..cfg
    };
    assert!(matches!(
        diff_sort_values(x.clone(), bad),
        Err(Error::Core {
            op: "diff_sort_values",
            ..
        })
    ));
    // NaN flowing back from downstream: the input gradient is NaN (documented), no panic
    let sorted = diff_sort_values(x.leaky_trace(), cfg).unwrap();
    let nan = dev.tensor_from_vec(vec![f32::NAN; 6], (2, 3));
    let g = (sorted * nan).sum::<Rank0, _>().backward();
    assert!(g.get(&x).as_vec().iter().all(|v| v.is_nan()));
}
