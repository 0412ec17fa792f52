"""pytiming.py: the timing rule of the Python benchmarks (bench/gp.py,
attention.py, gru.py), that of torch_bench.py and bench/timing.c: a warm-up
of at least 0.1 s, samples of about 20 ms, the median of 21 samples."""
import time


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
