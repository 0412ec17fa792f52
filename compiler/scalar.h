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
    return a == 0.0 && (b == 0.0 || b != b) ? a : a / b; })

/* The libm functions generated code may call, declared by the emitter and
 * bound by the JIT. */
#define XC_LIBM_FNS(X)                                                        \
  X(exp, 1) X(log, 1) X(sqrt, 1) X(fabs, 1) X(sin, 1) X(cos, 1) X(tan, 1)     \
  X(tanh, 1) X(log1p, 1) X(expm1, 1) X(pow, 2)

#endif
