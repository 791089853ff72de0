"""The PyTorch peer of one fsrgan SGDA iteration (issue 8): eager CPU PyTorch,
written the way a researcher would (stacked discriminator inputs, autograd,
torch.optim.Adam), mirroring fsrgan's engine exactly:

- generator `fsr`, pyramid output: S_1 = ReLU(W_1 z - b_1); S_l = ReLU(W_l
  S_{l-1} - b_l) with the r per-child maps stacked (one product per level);
  X_1 = V_1 S_1, X_l = Up(X_{l-1}) + V_l S_l; after every G step V_l <- Q Q^T
  V_l (l >= 2, the detail subspace).
- one discriminator per level on u = [X_{l,p}; X_{l-1,p/r}; onehot(pos)]
  (level 1: [X_{1,p}] plus onehot(p) when P_1 > 1), one hidden ReLU layer,
  f(u) = a . relu(W u + b) + c, score per sample = mean over its patches.
- logistic loss: L_D = mean softplus(-D(real)) + mean softplus(D(fake)) + R,
  R = gamma/2 mean_patches ||d f(u_j)/d x_j||^2 on real data (x_j = the data
  rows of u_j: patch and parent patch); L_G = mean softplus(-D(fake)).
- Adam(beta1 = 0, beta2 = 0.9, eps = 1e-8), one optimiser per D, one for G.
- alternating, n_D = 1: draw a real batch and z_D, G forward, D step on all
  levels; then draw a fresh z_G, G forward again, G step (as the engine
  does: the D-step forward is not reused).

Tensors are batch-first: a fsrgan column-major matrix M (rows x cols) is the
row-major tensor M^T (cols x rows), so fsrgan's reshapes are torch reshapes.

  python peer.py time SIZE [--iters N] [--warmup W] [--dtype f64|f32]
  python peer.py check dump.json      (from `sgda_step dump`)
  python peer.py flops SIZE           (analytic FLOP count, see flops())
"""

import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

SIZES = {
    # m (= latent dim), n (patch values), D hidden, batch; 3 levels, P = 1, 4, 16
    "small": dict(m=16, n=16, h=32, batch=64),
    "default": dict(m=32, n=16, h=64, batch=128),
    "large": dict(m=256, n=64, h=512, batch=256),
}
LEVELS, ROOT, FANOUT = 3, 1, 4


def geometry_mats(side, dtype):
    """Up stack ((r n) x n, as fsrgan's upsample_stack) and the detail
    projector Q Q^T (n x n) for fan-out 4 and 1 channel."""
    n = side * side
    up = torch.zeros(FANOUT * n, n, dtype=dtype)
    for c in range(FANOUT):
        dy, dx = c // 2, c % 2
        for i in range(side):
            for j in range(side):
                pi = dy * (side // 2) + i // 2
                pj = dx * (side // 2) + j // 2
                up[c * n + i * side + j, pi * side + pj] = 1.0
    # Detail subspace = orthogonal complement of the 2x2-block-constant images.
    pool = up.reshape(FANOUT, n, n).sum(0)  # n x n, rank n/4 block indicator
    q, _ = torch.linalg.qr(pool)
    rank = n // 4
    coarse = q[:, :rank]
    proj = torch.eye(n, dtype=dtype) - coarse @ coarse.T
    return up, proj


class Peer:
    def __init__(self, params, up, proj, gamma, adam, patches, dtype):
        t = lambda a: torch.as_tensor(a, dtype=dtype)
        self.dtype = dtype
        self.up_t = t(up).T.contiguous()  # n x (r n), X_prev^T @ up_t
        self.proj = t(proj)
        self.gamma = gamma
        self.patches = patches
        self.g = []
        for lv in params["generator"]:
            self.g.append({k: t(lv[k]).clone().requires_grad_(True) for k in ("w", "b", "v")})
        self.d = []
        for dp in params["discs"]:
            self.d.append(
                dict(
                    w=t(dp["w"]).clone().requires_grad_(True),
                    b=t(dp["b"]).clone().requires_grad_(True),
                    a=t(dp["a"]).clone().requires_grad_(True),
                    c=t([dp["c"]]).clone().requires_grad_(True),
                    level=dp["level"],
                    parent=dp["parent"],
                    positions=dp["positions"],
                )
            )
        b1, b2, eps = adam["beta1"], adam["beta2"], adam["eps"]
        self.opt_g = torch.optim.Adam(
            [p for lv in self.g for p in lv.values()], lr=1e-3, betas=(b1, b2), eps=eps
        )
        self.opt_d = [
            torch.optim.Adam([d["w"], d["b"], d["a"], d["c"]], lr=2e-3, betas=(b1, b2), eps=eps)
            for d in self.d
        ]
        n = self.up_t.shape[0]
        self.onehot = {}
        for d in self.d:
            l, k = d["level"], d["positions"]
            if k > 0:
                pos = torch.arange(patches[l - 1]) % k
                self.onehot[l] = F.one_hot(pos, k).to(dtype)  # P_l x k

    def generate(self, z):
        """z: B x m0 -> list of X_l^T (B P_l x n)."""
        xs = []
        s = z
        for i, lv in enumerate(self.g):
            m = lv["v"].shape[1]
            pre = s @ lv["w"].T - lv["b"]  # rows(w) per parent column
            s = torch.relu(pre).reshape(-1, m)
            x = s @ lv["v"].T
            if i > 0:
                n = x.shape[1]
                x = x + (xs[-1] @ self.up_t).reshape(-1, n)
            xs.append(x)
        return xs

    def disc_input(self, d, xs):
        l = d["level"]
        x = xs[l - 1]
        parts = [x]
        if d["parent"]:
            parts.append(torch.repeat_interleave(xs[l - 2], FANOUT, dim=0))
        if d["positions"] > 0:
            b = x.shape[0] // self.patches[l - 1]
            parts.append(self.onehot[l].repeat(b, 1))
        return torch.cat(parts, dim=1)

    def critic(self, d, u):
        """Per-patch scores f(u_j) (N)."""
        return torch.relu(u @ d["w"].T + d["b"]) @ d["a"] + d["c"]

    def sample_scores(self, d, f):
        return f.reshape(-1, self.patches[d["level"] - 1]).mean(1)

    def step(self, real, z_d, z_g, lr_d, lr_g):
        """One alternating SGDA iteration; returns (loss_d, loss_g, penalty) per D."""
        with torch.no_grad():
            fake = self.generate(z_d)
        ld, pens, lg = [], [], []
        for d, opt in zip(self.d, self.opt_d):
            for gr in opt.param_groups:
                gr["lr"] = lr_d
            opt.zero_grad(set_to_none=False)
            dd = F_data_rows(d, real)
            u = self.disc_input(d, real).requires_grad_(True)
            f = self.critic(d, u)
            loss_real = F.softplus(-self.sample_scores(d, f)).mean()
            (gu,) = torch.autograd.grad(f.sum(), u, create_graph=True)
            pen = 0.5 * self.gamma * (gu[:, :dd] ** 2).sum(1).mean()
            loss_fake = F.softplus(self.sample_scores(d, self.critic(d, self.disc_input(d, fake)))).mean()
            (loss_real + loss_fake + pen).backward()
            opt.step()
            ld.append(float((loss_real + loss_fake).detach()))
            pens.append(float(pen.detach()))
        for gr in self.opt_g.param_groups:
            gr["lr"] = lr_g
        self.opt_g.zero_grad(set_to_none=False)
        fake = self.generate(z_g)
        total = 0.0
        for d in self.d:
            lgi = F.softplus(-self.sample_scores(d, self.critic(d, self.disc_input(d, fake)))).mean()
            lg.append(lgi)
            total = total + lgi
        # Generator gradients only into generator parameters.
        gparams = [p for lv in self.g for p in lv.values()]
        grads = torch.autograd.grad(total, gparams)
        for p, g in zip(gparams, grads):
            p.grad = g
        self.opt_g.step()
        with torch.no_grad():
            for lv in self.g[1:]:
                lv["v"].copy_(self.proj @ lv["v"])
        return ld, [float(x.detach()) for x in lg], pens


def F_data_rows(d, xs):
    n = xs[0].shape[1]
    return n * (2 if d["parent"] else 1)


# ---------------------------------------------------------------- check


def mat_t(mj, dtype=torch.float64):
    """fsrgan column-major {rows, cols, data} -> torch M^T (cols x rows)."""
    return torch.tensor(mj["data"], dtype=dtype).reshape(mj["cols"], mj["rows"])


def to_torch_params(p):
    """Dump params -> tensors in fsrgan's (row-major view of) shapes."""
    g = [
        {"w": mat_t(lv["w"]).T, "b": torch.tensor(lv["b"]), "v": mat_t(lv["v"]).T}
        for lv in p["generator"]
    ]
    d = [
        dict(dp, w=mat_t(dp["w"]).T, b=torch.tensor(dp["b"]), a=torch.tensor(dp["a"]), c=dp["c"])
        for dp in p["discs"]
    ]
    return {"generator": g, "discs": d}


def check(path, tol=1e-6):
    torch.set_default_dtype(torch.float64)
    case = json.load(open(path))
    geo = case["geometry"]
    patches = [geo["root_patches"] * geo["fanout"] ** i for i in range(geo["levels"])]
    init = to_torch_params(case["initial"])
    up = mat_t(case["up"]).T
    det = mat_t(case["detail"]).T
    proj = det @ det.T
    peer = Peer(init, up, proj, case["gamma"], case["adam"], patches, torch.float64)
    worst_loss = 0.0
    for it in case["iterations"]:
        real = [mat_t(x) for x in it["real"]]
        ld, lg, pen = peer.step(real, mat_t(it["z_d"]), mat_t(it["z_g"]), it["lr_d"], it["lr_g"])
        for a, b in zip(ld + lg + pen, it["loss_d"] + it["loss_g"] + it["penalty"]):
            worst_loss = max(worst_loss, abs(a - b))
    fin = to_torch_params(case["final"])
    worst = 0.0
    report = []
    for i, (lv, ref) in enumerate(zip(peer.g, fin["generator"])):
        for k in ("w", "b", "v"):
            e = (lv[k].detach() - ref[k]).abs().max().item()
            report.append((f"G level {i + 1} {k}", e))
            worst = max(worst, e)
    for d, ref in zip(peer.d, fin["discs"]):
        for k in ("w", "b", "a", "c"):
            e = (d[k].detach().reshape(-1) - torch.as_tensor(ref[k]).reshape(-1)).abs().max().item()
            report.append((f"D level {d['level']} {k}", e))
            worst = max(worst, e)
    moved = max(
        (a.detach() - b).abs().max().item()
        for lv, lv0 in zip(peer.g, init["generator"])
        for a, b in ((lv["w"], lv0["w"]), (lv["v"], lv0["v"]))
    )
    for name, e in report:
        print(f"  {name:<16} max |torch - fsrgan| = {e:.2e}")
    n_it = len(case["iterations"])
    print(f"{case['size']}: {n_it} iterations, parameters moved up to {moved:.2e}; "
          f"max parameter difference {worst:.2e}, max loss difference {worst_loss:.2e} (tolerance {tol:g})")
    ok = worst <= tol and worst_loss <= tol
    print("check: OK" if ok else "check: FAILED")
    return 0 if ok else 1


# ---------------------------------------------------------------- time


def random_params(size, gen):
    s = SIZES[size]
    m, n, h = s["m"], s["n"], s["h"]
    side = int(math.isqrt(n))
    patches = [ROOT * FANOUT**i for i in range(LEVELS)]
    up, proj = geometry_mats(side, torch.float64)
    g = []
    for l in range(1, LEVELS + 1):
        rows, inp = (ROOT * m, m) if l == 1 else (FANOUT * m, m)
        w = torch.randn(rows, inp, generator=gen, dtype=torch.float64)
        w = w / w.norm(dim=1, keepdim=True)
        v = torch.randn(n, m, generator=gen, dtype=torch.float64)
        if l >= 2:
            v = proj @ v
        v = v / v.norm(dim=0, keepdim=True)
        g.append({"w": w, "b": torch.zeros(rows), "v": v})
    d = []
    for l in range(1, LEVELS + 1):
        parent = l >= 2
        positions = (patches[0] if patches[0] > 1 else 0) if l == 1 else FANOUT
        inputs = n * (2 if parent else 1) + positions
        d.append(dict(
            w=torch.randn(h, inputs, generator=gen, dtype=torch.float64) * math.sqrt(2.0 / inputs),
            b=torch.zeros(h), a=torch.randn(h, generator=gen, dtype=torch.float64) * math.sqrt(1.0 / h), c=0.0,
            level=l, parent=parent, positions=positions,
        ))
    return {"generator": g, "discs": d}, up, proj, patches


def time_size(size, iters, warmup, dtype):
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    params, up, proj, patches = random_params(size, gen)
    adam = {"beta1": 0.0, "beta2": 0.9, "eps": 1e-8}
    peer = Peer(params, up, proj, 1.0, adam, patches, dtype)
    s = SIZES[size]
    b, m = s["batch"], s["m"]
    # Pre-drawn pool of real data (512 samples from a random generator of the
    # same form); batches are index_select'ed from it, so sampling costs ~0.
    with torch.no_grad():
        pool = peer.generate(torch.randn(512, m, generator=gen, dtype=dtype))
    pool = [x.reshape(512, -1) for x in pool]

    def one():
        idx = torch.randint(0, 512, (b,), generator=gen)
        real = [p.index_select(0, idx).reshape(b * patches[i], -1) for i, p in enumerate(pool)]
        z_d = torch.randn(b, m, generator=gen, dtype=dtype)
        z_g = torch.randn(b, m, generator=gen, dtype=dtype)
        peer.step(real, z_d, z_g, 2e-3, 1e-3)

    for _ in range(warmup):
        one()
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        one()
        ms.append((time.perf_counter() - t0) * 1e3)
    med = sorted(ms)[len(ms) // 2]
    dt = "f64" if dtype == torch.float64 else "f32"
    print(json.dumps({"impl": "pytorch", "dtype": dt, "size": size, "median_ms": med,
                      "torch": torch.__version__, "threads": torch.get_num_threads(), "ms": ms}))


# ---------------------------------------------------------------- flops


def flops(size):
    """Analytic FLOP count of one iteration in the plain (stacked-input)
    formulation both implementations compute: 2 flops per multiply-add of
    every dense product; the 0/1 upsampling product, element-wise work and
    the optimiser are not counted.
    Generator forward (x2: D step and G step): W_l (r m x m) on B P_{l-1}
    columns (level 1: P_1 m x m on B), V_l (n x m) on B P_l columns.
    Generator backward (x1): dV, V^T dX, dW_l, W_l^T dPre (l >= 2).
    Per level-l D (N = B P_l patches, d = inputs, d_D = data rows, h):
    3 forwards (real, fake, fake for G), 2 parameter backwards (real, fake),
    1 input backward (G step), R1 penalty 3 products (G = W_D^T V, V Gb^T,
    W_D Gb): (6 d + 3 d_D) h N multiply-adds, plus the output layer
    (3 forwards + 2 backwards + 1 input backward, h N each)."""
    s = SIZES[size]
    m, n, h, b = s["m"], s["n"], s["h"], s["batch"]
    patches = [ROOT * FANOUT**i for i in range(LEVELS)]
    mac = 0
    for l in range(1, LEVELS + 1):
        cols = b * patches[l - 1]
        pcols = b if l == 1 else b * patches[l - 2]
        rows = ROOT * m if l == 1 else FANOUT * m
        fw = rows * m * pcols + n * m * cols
        bw = 2 * n * m * cols + rows * m * pcols + (rows * m * pcols if l >= 2 else 0)
        mac += 2 * fw + bw
        parent = l >= 2
        positions = (patches[0] if patches[0] > 1 else 0) if l == 1 else FANOUT
        d = n * (2 if parent else 1) + positions
        d_data = n * (2 if parent else 1)
        mac += (6 * d + 3 * d_data) * h * cols + 6 * h * cols
    return 2 * mac


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["time", "check", "flops"])
    ap.add_argument("arg")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dtype", default="f64", choices=["f64", "f32"])
    a = ap.parse_args()
    if a.mode == "check":
        sys.exit(check(a.arg))
    if a.mode == "flops":
        print(flops(a.arg))
        return
    dtype = torch.float64 if a.dtype == "f64" else torch.float32
    time_size(a.arg, a.iters, a.warmup, dtype)


if __name__ == "__main__":
    main()
