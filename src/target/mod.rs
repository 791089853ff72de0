//! The ground truth: forward super-resolution (FSR) distributions, exactly as
//! SPEC §1. A [`Target`] is built once from a checked [`TargetSpec`] (see
//! `config` for the TOML side) and then samples batches of every level's
//! patches `X_l` together with the exact hidden features `S_l`.
//!
//! The model, level by level (shapes use the batched layout of [`geometry`]):
//! - level 1: `S_1 = ReLU(W1 z - b1)`, `z ~ N(0, I_{m_0})`; the stacked
//!   `W1` is `(P_1 m_1) x m_0` with unit-norm rows (orthonormal when they
//!   fit), so each pre-activation is `N(0, 1)` and `b1 = Phi^{-1}(1 - k/m)`
//!   makes each unit active with probability exactly `k_1 / m_1`;
//! - level `l >= 2`: `S_l = ReLU(sqrt(1 - lambda^2) W_l S_{l-1} + lambda
//!   zeta - b_l)`, `W_l = [W_{l,0}; ...; W_{l,r-1}]` stacked per child,
//!   `(r m_l) x m_{l-1}`; each (child, unit) bias is the Monte-Carlo
//!   `1 - k_l/m_l` quantile of its pre-activation, clamped to `>= 0`;
//! - output: `direct`: `X_l = V_l S_l + sigma xi`; `pyramid`: `X_1 = V_1 S_1
//!   + sigma xi`, `X_l = Up(X_{l-1}) + V_l S_l + sigma Q Q^T xi` with the
//!   columns of `V_l` (and the noise, through the detail basis `Q`) in the
//!   zero-block-mean subspace, so pooling level `l` gives level `l-1` exactly.

pub mod geometry;

use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

pub use geometry::Geometry;
use geometry::unstack;

/// How a level's pixels are produced from its hidden features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// `X_l = V_l S_l`: the paper's hierarchical sparse coding.
    Direct,
    /// `X_l = Up(X_{l-1}) + V_l S_l`: low resolution is the pooled high one.
    Pyramid,
}

/// A checked target description (built by `config` from TOML; every field
/// already validated, so construction only fails on realised statistics).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TargetSpec {
    pub geometry: Geometry,
    /// Hidden widths `m_l`, one per level.
    pub widths: Vec<usize>,
    /// Latent dimension `m_0` of the level-1 seed `z`.
    pub latent_dim: usize,
    /// Expected active units `k_l` per patch, one per level.
    pub active: Vec<usize>,
    pub output: OutputMode,
    /// Largest allowed `|<v_i, v_j>|` when a dictionary cannot be orthonormal.
    pub max_coherence: f64,
    pub noise_sigma: f64,
    /// FSR strength knob: 0 = pure forward super-resolution, 1 = levels independent.
    pub lambda: f64,
    /// Monte-Carlo parent patches used to calibrate each level's biases.
    pub calibration_patches: usize,
    pub seed: u64,
}

/// Construction failures that depend on the realised random draw.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error(
        "target level {level}: unit {unit} of child {child} is dead (never active in {samples} calibration patches) after {tries} redraws; try a larger target.active or target.latent_dim, or another target.seed"
    )]
    DeadUnit {
        level: usize,
        child: usize,
        unit: usize,
        samples: usize,
        tries: usize,
    },
    #[error(
        "target level {level}: unit {unit} of child {child} is always active in {samples} calibration patches after {tries} redraws; try another target.seed"
    )]
    AlwaysOnUnit {
        level: usize,
        child: usize,
        unit: usize,
        samples: usize,
        tries: usize,
    },
    #[error(
        "target level {level}: could not draw {width} unit atoms in a {dim}-dimensional space with coherence <= {max_coherence} (got {placed}); raise target.max_coherence or lower target.widths"
    )]
    CoherenceUnreachable {
        level: usize,
        width: usize,
        dim: usize,
        max_coherence: f64,
        placed: usize,
    },
}

/// One level of the ground truth.
#[derive(Debug, Clone)]
pub struct TargetLevel {
    /// 1-based level index.
    pub level: usize,
    pub width: usize,
    /// Stacked map: `(P_1 m_1) x m_0` at level 1, `(r m_l) x m_{l-1}` above.
    pub w: DMatrix<f64>,
    /// Stacked biases, one per row of `w`.
    pub b: DVector<f64>,
    /// Standard deviation of each row's pre-activation `W S_{l-1}` (the scale
    /// of the lambda noise `zeta`); ones at level 1.
    pub pre_std: DVector<f64>,
    /// Dictionary `V_l`, `n x m_l`, unit-norm columns.
    pub v: DMatrix<f64>,
    /// Calibrated activation probability of each stacked row: exactly `k/m`
    /// at level 1, the Monte-Carlo rate at the chosen bias above.
    pub rate: DVector<f64>,
    /// Independent samples behind `rate` (0 = exact). Parent patches of one
    /// sample are correlated, so this, not the patch count, is what bounds
    /// its precision.
    pub calibration_samples: usize,
}

/// A batch drawn from a target: per level, `x[l]` is `n x (B P_l)` and
/// `s[l]` is `m_l x (B P_l)` (index 0 = level 1).
#[derive(Debug, Clone)]
pub struct Batch {
    pub size: usize,
    pub x: Vec<DMatrix<f64>>,
    pub s: Vec<DMatrix<f64>>,
}

/// A realised FSR distribution.
#[derive(Debug, Clone)]
pub struct Target {
    pub spec: TargetSpec,
    pub levels: Vec<TargetLevel>,
    /// `[U_0; ...; U_{r-1}]`, `(r n) x n` (pyramid mode).
    pub up: DMatrix<f64>,
    /// Orthonormal basis of the detail subspace, `n x d` (pyramid mode).
    pub detail: DMatrix<f64>,
}

/// Redraws allowed per dead / always-on unit before construction fails.
const REDRAWS: usize = 20;

fn randn(rows: usize, cols: usize, rng: &mut impl Rng) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| StandardNormal.sample(rng))
}

fn normalise_rows(m: &mut DMatrix<f64>) {
    for mut row in m.row_iter_mut() {
        let nrm = row.norm();
        if nrm > 0.0 {
            row /= nrm;
        }
    }
}

/// Largest `|<v_i, v_j>|` over distinct unit columns (0 for one column).
pub fn coherence(v: &DMatrix<f64>) -> f64 {
    let g = v.transpose() * v;
    let mut mu: f64 = 0.0;
    for i in 0..g.nrows() {
        for j in 0..i {
            mu = mu.max(g[(i, j)].abs());
        }
    }
    mu
}

/// `m` unit columns in the span of the orthonormal `basis` (`n x d`):
/// orthonormal (QR of a Gaussian) when `m <= d`, otherwise drawn one by one
/// and kept only if their coherence with those before is `<= max_coh`.
fn dictionary(
    level: usize,
    basis: &DMatrix<f64>,
    m: usize,
    max_coh: f64,
    rng: &mut impl Rng,
) -> Result<DMatrix<f64>, TargetError> {
    let d = basis.ncols();
    if m <= d {
        let q = randn(d, m, rng).qr().q(); // d x m, orthonormal columns
        return Ok(basis * q);
    }
    let mut cols: Vec<DVector<f64>> = Vec::with_capacity(m);
    let mut tries = 0;
    while cols.len() < m {
        tries += 1;
        if tries > 2000 * m {
            return Err(TargetError::CoherenceUnreachable {
                level,
                width: m,
                dim: d,
                max_coherence: max_coh,
                placed: cols.len(),
            });
        }
        let v = (basis * randn(d, 1, rng)).column(0).normalize();
        if cols.iter().all(|u| u.dot(&v).abs() <= max_coh) {
            cols.push(v);
        }
    }
    Ok(DMatrix::from_columns(&cols))
}

/// `(1 - rate)` quantile of a row of samples (linear interpolation).
fn upper_quantile(vals: &mut [f64], rate: f64) -> f64 {
    vals.sort_by(|a, b| a.total_cmp(b));
    let pos = (1.0 - rate) * (vals.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(vals.len() - 1);
    let t = pos - lo as f64;
    vals[lo] * (1.0 - t) + vals[hi] * t
}

impl Target {
    /// Builds the target, drawing every random quantity from a ChaCha stream
    /// seeded by `spec.seed` (so the same spec gives the same target).
    pub fn new(spec: &TargetSpec) -> Result<Target, TargetError> {
        Self::build(spec, &mut rand_chacha(spec.seed))
    }

    fn build(spec: &TargetSpec, rng: &mut impl Rng) -> Result<Target, TargetError> {
        let g = &spec.geometry;
        let n = g.patch_dim();
        let up = g.upsample_stack();
        let detail = if g.fanout > 1 {
            g.detail_basis()
        } else {
            DMatrix::zeros(n, 0)
        };
        let full = DMatrix::<f64>::identity(n, n);
        let mut t = Target {
            spec: spec.clone(),
            levels: Vec::with_capacity(g.levels),
            up,
            detail,
        };
        for l in 1..=g.levels {
            let m = spec.widths[l - 1];
            let rate = spec.active[l - 1] as f64 / m as f64;
            let basis = if spec.output == OutputMode::Pyramid && l >= 2 {
                &t.detail
            } else {
                &full
            };
            let v = dictionary(l, basis, m, spec.max_coherence, rng)?;
            let level = if l == 1 {
                // Unit-norm rows, orthonormal when P_1 m_1 <= m_0 (then
                // level-1 units are independent): each pre-activation ~ N(0,1).
                let rows = g.root_patches * m;
                let m0 = spec.latent_dim;
                let mut w = if rows <= m0 {
                    randn(m0, rows, rng).qr().q().transpose()
                } else {
                    randn(rows, m0, rng)
                };
                normalise_rows(&mut w);
                let normal = Normal::new(0.0, 1.0).expect("standard normal");
                let b = DVector::from_element(rows, normal.inverse_cdf(1.0 - rate));
                TargetLevel {
                    level: l,
                    width: m,
                    w,
                    b,
                    pre_std: DVector::from_element(rows, 1.0),
                    v,
                    rate: DVector::from_element(rows, rate),
                    calibration_samples: 0,
                }
            } else {
                t.calibrate_level(l, m, rate, v, rng)?
            };
            t.levels.push(level);
        }
        Ok(t)
    }

    /// Draws `W_l` and calibrates its biases on Monte-Carlo parent patches;
    /// redraws the rows of dead or always-on units.
    fn calibrate_level(
        &self,
        l: usize,
        m: usize,
        rate: f64,
        v: DMatrix<f64>,
        rng: &mut impl Rng,
    ) -> Result<TargetLevel, TargetError> {
        let g = &self.spec.geometry;
        let r = g.fanout;
        let mp = self.spec.widths[l - 2];
        let pp = g.patches(l - 1);
        let batch = self.spec.calibration_patches.div_ceil(pp).max(1);
        // Parent features S_{l-1}: m_{l-1} x (batch P_{l-1}), from levels built so far.
        let s_prev = self.sample_hidden(batch, l - 1, rng);
        let cols = s_prev.ncols();
        let lam = self.spec.lambda;
        let mut w = randn(r * m, mp, rng);
        normalise_rows(&mut w);
        let mut b = DVector::zeros(r * m);
        let mut pre_std = DVector::zeros(r * m);
        let mut rates = DVector::zeros(r * m);
        let zeta = randn(r * m, cols, rng);
        for row in 0..r * m {
            let mut tries = 0;
            loop {
                // pre = sqrt(1 - lam^2) * (w_row . S) + lam * std * zeta_row: 1 x cols
                let ws = w.row(row) * &s_prev;
                let mean = ws.mean();
                let std = (ws.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / cols as f64).sqrt();
                let pre: Vec<f64> = ws
                    .iter()
                    .zip(zeta.row(row).iter())
                    .map(|(a, z)| (1.0 - lam * lam).sqrt() * a + lam * std * z)
                    .collect();
                let bias = upper_quantile(&mut pre.clone(), rate).max(0.0);
                let active = pre.iter().filter(|a| **a > bias).count();
                let (c, unit) = (row / m, row % m);
                if active > 0 && active < cols {
                    b[row] = bias;
                    pre_std[row] = std;
                    rates[row] = active as f64 / cols as f64;
                    break;
                }
                tries += 1;
                if tries > REDRAWS {
                    return Err(if active == 0 {
                        TargetError::DeadUnit {
                            level: l,
                            child: c,
                            unit,
                            samples: cols,
                            tries: REDRAWS,
                        }
                    } else {
                        TargetError::AlwaysOnUnit {
                            level: l,
                            child: c,
                            unit,
                            samples: cols,
                            tries: REDRAWS,
                        }
                    });
                }
                let mut fresh = randn(1, mp, rng);
                normalise_rows(&mut fresh);
                w.set_row(row, &fresh.row(0));
            }
        }
        Ok(TargetLevel {
            level: l,
            width: m,
            w,
            b,
            pre_std,
            v,
            rate: rates,
            calibration_samples: batch,
        })
    }

    /// Number of levels `L`.
    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }

    /// `S_1 = ReLU(W1 z - b1)` for a latent batch `z` (`m_0 x B`), as
    /// `m_1 x (B P_1)`.
    pub fn hidden_first(&self, z: &DMatrix<f64>) -> DMatrix<f64> {
        let lv = &self.levels[0];
        // (P_1 m_1) x m_0 times m_0 x B = (P_1 m_1) x B, read as m_1 x (B P_1).
        let mut pre = &lv.w * z;
        relu_bias(&mut pre, &lv.b);
        unstack(pre, lv.width)
    }

    /// The level-`l` map (`l >= 2`, lambda = 0 part): `S_l = ReLU(W_l
    /// S_{l-1} - b_l)`, `m_{l-1} x (B P_{l-1})` in, `m_l x (B P_l)` out.
    pub fn hidden_next(&self, level: usize, s_prev: &DMatrix<f64>) -> DMatrix<f64> {
        self.hidden_next_mixed(level, s_prev, None)
    }

    fn hidden_next_mixed(
        &self,
        level: usize,
        s_prev: &DMatrix<f64>,
        zeta: Option<&DMatrix<f64>>,
    ) -> DMatrix<f64> {
        let lv = &self.levels[level - 1];
        // (r m_l) x m_{l-1} times m_{l-1} x (B P_{l-1}) = (r m_l) x (B P_{l-1}).
        let mut pre = &lv.w * s_prev;
        if let Some(zeta) = zeta {
            let lam = self.spec.lambda;
            let keep = (1.0 - lam * lam).sqrt();
            for j in 0..pre.ncols() {
                for i in 0..pre.nrows() {
                    pre[(i, j)] = keep * pre[(i, j)] + lam * lv.pre_std[i] * zeta[(i, j)];
                }
            }
        }
        relu_bias(&mut pre, &lv.b);
        unstack(pre, lv.width)
    }

    /// Hidden features of levels `1..=upto` only (used for calibration).
    fn sample_hidden(&self, batch: usize, upto: usize, rng: &mut impl Rng) -> DMatrix<f64> {
        let z = randn(self.spec.latent_dim, batch, rng);
        let mut s = self.hidden_first(&z);
        for l in 2..=upto {
            s = self.step_hidden(l, &s, rng);
        }
        s
    }

    fn step_hidden(&self, l: usize, s_prev: &DMatrix<f64>, rng: &mut impl Rng) -> DMatrix<f64> {
        if self.spec.lambda > 0.0 {
            let rows = self.levels[l - 1].w.nrows();
            let zeta = randn(rows, s_prev.ncols(), rng);
            self.hidden_next_mixed(l, s_prev, Some(&zeta))
        } else {
            self.hidden_next(l, s_prev)
        }
    }

    /// Pixels of level `l` from its hidden features (and, in pyramid mode,
    /// the level below), without noise: `V_l S_l` or `Up(X_{l-1}) + V_l S_l`.
    pub fn render(&self, level: usize, s: &DMatrix<f64>, x_prev: Option<&DMatrix<f64>>) -> DMatrix<f64> {
        let v = &self.levels[level - 1].v;
        // n x m_l times m_l x (B P_l) = n x (B P_l).
        let mut x = v * s;
        if let (OutputMode::Pyramid, Some(xp)) = (self.spec.output, x_prev) {
            x += self.upsample(xp);
        }
        x
    }

    /// `Up(X_{l-1})`: `(r n) x n` times `n x (B P_{l-1})`, read as `n x (B P_l)`.
    pub fn upsample(&self, x_prev: &DMatrix<f64>) -> DMatrix<f64> {
        unstack(&self.up * x_prev, self.spec.geometry.patch_dim())
    }

    /// The detail part of level `l >= 2` in pyramid mode, `X_l - Up(X_{l-1})`.
    pub fn detail_of(&self, x: &DMatrix<f64>, x_prev: &DMatrix<f64>) -> DMatrix<f64> {
        x - self.upsample(x_prev)
    }

    /// Draws `batch` samples: every level's patches and exact hidden features.
    pub fn sample(&self, batch: usize, rng: &mut impl Rng) -> Batch {
        let n = self.spec.geometry.patch_dim();
        let sigma = self.spec.noise_sigma;
        let mut xs: Vec<DMatrix<f64>> = Vec::with_capacity(self.num_levels());
        let mut ss: Vec<DMatrix<f64>> = Vec::with_capacity(self.num_levels());
        let z = randn(self.spec.latent_dim, batch, rng);
        for l in 1..=self.num_levels() {
            let s = if l == 1 {
                self.hidden_first(&z)
            } else {
                self.step_hidden(l, &ss[l - 2], rng)
            };
            let mut x = self.render(l, &s, xs.last());
            if sigma > 0.0 {
                let xi = randn(n, x.ncols(), rng);
                if self.spec.output == OutputMode::Pyramid && l >= 2 {
                    // Noise in the detail subspace keeps pooling exact: Q (Q^T xi).
                    x += (&self.detail * (self.detail.transpose() * xi)) * sigma;
                } else {
                    x += xi * sigma;
                }
            }
            xs.push(x);
            ss.push(s);
        }
        Batch {
            size: batch,
            x: xs,
            s: ss,
        }
    }
}

/// `pre <- max(pre - b, 0)` with one bias per row.
fn relu_bias(pre: &mut DMatrix<f64>, b: &DVector<f64>) {
    for mut col in pre.column_iter_mut() {
        for (a, bi) in col.iter_mut().zip(b.iter()) {
            *a = (*a - bi).max(0.0);
        }
    }
}

/// A seeded ChaCha8 generator: the only kind of RNG fsrgan uses.
pub fn rand_chacha(seed: u64) -> rand::rngs::ChaCha8Rng {
    use rand::SeedableRng;
    rand::rngs::ChaCha8Rng::seed_from_u64(seed)
}

/// Per-level statistics of a realised target (`fsrgan describe`, SPEC §8).
#[derive(Debug, Clone, Serialize)]
pub struct LevelDescription {
    pub level: usize,
    pub patches: usize,
    pub width: usize,
    /// `k_l / m_l`.
    pub target_rate: f64,
    /// Per unit: fraction of patches where it is active.
    pub activation_rates: Vec<f64>,
    /// Units never active in the description sample.
    pub dead_units: Vec<usize>,
    /// Units active in every patch of the description sample.
    pub always_on_units: Vec<usize>,
    /// `max_{i != j} |<v_i, v_j>|`.
    pub coherence: f64,
    /// Max |pool(X_l) - X_{l-1}| over the sample (0 at level 1; only
    /// meaningful in pyramid mode).
    pub pooling_error: f64,
    /// Per unit: fraction of patches where it is the only active unit.
    pub alone_rates: Vec<f64>,
    /// Mean number of active units per patch.
    pub mean_active: f64,
}

/// Statistics of `target` measured on `samples` fresh samples.
pub fn describe(target: &Target, samples: usize, rng: &mut impl Rng) -> Vec<LevelDescription> {
    let batch = target.sample(samples, rng);
    let g = &target.spec.geometry;
    (1..=target.num_levels())
        .map(|l| {
            let s = &batch.s[l - 1];
            let (m, cols) = (s.nrows(), s.ncols());
            let mut on = vec![0usize; m];
            let mut alone = vec![0usize; m];
            let mut total_active = 0usize;
            for col in s.column_iter() {
                let act: Vec<usize> = (0..m).filter(|&i| col[i] > 0.0).collect();
                total_active += act.len();
                for &i in &act {
                    on[i] += 1;
                }
                if act.len() == 1 {
                    alone[act[0]] += 1;
                }
            }
            let pooling_error = if l >= 2 {
                let mut err: f64 = 0.0;
                for b in 0..samples {
                    let hi = g.to_image(l, &batch.x[l - 1], b);
                    let lo = g.to_image(l - 1, &batch.x[l - 2], b);
                    let pooled = g.pool_image(l, &hi);
                    for (a, c) in pooled.iter().zip(lo.iter()) {
                        err = err.max((a - c).abs());
                    }
                }
                err
            } else {
                0.0
            };
            LevelDescription {
                level: l,
                patches: g.patches(l),
                width: m,
                target_rate: target.spec.active[l - 1] as f64 / m as f64,
                activation_rates: on.iter().map(|&c| c as f64 / cols as f64).collect(),
                dead_units: (0..m).filter(|&i| on[i] == 0).collect(),
                always_on_units: (0..m).filter(|&i| on[i] == cols).collect(),
                coherence: coherence(&target.levels[l - 1].v),
                pooling_error,
                alone_rates: alone.iter().map(|&c| c as f64 / cols as f64).collect(),
                mean_active: total_active as f64 / cols as f64,
            }
        })
        .collect()
}
