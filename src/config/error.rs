//! Every way a configuration can be rejected, one variant per rule. Each
//! message is one line naming the field, the value and what is allowed.

/// A rejected configuration (the CLI prints it and exits with code 2).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("cannot read config {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("config {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("--set {value:?}: expected section.field=value")]
    SetSyntax { value: String },
    #[error("--set {key}: {reason}")]
    SetValue { key: String, reason: String },
    #[error("{field} = {value}: must be a positive integer (>= 1)")]
    NotPositive { field: &'static str, value: i64 },
    #[error("{field} = {value}: must be >= 0")]
    NegativeSeed { field: &'static str, value: i64 },
    #[error("target.levels = {value}: must be in 1..=8")]
    TooManyLevels { value: usize },
    #[error("target.fanout = {value}: must be 1, 2 or 4")]
    Fanout { value: i64 },
    #[error("target.root_patches = {value}: with fanout 4 it must be a perfect square (1, 4, 9, ...)")]
    RootNotSquare { value: usize },
    #[error("target.channels = {value}: must be in 1..=4")]
    Channels { value: usize },
    #[error("target.output = {value:?}: must be \"pyramid\" or \"direct\"")]
    OutputMode { value: String },
    #[error("target.fanout = {value}: output \"pyramid\" with levels >= 2 needs fanout 2 or 4")]
    PyramidFanout { value: usize },
    #[error("target.patch_side = {value}: output \"pyramid\" needs an even patch side")]
    PyramidOddSide { value: usize },
    #[error("target: the top level would hold {values} values per sample; at most {max} are allowed (lower levels, patch_side or root_patches)")]
    TooLarge { values: u128, max: usize },
    #[error("{field} has {len} entries: give one value or one per level ({levels})")]
    PerLevelLength { field: &'static str, len: usize, levels: usize },
    #[error("target.widths[{level}] = {value}: must be >= 1")]
    WidthZero { level: usize, value: i64 },
    #[error("target.active[{level}] = {value}: must be in 1..={width} (the level's width)")]
    ActiveRange { level: usize, value: i64, width: usize },
    #[error("target.max_coherence = {value}: must be in (0, 1)")]
    MaxCoherence { value: f64 },
    #[error("target.widths[{level}] = {width} exceeds the {dim}-dim subspace its atoms live in, and target.max_coherence = {max_coherence} is below the Welch bound {welch:.4}; raise max_coherence above it or lower the width")]
    WidthExceedsSubspace { level: usize, width: usize, dim: usize, max_coherence: f64, welch: f64 },
    #[error("target.noise_sigma = {value}: must be finite and >= 0")]
    NoiseSigma { value: f64 },
    #[error("target.lambda = {value}: must be in [0, 1]")]
    Lambda { value: f64 },
    #[error("target.calibration_patches = {value}: must be >= 100")]
    CalibrationTooSmall { value: usize },
    // Learner and training rules follow (config/learner.rs, config/training.rs).
}
