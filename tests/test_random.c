/* test_random.c: random models (tests/randmodel.c) checked against an
 * oracle that shares no code with the compiler past its parser.
 *
 * Each model is compiled six ways: the default, without the simplifier
 * (exprc_options.no_simplify), and with each memory-plan option (no_fuse,
 * no_reuse, remat, threads = 2). Then (randmodel_check):
 *
 *  - every output of the default and the unsimplified compile agrees with
 *    the reference evaluator (tests/refeval.c), which computes the model
 *    from its syntax tree with plain loops;
 *  - every gradient of `grad loss wrt ...` agrees with finite differences of
 *    the reference evaluator's loss (one-sided ones too, at kinks), and the
 *    unsimplified compile's gradients agree with the default's;
 *  - the plan variants give the default's outputs and gradients to the bit.
 *
 * 150 models by default (fixed seeds: model k uses seed k); set
 * EXPRC_RANDOM_COUNT for more and EXPRC_RANDOM_FIRST=k to start at k. A
 * failure prints the model, its seed and input values; EXPRC_RANDOM_FIRST=k
 * EXPRC_RANDOM_COUNT=1 reruns just that one. EXPRC_RANDOM_PROGRESS=1 prints
 * a line after every 20 models, for long runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "randmodel.h"
#include "refeval.h"
#include "testutil.h"

/* The ways each model is compiled; the plan options must not change a bit. */
static RandVariant variants[6];

static void init_variants(void) {
  static const char *const names[6] = {"default",  "no_simplify", "no_fuse",
                                       "no_reuse", "remat",       "threads=2"};
  for (int k = 0; k < 6; k++) {
    variants[k].name = names[k];
    exprc_options_default(&variants[k].opt);
    variants[k].exact = k >= 2;
  }
  variants[1].opt.no_simplify = 1;
  variants[2].opt.no_fuse = 1;
  variants[3].opt.no_reuse = 1;
  variants[4].opt.remat = 1;
  variants[5].opt.threads = 2;
}

/* Check model `seed`; returns 1 if it passes, else prints why. */
static int check_model(uint64_t seed) {
  RandModel rm;
  char why[2048];
  randmodel_make(&rm, seed, NULL);
  int ok = randmodel_check(&rm, variants, 6, why, sizeof why);
  if (!ok) {
    randmodel_print(&rm, why, stderr);
    fprintf(stderr, "# replay: EXPRC_RANDOM_FIRST=%llu EXPRC_RANDOM_COUNT=1\n",
            (unsigned long long)seed);
  }
  randmodel_free(&rm);
  return ok;
}

/* ---- the suite ---- */

#define CHUNK 20

static unsigned first, count = 150;

/* Every model of the chunk is checked, failing or not, so that a long run
 * counts all failures; the chunk fails if any model did. */
START_TEST(random_models) {
  unsigned from = (unsigned)_i * CHUNK, failed = 0, n = 0;
  uint64_t first_bad = 0;
  for (unsigned k = from; k < from + CHUNK && k < count; k++, n++)
    if (!check_model(first + k) && failed++ == 0)
      first_bad = first + k;
  if (getenv("EXPRC_RANDOM_PROGRESS")) /* for long runs */
    fprintf(stderr, "# models %u to %u checked, %u failed\n", first + from,
            first + from + n - 1, failed);
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

/* The fuzz input 03 03 1c 29 e3 bc f2 6b: its reference alone took 32 s
 * under the fuzzer (a hessian in a value, read inside a grad of a 3x3
 * var, inside the loss's differences); libFuzzer's -timeout is 10 s. With
 * a budget the check ends at it, and what comes after the reference still
 * judges: a variant held to the bit that differs (the unsimplified
 * compile) is still caught. */
START_TEST(a_budget_bounds_the_reference_not_the_check) {
  RandOptions o = {.depth = 5, .max_grads = 3, .hessian_pct = 28,
                   .views_pct = 91, .gather_pct = 150};
  RandModel rm;
  randmodel_make(&rm, 18112346609941556610ULL, &o);
  char why[2048];
  int over = 0;
  RandVariant v[2] = {variants[0], variants[1]}; /* default, no_simplify */
  ck_assert(randmodel_check_bounded(&rm, v, 1, 3, 500000, &over, why,
                                    sizeof why));
  ck_assert_msg(over, "the model's check no longer spends the budget");
  v[1].exact = 1; /* the unsimplified compile rounds differently */
  ck_assert(!randmodel_check_bounded(&rm, v, 2, 3, 500000, &over, why,
                                     sizeof why));
  ck_assert_msg(over && strstr(why, "no_simplify"), "%s", why);
  randmodel_free(&rm);
}
END_TEST

int main(void) {
  init_variants();
  const char *env = getenv("EXPRC_RANDOM_COUNT");
  if (env && atoi(env) > 0)
    count = (unsigned)atoi(env);
  env = getenv("EXPRC_RANDOM_FIRST"); /* to rerun one failing model */
  if (env && atoi(env) > 0)
    first = (unsigned)atoi(env);
  Suite *s = suite_create("random");
  TCase *tc = tu_tcase("models", 300);
  tcase_add_test(tc, generator_covers_the_language);
  tcase_add_test(tc, a_budget_bounds_the_reference_not_the_check);
  tcase_add_loop_test(tc, random_models, 0, (int)((count + CHUNK - 1) / CHUNK));
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
