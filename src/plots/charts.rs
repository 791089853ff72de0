//! Chart figures: learning curves ([`line_chart`], [`panel_lines`]), log-log
//! complexity fits with CI bands ([`loglog_fit`]) and grouped ablation bars
//! with error whiskers ([`bar_chart`]).

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::combinators::{LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::PlotError;
use super::output::{DrawResult, Figure, check_path, color, font, render, text_width};

/// One named line of a [`LineChart`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Legend entry (empty: not in the legend).
    pub name: String,
    /// (x, y) points in drawing order; non-finite points (and non-positive
    /// ones on a log axis) are skipped and break the line.
    pub points: Vec<(f64, f64)>,
}

/// A line chart: learning curves and the like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineChart {
    /// Chart title (caption).
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// The lines; series `i` gets palette colour `i`.
    pub series: Vec<Series>,
    /// Vertical dashed marks `(x, label)`, e.g. `(t_l, "t_2")`; mark `i` gets
    /// palette colour `i`, so order marks like the series they belong to.
    pub vlines: Vec<(f64, String)>,
    /// Horizontal dashed gray marks `(y, label)`, e.g. thresholds.
    pub hlines: Vec<(f64, String)>,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
}

/// One fitted line of a [`FitChart`], with an optional CI band.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitLine {
    /// Legend entry (e.g. "fit: slope 1.02 [0.95, 1.10]").
    pub name: String,
    /// X values of the line.
    pub xs: Vec<f64>,
    /// Fitted y at each x (same length as `xs`).
    pub y: Vec<f64>,
    /// Lower CI bound at each x (empty: no band).
    pub lo: Vec<f64>,
    /// Upper CI bound at each x (empty: no band).
    pub hi: Vec<f64>,
}

/// A log-log scatter with fitted lines and shaded CI bands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitChart {
    /// Chart title.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// Measured points (legend "data"); non-positive / non-finite skipped.
    pub points: Vec<(f64, f64)>,
    /// Fitted lines; fit `i` gets palette colour `i`.
    pub fits: Vec<FitLine>,
}

/// One group (one colour) of bars in a [`BarChart`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarGroup {
    /// Legend entry.
    pub name: String,
    /// One value per category (non-finite: no bar, "n/a" shown).
    pub values: Vec<f64>,
    /// Lower whisker end per category, an absolute value (not a distance
    /// from the bar), e.g. a CI's lower bound; empty: no whiskers.
    pub err_lo: Vec<f64>,
    /// Upper whisker end per category, absolute; empty: no whiskers.
    pub err_hi: Vec<f64>,
}

/// Grouped bars with error whiskers (ablations: joint vs top-only, lambda
/// sweep).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarChart {
    /// Chart title.
    pub title: String,
    /// Y axis description.
    pub y_label: String,
    /// Category names along x.
    pub categories: Vec<String>,
    /// Bar groups; group `i` gets palette colour `i`.
    pub groups: Vec<BarGroup>,
}

/// An axis range (lo, hi).
type Span = (f64, f64);

/// Font sizes and label areas for one chart.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    title: u32,
    axis: u32,
    tick: u32,
    legend: u32,
    x_area: u32,
    y_area: u32,
}

// plotters draws a "size" s font with an em of s / 1.24 pixels: these give
// em sizes of about 19 (title), 15 (axis names) and 14 (ticks, legend) px.
const SINGLE: Sizes = Sizes {
    title: 24,
    axis: 19,
    tick: 17,
    legend: 17,
    x_area: 58,
    y_area: 86,
};

const PANEL: Sizes = Sizes {
    title: 21,
    axis: 18,
    tick: 16,
    legend: 16,
    x_area: 54,
    y_area: 82,
};

/// Number formatting for tick labels and value labels.
fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.1e}");
        // "1.0e4" -> "1e4"
        return s.replace(".0e", "e");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn fmt_tick(v: &f64) -> String {
    fmt_num(*v)
}

fn ok(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

/// Padded axis range of the usable values, or `None` if there are none.
fn axis_range(vals: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (lo, hi) = vals.filter(|&v| ok(v, log)).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
    })?;
    if log {
        let (mut lo, mut hi) = if hi > lo {
            (lo / 1.25, hi * 1.25)
        } else {
            (lo / 2.0, hi * 2.0)
        };
        if !(lo > 0.0 && hi.is_finite()) {
            return None;
        }
        if !(lo > 0.0 && hi.is_finite() && hi > lo) {
            return None;
        }
        // Tiny ranges: at least a factor 2 so there is room for ticks.
        if hi / lo < 2.0 {
            let mid = (lo * hi).sqrt();
            lo = mid / 1.5;
            hi = mid * 1.5;
        }
        Some((lo, hi))
    } else {
        let span = if hi > lo {
            hi - lo
        } else {
            (lo.abs() * 0.1).max(1.0)
        };
        let padded = (lo - 0.05 * span, hi + 0.05 * span);
        if padded.0.is_finite() && padded.1.is_finite() && padded.1 > padded.0 {
            Some(padded)
        } else if hi > lo && (hi - lo).is_finite() {
            Some((lo, hi))
        } else {
            None
        }
    }
}

/// Tick values of a log axis over `(lo, hi)`: (labelled, light). Decades
/// when the range spans at least three, else the 1-2-5 (or 1..9) sequence,
/// so narrow ranges still get several labels.
fn log_ticks((lo, hi): Span) -> (Vec<f64>, Vec<f64>) {
    let (d_lo, d_hi) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let inside = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    let seq = |ms: &[f64]| -> Vec<f64> {
        (d_lo..=d_hi)
            .flat_map(|d| ms.iter().map(move |m| m * 10f64.powi(d)))
            .filter(inside)
            .collect()
    };
    let all = seq(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let decades = seq(&[1.0]);
    let bold = if decades.len() >= 3 {
        let step = decades.len().div_ceil(8);
        decades.into_iter().step_by(step).collect()
    } else {
        let b = seq(&[1.0, 2.0, 5.0]);
        if b.len() >= 3 { b } else { all.clone() }
    };
    let light = all.into_iter().filter(|v| !bold.contains(v)).collect();
    (bold, light)
}

/// A log axis over `r` with [`log_ticks`].
fn log_axis(r: Span) -> WithKeyPoints<LogCoord<f64>> {
    let (bold, light) = log_ticks(r);
    (r.0..r.1)
        .log_scale()
        .with_key_points(bold)
        .with_light_points(light)
}

/// Position of `v` in [0, 1] along an axis.
fn norm(v: f64, (lo, hi): (f64, f64), log: bool) -> f64 {
    if log {
        (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
    } else {
        (v - lo) / (hi - lo)
    }
}

/// The legend corner covering the fewest of the given normalised points.
fn legend_corner(pts: &[(f64, f64)], entries: usize) -> SeriesLabelPosition {
    let h = (0.12 + 0.08 * entries as f64).min(0.8);
    let w = 0.4;
    let candidates = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let mut best = (usize::MAX, SeriesLabelPosition::UpperRight);
    for (pos, right, upper) in candidates {
        let n = pts
            .iter()
            .filter(|&&(x, y)| {
                let in_x = if right { x >= 1.0 - w } else { x <= w };
                let in_y = if upper { y >= 1.0 - h } else { y <= h };
                in_x && in_y
            })
            .count();
        if n < best.0 {
            best = (n, pos);
        }
    }
    best.1
}

/// Splits points into runs of usable points (lines break at unusable ones).
fn segments(points: &[(f64, f64)], log_x: bool, log_y: bool) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for &(x, y) in points {
        if ok(x, log_x) && ok(y, log_y) {
            cur.push((x, y));
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn caption_style(size: u32) -> TextStyle<'static> {
    font(size)
}

/// Draws a "no data" panel (used inside multi-panel figures).
fn draw_no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    st: Sizes,
) -> Result<(), PlotError> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, 10),
        caption_style(st.title).pos(Pos::new(HPos::Center, VPos::Top)),
    ))
    .dr()?;
    area.draw(&Text::new(
        "no data".to_string(),
        (w as i32 / 2, h as i32 / 2),
        font(st.axis)
            .color(&RGBColor(120, 120, 120))
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .dr()
}

/// Usable x / y ranges of a line chart, or `None` if nothing is drawable.
fn line_ranges(spec: &LineChart) -> Option<(Span, Span)> {
    let pts = || {
        spec.series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| ok(p.0, spec.log_x) && ok(p.1, spec.log_y))
    };
    pts().next()?;
    let xr = axis_range(
        pts().map(|p| p.0).chain(spec.vlines.iter().map(|v| v.0)),
        spec.log_x,
    )?;
    let yr = axis_range(
        pts().map(|p| p.1).chain(spec.hlines.iter().map(|h| h.0)),
        spec.log_y,
    )?;
    Some((xr, yr))
}

/// Draws one line chart filling `area`; `Err(Empty)` if nothing drawable.
fn draw_line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &LineChart,
    st: Sizes,
) -> Result<(), PlotError> {
    let Some((xr, yr)) = line_ranges(spec) else {
        return Err(PlotError::Empty(format!(
            "line chart {:?}: no finite points{}",
            spec.title,
            if spec.log_x || spec.log_y {
                " (positive on log axes)"
            } else {
                ""
            }
        )));
    };
    let (x, y) = (xr.0..xr.1, yr.0..yr.1);
    match (spec.log_x, spec.log_y) {
        (false, false) => line_chart_in(area, spec, st, x, y, xr, yr),
        (true, false) => line_chart_in(area, spec, st, log_axis(xr), y, xr, yr),
        (false, true) => line_chart_in(area, spec, st, x, log_axis(yr), xr, yr),
        (true, true) => line_chart_in(area, spec, st, log_axis(xr), log_axis(yr), xr, yr),
    }
}

#[allow(clippy::too_many_arguments)]
fn line_chart_in<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    spec: &LineChart,
    st: Sizes,
    x: X,
    y: Y,
    xr: (f64, f64),
    yr: (f64, f64),
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&spec.title, caption_style(st.title))
        .margin(12)
        .margin_right(28)
        .x_label_area_size(st.x_area)
        .y_label_area_size(st.y_area)
        .build_cartesian_2d(x, y)
        .dr()?;
    {
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(spec.x_label.as_str())
            .y_desc(spec.y_label.as_str())
            .axis_desc_style(font(st.axis))
            .label_style(font(st.tick))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .x_labels(8)
            .y_labels(8);
        mesh.x_label_formatter(&fmt_tick)
            .y_label_formatter(&fmt_tick)
            .max_light_lines(4);
        mesh.draw().dr()?;
    }

    // Horizontal marks (thresholds), drawn under the data.
    for (yv, label) in &spec.hlines {
        if !ok(*yv, spec.log_y) {
            continue;
        }
        let gray = RGBColor(90, 90, 90);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(xr.0, *yv), (xr.1, *yv)],
                6,
                4,
                gray.stroke_width(1),
            ))
            .dr()?;
        if !label.is_empty() {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((xr.1, *yv))
                        + Text::new(
                            label.clone(),
                            (-6, -3),
                            font(st.tick)
                                .color(&gray)
                                .pos(Pos::new(HPos::Right, VPos::Bottom)),
                        ),
                ))
                .dr()?;
        }
    }

    // Vertical marks (t_l), staggered labels near the top.
    for (i, (xv, label)) in spec.vlines.iter().enumerate() {
        if !ok(*xv, spec.log_x) {
            continue;
        }
        let c = color(i);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(*xv, yr.0), (*xv, yr.1)],
                7,
                5,
                c.stroke_width(2),
            ))
            .dr()?;
        if !label.is_empty() {
            let right_side = norm(*xv, xr, spec.log_x) > 0.8;
            let (dx, h) = if right_side {
                (-5, HPos::Right)
            } else {
                (5, HPos::Left)
            };
            let dy = 4 + (i % 3) as i32 * (st.tick as i32 + 6);
            let tw = text_width(label, st.tick) as i32;
            let (bx0, bx1) = if right_side {
                (dx - tw - 3, dx + 2)
            } else {
                (dx - 2, dx + tw + 3)
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((*xv, yr.1))
                        + Rectangle::new(
                            [(bx0, dy - 1), (bx1, dy + st.tick as i32 + 2)],
                            WHITE.mix(0.85).filled(),
                        )
                        + Text::new(
                            label.clone(),
                            (dx, dy),
                            font(st.tick).color(&c).pos(Pos::new(h, VPos::Top)),
                        ),
                ))
                .dr()?;
        }
    }

    // The series.
    let mut named = 0;
    let mut normed = Vec::new();
    for (i, s) in spec.series.iter().enumerate() {
        let c = color(i);
        let style = c.stroke_width(2);
        let segs = segments(&s.points, spec.log_x, spec.log_y);
        let usable: usize = segs.iter().map(Vec::len).sum();
        let mut labelled = s.name.is_empty();
        for seg in &segs {
            normed.extend(
                seg.iter()
                    .map(|&(px, py)| (norm(px, xr, spec.log_x), norm(py, yr, spec.log_y))),
            );
            let ann = chart
                .draw_series(LineSeries::new(seg.iter().copied(), style))
                .dr()?;
            if !labelled {
                ann.label(s.name.as_str())
                    .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 22, ly)], style));
                labelled = true;
                named += 1;
            }
            if usable <= 40 || seg.len() == 1 {
                chart
                    .draw_series(seg.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .dr()?;
            }
        }
        if !labelled {
            chart
                .draw_series(LineSeries::new(std::iter::empty(), style))
                .dr()?
                .label(format!("{} (no data)", s.name))
                .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 22, ly)], style));
            named += 1;
        }
    }
    if named > 0 {
        chart
            .configure_series_labels()
            .position(legend_corner(&normed, named))
            .label_font(font(st.legend))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .margin(10)
            .draw()
            .dr()?;
    }
    Ok(())
}

struct LineFig<'a>(&'a LineChart);

impl Figure for LineFig<'_> {
    fn size(&self) -> (u32, u32) {
        (800, 500)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        draw_line_chart(root, self.0, SINGLE)
    }
}

/// A line chart (800x500): one coloured line per series with a legend,
/// dashed vertical marks (e.g. t_l) and horizontal marks (thresholds),
/// optional log axes. Non-finite points are skipped (the line breaks).
///
/// Errors: unsupported extension, no drawable point, I/O.
pub fn line_chart(path: impl AsRef<Path>, chart: &LineChart) -> Result<(), PlotError> {
    let path = path.as_ref();
    check_path(path)?;
    if line_ranges(chart).is_none() {
        return Err(PlotError::Empty(format!(
            "line chart {:?}: no drawable points",
            chart.title
        )));
    }
    render(path, &LineFig(chart))
}

struct PanelFig<'a> {
    title: &'a str,
    panels: &'a [LineChart],
    ncols: usize,
}

const PANEL_W: u32 = 560;
const PANEL_H: u32 = 390;
const FIG_TITLE: u32 = 26;

impl Figure for PanelFig<'_> {
    fn size(&self) -> (u32, u32) {
        let nrows = self.panels.len().div_ceil(self.ncols) as u32;
        let title_h = if self.title.is_empty() { 0 } else { 44 };
        (self.ncols as u32 * PANEL_W, nrows * PANEL_H + title_h)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let body = if self.title.is_empty() {
            root.clone()
        } else {
            root.titled(self.title, font(FIG_TITLE)).dr()?
        };
        let nrows = self.panels.len().div_ceil(self.ncols);
        let areas = body.split_evenly((nrows, self.ncols));
        for (panel, area) in self.panels.iter().zip(&areas) {
            if line_ranges(panel).is_some() {
                draw_line_chart(area, panel, PANEL)?;
            } else {
                draw_no_data(area, &panel.title, PANEL)?;
            }
        }
        Ok(())
    }
}

/// Several line charts in one figure, `ncols` per row (0 = up to 3), each
/// panel 560x390, under a common title (e.g. one panel per metric: feature
/// cosine, SR error, MMD^2, each with one series per level). A panel with no
/// drawable point shows "no data".
///
/// Errors: unsupported extension, no panels or no drawable point in any
/// panel, I/O.
pub fn panel_lines(
    path: impl AsRef<Path>,
    title: &str,
    panels: &[LineChart],
    ncols: usize,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    check_path(path)?;
    if panels.iter().all(|p| line_ranges(p).is_none()) {
        return Err(PlotError::Empty(format!(
            "panel figure {title:?}: no panel has a drawable point"
        )));
    }
    let ncols = if ncols == 0 {
        panels.len().min(3)
    } else {
        ncols.min(panels.len())
    };
    render(path, &PanelFig { title, panels, ncols })
}

/// Sorted usable (x, y, Option<(lo, hi)>) of a fit line.
type FitPoint = (f64, f64, Option<(f64, f64)>);

fn fit_points(f: &FitLine) -> Vec<FitPoint> {
    let band = !f.lo.is_empty();
    let mut v: Vec<FitPoint> =
        f.xs.iter()
            .zip(&f.y)
            .enumerate()
            .filter(|&(_, (&x, &y))| ok(x, true) && ok(y, true))
            .map(|(i, (&x, &y))| {
                let b = if band {
                    let (lo, hi) = (f.lo[i], f.hi[i]);
                    (ok(lo, true) && ok(hi, true)).then_some((lo, hi))
                } else {
                    None
                };
                (x, y, b)
            })
            .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

fn validate_fit(chart: &FitChart) -> Result<(Span, Span), PlotError> {
    for f in &chart.fits {
        if f.y.len() != f.xs.len() {
            return Err(PlotError::InvalidInput(format!(
                "fit {:?}: {} xs but {} y",
                f.name,
                f.xs.len(),
                f.y.len()
            )));
        }
        let band_ok =
            (f.lo.is_empty() && f.hi.is_empty()) || (f.lo.len() == f.xs.len() && f.hi.len() == f.xs.len());
        if !band_ok {
            return Err(PlotError::InvalidInput(format!(
                "fit {:?}: lo / hi must both be empty or have {} values (got {} / {})",
                f.name,
                f.xs.len(),
                f.lo.len(),
                f.hi.len()
            )));
        }
    }
    let pts: Vec<(f64, f64)> = chart
        .points
        .iter()
        .copied()
        .filter(|&(x, y)| ok(x, true) && ok(y, true))
        .collect();
    let fits: Vec<Vec<FitPoint>> = chart.fits.iter().map(fit_points).collect();
    if pts.is_empty() && fits.iter().all(Vec::is_empty) {
        return Err(PlotError::Empty(format!(
            "log-log chart {:?}: no positive finite points",
            chart.title
        )));
    }
    let xs = pts.iter().map(|p| p.0).chain(fits.iter().flatten().map(|p| p.0));
    let ys = pts.iter().map(|p| p.1).chain(
        fits.iter()
            .flatten()
            .flat_map(|p| [Some(p.1), p.2.map(|b| b.0), p.2.map(|b| b.1)])
            .flatten(),
    );
    match (axis_range(xs, true), axis_range(ys, true)) {
        (Some(xr), Some(yr)) => Ok((xr, yr)),
        _ => Err(PlotError::InvalidInput(format!(
            "log-log chart {:?}: values too extreme to draw",
            chart.title
        ))),
    }
}

struct FitFig<'a>(&'a FitChart);

impl Figure for FitFig<'_> {
    fn size(&self) -> (u32, u32) {
        (800, 520)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let spec = self.0;
        let st = SINGLE;
        let (xr, yr) = validate_fit(spec)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&spec.title, caption_style(st.title))
            .margin(12)
            .margin_right(28)
            .x_label_area_size(st.x_area)
            .y_label_area_size(st.y_area)
            .build_cartesian_2d(log_axis(xr), log_axis(yr))
            .dr()?;
        chart
            .configure_mesh()
            .x_desc(spec.x_label.as_str())
            .y_desc(spec.y_label.as_str())
            .axis_desc_style(font(st.axis))
            .label_style(font(st.tick))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .x_label_formatter(&fmt_tick)
            .y_label_formatter(&fmt_tick)
            .max_light_lines(4)
            .draw()
            .dr()?;
        let mut normed = Vec::new();
        let mut named = 0;
        for (i, f) in spec.fits.iter().enumerate() {
            let c = color(i);
            let fp = fit_points(f);
            // Band: upper edge left to right, lower edge back.
            let band: Vec<(f64, f64)> = fp
                .iter()
                .filter_map(|p| p.2.map(|b| (p.0, b.1)))
                .chain(fp.iter().rev().filter_map(|p| p.2.map(|b| (p.0, b.0))))
                .collect();
            if band.len() >= 4 {
                chart
                    .draw_series(std::iter::once(Polygon::new(band, c.mix(0.2).filled())))
                    .dr()?;
            }
            normed.extend(fp.iter().map(|p| (norm(p.0, xr, true), norm(p.1, yr, true))));
            let style = c.stroke_width(2);
            let has_band = fp.iter().any(|p| p.2.is_some());
            let ann = chart
                .draw_series(LineSeries::new(fp.iter().map(|p| (p.0, p.1)), style))
                .dr()?;
            if !f.name.is_empty() {
                named += 1;
                ann.label(f.name.as_str()).legend(move |(lx, ly)| {
                    let band = if has_band { c.mix(0.2) } else { WHITE.mix(0.0) };
                    EmptyElement::at((lx, ly))
                        + Rectangle::new([(0, -6), (22, 6)], band.filled())
                        + PathElement::new(vec![(0, 0), (22, 0)], style)
                });
            }
        }
        let pts: Vec<(f64, f64)> = spec
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| ok(x, true) && ok(y, true))
            .collect();
        if !pts.is_empty() {
            normed.extend(pts.iter().map(|p| (norm(p.0, xr, true), norm(p.1, yr, true))));
            let dark = RGBColor(40, 40, 40);
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, dark.filled())))
                .dr()?
                .label("data")
                .legend(move |(lx, ly)| Circle::new((lx + 11, ly), 4, dark.filled()));
            named += 1;
        }
        if named > 0 {
            chart
                .configure_series_labels()
                .position(legend_corner(&normed, named))
                .label_font(font(st.legend))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(160, 160, 160))
                .margin(10)
                .draw()
                .dr()?;
        }
        Ok(())
    }
}

/// A log-log scatter (800x520) of measured `points` with fitted lines and,
/// where `lo` / `hi` are given, shaded CI bands; legend with the fit names.
/// Non-positive or non-finite values are skipped.
///
/// Errors: unsupported extension, mismatched lengths, nothing positive and
/// finite to draw, I/O.
pub fn loglog_fit(path: impl AsRef<Path>, chart: &FitChart) -> Result<(), PlotError> {
    let path = path.as_ref();
    check_path(path)?;
    validate_fit(chart)?;
    render(path, &FitFig(chart))
}

fn validate_bars(chart: &BarChart) -> Result<(f64, f64), PlotError> {
    let n = chart.categories.len();
    if n == 0 || chart.groups.is_empty() {
        return Err(PlotError::Empty(format!(
            "bar chart {:?}: no categories or no groups",
            chart.title
        )));
    }
    for g in &chart.groups {
        if g.values.len() != n {
            return Err(PlotError::InvalidInput(format!(
                "bar group {:?}: {} values for {n} categories",
                g.name,
                g.values.len()
            )));
        }
        let err_ok =
            (g.err_lo.is_empty() && g.err_hi.is_empty()) || (g.err_lo.len() == n && g.err_hi.len() == n);
        if !err_ok {
            return Err(PlotError::InvalidInput(format!(
                "bar group {:?}: err_lo / err_hi must both be empty or have {n} values",
                g.name
            )));
        }
    }
    let vals: Vec<f64> = chart
        .groups
        .iter()
        .flat_map(|g| g.values.iter().chain(&g.err_lo).chain(&g.err_hi))
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if !chart.groups.iter().flat_map(|g| &g.values).any(|v| v.is_finite()) {
        return Err(PlotError::Empty(format!(
            "bar chart {:?}: no finite values",
            chart.title
        )));
    }
    let lo = vals.iter().copied().fold(0.0f64, f64::min);
    let hi = vals.iter().copied().fold(0.0f64, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    // Headroom for the value labels and the legend.
    let top_room = 0.1 + 0.07 * chart.groups.len() as f64;
    let lo = if lo < 0.0 { lo - 0.08 * span } else { 0.0 };
    let hi = hi + top_room * span;
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Err(PlotError::InvalidInput(format!(
            "bar chart {:?}: values too extreme to draw",
            chart.title
        )));
    }
    Ok((lo, hi))
}

struct BarFig<'a>(&'a BarChart);

impl Figure for BarFig<'_> {
    fn size(&self) -> (u32, u32) {
        let bars = (self.0.categories.len() * self.0.groups.len()) as u32;
        ((180 + bars * 44).clamp(800, 1800), 500)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let spec = self.0;
        let st = SINGLE;
        let yr = validate_bars(spec)?;
        let n = spec.categories.len();
        let ng = spec.groups.len();
        let mut chart = ChartBuilder::on(root)
            .caption(&spec.title, caption_style(st.title))
            .margin(12)
            .margin_right(28)
            .x_label_area_size(st.x_area - 10)
            .y_label_area_size(st.y_area)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), yr.0..yr.1)
            .dr()?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&fmt_tick)
            .y_desc(spec.y_label.as_str())
            .axis_desc_style(font(st.axis))
            .label_style(font(st.tick))
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215))
            .max_light_lines(4)
            .draw()
            .dr()?;
        // Category names under the axis.
        for (i, cat) in spec.categories.iter().enumerate() {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((i as f64, yr.0))
                        + Text::new(
                            cat.clone(),
                            (0, 8),
                            font(st.axis).pos(Pos::new(HPos::Center, VPos::Top)),
                        ),
                ))
                .dr()?;
        }
        if yr.0 < 0.0 {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(-0.5, 0.0), (n as f64 - 0.5, 0.0)],
                    BLACK.stroke_width(1),
                )))
                .dr()?;
        }
        let w = 0.8 / ng as f64;
        let show_values = n * ng <= 30;
        let dark = RGBColor(30, 30, 30);
        let mut named = 0;
        for (j, g) in spec.groups.iter().enumerate() {
            let c = color(j);
            for (i, &v) in g.values.iter().enumerate() {
                let x0 = i as f64 - 0.4 + j as f64 * w;
                let (x1, xc) = (x0 + w, x0 + w / 2.0);
                if !v.is_finite() {
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at((xc, 0f64.max(yr.0)))
                                + Text::new(
                                    "n/a",
                                    (0, -4),
                                    font(15).pos(Pos::new(HPos::Center, VPos::Bottom)),
                                ),
                        ))
                        .dr()?;
                    continue;
                }
                let inset = w * 0.06;
                chart
                    .draw_series([
                        Rectangle::new([(x0 + inset, 0.0), (x1 - inset, v)], c.filled()),
                        Rectangle::new([(x0 + inset, 0.0), (x1 - inset, v)], dark.stroke_width(1)),
                    ])
                    .dr()?;
                let mut top = v.max(0.0);
                if let (Some(&lo), Some(&hi)) = (g.err_lo.get(i), g.err_hi.get(i))
                    && lo.is_finite()
                    && hi.is_finite()
                {
                    let cap = w * 0.18;
                    chart
                        .draw_series([
                            PathElement::new(vec![(xc, lo), (xc, hi)], dark.stroke_width(2)),
                            PathElement::new(vec![(xc - cap, lo), (xc + cap, lo)], dark.stroke_width(2)),
                            PathElement::new(vec![(xc - cap, hi), (xc + cap, hi)], dark.stroke_width(2)),
                        ])
                        .dr()?;
                    top = top.max(hi);
                }
                if show_values {
                    chart
                        .draw_series(std::iter::once(
                            EmptyElement::at((xc, top))
                                + Text::new(
                                    fmt_num(v),
                                    (0, -4),
                                    font(15).pos(Pos::new(HPos::Center, VPos::Bottom)),
                                ),
                        ))
                        .dr()?;
                }
            }
            if !g.name.is_empty() {
                named += 1;
                chart
                    .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                    .dr()?
                    .label(g.name.as_str())
                    .legend(move |(lx, ly)| Rectangle::new([(lx, ly - 6), (lx + 18, ly + 6)], c.filled()));
            }
        }
        if named > 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(font(st.legend))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(160, 160, 160))
                .margin(10)
                .draw()
                .dr()?;
        }
        Ok(())
    }
}

/// Grouped bars (800x500 or wider for many bars): one cluster per category,
/// one coloured bar per group, black whiskers from `err_lo` to `err_hi`
/// (absolute bounds), the value printed above each bar (up to 30 bars),
/// legend with the group names. Negative values draw downward from 0.
///
/// Errors: unsupported extension, no categories / groups / finite values,
/// mismatched lengths, I/O.
pub fn bar_chart(path: impl AsRef<Path>, chart: &BarChart) -> Result<(), PlotError> {
    let path = path.as_ref();
    check_path(path)?;
    validate_bars(chart)?;
    render(path, &BarFig(chart))
}
