//! The per-unit table behind the fourth session's diagnosis (issue 5,
//! docs/recipe.md): for a trained `fsr` checkpoint, each true feature of
//! each level with its matched learned unit, the unit's best and
//! second-best true features (a mixture shows two large cosines), how
//! often the true and the learned unit are active (over 2000 samples of
//! each), the learned atom's norm and the largest |cosine| with another
//! learned unit (a duplicate shows a large one). At levels >= 2 it also
//! splits the super-resolution error (SPEC §3) into the part due to the
//! learner's hidden map (its level-l activations on the true S_{l-1},
//! rendered with the true atoms) and the part due to its atoms, and lists
//! the true units the hidden part comes from: how often the learner's unit
//! is on when the true one is off or the reverse, and the relative error
//! of its magnitude when both are on. Last, the SR error the level would
//! have if its map were refitted on real samples read through its atoms
//! (`training.refit`, `FsrGenerator::refit_rows`): what is left then is
//! due to the atoms.
//!
//! ```text
//! cargo run --release --example unit_table -- RUN_DIR [--set section.field=value ...]
//! ```
//!
//! `RUN_DIR` is a `fsrgan train --out` folder (its `generator.json`); the
//! target is rebuilt from the built-in defaults plus the same `--set`
//! overrides the run was trained with (the target is a function of its
//! config).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use fsrgan::config;
use fsrgan::gan::{Generator, TrainingSpec};
use fsrgan::metrics::features::{cosine_matrix, match_features};
use fsrgan::metrics::hidden::hidden_recovery;
use fsrgan::metrics::{Matching, ls_scales, map_hidden};
use fsrgan::target::{Target, rand_chacha};
use nalgebra::DMatrix;

/// Samples over which activity rates are counted (standard error of a
/// 25% rate: ~1% of a unit's B P_l patches, P_l >= 1).
const SAMPLES: usize = 2000;

#[path = "common/cli.rs"]
mod cli;

fn main() -> ExitCode {
    cli::exit(run())
}

fn run() -> Result<()> {
    let args = cli::parse("unit_table RUN_DIR [--set section.field=value ...]", &[])?;
    let (dir, sets) = (&args.dir, &args.sets);
    let cfg = config::load(None, sets)?;
    let target = Target::new(&cfg.target)?;
    let path = Path::new(dir).join("generator.json");
    let Generator::Fsr(g) = Generator::load(&path)? else {
        bail!("{}: not an fsr generator", path.display());
    };
    if g.levels.len() != target.levels.len() {
        bail!(
            "{}: {} levels, the target has {} (pass the run's --set overrides)",
            path.display(),
            g.levels.len(),
            target.levels.len()
        );
    }
    let mut rng = rand_chacha(7);
    let learned = g.sample(SAMPLES, &mut rng);
    let truth = target.sample(SAMPLES, &mut rng);
    let mut prev: Option<(Matching, Vec<f64>)> = None;
    for (l, tl) in target.levels.iter().enumerate() {
        let (vt, vl) = (&tl.v, &g.levels[l].v);
        let cos = cosine_matrix(vt, vl).context("true vs learned cosines")?;
        let among = cosine_matrix(vl, vl).context("learned vs learned cosines")?;
        let matching = match_features(&cos).context("matching")?;
        // Activity rates P(unit on), true and matched learned unit.
        let act = hidden_recovery(&truth.s[l], &learned.s[l], &matching).context("activity rates")?;
        println!("level {}", l + 1);
        println!("  true (act) <- unit: cos | unit's best true, 2nd | unit act, norm | max |cos| other unit");
        for (&(i, j), &c) in matching.pairs.iter().zip(&matching.cosines) {
            let mut ranked: Vec<(f64, usize)> = (0..vt.ncols()).map(|k| (cos[(k, j)], k)).collect();
            ranked.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
            let (dup, other) = (0..vl.ncols())
                .filter(|&k| k != j)
                .map(|k| (among[(j, k)].abs(), k))
                .fold((0.0, j), |best, x| if x.0 > best.0 { x } else { best });
            let second = ranked.get(1).copied().unwrap_or((0.0, ranked[0].1));
            println!(
                "  {i:2} ({:.3}) <- {j:2}: {c:+.3} | {:2} {:+.3}, {:2} {:+.3} | {:.3}, {:.2} | {dup:.3} (unit {other})",
                act.freq_true[i],
                ranked[0].1,
                ranked[0].0,
                second.1,
                second.0,
                act.freq_learned[i].unwrap_or(0.0),
                vl.column(j).norm(),
            );
        }
        let alpha = ls_scales(vt, vl, &matching).context("least-squares scales")?;
        if let Some((m_prev, a_prev)) = &prev {
            let s_in = map_hidden(&truth.s[l - 1], m_prev, a_prev, g.levels[l - 1].width)
                .context("mapping the true level below")?;
            let s_hat = g.hidden_next(l + 1, &s_in, None);
            sr_split(
                vt,
                vl,
                &s_hat,
                &truth.s[l],
                &matching,
                &alpha,
                target.spec.geometry.fanout,
            );
            // The same level with its map refitted on real samples (read
            // through the learner's atoms, never the true hidden states).
            let mut refit = g.clone();
            let rows: Vec<usize> = (0..g.levels[l].w.nrows()).collect();
            let on = TrainingSpec::default().refit.on;
            let real = target.sample(SAMPLES, &mut rng).x;
            let done = refit.refit_rows(l + 1, &rows, &real[l - 1], &real[l], on);
            let s_hat = refit.hidden_next(l + 1, &s_in, None);
            let x_true = vt * &truth.s[l];
            println!(
                "  SR error with the map refitted on real samples ({} of {} rows): {:.3}",
                done.len(),
                rows.len(),
                (vl * s_hat - &x_true).norm() / x_true.norm()
            );
        }
        prev = Some((matching, alpha));
    }
    Ok(())
}

/// The SR error ||V' Ŝ − V* S*|| / ||V* S*|| (Ŝ: the learner's level-l
/// activations on the true level below, `m' x (B P_l)`; S*: the true ones,
/// `m x (B P_l)`) split into the hidden part ||V* (S̃ − S*)|| and the atom
/// part ||V' Ŝ − V* S̃|| (both over ||V* S*||), where S̃_i = Ŝ_j / α_i puts
/// the learner's unit j = π(i) on true unit i's scale.
fn sr_split(
    vt: &DMatrix<f64>,
    vl: &DMatrix<f64>,
    s_hat: &DMatrix<f64>,
    s_true: &DMatrix<f64>,
    matching: &Matching,
    alpha: &[f64],
    fanout: usize,
) {
    let mut s_tilde = DMatrix::zeros(s_true.nrows(), s_true.ncols());
    for &(i, j) in &matching.pairs {
        if alpha[i] != 0.0 {
            s_tilde.set_row(i, &(s_hat.row(j) / alpha[i]));
        }
    }
    // n x m times m x (B P_l).
    let x_true = vt * s_true;
    let norm = x_true.norm();
    let total = (vl * s_hat - &x_true).norm() / norm;
    let hidden = (vt * (&s_tilde - s_true)).norm() / norm;
    let atoms = (vl * s_hat - vt * &s_tilde).norm() / norm;
    println!("  SR error {total:.3}: hidden map {hidden:.3}, atoms {atoms:.3}");
    println!("  true unit: share of the hidden part | on/off disagree | magnitude error when both on");
    let diff = &s_tilde - s_true;
    let parts: Vec<f64> = (0..vt.ncols())
        .map(|i| (vt.column(i) * diff.row(i)).norm_squared())
        .collect();
    let sum: f64 = parts.iter().sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].total_cmp(&parts[*a]));
    for &i in order.iter().take(4) {
        let (mut disagree, mut both, mut err2, mut ref2) = (0usize, 0usize, 0.0, 0.0);
        for k in 0..s_true.ncols() {
            let (t, h) = (s_true[(i, k)], s_tilde[(i, k)]);
            if (t > 0.0) != (h > 0.0) {
                disagree += 1;
            } else if t > 0.0 {
                both += 1;
                err2 += (h - t) * (h - t);
                ref2 += t * t;
            }
        }
        // Activity per child position (column k is child k mod r of its
        // parent in the batched layout): true vs learned.
        let by_pos: Vec<String> = (0..fanout)
            .map(|p| {
                let cols: Vec<usize> = (p..s_true.ncols()).step_by(fanout).collect();
                let on = |m: &DMatrix<f64>| {
                    cols.iter().filter(|&&k| m[(i, k)] > 0.0).count() as f64 / cols.len() as f64
                };
                format!("{:.2}/{:.2}", on(s_true), on(&s_tilde))
            })
            .collect();
        println!(
            "    {i:2}: {:.2} | {:.1}% | {:.1}% ({both} both on) | on by child position (true/learned): {}",
            parts[i] / sum.max(f64::MIN_POSITIVE),
            100.0 * disagree as f64 / s_true.ncols() as f64,
            100.0 * (err2 / ref2.max(f64::MIN_POSITIVE)).sqrt(),
            by_pos.join(" "),
        );
    }
}
