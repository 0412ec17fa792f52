/* test_shapes.c: shapes, from broadcasting to symbolic `dim` sizes.
 *
 * Each shape rule is checked twice: by the shape the compiled model reports
 * for its output, and by its values, which the test computes itself with
 * plain index arithmetic (row-major) from the same random inputs. Shape
 * errors must name both shapes and point at the operator; symbolic dims
 * must give right values for every size they are bound to, in one compiled
 * model, and reject inconsistent sizes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* n random numbers in [-2, 2) from a fixed seed. */
static double *rand_vec(uint64_t seed, int64_t n) {
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  uint64_t s = seed;
  for (int64_t i = 0; i < n; i++)
    v[i] = tu_uniform(&s, -2, 2);
  return v;
}

/* ---- broadcasting ---- */

/* [3,1] + [4] -> [3,4]: y[i][j] = a[i] + b[j]. */
START_TEST(column_plus_row_is_a_table) {
  exprc_model *m = tu_compile("input a[3, 1]\ninput b[4]\noutput y = a + b\n");
  double *a = rand_vec(1, 3), *b = rand_vec(2, 4), want[12];
  tu_set(m, "a", a, 2, (int64_t)3, (int64_t)1);
  tu_set(m, "b", b, 1, (int64_t)4);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++)
      want[i * 4 + j] = a[i] + b[j];
  exprc_tensor y = tu_output(m, "y");
  tu_assert_shape(&y, 2, 3, 4);
  tu_assert_close(y.data, want, 12, 0, "y");
  free(a);
  free(b);
  exprc_free(m);
}
END_TEST

/* [1,3] op [2,1] -> [2,3] (both operands stretch), and a scalar on either
 * side of a tensor: s - x and x / s. */
START_TEST(size_one_dims_and_scalars_stretch) {
  exprc_model *m = tu_compile("input r[1, 3]\ninput c[2, 1]\ninput s\n"
                              "input x[2, 3]\n"
                              "output p = r * c, q = s - x, d = x / s\n");
  double *r = rand_vec(3, 3), *c = rand_vec(4, 2), *x = rand_vec(5, 6);
  double s = 0.75, p[6], q[6], d[6];
  tu_set(m, "r", r, 2, (int64_t)1, (int64_t)3);
  tu_set(m, "c", c, 2, (int64_t)2, (int64_t)1);
  tu_set(m, "s", &s, 0);
  tu_set(m, "x", x, 2, (int64_t)2, (int64_t)3);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) {
      p[i * 3 + j] = r[j] * c[i];
      q[i * 3 + j] = s - x[i * 3 + j];
      d[i * 3 + j] = x[i * 3 + j] / s;
    }
  exprc_tensor t = tu_output(m, "p");
  tu_assert_shape(&t, 2, 2, 3);
  tu_assert_close(t.data, p, 6, 0, "p");
  t = tu_output(m, "q");
  tu_assert_shape(&t, 2, 2, 3);
  tu_assert_close(t.data, q, 6, 0, "q");
  tu_assert_close(tu_output(m, "d").data, d, 6, 0, "d");
  free(r);
  free(c);
  free(x);
  exprc_free(m);
}
END_TEST

/* Rank 4: [2,1,3,1] * [4,1,5] + [5] -> [2,4,3,5]. */
START_TEST(rank_four_broadcast) {
  exprc_model *m = tu_compile("input x[2, 1, 3, 1]\ninput y[4, 1, 5]\n"
                              "input z[5]\noutput w = x * y + z\n");
  double *x = rand_vec(6, 6), *y = rand_vec(7, 20), *z = rand_vec(8, 5);
  double want[120];
  tu_set(m, "x", x, 4, (int64_t)2, (int64_t)1, (int64_t)3, (int64_t)1);
  tu_set(m, "y", y, 3, (int64_t)4, (int64_t)1, (int64_t)5);
  tu_set(m, "z", z, 1, (int64_t)5);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 3; k++)
        for (int l = 0; l < 5; l++)
          want[((i * 4 + j) * 3 + k) * 5 + l] =
              x[i * 3 + k] * y[j * 5 + l] + z[l];
  exprc_tensor w = tu_output(m, "w");
  tu_assert_shape(&w, 4, 2, 4, 3, 5);
  tu_assert_close(w.data, want, 120, 0, "w");
  free(x);
  free(y);
  free(z);
  exprc_free(m);
}
END_TEST

/* ---- matrix products ---- */

/* c[i][j] = sum_k a[i][k] b[k][j] for a m x k, b k x n (row-major). */
static void matmul(const double *a, const double *b, double *c, int m, int k,
                   int n) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int l = 0; l < k; l++)
        s += a[i * k + l] * b[l * n + j];
      c[i * n + j] = s;
    }
}

/* The four forms of @: [2,3]@[3,4] -> [2,4], [2,3]@[3] -> [2],
 * [3]@[3,4] -> [4], [3]@[3] -> []; dot(a, b) is the same product. A vector
 * on either side is the same as a one-row or one-column matrix. */
START_TEST(matmul_four_forms) {
  exprc_model *m = tu_compile(
      "input A[2, 3]\ninput B[3, 4]\ninput u[3]\ninput v[3]\n"
      "output mm = A @ B, mv = A @ u, vm = u @ B, vv = u @ v\n"
      "output d = dot(u, v), dm = dot(A, B)\n");
  double *A = rand_vec(9, 6), *B = rand_vec(10, 12), *u = rand_vec(11, 3);
  double *v = rand_vec(12, 3), mm[8], mv[2], vm[4], vv;
  tu_set(m, "A", A, 2, (int64_t)2, (int64_t)3);
  tu_set(m, "B", B, 2, (int64_t)3, (int64_t)4);
  tu_set(m, "u", u, 1, (int64_t)3);
  tu_set(m, "v", v, 1, (int64_t)3);
  matmul(A, B, mm, 2, 3, 4);
  matmul(A, u, mv, 2, 3, 1);
  matmul(u, B, vm, 1, 3, 4);
  matmul(u, v, &vv, 1, 3, 1);
  exprc_tensor t = tu_output(m, "mm");
  tu_assert_shape(&t, 2, 2, 4);
  tu_assert_close(t.data, mm, 8, 1e-15, "mm");
  t = tu_output(m, "mv");
  tu_assert_shape(&t, 1, 2);
  tu_assert_close(t.data, mv, 2, 1e-15, "mv");
  t = tu_output(m, "vm");
  tu_assert_shape(&t, 1, 4);
  tu_assert_close(t.data, vm, 4, 1e-15, "vm");
  t = tu_output(m, "vv");
  tu_assert_shape(&t, 0);
  tu_assert_close(t.data, &vv, 1, 1e-15, "vv");
  tu_assert_close(tu_output(m, "d").data, &vv, 1, 1e-15, "dot");
  tu_assert_close(tu_output(m, "dm").data, mm, 8, 1e-15, "dot of matrices");
  free(A);
  free(B);
  free(u);
  free(v);
  exprc_free(m);
}
END_TEST

/* Transposed operands of @ (which the generated code reads in place):
 * transpose(B) @ A for B [3,2], A [3,4] is B^T A, [2,4]; and A @ transpose(C)
 * for C [5,4] is A C^T, [3,5]. */
START_TEST(matmul_with_transposed_operands) {
  exprc_model *m = tu_compile("input A[3, 4]\ninput B[3, 2]\ninput C[5, 4]\n"
                              "output p = transpose(B) @ A\n"
                              "output q = A @ transpose(C)\n");
  double *A = rand_vec(13, 12), *B = rand_vec(14, 6), *C = rand_vec(15, 20);
  double Bt[6], Ct[20], p[8], q[15];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      Bt[j * 3 + i] = B[i * 2 + j];
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++)
      Ct[j * 5 + i] = C[i * 4 + j];
  matmul(Bt, A, p, 2, 3, 4);
  matmul(A, Ct, q, 3, 4, 5);
  tu_set(m, "A", A, 2, (int64_t)3, (int64_t)4);
  tu_set(m, "B", B, 2, (int64_t)3, (int64_t)2);
  tu_set(m, "C", C, 2, (int64_t)5, (int64_t)4);
  exprc_tensor t = tu_output(m, "p");
  tu_assert_shape(&t, 2, 2, 4);
  tu_assert_close(t.data, p, 8, 1e-15, "p");
  t = tu_output(m, "q");
  tu_assert_shape(&t, 2, 3, 5);
  tu_assert_close(t.data, q, 15, 1e-15, "q");
  free(A);
  free(B);
  free(C);
  exprc_free(m);
}
END_TEST

/* ---- reductions, transpose, reshape ---- */

/* Sums of x [2,3,4] over each axis, by index arithmetic. */
static void axis_sums(const double *x, double *s0, double *s1, double *s2,
                      double *all) {
  memset(s0, 0, 12 * sizeof *s0);
  memset(s1, 0, 8 * sizeof *s1);
  memset(s2, 0, 6 * sizeof *s2);
  *all = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++) {
        double v = x[(i * 3 + j) * 4 + k];
        s0[j * 4 + k] += v;
        s1[i * 4 + k] += v;
        s2[i * 3 + j] += v;
        *all += v;
      }
}

/* sum and mean over all axes, one axis, or a negative axis (-1 is the
 * last): the axis disappears from the shape. */
START_TEST(sum_and_mean_with_axis) {
  exprc_model *m = tu_compile(
      "input x[2, 3, 4]\n"
      "output a = sum(x), s0 = sum(x, 0), s1 = sum(x, 1), s2 = sum(x, 2)\n"
      "output n1 = sum(x, -1), n3 = sum(x, -3), m = mean(x)\n"
      "output m1 = mean(x, -2), m0 = mean(x, 0)\n");
  double *x = rand_vec(16, 24), s0[12], s1[8], s2[6], all, m1[8], m0[12];
  tu_set(m, "x", x, 3, (int64_t)2, (int64_t)3, (int64_t)4);
  axis_sums(x, s0, s1, s2, &all);
  for (int i = 0; i < 8; i++)
    m1[i] = s1[i] / 3;
  for (int i = 0; i < 12; i++)
    m0[i] = s0[i] / 2;
  double mean = all / 24;
  exprc_tensor t = tu_output(m, "a");
  tu_assert_shape(&t, 0);
  tu_assert_close(t.data, &all, 1, 1e-14, "sum");
  t = tu_output(m, "s0");
  tu_assert_shape(&t, 2, 3, 4);
  tu_assert_close(t.data, s0, 12, 1e-14, "sum axis 0");
  t = tu_output(m, "s1");
  tu_assert_shape(&t, 2, 2, 4);
  tu_assert_close(t.data, s1, 8, 1e-14, "sum axis 1");
  t = tu_output(m, "s2");
  tu_assert_shape(&t, 2, 2, 3);
  tu_assert_close(t.data, s2, 6, 1e-14, "sum axis 2");
  tu_assert_close(tu_output(m, "n1").data, s2, 6, 1e-14, "sum axis -1");
  tu_assert_close(tu_output(m, "n3").data, s0, 12, 1e-14, "sum axis -3");
  tu_assert_close(tu_output(m, "m").data, &mean, 1, 1e-14, "mean");
  t = tu_output(m, "m1");
  tu_assert_shape(&t, 2, 2, 4);
  tu_assert_close(t.data, m1, 8, 1e-14, "mean axis -2");
  tu_assert_close(tu_output(m, "m0").data, m0, 12, 1e-14, "mean axis 0");
  free(x);
  exprc_free(m);
}
END_TEST

/* transpose reverses all axes: [2,3,4] -> [4,3,2] with y[k][j][i] =
 * x[i][j][k]; a vector and a scalar are unchanged. */
START_TEST(transpose_reverses_axes) {
  exprc_model *m = tu_compile("input x[2, 3, 4]\ninput v[3]\ninput s\n"
                              "output t = transpose(x)\n"
                              "output tv = transpose(v), ts = transpose(s)\n");
  double *x = rand_vec(17, 24), *v = rand_vec(18, 3), s = 2.5, want[24];
  tu_set(m, "x", x, 3, (int64_t)2, (int64_t)3, (int64_t)4);
  tu_set(m, "v", v, 1, (int64_t)3);
  tu_set(m, "s", &s, 0);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++)
        want[(k * 3 + j) * 2 + i] = x[(i * 3 + j) * 4 + k];
  exprc_tensor t = tu_output(m, "t");
  tu_assert_shape(&t, 3, 4, 3, 2);
  tu_assert_close(t.data, want, 24, 0, "transpose");
  t = tu_output(m, "tv");
  tu_assert_shape(&t, 1, 3);
  tu_assert_close(t.data, v, 3, 0, "transpose of a vector");
  tu_assert_close(tu_output(m, "ts").data, &s, 1, 0, "transpose of a scalar");
  free(x);
  free(v);
  exprc_free(m);
}
END_TEST

/* reshape keeps the row-major order of the elements; one size may be -1,
 * inferred from the others. */
START_TEST(reshape_keeps_order_and_infers) {
  exprc_model *m = tu_compile(
      "input x[2, 3, 2]\n"
      "output a = reshape(x, [3, 4]), b = reshape(x, [-1])\n"
      "output c = reshape(x * 2, [2, -1, 3]), d = reshape(x, [1, 2, 1, 6])\n");
  double *x = rand_vec(19, 12), twice[12];
  tu_set(m, "x", x, 3, (int64_t)2, (int64_t)3, (int64_t)2);
  for (int i = 0; i < 12; i++)
    twice[i] = 2 * x[i];
  exprc_tensor t = tu_output(m, "a");
  tu_assert_shape(&t, 2, 3, 4);
  tu_assert_close(t.data, x, 12, 0, "a");
  t = tu_output(m, "b");
  tu_assert_shape(&t, 1, 12);
  tu_assert_close(t.data, x, 12, 0, "b");
  t = tu_output(m, "c");
  tu_assert_shape(&t, 3, 2, 2, 3);
  tu_assert_close(t.data, twice, 12, 0, "c");
  t = tu_output(m, "d");
  tu_assert_shape(&t, 4, 1, 2, 1, 6);
  tu_assert_close(t.data, x, 12, 0, "d");
  free(x);
  exprc_free(m);
}
END_TEST

/* ---- shape errors: both shapes named, at the operator ---- */

typedef struct BadShape {
  const char *src, *msg, *at;
} BadShape;

static const BadShape bad[] = {
    {"input a[3]\ninput b[4]\ny = a + b\n",
     "test.expr:3:7: error: shapes [3] and [4] do not match for '+'", "+ b"},
    {"input a[3, 2]\ninput b[3]\ny = (a * 2) * b\n",
     "test.expr:3:13: error: shapes [3,2] and [3] do not match for '*'", "* b"},
    {"input a[2, 3]\ny = transpose(a) + a\n",
     "test.expr:2:18: error: shapes [3,2] and [2,3] do not match for '+'",
     "+ a"},
    {"input a[3, 4]\ninput b[3]\ny = a @ b\n",
     "test.expr:3:7: error: shapes [3,4] and [3] do not match for '@'", "@"},
    {"input a[2, 3]\ninput b[2, 3]\ny = a @ b\n",
     "test.expr:3:7: error: shapes [2,3] and [2,3] do not match for '@'", "@"},
    {"input a[3]\ninput b[4, 2]\ny = 1 + a @ b\n",
     "test.expr:3:11: error: shapes [3] and [4,2] do not match for '@'", "@"},
    /* rank 3 is a batch of products (NumPy matmul): the inner sizes must
       still agree */
    {"input a[2, 3, 4]\ninput b[3]\ny = a @ b\n",
     "test.expr:3:7: error: shapes [2,3,4] and [3] do not match for '@'", "@"},
    {"input a\ninput b[4]\ny = a @ b\n",
     "test.expr:3:7: error: '@' takes vectors and matrices, not [] and [4]",
     "@"},
    {"input a[3]\ninput b[4]\ny = dot(a, b)\n",
     "test.expr:3:5: error: shapes [3] and [4] do not match for 'dot'", "dot"},
    {"input c[3]\ninput a[2]\ninput b[2]\ny = where(c, a, b)\n",
     "test.expr:4:5: error: shapes [3] and [2] do not match for 'where'",
     "where"},
    {"input a[2]\ninput b[3]\ny = maximum(a, b)\n",
     "test.expr:3:5: error: shapes [2] and [3] do not match for 'maximum'",
     "maximum"},
    {"input x[3]\ndef f(u) = u + [1, 2]\ny = f(x)\n",
     "test.expr:2:14: error: shapes [3] and [2] do not match for '+'", "+ ["},
    {"input a[2, 3]\ny = reshape(a, [4])\n",
     "test.expr:2:5: error: cannot reshape [2,3] to [4]: element counts "
     "differ", "reshape"},
    {"input a[2, 3]\ny = reshape(a, [4, -1])\n",
     "test.expr:2:16: error: cannot infer the size marked -1 (the elements "
     "of [2,3] do not divide into parts of [4,1])", "[4"},
    {"input a[2, 3]\ny = reshape(a, [-1, -1])\n",
     "test.expr:2:21: error: sizes are positive; one may be -1 (inferred)",
     "-1]"},
    {"input a\ny = sum(a, 0)\n", "test.expr:2:12: error: a scalar has no axis",
     "0"},
    {"input a[2, 3]\ny = mean(a, -3)\n",
     "test.expr:2:13: error: axis must be a whole number from -2 to 1, not -3",
     "-3"},
    {"dim N, M\ninput a[N]\ninput b[M]\ny = a * b\n",
     "test.expr:4:7: error: shapes [N] and [M] do not match for '*'", "*"},
    {"dim N\ninput a[N]\ninput b[3]\ny = a - b\n",
     "test.expr:4:7: error: shapes [N] and [3] do not match for '-'", "-"},
    {"dim N\ninput a[N, 3]\ninput b[3, 2]\ny = b @ a\n",
     "test.expr:4:7: error: shapes [3,2] and [N,3] do not match for '@'", "@"},
};

START_TEST(shape_errors_name_both_shapes_at_the_operator) {
  tu_expect_error(bad[_i].src, EXPRC_ERR_SHAPE, bad[_i].msg, bad[_i].at);
}
END_TEST

/* ---- symbolic dims ---- */

/* One compiled model, run at N = 1, 7 and 1000 in turn: every output and
 * gradient is right at each size. l = sum(w x^2) / 2, so dl/dw = x^2 / 2
 * and dl/dx = w x. */
static void check_dim_run(exprc_model *m, int64_t n) {
  double *x = rand_vec(20 + (uint64_t)n, n), *w = rand_vec(30 + (uint64_t)n, n);
  double s = 0, mean = 0, l = 0;
  double *y = malloc((size_t)n * sizeof *y), *gw = malloc((size_t)n * sizeof *gw);
  double *gx = malloc((size_t)n * sizeof *gx);
  for (int64_t i = 0; i < n; i++) {
    s += x[i] * w[i];
    mean += x[i] / (double)n;
    l += w[i] * x[i] * x[i] / 2;
    y[i] = 2 * x[i] + 1;
    gw[i] = x[i] * x[i] / 2;
    gx[i] = w[i] * x[i];
  }
  tu_set(m, "x", x, 1, n);
  tu_set(m, "w", w, 1, n);
  exprc_tensor t = tu_output(m, "y");
  tu_assert_shape(&t, 1, (int)n);
  tu_assert_close(t.data, y, n, 0, "y");
  tu_assert_close(tu_output(m, "s").data, &s, 1, 1e-12, "s");
  tu_assert_close(tu_output(m, "m").data, &mean, 1, 1e-12, "m");
  tu_assert_close(tu_grad(m, "l", "w").data, gw, n, 1e-15, "dl/dw");
  tu_assert_close(tu_grad(m, "l", "x").data, gx, n, 1e-15, "dl/dx");
  ck_assert_double_eq_tol(tu_scalar(m, "l"), l, 1e-12 * fmax(1, fabs(l)));
  free(x);
  free(w);
  free(y);
  free(gw);
  free(gx);
}

START_TEST(dim_bound_at_call_time) {
  exprc_model *m = tu_compile("dim N\ninput x[N]\ninput w[N]\n"
                              "output s = sum(x * w), m = mean(x)\n"
                              "output y = x * 2 + 1\n"
                              "l = sum(w * x^2) / 2\ngrad l wrt w, x\n");
  check_dim_run(m, 1);
  check_dim_run(m, 7);
  check_dim_run(m, 1000);
  check_dim_run(m, 7); /* back down: buffers shrink again */
  exprc_free(m);
}
END_TEST

/* A batch of rows: Y = X @ W with X [B,3] and W [3,2] filled with 0.5, so
 * Y[b][j] = 0.5 * (X[b][0] + X[b][1] + X[b][2]), for B = 1, 7, 1000. */
START_TEST(dim_in_a_matrix_product) {
  exprc_model *m = tu_compile("dim B\ninput X[B, 3]\n"
                              "param W[3, 2] ~ fill(0.5)\n"
                              "output Y = X @ W, c = mean(X, 0)\n");
  int64_t sizes[3] = {1, 7, 1000};
  for (int k = 0; k < 3; k++) {
    int64_t b = sizes[k];
    double *X = rand_vec(40 + (uint64_t)k, b * 3);
    double *Y = malloc((size_t)b * 2 * sizeof *Y), c[3] = {0, 0, 0};
    for (int64_t i = 0; i < b; i++) {
      Y[2 * i] = Y[2 * i + 1] = 0.5 * (X[3 * i] + X[3 * i + 1] + X[3 * i + 2]);
      for (int j = 0; j < 3; j++)
        c[j] += X[3 * i + j] / (double)b;
    }
    tu_set(m, "X", X, 2, b, (int64_t)3);
    exprc_tensor t = tu_output(m, "Y");
    tu_assert_shape(&t, 2, (int)b, 2);
    tu_assert_close(t.data, Y, b * 2, 1e-14, "Y");
    tu_assert_close(tu_output(m, "c").data, c, 3, 1e-12, "c");
    free(X);
    free(Y);
  }
  exprc_free(m);
}
END_TEST

/* Within one call, a dim keeps the first size it is bound to: a second
 * input of another size is an error naming both; the failed call changes
 * nothing, so a consistent retry runs. After a run, the dim is free to
 * take another size, and inputs whose size changed must be set again. */
START_TEST(inconsistent_dim_binding_is_an_error) {
  exprc_model *m = tu_compile("dim N\ninput x[N]\ninput w[N]\n"
                              "output s = sum(x * w)\n");
  double v[5] = {1, 2, 3, 4, 5};
  int64_t three = 3, four = 4, five = 5;
  tu_set(m, "x", v, 1, three);
  ck_assert_int_eq(exprc_set(m, "w", v, 1, &four), EXPRC_ERR_SHAPE);
  ck_assert_str_eq(exprc_errmsg(m), "dim N is 3 (from 'x') but 'w' makes it 4");
  tu_set(m, "w", v, 1, three);
  ck_assert_double_eq(tu_output(m, "s").data[0], 1 + 4 + 9);
  tu_set(m, "x", v, 1, five); /* a new call: N = 5 now */
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_STATE);
  ck_assert_str_eq(exprc_errmsg(m), "exprc_forward: input 'w' is not set");
  tu_set(m, "w", v, 1, five);
  ck_assert_double_eq(tu_output(m, "s").data[0], 55);
  ck_assert(exprc_bind_dim(m, "N", 2) == EXPRC_OK);
  ck_assert_int_eq(exprc_set(m, "x", v, 1, &three), EXPRC_ERR_SHAPE);
  ck_assert_str_eq(exprc_errmsg(m),
                   "dim N is 2 (from 'exprc_bind_dim') but 'x' makes it 3");
  exprc_free(m);
}
END_TEST

/* Running before a dim is bound, or giving data of the wrong shape, is an
 * error that says which. */
START_TEST(unbound_dims_and_wrong_data_shapes) {
  exprc_model *m = tu_compile("dim N\ninput x[N]\ninput v[3]\n"
                              "output s = sum(x) + sum(v)\n");
  double d[4] = {1, 2, 3, 4};
  int64_t four = 4, two[2] = {2, 2};
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_STATE);
  ck_assert_str_eq(exprc_errmsg(m),
                   "exprc_forward: dim N is not bound; set an input that uses "
                   "it");
  ck_assert_int_eq(exprc_set(m, "v", d, 1, &four), EXPRC_ERR_SHAPE);
  ck_assert_str_eq(exprc_errmsg(m), "'v' has shape [3]; the data given has [4]");
  ck_assert_int_eq(exprc_set(m, "x", d, 2, two), EXPRC_ERR_SHAPE);
  ck_assert_str_eq(exprc_errmsg(m), "'x' has shape [N]; the data given has [2,2]");
  ck_assert_int_eq(exprc_bind_dim(m, "M", 2), EXPRC_ERR_NAME);
  exprc_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("shapes");
  TCase *tc = tu_tcase("rules", 60);
  tcase_add_test(tc, column_plus_row_is_a_table);
  tcase_add_test(tc, size_one_dims_and_scalars_stretch);
  tcase_add_test(tc, rank_four_broadcast);
  tcase_add_test(tc, matmul_four_forms);
  tcase_add_test(tc, matmul_with_transposed_operands);
  tcase_add_test(tc, sum_and_mean_with_axis);
  tcase_add_test(tc, transpose_reverses_axes);
  tcase_add_test(tc, reshape_keeps_order_and_infers);
  suite_add_tcase(s, tc);
  TCase *errs = tu_tcase("errors", 60);
  tcase_add_loop_test(errs, shape_errors_name_both_shapes_at_the_operator, 0,
                      (int)(sizeof bad / sizeof bad[0]));
  suite_add_tcase(s, errs);
  TCase *dims = tu_tcase("dims", 120);
  tcase_add_test(dims, dim_bound_at_call_time);
  tcase_add_test(dims, dim_in_a_matrix_product);
  tcase_add_test(dims, inconsistent_dim_binding_is_an_error);
  tcase_add_test(dims, unbound_dims_and_wrong_data_shapes);
  suite_add_tcase(s, dims);
  return tu_run_suite(s);
}
