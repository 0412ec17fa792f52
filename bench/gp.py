"""gp.py: W6, a Gaussian process's negative log marginal likelihood and its
gradient at n = 500 (bench/models/w6_gp500.expr), exprc against PyTorch.

    /usr/bin/python3 bench/gp.py BUILD_DIR        (bench/gp runs it)

Both sides get the same data: 500 sorted times in [0, 10) and noisy sines
from NumPy's seeded generator, written to .npy files that exprc reads with
--set and PyTorch with numpy.load. The check comes first: exprc's nll and
gradient (`exprc run --json`) must match PyTorch's autograd to 1e-8
relative, or the script prints CHECK FAILED and exits 1. Then each side is
timed at one thread (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)):
exprc by `exprc bench` (median of 15 samples, default and cc backends),
PyTorch by the rule of torch_bench.py (median of 21 samples of about 20 ms
after a warm-up). A call here takes tens of milliseconds, so a sample is
one call on both sides. Prints a Markdown table with ratios to PyTorch.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from pytiming import print_table, torch_rows

try:
    import torch
except ImportError:
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "models", "w6_gp500.expr")
N = 500
H = [0.0, 0.0, -1.0]


def make_data(d):
    r = np.random.default_rng(0)
    t = np.sort(r.uniform(0, 10, N)).reshape(N, 1)
    y = np.sin(t[:, 0]) + 0.1 * r.standard_normal(N)
    np.save(os.path.join(d, "t.npy"), t)
    np.save(os.path.join(d, "y.npy"), y)
    np.save(os.path.join(d, "h.npy"), np.array(H))
    return t, y


def exprc(build, d, cmd, *extra):
    sets = []
    for n in ("t", "y", "h"):
        sets += ["--set", f"{n}=@{os.path.join(d, n)}.npy"]
    out = subprocess.run([os.path.join(build, "exprc"), cmd, MODEL, *sets,
                          *extra], capture_output=True, text=True, check=True)
    return out.stdout


def torch_nll(t, y, h):
    d = t - t.T
    k = torch.exp(2 * h[0]) * torch.exp(-d * d * torch.exp(-2 * h[1]) / 2)
    k = k + (torch.exp(2 * h[2]) + 1e-6) * torch.eye(N, dtype=torch.float64)
    L = torch.linalg.cholesky(k)
    a = torch.linalg.solve_triangular(L, y.reshape(N, 1), upper=False)
    return (a * a).sum() / 2 + torch.log(torch.diagonal(L)).sum() \
        + N * 0.9189385332046727


def exprc_time(build, d, *backend):
    line = [l for l in exprc(build, d, "bench", *backend).splitlines()
            if l.startswith("grad")][0]
    us = float(line.split("median")[1].split()[0])
    return us * 1e-6


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as d:
        t, y = make_data(d)
        got = json.loads(exprc(build, d, "run", "--json"))
        loss, grad = got["losses"]["nll"], np.array(got["gradients"]["nll"]["h"])
        if torch is None:
            print("PyTorch is not installed (apt-get install python3-torch): "
                  "exprc only")
            ref = None
        else:
            torch.set_num_threads(1)
            tt, yy = torch.tensor(t), torch.tensor(y)
            h = torch.tensor(H, dtype=torch.float64, requires_grad=True)
            f = torch_nll(tt, yy, h)
            f.backward()
            ref = (f.item(), h.grad.numpy())
            bad = abs(ref[0] - loss) > 1e-8 * abs(ref[0]) or \
                np.max(np.abs(ref[1] - grad)) > 1e-8 * np.max(np.abs(ref[1]))
            print(f"check: nll {loss!r} (PyTorch {ref[0]!r}), gradient "
                  f"{grad.tolist()} (PyTorch {ref[1].tolist()})")
            if bad:
                print("CHECK FAILED")
                return 1

            def step():
                hh = torch.tensor(H, dtype=torch.float64, requires_grad=True)
                torch_nll(tt, yy, hh).backward()
        rows = [("exprc, default backend (auto, after the swap)",
                 exprc_time(build, d)),
                ("exprc --backend tcc (libtcc alone)",
                 exprc_time(build, d, "--backend", "tcc")),
                ("exprc --backend cc", exprc_time(build, d, "--backend", "cc"))]
        if ref is not None:
            rows += torch_rows(step)
        print_table(f"W6: GP nll + gradient, n = {N}, one thread", rows, 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
