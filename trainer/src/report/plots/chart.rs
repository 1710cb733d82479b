//! What every plot shares: the canvas size, the embedded font, the palette, a [`Figure`] drawn to
//! PNG and SVG (both rendered in memory, written atomically), chart frames, legends and ticks.

use std::error::Error as StdError;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::{codecs::png::PngEncoder, ExtendedColorType, ImageEncoder};
use plotters::coord::{types::RangedCoordf64, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::super::runlog::try_write_atomic;
use crate::error::{Error, Result};

pub(super) const SIZE: (u32, u32) = (960, 600);
pub(super) const FONT: &str = "sans-serif";
pub(super) static FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
/// Tableau 10, then ten more hues that stay apart from it and from each other.
pub(super) const PALETTE: [u32; 20] = [
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22,
    0x17becf, 0x000080, 0x808000, 0x008080, 0xffd700, 0x800000, 0x000000, 0xff00ff, 0x00e676,
    0xfabebe, 0xaa6e28,
];

pub(super) fn color(i: usize) -> RGBColor {
    let c = PALETTE[i % PALETTE.len()];
    RGBColor((c >> 16) as u8, (c >> 8) as u8, c as u8)
}

pub(super) type Draw = std::result::Result<(), Box<dyn StdError>>;
pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
pub(super) type Area<DB> = DrawingArea<DB, Shift>;
pub(super) type Corner = SeriesLabelPosition;

/// Something drawable on any plotters backend.
pub(super) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Draw
    where
        DB::ErrorType: 'static;
}

pub(super) fn draw_error(path: &Path, e: impl std::fmt::Display) -> Error {
    let message = format!("cannot draw the plot: {e}");
    Error::io(path, std::io::Error::other(message))
}

/// Draws `fig` to `dir/stem.png` and `dir/stem.svg`, each rendered in memory, written atomically.
pub(super) fn try_write_figure(dir: &Path, stem: &str, fig: &impl Figure) -> Result<Vec<PathBuf>> {
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
pub(super) fn try_chart<'a, DB: DrawingBackend>(
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

pub(super) fn try_legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>, at: Corner) -> Draw
where
    DB::ErrorType: 'static,
{
    let mut legend = chart.configure_series_labels();
    legend.position(at).label_font((FONT, 16));
    legend.background_style(WHITE.mix(0.9));
    Ok(legend.border_style(RGBColor(160, 160, 160)).draw()?)
}

pub(super) fn text_style(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK).pos(Pos::new(h, v))
}

/// The range of `values` widened by `pad` of its span (by half of it for one value; `0..1` for
/// none).
pub(super) fn padded<'a>(values: impl Iterator<Item = &'a f64>, pad: f64) -> Range<f64> {
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
pub(super) fn number_tick(v: &f64) -> String {
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
pub(super) fn integer_tick(v: &f64) -> String {
    let whole = (v - v.round()).abs() < 1e-6;
    if whole {
        format!("{}", v.round())
    } else {
        String::new()
    }
}
