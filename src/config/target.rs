//! The `[target]` section: raw TOML fields (SPEC §1 parameters) and their
//! validation into a [`TargetSpec`]. Every rule has its own error variant in
//! [`super::ConfigError`], naming the field, the value and what is allowed.

use serde::{Deserialize, Serialize};

use super::{ConfigError, OneOrMany};
use crate::target::{Geometry, OutputMode, TargetSpec};

/// Largest number of levels accepted (P_L grows as r^(L-1)).
pub const MAX_LEVELS: usize = 8;
/// Largest number of pixel values per sample at the top level, so that a
/// typo cannot ask for terabytes (a 1024x1024 RGB image is ~3.1M).
pub const MAX_VALUES: usize = 1 << 22;

/// `[target]` as written in TOML. Defaults are those of SPEC §1.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTarget {
    /// Resolutions L. Default 3: the smallest depth where "forward" order
    /// among more than two levels can be observed.
    pub levels: i64,
    /// Patches at level 1 (P_1). Default 1: one root patch, a 4x4 image.
    pub root_patches: i64,
    /// Children per patch (r). Default 4: 2x2 split, the image side doubles.
    pub fanout: i64,
    /// Patch side in pixels. Default 4 (n = 16).
    pub patch_side: i64,
    /// Colour channels per pixel. Default 1 (grayscale).
    pub channels: i64,
    /// Hidden widths m_l: one value for every level, or one per level.
    /// Default 12: fills the 12-dim zero-mean detail subspace of 4x4 patches,
    /// so dictionaries are orthonormal.
    pub widths: OneOrMany,
    /// Latent dimension m_0. Default 12 = P_1 m_1, so level-1 rows are
    /// orthonormal and level-1 units independent.
    pub latent_dim: i64,
    /// Active units k_l per patch: one value or one per level. Default 3.
    pub active: OneOrMany,
    /// `pyramid` (default: the low resolution is the pooled high one, as in
    /// photographs) or `direct` (the paper's hierarchical sparse coding).
    pub output: String,
    /// Allowed coherence when a dictionary cannot be orthonormal. Default
    /// 0.3: the value of the over-complete probe in NOTES.md.
    pub max_coherence: f64,
    /// Output noise sigma. Default 0 (exact FSR).
    pub noise_sigma: f64,
    /// FSR strength knob lambda in [0, 1]. Default 0 (pure FSR).
    pub lambda: f64,
    /// Monte-Carlo parent patches per level for bias calibration. Default
    /// 20000: the 0.75 quantile then has a standard error of ~0.3% in rate.
    pub calibration_patches: i64,
    /// Seed of the target's own random draws. Default 0.
    pub seed: i64,
}

impl Default for RawTarget {
    fn default() -> Self {
        RawTarget {
            levels: 3,
            root_patches: 1,
            fanout: 4,
            patch_side: 4,
            channels: 1,
            widths: OneOrMany::One(12),
            latent_dim: 12,
            active: OneOrMany::One(3),
            output: "pyramid".into(),
            max_coherence: 0.3,
            noise_sigma: 0.0,
            lambda: 0.0,
            calibration_patches: 20_000,
            seed: 0,
        }
    }
}

/// Smallest possible coherence of `m` unit vectors in `R^d` (Welch bound).
pub fn welch_bound(m: usize, d: usize) -> f64 {
    if m <= d || m < 2 {
        0.0
    } else {
        (((m - d) as f64) / ((d * (m - 1)) as f64)).sqrt()
    }
}

fn positive(field: &'static str, v: i64) -> Result<usize, ConfigError> {
    if v >= 1 {
        Ok(v as usize)
    } else {
        Err(ConfigError::NotPositive { field, value: v })
    }
}

impl RawTarget {
    /// Validates every field once; the result is what the library accepts.
    pub fn check(&self) -> Result<TargetSpec, ConfigError> {
        let levels = positive("target.levels", self.levels)?;
        if levels > MAX_LEVELS {
            return Err(ConfigError::TooManyLevels { value: levels });
        }
        let fanout = self.fanout;
        if ![1, 2, 4].contains(&fanout) {
            return Err(ConfigError::Fanout { value: fanout });
        }
        let fanout = fanout as usize;
        let root = positive("target.root_patches", self.root_patches)?;
        if fanout == 4 {
            let g = (root as f64).sqrt().round() as usize;
            if g * g != root {
                return Err(ConfigError::RootNotSquare { value: root });
            }
        }
        let side = positive("target.patch_side", self.patch_side)?;
        let channels = positive("target.channels", self.channels)?;
        if channels > 4 {
            return Err(ConfigError::Channels { value: channels });
        }
        let output = match self.output.as_str() {
            "pyramid" => OutputMode::Pyramid,
            "direct" => OutputMode::Direct,
            _ => {
                return Err(ConfigError::OutputMode {
                    value: self.output.clone(),
                });
            }
        };
        if output == OutputMode::Pyramid && levels >= 2 {
            if fanout == 1 {
                return Err(ConfigError::PyramidFanout { value: fanout });
            }
            if side % 2 != 0 {
                return Err(ConfigError::PyramidOddSide { value: side });
            }
        }
        let geometry = Geometry {
            levels,
            root_patches: root,
            fanout,
            side,
            channels,
        };
        let n = geometry.patch_dim();
        let top = (root as u128) * (fanout as u128).pow(levels as u32 - 1) * n as u128;
        if top > MAX_VALUES as u128 {
            return Err(ConfigError::TooLarge {
                values: top,
                max: MAX_VALUES,
            });
        }
        let widths = self.widths.expand("target.widths", levels)?;
        for (l, &w) in widths.iter().enumerate() {
            if w < 1 {
                return Err(ConfigError::WidthZero {
                    level: l + 1,
                    value: w,
                });
            }
        }
        let widths: Vec<usize> = widths.into_iter().map(|w| w as usize).collect();
        let active = self.active.expand("target.active", levels)?;
        for (l, (&k, &m)) in active.iter().zip(&widths).enumerate() {
            if k < 1 || k as usize > m {
                return Err(ConfigError::ActiveRange {
                    level: l + 1,
                    value: k,
                    width: m,
                });
            }
        }
        // An always-on unit cannot be calibrated: k = m only makes sense for m = 1.
        let active: Vec<usize> = active.into_iter().map(|k| k as usize).collect();
        let latent_dim = positive("target.latent_dim", self.latent_dim)?;
        let mu = self.max_coherence;
        if !(mu > 0.0 && mu < 1.0) {
            return Err(ConfigError::MaxCoherence { value: mu });
        }
        for (l, &m) in widths.iter().enumerate() {
            let dim = if output == OutputMode::Pyramid && l >= 1 {
                geometry.detail_dim()
            } else {
                n
            };
            let welch = welch_bound(m, dim);
            if m > dim && mu < welch {
                return Err(ConfigError::WidthExceedsSubspace {
                    level: l + 1,
                    width: m,
                    dim,
                    max_coherence: mu,
                    welch,
                });
            }
        }
        if !(self.noise_sigma.is_finite() && self.noise_sigma >= 0.0) {
            return Err(ConfigError::NoiseSigma {
                value: self.noise_sigma,
            });
        }
        if !(0.0..=1.0).contains(&self.lambda) {
            return Err(ConfigError::Lambda { value: self.lambda });
        }
        let calibration_patches = positive("target.calibration_patches", self.calibration_patches)?;
        if calibration_patches < 100 {
            return Err(ConfigError::CalibrationTooSmall {
                value: calibration_patches,
            });
        }
        if self.seed < 0 {
            return Err(ConfigError::NegativeSeed {
                field: "target.seed",
                value: self.seed,
            });
        }
        Ok(TargetSpec {
            geometry,
            widths,
            latent_dim,
            active,
            output,
            max_coherence: mu,
            noise_sigma: self.noise_sigma,
            lambda: self.lambda,
            calibration_patches,
            seed: self.seed as u64,
        })
    }
}
