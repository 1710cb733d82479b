//! The subcommands, on top of everything else: each parses its arguments (`cli`) and calls down
//! into training, evaluation and reporting; [`try_run`] runs one.

pub mod bench;
pub mod cli;
pub mod compare;
mod device;
pub mod eval;
pub mod train;

use crate::error::Result;
use cli::{Command, EvalCommand};
use device::try_print_device;

/// Runs a parsed subcommand. Every command but `bench` (which prints its own) starts with the
/// `device:` line, or fails before printing or writing anything when the device is unusable.
pub fn try_run(command: Command) -> Result<()> {
    match command {
        Command::Train(args) => train::try_train_command(args),
        Command::Eval(EvalCommand::Knn(args)) => {
            try_print_device(args.source.device)?;
            eval::try_knn_command(&args)
        }
        Command::Eval(EvalCommand::Linear(args)) => {
            try_print_device(args.source.device)?;
            eval::try_linear_command(&args)
        }
        Command::Compare(args) => compare::try_compare_command(&args),
        Command::Bench(args) => bench::try_bench(&args),
    }
}
