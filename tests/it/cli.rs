//! End-to-end checks of the `fsrgan` binary: outputs have the SPEC §8 shape
//! and bad input gets one line on stderr and exit code 2.

use std::process::Command;

fn fsrgan(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fsrgan"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run fsrgan")
}

/// `fsrgan train [extra...] --out OUT --quiet --set S1 --set S2 ...`.
fn train(out: &std::path::Path, extra: &[&str], sets: &[&str]) -> std::process::Output {
    let mut args = vec!["train"];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    for s in sets {
        args.extend(["--set", s]);
    }
    fsrgan(&args)
}

fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "{err:?} does not mention {needle:?}");
}

#[test]
fn describe_json_has_spec_fields_and_healthy_default() {
    let out = fsrgan(&[
        "describe",
        "--config",
        "configs/default.toml",
        "--json",
        "--samples",
        "500",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 3);
    for (i, l) in levels.iter().enumerate() {
        for key in [
            "level",
            "patches",
            "width",
            "target_rate",
            "activation_rates",
            "dead_units",
            "always_on_units",
            "coherence",
            "pooling_error",
        ] {
            assert!(l.get(key).is_some(), "missing {key}");
        }
        assert_eq!(l["level"], i + 1);
        assert_eq!(l["dead_units"].as_array().unwrap().len(), 0);
        assert!(l["pooling_error"].as_f64().unwrap() <= 1e-12);
    }
}

#[test]
fn sample_writes_documented_columns() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    let png = dir.path().join("g.png");
    let out = fsrgan(&[
        "sample",
        "--n",
        "5",
        "--seed",
        "3",
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut r = csv::Reader::from_path(&csv).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header.len(), 16 + 64 + 256);
    assert_eq!(header[0], "l1_r0_c0");
    assert_eq!(header[16], "l2_r0_c0");
    assert_eq!(header[16 + 63], "l2_r7_c7");
    assert_eq!(header.last().unwrap(), "l3_r15_c15");
    assert_eq!(r.records().count(), 5);
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
}

#[test]
fn bad_config_field_is_one_line_exit_2() {
    let out = fsrgan(&["describe", "--set", "target.active=20"]);
    assert_one_line_error(&out, "target.active");
    let out = fsrgan(&["describe", "--set", "target.fanout=3"]);
    assert_one_line_error(&out, "target.fanout = 3");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "[target]\nlevls = 3\n").unwrap();
    let out = fsrgan(&["describe", "--config", f.to_str().unwrap()]);
    assert_one_line_error(&out, "levls");
    let out = fsrgan(&["describe", "--config", "no/such/file.toml"]);
    assert_one_line_error(&out, "no/such/file.toml");
}

#[test]
fn bad_flags_are_one_line_exit_2() {
    let out = fsrgan(&["sample", "--n", "0", "--out", "x.csv"]);
    assert_one_line_error(&out, "--n");
    let out = fsrgan(&["sample", "--n", "3", "--out", "/tmp/x.csv", "--plot", "grid.bmp"]);
    assert_one_line_error(&out, "grid.bmp");
    let out = fsrgan(&["frobnicate"]);
    assert_one_line_error(&out, "frobnicate");
}

/// A run whose parameters blow up is reported as diverged (exit 0, status
/// in the table and in summary.json), not as a metrics error; only the
/// learning curves are drawn. A step size of 1e6 on plain SGD diverges
/// within a few iterations on any seed.
#[test]
fn diverged_train_is_reported_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = train(
        &out,
        &[],
        &[
            "target.levels=1",
            "training.optimizer=sgd",
            "training.lr_d=1e6",
            "training.lr_g=1e6",
            "training.iterations=50",
            "training.eval_every=10",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("status Diverged"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "diverged");
    assert_eq!(summary["success"], false);
    assert!(!out.join("samples.png").exists());
}

/// `seeds --runs DIR` keeps each run's folder, and a run there is the same
/// run as `train --seed S`: byte-identical metrics.csv, whatever the
/// number of parallel jobs.
#[test]
fn seeds_keeps_run_folders_identical_to_train() {
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "target.levels=1",
        "training.iterations=100",
        "training.eval_every=50",
    ];
    let runs = dir.path().join("runs");
    let mut args = vec![
        "seeds",
        "--seeds",
        "1,2",
        "--jobs",
        "2",
        "--runs",
        runs.to_str().unwrap(),
    ];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let o = fsrgan(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("success: "));
    let single = dir.path().join("single");
    let t = train(&single, &["--seed", "2"], &sets);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let read = |p: std::path::PathBuf| {
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    assert_eq!(
        read(runs.join("seed-2/metrics.csv")),
        read(single.join("metrics.csv"))
    );
    assert!(runs.join("seed-1/generator.json").exists());
}

/// `train` on the default target (a short budget) writes every file of the
/// run, `generate` reads the checkpoint back, and the summary has the
/// SPEC §8 fields.
#[test]
fn train_then_generate_on_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = train(
        &out,
        &[],
        &[
            "training.iterations=300",
            "training.eval_every=100",
            "target.levels=2",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "config.json",
        "metrics.csv",
        "summary.json",
        "generator.json",
        "learning_curves.png",
        "learning_curves.svg",
        "samples.png",
        "dictionary_level1.png",
        "dictionary_level2.svg",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["status"], "completed");
    assert_eq!(s["iterations"], 300);
    for key in ["wall_seconds", "seed", "levels"] {
        assert!(s.get(key).is_some(), "missing {key}");
    }
    let lv = &s["levels"][1];
    for key in [
        "level",
        "min_cos",
        "mean_cos",
        "recovered_fraction",
        "sr_error",
        "mmd2",
        "mmd2_floor",
        "p_value",
        "t_learned",
    ] {
        assert!(lv.get(key).is_some(), "missing level field {key}");
    }
    assert!(s["levels"][0]["sr_error"].is_null());
    let csv_rows = std::fs::read_to_string(out.join("metrics.csv"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(csv_rows, 1 + 3, "header + one row per evaluation");
    let gen_csv = dir.path().join("gen.csv");
    let o = fsrgan(&[
        "generate",
        "--checkpoint",
        out.join("generator.json").to_str().unwrap(),
        "--n",
        "7",
        "--out",
        gen_csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = csv::Reader::from_path(&gen_csv).unwrap();
    assert_eq!(r.headers().unwrap().len(), 16 + 64);
    assert_eq!(r.records().count(), 7);
}

/// Same seed, same config: byte-identical metrics.csv (no wall-clock columns).
#[test]
fn train_metrics_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        let o = train(
            &out,
            &["--seed", "5"],
            &[
                "training.iterations=200",
                "training.eval_every=100",
                "target.levels=1",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out.join("metrics.csv")).unwrap()
    };
    assert_eq!(run("a"), run("b"));
}

/// `train --data` on flat CSV data with an mlp GAN; a bad row names its line.
#[test]
fn train_on_flat_csv_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ring.csv");
    let mut text = String::from("x,y\n");
    for i in 0..400 {
        let a = (i % 8) as f64 * std::f64::consts::PI / 4.0 + 0.001 * i as f64;
        text.push_str(&format!("{},{}\n", 2.0 * a.cos(), 2.0 * a.sin()));
    }
    std::fs::write(&data, &text).unwrap();
    let out = dir.path().join("flat");
    let o = train(
        &out,
        &[
            "--config",
            "configs/mixture.toml",
            "--data",
            data.to_str().unwrap(),
        ],
        &["training.iterations=200", "training.eval_every=100"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("summary.json").exists() && out.join("generator.json").exists());
    let gen_csv = dir.path().join("g.csv");
    let o = fsrgan(&[
        "generate",
        "--checkpoint",
        out.join("generator.json").to_str().unwrap(),
        "--n",
        "5",
        "--out",
        gen_csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(&gen_csv).unwrap().lines().next().unwrap(),
        "x0,x1"
    );
    text.push_str("1.0,oops\n");
    std::fs::write(&data, &text).unwrap();
    let o = train(
        &out,
        &[
            "--config",
            "configs/mixture.toml",
            "--data",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert_one_line_error(&o, "line 402");
}

/// C7 on the shipped digits: the JSON has the documented shape; the
/// shuffled control sits near 0 and below the coarse linear map.
#[test]
fn check_fsr_json_on_digits() {
    let o = fsrgan(&["check-fsr", "--config", "configs/digits.toml", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    for l in levels {
        let ev = &l["explained_variance"];
        for key in ["coarse_linear", "hidden_features", "shuffled_control"] {
            assert!(ev[key].is_number(), "missing {key}");
            assert_eq!(l["intervals"][key].as_array().unwrap().len(), 2);
        }
        assert!(ev["coarse_linear"].as_f64().unwrap() > ev["shuffled_control"].as_f64().unwrap());
    }
    let o = fsrgan(&[
        "check-fsr",
        "--config",
        "configs/digits.toml",
        "--data",
        "no/such.csv",
    ]);
    assert_one_line_error(&o, "no/such.csv");
}

/// A real-data training run (tiny budget) writes its summary and figures.
#[test]
fn train_on_digits_writes_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("digits");
    let o = train(
        &out,
        &["--config", "configs/digits.toml"],
        &["training.iterations=100", "training.eval_every=50"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "summary.json",
        "metrics.csv",
        "generator.json",
        "samples.png",
        "dictionary_level3.png",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
}
