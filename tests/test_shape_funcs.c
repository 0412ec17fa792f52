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

#include "randmodel.h"
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
static void agree_with_reference(const char *src, const char *var,
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


/* ---- values derived by hand ---- */

/* x[i, j, k] = 9i + 3j + k on [3, 3, 3]: equal sizes, so a wrong axis shows
 * in the values. */
static exprc_model *with_ramp333(const char *body) {
  char src[2048];
  snprintf(src, sizeof src, "input x[3, 3, 3]\n%s\n", body);
  exprc_model *m = tu_compile(src);
  double *v = ramp(27, 1, 0);
  tu_set(m, "x", v, 3, (int64_t)3, (int64_t)3, (int64_t)3);
  free(v);
  return m;
}

/* Sums over axes 0 and 2 of 9i + 3j + k: 9 (27 + 9j + ... ) by hand, and
 * with python3 plain loops: [90, 117, 144]; max over axes 0, 1: [24, 25,
 * 26]; mean over 1, 2: [4, 13, 22]. keepdims keeps the axes as 1s. */
START_TEST(reductions_over_several_axes) {
  exprc_model *m = with_ramp333(
      "output a = sum(x, axis=[0, 2])\n"
      "output b = sum(x, [0, 2], keepdims=1)\n"
      "output c = max(x, axis=[0, 1])\n"
      "output d = mean(x, [-1, 1])\n"
      "output e = min(x, keepdims=1)\n"
      "output f = logsumexp(x, axis=[1], keepdims=1)");
  exprc_tensor a = tu_output(m, "a"), b = tu_output(m, "b");
  tu_assert_shape(&a, 1, 3);
  tu_assert_close(a.data, (double[]){90, 117, 144}, 3, 0, "sum axis [0, 2]");
  tu_assert_shape(&b, 3, 1, 3, 1);
  tu_assert_close(b.data, (double[]){90, 117, 144}, 3, 0, "keepdims");
  exprc_tensor c = tu_output(m, "c"), d = tu_output(m, "d");
  tu_assert_close(c.data, (double[]){24, 25, 26}, 3, 0, "max axis [0, 1]");
  tu_assert_close(d.data, (double[]){4, 13, 22}, 3, 0, "mean axis [2, 1]");
  exprc_tensor e = tu_output(m, "e"), f = tu_output(m, "f");
  tu_assert_shape(&e, 3, 1, 1, 1);
  ck_assert_double_eq(e.data[0], 0);
  tu_assert_shape(&f, 3, 3, 1, 3);
  /* logsumexp of 0, 3, 6 = 6 + log(1 + e^-3 + e^-6) */
  ck_assert_double_eq_tol(f.data[0], 6 + log(1 + exp(-3.0) + exp(-6.0)), 1e-14);
  exprc_free(m);
}
END_TEST

/* prod, var, std, norm of [1, 4, 2, 7] (python3 plain code): prod 56, var
 * 5.25, std with ddof=1 sqrt(7) = 2.6457513110645907, norm sqrt(70) =
 * 8.366600265340756. */
START_TEST(prod_var_std_norm_values) {
  exprc_model *m = tu_compile("input v[4]\noutput p = prod(v), a = var(v)\n"
                              "output s = std(v, ddof=1), n = norm(v)\n"
                              "output q = prod(reshape(v, [2, 2]), axis=0)");
  tu_set(m, "v", (double[]){1, 4, 2, 7}, 1, (int64_t)4);
  ck_assert_double_eq(tu_scalar(m, "p"), 56);
  ck_assert_double_eq_tol(tu_scalar(m, "a"), 5.25, 1e-15);
  ck_assert_double_eq_tol(tu_scalar(m, "s"), 2.6457513110645907, 1e-15);
  ck_assert_double_eq_tol(tu_scalar(m, "n"), 8.366600265340756, 1e-15);
  exprc_tensor q = tu_output(m, "q");
  tu_assert_close(q.data, (double[]){2, 28}, 2, 0, "prod axis 0");
  exprc_free(m);
}
END_TEST

/* The gradient of prod where elements are 0 is the product of the others,
 * not prod / x: for [2, 0, 3, 0.5] it is [0, 3, 0, 0]; with two zeros all 0.
 * Second derivatives too: the hessian of x0 x1 x2 at [2, 0, 3] is
 * [[0, x2, x1], [x2, 0, x0], [x1, x0, 0]] = [[0, 3, 0], [3, 0, 2], [0, 2, 0]]. */
START_TEST(prod_gradient_at_zeros) {
  exprc_model *m = tu_compile("param v[4]\nparam u[3]\nloss = prod(v)\n"
                              "grad loss wrt v\n"
                              "output g = grad(prod(u), u), h = hessian(prod(u), u)");
  tu_set(m, "v", (double[]){2, 0, 3, 0.5}, 1, (int64_t)4);
  tu_set(m, "u", (double[]){2, 0, 3}, 1, (int64_t)3);
  exprc_tensor g = tu_grad(m, "loss", "v");
  tu_assert_close(g.data, (double[]){0, 3, 0, 0}, 4, 0, "one zero");
  exprc_tensor h = tu_output(m, "h");
  tu_assert_close(h.data, (double[]){0, 3, 0, 3, 0, 2, 0, 2, 0}, 9, 0,
                  "hessian at a zero");
  tu_set(m, "v", (double[]){2, 0, 3, 0}, 1, (int64_t)4);
  g = tu_grad(m, "loss", "v");
  tu_assert_close(g.data, (double[]){0, 0, 0, 0}, 4, 0, "two zeros");
  exprc_free(m);
}
END_TEST

/* Reductions of a scalar reduce over no axis: the scalar itself (prod's
 * gradient rule once looked for an axis that is not there). */
START_TEST(reductions_of_a_scalar) {
  exprc_model *m = tu_compile("param a\n"
                              "loss = prod(a) * prod(a, keepdims=1) + std(a) + norm(a)\n"
                              "grad loss wrt a\noutput h = grad(grad(loss, a), a)");
  tu_set(m, "a", (double[]){-1.5}, 0);
  /* a^2 + 0 + |a|: value 2.25 + 1.5, derivative 2a - 1, second 2 */
  ck_assert_double_eq(tu_scalar(m, "loss"), 3.75);
  ck_assert_double_eq(tu_grad(m, "loss", "a").data[0], -4);
  ck_assert_double_eq_tol(tu_scalar(m, "h"), 2, 1e-14); /* norm'' rounds */
  exprc_free(m);
}
END_TEST

/* norm'(0) = 0 and std'(x) = 0 for constant x, with no NaN; the second
 * derivative stays finite too. */
START_TEST(norm_and_std_at_zero) {
  exprc_model *m = tu_compile("param v[3]\n"
                              "output g = grad(norm(v), v), s = grad(std(v), v)\n"
                              "output h = hessian(norm(v) + std(v), v)\n"
                              "output n = norm(v)");
  tu_set(m, "v", (double[]){0, 0, 0}, 1, (int64_t)3);
  exprc_tensor g = tu_output(m, "g"), s = tu_output(m, "s");
  tu_assert_close(g.data, (double[]){0, 0, 0}, 3, 0, "norm'(0)");
  tu_assert_close(s.data, (double[]){0, 0, 0}, 3, 0, "std' of a constant");
  exprc_tensor h = tu_output(m, "h");
  for (int i = 0; i < 9; i++)
    ck_assert(isfinite(h.data[i]));
  ck_assert_double_eq(tu_scalar(m, "n"), 0);
  /* away from 0, the gradient of the norm is v / |v|: [3, 4, 0] / 5 */
  tu_set(m, "v", (double[]){3, 4, 0}, 1, (int64_t)3);
  g = tu_output(m, "g");
  tu_assert_close(g.data, (double[]){0.6, 0.8, 0}, 3, 1e-15, "v / |v|");
  exprc_free(m);
}
END_TEST

/* cumsum, cumprod along axis 1 of the ramp, by hand: row [9, 10, 11] of
 * x[1] (axis 1 runs over j: 9, 12, 15) gives 9, 21, 36 and 9, 108, 1620. */
START_TEST(cumulative_values) {
  exprc_model *m = with_ramp333("output s = cumsum(x, 1), p = cumprod(x, axis=1)\n"
                                "output v = cumsum(x[0, 0])\n"
                                "output t = sort(-x, axis=0)");
  exprc_tensor s = tu_output(m, "s"), p = tu_output(m, "p");
  /* element [1, j, 0] is at 9 + 3j */
  tu_assert_close((double[]){s.data[9], s.data[12], s.data[15]},
                  (double[]){9, 21, 36}, 3, 0, "cumsum axis 1");
  tu_assert_close((double[]){p.data[9], p.data[12], p.data[15]},
                  (double[]){9, 108, 1620}, 3, 0, "cumprod axis 1");
  exprc_tensor v = tu_output(m, "v");
  tu_assert_close(v.data, (double[]){0, 1, 3}, 3, 0, "cumsum of a vector");
  /* sorting -x along axis 0 puts -(18 + r) first: t[0] = -x[2] */
  exprc_tensor t = tu_output(m, "t");
  for (int e = 0; e < 9; e++)
    ck_assert_double_eq(t.data[e], -(18.0 + e));
  exprc_free(m);
}
END_TEST

/* logcumsumexp is exact where exp would overflow or underflow:
 * [1000, -1000, 1000] -> [1000, 1000, 1000 + log 2], [-1000, 0] ->
 * [-1000, log(1 + e^-1000) = 0], -inf stays -inf. Its gradient stays
 * finite there: d/dx of the last element is softmax(x) = [1/2, 0, 1/2]. */
START_TEST(logcumsumexp_is_stable) {
  exprc_model *m = tu_compile("param v[3]\ninput w[3]\n"
                              "output y = logcumsumexp(v), z = logcumsumexp(w)\n"
                              "output g = grad(logcumsumexp(v)[2], v)");
  tu_set(m, "v", (double[]){1000, -1000, 1000}, 1, (int64_t)3);
  tu_set(m, "w", (double[]){-INFINITY, -1000, 0}, 1, (int64_t)3);
  exprc_tensor y = tu_output(m, "y"), z = tu_output(m, "z");
  tu_assert_close(y.data, (double[]){1000, 1000, 1000 + log(2.0)}, 3, 1e-15,
                  "wide values");
  ck_assert(z.data[0] == -INFINITY);
  ck_assert_double_eq(z.data[1], -1000);
  ck_assert_double_eq_tol(z.data[2], 0, 1e-300);
  exprc_tensor g = tu_output(m, "g");
  /* y[2] = 1000 + log 2 is rounded to 1.1e-13 (the spacing of doubles
   * near 1000), which exp(x - y) turns into a relative 1e-13 */
  tu_assert_close(g.data, (double[]){0.5, 0, 0.5}, 3, 3e-13, "softmax");
  exprc_free(m);
}
END_TEST

/* sort routes each gradient back to its element's place: sum(sort(v) *
 * [1, 2, 3]) with v = [3, 1, 2] weighs 3 by 3, 1 by 1, 2 by 2. Ties sort
 * stably, NaN last (NumPy). The cumprod gradient at a zero: for
 * sum(cumprod([2, 0, 3])), d/dx = [1 + x1 + x1 x2, x0 + x0 x2, x0 x1] =
 * [1, 8, 0]. */
START_TEST(sort_and_cumprod_gradients_by_hand) {
  exprc_model *m = tu_compile("param v[3]\ninput n[4]\n"
                              "output g = grad(sum(sort(v) * [1, 2, 3]), v)\n"
                              "output c = grad(sum(cumprod(v)), v)\n"
                              "output s = sort(n)");
  tu_set(m, "v", (double[]){3, 1, 2}, 1, (int64_t)3);
  tu_set(m, "n", (double[]){2, NAN, -1, 2}, 1, (int64_t)4);
  exprc_tensor g = tu_output(m, "g");
  tu_assert_close(g.data, (double[]){3, 1, 2}, 3, 0, "sort's gradient");
  exprc_tensor s = tu_output(m, "s");
  ck_assert(s.data[0] == -1 && s.data[1] == 2 && s.data[2] == 2 &&
            isnan(s.data[3]));
  tu_set(m, "v", (double[]){2, 0, 3}, 1, (int64_t)3);
  exprc_tensor c = tu_output(m, "c");
  tu_assert_close(c.data, (double[]){1, 8, 0}, 3, 0, "cumprod at a zero");
  exprc_free(m);
}
END_TEST

/* Long rows (37 and 64 elements, lengths that are not powers of two) full
 * of ties and a NaN sort as the reference evaluator's insertion sort
 * does; the gradient of sum(sort(v) * r) is r at each element's sorted
 * place, which for equal elements keeps their order (stability). */
START_TEST(sort_long_rows_with_ties) {
  const char *src = "input v[2, 37]\noutput s = sort(v, axis=1)\n";
  const char *src2 = "input w[64]\ninput r[64]\noutput t = sort(w)\n"
                     "output g = grad(sum(sort(w) * r), w)\n";
  double v[74], w[64], r[64];
  uint64_t st = 7;
  for (int i = 0; i < 74; i++)
    v[i] = floor(tu_uniform(&st, -5, 5)); /* many equal values */
  v[40] = NAN;
  for (int i = 0; i < 64; i++) {
    w[i] = floor(tu_uniform(&st, 0, 8));
    r[i] = i; /* the sorted place of each element */
  }
  agree_with_reference(src, "v", v, 2, (int64_t[]){2, 37}, "s", 0);
  exprc_model *m = tu_compile(src2);
  exprc_set(m, "w", w, 1, (int64_t[]){64});
  exprc_set(m, "r", r, 1, (int64_t[]){64});
  exprc_tensor t = tu_output(m, "t"), g = tu_output(m, "g");
  /* place of w[i]: the elements smaller, plus the equal ones before it */
  for (int i = 0; i < 64; i++) {
    int place = 0;
    for (int j = 0; j < 64; j++)
      place += w[j] < w[i] || (w[j] == w[i] && j < i);
    ck_assert_double_eq(t.data[place], w[i]);
    ck_assert_double_eq(g.data[i], place);
  }
  exprc_free(m);
}
END_TEST

/* The shape functions on the ramp, element by element from their NumPy
 * definitions (hand-derived indices). */
START_TEST(shape_function_values) {
  exprc_model *m = with_ramp333(
      "output t = transpose(x, [1, 2, 0]), r = transpose(x)\n"
      "output w = swapaxes(x, 0, 2), e = expand_dims(x, axis=[0, 4])\n"
      "output q = squeeze(x[:, 1:2, :]), b = broadcast_to(x[0, 0], [2, 3, 3])\n"
      "output f = flip(x, 1), l = tril(x, k=1), u = triu(x, -1)\n"
      "output p = pad(x[0], [[1, 0], [0, 2]], value=-1)");
  exprc_tensor t = tu_output(m, "t"), r = tu_output(m, "r"),
               w = tu_output(m, "w");
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 3; k++) {
        double xijk = 9 * i + 3 * j + k;
        ck_assert_double_eq(t.data[9 * j + 3 * k + i], xijk); /* t[j,k,i] */
        ck_assert_double_eq(r.data[9 * k + 3 * j + i], xijk); /* r[k,j,i] */
        ck_assert_double_eq(w.data[9 * k + 3 * j + i], xijk); /* w[k,j,i] */
      }
  exprc_tensor e = tu_output(m, "e"), q = tu_output(m, "q"),
               b = tu_output(m, "b");
  tu_assert_shape(&e, 5, 1, 3, 3, 3, 1);
  tu_assert_shape(&q, 2, 3, 3);
  tu_assert_close(q.data, (double[]){3, 4, 5, 12, 13, 14, 21, 22, 23}, 9, 0,
                  "squeeze");
  tu_assert_shape(&b, 3, 2, 3, 3);
  for (int i = 0; i < 18; i++)
    ck_assert_double_eq(b.data[i], i % 3);
  exprc_tensor f = tu_output(m, "f"), l = tu_output(m, "l"),
               u = tu_output(m, "u");
  ck_assert_double_eq(f.data[0], 6);  /* f[0,0,0] = x[0,2,0] */
  ck_assert_double_eq(f.data[11], 17); /* f[1,0,2] = x[1,2,2] */
  /* tril k=1 of a 3x3 block zeroes only [0, 2]; triu k=-1 only [2, 0] */
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 9; k++) {
      ck_assert_double_eq(l.data[9 * i + k], k == 2 ? 0 : 9 * i + k);
      ck_assert_double_eq(u.data[9 * i + k], k == 6 ? 0 : 9 * i + k);
    }
  /* pad of [[0,1,2],[3,4,5],[6,7,8]] by one row before, two columns after */
  exprc_tensor p = tu_output(m, "p");
  tu_assert_shape(&p, 2, 4, 5);
  tu_assert_close(p.data,
                  (double[]){-1, -1, -1, -1, -1, 0, 1, 2, -1, -1,
                             3, 4, 5, -1, -1, 6, 7, 8, -1, -1},
                  20, 0, "pad");
  exprc_free(m);
}
END_TEST

/* ---- against the reference evaluator, and gradients ---- */

/* Every function of this suite on x[3, 3, 3]: the compiled values against
 * the reference evaluator, the gradient of a nonlinear loss of it against
 * differences. */
static const char *const exprs[] = {
    "sum(x, axis=[0, 2], keepdims=1)", "mean(x, [1, 2])",
    "max(x, [0, 2])", "logsumexp(x, axis=[0, 1], keepdims=1)",
    "prod(x, [1, 2])", "prod(x)", "var(x, 1)",
    "std(x, axis=[0, 1], ddof=1)", "norm(x)", "norm(x, axis=2, keepdims=1)",
    "cumsum(x, 1)", "cumprod(x, 2)", "logcumsumexp(x, 0)", "sort(x, 0)",
    "sort(x)", "transpose(x, [1, 2, 0])", "transpose(x, [0, 2, 1])",
    "swapaxes(x, 0, 2)", "expand_dims(x, [0, 4])",
    "squeeze(expand_dims(x, 1))", "broadcast_to(x, [2, 3, 3, 3])",
    "pad(x, [[1, 0], [0, 2], [1, 1]], value=7)", "pad(x, 1)",
    "flip(x, [0, 1])", "flip(x)", "tril(x, k=1)", "triu(x, -1)"};

START_TEST(each_function_agrees_and_differentiates) {
  const char *e = exprs[_i];
  char src[512];
  snprintf(src, sizeof src,
           "param x[3, 3, 3]\noutput y = %s\nloss = sum(sin(3 * (%s)))\n"
           "grad loss wrt x\n", e, e);
  double *v = ramp(27, 0.07, -0.9);
  v[13] = 0; /* a zero in the middle: prod and cumprod at a zero */
  agree_with_reference(src, "x", v, 3, (int64_t[]){3, 3, 3}, "y", 1e-13);
  exprc_model *m = tu_compile(src);
  exprc_set(m, "x", v, 3, (int64_t[]){3, 3, 3});
  tu_set_context(e);
  tu_gradcheck(m, "loss", 1e-6);
  tu_set_context(NULL);
  exprc_free(m);
  free(v);
}
END_TEST

/* Second derivatives through nested grad: the hessian of a nonlinear loss
 * of each function on x[2, 2, 2], against the reference evaluator's
 * differences of differences. */
START_TEST(each_function_second_derivatives) {
  const char *e = exprs[_i];
  if (strstr(e, "[0, 4]") || strstr(e, "[2, 3, 3, 3]") || strstr(e, "[1, 0]"))
    e = strstr(e, "expand") ? "expand_dims(x, [0, 4])"
        : strstr(e, "broadcast") ? "broadcast_to(x, [2, 2, 2, 2])"
                                 : "pad(x, [[1, 0], [0, 2], [1, 1]], value=7)";
  char src[512];
  snprintf(src, sizeof src,
           "param x[2, 2, 2]\ninput c\n"
           "output h = hessian(sum(sin(3 * (%s)) * c), x)\n", e);
  double *v = ramp(8, 0.23, -0.8); /* no element near 0 but v[5] */
  v[5] = 0;
  char err[256];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  ref_set(r, "x", v, 3, (int64_t[]){2, 2, 2});
  ref_set(r, "c", (double[]){1.5}, 0, NULL);
  RefTensor want;
  ck_assert_msg(ref_eval(r, "h", &want) == 0, "%s", ref_errmsg(r));
  exprc_model *m = tu_compile(src);
  exprc_set(m, "x", v, 3, (int64_t[]){2, 2, 2});
  tu_set(m, "c", (double[]){1.5}, 0);
  exprc_tensor got = tu_output(m, "h");
  for (int i = 0; i < 64; i++)
    ck_assert_msg(fabs(got.data[i] - want.data[i]) <= 1e-6 * (1 + fabs(want.data[i])),
                  "%s: hessian element %d is %.17g, differences give %.17g", e,
                  i, got.data[i], want.data[i]);
  exprc_free(m);
  ref_free(r);
  free(v);
}
END_TEST

/* dim-sized axes: N bound at call time, with 3 and then 5 rows; the
 * functions that work along N agree with the reference evaluator, and the
 * gradients with differences. */
START_TEST(dim_sized_axes) {
  const char *src =
      "dim N\ninput x[N, 3]\n"
      "output a = cumsum(x, 0), b = cumprod(x, 0), c = logcumsumexp(x, 0)\n"
      "output d = sort(x, axis=0), e = prod(x, 0), f = flip(x, 0)\n"
      "output g = tril(x), h = triu(x, 1), i = var(x, 0, keepdims=1)\n"
      "output j = broadcast_to(x, [2, N, 3]), k = transpose(x, [1, 0])\n"
      "output l = pad(x, [[0, 0], [2, 1]]), n = norm(x, 0)\n"
      "output o = squeeze(expand_dims(x, 1), 1)\n"
      "loss = sum(sin(cumprod(x, 0) + logcumsumexp(x, 0) + sort(x, 0) + "
      "tril(x) + flip(x, 0))) + sum(prod(x, 0)) + sum(std(x, 0))\n"
      "grad loss wrt x\n";
  static const char *const outs[] = {"a", "b", "c", "d", "e", "f", "g",
                                     "h", "i", "j", "k", "l", "n", "o"};
  for (int64_t rows = 3; rows <= 5; rows += 2) {
    double *v = ramp(rows * 3, -0.13, 0.8);
    for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++)
      agree_with_reference(src, "x", v, 2, (int64_t[]){rows, 3}, outs[k],
                           1e-13);
    exprc_model *m = tu_compile(src);
    exprc_set(m, "x", v, 2, (int64_t[]){rows, 3});
    tu_gradcheck(m, "loss", 1e-6);
    exprc_free(m);
    free(v);
  }
}
END_TEST

/* pad's value may be any scalar, a param too: its gradient is the sum of
 * the incoming gradient over the border. With G = 1 on a [2, 2] padded by
 * one all round to [4, 4], that is 16 - 4 = 12. */
START_TEST(pad_value_gets_the_border_gradient) {
  exprc_model *m = tu_compile("param x[2, 2]\nparam c\n"
                              "loss = sum(pad(x, 1, value=c))\n"
                              "grad loss wrt x, c\n"
                              "loss2 = sum(sin(pad(x, [[0, 1], [2, 0]], c * c)))\n"
                              "grad loss2 wrt x, c\n");
  tu_set(m, "x", (double[]){0.1, -0.2, 0.3, 0.4}, 2, (int64_t)2, (int64_t)2);
  tu_set(m, "c", (double[]){0.7}, 0);
  ck_assert_double_eq(tu_grad(m, "loss", "c").data[0], 12);
  tu_assert_close(tu_grad(m, "loss", "x").data, (double[]){1, 1, 1, 1}, 4, 0,
                  "inside");
  tu_gradcheck(m, "loss2", 1e-6);
  exprc_free(m);
}
END_TEST

/* Random models (tests/randmodel.c) with the shape functions mixed into
 * every other form: values against the reference evaluator, gradients
 * against its differences, and the plan variants to the bit. 60 models per
 * run; EXPRC_SHAPE_SEEDS=N checks more. */
START_TEST(random_models_with_shape_functions) {
  RandVariant v[6];
  static const char *const names[6] = {"default",  "no_simplify", "no_fuse",
                                       "no_reuse", "remat",       "threads=2"};
  for (int k = 0; k < 6; k++) {
    v[k].name = names[k];
    exprc_options_default(&v[k].opt);
    v[k].exact = k >= 2;
  }
  v[1].opt.no_simplify = 1;
  v[2].opt.no_fuse = 1;
  v[3].opt.no_reuse = 1;
  v[4].opt.remat = 1;
  v[5].opt.threads = 2;
  RandOptions o = {.shape_funcs_pct = 400};
  const char *env = getenv("EXPRC_SHAPE_SEEDS");
  int n = env ? atoi(env) : 60, failed = 0, funcs = 0;
  for (int seed = 1; seed <= n; seed++) {
    RandModel rm;
    char why[2048];
    randmodel_make(&rm, (uint64_t)seed, &o);
    funcs += strstr(rm.text, "keepdims") || strstr(rm.text, "cum") ||
             strstr(rm.text, "pad(") || strstr(rm.text, "swapaxes") ||
             strstr(rm.text, "flip(") || strstr(rm.text, "axis=[");
    if (!randmodel_check(&rm, v, 6, why, sizeof why)) {
      randmodel_print(&rm, why, stderr);
      failed++;
    }
    randmodel_free(&rm);
  }
  ck_assert_msg(failed == 0, "%d of %d random models failed (listed above)",
                failed, n);
  ck_assert_msg(funcs > n / 2, "only %d of %d models use the shape functions",
                funcs, n);
}
END_TEST

/* ---- errors: located at the argument at fault ---- */

START_TEST(located_errors) {
  tu_expect_error("input x[3, 3]\ny = sum(x, axis=[0, 0])\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:21: error: axis 0 is repeated", "0])");
  tu_expect_error("input x[3, 3]\ny = prod(x, axis=[0, 2])\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:22: error: axis must be a whole number from -2 "
                  "to 1, not 2", "2])");
  tu_expect_error("input x[3, 3]\ny = transpose(x, [1, 1])\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:22: error: axis 1 is repeated", "1])");
  tu_expect_error("input x[3, 3]\ny = transpose(x, [1])\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:18: error: transpose needs a list of the 2 "
                  "axes in their new order", "[1]");
  tu_expect_error("input x[3, 3]\ny = pad(x, [[1, 0], [0, 1], [1, 1]])\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:2:12: error: pad needs one [before, after] pair "
                  "per axis (2), not 3 pairs", "[[1");
  tu_expect_error("input x[3, 3]\ny = pad(x, [[1, 0], [0, -1]])\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:2:25: error: a pad width must be a whole number "
                  "from 0 to 268435456, not -1", "-1]");
  tu_expect_error("dim N\ninput x[N, 3]\ny = pad(x, 1)\n", EXPRC_ERR_SHAPE,
                  "test.expr:3:12: error: cannot pad axis 0: its size is a dim",
                  "1)");
  tu_expect_error("input x[3, 1]\ny = squeeze(x, 0)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:16: error: cannot squeeze axis 0 of [3,1]: "
                  "its size is not 1", "0)");
  tu_expect_error("input x[3, 3]\ny = cumsum(x)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:5: error: 'cumsum' needs an axis for a tensor "
                  "of rank 2", "cumsum");
  tu_expect_error("input x[3]\ny = var(x, ddof=3)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:17: error: ddof 3 leaves no degrees of freedom "
                  "in 3 elements", "3)");
  tu_expect_error("input x[3]\ny = tril(x)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:5: error: 'tril' needs a matrix (rank 2 or "
                  "more), not rank 1", "tril");
  tu_expect_error("input x[3, 2]\ny = broadcast_to(x, [3, 3])\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:2:5: error: shapes [3,2] and [3,3] do not match "
                  "for 'broadcast_to'", "broadcast_to");
  tu_expect_error("input x[3, 2]\ny = swapaxes(x, 0, 2)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:20: error: axis must be a whole number from -2 "
                  "to 1, not 2", "2)");
  tu_expect_error("input x[3, 2]\ny = sum(x, keepdims=2)\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:21: error: keepdims must be a whole number from "
                  "0 to 1, not 2", "2)");
  tu_expect_error("input x[2, 2, 2, 2, 2, 2, 2]\ny = expand_dims(x, [0, 1])\n",
                  EXPRC_ERR_LIMIT,
                  "test.expr:2:20: error: rank 9 is above the limit 8", "[0, 1]");
  tu_expect_error("input x[3, 2]\ny = flip(x, axis=[1, -1])\n", EXPRC_ERR_SHAPE,
                  "test.expr:2:22: error: axis 1 is repeated", "-1])");
}
END_TEST

/* A window's offsets are kept in 32 bits (so that a rank-8 node stays
 * small): with the element limit raised past 2^31, a pad (or an index)
 * that places an axis further along is a located limit error, before any
 * buffer is made. (Slice bounds are 32-bit numbers anyway.) */
START_TEST(window_offsets_past_2_31_are_a_limit) {
  exprc_options o;
  exprc_options_default(&o);
  o.limits.max_elements = (int64_t)1 << 33;
  o.limits.max_memory = (int64_t)1 << 40;
  exprc_model *m;
  const char *src = "input x[2]\noutput y = pad(x, [2147483648, 0])\n";
  ck_assert_int_eq(exprc_compile_string(src, "t.expr", &o, &m), EXPRC_ERR_LIMIT);
  ck_assert_msg(strstr(exprc_errmsg(m), "t.expr:2:12: error: an index or "
                                        "window 2147483648 elements into"),
                "%s", exprc_errmsg(m));
  exprc_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("shape_funcs");
  TCase *rank = tu_tcase("rank", 120);
  tcase_add_test(rank, rank_eight_end_to_end);
  tcase_add_test(rank, rank_eight_npy_round_trip);
  tcase_add_test(rank, rank_nine_is_an_error);
  tcase_add_test(rank, window_offsets_past_2_31_are_a_limit);
  suite_add_tcase(s, rank);
  TCase *hand = tu_tcase("by hand", 120);
  tcase_add_test(hand, reductions_over_several_axes);
  tcase_add_test(hand, prod_var_std_norm_values);
  tcase_add_test(hand, prod_gradient_at_zeros);
  tcase_add_test(hand, reductions_of_a_scalar);
  tcase_add_test(hand, norm_and_std_at_zero);
  tcase_add_test(hand, cumulative_values);
  tcase_add_test(hand, logcumsumexp_is_stable);
  tcase_add_test(hand, sort_and_cumprod_gradients_by_hand);
  tcase_add_test(hand, shape_function_values);
  tcase_add_test(hand, sort_long_rows_with_ties);
  suite_add_tcase(s, hand);
  TCase *ref = tu_tcase("reference and gradients", 300);
  int n = (int)(sizeof exprs / sizeof exprs[0]);
  tcase_add_loop_test(ref, each_function_agrees_and_differentiates, 0, n);
  tcase_add_loop_test(ref, each_function_second_derivatives, 0, n);
  tcase_add_test(ref, dim_sized_axes);
  tcase_add_test(ref, pad_value_gets_the_border_gradient);
  tcase_add_test(ref, random_models_with_shape_functions);
  suite_add_tcase(s, ref);
  TCase *err = tu_tcase("errors", 60);
  tcase_add_test(err, located_errors);
  suite_add_tcase(s, err);
  return tu_run_suite(s);
}
