//! Figures (SPEC §6 "Figures a user expects"). This module owns every figure
//! the harness draws, and nothing else:
//!
//! - learning curves per level (feature cosine, SR error, MMD vs iteration,
//!   with the t_l marks): [`line_chart`], [`panel_lines`];
//! - real vs generated sample grids at every resolution, each cell drawn at
//!   the same physical size whatever its pixel resolution: [`image_grid`];
//! - true vs learned dictionaries as image tiles: [`dictionary_tiles`],
//!   [`dictionary_pairs`];
//! - log-log sample- and time-complexity plots with fitted lines and CI
//!   bands: [`loglog_fit`];
//! - ablation bars (joint vs top-only, lambda sweep): [`bar_chart`].
//!
//! It takes plain data (`f64`, `String`, [`Image`]) and depends on no other
//! fsrgan module, so data flows one way into it. The output format is chosen
//! by the path's extension: `.png` (drawn into an in-memory RGB buffer with
//! plotters' `BitMapBackend` and encoded with the `png` crate) or `.svg`
//! (plotters' `SVGBackend`). All text is drawn with the DejaVu Sans font
//! shipped in `assets/fonts/` and registered once as `"sans-serif"`, so a
//! machine without system fonts renders the same figures.
//!
//! Bad input never panics: empty figures, malformed images, mismatched
//! lengths and unknown extensions are [`PlotError`]s; non-finite values in
//! charts are skipped (lines break at them), non-positive values are skipped
//! on log axes, and non-finite pixels are drawn in magenta.

mod charts;
mod images;
mod output;

use std::path::PathBuf;

pub use charts::{
    BarChart, BarGroup, FitChart, FitLine, LineChart, Series, bar_chart, line_chart, loglog_fit, panel_lines,
};
pub use images::{
    GridLayout, Image, Range, dictionary_pairs, dictionary_tiles, image_grid, image_grid_layout,
};

/// Everything that can go wrong when drawing a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The path's extension is not one of the supported output formats.
    #[error("cannot write figure to {path}: unsupported extension (allowed: .png, .svg)")]
    UnsupportedExtension {
        /// The offending path.
        path: PathBuf,
    },
    /// Nothing to draw (no series, no finite points, no images, ...).
    #[error("empty figure: {0}")]
    Empty(String),
    /// An [`Image`] whose shape or data is inconsistent.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// Input whose parts do not fit together (lengths, ranges, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The shipped font could not be registered.
    #[error("font registration failed: {0}")]
    Font(String),
    /// Plotters reported an error while drawing.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// PNG encoding failed.
    #[error("PNG encoding of {path} failed: {message}")]
    Png {
        /// The output path.
        path: PathBuf,
        /// What the encoder said.
        message: String,
    },
    /// The figure file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The output path.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}
