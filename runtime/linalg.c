/* linalg.c: the run-time kernels of linear algebra: Cholesky factors,
 * triangular and general solves, determinants.
 *
 * Every kernel takes `batch` matrices laid end to end (row-major, as all of
 * exprc's tensors) and handles each in turn. Small matrices use the loops
 * here, where a LAPACK call costs more than the work; from LAPACK_MIN rows
 * on, OpenBLAS's LAPACK does the factorisation (when exprc was built with
 * it and the library can be loaded: kernels.c loads it on first need).
 * Both paths agree to rounding, and the tests run both.
 *
 * LAPACK is column-major: a row-major matrix read as column-major is its
 * transpose. The kernels copy into column-major scratch where that matters
 * (solves) and use the symmetry where it does not (Cholesky).
 *
 * What the data can break (a matrix that is not positive definite, a
 * singular one) is reported with exprc_rt_fail at the node's site; the
 * result is then filled with NaN, so nothing downstream reads garbage
 * silently, and the entry point returns the error.
 */
#include "runtime.h"
#include "lapack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LAPACK_MIN 64

/* LAPACK from the loaded OpenBLAS, single-threaded; NULL: the loops. */
static const exprc_rt_lapack *lapack(void) {
#ifdef EXPRC_HAVE_CBLAS
  exprc_rt_blas_once();
  return exprc_rt_lapack_get();
#else
  return NULL;
#endif
}

static void fill_nan(double *x, long n) {
  for (long i = 0; i < n; i++)
    x[i] = NAN;
}

/* ---- Cholesky: A = L L^T, L lower ---- */

/* The symmetric part of a at (i, j): what cholesky factors, so that its
 * derivative is the symmetric matrix for every perturbation of a (for a
 * symmetric a it is a itself, bit for bit: x + x and the halving are exact). */
static double sym(long n, const double *a, long i, long j) {
  return (a[i * n + j] + a[j * n + i]) / 2;
}

/* Row by row (Cholesky-Banachiewicz). Returns 0, or the 1-based pivot that
 * is not positive (its value in *bad). */
static long chol_loops(long n, const double *a, double *l, double *bad) {
  for (long i = 0; i < n; i++)
    for (long j = 0; j <= i; j++) {
      double s = sym(n, a, i, j);
      for (long k = 0; k < j; k++)
        s -= l[i * n + k] * l[j * n + k];
      if (i > j) {
        l[i * n + j] = s / l[j * n + j];
      } else if (!(s > 0)) {
        *bad = s;
        return i + 1;
      } else {
        l[i * n + i] = sqrt(s);
      }
    }
  return 0;
}

static long chol_one(long n, const double *a, double *l, double *bad) {
  memset(l, 0, (size_t)(n * n) * sizeof *l);
#ifdef EXPRC_HAVE_CBLAS
  const exprc_rt_lapack *lp = n >= LAPACK_MIN && n <= 46340 ? lapack() : NULL;
  if (lp && lp->dpotrf) { /* n * n fits LAPACK's int */
    /* the row-major lower triangle is the column-major upper one: dpotrf
     * with "U" reads and writes exactly it */
    for (long i = 0; i < n; i++)
      for (long j = 0; j <= i; j++)
        l[i * n + j] = sym(n, a, i, j);
    int nn = (int)n, info = 0;
    lp->dpotrf("U", &nn, l, &nn, &info);
    if (info > 0)
      *bad = l[(info - 1) * n + (info - 1)];
    return info > 0 ? info : 0;
  }
#endif
  return chol_loops(n, a, l, bad);
}

void exprc_rt_chol(long site, long batch, long n, const double *a,
                   double *l) {
  for (long b = 0; b < batch; b++) {
    double bad = 0;
    long k = chol_one(n, a + b * n * n, l + b * n * n, &bad);
    if (k) {
      exprc_rt_fail(site, EXPRC_RTE_NOT_PD, (double)k, bad);
      fill_nan(l + b * n * n, n * n);
    }
  }
}

/* ---- triangular solves: op(A) X = B ---- */

/* One column c of B (k columns, row-major), by substitution. Returns 0, or
 * the 1-based row whose diagonal is zero. Solving with op(A) = A^T walks A
 * by columns instead of rows. */
static long tri_column(int lower, int trans, long n, long k, long c,
                       const double *a, const double *b, double *x) {
  int forward = lower != trans; /* L x = b and U^T x = b go top down */
  for (long s = 0; s < n; s++) {
    long i = forward ? s : n - 1 - s;
    double v = b[i * k + c];
    for (long t = 0; t < s; t++) {
      long j = forward ? t : n - 1 - t;
      v -= (trans ? a[j * n + i] : a[i * n + j]) * x[j * k + c];
    }
    if (a[i * n + i] == 0)
      return i + 1;
    x[i * k + c] = v / a[i * n + i];
  }
  return 0;
}

/* Large ones by BLAS's dtrsm, on x = b in place, once the diagonal is
 * known to have no zero. Returns 0 when it did not apply. */
static int tri_blas(int lower, int trans, long n, long k, const double *a,
                    const double *b, double *x, long *bad) {
#ifdef EXPRC_HAVE_CBLAS
  const exprc_rt_lapack *lp =
      n >= LAPACK_MIN && n <= 46340 && k <= 46340 ? lapack() : NULL;
  if (lp && lp->dtrsm) {
    for (long i = 0; i < n && !*bad; i++)
      *bad = a[i * n + i] == 0 ? i + 1 : 0;
    if (*bad)
      return 1;
    if (x != b)
      memmove(x, b, (size_t)(n * k) * sizeof *x);
    lp->dtrsm(CblasRowMajor, CblasLeft, lower ? CblasLower : CblasUpper,
                trans ? CblasTrans : CblasNoTrans, CblasNonUnit, (int)n,
                (int)k, 1.0, a, (int)n, x, (int)k);
    return 1;
  }
#endif
  (void)lower, (void)trans, (void)n, (void)k, (void)a, (void)b, (void)x;
  (void)bad;
  return 0;
}

void exprc_rt_trsolve(long site, int lower, int trans, long batch, long n,
                      long k, const double *a, const double *b, double *x) {
  for (long m = 0; m < batch; m++) {
    const double *am = a + m * n * n, *bm = b + m * n * k;
    double *xm = x + m * n * k;
    long bad = 0;
    if (!tri_blas(lower, trans, n, k, am, bm, xm, &bad))
      for (long c = 0; c < k && !bad; c++)
        bad = tri_column(lower, trans, n, k, c, am, bm, xm);
    if (bad) {
      exprc_rt_fail(site, EXPRC_RTE_SINGULAR, (double)bad, 0);
      fill_nan(xm, n * k);
    }
  }
}

/* ---- LU: general solves and determinants ---- */

/* Factor the column-major f (n x n) in place with partial pivoting, as
 * LAPACK's dgetrf does: row swaps in piv (0-based). Returns 0, or the
 * 1-based column with no nonzero pivot. */
static long lu_loops(long n, double *f, long *piv) {
  long bad = 0;
  for (long j = 0; j < n; j++) {
    long p = j;
    for (long i = j + 1; i < n; i++)
      if (fabs(f[j * n + i]) > fabs(f[j * n + p]))
        p = i;
    piv[j] = p;
    if (f[j * n + p] == 0) {
      bad = bad ? bad : j + 1;
      continue;
    }
    if (p != j)
      for (long c = 0; c < n; c++) {
        double t = f[c * n + j];
        f[c * n + j] = f[c * n + p];
        f[c * n + p] = t;
      }
    for (long i = j + 1; i < n; i++)
      f[j * n + i] /= f[j * n + j];
    for (long c = j + 1; c < n; c++)
      for (long i = j + 1; i < n; i++)
        f[c * n + i] -= f[j * n + i] * f[c * n + j];
  }
  return bad;
}

static long lu(long n, double *f, long *piv) {
#ifdef EXPRC_HAVE_CBLAS
  const exprc_rt_lapack *lp = n >= LAPACK_MIN && n <= 46340 ? lapack() : NULL;
  if (lp && lp->dgetrf) {
    int nn = (int)n, info = 0, *ip = malloc((size_t)n * sizeof *ip);
    if (ip) {
      lp->dgetrf(&nn, &nn, f, &nn, ip, &info);
      for (long i = 0; i < n; i++)
        piv[i] = ip[i] - 1;
      free(ip);
      return info > 0 ? info : 0;
    }
  }
#endif
  return lu_loops(n, f, piv);
}

/* Solve with the factors of f: x (column-major, k columns) in place. */
static void lu_apply(long n, long k, const double *f, const long *piv,
                     double *x) {
  for (long c = 0; c < k; c++) {
    double *v = x + c * n;
    for (long j = 0; j < n; j++) {
      double t = v[j];
      v[j] = v[piv[j]];
      v[piv[j]] = t;
    }
    for (long j = 0; j < n; j++) /* L, unit diagonal */
      for (long i = j + 1; i < n; i++)
        v[i] -= f[j * n + i] * v[j];
    for (long j = n; j-- > 0;) { /* U */
      v[j] /= f[j * n + j];
      for (long i = 0; i < j; i++)
        v[i] -= f[j * n + i] * v[j];
    }
  }
}

/* Scratch for one matrix: its column-major factors, the right-hand sides
 * and the pivots; NULL after reporting when memory runs out. */
static double *scratch(long site, long n, long k, long **piv) {
  double *f = malloc((size_t)(n * n + n * k) * sizeof *f);
  *piv = malloc((size_t)(n ? n : 1) * sizeof **piv);
  if (!f || !*piv) {
    free(f);
    free(*piv);
    exprc_rt_fail(site, EXPRC_RTE_NOMEM, 0, 0);
    return NULL;
  }
  return f;
}

/* The factors and the solve by LAPACK (dgetrf, dgetrs) for a large f,
 * column-major, with xc the right sides: 0, or the 1-based singular
 * column, or -1 where LAPACK does not apply. */
static long lapack_solve(long n, long k, double *f, double *xc) {
#ifdef EXPRC_HAVE_CBLAS
  const exprc_rt_lapack *lp =
      n >= LAPACK_MIN && n <= 46340 && k <= 46340 ? lapack() : NULL;
  if (lp && lp->dgetrf && lp->dgetrs) {
    int nn = (int)n, kk = (int)k, info = 0, *ip = malloc((size_t)n * sizeof *ip);
    if (!ip)
      return -1;
    lp->dgetrf(&nn, &nn, f, &nn, ip, &info);
    if (info == 0 && kk > 0)
      lp->dgetrs("N", &nn, &kk, f, &nn, ip, xc, &nn, &info);
    free(ip);
    return info > 0 ? info : 0;
  }
#endif
  (void)n, (void)k, (void)f, (void)xc;
  return -1;
}

/* One solve of op(A) X = B: f = op(A) column-major, then the factors. */
static void solve_one(long site, int trans, long n, long k, const double *a,
                      const double *b, double *x, double *f, long *piv) {
  double *xc = f + n * n;
  for (long i = 0; i < n; i++)
    for (long j = 0; j < n; j++) /* f[i, j] at j * n + i is op(A)[i][j] */
      f[j * n + i] = trans ? a[j * n + i] : a[i * n + j];
  for (long i = 0; i < n; i++)
    for (long c = 0; c < k; c++)
      xc[c * n + i] = b[i * k + c];
  long bad = lapack_solve(n, k, f, xc);
  if (bad < 0)
    bad = lu(n, f, piv);
  else if (!bad) {
    for (long i = 0; i < n; i++)
      for (long c = 0; c < k; c++)
        x[i * k + c] = xc[c * n + i];
    return;
  }
  if (bad) {
    exprc_rt_fail(site, EXPRC_RTE_SINGULAR, (double)bad, 0);
    fill_nan(x, n * k);
    return;
  }
  lu_apply(n, k, f, piv, xc);
  for (long i = 0; i < n; i++)
    for (long c = 0; c < k; c++)
      x[i * k + c] = xc[c * n + i];
}

void exprc_rt_lusolve(long site, int trans, long batch, long n, long k,
                      const double *a, const double *b, double *x) {
  long *piv;
  double *f = scratch(site, n, k, &piv);
  if (!f) {
    fill_nan(x, batch * n * k);
    return;
  }
  for (long m = 0; m < batch; m++)
    solve_one(site, trans, n, k, a + m * n * n, b + m * n * k, x + m * n * k,
              f, piv);
  free(f);
  free(piv);
}

/* det(A) or log|det A| of each matrix: the product of U's diagonal, its
 * sign flipped by each row swap. A singular matrix has det 0 and log|det|
 * -inf, as NumPy's. */
void exprc_rt_det(long site, int log_abs, long batch, long n, const double *a,
                  double *out) {
  long *piv;
  double *f = scratch(site, n, 0, &piv);
  if (!f) {
    fill_nan(out, batch);
    return;
  }
  for (long m = 0; m < batch; m++) {
    memcpy(f, a + m * n * n, (size_t)(n * n) * sizeof *f); /* A^T: same det */
    int zero = lu(n, f, piv) != 0;
    double det = 1, logabs = 0; /* the product as NumPy forms it; the log
                                   as a sum, which cannot overflow */
    for (long j = 0; j < n; j++) {
      det *= piv[j] != j ? -f[j * n + j] : f[j * n + j];
      logabs += log(fabs(f[j * n + j]));
    }
    out[m] = zero ? (log_abs ? -INFINITY : 0.0) : log_abs ? logabs : det;
  }
  free(f);
  free(piv);
}
