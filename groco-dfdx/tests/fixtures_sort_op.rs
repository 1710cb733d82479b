//! The `sort` fixtures (diffsort 0.2.0 forward, PyTorch float64 autograd grad_x) run through the
//! dfdx op [`diff_sort`] on `Cpu` (and, with the `cuda` feature, on `Cuda`) in f64: sorted, perm, and the gradient of
//! L = sum(sorted·grad_sorted) + sum(perm·grad_perm) taken by dfdx's `backward` through the
//! op, with both outputs in the loss (their tapes merge). Files under `fixtures/sort/` and, when
//! `GROCO_FIXTURES` is set, `$GROCO_FIXTURES/sort/`; every file must be a parsable sort case.
//! Tolerance as the core's f64 fixture test: |got − want| <= 1e-9·|want| + 1e-11·(row scale),
//! and for grad_x with steepness s > 10 the absolute part is scaled by s/10.

#[cfg(feature = "cuda")]
mod cuda_util;

use std::collections::BTreeMap;
use std::path::Path;

use dfdx::prelude::*;
use groco_core::SortConfig;
use groco_dfdx::loss::{diff_sort, LossDevice};
use groco_testkit::fixtures::{compare, sources};
use groco_testkit::SortCase;

/// A sort case with its configuration parsed.
struct Case {
    sort: SortCase,
    config: SortConfig<f64>,
}

fn parse(file: &Path) -> Result<Case, String> {
    let sort = SortCase::read(file)?;
    let err = |e: groco_core::Error| format!("{}: {e}", file.display());
    let config = SortConfig {
        network: sort.network.parse().map_err(err)?,
        relaxation: sort.distribution.parse().map_err(err)?,
        steepness: sort.steepness,
        art_lambda: sort.art_lambda,
    };
    Ok(Case { sort, config })
}

fn check<D: LossDevice<f64>>(dev: &D, c: &Case) -> Result<(), String> {
    let (rows, n) = (c.sort.rows, c.sort.n);
    let x: Tensor<(usize, usize), f64, D> = dev.tensor_from_vec(c.sort.x.clone(), (rows, n));
    let gs: Tensor<(usize, usize), f64, D> =
        dev.tensor_from_vec(c.sort.grad_sorted.clone(), (rows, n));
    let gp: Tensor<(usize, usize, usize), f64, D> =
        dev.tensor_from_vec(c.sort.grad_perm.clone(), (rows, n, n));
    let (sorted, perm) = diff_sort(x.leaky_trace(), c.config).map_err(|e| e.to_string())?;
    compare("sorted", &sorted.as_vec(), &c.sort.sorted, n, 1e-9, 1e-11)?;
    compare("perm", &perm.as_vec(), &c.sort.perm, n * n, 1e-9, 1e-11)?;
    let loss = (sorted * gs).sum::<Rank0, _>() + (perm * gp).sum::<Rank0, _>();
    let grads = loss.backward();
    let gx_abs = 1e-11 * (c.config.steepness / 10.0).max(1.0);
    compare(
        "grad_x",
        &grads.get(&x).as_vec(),
        &c.sort.grad_x,
        n,
        1e-9,
        gx_abs,
    )
}

#[test]
fn sort_fixtures_through_the_dfdx_op() {
    run_all(&Cpu::default());
}

/// The same cases and tolerances through `Cuda` (feature `cuda`); see `cuda_or_skip`.
#[cfg(feature = "cuda")]
#[test]
fn cuda_sort_fixtures() {
    if let Some(dev) = cuda_util::cuda_or_skip(1, "sort fixtures") {
        run_all(&dev);
    }
}

fn run_all<D: LossDevice<f64>>(dev: &D) {
    let mut failures = Vec::new();
    // (network, distribution) -> [checked, agreed]
    let mut counts: BTreeMap<(String, String), [usize; 2]> = BTreeMap::new();
    for file in sources("sort") {
        let case = match parse(&file) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let entry = counts
            .entry((
                case.config.network.to_string(),
                case.config.relaxation.to_string(),
            ))
            .or_default();
        entry[0] += 1;
        match check(dev, &case) {
            Ok(()) => entry[1] += 1,
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
    }
    println!("{:<16} {:<14} {:>10}", "network", "distribution", "agreed");
    for ((net, dist), c) in &counts {
        println!("{net:<16} {dist:<14} {:>6}/{:<4}", c[1], c[0]);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
