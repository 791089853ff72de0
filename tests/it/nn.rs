//! Finite-difference checks of `nn` (SPEC §5): every activation's first and
//! second derivative, the dense layer's three gradients, the MLP's backward,
//! and the strided-transpose helper; random points from proptest strategies
//! (seeds included). Shared FD helpers (`fd_check`) are used by `gan.rs`.

use fsrgan::nn::{Activation, Dense, MatRef, Mlp, Params};
use fsrgan::target::rand_chacha;
use nalgebra::DMatrix;
use proptest::prelude::*;
use rand_distr::{Distribution, StandardNormal};

/// Central-difference step: truncation ~eps^2 and round-off ~1e-16/eps both
/// far below the 1e-6 tolerance at these scales.
pub const EPS: f64 = 1e-5;
/// Largest accepted relative error `||g - g_fd|| / max(||g||, ||g_fd||)`.
pub const TOL: f64 = 1e-6;

pub fn randn(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = rand_chacha(seed);
    DMatrix::from_fn(rows, cols, |_, _| StandardNormal.sample(&mut rng))
}

/// Adds `delta` to the `k`-th scalar parameter (visit order).
pub fn nudge(m: &mut dyn Params, k: usize, delta: f64) {
    let mut off = 0;
    m.visit(&mut |p, _| {
        if k >= off && k < off + p.len() {
            p[k - off] += delta;
        }
        off += p.len();
    });
}

/// The concatenated gradient (visit order).
pub fn grads(m: &mut dyn Params) -> Vec<f64> {
    let mut g = Vec::new();
    m.visit(&mut |_, gr| g.extend_from_slice(gr));
    g
}

pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    d / na.max(nb).max(1e-300)
}

/// Central differences of `loss` over every parameter of `model`.
pub fn fd_params<M: Params>(model: &mut M, loss: &mut dyn FnMut(&mut M) -> f64) -> Vec<f64> {
    let n = model.num_params();
    (0..n)
        .map(|k| {
            nudge(model, k, EPS);
            let up = loss(model);
            nudge(model, k, -2.0 * EPS);
            let down = loss(model);
            nudge(model, k, EPS);
            (up - down) / (2.0 * EPS)
        })
        .collect()
}

/// Central differences of `loss` over the entries of `x`.
pub fn fd_matrix(x: &mut DMatrix<f64>, loss: &mut dyn FnMut(&DMatrix<f64>) -> f64) -> Vec<f64> {
    (0..x.len())
        .map(|k| {
            x[k] += EPS;
            let up = loss(x);
            x[k] -= 2.0 * EPS;
            let down = loss(x);
            x[k] += EPS;
            (up - down) / (2.0 * EPS)
        })
        .collect()
}

/// Every activation (leaky with its slope).
pub fn activations() -> Vec<Activation> {
    vec![
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.2 },
        Activation::Identity,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Quadratic,
    ]
}

fn act_strategy() -> impl Strategy<Value = Activation> {
    prop::sample::select(activations())
}

proptest! {
    #![proptest_config(crate::strategies::config(64))]

    /// f' and f'' against central differences, away from the kink at 0.
    #[test]
    fn activation_derivatives(act in act_strategy(), h in prop_oneof![-4.0f64..-0.01, 0.01f64..4.0]) {
        let d1 = (act.f(h + EPS) - act.f(h - EPS)) / (2.0 * EPS);
        let d2 = (act.df(h + EPS) - act.df(h - EPS)) / (2.0 * EPS);
        prop_assert!((d1 - act.df(h)).abs() <= TOL * d1.abs().max(1e-3), "{act:?} f' at {h}");
        prop_assert!((d2 - act.d2f(h)).abs() <= TOL * d2.abs().max(1e-3), "{act:?} f'' at {h}");
    }

    /// Dense layer: dW, db and dX of `L = <C, W X + b 1^T>` by central differences.
    #[test]
    fn dense_gradients(out in 1usize..9, inp in 1usize..9, batch in 1usize..12, seed in any::<u64>()) {
        let mut rng = rand_chacha(seed);
        let mut layer = Dense::init_he(out, inp, 2.0, &mut rng);
        layer.b = randn(out, 1, seed ^ 1).column(0).into();
        let mut x = randn(inp, batch, seed ^ 2);
        let c = randn(out, batch, seed ^ 3);
        let mut y = DMatrix::zeros(0, 0);
        let mut dx = DMatrix::zeros(0, 0);
        layer.forward(MatRef::of(&x), &mut y);
        layer.backward(MatRef::of(&x), &c, Some(&mut dx));
        let g = grads(&mut layer);
        let xx = x.clone();
        let fd = fd_params(&mut layer, &mut |l: &mut Dense| {
            let mut y = DMatrix::zeros(0, 0);
            l.forward(MatRef::of(&xx), &mut y);
            y.component_mul(&c).sum()
        });
        prop_assert!(rel_err(&g, &fd) <= TOL);
        let fdx = fd_matrix(&mut x, &mut |x| {
            let mut y = DMatrix::zeros(0, 0);
            layer.forward(MatRef::of(x), &mut y);
            y.component_mul(&c).sum()
        });
        prop_assert!(rel_err(dx.as_slice(), &fdx) <= TOL);
    }

    /// A 3-layer MLP with each hidden activation: parameter and input gradients.
    #[test]
    fn mlp_gradients(act in act_strategy(), seed in any::<u64>(), batch in 1usize..10) {
        let mut rng = rand_chacha(seed);
        let mut net = Mlp::new(&[3, 7, 6, 2], act, Activation::Tanh, &mut rng);
        // Non-zero biases: with zero biases and every unit of a layer off, the
        // next layer's pre-activations sit exactly on the ReLU kink (b = 0),
        // where central differences see half a slope.
        for (i, layer) in net.layers.iter_mut().enumerate() {
            let k = layer.b.len();
            layer.b = randn(k, 1, seed ^ (40 + i as u64)).column(0) * 0.5;
        }
        let mut x = randn(3, batch, seed ^ 5);
        let c = randn(2, batch, seed ^ 6);
        net.forward(MatRef::of(&x));
        let mut dx = DMatrix::zeros(0, 0);
        net.backward(MatRef::of(&x), &c, Some(&mut dx));
        let g = grads(&mut net);
        let xx = x.clone();
        let fd = fd_params(&mut net, &mut |n: &mut Mlp| n.forward(MatRef::of(&xx)).component_mul(&c).sum());
        prop_assert!(rel_err(&g, &fd) <= TOL, "params {}", rel_err(&g, &fd));
        let fdx = fd_matrix(&mut x, &mut |x| net.clone().forward(MatRef::of(x)).component_mul(&c).sum());
        prop_assert!(rel_err(dx.as_slice(), &fdx) <= TOL);
    }
}

/// The strided transpose view feeds GEMM correctly at sizes that take the
/// matrixmultiply path and at small ones that do not.
#[test]
fn transposed_view_products() {
    for (r, c, k) in [(3, 4, 2), (17, 9, 33), (64, 40, 8)] {
        let a = randn(r, c, 1);
        let b = randn(r, k, 2);
        let mut out = DMatrix::zeros(c, k);
        fsrgan::nn::gemm(&mut out, 1.0, &MatRef::of(&a).t(), &b, 0.0);
        assert!((out - a.transpose() * &b).amax() < 1e-12);
    }
}

#[test]
fn softplus_and_sigmoid_are_stable() {
    use fsrgan::nn::{sigmoid, softplus};
    assert_eq!(softplus(1000.0), 1000.0);
    assert!(softplus(-1000.0) >= 0.0 && softplus(-1000.0) < 1e-300);
    assert!((sigmoid(-800.0)).is_finite() && sigmoid(800.0) == 1.0);
    assert!((softplus(0.3) - (1.0 + 0.3f64.exp()).ln()).abs() < 1e-15);
}
