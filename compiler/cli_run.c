/* cli_run.c: the commands that use a model as any program would, through
 * the public API alone: `run` (every entry point, printed or as JSON) and
 * `bench` (the time of a call of each entry point); and what they and
 * gradcheck share: reading --set values and compiling the model.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "runtime.h"

/* ---- --set values: numbers and nested lists ---- */

typedef struct Value {
  double *v;
  size_t n, cap;
  int rank, seen_leaf;
  int64_t shape[EXPRC_MAX_RANK];
} Value;

typedef struct VParser {
  const char *p;
  Value *val;
  const char *err;
} VParser;

static void skip_ws(VParser *P) {
  while (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r')
    P->p++;
}

static int push_num(VParser *P, double x) {
  Value *v = P->val;
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    double *nv = realloc(v->v, cap * sizeof *nv);
    if (!nv)
      return P->err = "out of memory", 0;
    v->v = nv;
    v->cap = cap;
  }
  v->v[v->n++] = x;
  return 1;
}

/* item = number | "[" item ("," item)* "]" */
static int parse_item(VParser *P, int level) {
  skip_ws(P);
  if (*P->p != '[') { /* a decimal number, as in CSV: no hex, nan or inf */
    double x;
    size_t len = exprc_rt_decimal(P->p, P->p + strlen(P->p), &x);
    char next = len ? P->p[len] : 0;
    if (len == 0)
      return P->err = "expected a decimal number or '['", 0;
    if ((next >= '0' && next <= '9') || (next >= 'a' && next <= 'z') ||
        (next >= 'A' && next <= 'Z') || next == '.' || next == '_')
      return P->err = "a malformed number (numbers are decimal)", 0;
    if (x - x != 0)
      return P->err = "a number out of the range of a double", 0;
    P->p += len;
    if (P->val->seen_leaf && level != P->val->rank)
      return P->err = "the nested lists are ragged", 0;
    P->val->seen_leaf = 1;
    P->val->rank = level;
    return push_num(P, x);
  }
  if (level >= EXPRC_MAX_RANK)
    return P->err = "more than 8 levels of nesting", 0;
  P->p++;
  int64_t count = 0;
  do {
    if (!parse_item(P, level + 1))
      return 0;
    count++;
    skip_ws(P);
  } while (*P->p == ',' && P->p++);
  if (*P->p != ']')
    return P->err = "expected ',' or ']'", 0;
  P->p++;
  int64_t *d = &P->val->shape[level];
  if (*d && *d != count)
    return P->err = "the nested lists are ragged", 0;
  *d = count;
  return 1;
}

static int parse_value(const char *text, Value *val, const char **err) {
  VParser P = {text, val, NULL};
  memset(val, 0, sizeof *val);
  if (parse_item(&P, 0)) {
    skip_ws(&P);
    if (*P.p)
      P.err = "unexpected text after the value";
  }
  *err = P.err;
  return P.err == NULL;
}

/* Apply every --set: params first take their initializers (by seed). */
int cli_apply_sets(exprc_model *m, const Args *a) {
  exprc_init_params(m, a->seed);
  for (int i = 0; i < a->nset; i++) {
    Value v;
    const char *err;
    exprc_tensor t;
    if (exprc_find(m, a->set[i].name, &t) != EXPRC_OK ||
        t.kind == EXPRC_OUTPUT) {
      char *end; /* a dim no input binds: --set N=7 */
      long long n = strtoll(a->set[i].text, &end, 10);
      if (end != a->set[i].text && !*end &&
          exprc_bind_dim(m, a->set[i].name, n) == EXPRC_OK)
        continue;
      fprintf(stderr, "exprc: --set: the model has no input, param or dim "
              "named '%s'\n", a->set[i].name);
      return 2;
    }
    if (a->set[i].text[0] == '@') { /* a .npy or .csv file */
      if (exprc_set_file(m, a->set[i].name, a->set[i].text + 1) == EXPRC_OK)
        continue;
      fprintf(stderr, "exprc: --set %s: %s\n", a->set[i].name, exprc_errmsg(m));
      return 2;
    }
    if (!parse_value(a->set[i].text, &v, &err)) {
      free(v.v);
      fprintf(stderr, "exprc: --set %s: %s\n", a->set[i].name, err);
      return 2;
    }
    exprc_status st = exprc_set(m, a->set[i].name, v.v, v.rank, v.shape);
    free(v.v);
    if (st != EXPRC_OK) {
      fprintf(stderr, "exprc: --set %s: %s\n", a->set[i].name, exprc_errmsg(m));
      return 2;
    }
  }
  return 0;
}

/* ---- printing tensors ---- */

/* The shortest text that reads back as exactly x. JSON has no NaN or
 * infinity: those print as null. */
static void json_number(FILE *f, double x) {
  char buf[40];
  if (!isfinite(x)) {
    fputs("null", f);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) { /* a point in every locale */
    exprc_rt_format(buf, sizeof buf, "%.*g", prec, x);
    if (exprc_rt_strtod(buf, NULL) == x)
      break;
  }
  fputs(buf, f);
}

/* A float32 model's value: the fewest digits that read back as the same
 * float (at most 9). */
static void json_number_f32(FILE *f, double x) {
  char buf[40];
  if (!isfinite(x)) {
    fputs("null", f);
    return;
  }
  for (int prec = 6; prec <= 9; prec++) {
    exprc_rt_format(buf, sizeof buf, "%.*g", prec, x);
    if ((float)exprc_rt_strtod(buf, NULL) == (float)x)
      break;
  }
  fputs(buf, f);
}

static void human_number(FILE *f, double x) {
  char buf[40];
  if (isnan(x)) { /* printf's "-nan" shows a sign bit that means nothing */
    fputs("nan", f);
    return;
  }
  exprc_rt_format(buf, sizeof buf, "%.6g", x);
  fputs(buf, f);
}

/* A tensor with no elements, as NumPy's tolist() has it: [] for [0, 3],
 * [[], []] for [2, 0]. */
static void print_empty(FILE *f, const exprc_tensor *t, int d) {
  fputc('[', f);
  for (int64_t i = 0; d + 1 < t->rank && i < t->shape[d]; i++) {
    fputs(i ? ", " : "", f);
    print_empty(f, t, d + 1);
  }
  fputc(']', f);
}

static void print_nested(FILE *f, const exprc_tensor *t, int json) {
  if (t->size == 0 && t->rank > 0) {
    print_empty(f, t, 0);
    return;
  }
  if (!t->data) {
    fputs(json ? "null" : "(not computed)", f);
    return;
  }
  int64_t stride[EXPRC_MAX_RANK + 1];
  stride[t->rank] = 1;
  for (int d = t->rank; d-- > 0;)
    stride[d] = stride[d + 1] * t->shape[d];
  for (int64_t i = 0; i < t->size || (t->size == 0 && i == 0 && t->rank == 0); i++) {
    int open = 0;
    for (int d = 0; d < t->rank; d++)
      open += i % stride[d] == 0;
    if (i > 0)
      fputs(open && !json && t->rank > 1 ? ",\n    " : ", ", f);
    for (int k = 0; k < open; k++)
      fputc('[', f);
    if (t->dtype == EXPRC_INT64 && isfinite(t->data[i]))
      fprintf(f, "%.0f", t->data[i]); /* exact below 2^53: no exponent */
    else
      (json ? t->dtype == EXPRC_FLOAT32 ? json_number_f32 : json_number
            : human_number)(f, t->data[i]);
    int close = 0;
    for (int d = 0; d < t->rank; d++)
      close += (i + 1) % stride[d] == 0;
    for (int k = 0; k < close; k++)
      fputc(']', f);
  }
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static void print_json(exprc_model *m) {
  exprc_tensor t;
  printf("{\"outputs\": {");
  for (int i = 0; i < exprc_count(m, EXPRC_OUTPUT); i++) {
    exprc_get(m, EXPRC_OUTPUT, i, &t);
    printf("%s", i ? ", " : "");
    json_string(stdout, t.name);
    printf(": ");
    print_nested(stdout, &t, 1);
  }
  printf("},\n \"losses\": {");
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    printf("%s", i ? ", " : "");
    json_string(stdout, t.name);
    printf(": ");
    print_nested(stdout, &t, 1);
  }
  printf("},\n \"gradients\": {");
  const char *loss = NULL;
  for (int i = 0; i < exprc_count(m, EXPRC_GRADIENT); i++) {
    exprc_get(m, EXPRC_GRADIENT, i, &t);
    if (!loss || strcmp(loss, t.loss) != 0) {
      printf("%s", loss ? "}, " : "");
      json_string(stdout, t.loss);
      printf(": {");
      loss = t.loss;
    } else {
      printf(", ");
    }
    json_string(stdout, t.name);
    printf(": ");
    print_nested(stdout, &t, 1);
  }
  printf("%s}}\n", loss ? "}" : "");
}

static void print_human(exprc_model *m) {
  exprc_tensor t;
  for (int i = 0; i < exprc_count(m, EXPRC_OUTPUT); i++) {
    exprc_get(m, EXPRC_OUTPUT, i, &t);
    printf("%s = ", t.name);
    print_nested(stdout, &t, 0);
    printf("\n");
  }
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    printf("grad %s: %s = ", t.name, t.name);
    print_nested(stdout, &t, 0);
    printf("\n");
    for (int k = 0; k < exprc_count(m, EXPRC_GRADIENT); k++) {
      exprc_tensor g;
      exprc_get(m, EXPRC_GRADIENT, k, &g);
      if (strcmp(g.loss, t.name) != 0)
        continue;
      printf("  d%s/d%s = ", t.name, g.name);
      print_nested(stdout, &g, 0);
      printf("\n");
    }
  }
}

/* ---- emit, run, gradcheck: the whole pipeline ---- */

exprc_model *cli_compile(const Args *a, int *rc) {
  exprc_options o;
  cli_options(a, &o);
  exprc_model *m;
  exprc_status st = exprc_compile_file(a->file, &o, &m);
  if (st == EXPRC_OK)
    return m;
  const char *msg = exprc_errmsg(m);
  fputs(msg, stderr);
  if (*msg && msg[strlen(msg) - 1] != '\n')
    fputc('\n', stderr); /* "cannot read" messages have no caret lines */
  *rc = st == EXPRC_ERR_IO ? 2 : 1;
  exprc_free(m);
  return NULL;
}

/* Run every entry point. An input missing from the command line is a
 * usage error (status 2), like a bad --set. */
int cli_run_all(exprc_model *m) {
  exprc_tensor t;
  exprc_status st = EXPRC_OK;
  if (exprc_count(m, EXPRC_OUTPUT))
    st = exprc_forward(m);
  for (int i = 0; st == EXPRC_OK && i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    st = exprc_gradient(m, t.name);
  }
  if (st == EXPRC_OK)
    return 0;
  if (st == EXPRC_ERR_RANGE || st == EXPRC_ERR_NUMERIC) { /* located */
    fputs(exprc_errmsg(m), stderr);
    return 1;
  }
  fprintf(stderr, "exprc: %s%s\n", exprc_errmsg(m),
          st == EXPRC_ERR_STATE ? " (give it with --set NAME=VALUE)" : "");
  return st == EXPRC_ERR_STATE ? 2 : 1;
}

int cmd_run(const Args *a) {
  int rc = 0;
  exprc_model *m = cli_compile(a, &rc);
  if (!m)
    return rc;
  if ((rc = cli_apply_sets(m, a)) == 0 && (rc = cli_run_all(m)) == 0)
    (a->json ? print_json : print_human)(m);
  if (rc == 0 && a->save_params &&
      exprc_save_params(m, a->save_params) != EXPRC_OK) {
    fprintf(stderr, "exprc: --save-params: %s\n", exprc_errmsg(m));
    rc = 2;
  }
  exprc_free(m);
  return rc;
}

/* A float32 model is timed without float64 copies: a float view of each
 * value makes the model follow its floats, where the float64 views that
 * the inputs were set and read through are synced at every call. A float64
 * model refuses the first view and keeps its own. */
static void float_views(exprc_model *m) {
  exprc_tensor t;
  for (int k = EXPRC_INPUT; k <= EXPRC_GRADIENT; k++)
    for (int i = 0; i < exprc_count(m, (exprc_kind)k); i++)
      if (exprc_get_f32(m, (exprc_kind)k, i, &t) != EXPRC_OK)
        return;
}

/* The name of loss e, through the view float_views left. */
static const char *loss_name(exprc_model *m, int e) {
  exprc_tensor t;
  if (exprc_get_f32(m, EXPRC_LOSS, e, &t) != EXPRC_OK)
    exprc_get(m, EXPRC_LOSS, e, &t);
  return t.name;
}

/* exprc bench: the time of one call of each entry point: the median, least
 * and most of 15 samples, each of enough calls to last 10 ms, after a
 * warm-up (CLOCK_MONOTONIC). Inputs not given with --set get seeded numbers
 * in [-1, 1) (integer inputs 0 or -1), so that a model can be timed without
 * data. */
int cmd_bench(const Args *a) {
  enum { NS = 15 };
  int rc = 0;
  exprc_model *m = cli_compile(a, &rc);
  if (!m || (rc = cli_apply_sets(m, a)) != 0)
    return exprc_free(m), rc;
  /* --backend auto: time the code that runs once the model has settled
   * (if the system compiler failed, the note under --verbose says so) */
  (void)exprc_wait_tier(m);
  printf("code     %s\n", exprc_backend_now(m) == EXPRC_BACKEND_CC
                               ? "system compiler (-O2)" : "libtcc");
  exprc_rng r;
  exprc_tensor t;
  exprc_rng_seed(&r, a->seed); /* the inputs' values: --seed, like params */
  for (int i = 0; i < exprc_count(m, EXPRC_INPUT) && rc == 0; i++) {
    int given = exprc_get(m, EXPRC_INPUT, i, &t) != EXPRC_OK || !t.data;
    for (int k = 0; k < a->nset; k++)
      given |= !strcmp(a->set[k].name, t.name);
    double *v = given ? NULL : malloc((size_t)(t.size + 1) * sizeof *v);
    for (int64_t k = 0; v && k < t.size; k++) /* integers (ids): 0 or -1,
                                                  valid for any axis */
      v[k] = t.dtype == EXPRC_INT64 ? -(exprc_rng_uniform(&r) < 0.5)
                                    : 2 * exprc_rng_uniform(&r) - 1;
    rc = v && exprc_set(m, t.name, v, t.rank, t.shape) != EXPRC_OK;
    free(v);
  }
  float_views(m);
  for (int e = exprc_count(m, EXPRC_OUTPUT) ? -1 : 0;
       rc == 0 && e < exprc_count(m, EXPRC_LOSS); e++) {
    double s[NS], x;
    long calls = 1;
    const char *loss = e >= 0 ? loss_name(m, e) : NULL;
    for (int j = -1; j < NS && rc == 0; j++) { /* j = -1: the warm-up */
      struct timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      for (long c = 0; c < calls && rc == 0; c++)
        rc = (e < 0 ? exprc_forward(m) : exprc_gradient(m, loss)) != EXPRC_OK;
      clock_gettime(CLOCK_MONOTONIC, &t1);
      double dt = (double)(t1.tv_sec - t0.tv_sec) +
                  1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
      if (j < 0 && dt < 0.01)
        calls *= 2, j--; /* warm up until `calls` last 10 ms */
      else if (j >= 0)
        s[j] = dt / (double)calls;
    }
    for (int i = 1; i < NS; i++) /* insertion sort of the samples */
      for (int k = i; k > 0 && s[k] < s[k - 1]; k--)
        x = s[k], s[k] = s[k - 1], s[k - 1] = x;
    if (rc == 0)
      printf("%-8s %-10s median %10.3f us (min %.3f, max %.3f; "
             "%d x %ld calls)\n",
             e < 0 ? "forward" : "grad", e < 0 ? "" : loss, s[NS / 2] * 1e6,
             s[0] * 1e6, s[NS - 1] * 1e6, NS, calls);
  }
  if (rc)
    fprintf(stderr, "exprc: bench: %s\n", exprc_errmsg(m));
  exprc_free(m);
  return rc;
}
