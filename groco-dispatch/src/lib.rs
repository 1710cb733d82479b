//! groco-dispatch: runs groco-core's generic kernels compiled for the widest vector ISA the
//! CPU has (AVX-512, else AVX2+FMA, else the portable build), chosen once at run time.
//!
//! groco-core stays `no_std` and free of `unsafe`: each entry point has an `*_inlined` twin
//! (`Sorter::try_forward_batch_inlined`, `GrocoRowLoss::try_loss_and_grad_rows_inlined`, …)
//! that is generic and `#[inline(always)]` down to the comparator kernels, so it compiles into
//! whatever function calls it (the plain entry points are compiled once, for the build's own
//! target features). [`Dispatch::run`] calls a closure from a function built with
//! `#[target_feature(enable = ...)]`; the closure and the core code in it inline there and are
//! vectorised for that ISA (16 f32 lanes per register with AVX-512, 8 with AVX2).
//!
//! One data movement does not vectorise from portable code: the 16×16 block transpose that
//! moves P rows between lanes and memory. The core takes it as a [`groco_core::Transpose`]
//! argument of its `*_inlined` sort entry points; [`Dispatch::transposer`] gives the one built
//! from the ISA's shuffles ([`Transposer`]).
//!
//! The `unsafe` is all in `x86.rs`: the one call into each ISA's trampoline and into each
//! ISA's transpose, made only for a `Dispatch` (proof that `is_x86_feature_detected!` saw the
//! features), and the transposes' register loads and stores of 16-float rows.
//!
//! The results are bit for bit those of the portable build: Rust does not contract `a·b + c`
//! into an FMA or reorder float sums on its own, so a wider ISA changes only how many lanes one
//! instruction handles (`tests/paths.rs` checks this on every fixture).
//!
//! ```
//! use groco_core::{SortConfig, Sorter};
//! use groco_dispatch::Dispatch;
//! let isa = Dispatch::detect(); // cached; GROCO_ISA=portable|avx2|avx512 narrows it
//! let s = Sorter::try_new(4, SortConfig::<f32>::default())?;
//! let x = [0.4, -1.0, 2.5, 0.1];
//! let (mut y, mut p) = ([0.0; 4], [0.0; 16]);
//! let mut scratch = vec![0.0; s.batch_scratch_len(1)];
//! let tr = isa.transposer(); // the ISA's shuffles for the P-row transposes
//! isa.run(|| s.try_forward_batch_inlined(&x, &mut y, &mut p, &mut scratch, tr))?;
//! assert!(y[0] < y[3]);
//! # Ok::<(), groco_core::Error>(())
//! ```
//!
//! Without std (or to skip the dispatch), build the core for a fixed ISA instead:
//! `RUSTFLAGS="-C target-feature=+avx2,+fma"` or `-C target-cpu=native`.
#![deny(missing_docs)]

use std::fmt;
use std::sync::OnceLock;

mod transpose;
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86;

pub use transpose::Transposer;

/// The environment variable that narrows [`Dispatch::detect`] to a named path.
pub const ISA_ENV: &str = "GROCO_ISA";

/// A vector ISA the kernels can be compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// The build's own target features (SSE2 on a default x86-64 build).
    Portable,
    /// AVX2 with FMA (256-bit registers).
    Avx2,
    /// AVX-512 F/VL/BW/DQ with AVX2 and FMA (512-bit registers).
    Avx512,
}

impl Isa {
    /// Every ISA, narrowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The name `GROCO_ISA` takes: `portable`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU (and this build's target) can run the ISA's path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            wide => x86::is_supported(wide),
            #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
            _ => false,
        }
    }

    /// The ISAs this CPU supports, narrowest first (always starts with `Portable`).
    pub fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Isa {
    type Err = DispatchError;
    fn from_str(s: &str) -> Result<Isa, DispatchError> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| DispatchError::Unknown(s.to_owned()))
    }
}

/// Why a requested ISA cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DispatchError {
    /// Not one of `portable`, `avx2`, `avx512`.
    Unknown(String),
    /// A known ISA this CPU lacks.
    Unsupported(Isa),
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::Unknown(s) => write!(
                f,
                "{ISA_ENV}={s:?}: unknown vector ISA (expected portable, avx2 or avx512)"
            ),
            DispatchError::Unsupported(isa) => write!(
                f,
                "{ISA_ENV}={isa}: this CPU does not support it (supported: {})",
                Isa::supported()
                    .iter()
                    .map(|i| i.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl std::error::Error for DispatchError {}

/// A supported [`Isa`]: holding one proves the CPU has its features, which is what makes
/// [`Dispatch::run`] sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch(Isa);

impl Dispatch {
    /// The portable path (always available).
    pub const PORTABLE: Dispatch = Dispatch(Isa::Portable);

    /// `isa` if this CPU supports it.
    pub fn try_new(isa: Isa) -> Result<Dispatch, DispatchError> {
        if isa.is_supported() {
            Ok(Dispatch(isa))
        } else {
            Err(DispatchError::Unsupported(isa))
        }
    }

    /// The widest supported ISA.
    pub fn widest() -> Dispatch {
        let isa = Isa::ALL.into_iter().rev().find(|i| i.is_supported());
        Dispatch(isa.unwrap_or(Isa::Portable))
    }

    /// The ISA named by `GROCO_ISA` when it is set (an error names the value if it is unknown
    /// or unsupported), else the widest supported.
    pub fn try_from_env() -> Result<Dispatch, DispatchError> {
        match std::env::var(ISA_ENV) {
            Ok(v) if !v.trim().is_empty() => Dispatch::try_new(v.parse()?),
            _ => Ok(Dispatch::widest()),
        }
    }

    /// [`Dispatch::try_from_env`], decided once per process. A bad `GROCO_ISA` is reported
    /// on stderr once and the widest supported ISA is used.
    pub fn detect() -> Dispatch {
        static CHOSEN: OnceLock<Dispatch> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            Dispatch::try_from_env().unwrap_or_else(|e| {
                eprintln!("warning: {e}; using {}", Dispatch::widest().isa());
                Dispatch::widest()
            })
        })
    }

    /// The ISA.
    pub fn isa(self) -> Isa {
        self.0
    }

    /// Runs `f` compiled for this ISA: `f`'s body, and the generic `#[inline]` code it calls,
    /// inline into a function built with the ISA's target features.
    #[inline]
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        match self.0 {
            Isa::Portable => f(),
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            wide => x86::run(wide, f),
            #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
            _ => f(),
        }
    }
}

impl fmt::Display for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_named() {
        for isa in Isa::ALL {
            assert_eq!(isa.name().parse::<Isa>(), Ok(isa));
        }
        assert_eq!(" AVX512 ".parse::<Isa>(), Ok(Isa::Avx512));
        let e = "sse9".parse::<Isa>().unwrap_err();
        assert_eq!(e, DispatchError::Unknown("sse9".into()));
        assert!(e.to_string().contains("\"sse9\""), "{e}");
    }

    #[test]
    fn support_is_consistent() {
        let sup = Isa::supported();
        assert_eq!(sup[0], Isa::Portable);
        // AVX-512 implies AVX2 here: a CPU with the wider path has the narrower one.
        if sup.contains(&Isa::Avx512) {
            assert!(sup.contains(&Isa::Avx2));
        }
        assert_eq!(Dispatch::widest().isa(), *sup.last().unwrap());
        for isa in Isa::ALL {
            assert_eq!(Dispatch::try_new(isa).is_ok(), sup.contains(&isa));
            if let Err(e) = Dispatch::try_new(isa) {
                assert!(e.to_string().contains("does not support"), "{e}");
            }
        }
    }

    #[test]
    fn run_returns_the_closures_value_on_every_path() {
        for isa in Isa::supported() {
            let d = Dispatch::try_new(isa).unwrap();
            let v: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
            let s = d.run(|| v.iter().map(|x| x * x + 1.0).sum::<f32>());
            let want = v.iter().map(|x| x * x + 1.0).sum::<f32>();
            assert_eq!(s.to_bits(), want.to_bits(), "{isa}");
        }
    }
}
