//! One training step through the device-generic path (`CpuPath::Composed`: the composed
//! layers, the device-resident losses and the device-side optimiser, exactly what `Cuda` runs),
//! here on `Cpu`, with every host↔device copy counted by `groco_dfdx::transfer`.
//!
//! After a first step (which uploads the constant gather tables and index rows once), a step
//! copies: the image batch up and one scalar down (the loss, NaN if a gradient is not finite);
//! GroCo adds its selected similarities down and their gradients up; a logged step adds the
//! gradient norm down. The composed step's loss agrees with the host kernels' on the same
//! weights and images.

use dfdx::prelude::*;
use groco_dfdx::loss::GrocoConfig;
use groco_dfdx::path::{with_cpu_path, CpuPath};
use groco_dfdx::transfer::{record, Direction, TransferLog};
use trainer::augment::ViewBatch;
use trainer::model::SmallCnnModel;
use trainer::train::optim::{Optimizer, OptimizerConfig, Rule};
use trainer::train::try_train_step;
use trainer::train::LossFn;

const B: usize = 16;
const SIDE: usize = 28;

fn batch(seed: u64) -> ViewBatch {
    let mut state = seed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32) / (1u64 << 24) as f32
    };
    let view = |next: &mut dyn FnMut() -> f32| (0..B * SIDE * SIDE).map(|_| next()).collect();
    ViewBatch {
        epoch: 0,
        batch: 0,
        views: vec![view(&mut next), view(&mut next)],
        shapes: vec![[B, 1, SIDE, SIDE]; 2],
        labels: vec![0; B],
        indices: (0..B).collect(),
    }
}

/// Losses of three steps (the last logged) on `path`, and the copy logs of the last two.
fn steps(path: CpuPath, loss_fn: LossFn) -> (Vec<f64>, TransferLog, TransferLog) {
    with_cpu_path(path, || {
        let dev = Cpu::seed_from_u64(7);
        let mut net = SmallCnnModel::<1, Cpu>::try_build(&dev).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig {
            rule: Rule::Sgd,
            momentum: 0.9,
            weight_decay: 1e-5,
            lars_eta: 0.02,
        });
        let mut stacked = Vec::new();
        let mut step = |i: u64, log: bool| {
            let b = batch(i);
            let run = || {
                try_train_step(
                    &mut net,
                    &mut opt,
                    &dev,
                    &loss_fn,
                    &b,
                    2,
                    0.05,
                    &mut stacked,
                    log,
                )
            };
            let (result, copies) = record(run);
            (result.unwrap().0, copies)
        };
        let (l0, _) = step(0, false);
        let (l1, plain) = step(1, false);
        let (l2, logged) = step(2, true);
        (vec![l0, l1, l2], plain, logged)
    })
}

fn assert_copies(log: &TransferLog, up: &[&str], down: &[&str]) {
    let names = |d| {
        log.transfers
            .iter()
            .filter(|t| t.direction == d)
            .map(|t| t.what)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(Direction::Up), up, "uploads: {log:#?}");
    assert_eq!(names(Direction::Down), down, "downloads: {log:#?}");
}

/// The first step's loss (same weights, same images) agrees to f32 rounding; the next ones
/// follow slightly different weights (f32 sums in another order), so they agree more loosely.
fn assert_agree(composed: &[f64], host: &[f64]) {
    for (i, (c, n)) in composed.iter().zip(host).enumerate() {
        let tol = if i == 0 { 1e-5 } else { 2e-3 };
        assert!(
            (c - n).abs() <= tol * n.abs(),
            "composed {composed:?} vs host {host:?}"
        );
    }
}

const LOSS: &str = "loss (NaN if a gradient is not finite)";
const NORM: &str = "gradient norm (logged steps)";
const IMAGES: usize = 2 * B * SIDE * SIDE * 4;

#[test]
fn groco_step_copies_only_the_batch_the_rows_and_the_loss() {
    let cfg = GrocoConfig {
        topk_neg: 5,
        n_pos_augs: Some(2),
        ..GrocoConfig::default()
    };
    let (losses, plain, logged) = steps(CpuPath::Composed, LossFn::Groco(cfg));
    assert_copies(
        &plain,
        &["image batch", "groco row gradients"],
        &["groco rows", LOSS],
    );
    assert_copies(
        &logged,
        &["image batch", "groco row gradients"],
        &["groco rows", LOSS, NORM],
    );
    // rows: B × V·(k + 1) values each way
    let rows = B * 2 * (5 + 1) * 4;
    assert_eq!(plain.bytes(Direction::Up), IMAGES + rows);
    assert_eq!(plain.bytes(Direction::Down), rows + 4);
    let (native, _, _) = steps(CpuPath::Native, LossFn::Groco(cfg));
    assert_agree(&losses, &native);
}

#[test]
fn nt_xent_step_copies_only_the_batch_and_the_loss() {
    let (losses, plain, logged) = steps(CpuPath::Composed, LossFn::NtXent(0.5));
    assert_copies(&plain, &["image batch"], &[LOSS]);
    assert_copies(&logged, &["image batch"], &[LOSS, NORM]);
    assert_eq!(plain.bytes(Direction::Up), IMAGES);
    assert_eq!(plain.bytes(Direction::Down), 4);
    let (native, _, _) = steps(CpuPath::Native, LossFn::NtXent(0.5));
    assert_agree(&losses, &native);
}
