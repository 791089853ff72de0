//! Optimisers and step-size schedules (SPEC §2, "SGDA ... Optimisers").
//! An [`Optimizer`] walks a model's `(parameter, gradient)` pairs through
//! [`Params::visit`]; its state is keyed by visit order, allocated on the
//! first step and reused after. L2 weight decay (`lambda/2 ||theta||^2` in
//! the loss) is added to the gradient here, so models never see it.

use serde::{Deserialize, Serialize};

use crate::nn::Params;

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum OptimKind {
    /// `theta <- theta - lr g` (the theory's SGD).
    Sgd,
    /// Heavy ball: `v <- beta v + g`, `theta <- theta - lr v`.
    Momentum { beta: f64 },
    /// Adam with bias correction: `m <- b1 m + (1-b1) g`, `v <- b2 v + (1-b2)
    /// g^2`, `theta <- theta - lr m_hat / (sqrt(v_hat) + eps)`.
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

/// Step-size schedule over iterations `t = 0..total`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Schedule {
    Constant,
    /// `lr * factor^(floor(t / every))`.
    Step {
        every: usize,
        factor: f64,
    },
    /// Linear from `lr` at `t = 0` to `lr * final_fraction` at `t = total`.
    Linear {
        final_fraction: f64,
    },
}

impl Schedule {
    /// The step size at iteration `t` of `total`.
    pub fn lr(&self, base: f64, t: usize, total: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, factor } => {
                base * factor.powi((t / every.max(1)).min(i32::MAX as usize) as i32)
            }
            Schedule::Linear { final_fraction } => {
                let frac = t as f64 / total.max(1) as f64;
                base * (1.0 - (1.0 - final_fraction) * frac.min(1.0))
            }
        }
    }
}

/// An optimiser with its per-parameter state.
#[derive(Debug, Clone)]
pub struct Optimizer {
    pub kind: OptimKind,
    /// L2 weight decay coefficient added to every gradient.
    pub weight_decay: f64,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    t: u64,
}

impl Optimizer {
    pub fn new(kind: OptimKind, weight_decay: f64) -> Optimizer {
        Optimizer {
            kind,
            weight_decay,
            m: Vec::new(),
            v: Vec::new(),
            t: 0,
        }
    }

    /// One update of every parameter of `model` with step size `lr`.
    pub fn step(&mut self, model: &mut dyn Params, lr: f64) {
        self.t += 1;
        let t = self.t.min(i32::MAX as u64) as i32;
        let kind = self.kind;
        let wd = self.weight_decay;
        let (ms, vs) = (&mut self.m, &mut self.v);
        let mut k = 0;
        model.visit(&mut |p: &mut [f64], g: &[f64]| {
            if ms.len() <= k {
                ms.push(Vec::new());
                vs.push(Vec::new());
            }
            let (m, v) = (&mut ms[k], &mut vs[k]);
            k += 1;
            match kind {
                OptimKind::Sgd => {
                    for (x, gi) in p.iter_mut().zip(g) {
                        *x -= lr * (gi + wd * *x);
                    }
                }
                OptimKind::Momentum { beta } => {
                    m.resize(p.len(), 0.0);
                    for ((x, gi), mi) in p.iter_mut().zip(g).zip(m.iter_mut()) {
                        *mi = beta * *mi + gi + wd * *x;
                        *x -= lr * *mi;
                    }
                }
                OptimKind::Adam { beta1, beta2, eps } => {
                    m.resize(p.len(), 0.0);
                    v.resize(p.len(), 0.0);
                    let c1 = 1.0 - beta1.powi(t);
                    let c2 = 1.0 - beta2.powi(t);
                    for (((x, gi), mi), vi) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                        let gg = gi + wd * *x;
                        *mi = beta1 * *mi + (1.0 - beta1) * gg;
                        *vi = beta2 * *vi + (1.0 - beta2) * gg * gg;
                        let mh = *mi / c1;
                        let vh = *vi / c2;
                        *x -= lr * mh / (vh.sqrt() + eps);
                    }
                }
            }
        });
    }
}
