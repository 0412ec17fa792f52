/* bench.h: what the benchmark programs share: a timer that reports the
 * median of repeated calls after a warm-up, seeded test data, and one result
 * line per measurement for bench/run to read.
 *
 * Every figure bench/run prints comes through bench_measure, so that exprc,
 * the hand-written C and (in bench/torch_bench.py, with the same rules)
 * PyTorch are timed the same way: warm up, pick a number of calls per sample
 * that makes a sample last about `sample_s`, then take the median over
 * `samples` samples of the time per call.
 */
#ifndef EXPRC_BENCH_H
#define EXPRC_BENCH_H

#include <stdint.h>

#include "runtime.h"

typedef struct BenchStat {
  double median, q1, q3; /* seconds per call over the samples */
  long calls;            /* calls per sample */
  int samples;
} BenchStat;

typedef void (*bench_fn)(void *arg);

/* Time fn(arg): the default is 21 samples of about 20 ms each. */
void bench_measure(bench_fn fn, void *arg, BenchStat *st);

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

/* Print `R <workload> <case> <median> <q1> <q3> <calls> <samples>`. */
void bench_report(const char *workload, const char *name, const BenchStat *st);

/* Print `C <workload> <what> <value>`: a check figure (a loss, an error). */
void bench_check(const char *workload, const char *what, double value);

/* Fill x[0..n) with uniform numbers in [lo, hi) from r. */
void bench_fill(exprc_rng *r, double *x, long n, double lo, double hi);

/* The largest |a - b| / max(1, |b|) over n elements. */
double bench_max_rel_err(const double *a, const double *b, long n);

#endif
