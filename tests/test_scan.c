/* test_scan.c: recurrences with scan and fold.
 *
 *   def step(h, x) = tanh(W @ h + x)    # carries first, then sequence rows
 *   hs = scan(step, h0, xs)             # xs[T, 4] -> hs[T, 4]: every carry
 *   hT = fold(step, h0, xs)             # -> hT[4]: the last carry
 *
 * The step is compiled once, as a loop in the generated C (its gradient a
 * loop running backwards), so values are checked against the reference
 * evaluator (tests/refeval.c), which unrolls scan and fold in plain code of
 * its own, and against sums worked by hand; gradients against finite
 * differences of the compiled loss, a Hessian-vector product through 20
 * GRU steps against differences of the compiled gradient. Lengths: a
 * constant, and a dim bound to 0, 1 and 5.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

typedef struct Val {
  const char *name;
  int rank;
  int64_t shape[4];
  const double *v;
} Val;

/* Give the same values to the compiled model and to the reference. */
static void set_both(exprc_model *m, RefModel *r, const Val *v, int n) {
  for (int i = 0; i < n; i++) {
    ck_assert_msg(exprc_set(m, v[i].name, v[i].v, v[i].rank, v[i].shape) ==
                      EXPRC_OK, "%s", exprc_errmsg(m));
    ck_assert_msg(ref_set(r, v[i].name, v[i].v, v[i].rank, v[i].shape) == 0,
                  "%s", ref_errmsg(r));
  }
}

/* Output `name` of m equals the reference's, shape and values. */
static void agree(exprc_model *m, RefModel *r, const char *name, double rtol) {
  RefTensor want;
  ck_assert_msg(ref_eval(r, name, &want) == 0, "%s", ref_errmsg(r));
  exprc_tensor got = tu_output(m, name);
  ck_assert_int_eq(got.rank, want.rank);
  for (int i = 0; i < got.rank; i++)
    ck_assert_int_eq(got.shape[i], want.shape[i]);
  tu_assert_close(got.data, want.data, want.size, rtol, name);
}

static RefModel *ref(const char *src) {
  char err[512];
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r, "%s", err);
  return r;
}

/* A running sum and product by hand: xs = [1, 2, 3, 4] gives the partial
 * sums [1, 3, 6, 10] and, folded, the product 24. */
START_TEST(running_sum_by_hand) {
  exprc_model *m = tu_compile("input xs[4]\n"
                              "def add(c, x) = c + x\n"
                              "def mul(c, x) = c * x\n"
                              "output s = scan(add, 0, xs), p = fold(mul, 1, xs)\n");
  tu_set(m, "xs", (double[]){1, 2, 3, 4}, 1, (int64_t)4);
  exprc_tensor s = tu_output(m, "s");
  tu_assert_shape(&s, 1, 4);
  tu_assert_close(s.data, (double[]){1, 3, 6, 10}, 4, 0, "scan(add)");
  ck_assert_double_eq(tu_output(m, "p").data[0], 24);
  exprc_free(m);
}
END_TEST

/* Two carries, two sequences, a block def with locals as the step, params
 * read inside it. T = 3 and a width of 3, so a step along the wrong axis
 * would still fit. */
static const char *const TWO =
    "input xs[3, 3]\n"
    "input ys[3]\n"
    "param W[3, 3] ~ normal(0, 0.6)\n"
    "param b[3] ~ uniform(-0.5, 0.5)\n"
    "param h0[3] ~ normal(0, 1)\n"
    "def step(h, c, x, y) {\n"
    "    z = tanh(W @ h + x * y + b)\n"
    "    c2 = c + sum(z * x) * y\n"
    "    return z, c2\n"
    "}\n"
    "hs, cs = scan(step, h0, 0.5, xs, ys)\n"
    "hT, cT = fold(step, h0, 0.5, xs, ys)\n"
    "loss = sum(hs ^ 2) + cT * sum(hT) + sum(cs * ys)\n"
    "output hs, cs, hT, cT, loss\n"
    "grad loss wrt W, b, h0, xs, ys\n";

static const double XS[9] = {0.3, -1.2, 0.8, 1.5, 0.1, -0.4, -0.7, 0.9, 2.0};
static const double YS[3] = {1.5, -0.5, 0.25};

static void set_two(exprc_model *m, RefModel *r) {
  double W[9], b[3], h0[3];
  uint64_t st = 11;
  for (int i = 0; i < 9; i++)
    W[i] = tu_uniform(&st, -0.8, 0.8);
  for (int i = 0; i < 3; i++)
    b[i] = tu_uniform(&st, -0.5, 0.5), h0[i] = tu_uniform(&st, -1, 1);
  Val v[] = {{"xs", 2, {3, 3}, XS}, {"ys", 1, {3}, YS},
             {"W", 2, {3, 3}, W},   {"b", 1, {3}, b},
             {"h0", 1, {3}, h0}};
  set_both(m, r, v, 5);
}

START_TEST(two_carries_two_sequences_agree_with_reference) {
  RefModel *r = ref(TWO);
  exprc_model *m = tu_compile(TWO);
  set_two(m, r);
  const char *names[] = {"hs", "cs", "hT", "cT", "loss"};
  for (int i = 0; i < 5; i++)
    agree(m, r, names[i], 1e-13);
  ref_free(r);
  exprc_free(m);
}
END_TEST

/* The gradient (a loop running backwards) for every param and for both
 * sequences, against finite differences. */
START_TEST(two_carries_gradients) {
  RefModel *r = ref(TWO);
  exprc_model *m = tu_compile(TWO);
  set_two(m, r);
  tu_gradcheck(m, "loss", 1e-6);
  ref_free(r);
  exprc_free(m);
}
END_TEST

/* The length is a dim, bound at call time: 5, 1 and 0 steps. With no step,
 * scan gives [0, 2] and fold the initial carry, whose gradient is then the
 * identity, and the params' gradients zero. */
static const char *const DIMLEN =
    "dim T\n"
    "input xs[T, 2]\n"
    "param W[2, 2] ~ normal(0, 0.5)\n"
    "param h0[2] ~ normal(0, 1)\n"
    "def step(h, x) = tanh(W @ h + x) * 1.5\n"
    "hs = scan(step, h0, xs)\n"
    "hT = fold(step, h0, xs)\n"
    "loss = sum(hs ^ 2) + sum(hT * [1, -2])\n"
    "output hs, hT, loss\n"
    "grad loss wrt W, h0, xs\n";

static void dim_length(int64_t T) {
  static const double X[10] = {0.5, -1, 0.25, 2, -0.75, 0.1, 1, 1, -2, 0.3};
  static const double W[4] = {0.4, -0.3, 0.9, 0.2}, H0[2] = {0.7, -0.6};
  RefModel *r = ref(DIMLEN);
  exprc_model *m = tu_compile(DIMLEN);
  Val v[] = {{"xs", 2, {T, 2}, X}, {"W", 2, {2, 2}, W}, {"h0", 1, {2}, H0}};
  set_both(m, r, v, 3);
  agree(m, r, "hs", 1e-13);
  agree(m, r, "hT", 1e-13);
  agree(m, r, "loss", 1e-13);
  exprc_tensor hs = tu_output(m, "hs");
  tu_assert_shape(&hs, 2, T, (int64_t)2);
  if (T == 0) {
    tu_assert_close(tu_output(m, "hT").data, H0, 2, 0, "fold of no step");
    tu_assert_close(tu_grad(m, "loss", "h0").data, (double[]){1, -2}, 2, 0,
                    "dloss/dh0 with no step");
    tu_assert_close(tu_grad(m, "loss", "W").data, (double[]){0, 0, 0, 0}, 4,
                    0, "dloss/dW with no step");
  }
  tu_gradcheck(m, "loss", 1e-6);
  ref_free(r);
  exprc_free(m);
}

START_TEST(length_is_a_dim) {
  dim_length(5);
  dim_length(1);
  dim_length(0);
}
END_TEST

/* A GRU cell over 20 steps; hv = u . grad(loss, Uz) is differentiated
 * again (grad of the backward loop), giving the Hessian-vector product
 * H u, checked against differences of the compiled hv. */
static const char *const GRU =
    "input xs[20, 3]\n"
    "input u[4, 4]\n"
    "param Wz[4, 3] ~ normal(0, 0.5)\n"
    "param Uz[4, 4] ~ normal(0, 0.5)\n"
    "param Wr[4, 3] ~ normal(0, 0.5)\n"
    "param Ur[4, 4] ~ normal(0, 0.5)\n"
    "param Wh[4, 3] ~ normal(0, 0.5)\n"
    "param Uh[4, 4] ~ normal(0, 0.5)\n"
    "param h0[4] ~ normal(0, 0.5)\n"
    "def gru(h, x) {\n"
    "    z = sigmoid(Wz @ x + Uz @ h)\n"
    "    r = sigmoid(Wr @ x + Ur @ h)\n"
    "    n = tanh(Wh @ x + Uh @ (r * h))\n"
    "    return (1 - z) * n + z * h\n"
    "}\n"
    "hs = scan(gru, h0, xs)\n"
    "loss = sum(hs[19] ^ 2) + sum(hs) / 20\n"
    "hv = sum(grad(loss, Uz) * u)\n"
    "output loss, hv\n"
    "grad loss wrt Uz, Wh, h0\n"
    "grad hv wrt Uz, Wr, h0\n";

START_TEST(hessian_vector_product_through_20_gru_steps) {
  exprc_options o;
  exprc_options_default(&o);
  o.seed = 3;
  exprc_model *m = tu_compile_opts(GRU, &o);
  double xs[60], u[16];
  uint64_t st = 5;
  for (int i = 0; i < 60; i++)
    xs[i] = tu_uniform(&st, -1.5, 1.5);
  for (int i = 0; i < 16; i++)
    u[i] = tu_uniform(&st, -1, 1);
  tu_set(m, "xs", xs, 2, (int64_t)20, (int64_t)3);
  tu_set(m, "u", u, 2, (int64_t)4, (int64_t)4);
  tu_gradcheck(m, "loss", 1e-6);
  tu_gradcheck(m, "hv", 1e-5);
  /* hv itself is the directional derivative of the loss along u in Uz */
  exprc_tensor Uz;
  ck_assert(exprc_find(m, "Uz", &Uz) == EXPRC_OK);
  double keep[16], h = 1e-5, lp, lm;
  memcpy(keep, Uz.data, sizeof keep);
  for (int i = 0; i < 16; i++)
    Uz.data[i] = keep[i] + h * u[i];
  lp = tu_output(m, "loss").data[0];
  for (int i = 0; i < 16; i++)
    Uz.data[i] = keep[i] - h * u[i];
  lm = tu_output(m, "loss").data[0];
  memcpy(Uz.data, keep, sizeof keep);
  double hv = tu_output(m, "hv").data[0];
  ck_assert_msg(fabs(hv - (lp - lm) / (2 * h)) < 1e-6 * fmax(1, fabs(hv)),
                "hv %.12g, differences %.12g", hv, (lp - lm) / (2 * h));
  exprc_free(m);
}
END_TEST

/* A gradient reads the forward values its backward steps need (the gates,
 * products of the carry) stored by the forward loop, and the loop's own
 * value out of the same loop (loop_stash.c). A batch of 3 carries [3, 4]
 * as the bench's GRU, a scan and a fold: the values the gradient entry
 * points compute (not outputs, so they come from the gradient's own
 * forward half) agree with the reference evaluator, their gradients with
 * finite differences, a gradient of a gradient (hv) included; and each
 * gradient entry point runs one forward loop and one backward loop. */
static const char *const STORED =
    "input xs[6, 3, 2]\n"
    "input u[4, 4]\n"
    "param W[2, 4] ~ normal(0, 0.5)\n"
    "param U[4, 4] ~ normal(0, 0.5)\n"
    "param b[4] ~ normal(0, 0.5)\n"
    "param h0[3, 4] ~ normal(0, 0.5)\n"
    "def step(h, x) {\n"
    "    z = sigmoid(x @ W + h @ U + b)\n"
    "    n = tanh(x @ W + (z * h) @ U)\n"
    "    return (1 - z) * n + z * h\n"
    "}\n"
    "hs = scan(step, h0, xs)\n"
    "hT = fold(step, h0 * 0.5, xs)\n"
    "loss = sum(hs ^ 2) / 7 + sum(exp(hT))\n"
    "lf = sum(hT * hT)\n"
    "hv = sum(grad(lf, U) * u)\n"
    "grad loss wrt W, U, b, h0\n"
    "grad lf wrt U, h0\n"
    "grad hv wrt W, U, b\n";

/* The loops in the C of the function of `grad L wrt ...`. */
static int loops_in(const char *src, const char *fn) {
  const char *at = strstr(src, fn), *end = at ? strstr(at + 1, "\n}\n") : NULL;
  int n = 0;
  for (const char *p = at; p && p < end && (p = strstr(p, "/* loop ")); p++)
    n += p < end;
  return n;
}

START_TEST(gradient_reads_stored_forward_values) {
  exprc_model *m = tu_compile(STORED);
  RefModel *r = ref(STORED);
  double xs[36], u[16];
  uint64_t st = 11;
  for (int i = 0; i < 36; i++)
    xs[i] = tu_uniform(&st, -1.5, 1.5);
  for (int i = 0; i < 16; i++)
    u[i] = tu_uniform(&st, -1, 1);
  Val v[] = {{"xs", 3, {6, 3, 2}, xs}, {"u", 2, {4, 4}, u}};
  set_both(m, r, v, 2);
  const char *par[] = {"W", "U", "b", "h0"};
  const int64_t shp[][2] = {{2, 4}, {4, 4}, {4, 0}, {3, 4}};
  for (int i = 0; i < 4; i++) { /* the compiled model's drawn params */
    exprc_tensor p;
    ck_assert(exprc_find(m, par[i], &p) == EXPRC_OK);
    ck_assert(ref_set(r, par[i], p.data, shp[i][1] ? 2 : 1, shp[i]) == 0);
  }
  const char *losses[] = {"loss", "lf", "hv"};
  const double rtol[] = {1e-12, 1e-12, 1e-5}; /* hv: the reference's
                                                  grad is differences */
  for (int i = 0; i < 3; i++) {
    RefTensor want;
    ck_assert_msg(ref_eval(r, losses[i], &want) == 0, "%s", ref_errmsg(r));
    double got = tu_scalar(m, losses[i]); /* the gradient entry's value */
    tu_assert_close(&got, want.data, 1, rtol[i], losses[i]);
    tu_gradcheck(m, losses[i], i < 2 ? 1e-6 : 1e-5);
  }
  const char *src = exprc_source(m);
  ck_assert_int_eq(loops_in(src, "void xc_grad_1("), 4); /* 2 forward */
  ck_assert_int_eq(loops_in(src, "void xc_grad_2("), 2);
  ref_free(r);
  exprc_free(m);
}
END_TEST

/* Two layers: the second loop's sequence is the first's output, so the
 * gradient needs both backward loops of each (one for the sequence, one
 * for the params), which read one stored forward loop: the gradient entry
 * point runs two forward loops and four backward ones. */
static const char *const LAYERS =
    "input xs[5, 3, 2]\n"
    "param W[2, 4] ~ normal(0, 0.5)\n"
    "param U[4, 4] ~ normal(0, 0.5)\n"
    "param V[4, 3] ~ normal(0, 0.5)\n"
    "param h0[3, 4] ~ normal(0, 0.5)\n"
    "param g0[3, 3] ~ normal(0, 0.5)\n"
    "def one(h, x) = tanh(x @ W + h @ U)\n"
    "def two(g, h) = sigmoid(h @ V + g)\n"
    "hs = scan(one, h0, xs)\n"
    "gT = fold(two, g0, hs)\n"
    "loss = sum(gT * [1, -2, 0.5]) + sum(hs) / 9\n"
    "grad loss wrt W, U, V, h0, g0, xs\n";

START_TEST(layers_share_the_stored_loop) {
  exprc_model *m = tu_compile(LAYERS);
  RefModel *r = ref(LAYERS);
  double xs[30];
  uint64_t st = 7;
  for (int i = 0; i < 30; i++)
    xs[i] = tu_uniform(&st, -1.5, 1.5);
  Val v[] = {{"xs", 3, {5, 3, 2}, xs}};
  set_both(m, r, v, 1);
  const char *par[] = {"W", "U", "V", "h0", "g0"};
  const int64_t shp[][2] = {{2, 4}, {4, 4}, {4, 3}, {3, 4}, {3, 3}};
  for (int i = 0; i < 5; i++) {
    exprc_tensor p;
    ck_assert(exprc_find(m, par[i], &p) == EXPRC_OK);
    ck_assert(ref_set(r, par[i], p.data, shp[i][1] ? 2 : 1, shp[i]) == 0);
  }
  RefTensor want;
  ck_assert_msg(ref_eval(r, "loss", &want) == 0, "%s", ref_errmsg(r));
  double got = tu_scalar(m, "loss");
  tu_assert_close(&got, want.data, 1, 1e-12, "loss");
  tu_gradcheck(m, "loss", 1e-6);
  ck_assert_int_eq(loops_in(exprc_source(m), "void xc_grad_1("), 6);
  ref_free(r);
  exprc_free(m);
}
END_TEST

/* The same values with the system compiler and with the loops' bodies on
 * two threads as with libtcc on one. */
START_TEST(backends_and_threads_agree) {
  RefModel *r = ref(TWO);
  exprc_options o;
  exprc_options_default(&o);
  o.threads = 2;
  exprc_model *m = tu_compile_opts(TWO, &o);
  set_two(m, r);
  agree(m, r, "hs", 1e-13);
  agree(m, r, "loss", 1e-13);
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
  o.threads = 0;
  o.backend = EXPRC_BACKEND_CC;
  m = tu_compile_opts(TWO, &o);
  set_two(m, r);
  agree(m, r, "hs", 1e-12);
  agree(m, r, "cT", 1e-12);
  tu_gradcheck(m, "loss", 1e-6);
  ref_free(r);
  exprc_free(m);
}
END_TEST

/* A loop, not an unrolling: the C of 10 steps and of 1,000 steps differ
 * only in the digits of the length. */
START_TEST(code_size_does_not_grow_with_length) {
  const char *fmt = "input xs[%d, 8]\nparam W[8, 8]\nparam h0[8]\n"
                    "def step(h, x) = tanh(W @ h + x)\n"
                    "loss = sum(fold(step, h0, xs))\ngrad loss wrt W\n";
  char src[512];
  snprintf(src, sizeof src, fmt, 10);
  exprc_model *a = tu_compile(src);
  snprintf(src, sizeof src, fmt, 1000);
  exprc_model *b = tu_compile(src);
  size_t na = strlen(exprc_source(a)), nb = strlen(exprc_source(b));
  ck_assert_msg(nb >= na && nb - na < 64, "C of 10 steps: %zu bytes, of "
                "1000 steps: %zu", na, nb);
  exprc_free(a);
  exprc_free(b);
}
END_TEST

/* A fold inside a scan's step: each step adds the product of its row's
 * elements times W^2 (W = 0.9: 0.81). By hand, from 0.5: 0.5 + 1*2*0.81 =
 * 2.12; + 3*4*0.81 = 11.84; + 0.5*(-1)*0.81 = 11.435. */
START_TEST(loop_inside_a_loop) {
  exprc_model *m = tu_compile("input xs[3, 2]\nparam W ~ fill(0.9)\n"
                              "def g(c, y) = c * y * W\n"
                              "def f(c, x) = c + fold(g, 1, x)\n"
                              "out = scan(f, 0.5, xs)\nloss = sum(out ^ 2)\n"
                              "output out\ngrad loss wrt W, xs\n");
  tu_set(m, "xs", (double[]){1, 2, 3, 4, 0.5, -1}, 2, (int64_t)3, (int64_t)2);
  tu_assert_close(tu_output(m, "out").data, (double[]){2.12, 11.84, 11.435},
                  3, 1e-14, "nested loops");
  tu_gradcheck(m, "loss", 1e-6);
  exprc_free(m);
}
END_TEST

/* With --remat (exprc_options.remat), a fold's gradient recomputes the
 * carries from checkpoints every ceil(sqrt(T)) steps instead of storing
 * them. T = 10: checkpoints at steps 0, 4, 8, the last segment short; T =
 * 1 and T = 9 (segments of equal length) too. The gradients are those of
 * the default (which stores every carry) and pass finite differences. */
static void remat_fold(int T) {
  char src[1024];
  snprintf(src, sizeof src,
           "input xs[%d, 3]\nparam W[3, 3] ~ normal(0, 0.5)\n"
           "param h0[3] ~ normal(0, 1)\n"
           "def step(h, c, x) {\n"
           "    z = tanh(W @ h + x)\n"
           "    return z, c * 0.9 + sum(z * x)\n"
           "}\n"
           "hT, cT = fold(step, h0, 0, xs)\n"
           "loss = sum(hT ^ 2) + cT\n"
           "grad loss wrt W, h0, xs\n", T);
  exprc_options o;
  exprc_options_default(&o);
  exprc_model *plain = tu_compile_opts(src, &o);
  o.remat = 1;
  exprc_model *ck = tu_compile_opts(src, &o);
  ck_assert_ptr_nonnull(strstr(exprc_source(ck), "from checkpoints"));
  double xs[30];
  uint64_t st = (uint64_t)T;
  for (int i = 0; i < 3 * T; i++)
    xs[i] = tu_uniform(&st, -1, 1);
  tu_set(plain, "xs", xs, 2, (int64_t)T, (int64_t)3);
  tu_set(ck, "xs", xs, 2, (int64_t)T, (int64_t)3);
  const char *wrt[] = {"W", "h0", "xs"};
  for (int i = 0; i < 3; i++) {
    exprc_tensor a = tu_grad(plain, "loss", wrt[i]);
    exprc_tensor b = tu_grad(ck, "loss", wrt[i]);
    tu_assert_close(b.data, a.data, a.size, 1e-12, wrt[i]);
  }
  tu_gradcheck(ck, "loss", 1e-6);
  exprc_free(plain);
  exprc_free(ck);
}

START_TEST(remat_recomputes_from_checkpoints) {
  remat_fold(10);
  remat_fold(9);
  remat_fold(1);
}
END_TEST

/* examples/lotka_volterra.expr integrates an ODE with RK4 in a fold. Its
 * observations were made by a plain Python RK4 with the rates (1.1, 0.4,
 * 0.1, 0.4): at those rates (th = (0.1, -0.1, -0.1, -0.1)) the compiled
 * fold reproduces them, so the loss is 0 to rounding; at the start the
 * gradient passes finite differences. (examples/minimize recovers the
 * rates from the start by L-BFGS.) The path is from this source file, as
 * the compiler saw it: relative to the build directory, where meson test
 * runs the suites. */
START_TEST(rk4_fold_reproduces_an_independent_integration) {
  char path[1024];
  const char *here = __FILE__, *slash = strrchr(here, '/');
  snprintf(path, sizeof path, "%.*s/../examples/lotka_volterra.expr",
           slash ? (int)(slash - here) : 1, slash ? here : ".");
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(path, NULL, &m) == EXPRC_OK, "%s: %s",
                path, exprc_errmsg(m));
  tu_gradcheck(m, "loss", 1e-6);
  tu_set(m, "th", (double[]){0.1, -0.1, -0.1, -0.1}, 1, (int64_t)4);
  double loss = tu_output(m, "loss").data[0];
  ck_assert_msg(loss < 1e-16, "loss at the true rates: %g", loss);
  exprc_free(m);
}
END_TEST

/* examples/char/char_gru.expr (too big for a gradient check of every
 * element): it compiles, a model that knows nothing scores about ln 28 =
 * 3.33 nats per character, and sampled elements of its gradients agree
 * with central differences of the compiled loss. */
START_TEST(char_gru_example_spot_check) {
  char path[1024];
  const char *here = __FILE__, *slash = strrchr(here, '/');
  snprintf(path, sizeof path, "%.*s/../examples/char/char_gru.expr",
           slash ? (int)(slash - here) : 1, slash ? here : ".");
  exprc_model *m;
  ck_assert_msg(exprc_compile_file(path, NULL, &m) == EXPRC_OK, "%s: %s",
                path, exprc_errmsg(m));
  static double xs[16 * 32 * 28], ys[512 * 28];
  uint64_t st = 9;
  for (int i = 0; i < 512; i++) { /* one-hot rows */
    xs[i * 28 + (int)(tu_uniform(&st, 0, 28))] = 1;
    ys[i * 28 + (int)(tu_uniform(&st, 0, 28))] = 1;
  }
  tu_set(m, "xs", xs, 3, (int64_t)16, (int64_t)32, (int64_t)28);
  tu_set(m, "ys", ys, 2, (int64_t)512, (int64_t)28);
  ck_assert(exprc_gradient(m, "loss") == EXPRC_OK);
  exprc_tensor L;
  ck_assert(exprc_get(m, EXPRC_LOSS, 0, &L) == EXPRC_OK);
  double loss0 = L.data[0];
  ck_assert_msg(loss0 > 3.0 && loss0 < 3.7, "initial loss %g", loss0);
  const char *names[] = {"Uz", "Wh", "bo", "h0"};
  for (int k = 0; k < 4; k++) {
    exprc_tensor g, p;
    ck_assert(exprc_find_grad(m, "loss", names[k], &g) == EXPRC_OK);
    ck_assert(exprc_find(m, names[k], &p) == EXPRC_OK);
    for (int s = 0; s < 3; s++) {
      ck_assert(exprc_gradient(m, "loss") == EXPRC_OK);
      int64_t e = (int64_t)tu_uniform(&st, 0, (double)p.size);
      double ana = g.data[e], x = p.data[e], h = 1e-5, up, down;
      p.data[e] = x + h;
      ck_assert(exprc_gradient(m, "loss") == EXPRC_OK);
      up = L.data[0];
      p.data[e] = x - h;
      ck_assert(exprc_gradient(m, "loss") == EXPRC_OK);
      down = L.data[0];
      p.data[e] = x;
      double num = (up - down) / (2 * h);
      ck_assert_msg(fabs(num - ana) <= 1e-6 * fmax(1, fabs(ana)),
                    "dloss/d%s[%lld]: analytic %.12g, differences %.12g",
                    names[k], (long long)e, ana, num);
    }
  }
  exprc_free(m);
}
END_TEST

/* ---- errors ---- */

static const char *const DEFS =
    "input xs[4, 2]\ninput ys[3, 2]\ninput h[2]\n"
    "def step(h, x) = h + x\n"
    "def two(h, c, x) { return h + x, c }\n"
    "def wide(h, x) = [1, 2, 3] * sum(h + x)\n";

static void expect(const char *stmt, exprc_status st, const char *first,
                   const char *at) {
  char src[1024];
  snprintf(src, sizeof src, "%s%s\n", DEFS, stmt);
  tu_expect_error(src, st, first, at);
}

START_TEST(step_results_must_match_carries) {
  expect("o = scan(wide, h, xs)\noutput o", EXPRC_ERR_SHAPE,
         "test.expr:7:5: error: scan: result 1 of 'wide' has shape [3], but "
         "its carry 'h' has shape [2]", "scan(");
  expect("a, b = scan(step, h, xs)\noutput a", EXPRC_ERR_SHAPE,
         "test.expr:7:8: error: scan of 'step' gives 1 value, not 2", "scan(");
  expect("o = fold(two, h, 0, xs)\noutput o", EXPRC_ERR_SHAPE,
         "test.expr:7:5: error: fold of 'two' gives 2 values; assign them to "
         "as many names (a, b = fold(...))", "fold(");
  expect("o = scan(step, h, xs, xs)\noutput o", EXPRC_ERR_SHAPE,
         "test.expr:7:5: error: scan: 'step' takes 1 carry and 1 sequence, "
         "so scan takes 2 values after it, not 3", "scan(");
}
END_TEST

/* A step returning as many values as it takes parameters leaves no
 * parameter for a sequence row. */
START_TEST(step_without_a_sequence) {
  tu_expect_error("input xs[4]\ndef both(h, x) { return h, x }\n"
                  "a, b = scan(both, 0, xs)\noutput a\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:3:13: error: 'both' returns 2 values and takes 2 "
                  "parameters: a step takes one parameter per carry (per "
                  "value it returns), then at least one sequence row", "both");
}
END_TEST

/* Sequences share their length (axis 0). */
START_TEST(sequences_of_different_lengths) {
  tu_expect_error("input xs[4, 2]\ninput ys[3, 2]\ninput h[2]\n"
                  "def f(h, x, y) = h + x * y\n"
                  "output scan(f, h, xs, ys)\n",
                  EXPRC_ERR_SHAPE,
                  "test.expr:5:23: error: sequences of different lengths: "
                  "[4,2] and [3,2] along axis 0", "ys");
}
END_TEST

/* Lengths that dims decide (N and M, or N and a constant) are checked
 * when a run binds them: equal, the loop runs (values as the reference's,
 * no step included; gradients as finite differences); different, the run
 * fails with a located message before any code runs, and the next run
 * with equal lengths works. */
static const char *const TWOLEN =
    "dim N\n"
    "dim M\n"
    "input xs[N, 2]\n"
    "input ys[M, 2]\n"
    "input zs[3, 2]\n"
    "param W[2, 2] ~ normal(0, 0.5)\n"
    "param h0[2] ~ normal(0, 1)\n"
    "def f(h, x, y) = tanh(W @ h + x * y)\n"
    "def g(h, x, z) = h * x + z\n"
    "hs = scan(f, h0, xs, ys)\n"
    "hT = fold(g, h0, ys, zs)\n"
    "loss = sum(hs ^ 2) + sum(hT * [1, -2])\n"
    "output hs, hT, loss\n"
    "grad loss wrt W, h0, xs, ys\n";

static void two_lengths(int64_t n, int64_t mlen, const char *err) {
  static const double X[8] = {0.5, -1, 0.25, 2, -0.75, 0.1, 1, 1};
  static const double Y[8] = {1.5, 0.2, -0.4, 1, 0.3, -2, 0.6, 0.9};
  static const double Z[6] = {0.1, 0.2, -0.3, 0.4, 0.5, -0.6};
  exprc_model *m = tu_compile(TWOLEN);
  tu_set(m, "xs", X, 2, n, (int64_t)2);
  tu_set(m, "ys", Y, 2, mlen, (int64_t)2);
  tu_set(m, "zs", Z, 2, (int64_t)3, (int64_t)2);
  if (err) {
    ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_SHAPE);
    ck_assert_msg(strstr(exprc_errmsg(m), err) == exprc_errmsg(m), "%s",
                  exprc_errmsg(m));
    ck_assert_int_eq(exprc_gradient(m, "loss"), EXPRC_ERR_SHAPE);
    n = mlen = 3; /* and then a run with equal lengths */
    tu_set(m, "xs", X, 2, n, (int64_t)2);
    tu_set(m, "ys", Y, 2, mlen, (int64_t)2);
    tu_set(m, "zs", Z, 2, (int64_t)3, (int64_t)2);
  }
  RefModel *r = ref(TWOLEN);
  exprc_tensor W, h0;
  ck_assert(exprc_find(m, "W", &W) == EXPRC_OK);
  ck_assert(exprc_find(m, "h0", &h0) == EXPRC_OK);
  Val v[] = {{"xs", 2, {n, 2}, X}, {"ys", 2, {mlen, 2}, Y},
             {"zs", 2, {3, 2}, Z}, {"W", 2, {2, 2}, W.data},
             {"h0", 1, {2}, h0.data}};
  set_both(m, r, v, 5);
  agree(m, r, "hs", 1e-13);
  agree(m, r, "loss", 1e-13);
  tu_gradcheck(m, "loss", 1e-6);
  ref_free(r);
  exprc_free(m);
}

START_TEST(lengths_that_dims_decide) {
  two_lengths(3, 3, NULL);
  two_lengths(2, 3, "test.expr:10:22: error: sequences of different lengths: "
                    "N = 2 and M = 3 along axis 0\n"
                    "   hs = scan(f, h0, xs, ys)\n");
  two_lengths(4, 4, "test.expr:11:22: error: sequences of different lengths: "
                    "M = 4 and 3 along axis 0\n");
  two_lengths(0, 0, "test.expr:11:22: error: sequences of different lengths: "
                    "M = 0 and 3 along axis 0\n");
}
END_TEST

START_TEST(recursion_through_scan) {
  tu_expect_error("input xs[4]\n"
                  "def f(c, x) = c + sum(scan(f, c, [x, x]))\n"
                  "output fold(f, 0, xs)\n",
                  EXPRC_ERR_NAME,
                  "test.expr:2:23: error: 'f' calls itself through scan; "
                  "recursion is not allowed", "scan(");
}
END_TEST

START_TEST(first_argument_is_a_def) {
  tu_expect_error("input xs[4]\noutput scan(xs, 0, xs)\n", EXPRC_ERR_SYNTAX,
                  "test.expr:2:13: error: scan takes the name of a def "
                  "first: scan(f, c1, .., x1, ..)", "xs, 0");
}
END_TEST

int main(void) {
  Suite *s = suite_create("scan");
  TCase *t = tu_tcase("scan", 300);
  tcase_add_test(t, running_sum_by_hand);
  tcase_add_test(t, two_carries_two_sequences_agree_with_reference);
  tcase_add_test(t, two_carries_gradients);
  tcase_add_test(t, length_is_a_dim);
  tcase_add_test(t, hessian_vector_product_through_20_gru_steps);
  tcase_add_test(t, gradient_reads_stored_forward_values);
  tcase_add_test(t, layers_share_the_stored_loop);
  tcase_add_test(t, backends_and_threads_agree);
  tcase_add_test(t, code_size_does_not_grow_with_length);
  tcase_add_test(t, loop_inside_a_loop);
  tcase_add_test(t, remat_recomputes_from_checkpoints);
  tcase_add_test(t, rk4_fold_reproduces_an_independent_integration);
  tcase_add_test(t, char_gru_example_spot_check);
  tcase_add_test(t, step_results_must_match_carries);
  tcase_add_test(t, step_without_a_sequence);
  tcase_add_test(t, sequences_of_different_lengths);
  tcase_add_test(t, lengths_that_dims_decide);
  tcase_add_test(t, recursion_through_scan);
  tcase_add_test(t, first_argument_is_a_def);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
