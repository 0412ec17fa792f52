#!/usr/bin/env python3
"""compare.py: two builds of exprc (or one build with two sets of flags) on
the same models, timed in one run.

    bench/compare.py --old OLD/exprc --new NEW/exprc [--rounds 7]
                     [--old-args ...] [--new-args ...] [MODEL.expr ...]

Each round runs `exprc bench MODEL` (15 samples of calls lasting 10 ms
each, see compiler/cli_run.c) with the old binary and with the new one on
every model, alternating which goes first from round to round, so that a
change in the machine's load falls on both alike; OpenBLAS runs on one
thread, as in bench/run. The table gives, per entry point and side, the
median over the rounds of the samples' medians, and the least sample of
all rounds, with the ratios new/old of both. On a quiet machine the
medians are the figure to read; on a loaded one (other processes taking the
cores) the medians measure the load, and the least sample, the one call
least disturbed, is the better estimate of the code's own cost. Compare
ratios, which come from the same minutes, rather than absolute times.
Without models it times W1-W3, threads_ew and ew_plain from bench/models.

    bench/compare.py --callgrind --old ... --new ... [MODEL.expr ...]

counts instructions instead of timing: valgrind's callgrind runs
`exprc run MODEL` on seeded inputs in [-1, 1) (written to CSV files),
collecting only inside exprc_forward and exprc_gradient, that is, one call
of each entry point. The counts do not depend on the machine's load, so
their ratios hold on a busy machine too.
"""
import argparse
import os
import re
import shlex
import statistics
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = ["w1_mlp784", "w2_mlp4", "w3_rosenbrock", "threads_ew", "ew_plain"]
LINE = re.compile(r"^(forward|grad)\s+(\S*)\s+median\s+([0-9.]+) us"
                  r" \(min ([0-9.]+)", re.M)


def bench(exe, model, args):
    """Per entry point, the median and least per-call time in us."""
    cmd = [exe, "bench", model] + args
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env=env).stdout
    return {(kind + " " + name).strip(): (float(med), float(least))
            for kind, name, med, least in LINE.findall(out)}


def inputs(exe, model, tmp):
    """--set arguments giving every input of model seeded values."""
    out = subprocess.run([exe, "check", model], capture_output=True,
                         text=True, check=True).stdout
    args, rng = [], random.Random(1)
    for name, shape in re.findall(r"^input\s+(\S+)\s+\[([0-9,]*)\]", out, re.M):
        dims = [int(d) for d in shape.split(",") if d]
        rows = dims[0] if len(dims) == 2 else 1
        cols = dims[-1] if dims else 1
        path = os.path.join(tmp, name + ".csv")
        with open(path, "w") as f:
            for _ in range(rows):
                f.write(",".join(f"{rng.uniform(-1, 1):.17g}"
                                 for _ in range(cols)) + "\n")
        args += ["--set", f"{name}=@{path}"]
    return args


def instructions(exe, model, args, sets, tmp):
    """Instructions of one call of each entry point (callgrind)."""
    out = os.path.join(tmp, "cg.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                    "--toggle-collect=exprc_forward",
                    "--toggle-collect=exprc_gradient", exe, "run", model]
                   + sets + args, capture_output=True, check=True,
                   env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    with open(out) as f:
        total = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
    return int(total.group(1))


def count_main(a, models):
    print(f"old: {a.old} {a.old_args}".rstrip())
    print(f"new: {a.new} {a.new_args}".rstrip())
    print("instructions of one call of every entry point (callgrind)\n")
    print("| model | old | new | new/old |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            sets = inputs(a.old, model, tmp)
            old = instructions(a.old, model, shlex.split(a.old_args), sets, tmp)
            new = instructions(a.new, model, shlex.split(a.new_args), sets, tmp)
            print(f"| {os.path.basename(model)} | {old} | {new} "
                  f"| {new / old:.4f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--old-args", default="")
    ap.add_argument("--new-args", default="")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    models = a.models or [os.path.join(HERE, "models", m + ".expr")
                          for m in DEFAULT]
    if a.callgrind:
        return count_main(a, models)
    sides = {"old": (a.old, shlex.split(a.old_args)),
             "new": (a.new, shlex.split(a.new_args))}
    times = {}  # (model, entry, side) -> [us per round]
    for r in range(a.rounds):
        order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
        for model in models:
            for side in order:
                exe, args = sides[side]
                for entry, us in bench(exe, model, args).items():
                    times.setdefault((model, entry, side), []).append(us)
        print(f"round {r + 1} of {a.rounds} done", file=sys.stderr)
    print(f"old: {a.old} {a.old_args}".rstrip())
    print(f"new: {a.new} {a.new_args}".rstrip())
    print(f"{a.rounds} rounds; load average at the end "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| model | entry | median old (us) | median new (us) | new/old "
          "| least old (us) | least new (us) | new/old |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model in models:
        entries = sorted({e for (m, e, s) in times if m == model})
        for e in entries:
            old, new = times[(model, e, "old")], times[(model, e, "new")]
            mo = statistics.median(t[0] for t in old)
            mn = statistics.median(t[0] for t in new)
            lo, ln = min(t[1] for t in old), min(t[1] for t in new)
            name = os.path.basename(model)
            print(f"| {name} | {e} | {mo:.1f} | {mn:.1f} | {mn / mo:.3f} "
                  f"| {lo:.2f} | {ln:.2f} | {ln / lo:.3f} |")


if __name__ == "__main__":
    main()
