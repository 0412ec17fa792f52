/* test_blocks.c: block functions and destructuring.
 *
 *   def f(a, b) {
 *       z = a * b               # a local: visible in f's body only
 *       return z + 1, sum(z)    # one or more results
 *   }
 *   u, v = f(x, y)              # results taken by position
 *
 * Values are checked against numbers worked by hand and against the
 * reference evaluator (tests/refeval.c), which evaluates block defs with
 * code of its own; gradients through a block def against finite
 * differences. Every misuse is a located error.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

/* x[3, 3] is square on purpose: a transposed product would still fit. */
static const double X33[9] = {0.5, -1, 2, 0.25, 3, -0.5, 1.5, 0.75, -2};

/* A block def with two locals and two results; the one-line def beside it
 * works as before. By hand, with x = [1, 2, 3]: z = 2x = [2, 4, 6],
 * w = z - 1 = [1, 3, 5]; results w * 10 = [10, 30, 50] and sum(z) = 12;
 * t = twice(12) = 24. */
START_TEST(two_results_by_hand) {
  exprc_model *m = tu_compile("input x[3]\n"
                              "def twice(u) = 2 * u\n"
                              "def f(a) {\n"
                              "    z = twice(a)\n"
                              "    w = z - 1\n"
                              "    return w * 10, sum(z)\n"
                              "}\n"
                              "p, q = f(x)\n"
                              "output p, q, t = twice(q)\n");
  tu_set(m, "x", (double[]){1, 2, 3}, 1, (int64_t)3);
  exprc_tensor p = tu_output(m, "p");
  tu_assert_shape(&p, 1, 3);
  tu_assert_close(p.data, (double[]){10, 30, 50}, 3, 0, "p");
  ck_assert_double_eq(tu_output(m, "q").data[0], 12);
  ck_assert_double_eq(tu_output(m, "t").data[0], 24);
  exprc_free(m);
}
END_TEST

/* A one-result block def is used as a value, like a one-line def; a body
 * may be written on one line. */
START_TEST(one_result_is_a_value) {
  exprc_model *m = tu_compile("input s\n"
                              "def f(a) { return a * a }\n"
                              "def g(a) {\n  b = f(a) + 1\n  return b\n}\n"
                              "output y = g(s) * 2\n");
  tu_set(m, "s", (double[]){3}, 0);
  ck_assert_double_eq(tu_output(m, "y").data[0], 20); /* (9 + 1) * 2 */
  exprc_free(m);
}
END_TEST

static const char *const CELL =
    "input x[3, 3]\n"
    "param W[3, 3] ~ normal(0, 0.5)\n"
    "param b[3] ~ uniform(-0.5, 0.5)\n"
    "def cell(h, v) {\n"
    "    z = W @ v + h\n"
    "    g = sigmoid(z)\n"
    "    n, m = split(z, g)\n"
    "    return g * tanh(n), sum(m * h)\n"
    "}\n"
    "def split(a, c) { return a - c, a * c }\n"
    "h1, s1 = cell(b, x[0])\n"
    "h2, s2 = cell(h1, x[1])\n"
    "loss = sum(h2 ^ 2) + s1 * s2\n"
    "output h2, loss\n"
    "grad loss wrt W, b\n";

/* The compiled values equal the reference evaluator's, through two calls
 * of a block def that destructures another's results inside its body. */
START_TEST(reference_evaluator_agrees) {
  char err[256];
  RefModel *r = ref_load(CELL, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  exprc_model *m = tu_compile(CELL);
  uint64_t st = 7;
  double W[9], b[3];
  for (int i = 0; i < 9; i++)
    W[i] = tu_uniform(&st, -1, 1);
  for (int i = 0; i < 3; i++)
    b[i] = tu_uniform(&st, -1, 1);
  tu_set(m, "x", X33, 2, (int64_t)3, (int64_t)3);
  tu_set(m, "W", W, 2, (int64_t)3, (int64_t)3);
  tu_set(m, "b", b, 1, (int64_t)3);
  ck_assert_int_eq(ref_set(r, "x", X33, 2, (int64_t[]){3, 3}), 0);
  ck_assert_int_eq(ref_set(r, "W", W, 2, (int64_t[]){3, 3}), 0);
  ck_assert_int_eq(ref_set(r, "b", b, 1, (int64_t[]){3}), 0);
  const char *names[] = {"h2", "loss"};
  for (int k = 0; k < 2; k++) {
    RefTensor want;
    ck_assert_msg(ref_eval(r, names[k], &want) == 0, "%s", ref_errmsg(r));
    exprc_tensor got = tu_output(m, names[k]);
    ck_assert_int_eq(got.size, want.size);
    tu_assert_close(got.data, want.data, want.size, 1e-13, names[k]);
  }
  tu_gradcheck(m, "loss", 1e-6);
  ref_free(r);
  exprc_free(m);
}
END_TEST

/* Locals are invisible outside their def. */
START_TEST(locals_are_local) {
  tu_expect_error("input x\ndef f(a) {\n  z = a + 1\n  return z\n}\n"
                  "output y = f(x) + z\n",
                  EXPRC_ERR_NAME,
                  "test.expr:6:19: error: unknown name 'z'; did you mean 'f'?",
                  "z");
}
END_TEST

/* Destructuring takes as many names as the def returns. */
START_TEST(wrong_number_of_names) {
  const char *def = "input x\ndef f(a) { return a, 2 * a }\n";
  char src[256];
  snprintf(src, sizeof src, "%sp, q, r = f(x)\noutput p\n", def);
  tu_expect_error(src, EXPRC_ERR_SHAPE,
                  "test.expr:3:11: error: 'f' returns 2 values, not 3", "f(x)");
  snprintf(src, sizeof src, "%sp, q = x + 1\noutput p\n", def);
  tu_expect_error(src, EXPRC_ERR_SHAPE,
                  "test.expr:3:1: error: 2 names for one value: only a call "
                  "of a def that returns 2 values (or of scan or fold) can "
                  "be destructured", "p, q");
}
END_TEST

/* A def with several results is no value: it must be destructured. */
START_TEST(several_results_used_as_a_value) {
  tu_expect_error("input x\ndef f(a) { return a, 2 * a }\noutput y = f(x) + 1\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:12: error: 'f' returns 2 values; assign them "
                  "to as many names (a, b = f(...))", "f(x)");
}
END_TEST

/* A local may not hide a parameter or a name of the model, nor be
 * assigned twice. */
START_TEST(locals_that_shadow_or_repeat) {
  tu_expect_error("input x\ndef f(a) {\n  a = 2\n  return a\n}\noutput f(x)\n",
                  EXPRC_ERR_NAME,
                  "test.expr:3:3: error: local 'a' hides the parameter of "
                  "the same name of 'f'", "a = 2");
  tu_expect_error("input x\ndef f(a) {\n  x = 2\n  return a\n}\noutput f(x)\n",
                  EXPRC_ERR_NAME,
                  "test.expr:3:3: error: local 'x' hides the model's 'x' "
                  "(line 1); give it another name", "x = 2");
  tu_expect_error("input x\ndef f(a) {\n  u, v = g(a)\n  v = 1\n  return u\n}\n"
                  "def g(a) { return a, a }\noutput f(x)\n",
                  EXPRC_ERR_NAME,
                  "test.expr:4:3: error: 'v' is already defined (at line 3); "
                  "each name is assigned once", "v = 1");
}
END_TEST

/* A block def that calls itself, through a local, is an error. */
START_TEST(recursion) {
  tu_expect_error("input x\ndef f(a) {\n  b = g(a)\n  return b\n}\n"
                  "def g(a) { return f(a) }\noutput f(x)\n",
                  EXPRC_ERR_NAME,
                  "test.expr:6:19: error: 'f' calls itself; recursion is not "
                  "allowed", "f(a)");
}
END_TEST

/* The block's form: a return ends it, only assignments come before. */
START_TEST(malformed_blocks) {
  tu_expect_error("input x\ndef f(a) {\n  b = a\n}\noutput f(x)\n",
                  EXPRC_ERR_SYNTAX,
                  "test.expr:4:1: error: expected an assignment or 'return', "
                  "found '}'", "}");
  tu_expect_error("input x\ndef f(a) {\n  return a\n  b = a\n}\noutput f(x)\n",
                  EXPRC_ERR_SYNTAX,
                  "test.expr:4:3: error: expected '}', found 'b'", "b = a");
  tu_expect_error("input x\ndef f(a) {\n  param w\n  return a\n}\n",
                  EXPRC_ERR_SYNTAX,
                  "test.expr:3:9: error: expected '=', found 'w'", "w");
}
END_TEST

int main(void) {
  Suite *s = suite_create("blocks");
  TCase *t = tu_tcase("blocks", 120);
  tcase_add_test(t, two_results_by_hand);
  tcase_add_test(t, one_result_is_a_value);
  tcase_add_test(t, reference_evaluator_agrees);
  tcase_add_test(t, locals_are_local);
  tcase_add_test(t, wrong_number_of_names);
  tcase_add_test(t, several_results_used_as_a_value);
  tcase_add_test(t, locals_that_shadow_or_repeat);
  tcase_add_test(t, recursion);
  tcase_add_test(t, malformed_blocks);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
