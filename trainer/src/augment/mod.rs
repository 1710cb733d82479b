//! Data augmentation for self-supervised training: recipes of random views (SimCLR, DINO, digits)
//! and the [`BatchLoader`] that builds batches of views on worker threads.
//!
//! A view is random resized crop (+ flip, + rotation) → colour jitter → greyscale → Gaussian blur →
//! solarization → Gaussian noise, on `f32` CHW in `[0, 1]`. Each view is a pure function of
//! `(seed, epoch, sample index, view index)`: its random numbers come from a ChaCha8 stream keyed by
//! those four numbers, so results do not depend on thread count or scheduling.

mod loader;
mod ops;
mod recipe;

pub use loader::{
    eval_batches, BatchLoader, Batches, EvalBatch, EvalBatches, LoaderConfig, ViewBatch,
};
pub use ops::{Augmenter, ViewKey};
pub use recipe::{Blur, ColorJitter, Noise, Recipe, ViewRecipe};
