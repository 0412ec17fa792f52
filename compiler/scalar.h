/* scalar.h: the scalar helper functions that op expressions in ops.def call.
 *
 * Each is written once, as an XC_SCALAR_FNS row: the compiler defines them
 * from these rows (to fold constants), and the C emitter prints the same rows
 * as text into every generated translation unit, so the two cannot drift.
 * They are the numerically stable forms: sigmoid and softplus never overflow.
 * A NaN goes through each of them as NaN, as in NumPy: relu and sign of NaN
 * are NaN, not 0, so that a NaN is never hidden.
 *
 * xc_mulz and xc_divz are the "strong zero" products of the gradient rules
 * (grad.c): a * b and a / b, except that a zero a (the incoming gradient)
 * stays that zero where the plain result would be infinite or NaN, so that
 * 0 * inf, 0 * NaN, 0 / 0 and 0 / NaN give 0. Wherever the plain result is
 * finite, and wherever a is not zero (NaN included), the result is the plain
 * one, bit for bit: the sign of a zero product is IEEE's (0 * -3 is -0), and
 * a zero that replaces a non-finite result keeps the sign of a.
 *
 * xc_tanh is the runtime's tanh (runtime/kernels.c) for one element, so that
 * a tanh computed inside an expression and one stored by a whole-array call
 * (emit_expr.c) are the same bits, and so is a tanh folded at compile time.
 * xc_exp is exp, with arguments below -746 (where exp rounds to +0) given
 * +0 without the call: glibc's exp takes a slow path there, setting errno,
 * and a causal mask's softmax (x - 1e9 where a position is hidden) sends
 * half its arguments there: a third of an attention gradient's time.
 * Float32 models use the same xc_tanh: its double result is rounded where
 * a statement stores it, and exprc_rt_tanh_f32 rounds the same bits when
 * a float32 loop's tanh goes a block at a time (emit_ops.c).
 */
#ifndef EXPRC_SCALAR_H
#define EXPRC_SCALAR_H

#define XC_SCALAR_FNS(X)                                                      \
  X(xc_sigmoid(double x) {                                                    \
    if (x >= 0) return 1.0 / (1.0 + exp(-x));                                 \
    double e = exp(x); return e / (1.0 + e); })                               \
  X(xc_softplus(double x) {                                                   \
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); })                     \
  X(xc_relu(double x) { return x > 0 || x != x ? x : 0.0; })                  \
  X(xc_sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x == x ? 0.0 : x; })\
  X(xc_maximum(double a, double b) { return a != a || a >= b ? a : b; })      \
  X(xc_minimum(double a, double b) { return a != a || a <= b ? a : b; })      \
  X(xc_mulz(double a, double b) {                                             \
    return a == 0.0 && b - b != 0.0 ? a : a * b; })                           \
  X(xc_divz(double a, double b) {                                             \
    return a == 0.0 && (b == 0.0 || b != b) ? a : a / b; })                     \
  X(xc_tanh(double x) { double y; exprc_rt_tanh(1, &x, &y); return y; })      \
  X(xc_exp(double x) { return x < -746.0 ? 0.0 : exp(x); })                  \
  XC_SPECIAL_FNS(X)

/* The helpers of the special functions (v2).
 *
 * xc_round: NumPy's round, half to even whatever the rounding mode, keeping
 * the sign of a zero result (round(-0.4) is -0).
 * xc_lgamma: log |Gamma(x)| by lgamma_r (POSIX, in every libm exprc runs
 * on), since C's lgamma writes the global signgam, a data race when the
 * threads of a parallel loop call it.
 * xc_clip: NumPy's clip, minimum(maximum(x, lo), hi), NaN in x kept.
 * xc_gelu: x Phi(x) = x erfc(-x / sqrt 2) / 2 (erfc, not 1 + erf, which
 * cancels for x < 0). erfc's relative condition number is about 2 u^2, so
 * the rounding of -x / sqrt 2 alone would cost 100 ulps at x = -10: the
 * product's rounding error and the low part of 1/sqrt 2 (Dekker's exact
 * product, by splitting) are added back to first order, erfc(u + du) =
 * erfc(u) - du 2/sqrt(pi) exp(-u^2).
 * xc_polygamma(n, x): the n-th derivative of digamma, n a whole number from
 * 0 to 170 (n! must be a double), else NaN. For x > 0, the recurrence
 * psi^(n)(x) = psi^(n)(x + 1) - (-1)^n n! / x^(n+1) moves x up to y >= 20 + n,
 * where the asymptotic series (Abramowitz and Stegun 6.4.11 and 6.3.18)
 *   psi^(n)(y) = (-1)^(n+1) n! [y^-n / n + y^-(n+1) / 2
 *                + sum_j B_2j (n+1)...(n+2j-1) / (2j)! y^-(n+2j)]
 * (for n = 0: log y - 1/(2y) - sum_j B_2j / (2j y^2j)) converges to double
 * precision within eleven terms. For x < 0, the reflection
 *   psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) D_n(cot(pi x)),
 * where D_n is the polynomial with d^n/dx^n cot(pi x) = pi^n D_n(cot(pi x)),
 * built by D_(k+1)(c) = -(1 + c^2) D_k'(c); cot is taken of r = x - floor(x),
 * which is exact, so large |x| loses nothing to pi x, and as tan(pi (1/2 -
 * r)) for r near 1/2, so that it is 0 at r = 1/2 exactly. Poles (x = 0, -1, ...):
 * digamma of +0 is -inf and of -0 +inf (SciPy), of a negative whole number
 * NaN; order n >= 1 gives (-1)^(n+1) inf there (SciPy's zeta form). */
#define XC_SPECIAL_FNS(X)                                                     \
  X(xc_round(double x) {                                                      \
    double r = floor(x), d = x - r;                                           \
    if (d > 0.5 || (d == 0.5 && r - 2.0 * floor(0.5 * r) != 0.0)) r += 1.0;   \
    return copysign(r, x); })                                                 \
  X(xc_lgamma(double x) {                                                    \
    extern double lgamma_r(double, int *);                                    \
    int sign;                                                                 \
    return lgamma_r(x, &sign); })                                             \
  X(xc_clip(double x, double lo, double hi) {                                 \
    double m = x != x || x >= lo ? x : lo;                                    \
    return m != m || m <= hi ? m : hi; })                                     \
  X(xc_gelu(double x) {                                                      \
    double c = 0.70710678118654757, u = -x * c;                               \
    if (!(fabs(x) < 1e10)) return 0.5 * x * erfc(u);                          \
    double sx = 134217729.0 * x, xh = sx - (sx - x), xl = x - xh;             \
    double sc = 134217729.0 * c, ch = sc - (sc - c), cl = c - ch;             \
    double e = ((xh * ch - x * c) + xh * cl + xl * ch) + xl * cl;             \
    double ul = -e + x * 4.833646656726457e-17;                               \
    return 0.5 * x * (erfc(u) - ul * 1.1283791670955126 * exp(-u * u)); })    \
  X(xc_polygamma(double nd, double x) {                                       \
    static const double B[11] = {1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30,     \
      5.0 / 66, -691.0 / 2730, 7.0 / 6, -3617.0 / 510, 43867.0 / 798,         \
      -174611.0 / 330, 854513.0 / 138};                                       \
    if (!(nd >= 0 && nd <= 170 && nd == floor(nd)) || x != x) return nd + x + 0.0 / 0.0; \
    int n = (int)nd;                                                          \
    double fact = 1, sign = n % 2 ? 1.0 : -1.0;                               \
    for (int i = 2; i <= n; i++) fact *= i;                                   \
    if (x <= 0) {                                                             \
      double fl = floor(x);                                                   \
      if (x == fl) {                                                          \
        if (n == 0) return x == 0 ? copysign(1.0 / 0.0, -x) : 0.0 / 0.0;      \
        return x == -1.0 / 0.0 ? 0.0 / 0.0 : sign * (1.0 / 0.0); }            \
      double D[172] = {0}, r = x - fl, pi = 3.14159265358979323846;          \
      double c = r <= 0.25 ? 1.0 / tan(pi * r) : r <= 0.75 ? tan(pi * (0.5 - r)) \
                                               : -1.0 / tan(pi * (1.0 - r)); \
      D[1] = 1;                                                               \
      for (int k = 0; k < n; k++) {                                           \
        double E[172] = {0};                                                  \
        for (int j = 1; j <= k + 1; j++) {                                    \
          E[j - 1] -= j * D[j]; E[j + 1] -= j * D[j]; }                       \
        for (int j = 0; j <= k + 2; j++) D[j] = E[j]; }                       \
      double p = 0, pin = pi;                                                 \
      for (int j = n + 1; j >= 0; j--) p = p * c + D[j];                      \
      for (int k = 0; k < n; k++) pin *= pi;                                  \
      return (n % 2 ? -1.0 : 1.0) * xc_polygamma(nd, 1.0 - x) - pin * p; }    \
    double s = 0, y = x, lim = 20.0 + n;                                      \
    for (; y < lim; y += 1.0) s += n ? pow(y, -(n + 1.0)) : 1.0 / y;          \
    double y2 = 1.0 / (y * y), t = (n ? pow(y, -(double)n) : 1.0) * y2;       \
    double r = (n + 1.0) / 2.0, a = 0;                                        \
    for (int j = 0; j < 11; j++) {                                            \
      a += B[j] * r * t;                                                      \
      t *= y2;                                                                \
      r *= (n + 2.0 * j + 2) * (n + 2.0 * j + 3) / ((2.0 * j + 3) * (2.0 * j + 4)); } \
    a += 0.5 * (n ? pow(y, -(n + 1.0)) : 1.0 / y);                            \
    a += n ? pow(y, -(double)n) / n : -log(y);                                \
    return sign * fact * (s + a); })

/* The libm functions generated code may call, declared by the emitter and
 * bound by the JIT. */
#define XC_LIBM_FNS(X)                                                        \
  X(exp, 1) X(log, 1) X(sqrt, 1) X(fabs, 1) X(sin, 1) X(cos, 1) X(tan, 1)     \
  X(tanh, 1) X(log1p, 1) X(expm1, 1) X(pow, 2)                                \
  X(erf, 1) X(erfc, 1) X(asin, 1) X(acos, 1) X(atan, 1)                      \
  X(atan2, 2) X(sinh, 1) X(cosh, 1) X(asinh, 1) X(acosh, 1) X(atanh, 1)       \
  X(log2, 1) X(log10, 1) X(exp2, 1) X(hypot, 2) X(floor, 1) X(ceil, 1)        \
  X(copysign, 2)

#endif
