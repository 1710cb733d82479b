//! Evaluating an encoder on frozen features: eval-mode features of a split, the weighted k-NN
//! classifier, the linear probe, and the random-init baseline of a configuration.

mod features;
pub mod knn;
pub mod linear;
mod random_init;

pub use features::{try_features, try_knn};
pub use knn::KnnScore;
pub use linear::{try_linear_probe, LinearProbeConfig, LinearScore};
pub use random_init::{
    probe_fit, try_random_init_report, try_random_init_scores, RandomInitScores,
};
