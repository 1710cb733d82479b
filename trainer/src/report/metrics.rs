//! The records of `metrics.jsonl`, typed, and the one reader of the file.
//!
//! A line is a [`MetricRecord`]: a logged training step (no `event` key), or an event tagged by
//! its `event` key (`knn`, `linear`, `non_finite_loss`). The writer is `runlog::MetricsLog`;
//! the resumed log, the plots and the tests read through [`try_read_records`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One line of `metrics.jsonl`.
///
/// ```
/// use trainer::report::{Event, MetricRecord, StepRecord};
/// let step: MetricRecord = serde_json::from_str(
///     r#"{"step":3,"epoch":0,"loss":0.5,"lr":0.1,"grad_norm":null,"images_per_second":90.0}"#,
/// ).unwrap();
/// assert!(matches!(step, MetricRecord::Step(StepRecord { step: 3, grad_norm: None, .. })));
/// let knn: MetricRecord =
///     serde_json::from_str(r#"{"event":"knn","epoch":0,"knn_top1":70.5,"knn1_top1":66.0,"k":20}"#)
///         .unwrap();
/// assert!(matches!(knn, MetricRecord::Event(Event::Knn { epoch: 0, .. })));
/// assert_eq!(serde_json::to_value(&knn).unwrap()["event"], "knn");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricRecord {
    /// An event (it has an `event` key).
    Event(Event),
    /// A logged training step.
    Step(StepRecord),
}

/// A logged training step (every `log_every` steps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Global step, from 0.
    pub step: usize,
    /// Epoch, from 0.
    pub epoch: usize,
    /// The step's loss.
    pub loss: f64,
    /// The learning rate of the step.
    pub lr: f64,
    /// The global gradient norm (`null` where it was not computed).
    #[serde(default)]
    pub grad_norm: Option<f64>,
    /// Training images per second so far (a wall-clock figure, not reproducible).
    #[serde(default)]
    pub images_per_second: f64,
}

/// An event of a run, tagged by `event`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A k-NN evaluation after `epoch` epochs (0: the encoder at its random init).
    Knn {
        /// Epochs completed.
        epoch: usize,
        /// Top-1 at `k`, percent.
        knn_top1: f64,
        /// Top-1 at k = 1, percent.
        #[serde(default)]
        knn1_top1: Option<f64>,
        /// The `k` of `knn_top1`.
        #[serde(default)]
        k: Option<usize>,
    },
    /// The linear probe at the end of the run.
    Linear {
        /// Top-1, percent.
        top1: f64,
        /// Top-5, percent.
        top5: f64,
    },
    /// The loss (or a gradient) was not finite: the run stopped before the update.
    NonFiniteLoss {
        /// Epoch, from 0.
        epoch: usize,
        /// Global step.
        step: usize,
        /// The value seen (`NaN`, `inf`).
        value: String,
    },
}

impl MetricRecord {
    /// Parses one line: an [`Event`] when it has an `event` key, else a [`StepRecord`], so that
    /// an error names the field that is wrong rather than "no variant matched".
    pub fn try_parse(line: &str) -> serde_json::Result<Self> {
        let value: serde_json::Value = serde_json::from_str(line)?;
        if value.get("event").is_some() {
            serde_json::from_value(value).map(MetricRecord::Event)
        } else {
            serde_json::from_value(value).map(MetricRecord::Step)
        }
    }

    /// Whether a run resumed after `epochs_done` checkpointed epochs keeps this record: steps of
    /// earlier epochs, and k-NN scores up to epoch `epochs_done` (epoch 0, the random-init
    /// score, only when `epochs_done` > 0: a fresh run logs it again); never end-of-run events.
    pub fn survives_resume_after(&self, epochs_done: usize) -> bool {
        match self {
            MetricRecord::Step(s) => s.epoch < epochs_done,
            MetricRecord::Event(Event::Knn { epoch, .. }) => {
                epochs_done > 0 && *epoch <= epochs_done
            }
            MetricRecord::Event(_) => false,
        }
    }
}

/// The records of the `metrics.jsonl` at `path` and the text of each line. Blank lines are
/// skipped, and so is a torn last line (no newline after it: the run was killed mid-write); any
/// other line that is not a record is an error naming the file and line.
pub fn try_read_records(path: &Path) -> Result<Vec<(MetricRecord, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    try_parse_records(&text, path)
}

/// [`try_read_records`] on `text` already read from `path` (which only names it in errors).
pub fn try_parse_records(text: &str, path: &Path) -> Result<Vec<(MetricRecord, String)>> {
    let lines = text.lines().count();
    let mut records = Vec::with_capacity(lines);
    for (i, line) in text.lines().enumerate() {
        let torn = i + 1 == lines && !text.ends_with('\n');
        match MetricRecord::try_parse(line) {
            Ok(record) => records.push((record, line.to_string())),
            Err(_) if line.trim().is_empty() || torn => {}
            Err(e) => {
                return Err(Error::Parse {
                    file: path.display().to_string(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let records = [
            MetricRecord::Step(StepRecord {
                step: 0,
                epoch: 0,
                loss: 0.5,
                lr: 0.1,
                grad_norm: Some(2.0),
                images_per_second: 10.0,
            }),
            MetricRecord::Event(Event::Knn {
                epoch: 1,
                knn_top1: 90.0,
                knn1_top1: Some(88.0),
                k: Some(20),
            }),
            MetricRecord::Event(Event::NonFiniteLoss {
                epoch: 1,
                step: 7,
                value: "NaN".into(),
            }),
        ];
        let text: String = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        // A torn last line is skipped.
        std::fs::write(&path, text.clone() + r#"{"step":3,"epo"#).unwrap();
        let back: Vec<_> = try_read_records(&path)
            .unwrap()
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(back, records);
        std::fs::write(&path, text + "{\"event\":\"knn\"}\n{}\n").unwrap();
        let e = try_read_records(&path).unwrap_err().to_string();
        assert!(
            e.contains("metrics.jsonl:4") && e.contains("missing field `epoch`"),
            "{e}"
        );
    }
}
