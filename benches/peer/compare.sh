#!/usr/bin/env bash
# fsrgan vs the PyTorch peer (issue 8): one SGDA iteration, 1 thread each,
# interleaved runs (fsrgan, pytorch, fsrgan, pytorch, ...) at three sizes,
# f64. Prints one table and a last line `ratio small=X default=Y large=Z (f64)`.
#
#   benches/peer/compare.sh            # ROUNDS=3 interleaved rounds per size
#   ROUNDS=5 benches/peer/compare.sh
#
# Needs the venv of benches/peer/README.md (target/peer-venv with torch).
# Each run is a fresh process: warm-up iterations, then the median of timed
# iterations; a size's figure is the median over rounds.
#
# FLOP count: benches/peer/peer.py flops() — the dense products of the plain
# stacked-input formulation (2 flops per multiply-add; the 0/1 upsampling,
# element-wise work and Adam not counted). fsrgan executes fewer of them
# (parent terms at parent resolution, one-hot as a lookup, a 2-product R1
# penalty), so its GFLOP/s is "effective": reference FLOPs / its time.
# Peak: one core, 16 f64 flops/cycle (Zen 4: two 256-bit FMA pipes, AVX-512
# split into 2 x 256) x the nominal clock read from /proc/cpuinfo.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PEER_PYTHON:-target/peer-venv/bin/python}
ROUNDS=${ROUNDS:-3}
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if [ ! -x "$PY" ]; then
  echo "no PyTorch venv at $PY: see benches/peer/README.md" >&2
  exit 2
fi
cargo build --release --quiet --example sgda_step
EXE=target/release/examples/sgda_step
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for size in small default large; do
  case $size in
    small) it=200; wu=20 ;;
    default) it=100; wu=10 ;;
    large) it=10; wu=2 ;;
  esac
  for _ in $(seq "$ROUNDS"); do
    "$EXE" time "$size" "$it" "$wu" >>"$OUT"
    "$PY" benches/peer/peer.py time "$size" --iters "$it" --warmup "$wu" --dtype f64 >>"$OUT"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
"$PY" - "$OUT" "$load_before" "$load_after" <<'PYEOF'
import json, statistics, sys, os
sys.path.insert(0, "benches/peer")
import peer
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mhz = max(float(l.split(":")[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz"))
model = next((l.split(":")[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
peak = 16 * mhz / 1e3  # GFLOP/s, one core, f64
print(f"machine: {model}, {os.cpu_count()} cores, nominal {mhz / 1e3:.2f} GHz; f64 peak per core = 16 flop/cycle x clock = {peak:.1f} GFLOP/s")
print(f"load average before {sys.argv[2]}, after {sys.argv[3]} (shared machine)")
print(f"1 thread each, interleaved, median over rounds of per-run medians")
print()
hdr = f"{'size':<8} {'dtype':<5} {'fsrgan ms':>10} {'pytorch ms':>11} {'pt/fsrgan':>10} {'GFLOP':>7} {'fsrgan GF/s':>12} {'%peak':>6} {'pytorch GF/s':>13} {'%peak':>6}"
print(hdr)
print("-" * len(hdr))
ratios = {}
for size in ["small", "default", "large"]:
    med = {}
    for impl in ["fsrgan", "pytorch"]:
        v = [r["median_ms"] for r in rows if r["size"] == size and r["impl"] == impl and r["dtype"] == "f64"]
        med[impl] = statistics.median(v)
    fl = peer.flops(size) / 1e9
    gf = {k: fl / (v / 1e3) for k, v in med.items()}
    ratios[size] = med["pytorch"] / med["fsrgan"]
    print(f"{size:<8} {'f64':<5} {med['fsrgan']:>10.3f} {med['pytorch']:>11.3f} {ratios[size]:>10.2f} {fl:>7.3f} "
          f"{gf['fsrgan']:>12.1f} {100 * gf['fsrgan'] / peak:>5.0f}% {gf['pytorch']:>13.1f} {100 * gf['pytorch'] / peak:>5.0f}%")
print()
print(f"ratio small={ratios['small']:.2f} default={ratios['default']:.2f} large={ratios['large']:.2f} (f64)")
PYEOF
