/* test_strong_zero.c: gradients that stay finite ("strong zeros").
 *
 * A zero incoming gradient times an infinite or NaN local derivative is 0,
 * so the branch that `where` does not take contributes nothing:
 * grad(where(x > 0, sqrt(x), 0), x) is 0 at x = 0 and at x = -1. PyTorch and
 * JAX give NaN there: the where passes a zero gradient to sqrt, whose local
 * derivative 1 / (2 sqrt(x)) is inf at 0 and NaN at -1, and 0 * inf is NaN
 * (JAX's FAQ, "Gradients contain NaN where using where", documents it and
 * recommends the "double where" workaround; PyTorch issue #6394 is the same
 * for 0 * log(0)). This exprc also gave NaN before strong zeros.
 *
 * Every expected number here is worked out by hand from the formula the
 * model states; the bit-exact cases compute the plain textbook expression
 * in C with libm, so that a strong zero that changed any finite result by
 * as much as one bit would show.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* The double where, in three forms, with first and second derivatives. */
static const char where_model[] =
    "input x\n"
    "f = where(x > 0, sqrt(x), 0)\n"
    "l = where(x > 0, log(x), 0)\n"
    "e = where(x > 0, x * log(x), 0)\n"  /* entropy's term: 0 log 0 */
    "df = grad(f, x)\n"
    "dl = grad(l, x)\n"
    "de = grad(e, x)\n"
    "output f, l, e, df, dl, de\n"
    "output hf = grad(df, x), hl = grad(dl, x), he = grad(de, x)\n";

static exprc_model *where_at(double x) {
  exprc_model *m = tu_compile(where_model);
  tu_set(m, "x", &x, 0);
  return m;
}

static void assert_zero(exprc_model *m, const char *name, double x) {
  double v = tu_output(m, name).data[0];
  ck_assert_msg(v == 0.0, "%s at x = %g is %g, not 0", name, x, v);
}

/* At x = 0 (sqrt's derivative inf, log's -inf... 1/0) and x = -1 (both
 * NaN) the branch not taken contributes 0: values, first and second
 * derivatives are all 0, where PyTorch's first derivatives are NaN. */
START_TEST(the_branch_where_does_not_take_contributes_nothing) {
  const double xs[2] = {0.0, -1.0};
  const char *names[] = {"f", "l", "e", "df", "dl", "de", "hf", "hl", "he"};
  for (int k = 0; k < 2; k++) {
    exprc_model *m = where_at(xs[k]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      assert_zero(m, names[i], xs[k]);
    exprc_free(m);
  }
}
END_TEST

/* Where the branch is taken, the ordinary derivatives, by hand at x = 4:
 * sqrt: 2, 1/(2*2) = 1/4, -1/4 x^(-3/2) = -1/32;
 * log: log 4, 1/4, -1/16; x log x: 4 log 4, log 4 + 1, 1/x = 1/4. */
START_TEST(the_branch_taken_has_the_usual_derivatives) {
  exprc_model *m = where_at(4.0);
  ck_assert_double_eq(tu_output(m, "f").data[0], 2.0);
  ck_assert_double_eq(tu_output(m, "df").data[0], 0.25);
  ck_assert_double_eq(tu_output(m, "hf").data[0], -1.0 / 32);
  ck_assert_double_eq_tol(tu_output(m, "l").data[0], log(4.0), 1e-15);
  ck_assert_double_eq(tu_output(m, "dl").data[0], 0.25);
  ck_assert_double_eq(tu_output(m, "hl").data[0], -1.0 / 16);
  ck_assert_double_eq_tol(tu_output(m, "e").data[0], 4 * log(4.0), 1e-14);
  ck_assert_double_eq_tol(tu_output(m, "de").data[0], log(4.0) + 1, 1e-15);
  ck_assert_double_eq_tol(tu_output(m, "he").data[0], 0.25, 1e-15);
  exprc_free(m);
}
END_TEST

/* The same through gradient entry points (`grad L wrt x`) on a vector with
 * both kinds of point and a taken one, [0, -1, 9]: 0, 0, 1/(2*3) = 1/6. */
START_TEST(gradient_entry_points_have_strong_zeros_too) {
  exprc_model *m = tu_compile("input x[3]\n"
                              "loss = sum(where(x > 0, sqrt(x), 0))\n"
                              "grad loss wrt x\n");
  double x[3] = {0.0, -1.0, 9.0};
  tu_set(m, "x", x, 1, 3);
  exprc_tensor g = tu_grad(m, "loss", "x");
  ck_assert(g.data[0] == 0.0 && g.data[1] == 0.0);
  ck_assert_double_eq_tol(g.data[2], 1.0 / 6, 1e-16);
  exprc_free(m);
}
END_TEST

/* Powers: x^0.5 and x^-1 have infinite or NaN derivatives at 0 and -1,
 * so their products are strong; a whole power >= 1 (x^3) has a finite
 * derivative wherever x is finite and keeps the plain product: all three
 * under a where are 0 at 0 and -1, and x^3's is 3 x^2 = 12 at x = 2
 * (x^0.5's 1/(2 sqrt 2), x^-1's -1/4). */
START_TEST(powers_in_the_other_branch) {
  exprc_model *m = tu_compile("input x\n"
                              "output a = grad(where(x > 0, x ^ 0.5, 0), x)\n"
                              "output b = grad(where(x > 0, x ^ -1, 0), x)\n"
                              "output c = grad(where(x > 0, x ^ 3, 0), x)\n");
  const double xs[3] = {0.0, -1.0, 2.0};
  for (int k = 0; k < 3; k++) {
    tu_set(m, "x", &xs[k], 0);
    double a = tu_output(m, "a").data[0], b = tu_output(m, "b").data[0],
           c = tu_output(m, "c").data[0];
    if (k < 2) {
      ck_assert_msg(a == 0 && b == 0 && c == 0, "at %g: %g %g %g", xs[k], a, b, c);
    } else {
      ck_assert_double_eq_tol(a, 1 / (2 * sqrt(2.0)), 1e-15);
      ck_assert_double_eq(b, -0.25);
      ck_assert_double_eq(c, 12);
    }
  }
  exprc_free(m);
}
END_TEST

/* exp that overflows in the branch not taken: exp(1000) is inf, and its
 * derivative times the zero gradient is 0, not NaN. */
START_TEST(an_overflowing_exp_in_the_other_branch) {
  exprc_model *m = tu_compile("input x\n"
                              "output d = grad(where(x < 700, exp(x), 0), x)\n");
  double x = 1000;
  tu_set(m, "x", &x, 0);
  ck_assert(tu_output(m, "d").data[0] == 0.0);
  exprc_free(m);
}
END_TEST

/* Strong zeros only replace 0 * inf and 0 * NaN: a nonzero gradient times
 * an infinite derivative stays infinite (d sqrt(x)/dx at 0 is +inf, d
 * log(x)/dx at 0 is 1/0 = +inf), and a NaN gradient stays NaN, times an
 * infinite derivative (dn at 0) or a finite one (dn at 4). No NaN and no
 * infinity is ever hidden. */
START_TEST(a_nonzero_or_nan_gradient_is_not_hidden) {
  exprc_model *m = tu_compile("input x\ninput n\n"
                              "output ds = grad(sqrt(x), x), dl = grad(log(x), x)\n"
                              "output dn = grad(n * sqrt(x), x)\n");
  double x = 0, n = NAN;
  tu_set(m, "x", &x, 0);
  tu_set(m, "n", &n, 0);
  ck_assert(tu_output(m, "ds").data[0] == INFINITY);
  ck_assert(tu_output(m, "dl").data[0] == INFINITY);
  ck_assert(isnan(tu_output(m, "dn").data[0]));
  x = 4;
  tu_set(m, "x", &x, 0);
  ck_assert(isnan(tu_output(m, "dn").data[0]));
  exprc_free(m);
}
END_TEST

static void assert_same_bits(const double *got, const double *want, int n,
                             const char *what) {
  for (int i = 0; i < n; i++)
    ck_assert_msg(memcmp(&got[i], &want[i], sizeof(double)) == 0,
                  "%s[%d]: %.17g, the plain expression gives %.17g", what, i,
                  got[i], want[i]);
}

/* Finite gradients keep their bits: each rule that now uses the strong
 * product or quotient gives exactly what the plain expression gives in C
 * (the textbook derivative, in the order the rule computes it). */
START_TEST(finite_gradients_keep_their_bits) {
  exprc_model *m = tu_compile("input a[3]\ninput b[3]\ninput w[3]\n"
                              "L1 = sum(w * log(a))\n"
                              "L2 = sum(w * sqrt(b))\n"
                              "L3 = sum(w * (a / b))\n"
                              "L4 = sum(w * exp(a))\n"
                              "grad L1 wrt a\ngrad L2 wrt b\n"
                              "grad L3 wrt a, b\ngrad L4 wrt a\n");
  const double a[3] = {0.3, 1.7, 2.9}, b[3] = {0.7, 1.3, 5.1},
               w[3] = {1.1, -0.6, 2.3};
  tu_set(m, "a", a, 1, 3);
  tu_set(m, "b", b, 1, 3);
  tu_set(m, "w", w, 1, 3);
  double want[5][3];
  for (int i = 0; i < 3; i++) {
    want[0][i] = w[i] / a[i];                    /* d log(a) = da / a */
    want[1][i] = w[i] / (2.0 * sqrt(b[i]));      /* d sqrt(b) = db / 2 sqrt(b) */
    want[2][i] = w[i] / b[i];                    /* d (a/b) = da / b ... */
    want[3][i] = -((w[i] * (a[i] / b[i])) / b[i]); /* ... - (a/b) db / b */
    want[4][i] = w[i] * exp(a[i]);               /* d exp(a) = exp(a) da */
  }
  assert_same_bits(tu_grad(m, "L1", "a").data, want[0], 3, "dL1/da");
  assert_same_bits(tu_grad(m, "L2", "b").data, want[1], 3, "dL2/db");
  assert_same_bits(tu_grad(m, "L3", "a").data, want[2], 3, "dL3/da");
  assert_same_bits(tu_grad(m, "L3", "b").data, want[3], 3, "dL3/db");
  assert_same_bits(tu_grad(m, "L4", "a").data, want[4], 3, "dL4/da");
  exprc_free(m);
}
END_TEST

/* The same bits with the system compiler at -O2, which compiles the
 * strong product's helper itself (the default backend is libtcc). */
START_TEST(the_cc_backend_agrees) {
  exprc_options o;
  exprc_options_default(&o);
  o.backend = EXPRC_BACKEND_CC;
  exprc_model *m = tu_compile_opts(where_model, &o);
  const double xs[3] = {0.0, -1.0, 4.0};
  for (int k = 0; k < 3; k++) {
    tu_set(m, "x", &xs[k], 0);
    double df = tu_output(m, "df").data[0], hl = tu_output(m, "hl").data[0];
    ck_assert(df == (k < 2 ? 0.0 : 0.25));
    ck_assert(hl == (k < 2 ? 0.0 : -1.0 / 16));
  }
  exprc_free(m);
}
END_TEST

int main(int argc, char **argv) {
  (void)argc, (void)argv;
  Suite *s = suite_create("strong_zero");
  TCase *t = tu_tcase("strong zeros", 120);
  tcase_add_test(t, the_branch_where_does_not_take_contributes_nothing);
  tcase_add_test(t, the_branch_taken_has_the_usual_derivatives);
  tcase_add_test(t, gradient_entry_points_have_strong_zeros_too);
  tcase_add_test(t, an_overflowing_exp_in_the_other_branch);
  tcase_add_test(t, powers_in_the_other_branch);
  tcase_add_test(t, a_nonzero_or_nan_gradient_is_not_hidden);
  tcase_add_test(t, finite_gradients_keep_their_bits);
  tcase_add_test(t, the_cc_backend_agrees);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
