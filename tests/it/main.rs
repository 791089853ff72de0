//! The one integration-test binary (ripgrep style): one module per library
//! module, plus shared proptest strategies in `strategies`.

mod cli;
mod data;
mod gan;
mod metrics;
mod nn;
mod plots;
mod recipe;
mod strategies;
mod sweep;
mod target;
