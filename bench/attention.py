"""attention.py: W7, the gradient of examples/attention.expr (a causal
self-attention block, two heads, layer norm) at batch 8, length 64, width
64, exprc against PyTorch at one thread.

    /usr/bin/python3 bench/attention.py BUILD_DIR     (bench/attention runs it)

Both sides get the same data and params, drawn from NumPy's seeded
generator and written to .npy files that exprc reads with --set. The check
comes first: loss and every gradient must agree to 1e-9 relative, or the
script prints CHECK FAILED and exits 1. Timing as bench/gp.py: `exprc bench`
(median of 15 samples) for the default backend (auto: timed once the system
compiler's code has replaced libtcc's), libtcc alone and cc, PyTorch by the
rule of torch_bench.py (median of 21 samples of about 20 ms after a
warm-up); then the same in float32 (`--dtype float32`) against PyTorch in
float32.
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
MODEL = os.path.join(HERE, "..", "examples", "attention.expr")
B, T, D = 8, 64, 64
PARAMS = ["Wq", "Wk", "Wv", "Wo", "gain", "shift"]


def exprc(build, d, cmd, *extra):
    sets = []
    for n in ["x", "target"] + PARAMS:
        sets += ["--set", f"{n}=@{os.path.join(d, n)}.npy"]
    out = subprocess.run([os.path.join(build, "exprc"), cmd, MODEL, *sets,
                          *extra], capture_output=True, text=True, check=True)
    return out.stdout


def make_data(d):
    r = np.random.default_rng(0)
    vals = {"x": r.standard_normal((B, T, D)),
            "target": r.standard_normal((B, T, D))}
    for n in ["Wq", "Wk", "Wv", "Wo"]:
        vals[n] = 0.125 * r.standard_normal((D, D))
    vals["gain"] = 1 + 0.1 * r.standard_normal(D)
    vals["shift"] = 0.1 * r.standard_normal(D)
    for n, v in vals.items():
        np.save(os.path.join(d, n + ".npy"), v)
    return vals


def torch_loss(v):
    x, W = v["x"], v
    def heads(z):
        return z.reshape(B, T, 2, 32).transpose(1, 2)
    q, k, val = heads(x @ W["Wq"]), heads(x @ W["Wk"]), heads(x @ W["Wv"])
    score = q @ k.transpose(2, 3) / 32 ** 0.5
    later = torch.triu(torch.ones(T, T, dtype=x.dtype), diagonal=1)
    a = torch.softmax(score - 1e9 * later, dim=-1)
    o = (a @ val).transpose(1, 2).reshape(B, T, D)
    y = x + o @ W["Wo"]
    mu = y.mean(-1, keepdim=True)
    var = y.var(-1, unbiased=False, keepdim=True)
    out = (y - mu) / torch.sqrt(var + 1e-5) * W["gain"] + W["shift"]
    return ((out - v["target"]) ** 2).mean()


def torch_step(tv):
    """One PyTorch gradient of the params in tv, for timing."""
    def step():
        for n in PARAMS:
            tv[n].grad = None
        torch_loss(tv).backward()
    return step


def exprc_time(build, d, *backend):
    line = [l for l in exprc(build, d, "bench", *backend).splitlines()
            if l.startswith("grad")][0]
    return float(line.split("median")[1].split()[0]) * 1e-6


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as d:
        vals = make_data(d)
        got = json.loads(exprc(build, d, "run", "--json"))
        loss = got["losses"]["loss"]
        grads = {n: np.array(got["gradients"]["loss"][n]) for n in PARAMS}
        rows = []
        if torch is not None:
            torch.set_num_threads(1)
            tv = {n: torch.tensor(v, requires_grad=n in PARAMS)
                  for n, v in vals.items()}
            f = torch_loss(tv)
            f.backward()
            bad = abs(f.item() - loss) > 1e-9 * abs(loss)
            for n in PARAMS:
                ref = tv[n].grad.numpy()
                bad |= np.max(np.abs(ref - grads[n])) > 1e-9 * np.max(np.abs(ref))
            print(f"check: loss {loss!r} (PyTorch {f.item()!r}); "
                  f"gradients {'agree' if not bad else 'DIFFER'}")
            if bad:
                print("CHECK FAILED")
                return 1

            step = torch_step(tv)
        rows.append(("exprc, default backend (auto, after the swap)",
                     exprc_time(build, d)))
        rows.append(("exprc --backend tcc (libtcc alone)",
                     exprc_time(build, d, "--backend", "tcc")))
        rows.append(("exprc --backend cc", exprc_time(build, d, "--backend",
                                                      "cc")))
        if torch is not None:
            rows += torch_rows(step)
        print_table(f"W7: attention block gradient, batch {B}, length {T}, width "
              f"{D}, one thread", rows)
        if torch is not None:
            return float32_rows(build, d, vals, loss)
    return 0


def float32_rows(build, d, vals, loss):
    """The same model in float32 (`--dtype float32`, the same float64 data
    rounded to float at the boundary) against PyTorch in float32. The check:
    the loss within 1e-5 relative of float64's, which is about 100 float32
    roundings (u = 6e-8) of a mean of 32,768 squares, each computed in double
    by exprc and stored in float."""
    got = json.loads(exprc(build, d, "run", "--json", "--dtype", "float32"))
    loss32 = got["losses"]["loss"]
    tv = {n: torch.tensor(v, dtype=torch.float32, requires_grad=n in PARAMS)
          for n, v in vals.items()}
    f = torch_loss(tv)
    bad = abs(loss32 - loss) > 1e-5 * abs(loss) or \
        abs(f.item() - loss) > 1e-5 * abs(loss)
    print(f"\ncheck, float32: exprc loss {loss32!r}, PyTorch {f.item()!r}, "
          f"float64 {loss!r}: {'DIFFER' if bad else 'agree to 1e-5'}")
    if bad:
        print("CHECK FAILED")
        return 1

    step = torch_step(tv)
    rows = [("exprc float32, default backend (auto, after the swap)",
             exprc_time(build, d, "--dtype", "float32")),
            ("exprc float32 --backend tcc (libtcc alone)",
             exprc_time(build, d, "--dtype", "float32", "--backend", "tcc")),
           ] + torch_rows(step, "PyTorch float32")
    print_table(f"W7 in float32, batch {B}, length {T}, width {D}, one thread", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
