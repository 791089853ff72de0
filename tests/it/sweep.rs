//! Sweeps, fits and the claims report (issue 6; SPEC §3, §7, §8): a killed
//! sweep resumes without losing or duplicating a cell; results do not
//! depend on `--jobs` or `--shard`; the fits recover known exponents; every
//! sweep-file rule has its own error; the report and the CLI work end to
//! end. Tiny configs (L = 1, m = 4, 200 iterations) keep this under a minute.

use std::path::{Path, PathBuf};

use fsrgan::experiments::fits::{self, Preferred};
use fsrgan::experiments::report;
use fsrgan::experiments::sweep::{
    CellRecord, Shard, Sweep, SweepError, SweepOptions, read_results, run_sweep,
};
use rand::RngExt;

/// A tiny sweep: 2 grids, 7 cells; one cell has an invalid config
/// (active 5 > width 4) and must be recorded as an error.
const TINY: &str = r#"
set = ["target.levels=1", "target.widths=4", "target.latent_dim=4", "target.active=1",
       "target.calibration_patches=2000", "learner.d_hidden=16", "training.batch=16"]
seeds = [0, 1]
[budget]
iterations = 200
eval_every = 100
stop_on_success = false
[eval]
heldout = 100
mmd_samples = 40
mmd_permutations = 10
final_mmd_samples = 60
final_permutations = 10
[[grid]]
name = "base"
[[grid]]
name = "n"
[grid.axes]
"training.train_size" = [16, 64]
[[grid]]
name = "bad"
seeds = [0]
[grid.axes]
"target.active" = [5]
"#;

fn write_sweep(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("sweep.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn tiny(dir: &Path) -> Sweep {
    Sweep::load(&write_sweep(dir, TINY)).expect("tiny sweep is valid")
}

fn opts(jobs: usize, shard: Shard, resume: bool) -> SweepOptions {
    SweepOptions {
        jobs,
        shard,
        resume,
        quiet: true,
    }
}

/// Records sorted by cell, wall-clock fields zeroed.
fn canon(recs: Vec<CellRecord>) -> Vec<CellRecord> {
    let mut v: Vec<CellRecord> = recs.iter().map(CellRecord::without_timing).collect();
    v.sort_by_key(|r| r.cell);
    v
}

fn records(path: &Path) -> Vec<CellRecord> {
    canon(read_results(path).unwrap().records)
}

#[test]
fn tiny_sweep_cells_order_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = tiny(dir.path());
    let cells = sweep.cells();
    assert_eq!(cells.len(), 7);
    assert_eq!(sweep.cell_count(), 7);
    for (i, c) in cells.iter().enumerate() {
        assert_eq!(c.index, i);
    }
    assert_eq!(cells[2].id, "n/training.train_size=16/seed=0");
    assert_eq!(cells[5].id, "n/training.train_size=64/seed=1");
    let out = dir.path().join("r.jsonl");
    let o = run_sweep(&sweep, &out, &opts(2, Shard::default(), false)).unwrap();
    assert_eq!(o.written, 7);
    assert_eq!(o.errors, 1);
    let recs = records(&out);
    assert_eq!(recs.len(), 7);
    let bad = &recs[6];
    assert_eq!(bad.status, "error");
    assert!(
        bad.error.as_deref().unwrap().contains("target.active"),
        "{:?}",
        bad.error
    );
    for r in &recs[..6] {
        assert!(r.status == "completed" || r.status == "diverged", "{}", r.status);
        assert_eq!(r.levels.len(), 1);
        assert_eq!(r.config_hash.len(), 16);
        assert!(r.axes.len() <= 1);
        if r.success {
            assert!(r.iterations_to_success.is_some());
        } else {
            assert!(r.iterations_to_success.is_none());
        }
    }
    // SPEC §8 names are present on every line.
    let text = std::fs::read_to_string(&out).unwrap();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for k in [
            "cell",
            "seed",
            "axes",
            "status",
            "iterations_to_success",
            "levels",
        ] {
            assert!(v.get(k).is_some(), "missing {k} in {line}");
        }
    }
    // A second run without --resume refuses to touch the file.
    let err = run_sweep(&sweep, &out, &opts(1, Shard::default(), false)).unwrap_err();
    assert!(matches!(err, SweepError::ResultsExist { .. }), "{err}");
}

#[test]
fn jobs_shards_and_resume_give_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = tiny(dir.path());
    let one = dir.path().join("one.jsonl");
    let two = dir.path().join("two.jsonl");
    run_sweep(&sweep, &one, &opts(1, Shard::default(), false)).unwrap();
    run_sweep(&sweep, &two, &opts(2, Shard::default(), false)).unwrap();
    let reference = records(&one);
    assert_eq!(reference, records(&two), "--jobs 1 and --jobs 2 differ");

    // Shards 0/2 and 1/2, merged by the report.
    let s0 = dir.path().join("s0.jsonl");
    let s1 = dir.path().join("s1.jsonl");
    run_sweep(&sweep, &s0, &opts(2, "0/2".parse().unwrap(), false)).unwrap();
    run_sweep(&sweep, &s1, &opts(1, "1/2".parse().unwrap(), false)).unwrap();
    assert!(records(&s0).iter().all(|r| r.cell % 2 == 0));
    assert!(records(&s1).iter().all(|r| r.cell % 2 == 1));
    let merged = report::merge_results(&[s0.clone(), s1.clone(), s0.clone()]).unwrap();
    assert_eq!(
        merged.duplicates,
        records(&s0).len(),
        "re-read shard lines are duplicates"
    );
    assert_eq!(
        canon(merged.records),
        reference,
        "merged shards differ from the unsharded run"
    );

    // Simulated kill: keep 3 complete lines and half of the 4th; add a
    // garbage line in the middle.
    let text = std::fs::read_to_string(&two).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = String::new();
    cut.push_str(lines[0]);
    cut.push('\n');
    cut.push_str("{not json\n");
    for l in &lines[1..3] {
        cut.push_str(l);
        cut.push('\n');
    }
    cut.push_str(&lines[3][..lines[3].len() / 2]);
    let killed = dir.path().join("killed.jsonl");
    std::fs::write(&killed, &cut).unwrap();
    let o = run_sweep(&sweep, &killed, &opts(2, Shard::default(), true)).unwrap();
    assert!(o.truncated_partial);
    assert_eq!(o.bad_lines, 1);
    assert_eq!(o.skipped, 3);
    assert_eq!(o.written, 4);
    let resumed = records(&killed);
    assert_eq!(resumed, reference, "resume lost or duplicated a cell");
    // Resuming a finished file does nothing.
    let o = run_sweep(&sweep, &killed, &opts(2, Shard::default(), true)).unwrap();
    assert_eq!((o.skipped, o.written), (7, 0));

    // The report runs on the merged shards and names every claim.
    let out = dir.path().join("report");
    let r = report::report(&[s0, s1], &out).unwrap();
    let ids: Vec<&str> = r.rows.iter().map(|r| r.id.as_str()).collect();
    for c in ["C1", "C2", "C3", "C4", "C5", "C6"] {
        assert!(ids.iter().any(|i| i.starts_with(c)), "{c} missing from {ids:?}");
    }
    let md = std::fs::read_to_string(out.join("claims.md")).unwrap();
    assert!(md.contains("| id | claim |") && md.contains("Decision rules"));
}

#[test]
fn fits_recover_power_law_and_prefer_exponential() {
    let mut rng = fsrgan::target::rand_chacha(7);
    // y = 3 x^1.7 with 5% multiplicative noise.
    let xs: Vec<f64> = [4.0, 8.0, 16.0, 32.0, 64.0, 128.0].to_vec();
    let ys: Vec<f64> = xs
        .iter()
        .map(|x| 3.0 * x.powf(1.7) * (1.0 + 0.05 * (rng.random::<f64>() - 0.5)))
        .collect();
    let f = fits::scaling_fit(&xs, &ys).unwrap();
    assert_eq!(f.preferred, Preferred::Power, "{}", f.reason);
    let p = f.power.unwrap();
    let (lo, hi) = p.slope_ci.unwrap();
    assert!(lo <= 1.7 && 1.7 <= hi, "1.7 not in [{lo}, {hi}]");
    assert!((p.slope - 1.7).abs() < 0.05, "slope {}", p.slope);
    // y = 2 exp(0.3 x).
    let xs: Vec<f64> = (1..=20).map(|i| i as f64).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|x| 2.0 * (0.3 * x).exp() * (1.0 + 0.05 * (rng.random::<f64>() - 0.5)))
        .collect();
    let f = fits::scaling_fit(&xs, &ys).unwrap();
    assert_eq!(f.preferred, Preferred::Exponential, "{}", f.reason);
    assert!((f.exponential.unwrap().slope - 0.3).abs() < 0.01);
    // A decaying exponential, y = 50 exp(-0.3 x), fits better than a power
    // law but is no evidence of exponential growth: inconclusive.
    let ys: Vec<f64> = xs.iter().map(|x| 50.0 * (-0.3 * x).exp()).collect();
    let f = fits::scaling_fit(&xs, &ys).unwrap();
    assert_eq!(f.preferred, Preferred::Inconclusive, "{}", f.reason);
    assert!(f.reason.contains("decreases"), "{}", f.reason);
    // Two points: inconclusive; bad points: an error, not a panic.
    let f = fits::scaling_fit(&[1.0, 2.0], &[1.0, 4.0]).unwrap();
    assert_eq!(f.preferred, Preferred::Inconclusive);
    assert!(fits::scaling_fit(&[1.0, 2.0], &[1.0, 0.0]).is_err());
    assert!(fits::scaling_fit(&[1.0], &[1.0, 2.0]).is_err());
    // N* and T* definitions.
    let ns = fits::n_star(&[(100.0, 1, 3), (300.0, 2, 3), (1000.0, 3, 3)]);
    assert_eq!(ns.value, Some(300.0));
    assert!(fits::n_star(&[(100.0, 1, 3), (300.0, 1, 3)]).censored);
    let t = fits::t_star(&[Some(100.0), Some(300.0), None]);
    assert_eq!(t.median, Some(300.0));
    let t = fits::t_star(&[Some(100.0), None, None]);
    assert!(t.censored && t.median.is_none());
    // Wilson: 3/3 at 95%.
    let (lo, hi) = fits::wilson(3, 3);
    assert!((lo - 0.4385).abs() < 1e-3 && hi == 1.0);
}

/// Which [`SweepError`] variant a case must produce.
type IsVariant = fn(&SweepError) -> bool;

/// Every sweep-file rule gives its own error variant.
#[test]
fn every_sweep_rule_has_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let head = "seeds = [0]\n[budget]\niterations = 100\neval_every = 10\n";
    let cases: Vec<(String, IsVariant)> = vec![
        (
            "seeds = [0]\n[budget]\niterations = 100\neval_every = 10\nfoo = 1\n".into(),
            |e| matches!(e, SweepError::Parse { .. }),
        ),
        (format!("base = \"nope.toml\"\n{head}"), |e| {
            matches!(e, SweepError::Base { .. })
        }),
        (format!("set = [\"nodot=1\"]\n{head}"), |e| {
            matches!(e, SweepError::Set { .. })
        }),
        (format!("set = [\"training.iterations=5\"]\n{head}"), |e| {
            matches!(e, SweepError::ReservedSet { .. })
        }),
        (
            "seeds = []\n[budget]\niterations = 100\neval_every = 10\n".into(),
            |e| matches!(e, SweepError::NoSeeds),
        ),
        (
            "seeds = \"5..2\"\n[budget]\niterations = 100\neval_every = 10\n".into(),
            |e| matches!(e, SweepError::SeedsSyntax { .. }),
        ),
        (
            "seeds = [-1]\n[budget]\niterations = 100\neval_every = 10\n".into(),
            |e| matches!(e, SweepError::NegativeSeed { .. }),
        ),
        (
            "seeds = [1, 1]\n[budget]\niterations = 100\neval_every = 10\n".into(),
            |e| matches!(e, SweepError::DuplicateSeed { .. }),
        ),
        (
            "seeds = [0]\n[budget]\niterations = 0\neval_every = 10\n".into(),
            |e| matches!(e, SweepError::Iterations { .. }),
        ),
        (
            "seeds = [0]\n[budget]\niterations = 100\neval_every = 200\n".into(),
            |e| matches!(e, SweepError::EvalEvery { .. }),
        ),
        (format!("{head}[eval]\nmmd_samples = 2\n"), |e| {
            matches!(e, SweepError::EvalField { .. })
        }),
        (
            format!("{head}[axes]\n\"target.lambda\" = [0.0]\n[[grid]]\nname = \"a\"\n"),
            |e| matches!(e, SweepError::AxesAndGrids),
        ),
        (format!("{head}[[grid]]\nname = \"a b\"\n"), |e| {
            matches!(e, SweepError::GridName { .. })
        }),
        (
            format!("{head}[[grid]]\nname = \"a\"\n[[grid]]\nname = \"a\"\n"),
            |e| matches!(e, SweepError::DuplicateGrid { .. }),
        ),
        (format!("{head}[axes]\nlambda = [0.0]\n"), |e| {
            matches!(e, SweepError::AxisPath { .. })
        }),
        (format!("{head}[axes]\n\"training.seed\" = [1, 2]\n"), |e| {
            matches!(e, SweepError::ReservedAxis { .. })
        }),
        (
            format!(
                "{head}[axes]\n\"target.widths\" = [4]\n\"target.widths+target.latent_dim\" = [[4, 4]]\n"
            ),
            |e| matches!(e, SweepError::RepeatedPath { .. }),
        ),
        (format!("{head}[axes]\n\"target.lambda\" = 0.5\n"), |e| {
            matches!(e, SweepError::AxisNotList { .. })
        }),
        (format!("{head}[axes]\n\"target.lambda\" = []\n"), |e| {
            matches!(e, SweepError::EmptyAxis { .. })
        }),
        (format!("{head}[axes]\n\"target.lambda\" = [0.5, 0.5]\n"), |e| {
            matches!(e, SweepError::DuplicateAxisValue { .. })
        }),
        (
            format!("{head}[axes]\n\"target.widths+target.latent_dim\" = [[4]]\n"),
            |e| matches!(e, SweepError::LinkedValue { .. }),
        ),
        (format!("{head}[axes]\n\"target.widht\" = [4]\n"), |e| {
            matches!(e, SweepError::AxisValue { .. })
        }),
        (
            format!(
                "{head}[axes]\n\"target.seed\" = [{}]\n\"learner.kappa\" = [{}]\n",
                ints(400),
                floats(300)
            ),
            |e| matches!(e, SweepError::TooManyCells { .. }),
        ),
    ];
    for (i, (text, is)) in cases.iter().enumerate() {
        let p = write_sweep(dir.path(), text);
        match Sweep::load(&p) {
            Ok(_) => panic!("case {i} accepted:\n{text}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(is(&e), "case {i}: unexpected error {msg}\n{text}");
                assert_eq!(msg.lines().count(), 1, "case {i}: not one line: {msg}");
            }
        }
    }
    assert!(matches!(
        Sweep::load(&dir.path().join("absent.toml")),
        Err(SweepError::Read { .. })
    ));
    for bad in ["2/2", "1", "a/b", "0/0"] {
        assert!(
            matches!(bad.parse::<Shard>(), Err(SweepError::Shard { .. })),
            "{bad}"
        );
    }
    let ok = write_sweep(dir.path(), head);
    let s = Sweep::load(&ok).unwrap();
    let err = run_sweep(&s, &dir.path().join("x.jsonl"), &opts(0, Shard::default(), false)).unwrap_err();
    assert!(matches!(err, SweepError::Jobs { .. }));
}

fn ints(n: usize) -> String {
    (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

fn floats(n: usize) -> String {
    (0..n)
        .map(|i| format!("{:.3}", 1.0 + i as f64 / 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn cli_sweep_and_report_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = write_sweep(dir.path(), TINY);
    let out = dir.path().join("r.jsonl");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fsrgan"))
            .args(args)
            .output()
            .expect("run fsrgan")
    };
    let o = run(&[
        "sweep",
        "--sweep",
        sweep.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "2",
        "--shard",
        "0/3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&[
        "sweep",
        "--sweep",
        sweep.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--shard",
        "3/3",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--shard"), "{err}");
    let rep = dir.path().join("rep");
    let o = run(&[
        "report",
        "--results",
        out.to_str().unwrap(),
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(rep.join("claims.md").exists() && rep.join("claims.json").exists());
    let o = run(&[
        "report",
        "--results",
        dir.path().join("none.jsonl").to_str().unwrap(),
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1);
}

/// The shipped sweep files load, and their cells are numbered densely.
#[test]
fn shipped_sweep_files_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["quick.toml", "claims.toml"] {
        let s =
            Sweep::load(&root.join("configs/sweeps").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let cells = s.cells();
        assert_eq!(cells.len(), s.cell_count(), "{name}");
        for c in &cells {
            let (cfg, hash) = s.cell_config(c);
            assert!(cfg.is_ok(), "{name} cell {}: {:?}", c.id, cfg.err());
            assert_eq!(hash.len(), 16);
        }
    }
}

/// A synthetic result line (for the report's decision rules).
fn synthetic(
    cell: usize,
    grid: &str,
    seed: u64,
    axes: &[(&str, serde_json::Value)],
    settings: fsrgan::experiments::sweep::Settings,
    success_at: Option<usize>,
) -> CellRecord {
    let levels: Vec<serde_json::Value> = (1..=settings.levels)
        .map(|l| serde_json::json!({"level": l, "t_learned": success_at.map(|t| t * l / settings.levels)}))
        .collect();
    CellRecord {
        cell,
        seed,
        axes: axes.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        status: "completed".into(),
        iterations_to_success: success_at,
        levels,
        config_hash: format!("{:016x}", cell / 100),
        gradient_evaluations: 2 * success_at.unwrap_or(1_000_000) as u64,
        wall_seconds: 1.0,
        success: success_at.is_some(),
        id: format!("{grid}/{cell}"),
        grid: grid.into(),
        final_success: success_at.is_some(),
        iterations: success_at.unwrap_or(1_000_000),
        t_max: 1_000_000,
        eval_every: 100,
        gradient_evaluations_to_success: success_at.map(|t| 2 * t as u64),
        seconds_to_success: success_at.map(|t| t as f64 * 1e-3),
        diverged_at: None,
        forward_order: (settings.levels >= 2 && success_at.is_some()).then_some(true),
        settings: Some(settings),
        error: None,
    }
}

#[test]
fn report_verdicts_follow_the_rules_on_synthetic_results() {
    use fsrgan::experiments::report::Verdict;
    use fsrgan::experiments::sweep::Settings;
    let set = |levels: usize, m: usize, n: usize, lambda: f64, sched: &str| Settings {
        levels,
        root_patches: 1,
        patch_side: 4,
        patch_dim: 16,
        widths: vec![m; levels],
        lambda,
        train_size: n,
        level_schedule: sched.into(),
    };
    let mut recs = Vec::new();
    let mut cell = 0;
    let mut push = |r: CellRecord| recs.push(r);
    // C1 / C4: 6/6 succeed, forward.
    for seed in 0..6 {
        push(synthetic(
            cell,
            "base",
            seed,
            &[],
            set(2, 8, 0, 0.0, "joint"),
            Some(1000),
        ));
        cell += 1;
    }
    // C2: N* = smallest grid N >= 2 m^1.5; C3: T* = 100 m^2.
    let ms = [4usize, 8, 16, 32];
    let ns = [16usize, 32, 64, 128, 256, 512, 1024, 4096];
    for &m in &ms {
        for &n in &ns {
            for seed in 0..3 {
                let ok = n as f64 >= 2.0 * (m as f64).powf(1.5);
                let axes = [
                    ("target.widths", serde_json::json!(m)),
                    ("training.train_size", serde_json::json!(n)),
                ];
                push(synthetic(
                    100 + cell,
                    "nstar",
                    seed,
                    &axes,
                    set(1, m, n, 0.0, "joint"),
                    ok.then_some(500),
                ));
                cell += 1;
            }
        }
        for seed in 0..3 {
            let axes = [("target.widths", serde_json::json!(m))];
            push(synthetic(
                200 + cell,
                "tstar",
                seed,
                &axes,
                set(1, m, 0, 0.0, "joint"),
                Some(100 * m * m),
            ));
            cell += 1;
        }
    }
    // C5: joint 6/6, top-only 0/6.  C6: lambda 1 as good as lambda 0.
    for seed in 0..6 {
        let axes = [("training.levels", serde_json::json!("joint"))];
        push(synthetic(
            300 + cell,
            "levels",
            seed,
            &axes,
            set(2, 8, 0, 0.0, "joint"),
            Some(1000),
        ));
        cell += 1;
        let axes = [("training.levels", serde_json::json!("top-only"))];
        push(synthetic(
            400 + cell,
            "levels",
            seed,
            &axes,
            set(2, 8, 0, 0.0, "top-only"),
            None,
        ));
        cell += 1;
        for lam in [0.0, 0.5, 1.0] {
            let axes = [("target.lambda", serde_json::json!(lam))];
            push(synthetic(
                500 + cell,
                "lambda",
                seed,
                &axes,
                set(2, 8, 0, lam, "joint"),
                Some(1000),
            ));
            cell += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synthetic.jsonl");
    let text: String = recs
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    let r = report::report(&[path], &dir.path().join("rep")).unwrap();
    let verdict = |prefix: &str| {
        r.rows
            .iter()
            .find(|row| row.id.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing"))
            .clone()
    };
    assert_eq!(verdict("C1").verdict, Verdict::Pass, "{:?}", verdict("C1"));
    assert_eq!(verdict("C2").verdict, Verdict::Pass, "{:?}", verdict("C2"));
    assert_eq!(verdict("C3").verdict, Verdict::Pass, "{:?}", verdict("C3"));
    assert!(
        verdict("C3").numbers.contains("degree b = 2"),
        "{}",
        verdict("C3").numbers
    );
    assert_eq!(verdict("C4").verdict, Verdict::Pass, "{:?}", verdict("C4"));
    assert_eq!(verdict("C5").verdict, Verdict::Pass, "{:?}", verdict("C5"));
    assert_eq!(verdict("C6").verdict, Verdict::Fail, "{:?}", verdict("C6"));
    for f in &r.figures {
        assert!(dir.path().join("rep").join(f).exists(), "{f}");
        assert!(
            dir.path().join("rep").join(f.replace(".png", ".svg")).exists(),
            "{f}"
        );
    }
    assert!(r.figures.len() >= 5, "{:?}", r.figures);
}
