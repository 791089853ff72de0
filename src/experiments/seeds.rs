//! A config over several seeds (issue 5, claims C1 and C4): runs in
//! parallel (one training per core, rayon), then the success rate,
//! per-level medians and the share of runs that learned the levels in
//! forward order. Results do not depend on the number of jobs: each run is
//! a pure function of its seed.

use rayon::prelude::*;
use serde::Serialize;

use crate::config::Config;
use crate::target::Target;

use super::fits::median;
use super::run::{EvalSpec, RunError, RunOutput, Summary, run_target};

/// Aggregates over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct SeedsReport {
    pub summaries: Vec<Summary>,
    pub successes: usize,
    pub runs: usize,
    /// Per level: median min cosine, median SR error, median t_l over runs
    /// that learned the level (None if none did), runs that learned it.
    pub median_min_cos: Vec<f64>,
    pub median_sr_error: Vec<Option<f64>>,
    pub median_t_learned: Vec<Option<f64>>,
    pub learned: Vec<usize>,
    /// Successful runs whose t_1 <= t_2 <= ... <= t_L (claim C4).
    pub forward_among_successes: usize,
    /// Runs with at least two levels learned, and how many were forward.
    pub with_order: usize,
    pub forward_among_ordered: usize,
}

impl SeedsReport {
    pub fn from_summaries(summaries: Vec<Summary>) -> SeedsReport {
        let levels = summaries.first().map(|s| s.levels.len()).unwrap_or(0);
        let col = |f: &dyn Fn(&Summary, usize) -> Option<f64>, l: usize| -> Vec<f64> {
            summaries.iter().filter_map(|s| f(s, l)).collect()
        };
        let successes = summaries.iter().filter(|s| s.success).count();
        let forward_among_successes = summaries
            .iter()
            .filter(|s| s.success && s.forward_order == Some(true))
            .count();
        let with_order = summaries.iter().filter(|s| s.forward_order.is_some()).count();
        let forward_among_ordered = summaries.iter().filter(|s| s.forward_order == Some(true)).count();
        SeedsReport {
            runs: summaries.len(),
            successes,
            median_min_cos: (0..levels)
                .map(|l| median(&col(&|s, l| Some(s.levels[l].min_cos), l)).unwrap_or(f64::NAN))
                .collect(),
            median_sr_error: (0..levels)
                .map(|l| median(&col(&|s, l| s.levels[l].sr_error, l)))
                .collect(),
            median_t_learned: (0..levels)
                .map(|l| median(&col(&|s, l| s.levels[l].t_learned.map(|t| t as f64), l)))
                .collect(),
            learned: (0..levels)
                .map(|l| {
                    summaries
                        .iter()
                        .filter(|s| s.levels[l].t_learned.is_some())
                        .count()
                })
                .collect(),
            forward_among_successes,
            with_order,
            forward_among_ordered,
            summaries,
        }
    }

    /// The human-readable report printed by `fsrgan seeds`.
    pub fn text(&self) -> String {
        let mut s = format!(
            "success: {}/{} runs (every level: all features at cos >= 0.95, SR error <= 0.1, MMD test not rejected at 5%)\n",
            self.successes, self.runs
        );
        s.push_str("level  learned(t_l)  median min cos  median SR error  median t_l\n");
        for l in 0..self.median_min_cos.len() {
            s.push_str(&format!(
                "{:>5}  {:>6}/{:<5}  {:>14.3}  {:>15}  {:>10}\n",
                l + 1,
                self.learned[l],
                self.runs,
                self.median_min_cos[l],
                self.median_sr_error[l]
                    .map(|e| format!("{e:.3}"))
                    .unwrap_or_else(|| "-".into()),
                self.median_t_learned[l]
                    .map(|t| format!("{t:.0}"))
                    .unwrap_or_else(|| "-".into()),
            ));
        }
        s.push_str(&format!(
            "learning order (C4): forward in {}/{} successful runs; in {}/{} runs that learned >= 2 levels",
            self.forward_among_successes, self.successes, self.forward_among_ordered, self.with_order
        ));
        s
    }
}

/// Runs `cfg` on `target` for every seed with `jobs` parallel trainings;
/// returns the aggregate and every run (in seed order) for callers that
/// keep the run folders.
pub fn run_seeds(
    cfg: &Config,
    target: &Target,
    seeds: &[u64],
    jobs: usize,
) -> Result<(SeedsReport, Vec<RunOutput>), RunError> {
    let eval = EvalSpec::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .expect("a rayon pool of positive size");
    let runs: Vec<Result<RunOutput, RunError>> = pool.install(|| {
        seeds
            .par_iter()
            .map(|&seed| run_target(cfg, target, seed, &eval, true))
            .collect()
    });
    let runs = runs.into_iter().collect::<Result<Vec<_>, _>>()?;
    let report = SeedsReport::from_summaries(runs.iter().map(|r| r.summary.clone()).collect());
    Ok((report, runs))
}
