//! The `[learner]` section (SPEC §2 learner parameters): raw TOML fields and
//! their validation into a [`LearnerSpec`]. Every rule has its own
//! [`ConfigError`] variant naming the field, the value and what is allowed.
//! Defaults are [`LearnerSpec::default`] (reasons there).

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::gan::{DInput, DiscKind, GeneratorKind, LearnerSpec};
use crate::nn::Activation;

/// Largest over-parameterisation accepted.
pub const MAX_KAPPA: f64 = 16.0;

/// `[learner]` as written in TOML.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLearner {
    /// `fsr` | `mlp` | `linear`.
    pub generator: String,
    /// Width multiplier kappa >= 1 (fsr).
    pub kappa: f64,
    /// Latent dimension; 0 = automatic (fsr: ceil(kappa m_0); mlp: 8; linear: 4).
    pub latent_dim: i64,
    /// Hidden widths of the mlp generator.
    pub hidden: Vec<i64>,
    /// Hidden activation of the mlp generator.
    pub activation: String,
    /// Per-level noise inputs of the fsr generator (0 = none).
    pub noise_dim: i64,
    /// `auto` (fsr: patch, mlp: mlp, linear: quadratic) | `patch` | `mlp` | `quadratic`.
    pub discriminator: String,
    /// Discriminator hidden width.
    pub d_hidden: i64,
    /// Discriminator activation: relu | leaky_relu | identity | tanh | sigmoid | quadratic.
    pub d_activation: String,
    /// Slope of leaky_relu (both networks).
    pub leak: f64,
    /// Child position one-hot in the patch discriminators.
    pub d_position: bool,
    /// Discriminator input coordinates: auto | raw | pixels | laplacian.
    pub d_input: String,
    /// Initial thresholds of the fsr generator.
    pub init_bias: f64,
}

impl Default for RawLearner {
    fn default() -> Self {
        let d = LearnerSpec::default();
        RawLearner {
            generator: "fsr".into(),
            kappa: d.kappa,
            latent_dim: 0,
            hidden: d.g_hidden.iter().map(|&h| h as i64).collect(),
            activation: "relu".into(),
            noise_dim: 0,
            discriminator: "auto".into(),
            d_hidden: d.d_hidden as i64,
            d_activation: "relu".into(),
            // 0.2: the customary leaky slope.
            leak: 0.2,
            d_position: d.d_position,
            d_input: "auto".into(),
            init_bias: d.init_bias,
        }
    }
}

fn activation(field: &'static str, name: &str, leak: f64) -> Result<Activation, ConfigError> {
    Activation::from_name(name, leak).ok_or_else(|| ConfigError::ActivationName {
        field,
        value: name.to_string(),
    })
}

impl RawLearner {
    /// Validates every field.
    pub fn check(&self) -> Result<LearnerSpec, ConfigError> {
        let generator = match self.generator.as_str() {
            "fsr" => GeneratorKind::Fsr,
            "mlp" => GeneratorKind::Mlp,
            "linear" => GeneratorKind::Linear,
            _ => {
                return Err(ConfigError::GeneratorKind {
                    value: self.generator.clone(),
                });
            }
        };
        if !(self.kappa.is_finite() && (1.0..=MAX_KAPPA).contains(&self.kappa)) {
            return Err(ConfigError::Kappa { value: self.kappa });
        }
        if self.latent_dim < 0 {
            return Err(ConfigError::LatentDim {
                value: self.latent_dim,
            });
        }
        for (i, &h) in self.hidden.iter().enumerate() {
            if h < 1 {
                return Err(ConfigError::HiddenWidth { index: i, value: h });
            }
        }
        if !(self.leak.is_finite() && (0.0..1.0).contains(&self.leak)) {
            return Err(ConfigError::Leak { value: self.leak });
        }
        let g_activation = activation("learner.activation", &self.activation, self.leak)?;
        if self.noise_dim < 0 {
            return Err(ConfigError::NoiseDim {
                value: self.noise_dim,
            });
        }
        let discriminator = match (self.discriminator.as_str(), generator) {
            ("auto", GeneratorKind::Fsr) | ("patch", _) => DiscKind::Patch,
            ("auto", GeneratorKind::Mlp) | ("mlp", _) => DiscKind::Mlp,
            ("auto", GeneratorKind::Linear) | ("quadratic", _) => DiscKind::Quadratic,
            _ => {
                return Err(ConfigError::DiscKind {
                    value: self.discriminator.clone(),
                });
            }
        };
        if (generator == GeneratorKind::Fsr) != (discriminator == DiscKind::Patch) {
            return Err(ConfigError::DiscMismatch {
                generator: self.generator.clone(),
                discriminator: self.discriminator.clone(),
            });
        }
        if self.d_hidden < 1 {
            return Err(ConfigError::NotPositive {
                field: "learner.d_hidden",
                value: self.d_hidden,
            });
        }
        let d_activation = activation("learner.d_activation", &self.d_activation, self.leak)?;
        let d_input = DInput::from_name(&self.d_input).ok_or_else(|| ConfigError::DInputName {
            value: self.d_input.clone(),
        })?;
        if !self.init_bias.is_finite() {
            return Err(ConfigError::InitBias {
                value: self.init_bias,
            });
        }
        Ok(LearnerSpec {
            generator,
            kappa: self.kappa,
            latent_dim: (self.latent_dim > 0).then_some(self.latent_dim as usize),
            g_hidden: self.hidden.iter().map(|&h| h as usize).collect(),
            g_activation,
            noise_dim: self.noise_dim as usize,
            discriminator,
            d_hidden: self.d_hidden as usize,
            d_activation,
            d_position: self.d_position,
            d_input,
            init_bias: self.init_bias,
        })
    }
}
