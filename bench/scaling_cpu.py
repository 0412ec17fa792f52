"""scaling_cpu.py: the pipeline's processor time and peak memory per node,
for a machine that other work is using too (bench/scaling's wall-clock
figures then measure the scheduler as much as the code).

    python3 bench/scaling_cpu.py [BUILD_DIR] [--family nested|wide]
        [--sizes 1000,10000,100000] [--reps 3]

For each size: the model text from gen.py, its live node count (`exprc
graph`), the median over REPS of the pipeline's processor time (model text
in memory -> callable entry points, `bench_harness compile`: one thread, so
processor time is its own cost), and the peak resident memory of one
compile (`/usr/bin/time -f %M`) less that of the smallest size, per node.
Then the exponent of time against nodes (least squares on log scales, 1 is
linear) from the smallest size to the largest.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402
from driver import exponent  # noqa: E402


def nodes(exprc, path, rows):
    """Live nodes from `exprc graph`; past its node limit (2^20: the CLI has
    no option to raise it), the straight line through the two sizes before
    (both families grow exactly linearly: 14 and 12 nodes a level)."""
    p = subprocess.run([exprc, "graph", path], capture_output=True, text=True)
    m = re.search(r"(\d+) nodes", p.stdout.split("\n", 1)[0])
    if m:
        return int(m.group(1)), ""
    if len(rows) < 2 or "graph nodes (the limit)" not in p.stderr:
        sys.exit("scaling_cpu: no node count for %s: %s" % (path, p.stderr))
    (n0, k0), (n1, k1) = [(r[0], r[1]) for r in rows[-2:]]
    n = int(re.search(r"(\d+)\.expr$", path).group(1))
    return k1 + (k1 - k0) * (n - n1) // (n1 - n0), " (extrapolated)"


def compile_cpu(harness, path, reps):
    p = subprocess.run([harness, "compile", path, str(reps)],
                       capture_output=True, text=True, check=True)
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "R" and f[2] == "exprc pipeline, processor time":
            return float(f[3])
    sys.exit("scaling_cpu: no processor time in: " + p.stdout)


def peak_kb(harness, path):
    p = subprocess.run(["/usr/bin/time", "-f", "%M", harness, "compile", path,
                        "1"], capture_output=True, text=True, check=True)
    return int(p.stderr.strip().splitlines()[-1])


def main():
    args = sys.argv[1:]
    build = os.path.join(HERE, "..", "build-bench")
    family, sizes, reps = "nested", [1000, 10000, 100000], 3
    while args:
        a = args.pop(0)
        if a == "--family":
            family = args.pop(0)
        elif a == "--sizes":
            sizes = [int(s) for s in args.pop(0).split(",")]
        elif a == "--reps":
            reps = int(args.pop(0))
        else:
            build = a
    harness = os.path.join(build, "bench", "bench_harness")
    exprc = os.path.join(build, "exprc")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, "%s%d.expr" % (family, n))
            gen.write(path, gen.nested(n) if family == "nested" else gen.wide(n))
            k, note = nodes(exprc, path, rows)
            rows.append((n, k, compile_cpu(harness, path, reps),
                         peak_kb(harness, path), note))
    print("| n | nodes | pipeline, processor time | us/node | peak RSS | "
          "bytes/node above n = %d |" % rows[0][0])
    print("|---|---|---|---|---|---|")
    for n, k, t, kb, note in rows:
        extra = "%.0f" % ((kb - rows[0][3]) * 1024 / (k - rows[0][1])) \
            if k > rows[0][1] else "-"
        print("| %d | %d%s | %.3f s | %.2f | %.1f MB | %s |"
              % (n, k, note, t, t / k * 1e6, kb / 1024, extra))
    k = exponent([r[1] for r in rows], [r[2] for r in rows])
    print("\nexponent of processor time vs nodes, %d..%d nodes: %.3f"
          % (rows[0][1], rows[-1][1], k))


if __name__ == "__main__":
    main()
