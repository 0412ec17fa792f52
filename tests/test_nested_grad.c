/* test_nested_grad.c: gradients of gradients.
 *
 * grad(e, v) inside an expression is an ordinary value, so it can be
 * differentiated again: second and third derivatives, Hessian-vector
 * products sum(grad(f, x) * v) differentiated by x, mixed partials,
 * gradient penalties. Each result is checked against a closed form worked
 * out by hand, or against finite differences of the (separately verified)
 * first derivative.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* d/dx x^3 = 3x^2, d2 = 6x, d3 = 6; at x = 2: 12, 12, 6. And
 * d2/dx2 sin(x) = -sin(x). */
START_TEST(second_and_third_derivatives_of_a_scalar) {
  exprc_model *m = tu_compile("input x\n"
                              "output d1 = grad(x^3, x)\n"
                              "output d2 = grad(grad(x^3, x), x)\n"
                              "output d3 = grad(grad(grad(x^3, x), x), x)\n"
                              "output s2 = grad(grad(sin(x), x), x)\n");
  double x = 2;
  tu_set(m, "x", &x, 0);
  ck_assert_double_eq(tu_output(m, "d1").data[0], 12);
  ck_assert_double_eq(tu_output(m, "d2").data[0], 12);
  ck_assert_double_eq(tu_output(m, "d3").data[0], 6);
  ck_assert_double_eq_tol(tu_output(m, "s2").data[0], -sin(2.0), 1e-15);
  exprc_free(m);
}
END_TEST

/* f = sum(x^3): grad f = 3 x^2 and the Hessian-vector product
 * grad(sum(grad(f, x) * v), x) = 6 x v (the Hessian is diag(6x)). */
START_TEST(hvp_of_sum_of_cubes) {
  exprc_model *m = tu_compile("input x[5]\ninput v[5]\n"
                              "g = grad(sum(x^3), x)\n"
                              "hv = grad(sum(g * v), x)\n"
                              "output g, hv\n");
  double x[5] = {-2, -0.5, 0, 1, 3}, v[5] = {1, 2, -1, 0.5, -3};
  double g[5], hv[5];
  for (int i = 0; i < 5; i++) {
    g[i] = 3 * x[i] * x[i];
    hv[i] = 6 * x[i] * v[i];
  }
  tu_set(m, "x", x, 1, (int64_t)5);
  tu_set(m, "v", v, 1, (int64_t)5);
  tu_assert_close(tu_output(m, "g").data, g, 5, 1e-15, "g");
  tu_assert_close(tu_output(m, "hv").data, hv, 5, 1e-15, "hv");
  exprc_free(m);
}
END_TEST

/* A quadratic f = x.(A x)/2 - b.x with symmetric A has gradient A x - b
 * and Hessian A, so H v = A v. */
START_TEST(hvp_of_a_quadratic_is_the_matrix) {
  exprc_model *m = tu_compile("input x[3]\ninput v[3]\n"
                              "const A = [[4, 1, 0], [1, 3, -1], [0, -1, 2]]\n"
                              "f = x @ (A @ x) / 2 - [1, 2, 3] @ x\n"
                              "output g = grad(f, x)\n"
                              "output hv = grad(sum(grad(f, x) * v), x)\n");
  double A[9] = {4, 1, 0, 1, 3, -1, 0, -1, 2}, b[3] = {1, 2, 3};
  double x[3] = {0.5, -1, 2}, v[3] = {1, -2, 0.25}, g[3], hv[3];
  for (int i = 0; i < 3; i++) {
    g[i] = -b[i];
    hv[i] = 0;
    for (int j = 0; j < 3; j++) {
      g[i] += A[i * 3 + j] * x[j];
      hv[i] += A[i * 3 + j] * v[j];
    }
  }
  tu_set(m, "x", x, 1, (int64_t)3);
  tu_set(m, "v", v, 1, (int64_t)3);
  tu_assert_close(tu_output(m, "g").data, g, 3, 1e-15, "g");
  tu_assert_close(tu_output(m, "hv").data, hv, 3, 1e-15, "hv");
  exprc_free(m);
}
END_TEST

/* A model with a nonlinear f of x and a param W; its gradient g and its
 * Hessian-vector product hv, and a loss built from hv for third order. */
static const char *const hvp_model =
    "input x[4]\ninput v[4]\ninput u[4]\n"
    "param W[3, 4] ~ normal(0, 0.7)\n"
    "f = sum(tanh(W @ x)) + sum(exp(x / 2) * x) + sum(x)^2 / 4\n"
    "g = grad(f, x)\n"
    "hv = grad(sum(g * v), x)\n"
    "third = sum(hv * u)\n"
    "output f, g, hv\n"
    "grad f wrt x, W\n"
    "grad third wrt x, W, v\n";

/* Copy of output `name` (4 elements). */
static void output4(exprc_model *m, const char *name, double *out) {
  memcpy(out, tu_output(m, name).data, 4 * sizeof *out);
}

/* H v by central differences of the gradient along v:
 * (g(x + e v) - g(x - e v)) / 2e. */
static void fd_hvp(exprc_model *m, const double *x, const double *v,
                   double *out) {
  double e = 1e-5, xp[4], gp[4], gm[4];
  for (int i = 0; i < 4; i++)
    xp[i] = x[i] + e * v[i];
  tu_set(m, "x", xp, 1, (int64_t)4);
  output4(m, "g", gp);
  for (int i = 0; i < 4; i++)
    xp[i] = x[i] - e * v[i];
  tu_set(m, "x", xp, 1, (int64_t)4);
  output4(m, "g", gm);
  tu_set(m, "x", x, 1, (int64_t)4);
  for (int i = 0; i < 4; i++)
    out[i] = (gp[i] - gm[i]) / (2 * e);
}

/* g agrees with finite differences of f (so it can be trusted), and hv
 * with finite differences of g, at several random points. */
START_TEST(hvp_matches_finite_differences_of_the_gradient) {
  exprc_model *m = tu_compile(hvp_model);
  for (unsigned point = 0; point < 4; point++) {
    tu_randomize(m, 500 + point, -1, 1, NULL, 0);
    exprc_init_params(m, point);
    exprc_tensor t;
    double x[4], v[4], hv[4], want[4];
    exprc_find(m, "x", &t);
    memcpy(x, t.data, sizeof x);
    exprc_find(m, "v", &t);
    memcpy(v, t.data, sizeof v);
    tu_gradcheck(m, "f", 1e-7);
    output4(m, "hv", hv);
    fd_hvp(m, x, v, want);
    tu_assert_close(hv, want, 4, 1e-7, "H v");
  }
  exprc_free(m);
}
END_TEST

/* Differentiating the Hessian-vector product once more (third
 * derivatives of f, second of the loss in v) agrees with finite
 * differences. */
START_TEST(hvp_differentiated_again) {
  exprc_model *m = tu_compile(hvp_model);
  for (unsigned point = 0; point < 3; point++) {
    tu_randomize(m, 600 + point, -1, 1, NULL, 0);
    exprc_init_params(m, 10 + point);
    tu_gradcheck(m, "third", 1e-6);
  }
  exprc_free(m);
}
END_TEST

/* Mixed partials commute: the number u^T (d2f / dx dW) V, computed by
 * differentiating by x first, a = sum(grad(sum(grad(f, x) * u), W) * V),
 * or by W first, b = sum(grad(sum(grad(f, W) * V), x) * u), is the same. */
START_TEST(mixed_partials_commute) {
  exprc_model *m = tu_compile(
      "input x[3]\ninput u[3]\ninput V[2, 3]\n"
      "param W[2, 3] ~ normal(0, 1)\n"
      "f = sum(tanh(W @ x)^2) + sum(W @ (x * x))\n"
      "a = sum(grad(sum(grad(f, x) * u), W) * V)\n"
      "b = sum(grad(sum(grad(f, W) * V), x) * u)\n"
      "output a, b\n");
  for (unsigned point = 0; point < 3; point++) {
    tu_randomize(m, 700 + point, -1, 1, NULL, 0);
    exprc_init_params(m, 20 + point);
    double a = tu_output(m, "a").data[0], b = tu_output(m, "b").data[0];
    ck_assert_msg(fabs(a - b) <= 1e-13 * fmax(1, fabs(a)), "a %.17g b %.17g",
                  a, b);
  }
  exprc_free(m);
}
END_TEST

/* grad inside a def: slope(e) = grad(e, x). slope(sum(slope(sum(x^3))))
 * = grad(sum(3 x^2), x) = 6 x. */
START_TEST(grad_inside_a_def) {
  exprc_model *m = tu_compile("input x[3]\n"
                              "def slope(e) = grad(e, x)\n"
                              "output y = slope(sum(slope(sum(x^3))))\n");
  double x[3] = {1, -2, 0.5}, want[3] = {6, -12, 3};
  tu_set(m, "x", x, 1, (int64_t)3);
  tu_assert_close(tu_output(m, "y").data, want, 3, 1e-15, "y");
  exprc_free(m);
}
END_TEST

/* A gradient penalty: loss = data term + |d f / d x|^2, trained by W.
 * Its gradient wrt W (through the inner gradient) agrees with finite
 * differences. */
START_TEST(gradient_penalty_trains) {
  exprc_model *m = tu_compile(
      "input x[3]\ninput y\n"
      "param W[4, 3] ~ normal(0, 0.5)\nparam a[4] ~ normal(0, 0.5)\n"
      "f = a @ sigmoid(W @ x)\n"
      "loss = (f - y)^2 + 0.1 * sum(grad(f, x)^2)\n"
      "grad loss wrt W, a, x\n");
  for (unsigned point = 0; point < 3; point++) {
    tu_randomize(m, 800 + point, -1, 1, NULL, 0);
    exprc_init_params(m, 30 + point);
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("nested_grad");
  TCase *tc = tu_tcase("nested", 60);
  tcase_add_test(tc, second_and_third_derivatives_of_a_scalar);
  tcase_add_test(tc, hvp_of_sum_of_cubes);
  tcase_add_test(tc, hvp_of_a_quadratic_is_the_matrix);
  tcase_add_test(tc, hvp_matches_finite_differences_of_the_gradient);
  tcase_add_test(tc, hvp_differentiated_again);
  tcase_add_test(tc, mixed_partials_commute);
  tcase_add_test(tc, grad_inside_a_def);
  tcase_add_test(tc, gradient_penalty_trains);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
