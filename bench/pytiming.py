"""pytiming.py: the timing rule of the Python benchmarks (bench/gp.py,
attention.py, gru.py), that of torch_bench.py and bench/timing.c: a warm-up
of at least 0.1 s, samples of about 20 ms, the median of 21 samples.

PyTorch allocates its results afresh at every call; glibc gives large
freed blocks back to the system and faults them in again at the next
allocation, which on this machine can double PyTorch's time and moves with
the load. So PyTorch is timed twice: as installed, and with glibc keeping
the memory it frees (mallopt, as the GLIBC_TUNABLES of bench/driver.py),
and comparisons are with the faster of the two."""
import contextlib
import ctypes
import os
import time

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3


def measure(fn, samples=21, sample_s=0.02, warmup_s=0.1):
    """Seconds per call of fn, the median over the samples."""
    calls, spent, t = 1, 0.0, 0.0
    while spent < warmup_s or t < sample_s:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t = time.perf_counter() - t0
        spent += t
        if t < sample_s:
            calls *= 2
    per = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        per.append((time.perf_counter() - t0) / calls)
    return sorted(per)[samples // 2]


@contextlib.contextmanager
def kept_memory():
    """glibc keeps freed memory for reuse (no mmap below 32 MB, no trim
    below 1 GB); afterwards its fixed defaults again (128 KB, 128 KB, 0:
    the threshold no longer adapts, as it did before)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    libc.mallopt(M_TOP_PAD, 64 << 20)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, 128 << 10)
        libc.mallopt(M_TRIM_THRESHOLD, 128 << 10)
        libc.mallopt(M_TOP_PAD, 0)


def torch_rows(step, label="PyTorch"):
    """PyTorch's rows: as installed, then with glibc keeping memory."""
    rows = [(label + ", autograd", measure(step))]
    with kept_memory():
        rows.append((label + ", autograd, malloc keeps memory", measure(step)))
    return rows


def print_table(title, rows, digits=3):
    """A Markdown table of (name, seconds) rows against the faster PyTorch
    row (the last row when there is none)."""
    ts = [s for name, s in rows if name.startswith("PyTorch")]
    base = min(ts) if ts else rows[-1][1]
    print(f"\n{title} (load {os.getloadavg()[0]:.1f})\n")
    print("| implementation | ms per call | vs the faster PyTorch |\n|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s * 1e3:.{digits}f} | {s / base:.2f}x |")
