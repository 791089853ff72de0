//! What the final MMD test sees at level 1 (issue 5, eighth session,
//! docs/recipe.md). For a trained `fsr` checkpoint, the run's level-1 MMD
//! test (1000 samples per side, 200 permutations) is repeated on fresh
//! generated draws against the run's own final reference set, for the
//! learner as trained and with parts of its level 1 replaced by the truth
//! written in the learner's gauge (learned atom j matched to true feature i
//! renders `alpha_i` times the true unit, `alpha` the least-squares scales):
//!
//! - `true atoms`: V_1 replaced;
//! - `true map`: W_1 and b_1 replaced (the latent is isotropic, so the true
//!   rows need no rotation);
//! - `true norms and thresholds`: each learned row of W_1 kept in direction,
//!   its norm and threshold set to the true unit's;
//! - `truth`: all of level 1 replaced (the test's false-rejection rate
//!   against this reference);
//!
//! and the target itself. It also prints each unit's threshold-to-norm ratio
//! b/|w| (the unit is on with probability Phi(-b/|w|)), learned and true.
//!
//! ```text
//! cargo run --release --example level1_probe -- RUN_DIR [--draws 100] [--set section.field=value ...]
//! ```
//!
//! `RUN_DIR` is a `fsrgan train` / `demo` folder (its `generator.json` and
//! `summary.json`, for the seed); the target is rebuilt from the built-in
//! defaults plus the `--set` overrides the run was trained with.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use fsrgan::config;
use fsrgan::experiments::run::{EvalSpec, final_real_sets};
use fsrgan::gan::{FsrGenerator, Generator};
use fsrgan::metrics::features::{cosine_matrix, match_features};
use fsrgan::metrics::{DistanceConfig, distance_report, ls_scales};
use fsrgan::target::{Target, rand_chacha};
use nalgebra::DMatrix;
use rand::rngs::ChaCha8Rng;

#[path = "common/cli.rs"]
mod cli;

fn main() -> ExitCode {
    cli::exit(run())
}

fn run() -> Result<()> {
    let args = cli::parse(
        "level1_probe RUN_DIR [--draws N] [--set section.field=value ...]",
        &["--draws"],
    )?;
    let mut draws = 100usize;
    for (_, v) in &args.options {
        draws = v
            .parse()
            .ok()
            .filter(|&d| d >= 1)
            .with_context(|| format!("--draws {v:?}: expected an integer >= 1"))?;
    }
    let (dir, sets) = (&args.dir, &args.sets);
    let cfg = config::load(None, sets)?;
    let target = Target::new(&cfg.target)?;
    let dir = Path::new(dir);
    let Generator::Fsr(g) = Generator::load(&dir.join("generator.json"))? else {
        bail!("{}: not an fsr generator", dir.display());
    };
    let summary = dir.join("summary.json");
    let text = std::fs::read_to_string(&summary).with_context(|| format!("{}", summary.display()))?;
    let seed = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["seed"].as_u64())
        .with_context(|| format!("{}: no integer \"seed\"", summary.display()))?;
    let spec = EvalSpec::default();
    let (mut ra, mut rb) = final_real_sets(&target, &spec, seed);
    let (ra, rb) = (ra.swap_remove(0), rb.swap_remove(0));
    let n = spec.final_mmd_samples;
    let dist = DistanceConfig {
        permutations: spec.final_permutations,
        ..DistanceConfig::default()
    };

    // The truth in the learner's gauge.
    let (vt, wt, bt) = (&target.levels[0].v, &target.levels[0].w, &target.levels[0].b);
    let lv = &g.levels[0];
    let matching = match_features(&cosine_matrix(vt, &lv.v)?)?;
    let alpha = ls_scales(vt, &lv.v, &matching)?;
    let (mut v_true, mut w_true, mut b_true, mut w_dirs) =
        (lv.v.clone(), lv.w.clone(), lv.b.clone(), lv.w.clone());
    println!("unit <- true: learned b/|w| | true b/|w|");
    for &(i, j) in &matching.pairs {
        v_true.set_column(j, &(vt.column(i) / alpha[i]));
        w_true.set_row(j, &(wt.row(i) * alpha[i]));
        b_true[j] = bt[i] * alpha[i];
        let norm = alpha[i] * wt.row(i).norm();
        w_dirs.set_row(j, &(lv.w.row(j) * (norm / lv.w.row(j).norm())));
        println!(
            "{j:4} <- {i:2}: {:.3} | {:.3}",
            lv.b[j] / lv.w.row(j).norm(),
            bt[i] / wt.row(i).norm()
        );
    }
    let with = |v: Option<&DMatrix<f64>>, w: Option<&DMatrix<f64>>, b: bool| {
        let mut h = g.clone();
        let l = &mut h.levels[0];
        if let Some(v) = v {
            l.v = v.clone();
        }
        if let Some(w) = w {
            l.w = w.clone();
        }
        if b {
            l.b = b_true.clone();
        }
        h
    };
    let mut rng = rand_chacha(seed ^ 0x1E7E_1000);
    println!(
        "level-1 MMD test, {draws} fresh generated draws of {n} against the run's final reference set (seed {seed}):"
    );
    let mut report = |name: &str, draw: &mut dyn FnMut(&mut ChaCha8Rng) -> DMatrix<f64>| -> Result<()> {
        let mut p = Vec::with_capacity(draws);
        for _ in 0..draws {
            let x = draw(&mut rng);
            p.push(distance_report(&x, &ra, &rb, &dist, &mut rng)?.p_value);
        }
        let rejected = p.iter().filter(|&&v| v < 0.05).count();
        p.sort_by(f64::total_cmp);
        println!(
            "  {name:34} rejected {rejected:3}/{draws} at 5%, median p {:.3}",
            p[draws / 2]
        );
        Ok(())
    };
    let level1 = |h: &FsrGenerator, rng: &mut ChaCha8Rng| h.sample(n, rng).x.swap_remove(0);
    report("as trained", &mut |r| level1(&g, r))?;
    let h = with(Some(&v_true), None, false);
    report("true atoms", &mut |r| level1(&h, r))?;
    let h = with(None, Some(&w_true), true);
    report("true map", &mut |r| level1(&h, r))?;
    let h = with(None, Some(&w_dirs), true);
    report("true norms and thresholds", &mut |r| level1(&h, r))?;
    let h = with(Some(&v_true), Some(&w_true), true);
    report("truth (in the learner's gauge)", &mut |r| level1(&h, r))?;
    report("the target itself", &mut |r| target.sample(n, r).x.swap_remove(0))?;
    Ok(())
}
