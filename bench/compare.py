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
"""
import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys

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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--old-args", default="")
    ap.add_argument("--new-args", default="")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    models = a.models or [os.path.join(HERE, "models", m + ".expr")
                          for m in DEFAULT]
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
