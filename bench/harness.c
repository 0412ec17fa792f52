/* harness.c: the measuring program behind bench/run.
 *
 *   bench_harness w1|w2|w3 MODEL.expr DATA_DIR
 *       time exprc's forward and gradient entry points on a benchmark model
 *       and the hand-written C for the same loss, on the same seeded data;
 *       first check that both give the same loss and gradients, and write
 *       the data to DATA_DIR/NAME.bin (float64, in the order torch_bench.py
 *       reads it) so that PyTorch computes exactly the same thing.
 *   bench_harness w1|w2|w3 MODEL.expr DATA_DIR CASE CALLS
 *       run only CASE (a name as printed, e.g. "exprc gradient") CALLS
 *       times, untimed: for profiling with perf or callgrind.
 *   bench_harness compile MODEL.expr REPEATS [no-simplify]
 *       time the whole pipeline, model text in memory -> callable entry
 *       points (exprc_compile_string), REPEATS times.
 *   bench_harness eval MODEL.expr NAME=VALUE...
 *       compile once (timed), set scalar inputs, run every gradient entry
 *       point, print the loss and the gradients (for the scaling
 *       cross-check with SymPy).
 *
 * Output is one tab-separated line per figure: `R` lines are timings, `C`
 * lines check figures (see bench.h). Everything runs in one thread; bench/run
 * sets OPENBLAS_NUM_THREADS=1.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "exprc.h"
#include "hand.h"
#include "tcc_hand.h"

static void die(const char *what, exprc_model *m) {
  fprintf(stderr, "bench_harness: %s: %s\n", what, m ? exprc_errmsg(m) : "");
  exit(1);
}

/* The baseline rows are libtcc's code alone: the default backend (auto)
 * would swap the system compiler's in while they are timed. */
static exprc_model *compile(const char *path) {
  exprc_model *m;
  exprc_options o;
  exprc_options_default(&o);
  o.backend = EXPRC_BACKEND_TCC;
  if (exprc_compile_file(path, &o, &m) != EXPRC_OK)
    die(path, m);
  return m;
}

static void set(exprc_model *m, const char *name, const double *x, int rank,
                int64_t d0, int64_t d1) {
  int64_t shape[2] = {d0, d1};
  if (exprc_set(m, name, x, rank, shape) != EXPRC_OK)
    die(name, m);
}

static const double *grad_of(exprc_model *m, const char *loss, const char *p) {
  exprc_tensor t;
  if (exprc_find_grad(m, loss, p, &t) != EXPRC_OK)
    die(p, m);
  return t.data;
}

static double output(exprc_model *m, const char *name, exprc_kind kind) {
  exprc_tensor t;
  for (int i = 0; i < exprc_count(m, kind); i++)
    if (exprc_get(m, kind, i, &t) == EXPRC_OK && strcmp(t.name, name) == 0)
      return t.data[0];
  die(name, m);
  return 0;
}

/* The sum of every element of the gradients of `loss` (compared with the
 * same sum from PyTorch). */
static double gradient_sum(exprc_model *m, const char *loss) {
  exprc_tensor g;
  double s = 0;
  for (int i = 0; i < exprc_count(m, EXPRC_GRADIENT); i++)
    if (exprc_get(m, EXPRC_GRADIENT, i, &g) == EXPRC_OK &&
        strcmp(g.loss, loss) == 0)
      for (int64_t k = 0; k < g.size; k++)
        s += g.data[k];
  return s;
}

/* Timed calls of the two entry points. */
static void call_forward(void *m) {
  if (exprc_forward(m) != EXPRC_OK)
    die("exprc_forward", m);
}

static void call_gradient(void *m) {
  if (exprc_gradient(m, "loss") != EXPRC_OK)
    die("exprc_gradient", m);
}

static void call_gradient_f(void *m) {
  if (exprc_gradient(m, "f") != EXPRC_OK)
    die("exprc_gradient", m);
}

static void dump(const char *dir, const char *name, const double *const *arr,
                 const long *len, int n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  FILE *f = fopen(path, "wb");
  for (int i = 0; f && i < n; i++)
    fwrite(arr[i], sizeof(double), (size_t)len[i], f);
  if (!f || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* With a case named on the command line, only that case runs, a fixed
 * number of times and untimed: a steady workload for perf or callgrind. */
static const char *only_case;
static long only_calls;

static void measure(const char *w, const char *name, bench_fn fn, void *arg) {
  BenchStat st;
  if (only_case) {
    for (long i = 0; strcmp(name, only_case) == 0 && i < only_calls; i++)
      fn(arg);
    return;
  }
  bench_measure(fn, arg, &st);
  bench_report(w, name, &st);
}

/* A hand-written function compiled by libtcc instead of gcc -O2. */
static void measure_tcc(const char *w, const char *name, const char *file,
                        const char *symbol, void *arg) {
  if (only_case && strcmp(only_case, name) != 0)
    return; /* profiling another case */
  bench_fn fn = tcc_hand(file, symbol);
  if (fn)
    measure(w, name, fn, arg);
  else
    printf("I\t%s\t%s: libtcc could not compile %s\n", w, name, file);
}

/* The same model compiled by the system C compiler at -O2 (exprc's cc
 * backend) instead of libtcc, with every input and param copied from m:
 * how much of exprc's time is tcc's code rather than the emitted C. */
static void measure_cc(const char *w, const char *model, exprc_model *m,
                       bench_fn gradient, const char *loss) {
  exprc_options o;
  exprc_model *cc;
  exprc_tensor t;
  if (only_case && !strstr(only_case, "cc -O2"))
    return; /* profiling another case */
  exprc_options_default(&o);
  o.backend = EXPRC_BACKEND_CC;
  if (exprc_compile_file(model, &o, &cc) != EXPRC_OK) {
    printf("I\t%s\tcc backend unavailable: %s\n", w, exprc_errmsg(cc));
    exprc_free(cc);
    return;
  }
  for (int k = EXPRC_INPUT; k <= EXPRC_PARAM; k++)
    for (int i = 0; i < exprc_count(m, (exprc_kind)k); i++)
      if (exprc_get(m, (exprc_kind)k, i, &t) != EXPRC_OK ||
          exprc_set(cc, t.name, t.data, t.rank, t.shape) != EXPRC_OK)
        die(t.name, cc);
  gradient(cc);
  gradient(m);
  bench_check(w, "loss cc backend", output(cc, loss, EXPRC_LOSS));
  bench_check(w, "loss tcc backend", output(m, loss, EXPRC_LOSS));
  measure(w, "exprc forward, cc -O2 backend", call_forward, cc);
  measure(w, "exprc gradient, cc -O2 backend", gradient, cc);
  exprc_free(cc);
}

/* ---- --backend auto ---- */

/* A model compiled with backend b, every input and param copied from m. */
static exprc_model *compile_typed(const char *model, exprc_model *m,
                                  exprc_backend b, exprc_dtype dtype) {
  exprc_options o;
  exprc_model *c;
  exprc_tensor t;
  exprc_options_default(&o);
  o.backend = b;
  o.dtype = dtype;
  if (exprc_compile_file(model, &o, &c) != EXPRC_OK)
    die(model, c);
  for (int k = EXPRC_INPUT; k <= EXPRC_PARAM; k++)
    for (int i = 0; i < exprc_count(m, (exprc_kind)k); i++)
      if (exprc_get(m, (exprc_kind)k, i, &t) != EXPRC_OK ||
          exprc_set(c, t.name, t.data, t.rank, t.shape) != EXPRC_OK)
        die(t.name, c);
  return c;
}

static exprc_model *compile_like(const char *model, exprc_model *m,
                                 exprc_backend b) {
  return compile_typed(model, m, b, EXPRC_FLOAT64);
}

static int cmp_double(const void *a, const void *b);

/* Time to first result: compile, set every input and param, one gradient;
 * the median of 11 such runs (each a sample of one call). With auto the
 * system compiler starts only once the runs have taken 10 ms: the first
 * result pays
 * for the copies auto keeps for it. The model is freed, untimed, and the
 * next run starts after a pause of 50 ms, as a program starting afresh
 * would (so that one run's freed memory and stopped processes do not
 * weigh on the next). */
static void first_result(const char *w, const char *name, const char *model,
                         exprc_model *m, bench_fn gradient, exprc_backend b) {
  enum { N = 11 };
  double t[N];
  for (int i = 0; i < N; i++) {
    double t0 = bench_now();
    exprc_model *c = compile_like(model, m, b);
    gradient(c);
    t[i] = bench_now() - t0;
    exprc_free(c);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
  }
  qsort(t, N, sizeof *t, cmp_double);
  BenchStat st = {.median = t[N / 2], .q1 = t[N / 4], .q3 = t[3 * N / 4],
                  .calls = 1, .samples = N};
  bench_report(w, name, &st);
}

/* --backend auto: the time to a first result against libtcc's, and the
 * per-call time once the system compiler's code has taken over (its loss
 * must equal libtcc's in every bit). */
static void measure_auto(const char *w, const char *model, exprc_model *m,
                         bench_fn gradient, const char *loss) {
  char dir[] = "/tmp/exprc-bench-auto-XXXXXX", *old = getenv("EXPRC_CACHE_DIR");
  char *saved = old ? strdup(old) : NULL;
  if (only_case && !strstr(only_case, "auto"))
    return;
  if (!mkdtemp(dir))
    die("mkdtemp", NULL);
  setenv("EXPRC_CACHE_DIR", dir, 1); /* cold: nothing cached */
  first_result(w, "first result, tcc", model, m, gradient, EXPRC_BACKEND_TCC);
  first_result(w, "first result, auto", model, m, gradient, EXPRC_BACKEND_AUTO);
  exprc_model *a = compile_like(model, m, EXPRC_BACKEND_AUTO);
  if (exprc_wait_tier(a) != EXPRC_OK)
    printf("I\t%s\tauto: the system compiler's code does not run: %s\n", w,
           exprc_errmsg(a));
  gradient(a);
  gradient(m);
  bench_check(w, "loss auto backend", output(a, loss, EXPRC_LOSS));
  bench_check(w, "loss tcc backend", output(m, loss, EXPRC_LOSS));
  measure(w, "exprc gradient, auto after the swap", gradient, a);
  exprc_free(a);
  saved ? setenv("EXPRC_CACHE_DIR", saved, 1) : unsetenv("EXPRC_CACHE_DIR");
  free(saved);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_harness: could not remove %s\n", dir);
}

/* One-hot targets: row i has its 1 at a seeded class. */
static void one_hot(exprc_rng *r, double *y, int rows, int classes) {
  memset(y, 0, sizeof(double) * (size_t)rows * (size_t)classes);
  for (int i = 0; i < rows; i++)
    y[i * classes + (int)(exprc_rng_next(r) % (uint64_t)classes)] = 1;
}

/* ---- float32 (exprc_options.dtype) ---- */

/* The model compiled as float32 (backend b) with every input and param of m
 * rounded into it. */
static exprc_model *compile_f32(const char *model, exprc_model *m,
                                exprc_backend b) {
  return compile_typed(model, m, b, EXPRC_FLOAT32);
}

/* The loss of a float32 model, read through its float view (so that the
 * timed runs copy nothing into double views). */
static double loss_f32(exprc_model *f, const char *loss) {
  exprc_tensor t;
  for (int i = 0; i < exprc_count(f, EXPRC_LOSS); i++)
    if (exprc_get_f32(f, EXPRC_LOSS, i, &t) == EXPRC_OK &&
        strcmp(t.name, loss) == 0)
      return t.data_f32[0];
  die(loss, f);
  return 0;
}

/* The same workload in float32, on libtcc and on the system compiler: its
 * loss against the float64 model's, and its times. */
static void measure_f32(const char *w, const char *model, exprc_model *m,
                        bench_fn gradient, const char *loss) {
  if (only_case && !strstr(only_case, "float32"))
    return; /* profiling another case */
  exprc_model *f = compile_f32(model, m, EXPRC_BACKEND_TCC);
  gradient(f);
  gradient(m);
  bench_check(w, "loss float32", loss_f32(f, loss));
  bench_check(w, "loss float64", output(m, loss, EXPRC_LOSS));
  measure(w, "exprc float32 forward", call_forward, f);
  measure(w, "exprc float32 gradient", gradient, f);
  exprc_free(f);
  exprc_options o;
  exprc_options_default(&o);
  o.backend = EXPRC_BACKEND_CC;
  exprc_model *probe; /* the cc backend may be missing: say so, go on */
  if (exprc_compile_string("input x\noutput y = x", "probe", &o, &probe) !=
          EXPRC_OK ||
      exprc_backend_now(probe) != EXPRC_BACKEND_CC) {
    printf("I\t%s\tcc backend unavailable for float32\n", w);
    exprc_free(probe);
    return;
  }
  exprc_free(probe);
  f = compile_f32(model, m, EXPRC_BACKEND_CC);
  gradient(f);
  bench_check(w, "loss float32 cc backend", loss_f32(f, loss));
  measure(w, "exprc float32 gradient, cc -O2 backend", gradient, f);
  exprc_free(f);
  f = compile_f32(model, m, EXPRC_BACKEND_AUTO); /* the default backend */
  if (exprc_wait_tier(f) != EXPRC_OK)
    printf("I\t%s\tfloat32 auto: the system compiler's code does not run: "
           "%s\n", w, exprc_errmsg(f));
  gradient(f);
  bench_check(w, "loss float32 auto backend", loss_f32(f, loss));
  measure(w, "exprc float32 gradient, auto after the swap", gradient, f);
  exprc_free(f);
}

/* ---- W1: MLP 784-128-10, batch 64 ---- */

typedef struct Arrays {
  double *a[6];
  long n[6];
} Arrays;

static void arrays_new(Arrays *A, const long n[6]) {
  for (int i = 0; i < 6; i++) {
    A->n[i] = n[i];
    A->a[i] = malloc(sizeof(double) * (size_t)n[i]);
  }
}

static void check_mlp1(exprc_model *m, Mlp1 *h) {
  const char *names[4] = {"W1", "b1", "W2", "b2"};
  double *hand[4] = {h->dW1, h->db1, h->dW2, h->db2};
  long n[4] = {M1_IN * M1_HID, M1_HID, M1_HID * M1_OUT, M1_OUT};
  double worst = 0;
  exprc_gradient(m, "loss");
  mlp1_grad_loops(h);
  for (int i = 0; i < 4; i++) {
    double e = bench_max_rel_err(grad_of(m, "loss", names[i]), hand[i], n[i]);
    worst = e > worst || e != e ? e : worst;
  }
  bench_check("W1", "loss exprc", output(m, "loss", EXPRC_LOSS));
  bench_check("W1", "loss hand", h->loss);
  bench_check("W1", "max rel err exprc vs hand gradients", worst);
  bench_check("W1", "sum of exprc gradients", gradient_sum(m, "loss"));
  mlp1_grad_blas(h);
  bench_check("W1", "loss hand blas", h->loss);
}

static void run_w1(const char *model, const char *dir) {
  static const long n[6] = {M1_B * M1_IN, M1_B * M1_OUT, M1_IN * M1_HID,
                            M1_HID, M1_HID * M1_OUT, M1_OUT};
  Arrays A;
  exprc_rng r;
  exprc_rng_seed(&r, 1);
  arrays_new(&A, n);
  bench_fill(&r, A.a[0], n[0], 0, 1);        /* pixel-like inputs */
  one_hot(&r, A.a[1], M1_B, M1_OUT);
  bench_fill(&r, A.a[2], n[2], -0.05, 0.05); /* about 1/sqrt(784) */
  bench_fill(&r, A.a[3], n[3], -0.1, 0.1);
  bench_fill(&r, A.a[4], n[4], -0.2, 0.2);
  bench_fill(&r, A.a[5], n[5], -0.1, 0.1);
  dump(dir, "w1", (const double *const *)A.a, A.n, 6);
  exprc_model *m = compile(model);
  set(m, "X", A.a[0], 2, M1_B, M1_IN);
  set(m, "Y", A.a[1], 2, M1_B, M1_OUT);
  set(m, "W1", A.a[2], 2, M1_IN, M1_HID);
  set(m, "b1", A.a[3], 1, M1_HID, 0);
  set(m, "W2", A.a[4], 2, M1_HID, M1_OUT);
  set(m, "b2", A.a[5], 1, M1_OUT, 0);
  Mlp1 h = {.X = A.a[0], .Y = A.a[1], .W1 = A.a[2], .b1 = A.a[3],
            .W2 = A.a[4], .b2 = A.a[5]};
  h.dW1 = malloc(sizeof(double) * (size_t)n[2]);
  h.db1 = malloc(sizeof(double) * M1_HID);
  h.dW2 = malloc(sizeof(double) * (size_t)n[4]);
  h.db2 = malloc(sizeof(double) * M1_OUT);
  mlp1_alloc_scratch(&h);
  check_mlp1(m, &h);
  measure("W1", "exprc forward", call_forward, m);
  measure("W1", "exprc gradient", call_gradient, m);
  measure("W1", "hand C loops forward", mlp1_forward_loops, &h);
  measure("W1", "hand C loops gradient", mlp1_grad_loops, &h);
  measure("W1", "hand C OpenBLAS gradient", mlp1_grad_blas, &h);
  measure("W1", "OpenBLAS products alone", mlp1_products_blas, &h);
  Mlp1f hf;
  mlp1f_from(&hf, &h);
  measure("W1", "OpenBLAS float32 products alone", mlp1_products_f32, &hf);
  mlp1f_free(&hf);
  measure_cc("W1", model, m, call_gradient, "loss");
  measure_auto("W1", model, m, call_gradient, "loss");
  measure_f32("W1", model, m, call_gradient, "loss");
  exprc_free(m);
}

/* ---- W2: MLP 4-16-3, one example ---- */

static void check_mlp2(exprc_model *m, Mlp2 *h) {
  const char *names[4] = {"W1", "b1", "W2", "b2"};
  double *hand[4] = {h->dW1, h->db1, h->dW2, h->db2};
  long n[4] = {M2_HID * M2_IN, M2_HID, M2_OUT * M2_HID, M2_OUT};
  double worst = 0;
  exprc_gradient(m, "loss");
  mlp2_grad(h);
  for (int i = 0; i < 4; i++) {
    double e = bench_max_rel_err(grad_of(m, "loss", names[i]), hand[i], n[i]);
    worst = e > worst || e != e ? e : worst;
  }
  bench_check("W2", "loss exprc", output(m, "loss", EXPRC_LOSS));
  bench_check("W2", "loss hand", h->loss);
  bench_check("W2", "max rel err exprc vs hand gradients", worst);
  bench_check("W2", "sum of exprc gradients", gradient_sum(m, "loss"));
}

static void run_w2(const char *model, const char *dir) {
  static const long n[6] = {M2_IN, M2_OUT, M2_HID * M2_IN, M2_HID,
                            M2_OUT * M2_HID, M2_OUT};
  Arrays A;
  exprc_rng r;
  exprc_rng_seed(&r, 2);
  arrays_new(&A, n);
  bench_fill(&r, A.a[0], n[0], -1, 1);
  one_hot(&r, A.a[1], 1, M2_OUT);
  bench_fill(&r, A.a[2], n[2], -0.5, 0.5);
  bench_fill(&r, A.a[3], n[3], -0.1, 0.1);
  bench_fill(&r, A.a[4], n[4], -0.3, 0.3);
  bench_fill(&r, A.a[5], n[5], -0.1, 0.1);
  dump(dir, "w2", (const double *const *)A.a, A.n, 6);
  exprc_model *m = compile(model);
  set(m, "x", A.a[0], 1, M2_IN, 0);
  set(m, "y", A.a[1], 1, M2_OUT, 0);
  set(m, "W1", A.a[2], 2, M2_HID, M2_IN);
  set(m, "b1", A.a[3], 1, M2_HID, 0);
  set(m, "W2", A.a[4], 2, M2_OUT, M2_HID);
  set(m, "b2", A.a[5], 1, M2_OUT, 0);
  Mlp2 h = {.x = A.a[0], .y = A.a[1], .W1 = A.a[2], .b1 = A.a[3],
            .W2 = A.a[4], .b2 = A.a[5]};
  check_mlp2(m, &h);
  measure("W2", "exprc forward", call_forward, m);
  measure("W2", "exprc gradient", call_gradient, m);
  measure("W2", "hand C forward", mlp2_forward, &h);
  measure("W2", "hand C gradient", mlp2_grad, &h);
  measure_tcc("W2", "hand C gradient, libtcc", "hand_tiny.c", "mlp2_grad", &h);
  measure_cc("W2", model, m, call_gradient, "loss");
  measure_auto("W2", model, m, call_gradient, "loss");
  exprc_free(m);
}

/* ---- W3: Rosenbrock, n = 1000 ---- */

static void run_w3(const char *model, const char *dir) {
  enum { N = 1000 };
  static double x[N], g[N];
  exprc_rng r;
  exprc_rng_seed(&r, 3);
  bench_fill(&r, x, N, -2, 2);
  const double *arr[1] = {x};
  long len[1] = {N};
  dump(dir, "w3", arr, len, 1);
  exprc_model *m = compile(model);
  set(m, "x", x, 1, N, 0);
  Rosen h = {x, g, N, 0};
  exprc_gradient(m, "f");
  rosen_grad(&h);
  bench_check("W3", "f exprc", output(m, "f", EXPRC_LOSS));
  bench_check("W3", "f hand", h.f);
  bench_check("W3", "max rel err exprc vs hand gradient",
              bench_max_rel_err(grad_of(m, "f", "x"), g, N));
  measure("W3", "exprc forward", call_forward, m);
  measure("W3", "exprc gradient", call_gradient_f, m);
  measure("W3", "hand C function", rosen_f, &h);
  measure("W3", "hand C gradient", rosen_grad, &h);
  measure_tcc("W3", "hand C function, libtcc", "hand_rosen.c", "rosen_f", &h);
  measure_tcc("W3", "hand C gradient, libtcc", "hand_rosen.c", "rosen_grad",
              &h);
  measure_cc("W3", model, m, call_gradient_f, "f");
  measure_auto("W3", model, m, call_gradient_f, "f");
  measure_f32("W3", model, m, call_gradient_f, "f");
  exprc_free(m);
}

/* ---- compile latency ---- */

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f || fseek(f, 0, SEEK_END) != 0) {
    perror(path);
    exit(1);
  }
  long n = ftell(f);
  char *s = malloc((size_t)n + 1);
  rewind(f);
  if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) {
    perror(path);
    exit(1);
  }
  s[n] = 0;
  fclose(f);
  return s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The default options, but room for the scaling models' graphs: the
 * largest (depth 100,000) has 1.4M live nodes, past the default limit of
 * 2^20 (exprc_limits.max_nodes), which a user would raise the same way. */
static void bench_options(exprc_options *o) {
  exprc_options_default(o);
  o->limits.max_nodes = (int64_t)1 << 23;
}

/* Processor time of this process, seconds: the pipeline runs on the
 * calling thread alone, so on a busy machine this is its own cost. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void report_sorted(const char *name, double *t, int reps) {
  qsort(t, (size_t)reps, sizeof *t, cmp_double);
  BenchStat s = {t[reps / 2], t[reps / 4], t[(3 * reps) / 4], 1, reps};
  bench_report("compile", name, &s);
}

/* Model text already in memory -> callable entry points, `reps` times; the
 * model's own free is not timed. Wall time, and processor time as
 * "..., processor time". */
static void run_compile(const char *path, int reps, int no_simplify) {
  char *src = read_text(path);
  double *t = malloc(sizeof *t * (size_t)reps);
  double *c = malloc(sizeof *c * (size_t)reps);
  exprc_options o;
  bench_options(&o);
  o.no_simplify = no_simplify;
  for (int i = 0; i < reps; i++) {
    exprc_model *m;
    double t0 = bench_now(), c0 = cpu_now();
    exprc_status st = exprc_compile_string(src, path, &o, &m);
    c[i] = cpu_now() - c0;
    t[i] = bench_now() - t0;
    if (st != EXPRC_OK)
      die(path, m);
    exprc_free(m);
  }
  report_sorted(no_simplify ? "exprc pipeline, no simplify" : "exprc pipeline",
                t, reps);
  report_sorted(no_simplify ? "exprc pipeline, no simplify, processor time"
                            : "exprc pipeline, processor time",
                c, reps);
  free(c);
  free(t);
  free(src);
}

/* ---- eval: one gradient at given scalar inputs ---- */

static void run_eval(const char *path, int n, char **assign) {
  char *src = read_text(path);
  exprc_model *m;
  exprc_options o;
  bench_options(&o);
  double t0 = bench_now();
  if (exprc_compile_string(src, path, &o, &m) != EXPRC_OK)
    die(path, m);
  BenchStat once = {bench_now() - t0, 0, 0, 1, 1};
  once.q1 = once.q3 = once.median;
  bench_report("compile", "exprc pipeline", &once);
  free(src);
  for (int i = 0; i < n; i++) {
    char *eq = strchr(assign[i], '=');
    if (!eq)
      die("eval takes NAME=VALUE", NULL);
    *eq = 0;
    double v = strtod(eq + 1, NULL);
    set(m, assign[i], &v, 0, 0, 0);
  }
  exprc_tensor t, g;
  for (int i = 0; i < exprc_count(m, EXPRC_LOSS); i++) {
    exprc_get(m, EXPRC_LOSS, i, &t);
    if (exprc_gradient(m, t.name) != EXPRC_OK)
      die("exprc_gradient", m);
    bench_check("eval", t.name, t.data[0]);
    for (int k = 0; k < exprc_count(m, EXPRC_GRADIENT); k++) {
      char what[256];
      exprc_get(m, EXPRC_GRADIENT, k, &g);
      snprintf(what, sizeof what, "d%s/d%s", g.loss, g.name);
      if (strcmp(g.loss, t.name) == 0)
        bench_check("eval", what, g.data[0]);
    }
  }
  exprc_free(m);
}

static int usage(void) {
  fputs("usage: bench_harness w1|w2|w3|w5 MODEL.expr DATA_DIR [CASE CALLS]\n"
        "       bench_harness compile MODEL.expr REPEATS [no-simplify]\n"
        "       bench_harness eval MODEL.expr NAME=VALUE...\n"
        "       bench_harness blas-info\n",
        stderr);
  return 2;
}

/* ---- W5: a LeNet-like CNN, batch 32 of 28x28 ----
 *
 * No hand-written C here: PyTorch (torch_bench.py, reading the same bytes)
 * and the cc backend are the comparisons, checked by loss and gradient
 * sum. */

static void run_w5(const char *model, const char *dir) {
  static const long n[8] = {32 * 28 * 28, 32 * 10, 6 * 25, 6, 16 * 6 * 25,
                            16, 256 * 120, 120};
  static const long n2[2] = {120 * 10, 10};
  double *a[10];
  long len[10];
  exprc_rng r;
  exprc_rng_seed(&r, 5);
  for (int i = 0; i < 10; i++) {
    len[i] = i < 8 ? n[i] : n2[i - 8];
    a[i] = malloc(sizeof(double) * (size_t)len[i]);
  }
  bench_fill(&r, a[0], len[0], 0, 1); /* pixel-like inputs */
  one_hot(&r, a[1], 32, 10);
  bench_fill(&r, a[2], len[2], -0.2, 0.2);   /* about 1/sqrt(25) */
  bench_fill(&r, a[3], len[3], -0.1, 0.1);
  bench_fill(&r, a[4], len[4], -0.08, 0.08); /* 1/sqrt(150) */
  bench_fill(&r, a[5], len[5], -0.1, 0.1);
  bench_fill(&r, a[6], len[6], -0.06, 0.06); /* 1/sqrt(256) */
  bench_fill(&r, a[7], len[7], -0.1, 0.1);
  bench_fill(&r, a[8], len[8], -0.09, 0.09); /* 1/sqrt(120) */
  bench_fill(&r, a[9], len[9], -0.1, 0.1);
  dump(dir, "w5", (const double *const *)a, len, 10);
  exprc_model *m = compile(model);
  static const char *names[10] = {"X", "Y", "C1", "c1", "C2", "c2",
                                  "W3", "b3", "W4", "b4"};
  static const int64_t shapes[10][4] = {
      {32, 1, 28, 28}, {32, 10}, {6, 1, 5, 5}, {6, 1, 1}, {16, 6, 5, 5},
      {16, 1, 1}, {256, 120}, {120}, {120, 10}, {10}};
  static const int ranks[10] = {4, 2, 4, 3, 4, 3, 2, 1, 2, 1};
  for (int i = 0; i < 10; i++)
    if (exprc_set(m, names[i], a[i], ranks[i], shapes[i]) != EXPRC_OK)
      die(names[i], m);
  exprc_gradient(m, "loss");
  bench_check("W5", "loss exprc", output(m, "loss", EXPRC_LOSS));
  bench_check("W5", "sum of exprc gradients", gradient_sum(m, "loss"));
  measure("W5", "exprc forward", call_forward, m);
  measure("W5", "exprc gradient", call_gradient, m);
  measure_cc("W5", model, m, call_gradient, "loss");
  measure_auto("W5", model, m, call_gradient, "loss");
  measure_f32("W5", model, m, call_gradient, "loss");
  exprc_free(m);
  for (int i = 0; i < 10; i++)
    free(a[i]);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "blas-info") == 0) {
    printf("I\topenblas\t%s\t%d threads\n", openblas_get_corename(),
           openblas_get_num_threads());
    return 0;
  }
  if (argc < 3)
    return usage();
  const char *cmd = argv[1], *model = argv[2];
  int workload = argc == 4 || (argc == 6 && atol(argv[5]) > 0);
  if (argc == 6)
    only_case = argv[4], only_calls = atol(argv[5]);
  if (workload && strcmp(cmd, "w1") == 0)
    run_w1(model, argv[3]);
  else if (workload && strcmp(cmd, "w2") == 0)
    run_w2(model, argv[3]);
  else if (workload && strcmp(cmd, "w3") == 0)
    run_w3(model, argv[3]);
  else if (workload && strcmp(cmd, "w5") == 0)
    run_w5(model, argv[3]);
  else if ((argc == 4 || argc == 5) && strcmp(cmd, "compile") == 0 &&
           atoi(argv[3]) > 0)
    run_compile(model, atoi(argv[3]), argc == 5);
  else if (strcmp(cmd, "eval") == 0)
    run_eval(model, argc - 3, argv + 3);
  else
    return usage();
  return 0;
}
