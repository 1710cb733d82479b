//! The target-feature trampolines: one `#[target_feature]` function per wide ISA, and the one
//! `unsafe` call into each.

use crate::Isa;

#[cfg(target_arch = "x86")]
use std::is_x86_feature_detected as detected;
#[cfg(target_arch = "x86_64")]
use std::is_x86_feature_detected as detected;

/// Whether the CPU has every feature the ISA's trampoline enables.
pub(crate) fn is_supported(isa: Isa) -> bool {
    let avx2 = detected!("avx2") && detected!("fma");
    match isa {
        Isa::Portable => true,
        Isa::Avx2 => avx2,
        Isa::Avx512 => {
            avx2 && detected!("avx512f")
                && detected!("avx512vl")
                && detected!("avx512bw")
                && detected!("avx512dq")
        }
    }
}

#[target_feature(enable = "avx2,fma")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` through `isa`'s trampoline. The caller holds a `Dispatch`, which is only made for
/// a supported ISA.
#[inline]
pub(crate) fn run<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    debug_assert!(is_supported(isa));
    match isa {
        Isa::Portable => f(),
        // SAFETY: `Dispatch::try_new` / `widest` built this `Dispatch` only after
        // `is_supported(Avx2)` saw avx2 and fma at run time, the features `run_avx2` enables.
        Isa::Avx2 => unsafe { run_avx2(f) },
        // SAFETY: as above, with avx512f/vl/bw/dq, avx2 and fma, the features of `run_avx512`.
        Isa::Avx512 => unsafe { run_avx512(f) },
    }
}
