//! One SGDA iteration of fsrgan, timed or dumped (issue 8: the PyTorch peer
//! comparison in `benches/peer/`).
//!
//! ```text
//! cargo run --release --example sgda_step -- time SIZE [ITERS] [WARMUP]
//! cargo run --release --example sgda_step -- dump SIZE [ITERS] > case.json
//! ```
//!
//! `SIZE` is one of the peer sizes (`small`, `default`, `large`: 3 levels
//! with 1, 4 and 16 patches, pyramid output, real data from a pre-drawn pool
//! of 512 samples) or the engine's own benchmark sizes (`engine`: the
//! default config with fresh target samples; `engine-large`: benches/sgda.rs's
//! large direct-output case). `time` prints one JSON line with the median
//! and every per-iteration time in ms. `dump` prints, as JSON, the initial
//! parameters, every iteration's real batch, latent batches (D step, then G
//! step), step sizes and losses, and the parameters after the iterations:
//! what `benches/peer/check.py` feeds to the PyTorch peer.

use std::time::Instant;

use fsrgan::config::parse_raw;
use fsrgan::gan::{DataSource, Generator, Trainer};
use fsrgan::nn;
use fsrgan::target::{Target, rand_chacha};
use nalgebra::DMatrix;
use rand::rngs::ChaCha8Rng;
use serde_json::{Value, json};

#[path = "../benches/common/sizes.rs"]
mod sizes;

/// `--set` overrides of each size (see the module docs).
fn sets(size: &str) -> Vec<&'static str> {
    let peer = |m: &'static [&'static str]| {
        let mut v = vec![
            "target.levels=3",
            "target.root_patches=1",
            "target.fanout=4",
            "target.output=\"pyramid\"",
            "target.max_coherence=0.9",
            "target.calibration_patches=2000",
            "training.train_size=512",
            "training.iterations=30000",
            // The peer feeds its discriminators raw pixels.
            "learner.d_input=\"raw\"",
            // ... one R1 strength to every level, trains G on the total
            // gradient, never restarts units and never refits maps.
            "training.gamma=1.0",
            "training.level_grads=\"all\"",
            "training.restarts.until=0",
            "training.refit.at=[]",
        ];
        v.extend_from_slice(m);
        v
    };
    match size {
        "small" => peer(&[
            "target.widths=16",
            "target.latent_dim=16",
            "target.active=3",
            "target.patch_side=4",
            "learner.d_hidden=32",
            "training.batch=64",
        ]),
        "default" => peer(&[
            "target.widths=32",
            "target.latent_dim=32",
            "target.active=4",
            "target.patch_side=4",
            "learner.d_hidden=64",
            "training.batch=128",
        ]),
        "large" => peer(&[
            "target.widths=256",
            "target.latent_dim=256",
            "target.active=8",
            "target.patch_side=8",
            "learner.d_hidden=512",
            "training.batch=256",
        ]),
        "engine" => vec![],
        "engine-large" => sizes::LARGE.to_vec(),
        other => {
            eprintln!("unknown size {other:?}: small, default, large, engine, engine-large");
            std::process::exit(2);
        }
    }
}

fn trainer(size: &str, real: Option<Vec<DMatrix<f64>>>) -> (Trainer, ChaCha8Rng) {
    let sets: Vec<String> = sets(size).iter().map(|s| s.to_string()).collect();
    let cfg = parse_raw("", "sgda_step", &sets)
        .expect("config parses")
        .check()
        .expect("config valid");
    let target = Target::new(&cfg.target).expect("target builds");
    let mut rng = rand_chacha(1);
    let mut tr = Trainer::for_target(&cfg.learner, &cfg.training, &target, &mut rng).expect("trainer");
    if let Some(real) = real {
        // A sampler that replays fixed batches and draws nothing from the rng.
        tr.set_data(DataSource::Sampler(Box::new(move |_, _| real.clone())));
    }
    (tr, rng)
}

fn mat(m: &DMatrix<f64>) -> Value {
    json!({"rows": m.nrows(), "cols": m.ncols(), "data": m.as_slice()})
}

fn params(tr: &Trainer) -> Value {
    let Generator::Fsr(g) = &tr.generator else {
        panic!("fsr generator expected")
    };
    let gen_levels: Vec<Value> = g
        .levels
        .iter()
        .map(|lv| json!({"w": mat(&lv.w), "b": lv.b.as_slice(), "v": mat(&lv.v)}))
        .collect();
    let discs: Vec<Value> = tr
        .discs
        .iter()
        .map(|d| {
            let c = &d.critic;
            json!({
                "level": d.level, "patches": d.patches, "parent": d.parent, "positions": d.positions,
                "w": mat(&c.hidden.w), "b": c.hidden.b.as_slice(),
                "a": c.out.w.as_slice(), "c": c.out.b[0],
            })
        })
        .collect();
    json!({"generator": gen_levels, "discs": discs})
}

fn dump(size: &str, iters: usize) {
    let (probe, _) = trainer(size, None);
    let Generator::Fsr(g) = &probe.generator else {
        panic!("fsr generator expected")
    };
    let geo = g.geometry.clone();
    let (m0, b) = (g.latent_dim, probe.spec.batch);
    let spec = probe.spec.clone();
    // Real batches from a fresh-sample target, drawn once and replayed.
    let sets: Vec<String> = sets(size).iter().map(|s| s.to_string()).collect();
    let cfg = parse_raw("", "sgda_step", &sets).unwrap().check().unwrap();
    let target = Target::new(&cfg.target).unwrap();
    let mut data_rng = rand_chacha(99);
    let mut out_iters = Vec::new();
    let mut tr: Option<(Trainer, ChaCha8Rng)> = None;
    let mut initial = Value::Null;
    // The same construction again: its rng is in the state the trainer's
    // starts from; each step draws z (D step) then z (G step) from it (no
    // noise inputs, and the replaying sampler draws nothing), so replaying
    // those draws on this shadow yields the step's latents.
    let (_, mut shadow) = trainer(size, None);
    for t in 0..iters {
        let real = target.sample(b, &mut data_rng).x;
        let (mut trn, mut rng) = match tr.take() {
            Some(x) => x,
            None => {
                let (trn, rng) = trainer(size, Some(real.clone()));
                initial = params(&trn);
                (trn, rng)
            }
        };
        trn.set_data(DataSource::Sampler(Box::new({
            let real = real.clone();
            move |_, _| real.clone()
        })));
        let z_d = nn::randn(m0, b, 1.0, &mut shadow);
        let z_g = nn::randn(m0, b, 1.0, &mut shadow);
        let lr_d = spec.schedule.lr(spec.lr_d, t, spec.iterations);
        let lr_g = spec.schedule.lr(spec.lr_g, t, spec.iterations);
        let losses = trn.step(&mut rng).clone();
        out_iters.push(json!({
            "real": real.iter().map(mat).collect::<Vec<_>>(),
            "z_d": mat(&z_d), "z_g": mat(&z_g), "lr_d": lr_d, "lr_g": lr_g,
            "loss_d": losses.d, "loss_g": losses.g, "penalty": losses.penalty,
        }));
        tr = Some((trn, rng));
    }
    let (trn, _) = tr.expect("at least one iteration");
    let (beta1, beta2, eps) = match spec.optimizer {
        fsrgan::gan::OptimKind::Adam { beta1, beta2, eps } => (beta1, beta2, eps),
        _ => panic!("Adam expected"),
    };
    let out = json!({
        "size": size,
        "geometry": {"levels": geo.levels, "root_patches": geo.root_patches, "fanout": geo.fanout,
                     "side": geo.side, "channels": geo.channels, "n": geo.patch_dim()},
        "up": mat(&geo.upsample_stack()),
        "detail": mat(&geo.detail_basis()),
        "batch": b, "latent_dim": m0, "gamma": spec.gamma[0],
        "adam": {"beta1": beta1, "beta2": beta2, "eps": eps},
        "initial": initial, "iterations": out_iters, "final": params(&trn),
    });
    println!("{out}");
}

fn time(size: &str, iters: usize, warmup: usize) {
    let (mut tr, mut rng) = trainer(size, None);
    for _ in 0..warmup {
        tr.step(&mut rng);
    }
    let mut ms = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t0 = Instant::now();
        std::hint::black_box(tr.step(&mut rng));
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "{}",
        json!({"impl": "fsrgan", "dtype": "f64", "size": size, "median_ms": median, "ms": ms})
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("time") => time(args.get(1).map_or("default", |s| s), arg(2, 50), arg(3, 5)),
        Some("dump") => dump(args.get(1).map_or("small", |s| s), arg(2, 3)),
        _ => {
            eprintln!("usage: sgda_step time SIZE [ITERS] [WARMUP] | dump SIZE [ITERS]");
            std::process::exit(2);
        }
    }
}
