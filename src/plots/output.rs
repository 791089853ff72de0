//! Output plumbing shared by all figures: font registration, format choice by
//! extension, PNG / SVG rendering, error conversion and the colour palette.

use std::io::BufWriter;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::PlotError;

/// The shipped font (DejaVu Sans, licence next to it).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The family name every figure uses; registered to [`FONT_BYTES`].
pub(crate) const FONT: &str = "sans-serif";

/// Registers the shipped font once, before any drawing.
pub(crate) fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, FONT_BYTES)
                .map_err(|_| "DejaVuSans.ttf is not a valid font".to_string())?;
            // Bold falls back to normal in ab_glyph, but register it anyway so
            // a bold style never reports a missing font.
            register_font(FONT, FontStyle::Bold, FONT_BYTES)
                .map_err(|_| "DejaVuSans.ttf is not a valid font".to_string())
        })
        .clone()
        .map_err(PlotError::Font)
}

/// A figure that can be drawn on any plotters backend.
pub(crate) trait Figure {
    /// Pixel size of the whole figure (width, height).
    fn size(&self) -> (u32, u32);
    /// Draws onto the root area (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

/// Output format, chosen by the path's extension.
enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format, PlotError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(PlotError::UnsupportedExtension {
            path: path.to_path_buf(),
        }),
    }
}

/// Checks the path's extension without drawing (fail fast on bad paths).
pub(crate) fn check_path(path: &Path) -> Result<(), PlotError> {
    format_of(path).map(|_| ())
}

/// Draws `fig` and writes it to `path` (PNG or SVG by extension).
pub(crate) fn render<F: Figure>(path: &Path, fig: &F) -> Result<(), PlotError> {
    let format = format_of(path)?;
    ensure_font()?;
    let (w, h) = fig.size();
    if w == 0 || h == 0 {
        return Err(PlotError::InvalidInput(format!(
            "figure size {w}x{h} has a zero side"
        )));
    }
    let io_err = |source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    };
    match format {
        Format::Png => {
            let mut buf = vec![255u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
                root.fill(&WHITE).dr()?;
                fig.draw(&root)?;
                root.present().dr()?;
            }
            let file = std::fs::File::create(path).map_err(io_err)?;
            let png_err = |e: png::EncodingError| PlotError::Png {
                path: path.to_path_buf(),
                message: e.to_string(),
            };
            let mut enc = png::Encoder::new(BufWriter::new(file), w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(png_err)?;
            writer.write_image_data(&buf).map_err(png_err)?;
            writer.finish().map_err(png_err)?;
        }
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                root.fill(&WHITE).dr()?;
                fig.draw(&root)?;
                root.present().dr()?;
            }
            std::fs::write(path, svg).map_err(io_err)?;
        }
    }
    Ok(())
}

/// Converts plotters' drawing errors into [`PlotError::Draw`].
pub(crate) trait DrawResult<T> {
    fn dr(self) -> Result<T, PlotError>;
}

impl<T, E: std::error::Error + Send + Sync> DrawResult<T>
    for Result<T, plotters::drawing::DrawingAreaErrorKind<E>>
{
    fn dr(self) -> Result<T, PlotError> {
        self.map_err(|e| PlotError::Draw(e.to_string()))
    }
}

/// Tableau-10 colours: distinguishable, colour-blind tolerable, print well.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The `i`-th palette colour (cycles).
pub(crate) fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// Text style in the shipped font.
pub(crate) fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// Estimated text width in pixels with the registered font (falls back to
/// a rough per-character estimate if the font is unavailable).
pub(crate) fn text_width(text: &str, size: u32) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let fallback = text.chars().count() as u32 * size * 6 / 10;
    if ensure_font().is_err() {
        return fallback;
    }
    font(size).font.box_size(text).map(|(w, _)| w).unwrap_or(fallback)
}
