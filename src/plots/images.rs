//! Image figures: sample grids at every resolution ([`image_grid`]) and
//! dictionary atoms as tiles ([`dictionary_tiles`], [`dictionary_pairs`]).
//!
//! Every image is drawn by nearest-neighbour scaling into a square cell whose
//! physical size is the same for the whole figure, so a 4x4, an 8x8 and a
//! 16x16 image side by side each fill the same 96x96 cell (aspect ratio is
//! kept; non-square images are centred in their cell).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::PlotError;
use super::output::{DrawResult, Figure, check_path, font, render, text_width};

/// A plain image: `data[(row * width + col) * channels + ch]`, row-major,
/// `channels` is 1 (grayscale) or 3 (RGB).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Image {
    /// Number of pixel rows (> 0).
    pub height: usize,
    /// Number of pixel columns (> 0).
    pub width: usize,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// `height * width * channels` values, row-major, channels innermost.
    pub data: Vec<f64>,
}

impl Image {
    /// A grayscale image (not validated; drawing validates).
    pub fn gray(height: usize, width: usize, data: Vec<f64>) -> Self {
        Self {
            height,
            width,
            channels: 1,
            data,
        }
    }

    /// An RGB image (not validated; drawing validates).
    pub fn rgb(height: usize, width: usize, data: Vec<f64>) -> Self {
        Self {
            height,
            width,
            channels: 3,
            data,
        }
    }

    /// Checks shape and length.
    pub fn validate(&self) -> Result<(), PlotError> {
        if self.height == 0 || self.width == 0 {
            return Err(PlotError::InvalidImage(format!(
                "zero-size image {}x{}",
                self.height, self.width
            )));
        }
        if self.channels != 1 && self.channels != 3 {
            return Err(PlotError::InvalidImage(format!(
                "{} channels (allowed: 1 or 3)",
                self.channels
            )));
        }
        let want = self
            .height
            .checked_mul(self.width)
            .and_then(|n| n.checked_mul(self.channels));
        if want != Some(self.data.len()) {
            return Err(PlotError::InvalidImage(format!(
                "{}x{}x{} image has {} values",
                self.height,
                self.width,
                self.channels,
                self.data.len()
            )));
        }
        Ok(())
    }

    /// Value at (`row`, `col`, `ch`); panics if out of bounds.
    pub fn get(&self, row: usize, col: usize, ch: usize) -> f64 {
        self.data[(row * self.width + col) * self.channels + ch]
    }

    /// Nearest-neighbour upsampling by an integer `factor` (>= 1).
    pub fn upsample_nearest(&self, factor: usize) -> Image {
        let f = factor.max(1);
        let (h, w, c) = (self.height * f, self.width * f, self.channels);
        let mut data = Vec::with_capacity(h * w * c);
        for r in 0..h {
            for col in 0..w {
                for ch in 0..c {
                    data.push(self.get(r / f, col / f, ch));
                }
            }
        }
        Image {
            height: h,
            width: w,
            channels: c,
            data,
        }
    }

    fn finite_values(&self) -> impl Iterator<Item = f64> + '_ {
        self.data.iter().copied().filter(|v| v.is_finite())
    }
}

/// How pixel values map to gray levels / colour intensities.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Range {
    /// `lo` is black, `hi` is white; values outside are clamped (each RGB
    /// channel likewise).
    Fixed(f64, f64),
    /// Min and max of all finite values in the figure (one scale for all
    /// cells, so cells are comparable).
    #[default]
    Auto,
    /// Each image scaled to its own finite min / max.
    PerImage,
}

/// Pixel geometry of an [`image_grid`] figure (what [`image_grid_layout`]
/// computes and [`image_grid`] draws).
#[derive(Debug, Clone, PartialEq)]
pub struct GridLayout {
    /// Figure width in pixels.
    pub width: u32,
    /// Figure height in pixels.
    pub height: u32,
    /// Side of every (square) cell in pixels.
    pub cell: u32,
    /// Top-left pixel (x, y) of cell `[row][col]`; a square image fills the
    /// whole `cell x cell` square from there.
    pub cells: Vec<Vec<(i32, i32)>>,
}

/// Colour of non-finite pixels.
const NAN_COLOR: RGBColor = RGBColor(255, 0, 255);
/// Border drawn around every cell.
const BORDER: RGBColor = RGBColor(170, 170, 170);

const MARGIN: u32 = 12;
const GAP: u32 = 6;
// Font "sizes" as plotters counts them (em = size / 1.24 px).
const TITLE_SIZE: u32 = 24;
const HEADER_SIZE: u32 = 18;
const LABEL_SIZE: u32 = 16;
const FOOTER_SIZE: u32 = 15;

/// Resolved value mapping for a whole sheet.
#[derive(Debug, Clone, Copy)]
enum Mapping {
    Linear(f64, f64),
    PerImage,
    /// Per image: gray = 0, white = +max|v|, black = -max|v|.
    Symmetric,
}

fn finite_min_max(it: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    it.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) }
}

fn to_u8(t: f64) -> u8 {
    (t.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Colours of every pixel of `img`, row-major.
fn pixel_colors(img: &Image, mapping: Mapping) -> Vec<RGBColor> {
    let (lo, hi, sym) = match mapping {
        Mapping::Linear(lo, hi) => (lo, hi, false),
        Mapping::PerImage => {
            let (lo, hi) = finite_min_max(img.finite_values()).unwrap_or((0.0, 1.0));
            let (lo, hi) = widen(lo, hi);
            (lo, hi, false)
        }
        Mapping::Symmetric => {
            let m = img.finite_values().fold(0.0f64, |m, v| m.max(v.abs()));
            (-m, m, true)
        }
    };
    let t = |v: f64| -> Option<u8> {
        if !v.is_finite() {
            None
        } else if sym && hi <= 0.0 {
            Some(to_u8(0.5))
        } else {
            Some(to_u8((v - lo) / (hi - lo)))
        }
    };
    (0..img.height * img.width)
        .map(|p| {
            let px = &img.data[p * img.channels..(p + 1) * img.channels];
            if img.channels == 1 {
                t(px[0]).map_or(NAN_COLOR, |g| RGBColor(g, g, g))
            } else {
                match (t(px[0]), t(px[1]), t(px[2])) {
                    (Some(r), Some(g), Some(b)) => RGBColor(r, g, b),
                    _ => NAN_COLOR,
                }
            }
        })
        .collect()
}

/// Cell side: a multiple of the largest image side near `base` (so usual
/// pyramid sizes scale by whole factors), capped at `cap`.
fn cell_size(max_side: usize, base: u32, cap: u32) -> u32 {
    let s = max_side.max(1) as u32;
    if s >= base {
        s.min(cap)
    } else {
        s * base.div_ceil(s)
    }
}

/// One row of tiles.
struct TileRow<'a> {
    title: String,
    cells: Vec<Option<&'a Image>>,
    /// Empty: no label line under this row.
    labels: Vec<String>,
    /// Extra vertical space after this row.
    gap_after: u32,
}

/// A sheet of image tiles with titles, labels and a footer.
struct TileSheet<'a> {
    title: String,
    col_titles: Vec<String>,
    rows: Vec<TileRow<'a>>,
    cell: u32,
    mapping: Mapping,
    footer: String,
}

/// Computed positions of a [`TileSheet`].
struct SheetLayout {
    width: u32,
    height: u32,
    row_title_w: u32,
    title_h: u32,
    /// Top-left of each column's cell (x), and each row's cell (y).
    col_x: Vec<i32>,
    row_y: Vec<i32>,
    footer_y: i32,
}

impl TileSheet<'_> {
    fn ncols(&self) -> usize {
        self.rows.iter().map(|r| r.cells.len()).max().unwrap_or(0)
    }

    fn layout(&self) -> SheetLayout {
        let ncols = self.ncols() as u32;
        let label_h = LABEL_SIZE + 8;
        let widest_label = self
            .rows
            .iter()
            .flat_map(|r| r.labels.iter())
            .map(|l| text_width(l, LABEL_SIZE) + 6)
            .max()
            .unwrap_or(0);
        let widest_col_title = self
            .col_titles
            .iter()
            .map(|t| text_width(t, HEADER_SIZE) + 8)
            .max()
            .unwrap_or(0);
        let col_w = self.cell.max(widest_label).max(widest_col_title);
        let row_title_w = self
            .rows
            .iter()
            .map(|r| text_width(&r.title, HEADER_SIZE))
            .max()
            .unwrap_or(0);
        let row_title_w = if row_title_w > 0 { row_title_w + 12 } else { 0 };
        let title_h = if self.title.is_empty() { 0 } else { TITLE_SIZE + 16 };
        let header_h = if self.col_titles.iter().any(|t| !t.is_empty()) {
            HEADER_SIZE + 10
        } else {
            0
        };
        let grid_w = ncols * col_w + ncols.saturating_sub(1) * GAP;
        let footer_w = text_width(&self.footer, FOOTER_SIZE);
        let width = (2 * MARGIN + row_title_w + grid_w)
            .max(2 * MARGIN + text_width(&self.title, TITLE_SIZE))
            .max(2 * MARGIN + footer_w);
        let x0 = MARGIN + row_title_w;
        let col_x = (0..ncols)
            .map(|c| (x0 + c * (col_w + GAP) + (col_w - self.cell) / 2) as i32)
            .collect();
        let mut y = MARGIN + title_h + header_h;
        let mut row_y = Vec::with_capacity(self.rows.len());
        for r in &self.rows {
            row_y.push(y as i32);
            y += self.cell + GAP + r.gap_after;
            if !r.labels.is_empty() {
                y += label_h;
            }
        }
        let footer_y = y as i32;
        let footer_h = if self.footer.is_empty() {
            0
        } else {
            FOOTER_SIZE + 6
        };
        SheetLayout {
            width,
            height: y + footer_h + MARGIN,
            row_title_w,
            title_h,
            col_x,
            row_y,
            footer_y,
        }
    }
}

fn text_at<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    (x, y): (i32, i32),
    size: u32,
    h: HPos,
    v: VPos,
) -> Result<(), PlotError> {
    if s.is_empty() {
        return Ok(());
    }
    area.draw(&Text::new(s.to_string(), (x, y), font(size).pos(Pos::new(h, v))))
        .dr()
}

/// Draws `img` into the square cell at (x, y) of side `cell`.
fn draw_image<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    img: &Image,
    (x, y): (i32, i32),
    cell: u32,
    mapping: Mapping,
) -> Result<(), PlotError> {
    let (h, w) = (img.height as i64, img.width as i64);
    let side = h.max(w);
    let dh = (h * cell as i64 / side).max(1);
    let dw = (w * cell as i64 / side).max(1);
    let ox = x as i64 + (cell as i64 - dw) / 2;
    let oy = y as i64 + (cell as i64 - dh) / 2;
    area.draw(&Rectangle::new(
        [
            ((ox - 1) as i32, (oy - 1) as i32),
            ((ox + dw + 1) as i32, (oy + dh + 1) as i32),
        ],
        BORDER.filled(),
    ))
    .dr()?;
    let colors = pixel_colors(img, mapping);
    if h > dh || w > dw {
        // Larger than the cell: one rectangle per display pixel, sampling
        // the nearest source pixel.
        for y in 0..dh {
            for x in 0..dw {
                let col = colors[((y * h / dh) * w + x * w / dw) as usize];
                let (px, py) = ((ox + x) as i32, (oy + y) as i32);
                area.draw(&Rectangle::new([(px, py), (px + 1, py + 1)], col.filled()))
                    .dr()?;
            }
        }
        return Ok(());
    }
    for r in 0..h {
        let y0 = oy + r * dh / h;
        let y1 = oy + (r + 1) * dh / h;
        for c in 0..w {
            let x0 = ox + c * dw / w;
            let x1 = ox + (c + 1) * dw / w;
            if x1 <= x0 || y1 <= y0 {
                continue;
            }
            let col = colors[(r * w + c) as usize];
            area.draw(&Rectangle::new(
                [(x0 as i32, y0 as i32), (x1 as i32, y1 as i32)],
                col.filled(),
            ))
            .dr()?;
        }
    }
    Ok(())
}

impl Figure for TileSheet<'_> {
    fn size(&self) -> (u32, u32) {
        let l = self.layout();
        (l.width, l.height)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let l = self.layout();
        let center = |c: usize| l.col_x[c] + self.cell as i32 / 2;
        text_at(
            root,
            &self.title,
            (l.width as i32 / 2, MARGIN as i32),
            TITLE_SIZE,
            HPos::Center,
            VPos::Top,
        )?;
        let header_y = (MARGIN + l.title_h) as i32;
        for (c, t) in self.col_titles.iter().enumerate().take(l.col_x.len()) {
            text_at(
                root,
                t,
                (center(c), header_y),
                HEADER_SIZE,
                HPos::Center,
                VPos::Top,
            )?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            let y = l.row_y[r];
            text_at(
                root,
                &row.title,
                ((MARGIN + l.row_title_w) as i32 - 10, y + self.cell as i32 / 2),
                HEADER_SIZE,
                HPos::Right,
                VPos::Center,
            )?;
            for (c, img) in row.cells.iter().enumerate() {
                if let Some(img) = img {
                    draw_image(root, img, (l.col_x[c], y), self.cell, self.mapping)?;
                }
                if let Some(label) = row.labels.get(c) {
                    text_at(
                        root,
                        label,
                        (center(c), y + self.cell as i32 + 4),
                        LABEL_SIZE,
                        HPos::Center,
                        VPos::Top,
                    )?;
                }
            }
        }
        text_at(
            root,
            &self.footer,
            (MARGIN as i32, l.footer_y),
            FOOTER_SIZE,
            HPos::Left,
            VPos::Top,
        )?;
        Ok(())
    }
}

fn validate_all<'a>(imgs: impl Iterator<Item = &'a Image>) -> Result<usize, PlotError> {
    let mut max_side = 0;
    for img in imgs {
        img.validate()?;
        max_side = max_side.max(img.height).max(img.width);
    }
    Ok(max_side)
}

fn check_titles(what: &str, titles: &[String], n: usize) -> Result<(), PlotError> {
    if !titles.is_empty() && titles.len() != n {
        return Err(PlotError::InvalidInput(format!(
            "{} {what} for {n} {}",
            titles.len(),
            if what.starts_with("column") {
                "columns"
            } else if what.starts_with("row") {
                "rows"
            } else {
                "tiles"
            }
        )));
    }
    Ok(())
}

fn fmt_val(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn grid_sheet<'a>(
    title: &str,
    rows: &'a [Vec<Image>],
    column_titles: &[String],
    row_titles: &[String],
    range: Range,
) -> Result<TileSheet<'a>, PlotError> {
    let max_side = validate_all(rows.iter().flatten())?;
    if max_side == 0 {
        return Err(PlotError::Empty("image_grid: no images".into()));
    }
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    check_titles("column titles", column_titles, ncols)?;
    check_titles("row titles", row_titles, rows.len())?;
    let any_nan = rows
        .iter()
        .flatten()
        .any(|i| i.data.iter().any(|v| !v.is_finite()));
    let (mapping, mut footer) = match range {
        Range::Fixed(lo, hi) => {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(PlotError::InvalidInput(format!(
                    "image range must be finite with lo < hi, got ({lo}, {hi})"
                )));
            }
            (
                Mapping::Linear(lo, hi),
                format!("black = {}, white = {} (clamped)", fmt_val(lo), fmt_val(hi)),
            )
        }
        Range::Auto => {
            let (lo, hi) =
                finite_min_max(rows.iter().flatten().flat_map(|i| i.finite_values())).unwrap_or((0.0, 1.0));
            let (lo, hi) = widen(lo, hi);
            (
                Mapping::Linear(lo, hi),
                format!(
                    "black = {}, white = {} (figure min / max)",
                    fmt_val(lo),
                    fmt_val(hi)
                ),
            )
        }
        Range::PerImage => (
            Mapping::PerImage,
            "each image scaled to its own min (black) / max (white)".to_string(),
        ),
    };
    if any_nan {
        footer.push_str("; magenta = non-finite");
    }
    Ok(TileSheet {
        title: title.to_string(),
        col_titles: column_titles.to_vec(),
        rows: rows
            .iter()
            .enumerate()
            .map(|(r, imgs)| TileRow {
                title: row_titles.get(r).cloned().unwrap_or_default(),
                cells: imgs.iter().map(Some).collect(),
                labels: Vec::new(),
                gap_after: 0,
            })
            .collect(),
        cell: cell_size(max_side, 96, 320),
        mapping,
        footer,
    })
}

/// The pixel geometry [`image_grid`] draws for these inputs (same arguments
/// minus the path, same validation and errors; nothing is drawn).
pub fn image_grid_layout(
    title: &str,
    rows: &[Vec<Image>],
    column_titles: &[String],
    row_titles: &[String],
    range: Range,
) -> Result<GridLayout, PlotError> {
    let sheet = grid_sheet(title, rows, column_titles, row_titles, range)?;
    let l = sheet.layout();
    Ok(GridLayout {
        width: l.width,
        height: l.height,
        cell: sheet.cell,
        cells: sheet
            .rows
            .iter()
            .zip(&l.row_y)
            .map(|(r, &y)| (0..r.cells.len()).map(|c| (l.col_x[c], y)).collect())
            .collect(),
    })
}

/// A grid of images, one cell per image, every cell the same physical size
/// (nearest-neighbour scaling; a 4x4, 8x8 and 16x16 image each fill a 96x96
/// cell), with thin borders, an optional column title per column, an
/// optional row title per row and a footer stating the value range.
///
/// Use it for "a grid of samples, each shown at every resolution side by
/// side" (one row per sample, one column per resolution) and "real vs
/// generated grids at each resolution". Rows may have different lengths
/// (missing cells stay blank). `column_titles` / `row_titles` are either
/// empty or one per column / row. Grayscale images map `range` to
/// black..white; RGB channels are clamped to `range` likewise.
///
/// Errors: unsupported extension, no images, an invalid [`Image`], title
/// counts that do not match, a bad [`Range::Fixed`], I/O.
pub fn image_grid(
    path: impl AsRef<Path>,
    title: &str,
    rows: &[Vec<Image>],
    column_titles: &[String],
    row_titles: &[String],
    range: Range,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    check_path(path)?;
    let sheet = grid_sheet(title, rows, column_titles, row_titles, range)?;
    render(path, &sheet)
}

const DICT_FOOTER: &str = "each atom scaled symmetrically: gray = 0, white = +max|w|, black = -max|w|";

/// Dictionary atoms as image tiles, `ncols` per row (0 = automatic), each
/// atom normalised symmetrically around zero (gray = 0, white = its largest
/// |value| positive, black = negative), with an optional label under each
/// tile (e.g. "cos 0.98"; `labels` empty or one per atom).
///
/// Errors: unsupported extension, no atoms, an invalid [`Image`], a label
/// count that does not match, I/O.
pub fn dictionary_tiles(
    path: impl AsRef<Path>,
    title: &str,
    atoms: &[Image],
    ncols: usize,
    labels: &[String],
) -> Result<(), PlotError> {
    let path = path.as_ref();
    check_path(path)?;
    if atoms.is_empty() {
        return Err(PlotError::Empty("dictionary_tiles: no atoms".into()));
    }
    let max_side = validate_all(atoms.iter())?;
    check_titles("labels", labels, atoms.len())?;
    let ncols = if ncols == 0 { auto_cols(atoms.len()) } else { ncols };
    let rows = atoms
        .chunks(ncols)
        .enumerate()
        .map(|(r, chunk)| TileRow {
            title: String::new(),
            cells: chunk.iter().map(Some).collect(),
            labels: if labels.is_empty() {
                Vec::new()
            } else {
                labels[r * ncols..r * ncols + chunk.len()].to_vec()
            },
            gap_after: 0,
        })
        .collect();
    let sheet = TileSheet {
        title: title.to_string(),
        col_titles: Vec::new(),
        rows,
        cell: cell_size(max_side, 72, 160),
        mapping: Mapping::Symmetric,
        footer: DICT_FOOTER.to_string(),
    };
    render(path, &sheet)
}

/// Columns per row for `n` tiles: all in one row up to 16, else balanced
/// rows of at most 12.
fn auto_cols(n: usize) -> usize {
    if n <= 16 {
        n.max(1)
    } else {
        n.div_ceil(n.div_ceil(12))
    }
}

/// True vs learned dictionaries in matched order: for each block of columns
/// a "true" row with a "learned" row right below it (atom `i` of each in the
/// same column), `labels` (empty or one per learned atom, e.g. "cos 0.98")
/// under the learned tiles. Long dictionaries wrap into several blocks of at
/// most 16 columns. The two lists may differ in length (missing tiles stay
/// blank). Atoms are normalised as in [`dictionary_tiles`].
///
/// Errors: unsupported extension, both lists empty, an invalid [`Image`], a
/// label count that does not match, I/O.
pub fn dictionary_pairs(
    path: impl AsRef<Path>,
    title: &str,
    true_atoms: &[Image],
    learned_atoms: &[Image],
    labels: &[String],
) -> Result<(), PlotError> {
    let path = path.as_ref();
    check_path(path)?;
    let n = true_atoms.len().max(learned_atoms.len());
    if n == 0 {
        return Err(PlotError::Empty("dictionary_pairs: no atoms".into()));
    }
    let max_side = validate_all(true_atoms.iter().chain(learned_atoms))?;
    check_titles("labels", labels, learned_atoms.len())?;
    let ncols = auto_cols(n);
    let nblocks = n.div_ceil(ncols);
    let mut rows = Vec::with_capacity(2 * nblocks);
    for b in 0..nblocks {
        let cols = b * ncols..((b + 1) * ncols).min(n);
        rows.push(TileRow {
            title: "true".into(),
            cells: cols.clone().map(|i| true_atoms.get(i)).collect(),
            labels: Vec::new(),
            gap_after: 0,
        });
        rows.push(TileRow {
            title: "learned".into(),
            cells: cols.clone().map(|i| learned_atoms.get(i)).collect(),
            labels: if labels.is_empty() {
                Vec::new()
            } else {
                cols.map(|i| labels.get(i).cloned().unwrap_or_default()).collect()
            },
            gap_after: if b + 1 < nblocks { 14 } else { 0 },
        });
    }
    let sheet = TileSheet {
        title: title.to_string(),
        col_titles: Vec::new(),
        rows,
        cell: cell_size(max_side, 72, 160),
        mapping: Mapping::Symmetric,
        footer: DICT_FOOTER.to_string(),
    };
    render(path, &sheet)
}
