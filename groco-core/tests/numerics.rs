//! Numerical robustness through the public API: every [`Sorter`] call and
//! the [`GrocoRowLoss`] stay finite (and in range) for |x| up to 1e30 and steepness up to 1e4,
//! in f32 and f64, over a seeded random sweep (seed from `GROCO_SEED`, printed on failure) and
//! edge cases; and `logistic_phi` has finite gradients on exact ties at large steepness. Precision,
//! f32 against f64, is in `precision.rs`.

use groco_core::{GrocoRowLoss, Network, Real, Relaxation, SortConfig, Sorter};
use groco_testkit::{for_f32_f64, seed, Rng};

fn cast<F: Real>(v: &[f64]) -> Vec<F> {
    v.iter().map(|&x| F::from(x).unwrap()).collect()
}

fn to64<F: Real>(v: &[F]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64().unwrap()).collect()
}

/// `Err` naming the first non-finite element of `v`.
fn finite(what: &str, v: &[f64]) -> Result<(), String> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(format!("{what}[{i}] = {}", v[i])),
        None => Ok(()),
    }
}

/// Runs every `Sorter` call (single row and a batch of `x`'s 8 rotations, which takes the
/// lane path for n ≤ 64) on `x` with random upstream gradients. Checks that each succeeds,
/// every output is finite, the sorted values lie in [min x, max x] and the soft ranks in
/// [0, n − 1] (up to rounding).
fn sorter_stays_finite<F: Real>(cfg: SortConfig<F>, x: &[F], rng: &mut Rng) -> Result<(), String> {
    let n = x.len();
    let s = Sorter::try_new(n, cfg).map_err(|e| format!("try_new: {e}"))?;
    let gs: Vec<F> = cast(&(0..n).map(|_| rng.normal()).collect::<Vec<_>>());
    let gp: Vec<F> = cast(&(0..n * n).map(|_| rng.normal()).collect::<Vec<_>>());
    let (mut y, mut p, mut gx) = (vec![F::nan(); n], vec![F::nan(); n * n], vec![F::nan(); n]);
    let rows = 8;
    let mut sc = vec![F::nan(); s.batch_scratch_len(rows).max(s.ranks_scratch_len())];
    fn e(what: &'static str) -> impl Fn(groco_core::Error) -> String {
        move |e| format!("{what}: {e}")
    }

    s.try_sort_values(x, &mut y, &mut [])
        .map_err(e("sort_values"))?;
    let (x64, y64) = (to64(x), to64(&y));
    finite("sort_values", &y64)?;
    let lo = x64.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = x64.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let slack = 1e-5 * lo.abs().max(hi.abs());
    if let Some(v) = y64.iter().find(|&&v| v < lo - slack || v > hi + slack) {
        return Err(format!("sorted value {v} outside [{lo}, {hi}]"));
    }
    s.try_forward(x, &mut y, &mut p, &mut sc)
        .map_err(e("forward"))?;
    finite("forward sorted", &to64(&y))?;
    finite("forward perm", &to64(&p))?;
    if let Some(v) = to64(&p)
        .iter()
        .find(|&&v| !(-1e-4..=1.0 + 1e-4).contains(&v))
    {
        return Err(format!("P entry {v} outside [0, 1]"));
    }
    s.try_backward(x, &gs, &gp, &mut gx, &mut sc)
        .map_err(e("backward"))?;
    finite("backward grad_x", &to64(&gx))?;
    s.try_soft_ranks(x, &mut y, &mut sc)
        .map_err(e("soft_ranks"))?;
    let ranks = to64(&y);
    finite("soft_ranks", &ranks)?;
    let top = (n - 1) as f64 * (1.0 + 1e-4) + 1e-4;
    if let Some(v) = ranks.iter().find(|&&v| !(-1e-4..=top).contains(&v)) {
        return Err(format!("soft rank {v} outside [0, {}]", n - 1));
    }
    s.try_soft_ranks_backward(x, &gs, &mut gx, &mut sc)
        .map_err(e("soft_ranks_backward"))?;
    finite("soft_ranks_backward grad_x", &to64(&gx))?;

    let xb: Vec<F> = (0..rows)
        .flat_map(|r| (0..n).map(move |i| x[(i + r) % n]))
        .collect();
    let gsb: Vec<F> = (0..rows).flat_map(|_| gs.iter().copied()).collect();
    let gpb: Vec<F> = (0..rows).flat_map(|_| gp.iter().copied()).collect();
    let (mut yb, mut pb, mut gxb) = (
        vec![F::nan(); rows * n],
        vec![F::nan(); rows * n * n],
        vec![F::nan(); rows * n],
    );
    s.try_forward_batch(&xb, &mut yb, &mut pb, &mut sc)
        .map_err(e("forward_batch"))?;
    finite("forward_batch sorted", &to64(&yb))?;
    finite("forward_batch perm", &to64(&pb))?;
    s.try_backward_batch(&xb, &gsb, &gpb, &mut gxb, &mut sc)
        .map_err(e("backward_batch"))?;
    finite("backward_batch grad_x", &to64(&gxb))
}

/// Runs the GroCo row loss (loss alone and with gradient) on positives `pos` and negatives
/// `neg` keeping the top `k`; checks the loss is finite and ≥ 0 and the gradients finite.
fn groco_stays_finite<F: Real>(
    cfg: SortConfig<F>,
    pos: &[F],
    neg: &[F],
    k: usize,
) -> Result<(), String> {
    let l = GrocoRowLoss::try_new(pos.len(), neg.len(), k, cfg).map_err(|e| format!("{e}"))?;
    let mut sc = vec![F::nan(); l.scratch_len()];
    let (mut gp, mut gn) = (vec![F::nan(); pos.len()], vec![F::nan(); neg.len()]);
    let loss = l
        .try_loss_and_grad(pos, neg, &mut gp, &mut gn, &mut sc)
        .map_err(|e| format!("loss_and_grad: {e}"))?;
    let loss2 = l
        .try_loss(pos, neg, &mut sc)
        .map_err(|e| format!("loss: {e}"))?;
    let loss = loss.to_f64().unwrap();
    if !(loss.is_finite() && loss >= 0.0) || loss != loss2.to_f64().unwrap() {
        return Err(format!("loss {loss} (loss alone {loss2:?})"));
    }
    finite("grad_pos", &to64(&gp))?;
    finite("grad_neg", &to64(&gn))
}

fn configs<F: Real>(steepness: f64) -> impl Iterator<Item = SortConfig<F>> {
    let s = F::from(steepness).unwrap();
    Network::ALL.into_iter().flat_map(move |net| {
        Relaxation::ALL
            .into_iter()
            .map(move |r| SortConfig::new(net, r, s))
    })
}

/// Edge-case rows of length n and scale m (|x| ≤ m).
fn edge_rows(n: usize, m: f64, rng: &mut Rng) -> Vec<(&'static str, Vec<f64>)> {
    let ramp = |i: usize| {
        if n == 1 {
            0.0
        } else {
            m * (2.0 * i as f64 / (n - 1) as f64 - 1.0)
        }
    };
    vec![
        ("all equal 0", vec![0.0; n]),
        ("all equal m", vec![m; n]),
        ("all equal -m", vec![-m; n]),
        ("all equal 1", vec![1.0; n]),
        (
            "random signs of m",
            (0..n)
                .map(|_| if rng.next_u64() & 1 == 0 { m } else { -m })
                .collect(),
        ),
        (
            "alternating",
            (0..n).map(|i| if i % 2 == 0 { m } else { -m }).collect(),
        ),
        ("sorted", (0..n).map(ramp).collect()),
        ("reversed", (0..n).rev().map(ramp).collect()),
        (
            "m and near ties at 1",
            (0..n)
                .map(|i| {
                    if i % 3 == 0 {
                        m
                    } else {
                        1.0 + (i as f64) * 1e-7
                    }
                })
                .collect(),
        ),
        ("tiny", (0..n).map(|i| (i as f64 - 1.5) * 1e-38).collect()),
    ]
}

const EDGE_SIZES: [usize; 6] = [1, 2, 3, 8, 17, 33];
const EDGE_STEEPNESS: [f64; 4] = [1e-3, 1.0, 100.0, 1e4];
const EDGE_SCALES: [f64; 3] = [1.0, 1e15, 1e30];

fn sorter_edge_cases<F: Real>() {
    let mut rng = Rng::new(1);
    let mut failures = Vec::new();
    for steep in EDGE_STEEPNESS {
        for cfg in configs::<F>(steep) {
            for n in EDGE_SIZES {
                for m in EDGE_SCALES {
                    for (name, x) in edge_rows(n, m, &mut rng) {
                        if let Err(msg) = sorter_stays_finite(cfg, &cast::<F>(&x), &mut rng) {
                            failures.push(format!(
                                "{} {} s={steep:e} n={n} {name} (m={m:e}): {msg}",
                                cfg.network, cfg.relaxation
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures ({}), e.g.\n{}",
        failures.len(),
        core::any::type_name::<F>(),
        failures[..failures.len().min(20)].join("\n")
    );
}

// tests `sorter_edge_cases::f32` and `sorter_edge_cases::f64`
for_f32_f64!(sorter_edge_cases);

/// Random rows: n in 1..=40, scale 10^U(−3, 30), steepness 10^U(−3, 4), sometimes with
/// duplicated entries (exact ties).
fn sorter_random_sweep<F: Real>(salt: u64, cases: usize) {
    let mut rng = Rng::new(salt);
    let mut failures = Vec::new();
    for case in 0..cases {
        let net = rng.pick(&Network::ALL);
        let relax = rng.pick(&Relaxation::ALL);
        let steep = rng.log_uniform(-3.0, 4.0);
        let m = rng.log_uniform(-3.0, 30.0);
        let n = 1 + rng.below(40);
        let mut x: Vec<f64> = (0..n).map(|_| m * rng.normal().clamp(-1.0, 1.0)).collect();
        if rng.below(3) == 0 {
            for _ in 0..n / 2 {
                let (i, j) = (rng.below(n), rng.below(n));
                x[i] = x[j];
            }
        }
        let cfg = SortConfig::new(net, relax, F::from(steep).unwrap());
        if let Err(msg) = sorter_stays_finite(cfg, &cast::<F>(&x), &mut rng) {
            failures.push(format!(
                "case {case}: {net} {relax} s={steep:e} n={n} m={m:e}: {msg}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed ({}, GROCO_SEED={}), e.g.\n{}",
        failures.len(),
        core::any::type_name::<F>(),
        seed(),
        failures[..failures.len().min(20)].join("\n")
    );
}

// tests `sorter_random_sweep::f32` and `sorter_random_sweep::f64`
for_f32_f64!(sorter_random_sweep, (2, 2000), (3, 2000));

fn groco_edge_cases<F: Real>() {
    let mut rng = Rng::new(4);
    let mut failures = Vec::new();
    for steep in EDGE_STEEPNESS {
        for cfg in configs::<F>(steep) {
            for (p, m, k) in [
                (1, 1, 1),
                (1, 0, 0),
                (0, 3, 3),
                (2, 5, 3),
                (4, 12, 9),
                (7, 30, 16),
            ] {
                for scale in EDGE_SCALES {
                    for (name, v) in edge_rows(p + m, scale, &mut rng) {
                        let v = cast::<F>(&v);
                        if let Err(msg) = groco_stays_finite(cfg, &v[..p], &v[p..], k) {
                            failures.push(format!(
                                "{} {} s={steep:e} p={p} m={m} k={k} {name} (scale {scale:e}): {msg}",
                                cfg.network, cfg.relaxation
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures ({}), e.g.\n{}",
        failures.len(),
        core::any::type_name::<F>(),
        failures[..failures.len().min(20)].join("\n")
    );
}

// tests `groco_edge_cases::f32` and `groco_edge_cases::f64`
for_f32_f64!(groco_edge_cases);

fn groco_random_sweep<F: Real>(salt: u64, cases: usize) {
    let mut rng = Rng::new(salt);
    let mut failures = Vec::new();
    for case in 0..cases {
        let net = rng.pick(&Network::ALL);
        let relax = rng.pick(&Relaxation::ALL);
        let steep = rng.log_uniform(-3.0, 4.0);
        let scale = rng.log_uniform(-3.0, 30.0);
        let p = rng.below(6);
        let m = rng.below(30);
        let k = if p == 0 {
            1 + rng.below(m.max(1))
        } else {
            rng.below(m + 1)
        }
        .min(m);
        if p + k == 0 {
            continue;
        }
        let v: Vec<f64> = (0..p + m)
            .map(|_| scale * rng.normal().clamp(-1.0, 1.0))
            .collect();
        let v = cast::<F>(&v);
        let cfg = SortConfig::new(net, relax, F::from(steep).unwrap());
        if let Err(msg) = groco_stays_finite(cfg, &v[..p], &v[p..], k) {
            failures.push(format!(
                "case {case}: {net} {relax} s={steep:e} p={p} m={m} k={k} scale={scale:e}: {msg}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed ({}, GROCO_SEED={}), e.g.\n{}",
        failures.len(),
        core::any::type_name::<F>(),
        seed(),
        failures[..failures.len().min(20)].join("\n")
    );
}

// tests `groco_random_sweep::f32` and `groco_random_sweep::f64`
for_f32_f64!(groco_random_sweep, (5, 2000), (6, 2000));

/// `logistic_phi` at steepness up to 1e4 on exact ties: finite, and what the closed form says.
#[test]
fn logistic_phi_exact_ties_have_finite_gradients() {
    fn run<F: Real>() -> Vec<String> {
        let mut out = Vec::new();
        let mut rng = Rng::new(7);
        for steep in [1.0, 100.0, 1e4] {
            for net in Network::ALL {
                for n in [2usize, 3, 8, 17, 32] {
                    for m in [0.0, 1.0, 1e30] {
                        let cfg =
                            SortConfig::new(net, Relaxation::LogisticPhi, F::from(steep).unwrap());
                        let x = cast::<F>(&vec![m; n]);
                        if let Err(msg) = sorter_stays_finite(cfg, &x, &mut rng) {
                            out.push(format!("{net} s={steep} n={n} x={m}: {msg}"));
                        }
                    }
                }
            }
        }
        out
    }
    let mut failures = run::<f32>();
    failures.extend(run::<f64>());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
