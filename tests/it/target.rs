//! Properties of the ground-truth FSR target (SPEC §1), over random valid
//! configs drawn from `strategies::valid_target` (seeds included).

use crate::strategies::{self, valid_target};
use fsrgan::config::{ConfigError, OneOrMany, RawTarget, parse_raw};
use fsrgan::target::{OutputMode, Target, rand_chacha};
use nalgebra::DMatrix;
use proptest::prelude::*;
use statrs::distribution::{ContinuousCDF, Normal};

/// Two-sided normal quantile for confidence `conf` after a Bonferroni split
/// over `tests` simultaneous comparisons.
fn z_bonferroni(conf: f64, tests: usize) -> f64 {
    let alpha = (1.0 - conf) / tests as f64;
    Normal::new(0.0, 1.0).unwrap().inverse_cdf(1.0 - alpha / 2.0)
}

fn build(raw: &RawTarget) -> Option<Target> {
    let spec = raw.check().expect("strategy yields valid configs");
    Target::new(&spec).ok()
}

proptest! {
    #![proptest_config(strategies::config(24))]

    /// Hidden features are non-negative and each unit fires at its
    /// calibrated rate: per level, all units jointly within a 99.9%
    /// (Bonferroni) binomial interval. The variance adds the calibration's
    /// own Monte-Carlo error, counting one independent draw per calibration
    /// sample (parent patches of one sample are correlated).
    #[test]
    fn hidden_nonnegative_and_rates_calibrated(raw in valid_target(), seed in strategies::seed()) {
        let t = build(&raw);
        prop_assume!(t.is_some());
        let t = t.unwrap();
        let b = 4000;
        let batch = t.sample(b, &mut rand_chacha(seed));
        let g = &t.spec.geometry;
        for l in 1..=t.num_levels() {
            let s = &batch.s[l - 1];
            prop_assert!(s.iter().all(|&v| v >= 0.0));
            let lv = &t.levels[l - 1];
            let rows = lv.w.nrows();
            let z = z_bonferroni(0.999, rows);
            let pl = g.patches(l);
            for row in 0..rows {
                // Stacked row -> (patch slot, unit): at level 1 the slot is the
                // root patch p; above it is the child index c, pooled over all
                // parents q as the calibration was. The mean of a sample's
                // (correlated) parent patches has variance <= p(1-p), so one
                // independent draw per sample is a conservative count.
                let (slot, unit) = (row / lv.width, row % lv.width);
                let (stride, per) = if l == 1 { (pl, 1) } else { (g.fanout, pl / g.fanout) };
                let mut on = 0usize;
                for bb in 0..b {
                    for q in 0..per {
                        if s[(unit, bb * pl + q * stride + slot)] > 0.0 {
                            on += 1;
                        }
                    }
                }
                let on = on as f64 / per as f64;
                let rate = on / b as f64;
                let p0 = lv.rate[row];
                let ncal = if lv.calibration_samples == 0 { f64::INFINITY } else { lv.calibration_samples as f64 };
                let sd = (p0 * (1.0 - p0) * (1.0 / b as f64 + 1.0 / ncal)).sqrt();
                // + 1/b: the empirical rate's resolution.
                prop_assert!((rate - p0).abs() <= z * sd + 1.0 / b as f64,
                    "level {} row {}: rate {} vs calibrated {}", l, row, rate, p0);
            }
        }
    }

    /// Forward determinism (lambda = 0): recomputing S_l from the sample's
    /// S_{l-1} with the target's own maps gives the sample's S_l exactly,
    /// and re-rendering gives X_l.
    #[test]
    fn forward_determinism(raw in valid_target(), seed in strategies::seed()) {
        let t = build(&raw);
        prop_assume!(t.is_some());
        let t = t.unwrap();
        let batch = t.sample(64, &mut rand_chacha(seed));
        for l in 2..=t.num_levels() {
            let s = t.hidden_next(l, &batch.s[l - 2]);
            prop_assert_eq!(&s, &batch.s[l - 1]);
            let x = t.render(l, &s, Some(&batch.x[l - 2]));
            prop_assert!((x - &batch.x[l - 1]).amax() < 1e-12);
        }
    }

    /// Pyramid mode: 2x2 (or 1x2) average pooling of level l is level l-1.
    #[test]
    fn pyramid_pooling_is_exact(raw in valid_target(), seed in strategies::seed()) {
        prop_assume!(raw.output == "pyramid");
        let t = build(&raw);
        prop_assume!(t.is_some());
        let t = t.unwrap();
        let g = &t.spec.geometry;
        let batch = t.sample(32, &mut rand_chacha(seed));
        for l in 2..=t.num_levels() {
            for b in 0..32 {
                let pooled = g.pool_image(l, &g.to_image(l, &batch.x[l - 1], b));
                let lo = g.to_image(l - 1, &batch.x[l - 2], b);
                let err = pooled.iter().zip(&lo).map(|(a, c)| (a - c).abs()).fold(0.0, f64::max);
                prop_assert!(err <= 1e-12, "level {} sample {}: pooling error {}", l, b, err);
            }
        }
    }

    /// Decodability with orthonormal dictionaries: V^T (X_l - Up(X_{l-1}))
    /// (or V^T X_l) equals S_l; thresholding at 1e-9 zeroes round-off, so
    /// the support is recovered exactly too.
    #[test]
    fn orthonormal_decoding_is_exact(raw in valid_target(), seed in strategies::seed()) {
        let t = build(&raw);
        prop_assume!(t.is_some());
        let t = t.unwrap();
        let batch = t.sample(64, &mut rand_chacha(seed));
        for l in 1..=t.num_levels() {
            let lv = &t.levels[l - 1];
            let gram = lv.v.transpose() * &lv.v;
            prop_assert!((gram - DMatrix::identity(lv.width, lv.width)).amax() < 1e-12);
            let x = if t.spec.output == OutputMode::Pyramid && l >= 2 {
                t.detail_of(&batch.x[l - 1], &batch.x[l - 2])
            } else {
                batch.x[l - 1].clone()
            };
            let s_hat = (lv.v.transpose() * x).map(|v| if v > 1e-9 { v } else { 0.0 });
            prop_assert!((&s_hat - &batch.s[l - 1]).amax() < 1e-9);
            let support_ok = s_hat.iter().zip(batch.s[l - 1].iter()).all(|(a, b)| (*a > 0.0) == (*b > 1e-9));
            prop_assert!(support_ok);
        }
    }

    /// Same seed, same samples; another seed, other samples; and the same
    /// spec builds the same target.
    #[test]
    fn seeds_determine_samples(raw in valid_target(), seed in strategies::seed()) {
        let t = build(&raw);
        prop_assume!(t.is_some());
        let t = t.unwrap();
        let t2 = build(&raw).unwrap();
        prop_assert_eq!(&t.levels[0].w, &t2.levels[0].w);
        let a = t.sample(16, &mut rand_chacha(seed));
        let b = t2.sample(16, &mut rand_chacha(seed));
        let c = t.sample(16, &mut rand_chacha(seed.wrapping_add(1)));
        for l in 0..t.num_levels() {
            prop_assert_eq!(&a.x[l], &b.x[l]);
            prop_assert_eq!(&a.s[l], &b.s[l]);
        }
        prop_assert!(a.x[0] != c.x[0]);
    }

    /// Incoherent (over-complete) dictionaries: with coherence mu, decoding
    /// by V^T x errs on unit i by |sum_{j != i} <v_i, v_j> s_j|, which is at
    /// most mu * (||s||_1 - s_i) — the incoherence bound (direct mode, no
    /// noise, so x = V s exactly).
    #[test]
    fn incoherent_decoding_obeys_bound(seed in strategies::seed(), extra in 1usize..=12, k in 1usize..=4) {
        let raw = RawTarget {
            levels: 2,
            fanout: 4,
            patch_side: 4,
            widths: OneOrMany::One(16 + extra as i64),
            latent_dim: 16,
            active: OneOrMany::One(k as i64),
            output: "direct".into(),
            max_coherence: 0.5,
            calibration_patches: 4000,
            seed: (seed >> 1) as i64,
            ..RawTarget::default()
        };
        let t = build(&raw);
        prop_assume!(t.is_some());
        let t = t.unwrap();
        let batch = t.sample(64, &mut rand_chacha(seed));
        for l in 1..=2 {
            let v = &t.levels[l - 1].v;
            let mu = fsrgan::target::coherence(v);
            prop_assert!(mu <= 0.5 + 1e-12);
            let s = &batch.s[l - 1];
            let s_hat = v.transpose() * &batch.x[l - 1];
            for (col_hat, col) in s_hat.column_iter().zip(s.column_iter()) {
                let l1: f64 = col.iter().sum();
                for i in 0..col.len() {
                    let bound = mu * (l1 - col[i]);
                    prop_assert!((col_hat[i] - col[i]).abs() <= bound + 1e-12);
                }
            }
        }
    }

    /// Arbitrary values in any target field never panic: they are either
    /// accepted or rejected with an error.
    #[test]
    fn arbitrary_fields_never_panic(field in 0usize..14, value in -100i64..100, f in -2.0f64..2.0) {
        let names = ["levels", "root_patches", "fanout", "patch_side", "channels", "widths",
            "latent_dim", "active", "max_coherence", "noise_sigma", "lambda",
            "calibration_patches", "seed", "output"];
        let name = names[field];
        let val = match name {
            "max_coherence" | "noise_sigma" | "lambda" => format!("{f}"),
            "output" => format!("\"{value}\""),
            _ => format!("{value}"),
        };
        let set = format!("target.{name}={val}");
        if let Ok(raw) = parse_raw("", "t", &[set])
            && let Ok(cfg) = raw.check()
            && cfg.target.geometry.patches(cfg.target.geometry.levels) * cfg.target.geometry.patch_dim() <= 4096
        {
            let _ = Target::new(&cfg.target);
        }
    }
}

/// The default config realises a healthy target: every unit alive, none
/// always on, pooling exact (the "done when" of the foundation issue).
#[test]
fn default_target_is_healthy() {
    let spec = parse_raw("", "defaults", &[]).unwrap().check().unwrap().target;
    let t = Target::new(&spec).unwrap();
    let d = fsrgan::target::describe(&t, 2000, &mut rand_chacha(1));
    for lv in &d {
        assert!(lv.dead_units.is_empty() && lv.always_on_units.is_empty());
        assert!(lv.pooling_error <= 1e-12);
    }
}

/// The shipped default.toml is the built-in default.
#[test]
fn default_toml_matches_builtin_defaults() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/default.toml")).unwrap();
    let file = parse_raw(&text, "default.toml", &[]).unwrap().check().unwrap();
    let builtin = parse_raw("", "defaults", &[]).unwrap().check().unwrap();
    assert_eq!(file.target, builtin.target);
}

/// The shipped `[learner]` and `[training]` sections are the built-in recipe
/// (issue 5: `gan::LearnerSpec::default`, `gan::TrainingSpec::default`).
#[test]
fn default_toml_learner_and_training_match_builtin_defaults() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/default.toml")).unwrap();
    assert!(text.contains("[learner]") && text.contains("[training]"));
    let file = parse_raw(&text, "default.toml", &[]).unwrap().check().unwrap();
    let builtin = parse_raw("", "defaults", &[]).unwrap().check().unwrap();
    assert_eq!(file.learner, builtin.learner);
    assert_eq!(file.training, builtin.training);
    assert_eq!(builtin.learner, fsrgan::gan::LearnerSpec::default());
    assert_eq!(builtin.training, fsrgan::gan::TrainingSpec::default());
}

/// Every validation rule of `[target]` rejects with its own variant.
#[test]
fn each_target_rule_has_its_own_error() {
    use ConfigError::*;
    // A case is one or more `;`-separated overrides of the defaults.
    let check = |set: &str| {
        let sets: Vec<String> = set.split(';').map(String::from).collect();
        parse_raw("", "t", &sets).and_then(|r| r.check()).unwrap_err()
    };
    type Case = (&'static str, fn(&ConfigError) -> bool);
    let cases: Vec<Case> = vec![
        ("target.levels=0", |e| {
            matches!(
                e,
                NotPositive {
                    field: "target.levels",
                    ..
                }
            )
        }),
        ("target.levels=9", |e| matches!(e, TooManyLevels { .. })),
        ("target.fanout=3", |e| matches!(e, Fanout { value: 3 })),
        ("target.root_patches=2", |e| {
            matches!(e, RootNotSquare { value: 2 })
        }),
        ("target.root_patches=0", |e| {
            matches!(
                e,
                NotPositive {
                    field: "target.root_patches",
                    ..
                }
            )
        }),
        ("target.patch_side=-4", |e| {
            matches!(
                e,
                NotPositive {
                    field: "target.patch_side",
                    ..
                }
            )
        }),
        ("target.channels=5", |e| matches!(e, Channels { value: 5 })),
        ("target.output=\"wavelet\"", |e| matches!(e, OutputMode { .. })),
        ("target.fanout=1", |e| matches!(e, PyramidFanout { value: 1 })),
        ("target.patch_side=3", |e| {
            matches!(e, PyramidOddSide { value: 3 })
        }),
        ("target.patch_side=2048", |e| matches!(e, TooLarge { .. })),
        ("target.widths=[12, 12]", |e| {
            matches!(
                e,
                PerLevelLength {
                    field: "target.widths",
                    ..
                }
            )
        }),
        ("target.widths=[12, 0, 12]", |e| {
            matches!(e, WidthZero { level: 2, .. })
        }),
        ("target.active=13", |e| {
            matches!(
                e,
                ActiveRange {
                    level: 1,
                    value: 13,
                    ..
                }
            )
        }),
        ("target.active=0", |e| matches!(e, ActiveRange { value: 0, .. })),
        ("target.active=[3, 3]", |e| {
            matches!(
                e,
                PerLevelLength {
                    field: "target.active",
                    ..
                }
            )
        }),
        ("target.latent_dim=0", |e| {
            matches!(
                e,
                NotPositive {
                    field: "target.latent_dim",
                    ..
                }
            )
        }),
        ("target.max_coherence=1.5", |e| matches!(e, MaxCoherence { .. })),
        ("target.widths=40;target.max_coherence=0.2", |e| {
            matches!(e, WidthExceedsSubspace { level: 2, .. })
        }),
        ("target.noise_sigma=-1.0", |e| matches!(e, NoiseSigma { .. })),
        ("target.lambda=1.5", |e| matches!(e, Lambda { .. })),
        ("target.calibration_patches=10", |e| {
            matches!(e, CalibrationTooSmall { value: 10 })
        }),
        ("target.seed=-1", |e| matches!(e, NegativeSeed { .. })),
        ("target.colour=1", |e| matches!(e, Parse { .. })),
        ("target.levels=\"three\"", |e| matches!(e, Parse { .. })),
        ("targetlevels", |e| matches!(e, SetSyntax { .. })),
    ];
    for (set, ok) in cases {
        let e = check(set);
        assert!(ok(&e), "{set}: unexpected error {e:?}");
        assert!(
            !e.to_string().contains('\n'),
            "{set}: message is not one line: {e}"
        );
    }
}

/// Dead units are caught at construction: one active unit among 12 with a
/// 1-dim latent seed leaves level-2 units that almost never fire; whatever
/// the draw, construction either succeeds with every unit alive or fails
/// with a clear error (never a panic, never a silent dead unit).
#[test]
fn construction_reports_dead_units_or_none_exist() {
    for seed in 0..5 {
        let raw = RawTarget {
            widths: OneOrMany::One(12),
            active: OneOrMany::One(1),
            latent_dim: 1,
            calibration_patches: 200,
            seed,
            ..RawTarget::default()
        };
        match Target::new(&raw.check().unwrap()) {
            Ok(t) => {
                for lv in &t.levels {
                    assert!(lv.rate.iter().all(|&r| r > 0.0 && r < 1.0));
                }
            }
            Err(e) => assert!(e.to_string().contains("target level")),
        }
    }
}

/// A dictionary that cannot be drawn within the coherence bound is a clear
/// construction error; one that can is within the bound.
#[test]
fn coherence_bound_is_met_or_reported() {
    use fsrgan::target::TargetError;
    for (width, mu) in [(40, 0.3), (16, 0.6)] {
        let sets = vec![
            format!("target.widths={width}"),
            format!("target.max_coherence={mu}"),
        ];
        let spec = parse_raw("", "t", &sets).unwrap().check().unwrap().target;
        match Target::new(&spec) {
            Ok(t) => {
                for lv in &t.levels {
                    assert!(fsrgan::target::coherence(&lv.v) <= mu + 1e-12);
                }
            }
            Err(e) => assert!(matches!(e, TargetError::CoherenceUnreachable { .. }), "{e}"),
        }
    }
}
