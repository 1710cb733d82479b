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
use std::path::{Path, PathBuf};

use groco_core::relaxation::{LogisticPhi, Relax};
use groco_core::{Network, Real, Relaxation, SortConfig, Sorter};

/// Absolute tolerances (× row scale) of the `half` forward checks: (f16, bf16).
#[cfg(feature = "half")]
const HALF_TOL: (f64, f64) = (2e-2, 1e-1);
use groco_testkit::fixtures::{compare, field, flat, number, sources, string, take_worst};
use serde_json::Value;

struct Case {
    file: PathBuf,
    network: Network,
    relaxation: Relaxation,
    steepness: f64,
    art_lambda: f64,
    n: usize,
    rows: usize,
    x: Vec<f64>,
    sorted: Vec<f64>,
    perm: Vec<f64>,
    grad_sorted: Vec<f64>,
    grad_perm: Vec<f64>,
    grad_x: Vec<f64>,
}

fn parse(file: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
    let kind = string(&v, "kind", file)?;
    if kind != "sort" {
        return Err(format!(
            "{}: unknown kind `{kind}` in the sort folder",
            file.display()
        ));
    }
    let dtype = string(&v, "dtype", file)?;
    if dtype != "float64" {
        return Err(format!(
            "{}: dtype `{dtype}`, expected float64",
            file.display()
        ));
    }
    let network: Network = string(&v, "network", file)?
        .parse()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let relaxation: Relaxation = string(&v, "distribution", file)?
        .parse()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let x_rows = field(&v, "x", file)?
        .as_array()
        .ok_or_else(|| format!("{}: `x` is not an array", file.display()))?;
    let rows = x_rows.len();
    let n = x_rows.first().and_then(Value::as_array).map_or(0, Vec::len);
    if rows == 0 || n == 0 {
        return Err(format!("{}: `x` is empty", file.display()));
    }
    Ok(Case {
        file: file.to_owned(),
        network,
        relaxation,
        steepness: number(&v, "steepness", file)?,
        art_lambda: number(&v, "art_lambda", file)?,
        n,
        rows,
        x: flat(&v, "x", &[rows, n], file)?,
        sorted: flat(&v, "sorted", &[rows, n], file)?,
        perm: flat(&v, "perm", &[rows, n, n], file)?,
        grad_sorted: flat(&v, "grad_sorted", &[rows, n], file)?,
        grad_perm: flat(&v, "grad_perm", &[rows, n, n], file)?,
        grad_x: flat(&v, "grad_x", &[rows, n], file)?,
    })
}

/// Runs the case in `F` (batched; and row by row when `rows_too`).
fn run<F: Real>(c: &Case, rel: f64, abs: f64, rows_too: bool) -> Result<(), String> {
    let to = |v: &[f64]| -> Vec<F> { v.iter().map(|&e| F::from(e).unwrap()).collect() };
    let back = |v: &[F]| -> Vec<f64> { v.iter().map(|e| e.to_f64().unwrap()).collect() };
    let cfg = SortConfig {
        network: c.network,
        relaxation: c.relaxation,
        steepness: F::from(c.steepness).unwrap(),
        art_lambda: F::from(c.art_lambda).unwrap(),
    };
    let (n, rows) = (c.n, c.rows);
    let s = Sorter::try_new(n, cfg).map_err(|e| e.to_string())?;
    let (x, gs, gp) = (to(&c.x), to(&c.grad_sorted), to(&c.grad_perm));
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
    let gx_abs = if c.steepness > 10.0 {
        abs * c.steepness / 10.0
    } else {
        abs
    };
    compare("sorted", &back(&y), &c.sorted, n, rel, abs)?;
    compare("perm", &back(&p), &c.perm, n * n, rel, abs)?;
    let got_gx = back(&gx);
    for b in 0..rows {
        let r = b * n..(b + 1) * n;
        let Some(rel_b) = grad_x_tolerance::<F>(c, b, rel) else {
            continue; // exempt: see the module docs
        };
        compare("grad_x", &got_gx[r.clone()], &c.grad_x[r], n, rel_b, gx_abs)?;
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
                &c.sorted[r.clone()],
                n,
                rel,
                abs,
            )?;
            compare("perm (row call)", &back(&p1), &c.perm[q], n * n, rel, abs)?;
            if let Some(rel_b) = grad_x_tolerance::<F>(c, b, rel) {
                compare(
                    "grad_x (row call)",
                    &back(&g1),
                    &c.grad_x[r],
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
    let x = &c.x[b * c.n..(b + 1) * c.n];
    let max_x = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let delta = 4.0 * F::epsilon().to_f64().unwrap() * max_x;
    let phi = LogisticPhi::new(c.steepness, c.art_lambda);
    let mut v = x.to_vec();
    let mut min_q = f64::INFINITY;
    c.network.for_each_comparator(c.n, |_, cmp| {
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
    let tol = rel.max(100.0 * 2.0 * c.art_lambda * delta / min_q);
    (tol <= 0.1).then_some(tol)
}

/// With the `half` feature: the forward (sorted, P) in f16 and bf16 against the f64 fixtures,
/// absolute tolerance `tol`·(row max |x|) for sorted and `tol` for P, on the cases the type can represent: rounding x to
/// it moves each comparator's argument v = s·d by about ε·s·max|x|, so cases with
/// ε·s·max|x| > 1e-2 are skipped (counted), as are configs the type refuses (logistic_phi in
/// f16: 1e-10 underflows). Returns whether the case was checked.
#[cfg(feature = "half")]
fn run_half<F: Real>(c: &Case, tol: f64) -> Result<bool, String> {
    let x: Vec<F> = c.x.iter().map(|&e| F::from(e).unwrap()).collect();
    let max_x = c.x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let eps = F::epsilon().to_f64().unwrap();
    if x.iter().any(|v| !v.is_finite()) || eps * c.steepness * max_x > 1e-2 {
        return Ok(false);
    }
    let cfg = SortConfig {
        network: c.network,
        relaxation: c.relaxation,
        steepness: F::from(c.steepness).unwrap(),
        art_lambda: F::from(c.art_lambda).unwrap(),
    };
    let Ok(s) = Sorter::try_new(c.n, cfg) else {
        return Ok(false);
    };
    let (n, rows) = (c.n, c.rows);
    let mut scratch = vec![F::zero(); s.batch_scratch_len(rows)];
    let (mut y, mut p) = (vec![F::zero(); rows * n], vec![F::zero(); rows * n * n]);
    if s.try_forward_batch(&x, &mut y, &mut p, &mut scratch)
        .is_err()
    {
        return Ok(false);
    }
    let back = |v: &[F]| -> Vec<f64> { v.iter().map(|e| e.to_f64().unwrap()).collect() };
    // sorted values are blends of the inputs: judge them against the row's largest |x|
    for (b, (got, want)) in back(&y).chunks(n).zip(c.sorted.chunks(n)).enumerate() {
        let scale = c.x[b * n..(b + 1) * n]
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
    compare("perm", &back(&p), &c.perm, n * n, 0.0, tol)?;
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
            Err(e) => failures.push(format!("{} (f64): {e}", case.file.display())),
        }
        worst[0] = worst[0].max(take_worst());
        entry[2] += 1;
        entry[4] += (0..case.rows)
            .filter(|&b| grad_x_tolerance::<f32>(&case, b, 2e-3).is_none())
            .count();
        match run::<f32>(&case, 2e-3, 2e-3, false) {
            Ok(()) => entry[3] += 1,
            Err(e) => failures.push(format!("{} (f32): {e}", case.file.display())),
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
                    Err(e) => failures.push(format!("{} ({name}): {e}", case.file.display())),
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
