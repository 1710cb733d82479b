//! What a finished (or stopped) training run reports: the [`Summary`] written as `summary.json`.

/// What a finished (or stopped) training run reports.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// k-NN top-1 (k = `knn_k`, on the test split), percent.
    pub knn_top1: f64,
    /// k-NN top-1 with k = 1, percent.
    pub knn1_top1: f64,
    /// k-NN top-1 (k = `knn_k`, same splits) of the same encoder with its initial weights,
    /// before the first step: what training added is `knn_top1` minus this. `None` for a run
    /// resumed from a checkpoint written before it was recorded.
    #[serde(default)]
    pub random_init_knn_top1: Option<f64>,
    /// Linear-probe top-1, percent, when a probe ran.
    pub linear_top1: Option<f64>,
    /// Epochs completed.
    pub epochs: usize,
    /// Mean loss over the last epoch.
    pub final_loss: f64,
    /// Wall time of the training (this invocation), seconds.
    pub seconds: f64,
    /// Training images (not views) per second.
    pub images_per_second: f64,
    /// Dataset spec.
    pub dataset: String,
    /// Loss name.
    pub loss: String,
    /// Encoder name.
    pub encoder: String,
    /// Seed.
    pub seed: u64,
}
