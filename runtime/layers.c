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
 * at once as fit in COL_MAX doubles; if it cannot be allocated, the direct
 * loops run instead (slower, same values up to the order of the sums).
 *
 * Random draws come from a generator that the API makes the calling
 * thread's for the duration of a model's run (the model's own, seeded), so
 * that models running on other threads do not share one sequence.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define COL_MAX (1L << 17) /* doubles in one column matrix: 1 MB, so that
                              it is still in cache when the product reads it */

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

/* ---- direct loops, written from the definition ---- */

/* kind 0: y = conv(x, w); 1: gx += gy (x) w; 2: gw += gy (x) x */
static void conv_direct(int kind, const Geom *g, const double *a,
                        const double *b, double *out) {
  long hw = g->h * g->w;
  for (long n = 0; n < g->n; n++)
    for (long o = 0; o < g->o; o++) {
      long c0 = o / g->og * g->cg;
      for (long i = 0; i < g->oh; i++)
        for (long j = 0; j < g->ow; j++) {
          long yi = (n * g->o + o) * g->ohw + i * g->ow + j;
          double s = 0, gv = kind == 0 ? 0 : kind == 1 ? a[yi] : b[yi];
          for (long c = 0; c < g->cg; c++)
            for (long ki = 0; ki < g->kh; ki++)
              for (long kj = 0; kj < g->kw; kj++) {
                long t = tap(g, i, j, ki, kj);
                if (t < 0)
                  continue;
                long xi = (n * g->c + c0 + c) * hw + t;
                long wi = ((o * g->cg + c) * g->kh + ki) * g->kw + kj;
                if (kind == 0)
                  s += a[xi] * b[wi];
                else if (kind == 1)
                  out[xi] += gv * b[wi];
                else
                  out[wi] += gv * a[xi];
              }
          if (kind == 0)
            out[yi] = s;
        }
    }
}

/* ---- im2col and matrix products ---- */

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

/* col[(c, ki, kj), (n - n0, i, j)] for samples n0 .. n0+nb-1 of group gi
 * (add = 0), or, the other way (add = 1), x[...] += col[...]: col2im. The
 * outputs whose taps fall in the padding are found per row (span), so the
 * inner loop has no test. */
static void im2col_dir(const Geom *g, double *x, long gi, long n0, long nb,
                       double *col, int add) {
  long cols = nb * g->ohw, hw = g->h * g->w;
  for (long c = 0; c < g->cg; c++)
    for (long ki = 0; ki < g->kh; ki++)
      for (long kj = 0; kj < g->kw; kj++) {
        double *row = col + ((c * g->kh + ki) * g->kw + kj) * cols;
        long ilo, ihi, jlo, jhi;
        span(g->oh, g->sh, g->ph, ki * g->dh, g->h, &ilo, &ihi);
        span(g->ow, g->sw, g->pw, kj * g->dw, g->w, &jlo, &jhi);
        for (long n = 0; n < nb; n++) {
          double *xc = x + ((n0 + n) * g->c + gi * g->cg + c) * hw;
          for (long i = 0; i < g->oh; i++, row += g->ow) {
            if (i < ilo || i >= ihi) {
              if (!add)
                memset(row, 0, (size_t)g->ow * sizeof *row);
              continue;
            }
            long at = (i * g->sh - g->ph + ki * g->dh) * g->w - g->pw +
                      kj * g->dw; /* x's index for j = 0, maybe outside */
            if (add) {
              for (long j = jlo; j < jhi; j++)
                xc[at + j * g->sw] += row[j];
              continue;
            }
            for (long j = 0; j < jlo; j++)
              row[j] = 0;
            for (long j = jlo; j < jhi; j++)
              row[j] = xc[at + j * g->sw];
            for (long j = jhi; j < g->ow; j++)
              row[j] = 0;
          }
        }
      }
}

static void im2col(const Geom *g, const double *x, long gi, long n0, long nb,
                   double *col) {
  im2col_dir(g, (double *)x, gi, n0, nb, col, 0);
}

static void col2im(const Geom *g, const double *col, long gi, long n0,
                   long nb, double *gx) {
  im2col_dir(g, gx, gi, n0, nb, (double *)col, 1);
}

/* Between y[n, gi*og + o, p] and m[o, (n - n0) * ohw + p]. */
static void gather_y(const Geom *g, const double *y, long gi, long n0,
                     long nb, double *m, int back) {
  for (long o = 0; o < g->og; o++)
    for (long n = 0; n < nb; n++) {
      double *mp = m + o * nb * g->ohw + n * g->ohw;
      double *yp = (double *)y + ((n0 + n) * g->o + gi * g->og + o) * g->ohw;
      if (back)
        memcpy(yp, mp, (size_t)g->ohw * sizeof *mp);
      else
        memcpy(mp, yp, (size_t)g->ohw * sizeof *mp);
    }
}

/* One chunk of samples, one group, by products. */
static void conv_chunk(int kind, const Geom *g, const double *a,
                       const double *b, double *out, long gi, long n0,
                       long nb, double *col, double *ym, double *wm) {
  long cols = nb * g->ohw, wsz = g->og * g->cg * g->kk;
  const double *wg = kind == 2 ? NULL : b + gi * wsz;
  if (kind == 0) {
    im2col(g, a, gi, n0, nb, col);
    exprc_rt_gemm_pooled(0, 0, g->og, cols, g->cg * g->kk, wg, col, ym);
    gather_y(g, out, gi, n0, nb, ym, 1);
  } else if (kind == 1) {
    gather_y(g, a, gi, n0, nb, ym, 0);
    exprc_rt_gemm_pooled(1, 0, g->cg * g->kk, cols, g->og, wg, ym, col);
    col2im(g, col, gi, n0, nb, out);
  } else {
    im2col(g, a, gi, n0, nb, col);
    gather_y(g, b, gi, n0, nb, ym, 0);
    exprc_rt_gemm_pooled(0, 1, g->og, g->cg * g->kk, cols, ym, col, wm);
    for (long k = 0; k < wsz; k++)
      out[gi * wsz + k] += wm[k];
  }
}

/* The gradients add into out: start it at zero. */
static void zero_out(int kind, const Geom *g, double *out) {
  if (kind == 1)
    memset(out, 0, (size_t)(g->n * g->c * g->h * g->w) * sizeof *out);
  else if (kind == 2)
    memset(out, 0, (size_t)(g->o * g->cg * g->kk) * sizeof *out);
}

/* Returns 0 when the scratch memory could not be had. */
static int conv_gemm(int kind, const Geom *g, const double *a,
                     const double *b, double *out) {
  long per = g->cg * g->kk * g->ohw; /* column doubles per sample */
  long nb = COL_MAX / (per > 0 ? per : 1);
  nb = nb < 1 ? 1 : nb > g->n ? g->n : nb;
  double *col = malloc((size_t)(per * nb) * sizeof *col);
  double *ym = malloc((size_t)(g->og * g->ohw * nb) * sizeof *ym);
  double *wm = malloc((size_t)(g->og * g->cg * g->kk) * sizeof *wm);
  int ok = col && ym && wm;
  if (ok)
    zero_out(kind, g, out);
  for (long n0 = 0; ok && n0 < g->n; n0 += nb)
    for (long gi = 0; gi < g->groups; gi++)
      conv_chunk(kind, g, a, b, out, gi, n0,
                 g->n - n0 < nb ? g->n - n0 : nb, col, ym, wm);
  free(col);
  free(ym);
  free(wm);
  return ok;
}

void exprc_rt_conv(int kind, const long *G, const double *a, const double *b,
                   double *out) {
  Geom g = geom(G);
  if (g.n > 0 && EXPRC_RT_CONV_BIG(g.og, g.n * g.ohw, g.cg * g.kk) &&
      conv_gemm(kind, &g, a, b, out))
    return;
  zero_out(kind, &g, out);
  conv_direct(kind, &g, a, b, out);
}

/* ---- pooling ---- */

/* The taps k of a window starting at `start` (window k0, dilation 1, as
 * every pool has) that fall inside [0, size): [*lo, *hi). */
static void taps(long start, long k0, long size, long *lo, long *hi) {
  *lo = start < 0 ? -start : 0;
  *hi = size - start < k0 ? size - start : k0;
  *hi = *hi < *lo ? *lo : *hi;
}

/* The index in plane x of the first maximum of window (i, j) (a NaN counts
 * as the maximum, as in PyTorch); -1 if the window is padding only, which
 * the compiler rules out. */
static long argmax(const Geom *g, const double *x, long i, long j) {
  long r0 = i * g->sh - g->ph, c0 = j * g->sw - g->pw, klo, khi, llo, lhi;
  taps(r0, g->kh, g->h, &klo, &khi);
  taps(c0, g->kw, g->w, &llo, &lhi);
  if (klo == khi || llo == lhi)
    return -1;
  long at = (r0 + klo) * g->w + c0 + llo;
  double best = x[at];
  for (long ki = klo; ki < khi; ki++) {
    long base = (r0 + ki) * g->w + c0;
    for (long kj = llo; kj < lhi; kj++) {
      double v = x[base + kj];
      /* selected by masks, not branches: which element wins is data, and
       * a mispredicted branch per element costs more than the rest */
      uint64_t take = -(uint64_t)((v > best) | ((v != v) & (best == best)));
      uint64_t vb, bb;
      memcpy(&vb, &v, sizeof vb);
      memcpy(&bb, &best, sizeof bb);
      bb = (vb & take) | (bb & ~take);
      memcpy(&best, &bb, sizeof bb);
      at = (long)(((uint64_t)(base + kj) & take) | ((uint64_t)at & ~take));
    }
  }
  return at;
}

/* out = the maximum of each window: the value at argmax, without the
 * index (a NaN anywhere in the window makes it NaN, as argmax picks it). */
static void pool_max(const Geom *g, const double *x, double *out) {
  long hw = g->h * g->w;
  for (long p = 0; p < g->n * g->c; p++, x += hw)
    for (long i = 0; i < g->oh; i++)
      for (long j = 0; j < g->ow; j++) {
        long r0 = i * g->sh - g->ph, c0 = j * g->sw - g->pw, klo, khi, llo, lhi;
        taps(r0, g->kh, g->h, &klo, &khi);
        taps(c0, g->kw, g->w, &llo, &lhi);
        double best = -INFINITY;
        int nan = 0;
        for (long ki = klo; ki < khi; ki++)
          for (long kj = llo; kj < lhi; kj++) {
            double v = x[(r0 + ki) * g->w + c0 + kj];
            best = v > best ? v : best;
            nan |= v != v;
          }
        *out++ = nan ? NAN : best;
      }
}

void exprc_rt_pool(int kind, const long *G, const double *x, const double *h,
                   double *out) {
  Geom g = geom(G);
  long hw = g.h * g.w, planes = g.n * g.c;
  if (kind == 1)
    memset(out, 0, (size_t)(planes * hw) * sizeof *out);
  if (kind == 0 && x == h) { /* max pooling itself: the maximum suffices */
    pool_max(&g, x, out);
    return;
  }
  for (long p = 0; p < planes; p++)
    for (long i = 0; i < g.oh; i++)
      for (long j = 0; j < g.ow; j++) {
        long t = argmax(&g, x + p * hw, i, j), yi = p * g.ohw + i * g.ow + j;
        if (kind == 0)
          out[yi] = t < 0 ? -INFINITY : h[p * hw + t];
        else if (t >= 0)
          out[p * hw + t] += h[yi];
      }
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
