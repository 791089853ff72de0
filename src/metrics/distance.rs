//! Distribution distances between two sample sets (SPEC §3, first bullet):
//! unbiased MMD² with a Gaussian kernel and median-heuristic bandwidth, its
//! permutation-test p-value, sliced Wasserstein-1, mean and covariance
//! errors, and [`distance_report`], which puts each statistic for
//! generated-vs-real next to the same statistic for real-vs-real (the noise
//! floor).
//!
//! Shapes: X is d x N and Y is d x M, one column per sample.

use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::{MetricsError, Result, check_same_dim, check_set};

/// At most this many pooled points enter the median heuristic (the
/// pairwise-distance median is then over ~500k pairs, which pins the
/// median to well under 1%); larger sets are subsampled deterministically
/// with an even stride.
pub const MEDIAN_MAX_POINTS: usize = 1000;

/// Permutation statistics are evaluated in GEMM chunks of this many label
/// vectors (bounds the n x chunk work matrices).
const PERM_CHUNK: usize = 256;

/// Squared Euclidean distances between the columns of `a` (d x N) and `b`
/// (d x M), an N x M matrix:
///
///   D_ij = ||a_i||² + ||b_j||² − 2 a_iᵀ b_j,
///
/// with the cross term as one GEMM (`aᵀ` materialised: nalgebra's `tr_mul`
/// is 5–10x slower, NOTES.md). Rounding can make D slightly negative for
/// near-identical points; it is clamped at 0.
pub(crate) fn sq_dists(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let na: Vec<f64> = a.column_iter().map(|c| c.norm_squared()).collect();
    let nb: Vec<f64> = b.column_iter().map(|c| c.norm_squared()).collect();
    let mut g = a.transpose() * b; // N x M, g_ij = a_iᵀ b_j
    for (j, mut col) in g.column_iter_mut().enumerate() {
        for (i, v) in col.iter_mut().enumerate() {
            *v = (na[i] + nb[j] - 2.0 * *v).max(0.0);
        }
    }
    g
}

/// K₀ for the pooled set Z (d x n): K₀_ab = exp(−||z_a − z_b||² / (2 h²))
/// for a ≠ b and K₀_aa = 0. Same formula as [`sq_dists`] + the kernel, but
/// the exponentials are evaluated on the upper triangle only (column j,
/// rows a < j: contiguous) and mirrored, which halves the dominant
/// non-GEMM cost.
fn gaussian_gram_zero_diag(z: &DMatrix<f64>, h: f64) -> DMatrix<f64> {
    let c = -1.0 / (2.0 * h * h);
    let nz: Vec<f64> = z.column_iter().map(|col| col.norm_squared()).collect();
    let mut k = z.transpose() * z; // n x n Gram matrix
    for (j, mut col) in k.column_iter_mut().enumerate() {
        for (a, v) in col.iter_mut().enumerate().take(j) {
            *v = ((nz[a] + nz[j] - 2.0 * *v).max(0.0) * c).exp();
        }
        col[j] = 0.0;
    }
    mirror_upper_to_lower(&mut k);
    k
}

/// k_ij = k_ji for i > j, copied in 64 x 64 tiles (nalgebra's
/// `fill_lower_triangle_with_upper_triangle` walks the source with stride
/// n and was ~15% of a whole permutation test at n = 4000).
fn mirror_upper_to_lower(k: &mut DMatrix<f64>) {
    const TILE: usize = 64;
    let n = k.nrows();
    for jb in (0..n).step_by(TILE) {
        let jend = (jb + TILE).min(n);
        for ib in (jb..n).step_by(TILE) {
            let iend = (ib + TILE).min(n);
            for j in jb..jend {
                for i in ib.max(j + 1)..iend {
                    k[(i, j)] = k[(j, i)];
                }
            }
        }
    }
}

/// In place: D -> K = exp(−D / (2 h²)), the Gaussian kernel
/// k(a, b) = exp(−||a − b||² / (2 h²)).
fn gaussian_in_place(d: &mut DMatrix<f64>, h: f64) {
    let c = -1.0 / (2.0 * h * h);
    d.apply(|v| *v = (*v * c).exp());
}

fn check_bandwidth(h: f64) -> Result<()> {
    if h.is_finite() && h > 0.0 {
        Ok(())
    } else {
        Err(MetricsError::InvalidParameter {
            what: "bandwidth",
            value: h.to_string(),
            allowed: "a finite number > 0",
        })
    }
}

/// Sum of the off-diagonal entries of a square matrix.
fn sum_off_diagonal(k: &DMatrix<f64>) -> f64 {
    k.sum() - k.diagonal().sum()
}

/// Unbiased MMD² (Gretton et al. 2012, eq. 3) between X (d x N) and Y
/// (d x M) with the Gaussian kernel of bandwidth `h`:
///
///   MMD²_u = 1/(N(N−1)) Σ_{i≠i'} k(x_i, x_i')
///          + 1/(M(M−1)) Σ_{j≠j'} k(y_j, y_j')
///          − 2/(NM)     Σ_{i,j}   k(x_i, y_j).
///
/// Its expectation is the population MMD² exactly (it can be negative when
/// the distributions are equal). Needs N, M >= 2. Cost: three kernel blocks,
/// O((N+M)² d).
pub fn mmd2_unbiased(x: &DMatrix<f64>, y: &DMatrix<f64>, h: f64) -> Result<f64> {
    check_set("mmd2 x", x, 2)?;
    check_set("mmd2 y", y, 2)?;
    check_same_dim("mmd2 x vs y", x, y)?;
    check_bandwidth(h)?;
    let (n, m) = (x.ncols() as f64, y.ncols() as f64);
    let mut kxx = sq_dists(x, x);
    gaussian_in_place(&mut kxx, h);
    let mut kyy = sq_dists(y, y);
    gaussian_in_place(&mut kyy, h);
    let mut kxy = sq_dists(x, y);
    gaussian_in_place(&mut kxy, h);
    Ok(
        sum_off_diagonal(&kxx) / (n * (n - 1.0)) + sum_off_diagonal(&kyy) / (m * (m - 1.0))
            - 2.0 * kxy.sum() / (n * m),
    )
}

/// Median heuristic: h = median of the Euclidean distances ||z_a − z_b||
/// over all pairs a < b of the pooled set Z = [X Y].
///
/// When N + M > [`MEDIAN_MAX_POINTS`], the pooled columns are subsampled
/// deterministically with an even stride (column ⌊k (N+M) / cap⌋,
/// k = 0..cap), which keeps the X : Y proportion; no randomness involved.
/// For an even number of pairs the median is the mean of the two middle
/// values. Degenerate data: if the median is 0 (more than half of the pairs
/// coincide) the mean pairwise distance is used; if that is 0 too (all
/// points equal), h = 1.
pub fn median_bandwidth(x: &DMatrix<f64>, y: &DMatrix<f64>) -> Result<f64> {
    check_set("median_bandwidth x", x, 1)?;
    check_set("median_bandwidth y", y, 1)?;
    check_same_dim("median_bandwidth x vs y", x, y)?;
    let z = pool(x, y);
    let n = z.ncols();
    let zs = if n > MEDIAN_MAX_POINTS {
        let cols: Vec<usize> = (0..MEDIAN_MAX_POINTS)
            .map(|k| k * n / MEDIAN_MAX_POINTS)
            .collect();
        z.select_columns(cols.iter())
    } else {
        z
    };
    let ns = zs.ncols();
    let d2 = sq_dists(&zs, &zs);
    let mut dists: Vec<f64> = Vec::with_capacity(ns * (ns - 1) / 2);
    for j in 1..ns {
        for i in 0..j {
            dists.push(d2[(i, j)].sqrt());
        }
    }
    let len = dists.len();
    let mean = dists.iter().sum::<f64>() / len as f64;
    let k = len / 2;
    let (lower, upper, _) = dists.select_nth_unstable_by(k, f64::total_cmp);
    let upper = *upper;
    let med = if len % 2 == 1 {
        upper
    } else {
        // The (k−1)-th order statistic is the largest of the lower part.
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (below + upper)
    };
    Ok(if med > 0.0 {
        med
    } else if mean > 0.0 {
        mean
    } else {
        1.0
    })
}

/// Z = [X Y], d x (N+M).
fn pool(x: &DMatrix<f64>, y: &DMatrix<f64>) -> DMatrix<f64> {
    let (nx, ny) = (x.ncols(), y.ncols());
    let mut z = DMatrix::zeros(x.nrows(), nx + ny);
    z.columns_mut(0, nx).copy_from(x);
    z.columns_mut(nx, ny).copy_from(y);
    z
}

/// Outcome of an MMD permutation test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MmdTest {
    /// Unbiased MMD² of the observed split.
    pub mmd2: f64,
    /// Kernel bandwidth h used.
    pub bandwidth: f64,
    /// Permutation p-value, (1 + #{b : MMD²_b >= MMD²_obs}) / (1 + B).
    pub p_value: f64,
    /// Number B of random permutations.
    pub permutations: usize,
}

/// Permutation test with the median-heuristic bandwidth of [X Y]; see
/// [`mmd_test_with_bandwidth`].
pub fn mmd_test(
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    permutations: usize,
    rng: &mut impl Rng,
) -> Result<MmdTest> {
    let h = median_bandwidth(x, y)?;
    mmd_test_with_bandwidth(x, y, h, permutations, rng)
}

/// Two-sample permutation test of H0: X and Y come from one distribution,
/// with the unbiased MMD² as statistic.
///
/// The pooled kernel matrix K (n x n, n = N + M) is computed once, with its
/// diagonal set to 0 (K₀). A split is a 0/1 label vector u (u_a = 1 for the
/// N points called "X"). With r = K₀ 1 (row sums) and T = 1ᵀ K₀ 1:
///
///   S_XX = uᵀ K₀ u,   S_XY = uᵀ r − S_XX,   S_YY = T − 2 uᵀ r + S_XX,
///   MMD²(u) = S_XX / (N(N−1)) + S_YY / (M(M−1)) − 2 S_XY / (NM).
///
/// The observed split and the B random splits (uniform random N-subsets,
/// by partial Fisher–Yates with `rng`) are stacked as columns of U
/// (n x chunk) and K₀ U is one GEMM per chunk, so the whole test costs
/// O(n² d) for K plus O(n² B) GEMM flops (200 permutations at N = M = 1000
/// are ~1.6 GFLOP).
///
/// p = (1 + #{b : MMD²_b >= MMD²_obs − τ}) / (1 + B), with the tie
/// tolerance τ = 1e-10 · (mean off-diagonal entry of K₀): splits whose
/// statistics are mathematically equal (duplicate points, a permutation
/// that reproduces the observed split) count as ties whatever the GEMM
/// rounding. This p-value is valid (P(p <= α) <= α under H0); reject at
/// level α iff p <= α (see [`super::mmd_rejects`]).
///
/// Memory: K₀ is (N+M)² f64 — 128 MB at N = M = 2000.
pub fn mmd_test_with_bandwidth(
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    h: f64,
    permutations: usize,
    rng: &mut impl Rng,
) -> Result<MmdTest> {
    check_set("mmd_test x", x, 2)?;
    check_set("mmd_test y", y, 2)?;
    check_same_dim("mmd_test x vs y", x, y)?;
    check_bandwidth(h)?;
    if permutations == 0 {
        return Err(MetricsError::InvalidParameter {
            what: "permutations",
            value: "0".into(),
            allowed: "at least 1",
        });
    }
    let (nx, ny) = (x.ncols(), y.ncols());
    let n = nx + ny;
    let z = pool(x, y);
    let k = gaussian_gram_zero_diag(&z, h); // K₀, n x n
    // K₀ is symmetric: row sums = column sums (contiguous in column-major).
    let r: Vec<f64> = k.column_iter().map(|c| c.sum()).collect();
    let total: f64 = r.iter().sum();
    let (fx, fy) = (nx as f64, ny as f64);
    // Ties: statistics closer than 1e-10 × (mean off-diagonal kernel value)
    // are equal up to summation rounding (which is ~n·ε relative).
    let tie_tol = 1e-10 * total / (n as f64 * (n as f64 - 1.0));
    let stat = |sxx: f64, ur: f64| {
        let sxy = ur - sxx;
        let syy = total - 2.0 * ur + sxx;
        sxx / (fx * (fx - 1.0)) + syy / (fy * (fy - 1.0)) - 2.0 * sxy / (fx * fy)
    };

    // Column 0: the observed split; columns 1..=B: random splits.
    let mut idx: Vec<usize> = (0..n).collect();
    let mut observed = f64::NAN;
    let mut exceed = 0usize;
    let mut done = 0usize; // label vectors evaluated so far (incl. observed)
    while done < permutations + 1 {
        let chunk = PERM_CHUNK.min(permutations + 1 - done);
        let mut u = DMatrix::<f64>::zeros(n, chunk);
        for (b, mut col) in u.column_iter_mut().enumerate() {
            if done + b == 0 {
                col.rows_mut(0, nx).fill(1.0);
            } else {
                // Partial Fisher–Yates: idx[..nx] is a uniform random
                // nx-subset (continuing from the previous state is fine).
                for i in 0..nx {
                    let j = rng.random_range(i..n);
                    idx.swap(i, j);
                }
                for &a in &idx[..nx] {
                    col[a] = 1.0;
                }
            }
        }
        let ku = &k * &u; // n x chunk
        for b in 0..chunk {
            let ub = u.column(b);
            let sxx = ub.dot(&ku.column(b));
            let ur: f64 = ub.iter().zip(&r).map(|(a, rv)| a * rv).sum();
            let s = stat(sxx, ur);
            if done + b == 0 {
                observed = s;
            } else if s >= observed - tie_tol {
                exceed += 1;
            }
        }
        done += chunk;
    }
    Ok(MmdTest {
        mmd2: observed,
        bandwidth: h,
        p_value: (1 + exceed) as f64 / (1 + permutations) as f64,
        permutations,
    })
}

/// `projections` random unit directions in R^d, a d x P matrix (columns
/// are standard normal vectors normalised, i.e. uniform on the sphere).
pub fn random_directions(d: usize, projections: usize, rng: &mut impl Rng) -> Result<DMatrix<f64>> {
    if d == 0 {
        return Err(MetricsError::ZeroDimension {
            what: "random_directions",
        });
    }
    if projections == 0 {
        return Err(MetricsError::InvalidParameter {
            what: "projections",
            value: "0".into(),
            allowed: "at least 1",
        });
    }
    let mut dirs = DMatrix::zeros(d, projections);
    for mut col in dirs.column_iter_mut() {
        loop {
            for v in col.iter_mut() {
                *v = rng.sample::<f64, _>(StandardNormal);
            }
            let norm = col.norm();
            if norm > 1e-12 {
                col /= norm;
                break;
            }
        }
    }
    Ok(dirs)
}

/// Sliced Wasserstein-1 with `projections` random directions:
///
///   SW1(X, Y) = (1/P) Σ_k W1(θ_kᵀ X, θ_kᵀ Y),   θ_k uniform on the sphere.
///
/// See [`sliced_w1_with_directions`] and [`w1_1d`].
pub fn sliced_w1(x: &DMatrix<f64>, y: &DMatrix<f64>, projections: usize, rng: &mut impl Rng) -> Result<f64> {
    check_same_dim("sliced_w1 x vs y", x, y)?;
    let dirs = random_directions(x.nrows(), projections, rng)?;
    sliced_w1_with_directions(x, y, &dirs)
}

/// Sliced W1 with given directions (d x P; each column is normalised here,
/// zero columns are an error). Projections: Xᵀ Θ (N x P) and Yᵀ Θ (M x P),
/// two GEMMs; then one 1-D W1 per column. N and M may differ.
pub fn sliced_w1_with_directions(x: &DMatrix<f64>, y: &DMatrix<f64>, dirs: &DMatrix<f64>) -> Result<f64> {
    check_set("sliced_w1 x", x, 1)?;
    check_set("sliced_w1 y", y, 1)?;
    check_same_dim("sliced_w1 x vs y", x, y)?;
    check_set("sliced_w1 directions", dirs, 1)?;
    check_same_dim("sliced_w1 x vs directions", x, dirs)?;
    let mut theta = dirs.clone();
    for (k, mut col) in theta.column_iter_mut().enumerate() {
        let norm = col.norm();
        if norm == 0.0 {
            return Err(MetricsError::ZeroNorm {
                what: "sliced_w1 directions",
                col: k,
            });
        }
        col /= norm;
    }
    let px = x.transpose() * &theta; // N x P
    let py = y.transpose() * &theta; // M x P
    let mut acc = 0.0;
    for k in 0..theta.ncols() {
        let mut a: Vec<f64> = px.column(k).iter().copied().collect();
        let mut b: Vec<f64> = py.column(k).iter().copied().collect();
        a.sort_unstable_by(f64::total_cmp);
        b.sort_unstable_by(f64::total_cmp);
        acc += w1_sorted(&a, &b);
    }
    Ok(acc / theta.ncols() as f64)
}

/// Wasserstein-1 distance between two 1-D empirical distributions (any
/// sizes, non-empty, finite values).
pub fn w1_1d(a: &[f64], b: &[f64]) -> Result<f64> {
    for (what, v) in [("w1_1d a", a), ("w1_1d b", b)] {
        if v.is_empty() {
            return Err(MetricsError::TooFew { what, got: 0, min: 1 });
        }
        if let Some(i) = v.iter().position(|t| !t.is_finite()) {
            return Err(MetricsError::NonFinite { what, row: i, col: 0 });
        }
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable_by(f64::total_cmp);
    b.sort_unstable_by(f64::total_cmp);
    Ok(w1_sorted(&a, &b))
}

/// W1 of sorted samples through the quantile functions:
///
///   W1 = ∫₀¹ |F⁻¹(t) − G⁻¹(t)| dt,
///
/// where F⁻¹(t) = a_(⌈tN⌉) is piecewise constant with breakpoints i/N (and
/// G⁻¹ with breakpoints j/M). Equal sizes: (1/N) Σ_i |a_(i) − b_(i)|.
/// Unequal sizes: walk the merged breakpoints, comparing (i+1)/N with
/// (j+1)/M exactly in integers ((i+1) M vs (j+1) N).
fn w1_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len(), b.len());
    if n == m {
        return a.iter().zip(b).map(|(p, q)| (p - q).abs()).sum::<f64>() / n as f64;
    }
    let (mut i, mut j) = (0usize, 0usize);
    let (mut t, mut acc) = (0.0f64, 0.0f64);
    while i < n && j < m {
        let ca = (i as u128 + 1) * m as u128;
        let cb = (j as u128 + 1) * n as u128;
        let next = if ca <= cb {
            (i + 1) as f64 / n as f64
        } else {
            (j + 1) as f64 / m as f64
        };
        acc += (next - t) * (a[i] - b[j]).abs();
        t = next;
        if ca <= cb {
            i += 1;
        }
        if cb <= ca {
            j += 1;
        }
    }
    acc
}

/// ||mean(X) − mean(Y)||₂, the Euclidean distance between sample means.
pub fn mean_error(x: &DMatrix<f64>, y: &DMatrix<f64>) -> Result<f64> {
    check_set("mean_error x", x, 1)?;
    check_set("mean_error y", y, 1)?;
    check_same_dim("mean_error x vs y", x, y)?;
    Ok((column_mean(x) - column_mean(y)).norm())
}

/// ||Cov(X) − Cov(Y)||_F with the unbiased sample covariance
/// Cov(X) = (1/(N−1)) (X − x̄1ᵀ)(X − x̄1ᵀ)ᵀ (d x d). Needs N, M >= 2.
pub fn cov_error(x: &DMatrix<f64>, y: &DMatrix<f64>) -> Result<f64> {
    check_set("cov_error x", x, 2)?;
    check_set("cov_error y", y, 2)?;
    check_same_dim("cov_error x vs y", x, y)?;
    Ok((covariance(x) - covariance(y)).norm())
}

/// Mean column (d-vector).
fn column_mean(x: &DMatrix<f64>) -> nalgebra::DVector<f64> {
    let mut s = nalgebra::DVector::zeros(x.nrows());
    for c in x.column_iter() {
        s += c;
    }
    s / x.ncols() as f64
}

/// Unbiased sample covariance, d x d.
fn covariance(x: &DMatrix<f64>) -> DMatrix<f64> {
    let mu = column_mean(x);
    let mut xc = x.clone();
    for mut c in xc.column_iter_mut() {
        c -= &mu;
    }
    let xct = xc.transpose();
    (&xc * &xct) / (x.ncols() as f64 - 1.0)
}

/// Settings of [`distance_report`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistanceConfig {
    /// Permutations of each MMD test (>= 1; default 200).
    pub permutations: usize,
    /// Random directions of sliced W1 (>= 1; default 64).
    pub projections: usize,
    /// Fixed kernel bandwidth; `None` = median heuristic on the two real
    /// sets (default).
    pub bandwidth: Option<f64>,
}

impl Default for DistanceConfig {
    fn default() -> Self {
        Self {
            permutations: 200,
            projections: 64,
            bandwidth: None,
        }
    }
}

/// Every distance of SPEC §3 for generated vs real, each next to the same
/// statistic for two independent real sets (`*_floor`, the noise floor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistanceReport {
    /// Kernel bandwidth h used by both MMD tests.
    pub bandwidth: f64,
    /// Unbiased MMD²(generated, real_a).
    pub mmd2: f64,
    /// Unbiased MMD²(real_b, real_a).
    pub mmd2_floor: f64,
    /// Permutation p-value of generated vs real_a.
    pub p_value: f64,
    /// Permutation p-value of real_b vs real_a (uniform-ish under H0).
    pub p_value_floor: f64,
    /// Sliced W1(generated, real_a).
    pub sliced_w1: f64,
    /// Sliced W1(real_b, real_a), same directions.
    pub sliced_w1_floor: f64,
    /// ||mean(generated) − mean(real_a)||.
    pub mean_error: f64,
    /// ||mean(real_b) − mean(real_a)||.
    pub mean_error_floor: f64,
    /// ||Cov(generated) − Cov(real_a)||_F.
    pub cov_error: f64,
    /// ||Cov(real_b) − Cov(real_a)||_F.
    pub cov_error_floor: f64,
}

/// Distances between `generated` and `real_a`, and the noise floor from
/// `real_b` vs `real_a` (all d x ·; use |generated| = |real_b| so the two
/// are comparable).
///
/// One kernel and one set of projection directions serve both comparisons:
/// the bandwidth is the median heuristic on [real_a real_b] unless fixed in
/// `cfg`, so it does not depend on the generator and MMD² values stay
/// comparable across the evaluations of one run. Randomness, in order: the
/// generated-vs-real permutations, the floor permutations, the directions.
pub fn distance_report(
    generated: &DMatrix<f64>,
    real_a: &DMatrix<f64>,
    real_b: &DMatrix<f64>,
    cfg: &DistanceConfig,
    rng: &mut impl Rng,
) -> Result<DistanceReport> {
    check_set("distance_report generated", generated, 2)?;
    check_set("distance_report real_a", real_a, 2)?;
    check_set("distance_report real_b", real_b, 2)?;
    check_same_dim("distance_report generated vs real_a", generated, real_a)?;
    check_same_dim("distance_report real_b vs real_a", real_b, real_a)?;
    let h = match cfg.bandwidth {
        Some(h) => {
            check_bandwidth(h)?;
            h
        }
        None => median_bandwidth(real_a, real_b)?,
    };
    let main = mmd_test_with_bandwidth(generated, real_a, h, cfg.permutations, rng)?;
    let floor = mmd_test_with_bandwidth(real_b, real_a, h, cfg.permutations, rng)?;
    let dirs = random_directions(real_a.nrows(), cfg.projections, rng)?;
    Ok(DistanceReport {
        bandwidth: h,
        mmd2: main.mmd2,
        mmd2_floor: floor.mmd2,
        p_value: main.p_value,
        p_value_floor: floor.p_value,
        sliced_w1: sliced_w1_with_directions(generated, real_a, &dirs)?,
        sliced_w1_floor: sliced_w1_with_directions(real_b, real_a, &dirs)?,
        mean_error: mean_error(generated, real_a)?,
        mean_error_floor: mean_error(real_b, real_a)?,
        cov_error: cov_error(generated, real_a)?,
        cov_error_floor: cov_error(real_b, real_a)?,
    })
}
