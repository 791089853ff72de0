//! Complexity measures and scaling fits (issue 6; SPEC §3 "Sample
//! complexity N*(eps)", "Time complexity T*(eps)", "Scaling fits"). Pure
//! functions of numbers; no I/O.
//!
//! - [`n_star`]: the smallest training-set size N on the grid at which at
//!   least 2/3 of the seeds succeed within T_max. If no N on the grid
//!   reaches 2/3, N* is *censored* (N* > the largest N tried): no value,
//!   `censored = true`.
//! - [`t_star`]: the median over seeds of the iterations (or gradient
//!   evaluations, or seconds) to success, a failed seed counting as +inf
//!   (right-censored at T_max). It is defined only when at least 2/3 of the
//!   seeds succeed (the median is then a measured time); otherwise the
//!   point is missing and `censored = true`.
//! - [`scaling_fit`]: power law `log y = a + b log x` against exponential
//!   `log y = a + c x`, both least squares on `log y` (so their R² are
//!   comparable); the slope's 95% CI from Student's t with n - 2 degrees of
//!   freedom. Verdict ([`Preferred`]): INCONCLUSIVE with fewer than
//!   [`MIN_POINTS`] points or when the two R² differ by less than
//!   [`R2_MARGIN`]; otherwise the model with the higher R² — except that an
//!   exponential that fits better but *decreases* (rate `c <= 0`) is no
//!   evidence of exponential growth: INCONCLUSIVE (a rule fixed after the
//!   first claims sweep, where T* fell with n, and before the next one).
//! - [`wilson`] and [`newcombe_diff`]: 95% intervals for a success rate and
//!   for a difference of two rates.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Fewer points than this: no verdict (a line through 2 points has R² = 1).
pub const MIN_POINTS: usize = 3;
/// The two R² must differ by at least this for a verdict.
pub const R2_MARGIN: f64 = 0.02;
/// Share of seeds that must succeed for N* and T* (SPEC §3).
pub const SUCCESS_SHARE: f64 = 2.0 / 3.0;
/// z of a two-sided 95% normal interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Bad input to a fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("fit: {xs} x values for {ys} y values; give one y per x")]
    Lengths { xs: usize, ys: usize },
    #[error("fit: point {index} = ({x}, {y}): x and y must be finite and > 0 (log scale)")]
    NotPositive { index: usize, x: f64, y: f64 },
}

/// Least squares `y = intercept + slope * x` (in the fit's coordinates).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinFit {
    pub intercept: f64,
    pub slope: f64,
    /// 95% CI of the slope (None with fewer than 3 points).
    pub slope_ci: Option<(f64, f64)>,
    /// Coefficient of determination (1 when y is constant and fitted exactly).
    pub r2: f64,
    pub n: usize,
    /// Residual standard deviation (n - 2 dof; 0 with 2 points).
    pub resid_sd: f64,
    x_mean: f64,
    sxx: f64,
    t_crit: Option<f64>,
}

/// Two-sided 97.5% quantile of Student's t with `dof` degrees of freedom.
pub fn t_quantile(dof: usize) -> Option<f64> {
    if dof == 0 {
        return None;
    }
    StudentsT::new(0.0, 1.0, dof as f64)
        .ok()
        .map(|t| t.inverse_cdf(0.975))
}

/// Ordinary least squares; None with fewer than 2 points or constant x.
pub fn ols(x: &[f64], y: &[f64]) -> Option<LinFit> {
    let n = x.len();
    if n < 2 || y.len() != n {
        return None;
    }
    let nf = n as f64;
    let xm = x.iter().sum::<f64>() / nf;
    let ym = y.iter().sum::<f64>() / nf;
    let sxx: f64 = x.iter().map(|v| (v - xm).powi(2)).sum();
    if sxx.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - xm) * (b - ym)).sum();
    let slope = sxy / sxx;
    let intercept = ym - slope * xm;
    let sse: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - intercept - slope * a).powi(2))
        .sum();
    let sst: f64 = y.iter().map(|b| (b - ym).powi(2)).sum();
    let scale = sst.max(y.iter().map(|b| b * b).sum::<f64>()).max(1e-300);
    let r2 = if sst <= 1e-24 * scale {
        1.0
    } else {
        1.0 - sse / sst
    };
    let dof = n.saturating_sub(2);
    let resid_sd = if dof > 0 { (sse / dof as f64).sqrt() } else { 0.0 };
    let t_crit = t_quantile(dof);
    let slope_ci = t_crit.map(|t| {
        let se = resid_sd / sxx.sqrt();
        (slope - t * se, slope + t * se)
    });
    Some(LinFit {
        intercept,
        slope,
        slope_ci,
        r2,
        n,
        resid_sd,
        x_mean: xm,
        sxx,
        t_crit,
    })
}

impl LinFit {
    /// Fitted value at `x` with the 95% CI of the mean response (None
    /// bounds with fewer than 3 points).
    pub fn predict(&self, x: f64) -> (f64, Option<(f64, f64)>) {
        let y = self.intercept + self.slope * x;
        let band = self.t_crit.map(|t| {
            let se = self.resid_sd * (1.0 / self.n as f64 + (x - self.x_mean).powi(2) / self.sxx).sqrt();
            (y - t * se, y + t * se)
        });
        (y, band)
    }
}

/// Which model describes y(x) better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Preferred {
    Power,
    Exponential,
    Inconclusive,
}

/// Power law vs exponential for one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingFit {
    /// `log y = a + b log x`: `slope` is the degree b.
    pub power: Option<LinFit>,
    /// `log y = a + c x`: `slope` is the rate c.
    pub exponential: Option<LinFit>,
    pub preferred: Preferred,
    /// Why (one line).
    pub reason: String,
    pub points: usize,
}

/// Fits both models to points (x_i, y_i), all finite and > 0.
pub fn scaling_fit(xs: &[f64], ys: &[f64]) -> Result<ScalingFit, FitError> {
    if xs.len() != ys.len() {
        return Err(FitError::Lengths {
            xs: xs.len(),
            ys: ys.len(),
        });
    }
    for (i, (&x, &y)) in xs.iter().zip(ys).enumerate() {
        if !(x.is_finite() && y.is_finite() && x > 0.0 && y > 0.0) {
            return Err(FitError::NotPositive { index: i, x, y });
        }
    }
    let lx: Vec<f64> = xs.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = ys.iter().map(|v| v.ln()).collect();
    let power = ols(&lx, &ly);
    let exponential = ols(xs, &ly);
    let n = xs.len();
    let (preferred, reason) = match (&power, &exponential) {
        _ if n < MIN_POINTS => (
            Preferred::Inconclusive,
            format!("{n} point(s); at least {MIN_POINTS} are needed"),
        ),
        (Some(p), Some(e)) => {
            let d = p.r2 - e.r2;
            if d.abs() < R2_MARGIN {
                (
                    Preferred::Inconclusive,
                    format!(
                        "R² power {:.3} vs exponential {:.3} differ by < {R2_MARGIN}",
                        p.r2, e.r2
                    ),
                )
            } else if d > 0.0 {
                (
                    Preferred::Power,
                    format!("R² power {:.3} > exponential {:.3}", p.r2, e.r2),
                )
            } else if e.slope <= 0.0 {
                (
                    Preferred::Inconclusive,
                    format!(
                        "R² exponential {:.3} > power {:.3}, but the cost decreases (rate {:.3} <= 0): no growth to classify",
                        e.r2, p.r2, e.slope
                    ),
                )
            } else {
                (
                    Preferred::Exponential,
                    format!("R² exponential {:.3} > power {:.3}", e.r2, p.r2),
                )
            }
        }
        _ => (
            Preferred::Inconclusive,
            "all points at one x: no slope".to_string(),
        ),
    };
    Ok(ScalingFit {
        power,
        exponential,
        preferred,
        reason,
        points: n,
    })
}

/// Curves of a fit for drawing: `xs` spread over `[lo, hi]` (geometric),
/// power-law fitted y with its CI band, and the exponential fitted y.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitCurves {
    pub xs: Vec<f64>,
    pub power: Vec<f64>,
    pub power_lo: Vec<f64>,
    pub power_hi: Vec<f64>,
    pub exponential: Vec<f64>,
}

/// `k` points of both fitted curves between `lo` and `hi` (> 0).
pub fn fit_curves(fit: &ScalingFit, lo: f64, hi: f64, k: usize) -> FitCurves {
    let k = k.max(2);
    let xs: Vec<f64> = (0..k)
        .map(|i| lo * (hi / lo).powf(i as f64 / (k - 1) as f64))
        .collect();
    let mut c = FitCurves {
        xs: xs.clone(),
        ..Default::default()
    };
    if let Some(p) = &fit.power {
        for &x in &xs {
            let (y, band) = p.predict(x.ln());
            c.power.push(y.exp());
            if let Some((a, b)) = band {
                c.power_lo.push(a.exp());
                c.power_hi.push(b.exp());
            }
        }
        if c.power_lo.len() != xs.len() {
            c.power_lo.clear();
            c.power_hi.clear();
        }
    }
    if let Some(e) = &fit.exponential {
        c.exponential = xs.iter().map(|&x| e.predict(x).0.exp()).collect();
    }
    c
}

/// Wilson score interval (95%) for `k` successes in `n` trials; (0, 1) for n = 0.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = Z95;
    let nf = n as f64;
    let p = k as f64 / nf;
    let den = 1.0 + z * z / nf;
    let centre = (p + z * z / (2.0 * nf)) / den;
    let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / den;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Newcombe's hybrid score interval (95%) for p1 - p2: (difference, lo, hi).
pub fn newcombe_diff(k1: usize, n1: usize, k2: usize, n2: usize) -> (f64, f64, f64) {
    let p1 = if n1 > 0 { k1 as f64 / n1 as f64 } else { f64::NAN };
    let p2 = if n2 > 0 { k2 as f64 / n2 as f64 } else { f64::NAN };
    let (l1, u1) = wilson(k1, n1);
    let (l2, u2) = wilson(k2, n2);
    let d = p1 - p2;
    let lo = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let hi = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    (d, lo, hi)
}

/// Median of finite values (None if none).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

/// True when `k` of `n` reaches the 2/3 share.
pub fn enough(k: usize, n: usize) -> bool {
    n > 0 && 3 * k >= 2 * n
}

/// T*: median time to success over seeds, failures counting as +inf.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TStar {
    /// None when fewer than 2/3 of the seeds succeeded (censored).
    pub median: Option<f64>,
    pub successes: usize,
    pub runs: usize,
    /// Range of the measured (successful) times.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub censored: bool,
}

/// T* of per-seed times (None = no success within T_max).
pub fn t_star(times: &[Option<f64>]) -> TStar {
    let ok: Vec<f64> = times.iter().flatten().copied().collect();
    let runs = times.len();
    let successes = ok.len();
    let all: Vec<f64> = times.iter().map(|t| t.unwrap_or(f64::INFINITY)).collect();
    let median = if enough(successes, runs) {
        median(&all)
    } else {
        None
    };
    let median = median.filter(|m| m.is_finite());
    TStar {
        censored: median.is_none(),
        median,
        successes,
        runs,
        min: ok.iter().copied().reduce(f64::min),
        max: ok.iter().copied().reduce(f64::max),
    }
}

/// N* on a grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NStar {
    /// The smallest N with >= 2/3 successes; None when censored.
    pub value: Option<f64>,
    /// No N on the grid reached 2/3: N* > the largest N tried.
    pub censored: bool,
    /// (N, successes, runs) sorted by N.
    pub grid: Vec<(f64, usize, usize)>,
}

/// N* from (N, successes, runs) points (any order; equal N are pooled).
pub fn n_star(points: &[(f64, usize, usize)]) -> NStar {
    let mut grid: Vec<(f64, usize, usize)> = Vec::new();
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (n, k, r) in sorted {
        match grid.last_mut() {
            Some(last) if last.0 == n => {
                last.1 += k;
                last.2 += r;
            }
            _ => grid.push((n, k, r)),
        }
    }
    let value = grid.iter().find(|(_, k, r)| enough(*k, *r)).map(|p| p.0);
    NStar {
        censored: value.is_none(),
        value,
        grid,
    }
}
