/* test_special.c: the special functions (erf ... stop_gradient, polygamma).
 *
 * Three independent sources of truth:
 *   - values: digamma and polygamma against tests/special_values.h, 60-digit
 *     closed forms and recurrences written by tests/special_values.py (the
 *     error is measured in ulps over that grid, with a stated bound); the
 *     other functions against numbers printed by Python 3's math module
 *     (repr, so the double is exact), noted at each table;
 *   - derivatives: first and second derivatives, mixed ones for the
 *     two-argument functions, against the reference evaluator
 *     (tests/refeval.c), whose grad is finite differences of its own plain
 *     implementations (its polygamma is the Hurwitz series summed directly,
 *     not the compiler's recurrence, asymptotic series and reflection);
 *   - conventions at the kinks (clip, elu, leaky_relu at 0, floor, round,
 *     stop_gradient), by hand, since finite differences say nothing there.
 * Shapes are [3, 3] (equal sizes on different axes) with a [3] operand
 * broadcast along the rows.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refeval.h"
#include "special_values.h"
#include "testutil.h"

enum { NSPECIAL = sizeof special_values / sizeof special_values[0] };

/* |got - want| in units of the last place of want. */
static double ulps(double got, double want) {
  if (got == want)
    return 0;
  double w = fabs(want), ulp = nextafter(w, INFINITY) - w;
  return fabs(got - want) / ulp;
}

/* polygamma(n, x) of exprc at the rows of special_values.h, into out. */
static void polygamma_at_grid(double *out) {
  char src[256];
  snprintf(src, sizeof src,
           "input n[%d]\ninput x[%d]\noutput y = polygamma(n, x)\n"
           "output d = digamma(x)\n", NSPECIAL, NSPECIAL);
  exprc_model *m = tu_compile(src);
  double *n = malloc(NSPECIAL * sizeof *n), *x = malloc(NSPECIAL * sizeof *x);
  for (int i = 0; i < NSPECIAL; i++)
    n[i] = special_values[i][0], x[i] = special_values[i][1];
  tu_set(m, "n", n, 1, (int64_t)NSPECIAL);
  tu_set(m, "x", x, 1, (int64_t)NSPECIAL);
  memcpy(out, tu_output(m, "y").data, NSPECIAL * sizeof *out);
  const double *d = tu_output(m, "d").data;
  for (int i = 0; i < NSPECIAL; i++) /* digamma is polygamma of order 0 */
    if (n[i] == 0)
      ck_assert_msg(d[i] == out[i], "digamma(%g) = %.17g, polygamma(0, %g) "
                    "= %.17g", x[i], d[i], x[i], out[i]);
  exprc_free(m);
  free(n);
  free(x);
}

/* The grid: orders 0, 1, 2 at x = f + m (f = 1/4, 1/2, 3/4, 1; m from 0 to
 * 59, and 100, 1000, 1e5) and at x = f - m (m from 1 to 20). Within 8 ulps
 * where the value is not the result of cancellation: digamma between its
 * zeros 1.4616... (positive) and near the zeros on the negative axis is a
 * difference of nearly equal numbers, so there the error is bounded
 * absolutely, by 8 ulps of the terms it is the difference of (|value| + 4). */
START_TEST(polygamma_within_ulps_of_closed_forms) {
  double *got = malloc(NSPECIAL * sizeof *got), worst[3] = {0, 0, 0};
  polygamma_at_grid(got);
  for (int i = 0; i < NSPECIAL; i++) {
    int n = (int)special_values[i][0];
    double x = special_values[i][1], want = special_values[i][2];
    double e = ulps(got[i], want);
    if (n == 0 && (fabs(want) < 1 || x < 0)) { /* cancellation: absolute */
      double scale = fabs(want) + 4;
      double ulp = nextafter(scale, INFINITY) - scale;
      e = fabs(got[i] - want) / ulp;
    }
    ck_assert_msg(e <= 8, "polygamma(%d, %g) = %.17g, want %.17g (%.1f ulps)",
                  n, x, got[i], want, e);
    if (e > worst[n])
      worst[n] = e;
  }
  printf("polygamma over %d points: max error %.1f, %.1f, %.1f ulps for "
         "orders 0, 1, 2\n", (int)NSPECIAL, worst[0], worst[1], worst[2]);
  free(got);
}
END_TEST

/* polygamma(n, 1) = (-1)^(n+1) n! zeta(n+1): higher orders, where the
 * series's terms and the reflection's polynomial are longest. zeta(4) =
 * pi^4/90, zeta(6) = pi^6/945, zeta(8) = pi^8/9450, zeta(5) =
 * 1.0369277551433699263 (Apery-like constant, published to 20 digits), and
 * the reflection psi^(n)(1 - x) for x = 1/2 at order 3: psi3(1/2) = pi^4
 * gives psi3(-1/2) = pi^4 + 6 / (1/2)^4 = pi^4 + 96. */
START_TEST(polygamma_high_orders_and_negative_arguments) {
  exprc_model *m = tu_compile("input n[6]\ninput x[6]\n"
                              "output y = polygamma(n, x)\n");
  const double pi = 3.14159265358979323846;
  double n[6] = {3, 4, 5, 7, 3, 3}, x[6] = {1, 1, 1, 1, 0.5, -0.5};
  double want[6] = {6 * pow(pi, 4) / 90, -24 * 1.0369277551433699263,
                    120 * pow(pi, 6) / 945, 5040 * pow(pi, 8) / 9450,
                    pow(pi, 4), pow(pi, 4) + 96};
  tu_set(m, "n", n, 1, (int64_t)6);
  tu_set(m, "x", x, 1, (int64_t)6);
  const double *y = tu_output(m, "y").data;
  for (int i = 0; i < 6; i++)
    ck_assert_msg(ulps(y[i], want[i]) <= 8, "polygamma(%g, %g) = %.17g, "
                  "want %.17g", n[i], x[i], y[i], want[i]);
  exprc_free(m);
}
END_TEST

/* Poles and edges, as SciPy: digamma(+0) = -inf, digamma(-0) = +inf,
 * digamma at a negative whole number NaN; polygamma(n >= 1) at a pole is
 * (-1)^(n+1) inf; an order that is not a whole number from 0 to 170 gives
 * NaN; at +inf digamma is +inf and higher orders 0. */
START_TEST(polygamma_poles_and_domain) {
  exprc_model *m = tu_compile("input n[10]\ninput x[10]\n"
                              "output y = polygamma(n, x)\n");
  double n[10] = {0, 0, 0, 1, 2, 0.5, -1, 0, 1, 171};
  double x[10] = {0, -0.0, -2, 0, -3, 1, 1, INFINITY, INFINITY, 2};
  tu_set(m, "n", n, 1, (int64_t)10);
  tu_set(m, "x", x, 1, (int64_t)10);
  const double *y = tu_output(m, "y").data;
  ck_assert(isinf(y[0]) && y[0] < 0);
  ck_assert(isinf(y[1]) && y[1] > 0);
  ck_assert(isnan(y[2]));
  ck_assert(isinf(y[3]) && y[3] > 0);
  ck_assert(isinf(y[4]) && y[4] < 0);
  ck_assert(isnan(y[5]) && isnan(y[6]) && isnan(y[9]));
  ck_assert(isinf(y[7]) && y[7] > 0);
  ck_assert_double_eq(y[8], 0);
  exprc_free(m);
}
END_TEST

/* ---- the functions with a libm counterpart ---- */

typedef struct Point {
  const char *expr; /* in terms of x */
  double x, want;   /* want: Python 3's math, printed with repr */
} Point;

/* Each want was printed by python3 -c 'import math; print(repr(...))' with
 * the expression spelled as in the comment after it. */
static const Point points[] = {
    {"erf(x)", 0.5, 0.5204998778130465},           /* math.erf(0.5) */
    {"erf(x)", -1.7, -0.9837904585907745},         /* math.erf(-1.7) */
    {"erfc(x)", 3.0, 2.2090496998585438e-05},       /* math.erfc(3.0) */
    {"erfc(x)", -0.25, 1.276326390168237},        /* math.erfc(-0.25) */
    /* lgamma: not Python's math.lgamma, which is 6 ulps off at 0.5, but
       closed forms at 40 digits with the decimal module: ln(pi)/2,
       ln(9!), ln(pi)/2 - ln(1.875) (Gamma(-2.5) = Gamma(0.5) / -1.875) */
    {"lgamma(x)", 0.5, 0.5723649429247001},
    {"lgamma(x)", 10.0, 12.801827480081469},
    {"lgamma(x)", -2.5, -0.056243716497674054},
    {"asin(x)", 0.3, 0.3046926540153975},          /* math.asin(0.3) */
    {"acos(x)", -0.6, 2.214297435588181},          /* math.acos(-0.6) */
    {"atan(x)", 2.0, 1.1071487177940904},          /* math.atan(2) */
    {"atan2(x, -2)", 1.0, 2.677945044588987},      /* math.atan2(1, -2) */
    {"atan2(-1, x)", -3.0, -2.819842099193151},    /* math.atan2(-1, -3) */
    {"sinh(x)", 1.5, 2.1292794550948173},          /* math.sinh(1.5) */
    {"cosh(x)", -2.0, 3.7621956910836314},         /* math.cosh(-2) */
    {"asinh(x)", -0.75, -0.6931471805599453},      /* math.asinh(-0.75) */
    {"acosh(x)", 3.0, 1.762747174039086},          /* math.acosh(3) */
    {"atanh(x)", 0.5, 0.5493061443340548},         /* math.atanh(0.5) */
    {"log2(x)", 10.0, 3.321928094887362},          /* math.log2(10) */
    {"log10(x)", 0.02, -1.6989700043360187},       /* math.log10(0.02) */
    {"exp2(x)", -1.5, 0.3535533905932738},         /* 2 ** -1.5 */
    {"square(x)", -1.1, 1.2100000000000002},       /* -1.1 * -1.1 */
    {"reciprocal(x)", 3.0, 0.3333333333333333},    /* 1 / 3 */
    {"hypot(x, 4)", 3.0, 5.0},                     /* math.hypot(3, 4) */
    {"hypot(x, 1e300)", 1e300, 1.4142135623730952e+300}, /* no overflow */
    /* x * (1 + math.erf(x / math.sqrt(2))) / 2 */
    {"gelu(x)", 1.0, 0.8413447460685429},
    {"gelu(x)", -0.5, -0.15426876936299344},
    /* far left, where 1 + erf cancels and erfc magnifies the rounding of
       -x/sqrt(2) a hundredfold: x erfc(z) / 2 at z = -x/sqrt(2) with erfc
       from its asymptotic series exp(-z^2)/(z sqrt(pi)) sum (-1)^k
       (2k-1)!!/(2z^2)^k at 50 digits (decimal module; the smallest term,
       where it is cut, is below 1e-21 of the sum) */
    {"gelu(x)", -10.0, -7.619853024160526e-23},
    {"gelu(x)", -12.0, -2.1317785344932147e-32},
    {"gelu(x)", -37.0, -2.1184613523340935e-298},
    {"silu(x)", 2.0, 1.7615941559557646},          /* 2 / (1 + math.exp(-2)) */
    {"silu(x)", -40.0, -1.6993417021166355e-16},   /* -40 / (1 + math.exp(40)) */
    {"elu(x)", -1.0, -0.6321205588285577},         /* math.expm1(-1) */
    {"elu(x, alpha=2)", -1e-10, -1.9999999999000001e-10}, /* 2 * math.expm1(-1e-10) */
    {"elu(x, 2)", 0.5, 0.5},
    {"leaky_relu(x)", -3.0, -0.03},                /* 0.01 * -3 */
    {"leaky_relu(x, negative_slope=0.2)", -3.0, -0.6000000000000001},
    {"leaky_relu(x)", 2.5, 2.5},
    {"clip(x, -1, 2)", -1.5, -1.0},
    {"clip(x, -1, 2)", 0.25, 0.25},
    {"clip(x, lo=-1, hi=2)", 7.0, 2.0},
    {"clip(x, 3, 1)", 0.0, 1.0},                   /* numpy.clip(0, 3, 1): hi */
    {"floor(x)", -2.5, -3.0},
    {"ceil(x)", -2.5, -2.0},
    {"round(x)", 2.5, 2.0},                        /* round(2.5): half to even */
    {"round(x)", 3.5, 4.0},
    {"round(x)", -2.5, -2.0},
    {"round(x)", 0.49999999999999994, 0.0},        /* the largest double < 1/2 */
    {"round(x)", 4503599627370497.0, 4503599627370497.0}, /* 2^52 + 1 */
    {"stop_gradient(x)", 1.25, 1.25},
};

/* Each point within 2 ulps of Python's math (glibc's libm behind both,
 * except for the compositions gelu, silu and elu, written here as exprc
 * writes them, and round, which exprc computes from floor). */
START_TEST(values_against_python_math) {
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
    char src[256];
    snprintf(src, sizeof src, "input x\noutput y = %s\n", points[i].expr);
    exprc_model *m = tu_compile(src);
    tu_set(m, "x", &points[i].x, 0);
    double y = tu_output(m, "y").data[0];
    ck_assert_msg(ulps(y, points[i].want) <= 2, "%s at %.17g: got %.17g, "
                  "want %.17g", points[i].expr, points[i].x, y,
                  points[i].want);
    exprc_free(m);
  }
}
END_TEST

/* round(-0.4) is -0 and round(0.4) +0, as NumPy's. */
START_TEST(round_keeps_the_sign_of_zero) {
  exprc_model *m = tu_compile("input x[2]\noutput y = round(x)\n");
  tu_set(m, "x", (double[]){-0.4, 0.4}, 1, (int64_t)2);
  const double *y = tu_output(m, "y").data;
  ck_assert(y[0] == 0 && signbit(y[0]));
  ck_assert(y[1] == 0 && !signbit(y[1]));
  exprc_free(m);
}
END_TEST

/* ---- derivatives against the reference evaluator ---- */

typedef struct Case {
  const char *expr; /* elementwise in x[3, 3] and p[3] */
  double lo, hi;    /* x's values spread over [lo, hi] */
  double plo, phi;  /* p's */
} Case;

static const Case cases[] = {
    {"erf(x) * p", -2, 2, 0.5, 1.5},
    {"erfc(x * p)", -1.5, 1.5, 0.5, 1.5},
    {"lgamma(x + p)", 0.2, 4, 0.1, 1},
    {"digamma(x) * p", 0.3, 5, 0.5, 1},
    {"digamma(x)", -2.8, -2.2, 0, 1},        /* the reflection */
    {"polygamma(2, x) + polygamma(1, x * p)", 0.5, 4, 0.5, 1.5},
    {"polygamma(3, x)", -1.8, -1.2, 0, 1},
    {"asin(x * p)", -0.9, 0.9, 0.5, 1},
    {"acos(x) + atan(x * p)", -0.8, 0.8, -2, 2},
    {"atan2(x, p)", -2, 2, 0.5, 2},
    {"atan2(p, x)", -2, 2, -1.5, -0.5},
    {"sinh(x * p) + cosh(x)", -2, 2, 0.5, 1.5},
    {"asinh(x * p)", -3, 3, 0.5, 2},
    {"acosh(x + p)", 1.2, 4, 0.1, 1},
    {"atanh(x * p)", -0.9, 0.9, 0.2, 1},
    {"log2(x * p) + log10(x + p)", 0.2, 4, 0.5, 2},
    {"exp2(x * p)", -2, 2, 0.5, 1.5},
    {"square(x * p) + reciprocal(x + p)", 0.5, 2, 0.5, 2},
    {"hypot(x, p)", -2, 2, 0.5, 2},
    {"clip(x, p - 1, p + 1)", -1.9, 2.9, -0.3, 0.3}, /* clips both ways */
    {"gelu(x * p)", -3, 3, 0.5, 1.5},
    {"silu(x * p)", -3, 3, 0.5, 1.5},
    {"elu(x, alpha=p)", 0.1, 2, 0.5, 2},
    {"elu(x, p)", -2, -0.1, 0.5, 2},
    {"leaky_relu(x, negative_slope=p)", -2, 2, 0.1, 0.3},
    {"floor(x * 3) * x + ceil(x) * p + round(x * p)", -2.3, 2.3, 0.3, 0.7},
    {"x * stop_gradient(x * p)", -2, 2, 0.5, 1.5},
};

static void fill(double *v, int n, double lo, double hi, double shift) {
  for (int i = 0; i < n; i++) /* irrational steps: off the kinks */
    v[i] = lo + (hi - lo) * fmod(0.1234 + shift + i * 0.6180339887498949, 1);
}

static const char *const outs[] = {"f", "g", "h", "gp", "hp", "hxp"};

/* f and its derivatives: g = df/dx . w, h = d(g . w)/dx (second
 * derivatives), gp and hp the same by p, hxp = d(gp . 1)/dx (mixed). */
static void model_of(const Case *c, char *src, size_t n) {
  snprintf(src, n,
           "input x[3, 3]\ninput p[3]\ninput w[3, 3]\n"
           "f = %s\n"
           "g = grad(sum(w * f), x)\n"
           "gp = grad(sum(w * f), p)\n"
           "output f\noutput g\n"
           "output h = grad(sum(w * g), x)\n"
           "output gp\n"
           "output hp = grad(sum(gp * p), p)\n"
           "output hxp = grad(sum(gp), x)\n",
           c->expr);
}

static void check_case(const Case *c) {
  char src[1024], err[256];
  model_of(c, src, sizeof src);
  double x[9], p[3], w[9];
  fill(x, 9, c->lo, c->hi, 0);
  fill(p, 3, c->plo, c->phi, 0.3);
  fill(w, 9, -1, 1, 0.7);
  exprc_model *m = tu_compile(src);
  RefModel *r = ref_load(src, err, sizeof err);
  ck_assert_msg(r != NULL, "%s", err);
  ref_set_step(r, 1.0 / 4096); /* finite differences exact to ~1e-10 here */
  const int64_t d33[2] = {3, 3}, d3[1] = {3};
  tu_set(m, "x", x, 2, (int64_t)3, (int64_t)3);
  tu_set(m, "p", p, 1, (int64_t)3);
  tu_set(m, "w", w, 2, (int64_t)3, (int64_t)3);
  ck_assert(ref_set(r, "x", x, 2, d33) == 0 && ref_set(r, "p", p, 1, d3) == 0 &&
            ref_set(r, "w", w, 2, d33) == 0);
  for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
    RefTensor want;
    ck_assert_msg(ref_eval(r, outs[k], &want) == 0, "%s", ref_errmsg(r));
    exprc_tensor got = tu_output(m, outs[k]);
    ck_assert_int_eq(got.size, want.size);
    double tol = k == 0 ? 1e-13 : 1e-7; /* the oracle differentiates by
                                           finite differences */
    for (int64_t i = 0; i < got.size; i++)
      ck_assert_msg(fabs(got.data[i] - want.data[i]) <=
                        tol * (1 + fabs(want.data[i])),
                    "%s: %s[%lld] = %.17g, oracle %.17g", c->expr, outs[k],
                    (long long)i, got.data[i], want.data[i]);
  }
  ref_free(r);
  exprc_free(m);
}

START_TEST(derivatives_against_the_oracle) {
  check_case(&cases[_i]);
}
END_TEST

/* ---- the conventions where finite differences say nothing ---- */

/* clip passes the gradient to x strictly inside (lo, hi); at x = lo it goes
 * to lo, at x = hi to hi, so exactly one of the three gets each element's. */
START_TEST(clip_gradient_at_the_bounds) {
  exprc_model *m = tu_compile("input x[5]\ninput lo\ninput hi\n"
                              "f = sum([1, 2, 3, 4, 5] * clip(x, lo, hi))\n"
                              "output gx = grad(f, x)\n"
                              "output glo = grad(f, lo)\n"
                              "output ghi = grad(f, hi)\n");
  double x[5] = {-2, -1, 0, 1, 2}, lo = -1, hi = 1;
  tu_set(m, "x", x, 1, (int64_t)5);
  tu_set(m, "lo", &lo, 0);
  tu_set(m, "hi", &hi, 0);
  double gx[5] = {0, 0, 3, 0, 0};
  tu_assert_close(tu_output(m, "gx").data, gx, 5, 0, "gx");
  ck_assert_double_eq(tu_output(m, "glo").data[0], 1 + 2);
  ck_assert_double_eq(tu_output(m, "ghi").data[0], 4 + 5);
  exprc_free(m);
}
END_TEST

/* At 0: elu' = alpha (the x <= 0 branch, as PyTorch), leaky_relu' = the
 * slope; floor, ceil and round have zero gradient even at their jumps, and
 * stop_gradient blocks every order. */
START_TEST(kinks_and_zero_gradients) {
  exprc_model *m = tu_compile(
      "input x\n"
      "output e = grad(elu(x, alpha=3), x)\n"
      "output l = grad(leaky_relu(x, negative_slope=0.25), x)\n"
      "output r = grad(floor(x) + ceil(x) + round(x) + x, x)\n"
      "output s = grad(x * stop_gradient(x * x), x)\n"
      "output s2 = grad(grad(x * stop_gradient(x * x), x), x)\n");
  double x = 0;
  tu_set(m, "x", &x, 0);
  ck_assert_double_eq(tu_output(m, "e").data[0], 3);
  ck_assert_double_eq(tu_output(m, "l").data[0], 0.25);
  ck_assert_double_eq(tu_output(m, "r").data[0], 1);
  x = 1.5;
  tu_set(m, "x", &x, 0);
  ck_assert_double_eq(tu_output(m, "s").data[0], 2.25);
  ck_assert_double_eq(tu_output(m, "s2").data[0], 0);
  exprc_free(m);
}
END_TEST

/* d/dx polygamma(n, x) = polygamma(n + 1, x): derivatives of every order,
 * here the fourth of lgamma, which is polygamma(3, x); at x = 1 that is
 * 6 zeta(4) = pi^4 / 15. */
START_TEST(fourth_derivative_of_lgamma) {
  exprc_model *m = tu_compile(
      "input x\n"
      "output d4 = grad(grad(grad(grad(lgamma(x), x), x), x), x)\n");
  double x = 1;
  tu_set(m, "x", &x, 0);
  double want = pow(3.14159265358979323846, 4) / 15;
  ck_assert_msg(ulps(tu_output(m, "d4").data[0], want) <= 8, "%.17g",
                tu_output(m, "d4").data[0]);
  exprc_free(m);
}
END_TEST

/* The arguments by keyword and their errors. */
START_TEST(keyword_arguments_and_errors) {
  exprc_model *m = tu_compile(
      "input x[2]\n"
      "output a = polygamma(x=x, n=1)\n"
      "output b = atan2(x=x, y=1)\n"
      "output c = elu(alpha=0.5, x=x)\n");
  tu_set(m, "x", (double[]){1, -1}, 1, (int64_t)2);
  ck_assert_double_eq_tol(tu_output(m, "a").data[0],
                          3.14159265358979323846 * 3.14159265358979323846 / 6,
                          1e-15);
  ck_assert_double_eq(tu_output(m, "b").data[1], atan2(1, -1));
  ck_assert_double_eq(tu_output(m, "c").data[1], 0.5 * expm1(-1));
  exprc_free(m);
  exprc_status st;
  const char *e = tu_compile_error("input x\noutput y = elu(x, beta=1)\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_SYNTAX);
  ck_assert_msg(strstr(e, "'elu' has no argument named 'beta'"), "%s", e);
  e = tu_compile_error("input x\noutput y = clip(x, 1)\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_SYNTAX);
  ck_assert_msg(strstr(e, "'clip' takes 3 arguments, not 2"), "%s", e);
  e = tu_compile_error("input x[2]\ninput y[3]\noutput z = hypot(x, y)\n", &st);
  ck_assert_int_eq(st, EXPRC_ERR_SHAPE);
}
END_TEST

int main(void) {
  Suite *s = suite_create("special");
  TCase *t = tu_tcase("values", 120);
  tcase_add_test(t, polygamma_within_ulps_of_closed_forms);
  tcase_add_test(t, polygamma_high_orders_and_negative_arguments);
  tcase_add_test(t, polygamma_poles_and_domain);
  tcase_add_test(t, values_against_python_math);
  tcase_add_test(t, round_keeps_the_sign_of_zero);
  suite_add_tcase(s, t);
  t = tu_tcase("derivatives", 300);
  tcase_add_loop_test(t, derivatives_against_the_oracle, 0,
                      (int)(sizeof cases / sizeof cases[0]));
  tcase_add_test(t, clip_gradient_at_the_bounds);
  tcase_add_test(t, kinks_and_zero_gradients);
  tcase_add_test(t, fourth_derivative_of_lgamma);
  tcase_add_test(t, keyword_arguments_and_errors);
  suite_add_tcase(s, t);
  return tu_run_suite(s);
}
