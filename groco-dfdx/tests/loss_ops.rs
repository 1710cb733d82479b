//! The loss ops through dfdx's tape: finite differences of the whole loss (f64), f32 against
//! f64, how the ops sit on a tape (chained inputs, scaled outputs, a tensor used twice), and
//! every error. Random inputs come from a fixed seed, overridable with `GROCO_SEED` (printed in
//! every failure message).

use dfdx::prelude::*;
use groco_dfdx::loss::{groco_loss, nt_xent, GrocoConfig, Network, Relaxation};
use groco_dfdx::Error;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The test seed: `GROCO_SEED`, or 7.
fn seed() -> u64 {
    groco_testkit::seed_or(7)
}

/// V views of (B, D) whose rows share a base (so positives are similar) with varied norms.
fn views(rng: &mut ChaCha8Rng, nv: usize, b: usize, d: usize) -> Vec<Vec<f64>> {
    let base: Vec<f64> = (0..b * d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    (0..nv)
        .map(|_| {
            let mut v: Vec<f64> = base
                .iter()
                .map(|x| x + 0.5 * rng.gen_range(-1.0..1.0))
                .collect();
            for row in v.chunks_mut(d) {
                let s = 10f64.powf(rng.gen_range(-1.0..1.0));
                row.iter_mut().for_each(|x| *x *= s);
            }
            v
        })
        .collect()
}

type T2<F, Tp = NoneTape> = Tensor<(usize, usize), F, Cpu, Tp>;

fn tensors<F: Dtype + num_traits::Float>(dev: &Cpu, vs: &[Vec<f64>], d: usize) -> Vec<T2<F>> {
    vs.iter()
        .map(|v| {
            dev.tensor_from_vec(
                v.iter().map(|&x| F::from(x).unwrap()).collect(),
                (v.len() / d, d),
            )
        })
        .collect()
}

/// The loss and its gradients (f64) of `loss` applied to `vs`.
fn loss_and_grads(
    vs: &[Vec<f64>],
    d: usize,
    loss: impl Fn(
        Vec<T2<f64, OwnedTape<f64, Cpu>>>,
    ) -> Result<Tensor<Rank0, f64, Cpu, OwnedTape<f64, Cpu>>, Error>,
) -> (f64, Vec<Vec<f64>>) {
    let dev = Cpu::default();
    let xs = tensors::<f64>(&dev, vs, d);
    let l = loss(xs.iter().map(|x| x.leaky_trace()).collect()).unwrap();
    let value = l.array();
    let g = l.backward();
    (value, xs.iter().map(|x| g.get(x).as_vec()).collect())
}

/// Central differences of `f` at `vs` against `grads`, every coordinate.
fn check_fd(ctx: &str, vs: &[Vec<f64>], grads: &[Vec<f64>], f: impl Fn(&[Vec<f64>]) -> f64) {
    let h = 1e-6;
    for (v, gv) in grads.iter().enumerate() {
        for i in 0..gv.len() {
            let (mut p, mut m) = (vs.to_vec(), vs.to_vec());
            p[v][i] += h;
            m[v][i] -= h;
            let fd = (f(&p) - f(&m)) / (2.0 * h);
            assert!(
                (fd - gv[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                "{ctx} seed={}: view {v} [{i}]: {} vs fd {fd}",
                seed(),
                gv[i]
            );
        }
    }
}

fn groco_value(vs: &[Vec<f64>], d: usize, cfg: GrocoConfig) -> f64 {
    groco_loss(tensors::<f64>(&Cpu::default(), vs, d), cfg)
        .unwrap()
        .array()
}

#[test]
fn groco_gradient_matches_finite_differences_without_stop_grad() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    for (nv, p, b, k, net) in [
        (2, 2, 6, 3, Network::OddEven),
        (3, 2, 8, 4, Network::Bitonic),
        (3, 3, 5, 4, Network::OddEven),
    ] {
        let d = 5;
        let vs = views(&mut rng, nv, b, d);
        let cfg = GrocoConfig {
            topk_neg: k,
            steepness: 2.0,
            network: net,
            n_pos_augs: Some(p),
            stop_grad: false,
            ..Default::default()
        };
        let (value, grads) = loss_and_grads(&vs, d, |x| groco_loss(x, cfg));
        assert!(
            (value - groco_value(&vs, d, cfg)).abs() < 1e-14,
            "taped and untaped losses differ"
        );
        check_fd(
            &format!("groco V={nv} P={p} B={b} k={k} {net}"),
            &vs,
            &grads,
            |x| groco_value(x, d, cfg),
        );
    }
}

#[test]
fn groco_stop_grad_changes_the_gradient_not_the_loss() {
    // (The stop-grad gradient itself is checked against PyTorch by the groco fixtures, whose
    // generator checks it against finite differences of the anchor losses with the far side
    // frozen.)
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let (b, d) = (6, 4);
    let vs = views(&mut rng, 2, b, d);
    let base = GrocoConfig {
        topk_neg: 2,
        ..Default::default()
    };
    let (l_sg, g_sg) = loss_and_grads(&vs, d, |x| groco_loss(x, base));
    let (l_full, g_full) = loss_and_grads(&vs, d, |x| {
        groco_loss(
            x,
            GrocoConfig {
                stop_grad: false,
                ..base
            },
        )
    });
    assert_eq!(l_sg, l_full, "stop_grad must not change the loss");
    let diff: f64 = g_sg
        .iter()
        .flatten()
        .zip(g_full.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(diff > 1e-6, "stop_grad changed nothing (seed {})", seed());
}

/// Batches over several of the host path's 128-row Gram panels (with a partial last panel and
/// a partial last group of 16 rows), where its top-k reads candidates across rows: the host
/// path and the device-resident path (its own top-k, composed of dfdx ops) agree, in f64.
#[test]
fn groco_host_and_resident_paths_agree_across_gram_panels() {
    use groco_dfdx::path::{with_cpu_path, CpuPath};
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    for (b, k, nv) in [(300, 10, 2), (263, 37, 3)] {
        let d = 8;
        let vs = views(&mut rng, nv, b, d);
        let cfg = GrocoConfig {
            topk_neg: k,
            ..GrocoConfig::default()
        };
        let run = |path| with_cpu_path(path, || loss_and_grads(&vs, d, |x| groco_loss(x, cfg)));
        let (host, resident) = (run(CpuPath::Native), run(CpuPath::Composed));
        let ctx = format!("seed {} b={b} k={k} views={nv}", seed());
        assert!(
            (host.0 - resident.0).abs() <= 1e-12 * host.0.abs(),
            "{ctx}: loss {} vs {}",
            host.0,
            resident.0
        );
        for (gh, gr) in host.1.iter().zip(&resident.1) {
            let scale = gh.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{ctx}: zero gradient");
            for (i, (x, y)) in gh.iter().zip(gr).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-10 * scale,
                    "{ctx}: grad[{i}] {x} vs {y}"
                );
            }
        }
    }
}

#[test]
fn groco_f32_agrees_with_f64_at_training_shape() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let (b, d) = (96, 32);
    let vs = views(&mut rng, 2, b, d);
    let cfg = GrocoConfig::default();
    let dev = Cpu::default();
    let x64 = tensors::<f64>(&dev, &vs, d);
    let x32 = tensors::<f32>(&dev, &vs, d);
    let l64 = groco_loss(x64.iter().map(|x| x.leaky_trace()).collect::<Vec<_>>(), cfg).unwrap();
    let l32 = groco_loss(x32.iter().map(|x| x.leaky_trace()).collect::<Vec<_>>(), cfg).unwrap();
    assert!(
        (l64.array() - l32.array() as f64).abs() < 1e-5,
        "seed {}: {} vs {}",
        seed(),
        l64.array(),
        l32.array()
    );
    let (g64, g32) = (l64.backward(), l32.backward());
    for (a, b) in x64.iter().zip(&x32) {
        let (ga, gb) = (g64.get(a).as_vec(), g32.get(b).as_vec());
        let scale = ga.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in ga.iter().zip(&gb) {
            assert!(
                (x - *y as f64).abs() <= 1e-3 * scale,
                "seed {}: {x} vs {y} (scale {scale})",
                seed()
            );
        }
    }
}

#[test]
fn nt_xent_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    for (b, d, t) in [(1, 3, 0.5), (4, 6, 0.1), (7, 3, 1.0)] {
        let vs = views(&mut rng, 2, b, d);
        let value = |x: &[Vec<f64>]| {
            let t2 = tensors::<f64>(&Cpu::default(), x, d);
            nt_xent([t2[0].clone(), t2[1].clone()], t).unwrap().array()
        };
        let (l, grads) = loss_and_grads(&vs, d, |x| {
            let mut it = x.into_iter();
            nt_xent([it.next().unwrap(), it.next().unwrap()], t)
        });
        assert!((l - value(&vs)).abs() < 1e-14);
        check_fd(&format!("nt_xent B={b} D={d} t={t}"), &vs, &grads, value);
    }
}

#[test]
fn losses_sit_on_the_tape_like_any_op() {
    let mut rng = ChaCha8Rng::seed_from_u64(seed());
    let (b, d) = (5, 3);
    let vs = views(&mut rng, 2, b, d);
    let cfg = GrocoConfig {
        topk_neg: 2,
        stop_grad: false,
        ..Default::default()
    };
    let (_, g) = loss_and_grads(&vs, d, |x| groco_loss(x, cfg));
    // upstream op (×2) and downstream op (×3): chain rule through both
    let (_, g_chain) = loss_and_grads(&vs, d, |x| {
        let doubled: Vec<_> = x.into_iter().map(|t| t * 2.0).collect();
        groco_loss(doubled, cfg).map(|l| l * 3.0)
    });
    // the loss is scale-invariant in each row (cosine), so d/dx of L(2x) = 2·L'(2x) = L'(x)
    for (a, c) in g.iter().flatten().zip(g_chain.iter().flatten()) {
        assert!((3.0 * a - c).abs() < 1e-12 * (1.0 + a.abs()), "{a} vs {c}");
    }
    // one tensor as both views: the two views' gradients accumulate on it
    let dev = Cpu::default();
    let x = tensors::<f64>(&dev, &vs[..1], d).remove(0);
    let y = x.leaky_trace();
    let l = groco_loss([y.with_empty_tape(), y], cfg).unwrap();
    let g_same = l.backward().get(&x).as_vec();
    let (_, g_two) = loss_and_grads(&[vs[0].clone(), vs[0].clone()], d, |x| groco_loss(x, cfg));
    for ((s, a), b2) in g_same.iter().zip(&g_two[0]).zip(&g_two[1]) {
        assert!((s - (a + b2)).abs() < 1e-12, "{s} vs {a} + {b2}");
    }
}

#[test]
fn errors_name_the_problem() {
    let dev = Cpu::default();
    let cfg = GrocoConfig {
        topk_neg: 3,
        ..Default::default()
    };
    let x: T2<f32> = dev.sample_normal_like(&(4, 8));
    let y: T2<f32> = dev.sample_normal_like(&(5, 8));
    let err = |r: Result<Tensor<Rank0, f32, Cpu>, Error>| r.unwrap_err();
    assert!(matches!(
        err(groco_loss([x.clone()], cfg)),
        Error::Config {
            field: "views",
            value: 1,
            ..
        }
    ));
    assert!(matches!(
        err(groco_loss(Vec::<T2<f32>>::new(), cfg)),
        Error::Config {
            field: "views",
            value: 0,
            ..
        }
    ));
    let e = err(groco_loss([x.clone(), y.clone()], cfg));
    assert!(
        matches!(
            e,
            Error::Shape {
                op: "groco_loss",
                ..
            }
        ) && e.to_string().contains("(5, 8)"),
        "{e}"
    );
    for k in [0, 4] {
        let e = err(groco_loss(
            [x.clone(), x.clone()],
            GrocoConfig { topk_neg: k, ..cfg },
        ));
        assert!(
            matches!(
                e,
                Error::Config {
                    field: "topk_neg",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("B - 1"), "{e}");
    }
    for p in [1, 3] {
        let e = err(groco_loss(
            [x.clone(), x.clone()],
            GrocoConfig {
                n_pos_augs: Some(p),
                ..cfg
            },
        ));
        assert!(
            matches!(
                e,
                Error::Config {
                    field: "n_pos_augs",
                    ..
                }
            ),
            "{e}"
        );
    }
    let e = err(groco_loss(
        [x.clone(), x.clone()],
        GrocoConfig {
            steepness: -1.0,
            ..cfg
        },
    ));
    assert!(
        matches!(e, Error::Core { .. }) && e.to_string().contains("steepness"),
        "{e}"
    );
    let mut bad = x.as_vec();
    bad[2 * 8 + 5] = f32::NAN;
    let nan: T2<f32> = dev.tensor_from_vec(bad, (4, 8));
    let e = err(groco_loss([x.clone(), nan.clone()], cfg));
    assert_eq!(
        e.to_string(),
        "groco_loss: views[1] row 2 column 5 is not finite (NaN or ±inf)"
    );
    let e = err(nt_xent([nan, x.clone()], 0.5));
    assert!(matches!(e, Error::NonFinite { op: "nt_xent", .. }), "{e}");
    for t in [0.0, -1.0, f64::NAN] {
        let e = err(nt_xent([x.clone(), x.clone()], t));
        assert!(
            matches!(
                e,
                Error::InvalidValue {
                    field: "temperature",
                    ..
                }
            ),
            "{e}"
        );
    }
    let e = err(nt_xent([x.clone(), y], 0.5));
    assert!(matches!(e, Error::Shape { op: "nt_xent", .. }), "{e}");
    let empty: T2<f32> = dev.zeros_like(&(0, 8));
    assert!(matches!(
        err(nt_xent([empty.clone(), empty], 0.5)),
        Error::Shape { .. }
    ));
    let _ = Relaxation::Cauchy; // re-exported for configs
}
