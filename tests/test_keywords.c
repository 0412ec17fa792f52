/* test_keywords.c: keyword arguments. A built-in or a def takes each
 * argument by position or by its name, as NumPy and PyTorch do:
 * `sum(x, 1)` is `sum(x, axis=1)`. Keywords follow the positional arguments,
 * each parameter is given once, and every mistake is a located error.
 *
 * Values are checked against numbers summed by hand, and against the
 * reference evaluator (tests/refeval.c), which matches keywords with code
 * of its own.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

/* x[3, 3] is square on purpose: an axis mixed up would still fit. */
static const double X33[9] = {1, 2, 3, 40, 50, 60, 700, 800, 900};

static exprc_model *with_x33(const char *body) {
  char src[1024];
  snprintf(src, sizeof src, "input x[3, 3]\n%s\n", body);
  exprc_model *m = tu_compile(src);
  tu_set(m, "x", X33, 2, (int64_t)3, (int64_t)3);
  return m;
}

/* sum(x, axis=0) sums down the columns, as sum(x, 0) does. */
START_TEST(axis_by_name_is_axis_by_position) {
  exprc_model *m = with_x33("output a = sum(x, axis=0), b = sum(x, 0)\n"
                            "output c = mean(x, axis=-1)");
  exprc_tensor a = tu_output(m, "a"), b = tu_output(m, "b"),
               c = tu_output(m, "c");
  tu_assert_close(a.data, (double[]){741, 852, 963}, 3, 0, "sum axis=0");
  tu_assert_close(b.data, a.data, 3, 0, "sum(x, 0)");
  tu_assert_close(c.data, (double[]){2, 50, 800}, 3, 0, "mean axis=-1");
  exprc_free(m);
}
END_TEST

/* A def's parameters can be named too, in any order. */
START_TEST(def_arguments_by_name) {
  exprc_model *m = tu_compile("input a\ninput b\n"
                              "def f(p, q) = p - 10 * q\n"
                              "output y = f(q=a, p=b), z = f(a, q=b)");
  tu_set(m, "a", (double[]){2}, 0);
  tu_set(m, "b", (double[]){7}, 0);
  ck_assert_double_eq(tu_output(m, "y").data[0], 7 - 10 * 2);
  ck_assert_double_eq(tu_output(m, "z").data[0], 2 - 10 * 7);
  exprc_free(m);
}
END_TEST

/* The gradient through a keyword call is the gradient of the same call. */
START_TEST(gradient_through_keyword_call) {
  exprc_model *m = with_x33("param w[3]\n"
                            "loss = sum(log_softmax(x * w, axis=0)^2)\n"
                            "grad loss wrt w");
  tu_set(m, "w", (double[]){0.01, -0.002, 0.003}, 1, (int64_t)3);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* The reference evaluator agrees, by its own matching of keywords. */
START_TEST(reference_evaluator_agrees) {
  const char *src = "input x[3, 3]\ndef f(u, v) = u * 2 - v\n"
                    "output y = softmax(f(v=x, u=1), axis=0)\n";
  char err[256];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  ref_set(r, "x", X33, 2, (int64_t[]){3, 3});
  RefTensor want;
  ck_assert_int_eq(ref_eval(r, "y", &want), 0);
  exprc_model *m = tu_compile(src);
  tu_set(m, "x", X33, 2, (int64_t)3, (int64_t)3);
  exprc_tensor got = tu_output(m, "y");
  tu_assert_close(got.data, want.data, 9, 1e-15, "softmax(f(...), axis=0)");
  /* and by hand: column 0 is softmax(2 - [1, 40, 700]) */
  double z = exp(1.0) + exp(-38.0) + exp(-698.0);
  ck_assert_double_eq_tol(got.data[0], exp(1.0) / z, 1e-15);
  exprc_free(m);
  ref_free(r);
}
END_TEST

START_TEST(unknown_keyword_is_located) {
  tu_expect_error("input x[3]\ny = sum(x, axes=0)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:12: error: 'sum' has no argument named 'axes'",
                  "axes");
}
END_TEST

START_TEST(repeated_argument_is_located) {
  tu_expect_error("input x[3]\ny = sum(x, axis=0, axis=0)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:20: error: 'axis' is given twice", "axis=0)");
  tu_expect_error("input x[3]\ny = sum(x, x=x)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:12: error: 'x' is given twice", "x=x");
}
END_TEST

START_TEST(missing_argument_is_named) {
  tu_expect_error("input x[3]\ny = reshape(x=x)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:5: error: 'reshape' needs its argument 'shape'",
                  "reshape");
  tu_expect_error("input x[3]\ny = sum()\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:5: error: 'sum' takes 1 to 3 arguments, not 0",
                  "sum");
}
END_TEST

START_TEST(positional_after_keyword_is_a_syntax_error) {
  tu_expect_error("input x[3]\ny = sum(axis=0, x)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:17: error: a positional argument cannot follow "
                  "a keyword argument",
                  "x)");
}
END_TEST

START_TEST(keyword_outside_a_call_is_an_error) {
  /* `a = b = 1` is no chained assignment, and `[axis=1]` no call */
  exprc_status st;
  const char *msg = tu_compile_error("input x[3]\ny = [axis=1]\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_SYNTAX);
  ck_assert_msg(strstr(msg, "test.expr:2:"), "%s", msg);
}
END_TEST

/* Elementwise functions take positions only: there is nothing to name. */
START_TEST(elementwise_keyword_is_rejected) {
  tu_expect_error("input x[3]\ny = exp(y=x)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:9: error: 'exp' has no argument named 'y'",
                  "y=x");
}
END_TEST

int main(void) {
  Suite *s = suite_create("keywords");
  TCase *t = tu_tcase("keywords", 60);
  tcase_add_test(t, axis_by_name_is_axis_by_position);
  tcase_add_test(t, def_arguments_by_name);
  tcase_add_test(t, gradient_through_keyword_call);
  tcase_add_test(t, reference_evaluator_agrees);
  tcase_add_test(t, unknown_keyword_is_located);
  tcase_add_test(t, repeated_argument_is_located);
  tcase_add_test(t, missing_argument_is_named);
  tcase_add_test(t, positional_after_keyword_is_a_syntax_error);
  tcase_add_test(t, keyword_outside_a_call_is_an_error);
  tcase_add_test(t, elementwise_keyword_is_rejected);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
