//! Training configuration: defaults, named presets, a TOML file and command-line flags, composed
//! in that order (later wins), then validated before any work starts.
//!
//! Every field is declared once, in `fields.rs`, with its doc, flag, type and default. Every
//! field can be set in a config file, where unknown keys are rejected, not ignored, and on the
//! command line. The resolved configuration is written to the run directory as `config.toml`.

mod fields;
mod kinds;
mod presets;
mod resolve;
mod validate;

pub use fields::{ConfigOverrides, TrainConfig};
pub use kinds::{DeviceKind, EncoderKind, LossKind, OptimizerKind};
pub use presets::PRESETS;
pub use resolve::try_resolve;
