/* grad_special.c: the derivative rules of the special functions (part of the
 * fourth stage, symbolic differentiation; grad.c's table sends these ops
 * here).
 *
 * Each rule is the partial derivative of the op with respect to one input,
 * built from graph operations, so that the derivative can be differentiated
 * again: erf' is 2/sqrt(pi) exp(-x^2), lgamma' is digamma, digamma' is
 * polygamma(1, x) and polygamma(n, x)' is polygamma(n + 1, x), so every order
 * of every op exists. Piecewise ops take the branch that their value takes
 * (NumPy's and PyTorch's conventions): elu and leaky_relu use the x <= 0
 * branch at 0, clip passes the gradient to x strictly inside (lo, hi) and
 * otherwise to the bound whose value it returns. floor, ceil, round and
 * stop_gradient have zero gradient, as does the order n of polygamma.
 */
#include "grad.h"

static uint32_t op1(Graph *g, Op op, uint32_t a) { return graph_op1(g, op, a); }
static uint32_t op2(Graph *g, Op op, uint32_t a, uint32_t b) {
  return graph_op2(g, op, a, b);
}
static uint32_t num(Graph *g, double v) { return graph_scalar(g, v); }
static uint32_t mul(Graph *g, uint32_t a, uint32_t b) {
  return op2(g, OP_MUL, a, b);
}
static uint32_t square(Graph *g, uint32_t a) { return op1(g, OP_SQUARE, a); }

/* 1 / sqrt(1 - x^2), the derivative of asin. */
static uint32_t inv_sqrt_1mx2(Graph *g, uint32_t x) {
  return op1(g, OP_RECIPROCAL,
             op1(g, OP_SQRT, op2(g, OP_SUB, num(g, 1), square(g, x))));
}

/* atan2(y, x): d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2). */
static uint32_t atan2_rule(Graph *g, const Node *n, int k) {
  uint32_t y = n->in[0], x = n->in[1];
  uint32_t r2 = op2(g, OP_ADD, square(g, x), square(g, y));
  return k == 0 ? op2(g, OP_DIV, x, r2)
                : op1(g, OP_NEG, op2(g, OP_DIV, y, r2));
}

/* hypot(a, b): a / hypot and b / hypot, 0 where both are 0 (as norm'(0)). */
static uint32_t hypot_rule(Graph *g, const Node *n, uint32_t y, int k) {
  uint32_t zero = op2(g, OP_EQ, y, num(g, 0));
  return graph_op3(g, OP_WHERE, zero, num(g, 0),
                   op2(g, OP_DIV, n->in[k], y));
}

/* clip(x, lo, hi) = minimum(maximum(x, lo), hi): 1 for the input whose value
 * it returns. x wins strictly inside (lo, hi); at x = lo the bound lo does,
 * at x = hi the bound hi (and hi whenever lo >= hi, as NumPy returns hi). */
static uint32_t clip_rule(Graph *g, const Node *n, int k) {
  uint32_t x = n->in[0], lo = n->in[1], hi = n->in[2];
  uint32_t m = op2(g, OP_MAXIMUM, x, lo);
  if (k == 0)
    return mul(g, op2(g, OP_GT, x, lo), op2(g, OP_LT, x, hi));
  if (k == 1)
    return mul(g, op2(g, OP_LT, m, hi), op2(g, OP_GE, lo, x));
  return op2(g, OP_GE, m, hi);
}

/* gelu(x) = x Phi(x): Phi(x) + x phi(x), with Phi(x) = erfc(-x/sqrt 2) / 2
 * and phi(x) = exp(-x^2/2) / sqrt(2 pi). */
static uint32_t gelu_rule(Graph *g, uint32_t x) {
  uint32_t Phi = mul(g, num(g, 0.5),
                     op1(g, OP_ERFC, mul(g, x, num(g, -0.70710678118654752440))));
  uint32_t phi = mul(g, num(g, 0.39894228040143267794),
                     op1(g, OP_EXP, mul(g, num(g, -0.5), square(g, x))));
  return op2(g, OP_ADD, Phi, mul(g, x, phi));
}

/* silu(x) = x s(x), s the sigmoid: s(x) (1 + x (1 - s(x))). */
static uint32_t silu_rule(Graph *g, uint32_t x) {
  uint32_t s = op1(g, OP_SIGMOID, x);
  return mul(g, s, op2(g, OP_ADD, num(g, 1),
                       mul(g, x, op2(g, OP_SUB, num(g, 1), s))));
}

/* elu(x, alpha): 1 for x > 0, else alpha e^x; d/dalpha: 0, else e^x - 1.
 * leaky_relu(x, slope): 1 for x > 0, else slope; d/dslope: 0, else x. */
static uint32_t piecewise_rule(Graph *g, const Node *n, int k) {
  uint32_t x = n->in[0], s = n->in[1], pos = op2(g, OP_GT, x, num(g, 0));
  uint32_t neg;
  if (n->op == OP_ELU)
    neg = k == 0 ? mul(g, s, op1(g, OP_EXP, x)) : op1(g, OP_EXPM1, x);
  else
    neg = k == 0 ? s : x;
  return graph_op3(g, OP_WHERE, pos, num(g, k == 0 ? 1 : 0), neg);
}

/* The partial derivative of special op n (node y) by its input k, or NONE
 * where it is zero. */
static uint32_t partial(Graph *g, const Node *n, uint32_t y, int k) {
  uint32_t a = n->in[0];
  switch (n->op) { /* an int: grad.c's switch checks that every op is here */
  case OP_ERF:
  case OP_ERFC: {
    uint32_t d = mul(g, num(g, n->op == OP_ERF ? 1.12837916709551257390
                                               : -1.12837916709551257390),
                     op1(g, OP_EXP, op1(g, OP_NEG, square(g, a))));
    return d;
  }
  case OP_LGAMMA:
    return op1(g, OP_DIGAMMA, a);
  case OP_DIGAMMA:
    return op2(g, OP_POLYGAMMA, num(g, 1), a);
  case OP_POLYGAMMA: /* the order is a whole number: no gradient */
    return k == 0 ? NONE
                  : op2(g, OP_POLYGAMMA, op2(g, OP_ADD, a, num(g, 1)), n->in[1]);
  case OP_ASIN:
    return inv_sqrt_1mx2(g, a);
  case OP_ACOS:
    return op1(g, OP_NEG, inv_sqrt_1mx2(g, a));
  case OP_ATAN:
    return op1(g, OP_RECIPROCAL, op2(g, OP_ADD, num(g, 1), square(g, a)));
  case OP_ATAN2:
    return atan2_rule(g, n, k);
  case OP_SINH:
    return op1(g, OP_COSH, a);
  case OP_COSH:
    return op1(g, OP_SINH, a);
  case OP_ASINH: /* 1 / sqrt(x^2 + 1), as hypot so that it cannot overflow */
    return op1(g, OP_RECIPROCAL, op2(g, OP_HYPOT, a, num(g, 1)));
  case OP_ACOSH: /* 1 / sqrt((x - 1)(x + 1)) */
    return op1(g, OP_RECIPROCAL,
               op1(g, OP_SQRT, mul(g, op2(g, OP_SUB, a, num(g, 1)),
                                   op2(g, OP_ADD, a, num(g, 1)))));
  case OP_ATANH:
    return op1(g, OP_RECIPROCAL, op2(g, OP_SUB, num(g, 1), square(g, a)));
  case OP_LOG2:
    return op1(g, OP_RECIPROCAL, mul(g, a, num(g, 0.69314718055994530942)));
  case OP_LOG10:
    return op1(g, OP_RECIPROCAL, mul(g, a, num(g, 2.30258509299404568402)));
  case OP_EXP2:
    return mul(g, y, num(g, 0.69314718055994530942));
  case OP_SQUARE:
    return mul(g, num(g, 2), a);
  case OP_RECIPROCAL:
    return op1(g, OP_NEG, square(g, y));
  case OP_HYPOT:
    return hypot_rule(g, n, y, k);
  case OP_CLIP:
    return clip_rule(g, n, k);
  case OP_GELU:
    return gelu_rule(g, a);
  case OP_SILU:
    return silu_rule(g, a);
  case OP_ELU:
  case OP_LEAKY_RELU:
    return piecewise_rule(g, n, k);
  }
  return NONE; /* floor, ceil, round, stop_gradient */
}

uint32_t grad_special(Graph *g, const Node *n, uint32_t y, int k, uint32_t G) {
  uint32_t d = partial(g, n, y, k);
  return d == NONE ? NONE : mul(g, G, d);
}
