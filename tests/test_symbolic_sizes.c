/* test_symbolic_sizes.c: sizes made from dims. A shape's size may be a
 * product of dims times a constant plus a constant (N*T, 4*N, N-1):
 * reshape(x, [N*T, -1]) and x[1:] on N rows give them, and they travel
 * through broadcasting checks, buffers, loops, the API's reported shapes
 * and `exprc check`. Where a size is 0 at run time (x[1:] with N = 1) the
 * tensor is empty, as in NumPy.
 *
 * Values are checked against numbers worked out by hand (each says how),
 * and against the reference evaluator (tests/refeval.c); gradients against
 * finite differences (tu_gradcheck), second derivatives through a nested
 * grad whose finite differences are taken the same way.
 * Usage: test_symbolic_sizes EXPRC SOURCE_ROOT (meson passes both).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

/* 1, 2, 3, ... in C order */
static double *counting(int n) {
  static double v[64];
  for (int i = 0; i < n && i < 64; i++)
    v[i] = i + 1;
  return v;
}

/* reshape with dims: [N*T, -1] of x[N, T, 2] keeps the elements in C
 * order, so every reshape here prints 1..2NT; only the shapes differ. */
START_TEST(reshape_with_products_of_dims) {
  exprc_model *m = tu_compile("dim N\ndim T\ninput x[N, T, 2]\n"
                              "output y = reshape(x, [N*T, -1])\n"
                              "output w = reshape(x, [N, T*2])\n"
                              "output r = sum(reshape(x, [2, -1])[1])\n");
  tu_set(m, "x", counting(12), 3, (int64_t)3, (int64_t)2, (int64_t)2);
  exprc_tensor y = tu_output(m, "y"), w = tu_output(m, "w");
  tu_assert_shape(&y, 2, 6, 2);
  tu_assert_shape(&w, 2, 3, 4);
  tu_assert_close(y.data, counting(12), 12, 0, "reshape [N*T, -1]");
  tu_assert_close(w.data, counting(12), 12, 0, "reshape [N, T*2]");
  /* [2, -1] = [2, 6]: row 1 holds 7..12, which sum to 57 */
  ck_assert_double_eq(tu_output(m, "r").data[0], 57);
  /* equal sizes on two axes: N = T = 2 */
  tu_set(m, "x", counting(8), 3, (int64_t)2, (int64_t)2, (int64_t)2);
  y = tu_output(m, "y"), w = tu_output(m, "w");
  tu_assert_shape(&y, 2, 4, 2);
  tu_assert_shape(&w, 2, 2, 4);
  /* [2, -1] = [2, 4]: row 1 holds 5..8, 26 */
  ck_assert_double_eq(tu_output(m, "r").data[0], 26);
  /* and a dim of 1 */
  tu_set(m, "x", counting(2), 3, (int64_t)1, (int64_t)1, (int64_t)2);
  y = tu_output(m, "y");
  tu_assert_shape(&y, 2, 1, 2);
  exprc_free(m);
}
END_TEST

/* reshape(x, [N, 3, 4]) of x[N, 12], as an image batch is unflattened. */
START_TEST(reshape_splits_a_dim_sized_batch) {
  exprc_model *m = tu_compile("dim N\ninput x[N, 12]\n"
                              "img = reshape(x, [N, 3, 4])\n"
                              "output c = sum(img[:, :, 0], 1)\n");
  tu_set(m, "x", counting(24), 2, (int64_t)2, (int64_t)12);
  exprc_tensor c = tu_output(m, "c");
  tu_assert_shape(&c, 1, 2);
  /* row 0 of x is 1..12 as [3, 4]: column 0 is 1, 5, 9 (15); row 1 adds
   * 12 to each: 13, 17, 21 (51) */
  tu_assert_close(c.data, (double[]){15, 51}, 2, 0, "img[:, :, 0]");
  exprc_free(m);
}
END_TEST

/* x[1:] on N rows has N-1; x[1:] - x[:-1] has matching shapes, since the
 * two sizes are the same term. */
START_TEST(slice_of_a_dim_sized_axis) {
  exprc_model *m = tu_compile("dim N\ninput x[N, 4]\n"
                              "output z = x[1:], d = x[1:] - x[:-1]\n"
                              "output s = sum(z), k = mean(x[1:], 0)\n");
  tu_set(m, "x", counting(12), 2, (int64_t)3, (int64_t)4);
  exprc_tensor z = tu_output(m, "z"), d = tu_output(m, "d");
  tu_assert_shape(&z, 2, 2, 4);
  tu_assert_close(z.data, counting(12) + 4, 8, 0, "x[1:]");
  for (int i = 0; i < 8; i++) /* consecutive rows of 1..12 differ by 4 */
    ck_assert_double_eq(d.data[i], 4);
  /* 5 + ... + 12 = 68; the column means of rows 5..8 and 9..12 */
  ck_assert_double_eq(tu_output(m, "s").data[0], 68);
  tu_assert_close(tu_output(m, "k").data, (double[]){7, 8, 9, 10}, 4, 0,
                  "mean(x[1:], 0)");
  exprc_free(m);
}
END_TEST

/* With N = 1, x[1:] is empty: shape [0, 4], and its sum is 0 (NumPy). */
START_TEST(slice_that_is_empty_at_run_time) {
  exprc_model *m = tu_compile("dim N\ninput x[N, 4]\n"
                              "output z = x[1:], s = sum(x[1:] * 3)\n"
                              "output b = x[::-1][1:]\n");
  tu_set(m, "x", counting(4), 2, (int64_t)1, (int64_t)4);
  exprc_tensor z = tu_output(m, "z"), b = tu_output(m, "b");
  tu_assert_shape(&z, 2, 0, 4);
  tu_assert_shape(&b, 2, 0, 4);
  ck_assert_int_eq(z.size, 0);
  ck_assert_double_eq(tu_output(m, "s").data[0], 0);
  /* and back to 2 rows: the sizes follow the dim */
  tu_set(m, "x", counting(8), 2, (int64_t)2, (int64_t)4);
  z = tu_output(m, "z");
  tu_assert_shape(&z, 2, 1, 4);
  /* row 1 is 5..8, times 3: 78 */
  ck_assert_double_eq(tu_output(m, "s").data[0], 78);
  exprc_free(m);
}
END_TEST

/* The API reports a size made of dims as -1 until its dims are bound. */
START_TEST(api_reports_sizes_after_binding) {
  exprc_model *m = tu_compile("dim N\ndim T\ninput x[N, T]\n"
                              "output z = reshape(x[1:], [-1, T])\n"
                              "output f = reshape(x, [N*T])\n");
  exprc_tensor t;
  ck_assert_int_eq(exprc_find(m, "f", &t), EXPRC_OK);
  ck_assert_int_eq(t.shape[0], -1);
  tu_set(m, "x", counting(15), 2, (int64_t)5, (int64_t)3);
  ck_assert_int_eq(exprc_find(m, "f", &t), EXPRC_OK);
  ck_assert_int_eq(t.shape[0], 15);
  ck_assert_int_eq(exprc_find(m, "z", &t), EXPRC_OK);
  ck_assert_int_eq(t.shape[0], 4);
  ck_assert_int_eq(t.shape[1], 3);
  exprc_free(m);
}
END_TEST

/* Gradients through slices and reshapes of dim-sized axes, against finite
 * differences; N = 4 and N = T = 3 (equal sizes on two axes). */
START_TEST(gradients_through_symbolic_sizes) {
  exprc_model *m = tu_compile(
      "dim N\ndim T\ninput x[N, T]\ninput w[T]\n"
      "h = tanh(x[1:] * w - x[:-1])\n"
      "flat = reshape(x * w, [-1])\n"
      "loss = sum(flat * flat[::-1]) + sum(h * h) + sum(flat * 0.5)^2\n"
      "grad loss wrt x, w\n");
  int64_t dims[2][2] = {{4, 3}, {3, 3}};
  for (int k = 0; k < 2; k++) {
    tu_randomize(m, 7 + (unsigned)k, -1, 1, dims[k], 2);
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
}
END_TEST

/* A nested grad: the gradient of sum(g * g), g = d/dx sum(x[1:]^2 x[:-1]),
 * against finite differences of the compiled g (second derivatives). */
START_TEST(second_derivatives_through_slices) {
  exprc_model *m = tu_compile(
      "dim N\ninput x[N]\n"
      "g = grad(sum(x[1:]^2 * x[:-1]), x)\n"
      "L = sum(g * g)\n"
      "output g\ngrad L wrt x\n");
  tu_set(m, "x", (double[]){1, 2, 3}, 1, (int64_t)3);
  /* by hand: f = x1^2 x0 + x2^2 x1, so g = [x1^2, 2 x1 x0 + x2^2, 2 x2 x1]
   * = [4, 4 + 9, 12] at x = [1, 2, 3] */
  tu_assert_close(tu_output(m, "g").data, (double[]){4, 13, 12}, 3, 1e-15,
                  "g");
  tu_gradcheck(m, "L", 1e-6);
  tu_set(m, "x", (double[]){0.5}, 1, (int64_t)1);
  tu_gradcheck(m, "L", 1e-6); /* N = 1: x[1:] is empty, g = 0 */
  ck_assert_double_eq(tu_output(m, "g").data[0], 0);
  exprc_free(m);
}
END_TEST

/* The reference evaluator computes the same values from the syntax tree. */
START_TEST(reference_evaluator_agrees) {
  const char *src = "dim N\ndim T\ninput x[N, T, 2]\n"
                    "a = reshape(x, [N*T, -1])\n"
                    "b = reshape(x[1:], [-1, T*2])\n"
                    "output c = a[1:] * 2 - a[:-1]\n"
                    "output d = b / (1 + sum(a))\n";
  char err[256];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  exprc_model *m = tu_compile(src);
  uint64_t st = 99;
  double x[3 * 3 * 2];
  for (int i = 0; i < 18; i++)
    x[i] = tu_uniform(&st, -2, 2);
  ck_assert_int_eq(ref_set(r, "x", x, 3, (int64_t[]){3, 3, 2}), 0);
  tu_set(m, "x", x, 3, (int64_t)3, (int64_t)3, (int64_t)2);
  const char *names[] = {"c", "d"};
  for (int k = 0; k < 2; k++) {
    RefTensor want;
    ck_assert_int_eq(ref_eval(r, names[k], &want), 0);
    exprc_tensor got = tu_output(m, names[k]);
    ck_assert_int_eq(got.size, want.size);
    ck_assert_int_eq(got.rank, want.rank);
    for (int d = 0; d < got.rank; d++)
      ck_assert_int_eq(got.shape[d], want.shape[d]);
    tu_assert_close(got.data, want.data, got.size, 1e-14, names[k]);
  }
  exprc_free(m);
  ref_free(r);
}
END_TEST

/* Sizes that differ, or that exprc cannot write down, are located errors. */
START_TEST(size_errors_are_located) {
  tu_expect_error("dim N\ninput x[N, 4]\ny = x[2:] + x[1:]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:11: error: shapes [N-2,4] and [N-1,4] do not "
                  "match for '+'", "+ x");
  tu_expect_error("dim N\ndim T\ninput x[N, T]\ny = reshape(x[1:], [-1])\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:4:20: error: the size [T] * [N-1] is not one "
                  "exprc can represent (a product of dims times a constant, "
                  "plus a constant)", "[-1]");
  tu_expect_error("dim N\ninput x[N, 4]\ny = reshape(x[1:], [-1, 8])\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:20: error: cannot infer the size marked -1 "
                  "(the elements of [N-1,4] do not divide into parts of [1,8])",
                  "[-1, 8]");
  tu_expect_error("dim N\ninput x[N, 4]\ny = reshape(x, [N, 3])\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:5: error: cannot reshape [N,4] to [N,3]: "
                  "element counts differ", "reshape");
  tu_expect_error("dim N\ninput x[N, 4]\ny = x[2:5]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:9: error: index 4 may be outside this axis, "
                  "whose size [N] can be as small as 1", "5]");
  tu_expect_error("dim N\ninput x[N, 4]\ny = x[-2:5]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:7: error: a slice of a dim-sized axis counts "
                  "its start from the end it walks from and its stop from the "
                  "other end (x[1:], x[:-1], x[::-1]), so that its length is "
                  "known", "-2:5]");
  tu_expect_error("dim N\ninput x[N, 4]\ny = x[1:][0]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:11: error: index 0 may be outside this axis, "
                  "whose size [N-1] can be as small as 0", "0]");
  tu_expect_error("dim N\ninput x[N, 4]\ny = x[-2]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:7: error: index -2 may be outside this axis, "
                  "whose size [N] can be as small as 1", "-2]");
}
END_TEST

static int exprc_cmd(const char *args, const char *src, char **out) {
  char *path = tu_temp_file(src, ".expr");
  size_t n = strlen(tu_exprc()) + strlen(args) + strlen(path) + 16;
  char *cmd = malloc(n);
  snprintf(cmd, n, "'%s' %s '%s'", tu_exprc(), args, path);
  int rc = tu_run(cmd, out, NULL);
  free(cmd);
  remove(path);
  free(path);
  return rc;
}

/* `exprc check` and `exprc graph` print sizes as they are written. */
START_TEST(check_prints_size_expressions) {
  const char *src = "dim N\ndim T\ninput x[N, T, 4]\n"
                    "y = reshape(x, [N*T, 4])\nz = x[1:]\nv = x[::2]\n"
                    "output y, z, v\n";
  char *out;
  ck_assert_int_eq(exprc_cmd("check", src, &out), 0);
  ck_assert_msg(strstr(out, "value  y [N*T,4]\n") &&
                strstr(out, "value  z [N-1,T,4]\n") &&
                strstr(out, "value  v [(N+1)/2,T,4]\n"), "%s", out);
  free(out);
  ck_assert_int_eq(exprc_cmd("graph", src, &out), 0);
  ck_assert_msg(strstr(out, "[N-1,T,4]") && strstr(out, "[N*T,4]"), "%s", out);
  free(out);
}
END_TEST

/* The standalone header says how to complete D[] with the derived sizes. */
START_TEST(emitted_header_computes_the_sizes) {
  char *h = tu_temp_file("", ".h"), *c = tu_temp_file("", ".c"), args[600];
  snprintf(args, sizeof args, "emit --header '%s' -o '%s'", h, c);
  ck_assert_int_eq(exprc_cmd(args, "dim N\ninput x[N, 2]\noutput y = x[1::2]\n",
                             NULL), 0);
  char *out = tu_read_file(h);
  ck_assert_ptr_nonnull(out);
  /* x[1::2] has floor(N / 2) rows: coef 1, off 0, div 2 */
  ck_assert_msg(strstr(out, "#define XC_NSIZES 65") &&
                strstr(out, "v = 1L * D[0] + 0L; /* N/2 */\n"
                            "  D[64] = v > 0 ? v / 2L : 0;"), "%s", out);
  free(out);
  remove(h);
  remove(c);
  free(h);
  free(c);
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  Suite *s = suite_create("symbolic_sizes");
  TCase *t = tu_tcase("symbolic sizes", 120);
  tcase_add_test(t, reshape_with_products_of_dims);
  tcase_add_test(t, reshape_splits_a_dim_sized_batch);
  tcase_add_test(t, slice_of_a_dim_sized_axis);
  tcase_add_test(t, slice_that_is_empty_at_run_time);
  tcase_add_test(t, api_reports_sizes_after_binding);
  tcase_add_test(t, gradients_through_symbolic_sizes);
  tcase_add_test(t, second_derivatives_through_slices);
  tcase_add_test(t, reference_evaluator_agrees);
  tcase_add_test(t, size_errors_are_located);
  tcase_add_test(t, check_prints_size_expressions);
  tcase_add_test(t, emitted_header_computes_the_sizes);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
