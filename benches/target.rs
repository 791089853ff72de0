//! Target sampling throughput (SPEC §1): samples per second for the default
//! config and for a large one (L = 4, 8x8 patches, 256x256 pixels at the
//! top). Seeded inputs, construction outside the timed closure.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fsrgan::config::parse_raw;
use fsrgan::target::{Target, rand_chacha};

fn target_from(sets: &[&str]) -> Target {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let cfg = parse_raw("", "bench", &sets).unwrap().check().unwrap();
    Target::new(&cfg.target).unwrap()
}

fn bench_sampling(c: &mut Criterion) {
    let mut group = c.benchmark_group("target");
    let cases = [
        ("default_L3_16x16px", target_from(&[]), 256usize),
        (
            // 16 root patches (a 4x4 grid) of 8x8 pixels, fan-out 4, L = 4:
            // a 32x32 patch grid at the top, 256x256 pixels; m = 48 fills the
            // 48-dim detail subspace of 8x8 patches.
            "large_L4_256x256px_m48",
            target_from(&[
                "target.levels=4",
                "target.root_patches=16",
                "target.patch_side=8",
                "target.widths=48",
                "target.latent_dim=64",
                "target.active=4",
                "target.calibration_patches=4000",
            ]),
            8usize,
        ),
    ];
    for (name, t, batch) in &cases {
        group.throughput(Throughput::Elements(*batch as u64));
        group.bench_with_input(
            BenchmarkId::new("sample", format!("{name}_batch{batch}")),
            batch,
            |b, &batch| {
                let mut rng = rand_chacha(7);
                b.iter(|| black_box(t.sample(batch, &mut rng)));
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No plots: criterion's plotters would need system fonts (NOTES.md).
    config = Criterion::default().without_plots();
    targets = bench_sampling
}
criterion_main!(benches);
