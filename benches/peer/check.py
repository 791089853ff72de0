"""Proves fsrgan and the PyTorch peer compute the same SGDA iteration:
dumps initial parameters, real and latent batches and the parameters after
ITERS iterations from fsrgan (`examples/sgda_step.rs dump`), replays them in
peer.py (f64) and requires every parameter and loss to agree to 1e-6.

  target/peer-venv/bin/python benches/peer/check.py [SIZE] [ITERS]

(run from the repository root; builds the example with cargo --release).
At Adam's first step (beta1 = 0) an update is ~lr sign(g), so several
iterations are replayed: from the second on, updates depend on gradient
magnitudes through Adam's second moment.
"""

import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import peer  # noqa: E402


def main():
    size = sys.argv[1] if len(sys.argv) > 1 else "small"
    iters = sys.argv[2] if len(sys.argv) > 2 else "3"
    root = os.path.dirname(os.path.dirname(here))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "sgda_step"], cwd=root, check=True)
    exe = os.path.join(root, "target", "release", "examples", "sgda_step")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        subprocess.run([exe, "dump", size, iters], stdout=f, check=True)
        path = f.name
    try:
        sys.exit(peer.check(path))
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
