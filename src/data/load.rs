//! Loading images: PNG files (png crate) and CSV image sets, as [`Image`]s
//! with values in `[0, 1]`.
//!
//! - PNG: any bit depth (1, 2, 4, 8, 16; low depths and palettes are expanded
//!   by the decoder), colour types gray, gray+alpha, RGB, RGBA and indexed.
//!   A sample `v` of depth `d` becomes `v / (2^d - 1)`. Alpha is dropped
//!   (not composited). [`ColorMode::Gray`] converts colour by Rec. 601 luma
//!   `0.299 R + 0.587 G + 0.114 B` on the stored (gamma-encoded) values;
//!   [`ColorMode::Rgb`] keeps three channels (gray images are replicated).
//! - CSV: a header row; a column named `label` (any case) is ignored, every
//!   other column is a pixel, in row-major `(row, col, channel)` order. The
//!   image side is given or inferred from the pixel-column count (must be
//!   `side^2 * channels`). Values must be finite and in `[0, pixel_max]`; they
//!   are divided by `pixel_max`. Without an explicit `pixel_max`, it is `1`
//!   when every value is in `[0, 1]` and otherwise the largest value in the
//!   file (the digits: 16). Negative values are always rejected.

use std::io::Cursor;
use std::path::Path;

use super::DataError;

/// Largest image the loaders accept, in pixels (64 Mpx).
pub const MAX_PIXELS: usize = 1 << 26;

/// How colour images become channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ColorMode {
    /// One channel: gray as is, colour by Rec. 601 luma.
    Gray,
    /// Three channels R, G, B (gray replicated).
    Rgb,
}

impl ColorMode {
    /// Channels this mode produces.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Gray => 1,
            ColorMode::Rgb => 3,
        }
    }
}

/// One image: row-major `height x width x channels` values in `[0, 1]`
/// (value `(i * width + j) * channels + ch`), as `Geometry::pool_image`
/// expects. `source` names where it came from (a path, or `path:line`).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub pixels: Vec<f64>,
    pub source: String,
}

/// Reads and decodes a PNG file (see the module docs for the conversions).
pub fn load_png(path: &Path, color: ColorMode) -> Result<Image, DataError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    decode_png(&bytes, &name, color)
}

/// Decodes PNG bytes; `source` is used in errors and as [`Image::source`].
pub fn decode_png(bytes: &[u8], source: &str, color: ColorMode) -> Result<Image, DataError> {
    use png::{BitDepth, ColorType, Transformations};
    let not_png = |e: png::DecodingError| DataError::NotPng {
        path: source.to_string(),
        reason: e.to_string(),
    };
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(not_png)?;
    let (w, h) = reader.info().size();
    let (width, height) = (w as usize, h as usize);
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(DataError::ImageTooLarge {
            path: source.to_string(),
            width,
            height,
            max: MAX_PIXELS,
        });
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| DataError::ImageTooLarge {
            path: source.to_string(),
            width,
            height,
            max: MAX_PIXELS,
        })?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(not_png)?;
    let (ctype, depth) = (info.color_type, info.bit_depth);
    let samples = match ctype {
        ColorType::Grayscale => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        ColorType::Indexed => 0,
    };
    let bits = depth as u8;
    if samples == 0 || !matches!(depth, BitDepth::Eight | BitDepth::Sixteen) {
        return Err(DataError::PngFormat {
            path: source.to_string(),
            color: format!("{ctype:?}"),
            bits,
        });
    }
    let wide = depth == BitDepth::Sixteen;
    let bytes_per = if wide { 2 } else { 1 };
    let line = info.line_size;
    let sample = |i: usize, j: usize, k: usize| -> f64 {
        let off = i * line + (j * samples + k) * bytes_per;
        if wide {
            f64::from(u16::from_be_bytes([buf[off], buf[off + 1]])) / 65535.0
        } else {
            f64::from(buf[off]) / 255.0
        }
    };
    let out_ch = color.channels();
    let mut pixels = Vec::with_capacity(width * height * out_ch);
    for i in 0..height {
        for j in 0..width {
            let gray_in = samples <= 2;
            match (color, gray_in) {
                (ColorMode::Gray, true) => pixels.push(sample(i, j, 0)),
                (ColorMode::Gray, false) => {
                    pixels.push(0.299 * sample(i, j, 0) + 0.587 * sample(i, j, 1) + 0.114 * sample(i, j, 2))
                }
                (ColorMode::Rgb, true) => {
                    let v = sample(i, j, 0);
                    pixels.extend_from_slice(&[v, v, v]);
                }
                (ColorMode::Rgb, false) => {
                    for k in 0..3 {
                        pixels.push(sample(i, j, k));
                    }
                }
            }
        }
    }
    Ok(Image {
        height,
        width,
        channels: out_ch,
        pixels,
        source: source.to_string(),
    })
}

/// How a CSV image set is read (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsvOptions {
    /// Image side; `None` infers it from the pixel-column count.
    pub image_side: Option<usize>,
    /// Channels per pixel in the columns (1 = grayscale); 0 is read as 1.
    pub channels: usize,
    /// The value that maps to 1; `None` infers it (see the module docs).
    pub pixel_max: Option<f64>,
}

/// Reads a CSV image set from a file (see the module docs).
pub fn load_csv(path: &Path, opts: &CsvOptions) -> Result<Vec<Image>, DataError> {
    let name = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| DataError::Io {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    parse_csv(&text, &name, opts)
}

/// A CSV reader over `bytes` as every fsrgan CSV input is read: a header
/// row, trimmed cells, rows of any length (checked by the caller, so a
/// wrong row gets an error naming its line).
pub(crate) fn csv_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes)
}

/// A csv-crate error as a one-line [`DataError`] naming the file and line.
pub(crate) fn csv_read_error(source: &str, e: csv::Error) -> DataError {
    DataError::CsvRead {
        path: source.to_string(),
        line: e.position().map_or(0, |p| p.line()),
        reason: e.to_string(),
    }
}

/// Parses CSV bytes; `source` names the file in errors. Line numbers are
/// 1-based file lines (the header is line 1).
pub fn parse_csv(bytes: &[u8], source: &str, opts: &CsvOptions) -> Result<Vec<Image>, DataError> {
    let path = || source.to_string();
    let mut rdr = csv_reader(bytes);
    let read_err = |e: csv::Error| csv_read_error(source, e);
    let headers = rdr.headers().map_err(read_err)?.clone();
    let names: Vec<String> = headers.iter().map(str::to_string).collect();
    let pixel_cols: Vec<usize> = (0..names.len())
        .filter(|&i| !names[i].eq_ignore_ascii_case("label"))
        .collect();
    if pixel_cols.is_empty() || (names.len() == 1 && names[0].is_empty()) {
        return Err(DataError::CsvNoPixelColumns { path: path() });
    }
    let channels = opts.channels.max(1);
    let columns = pixel_cols.len();
    let side = match opts.image_side {
        Some(s) => {
            let expected = s.saturating_mul(s).saturating_mul(channels);
            if expected != columns {
                return Err(DataError::CsvSideMismatch {
                    path: path(),
                    columns,
                    side: s,
                    channels,
                    expected,
                });
            }
            s
        }
        None => {
            let per = columns / channels;
            let s = (per as f64).sqrt().round() as usize;
            if per * channels != columns || s * s != per {
                return Err(DataError::CsvNotSquare {
                    path: path(),
                    columns,
                    channels,
                });
            }
            s
        }
    };
    let shown_max = opts.pixel_max.unwrap_or(f64::INFINITY);
    let mut rows: Vec<(u64, Vec<f64>)> = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut observed_max: f64 = 0.0;
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(read_err(e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        // A blank line reads as one empty field: skip it.
        if record.len() == 1 && record[0].is_empty() && names.len() > 1 {
            continue;
        }
        if record.len() != names.len() {
            return Err(DataError::CsvColumns {
                path: path(),
                line,
                found: record.len(),
                expected: names.len(),
            });
        }
        let mut vals = Vec::with_capacity(columns);
        for &c in &pixel_cols {
            let cell = &record[c];
            let v: f64 = cell.parse().map_err(|_| DataError::CsvNotNumber {
                path: path(),
                line,
                column: c + 1,
                name: names[c].clone(),
                value: cell.to_string(),
            })?;
            if !v.is_finite() {
                return Err(DataError::CsvNonFinite {
                    path: path(),
                    line,
                    column: c + 1,
                    name: names[c].clone(),
                    value: cell.to_string(),
                    max: shown_max,
                });
            }
            if v < 0.0 || v > shown_max {
                return Err(DataError::CsvRange {
                    path: path(),
                    line,
                    column: c + 1,
                    name: names[c].clone(),
                    value: v,
                    max: shown_max,
                });
            }
            observed_max = observed_max.max(v);
            vals.push(v);
        }
        rows.push((line, vals));
    }
    if rows.is_empty() {
        return Err(DataError::CsvEmpty { path: path() });
    }
    let scale = match opts.pixel_max {
        Some(m) => m,
        None if observed_max <= 1.0 => 1.0,
        None => observed_max,
    };
    Ok(rows
        .into_iter()
        .map(|(line, vals)| Image {
            height: side,
            width: side,
            channels,
            pixels: vals.into_iter().map(|v| v / scale).collect(),
            source: format!("{source}:{line}"),
        })
        .collect())
}
