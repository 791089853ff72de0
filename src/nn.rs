//! Dense networks with hand-written, batched backpropagation (SPEC §2, "Gradients
//! are hand-written, batched matrix code"). Owns: the [`Dense`] layer, the
//! [`Activation`]s (with first and second derivatives), a small [`Mlp`]
//! stack, the [`Params`] visitor optimisers walk, and the GEMM helpers
//! ([`MatRef`]) every backward pass in `gan` uses.
//!
//! Conventions: a mini-batch is a matrix with one column per example
//! (`in x B`), `f64` throughout. Every product goes through nalgebra's
//! `gemm`, which dispatches to matrixmultiply for any strides once every
//! dimension exceeds 5. Products with a transposed factor (`A^T B`, `A B^T`)
//! use a transposed *strided view* ([`MatRef::t`]) — never `tr_mul` /
//! `gemm_tr`, which do not reach matrixmultiply and run 5–10x slower
//! (NOTES.md). Forward and backward buffers live in the structs and are only
//! reallocated when a shape changes, so a training loop with a fixed batch
//! size does not allocate once warmed up.

use nalgebra::storage::{Storage, StorageMut};
use nalgebra::{DMatrix, DMatrixView, DMatrixViewMut, DVector, Dyn, Matrix, MatrixView};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A borrowed column-major `rows x cols` matrix: the same memory can be read
/// with another shape ([`Self::reshaped`], the stacked / unstacked layouts of
/// `target::geometry`) or transposed without a copy ([`Self::t`]).
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f64],
    pub rows: usize,
    pub cols: usize,
}

impl<'a> MatRef<'a> {
    /// The whole matrix.
    pub fn of(m: &'a DMatrix<f64>) -> Self {
        MatRef {
            data: m.as_slice(),
            rows: m.nrows(),
            cols: m.ncols(),
        }
    }

    /// The same memory read as `rows x (len / rows)` (stack / unstack).
    pub fn reshaped(self, rows: usize) -> Self {
        let cols = self.data.len().checked_div(rows).unwrap_or(0);
        MatRef {
            data: self.data,
            rows,
            cols,
        }
    }

    /// A column-major view.
    pub fn v(self) -> DMatrixView<'a, f64> {
        DMatrixView::from_slice(self.data, self.rows, self.cols)
    }

    /// The transpose as a strided view (`cols x rows`, row stride `rows`,
    /// column stride 1): feeds matrixmultiply directly, no copy.
    pub fn t(self) -> MatrixView<'a, f64, Dyn, Dyn, Dyn, Dyn> {
        MatrixView::from_slice_with_strides_generic(
            self.data,
            Dyn(self.cols),
            Dyn(self.rows),
            Dyn(self.rows.max(1)),
            Dyn(1),
        )
    }
}

/// A mutable column-major `rows x cols` view of `data` (e.g. an unstacked
/// buffer written by a stacked GEMM).
pub fn view_mut(data: &mut [f64], rows: usize, cols: usize) -> DMatrixViewMut<'_, f64> {
    DMatrixViewMut::from_slice(data, rows, cols)
}

/// `C <- alpha A B + beta C` for any strides. Goes to nalgebra's `gemm`
/// (matrixmultiply, any strides) when every dimension exceeds 5 or `A` has
/// unit row stride; otherwise a plain loop. Reason: nalgebra 0.35's small-size
/// fallback (`gemv` -> `axcpy`) iterates over the *slice* length of a strided
/// column of `A` and writes past the end of `C` when `A` is a transposed
/// view (heap corruption, found by `tests/it/nn.rs`). `beta = 0` never reads `C`.
pub fn gemm<SC, SA, SB>(
    c: &mut Matrix<f64, Dyn, Dyn, SC>,
    alpha: f64,
    a: &Matrix<f64, Dyn, Dyn, SA>,
    b: &Matrix<f64, Dyn, Dyn, SB>,
    beta: f64,
) where
    SC: StorageMut<f64, Dyn, Dyn>,
    SA: Storage<f64, Dyn, Dyn>,
    SB: Storage<f64, Dyn, Dyn>,
{
    let (m, k) = a.shape();
    let n = b.ncols();
    assert!(
        b.nrows() == k && c.shape() == (m, n),
        "gemm: ({m} x {k}) times ({} x {n}) into {:?}",
        b.nrows(),
        c.shape()
    );
    if (m > 5 && n > 5 && k > 5) || a.strides().0 == 1 {
        c.gemm(alpha, a, b, beta);
        return;
    }
    for j in 0..n {
        for i in 0..m {
            let mut s = 0.0;
            for p in 0..k {
                s += a[(i, p)] * b[(p, j)];
            }
            c[(i, j)] = if beta == 0.0 {
                alpha * s
            } else {
                alpha * s + beta * c[(i, j)]
            };
        }
    }
}

/// Resizes `m` to `rows x cols` only if its shape differs (then zeroed).
pub fn ensure(m: &mut DMatrix<f64>, rows: usize, cols: usize) {
    if m.nrows() != rows || m.ncols() != cols {
        *m = DMatrix::zeros(rows, cols);
    }
}

/// Resizes `v` to `len` only if its length differs (then zeroed).
pub fn ensure_vec(v: &mut DVector<f64>, len: usize) {
    if v.len() != len {
        *v = DVector::zeros(len);
    }
}

/// `b <- rowsum(m)`, i.e. `m 1` (`rows x cols` times `cols x 1`).
pub fn row_sums_into(m: MatRef<'_>, out: &mut DVector<f64>) {
    ensure_vec(out, m.rows);
    out.fill(0.0);
    for col in m.data.chunks_exact(m.rows.max(1)).take(m.cols) {
        for (o, v) in out.iter_mut().zip(col) {
            *o += v;
        }
    }
}

/// `m <- m + b 1^T` (one bias per row) for a column-major buffer.
pub fn add_bias(m: &mut [f64], rows: usize, b: &[f64], sign: f64) {
    if rows == 0 {
        return;
    }
    for col in m.chunks_exact_mut(rows) {
        for (v, bi) in col.iter_mut().zip(b) {
            *v += sign * bi;
        }
    }
}

/// `N(0, std^2)` entries.
pub fn randn(rows: usize, cols: usize, std: f64, rng: &mut impl Rng) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| {
        let z: f64 = StandardNormal.sample(rng);
        std * z
    })
}

/// Gaussian rows rescaled to unit norm.
pub fn unit_rows(rows: usize, cols: usize, rng: &mut impl Rng) -> DMatrix<f64> {
    let mut m = randn(rows, cols, 1.0, rng);
    for mut r in m.row_iter_mut() {
        let n = r.norm();
        if n > 0.0 {
            r /= n;
        }
    }
    m
}

/// Gaussian columns rescaled to unit norm.
pub fn unit_cols(rows: usize, cols: usize, rng: &mut impl Rng) -> DMatrix<f64> {
    let mut m = randn(rows, cols, 1.0, rng);
    for mut c in m.column_iter_mut() {
        let n = c.norm();
        if n > 0.0 {
            c /= n;
        }
    }
    m
}

/// Element-wise activations `a = f(h)`, with `f'` (backprop) and `f''` (the
/// gradient penalty's second-order term).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Activation {
    /// `max(h, 0)`. A bias threshold is the layer's bias: `max(w.x + b, 0)`;
    /// the FSR convention `ReLU(W x - b)` is this with the bias negated.
    Relu,
    /// `h` for `h > 0`, `alpha h` otherwise.
    LeakyRelu {
        alpha: f64,
    },
    Identity,
    Tanh,
    Sigmoid,
    /// `h^2` (the LQG known-answer check: a quadratic discriminator).
    Quadratic,
}

impl Activation {
    /// `f(h)`.
    #[inline]
    pub fn f(self, h: f64) -> f64 {
        match self {
            Activation::Relu => h.max(0.0),
            Activation::LeakyRelu { alpha } => {
                if h > 0.0 {
                    h
                } else {
                    alpha * h
                }
            }
            Activation::Identity => h,
            Activation::Tanh => h.tanh(),
            Activation::Sigmoid => sigmoid(h),
            Activation::Quadratic => h * h,
        }
    }

    /// `f'(h)` (the right derivative at a ReLU kink: 0).
    #[inline]
    pub fn df(self, h: f64) -> f64 {
        match self {
            Activation::Relu => {
                if h > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { alpha } => {
                if h > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Identity => 1.0,
            Activation::Tanh => {
                let t = h.tanh();
                1.0 - t * t
            }
            Activation::Sigmoid => {
                let s = sigmoid(h);
                s * (1.0 - s)
            }
            Activation::Quadratic => 2.0 * h,
        }
    }

    /// `f''(h)` (0 for the piecewise-linear ones, away from kinks).
    #[inline]
    pub fn d2f(self, h: f64) -> f64 {
        match self {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Identity => 0.0,
            Activation::Tanh => {
                let t = h.tanh();
                -2.0 * t * (1.0 - t * t)
            }
            Activation::Sigmoid => {
                let s = sigmoid(h);
                s * (1.0 - s) * (1.0 - 2.0 * s)
            }
            Activation::Quadratic => 2.0,
        }
    }

    /// Forward, element-wise: `out = f(pre)` (same shape).
    pub fn forward(self, pre: &DMatrix<f64>, out: &mut DMatrix<f64>) {
        ensure(out, pre.nrows(), pre.ncols());
        let (o, h) = (out.as_mut_slice(), pre.as_slice());
        // One tight loop per activation (a `match` per element is not hoisted).
        match self {
            Activation::Relu => o.iter_mut().zip(h).for_each(|(o, h)| *o = h.max(0.0)),
            Activation::Identity => o.copy_from_slice(h),
            _ => o.iter_mut().zip(h).for_each(|(o, h)| *o = self.f(*h)),
        }
    }

    /// Forward that also stores the slope: `out = f(pre)`, `slope = f'(pre)`
    /// (what backward and the gradient penalty reuse).
    pub fn forward_with_slope(self, pre: &DMatrix<f64>, out: &mut DMatrix<f64>, slope: &mut DMatrix<f64>) {
        ensure(out, pre.nrows(), pre.ncols());
        ensure(slope, pre.nrows(), pre.ncols());
        let (o, s, h) = (out.as_mut_slice(), slope.as_mut_slice(), pre.as_slice());
        match self {
            Activation::Relu => {
                for ((o, s), h) in o.iter_mut().zip(s.iter_mut()).zip(h) {
                    let on = *h > 0.0;
                    *o = if on { *h } else { 0.0 };
                    *s = if on { 1.0 } else { 0.0 };
                }
            }
            Activation::LeakyRelu { alpha } => {
                for ((o, s), h) in o.iter_mut().zip(s.iter_mut()).zip(h) {
                    let k = if *h > 0.0 { 1.0 } else { alpha };
                    *o = k * h;
                    *s = k;
                }
            }
            _ => {
                for ((o, s), h) in o.iter_mut().zip(s.iter_mut()).zip(h) {
                    *o = self.f(*h);
                    *s = self.df(*h);
                }
            }
        }
    }

    /// One column of a critic's hidden layer in one pass: `pre <- pre + add
    /// (+ add2)`, `post = f(pre)`, `slope = f'(pre)`; returns `a . post`
    /// (the bias, parent term and activation fused; [`dot`] for the sum).
    #[inline]
    pub fn fused_column(
        self,
        pre: &mut [f64],
        add: &[f64],
        add2: Option<&[f64]>,
        post: &mut [f64],
        slope: &mut [f64],
        a: &[f64],
    ) -> f64 {
        let h = pre.len();
        let (add, post, slope) = (&add[..h], &mut post[..h], &mut slope[..h]);
        match add2 {
            Some(q) => {
                for ((p, x), y) in pre.iter_mut().zip(add).zip(&q[..h]) {
                    *p += y + x;
                }
            }
            None => {
                for (p, x) in pre.iter_mut().zip(add) {
                    *p += x;
                }
            }
        }
        match self {
            Activation::Relu => {
                for ((p, o), s) in pre.iter().zip(post.iter_mut()).zip(slope.iter_mut()) {
                    *o = p.max(0.0);
                    *s = if *p > 0.0 { 1.0 } else { 0.0 };
                }
            }
            Activation::LeakyRelu { alpha } => {
                for ((p, o), s) in pre.iter().zip(post.iter_mut()).zip(slope.iter_mut()) {
                    let k = if *p > 0.0 { 1.0 } else { alpha };
                    *o = k * p;
                    *s = k;
                }
            }
            _ => {
                for ((p, o), s) in pre.iter().zip(post.iter_mut()).zip(slope.iter_mut()) {
                    *o = self.f(*p);
                    *s = self.df(*p);
                }
            }
        }
        dot(a, post)
    }

    /// Backward, element-wise: `d_pre = d_out ⊙ f'(pre)` (same shape).
    pub fn backward(self, pre: &DMatrix<f64>, d_out: &DMatrix<f64>, d_pre: &mut DMatrix<f64>) {
        ensure(d_pre, pre.nrows(), pre.ncols());
        for ((d, h), g) in d_pre.iter_mut().zip(pre.iter()).zip(d_out.iter()) {
            *d = g * self.df(*h);
        }
    }

    /// Parses a config name (`relu`, `leaky_relu`, `identity`, `tanh`,
    /// `sigmoid`, `quadratic`); `alpha` is the leaky slope.
    pub fn from_name(name: &str, alpha: f64) -> Option<Activation> {
        Some(match name {
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu { alpha },
            "identity" => Activation::Identity,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "quadratic" => Activation::Quadratic,
            _ => return None,
        })
    }

    /// True when `f'' = 0` away from kinks.
    pub fn piecewise_linear(self) -> bool {
        matches!(
            self,
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Identity
        )
    }
}

/// `x . y` with four partial sums (vectorises; a fixed order, so
/// deterministic).
#[inline]
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0.0f64; 4];
    let mut xc = x.chunks_exact(4);
    let mut yc = y.chunks_exact(4);
    for (a, b) in (&mut xc).zip(&mut yc) {
        for k in 0..4 {
            acc[k] += a[k] * b[k];
        }
    }
    let mut tail = 0.0;
    for (a, b) in xc.remainder().iter().zip(yc.remainder()) {
        tail += a * b;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The logistic function, computed without overflow.
#[inline]
pub fn sigmoid(h: f64) -> f64 {
    if h >= 0.0 {
        1.0 / (1.0 + (-h).exp())
    } else {
        let e = h.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^h)`, computed without overflow.
#[inline]
pub fn softplus(h: f64) -> f64 {
    if h > 0.0 {
        h + (-h).exp().ln_1p()
    } else {
        h.exp().ln_1p()
    }
}

/// A model whose parameters an optimiser can update: visits every
/// `(parameter, gradient)` pair, always in the same order and with the same
/// lengths (optimiser state is keyed by that order).
pub trait Params {
    fn visit(&mut self, f: &mut dyn FnMut(&mut [f64], &[f64]));
    /// Visits parameter values only (divergence checks, weight decay).
    fn visit_values(&self, f: &mut dyn FnMut(&[f64]));
    /// True when every parameter is finite.
    fn all_finite(&self) -> bool {
        let mut ok = true;
        self.visit_values(&mut |p| ok &= p.iter().all(|v| v.is_finite()));
        ok
    }
    /// Number of scalar parameters.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit_values(&mut |p| n += p.len());
        n
    }
}

/// A dense layer `Y = W X + b 1^T`: `W` is `out x in`, `b` has `out` entries.
/// Gradients (`gw`, `gb`) are filled by [`Self::backward`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dense {
    pub w: DMatrix<f64>,
    pub b: DVector<f64>,
    #[serde(skip)]
    pub gw: DMatrix<f64>,
    #[serde(skip)]
    pub gb: DVector<f64>,
}

impl Dense {
    /// All-zero layer.
    pub fn zeros(out: usize, inp: usize) -> Dense {
        Dense::from_parts(DMatrix::zeros(out, inp), DVector::zeros(out))
    }

    /// From given weights and biases.
    pub fn from_parts(w: DMatrix<f64>, b: DVector<f64>) -> Dense {
        let (o, i) = w.shape();
        Dense {
            w,
            b,
            gw: DMatrix::zeros(o, i),
            gb: DVector::zeros(o),
        }
    }

    /// He initialisation: `W_ij ~ N(0, gain / in)` (gain 2 for ReLU keeps the
    /// forward variance; 1 for linear / tanh), zero bias.
    pub fn init_he(out: usize, inp: usize, gain: f64, rng: &mut impl Rng) -> Dense {
        let std = (gain / inp.max(1) as f64).sqrt();
        Dense::from_parts(randn(out, inp, std, rng), DVector::zeros(out))
    }

    pub fn inputs(&self) -> usize {
        self.w.ncols()
    }

    pub fn outputs(&self) -> usize {
        self.w.nrows()
    }

    /// Forward: `Y = W X + b 1^T`.
    /// Shapes: `(out x in) (in x B) + (out x 1)(1 x B) = out x B`.
    pub fn forward(&self, x: MatRef<'_>, y: &mut DMatrix<f64>) {
        ensure(y, self.outputs(), x.cols);
        // Y <- b 1^T, then Y <- 1 * W X + 1 * Y (one GEMM).
        for mut col in y.column_iter_mut() {
            col.copy_from(&self.b);
        }
        gemm(y, 1.0, &self.w, &x.v(), 1.0);
    }

    /// Backward of `Y = W X + b 1^T` given `dY = dL/dY` (`out x B`):
    /// - `dW = dY X^T`: `(out x B)(B x in) = out x in` (X^T a strided view);
    /// - `db = dY 1`: row sums, `out x 1`;
    /// - `dX = W^T dY`: `(in x out)(out x B) = in x B` (if asked).
    ///
    /// Gradients overwrite `gw`, `gb` (accumulate is `beta = 1`, see
    /// [`Self::backward_acc`]).
    pub fn backward(&mut self, x: MatRef<'_>, dy: &DMatrix<f64>, dx: Option<&mut DMatrix<f64>>) {
        self.backward_acc(x, dy, dx, 0.0);
    }

    /// As [`Self::backward`] with `gw <- dY X^T + beta gw`, `gb <- dY 1 + beta gb`.
    pub fn backward_acc(
        &mut self,
        x: MatRef<'_>,
        dy: &DMatrix<f64>,
        dx: Option<&mut DMatrix<f64>>,
        beta: f64,
    ) {
        let (o, i) = self.w.shape();
        if self.gw.shape() != (o, i) {
            self.gw = DMatrix::zeros(o, i);
        }
        if self.gb.len() != o {
            self.gb = DVector::zeros(o);
        }
        // dW = dY X^T  [out x B][B x in]
        gemm(&mut self.gw, 1.0, dy, &x.t(), beta);
        // db = dY 1  [out x 1]
        if beta == 0.0 {
            self.gb.fill(0.0);
        } else {
            self.gb *= beta;
        }
        for col in dy.column_iter() {
            self.gb += col;
        }
        if let Some(dx) = dx {
            // dX = W^T dY  [in x out][out x B]
            ensure(dx, i, dy.ncols());
            gemm(dx, 1.0, &MatRef::of(&self.w).t(), dy, 0.0);
        }
    }
}

impl Params for Dense {
    fn visit(&mut self, f: &mut dyn FnMut(&mut [f64], &[f64])) {
        let (o, i) = self.w.shape();
        ensure(&mut self.gw, o, i);
        ensure_vec(&mut self.gb, o);
        f(self.w.as_mut_slice(), self.gw.as_slice());
        f(self.b.as_mut_slice(), self.gb.as_slice());
    }
    fn visit_values(&self, f: &mut dyn FnMut(&[f64])) {
        f(self.w.as_slice());
        f(self.b.as_slice());
    }
}

/// A stack of dense layers, `a_k = f_k(W_k a_{k-1} + b_k)`, `a_0 = x`.
/// Keeps the pre-activations and activations of the last forward pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mlp {
    pub layers: Vec<Dense>,
    /// One activation per layer (usually `Identity` last).
    pub acts: Vec<Activation>,
    #[serde(skip)]
    pre: Vec<DMatrix<f64>>,
    #[serde(skip)]
    post: Vec<DMatrix<f64>>,
    #[serde(skip)]
    d_a: Vec<DMatrix<f64>>,
    #[serde(skip)]
    d_h: DMatrix<f64>,
}

impl Mlp {
    /// `sizes = [in, h_1, ..., out]`; hidden layers use `hidden`, the last
    /// layer `last`; He init (gain 2 for ReLU-like hidden, 1 otherwise).
    pub fn new(sizes: &[usize], hidden: Activation, last: Activation, rng: &mut impl Rng) -> Mlp {
        let k = sizes.len().saturating_sub(1);
        let mut layers = Vec::with_capacity(k);
        let mut acts = Vec::with_capacity(k);
        for i in 0..k {
            let act = if i + 1 == k { last } else { hidden };
            let gain = if i == 0 || !matches!(hidden, Activation::Relu | Activation::LeakyRelu { .. }) {
                1.0
            } else {
                2.0
            };
            layers.push(Dense::init_he(sizes[i + 1], sizes[i], gain, rng));
            acts.push(act);
        }
        Mlp::from_layers(layers, acts)
    }

    pub fn from_layers(layers: Vec<Dense>, acts: Vec<Activation>) -> Mlp {
        Mlp {
            layers,
            acts,
            pre: Vec::new(),
            post: Vec::new(),
            d_a: Vec::new(),
            d_h: DMatrix::zeros(0, 0),
        }
    }

    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs())
    }

    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs())
    }

    /// Forward over a batch `x` (`in x B`); returns the output (`out x B`).
    pub fn forward(&mut self, x: MatRef<'_>) -> &DMatrix<f64> {
        let k = self.layers.len();
        self.pre.resize_with(k, || DMatrix::zeros(0, 0));
        self.post.resize_with(k, || DMatrix::zeros(0, 0));
        for i in 0..k {
            let (before, rest) = self.post.split_at_mut(i);
            let input = if i == 0 { x } else { MatRef::of(&before[i - 1]) };
            self.layers[i].forward(input, &mut self.pre[i]);
            self.acts[i].forward(&self.pre[i], &mut rest[0]);
        }
        &self.post[k - 1]
    }

    /// Output of the last forward pass.
    pub fn output(&self) -> &DMatrix<f64> {
        &self.post[self.post.len() - 1]
    }

    /// Backward after [`Self::forward`] on the same `x`, given `d_out =
    /// dL/d(output)`; fills every layer's gradient and, if asked, `dx`.
    pub fn backward(&mut self, x: MatRef<'_>, d_out: &DMatrix<f64>, dx: Option<&mut DMatrix<f64>>) {
        let k = self.layers.len();
        self.d_a.resize_with(k, || DMatrix::zeros(0, 0));
        // d_a[i] = dL/d(post_i); d_h = dL/d(pre_i) = d_a[i] ⊙ f'(pre_i).
        self.d_a[k - 1].clone_from(d_out);
        let mut dx = dx;
        for i in (0..k).rev() {
            self.acts[i].backward(&self.pre[i], &self.d_a[i], &mut self.d_h);
            let input = if i == 0 { x } else { MatRef::of(&self.post[i - 1]) };
            if i > 0 {
                let (lo, _) = self.d_a.split_at_mut(i);
                self.layers[i].backward(input, &self.d_h, Some(&mut lo[i - 1]));
            } else {
                self.layers[0].backward(input, &self.d_h, dx.take());
            }
        }
    }
}

impl Params for Mlp {
    fn visit(&mut self, f: &mut dyn FnMut(&mut [f64], &[f64])) {
        for l in &mut self.layers {
            l.visit(f);
        }
    }
    fn visit_values(&self, f: &mut dyn FnMut(&[f64])) {
        for l in &self.layers {
            l.visit_values(f);
        }
    }
}
