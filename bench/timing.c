/* timing.c: the one way every benchmark figure is measured (see bench.h).
 *
 * Why median over samples of many calls: a single call of a small function
 * (a few hundred nanoseconds) is below the clock's useful resolution, and on
 * a shared two-core machine a few samples are hit by other work; the median
 * ignores those, and the quartiles show how much they moved.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { SAMPLES = 21 };
static const double SAMPLE_S = 0.02, WARMUP_S = 0.1;

double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double run_calls(bench_fn fn, void *arg, long calls) {
  double t0 = bench_now();
  for (long i = 0; i < calls; i++)
    fn(arg);
  return bench_now() - t0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Warm up for WARMUP_S (caches, page faults, lazy allocation), doubling the
 * call count until one batch lasts SAMPLE_S: that is the sample size. */
static long calibrate(bench_fn fn, void *arg) {
  long calls = 1;
  double spent = 0, t = 0;
  while (spent < WARMUP_S || t < SAMPLE_S) {
    t = run_calls(fn, arg, calls);
    spent += t;
    if (t < SAMPLE_S)
      calls *= 2;
  }
  if (t > 2 * SAMPLE_S && calls > 1) /* a slow function: one call is plenty */
    calls = (long)fmax(1.0, (double)calls * SAMPLE_S / t);
  return calls;
}

void bench_measure(bench_fn fn, void *arg, BenchStat *st) {
  double per[SAMPLES];
  st->calls = calibrate(fn, arg);
  st->samples = SAMPLES;
  for (int s = 0; s < SAMPLES; s++)
    per[s] = run_calls(fn, arg, st->calls) / (double)st->calls;
  qsort(per, SAMPLES, sizeof per[0], cmp_double);
  st->median = per[SAMPLES / 2];
  st->q1 = per[SAMPLES / 4];
  st->q3 = per[(3 * SAMPLES) / 4];
}

void bench_report(const char *workload, const char *name, const BenchStat *st) {
  printf("R\t%s\t%s\t%.6e\t%.6e\t%.6e\t%ld\t%d\n", workload, name, st->median,
         st->q1, st->q3, st->calls, st->samples);
  fflush(stdout);
}

void bench_check(const char *workload, const char *what, double value) {
  printf("C\t%s\t%s\t%.17g\n", workload, what, value);
  fflush(stdout);
}

void bench_fill(exprc_rng *r, double *x, long n, double lo, double hi) {
  for (long i = 0; i < n; i++)
    x[i] = lo + (hi - lo) * exprc_rng_uniform(r);
}

double bench_max_rel_err(const double *a, const double *b, long n) {
  double worst = 0;
  for (long i = 0; i < n; i++) {
    double e = fabs(a[i] - b[i]) / fmax(1.0, fabs(b[i]));
    if (!(e <= worst)) /* also catches NaN */
      worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}
