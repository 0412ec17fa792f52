"""profile.py: where exprc spends its time (bench/profile runs it).

Two kinds of evidence, both independent of how busy the machine is:

  run time    valgrind --tool=callgrind counts the instructions of each
              benchmark case (bench_harness CASE CALLS, collecting only inside
              the case's function), per call, and splits them by where they
              run: the JIT-compiled code (no symbols: '???'), libm, the
              matrix-product runtime and OpenBLAS, the API's per-call work.
  pipeline    perf record --call-graph dwarf of the compile of generated
              models of two sizes, and the share of each stage (parse, lower,
              grad, simplify, emit, tcc) in seconds: a stage whose seconds per
              node grow with the size is the super-linear one.

    python3 profile.py [--build DIR] [--only run|pipeline]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import gen

BENCH = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(BENCH, "models")

# (workload, model, case as the harness names it, its function, calls)
CASES = [
    ("w1", "w1_mlp784.expr", "exprc forward", "call_forward", 5),
    ("w1", "w1_mlp784.expr", "exprc gradient", "call_gradient", 5),
    ("w1", "w1_mlp784.expr", "hand C OpenBLAS gradient", "mlp1_grad_blas", 5),
    ("w1", "w1_mlp784.expr", "hand C loops gradient", "mlp1_grad_loops", 2),
    ("w2", "w2_mlp4.expr", "exprc forward", "call_forward", 10000),
    ("w2", "w2_mlp4.expr", "exprc gradient", "call_gradient", 10000),
    ("w2", "w2_mlp4.expr", "hand C gradient", "mlp2_grad", 10000),
    ("w3", "w3_rosenbrock.expr", "exprc forward", "call_forward", 1000),
    ("w3", "w3_rosenbrock.expr", "exprc gradient", "call_gradient_f", 1000),
    ("w3", "w3_rosenbrock.expr", "hand C function", "rosen_f", 1000),
    ("w3", "w3_rosenbrock.expr", "hand C gradient", "rosen_grad", 1000),
]

GROUPS = [
    ("JIT code", re.compile(r"^\?\?\?:0x")),
    ("OpenBLAS", re.compile(r"dgemm|libopenblas|kernel", re.I)),
    ("runtime gemm loops", re.compile(r"exprc_rt_gemm|gemm_loops")),
    ("libm", re.compile(r"tanh|exp|log|sin|cos|ieee754|libm", re.I)),
    ("libc memory", re.compile(r"mem(set|cpy|move)")),
    ("API per call", re.compile(r"exprc_|:run$|usable|find_entry|strcmp")),
]


def group_of(fn):
    for name, rx in GROUPS:
        if rx.search(fn):
            return name
    return "other"


def callgrind_case(harness, tmp, case, env):
    w, model, name, fn, calls = case
    out = os.path.join(tmp, "cg.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                    "--toggle-collect=" + fn, harness, w,
                    os.path.join(MODELS, model), tmp, name, str(calls)],
                   env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    text = subprocess.run(["callgrind_annotate", "--threshold=100", out],
                          capture_output=True, text=True).stdout
    total, groups = 0, {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in m.group(2):
            total = n
        else:
            g = group_of(m.group(2).split(" [")[0])
            groups[g] = groups.get(g, 0) + n
    return total / calls, {g: n / calls for g, n in groups.items()}


def run_profiles(harness, tmp, env):
    print("### instructions per call (callgrind), by where they run\n")
    names = [g for g, _ in GROUPS] + ["other"]
    print("| case | instructions/call | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for case in CASES:
        total, groups = callgrind_case(harness, tmp, case, env)
        shares = ["%.0f%%" % (100 * groups.get(g, 0) / total) if total else "-"
                  for g in names]
        print("| %s %s | %s | %s |" % (case[0].upper(), case[2],
                                       "{:,.0f}".format(total), " | ".join(shares)),
              flush=True)
    print()


STAGES = [("parse", "parse_program"), ("lower", "lower_program"),
          ("grad", "grad_build"), ("simplify", "simplify_graph"),
          ("emit C", "emit_c"), ("tcc compile", "tcc_compile"),
          ("tcc relocate", "tcc_relocate")]


def perf_stages(harness, tmp, path, env, freq):
    """Seconds of the compile in each stage: perf's inclusive share of each
    stage function times the wall time of the whole run."""
    data = os.path.join(tmp, "perf.data")
    p = subprocess.run(["perf", "record", "-F", str(freq), "--call-graph",
                        "dwarf,16384", "-o", data, harness, "compile", path, "1"],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    wall = float(p.stdout.split("\t")[3])
    rep = subprocess.run(["perf", "report", "-i", data, "--children", "--stdio",
                          "-g", "none", "--percent-limit", "0.1"],
                         capture_output=True, text=True).stdout
    share = {}
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+[\d.]+%\s+\S+\s+\S+\s+\[\.\]\s+(\S+)", line)
        if m:
            share.setdefault(m.group(2), float(m.group(1)) / 100)
    top = share.get("exprc_compile_string", 1.0) or 1.0
    return wall, {st: wall * share.get(fn, 0.0) / top for st, fn in STAGES}


def perf_self(tmp, n):
    """The n functions with the most samples of their own in the last
    perf_stages run."""
    rep = subprocess.run(["perf", "report", "-i", os.path.join(tmp, "perf.data"),
                          "--no-children", "--stdio", "-g", "none",
                          "--percent-limit", "1"],
                         capture_output=True, text=True).stdout
    rows = re.findall(r"^\s*([\d.]+)%\s+\S+\s+(\S+)\s+\[.\]\s+(\S+)", rep,
                      re.M)
    return rows[:n]


def graph_nodes(harness, path):
    """Live nodes, from the first line of `exprc graph` (the rest unread)."""
    exprc = os.path.join(os.path.dirname(os.path.dirname(harness)), "exprc")
    p = subprocess.Popen([exprc, "graph", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    p.kill()
    p.wait()
    m = re.search(r"(\d+) nodes", line)
    return int(m.group(1)) if m else None


def pipeline_profiles(harness, tmp, env):
    if not shutil.which("perf"):
        print("perf: not installed, pipeline stages skipped\n")
        return
    print("### pipeline stages (perf, seconds and microseconds per node)\n")
    print("| model | nodes | whole | " + " | ".join(s for s, _ in STAGES) + " |")
    print("|---|---|---|" + "---|" * len(STAGES))
    for label, text, freq in (("DAG 2300 statements", gen.dag(2300), 4999),
                              ("DAG 23000 statements", gen.dag(23000), 999),
                              ("nested 10000", gen.nested(10000), 999),
                              ("nested 100000", gen.nested(100000), 149)):
        path = gen.write(os.path.join(tmp, "m.expr"), text)
        nodes = graph_nodes(harness, path)
        res = perf_stages(harness, tmp, path, env, freq)
        if not res:
            print("| %s | perf failed |" % label)
            continue
        wall, st = res
        print("| %s | %s | %.3f s | %s |" % (
            label, nodes or "-", wall, " | ".join(
                "%.3f s (%.2f us/node)" % (st[s], 1e6 * st[s] / (nodes or 1))
                for s, _ in STAGES)), flush=True)
    print("\nThe functions with the most samples of their own, nested 100000:\n")
    print("| self | object | function |\n|---|---|---|")
    for pct, obj, fn in perf_self(tmp, 15):
        print("| %s%% | %s | %s |" % (pct, obj, fn))
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(BENCH),
                                                    "build-bench"))
    ap.add_argument("--only", default="run,pipeline")
    args = ap.parse_args()
    harness = os.path.join(os.path.abspath(args.build), "bench", "bench_harness")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    tmp = tempfile.mkdtemp(prefix="exprc-profile-")
    if "run" in args.only:
        run_profiles(harness, tmp, env)
    if "pipeline" in args.only:
        pipeline_profiles(harness, tmp, env)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
