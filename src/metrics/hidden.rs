//! Hidden-distribution recovery (SPEC §3, third bullet): for each matched
//! unit, how often it is active in the learner vs in the truth, and the
//! pairwise co-activation matrix P(i on and j on), learner vs truth,
//! restricted to the matched units.
//!
//! S (m x N) and S' (m' x N') are hidden features, one column per
//! patch-sample; they may come from the same inputs or from separate samples
//! (N ≠ N' is fine: only frequencies are compared).

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use super::features::Matching;
use super::superres::check_matching;
use super::{MetricsError, Result, check_set};

/// Activation statistics of matched units, learner vs truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HiddenRecovery {
    /// P(unit i on) in the truth, per true unit (length m).
    pub freq_true: Vec<f64>,
    /// P(unit π(i) on) in the learner, per true unit (`None` if unmatched).
    pub freq_learned: Vec<Option<f64>>,
    /// max over matched i of |freq_learned_i − freq_true_i|.
    pub freq_max_error: f64,
    /// max over matched (i, k) of |C'_{π(i)π(k)} − C_{ik}|, where
    /// C_{ik} = P(i on and k on) (diagonal included: C_ii = P(i on)).
    pub coact_max_error: f64,
    /// Frobenius norm of the same difference, over the matched k x k block.
    pub coact_frobenius: f64,
    /// Number k of matched units the errors are taken over.
    pub matched_units: usize,
}

/// [`hidden_recovery_with_threshold`] with "on" meaning > 0.
pub fn hidden_recovery(
    s_true: &DMatrix<f64>,
    s_learned: &DMatrix<f64>,
    matching: &Matching,
) -> Result<HiddenRecovery> {
    hidden_recovery_with_threshold(s_true, s_learned, matching, 0.0)
}

/// Activation frequencies and co-activation errors; a unit is "on" in a
/// column when its value is > `threshold` (>= 0).
///
/// With the 0/1 indicator matrix B (m x N), B_iu = 1 if S_iu > threshold else 0:
/// frequencies f = B 1 / N and co-activation C = B Bᵀ / N (m x m, one GEMM);
/// the same for the learner (B', C'). Unmatched true units are left out of
/// the errors.
pub fn hidden_recovery_with_threshold(
    s_true: &DMatrix<f64>,
    s_learned: &DMatrix<f64>,
    matching: &Matching,
    threshold: f64,
) -> Result<HiddenRecovery> {
    check_set("hidden_recovery s_true", s_true, 1)?;
    check_set("hidden_recovery s_learned", s_learned, 1)?;
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(MetricsError::InvalidParameter {
            what: "hidden_recovery threshold",
            value: threshold.to_string(),
            allowed: "a finite number >= 0",
        });
    }
    check_matching("hidden_recovery", matching, s_true.nrows(), s_learned.nrows())?;
    let (ct, ft) = coactivation(s_true, threshold);
    let (cl, fl) = coactivation(s_learned, threshold);
    let freq_learned: Vec<Option<f64>> = matching
        .learned_of_true
        .iter()
        .map(|j| j.map(|j| fl[j]))
        .collect();
    let pairs = &matching.pairs;
    let freq_max_error = pairs
        .iter()
        .map(|&(i, j)| (fl[j] - ft[i]).abs())
        .fold(0.0, f64::max);
    let (mut max_err, mut sq) = (0.0f64, 0.0f64);
    for &(i, j) in pairs {
        for &(k, l) in pairs {
            let e = (cl[(j, l)] - ct[(i, k)]).abs();
            max_err = max_err.max(e);
            sq += e * e;
        }
    }
    Ok(HiddenRecovery {
        freq_true: ft,
        freq_learned,
        freq_max_error,
        coact_max_error: max_err,
        coact_frobenius: sq.sqrt(),
        matched_units: pairs.len(),
    })
}

/// (C = B Bᵀ / N, f = diag C) for the indicator B of S > threshold.
fn coactivation(s: &DMatrix<f64>, threshold: f64) -> (DMatrix<f64>, Vec<f64>) {
    let n = s.ncols() as f64;
    let b = s.map(|v| if v > threshold { 1.0 } else { 0.0 });
    let bt = b.transpose();
    let c = (&b * &bt) / n;
    let f = (0..c.nrows()).map(|i| c[(i, i)]).collect();
    (c, f)
}
