/* test_tiers.c: --backend auto, libtcc's code at once and the system
 * compiler's behind it (include/exprc.h, EXPRC_BACKEND_AUTO).
 *
 * What a user relies on: the numbers do not depend on which tier ran them
 * (every bit of every output and gradient is the same before and after the
 * switch, on a model with transcendental functions, reductions, softmax and
 * matrix products); a caller that keeps running the model while the switch
 * happens sees only those numbers; a compiler that is missing or fails, or
 * a model freed while the compiler still runs, leaves libtcc's code running
 * without an error, with a note. The reference numbers come from a model
 * compiled with libtcc alone; that they are right is checked against finite
 * differences, a path independent of both tiers' gradient code.
 *
 * The cache is a fresh private directory ($EXPRC_CACHE_DIR), so that the
 * system compiler really runs; $CC names the compiler, and the cases that
 * change it restore it only after the background compile is over.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Equal sizes on different axes (N = 5 rows, 5 features). */
static const char model_src[] =
    "dim N\n"
    "input x[N, 5]\n"
    "param W[5, 5] ~ normal(0, 0.5)\n"
    "param b[5]\n"
    "h = tanh(x @ W + b)\n"
    "s = sin(h) * cos(x) + exp(-x^2) + sqrt(1 + x^2) + log(1 + h^2)"
    " + abs(x)^1.5 + tan(x / 3) / (1 + exp(-h))\n"
    "z = log_softmax(s)\n"
    "output top = max(s), p = softmax(s)\n"
    "loss = -sum(z * h) / N + sum(W^2) * 0.01 + mean(exp(s))"
    " + sum(log1p(h^2)) + max(x @ W)\n"
    "grad loss wrt W, b, x\n";

static const int64_t dims[] = {5};

/* Everything the model computes, in a fixed order: top, p, loss, dW, db,
 * dx (1 + 25 + 1 + 25 + 5 + 25). */
#define NVAL 82

static void results(exprc_model *m, double *out) {
  static const char *const outs[] = {"top", "p"};
  static const char *const wrt[] = {"W", "b", "x"};
  int at = 0;
  ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  for (int i = 0; i < 2; i++) {
    exprc_tensor t;
    ck_assert_int_eq(exprc_find(m, outs[i], &t), EXPRC_OK);
    memcpy(out + at, t.data, (size_t)t.size * sizeof *out);
    at += (int)t.size;
  }
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  out[at++] = tu_scalar(m, "loss");
  for (int i = 0; i < 3; i++) {
    exprc_tensor t;
    ck_assert_int_eq(exprc_find_grad(m, "loss", wrt[i], &t), EXPRC_OK);
    memcpy(out + at, t.data, (size_t)t.size * sizeof *out);
    at += (int)t.size;
  }
  ck_assert_int_eq(at, NVAL);
}

/* The notes a model's compile sends, joined (the note may come from the
 * library's thread; each case reads them after the thread is over). */
typedef struct Notes {
  char text[8192];
} Notes;

static void keep_note(void *arg, const char *msg) {
  Notes *n = arg;
  size_t k = strlen(n->text);
  snprintf(n->text + k, sizeof n->text - k, "%s\n", msg);
}

static exprc_model *compile(exprc_backend b, Notes *notes) {
  exprc_options o;
  exprc_options_default(&o);
  o.backend = b;
  o.seed = 7;
  if (notes) {
    o.note = keep_note;
    o.note_arg = notes;
  }
  exprc_model *m = tu_compile_opts(model_src, &o);
  tu_randomize(m, 3, -1.5, 1.5, dims, 1);
  return m;
}

/* The numbers of libtcc's code, checked against finite differences. */
static void reference(double *want) {
  exprc_model *m = compile(EXPRC_BACKEND_TCC, NULL);
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_TCC);
  tu_gradcheck(m, "loss", 1e-5);
  results(m, want);
  exprc_free(m);
}

static void assert_same_bits(const double *got, const double *want,
                             const char *when) {
  for (int i = 0; i < NVAL; i++)
    ck_assert_msg(memcmp(&got[i], &want[i], sizeof *got) == 0,
                  "%s: value %d is %.17g, libtcc's is %.17g", when, i,
                  got[i], want[i]);
}

START_TEST(both_tiers_compute_the_same_bits) {
  double want[NVAL], got[NVAL];
  reference(want);
  exprc_model *m = compile(EXPRC_BACKEND_AUTO, NULL);
  results(m, got); /* whichever tier is in place: no wait yet */
  assert_same_bits(got, want, "before the wait");
  ck_assert_msg(exprc_wait_tier(m) == EXPRC_OK, "%s", exprc_errmsg(m));
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_CC);
  results(m, got);
  assert_same_bits(got, want, "the system compiler's code");
  tu_gradcheck(m, "loss", 1e-5);
  exprc_free(m);
}
END_TEST

/* Every output and gradient of src at the inputs x[0..n), with backend b
 * (waiting for the system compiler's code with auto), end to end. */
static double *all_values(const char *src, const double *x, int64_t n,
                          exprc_backend b, int64_t *count) {
  exprc_options o;
  exprc_options_default(&o);
  o.backend = b;
  exprc_model *m = tu_compile_opts(src, &o);
  if (b == EXPRC_BACKEND_AUTO) {
    ck_assert_msg(exprc_wait_tier(m) == EXPRC_OK, "%s", exprc_errmsg(m));
    ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_CC);
  }
  ck_assert_int_eq(exprc_set(m, "x", x, 1, &n), EXPRC_OK);
  ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_OK);
  double *v = NULL;
  *count = 0;
  for (int k = EXPRC_OUTPUT; k <= EXPRC_GRADIENT; k++)
    for (int i = 0; i < exprc_count(m, (exprc_kind)k); i++) {
      exprc_tensor t;
      ck_assert_int_eq(exprc_get(m, (exprc_kind)k, i, &t), EXPRC_OK);
      v = realloc(v, (size_t)(*count + t.size) * sizeof *v);
      memcpy(v + *count, t.data, (size_t)t.size * sizeof *v);
      *count += t.size;
    }
  exprc_free(m);
  return v;
}

/* gcc -O2 turns sin(x) and cos(x) of one x into one sincos call, and
 * pow(y, 2.0) into y * y (this model's object imports sincos and no pow);
 * glibc's sincos and a correctly rounded square keep libtcc's bits, on
 * large arguments too (where sin's argument reduction works hardest). */
START_TEST(gcc_rewrites_of_libm_calls_keep_the_bits) {
  static const char src[] =
      "input x[400]\n"
      "y = sin(x) * cos(x) + sin(x) / (2 + cos(x)) + pow(abs(x) + 1, 2.0)"
      " + exp(x / 1000) ^ 3\n"
      "output y\nloss = sum(y)\ngrad loss wrt x\n";
  double x[400];
  uint64_t st = 11;
  for (int i = 0; i < 400; i++)
    x[i] = i < 200 ? tu_uniform(&st, -1e3, 1e3) : tu_uniform(&st, -3, 3);
  int64_t n1, n2;
  double *want = all_values(src, x, 400, EXPRC_BACKEND_TCC, &n1);
  double *got = all_values(src, x, 400, EXPRC_BACKEND_AUTO, &n2);
  ck_assert_int_eq(n1, n2);
  ck_assert_int_eq(n1, 400 + 1 + 400);
  for (int64_t i = 0; i < n1; i++)
    ck_assert_msg(memcmp(&got[i], &want[i], sizeof *got) == 0,
                  "value %lld: %.17g, libtcc's %.17g", (long long)i, got[i],
                  want[i]);
  for (int i = 0; i < 400; i++) { /* y from the formula, with libm */
    double y = sin(x[i]) * cos(x[i]) + sin(x[i]) / (2 + cos(x[i])) +
               pow(fabs(x[i]) + 1, 2.0) + pow(exp(x[i] / 1000), 3);
    ck_assert_msg(fabs(got[i] - y) <= 1e-13 * fmax(1, fabs(y)),
                  "y[%d] = %.17g, the formula gives %.17g", i, got[i], y);
  }
  free(want);
  free(got);
}
END_TEST

/* A caller that keeps running while the thread loads the new code: every
 * run gives libtcc's numbers, whichever tier it ran on, and the switch
 * does happen. */
START_TEST(a_caller_running_through_the_switch_sees_the_same_numbers) {
  double want[NVAL], got[NVAL];
  reference(want);
  exprc_model *m = compile(EXPRC_BACKEND_AUTO, NULL);
  int on_tcc = 0, on_cc = 0;
  for (long i = 0; on_cc < 20 && i < 2000000; i++) {
    exprc_backend before = exprc_backend_now(m);
    results(m, got);
    assert_same_bits(got, want, "during the switch");
    on_tcc += before == EXPRC_BACKEND_TCC;
    on_cc += before == EXPRC_BACKEND_CC;
  }
  ck_assert_msg(on_cc == 20, "the switch did not happen (%d runs on libtcc)",
                on_tcc);
  ck_assert_int_eq(exprc_wait_tier(m), EXPRC_OK);
  exprc_free(m);
}
END_TEST

/* A compiler that cannot be run, and one that fails: no error from the
 * compile or the runs, libtcc's numbers, a note, and exprc_wait_tier says
 * why the system compiler's code does not run. */
static void without_the_compiler(const char *cc, const char *why) {
  double want[NVAL], got[NVAL];
  reference(want);
  static Notes notes;
  memset(&notes, 0, sizeof notes);
  const char *old = getenv("CC");
  char *saved = old ? strdup(old) : NULL;
  setenv("CC", cc, 1);
  exprc_model *m = compile(EXPRC_BACKEND_AUTO, &notes);
  results(m, got);
  assert_same_bits(got, want, "with no system compiler");
  ck_assert_int_eq(exprc_wait_tier(m), EXPRC_ERR_JIT);
  ck_assert_msg(strstr(exprc_errmsg(m), why), "%s", exprc_errmsg(m));
  saved ? setenv("CC", saved, 1) : unsetenv("CC");
  free(saved);
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_TCC);
  results(m, got);
  assert_same_bits(got, want, "after the system compiler failed");
  ck_assert_msg(strstr(notes.text, "--backend auto: ") &&
                    strstr(notes.text, "libtcc's code runs on"),
                "notes: %s", notes.text);
  exprc_free(m);
}

START_TEST(a_missing_compiler_leaves_libtcc_running) {
  without_the_compiler("/nonexistent/bin/exprc-no-such-cc", "cannot run");
}
END_TEST

START_TEST(a_failing_compiler_leaves_libtcc_running) {
  without_the_compiler("false", "failed with status 1");
}
END_TEST

/* A script that stands for the system compiler: it creates the file *mark
 * (a new temporary path, not yet there) when it runs, then does `then`. */
static char *fake_cc(char **mark, const char *then) {
  char text[4200];
  *mark = tu_temp_file("", ".started");
  unlink(*mark);
  snprintf(text, sizeof text, "#!/bin/sh\n: > '%s'\n%s\n", *mark, then);
  char *script = tu_temp_file(text, ".sh");
  ck_assert_int_eq(chmod(script, 0700), 0);
  setenv("CC", script, 1);
  return script;
}

/* A model freed while its compiler still runs: the compiler (here a
 * script that says it has started, then would sleep far past the test's
 * timeout) is stopped, the thread joined, nothing leaks (ASan), and the
 * note says so. A free that waited for the compiler instead would time
 * the test out. */
START_TEST(freeing_the_model_stops_the_compiler) {
  char *mark, *script = fake_cc(&mark, "exec sleep 3600");
  static Notes notes;
  memset(&notes, 0, sizeof notes);
  exprc_model *m = compile(EXPRC_BACKEND_AUTO, &notes);
  double got[NVAL];
  while (access(mark, F_OK) != 0) /* runs, until they have started the */
    results(m, got);              /* compiler and the script runs */
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_TCC);
  exprc_free(m);
  unsetenv("CC");
  ck_assert_msg(strstr(notes.text, "freed before"), "notes: %s", notes.text);
  unlink(mark);
  unlink(script);
  free(mark);
  free(script);
}
END_TEST

/* The other half of the next case, run as a program of its own (this
 * executable with --exit-without-free): a model whose compiler is the
 * script SCRIPT, run until that has started it, then exit without
 * exprc_free once the script has written its process id to MARK. */
static int exit_without_free(const char *mark) {
  exprc_options o; /* no Check here: this is not a test case */
  exprc_model *m;
  double x[25];
  int64_t shape[2] = {5, 5};
  exprc_options_default(&o);
  o.backend = EXPRC_BACKEND_AUTO;
  for (int i = 0; i < 25; i++)
    x[i] = 0.1 * i - 1.2;
  if (exprc_compile_string(model_src, "test.expr", &o, &m) != EXPRC_OK ||
      exprc_set(m, "x", x, 2, shape) != EXPRC_OK)
    return fprintf(stderr, "%s\n", exprc_errmsg(m)), 1;
  for (FILE *f; !(f = fopen(mark, "r")) || fgetc(f) == EOF;) {
    f ? fclose(f) : 0;
    if (exprc_forward(m) != EXPRC_OK || exprc_gradient(m, "loss") != EXPRC_OK)
      return fprintf(stderr, "%s\n", exprc_errmsg(m)), 1;
  }
  exit(0); /* no exprc_free: the library's atexit handler stops cc */
}

/* A program that exits without freeing its model: the compiler it had
 * started is stopped (its process is gone once the program has exited)
 * and its build directory removed from the cache. */
START_TEST(exiting_without_free_stops_the_compiler) {
  char *mark = tu_temp_file("", ".pid"), text[4200], cmd[9000], self[4096];
  unlink(mark);
  snprintf(text, sizeof text, "#!/bin/sh\necho $$ > '%s'\nexec sleep 3600\n",
           mark);
  char *script = tu_temp_file(text, ".sh");
  ck_assert_int_eq(chmod(script, 0700), 0);
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  ck_assert_int_gt(n, 0);
  self[n] = 0;
  snprintf(cmd, sizeof cmd, "CC='%s' '%s' --exit-without-free '%s'", script,
           self, mark);
  ck_assert_int_eq(tu_run(cmd, NULL, NULL), 0);
  char *pid = tu_read_file(mark);
  ck_assert_ptr_nonnull(pid);
  errno = 0;
  ck_assert_msg(kill((pid_t)atol(pid), 0) != 0 && errno == ESRCH,
                "the compiler (pid %s) still runs", pid);
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '^tmp-'", getenv("EXPRC_CACHE_DIR"));
  char *out = NULL;
  tu_run(cmd, &out, NULL);
  ck_assert_msg(out && atoi(out) == 0, "build directories left: %s", out);
  free(out);
  free(pid);
  unlink(mark);
  unlink(script);
  free(mark);
  free(script);
}
END_TEST

/* Freed at once, before any run (the compiler never starts), or right
 * after the first (it is stopped before or after it starts): no crash, no
 * leak. */
START_TEST(a_model_freed_at_once_is_fine) {
  double got[NVAL];
  for (int i = 0; i < 3; i++) {
    exprc_free(compile(EXPRC_BACKEND_AUTO, NULL));
    exprc_model *m = compile(EXPRC_BACKEND_AUTO, NULL);
    results(m, got);
    exprc_free(m);
  }
}
END_TEST

/* Options left at their defaults mean auto: the system compiler's code
 * takes over (here at once, through exprc_wait_tier), and NULL options
 * mean the same. */
START_TEST(the_default_backend_is_auto) {
  exprc_options o;
  exprc_options_default(&o);
  ck_assert_int_eq(o.backend, EXPRC_BACKEND_AUTO);
  exprc_model *m = tu_compile_opts(model_src, &o);
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_TCC);
  ck_assert_msg(exprc_wait_tier(m) == EXPRC_OK, "%s", exprc_errmsg(m));
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_CC);
  exprc_free(m);
  ck_assert_int_eq(exprc_compile_string(model_src, "test.expr", NULL, &m),
                   EXPRC_OK);
  ck_assert_msg(exprc_wait_tier(m) == EXPRC_OK, "%s", exprc_errmsg(m));
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_CC);
  exprc_free(m);
}
END_TEST

/* A model run a few times, its runs far under 10 ms in all (a command
 * that runs and exits, a test), starts no compiler: the script that
 * stands for it is never run, and the note at exprc_free says why. */
START_TEST(a_model_run_a_few_times_starts_no_compiler) {
  char *mark, *script = fake_cc(&mark, "exit 1");
  static Notes notes;
  memset(&notes, 0, sizeof notes);
  exprc_model *m = compile(EXPRC_BACKEND_AUTO, &notes);
  double got[NVAL];
  for (int i = 0; i < 3; i++)
    results(m, got); /* three runs each, a few us */
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_TCC);
  exprc_free(m);
  unsetenv("CC");
  ck_assert_msg(access(mark, F_OK) != 0, "the compiler was started");
  ck_assert_msg(strstr(notes.text, "9 runs took") &&
                    strstr(notes.text, "starts after 10 ms"),
                "notes: %s", notes.text);
  unlink(script);
  free(mark);
  free(script);
}
END_TEST

/* A system compiler that does not know the x86-64 level exprc asks for
 * (gcc before 11): the last try without it builds the code, which runs
 * with libtcc's bits, and the note says how. The script stands for such a
 * compiler: it records every -march it is given and fails on one. */
START_TEST(a_compiler_without_the_processor_level_still_builds) {
  char *mark, *script = fake_cc(
      &mark, "for a; do case \"$a\" in -march=*)\n"
             "  echo \"$a\" >> \"$0.args\"; echo 'error: bad value' >&2; exit 1;;\n"
             "esac; done\nexec cc \"$@\"");
  double want[NVAL], got[NVAL];
  reference(want);
  static Notes notes;
  memset(&notes, 0, sizeof notes);
  exprc_model *m = compile(EXPRC_BACKEND_AUTO, &notes);
  ck_assert_int_eq(exprc_wait_tier(m), EXPRC_OK);
  unsetenv("CC");
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_CC);
  results(m, got);
  assert_same_bits(got, want, "compiled without the level");
  char args[4200];
  snprintf(args, sizeof args, "%s.args", script);
  if (access(args, F_OK) == 0) /* this processor has a level */
    ck_assert_msg(strstr(notes.text, "compiled it with no -march"), "notes: %s",
                  notes.text);
  else
    ck_assert_msg(!strstr(notes.text, "-march"), "notes: %s", notes.text);
  exprc_free(m);
  unlink(args);
  unlink(script);
  unlink(mark);
  free(mark);
  free(script);
}
END_TEST

/* The other backends have nothing to wait for. */
START_TEST(the_other_backends_do_not_wait) {
  exprc_model *m = compile(EXPRC_BACKEND_TCC, NULL);
  ck_assert_int_eq(exprc_wait_tier(m), EXPRC_OK);
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_TCC);
  exprc_free(m);
  m = compile(EXPRC_BACKEND_CC, NULL);
  ck_assert_int_eq(exprc_wait_tier(m), EXPRC_OK);
  ck_assert_int_eq(exprc_backend_now(m), EXPRC_BACKEND_CC);
  exprc_free(m);
  ck_assert_int_eq(exprc_backend_now(NULL), EXPRC_BACKEND_TCC);
  ck_assert_int_eq(exprc_wait_tier(NULL), EXPRC_ERR_ARG);
}
END_TEST

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--exit-without-free") == 0)
    return exit_without_free(argv[2]); /* the cache is the parent's */
  char dir[] = "/tmp/exprc-tiers-XXXXXX", cmd[64];
  if (!mkdtemp(dir))
    return perror("mkdtemp"), 1;
  setenv("EXPRC_CACHE_DIR", dir, 1); /* before any thread */
  unsetenv("CC");
  Suite *s = suite_create("tiers");
  TCase *tc = tu_tcase("tiers", 280);
  tcase_add_test(tc, both_tiers_compute_the_same_bits);
  tcase_add_test(tc, a_caller_running_through_the_switch_sees_the_same_numbers);
  tcase_add_test(tc, gcc_rewrites_of_libm_calls_keep_the_bits);
  tcase_add_test(tc, a_missing_compiler_leaves_libtcc_running);
  tcase_add_test(tc, a_failing_compiler_leaves_libtcc_running);
  tcase_add_test(tc, a_compiler_without_the_processor_level_still_builds);
  tcase_add_test(tc, freeing_the_model_stops_the_compiler);
  tcase_add_test(tc, exiting_without_free_stops_the_compiler);
  tcase_add_test(tc, a_model_freed_at_once_is_fine);
  tcase_add_test(tc, the_other_backends_do_not_wait);
  tcase_add_test(tc, the_default_backend_is_auto);
  tcase_add_test(tc, a_model_run_a_few_times_starts_no_compiler);
  suite_add_tcase(s, tc);
  int rc = tu_run_suite(s);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? rc : 1;
}
