//! Per-iteration cost of one SGDA step against the size parameters (issue 6,
//! SPEC §3 "Time complexity": the per-step factor of T*; §7 "speed is
//! measured in benchmarks"). Criterion groups: width m, patch dimension n,
//! batch size and levels L, each varied alone from a small base (L = 2,
//! 4x4 patches, m = 8, batch 64, direct output so any width can be drawn).
//! Seeded; trainers are built and warmed outside the timed closure.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fsrgan::config::parse_raw;
use fsrgan::gan::Trainer;
use fsrgan::target::{Target, rand_chacha};

/// The base every group varies one field of.
const BASE: [&str; 8] = [
    "target.levels=2",
    "target.output=\"direct\"",
    "target.max_coherence=0.9",
    "target.widths=8",
    "target.latent_dim=8",
    "target.active=2",
    "target.calibration_patches=2000",
    "training.batch=64",
];

fn trainer(extra: &[String]) -> (Trainer, rand::rngs::ChaCha8Rng) {
    let mut sets: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
    sets.extend(extra.iter().cloned());
    let cfg = parse_raw("", "bench", &sets)
        .expect("bench config parses")
        .check()
        .expect("bench config valid");
    let target = Target::new(&cfg.target).expect("bench target builds");
    let mut rng = rand_chacha(1);
    let mut tr = Trainer::for_target(&cfg.learner, &cfg.training, &target, &mut rng).expect("trainer");
    for _ in 0..10 {
        tr.step(&mut rng); // warm the buffers
    }
    (tr, rng)
}

fn group(c: &mut Criterion, name: &str, cases: Vec<(String, Vec<String>)>) {
    let mut g = c.benchmark_group(format!("step_scaling/{name}"));
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(3));
    g.warm_up_time(std::time::Duration::from_millis(500));
    for (label, sets) in cases {
        let (mut tr, mut rng) = trainer(&sets);
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| black_box(tr.step(&mut rng).d[0]))
        });
    }
    g.finish();
}

fn step_scaling(c: &mut Criterion) {
    group(
        c,
        "width",
        [4usize, 8, 16, 32]
            .iter()
            .map(|&m| {
                (
                    format!("m{m}_L2_n16_b64"),
                    vec![
                        format!("target.widths={m}"),
                        format!("target.latent_dim={m}"),
                        format!("target.active={}", (m / 4).max(1)),
                    ],
                )
            })
            .collect(),
    );
    group(
        c,
        "patch_dim",
        [2usize, 4, 8]
            .iter()
            .map(|&s| {
                (
                    format!("n{}_L2_m8_b64", s * s),
                    vec![format!("target.patch_side={s}")],
                )
            })
            .collect(),
    );
    group(
        c,
        "batch",
        [16usize, 64, 256]
            .iter()
            .map(|&b| (format!("b{b}_L2_n16_m8"), vec![format!("training.batch={b}")]))
            .collect(),
    );
    group(
        c,
        "levels",
        [1usize, 2, 3, 4]
            .iter()
            .map(|&l| (format!("L{l}_n16_m8_b64"), vec![format!("target.levels={l}")]))
            .collect(),
    );
}

fn config() -> Criterion {
    Criterion::default().without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = step_scaling
}
criterion_main!(benches);
