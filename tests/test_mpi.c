/* test_mpi.c: data-parallel training (examples/train_mpi) under mpirun on
 * this machine, 1, 2 and 4 ranks, compared with each other and with the
 * single-process trainer (examples/train).
 *
 * The claims, and why they can be tested:
 *  - Same answer at any scale. With the same global batch the ranks sum
 *    the same per-row gradients, only grouped differently, so the params
 *    after training differ only by the rounding of that regrouping. The
 *    bound (derived in README.md, "Training on several machines"): each
 *    step's gradient differs by at most 2*gamma(B+4)*S a component, with
 *    gamma(k) = k*u/(1-k*u), u = 2^-53, B the global batch and S the sum of
 *    the magnitudes of the rows' contributions (S <= 10 for this model on
 *    standardised iris); each step moves the params by lr times that, and
 *    training carries a difference on with a gain A (measured for this run
 *    by perturbing a checkpoint by 1e-12: A is about 1, so allow 10). For
 *    B = 39, lr 0.1 and T = 40 steps (10 epochs), T*lr*2*gamma(43)*S*A is
 *    4e-11 of params of magnitude about 1: the test allows 1e-10. A real
 *    change of the sum (a row lost, a wrong share) moves the params by
 *    1e-3 or more, as the control case with batch 40 shows. Measured:
 *    about 1e-16 for SGD and for Adam (Adam divides by the gradient's own
 *    size, so no bound of this form holds for it; the test holds it to the
 *    same number).
 *  - Bit for bit from run to run at a fixed number of ranks, and across a
 *    checkpoint and --resume.
 *  - One rank is train.c: the same seed gives the same report.
 *
 * How mpirun is run here (also what README.md tells a user running as root,
 * as CI does): Open MPI refuses to run as root unless OMPI_ALLOW_RUN_AS_ROOT
 * and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM are 1; ranks talk through shared
 * memory only (btl self,vader: no network, and single-copy off, which
 * containers forbid), the launcher's own channel stays on the loopback
 * interface, a waiting rank yields its core (the cores are shared), no rank is bound to a core (--bind-to none; 4 ranks on 2 cores
 * need --oversubscribe), OpenBLAS uses one thread a rank, and every mpirun
 * runs under `timeout`, so that a hung rank fails the test instead of
 * hanging CI.
 */
#define _DEFAULT_SOURCE /* realpath, mkdtemp */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "testutil.h"

static const char *mpirun, *train_mpi, *train, *srcroot;
static char workdir[] = "/tmp/exprc-mpi-XXXXXX";

static const char *const PARAMS[] = {"W1", "b1", "W2", "b2"};
#define NPARAMS 4

#define IRIS "examples/softmax_mlp.expr examples/data/iris.csv"

/* The end of a long text: Check's messages must stay short. */
static const char *tail(const char *s) {
  size_t n = s ? strlen(s) : 0;
  return !s ? "" : n > 1500 ? s + n - 1500 : s;
}

/* Run train_mpi on np ranks with args; returns its stdout. */
static char *run_np(int np, const char *args, int want_rc) {
  char cmd[8192], *out = NULL, *err = NULL;
  snprintf(cmd, sizeof cmd,
           "cd '%s' && timeout -k 5 120 '%s' -np %d --oversubscribe "
           "--bind-to none '%s' %s",
           srcroot, mpirun, np, train_mpi, args);
  int rc = tu_run(cmd, &out, &err);
  ck_assert_msg(rc == want_rc, "%s exited with %d, not %d\nstdout:\n%s\n"
                "stderr:\n%s", cmd, rc, want_rc, tail(out), tail(err));
  ck_assert(out != NULL);
  if (want_rc != 0) { /* the reason is what the caller checks */
    size_t n = strlen(out) + (err ? strlen(err) : 0) + 1;
    out = realloc(out, n);
    strcat(out, err ? err : "");
  }
  free(err);
  return out;
}

/* Train on np ranks into checkpoint directory `name` under workdir. */
static void train_into(int np, const char *name, const char *args) {
  char full[8192];
  snprintf(full, sizeof full, "%s --checkpoint '%s/%s' %.4000s", IRIS,
           workdir, name, args);
  free(run_np(np, full, 0));
}

static exprc_rt_array load_param(const char *dir, const char *param) {
  char path[4096], err[512];
  exprc_rt_array a;
  snprintf(path, sizeof path, "%s/%s/%s.npy", workdir, dir, param);
  ck_assert_msg(exprc_rt_read_array(path, &a, (int64_t)1 << 28, err, sizeof err) == 0, "%s",
                err);
  return a;
}

/* max |a - b| over every param, divided by max |a|. */
static double rel_diff(const char *a_dir, const char *b_dir) {
  double num = 0, den = 0;
  for (int k = 0; k < NPARAMS; k++) {
    exprc_rt_array a = load_param(a_dir, PARAMS[k]);
    exprc_rt_array b = load_param(b_dir, PARAMS[k]);
    ck_assert_int_eq(a.size, b.size);
    for (int64_t i = 0; i < a.size; i++) {
      num = fmax(num, fabs(a.data[i] - b.data[i]));
      den = fmax(den, fabs(a.data[i]));
    }
    free(a.data);
    free(b.data);
  }
  return num / den;
}

/* A whole file's bytes (.npy holds NULs); NULL if it cannot be read. */
static char *read_bytes(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  if (f && fseek(f, 0, SEEK_END) == 0 && (*n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)*n + 1)) &&
      fread(buf, 1, (size_t)*n, f) != (size_t)*n) {
    free(buf);
    buf = NULL;
  }
  if (f)
    fclose(f);
  return buf;
}

/* Whether two checkpoints hold the same bytes: every param and state.txt,
 * which holds the step, the shuffle state and Adam's moments. */
static int same_bytes(const char *a_dir, const char *b_dir) {
  const char *files[] = {"W1.npy", "b1.npy", "W2.npy", "b2.npy", "state.txt"};
  int same = 1;
  for (int k = 0; k < 5; k++) {
    char pa[4096], pb[4096];
    long na = 0, nb = 0;
    snprintf(pa, sizeof pa, "%s/%s/%s", workdir, a_dir, files[k]);
    snprintf(pb, sizeof pb, "%s/%s/%s", workdir, b_dir, files[k]);
    char *a = read_bytes(pa, &na), *b = read_bytes(pb, &nb);
    ck_assert_msg(a && b, "cannot read %s or %s", pa, pb);
    same = same && na == nb && !memcmp(a, b, (size_t)na);
    free(a);
    free(b);
  }
  return same;
}

/* ---- same answer at any scale ---- */

/* The bound of the header comment, and a control that shows that a real
 * change of the data moves the params far beyond it. */
#define SCALE_BOUND 1e-10

static void same_answer_on_1_2_4_ranks(const char *opt, const char *tag) {
  char args[256], d1[64], d2[64], d4[64], dc[64];
  snprintf(d1, sizeof d1, "%s1", tag);
  snprintf(d2, sizeof d2, "%s2", tag);
  snprintf(d4, sizeof d4, "%s4", tag);
  snprintf(dc, sizeof dc, "%sctl", tag);
  snprintf(args, sizeof args, "--epochs 10 --batch 39 %s", opt);
  train_into(1, d1, args);
  train_into(2, d2, args);
  train_into(4, d4, args);
  snprintf(args, sizeof args, "--epochs 10 --batch 40 %s", opt);
  train_into(1, dc, args);
  double r2 = rel_diff(d1, d2), r4 = rel_diff(d1, d4), rc = rel_diff(d1, dc);
  fprintf(stderr, "%s: relative difference to 1 rank: 2 ranks %.3g, 4 ranks "
          "%.3g; batch 40 instead of 39: %.3g\n", tag, r2, r4, rc);
  ck_assert_msg(r2 <= SCALE_BOUND, "2 ranks differ from 1 by %g", r2);
  ck_assert_msg(r4 <= SCALE_BOUND, "4 ranks differ from 1 by %g", r4);
  ck_assert_msg(rc > 1e3 * SCALE_BOUND, "the control differs by only %g", rc);
}

/* Batch 39 of 120 rows: batches of 39, 39, 39 and 3 rows, so the ranks'
 * shares are unequal (19 and 20 rows; 9 and 10) and in the last batch one
 * of 4 ranks has no row at all. */
START_TEST(sgd_gives_the_same_params_on_1_2_and_4_ranks) {
  same_answer_on_1_2_4_ranks("", "sgd");
}
END_TEST

START_TEST(adam_gives_the_same_params_on_1_2_and_4_ranks) {
  same_answer_on_1_2_4_ranks("--adam", "adam");
}
END_TEST

/* ---- the same bits ---- */

START_TEST(the_same_bits_from_run_to_run) {
  train_into(2, "runA2", "--epochs 4 --batch 39 --adam");
  train_into(2, "runB2", "--epochs 4 --batch 39 --adam");
  ck_assert_msg(same_bytes("runA2", "runB2"), "two 2-rank runs differ");
  train_into(4, "runA4", "--epochs 4 --batch 39 --adam");
  train_into(4, "runB4", "--epochs 4 --batch 39 --adam");
  ck_assert_msg(same_bytes("runA4", "runB4"), "two 4-rank runs differ");
}
END_TEST

/* Stopped after 3 epochs and resumed to 6, a run ends with the same bytes
 * as one that never stopped: params, step, shuffle state, Adam's moments. */
START_TEST(resume_continues_bit_for_bit) {
  train_into(2, "whole", "--epochs 6 --batch 39 --adam");
  train_into(2, "part", "--epochs 3 --batch 39 --adam");
  char args[256];
  snprintf(args, sizeof args, "--epochs 6 --batch 39 --adam --resume "
           "'%s/part'", workdir);
  train_into(2, "part", args);
  ck_assert_msg(same_bytes("whole", "part"), "the resumed run differs");
  ck_assert(access("part.tmp", F_OK) != 0); /* nothing half written left */
}
END_TEST

/* A checkpoint can only continue the run that wrote it. */
START_TEST(resume_refuses_another_seed) {
  train_into(2, "seeded", "--epochs 2 --batch 39");
  char args[4096];
  snprintf(args, sizeof args, "%s --epochs 4 --batch 39 --seed 3 --resume "
           "'%s/seeded'", IRIS, workdir);
  char *out = run_np(2, args, 1);
  ck_assert_msg(strstr(out, "written with --seed 2 --batch 39; run with the "
                "same to resume"), "%s", out);
  free(out);
}
END_TEST

/* ---- one rank is train.c ---- */

/* On one rank nothing is scaled or regrouped: the same seed gives the same
 * params, so train's report and train_mpi's are the same line. */
START_TEST(one_rank_reports_what_train_reports) {
  char cmd[8192], *want = NULL;
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s --epochs 8 --batch 20",
           srcroot, train, IRIS);
  ck_assert_int_eq(tu_run(cmd, &want, NULL), 0);
  char *got = run_np(1, IRIS " --epochs 8 --batch 20", 0);
  const char *line = strstr(want, "test accuracy: ");
  ck_assert_ptr_nonnull(line);
  ck_assert_msg(strstr(got, line), "train said\n%s\ntrain_mpi said\n%s", want,
                got);
  free(want);
  free(got);
}
END_TEST

/* ---- misuse ---- */

/* A gradient wrt an input has the batch's shape, different on each rank:
 * the block could not be summed, and the trainer says so on every rank
 * instead of hanging. */
START_TEST(a_gradient_wrt_an_input_is_refused) {
  char *model = tu_temp_file("dim N\ninput x[N, 4]\ninput y[N, 3]\n"
                             "param W[4, 3]\nz = x @ W\n"
                             "loss = sum((z - y)^2) / N\n"
                             "output z\ngrad loss wrt W, x\n", ".expr");
  char args[4096];
  snprintf(args, sizeof args, "'%s' examples/data/iris.csv --epochs 1",
           model);
  char *out = run_np(2, args, 1);
  ck_assert_msg(strstr(out, "every 'wrt' of 'grad loss' must be a param"),
                "%s", out);
  free(out);
  remove(model);
  free(model);
}
END_TEST

/* A usage error is said once, not once a rank. */
START_TEST(bad_usage_is_said_once) {
  char *out = run_np(4, IRIS " --epochs zero", 2);
  const char *first = strstr(out, "bad option or value: --epochs");
  ck_assert_msg(first && !strstr(first + 1, "bad option"), "%s", out);
  free(out);
}
END_TEST

/* Append opt to the sanitizer option list `var`. */
static void add_option(const char *var, const char *opt) {
  const char *old = getenv(var);
  char buf[4096];
  snprintf(buf, sizeof buf, "%s%s%s", old ? old : "", old && *old ? ":" : "",
           opt);
  setenv(var, buf, 1);
}

/* Ranks talk through shared memory on this machine only; see the header.
 * In a sanitizer build, Open MPI's own leaks are suppressed by library
 * (test_mpi.supp); the full unwinder finds those libraries' frames. */
static void set_environment(void) {
  char supp[4200];
  snprintf(supp, sizeof supp, "suppressions=%s/tests/test_mpi.supp",
           srcroot);
  add_option("LSAN_OPTIONS", supp);
  add_option("ASAN_OPTIONS", "fast_unwind_on_malloc=0");
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  setenv("OMPI_MCA_btl", "self,vader", 1);
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  setenv("OMPI_MCA_oob_tcp_if_include", "lo", 1);
  setenv("OMPI_MCA_mpi_yield_when_idle", "1", 1); /* cores are shared */
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s MPIRUN TRAIN_MPI TRAIN SOURCE_ROOT\n", argv[0]);
    return 2;
  }
  /* the tests run commands from the source root: absolute paths */
  char *paths[4];
  for (int k = 0; k < 4; k++)
    if (!(paths[k] = realpath(argv[k + 1], NULL)))
      return perror(argv[k + 1]), 2;
  mpirun = paths[0], train_mpi = paths[1], train = paths[2];
  srcroot = paths[3];
  set_environment();
  if (!mkdtemp(workdir))
    return perror("mkdtemp"), 1;
  Suite *s = suite_create("mpi");
  TCase *tc = tu_tcase("mpi", 240);
  tcase_add_test(tc, sgd_gives_the_same_params_on_1_2_and_4_ranks);
  tcase_add_test(tc, adam_gives_the_same_params_on_1_2_and_4_ranks);
  tcase_add_test(tc, the_same_bits_from_run_to_run);
  tcase_add_test(tc, resume_continues_bit_for_bit);
  tcase_add_test(tc, resume_refuses_another_seed);
  tcase_add_test(tc, one_rank_reports_what_train_reports);
  tcase_add_test(tc, a_gradient_wrt_an_input_is_refused);
  tcase_add_test(tc, bad_usage_is_said_once);
  suite_add_tcase(s, tc);
  int rc = tu_run_suite(s);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", workdir);
  for (int k = 0; k < 4; k++)
    free(paths[k]);
  return rc;
}
