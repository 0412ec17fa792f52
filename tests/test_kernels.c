/* test_kernels.c: the run-time kernels that replace generated loops:
 * exprc's own tanh (exprc_rt_tanh) and the sum over leading axes
 * (exprc_rt_colsum, and its float32 form), both in runtime/kernels.c, and
 * exp as generated code computes it (scalar.h's xc_exp).
 *
 * Generated code computes every tanh with it: a stored tanh by one call over
 * the whole array (vectorised), a tanh inside an expression one element at
 * a time (scalar.h's xc_tanh). It is checked against numbers from Python's
 * math.tanh (an independent implementation), against libm's tanh over a
 * sweep of magnitudes, at IEEE's special values, and for the property the
 * two paths rely on: one element at a time or an array at a time, at any
 * offset and in place, the same bits, and its float32 form the same bits
 * rounded; then in compiled models, where the
 * whole-array path and the per-element path must agree bit for bit and the
 * gradient must match finite differences. The sums are checked against
 * hand-added numbers, with equal sizes on different axes.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "testutil.h"

/* |a - b| in units in the last place of b. */
static double ulps(double a, double b) {
  if (a == b)
    return 0;
  double u = nextafter(fabs(b), INFINITY) - fabs(b);
  return fabs(a - b) / u;
}

static double rt_tanh(double x) {
  double y;
  exprc_rt_tanh(1, &x, &y);
  return y;
}

/* The loop tests below run once per build of the vectorised kernels (_i: 0
 * plain, 1 AVX2 with FMA, 2 AVX-512), forced by exprc_rt_vec_level_set; a
 * build this processor lacks passes without running (the plain one always
 * runs), and each test ends back at the processor's own. */
static int at_level(int level) {
  return exprc_rt_vec_level_set(level) == 0;
}

static void processor_level(void) {
  exprc_rt_vec_level_set(-1);
}

/* Python 3: repr(math.tanh(x)). */
START_TEST(tanh_matches_pythons_math_tanh) {
  static const double cases[][2] = {
      {0.5, 0.46211715726000974},   {1.0, 0.7615941559557649},
      {-2.0, -0.9640275800758169},  {0.1, 0.09966799462495582},
      {1e-05, 9.999999999666668e-06}, {-7.5, -0.9999993881955461},
      {18.0, 0.9999999999999996}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    double got = rt_tanh(cases[k][0]);
    ck_assert_msg(ulps(got, cases[k][1]) <= 3, "tanh(%g) = %.17g, want %.17g",
                  cases[k][0], got, cases[k][1]);
  }
}
END_TEST

/* Signed zeros keep their sign, tiny values are themselves, |x| >= 22 and
 * the infinities give +-1 exactly (as libm), a NaN stays NaN. */
START_TEST(tanh_at_special_values) {
  if (!at_level(_i))
    return;
  static const double same[] = {0.0, -0.0, 1e-300, -1e-300, 5e-324, -1e-20};
  for (size_t k = 0; k < sizeof same / sizeof same[0]; k++) {
    double got = rt_tanh(same[k]);
    ck_assert_msg(got == same[k] && signbit(got) == signbit(same[k]),
                  "tanh(%g) = %g", same[k], got);
  }
  static const double ones[] = {22.0, 22.5, 1e300, INFINITY, 19.5};
  for (size_t k = 0; k < sizeof ones / sizeof ones[0]; k++) {
    ck_assert_msg(rt_tanh(ones[k]) == 1.0, "tanh(%g)", ones[k]);
    ck_assert_msg(rt_tanh(-ones[k]) == -1.0, "tanh(%g)", -ones[k]);
  }
  ck_assert(isnan(rt_tanh(NAN)));
}
END_TEST

/* 10^-12 to 40 on a log scale, both signs: within 3 ulps of libm's tanh
 * (itself within 1-2 of the true value). */
START_TEST(tanh_within_three_ulps_of_libm) {
  if (!at_level(_i))
    return;
  enum { N = 100003 };
  double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  for (int i = 0; i < N; i++) {
    double e = -12.0 + 13.6 * i / (N - 1); /* log10: 1e-12 .. 40 */
    x[i] = (i % 2 ? -1 : 1) * pow(10.0, e);
  }
  exprc_rt_tanh(N, x, y);
  double worst = 0;
  int at = 0;
  for (int i = 0; i < N; i++)
    if (ulps(y[i], tanh(x[i])) > worst)
      worst = ulps(y[i], tanh(x[i])), at = i;
  ck_assert_msg(worst <= 3, "tanh(%.17g) = %.17g, libm %.17g: %.2f ulps",
                x[at], y[at], tanh(x[at]), worst);
  free(x), free(y);
}
END_TEST

/* One element at a time, arrays of every length from 1 to 19 at every
 * offset from 0 to 3 (the vector loop's body and its remainder), and in
 * place: the same bits. */
START_TEST(tanh_same_bits_whatever_the_array) {
  if (!at_level(_i))
    return;
  enum { N = 24 };
  double x[N], one[N];
  uint64_t s = 7;
  for (int i = 0; i < N; i++) {
    x[i] = tu_uniform(&s, -25.0, 25.0) * (i % 3 ? 1.0 : 0.01);
    one[i] = rt_tanh(x[i]);
  }
  for (int off = 0; off < 4; off++)
    for (int n = 1; off + n <= N && n < 20; n++) {
      double y[N], z[N];
      exprc_rt_tanh(n, x + off, y);
      memcpy(z, x + off, (size_t)n * sizeof *z);
      exprc_rt_tanh(n, z, z);
      ck_assert_msg(memcmp(y, one + off, (size_t)n * sizeof *y) == 0 &&
                        memcmp(z, one + off, (size_t)n * sizeof *z) == 0,
                    "n = %d at offset %d differs from one at a time", n, off);
    }
}
END_TEST

/* The float32 form rounds each double once, in its own vector loop: for
 * arrays of every length from 1 to 19 at offsets 0 to 3 (its body and
 * remainders), each float is the one-element double tanh rounded. */
START_TEST(tanh_f32_is_the_double_rounded) {
  if (!at_level(_i))
    return;
  enum { N = 24 };
  double x[N];
  float want[N];
  uint64_t s = 9;
  for (int i = 0; i < N; i++) {
    x[i] = tu_uniform(&s, -12.0, 12.0) * (i % 4 ? 1.0 : 1e-3);
    want[i] = (float)rt_tanh(x[i]);
  }
  for (int off = 0; off < 4; off++)
    for (int n = 1; off + n <= N && n < 20; n++) {
      float y[N];
      exprc_rt_tanh_f32(n, x + off, y);
      ck_assert_msg(memcmp(y, want + off, (size_t)n * sizeof *y) == 0,
                    "n = %d at offset %d: not the double rounded", n, off);
    }
}
END_TEST

/* The two builds that fuse multiply-adds (AVX2 with FMA, AVX-512) give
 * the same bits, double and float, over arguments of every magnitude from
 * 2^-40 to 2^5, both signs, IEEE's special values, subnormals and the
 * saturation at 22, in arrays whose lengths leave every remainder of the
 * 8-lane loop. (The plain build multiplies and adds apart: the loop tests
 * above hold it to libm.) Runs where the processor has both builds. */
START_TEST(fused_builds_agree_to_the_bit) {
  enum { N = 1 << 16 };
  static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN,
                                   22.0, -22.0, 21.999, 1e300, 5e-324,
                                   -1e-310, 1e-8, -0.5};
  double *x = malloc(N * sizeof *x), *y1 = malloc(N * sizeof *y1);
  double *y = malloc(N * sizeof *y);
  float *f1 = malloc(N * sizeof *f1), *f = malloc(N * sizeof *f);
  uint64_t s = 5;
  for (int i = 0; i < N; i++)
    x[i] = ldexp(tu_uniform(&s, 0.5, 1.0), i % 46 - 40) * (i & 1 ? -1 : 1);
  memcpy(x + 100, special, sizeof special);
  if (at_level(1) && exprc_rt_vec_level_set(2) == 0)
    for (long n = N - 7; n <= N; n++) {
      at_level(1);
      exprc_rt_tanh(n, x, y1);
      exprc_rt_tanh_f32(n, x, f1);
      at_level(2);
      exprc_rt_tanh(n, x, y);
      exprc_rt_tanh_f32(n, x, f);
      ck_assert_msg(memcmp(y, y1, (size_t)n * sizeof *y) == 0 &&
                        memcmp(f, f1, (size_t)n * sizeof *f) == 0,
                    "AVX-512 differs from AVX2 (n = %ld)", n);
    }
  free(x), free(y1), free(y), free(f1), free(f);
}
END_TEST

/* A stored tanh (the whole-array call) and the same tanh inside a loop's
 * expression (with two threads, where the loop is split and tanh is
 * computed per element) give the same bits; both within 3 ulps of libm. */
static const char layer[] =
    "input X[5, 7]\n"
    "param b[7]\n"
    "H = tanh(X * 3 + b)\n"
    "s = sum(H * H)\n"
    "output H, s\n"
    "grad s wrt b\n";

START_TEST(stored_and_inline_tanh_agree) {
  double X[35], b[7];
  uint64_t st = 11;
  for (int i = 0; i < 35; i++)
    X[i] = tu_uniform(&st, -3.0, 3.0);
  for (int i = 0; i < 7; i++)
    b[i] = tu_uniform(&st, -1.0, 1.0);
  double H[2][35], g[2][7];
  for (int t = 0; t < 2; t++) {
    exprc_options o;
    exprc_options_default(&o);
    o.threads = t ? 2 : 1;
    exprc_model *m = tu_compile_opts(layer, &o);
    tu_set(m, "X", X, 2, (int64_t)5, (int64_t)7);
    tu_set(m, "b", b, 1, (int64_t)7);
    memcpy(H[t], tu_output(m, "H").data, sizeof H[t]);
    memcpy(g[t], tu_grad(m, "s", "b").data, sizeof g[t]);
    tu_gradcheck(m, "s", 1e-6);
    exprc_free(m);
  }
  ck_assert(memcmp(H[0], H[1], sizeof H[0]) == 0);
  ck_assert(memcmp(g[0], g[1], sizeof g[0]) == 0);
  for (int i = 0; i < 35; i++) {
    double want = tanh(X[i] * 3 + b[i % 7]);
    ck_assert_msg(ulps(H[0][i], want) <= 3, "H[%d] = %.17g, libm %.17g", i,
                  H[0][i], want);
  }
}
END_TEST

/* X = [[1, 2, 3], [4, 5, 6], [7, 8, 10]]: columns 12, 15, 19, rows 6, 15,
 * 25. Y[i, j, k] = 12 i + 4 j + k: over axis 0, 12 + 2 (4 j + k); over
 * axes 0 and 1 (two leading sums), 3 * 12 + 2 * 4 * (0 + 1 + 2) + 6 k. */
START_TEST(sums_over_leading_axes) {
  exprc_model *m = tu_compile("input X[3, 3]\n"
                              "input Y[2, 3, 4]\n"
                              "output c = sum(X, 0), r = sum(X, 1)\n"
                              "output d = sum(Y, 0), e = sum(sum(Y, 0), 0)\n");
  const double X[9] = {1, 2, 3, 4, 5, 6, 7, 8, 10};
  double Y[24];
  for (int i = 0; i < 24; i++)
    Y[i] = i;
  tu_set(m, "X", X, 2, (int64_t)3, (int64_t)3);
  tu_set(m, "Y", Y, 3, (int64_t)2, (int64_t)3, (int64_t)4);
  const double c[3] = {12, 15, 19}, r[3] = {6, 15, 25};
  const double e[4] = {60, 66, 72, 78};
  double d[12];
  for (int j = 0; j < 3; j++)
    for (int k = 0; k < 4; k++)
      d[j * 4 + k] = 12 + 2 * (4 * j + k);
  tu_assert_close(tu_output(m, "c").data, c, 3, 0, "sum(X, 0)");
  tu_assert_close(tu_output(m, "r").data, r, 3, 0, "sum(X, 1)");
  tu_assert_close(tu_output(m, "d").data, d, 12, 0, "sum(Y, 0)");
  tu_assert_close(tu_output(m, "e").data, e, 4, 0, "sum(sum(Y, 0), 0)");
  exprc_free(m);
}
END_TEST

/* The kernel adds row after row from 0.0, the order of the loop it
 * replaces: on data where the order shows, the bits of that loop. */
START_TEST(colsum_adds_in_row_order) {
  if (!at_level(_i))
    return;
  enum { M = 37, N = 13 };
  double x[M * N], got[N], want[N];
  uint64_t st = 3;
  for (int i = 0; i < M * N; i++)
    x[i] = tu_uniform(&st, -1.0, 1.0) * pow(10.0, (double)(i % 7) * 3);
  for (int j = 0; j < N; j++) {
    want[j] = 0.0;
    for (int i = 0; i < M; i++)
      want[j] += x[i * N + j];
  }
  exprc_rt_colsum(M, N, x, got);
  ck_assert(memcmp(got, want, sizeof got) == 0);
}
END_TEST

/* The float32 sum: float rows added in double from 0.0 in row order, each
 * column rounded to float once: the bits of that loop, over more columns
 * than one block of the kernel's accumulators (256) holds. */
START_TEST(colsum_f32_adds_in_double) {
  if (!at_level(_i))
    return;
  enum { M = 9, N = 300 };
  float x[M * N], got[N], want[N];
  uint64_t st = 4;
  for (int i = 0; i < M * N; i++)
    x[i] = (float)(tu_uniform(&st, -1.0, 1.0) * pow(10.0, (double)(i % 5) * 2));
  for (int j = 0; j < N; j++) {
    double acc = 0.0;
    for (int i = 0; i < M; i++)
      acc += (double)x[i * N + j];
    want[j] = (float)acc;
  }
  exprc_rt_colsum_f32(M, N, x, got);
  ck_assert(memcmp(got, want, sizeof got) == 0);
}
END_TEST

/* exp in generated code skips the call where the result rounds to +0
 * (below about -745.13; the helper's bound is -746): the bits must be
 * libm's everywhere, on both sides of the bound, at -inf and NaN. A
 * causal softmax row (hidden positions at -1e9) is then the softmax of
 * the visible ones, exactly 0 where hidden: [1, e] / (1 + e). */
START_TEST(exp_below_the_subnormals_is_zero_as_in_libm) {
  exprc_model *m = tu_compile("input x[12]\ninput s[4]\n"
                              "output y = exp(x), a = softmax(s)\n");
  const double x[12] = {0, 1, -745.0, -745.13, -745.14, -745.9, -746.0,
                        -746.5, -1e9, -INFINITY, NAN, 709.0};
  const double s[4] = {0, -1e9, 1, -1e9};
  tu_set(m, "x", x, 1, (int64_t)12);
  tu_set(m, "s", s, 1, (int64_t)4);
  const double *y = tu_output(m, "y").data;
  for (int i = 0; i < 12; i++) {
    double want = exp(x[i]);
    ck_assert_msg(memcmp(&y[i], &want, sizeof want) == 0,
                  "exp(%.17g): %.17g, libm %.17g", x[i], y[i], want);
  }
  const double e = exp(1.0), a[4] = {1 / (1 + e), 0, e / (1 + e), 0};
  tu_assert_close(tu_output(m, "a").data, a, 4, 1e-15, "masked softmax");
  exprc_free(m);
}
END_TEST

int main(int argc, char **argv) {
  (void)argc, (void)argv;
  Suite *s = suite_create("kernels");
  TCase *t = tu_tcase("kernels", 120);
  tcase_add_checked_fixture(t, NULL, processor_level);
  tcase_add_test(t, tanh_matches_pythons_math_tanh);
  tcase_add_loop_test(t, tanh_at_special_values, 0, 3);
  tcase_add_loop_test(t, tanh_within_three_ulps_of_libm, 0, 3);
  tcase_add_loop_test(t, tanh_same_bits_whatever_the_array, 0, 3);
  tcase_add_loop_test(t, tanh_f32_is_the_double_rounded, 0, 3);
  tcase_add_test(t, fused_builds_agree_to_the_bit);
  tcase_add_test(t, stored_and_inline_tanh_agree);
  tcase_add_test(t, sums_over_leading_axes);
  tcase_add_loop_test(t, colsum_adds_in_row_order, 0, 3);
  tcase_add_loop_test(t, colsum_f32_adds_in_double, 0, 3);
  tcase_add_test(t, exp_below_the_subnormals_is_zero_as_in_libm);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
