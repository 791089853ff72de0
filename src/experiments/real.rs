//! Training on real multi-resolution data (issue 7, claim C7): the `fsr`
//! learner with per-level discriminators on a `data::MultiRes` set (digits,
//! photograph crops), measured per level by MMD² against held-out images
//! (next to the held-out halves' own floor), plus the learned dictionaries'
//! localisation / orientation against random atoms of the same subspace.
//! Also the learner's sparse codes for `fsrgan check-fsr --checkpoint`.

use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::config::Config;
use crate::data::MultiRes;
use crate::gan::generator::{FsrGenerator, Generator};
use crate::gan::trainer::{EvalPoint, RunStatus, Trainer};
use crate::metrics::{self, AtomStats, DistanceConfig};
use crate::plots::{self, Image, PlotError, Range};
use crate::target::{Geometry, geometry::flat, rand_chacha};

use super::figures::{atom_image, level_image};
use super::run::{HeldoutSplit, RunError};

/// Per-level result on real data.
#[derive(Debug, Clone, Serialize)]
pub struct RealLevel {
    pub level: usize,
    pub mmd2: f64,
    pub mmd2_floor: f64,
    pub p_value: f64,
    pub sliced_w1: f64,
    pub sliced_w1_floor: f64,
    pub learned_atoms: AtomStats,
    pub random_atoms: AtomStats,
}

/// `summary.json` of a real-data run.
#[derive(Debug, Clone, Serialize)]
pub struct RealSummary {
    pub status: RunStatus,
    pub iterations: usize,
    pub wall_seconds: f64,
    pub seed: u64,
    pub train_samples: usize,
    pub heldout_samples: usize,
    pub gradient_evaluations: u64,
    pub diverged_at: Option<usize>,
    pub levels: Vec<RealLevel>,
}

pub struct RealOutput {
    pub summary: RealSummary,
    pub metrics_csv: String,
    pub generator: Generator,
    /// Held-out images (for figures).
    pub heldout: MultiRes,
}

/// `m` random unit atoms in the subspace a level's atoms live in (full
/// patch space at level 1, the detail subspace above).
fn random_atoms(g: &Geometry, level: usize, m: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = rand_chacha(seed);
    let basis = if level >= 2 {
        g.detail_basis()
    } else {
        DMatrix::identity(g.patch_dim(), g.patch_dim())
    };
    let coef = DMatrix::from_fn(basis.ncols(), m, |_, _| StandardNormal.sample(&mut rng));
    let mut v = basis * coef;
    for mut c in v.column_iter_mut() {
        let nrm = c.norm();
        if nrm > 0.0 {
            c /= nrm;
        }
    }
    v
}

/// Trains the `fsr` learner on `data` and measures it (see module docs).
pub fn run_data(cfg: &Config, data: &MultiRes, seed: u64, quiet: bool) -> Result<RealOutput, RunError> {
    let g = &data.geometry;
    let n = data.samples();
    let mut rng = rand_chacha(seed);
    let split = HeldoutSplit::new(n, &mut rng)?;
    let (half, n_hold) = (split.a.len(), split.heldout());
    let hold_a = data.select(&split.a);
    let hold_b = data.select(&split.b);
    let train = data.select(&split.train);
    let widths = &cfg.target.widths;
    let mut trainer = Trainer::for_multires(
        &cfg.learner,
        &cfg.training,
        g,
        widths,
        cfg.target.latent_dim,
        train.x,
        &mut rng,
    )?;
    let flats = |m: &MultiRes| -> Vec<DMatrix<f64>> {
        (1..=g.levels)
            .map(|l| flat(&m.x[l - 1], g.patches(l)).into_owned())
            .collect()
    };
    let (fa, fb) = (flats(&hold_a), flats(&hold_b));
    let mut eval_rng = rand_chacha(seed ^ 0xE7A1_5EED_0000_0003);
    let cfg_mid = DistanceConfig {
        permutations: 100,
        ..DistanceConfig::default()
    };
    let mut csv = String::from("iteration,grad_evals");
    for l in 1..=g.levels {
        csv.push_str(&format!(
            ",l{l}_mmd2,l{l}_mmd2_floor,l{l}_p_value,l{l}_d_loss,l{l}_g_loss"
        ));
    }
    csv.push('\n');
    let mut failure = None;
    let result = trainer.run(&mut rng, quiet, |p: &EvalPoint| {
        let fake = p.generator.sample(half, &mut eval_rng);
        let mut row = format!("{},{}", p.iteration, p.grad_evals);
        for l in 1..=g.levels {
            let gf = flat(&fake.x[l - 1], g.patches(l)).into_owned();
            match metrics::distance_report(&gf, &fa[l - 1], &fb[l - 1], &cfg_mid, &mut eval_rng) {
                Ok(d) => {
                    let i = p.disc_levels.iter().position(|&x| x == l);
                    let dl = i.and_then(|i| p.losses.d.get(i).copied()).unwrap_or(f64::NAN);
                    let gl = i.and_then(|i| p.losses.g.get(i).copied()).unwrap_or(f64::NAN);
                    row.push_str(&format!(",{},{},{},{dl},{gl}", d.mmd2, d.mmd2_floor, d.p_value));
                }
                Err(e) => {
                    failure = Some(e);
                    return true;
                }
            }
        }
        csv.push_str(&row);
        csv.push('\n');
        false
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    let generator = trainer.model().clone();
    let fsr = generator.as_fsr().expect("for_multires builds an fsr generator");
    let fake = generator.sample(half, &mut eval_rng);
    let mut levels = Vec::new();
    for l in 1..=g.levels {
        let gf = flat(&fake.x[l - 1], g.patches(l)).into_owned();
        let d = metrics::distance_report(
            &gf,
            &fa[l - 1],
            &fb[l - 1],
            &DistanceConfig::default(),
            &mut eval_rng,
        )?;
        let v = fsr.dictionary(l);
        levels.push(RealLevel {
            level: l,
            mmd2: d.mmd2,
            mmd2_floor: d.mmd2_floor,
            p_value: d.p_value,
            sliced_w1: d.sliced_w1,
            sliced_w1_floor: d.sliced_w1_floor,
            learned_atoms: metrics::atom_stats(v, g.side, g.channels),
            random_atoms: metrics::atom_stats(&random_atoms(g, l, 1000, seed ^ l as u64), g.side, g.channels),
        });
    }
    Ok(RealOutput {
        summary: RealSummary {
            status: result.status,
            iterations: result.iterations,
            wall_seconds: result.wall_seconds,
            seed,
            train_samples: n - n_hold,
            heldout_samples: n_hold,
            gradient_evaluations: result.grad_evals,
            diverged_at: result.diverged_at,
            levels,
        },
        metrics_csv: csv,
        generator,
        heldout: hold_a,
    })
}

/// The learner's sparse code of coarse patches at level `level`:
/// `ReLU(V_l^+ D X)`, its reading ([`FsrGenerator::decode`]) clipped at 0.
/// For `l >= 2` the learner's `V_l` lies in the detail subspace, orthogonal
/// to the upsampled parent, so the detail projection `D` changes the
/// reading only by rounding.
pub fn learner_codes(fsr: &FsrGenerator, level: usize, patches: &DMatrix<f64>) -> DMatrix<f64> {
    fsr.decode(level, patches).map(|a| a.max(0.0))
}

/// Figures of a real-data run into `dir` (PNG and SVG): real vs generated
/// images at every level, and each level's learned dictionary with its
/// localisation / orientation numbers.
pub fn real_figures(dir: &std::path::Path, out: &RealOutput, seed: u64) -> Result<(), PlotError> {
    let g = &out.heldout.geometry;
    let fsr = out.generator.as_fsr().expect("fsr generator");
    let rows = 4.min(out.heldout.samples());
    let fake = out.generator.sample(rows, &mut rand_chacha(seed ^ 0xF17));
    let mut grid: Vec<Vec<Image>> = Vec::new();
    let mut titles = Vec::new();
    for b in 0..rows {
        grid.push(
            (1..=g.levels)
                .map(|l| level_image(g, l, &out.heldout.x[l - 1], b))
                .collect(),
        );
        titles.push(format!("real {b}"));
    }
    for b in 0..rows {
        grid.push(
            (1..=g.levels)
                .map(|l| level_image(g, l, &fake.x[l - 1], b))
                .collect(),
        );
        titles.push(format!("generated {b}"));
    }
    let cols: Vec<String> = (1..=g.levels)
        .map(|l| {
            let (h, w) = g.image_dims(l);
            format!("level {l} ({h}x{w})")
        })
        .collect();
    for ext in ["png", "svg"] {
        plots::image_grid(
            dir.join(format!("samples.{ext}")),
            "Held-out real vs generated images",
            &grid,
            &cols,
            &titles,
            Range::Auto,
        )?;
        for (l, lv) in out.summary.levels.iter().enumerate() {
            let v = fsr.dictionary(l + 1);
            let atoms: Vec<Image> = (0..v.ncols()).map(|j| atom_image(g, v, j)).collect();
            let labels: Vec<String> = (0..v.ncols())
                .map(|j| {
                    let a: Vec<f64> = v.column(j).iter().copied().collect();
                    let (lo, or) = metrics::atom_descriptors(&a, g.side, g.channels);
                    format!("L{lo:.2} O{or:.2}")
                })
                .collect();
            plots::dictionary_tiles(
                dir.join(format!("dictionary_level{}.{ext}", l + 1)),
                &format!(
                    "Level {} learned atoms: localisation {:.2} (random {:.2}), orientation {:.2} (random {:.2})",
                    l + 1,
                    lv.learned_atoms.localisation,
                    lv.random_atoms.localisation,
                    lv.learned_atoms.orientation,
                    lv.random_atoms.orientation
                ),
                &atoms,
                0,
                &labels,
            )?;
        }
    }
    Ok(())
}
