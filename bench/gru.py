"""gru.py: the GRU of bench/models/gru_b32_h64_t50.expr (batch 32, 16
inputs, hidden 64, T = 50, the gradient of a softmax cross-entropy of the
last state), exprc against PyTorch at one thread, the same way as
bench/gp.py: the same data and params in .npy files, a check to 1e-9 before
timing, `exprc bench` against torch_bench.py's rule.

    /usr/bin/python3 bench/gru.py BUILD_DIR
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
MODEL = os.path.join(HERE, "models", "gru_b32_h64_t50.expr")
PARAMS = ["Wz", "Uz", "bz", "Wr", "Ur", "br", "Wh", "Uh", "bh", "V"]


def make(d):
    r = np.random.default_rng(0)
    v = {"xs": r.standard_normal((50, 32, 16)),
         "y": np.eye(10)[r.integers(0, 10, 32)], "h0": np.zeros((32, 64))}
    for n in PARAMS:
        shape = {"W": (16, 64), "U": (64, 64), "b": (64,), "V": (64, 10)}[n[0]]
        v[n] = 0.1 * r.standard_normal(shape)
    for n, a in v.items():
        np.save(os.path.join(d, n + ".npy"), a)
    return v


def exprc(build, d, cmd, *extra):
    sets = []
    for n in ["xs", "y", "h0"] + PARAMS:
        sets += ["--set", f"{n}=@{os.path.join(d, n)}.npy"]
    return subprocess.run([os.path.join(build, "exprc"), cmd, MODEL, *sets,
                           *extra], capture_output=True, text=True,
                          check=True).stdout


def torch_loss(t):
    h = t["h0"]
    for x in t["xs"]:
        z = torch.sigmoid(x @ t["Wz"] + h @ t["Uz"] + t["bz"])
        r = torch.sigmoid(x @ t["Wr"] + h @ t["Ur"] + t["br"])
        n = torch.tanh(x @ t["Wh"] + (r * h) @ t["Uh"] + t["bh"])
        h = (1 - z) * n + z * h
    return -(t["y"] * torch.log_softmax(h @ t["V"], -1)).sum() / 32


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        v = make(d)
        got = json.loads(exprc(build, d, "run", "--json"))
        t = {n: torch.tensor(a, requires_grad=n in PARAMS) for n, a in v.items()}
        f = torch_loss(t)
        f.backward()
        bad = abs(f.item() - got["losses"]["loss"]) > 1e-9 * abs(f.item())
        for n in PARAMS:
            ref = t[n].grad.numpy()
            mine = np.array(got["gradients"]["loss"][n])
            bad |= np.max(np.abs(ref - mine)) > 1e-9 * np.max(np.abs(ref))
        print(f"check: loss {got['losses']['loss']!r} (PyTorch {f.item()!r})"
              f"; gradients {'DIFFER' if bad else 'agree'}")
        if bad:
            print("CHECK FAILED")
            return 1

        def step():
            for n in PARAMS:
                t[n].grad = None
            torch_loss(t).backward()
        rows = []
        for name, extra in [("exprc, default backend (auto, after the swap)",
                             []),
                            ("exprc --backend tcc (libtcc alone)",
                             ["--backend", "tcc"]),
                            ("exprc --backend cc", ["--backend", "cc"])]:
            line = [l for l in exprc(build, d, "bench", *extra).splitlines()
                    if l.startswith("grad")][0]
            rows.append((name, float(line.split("median")[1].split()[0]) * 1e-6))
        rows += torch_rows(step)
        print_table("GRU gradient, batch 32, hidden 64, T = 50, one thread",
                    rows, 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
