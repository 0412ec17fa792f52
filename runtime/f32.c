/* f32.c: the run-time kernels of float32 models (exprc_options.dtype =
 * EXPRC_FLOAT32) that have no float version of their own.
 *
 * The matrix product has one (OpenBLAS's sgemm, kernels.c and parallel.c):
 * it is where a model's time goes; so do convolutions and pooling, whose
 * kernels layers.c compiles for float too (layers_real.h), the products of
 * a convolution going to sgemm. The factorisations, solves, determinants
 * and argsort are not worth writing twice: each wrapper here widens its
 * float operands to double, calls the double kernel, and rounds its
 * results to float once. That is exact (every float is a double) and at
 * least as accurate as a float kernel would be, costs a copy of the
 * operands (small beside an O(n^3) factorisation), and keeps one
 * definition of each kernel's numerics, errors included. The double
 * scratch memory serves layers.c's float kernels as well, where they add
 * in double (exprc_rt_f32_scratch).
 *
 * Out of memory for the copies is the run-time error EXPRC_RTE_NOMEM at the
 * kernel's site (or site -1 for kernels that take none), and the results
 * are NaN: never an unreported wrong value.
 */
#include "runtime.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

/* The double copies live in memory each thread keeps from call to call
 * (freed when the thread ends): a malloc and a free of the same megabyte
 * at every call made glibc give the top of its heap back to the system
 * and fault it in again at the next call, which made a float32 CNN's
 * gradient several times slower than float64's. A wrapper uses at most
 * NCOPY copies at once, copy k in place k. */
enum { NCOPY = 3 };
typedef struct Copies {
  double *p[NCOPY];
  size_t cap[NCOPY];
} Copies;

static pthread_key_t copies_key;
static pthread_once_t copies_once = PTHREAD_ONCE_INIT;

static void copies_free(void *arg) {
  Copies *c = arg;
  for (int k = 0; k < NCOPY; k++)
    free(c->p[k]);
  free(c);
}

static void copies_init(void) { (void)pthread_key_create(&copies_key, copies_free); }

/* Place k for n doubles (n may be 0); NULL when memory ran out. */
static double *scratch(int k, long n) {
  pthread_once(&copies_once, copies_init);
  Copies *c = pthread_getspecific(copies_key);
  if (!c && (!(c = calloc(1, sizeof *c)) ||
             pthread_setspecific(copies_key, c) != 0))
    return free(c), NULL;
  size_t want = (size_t)(n > 0 ? n : 1);
  if (c->cap[k] < want) {
    double *p = realloc(c->p[k], want * sizeof *p);
    if (!p)
      return NULL;
    c->p[k] = p, c->cap[k] = want;
  }
  return c->p[k];
}

/* The same places for the other float kernels (the double accumulators of
 * a float32 convolution's direct loops and of pooling's gradient,
 * layers.c). */
double *exprc_rt_f32_scratch(int k, long n) { return scratch(k, n); }

/* A double copy of n floats in place k; NULL when memory ran out. */
static double *widen(int k, const float *x, long n) {
  double *d = scratch(k, n);
  for (long i = 0; d && i < n; i++)
    d[i] = x[i];
  return d;
}

/* Round the n results to float; or, when a copy could not be made (!ok),
 * report it and leave NaN in the results. */
static void narrow(long site, int ok, const double *d, float *out, long n) {
  if (!ok)
    exprc_rt_fail(site, EXPRC_RTE_NOMEM, 0, 0);
  for (long i = 0; i < n; i++)
    out[i] = ok ? (float)d[i] : NAN;
}

void exprc_rt_chol_f32(long site, long batch, long n, const float *a,
                       float *l) {
  long nn = batch * n * n;
  double *da = widen(0, a, nn), *dl = scratch(1, nn);
  if (da && dl)
    exprc_rt_chol(site, batch, n, da, dl);
  narrow(site, da && dl, dl, l, nn);
}

void exprc_rt_trsolve_f32(long site, int lower, int trans, long batch,
                          long n, long k, const float *a, const float *b,
                          float *x) {
  double *da = widen(0, a, batch * n * n), *db = widen(1, b, batch * n * k);
  double *dx = scratch(2, batch * n * k);
  if (da && db && dx)
    exprc_rt_trsolve(site, lower, trans, batch, n, k, da, db, dx);
  narrow(site, da && db && dx, dx, x, batch * n * k);
}

void exprc_rt_lusolve_f32(long site, int trans, long batch, long n, long k,
                          const float *a, const float *b, float *x) {
  double *da = widen(0, a, batch * n * n), *db = widen(1, b, batch * n * k);
  double *dx = scratch(2, batch * n * k);
  if (da && db && dx)
    exprc_rt_lusolve(site, trans, batch, n, k, da, db, dx);
  narrow(site, da && db && dx, dx, x, batch * n * k);
}

void exprc_rt_det_f32(long site, int log_abs, long batch, long n,
                      const float *a, float *out) {
  double *da = widen(0, a, batch * n * n), *dout = scratch(1, batch);
  if (da && dout)
    exprc_rt_det(site, log_abs, batch, n, da, dout);
  narrow(site, da && dout, dout, out, batch);
}

/* The indices are whole numbers below n, exact in float up to 2^24 (the
 * compiler refuses longer axes in float32 models). */
void exprc_rt_argsort_f32(const float *x, long outer, long n, long inner,
                          float *out) {
  long all = outer * n * inner;
  double *dx = widen(0, x, all), *dout = scratch(1, all);
  if (dx && dout)
    exprc_rt_argsort(dx, outer, n, inner, dout);
  narrow(-1, dx && dout, dout, out, all);
}

