//! The per-unit table behind the fourth session's diagnosis (issue 5,
//! docs/recipe.md): for a trained `fsr` checkpoint, each true feature of
//! each level with its matched learned unit, the unit's best and
//! second-best true features (a mixture shows two large cosines), how
//! often the true and the learned unit are active (over 2000 samples of
//! each), the learned atom's norm and the largest |cosine| with another
//! learned unit (a duplicate shows a large one).
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
use fsrgan::gan::Generator;
use fsrgan::metrics::features::{cosine_matrix, match_features};
use fsrgan::metrics::hidden::hidden_recovery;
use fsrgan::target::{Target, rand_chacha};

/// Samples over which activity rates are counted (standard error of a
/// 25% rate: ~1% of a unit's B P_l patches, P_l >= 1).
const SAMPLES: usize = 2000;

/// Bad input gets one line on stderr and exit code 2, as in the CLI.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        bail!("usage: unit_table RUN_DIR [--set section.field=value ...]");
    };
    let mut sets = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(a) = rest.next() {
        match (a.as_str(), rest.next()) {
            ("--set", Some(v)) => sets.push(v.clone()),
            _ => bail!("argument {a:?}: expected --set section.field=value"),
        }
    }
    let cfg = config::load(None, &sets)?;
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
    }
    Ok(())
}
