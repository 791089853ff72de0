//! The complexity sweep as a benchmark (issue 6, SPEC §3 "Scaling fits"):
//! runs `configs/sweeps/quick.toml` into a temporary folder (2 jobs), builds
//! the claims report there, and prints the wall time, each claim's verdict
//! and the fitted exponents (N* and T* against each size axis). A plain
//! `harness = false` binary: `cargo bench --bench complexity`.

use std::path::Path;
use std::time::Instant;

use fsrgan::experiments::report;
use fsrgan::experiments::sweep::{Shard, Sweep, SweepOptions, run_sweep};

fn main() {
    // `cargo bench` passes flags such as `--bench`; a filter that does not
    // match "complexity" skips the run (as criterion benches do).
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filter.is_empty() && !filter.iter().any(|f| "complexity".contains(f.as_str())) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sweep_path = root.join("configs/sweeps/quick.toml");
    let sweep = match Sweep::load(&sweep_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("complexity bench: {e}");
            std::process::exit(2);
        }
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("complexity bench: cannot make a temporary folder: {e}");
            std::process::exit(2);
        }
    };
    let out = dir.path().join("quick.jsonl");
    let start = Instant::now();
    let opts = SweepOptions {
        jobs: 2,
        shard: Shard::default(),
        resume: false,
        quiet: true,
    };
    let o = match run_sweep(&sweep, &out, &opts) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("complexity bench: {e}");
            std::process::exit(2);
        }
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "complexity/quick_sweep: {} cells ({} trainings) in {secs:.1} s with 2 jobs: {} successes, {} diverged, {} errors",
        o.written, o.trainings, o.successes, o.diverged, o.errors
    );
    match report::report(&[out], &dir.path().join("report")) {
        Ok(r) => {
            for row in &r.rows {
                println!("{:<16} {:<13} {}", row.id, row.verdict.to_string(), row.numbers);
            }
        }
        Err(e) => {
            eprintln!("complexity bench: report: {e}");
            std::process::exit(2);
        }
    }
}
