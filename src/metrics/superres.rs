//! Super-resolution recovery (SPEC §3, fourth bullet): feed the TRUE hidden
//! features S_{l−1} of real samples, mapped into the learner's units by the
//! level-(l−1) matching with the least-squares per-unit scale, through the
//! learner's level-l map, and report ||X̂_l − X_l||_F / ||X_l||_F (detail
//! part in pyramid mode). The learner's map itself lives in `gan` and is
//! passed in as a closure.

use nalgebra::DMatrix;

use super::features::Matching;
use super::{MetricsError, Result, check_finite, check_same_dim, check_set};

/// Check that `matching` belongs to m true features and m' learned units
/// and is one-to-one.
pub(crate) fn check_matching(
    what: &'static str,
    matching: &Matching,
    m: usize,
    m_learned: usize,
) -> Result<()> {
    if matching.n_true() != m {
        return Err(MetricsError::DimensionMismatch {
            what,
            left: matching.n_true(),
            right: m,
        });
    }
    if matching.n_learned != m_learned {
        return Err(MetricsError::DimensionMismatch {
            what,
            left: matching.n_learned,
            right: m_learned,
        });
    }
    let mut seen = vec![false; m_learned];
    for j in matching.learned_of_true.iter().flatten() {
        if *j >= m_learned || seen[*j] {
            return Err(MetricsError::Inconsistent {
                what,
                detail: format!("matching uses learned unit {j} out of range or twice"),
            });
        }
        seen[*j] = true;
    }
    Ok(())
}

/// Least-squares per-unit scales α (length m): for true atom v_i (column of
/// `v_true`, n x m) matched to learned atom v'_j (column of `v_learned`,
/// n x m'),
///
///   α_i = argmin_a ||a v'_j − v_i||² = <v'_j, v_i> / ||v'_j||²,
///
/// so a true activation s_i corresponds to the learner activation α_i s_i
/// (v'_j α_i s_i ≈ v_i s_i). Unmatched features and zero learned atoms get
/// α_i = 0.
pub fn ls_scales(v_true: &DMatrix<f64>, v_learned: &DMatrix<f64>, matching: &Matching) -> Result<Vec<f64>> {
    check_set("ls_scales v_true", v_true, 1)?;
    check_set("ls_scales v_learned", v_learned, 1)?;
    check_same_dim("ls_scales v_true vs v_learned", v_true, v_learned)?;
    check_matching("ls_scales", matching, v_true.ncols(), v_learned.ncols())?;
    Ok(matching
        .learned_of_true
        .iter()
        .enumerate()
        .map(|(i, j)| match j {
            Some(j) => {
                let vl = v_learned.column(*j);
                let nn = vl.norm_squared();
                if nn > 0.0 {
                    vl.dot(&v_true.column(i)) / nn
                } else {
                    0.0
                }
            }
            None => 0.0,
        })
        .collect())
}

/// Map true hidden features S (m x N) into the learner's units: the result
/// S' is m' x N with row π(i) = α_i · row i of S for each matched i, and
/// the rows of unmatched learner units 0.
pub fn map_hidden(
    s_true: &DMatrix<f64>,
    matching: &Matching,
    scales: &[f64],
    m_learner: usize,
) -> Result<DMatrix<f64>> {
    check_set("map_hidden s_true", s_true, 1)?;
    check_matching("map_hidden", matching, s_true.nrows(), m_learner)?;
    if scales.len() != s_true.nrows() {
        return Err(MetricsError::DimensionMismatch {
            what: "map_hidden scales vs s_true rows",
            left: scales.len(),
            right: s_true.nrows(),
        });
    }
    if let Some(i) = scales.iter().position(|a| !a.is_finite()) {
        return Err(MetricsError::NonFinite {
            what: "map_hidden scales",
            row: i,
            col: 0,
        });
    }
    let mut out = DMatrix::zeros(m_learner, s_true.ncols());
    for &(i, j) in &matching.pairs {
        out.row_mut(j).copy_from(&(s_true.row(i) * scales[i]));
    }
    Ok(out)
}

/// Relative error ||x̂ − x||_F / ||x||_F (same shapes, finite, x ≠ 0).
pub fn relative_error(x_hat: &DMatrix<f64>, x: &DMatrix<f64>) -> Result<f64> {
    if x_hat.shape() != x.shape() {
        return Err(MetricsError::Inconsistent {
            what: "relative_error",
            detail: format!(
                "shape of x_hat {:?} differs from shape of x {:?}",
                x_hat.shape(),
                x.shape()
            ),
        });
    }
    check_set("relative_error x_hat", x_hat, 1)?;
    check_set("relative_error x", x, 1)?;
    let nx = x.norm();
    if nx == 0.0 {
        return Err(MetricsError::ZeroNorm {
            what: "relative_error reference x",
            col: 0,
        });
    }
    Ok((x_hat - x).norm() / nx)
}

/// Super-resolution error at a level l >= 2:
///
///   S' = map_hidden(S_{l−1}, π_{l−1}, α_{l−1}, m'_{l−1})   (m'_{l−1} x N)
///   X̂  = learner_map(S')
///   err = ||X̂ − X_l||_F / ||X_l||_F
///
/// `s_prev_true` is the true S_{l−1} (m_{l−1} x N), `x_detail_true` the true
/// level-l output (or its detail part in pyramid mode) in whatever layout
/// `learner_map` produces; the shapes must agree.
pub fn sr_error(
    s_prev_true: &DMatrix<f64>,
    x_detail_true: &DMatrix<f64>,
    matching_prev: &Matching,
    scales_prev: &[f64],
    m_learner_prev: usize,
    learner_map: impl Fn(&DMatrix<f64>) -> DMatrix<f64>,
) -> Result<f64> {
    let s_mapped = map_hidden(s_prev_true, matching_prev, scales_prev, m_learner_prev)?;
    let x_hat = learner_map(&s_mapped);
    check_finite("sr_error learner output", &x_hat)?;
    relative_error(&x_hat, x_detail_true)
}
