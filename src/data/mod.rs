//! Real data in the target's multi-resolution layout (SPEC §4 claim C7, §6
//! `data`, §7 bad-input rules).
//!
//! This module owns everything between a file on disk and the per-level patch
//! matrices the rest of fsrgan consumes:
//!
//! - [`load`]: PNG images (png crate; 1/2/4/8/16-bit gray, gray+alpha, RGB,
//!   RGBA, indexed) and CSV image sets, as [`Image`]s with values in
//!   `[0, 1]`. Every bad file is a one-line [`DataError`] naming the path
//!   (and line / column, value, what is allowed); nothing here panics on
//!   input.
//! - [`multires`]: [`MultiRes`], samples `(X_1, ..., X_L)` in exactly the
//!   layout of [`crate::target::geometry`] (level `l` is `n x (N P_l)`,
//!   column `b P_l + p`, child `p = q r + c` of parent `q`). Lower levels are
//!   2x2 average poolings of the top level (pyramid mode of SPEC §1), so
//!   `pool(X_l) = X_{l-1}` holds exactly, as for the synthetic targets.
//!   Whole small images ([`pyramid`]) or seeded random crops of large
//!   photographs ([`random_patches`]); optional per-image standardisation
//!   ([`standardize`]).
//! - [`spec`]: the `[data]` config section, raw serde struct
//!   ([`RawData`]) validated into a checked [`DataSpec`].
//! - [`fsr_check`]: the C7 measurement, how much of the level-`l` detail
//!   `X_l - Up(X_{l-1})` is predicted from level `l - 1`: from the raw
//!   coarse pixels, from sparse hidden features of the coarse patch, and
//!   from a shuffled control, with bootstrap intervals.

pub mod flat;
pub mod fsr_check;
pub mod load;
pub mod multires;
pub mod spec;

pub use flat::{load_flat_csv, parse_flat_csv};
pub use fsr_check::{
    BaselineOptions, CheckOptions, Estimate, Explained, FsrCheck, Intervals, LevelCheck, SparseBaseline,
    check_fsr, check_fsr_baseline, coarse_linear, hidden_features, shuffled_control, split_samples,
};
pub use load::{ColorMode, CsvOptions, Image, decode_png, load_csv, load_png, parse_csv};
pub use multires::{MultiRes, pyramid, random_patches, standardize};
pub use spec::{DataKind, DataSpec, RawData, RawPaths, parse_data_section};

/// Why data could not be loaded, shaped or measured. One variant per rule;
/// each message is one line naming the file (and line / column) or field,
/// the value, and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    // ---- files ----
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path}: not a readable PNG image ({reason}); expected a PNG file")]
    NotPng { path: String, reason: String },
    #[error(
        "{path}: PNG output {color} at {bits} bits is not supported; expected gray, gray+alpha, RGB or RGBA"
    )]
    PngFormat { path: String, color: String, bits: u8 },
    #[error("{path}: image is {width}x{height} pixels; at most {max} pixels are allowed")]
    ImageTooLarge {
        path: String,
        width: usize,
        height: usize,
        max: usize,
    },
    #[error(
        "{path}: CSV line {line}, column {column} ({name}): {value:?} is not a finite number; flat data must be numeric"
    )]
    FlatValue {
        path: String,
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error("{path}: CSV line {line}: {reason}")]
    CsvRead { path: String, line: u64, reason: String },
    #[error("{path}: CSV has no header row with pixel columns; expected a header like p0,p1,...[,label]")]
    CsvNoPixelColumns { path: String },
    #[error("{path}: CSV has no data rows; expected at least one image per row")]
    CsvEmpty { path: String },
    #[error("{path}: CSV line {line} has {found} columns; the header has {expected}")]
    CsvColumns {
        path: String,
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error(
        "{path}: CSV line {line}, column {column} ({name}): {value:?} is not a number; expected a finite pixel value"
    )]
    CsvNotNumber {
        path: String,
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error(
        "{path}: CSV line {line}, column {column} ({name}): {value} is not finite; expected a finite pixel value in [0, {max}]"
    )]
    CsvNonFinite {
        path: String,
        line: u64,
        column: usize,
        name: String,
        value: String,
        max: f64,
    },
    #[error(
        "{path}: CSV line {line}, column {column} ({name}): {value} is outside [0, {max}], the allowed pixel range"
    )]
    CsvRange {
        path: String,
        line: u64,
        column: usize,
        name: String,
        value: f64,
        max: f64,
    },
    #[error(
        "{path}: CSV has {columns} pixel columns, which is not side x side x {channels} for any side; give data.image_side or fix the columns"
    )]
    CsvNotSquare {
        path: String,
        columns: usize,
        channels: usize,
    },
    #[error(
        "{path}: CSV has {columns} pixel columns but data.image_side = {side} and data.channels = {channels} need {expected}"
    )]
    CsvSideMismatch {
        path: String,
        columns: usize,
        side: usize,
        channels: usize,
        expected: usize,
    },
    // ---- shaping ----
    #[error("no images to build samples from; give at least one")]
    NoImages,
    #[error(
        "{path}: image is {width}x{height}; every image of a pyramid set must be square and the same size as the first ({side}x{side})"
    )]
    ImageShape {
        path: String,
        width: usize,
        height: usize,
        side: usize,
    },
    #[error(
        "{path}: image has {found} channels, the first image has {expected}; load all images with the same colour mode"
    )]
    ChannelMismatch {
        path: String,
        found: usize,
        expected: usize,
    },
    #[error(
        "image side {side} is not a positive multiple of patch_side x 2^(levels-1) = {unit}; choose patch_side and levels so that it is"
    )]
    PyramidSide { side: usize, unit: usize },
    #[error(
        "{path}: image is {width}x{height}, smaller than the {crop}x{crop} crop that patch_side x 2^(levels-1) needs"
    )]
    ImageTooSmall {
        path: String,
        width: usize,
        height: usize,
        crop: usize,
    },
    #[error(
        "standardisation: the images have zero variance after removing each image's mean; nothing to scale"
    )]
    ZeroVariance,
    #[error(
        "data.samples = {samples}: the CSV has only {available} rows; ask for at most that many (or leave samples out for all)"
    )]
    SamplesExceedRows { samples: usize, available: usize },
    // ---- [data] config ----
    #[error("config {path}: {reason}")]
    ConfigParse { path: String, reason: String },
    #[error("data.kind is missing: must be \"csv\" (alias \"digits_csv\") or \"images\"")]
    KindMissing,
    #[error("data.kind = {value:?}: must be \"csv\" (alias \"digits_csv\") or \"images\"")]
    Kind { value: String },
    #[error("data.path is missing or empty: give a file (csv) or one or more PNG files (images)")]
    PathMissing,
    #[error("data.path has {count} entries: kind \"csv\" reads exactly one file")]
    CsvPathCount { count: usize },
    #[error("data.levels = {value}: must be in 1..=8")]
    Levels { value: i64 },
    #[error("data.patch_side = {value}: must be in 1..=64")]
    PatchSide { value: i64 },
    #[error(
        "data.patch_side = {value}: with levels >= 2 it must be even (each child is one quadrant of its parent)"
    )]
    PatchSideOdd { value: usize },
    #[error("data.samples = {value}: must be >= 1")]
    Samples { value: i64 },
    #[error("data.channels = {value}: must be 1 (grayscale by luminance) or 3 (RGB)")]
    Channels { value: i64 },
    #[error("data.pixel_max = {value}: must be finite and > 0")]
    PixelMax { value: f64 },
    #[error("data.image_side = {value}: must be >= 1")]
    ImageSide { value: i64 },
    #[error("data.seed = {value}: must be >= 0")]
    Seed { value: i64 },
    #[error("data.{field} only applies to kind \"csv\", not {kind:?}")]
    CsvOnlyField { field: &'static str, kind: String },
    #[error(
        "data: a {crop}x{crop} top-level crop is too large; patch_side x 2^(levels-1) must be at most {max}"
    )]
    CropTooLarge { crop: u128, max: usize },
    // ---- C7 measurement ----
    #[error("check-fsr: level {level} has no detail to predict; levels must be in 2..={levels}")]
    CheckLevel { level: usize, levels: usize },
    #[error("check-fsr: train_fraction = {value}: must be in (0, 1)")]
    TrainFraction { value: f64 },
    #[error("check-fsr: ridge = {value}: must be finite and >= 0")]
    Ridge { value: f64 },
    #[error("check-fsr: bootstrap = {value}: must be >= 1")]
    Bootstrap { value: usize },
    #[error("check-fsr: confidence = {value}: must be in (0, 1)")]
    Confidence { value: f64 },
    #[error(
        "check-fsr: {samples} samples give a {train}/{test} train/held-out split; each side needs at least {min}"
    )]
    TooFewSamples {
        samples: usize,
        train: usize,
        test: usize,
        min: usize,
    },
    #[error("check-fsr: level {level} detail has zero variance on the held-out split; nothing to explain")]
    DetailZeroVariance { level: usize },
    #[error("check-fsr: hidden features for {columns} coarse patches {reason}")]
    Features { columns: usize, reason: String },
    #[error("check-fsr: the ridge system is singular ({features} features); raise ridge above 0")]
    Singular { features: usize },
    #[error("sparse baseline: {field} = {value}: {allowed}")]
    Baseline {
        field: &'static str,
        value: String,
        allowed: &'static str,
    },
}
