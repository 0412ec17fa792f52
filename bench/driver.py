"""driver.py: runs the exprc benchmark suite and prints its tables.

bench/run runs every section and bench/scaling only the scaling one; both
call this file (see bench/README.md). Sections:

  W1  MLP 784-128-10, batch 64: exprc forward and gradient against
      hand-written C (loops, and OpenBLAS) and PyTorch.
  W2  MLP 4-16-3, batch 1: the same, where per-call overhead dominates.
  W3  Rosenbrock n = 1000: gradient/function ratio and hand-written C.
  W4  compile latency: model text -> callable, against gcc -O0 -c and
      gcc -O2 -c of the C that exprc emits for the same model.
  scaling  nested and wide generated models: graph size, pipeline time
      and peak memory (bytes a node) against depth, with SymPy's diff + cse
      on the same expressions.
  W5  a LeNet-like CNN, batch 32 of 28x28: exprc (libtcc and cc backends)
      against PyTorch.

Every timing is a median over repeated calls after a warm-up (bench/timing.c
and torch_bench.py share the rule), in each of --runs processes of the same
program, and a row keeps its fastest process (exprc's and PyTorch's alike);
each section's figures are also given as a ratio to a baseline measured in
the same run. Every run first checks that
the implementations compute the same numbers, and the exit status is 1 if
any check fails. Everything is float64, but for the float32 rows of W1, W3
and W5 (--dtype float32, against PyTorch float32 where there is a PyTorch
row), and single-threaded (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)).
"""
import argparse
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import gen

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
MODELS = os.path.join(BENCH, "models")
CHECK_TOL = 1e-9


class Run:
    """State of one run: paths, options, results, failed checks."""

    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.exprc = os.path.join(self.build, "exprc")
        self.harness = os.path.join(self.build, "bench", "bench_harness")
        self.tmp = tempfile.mkdtemp(prefix="exprc-bench-")
        self.failed = []
        self.targets = []
        self.results = {}
        self.checks = {}
        self.spread = {}  # (workload, row): the median of every process
        self.env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


# ---- formatting ----

def fmt_time(s):
    if s is None:
        return "-"
    if s < 1e-6:
        return "%.0f ns" % (s * 1e9)
    if s < 1e-3:
        return "%.2f us" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


def fmt_ratio(r):
    if r is None:
        return "-"
    return "%.3gx" % r


def table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    print("\n".join(out) + "\n", flush=True)


def section(title):
    print("\n### " + title + "\n", flush=True)


# ---- running programs ----

def parse_lines(text, run):
    """R, C, I and S lines of the harness and the Python helpers."""
    for line in text.splitlines():
        f = line.split("\t")
        if f[0] == "R":
            run.results[(f[1], f[2])] = (float(f[3]), float(f[4]), float(f[5]))
        elif f[0] == "C":
            run.checks[(f[1], f[2])] = float(f[3])
    return text


def harness_text(run, *args):
    p = subprocess.run([run.harness, *args], env=run.env, capture_output=True,
                       text=True)
    if p.returncode != 0:
        sys.exit("bench: bench_harness %s failed:\n%s" % (" ".join(args),
                                                         p.stderr))
    return p.stdout


def harness(run, *args):
    return parse_lines(harness_text(run, *args), run)


def harness_best(run, *args):
    """The harness in --runs processes, each row kept from its fastest."""
    for _ in range(run.args.runs):
        keep_fastest(run, harness_text(run, *args))


def find_python(module):
    """A Python that can import `module` (Debian's python3 first: that is
    where python3-torch and python3-sympy install)."""
    for py in ("/usr/bin/python3", sys.executable, "python3"):
        try:
            if subprocess.run([py, "-c", "import " + module],
                              capture_output=True).returncode == 0:
                return py
        except OSError:
            pass
    return None


def python_version_of(py, module):
    p = subprocess.run([py, "-c", "import %s; print(%s.__version__)" %
                        (module, module)], capture_output=True, text=True)
    return p.stdout.strip()


def check_close(run, what, a, b, tol=CHECK_TOL):
    err = abs(a - b) / max(1.0, abs(b))
    ok = err <= tol
    if not ok:
        run.failed.append("%s: %r vs %r" % (what, a, b))
    return "%s (%.1e)" % ("ok" if ok else "FAILED", err)


def target(run, what, value, ok):
    run.targets.append((what, value, "met" if ok else "NOT met"))


# ---- machine ----

def cpu_model():
    """The model name, with family and model numbers where the name is as
    vague as a virtual machine's 'AMD EPYC'."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                info.setdefault(key.strip(), val.strip())
    except OSError:
        return platform.processor() or "unknown CPU"
    return "%s (family %s, model %s)" % (info.get("model name", "unknown CPU"),
                                         info.get("cpu family", "?"),
                                         info.get("model", "?"))


def first_line(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True
                              ).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "?"


def machine(run):
    blas = harness(run, "blas-info").split("\t")
    commit = first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = first_line(["git", "-C", ROOT, "status", "--porcelain",
                        "--untracked-files=no"])
    torch_py, sympy_py = find_python("torch"), find_python("sympy")
    print("machine: %s, %d cores (%s); %s; OpenBLAS core %s, %s; PyTorch %s; "
          "SymPy %s; exprc %s%s; threads: 1 everywhere; load average at "
          "start %.2f" % (
              cpu_model(), os.cpu_count(), platform.machine(),
              first_line(["gcc", "--version"]), blas[2], blas[3].strip(),
              python_version_of(torch_py, "torch") if torch_py else "absent",
              python_version_of(sympy_py, "sympy") if sympy_py else "absent",
              commit, " + uncommitted changes" if dirty not in ("", "?") else "",
              os.getloadavg()[0]),
          flush=True)
    run.torch_py, run.sympy_py = torch_py, sympy_py


# ---- W1, W2, W3: run time ----

# PyTorch's gradient allocates its results afresh at every call, and glibc
# gives large blocks back to the system at free and faults them in again at
# the next malloc: on this machine's hypervisor that is a third to a half of
# PyTorch's time, and it moves with the load. So PyTorch runs as installed
# and with glibc told to keep freed memory (these tunables), and the targets
# compare with the faster of the two. Times also differ from process to
# process, each process steady within itself (PyTorch's W1 float32
# gradient: 367, 368, 380 and 447 us in four processes in a row; exprc's
# 273 to 280 us in four), so every program runs --runs times (PyTorch in
# each of its two settings, the harness once for all of exprc's rows), and
# each row keeps its fastest process: both sides at their best.
KEEP_MEMORY = ("glibc.malloc.mmap_threshold=33554432:"
               "glibc.malloc.trim_threshold=1073741824:"
               "glibc.malloc.top_pad=67108864")
KEPT = ", malloc keeps memory"


def run_torch(run, workload):
    if not run.torch_py:
        print("PyTorch: not installed (apt-get install python3-torch): skipped\n")
        return
    for suffix in ("", KEPT):
        env = dict(run.env)
        if suffix:
            env["GLIBC_TUNABLES"] = KEEP_MEMORY
        for _ in range(run.args.runs):
            p = subprocess.run([run.torch_py, os.path.join(BENCH, "torch_bench.py"),
                                run.tmp, "1", workload], env=env,
                               capture_output=True, text=True)
            if p.returncode != 0:
                print("PyTorch: failed, skipped:\n" + p.stderr[-2000:])
                return
            keep_fastest(run, p.stdout, suffix)


def keep_fastest(run, text, suffix=""):
    """One process's lines into the run: each R row (named with suffix)
    kept only if its median beats the same row's from an earlier process,
    and noted in the spread. The C values (not from a suffixed setting,
    whose values repeat the plain one's) are the first process's; the
    programs compute the same numbers in every process, so a later process
    that prints another value for one fails the run."""
    for f in (l.split("\t") for l in text.splitlines()):
        if f[0] == "R":
            key, t = (f[1], f[2] + suffix), float(f[3])
            run.spread.setdefault(key, []).append(t)
            old = run.results.get(key)
            if old is None or t < old[0]:
                run.results[key] = (t, float(f[4]), float(f[5]))
        elif f[0] == "C" and not suffix:
            key, v = (f[1], f[2]), float(f[3])
            old = run.checks.setdefault(key, v)
            if old != v and not (math.isnan(old) and math.isnan(v)):
                run.failed.append("%s %s: %r in one process, %r in another"
                                  % (key[0], key[1], old, v))


def spread(run, w, *names):
    """The per-process medians of rows, as "a - b us over N processes"."""
    ts = [t for n in names for t in run.spread.get((w, n), [])]
    if not ts:
        return "-"
    return "%s - %s over %d processes" % (fmt_time(min(ts)), fmt_time(max(ts)),
                                          len(ts))


def torch_rows(names):
    """Each PyTorch row, then the same with glibc keeping memory."""
    return [x for n in names for x in ([n, n + KEPT] if "PyTorch" in n else [n])]


def torch_best(run, w, name):
    """The faster of PyTorch as installed and with memory kept."""
    ts = [t for t in (med(run, w, name), med(run, w, name + KEPT)) if t]
    return min(ts) if ts else None


def time_rows(run, w, names, base):
    """Rows of median, quartiles and ratio to the baseline case `base`."""
    b = run.results[(w, base)][0]
    rows = []
    for name in torch_rows(names):
        r = run.results.get((w, name))
        if r:
            rows.append([name + (" (baseline)" if name == base else ""),
                         fmt_time(r[0]), fmt_time(r[1]) + " - " + fmt_time(r[2]),
                         fmt_ratio(r[0] / b)])
    table(["case", "median per call", "quartiles", "vs baseline"], rows)


def med(run, w, name):
    r = run.results.get((w, name))
    return r[0] if r else None


# exprc's own C under the system compiler: tcc's share of the time.
CC_ROWS = ["exprc forward, cc -O2 backend", "exprc gradient, cc -O2 backend"]


# --backend auto: time to a first result (compile + one gradient, cold
# cache), and per call once the system compiler's code has taken over.
AUTO_ROWS = ["exprc gradient, auto after the swap", "first result, tcc",
             "first result, auto"]


def cc_check(run, w):
    c = run.checks
    rows = []
    if (w, "loss cc backend") in c:
        rows.append(["loss: exprc cc backend vs tcc", check_close(
            run, w + " cc backend", c[(w, "loss cc backend")],
            c[(w, "loss tcc backend")])])
    if (w, "loss auto backend") in c:
        rows.append(["loss: auto after the swap vs tcc (every bit)",
                     check_close(run, w + " auto backend",
                                 c[(w, "loss auto backend")],
                                 c[(w, "loss tcc backend")], tol=0.0)])
    return rows


def auto_targets(run, w, steady_base=None):
    """First result with auto within 1.2x of tcc's; with steady_base, the
    per-call time after the swap within 1.2x of that case's."""
    a, t = med(run, w, "first result, auto"), med(run, w, "first result, tcc")
    if a and t:
        target(run, "%s time to first result, auto within 1.2x of tcc" % w,
               "%.2fx (%s vs %s)" % (a / t, fmt_time(a), fmt_time(t)),
               a / t <= 1.2)
    g = med(run, w, "exprc gradient, auto after the swap")
    if g and steady_base and med(run, w, steady_base):
        h = med(run, w, steady_base)
        target(run, "%s gradient with auto after the swap within 1.2x of %s"
               % (w, steady_base), "%.2fx (%s vs %s)" % (g / h, fmt_time(g),
                                                        fmt_time(h)),
               g / h <= 1.2)


def mlp_checks(run, w):
    c = run.checks
    rows = [["loss: exprc vs hand C", check_close(
        run, w + " loss", c[(w, "loss exprc")], c[(w, "loss hand")])],
        ["gradients: exprc vs hand C (max rel err)",
         check_close(run, w + " gradients",
                     c[(w, "max rel err exprc vs hand gradients")], 0.0)]]
    if (w, "loss hand blas") in c:
        rows.append(["loss: hand C OpenBLAS vs loops", check_close(
            run, w + " blas loss", c[(w, "loss hand blas")], c[(w, "loss hand")])])
    if (w, "loss torch") in c:
        rows.append(["loss: PyTorch vs exprc", check_close(
            run, w + " torch loss", c[(w, "loss torch")], c[(w, "loss exprc")])])
        rows.append(["sum of gradients: PyTorch vs exprc", check_close(
            run, w + " torch gradients", c[(w, "sum of torch gradients")],
            c[(w, "sum of exprc gradients")])])
    table(["check (same numbers everywhere)", "result (rel err)"],
          rows + cc_check(run, w))


def grad_fwd_target(run, w):
    g, f = med(run, w, "exprc gradient"), med(run, w, "exprc forward")
    target(run, "%s exprc gradient/forward <= 2.5" % w, "%.2f" % (g / f),
           g / f <= 2.5)


# float32 (--dtype float32): the same workload with every tensor float32,
# against the float64 model (its loss, within 1e-4 relative: a few float
# roundings, 6e-8 each, times the loss's conditioning) and PyTorch float32.
F32_ROWS = ["exprc float32 forward", "exprc float32 gradient",
            "exprc float32 gradient, cc -O2 backend",
            "exprc float32 gradient, auto after the swap",
            "PyTorch float32 forward (no_grad)", "PyTorch float32 gradient",
            "OpenBLAS float32 products alone"]


def f32_rows(run, w, base):
    print("float32 (`--dtype float32`):\n")
    time_rows(run, w, F32_ROWS + [base], base)
    c = run.checks
    rows = []
    if (w, "loss float32") in c:
        rows.append(["loss: exprc float32 vs float64", check_close(
            run, w + " float32 loss", c[(w, "loss float32")],
            c[(w, "loss float64")], tol=1e-4)])
    if (w, "loss float32 cc backend") in c:
        rows.append(["loss: float32 cc backend vs tcc (every bit)", check_close(
            run, w + " float32 cc loss", c[(w, "loss float32 cc backend")],
            c[(w, "loss float32")], tol=0.0)])
    if (w, "loss float32 auto backend") in c:
        rows.append(["loss: float32 auto backend vs tcc (every bit)", check_close(
            run, w + " float32 auto loss", c[(w, "loss float32 auto backend")],
            c[(w, "loss float32")], tol=0.0)])
    if (w, "loss torch float32") in c:
        rows.append(["loss: PyTorch float32 vs exprc float32", check_close(
            run, w + " torch float32 loss", c[(w, "loss torch float32")],
            c[(w, "loss float32")], tol=1e-4)])
    table(["check", "result (rel err)"], rows)


def blas_floor(run):
    """What the W1 gradient spends beyond its five matrix products, which
    every contender makes through the same OpenBLAS: the part a compiler can
    win. PyTorch's time over the products alone is the ratio exprc would
    reach with nothing else to do."""
    rows = []
    for dtype, tag in (("float64", ""), ("float32", " float32")):
        f = med(run, "W1", "OpenBLAS%s products alone" % tag)
        g = med(run, "W1", "exprc%s gradient, auto after the swap" % tag)
        t = torch_best(run, "W1", "PyTorch%s gradient" % tag)
        if f and g:
            rows.append([dtype, fmt_time(f), fmt_time(g - f),
                         fmt_time(t - f) if t else "-",
                         "%.2f" % (t / f) if t else "-"])
    if rows:
        print("Beyond the products (exprc: auto after the swap; PyTorch: the "
              "faster of its two rows):\n")
        table(["dtype", "the five products alone", "exprc beyond them",
               "PyTorch beyond them", "PyTorch / products"], rows)


def mlp_targets(run):
    """Issue 18's W1 targets, for the default backend (auto, after its
    swap) against the faster PyTorch: float64 at least 1.15x, float32 at
    least 1.3x."""
    for dtype, tag, need in (("float64", "", 1.15), ("float32", " float32", 1.3)):
        t = torch_best(run, "W1", "PyTorch%s gradient" % tag)
        name = "exprc%s gradient, auto after the swap" % tag
        g = med(run, "W1", name)
        if t and g:
            torch = "PyTorch%s gradient" % tag
            target(run, "W1 %s gradient, default backend, at least %.2fx "
                   "faster than PyTorch %s" % (dtype, need, dtype),
                   "%s vs %s (PyTorch/exprc %.2f; exprc %s, PyTorch %s)" % (
                       fmt_time(g), fmt_time(t), t / g, spread(run, "W1", name),
                       spread(run, "W1", torch, torch + KEPT)), t / g >= need)


def w1(run):
    section("W1: MLP 784-128-10, tanh, softmax cross-entropy, batch 64")
    harness_best(run, "w1", os.path.join(MODELS, "w1_mlp784.expr"), run.tmp)
    run_torch(run, "W1")
    time_rows(run, "W1", ["exprc forward", "exprc gradient"] + CC_ROWS + AUTO_ROWS + [
                          "hand C loops forward", "hand C loops gradient",
                          "hand C OpenBLAS gradient", "OpenBLAS products alone",
                          "PyTorch forward (no_grad)", "PyTorch gradient"],
              "hand C loops gradient")
    mlp_checks(run, "W1")
    f32_rows(run, "W1", "exprc gradient")
    blas_floor(run)
    grad_fwd_target(run, "W1")
    auto_targets(run, "W1")
    mlp_targets(run)
    t, g = torch_best(run, "W1", "PyTorch gradient"), med(run, "W1", "exprc gradient")
    if t:
        run.targets.append((
            "W1 exprc gradient faster than PyTorch",
            "%s vs %s (PyTorch/exprc %.2f)" % (fmt_time(g), fmt_time(t), t / g),
            "met" if t / g >= 1.05 else "tie (within 5%)" if t / g > 0.95
            else "NOT met"))
    else:
        target(run, "W1 exprc gradient faster than PyTorch", "PyTorch absent",
               False)


def w2(run):
    section("W2: MLP 4-16-3, tanh, softmax cross-entropy, batch 1")
    harness_best(run, "w2", os.path.join(MODELS, "w2_mlp4.expr"), run.tmp)
    run_torch(run, "W2")
    time_rows(run, "W2", ["exprc forward", "exprc gradient"] + CC_ROWS + AUTO_ROWS + [
                          "hand C forward", "hand C gradient",
                          "hand C gradient, libtcc",
                          "PyTorch forward (no_grad)", "PyTorch gradient"],
              "hand C gradient")
    mlp_checks(run, "W2")
    grad_fwd_target(run, "W2")
    auto_targets(run, "W2")
    t, g = torch_best(run, "W2", "PyTorch gradient"), med(run, "W2", "exprc gradient")
    if t:
        target(run, "W2 exprc gradient >= 40x faster than PyTorch",
               "%.1fx (%s vs %s)" % (t / g, fmt_time(g), fmt_time(t)),
               t / g >= 40)


def w5(run):
    section("W5: LeNet-like CNN, two 5x5 conv + 2x2 max pool, batch 32 of "
            "28x28")
    harness_best(run, "w5", os.path.join(MODELS, "w5_lenet.expr"), run.tmp)
    run_torch(run, "W5")
    time_rows(run, "W5", ["exprc forward", "exprc gradient"] + CC_ROWS +
              AUTO_ROWS + ["PyTorch forward (no_grad)", "PyTorch gradient"],
              "exprc gradient")
    c = run.checks
    rows = cc_check(run, "W5")
    if ("W5", "loss torch") in c:
        rows += [["loss: PyTorch vs exprc", check_close(
            run, "W5 torch loss", c[("W5", "loss torch")],
            c[("W5", "loss exprc")])],
            ["sum of gradients: PyTorch vs exprc", check_close(
                run, "W5 torch gradients", c[("W5", "sum of torch gradients")],
                c[("W5", "sum of exprc gradients")])]]
    table(["check (same numbers everywhere)", "result (rel err)"], rows)
    auto_targets(run, "W5", CC_ROWS[1])
    f32_rows(run, "W5", "exprc gradient")
    t = torch_best(run, "W5", "PyTorch gradient")
    # The default backend is auto: its steady state is the system
    # compiler's code, swapped in once the runs have taken 10 ms.
    g = med(run, "W5", "exprc gradient, auto after the swap")
    tcc, cc = med(run, "W5", "exprc gradient"), med(run, "W5", CC_ROWS[1])
    if not t or not g:
        target(run, "W5 exprc gradient no slower than PyTorch",
               "PyTorch absent" if not t else "auto did not swap", False)
        return
    target(run, "W5 exprc gradient (default backend, auto after the swap) "
           "no slower than PyTorch",
           "%s vs %s (PyTorch/exprc %.2f)" % (fmt_time(g), fmt_time(t), t / g),
           t / g >= 0.95)
    target(run, "W5 exprc gradient, libtcc alone, no slower than PyTorch "
           "(not a target of the issue; libtcc's code before the swap)",
           "%s vs %s (PyTorch/exprc %.2f)" % (fmt_time(tcc), fmt_time(t),
                                              t / tcc), t / tcc >= 0.95)
    if cc:
        target(run, "W5 exprc gradient, cc backend, faster than PyTorch",
               "%s vs %s (PyTorch/exprc %.2f)" % (fmt_time(cc), fmt_time(t),
                                                  t / cc), t / cc >= 1.05)


def w3(run):
    section("W3: Rosenbrock, n = 1000, vector form")
    harness_best(run, "w3", os.path.join(MODELS, "w3_rosenbrock.expr"), run.tmp)
    time_rows(run, "W3", ["exprc forward", "exprc gradient"] + CC_ROWS + AUTO_ROWS + [
                          "hand C function", "hand C gradient",
                          "hand C function, libtcc", "hand C gradient, libtcc"],
              "hand C gradient")
    c = run.checks
    table(["check", "result (rel err)"], [
        ["f: exprc vs hand C", check_close(run, "W3 f", c[("W3", "f exprc")],
                                           c[("W3", "f hand")])],
        ["gradient: exprc vs hand C (max rel err)", check_close(
            run, "W3 gradient", c[("W3", "max rel err exprc vs hand gradient")],
            0.0)]] + cc_check(run, "W3"))
    f32_rows(run, "W3", "exprc gradient")
    grad_fwd_target(run, "W3")
    auto_targets(run, "W3", "hand C gradient")
    g, h = med(run, "W3", "exprc gradient"), med(run, "W3", "hand C gradient")
    target(run, "W3 exprc gradient within 3x of hand-written C (gcc -O2)",
           "%.1fx (%s vs %s)" % (g / h, fmt_time(g), fmt_time(h)), g / h <= 3)
    t = med(run, "W3", "hand C gradient, libtcc")
    if t:
        print("The same hand-written gradient compiled by libtcc takes %.1fx "
              "its gcc -O2 time; exprc's gradient takes %.2fx the libtcc "
              "one.\n" % (t / h, g / t))


# ---- W4: compile latency ----

def graph_nodes(run, path, missing_ok=False):
    """(total, forward, backward) live nodes, from `exprc graph`'s first line
    (the rest, one line a node, is not read); past the CLI's node limit
    (2^20, exprc_limits.max_nodes, which the CLI does not raise), None
    when missing_ok."""
    p = subprocess.Popen([run.exprc, "graph", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    p.kill()
    p.wait()
    m = re.search(r"(\d+) nodes, (\d+) forward and (\d+) backward", line)
    if not m and missing_ok:
        return None
    if not m:
        sys.exit("bench: cannot read the node count of %s: %r" % (path, line))
    return tuple(int(g) for g in m.groups())


def pipeline_time(run, path, reps, *flags):
    key = ("compile", "exprc pipeline, no simplify" if flags
           else "exprc pipeline")
    harness(run, "compile", path, str(reps), *flags)
    return run.results[key][0]


def time_command(cmd, reps, timeout):
    """Median wall time of a command, or None past the timeout."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        try:
            subprocess.run(cmd, check=True, timeout=timeout,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def w4_models(run):
    dags = [(2300, "~10k"), (23000, "~100k")]
    if run.args.quick:
        dags = [(2300, "~10k")]
    models = [("W1 MLP", os.path.join(MODELS, "w1_mlp784.expr"), 21),
              ("W3 Rosenbrock", os.path.join(MODELS, "w3_rosenbrock.expr"), 21)]
    for stmts, label in dags:
        path = gen.write(os.path.join(run.tmp, "dag%d.expr" % stmts),
                         gen.dag(stmts))
        models.append(("DAG %s nodes (%d statements)" % (label, stmts), path,
                       5 if stmts < 10000 else 3))
    return models


def w4_row(run, name, path, reps):
    nodes = graph_nodes(run, path)[0]
    csrc = os.path.join(run.tmp, os.path.basename(path) + ".c")
    subprocess.run([run.exprc, "emit", path, "-o", csrc], check=True)
    with open(csrc) as f:
        lines = sum(1 for _ in f)
    t = pipeline_time(run, path, reps)
    t_ns = pipeline_time(run, path, reps, "no-simplify")
    gcc = ["gcc", "-std=c99", "-c", csrc, "-o", os.path.join(run.tmp, "x.o")]
    reps_gcc = 3 if lines < 20000 else 1
    o0 = time_command(gcc + ["-O0"], reps_gcc, run.args.gcc_timeout)
    o2 = time_command(gcc + ["-O2"], reps_gcc, run.args.gcc_timeout)
    over = "> %d s" % run.args.gcc_timeout
    row = [name, nodes, lines, fmt_time(t), fmt_time(t_ns),
           fmt_time(o0) if o0 else over, fmt_time(o2) if o2 else over,
           fmt_ratio(o0 / t) if o0 else "> " + fmt_ratio(run.args.gcc_timeout / t),
           fmt_ratio(o2 / t) if o2 else "> " + fmt_ratio(run.args.gcc_timeout / t),
           "%.2f" % (t / nodes * 1e6)]
    return row, t, o0, nodes


def w4(run):
    section("W4: compile latency, model text -> callable entry points")
    rows, per_node = [], {}
    for name, path, reps in w4_models(run):
        row, t, o0, nodes = w4_row(run, name, path, reps)
        rows.append(row)
        per_node[name] = (nodes, t)
        ok = o0 is not None and o0 / t >= 20
        target(run, "W4 %s: pipeline >= 20x faster than gcc -O0 -c" % name,
               row[7], ok or o0 is None)
    table(["model", "graph nodes", "C lines", "exprc pipeline",
           "exprc, no simplify", "gcc -O0 -c", "gcc -O2 -c", "gcc -O0 / exprc",
           "gcc -O2 / exprc", "exprc us/node"], rows)
    print("gcc compiles the C that `exprc emit` prints for the model; the "
          "baseline of each ratio is exprc's pipeline on the same model.\n")
    dag = [k for k in per_node if k.startswith("DAG")]
    if len(dag) == 2:
        (n0, t0), (n1, t1) = per_node[dag[0]], per_node[dag[1]]
        k = exponent([n0, n1], [t0, t1])
        target(run, "W4 pipeline linear in graph size (exponent of time vs "
               "nodes, 10k..100k, <= 1.15)", "%.3f" % k, k <= 1.15)


# ---- scaling: nested and wide generated models ----

def sympy_case(run, family, n, last):
    """SymPy's figures, or a reason why there are none."""
    if not run.sympy_py:
        return None, "SymPy absent"
    cap = run.args.sympy_timeout
    if last and last[1] * n / last[0] > cap:
        return None, "not run: > %d s at linear growth" % cap
    if last is False:
        return None, "timeout (> %d s, not run)" % cap
    try:
        p = subprocess.run([run.sympy_py, os.path.join(BENCH, "sympy_bench.py"),
                            family, str(n)], capture_output=True, text=True,
                           timeout=cap, env=run.env, cwd=BENCH)
    except subprocess.TimeoutExpired:
        return None, "timeout (> %d s)" % cap
    out = {}
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "S":
            out[f[3]] = float(f[4])
    if "ops" not in out:
        return None, "failed: " + p.stderr[-200:]
    return out, None


def exprc_eval(run, path, at):
    """Compile and run the gradient once: (pipeline time, {name: value}) or
    the way it failed, and the run's peak resident memory in KB (None
    without GNU time)."""
    kbfile = os.path.join(run.tmp, "peak_kb")
    timer = (["/usr/bin/time", "-f", "%M", "-o", kbfile]
             if os.access("/usr/bin/time", os.X_OK) else [])
    p = subprocess.run(timer + [run.harness, "eval", path, *at], env=run.env,
                       capture_output=True, text=True)
    kb = None
    if timer and os.path.exists(kbfile):
        with open(kbfile) as f:
            m = re.search(r"^(\d+)$", f.read(), re.M)
        kb = int(m.group(1)) if m else None
    vals, t = {}, None
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "C":
            vals[f[2]] = float(f[3])
        elif f[0] == "R":
            t = float(f[3])
    if p.returncode != 0:
        why = ("crashed (signal %d)" % -p.returncode if p.returncode < 0
               else "failed: " + p.stderr.strip()[-200:])
        return t, why, kb
    return t, vals, kb


def scaling_sizes(run, family):
    if family == "nested":
        sizes = [1, 2, 4, 6, 8, 10, 100, 1000, 10000, 100000]
    else:
        sizes = [10, 100, 1000, 10000, 100000]
    return [n for n in sizes if not run.args.quick or n <= 10000]


def per_node_memory(kb, total, first):
    """Peak RSS, and bytes a node above the first row's (kb, total nodes):
    the process's own start-up memory cancels. Under a thousand nodes more
    the difference is the allocator's noise, not the graph's."""
    if kb is None:
        return ["-", "-"]
    if not first or first[0] is None or total < first[1] + 1000:
        return ["%.1f MB" % (kb / 1024), "-"]
    return ["%.1f MB" % (kb / 1024),
            "%.0f" % ((kb - first[0]) * 1024 / (total - first[1]))]


def straight_line(counts, n):
    """The node counts at size n on the line through the last two sizes:
    both families grow exactly linearly (14 and 12 nodes a level)."""
    if len(counts) < 2:
        return None
    (n0, c0), (n1, c1) = counts[-2], counts[-1]
    return tuple(b + (b - a) * (n - n1) // (n1 - n0) for a, b in zip(c0, c1))


def scaling_row(run, family, n, last_sympy, first, counts):
    path = os.path.join(run.tmp, "%s%d.expr" % (family, n))
    gen.write(path, gen.nested(n) if family == "nested" else gen.wide(n))
    guess = straight_line(counts, n)
    got = graph_nodes(run, path, missing_ok=guess is not None)
    if got is None:
        got = guess
        print("nodes at n = %d: past `exprc graph`'s limit, on the straight "
              "line through the two sizes before\n" % n)
    total, fwd, bwd = got
    counts.append((n, (total, fwd, bwd)))
    at = ["x=0.3"] if family == "nested" else ["a=0.3", "b=0.7"]
    _, vals, kb = exprc_eval(run, path, at)
    # The same measure at every size, so that the exponent compares like
    # with like: the median of repeated compiles in one process (the eval
    # above is one compile in a fresh process, which at the largest size
    # was the only figure, against warm medians below it).
    t = pipeline_time(run, path, 5 if n <= 1000 else 3)
    s, why = sympy_case(run, family, n, last_sympy)
    row = [n, total, fwd, bwd, "%.1f" % (total / n), fmt_time(t),
           "%.2f" % (t / total * 1e6)] + per_node_memory(kb, total, first) + [
           "ok" if isinstance(vals, dict) else vals]
    if s:
        row += [fmt_time(s["diff"]), fmt_time(s["cse"]), int(s["ops"])]
        row.append(scaling_check(run, family, n, vals, s))
    else:
        row += [why, "", "", ""]
    return row, t, total, (n, s["diff"] + s["cse"]) if s else False, kb


def scaling_check(run, family, n, vals, s):
    if not isinstance(vals, dict):
        return "-"
    loss = "u%d" % n if family == "nested" else "L"
    wrt = ["x"] if family == "nested" else ["a", "b"]
    res = [check_close(run, "%s %d d%s/d%s vs SymPy" % (family, n, loss, v),
                       vals["d%s/d%s" % (loss, v)], s["d/d" + v], 1e-8)
           for v in wrt]
    return ", ".join(res)


def scaling(run):
    for family, what in (("nested", "depth: u_{k+1} = u_k*sin(u_k) + "
                          "cos(u_k)*u_k, grad u_depth wrt x"),
                         ("wide", "width: L = sum_k d_k*sin(c_k*a + b), "
                          "grad L wrt a, b")):
        section("scaling, %s model; n = %s" % (family, what))
        rows, pts, last, first, counts = [], [], None, None, []
        for n in scaling_sizes(run, family):
            row, t, total, last_s, kb = scaling_row(run, family, n, last,
                                                    first, counts)
            first = first or (kb, total)
            last = last_s if last is not False else False
            rows.append(row)
            pts.append((n, total, t))
        table(["n", "exprc nodes", "forward", "backward", "nodes/n",
               "exprc pipeline", "us/node", "peak RSS (compile + 1 run)",
               "bytes/node above the first row", "exprc gradient runs",
               "SymPy diff", "SymPy cse", "SymPy ops after cse",
               "d/d check vs SymPy (rel err)"], rows)
        scaling_targets(run, family, pts)


def exponent(xs, ys):
    """k of the least-squares fit y = c x^k on log scales: 1 is linear."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly)) /
            sum((a - mx) ** 2 for a in lx))


def scaling_targets(run, family, pts):
    big = [p for p in pts if p[0] >= 1000]
    if len(big) < 2:
        return
    ns, nodes, times = zip(*big)
    k = exponent(ns, nodes)
    target(run, "scaling %s: graph size linear in n (exponent of nodes vs n, "
           "n = %d..%d, <= 1.05)" % (family, ns[0], ns[-1]), "%.3f" % k,
           k <= 1.05)
    k = exponent(nodes, times)
    target(run, "scaling %s: pipeline time linear in graph size (exponent of "
           "time vs nodes, n = %d..%d, <= 1.10: issue 18)"
           % (family, ns[0], ns[-1]), "%.3f" % k, k <= 1.10)


# ---- main ----

def build(run):
    if not os.path.exists(os.path.join(run.build, "build.ninja")):
        subprocess.run(["meson", "setup", run.build, "--buildtype=release"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    p = subprocess.run(["ninja", "-C", run.build, "exprc",
                        "bench/bench_harness"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("bench: build failed:\n" + p.stdout[-3000:])


def at_least_one(text):
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("at least 1 process: %s" % text)
    return n


def main():
    ap = argparse.ArgumentParser(description="exprc benchmarks")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"),
                    help="release build directory (made if missing)")
    ap.add_argument("--only", default="W1,W2,W3,W4,scaling,W5",
                    help="comma-separated sections")
    ap.add_argument("--quick", action="store_true",
                    help="sizes up to 10k only, for a fast look")
    ap.add_argument("--runs", "--torch-runs", dest="runs", type=at_least_one,
                    default=3,
                    help="processes of each program (the harness, PyTorch in "
                    "each setting); each row keeps the fastest")
    ap.add_argument("--sympy-timeout", type=int, default=120)
    ap.add_argument("--gcc-timeout", type=int, default=30)
    run = Run(ap.parse_args())
    build(run)
    t0 = time.perf_counter()
    machine(run)
    sections = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "scaling": scaling,
                "W5": w5}
    try:
        for name in run.args.only.split(","):
            sections[name](run)
    finally:
        shutil.rmtree(run.tmp, ignore_errors=True)
    section("targets")
    table(["target", "measured", "status"], run.targets)
    print("bench: %.0f s in all" % (time.perf_counter() - t0))
    for f in run.failed:
        print("CHECK FAILED: " + f)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
