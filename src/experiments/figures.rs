//! Figures of one run (SPEC §6): learning curves per level with `t_l`
//! marked, real vs generated samples at every resolution, true vs learned
//! dictionaries in matched order. Turns run outputs into the plain data the
//! `plots` module draws (data flows experiments → plots).

use std::path::{Path, PathBuf};

use crate::gan::RunStatus;
use crate::gan::generator::Generator;
use crate::metrics;
use crate::plots::{self, Image, LineChart, PlotError, Range, Series};
use crate::target::{Geometry, Target, rand_chacha};

use super::run::{EvalRow, Summary};

/// Pixels of sample `b` at level `l` as a plot image.
pub fn level_image(g: &Geometry, l: usize, x: &nalgebra::DMatrix<f64>, b: usize) -> Image {
    let (h, w) = g.image_dims(l);
    Image {
        height: h,
        width: w,
        channels: g.channels,
        data: g.to_image(l, x, b),
    }
}

/// One dictionary column as a patch image.
pub fn atom_image(g: &Geometry, v: &nalgebra::DMatrix<f64>, j: usize) -> Image {
    Image {
        height: g.side,
        width: g.side,
        channels: g.channels,
        data: v.column(j).iter().copied().collect(),
    }
}

/// Learning curves: min matched cosine, SR error and MMD² (with its
/// floor) per level against iterations, `t_l` marked.
pub fn learning_curves(path: &Path, trace: &[EvalRow], summary: &Summary) -> Result<(), PlotError> {
    let levels = trace.first().map(|r| r.levels.len()).unwrap_or(0);
    let series = |f: &dyn Fn(&metrics::LevelMetrics) -> Option<f64>, from: usize| -> Vec<Series> {
        (from..=levels)
            .map(|l| Series {
                name: format!("level {l}"),
                points: trace
                    .iter()
                    .filter_map(|r| f(&r.levels[l - 1]).map(|v| (r.iteration as f64, v)))
                    .collect(),
            })
            .collect()
    };
    let marks: Vec<(f64, String)> = summary
        .levels
        .iter()
        .map(|m| match m.t_learned {
            Some(t) => (t as f64, format!("t{}", m.level)),
            None => (f64::NAN, format!("t{} never", m.level)),
        })
        .collect();
    // Linear axis: the unbiased MMD² is negative around 0 when matched.
    let mut mmd = series(&|m| Some(m.mmd2), 1);
    mmd.extend((1..=levels).map(|l| {
        Series {
            name: format!("floor {l}"),
            points: trace
                .iter()
                .map(|r| (r.iteration as f64, r.levels[l - 1].mmd2_floor))
                .collect(),
        }
    }));
    let panels = vec![
        LineChart {
            title: "feature recovery".into(),
            x_label: "iteration".into(),
            y_label: "min matched cosine".into(),
            series: series(&|m| Some(m.min_cos), 1),
            vlines: marks.clone(),
            hlines: vec![(metrics::SUCCESS_COS, "success 0.95".into())],
            ..Default::default()
        },
        LineChart {
            title: "super-resolution".into(),
            x_label: "iteration".into(),
            y_label: "relative SR error".into(),
            // Level 1 has no SR error: its empty series keeps the colours
            // of levels 2.. the same as in the other panels.
            series: series(&|m| m.sr_error, 1),
            vlines: marks.clone(),
            hlines: vec![(metrics::SUCCESS_SR, "success 0.1".into())],
            log_y: true,
            ..Default::default()
        },
        LineChart {
            title: "distribution distance".into(),
            x_label: "iteration".into(),
            y_label: "MMD^2 (gen vs real; floor = real vs real)".into(),
            series: mmd,
            ..Default::default()
        },
    ];
    plots::panel_lines(
        path,
        "Learning curves per level (t_l = level stays recovered)",
        &panels,
        3,
    )
}

/// Real (top rows) and generated (bottom rows) samples at every level.
pub fn real_vs_generated(
    path: &Path,
    target: &Target,
    generator: &Generator,
    rows: usize,
    seed: u64,
) -> Result<(), PlotError> {
    let g = &target.spec.geometry;
    let mut rng = rand_chacha(seed ^ 0xF16);
    let real = target.sample(rows, &mut rng);
    let fake = generator.sample(rows, &mut rng);
    let mut grid = Vec::new();
    let mut titles = Vec::new();
    for (name, xs) in [("real", &real.x), ("generated", &fake.x)] {
        for b in 0..rows {
            grid.push((1..=g.levels).map(|l| level_image(g, l, &xs[l - 1], b)).collect());
            titles.push(format!("{name} {b}"));
        }
    }
    let cols: Vec<String> = (1..=g.levels)
        .map(|l| {
            let (h, w) = g.image_dims(l);
            format!("level {l} ({h}x{w})")
        })
        .collect();
    plots::image_grid(
        path,
        "Real vs generated samples",
        &grid,
        &cols,
        &titles,
        Range::Auto,
    )
}

/// True (top) vs learned (bottom) dictionary of one level, in matched order.
pub fn dictionaries(
    path: &Path,
    target: &Target,
    generator: &Generator,
    level: usize,
) -> Result<(), PlotError> {
    let g = &target.spec.geometry;
    let Some(fsr) = generator.as_fsr() else {
        return Err(PlotError::InvalidInput(
            "dictionaries need an fsr generator".into(),
        ));
    };
    let v_true = &target.levels[level - 1].v;
    let v_learned = fsr.dictionary(level);
    let rec = metrics::feature_recovery(v_true, v_learned, metrics::DEFAULT_THETA)
        .map_err(|e| PlotError::InvalidInput(e.to_string()))?;
    let true_atoms: Vec<Image> = (0..v_true.ncols()).map(|j| atom_image(g, v_true, j)).collect();
    let mut learned = Vec::new();
    let mut labels = Vec::new();
    for (i, m) in rec.matching.learned_of_true.iter().enumerate() {
        match m {
            Some(j) => {
                learned.push(atom_image(g, v_learned, *j));
                labels.push(format!("{:.2}", rec.matching.cos_per_true()[i]));
            }
            None => {
                learned.push(Image {
                    height: g.side,
                    width: g.side,
                    channels: g.channels,
                    data: vec![0.0; g.patch_dim()],
                });
                labels.push("none".into());
            }
        }
    }
    plots::dictionary_pairs(
        path,
        &format!("Level {level}: true atoms (top) vs learned (bottom), matched cosine"),
        &true_atoms,
        &learned,
        &labels,
    )
}

/// Every figure of a run, as PNG and SVG, into `dir`; returns the paths.
pub fn run_figures(
    dir: &Path,
    target: &Target,
    generator: &Generator,
    trace: &[EvalRow],
    summary: &Summary,
) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    for ext in ["png", "svg"] {
        if !trace.is_empty() {
            let p = dir.join(format!("learning_curves.{ext}"));
            learning_curves(&p, trace, summary)?;
            written.push(p);
        }
        // A diverged run's generator holds non-finite parameters: only its
        // learning curves (up to the divergence) are drawn.
        if summary.status != RunStatus::Completed {
            continue;
        }
        let p = dir.join(format!("samples.{ext}"));
        real_vs_generated(&p, target, generator, 4, summary.seed)?;
        written.push(p);
        for l in 1..=target.num_levels() {
            let p = dir.join(format!("dictionary_level{l}.{ext}"));
            dictionaries(&p, target, generator, l)?;
            written.push(p);
        }
    }
    Ok(written)
}
