/* test_check_finite.c: --check-finite (exprc_options.check_finite) finds
 * where a NaN or an infinity comes from.
 *
 * With the option on, the generated code stops at the first infinite or NaN
 * value any operation produces, and the entry point returns
 * EXPRC_ERR_NUMERIC with a message that names the model line and column of
 * the operation, the operation, and whether its forward pass or its
 * backward pass (the code its gradient rule made) produced the value. The
 * places asserted here are counted by hand in the model texts. With the
 * option off, not one check is compiled in: the C is the same text.
 *
 * The command-line cases get the exprc binary as argv[1].
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static exprc_model *compile_checked(const char *src, int check) {
  exprc_options o;
  exprc_options_default(&o);
  o.check_finite = check;
  return tu_compile_opts(src, &o);
}

/* The message must be exactly `first`, then the source line of the place
 * and a caret under its column. */
static void assert_message(exprc_model *m, const char *first, const char *line,
                           int col) {
  const char *msg = exprc_errmsg(m);
  size_t n = strlen(first);
  ck_assert_msg(strncmp(msg, first, n) == 0 && msg[n] == '\n',
                "message:\n%s\nwanted first line:\n%s", msg, first);
  char caret[256];
  snprintf(caret, sizeof caret, "   %s\n   %*s^\n", line, col - 1, "");
  ck_assert_msg(strcmp(msg + n + 1, caret) == 0, "caret lines:\n%s\nwanted:\n%s",
                msg + n + 1, caret);
}

/* log(0) is -inf in the forward pass: line 3, column 12 is the 'l' of log
 * (the sum around it is not reached: the check stops at the log). */
static const char forward_model[] = "input x[3]\n"
                                    "s = sum(x)\n"
                                    "output y = s * log(x)\n";

START_TEST(a_forward_value_is_found_at_its_operation) {
  exprc_model *m = compile_checked(forward_model, 1);
  double x[3] = {2.0, 0.0, 1.0};
  tu_set(m, "x", x, 1, 3);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_NUMERIC);
  assert_message(m,
                 "test.expr:3:16: error: 'log' produced -inf in the forward pass",
                 "output y = s * log(x)", 16);
  exprc_free(m);
}
END_TEST

/* A NaN: 0 / 0 at the '/' of line 2, column 11. */
START_TEST(a_nan_is_named_as_such) {
  exprc_model *m = compile_checked("input x[2]\noutput q = x / x\n", 1);
  double x[2] = {1.0, 0.0};
  tu_set(m, "x", x, 1, 2);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_NUMERIC);
  assert_message(m, "test.expr:2:14: error: '/' produced nan in the forward pass",
                 "output q = x / x", 14);
  exprc_free(m);
}
END_TEST

/* A NaN in the data is not made by any operation: it is reported as the
 * input's (or param's), at its declaration, before anything reads it. */
START_TEST(a_nan_given_is_named_as_the_input) {
  exprc_model *m = compile_checked("input x[2]\nparam w[2] ~ fill(1)\n"
                                   "output y = x * w\n", 1);
  double x[2] = {1.0, NAN}, w[2] = {1.0, INFINITY};
  tu_set(m, "x", x, 1, 2);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_NUMERIC);
  assert_message(m, "test.expr:1:7: error: input 'x' holds nan", "input x[2]", 7);
  x[1] = 2.0;
  tu_set(m, "x", x, 1, 2);
  tu_set(m, "w", w, 1, 2);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_NUMERIC);
  assert_message(m, "test.expr:2:7: error: param 'w' holds inf",
                 "param w[2] ~ fill(1)", 7);
  exprc_free(m);
}
END_TEST

/* sqrt(d * d) is |d|, finite everywhere, but its gradient d / sqrt(d^2)
 * divides by 0 where d = 0: the forward pass is clean and the backward of
 * sqrt (line 4, column 12) produces inf. */
static const char backward_model[] = "input x[3]\n"
                                     "param w[3] ~ fill(1)\n"
                                     "d = x - w\n"
                                     "loss = sum(sqrt(d * d))\n"
                                     "grad loss wrt w\n";

START_TEST(a_backward_value_names_the_forward_operation) {
  exprc_model *m = compile_checked(backward_model, 1);
  double x[3] = {3.0, 1.0, -2.0}; /* d = [2, 0, -3] */
  tu_set(m, "x", x, 1, 3);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_ERR_NUMERIC);
  assert_message(m, "test.expr:4:12: error: backward of 'sqrt' produced inf",
                 "loss = sum(sqrt(d * d))", 12);
  exprc_free(m);
}
END_TEST

/* Unchecked, the same call succeeds and leaves the NaN in the gradient
 * (-(d / |d|) at d = 0 is -(1 * 0 / 0)): what the option is for. A later
 * call with good values succeeds on the checked model: each call starts
 * with a clear status. */
START_TEST(unchecked_the_nan_passes_and_a_later_good_call_succeeds) {
  double bad[3] = {3.0, 1.0, -2.0}, good[3] = {3.0, 2.0, -2.0};
  exprc_model *m = compile_checked(backward_model, 0);
  tu_set(m, "x", bad, 1, 3);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  exprc_tensor g;
  ck_assert_int_eq(exprc_find_grad(m, "loss", "w", &g), EXPRC_OK);
  ck_assert(isnan(g.data[1]));
  exprc_free(m);
  m = compile_checked(backward_model, 1);
  tu_set(m, "x", bad, 1, 3);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_ERR_NUMERIC);
  tu_set(m, "x", good, 1, 3); /* d = [2, 1, -3]: dloss/dw = -sign(d) */
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  ck_assert_int_eq(exprc_find_grad(m, "loss", "w", &g), EXPRC_OK);
  ck_assert(g.data[0] == -1 && g.data[1] == -1 && g.data[2] == 1);
  exprc_free(m);
}
END_TEST

/* The forward pass of the branch `where` does not take is checked too:
 * sqrt(-1) is NaN even though where discards it (strong zeros keep its
 * gradient finite; the check is about values). */
START_TEST(a_value_that_where_discards_is_still_found) {
  exprc_model *m = compile_checked("input x\n"
                                   "output f = where(x > 0, sqrt(x), 0)\n", 1);
  double x = -1;
  tu_set(m, "x", &x, 0);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_NUMERIC);
  assert_message(m, "test.expr:2:25: error: 'sqrt' produced nan in the forward pass",
                 "output f = where(x > 0, sqrt(x), 0)", 25);
  exprc_free(m);
}
END_TEST

/* Off, the generated C is the same text as with the default options, and
 * has no check in it; on, it has. */
START_TEST(off_the_generated_c_is_unchanged) {
  exprc_model *dflt, *off = compile_checked(backward_model, 0),
                     *on = compile_checked(backward_model, 1);
  ck_assert_int_eq(exprc_compile_string(backward_model, "test.expr", NULL, &dflt),
                   EXPRC_OK);
  ck_assert_str_eq(exprc_source(off), exprc_source(dflt));
  ck_assert(!strstr(exprc_source(off), "xc_status_slot"));
  ck_assert(strstr(exprc_source(on), "xc_status_slot"));
  exprc_free(dflt);
  exprc_free(off);
  exprc_free(on);
}
END_TEST

/* The same through the command: `exprc run --check-finite` prints the
 * message to standard error and exits 1; without the flag it exits 0. */
START_TEST(the_command_exits_1_with_the_message) {
  char *path = tu_temp_file(backward_model, ".expr");
  char cmd[4096], *out = NULL, *err = NULL;
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --set 'x=[3,1,-2]' --check-finite",
           tu_exprc(), path);
  ck_assert_int_eq(tu_run(cmd, &out, &err), 1);
  char want[4096];
  snprintf(want, sizeof want,
           "%s:4:12: error: backward of 'sqrt' produced inf\n"
           "   loss = sum(sqrt(d * d))\n"
           "              ^\n", path);
  ck_assert_str_eq(err, want);
  free(out), free(err);
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --set 'x=[3,1,-2]'", tu_exprc(), path);
  ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
  snprintf(cmd, sizeof cmd, "'%s' gradcheck '%s' --set 'x=[3,1,-2]' --check-finite",
           tu_exprc(), path);
  ck_assert_int_eq(tu_run(cmd, NULL, NULL), 1);
  remove(path);
  free(path);
}
END_TEST

/* exprc emit with and without the flag: only the checked C has checks, and
 * the unchecked C is what `emit` printed without knowing of the flag. */
START_TEST(emit_shows_the_checks_only_with_the_flag) {
  char *path = tu_temp_file(forward_model, ".expr");
  char cmd[4096], *plain = NULL, *checked = NULL;
  snprintf(cmd, sizeof cmd, "'%s' emit '%s'", tu_exprc(), path);
  ck_assert_int_eq(tu_run(cmd, &plain, NULL), 0);
  snprintf(cmd, sizeof cmd, "'%s' emit '%s' --check-finite", tu_exprc(), path);
  ck_assert_int_eq(tu_run(cmd, &checked, NULL), 0);
  ck_assert(!strstr(plain, "xc_status_slot"));
  ck_assert(strstr(checked, "S[xc_status_slot][0] = "));
  free(plain), free(checked);
  remove(path);
  free(path);
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  Suite *s = suite_create("check_finite");
  TCase *t = tu_tcase("check finite", 120);
  tcase_add_test(t, a_forward_value_is_found_at_its_operation);
  tcase_add_test(t, a_nan_is_named_as_such);
  tcase_add_test(t, a_nan_given_is_named_as_the_input);
  tcase_add_test(t, a_backward_value_names_the_forward_operation);
  tcase_add_test(t, unchecked_the_nan_passes_and_a_later_good_call_succeeds);
  tcase_add_test(t, a_value_that_where_discards_is_still_found);
  tcase_add_test(t, off_the_generated_c_is_unchanged);
  tcase_add_test(t, the_command_exits_1_with_the_message);
  tcase_add_test(t, emit_shows_the_checks_only_with_the_flag);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
