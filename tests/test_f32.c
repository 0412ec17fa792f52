/* test_f32.c: float32 models (exprc_options.dtype = EXPRC_FLOAT32, --dtype
 * float32).
 *
 * Truth is the float64 model compiled from the same text and fed the same
 * numbers: every input is a float (drawn, then rounded to float before it is
 * given to both), so the two programs differ only in what float32 changes:
 * each value the generated code stores is rounded to float (relative error
 * at most u = 2^-24), matrix products large enough for BLAS accumulate in
 * float (sgemm), and so do large convolutions (im2col products by sgemm),
 * while small ones and the runtime's other kernels compute in double from
 * float operands and round once. Each check states the bound it derives
 * from the ops, as K u times a scale: per element (|a32 - a64| <= K u |a64|)
 * or over the tensor (<= K u max |a64|, or a scale stated there). The bounds
 * are tight enough that the alternatives fail them: a sum accumulated in
 * float, a solve done in float, a kernel fed the wrong element type.
 *
 * The float32 code of libtcc and of the system compiler must agree to the
 * bit (both compile the same C, with no contraction into FMA and no
 * fast-math, and x86-64 evaluates float in float: FLT_EVAL_METHOD 0), so
 * every model also runs on --backend cc, compared with memcmp.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "randmodel.h"
#include "runtime.h" /* EXPRC_RT_CONV_BIG: which path a convolution takes */
#include "testutil.h"

#define U 5.9604644775390625e-08 /* 2^-24: float's unit roundoff */
/* One rounding of a value the kernel computed in double: u of it, and the
 * double computation's own error, below 1e-8 u here. */
#define ONE 1.001

/* One model three times: float64 (the truth), float32 on libtcc, float32 on
 * the system compiler. */
typedef struct Trio {
  exprc_model *d, *f, *c;
} Trio;

static exprc_model *compile_as(const char *src, exprc_dtype t, exprc_backend b) {
  exprc_options o;
  exprc_options_default(&o);
  o.dtype = t;
  o.backend = b;
  return tu_compile_opts(src, &o);
}

static Trio trio(const char *src) {
  return (Trio){compile_as(src, EXPRC_FLOAT64, EXPRC_BACKEND_TCC),
                compile_as(src, EXPRC_FLOAT32, EXPRC_BACKEND_TCC),
                compile_as(src, EXPRC_FLOAT32, EXPRC_BACKEND_CC)};
}

static void trio_free(Trio *t) {
  exprc_free(t->d);
  exprc_free(t->f);
  exprc_free(t->c);
}

/* n floats drawn from [lo, hi), as doubles. */
static double *floats(uint64_t *seed, int64_t n, double lo, double hi) {
  double *v = malloc((size_t)n * sizeof *v);
  ck_assert_ptr_nonnull(v);
  for (int64_t i = 0; i < n; i++)
    v[i] = (float)tu_uniform(seed, lo, hi);
  return v;
}

/* Give the same floats to all three: the float64 call to the float64
 * model, exprc_set_f32 to one float32 model and exprc_set (which rounds,
 * here exactly) to the other, so that both paths are used. */
static void set3(Trio *t, const char *name, const double *v, int rank,
                 const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++)
    n *= shape[d];
  float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
  for (int64_t i = 0; i < n; i++)
    f[i] = (float)v[i];
  ck_assert_int_eq(exprc_set(t->d, name, v, rank, shape), EXPRC_OK);
  ck_assert_int_eq(exprc_set_f32(t->f, name, f, rank, shape), EXPRC_OK);
  ck_assert_int_eq(exprc_set(t->c, name, v, rank, shape), EXPRC_OK);
  free(f);
}

static void run3(Trio *t, const char *loss) {
  exprc_model *ms[3] = {t->d, t->f, t->c};
  for (int k = 0; k < 3; k++) {
    ck_assert_msg(exprc_forward(ms[k]) == EXPRC_OK, "%s", exprc_errmsg(ms[k]));
    if (loss)
      ck_assert_msg(exprc_gradient(ms[k], loss) == EXPRC_OK, "%s",
                    exprc_errmsg(ms[k]));
  }
}

/* The float64 and float32 views of an output (loss NULL) or of
 * dloss/dname; the two float32 ones must hold the same bits. */
static void views(Trio *t, const char *loss, const char *name,
                  exprc_tensor *d, exprc_tensor *f) {
  exprc_tensor c;
  if (loss) {
    ck_assert_int_eq(exprc_find_grad(t->d, loss, name, d), EXPRC_OK);
    ck_assert_int_eq(exprc_find_grad_f32(t->f, loss, name, f), EXPRC_OK);
    ck_assert_int_eq(exprc_find_grad_f32(t->c, loss, name, &c), EXPRC_OK);
  } else {
    ck_assert_int_eq(exprc_find(t->d, name, d), EXPRC_OK);
    ck_assert_int_eq(exprc_find_f32(t->f, name, f), EXPRC_OK);
    ck_assert_int_eq(exprc_find_f32(t->c, name, &c), EXPRC_OK);
  }
  ck_assert_ptr_nonnull(d->data);
  ck_assert_ptr_null(f->data);
  ck_assert_ptr_nonnull(f->data_f32);
  ck_assert_int_eq(f->dtype, EXPRC_FLOAT32);
  ck_assert_int_eq(d->size, f->size);
  ck_assert_msg(memcmp(f->data_f32, c.data_f32,
                       (size_t)f->size * sizeof(float)) == 0,
                "%s: libtcc's and the system compiler's float32 code differ",
                name);
}

enum { ELEM, NORM };

/* |a32 - a64| <= K u scale: scale |a64| (ELEM), max |a64| (NORM), or the
 * given positive scale. Returns the largest error in units of u scale. */
static double agree(Trio *t, const char *loss, const char *name, double K,
                    int mode, double scale) {
  exprc_tensor d, f;
  views(t, loss, name, &d, &f);
  double top = 0, worst = 0;
  for (int64_t i = 0; i < d.size; i++)
    top = fmax(top, fabs(d.data[i]));
  for (int64_t i = 0; i < d.size; i++) {
    double s = scale > 0 ? scale : mode == ELEM ? fabs(d.data[i]) : top;
    double e = fabs((double)f.data_f32[i] - d.data[i]);
    ck_assert_msg(e <= K * U * s, "%s%s%s[%lld]: float32 %.9g, float64 %.17g: "
                  "off by %.3g u x scale, the bound is %g", loss ? "d" : "",
                  loss ? loss : "", name, (long long)i, f.data_f32[i],
                  d.data[i], e / (U * s), K);
    worst = s > 0 ? fmax(worst, e / (U * s)) : worst;
  }
  return worst;
}

/* An elementwise chain of three ops on x in [-2, 2]. Rounding happens only
 * where a value is stored; the chain is fused (computed in double) except
 * where the plan stores an intermediate. Each stored intermediate v adds u
 * |v| |dy/dv|, and the condition numbers here are at most 4 (tanh', the
 * exp(-x^2) factor's 2x^2 <= 8 is against its own value, which is below 1);
 * with at most three stores and the final rounding: K = 1 + 3 * 4 = 13 per
 * element, 16 with margin. The gradient 2 chains of the same ops plus their
 * product and sum: K = 32 over the tensor. tanh alone, which float32
 * code computes as exprc_rt_tanh (within 3 ulps of double, kernels.c),
 * a block of 256 at a time, over [-25, 25] (2000 elements: seven full
 * blocks and a partial one): one rounding per element. */
START_TEST(elementwise_and_its_gradient) {
  Trio t = trio("input x[200]\ninput z[2000]\n"
                "y = tanh(x) * exp(-x^2) + sigmoid(x)\n"
                "L = sum(y)\n"
                "output y, th = tanh(z)\ngrad L wrt x");
  uint64_t seed = 1;
  double *x = floats(&seed, 200, -2, 2), *z = floats(&seed, 2000, -25, 25);
  z[0] = -0.0, z[1] = (float)1e-5, z[2] = (float)-3e-4; /* floats */
  set3(&t, "x", x, 1, (int64_t[]){200});
  set3(&t, "z", z, 1, (int64_t[]){2000});
  run3(&t, "L");
  agree(&t, NULL, "y", 16, ELEM, 0);
  agree(&t, NULL, "th", ONE, ELEM, 0);
  agree(&t, "L", "x", 32, NORM, 0);
  exprc_tensor th;
  ck_assert_int_eq(exprc_find_f32(t.f, "th", &th), EXPRC_OK);
  ck_assert(signbit(th.data_f32[0]) && th.data_f32[0] == 0); /* tanh(-0) */
  free(x), free(z);
  trio_free(&t);
}
END_TEST

/* A tanh layer, H = tanh(X @ W + b), over a batch whose size is a dim
 * bound at run time (3 rows: 300 elements, one block of 256 and a partial
 * one), and a [5, 7] tanh (35 elements, the partial block alone). The
 * argument X @ W + b is computed in double from the stored product, whose
 * 40 terms each row has |x| |w| <= 0.1 (X in [-1, 1], W in [-0.1, 0.1]):
 * the product errs by at most 40 u of 4 plus its own rounding of 4, then
 * tanh (slope <= 1) and its rounding: K = 1 + 41 * 4 = 165 over the scale
 * 1. An element written to the wrong place, or a block never mapped, errs
 * by about 1. The gradient wrt b: per row 2 H (1 - H^2), whose slope in H
 * is at most 4 in size, stored (1 u) and summed over the 3 rows in double
 * (exprc_rt_colsum_f32): K = 3 (4 * 165 + 2) = 1986 over the scale 1. tanh(v
 * + 1): v + 1 is exact in double, one rounding (ONE per element). The
 * blocks are cut across rows of every length: G + g, 600 to a row (a row
 * spans blocks); V + c, rows of B = 3 elements, a length known only at run
 * time (a block ends inside a row); 2 q, 1000 elements in one flat loop;
 * S + r, a square [20, 20] plus a column [20, 1] (a size-1 axis), where
 * the nest indexing r by the wrong axis would still fill every element.
 * Each argument is exact in double, so each element is one rounding. */
START_TEST(a_tanh_layer_a_block_at_a_time) {
  Trio t = trio("dim B\ninput X[B, 40]\ninput W[40, 100]\ninput b[100]\n"
                "input v[5, 7]\ninput G[2, 600]\ninput g[600]\n"
                "input V[300, B]\ninput c[B]\ninput q[1000]\n"
                "input S[20, 20]\ninput r[20, 1]\n"
                "H = tanh(X @ W + b)\nL = sum(H * H)\n"
                "output H, s = tanh(v + 1), y = tanh(G + g), u = tanh(V + c),\n"
                "  w = tanh(2 * q), z = tanh(S + r)\ngrad L wrt b");
  uint64_t seed = 11;
  double *X = floats(&seed, 3 * 40, -1, 1), *W = floats(&seed, 4000, -0.1, 0.1);
  double *b = floats(&seed, 100, -1, 1), *v = floats(&seed, 35, -3, 1);
  set3(&t, "X", X, 2, (int64_t[]){3, 40});
  set3(&t, "W", W, 2, (int64_t[]){40, 100});
  set3(&t, "b", b, 1, (int64_t[]){100});
  set3(&t, "v", v, 2, (int64_t[]){5, 7});
  double *G = floats(&seed, 1200, -2, 2), *g = floats(&seed, 600, -1, 1);
  double *V = floats(&seed, 900, -2, 2), *c = floats(&seed, 3, -1, 1);
  double *q = floats(&seed, 1000, -2, 2);
  double *S = floats(&seed, 400, -2, 2), *r = floats(&seed, 20, -1, 1);
  set3(&t, "G", G, 2, (int64_t[]){2, 600});
  set3(&t, "g", g, 1, (int64_t[]){600});
  set3(&t, "V", V, 2, (int64_t[]){300, 3});
  set3(&t, "c", c, 1, (int64_t[]){3});
  set3(&t, "q", q, 1, (int64_t[]){1000});
  set3(&t, "S", S, 2, (int64_t[]){20, 20});
  set3(&t, "r", r, 2, (int64_t[]){20, 1});
  run3(&t, "L");
  agree(&t, NULL, "H", 165, ELEM, 1.0);
  agree(&t, NULL, "s", ONE, ELEM, 0);
  agree(&t, NULL, "y", ONE, ELEM, 0);
  agree(&t, NULL, "u", ONE, ELEM, 0);
  agree(&t, NULL, "w", ONE, ELEM, 0);
  agree(&t, NULL, "z", ONE, ELEM, 0);
  agree(&t, "L", "b", 1986, ELEM, 1.0);
  free(X), free(W), free(b), free(v), free(G), free(g), free(V), free(c), free(q);
  free(S), free(r);
  trio_free(&t);
}
END_TEST

/* Reductions of 1000 positive floats (no cancellation, so relative bounds
 * hold per result). The generated code accumulates in double: a sum is
 * exact to n 2^-53 |s| (< u/8 for n = 1000) and rounded once, so K = 2;
 * float accumulation would err by about sqrt(n) u |s| and fail. mean(x^2):
 * x^2 stored (u each) then summed in double: K = 3. max: a float of the
 * input, exactly (K = 0). logsumexp: the exps to within 1 rounding of the
 * stored ones, the log of their sum: K = 4 of max(1, |lse|). prod of 1000
 * given factors in [0.99, 1.01]: double products, one rounding: K = 2 (of
 * factors the model computes and stores, each would add its rounding: up
 * to 1000 u). Sums over one axis of a [300, 40] matrix, 300 or 40 terms
 * a result, likewise in double (a local per result element): K = 2. */
START_TEST(reductions_accumulate_in_double) {
  Trio t = trio("input x[1000]\ninput q[1000]\ninput X[300, 40]\n"
                "output s = sum(x), m = mean(x^2), mx = max(x),\n"
                "  l = logsumexp(x), p = prod(q),\n"
                "  cs = sum(X, axis=0), rs = sum(X, axis=1)");
  uint64_t seed = 2;
  double *x = floats(&seed, 1000, 0.5, 1.5), *q = floats(&seed, 1000, 0.99, 1.01);
  set3(&t, "x", x, 1, (int64_t[]){1000});
  set3(&t, "q", q, 1, (int64_t[]){1000});
  double *X = floats(&seed, 12000, 0.5, 1.5);
  set3(&t, "X", X, 2, (int64_t[]){300, 40});
  run3(&t, NULL);
  agree(&t, NULL, "s", 2, ELEM, 0);
  agree(&t, NULL, "m", 3, ELEM, 0);
  agree(&t, NULL, "mx", 0, ELEM, 0);
  agree(&t, NULL, "l", 4, NORM, 0);
  agree(&t, NULL, "p", 2, ELEM, 0);
  agree(&t, NULL, "cs", 2, ELEM, 0);
  agree(&t, NULL, "rs", 2, ELEM, 0);
  free(x), free(q), free(X);
  trio_free(&t);
}
END_TEST

/* A product large enough for sgemm, C = A @ B with k = 300, of positive
 * floats (so |A||B| = C): sgemm accumulates in float, componentwise within
 * gamma_k = k u of C (Higham, Accuracy and Stability, 3.5), K = 300 per
 * element (the float64 truth's own error is 300 2^-53: nothing). The
 * gradient of L = sum(C * W) wrt A is W @ B^T (W the given weights): one
 * more product, of n = 20 terms, on the stored W: K = 20 + 1 per element.
 * A small product (3 x 4 x 2) takes the loops, which sum in double: K = 2. */
START_TEST(matmul_in_sgemm_and_loops) {
  Trio t = trio("input A[64, 300]\ninput B[300, 20]\ninput W[64, 20]\n"
                "input a[3, 4]\ninput b[4, 2]\n"
                "C = A @ B\nL = sum(C * W)\n"
                "output C, c = a @ b\ngrad L wrt A");
  uint64_t seed = 3;
  double *A = floats(&seed, 64 * 300, 0.5, 1.5);
  double *B = floats(&seed, 300 * 20, 0.5, 1.5);
  double *W = floats(&seed, 64 * 20, 0.5, 1.5);
  double *a = floats(&seed, 12, 0.5, 1.5), *b = floats(&seed, 8, 0.5, 1.5);
  set3(&t, "A", A, 2, (int64_t[]){64, 300});
  set3(&t, "B", B, 2, (int64_t[]){300, 20});
  set3(&t, "W", W, 2, (int64_t[]){64, 20});
  set3(&t, "a", a, 2, (int64_t[]){3, 4});
  set3(&t, "b", b, 2, (int64_t[]){4, 2});
  run3(&t, "L");
  agree(&t, NULL, "C", 300, ELEM, 0);
  agree(&t, NULL, "c", 2, ELEM, 0);
  agree(&t, "L", "A", 21, ELEM, 0);
  free(A), free(B), free(W), free(a), free(b);
  trio_free(&t);
}
END_TEST

/* softmax and log_softmax of rows of 50 logits in [-3, 3]. lse = m +
 * log(sum exp(z - m)) is within 4 u of max(1, |lse|) as above; log_softmax
 * z - lse then within u (|z| + |lse|) + 4 u |lse| plus its own rounding: K
 * = 6 over the scale max|z| + max|lse| <= 3 + 7. softmax exp(z - lse): the
 * argument's error (the same 6 u of that scale) becomes a relative one
 * through exp, plus a rounding: K = 1 + 6 * 10 = 61 per element, 64. Their
 * gradient, of L = sum(Y * log_softmax(Z)): Y - softmax(Z) sum(Y), each a
 * softmax times a stored sum: 64 + 2 over the tensor. */
START_TEST(softmax_and_log_softmax) {
  Trio t = trio("input Z[8, 50]\ninput Y[8, 50]\n"
                "ls = log_softmax(Z, axis=1)\nL = sum(Y * ls)\n"
                "output ls, sm = softmax(Z, axis=1)\ngrad L wrt Z");
  uint64_t seed = 4;
  double *Z = floats(&seed, 400, -3, 3), *Y = floats(&seed, 400, 0, 1);
  set3(&t, "Z", Z, 2, (int64_t[]){8, 50});
  set3(&t, "Y", Y, 2, (int64_t[]){8, 50});
  run3(&t, "L");
  agree(&t, NULL, "ls", 6, NORM, 10);
  agree(&t, NULL, "sm", 64, ELEM, 0);
  agree(&t, "L", "Z", 66, NORM, 0);
  free(Z), free(Y);
  trio_free(&t);
}
END_TEST

/* A small conv2d (og = 4 outputs of k = 3 x 3 x 3 = 27 terms over N ohw =
 * 2 x 64 places: below EXPRC_RT_CONV_BIG, so the direct loops) and
 * max_pool2d. The direct loops multiply the float operands in double (each
 * product exact) and accumulate in double, rounding each result once: of
 * positive floats, within 1 rounding per element (K = 1; accumulated in
 * float, 27 terms could be off by 27 u). Pooling picks one of the stored
 * values: exactly the rounding of the float64 result (K = 1 relative to
 * it: rounding is monotone). The gradients of L = sum(pool): wrt y, ones
 * at the picked places (exact); wrt w, sums of the picked windows of x,
 * and wrt x, sums of the weights over the windows that picked x (0 where
 * none did, exactly 0 in both), both by the direct loops in double: K = 1
 * per element. A pool whose 3 x 3 windows overlap (stride 1), of z, in L
 * through sum(q * v), v given floats: dL/dz adds the v of every window
 * whose maximum z is, up to 9 terms, in double, rounded once: K = 1 per
 * element (added in float, one here is off by 1.09 u and fails it); q
 * itself selects floats of z: exact (K = 0). */
START_TEST(conv_and_pool) {
  ck_assert(!EXPRC_RT_CONV_BIG(4L, 2L * 64, 27L)); /* the direct loops */
  Trio t = trio("input x[2, 3, 10, 10]\nparam w[4, 3, 3, 3]\n"
                "input z[2, 3, 8, 8]\ninput v[2, 3, 8, 8]\n"
                "y = conv2d(x, w)\np = max_pool2d(y, 2)\n"
                "q = max_pool2d(z, 3, stride=1, padding=1)\n"
                "L = sum(p) + sum(q * v)\n"
                "output y, p, q\ngrad L wrt w, x, z");
  uint64_t seed = 5;
  double *x = floats(&seed, 600, 0.5, 1.5), *w = floats(&seed, 108, 0.5, 1.5);
  double *z = floats(&seed, 384, -1, 1), *v = floats(&seed, 384, 0.5, 1.5);
  set3(&t, "x", x, 4, (int64_t[]){2, 3, 10, 10});
  set3(&t, "w", w, 4, (int64_t[]){4, 3, 3, 3});
  set3(&t, "z", z, 4, (int64_t[]){2, 3, 8, 8});
  set3(&t, "v", v, 4, (int64_t[]){2, 3, 8, 8});
  run3(&t, "L");
  agree(&t, NULL, "y", ONE, ELEM, 0);
  agree(&t, NULL, "p", ONE, ELEM, 0);
  agree(&t, NULL, "q", 0, ELEM, 0);
  agree(&t, "L", "w", ONE, ELEM, 0);
  agree(&t, "L", "x", ONE, ELEM, 0);
  agree(&t, "L", "z", ONE, ELEM, 0);
  free(x), free(w), free(z), free(v);
  trio_free(&t);
}
END_TEST

/* A conv2d large enough for the product path (EXPRC_RT_CONV_BIG): x[4, 8,
 * 12, 12], w[8, 4, 3, 3], groups 2, padding 1, stride [1, 2], so per group
 * og = 4 outputs, k = cg kk = 4 x 9 = 36 terms, N ohw = 4 x 12 x 6 = 288
 * places; every product of the three kinds is large enough for BLAS. The
 * float kernel builds float columns (im2col) and multiplies them by sgemm,
 * which accumulates in float: a dot product of n terms is within gamma_n =
 * n u / (1 - n u) of sum |a||b| (Higham, Accuracy and Stability, 3.1),
 * whatever the order or blocking, FMA or not; of positive operands that
 * sum is the result itself, so the bounds are per element, and the
 * float64 truth's own error (n 2^-53) is nothing beside them.
 * y = conv(x, w): one product of 36 terms (fewer where the padding's zeros
 * are), stored as sgemm left it: K = 36. L = sum(y * v), v given positive
 * floats, so dL/dy = v exactly. dL/dw = gy_g @ col^T: one product of the
 * 288 places (all four samples fit in one column matrix, and the first add
 * into the zeroed result is exact): K = 288. dL/dx: col = w_g^T @ gy_g,
 * products of og = 4 terms (gamma_4 each), then col2im adds the taps that
 * read an element (at most 3 x 2 here, with stride 2 along w) into it, a
 * recursive float sum from 0 of at most 6 terms (gamma_5 of the sum of
 * their sizes): K = 4 + 5 = 9, 10 for the second-order terms. A tap
 * scattered to the wrong place, a window read off by one, or a product fed
 * the wrong rows moves whole terms (each about 1/36 of a result of y, 1/24
 * of one of dx): orders of magnitude beyond the bounds. */
START_TEST(conv_in_sgemm) {
  ck_assert(EXPRC_RT_CONV_BIG(4L, 4L * 72, 36L)); /* the product path */
  Trio t = trio("input x[4, 8, 12, 12]\ninput w[8, 4, 3, 3]\n"
                "input v[4, 8, 12, 6]\n"
                "y = conv2d(x, w, groups=2, padding=1, stride=[1, 2])\n"
                "L = sum(y * v)\noutput y\ngrad L wrt x, w");
  uint64_t seed = 12;
  double *x = floats(&seed, 4 * 8 * 144, 0.5, 1.5);
  double *w = floats(&seed, 8 * 36, 0.5, 1.5);
  double *v = floats(&seed, 4 * 8 * 72, 0.5, 1.5);
  set3(&t, "x", x, 4, (int64_t[]){4, 8, 12, 12});
  set3(&t, "w", w, 4, (int64_t[]){8, 4, 3, 3});
  set3(&t, "v", v, 4, (int64_t[]){4, 8, 12, 6});
  run3(&t, "L");
  agree(&t, NULL, "y", 36, ELEM, 0);
  agree(&t, "L", "w", 288, ELEM, 0);
  agree(&t, "L", "x", 10, ELEM, 0);
  free(x), free(w), free(v);
  trio_free(&t);
}
END_TEST

/* A recurrence over 50 steps, h_t = tanh(0.5 h_{t-1} + x_t): each step
 * stores its carry (one rounding) and the map contracts errors by
 * |0.5 tanh'| <= 0.5, so the carried error stays below u / (1 - 0.5) = 2u
 * of max|h|, plus the step's own rounding: K = 3 over the tensor. The
 * gradient of L = sum(hs) runs the same contraction backwards on sums of
 * at most 2 terms: K = 8 over the tensor. */
START_TEST(scan_and_fold) {
  Trio t = trio("input xs[50, 4]\ninput h0[4]\n"
                "def step(h, x) = tanh(0.5 * h + x)\n"
                "hs = scan(step, h0, xs)\nL = sum(hs)\n"
                "output hs, last = fold(step, h0, xs)\ngrad L wrt xs, h0");
  uint64_t seed = 6;
  double *xs = floats(&seed, 200, -1, 1), *h0 = floats(&seed, 4, -1, 1);
  set3(&t, "xs", xs, 2, (int64_t[]){50, 4});
  set3(&t, "h0", h0, 1, (int64_t[]){4});
  run3(&t, "L");
  agree(&t, NULL, "hs", 3, NORM, 0);
  agree(&t, NULL, "last", 3, NORM, 0);
  agree(&t, "L", "xs", 8, NORM, 0);
  agree(&t, "L", "h0", 8, NORM, 0);
  free(xs), free(h0);
  trio_free(&t);
}
END_TEST

/* cholesky and solve of a 10 x 10 float matrix A = 4 I + S/10 (S
 * symmetric, entries in [-1, 1]: eigenvalues in [3, 5] by Gershgorin,
 * condition <= 5/3). The kernels run in double on the exact float operands
 * and round once: K = 1 per element of L, and of x = solve(A, b) over the
 * tensor (its error in double is cond 2^-53: nothing). A float solve would
 * err by about cond n u. The gradient of sum(x) wrt b, solve(A^T, ones),
 * likewise: K = 1 over the tensor; wrt A, -g x^T of two stored
 * vectors: K = 3 over the tensor. */
START_TEST(cholesky_and_solve) {
  Trio t = trio("input A[10, 10]\ninput b[10]\n"
                "x = solve(A, b)\nL = sum(x)\n"
                "output Lc = cholesky(A), x\ngrad L wrt A, b");
  uint64_t seed = 7;
  double A[100];
  for (int i = 0; i < 10; i++)
    for (int j = 0; j <= i; j++)
      A[i * 10 + j] = A[j * 10 + i] =
          (i == j ? 4 : 0) + (float)tu_uniform(&seed, -0.1, 0.1);
  for (int i = 0; i < 100; i++)
    A[i] = (float)A[i];
  double *b = floats(&seed, 10, -1, 1);
  set3(&t, "A", A, 2, (int64_t[]){10, 10});
  set3(&t, "b", b, 1, (int64_t[]){10});
  run3(&t, "L");
  agree(&t, NULL, "Lc", ONE, NORM, 0);
  agree(&t, NULL, "x", ONE, NORM, 0);
  agree(&t, "L", "b", ONE, NORM, 0);
  agree(&t, "L", "A", 3, NORM, 0);
  free(b);
  trio_free(&t);
}
END_TEST


/* ---- random models ---- */

/* Random models (tests/randmodel.c, with gathers and the shape functions:
 * every form the generator knows) compiled both ways and fed the same
 * floats: every output and gradient of the float32 model within 1e-4 of the
 * float64 one, over max(1, max |a64|). Not a bound derived per op, as above,
 * but a net for gross errors that no op-by-op test chose: a kernel handed
 * the wrong element type, a read not widened, an index rounded, a NaN. The
 * generator keeps every value bounded and every function in its safe
 * domain, at most four ops deep; 600 models measured 1e-5 at the worst
 * (1e-4 is 1700 u). */
START_TEST(random_models_agree) {
  RandOptions ro = {.gather_pct = 50, .shape_funcs_pct = 100};
  for (uint64_t seed = 0; seed < 40; seed++) {
    RandModel rm;
    randmodel_make(&rm, seed, &ro);
    exprc_model *d = compile_as(rm.text, EXPRC_FLOAT64, EXPRC_BACKEND_TCC);
    exprc_model *f = compile_as(rm.text, EXPRC_FLOAT32, EXPRC_BACKEND_TCC);
    for (int v = 0; v < rm.nvar; v++) {
      RandVar *x = &rm.var[v];
      for (int64_t k = 0; k < x->size; k++)
        x->value[k] = (float)x->value[k];
      ck_assert_int_eq(exprc_set(d, x->name, x->value, x->rank, x->shape), EXPRC_OK);
      ck_assert_int_eq(exprc_set(f, x->name, x->value, x->rank, x->shape), EXPRC_OK);
    }
    ck_assert_int_eq(exprc_forward(d) | exprc_forward(f), EXPRC_OK);
    ck_assert_int_eq(exprc_gradient(d, "loss") | exprc_gradient(f, "loss"),
                     EXPRC_OK);
    for (int kind = EXPRC_OUTPUT; kind <= EXPRC_GRADIENT; kind++)
      for (int i = 0; i < exprc_count(d, (exprc_kind)kind); i++) {
        exprc_tensor a, b;
        exprc_get(d, (exprc_kind)kind, i, &a);
        exprc_get(f, (exprc_kind)kind, i, &b);
        double top = 1;
        for (int64_t k = 0; k < a.size; k++)
          top = fmax(top, fabs(a.data[k]));
        for (int64_t k = 0; k < a.size; k++)
          ck_assert_msg(fabs(a.data[k] - b.data[k]) <= 1e-4 * top,
                        "seed %llu: %s[%lld]: float32 %.9g, float64 %.17g\n%s",
                        (unsigned long long)seed, a.name, (long long)k,
                        b.data[k], a.data[k], rm.text);
      }
    exprc_free(d);
    exprc_free(f);
    randmodel_free(&rm);
  }
}
END_TEST

/* ---- the API of a float32 model ---- */

static exprc_model *f32_model(const char *src) {
  return compile_as(src, EXPRC_FLOAT32, EXPRC_BACKEND_TCC);
}

START_TEST(dtype_option_is_checked) {
  exprc_options o;
  exprc_model *m;
  exprc_options_default(&o);
  ck_assert_int_eq(o.dtype, EXPRC_FLOAT64);
  o.dtype = EXPRC_INT64;
  ck_assert_int_eq(exprc_compile_string("input x\noutput x", "t", &o, &m),
                   EXPRC_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(exprc_errmsg(m), "exprc_options.dtype"));
  ck_assert_int_eq(exprc_model_dtype(m), EXPRC_FLOAT64); /* a failed one */
  exprc_free(m);
  m = tu_compile("input x\noutput y = 2 * x");
  exprc_tensor t;
  float one = 1;
  ck_assert_int_eq(exprc_model_dtype(m), EXPRC_FLOAT64);
  ck_assert_int_eq(exprc_find_f32(m, "y", &t), EXPRC_ERR_STATE);
  ck_assert_ptr_nonnull(strstr(exprc_errmsg(m), "float64"));
  ck_assert_int_eq(exprc_set_f32(m, "x", &one, 0, NULL), EXPRC_OK); /* widens */
  ck_assert_double_eq(tu_output(m, "y").data[0], 2.0);
  exprc_free(m);
}
END_TEST

/* The float64 views of a float32 model hold its values as doubles; params
 * written through them, or through the float views, reach the next run:
 * the view asked for last is the one the model follows. */
START_TEST(views_of_both_kinds_reach_the_model) {
  exprc_model *m = f32_model("param w[3] ~ fill(0.1)\ninput x[3]\n"
                             "L = sum(w * x)\noutput y = w * x\ngrad L wrt w");
  ck_assert_int_eq(exprc_model_dtype(m), EXPRC_FLOAT32);
  tu_set(m, "x", (double[]){1, 2, 3}, 1, (int64_t)3);
  exprc_tensor w, y, g, wf;
  ck_assert_int_eq(exprc_find(m, "w", &w), EXPRC_OK);
  ck_assert_int_eq(w.dtype, EXPRC_FLOAT32);
  ck_assert_double_eq(w.data[0], (double)0.1f); /* the float, as a double */
  w.data[1] = 0.5;                               /* an optimiser's step */
  ck_assert_int_eq(exprc_find(m, "y", &y), EXPRC_OK);
  ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  ck_assert_double_eq(y.data[1], 1.0);           /* 0.5 * 2, refreshed */
  ck_assert_double_eq(y.data[0], (double)0.1f);
  ck_assert_int_eq(exprc_find_f32(m, "w", &wf), EXPRC_OK);
  ck_assert_ptr_null(wf.data);
  ck_assert_float_eq(wf.data_f32[1], 0.5f);
  wf.data_f32[2] = 0.25f;                        /* now the float view */
  ck_assert_int_eq(exprc_gradient(m, "L"), EXPRC_OK);
  ck_assert_int_eq(exprc_find_grad(m, "L", "w", &g), EXPRC_OK);
  ck_assert_double_eq(g.data[2], 3.0);
  ck_assert_int_eq(exprc_forward(m), EXPRC_OK);
  ck_assert_double_eq(y.data[2], 0.75);          /* 0.25 * 3 */
  float *blk;
  double *blk64;
  int64_t n;
  ck_assert_int_eq(exprc_grad_block_f32(m, "L", &blk, &n), EXPRC_OK);
  ck_assert_int_eq(n, 3);
  ck_assert_float_eq(blk[1], 2.0f);
  ck_assert_int_eq(exprc_grad_block(m, "L", &blk64, &n), EXPRC_OK);
  ck_assert_double_eq(blk64[0], 1.0);
  exprc_free(m);
}
END_TEST

/* Integers are exact in float up to 2^24: a float32 model refuses larger
 * ones, and gathers and argsort give exact indices below it. */
START_TEST(integers_within_2_to_the_24) {
  exprc_model *m = f32_model("input E[4, 2]\ninput ids[3] : int\ninput v[5]\n"
                             "output r = E[ids], s = argsort(v)");
  int64_t big[3] = {0, 16777217, 1};
  ck_assert_int_eq(exprc_set_int64(m, "ids", big, 1, (int64_t[]){3}),
                   EXPRC_ERR_ARG);
  ck_assert_ptr_nonnull(strstr(exprc_errmsg(m), "2^24"));
  int64_t ids[3] = {3, 0, -1};
  ck_assert_int_eq(exprc_set_int64(m, "ids", ids, 1, (int64_t[]){3}), EXPRC_OK);
  tu_set(m, "E", (double[]){0, 1, 10, 11, 20, 21, 30, 31}, 2, (int64_t)4,
         (int64_t)2);
  tu_set(m, "v", (double[]){0.5, -1, 3, 0.25, -2}, 1, (int64_t)5);
  exprc_tensor r = tu_output(m, "r"), s = tu_output(m, "s");
  double want_r[6] = {30, 31, 0, 1, 30, 31}, want_s[5] = {4, 1, 3, 0, 2};
  tu_assert_close(r.data, want_r, 6, 0, "E[ids]");
  tu_assert_close(s.data, want_s, 5, 0, "argsort");
  ck_assert_int_eq(s.dtype, EXPRC_INT64);
  exprc_free(m);
}
END_TEST

/* Initial params are the float64 model's, rounded: the same seeded draws. */
START_TEST(params_start_from_the_same_draws) {
  const char *src = "param W[50] ~ normal(0, 0.5)\nparam b[7] ~ uniform(-1, 1)\n"
                    "output y = sum(W) + sum(b)";
  exprc_model *d = tu_compile(src), *f = f32_model(src);
  const char *names[2] = {"W", "b"};
  for (int k = 0; k < 2; k++) {
    exprc_tensor a, b;
    ck_assert_int_eq(exprc_find(d, names[k], &a), EXPRC_OK);
    ck_assert_int_eq(exprc_find_f32(f, names[k], &b), EXPRC_OK);
    for (int64_t i = 0; i < a.size; i++)
      ck_assert_float_eq(b.data_f32[i], (float)a.data[i]);
  }
  exprc_free(d);
  exprc_free(f);
}
END_TEST

/* --check-finite reads its report from a float32 buffer as well. */
START_TEST(check_finite_in_float32) {
  exprc_options o;
  exprc_options_default(&o);
  o.dtype = EXPRC_FLOAT32;
  o.check_finite = 1;
  exprc_model *m = tu_compile_opts("input x[2]\noutput y = log(x)", &o);
  tu_set(m, "x", (double[]){1, -1}, 1, (int64_t)2);
  ck_assert_int_eq(exprc_forward(m), EXPRC_ERR_NUMERIC);
  ck_assert_msg(strstr(exprc_errmsg(m), "test.expr:2:12: error: 'log' produced nan"),
                "%s", exprc_errmsg(m));
  exprc_free(m);
}
END_TEST


/* Axes are at most 2^24 long in a float32 model (indices along them must
 * be exact floats): a longer constant one is a located compile error, a
 * dim bound longer a LIMIT error of the call; float64 takes both. */
START_TEST(axes_within_2_to_the_24) {
  exprc_options o;
  exprc_model *m;
  exprc_options_default(&o);
  o.dtype = EXPRC_FLOAT32;
  ck_assert_int_eq(exprc_compile_string("input x[3]\n"
                                        "output y = argmax(broadcast_to(x, [16777217, 3]), axis=0)",
                                        "big.expr", &o, &m), EXPRC_ERR_LIMIT);
  ck_assert_msg(strstr(exprc_errmsg(m), "big.expr:2:") &&
                strstr(exprc_errmsg(m), "at most 2^24"), "%s", exprc_errmsg(m));
  exprc_free(m);
  m = f32_model("dim N\ninput x[N]\noutput y = argmax(x)");
  ck_assert_int_eq(exprc_bind_dim(m, "N", 16777217), EXPRC_ERR_LIMIT);
  ck_assert_ptr_nonnull(strstr(exprc_errmsg(m), "float32"));
  ck_assert_int_eq(exprc_bind_dim(m, "N", 5), EXPRC_OK);
  exprc_free(m);
}
END_TEST

/* ---- the command line ---- */

static int exprc_cmd(const char *args, char **out) {
  size_t n = strlen(tu_exprc()) + strlen(args) + 4;
  char *cmd = malloc(n);
  ck_assert_ptr_nonnull(cmd);
  snprintf(cmd, n, "'%s' %s", tu_exprc(), args);
  int rc = tu_run(cmd, out, NULL);
  free(cmd);
  return rc;
}

static char *example(const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "'%s/examples/%s'", tu_srcroot(), name);
  return path;
}

START_TEST(cli_dtype_everywhere) {
  char args[8192], *out = NULL;
  snprintf(args, sizeof args, "emit %s --dtype float32", example("mlp.expr"));
  ck_assert_int_eq(exprc_cmd(args, &out), 0);
  ck_assert_ptr_nonnull(strstr(out, "typedef float xc_real;"));
  ck_assert_ptr_nonnull(strstr(out, "exprc_rt_gemm_f32("));
  free(out);
  snprintf(args, sizeof args, "run %s --dtype float16", example("mlp.expr"));
  ck_assert_int_eq(exprc_cmd(args, NULL), 2);
  /* --json: every number has at most 9 significant digits, the most a
     float needs to read back */
  snprintf(args, sizeof args, "run %s --dtype float32 --json --set "
           "x=[5.1,3.5,1.4,0.2] --set y=[1,0,0]", example("mlp.expr"));
  ck_assert_int_eq(exprc_cmd(args, &out), 0);
  ck_assert_ptr_nonnull(strstr(out, "\"loss\""));
  for (char *p = out; *p; p++)
    if ((*p >= '0' && *p <= '9') || *p == '.') {
      size_t n = strspn(p, "0123456789."), lead = strspn(p, "0.");
      size_t dot = memchr(p + lead, '.', n - lead) != NULL;
      ck_assert_msg(n - lead - dot <= 9, "%zu digits: %.20s", n - lead - dot, p);
      p += n - 1;
    }
  free(out);
}
END_TEST

/* gradcheck's float32 step and tolerance pass correct gradients and still
 * fail a wrong one: stop_gradient makes the analytic gradient of
 * sum(x^2) + 0.3 sum(stop_gradient(x) x) 2.3 x while the loss changes at
 * 2.6 x, 11.5% apart, above the 8% tolerance. */
START_TEST(cli_gradcheck_in_float32) {
  char args[8192], *out = NULL;
  snprintf(args, sizeof args, "gradcheck %s --dtype float32 --set "
           "x=[5.1,3.5,1.4,0.2] --set y=[1,0,0]", example("mlp.expr"));
  ck_assert_int_eq(exprc_cmd(args, &out), 0);
  ck_assert_ptr_nonnull(strstr(out, "4 of 4 gradients agree"));
  ck_assert_ptr_nonnull(strstr(out, "eps 0.0049, tol 0.08"));
  free(out);
  /* the examples' other models, as test_examples.c checks them in float64
     (but gp.expr, whose kernel matrix float32 cannot hold: docs/language.md) */
  static const char *const more[][2] = {
      {"softmax_mlp.expr", "--set 'x=[[5.1,3.5,1.4,0.2],[6.4,3.2,4.5,1.5],"
                           "[6.3,3.3,6.0,2.5]]' --set 'y=[[1,0,0],[0,1,0],"
                           "[0,0,1]]' --seed 3"},
      {"char_ngram.expr", "--set 'ctx=[[84,104,101],[32,71,78],[104,101,32]]'"
                          " --set 'next=[[32],[85],[71]]'"},
      {"rosenbrock.expr", "--set 'x=[0.5,-0.3,1.1,0.9,2,-1]'"},
      {"hvp.expr", "--set 'x=[[1,2,0.5],[0.3,-1,2],[0,1,1],[-1,-0.5,0.2],"
                   "[2,0.1,-0.3]]' --set 't=[1,-1,1,-1,1]' "
                   "--set 'v=[0.3,-0.7,1.1]' --seed 4"}};
  for (size_t k = 0; k < sizeof more / sizeof more[0]; k++) {
    snprintf(args, sizeof args, "gradcheck %s --dtype float32 %s",
             example(more[k][0]), more[k][1]);
    ck_assert_msg(exprc_cmd(args, &out) == 0, "%s:\n%s", more[k][0], out);
    free(out);
  }
  char *path = tu_temp_file("input x[5]\n"
                            "L = sum(x^2) + 0.3 * sum(stop_gradient(x) * x)\n"
                            "grad L wrt x\n", ".expr");
  snprintf(args, sizeof args, "gradcheck '%s' --dtype float32 --set "
           "x=[0.5,1,1.5,2,2.5]", path);
  ck_assert_int_eq(exprc_cmd(args, &out), 1);
  ck_assert_ptr_nonnull(strstr(out, "FAIL dL/dx"));
  free(out);
  remove(path);
  free(path);
}
END_TEST

Suite *f32_suite(void) {
  Suite *s = suite_create("f32");
  TCase *acc = tu_tcase("accuracy against float64", 120);
  tcase_add_test(acc, elementwise_and_its_gradient);
  tcase_add_test(acc, a_tanh_layer_a_block_at_a_time);
  tcase_add_test(acc, reductions_accumulate_in_double);
  tcase_add_test(acc, matmul_in_sgemm_and_loops);
  tcase_add_test(acc, softmax_and_log_softmax);
  tcase_add_test(acc, conv_and_pool);
  tcase_add_test(acc, conv_in_sgemm);
  tcase_add_test(acc, scan_and_fold);
  tcase_add_test(acc, cholesky_and_solve);
  tcase_add_test(acc, random_models_agree);
  suite_add_tcase(s, acc);
  TCase *api = tu_tcase("api", 60);
  tcase_add_test(api, dtype_option_is_checked);
  tcase_add_test(api, views_of_both_kinds_reach_the_model);
  tcase_add_test(api, integers_within_2_to_the_24);
  tcase_add_test(api, params_start_from_the_same_draws);
  tcase_add_test(api, check_finite_in_float32);
  tcase_add_test(api, axes_within_2_to_the_24);
  suite_add_tcase(s, api);
  TCase *cli = tu_tcase("command line", 120);
  tcase_add_test(cli, cli_dtype_everywhere);
  tcase_add_test(cli, cli_gradcheck_in_float32);
  suite_add_tcase(s, cli);
  return s;
}

int main(int argc, char **argv) {
  tu_set_paths(argc, argv);
  return tu_run_suite(f32_suite());
}
