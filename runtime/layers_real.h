/* layers_real.h: the convolution and pooling kernels of layers.c, written
 * once for both element types. layers.c includes it twice: with REAL
 * double and SFX(f) f (exprc_rt_conv's and exprc_rt_pool's kernels,
 * float64 models) and with REAL float and SFX(f) f##_f32 (the _f32 ones,
 * float32 models), so that a float32 convolution builds its column matrix
 * of floats and multiplies it by sgemm (exprc_rt_gemm_pooled_f32), as
 * PyTorch does, rather than widening every operand to double, and neither
 * type has a copy of the other's loops to drift from. It relies on
 * layers.c's Geom, tap, span, taps and COL_BYTES, and on UREAL, the
 * unsigned integer of REAL's size.
 *
 * Where a kernel adds terms outside a matrix product (a small
 * convolution's direct loops, the scatter of pooling's gradient) it adds
 * them in double whatever REAL is (acc is double): a float32 model's
 * result there is its double one rounded once, as the widening wrappers
 * made it before. The product path keeps REAL: its products accumulate as
 * the type's gemm does (dgemm or sgemm). Pooling's forward pass only
 * selects values, exact in either type.
 */

/* ---- direct loops, written from the definition ---- */

/* kind 0: y = conv(x, w); 1: gx += gy (x) w; 2: gw += gy (x) x, into acc,
 * which holds the kind's result in double. */
static void SFX(conv_direct)(int kind, const Geom *g, const REAL *a,
                             const REAL *b, double *acc) {
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
                  s += (double)a[xi] * b[wi];
                else if (kind == 1)
                  acc[xi] += gv * b[wi];
                else
                  acc[wi] += gv * a[xi];
              }
          if (kind == 0)
            acc[yi] = s;
        }
    }
}

/* ---- im2col and matrix products ---- */

/* col[(c, ki, kj), (n - n0, i, j)] for samples n0 .. n0+nb-1 of group gi
 * (add = 0), or, the other way (add = 1), x[...] += col[...]: col2im. The
 * outputs whose taps fall in the padding are found per row (span), so the
 * inner loop has no test. */
static void SFX(im2col_dir)(const Geom *g, REAL *x, long gi, long n0,
                            long nb, REAL *col, int add) {
  long cols = nb * g->ohw, hw = g->h * g->w;
  for (long c = 0; c < g->cg; c++)
    for (long ki = 0; ki < g->kh; ki++)
      for (long kj = 0; kj < g->kw; kj++) {
        REAL *row = col + ((c * g->kh + ki) * g->kw + kj) * cols;
        long ilo, ihi, jlo, jhi;
        span(g->oh, g->sh, g->ph, ki * g->dh, g->h, &ilo, &ihi);
        span(g->ow, g->sw, g->pw, kj * g->dw, g->w, &jlo, &jhi);
        for (long n = 0; n < nb; n++) {
          REAL *xc = x + ((n0 + n) * g->c + gi * g->cg + c) * hw;
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

static void SFX(im2col)(const Geom *g, const REAL *x, long gi, long n0,
                        long nb, REAL *col) {
  SFX(im2col_dir)(g, (REAL *)x, gi, n0, nb, col, 0);
}

static void SFX(col2im)(const Geom *g, const REAL *col, long gi, long n0,
                        long nb, REAL *gx) {
  SFX(im2col_dir)(g, gx, gi, n0, nb, (REAL *)col, 1);
}

/* Between y[n, gi*og + o, p] and m[o, (n - n0) * ohw + p]. */
static void SFX(gather_y)(const Geom *g, const REAL *y, long gi, long n0,
                          long nb, REAL *m, int back) {
  for (long o = 0; o < g->og; o++)
    for (long n = 0; n < nb; n++) {
      REAL *mp = m + o * nb * g->ohw + n * g->ohw;
      REAL *yp = (REAL *)y + ((n0 + n) * g->o + gi * g->og + o) * g->ohw;
      if (back)
        memcpy(yp, mp, (size_t)g->ohw * sizeof *mp);
      else
        memcpy(mp, yp, (size_t)g->ohw * sizeof *mp);
    }
}

/* One chunk of samples, one group, by products. */
static void SFX(conv_chunk)(int kind, const Geom *g, const REAL *a,
                            const REAL *b, REAL *out, long gi, long n0,
                            long nb, REAL *col, REAL *ym, REAL *wm) {
  long cols = nb * g->ohw, wsz = g->og * g->cg * g->kk;
  const REAL *wg = kind == 2 ? NULL : b + gi * wsz;
  if (kind == 0) {
    SFX(im2col)(g, a, gi, n0, nb, col);
    SFX(exprc_rt_gemm_pooled)(0, 0, g->og, cols, g->cg * g->kk, wg, col, ym);
    SFX(gather_y)(g, out, gi, n0, nb, ym, 1);
  } else if (kind == 1) {
    SFX(gather_y)(g, a, gi, n0, nb, ym, 0);
    SFX(exprc_rt_gemm_pooled)(1, 0, g->cg * g->kk, cols, g->og, wg, ym, col);
    SFX(col2im)(g, col, gi, n0, nb, out);
  } else {
    SFX(im2col)(g, a, gi, n0, nb, col);
    SFX(gather_y)(g, b, gi, n0, nb, ym, 0);
    SFX(exprc_rt_gemm_pooled)(0, 1, g->og, g->cg * g->kk, cols, ym, col, wm);
    for (long k = 0; k < wsz; k++)
      out[gi * wsz + k] += wm[k];
  }
}

/* The gradients add into out: start it at zero. */
static void SFX(zero_out)(int kind, const Geom *g, REAL *out) {
  if (kind == 1)
    memset(out, 0, (size_t)(g->n * g->c * g->h * g->w) * sizeof *out);
  else if (kind == 2)
    memset(out, 0, (size_t)(g->o * g->cg * g->kk) * sizeof *out);
}

/* Returns 0 when the scratch memory could not be had. The column matrix
 * covers as many samples as fit in COL_BYTES. */
static int SFX(conv_gemm)(int kind, const Geom *g, const REAL *a,
                          const REAL *b, REAL *out) {
  long per = g->cg * g->kk * g->ohw; /* column elements per sample */
  long nb = COL_BYTES / (long)sizeof(REAL) / (per > 0 ? per : 1);
  nb = nb < 1 ? 1 : nb > g->n ? g->n : nb;
  REAL *col = malloc((size_t)(per * nb) * sizeof *col);
  REAL *ym = malloc((size_t)(g->og * g->ohw * nb) * sizeof *ym);
  REAL *wm = malloc((size_t)(g->og * g->cg * g->kk) * sizeof *wm);
  int ok = col && ym && wm;
  if (ok)
    SFX(zero_out)(kind, g, out);
  for (long n0 = 0; ok && n0 < g->n; n0 += nb)
    for (long gi = 0; gi < g->groups; gi++)
      SFX(conv_chunk)(kind, g, a, b, out, gi, n0,
                      g->n - n0 < nb ? g->n - n0 : nb, col, ym, wm);
  free(col);
  free(ym);
  free(wm);
  return ok;
}

/* ---- pooling ---- */

/* The index in plane x of the first maximum of window (i, j) (a NaN counts
 * as the maximum, as in PyTorch); -1 if the window is padding only, which
 * the compiler rules out. Inline: called once a window, from two loops. */
static inline long SFX(argmax)(const Geom *g, const REAL *x, long i,
                               long j) {
  long r0 = i * g->sh - g->ph, c0 = j * g->sw - g->pw, klo, khi, llo, lhi;
  taps(r0, g->kh, g->h, &klo, &khi);
  taps(c0, g->kw, g->w, &llo, &lhi);
  if (klo == khi || llo == lhi)
    return -1;
  long at = (r0 + klo) * g->w + c0 + llo;
  REAL best = x[at];
  for (long ki = klo; ki < khi; ki++) {
    long base = (r0 + ki) * g->w + c0;
    for (long kj = llo; kj < lhi; kj++) {
      REAL v = x[base + kj];
      /* selected by masks, not branches: which element wins is data, and
       * a mispredicted branch per element costs more than the rest */
      uint64_t take = -(uint64_t)((v > best) | ((v != v) & (best == best)));
      UREAL vb, bb;
      memcpy(&vb, &v, sizeof vb);
      memcpy(&bb, &best, sizeof bb);
      bb = (vb & (UREAL)take) | (bb & (UREAL)~take);
      memcpy(&best, &bb, sizeof bb);
      at = (long)(((uint64_t)(base + kj) & take) | ((uint64_t)at & ~take));
    }
  }
  return at;
}

/* out = the maximum of each window: the value at argmax, without the
 * index (a NaN anywhere in the window makes it NaN, as argmax picks it). */
static void SFX(pool_max)(const Geom *g, const REAL *x, REAL *out) {
  long hw = g->h * g->w;
  for (long p = 0; p < g->n * g->c; p++, x += hw)
    for (long i = 0; i < g->oh; i++)
      for (long j = 0; j < g->ow; j++) {
        long r0 = i * g->sh - g->ph, c0 = j * g->sw - g->pw, klo, khi, llo, lhi;
        taps(r0, g->kh, g->h, &klo, &khi);
        taps(c0, g->kw, g->w, &llo, &lhi);
        REAL best = -INFINITY;
        int nan = 0;
        for (long ki = klo; ki < khi; ki++)
          for (long kj = llo; kj < lhi; kj++) {
            REAL v = x[(r0 + ki) * g->w + c0 + kj];
            best = v > best ? v : best;
            nan |= v != v;
          }
        *out++ = nan ? NAN : best;
      }
}

/* kind 0 with h other than x: out[N,C,OH,OW] = h at the maxima. */
static void SFX(pool_pick)(const Geom *g, const REAL *x, const REAL *h,
                           REAL *out) {
  long hw = g->h * g->w;
  for (long p = 0; p < g->n * g->c; p++)
    for (long i = 0; i < g->oh; i++)
      for (long j = 0; j < g->ow; j++) {
        long t = SFX(argmax)(g, x + p * hw, i, j);
        out[p * g->ohw + i * g->ow + j] = t < 0 ? -INFINITY : h[p * hw + t];
      }
}

/* kind 1: h added at the maxima into acc[N,C,H,W], which the caller
 * zeroed; acc holds the sums in double, whatever REAL is. */
static void SFX(pool_put)(const Geom *g, const REAL *x, const REAL *h,
                          double *acc) {
  long hw = g->h * g->w;
  for (long p = 0; p < g->n * g->c; p++)
    for (long i = 0; i < g->oh; i++)
      for (long j = 0; j < g->ow; j++) {
        long t = SFX(argmax)(g, x + p * hw, i, j);
        if (t >= 0)
          acc[p * hw + t] += h[p * g->ohw + i * g->ow + j];
      }
}
