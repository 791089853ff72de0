//! The claims report (issue 6; SPEC §4 claims C1–C6, §3 measurements, §6
//! `report`): merges sweep results files (shards; deduplicated by cell),
//! computes each claim's numbers from the cells, decides each verdict by
//! the rule stated in [`RULES`] (written before any result was seen and
//! never tuned to one), and writes `DIR/claims.md`, `DIR/claims.json` and
//! the figures (PNG + SVG, via `plots`).
//!
//! Which cells measure which claim is read from each grid's axes:
//! - no axes → the base setting (C1);
//! - one size axis (`target.widths`, `target.patch_side`, `target.channels`,
//!   `target.levels`, `target.root_patches`, alone or linked with other
//!   paths by `+`) and `training.train_size` → N* per size (C2);
//! - one size axis alone, fresh samples (`train_size = 0`) → T* per size (C3);
//! - `training.levels` alone → joint vs top-only (C5);
//! - `target.lambda` alone → the lambda sweep (C6);
//! - C4 pools every distinct run (config hash, seed) with lambda = 0, joint
//!   training and >= 2 levels.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::fits::{self, Preferred, ScalingFit, TStar};
use super::sweep::{CellRecord, SweepError, read_results};
use crate::plots::{self, BarChart, BarGroup, FitChart, FitLine, LineChart, PlotError, Series};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error("--results: no parsable result line in {files}")]
    NoRecords { files: String },
    #[error("figure: {0}")]
    Plot(#[from] PlotError),
    #[error("cannot write {path}: {reason}")]
    Io { path: String, reason: String },
}

/// A claim's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "INCONCLUSIVE")]
    Inconclusive,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
        })
    }
}

/// The decision rules, printed under the table (footnotes). Stated before
/// the results; the code below implements exactly these.
pub const RULES: &str = "\
1. **C1** (base setting: the grid without axes; if there is none, the lambda = 0, joint, fresh-sample config with the most seeds). A run succeeds when it completes and some evaluation within T_max passes the success test (every level: all true features matched at cosine >= 0.95, SR error <= 0.1, MMD test not rejected at 5%). PASS: success rate >= 2/3 and the lower 95% Wilson bound > 1/2. FAIL: the upper Wilson bound < 2/3. Otherwise INCONCLUSIVE.\n\
2. **C2** (one row per size axis). N*(eps) at each size = the smallest N on the grid at which >= 2/3 of the seeds succeed within T_max; if no N reaches 2/3 the point is censored (N* > largest N) and left out of the fit. Power law log N* = a + b log x and exponential log N* = a + c x are fitted by least squares on log N*; b's 95% CI is from Student's t with n - 2 dof. PASS: >= 3 measured points, no censored point, power-law R² exceeds exponential R² by >= 0.02, and b's CI is finite. FAIL: >= 3 measured points and exponential R² exceeds power-law R² by >= 0.02 with an increasing exponential (rate c > 0). Otherwise INCONCLUSIVE (too few points, censored points, R² within 0.02, or a better-fitting exponential that decreases).\n\
3. **C3** (one row per size axis). T*(eps) at each size = the median over seeds of the iterations to success with fresh samples, a failed seed counting as +inf; defined only when >= 2/3 of the seeds succeed, otherwise censored (T* > T_max) and left out of the fit. Same fits and the same PASS / FAIL / INCONCLUSIVE rule as C2. The degrees in gradient evaluations and in seconds are reported alongside, not used for the verdict.\n\
4. **C4** (every distinct run with lambda = 0, joint training, >= 2 levels, completed, >= 2 levels learned). Forward = t_1 <= t_2 <= ... over the learned levels (ties count as forward; the strict share is shown too). PASS: forward share >= 2/3 and lower Wilson bound > 1/2. FAIL: upper Wilson bound < 1/2. Otherwise INCONCLUSIVE.\n\
5. **C5** (the training.levels grid: joint vs top-only). PASS: the Newcombe 95% interval of p(joint) - p(top-only) lies above 0, or T*(top-only) >= 2 T*(joint), where a censored T* counts as > T_max (so it qualifies when T_max >= 2 T*(joint)). FAIL: top-only is at least as good on both measures: p(top-only) >= p(joint) and T*(top-only) measured and <= T*(joint). Otherwise INCONCLUSIVE (including neither schedule reaching a T*).\n\
6. **C6** (the target.lambda grid; compares the smallest lambda, 0, with the largest, 1; the middle values are shown). Same rule as C5 with lambda = 0 in the role of joint and lambda = 1 in the role of top-only.\n\
7. Cells with status `error` (invalid config, target not buildable) are left out of every count and listed; diverged cells count as failures.";

/// One row of the claims table.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimRow {
    pub id: String,
    pub claim: String,
    pub measurement: String,
    pub numbers: String,
    pub seeds: String,
    pub verdict: Verdict,
    /// Why this verdict (which rule branch).
    pub reason: String,
}

/// Merged results of one or more files.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// One record per cell, sorted by cell.
    pub records: Vec<CellRecord>,
    /// Identical duplicates dropped (same cell, same config hash).
    pub duplicates: usize,
    /// Lines of a cell superseded by a later line with another config hash.
    pub superseded: usize,
    pub bad_lines: usize,
    pub partial_files: usize,
}

/// Reads every file and merges them by cell (a later line for the same
/// cell wins: after an edited sweep is resumed, its newest result counts).
pub fn merge_results(paths: &[PathBuf]) -> Result<Merged, ReportError> {
    let mut by_cell: BTreeMap<usize, CellRecord> = BTreeMap::new();
    let mut m = Merged::default();
    for p in paths {
        let r = read_results(p)?;
        m.bad_lines += r.bad_lines;
        m.partial_files += r.partial as usize;
        for rec in r.records {
            if let Some(old) = by_cell.get(&rec.cell) {
                if old.config_hash == rec.config_hash {
                    m.duplicates += 1;
                    continue;
                }
                m.superseded += 1;
            }
            by_cell.insert(rec.cell, rec);
        }
    }
    if by_cell.is_empty() {
        return Err(ReportError::NoRecords {
            files: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    m.records = by_cell.into_values().collect();
    Ok(m)
}

/// Size axes: (config path, what x is, file-name tag).
const SIZE_PATHS: [(&str, &str, &str); 5] = [
    ("target.widths", "width m", "width"),
    ("target.patch_side", "patch dim n", "patch_dim"),
    ("target.channels", "patch dim n", "patch_dim"),
    ("target.levels", "levels L", "levels"),
    ("target.root_patches", "root patches P_1", "root_patches"),
];

fn size_path(axis: &str) -> Option<(&'static str, &'static str, &'static str)> {
    axis.split('+')
        .map(str::trim)
        .find_map(|p| SIZE_PATHS.iter().find(|s| s.0 == p).copied())
}

/// The size x of a record along a size path (from its resolved settings).
fn size_x(r: &CellRecord, path: &str) -> Option<f64> {
    let s = r.settings.as_ref()?;
    Some(match path {
        "target.widths" => s.widths.iter().sum::<usize>() as f64 / s.widths.len().max(1) as f64,
        "target.patch_side" | "target.channels" => s.patch_dim as f64,
        "target.levels" => s.levels as f64,
        "target.root_patches" => s.root_patches as f64,
        _ => return None,
    })
}

fn valid(r: &CellRecord) -> bool {
    r.status != "error"
}

fn pct(k: usize, n: usize) -> String {
    if n == 0 {
        return "0/0".into();
    }
    let (lo, hi) = fits::wilson(k, n);
    format!("{k}/{n} = {:.2} [{:.2}, {:.2}]", k as f64 / n as f64, lo, hi)
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e7 {
        return format!("{v:.0}");
    }
    if a != 0.0 && !(1e-2..1e5).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn ci(c: Option<(f64, f64)>) -> String {
    c.map(|(a, b)| format!("[{}, {}]", num(a), num(b)))
        .unwrap_or_else(|| "[no CI: < 3 points]".into())
}

fn seeds_of(rs: &[&CellRecord]) -> String {
    let s: BTreeSet<u64> = rs.iter().map(|r| r.seed).collect();
    let v: Vec<u64> = s.into_iter().collect();
    if v.is_empty() {
        return "-".into();
    }
    match (v.first(), v.last()) {
        (Some(a), Some(b)) if v.len() as u64 == b - a + 1 && v.len() > 2 => format!("{a}..{b} ({})", v.len()),
        _ => format!(
            "{} ({})",
            v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
            v.len()
        ),
    }
}

fn tstar_of(rs: &[&CellRecord], f: impl Fn(&CellRecord) -> Option<f64>) -> TStar {
    let times: Vec<Option<f64>> = rs
        .iter()
        .filter(|r| valid(r))
        .map(|r| if r.success { f(r) } else { None })
        .collect();
    fits::t_star(&times)
}

fn iters(r: &CellRecord) -> Option<f64> {
    r.iterations_to_success.map(|t| t as f64)
}
fn grads(r: &CellRecord) -> Option<f64> {
    r.gradient_evaluations_to_success.map(|t| t as f64)
}
fn secs(r: &CellRecord) -> Option<f64> {
    r.seconds_to_success
}

fn tstar_text(t: &TStar) -> String {
    match t.median {
        Some(m) => format!(
            "{} ({}/{} ok, range {}..{})",
            num(m),
            t.successes,
            t.runs,
            num(t.min.unwrap_or(f64::NAN)),
            num(t.max.unwrap_or(f64::NAN))
        ),
        None => format!("censored ({}/{} ok)", t.successes, t.runs),
    }
}

/// What a grid is for.
enum Role {
    Base,
    Samples { axis: String },
    Time { axis: String },
    Schedules { axis: String },
    Lambda { axis: String },
    Other(String),
}

fn role_of(records: &[&CellRecord]) -> Role {
    let keys: BTreeSet<String> = records.iter().flat_map(|r| r.axes.keys().cloned()).collect();
    let keys: Vec<String> = keys.into_iter().collect();
    let sizes: Vec<&String> = keys.iter().filter(|k| size_path(k).is_some()).collect();
    let has = |k: &str| keys.iter().any(|x| x == k);
    match keys.len() {
        0 => Role::Base,
        1 if has("training.levels") => Role::Schedules {
            axis: keys[0].clone(),
        },
        1 if has("target.lambda") => Role::Lambda {
            axis: keys[0].clone(),
        },
        1 if sizes.len() == 1 => {
            let fresh = records
                .iter()
                .all(|r| r.settings.as_ref().is_none_or(|s| s.train_size == 0));
            if fresh {
                Role::Time {
                    axis: keys[0].clone(),
                }
            } else {
                Role::Other(format!(
                    "size axis {} with a finite training set: T* needs fresh samples (train_size = 0)",
                    keys[0]
                ))
            }
        }
        2 if has("training.train_size") && sizes.len() == 1 => Role::Samples {
            axis: sizes[0].clone(),
        },
        _ => Role::Other(format!("axes {} match no claim's layout", keys.join(", "))),
    }
}

/// A size series (C2 or C3): measured points, censored xs, the fit.
struct Series1 {
    axis: String,
    x_label: &'static str,
    tag: &'static str,
    points: Vec<(f64, f64)>,
    censored: Vec<f64>,
    fit: Option<ScalingFit>,
}

fn series_verdict(s: &Series1) -> (Verdict, String) {
    let Some(fit) = &s.fit else {
        return (Verdict::Inconclusive, "no measured point".into());
    };
    let n = s.points.len();
    match fit.preferred {
        Preferred::Exponential if n >= fits::MIN_POINTS => (Verdict::Fail, fit.reason.clone()),
        Preferred::Power
            if s.censored.is_empty() && fit.power.as_ref().is_some_and(|p| p.slope_ci.is_some()) =>
        {
            (Verdict::Pass, fit.reason.clone())
        }
        Preferred::Power => (
            Verdict::Inconclusive,
            format!("{}; but {} censored point(s)", fit.reason, s.censored.len()),
        ),
        _ => (Verdict::Inconclusive, fit.reason.clone()),
    }
}

fn fit_numbers(s: &Series1, what: &str) -> String {
    let pts: Vec<String> = s
        .points
        .iter()
        .map(|(x, y)| format!("{}:{}", num(*x), num(*y)))
        .collect();
    let mut out = if pts.is_empty() {
        format!("{what} at {}: no measured point", s.x_label)
    } else {
        format!("{what} at {} = {}", s.x_label, pts.join(", "))
    };
    if !s.censored.is_empty() {
        let c: Vec<String> = s.censored.iter().map(|x| num(*x)).collect();
        out.push_str(&format!("; censored at {}", c.join(", ")));
    }
    if let Some(f) = &s.fit {
        if let Some(p) = &f.power {
            out.push_str(&format!(
                "; degree b = {} {} (R² {:.3})",
                num(p.slope),
                ci(p.slope_ci),
                p.r2
            ));
        }
        if let Some(e) = &f.exponential {
            out.push_str(&format!("; exp. rate c = {} (R² {:.3})", num(e.slope), e.r2));
        }
    }
    out
}

fn fit_points(points: &[(f64, f64)]) -> Option<ScalingFit> {
    if points.is_empty() {
        return None;
    }
    let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    fits::scaling_fit(&xs, &ys).ok()
}

fn fit_figure(
    dir: &Path,
    name: &str,
    title: &str,
    y_label: &str,
    s: &Series1,
    figs: &mut Vec<String>,
) -> Result<(), ReportError> {
    if s.points.is_empty() {
        return Ok(());
    }
    let mut chart = FitChart {
        title: title.to_string(),
        x_label: s.x_label.to_string(),
        y_label: y_label.to_string(),
        points: s.points.clone(),
        fits: Vec::new(),
    };
    if let Some(f) = &s.fit {
        let lo = s.points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let hi = s.points.iter().map(|p| p.0).fold(0.0, f64::max);
        if hi > lo {
            let c = fits::fit_curves(f, lo, hi, 40);
            if let Some(p) = &f.power {
                chart.fits.push(FitLine {
                    name: format!("power: degree {} {}", num(p.slope), ci(p.slope_ci)),
                    xs: c.xs.clone(),
                    y: c.power.clone(),
                    lo: c.power_lo.clone(),
                    hi: c.power_hi.clone(),
                });
            }
            if let Some(e) = &f.exponential {
                chart.fits.push(FitLine {
                    name: format!("exponential: rate {} (R² {:.2})", num(e.slope), e.r2),
                    xs: c.xs.clone(),
                    y: c.exponential.clone(),
                    lo: Vec::new(),
                    hi: Vec::new(),
                });
            }
        }
    }
    for ext in ["png", "svg"] {
        let p = dir.join(format!("{name}.{ext}"));
        plots::loglog_fit(&p, &chart)?;
    }
    figs.push(format!("{name}.png"));
    Ok(())
}

/// A pairwise comparison (C5, C6): `a` is the paper's setting, `b` the ablation.
struct Pair {
    a_name: String,
    b_name: String,
    a: Vec<CellRecord>,
    b: Vec<CellRecord>,
}

fn pair_verdict(p: &Pair, t_max: usize) -> (String, Verdict, String) {
    let ka = p.a.iter().filter(|r| valid(r) && r.success).count();
    let na = p.a.iter().filter(|r| valid(r)).count();
    let kb = p.b.iter().filter(|r| valid(r) && r.success).count();
    let nb = p.b.iter().filter(|r| valid(r)).count();
    let ar: Vec<&CellRecord> = p.a.iter().collect();
    let br: Vec<&CellRecord> = p.b.iter().collect();
    let ta = tstar_of(&ar, iters);
    let tb = tstar_of(&br, iters);
    let (d, lo, hi) = fits::newcombe_diff(ka, na, kb, nb);
    let numbers = format!(
        "success {}: {}; {}: {}; difference {} [{}, {}]; T* {}: {}; {}: {} (T_max {t_max})",
        p.a_name,
        pct(ka, na),
        p.b_name,
        pct(kb, nb),
        num(d),
        num(lo),
        num(hi),
        p.a_name,
        tstar_text(&ta),
        p.b_name,
        tstar_text(&tb)
    );
    if na == 0 || nb == 0 {
        return (numbers, Verdict::Inconclusive, "a side has no valid run".into());
    }
    let slower = match (ta.median, tb.median) {
        (Some(a), Some(b)) => b >= 2.0 * a,
        (Some(a), None) => t_max as f64 >= 2.0 * a,
        _ => false,
    };
    if lo > 0.0 {
        return (
            numbers,
            Verdict::Pass,
            format!("Newcombe interval of the difference above 0 ({})", num(lo)),
        );
    }
    if slower {
        return (
            numbers,
            Verdict::Pass,
            format!("T*({}) >= 2 T*({})", p.b_name, p.a_name),
        );
    }
    if let (Some(a), Some(b)) = (ta.median, tb.median)
        && kb * na >= ka * nb
        && b <= a
    {
        return (
            numbers,
            Verdict::Fail,
            format!("{} at least as good on success rate and T*", p.b_name),
        );
    }
    (
        numbers,
        Verdict::Inconclusive,
        "neither rule branch applies (interval contains 0, T* ratio < 2)".into(),
    )
}

/// What [`write_report`] produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rows: Vec<ClaimRow>,
    /// Figure files (PNG names; an SVG sits next to each).
    pub figures: Vec<String>,
    pub markdown: String,
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes `claims.md`, `claims.json` and the figures into `dir`.
pub fn write_report(merged: &Merged, sources: &[PathBuf], dir: &Path) -> Result<Report, ReportError> {
    let io = |p: &Path, e: std::io::Error| ReportError::Io {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let recs = &merged.records;
    let t_max = recs.iter().map(|r| r.t_max).max().unwrap_or(0);
    let mut grids: BTreeMap<String, Vec<&CellRecord>> = BTreeMap::new();
    for r in recs {
        grids.entry(r.grid.clone()).or_default().push(r);
    }
    // Grid order: by first cell.
    let mut order: Vec<(usize, String)> = grids
        .iter()
        .map(|(g, rs)| (rs.iter().map(|r| r.cell).min().unwrap_or(0), g.clone()))
        .collect();
    order.sort();
    let mut rows: Vec<ClaimRow> = Vec::new();
    let mut figures: Vec<String> = Vec::new();
    let mut details = String::new();
    let mut unused: Vec<String> = Vec::new();
    let (mut c1, mut c2, mut c3, mut c5, mut c6) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (_, g) in &order {
        let rs = &grids[g];
        match role_of(rs) {
            Role::Base => c1.push(g.clone()),
            Role::Samples { axis } => c2.push((g.clone(), axis)),
            Role::Time { axis } => c3.push((g.clone(), axis)),
            Role::Schedules { axis } => c5.push((g.clone(), axis)),
            Role::Lambda { axis } => c6.push((g.clone(), axis)),
            Role::Other(why) => unused.push(format!("grid `{g}`: {why}")),
        }
    }

    // C1 -----------------------------------------------------------------
    let base: Vec<&CellRecord> = if let Some(g) = c1.first() {
        grids[g].clone()
    } else {
        // Fallback: the lambda = 0, joint, fresh config with the most seeds.
        let mut by_hash: BTreeMap<String, Vec<&CellRecord>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for r in recs.iter().filter(|r| {
            valid(r)
                && r.settings
                    .as_ref()
                    .is_some_and(|s| s.lambda == 0.0 && s.level_schedule == "joint" && s.train_size == 0)
        }) {
            if seen.insert((r.config_hash.clone(), r.seed)) {
                by_hash.entry(r.config_hash.clone()).or_default().push(r);
            }
        }
        by_hash
            .into_values()
            .max_by_key(|v| {
                (
                    v.len(),
                    std::cmp::Reverse(v.iter().map(|r| r.cell).min().unwrap_or(0)),
                )
            })
            .unwrap_or_default()
    };
    {
        let v: Vec<&CellRecord> = base.iter().copied().filter(|r| valid(r)).collect();
        let n = v.len();
        let k = v.iter().filter(|r| r.success).count();
        let (lo, hi) = fits::wilson(k, n);
        let levels = v.iter().map(|r| r.levels.len()).max().unwrap_or(0);
        let learned: Vec<String> = (0..levels)
            .map(|l| {
                let c = v
                    .iter()
                    .filter(|r| r.t_learned().get(l).copied().flatten().is_some())
                    .count();
                format!("l{} {c}/{n}", l + 1)
            })
            .collect();
        let t = tstar_of(&v, iters);
        let where_ = match c1.first() {
            Some(g) => format!("grid `{g}`"),
            None => "pooled lambda = 0 / joint / fresh config".into(),
        };
        let setting = v
            .first()
            .and_then(|r| r.settings.as_ref())
            .map(|s| format!("L = {}, m = {:?}, n = {}", s.levels, s.widths, s.patch_dim))
            .unwrap_or_default();
        let (verdict, reason) = if n == 0 {
            (Verdict::Inconclusive, "no base-setting run".to_string())
        } else if 3 * k >= 2 * n && lo > 0.5 {
            (
                Verdict::Pass,
                format!("rate >= 2/3 and Wilson lower {lo:.2} > 1/2"),
            )
        } else if hi < 2.0 / 3.0 {
            (Verdict::Fail, format!("Wilson upper {hi:.2} < 2/3"))
        } else {
            (Verdict::Inconclusive, "between the PASS and FAIL bounds".into())
        };
        rows.push(ClaimRow {
            id: "C1".into(),
            claim: "Under FSR, SGDA learns every level".into(),
            measurement: format!("success rate within T_max = {t_max}, {where_} ({setting})"),
            numbers: format!(
                "success {}; levels learned (t_l set): {}; T* {}",
                pct(k, n),
                learned.join(", "),
                tstar_text(&t)
            ),
            seeds: seeds_of(&v),
            verdict,
            reason,
        });
    }

    // C2 / C3 --------------------------------------------------------------
    let mut build_series = |g: &str, axis: &str, samples: bool| -> Series1 {
        let (path, x_label, tag) = size_path(axis).unwrap_or(("", "size", "size"));
        let rs: Vec<&CellRecord> = grids[g].iter().copied().filter(|r| valid(r)).collect();
        let mut by_x: BTreeMap<u64, Vec<&CellRecord>> = BTreeMap::new();
        for r in &rs {
            if let Some(x) = size_x(r, path) {
                by_x.entry(x.to_bits()).or_default().push(r);
            }
        }
        let mut points = Vec::new();
        let mut censored = Vec::new();
        for (xb, v) in &by_x {
            let x = f64::from_bits(*xb);
            if samples {
                let mut by_n: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
                for r in v {
                    let n = r.settings.as_ref().map(|s| s.train_size).unwrap_or(0);
                    let e = by_n.entry(n).or_default();
                    e.0 += r.success as usize;
                    e.1 += 1;
                }
                let pts: Vec<(f64, usize, usize)> = by_n
                    .iter()
                    .filter(|(n, _)| **n > 0)
                    .map(|(n, (k, c))| (*n as f64, *k, *c))
                    .collect();
                let ns = fits::n_star(&pts);
                let grid_txt: Vec<String> = ns
                    .grid
                    .iter()
                    .map(|(n, k, c)| format!("N={n}: {k}/{c}"))
                    .collect();
                details.push_str(&format!(
                    "| {g} | {x_label} = {} | {} | {} |\n",
                    num(x),
                    grid_txt.join("; "),
                    ns.value
                        .map(num)
                        .unwrap_or_else(|| "censored (> largest N)".into())
                ));
                match ns.value {
                    Some(v) => points.push((x, v)),
                    None => censored.push(x),
                }
            } else {
                let t = tstar_of(v, iters);
                let tg = tstar_of(v, grads);
                let ts = tstar_of(v, secs);
                details.push_str(&format!(
                    "| {g} | {x_label} = {} | iterations {}; gradient evaluations {}; seconds {} | {} |\n",
                    num(x),
                    tstar_text(&t),
                    tstar_text(&tg),
                    tstar_text(&ts),
                    t.median.map(num).unwrap_or_else(|| "censored (> T_max)".into())
                ));
                match t.median {
                    Some(m) => points.push((x, m)),
                    None => censored.push(x),
                }
            }
        }
        Series1 {
            axis: axis.to_string(),
            x_label,
            tag,
            fit: fit_points(&points),
            points,
            censored,
        }
    };
    let mut c2_series = Vec::new();
    for (g, axis) in &c2 {
        c2_series.push((g.clone(), build_series(g, axis, true)));
    }
    let mut c3_series = Vec::new();
    for (g, axis) in &c3 {
        c3_series.push((g.clone(), build_series(g, axis, false)));
    }
    if c2_series.is_empty() {
        rows.push(missing(
            "C2",
            "Sample complexity is polynomial",
            "a grid with a size axis and training.train_size",
        ));
    }
    for (g, s) in &c2_series {
        let (verdict, reason) = series_verdict(s);
        rows.push(ClaimRow {
            id: format!("C2 ({}, {g})", s.x_label),
            claim: "Sample complexity is polynomial".into(),
            measurement: format!(
                "N*(eps) vs {} (grid `{g}`, axis {}), power vs exponential fit",
                s.x_label, s.axis
            ),
            numbers: fit_numbers(s, "N*"),
            seeds: seeds_of(&grids[g]),
            verdict,
            reason,
        });
        fit_figure(
            dir,
            &format!("c2_nstar_{g}_{}", s.tag),
            &format!("C2: sample complexity N* vs {} (grid {g})", s.x_label),
            "N* (training samples)",
            s,
            &mut figures,
        )?;
        // Success rate against N, one line per size.
        let mut lines: BTreeMap<u64, Vec<(f64, usize, usize)>> = BTreeMap::new();
        let path = size_path(&s.axis).map(|p| p.0).unwrap_or("");
        for r in grids[g].iter().filter(|r| valid(r)) {
            if let (Some(x), Some(st)) = (size_x(r, path), r.settings.as_ref()) {
                lines
                    .entry(x.to_bits())
                    .or_default()
                    .push((st.train_size as f64, r.success as usize, 1));
            }
        }
        let series: Vec<Series> = lines
            .iter()
            .map(|(xb, v)| Series {
                name: format!("{} = {}", s.x_label, num(f64::from_bits(*xb))),
                points: fits::n_star(v)
                    .grid
                    .iter()
                    .filter(|p| p.0 > 0.0)
                    .map(|(n, k, c)| (*n, *k as f64 / *c as f64))
                    .collect(),
            })
            .collect();
        if series.iter().any(|s| !s.points.is_empty()) {
            let chart = LineChart {
                title: format!("C2: success rate vs training-set size N, per {}", s.x_label),
                x_label: "N (training samples)".into(),
                y_label: "success rate within T_max".into(),
                series,
                vlines: Vec::new(),
                hlines: vec![(2.0 / 3.0, "2/3".into()), (1.0, "all seeds".into())],
                log_x: true,
                log_y: false,
            };
            let name = format!("c2_success_vs_n_{g}_{}", s.tag);
            for ext in ["png", "svg"] {
                plots::line_chart(dir.join(format!("{name}.{ext}")), &chart)?;
            }
            figures.push(format!("{name}.png"));
        }
    }
    if c3_series.is_empty() {
        rows.push(missing(
            "C3",
            "Time complexity is polynomial",
            "a grid with one size axis and fresh samples",
        ));
    }
    for (g, s) in &c3_series {
        let (verdict, reason) = series_verdict(s);
        // Degrees in gradient evaluations and seconds, for the record.
        let path = size_path(&s.axis).map(|p| p.0).unwrap_or("");
        let other = |f: fn(&CellRecord) -> Option<f64>| -> String {
            let mut by_x: BTreeMap<u64, Vec<&CellRecord>> = BTreeMap::new();
            for r in grids[g].iter().filter(|r| valid(r)) {
                if let Some(x) = size_x(r, path) {
                    by_x.entry(x.to_bits()).or_default().push(r);
                }
            }
            let pts: Vec<(f64, f64)> = by_x
                .iter()
                .filter_map(|(xb, v)| tstar_of(v, f).median.map(|m| (f64::from_bits(*xb), m)))
                .collect();
            match fit_points(&pts).and_then(|f| f.power) {
                Some(p) => format!("{} {}", num(p.slope), ci(p.slope_ci)),
                None => "n/a".into(),
            }
        };
        rows.push(ClaimRow {
            id: format!("C3 ({}, {g})", s.x_label),
            claim: "Time complexity is polynomial".into(),
            measurement: format!(
                "T*(eps) in iterations vs {} (grid `{g}`, axis {}, fresh samples), power vs exponential fit",
                s.x_label, s.axis
            ),
            numbers: format!(
                "{}; degree in gradient evaluations {}; in seconds {}",
                fit_numbers(s, "T*"),
                other(grads),
                other(secs)
            ),
            seeds: seeds_of(&grids[g]),
            verdict,
            reason,
        });
        fit_figure(
            dir,
            &format!("c3_tstar_{g}_{}", s.tag),
            &format!("C3: time complexity T* vs {} (grid {g})", s.x_label),
            "T* (iterations to success)",
            s,
            &mut figures,
        )?;
    }

    // C4 -------------------------------------------------------------------
    {
        let mut seen = HashSet::new();
        let runs: Vec<&CellRecord> = recs
            .iter()
            .filter(|r| {
                r.status == "completed"
                    && r.settings
                        .as_ref()
                        .is_some_and(|s| s.lambda == 0.0 && s.level_schedule == "joint" && s.levels >= 2)
            })
            .filter(|r| seen.insert((r.config_hash.clone(), r.seed)))
            .collect();
        let ordered: Vec<&CellRecord> = runs
            .iter()
            .copied()
            .filter(|r| r.forward_order.is_some())
            .collect();
        let n = ordered.len();
        let k = ordered.iter().filter(|r| r.forward_order == Some(true)).count();
        let strict = ordered
            .iter()
            .filter(|r| {
                let t: Vec<usize> = r.t_learned().into_iter().flatten().collect();
                t.windows(2).all(|w| w[0] < w[1])
            })
            .count();
        let (lo, hi) = fits::wilson(k, n);
        let (verdict, reason) = if n == 0 {
            (
                Verdict::Inconclusive,
                "no joint lambda = 0 run with >= 2 levels learned".to_string(),
            )
        } else if 3 * k >= 2 * n && lo > 0.5 {
            (
                Verdict::Pass,
                format!("share >= 2/3 and Wilson lower {lo:.2} > 1/2"),
            )
        } else if hi < 0.5 {
            (Verdict::Fail, format!("Wilson upper {hi:.2} < 1/2"))
        } else {
            (Verdict::Inconclusive, "between the PASS and FAIL bounds".into())
        };
        rows.push(ClaimRow {
            id: "C4".into(),
            claim: "Learning is forward: lower resolutions first".into(),
            measurement: format!(
                "t_1 <= t_2 <= ... among {} distinct joint lambda = 0 runs with L >= 2 ({} learned >= 2 levels)",
                runs.len(),
                n
            ),
            numbers: format!("forward {}; strictly forward {strict}/{n}", pct(k, n)),
            seeds: seeds_of(&ordered),
            verdict,
            reason,
        });
    }

    // C5 / C6 ---------------------------------------------------------------
    let pair_rows = |id: &str,
                     claim: &str,
                     grids_of: &[(String, String)],
                     a_pick: &dyn Fn(&[String]) -> Option<String>,
                     b_pick: &dyn Fn(&[String]) -> Option<String>,
                     fig: &str,
                     figures: &mut Vec<String>|
     -> Result<Vec<ClaimRow>, ReportError> {
        let mut out = Vec::new();
        for (g, axis) in grids_of {
            let rs: Vec<&CellRecord> = grids[g].clone();
            let mut by_v: BTreeMap<String, Vec<CellRecord>> = BTreeMap::new();
            let mut first_cell: BTreeMap<String, usize> = BTreeMap::new();
            for r in &rs {
                let v = r.axes.get(axis).map(label).unwrap_or_default();
                let e = first_cell.entry(v.clone()).or_insert(r.cell);
                *e = (*e).min(r.cell);
                by_v.entry(v).or_default().push((*r).clone());
            }
            let mut values: Vec<String> = by_v.keys().cloned().collect();
            values.sort_by_key(|v| first_cell[v]);
            let (Some(a), Some(b)) = (a_pick(&values), b_pick(&values)) else {
                out.push(missing(
                    id,
                    claim,
                    &format!("grid `{g}` lacks the two compared values of {axis}"),
                ));
                continue;
            };
            let pair = Pair {
                a_name: a.clone(),
                b_name: b.clone(),
                a: by_v[&a].clone(),
                b: by_v[&b].clone(),
            };
            let (numbers, verdict, reason) = pair_verdict(&pair, t_max);
            let mid: Vec<String> = values
                .iter()
                .filter(|v| **v != a && **v != b)
                .map(|v| {
                    let rv: Vec<&CellRecord> = by_v[v].iter().collect();
                    let ok: Vec<&CellRecord> = rv.iter().copied().filter(|r| valid(r)).collect();
                    let k = ok.iter().filter(|r| r.success).count();
                    format!(
                        "{v}: success {}, T* {}",
                        pct(k, ok.len()),
                        tstar_text(&tstar_of(&rv, iters))
                    )
                })
                .collect();
            let all: Vec<&CellRecord> = rs.clone();
            out.push(ClaimRow {
                id: id.to_string(),
                claim: claim.to_string(),
                measurement: format!("{axis} = {a} vs {b} (grid `{g}`): success rate and T*"),
                numbers: if mid.is_empty() {
                    numbers
                } else {
                    format!("{numbers}; also {}", mid.join("; "))
                },
                seeds: seeds_of(&all),
                verdict,
                reason,
            });
            // Figure: success rate (Wilson whiskers) and T*/T_max (range whiskers).
            let tm = t_max.max(1) as f64;
            let mut rate = BarGroup {
                name: "success rate (95% Wilson)".into(),
                ..Default::default()
            };
            let mut time = BarGroup {
                name: "T* / T_max (range over seeds)".into(),
                ..Default::default()
            };
            for v in &values {
                let rv: Vec<&CellRecord> = by_v[v].iter().collect();
                let ok: Vec<&CellRecord> = rv.iter().copied().filter(|r| valid(r)).collect();
                let k = ok.iter().filter(|r| r.success).count();
                let (lo, hi) = fits::wilson(k, ok.len());
                rate.values.push(if ok.is_empty() {
                    f64::NAN
                } else {
                    k as f64 / ok.len() as f64
                });
                rate.err_lo.push(lo);
                rate.err_hi.push(hi);
                let t = tstar_of(&rv, iters);
                let m = t.median.map(|m| m / tm).unwrap_or(f64::NAN);
                time.values.push(m);
                time.err_lo.push(if m.is_finite() {
                    t.min.unwrap_or(f64::NAN) / tm
                } else {
                    f64::NAN
                });
                time.err_hi.push(if m.is_finite() {
                    t.max.unwrap_or(f64::NAN) / tm
                } else {
                    f64::NAN
                });
            }
            let chart = BarChart {
                title: format!("{id}: success rate and T* by {axis} (T_max = {t_max})"),
                y_label: "rate / fraction of T_max".into(),
                categories: values.iter().map(|v| format!("{axis} = {v}")).collect(),
                groups: vec![rate, time],
            };
            let name = if grids_of.len() > 1 {
                format!("{fig}_{g}")
            } else {
                fig.to_string()
            };
            for ext in ["png", "svg"] {
                plots::bar_chart(dir.join(format!("{name}.{ext}")), &chart)?;
            }
            figures.push(format!("{name}.png"));
        }
        Ok(out)
    };
    let c5_rows = pair_rows(
        "C5",
        "Multi-resolution discriminators matter",
        &c5,
        &|vs: &[String]| vs.iter().find(|v| *v == "joint").cloned(),
        &|vs: &[String]| vs.iter().find(|v| *v == "top-only").cloned(),
        "c5_joint_vs_top_only",
        &mut figures,
    )?;
    if c5_rows.is_empty() {
        rows.push(missing(
            "C5",
            "Multi-resolution discriminators matter",
            "a grid with the training.levels axis",
        ));
    }
    rows.extend(c5_rows);
    let lam = |vs: &[String], hi: bool| -> Option<String> {
        let mut parsed: Vec<(f64, &String)> = vs
            .iter()
            .filter_map(|v| v.parse::<f64>().ok().map(|x| (x, v)))
            .collect();
        parsed.sort_by(|a, b| a.0.total_cmp(&b.0));
        if parsed.len() < 2 {
            return None;
        }
        let p = if hi { parsed.last() } else { parsed.first() };
        p.map(|(_, v)| (*v).clone())
    };
    let c6_rows = pair_rows(
        "C6",
        "The forward structure matters",
        &c6,
        &|vs: &[String]| lam(vs, false),
        &|vs: &[String]| lam(vs, true),
        "c6_lambda",
        &mut figures,
    )?;
    if c6_rows.is_empty() {
        rows.push(missing(
            "C6",
            "The forward structure matters",
            "a grid with the target.lambda axis",
        ));
    }
    rows.extend(c6_rows);

    // Markdown ---------------------------------------------------------------
    let mut md = String::new();
    md.push_str("# Claims of Allen-Zhu & Li (FSR-GAN): verdicts from sweep results\n\n");
    let statuses: BTreeMap<&str, usize> = recs.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.status.as_str()).or_insert(0) += 1;
        m
    });
    md.push_str(&format!(
        "Sources: {} ({} cells: {}; {} duplicate lines dropped, {} superseded, {} unparsable lines, {} partial last lines ignored). T_max = {t_max} iterations.\n\n",
        sources
            .iter()
            .map(|p| format!("`{}`", p.display()))
            .collect::<Vec<_>>()
            .join(", "),
        recs.len(),
        statuses
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", "),
        merged.duplicates,
        merged.superseded,
        merged.bad_lines,
        merged.partial_files
    ));
    md.push_str("| id | claim | measurement | numbers (95% intervals) | seeds | verdict |\n");
    md.push_str("|----|-------|-------------|--------------------------|-------|---------|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | **{}** ({}) |\n",
            md_cell(&r.id),
            md_cell(&r.claim),
            md_cell(&r.measurement),
            md_cell(&r.numbers),
            md_cell(&r.seeds),
            r.verdict,
            md_cell(&r.reason)
        ));
    }
    md.push_str("\nSuccess rates are shown as k/n = rate [95% Wilson interval]; degrees as b [95% Student-t CI]; T* as median (successes/runs, range of the successful runs).\n\n");
    md.push_str("**Decision rules** (fixed before the results; the code in `src/experiments/report.rs` implements exactly these):\n\n");
    md.push_str(RULES);
    md.push_str("\n\n");
    if !details.is_empty() {
        md.push_str("## Per-size measurements (C2, C3)\n\n| grid | size | measurements | N* or T* |\n|---|---|---|---|\n");
        md.push_str(&details);
        md.push('\n');
    }
    let errors: Vec<&CellRecord> = recs.iter().filter(|r| r.status == "error").collect();
    if !errors.is_empty() {
        md.push_str("## Cells with errors (left out of every count)\n\n");
        for r in errors.iter().take(50) {
            md.push_str(&format!(
                "- cell {} `{}`: {}\n",
                r.cell,
                r.id,
                r.error.clone().unwrap_or_default()
            ));
        }
        if errors.len() > 50 {
            md.push_str(&format!("- ... and {} more\n", errors.len() - 50));
        }
        md.push('\n');
    }
    if !unused.is_empty() {
        md.push_str("## Grids not used by any claim\n\n");
        for u in &unused {
            md.push_str(&format!("- {u}\n"));
        }
        md.push('\n');
    }
    if !figures.is_empty() {
        md.push_str("## Figures (PNG; an SVG of each sits next to it)\n\n");
        for f in &figures {
            md.push_str(&format!("![{f}]({f})\n\n"));
        }
    }
    let md_path = dir.join("claims.md");
    std::fs::write(&md_path, &md).map_err(|e| io(&md_path, e))?;
    let json_path = dir.join("claims.json");
    let json = serde_json::to_string_pretty(
        &serde_json::json!({ "claims": rows, "figures": figures, "t_max": t_max }),
    )
    .unwrap_or_default();
    std::fs::write(&json_path, json + "\n").map_err(|e| io(&json_path, e))?;
    Ok(Report {
        rows,
        figures,
        markdown: md,
    })
}

fn missing(id: &str, claim: &str, needs: &str) -> ClaimRow {
    ClaimRow {
        id: id.into(),
        claim: claim.into(),
        measurement: format!("not measured: the results hold no {needs}"),
        numbers: "-".into(),
        seeds: "-".into(),
        verdict: Verdict::Inconclusive,
        reason: "no data".into(),
    }
}

/// `fsrgan report`: merge `results`, write everything into `dir`.
pub fn report(results: &[PathBuf], dir: &Path) -> Result<Report, ReportError> {
    let merged = merge_results(results)?;
    write_report(&merged, results, dir)
}

/// `fsrgan report`: writes the report and prints the verdict lines.
pub fn cli_report(results: &[PathBuf], dir: &Path) -> Result<(), ReportError> {
    use std::io::Write;
    let r = report(results, dir)?;
    // A closed pipe (`| head`) is not an error of the report.
    let mut out = std::io::stdout().lock();
    for row in &r.rows {
        let _ = writeln!(
            out,
            "{:<16} {:<13} {}",
            row.id,
            row.verdict.to_string(),
            row.numbers
        );
    }
    let _ = writeln!(
        out,
        "wrote {} and {} figures (PNG + SVG) in {}",
        dir.join("claims.md").display(),
        r.figures.len(),
        dir.display()
    );
    Ok(())
}
