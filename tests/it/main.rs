//! The one integration-test binary (ripgrep style): one module per library
//! module, plus shared proptest strategies in `strategies`.

mod cli;
mod metrics;
mod nn;
mod gan;
mod plots;
mod strategies;
mod target;
