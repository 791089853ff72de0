//! Feature recovery (SPEC §3, second bullet): cosine similarities between
//! the true dictionary V* (n x m, one column per feature) and the
//! learner's dictionary V' (n x m'), the optimal one-to-one matching
//! (Kuhn–Munkres, `pathfinding::kuhn_munkres`), and the summary numbers:
//! min / mean matched cosine and the fraction of true features recovered
//! at cosine >= θ (default 0.9).
//!
//! Signed cosines, on purpose: in this model the hidden features are
//! non-negative (ReLU outputs), so the sign of an atom is identifiable —
//! v S = (−v)(−S) would need negative hidden values. A learned atom equal to
//! −v_i is therefore NOT a match of v_i (its cosine is −1).

use nalgebra::DMatrix;
use pathfinding::prelude::{Matrix, kuhn_munkres};
use serde::{Deserialize, Serialize};

use super::{MetricsError, Result, check_finite, check_same_dim, check_set};

/// Default recovery threshold θ of SPEC §3.
pub const DEFAULT_THETA: f64 = 0.9;

/// Cosines are turned into `i64` weights for `kuhn_munkres` (which needs
/// `Ord`) as round(c · 1e12): the matched total is optimal to within
/// m · 0.5e-12, and sums stay far from i64 overflow (|c| <= 1).
const WEIGHT_SCALE: f64 = 1e12;

/// Signed cosine matrix C (m x m'), C_ij = <v_i, v'_j> / (||v_i|| ||v'_j||)
/// for true column i of `v_true` (n x m) and learned column j of
/// `v_learned` (n x m'): both sets of columns are normalised, then
/// C = V̂*ᵀ V̂' is one GEMM. Entries are clamped to [−1, 1] (rounding).
///
/// A zero true column is an error (the truth has unit-norm atoms); a zero
/// learned column (a dead unit) gets cosine 0 with every true feature.
pub fn cosine_matrix(v_true: &DMatrix<f64>, v_learned: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    check_set("cosine_matrix v_true", v_true, 1)?;
    check_set("cosine_matrix v_learned", v_learned, 1)?;
    check_same_dim("cosine_matrix v_true vs v_learned", v_true, v_learned)?;
    let mut vt = v_true.clone();
    for (i, mut c) in vt.column_iter_mut().enumerate() {
        let norm = c.norm();
        if norm == 0.0 {
            return Err(MetricsError::ZeroNorm {
                what: "cosine_matrix v_true",
                col: i,
            });
        }
        c /= norm;
    }
    let mut vl = v_learned.clone();
    for mut c in vl.column_iter_mut() {
        let norm = c.norm();
        if norm > 0.0 {
            c /= norm;
        }
    }
    let mut cos = vt.transpose() * vl; // m x m'
    cos.apply(|v| *v = v.clamp(-1.0, 1.0));
    Ok(cos)
}

/// An optimal one-to-one matching of true features (rows of the cosine
/// matrix) to learned units (columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matching {
    /// Matched pairs (true i, learned j), in increasing i.
    pub pairs: Vec<(usize, usize)>,
    /// Cosine of each pair, aligned with `pairs`.
    pub cosines: Vec<f64>,
    /// For each true feature, its learned unit (`None` when the learner has
    /// fewer units than there are true features and this one is left out).
    pub learned_of_true: Vec<Option<usize>>,
    /// Number of learned units m'.
    pub n_learned: usize,
}

impl Matching {
    /// Number of true features m.
    pub fn n_true(&self) -> usize {
        self.learned_of_true.len()
    }

    /// Matched cosine per true feature (length m); 0 for an unmatched one.
    pub fn cos_per_true(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.n_true()];
        for (&(i, _), &c) in self.pairs.iter().zip(&self.cosines) {
            out[i] = c;
        }
        out
    }

    /// Sum of the matched cosines (the maximised objective).
    pub fn total(&self) -> f64 {
        self.cosines.iter().sum()
    }

    /// True when every true feature has a learned unit.
    pub fn is_complete(&self) -> bool {
        self.learned_of_true.iter().all(Option::is_some)
    }
}

/// Optimal one-to-one assignment maximising Σ C_{i, π(i)} over injections
/// between rows (true features, m) and columns (learned units, m').
///
/// `kuhn_munkres` needs rows <= columns: when m > m' (the learner has fewer
/// units than true features) the problem is solved on Cᵀ, every learned
/// unit gets a true feature and the m − m' left-over true features are
/// unmatched (`None`, cosine 0 — never "recovered").
///
/// Entries must be finite and in [−1 − 1e-9, 1 + 1e-9] (checked before the
/// solver, which loops forever on NaN).
pub fn match_features(cos: &DMatrix<f64>) -> Result<Matching> {
    let (m, mp) = cos.shape();
    if m == 0 || mp == 0 {
        return Err(MetricsError::TooFew {
            what: "match_features cosine matrix",
            got: m.min(mp),
            min: 1,
        });
    }
    check_finite("match_features cosine matrix", cos)?;
    if let Some(&bad) = cos.iter().find(|v| v.abs() > 1.0 + 1e-9) {
        return Err(MetricsError::InvalidParameter {
            what: "match_features cosine matrix entry",
            value: bad.to_string(),
            allowed: "a cosine in [-1, 1]",
        });
    }
    let w = |c: f64| (c * WEIGHT_SCALE).round() as i64;
    let mut learned_of_true = vec![None; m];
    if m <= mp {
        // Row-major m x m' weights.
        let vals: Vec<i64> = (0..m)
            .flat_map(|i| (0..mp).map(move |j| (i, j)))
            .map(|(i, j)| w(cos[(i, j)]))
            .collect();
        let weights = Matrix::from_vec(m, mp, vals).map_err(|e| MetricsError::Inconsistent {
            what: "match_features",
            detail: format!("{e:?}"),
        })?;
        let (_, assign) = kuhn_munkres(&weights);
        for (i, j) in assign.into_iter().enumerate() {
            learned_of_true[i] = Some(j);
        }
    } else {
        // Transposed: m' x m, rows = learned units.
        let vals: Vec<i64> = (0..mp)
            .flat_map(|j| (0..m).map(move |i| (i, j)))
            .map(|(i, j)| w(cos[(i, j)]))
            .collect();
        let weights = Matrix::from_vec(mp, m, vals).map_err(|e| MetricsError::Inconsistent {
            what: "match_features",
            detail: format!("{e:?}"),
        })?;
        let (_, assign) = kuhn_munkres(&weights);
        for (j, i) in assign.into_iter().enumerate() {
            learned_of_true[i] = Some(j);
        }
    }
    let pairs: Vec<(usize, usize)> = learned_of_true
        .iter()
        .enumerate()
        .filter_map(|(i, j)| j.map(|j| (i, j)))
        .collect();
    let cosines = pairs.iter().map(|&(i, j)| cos[(i, j)]).collect();
    Ok(Matching {
        pairs,
        cosines,
        learned_of_true,
        n_learned: mp,
    })
}

/// Feature recovery at one level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRecovery {
    /// min over true features of the matched cosine (0 for an unmatched one).
    pub min_cos: f64,
    /// mean over all m true features of the matched cosine (0 if unmatched).
    pub mean_cos: f64,
    /// #{i : matched and cos_i >= θ} / m.
    pub recovered_fraction: f64,
    /// The threshold θ used.
    pub theta: f64,
    /// The optimal matching itself.
    pub matching: Matching,
}

impl FeatureRecovery {
    /// Summaries of an optimal matching of a cosine matrix (m x m').
    pub fn from_cosines(cos: &DMatrix<f64>, theta: f64) -> Result<Self> {
        if !(theta.is_finite() && (-1.0..=1.0).contains(&theta)) {
            return Err(MetricsError::InvalidParameter {
                what: "theta",
                value: theta.to_string(),
                allowed: "a cosine threshold in [-1, 1]",
            });
        }
        let matching = match_features(cos)?;
        let per = matching.cos_per_true();
        let m = per.len() as f64;
        let min_cos = per.iter().copied().fold(f64::INFINITY, f64::min);
        let mean_cos = per.iter().sum::<f64>() / m;
        let recovered = matching
            .learned_of_true
            .iter()
            .zip(&per)
            .filter(|(j, c)| j.is_some() && **c >= theta)
            .count();
        Ok(Self {
            min_cos,
            mean_cos,
            recovered_fraction: recovered as f64 / m,
            theta,
            matching,
        })
    }

    /// True when every true feature is matched at cosine >= θ.
    pub fn all_recovered(&self) -> bool {
        self.matching.is_complete() && self.min_cos >= self.theta
    }
}

/// Largest |cos(v'_a, v'_b)| over pairs a != b of non-zero columns of the
/// learner's dictionary `v_learned` (n x m'): near 1 when two units spend
/// their width on one feature (the duplicate statistic of
/// `training.restarts`, docs/recipe.md fifth session). `None` with fewer
/// than two non-zero columns.
pub fn unit_max_cos(v_learned: &DMatrix<f64>) -> Result<Option<f64>> {
    check_finite("unit_max_cos v_learned", v_learned)?;
    let live: Vec<usize> = (0..v_learned.ncols())
        .filter(|&j| v_learned.column(j).norm() > 0.0)
        .collect();
    if live.len() < 2 {
        return Ok(None);
    }
    let v = v_learned.select_columns(&live);
    // Both arguments are the same columns: C = V̂'ᵀ V̂' (m' x m').
    let cos = cosine_matrix(&v, &v)?;
    let mut best = 0.0_f64;
    for a in 0..cos.nrows() {
        for b in a + 1..cos.ncols() {
            best = best.max(cos[(a, b)].abs());
        }
    }
    Ok(Some(best))
}

/// Feature recovery of `v_learned` (n x m') against `v_true` (n x m) at
/// threshold `theta`: [`cosine_matrix`] then [`FeatureRecovery::from_cosines`].
pub fn feature_recovery(
    v_true: &DMatrix<f64>,
    v_learned: &DMatrix<f64>,
    theta: f64,
) -> Result<FeatureRecovery> {
    FeatureRecovery::from_cosines(&cosine_matrix(v_true, v_learned)?, theta)
}
