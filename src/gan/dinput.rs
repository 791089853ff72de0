//! The coordinates the discriminators read (SPEC §2, "Discriminators"): a
//! fixed linear recoding of the per-level patch batches, applied to real and
//! generated samples alike before any `D_l` sees them, with its adjoint for
//! the generator's gradient.
//!
//! Two recodings ([`DInput`]; `raw` applies none, `auto` picks one):
//! - `pixels`: `u_l = X_l / s_l`, each level's pixels divided by one scale;
//! - `laplacian` (pyramid data): `u_1 = X_1 / s_1` and, for `l >= 2`, `u_l =
//!   (X_l - Up(X_{l-1})) / s_l` — each child patch minus its parent's
//!   upsampled quadrant, i.e. the Laplacian-pyramid band of the image
//!   (Burt & Adelson; the LAPGAN discriminators see the same bands).
//!
//! `s_l` is the root-mean-square entry of `u_l` (before scaling) over a
//! batch of *real* samples drawn once when the trainer is built: a statistic
//! of the learner's training data, as in ordinary input standardisation.
//! So `D_l` reads `[u_{l,p}; u_{l-1,parent(p)}; onehot(c)]`: the band of the
//! child next to the band of its parent. The whole pyramid `(X_1, ..., X_L)`
//! and `(u_1, ..., u_L)` determine each other, so no information is lost
//! overall; what changes is the scale each D and its R1 penalty work at.
//!
//! Why (issue 5, measured in docs/recipe.md): in the default target the
//! level-`l` detail has about half the scale of the level below (per-pixel
//! rms 0.33, 0.15, 0.07 at levels 1, 2, 3), so in pixel coordinates a
//! level-2 child is mostly its upsampled parent. To separate real from fake
//! details a pixel-coordinate `D_2` needs input gradients ~1/scale large,
//! which the R1 penalty `gamma/2 ||grad D||^2` forbids: the level-2 D loss
//! sat at `2 ln 2` (chance) while the super-resolution error stayed ~0.3.
//!
//! The map is linear, `u = A x`, so the generator's input gradient is `dx =
//! A^T du`: `dx_l += du_l / s_l` and, for the Laplacian band, `dx_{l-1} -=
//! Up^T du_l / s_l`.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::nn::{MatRef, ensure, gemm, view_mut};
use crate::target::Geometry;

/// Which coordinates the discriminators read (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DInput {
    /// `laplacian` for pyramid data read by pairs (joint, progressive,
    /// top-pair schedules); `pixels` otherwise (direct output, and the
    /// `top-only` ablation, whose D must see the top level's pixels alone).
    Auto,
    /// The pixels as they are (no map): the engine before issue 5 and the
    /// PyTorch peer's setting.
    Raw,
    /// Each level's pixels, divided by their real-data rms.
    Pixels,
    /// Laplacian-pyramid bands (pyramid data), each divided by its real-data rms.
    Laplacian,
}

impl DInput {
    /// The config name (`auto`, `raw`, `pixels`, `laplacian`) to its variant.
    pub fn from_name(name: &str) -> Option<DInput> {
        Some(match name {
            "auto" => DInput::Auto,
            "raw" => DInput::Raw,
            "pixels" => DInput::Pixels,
            "laplacian" => DInput::Laplacian,
            _ => return None,
        })
    }

    /// The map to build: `None` for raw pixels, else `Some(laplacian)`.
    /// `pyramid`: the data is a pyramid (children pool to parents);
    /// `top_only`: the `top-only` ablation.
    pub fn resolve(self, pyramid: bool, top_only: bool) -> Option<bool> {
        match self {
            DInput::Raw => None,
            DInput::Pixels => Some(false),
            DInput::Laplacian => Some(true),
            DInput::Auto => Some(pyramid && !top_only),
        }
    }
}

/// The fixed map `u = A x` of one trainer (module docs).
#[derive(Debug, Clone)]
pub struct InputMap {
    /// Subtract the upsampled parent (Laplacian bands).
    laplacian: bool,
    /// Stacked nearest-neighbour upsampling `(r n) x n` (target geometry).
    up: DMatrix<f64>,
    /// `1 / s_l` per level.
    inv_scale: Vec<f64>,
}

impl InputMap {
    /// The map for `geometry`, its scales measured on the real batch `real`
    /// (`n x (B P_l)` per level). A level whose real coordinates are all
    /// zero keeps scale 1.
    pub fn new(geometry: &Geometry, laplacian: bool, real: &[DMatrix<f64>]) -> InputMap {
        let laplacian = laplacian && geometry.fanout > 1;
        let mut map = InputMap {
            laplacian,
            up: geometry.upsample_stack(),
            inv_scale: vec![1.0; real.len()],
        };
        let mut u = Vec::new();
        map.apply(real, &mut u);
        map.inv_scale = u
            .iter()
            .map(|ul| {
                let rms = (ul.norm_squared() / ul.len().max(1) as f64).sqrt();
                if rms > 0.0 && rms.is_finite() {
                    1.0 / rms
                } else {
                    1.0
                }
            })
            .collect();
        map
    }

    /// The scales `s_l` (for reports and tests).
    pub fn scales(&self) -> Vec<f64> {
        self.inv_scale.iter().map(|v| 1.0 / v).collect()
    }

    /// `u = A x`, written into `u` (resized as needed).
    pub fn apply(&self, x: &[DMatrix<f64>], u: &mut Vec<DMatrix<f64>>) {
        u.resize_with(x.len(), || DMatrix::zeros(0, 0));
        for l in 0..x.len() {
            let ul = &mut u[l];
            ensure(ul, x[l].nrows(), x[l].ncols());
            ul.copy_from(&x[l]);
            if self.laplacian && l > 0 {
                // Up(X_{l-1}): (r n) x n times n x (B P_{l-1}), read as n x (B P_l).
                let cols = x[l - 1].ncols();
                gemm(
                    &mut view_mut(ul.as_mut_slice(), self.up.nrows(), cols),
                    -1.0,
                    &self.up,
                    &x[l - 1],
                    1.0,
                );
            }
            *ul *= self.inv_scale[l];
        }
    }

    /// `dx += D^T du` with `D` the block diagonal of `A` (`dx_l += du_l /
    /// s_l`): the adjoint with the `-Up(X_{l-1})` coupling cut, for
    /// `training.level_grads = "own"` (each band trains its own level).
    pub fn backward_diagonal(&self, du: &[DMatrix<f64>], dx: &mut [DMatrix<f64>]) {
        for l in 0..du.len() {
            let s = self.inv_scale[l];
            for (d, g) in dx[l].as_mut_slice().iter_mut().zip(du[l].as_slice()) {
                *d += s * g;
            }
        }
    }

    /// `dx += A^T du` (accumulates; `dx` already sized like `x`).
    pub fn backward(&self, du: &[DMatrix<f64>], dx: &mut [DMatrix<f64>]) {
        self.backward_diagonal(du, dx);
        for l in 0..du.len() {
            let s = self.inv_scale[l];
            if self.laplacian && l > 0 {
                // dX_{l-1} -= s Up^T dU_l: [n x (r n)][(r n) x (B P_{l-1})].
                let cols = dx[l - 1].ncols();
                let dul = MatRef {
                    data: du[l].as_slice(),
                    rows: self.up.nrows(),
                    cols,
                };
                gemm(&mut dx[l - 1], -s, &MatRef::of(&self.up).t(), &dul.v(), 1.0);
            }
        }
    }
}
