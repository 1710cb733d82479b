//! Statistics over seeds: mean and sample standard deviation, and the paired difference of two
//! methods run on the same seeds with the standard error of its mean.

/// Mean and (sample) standard deviation; NaN for no values, a standard deviation of 0 for one.
///
/// ```
/// use trainer::report::mean_std;
/// assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 2f64.sqrt()));
/// ```
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Per-seed differences `a − b` of paired runs: their mean and standard error
/// (sample standard deviation / √n; NaN for a single pair).
///
/// ```
/// use trainer::report::paired_difference;
/// let (mean, se) = paired_difference(&[95.0, 96.0, 97.0], &[94.0, 94.0, 94.0]);
/// assert!((mean - 2.0).abs() < 1e-12 && (se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
/// ```
pub fn paired_difference(a: &[f64], b: &[f64]) -> (f64, f64) {
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (mean, std) = mean_std(&diffs);
    let se = if diffs.len() > 1 {
        std / (diffs.len() as f64).sqrt()
    } else {
        f64::NAN
    };
    (mean, se)
}
