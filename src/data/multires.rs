//! Multi-resolution samples from real images, in the target's layout
//! (`crate::target::geometry` module docs).
//!
//! The top level `L` is the image (or crop); level `l - 1` is the 2x2 average
//! pooling of level `l` (`Geometry::pool_image`), so the pyramid relation of
//! SPEC §1 holds exactly. Each level is cut into its patch grid with
//! `Geometry::image_to_patches`. Geometry: fan-out 4 (2x2 children), the
//! given patch side, and a `g x g` root grid where `g = side / (patch_side *
//! 2^(L-1))` (1 for random crops).

use nalgebra::DMatrix;
use rand::{Rng, RngExt};

use super::DataError;
use super::load::Image;
use crate::target::geometry::{Geometry, unstack};

/// Samples `(X_1, ..., X_L)`: `x[l - 1]` is `n x (N P_l)`, column `b P_l + p`
/// is patch `p` of sample `b` at level `l`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiRes {
    pub geometry: Geometry,
    pub x: Vec<DMatrix<f64>>,
}

impl MultiRes {
    /// Number of samples `N`.
    pub fn samples(&self) -> usize {
        self.x.first().map_or(0, |x| x.ncols() / self.geometry.patches(1))
    }

    /// `Up(X_{l-1})` in the level-`l` layout (nearest-neighbour upsampling of
    /// each child's parent quadrant), for `2 <= level <= L`.
    pub fn upsample(&self, level: usize) -> DMatrix<f64> {
        let up = self.geometry.upsample_stack();
        unstack(&up * &self.x[level - 2], self.geometry.patch_dim())
    }

    /// The detail `D_l = X_l - Up(X_{l-1})`, `n x (N P_l)`, for `2 <= level <= L`.
    /// Every 2x2 block of a detail patch has zero mean (per channel).
    pub fn detail(&self, level: usize) -> DMatrix<f64> {
        &self.x[level - 1] - self.upsample(level)
    }

    /// Sample `b` at level `l` as a row-major `H x W x C` image.
    pub fn image(&self, level: usize, b: usize) -> Vec<f64> {
        self.geometry.to_image(level, &self.x[level - 1], b)
    }

    /// The samples `idx` (in that order; repeats allowed), as a new set.
    pub fn select(&self, idx: &[usize]) -> MultiRes {
        let x = self
            .x
            .iter()
            .enumerate()
            .map(|(i, xl)| {
                let pl = self.geometry.patches(i + 1);
                let n = xl.nrows();
                let mut out = DMatrix::zeros(n, idx.len() * pl);
                for (k, &b) in idx.iter().enumerate() {
                    out.columns_mut(k * pl, pl).copy_from(&xl.columns(b * pl, pl));
                }
                out
            })
            .collect();
        MultiRes {
            geometry: self.geometry.clone(),
            x,
        }
    }

    /// Builds every level from top-level images (each row-major, of size
    /// `geometry.image_dims(L)` with `geometry.channels` channels).
    fn from_tops<'a>(geometry: Geometry, tops: impl ExactSizeIterator<Item = &'a [f64]>) -> MultiRes {
        let count = tops.len();
        let n = geometry.patch_dim();
        let levels = geometry.levels;
        let mut x: Vec<DMatrix<f64>> = (1..=levels)
            .map(|l| DMatrix::zeros(n, count * geometry.patches(l)))
            .collect();
        for (b, top) in tops.enumerate() {
            let mut img = top.to_vec();
            for l in (1..=levels).rev() {
                geometry.image_to_patches(l, &img, &mut x[l - 1], b);
                if l > 1 {
                    img = geometry.pool_image(l, &img);
                }
            }
        }
        MultiRes { geometry, x }
    }
}

fn geometry(levels: usize, root_grid: usize, patch_side: usize, channels: usize) -> Geometry {
    Geometry {
        levels,
        root_patches: root_grid * root_grid,
        fanout: 4,
        side: patch_side,
        channels,
    }
}

/// Side of the top-level image for one root patch: `patch_side * 2^(L-1)`,
/// `None` on overflow.
fn unit_side(patch_side: usize, levels: usize) -> Option<usize> {
    let shift = u32::try_from(levels.checked_sub(1)?).ok()?;
    patch_side.checked_mul(1usize.checked_shl(shift)?)
}

/// Whole images as samples: every image must be square, all of one size `s`
/// and channel count, with `s` a positive multiple of `patch_side *
/// 2^(levels-1)`. E.g. the 8x8 digits with patch side 2 and 3 levels give
/// 2x2, 4x4 and 8x8 images of 1, 4 and 16 patches.
pub fn pyramid(images: &[Image], patch_side: usize, levels: usize) -> Result<MultiRes, DataError> {
    let first = images.first().ok_or(DataError::NoImages)?;
    let side = first.width;
    let ch = first.channels;
    for im in images {
        if im.width != side || im.height != side {
            return Err(DataError::ImageShape {
                path: im.source.clone(),
                width: im.width,
                height: im.height,
                side,
            });
        }
        if im.channels != ch {
            return Err(DataError::ChannelMismatch {
                path: im.source.clone(),
                found: im.channels,
                expected: ch,
            });
        }
    }
    let unit = unit_side(patch_side, levels).unwrap_or(0);
    if levels == 0 || unit == 0 || side == 0 || side % unit != 0 {
        return Err(DataError::PyramidSide { side, unit });
    }
    let geo = geometry(levels, side / unit, patch_side, ch);
    Ok(MultiRes::from_tops(
        geo,
        images.iter().map(|im| im.pixels.as_slice()),
    ))
}

/// `samples` random square crops of side `patch_side * 2^(levels-1)` as
/// samples with one root patch (e.g. 16x16 crops, patch side 4, 3 levels:
/// 4x4, 8x8 and 16x16 images of 1, 4 and 16 patches). Every crop position of
/// every image is equally likely (so larger images give more crops); the
/// draws use only `rng`, so a seed fixes the set.
pub fn random_patches<R: Rng + ?Sized>(
    images: &[Image],
    patch_side: usize,
    levels: usize,
    samples: usize,
    rng: &mut R,
) -> Result<MultiRes, DataError> {
    let first = images.first().ok_or(DataError::NoImages)?;
    let ch = first.channels;
    let crop = match unit_side(patch_side, levels) {
        Some(c) if c > 0 && levels > 0 => c,
        _ => return Err(DataError::PyramidSide { side: 0, unit: 0 }),
    };
    // Cumulative count of crop positions, image by image.
    let mut cum: Vec<u64> = Vec::with_capacity(images.len());
    let mut total: u64 = 0;
    for im in images {
        if im.channels != ch {
            return Err(DataError::ChannelMismatch {
                path: im.source.clone(),
                found: im.channels,
                expected: ch,
            });
        }
        if im.width < crop || im.height < crop {
            return Err(DataError::ImageTooSmall {
                path: im.source.clone(),
                width: im.width,
                height: im.height,
                crop,
            });
        }
        total += ((im.width - crop + 1) * (im.height - crop + 1)) as u64;
        cum.push(total);
    }
    let geo = geometry(levels, 1, patch_side, ch);
    let mut tops: Vec<Vec<f64>> = Vec::with_capacity(samples);
    for _ in 0..samples {
        let u: u64 = rng.random_range(0..total);
        let k = cum.partition_point(|&c| c <= u);
        let im = &images[k];
        let off = u - if k == 0 { 0 } else { cum[k - 1] };
        let cols = (im.width - crop + 1) as u64;
        let (i0, j0) = ((off / cols) as usize, (off % cols) as usize);
        let mut top = Vec::with_capacity(crop * crop * ch);
        for i in 0..crop {
            let start = ((i0 + i) * im.width + j0) * ch;
            top.extend_from_slice(&im.pixels[start..start + crop * ch]);
        }
        tops.push(top);
    }
    Ok(MultiRes::from_tops(geo, tops.iter().map(Vec::as_slice)))
}

/// Per-image standardisation, in place: each image's per-channel mean is
/// subtracted, then every image is divided by one global standard deviation
/// (the root mean square of all centred values of all images), so relative
/// contrast between images is kept. Affine per image, so it commutes with
/// average pooling: pyramids stay exact. Errors when that deviation is 0.
pub fn standardize(images: &mut [Image]) -> Result<(), DataError> {
    let mut sum_sq = 0.0;
    let mut count = 0usize;
    for im in images.iter_mut() {
        let ch = im.channels.max(1);
        let px = im.pixels.len() / ch;
        if px == 0 {
            continue;
        }
        for c in 0..ch {
            let mean = im.pixels.iter().skip(c).step_by(ch).sum::<f64>() / px as f64;
            for v in im.pixels.iter_mut().skip(c).step_by(ch) {
                *v -= mean;
                sum_sq += *v * *v;
            }
        }
        count += im.pixels.len();
    }
    let std = (sum_sq / count.max(1) as f64).sqrt();
    if !(std > 1e-12 && std.is_finite()) {
        return Err(DataError::ZeroVariance);
    }
    for im in images.iter_mut() {
        for v in &mut im.pixels {
            *v /= std;
        }
    }
    Ok(())
}
