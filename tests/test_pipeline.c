/* test_pipeline.c: a model goes end to end, text to JIT-compiled gradient. */
#include <math.h>
#include <stdlib.h>

#include "../compiler/jit.h"
#include "testutil.h"

/* The loss (w.x + b - 1)^2 has the hand-derived gradient
 * dw = 2 (w.x + b - 1) x and db = 2 (w.x + b - 1). */
START_TEST(linear_least_squares_by_hand) {
  exprc_model *m = tu_compile("input x[3]\n"
                              "param w[3] ~ fill(0.5)\n"
                              "param b\n"
                              "loss = (sum(w * x) + b - 1)^2\n"
                              "grad loss wrt w, b\n");
  double x[3] = {1, 2, 3};
  tu_set(m, "x", x, 1, (int64_t)3);
  ck_assert(exprc_gradient(m, "loss") == EXPRC_OK);
  exprc_tensor dw, db;
  ck_assert(exprc_find_grad(m, "loss", "w", &dw) == EXPRC_OK);
  ck_assert(exprc_find_grad(m, "loss", "b", &db) == EXPRC_OK);
  double r = 0.5 * 6 + 0 - 1; /* residual: 2 */
  double want_w[3] = {2 * r * 1, 2 * r * 2, 2 * r * 3}, want_b = 2 * r;
  tu_assert_close(dw.data, want_w, 3, 1e-15, "dw");
  tu_assert_close(db.data, &want_b, 1, 1e-15, "db");
  ck_assert_double_eq(tu_scalar(m, "loss"), r * r);
  exprc_free(m);
}
END_TEST

/* The spec's MLP: every gradient agrees with finite differences. */
START_TEST(mlp_gradients_match_finite_differences) {
  exprc_model *m = tu_compile(
      "input x[4]\ninput y[3]\n"
      "param W1[16, 4] ~ normal(0, 0.5)\nparam b1[16]\n"
      "param W2[3, 16] ~ uniform(-0.3, 0.3)\nparam b2[3]\n"
      "const lam = 1e-3\n"
      "def dense(W, b, v) = W @ v + b\n"
      "h = tanh(dense(W1, b1, x))\n"
      "z = dense(W2, b2, h)\n"
      "p = exp(z) / sum(exp(z))\n"
      "loss = -sum(y * log(p)) + lam * (sum(W1^2) + sum(W2^2))\n"
      "output p, loss\n"
      "grad loss wrt W1, b1, W2, b2\n");
  double x[4] = {5.1, 3.5, 1.4, 0.2}, y[3] = {1, 0, 0};
  tu_set(m, "x", x, 1, (int64_t)4);
  tu_set(m, "y", y, 1, (int64_t)3);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* libtcc reads the generated C from a memory file, or where there is none
 * from the string (jit.c): both ways the model computes y = x^3 - 2x,
 * dy/dx = 3x^2 - 2, at x = 1.5: 0.375 and 4.75, exact in binary. */
START_TEST(libtcc_reads_the_c_from_a_memory_file_or_from_the_string) {
  for (int from_string = 0; from_string < 2; from_string++) {
    jit_tcc_from_string(from_string);
    exprc_options o;
    exprc_options_default(&o);
    o.backend = EXPRC_BACKEND_TCC;
    exprc_model *m = tu_compile_opts("input x\noutput y = x^3 - 2*x\n"
                                     "grad y wrt x\n", &o);
    double x = 1.5;
    tu_set(m, "x", &x, 0);
    ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
    ck_assert_double_eq(tu_output(m, "y").data[0], 0.375);
    ck_assert_double_eq(tu_grad(m, "y", "x").data[0], 4.75);
    exprc_free(m);
  }
  jit_tcc_from_string(0);
}
END_TEST

#ifndef NDEBUG
/* Debug builds remember freed models: a call on one fails cleanly. */
START_TEST(use_after_free_is_reported_in_debug_builds) {
  exprc_model *m = tu_compile("input x\noutput y = 2 * x\n");
  exprc_free(m);
  double x = 1;
  ck_assert_int_eq(exprc_set(m, "x", &x, 0, NULL), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_ARG);
  ck_assert_int_eq(exprc_count(m, EXPRC_INPUT), 0);
  ck_assert_str_eq(exprc_errmsg(m), "the model was used after exprc_free");
  exprc_free(m); /* a second free is ignored */
}
END_TEST
#endif

int main(void) {
  Suite *s = suite_create("pipeline");
  TCase *tc = tcase_create("end to end");
  tcase_add_test(tc, linear_least_squares_by_hand);
  tcase_add_test(tc, mlp_gradients_match_finite_differences);
  tcase_add_test(tc, libtcc_reads_the_c_from_a_memory_file_or_from_the_string);
#ifndef NDEBUG
  tcase_add_test(tc, use_after_free_is_reported_in_debug_builds);
#endif
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
