//! The C7 measurement (SPEC §4): on real multi-resolution data, how much of
//! the level-`l` detail `D_l = X_l - Up(X_{l-1})` is predicted from level
//! `l - 1`, for every `l >= 2`.
//!
//! # What is fitted
//! Every estimator is the same regression, only its inputs differ:
//! - the target is the detail patch of child `c` of parent `q`, in
//!   coordinates of the orthonormal detail basis (`Geometry::detail_basis`,
//!   so nothing is lost: the detail lives in that subspace);
//! - the input is a vector computed from the parent patch `X_{l-1,q}` of the
//!   same sample: the raw pixels ([`coarse_linear`]), sparse hidden
//!   features of it ([`hidden_features`]), or the raw pixels of the parent
//!   from ANOTHER sample ([`shuffled_control`]: a seeded derangement of the
//!   samples within each split, the same position `q`);
//! - one ridge least-squares map per child index `c` (equivalently one map
//!   on `onehot(c) ⊗ input`): each child sees a different quadrant of its
//!   parent, so a shared map would be wrong;
//! - both detail and inputs are first centred by their per-position means
//!   (patch `p`, resp. parent `q`) on the train split. So "explained" means
//!   beyond what the patch position alone predicts: a predictor that only
//!   knows where the patch is (e.g. digits are centred) scores 0, and the
//!   shuffled control is ~0 in expectation (slightly negative: the fitted
//!   noise costs on held-out data).
//!
//! The samples are split once (seeded) into train / held-out; the maps are
//! fitted on train and scored on held-out: explained variance
//! `R^2 = 1 - SSE / SST`, with `SST` the held-out sum of squares of the
//! centred detail. Ridge: `lambda = ridge * trace(G G^T) / k` for `k`
//! inputs (scale-free).
//!
//! # Intervals
//! Percentile bootstrap over held-out SAMPLES (whole images / crops, since
//! patches of one sample are correlated): `bootstrap` resamples with
//! replacement, `R^2* = 1 - sum SSE_b / sum SST_b`, the central
//! `confidence` interval. The fit is not redone per resample, so the
//! interval is the held-out sampling error of a fixed fitted map.
//!
//! # Sparse baseline features
//! Before the learner's own features are wired in, [`SparseBaseline`] gives
//! non-negative sparse codes of coarse patches learned on the train split:
//! each patch's own mean (DC) is removed (default; the usual sparse-coding
//! preprocessing), the mean patch `m` is subtracted, spherical k-means
//! (sign-invariant: a patch joins the atom of largest `|<atom, x>|`) runs on
//! the unit-normalised patches, and the code is the soft threshold
//! `[ReLU(D^T (x - m) - a); ReLU(-D^T (x - m) - a)]` (Coates & Ng 2011), with
//! `a` the `1 - active_fraction` quantile of all `|D^T (x - m)|` on the fit
//! patches (each atom, either sign, is active on about that share of
//! patches on average). Deterministic for a seed.
//!
//! Reading: the shuffled control is the floor (~0). The coarse linear map is
//! the reference a sparse code is compared with, not a strict ceiling: a
//! linear readout of non-linear features can exceed it.

use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use serde::Serialize;

use super::DataError;
use super::multires::MultiRes;
use crate::target::rand_chacha;

/// Fewest samples allowed on either side of the train / held-out split.
pub const MIN_SPLIT_SAMPLES: usize = 10;

/// Options of the C7 measurement (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckOptions {
    /// Share of samples in the train split, in (0, 1). Default 0.7.
    pub train_fraction: f64,
    /// Relative ridge (see the module docs), >= 0. Default 1e-4.
    pub ridge: f64,
    /// Bootstrap resamples, >= 1. Default 200.
    pub bootstrap: usize,
    /// Central interval level, in (0, 1). Default 0.95.
    pub confidence: f64,
    /// Seeds the split, the shuffled control and the bootstrap.
    pub seed: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            train_fraction: 0.7,
            ridge: 1e-4,
            bootstrap: 200,
            confidence: 0.95,
            seed: 0,
        }
    }
}

impl CheckOptions {
    fn validate(&self) -> Result<(), DataError> {
        if !(self.train_fraction > 0.0 && self.train_fraction < 1.0) {
            return Err(DataError::TrainFraction {
                value: self.train_fraction,
            });
        }
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(DataError::Ridge { value: self.ridge });
        }
        if self.bootstrap == 0 {
            return Err(DataError::Bootstrap { value: 0 });
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(DataError::Confidence {
                value: self.confidence,
            });
        }
        Ok(())
    }
}

/// One explained variance and its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub interval: [f64; 2],
}

/// Explained variances of one level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Explained {
    pub coarse_linear: f64,
    pub hidden_features: f64,
    pub shuffled_control: f64,
}

/// Bootstrap intervals `[lo, hi]` of one level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Intervals {
    pub coarse_linear: [f64; 2],
    pub hidden_features: [f64; 2],
    pub shuffled_control: [f64; 2],
}

/// The C7 numbers of one level `l >= 2`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelCheck {
    pub level: usize,
    pub explained_variance: Explained,
    pub intervals: Intervals,
}

/// The C7 result; serialises to `{"levels": [{"level", "explained_variance":
/// {"coarse_linear", "hidden_features", "shuffled_control"}, "intervals":
/// {...same keys: [lo, hi]}}]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FsrCheck {
    pub levels: Vec<LevelCheck>,
}

/// The seeded train / held-out split of `samples` sample indices (both
/// sorted). Errors when either side would hold fewer than
/// [`MIN_SPLIT_SAMPLES`].
pub fn split_samples(samples: usize, opts: &CheckOptions) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    opts.validate()?;
    let train_n = ((samples as f64) * opts.train_fraction).round() as usize;
    let train_n = train_n.min(samples);
    if train_n < MIN_SPLIT_SAMPLES || samples - train_n < MIN_SPLIT_SAMPLES {
        return Err(DataError::TooFewSamples {
            samples,
            train: train_n,
            test: samples - train_n,
            min: MIN_SPLIT_SAMPLES,
        });
    }
    let mut rng = rand_chacha(opts.seed);
    let mut idx: Vec<usize> = (0..samples).collect();
    shuffle(&mut idx, &mut rng);
    let mut train = idx[..train_n].to_vec();
    let mut test = idx[train_n..].to_vec();
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

fn shuffle<T>(v: &mut [T], rng: &mut impl rand::Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// Explained variance of the level-`level` detail by a per-child linear map
/// from the raw parent patch (the "ceiling" of a linear super-resolution).
pub fn coarse_linear(data: &MultiRes, level: usize, opts: &CheckOptions) -> Result<Estimate, DataError> {
    check_level(data, level)?;
    fit_explained(data, level, opts, &data.x[level - 2], false)
}

/// The same regression with each parent taken from another sample (a
/// seeded derangement within each split): the floor, ~0.
pub fn shuffled_control(data: &MultiRes, level: usize, opts: &CheckOptions) -> Result<Estimate, DataError> {
    check_level(data, level)?;
    fit_explained(data, level, opts, &data.x[level - 2], true)
}

/// The same regression from hidden features of the parent patch:
/// `features` maps the coarse patches `n x (N P_{l-1})` (level `l - 1`, all
/// samples, the module's layout) to features `m x (N P_{l-1})`, column for
/// column. Errors when the column count differs, `m = 0`, or a value is not
/// finite.
pub fn hidden_features(
    data: &MultiRes,
    level: usize,
    opts: &CheckOptions,
    features: impl Fn(&DMatrix<f64>) -> DMatrix<f64>,
) -> Result<Estimate, DataError> {
    check_level(data, level)?;
    let coarse = &data.x[level - 2];
    let h = features(coarse);
    if h.ncols() != coarse.ncols() {
        return Err(DataError::Features {
            columns: coarse.ncols(),
            reason: format!(
                "came back with {} columns; one per coarse patch is required",
                h.ncols()
            ),
        });
    }
    if h.nrows() == 0 {
        return Err(DataError::Features {
            columns: coarse.ncols(),
            reason: "came back with 0 rows; at least one feature is required".to_string(),
        });
    }
    if let Some(v) = h.iter().find(|v| !v.is_finite()) {
        return Err(DataError::Features {
            columns: coarse.ncols(),
            reason: format!("contain {v}; every feature must be finite"),
        });
    }
    fit_explained(data, level, opts, &h, false)
}

/// All three estimators at every level `2..=L`; `features(l - 1, coarse)`
/// gives the hidden features of level `l - 1` patches (see
/// [`hidden_features`]).
pub fn check_fsr(
    data: &MultiRes,
    opts: &CheckOptions,
    features: impl Fn(usize, &DMatrix<f64>) -> DMatrix<f64>,
) -> Result<FsrCheck, DataError> {
    let mut levels = Vec::new();
    for l in 2..=data.geometry.levels {
        let cl = coarse_linear(data, l, opts)?;
        let hf = hidden_features(data, l, opts, |x| features(l - 1, x))?;
        let sc = shuffled_control(data, l, opts)?;
        levels.push(LevelCheck {
            level: l,
            explained_variance: Explained {
                coarse_linear: cl.value,
                hidden_features: hf.value,
                shuffled_control: sc.value,
            },
            intervals: Intervals {
                coarse_linear: cl.interval,
                hidden_features: hf.interval,
                shuffled_control: sc.interval,
            },
        });
    }
    Ok(FsrCheck { levels })
}

/// [`check_fsr`] with the [`SparseBaseline`] as hidden features: at each
/// level its dictionary is learned on the train split's level-`l - 1`
/// patches only.
pub fn check_fsr_baseline(
    data: &MultiRes,
    opts: &CheckOptions,
    baseline: &BaselineOptions,
) -> Result<FsrCheck, DataError> {
    let (train, _) = split_samples(data.samples(), opts)?;
    let mut codes = Vec::new();
    for l in 1..data.geometry.levels {
        let pl = data.geometry.patches(l);
        let xl = &data.x[l - 1];
        let mut fit = DMatrix::zeros(xl.nrows(), train.len() * pl);
        for (k, &b) in train.iter().enumerate() {
            fit.columns_mut(k * pl, pl).copy_from(&xl.columns(b * pl, pl));
        }
        codes.push(SparseBaseline::fit(&fit, baseline)?);
    }
    check_fsr(data, opts, |l, x| codes[l - 1].encode(x))
}

fn check_level(data: &MultiRes, level: usize) -> Result<(), DataError> {
    let levels = data.geometry.levels.min(data.x.len());
    if level < 2 || level > levels {
        return Err(DataError::CheckLevel { level, levels });
    }
    Ok(())
}

/// Subtracts from every column its position's mean over the train samples
/// (`pos` positions per sample).
fn centre_by_position(m: &mut DMatrix<f64>, pos: usize, train: &[usize]) {
    let rows = m.nrows();
    for p in 0..pos {
        let mut mu = DVector::zeros(rows);
        for &b in train {
            mu += m.column(b * pos + p);
        }
        mu /= train.len() as f64;
        let samples = m.ncols() / pos;
        for b in 0..samples {
            let mut col = m.column_mut(b * pos + p);
            col -= &mu;
        }
    }
}

/// A derangement of each index list (no sample keeps its own parent):
/// `perm[s_i] = s_{i+1}` around a seeded cycle.
fn derangement(samples: usize, groups: [&[usize]; 2], seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha(seed ^ 0x5348_5546_464c_4544);
    let mut perm: Vec<usize> = (0..samples).collect();
    for g in groups {
        let mut order = g.to_vec();
        shuffle(&mut order, &mut rng);
        for i in 0..order.len() {
            perm[order[i]] = order[(i + 1) % order.len()];
        }
    }
    perm
}

fn fit_explained(
    data: &MultiRes,
    level: usize,
    opts: &CheckOptions,
    inputs: &DMatrix<f64>,
    shuffled: bool,
) -> Result<Estimate, DataError> {
    let samples = data.samples();
    let (train, test) = split_samples(samples, opts)?;
    let geo = &data.geometry;
    let r = geo.fanout;
    let pl = geo.patches(level);
    let pq = geo.patches(level - 1);
    // Detail in the coordinates of the orthonormal detail basis.
    let basis = geo.detail_basis();
    let mut y = basis.transpose() * data.detail(level);
    centre_by_position(&mut y, pl, &train);
    let mut z = inputs.clone();
    centre_by_position(&mut z, pq, &train);
    let src: Vec<usize> = if shuffled {
        derangement(samples, [&train, &test], opts.seed)
    } else {
        (0..samples).collect()
    };
    let (d, k) = (y.nrows(), z.nrows());
    // Gathers (inputs, targets) of child c for the given samples, column
    // t * pq + q for the t-th sample.
    let gather = |set: &[usize], c: usize| {
        let mut g = DMatrix::zeros(k, set.len() * pq);
        let mut t = DMatrix::zeros(d, set.len() * pq);
        for (i, &b) in set.iter().enumerate() {
            for q in 0..pq {
                g.column_mut(i * pq + q).copy_from(&z.column(src[b] * pq + q));
                t.column_mut(i * pq + q).copy_from(&y.column(b * pl + q * r + c));
            }
        }
        (g, t)
    };
    let mut sse = vec![0.0; test.len()];
    let mut sst = vec![0.0; test.len()];
    for c in 0..r {
        let (g, t) = gather(&train, c);
        let mut a = &g * g.transpose();
        let lambda = opts.ridge * (a.trace() / k as f64).max(f64::MIN_POSITIVE);
        for i in 0..k {
            a[(i, i)] += lambda;
        }
        let rhs = &g * t.transpose(); // k x d
        let chol = a.cholesky().ok_or(DataError::Singular { features: k })?;
        let w_t = chol.solve(&rhs); // k x d: W^T
        let w = w_t.transpose();
        let (gt, tt) = gather(&test, c);
        let resid = &tt - &w * &gt;
        for (i, (e, s)) in sse.iter_mut().zip(sst.iter_mut()).enumerate() {
            for col in i * pq..(i + 1) * pq {
                *e += resid.column(col).norm_squared();
                *s += tt.column(col).norm_squared();
            }
        }
    }
    let total_sst: f64 = sst.iter().sum();
    if total_sst <= 1e-300 || !total_sst.is_finite() {
        return Err(DataError::DetailZeroVariance { level });
    }
    let value = 1.0 - sse.iter().sum::<f64>() / total_sst;
    // Percentile bootstrap over held-out samples.
    let mut rng = rand_chacha(opts.seed ^ 0x424f_4f54_5354_5250);
    let m = test.len();
    let mut reps: Vec<f64> = (0..opts.bootstrap)
        .map(|_| {
            let (mut e, mut s) = (0.0, 0.0);
            for _ in 0..m {
                let i = rng.random_range(0..m);
                e += sse[i];
                s += sst[i];
            }
            if s > 0.0 { 1.0 - e / s } else { value }
        })
        .collect();
    reps.sort_by(f64::total_cmp);
    let alpha = (1.0 - opts.confidence) / 2.0;
    let interval = [quantile(&reps, alpha), quantile(&reps, 1.0 - alpha)];
    Ok(Estimate { value, interval })
}

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let f = pos - lo as f64;
    sorted[lo] * (1.0 - f) + sorted[hi] * f
}

/// Options of the [`SparseBaseline`] dictionary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineOptions {
    /// Atoms `K` (0 = twice the patch dimension). Codes have `2K` entries.
    pub atoms: usize,
    /// Spherical k-means iterations, >= 1. Default 10.
    pub iterations: usize,
    /// Share of fit patches on which each atom is active, in (0, 1). Default 0.1.
    pub active_fraction: f64,
    /// At most this many patches (a seeded subset) are used to fit. Default 20000.
    pub max_fit_patches: usize,
    /// Remove each patch's own mean (its DC, over all values) before coding,
    /// so atoms code contrast structure only. Default true.
    pub remove_patch_mean: bool,
    pub seed: u64,
}

impl Default for BaselineOptions {
    fn default() -> Self {
        BaselineOptions {
            atoms: 0,
            iterations: 10,
            active_fraction: 0.1,
            max_fit_patches: 20_000,
            remove_patch_mean: true,
            seed: 0,
        }
    }
}

/// Non-negative sparse codes of patches (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseBaseline {
    /// Mean patch of the fit data (`n`).
    pub mean: DVector<f64>,
    /// Unit-norm atoms, `n x K`.
    pub atoms: DMatrix<f64>,
    /// Soft threshold `a >= 0`.
    pub threshold: f64,
    /// Whether each patch's own mean is removed first.
    pub remove_patch_mean: bool,
}

impl SparseBaseline {
    /// Learns the dictionary from patches `n x M` (columns are patches).
    pub fn fit(patches: &DMatrix<f64>, opts: &BaselineOptions) -> Result<SparseBaseline, DataError> {
        let bad = |field, value: String, allowed| DataError::Baseline {
            field,
            value,
            allowed,
        };
        if opts.iterations == 0 {
            return Err(bad("iterations", "0".into(), "must be >= 1"));
        }
        if !(opts.active_fraction > 0.0 && opts.active_fraction < 1.0) {
            return Err(bad(
                "active_fraction",
                opts.active_fraction.to_string(),
                "must be in (0, 1)",
            ));
        }
        if opts.max_fit_patches == 0 {
            return Err(bad("max_fit_patches", "0".into(), "must be >= 1"));
        }
        let (n, total) = patches.shape();
        if n == 0 || total == 0 {
            return Err(bad(
                "patches",
                format!("{n}x{total}"),
                "need at least one patch of one value",
            ));
        }
        if patches.iter().any(|v| !v.is_finite()) {
            return Err(bad(
                "patches",
                "non-finite value".into(),
                "every value must be finite",
            ));
        }
        let mut rng = rand_chacha(opts.seed);
        let mut idx: Vec<usize> = (0..total).collect();
        let used = total.min(opts.max_fit_patches);
        for i in 0..used {
            let j = rng.random_range(i..total);
            idx.swap(i, j);
        }
        let mut x = DMatrix::zeros(n, used);
        for (k, &i) in idx[..used].iter().enumerate() {
            x.column_mut(k).copy_from(&patches.column(i));
        }
        if opts.remove_patch_mean {
            remove_patch_means(&mut x);
        }
        let mean = x.column_mean();
        for mut col in x.column_iter_mut() {
            col -= &mean;
        }
        let max_norm = x.column_iter().map(|c| c.norm()).fold(0.0, f64::max);
        let keep: Vec<usize> = (0..used)
            .filter(|&j| x.column(j).norm() > 1e-9 * max_norm)
            .collect();
        if max_norm == 0.0 || keep.is_empty() {
            return Err(bad("patches", "all identical".into(), "need patches that vary"));
        }
        let mut u = DMatrix::zeros(n, keep.len());
        for (k, &j) in keep.iter().enumerate() {
            let c = x.column(j);
            u.column_mut(k).copy_from(&(c / c.norm()));
        }
        let kk = if opts.atoms == 0 { 2 * n } else { opts.atoms };
        let mut atoms = DMatrix::zeros(n, kk);
        for a in 0..kk {
            let j = rng.random_range(0..u.ncols());
            atoms.column_mut(a).copy_from(&u.column(j));
        }
        for _ in 0..opts.iterations {
            let proj = atoms.transpose() * &u; // K x M'
            let mut next = DMatrix::zeros(n, kk);
            for j in 0..u.ncols() {
                let col = proj.column(j);
                let (best, v) = col.iter().enumerate().fold((0, 0.0f64), |acc, (a, &v)| {
                    if v.abs() > acc.1.abs() { (a, v) } else { acc }
                });
                let s = if v < 0.0 { -1.0 } else { 1.0 };
                let mut dst = next.column_mut(best);
                dst.axpy(s, &u.column(j), 1.0);
            }
            for a in 0..kk {
                let norm = next.column(a).norm();
                if norm > 1e-12 {
                    let c = next.column(a) / norm;
                    atoms.column_mut(a).copy_from(&c);
                } else {
                    // Empty cluster: re-seed from a random patch.
                    let j = rng.random_range(0..u.ncols());
                    atoms.column_mut(a).copy_from(&u.column(j));
                }
            }
        }
        let mut mags: Vec<f64> = (atoms.transpose() * &x).iter().map(|v| v.abs()).collect();
        let q = ((1.0 - opts.active_fraction) * (mags.len() - 1) as f64).round() as usize;
        let (_, &mut threshold, _) = mags.select_nth_unstable_by(q, f64::total_cmp);
        Ok(SparseBaseline {
            mean,
            atoms,
            threshold,
            remove_patch_mean: opts.remove_patch_mean,
        })
    }

    /// Codes `2K x M` of patches `n x M`: `[ReLU(D^T (x - m) - a); ReLU(-D^T (x - m) - a)]`
    /// (after removing each patch's own mean when so fitted). `patches` must
    /// have the `n` rows of the fit data.
    pub fn encode(&self, patches: &DMatrix<f64>) -> DMatrix<f64> {
        let mut xc = patches.clone();
        if self.remove_patch_mean {
            remove_patch_means(&mut xc);
        }
        for mut col in xc.column_iter_mut() {
            col -= &self.mean;
        }
        let proj = self.atoms.transpose() * xc;
        let kk = proj.nrows();
        let a = self.threshold;
        DMatrix::from_fn(2 * kk, proj.ncols(), |i, j| {
            if i < kk {
                (proj[(i, j)] - a).max(0.0)
            } else {
                (-proj[(i - kk, j)] - a).max(0.0)
            }
        })
    }
}

/// Subtracts from each column its own mean.
fn remove_patch_means(x: &mut DMatrix<f64>) {
    for mut col in x.column_iter_mut() {
        let m = col.mean();
        col.add_scalar_mut(-m);
    }
}
