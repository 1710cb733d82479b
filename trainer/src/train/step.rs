//! One optimisation step, shared by the training loop and `trainer bench`: the views stacked into
//! one batch, the forward of encoder and head, the loss, the backward, the finiteness check and
//! the optimiser update.

use dfdx::prelude::*;
use groco_dfdx::layers::images_to_activation;
use groco_dfdx::transfer::download_scalar;

use crate::augment::{Recipe, ViewBatch};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::{Net, TrainDevice};

use super::loss::LossFn;
use super::optim::{Optimizer, OptimizerConfig, Rule, StepStats};

/// Concatenates views `range` of a batch (all of one size) into one NCHW buffer of `V·B` images.
pub fn stack_views(
    batch: &ViewBatch,
    range: std::ops::Range<usize>,
    into: &mut Vec<f32>,
) -> [usize; 4] {
    into.clear();
    let [b, c, h, w] = batch.shapes[range.start];
    let count = range.len();
    for v in &batch.views[range] {
        into.extend_from_slice(v);
    }
    [count * b, c, h, w]
}

/// The augmentation recipe for a run: digits-style for greyscale data, SimCLR-style for colour,
/// plus `small_crops` small views (multi-crop) when asked for.
pub fn augment_recipe(config: &TrainConfig, size: usize, channels: usize) -> Recipe {
    let recipe = if channels == 1 {
        Recipe::digits(size, config.views)
    } else {
        Recipe::simclr(size, config.views)
    };
    if config.small_crops > 0 {
        recipe.with_small_crops(config.small_crops, config.small_crop_size, (0.05, 0.4))
    } else {
        recipe
    }
}

/// One optimisation step on `batch`: forward of the global views (stacked) and of the small
/// crops, the loss, backward, and the optimiser update at rate `lr`. A non-finite loss or
/// gradient stops before the update, so the weights stay the last good ones.
///
/// What crosses between host and device (see `groco_dfdx::transfer`): the image batch up, and
/// one scalar down, L + 0·Σg², which is the loss when every gradient is finite and NaN
/// otherwise (the finiteness check is one reduction on the device). With `grad_norm` the
/// global gradient norm comes down too (the logged steps); the GroCo loss adds its selected
/// similarities down and their gradients up (see `groco_dfdx::loss::groco_loss`).
#[allow(clippy::too_many_arguments)]
pub fn try_train_step<N: Net<D>, D: TrainDevice>(
    net: &mut N,
    opt: &mut Optimizer<D>,
    dev: &D,
    loss_fn: &LossFn,
    batch: &ViewBatch,
    global: usize,
    lr: f64,
    stacked: &mut Vec<f32>,
    grad_norm: bool,
) -> Result<(f64, StepStats)> {
    let small = batch.views.len() - global;
    let b = batch.labels.len();
    let [n, c, h, w] = stack_views(batch, 0..global, stacked);
    N::map_input(stacked);
    let x = images_to_activation(dev, stacked, n, c, h, w)?;
    let grads = net.alloc_grads();
    let z = net.try_project_train(x.traced(grads))?;
    let z_small = if small > 0 {
        let [n, c, h, w] = stack_views(batch, global..global + small, stacked);
        N::map_input(stacked);
        let x = images_to_activation(dev, stacked, n, c, h, w)?;
        Some(net.try_project_train(x.leaky_traced())?)
    } else {
        None
    };
    let device = |e| Error::Device(format!("{e:?}"));
    // Projections that are no longer finite (the weights diverged) are a non-finite loss too:
    // the step stops here, before any update.
    let loss = loss_fn
        .try_loss(z, z_small, global, small, b)
        .map_err(|e| match e {
            Error::Model(groco_dfdx::Error::NonFinite { .. }) => Error::NonFiniteLoss {
                epoch: batch.epoch as usize,
                step: batch.batch,
                value: f64::NAN,
            },
            e => e,
        })?;
    let (value, tape) = loss.split_tape();
    let grads = value
        .clone()
        .put_tape(tape)
        .try_backward()
        .map_err(device)?;
    let grad_sq = opt.try_grad_sq(net, &grads).map_err(device)?;
    let checked = match &grad_sq {
        Some(sq) => value
            .try_add(sq.clone().try_mul(0.0).map_err(device)?)
            .map_err(device)?,
        None => value,
    };
    let checked = download_scalar(&checked, "loss (NaN if a gradient is not finite)") as f64;
    if !checked.is_finite() {
        return Err(Error::NonFiniteLoss {
            epoch: batch.epoch as usize,
            step: batch.batch,
            value: checked,
        });
    }
    let norm = match (&grad_sq, grad_norm) {
        (Some(sq), true) => (download_scalar(sq, "gradient norm (logged steps)") as f64).sqrt(),
        (None, true) => 0.0,
        (_, false) => f64::NAN,
    };
    opt.try_step(net, &grads, lr as f32).map_err(device)?;
    let stats = StepStats {
        grad_norm: norm,
        finite: true,
    };
    Ok((checked, stats))
}

/// The optimiser settings of a configuration.
pub fn optimizer_config(config: &TrainConfig) -> OptimizerConfig {
    OptimizerConfig {
        rule: match config.optimizer {
            crate::config::OptimizerKind::Sgd => Rule::Sgd,
            crate::config::OptimizerKind::Lars => Rule::Lars,
        },
        momentum: config.momentum as f32,
        weight_decay: config.weight_decay as f32,
        lars_eta: 0.02,
    }
}

#[cfg(test)]
mod tests {
    //! A step of each model: shapes, a backward and an optimiser update with a finite norm.
    use dfdx::prelude::*;
    use groco_dfdx::layers::images_to_activation;

    use crate::model::{ResNet18Model, SmallCnnFlatModel, SmallCnnModel};

    #[test]
    fn resnet18_shapes() {
        let dev = Cpu::seed_from_u64(0);
        let mut m = ResNet18Model::<3, Cpu>::try_build(&dev).unwrap();
        let pixels: Vec<f32> = (0..4 * 3 * 32 * 32)
            .map(|i| ((i * 7919 + i / 3072 * 13) % 256) as f32 / 255.0)
            .collect();
        let x = images_to_activation(&dev, &pixels, 4, 3, 32, 32).unwrap();
        assert_eq!(*m.try_features_eval(x.clone()).unwrap().shape(), (4, 512));
        let grads = m.alloc_grads();
        let z = m.try_project_train(x.traced(grads)).unwrap();
        let grads = z.powi(3).mean().backward();
        let mut opt = super::super::optim::Optimizer::new(super::super::optim::OptimizerConfig {
            rule: super::super::optim::Rule::Lars,
            momentum: 0.9,
            weight_decay: 1e-5,
            lars_eta: 0.02,
        });
        let stats = opt.try_step_checked(&mut m, &grads, 0.1).unwrap().unwrap();
        assert!(stats.finite && stats.grad_norm > 0.0, "{stats:?}");
    }

    #[test]
    fn small_cnn_shapes_and_a_training_step() {
        let dev = Cpu::seed_from_u64(0);
        let mut m = SmallCnnModel::<1, Cpu>::try_build(&dev).unwrap();
        let pixels: Vec<f32> = (0..4 * 28 * 28)
            .map(|i| ((i * 7919) % 256) as f32 / 255.0)
            .collect();
        let x = images_to_activation(&dev, &pixels, 4, 1, 28, 28).unwrap();
        let f = m.try_features_eval(x.clone()).unwrap();
        assert_eq!(*f.shape(), (4, 128));
        let flat = SmallCnnFlatModel::<1, Cpu>::try_build(&dev).unwrap();
        assert_eq!(
            *flat.try_features_eval(x.clone()).unwrap().shape(),
            (4, 2048)
        );
        let grads = m.alloc_grads();
        let z = m.try_project_train(x.traced(grads)).unwrap();
        assert_eq!(z.shape().0, 4);
        let grads = z.powi(3).mean().backward();
        let mut opt = super::super::optim::Optimizer::new(super::super::optim::OptimizerConfig {
            rule: super::super::optim::Rule::Sgd,
            momentum: 0.9,
            weight_decay: 1e-5,
            lars_eta: 0.001,
        });
        let stats = opt.try_step_checked(&mut m, &grads, 0.1).unwrap().unwrap();
        assert!(stats.finite && stats.grad_norm > 0.0);
        let snap = crate::report::checkpoint::snapshot(&m).unwrap();
        assert!(
            snap.tensors
                .iter()
                .any(|(n, _, _)| n == "encoder.c1.weight"),
            "{:?}",
            snap.tensors.iter().map(|t| &t.0).collect::<Vec<_>>()
        );
    }
}
