//! What a run leaves behind and shows: the run directory and its atomic writes (`runlog`), the
//! per-epoch checkpoint, `metrics.jsonl`, the [`Summary`], progress lines, statistics over seeds
//! and the plots.

pub mod checkpoint;
mod metrics;
pub mod plots;
mod progress;
pub mod runlog;
mod stats;
mod summary;

pub use metrics::{try_read_records, Event, MetricRecord, StepRecord};
pub use progress::Progress;
pub use runlog::{try_create_run_dir, try_write_atomic, MetricsLog};
pub use stats::{mean_std, paired_difference};
pub use summary::Summary;
