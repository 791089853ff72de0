//! One measured run (SPEC §3): target → SGDA trainer → per-level metrics at
//! every evaluation → learning order and summary. This is what `train`,
//! `demo`, `seeds` and every sweep cell execute.
//!
//! At each evaluation, for every level `l` (all against a held-out real set
//! drawn once per run):
//! - feature recovery of `V*_l` by the learner's `V_l` (Kuhn–Munkres);
//! - super-resolution error (`l >= 2`): the true `S_{l-1}` of the held-out
//!   samples, mapped into the learner's units through the level-`l-1`
//!   matching with the least-squares per-unit scale, pushed through the
//!   learner's level-`l` map; relative error against the true detail;
//! - MMD² of generated vs real (flat per-level vectors) with a permutation
//!   p-value, next to the same statistic between two real sets (the floor);
//! - hidden-distribution recovery (activation frequencies, co-activation).
//!
//! `t_l` is the first evaluation from which level `l` stays recovered
//! (`min cos >= theta` and, for `l >= 2`, SR error `<= eps_sr`). The final
//! evaluation uses larger MMD samples than the intermediate ones.

use nalgebra::DMatrix;
use rand::rngs::ChaCha8Rng;
use serde::Serialize;

use crate::config::Config;
use crate::gan::generator::Generator;
use crate::gan::trainer::{EvalPoint, RunStatus, StepLosses, TrainError, TrainResult, Trainer};
use crate::metrics::{self, DistanceConfig, FeatureRecovery, LevelMetrics, MetricsError, SUCCESS_SR};
use crate::target::{OutputMode, Target, TargetError, geometry::flat, rand_chacha};

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
}

/// What is measured at each evaluation and how much it costs.
#[derive(Debug, Clone, Serialize)]
pub struct EvalSpec {
    /// Recovery threshold for `t_l` (SPEC §3 default 0.9).
    pub theta: f64,
    /// SR error threshold for `t_l` (the success threshold, 0.1).
    pub eps_sr: f64,
    /// Held-out real samples (per level) for SR error and hidden recovery.
    pub heldout: usize,
    /// Samples per side of the intermediate MMD tests: 300 keeps one test
    /// at ~10 ms for the 256-dim top level (metrics bench), so evaluation
    /// stays a small share of a run.
    pub mmd_samples: usize,
    pub mmd_permutations: usize,
    /// Samples and permutations of the final MMD test (the verdict): 1000
    /// per side and 200 permutations give p-values resolved to 0.005.
    pub final_mmd_samples: usize,
    pub final_permutations: usize,
    /// Stop the run at the first evaluation where the run succeeds
    /// (sweeps measuring T*); the final evaluation is then that one.
    pub stop_on_success: bool,
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec {
            theta: metrics::DEFAULT_THETA,
            eps_sr: SUCCESS_SR,
            heldout: 1000,
            mmd_samples: 300,
            mmd_permutations: 100,
            final_mmd_samples: 1000,
            final_permutations: 200,
            stop_on_success: false,
        }
    }
}

/// One evaluation's numbers (a row of `metrics.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct EvalRow {
    pub iteration: usize,
    pub grad_evals: u64,
    pub levels: Vec<LevelMetrics>,
    /// Mean D and G losses since the previous evaluation, per level (NaN
    /// when that level has no discriminator).
    pub d_loss: Vec<f64>,
    pub g_loss: Vec<f64>,
    pub success: bool,
}

/// The run summary (`summary.json`, SPEC §8).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub status: RunStatus,
    pub iterations: usize,
    pub wall_seconds: f64,
    pub seed: u64,
    pub levels: Vec<LevelMetrics>,
    /// The success definition (metrics::summary) at the final evaluation.
    pub success: bool,
    /// First evaluation iteration at which the run succeeded, if any.
    pub iterations_to_success: Option<usize>,
    pub gradient_evaluations: u64,
    pub diverged_at: Option<usize>,
    /// t_1 <= t_2 <= ... over the levels that were learned (claim C4);
    /// null when fewer than two levels were learned.
    pub forward_order: Option<bool>,
    /// Seconds spent in evaluations (included in wall_seconds).
    pub eval_seconds: f64,
    /// Units redrawn by duplicate-unit restarts, per level
    /// (`training.restarts`; all 0 without them).
    #[serde(default)]
    pub restarts: Vec<usize>,
    /// Rows of W_l revived by dead-row restarts, per level
    /// (`training.restarts.dead`; all 0 without them).
    #[serde(default)]
    pub revived: Vec<usize>,
    /// Rows of W_l refitted by super-resolution map refits, per level
    /// (`training.refit`; all 0 without them).
    #[serde(default)]
    pub refitted: Vec<usize>,
}

/// Everything a run produced.
pub struct RunOutput {
    pub summary: Summary,
    pub trace: Vec<EvalRow>,
    pub generator: Generator,
    pub train: TrainResult,
}

/// Held-out real data and the fixed pieces of every evaluation.
struct Evaluator<'a> {
    target: &'a Target,
    spec: &'a EvalSpec,
    heldout: crate::target::Batch,
    /// Two independent real sets per level (flat, `n P_l x N`) for MMD.
    real_a: Vec<DMatrix<f64>>,
    real_b: Vec<DMatrix<f64>>,
    final_a: Vec<DMatrix<f64>>,
    final_b: Vec<DMatrix<f64>>,
    rng: ChaCha8Rng,
}

fn flats(t: &Target, n: usize, rng: &mut ChaCha8Rng) -> Vec<DMatrix<f64>> {
    let g = &t.spec.geometry;
    let b = t.sample(n, rng);
    (1..=g.levels)
        .map(|l| flat(&b.x[l - 1], g.patches(l)).into_owned())
        .collect()
}

impl<'a> Evaluator<'a> {
    fn new(target: &'a Target, spec: &'a EvalSpec, seed: u64) -> Self {
        // Evaluation randomness is its own stream, so measuring never
        // changes the training trajectory.
        let mut rng = rand_chacha(seed ^ 0xE7A1_5EED_0000_0001);
        let heldout = target.sample(spec.heldout, &mut rng);
        let real_a = flats(target, spec.mmd_samples, &mut rng);
        let real_b = flats(target, spec.mmd_samples, &mut rng);
        let final_a = flats(target, spec.final_mmd_samples, &mut rng);
        let final_b = flats(target, spec.final_mmd_samples, &mut rng);
        Evaluator {
            target,
            spec,
            heldout,
            real_a,
            real_b,
            final_a,
            final_b,
            rng,
        }
    }

    /// Every level's metrics for `generator`; `last` selects the large MMD sets.
    fn evaluate(&mut self, generator: &Generator, last: bool) -> Result<Vec<LevelMetrics>, MetricsError> {
        let t = self.target;
        let g = &t.spec.geometry;
        let fsr = generator.as_fsr().expect("run_target trains fsr generators");
        let (ra, rb, n, perms) = if last {
            (
                &self.final_a,
                &self.final_b,
                self.spec.final_mmd_samples,
                self.spec.final_permutations,
            )
        } else {
            (
                &self.real_a,
                &self.real_b,
                self.spec.mmd_samples,
                self.spec.mmd_permutations,
            )
        };
        let gen_batch = generator.sample(n, &mut self.rng);
        let dist_cfg = DistanceConfig {
            permutations: perms,
            ..DistanceConfig::default()
        };
        let mut out: Vec<LevelMetrics> = Vec::with_capacity(g.levels);
        let mut prev: Option<FeatureRecovery> = None;
        for l in 1..=g.levels {
            let v_true = &t.levels[l - 1].v;
            let v_learned = fsr.dictionary(l);
            let rec = metrics::feature_recovery(v_true, v_learned, self.spec.theta)?;
            let sr = match &prev {
                Some(p) if l >= 2 => {
                    let x = &self.heldout.x[l - 1];
                    let x_prev = &self.heldout.x[l - 2];
                    let detail = if t.spec.output == OutputMode::Pyramid {
                        t.detail_of(x, x_prev)
                    } else {
                        x.clone()
                    };
                    let v_prev_true = &t.levels[l - 2].v;
                    let v_prev_learned = fsr.dictionary(l - 1);
                    let scales = metrics::ls_scales(v_prev_true, v_prev_learned, &p.matching)?;
                    let m_prev = v_prev_learned.ncols();
                    let e = metrics::sr_error(
                        &self.heldout.s[l - 2],
                        &detail,
                        &p.matching,
                        &scales,
                        m_prev,
                        |s| {
                            let s_l = fsr.hidden_next(l, s, None);
                            fsr.dictionary(l) * s_l
                        },
                    )?;
                    Some(e)
                }
                _ => None,
            };
            let gen_flat = flat(&gen_batch.x[l - 1], g.patches(l)).into_owned();
            let dist = metrics::distance_report(&gen_flat, &ra[l - 1], &rb[l - 1], &dist_cfg, &mut self.rng)?;
            let hidden =
                metrics::hidden_recovery(&self.heldout.s[l - 1], &gen_batch.s[l - 1], &rec.matching)?;
            let dup = metrics::unit_max_cos(v_learned)?;
            out.push(
                LevelMetrics::new(l, &rec, sr, &dist)
                    .with_hidden(&hidden)
                    .with_unit_max_cos(dup),
            );
            prev = Some(rec);
        }
        Ok(out)
    }
}

/// The two real sets of a run's final MMD test (flat, `n P_l x N` per
/// level), drawn as [`run_target`] draws them for `seed`: to re-test a
/// saved generator against the very reference its verdict used.
pub fn final_real_sets(
    target: &Target,
    spec: &EvalSpec,
    seed: u64,
) -> (Vec<DMatrix<f64>>, Vec<DMatrix<f64>>) {
    let e = Evaluator::new(target, spec, seed);
    (e.final_a, e.final_b)
}

/// Trains the config's learner on `target` with `seed` and measures it.
pub fn run_target(
    cfg: &Config,
    target: &Target,
    seed: u64,
    eval: &EvalSpec,
    quiet: bool,
) -> Result<RunOutput, RunError> {
    let mut rng = rand_chacha(seed);
    let mut trainer = Trainer::for_target(&cfg.learner, &cfg.training, target, &mut rng)?;
    let mut evaluator = Evaluator::new(target, eval, seed);
    let levels = target.num_levels();
    let mut trace: Vec<EvalRow> = Vec::new();
    let mut failure: Option<MetricsError> = None;
    let mut eval_seconds = 0.0;
    let result = trainer.run(&mut rng, quiet, |p: &EvalPoint| {
        let start = std::time::Instant::now();
        let lv = match evaluator.evaluate(p.generator, false) {
            Ok(lv) => lv,
            Err(e) => {
                failure = Some(e);
                return true;
            }
        };
        let success = metrics::run_succeeds(&lv);
        let (d_loss, g_loss) = per_level_losses(p.losses, p.disc_levels, levels);
        trace.push(EvalRow {
            iteration: p.iteration,
            grad_evals: p.grad_evals,
            levels: lv,
            d_loss,
            g_loss,
            success,
        });
        eval_seconds += start.elapsed().as_secs_f64();
        eval.stop_on_success && success
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    let start = std::time::Instant::now();
    let generator = trainer.model().clone();
    let mut final_levels = if result.status == RunStatus::Completed {
        evaluator.evaluate(&generator, true)?
    } else {
        trace.last().map(|r| r.levels.clone()).unwrap_or_default()
    };
    eval_seconds += start.elapsed().as_secs_f64();
    // Learning order over the evaluation trace.
    let evals: Vec<usize> = trace.iter().map(|r| r.iteration).collect();
    let recovered: Vec<Vec<bool>> = trace
        .iter()
        .map(|r| {
            r.levels
                .iter()
                .map(|m| metrics::level_recovered(m.min_cos, m.sr_error, eval.theta, eval.eps_sr))
                .collect()
        })
        .collect();
    let times = if evals.is_empty() {
        vec![None; levels]
    } else {
        metrics::learning_times(&evals, &recovered)?
    };
    for (m, t) in final_levels.iter_mut().zip(&times) {
        m.t_learned = *t;
    }
    let learned = times.iter().filter(|t| t.is_some()).count();
    let summary = Summary {
        status: result.status,
        iterations: result.iterations,
        wall_seconds: result.wall_seconds + start.elapsed().as_secs_f64(),
        seed,
        success: result.status == RunStatus::Completed && metrics::run_succeeds(&final_levels),
        iterations_to_success: trace.iter().find(|r| r.success).map(|r| r.iteration),
        levels: final_levels,
        gradient_evaluations: result.grad_evals,
        diverged_at: result.diverged_at,
        forward_order: (learned >= 2).then(|| metrics::is_forward_order(&times)),
        eval_seconds,
        restarts: trainer.restarted().to_vec(),
        revived: trainer.revived().to_vec(),
        refitted: trainer.refitted().to_vec(),
    };
    Ok(RunOutput {
        summary,
        trace,
        generator,
        train: result,
    })
}

/// Mean D / G loss per level from the per-discriminator losses.
fn per_level_losses(losses: &StepLosses, disc_levels: &[usize], levels: usize) -> (Vec<f64>, Vec<f64>) {
    let mut d = vec![f64::NAN; levels];
    let mut g = vec![f64::NAN; levels];
    for (i, &l) in disc_levels.iter().enumerate() {
        if l >= 1 && l <= levels {
            d[l - 1] = losses.d.get(i).copied().unwrap_or(f64::NAN);
            g[l - 1] = losses.g.get(i).copied().unwrap_or(f64::NAN);
        }
    }
    (d, g)
}

/// `metrics.csv`: one row per evaluation, one column per metric and level.
/// Deterministic for a seed (no wall-clock columns).
pub fn metrics_csv(trace: &[EvalRow]) -> String {
    let levels = trace.first().map(|r| r.levels.len()).unwrap_or(0);
    let per = [
        "min_cos",
        "mean_cos",
        "recovered_fraction",
        "sr_error",
        "mmd2",
        "mmd2_floor",
        "p_value",
        "sliced_w1",
        "sliced_w1_floor",
        "freq_max_error",
        "coact_max_error",
        "unit_max_cos",
        "d_loss",
        "g_loss",
    ];
    let mut head = vec![
        "iteration".to_string(),
        "grad_evals".to_string(),
        "success".to_string(),
    ];
    for l in 1..=levels {
        head.extend(per.iter().map(|k| format!("l{l}_{k}")));
    }
    let mut s = head.join(",");
    s.push('\n');
    let fmt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    for r in trace {
        let mut row = vec![
            r.iteration.to_string(),
            r.grad_evals.to_string(),
            (r.success as u8).to_string(),
        ];
        for (i, m) in r.levels.iter().enumerate() {
            row.extend([
                fmt(Some(m.min_cos)),
                fmt(Some(m.mean_cos)),
                fmt(Some(m.recovered_fraction)),
                fmt(m.sr_error),
                fmt(Some(m.mmd2)),
                fmt(Some(m.mmd2_floor)),
                fmt(Some(m.p_value)),
                fmt(Some(m.sliced_w1)),
                fmt(Some(m.sliced_w1_floor)),
                fmt(m.freq_max_error),
                fmt(m.coact_max_error),
                fmt(m.unit_max_cos),
                fmt(Some(r.d_loss[i])),
                fmt(Some(r.g_loss[i])),
            ]);
        }
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

/// A seeded split of `N` samples into a training part and two equal
/// held-out halves (`a`: generated vs real; `a` vs `b`: the floor): 20%
/// held out, at least 10 and at most 2000 samples.
pub struct HeldoutSplit {
    pub train: Vec<usize>,
    pub a: Vec<usize>,
    pub b: Vec<usize>,
}

impl HeldoutSplit {
    pub fn new(n: usize, rng: &mut ChaCha8Rng) -> Result<HeldoutSplit, RunError> {
        use rand::seq::SliceRandom;
        if n < 20 {
            return Err(RunError::Metrics(MetricsError::TooFew {
                what: "samples (need 20 for a train / held-out split)",
                got: n,
                min: 20,
            }));
        }
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(rng);
        let half = (n / 5).clamp(10, 2000) / 2;
        Ok(HeldoutSplit {
            a: idx[..half].to_vec(),
            b: idx[half..2 * half].to_vec(),
            train: idx[2 * half..].to_vec(),
        })
    }

    /// Held-out samples in both halves.
    pub fn heldout(&self) -> usize {
        self.a.len() + self.b.len()
    }
}

/// Summary of a flat-data run (`train --data`): distances of generated vs
/// held-out data next to the held-out halves' own distance (the floor).
#[derive(Debug, Clone, Serialize)]
pub struct FlatSummary {
    pub status: RunStatus,
    pub iterations: usize,
    pub wall_seconds: f64,
    pub seed: u64,
    pub train_samples: usize,
    pub heldout_samples: usize,
    pub distance: metrics::DistanceReport,
    pub gradient_evaluations: u64,
    pub diverged_at: Option<usize>,
}

/// What a flat-data run produced.
pub struct FlatOutput {
    pub summary: FlatSummary,
    pub metrics_csv: String,
    pub generator: Generator,
}

/// Trains an `mlp` / `linear` learner on flat data `x` (`d x N`): a seeded
/// 80/20 split, evaluation by MMD against the held-out part.
pub fn run_flat(cfg: &Config, x: DMatrix<f64>, seed: u64, quiet: bool) -> Result<FlatOutput, RunError> {
    let n = x.ncols();
    let mut rng = rand_chacha(seed);
    let split = HeldoutSplit::new(n, &mut rng)?;
    let pick = |ids: &[usize]| DMatrix::from_fn(x.nrows(), ids.len(), |r, c| x[(r, ids[c])]);
    let n_hold = split.heldout();
    let hold_a = pick(&split.a);
    let hold_b = pick(&split.b);
    let train = pick(&split.train);
    let train_n = train.ncols();
    let mut trainer = Trainer::for_data(&cfg.learner, &cfg.training, train, &mut rng)?;
    let mut eval_rng = rand_chacha(seed ^ 0xE7A1_5EED_0000_0002);
    let dist_cfg = DistanceConfig {
        permutations: 100,
        ..DistanceConfig::default()
    };
    let mut csv = String::from("iteration,grad_evals,mmd2,mmd2_floor,p_value,sliced_w1,d_loss,g_loss\n");
    let mut failure = None;
    let result = trainer.run(&mut rng, quiet, |p: &EvalPoint| {
        let fake = p.generator.sample(hold_a.ncols(), &mut eval_rng).x.swap_remove(0);
        match metrics::distance_report(&fake, &hold_a, &hold_b, &dist_cfg, &mut eval_rng) {
            Ok(d) => {
                csv.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    p.iteration,
                    p.grad_evals,
                    d.mmd2,
                    d.mmd2_floor,
                    d.p_value,
                    d.sliced_w1,
                    p.losses.d.first().copied().unwrap_or(f64::NAN),
                    p.losses.g.first().copied().unwrap_or(f64::NAN)
                ));
                false
            }
            Err(e) => {
                failure = Some(e);
                true
            }
        }
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    let generator = trainer.model().clone();
    let fake = generator.sample(hold_a.ncols(), &mut eval_rng).x.swap_remove(0);
    let final_cfg = DistanceConfig::default();
    let distance = metrics::distance_report(&fake, &hold_a, &hold_b, &final_cfg, &mut eval_rng)?;
    Ok(FlatOutput {
        summary: FlatSummary {
            status: result.status,
            iterations: result.iterations,
            wall_seconds: result.wall_seconds,
            seed,
            train_samples: train_n,
            heldout_samples: n_hold,
            distance,
            gradient_evaluations: result.grad_evals,
            diverged_at: result.diverged_at,
        },
        metrics_csv: csv,
        generator,
    })
}
