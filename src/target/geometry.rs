//! Patch geometry shared by the target, the learner and the data loaders
//! (SPEC §1): how patches of level l tile the image, which parent each child
//! has, nearest-neighbour upsampling `Up_c`, average pooling, and the
//! zero-block-mean "detail" subspace of pyramid mode.
//!
//! # Layout conventions (used everywhere in fsrgan)
//! - Level `l` (1-based) has `P_l = P_1 * r^(l-1)` patches of `n = side^2 *
//!   channels` values. Patch `p` at level `l >= 2` is child `c = p % r` of
//!   parent patch `q = p / r` at level `l - 1`.
//! - A batch of `B` samples at level `l` is an `n x (B * P_l)` matrix whose
//!   column `b * P_l + p` is patch `p` of sample `b` ("sample-major").
//!   Because column-major storage keeps a sample's patches contiguous, the
//!   same memory read as an `(n * P_l) x B` matrix is one flat vector per
//!   sample (see [`flat`]).
//! - Stacking the `r` per-child maps `[A_0; A_1; ...; A_{r-1}]` into one
//!   `(r * a) x b` matrix and multiplying by a parent matrix `b x (B *
//!   P_{l-1})` yields an `(r * a) x (B * P_{l-1})` product whose memory, read
//!   as `a x (B * P_l)`, is exactly the children in the layout above
//!   (column `(b * P_{l-1} + q) * r + c = b * P_l + p`). Every level map in
//!   fsrgan is one such GEMM, no scatter.
//! - Within a patch, value `(i * side + j) * channels + ch` is pixel row `i`,
//!   column `j`, channel `ch`.
//! - Fan-out 4 splits a patch into 2x2 children (child `c = 2 * dy + dx`);
//!   fan-out 2 into 1x2 (`c = dx`, 1-D signals: the image is one patch
//!   tall); fan-out 1 keeps one child (a purely deep model). Root patches
//!   tile a square grid for fan-out 4 and a row otherwise.

use nalgebra::{DMatrix, DMatrixView, Dyn};

/// The patch grid of a multi-resolution image. Checked by the config layer:
/// `fanout` in {1, 2, 4}; for fan-out 4, `root_patches` is a perfect square;
/// for pyramid use, `side` is divisible by the split.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Geometry {
    pub levels: usize,
    pub root_patches: usize,
    pub fanout: usize,
    pub side: usize,
    pub channels: usize,
}

impl Geometry {
    /// Values per patch, `n = side^2 * channels`.
    pub fn patch_dim(&self) -> usize {
        self.side * self.side * self.channels
    }

    /// Patches at level `l` (1-based): `P_l = P_1 * r^(l-1)`.
    pub fn patches(&self, level: usize) -> usize {
        self.root_patches * self.fanout.pow(level as u32 - 1)
    }

    /// Split factors (rows, cols) of one parent into its children.
    pub fn split(&self) -> (usize, usize) {
        match self.fanout {
            4 => (2, 2),
            2 => (1, 2),
            _ => (1, 1),
        }
    }

    /// Grid of root patches (rows, cols).
    pub fn root_grid(&self) -> (usize, usize) {
        if self.fanout == 4 {
            let g = (self.root_patches as f64).sqrt().round() as usize;
            (g, g)
        } else {
            (1, self.root_patches)
        }
    }

    /// Patch grid (rows, cols) at level `l`.
    pub fn grid(&self, level: usize) -> (usize, usize) {
        let (gr, gc) = self.root_grid();
        let (fy, fx) = self.split();
        let e = level as u32 - 1;
        (gr * fy.pow(e), gc * fx.pow(e))
    }

    /// Image size (height, width) in pixels at level `l`. For fan-out 1 every
    /// level has the same size.
    pub fn image_dims(&self, level: usize) -> (usize, usize) {
        let (r, c) = self.grid(level);
        (r * self.side, c * self.side)
    }

    /// Grid position (row, col) of patch `p` at level `l`.
    pub fn patch_position(&self, level: usize, p: usize) -> (usize, usize) {
        if level == 1 {
            let (_, gc) = self.root_grid();
            return (p / gc, p % gc);
        }
        let (fy, fx) = self.split();
        let (qr, qc) = self.patch_position(level - 1, p / self.fanout);
        let c = p % self.fanout;
        (qr * fy + c / fx, qc * fx + c % fx)
    }

    /// The stacked nearest-neighbour upsampling `[U_0; ...; U_{r-1}]`, an
    /// `(r n) x n` 0/1 matrix: `U_c x` is quadrant `c` of parent patch `x`
    /// blown up to a full patch. Pooling a child by the split factors gives
    /// back the parent's quadrant exactly.
    pub fn upsample_stack(&self) -> DMatrix<f64> {
        let (n, s, ch) = (self.patch_dim(), self.side, self.channels);
        let (fy, fx) = self.split();
        let mut u = DMatrix::zeros(self.fanout * n, n);
        for c in 0..self.fanout {
            let (dy, dx) = (c / fx, c % fx);
            for i in 0..s {
                for j in 0..s {
                    let pi = dy * (s / fy) + i / fy;
                    let pj = dx * (s / fx) + j / fx;
                    for k in 0..ch {
                        u[(c * n + (i * s + j) * ch + k, (pi * s + pj) * ch + k)] = 1.0;
                    }
                }
            }
        }
        u
    }

    /// Orthonormal basis (`n x d`) of the detail subspace: patches whose
    /// every `fy x fx` block (per channel) has zero mean. Built from Helmert
    /// contrasts inside each block, so it is exact: `d = n (1 - 1/(fy fx))`.
    pub fn detail_basis(&self) -> DMatrix<f64> {
        let (n, s, ch) = (self.patch_dim(), self.side, self.channels);
        let (fy, fx) = self.split();
        let k = fy * fx;
        let d = n - n / k;
        let mut q = DMatrix::zeros(n, d);
        let mut col = 0;
        for bi in 0..s / fy {
            for bj in 0..s / fx {
                for c in 0..ch {
                    let idx: Vec<usize> = (0..k)
                        .map(|t| ((bi * fy + t / fx) * s + bj * fx + t % fx) * ch + c)
                        .collect();
                    // Helmert vector j: (1, ..., 1, -j, 0, ...) / sqrt(j (j + 1)).
                    for jh in 1..k {
                        let norm = ((jh * (jh + 1)) as f64).sqrt();
                        for &t in &idx[..jh] {
                            q[(t, col)] = 1.0 / norm;
                        }
                        q[(idx[jh], col)] = -(jh as f64) / norm;
                        col += 1;
                    }
                }
            }
        }
        q
    }

    /// Dimension of the detail subspace (see [`Self::detail_basis`]).
    pub fn detail_dim(&self) -> usize {
        let (fy, fx) = self.split();
        let n = self.patch_dim();
        n - n / (fy * fx)
    }

    /// Average-pools one level-`l` image (row-major, `H x W x C`) by the split
    /// factors, giving the level-`(l-1)` image.
    pub fn pool_image(&self, level: usize, img: &[f64]) -> Vec<f64> {
        let (h, w) = self.image_dims(level);
        let (fy, fx) = self.split();
        let ch = self.channels;
        let (ph, pw) = (h / fy, w / fx);
        let mut out = vec![0.0; ph * pw * ch];
        let scale = 1.0 / (fy * fx) as f64;
        for i in 0..h {
            for j in 0..w {
                for c in 0..ch {
                    out[((i / fy) * pw + j / fx) * ch + c] += scale * img[(i * w + j) * ch + c];
                }
            }
        }
        out
    }

    /// Pixels of sample `b` at level `l` from the level's patch matrix
    /// (`n x (B P_l)`): a row-major `H x W x C` image.
    pub fn to_image(&self, level: usize, x: &DMatrix<f64>, b: usize) -> Vec<f64> {
        let (h, w) = self.image_dims(level);
        let (s, ch, pl) = (self.side, self.channels, self.patches(level));
        let mut img = vec![0.0; h * w * ch];
        for p in 0..pl {
            let (gr, gc) = self.patch_position(level, p);
            let col = x.column(b * pl + p);
            for i in 0..s {
                for j in 0..s {
                    for c in 0..ch {
                        img[((gr * s + i) * w + gc * s + j) * ch + c] = col[(i * s + j) * ch + c];
                    }
                }
            }
        }
        img
    }

    /// Inverse of [`Self::to_image`]: cuts a row-major `H x W x C` image into
    /// the level's patches, writing them into columns `b P_l .. (b+1) P_l`.
    pub fn image_to_patches(&self, level: usize, img: &[f64], x: &mut DMatrix<f64>, b: usize) {
        let (_, w) = self.image_dims(level);
        let (s, ch, pl) = (self.side, self.channels, self.patches(level));
        for p in 0..pl {
            let (gr, gc) = self.patch_position(level, p);
            let mut col = x.column_mut(b * pl + p);
            for i in 0..s {
                for j in 0..s {
                    for c in 0..ch {
                        col[(i * s + j) * ch + c] = img[((gr * s + i) * w + gc * s + j) * ch + c];
                    }
                }
            }
        }
    }
}

/// The same memory as a level's patch matrix `n x (B P)`, viewed as one flat
/// vector per sample: `(n P) x B` (see the module docs on layout).
pub fn flat(x: &DMatrix<f64>, patches: usize) -> DMatrixView<'_, f64> {
    let n = x.nrows() * patches;
    let b = x.ncols() / patches;
    DMatrixView::from_slice(x.as_slice(), n, b)
}

/// Reinterprets a stacked product `(r a) x K` as `a x (r K)` without
/// copying (see the module docs: this is how children are laid out).
pub fn unstack(m: DMatrix<f64>, rows: usize) -> DMatrix<f64> {
    let cols = m.len() / rows;
    m.reshape_generic(Dyn(rows), Dyn(cols))
}

/// Inverse of [`unstack`]: reads `a x (r K)` as `(r a) x K`.
pub fn stack(m: DMatrix<f64>, rows: usize) -> DMatrix<f64> {
    let cols = m.len() / rows;
    m.reshape_generic(Dyn(rows), Dyn(cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(fanout: usize, side: usize, channels: usize) -> Geometry {
        Geometry {
            levels: 3,
            root_patches: 1,
            fanout,
            side,
            channels,
        }
    }

    #[test]
    fn detail_basis_is_orthonormal_and_block_mean_free() {
        for (r, s, ch) in [(4, 4, 1), (2, 4, 1), (4, 2, 3)] {
            let g = geo(r, s, ch);
            let q = g.detail_basis();
            assert_eq!(q.ncols(), g.detail_dim());
            let eye = q.transpose() * &q;
            assert!((eye - DMatrix::identity(q.ncols(), q.ncols())).amax() < 1e-12);
            // Pooling a patch made of one detail vector gives zero.
            let g1 = Geometry {
                levels: 1,
                ..g.clone()
            };
            for k in 0..q.ncols() {
                let col: Vec<f64> = q.column(k).iter().copied().collect();
                let pooled = Geometry {
                    levels: 2,
                    ..g1.clone()
                }
                .pool_image(1, &col);
                assert!(pooled.iter().all(|v| v.abs() < 1e-12));
            }
        }
    }

    #[test]
    fn positions_tile_the_grid() {
        let g = geo(4, 4, 1);
        let mut seen = std::collections::HashSet::new();
        for p in 0..g.patches(3) {
            assert!(seen.insert(g.patch_position(3, p)));
        }
        assert_eq!(seen.len(), 16);
        assert_eq!(g.image_dims(3), (16, 16));
    }
}
