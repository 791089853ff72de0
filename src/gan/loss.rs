//! GAN losses on per-sample discriminator scores (SPEC §2, "Losses"). Each
//! function returns the batch-mean loss and writes its derivative with
//! respect to every score (already divided by the batch size). The gradient
//! penalty lives with the critic (`discriminator`), weight decay with the
//! optimiser (`optim`); per-level weights are applied by the trainer.

use serde::{Deserialize, Serialize};

use crate::nn::{sigmoid, softplus};

/// Which GAN objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Non-saturating logistic: `L_D = mean softplus(-D(real)) + mean
    /// softplus(D(fake))`, `L_G = mean softplus(-D(fake))`.
    Logistic,
    /// WGAN-style linear: `L_D = mean D(fake) - mean D(real)` (+ weight decay
    /// on D, in the optimiser), `L_G = -mean D(fake)`.
    Wgan,
    /// Hinge: `L_D = mean relu(1 - D(real)) + mean relu(1 + D(fake))`,
    /// `L_G = -mean D(fake)`.
    Hinge,
}

impl LossKind {
    /// Parses a config name.
    pub fn from_name(name: &str) -> Option<LossKind> {
        Some(match name {
            "logistic" => LossKind::Logistic,
            "wgan" => LossKind::Wgan,
            "hinge" => LossKind::Hinge,
            _ => return None,
        })
    }
}

/// Discriminator loss; `d_real[i] = dL_D/dD(real_i)`, `d_fake` likewise.
/// Real and fake parts are separable, so either slice may be empty.
pub fn d_loss(kind: LossKind, real: &[f64], fake: &[f64], d_real: &mut [f64], d_fake: &mut [f64]) -> f64 {
    let (nr, nf) = (real.len().max(1) as f64, fake.len().max(1) as f64);
    let mut loss = 0.0;
    for (r, d) in real.iter().zip(d_real.iter_mut()) {
        match kind {
            // d/dr softplus(-r) = -sigmoid(-r)
            LossKind::Logistic => {
                loss += softplus(-r) / nr;
                *d = -sigmoid(-r) / nr;
            }
            LossKind::Wgan => {
                loss -= r / nr;
                *d = -1.0 / nr;
            }
            LossKind::Hinge => {
                loss += (1.0 - r).max(0.0) / nr;
                *d = if *r < 1.0 { -1.0 / nr } else { 0.0 };
            }
        }
    }
    for (f, d) in fake.iter().zip(d_fake.iter_mut()) {
        match kind {
            // d/df softplus(f) = sigmoid(f)
            LossKind::Logistic => {
                loss += softplus(*f) / nf;
                *d = sigmoid(*f) / nf;
            }
            LossKind::Wgan => {
                loss += f / nf;
                *d = 1.0 / nf;
            }
            LossKind::Hinge => {
                loss += (1.0 + f).max(0.0) / nf;
                *d = if *f > -1.0 { 1.0 / nf } else { 0.0 };
            }
        }
    }
    loss
}

/// Generator loss; `d_fake[i] = dL_G/dD(fake_i)`.
pub fn g_loss(kind: LossKind, fake: &[f64], d_fake: &mut [f64]) -> f64 {
    let nf = fake.len().max(1) as f64;
    let mut loss = 0.0;
    for (f, d) in fake.iter().zip(d_fake.iter_mut()) {
        match kind {
            // d/df softplus(-f) = -sigmoid(-f)
            LossKind::Logistic => {
                loss += softplus(-f) / nf;
                *d = -sigmoid(-f) / nf;
            }
            LossKind::Wgan | LossKind::Hinge => {
                loss -= f / nf;
                *d = -1.0 / nf;
            }
        }
    }
    loss
}
