/* test_random_ops.c: random numbers inside a model: normal(mean, std,
 * shape), uniform(lo, hi, shape) and bernoulli(p).
 *
 * Each call of an entry point draws afresh from the model's own generator,
 * seeded like the params (exprc_options.seed, exprc_init_params, --seed):
 * the same seed gives the same sequence of calls the same values. Every
 * draw written in the model is its own: two normal(0, 1, [3]) are two
 * draws, never merged by hash-consing or folded by the simplifier, while
 * one named draw read twice is one. Draws are constants to differentiation
 * (no gradient reaches mean, std or p), which is what dropout and the
 * reparameterisation trick need.
 *
 * Distributions are checked by their sample mean and variance, within 5
 * standard errors (a false alarm about once in 1.7 million runs per check;
 * the generator is seeded, so a run is repeatable anyway). The standard
 * errors: of the mean sigma / sqrt(n); of the variance
 * sqrt((mu4 - sigma^4) / n), with mu4 = 3 sigma^4 for a normal and
 * (b - a)^4 / 80 for a uniform on [a, b).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { NDRAW = 40000 };

static void moments(const double *x, int64_t n, double *mean, double *var) {
  double s = 0, q = 0;
  for (int64_t i = 0; i < n; i++)
    s += x[i];
  *mean = s / (double)n;
  for (int64_t i = 0; i < n; i++)
    q += (x[i] - *mean) * (x[i] - *mean);
  *var = q / (double)(n - 1);
}

static void within(double got, double want, double se, const char *what) {
  ck_assert_msg(fabs(got - want) <= 5 * se,
                "%s: %.6g, expected %.6g within 5 x %.3g", what, got, want, se);
}

START_TEST(normal_has_its_mean_and_variance) {
  exprc_model *m = tu_compile("output z = normal(2, 3, [200, 200])\n");
  exprc_tensor z = tu_output(m, "z");
  tu_assert_shape(&z, 2, 200, 200);
  double mean, var, n = NDRAW;
  moments(z.data, z.size, &mean, &var);
  within(mean, 2, 3 / sqrt(n), "normal mean");
  within(var, 9, sqrt((3 * 81.0 - 81.0) / n), "normal variance");
  exprc_free(m);
}
END_TEST

START_TEST(uniform_has_its_range_mean_and_variance) {
  exprc_model *m = tu_compile("output u = uniform(-1, 3, [40000])\n");
  exprc_tensor u = tu_output(m, "u");
  double mean, var, n = NDRAW;
  for (int64_t i = 0; i < u.size; i++)
    ck_assert(u.data[i] >= -1 && u.data[i] < 3);
  moments(u.data, u.size, &mean, &var);
  within(mean, 1, sqrt(16.0 / 12 / n), "uniform mean");
  within(var, 16.0 / 12, sqrt((256.0 / 80 - 256.0 / 144) / n),
         "uniform variance");
  exprc_free(m);
}
END_TEST

/* bernoulli(p) takes p's shape, and each element is 1 with its own p. */
START_TEST(bernoulli_is_zero_or_one_with_probability_p) {
  exprc_model *m = tu_compile("input p[2, 20000]\noutput b = bernoulli(p)\n");
  double *p = malloc(NDRAW * sizeof *p);
  for (int i = 0; i < NDRAW; i++)
    p[i] = i < NDRAW / 2 ? 0.3 : 0.9;
  tu_set(m, "p", p, 2, (int64_t)2, (int64_t)20000);
  exprc_tensor b = tu_output(m, "b");
  double ones[2] = {0, 0};
  for (int i = 0; i < NDRAW; i++) {
    ck_assert(b.data[i] == 0 || b.data[i] == 1);
    ones[i >= NDRAW / 2] += b.data[i];
  }
  double n = NDRAW / 2;
  within(ones[0] / n, 0.3, sqrt(0.3 * 0.7 / n), "bernoulli(0.3)");
  within(ones[1] / n, 0.9, sqrt(0.9 * 0.1 / n), "bernoulli(0.9)");
  free(p);
  exprc_free(m);
}
END_TEST

/* Mean and std may be tensors that broadcast to the shape: each column
 * has its own. */
START_TEST(parameters_broadcast) {
  exprc_model *m =
      tu_compile("input mu[2]\ninput sd[2]\n"
                 "output z = normal(mu, sd, [20000, 2])\n");
  tu_set(m, "mu", (double[]){-5, 10}, 1, (int64_t)2);
  tu_set(m, "sd", (double[]){0.5, 2}, 1, (int64_t)2);
  exprc_tensor z = tu_output(m, "z");
  double *col = malloc(20000 * sizeof *col), mean, var, n = 20000;
  for (int c = 0; c < 2; c++) {
    double mu = c ? 10 : -5, sd = c ? 2 : 0.5;
    for (int i = 0; i < 20000; i++)
      col[i] = z.data[2 * i + c];
    moments(col, 20000, &mean, &var);
    within(mean, mu, sd / sqrt(n), "column mean");
    within(var, sd * sd, sqrt(2 * pow(sd, 4) / n), "column variance");
  }
  free(col);
  exprc_free(m);
}
END_TEST

static double *copy(exprc_tensor t) {
  double *c = malloc((size_t)t.size * sizeof *c);
  memcpy(c, t.data, (size_t)t.size * sizeof *c);
  return c;
}

static int same(const double *a, const double *b, int64_t n) {
  return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Each call draws afresh; the same seed repeats the sequence of calls, in
 * a new model or after exprc_init_params; another seed does not. */
START_TEST(fresh_every_call_and_reproducible_by_seed) {
  const char *src = "output z = normal(0, 1, [6]), u = uniform(0, 1, [2])\n";
  exprc_options o = {.seed = 42};
  exprc_model *a = tu_compile_opts(src, &o), *b = tu_compile_opts(src, &o);
  double *a1 = copy(tu_output(a, "z")), *a2 = copy(tu_output(a, "z"));
  ck_assert_msg(!same(a1, a2, 6), "two calls gave the same draws");
  double *b1 = copy(tu_output(b, "z")), *b2 = copy(tu_output(b, "z"));
  ck_assert_msg(same(a1, b1, 6) && same(a2, b2, 6),
                "the same seed gave other values");
  ck_assert(exprc_init_params(a, 42) == EXPRC_OK);
  double *a3 = copy(tu_output(a, "z"));
  ck_assert_msg(same(a1, a3, 6), "exprc_init_params did not restart");
  ck_assert(exprc_init_params(a, 43) == EXPRC_OK);
  double *a4 = copy(tu_output(a, "z"));
  ck_assert_msg(!same(a1, a4, 6), "another seed gave the same values");
  free(a1), free(a2), free(a3), free(a4), free(b1), free(b2);
  exprc_free(a);
  exprc_free(b);
}
END_TEST

/* Two draws written alike are two draws (not one node, not folded to a
 * constant); one named draw read twice is one draw; a def that draws, called
 * twice, draws twice. */
START_TEST(each_draw_is_its_own) {
  exprc_model *m = tu_compile(
      "input x[3]\n"
      "def noisy(v) = v + normal(0, 1, [3])\n"
      "z = normal(0, 1, [3])\n"
      "output d = normal(0, 1, [3]) - normal(0, 1, [3]),\n"
      "  twice = z - z, e = noisy(x) - noisy(x),\n"
      "  c = uniform(2, 2, [3]) - uniform(2, 2, [3])\n");
  tu_set(m, "x", (double[]){1, 2, 3}, 1, (int64_t)3);
  exprc_tensor d = tu_output(m, "d");
  for (int i = 0; i < 3; i++)
    ck_assert_msg(d.data[i] != 0, "two draws were one");
  exprc_tensor t = tu_output(m, "twice"), e = tu_output(m, "e");
  exprc_tensor c = tu_output(m, "c");
  for (int i = 0; i < 3; i++) {
    ck_assert_double_eq(t.data[i], 0);
    ck_assert_msg(e.data[i] != 0, "a def's two calls drew once");
    ck_assert_double_eq(c.data[i], 0); /* uniform(2, 2) is 2 */
  }
  exprc_free(m);
}
END_TEST

/* A dim in the shape: the draw has the batch's size at each call. */
START_TEST(shape_with_a_dim) {
  exprc_model *m = tu_compile("dim N\ninput x[N, 2]\n"
                              "output y = x + normal(0, 1, [N, 2])\n");
  double x[6] = {0};
  tu_set(m, "x", x, 2, (int64_t)3, (int64_t)2);
  exprc_tensor y = tu_output(m, "y");
  tu_assert_shape(&y, 2, 3, 2);
  tu_set(m, "x", x, 2, (int64_t)1, (int64_t)2);
  y = tu_output(m, "y");
  tu_assert_shape(&y, 2, 1, 2);
  exprc_free(m);
}
END_TEST

/* No gradient flows into a draw's parameters. */
START_TEST(draws_are_constants_to_differentiation) {
  exprc_model *m = tu_compile("param mu[4]\nparam sd[4]\ninput p[4]\n"
                              "L = sum(normal(mu, sd, [4]) + bernoulli(p) + "
                              "uniform(mu, sd, [4]))\n"
                              "grad L wrt mu, sd, p\n");
  tu_set(m, "sd", (double[]){1, 2, 3, 4}, 1, (int64_t)4);
  tu_set(m, "p", (double[]){.1, .2, .3, .4}, 1, (int64_t)4);
  const char *wrt[3] = {"mu", "sd", "p"};
  for (int k = 0; k < 3; k++) {
    exprc_tensor g = tu_grad(m, "L", wrt[k]);
    tu_assert_close(g.data, (double[]){0, 0, 0, 0}, 4, 0, wrt[k]);
  }
  exprc_free(m);
}
END_TEST

/* The value of loss `name` left by the last gradient call (not run again). */
static double last_loss(exprc_model *m, const char *name) {
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_tensor t;
    ck_assert(exprc_get(m, EXPRC_LOSS, i, &t) == EXPRC_OK);
    if (!strcmp(t.name, name))
      return t.data[0];
  }
  ck_abort_msg("no loss %s", name);
  return 0;
}

/* The reparameterisation trick: z = mu + s * eps has dL/dmu = 1 and
 * dL/ds = eps for L = sum(z); eps of the same call is (L - sum(mu)) / s
 * when every s is the same, which the loss reports. */
START_TEST(reparameterisation_trick) {
  exprc_model *m = tu_compile("param mu[5]\nparam s\n"
                              "eps = normal(0, 1, [5])\n"
                              "L = sum(mu + s * eps)\ngrad L wrt mu, s\n");
  tu_set(m, "mu", (double[]){1, 2, 3, 4, 5}, 1, (int64_t)5);
  tu_set(m, "s", (double[]){2}, 0);
  for (int call = 0; call < 3; call++) {
    exprc_tensor gm = tu_grad(m, "L", "mu");
    tu_assert_close(gm.data, (double[]){1, 1, 1, 1, 1}, 5, 0, "dL/dmu");
    exprc_tensor gs = tu_grad(m, "L", "s");
    double sum_eps = (last_loss(m, "L") - 15) / 2;
    ck_assert_double_eq_tol(gs.data[0], sum_eps, 1e-12);
  }
  exprc_free(m);
}
END_TEST

/* Dropout: y = x * mask / keep. In one call, the gradient of sum(y * w)
 * with respect to x is mask * w / keep: 0 or w / keep, and it is 0 exactly
 * where y is 0. About half the elements are kept. */
START_TEST(dropout) {
  exprc_model *m = tu_compile(
      "input x[1000]\nparam w[1000]\nconst keep = 0.5\n"
      "y = x * bernoulli(keep + 0 * x) / keep\n"
      "L = sum(y * w)\ngrad L wrt x\n");
  double *x = malloc(1000 * sizeof *x), *w = malloc(1000 * sizeof *w);
  for (int i = 0; i < 1000; i++)
    x[i] = 1 + i, w[i] = 1;
  tu_set(m, "x", x, 1, (int64_t)1000);
  tu_set(m, "w", w, 1, (int64_t)1000);
  exprc_tensor g = tu_grad(m, "L", "x");
  double kept = 0, from_grad = 0;
  for (int i = 0; i < 1000; i++) {
    ck_assert(g.data[i] == 0 || g.data[i] == 2);
    kept += g.data[i] / 2;
    from_grad += g.data[i] * x[i]; /* = L when the masks are the same */
  }
  ck_assert_double_eq_tol(from_grad, last_loss(m, "L"), 1e-9);
  within(kept / 1000, 0.5, sqrt(0.25 / 1000), "kept fraction");
  free(x);
  free(w);
  exprc_free(m);
}
END_TEST

/* exprc_seed_draws restarts the draws and leaves the params alone; with
 * it, the gradient of a stochastic loss (dropout, a reparameterised
 * sample) checks against finite differences taken with the same draws
 * (tu_gradcheck reseeds before every evaluation). */
START_TEST(seed_draws_gives_common_random_numbers) {
  exprc_model *m = tu_compile(
      "input x[6]\nparam w[6] ~ normal(0, 1)\nparam mu\nparam s\n"
      "h = tanh(x * w) * bernoulli(0.6 + 0 * x) / 0.6\n"
      "z = mu + s * normal(0, 1, [6])\n"
      "L = sum(h * z * z)\ngrad L wrt w, mu, s, x\n");
  tu_set(m, "x", (double[]){.1, -.2, .3, .4, -.5, .6}, 1, (int64_t)6);
  tu_set(m, "mu", (double[]){0.3}, 0);
  tu_set(m, "s", (double[]){1.5}, 0);
  exprc_tensor w;
  ck_assert(exprc_find(m, "w", &w) == EXPRC_OK);
  double *w0 = copy(w);
  ck_assert(exprc_seed_draws(m, 9) == EXPRC_OK);
  double l1 = (tu_grad(m, "L", "w"), last_loss(m, "L"));
  double l2 = (tu_grad(m, "L", "w"), last_loss(m, "L"));
  ck_assert_msg(l1 != l2, "two calls drew alike");
  ck_assert(exprc_seed_draws(m, 9) == EXPRC_OK);
  ck_assert_double_eq(l1, (tu_grad(m, "L", "w"), last_loss(m, "L")));
  ck_assert_msg(same(w0, w.data, 6), "exprc_seed_draws changed a param");
  tu_gradcheck(m, "L", 1e-6);
  free(w0);
  exprc_free(m);
}
END_TEST

/* `exprc gradcheck` takes every difference with the same draws, so a
 * stochastic loss checks; without that, the dropout mask of each
 * evaluation would differ and no difference would mean anything. */
START_TEST(gradcheck_command_on_a_stochastic_loss) {
  char *path = tu_temp_file(
      "input x[8]\nparam w[8] ~ normal(0, 1)\n"
      "h = tanh(x * w) * bernoulli(0.5 + 0 * x) / 0.5\n"
      "L = sum(h * h) + sum(w * normal(0, 1, [8]))\ngrad L wrt w\n",
      ".expr");
  char cmd[4096], *out = NULL, *err = NULL;
  snprintf(cmd, sizeof cmd, "'%s' gradcheck '%s' --set x=[1,2,3,4,5,6,7,8]",
           tu_exprc(), path);
  int rc = tu_run(cmd, &out, &err);
  ck_assert_msg(rc == 0, "%s: exit %d\n%s%s", cmd, rc, out, err);
  ck_assert_msg(strstr(out, "8 passed, 0 at a kink, 0 failed"), "%s", out);
  free(out);
  free(err);
  remove(path);
  free(path);
}
END_TEST

/* normal and uniform are still the params' initializers. */
START_TEST(initializers_still_work) {
  exprc_model *m = tu_compile("param w[2000] ~ normal(1, 0.5)\n"
                              "param u[3] ~ uniform(4, 5)\n"
                              "output y = sum(w) + sum(u)\n");
  exprc_tensor w, u;
  ck_assert(exprc_find(m, "w", &w) == EXPRC_OK);
  ck_assert(exprc_find(m, "u", &u) == EXPRC_OK);
  double mean, var;
  moments(w.data, 2000, &mean, &var);
  within(mean, 1, 0.5 / sqrt(2000), "initializer mean");
  for (int i = 0; i < 3; i++)
    ck_assert(u.data[i] >= 4 && u.data[i] < 5);
  exprc_free(m);
}
END_TEST

START_TEST(mistakes) {
  exprc_status st;
  const char *msg =
      tu_compile_error("input m[3]\noutput z = normal(m, 1, [4])\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_SHAPE);
  ck_assert_msg(strstr(msg, "does not broadcast"), "%s", msg);
  msg = tu_compile_error("output z = uniform(0, 1, [0])\n", &st);
  ck_assert_msg(strstr(msg, "a size"), "%s", msg);
  msg = tu_compile_error("output z = normal(0, 1)\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_SYNTAX);
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv); /* the exprc command, for gradcheck */
  Suite *s = suite_create("random_ops");
  TCase *t = tu_tcase("draws", 120);
  tcase_add_test(t, normal_has_its_mean_and_variance);
  tcase_add_test(t, uniform_has_its_range_mean_and_variance);
  tcase_add_test(t, bernoulli_is_zero_or_one_with_probability_p);
  tcase_add_test(t, parameters_broadcast);
  tcase_add_test(t, fresh_every_call_and_reproducible_by_seed);
  tcase_add_test(t, each_draw_is_its_own);
  tcase_add_test(t, shape_with_a_dim);
  tcase_add_test(t, draws_are_constants_to_differentiation);
  tcase_add_test(t, reparameterisation_trick);
  tcase_add_test(t, dropout);
  tcase_add_test(t, seed_draws_gives_common_random_numbers);
  tcase_add_test(t, gradcheck_command_on_a_stochastic_loss);
  tcase_add_test(t, initializers_still_work);
  tcase_add_test(t, mistakes);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
