/* test_random.c: random models (tests/randmodel.c) checked against an
 * oracle that shares no code with the compiler past its parser.
 *
 * Each model is compiled six ways: the default, without the simplifier
 * (exprc_options.no_simplify), and with each memory-plan option (no_fuse,
 * no_reuse, remat, threads = 2). Then:
 *
 *  - every output of the default and the unsimplified compile agrees with
 *    the reference evaluator (tests/refeval.c), which computes the model
 *    from its syntax tree with plain loops;
 *  - every gradient of `grad loss wrt ...` agrees with finite differences of
 *    the reference evaluator's loss, and the unsimplified compile's
 *    gradients agree with the default's;
 *  - the plan variants give the default's outputs and gradients to the bit.
 *
 * Where grad() or hessian() appear inside a model, the reference computes
 * them by finite differences of itself, so its values carry a truncation and
 * rounding error of about 1e-9 (1e-6 for a hessian) of their scale. A kink
 * (relu, abs, max, where, a comparison) inside a difference stencil spoils
 * it, so the oracle is asked again with smaller steps, and for the loss
 * gradients one-sided differences on either side are accepted too: a
 * compiler bug does not agree with any of them, while a kink is within the
 * smallest step only with negligible probability.
 *
 * 60 models by default (fixed seeds: model k uses seed k); set
 * EXPRC_RANDOM_COUNT for more and EXPRC_RANDOM_FIRST=k to start at k. A
 * failure prints the model, its seed and input values; EXPRC_RANDOM_FIRST=k
 * EXPRC_RANDOM_COUNT=1 reruns just that one.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "randmodel.h"
#include "refeval.h"
#include "testutil.h"

enum { V_DEFAULT, V_NO_SIMPLIFY, V_NO_FUSE, V_NO_REUSE, V_REMAT, V_THREADS,
       NVARIANT };
static const char *const variant_name[NVARIANT] = {
    "default", "no_simplify", "no_fuse", "no_reuse", "remat", "threads=2"};

/* What went wrong with the model being checked: the first disagreement. */
typedef struct Check {
  const RandModel *rm;
  RefModel *ref;
  exprc_model *m[NVARIANT];
  char why[2048];
  double noise; /* relative error of the reference's own grad/hessian */
} Check;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int bad(Check *c, const char *fmt, ...) {
  if (c->why[0])
    return 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, sizeof c->why, fmt, ap);
  va_end(ap);
  return 0;
}

/* ---- compiling and running ---- */

static exprc_model *compile(Check *c, int variant) {
  exprc_options o;
  exprc_options_default(&o);
  o.no_simplify = variant == V_NO_SIMPLIFY;
  o.no_fuse = variant == V_NO_FUSE;
  o.no_reuse = variant == V_NO_REUSE;
  o.remat = variant == V_REMAT;
  o.threads = variant == V_THREADS ? 2 : 0;
  exprc_model *m;
  if (exprc_compile_string(c->rm->text, "random.expr", &o, &m) != EXPRC_OK) {
    bad(c, "%s compile failed: %s", variant_name[variant], exprc_errmsg(m));
    exprc_free(m);
    return NULL;
  }
  for (int i = 0; i < c->rm->nvar; i++) {
    const RandVar *v = &c->rm->var[i];
    if (exprc_set(m, v->name, v->value, v->rank, v->shape) != EXPRC_OK) {
      bad(c, "%s: setting %s: %s", variant_name[variant], v->name,
          exprc_errmsg(m));
      exprc_free(m);
      return NULL;
    }
  }
  if (exprc_forward(m) != EXPRC_OK || exprc_gradient(m, "loss") != EXPRC_OK) {
    bad(c, "%s run failed: %s", variant_name[variant], exprc_errmsg(m));
    exprc_free(m);
    return NULL;
  }
  return m;
}

static exprc_tensor output(exprc_model *m, const char *name) {
  exprc_tensor t = {0};
  exprc_find(m, name, &t);
  return t;
}

static exprc_tensor gradient(exprc_model *m, const char *wrt) {
  exprc_tensor t = {0};
  exprc_find_grad(m, "loss", wrt, &t);
  return t;
}

/* ---- the reference ---- */

static RefModel *reference(Check *c) {
  char err[1024];
  RefModel *r = ref_load(c->rm->text, err, sizeof err);
  if (!r) {
    bad(c, "the reference evaluator cannot load the model: %s", err);
    return NULL;
  }
  for (int i = 0; i < c->rm->nvar; i++) {
    const RandVar *v = &c->rm->var[i];
    if (ref_set(r, v->name, v->value, v->rank, v->shape) != 0) {
      bad(c, "reference: %s", ref_errmsg(r));
      ref_free(r);
      return NULL;
    }
  }
  return r;
}

/* The reference's value of `name` at step h, copied into want (n). */
static int ref_values(Check *c, const char *name, double h, double *want,
                      int64_t n) {
  RefTensor t;
  ref_set_step(c->ref, h);
  if (ref_eval(c->ref, name, &t) != 0)
    return bad(c, "reference cannot evaluate %s: %s", name,
               ref_errmsg(c->ref));
  if (t.size != n)
    return bad(c, "%s has %lld elements; the reference has %lld", name,
               (long long)n, (long long)t.size);
  memcpy(want, t.data, (size_t)n * sizeof *want);
  return 1;
}

static double max_abs(const double *x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++)
    m = fmax(m, fabs(x[i]));
  return m;
}

/* got and want agree to rtol of the tensor's scale (the reference's own
 * differences err relative to it) plus 1e-9 of each element. */
static int near(double got, double want, double scale, double rtol) {
  return fabs(got - want) <= 1e-9 * (1 + fabs(want)) + rtol * scale;
}

/* Every element of output `name` of variant v agrees with the reference,
 * at the default step or, where a kink may be inside it, a smaller one. */
static int output_agrees(Check *c, int v, const char *name) {
  exprc_tensor t = output(c->m[v], name);
  if (!t.data)
    return bad(c, "%s: no output %s", variant_name[v], name);
  double *want = malloc((size_t)t.size * sizeof *want);
  static const double steps[] = {1.0 / 1024, 1.0 / 65536, 1.0 / 4194304};
  int ok = 1;
  for (int64_t e = 0; ok && e < t.size; e++) {
    ok = 0;
    for (int s = 0; !ok && s < (c->noise > 0 ? 3 : 1); s++) {
      if (!ref_values(c, name, steps[s], want, t.size))
        break;
      double scale = fmax(max_abs(want, t.size), max_abs(t.data, t.size));
      ok = isfinite(want[e]) && near(t.data[e], want[e], scale, c->noise);
    }
    if (!ok)
      bad(c, "%s: %s[%lld] = %.17g, the reference says %.17g", variant_name[v],
          name, (long long)e, t.data[e], want[e]);
  }
  free(want);
  ref_set_step(c->ref, steps[0]);
  return ok;
}

/* ---- gradients against finite differences of the reference ---- */

static double ref_loss(Check *c) {
  RefTensor t;
  if (ref_eval(c->ref, "loss", &t) != 0) {
    bad(c, "reference cannot evaluate loss: %s", ref_errmsg(c->ref));
    return NAN;
  }
  return t.data[0];
}

/* The loss with element x moved by d. */
static double loss_at(Check *c, double *x, double x0, double d) {
  *x = x0 + d;
  double f = ref_loss(c);
  *x = x0;
  return f;
}

/* Does ana agree with the reference's differences around element *x?
 * First the five-point stencil with h = 2^-10 (exact to O(h^4)); then
 * central and one-sided differences with h = 2^-20, for kinks. */
static int fd_agrees(Check *c, double *x, double ana, double f0) {
  double x0 = *x;
  int ex;
  frexp(fmax(1, fabs(x0)), &ex);
  double h = ldexp(1, ex - 10), f[4];
  static const double at[4] = {-2, -1, 1, 2};
  for (int k = 0; k < 4; k++)
    f[k] = loss_at(c, x, x0, at[k] * h);
  double five = ((f[0] - f[3]) + 8 * (f[2] - f[1])) / (12 * h);
  double noise = (1e3 * 1.1e-16 + c->noise) * fmax(1, fabs(f0));
  double scale = fmax(1, fmax(fabs(ana), fabs(five)));
  if (fabs(five - ana) <= 1e-6 * scale + noise / h)
    return 1;
  h = ldexp(1, ex - 20);
  double up = loss_at(c, x, x0, h), down = loss_at(c, x, x0, -h);
  double central = (up - down) / (2 * h), right = (up - f0) / h;
  double left = (f0 - down) / h;
  scale = fmax(1, fmax(fabs(ana), fabs(central)));
  return fabs(central - ana) <= 1e-5 * scale + noise / h ||
         fabs(right - ana) <= 1e-4 * scale + noise / h ||
         fabs(left - ana) <= 1e-4 * scale + noise / h;
}

static int gradients_agree_with_differences(Check *c) {
  double f0 = ref_loss(c);
  if (c->why[0])
    return 0;
  for (int i = 0; i < c->rm->nvar; i++) {
    const RandVar *v = &c->rm->var[i];
    exprc_tensor g = gradient(c->m[V_DEFAULT], v->name);
    double *x = ref_data(c->ref, v->name, NULL);
    if (!g.data || !x || g.size != v->size)
      return bad(c, "no gradient dloss/d%s", v->name);
    for (int64_t e = 0; e < v->size; e++)
      if (!fd_agrees(c, &x[e], g.data[e], f0))
        return bad(c, "dloss/d%s[%lld] = %.12g disagrees with finite "
                      "differences of the reference", v->name, (long long)e,
                   g.data[e]);
  }
  return 1;
}

/* ---- variants against the default ---- */

/* The unsimplified compile's gradients agree with the default's to about
 * 1e-9 of their magnitude (the simplifier may use log1p, expm1 and
 * softplus for forms that lose digits). */
static int unsimplified_gradients_agree(Check *c) {
  for (int i = 0; i < c->rm->nvar; i++) {
    const char *w = c->rm->var[i].name;
    exprc_tensor a = gradient(c->m[V_DEFAULT], w);
    exprc_tensor b = gradient(c->m[V_NO_SIMPLIFY], w);
    for (int64_t e = 0; e < a.size; e++)
      if (!(fabs(a.data[e] - b.data[e]) <=
            1e-9 * (1 + fabs(a.data[e]) + fabs(b.data[e]))))
        return bad(c, "dloss/d%s[%lld]: default %.17g, no_simplify %.17g", w,
                   (long long)e, a.data[e], b.data[e]);
  }
  return 1;
}

static int same_bits(Check *c, int v, exprc_tensor a, exprc_tensor b,
                     const char *what) {
  if (!a.data || !b.data || a.size != b.size)
    return bad(c, "%s: %s is missing", variant_name[v], what);
  for (int64_t e = 0; e < a.size; e++)
    if (memcmp(&a.data[e], &b.data[e], sizeof(double)) != 0)
      return bad(c, "%s: %s[%lld] = %.17g, the default gives %.17g",
                 variant_name[v], what, (long long)e, b.data[e], a.data[e]);
  return 1;
}

/* A memory plan moves values, never changes them. */
static int plan_agrees(Check *c, int v) {
  for (int i = 0; i < c->rm->nout; i++) {
    const char *name = c->rm->out_name[i];
    if (!same_bits(c, v, output(c->m[V_DEFAULT], name), output(c->m[v], name),
                   name))
      return 0;
  }
  exprc_tensor a, b;
  exprc_get(c->m[V_DEFAULT], EXPRC_LOSS, 0, &a);
  exprc_get(c->m[v], EXPRC_LOSS, 0, &b);
  if (!same_bits(c, v, a, b, "loss of the gradient entry point"))
    return 0;
  for (int i = 0; i < c->rm->nvar; i++) {
    const char *w = c->rm->var[i].name;
    char what[32];
    snprintf(what, sizeof what, "dloss/d%s", w);
    a = gradient(c->m[V_DEFAULT], w), b = gradient(c->m[v], w);
    if (!same_bits(c, v, a, b, what))
      return 0;
  }
  return 1;
}

/* ---- one model ---- */

static void check_all(Check *c) {
  for (int v = 0; v < NVARIANT; v++)
    if (!(c->m[v] = compile(c, v)))
      return;
  if (!(c->ref = reference(c)))
    return;
  c->noise = c->rm->hessians ? 1e-5 : c->rm->grads ? 1e-6 : 0;
  for (int i = 0; i < c->rm->nout; i++)
    if (!output_agrees(c, V_DEFAULT, c->rm->out_name[i]) ||
        !output_agrees(c, V_NO_SIMPLIFY, c->rm->out_name[i]))
      return;
  if (!gradients_agree_with_differences(c) || !unsimplified_gradients_agree(c))
    return;
  for (int v = V_NO_FUSE; v < NVARIANT; v++)
    if (!plan_agrees(c, v))
      return;
}

static void print_failure(const RandModel *rm, const char *why) {
  fprintf(stderr, "\n==== random model %llu FAILED: %s\n%s",
          (unsigned long long)rm->seed, why, rm->text);
  for (int i = 0; i < rm->nvar; i++) {
    const RandVar *v = &rm->var[i];
    fprintf(stderr, "# %s =", v->name);
    for (int64_t e = 0; e < v->size; e++)
      fprintf(stderr, " %.17g", v->value[e]);
    fprintf(stderr, "\n");
  }
  fprintf(stderr, "# replay: EXPRC_RANDOM_FIRST=%llu EXPRC_RANDOM_COUNT=1\n",
          (unsigned long long)rm->seed);
}

/* Check model `seed`; returns 1 if it passes, else prints why. */
static int check_model(uint64_t seed) {
  RandModel rm;
  randmodel_make(&rm, seed, NULL);
  Check c = {.rm = &rm};
  check_all(&c);
  for (int v = 0; v < NVARIANT; v++)
    exprc_free(c.m[v]);
  ref_free(c.ref);
  if (c.why[0])
    print_failure(&rm, c.why);
  int ok = !c.why[0];
  randmodel_free(&rm);
  return ok;
}

/* ---- the suite ---- */

#define CHUNK 20

static unsigned first, count = 60;

/* Every model of the chunk is checked, failing or not, so that a long run
 * counts all failures; the chunk fails if any model did. */
START_TEST(random_models) {
  unsigned from = (unsigned)_i * CHUNK, failed = 0, n = 0;
  uint64_t first_bad = 0;
  for (unsigned k = from; k < from + CHUNK && k < count; k++, n++)
    if (!check_model(first + k) && failed++ == 0)
      first_bad = first + k;
  ck_assert_msg(failed == 0, "%u of %u models failed, the first seed %llu "
                "(see the output above)", failed, n,
                (unsigned long long)first_bad);
}
END_TEST

/* The generator makes what it claims: in the first 300 models every form
 * appears, and y has the shape it was generated to have (the compiler and
 * the reference agree on it). */
START_TEST(generator_covers_the_language) {
  static const char *const needles[] = {
      "grad(", "gsq(", "hessian(", "@", "dot(", "reshape(", "transpose(",
      "sum(", "mean(", "max(", "min(", "logsumexp(", "lse0(", "softmax(",
      "log_softmax(", "log(softmax(", "log(sum(exp(", "log(1 + exp(",
      "where(", "maximum(", "minimum(", "pow(", "lerp(", "nrm(", "relu(",
      "abs(", "sign(", " < ", " >= ", "[-", ":]", "dim N", "dim B",
      "(0.25 * N)", ", -1)", ", -1]", "[1, ", ", 1]", "param "};
  enum { NN = sizeof needles / sizeof needles[0] };
  int seen[NN] = {0}, square = 0, cube = 0;
  for (uint64_t k = 0; k < 300; k++) {
    RandModel rm;
    randmodel_make(&rm, k, NULL);
    for (int i = 0; i < NN; i++)
      seen[i] |= strstr(rm.text, needles[i]) != NULL;
    square += rm.y_rank == 2 && rm.y_shape[0] == rm.y_shape[1];
    cube += rm.y_rank == 3 && rm.y_shape[0] == rm.y_shape[1] &&
            rm.y_shape[1] == rm.y_shape[2];
    exprc_model *m = tu_compile(rm.text);
    for (int i = 0; i < rm.nvar; i++)
      ck_assert(exprc_set(m, rm.var[i].name, rm.var[i].value, rm.var[i].rank,
                          rm.var[i].shape) == EXPRC_OK);
    exprc_tensor y = tu_output(m, "y");
    ck_assert_int_eq(y.rank, rm.y_rank);
    for (int i = 0; i < y.rank; i++)
      ck_assert_int_eq(y.shape[i], rm.y_shape[i]);
    exprc_free(m);
    randmodel_free(&rm);
  }
  for (int i = 0; i < NN; i++)
    ck_assert_msg(seen[i], "no model uses '%s'", needles[i]);
  ck_assert_msg(square >= 30 && cube >= 5, "%d square and %d cube results",
                square, cube);
}
END_TEST

int main(void) {
  const char *env = getenv("EXPRC_RANDOM_COUNT");
  if (env && atoi(env) > 0)
    count = (unsigned)atoi(env);
  env = getenv("EXPRC_RANDOM_FIRST"); /* to rerun one failing model */
  if (env && atoi(env) > 0)
    first = (unsigned)atoi(env);
  Suite *s = suite_create("random");
  TCase *tc = tu_tcase("models", 300);
  tcase_add_test(tc, generator_covers_the_language);
  tcase_add_loop_test(tc, random_models, 0, (int)((count + CHUNK - 1) / CHUNK));
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
