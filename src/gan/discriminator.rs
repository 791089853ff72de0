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
    #[serde(skip)]
    u: DMatrix<f64>,
    #[serde(skip)]
    du: DMatrix<f64>,
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
            u: DMatrix::zeros(0, 0),
            du: DMatrix::zeros(0, 0),
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

    /// The stacked input `U = [X_l; X_{l-1}(parent cols); onehot]`, `d x (B P_l)`
    /// (the parent of column `j` is column `j / r`), of the last forward.
    pub fn input(&self) -> &DMatrix<f64> {
        &self.u
    }

    fn build(&mut self, xs: &[DMatrix<f64>]) {
        let n = self.patch_dim;
        let x = &xs[self.level - 1];
        let cols = x.ncols();
        let d = self.critic.inputs();
        ensure(&mut self.u, d, cols);
        let u = self.u.as_mut_slice();
        let xd = x.as_slice();
        let parent = if self.parent {
            Some(&xs[self.level - 2])
        } else {
            None
        };
        let r = parent.map_or(1, |p| cols / p.ncols().max(1));
        for j in 0..cols {
            let col = &mut u[j * d..(j + 1) * d];
            col[..n].copy_from_slice(&xd[j * n..(j + 1) * n]);
            let mut off = n;
            if let Some(p) = parent {
                let q = j / r;
                col[n..2 * n].copy_from_slice(&p.as_slice()[q * n..(q + 1) * n]);
                off = 2 * n;
            }
            if self.positions > 0 {
                let pos = &mut col[off..];
                pos.fill(0.0);
                pos[(j % self.patches) % self.positions] = 1.0;
            }
        }
    }

    /// Scores per sample, `D_l(sample b) = mean_p f(u_{b,p})`, for the
    /// per-level batch `xs` (index `l-1`).
    pub fn forward(&mut self, xs: &[DMatrix<f64>]) -> &[f64] {
        self.build(xs);
        let p = self.patches;
        let s = self.critic.forward(MatRef::of(&self.u));
        let b = s.ncols() / p;
        self.scores.resize(b, 0.0);
        for (k, out) in self.scores.iter_mut().enumerate() {
            *out = s.as_slice()[k * p..(k + 1) * p].iter().sum::<f64>() / p as f64;
        }
        &self.scores
    }

    /// Backward after [`Self::forward`] given `d_sample = dL/dD_l(sample)`.
    /// With `params`, accumulates the critic's gradients; with `dxs`, adds
    /// `dL/dX_l` to `dxs[l-1]` and `dL/dX_{l-1}` to `dxs[l-2]` (a parent
    /// column receives the sum over its `r` children).
    pub fn backward(&mut self, d_sample: &[f64], dxs: Option<&mut [DMatrix<f64>]>, params: bool) {
        let p = self.patches;
        let cols = self.u.ncols();
        self.dcol.resize(cols, 0.0);
        for (j, d) in self.dcol.iter_mut().enumerate() {
            *d = d_sample[j / p] / p as f64;
        }
        let want_dx = dxs.is_some();
        self.critic.backward(
            MatRef::of(&self.u),
            &self.dcol,
            if want_dx { Some(&mut self.du) } else { None },
            params,
        );
        if let Some(dxs) = dxs {
            let n = self.patch_dim;
            let d = self.critic.inputs();
            let du = self.du.as_slice();
            let l = self.level;
            {
                let dx = dxs[l - 1].as_mut_slice();
                for j in 0..cols {
                    for (a, b) in dx[j * n..(j + 1) * n].iter_mut().zip(&du[j * d..j * d + n]) {
                        *a += b;
                    }
                }
            }
            if self.parent {
                let dxp = &mut dxs[l - 2];
                let r = cols / dxp.ncols().max(1);
                let dxp = dxp.as_mut_slice();
                for j in 0..cols {
                    let q = j / r;
                    for (a, b) in dxp[q * n..(q + 1) * n]
                        .iter_mut()
                        .zip(&du[j * d + n..j * d + 2 * n])
                    {
                        *a += b;
                    }
                }
            }
        }
    }

    /// The R1 penalty on the input of the last forward (call it right after
    /// the forward on real data): accumulates gradients, returns `weight * R`.
    pub fn penalty(&mut self, gamma: f64, weight: f64) -> f64 {
        let rows = self.data_rows();
        self.critic.penalty(MatRef::of(&self.u), rows, gamma, weight)
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
