//! The plots of one run, from its `metrics.jsonl`: training loss (with a moving average), the
//! learning-rate schedule, and k-NN top-1 against epoch (epoch 0 is the random-init encoder).

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::super::metrics::{try_read_records, Event, MetricRecord};
use crate::error::Result;

use super::chart::*;

/// One line of a [`Lines`] chart.
pub(super) struct Series(
    pub(super) String,
    pub(super) Vec<(f64, f64)>,
    pub(super) RGBColor,
    pub(super) u32,
    pub(super) bool,
);

/// A line chart: title and axis titles, series, legend corner, y range (`None`: fit the data).
/// Series of under 20 points get markers too.
pub(super) struct Lines([&'static str; 3], Vec<Series>, Corner, Option<Range<f64>>);

impl Figure for Lines {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Draw
    where
        DB::ErrorType: 'static,
    {
        let all = || self.1.iter().flat_map(|s| s.1.iter());
        let x = padded(all().map(|p| &p.0), 0.02);
        let y = (self.3.clone()).unwrap_or(padded(all().map(|p| &p.1), 0.05));
        let middle = ((x.start + x.end) / 2.0, (y.start + y.end) / 2.0);
        let mut chart = try_chart(root, self.0, (x, y), [&integer_tick, &number_tick])?;
        if all().next().is_none() {
            let style = text_style(20, HPos::Center, VPos::Center).color(&RED);
            return Ok(root.draw(&Text::new(
                "nothing logged",
                chart.backend_coord(&middle),
                style,
            ))?);
        }
        for Series(name, points, color, width, markers) in &self.1 {
            let style = color.stroke_width(*width);
            let key = move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style.stroke_width(3));
            let line = LineSeries::new(points.iter().copied(), style);
            chart.draw_series(line)?.label(name).legend(key);
            if *markers || points.len() < 20 {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            }
        }
        try_legend(&mut chart, self.2.clone())
    }
}

/// What a run's `metrics.jsonl` holds that is worth plotting, each sorted by x.
#[derive(Default)]
pub(super) struct Metrics {
    loss: Vec<(f64, f64)>,
    lr: Vec<(f64, f64)>,
    knn: Vec<(f64, f64)>,
    knn1: Vec<(f64, f64)>,
    k: Option<u64>,
}

pub(super) fn try_read_metrics(path: &Path) -> Result<Metrics> {
    let mut m = Metrics::default();
    let finite = |x: f64| Some(x).filter(|x| x.is_finite());
    for (record, _) in try_read_records(path)? {
        match record {
            MetricRecord::Step(s) => {
                m.loss.extend(finite(s.loss).map(|l| (s.step as f64, l)));
                m.lr.extend(finite(s.lr).map(|l| (s.step as f64, l)));
            }
            MetricRecord::Event(Event::Knn {
                epoch,
                knn_top1,
                knn1_top1,
                k,
            }) => {
                m.knn.extend(finite(knn_top1).map(|a| (epoch as f64, a)));
                m.knn1
                    .extend(knn1_top1.and_then(finite).map(|a| (epoch as f64, a)));
                m.k = m.k.or(k.map(|k| k as u64));
            }
            MetricRecord::Event(_) => {}
        }
    }
    for s in [&mut m.loss, &mut m.lr, &mut m.knn, &mut m.knn1] {
        s.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(m)
}

/// Trailing moving average over `window` points.
pub(super) fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let mut sum = 0.0;
    let average = |(i, &(x, y)): (usize, &(f64, f64))| {
        sum += y - i.checked_sub(window).map_or(0.0, |j| points[j].1);
        (x, sum / (i + 1).min(window) as f64)
    };
    points.iter().enumerate().map(average).collect()
}

/// From `dir/metrics.jsonl` (step records with `step`, `loss`, `lr`; evaluation records with
/// `"event": "knn"`, `epoch`, `knn_top1`, `knn1_top1`; other events ignored), writes
/// `loss`, `lr` and `knn` plots, each as `.png` and `.svg`, into `dir`, and returns their paths.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let log = "{\"step\":0,\"epoch\":0,\"loss\":0.9,\"lr\":0.1}\n\
///            {\"step\":1,\"epoch\":0,\"loss\":0.7,\"lr\":0.1}\n\
///            {\"event\":\"knn\",\"epoch\":1,\"knn_top1\":61.5,\"knn1_top1\":58.0}\n";
/// std::fs::write(dir.path().join("metrics.jsonl"), log).unwrap();
/// let written = trainer::report::plots::try_run_plots(dir.path()).unwrap();
/// assert_eq!(written.len(), 6);
/// ```
pub fn try_run_plots(dir: &Path) -> Result<Vec<PathBuf>> {
    use SeriesLabelPosition::{LowerRight, UpperRight};
    let m = try_read_metrics(&dir.join("metrics.jsonl"))?;
    let smooth = m.loss.len() >= 50;
    let (c, w) = [(color(0), 2), (RGBColor(150, 190, 225), 1)][smooth as usize];
    let raw = Series("loss (logged steps)".into(), m.loss.clone(), c, w, false);
    let mut loss = vec![raw];
    if smooth {
        let w = (m.loss.len() / 25).max(5);
        let name = format!("moving average ({w} points)");
        loss.push(Series(name, moving_average(&m.loss, w), color(0), 3, false));
    }
    let fig = Lines(["Training loss", "step", "loss"], loss, UpperRight, None);
    let mut written = try_write_figure(dir, "loss", &fig)?;
    let lr = vec![Series("learning rate".into(), m.lr, color(1), 2, false)];
    let labels = ["Learning-rate schedule", "step", "learning rate"];
    let fig = Lines(labels, lr, UpperRight, None);
    written.extend(try_write_figure(dir, "lr", &fig)?);
    let accuracies: Vec<f64> = m.knn.iter().chain(&m.knn1).map(|p| p.1).collect();
    let k = m.k.map_or("k".into(), |k| format!("k = {k}"));
    let knn = vec![
        Series(format!("weighted k-NN, {k}"), m.knn, color(0), 2, true),
        Series("1-NN".into(), m.knn1, color(1), 2, true),
    ];
    let labels = ["k-NN top-1 (test split)", "epoch", "top-1 accuracy (%)"];
    // A tight range on whole multiples of 5 %, within 0..100.
    let y = padded(accuracies.iter(), 0.0);
    let to_five = |v: f64, round: fn(f64) -> f64| (round(v / 5.0) * 5.0).clamp(0.0, 100.0);
    let y = to_five(y.start - 4.0, f64::floor)..to_five(y.end + 4.0, f64::ceil);
    let fig = Lines(
        labels,
        knn,
        LowerRight,
        (!accuracies.is_empty()).then_some(y),
    );
    written.extend(try_write_figure(dir, "knn", &fig)?);
    Ok(written)
}
