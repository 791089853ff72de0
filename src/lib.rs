//! fsrgan: a harness that tests, by experiment, the claims of Allen-Zhu & Li,
//! *Forward Super-Resolution* (ICLR 2023).
//!
//! Data flows one way: [`target`] (ground truth) → [`gan`] (learner, built on
//! [`nn`]) → [`metrics`] (what was learned) → [`experiments`] (runs, sweeps,
//! claims) → [`plots`] (figures). [`config`] turns raw TOML into checked types
//! the library accepts; [`data`] loads real images into the same
//! multi-resolution layout as the target.

pub mod config;
pub mod data;
pub mod experiments;
pub mod gan;
pub mod metrics;
pub mod nn;
pub mod plots;
pub mod target;
