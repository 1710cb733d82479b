//! Training: the configured loss, the optimisers, the learning-rate schedule, one step (shared
//! with `trainer bench`) and the loop of a whole run with its checkpoints and resume.

mod loss;
pub mod optim;
mod resume;
mod run;
mod schedule;
mod step;

pub use loss::LossFn;
pub use optim::{Optimizer, OptimizerConfig, Rule, StepStats};
pub use resume::Resume;
pub use run::{try_train, try_train_with, Outcome, RunOptions};
pub use schedule::CosineSchedule;
pub use step::{augment_recipe, optimizer_config, stack_views, try_train_step};
