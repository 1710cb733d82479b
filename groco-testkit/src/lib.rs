//! Test-only helpers shared by the groco crates' tests, so that each test binary does not carry
//! its own copy. Used only as a dev-dependency (`publish = false`); it depends on none of the
//! groco crates, so any of them can use it without a cycle.
//!
//! - [`rng`]: the test seed ([`seed`], overridable with `GROCO_SEED`) and a seeded splitmix64
//!   [`Rng`];
//! - [`for_f32_f64!`]: one generic test body instantiated as an `f32` and an `f64` test;
//! - [`fixtures`]: the reference-fixture files under `fixtures/<kind>/` (and
//!   `$GROCO_FIXTURES/<kind>/`), JSON field access with errors naming the file, and the
//!   tolerance rule the fixture tests share;
//! - [`sort_case`]: one `sort` fixture case, read and checked ([`SortCase`]);
//! - [`fuzz`]: replaying the saved fuzz inputs under `fuzz/regressions/<target>/`;
//! - [`datasets`]: the bytes of small IDX, CIFAR and STL-10 files for the dataset tests;
//! - [`memory`]: the resident set size, for the tests that check memory stays flat.

#![warn(missing_docs)]

pub mod datasets;
pub mod fixtures;
pub mod fuzz;
pub mod memory;
pub mod rng;
pub mod sort_case;

pub use rng::{seed, seed_or, Rng, DEFAULT_SEED, SEED_VAR};
pub use sort_case::SortCase;

/// The workspace root (the folder holding `fixtures/` and `fuzz/`).
pub fn workspace_root() -> &'static std::path::Path {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Instantiates a generic test function for `f32` and `f64`: `for_f32_f64!(name, ...)` expands
/// to a module `name` holding the tests `name::f32` and `name::f64`, which call
/// `super::name::<f32>(...)` and `super::name::<f64>(...)`.
///
/// The arguments, if any, are given per type:
/// - `for_f32_f64!(name)` calls `name::<F>()`;
/// - `for_f32_f64!(name, a32, a64)` calls `name::<f32>(a32)` and `name::<f64>(a64)` (one
///   argument, such as a tolerance);
/// - `for_f32_f64!(name, (a32, b32, ...), (a64, b64, ...))` passes several arguments.
///
/// ```
/// fn close<F: Into<f64> + From<f32>>(tol: f64) {
///     assert!((F::from(0.1f32).into() - 0.1f64).abs() <= tol);
/// }
/// groco_testkit::for_f32_f64!(close, 1e-8, 1e-8);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! for_f32_f64 {
    ($name:ident) => {
        $crate::for_f32_f64!($name, (), ());
    };
    ($name:ident, ($($a32:expr),* $(,)?), ($($a64:expr),* $(,)?)) => {
        mod $name {
            #[test]
            fn f32() {
                super::$name::<f32>($($a32),*);
            }
            #[test]
            fn f64() {
                super::$name::<f64>($($a64),*);
            }
        }
    };
    ($name:ident, $a32:expr, $a64:expr) => {
        $crate::for_f32_f64!($name, ($a32), ($a64));
    };
}
