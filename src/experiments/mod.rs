//! Experiments (SPEC §3, §4): a measured run ([`run`]), runs over seeds
//! ([`seeds`]), the figures of a run ([`figures`]); sweeps, complexity fits
//! and the claims build on them. Data flows in from `target`, `gan` and
//! `metrics`, and out to `plots` and the CLI.

pub mod figures;
pub mod fits;
pub mod real;
pub mod report;
pub mod run;
pub mod seeds;
pub mod sweep;

pub use run::{
    EvalRow, EvalSpec, FlatOutput, FlatSummary, RunError, RunOutput, Summary, metrics_csv, run_flat,
    run_target,
};
