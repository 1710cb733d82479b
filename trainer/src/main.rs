//! The groco trainer binary: `trainer [train|eval|compare|bench]`; no arguments trains with the
//! embedded default preset.

use std::process::ExitCode;

use clap::Parser;
use trainer::cli::{Cli, Command, CompareArgs, EvalCommand, TrainArgs};
use trainer::config::{try_resolve, DeviceKind};
use trainer::train::{try_train, RunOptions};

/// mimalloc keeps freed large blocks for reuse; glibc's malloc returns every activation-sized
/// buffer (tens of MB, above its mmap threshold) to the kernel and page-faults it back in zeroed
/// on the next step, which cost about 15 % of a training step (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: Counting = Counting(mimalloc::MiMalloc);

/// mimalloc, with the live bytes counted in `trainer::heap` (two relaxed atomic operations per
/// allocation) so that `trainer bench` can report the peak bytes a training step keeps alive.
struct Counting(mimalloc::MiMalloc);

// SAFETY: every call forwards to mimalloc with the caller's layout and pointer unchanged; the
// counting only adds atomic arithmetic, which never allocates.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded as received (see the impl's comment).
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            trainer::heap::note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            trainer::heap::note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded as received.
        unsafe { self.0.dealloc(ptr, layout) };
        trainer::heap::note_dealloc(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            trainer::heap::note_dealloc(layout.size());
            trainer::heap::note_alloc(new_size);
        }
        p
    }
}

fn main() -> ExitCode {
    trainer::heap::install();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Train(TrainArgs::default())) {
        Command::Train(args) => train(args),
        Command::Eval(EvalCommand::Knn(args)) => {
            print_device(args.source.device).and_then(|()| trainer::evalcmd::try_knn_command(&args))
        }
        Command::Eval(EvalCommand::Linear(args)) => print_device(args.source.device)
            .and_then(|()| trainer::evalcmd::try_linear_command(&args)),
        Command::Compare(args) => compare(&args),
        // Prints its own device line.
        Command::Bench(args) => trainer::bench::try_bench(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the device `device` resolves to and why, or fails (`--device cuda` without a usable
/// GPU) before anything else is printed or written.
fn print_device(device: DeviceKind) -> trainer::Result<()> {
    let device = trainer::dispatch::try_resolve_device(device)?;
    println!("device: {device}");
    Ok(())
}

fn compare(args: &CompareArgs) -> trainer::Result<()> {
    let flags = &args.flags;
    let config = try_resolve(
        flags.preset.as_deref(),
        flags.config.as_ref(),
        &flags.overrides(None),
    )?;
    print_device(config.device)?;
    trainer::compare::try_compare(args)
}

fn train(args: TrainArgs) -> trainer::Result<()> {
    let overrides = args.flags.overrides(args.loss);
    let (preset, file) = (args.flags.preset.as_deref(), args.flags.config.as_ref());
    let config = match &args.resume {
        Some(path) => {
            let state = trainer::checkpoint::resolve_state_file(path);
            let ckpt = trainer::checkpoint::Checkpoint::try_load(path)?;
            let saved = trainer::train::try_saved_config(&state, &ckpt)?;
            saved.try_check_resume(&state, preset, file, &overrides)?;
            saved
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
    let device = trainer::dispatch::try_resolve_device(config.device)?;
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
    let outcome = try_train(&config, &opts)?;
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
