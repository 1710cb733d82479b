//! Plots of a run and of a comparison, each written as PNG and SVG: loss and learning rate
//! against step, k-NN top-1 against epoch, top-1 per method, and a PCA scatter of features.
//!
//! The PCA projects centred features onto the top two eigenvectors of their covariance
//! `C = XᵀX / (n - 1)`, found by block power iteration (`V ← orth(C V)`, Gram-Schmidt) on `C`.
//! Text is drawn with the embedded DejaVu Sans font, so no system font lookup is needed.

use std::error::Error as StdError;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::{codecs::png::PngEncoder, ExtendedColorType, ImageEncoder};
use plotters::coord::{types::RangedCoordf64, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::evalcmd::RandomInitScores;
use crate::runlog::try_write_atomic;
use crate::train::Summary;

const SIZE: (u32, u32) = (960, 600);
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// Tableau 10, then ten more hues that stay apart from it and from each other.
const PALETTE: [u32; 20] = [
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22,
    0x17becf, 0x000080, 0x808000, 0x008080, 0xffd700, 0x800000, 0x000000, 0xff00ff, 0x00e676,
    0xfabebe, 0xaa6e28,
];

fn color(i: usize) -> RGBColor {
    let c = PALETTE[i % PALETTE.len()];
    RGBColor((c >> 16) as u8, (c >> 8) as u8, c as u8)
}

type Draw = std::result::Result<(), Box<dyn StdError>>;
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type Area<DB> = DrawingArea<DB, Shift>;
type Corner = SeriesLabelPosition;

/// Something drawable on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Draw
    where
        DB::ErrorType: 'static;
}

fn draw_error(path: &Path, e: impl std::fmt::Display) -> Error {
    let message = format!("cannot draw the plot: {e}");
    Error::io(path, std::io::Error::other(message))
}

/// Draws `fig` to `dir/stem.png` and `dir/stem.svg`, each rendered in memory, written atomically.
fn try_write_figure(dir: &Path, stem: &str, fig: &impl Figure) -> Result<Vec<PathBuf>> {
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    static FONT_OK: OnceLock<bool> = OnceLock::new();
    let register = || plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok();
    if !*FONT_OK.get_or_init(register) {
        return Err(draw_error(&png, "the embedded DejaVu Sans font is invalid"));
    }
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
    let done = fig.draw(&root).and_then(|()| Ok(root.present()?));
    drop(root);
    done.map_err(|e| draw_error(&png, e))?;
    let mut bytes = Vec::new();
    let encoded =
        PngEncoder::new(&mut bytes).write_image(&rgb, SIZE.0, SIZE.1, ExtendedColorType::Rgb8);
    encoded.map_err(|e| draw_error(&png, e))?;
    try_write_atomic(&png, &bytes)?;
    let mut text = String::new();
    let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
    let done = fig.draw(&root).and_then(|()| Ok(root.present()?));
    drop(root);
    done.map_err(|e| draw_error(&svg, e))?;
    try_write_atomic(&svg, text.as_bytes())?;
    Ok(vec![png, svg])
}

/// A white canvas with a titled chart in the house style; no x labels when the x title is empty.
fn try_chart<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    [title, x_desc, y_desc]: [&str; 3],
    (x, y): (Range<f64>, Range<f64>),
    [x_fmt, y_fmt]: [&dyn Fn(&f64) -> String; 2],
) -> std::result::Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    area.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(area);
    chart.caption(title, (FONT, 24)).margin(20);
    chart.y_label_area_size(80).x_label_area_size(55);
    let mut chart = chart.build_cartesian_2d(x, y)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc).y_desc(y_desc);
    mesh.axis_desc_style((FONT, 20)).label_style((FONT, 16));
    mesh.x_label_formatter(x_fmt).y_label_formatter(y_fmt);
    mesh.light_line_style(RGBColor(240, 240, 240));
    mesh.max_light_lines(2);
    if x_desc.is_empty() {
        mesh.disable_x_mesh().x_labels(0);
    }
    mesh.draw()?;
    Ok(chart)
}

fn try_legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>, at: Corner) -> Draw
where
    DB::ErrorType: 'static,
{
    let mut legend = chart.configure_series_labels();
    legend.position(at).label_font((FONT, 16));
    legend.background_style(WHITE.mix(0.9));
    Ok(legend.border_style(RGBColor(160, 160, 160)).draw()?)
}

fn text_style(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK).pos(Pos::new(h, v))
}

/// The range of `values` widened by `pad` of its span (by half of it for one value; `0..1` for
/// none).
fn padded<'a>(values: impl Iterator<Item = &'a f64>, pad: f64) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
        (a.min(v), b.max(v))
    });
    match hi - lo {
        0.0 if lo == 0.0 => -1.0..1.0,
        0.0 => lo - lo.abs() / 2.0..hi + hi.abs() / 2.0,
        s if s > 0.0 => lo - pad * s..hi + pad * s,
        _ => 0.0..1.0,
    }
}

/// A tick label: 0 for rounding noise, scientific below 0.01, else up to 4 decimals.
fn number_tick(v: &f64) -> String {
    match v.abs() {
        a if a < 1e-12 => "0".into(),
        a if a < 1e-2 => format!("{v:.1e}"),
        _ => {
            let s = format!("{v:.4}");
            s.trim_end_matches('0').trim_end_matches('.').into()
        }
    }
}

/// A tick label for whole numbers (steps, epochs, percent); other ticks stay unlabelled.
fn integer_tick(v: &f64) -> String {
    let whole = (v - v.round()).abs() < 1e-6;
    if whole {
        format!("{}", v.round())
    } else {
        String::new()
    }
}

/// One line of a [`Lines`] chart.
struct Series(String, Vec<(f64, f64)>, RGBColor, u32, bool);

/// A line chart: title and axis titles, series, legend corner, y range (`None`: fit the data).
/// Series of under 20 points get markers too.
struct Lines([&'static str; 3], Vec<Series>, Corner, Option<Range<f64>>);

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
struct Metrics {
    loss: Vec<(f64, f64)>,
    lr: Vec<(f64, f64)>,
    knn: Vec<(f64, f64)>,
    knn1: Vec<(f64, f64)>,
    k: Option<u64>,
}

fn try_read_metrics(path: &Path) -> Result<Metrics> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let (mut m, lines) = (Metrics::default(), text.lines().count());
    for (i, line) in text.lines().enumerate() {
        // A torn final line (the run was killed mid-write) is skipped; any other bad line is not.
        let torn = i + 1 == lines && !text.ends_with('\n');
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if line.trim().is_empty() || torn => continue,
            Err(e) => {
                let (file, reason) = (path.display().to_string(), e.to_string());
                return Err(Error::Parse {
                    file,
                    line: i + 1,
                    reason,
                });
            }
        };
        let num = |key: &str| v.get(key).and_then(Value::as_f64).filter(|x| x.is_finite());
        let event = v.get("event").and_then(Value::as_str);
        match (event, num("step"), num("epoch")) {
            (None, Some(step), _) => {
                m.loss.extend(num("loss").map(|l| (step, l)));
                m.lr.extend(num("lr").map(|l| (step, l)));
            }
            (Some("knn"), _, Some(epoch)) => {
                m.knn.extend(num("knn_top1").map(|a| (epoch, a)));
                m.knn1.extend(num("knn1_top1").map(|a| (epoch, a)));
                m.k = m.k.or(v.get("k").and_then(Value::as_u64));
            }
            _ => {}
        }
    }
    for s in [&mut m.loss, &mut m.lr, &mut m.knn, &mut m.knn1] {
        s.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(m)
}

/// Trailing moving average over `window` points.
fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
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
/// let written = trainer::plots::try_run_plots(dir.path()).unwrap();
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

/// Grouped bars with ±std error bars: title, metric names, groups.
struct Bars(String, Vec<String>, Vec<Group>);

/// A method's name and, per metric, its mean and std over seeds (`None`: no bar).
type Group = (String, Vec<Option<(f64, f64)>>);

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
fn mean_std(v: &[f64]) -> Option<(f64, f64)> {
    (!v.is_empty()).then(|| crate::compare::mean_std(v))
}

/// The `trainer compare` plot: per method, bars of k-NN top-1 (k = `knn_k`), 1-NN top-1 and,
/// when probed, linear top-1, each the mean over seeds with a ±std error bar (sample std, when
/// there is more than one run), and the same bars for the random-init encoder (`random`, one per
/// seed) as the baseline. The accuracy axis is zoomed on the bars. The title names the dataset.
/// Writes `compare.png` and `compare.svg` in `dir`.
///
/// ```
/// # use trainer::train::Summary;
/// # use trainer::evalcmd::RandomInitScores;
/// let run = |loss: &str, knn| Summary { knn_top1: knn, knn1_top1: knn - 2.0, linear_top1: None,
///     random_init_knn_top1: Some(40.0),
///     epochs: 40, final_loss: 0.3, seconds: 60.0, images_per_second: 900.0,
///     dataset: "mnist5k".into(), loss: loss.into(), encoder: "small-cnn".into(), seed: 0 };
/// let rows = vec![("GroCo".to_string(), vec![run("groco", 86.0), run("groco", 87.0)]),
///                 ("NT-Xent".to_string(), vec![run("ntxent", 85.5), run("ntxent", 86.5)])];
/// let random = [RandomInitScores { knn1_top1: 40.0, knn_top1: 41.0, linear_top1: None }];
/// let dir = tempfile::tempdir().unwrap();
/// trainer::plots::try_compare_plot(dir.path(), 20, &rows, &random).unwrap();
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

/// A scatter of 2-D points coloured by class, with the class legend beside the plot: title and
/// axis titles, points, classes.
struct Scatter([String; 3], Vec<(f64, f64)>, Vec<u16>);

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

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Gram-Schmidt: normalises `v[0]`, then makes `v[1]` orthogonal to it and normalises it.
fn orthonormalise(mut v: [Vec<f64>; 2]) -> [Vec<f64>; 2] {
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
fn principal_axes(c: &[f64], dim: usize) -> ([Vec<f64>; 2], [f64; 2], f64) {
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
/// trainer::plots::try_pca_plot(dir.path(), &features, &labels, 3, "Test features").unwrap();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `dir/stem.png` is a 960×600 PNG with something drawn and `dir/stem.svg` an SVG
    /// holding `text`.
    fn assert_plot(dir: &Path, stem: &str, text: &str) {
        let png = std::fs::read(dir.join(format!("{stem}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{stem}.png is not a PNG"
        );
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), SIZE);
        let coloured = img
            .pixels()
            .filter(|p| p.0[0].abs_diff(p.0[2]) > 60)
            .count();
        assert!(
            coloured > 500,
            "{stem}.png has only {coloured} coloured pixels"
        );
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains(text),
            "{stem}.svg lacks {text:?}"
        );
    }

    fn summary(loss: &str, knn: f64, linear: Option<f64>) -> Summary {
        let (dataset, encoder) = ("mnist5k".into(), "small-cnn".into());
        Summary {
            knn_top1: knn,
            knn1_top1: knn - 2.0,
            random_init_knn_top1: None,
            linear_top1: linear,
            epochs: 40,
            final_loss: 0.3,
            seconds: 10.0,
            images_per_second: 900.0,
            dataset,
            loss: loss.into(),
            encoder,
            seed: 0,
        }
    }

    #[test]
    fn run_plots_are_written_from_the_metrics_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = String::new();
        for step in 0..120 {
            let (loss, lr) = (
                1.0 / (1.0 + step as f64 / 30.0),
                0.3 * (step as f64 / 120.0),
            );
            log += &format!(
                "{{\"step\":{step},\"epoch\":{},\"loss\":{loss},\"lr\":{lr}}}\n",
                step / 30
            );
            if step % 30 == 29 {
                let (e, acc) = (step / 30 + 1, 50.0 + step as f64 / 4.0);
                log += &format!("{{\"event\":\"knn\",\"epoch\":{e},\"knn_top1\":{acc},\"knn1_top1\":40,\"k\":20}}\n");
            }
        }
        log += "{\"event\":\"non_finite_loss\",\"epoch\":3,\"step\":119,\"value\":\"NaN\"}\n\n";
        std::fs::write(dir.path().join("metrics.jsonl"), log).unwrap();
        let written = try_run_plots(dir.path()).unwrap();
        assert_eq!(written.len(), 6);
        assert_plot(dir.path(), "loss", "moving average");
        assert_plot(dir.path(), "lr", "learning rate");
        assert_plot(dir.path(), "knn", "k = 20");
    }

    #[test]
    fn run_plots_name_a_missing_or_malformed_log() {
        let dir = tempfile::tempdir().unwrap();
        match try_run_plots(dir.path()) {
            Err(Error::Io { path, .. }) => assert!(path.ends_with("metrics.jsonl")),
            other => panic!("expected Error::Io naming metrics.jsonl, got {other:?}"),
        }
        std::fs::write(
            dir.path().join("metrics.jsonl"),
            "{\"step\":1}\n{oops\n{}\n",
        )
        .unwrap();
        match try_run_plots(dir.path()) {
            Err(Error::Parse { line: 2, file, .. }) => assert!(file.ends_with("metrics.jsonl")),
            other => panic!("expected Error::Parse at line 2, got {other:?}"),
        }
    }

    #[test]
    fn compare_plot_shows_methods_and_the_random_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let groco = vec![
            summary("groco", 86.0, Some(90.0)),
            summary("groco", 87.0, None),
        ];
        let ntxent = vec![summary("ntxent", 85.0, Some(89.0))];
        let rows = [
            ("GroCo".to_string(), groco),
            ("NT-Xent".to_string(), ntxent),
        ];
        let random = |knn_top1, linear_top1| RandomInitScores {
            knn1_top1: knn_top1 - 1.0,
            knn_top1,
            linear_top1,
        };
        let random = [random(40.0, Some(50.0)), random(42.0, Some(52.0))];
        try_compare_plot(dir.path(), 20, &rows, &random).unwrap();
        assert_plot(dir.path(), "compare", "random init");
        let svg = std::fs::read_to_string(dir.path().join("compare.svg")).unwrap();
        for text in [
            "mnist5k",
            "86.5 ± 0.7",
            "41.0 ± 1.4",
            "51.0 ± 1.4",
            "k-NN (k = 20)",
            "linear probe",
            "NT-Xent",
        ] {
            assert!(svg.contains(text), "compare.svg lacks {text:?}");
        }
    }

    #[test]
    fn pca_plot_is_written_and_bad_shapes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let features: Vec<f32> = (0..400 * 4).map(|i| ((i * 7919) % 101) as f32).collect();
        let labels: Vec<u16> = (0..400).map(|i| (i % 12) as u16).collect();
        try_pca_plot(dir.path(), &features, &labels, 4, "synthetic").unwrap();
        assert_plot(dir.path(), "pca", "% of variance");
        let err = try_pca_plot(dir.path(), &features[..7], &labels, 4, "x").unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
        let err = try_pca_plot(dir.path(), &features, &labels[1..], 4, "x").unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
        let mut bad = features.clone();
        bad[4 * 9 + 2] = f32::NAN;
        let err = try_pca_plot(dir.path(), &bad, &labels, 4, "x").unwrap_err();
        assert!(matches!(err, Error::NonFinite { row: 9, .. }), "{err}");
    }

    #[test]
    fn pca_finds_the_axes_the_variance_lies_along() {
        let seed = std::env::var("GROCO_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7u64);
        let mut state = seed;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        // Spread 5 along u, 2 along w (orthogonal to u), 0.1 isotropic noise, offset by 3.
        let dim = 6;
        let u = [1.0, 2.0, 0.0, 0.0, -1.0, 1.0].map(|x: f64| x / 7f64.sqrt());
        let w = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0].map(|x: f64| x / 2f64.sqrt());
        let mut x = Vec::new();
        for _ in 0..500 {
            let (a, b) = (10.0 * uniform(), 4.0 * uniform());
            x.extend((0..dim).map(|d| (3.0 + a * u[d] + b * w[d] + 0.2 * uniform()) as f32));
        }
        let n = 500.0;
        let mean: Vec<f64> = (0..dim)
            .map(|d| {
                x.iter()
                    .skip(d)
                    .step_by(dim)
                    .map(|&v| v as f64)
                    .sum::<f64>()
                    / n
            })
            .collect();
        let centred: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| v as f64 - mean[i % dim])
            .collect();
        let ([a, b], var, total) = principal_axes(&centred, dim);
        let msg = format!("GROCO_SEED={seed}: axes {a:?} {b:?}, variances {var:?} of {total}");
        assert!(dot(&a, &u).abs() > 0.999, "first axis is not u; {msg}");
        assert!(dot(&b, &w).abs() > 0.995, "second axis is not w; {msg}");
        assert!(var[0] > var[1] && var[0] / total > 0.8, "{msg}");
        assert!(
            (dot(&a, &a) - 1.0).abs() < 1e-9 && dot(&a, &b).abs() < 1e-9,
            "{msg}"
        );
    }
}
