//! Generators (SPEC §2, "Generator"): the `fsr` learner that mirrors the
//! target's forward super-resolution form, an `mlp` generator for flat data
//! and the `linear` generator `x = A z` of the LQG known-answer check; plus
//! the [`Generator`] enum the trainer drives and JSON checkpoints.
//!
//! # The `fsr` generator
//! Widths `m'_l`, latent dimension `m'_0`, the target's geometry and output
//! mode. With the batched layout of `target::geometry` (one GEMM per level):
//! - level 1: `S_1 = ReLU(W_1 z - b_1)`, `W_1` stacked per root patch,
//!   `(P_1 m'_1) x m'_0`; the product `(P_1 m'_1) x B` *is* `m'_1 x (B P_1)`;
//! - level `l >= 2`: `S_l = ReLU(W_l S_{l-1} + N_l zeta_l - b_l)`, `W_l`
//!   stacked per child, `(r m'_l) x m'_{l-1}`; the optional noise input
//!   `zeta_l ~ N(0, I)` is `q x (B P_{l-1})` (one draw per parent patch) and
//!   `N_l` is `(r m'_l) x q` (`q = noise_dim`, 0 = no noise inputs);
//! - output: `direct`: `X_l = V_l S_l`; `pyramid`: `X_1 = V_1 S_1`, `X_l =
//!   Up(X_{l-1}) + V_l S_l` with `Up` the target's nearest-neighbour
//!   upsampling stack `(r n) x n`.
//!
//! Choice (pyramid mode): the columns of `V_l`, `l >= 2`, are kept in the
//! zero-block-mean detail subspace — initialised there and projected back
//! (`V_l <- Q Q^T V_l`) after every optimiser step ([`Generator::after_step`]).
//! Pooling of real data is exact, so any component of `V_l` outside the
//! detail subspace could only make fakes distinguishable by pooling; the
//! projection removes that useless direction and makes learned `V_l`
//! directly comparable with the target's. The gradient itself is the
//! gradient of the unprojected map (what the finite-difference tests check).
//!
//! # Initialisation (documented scheme)
//! Rows of every `W_l` are Gaussian rescaled to unit norm (as the target's,
//! so pre-activations start at the target's scale); columns of `V_l` are
//! Gaussian (projected onto the detail subspace for pyramid `l >= 2`)
//! rescaled to unit norm; thresholds `b_l` at `init_bias` standard
//! deviations above the mean of each unit's pre-activation at
//! initialisation ([`FsrGenerator::calibrate_thresholds`]; at level 1 that
//! is `b_1 = init_bias`); noise weights `N_l = 0` (the generator starts as
//! a pure FSR map and learns to use noise only if the data asks for it).
//! `mlp`: He-normal weights, zero biases. `linear`: `A_ij ~ N(0, 1/k)`.

use nalgebra::{DMatrix, DVector};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::LevelGrads;
use crate::nn::{self, Activation, MatRef, Mlp, Params, ensure, gemm, randn, view_mut};
use crate::target::{Geometry, OutputMode};

/// What a generator draws for a batch: per level, pixels `x[l]` (`n x (B
/// P_l)`) and, for `fsr`, hidden features `s[l]` (`m'_l x (B P_l)`; empty for
/// the flat generators).
#[derive(Debug, Clone)]
pub struct GenSample {
    pub size: usize,
    pub x: Vec<DMatrix<f64>>,
    pub s: Vec<DMatrix<f64>>,
}

/// Errors reading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("checkpoint {path}: not a generator checkpoint: {reason}")]
    Format { path: String, reason: String },
    #[error("checkpoint {path}: inconsistent shapes: {reason}")]
    Shape { path: String, reason: String },
}

/// One level of the `fsr` generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsrLevel {
    /// Hidden width `m'_l`.
    pub width: usize,
    /// Stacked level map: `(P_1 m'_1) x m'_0` at level 1, `(r m'_l) x m'_{l-1}` above.
    pub w: DMatrix<f64>,
    /// Thresholds, one per row of `w` (`S = ReLU(W S_prev - b)`).
    pub b: DVector<f64>,
    /// Noise weights `N_l`, `rows(w) x noise_dim` (0 columns at level 1 or
    /// without noise inputs).
    pub noise: DMatrix<f64>,
    /// Dictionary `V_l`, `n x m'_l`.
    pub v: DMatrix<f64>,
    #[serde(skip)]
    gw: DMatrix<f64>,
    #[serde(skip)]
    gb: DVector<f64>,
    #[serde(skip)]
    gn: DMatrix<f64>,
    #[serde(skip)]
    gv: DMatrix<f64>,
}

impl FsrLevel {
    /// Rows `p m' + u` of the stacked `W_l` (and of `b_l`, `N_l`): unit `u`
    /// at each root patch / child position `p`.
    fn unit_rows(&self, u: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
        (u..self.w.nrows()).step_by(self.width)
    }

    /// Redraws stacked row `row` as at initialisation: a unit Gaussian row
    /// of `W_l`, noise weights 0 and a threshold at `init_bias` standard
    /// deviations above the mean of its pre-activations on `s_prev` (the
    /// learner's own level below, `m'_{l-1} x K`; level 1, `None`:
    /// `init_bias`, the same rule for unit rows on N(0, I) latents).
    /// Dictionary columns are untouched.
    fn redraw_row(&mut self, row: usize, s_prev: Option<&DMatrix<f64>>, init_bias: f64, rng: &mut impl Rng) {
        let w = nn::unit_rows(1, self.w.ncols(), rng);
        self.w.set_row(row, &w.row(0));
        self.noise.row_mut(row).fill(0.0);
        // 1 x m'_{l-1} times m'_{l-1} x K.
        self.b[row] = s_prev.map_or(init_bias, |s| threshold((&w * s).iter().copied(), init_bias));
    }
}

/// A threshold at `init_bias` standard deviations above the mean of a
/// unit's pre-activations `pre` (the scale-aware rule of
/// [`FsrGenerator::calibrate_thresholds`]).
fn threshold(pre: impl Iterator<Item = f64> + Clone, init_bias: f64) -> f64 {
    let k = pre.clone().count() as f64;
    let mean = pre.clone().sum::<f64>() / k;
    let var = pre.map(|x| (x - mean).powi(2)).sum::<f64>() / k;
    mean + init_bias * var.sqrt()
}

/// Forward / backward buffers of the `fsr` generator (never serialised).
#[derive(Debug, Clone, Default)]
struct FsrCache {
    batch: usize,
    z: DMatrix<f64>,
    /// Per level (index l-1; empty at level 1): `q x (B P_{l-1})`.
    zeta: Vec<DMatrix<f64>>,
    /// Pre-activations, memory laid out as the stacked product; shape `m'_l x (B P_l)`.
    pre: Vec<DMatrix<f64>>,
    s: Vec<DMatrix<f64>>,
    x: Vec<DMatrix<f64>>,
    ds: Vec<DMatrix<f64>>,
    tmp_v: DMatrix<f64>,
}

/// The `fsr` generator (module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsrGenerator {
    pub geometry: Geometry,
    pub output: OutputMode,
    pub latent_dim: usize,
    pub noise_dim: usize,
    pub levels: Vec<FsrLevel>,
    /// `[U_0; ...; U_{r-1}]`, `(r n) x n` (rebuilt from the geometry on load).
    #[serde(skip)]
    up: DMatrix<f64>,
    /// Source row of each row of `up` (the gather / scatter form of `Up`).
    #[serde(skip)]
    up_src: Vec<usize>,
    /// [`upsample_inverse`] of `up_src`.
    #[serde(skip)]
    up_inv: Vec<usize>,
    /// Projector onto the detail subspace, `Q Q^T`, `n x n`.
    #[serde(skip)]
    proj: DMatrix<f64>,
    #[serde(skip)]
    cache: FsrCache,
}

impl FsrGenerator {
    /// A freshly initialised generator (module docs: initialisation).
    pub fn new(
        geometry: &Geometry,
        output: OutputMode,
        widths: &[usize],
        latent_dim: usize,
        noise_dim: usize,
        init_bias: f64,
        rng: &mut impl Rng,
    ) -> FsrGenerator {
        let n = geometry.patch_dim();
        let mut g = FsrGenerator {
            geometry: geometry.clone(),
            output,
            latent_dim,
            noise_dim,
            levels: Vec::with_capacity(widths.len()),
            up: DMatrix::zeros(0, 0),
            up_src: Vec::new(),
            up_inv: Vec::new(),
            proj: DMatrix::zeros(0, 0),
            cache: FsrCache::default(),
        };
        g.prepare();
        for (i, &m) in widths.iter().enumerate() {
            let l = i + 1;
            let (rows, inp, q) = if l == 1 {
                (geometry.root_patches * m, latent_dim, 0)
            } else {
                (geometry.fanout * m, widths[i - 1], noise_dim)
            };
            let w = nn::unit_rows(rows, inp, rng);
            let mut v = nn::randn(n, m, 1.0, rng);
            if g.projects(l) {
                v = &g.proj * v;
            }
            for mut c in v.column_iter_mut() {
                let nrm = c.norm();
                if nrm > 0.0 {
                    c /= nrm;
                }
            }
            g.levels.push(FsrLevel {
                width: m,
                w,
                b: DVector::from_element(rows, init_bias),
                noise: DMatrix::zeros(rows, q),
                v,
                gw: DMatrix::zeros(0, 0),
                gb: DVector::zeros(0),
                gn: DMatrix::zeros(0, 0),
                gv: DMatrix::zeros(0, 0),
            });
        }
        g.calibrate_thresholds(init_bias, rng);
        g
    }

    /// Latent draws of the threshold calibration: standard error of a
    /// unit's mean/std estimate ~1/sqrt(4096) = 1.6% of its scale.
    const CALIBRATION_DRAWS: usize = 4096;

    /// Scale-aware thresholds (module docs): `b_{l,i} = mean_i + init_bias *
    /// std_i` of unit `i`'s pre-activation `(W_l S_{l-1})_i` at
    /// initialisation. Level 1 is exact (`W_1 z` with unit rows and `z ~
    /// N(0, I)`: mean 0, std 1, so `b_1 = init_bias`); levels `>= 2` are
    /// Monte-Carlo estimates over the learner's *own* samples, level by
    /// level with the calibrated level below (no target data is used).
    /// Without this, a fixed `b_l = init_bias` leaves level-2 units active
    /// ~1% of the time and level-3 units dead (their inputs shrink level by
    /// level), and a dead unit receives no gradient.
    fn calibrate_thresholds(&mut self, init_bias: f64, rng: &mut impl Rng) {
        if self.levels.len() < 2 {
            return;
        }
        let z = nn::randn(self.latent_dim, Self::CALIBRATION_DRAWS, 1.0, rng);
        let mut s = self.hidden_first(&z);
        for l in 2..=self.levels.len() {
            let lv = &self.levels[l - 1];
            // (r m'_l) x m'_{l-1} times m'_{l-1} x (B P_{l-1}).
            let pre = &lv.w * &s;
            let b = DVector::from_iterator(
                pre.nrows(),
                pre.row_iter()
                    .map(|row| threshold(row.iter().copied(), init_bias)),
            );
            self.levels[l - 1].b = b;
            s = self.hidden_next(l, &s, None);
        }
    }

    /// Duplicate-unit restarts (`training.restarts`, docs/recipe.md fifth
    /// session). Two units of level `level` whose dictionary columns have
    /// `|cos(v_a, v_b)| > cos` spend the width of one feature: the
    /// signed-mixture failure, e.g. `v_a ~ f_4` and `v_b ~ -0.94 f_4 + 0.30
    /// f_1`, with a third unit mixing the remaining features. Of each such
    /// pair (by decreasing |cos|, every unit at most once) the unit with the
    /// longer column is redrawn as at initialisation: its rows of `W_l`
    /// (one per root patch or child position) unit Gaussian rows, its
    /// thresholds at `init_bias` standard deviations above the mean of the
    /// new pre-activations (at levels >= 2 measured on the learner's own
    /// level below, as [`Self::calibrate_thresholds`]), its noise weights
    /// 0 and a fresh unit dictionary column. Only the learner's own
    /// parameters are read. Returns the redrawn units (0-based).
    pub fn restart_duplicates(
        &mut self,
        level: usize,
        cos: f64,
        init_bias: f64,
        rng: &mut impl Rng,
    ) -> Vec<usize> {
        let lv = &self.levels[level - 1];
        let m = lv.width;
        let norms: Vec<f64> = lv.v.column_iter().map(|c| c.norm()).collect();
        let mut pairs = Vec::new();
        for a in 0..m {
            for b in a + 1..m {
                let denom = norms[a] * norms[b];
                if denom > 0.0 {
                    let c = (lv.v.column(a).dot(&lv.v.column(b)) / denom).abs();
                    if c > cos {
                        pairs.push((c, a, b));
                    }
                }
            }
        }
        pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
        let mut taken = vec![false; m];
        let mut redraw = Vec::new();
        for (_, a, b) in pairs {
            if !taken[a] && !taken[b] {
                taken[a] = true;
                taken[b] = true;
                redraw.push(if norms[a] >= norms[b] { a } else { b });
            }
        }
        redraw.sort_unstable();
        if redraw.is_empty() {
            return redraw;
        }
        let s_prev = self.own_below(level, rng);
        let n = self.geometry.patch_dim();
        let projects = self.projects(level);
        for &u in &redraw {
            let mut v = nn::randn(n, 1, 1.0, rng);
            if projects {
                v = &self.proj * v;
            }
            let nrm = v.norm();
            let lv = &mut self.levels[level - 1];
            lv.v.set_column(u, &(v.column(0) / nrm.max(f64::MIN_POSITIVE)));
            for row in lv.unit_rows(u) {
                lv.redraw_row(row, s_prev.as_ref(), init_bias, rng);
            }
        }
        redraw
    }

    /// The learner's own level `level - 1` features over fresh latents
    /// (`None` at level 1): the inputs on which a redrawn row's threshold
    /// is calibrated, as in [`Self::calibrate_thresholds`].
    fn own_below(&self, level: usize, rng: &mut impl Rng) -> Option<DMatrix<f64>> {
        (level >= 2).then(|| {
            let z = nn::randn(self.latent_dim, Self::CALIBRATION_DRAWS, 1.0, rng);
            let mut s = self.hidden_first(&z);
            for l in 2..level {
                s = self.hidden_next(l, &s, None);
            }
            s
        })
    }

    /// Adds to `counts[l - 1][row]` the number of patches of the last
    /// forward pass on which stacked row `row` of level `l` (unit `u` at
    /// root patch / child position `p`, row `p m' + u`) was active, S > 0.
    /// `counts` is resized to the generator's rows.
    pub fn count_active(&self, counts: &mut Vec<Vec<u64>>) {
        counts.resize_with(self.levels.len(), Vec::new);
        for (i, (lv, cnt)) in self.levels.iter().zip(counts.iter_mut()).enumerate() {
            let rows = lv.w.nrows();
            cnt.resize(rows, 0);
            let Some(s) = self.cache.s.get(i) else {
                continue;
            };
            // S (m'_l x B P_l) has the memory of the stacked rows x (B P_{l-1}).
            for col in s.as_slice().chunks_exact(rows) {
                for (c, &v) in cnt.iter_mut().zip(col) {
                    *c += u64::from(v > 0.0);
                }
            }
        }
    }

    /// Dead-row revival (`training.restarts.dead`): rows of the stacked
    /// `W_l` that were never active (`counts`, from [`Self::count_active`]
    /// since the last check) are redrawn as at initialisation
    /// ([`FsrLevel::redraw_row`]). A dead row passes no gradient, so without
    /// this it stays dead: its unit never renders its feature at that child
    /// position (the largest part of the super-resolution error in 17 of
    /// 20 L = 3 runs, docs/recipe.md sixth session). Returns the rows.
    pub fn revive_dead_rows(
        &mut self,
        level: usize,
        counts: &[u64],
        init_bias: f64,
        rng: &mut impl Rng,
    ) -> Vec<usize> {
        let dead: Vec<usize> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == 0)
            .map(|(r, _)| r)
            .collect();
        if !dead.is_empty() {
            let s_prev = self.own_below(level, rng);
            for &row in &dead {
                self.levels[level - 1].redraw_row(row, s_prev.as_ref(), init_bias, rng);
            }
        }
        dead
    }

    /// Points the dictionary columns of `units` (level `level`, 0-based
    /// units, e.g. just restarted) at what the level's other atoms leave
    /// unexplained in real data (`training.restarts.atom = "residual"`).
    /// `x` holds real level-`level` patches, `n x N` (the batched layout).
    /// With D = P x (P the detail projector for pyramid levels >= 2, whose
    /// coarse part is the block-constant upsampled parent; else the
    /// identity) and Q an orthonormal basis of the kept atoms' span:
    ///
    ///   R = D − Q Qᵀ D                    n x N, the unexplained part
    ///   u = top eigenvector of R Rᵀ       n x n (n = patch dimension)
    ///
    /// signed so that Σ_k (uᵀ r_k)³ > 0 (hidden features are >= 0, so a
    /// feature's coefficients are positively skewed). Each new atom joins Q
    /// before the next unit's. A unit keeps its column when the residual
    /// is numerically zero (the kept atoms span the data).
    pub fn aim_units(&mut self, level: usize, units: &[usize], x: &DMatrix<f64>) {
        let projects = self.projects(level);
        let d = self.detail(level, x);
        let total = d.norm_squared();
        let lv = &mut self.levels[level - 1];
        let mut basis: Vec<DVector<f64>> = Vec::new();
        let add = |basis: &mut Vec<DVector<f64>>, v: DVector<f64>| {
            // Modified Gram–Schmidt; a column already in the span adds nothing.
            let mut r = v;
            for q in basis.iter() {
                let c = q.dot(&r);
                r.axpy(-c, q, 1.0);
            }
            let nrm = r.norm();
            if nrm > 1e-8 {
                basis.push(r / nrm);
            }
        };
        for j in (0..lv.width).filter(|j| !units.contains(j)) {
            let c = lv.v.column(j);
            if c.norm() > 0.0 {
                add(&mut basis, c.normalize());
            }
        }
        for &u in units {
            let mut r = d.clone();
            for q in &basis {
                // 1 x n times n x N: the data's coordinates along q.
                let coords = q.transpose() * &r;
                r -= q * coords;
            }
            // n x N times N x n.
            let cov = &r * r.transpose();
            let eig = nalgebra::SymmetricEigen::new(cov);
            let (k, &top) = eig
                .eigenvalues
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("a patch has at least one value");
            if top.is_nan() || top <= 1e-12 * total {
                continue;
            }
            let mut atom: DVector<f64> = eig.eigenvectors.column(k).into_owned();
            // 1 x n times n x N.
            let skew: f64 = (atom.transpose() * &r).iter().map(|c| c * c * c).sum();
            if skew < 0.0 {
                atom.neg_mut();
            }
            if projects {
                atom = &self.proj * atom;
            }
            let atom = atom.normalize();
            lv.v.set_column(u, &atom);
            add(&mut basis, atom);
        }
    }

    /// Copies unit `u` of level `level` (its rows of `W_l`, thresholds,
    /// noise weights and dictionary column) from `from`: the parameter
    /// average takes a restarted unit as it is rather than averaging it with
    /// the unit it replaced.
    pub fn copy_unit(&mut self, from: &FsrGenerator, level: usize, u: usize) {
        let rows: Vec<usize> = self.levels[level - 1].unit_rows(u).collect();
        self.copy_rows(from, level, &rows);
        self.levels[level - 1]
            .v
            .set_column(u, &from.levels[level - 1].v.column(u));
    }

    /// Copies rows `rows` of the stacked `W_l`, `N_l` and `b_l` from `from`
    /// (a revived dead row, for the parameter average).
    pub fn copy_rows(&mut self, from: &FsrGenerator, level: usize, rows: &[usize]) {
        let (dst, src) = (&mut self.levels[level - 1], &from.levels[level - 1]);
        for &row in rows {
            dst.w.set_row(row, &src.w.row(row));
            dst.noise.set_row(row, &src.noise.row(row));
            dst.b[row] = src.b[row];
        }
    }

    /// The learner's reading of real level-`level` patches `x` (`n x N`):
    /// least-squares coefficients of their detail part on its own atoms,
    ///
    ///   Ŝ = V_l⁺ D x                     (m'_l x n)(n x n)(n x N) = m'_l x N
    ///
    /// (D the detail projector at pyramid levels >= 2, else the identity).
    /// When the atoms are the true features (the target's are a basis of
    /// the detail subspace), Ŝ is the true hidden state up to the matching's
    /// scales.
    pub fn decode(&self, level: usize, x: &DMatrix<f64>) -> DMatrix<f64> {
        let v = &self.levels[level - 1].v;
        let pinv = v.clone().pseudo_inverse(1e-10).unwrap_or_else(|_| v.transpose());
        // m' x n times n x N.
        pinv * self.detail(level, x)
    }

    /// The detail part `D x` of level-`level` patches `x` (`n x N`): the
    /// projection onto the zero-block-mean subspace at pyramid levels >= 2
    /// (n x n times n x N), `x` itself elsewhere.
    fn detail(&self, level: usize, x: &DMatrix<f64>) -> DMatrix<f64> {
        if self.projects(level) {
            &self.proj * x
        } else {
            x.clone()
        }
    }

    /// Refits rows `rows` of the stacked `W_l` (`level >= 2`) and their
    /// thresholds on real data (`training.refit`): with
    /// the learner's readings Ŝ_{l−1} = decode(x_prev) (`m'_{l−1} x N_prev`)
    /// and Ŝ_l = decode(x) (`m'_l x (N_prev r)`, column `c r + p` is child
    /// `p` of parent column `c`), row `p m' + u` solves the least squares
    ///
    ///   min_{w, b} Σ_{c ∈ A} (w · Ŝ_{l−1}[:, c] − b − Ŝ_l[u, c r + p])²
    ///
    /// over the parents A where the reading of unit `u` at child `p` is on
    /// (above `on` times its largest value): there the true map is linear,
    /// S = W S_prev − b. Patches off in the reading that the fit turns on
    /// join the sum (target: their reading clipped at 0) and the fit is
    /// repeated, until the fit is on only where the reading is on (at most
    /// [`Self::REFIT_ROUNDS`] fits). Noise weights are zeroed. A row with no
    /// more on-patches than unknowns is left as it is. Returns the rows
    /// refitted.
    pub fn refit_rows(
        &mut self,
        level: usize,
        rows: &[usize],
        x_prev: &DMatrix<f64>,
        x: &DMatrix<f64>,
        on: f64,
    ) -> Vec<usize> {
        let s_prev = self.decode(level - 1, x_prev);
        let s = self.decode(level, x);
        let lv = &mut self.levels[level - 1];
        let (m, k) = (lv.width, s_prev.nrows());
        let r = lv.w.nrows() / m;
        let mut done = Vec::new();
        for &row in rows {
            let (p, u) = (row / m, row % m);
            let y: Vec<f64> = (0..s_prev.ncols()).map(|c| s[(u, c * r + p)]).collect();
            let top = y.iter().copied().fold(0.0, f64::max);
            let act: Vec<usize> = (0..y.len()).filter(|&c| y[c] > on * top).collect();
            if top <= 0.0 || act.len() <= k + 1 {
                continue;
            }
            // Patches off in the reading where the fit is on are added
            // with their reading (clipped at 0) as target, until none is
            // left: the fit must also keep the unit off where it is off
            // (an input unit never on together with this one leaves its
            // weight unseen by the on-patches alone).
            let mut in_fit = vec![false; y.len()];
            act.iter().for_each(|&c| in_fit[c] = true);
            let mut eqs = act;
            let mut fit = None;
            for _ in 0..Self::REFIT_ROUNDS {
                // |E| x (m'_{l-1} + 1): rows [ŝ_prev^T, -1].
                let a = DMatrix::from_fn(
                    eqs.len(),
                    k + 1,
                    |i, j| if j < k { s_prev[(j, eqs[i])] } else { -1.0 },
                );
                let yv = DVector::from_iterator(eqs.len(), eqs.iter().map(|&c| y[c].max(0.0)));
                let Ok(sol) = a.svd(true, true).solve(&yv, 1e-10) else {
                    break;
                };
                // 1 x (m'_{l-1} + 1) times (m'_{l-1} + 1) x N_prev: the fit's pre-activations.
                let pre = sol.rows(0, k).transpose() * &s_prev;
                let wrong: Vec<usize> = (0..y.len())
                    .filter(|&c| !in_fit[c] && pre[c] - sol[k] > 0.0)
                    .collect();
                fit = Some(sol);
                if wrong.is_empty() {
                    break;
                }
                for c in wrong {
                    in_fit[c] = true;
                    eqs.push(c);
                }
            }
            let Some(sol) = fit else {
                continue;
            };
            lv.w.row_mut(row).copy_from(&sol.rows(0, k).transpose());
            lv.b[row] = sol[k];
            lv.noise.row_mut(row).fill(0.0);
            done.push(row);
        }
        done
    }

    /// Most fits per row in [`Self::refit_rows`]: each adds the off patches
    /// the last fit turned on; a bound against slow growth, not a tuned
    /// number.
    const REFIT_ROUNDS: usize = 10;

    /// Rebuilds the geometry-derived matrices (after deserialisation).
    fn prepare(&mut self) {
        if self.up.nrows() > 0 {
            return;
        }
        let n = self.geometry.patch_dim();
        self.up = self.geometry.upsample_stack();
        self.up_src = upsample_sources(&self.up);
        self.up_inv = upsample_inverse(&self.up_src, n);
        self.proj = if self.geometry.fanout > 1 {
            let q = self.geometry.detail_basis();
            &q * q.transpose()
        } else {
            DMatrix::identity(n, n)
        };
    }

    /// True when level `l`'s dictionary is kept in the detail subspace.
    fn projects(&self, l: usize) -> bool {
        self.output == OutputMode::Pyramid && l >= 2 && self.geometry.fanout > 1
    }

    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }

    /// Dictionary `V_l` (`n x m'_l`), 1-based level.
    pub fn dictionary(&self, level: usize) -> &DMatrix<f64> {
        &self.levels[level - 1].v
    }

    /// `S_1 = ReLU(W_1 z - b_1)` for `z` (`m'_0 x B`), as `m'_1 x (B P_1)`.
    pub fn hidden_first(&self, z: &DMatrix<f64>) -> DMatrix<f64> {
        let lv = &self.levels[0];
        // (P_1 m'_1) x m'_0 times m'_0 x B, read as m'_1 x (B P_1).
        let mut pre = &lv.w * z;
        relu_minus_bias(pre.as_mut_slice(), lv.b.as_slice());
        let cols = pre.len() / lv.width;
        pre.reshape_generic(nalgebra::Dyn(lv.width), nalgebra::Dyn(cols))
    }

    /// The learner's level map (`level >= 2`): `S_l = ReLU(W_l S_{l-1} +
    /// N_l zeta - b_l)`, `m'_{l-1} x (B P_{l-1})` in, `m'_l x (B P_l)` out;
    /// `zeta = None` drops the noise input (its mean, 0).
    pub fn hidden_next(
        &self,
        level: usize,
        s_prev: &DMatrix<f64>,
        zeta: Option<&DMatrix<f64>>,
    ) -> DMatrix<f64> {
        let lv = &self.levels[level - 1];
        // (r m'_l) x m'_{l-1} times m'_{l-1} x (B P_{l-1}) = (r m'_l) x (B P_{l-1}).
        let mut pre = &lv.w * s_prev;
        if let Some(zeta) = zeta
            && lv.noise.ncols() > 0
        {
            gemm(&mut pre, 1.0, &lv.noise, zeta, 1.0);
        }
        relu_minus_bias(pre.as_mut_slice(), lv.b.as_slice());
        let cols = pre.len() / lv.width;
        pre.reshape_generic(nalgebra::Dyn(lv.width), nalgebra::Dyn(cols))
    }

    /// Pixels of level `l` from hidden features `s` (`m'_l x (B P_l)`):
    /// `V_l S_l`, plus `Up(X_{l-1})` in pyramid mode when `x_prev` is given.
    pub fn render(&self, level: usize, s: &DMatrix<f64>, x_prev: Option<&DMatrix<f64>>) -> DMatrix<f64> {
        let n = self.geometry.patch_dim();
        let mut x = DMatrix::zeros(n, s.ncols());
        if let (OutputMode::Pyramid, Some(xp), true) = (self.output, x_prev, level >= 2) {
            let up = self.upsample_matrix();
            // (r n) x n times n x (B P_{l-1}), written as n x (B P_l).
            let cols = xp.ncols();
            gemm(
                &mut view_mut(x.as_mut_slice(), up.nrows(), cols),
                1.0,
                &up,
                xp,
                0.0,
            );
        }
        gemm(&mut x, 1.0, &self.levels[level - 1].v, s, 1.0);
        x
    }

    fn upsample_matrix(&self) -> DMatrix<f64> {
        if self.up.nrows() > 0 {
            self.up.clone()
        } else {
            self.geometry.upsample_stack()
        }
    }

    /// Draws `batch` samples (allocating; for metrics and `generate`).
    pub fn sample(&self, batch: usize, rng: &mut impl Rng) -> GenSample {
        let z = randn(self.latent_dim, batch, 1.0, rng);
        let mut xs: Vec<DMatrix<f64>> = Vec::with_capacity(self.num_levels());
        let mut ss: Vec<DMatrix<f64>> = Vec::with_capacity(self.num_levels());
        for l in 1..=self.num_levels() {
            let s = if l == 1 {
                self.hidden_first(&z)
            } else {
                let prev = &ss[l - 2];
                if self.noise_dim > 0 {
                    let zeta = randn(self.noise_dim, prev.ncols(), 1.0, rng);
                    self.hidden_next(l, prev, Some(&zeta))
                } else {
                    self.hidden_next(l, prev, None)
                }
            };
            let x = self.render(l, &s, xs.last());
            xs.push(x);
            ss.push(s);
        }
        GenSample {
            size: batch,
            x: xs,
            s: ss,
        }
    }

    /// Draws the latent and noise inputs of a training batch into the buffers.
    pub fn draw_inputs(&mut self, batch: usize, rng: &mut impl Rng) {
        let c = &mut self.cache;
        c.batch = batch;
        ensure(&mut c.z, self.latent_dim, batch);
        fill_randn(c.z.as_mut_slice(), rng);
        c.zeta.resize_with(self.levels.len(), || DMatrix::zeros(0, 0));
        for l in 2..=self.levels.len() {
            let cols = batch * self.geometry.patches(l - 1);
            ensure(&mut c.zeta[l - 1], self.noise_dim, cols);
            fill_randn(c.zeta[l - 1].as_mut_slice(), rng);
        }
    }

    /// Sets the inputs explicitly (tests): `z` is `m'_0 x B`, `zeta[l-1]` is
    /// `q x (B P_{l-1})` for `l >= 2` (entry 0 ignored).
    pub fn set_inputs(&mut self, z: &DMatrix<f64>, zeta: &[DMatrix<f64>]) {
        let c = &mut self.cache;
        c.batch = z.ncols();
        c.z.clone_from(z);
        c.zeta.resize_with(self.levels.len(), || DMatrix::zeros(0, 0));
        for l in 2..=self.levels.len() {
            c.zeta[l - 1].clone_from(&zeta[l - 1]);
        }
    }

    /// Buffered forward pass on the stored inputs; outputs via [`Self::outputs`].
    pub fn forward(&mut self) {
        self.prepare();
        let geo = &self.geometry;
        let n = geo.patch_dim();
        let b = self.cache.batch;
        let nl = self.levels.len();
        let c = &mut self.cache;
        c.pre.resize_with(nl, || DMatrix::zeros(0, 0));
        c.s.resize_with(nl, || DMatrix::zeros(0, 0));
        c.x.resize_with(nl, || DMatrix::zeros(0, 0));
        for i in 0..nl {
            let l = i + 1;
            let lv = &self.levels[i];
            let cols = b * geo.patches(l);
            ensure(&mut c.pre[i], lv.width, cols);
            ensure(&mut c.s[i], lv.width, cols);
            ensure(&mut c.x[i], n, cols);
            let rows = lv.w.nrows();
            {
                let (s_lo, _) = c.s.split_at(i);
                let input = if l == 1 { &c.z } else { &s_lo[i - 1] };
                // Stacked pre-activation: rows x (B P_{l-1}) (level 1: rows x B).
                let mut pre = view_mut(c.pre[i].as_mut_slice(), rows, input.ncols());
                // pre = W S_prev   [rows x m'_{l-1}][m'_{l-1} x B P_{l-1}]
                gemm(&mut pre, 1.0, &lv.w, input, 0.0);
                if l >= 2 && lv.noise.ncols() > 0 {
                    // pre += N zeta   [rows x q][q x B P_{l-1}]
                    gemm(&mut pre, 1.0, &lv.noise, &c.zeta[i], 1.0);
                }
            }
            // pre -= b 1^T and S = ReLU(pre) in one pass (same memory order).
            bias_relu(c.pre[i].as_mut_slice(), c.s[i].as_mut_slice(), lv.b.as_slice());
            let (x_lo, x_hi) = c.x.split_at_mut(i);
            let x = &mut x_hi[0];
            let pyramid = self.output == OutputMode::Pyramid && l >= 2;
            if pyramid {
                // Up(X_{l-1}) written as n x (B P_l): the 0/1 product
                // [(r n) x n][n x B P_{l-1}] is a gather (bit-identical).
                upsample_gather(&self.up_src, x_lo[i - 1].as_slice(), x.as_mut_slice(), n);
            }
            // X_l (+)= V_l S_l   [n x m'_l][m'_l x B P_l]
            gemm(x, 1.0, &lv.v, &c.s[i], if pyramid { 1.0 } else { 0.0 });
        }
    }

    /// Outputs of the last forward pass, per level `n x (B P_l)`.
    pub fn outputs(&self) -> &[DMatrix<f64>] {
        &self.cache.x
    }

    /// Hidden features of the last forward pass, per level `m'_l x (B P_l)`.
    pub fn hidden(&self) -> &[DMatrix<f64>] {
        &self.cache.s
    }

    /// Backward after [`Self::forward`]. `dx[l-1] = dL/dX_l` from the
    /// discriminators (`n x (B P_l)`, zeros where no D looks); it is
    /// overwritten with the total derivative (the pyramid adds the paths
    /// through `Up`). Fills the parameter gradients:
    /// - pyramid: `dX_{l-1} += Up^T stack(dX_l)`: `[n x rn][rn x B P_{l-1}]`;
    /// - `dV_l = dX_l S_l^T`: `[n x B P_l][B P_l x m'_l]`;
    /// - `dS_l = V_l^T dX_l (+ W_{l+1}^T dPre_{l+1}, stacked)`: `[m' x n][n x B P_l]`;
    /// - `dPre_l = dS_l ⊙ 1[pre_l > 0]`, read stacked `rows x (B P_{l-1})`;
    /// - `db_l = -dPre_l 1`; `dW_l = dPre_l S_{l-1}^T` (`z^T` at level 1):
    ///   `[rows x B P_{l-1}][B P_{l-1} x m'_{l-1}]`; `dN_l = dPre_l zeta_l^T`;
    /// - `dS_{l-1} = W_l^T dPre_l`: `[m'_{l-1} x rows][rows x B P_{l-1}]`.
    pub fn backward(&mut self, dx: &mut [DMatrix<f64>]) {
        self.backward_with(dx, LevelGrads::All);
    }

    /// [`Self::backward`] with the paths between levels that `grads` cuts
    /// (`training.level_grads`; per level the products are the same):
    /// - `All`: none (the total derivative);
    /// - `Pixels`: the hidden chain `dS_{l-1} += W_l^T dPre_l` is cut, so a
    ///   level's hidden features are trained only through its own pixels
    ///   `X_l` (by every D that reads `X_l`, directly or through `Up`);
    /// - `Own`: the pyramid path `dX_{l-1} += Up^T dX_l` is cut too, so
    ///   level `l`'s parameters see `dX_l` through `V_l S_l` alone.
    pub fn backward_with(&mut self, dx: &mut [DMatrix<f64>], grads: LevelGrads) {
        let hidden_chain = grads == LevelGrads::All;
        let pyramid_chain = grads != LevelGrads::Own;
        let nl = self.levels.len();
        let n = self.geometry.patch_dim();
        let c = &mut self.cache;
        c.ds.resize_with(nl, || DMatrix::zeros(0, 0));
        for i in (0..nl).rev() {
            let l = i + 1;
            if pyramid_chain && self.output == OutputMode::Pyramid && l < nl {
                let (lo, hi) = dx.split_at_mut(i + 1);
                // dX_l += Up^T stack(dX_{l+1})   [n x rn][rn x B P_l], as a
                // scatter-add of the 0/1 matrix's nonzeros.
                upsample_scatter_add(&self.up_inv, hi[0].as_slice(), lo[i].as_mut_slice(), n);
            }
            let lv = &mut self.levels[i];
            let m = lv.width;
            let rows = lv.w.nrows();
            ensure(&mut lv.gv, n, m);
            // dV = dX S^T
            gemm(&mut lv.gv, 1.0, &dx[i], &MatRef::of(&c.s[i]).t(), 0.0);
            // dS (+)= V^T dX
            let beta = if hidden_chain && l < nl { 1.0 } else { 0.0 };
            ensure(&mut c.ds[i], m, dx[i].ncols());
            gemm(&mut c.ds[i], 1.0, &MatRef::of(&lv.v).t(), &dx[i], beta);
            // dPre = dS ⊙ 1[pre > 0] (in place in ds[i]); db = -dPre 1 (one pass).
            nn::ensure_vec(&mut lv.gb, rows);
            relu_mask_bias_grad(c.ds[i].as_mut_slice(), c.pre[i].as_slice(), lv.gb.as_mut_slice());
            let (ds_lo, ds_hi) = c.ds.split_at_mut(i);
            let dpre = MatRef::of(&ds_hi[0]).reshaped(rows);
            let input = if l == 1 { &c.z } else { &c.s[i - 1] };
            ensure(&mut lv.gw, rows, input.nrows());
            // dW = dPre S_prev^T
            gemm(&mut lv.gw, 1.0, &dpre.v(), &MatRef::of(input).t(), 0.0);
            ensure(&mut lv.gn, rows, lv.noise.ncols());
            if l >= 2 && lv.noise.ncols() > 0 {
                // dN = dPre zeta^T
                gemm(&mut lv.gn, 1.0, &dpre.v(), &MatRef::of(&c.zeta[i]).t(), 0.0);
            }
            if hidden_chain && l >= 2 {
                ensure(&mut ds_lo[i - 1], input.nrows(), input.ncols());
                // dS_{l-1} = W^T dPre
                gemm(&mut ds_lo[i - 1], 1.0, &MatRef::of(&lv.w).t(), &dpre.v(), 0.0);
            }
        }
    }

    /// Keeps pyramid dictionaries in the detail subspace (module docs).
    pub fn after_step(&mut self) {
        self.prepare();
        for i in 0..self.levels.len() {
            if self.projects(i + 1) {
                let tmp = &mut self.cache.tmp_v;
                let v = &mut self.levels[i].v;
                ensure(tmp, v.nrows(), v.ncols());
                gemm(tmp, 1.0, &self.proj, v, 0.0);
                v.copy_from(tmp);
            }
        }
    }

    fn check_shapes(&self) -> Result<(), String> {
        let g = &self.geometry;
        let n = g.patch_dim();
        if self.levels.len() != g.levels {
            return Err(format!(
                "{} levels, geometry says {}",
                self.levels.len(),
                g.levels
            ));
        }
        for (i, lv) in self.levels.iter().enumerate() {
            let l = i + 1;
            let (rows, inp) = if l == 1 {
                (g.root_patches * lv.width, self.latent_dim)
            } else {
                (g.fanout * lv.width, self.levels[i - 1].width)
            };
            let q = if l == 1 { 0 } else { self.noise_dim };
            if lv.w.shape() != (rows, inp)
                || lv.b.len() != rows
                || lv.v.shape() != (n, lv.width)
                || lv.noise.shape() != (rows, q)
            {
                return Err(format!("level {l}"));
            }
        }
        Ok(())
    }
}

impl Params for FsrGenerator {
    fn visit(&mut self, f: &mut dyn FnMut(&mut [f64], &[f64])) {
        for lv in &mut self.levels {
            ensure(&mut lv.gw, lv.w.nrows(), lv.w.ncols());
            nn::ensure_vec(&mut lv.gb, lv.b.len());
            ensure(&mut lv.gn, lv.noise.nrows(), lv.noise.ncols());
            ensure(&mut lv.gv, lv.v.nrows(), lv.v.ncols());
            f(lv.w.as_mut_slice(), lv.gw.as_slice());
            f(lv.b.as_mut_slice(), lv.gb.as_slice());
            f(lv.noise.as_mut_slice(), lv.gn.as_slice());
            f(lv.v.as_mut_slice(), lv.gv.as_slice());
        }
    }
    fn visit_values(&self, f: &mut dyn FnMut(&[f64])) {
        for lv in &self.levels {
            f(lv.w.as_slice());
            f(lv.b.as_slice());
            f(lv.noise.as_slice());
            f(lv.v.as_slice());
        }
    }
}

/// `pre <- pre - b` and `s = max(pre, 0)`, `b` cycling over the rows of the
/// stacked layout.
fn bias_relu(pre: &mut [f64], s: &mut [f64], b: &[f64]) {
    if b.is_empty() {
        return;
    }
    for (pc, sc) in pre.chunks_exact_mut(b.len()).zip(s.chunks_exact_mut(b.len())) {
        for ((p, s), bi) in pc.iter_mut().zip(sc.iter_mut()).zip(b) {
            *p -= bi;
            *s = p.max(0.0);
        }
    }
}

/// `d <- d ⊙ 1[pre > 0]` and `gb = -(d 1)` over the stacked rows (`gb.len()`).
fn relu_mask_bias_grad(d: &mut [f64], pre: &[f64], gb: &mut [f64]) {
    gb.fill(0.0);
    if gb.is_empty() {
        return;
    }
    let rows = gb.len();
    for (dc, pc) in d.chunks_exact_mut(rows).zip(pre.chunks_exact(rows)) {
        for ((d, p), g) in dc.iter_mut().zip(pc).zip(gb.iter_mut()) {
            if *p <= 0.0 {
                *d = 0.0;
            }
            *g += *d;
        }
    }
    gb.iter_mut().for_each(|g| *g = -*g);
}

/// Source row of each row of the 0/1 upsampling stack (`(r n)` entries).
fn upsample_sources(up: &DMatrix<f64>) -> Vec<usize> {
    (0..up.nrows())
        .map(|i| (0..up.ncols()).find(|&k| up[(i, k)] != 0.0).unwrap_or(0))
        .collect()
}

/// `x = Up(xp)`: column `q` of `xp` (`n` values) blown up into the `r`
/// child columns `q r .. q r + r - 1` of `x`.
fn upsample_gather(src: &[usize], xp: &[f64], x: &mut [f64], n: usize) {
    let rn = src.len();
    if n == 0 || rn == 0 {
        return;
    }
    for (pc, xc) in xp.chunks_exact(n).zip(x.chunks_exact_mut(rn)) {
        for (o, &k) in xc.iter_mut().zip(src) {
            *o = pc[k];
        }
    }
}

/// Rows of the upsampling stack grouped by source value: entries `k r ..
/// k r + r - 1` are the rows reading parent value `k`, increasing.
fn upsample_inverse(src: &[usize], n: usize) -> Vec<usize> {
    let mut inv = Vec::with_capacity(src.len());
    for k in 0..n {
        inv.extend((0..src.len()).filter(|&i| src[i] == k));
    }
    inv
}

/// `dxp += Up^T stack(dx)`: each parent value receives the sum of its child
/// values, in increasing stacked-row order (the order of the 0/1 product).
fn upsample_scatter_add(inv: &[usize], dx: &[f64], dxp: &mut [f64], n: usize) {
    let rn = inv.len();
    if n == 0 || rn == 0 {
        return;
    }
    let r = rn / n;
    for (pc, dc) in dxp.chunks_exact_mut(n).zip(dx.chunks_exact(rn)) {
        for (p, rows) in pc.iter_mut().zip(inv.chunks_exact(r)) {
            let mut acc = 0.0;
            for &i in rows {
                acc += dc[i];
            }
            *p += acc;
        }
    }
}

/// `x <- max(x - b, 0)` with `b` cycling over the rows of the stacked layout.
fn relu_minus_bias(x: &mut [f64], b: &[f64]) {
    if b.is_empty() {
        return;
    }
    for col in x.chunks_exact_mut(b.len()) {
        for (v, bi) in col.iter_mut().zip(b) {
            *v = (*v - bi).max(0.0);
        }
    }
}

fn fill_randn(x: &mut [f64], rng: &mut impl Rng) {
    use rand_distr::{Distribution, StandardNormal};
    for v in x {
        *v = StandardNormal.sample(rng);
    }
}

/// `x = MLP(z)` for flat data (one level, `d x B`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MlpGenerator {
    pub latent_dim: usize,
    pub net: Mlp,
    #[serde(skip)]
    z: DMatrix<f64>,
    #[serde(skip)]
    x: Vec<DMatrix<f64>>,
}

impl MlpGenerator {
    /// `z (latent) -> hidden... -> d`, hidden activation `act`, linear output.
    pub fn new(latent_dim: usize, hidden: &[usize], dim: usize, act: Activation, rng: &mut impl Rng) -> Self {
        let mut sizes = vec![latent_dim];
        sizes.extend_from_slice(hidden);
        sizes.push(dim);
        MlpGenerator {
            latent_dim,
            net: Mlp::new(&sizes, act, Activation::Identity, rng),
            z: DMatrix::zeros(0, 0),
            x: Vec::new(),
        }
    }

    pub fn dim(&self) -> usize {
        self.net.outputs()
    }
}

/// `x = A z`, `A` is `d x k` (rank `k`), `z ~ N(0, I_k)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearGenerator {
    pub a: DMatrix<f64>,
    #[serde(skip)]
    ga: DMatrix<f64>,
    #[serde(skip)]
    z: DMatrix<f64>,
    #[serde(skip)]
    x: Vec<DMatrix<f64>>,
}

impl LinearGenerator {
    pub fn new(dim: usize, rank: usize, rng: &mut impl Rng) -> Self {
        LinearGenerator {
            a: randn(dim, rank, (1.0 / rank.max(1) as f64).sqrt(), rng),
            ga: DMatrix::zeros(0, 0),
            z: DMatrix::zeros(0, 0),
            x: Vec::new(),
        }
    }
}

/// Any generator the trainer can drive; serialises (tagged by `kind`) as a
/// JSON checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Generator {
    Fsr(FsrGenerator),
    Mlp(MlpGenerator),
    Linear(LinearGenerator),
}

impl Generator {
    /// Levels it outputs (1 for flat data).
    pub fn num_levels(&self) -> usize {
        match self {
            Generator::Fsr(g) => g.num_levels(),
            _ => 1,
        }
    }

    /// Values per patch (`n`), or the data dimension for flat generators.
    pub fn patch_dim(&self) -> usize {
        match self {
            Generator::Fsr(g) => g.geometry.patch_dim(),
            Generator::Mlp(g) => g.dim(),
            Generator::Linear(g) => g.a.nrows(),
        }
    }

    /// Latent dimension.
    pub fn latent_dim(&self) -> usize {
        match self {
            Generator::Fsr(g) => g.latent_dim,
            Generator::Mlp(g) => g.latent_dim,
            Generator::Linear(g) => g.a.ncols(),
        }
    }

    /// The `fsr` generator, if this is one.
    pub fn as_fsr(&self) -> Option<&FsrGenerator> {
        match self {
            Generator::Fsr(g) => Some(g),
            _ => None,
        }
    }

    /// The `fsr` generator, if this is one (mutable).
    pub fn as_fsr_mut(&mut self) -> Option<&mut FsrGenerator> {
        match self {
            Generator::Fsr(g) => Some(g),
            _ => None,
        }
    }

    /// Dictionary of level `l` (1-based): `V_l` for `fsr`, `A` for `linear`,
    /// the last layer's weights for `mlp`.
    pub fn dictionary(&self, level: usize) -> &DMatrix<f64> {
        match self {
            Generator::Fsr(g) => g.dictionary(level),
            Generator::Mlp(g) => &g.net.layers[g.net.layers.len() - 1].w,
            Generator::Linear(g) => &g.a,
        }
    }

    /// Draws `batch` samples (allocating; `&self`, so usable from the
    /// evaluation callback).
    pub fn sample(&self, batch: usize, rng: &mut impl Rng) -> GenSample {
        match self {
            Generator::Fsr(g) => g.sample(batch, rng),
            Generator::Mlp(g) => {
                let z = randn(g.latent_dim, batch, 1.0, rng);
                let mut net = g.net.clone();
                let x = net.forward(MatRef::of(&z)).clone();
                GenSample {
                    size: batch,
                    x: vec![x],
                    s: Vec::new(),
                }
            }
            Generator::Linear(g) => {
                let z = randn(g.a.ncols(), batch, 1.0, rng);
                GenSample {
                    size: batch,
                    x: vec![&g.a * z],
                    s: Vec::new(),
                }
            }
        }
    }

    /// Draws a training batch's inputs into the internal buffers.
    pub fn draw_inputs(&mut self, batch: usize, rng: &mut impl Rng) {
        match self {
            Generator::Fsr(g) => g.draw_inputs(batch, rng),
            Generator::Mlp(g) => {
                ensure(&mut g.z, g.latent_dim, batch);
                fill_randn(g.z.as_mut_slice(), rng);
            }
            Generator::Linear(g) => {
                ensure(&mut g.z, g.a.ncols(), batch);
                fill_randn(g.z.as_mut_slice(), rng);
            }
        }
    }

    /// Buffered forward on the drawn inputs; read with [`Self::outputs`].
    pub fn forward(&mut self) {
        match self {
            Generator::Fsr(g) => g.forward(),
            Generator::Mlp(g) => {
                g.x.resize_with(1, || DMatrix::zeros(0, 0));
                let out = g.net.forward(MatRef::of(&g.z));
                g.x[0].clone_from(out);
            }
            Generator::Linear(g) => {
                g.x.resize_with(1, || DMatrix::zeros(0, 0));
                ensure(&mut g.x[0], g.a.nrows(), g.z.ncols());
                // X = A Z   [d x k][k x B]
                gemm(&mut g.x[0], 1.0, &g.a, &g.z, 0.0);
            }
        }
    }

    /// Per-level outputs of the last forward pass.
    pub fn outputs(&self) -> &[DMatrix<f64>] {
        match self {
            Generator::Fsr(g) => g.outputs(),
            Generator::Mlp(g) => &g.x,
            Generator::Linear(g) => &g.x,
        }
    }

    /// Backward from `dL/dX_l` per level (see [`FsrGenerator::backward`];
    /// `dx` may be modified).
    pub fn backward(&mut self, dx: &mut [DMatrix<f64>]) {
        match self {
            Generator::Fsr(g) => g.backward(dx),
            Generator::Mlp(g) => g.net.backward(MatRef::of(&g.z), &dx[0], None),
            Generator::Linear(g) => {
                ensure(&mut g.ga, g.a.nrows(), g.a.ncols());
                // dA = dX Z^T   [d x B][B x k]
                gemm(&mut g.ga, 1.0, &dx[0], &MatRef::of(&g.z).t(), 0.0);
            }
        }
    }

    /// [`FsrGenerator::backward_with`]; the flat generators have one level,
    /// where every choice is the plain backward.
    pub fn backward_with(&mut self, dx: &mut [DMatrix<f64>], grads: LevelGrads) {
        match self {
            Generator::Fsr(g) => g.backward_with(dx, grads),
            _ => self.backward(dx),
        }
    }

    /// Post-step constraint (pyramid dictionaries back into the detail subspace).
    pub fn after_step(&mut self) {
        if let Generator::Fsr(g) = self {
            g.after_step();
        }
    }

    /// JSON checkpoint text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("generator parameters serialise")
    }

    /// Reads a checkpoint from JSON text (`path` only names it in errors).
    pub fn from_json(text: &str, path: &str) -> Result<Generator, CheckpointError> {
        let mut g: Generator = serde_json::from_str(text).map_err(|e| CheckpointError::Format {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        let shape_err = |reason: String| CheckpointError::Shape {
            path: path.to_string(),
            reason,
        };
        match &mut g {
            Generator::Fsr(f) => {
                f.check_shapes().map_err(shape_err)?;
                // The geometry-derived matrices are not serialised.
                f.prepare();
            }
            Generator::Mlp(m) => {
                let ok = m.net.layers.len() == m.net.acts.len()
                    && !m.net.layers.is_empty()
                    && m.net.inputs() == m.latent_dim
                    && m.net.layers.iter().all(|l| l.b.len() == l.w.nrows())
                    && m.net.layers.windows(2).all(|w| w[0].outputs() == w[1].inputs());
                if !ok {
                    return Err(shape_err("mlp layers do not chain".into()));
                }
            }
            Generator::Linear(_) => {}
        }
        if !g.all_finite() {
            return Err(shape_err("non-finite parameter".into()));
        }
        Ok(g)
    }

    /// Writes the JSON checkpoint to `path`.
    pub fn save(&self, path: &std::path::Path) -> Result<(), CheckpointError> {
        std::fs::write(path, self.to_json()).map_err(|e| CheckpointError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Loads a JSON checkpoint from `path`.
    pub fn load(path: &std::path::Path) -> Result<Generator, CheckpointError> {
        let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Generator::from_json(&text, &path.display().to_string())
    }
}

impl Params for Generator {
    fn visit(&mut self, f: &mut dyn FnMut(&mut [f64], &[f64])) {
        match self {
            Generator::Fsr(g) => g.visit(f),
            Generator::Mlp(g) => g.net.visit(f),
            Generator::Linear(g) => {
                ensure(&mut g.ga, g.a.nrows(), g.a.ncols());
                f(g.a.as_mut_slice(), g.ga.as_slice());
            }
        }
    }
    fn visit_values(&self, f: &mut dyn FnMut(&[f64])) {
        match self {
            Generator::Fsr(g) => g.visit_values(f),
            Generator::Mlp(g) => g.net.visit_values(f),
            Generator::Linear(g) => f(g.a.as_slice()),
        }
    }
}
