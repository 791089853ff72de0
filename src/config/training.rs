//! The `[training]` section (SPEC §2 SGDA parameters): raw TOML fields and
//! their validation into a [`TrainingSpec`]. Every rule has its own
//! [`ConfigError`] variant. Defaults are [`TrainingSpec::default`] (the
//! NOTES.md probe's recipe, reasons there).

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::gan::{
    LevelGrads, LevelSchedule, LossKind, OptimKind, Refit, RestartAtom, Restarts, Schedule, TrainingSpec,
    UpdateRule,
};

/// `training.gamma` as written: one strength (`gamma = 1.0`), one per level
/// (`gamma = [10.0, 1.0]`, the last entry for every deeper level), or a
/// hand-over table `gamma = { start = [10.0, 1.0], final = 1.0, switch =
/// 6000 }`. One field holds the whole schedule, so overriding `gamma`
/// replaces it: `--set training.gamma=3` means 3 throughout.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged, try_from = "toml::Value")]
pub enum Gammas {
    Constant(Strengths),
    HandOver(RawHandOver),
}

/// Reads the three forms, with an error that lists them (serde's untagged
/// error would only say that no variant matched).
impl TryFrom<toml::Value> for Gammas {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        if v.is_table() {
            return RawHandOver::deserialize(v)
                .map(Gammas::HandOver)
                .map_err(|e| e.to_string());
        }
        let allowed = "a number, a list per level, or { start = [..], final = [..], switch = N }";
        Strengths::try_from(v)
            .map(Gammas::Constant)
            .map_err(|e| e.replace("a number or a list per level", allowed))
    }
}

impl TryFrom<toml::Value> for Strengths {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let number = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
        let list = v
            .as_array()
            .map(|a| a.iter().map(number).collect::<Option<Vec<_>>>());
        match (number(&v), list) {
            (Some(x), _) => Ok(Strengths::One(x)),
            (_, Some(Some(l))) => Ok(Strengths::PerLevel(l)),
            _ => Err(format!("{v}: expected a number or a list per level")),
        }
    }
}

impl TryFrom<toml::Value> for Switches {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let list = v
            .as_array()
            .map(|a| a.iter().map(|x| x.as_integer()).collect::<Option<Vec<_>>>());
        match (v.as_integer(), list) {
            (Some(i), _) => Ok(Switches::One(i)),
            (_, Some(Some(l))) => Ok(Switches::PerLevel(l)),
            _ => Err(format!("{v}: expected an iteration or a list per level")),
        }
    }
}

/// A penalty hand-over: `start` until iteration `switch`, `final` from
/// then on. Absent keys take the recipe's values
/// ([`TrainingSpec::default`]), so `--set training.gamma.switch=8000`
/// moves only the switch.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHandOver {
    pub start: Strengths,
    #[serde(rename = "final")]
    pub end: Strengths,
    /// One iteration for every level, or one per level (last entry for
    /// deeper levels).
    pub switch: Switches,
}

/// A list of penalty strengths: one number or one per level.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged, try_from = "toml::Value")]
pub enum Strengths {
    One(f64),
    PerLevel(Vec<f64>),
}

/// Hand-over iterations: one or one per level.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged, try_from = "toml::Value")]
pub enum Switches {
    One(i64),
    PerLevel(Vec<i64>),
}

impl Default for RawHandOver {
    fn default() -> Self {
        let d = TrainingSpec::default();
        RawHandOver {
            start: Strengths::PerLevel(d.gamma),
            end: Strengths::PerLevel(d.gamma_final),
            switch: Switches::PerLevel(d.gamma_switch.iter().map(|&s| s as i64).collect()),
        }
    }
}

/// `training.restarts` as written; absent keys keep the defaults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRestarts {
    /// |cos| between two units' dictionary columns above which they count
    /// as duplicates, in (0, 1).
    pub cos: f64,
    /// Check period (iterations).
    pub every: i64,
    /// Last iteration checked; 0 = no restarts.
    pub until: i64,
    /// A redrawn unit's new atom: "random" or "residual".
    pub atom: String,
    /// Also redraw rows of W_l never active since the last check.
    pub dead: bool,
    /// Threshold of the one late check, in (0, 1).
    pub late_cos: f64,
    /// Iteration of the late check; 0 = none.
    pub late_at: i64,
}

impl Default for RawRestarts {
    fn default() -> Self {
        let d = TrainingSpec::default().restarts;
        RawRestarts {
            cos: d.cos,
            every: d.every as i64,
            until: d.until as i64,
            atom: d.atom.name().into(),
            dead: d.dead,
            late_cos: d.late_cos,
            late_at: d.late_at as i64,
        }
    }
}

/// `training.refit` as written; absent keys keep the defaults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRefit {
    /// Fractions of the run before whose iteration the super-resolution
    /// maps are refitted; empty = never.
    pub at: Vec<f64>,
    /// On-threshold of a unit's reading, as a fraction of its largest value.
    pub on: f64,
    /// Real samples per refit.
    pub samples: i64,
}

impl Default for RawRefit {
    fn default() -> Self {
        let d = Refit::default();
        RawRefit {
            at: d.at,
            on: d.on,
            samples: d.samples as i64,
        }
    }
}

/// `[training]` as written in TOML.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTraining {
    /// `logistic` | `wgan` | `hinge`.
    pub loss: String,
    /// R1 penalty gamma (0 = off), constant or handed over (see [`Gammas`]).
    pub gamma: Gammas,
    /// L2 weight decay on the discriminators.
    pub weight_decay: f64,
    /// `sgd` | `momentum` | `adam`.
    pub optimizer: String,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Heavy-ball coefficient of `momentum`.
    pub momentum: f64,
    pub lr_d: f64,
    pub lr_g: f64,
    /// `constant` | `step` | `linear`.
    pub schedule: String,
    /// `linear`: final step size as a fraction of the first.
    pub final_fraction: f64,
    /// `step`: decay period (iterations) and factor.
    pub step_every: i64,
    pub step_factor: f64,
    pub n_d: i64,
    /// Decay of the generator's parameter average (0 = off).
    pub ema: f64,
    /// `alternating` | `simultaneous`.
    pub update: String,
    /// `all` | `pixels` | `own`: which D trains which generator level.
    pub level_grads: String,
    /// `{ cos, every, until }`: duplicate-unit restarts (`until = 0`: none).
    pub restarts: RawRestarts,
    /// `{ at, on, samples }`: super-resolution map refits (`at = []`: none).
    pub refit: RawRefit,
    pub batch: i64,
    /// Chunks of samples each discriminator's batch is split into, run in
    /// parallel (1 = one pass over the whole batch).
    pub d_chunks: i64,
    pub iterations: i64,
    /// Training-set size N; 0 = fresh samples every iteration.
    pub train_size: i64,
    /// `joint` | `progressive` | `top-only` | `top-pair`.
    pub levels: String,
    /// `progressive`: switch-on iteration per level (first must be 0).
    pub switch_on: Vec<i64>,
    /// Loss weight per level (empty = 1; one value = for all).
    pub level_weights: Vec<f64>,
    pub eval_every: i64,
    pub seed: i64,
}

impl Default for RawTraining {
    fn default() -> Self {
        let d = TrainingSpec::default();
        let (beta1, beta2, eps) = match d.optimizer {
            OptimKind::Adam { beta1, beta2, eps } => (beta1, beta2, eps),
            _ => (0.0, 0.9, 1e-8),
        };
        RawTraining {
            loss: "logistic".into(),
            gamma: Gammas::HandOver(RawHandOver::default()),
            weight_decay: d.weight_decay,
            optimizer: "adam".into(),
            beta1,
            beta2,
            eps,
            // 0.9: the probe's SGD + momentum runs.
            momentum: 0.9,
            lr_d: d.lr_d,
            lr_g: d.lr_g,
            schedule: "linear".into(),
            final_fraction: 0.02,
            // Step decay (when chosen): halve every 10k iterations.
            step_every: 10_000,
            step_factor: 0.5,
            n_d: d.n_d as i64,
            ema: d.ema,
            update: "alternating".into(),
            level_grads: d.level_grads.name().into(),
            restarts: RawRestarts::default(),
            refit: RawRefit::default(),
            batch: d.batch as i64,
            d_chunks: d.d_chunks as i64,
            iterations: d.iterations as i64,
            train_size: 0,
            levels: "joint".into(),
            switch_on: Vec::new(),
            level_weights: Vec::new(),
            eval_every: d.eval_every as i64,
            seed: 0,
        }
    }
}

fn positive(field: &'static str, v: i64) -> Result<usize, ConfigError> {
    if v >= 1 {
        Ok(v as usize)
    } else {
        Err(ConfigError::NotPositive { field, value: v })
    }
}

fn unit_interval(field: &'static str, v: f64) -> Result<f64, ConfigError> {
    if v.is_finite() && (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::Beta { field, value: v })
    }
}

/// A penalty list as written, checked: never empty, every entry finite and
/// >= 0 (one error per rule, naming `field`).
fn strengths(field: &'static str, g: &Strengths) -> Result<Vec<f64>, ConfigError> {
    let list = match g {
        Strengths::One(v) => vec![*v],
        Strengths::PerLevel(list) => list.clone(),
    };
    if list.is_empty() {
        return Err(ConfigError::GammaEmpty { field });
    }
    for (index, &value) in list.iter().enumerate() {
        if !(value.is_finite() && value >= 0.0) {
            return Err(match g {
                Strengths::One(_) => ConfigError::Gamma { field, value },
                Strengths::PerLevel(_) => ConfigError::LevelGamma { field, index, value },
            });
        }
    }
    Ok(list)
}

/// `training.gamma` checked into (start, final, switch); a constant
/// penalty has no final strengths and no switch.
#[allow(clippy::type_complexity)]
fn gamma_schedule(g: &Gammas) -> Result<(Vec<f64>, Vec<f64>, Vec<usize>), ConfigError> {
    match g {
        Gammas::Constant(c) => Ok((strengths("training.gamma", c)?, vec![], vec![])),
        Gammas::HandOver(h) => {
            let start = strengths("training.gamma.start", &h.start)?;
            let end = strengths("training.gamma.final", &h.end)?;
            let switch = match &h.switch {
                Switches::One(s) => vec![*s],
                Switches::PerLevel(list) => list.clone(),
            };
            if switch.is_empty() {
                return Err(ConfigError::GammaEmpty {
                    field: "training.gamma.switch",
                });
            }
            let switch = switch
                .into_iter()
                .map(|value| usize::try_from(value).map_err(|_| ConfigError::GammaSwitch { value }))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((start, end, switch))
        }
    }
}

impl RawTraining {
    /// Validates every field (per-level lists are checked against the level
    /// count by [`TrainingSpec::per_level`]).
    pub fn check(&self) -> Result<TrainingSpec, ConfigError> {
        let loss = LossKind::from_name(&self.loss).ok_or_else(|| ConfigError::LossName {
            value: self.loss.clone(),
        })?;
        let (gamma, gamma_final, gamma_switch) = gamma_schedule(&self.gamma)?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(ConfigError::WeightDecay {
                value: self.weight_decay,
            });
        }
        let optimizer = match self.optimizer.as_str() {
            "sgd" => OptimKind::Sgd,
            "momentum" => OptimKind::Momentum {
                beta: unit_interval("training.momentum", self.momentum)?,
            },
            "adam" => {
                let beta1 = unit_interval("training.beta1", self.beta1)?;
                let beta2 = unit_interval("training.beta2", self.beta2)?;
                if !(self.eps.is_finite() && self.eps > 0.0) {
                    return Err(ConfigError::Eps { value: self.eps });
                }
                OptimKind::Adam {
                    beta1,
                    beta2,
                    eps: self.eps,
                }
            }
            _ => {
                return Err(ConfigError::OptimizerName {
                    value: self.optimizer.clone(),
                });
            }
        };
        for (field, v) in [("training.lr_d", self.lr_d), ("training.lr_g", self.lr_g)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ConfigError::LearningRate { field, value: v });
            }
        }
        let schedule = match self.schedule.as_str() {
            "constant" => Schedule::Constant,
            "step" => {
                let every = positive("training.step_every", self.step_every)?;
                if !(self.step_factor.is_finite() && self.step_factor > 0.0 && self.step_factor <= 1.0) {
                    return Err(ConfigError::StepFactor {
                        value: self.step_factor,
                    });
                }
                Schedule::Step {
                    every,
                    factor: self.step_factor,
                }
            }
            "linear" => {
                if !(self.final_fraction.is_finite() && (0.0..=1.0).contains(&self.final_fraction)) {
                    return Err(ConfigError::FinalFraction {
                        value: self.final_fraction,
                    });
                }
                Schedule::Linear {
                    final_fraction: self.final_fraction,
                }
            }
            _ => {
                return Err(ConfigError::ScheduleName {
                    value: self.schedule.clone(),
                });
            }
        };
        let n_d = positive("training.n_d", self.n_d)?;
        if !(self.ema.is_finite() && (0.0..1.0).contains(&self.ema)) {
            return Err(ConfigError::Ema { value: self.ema });
        }
        let update = match self.update.as_str() {
            "alternating" => UpdateRule::Alternating,
            "simultaneous" => UpdateRule::Simultaneous,
            _ => {
                return Err(ConfigError::UpdateName {
                    value: self.update.clone(),
                });
            }
        };
        let batch = positive("training.batch", self.batch)?;
        let d_chunks = positive("training.d_chunks", self.d_chunks)?;
        if d_chunks > batch {
            return Err(ConfigError::DChunks {
                value: d_chunks,
                batch,
            });
        }
        let iterations = positive("training.iterations", self.iterations)?;
        if self.train_size < 0 {
            return Err(ConfigError::TrainSize {
                value: self.train_size,
            });
        }
        let level_grads = match self.level_grads.as_str() {
            "all" => LevelGrads::All,
            "pixels" => LevelGrads::Pixels,
            "own" => LevelGrads::Own,
            _ => {
                return Err(ConfigError::LevelGradsName {
                    value: self.level_grads.clone(),
                });
            }
        };
        let r = &self.restarts;
        for (field, value) in [
            ("training.restarts.cos", r.cos),
            ("training.restarts.late_cos", r.late_cos),
        ] {
            if !(value.is_finite() && value > 0.0 && value < 1.0) {
                return Err(ConfigError::RestartCos { field, value });
            }
        }
        let restarts = Restarts {
            cos: r.cos,
            every: positive("training.restarts.every", r.every)?,
            until: usize::try_from(r.until).map_err(|_| ConfigError::RestartUntil { value: r.until })?,
            atom: match r.atom.as_str() {
                "random" => RestartAtom::Random,
                "residual" => RestartAtom::Residual,
                _ => {
                    return Err(ConfigError::RestartAtom {
                        value: r.atom.clone(),
                    });
                }
            },
            dead: r.dead,
            late_cos: r.late_cos,
            late_at: usize::try_from(r.late_at)
                .map_err(|_| ConfigError::RestartLateAt { value: r.late_at })?,
        };
        let f = &self.refit;
        for (index, &value) in f.at.iter().enumerate() {
            if !(value.is_finite() && value > 0.0 && value < 1.0) {
                return Err(ConfigError::RefitAt { index, value });
            }
        }
        if !(f.on.is_finite() && f.on > 0.0 && f.on < 1.0) {
            return Err(ConfigError::RefitOn { value: f.on });
        }
        let refit = Refit {
            at: f.at.clone(),
            on: f.on,
            samples: usize::try_from(f.samples)
                .ok()
                .filter(|&s| s >= 1)
                .ok_or(ConfigError::RefitSamples { value: f.samples })?,
        };
        let levels = match self.levels.as_str() {
            "joint" => LevelSchedule::Joint,
            "progressive" => LevelSchedule::Progressive,
            "top-only" => LevelSchedule::TopOnly,
            "top-pair" => LevelSchedule::TopPair,
            _ => {
                return Err(ConfigError::LevelScheduleName {
                    value: self.levels.clone(),
                });
            }
        };
        // A cut between levels leaves a level without a discriminator of its
        // own untrained: top-only / top-pair need the total gradient.
        if level_grads != LevelGrads::All && matches!(levels, LevelSchedule::TopOnly | LevelSchedule::TopPair)
        {
            return Err(ConfigError::LevelGradsSchedule {
                value: self.level_grads.clone(),
                levels: self.levels.clone(),
            });
        }
        for (i, &t) in self.switch_on.iter().enumerate() {
            if t < 0 {
                return Err(ConfigError::SwitchOnNegative { index: i, value: t });
            }
            if i == 0 && t != 0 {
                return Err(ConfigError::SwitchOnFirst { value: t });
            }
            if i > 0 && t < self.switch_on[i - 1] {
                return Err(ConfigError::SwitchOnOrder {
                    index: i,
                    value: t,
                    previous: self.switch_on[i - 1],
                });
            }
        }
        for (i, &w) in self.level_weights.iter().enumerate() {
            if !(w.is_finite() && w >= 0.0) {
                return Err(ConfigError::LevelWeight { index: i, value: w });
            }
        }
        if !self.level_weights.is_empty() && self.level_weights.iter().all(|&w| w == 0.0) {
            return Err(ConfigError::LevelWeightsZero);
        }
        let eval_every = positive("training.eval_every", self.eval_every)?;
        if self.seed < 0 {
            return Err(ConfigError::NegativeSeed {
                field: "training.seed",
                value: self.seed,
            });
        }
        Ok(TrainingSpec {
            loss,
            gamma,
            gamma_final,
            gamma_switch,
            weight_decay: self.weight_decay,
            optimizer,
            lr_d: self.lr_d,
            lr_g: self.lr_g,
            schedule,
            n_d,
            ema: self.ema,
            update,
            level_grads,
            restarts,
            refit,
            batch,
            d_chunks,
            iterations,
            train_size: self.train_size as usize,
            levels,
            switch_on: self.switch_on.iter().map(|&t| t as usize).collect(),
            level_weights: self.level_weights.clone(),
            eval_every,
            seed: self.seed as u64,
        })
    }
}
