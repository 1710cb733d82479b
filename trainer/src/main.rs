//! The groco trainer binary: `trainer [train|eval|compare|bench]`; no arguments trains with the
//! embedded default preset.

use std::process::ExitCode;

use clap::Parser;
use trainer::commands::cli::{Cli, Command, TrainArgs};

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
    match trainer::commands::try_run(cli.command.unwrap_or(Command::Train(TrainArgs::default()))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
