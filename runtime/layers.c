/* layers.c: the run-time kernels of convolutions, pooling and random draws.
 *
 * Convolutions follow PyTorch's definition (cross-correlation, zero
 * padding, dilation, groups; runtime.h lists the sizes in G). A large one
 * is lowered to matrix products (im2col): the input windows of a group are
 * laid out as the columns of a matrix, so that the forward pass is
 * w_g @ col, the weight gradient gy_g @ col^T and the input gradient
 * w_g^T @ gy_g scattered back (col2im); the products go to the model's
 * gemm, which splits them over its threads and uses OpenBLAS. A small one,
 * where building the matrix costs more than the product saves, runs as the
 * direct loops of the definition. The column matrix covers as many samples
 * at once as fit in COL_BYTES; if it cannot be allocated, the direct loops
 * run instead (slower, same values up to the order of the sums). The
 * kernels of convolutions and pooling are written once (layers_real.h) and
 * compiled for double and for float: a float32 model's convolutions build
 * float columns and multiply them by sgemm, their direct loops and
 * pooling's gradient add in double, rounded once.
 *
 * Random draws come from a generator that the API makes the calling
 * thread's for the duration of a model's run (the model's own, seeded), so
 * that models running on other threads do not share one sequence.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define COL_BYTES (1L << 20) /* one column matrix: 1 MB, so that it is
                                still in cache when the product reads it */

typedef struct Geom {
  long n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups;
  long cg, og, kk, ohw; /* per group: channels in, out; window; outputs */
} Geom;

static Geom geom(const long *G) {
  Geom g = {G[0], G[1], G[2], G[3], G[4], G[5], G[6], G[7], G[8], G[9],
            G[10], G[11], G[12], G[13], G[14], G[15], 0, 0, 0, 0};
  g.cg = g.c / g.groups;
  g.og = g.o / g.groups;
  g.kk = g.kh * g.kw;
  g.ohw = g.oh * g.ow;
  return g;
}

/* The input position read by output (i, j) at kernel tap (ki, kj), or -1
 * when it falls in the padding. */
static long tap(const Geom *g, long i, long j, long ki, long kj) {
  long ih = i * g->sh - g->ph + ki * g->dh, iw = j * g->sw - g->pw + kj * g->dw;
  if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w)
    return -1;
  return ih * g->w + iw;
}

/* The outputs j (0 <= j < nout) whose tap at offset off (k * dilation)
 * lands inside [0, size): j * stride - pad + off in range, as [*lo, *hi). */
static void span(long nout, long stride, long pad, long off, long size,
                 long *lo, long *hi) {
  long a = pad - off, b = size - 1 + pad - off;
  *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  *hi = b < 0 ? 0 : b / stride + 1;
  *hi = *hi > nout ? nout : *hi;
  *lo = *lo > *hi ? *hi : *lo;
}

/* The taps k of a window starting at `start` (window k0, dilation 1, as
 * every pool has) that fall inside [0, size): [*lo, *hi). */
static void taps(long start, long k0, long size, long *lo, long *hi) {
  *lo = start < 0 ? -start : 0;
  *hi = size - start < k0 ? size - start : k0;
  *hi = *hi < *lo ? *lo : *hi;
}

/* The kernels for double, then for float (layers_real.h); UREAL is the
 * unsigned integer of REAL's size, for pooling's masks. */
#define REAL double
#define UREAL uint64_t
#define SFX(f) f
#include "layers_real.h"
#undef REAL
#undef UREAL
#undef SFX
#define REAL float
#define UREAL uint32_t
#define SFX(f) f##_f32
#include "layers_real.h"
#undef REAL
#undef UREAL
#undef SFX

void exprc_rt_conv(int kind, const long *G, const double *a, const double *b,
                   double *out) {
  Geom g = geom(G);
  if (g.n > 0 && EXPRC_RT_CONV_BIG(g.og, g.n * g.ohw, g.cg * g.kk) &&
      conv_gemm(kind, &g, a, b, out))
    return;
  zero_out(kind, &g, out);
  conv_direct(kind, &g, a, b, out);
}

/* The elements of kind's result. */
static long conv_size(int kind, const Geom *g) {
  return kind == 0   ? g->n * g->o * g->ohw
         : kind == 1 ? g->n * g->c * g->h * g->w
                     : g->o * g->cg * g->kk;
}

/* The same choice in float: the product path on floats and sgemm; the
 * direct loops into a double accumulator (thread-kept memory, f32.c),
 * rounded once. Out of memory for it is the run-time error
 * EXPRC_RTE_NOMEM (site -1) with NaN results, never a wrong value. */
void exprc_rt_conv_f32(int kind, const long *G, const float *a,
                       const float *b, float *out) {
  Geom g = geom(G);
  if (g.n > 0 && EXPRC_RT_CONV_BIG(g.og, g.n * g.ohw, g.cg * g.kk) &&
      conv_gemm_f32(kind, &g, a, b, out))
    return;
  long n = conv_size(kind, &g);
  double *acc = exprc_rt_f32_scratch(0, n);
  if (!acc)
    exprc_rt_fail(-1, EXPRC_RTE_NOMEM, 0, 0);
  else {
    zero_out(kind, &g, acc);
    conv_direct_f32(kind, &g, a, b, acc);
  }
  for (long i = 0; i < n; i++)
    out[i] = acc ? (float)acc[i] : NAN;
}

/* ---- pooling (the loops: layers_real.h) ---- */

void exprc_rt_pool(int kind, const long *G, const double *x, const double *h,
                   double *out) {
  Geom g = geom(G);
  if (kind == 1)
    memset(out, 0, (size_t)(g.n * g.c * g.h * g.w) * sizeof *out);
  if (kind == 0 && x == h) /* max pooling itself: the maximum suffices */
    pool_max(&g, x, out);
  else if (kind == 0)
    pool_pick(&g, x, h, out);
  else
    pool_put(&g, x, h, out);
}

/* The same in float: kind 0 selects floats (exact); kind 1 sums in double
 * (windows may overlap), in thread-kept memory (f32.c), rounded once; out
 * of memory for it is EXPRC_RTE_NOMEM (site -1) with NaN results. */
void exprc_rt_pool_f32(int kind, const long *G, const float *x,
                       const float *h, float *out) {
  Geom g = geom(G);
  if (kind == 0) {
    if (x == h)
      pool_max_f32(&g, x, out);
    else
      pool_pick_f32(&g, x, h, out);
    return;
  }
  long n = g.n * g.c * g.h * g.w;
  double *acc = exprc_rt_f32_scratch(0, n);
  if (!acc)
    exprc_rt_fail(-1, EXPRC_RTE_NOMEM, 0, 0);
  else {
    memset(acc, 0, (size_t)n * sizeof *acc);
    pool_put_f32(&g, x, h, acc);
  }
  for (long i = 0; i < n; i++)
    out[i] = acc ? (float)acc[i] : NAN;
}

/* ---- random draws ---- */

static _Thread_local exprc_rng *my_rng;
static _Thread_local exprc_rng fallback;
static _Thread_local int fallback_seeded;

exprc_rng *exprc_rt_use_rng(exprc_rng *r) {
  exprc_rng *was = my_rng;
  my_rng = r;
  return was;
}

static exprc_rng *rng_now(void) {
  if (my_rng)
    return my_rng;
  if (!fallback_seeded)
    exprc_rng_seed(&fallback, 0), fallback_seeded = 1;
  return &fallback;
}

void exprc_rt_random(int kind, long n, double *out) {
  exprc_rng *r = rng_now();
  for (long i = 0; i < n; i++)
    out[i] = kind == 0 ? exprc_rng_normal(r) : exprc_rng_uniform(r);
}

/* The same draws as exprc_rt_random, rounded to float: a float32 model
 * draws what a float64 one does, to float's precision. A uniform draw just
 * below 1 would round to 1.0f: it is kept below 1, as [0, 1) promises. */
void exprc_rt_random_f32(int kind, long n, float *out) {
  exprc_rng *r = rng_now();
  for (long i = 0; i < n; i++) {
    float v = (float)(kind == 0 ? exprc_rng_normal(r) : exprc_rng_uniform(r));
    out[i] = kind == 1 && v >= 1.0f ? 0x1.fffffep-1f : v;
  }
}
