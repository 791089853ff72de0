//! The SGDA trainer (SPEC §2, "SGDA"): builds a generator and its
//! discriminators from checked specs, draws real mini-batches (fresh from a
//! [`Target`], from a finite [`TrainingSet`] with replacement, or from any
//! [`Sampler`]), runs alternating or simultaneous updates with level
//! schedules, calls an evaluation callback every K iterations, stops on
//! divergence (NaN / Inf in a loss or a parameter) with status `diverged`,
//! and counts gradient evaluations.
//!
//! Four recipe options act here (issue 5, docs/recipe.md): which
//! discriminator's loss trains which generator level
//! ([`super::LevelGrads`]: the total gradient, or level-wise); a penalty
//! hand-over (each D's R1 strength is `training.gamma` before its
//! hand-over iteration, `training.gamma.final` from then on); and
//! duplicate-unit restarts ([`super::Restarts`]: checked before the step
//! of every `every`-th iteration up to `until`, drawing from the same
//! `rng`, so a run stays a pure function of its seed); and refits of the
//! super-resolution maps ([`super::Refit`]: before the iterations at the
//! given fractions of the run, on real samples drawn from the same `rng`;
//! not SGDA).
//!
//! Determinism: every random draw (initialisation, training set, real
//! batches, latents) comes from the one `ChaCha8Rng` passed in, in a fixed
//! order. The discriminators of a step run in parallel (rayon), each on its
//! own parameters and scratch and drawing nothing, and with
//! `training.d_chunks > 1` each on chunks of the batch's samples, one copy
//! of the discriminator per chunk; gradients and losses are summed in a
//! fixed order, so the numbers are the same on any number of threads. With
//! one chunk they are bit for bit those of the serial loop (each
//! discriminator's input gradient is one product added to the sum, as
//! before); more chunks change the order of the parameter gradients' sums.
//!
//! Gradient evaluations: one per backward pass of one player's objective
//! over a mini-batch (a D step of all active discriminators counts 1, a G
//! step 1): an alternating iteration costs `n_D + 1`, a simultaneous one 2.

use std::io::IsTerminal;
use std::time::Instant;

use nalgebra::DMatrix;
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::dinput::InputMap;
use super::discriminator::PatchDisc;
use super::generator::{FsrGenerator, Generator, LinearGenerator, MlpGenerator};
use super::loss::{LossKind, d_loss, g_loss};
use super::optim::Optimizer;
use super::{
    DiscKind, GeneratorKind, LearnerSpec, LevelGrads, LevelSchedule, RestartAtom, TrainingSpec, UpdateRule,
};
use crate::config::ConfigError;
use crate::nn::{Activation, Params, ensure};
use crate::target::Target;

/// Why a trainer could not be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("learner.generator = {generator:?} cannot be trained on {data} data (use {allowed})")]
    GeneratorData {
        generator: GeneratorKind,
        data: &'static str,
        allowed: &'static str,
    },
    #[error("training data is empty ({rows} x {cols}); need at least one sample of at least one value")]
    EmptyData { rows: usize, cols: usize },
    #[error("training data has a non-finite value at row {row} of sample {col}")]
    NonFiniteData { row: usize, col: usize },
}

/// A finite training set: per level, `n x (N P_l)` patch matrices (flat data:
/// one level, `d x N`, one patch per sample).
#[derive(Debug, Clone)]
pub struct TrainingSet {
    pub x: Vec<DMatrix<f64>>,
    /// Patches per sample, per level.
    pub patches: Vec<usize>,
    pub size: usize,
}

impl TrainingSet {
    /// `n` samples of `target` (all levels).
    pub fn from_target(target: &Target, n: usize, rng: &mut ChaCha8Rng) -> TrainingSet {
        let g = &target.spec.geometry;
        TrainingSet {
            x: target.sample(n, rng).x,
            patches: (1..=target.num_levels()).map(|l| g.patches(l)).collect(),
            size: n,
        }
    }

    /// Flat data, one sample per column (`d x N`).
    pub fn flat(data: DMatrix<f64>) -> Result<TrainingSet, TrainError> {
        let (rows, cols) = data.shape();
        if rows == 0 || cols == 0 {
            return Err(TrainError::EmptyData { rows, cols });
        }
        if let Some(k) = data.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::NonFiniteData {
                row: k % rows,
                col: k / rows,
            });
        }
        Ok(TrainingSet {
            x: vec![data],
            patches: vec![1],
            size: cols,
        })
    }

    /// Draws `batch` samples with replacement into `out` (per level).
    fn draw(&self, batch: usize, rng: &mut ChaCha8Rng, out: &mut Vec<DMatrix<f64>>, idx: &mut Vec<usize>) {
        out.resize_with(self.x.len(), || DMatrix::zeros(0, 0));
        idx.clear();
        idx.extend((0..batch).map(|_| rng.random_range(0..self.size)));
        for ((x, o), &p) in self.x.iter().zip(out.iter_mut()).zip(&self.patches) {
            let block = x.nrows() * p;
            ensure(o, x.nrows(), batch * p);
            let dst = o.as_mut_slice();
            for (k, &i) in idx.iter().enumerate() {
                dst[k * block..(k + 1) * block].copy_from_slice(&x.as_slice()[i * block..(i + 1) * block]);
            }
        }
    }
}

/// A per-level sampler of real batches: `(batch, rng) -> x[l]` with the
/// batched layout (`n x (B P_l)`; flat data: one `d x B` matrix).
pub type Sampler = Box<dyn FnMut(usize, &mut ChaCha8Rng) -> Vec<DMatrix<f64>> + Send>;

/// Where real mini-batches come from.
pub enum DataSource {
    /// Fresh target samples every draw (N = inf).
    Target(Box<Target>),
    /// A finite set, drawn with replacement.
    Set(TrainingSet),
    /// Any sampler (e.g. Gaussian or mixture data for the known-answer checks).
    Sampler(Sampler),
}

impl DataSource {
    fn draw(
        &mut self,
        batch: usize,
        rng: &mut ChaCha8Rng,
        out: &mut Vec<DMatrix<f64>>,
        idx: &mut Vec<usize>,
    ) {
        match self {
            DataSource::Target(t) => *out = t.sample(batch, rng).x,
            DataSource::Set(s) => s.draw(batch, rng, out, idx),
            DataSource::Sampler(f) => *out = f(batch, rng),
        }
    }
}

/// Losses of one iteration, per discriminator (NaN where inactive).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepLosses {
    /// D loss (without penalty / decay) of each discriminator's last D step.
    pub d: Vec<f64>,
    /// G loss against each discriminator.
    pub g: Vec<f64>,
    /// R1 penalty value of each discriminator's last D step.
    pub penalty: Vec<f64>,
}

/// What the evaluation callback sees.
pub struct EvalPoint<'a> {
    /// Iterations done (the callback runs after iteration `iteration`, 1-based).
    pub iteration: usize,
    pub generator: &'a Generator,
    /// 1-based level each discriminator reads (index-aligned with the losses).
    pub disc_levels: &'a [usize],
    /// Mean losses over the iterations since the last evaluation (NaN for a
    /// discriminator that was inactive throughout).
    pub losses: &'a StepLosses,
    pub grad_evals: u64,
    pub wall_seconds: f64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Completed,
    Diverged,
}

/// Summary of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub status: RunStatus,
    /// Iterations performed (including the diverging one).
    pub iterations: usize,
    /// The 1-based iteration whose loss or parameters went non-finite.
    pub diverged_at: Option<usize>,
    /// True when the callback asked to stop before the last iteration.
    pub stopped_early: bool,
    pub wall_seconds: f64,
    pub grad_evals: u64,
}

/// The SGDA trainer: the generator, its discriminators, their optimisers,
/// the data source and every buffer of the loop.
pub struct Trainer {
    pub generator: Generator,
    /// Exponential moving average of the generator's parameters
    /// (`training.ema > 0`), the model that is evaluated.
    ema: Option<Generator>,
    pub discs: Vec<PatchDisc>,
    pub spec: TrainingSpec,
    data: DataSource,
    weights: Vec<f64>,
    /// R1 strength of each discriminator (its level's `training.gamma`
    /// entry), and from its level's hand-over iteration on (`gamma.final`).
    gammas: Vec<f64>,
    gammas_final: Vec<f64>,
    gamma_switch: Vec<usize>,
    /// The learner's threshold rule, for restarted units.
    init_bias: f64,
    /// Units restarted so far, per generator level.
    restarted: Vec<usize>,
    /// Rows of W_l revived so far, per generator level.
    revived: Vec<usize>,
    /// Rows of W_l refitted so far, per generator level.
    refitted: Vec<usize>,
    /// Per level and stacked row of W_l: patches on which the row was
    /// active since the last restart check (`training.restarts.dead`).
    active: Vec<Vec<u64>>,
    switch_on: Vec<usize>,
    levels_of: Vec<usize>,
    opt_g: Optimizer,
    opt_d: Vec<Optimizer>,
    real: Vec<DMatrix<f64>>,
    dx: Vec<DMatrix<f64>>,
    /// The discriminators' input coordinates (`None`: raw pixels; see
    /// [`super::dinput`]), with the mapped real / fake batches and the
    /// gradient with respect to the mapped fakes.
    dmap: Option<InputMap>,
    real_u: Vec<DMatrix<f64>>,
    fake_u: Vec<DMatrix<f64>>,
    du: Vec<DMatrix<f64>>,
    idx: Vec<usize>,
    /// The generator's parameter values, for the average's update.
    ema_buf: Vec<f64>,
    /// Per discriminator and sample chunk (`training.d_chunks > 1`): the
    /// copy of the discriminator that runs that chunk (made at the first
    /// pass, parameters copied before every pass).
    workers: Vec<Vec<PatchDisc>>,
    /// Per work item of [`Self::disc_pass`] (discriminator-major): its
    /// scratch.
    scratch: Vec<DiscScratch>,
    /// Per chunk: its columns of the real and the fake batch (per level).
    chunk_real: Vec<Vec<DMatrix<f64>>>,
    chunk_fake: Vec<Vec<DMatrix<f64>>>,
    losses: StepLosses,
    grad_evals: u64,
    iteration: usize,
}

impl Trainer {
    /// An `fsr` learner on `target`'s data: fresh samples, or a finite set of
    /// `training.train_size` samples drawn now from `rng` (after the
    /// learner's initialisation).
    pub fn for_target(
        learner: &LearnerSpec,
        training: &TrainingSpec,
        target: &Target,
        rng: &mut ChaCha8Rng,
    ) -> Result<Trainer, TrainError> {
        if learner.generator != GeneratorKind::Fsr {
            return Err(TrainError::GeneratorData {
                generator: learner.generator,
                data: "FSR target",
                allowed: "fsr",
            });
        }
        let ts = &target.spec;
        let widen = |m: usize| (learner.kappa * m as f64 - 1e-9).ceil().max(1.0) as usize;
        let widths: Vec<usize> = ts.widths.iter().map(|&m| widen(m)).collect();
        let latent = learner.latent_dim.unwrap_or_else(|| widen(ts.latent_dim));
        let generator = Generator::Fsr(FsrGenerator::new(
            &ts.geometry,
            ts.output,
            &widths,
            latent,
            learner.noise_dim,
            learner.init_bias,
            rng,
        ));
        let g = &ts.geometry;
        let patches: Vec<usize> = (1..=g.levels).map(|l| g.patches(l)).collect();
        let mut tr = Trainer::assemble(
            learner,
            training,
            generator,
            &patches,
            g.fanout,
            g.patch_dim(),
            rng,
        )?;
        tr.data = if training.train_size == 0 {
            DataSource::Target(Box::new(target.clone()))
        } else {
            DataSource::Set(TrainingSet::from_target(target, training.train_size, rng))
        };
        tr.build_input_map(
            learner,
            &ts.geometry,
            ts.output == crate::target::OutputMode::Pyramid,
            rng,
        );
        Ok(tr)
    }

    /// An `fsr` learner on real multi-resolution data (`x[l]`: `n x (N P_l)`
    /// in the target's layout, e.g. `data::MultiRes`), drawn with
    /// replacement. `widths` / `latent` are the learner's own (before kappa).
    pub fn for_multires(
        learner: &LearnerSpec,
        training: &TrainingSpec,
        geometry: &crate::target::Geometry,
        widths: &[usize],
        latent: usize,
        x: Vec<DMatrix<f64>>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Trainer, TrainError> {
        if learner.generator != GeneratorKind::Fsr {
            return Err(TrainError::GeneratorData {
                generator: learner.generator,
                data: "multi-resolution image",
                allowed: "fsr",
            });
        }
        let patches: Vec<usize> = (1..=geometry.levels).map(|l| geometry.patches(l)).collect();
        let size = x.first().map_or(0, |x0| x0.ncols() / patches[0].max(1));
        if size == 0 {
            return Err(TrainError::EmptyData { rows: 0, cols: 0 });
        }
        if let Some((row, col)) = x.iter().find_map(|m| {
            m.iter()
                .position(|v| !v.is_finite())
                .map(|i| (i % m.nrows(), i / m.nrows()))
        }) {
            return Err(TrainError::NonFiniteData { row, col });
        }
        let widen = |m: usize| (learner.kappa * m as f64 - 1e-9).ceil().max(1.0) as usize;
        let widths: Vec<usize> = widths.iter().map(|&m| widen(m)).collect();
        let latent = learner.latent_dim.unwrap_or_else(|| widen(latent));
        let generator = Generator::Fsr(FsrGenerator::new(
            geometry,
            crate::target::OutputMode::Pyramid,
            &widths,
            latent,
            learner.noise_dim,
            learner.init_bias,
            rng,
        ));
        let mut tr = Trainer::assemble(
            learner,
            training,
            generator,
            &patches,
            geometry.fanout,
            geometry.patch_dim(),
            rng,
        )?;
        tr.data = DataSource::Set(TrainingSet { x, patches, size });
        tr.build_input_map(learner, geometry, true, rng);
        Ok(tr)
    }

    /// An `mlp` / `linear` learner on flat data (`d x N`, one sample per
    /// column, e.g. from a CSV file), drawn with replacement
    /// (`training.train_size` is ignored: the set is the data).
    pub fn for_data(
        learner: &LearnerSpec,
        training: &TrainingSpec,
        data: DMatrix<f64>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Trainer, TrainError> {
        let set = TrainingSet::flat(data)?;
        let dim = set.x[0].nrows();
        Trainer::for_flat(learner, training, dim, DataSource::Set(set), rng)
    }

    /// An `mlp` / `linear` learner on flat `dim`-dimensional data from any
    /// source (e.g. a [`Sampler`] of fresh Gaussian or mixture samples).
    pub fn for_flat(
        learner: &LearnerSpec,
        training: &TrainingSpec,
        dim: usize,
        data: DataSource,
        rng: &mut ChaCha8Rng,
    ) -> Result<Trainer, TrainError> {
        let generator = match learner.generator {
            GeneratorKind::Fsr => {
                return Err(TrainError::GeneratorData {
                    generator: learner.generator,
                    data: "flat",
                    allowed: "mlp or linear",
                });
            }
            GeneratorKind::Mlp => Generator::Mlp(MlpGenerator::new(
                learner.latent_dim.unwrap_or(8),
                &learner.g_hidden,
                dim,
                learner.g_activation,
                rng,
            )),
            GeneratorKind::Linear => {
                Generator::Linear(LinearGenerator::new(dim, learner.latent_dim.unwrap_or(4), rng))
            }
        };
        let mut tr = Trainer::assemble(learner, training, generator, &[1], 1, dim, rng)?;
        tr.data = data;
        Ok(tr)
    }

    fn assemble(
        learner: &LearnerSpec,
        training: &TrainingSpec,
        generator: Generator,
        patches: &[usize],
        fanout: usize,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Trainer, TrainError> {
        let nl = patches.len();
        let per = training.per_level(nl)?;
        let act = match learner.discriminator {
            DiscKind::Quadratic => Activation::Quadratic,
            _ => learner.d_activation,
        };
        let pos = |l: usize| -> usize {
            if !learner.d_position {
                0
            } else if l == 1 {
                if patches[0] > 1 { patches[0] } else { 0 }
            } else if fanout > 1 {
                fanout
            } else {
                0
            }
        };
        let width = learner.d_hidden;
        let mut discs = Vec::new();
        let mut levels_of = Vec::new();
        if learner.discriminator == DiscKind::Quadratic {
            // LQG: one quadratic D with frozen random directions (Critic::quadratic).
            let d = PatchDisc::new(1, 1, n, false, 0, 1, act, rng);
            let inputs = d.critic.inputs();
            discs.push(d.with_critic(super::Critic::quadratic(inputs, width, rng)));
            levels_of.push(nl);
        }
        match training.levels {
            _ if !discs.is_empty() => {}
            LevelSchedule::Joint | LevelSchedule::Progressive => {
                for l in 1..=nl {
                    discs.push(PatchDisc::new(
                        l,
                        patches[l - 1],
                        n,
                        true,
                        pos(l),
                        width,
                        act,
                        rng,
                    ));
                    levels_of.push(l);
                }
            }
            LevelSchedule::TopOnly => {
                discs.push(PatchDisc::new(nl, patches[nl - 1], n, false, 0, width, act, rng));
                levels_of.push(nl);
            }
            LevelSchedule::TopPair => {
                discs.push(PatchDisc::new(
                    nl,
                    patches[nl - 1],
                    n,
                    true,
                    pos(nl),
                    width,
                    act,
                    rng,
                ));
                levels_of.push(nl);
            }
        }
        for d in &mut discs {
            d.stop_parent_grad = training.level_grads == LevelGrads::Own;
        }
        let ws = levels_of.iter().map(|&l| per.weights[l - 1]).collect();
        let gammas = levels_of.iter().map(|&l| per.gammas[l - 1]).collect();
        let gammas_final = levels_of.iter().map(|&l| per.gammas_final[l - 1]).collect();
        let gamma_switch = levels_of.iter().map(|&l| per.gamma_switch[l - 1]).collect();
        let on = levels_of
            .iter()
            .map(|&l| {
                if training.levels == LevelSchedule::Progressive {
                    per.switch_on[l - 1]
                } else {
                    0
                }
            })
            .collect();
        let k = discs.len();
        let generator_levels = generator.num_levels();
        Ok(Trainer {
            ema: (training.ema > 0.0).then(|| generator.clone()),
            generator,
            opt_g: Optimizer::new(training.optimizer, 0.0),
            opt_d: (0..k)
                .map(|_| Optimizer::new(training.optimizer, training.weight_decay))
                .collect(),
            discs,
            spec: training.clone(),
            data: DataSource::Set(TrainingSet {
                x: Vec::new(),
                patches: Vec::new(),
                size: 0,
            }),
            weights: ws,
            gammas,
            gammas_final,
            gamma_switch,
            init_bias: learner.init_bias,
            restarted: vec![0; generator_levels],
            revived: vec![0; generator_levels],
            refitted: vec![0; generator_levels],
            active: Vec::new(),
            switch_on: on,
            levels_of,
            real: Vec::new(),
            dx: Vec::new(),
            dmap: None,
            real_u: Vec::new(),
            fake_u: Vec::new(),
            du: Vec::new(),
            idx: Vec::new(),
            ema_buf: Vec::new(),
            workers: Vec::new(),
            scratch: Vec::new(),
            chunk_real: Vec::new(),
            chunk_fake: Vec::new(),
            losses: StepLosses {
                d: vec![f64::NAN; k],
                g: vec![f64::NAN; k],
                penalty: vec![f64::NAN; k],
            },
            grad_evals: 0,
            iteration: 0,
        })
    }

    /// Real samples the discriminators' input scales are measured on: the
    /// scale estimates' relative standard error is ~1/sqrt(2 * 1024 n P_l),
    /// under 1% at every level.
    const SCALE_SAMPLES: usize = 1024;

    /// Builds the discriminators' input map ([`super::dinput`]) from one
    /// batch of real training data (`fsr` learners only).
    fn build_input_map(
        &mut self,
        learner: &LearnerSpec,
        geometry: &crate::target::Geometry,
        pyramid: bool,
        rng: &mut ChaCha8Rng,
    ) {
        let top_only = self.spec.levels == LevelSchedule::TopOnly;
        self.dmap = learner.d_input.resolve(pyramid, top_only).map(|laplacian| {
            let mut real = Vec::new();
            self.data.draw(Self::SCALE_SAMPLES, rng, &mut real, &mut self.idx);
            InputMap::new(geometry, laplacian, &real)
        });
    }

    /// The model to evaluate and save: the parameter average when
    /// `training.ema > 0`, else the generator itself.
    pub fn model(&self) -> &Generator {
        self.ema.as_ref().unwrap_or(&self.generator)
    }

    /// Replaces the source of real mini-batches (benchmarks, the peer check).
    pub fn set_data(&mut self, data: DataSource) {
        self.data = data;
    }

    /// 1-based level each discriminator reads.
    pub fn disc_levels(&self) -> &[usize] {
        &self.levels_of
    }

    /// Iterations done so far.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Gradient evaluations so far (module docs).
    pub fn grad_evals(&self) -> u64 {
        self.grad_evals
    }

    fn active_at(&self, i: usize, t: usize) -> bool {
        t >= self.switch_on[i]
    }

    /// D update gradients of every active discriminator on the current real
    /// batch (`self.real`) and the generator's current outputs. With `g_grad`
    /// (simultaneous), also accumulates the G-loss input gradients into
    /// `self.dx` from the same forward passes (D's pre-update parameters).
    fn d_pass(&mut self, g_grad: bool) {
        let pass = if g_grad { Pass::DAndG } else { Pass::D };
        self.disc_pass(pass);
        if g_grad {
            self.map_backward();
        }
    }

    /// One pass of every active discriminator over the current real batch
    /// (`self.real`) and the generator's current outputs, in parallel: a
    /// task per discriminator, or with `training.d_chunks = c > 1` a task
    /// per discriminator and chunk of samples, each on its own worker copy
    /// of the discriminator. A chunk of `n_c` of the `B` samples carries the
    /// share `n_c / B` of every loss, so the chunks' losses and gradients
    /// sum to the whole batch's. Sums run in a fixed order (discriminators,
    /// then chunks), so the numbers do not depend on the thread count.
    /// - `Pass::D`: D update gradients (into the discriminators' gradient
    ///   buffers) and D losses and penalties.
    /// - `Pass::DAndG`: the same, then from the same fake forward the G loss
    ///   and its gradient with respect to the fakes, added to `du` (with an
    ///   input map) or `dx` (simultaneous updates).
    /// - `Pass::G`: a fresh forward on the fakes, the G loss and the fakes'
    ///   gradient only (alternating G step).
    fn disc_pass(&mut self, pass: Pass) {
        let kind = self.spec.loss;
        let t = self.iteration;
        let k = self.discs.len();
        let active: Vec<bool> = (0..k).map(|i| self.active_at(i, t)).collect();
        // (A constant penalty's switch is usize::MAX: never.)
        let gammas: Vec<f64> = (0..k)
            .map(|i| {
                if t >= self.gamma_switch[i] {
                    self.gammas_final[i]
                } else {
                    self.gammas[i]
                }
            })
            .collect();
        let with_d = pass != Pass::G;
        let (real, fake): (&[DMatrix<f64>], &[DMatrix<f64>]) = match &self.dmap {
            Some(map) => {
                if with_d {
                    map.apply(&self.real, &mut self.real_u);
                }
                map.apply(self.generator.outputs(), &mut self.fake_u);
                (&self.real_u, &self.fake_u)
            }
            None => (&self.real, self.generator.outputs()),
        };
        if pass != Pass::D && self.dmap.is_some() {
            zero_like(&mut self.du, fake);
        }
        let b = self.spec.batch;
        let chunks = self.spec.d_chunks;
        let ranges: Vec<std::ops::Range<usize>> = (0..chunks)
            .map(|c| c * b / chunks..(c + 1) * b / chunks)
            .collect();
        if chunks > 1 {
            if self.workers.is_empty() {
                self.workers = self.discs.iter().map(|d| vec![d.clone(); chunks]).collect();
            }
            for (d, ws) in self.discs.iter().zip(&mut self.workers) {
                for w in ws {
                    w.critic.copy_params_from(&d.critic);
                }
            }
            self.chunk_fake.resize_with(chunks, Vec::new);
            self.chunk_real.resize_with(chunks, Vec::new);
            for (c, r) in ranges.iter().enumerate() {
                chunk_columns(fake, b, r, &mut self.chunk_fake[c]);
                if with_d {
                    chunk_columns(real, b, r, &mut self.chunk_real[c]);
                }
            }
        }
        if self.scratch.len() != k * chunks {
            self.scratch = vec![DiscScratch::default(); k * chunks];
        }
        // Work items, discriminator-major: (discriminator, chunk, the
        // discriminator or its worker copy, scratch).
        let discs: Vec<&mut PatchDisc> = if chunks > 1 {
            self.workers.iter_mut().flatten().collect()
        } else {
            self.discs.iter_mut().collect()
        };
        let items: Vec<_> = discs
            .into_iter()
            .zip(self.scratch.iter_mut())
            .enumerate()
            .map(|(j, (d, s))| (j / chunks, j % chunks, d, s))
            .filter(|(i, ..)| active[*i])
            .collect();
        let (weights, chunk_real, chunk_fake) = (&self.weights, &self.chunk_real, &self.chunk_fake);
        let out: Vec<(usize, [f64; 3])> = items
            .into_par_iter()
            .map(|(i, c, d, s)| {
                let (real, fake) = if chunks > 1 {
                    (&chunk_real[c][..], &chunk_fake[c][..])
                } else {
                    (real, fake)
                };
                let share = ranges[c].len() as f64 / b as f64;
                let w = weights[i];
                let (ld, pen) = if with_d {
                    d_update(d, s, real, fake, kind, gammas[i], w, share)
                } else {
                    s.sf.clear();
                    s.sf.extend_from_slice(d.forward_on(fake));
                    (f64::NAN, f64::NAN)
                };
                let lg = if pass != Pass::D {
                    g_part(d, s, fake, kind, w, share)
                } else {
                    f64::NAN
                };
                (i, [ld, pen, lg])
            })
            .collect();
        // Losses: the chunks' shares summed in chunk order.
        let mut sums: Vec<Option<[f64; 3]>> = vec![None; k];
        for (i, v) in out {
            let acc = sums[i].get_or_insert([0.0; 3]);
            for (a, x) in acc.iter_mut().zip(v) {
                *a += x;
            }
        }
        for (i, v) in sums.into_iter().enumerate() {
            if let Some([ld, pen, lg]) = v {
                if with_d {
                    self.losses.d[i] = ld;
                    self.losses.penalty[i] = pen;
                }
                if pass != Pass::D {
                    self.losses.g[i] = lg;
                }
            }
        }
        if with_d && chunks > 1 {
            for ((d, ws), _) in self
                .discs
                .iter_mut()
                .zip(&self.workers)
                .zip(&active)
                .filter(|(_, a)| **a)
            {
                d.critic.zero_grads();
                for w in ws {
                    d.critic.add_grads_from(&w.critic);
                }
            }
        }
        if pass != Pass::D {
            // The fakes' gradient: each work item's own, added into its
            // chunk's columns, in item order.
            let dst = if self.dmap.is_some() {
                &mut self.du
            } else {
                &mut self.dx
            };
            for (j, s) in self.scratch.iter().enumerate() {
                if !active[j / chunks] {
                    continue;
                }
                let r = &ranges[j % chunks];
                for (d, g) in dst.iter_mut().zip(&s.dfake) {
                    let per = d.ncols() / b;
                    let mut cols = d.columns_mut(r.start * per, r.len() * per);
                    cols += g;
                }
            }
        }
    }

    /// The fakes' gradient from the D-input coordinates back to pixels,
    /// `dx += A^T du` (level-wise: the block diagonal of `A` only); a no-op
    /// without an input map (the Ds read pixels, `dx` is already filled).
    fn map_backward(&mut self) {
        if let Some(map) = &self.dmap {
            match self.spec.level_grads {
                LevelGrads::All | LevelGrads::Pixels => map.backward(&self.du, &mut self.dx),
                LevelGrads::Own => map.backward_diagonal(&self.du, &mut self.dx),
            }
        }
    }

    fn zero_dx(&mut self) {
        zero_like(&mut self.dx, self.generator.outputs());
    }

    fn step_d(&mut self, lr: f64) {
        let t = self.iteration;
        let active: Vec<bool> = (0..self.discs.len()).map(|i| self.active_at(i, t)).collect();
        self.opt_d
            .par_iter_mut()
            .zip(self.discs.par_iter_mut())
            .enumerate()
            .filter(|(i, _)| active[*i])
            .for_each(|(_, (opt, d))| opt.step(d, lr));
    }

    fn step_g(&mut self, lr: f64) {
        self.generator.backward_with(&mut self.dx, self.spec.level_grads);
        self.opt_g.step(&mut self.generator, lr);
        self.generator.after_step();
        if let Some(avg) = &mut self.ema {
            ema_update(avg, &self.generator, self.spec.ema, &mut self.ema_buf);
        }
    }

    /// Units restarted so far at each generator level
    /// (`training.restarts`).
    pub fn restarted(&self) -> &[usize] {
        &self.restarted
    }

    /// Rows of `W_l` revived so far at each generator level
    /// (`training.restarts.dead`).
    pub fn revived(&self) -> &[usize] {
        &self.revived
    }

    /// Rows of `W_l` refitted so far at each generator level
    /// (`training.refit`).
    pub fn refitted(&self) -> &[usize] {
        &self.refitted
    }

    /// Restarts at every level ([`super::Restarts`]): duplicate units, then
    /// (`dead`) rows never active since the last check, except rows of
    /// units just redrawn. The parameter average takes redrawn units and
    /// rows as they are. The optimiser's state is kept: Adam(0, 0.9) has no
    /// first moment and its second moment forgets the old unit's gradients
    /// within ~20 steps.
    fn restart_units(&mut self, rng: &mut ChaCha8Rng) {
        let r = self.spec.restarts;
        let cos = r.cos_at(self.iteration);
        let Some(g) = self.generator.as_fsr_mut() else {
            return;
        };
        // Real data for residual atoms, drawn only if a unit is redrawn (a
        // run without duplicates keeps its random stream).
        let mut real: Vec<DMatrix<f64>> = Vec::new();
        for level in 1..=g.num_levels() {
            let units = g.restart_duplicates(level, cos, self.init_bias, rng);
            if r.atom == RestartAtom::Residual && !units.is_empty() {
                if real.is_empty() {
                    self.data.draw(Self::SCALE_SAMPLES, rng, &mut real, &mut self.idx);
                }
                g.aim_units(level, &units, &real[level - 1]);
            }
            self.restarted[level - 1] += units.len();
            let mut avg = self.ema.as_mut().and_then(Generator::as_fsr_mut);
            if let Some(avg) = avg.as_deref_mut() {
                for &u in &units {
                    avg.copy_unit(g, level, u);
                }
            }
            if r.dead
                && let Some(counts) = self.active.get_mut(level - 1)
            {
                let width = g.levels[level - 1].width;
                for (row, c) in counts.iter_mut().enumerate() {
                    if units.contains(&(row % width)) {
                        *c = 1;
                    }
                }
                let rows = g.revive_dead_rows(level, counts, self.init_bias, rng);
                self.revived[level - 1] += rows.len();
                if let Some(avg) = avg {
                    avg.copy_rows(g, level, &rows);
                }
                counts.fill(0);
            }
        }
    }

    /// Super-resolution map refits ([`super::Refit`]): every row of every
    /// level map `W_l`, `l >= 2`, without noise inputs, refitted on fresh
    /// real samples read through the learner's atoms; the parameter average
    /// takes the refitted rows as they are (as it takes restarted units).
    fn refit_maps(&mut self, rng: &mut ChaCha8Rng) {
        let (samples, on) = (self.spec.refit.samples, self.spec.refit.on);
        let Some(g) = self.generator.as_fsr_mut() else {
            return;
        };
        // Levels >= 2 without noise inputs; none (L = 1): no data drawn, so
        // the run's random stream is that of a run without refits.
        let levels: Vec<usize> = (2..=g.num_levels())
            .filter(|&l| g.levels[l - 1].noise.ncols() == 0)
            .collect();
        if levels.is_empty() {
            return;
        }
        let mut real: Vec<DMatrix<f64>> = Vec::new();
        self.data.draw(samples, rng, &mut real, &mut self.idx);
        for level in levels {
            let all: Vec<usize> = (0..g.levels[level - 1].w.nrows()).collect();
            let rows = g.refit_rows(level, &all, &real[level - 2], &real[level - 1], on);
            self.refitted[level - 1] += rows.len();
            if let Some(avg) = self.ema.as_mut().and_then(Generator::as_fsr_mut) {
                avg.copy_rows(g, level, &rows);
            }
        }
    }

    /// One SGDA iteration (public for benchmarks); returns its losses.
    pub fn step(&mut self, rng: &mut ChaCha8Rng) -> &StepLosses {
        let t = self.iteration;
        if self.spec.restarts.due(t) {
            self.restart_units(rng);
        }
        if self.spec.refit.due(t, self.spec.iterations) {
            self.refit_maps(rng);
        }
        let total = self.spec.iterations;
        let lr_d = self.spec.schedule.lr(self.spec.lr_d, t, total);
        let lr_g = self.spec.schedule.lr(self.spec.lr_g, t, total);
        let b = self.spec.batch;
        for i in 0..self.discs.len() {
            if !self.active_at(i, t) {
                self.losses.d[i] = f64::NAN;
                self.losses.g[i] = f64::NAN;
                self.losses.penalty[i] = f64::NAN;
            }
        }
        match self.spec.update {
            UpdateRule::Alternating => {
                for _ in 0..self.spec.n_d {
                    self.data.draw(b, rng, &mut self.real, &mut self.idx);
                    self.generator.draw_inputs(b, rng);
                    self.generator.forward();
                    self.d_pass(false);
                    self.step_d(lr_d);
                    self.grad_evals += 1;
                }
                self.generator.draw_inputs(b, rng);
                self.generator.forward();
                self.zero_dx();
                self.disc_pass(Pass::G);
                self.map_backward();
                self.step_g(lr_g);
                self.grad_evals += 1;
            }
            UpdateRule::Simultaneous => {
                self.data.draw(b, rng, &mut self.real, &mut self.idx);
                self.generator.draw_inputs(b, rng);
                self.generator.forward();
                self.zero_dx();
                self.d_pass(true);
                self.step_d(lr_d);
                self.step_g(lr_g);
                self.grad_evals += 2;
            }
        }
        if self.spec.restarts.dead
            && let Some(g) = self.generator.as_fsr()
        {
            // The last forward pass is the G step's batch.
            g.count_active(&mut self.active);
        }
        self.iteration += 1;
        &self.losses
    }

    /// True when every active loss and every parameter (the average's
    /// included: it can overflow while the iterate is still finite) is
    /// finite (checked after iteration `t`, 1-based).
    fn finite(&self, t: usize) -> bool {
        let losses_ok = (0..self.discs.len()).all(|i| {
            !self.active_at(i, t - 1)
                || (self.losses.d[i].is_finite()
                    && self.losses.g[i].is_finite()
                    && self.losses.penalty[i].is_finite())
        });
        losses_ok
            && self.generator.all_finite()
            && self.ema.as_ref().is_none_or(|g| g.all_finite())
            && self.discs.iter().all(|d| d.all_finite())
    }

    /// Runs the remaining iterations up to `spec.iterations`. The callback
    /// runs after every `eval_every`-th iteration and after the last one; it
    /// returns true to stop early. A non-finite loss or parameter stops the
    /// run as [`RunStatus::Diverged`] (the callback is not called on the
    /// diverged state). Progress bar on stderr unless `quiet` or stderr is
    /// not a terminal.
    #[allow(clippy::needless_range_loop)]
    pub fn run<F>(&mut self, rng: &mut ChaCha8Rng, quiet: bool, mut callback: F) -> TrainResult
    where
        F: FnMut(&EvalPoint<'_>) -> bool,
    {
        let start = Instant::now();
        let total = self.spec.iterations;
        let k = self.discs.len();
        let bar = if quiet || !std::io::stderr().is_terminal() {
            indicatif::ProgressBar::hidden()
        } else {
            let pb = indicatif::ProgressBar::with_draw_target(
                Some(total as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
            ) {
                pb.set_style(style);
            }
            pb
        };
        let zero = StepLosses {
            d: vec![0.0; k],
            g: vec![0.0; k],
            penalty: vec![0.0; k],
        };
        let mut sums = zero.clone();
        let mut mean = zero.clone();
        let mut counts = vec![0usize; k];
        let mut status = RunStatus::Completed;
        let mut diverged_at = None;
        let mut stopped = false;
        while self.iteration < total {
            self.step(rng);
            let t = self.iteration;
            if !self.finite(t) {
                status = RunStatus::Diverged;
                diverged_at = Some(t);
                break;
            }
            for i in 0..k {
                if self.active_at(i, t - 1) {
                    sums.d[i] += self.losses.d[i];
                    sums.g[i] += self.losses.g[i];
                    sums.penalty[i] += self.losses.penalty[i];
                    counts[i] += 1;
                }
            }
            if t.is_multiple_of(100) || t == total {
                bar.set_position(t as u64);
                bar.set_message(format!(
                    "D {:.3} G {:.3}",
                    self.losses.d[k - 1],
                    self.losses.g[k - 1]
                ));
            }
            if t.is_multiple_of(self.spec.eval_every.max(1)) || t == total {
                for i in 0..k {
                    let c = counts[i] as f64;
                    let f = |s: f64| if counts[i] > 0 { s / c } else { f64::NAN };
                    mean.d[i] = f(sums.d[i]);
                    mean.g[i] = f(sums.g[i]);
                    mean.penalty[i] = f(sums.penalty[i]);
                }
                let point = EvalPoint {
                    iteration: t,
                    generator: self.model(),
                    disc_levels: &self.levels_of,
                    losses: &mean,
                    grad_evals: self.grad_evals,
                    wall_seconds: start.elapsed().as_secs_f64(),
                };
                if callback(&point) {
                    stopped = t < total;
                    break;
                }
                sums.clone_from(&zero);
                counts.iter_mut().for_each(|c| *c = 0);
            }
        }
        bar.finish_and_clear();
        TrainResult {
            status,
            iterations: self.iteration,
            diverged_at,
            stopped_early: stopped,
            wall_seconds: start.elapsed().as_secs_f64(),
            grad_evals: self.grad_evals,
        }
    }
}

/// One discriminator's scratch for a step: scores on the real and fake
/// batches and their loss gradients, and its own gradient with respect to
/// the fakes (per level, like the fakes). Kept per discriminator so the
/// discriminators of a step can run on separate threads.
#[derive(Debug, Clone, Default)]
struct DiscScratch {
    sr: Vec<f64>,
    sf: Vec<f64>,
    dr: Vec<f64>,
    df: Vec<f64>,
    dfake: Vec<DMatrix<f64>>,
}

/// The D update gradients of one discriminator (weight `w`, R1 strength
/// `gamma`) on `real` and `fake`, a chunk carrying the share `share` of the
/// batch's samples (1: the whole batch); returns its shares of the D loss
/// and of the penalty. Real: forward, loss part, backward, then the R1
/// penalty (it needs the real forward's cache); then fake. Real and fake
/// parts of every loss are separable, and a mean over the batch is the
/// chunks' means weighted by their shares. Leaves the fake forward's cache
/// and scores (`s.sf`) for [`g_part`].
#[allow(clippy::too_many_arguments)]
fn d_update(
    d: &mut PatchDisc,
    s: &mut DiscScratch,
    real: &[DMatrix<f64>],
    fake: &[DMatrix<f64>],
    kind: LossKind,
    gamma: f64,
    w: f64,
    share: f64,
) -> (f64, f64) {
    let ws = w * share;
    d.critic.zero_grads();
    s.sr.clear();
    s.sr.extend_from_slice(d.forward_on(real));
    s.dr.resize(s.sr.len(), 0.0);
    let loss_real = d_loss(kind, &s.sr, &[], &mut s.dr, &mut []);
    s.dr.iter_mut().for_each(|v| *v *= ws);
    d.backward_on(real, &s.dr, None, true);
    let pen = if w > 0.0 {
        d.penalty_on(real, gamma, ws) / w
    } else {
        0.0
    };
    s.sf.clear();
    s.sf.extend_from_slice(d.forward_on(fake));
    s.df.resize(s.sf.len(), 0.0);
    let loss_fake = d_loss(kind, &[], &s.sf, &mut [], &mut s.df);
    s.df.iter_mut().for_each(|v| *v *= ws);
    d.backward_on(fake, &s.df, None, true);
    (share * (loss_real + loss_fake), pen)
}

/// The G loss of one discriminator's scores `s.sf` on `fake` (its last
/// forward; a chunk with share `share` of the batch) and its gradient with
/// respect to the fakes, into `s.dfake` (zeroed first; weight `w`).
/// Returns the chunk's share of the G loss.
fn g_part(
    d: &mut PatchDisc,
    s: &mut DiscScratch,
    fake: &[DMatrix<f64>],
    kind: LossKind,
    w: f64,
    share: f64,
) -> f64 {
    s.df.resize(s.sf.len(), 0.0);
    let lg = g_loss(kind, &s.sf, &mut s.df);
    let ws = w * share;
    s.df.iter_mut().for_each(|v| *v *= ws);
    zero_like(&mut s.dfake, fake);
    d.backward_on(fake, &s.df, Some(&mut s.dfake), false);
    share * lg
}

/// Which parts of a discriminator pass run ([`Trainer::disc_pass`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// D update gradients and losses.
    D,
    /// D update, then the G loss and the fakes' gradient from the same
    /// forward (simultaneous updates).
    DAndG,
    /// A forward on the fakes, the G loss and the fakes' gradient.
    G,
}

/// Copies the columns of samples `r` (of `b`) of every level of `x` into
/// `out` (per level: `x[l]` holds `ncols / b` columns per sample, sample by
/// sample).
fn chunk_columns(x: &[DMatrix<f64>], b: usize, r: &std::ops::Range<usize>, out: &mut Vec<DMatrix<f64>>) {
    out.resize_with(x.len(), || DMatrix::zeros(0, 0));
    for (o, m) in out.iter_mut().zip(x) {
        let per = m.ncols() / b;
        ensure(o, m.nrows(), r.len() * per);
        o.copy_from(&m.columns(r.start * per, r.len() * per));
    }
}

/// Sizes `dst` like `like` (per level) and zeroes it.
fn zero_like(dst: &mut Vec<DMatrix<f64>>, like: &[DMatrix<f64>]) {
    dst.resize_with(like.len(), || DMatrix::zeros(0, 0));
    for (d, x) in dst.iter_mut().zip(like) {
        ensure(d, x.nrows(), x.ncols());
        d.fill(0.0);
    }
}

/// `avg <- beta avg + (1 - beta) g`, parameter by parameter (both visited
/// in the same order; `tmp` holds `g`'s values).
fn ema_update(avg: &mut Generator, g: &Generator, beta: f64, tmp: &mut Vec<f64>) {
    tmp.clear();
    g.visit_values(&mut |p| tmp.extend_from_slice(p));
    let mut at = 0;
    avg.visit(&mut |p, _| {
        let len = p.len();
        for (a, v) in p.iter_mut().zip(&tmp[at..at + len]) {
            *a = beta * *a + (1.0 - beta) * v;
        }
        at += len;
    });
}
