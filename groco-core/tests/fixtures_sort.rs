//! The `sort` fixtures: diffsort 0.2.0 forward (sorted, P) and PyTorch float64 autograd grad_x,
//! one case per JSON file under `fixtures/sort/` and, when `GROCO_FIXTURES` is set, under
//! `$GROCO_FIXTURES/sort/`. Every file there must be a parsable case of kind "sort".
//!
//! Each case runs in f64 (batched and row by row) and in f32 (batched, inputs rounded to f32).
//! An element agrees when |got − want| <= rel·|want| + abs·scale, scale being the largest
//! |want| of that array in that row (so cancellation in small entries is judged against the
//! row's magnitude):
//!
//! | float | rel | abs |
//! |---|---|---|
//! | f64 | 1e-9 | 1e-11 |
//! | f32 | 2e-3 | 2e-3 (×steepness/10 for grad_x when steepness > 10) |
//!
//! f32 is looser because x itself is rounded to f32 (relative 6e-8) and the comparators
//! amplify that by up to steepness per layer in grad_x. One relaxation is ill-conditioned
//! near ties: logistic_phi's slope moves by ~2λδ/(|d| + 1e-10) relative when d moves by δ,
//! so its grad_x tolerance widens with the smallest |d| in the network (see
//! `grad_x_tolerance`), and rows where it would exceed 0.1 (ties in f32) are exempt and
//! counted as "exempt".
//!
//! With the `half` feature the forward also runs in f16 and bf16 (see `run_half`): absolute
//! tolerance 0.02 (f16) / 0.1 (bf16) on P and that times the row's max |x| on sorted, on the
//! cases whose ε·steepness·max|x| <= 1e-2 (the rest are counted as skipped).

use std::collections::BTreeMap;
use std::path::Path;

use groco_core::relaxation::{LogisticPhi, Relax};
use groco_core::{Network, Real, Relaxation, SortConfig, Sorter};

/// Absolute tolerances (× row scale) of the `half` forward checks: (f16, bf16).
#[cfg(feature = "half")]
const HALF_TOL: (f64, f64) = (2e-2, 1e-1);
use groco_testkit::fixtures::{compare, sources, take_worst};
use groco_testkit::SortCase;

/// A sort case with its network and relaxation parsed.
struct Case {
    sort: SortCase,
    network: Network,
    relaxation: Relaxation,
}

fn parse(file: &Path) -> Result<Case, String> {
    let sort = SortCase::read(file)?;
    let err = |e: groco_core::Error| format!("{}: {e}", file.display());
    Ok(Case {
        network: sort.network.parse().map_err(err)?,
        relaxation: sort.distribution.parse().map_err(err)?,
        sort,
    })
}

/// Runs the case in `F` (batched; and row by row when `rows_too`).
fn run<F: Real>(c: &Case, rel: f64, abs: f64, rows_too: bool) -> Result<(), String> {
    let to = |v: &[f64]| -> Vec<F> { v.iter().map(|&e| F::from(e).unwrap()).collect() };
    let back = |v: &[F]| -> Vec<f64> { v.iter().map(|e| e.to_f64().unwrap()).collect() };
    let cfg = SortConfig {
        network: c.network,
        relaxation: c.relaxation,
        steepness: F::from(c.sort.steepness).unwrap(),
        art_lambda: F::from(c.sort.art_lambda).unwrap(),
    };
    let (n, rows) = (c.sort.n, c.sort.rows);
    let s = Sorter::try_new(n, cfg).map_err(|e| e.to_string())?;
    let (x, gs, gp) = (
        to(&c.sort.x),
        to(&c.sort.grad_sorted),
        to(&c.sort.grad_perm),
    );
    let mut scratch = vec![F::zero(); s.batch_scratch_len(rows)];
    let (mut y, mut p, mut gx) = (
        vec![F::zero(); rows * n],
        vec![F::zero(); rows * n * n],
        vec![F::zero(); rows * n],
    );
    s.try_forward_batch(&x, &mut y, &mut p, &mut scratch)
        .map_err(|e| e.to_string())?;
    s.try_backward_batch(&x, &gs, &gp, &mut gx, &mut scratch)
        .map_err(|e| e.to_string())?;
    let gx_abs = if c.sort.steepness > 10.0 {
        abs * c.sort.steepness / 10.0
    } else {
        abs
    };
    compare("sorted", &back(&y), &c.sort.sorted, n, rel, abs)?;
    compare("perm", &back(&p), &c.sort.perm, n * n, rel, abs)?;
    let got_gx = back(&gx);
    for b in 0..rows {
        let r = b * n..(b + 1) * n;
        let Some(rel_b) = grad_x_tolerance::<F>(c, b, rel) else {
            continue; // exempt: see the module docs
        };
        compare(
            "grad_x",
            &got_gx[r.clone()],
            &c.sort.grad_x[r],
            n,
            rel_b,
            gx_abs,
        )?;
    }
    if rows_too {
        for b in 0..rows {
            let (r, q) = (b * n..(b + 1) * n, b * n * n..(b + 1) * n * n);
            let (mut y1, mut p1, mut g1) = (
                vec![F::zero(); n],
                vec![F::zero(); n * n],
                vec![F::zero(); n],
            );
            s.try_forward(&x[r.clone()], &mut y1, &mut p1, &mut scratch)
                .map_err(|e| e.to_string())?;
            s.try_backward(
                &x[r.clone()],
                &gs[r.clone()],
                &gp[q.clone()],
                &mut g1,
                &mut scratch,
            )
            .map_err(|e| e.to_string())?;
            compare(
                "sorted (row call)",
                &back(&y1),
                &c.sort.sorted[r.clone()],
                n,
                rel,
                abs,
            )?;
            compare(
                "perm (row call)",
                &back(&p1),
                &c.sort.perm[q],
                n * n,
                rel,
                abs,
            )?;
            if let Some(rel_b) = grad_x_tolerance::<F>(c, b, rel) {
                compare(
                    "grad_x (row call)",
                    &back(&g1),
                    &c.sort.grad_x[r],
                    n,
                    rel_b,
                    gx_abs,
                )?;
            }
        }
    }
    Ok(())
}

/// The relative grad_x tolerance for row `b`, or `None` when the row is exempt.
///
/// logistic_phi's slope is (s/q^λ)(1 − λ|d|/q)·σ' with q = |d| + 1e-10, whose relative
/// sensitivity to a rounding δ of d is about κ = 2λδ/q: near a tie (q → 1e-10) a one-ulp
/// difference in d, e.g. from a different exp or pow, moves the slope by ~1e-7 relative in
/// f64. So logistic_phi rows get rel = max(rel, 100κ) with δ = 4ε·max|x| and κ taken at the
/// smallest |d| of the values pass (replayed in f64); rows whose tolerance would exceed 0.1
/// are exempt (counted). Other relaxations have no such term.
fn grad_x_tolerance<F: Real>(c: &Case, b: usize, rel: f64) -> Option<f64> {
    if c.relaxation != Relaxation::LogisticPhi {
        return Some(rel);
    }
    let x = &c.sort.x[b * c.sort.n..(b + 1) * c.sort.n];
    let max_x = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let delta = 4.0 * F::epsilon().to_f64().unwrap() * max_x;
    let phi = LogisticPhi::new(c.sort.steepness, c.sort.art_lambda);
    let mut v = x.to_vec();
    let mut min_q = f64::INFINITY;
    c.network.for_each_comparator(c.sort.n, |_, cmp| {
        let d = v[cmp.b] - v[cmp.a];
        min_q = min_q.min(d.abs() + 1e-10);
        let al = phi.value(d);
        let (mn, mx) = (
            al * v[cmp.a] + (1.0 - al) * v[cmp.b],
            (1.0 - al) * v[cmp.a] + al * v[cmp.b],
        );
        v[cmp.min_wire()] = mn;
        v[cmp.max_wire()] = mx;
    });
    let tol = rel.max(100.0 * 2.0 * c.sort.art_lambda * delta / min_q);
    (tol <= 0.1).then_some(tol)
}

/// With the `half` feature: the forward (sorted, P) in f16 and bf16 against the f64 fixtures,
/// absolute tolerance `tol`·(row max |x|) for sorted and `tol` for P, on the cases the type can represent: rounding x to
/// it moves each comparator's argument v = s·d by about ε·s·max|x|, so cases with
/// ε·s·max|x| > 1e-2 are skipped (counted), as are configs the type refuses (logistic_phi in
/// f16: 1e-10 underflows). Returns whether the case was checked.
#[cfg(feature = "half")]
fn run_half<F: Real>(c: &Case, tol: f64) -> Result<bool, String> {
    let x: Vec<F> = c.sort.x.iter().map(|&e| F::from(e).unwrap()).collect();
    let max_x = c.sort.x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let eps = F::epsilon().to_f64().unwrap();
    if x.iter().any(|v| !v.is_finite()) || eps * c.sort.steepness * max_x > 1e-2 {
        return Ok(false);
    }
    let cfg = SortConfig {
        network: c.network,
        relaxation: c.relaxation,
        steepness: F::from(c.sort.steepness).unwrap(),
        art_lambda: F::from(c.sort.art_lambda).unwrap(),
    };
    let Ok(s) = Sorter::try_new(c.sort.n, cfg) else {
        return Ok(false);
    };
    let (n, rows) = (c.sort.n, c.sort.rows);
    let mut scratch = vec![F::zero(); s.batch_scratch_len(rows)];
    let (mut y, mut p) = (vec![F::zero(); rows * n], vec![F::zero(); rows * n * n]);
    if s.try_forward_batch(&x, &mut y, &mut p, &mut scratch)
        .is_err()
    {
        return Ok(false);
    }
    let back = |v: &[F]| -> Vec<f64> { v.iter().map(|e| e.to_f64().unwrap()).collect() };
    // sorted values are blends of the inputs: judge them against the row's largest |x|
    for (b, (got, want)) in back(&y).chunks(n).zip(c.sort.sorted.chunks(n)).enumerate() {
        let scale = c.sort.x[b * n..(b + 1) * n]
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (a, w)) in got.iter().zip(want).enumerate() {
            if (a - w).abs() > tol * scale {
                return Err(format!(
                    "sorted[{b}][{i}]: got {a:e}, want {w:e} (row max |x| {scale:e})"
                ));
            }
        }
    }
    compare("perm", &back(&p), &c.sort.perm, n * n, 0.0, tol)?;
    Ok(true)
}

#[test]
fn sort_fixtures() {
    let sources = sources("sort");

    let mut failures = Vec::new();
    let mut worst = [0.0f64; 2]; // f64, f32: largest error as a fraction of its tolerance
    #[cfg(feature = "half")]
    let mut half_counts: BTreeMap<&str, usize> = BTreeMap::new();
    // (network, distribution) -> [f64 checked, f64 agreed, f32 checked, f32 agreed, exempt]
    let mut counts: BTreeMap<(String, String), [usize; 5]> = BTreeMap::new();
    for file in &sources {
        let case = match parse(file) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let key = (case.network.to_string(), case.relaxation.to_string());
        let entry = counts.entry(key).or_default();
        entry[0] += 1;
        take_worst();
        match run::<f64>(&case, 1e-9, 1e-11, true) {
            Ok(()) => entry[1] += 1,
            Err(e) => failures.push(format!("{} (f64): {e}", case.sort.file.display())),
        }
        worst[0] = worst[0].max(take_worst());
        entry[2] += 1;
        entry[4] += (0..case.sort.rows)
            .filter(|&b| grad_x_tolerance::<f32>(&case, b, 2e-3).is_none())
            .count();
        match run::<f32>(&case, 2e-3, 2e-3, false) {
            Ok(()) => entry[3] += 1,
            Err(e) => failures.push(format!("{} (f32): {e}", case.sort.file.display())),
        }
        worst[1] = worst[1].max(take_worst());
        #[cfg(feature = "half")]
        {
            for (name, result) in [
                ("f16", run_half::<half::f16>(&case, HALF_TOL.0)),
                ("bf16", run_half::<half::bf16>(&case, HALF_TOL.1)),
            ] {
                match result {
                    Ok(true) => *half_counts.entry(name).or_default() += 1,
                    Ok(false) => {
                        *half_counts
                            .entry(if name == "f16" {
                                "f16 skipped"
                            } else {
                                "bf16 skipped"
                            })
                            .or_default() += 1
                    }
                    Err(e) => failures.push(format!("{} ({name}): {e}", case.sort.file.display())),
                }
            }
        }
    }
    println!(
        "{:<16} {:<14} {:>12} {:>12} {:>22}",
        "network", "distribution", "f64 agreed", "f32 agreed", "f32 grad_x exempt rows"
    );
    for ((net, dist), c) in &counts {
        println!(
            "{net:<16} {dist:<14} {:>7}/{:<4} {:>7}/{:<4} {:>22}",
            c[1], c[0], c[3], c[2], c[4]
        );
    }
    println!(
        "largest error / tolerance: f64 {:.2e}, f32 {:.2e}",
        worst[0], worst[1]
    );
    #[cfg(feature = "half")]
    println!(
        "half feature, forward checked/skipped: {half_counts:?} (tolerance f16 {}, bf16 {})",
        HALF_TOL.0, HALF_TOL.1
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
