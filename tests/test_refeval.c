/* test_refeval.c: the reference evaluator (tests/refeval.c), the oracle of
 * the random tests, checked against numbers derived by hand. Each expected
 * value says how it was derived; transcendental constants were printed by
 * Python's math module (repr of a float64). Shapes have equal sizes on
 * different axes ([2,2], [2,3,3], [3,3]), so that a transposed or misaligned
 * axis gives a wrong number rather than a shape error.
 *
 * The tensor X used below is arange(18) as [2,3,3]: X[i,j,k] = 9i + 3j + k.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refeval.h"
#include "testutil.h"

static RefModel *load(const char *src) {
  char err[1024];
  RefModel *m = ref_load(src, err, sizeof err);
  ck_assert_msg(m != NULL, "ref_load failed: %s", err);
  return m;
}

/* set(m, "x", values, rank, sizes...) */
static void set(RefModel *m, const char *name, const double *v, int rank,
                ...) {
  int64_t d[REF_MAX_RANK];
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++)
    d[i] = va_arg(ap, int64_t);
  va_end(ap);
  ck_assert_msg(ref_set(m, name, v, rank, d) == 0, "%s", ref_errmsg(m));
}

static void set_X(RefModel *m) {
  double x[18];
  for (int i = 0; i < 18; i++)
    x[i] = i;
  set(m, "X", x, 3, (int64_t)2, (int64_t)3, (int64_t)3);
}

static const char *shape_of(const RefTensor *t, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < t->rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "",
                          (long long)t->shape[i]);
  if (k < n)
    snprintf(buf + k, n - k, "]");
  return buf;
}

/* `name` evaluates to `shape` (as "[2,3]") with values `want`. */
static void expect(RefModel *m, const char *name, const char *shape,
                   const double *want, double rtol) {
  RefTensor t;
  char buf[64];
  ck_assert_msg(ref_eval(m, name, &t) == 0, "%s: %s", name, ref_errmsg(m));
  ck_assert_msg(strcmp(shape_of(&t, buf, sizeof buf), shape) == 0, "%s has shape %s, not %s",
                name, buf, shape);
  tu_assert_close(t.data, want, t.size, rtol, name);
}

static void expect_error(RefModel *m, const char *name, const char *msg) {
  RefTensor t;
  ck_assert_int_eq(ref_eval(m, name, &t), -1);
  ck_assert_msg(strstr(ref_errmsg(m), msg), "error '%s' lacks '%s'",
                ref_errmsg(m), msg);
}

#define V(...) ((const double[]){__VA_ARGS__})

START_TEST(literals_consts_and_dims) {
  RefModel *m = load("dim N\nconst c = 2 * 3\ninput x[N, 2]\n"
                     "L = [[1, 2], [3, c]]\nn = N + 0.5\nr = -x^2 + c\n"
                     "p = 2^3^2\nq = 2^-1\nv = [c, -1, 1e-3]\n");
  set(m, "x", V(1, 2, 3, 4, 5, 6), 2, (int64_t)3, (int64_t)2);
  expect(m, "L", "[2,2]", V(1, 2, 3, 6), 0);
  expect(m, "c", "[]", V(6), 0);
  expect(m, "n", "[]", V(3.5), 0); /* N is bound to 3 by x */
  expect(m, "r", "[3,2]", V(5, 2, -3, -10, -19, -30), 0); /* -(x^2) + 6 */
  expect(m, "p", "[]", V(512), 0); /* 2^(3^2): right associative */
  expect(m, "q", "[]", V(0.5), 0);
  expect(m, "v", "[3]", V(6, -1, 1e-3), 0);
  ref_free(m);
}
END_TEST

START_TEST(inputs_params_and_defs) {
  RefModel *m = load("input x[2, 2]\nparam W[2, 2] ~ normal(0, 1)\n"
                     "def sq(u) = u * u\ndef f(x, y) = sq(x) + y\n"
                     "y = f(W, x)\nz = f(2, 1)\nq = sq(sq(f(1, 1)))\n");
  set(m, "x", V(1, 2, 3, 4), 2, (int64_t)2, (int64_t)2);
  set(m, "W", V(0, -1, 2, 0.5), 2, (int64_t)2, (int64_t)2);
  /* inside f, x is f's parameter (bound to W), not the input x */
  expect(m, "y", "[2,2]", V(1, 3, 7, 4.25), 0);
  expect(m, "z", "[]", V(5), 0);
  expect(m, "q", "[]", V(16), 0); /* a def in its own argument: no recursion */
  ref_free(m);
}
END_TEST

START_TEST(elementwise_functions) {
  RefModel *m = load(
      "input x[3]\n"
      "output e = exp(x), l = log(x + 1), s = sqrt(2 * x), a = abs(x - 1)\n"
      "output g = sign(x - 0.5), t = tanh(x / 2), sg = sigmoid(2 * x)\n"
      "output r = relu(x - 0.5), sp = softplus([0, 3, 800])\n"
      "output l1 = log1p(1e-10 * x), em = expm1(1e-10 * x)\n"
      "output tr = [sin(0.5), cos(0.5), tan(0.5)]\n");
  set(m, "x", V(0, 1, 0.5), 1, (int64_t)3);
  expect(m, "e", "[3]", V(1, 2.718281828459045, 1.6487212707001282), 1e-15);
  expect(m, "l", "[3]", V(0, 0.6931471805599453, 0.4054651081081644), 1e-15);
  expect(m, "s", "[3]", V(0, 1.4142135623730951, 1), 1e-15);
  expect(m, "a", "[3]", V(1, 0, 0.5), 0);
  expect(m, "g", "[3]", V(-1, 1, 0), 0); /* sign(0) = 0 */
  expect(m, "t", "[3]", V(0, 0.46211715726000974, 0.24491866240370913), 1e-15);
  /* sigmoid(2) = 1 / (1 + e^-2) */
  expect(m, "sg", "[3]", V(0.5, 0.8807970779778823, 0.7310585786300049), 1e-15);
  expect(m, "r", "[3]", V(0, 0.5, 0), 0);
  /* softplus(3) = log(1 + e^3); softplus(800) = 800 (no overflow) */
  expect(m, "sp", "[3]", V(0.6931471805599453, 3.048587351573742, 800), 1e-15);
  expect(m, "l1", "[3]", V(0, 9.999999999500001e-11, 4.99999999875e-11), 1e-15);
  expect(m, "em", "[3]", V(0, 1.00000000005e-10, 5.0000000000125e-11), 1e-15);
  expect(m, "tr", "[3]",
         V(0.479425538604203, 0.8775825618903728, 0.5463024898437905), 1e-15);
  ref_free(m);
}
END_TEST

START_TEST(broadcasting_aligns_from_the_right) {
  RefModel *m = load("input X[2, 3, 3]\ninput c[3, 1]\ninput r[3]\n"
                     "y = X + c\nz = c + r\nw = r + reshape(r, [3, 1]) * 10\n");
  set_X(m);
  set(m, "c", V(10, 20, 30), 2, (int64_t)3, (int64_t)1);
  set(m, "r", V(1, 2, 3), 1, (int64_t)3);
  /* y[i,j,k] = 9i + 3j + k + 10(j + 1): c runs along axis 1, not 0 or 2 */
  expect(m, "y", "[2,3,3]",
         V(10, 11, 12, 23, 24, 25, 36, 37, 38, 19, 20, 21, 32, 33, 34, 45, 46,
           47), 0);
  /* [3,1] + [3] is [3,3]: z[j,k] = c[j] + r[k] */
  expect(m, "z", "[3,3]", V(11, 12, 13, 21, 22, 23, 31, 32, 33), 0);
  /* w[j,k] = r[k] + 10 r[j] */
  expect(m, "w", "[3,3]", V(11, 12, 13, 21, 22, 23, 31, 32, 33), 0);
  ref_free(m);
}
END_TEST

START_TEST(comparisons_where_pow_maximum) {
  RefModel *m = load("input a[2, 2]\ninput b[2]\n"
                     "output lt = a < b, ge = a >= 2, ne = a != b\n"
                     "output w = where(a > 1.5, a, -b)\n"
                     "output mx = maximum(a, b), mn = minimum(a, 2.5)\n"
                     "output p = pow(a, b), q = a ^ 0.5\n");
  set(m, "a", V(1, 4, 3, 2), 2, (int64_t)2, (int64_t)2);
  set(m, "b", V(2, 2), 1, (int64_t)2);
  expect(m, "lt", "[2,2]", V(1, 0, 0, 0), 0);
  expect(m, "ge", "[2,2]", V(0, 1, 1, 1), 0);
  expect(m, "ne", "[2,2]", V(1, 1, 1, 0), 0);
  expect(m, "w", "[2,2]", V(-2, 4, 3, 2), 0);
  expect(m, "mx", "[2,2]", V(2, 4, 3, 2), 0);
  expect(m, "mn", "[2,2]", V(1, 2.5, 2.5, 2), 0);
  expect(m, "p", "[2,2]", V(1, 16, 9, 4), 0);
  expect(m, "q", "[2,2]", V(1, 2, 1.7320508075688772, 1.4142135623730951),
         1e-15);
  ref_free(m);
}
END_TEST

/* Sums of X = 9i + 3j + k over each axis, each pair of axes and all. */
START_TEST(reductions_over_every_axis) {
  RefModel *m = load("input X[2, 3, 3]\n"
                     "s0 = sum(X, 0)\ns1 = sum(X, 1)\ns2 = sum(X, -1)\n"
                     "s01 = sum(sum(X, 0), 0)\ns12 = sum(sum(X, 2), 1)\n"
                     "s = sum(X)\nm1 = mean(X, 1)\nm = mean(X)\n"
                     "mx0 = max(X, 0)\nmn2 = min(X, 2)\nmx = max(X)\n"
                     "mn = min(X)\n");
  set_X(m);
  /* X[0,j,k] + X[1,j,k] = 2(3j + k) + 9 */
  expect(m, "s0", "[3,3]", V(9, 11, 13, 15, 17, 19, 21, 23, 25), 0);
  /* sum over j of 9i + 3j + k = 27i + 9 + 3k */
  expect(m, "s1", "[2,3]", V(9, 12, 15, 36, 39, 42), 0);
  /* sum over k = 27i + 9j + 3 */
  expect(m, "s2", "[2,3]", V(3, 12, 21, 30, 39, 48), 0);
  /* over i and j: 27 + 18 + 6k */
  expect(m, "s01", "[3]", V(45, 51, 57), 0);
  /* over k, then j: 81i + 36 */
  expect(m, "s12", "[2]", V(36, 117), 0);
  expect(m, "s", "[]", V(153), 0); /* 17 * 18 / 2 */
  expect(m, "m1", "[2,3]", V(3, 4, 5, 12, 13, 14), 0);
  expect(m, "m", "[]", V(8.5), 0);
  expect(m, "mx0", "[3,3]", V(9, 10, 11, 12, 13, 14, 15, 16, 17), 0);
  expect(m, "mn2", "[2,3]", V(0, 3, 6, 9, 12, 15), 0);
  expect(m, "mx", "[]", V(17), 0);
  expect(m, "mn", "[]", V(0), 0);
  ref_free(m);
}
END_TEST

START_TEST(logsumexp_shifts_by_the_maximum) {
  RefModel *m = load("input X[2, 3, 3]\nl2 = logsumexp(X, 2)\n"
                     "big = logsumexp([1000, 1000])\nneg = logsumexp([-1000, "
                     "-1001], 0)\nl = logsumexp([1, 2])\n");
  set_X(m);
  /* rows a, a+1, a+2: a + 2 + log(1 + e^-1 + e^-2), log(...) = c below */
  const double c = 0.4076059644443804;
  expect(m, "l2", "[2,3]",
         V(2 + c, 5 + c, 8 + c, 11 + c, 14 + c, 17 + c), 1e-15);
  expect(m, "big", "[]", V(1000.6931471805599), 1e-15); /* 1000 + log 2 */
  /* -1000 + log(1 + e^-1) */
  expect(m, "neg", "[]", V(-1000 + 0.31326168751822286), 1e-15);
  expect(m, "l", "[]", V(2.313261687518223), 1e-15); /* 2 + log(1 + e^-1) */
  ref_free(m);
}
END_TEST

/* softmax along each axis of X: the values along the axis are a, a + d,
 * ... with d the axis' stride 9, 3 or 1, so each axis gives other numbers. */
START_TEST(softmax_along_every_axis) {
  RefModel *m = load("input X[2, 3, 3]\ninput a[2, 2]\n"
                     "p0 = softmax(X, 0)\np1 = softmax(X, 1)\n"
                     "l2 = log_softmax(X)\nsq = softmax(a)\nsq0 = softmax(a, 0)\n"
                     "big = log_softmax([1000, 0])\n");
  set_X(m);
  set(m, "a", V(0, 0, 5, 5), 2, (int64_t)2, (int64_t)2);
  /* pairs (v, v + 9): 1 / (1 + e^9), e^9 / (1 + e^9) */
  const double u = 0.00012339457598623172, v = 0.9998766054240138;
  expect(m, "p0", "[2,3,3]",
         V(u, u, u, u, u, u, u, u, u, v, v, v, v, v, v, v, v, v), 1e-14);
  /* triples (a, a + 3, a + 6): e^(0, 3, 6) / (1 + e^3 + e^6) */
  const double t0 = 0.0023556330807966803, t1 = 0.04731415522182404,
               t2 = 0.9503302116973793;
  expect(m, "p1", "[2,3,3]",
         V(t0, t0, t0, t1, t1, t1, t2, t2, t2, t0, t0, t0, t1, t1, t1, t2, t2,
           t2), 1e-14);
  /* triples (a, a + 1, a + 2) along the last axis: (-2, -1, 0) - c */
  const double l0 = -2.4076059644443806, l1 = -1.4076059644443804,
               l2 = -0.4076059644443804;
  expect(m, "l2", "[2,3,3]",
         V(l0, l1, l2, l0, l1, l2, l0, l1, l2, l0, l1, l2, l0, l1, l2, l0, l1,
           l2), 1e-14);
  /* issue 10's first model: rows of equal values give 0.5 everywhere */
  expect(m, "sq", "[2,2]", V(0.5, 0.5, 0.5, 0.5), 1e-15);
  /* down the columns (0, 5): 1 / (1 + e^5), e^5 / (1 + e^5) */
  expect(m, "sq0", "[2,2]",
         V(0.0066928509242848554, 0.0066928509242848554, 0.9933071490757152,
           0.9933071490757152), 1e-15);
  expect(m, "big", "[2]", V(0, -1000), 1e-15);
  ref_free(m);
}
END_TEST

/* issue 10's third model: softmax(q, 1) on [2,2,2] */
START_TEST(softmax_of_a_cube_along_the_middle_axis) {
  RefModel *m = load("input q[2, 2, 2]\noutput f = softmax(q, 1)\n");
  set(m, "q", V(1, 2, 3, 5, 0, 1, 4, -2), 3, (int64_t)2, (int64_t)2,
      (int64_t)2);
  /* (1, 3): 1/(1+e^2), e^2/(1+e^2); (2, 5): 1/(1+e^3), ...; (0, 4):
   * 1/(1+e^4), ...; (1, -2): e^3/(1+e^3), 1/(1+e^3) */
  expect(m, "f", "[2,2,2]",
         V(0.11920292202211755, 0.04742587317756678, 0.8807970779778824,
           0.9525741268224333, 0.01798620996209156, 0.9525741268224333,
           0.9820137900379085, 0.04742587317756678), 1e-15);
  ref_free(m);
}
END_TEST

START_TEST(matrix_products_in_four_forms) {
  RefModel *m = load("input a[2, 2]\ninput w[2]\ninput b[2, 3]\n"
                     "mv = a @ w\nvm = w @ a\nmm = a @ b\nvv = dot(w, w)\n"
                     "mt = dot(transpose(a), a)\n");
  set(m, "a", V(1, 2, 3, 4), 2, (int64_t)2, (int64_t)2);
  set(m, "w", V(1, 10), 1, (int64_t)2);
  set(m, "b", V(1, 0, 2, 0, 1, 3), 2, (int64_t)2, (int64_t)3);
  expect(m, "mv", "[2]", V(21, 43), 0);   /* rows . w */
  expect(m, "vm", "[2]", V(31, 42), 0);   /* w . columns */
  expect(m, "mm", "[2,3]", V(1, 2, 8, 3, 4, 18), 0);
  expect(m, "vv", "[]", V(101), 0);
  expect(m, "mt", "[2,2]", V(10, 14, 14, 20), 0); /* a^T a */
  ref_free(m);
}
END_TEST

START_TEST(transpose_reshape_index_slice) {
  RefModel *m = load("input X[2, 3, 3]\nt = transpose(X)\n"
                     "r = reshape(X, [3, -1])\nr1 = reshape(X[0, 0], [1, 3])\n"
                     "i = X[-1, 1]\ns = X[:, 1:, 2]\nc = X[0, -2:, 1:99]\n"
                     "e = X[1][0:1]\n");
  set_X(m);
  /* t[k,j,i] = X[i,j,k] = 9i + 3j + k */
  expect(m, "t", "[3,3,2]",
         V(0, 9, 3, 12, 6, 15, 1, 10, 4, 13, 7, 16, 2, 11, 5, 14, 8, 17), 0);
  expect(m, "r", "[3,6]",
         V(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17), 0);
  expect(m, "r1", "[1,3]", V(0, 1, 2), 0);
  expect(m, "i", "[3]", V(12, 13, 14), 0);   /* 9 + 3 + k */
  expect(m, "s", "[2,2]", V(5, 8, 14, 17), 0); /* 9i + 3j + 2, j = 1, 2 */
  expect(m, "c", "[2,2]", V(4, 5, 7, 8), 0);   /* the slice 1:99 is clipped */
  expect(m, "e", "[1,3]", V(9, 10, 11), 0);
  ref_free(m);
}
END_TEST

/* grad by finite differences: the stencil is exact for cubics, so these
 * agree to rounding (about 1e-12 here). */
START_TEST(grad_inside_expressions) {
  RefModel *m = load("input a[2, 2]\ninput w[2]\n"
                     "loss = sum(sum(a, 1) * w)\nga = grad(loss, a)\n"
                     "gw = grad(loss, w)\ndef g(u) = grad(sum(u^3), w)\n"
                     "gd = g(2 * w)\nv = w\ngv = grad(sum(v^2), v)\n"
                     "gg = grad(sum(grad(sum(w^3), w)), w)\n");
  set(m, "a", V(1, 2, 3, 4), 2, (int64_t)2, (int64_t)2);
  set(m, "w", V(1, 10), 1, (int64_t)2);
  /* issue 10's second model: d/da[i,j] = w[i], constant along rows */
  expect(m, "ga", "[2,2]", V(1, 1, 10, 10), 1e-12);
  expect(m, "gw", "[2]", V(3, 7), 1e-12);       /* row sums of a */
  expect(m, "gd", "[2]", V(24, 2400), 1e-12);   /* d/dw (2w)^3 = 24 w^2 */
  expect(m, "gv", "[2]", V(2, 20), 1e-12);      /* v is w */
  expect(m, "gg", "[2]", V(6, 60), 1e-9);       /* d/dw 3w^2 = 6w */
  ref_free(m);
}
END_TEST

START_TEST(hessian_of_a_cubic) {
  RefModel *m = load("input x[2]\ninput A[2, 2]\n"
                     "H = hessian(x[0]^2 * x[1], x)\n"
                     "HA = hessian(sum(A^3) / 6 + A[0, 1] * A[1, 0], A)\n");
  set(m, "x", V(1, 2), 1, (int64_t)2);
  set(m, "A", V(1, 2, 3, 4), 2, (int64_t)2, (int64_t)2);
  /* d2/dx0^2 = 2 x1, d2/dx0 dx1 = 2 x0, d2/dx1^2 = 0 */
  expect(m, "H", "[2,2]", V(4, 2, 2, 0), 1e-8);
  /* diag(A) from the cubes, and 1 between A[0,1] and A[1,0] (flat 1, 2) */
  expect(m, "HA", "[4,4]",
         V(1, 0, 0, 0, 0, 2, 1, 0, 0, 1, 3, 0, 0, 0, 0, 4), 1e-8);
  ref_free(m);
}
END_TEST

START_TEST(outputs_and_grad_statements_are_listed) {
  RefModel *m = load("input x[2]\nparam b\n"
                     "output sum(x)  *  2, y = x + b   # named\n"
                     "loss = sum(y^2)\ngrad loss wrt x, b\n");
  ck_assert_int_eq(ref_output_count(m), 2);
  ck_assert_str_eq(ref_output_name(m, 0), "sum(x) * 2");
  ck_assert_str_eq(ref_output_name(m, 1), "y");
  ck_assert_int_eq(ref_grad_count(m), 1);
  ck_assert_str_eq(ref_grad_loss(m, 0), "loss");
  ck_assert_int_eq(ref_grad_nwrt(m, 0), 2);
  ck_assert_str_eq(ref_grad_wrt(m, 0, 1), "b");
  set(m, "x", V(1, 2), 1, (int64_t)2);
  set(m, "b", V(0.5), 0);
  expect(m, "sum(x) * 2", "[]", V(6), 0);
  expect(m, "loss", "[]", V(8.5), 0); /* 1.5^2 + 2.5^2 */
  ref_free(m);
}
END_TEST

START_TEST(errors_are_located) {
  char err[256];
  ck_assert_ptr_null(ref_load("y = (1 +\n", err, sizeof err));
  ck_assert_ptr_null(ref_load("input x[2]\ninput x[3]\n", err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "already defined"));
  RefModel *m = load("dim N\ninput a[2, 3]\ninput v[N]\ny = a + [1, 2]\n"
                     "z = later + 1\nlater = 2\nu = a @ a\nw = a[2]\n"
                     "s = a[:, ::0]\nq = sum(a, 2)\nr = reshape(a, [4, -1])\n"
                     "def f(t) = f(t)\nrec = f(1)\nn = N\n"
                     "def g(t) = h(t)\ndef h(t) = 1 + g(t)\nmut = g(1)\n");
  set(m, "a", V(1, 2, 3, 4, 5, 6), 2, (int64_t)2, (int64_t)3);
  expect_error(m, "y", "4:7: error: shapes [2,3] and [2] do not match for '+'");
  expect_error(m, "z", "unknown name 'later'"); /* no forward references */
  expect_error(m, "u", "do not match for '@'");
  expect_error(m, "w", "from -2 to 1, not 2");
  expect_error(m, "s", "slice step cannot be zero"); /* 2:1 is empty */
  expect_error(m, "q", "from -2 to 1, not 2");
  expect_error(m, "r", "cannot reshape 6 elements");
  expect_error(m, "rec", "recursion");
  expect_error(m, "mut", "'g' calls itself");
  expect_error(m, "n", "dim 'N' is not bound");
  expect(m, "later", "[]", V(2), 0); /* an error leaves the model usable */
  ck_assert_int_eq(ref_set(m, "a", V(1, 2), 1, (int64_t[]){2}), -1);
  ref_free(m);
}
END_TEST

/* Past the table's first size (32 names), every name still resolves to
 * its own binding, and a name defined twice is still refused. */
START_TEST(many_names_resolve) {
  char src[4096] = "const c0 = 0\n", err[256];
  for (int i = 1; i < 100; i++)
    snprintf(src + strlen(src), sizeof src - strlen(src),
             "const c%d = c%d + 1\n", i, i - 1);
  RefModel *m = load(src);
  expect(m, "c99", "[]", V(99), 0);
  expect(m, "c37", "[]", V(37), 0);
  ref_free(m);
  strcat(src, "const c64 = 1\n");
  ck_assert_ptr_null(ref_load(src, err, sizeof err));
  ck_assert_msg(strstr(err, "'c64' is already defined"), "%s", err);
}
END_TEST

/* A spent budget fails the evaluation and says so; no budget lifts it. */
START_TEST(work_budget_bounds_an_evaluation) {
  RefModel *m = load("input x[3]\ng = grad(sum(x * x * x), x)\n");
  set(m, "x", V(1, 2, 3), 1, (int64_t)3);
  ref_set_budget(m, 200); /* 12 evaluations of sum(x * x * x) need more */
  ck_assert_int_eq(ref_over_budget(m), 0);
  expect_error(m, "g", "work budget");
  ck_assert_int_eq(ref_over_budget(m), 1);
  ref_set_budget(m, 0);
  ck_assert_int_eq(ref_over_budget(m), 0);
  expect(m, "g", "[3]", V(3, 12, 27), 1e-9);
  ref_set_budget(m, 100000); /* enough: the same values */
  expect(m, "g", "[3]", V(3, 12, 27), 1e-9);
  ck_assert_int_eq(ref_over_budget(m), 0);
  ref_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("refeval");
  TCase *tc = tu_tcase("reference evaluator", 60);
  tcase_add_test(tc, literals_consts_and_dims);
  tcase_add_test(tc, inputs_params_and_defs);
  tcase_add_test(tc, elementwise_functions);
  tcase_add_test(tc, broadcasting_aligns_from_the_right);
  tcase_add_test(tc, comparisons_where_pow_maximum);
  tcase_add_test(tc, reductions_over_every_axis);
  tcase_add_test(tc, logsumexp_shifts_by_the_maximum);
  tcase_add_test(tc, softmax_along_every_axis);
  tcase_add_test(tc, softmax_of_a_cube_along_the_middle_axis);
  tcase_add_test(tc, matrix_products_in_four_forms);
  tcase_add_test(tc, transpose_reshape_index_slice);
  tcase_add_test(tc, grad_inside_expressions);
  tcase_add_test(tc, hessian_of_a_cubic);
  tcase_add_test(tc, outputs_and_grad_statements_are_listed);
  tcase_add_test(tc, errors_are_located);
  tcase_add_test(tc, many_names_resolve);
  tcase_add_test(tc, work_budget_bounds_an_evaluation);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
