/* test_jvp.c: forward mode: jvp(y, v, u) and jacobian(y, v).
 *
 * jvp(y, v, u) is the derivative of y along the direction u of v, of y's
 * shape; jacobian(y, v) has shape y.shape + v.shape. Both are checked
 * against the reference evaluator (tests/refeval.c), which computes them by
 * finite differences of its own plain loops, over models that pass through
 * every kind of op (elementwise, broadcast, reshape, transpose, indexing,
 * the reductions, softmax, '@'), and against closed forms by hand. Nesting
 * is checked both ways: grad of a jvp, jvp of a grad (a Hessian-vector
 * product), jvp of a jvp, and jacobian(grad(e, v), v) against hessian(e, v).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

typedef struct In {
  const char *name;
  int rank;
  int64_t d[2];
} In;

/* Values for input k of n elements: spread, off every kink. */
static void fill(double *v, int64_t n, int k) {
  for (int64_t i = 0; i < n; i++)
    v[i] = -1.5 + 3 * fmod(0.1234 + 0.37 * k + (double)i * 0.6180339887498949, 1);
}

/* Compile src and load it in the oracle, give both the same values for the
 * inputs in[0..nin-1], and compare outputs outs[] (NULL-ended) within
 * tol * (1 + |oracle|). */
static void against_oracle(const char *src, const In *in, int nin,
                           const char *const *outs, double tol) {
  char err[256];
  exprc_model *m = tu_compile(src);
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r != NULL, "%s", err);
  ref_set_step(r, 1.0 / 4096);
  for (int k = 0; k < nin; k++) {
    int64_t n = in[k].rank == 0 ? 1 : in[k].d[0] * (in[k].rank > 1 ? in[k].d[1] : 1);
    double *v = malloc((size_t)n * sizeof *v);
    fill(v, n, k);
    ck_assert(exprc_set(m, in[k].name, v, in[k].rank, in[k].d) == EXPRC_OK);
    ck_assert_msg(ref_set(r, in[k].name, v, in[k].rank, in[k].d) == 0, "%s",
                  ref_errmsg(r));
    free(v);
  }
  for (int k = 0; outs[k]; k++) {
    RefTensor want;
    ck_assert_msg(ref_eval(r, outs[k], &want) == 0, "%s", ref_errmsg(r));
    exprc_tensor got = tu_output(m, outs[k]);
    ck_assert_int_eq(got.rank, want.rank);
    for (int i = 0; i < got.rank; i++)
      ck_assert_int_eq(got.shape[i], want.shape[i]);
    for (int64_t i = 0; i < got.size; i++)
      ck_assert_msg(fabs(got.data[i] - want.data[i]) <=
                        tol * (1 + fabs(want.data[i])),
                    "%s[%lld] = %.17g, oracle %.17g", outs[k], (long long)i,
                    got.data[i], want.data[i]);
  }
  ref_free(r);
  exprc_free(m);
}

/* jvp through every kind of op, of a [3, 3] result by a [3, 3] variable and
 * by a [3] one that is broadcast. */
START_TEST(jvp_through_every_kind_of_op) {
  static const In in[] = {{"x", 2, {3, 3}}, {"u", 2, {3, 3}},
                          {"b", 1, {3}}, {"c", 1, {3}}};
  const char *src =
      "input x[3, 3]\ninput u[3, 3]\ninput b[3]\ninput c[3]\n"
      "y = tanh(x @ transpose(x) + b) * softmax(x) - exp(x / 4)\n"
      "z = where(x > 0, sqrt(abs(x) + 1), x ^ 2) + maximum(x, -x * b)\n"
      "r = reshape(x, [9])\n"
      "s = r[2:8] * r[0:6] + logsumexp(x) + max(x, 1)[1] - min(x)\n"
      "output jy = jvp(y, x, u)\n"
      "output jz = jvp(z, x, u)\n"
      "output js = jvp(s, x, u)\n"
      "output jb = jvp(y * z + sum(x * b, 0), b, c)\n"
      "output jm = jvp(erf(x) @ lgamma(x + 2) + gelu(x) * atan2(x, b), x, u)\n";
  against_oracle(src, in, 4, (const char *const[]){"jy", "jz", "js", "jb",
                                                   "jm", NULL}, 1e-8);
}
END_TEST

/* The special functions in forward mode, first and second order: their
 * tangents are grad.c's elementwise rules applied to the tangent. x is in
 * (-1.5, 1.5), so the arguments are kept inside each domain. */
START_TEST(jvp_of_the_special_functions) {
  static const In in[] = {{"x", 2, {3, 3}}, {"u", 2, {3, 3}},
                          {"b", 1, {3}}};
  const char *src =
      "input x[3, 3]\ninput u[3, 3]\ninput b[3]\n"
      "y = erf(x) + erfc(x * b) + lgamma(x + 2) + digamma(x + 2) +\n"
      "    polygamma(2, x * x + 1) + asin(x / 2) + acos(b / 2) * atan(x) +\n"
      "    atan2(x, b + 2) + sinh(x) * cosh(b) + asinh(x) + acosh(x * x + 2) +\n"
      "    atanh(x / 2) + log2(x + 2) + log10(b + 2) * exp2(x) + square(x) +\n"
      "    reciprocal(x + 3) + hypot(x, b) + clip(x, -2, 2) + gelu(x) +\n"
      "    silu(x * b) + elu(x, alpha=2) * leaky_relu(b, negative_slope=0.1) +\n"
      "    x * stop_gradient(x) + floor(b * 3) * x\n"
      "output j1 = jvp(y, x, u)\n"
      "output j2 = jvp(jvp(y, x, u), x, u)\n"
      "output jb = jvp(y, b, [1, -1, 0.5])\n";
  against_oracle(src, in, 3, (const char *const[]){"j1", "j2", "jb", NULL},
                 1e-7);
}
END_TEST

/* sin(x) along u is cos(x) u, and for y = A x the jvp is A u, exactly. */
START_TEST(jvp_closed_forms) {
  exprc_model *m = tu_compile(
      "input x[3]\ninput u[3]\n"
      "const A = [[1, 2, 0], [0, -1, 3]]\n"
      "output s = jvp(sin(x), x, u)\n"
      "output a = jvp(A @ x, x, u)\n"
      "output k = jvp(sum(u), x, u)\n");
  double x[3] = {0.5, -1, 2}, u[3] = {1, -2, 0.25};
  tu_set(m, "x", x, 1, (int64_t)3);
  tu_set(m, "u", u, 1, (int64_t)3);
  double s[3], a[2] = {1 - 4, 2 + 0.75}, k = 0;
  for (int i = 0; i < 3; i++)
    s[i] = cos(x[i]) * u[i];
  tu_assert_close(tu_output(m, "s").data, s, 3, 1e-15, "s");
  tu_assert_close(tu_output(m, "a").data, a, 2, 0, "a");
  ck_assert_double_eq(tu_output(m, "k").data[0], k); /* does not read x */
  exprc_free(m);
}
END_TEST

/* jacobian's shape is y.shape + v.shape; the [3, 3] by [3] case runs three
 * forward sweeps, the [2] by [3, 3] one two reverse sweeps. */
START_TEST(jacobian_shapes_and_values) {
  static const In in[] = {{"x", 2, {3, 3}}, {"b", 1, {3}}};
  const char *src =
      "input x[3, 3]\ninput b[3]\n"
      "output jf = jacobian(sin(x * b) @ b, b)\n"
      "output jw = jacobian(x * b + b * b, b)\n"
      "output jr = jacobian(softmax(sum(x * x, 1))[0:2], x)\n"
      "output js = jacobian(logsumexp(x), x)\n"
      "output jt = jacobian(transpose(x), x)\n";
  against_oracle(src, in, 2, (const char *const[]){"jf", "jw", "jr", "js",
                                                   "jt", NULL}, 1e-8);
  exprc_model *m = tu_compile(src);
  tu_randomize(m, 1, -1, 1, NULL, 0);
  tu_assert_shape((exprc_tensor[]){tu_output(m, "jf")}, 2, 3, 3);
  tu_assert_shape((exprc_tensor[]){tu_output(m, "jw")}, 3, 3, 3, 3);
  tu_assert_shape((exprc_tensor[]){tu_output(m, "jr")}, 3, 2, 3, 3);
  tu_assert_shape((exprc_tensor[]){tu_output(m, "js")}, 2, 3, 3);
  exprc_tensor jt = tu_output(m, "jt"); /* d x[j,i] / d x[k,l] */
  tu_assert_shape(&jt, 4, 3, 3, 3, 3);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++)
          ck_assert_double_eq(jt.data[((i * 3 + j) * 3 + k) * 3 + l],
                              j == k && i == l);
  exprc_free(m);
}
END_TEST

/* Forward for a tall Jacobian, reverse for a wide one: each costs two
 * sweeps here, where the other mode would need 600. The graph is held to
 * 400 nodes, which two sweeps fit in and 600 do not. */
START_TEST(jacobian_picks_the_cheaper_mode) {
  exprc_options o = {0};
  o.limits.max_nodes = 400;
  exprc_model *m = tu_compile_opts(
      "input x[600]\ninput p[2]\n"
      "output tall = jacobian(sin(x * p[0]) + p[1], p)\n"
      "output wide = jacobian(sum(x * x) * [1, 0] + sum(x) * p[0] * [0, 1], x)\n",
      &o);
  double x[600], p[2] = {0.5, -2};
  for (int i = 0; i < 600; i++)
    x[i] = (i % 7) * 0.25 - 0.5;
  tu_set(m, "x", x, 1, (int64_t)600);
  tu_set(m, "p", p, 1, (int64_t)2);
  exprc_tensor t = tu_output(m, "tall");
  tu_assert_shape(&t, 2, 600, 2);
  for (int i = 0; i < 600; i++) {
    ck_assert_double_eq_tol(t.data[2 * i], x[i] * cos(x[i] * p[0]), 1e-15);
    ck_assert_double_eq(t.data[2 * i + 1], 1);
  }
  exprc_tensor w = tu_output(m, "wide");
  tu_assert_shape(&w, 2, 2, 600);
  for (int i = 0; i < 600; i++) {
    ck_assert_double_eq(w.data[i], 2 * x[i]);
    ck_assert_double_eq(w.data[600 + i], p[0]);
  }
  exprc_free(m);
}
END_TEST

/* Nesting: forward over reverse and reverse over forward. */
START_TEST(nesting_with_grad_and_hessian) {
  static const In in[] = {{"x", 1, {4}}, {"u", 1, {4}}};
  const char *src =
      "input x[4]\ninput u[4]\n"
      "f = sum(exp(x) * sin(x[0] * x)) + logsumexp(x * x)\n"
      "output hvp = jvp(grad(f, x), x, u)\n"
      "output gj = grad(sum(jvp(tanh(x) * x[1], x, u)), x)\n"
      "output jj = jvp(jvp(sigmoid(x) * x[2], x, u), x, u)\n"
      "output jh = jacobian(grad(f, x), x)\n"
      "output h = hessian(f, x)\n";
  against_oracle(src, in, 2, (const char *const[]){"hvp", "gj", "jj", "jh",
                                                   NULL}, 1e-7);
  exprc_model *m = tu_compile(src);
  tu_randomize(m, 3, -1, 1, NULL, 0);
  exprc_tensor jh = tu_output(m, "jh");
  double *j = malloc(16 * sizeof *j);
  memcpy(j, jh.data, 16 * sizeof *j);
  tu_assert_close(tu_output(m, "h").data, j, 16, 1e-13, "hessian");
  free(j);
  exprc_free(m);
}
END_TEST

/* jvp works with symbolic dims; jacobian needs constant sizes. */
START_TEST(jvp_with_dims) {
  exprc_model *m = tu_compile("dim N\ninput x[N]\n"
                              "output y = jvp(x * x, x, x + 1)\n");
  double x[5] = {1, 2, 3, -1, 0.5};
  tu_set(m, "x", x, 1, (int64_t)5);
  const double *y = tu_output(m, "y").data;
  for (int i = 0; i < 5; i++)
    ck_assert_double_eq(y[i], 2 * x[i] * (x[i] + 1));
  exprc_free(m);
}
END_TEST

START_TEST(errors) {
  tu_expect_error("input x[3]\ninput u[2]\noutput y = jvp(x * x, x, u)\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:26: error: jvp needs a direction of the shape "
                  "of v, [3], not [2]", "u)");
  tu_expect_error("input x[3]\noutput y = jacobian(x * x, x + 1)\n",
                  EXPRC_ERR_NAME,
                  "test.expr:2:30: error: jacobian needs an input or param "
                  "to differentiate by", "+ 1");
  tu_expect_error("input x[2, 2, 2, 2]\ninput w[2, 2, 2, 2, 2]\n"
                  "output y = jacobian(w * x, x)\n",
                  EXPRC_ERR_LIMIT,
                  "test.expr:3:12: error: jacobian's rank 9 (y's plus v's) "
                  "is above the limit 8", "jacobian");
  tu_expect_error("dim N\ninput x[N]\noutput y = jacobian(x, x)\n",
                  EXPRC_ERR_LIMIT,
                  "test.expr:3:12: error: jacobian is for constant sizes, at "
                  "most 256 sweeps and 65536 entries (unless sparse); use "
                  "jvp(y, v, u) or "
                  "grad for products with vectors", "jacobian");
}
END_TEST

int main(void) {
  Suite *s = suite_create("jvp");
  TCase *t = tu_tcase("jvp", 300);
  tcase_add_test(t, jvp_through_every_kind_of_op);
  tcase_add_test(t, jvp_closed_forms);
  tcase_add_test(t, jvp_of_the_special_functions);
  tcase_add_test(t, jacobian_shapes_and_values);
  tcase_add_test(t, jacobian_picks_the_cheaper_mode);
  tcase_add_test(t, nesting_with_grad_and_hessian);
  tcase_add_test(t, jvp_with_dims);
  tcase_add_test(t, errors);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
