/* test_grad_ops.c: every op's value and derivative, one op at a time.
 *
 * For each op the model computes y = op(operands) and
 * loss = sum(c * op(operands)), with c random weights so that every element
 * of the gradient is different. Three independent checks:
 *   - the forward value against the C library, computed here;
 *   - the gradient against a closed form written here (f'(x) by hand);
 *   - the gradient against central finite differences (tu_gradcheck), at
 *     several random points.
 * Binary ops are also run with broadcast operands ([3,1] with [4], a scalar
 * with a tensor), where the gradient must be summed back to the operand's
 * shape. The conventions at points where the derivative does not exist
 * (relu'(0) = 0, abs'(0) = 0, ties of maximum/minimum split half and half)
 * are checked exactly with hand-picked values, since finite differences say
 * nothing there.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Fill input or param `name` (constant shape) with uniform numbers. */
static void fill(exprc_model *m, const char *name, uint64_t *s, double lo,
                 double hi) {
  exprc_tensor t;
  ck_assert_msg(exprc_find(m, name, &t) == EXPRC_OK, "%s", exprc_errmsg(m));
  double *v = malloc((size_t)t.size * sizeof *v);
  for (int64_t i = 0; i < t.size; i++)
    v[i] = tu_uniform(s, lo, hi);
  ck_assert(exprc_set(m, name, v, t.rank, t.shape) == EXPRC_OK);
  free(v);
}

/* The data of input `name`. */
static const double *data(exprc_model *m, const char *name) {
  exprc_tensor t;
  ck_assert(exprc_find(m, name, &t) == EXPRC_OK);
  return t.data;
}

/* ---- unary ops ---- */

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

typedef struct Unary {
  const char *expr;             /* in terms of x */
  double (*f)(double);          /* the value, from libm */
  double (*df)(double);         /* the derivative, by hand */
  double lo, hi;                /* a domain where both are smooth */
} Unary;

static double f_neg(double x) { return -x; }
static double d_neg(double x) { (void)x; return -1; }
static double d_exp(double x) { return exp(x); }
static double d_log(double x) { return 1 / x; }
static double d_sqrt(double x) { return 0.5 / sqrt(x); }
static double d_abs(double x) { return sign(x); }
static double d_zero(double x) { (void)x; return 0; }
static double f_sin(double x) { return sin(x); }
static double d_sin(double x) { return cos(x); }
static double d_cos(double x) { return -sin(x); }
static double d_tan(double x) { return 1 / (cos(x) * cos(x)); }
static double d_tanh(double x) { return 1 / (cosh(x) * cosh(x)); }
static double d_sigmoid(double x) { return sigmoid(x) * (1 - sigmoid(x)); }
static double f_relu(double x) { return x > 0 ? x : 0; }
static double d_relu(double x) { return x > 0; }
static double f_softplus(double x) { return log1p(exp(x)); }
static double d_log1p(double x) { return 1 / (1 + x); }
static double f_sq(double x) { return x * x; }
static double d_sq(double x) { return 2 * x; }
static double f_cube(double x) { return x * x * x; }
static double d_cube(double x) { return 3 * x * x; }
static double f_inv(double x) { return 1 / x; }
static double d_inv(double x) { return -1 / (x * x); }
static double f_inv2(double x) { return 1 / (x * x); }
static double d_inv2(double x) { return -2 / (x * x * x); }
static double f_p17(double x) { return pow(x, 1.7); }
static double d_p17(double x) { return 1.7 * pow(x, 0.7); }
static double f_cos(double x) { return cos(x); }
static double f_tan(double x) { return tan(x); }
static double f_tanh(double x) { return tanh(x); }
static double f_exp(double x) { return exp(x); }
static double f_log(double x) { return log(x); }
static double f_sqrt(double x) { return sqrt(x); }
static double f_abs(double x) { return fabs(x); }
static double f_log1p(double x) { return log1p(x); }
static double f_expm1(double x) { return expm1(x); }

static const Unary unary[] = {
    {"-x", f_neg, d_neg, -2, 2},
    {"exp(x)", f_exp, d_exp, -2, 2},
    {"log(x)", f_log, d_log, 0.1, 3},
    {"sqrt(x)", f_sqrt, d_sqrt, 0.1, 3},
    {"abs(x)", f_abs, d_abs, -2, 2},
    {"sign(x)", sign, d_zero, -2, 2},
    {"sin(x)", f_sin, d_sin, -3, 3},
    {"cos(x)", f_cos, d_cos, -3, 3},
    {"tan(x)", f_tan, d_tan, -1.2, 1.2},
    {"tanh(x)", f_tanh, d_tanh, -3, 3},
    {"sigmoid(x)", sigmoid, d_sigmoid, -6, 6},
    {"relu(x)", f_relu, d_relu, -2, 2},
    {"softplus(x)", f_softplus, sigmoid, -6, 6},
    {"log1p(x)", f_log1p, d_log1p, -0.9, 2},
    {"expm1(x)", f_expm1, d_exp, -2, 2},
    /* ^ with the constant exponents the C emitter special-cases, and one
       it does not */
    {"x^2", f_sq, d_sq, -2, 2},
    {"x^3", f_cube, d_cube, -2, 2},
    {"x^-1", f_inv, d_inv, 0.5, 2},
    {"x^-2", f_inv2, d_inv2, 0.5, 2},
    {"x^0.5", f_sqrt, d_sqrt, 0.1, 3},
    {"pow(x, 1.7)", f_p17, d_p17, 0.1, 3},
};

/* The model for one unary op. */
static exprc_model *unary_model(const Unary *u) {
  char src[512];
  snprintf(src, sizeof src,
           "input x[7]\ninput c[7]\noutput y = %s\n"
           "loss = sum(c * %s)\ngrad loss wrt x, c\n",
           u->expr, u->expr);
  return tu_compile(src);
}

/* op(x) against libm, d loss/dx = c op'(x) against the hand derivative
 * and against finite differences, at three random points. */
START_TEST(unary_value_and_gradient) {
  const Unary *u = &unary[_i];
  exprc_model *m = unary_model(u);
  uint64_t s = 1000 + (uint64_t)_i;
  for (int point = 0; point < 3; point++) {
    fill(m, "x", &s, u->lo, u->hi);
    fill(m, "c", &s, -1, 1);
    const double *x = data(m, "x"), *c = data(m, "c");
    double want[7], dwant[7];
    for (int i = 0; i < 7; i++) {
      want[i] = u->f(x[i]);
      dwant[i] = c[i] * u->df(x[i]);
    }
    char what[64];
    snprintf(what, sizeof what, "%s", u->expr);
    tu_assert_close(tu_output(m, "y").data, want, 7, 2e-15, what);
    snprintf(what, sizeof what, "d/dx %s", u->expr);
    tu_assert_close(tu_grad(m, "loss", "x").data, dwant, 7, 1e-14, what);
    tu_assert_close(tu_grad(m, "loss", "c").data, want, 7, 2e-15, "d/dc");
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
}
END_TEST

/* ---- binary ops, with broadcasting ---- */

typedef struct Binary {
  const char *expr;                   /* in terms of a and b */
  double (*f)(double, double);
  double (*da)(double, double), (*db)(double, double);
  double alo, ahi, blo, bhi;          /* domains of a and b */
} Binary;

static double f_add(double a, double b) { return a + b; }
static double f_sub(double a, double b) { return a - b; }
static double f_mul(double a, double b) { return a * b; }
static double f_div(double a, double b) { return a / b; }
static double f_pow(double a, double b) { return pow(a, b); }
static double f_max(double a, double b) { return a > b ? a : b; }
static double f_min(double a, double b) { return a < b ? a : b; }
static double f_lt(double a, double b) { return a < b; }
static double f_le(double a, double b) { return a <= b; }
static double f_gt(double a, double b) { return a > b; }
static double f_ge(double a, double b) { return a >= b; }
static double f_eq(double a, double b) { return a == b; }
static double f_ne(double a, double b) { return a != b; }
static double one(double a, double b) { (void)a; (void)b; return 1; }
static double minus_one(double a, double b) { (void)a; (void)b; return -1; }
static double zero(double a, double b) { (void)a; (void)b; return 0; }
static double second(double a, double b) { (void)a; return b; }
static double first(double a, double b) { (void)b; return a; }
static double d_div_b(double a, double b) { return -a / (b * b); }
static double d_div_a(double a, double b) { (void)a; return 1 / b; }
static double d_pow_a(double a, double b) { return b * pow(a, b - 1); }
static double d_pow_b(double a, double b) { return pow(a, b) * log(a); }
static double a_wins(double a, double b) { return a > b; }
static double b_wins(double a, double b) { return b > a; }

static const Binary binary[] = {
    {"a + b", f_add, one, one, -2, 2, -2, 2},
    {"a - b", f_sub, one, minus_one, -2, 2, -2, 2},
    {"a * b", f_mul, second, first, -2, 2, -2, 2},
    {"a / b", f_div, d_div_a, d_div_b, -2, 2, 0.5, 2},
    {"a ^ b", f_pow, d_pow_a, d_pow_b, 0.5, 2, -2, 2},
    {"pow(a, b)", f_pow, d_pow_a, d_pow_b, 0.5, 2, -2, 2},
    {"maximum(a, b)", f_max, a_wins, b_wins, -2, 2, -2, 2},
    {"minimum(a, b)", f_min, b_wins, a_wins, -2, 2, -2, 2},
    {"a < b", f_lt, zero, zero, -2, 2, -2, 2},
    {"a <= b", f_le, zero, zero, -2, 2, -2, 2},
    {"a > b", f_gt, zero, zero, -2, 2, -2, 2},
    {"a >= b", f_ge, zero, zero, -2, 2, -2, 2},
    {"a == b", f_eq, zero, zero, -2, 2, -2, 2},
    {"a != b", f_ne, zero, zero, -2, 2, -2, 2},
};

/* Operand shapes: the result is [3,4] in each, or [4] for the last. */
typedef struct Shapes {
  const char *a, *b, *out;
  int ar, ac, br, bc, rows, cols; /* sizes as rows x cols (1 if absent) */
} Shapes;

static const Shapes shapes[] = {
    {"[3, 4]", "[3, 4]", "[3, 4]", 3, 4, 3, 4, 3, 4}, /* same shape */
    {"[3, 1]", "[4]", "[3, 4]", 3, 1, 1, 4, 3, 4},    /* column with row */
    {"", "[3, 4]", "[3, 4]", 1, 1, 3, 4, 3, 4},       /* scalar with tensor */
    {"[4]", "", "[4]", 1, 4, 1, 1, 1, 4},             /* tensor with scalar */
};

/* Value and partials of op at every output element, summed back over the
 * broadcast positions to each operand's own shape. */
static void binary_expect(const Binary *op, const Shapes *sh, const double *a,
                          const double *b, const double *c, double *y,
                          double *ga, double *gb) {
  memset(ga, 0, (size_t)(sh->ar * sh->ac) * sizeof *ga);
  memset(gb, 0, (size_t)(sh->br * sh->bc) * sizeof *gb);
  for (int i = 0; i < sh->rows; i++)
    for (int j = 0; j < sh->cols; j++) {
      int ia = (sh->ar > 1 ? i : 0) * sh->ac + (sh->ac > 1 ? j : 0);
      int ib = (sh->br > 1 ? i : 0) * sh->bc + (sh->bc > 1 ? j : 0);
      int o = i * sh->cols + j;
      y[o] = op->f(a[ia], b[ib]);
      ga[ia] += c[o] * op->da(a[ia], b[ib]);
      gb[ib] += c[o] * op->db(a[ia], b[ib]);
    }
}

static exprc_model *binary_model(const Binary *op, const Shapes *sh) {
  char src[512];
  snprintf(src, sizeof src,
           "input a%s\ninput b%s\ninput c%s\noutput y = %s\n"
           "loss = sum(c * (%s))\ngrad loss wrt a, b\n",
           sh->a, sh->b, sh->out, op->expr, op->expr);
  return tu_compile(src);
}

/* Each binary op in each operand layout, at three random points. */
START_TEST(binary_value_and_gradient) {
  const Binary *op = &binary[_i / 4];
  const Shapes *sh = &shapes[_i % 4];
  exprc_model *m = binary_model(op, sh);
  uint64_t s = 2000 + (uint64_t)_i;
  double y[12], ga[12], gb[12];
  char what[96];
  for (int point = 0; point < 3; point++) {
    fill(m, "a", &s, op->alo, op->ahi);
    fill(m, "b", &s, op->blo, op->bhi);
    fill(m, "c", &s, -1, 1);
    binary_expect(op, sh, data(m, "a"), data(m, "b"), data(m, "c"), y, ga, gb);
    snprintf(what, sizeof what, "%s with a%s, b%s", op->expr, sh->a, sh->b);
    tu_assert_close(tu_output(m, "y").data, y, sh->rows * sh->cols, 2e-15,
                    what);
    tu_assert_close(tu_grad(m, "loss", "a").data, ga, sh->ar * sh->ac, 1e-14,
                    what);
    tu_assert_close(tu_grad(m, "loss", "b").data, gb, sh->br * sh->bc, 1e-14,
                    what);
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
}
END_TEST

/* where(k > 0, a, b) with k [3,1], a [4] and b a scalar: the value picks
 * a or b per element; the gradient goes to the chosen side only, and the
 * condition gets none. */
START_TEST(where_value_and_gradient) {
  exprc_model *m = tu_compile("input k[3, 1]\ninput a[4]\ninput b\n"
                              "input c[3, 4]\noutput y = where(k > 0, a, b)\n"
                              "loss = sum(c * where(k > 0, a, b))\n"
                              "grad loss wrt k, a, b\n");
  uint64_t s = 77;
  for (int point = 0; point < 3; point++) {
    fill(m, "k", &s, -1, 1);
    fill(m, "a", &s, -2, 2);
    fill(m, "b", &s, -2, 2);
    fill(m, "c", &s, -1, 1);
    const double *k = data(m, "k"), *a = data(m, "a"), *b = data(m, "b");
    const double *c = data(m, "c");
    double y[12], ga[4] = {0}, gb = 0, gk[3] = {0};
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 4; j++) {
        y[i * 4 + j] = k[i] > 0 ? a[j] : b[0];
        if (k[i] > 0)
          ga[j] += c[i * 4 + j];
        else
          gb += c[i * 4 + j];
      }
    tu_assert_close(tu_output(m, "y").data, y, 12, 0, "where");
    tu_assert_close(tu_grad(m, "loss", "a").data, ga, 4, 1e-15, "d/da");
    tu_assert_close(tu_grad(m, "loss", "b").data, &gb, 1, 1e-15, "d/db");
    tu_assert_close(tu_grad(m, "loss", "k").data, gk, 3, 0, "d/dk");
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
}
END_TEST

/* ---- structural ops: finite differences at random points ---- */

static const char *const structural[] = {
    /* the four forms of @, dot, and transposed operands */
    "input A[2, 3]\ninput B[3, 4]\ninput C[2, 4]\nloss = sum(C * (A @ B))\n"
    "grad loss wrt A, B\n",
    "input A[2, 3]\ninput v[3]\ninput C[2]\nloss = sum(C * (A @ v))\n"
    "grad loss wrt A, v\n",
    "input v[3]\ninput B[3, 4]\ninput C[4]\nloss = sum(C * (v @ B))\n"
    "grad loss wrt v, B\n",
    "input u[3]\ninput v[3]\nloss = (u @ v) * dot(u, v * v)\n"
    "grad loss wrt u, v\n",
    "input A[3, 2]\ninput B[3, 4]\ninput C[2, 4]\n"
    "loss = sum(C * (transpose(A) @ B))\ngrad loss wrt A, B\n",
    "input A[2, 3]\ninput B[4, 3]\ninput C[2, 4]\n"
    "loss = sum(C * (A @ transpose(B)))\ngrad loss wrt A, B\n",
    /* reductions over each axis form, mean */
    "input x[2, 3, 4]\ninput c[3, 4]\nloss = sum(c * sum(x, 0))\n"
    "grad loss wrt x\n",
    "input x[2, 3, 4]\ninput c[2, 4]\nloss = sum(c * mean(x, 1))\n"
    "grad loss wrt x\n",
    "input x[2, 3, 4]\ninput c[2, 3]\nloss = sum(c * sum(x, -1)^2)\n"
    "grad loss wrt x\n",
    "input x[2, 3]\nloss = mean(x)^2 + sum(x)\ngrad loss wrt x\n",
    /* transpose, reshape */
    "input x[2, 3, 4]\ninput c[4, 3, 2]\nloss = sum(c * transpose(x))\n"
    "grad loss wrt x\n",
    "input x[2, 3, 2]\ninput c[3, 4]\n"
    "loss = sum(c * reshape(x, [3, -1])^2)\ngrad loss wrt x, c\n",
    /* a constant tensor operand, and one value used many times */
    "input x[2, 2]\nloss = sum([[1, 2], [3, 4]] * x^2)\ngrad loss wrt x\n",
    "input x[3]\nloss = sum(x * x * x) + sum(exp(x) * x) + sum(x) * sum(x)\n"
    "grad loss wrt x\n",
    /* broadcasting inside a larger expression */
    "input a[3, 1]\ninput b[4]\ninput s\n"
    "loss = sum(tanh(a * b + s) * (a - b)) / s\ngrad loss wrt a, b, s\n",
};

START_TEST(structural_gradients_match_finite_differences) {
  exprc_model *m = tu_compile(structural[_i]);
  for (unsigned point = 0; point < 3; point++) {
    tu_randomize(m, 300 + 10 * (unsigned)_i + point, 0.5, 1.5, NULL, 0);
    tu_gradcheck(m, "loss", 1e-6);
  }
  exprc_free(m);
}
END_TEST

/* A variable the loss does not use has a zero gradient, not garbage. */
START_TEST(unused_variable_has_zero_gradient) {
  exprc_model *m = tu_compile("input x[2]\nparam p[3] ~ fill(5)\n"
                              "loss = sum(x^2)\ngrad loss wrt p, x\n");
  double x[2] = {1, -3}, gx[2] = {2, -6}, zeros[3] = {0, 0, 0};
  tu_set(m, "x", x, 1, (int64_t)2);
  tu_assert_close(tu_grad(m, "loss", "p").data, zeros, 3, 0, "dp");
  tu_assert_close(tu_grad(m, "loss", "x").data, gx, 2, 0, "dx");
  exprc_free(m);
}
END_TEST

/* ---- conventions where the derivative does not exist ---- */

/* relu'(0) = 0 and abs'(0) = 0: at x = [-1, 0, 2], d sum(relu(x)) =
 * [0, 0, 1] and d sum(abs(x)) = [-1, 0, 1]; sign' = 0 everywhere, so
 * d sum(sign(x) x) = sign(x) = [-1, 0, 1]. */
START_TEST(relu_abs_sign_at_zero) {
  exprc_model *m = tu_compile("input x[3]\nr = sum(relu(x))\na = sum(abs(x))\n"
                              "s = sum(sign(x) * x)\n"
                              "grad r wrt x\ngrad a wrt x\ngrad s wrt x\n"
                              "output y = relu(x), z = abs(x)\n");
  double x[3] = {-1, 0, 2}, dr[3] = {0, 0, 1}, da[3] = {-1, 0, 1};
  double ds[3] = {-1, 0, 1}, y[3] = {0, 0, 2}, z[3] = {1, 0, 2};
  tu_set(m, "x", x, 1, (int64_t)3);
  tu_assert_close(tu_grad(m, "r", "x").data, dr, 3, 0, "relu'");
  tu_assert_close(tu_grad(m, "a", "x").data, da, 3, 0, "abs'");
  tu_assert_close(tu_grad(m, "s", "x").data, ds, 3, 0, "sign'");
  tu_assert_close(tu_output(m, "y").data, y, 3, 0, "relu");
  tu_assert_close(tu_output(m, "z").data, z, 3, 0, "abs");
  exprc_free(m);
}
END_TEST

/* maximum/minimum: the larger (smaller) side gets the gradient; a tie
 * splits it half and half. x = [1, 2, 3], y = [1, 5, 0]:
 * d sum(maximum(x, y)) / dx = [0.5, 0, 1], / dy = [0.5, 1, 0];
 * d sum(minimum(x, y)) / dx = [0.5, 1, 0], / dy = [0.5, 0, 1]. */
START_TEST(maximum_minimum_ties_split_half_and_half) {
  exprc_model *m = tu_compile("input x[3]\ninput y[3]\n"
                              "hi = sum(maximum(x, y))\nlo = sum(minimum(x, y))\n"
                              "grad hi wrt x, y\ngrad lo wrt x, y\n");
  double x[3] = {1, 2, 3}, y[3] = {1, 5, 0};
  double hx[3] = {0.5, 0, 1}, hy[3] = {0.5, 1, 0};
  double lx[3] = {0.5, 1, 0}, ly[3] = {0.5, 0, 1};
  tu_set(m, "x", x, 1, (int64_t)3);
  tu_set(m, "y", y, 1, (int64_t)3);
  tu_assert_close(tu_grad(m, "hi", "x").data, hx, 3, 0, "max dx");
  tu_assert_close(tu_grad(m, "hi", "y").data, hy, 3, 0, "max dy");
  tu_assert_close(tu_grad(m, "lo", "x").data, lx, 3, 0, "min dx");
  tu_assert_close(tu_grad(m, "lo", "y").data, ly, 3, 0, "min dy");
  ck_assert_double_eq(tu_scalar(m, "hi"), 1 + 5 + 3);
  ck_assert_double_eq(tu_scalar(m, "lo"), 1 + 2 + 0);
  exprc_free(m);
}
END_TEST

/* Ties with broadcasting: maximum(v, s) with v = [1, 2, 3], s = 2 gives
 * dv = [0, 0.5, 1] and ds = 1 + 0.5 + 0 = 1.5. And maximum(x, x) = x has
 * derivative 0.5 + 0.5 = 1; minimum(x, 2) at x = 2 has 0.5. */
START_TEST(ties_with_broadcasting_and_self) {
  exprc_model *m = tu_compile("input v[3]\ninput s\ninput x\n"
                              "l = sum(maximum(v, s))\n"
                              "k = maximum(x, x) + minimum(x, 2)\n"
                              "grad l wrt v, s\ngrad k wrt x\n");
  double v[3] = {1, 2, 3}, s = 2, x = 2, dv[3] = {0, 0.5, 1};
  tu_set(m, "v", v, 1, (int64_t)3);
  tu_set(m, "s", &s, 0);
  tu_set(m, "x", &x, 0);
  tu_assert_close(tu_grad(m, "l", "v").data, dv, 3, 0, "dv");
  ck_assert_double_eq(tu_grad(m, "l", "s").data[0], 1.5);
  ck_assert_double_eq(tu_grad(m, "k", "x").data[0], 1.5);
  exprc_free(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("grad_ops");
  TCase *ew = tu_tcase("elementwise", 60);
  tcase_add_loop_test(ew, unary_value_and_gradient, 0,
                      (int)(sizeof unary / sizeof unary[0]));
  tcase_add_loop_test(ew, binary_value_and_gradient, 0,
                      (int)(sizeof binary / sizeof binary[0]) * 4);
  tcase_add_test(ew, where_value_and_gradient);
  suite_add_tcase(s, ew);
  TCase *st = tu_tcase("structural", 60);
  tcase_add_loop_test(st, structural_gradients_match_finite_differences, 0,
                      (int)(sizeof structural / sizeof structural[0]));
  tcase_add_test(st, unused_variable_has_zero_gradient);
  suite_add_tcase(s, st);
  TCase *conv = tu_tcase("conventions", 60);
  tcase_add_test(conv, relu_abs_sign_at_zero);
  tcase_add_test(conv, maximum_minimum_ties_split_half_and_half);
  tcase_add_test(conv, ties_with_broadcasting_and_self);
  suite_add_tcase(s, conv);
  return tu_run_suite(s);
}
