//! `trainer train` (and `trainer` alone): resolve the configuration (or load the checkpoint to
//! resume, once), say what will run and on which device, train, and print what the run reached
//! beside its random-init baseline.

use super::cli::TrainArgs;
use crate::config::try_resolve;
use crate::error::Result;
use crate::model::try_resolve_device;
use crate::train::{try_train_with, Resume, RunOptions};

/// Runs `trainer train`.
pub fn try_train_command(args: TrainArgs) -> Result<()> {
    let overrides = args.flags.overrides(args.loss);
    let (preset, file) = (args.flags.preset.as_deref(), args.flags.config.as_ref());
    let resume = args.resume.as_deref().map(Resume::try_load).transpose()?;
    let config = match &resume {
        Some(r) => {
            r.try_check_request(preset, file, &overrides)?;
            r.config.clone()
        }
        None => try_resolve(preset, file, &overrides)?,
    };
    let opts = RunOptions {
        out: args.out,
        resume: args.resume,
        stop_after_epochs: args.stop_after_epochs,
        verbose: true,
    };
    // Before anything is printed or written: `--device cuda` without a usable GPU is one error.
    let device = try_resolve_device(config.device)?;
    if opts.resume.is_none() {
        println!(
            "training {} on {} with {} for {} epochs (batch {}, {} views, seed {})",
            config.encoder.name(),
            config.dataset,
            config.loss.name(),
            config.epochs,
            config.batch_size,
            config.views,
            config.seed
        );
    }
    println!("device: {device}");
    let outcome = try_train_with(&config, resume, &opts)?;
    let s = &outcome.summary;
    println!(
        "trained {} epochs in {:.0} s ({:.0} images/s), final loss {:.4}",
        s.epochs, s.seconds, s.images_per_second, s.final_loss
    );
    if let Some(l) = s.linear_top1 {
        println!("linear probe top-1: {l:.2}%");
    }
    println!(
        "k-NN top-1 (k = {}, T = {}) on the test split: {:.2}%",
        config.knn_k, config.knn_temperature, s.knn_top1
    );
    if let Some(r) = s.random_init_knn_top1 {
        println!(
            "the same encoder at its random init: {r:.2}%; training added {:+.2} points",
            s.knn_top1 - r
        );
    }
    println!("run directory: {}", outcome.run_dir.display());
    Ok(())
}
