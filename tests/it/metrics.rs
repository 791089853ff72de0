//! Known-answer tests of `fsrgan::metrics` (SPEC §3 instruments).
//!
//! Every tolerance says where it comes from. Fixed-seed tests use
//! `ChaCha8Rng::seed_from_u64`; property tests draw every random input,
//! seeds included, from a proptest strategy.

use fsrgan::metrics::*;
use nalgebra::DMatrix;
use proptest::prelude::*;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// N samples of N(mean, I_d), d x N.
fn gaussian(mean: &[f64], n: usize, rng: &mut impl Rng) -> DMatrix<f64> {
    let d = mean.len();
    DMatrix::from_fn(d, n, |i, _| mean[i] + rng.sample::<f64, _>(StandardNormal))
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

/// Population MMD² between N(0, I_d) and N(δ, I_d) with the Gaussian kernel
/// of bandwidth h: E k(X, X') = E exp(−||Z||²/(2h²)) for Z = X − X' ~
/// N(μ, 2 I) is (h²/(h²+2))^{d/2} exp(−||μ||²/(2(h²+2))), so
/// MMD² = 2 (h²/(h²+2))^{d/2} (1 − exp(−||δ||²/(2(h²+2)))).
fn mmd2_population(d: usize, h: f64, delta_sq: f64) -> f64 {
    let h2 = h * h;
    2.0 * (h2 / (h2 + 2.0)).powf(d as f64 / 2.0) * (1.0 - (-delta_sq / (2.0 * (h2 + 2.0))).exp())
}

#[test]
fn mmd2_matches_gaussian_closed_form() {
    // d = 3, h = 1.5, N = M = 200, R = 100 seeds per case. The error bar is
    // the standard error of the mean over seeds, sd / sqrt(R); the unbiased
    // estimator's expectation is the population value exactly, so the mean
    // must lie within 4 standard errors (two-sided P(fail) ~ 6e-5 per case).
    let (d, h, n, reps) = (3, 1.5, 200, 100);
    for (case, delta) in [[0.0, 0.0, 0.0], [0.6, 0.0, 0.0], [0.5, -0.5, 0.5]]
        .iter()
        .enumerate()
    {
        let delta_sq: f64 = delta.iter().map(|v| v * v).sum();
        let pop = mmd2_population(d, h, delta_sq);
        let est: Vec<f64> = (0..reps)
            .map(|s| {
                let mut r = rng(1000 * case as u64 + s);
                let x = gaussian(&[0.0; 3], n, &mut r);
                let y = gaussian(delta, n, &mut r);
                mmd2_unbiased(&x, &y, h).unwrap()
            })
            .collect();
        let (m, sd) = mean_sd(&est);
        let se = sd / (reps as f64).sqrt();
        assert!(
            (m - pop).abs() <= 4.0 * se,
            "case {case}: mean MMD² {m} vs population {pop}, se {se}"
        );
        eprintln!("MMD² case {case}: mean {m:.5} population {pop:.5} se {se:.5}");
        if delta_sq > 0.0 {
            // The check has power: a wrong answer of 0 would be > 8 se off.
            assert!(pop > 8.0 * se, "case {case}: pop {pop} se {se}");
        }
    }
}

/// ∫ sqrt(Φ(x)(1 − Φ(x))) dx for the standard normal (trapezoid on
/// [−12, 12], step 1e-3; the integrand is < 1e-16 outside).
fn normal_bridge_integral() -> f64 {
    let phi = |x: f64| 0.5 * (1.0 + statrs::function::erf::erf(x / std::f64::consts::SQRT_2));
    let (a, step) = (-12.0, 1e-3);
    let k = 24_000;
    (0..=k)
        .map(|i| {
            let x = a + i as f64 * step;
            let p = phi(x);
            let w = if i == 0 || i == k { 0.5 } else { 1.0 };
            w * (p * (1.0 - p)).sqrt()
        })
        .sum::<f64>()
        * step
}

#[test]
fn sliced_w1_same_distribution_is_at_its_noise_level() {
    // Two N-samples of N(0, I_d): every projection is exactly N(0, 1), and
    // sqrt(N)(F_N − G_N) → B1(F) − B2(F) (two independent Brownian
    // bridges), so E W1 ≈ ∫ E|F_N − G_N| dx = (2 / sqrt(π N)) ∫ sqrt(F(1−F)).
    // Tolerance: 4 standard errors over R = 100 seeds plus 6% for the
    // O(N^{-1/2}) finite-N correction of the asymptotic constant (the
    // measured deviation at N = 400 is well inside it).
    let (d, n, reps) = (4, 400, 100);
    let expected = 2.0 / (std::f64::consts::PI * n as f64).sqrt() * normal_bridge_integral();
    let vals: Vec<f64> = (0..reps)
        .map(|s| {
            let mut r = rng(7_000 + s);
            let x = gaussian(&vec![0.0; d], n, &mut r);
            let y = gaussian(&vec![0.0; d], n, &mut r);
            sliced_w1(&x, &y, 16, &mut r).unwrap()
        })
        .collect();
    let (m, sd) = mean_sd(&vals);
    let se = sd / (reps as f64).sqrt();
    eprintln!("sliced W1 same-dist: mean {m:.5} asymptotic {expected:.5} se {se:.5}");
    assert!(
        (m - expected).abs() <= 4.0 * se + 0.06 * expected,
        "mean sliced W1 {m} vs asymptotic {expected} (se {se})"
    );
    // And a true shift of 1 in 1-D is far above that noise: W1 = |δ| for a
    // location shift; the estimate's noise is O(N^{-1/2}) ≈ 0.05 here, so
    // 0.15 is a 3-sigma band.
    let mut r = rng(7_777);
    let x = gaussian(&[0.0], n, &mut r);
    let y = gaussian(&[1.0], n, &mut r);
    let w = sliced_w1(&x, &y, 4, &mut r).unwrap();
    assert!((w - 1.0).abs() < 0.15, "1-D shift by 1: sliced W1 {w}");
}

#[test]
fn sliced_w1_of_shifted_copy_is_the_shift() {
    // Exact: each projected sample is the projected copy shifted by θᵀδ, so
    // the sorted differences are all |θᵀδ| (1-D: |δ|). Only rounding (1e-12).
    let mut r = rng(11);
    let x = gaussian(&[0.0], 300, &mut r);
    // Shuffle the columns of the copy: order must not matter.
    let mut cols: Vec<usize> = (0..300).collect();
    for i in (1..300).rev() {
        cols.swap(i, r.random_range(0..=i));
    }
    let y = x.select_columns(cols.iter()).add_scalar(0.7);
    let w = sliced_w1(&x, &y, 8, &mut r).unwrap();
    assert!((w - 0.7).abs() < 1e-12, "1-D shifted copy: {w}");

    let delta = [0.3, -1.2, 0.5];
    let x = gaussian(&[0.0; 3], 200, &mut r);
    let mut y = x.clone();
    for mut c in y.column_iter_mut() {
        for (v, dv) in c.iter_mut().zip(&delta) {
            *v += dv;
        }
    }
    let dirs = random_directions(3, 10, &mut r).unwrap();
    let expected = dirs
        .column_iter()
        .map(|t| (t[0] * delta[0] + t[1] * delta[1] + t[2] * delta[2]).abs())
        .sum::<f64>()
        / 10.0;
    let w = sliced_w1_with_directions(&x, &y, &dirs).unwrap();
    assert!((w - expected).abs() < 1e-12, "{w} vs {expected}");
}

#[test]
fn w1_unequal_sizes_known_answers() {
    // Quantile functions of {0, 1} and {0, 0.5, 1} differ by 0.5 on
    // (1/3, 2/3]: W1 = 1/6.
    let w = w1_1d(&[1.0, 0.0], &[0.5, 0.0, 1.0]).unwrap();
    assert!((w - 1.0 / 6.0).abs() < 1e-15, "{w}");
    // A sample against itself repeated twice is the same distribution...
    let a = [0.3, -2.0, 1.5, 0.1, 7.0];
    let mut b: Vec<f64> = a.iter().chain(a.iter()).copied().collect();
    assert!(w1_1d(&a, &b).unwrap().abs() < 1e-15);
    // ...and shifting it shifts W1 by exactly the shift.
    b.iter_mut().for_each(|v| *v += 0.25);
    assert!((w1_1d(&a, &b).unwrap() - 0.25).abs() < 1e-14);
    // Sizes 3 and 2 with a point mass: W1(δ_0, {−1, 1}) = 1.
    assert!((w1_1d(&[0.0, 0.0, 0.0], &[-1.0, 1.0]).unwrap() - 1.0).abs() < 1e-15);
}

proptest! {
    #![proptest_config(crate::strategies::config(256))]

    #[test]
    fn w1_unequal_sizes_equals_common_refinement(
        a in proptest::collection::vec(-10.0f64..10.0, 1..20),
        b in proptest::collection::vec(-10.0f64..10.0, 1..20),
        shift in -5.0f64..5.0,
    ) {
        // Repeating each of the N values of a M times and each of the M
        // values of b N times leaves both distributions unchanged and makes
        // the sizes equal, where W1 = mean |sorted difference|; the merged-
        // breakpoint walk must agree (rounding of N·M-term sums: 1e-12).
        let ra: Vec<f64> = a.iter().flat_map(|v| std::iter::repeat_n(*v, b.len())).collect();
        let rb: Vec<f64> = b.iter().flat_map(|v| std::iter::repeat_n(*v, a.len())).collect();
        let w = w1_1d(&a, &b).unwrap();
        prop_assert!((w - w1_1d(&ra, &rb).unwrap()).abs() < 1e-12, "{w}");
        prop_assert!((w - w1_1d(&b, &a).unwrap()).abs() < 1e-12);
        // Shifting one side of a distribution against itself: W1 = |shift|.
        let shifted: Vec<f64> = ra.iter().map(|v| v + shift).collect();
        prop_assert!((w1_1d(&a, &shifted).unwrap() - shift.abs()).abs() < 1e-12);
    }
}

#[test]
fn permutation_test_matches_direct_recomputation() {
    // White-box known answer: the GEMM label-vector formula must give the
    // same statistics as recomputing MMD²_u on each permuted split. The
    // permutations are replayed from a second rng with the same seed (partial
    // Fisher–Yates, `random_range(i..n)`, as documented).
    let mut r = rng(5);
    let x = gaussian(&[0.0, 0.0], 30, &mut r);
    let y = gaussian(&[0.4, 0.0], 25, &mut r);
    let h = median_bandwidth(&x, &y).unwrap();
    let perms = 60;
    let mut r1 = rng(99);
    let mut r2 = rng(99); // same seed: replays the same draws
    let t = mmd_test_with_bandwidth(&x, &y, h, perms, &mut r1).unwrap();
    let direct = mmd2_unbiased(&x, &y, h).unwrap();
    // Same sums in another order: agreement to 1e-12 (values are O(0.1)).
    assert!((t.mmd2 - direct).abs() < 1e-12, "{} vs {direct}", t.mmd2);
    let (nx, n) = (30, 55);
    let mut z = DMatrix::zeros(2, n);
    z.columns_mut(0, nx).copy_from(&x);
    z.columns_mut(nx, 25).copy_from(&y);
    let mut idx: Vec<usize> = (0..n).collect();
    let mut exceed = 0;
    for _ in 0..perms {
        for i in 0..nx {
            let j = r2.random_range(i..n);
            idx.swap(i, j);
        }
        let xs = z.select_columns(idx[..nx].iter());
        let ys = z.select_columns(idx[nx..].iter());
        // (The implementation's tie tolerance, 1e-10 × mean kernel value,
        // only matters for exact ties, which continuous data never has.)
        if mmd2_unbiased(&xs, &ys, h).unwrap() >= direct {
            exceed += 1;
        }
    }
    let p = (1 + exceed) as f64 / (1 + perms) as f64;
    assert_eq!(t.p_value, p);
    assert_eq!(t.bandwidth, h);
}

/// Central interval [lo, hi] holding at least `level` of Binomial(n, p)
/// (each tail <= (1 − level)/2), from the pmf recursion.
fn binomial_interval(n: usize, p: f64, level: f64) -> (usize, usize) {
    let mut pmf = vec![(1.0 - p).powi(n as i32)];
    for k in 0..n {
        let next = pmf[k] * (n - k) as f64 / (k + 1) as f64 * p / (1.0 - p);
        pmf.push(next);
    }
    let tail = (1.0 - level) / 2.0;
    let mut cdf = 0.0;
    let mut lo = 0;
    for (k, q) in pmf.iter().enumerate() {
        if cdf + q > tail {
            lo = k;
            break;
        }
        cdf += q;
    }
    let mut upper = 0.0;
    let mut hi = n;
    for k in (0..=n).rev() {
        if upper + pmf[k] > tail {
            hi = k;
            break;
        }
        upper += pmf[k];
    }
    (lo, hi)
}

#[test]
fn permutation_test_false_positive_rate() {
    // 200 same-distribution pairs (N = M = 25, d = 2), B = 99 permutations:
    // with p = (1+k)/(1+B) and "reject iff p <= 0.05" the test's exact size
    // is ⌊0.05·100⌋/100 = 0.05, so the rejection count is Binomial(200,
    // 0.05); it must lie in that law's central 99% interval.
    let (pairs, perms) = (200, 99);
    let mut rejections = 0;
    for s in 0..pairs {
        let mut r = rng(50_000 + s);
        let x = gaussian(&[0.0, 0.0], 25, &mut r);
        let y = gaussian(&[0.0, 0.0], 25, &mut r);
        let t = mmd_test(&x, &y, perms, &mut r).unwrap();
        assert!(t.p_value > 0.0 && t.p_value <= 1.0);
        if mmd_rejects(t.p_value, SUCCESS_ALPHA) {
            rejections += 1;
        }
    }
    let (lo, hi) = binomial_interval(pairs as usize, 0.05, 0.99);
    assert!(
        (lo..=hi).contains(&rejections),
        "{rejections} rejections of {pairs}, 99% interval [{lo}, {hi}]"
    );
}

#[test]
fn permutation_test_detects_a_shift_and_is_deterministic() {
    let mut r = rng(21);
    let x = gaussian(&[0.0; 4], 150, &mut r);
    let y = gaussian(&[0.8, 0.0, 0.0, 0.0], 150, &mut r);
    let a = mmd_test(&x, &y, 200, &mut rng(3)).unwrap();
    let b = mmd_test(&x, &y, 200, &mut rng(3)).unwrap();
    assert_eq!(a, b, "same seed, same numbers");
    // A shift of 0.8 sd at N = 150 is many null sds away: no permutation
    // reaches it, p is the minimum 1/201.
    assert_eq!(a.p_value, 1.0 / 201.0);
    // Exact ties (duplicate points): every split of identical points has
    // the same statistic, so every permutation ties and p = 1.
    let same = DMatrix::from_element(4, 20, 0.5);
    let t = mmd_test_with_bandwidth(&same, &same, 1.0, 50, &mut rng(5)).unwrap();
    assert_eq!((t.mmd2.abs() < 1e-12, t.p_value), (true, 1.0));
    let s1 = sliced_w1(&x, &y, 32, &mut rng(4)).unwrap();
    let s2 = sliced_w1(&x, &y, 32, &mut rng(4)).unwrap();
    assert_eq!(s1, s2);
}

#[test]
fn median_bandwidth_known_answers() {
    // Pairwise distances of {0} ∪ {1, 3}: 1, 3, 2 -> median 2.
    let x = DMatrix::from_row_slice(1, 1, &[0.0]);
    let y = DMatrix::from_row_slice(1, 2, &[1.0, 3.0]);
    assert_eq!(median_bandwidth(&x, &y).unwrap(), 2.0);
    // {0, 1} ∪ {3, 6}: 1, 3, 6, 2, 5, 3 -> sorted 1 2 3 3 5 6 -> 3.
    let x = DMatrix::from_row_slice(1, 2, &[0.0, 1.0]);
    let y = DMatrix::from_row_slice(1, 2, &[3.0, 6.0]);
    assert_eq!(median_bandwidth(&x, &y).unwrap(), 3.0);
    // All points equal: fallback h = 1 (documented).
    let z = DMatrix::from_element(2, 3, 0.5);
    assert_eq!(median_bandwidth(&z, &z).unwrap(), 1.0);
    // Large sets are subsampled deterministically (no rng): repeatable,
    // and for N(0, I_d) the median distance is close to sqrt(2d) (the
    // distance² is 2·χ²_d, median ≈ 2(d − 2/3)); 5% covers the subsample.
    let mut r = rng(8);
    let x = gaussian(&[0.0; 16], 1500, &mut r);
    let y = gaussian(&[0.0; 16], 1500, &mut r);
    let h1 = median_bandwidth(&x, &y).unwrap();
    assert_eq!(h1, median_bandwidth(&x, &y).unwrap());
    let approx = (2.0f64 * (16.0 - 2.0 / 3.0)).sqrt();
    assert!((h1 - approx).abs() < 0.05 * approx, "{h1} vs {approx}");
}

#[test]
fn mean_and_covariance_errors_known_answers() {
    let mut r = rng(12);
    let x = gaussian(&[0.0; 3], 50, &mut r);
    let delta = [1.0, -2.0, 2.0];
    let y = DMatrix::from_fn(3, 50, |i, j| x[(i, j)] + delta[i]);
    // A translated copy: mean error = ||δ|| = 3, covariance unchanged
    // (rounding only).
    assert!((mean_error(&x, &y).unwrap() - 3.0).abs() < 1e-12);
    assert!(cov_error(&x, &y).unwrap() < 1e-12);
    // Scaling by 2 multiplies the covariance by 4: error = 3 ||Cov(X)||_F.
    let z = &x * 2.0;
    let cx = {
        let xm = DMatrix::from_fn(3, 50, |i, j| x[(i, j)] - x.row(i).mean());
        &xm * xm.transpose() / 49.0
    };
    assert!((cov_error(&x, &z).unwrap() - 3.0 * cx.norm()).abs() < 1e-12);
}

#[test]
fn distance_report_separates_shift_from_floor() {
    let mut r = rng(31);
    let real_a = gaussian(&[0.0; 4], 300, &mut r);
    let real_b = gaussian(&[0.0; 4], 300, &mut r);
    let gen_bad = gaussian(&[1.0, 0.0, 0.0, 0.0], 300, &mut r);
    let cfg = DistanceConfig::default();
    let rep = distance_report(&gen_bad, &real_a, &real_b, &cfg, &mut rng(1)).unwrap();
    // A 1-sd shift at N = 300 is far above every floor.
    assert!(rep.mmd2 > 10.0 * rep.mmd2_floor.abs(), "{rep:?}");
    assert_eq!(rep.p_value, 1.0 / 201.0);
    assert!(rep.sliced_w1 > 2.0 * rep.sliced_w1_floor, "{rep:?}");
    // mean error ≈ ||δ|| = 1 within a few sample-mean sds (2/sqrt(300)).
    assert!((rep.mean_error - 1.0).abs() < 0.25, "{rep:?}");
    assert!(rep.mean_error > 2.0 * rep.mean_error_floor);
    // The bandwidth comes from the real sets only.
    assert_eq!(rep.bandwidth, median_bandwidth(&real_a, &real_b).unwrap());
    let again = distance_report(&gen_bad, &real_a, &real_b, &cfg, &mut rng(1)).unwrap();
    assert_eq!(rep, again);
}

// ---------------------------------------------------------------- matching

/// Best total over all injections of the smaller side into the larger.
fn brute_force_best(cos: &DMatrix<f64>) -> f64 {
    let (r, c) = cos.shape();
    let get = |i: usize, j: usize| if r <= c { cos[(i, j)] } else { cos[(j, i)] };
    let (small, large) = (r.min(c), r.max(c));
    fn rec(k: usize, small: usize, used: &mut Vec<bool>, get: &dyn Fn(usize, usize) -> f64) -> f64 {
        if k == small {
            return 0.0;
        }
        let mut best = f64::NEG_INFINITY;
        for j in 0..used.len() {
            if !used[j] {
                used[j] = true;
                best = best.max(get(k, j) + rec(k + 1, small, used, get));
                used[j] = false;
            }
        }
        best
    }
    rec(0, small, &mut vec![false; large], &get)
}

fn cos_matrix_strategy() -> impl Strategy<Value = DMatrix<f64>> {
    (1usize..=6, 1usize..=7).prop_flat_map(|(r, c)| {
        let cont = proptest::collection::vec(-1.0f64..=1.0, r * c).boxed();
        // Coarse values make many ties.
        let coarse = proptest::collection::vec(
            prop_oneof![Just(-1.0), Just(-0.5), Just(0.0), Just(0.5), Just(1.0)],
            r * c,
        )
        .boxed();
        prop_oneof![cont, coarse].prop_map(move |v| DMatrix::from_vec(r, c, v))
    })
}

proptest! {
    #![proptest_config(crate::strategies::config(256))]

    #[test]
    fn kuhn_munkres_equals_brute_force(cos in cos_matrix_strategy()) {
        let (r, c) = cos.shape();
        let m = match_features(&cos).unwrap();
        // A valid injection of size min(r, c).
        prop_assert_eq!(m.pairs.len(), r.min(c));
        prop_assert_eq!(m.learned_of_true.len(), r);
        let mut used = vec![false; c];
        for (&(i, j), &cv) in m.pairs.iter().zip(&m.cosines) {
            prop_assert!(!used[j]);
            used[j] = true;
            prop_assert_eq!(cv, cos[(i, j)]);
            prop_assert_eq!(m.learned_of_true[i], Some(j));
        }
        // Optimal: weights are rounded to 1e-12, so the total is within
        // min(r, c) * 0.5e-12 of the optimum; 1e-9 is ample.
        let best = brute_force_best(&cos);
        prop_assert!((m.total() - best).abs() < 1e-9, "KM {} vs brute {}", m.total(), best);
    }

    #[test]
    fn recovery_of_permuted_rescaled_dictionary_is_exactly_one(
        seed in any::<u64>(),
        (n, perm, scales) in (2usize..=16, 1usize..=10).prop_flat_map(|(n, m)| (
            Just(n),
            Just((0..m).collect::<Vec<usize>>()).prop_shuffle(),
            proptest::collection::vec(0.01f64..100.0, m),
        )),
    ) {
        let m = perm.len();
        let v = gaussian(&vec![0.0; n], m, &mut rng(seed));
        // learned column k = scale_k · true column perm[k].
        let learned = DMatrix::from_fn(n, m, |a, k| scales[k] * v[(a, perm[k])]);
        let fr = feature_recovery(&v, &learned, DEFAULT_THETA).unwrap();
        // Cosines of parallel vectors: 1 up to rounding (1e-12).
        prop_assert!((fr.min_cos - 1.0).abs() < 1e-12, "min {}", fr.min_cos);
        prop_assert!((fr.mean_cos - 1.0).abs() < 1e-12, "mean {}", fr.mean_cos);
        prop_assert_eq!(fr.recovered_fraction, 1.0);
        prop_assert!(fr.all_recovered());
        for (k, &i) in perm.iter().enumerate() {
            prop_assert_eq!(fr.matching.learned_of_true[i], Some(k));
        }
        // The least-squares scales undo the rescaling: α_i = 1/scale_k.
        let alpha = ls_scales(&v, &learned, &fr.matching).unwrap();
        for (k, &i) in perm.iter().enumerate() {
            prop_assert!((alpha[i] * scales[k] - 1.0).abs() < 1e-12);
        }
    }
}

proptest! {
    #![proptest_config(crate::strategies::config(64))]

    /// `unit_max_cos` is the largest pairwise |cosine| (brute force), blind
    /// to column scale and sign and to zero (dead) columns; a rescaled,
    /// sign-flipped copy of a column makes it exactly 1.
    #[test]
    fn unit_max_cos_is_the_largest_pairwise_abs_cosine(
        seed in any::<u64>(),
        (n, scales, dup) in (2usize..=12, 2usize..=8).prop_flat_map(|(n, m)| (
            Just(n),
            proptest::collection::vec(prop_oneof![-100.0f64..-0.01, 0.01f64..100.0], m),
            0..m,
        )),
    ) {
        let m = scales.len();
        let v = gaussian(&vec![0.0; n], m, &mut rng(seed));
        let cos = |a: usize, b: usize| {
            (v.column(a).dot(&v.column(b)) / (v.column(a).norm() * v.column(b).norm())).abs()
        };
        let brute = (0..m)
            .flat_map(|a| (a + 1..m).map(move |b| (a, b)))
            .map(|(a, b)| cos(a, b))
            .fold(0.0_f64, f64::max);
        // Column sums in a different order: 1e-12 of rounding.
        let got = unit_max_cos(&v).unwrap().unwrap();
        prop_assert!((got - brute).abs() < 1e-12, "{got} vs {brute}");
        let scaled = DMatrix::from_fn(n, m, |a, k| scales[k] * v[(a, k)]);
        let with_dead = scaled.clone().insert_column(0, 0.0);
        prop_assert!((unit_max_cos(&with_dead).unwrap().unwrap() - brute).abs() < 1e-12);
        let copy = -3.0 * v.column(dup);
        let mut doubled = scaled.insert_column(m, 0.0);
        doubled.set_column(m, &copy);
        prop_assert!((unit_max_cos(&doubled).unwrap().unwrap() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn unit_max_cos_of_orthonormal_and_single_columns() {
    // Orthonormal columns: every off-diagonal cosine is exactly 0.
    let eye = DMatrix::<f64>::identity(5, 4);
    assert_eq!(unit_max_cos(&eye).unwrap(), Some(0.0));
    // One live column (the other dead): no pair.
    let one = DMatrix::from_column_slice(3, 2, &[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
    assert_eq!(unit_max_cos(&one).unwrap(), None);
    let mut bad = eye.clone();
    bad[(0, 0)] = f64::NAN;
    assert!(unit_max_cos(&bad).is_err());
}

#[test]
fn sign_flipped_and_too_few_units_are_not_recovered() {
    let mut r = rng(40);
    let v = gaussian(&[0.0; 10], 6, &mut r);
    // A sign-flipped atom is not a match (hidden features are >= 0).
    let mut flipped = v.clone();
    flipped.column_mut(2).neg_mut();
    let fr = feature_recovery(&v, &flipped, DEFAULT_THETA).unwrap();
    assert!(fr.recovered_fraction < 1.0 && fr.min_cos < DEFAULT_THETA);
    // Fewer learner units (4) than true features (6): 2 unmatched, min_cos
    // 0, recovered 4/6, never a success.
    let fewer = v.columns(0, 4).into_owned();
    let fr = feature_recovery(&v, &fewer, DEFAULT_THETA).unwrap();
    assert_eq!(fr.matching.pairs.len(), 4);
    assert_eq!(
        fr.matching.learned_of_true.iter().filter(|j| j.is_none()).count(),
        2
    );
    assert_eq!(fr.min_cos, 0.0);
    assert!((fr.recovered_fraction - 4.0 / 6.0).abs() < 1e-15);
    assert!(!fr.all_recovered());
    assert!(!level_succeeds(fr.min_cos, None, 0.9));
    for i in 0..4 {
        assert_eq!(fr.matching.learned_of_true[i], Some(i));
    }
}

// ---------------------------------------------------------- hidden / SR

#[test]
fn hidden_recovery_known_answers() {
    let s = DMatrix::from_row_slice(2, 4, &[1.0, 0.0, 2.0, 0.0, 0.5, 3.0, 0.0, 0.0]);
    // Learner: units swapped and rescaled, same activity pattern: all 0.
    let sl = DMatrix::from_row_slice(
        3,
        4,
        &[1.5, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 4.0, 0.0],
    );
    let cos = DMatrix::from_row_slice(2, 3, &[0.1, 0.0, 1.0, 1.0, 0.0, 0.1]);
    let m = match_features(&cos).unwrap();
    assert_eq!(m.learned_of_true, vec![Some(2), Some(0)]);
    let h = hidden_recovery(&s, &sl, &m).unwrap();
    assert_eq!(h.freq_true, vec![0.5, 0.5]);
    assert_eq!(h.freq_learned, vec![Some(0.5), Some(0.5)]);
    assert_eq!(
        (h.freq_max_error, h.coact_max_error, h.coact_frobenius),
        (0.0, 0.0, 0.0)
    );
    // Learner unit for true 1 always on: freq 1 vs 0.5 (error 0.5);
    // C'(0,1) = 0.5 vs C(0,1) = 0.25 (twice, symmetric); C'(1,1) = 1 vs
    // 0.5. Frobenius = sqrt(2·0.25² + 0.5²) = sqrt(0.375).
    let mut sl2 = sl.clone();
    sl2.row_mut(0).fill(1.0);
    let h = hidden_recovery(&s, &sl2, &m).unwrap();
    assert_eq!(h.freq_max_error, 0.5);
    assert_eq!(h.coact_max_error, 0.5);
    assert!((h.coact_frobenius - 0.375f64.sqrt()).abs() < 1e-15);
    assert_eq!(h.matched_units, 2);
}

/// A small synthetic level map X = V ReLU(W S − b), the form of SPEC §1.
fn level_map(v: &DMatrix<f64>, w: &DMatrix<f64>, b: &[f64], s: &DMatrix<f64>) -> DMatrix<f64> {
    let mut pre = w * s;
    for (i, mut row) in pre.row_iter_mut().enumerate() {
        row.apply(|x| *x = (*x - b[i]).max(0.0));
    }
    v * pre
}

#[test]
fn sr_error_of_true_map_against_itself_is_zero() {
    let (m1, m2, n, samples) = (6, 8, 16, 200);
    let mut r = rng(60);
    let v1 = gaussian(&[0.0; 16], m1, &mut r);
    let w = gaussian(&[0.0; 8], m1, &mut r); // m2 x m1
    let v2 = gaussian(&[0.0; 16], m2, &mut r);
    let b: Vec<f64> = (0..m2).map(|_| r.random_range(0.0..0.5)).collect();
    // Sparse non-negative S_{l-1}.
    let s_prev = DMatrix::from_fn(m1, samples, |_, _| {
        let u: f64 = r.random();
        if u < 0.3 { r.random_range(0.1..2.0) } else { 0.0 }
    });
    let x = level_map(&v2, &w, &b, &s_prev);
    assert_eq!(x.shape(), (n, samples));

    // Learner = the truth with its level-(l-1) units permuted and rescaled:
    // learned atom k = c_k v1[:, perm[k]]; to compute the same X its
    // level-l weights take column k = c_k W[:, perm[k]].
    let perm = [3usize, 0, 5, 1, 4, 2];
    let c = [0.5, 2.0, 3.0, 0.25, 1.0, 7.0];
    let v1l = DMatrix::from_fn(n, m1, |a, k| c[k] * v1[(a, perm[k])]);
    let wl = DMatrix::from_fn(m2, m1, |a, k| c[k] * w[(a, perm[k])]);
    let fr = feature_recovery(&v1, &v1l, DEFAULT_THETA).unwrap();
    let alpha = ls_scales(&v1, &v1l, &fr.matching).unwrap();
    let learner = |s: &DMatrix<f64>| level_map(&v2, &wl, &b, s);
    let err = sr_error(&s_prev, &x, &fr.matching, &alpha, m1, learner).unwrap();
    // Exact up to rounding of the scales and products.
    assert!(err < 1e-12, "SR error {err}");
    // Identity learner, directly.
    let fr_id = feature_recovery(&v1, &v1, DEFAULT_THETA).unwrap();
    let a_id = ls_scales(&v1, &v1, &fr_id.matching).unwrap();
    let err = sr_error(&s_prev, &x, &fr_id.matching, &a_id, m1, |s| {
        level_map(&v2, &w, &b, s)
    });
    assert!(err.unwrap() < 1e-12);
    // Sanity: a perturbed learner map is measurably wrong.
    let w_bad = &wl + gaussian(&[0.0; 8], m1, &mut r) * 0.3;
    let err = sr_error(&s_prev, &x, &fr.matching, &alpha, m1, |s| {
        level_map(&v2, &w_bad, &b, s)
    });
    assert!(err.unwrap() > 0.05);
    // relative_error known answer: ||2x − x|| / ||x|| = 1.
    assert!((relative_error(&(&x * 2.0), &x).unwrap() - 1.0).abs() < 1e-15);
}

#[test]
fn map_hidden_places_scaled_rows() {
    let s = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let cos = DMatrix::from_row_slice(2, 3, &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    let m = match_features(&cos).unwrap();
    let out = map_hidden(&s, &m, &[2.0, -1.0], 3).unwrap();
    let expected = DMatrix::from_row_slice(3, 3, &[-4.0, -5.0, -6.0, 0.0, 0.0, 0.0, 2.0, 4.0, 6.0]);
    assert_eq!(out, expected);
}

// ------------------------------------------------------- learning order

#[test]
fn learning_times_on_a_synthetic_trace() {
    let evals = [100, 200, 300, 400, 500];
    // level 1: recovered from 200 on -> 200.
    // level 2: on at 200, lost at 300, back from 400 on -> 400 (the later).
    // level 3: on only at 300, lost at the end -> None.
    // level 4: recovered from the first evaluation -> 100.
    // level 5: recovered only at the last evaluation -> 500.
    let tr = [
        [false, false, false, true, false],
        [true, true, false, true, false],
        [true, false, true, true, false],
        [true, true, false, true, false],
        [true, true, false, true, true],
    ];
    let rec: Vec<Vec<bool>> = tr.iter().map(|r| r.to_vec()).collect();
    let t = learning_times(&evals, &rec).unwrap();
    assert_eq!(t, vec![Some(200), Some(400), None, Some(100), Some(500)]);
    assert!(!is_forward_order(&t)); // 400 then 100
    assert!(is_forward_order(&t[..3])); // 200 <= 400, None skipped
    assert!(is_forward_order(&[Some(5), Some(5), Some(9)]));
    assert!(!is_forward_order(&[Some(5), None, Some(3)]));
    assert!(is_forward_order(&[]));
    // level_recovered: cosine and, for l >= 2, the SR error.
    assert!(level_recovered(0.92, None, 0.9, 0.1));
    assert!(!level_recovered(0.92, Some(0.2), 0.9, 0.1));
    assert!(!level_recovered(f64::NAN, None, 0.9, 0.1));
}

// ---------------------------------------------------- success / summary

#[test]
fn success_definition_and_summary_fields() {
    assert!(level_succeeds(0.95, Some(0.1), 0.06));
    assert!(level_succeeds(0.99, None, 1.0));
    assert!(!level_succeeds(0.949, None, 0.5));
    assert!(!level_succeeds(0.99, Some(0.11), 0.5));
    assert!(!level_succeeds(0.99, Some(0.05), 0.05)); // p <= α rejects
    assert!(!level_succeeds(f64::NAN, None, 0.5));
    assert!(!level_succeeds(0.99, Some(f64::NAN), 0.5));
    assert!(!level_succeeds(0.99, None, f64::NAN));

    let mut r = rng(70);
    let v = gaussian(&[0.0; 8], 4, &mut r);
    let fr = feature_recovery(&v, &v, DEFAULT_THETA).unwrap();
    let a = gaussian(&[0.0; 3], 40, &mut r);
    let b = gaussian(&[0.0; 3], 40, &mut r);
    let g = gaussian(&[0.0; 3], 40, &mut r);
    let cfg = DistanceConfig {
        permutations: 20,
        projections: 4,
        bandwidth: Some(1.0),
    };
    let d = distance_report(&g, &a, &b, &cfg, &mut r).unwrap();
    let lm = LevelMetrics::new(1, &fr, None, &d);
    let json = serde_json::to_value(&lm).unwrap();
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
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert!(json["sr_error"].is_null() && json["t_learned"].is_null());
    let back: LevelMetrics = serde_json::from_value(json).unwrap();
    assert_eq!(back, lm);
    assert_eq!(run_succeeds(std::slice::from_ref(&lm)), lm.succeeds());
    assert!(!run_succeeds(&[]));
}

// ------------------------------------------------------------ bad input

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut r = rng(80);
    let x = gaussian(&[0.0; 3], 10, &mut r);
    let empty = DMatrix::<f64>::zeros(3, 0);
    let one = DMatrix::<f64>::zeros(3, 1);
    let other_dim = gaussian(&[0.0; 2], 10, &mut r);
    let mut nan = x.clone();
    nan[(1, 4)] = f64::NAN;
    let mut inf = x.clone();
    inf[(0, 0)] = f64::INFINITY;
    let zero_dim = DMatrix::<f64>::zeros(0, 10);

    for bad in [&empty, &other_dim, &nan, &inf, &zero_dim] {
        assert!(mmd2_unbiased(&x, bad, 1.0).is_err());
        assert!(mmd2_unbiased(bad, &x, 1.0).is_err());
        assert!(median_bandwidth(&x, bad).is_err());
        assert!(mmd_test(&x, bad, 10, &mut r).is_err());
        assert!(sliced_w1(&x, bad, 4, &mut r).is_err());
        assert!(mean_error(&x, bad).is_err());
        assert!(cov_error(&x, bad).is_err());
        assert!(distance_report(bad, &x, &x, &DistanceConfig::default(), &mut r).is_err());
        assert!(cosine_matrix(&x, bad).is_err());
    }
    // Unbiased MMD² and covariance need two samples per set.
    assert!(mmd2_unbiased(&x, &one, 1.0).is_err());
    assert!(cov_error(&one, &x).is_err());
    // Bad scalars.
    for h in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(mmd2_unbiased(&x, &x, h).is_err());
        assert!(mmd_test_with_bandwidth(&x, &x, h, 5, &mut r).is_err());
    }
    assert!(mmd_test(&x, &x, 0, &mut r).is_err());
    assert!(sliced_w1(&x, &x, 0, &mut r).is_err());
    assert!(w1_1d(&[], &[1.0]).is_err());
    assert!(w1_1d(&[f64::NAN], &[1.0]).is_err());

    // NaN in a cosine matrix must not reach kuhn_munkres (it would hang).
    let mut cos = DMatrix::from_element(3, 3, 0.5);
    cos[(1, 2)] = f64::NAN;
    assert!(match_features(&cos).is_err());
    cos[(1, 2)] = f64::NEG_INFINITY;
    assert!(match_features(&cos).is_err());
    cos[(1, 2)] = 3.0; // not a cosine
    assert!(match_features(&cos).is_err());
    assert!(match_features(&DMatrix::zeros(0, 3)).is_err());
    assert!(match_features(&DMatrix::zeros(3, 0)).is_err());
    // A zero true atom has no direction.
    let mut vz = x.clone();
    vz.column_mut(3).fill(0.0);
    assert!(cosine_matrix(&vz, &x).is_err());
    assert!(feature_recovery(&x, &x, f64::NAN).is_err());
    assert!(feature_recovery(&x, &nan, 0.9).is_err());

    // Matching / scale / shape inconsistencies.
    let v = gaussian(&[0.0; 5], 3, &mut r);
    let m = feature_recovery(&v, &v, 0.9).unwrap().matching;
    let s = DMatrix::from_element(3, 4, 1.0);
    assert!(map_hidden(&s, &m, &[1.0, 1.0], 3).is_err()); // scales too short
    assert!(map_hidden(&s, &m, &[1.0, 1.0, 1.0], 2).is_err()); // m' mismatch
    assert!(map_hidden(&s.rows(0, 2).into_owned(), &m, &[1.0, 1.0], 3).is_err());
    assert!(map_hidden(&s, &m, &[1.0, f64::NAN, 1.0], 3).is_err());
    assert!(ls_scales(&v, &v.columns(0, 2).into_owned(), &m).is_err());
    assert!(hidden_recovery(&s, &s.rows(0, 2).into_owned(), &m).is_err());
    assert!(hidden_recovery_with_threshold(&s, &s, &m, -1.0).is_err());
    let xs = DMatrix::from_element(2, 4, 1.0);
    assert!(relative_error(&xs, &DMatrix::zeros(2, 4)).is_err()); // zero reference
    assert!(relative_error(&xs, &DMatrix::from_element(4, 2, 1.0)).is_err());
    // Learner map with the wrong output shape, or NaN output.
    let ok = [1.0, 1.0, 1.0];
    assert!(sr_error(&s, &xs, &m, &ok, 3, |_| DMatrix::zeros(3, 4)).is_err());
    assert!(sr_error(&s, &xs, &m, &ok, 3, |_| DMatrix::from_element(2, 4, f64::NAN)).is_err());

    // Traces.
    assert!(learning_times(&[], &[]).is_err());
    assert!(learning_times(&[1, 2], &[vec![true]]).is_err());
    assert!(learning_times(&[2, 1], &[vec![true], vec![true]]).is_err());
    assert!(learning_times(&[1, 2], &[vec![true], vec![true, false]]).is_err());
}
