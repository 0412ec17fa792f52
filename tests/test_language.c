/* test_language.c: the operators added for the whole language (reductions
 * max, min and logsumexp, softmax and log_softmax, indexing and slicing,
 * reshape, dot), their stability at extreme logits, `dim` sizes bound at call
 * time, and tensors read from and written to files.
 *
 * Values are checked against numbers computed here in plain C; gradients
 * against central finite differences, or by hand where finite differences
 * are undefined (ties).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static const double X34[12] = {0.3, -1.2, 2.5,  0.7,  1.1, 0.4,
                               -0.8, 2.2, -0.1, 1.9, -2.4, 0.6};

/* A model with input x[3,4] and output `out`, with x set to X34. */
static exprc_model *with_x34(const char *body) {
  char src[2048];
  snprintf(src, sizeof src, "input x[3, 4]\n%s\n", body);
  exprc_model *m = tu_compile(src);
  tu_set(m, "x", X34, 2, (int64_t)3, (int64_t)4);
  return m;
}

static double max_of(const double *v, int n, int stride) {
  double r = -INFINITY;
  for (int i = 0; i < n; i++)
    r = fmax(r, v[i * stride]);
  return r;
}

static double lse_of(const double *v, int n, int stride) {
  double m = max_of(v, n, stride), s = 0;
  for (int i = 0; i < n; i++)
    s += exp(v[i * stride] - m);
  return m + log(s);
}

/* max, min and logsumexp over every axis, over axis 0 and over axis -1. */
START_TEST(reductions_match_plain_c) {
  exprc_model *m = with_x34("output a = max(x), b = min(x, 0), c = logsumexp(x, -1)\n"
                            "output d = logsumexp(x), e = max(x, -2)");
  exprc_tensor a = tu_output(m, "a"), b = tu_output(m, "b"),
               c = tu_output(m, "c"), d = tu_output(m, "d"),
               e = tu_output(m, "e");
  ck_assert_double_eq(a.data[0], 2.5);
  double bmin[4], cl[3], emax[4];
  for (int j = 0; j < 4; j++) {
    bmin[j] = -max_of((double[]){-X34[j], -X34[4 + j], -X34[8 + j]}, 3, 1);
    emax[j] = max_of(X34 + j, 3, 4);
  }
  for (int i = 0; i < 3; i++)
    cl[i] = lse_of(X34 + 4 * i, 4, 1);
  tu_assert_close(b.data, bmin, 4, 0, "min(x, 0)");
  tu_assert_close(c.data, cl, 3, 1e-14, "logsumexp(x, -1)");
  tu_assert_close(e.data, emax, 4, 0, "max(x, -2)");
  double all = lse_of(X34, 12, 1);
  tu_assert_close(d.data, &all, 1, 1e-14, "logsumexp(x)");
  exprc_free(m);
}
END_TEST

/* Their gradients, through a loss that weights every result differently. */
START_TEST(reduction_gradients_match_finite_differences) {
  exprc_model *m = with_x34(
      "w = [[1, -2, 3, 0.5], [2, 1, -1, 1], [0.3, 0.2, 0.1, -4]]\n"
      "loss = sum(max(x * w, 1) * [1, 2, 3]) + sum(min(x * w, -2) * [1, -1, 2, 3]) +\n"
      "  logsumexp(x * w) + sum(logsumexp(x, 0) * [1, 2, 3, 4]) + max(x * w)\n"
      "grad loss wrt x");
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* Ties: the gradient of max is split evenly among the elements equal to it;
 * finite differences are undefined there, so the values are by hand. */
START_TEST(max_and_min_split_ties_evenly) {
  exprc_model *m = tu_compile("input v[5]\n"
                              "loss = max(v) + 10 * min(v)\n"
                              "grad loss wrt v");
  double v[5] = {3, 1, 3, 1, 3};
  tu_set(m, "v", v, 1, (int64_t)5);
  exprc_tensor g = tu_grad(m, "loss", "v");
  double want[5] = {1.0 / 3, 5, 1.0 / 3, 5, 1.0 / 3};
  tu_assert_close(g.data, want, 5, 1e-15, "d(max + 10 min)/dv");
  exprc_free(m);
}
END_TEST

/* softmax along the default last axis and along axis 0; log_softmax. */
START_TEST(normalisers_match_plain_c) {
  exprc_model *m = with_x34("output s = softmax(x), t = softmax(x, 0), "
                            "l = log_softmax(x), k = log_softmax(x, -2)");
  exprc_tensor s = tu_output(m, "s"), t = tu_output(m, "t"),
               l = tu_output(m, "l"), k = tu_output(m, "k");
  double ws[12], wt[12], wl[12], wk[12];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) {
      double row = lse_of(X34 + 4 * i, 4, 1), col = lse_of(X34 + j, 3, 4);
      wl[4 * i + j] = X34[4 * i + j] - row;
      ws[4 * i + j] = exp(wl[4 * i + j]);
      wk[4 * i + j] = X34[4 * i + j] - col;
      wt[4 * i + j] = exp(wk[4 * i + j]);
    }
  tu_assert_close(s.data, ws, 12, 1e-14, "softmax(x)");
  tu_assert_close(t.data, wt, 12, 1e-14, "softmax(x, 0)");
  tu_assert_close(l.data, wl, 12, 1e-14, "log_softmax(x)");
  tu_assert_close(k.data, wk, 12, 1e-14, "log_softmax(x, -2)");
  exprc_free(m);
}
END_TEST

START_TEST(normaliser_gradients_match_finite_differences) {
  exprc_model *m = with_x34(
      "w = [[1, -2, 3, 0.5], [2, 1, -1, 1], [0.3, 0.2, 0.1, -4]]\n"
      "loss = sum(softmax(x) * w) + sum(log_softmax(x, 0) * w) +\n"
      "  sum(softmax(x * 2, -2)^2)\n"
      "grad loss wrt x");
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* Indexing: integers drop an axis, slices keep it, negative values count
 * from the end, omitted axes are whole. */
START_TEST(indexing_and_slicing_follow_numpy) {
  exprc_model *m = with_x34("output a = x[1], b = x[:, 2], c = x[-1, 1:3], "
                            "d = x[1:, -2:], e = x[0, 0], f = x[:-1]");
  exprc_tensor a = tu_output(m, "a"), b = tu_output(m, "b"),
               c = tu_output(m, "c"), d = tu_output(m, "d"),
               e = tu_output(m, "e"), f = tu_output(m, "f");
  tu_assert_shape(&a, 1, 4);
  tu_assert_close(a.data, X34 + 4, 4, 0, "x[1]");
  tu_assert_shape(&b, 1, 3);
  tu_assert_close(b.data, (double[]){X34[2], X34[6], X34[10]}, 3, 0, "x[:, 2]");
  tu_assert_close(c.data, X34 + 9, 2, 0, "x[-1, 1:3]");
  tu_assert_shape(&d, 2, 2, 2);
  tu_assert_close(d.data, (double[]){X34[6], X34[7], X34[10], X34[11]}, 4, 0,
                  "x[1:, -2:]");
  tu_assert_shape(&e, 0);
  ck_assert_double_eq(e.data[0], X34[0]);
  tu_assert_shape(&f, 2, 2, 4);
  tu_assert_close(f.data, X34, 8, 0, "x[:-1]");
  exprc_free(m);
}
END_TEST

/* The gradient of a slice puts the incoming gradient back in its window
 * (zeros elsewhere); overlapping slices add up. */
START_TEST(slice_gradients_scatter_into_place) {
  exprc_model *m = with_x34(
      "loss = sum(x[1] * [1, 2, 3, 4]) + sum(x[:, 2:]^2) + x[-1, -1] * x[0, 0]\n"
      "grad loss wrt x");
  tu_gradcheck(m, "loss", 1e-6);
  exprc_tensor g = tu_grad(m, "loss", "x");
  ck_assert_double_eq(g.data[1], 0); /* x[0, 1] is in no slice */
  exprc_free(m);
}
END_TEST

START_TEST(reshape_and_dot) {
  exprc_model *m = with_x34("r = reshape(x, [2, -1])\n"
                            "output r, t = transpose(reshape(x, [6, 2]))\n"
                            "loss = dot(r[0], r[1]) + sum(dot(x, [1, 2, 3, 4]) * [1, -1, 2])\n"
                            "grad loss wrt x");
  exprc_tensor r = tu_output(m, "r"), t = tu_output(m, "t");
  tu_assert_shape(&r, 2, 2, 6);
  tu_assert_close(r.data, X34, 12, 0, "reshape keeps C order");
  tu_assert_shape(&t, 2, 2, 6);
  ck_assert_double_eq(t.data[1], X34[2]); /* t[0,1] = x6x2[1,0] */
  double dot = 0;
  for (int i = 0; i < 6; i++)
    dot += X34[i] * X34[6 + i];
  double rowdot[3];
  for (int i = 0; i < 3; i++)
    rowdot[i] = X34[4 * i] + 2 * X34[4 * i + 1] + 3 * X34[4 * i + 2] + 4 * X34[4 * i + 3];
  double want = dot + rowdot[0] - rowdot[1] + 2 * rowdot[2];
  ck_assert(fabs(tu_scalar(m, "loss") - want) < 1e-13);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* ---- stability: logits of magnitude 1000 ---- */

static const double Z[4] = {1000, -1000, 0, 500};

/* Each stable form, differentiated: values finite and equal to the
 * analytic ones computed here, gradients finite and analytic too. */
START_TEST(stable_forms_stay_finite_at_1000) {
  exprc_model *m = tu_compile(
      "input z[4]\ninput y[4]\n"
      "output lse = logsumexp(z), ce = -sum(y * log(softmax(z)))\n"
      "output ls = log_softmax(z), sm = softmax(z)\n"
      "output sp = softplus(z), sg = sigmoid(z), lsg = log(sigmoid(z))\n"
      "output hand = -sum(y * log(exp(z) / sum(exp(z))))\n"
      "loss = ce + logsumexp(z) + sum(softplus(z)) + sum(log(sigmoid(z)))\n"
      "grad loss wrt z\n");
  double y[4] = {0, 1, 0, 0};
  tu_set(m, "z", Z, 1, (int64_t)4);
  tu_set(m, "y", y, 1, (int64_t)4);
  double lse = 1000 + log1p(exp(-500) + exp(-1000) + exp(-2000));
  ck_assert_double_eq_tol(tu_output(m, "lse").data[0], lse, 1e-12);
  ck_assert_double_eq_tol(tu_output(m, "ce").data[0], 1000 + lse, 1e-9);
  ck_assert_double_eq_tol(tu_output(m, "hand").data[0], 1000 + lse, 1e-9);
  exprc_tensor ls = tu_output(m, "ls"), sm = tu_output(m, "sm"),
               sp = tu_output(m, "sp"), sg = tu_output(m, "sg"),
               lsg = tu_output(m, "lsg");
  for (int i = 0; i < 4; i++) {
    ck_assert(isfinite(ls.data[i]) && isfinite(sm.data[i]));
    ck_assert_double_eq_tol(ls.data[i], Z[i] - lse, 1e-9);
    double spv = Z[i] > 0 ? Z[i] + log1p(exp(-Z[i])) : log1p(exp(Z[i]));
    ck_assert_double_eq_tol(sp.data[i], spv, 1e-12);
    ck_assert_double_eq_tol(sg.data[i], 1 / (1 + exp(-Z[i])), 1e-15);
    ck_assert_double_eq_tol(lsg.data[i], -(Z[i] < 0 ? -Z[i] + log1p(exp(Z[i]))
                                                    : log1p(exp(-Z[i]))), 1e-9);
  }
  /* d/dz: ce -> softmax - y, lse -> softmax, softplus -> sigmoid,
   * log sigmoid -> 1 - sigmoid. */
  exprc_tensor g = tu_grad(m, "loss", "z");
  for (int i = 0; i < 4; i++) {
    double s = exp(Z[i] - lse), sig = 1 / (1 + exp(-Z[i]));
    double want = (s - y[i]) + s + sig + (1 - sig);
    ck_assert_msg(isfinite(g.data[i]), "gradient %d is not finite", i);
    ck_assert_double_eq_tol(g.data[i], want, 1e-12);
  }
  exprc_free(m);
}
END_TEST

/* ---- dims: one compile, any size ---- */

START_TEST(one_compile_serves_every_batch_size) {
  exprc_model *m = tu_compile("dim N\ninput x[N, 2]\nparam w[2] ~ fill(0.5)\n"
                              "loss = sum((x @ w)^2) / N\ngrad loss wrt w\n");
  int64_t sizes[3] = {1, 7, 1000};
  for (int k = 0; k < 3; k++) {
    int64_t n = sizes[k];
    double *x = malloc((size_t)(2 * n) * sizeof *x), sx0 = 0, sx1 = 0, l = 0;
    for (int64_t i = 0; i < n; i++) {
      x[2 * i] = (double)(i % 5) - 2, x[2 * i + 1] = (double)(i % 3) * 0.5;
      double r = 0.5 * x[2 * i] + 0.5 * x[2 * i + 1];
      l += r * r, sx0 += 2 * r * x[2 * i], sx1 += 2 * r * x[2 * i + 1];
    }
    tu_set(m, "x", x, 2, n, (int64_t)2);
    exprc_tensor g = tu_grad(m, "loss", "w");
    ck_assert_double_eq_tol(tu_scalar(m, "loss"), l / (double)n, 1e-12);
    tu_assert_close(g.data, (double[]){sx0 / (double)n, sx1 / (double)n}, 2,
                    1e-12, "dloss/dw");
    free(x);
  }
  exprc_free(m);
}
END_TEST

START_TEST(inconsistent_dims_are_an_error) {
  exprc_model *m = tu_compile("dim N\ninput x[N]\ninput y[N]\n"
                              "output s = sum(x * y)\n");
  double v[3] = {1, 2, 3};
  tu_set(m, "x", v, 1, (int64_t)3);
  int64_t two = 2;
  ck_assert_int_eq(exprc_set(m, "y", v, 1, &two), EXPRC_ERR_SHAPE);
  ck_assert_str_eq(exprc_errmsg(m), "dim N is 3 (from 'x') but 'y' makes it 2");
  exprc_free(m);
}
END_TEST

/* ---- files ---- */

/* Params saved as .npy and read back give the same outputs, to the bit. */
START_TEST(npy_round_trip_is_exact) {
  const char *src = "input x[3]\nparam W[2, 3] ~ normal(0, 1)\nparam b ~ uniform(-1, 1)\n"
                    "output y = tanh(W @ x + b)\n";
  exprc_options o;
  exprc_options_default(&o);
  o.seed = 42;
  exprc_model *a = tu_compile_opts(src, &o), *b = tu_compile(src);
  char dir[] = "/tmp/exprc-npy-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_int_eq(exprc_save_params(a, dir), EXPRC_OK);
  char path[128];
  snprintf(path, sizeof path, "%s/W.npy", dir);
  ck_assert_int_eq(exprc_set_file(b, "W", path), EXPRC_OK);
  snprintf(path, sizeof path, "%s/b.npy", dir);
  ck_assert_int_eq(exprc_set_file(b, "b", path), EXPRC_OK);
  double x[3] = {0.1, -0.2, 0.3};
  tu_set(a, "x", x, 1, (int64_t)3);
  tu_set(b, "x", x, 1, (int64_t)3);
  exprc_tensor ya = tu_output(a, "y"), yb = tu_output(b, "y");
  ck_assert_mem_eq(ya.data, yb.data, 2 * sizeof(double));
  snprintf(path, sizeof path, "%s/W.npy", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/b.npy", dir);
  remove(path);
  rmdir(dir);
  exprc_free(a);
  exprc_free(b);
}
END_TEST

static void write_file(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fwrite(text, 1, n, f);
  fclose(f);
}

/* A CSV table with a header row is [rows, columns]; one column fits a
 * vector; anything else is refused with the file and line named. */
START_TEST(csv_tables_and_their_errors) {
  exprc_model *m = tu_compile("dim N\ninput x[N, 2]\ninput y[N]\noutput s = sum(x) + sum(y)\n");
  write_file("/tmp/exprc-x.csv", "a,b\n1,2\n3, 4\n", 13);
  write_file("/tmp/exprc-y.csv", "10\n20\n", 6);
  ck_assert_int_eq(exprc_set_file(m, "x", "/tmp/exprc-x.csv"), EXPRC_OK);
  ck_assert_int_eq(exprc_set_file(m, "y", "/tmp/exprc-y.csv"), EXPRC_OK);
  ck_assert_double_eq(tu_output(m, "s").data[0], 40);
  write_file("/tmp/exprc-bad.csv", "1,2\n3\n", 6);
  ck_assert_int_eq(exprc_set_file(m, "x", "/tmp/exprc-bad.csv"), EXPRC_ERR_IO);
  ck_assert_str_eq(exprc_errmsg(m),
                   "/tmp/exprc-bad.csv:2:2: error: 1 field where earlier rows have 2");
  static const char npy[] = "\x93NUMPY\x01\x00\x44\x00{'descr': '<u2', "
                           "'fortran_order': False, 'shape': (2,), }          \n";
  write_file("/tmp/exprc-bad.npy", npy, sizeof npy - 1);
  ck_assert_int_eq(exprc_set_file(m, "y", "/tmp/exprc-bad.npy"), EXPRC_ERR_IO);
  ck_assert_str_eq(exprc_errmsg(m), "/tmp/exprc-bad.npy: .npy dtype '<u2' is "
                   "not supported; save it as float64 ('<f8'), float32 ('<f4'), "
                   "int64 ('<i8') or int32 ('<i4')");
  remove("/tmp/exprc-x.csv");
  remove("/tmp/exprc-y.csv");
  remove("/tmp/exprc-bad.csv");
  remove("/tmp/exprc-bad.npy");
  exprc_free(m);
}
END_TEST

/* ---- errors, located at the token at fault ---- */

START_TEST(language_errors_are_located) {
  tu_expect_error("input x[3, 4]\noutput y = x[5]\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:14: error: an index must be a whole number from "
                  "-3 to 2, not 5", "5]");
  tu_expect_error("dim N\ninput x[N, 4]\noutput y = x[1:2]\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:16: error: index 1 may be outside this axis, "
                  "whose size [N] can be as small as 1", "2]");
  tu_expect_error("input x[3, 4]\noutput y = x[::0]\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:16: error: slice step cannot be zero", "0]");
  tu_expect_error("input x[3, 4]\noutput y = x[0, 1, 2]\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:13: error: 3 indices for a tensor of rank 2",
                  "[0, 1, 2]");
  tu_expect_error("input x[300]\noutput y = hessian(sum(x)^2, x)\n",
                  EXPRC_ERR_LIMIT,
                  "test.expr:2:30: error: hessian is for up to 256 "
                  "constant-sized elements; use a Hessian-vector product "
                  "grad(sum(grad(e, v) * u), v)", "x)");
  tu_expect_error("input x[3]\noutput y = softmax(x, 1)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:23: error: axis must be a whole number from -1 "
                  "to 0, not 1", "1)");
  tu_expect_error("input x[3]\noutput y = logsumexp(x, 0, 1, 1)\n",
                  EXPRC_ERR_SYNTAX,
                  "test.expr:2:12: error: 'logsumexp' takes 1 to 3 arguments, "
                  "not 4", "logsumexp(");
  tu_expect_error("input x[3]\noutput y = x[1:2:3:4]\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:19: error: expected ',' or ']', found ':'", ":4]");
}
END_TEST

int main(void) {
  Suite *s = suite_create("language");
  TCase *ops = tcase_create("operators");
  tcase_add_test(ops, reductions_match_plain_c);
  tcase_add_test(ops, reduction_gradients_match_finite_differences);
  tcase_add_test(ops, max_and_min_split_ties_evenly);
  tcase_add_test(ops, normalisers_match_plain_c);
  tcase_add_test(ops, normaliser_gradients_match_finite_differences);
  tcase_add_test(ops, indexing_and_slicing_follow_numpy);
  tcase_add_test(ops, slice_gradients_scatter_into_place);
  tcase_add_test(ops, reshape_and_dot);
  suite_add_tcase(s, ops);
  TCase *num = tcase_create("stability");
  tcase_add_test(num, stable_forms_stay_finite_at_1000);
  suite_add_tcase(s, num);
  TCase *dims = tcase_create("dims and files");
  tcase_add_test(dims, one_compile_serves_every_batch_size);
  tcase_add_test(dims, inconsistent_dims_are_an_error);
  tcase_add_test(dims, npy_round_trip_is_exact);
  tcase_add_test(dims, csv_tables_and_their_errors);
  tcase_add_test(dims, language_errors_are_located);
  suite_add_tcase(s, dims);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
