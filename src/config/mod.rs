//! Configuration: raw TOML (serde structs with `deny_unknown_fields`) →
//! checked types the library accepts ([`Config`]). Each section has its own
//! file; every validation rule has its own [`ConfigError`] variant.
//! `--set section.field=value` overrides are applied to the TOML tree before
//! validation, so they are checked exactly like the file.

mod error;
pub mod learner;
pub mod target;
pub mod training;

use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use learner::RawLearner;
pub use target::RawTarget;
pub use training::{Gammas, RawTraining};

use crate::data::{DataSpec, RawData};
use crate::gan::{DInput, LearnerSpec, LevelSchedule, TrainingSpec};
use crate::target::{OutputMode, TargetSpec};

/// A per-level parameter: one value for every level, or one per level.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(i64),
    Many(Vec<i64>),
}

impl OneOrMany {
    /// The per-level values for `levels` levels.
    pub fn expand(&self, field: &'static str, levels: usize) -> Result<Vec<i64>, ConfigError> {
        match self {
            OneOrMany::One(v) => Ok(vec![*v; levels]),
            OneOrMany::Many(v) if v.len() == 1 => Ok(vec![v[0]; levels]),
            OneOrMany::Many(v) if v.len() == levels => Ok(v.clone()),
            OneOrMany::Many(v) => Err(ConfigError::PerLevelLength {
                field,
                len: v.len(),
                levels,
            }),
        }
    }
}

/// A whole config file as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub target: RawTarget,
    pub learner: RawLearner,
    pub training: RawTraining,
    /// Real data (`configs/digits.toml`, `configs/natural.toml`): when
    /// present, `train` learns it instead of the target, and the
    /// `[target]` section only sizes the learner (widths, latent_dim).
    pub data: Option<RawData>,
}

/// A checked config.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub target: TargetSpec,
    pub learner: LearnerSpec,
    pub training: TrainingSpec,
    pub data: Option<DataSpec>,
}

impl RawConfig {
    /// Validates every section.
    pub fn check(&self) -> Result<Config, ConfigError> {
        let target = self.target.check()?;
        let learner = self.learner.check()?;
        let training = self.training.check()?;
        // Per-level training lists must match the target's level count.
        training.per_level(target.geometry.levels)?;
        let data = self.data.as_ref().map(|d| d.validate()).transpose()?;
        if let Some(d) = &data
            && d.levels != target.geometry.levels
        {
            return Err(ConfigError::DataLevels {
                data: d.levels,
                target: target.geometry.levels,
            });
        }
        if learner.d_input == DInput::Laplacian {
            if data.is_none() && target.output == OutputMode::Direct {
                return Err(ConfigError::DInputDirect);
            }
            if training.levels == LevelSchedule::TopOnly {
                return Err(ConfigError::DInputTopOnly);
            }
        }
        Ok(Config {
            target,
            learner,
            training,
            data,
        })
    }
}

/// Parses TOML text (named `path` in errors), applies `--set` overrides,
/// and returns the raw config (not yet checked).
pub fn parse_raw(text: &str, path: &str, sets: &[String]) -> Result<RawConfig, ConfigError> {
    let mut tree: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
        path: path.to_string(),
        reason: one_line(&e.to_string()),
    })?;
    for s in sets {
        apply_set(&mut tree, s)?;
    }
    RawConfig::deserialize(toml::Value::Table(tree)).map_err(|e| ConfigError::Parse {
        path: path.to_string(),
        reason: one_line(&e.to_string()),
    })
}

/// Reads and checks a config file (`None` = all defaults).
pub fn load(path: Option<&std::path::Path>, sets: &[String]) -> Result<Config, ConfigError> {
    load_raw(path, sets)?.check()
}

/// Reads a config file (`None` = all defaults) without checking it.
pub fn load_raw(path: Option<&std::path::Path>, sets: &[String]) -> Result<RawConfig, ConfigError> {
    let (text, name) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?,
            p.display().to_string(),
        ),
        None => (String::new(), "<defaults>".to_string()),
    };
    parse_raw(&text, &name, sets)
}

/// Applies one `section.field=value` override; `value` is read as a TOML
/// value (number, bool, array, quoted string), or else as a bare string.
pub fn apply_set(tree: &mut toml::Table, set: &str) -> Result<(), ConfigError> {
    let syntax = || ConfigError::SetSyntax {
        value: set.to_string(),
    };
    let (key, value) = set.split_once('=').ok_or_else(syntax)?;
    let key = key.trim();
    let path: Vec<&str> = key.split('.').collect();
    if path.len() < 2 || path.iter().any(|p| p.is_empty()) {
        return Err(syntax());
    }
    let parsed = format!("v = {}", value.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.trim().to_string()));
    let mut table = tree;
    for part in &path[..path.len() - 1] {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| ConfigError::SetValue {
            key: key.to_string(),
            reason: format!("{part} is not a section"),
        })?;
    }
    table.insert(path[path.len() - 1].to_string(), parsed);
    Ok(())
}

/// Collapses a multi-line parser message onto one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
