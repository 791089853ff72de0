//! SGDA benchmarks (issue 3, SPEC §7 "speed is measured in benchmarks"): one
//! SGDA iteration (D step + G step, Adam, logistic + R1) on the default FSR
//! geometry and on a large one, the shipped recipe's iteration with its
//! discriminator batch in one pass and in two parallel chunks, and a whole
//! short default training run.
//! Peer numbers (PyTorch eager, f64): NOTES.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fsrgan::config::parse_raw;
use fsrgan::gan::Trainer;
use fsrgan::target::{Target, rand_chacha};

#[path = "common/sizes.rs"]
mod sizes;

fn trainer(sets: &[&str]) -> (Trainer, rand::rngs::ChaCha8Rng) {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let cfg = parse_raw("", "bench", &sets)
        .expect("bench config parses")
        .check()
        .expect("bench config valid");
    let target = Target::new(&cfg.target).expect("bench target builds");
    let mut rng = rand_chacha(1);
    let tr = Trainer::for_target(&cfg.learner, &cfg.training, &target, &mut rng).expect("trainer");
    (tr, rng)
}

fn sgda(c: &mut Criterion) {
    let mut group = c.benchmark_group("sgda");
    // Default target: L = 3, 4x4 patches (n = 16), 1 + 4 + 16 patches, m = 12,
    // batch 64; D hidden and batch pinned to 128 and 64 (the recipe now uses
    // 256 and 128) so the figure stays comparable across recipe changes.
    let (mut tr, mut rng) = trainer(&["learner.d_hidden=128", "training.batch=64"]);
    for _ in 0..20 {
        tr.step(&mut rng); // warm the buffers
    }
    group.bench_function("iteration/default_L3_n16_m12_dh128_b64", |b| {
        b.iter(|| black_box(tr.step(&mut rng).d[0]))
    });
    // The shipped recipe (D hidden 256, batch 128) with the discriminators'
    // batch in one pass and in two chunks of samples (`training.d_chunks`;
    // the discriminators of a step run in parallel either way), side by
    // side: the ratio is what a second core buys one run.
    for chunks in [1, 2] {
        let set = format!("training.d_chunks={chunks}");
        let (mut tr, mut rng) = trainer(&[set.as_str()]);
        for _ in 0..20 {
            tr.step(&mut rng);
        }
        group.bench_function(
            format!("iteration/recipe_L3_n16_m12_dh256_b128_chunks{chunks}"),
            |b| b.iter(|| black_box(tr.step(&mut rng).d[0])),
        );
    }
    // Large: widths 256, patch side 8 (n = 64), D hidden 512, batch 256.
    let (mut tr, mut rng) = trainer(sizes::LARGE);
    for _ in 0..3 {
        tr.step(&mut rng);
    }
    group.sample_size(10);
    group.bench_function("iteration/large_L3_n64_m256_dh512_b256", |b| {
        b.iter(|| black_box(tr.step(&mut rng).d[0]))
    });
    // A whole default training run of 2000 iterations (construction outside).
    group.bench_function("run/default_2000_iterations", |b| {
        b.iter_batched(
            || trainer(&["training.iterations=2000"]),
            |(mut tr, mut rng)| black_box(tr.run(&mut rng, true, |_| false).iterations),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = sgda
}
criterion_main!(benches);
