//! The `groco` and `nt_xent` fixtures (fixtures/reference_losses.py: torch float64 autograd,
//! diffsort 0.2.0 for the sort), one case per JSON file under `fixtures/<kind>/` and, when
//! `GROCO_FIXTURES` is set, `$GROCO_FIXTURES/<kind>/`. Every file there must be a parsable case
//! of that kind.
//!
//! Each case runs through [`groco_loss`] / [`nt_xent`] on `Cpu`, on the host path and on the
//! device-resident path that `Cuda` runs (`CpuPath::Composed`): in f64 on an `OwnedTape` (loss
//! and every gradient) and on a `NoneTape` (loss only, the forward-only path), and in f32 (inputs
//! rounded). An element agrees when |got − want| <= rel·|want| + abs·scale, scale being the
//! largest |want| in that row of that view:
//!
//! | float | rel | abs |
//! |---|---|---|
//! | f64 | 1e-9 | 1e-11 |
//! | f32 | 1e-3 | 1e-3 |
//!
//! f32 is looser because the inputs are rounded to f32 and the losses are sums of thousands of
//! f32 products; the generator keeps every top-k and sort tie at least 1e-6 apart, so f32
//! selects the same negatives.

#[cfg(feature = "cuda")]
mod cuda_util;

use std::collections::BTreeMap;
use std::path::Path;

use dfdx::prelude::*;
use groco_dfdx::loss::{groco_loss, nt_xent, GrocoConfig, LossDevice, LossFloat};
use groco_dfdx::path::{with_cpu_path, CpuPath};
use groco_testkit::fixtures::{boolean, compare, count, dims, flat, number, read, sources, string};
use serde_json::Value;

/// One parsed loss case: views (V × B × D), the reference loss and gradients, and how to run it.
struct Case {
    views: Vec<Vec<f64>>,
    rows: usize,
    cols: usize,
    loss: f64,
    grads: Vec<Vec<f64>>,
    op: Op,
}

/// A view on a tape.
type Taped<F, D> = Tensor<(usize, usize), F, D, OwnedTape<F, D>>;

enum Op {
    Groco(GrocoConfig),
    NtXent(f64),
}

fn parse(v: &Value, kind: &str, file: &Path) -> Result<Case, String> {
    let shape = dims(v, "views", 3, file)?;
    let (nv, rows, cols) = (shape[0], shape[1], shape[2]);
    let all = flat(v, "views", &[nv, rows, cols], file)?;
    let grads = flat(v, "grad_views", &[nv, rows, cols], file)?;
    let split = |a: Vec<f64>| {
        a.chunks(rows * cols)
            .map(<[f64]>::to_vec)
            .collect::<Vec<_>>()
    };
    let op = match kind {
        "groco" => {
            let n_augs = count(v, "n_augs", file)?;
            if n_augs != nv {
                return Err(format!(
                    "{}: n_augs = {n_augs} but {nv} views",
                    file.display()
                ));
            }
            let parse_err = |e: groco_core::Error| format!("{}: {e}", file.display());
            Op::Groco(GrocoConfig {
                topk_neg: count(v, "topk_neg", file)?,
                steepness: number(v, "steepness", file)?,
                network: string(v, "network", file)?.parse().map_err(parse_err)?,
                relaxation: string(v, "distribution", file)?
                    .parse()
                    .map_err(parse_err)?,
                art_lambda: number(v, "art_lambda", file)?,
                n_pos_augs: Some(count(v, "n_pos_augs", file)?),
                stop_grad: boolean(v, "stop_grad", file)?,
            })
        }
        "nt_xent" => {
            if nv != 2 {
                return Err(format!("{}: NT-Xent case with {nv} views", file.display()));
            }
            Op::NtXent(number(v, "temperature", file)?)
        }
        other => return Err(format!("{}: unknown kind `{other}`", file.display())),
    };
    Ok(Case {
        views: split(all),
        rows,
        cols,
        loss: number(v, "loss", file)?,
        grads: split(grads),
        op,
    })
}

/// Runs `case` in `F` on `dev`; returns (taped loss, untaped loss, gradients), all as f64.
fn run<F: LossFloat, D: LossDevice<F>>(
    dev: &D,
    case: &Case,
) -> Result<(f64, f64, Vec<Vec<f64>>), String> {
    let xs: Vec<Tensor<(usize, usize), F, D>> = case
        .views
        .iter()
        .map(|v| {
            dev.tensor_from_vec(
                v.iter().map(|&e| F::from(e).unwrap()).collect(),
                (case.rows, case.cols),
            )
        })
        .collect();
    let call = |views: Vec<Taped<F, D>>| match case.op {
        Op::Groco(cfg) => groco_loss(views, cfg),
        Op::NtXent(t) => {
            let mut it = views.into_iter();
            nt_xent([it.next().unwrap(), it.next().unwrap()], t)
        }
    };
    let taped = call(xs.iter().map(|x| x.leaky_trace()).collect()).map_err(|e| e.to_string())?;
    let untaped = match case.op {
        Op::Groco(cfg) => groco_loss(xs.clone(), cfg),
        Op::NtXent(t) => nt_xent([xs[0].clone(), xs[1].clone()], t),
    }
    .map_err(|e| e.to_string())?;
    let loss = taped.as_vec()[0].to_f64().unwrap();
    let grads = taped.backward();
    let to64 = |t: Tensor<(usize, usize), F, D>| {
        t.as_vec()
            .iter()
            .map(|g| g.to_f64().unwrap())
            .collect::<Vec<f64>>()
    };
    let g = xs.iter().map(|x| to64(grads.get(x))).collect();
    Ok((loss, untaped.as_vec()[0].to_f64().unwrap(), g))
}

fn check<F: LossFloat, D: LossDevice<F>>(
    dev: &D,
    case: &Case,
    rel: f64,
    abs: f64,
) -> Result<(), String> {
    let (loss, loss_untaped, grads) = run::<F, D>(dev, case)?;
    compare("loss", &[loss], &[case.loss], 1, rel, abs)?;
    compare("loss (no tape)", &[loss_untaped], &[case.loss], 1, rel, abs)?;
    for (i, (g, w)) in grads.iter().zip(&case.grads).enumerate() {
        compare(&format!("grad_views[{i}]"), g, w, case.cols, rel, abs)?;
    }
    Ok(())
}

/// Runs every case of `kind` on `dev`; prints counts per configuration and fails on any problem.
fn run_kind<D: LossDevice<f32> + LossDevice<f64>>(
    dev: &D,
    kind: &str,
    label: impl Fn(&Case) -> String,
) {
    let mut failures = Vec::new();
    // label -> [f64 checked, f64 agreed, f32 checked, f32 agreed]
    let mut counts: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for file in sources(kind) {
        let case = match read(&file).and_then(|(v, k)| match k == kind {
            true => parse(&v, &k, &file),
            false => Err(format!(
                "{}: unknown kind `{k}` in the {kind} folder",
                file.display()
            )),
        }) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let entry = counts.entry(label(&case)).or_default();
        entry[0] += 1;
        match check::<f64, D>(dev, &case, 1e-9, 1e-11) {
            Ok(()) => entry[1] += 1,
            Err(e) => failures.push(format!("{} (f64): {e}", file.display())),
        }
        entry[2] += 1;
        match check::<f32, D>(dev, &case, 1e-3, 1e-3) {
            Ok(()) => entry[3] += 1,
            Err(e) => failures.push(format!("{} (f32): {e}", file.display())),
        }
    }
    println!("{:<44} {:>10} {:>10}", kind, "f64 agreed", "f32 agreed");
    for (l, c) in &counts {
        println!("{l:<44} {:>6}/{:<3} {:>6}/{:<3}", c[1], c[0], c[3], c[2]);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn groco_label(c: &Case) -> String {
    match &c.op {
        Op::Groco(g) => format!(
            "{} {} V={} P={} {}",
            g.network,
            g.relaxation,
            c.views.len(),
            g.n_pos_augs.unwrap_or(0),
            if g.stop_grad {
                "stop_grad"
            } else {
                "no stop_grad"
            }
        ),
        Op::NtXent(_) => unreachable!("parsed from the groco folder"),
    }
}

fn nt_xent_label(c: &Case) -> String {
    match c.op {
        Op::NtXent(t) => format!("temperature {t}"),
        Op::Groco(_) => unreachable!("parsed from the nt_xent folder"),
    }
}

#[test]
fn groco_fixtures() {
    run_kind(&Cpu::default(), "groco", groco_label);
}

#[test]
fn nt_xent_fixtures() {
    run_kind(&Cpu::default(), "nt_xent", nt_xent_label);
}

/// The device-resident path (what `Cuda` runs), here on `Cpu`.
#[test]
fn groco_fixtures_device_resident() {
    with_cpu_path(CpuPath::Composed, || {
        run_kind(&Cpu::default(), "groco", groco_label)
    });
}

/// The device-resident path (what `Cuda` runs), here on `Cpu`.
#[test]
fn nt_xent_fixtures_device_resident() {
    with_cpu_path(CpuPath::Composed, || {
        run_kind(&Cpu::default(), "nt_xent", nt_xent_label)
    });
}

/// The same cases and tolerances through `Cuda` (feature `cuda`); see `cuda_or_skip`.
#[cfg(feature = "cuda")]
#[test]
fn cuda_loss_fixtures() {
    if let Some(dev) = cuda_util::cuda_or_skip(2, "groco and nt_xent fixtures") {
        run_kind(&dev, "groco", groco_label);
        run_kind(&dev, "nt_xent", nt_xent_label);
    }
}
