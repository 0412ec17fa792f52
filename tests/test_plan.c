/* test_plan.c: the memory plan changes where values live, never what they
 * are. Each model is compiled with every combination of buffer sharing,
 * fusion, rematerialization and threads; all outputs and gradients must be
 * identical to the bit (the same operations run in the same order, only
 * loads and stores move), and gradients must still agree with finite
 * differences.
 *
 * Besides the hand-written models, random ones (tests/randmodel.c) weighted
 * towards views, slices, broadcasts and reductions, and often holding a
 * hessian, are checked the same way under all 16 plans, and the default
 * plan against the reference evaluator (tests/refeval.c) and finite
 * differences of it. EXPRC_PLAN_COUNT sets how many (default 24); a failure
 * prints the model and its seed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "randmodel.h"
#include "testutil.h"

static const char *const models[] = {
    /* a chain of elementwise ops: every value is read again backwards */
    "input x[40]\nu1 = tanh(sin(x) * 1.5)\nu2 = tanh(sin(u1) * 1.5)\n"
    "u3 = tanh(sin(u2) * 1.5)\nu4 = exp(u3) * u1\n"
    "output y = u4\nloss = sum(u4 * u4) + sum(u2)\ngrad loss wrt x\n",
    /* values read by elementwise ops, sums and matrix products, with dims */
    "dim N\ninput x[N, 3]\nparam W[3, 5] ~ normal(0, 1)\nparam b[5]\n"
    "h = tanh(x @ W + b)\ng = h * sigmoid(h) + log1p(h^2)\n"
    "output p = softmax(g)\nloss = sum(g * g) / N + sum(max(g, 1))\n"
    "grad loss wrt W, b, x\n",
    /* reshapes, slices and broadcasting in the backward pass */
    "input v[12]\nm = reshape(v, [3, 4])\ns = m[1:, :] * [1, 2, 3, 4]\n"
    "t = transpose(s) @ m[0:2, 1:3]\n"
    "loss = sum(t^2) + logsumexp(m, 0)[2] + sum(m[:, 0])\ngrad loss wrt v\n",
};

/* Every output and gradient of m, after running everything. */
static double *results(exprc_model *m, int64_t *n) {
  double *all = NULL;
  *n = 0;
  if (exprc_count(m, EXPRC_OUTPUT))
    ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  exprc_kind kinds[3] = {EXPRC_OUTPUT, EXPRC_LOSS, EXPRC_GRADIENT};
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < exprc_count(m, kinds[k]); i++) {
      exprc_tensor t;
      exprc_get(m, kinds[k], i, &t);
      if (kinds[k] == EXPRC_LOSS) {
        ck_assert_int_eq(exprc_gradient(m, t.name), EXPRC_OK);
        exprc_get(m, kinds[k], i, &t);
      }
      all = realloc(all, (size_t)(*n + t.size) * sizeof *all);
      memcpy(all + *n, t.data, (size_t)t.size * sizeof *all);
      *n += t.size;
    }
  return all;
}

/* Plan variant v (0 to 15): bits for no_reuse, no_fuse, remat, threads. */
static void plan_options(exprc_options *o, int v) {
  exprc_options_default(o);
  o->no_reuse = v & 1;
  o->no_fuse = (v >> 1) & 1;
  o->remat = (v >> 2) & 1;
  o->threads = (v >> 3) & 1 ? 2 : 0;
}

static exprc_model *compiled(const char *src, int variant) {
  exprc_options o;
  plan_options(&o, variant);
  o.seed = 7;
  exprc_model *m = tu_compile_opts(src, &o);
  int64_t dims[1] = {6};
  tu_randomize(m, 11, -1.5, 1.5, dims, 1);
  return m;
}

START_TEST(every_plan_computes_the_same_bits) {
  const char *src = models[_i];
  exprc_model *base = compiled(src, 0);
  int64_t n0, n;
  double *want = results(base, &n0);
  for (int variant = 1; variant < 16; variant++) {
    exprc_model *m = compiled(src, variant);
    double *got = results(m, &n);
    ck_assert_int_eq(n, n0);
    ck_assert_msg(memcmp(got, want, (size_t)n * sizeof *got) == 0,
                  "model %d: plan variant %d (reuse %d, fuse %d, remat %d, "
                  "threads %d) changed a result", _i, variant, !(variant & 1),
                  !(variant & 2), !!(variant & 4), !!(variant & 8));
    free(got);
    exprc_free(m);
  }
  free(want);
  exprc_free(base);
}
END_TEST

/* Rematerialized gradients are still right (independently of the above). */
START_TEST(rematerialized_gradients_match_finite_differences) {
  exprc_model *m = compiled(models[_i], 4);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* With threads, long flat loops run in chunks on the runtime's threads:
 * elementwise results are the same bits, sums differ only in the order
 * their partial sums are added. */
START_TEST(threaded_loops_agree_with_serial_ones) {
  const char *src = "input x[50000]\n"
                    "y = tanh(sin(x) * 1.5) + exp(-x^2)\n"
                    "output m = max(y), n = min(y * x), e = y * 2\n"
                    "loss = sum(y * y) + sum(log1p(y^2))\ngrad loss wrt x\n";
  exprc_options o;
  exprc_options_default(&o);
  exprc_model *serial = tu_compile_opts(src, &o);
  o.threads = 2;
  exprc_model *par = tu_compile_opts(src, &o);
  ck_assert_ptr_nonnull(strstr(exprc_source(par), "exprc_rt_parallel"));
  double *x = malloc(50000 * sizeof *x);
  for (int i = 0; i < 50000; i++)
    x[i] = (i % 977) / 300.0 - 1.5;
  tu_set(serial, "x", x, 1, (int64_t)50000);
  tu_set(par, "x", x, 1, (int64_t)50000);
  int64_t n0, n1;
  double *a = results(serial, &n0), *b = results(par, &n1);
  ck_assert_int_eq(n0, n1);
  tu_assert_close(b, a, n0, 1e-12, "threaded vs serial");
  free(a), free(b), free(x);
  exprc_free(serial);
  exprc_free(par);
}
END_TEST

/* ---- scalars past the locals ---- */

/* u_{k+1} = u_k + 0.0005 sin(u_k), CHAIN levels: the gradient keeps every
 * u_k for its backward pass (it needs cos(u_k) there), more of them than C
 * locals are given (4,096), so the long-lived ones go to the spill buffer;
 * the backward pass's own temporaries, each read within a few statements,
 * stay in locals. */
#define CHAIN 4000

static char *chain_model(void) {
  size_t cap = (size_t)CHAIN * 48 + 64, n = 0;
  char *src = malloc(cap);
  n += (size_t)snprintf(src + n, cap - n, "input x\nu0 = x\n");
  for (int k = 0; k < CHAIN; k++)
    n += (size_t)snprintf(src + n, cap - n, "u%d = u%d + 0.0005*sin(u%d)\n",
                          k + 1, k, k);
  snprintf(src + n, cap - n, "output y = u%d\ngrad y wrt x\n", CHAIN);
  return src;
}

/* The chain and its derivative, prod_k (1 + 0.0005 cos u_k), by a plain
 * loop that shares nothing with the compiler. */
static void chain_oracle(double x, double *y, double *dydx) {
  static double u[CHAIN];
  for (int k = 0; k < CHAIN; k++)
    u[k] = x, x = x + 0.0005 * sin(x);
  *y = x;
  *dydx = 1;
  for (int k = CHAIN; k-- > 0;)
    *dydx *= 1 + 0.0005 * cos(u[k]);
}

/* Statements in [from, to) that write a cell of the buffer `spill` ("p4["). */
static int spill_writes(const char *from, const char *to, const char *spill) {
  int n = 0;
  for (const char *s = strstr(from, spill); s && s < to; s = strstr(s + 1, spill)) {
    const char *close = strchr(s, ']');
    n += s[-1] == ' ' && s[-2] == ' ' && strncmp(close, "] = ", 4) == 0;
  }
  return n;
}

START_TEST(long_lived_scalars_spill_and_temporaries_keep_locals) {
  char *src = chain_model();
  exprc_model *m = tu_compile(src);
  const char *c = strstr(exprc_source(m), "void xc_grad_1(");
  ck_assert_ptr_nonnull(c);
  const char *back = strstr(c, "cos(");   /* the backward pass starts */
  ck_assert_ptr_nonnull(back);
  const char *cell = strstr(c, "[1] = "); /* p<spill>[1] = ... */
  ck_assert_msg(cell && cell < back,
                "the forward pass writes no spill cell: nothing is tested");
  char spill[16];
  int len = 0;
  while (cell[-len - 1] != ' ')
    len++;
  snprintf(spill, sizeof spill, "%.*s[", len, cell - len);
  ck_assert_int_gt(spill_writes(c, back, spill), 100);
  ck_assert_msg(spill_writes(back, back + strlen(back), spill) == 0,
                "the backward pass writes %s...]: its temporaries should be "
                "locals", spill);
  double x = 0.3, y, dydx;
  chain_oracle(x, &y, &dydx);
  tu_set(m, "x", &x, 0);
  ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  tu_assert_close(tu_output(m, "y").data, &y, 1, 1e-13, "u_4000");
  tu_assert_close(tu_grad(m, "y", "x").data, &dydx, 1, 1e-11, "du_4000/dx");
  exprc_free(m);
  free(src);
}
END_TEST

/* ---- random models under every plan ---- */

static const RandOptions plan_models = {.views_pct = 250, .hessian_pct = 35};
#define PLAN_SEED 1000000u /* apart from test_random's seeds */
#define PLAN_CHUNK 6
static unsigned plan_count = 24;

static void plan_variants(RandVariant *v) {
  static char names[16][48];
  for (int k = 0; k < 16; k++) {
    plan_options(&v[k].opt, k);
    snprintf(names[k], sizeof names[k], "plan %d (reuse %d fuse %d remat %d "
             "threads %d)", k, !(k & 1), !(k & 2), !!(k & 4), !!(k & 8));
    v[k].name = names[k];
    v[k].exact = 1;
  }
}

/* Every model of the chunk is checked; the chunk fails if any did. */
START_TEST(random_models_under_every_plan) {
  RandVariant v[16];
  plan_variants(v);
  unsigned failed = 0;
  for (unsigned k = (unsigned)_i * PLAN_CHUNK;
       k < (unsigned)(_i + 1) * PLAN_CHUNK && k < plan_count; k++) {
    RandModel rm;
    char why[2048];
    randmodel_make(&rm, PLAN_SEED + k, &plan_models);
    if (!randmodel_check(&rm, v, 16, why, sizeof why)) {
      randmodel_print(&rm, why, stderr);
      failed++;
    }
    randmodel_free(&rm);
  }
  ck_assert_msg(failed == 0, "%u random models failed (see the output above)",
                failed);
}
END_TEST

/* The random models hold what this suite is about. */
START_TEST(random_models_have_views_and_hessians) {
  static const char *const needles[] = {"hessian(", ")[", "reshape(",
                                        "transpose(", "sum(", "max(",
                                        "softmax(", "@"};
  enum { NN = sizeof needles / sizeof needles[0] };
  int seen[NN] = {0};
  for (unsigned k = 0; k < 24; k++) {
    RandModel rm;
    randmodel_make(&rm, PLAN_SEED + k, &plan_models);
    for (int i = 0; i < NN; i++)
      seen[i] += strstr(rm.text, needles[i]) != NULL;
    randmodel_free(&rm);
  }
  for (int i = 0; i < NN; i++)
    ck_assert_msg(seen[i] >= 2, "only %d models use '%s'", seen[i],
                  needles[i]);
}
END_TEST

int main(void) {
  const char *env = getenv("EXPRC_PLAN_COUNT");
  if (env && atoi(env) > 0)
    plan_count = (unsigned)atoi(env);
  int n = (int)(sizeof models / sizeof models[0]);
  Suite *s = suite_create("plan");
  TCase *tc = tu_tcase("variants", 300);
  tcase_add_loop_test(tc, every_plan_computes_the_same_bits, 0, n);
  tcase_add_loop_test(tc, rematerialized_gradients_match_finite_differences, 0, n);
  tcase_add_test(tc, threaded_loops_agree_with_serial_ones);
  tcase_add_test(tc, long_lived_scalars_spill_and_temporaries_keep_locals);
  tcase_add_test(tc, random_models_have_views_and_hessians);
  tcase_add_loop_test(tc, random_models_under_every_plan, 0,
                      (int)((plan_count + PLAN_CHUNK - 1) / PLAN_CHUNK));
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
