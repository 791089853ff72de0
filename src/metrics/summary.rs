//! The success definition used everywhere (issue 5) and the per-level
//! record of a run summary (SPEC §8, `summary.json` `levels` entries; the
//! field names are fixed there).
//!
//! A run succeeds when, at every level, every true feature is matched at
//! cosine >= [`SUCCESS_COS`], the super-resolution error (levels >= 2) is
//! <= [`SUCCESS_SR`], and the MMD permutation test does not reject at level
//! [`SUCCESS_ALPHA`].

use serde::{Deserialize, Serialize};

use super::distance::DistanceReport;
use super::features::FeatureRecovery;
use super::hidden::HiddenRecovery;

/// Every true feature must be matched at cosine >= this.
pub const SUCCESS_COS: f64 = 0.95;
/// Super-resolution relative error (levels >= 2) must be <= this.
pub const SUCCESS_SR: f64 = 0.1;
/// The MMD permutation test must not reject at this level.
pub const SUCCESS_ALPHA: f64 = 0.05;

/// The permutation test rejects H0 (same distribution) at level `alpha`
/// iff p <= alpha. With p = (1 + k)/(1 + B) this test has size
/// ⌊α (B + 1)⌋ / (B + 1) <= α. (A NaN p-value does not reject, but
/// [`level_succeeds`] still counts it as a failure.)
pub fn mmd_rejects(p_value: f64, alpha: f64) -> bool {
    p_value <= alpha
}

/// One level's success: `min_cos >= SUCCESS_COS`, `sr_error <= SUCCESS_SR`
/// when present (levels >= 2), and `p_value > SUCCESS_ALPHA` (no rejection).
/// Any NaN makes it `false`.
pub fn level_succeeds(min_cos: f64, sr_error: Option<f64>, p_value: f64) -> bool {
    min_cos >= SUCCESS_COS && sr_error.is_none_or(|e| e <= SUCCESS_SR) && p_value > SUCCESS_ALPHA
}

/// A run succeeds when it has levels and every level succeeds.
pub fn run_succeeds(levels: &[LevelMetrics]) -> bool {
    !levels.is_empty() && levels.iter().all(LevelMetrics::succeeds)
}

/// The metrics of one level, as written in `summary.json` and in sweep
/// results (SPEC §8). The first nine fields are the stable names; the rest
/// are extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelMetrics {
    /// Level, 1-based.
    pub level: usize,
    /// Minimum matched feature cosine (0 counts an unmatched feature).
    pub min_cos: f64,
    /// Mean matched feature cosine.
    pub mean_cos: f64,
    /// Fraction of true features matched at cosine >= θ.
    pub recovered_fraction: f64,
    /// Super-resolution relative error; `None` (JSON null) at level 1.
    pub sr_error: Option<f64>,
    /// Unbiased MMD², generated vs held-out real.
    pub mmd2: f64,
    /// Unbiased MMD², real vs real (noise floor).
    pub mmd2_floor: f64,
    /// Permutation-test p-value, generated vs real.
    pub p_value: f64,
    /// Learning time t_l (`None` / null if never).
    pub t_learned: Option<usize>,
    /// θ used for `recovered_fraction`.
    pub theta: f64,
    /// Kernel bandwidth of the MMD.
    pub bandwidth: f64,
    /// p-value of real vs real.
    pub p_value_floor: f64,
    /// Sliced W1, generated vs real.
    pub sliced_w1: f64,
    /// Sliced W1, real vs real.
    pub sliced_w1_floor: f64,
    /// Mean error, generated vs real.
    pub mean_error: f64,
    /// Mean error, real vs real.
    pub mean_error_floor: f64,
    /// Covariance error (Frobenius), generated vs real.
    pub cov_error: f64,
    /// Covariance error, real vs real.
    pub cov_error_floor: f64,
    /// Hidden recovery: max activation-frequency error over matched units.
    pub freq_max_error: Option<f64>,
    /// Hidden recovery: max co-activation error over matched units.
    pub coact_max_error: Option<f64>,
    /// Hidden recovery: Frobenius co-activation error over matched units.
    pub coact_frobenius: Option<f64>,
    /// Largest |cos| between two of the learner's own dictionary columns
    /// ([`super::unit_max_cos`]): near 1 when two units duplicate one
    /// feature, the statistic `training.restarts` acts on. Absent (null)
    /// in summaries written before it existed.
    #[serde(default)]
    pub unit_max_cos: Option<f64>,
}

impl LevelMetrics {
    /// Assemble from the instruments' outputs; `t_learned` and the hidden
    /// recovery fields start empty (see [`Self::with_hidden`]; set
    /// `t_learned` from [`super::learning_times`] at the end of a run).
    pub fn new(
        level: usize,
        features: &FeatureRecovery,
        sr_error: Option<f64>,
        distances: &DistanceReport,
    ) -> Self {
        Self {
            level,
            min_cos: features.min_cos,
            mean_cos: features.mean_cos,
            recovered_fraction: features.recovered_fraction,
            sr_error,
            mmd2: distances.mmd2,
            mmd2_floor: distances.mmd2_floor,
            p_value: distances.p_value,
            t_learned: None,
            theta: features.theta,
            bandwidth: distances.bandwidth,
            p_value_floor: distances.p_value_floor,
            sliced_w1: distances.sliced_w1,
            sliced_w1_floor: distances.sliced_w1_floor,
            mean_error: distances.mean_error,
            mean_error_floor: distances.mean_error_floor,
            cov_error: distances.cov_error,
            cov_error_floor: distances.cov_error_floor,
            freq_max_error: None,
            coact_max_error: None,
            coact_frobenius: None,
            unit_max_cos: None,
        }
    }

    /// Fill the hidden-recovery fields.
    pub fn with_hidden(mut self, hidden: &HiddenRecovery) -> Self {
        self.freq_max_error = Some(hidden.freq_max_error);
        self.coact_max_error = Some(hidden.coact_max_error);
        self.coact_frobenius = Some(hidden.coact_frobenius);
        self
    }

    /// Fill [`Self::unit_max_cos`].
    pub fn with_unit_max_cos(mut self, unit_max_cos: Option<f64>) -> Self {
        self.unit_max_cos = unit_max_cos;
        self
    }

    /// [`level_succeeds`] on this level's numbers.
    pub fn succeeds(&self) -> bool {
        level_succeeds(self.min_cos, self.sr_error, self.p_value)
    }
}
