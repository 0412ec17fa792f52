/* test_cli_tiers.c: `exprc run` as a user sees it: --backend auto, its
 * note under --verbose, and how non-finite numbers are printed.
 *
 * log(-1) is NaN and 1/0 is inf (IEEE 754); the text output names them
 * `nan`, `inf` and `-inf` (no sign on NaN: its sign bit carries no
 * meaning, and glibc's "-nan" for the NaN that log(-1) returns confused
 * users), and JSON, which has no such numbers, gets null.
 * Usage: test_cli_tiers EXPRC SOURCE_ROOT (meson passes both).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Run `exprc run MODEL ARGS`; returns the exit status, output in *out. */
static int run(const char *model, const char *args, char **out, char **err) {
  char *path = tu_temp_file(model, ".expr"), cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' run '%s' %s", tu_exprc(), path, args);
  int rc = tu_run(cmd, out, err);
  unlink(path);
  free(path);
  return rc;
}

static const char log_model[] = "input x[2]\nz = log(x)\noutput z\n";
static const char grad_model[] =
    "input x[2]\nz = log(x)\noutput z\nloss = sum(z)\ngrad loss wrt x\n";
static const char inv_model[] = "input x[3]\nz = 1 / x\noutput z\n";

START_TEST(nan_prints_as_nan) {
  char *out, *err;
  ck_assert_int_eq(run(log_model, "--set 'x=[-1,1]'", &out, &err), 0);
  ck_assert_str_eq(out, "z = [nan, 0]\n");
  free(out), free(err);
  ck_assert_int_eq(run(inv_model, "--set 'x=[0,1,-0.0]'", &out, &err), 0);
  ck_assert_str_eq(out, "z = [inf, 1, -inf]\n");
  free(out), free(err);
}
END_TEST

START_TEST(json_gives_null_for_nan_and_inf) {
  char *out, *err;
  ck_assert_int_eq(run(log_model, "--set 'x=[-1,1]' --json", &out, &err), 0);
  ck_assert_msg(strstr(out, "\"z\": [null, 0]"), "%s", out);
  free(out), free(err);
  ck_assert_int_eq(run(inv_model, "--set 'x=[0,1,-0.0]' --json", &out, &err),
                   0);
  ck_assert_msg(strstr(out, "\"z\": [null, 1, null]"), "%s", out);
  free(out), free(err);
}
END_TEST

/* A command that ends before the system compiler would pay: libtcc's
 * numbers, and the note only under --verbose. The default backend is
 * auto; `run` runs each entry point once, far under the 10 ms of runs
 * after which the compiler (here a script that would sleep) starts, so it
 * never starts and the note says why. */
START_TEST(backend_auto_runs_and_notes_under_verbose) {
  char *script = tu_temp_file("#!/bin/sh\nexec sleep 3600\n", ".sh");
  char *out, *err, dir[] = "/tmp/exprc-cli-tiers-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_int_eq(chmod(script, 0700), 0);
  setenv("CC", script, 1);
  setenv("EXPRC_CACHE_DIR", dir, 1);
  static const char *const backend[] = {"--backend auto", ""};
  for (int i = 0; i < 2; i++) { /* named, and by default */
    char args[512];
    snprintf(args, sizeof args, "--set 'x=[1,2]' %s --verbose", backend[i]);
    ck_assert_int_eq(run(log_model, args, &out, &err), 0);
    ck_assert_str_eq(out, "z = [0, 0.693147]\n"); /* log 2 = 0.6931471806 */
    ck_assert_msg(strstr(err, "note: --backend auto: the model's 1 run took") &&
                      strstr(err, "libtcc's code ran throughout"), "%s", err);
    free(out), free(err);
    ck_assert_int_eq(run(grad_model, args, &out, &err), 0);
    ck_assert_str_eq(out, "z = [0, 0.693147]\n" /* log 1, log 2 */
                          "grad loss: loss = 0.693147\n"
                          "  dloss/dx = [1, 0.5]\n"); /* d log x = 1/x */
    ck_assert_msg(strstr(err, "the model's 2 runs took") &&
                      strstr(err, "libtcc's code ran throughout"), "%s", err);
    free(out), free(err);
  }
  ck_assert_int_eq(run(log_model, "--set 'x=[1,2]' --backend auto", &out, &err),
                   0);
  ck_assert_str_eq(err, "");
  free(out), free(err);
  ck_assert_int_eq(run(log_model, "--set 'x=[1,2]' --backend fast", &out, &err),
                   2);
  ck_assert_msg(strstr(err, "--backend takes tcc, cc or auto"), "%s", err);
  free(out), free(err);
  unlink(script);
  free(script);
  ck_assert_int_eq(rmdir(dir), 0); /* nothing was built or cached */
}
END_TEST

/* No compiler on the PATH: `bench` waits for the system compiler's code
 * (exprc_wait_tier), gets none, times libtcc's, and says why under
 * --verbose; the exit status is 0. */
START_TEST(backend_auto_without_cc_on_the_path_times_libtcc) {
  char *path = tu_temp_file(log_model, ".expr"), cmd[2048], *out, *err;
  char dir[] = "/tmp/exprc-cli-tiers-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *exprc = realpath(tu_exprc(), NULL); /* it may be relative */
  ck_assert_ptr_nonnull(exprc);
  snprintf(cmd, sizeof cmd,
           "cd '%s' && env -u CC PATH= EXPRC_CACHE_DIR='%s' "
           "'%s' bench '%s' --set 'x=[1,2]' --backend auto --verbose",
           dir, dir, exprc, path);
  free(exprc);
  ck_assert_int_eq(tu_run(cmd, &out, &err), 0);
  ck_assert_msg(strstr(out, "forward") && strstr(out, "median"), "%s", out);
  ck_assert_msg(strstr(err, "note: --backend auto: cc did not build the "
                            "model; libtcc's code runs on") &&
                    strstr(err, "cannot run cc"), "%s", err);
  free(out), free(err);
  unlink(path);
  free(path);
  ck_assert_int_eq(rmdir(dir), 0); /* nothing was built or cached */
}
END_TEST

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  Suite *s = suite_create("cli_tiers");
  TCase *tc = tu_tcase("cli_tiers", 120);
  tcase_add_test(tc, nan_prints_as_nan);
  tcase_add_test(tc, json_gives_null_for_nan_and_inf);
  tcase_add_test(tc, backend_auto_runs_and_notes_under_verbose);
  tcase_add_test(tc, backend_auto_without_cc_on_the_path_times_libtcc);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
