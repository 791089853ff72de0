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
