/* test_gather.c: the gathers and integer results of the language: take,
 * take_along_axis, E[ids], one_hot, argmax, argmin, argsort. Values are
 * checked against numbers worked out by hand (each comment says how);
 * gradients against finite differences; the gradient of take is a
 * scatter-add whose own gradient is take again, so nested grad works; an
 * index out of range stops the run with a located EXPRC_ERR_RANGE.
 */
#include <math.h>
#include <string.h>

#include "randmodel.h"
#include "refeval.h"
#include "testutil.h"

static const int64_t ids4[] = {2, 0, 2, -1};

/* E[5, 3] with E[i][j] = 10 i + j: a row's values name the row. */
static void set_table(exprc_model *m) {
  double e[15];
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 3; j++)
      e[3 * i + j] = 10 * i + j;
  tu_set(m, "E", e, 2, 5, 3);
}

START_TEST(take_and_indexing_pick_rows) {
  exprc_model *m = tu_compile("dim N\ninput ids[N] : int\ninput E[5, 3]\n"
                              "output r = E[ids], t = take(E, ids), "
                              "c = take(E, ids, axis=1)[0:1]\n");
  set_table(m);
  int64_t shape[1] = {3};
  ck_assert_int_eq(exprc_set_int64(m, "ids", (const int64_t[]){2, 0, 2}, 1,
                                   shape), EXPRC_OK);
  exprc_tensor r = tu_output(m, "r");
  tu_assert_shape(&r, 2, 3, 3);
  /* rows 2, 0, 2 of E: 20 21 22, 0 1 2, 20 21 22 */
  const double want[] = {20, 21, 22, 0, 1, 2, 20, 21, 22};
  tu_assert_close(r.data, want, 9, 0, "E[ids]");
  exprc_tensor t = tu_output(m, "t");
  tu_assert_close(t.data, want, 9, 0, "take(E, ids)");
  /* columns 2, 0, 2 of E's first row (0 1 2): 2 0 2 */
  exprc_tensor c = tu_output(m, "c");
  tu_assert_shape(&c, 2, 1, 3);
  tu_assert_close(c.data, (const double[]){2, 0, 2}, 3, 0, "take axis 1");
  exprc_free(m);
}
END_TEST

/* Negative ids count from the end, as NumPy's; ids of rank 2 give a
 * result of rank 3 (the table [4, 4] has equal sizes on both axes, so a
 * wrong axis would show). */
START_TEST(take_with_matrix_ids_and_negative_ids) {
  exprc_model *m = tu_compile("input ids[2, 2] : int\ninput E[4, 4]\n"
                              "output r = E[ids], s = E[:, ids]\n");
  double e[16];
  for (int i = 0; i < 16; i++)
    e[i] = i; /* E[i][j] = 4 i + j */
  tu_set(m, "E", e, 2, 4, 4);
  int64_t shape[2] = {2, 2};
  ck_assert_int_eq(exprc_set_int64(m, "ids", ids4, 2, shape), EXPRC_OK);
  exprc_tensor r = tu_output(m, "r");
  tu_assert_shape(&r, 3, 2, 2, 4);
  /* rows 2, 0, 2, 3 (-1 is the last) */
  const double rw[] = {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15};
  tu_assert_close(r.data, rw, 16, 0, "E[ids]");
  exprc_tensor s = tu_output(m, "s");
  tu_assert_shape(&s, 3, 4, 2, 2);
  /* row i of s: E[i][2], E[i][0], E[i][2], E[i][3] */
  const double sw[] = {2, 0, 2, 3, 6, 4, 6, 7, 10, 8, 10, 11, 14, 12, 14, 15};
  tu_assert_close(s.data, sw, 16, 0, "E[:, ids]");
  exprc_free(m);
}
END_TEST

/* The gradient of take adds G's rows into zeros of E's shape: with
 * loss = sum(w * E[ids]), dloss/dE[r] = the sum of w's rows whose id is r. */
START_TEST(take_gradient_is_a_scatter_add) {
  exprc_model *m = tu_compile("input ids[4] : int\nparam E[5, 3]\n"
                              "input w[4, 3]\n"
                              "loss = sum(w * E[ids])\ngrad loss wrt E\n");
  int64_t shape[1] = {4};
  ck_assert_int_eq(exprc_set_int64(m, "ids", (const int64_t[]){2, 0, 2, -1},
                                   1, shape), EXPRC_OK);
  double w[12];
  for (int i = 0; i < 12; i++)
    w[i] = i + 1; /* rows 1 2 3, 4 5 6, 7 8 9, 10 11 12 */
  tu_set(m, "w", w, 2, 4, 3);
  set_table(m);
  exprc_tensor g = tu_grad(m, "loss", "E");
  /* row 0: w row 1 (4 5 6); row 2: rows 0 + 2 (8 10 12); row 4: row 3 */
  const double want[] = {4, 5, 6, 0, 0, 0, 8, 10, 12, 0, 0, 0, 10, 11, 12};
  tu_assert_close(g.data, want, 15, 0, "dloss/dE");
  exprc_free(m);
}
END_TEST

START_TEST(gather_gradients_match_finite_differences) {
  exprc_model *m = tu_compile(
      "input ids[3, 2] : int\nparam E[4, 4] ~ normal(0, 1)\n"
      "param A[3, 4] ~ normal(0, 1)\ninput j[3, 2] : int\n"
      "loss = sum(sin(E[ids]) * 2) + sum(exp(take(E, ids, axis=1))) "
      "+ sum(take_along_axis(A, j, 1) ^ 2)\n"
      "grad loss wrt E, A\n");
  int64_t shape[2] = {3, 2};
  ck_assert_int_eq(exprc_set_int64(m, "ids", (const int64_t[]){1, 3, 3, 0, 1, 1},
                                   2, shape), EXPRC_OK);
  ck_assert_int_eq(exprc_set_int64(m, "j", (const int64_t[]){0, 3, 2, 2, -4, 1},
                                   2, shape), EXPRC_OK);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* grad of a gradient through take: loss = sum((E[ids])^3), so
 * dloss/dE = scatter(3 E[ids]^2), and sum(dloss/dE * U) differentiated
 * again gives 6 E[r] U[r] times the count of r in ids:
 * ids = [1, 1, 3], E = 1 everywhere, U[r][j] = r + 1: row 1 gets
 * 6 * 2 * 2 = 24, row 3 gets 6 * 4 = 24, others 0. */
START_TEST(nested_grad_through_take) {
  exprc_model *m = tu_compile(
      "input ids[3] : int\nparam E[4, 2]\ninput U[4, 2]\n"
      "h = sum(grad(sum(E[ids] ^ 3), E) * U)\n"
      "output d2 = grad(h, E)\n");
  int64_t shape[1] = {3};
  exprc_set_int64(m, "ids", (const int64_t[]){1, 1, 3}, 1, shape);
  double e[8], u[8];
  for (int i = 0; i < 8; i++)
    e[i] = 1, u[i] = i / 2 + 1;
  tu_set(m, "E", e, 2, 4, 2);
  tu_set(m, "U", u, 2, 4, 2);
  exprc_tensor d = tu_output(m, "d2");
  const double want[] = {0, 0, 24, 24, 0, 0, 24, 24};
  tu_assert_close(d.data, want, 8, 1e-15, "second derivative");
  exprc_free(m);
}
END_TEST

/* Second derivatives through take_along_axis (its scatter-add's own
 * gradient is take_along_axis again), against finite differences of the
 * first derivative; j repeats a column, so the scatter adds. */
START_TEST(nested_grad_through_take_along_axis) {
  exprc_model *m = tu_compile(
      "input j[3, 2] : int\nparam A[3, 3] ~ normal(0, 1)\ninput U[3, 3]\n"
      "h = sum(grad(sum(take_along_axis(A, j, 1) ^ 3), A) * U)\n"
      "grad h wrt A\n");
  exprc_set_int64(m, "j", (const int64_t[]){0, 0, 2, -1, 1, 0}, 2,
                  (const int64_t[]){3, 2});
  double u[9];
  for (int i = 0; i < 9; i++)
    u[i] = i - 4;
  tu_set(m, "U", u, 2, 3, 3);
  tu_gradcheck(m, "h", 1e-6);
  exprc_free(m);
}
END_TEST

/* take_along_axis picks one element per place (NumPy): along axis 1 of
 * A[i][j] = 10 i + j with j = [[1, 0], [1, 1]] gives [[1, 0], [11, 11]];
 * along axis 0 with [[1, 0]] (broadcast rows) gives [[10, 1]]. */
START_TEST(take_along_axis_values) {
  exprc_model *m = tu_compile("input A[2, 2]\ninput j[2, 2] : int\n"
                              "input k[1, 2] : int\n"
                              "output r = take_along_axis(A, j, 1), "
                              "s = take_along_axis(A, k, axis=0)\n");
  tu_set(m, "A", (const double[]){0, 1, 10, 11}, 2, 2, 2);
  exprc_set_int64(m, "j", (const int64_t[]){1, 0, 1, 1}, 2,
                  (const int64_t[]){2, 2});
  exprc_set_int64(m, "k", (const int64_t[]){1, 0}, 2, (const int64_t[]){1, 2});
  exprc_tensor r = tu_output(m, "r");
  tu_assert_close(r.data, (const double[]){1, 0, 11, 11}, 4, 0, "axis 1");
  exprc_tensor s = tu_output(m, "s");
  tu_assert_shape(&s, 2, 1, 2);
  tu_assert_close(s.data, (const double[]){10, 1}, 2, 0, "axis 0");
  exprc_free(m);
}
END_TEST

/* one_hot: 1 at the id's place; an id outside [0, K) gives zeros. */
START_TEST(one_hot_rows) {
  exprc_model *m = tu_compile("input y[4] : int\n"
                              "output h = one_hot(y, num_classes=3)\n");
  exprc_set_int64(m, "y", (const int64_t[]){2, 0, 5, 1}, 1,
                  (const int64_t[]){4});
  exprc_tensor h = tu_output(m, "h");
  tu_assert_shape(&h, 2, 4, 3);
  const double want[] = {0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0};
  tu_assert_close(h.data, want, 12, 0, "one_hot");
  ck_assert_int_eq(h.dtype, EXPRC_FLOAT64);
  exprc_free(m);
}
END_TEST

/* argmax/argmin: the first of ties, as NumPy; over all axes, an index
 * into the flattened tensor. x = [[1, 3, 3], [5, -1, 5], [0, 0, -2]]. */
START_TEST(argmax_argmin_ties_first) {
  exprc_model *m = tu_compile("input x[3, 3]\n"
                              "output a1 = argmax(x, 1), a0 = argmax(x, axis=0),"
                              " n1 = argmin(x, -1), all = argmax(x), "
                              "low = argmin(x), f = argmax(x, 1) * 0.5\n");
  tu_set(m, "x", (const double[]){1, 3, 3, 5, -1, 5, 0, 0, -2}, 2, 3, 3);
  exprc_tensor t = tu_output(m, "a1");
  ck_assert_int_eq(t.dtype, EXPRC_INT64);
  tu_assert_close(t.data, (const double[]){1, 0, 0}, 3, 0, "argmax axis 1");
  t = tu_output(m, "a0");
  tu_assert_close(t.data, (const double[]){1, 0, 1}, 3, 0, "argmax axis 0");
  t = tu_output(m, "n1");
  tu_assert_close(t.data, (const double[]){0, 1, 2}, 3, 0, "argmin axis 1");
  t = tu_output(m, "all");
  tu_assert_shape(&t, 0);
  ck_assert_double_eq(t.data[0], 3);
  t = tu_output(m, "low");
  ck_assert_double_eq(t.data[0], 8);
  t = tu_output(m, "f"); /* arithmetic on an integer gives a float */
  ck_assert_int_eq(t.dtype, EXPRC_FLOAT64);
  tu_assert_close(t.data, (const double[]){0.5, 0, 0}, 3, 0, "argmax * 0.5");
  exprc_free(m);
}
END_TEST

/* A NaN is the maximum and the minimum (NumPy): its first place wins. */
START_TEST(argmax_of_nan) {
  exprc_model *m = tu_compile("input x[4]\noutput a = argmax(x), b = argmin(x)\n");
  tu_set(m, "x", (const double[]){1, NAN, 7, NAN}, 1, 4);
  ck_assert_double_eq(tu_output(m, "a").data[0], 1);
  ck_assert_double_eq(tu_output(m, "b").data[0], 1);
  exprc_free(m);
}
END_TEST

/* argsort is stable: equal keys keep their order; NaN sorts last.
 * Row 0 (3, 1, 3, 1, 2) sorts to 1 1 2 3 3 at places 1 3 4 0 2. */
START_TEST(argsort_is_stable) {
  exprc_model *m = tu_compile("input x[2, 5]\noutput s = argsort(x), "
                              "c = argsort(x, axis=0)\n");
  tu_set(m, "x", (const double[]){3, 1, 3, 1, 2, NAN, 0, -1, 0, 5}, 2, 2, 5);
  exprc_tensor s = tu_output(m, "s");
  ck_assert_int_eq(s.dtype, EXPRC_INT64);
  const double want[] = {1, 3, 4, 0, 2, 2, 1, 3, 4, 0};
  tu_assert_close(s.data, want, 10, 0, "argsort rows");
  exprc_tensor c = tu_output(m, "c");
  const double wc[] = {0, 1, 1, 1, 0, 1, 0, 0, 0, 1}; /* NaN last */
  tu_assert_close(c.data, wc, 10, 0, "argsort columns");
  exprc_free(m);
}
END_TEST

/* argsort's result indexes: x[argsort(x)] is x sorted. A longer lane
 * (1000) takes the merge sort's every level. */
START_TEST(argsort_sorts_long_lanes) {
  exprc_model *m = tu_compile("input x[1000]\noutput y = x[argsort(x)]\n");
  double x[1000];
  uint64_t st = 7;
  for (int i = 0; i < 1000; i++)
    x[i] = floor(tu_uniform(&st, 0, 50)); /* many ties */
  tu_set(m, "x", x, 1, 1000);
  exprc_tensor y = tu_output(m, "y");
  for (int i = 1; i < 1000; i++)
    ck_assert(y.data[i - 1] <= y.data[i]);
  exprc_free(m);
}
END_TEST

/* An index out of range stops the run: EXPRC_ERR_RANGE, the model line. */
START_TEST(index_out_of_range_is_a_located_error) {
  exprc_model *m = tu_compile("dim N\ninput ids[N] : int\nparam E[5, 3]\n"
                              "h = E[ids]\noutput s = sum(h)\n");
  exprc_set_int64(m, "ids", (const int64_t[]){1, 5, 0}, 1, (const int64_t[]){3});
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_RANGE);
  const char *msg = exprc_errmsg(m);
  const char *want = "test.expr:4:6: error: take: index 5 is out of range "
                     "for an axis of size 5\n   h = E[ids]\n";
  ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "message: %s", msg);
  /* -6 is out of range too; in range again, the model runs */
  exprc_set_int64(m, "ids", (const int64_t[]){-6}, 1, (const int64_t[]){1});
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_RANGE);
  ck_assert(strstr(exprc_errmsg(m), "index -6 is out of range"));
  exprc_set_int64(m, "ids", (const int64_t[]){-5, 4}, 1, (const int64_t[]){2});
  ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  exprc_free(m);
}
END_TEST

/* In the backward pass too (take_along_axis's scatter), and through the
 * gradient entry point. */
START_TEST(range_error_in_gradient_entry) {
  exprc_model *m = tu_compile("input j[2, 1] : int\nparam A[2, 3]\n"
                              "loss = sum(take_along_axis(A, j, 1))\n"
                              "grad loss wrt A\n");
  exprc_set_int64(m, "j", (const int64_t[]){0, 3}, 2, (const int64_t[]){2, 1});
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_ERR_RANGE);
  ck_assert(strstr(exprc_errmsg(m), ":3:12: error: take_along_axis: index 3 "
                                    "is out of range for an axis of size 3"));
  exprc_free(m);
}
END_TEST

START_TEST(float_indices_are_refused) {
  exprc_status st;
  const char *msg = tu_compile_error("input i[2]\ninput E[3, 2]\n"
                                     "output r = take(E, i)\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_SHAPE);
  ck_assert(strstr(msg, "take needs integer indices"));
  msg = tu_compile_error("input i[2] : int\ninput E[3, 2]\n"
                         "output r = E[i, 0]\n", &st);
  ck_assert(strstr(msg, "other axes can only be taken whole"));
  msg = tu_compile_error("input i[2] : int\ninput E[3, 2]\n"
                         "output r = E[i + 1]\n", &st); /* i + 1 is a float */
  ck_assert(strstr(msg, "must be a constant number"));
}
END_TEST

/* The scatter-add runs in index order whatever the thread count: the
 * gradient is the same bits with 1 and with 2 threads, on every run
 * (ids repeat, so rows gather many terms, where order would show). */
START_TEST(scatter_gradient_is_the_same_bits_with_threads) {
  static const char *src = "input ids[20000] : int\nparam E[50, 40] ~ normal(0, 1)\n"
                           "input w[20000, 40]\nloss = sum(w * E[ids] ^ 2)\n"
                           "grad loss wrt E\n";
  static int64_t ids[20000];
  static double w[800000], first[2000];
  uint64_t st = 3;
  for (int i = 0; i < 20000; i++)
    ids[i] = (int64_t)tu_uniform(&st, 0, 50);
  for (int i = 0; i < 800000; i++)
    w[i] = tu_uniform(&st, -1, 1);
  for (int threads = 1; threads <= 2; threads++)
    for (int run = 0; run < 2; run++) {
      exprc_options o;
      exprc_options_default(&o);
      o.threads = threads;
      exprc_model *m = tu_compile_opts(src, &o);
      exprc_set_int64(m, "ids", ids, 1, (const int64_t[]){20000});
      tu_set(m, "w", w, 2, 20000, 40);
      exprc_tensor g = tu_grad(m, "loss", "E");
      if (threads == 1 && run == 0)
        memcpy(first, g.data, sizeof first);
      else
        ck_assert_msg(memcmp(first, g.data, sizeof first) == 0,
                      "threads %d run %d differ", threads, run);
      exprc_free(m);
    }
}
END_TEST

/* The compiled model and the reference evaluator (tests/refeval.c: plain
 * loops from NumPy's definitions, grad by finite differences) agree on
 * every gather, and on grad through them. */
START_TEST(compiler_agrees_with_reference_evaluator) {
  static const char *src =
      "input ids[2, 3] : int\ninput j[3, 2] : int\ninput E[4, 3]\n"
      "input X[3, 3]\n"
      "output a = E[ids], b = take(E, ids, axis=1), c = E[:, j],\n"
      "  d = take_along_axis(X, j, 1), e = take_along_axis(E, ids[0:1, :], 0),\n"
      "  f = one_hot(j, 4), g = argmax(X, 0), h = argmin(X), i = argsort(X),\n"
      "  k = argsort(X, axis=0), l = argmax(E, -1),\n"
      "  gr = grad(sum(sin(E[ids]) * E[ids]) + sum(take_along_axis(E, "
      "ids[0:1, :], 0) ^ 3), E)\n";
  const double ids[6] = {2, 0, -1, 1, 1, -3}, j[6] = {2, 0, 1, 1, -3, 2};
  double e[12], x[9];
  uint64_t st = 11;
  for (int i = 0; i < 12; i++)
    e[i] = tu_uniform(&st, -2, 2);
  for (int i = 0; i < 9; i++)
    x[i] = floor(tu_uniform(&st, 0, 3)); /* ties */
  char err[512];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r != NULL, "%s", err);
  exprc_model *m = tu_compile(src);
  struct { const char *n; const double *v; int rank; int64_t d[2]; } in[] = {
      {"ids", ids, 2, {2, 3}}, {"j", j, 2, {3, 2}}, {"E", e, 2, {4, 3}},
      {"X", x, 2, {3, 3}}};
  for (int k = 0; k < 4; k++) {
    ck_assert_int_eq(ref_set(r, in[k].n, in[k].v, in[k].rank, in[k].d), 0);
    ck_assert_int_eq(exprc_set(m, in[k].n, in[k].v, in[k].rank, in[k].d),
                     EXPRC_OK);
  }
  const char *outs[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "k",
                        "l", "gr"};
  for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
    RefTensor want;
    ck_assert_msg(ref_eval(r, outs[k], &want) == 0, "%s: %s", outs[k],
                  ref_errmsg(r));
    exprc_tensor got = tu_output(m, outs[k]);
    ck_assert_int_eq(got.rank, want.rank);
    for (int d = 0; d < got.rank; d++)
      ck_assert_int_eq(got.shape[d], want.shape[d]);
    tu_assert_close(got.data, want.data, want.size,
                    strcmp(outs[k], "gr") ? 0 : 1e-6, outs[k]);
  }
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* Random models with gathers by integer inputs (tests/randmodel.c with
 * gather_pct): values against the reference evaluator, gradients against
 * its finite differences, and every compile variant to the bit. */
START_TEST(random_models_with_gathers) {
  RandVariant v[4];
  static const char *const names[4] = {"default", "no_simplify", "no_fuse",
                                       "threads=2"};
  for (int k = 0; k < 4; k++) {
    v[k].name = names[k];
    exprc_options_default(&v[k].opt);
    v[k].exact = k >= 2;
  }
  v[1].opt.no_simplify = 1;
  v[2].opt.no_fuse = 1;
  v[3].opt.threads = 2;
  RandOptions o = {.gather_pct = 300};
  int with_ids = 0;
  for (uint64_t seed = 1; seed <= 60; seed++) {
    RandModel rm;
    char why[2048];
    randmodel_make(&rm, seed, &o);
    for (int i = 0; i < rm.nvar; i++)
      with_ids += rm.var[i].int_rows > 0;
    int ok = randmodel_check(&rm, v, 4, why, sizeof why);
    if (!ok)
      randmodel_print(&rm, why, stderr);
    randmodel_free(&rm);
    ck_assert_msg(ok, "random model %llu with gathers disagrees",
                  (unsigned long long)seed);
  }
  ck_assert_msg(with_ids >= 20, "only %d integer inputs in 60 models", with_ids);
}
END_TEST

int main(void) {
  Suite *s = suite_create("gather");
  TCase *t = tu_tcase("gather", 120);
  tcase_add_test(t, take_and_indexing_pick_rows);
  tcase_add_test(t, take_with_matrix_ids_and_negative_ids);
  tcase_add_test(t, take_gradient_is_a_scatter_add);
  tcase_add_test(t, gather_gradients_match_finite_differences);
  tcase_add_test(t, nested_grad_through_take);
  tcase_add_test(t, take_along_axis_values);
  tcase_add_test(t, nested_grad_through_take_along_axis);
  tcase_add_test(t, one_hot_rows);
  tcase_add_test(t, argmax_argmin_ties_first);
  tcase_add_test(t, argmax_of_nan);
  tcase_add_test(t, argsort_is_stable);
  tcase_add_test(t, argsort_sorts_long_lanes);
  tcase_add_test(t, index_out_of_range_is_a_located_error);
  tcase_add_test(t, range_error_in_gradient_entry);
  tcase_add_test(t, float_indices_are_refused);
  tcase_add_test(t, compiler_agrees_with_reference_evaluator);
  tcase_add_test(t, scatter_gradient_is_the_same_bits_with_threads);
  tcase_add_test(t, random_models_with_gathers);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
