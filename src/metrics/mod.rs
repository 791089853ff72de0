//! Measurements: what a learner has learned about an FSR target.
//!
//! This module owns every instrument of SPEC §3 ("Measurements"); each one
//! is deterministic given its inputs (and the seeded `rng` passed in, where
//! randomness is needed) and is checked against a known answer in
//! `tests/it/metrics.rs`.
//!
//! | SPEC §3 item | submodule |
//! |---|---|
//! | distribution distance per level (unbiased MMD², permutation-test p-value, sliced W1, mean / covariance errors, each next to its real-vs-real noise floor) | [`distance`] |
//! | feature recovery (cosine matrix, optimal one-to-one matching, min / mean cosine, fraction recovered at θ) | [`features`] |
//! | hidden-distribution recovery (activation frequencies, co-activation matrix) | [`hidden`] |
//! | super-resolution recovery (least-squares scales, mapped hidden features, relative error) | [`superres`] |
//! | learning order (t_l) | [`order`] |
//! | the success definition and the per-level summary record of SPEC §8 | [`summary`] |
//!
//! Conventions (whole project): `f64`; a set of N samples of dimension d is
//! a `DMatrix<f64>` of shape d x N (one column per sample); dictionaries are
//! n x m (one column per atom); hidden features are m x N, non-negative.
//! Bad input (empty sets, dimension mismatches, NaN / infinity) is reported
//! as a [`MetricsError`], never a panic (and never reaches
//! `pathfinding::kuhn_munkres`, which loops forever on NaN).

pub mod atoms;
pub mod distance;
pub mod features;
pub mod hidden;
pub mod order;
pub mod summary;
pub mod superres;

pub use atoms::{AtomStats, atom_descriptors, atom_stats};
pub use distance::{
    DistanceConfig, DistanceReport, MmdTest, cov_error, distance_report, mean_error, median_bandwidth,
    mmd_test, mmd_test_with_bandwidth, mmd2_unbiased, random_directions, sliced_w1,
    sliced_w1_with_directions, w1_1d,
};
pub use features::{
    DEFAULT_THETA, FeatureRecovery, Matching, cosine_matrix, feature_recovery, match_features, unit_max_cos,
};
pub use hidden::{HiddenRecovery, hidden_recovery, hidden_recovery_with_threshold};
pub use order::{is_forward_order, learning_times, level_recovered};
pub use summary::{
    LevelMetrics, SUCCESS_ALPHA, SUCCESS_COS, SUCCESS_SR, level_succeeds, mmd_rejects, run_succeeds,
};
pub use superres::{ls_scales, map_hidden, relative_error, sr_error};

use nalgebra::DMatrix;

/// Everything that can go wrong in a measurement. Each variant names the
/// argument (`what`) and what was wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// A sample set, dictionary or trace has fewer columns / entries than
    /// the statistic needs.
    #[error("{what}: needs at least {min} columns/entries, got {got}")]
    TooFew {
        what: &'static str,
        got: usize,
        min: usize,
    },
    /// A matrix has zero rows (dimension 0).
    #[error("{what}: dimension is 0")]
    ZeroDimension { what: &'static str },
    /// Two arguments disagree on a dimension that must match.
    #[error("{what}: dimension mismatch, {left} vs {right}")]
    DimensionMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    /// A NaN or infinite value where finite numbers are required.
    #[error("{what}: non-finite value (NaN or infinity) at row {row}, column {col}")]
    NonFinite {
        what: &'static str,
        row: usize,
        col: usize,
    },
    /// A scalar parameter outside its allowed range.
    #[error("{what}: invalid value {value}, allowed: {allowed}")]
    InvalidParameter {
        what: &'static str,
        value: String,
        allowed: &'static str,
    },
    /// A column that must have positive norm (a true dictionary atom, a
    /// reference signal) is zero.
    #[error("{what}: column {col} has zero norm")]
    ZeroNorm { what: &'static str, col: usize },
    /// A matching / scale vector that does not belong to the matrices it is
    /// used with.
    #[error("{what}: {detail}")]
    Inconsistent { what: &'static str, detail: String },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, MetricsError>;

/// Check that every entry of `m` is finite.
pub(crate) fn check_finite(what: &'static str, m: &DMatrix<f64>) -> Result<()> {
    for (col, c) in m.column_iter().enumerate() {
        if let Some(row) = c.iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::NonFinite { what, row, col });
        }
    }
    Ok(())
}

/// Check a sample set (d x N): d >= 1, N >= `min_cols`, all finite.
pub(crate) fn check_set(what: &'static str, x: &DMatrix<f64>, min_cols: usize) -> Result<()> {
    if x.ncols() < min_cols {
        return Err(MetricsError::TooFew {
            what,
            got: x.ncols(),
            min: min_cols,
        });
    }
    if x.nrows() == 0 {
        return Err(MetricsError::ZeroDimension { what });
    }
    check_finite(what, x)
}

/// Check that two sets share their dimension (number of rows).
pub(crate) fn check_same_dim(what: &'static str, x: &DMatrix<f64>, y: &DMatrix<f64>) -> Result<()> {
    if x.nrows() != y.nrows() {
        return Err(MetricsError::DimensionMismatch {
            what,
            left: x.nrows(),
            right: y.nrows(),
        });
    }
    Ok(())
}
