//! Discriminators (SPEC §2, "Discriminators"): the one-hidden-layer
//! [`Critic`] `f(u) = a^T sigma(W u + b) + c` with its closed-form R1
//! gradient penalty, and the per-level patch discriminator [`PatchDisc`]
//! that feeds it `u = [X_{l,p}; X_{l-1,parent(p)}; onehot(position)]` and
//! averages over patches. The `mlp` discriminator for flat data is the same
//! [`PatchDisc`] on one level with one patch and neither parent nor position
//! (one hidden layer, so that the penalty stays closed-form); the LQG
//! `quadratic` discriminator is that with `sigma(h) = h^2`.
//!
//! Exactly which inputs each D sees (NOTES.md: what an ablation removes
//! matters): level-1 `D_1`: `[X_{1,p}; onehot(p)]` (the one-hot only when
//! `P_1 > 1`); level `l >= 2` `D_l`: `[X_{l,p}; X_{l-1,p/r}; onehot(p mod
//! r)]` (position can be switched off); `top-only`: `D_L` on `X_{L,p}` alone;
//! `top-pair`: `D_L` on `[X_{L,p}; X_{L-1,p/r}; onehot(p mod r)]`.
//!
//! # The R1 penalty, per patch, in closed form
//! On real inputs, `R = gamma/2 * mean_j ||d f(u_j) / d x_j||^2`, where
//! `x_j` are the *data* rows of `u_j` (pixels of the patch and its parent;
//! the one-hot rows are constants and excluded) — a per-patch penalty
//! (the gradient of the patch score, not of the patch-averaged sample score).
//! With `H = W U + b` (`h x N`), `W_D` the data columns of `W`:
//! - `grad_x f(u_j) = W_D^T (a ⊙ sigma'(h_j))`; stacked: `G = W_D^T V`,
//!   `V = a ⊙ sigma'(H)` (`d x N`, `h x N`), `R = gamma/(2N) ||G||_F^2`.
//! - `Gb := dR/dG = (gamma/N) G`;
//! - `G = W_D^T V` gives `dR/dW_D = V Gb^T` (`[h x N][N x d]`) and `dR/dV =
//!   W_D Gb` (`[h x d][d x N]`);
//! - `V = a ⊙ sigma'(H)` gives `dR/da_i = sum_j (dR/dV)_ij sigma'(H_ij)` and
//!   `dR/dH = (dR/dV) ⊙ a ⊙ sigma''(H)`;
//! - `H = W U + b` gives `dR/dW += (dR/dH) U^T`, `dR/db += (dR/dH) 1`.
//!
//! For piecewise-linear `sigma` (ReLU, leaky ReLU, identity) `sigma'' = 0`
//! away from kinks and the last step vanishes: the penalty gradient is then
//! exactly the first two lines, as for the paper's ReLU discriminators.

use nalgebra::DMatrix;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::nn::{Activation, Dense, MatRef, Params, ensure, gemm, view_mut};

/// `f(u) = a^T sigma(W u + b) + c`: `W` is `h x d_in`; one score per column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Critic {
    pub hidden: Dense,
    /// `1 x h` (`a^T`) and bias `c`.
    pub out: Dense,
    pub act: Activation,
    /// When true the hidden layer is fixed (not visited by optimisers): the
    /// `quadratic` LQG discriminator, `f(x) = sum_i a_i (w_i . x)^2 + c =
    /// x^T M x + c` with `M = sum_i a_i w_i w_i^T` *linear* in the trained
    /// `a`, so that weight decay bounds it. (With a trained hidden layer the
    /// quadratic critic is cubic in its parameters, weight decay cannot bound
    /// it, and the LQG run was measured to blow up.)
    #[serde(default)]
    pub frozen_hidden: bool,
    #[serde(skip)]
    pre: DMatrix<f64>,
    #[serde(skip)]
    post: DMatrix<f64>,
    /// `sigma'(H)` of the last forward.
    #[serde(skip)]
    slope: DMatrix<f64>,
    #[serde(skip)]
    score: DMatrix<f64>,
    #[serde(skip)]
    dh: DMatrix<f64>,
    #[serde(skip)]
    v: DMatrix<f64>,
    #[serde(skip)]
    g: DMatrix<f64>,
    #[serde(skip)]
    dv: DMatrix<f64>,
}

impl Critic {
    /// He-normal hidden weights (gain 2 for ReLU-like, 1 otherwise), zero
    /// hidden bias; output weights `N(0, 1/h)`, zero output bias.
    pub fn new(inputs: usize, width: usize, act: Activation, rng: &mut impl Rng) -> Critic {
        let gain = if matches!(act, Activation::Relu | Activation::LeakyRelu { .. }) {
            2.0
        } else {
            1.0
        };
        Critic::from_parts(
            Dense::init_he(width, inputs, gain, rng),
            Dense::init_he(1, width, 1.0, rng),
            act,
        )
    }

    pub fn from_parts(hidden: Dense, out: Dense, act: Activation) -> Critic {
        Critic {
            hidden,
            out,
            act,
            frozen_hidden: false,
            pre: DMatrix::zeros(0, 0),
            post: DMatrix::zeros(0, 0),
            slope: DMatrix::zeros(0, 0),
            score: DMatrix::zeros(0, 0),
            dh: DMatrix::zeros(0, 0),
            v: DMatrix::zeros(0, 0),
            g: DMatrix::zeros(0, 0),
            dv: DMatrix::zeros(0, 0),
        }
    }

    pub fn inputs(&self) -> usize {
        self.hidden.inputs()
    }

    pub fn width(&self) -> usize {
        self.hidden.outputs()
    }

    /// Forward: `H = W U + b 1^T` (`[h x d][d x N]`), `A = sigma(H)`, scores
    /// `a^T A + c` (`[1 x h][h x N]`). Returns the `1 x N` scores.
    pub fn forward(&mut self, u: MatRef<'_>) -> &DMatrix<f64> {
        self.hidden.forward(u, &mut self.pre);
        self.act
            .forward_with_slope(&self.pre, &mut self.post, &mut self.slope);
        let (h, n) = self.post.shape();
        ensure(&mut self.score, 1, n);
        let a = self.out.w.as_slice();
        let c = self.out.b[0];
        // 1 x h times h x N as one dot product per column (a GEMM with a
        // 1-row factor would fall back to per-column gemv anyway).
        for (j, s) in self.score.iter_mut().enumerate() {
            let col = &self.post.as_slice()[j * h..(j + 1) * h];
            *s = c + col.iter().zip(a).map(|(x, y)| x * y).sum::<f64>();
        }
        &self.score
    }

    /// The LQG `quadratic` critic (see [`Self::frozen_hidden`]): `width`
    /// fixed random unit directions `w_i`, zero hidden bias, `sigma(h) = h^2`,
    /// trained output weights `a ~ N(0, 1/width)`.
    pub fn quadratic(inputs: usize, width: usize, rng: &mut impl Rng) -> Critic {
        let hidden = Dense::from_parts(
            crate::nn::unit_rows(width, inputs, rng),
            nalgebra::DVector::zeros(width),
        );
        let mut c = Critic::from_parts(hidden, Dense::init_he(1, width, 1.0, rng), Activation::Quadratic);
        c.frozen_hidden = true;
        c
    }

    /// Sets the parameters to `other`'s (same shapes): a worker copy of a
    /// discriminator before a chunked pass (`training.d_chunks`).
    pub fn copy_params_from(&mut self, other: &Critic) {
        self.hidden.w.copy_from(&other.hidden.w);
        self.hidden.b.copy_from(&other.hidden.b);
        self.out.w.copy_from(&other.out.w);
        self.out.b.copy_from(&other.out.b);
    }

    /// Adds `other`'s parameter gradients to these (same shapes, both
    /// sized by [`Self::zero_grads`]).
    pub fn add_grads_from(&mut self, other: &Critic) {
        self.hidden.gw += &other.hidden.gw;
        self.hidden.gb += &other.hidden.gb;
        self.out.gw += &other.out.gw;
        self.out.gb += &other.out.gb;
    }

    /// Sets every parameter gradient to zero (start of a D step; the
    /// backward passes and the penalty then accumulate).
    pub fn zero_grads(&mut self) {
        self.visit(&mut |_, _| {});
        self.hidden.gw.fill(0.0);
        self.hidden.gb.fill(0.0);
        self.out.gw.fill(0.0);
        self.out.gb.fill(0.0);
    }

    /// Backward after [`Self::forward`] on the same `u`, given `d = dL/dscore`
    /// (`N` entries). With `params`, accumulates the parameter gradients:
    /// - `dc += d 1`; `da += A d` (`[h x N][N x 1]`);
    /// - `dH = (a d^T) ⊙ sigma'(H)` (`h x N`);
    /// - `dW += dH U^T` (`[h x N][N x d]`), `db += dH 1`.
    ///
    /// With `du`, writes `dU = W^T dH` (`[d x h][h x N]`).
    #[allow(clippy::needless_range_loop)]
    pub fn backward(&mut self, u: MatRef<'_>, d: &[f64], du: Option<&mut DMatrix<f64>>, params: bool) {
        let (h, n) = self.pre.shape();
        ensure(&mut self.dh, h, n);
        let a = self.out.w.as_slice();
        for j in 0..n {
            let sl = &self.slope.as_slice()[j * h..(j + 1) * h];
            let dh = &mut self.dh.as_mut_slice()[j * h..(j + 1) * h];
            let dj = d[j];
            for ((dh, s), ai) in dh.iter_mut().zip(sl).zip(a) {
                *dh = ai * dj * s;
            }
        }
        if params {
            self.visit(&mut |_, _| {});
            self.out.gb[0] += d.iter().sum::<f64>();
            let ga = self.out.gw.as_mut_slice();
            for j in 0..n {
                let col = &self.post.as_slice()[j * h..(j + 1) * h];
                for i in 0..h {
                    ga[i] += col[i] * d[j];
                }
            }
            if !self.frozen_hidden {
                // dW += dH U^T
                gemm(&mut self.hidden.gw, 1.0, &self.dh, &u.t(), 1.0);
                for col in self.dh.column_iter() {
                    self.hidden.gb += col;
                }
            }
        }
        if let Some(du) = du {
            ensure(du, u.rows, n);
            // dU = W^T dH
            gemm(du, 1.0, &MatRef::of(&self.hidden.w).t(), &self.dh, 0.0);
        }
    }

    /// Adds `weight * R` (module docs) for the data rows `0..data_rows` of the
    /// `u` of the last forward pass; accumulates its parameter gradients and
    /// returns `weight * R`.
    #[allow(clippy::needless_range_loop)]
    pub fn penalty(&mut self, u: MatRef<'_>, data_rows: usize, gamma: f64, weight: f64) -> f64 {
        let (h, n) = self.pre.shape();
        if gamma == 0.0 || n == 0 {
            return 0.0;
        }
        self.visit(&mut |_, _| {});
        ensure(&mut self.v, h, n);
        let a = self.out.w.as_slice();
        // V = a ⊙ sigma'(H)
        for (vc, sc) in self
            .v
            .as_mut_slice()
            .chunks_exact_mut(h)
            .zip(self.slope.as_slice().chunks_exact(h))
        {
            for ((v, s), ai) in vc.iter_mut().zip(sc).zip(a) {
                *v = ai * s;
            }
        }
        // G = W_D^T V   [d x h][h x N]  (W_D: the first data_rows columns of W)
        let wd = MatRef {
            data: &self.hidden.w.as_slice()[..h * data_rows],
            rows: h,
            cols: data_rows,
        };
        ensure(&mut self.g, data_rows, n);
        gemm(&mut self.g, 1.0, &wd.t(), &self.v, 0.0);
        let scale = weight * gamma / n as f64;
        let r = 0.5 * scale * self.g.norm_squared();
        // Gb = scale G (in place)
        self.g *= scale;
        // dW_D += V Gb^T   [h x N][N x d]
        {
            let gw = &mut self.hidden.gw.as_mut_slice()[..h * data_rows];
            gemm(
                &mut view_mut(gw, h, data_rows),
                1.0,
                &self.v,
                &MatRef::of(&self.g).t(),
                1.0,
            );
        }
        // dV = W_D Gb   [h x d][d x N]
        ensure(&mut self.dv, h, n);
        gemm(&mut self.dv, 1.0, &wd.v(), &self.g, 0.0);
        // da_i += sum_j dV_ij sigma'(H_ij);  dH = dV ⊙ a ⊙ sigma''(H)
        let ga = self.out.gw.as_mut_slice();
        let curved = !self.act.piecewise_linear();
        ensure(&mut self.dh, h, n);
        for j in 0..n {
            let r = j * h..(j + 1) * h;
            let (dvc, sc, pc) = (
                &self.dv.as_slice()[r.clone()],
                &self.slope.as_slice()[r.clone()],
                &self.pre.as_slice()[r.clone()],
            );
            let dhc = &mut self.dh.as_mut_slice()[r];
            for i in 0..h {
                ga[i] += dvc[i] * sc[i];
                dhc[i] = if curved {
                    dvc[i] * a[i] * self.act.d2f(pc[i])
                } else {
                    0.0
                };
            }
        }
        if curved {
            // dW += dH U^T, db += dH 1
            gemm(&mut self.hidden.gw, 1.0, &self.dh, &u.t(), 1.0);
            for col in self.dh.column_iter() {
                self.hidden.gb += col;
            }
        }
        r
    }
}

impl Params for Critic {
    fn visit(&mut self, f: &mut dyn FnMut(&mut [f64], &[f64])) {
        if self.frozen_hidden {
            // Keep the gradient buffers sized (they are still written).
            self.hidden.visit(&mut |_, _| {});
        } else {
            self.hidden.visit(f);
        }
        self.out.visit(f);
    }
    fn visit_values(&self, f: &mut dyn FnMut(&[f64])) {
        self.hidden.visit_values(f);
        self.out.visit_values(f);
    }
}

/// A discriminator on the patches of one level (module docs), its score
/// per sample being the mean of the critic over the sample's patches.
///
/// # Structured products (no stacked input is built)
/// With `W = [W_X | W_P | W_pos]` (child pixels, parent pixels, one-hot
/// position columns) the critic's pre-activation of patch `j` is `W_X x_j +
/// W_P x_{j/r} + W_pos[:, pos(j)] + b`. The parent term is computed once per
/// *parent* (`[h x n][n x B P_{l-1}]`, a quarter of the columns for `r = 4`)
/// and the one-hot product is a column lookup; in backward, `dW_P = (sum over
/// children of dH) X_{l-1}^T` and `dX_{l-1} = W_P^T (sum over children of
/// dH)` likewise run at parent resolution, and `dW_pos` / `db` are column
/// sums. Every product reads the per-level batches in place.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatchDisc {
    /// 1-based level whose patches it reads.
    pub level: usize,
    /// Patches per sample at that level (`P_l`).
    pub patches: usize,
    /// Values per patch (`n`).
    pub patch_dim: usize,
    /// Reads the parent patch `X_{l-1, p/r}` too.
    pub parent: bool,
    /// One-hot position slots (`p mod positions`); 0 = no position input.
    pub positions: usize,
    pub critic: Critic,
    /// When true, [`Self::backward_on`] passes no input gradient to the
    /// parent level (`training.level_grads = "own"`).
    #[serde(skip)]
    pub stop_parent_grad: bool,
    /// Inputs of the last [`Self::forward`] (the copying convenience API).
    #[serde(skip)]
    xin: Vec<DMatrix<f64>>,
    /// `W_P X_{l-1}` (`h x B P_{l-1}`).
    #[serde(skip)]
    qp: DMatrix<f64>,
    /// Sum of `dH` over the children of each parent (`h x B P_{l-1}`).
    #[serde(skip)]
    dhs: DMatrix<f64>,
    /// `b + W_pos[:, p]` per position (`h x max(positions, 1)`).
    #[serde(skip)]
    bpos: Vec<f64>,
    /// `diag(a) W_D` (penalty).
    #[serde(skip)]
    wa: DMatrix<f64>,
    /// `sigma'(H) Gb^T` (penalty).
    #[serde(skip)]
    e: DMatrix<f64>,
    #[serde(skip)]
    dcol: Vec<f64>,
    #[serde(skip)]
    scores: Vec<f64>,
}

impl PatchDisc {
    /// `parent` is ignored at level 1.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        level: usize,
        patches: usize,
        patch_dim: usize,
        parent: bool,
        positions: usize,
        width: usize,
        act: Activation,
        rng: &mut impl Rng,
    ) -> PatchDisc {
        let parent = parent && level >= 2;
        let inputs = patch_dim * (1 + parent as usize) + positions;
        PatchDisc {
            level,
            patches,
            patch_dim,
            parent,
            positions,
            critic: Critic::new(inputs, width, act, rng),
            stop_parent_grad: false,
            xin: Vec::new(),
            qp: DMatrix::zeros(0, 0),
            dhs: DMatrix::zeros(0, 0),
            bpos: Vec::new(),
            wa: DMatrix::zeros(0, 0),
            e: DMatrix::zeros(0, 0),
            dcol: Vec::new(),
            scores: Vec::new(),
        }
    }

    /// The same discriminator around another critic (e.g. [`Critic::quadratic`]).
    pub fn with_critic(mut self, critic: Critic) -> PatchDisc {
        self.critic = critic;
        self
    }

    /// Rows of `u` that are data (the penalty's domain).
    pub fn data_rows(&self) -> usize {
        self.patch_dim * (1 + self.parent as usize)
    }

    /// The stacked input `U = [X_l; X_{l-1}(parent cols); onehot]`, `d x (B
    /// P_l)` (the parent of column `j` is column `j / r`), built on demand
    /// (tests, diagnostics; training never builds it).
    pub fn stacked_input(&self, xs: &[DMatrix<f64>]) -> DMatrix<f64> {
        let n = self.patch_dim;
        let x = &xs[self.level - 1];
        let cols = x.ncols();
        let d = self.critic.inputs();
        let mut u = DMatrix::zeros(d, cols);
        let parent = self.parent.then(|| &xs[self.level - 2]);
        let r = parent.map_or(1, |p| cols / p.ncols().max(1));
        for j in 0..cols {
            let mut col = u.column_mut(j);
            col.rows_mut(0, n).copy_from(&x.column(j));
            if let Some(p) = parent {
                col.rows_mut(n, n).copy_from(&p.column(j / r));
            }
            if self.positions > 0 {
                col[self.data_rows() + (j % self.patches) % self.positions] = 1.0;
            }
        }
        u
    }

    /// Children per parent column (1 without parent input).
    fn fan(&self, xs: &[DMatrix<f64>]) -> usize {
        if self.parent {
            xs[self.level - 1].ncols() / xs[self.level - 2].ncols().max(1)
        } else {
            1
        }
    }

    /// Scores per sample, `D_l(sample b) = mean_p f(u_{b,p})`, for the
    /// per-level batch `xs` (index `l-1`). Keeps a copy of the inputs for
    /// [`Self::backward`] / [`Self::penalty`]; the trainer uses the
    /// copy-free [`Self::forward_on`] family.
    pub fn forward(&mut self, xs: &[DMatrix<f64>]) -> &[f64] {
        self.xin.clone_from(&xs.to_vec());
        self.forward_on(xs)
    }

    /// As [`Self::forward`], without keeping the inputs: pass the same `xs`
    /// to [`Self::backward_on`] / [`Self::penalty_on`].
    pub fn forward_on(&mut self, xs: &[DMatrix<f64>]) -> &[f64] {
        let n = self.patch_dim;
        let r = self.fan(xs);
        let off = self.data_rows();
        let (patches, positions) = (self.patches, self.positions);
        let PatchDisc {
            critic: c,
            qp,
            bpos,
            scores,
            ..
        } = self;
        let x = &xs[self.level - 1];
        let cols = x.ncols();
        let h = c.width();
        let w = c.hidden.w.as_slice();
        ensure(&mut c.pre, h, cols);
        // H = W_X X   [h x n][n x B P_l]
        let wx = MatRef {
            data: &w[..h * n],
            rows: h,
            cols: n,
        };
        gemm(&mut c.pre, 1.0, &wx.v(), x, 0.0);
        if self.parent {
            // Q = W_P X_{l-1}   [h x n][n x B P_{l-1}] (once per parent)
            let xp = &xs[self.level - 2];
            ensure(qp, h, xp.ncols());
            let wp = MatRef {
                data: &w[h * n..2 * h * n],
                rows: h,
                cols: n,
            };
            gemm(qp, 1.0, &wp.v(), xp, 0.0);
        }
        let npos = positions.max(1);
        bpos.resize(h * npos, 0.0);
        for (p, bp) in bpos.chunks_exact_mut(h.max(1)).enumerate() {
            bp.copy_from_slice(c.hidden.b.as_slice());
            if positions > 0 {
                for (d, wv) in bp.iter_mut().zip(&w[(off + p) * h..(off + p + 1) * h]) {
                    *d += wv;
                }
            }
        }
        ensure(&mut c.post, h, cols);
        ensure(&mut c.slope, h, cols);
        ensure(&mut c.score, 1, cols);
        let a = c.out.w.as_slice();
        let c0 = c.out.b[0];
        let q = self.parent.then(|| qp.as_slice());
        let (pre, post, slope, score) = (
            c.pre.as_mut_slice(),
            c.post.as_mut_slice(),
            c.slope.as_mut_slice(),
            c.score.as_mut_slice(),
        );
        for j in 0..cols {
            let pos = if positions > 0 {
                (j % patches) % positions
            } else {
                0
            };
            let rg = j * h..(j + 1) * h;
            let qj = q.map(|q| &q[(j / r) * h..(j / r + 1) * h]);
            score[j] = c0
                + c.act.fused_column(
                    &mut pre[rg.clone()],
                    &bpos[pos * h..(pos + 1) * h],
                    qj,
                    &mut post[rg.clone()],
                    &mut slope[rg],
                    a,
                );
        }
        let b = cols / patches;
        scores.resize(b, 0.0);
        let inv = 1.0 / patches as f64;
        for (k, out) in scores.iter_mut().enumerate() {
            *out = score[k * patches..(k + 1) * patches].iter().sum::<f64>() * inv;
        }
        scores
    }

    /// Column sums of `c.dh` into `db`, `dW_pos` (with `params`) and, with a
    /// parent input, the per-parent sums `dhs`; then `dW_X += dH X^T`, `dW_P
    /// += dHs X_{l-1}^T` (with `params`).
    fn hidden_grads(&mut self, xs: &[DMatrix<f64>], params: bool) {
        let n = self.patch_dim;
        let r = self.fan(xs);
        let off = self.data_rows();
        let (patches, positions, parent, level) = (self.patches, self.positions, self.parent, self.level);
        let PatchDisc {
            critic: c,
            dhs,
            bpos: acc,
            ..
        } = self;
        let (h, cols) = c.dh.shape();
        let params = params && !c.frozen_hidden;
        if parent {
            ensure(dhs, h, cols / r.max(1));
            dhs.as_mut_slice().fill(0.0);
        }
        if !params && !parent {
            return;
        }
        c.visit(&mut |_, _| {});
        {
            // One pass over dH: per-position sums (into `acc`, `h x npos`)
            // and per-parent sums; db and dW_pos follow from `acc`.
            let npos = positions.max(1);
            acc.clear();
            acc.resize(h * npos, 0.0);
            let dh = c.dh.as_slice();
            let ds = dhs.as_mut_slice();
            for (j, dj) in dh.chunks_exact(h.max(1)).enumerate() {
                if params {
                    let p = if positions > 0 {
                        (j % patches) % positions
                    } else {
                        0
                    };
                    add_to(&mut acc[p * h..(p + 1) * h], dj);
                }
                if parent {
                    let q = j / r;
                    add_to(&mut ds[q * h..(q + 1) * h], dj);
                }
            }
            if params {
                let gb = c.hidden.gb.as_mut_slice();
                let gw = c.hidden.gw.as_mut_slice();
                for (p, ap) in acc.chunks_exact(h.max(1)).enumerate() {
                    add_to(gb, ap);
                    if positions > 0 {
                        add_to(&mut gw[(off + p) * h..(off + p + 1) * h], ap);
                    }
                }
            }
        }
        if params {
            let gw = c.hidden.gw.as_mut_slice();
            // dW_X += dH X^T   [h x B P_l][B P_l x n]
            let x = MatRef::of(&xs[level - 1]);
            gemm(&mut view_mut(&mut gw[..h * n], h, n), 1.0, &c.dh, &x.t(), 1.0);
            if parent {
                // dW_P += dHs X_{l-1}^T   [h x B P_{l-1}][B P_{l-1} x n]
                let xp = MatRef::of(&xs[level - 2]);
                gemm(
                    &mut view_mut(&mut gw[h * n..2 * h * n], h, n),
                    1.0,
                    dhs,
                    &xp.t(),
                    1.0,
                );
            }
        }
    }

    /// Backward after [`Self::forward`] given `d_sample = dL/dD_l(sample)`.
    /// With `params`, accumulates the critic's gradients; with `dxs`, adds
    /// `dL/dX_l` to `dxs[l-1]` and `dL/dX_{l-1}` to `dxs[l-2]` (a parent
    /// column receives the sum over its `r` children).
    pub fn backward(&mut self, d_sample: &[f64], dxs: Option<&mut [DMatrix<f64>]>, params: bool) {
        let xs = std::mem::take(&mut self.xin);
        self.backward_on(&xs, d_sample, dxs, params);
        self.xin = xs;
    }

    /// [`Self::backward`] after [`Self::forward_on`] on the same `xs`:
    /// - `dc += d 1`; `da += A d`; `dH = (a d^T) ⊙ sigma'(H)`;
    /// - `db += dH 1`, `dW_pos`, `dW_X`, `dW_P` ([`Self`] docs);
    /// - `dX_l += W_X^T dH` (`[n x h][h x B P_l]`), `dX_{l-1} += W_P^T dHs`
    ///   (skipped when [`Self::stop_parent_grad`]).
    pub fn backward_on(
        &mut self,
        xs: &[DMatrix<f64>],
        d_sample: &[f64],
        dxs: Option<&mut [DMatrix<f64>]>,
        params: bool,
    ) {
        let p = self.patches;
        let n = self.patch_dim;
        let c = &mut self.critic;
        let (h, cols) = c.pre.shape();
        self.dcol.resize(cols, 0.0);
        let inv = 1.0 / p as f64;
        for (j, d) in self.dcol.iter_mut().enumerate() {
            *d = d_sample[j / p] * inv;
        }
        ensure(&mut c.dh, h, cols);
        if params {
            c.visit(&mut |_, _| {});
            c.out.gb[0] += self.dcol.iter().sum::<f64>();
        }
        {
            let a = c.out.w.as_slice();
            let ga = c.out.gw.as_mut_slice();
            let (slope, post, dh) = (c.slope.as_slice(), c.post.as_slice(), c.dh.as_mut_slice());
            for (j, &dj) in self.dcol.iter().enumerate() {
                let rg = j * h..(j + 1) * h;
                for ((d, s), ai) in dh[rg.clone()].iter_mut().zip(&slope[rg.clone()]).zip(a) {
                    *d = ai * dj * s;
                }
                if params {
                    for (g, v) in ga.iter_mut().zip(&post[rg]) {
                        *g += v * dj;
                    }
                }
            }
        }
        self.hidden_grads(xs, params);
        if let Some(dxs) = dxs {
            let c = &self.critic;
            let w = c.hidden.w.as_slice();
            let l = self.level;
            // dX_l += W_X^T dH   [n x h][h x B P_l]
            let wx = MatRef {
                data: &w[..h * n],
                rows: h,
                cols: n,
            };
            gemm(&mut dxs[l - 1], 1.0, &wx.t(), &c.dh, 1.0);
            if self.parent && !self.stop_parent_grad {
                // dX_{l-1} += W_P^T dHs   [n x h][h x B P_{l-1}]
                let wp = MatRef {
                    data: &w[h * n..2 * h * n],
                    rows: h,
                    cols: n,
                };
                gemm(&mut dxs[l - 2], 1.0, &wp.t(), &self.dhs, 1.0);
            }
        }
    }

    /// The R1 penalty on the input of the last forward (call it right after
    /// the forward on real data): accumulates gradients, returns `weight * R`.
    pub fn penalty(&mut self, gamma: f64, weight: f64) -> f64 {
        let xs = std::mem::take(&mut self.xin);
        let r = self.penalty_on(&xs, gamma, weight);
        self.xin = xs;
        r
    }

    /// [`Self::penalty`] after [`Self::forward_on`] on the same `xs` (module
    /// docs), with `V = a ⊙ sigma'(H)` never formed: `G = (diag(a) W_D)^T
    /// sigma'(H)` (`[d x h][h x N]`); for piecewise-linear `sigma`, `E =
    /// sigma'(H) Gb^T` (`[h x N][N x d]`) gives both `dR/dW_D = diag(a) E`
    /// and `dR/da_i = sum_k (W_D)_ik E_ik` — two products instead of three.
    pub fn penalty_on(&mut self, xs: &[DMatrix<f64>], gamma: f64, weight: f64) -> f64 {
        let dd = self.data_rows();
        let c = &mut self.critic;
        let (h, n) = c.pre.shape();
        if gamma == 0.0 || n == 0 {
            return 0.0;
        }
        c.visit(&mut |_, _| {});
        let frozen = c.frozen_hidden;
        let a = c.out.w.as_slice().to_vec();
        let w = c.hidden.w.as_slice();
        ensure(&mut self.wa, h, dd);
        for (k, col) in self.wa.as_mut_slice().chunks_exact_mut(h).enumerate() {
            for ((o, wv), ai) in col.iter_mut().zip(&w[k * h..(k + 1) * h]).zip(&a) {
                *o = ai * wv;
            }
        }
        // G = (diag(a) W_D)^T sigma'(H)   [d x h][h x N]
        ensure(&mut c.g, dd, n);
        gemm(&mut c.g, 1.0, &MatRef::of(&self.wa).t(), &c.slope, 0.0);
        let scale = weight * gamma / n as f64;
        let r = 0.5 * scale * c.g.as_slice().iter().map(|v| v * v).sum::<f64>();
        // Gb = scale G (in place)
        c.g.as_mut_slice().iter_mut().for_each(|v| *v *= scale);
        if c.act.piecewise_linear() {
            // E = sigma'(H) Gb^T   [h x N][N x d]
            ensure(&mut self.e, h, dd);
            gemm(&mut self.e, 1.0, &c.slope, &MatRef::of(&c.g).t(), 0.0);
            let e = self.e.as_slice();
            let ga = c.out.gw.as_mut_slice();
            for k in 0..dd {
                let (ek, wk) = (&e[k * h..(k + 1) * h], &w[k * h..(k + 1) * h]);
                for ((g, ev), wv) in ga.iter_mut().zip(ek).zip(wk) {
                    *g += wv * ev;
                }
            }
            if !frozen {
                let gw = &mut c.hidden.gw.as_mut_slice()[..h * dd];
                for (k, col) in gw.chunks_exact_mut(h).enumerate() {
                    for ((g, ev), ai) in col.iter_mut().zip(&e[k * h..(k + 1) * h]).zip(&a) {
                        *g += ai * ev;
                    }
                }
            }
            return r;
        }
        // Curved sigma: V, dW_D += V Gb^T, dV = W_D Gb, da, dH = dV ⊙ a ⊙ sigma''(H).
        ensure(&mut c.v, h, n);
        for (vc, sc) in
            c.v.as_mut_slice()
                .chunks_exact_mut(h)
                .zip(c.slope.as_slice().chunks_exact(h))
        {
            for ((v, s), ai) in vc.iter_mut().zip(sc).zip(&a) {
                *v = ai * s;
            }
        }
        if !frozen {
            let gw = &mut c.hidden.gw.as_mut_slice()[..h * dd];
            gemm(&mut view_mut(gw, h, dd), 1.0, &c.v, &MatRef::of(&c.g).t(), 1.0);
        }
        ensure(&mut c.dv, h, n);
        let wd = MatRef {
            data: &c.hidden.w.as_slice()[..h * dd],
            rows: h,
            cols: dd,
        };
        gemm(&mut c.dv, 1.0, &wd.v(), &c.g, 0.0);
        ensure(&mut c.dh, h, n);
        {
            let ga = c.out.gw.as_mut_slice();
            let (dv, sl, pre, dh) = (
                c.dv.as_slice(),
                c.slope.as_slice(),
                c.pre.as_slice(),
                c.dh.as_mut_slice(),
            );
            for j in 0..n {
                for i in 0..h {
                    let k = j * h + i;
                    ga[i] += dv[k] * sl[i + j * h];
                    dh[k] = dv[k] * a[i] * c.act.d2f(pre[k]);
                }
            }
        }
        if !frozen {
            self.hidden_grads(xs, true);
        }
        r
    }
}

/// `y += x` (equal lengths).
#[inline]
fn add_to(y: &mut [f64], x: &[f64]) {
    let n = y.len().min(x.len());
    let (y, x) = (&mut y[..n], &x[..n]);
    for i in 0..n {
        y[i] += x[i];
    }
}

impl Params for PatchDisc {
    fn visit(&mut self, f: &mut dyn FnMut(&mut [f64], &[f64])) {
        self.critic.visit(f);
    }
    fn visit_values(&self, f: &mut dyn FnMut(&[f64])) {
        self.critic.visit_values(f);
    }
}
