/* test_wrong_numbers.c: every model that once gave wrong numbers, with the
 * right numbers derived by hand.
 *
 * Each case is a small model, the values it is run at, and the exact
 * answer worked out on paper (the derivation is in the comment above it).
 * Each is compiled under every memory-plan variant (the default, --no-fuse,
 * --no-reuse, --remat, two threads, and without the simplifier), since the
 * bugs lived in the simplifier's movement folding and in the planner's
 * rematerialization, and each variant must give the same answer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct Variant {
  const char *name;
  exprc_options o;
} Variant;

static int nvariants(void) { return 6; }

static Variant variant(int k) {
  Variant v = {"default", {0}};
  exprc_options_default(&v.o);
  switch (k) {
  case 1: v.name = "--no-fuse", v.o.no_fuse = 1; break;
  case 2: v.name = "--no-reuse", v.o.no_reuse = 1; break;
  case 3: v.name = "--remat", v.o.remat = 1; break;
  case 4: v.name = "--threads 2", v.o.threads = 2; break;
  case 5: v.name = "--no-simplify", v.o.no_simplify = 1; break;
  default: break;
  }
  return v;
}

/* A value to set: name, rank, sizes, then the data. */
typedef struct Set {
  const char *name;
  int rank;
  int64_t shape[4];
  double v[16];
} Set;

static exprc_model *compile_and_set(const char *src, int k, const Set *sets,
                                    int nsets) {
  Variant var = variant(k);
  exprc_model *m = tu_compile_opts(src, &var.o);
  for (int i = 0; i < nsets; i++)
    ck_assert_msg(exprc_set(m, sets[i].name, sets[i].v, sets[i].rank,
                            sets[i].shape) == EXPRC_OK,
                  "%s: %s", var.name, exprc_errmsg(m));
  return m;
}

/* Output `name` of src, at `sets`, must be `want` under every variant. */
static void expect_output(const char *src, const Set *sets, int nsets,
                          const char *name, const double *want, int64_t n,
                          double rtol) {
  for (int k = 0; k < nvariants(); k++) {
    exprc_model *m = compile_and_set(src, k, sets, nsets);
    exprc_tensor t = tu_output(m, name);
    char what[256];
    snprintf(what, sizeof what, "%s under %s", name, variant(k).name);
    ck_assert_int_eq(t.size, n);
    tu_assert_close(t.data, want, n, rtol, what);
    exprc_free(m);
  }
}

/* dloss/dwrt of src, at `sets`, must be `want` under every variant; the loss
 * itself must be `loss`. */
static void expect_grad(const char *src, const Set *sets, int nsets,
                        const char *wrt, double loss, const double *want,
                        int64_t n, double rtol) {
  for (int k = 0; k < nvariants(); k++) {
    exprc_model *m = compile_and_set(src, k, sets, nsets);
    exprc_tensor g = tu_grad(m, "L", wrt);
    char what[256];
    snprintf(what, sizeof what, "dL/d%s under %s", wrt, variant(k).name);
    ck_assert_int_eq(g.size, n);
    tu_assert_close(g.data, want, n, rtol, what);
    exprc_tensor l;
    ck_assert(exprc_find(m, "L", &l) == EXPRC_OK ||
              exprc_get(m, EXPRC_LOSS, 0, &l) == EXPRC_OK);
    snprintf(what, sizeof what, "L under %s", variant(k).name);
    tu_assert_close(l.data, &loss, 1, rtol, what);
    exprc_free(m);
  }
}

/* ---- reductions on square shapes (the movement rule) ---- */

/* softmax over the last axis of [[0,0],[5,5]]: each row holds two equal
 * scores, so every probability is 1/2. The reduction's [2] -> [2,1] was
 * broadcast like a [2] (along the other axis), giving 74.2 in one place. */
START_TEST(softmax_of_a_square_matrix_normalises_its_rows) {
  Set a = {"a", 2, {2, 2}, {0, 0, 5, 5}};
  double want[4] = {0.5, 0.5, 0.5, 0.5};
  expect_output("input a[2, 2]\noutput s = softmax(a)\n", &a, 1, "s", want, 4,
                1e-15);
}
END_TEST

/* L = sum_i w_i sum_j a_ij, so dL/da_ij = w_i: the rows of the gradient are
 * w_0 = 1 and w_1 = 10 (it came back transposed, columns 1 and 10). */
START_TEST(gradient_of_a_row_sum_is_not_transposed) {
  Set s[2] = {{"a", 2, {2, 2}, {1, 2, 3, 4}}, {"w", 1, {2}, {1, 10}}};
  double want[4] = {1, 1, 10, 10};
  expect_grad("input a[2, 2]\ninput w[2]\nL = sum(sum(a, 1) * w)\n"
              "grad L wrt a\n",
              s, 2, "a", 1 * 3 + 10 * 7, want, 4, 1e-15);
}
END_TEST

/* softmax over the middle axis of a [2,2,2]: each column of each block is a
 * pair (u, v) -> (1/(1+e^(v-u)), 1/(1+e^(u-v))). The pairs are (1,3),
 * (2,5), (0,4), (1,-2): differences 2, 3, 4, -3. */
START_TEST(softmax_over_the_middle_axis_of_a_cube) {
  Set q = {"q", 3, {2, 2, 2}, {1, 2, 3, 5, 0, 1, 4, -2}};
  double p2 = 1 / (1 + exp(2)), p3 = 1 / (1 + exp(3)), p4 = 1 / (1 + exp(4));
  double want[8] = {p2, p3, 1 - p2, 1 - p3, p4, 1 - p3, 1 - p4, p3};
  expect_output("input q[2, 2, 2]\noutput f = softmax(q, 1)\n", &q, 1, "f",
                want, 8, 1e-15);
}
END_TEST

/* Every reduction over the last axis of a square matrix, differentiated:
 * d/da_ij of sum_i w_i r(a_i.) is w_i dr/da_ij. With rows (1, 2) and
 * (4, 3): sum and mean give w_i and w_i / 2; max picks a_01 and a_10; min
 * picks a_00 and a_11; logsumexp gives w_i softmax(a_i.)_j. */
START_TEST(gradients_of_every_reduction_over_the_last_axis) {
  Set s[2] = {{"a", 2, {2, 2}, {1, 2, 4, 3}}, {"w", 1, {2}, {1, 10}}};
  double e = 1 / (1 + exp(1)); /* softmax of (1, 2) is (e, 1 - e) */
  struct {
    const char *r;
    double loss, want[4];
  } cases[] = {
      {"sum", 3 + 70, {1, 1, 10, 10}},
      {"mean", 1.5 + 35, {0.5, 0.5, 5, 5}},
      {"max", 2 + 40, {0, 1, 10, 0}},
      {"min", 1 + 30, {1, 0, 0, 10}},
      {"logsumexp", 2 + log1p(exp(-1)) + 10 * (4 + log1p(exp(-1))),
       {e, 1 - e, 10 * (1 - e), 10 * e}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char src[256];
    snprintf(src, sizeof src,
             "input a[2, 2]\ninput w[2]\nL = sum(%s(a, 1) * w)\ngrad L wrt a\n",
             cases[i].r);
    tu_set_context(src);
    expect_grad(src, s, 2, "a", cases[i].loss, cases[i].want, 4, 1e-14);
  }
  tu_set_context(NULL);
}
END_TEST

/* The softmax classifier of examples/ with a fixed batch of 3 rows and 3
 * classes (an [N,3] with N = 3 is square): its gradients must match finite
 * differences. */
START_TEST(softmax_mlp_with_a_square_batch_passes_gradcheck) {
  char path[4096];
  snprintf(path, sizeof path, "%s/examples/softmax_mlp.expr", tu_srcroot());
  char *src = tu_read_file(path);
  ck_assert_ptr_nonnull(src);
  char *dim = strstr(src, "\ndim N") + 1;
  ck_assert_ptr_ne(dim, (char *)1);
  memcpy(dim, "#im N", 5); /* N is no longer a dim ... */
  size_t n = strlen(src);
  char *fixed = malloc(n + 32);
  snprintf(fixed, n + 32, "const N = 3\n%s", src); /* ... but the number 3 */
  free(src);
  for (int k = 0; k < nvariants(); k++) {
    Variant v = variant(k);
    exprc_model *m = tu_compile_opts(fixed, &v.o);
    int64_t d[1] = {3};
    tu_randomize(m, 7, -1, 1, d, 1);
    double y[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    tu_set(m, "y", y, 2, 3, 3);
    tu_set_context(v.name);
    tu_gradcheck(m, "loss", 1e-6);
    exprc_free(m);
  }
  tu_set_context(NULL);
  free(fixed);
}
END_TEST

/* ---- rematerialization ---- */

/* L = sum(relu(exp(W))) / 4 with W = 0.5: exp is positive, so
 * dL/dW = exp(0.5) / 4. Remat read the reshape view of exp(W) from a home
 * that was never written. */
START_TEST(remat_through_a_reshape_view) {
  double g = exp(0.5) / 4, want[6] = {g, g, g, g, g, g};
  expect_grad("param W[6] ~ fill(0.5)\n"
              "L = sum(relu(reshape(exp(W), [2, 3]))) * 0.25\ngrad L wrt W\n",
              NULL, 0, "W", 6 * g, want, 6, 1e-15);
  double c = -sin(exp(0.5)) * g, want_cos[6] = {c, c, c, c, c, c};
  expect_grad("param W[6] ~ fill(0.5)\n"
              "L = sum(cos(reshape(exp(W), [2, 3]))) * 0.25\ngrad L wrt W\n",
              NULL, 0, "W", 6 * cos(exp(0.5)) / 4, want_cos, 6, 1e-15);
}
END_TEST

/* max(exp(b)) is exp(3), reached at b_2 only. */
START_TEST(remat_under_a_max_of_a_view) {
  Set b = {"b", 1, {4}, {1, 2, 3, -1}};
  double want[4] = {0, 0, exp(3), 0};
  expect_grad("input b[4]\nL = max(reshape(exp(b), [2, 2]))\ngrad L wrt b\n",
              &b, 1, "b", exp(3), want, 4, 1e-15);
}
END_TEST

/* u = y + 3 = 4: L = 2u + log u = 8 + log 4, dL/dy = 2 + 1/4. */
START_TEST(remat_keeps_the_loss_of_a_view_read_twice) {
  Set y = {"y", 1, {1}, {1}};
  double want[1] = {2.25};
  expect_grad("input y[1]\nu = reshape(y + 3, [1, 1])\nv = log(u)\n"
              "h = u * 2\nL = sum(h) + sum(v)\ngrad L wrt y\n",
              &y, 1, "y", 8 + log(4), want, 1, 1e-15);
}
END_TEST

/* dL/dr_ij = 1 / exp(Y_i0): e^-1 along row 0, e^-3 along row 1, the
 * [2,1] column broadcast over 3 columns (remat read it at [2,3] positions). */
START_TEST(remat_of_a_broadcast_operand) {
  Set s[2] = {{"r", 2, {2, 3}, {1, 2, 3, 4, 5, 6}},
              {"Y", 2, {2, 2}, {1, 2, 3, 4}}};
  double a = exp(-1), b = exp(-3), want[6] = {a, a, a, b, b, b};
  expect_grad("input r[2, 3]\ninput Y[2, 2]\nL = sum(r / exp(Y[:, 0:1]))\n"
              "grad L wrt r\n",
              s, 2, "r", 6 * a + 15 * b, want, 6, 1e-15);
}
END_TEST

/* The Hessian of a constant is 0, so s = (V + [1, 2]) * exp(0 * r) sums to
 * (2 + 3) * 2 = 10 and its gradient in r is 0 (remat recomputed the zero
 * Hessian from a buffer already reused). */
START_TEST(remat_of_a_value_built_from_a_filled_constant) {
  Set s[3] = {{"r", 2, {2, 2}, {1, 2, 3, 4}},
              {"a", 1, {2}, {1, 2}},
              {"V", 1, {1}, {1}}};
  double want[4] = {0, 0, 0, 0};
  expect_grad("input r[2, 2]\ninput a[2]\ninput V[1]\nH = hessian(0.5, a)\n"
              "s = (V + [[1, 2]]) * exp(H * r)\nL = sum(s)\ngrad L wrt r\n",
              s, 3, "r", 10, want, 4, 0);
}
END_TEST

/* ---- constant folding keeps the stable forms ---- */

/* log(1 + exp(810)) = 810 + log1p(exp(-810)) = 810 in doubles;
 * log(sigmoid(-810)) = -softplus(810) = -810; exp(1e-12) - 1 = expm1(1e-12)
 * = 1e-12 + 1e-24/2 + ..., which rounds to 1.0000000000005e-12. Folding
 * exp(810) to infinity first lost all three. */
START_TEST(folding_does_not_bypass_the_stable_rewrites) {
  const char *src =
      "output a = log(1 + exp(810)), b = log(sigmoid(-810)), c = exp(1e-12) - 1\n";
  const char *names[3] = {"a", "b", "c"};
  double want[3] = {810, -810, 1.0000000000005e-12};
  for (int k = 0; k < nvariants() - 1; k++) { /* the simplifier's work, */
    Variant v = variant(k); /* so not under --no-simplify */
    exprc_model *m = tu_compile_opts(src, &v.o);
    for (int i = 0; i < 3; i++) {
      exprc_tensor t = tu_output(m, names[i]);
      ck_assert_msg(t.data[0] == want[i], "%s: %s = %.17g", v.name, names[i],
                    t.data[0]);
    }
    exprc_free(m);
  }
}
END_TEST

/* Constants made of exp and sigmoid still serve where a number is needed:
 * a const, an initializer's argument. */
START_TEST(exp_of_a_constant_is_still_a_constant) {
  const char *src = "const k = exp(1)\nparam w[2] ~ fill(exp(0) * 2)\n"
                    "output o = w * k, z = sigmoid(0) + exp(2)\n";
  double o[2] = {2 * exp(1), 2 * exp(1)}, z = 0.5 + exp(2);
  expect_output(src, NULL, 0, "o", o, 2, 1e-15);
  expect_output(src, NULL, 0, "z", &z, 1, 1e-15);
}
END_TEST

/* ---- memory ---- */

/* The rule for log(exp(z) / b) built log(b) while it still held a pointer
 * into the node array, which building a node may move: a use after free
 * whenever the array grew just then (found by the random tests under
 * MALLOC_PERTURB_ and ASan). k unrelated values before it move the point
 * where the array grows, so some k hit it. y = a - log(b). */
START_TEST(stable_rewrite_survives_a_growing_graph) {
  Set s[2] = {{"a", 1, {2}, {1, 2}}, {"b", 1, {2}, {3, 4}}};
  double want[2] = {1 - log(3), 2 - log(4)};
  for (int k = 0; k < 40; k++) {
    char src[4096] = "input a[2]\ninput b[2]\n";
    for (int i = 1; i <= k; i++)
      snprintf(src + strlen(src), sizeof src - strlen(src),
               "t%d = sin(a) * %d\n", i, i);
    strcat(src, "y = log(exp(a) / b)\noutput y\n");
    exprc_model *m = compile_and_set(src, 0, s, 2);
    tu_assert_close(tu_output(m, "y").data, want, 2, 1e-15, "y");
    exprc_free(m);
  }
}
END_TEST

/* ---- NaN is never hidden ---- */

/* NumPy's maximum(nan, 0) and sign(nan) are nan: relu and sign must not turn
 * a NaN into 0, whether folded at compile time or computed at run time. */
START_TEST(relu_and_sign_of_nan_are_nan) {
  const char *src = "input x[3]\noutput r = relu(x), s = sign(x), "
                    "c = relu(0/0), d = sign(0/0)\n";
  Set x = {"x", 1, {3}, {NAN, -2, 3}};
  for (int k = 0; k < nvariants(); k++) {
    exprc_model *m = compile_and_set(src, k, &x, 1);
    exprc_tensor r = tu_output(m, "r"), s = tu_output(m, "s");
    exprc_tensor c = tu_output(m, "c"), d = tu_output(m, "d");
    ck_assert(isnan(r.data[0]) && r.data[1] == 0 && r.data[2] == 3);
    ck_assert(isnan(s.data[0]) && s.data[1] == -1 && s.data[2] == 1);
    ck_assert(isnan(c.data[0]) && isnan(d.data[0]));
    exprc_free(m);
  }
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  Suite *s = suite_create("wrong_numbers");
  TCase *sq = tu_tcase("square shapes", 120);
  tcase_add_test(sq, softmax_of_a_square_matrix_normalises_its_rows);
  tcase_add_test(sq, gradient_of_a_row_sum_is_not_transposed);
  tcase_add_test(sq, softmax_over_the_middle_axis_of_a_cube);
  tcase_add_test(sq, gradients_of_every_reduction_over_the_last_axis);
  tcase_add_test(sq, softmax_mlp_with_a_square_batch_passes_gradcheck);
  suite_add_tcase(s, sq);
  TCase *re = tu_tcase("rematerialization", 120);
  tcase_add_test(re, remat_through_a_reshape_view);
  tcase_add_test(re, remat_under_a_max_of_a_view);
  tcase_add_test(re, remat_keeps_the_loss_of_a_view_read_twice);
  tcase_add_test(re, remat_of_a_broadcast_operand);
  tcase_add_test(re, remat_of_a_value_built_from_a_filled_constant);
  suite_add_tcase(s, re);
  TCase *fo = tu_tcase("folding", 60);
  tcase_add_test(fo, folding_does_not_bypass_the_stable_rewrites);
  tcase_add_test(fo, exp_of_a_constant_is_still_a_constant);
  suite_add_tcase(s, fo);
  TCase *mem = tu_tcase("memory", 120);
  tcase_add_test(mem, stable_rewrite_survives_a_growing_graph);
  suite_add_tcase(s, mem);
  TCase *nan = tu_tcase("nan", 60);
  tcase_add_test(nan, relu_and_sign_of_nan_are_nan);
  suite_add_tcase(s, nan);
  return tu_run_suite(s);
}
