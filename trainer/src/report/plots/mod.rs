//! Plots of a run and of a comparison, each written as PNG and SVG: loss and learning rate
//! against step, k-NN top-1 against epoch, top-1 per method, and a PCA scatter of features.
//!
//! The PCA projects centred features onto the top two eigenvectors of their covariance
//! `C = XᵀX / (n - 1)`, found by block power iteration (`V ← orth(C V)`, Gram-Schmidt) on `C`.
//! Text is drawn with the embedded DejaVu Sans font, so no system font lookup is needed.

mod chart;
mod compare;
mod pca;
mod run;
#[cfg(test)]
mod tests;

pub use compare::try_compare_plot;
pub use pca::try_pca_plot;
pub use run::try_run_plots;
