//! The `[data]` config section: [`RawData`] (serde, `deny_unknown_fields`)
//! is validated into a checked [`DataSpec`], one [`DataError`] variant per
//! rule. Relative paths are taken as written (relative to the working
//! directory: run from the repository root).
//!
//! ```toml
//! [data]
//! kind = "csv"              # "csv" (alias "digits_csv") or "images"
//! path = "data/digits.csv"  # one file, or a list of PNGs for "images"
//! patch_side = 2            # side of every patch (even when levels >= 2)
//! levels = 3                # resolutions; lower ones by 2x2 average pooling
//! # samples = 1000          # csv: a seeded random subset (default: all rows)
//!                           # images: random crops (default 20000)
//! channels = 1              # 1 = grayscale (luminance), 3 = RGB
//! standardize = false       # per-image mean removed, / global std
//! pixel_max = 16            # csv only: value that maps to 1 (default inferred)
//! # image_side = 8          # csv only (default inferred from the columns)
//! seed = 0                  # crop positions / subset
//! ```

use std::path::PathBuf;

use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::DataError;
use super::load::{ColorMode, CsvOptions, load_csv, load_png};
use super::multires::{MultiRes, pyramid, random_patches, standardize};

/// Default number of random crops for kind "images".
pub const DEFAULT_CROPS: usize = 20_000;
/// Largest top-level crop / image side that `patch_side x 2^(levels-1)` may reach.
pub const MAX_CROP: usize = 4096;

/// One path or a list of paths.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum RawPaths {
    One(String),
    Many(Vec<String>),
}

/// The `[data]` section as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RawData {
    pub kind: Option<String>,
    pub path: Option<RawPaths>,
    pub patch_side: Option<i64>,
    pub levels: Option<i64>,
    pub samples: Option<i64>,
    pub channels: Option<i64>,
    pub standardize: Option<bool>,
    pub pixel_max: Option<f64>,
    pub image_side: Option<i64>,
    pub seed: Option<i64>,
}

/// What kind of files, with the kind's own options.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum DataKind {
    /// One CSV file, one image per row; whole images become samples.
    Csv {
        pixel_max: Option<f64>,
        image_side: Option<usize>,
        /// A seeded random subset of this many rows (`None` = all).
        subset: Option<usize>,
    },
    /// PNG files; `crops` random crops become samples.
    Images { crops: usize },
}

/// A checked `[data]` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSpec {
    pub kind: DataKind,
    pub paths: Vec<PathBuf>,
    pub patch_side: usize,
    pub levels: usize,
    pub color: ColorMode,
    pub standardize: bool,
    pub seed: u64,
}

impl RawData {
    /// Checks every rule; the first broken one is the error.
    pub fn validate(&self) -> Result<DataSpec, DataError> {
        let kind_name = self.kind.as_deref().ok_or(DataError::KindMissing)?;
        let is_csv = match kind_name {
            "csv" | "digits_csv" => true,
            "images" => false,
            other => {
                return Err(DataError::Kind {
                    value: other.to_string(),
                });
            }
        };
        let paths: Vec<PathBuf> = match &self.path {
            None => Vec::new(),
            Some(RawPaths::One(p)) => vec![PathBuf::from(p)],
            Some(RawPaths::Many(v)) => v.iter().map(PathBuf::from).collect(),
        };
        if paths.is_empty() || paths.iter().any(|p| p.as_os_str().is_empty()) {
            return Err(DataError::PathMissing);
        }
        if is_csv && paths.len() != 1 {
            return Err(DataError::CsvPathCount { count: paths.len() });
        }
        let levels = self.levels.unwrap_or(3);
        if !(1..=8).contains(&levels) {
            return Err(DataError::Levels { value: levels });
        }
        let levels = levels as usize;
        let patch_side = self.patch_side.unwrap_or(if is_csv { 2 } else { 4 });
        if !(1..=64).contains(&patch_side) {
            return Err(DataError::PatchSide { value: patch_side });
        }
        let patch_side = patch_side as usize;
        if levels >= 2 && !patch_side.is_multiple_of(2) {
            return Err(DataError::PatchSideOdd { value: patch_side });
        }
        let crop = (patch_side as u128) << (levels - 1);
        if crop > MAX_CROP as u128 {
            return Err(DataError::CropTooLarge { crop, max: MAX_CROP });
        }
        let samples = match self.samples {
            Some(v) if v < 1 => return Err(DataError::Samples { value: v }),
            Some(v) => Some(v as usize),
            None => None,
        };
        let color = match self.channels.unwrap_or(1) {
            1 => ColorMode::Gray,
            3 => ColorMode::Rgb,
            v => return Err(DataError::Channels { value: v }),
        };
        let seed = self.seed.unwrap_or(0);
        if seed < 0 {
            return Err(DataError::Seed { value: seed });
        }
        if let Some(m) = self.pixel_max
            && !(m.is_finite() && m > 0.0)
        {
            return Err(DataError::PixelMax { value: m });
        }
        let image_side = match self.image_side {
            Some(v) if v < 1 => return Err(DataError::ImageSide { value: v }),
            Some(v) => Some(v as usize),
            None => None,
        };
        let kind = if is_csv {
            DataKind::Csv {
                pixel_max: self.pixel_max,
                image_side,
                subset: samples,
            }
        } else {
            if self.pixel_max.is_some() {
                return Err(DataError::CsvOnlyField {
                    field: "pixel_max",
                    kind: kind_name.to_string(),
                });
            }
            if image_side.is_some() {
                return Err(DataError::CsvOnlyField {
                    field: "image_side",
                    kind: kind_name.to_string(),
                });
            }
            DataKind::Images {
                crops: samples.unwrap_or(DEFAULT_CROPS),
            }
        };
        Ok(DataSpec {
            kind,
            paths,
            patch_side,
            levels,
            color,
            standardize: self.standardize.unwrap_or(false),
            seed: seed as u64,
        })
    }
}

/// Parses the `[data]` table of a TOML document (other tables are ignored;
/// a missing `[data]` table validates like an empty one). `source` names
/// the file in errors.
pub fn parse_data_section(text: &str, source: &str) -> Result<DataSpec, DataError> {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(default)]
        data: RawData,
    }
    // `Doc` does not deny unknown fields, so other tables are ignored here.
    let doc: Doc = toml::from_str(text).map_err(|e| DataError::ConfigParse {
        path: source.to_string(),
        reason: one_line(&e.to_string()),
    })?;
    doc.data.validate()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl DataSpec {
    /// Loads the files and builds the multi-resolution samples: kind "csv"
    /// gives whole-image pyramids, kind "images" random crops; both
    /// deterministic given `seed`.
    pub fn load(&self) -> Result<MultiRes, DataError> {
        let mut rng = crate::target::rand_chacha(self.seed);
        match &self.kind {
            DataKind::Csv {
                pixel_max,
                image_side,
                subset,
            } => {
                let opts = CsvOptions {
                    image_side: *image_side,
                    channels: self.color.channels(),
                    pixel_max: *pixel_max,
                };
                let mut images = load_csv(&self.paths[0], &opts)?;
                if let Some(k) = *subset {
                    if k > images.len() {
                        return Err(DataError::SamplesExceedRows {
                            samples: k,
                            available: images.len(),
                        });
                    }
                    // Partial Fisher-Yates: a seeded subset of k rows.
                    for i in 0..k {
                        let j = rng.random_range(i..images.len());
                        images.swap(i, j);
                    }
                    images.truncate(k);
                }
                if self.standardize {
                    standardize(&mut images)?;
                }
                pyramid(&images, self.patch_side, self.levels)
            }
            DataKind::Images { crops } => {
                let mut images = self
                    .paths
                    .iter()
                    .map(|p| load_png(p, self.color))
                    .collect::<Result<Vec<_>, _>>()?;
                if self.standardize {
                    standardize(&mut images)?;
                }
                random_patches(&images, self.patch_side, self.levels, *crops, &mut rng)
            }
        }
    }
}
