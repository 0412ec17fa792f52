/* testutil.c: see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

exprc_model *tu_compile_opts(const char *src, const exprc_options *o) {
  exprc_model *m;
  exprc_status st = exprc_compile_string(src, "test.expr", o, &m);
  ck_assert_msg(st == EXPRC_OK, "compile failed (%d): %s\n--- model ---\n%s",
                st, exprc_errmsg(m), src);
  return m;
}

exprc_model *tu_compile(const char *src) { return tu_compile_opts(src, NULL); }

const char *tu_compile_error(const char *src, exprc_status *st) {
  static char buf[4096];
  exprc_model *m;
  *st = exprc_compile_string(src, "test.expr", NULL, &m);
  snprintf(buf, sizeof buf, "%s", exprc_errmsg(m));
  exprc_free(m);
  ck_assert_msg(*st != EXPRC_OK, "model compiled but should not have:\n%s",
                src);
  return buf;
}

void tu_set(exprc_model *m, const char *name, const double *v, int rank, ...) {
  int64_t shape[EXPRC_MAX_RANK] = {0};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++)
    shape[i] = va_arg(ap, int64_t);
  va_end(ap);
  exprc_status st = exprc_set(m, name, v, rank, shape);
  ck_assert_msg(st == EXPRC_OK, "exprc_set(%s): %s", name, exprc_errmsg(m));
}

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 11;
}

void tu_randomize(exprc_model *m, unsigned seed, double lo, double hi,
                  const int64_t *dims, int ndims) {
  uint64_t s = seed * 2654435761u + 1;
  int kinds[2] = {EXPRC_INPUT, EXPRC_PARAM};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < exprc_count(m, (exprc_kind)kinds[k]); i++) {
      exprc_tensor t;
      exprc_get(m, (exprc_kind)kinds[k], i, &t);
      int64_t shape[EXPRC_MAX_RANK], n = 1;
      int d_used = 0;
      for (int d = 0; d < t.rank; d++) {
        shape[d] = t.shape[d] >= 0 ? t.shape[d]
                   : d_used < ndims ? dims[d_used++] : 3;
        n *= shape[d];
      }
      double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
      for (int64_t e = 0; e < n; e++)
        v[e] = lo + (hi - lo) * (double)lcg(&s) / 9007199254740992.0;
      ck_assert_msg(exprc_set(m, t.name, v, t.rank, shape) == EXPRC_OK,
                    "randomize %s: %s", t.name, exprc_errmsg(m));
      free(v);
    }
}

static double *find_value(exprc_model *m, const char *name) {
  exprc_tensor t;
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    if (strcmp(t.name, name) == 0) {
      ck_assert(exprc_gradient(m, name) == EXPRC_OK);
      return t.data;
    }
  }
  ck_assert_msg(exprc_find(m, name, &t) == EXPRC_OK, "%s", exprc_errmsg(m));
  ck_assert_msg(exprc_forward(m) == EXPRC_OK, "%s", exprc_errmsg(m));
  exprc_find(m, name, &t);
  return t.data;
}

double tu_scalar(exprc_model *m, const char *name) {
  return find_value(m, name)[0];
}

/* The loss through the forward entry point when it is an output, else the
 * gradient entry's value of L (the forward half of that function). */
static double loss_value(exprc_model *m, const char *loss) {
  exprc_tensor t;
  if (exprc_find(m, loss, &t) == EXPRC_OK && t.kind == EXPRC_OUTPUT) {
    ck_assert(exprc_forward(m) == EXPRC_OK);
    exprc_find(m, loss, &t);
    return t.data[0];
  }
  return tu_scalar(m, loss);
}

void tu_gradcheck(exprc_model *m, const char *loss, double rtol) {
  int n = exprc_count(m, EXPRC_GRADIENT);
  for (int i = 0; i < n; i++) {
    exprc_tensor g, p;
    exprc_get(m, EXPRC_GRADIENT, i, &g);
    if (strcmp(g.loss, loss) != 0)
      continue;
    ck_assert_msg(exprc_gradient(m, loss) == EXPRC_OK, "%s", exprc_errmsg(m));
    exprc_get(m, EXPRC_GRADIENT, i, &g);
    double *ana = malloc((size_t)(g.size ? g.size : 1) * sizeof *ana);
    memcpy(ana, g.data, (size_t)g.size * sizeof *ana);
    ck_assert(exprc_find(m, g.name, &p) == EXPRC_OK);
    for (int64_t e = 0; e < p.size; e++) {
      double x = p.data[e], h = 1e-5 * fmax(1.0, fabs(x));
      p.data[e] = x + h;
      double up = loss_value(m, loss);
      p.data[e] = x - h;
      double down = loss_value(m, loss);
      p.data[e] = x;
      double num = (up - down) / (2 * h);
      double tol = rtol * fmax(1.0, fmax(fabs(num), fabs(ana[e])));
      ck_assert_msg(fabs(num - ana[e]) <= tol,
                    "d%s/d%s[%lld]: analytic %.12g, finite differences %.12g",
                    loss, g.name, (long long)e, ana[e], num);
    }
    free(ana);
  }
}

void tu_assert_close(const double *got, const double *want, int64_t n,
                     double rtol, const char *what) {
  for (int64_t i = 0; i < n; i++) {
    double tol = rtol * fmax(1.0, fabs(want[i]));
    ck_assert_msg(fabs(got[i] - want[i]) <= tol || (got[i] != got[i] && want[i] != want[i]),
                  "%s[%lld]: got %.17g, want %.17g", what, (long long)i,
                  got[i], want[i]);
  }
}
