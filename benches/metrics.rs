//! Benchmarks of the measurement instruments (`fsrgan::metrics`), group
//! "metrics": the MMD permutation test (200 permutations) at N = 1000 and
//! 2000 samples per side for the per-level flat dimensions of the default
//! config (16·P_l = 16, 64, 256), the Kuhn–Munkres feature matching at
//! m = 64 and 256, and sliced W1.
//!
//! Inputs are seeded and built outside the timed closures; sizes are in the
//! benchmark names. Plots are disabled (`without_plots`): criterion's
//! plotters backend needs a font this machine may not have (NOTES.md).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use fsrgan::metrics::{DEFAULT_THETA, cosine_matrix, feature_recovery, match_features, mmd_test, sliced_w1};
use nalgebra::DMatrix;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn gaussian(d: usize, n: usize, shift: f64, rng: &mut impl Rng) -> DMatrix<f64> {
    use rand::RngExt;
    DMatrix::from_fn(d, n, |i, _| {
        rng.sample::<f64, _>(StandardNormal) + if i == 0 { shift } else { 0.0 }
    })
}

fn bench_metrics(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    for d in [16usize, 64, 256] {
        for n in [1000usize, 2000] {
            let mut r = ChaCha8Rng::seed_from_u64(d as u64 * 10_000 + n as u64);
            let x = gaussian(d, n, 0.0, &mut r);
            let y = gaussian(d, n, 0.1, &mut r);
            g.bench_function(format!("mmd_test_200perm/d{d}_n{n}"), |b| {
                b.iter(|| {
                    let mut rng = ChaCha8Rng::seed_from_u64(1);
                    black_box(mmd_test(black_box(&x), black_box(&y), 200, &mut rng).unwrap())
                })
            });
        }
    }

    for (d, n) in [(64usize, 1000usize), (256, 2000)] {
        let mut r = ChaCha8Rng::seed_from_u64(7 + d as u64);
        let x = gaussian(d, n, 0.0, &mut r);
        let y = gaussian(d, n, 0.1, &mut r);
        g.bench_function(format!("sliced_w1_64proj/d{d}_n{n}"), |b| {
            b.iter(|| {
                let mut rng = ChaCha8Rng::seed_from_u64(2);
                black_box(sliced_w1(black_box(&x), black_box(&y), 64, &mut rng).unwrap())
            })
        });
    }

    for m in [64usize, 256] {
        // A learner near the truth: permuted columns plus noise (n = m).
        let mut r = ChaCha8Rng::seed_from_u64(m as u64);
        let v = gaussian(m, m, 0.0, &mut r);
        let noise = gaussian(m, m, 0.0, &mut r) * 0.3;
        let learned = DMatrix::from_fn(m, m, |a, k| v[(a, (k * 7 + 3) % m)] + noise[(a, k)]);
        let cos = cosine_matrix(&v, &learned).unwrap();
        g.bench_function(format!("match_features/m{m}"), |b| {
            b.iter(|| black_box(match_features(black_box(&cos)).unwrap()))
        });
        g.bench_function(format!("feature_recovery/n{m}_m{m}"), |b| {
            b.iter(|| black_box(feature_recovery(black_box(&v), black_box(&learned), DEFAULT_THETA).unwrap()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_metrics
}
criterion_main!(benches);
