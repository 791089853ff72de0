//! Learning order (SPEC §3, fifth bullet; claim C4): t_l = the first
//! evaluation iteration from which level l stays recovered until the end
//! of the run, and whether those times are in forward order.

use super::{MetricsError, Result};

/// Whether a level counts as recovered at one evaluation (SPEC §3): its
/// features are all matched at cosine >= θ (`min_cos >= theta`) and, for
/// levels >= 2 (`sr_error` is `Some`), the super-resolution error is
/// <= `eps_sr`. NaN anywhere gives `false`.
pub fn level_recovered(min_cos: f64, sr_error: Option<f64>, theta: f64, eps_sr: f64) -> bool {
    min_cos >= theta && sr_error.is_none_or(|e| e <= eps_sr)
}

/// Learning times from an evaluation trace.
///
/// `evals[k]` is the iteration of evaluation k (strictly increasing) and
/// `recovered[k][l]` says whether level l (0-based index) was recovered at
/// evaluation k; every `recovered[k]` has the same length L. Returns, per
/// level, t_l = `evals[k*]` where k* is the smallest k such that
/// `recovered[k'][l]` holds for every k' >= k; `None` if the level is not
/// recovered at the last evaluation. A level recovered, lost, then
/// recovered again gets the later time.
pub fn learning_times(evals: &[usize], recovered: &[Vec<bool>]) -> Result<Vec<Option<usize>>> {
    if evals.is_empty() {
        return Err(MetricsError::TooFew {
            what: "learning_times evals",
            got: 0,
            min: 1,
        });
    }
    if evals.len() != recovered.len() {
        return Err(MetricsError::DimensionMismatch {
            what: "learning_times evals vs recovered",
            left: evals.len(),
            right: recovered.len(),
        });
    }
    if let Some(k) = evals.windows(2).position(|w| w[1] <= w[0]) {
        return Err(MetricsError::Inconsistent {
            what: "learning_times evals",
            detail: format!(
                "iterations must increase strictly, got {} then {} at index {}",
                evals[k],
                evals[k + 1],
                k + 1
            ),
        });
    }
    let levels = recovered[0].len();
    if let Some(row) = recovered.iter().find(|r| r.len() != levels) {
        return Err(MetricsError::DimensionMismatch {
            what: "learning_times levels per evaluation",
            left: row.len(),
            right: levels,
        });
    }
    Ok((0..levels)
        .map(|l| {
            // Walk back from the end while the level stays recovered.
            let mut first = None;
            for k in (0..evals.len()).rev() {
                if recovered[k][l] {
                    first = Some(evals[k]);
                } else {
                    break;
                }
            }
            first
        })
        .collect())
}

/// Forward order (claim C4): t_1 <= t_2 <= ... over the levels that have a
/// time (`None` entries are skipped; callers who also need every level
/// learned check that separately).
pub fn is_forward_order(times: &[Option<usize>]) -> bool {
    let known: Vec<usize> = times.iter().flatten().copied().collect();
    known.windows(2).all(|w| w[0] <= w[1])
}
