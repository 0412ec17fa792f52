/* test_threads.c: separate models on separate threads, and fork.
 *
 * The README promises that separate models may run on separate threads,
 * each with its own `threads` setting, and that a model's numbers depend on
 * its own thread count only. These tests run several threads that each
 * compile and run their own models (matrix products large enough for
 * OpenBLAS, and flat loops long enough for the runtime's thread pool), and
 * compare every number with values computed beforehand on one thread. Those
 * values are themselves checked against sums written out in this file with
 * libm, an evaluator independent of exprc.
 *
 * A process that forks after using threads must leave its child able to
 * compile and run; the parent waits for the child with a timeout and kills
 * it, so that a hang fails the test instead of hanging it.
 *
 * Worker threads do not call Check's assertions: they record the first
 * mismatch in their own struct, and the main thread asserts on it.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* A product of two 256 x 256 matrices (well above the size where exprc
 * hands products to OpenBLAS), and its gradient, itself a product A^T G. */
static const char product_src[] = "input A[256, 256]\n"
                                  "param W[256, 256]\n"
                                  "H = A @ W\n"
                                  "output H\n"
                                  "loss = sum(tanh(H))\n"
                                  "grad loss wrt W\n";
#define N 256

/* A flat model of 50,000 elements: with threads its loops (and their
 * sums, maxima and minima) are split across the runtime's pool. */
static const char flat_src[] = "input x[50000]\n"
                               "y = tanh(sin(x) * 1.5) + exp(-x^2)\n"
                               "output top = max(y), low = min(y * x)\n"
                               "loss = sum(y * y) + sum(log1p(y^2))\n"
                               "grad loss wrt x\n";
#define FLAT 50000

/* Everything one configuration computes, in a fixed order: the product
 * model's H, loss and dW, then the flat model's top, low, loss and dx. */
#define NVAL (N * N + 1 + N * N + 3 + FLAT)

static double A_in[N * N], W_in[N * N], x_in[FLAT];

/* Inputs drawn from a fixed linear congruential sequence: A in [-1, 1),
 * W in [-1/16, 1/16) so that H stays where tanh is not flat, x in
 * [-2, 2). */
static void make_inputs(void) {
  uint64_t s = 12345;
  for (int i = 0; i < N * N; i++)
    A_in[i] = tu_uniform(&s, -1, 1);
  for (int i = 0; i < N * N; i++)
    W_in[i] = tu_uniform(&s, -0.0625, 0.0625);
  for (int i = 0; i < FLAT; i++)
    x_in[i] = tu_uniform(&s, -2, 2);
}

/* ---- running models without Check (safe on any thread) ---- */

static exprc_model *compile(const char *src, int threads, char *why,
                            size_t n) {
  exprc_options o;
  exprc_options_default(&o);
  o.threads = threads;
  exprc_model *m;
  if (exprc_compile_string(src, "threads.expr", &o, &m) != EXPRC_OK) {
    snprintf(why, n, "compile: %s", m ? exprc_errmsg(m) : "out of memory");
    exprc_free(m);
    return NULL;
  }
  return m;
}

/* Copy n numbers of output `name`, or of dloss/dname, or (name NULL) of
 * the model's one loss. */
static int copy_out(exprc_model *m, const char *loss, const char *name,
                    double *dst, int64_t n) {
  exprc_tensor t;
  exprc_status st = !name ? exprc_get(m, EXPRC_LOSS, 0, &t)
                    : loss ? exprc_find_grad(m, loss, name, &t)
                           : exprc_find(m, name, &t);
  if (st != EXPRC_OK || t.size != n || !t.data)
    return -1;
  memcpy(dst, t.data, (size_t)n * sizeof *dst);
  return 0;
}

/* Run the product model into v[0 .. 2 N^2]. 0 on success. */
static int run_product(exprc_model *m, double *v) {
  int64_t shape[2] = {N, N};
  if (exprc_set(m, "A", A_in, 2, shape) != EXPRC_OK ||
      exprc_set(m, "W", W_in, 2, shape) != EXPRC_OK ||
      exprc_forward(m) != EXPRC_OK || copy_out(m, NULL, "H", v, N * N) ||
      exprc_gradient(m, "loss") != EXPRC_OK ||
      copy_out(m, NULL, NULL, v + N * N, 1) ||
      copy_out(m, "loss", "W", v + N * N + 1, N * N))
    return -1;
  return 0;
}

/* Run the flat model into v[0 .. FLAT + 2]. 0 on success. */
static int run_flat(exprc_model *m, double *v) {
  int64_t shape[1] = {FLAT};
  if (exprc_set(m, "x", x_in, 1, shape) != EXPRC_OK ||
      exprc_forward(m) != EXPRC_OK || copy_out(m, NULL, "top", v, 1) ||
      copy_out(m, NULL, "low", v + 1, 1) ||
      exprc_gradient(m, "loss") != EXPRC_OK ||
      copy_out(m, NULL, NULL, v + 2, 1) ||
      copy_out(m, "loss", "x", v + 3, FLAT))
    return -1;
  return 0;
}

/* Compile both models with `threads`, run them into v, free them. */
static int run_all(int threads, double *v, char *why, size_t n) {
  exprc_model *p = compile(product_src, threads, why, n);
  exprc_model *f = p ? compile(flat_src, threads, why, n) : NULL;
  int rc = -1;
  if (p && f) {
    rc = run_product(p, v) || run_flat(f, v + 2 * N * N + 1) ? -1 : 0;
    if (rc)
      snprintf(why, n, "a run failed: %s / %s", exprc_errmsg(p),
               exprc_errmsg(f));
  }
  exprc_free(p);
  exprc_free(f);
  return rc;
}

/* ---- the independent evaluator ---- */

/* H = A W, loss = sum tanh(H), dW = A^T (1 - tanh(H)^2); for the flat
 * model y = tanh(1.5 sin x) + exp(-x^2), dloss/dx = (2 y + 2 y / (1 +
 * y^2)) dy/dx with dy/dx = 1.5 cos(x) (1 - tanh(1.5 sin x)^2) - 2 x
 * exp(-x^2). Plain loops in this file, in long double. */
static void by_hand(double *v) {
  static double G[N * N];
  long double loss = 0;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      long double h = 0;
      for (int p = 0; p < N; p++)
        h += (long double)A_in[i * N + p] * W_in[p * N + j];
      v[i * N + j] = (double)h;
      double t = tanh((double)h);
      loss += t, G[i * N + j] = 1 - t * t;
    }
  v[N * N] = (double)loss;
  for (int p = 0; p < N; p++)
    for (int j = 0; j < N; j++) {
      long double s = 0;
      for (int i = 0; i < N; i++)
        s += (long double)A_in[i * N + p] * G[i * N + j];
      v[N * N + 1 + p * N + j] = (double)s;
    }
  double *f = v + 2 * N * N + 1, top = -INFINITY, low = INFINITY;
  long double l = 0;
  for (int i = 0; i < FLAT; i++) {
    double x = x_in[i], t = tanh(1.5 * sin(x)), y = t + exp(-x * x);
    top = fmax(top, y), low = fmin(low, y * x);
    l += (long double)y * y + log1p(y * y);
    double dy = 1.5 * cos(x) * (1 - t * t) - 2 * x * exp(-x * x);
    f[3 + i] = (2 * y + 2 * y / (1 + y * y)) * dy;
  }
  f[0] = top, f[1] = low, f[2] = (double)l;
}

/* ---- references: each thread count alone, on the main thread ---- */

#define NCONF 4
static const int conf_threads[NCONF] = {0, 1, 2, 3};
static double *ref[NCONF];

static void make_references(void) {
  char why[4096];
  make_inputs();
  for (int c = 0; c < NCONF; c++) {
    ref[c] = malloc(NVAL * sizeof(double));
    ck_assert_ptr_nonnull(ref[c]);
    ck_assert_msg(run_all(conf_threads[c], ref[c], why, sizeof why) == 0,
                  "%s", why);
  }
}

static void free_references(void) {
  for (int c = 0; c < NCONF; c++)
    free(ref[c]), ref[c] = NULL;
}

/* The first index where a and b differ in their bits, or -1. */
static long first_difference(const double *a, const double *b, long n) {
  for (long i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof a[i]) != 0)
      return i;
  return -1;
}

/* Every thread count computes the numbers of the hand-written loops, up to
 * rounding (the sums of 50,000 terms and the products' dot products add in
 * another order than the long double loops). */
START_TEST(each_thread_count_alone_matches_the_hand_written_loops) {
  make_references();
  double *want = malloc(NVAL * sizeof *want);
  ck_assert_ptr_nonnull(want);
  by_hand(want);
  for (int c = 0; c < NCONF; c++) {
    char what[64];
    snprintf(what, sizeof what, "threads = %d", conf_threads[c]);
    tu_assert_close(ref[c], want, NVAL, 1e-11, what);
  }
  free(want);
  free_references();
}
END_TEST

/* ---- the stress test ---- */

#define NWORKER 4
#define ROUNDS 4

typedef struct Worker {
  pthread_t id;
  int conf;        /* index into conf_threads: this worker's setting */
  double *got;
  char why[4096];  /* the first failure, "" if none */
} Worker;

/* Compile and run both models ROUNDS times: each time, every number must
 * be the same bits as the same thread count gave alone. */
static void *stress(void *arg) {
  Worker *w = arg;
  for (int r = 0; r < ROUNDS && !w->why[0]; r++) {
    if (run_all(conf_threads[w->conf], w->got, w->why, sizeof w->why))
      break;
    long i = first_difference(w->got, ref[w->conf], NVAL);
    if (i >= 0)
      snprintf(w->why, sizeof w->why,
               "threads = %d, round %d: value %ld is %.17g, alone %.17g",
               conf_threads[w->conf], r, i, w->got[i], ref[w->conf][i]);
  }
  return NULL;
}

/* Four threads, with threads = 0, 1, 2 and 3, each compile and run their
 * own models while the others do: compiles that set a thread count while
 * another thread is inside a matrix product, and loops split across the
 * shared pool, must neither crash nor change a single bit. */
START_TEST(separate_models_on_separate_threads_give_the_bits_they_give_alone) {
  make_references();
  Worker w[NWORKER];
  for (int i = 0; i < NWORKER; i++) {
    w[i].conf = i % NCONF, w[i].why[0] = 0;
    w[i].got = malloc(NVAL * sizeof(double));
    ck_assert_ptr_nonnull(w[i].got);
    ck_assert_int_eq(pthread_create(&w[i].id, NULL, stress, &w[i]), 0);
  }
  for (int i = 0; i < NWORKER; i++)
    pthread_join(w[i].id, NULL);
  for (int i = 0; i < NWORKER; i++) {
    ck_assert_msg(!w[i].why[0], "worker %d: %s", i, w[i].why);
    free(w[i].got);
  }
  free_references();
}
END_TEST

/* A model's numbers depend on its own thread count, not on the count that
 * the last compiled model asked for: two chunks of a sum added in order
 * are not the bits of three. */
START_TEST(a_model_keeps_its_thread_count_when_others_are_compiled) {
  make_references();
  ck_assert_msg(first_difference(ref[2], ref[3], NVAL) >= 0,
                "the data must tell two chunks from three");
  char why[4096];
  exprc_model *two = compile(flat_src, 2, why, sizeof why);
  ck_assert_msg(two, "%s", why);
  exprc_model *three = compile(flat_src, 3, why, sizeof why);
  ck_assert_msg(three, "%s", why);
  double *got = malloc((FLAT + 3) * sizeof *got);
  ck_assert_ptr_nonnull(got);
  ck_assert_int_eq(run_flat(two, got), 0);
  const double *want = ref[2] + 2 * N * N + 1;
  ck_assert_int_eq(first_difference(got, want, FLAT + 3), -1);
  exprc_free(two);
  exprc_free(three);
  free(got);
  free_references();
}
END_TEST

/* ---- fork ---- */

/* The child: compile and run both models with two threads and check them
 * against the references; exit 0 if they match, 1 otherwise. */
static void child_work(void) {
  static double got[NVAL];
  char why[4096];
  int ok = run_all(2, got, why, sizeof why) == 0 &&
           first_difference(got, ref[2], NVAL) < 0;
  _exit(ok ? 0 : 1);
}

/* Wait up to `seconds` for pid; kill it if it is still running. Returns
 * its exit status, or -1 if it hung or died of a signal. */
static int wait_bounded(pid_t pid, int seconds) {
  struct timespec tick = {0, 10 * 1000 * 1000};
  for (long t = 0; t < seconds * 100L; t++) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    nanosleep(&tick, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

#define CHILD_SECONDS 60

/* After the parent has run models with threads (so its pool has workers
 * and OpenBLAS has been used), a forked child, which has none of those
 * threads, compiles and runs models with threads and exits. */
START_TEST(a_child_forked_after_threads_ran_compiles_and_runs) {
  make_references();
  char why[4096];
  double *got = malloc(NVAL * sizeof *got);
  ck_assert_ptr_nonnull(got);
  ck_assert_msg(run_all(3, got, why, sizeof why) == 0, "%s", why);
  free(got);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0)
    child_work();
  ck_assert_msg(wait_bounded(pid, CHILD_SECONDS) == 0,
                "the child hung, crashed or computed other numbers");
  free_references();
}
END_TEST

static atomic_int stop_compiling;

/* Compile and free models until told to stop: most of the time this
 * thread holds the compiler's lock. */
static void *keep_compiling(void *arg) {
  char *why = arg;
  while (!atomic_load(&stop_compiling)) {
    exprc_model *m = compile(flat_src, 3, why, 4096);
    if (!m)
      break;
    exprc_free(m);
  }
  return NULL;
}

#define FORKS 16

/* Fork while another thread is compiling and running models: whatever lock
 * that thread held at the moment of fork, the child can take it. */
START_TEST(a_child_forked_while_another_thread_compiles_is_not_stuck) {
  make_references();
  static char why[4096];
  why[0] = 0;
  atomic_store(&stop_compiling, 0);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, keep_compiling, why), 0);
  int hung = 0, i;
  for (i = 0; i < FORKS && !hung; i++) { /* one hung child is enough */
    struct timespec pause = {0, (3 + 7 * i) * 1000 * 1000};
    nanosleep(&pause, NULL); /* land at a different point each time */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
      child_work();
    hung += wait_bounded(pid, CHILD_SECONDS) != 0;
  }
  atomic_store(&stop_compiling, 1);
  pthread_join(t, NULL);
  ck_assert_msg(!why[0], "the compiling thread: %s", why);
  ck_assert_msg(!hung, "child %d of %d hung, crashed or computed other "
                "numbers", i, FORKS);
  free_references();
}
END_TEST

/* Two cases, so that a build can run one alone (CK_RUN_CASE, as
 * tests/meson.build does): ThreadSanitizer runs "threads" but not "fork",
 * since it cannot follow threads started in the child of a process that
 * had threads (it says so, and stops on the first such thread). */
int main(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("threads");
  tcase_set_timeout(tc, 280);
  tcase_add_test(tc, each_thread_count_alone_matches_the_hand_written_loops);
  tcase_add_test(tc,
                 separate_models_on_separate_threads_give_the_bits_they_give_alone);
  tcase_add_test(tc, a_model_keeps_its_thread_count_when_others_are_compiled);
  suite_add_tcase(s, tc);
  TCase *fork_tc = tcase_create("fork");
  tcase_set_timeout(fork_tc, 280);
  tcase_add_test(fork_tc, a_child_forked_after_threads_ran_compiles_and_runs);
  tcase_add_test(fork_tc,
                 a_child_forked_while_another_thread_compiles_is_not_stuck);
  suite_add_tcase(s, fork_tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
