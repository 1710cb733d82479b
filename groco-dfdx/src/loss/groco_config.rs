//! [`GrocoConfig`], the settings of the GroCo loss, and their checks against a batch: the
//! shared front of the host (`groco_host`) and device-resident (`groco_resident`) paths.
//!
//! For V views of B rows, P = `n_pos_augs` (default V) leading views are positives-eligible:
//! 2 ≤ P ≤ V. An anchor of an eligible view has P − 1 positives (the same row of the other
//! eligible views), an anchor of any other view P; both keep k = `topk_neg` of their B − 1
//! candidate negatives, 1 ≤ k ≤ B − 1. [`row_losses`] builds groco-core's row loss for each
//! of the two positive counts.

use groco_core::{GrocoRowLoss, Network, Relaxation, SortConfig};

use super::device::core_error;
use super::float::{cst, LossFloat};
use crate::Error;

const OP: &str = "groco_loss";

/// Settings of [`groco_loss`](crate::loss::groco_loss); `Default` gives the paper's: k = 10, steepness 1, odd-even,
/// cauchy, art_lambda 0.25, every view positives-eligible, stop-gradient on.
///
/// ```
/// use groco_dfdx::loss::GrocoConfig;
/// let multi_crop = GrocoConfig { n_pos_augs: Some(2), ..GrocoConfig::default() };
/// assert_eq!(multi_crop.topk_neg, 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GrocoConfig {
    /// Negatives kept per anchor (k): 1 ≤ k ≤ B − 1.
    pub topk_neg: usize,
    /// Steepness of the relaxed comparators, finite and > 0.
    pub steepness: f64,
    /// Sorting network.
    pub network: Network,
    /// Comparator relaxation.
    pub relaxation: Relaxation,
    /// λ of the `logistic_phi` relaxation.
    pub art_lambda: f64,
    /// P, the number of leading views that serve as positives (`None`: all V; multi-crop
    /// runs set it to the number of global crops). 2 ≤ P ≤ V.
    pub n_pos_augs: Option<usize>,
    /// Detach the positive and negative side of each similarity (only anchors get gradient).
    pub stop_grad: bool,
}

impl Default for GrocoConfig {
    fn default() -> Self {
        GrocoConfig {
            topk_neg: 10,
            steepness: 1.0,
            network: Network::OddEven,
            relaxation: Relaxation::Cauchy,
            art_lambda: 0.25,
            n_pos_augs: None,
            stop_grad: true,
        }
    }
}

/// Checks `config` against V views of B rows; returns (P, k).
pub(crate) fn check_config(
    config: &GrocoConfig,
    views: usize,
    rows: usize,
) -> Result<(usize, usize), Error> {
    if views < 2 {
        return Err(Error::config(
            OP,
            "views",
            views,
            "the GroCo loss needs at least 2 views",
        ));
    }
    let p = config.n_pos_augs.unwrap_or(views);
    if !(2..=views).contains(&p) {
        return Err(Error::config(
            OP,
            "n_pos_augs",
            p,
            "must be between 2 and the number of views",
        ));
    }
    if rows < 2 {
        return Err(Error::shape(
            OP,
            "views of at least 2 rows (the negatives of a row are the other rows)",
            format!("{rows} row"),
        ));
    }
    let k = config.topk_neg;
    if k == 0 || k > rows - 1 {
        let reason = "must be between 1 and B - 1 (the other rows of the batch are the negatives)";
        return Err(Error::config(OP, "topk_neg", k, reason));
    }
    Ok((p, k))
}

/// The core's row losses for the anchors of positives-eligible views (P − 1 positives) and of
/// the other views (P positives), each with the k kept negatives.
pub(crate) fn row_losses<F: LossFloat>(
    config: &GrocoConfig,
    p: usize,
    k: usize,
) -> Result<[GrocoRowLoss<F>; 2], Error> {
    let sort = SortConfig {
        network: config.network,
        relaxation: config.relaxation,
        steepness: cst::<F>(config.steepness),
        art_lambda: cst::<F>(config.art_lambda),
    };
    let row_loss = |n_pos| GrocoRowLoss::try_new(n_pos, k, k, sort).map_err(core_error(OP));
    Ok([row_loss(p - 1)?, row_loss(p)?])
}
