//! Shared proptest strategies and the project's proptest configuration:
//! every property runs from a fixed seed (so CI is repeatable and a failure
//! replays), `FSRGAN_PROPTEST_SEED=<n>` picks another seed to explore.

use fsrgan::config::{OneOrMany, RawTarget};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// The fixed seed of every property test unless overridden.
pub const PROPTEST_SEED: u64 = 20_230_201;

/// Proptest config with `cases` cases from the fixed seed.
pub fn config(cases: u32) -> Config {
    let seed = std::env::var("FSRGAN_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(PROPTEST_SEED);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// A seed for a ChaCha stream.
pub fn seed() -> impl Strategy<Value = u64> {
    any::<u64>()
}

/// Small valid `[target]` sections: 1 to 3 levels, pyramid or direct, fan-out
/// 1/2/4 where the mode allows, 1 or 3 channels, widths within the space
/// their atoms live in (so dictionaries are orthonormal), 1 <= k < m.
pub fn valid_target() -> impl Strategy<Value = RawTarget> {
    (
        1usize..=3,
        prop_oneof![Just("pyramid"), Just("direct")],
        prop_oneof![Just(1usize), Just(2), Just(4)],
        prop_oneof![Just(2usize), Just(4)],
        prop_oneof![3 => Just(1usize), 1 => Just(3)],
        prop_oneof![Just(1usize), Just(4)],
        seed(),
    )
        .prop_flat_map(|(levels, output, fanout, side, channels, root, seed)| {
            let fanout = if output == "pyramid" && fanout == 1 {
                4
            } else {
                fanout
            };
            let root = if fanout != 4 && root == 4 { 2 } else { root };
            let n = side * side * channels;
            let (fy, fx) = match fanout {
                4 => (2, 2),
                2 => (1, 2),
                _ => (1, 1),
            };
            let detail = n - n / (fy * fx);
            let cap_hi = if output == "pyramid" && levels >= 2 {
                detail
            } else {
                n
            };
            let cap_lo = n.min(12);
            let widths = prop::collection::vec(2usize..=cap_hi.clamp(2, 12), levels);
            (
                Just((levels, output, fanout, side, channels, root, seed, cap_lo)),
                widths,
            )
        })
        .prop_flat_map(
            |((levels, output, fanout, side, channels, root, seed, cap_lo), widths)| {
                let mut widths = widths;
                widths[0] = widths[0].min(cap_lo).max(2);
                let ks: Vec<_> = widths.iter().map(|&m| 1usize..m.clamp(2, 5)).collect();
                (
                    Just((levels, output, fanout, side, channels, root, seed, widths)),
                    ks,
                    4usize..=16,
                )
            },
        )
        .prop_map(
            |((levels, output, fanout, side, channels, root, seed, widths), ks, latent)| RawTarget {
                levels: levels as i64,
                root_patches: root as i64,
                fanout: fanout as i64,
                patch_side: side as i64,
                channels: channels as i64,
                widths: OneOrMany::Many(widths.iter().map(|&w| w as i64).collect()),
                latent_dim: latent as i64,
                active: OneOrMany::Many(ks.iter().map(|&k| k as i64).collect()),
                output: output.to_string(),
                max_coherence: 0.3,
                noise_sigma: 0.0,
                lambda: 0.0,
                calibration_patches: 4000,
                seed: (seed >> 1) as i64,
            },
        )
}
