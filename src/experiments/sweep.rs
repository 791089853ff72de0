//! Sweeps (issue 6; SPEC §3 "Sample / Time complexity", §6 `sweep`, §7
//! "sweeps write each finished cell as one complete JSON line, flushed; a
//! killed sweep resumes", §8 "Sweep results"). This module owns the sweep
//! file (raw TOML → checked [`Sweep`], one [`SweepError`] variant per
//! rule), the cells (cartesian product of each grid's axes × seeds, in a
//! fixed order), and [`run_sweep`]: parallel, resumable, shardable, one
//! JSON line per finished cell ([`CellRecord`]).
//!
//! A sweep file:
//!
//! ```toml
//! base = "../default.toml"          # relative to the sweep file; omit = built-in defaults
//! set = ["target.levels=1"]         # overrides applied to the base, as `--set`
//! seeds = "0..3"                    # or [0, 1, 2]
//! [budget]
//! iterations = 2000                 # T_max (sets training.iterations)
//! eval_every = 250                  # sets training.eval_every
//! stop_on_success = true            # default true: stop a cell at its first success
//! [eval]                            # optional: EvalSpec sizes (defaults = EvalSpec::default)
//! mmd_samples = 300
//! [axes]                            # one grid; or several [[grid]] tables with name/set/axes
//! "target.widths" = [8, 12, 16]
//! "target.widths+target.latent_dim" = [[4, 4], [8, 8]]   # linked axis: one value per path
//! ```
//!
//! Cells are numbered grid by grid, axis combinations in key order (last
//! axis fastest), seeds innermost. Each cell is a pure function of its
//! resolved config, the evaluation spec and its seed, so results do not
//! depend on `--jobs` or `--shard`. Cells whose (config hash, seed) equal
//! an earlier cell's are computed once and written for each cell.
//!
//! A cell succeeds when its run completed and some evaluation within T_max
//! passed the success test of `metrics::summary` (`iterations_to_success`
//! is set); `final_success` is the summary's stricter final evaluation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::run::{EvalSpec, run_target};
use crate::config::{self, Config, ConfigError, RawConfig};
use crate::gan::trainer::RunStatus;
use crate::target::Target;

/// Largest number of cells a sweep may have (a typo guard).
pub const MAX_CELLS: usize = 100_000;

/// Config fields a sweep controls itself (`[budget]`, seeds): they may not
/// appear in `set` or as axes.
const RESERVED: [&str; 3] = ["training.iterations", "training.eval_every", "training.seed"];

/// Every way a sweep file, a shard spec or a results file can be rejected;
/// one variant per rule, each message one line naming the field, the value
/// and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("cannot read sweep file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("sweep file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("sweep base = {path:?}: {reason}")]
    Base { path: String, reason: String },
    #[error("sweep {place} {value:?}: {reason}")]
    Set {
        place: String,
        value: String,
        reason: String,
    },
    #[error("sweep {place} {value:?}: {key} is set by [budget] / seeds, remove it here")]
    ReservedSet {
        place: String,
        value: String,
        key: String,
    },
    #[error("sweep seeds: the list is empty; give at least one seed")]
    NoSeeds,
    #[error("sweep seeds = {value:?}: expected a list of integers >= 0 or a range \"a..b\" with a < b")]
    SeedsSyntax { value: String },
    #[error("sweep seeds: {value} must be >= 0")]
    NegativeSeed { value: i64 },
    #[error("sweep seeds: {value} appears twice")]
    DuplicateSeed { value: u64 },
    #[error("sweep budget.iterations = {value}: must be >= 1")]
    Iterations { value: i64 },
    #[error("sweep budget.eval_every = {value}: must be in 1..={iterations} (budget.iterations)")]
    EvalEvery { value: i64, iterations: i64 },
    #[error("sweep eval.{field} = {value}: must be >= {min}")]
    EvalField {
        field: &'static str,
        value: i64,
        min: i64,
    },
    #[error("sweep: give either an [axes] table or [[grid]] tables, not both")]
    AxesAndGrids,
    #[error("sweep grid #{index} name {name:?}: must be non-empty ASCII letters, digits, '_' or '-'")]
    GridName { index: usize, name: String },
    #[error("sweep grid name {name:?} appears twice; grid names must be unique")]
    DuplicateGrid { name: String },
    #[error(
        "sweep axis {axis:?} (grid {grid}): expected section.field (or a+b linked paths), e.g. \"target.widths\""
    )]
    AxisPath { grid: String, axis: String },
    #[error("sweep axis {axis} (grid {grid}): {path} is set by [budget] / seeds, it cannot be an axis")]
    ReservedAxis {
        grid: String,
        axis: String,
        path: String,
    },
    #[error("sweep axis {axis} (grid {grid}): {path} appears in two axes of the grid")]
    RepeatedPath {
        grid: String,
        axis: String,
        path: String,
    },
    #[error("sweep axis {axis} (grid {grid}): expected a list of values, got {value}")]
    AxisNotList {
        grid: String,
        axis: String,
        value: String,
    },
    #[error("sweep axis {axis} (grid {grid}): the value list is empty")]
    EmptyAxis { grid: String, axis: String },
    #[error("sweep axis {axis} (grid {grid}): value {value} appears twice")]
    DuplicateAxisValue {
        grid: String,
        axis: String,
        value: String,
    },
    #[error(
        "sweep axis {axis} (grid {grid}): value {value} must be a list of {paths} values, one per linked path"
    )]
    LinkedValue {
        grid: String,
        axis: String,
        value: String,
        paths: usize,
    },
    #[error("sweep axis {axis} = {value} (grid {grid}): {reason}")]
    AxisValue {
        grid: String,
        axis: String,
        value: String,
        reason: String,
    },
    #[error("sweep has {cells} cells; at most {max} are allowed (fewer axis values, grids or seeds)")]
    TooManyCells { cells: usize, max: usize },
    #[error("--shard {value:?}: expected i/n with n >= 1 and 0 <= i < n, e.g. 0/4")]
    Shard { value: String },
    #[error("--jobs {value}: must be >= 1")]
    Jobs { value: usize },
    #[error(
        "results file {path} already holds results; pass --resume to continue it, or choose another --out"
    )]
    ResultsExist { path: String },
    #[error("results file {path}: {reason}")]
    ResultsIo { path: String, reason: String },
}

// ---------------------------------------------------------------- raw file

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    #[serde(default)]
    base: Option<String>,
    #[serde(default)]
    set: Vec<String>,
    seeds: RawSeeds,
    budget: RawBudget,
    #[serde(default)]
    eval: RawEval,
    #[serde(default)]
    axes: Option<toml::Table>,
    #[serde(default)]
    grid: Vec<RawGrid>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSeeds {
    List(Vec<i64>),
    Range(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    iterations: i64,
    eval_every: i64,
    #[serde(default)]
    stop_on_success: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEval {
    heldout: Option<i64>,
    mmd_samples: Option<i64>,
    mmd_permutations: Option<i64>,
    final_mmd_samples: Option<i64>,
    final_permutations: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrid {
    name: String,
    #[serde(default)]
    seeds: Option<RawSeeds>,
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    axes: toml::Table,
}

// ------------------------------------------------------------ checked sweep

/// One axis: one config path (or several linked paths, set together) and
/// its values (for linked paths each value is a list, one entry per path).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The key as written (`target.widths` or `target.widths+target.latent_dim`).
    pub key: String,
    pub paths: Vec<String>,
    pub values: Vec<toml::Value>,
}

/// A named cartesian product of axes with its own extra overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub name: String,
    /// The grid's seeds (the sweep's `seeds` unless the grid names its own).
    pub seeds: Vec<u64>,
    pub sets: Vec<String>,
    /// In key order.
    pub axes: Vec<Axis>,
}

/// A checked sweep file.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The sweep file (for messages).
    pub path: PathBuf,
    /// The base config file, resolved against the sweep file's folder.
    pub base: Option<PathBuf>,
    base_text: String,
    base_name: String,
    pub sets: Vec<String>,
    pub seeds: Vec<u64>,
    /// T_max.
    pub iterations: usize,
    pub eval_every: usize,
    pub stop_on_success: bool,
    pub eval: EvalSpec,
    pub grids: Vec<Grid>,
}

/// One cell: a grid point and a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Stable index in the sweep's cell order.
    pub index: usize,
    /// Human-readable id: `grid/axis=value,.../seed=s`.
    pub id: String,
    pub grid: String,
    pub seed: u64,
    /// (axis key, value) in key order.
    pub axes: Vec<(String, toml::Value)>,
}

/// `--shard i/n`: run the cells whose index % n == i.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl std::str::FromStr for Shard {
    type Err = SweepError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SweepError::Shard { value: s.to_string() };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub fn contains(&self, cell: usize) -> bool {
        cell % self.count == self.index
    }
}

fn valid_path(p: &str) -> bool {
    let parts: Vec<&str> = p.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// The key of a `section.field=value` override (for the reserved check).
fn set_key(s: &str) -> Option<&str> {
    s.split_once('=').map(|(k, _)| k.trim())
}

/// Flattens nested tables (`[axes] target.widths = [...]` is written by
/// TOML as `{target = {widths = [...]}}`) into dotted keys.
fn flatten_axes(prefix: &str, t: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => flatten_axes(&key, inner, out),
            _ => out.push((key, v.clone())),
        }
    }
}

/// The `--set` strings of one axis value.
fn axis_sets(axis: &Axis, value: &toml::Value) -> Vec<String> {
    if axis.paths.len() == 1 {
        vec![format!("{}={}", axis.paths[0], value)]
    } else {
        let parts = value.as_array().cloned().unwrap_or_default();
        axis.paths
            .iter()
            .zip(parts)
            .map(|(p, v)| format!("{p}={v}"))
            .collect()
    }
}

fn eval_field(field: &'static str, v: Option<i64>, min: i64, default: usize) -> Result<usize, SweepError> {
    match v {
        None => Ok(default),
        Some(x) if x >= min => Ok(x as usize),
        Some(x) => Err(SweepError::EvalField { field, value: x, min }),
    }
}

fn check_seeds(raw: &RawSeeds) -> Result<Vec<u64>, SweepError> {
    let seeds: Vec<u64> = match raw {
        RawSeeds::List(v) => {
            if v.is_empty() {
                return Err(SweepError::NoSeeds);
            }
            let mut out = Vec::with_capacity(v.len());
            for &s in v {
                if s < 0 {
                    return Err(SweepError::NegativeSeed { value: s });
                }
                out.push(s as u64);
            }
            out
        }
        RawSeeds::Range(s) => {
            let bad = || SweepError::SeedsSyntax { value: s.clone() };
            let (a, b) = s.split_once("..").ok_or_else(bad)?;
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if b <= a {
                return Err(bad());
            }
            (a..b).collect()
        }
    };
    let mut seen = HashSet::new();
    for &s in &seeds {
        if !seen.insert(s) {
            return Err(SweepError::DuplicateSeed { value: s });
        }
    }
    Ok(seeds)
}

impl Sweep {
    /// Reads and checks a sweep file.
    pub fn load(path: &Path) -> Result<Sweep, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|e| SweepError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Sweep::parse(&text, path)
    }

    /// Parses and checks sweep text; `path` names it in messages and
    /// anchors a relative `base`.
    pub fn parse(text: &str, path: &Path) -> Result<Sweep, SweepError> {
        let name = path.display().to_string();
        let raw: RawSweep = toml::from_str(text).map_err(|e| SweepError::Parse {
            path: name.clone(),
            reason: e.to_string().split_whitespace().collect::<Vec<_>>().join(" "),
        })?;
        // Base config.
        let (base, base_text, base_name) = match &raw.base {
            None => (None, String::new(), "<defaults>".to_string()),
            Some(b) => {
                let dir = path.parent().unwrap_or_else(|| Path::new("."));
                let p = dir.join(b);
                let t = std::fs::read_to_string(&p).map_err(|e| SweepError::Base {
                    path: b.clone(),
                    reason: format!("cannot read {}: {e}", p.display()),
                })?;
                let n = p.display().to_string();
                (Some(p), t, n)
            }
        };
        config::parse_raw(&base_text, &base_name, &[]).map_err(|e| SweepError::Base {
            path: raw.base.clone().unwrap_or_default(),
            reason: e.to_string(),
        })?;
        let seeds = check_seeds(&raw.seeds)?;
        // Budget and evaluation.
        if raw.budget.iterations < 1 {
            return Err(SweepError::Iterations {
                value: raw.budget.iterations,
            });
        }
        if raw.budget.eval_every < 1 || raw.budget.eval_every > raw.budget.iterations {
            return Err(SweepError::EvalEvery {
                value: raw.budget.eval_every,
                iterations: raw.budget.iterations,
            });
        }
        let d = EvalSpec::default();
        let stop_on_success = raw.budget.stop_on_success.unwrap_or(true);
        let eval = EvalSpec {
            heldout: eval_field("heldout", raw.eval.heldout, 10, d.heldout)?,
            mmd_samples: eval_field("mmd_samples", raw.eval.mmd_samples, 10, d.mmd_samples)?,
            mmd_permutations: eval_field(
                "mmd_permutations",
                raw.eval.mmd_permutations,
                1,
                d.mmd_permutations,
            )?,
            final_mmd_samples: eval_field(
                "final_mmd_samples",
                raw.eval.final_mmd_samples,
                10,
                d.final_mmd_samples,
            )?,
            final_permutations: eval_field(
                "final_permutations",
                raw.eval.final_permutations,
                1,
                d.final_permutations,
            )?,
            stop_on_success,
            ..d
        };
        // Overrides.
        let check_sets = |place: &str, sets: &[String]| -> Result<(), SweepError> {
            for s in sets {
                let mut tree = toml::Table::new();
                config::apply_set(&mut tree, s).map_err(|e| SweepError::Set {
                    place: place.to_string(),
                    value: s.clone(),
                    reason: e.to_string(),
                })?;
                if let Some(k) = set_key(s).filter(|k| RESERVED.contains(k)) {
                    return Err(SweepError::ReservedSet {
                        place: place.to_string(),
                        value: s.clone(),
                        key: k.to_string(),
                    });
                }
            }
            Ok(())
        };
        check_sets("set", &raw.set)?;
        // Grids.
        let raw_grids: Vec<RawGrid> = match (raw.axes, raw.grid.is_empty()) {
            (Some(_), false) => return Err(SweepError::AxesAndGrids),
            (Some(a), true) => vec![RawGrid {
                name: "main".into(),
                seeds: None,
                set: Vec::new(),
                axes: a,
            }],
            (None, true) => vec![RawGrid {
                name: "main".into(),
                seeds: None,
                set: Vec::new(),
                axes: toml::Table::new(),
            }],
            (None, false) => raw.grid,
        };
        let mut names = HashSet::new();
        let mut grids = Vec::with_capacity(raw_grids.len());
        for (gi, rg) in raw_grids.into_iter().enumerate() {
            let gname = rg.name.clone();
            if gname.is_empty()
                || !gname
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(SweepError::GridName {
                    index: gi,
                    name: gname,
                });
            }
            if !names.insert(gname.clone()) {
                return Err(SweepError::DuplicateGrid { name: gname });
            }
            check_sets(&format!("grid {gname} set"), &rg.set)?;
            let mut flat = Vec::new();
            flatten_axes("", &rg.axes, &mut flat);
            flat.sort_by(|a, b| a.0.cmp(&b.0));
            let mut used_paths = HashSet::new();
            let mut axes = Vec::with_capacity(flat.len());
            for (key, value) in flat {
                let paths: Vec<String> = key.split('+').map(|p| p.trim().to_string()).collect();
                if !paths.iter().all(|p| valid_path(p)) {
                    return Err(SweepError::AxisPath {
                        grid: gname.clone(),
                        axis: key,
                    });
                }
                for p in &paths {
                    if RESERVED.contains(&p.as_str()) {
                        return Err(SweepError::ReservedAxis {
                            grid: gname.clone(),
                            axis: key.clone(),
                            path: p.clone(),
                        });
                    }
                    if !used_paths.insert(p.clone()) {
                        return Err(SweepError::RepeatedPath {
                            grid: gname.clone(),
                            axis: key.clone(),
                            path: p.clone(),
                        });
                    }
                }
                let values = match value {
                    toml::Value::Array(v) => v,
                    other => {
                        return Err(SweepError::AxisNotList {
                            grid: gname.clone(),
                            axis: key,
                            value: other.to_string(),
                        });
                    }
                };
                if values.is_empty() {
                    return Err(SweepError::EmptyAxis {
                        grid: gname.clone(),
                        axis: key,
                    });
                }
                let mut seen_v = HashSet::new();
                for v in &values {
                    if !seen_v.insert(v.to_string()) {
                        return Err(SweepError::DuplicateAxisValue {
                            grid: gname.clone(),
                            axis: key.clone(),
                            value: v.to_string(),
                        });
                    }
                    if paths.len() > 1 && v.as_array().is_none_or(|a| a.len() != paths.len()) {
                        return Err(SweepError::LinkedValue {
                            grid: gname.clone(),
                            axis: key.clone(),
                            value: v.to_string(),
                            paths: paths.len(),
                        });
                    }
                }
                axes.push(Axis { key, paths, values });
            }
            let grid_seeds = match &rg.seeds {
                Some(rs) => check_seeds(rs)?,
                None => seeds.clone(),
            };
            grids.push(Grid {
                name: gname,
                seeds: grid_seeds,
                sets: rg.set,
                axes,
            });
        }
        let sweep = Sweep {
            path: path.to_path_buf(),
            base,
            base_text,
            base_name,
            sets: raw.set,
            seeds,
            iterations: raw.budget.iterations as usize,
            eval_every: raw.budget.eval_every as usize,
            stop_on_success,
            eval,
            grids,
        };
        // Every axis value must name real config fields with the right
        // types (a structural error); value rules (`check`) are per cell.
        for g in &sweep.grids {
            for a in &g.axes {
                for v in &a.values {
                    let mut sets = sweep.sets.clone();
                    sets.extend(g.sets.iter().cloned());
                    sets.extend(axis_sets(a, v));
                    config::parse_raw(&sweep.base_text, &sweep.base_name, &sets).map_err(|e| {
                        SweepError::AxisValue {
                            grid: g.name.clone(),
                            axis: a.key.clone(),
                            value: v.to_string(),
                            reason: e.to_string(),
                        }
                    })?;
                }
            }
            // The grid's own overrides must parse too.
            let mut sets = sweep.sets.clone();
            sets.extend(g.sets.iter().cloned());
            config::parse_raw(&sweep.base_text, &sweep.base_name, &sets).map_err(|e| SweepError::Set {
                place: format!("grid {} set", g.name),
                value: sets.join(" "),
                reason: e.to_string(),
            })?;
        }
        let cells = sweep.cell_count();
        if cells > MAX_CELLS {
            return Err(SweepError::TooManyCells {
                cells,
                max: MAX_CELLS,
            });
        }
        Ok(sweep)
    }

    /// Number of cells (without building them).
    pub fn cell_count(&self) -> usize {
        self.grids
            .iter()
            .map(|g| {
                g.axes
                    .iter()
                    .fold(g.seeds.len(), |acc, a| acc.saturating_mul(a.values.len()))
            })
            .fold(0usize, |acc, n| acc.saturating_add(n))
    }

    /// Every cell in the fixed order.
    pub fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::with_capacity(self.cell_count());
        for g in &self.grids {
            let sizes: Vec<usize> = g.axes.iter().map(|a| a.values.len()).collect();
            let combos: usize = sizes.iter().product();
            for c in 0..combos {
                // Mixed-radix digits, last axis fastest.
                let mut rem = c;
                let mut digits = vec![0usize; sizes.len()];
                for i in (0..sizes.len()).rev() {
                    digits[i] = rem % sizes[i];
                    rem /= sizes[i];
                }
                let axes: Vec<(String, toml::Value)> = g
                    .axes
                    .iter()
                    .zip(&digits)
                    .map(|(a, &d)| (a.key.clone(), a.values[d].clone()))
                    .collect();
                let point: Vec<String> = axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                for &seed in &g.seeds {
                    out.push(Cell {
                        index: out.len(),
                        id: format!("{}/{}/seed={seed}", g.name, point.join(",")),
                        grid: g.name.clone(),
                        seed,
                        axes: axes.clone(),
                    });
                }
            }
        }
        out
    }

    /// Every override of a cell, in order: sweep `set`, grid `set`, the
    /// axis values, then the budget.
    pub fn cell_sets(&self, cell: &Cell) -> Vec<String> {
        let mut sets = self.sets.clone();
        if let Some(g) = self.grids.iter().find(|g| g.name == cell.grid) {
            sets.extend(g.sets.iter().cloned());
            for (a, (_, v)) in g.axes.iter().zip(&cell.axes) {
                sets.extend(axis_sets(a, v));
            }
        }
        sets.push(format!("training.iterations={}", self.iterations));
        sets.push(format!("training.eval_every={}", self.eval_every));
        sets
    }

    /// The cell's raw config (parsed and overridden, not checked).
    pub fn cell_raw(&self, cell: &Cell) -> Result<RawConfig, ConfigError> {
        config::parse_raw(&self.base_text, &self.base_name, &self.cell_sets(cell))
    }

    /// The cell's checked config and its hash; on an invalid config, the
    /// message and the hash of the raw config.
    pub fn cell_config(&self, cell: &Cell) -> (Result<Config, String>, String) {
        let raw = match self.cell_raw(cell) {
            Ok(r) => r,
            Err(e) => return (Err(e.to_string()), hash_json(&cell.id)),
        };
        match raw.check() {
            Ok(cfg) => {
                let h = hash_json(&(&cfg, &self.eval));
                (Ok(cfg), h)
            }
            Err(e) => (Err(e.to_string()), hash_json(&(&raw, &self.eval))),
        }
    }
}

/// 64-bit FNV-1a of bytes.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a of a value's JSON, as 16 hex digits.
fn hash_json<T: Serialize>(v: &T) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    format!("{:016x}", fnv1a64(s.as_bytes()))
}

// ------------------------------------------------------------------ records

/// The resolved settings the report needs to place a cell (from the
/// checked config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub levels: usize,
    pub root_patches: usize,
    pub patch_side: usize,
    /// n: values per patch (side² × channels).
    pub patch_dim: usize,
    pub widths: Vec<usize>,
    pub lambda: f64,
    /// N; 0 = fresh samples every iteration.
    pub train_size: usize,
    /// `joint` | `progressive` | `top-only` | `top-pair`.
    pub level_schedule: String,
}

/// One line of a results file (SPEC §8 names first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub cell: usize,
    pub seed: u64,
    pub axes: BTreeMap<String, serde_json::Value>,
    /// `completed` | `diverged` | `error`.
    pub status: String,
    pub iterations_to_success: Option<usize>,
    /// As in the run summary (`LevelMetrics`); empty for errors.
    pub levels: Vec<serde_json::Value>,
    pub config_hash: String,
    pub gradient_evaluations: u64,
    pub wall_seconds: f64,
    /// Completed and some evaluation within T_max passed the success test.
    pub success: bool,
    pub id: String,
    pub grid: String,
    /// The summary's final (larger-sample) evaluation succeeded.
    pub final_success: bool,
    pub iterations: usize,
    pub t_max: usize,
    pub eval_every: usize,
    pub gradient_evaluations_to_success: Option<u64>,
    /// Wall seconds up to the successful evaluation: `wall_seconds` ×
    /// (gradient evaluations to success / all gradient evaluations).
    pub seconds_to_success: Option<f64>,
    pub diverged_at: Option<usize>,
    /// t_1 <= t_2 <= ... over the learned levels (null: < 2 learned).
    pub forward_order: Option<bool>,
    pub settings: Option<Settings>,
    pub error: Option<String>,
}

impl CellRecord {
    /// `t_learned` of every level (None: never / absent).
    pub fn t_learned(&self) -> Vec<Option<usize>> {
        self.levels
            .iter()
            .map(|l| l.get("t_learned").and_then(|t| t.as_u64()).map(|t| t as usize))
            .collect()
    }

    /// The record with its wall-clock fields zeroed (for comparisons).
    pub fn without_timing(&self) -> CellRecord {
        CellRecord {
            wall_seconds: 0.0,
            seconds_to_success: self.seconds_to_success.map(|_| 0.0),
            ..self.clone()
        }
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn settings_of(cfg: &Config, raw: Option<&RawConfig>) -> Settings {
    let g = &cfg.target.geometry;
    Settings {
        levels: g.levels,
        root_patches: g.root_patches,
        patch_side: g.side,
        patch_dim: g.patch_dim(),
        widths: cfg.target.widths.clone(),
        lambda: cfg.target.lambda,
        train_size: cfg.training.train_size,
        level_schedule: raw
            .map(|r| r.training.levels.clone())
            .unwrap_or_else(|| format!("{:?}", cfg.training.levels)),
    }
}

/// Runs one cell (never panics: a panic inside the run is recorded as an
/// error).
pub fn run_cell(sweep: &Sweep, cell: &Cell) -> CellRecord {
    let (cfg, hash) = sweep.cell_config(cell);
    let mut rec = CellRecord {
        cell: cell.index,
        seed: cell.seed,
        axes: cell
            .axes
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
        status: "error".into(),
        iterations_to_success: None,
        levels: Vec::new(),
        config_hash: hash,
        gradient_evaluations: 0,
        wall_seconds: 0.0,
        success: false,
        id: cell.id.clone(),
        grid: cell.grid.clone(),
        final_success: false,
        iterations: 0,
        t_max: sweep.iterations,
        eval_every: sweep.eval_every,
        gradient_evaluations_to_success: None,
        seconds_to_success: None,
        diverged_at: None,
        forward_order: None,
        settings: None,
        error: None,
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(msg) => {
            rec.error = Some(format!("invalid config: {msg}"));
            return rec;
        }
    };
    let raw = sweep.cell_raw(cell).ok();
    rec.settings = Some(settings_of(&cfg, raw.as_ref()));
    let start = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let target = Target::new(&cfg.target).map_err(|e| format!("target: {e}"))?;
        run_target(&cfg, &target, cell.seed, &sweep.eval, true).map_err(|e| format!("run: {e}"))
    }));
    let run = match outcome {
        Ok(Ok(run)) => run,
        Ok(Err(msg)) => {
            rec.error = Some(msg);
            rec.wall_seconds = start.elapsed().as_secs_f64();
            return rec;
        }
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            rec.error = Some(format!("the run panicked: {msg}"));
            rec.wall_seconds = start.elapsed().as_secs_f64();
            return rec;
        }
    };
    let s = &run.summary;
    rec.status = match s.status {
        RunStatus::Completed => "completed".into(),
        RunStatus::Diverged => "diverged".into(),
    };
    rec.iterations = s.iterations;
    rec.diverged_at = s.diverged_at;
    rec.levels = s
        .levels
        .iter()
        .map(|l| serde_json::to_value(l).unwrap_or(serde_json::Value::Null))
        .collect();
    rec.gradient_evaluations = s.gradient_evaluations;
    rec.wall_seconds = s.wall_seconds;
    rec.final_success = s.success;
    rec.forward_order = s.forward_order;
    if s.status == RunStatus::Completed {
        if let Some(row) = run.trace.iter().find(|r| r.success) {
            rec.success = true;
            rec.iterations_to_success = Some(row.iteration);
            rec.gradient_evaluations_to_success = Some(row.grad_evals);
            let frac = if s.gradient_evaluations > 0 {
                row.grad_evals as f64 / s.gradient_evaluations as f64
            } else {
                1.0
            };
            rec.seconds_to_success = Some(s.wall_seconds * frac.min(1.0));
        }
    } else {
        rec.error = s.diverged_at.map(|t| format!("diverged at iteration {t}"));
    }
    rec
}

// -------------------------------------------------------------- results I/O

/// What reading a results file found.
#[derive(Debug, Clone, Default)]
pub struct ReadResults {
    pub records: Vec<CellRecord>,
    /// Complete lines that did not parse (skipped).
    pub bad_lines: usize,
    /// Byte length of the complete lines (a partial last line starts here).
    pub complete_len: u64,
    /// A partial (unterminated) last line was found.
    pub partial: bool,
}

/// Reads a results file: complete lines that parse become records; a
/// partial last line (no newline) and unparsable lines are skipped.
pub fn read_results(path: &Path) -> Result<ReadResults, SweepError> {
    let bytes = std::fs::read(path).map_err(|e| SweepError::ResultsIo {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut out = ReadResults::default();
    let complete_len = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    out.complete_len = complete_len as u64;
    out.partial = complete_len < bytes.len();
    for line in bytes[..complete_len].split(|&b| b == b'\n') {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<CellRecord>(line) {
            Ok(r) => out.records.push(r),
            Err(_) => out.bad_lines += 1,
        }
    }
    Ok(out)
}

/// Options of [`run_sweep`].
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub jobs: usize,
    pub shard: Shard,
    pub resume: bool,
    /// No per-cell progress lines on stderr.
    pub quiet: bool,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            jobs: 2,
            shard: Shard::default(),
            resume: false,
            quiet: true,
        }
    }
}

/// What a sweep run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    pub cells: usize,
    pub in_shard: usize,
    /// Cells already in the results file (resume).
    pub skipped: usize,
    /// Cells written by this run.
    pub written: usize,
    /// Distinct trainings run (cells with equal config and seed share one).
    pub trainings: usize,
    pub successes: usize,
    pub diverged: usize,
    pub errors: usize,
    /// A partial last line was cut off before appending (resume).
    pub truncated_partial: bool,
    /// Unparsable complete lines left in the file (resume; ignored).
    pub bad_lines: usize,
}

/// Runs the sweep's cells of `opts.shard` with `opts.jobs` parallel
/// trainings, appending one JSON line per finished cell to `out`.
pub fn run_sweep(sweep: &Sweep, out: &Path, opts: &SweepOptions) -> Result<SweepOutcome, SweepError> {
    if opts.jobs == 0 {
        return Err(SweepError::Jobs { value: opts.jobs });
    }
    let io = |e: std::io::Error| SweepError::ResultsIo {
        path: out.display().to_string(),
        reason: e.to_string(),
    };
    let cells = sweep.cells();
    let mut outcome = SweepOutcome {
        cells: cells.len(),
        ..Default::default()
    };
    // Existing results.
    let mut done: HashSet<(usize, String)> = HashSet::new();
    let mut known: HashMap<(String, u64), CellRecord> = HashMap::new();
    let exists = out.exists() && std::fs::metadata(out).map(|m| m.len() > 0).unwrap_or(false);
    if exists {
        if !opts.resume {
            return Err(SweepError::ResultsExist {
                path: out.display().to_string(),
            });
        }
        let read = read_results(out)?;
        outcome.bad_lines = read.bad_lines;
        if read.partial {
            let f = std::fs::OpenOptions::new().write(true).open(out).map_err(io)?;
            f.set_len(read.complete_len).map_err(io)?;
            outcome.truncated_partial = true;
        }
        for r in read.records {
            done.insert((r.cell, r.config_hash.clone()));
            if r.status != "error" {
                known.insert((r.config_hash.clone(), r.seed), r);
            }
        }
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .map_err(io)?;
    let writer = Mutex::new(file);
    // Pending cells of this shard, grouped by (config hash, seed).
    let mut groups: Vec<(String, u64, Vec<Cell>)> = Vec::new();
    let mut group_of: HashMap<(String, u64), usize> = HashMap::new();
    let mut copies: Vec<(Cell, CellRecord)> = Vec::new();
    for cell in cells.into_iter().filter(|c| opts.shard.contains(c.index)) {
        outcome.in_shard += 1;
        let (_, hash) = sweep.cell_config(&cell);
        if done.contains(&(cell.index, hash.clone())) {
            outcome.skipped += 1;
            continue;
        }
        let key = (hash.clone(), cell.seed);
        if let Some(r) = known.get(&key) {
            copies.push((cell, r.clone()));
            continue;
        }
        match group_of.get(&key) {
            Some(&g) => groups[g].2.push(cell),
            None => {
                group_of.insert(key, groups.len());
                groups.push((hash, cell.seed, vec![cell]));
            }
        }
    }
    outcome.trainings = groups.len();
    let total_pending = copies.len() + groups.iter().map(|g| g.2.len()).sum::<usize>();
    let counter = Mutex::new((0usize, 0usize, 0usize, 0usize, 0usize)); // written, success, diverged, error, progress
    let write_record = |rec: &CellRecord| -> Result<(), SweepError> {
        let mut line = serde_json::to_string(rec).map_err(|e| SweepError::ResultsIo {
            path: out.display().to_string(),
            reason: format!("cannot encode cell {}: {e}", rec.cell),
        })?;
        line.push('\n');
        {
            let mut f = writer.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(line.as_bytes()).map_err(io)?;
            f.flush().map_err(io)?;
        }
        let mut c = counter.lock().unwrap_or_else(|p| p.into_inner());
        c.0 += 1;
        c.1 += rec.success as usize;
        c.2 += (rec.status == "diverged") as usize;
        c.3 += (rec.status == "error") as usize;
        c.4 += 1;
        if !opts.quiet {
            let what = match rec.status.as_str() {
                "completed" => match rec.iterations_to_success {
                    Some(t) => format!("success at {t}"),
                    None => "no success".into(),
                },
                "diverged" => format!("diverged at {}", rec.diverged_at.unwrap_or(0)),
                _ => format!("error: {}", rec.error.clone().unwrap_or_default()),
            };
            eprintln!(
                "[{}/{}] cell {} {}: {} ({:.1} s)",
                c.4, total_pending, rec.cell, rec.id, what, rec.wall_seconds
            );
        }
        Ok(())
    };
    // Cells whose training is already in the file: copy with their own ids.
    for (cell, r) in &copies {
        write_record(&relabel(r, cell))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs)
        .build()
        .map_err(|e| SweepError::ResultsIo {
            path: out.display().to_string(),
            reason: format!("cannot start {} worker threads: {e}", opts.jobs),
        })?;
    let results: Vec<Result<(), SweepError>> = pool.install(|| {
        groups
            .par_iter()
            .map(|(_, _, cells)| {
                let first = run_cell(sweep, &cells[0]);
                write_record(&first)?;
                for c in &cells[1..] {
                    write_record(&relabel(&first, c))?;
                }
                Ok(())
            })
            .collect()
    });
    for r in results {
        r?;
    }
    let c = counter.into_inner().unwrap_or_else(|p| p.into_inner());
    outcome.written = c.0;
    outcome.successes = c.1;
    outcome.diverged = c.2;
    outcome.errors = c.3;
    Ok(outcome)
}

/// A record of the same training under another cell's index, id and axes.
fn relabel(r: &CellRecord, cell: &Cell) -> CellRecord {
    CellRecord {
        cell: cell.index,
        id: cell.id.clone(),
        grid: cell.grid.clone(),
        axes: cell
            .axes
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
        ..r.clone()
    }
}

/// `fsrgan sweep`: loads the sweep file, runs it, prints a one-line
/// summary per cell (stderr) and a closing line (stdout).
pub fn cli_sweep(
    sweep: &Path,
    out: &Path,
    jobs: usize,
    shard: Option<&str>,
    resume: bool,
) -> Result<(), SweepError> {
    let s = Sweep::load(sweep)?;
    let shard = match shard {
        Some(x) => x.parse::<Shard>()?,
        None => Shard::default(),
    };
    eprintln!(
        "sweep {}: {} cells ({} grids x {} seeds), T_max {} iterations, eval every {}, {} jobs, shard {}/{}",
        sweep.display(),
        s.cell_count(),
        s.grids.len(),
        s.seeds.len(),
        s.iterations,
        s.eval_every,
        jobs,
        shard.index,
        shard.count
    );
    let o = run_sweep(
        &s,
        out,
        &SweepOptions {
            jobs,
            shard,
            resume,
            quiet: false,
        },
    )?;
    if o.truncated_partial {
        eprintln!("resume: cut a partial last line; its cell was redone");
    }
    if o.bad_lines > 0 {
        eprintln!(
            "resume: {} unparsable line(s) in the file were ignored",
            o.bad_lines
        );
    }
    // A closed pipe (`| head`) is not an error of the sweep.
    let _ = writeln!(
        std::io::stdout(),
        "{} cells in shard, {} already done, {} written ({} trainings): {} successes, {} diverged, {} errors -> {}",
        o.in_shard,
        o.skipped,
        o.written,
        o.trainings,
        o.successes,
        o.diverged,
        o.errors,
        out.display()
    );
    Ok(())
}
