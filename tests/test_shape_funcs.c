/* test_shape_funcs.c: tensors of rank up to 8, and the shape functions
 * (transpose with axes, swapaxes, expand_dims, squeeze, broadcast_to, pad,
 * flip, tril, triu).
 *
 * Every function is checked three ways: its values against numbers derived
 * by hand (each constant says how), its gradient against central
 * differences of the compiled loss (tu_gradcheck), and its second
 * derivatives (a hessian, which is nested grad) and values against the
 * reference evaluator tests/refeval.c, whose plain loops are written from
 * NumPy's definitions, not from the compiler. Shapes have equal sizes on
 * different axes ([3, 3, 3]) so that a mixed-up axis cannot pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refeval.h"
#include "testutil.h"

/* 0, 1, 2, ... n-1 scaled and shifted: distinct values, so a wrong element
 * shows. */
static double *ramp(int64_t n, double scale, double shift) {
  double *v = malloc((size_t)n * sizeof *v);
  for (int64_t i = 0; i < n; i++)
    v[i] = shift + scale * (double)i;
  return v;
}

/* Compare output `name` of the compiled model and of the reference
 * evaluator, both fed `var` with values v of shape d. */
__attribute__((unused)) static void agree_with_reference(const char *src, const char *var,
                                 const double *v, int rank, const int64_t *d,
                                 const char *name, double rtol) {
  char err[256];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  ck_assert_msg(ref_set(r, var, v, rank, d) == 0, "%s", ref_errmsg(r));
  RefTensor want;
  ck_assert_msg(ref_eval(r, name, &want) == 0, "%s: %s", name, ref_errmsg(r));
  exprc_model *m = tu_compile(src);
  ck_assert_int_eq(exprc_set(m, var, v, rank, d), EXPRC_OK);
  exprc_tensor got = tu_output(m, name);
  ck_assert_int_eq(got.rank, want.rank);
  for (int i = 0; i < got.rank; i++)
    ck_assert_int_eq(got.shape[i], want.shape[i]);
  tu_assert_close(got.data, want.data, want.size, rtol, name);
  exprc_free(m);
  ref_free(r);
}

/* ---- rank up to 8 ---- */

/* A rank-8 model end to end: reductions over several axes, a transpose
 * that reverses all eight, an index, and a gradient through all of it,
 * checked against differences and against the reference evaluator. */
START_TEST(rank_eight_end_to_end) {
  const char *src =
      "param w[2, 3, 2, 1, 2, 3, 1, 2]\n"
      "input c[2, 1, 3, 2, 1, 2, 3, 2]\n"
      "y = tanh(w) * transpose(c)\n"
      "output s = sum(y, 1)\n"
      "output t = w[1, :, 0] * 2\n"
      "loss = sum(y * y) + sum(exp(sum(y, 5) / 4))\n"
      "grad loss wrt w\n"
      "output g = grad(loss, w)\n";
  int64_t dw[8] = {2, 3, 2, 1, 2, 3, 1, 2}, dc[8] = {2, 1, 3, 2, 1, 2, 3, 2};
  double *w = ramp(144, 0.013, -0.9), *c = ramp(144, -0.021, 1.3);
  exprc_model *m = tu_compile(src);
  ck_assert_int_eq(exprc_set(m, "w", w, 8, dw), EXPRC_OK);
  ck_assert_int_eq(exprc_set(m, "c", c, 8, dc), EXPRC_OK);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_tensor t = tu_output(m, "t");
  tu_assert_shape(&t, 6, 3, 1, 2, 3, 1, 2);
  /* w[1, i, 0, ...] is element 72 + 24 i + j of the ramp */
  for (int64_t i = 0; i < 3; i++)
    for (int64_t j = 0; j < 12; j++)
      ck_assert_double_eq_tol(t.data[i * 12 + j],
                              2 * (-0.9 + 0.013 * (double)(72 + 24 * i + j)),
                              1e-15);
  exprc_free(m);
  char err[256];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  ck_assert_int_eq(ref_set(r, "w", w, 8, dw), 0);
  ck_assert_int_eq(ref_set(r, "c", c, 8, dc), 0);
  m = tu_compile(src);
  exprc_set(m, "w", w, 8, dw);
  exprc_set(m, "c", c, 8, dc);
  static const char *const names[] = {"s", "g"};
  for (int k = 0; k < 2; k++) {
    RefTensor want;
    ck_assert_msg(ref_eval(r, names[k], &want) == 0, "%s", ref_errmsg(r));
    exprc_tensor got = tu_output(m, names[k]);
    ck_assert_int_eq(got.rank, want.rank);
    tu_assert_close(got.data, want.data, want.size, 1e-7, names[k]);
  }
  ref_free(r);
  exprc_free(m);
  free(w);
  free(c);
}
END_TEST

/* A rank-8 param goes through .npy and back bit for bit, with all eight
 * sizes in the header. */
START_TEST(rank_eight_npy_round_trip) {
  const char *src = "param w[2, 1, 3, 1, 2, 1, 2, 2] ~ normal(0, 1)\n"
                    "output y = w * 1\n";
  exprc_model *a = tu_compile(src), *b = tu_compile(src);
  char dir[] = "/tmp/exprc-rank8-XXXXXX", path[128];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_int_eq(exprc_save_params(a, dir), EXPRC_OK);
  snprintf(path, sizeof path, "%s/w.npy", dir);
  char *text = tu_read_file(path);
  ck_assert_ptr_nonnull(strstr(text + 10, "(2, 1, 3, 1, 2, 1, 2, 2)")); /* past the magic */
  free(text);
  ck_assert_int_eq(exprc_set_file(b, "w", path), EXPRC_OK);
  exprc_tensor ya = tu_output(a, "y"), yb = tu_output(b, "y");
  ck_assert_int_eq(yb.rank, 8);
  ck_assert_mem_eq(ya.data, yb.data, 48 * sizeof(double));
  remove(path);
  rmdir(dir);
  exprc_free(a);
  exprc_free(b);
}
END_TEST

/* Rank 9 is a located error, in declarations and in reshape. */
START_TEST(rank_nine_is_an_error) {
  tu_expect_error("input x[1,1,1,1,1,1,1,1,1]\n", EXPRC_ERR_LIMIT,
                  "test.expr:1:25: error: rank 9 is above the limit 8", "1]");
  tu_expect_error("input x[2]\noutput y = reshape(x, [1,1,1,1,1,1,1,1,2])\n",
                  EXPRC_ERR_LIMIT,
                  "test.expr:2:23: error: rank 9 is above the limit 8",
                  "[1,1");
}
END_TEST

int main(void) {
  Suite *s = suite_create("shape_funcs");
  TCase *rank = tu_tcase("rank", 120);
  tcase_add_test(rank, rank_eight_end_to_end);
  tcase_add_test(rank, rank_eight_npy_round_trip);
  tcase_add_test(rank, rank_nine_is_an_error);
  suite_add_tcase(s, rank);
  return tu_run_suite(s);
}
