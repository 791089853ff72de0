//! The `[training]` section (SPEC §2 SGDA parameters): raw TOML fields and
//! their validation into a [`TrainingSpec`]. Every rule has its own
//! [`ConfigError`] variant. Defaults are [`TrainingSpec::default`] (the
//! NOTES.md probe's recipe, reasons there).

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::gan::{LevelGrads, LevelSchedule, LossKind, OptimKind, Schedule, TrainingSpec, UpdateRule};

/// `training.gamma` as written: `gamma = 1.0` or `gamma = [10.0, 1.0]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Gammas {
    One(f64),
    PerLevel(Vec<f64>),
}

/// `[training]` as written in TOML.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTraining {
    /// `logistic` | `wgan` | `hinge`.
    pub loss: String,
    /// R1 penalty gamma (0 = off): one number for every level, or a list
    /// per level whose last entry holds for every deeper level.
    pub gamma: Gammas,
    /// R1 strengths from iteration `gamma_switch` on (same forms as
    /// `gamma`); absent = `gamma` throughout.
    pub gamma_final: Option<Gammas>,
    pub gamma_switch: i64,
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
    pub batch: i64,
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
            gamma: Gammas::PerLevel(d.gamma.clone()),
            gamma_final: (!d.gamma_final.is_empty()).then(|| Gammas::PerLevel(d.gamma_final.clone())),
            gamma_switch: d.gamma_switch as i64,
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
            batch: d.batch as i64,
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
fn gammas(field: &'static str, g: &Gammas) -> Result<Vec<f64>, ConfigError> {
    let list = match g {
        Gammas::One(v) => vec![*v],
        Gammas::PerLevel(list) => list.clone(),
    };
    if list.is_empty() {
        return Err(ConfigError::GammaEmpty { field });
    }
    for (index, &value) in list.iter().enumerate() {
        if !(value.is_finite() && value >= 0.0) {
            return Err(match g {
                Gammas::One(_) => ConfigError::Gamma { field, value },
                Gammas::PerLevel(_) => ConfigError::LevelGamma { field, index, value },
            });
        }
    }
    Ok(list)
}

impl RawTraining {
    /// Validates every field (per-level lists are checked against the level
    /// count by [`TrainingSpec::per_level`]).
    pub fn check(&self) -> Result<TrainingSpec, ConfigError> {
        let loss = LossKind::from_name(&self.loss).ok_or_else(|| ConfigError::LossName {
            value: self.loss.clone(),
        })?;
        let gamma = gammas("training.gamma", &self.gamma)?;
        let gamma_final = match &self.gamma_final {
            None => Vec::new(),
            Some(g) => gammas("training.gamma_final", g)?,
        };
        if self.gamma_switch < 0 {
            return Err(ConfigError::GammaSwitch {
                value: self.gamma_switch,
            });
        }
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
            gamma_switch: self.gamma_switch as usize,
            weight_decay: self.weight_decay,
            optimizer,
            lr_d: self.lr_d,
            lr_g: self.lr_g,
            schedule,
            n_d,
            ema: self.ema,
            update,
            level_grads,
            batch,
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
