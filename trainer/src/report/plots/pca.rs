//! The PCA scatter of features: centred features projected onto the top two eigenvectors of
//! their covariance `C = XᵀX / (n - 1)`, found by block power iteration (`V ← orth(C V)`,
//! Gram-Schmidt) on `C`.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::error::{Error, Result};

use super::chart::*;

/// A scatter of 2-D points coloured by class, with the class legend beside the plot: title and
/// axis titles, points, classes.
pub(super) struct Scatter([String; 3], Vec<(f64, f64)>, Vec<u16>);

impl Figure for Scatter {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Draw
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let (plot, side) = root.split_horizontally(root.dim_in_pixel().0 - 140);
        let x = padded(self.1.iter().map(|p| &p.0), 0.04);
        let y = padded(self.1.iter().map(|p| &p.1), 0.04);
        let labels = self.0.each_ref().map(String::as_str);
        let mut chart = try_chart(&plot, labels, (x, y), [&number_tick, &number_tick])?;
        let dot =
            |(&p, &c): (&(f64, f64), &u16)| Circle::new(p, 3, color(c.into()).mix(0.75).filled());
        chart.draw_series(self.1.iter().zip(&self.2).map(dot))?;
        let mut classes = self.2.clone();
        classes.sort_unstable();
        classes.dedup();
        let style = text_style(16, HPos::Left, VPos::Center);
        side.draw(&Text::new("class", (10, 60), style.clone()))?;
        if classes.len() > PALETTE.len() {
            let note = format!("{} classes,", classes.len());
            side.draw(&Text::new(note, (10, 90), style.clone()))?;
            return Ok(side.draw(&Text::new("colours repeat", (10, 112), style))?);
        }
        for (i, &c) in classes.iter().enumerate() {
            let y = 90 + 26 * i as i32;
            side.draw(&Circle::new((18, y), 6, color(c.into()).filled()))?;
            side.draw(&Text::new(c.to_string(), (32, y), style.clone()))?;
        }
        Ok(())
    }
}

pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Gram-Schmidt: normalises `v[0]`, then makes `v[1]` orthogonal to it and normalises it.
pub(super) fn orthonormalise(mut v: [Vec<f64>; 2]) -> [Vec<f64>; 2] {
    let d = dot(&v[0], &v[1]) / dot(&v[0], &v[0]).max(1e-300);
    let [a, b] = &mut v;
    b.iter_mut().zip(a.iter()).for_each(|(b, a)| *b -= d * a);
    for u in &mut v {
        let norm = dot(u, u).sqrt();
        let scale = if norm > 1e-150 { 1.0 / norm } else { 0.0 };
        u.iter_mut().for_each(|a| *a *= scale);
    }
    v
}

/// The top two principal axes of the centred rows `c` (`n × dim`): the unit axes (each with its
/// largest entry positive), the variance along each, and the total variance. The iteration stops
/// when the axes settle or after 500 steps (its error shrinks like `(λ₃/λ₂)^k`; axes of nearly
/// equal variance are interchangeable in a plot).
pub(super) fn principal_axes(c: &[f64], dim: usize) -> ([Vec<f64>; 2], [f64; 2], f64) {
    let n = (c.len() / dim).max(2) as f64;
    let mut cov = vec![0.0; dim * dim];
    // Blocks of 32 rows, so each row of `cov` stays in cache while it sums their products.
    for block in c.chunks(32 * dim) {
        for a in 0..dim {
            let upper = &mut cov[a * dim + a..(a + 1) * dim];
            for row in block.chunks_exact(dim) {
                let ra = row[a];
                upper
                    .iter_mut()
                    .zip(&row[a..])
                    .for_each(|(s, rb)| *s += ra * rb);
            }
        }
    }
    for a in 0..dim {
        cov[a * dim + a] /= n - 1.0;
        for b in a + 1..dim {
            cov[a * dim + b] /= n - 1.0;
            cov[b * dim + a] = cov[a * dim + b];
        }
    }
    let times = |v: &[f64]| -> Vec<f64> { cov.chunks_exact(dim).map(|r| dot(r, v)).collect() };
    // A fixed, irregular start, so no eigenvector is orthogonal to it by symmetry.
    let start = |p: usize, q: usize| {
        (0..dim)
            .map(|i| ((i * p) % q) as f64 / q as f64 - 0.4)
            .collect()
    };
    let mut v = orthonormalise([start(7919, 13), start(104_729, 17)]);
    for _ in 0..500 {
        let next = orthonormalise([times(&v[0]), times(&v[1])]);
        let moved = (0..2)
            .map(|k| 1.0 - dot(&next[k], &v[k]).abs())
            .fold(0.0, f64::max);
        v = next;
        if moved < 1e-12 {
            break;
        }
    }
    for axis in &mut v {
        let big = axis
            .iter()
            .fold(0.0, |b: f64, &a| if a.abs() > b.abs() { a } else { b });
        axis.iter_mut().for_each(|a| *a *= big.signum());
    }
    let var = [dot(&v[0], &times(&v[0])), dot(&v[1], &times(&v[1]))];
    (v, var, (0..dim).map(|a| cov[a * dim + a]).sum())
}

/// A PCA scatter of `features` (`n × dim`, row-major) on their top two principal components,
/// coloured by `labels`, each axis showing the share of variance its component explains.
/// Writes `pca.png` and `pca.svg` into `dir`.
///
/// ```
/// let features: Vec<f32> = (0..60).map(|i| ((i * 37) % 11) as f32).collect();
/// let labels: Vec<u16> = (0..20).map(|i| i % 3).collect();
/// let dir = tempfile::tempdir().unwrap();
/// trainer::report::plots::try_pca_plot(dir.path(), &features, &labels, 3, "Test features").unwrap();
/// assert!(dir.path().join("pca.png").exists());
/// ```
pub fn try_pca_plot(
    dir: &Path,
    features: &[f32],
    labels: &[u16],
    dim: usize,
    title: &str,
) -> Result<()> {
    let what = "PCA features";
    let n = features.len().checked_div(dim).unwrap_or(0);
    if n == 0 || features.len() != n * dim || labels.len() != n {
        let expected = format!("n > 0 rows of dim {dim} values and n labels");
        let found = format!("{} values and {} labels", features.len(), labels.len());
        return Err(Error::ShapeMismatch {
            what,
            expected,
            found,
        });
    }
    let rows = features.chunks_exact(dim);
    if let Some(row) = rows.clone().position(|r| r.iter().any(|v| !v.is_finite())) {
        return Err(Error::NonFinite { what, row });
    }
    let mut mean = vec![0.0; dim];
    for r in rows.clone() {
        mean.iter_mut()
            .zip(r)
            .for_each(|(m, &v)| *m += v as f64 / n as f64);
    }
    let centred: Vec<f64> = rows
        .flat_map(|r| r.iter().zip(&mean).map(|(&v, m)| v as f64 - m))
        .collect();
    let ([a, b], var, total) = principal_axes(&centred, dim);
    let points = centred
        .chunks_exact(dim)
        .map(|r| (dot(r, &a), dot(r, &b)))
        .collect();
    let share = |k: usize| 100.0 * var[k] / total.max(f64::MIN_POSITIVE);
    let titles = [
        format!("{title}: PCA of {n} features (dim {dim})"),
        format!("PC1 ({:.1} % of variance)", share(0)),
        format!("PC2 ({:.1} % of variance)", share(1)),
    ];
    let classes = labels.to_vec();
    try_write_figure(dir, "pca", &Scatter(titles, points, classes)).map(drop)
}
