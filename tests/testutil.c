/* testutil.c: see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
      for (int64_t e = 0; e < n; e++) { /* integers: the draw's floor */
        v[e] = lo + (hi - lo) * (double)lcg(&s) / 9007199254740992.0;
        v[e] = t.dtype == EXPRC_INT64 ? floor(v[e]) : v[e];
      }
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
  exprc_seed_draws(m, 0); /* a model that draws: the same draws each time */
  if (exprc_find(m, loss, &t) == EXPRC_OK && t.kind == EXPRC_OUTPUT) {
    ck_assert(exprc_forward(m) == EXPRC_OK);
    exprc_find(m, loss, &t);
    return t.data[0];
  }
  return tu_scalar(m, loss);
}

/* A prefix for tu_gradcheck's messages (tu_set_context). */
static char tu_context[512];

void tu_set_context(const char *what) {
  snprintf(tu_context, sizeof tu_context, "%s%s", what ? what : "",
           what && *what ? ": " : "");
}

void tu_gradcheck(exprc_model *m, const char *loss, double rtol) {
  int n = exprc_count(m, EXPRC_GRADIENT);
  for (int i = 0; i < n; i++) {
    exprc_tensor g, p;
    exprc_get(m, EXPRC_GRADIENT, i, &g);
    if (strcmp(g.loss, loss) != 0)
      continue;
    exprc_seed_draws(m, 0); /* the draws of every loss_value */
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
                    "%sd%s/d%s[%lld]: analytic %.12g, finite differences %.12g",
                    tu_context, loss, g.name, (long long)e, ana[e], num);
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

/* ---- added for the spine suites ---- */

/* Line `line` (1-based) of src, copied into buf. */
static const char *source_line(const char *src, unsigned line, char *buf,
                               size_t n) {
  const char *p = src;
  for (unsigned l = 1; l < line && p; l++) {
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  if (!p)
    return NULL;
  size_t len = strcspn(p, "\n");
  snprintf(buf, n, "%.*s", (int)len, p);
  return buf;
}

void tu_expect_error(const char *src, exprc_status st, const char *first,
                     const char *at) {
  exprc_status got;
  const char *msg = tu_compile_error(src, &got);
  size_t k = strcspn(msg, "\n");
  ck_assert_msg(strlen(first) == k && strncmp(msg, first, k) == 0,
                "wrong message:\n got: %s\nwant: %s\n--- model ---\n%s", msg,
                first, src);
  ck_assert_msg(got == st, "status %d, want %d for: %s", got, st, first);
  unsigned line, col;
  ck_assert(sscanf(first, "test.expr:%u:%u:", &line, &col) == 2);
  char text[512], want[1200];
  ck_assert_msg(source_line(src, line, text, sizeof text), "no line %u", line);
  ck_assert_msg(col >= 1 && strncmp(text + col - 1, at, strlen(at)) == 0,
                "column %u of line '%s' is not at '%s'", col, text, at);
  /* The caret display: the line indented by 3, the caret under col. */
  int w = snprintf(want, sizeof want, "%s\n   %s\n   ", first, text);
  for (unsigned i = 0; i + 1 < col; i++)
    want[w++] = text[i] == '\t' ? '\t' : ' ';
  snprintf(want + w, sizeof want - (size_t)w, "^\n");
  ck_assert_msg(strcmp(msg, want) == 0, "caret display:\n%s\nwant:\n%s", msg,
                want);
}

exprc_tensor tu_output(exprc_model *m, const char *name) {
  exprc_tensor t;
  ck_assert_msg(exprc_forward(m) == EXPRC_OK, "forward: %s", exprc_errmsg(m));
  ck_assert_msg(exprc_find(m, name, &t) == EXPRC_OK, "%s", exprc_errmsg(m));
  ck_assert_msg(t.kind == EXPRC_OUTPUT, "'%s' is not an output", name);
  return t;
}

exprc_tensor tu_grad(exprc_model *m, const char *loss, const char *wrt) {
  exprc_tensor t;
  ck_assert_msg(exprc_gradient(m, loss) == EXPRC_OK, "gradient %s: %s", loss,
                exprc_errmsg(m));
  ck_assert_msg(exprc_find_grad(m, loss, wrt, &t) == EXPRC_OK, "%s",
                exprc_errmsg(m));
  return t;
}

void tu_assert_shape(const exprc_tensor *t, int rank, ...) {
  va_list ap;
  ck_assert_msg(t->rank == rank, "'%s' has rank %d, want %d", t->name, t->rank,
                rank);
  va_start(ap, rank);
  int64_t size = 1;
  for (int i = 0; i < rank; i++) {
    int want = va_arg(ap, int);
    ck_assert_msg(t->shape[i] == want, "'%s' dim %d is %lld, want %d",
                  t->name, i, (long long)t->shape[i], want);
    size *= want;
  }
  va_end(ap);
  ck_assert_int_eq(t->size, size);
}

double tu_uniform(uint64_t *state, double lo, double hi) {
  return lo + (hi - lo) * (double)lcg(state) / 9007199254740992.0;
}

char *tu_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t n = 0, cap = 4096;
  char *s = malloc(cap);
  size_t k;
  while (s && (k = fread(s + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (cap - n - 1 == 0) {
      char *t = realloc(s, cap *= 2);
      if (!t)
        free(s);
      s = t;
    }
  }
  fclose(f);
  if (s)
    s[n] = 0;
  return s;
}

/* Temporary files live in one private directory per process, removed (when
 * empty) at exit. */
static char tmpdir[32];

static void remove_tmpdir(void) { rmdir(tmpdir); }

char *tu_temp_file(const char *text, const char *suffix) {
  static unsigned count;
  if (!tmpdir[0]) {
    strcpy(tmpdir, "/tmp/exprc_testXXXXXX");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp failed");
    atexit(remove_tmpdir);
  }
  char *path = malloc(sizeof tmpdir + 32 + strlen(suffix));
  ck_assert(path != NULL);
  sprintf(path, "%s/f%u%s", tmpdir, count++, suffix);
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s",
                path);
  return path;
}

int tu_run(const char *cmd, char **out, char **err) {
  char *fo = tu_temp_file("", ".out"), *fe = tu_temp_file("", ".err");
  size_t n = strlen(cmd) + strlen(fo) + strlen(fe) + 32;
  char *full = malloc(n);
  snprintf(full, n, "%s >%s 2>%s", cmd, fo, fe);
  int st = system(full);
  if (out)
    *out = tu_read_file(fo);
  if (err)
    *err = tu_read_file(fe);
  remove(fo);
  remove(fe);
  free(fo);
  free(fe);
  free(full);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *exprc_path, *src_root;

void tu_set_paths(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s EXPRC SOURCE_ROOT\n", argv[0]);
    exit(2);
  }
  exprc_path = argv[1];
  src_root = argv[2];
}

const char *tu_exprc(void) { return exprc_path; }
const char *tu_srcroot(void) { return src_root; }

TCase *tu_tcase(const char *name, double seconds) {
  TCase *tc = tcase_create(name);
  tcase_set_timeout(tc, seconds);
  return tc;
}

int tu_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static unsigned char pattern(size_t i, unsigned seed) {
  return (unsigned char)((i * 2654435761u + seed) >> 7);
}

void tu_fill(unsigned char *p, size_t from, size_t to, unsigned seed) {
  for (size_t i = from; i < to; i++)
    p[i] = pattern(i, seed);
}

size_t tu_first_wrong(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != pattern(i, seed))
      return i;
  return SIZE_MAX;
}
