//! The target-feature trampolines: one `#[target_feature]` function per wide ISA, and the one
//! `unsafe` call into each; and the shuffle transposes behind `Transposer`, with the one
//! `unsafe` call into each and one per register load or store.

#[cfg(target_arch = "x86")]
use std::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use groco_core::{ScalarTranspose, Transpose};

use crate::transpose::Block;
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

/// `dst = srcᵀ` for a 16×16 f32 block with `isa`'s shuffles. The caller holds a `Transposer`,
/// made from a `Dispatch`, so `isa` is supported.
#[inline(always)]
pub(crate) fn transpose(isa: Isa, src: &Block, dst: &mut Block) {
    debug_assert!(is_supported(isa));
    match isa {
        Isa::Portable => ScalarTranspose.transpose(src, dst),
        // SAFETY: a `Transposer` carries the ISA of a `Dispatch`, made only after
        // `is_supported` saw its features (avx2 and fma; avx512f/vl/bw/dq for Avx512) at run
        // time; `transpose_avx2` / `transpose_avx512` enable no more than those.
        Isa::Avx2 => unsafe { transpose_avx2(src, dst) },
        // SAFETY: as above.
        Isa::Avx512 => unsafe { transpose_avx512(src, dst) },
    }
}

/// The 16×16 transpose in zmm registers (see `transpose.rs`).
#[target_feature(enable = "avx512f")]
fn transpose_avx512(src: &Block, dst: &mut Block) {
    let mut r = [_mm512_setzero_ps(); 16];
    for (v, row) in r.iter_mut().zip(src) {
        // SAFETY: `row` is 16 contiguous f32, the 64 bytes an unaligned load reads.
        *v = unsafe { _mm512_loadu_ps(row.as_ptr()) };
    }
    // t[2i], t[2i+1]: rows 2i and 2i+1 interleaved, low and high pairs of each 128-bit lane
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4i + j], 128-bit lane l: column 4l + j of rows 4i..4i + 4
    let mut u = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        u[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
    }
    // column 4l + j: lane l of u[j], u[4 + j], u[8 + j], u[12 + j]
    for j in 0..4 {
        let s0 = _mm512_shuffle_f32x4::<0x88>(u[j], u[4 + j]);
        let s1 = _mm512_shuffle_f32x4::<0xDD>(u[j], u[4 + j]);
        let s2 = _mm512_shuffle_f32x4::<0x88>(u[8 + j], u[12 + j]);
        let s3 = _mm512_shuffle_f32x4::<0xDD>(u[8 + j], u[12 + j]);
        let cols = [
            (j, _mm512_shuffle_f32x4::<0x88>(s0, s2)),
            (4 + j, _mm512_shuffle_f32x4::<0x88>(s1, s3)),
            (8 + j, _mm512_shuffle_f32x4::<0xDD>(s0, s2)),
            (12 + j, _mm512_shuffle_f32x4::<0xDD>(s1, s3)),
        ];
        for (c, v) in cols {
            // SAFETY: `dst[c]` is 16 contiguous f32, the 64 bytes an unaligned store writes.
            unsafe { _mm512_storeu_ps(dst[c].as_mut_ptr(), v) };
        }
    }
}

/// The 16×16 transpose as four 8×8 ones in ymm registers: quarter (a, b) of `src` (rows 8a..,
/// columns 8b..) becomes quarter (b, a) of `dst`.
#[target_feature(enable = "avx2,fma")]
fn transpose_avx2(src: &Block, dst: &mut Block) {
    for a in 0..2 {
        for b in 0..2 {
            let mut r = [_mm256_setzero_ps(); 8];
            for (i, v) in r.iter_mut().enumerate() {
                // SAFETY: columns 8b..8b + 8 of row 8a + i: 8 contiguous f32 (32 bytes).
                *v = unsafe { _mm256_loadu_ps(src[8 * a + i][8 * b..].as_ptr()) };
            }
            let mut t = [_mm256_setzero_ps(); 8];
            for i in 0..4 {
                t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            let mut u = [_mm256_setzero_ps(); 8];
            for i in 0..2 {
                u[4 * i] = _mm256_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
                u[4 * i + 1] = _mm256_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
                u[4 * i + 2] = _mm256_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
                u[4 * i + 3] = _mm256_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
            }
            for j in 0..4 {
                let lo = _mm256_permute2f128_ps::<0x20>(u[j], u[4 + j]);
                let hi = _mm256_permute2f128_ps::<0x31>(u[j], u[4 + j]);
                for (c, v) in [(j, lo), (4 + j, hi)] {
                    // SAFETY: columns 8a..8a + 8 of row 8b + c: 8 contiguous f32 (32 bytes).
                    unsafe { _mm256_storeu_ps(dst[8 * b + c][8 * a..].as_mut_ptr(), v) };
                }
            }
        }
    }
}
