//! The plot of a comparison: top-1 per method and metric as grouped bars with ±std error bars,
//! the random-init encoder as the baseline.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::super::stats;
use super::super::summary::Summary;
use crate::error::Result;
use crate::eval::RandomInitScores;

use super::chart::*;

pub(super) struct Bars(
    pub(super) String,
    pub(super) Vec<String>,
    pub(super) Vec<Group>,
);

/// A method's name and, per metric, its mean and std over seeds (`None`: no bar).
pub(super) type Group = (String, Vec<Option<(f64, f64)>>);

impl Figure for Bars {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Draw
    where
        DB::ErrorType: 'static,
    {
        let bars = || self.2.iter().flat_map(|g| g.1.iter().flatten());
        // Zoomed on the bars (accuracies of good methods differ by tenths of a percent): from a
        // multiple of 5 below the lowest whisker, with head room above for labels and legend.
        let low = bars().fold(f64::INFINITY, |t, (m, s)| t.min(m - s));
        let high = bars().fold(f64::NEG_INFINITY, |t, (m, s)| t.max(m + s));
        let (low, high) = if low.is_finite() {
            (low, high)
        } else {
            (0.0, 100.0)
        };
        let base = (((low - 2.0) / 5.0).floor() * 5.0).clamp(0.0, 95.0);
        let top = high + 0.5 * (high - base).max(2.0);
        let percent = |v: &f64| {
            if *v <= 100.0 {
                integer_tick(v)
            } else {
                String::new()
            }
        };
        let labels = [self.0.as_str(), "", "top-1 accuracy (%)"];
        let ranges = (-0.5..self.2.len() as f64 - 0.5, base..top);
        let mut chart = try_chart(root, labels, ranges, [&integer_tick, &percent])?;
        let width = 0.8 / self.1.len() as f64;
        for (i, (name, values)) in self.2.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64, base));
            let style = text_style(18, HPos::Center, VPos::Top);
            root.draw(&Text::new(name.as_str(), (px, py + 10), style))?;
            let present: Vec<_> = values
                .iter()
                .enumerate()
                .filter_map(|(j, b)| Some((j, (*b)?)))
                .collect();
            let first = i as f64 - (present.len() as f64 - 1.0) / 2.0 * width;
            for (slot, &(j, (mean, std))) in present.iter().enumerate() {
                let x = first + slot as f64 * width;
                let (l, r) = (x - 0.45 * width, x + 0.45 * width);
                chart.draw_series([Rectangle::new([(l, base), (r, mean)], color(j).filled())])?;
                let (lo, hi, cap) = (mean - std, mean + std, 0.12 * width);
                let whisker = [
                    [(x, lo), (x, hi)],
                    [(x - cap, lo), (x + cap, lo)],
                    [(x - cap, hi), (x + cap, hi)],
                ];
                let mut label = format!("{mean:.1}");
                if std > 0.0 {
                    chart
                        .draw_series(whisker.map(|w| PathElement::new(w, BLACK.stroke_width(2))))?;
                    label = format!("{label} ± {std:.1}");
                }
                let (tx, ty) = chart.backend_coord(&(x, hi));
                let style = text_style(14, HPos::Center, VPos::Bottom);
                root.draw(&Text::new(label, (tx, ty - 6), style))?;
            }
        }
        for (j, name) in self.1.iter().enumerate() {
            let key =
                move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color(j).filled());
            let none = std::iter::empty::<Rectangle<(f64, f64)>>();
            chart.draw_series(none)?.label(name.as_str()).legend(key);
        }
        try_legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

/// Mean and sample standard deviation (0 for one value); `None` for no values.
pub(super) fn mean_std(v: &[f64]) -> Option<(f64, f64)> {
    (!v.is_empty()).then(|| stats::mean_std(v))
}

/// The `trainer compare` plot: per method, bars of k-NN top-1 (k = `knn_k`), 1-NN top-1 and,
/// when probed, linear top-1, each the mean over seeds with a ±std error bar (sample std, when
/// there is more than one run), and the same bars for the random-init encoder (`random`, one per
/// seed) as the baseline. The accuracy axis is zoomed on the bars. The title names the dataset.
/// Writes `compare.png` and `compare.svg` in `dir`.
///
/// ```
/// # use trainer::report::Summary;
/// # use trainer::eval::RandomInitScores;
/// let run = |loss: &str, knn| Summary { knn_top1: knn, knn1_top1: knn - 2.0, linear_top1: None,
///     random_init_knn_top1: Some(40.0),
///     epochs: 40, final_loss: 0.3, seconds: 60.0, images_per_second: 900.0,
///     dataset: "mnist5k".into(), loss: loss.into(), encoder: "small-cnn".into(), seed: 0 };
/// let rows = vec![("GroCo".to_string(), vec![run("groco", 86.0), run("groco", 87.0)]),
///                 ("NT-Xent".to_string(), vec![run("ntxent", 85.5), run("ntxent", 86.5)])];
/// let random = [RandomInitScores { knn1_top1: 40.0, knn_top1: 41.0, linear_top1: None }];
/// let dir = tempfile::tempdir().unwrap();
/// trainer::report::plots::try_compare_plot(dir.path(), 20, &rows, &random).unwrap();
/// assert!(dir.path().join("compare.svg").exists());
/// ```
pub fn try_compare_plot(
    dir: &Path,
    knn_k: usize,
    rows: &[(String, Vec<Summary>)],
    random: &[RandomInitScores],
) -> Result<()> {
    let probed = rows
        .iter()
        .flat_map(|r| &r.1)
        .any(|s| s.linear_top1.is_some());
    let names = [
        format!("k-NN (k = {knn_k})"),
        "1-NN".into(),
        "linear probe".into(),
    ];
    let metrics = names[..2 + probed as usize].to_vec();
    let pick: [fn(&Summary) -> Option<f64>; 3] = [
        |s| Some(s.knn_top1),
        |s| Some(s.knn1_top1),
        |s| s.linear_top1,
    ];
    let mut groups = Vec::new();
    for (name, runs) in rows {
        let stat = |f: &fn(&Summary) -> Option<f64>| {
            let values: Vec<f64> = runs.iter().filter_map(f).collect();
            mean_std(&values)
        };
        groups.push((
            name.clone(),
            pick[..metrics.len()].iter().map(stat).collect(),
        ));
    }
    let pick_random: [fn(&RandomInitScores) -> Option<f64>; 3] = [
        |r| Some(r.knn_top1),
        |r| Some(r.knn1_top1),
        |r| r.linear_top1,
    ];
    let random_bars = pick_random[..metrics.len()].iter().map(|f| {
        let values: Vec<f64> = random.iter().filter_map(f).collect();
        mean_std(&values)
    });
    groups.push(("random init".into(), random_bars.collect()));
    let counts = rows.iter().map(|r| r.1.len());
    let seeds = counts.chain([random.len()]).max().unwrap_or(0);
    let seeds = format!("{seeds} seed{}", if seeds == 1 { "" } else { "s" });
    let mut title = format!("Test top-1, {seeds}");
    if let Some(s) = rows.iter().find_map(|r| r.1.first()) {
        let (data, encoder, epochs) = (&s.dataset, &s.encoder, s.epochs);
        title = format!("Test top-1 on {data}: {encoder}, {epochs} epochs, {seeds}");
    }
    let fig = Bars(title, metrics, groups);
    try_write_figure(dir, "compare", &fig).map(drop)
}
