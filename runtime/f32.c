/* f32.c: the run-time kernels of float32 models (exprc_options.dtype =
 * EXPRC_FLOAT32) that have no float version of their own.
 *
 * The matrix product has one (OpenBLAS's sgemm, kernels.c and parallel.c):
 * it is where a model's time goes. The factorisations, solves,
 * determinants, convolutions, pooling and argsort are not worth writing
 * twice: each wrapper here widens its float operands to double, calls the
 * double kernel, and rounds its results to float once. That is exact
 * (every float is a double) and at least as accurate as a float kernel
 * would be, costs a copy of the operands (small beside an O(n^3)
 * factorisation or a convolution's products), and keeps one definition of
 * each kernel's numerics, errors included. Convolutions thus run their
 * products in double (dgemm), at double's speed: the float32 CNN row of
 * bench/ measures that choice.
 *
 * Out of memory for the copies is the run-time error EXPRC_RTE_NOMEM at the
 * kernel's site (or site -1 for kernels that take none), and the results
 * are NaN: never an unreported wrong value.
 */
#include "runtime.h"

#include <math.h>
#include <stdlib.h>

/* A double copy of n floats (n may be 0); NULL when memory ran out.
 * (calloc: gcc -O3 cannot see that the copy is complete when n > 0.) */
static double *widen(const float *x, long n) {
  double *d = calloc((size_t)(n > 0 ? n : 1), sizeof *d);
  for (long i = 0; d && i < n; i++)
    d[i] = x[i];
  return d;
}

static double *scratch(long n) {
  return malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
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
  double *da = widen(a, nn), *dl = scratch(nn);
  if (da && dl)
    exprc_rt_chol(site, batch, n, da, dl);
  narrow(site, da && dl, dl, l, nn);
  free(da), free(dl);
}

void exprc_rt_trsolve_f32(long site, int lower, int trans, long batch,
                          long n, long k, const float *a, const float *b,
                          float *x) {
  double *da = widen(a, batch * n * n), *db = widen(b, batch * n * k);
  double *dx = scratch(batch * n * k);
  if (da && db && dx)
    exprc_rt_trsolve(site, lower, trans, batch, n, k, da, db, dx);
  narrow(site, da && db && dx, dx, x, batch * n * k);
  free(da), free(db), free(dx);
}

void exprc_rt_lusolve_f32(long site, int trans, long batch, long n, long k,
                          const float *a, const float *b, float *x) {
  double *da = widen(a, batch * n * n), *db = widen(b, batch * n * k);
  double *dx = scratch(batch * n * k);
  if (da && db && dx)
    exprc_rt_lusolve(site, trans, batch, n, k, da, db, dx);
  narrow(site, da && db && dx, dx, x, batch * n * k);
  free(da), free(db), free(dx);
}

void exprc_rt_det_f32(long site, int log_abs, long batch, long n,
                      const float *a, float *out) {
  double *da = widen(a, batch * n * n), *dout = scratch(batch);
  if (da && dout)
    exprc_rt_det(site, log_abs, batch, n, da, dout);
  narrow(site, da && dout, dout, out, batch);
  free(da), free(dout);
}

/* The indices are whole numbers below n, exact in float up to 2^24 (the
 * compiler refuses longer axes in float32 models). */
void exprc_rt_argsort_f32(const float *x, long outer, long n, long inner,
                          float *out) {
  long all = outer * n * inner;
  double *dx = widen(x, all), *dout = scratch(all);
  if (dx && dout)
    exprc_rt_argsort(dx, outer, n, inner, dout);
  narrow(-1, dx && dout, dout, out, all);
  free(dx), free(dout);
}

/* G as runtime.h describes it: N C H W O KH KW OH OW ... groups. */
enum { GN, GC, GH, GW, GO, GKH, GKW, GOH, GOW, GGROUPS = 15 };

void exprc_rt_conv_f32(int kind, const long *G, const float *a,
                       const float *b, float *out) {
  long x = G[GN] * G[GC] * G[GH] * G[GW], y = G[GN] * G[GO] * G[GOH] * G[GOW];
  long w = G[GO] * (G[GC] / G[GGROUPS]) * G[GKH] * G[GKW];
  long na = kind == 1 ? y : x, nb = kind == 2 ? y : w;
  long nout = kind == 0 ? y : kind == 1 ? x : w;
  double *da = widen(a, na), *db = widen(b, nb), *dout = scratch(nout);
  if (da && db && dout)
    exprc_rt_conv(kind, G, da, db, dout);
  narrow(-1, da && db && dout, dout, out, nout);
  free(da), free(db), free(dout);
}

/* Max pooling itself passes x as h: so does its copy, which the kernel
 * recognises. */
void exprc_rt_pool_f32(int kind, const long *G, const float *x,
                       const float *h, float *out) {
  long in = G[GN] * G[GC] * G[GH] * G[GW], pooled = G[GN] * G[GC] * G[GOH] * G[GOW];
  long nh = kind == 0 ? in : pooled, nout = kind == 0 ? pooled : in;
  double *dx = widen(x, in), *dh = h == x ? dx : widen(h, nh);
  double *dout = scratch(nout);
  if (dx && dh && dout)
    exprc_rt_pool(kind, G, dx, dh, dout);
  narrow(-1, dx && dh && dout, dout, out, nout);
  if (dh != dx)
    free(dh);
  free(dx), free(dout);
}
