/* grad.c: the fourth stage: symbolic back-propagation (Goodfellow, Bengio and
 * Courville, Deep Learning, section 6.5).
 *
 * For a scalar root, the nodes that lie on a path from a wanted variable to
 * the root are visited in reverse topological order (descending index). Each
 * node's gradient, already complete because all its consumers have larger
 * indices, is pushed to its inputs: the consumer's gradient times the local
 * partial derivative, built as new graph nodes by rule() below, summed over
 * the broadcast axes back to the input's shape, and added to what the input
 * already received. One rule application per edge: the gradient costs the
 * same order of nodes as the forward pass. A zero contribution (comparisons,
 * the condition of where) is NONE and never built.
 *
 * Strong zeros: wherever a local derivative can be infinite or NaN (a
 * quotient, a logarithm, a root, a power, exp that overflows, tan at its
 * poles, a product whose other factor is infinite), the incoming gradient is
 * multiplied or divided by it with MULZ or DIVZ (scalar.h), which keep a
 * zero gradient zero: the branch that `where` does not take gets a zero
 * gradient, and so contributes 0, not 0 * inf = NaN. Where the product is
 * finite they are the plain product and quotient, bit for bit. Derivatives
 * that are bounded (tanh, sigmoid, sin, relu, ...) keep the plain MUL.
 */
#include "grad.h"

#include <math.h>
#include <string.h>

#include "linalg.h"
#include "conv.h"
#include "loop.h"

static uint32_t op1(Graph *g, Op op, uint32_t a) { return graph_op1(g, op, a); }
static uint32_t op2(Graph *g, Op op, uint32_t a, uint32_t b) {
  return graph_op2(g, op, a, b);
}
static uint32_t num(Graph *g, double v) { return graph_scalar(g, v); }
/* G times (or over) a local derivative that may be infinite or NaN. */
static uint32_t mulz(Graph *g, uint32_t G, uint32_t d) {
  return graph_op2(g, OP_MULZ, G, d);
}
static uint32_t divz(Graph *g, uint32_t G, uint32_t d) {
  return graph_op2(g, OP_DIVZ, G, d);
}
/* G times a, where a is itself a gradient of an earlier pass (the operand
 * of MULZ or DIVZ that a zero of makes the result not depend on the
 * other): a zero on either side makes the product 0. This is what keeps
 * strong zeros in second derivatives, where an earlier pass's zero
 * gradient meets this pass's infinite one (the derivative of x / x at 0).
 * Both branches are the plain product wherever that is finite. */
static uint32_t mulz_either(Graph *g, uint32_t G, uint32_t a) {
  uint32_t left = mulz(g, a, G), right = mulz(g, G, a);
  if (left == right) /* a constant made both the plain (commutative) * */
    return left;
  return graph_op3(g, OP_WHERE, op2(g, OP_EQ, a, num(g, 0)), left, right);
}
static Shape shape_of(Graph *g, uint32_t i) { return *g->node[i].shape; }

/* G times d(a^b)/da = b a^(b-1). For a constant whole b >= 1 (x^2, the
 * common case) that is finite wherever a is, so the plain product will do:
 * it costs less than the strong one under libtcc, and W3's gradient is the
 * same code as before strong zeros. */
static uint32_t power_times(Graph *g, uint32_t b, uint32_t G, uint32_t d) {
  double e;
  if (graph_is_const(g, b, &e) && isfinite(e) && e >= 1 && e == floor(e))
    return op2(g, OP_MUL, G, d);
  return mulz(g, G, d);
}

static uint32_t reshaped(Graph *g, uint32_t a, int rank, int64_t d0,
                         int64_t d1) {
  Shape s = {.rank = rank, .d = {d0, d1}};
  return graph_shaped(g, OP_RESHAPE, a, &s);
}

/* max and min: the gradient goes to the elements equal to the result, split
 * evenly between ties. */
static uint32_t extreme_rule(Graph *g, const Node *n, uint32_t y, uint32_t G) {
  Shape s = shape_of(g, n->in[0]);
  uint32_t hit = op2(g, OP_EQ, n->in[0], graph_spread(g, y, &s, n->u.axes));
  uint32_t ties = graph_sum(g, hit, (unsigned)n->u.axes);
  return op2(g, OP_MUL, graph_spread(g, divz(g, G, ties), &s, n->u.axes), hit);
}

/* The transpose of the last two axes of a (a matrix or a batch of them). */
static uint32_t swap_last(Graph *g, uint32_t a) {
  return op1(g, g->node[a].shape->rank == 2 ? OP_TRANSPOSE : OP_SWAPLAST, a);
}

/* G with an axis of 1 inserted before its last (at = 1) or after it
 * (at = 0): a vector operand's dropped axis, put back. */
static uint32_t unsqueeze(Graph *g, uint32_t G, int before_last) {
  Shape s = shape_of(g, G), t = s;
  int r = s.rank;
  t.rank = r + 1;
  t.d[r] = before_last ? s.d[r - 1] : 1;
  t.d[r - 1] = before_last ? 1 : s.d[r - 1];
  return graph_shaped(g, OP_RESHAPE, G, &t);
}

/* d(a @ b) of a batched product (some operand of rank 3 or more): the
 * products of the matrix case, batch by batch; push() then sums the
 * broadcast batch axes away. A vector operand is a matrix of one row (a)
 * or one column (b), and G gets that axis back. */
static uint32_t batched_rule(Graph *g, uint32_t a, uint32_t b, int k,
                             uint32_t G) {
  Shape sa = shape_of(g, a), sb = shape_of(g, b);
  if (sa.rank == 1) { /* [k] @ [.., k, n] -> [.., n] */
    uint32_t G2 = unsqueeze(g, G, 1); /* [.., 1, n] */
    Shape col = {.rank = 2, .d = {sa.d[0], 1}};
    return k == 0 ? op2(g, OP_MATMUL, G2, swap_last(g, b))
                  : op2(g, OP_MATMUL, graph_shaped(g, OP_RESHAPE, a, &col), G2);
  }
  if (sb.rank == 1) { /* [.., m, k] @ [k] -> [.., m] */
    Shape row = {.rank = 2, .d = {1, sb.d[0]}};
    return k == 0 ? op2(g, OP_MATMUL, unsqueeze(g, G, 0),
                        graph_shaped(g, OP_RESHAPE, b, &row))
                  : op2(g, OP_MATMUL, unsqueeze(g, G, 1), a);
  }
  return k == 0 ? op2(g, OP_MATMUL, G, swap_last(g, b))
                : op2(g, OP_MATMUL, swap_last(g, a), G);
}

/* d(a @ b) for the four forms of '@', and batched products. */
static uint32_t matmul_rule(Graph *g, const Node *n, int k, uint32_t G) {
  uint32_t a = n->in[0], b = n->in[1];
  Shape sa = shape_of(g, a), sb = shape_of(g, b);
  if (sa.rank > 2 || sb.rank > 2)
    return batched_rule(g, a, b, k, G);
  if (sa.rank == 2 && sb.rank == 2)
    return k == 0 ? op2(g, OP_MATMUL, G, op1(g, OP_TRANSPOSE, b))
                  : op2(g, OP_MATMUL, op1(g, OP_TRANSPOSE, a), G);
  if (sa.rank == 2) /* [m,k] @ [k] -> [m] */
    return k == 0 ? op2(g, OP_MATMUL, reshaped(g, G, 2, sa.d[0], 1),
                        reshaped(g, b, 2, 1, sb.d[0]))
                  : op2(g, OP_MATMUL, op1(g, OP_TRANSPOSE, a), G);
  if (sb.rank == 2) /* [k] @ [k,n] -> [n] */
    return k == 0 ? op2(g, OP_MATMUL, b, G)
                  : op2(g, OP_MATMUL, reshaped(g, a, 2, sa.d[0], 1),
                        reshaped(g, G, 2, 1, sb.d[1]));
  return mulz(g, G, k == 0 ? b : a); /* [k] @ [k] -> [] */
}

/* The weight of input k of maximum/minimum: 1 where it wins, 1/2 on ties. */
static uint32_t pick_weight(Graph *g, const Node *n, int k, Op wins) {
  uint32_t self = n->in[k], other = n->in[1 - k];
  uint32_t half = op2(g, OP_MUL, num(g, 0.5), op2(g, OP_EQ, self, other));
  return op2(g, OP_ADD, op2(g, wins, self, other), half);
}

/* A window's offsets (32 bits in the Node) as graph_window takes them. */
static const int64_t *window_start(const Node *n, int64_t *st) {
  for (int i = 0; i < MAX_RANK; i++)
    st[i] = n->start[i];
  return st;
}

/* ---- ops along an axis: their rules are built of the same ops, so that
 * every order of derivative works, and none divides (exact at zeros). ---- */

#define REV 16 /* u.word bit of SH_ALONG ops: the other direction */

static int64_t inverse_perm(const Node *n) {
  int64_t w = PERM_FLAG;
  for (int i = 0; i < n->shape->rank; i++)
    w |= (int64_t)i << (4 * PERM_AXIS(n->u.word, i));
  return w;
}

/* y[i] = b[i] + a[i] y[i-1]: the adjoint runs the other way,
 * r[i] = G[i] + a[i+1] r[i+1]; db = r, and da[i] = r[i] y[i-1]. */
static uint32_t linrec_rule(Graph *g, const Node *n, uint32_t y, int k,
                            uint32_t G) {
  int64_t w = n->u.word;
  uint32_t a1 = graph_attr(g, OP_SHIFT, n->in[0], 0, w ^ REV);
  uint32_t r = graph_attr(g, OP_LINREC, a1, G, w ^ REV);
  return k == 1 ? r : op2(g, OP_MUL, r, graph_attr(g, OP_SHIFT, y, 0, w));
}

/* The product of the other elements along the axis, as the products of
 * those before (a cumulative product shifted one place, 1 at the start)
 * times those after: no division, so right where an element is 0. */
static uint32_t prod_rule(Graph *g, const Node *n, uint32_t G) {
  uint32_t x = n->in[0];
  Shape s = shape_of(g, x);
  int64_t w = 0;
  if (!n->u.axes) /* over no axis: the identity */
    return G;
  while (!(n->u.axes & ((int64_t)1 << w)))
    w++;
  uint32_t side[2];
  for (int k = 0; k < 2; k++) {
    int64_t d = w | (k ? REV : 0);
    uint32_t e = graph_first_place(g, &s, d);
    uint32_t cp = graph_attr(g, OP_LINREC, x, op2(g, OP_MUL, x, e), d);
    side[k] = op2(g, OP_ADD, graph_attr(g, OP_SHIFT, cp, 0, d), e);
  }
  return op2(g, OP_MUL, graph_spread(g, G, &s, n->u.axes),
             op2(g, OP_MUL, side[0], side[1]));
}

/* y[i] = logaddexp(y[i-1], x[i]): dx[k] = sum over i >= k of G[i]
 * exp(x[k] - y[i]) = exp(x[k] - y[k]) r[k], with r the recurrence
 * r[k] = G[k] + exp(y[k] - y[k+1]) r[k+1], whose factors are at most 1. */
static uint32_t cumlse_rule(Graph *g, const Node *n, uint32_t y, uint32_t G) {
  int64_t w = n->u.word;
  Shape s = shape_of(g, y);
  uint32_t step = op2(g, OP_SUB, graph_attr(g, OP_SHIFT, y, 0, w), y);
  step = graph_op3(g, OP_WHERE, graph_first_place(g, &s, w), num(g, 0), step);
  uint32_t a1 = graph_attr(g, OP_SHIFT, op1(g, OP_EXP, step), 0, w ^ REV);
  uint32_t r = graph_attr(g, OP_LINREC, a1, G, w ^ REV);
  return op2(g, OP_MUL, op1(g, OP_EXP, op2(g, OP_SUB, n->in[0], y)), r);
}

/* Convolutions and pooling (conv.c): each op's derivatives are ops of the
 * same family with the same attributes, so every order works. CONV_TX is
 * linear in gy and w, CONV_TW in x and gy: the adjoint of a bilinear map
 * in one argument is again one of the three. Pools: POOL_PICK(x, h) picks
 * h at x's first maximum per window, so the pick does not depend on x
 * (almost everywhere) and is linear in h; POOL_PUT is its adjoint. */
static uint32_t conv_rule(Graph *g, const Node *n, int k, uint32_t G) {
  uint32_t a = n->in[0], b = n->in[1];
  Shape sa = shape_of(g, a), sb = shape_of(g, b);
  if (n->op == OP_CONV) /* y = conv(x, w) */
    return k == 0 ? conv_like(g, n, OP_CONV_TX, G, b, &sa)
                  : conv_like(g, n, OP_CONV_TW, a, G, &sb);
  if (n->op == OP_CONV_TX) /* z = conv_tx(gy, w): <G, z> = <conv(G, w), gy> */
    return k == 0 ? conv_like(g, n, OP_CONV, G, b, NULL)
                  : conv_like(g, n, OP_CONV_TW, G, a, &sb);
  if (n->op == OP_CONV_TW) /* z = conv_tw(x, gy): <G, z> = <conv(x, G), gy> */
    return k == 0 ? conv_like(g, n, OP_CONV_TX, b, G, &sa)
                  : conv_like(g, n, OP_CONV, a, G, NULL);
  if (n->op == OP_POOL_PICK)
    return k == 0 ? NONE : conv_like(g, n, OP_POOL_PUT, a, G, &sa);
  return k == 0 ? NONE : conv_like(g, n, OP_POOL_PICK, a, G, NULL); /* PUT */
}

/* The contribution of node n's gradient G to its input k, before summing
 * broadcast axes. y is n itself, a/b/c its inputs.
 *
 * This is the table of derivative rules, one case per op, and so the one
 * function here longer than a screen: it stays one switch with no default,
 * so that -Wswitch-enum refuses to build an op without a rule. Rules longer
 * than a line or two live in the helpers above. */
static uint32_t rule(Graph *g, uint32_t y, int k, uint32_t G) {
  Node n = g->node[y];
  uint32_t a = n.in[0], b = n.in[1], c = n.in[2];
  switch ((Op)n.op) {
  case OP_INPUT:
  case OP_PARAM:
  case OP_CONST:
  case OP_DIMVAL:
    return NONE;
  case OP_ADD:
    return G;
  case OP_SUB:
    return k == 0 ? G : op1(g, OP_NEG, G);
  case OP_MUL: /* x log(x) at x = 0 under a where: 0 * -inf is 0 */
    return mulz(g, G, k == 0 ? b : a);
  case OP_DIV:
    return k == 0 ? divz(g, G, b)
                  : op1(g, OP_NEG, divz(g, mulz(g, G, y), b));
  case OP_POW: /* b a^(b-1), and a^b log(a); both 0 where the limit is 0 */
    if (k == 0) /* at b = 0, not 0 * a^-1 (NaN at a = 0) */
      return power_times(g, b, G,
                 graph_op3(g, OP_WHERE, op2(g, OP_EQ, b, num(g, 0)), num(g, 0),
                           op2(g, OP_MUL, b, op2(g, OP_POW, a,
                                                 op2(g, OP_SUB, b, num(g, 1))))));
    return mulz(g, G, /* at a = 0, not 0 * log(0) (NaN), as PyTorch */
               graph_op3(g, OP_WHERE, op2(g, OP_EQ, a, num(g, 0)), num(g, 0),
                         op2(g, OP_MUL, y, op1(g, OP_LOG, a))));
  case OP_NEG:
    return op1(g, OP_NEG, G);
  case OP_MAXIMUM:
    return op2(g, OP_MUL, G, pick_weight(g, &n, k, OP_GT));
  case OP_MINIMUM:
    return op2(g, OP_MUL, G, pick_weight(g, &n, k, OP_LT));
  case OP_LT:
  case OP_LE:
  case OP_GT:
  case OP_GE:
  case OP_EQ:
  case OP_NE:
  case OP_SIGN:
    return NONE;
  case OP_WHERE:
    if (k == 0)
      return NONE;
    return k == 1 ? graph_op3(g, OP_WHERE, a, G, num(g, 0))
                  : graph_op3(g, OP_WHERE, a, num(g, 0), G);
  case OP_EXP: /* exp may overflow to inf */
    return mulz(g, G, y);
  case OP_LOG:
    return divz(g, G, a);
  case OP_SQRT:
    return divz(g, G, op2(g, OP_MUL, num(g, 2), y));
  case OP_ABS:
    return op2(g, OP_MUL, G, op1(g, OP_SIGN, a));
  case OP_SIN:
    return op2(g, OP_MUL, G, op1(g, OP_COS, a));
  case OP_COS:
    return op1(g, OP_NEG, op2(g, OP_MUL, G, op1(g, OP_SIN, a)));
  case OP_TAN: /* 1 + tan^2 */
    return mulz(g, G, op2(g, OP_ADD, num(g, 1), op2(g, OP_MUL, y, y)));
  case OP_TANH: /* 1 - tanh^2 */
    return op2(g, OP_MUL, G, op2(g, OP_SUB, num(g, 1), op2(g, OP_MUL, y, y)));
  case OP_SIGMOID: /* s (1 - s) */
    return op2(g, OP_MUL, G, op2(g, OP_MUL, y, op2(g, OP_SUB, num(g, 1), y)));
  case OP_RELU: /* relu'(0) = 0 */
    return op2(g, OP_MUL, G, op2(g, OP_GT, a, num(g, 0)));
  case OP_SOFTPLUS:
    return op2(g, OP_MUL, G, op1(g, OP_SIGMOID, a));
  case OP_LOG1P:
    return divz(g, G, op2(g, OP_ADD, num(g, 1), a));
  case OP_EXPM1:
    return mulz(g, G, op2(g, OP_ADD, y, num(g, 1)));
  case OP_ERF:
  case OP_ERFC:
  case OP_LGAMMA:
  case OP_DIGAMMA:
  case OP_POLYGAMMA:
  case OP_ASIN:
  case OP_ACOS:
  case OP_ATAN:
  case OP_ATAN2:
  case OP_SINH:
  case OP_COSH:
  case OP_ASINH:
  case OP_ACOSH:
  case OP_ATANH:
  case OP_LOG2:
  case OP_LOG10:
  case OP_EXP2:
  case OP_SQUARE:
  case OP_RECIPROCAL:
  case OP_HYPOT:
  case OP_CLIP:
  case OP_GELU:
  case OP_SILU:
  case OP_ELU:
  case OP_LEAKY_RELU:
  case OP_FLOOR:
  case OP_CEIL:
  case OP_ROUND:
  case OP_STOP_GRADIENT:
    return grad_special(g, &n, y, k, G);
  case OP_BCAST: /* the sum over broadcast axes happens in push() */
    return G;
  case OP_RESHAPE: {
    Shape s = shape_of(g, a);
    return graph_shaped(g, OP_RESHAPE, G, &s);
  }
  case OP_TRANSPOSE:
    return n.u.word ? graph_attr(g, OP_TRANSPOSE, G, 0, inverse_perm(&n))
                    : op1(g, OP_TRANSPOSE, G);
  case OP_SLICE: {
    Shape s = shape_of(g, a);
    int64_t st[MAX_RANK];
    return graph_window(g, OP_PAD, G, window_start(&n, st), &s);
  }
  case OP_PAD: {
    Shape s = shape_of(g, a);
    int64_t st[MAX_RANK];
    return graph_window(g, OP_SLICE, G, window_start(&n, st), &s);
  }
  case OP_STEP: { /* the elements read go back to their places */
    Shape s = shape_of(g, a);
    int64_t st[MAX_RANK];
    return graph_step(g, OP_UNSTEP, G, (int)n.u.axes, window_start(&n, st), &s);
  }
  case OP_UNSTEP: {
    int64_t st[MAX_RANK];
    return graph_step(g, OP_STEP, G, (int)n.u.axes, window_start(&n, st), NULL);
  }
  case OP_SUM: { /* spread G back over the summed axes */
    Shape s = shape_of(g, a);
    return graph_spread(g, G, &s, n.u.axes);
  }
  case OP_MAX:
  case OP_MIN:
    return extreme_rule(g, &n, y, G);
  case OP_LSE: { /* softmax along the reduced axes */
    Shape s = shape_of(g, a);
    return mulz(g, graph_spread(g, G, &s, n.u.axes), /* NaN at all -inf */
               op1(g, OP_EXP, op2(g, OP_SUB, a, graph_spread(g, y, &s, n.u.axes))));
  }
  case OP_MATMUL:
    return matmul_rule(g, &n, k, G);
  case OP_CHOL:
  case OP_TRSOLVE:
  case OP_LUSOLVE:
  case OP_DET:
  case OP_LOGDET:
    return la_rule(g, y, k, G);
  case OP_MULZ: /* the strong product's own derivatives are strong too, so
                   that Hessians keep strong zeros: d(a b) = b da + a db */
    return k == 0 ? mulz(g, G, b) : mulz_either(g, G, a);
  case OP_DIVZ: /* d(a / b) = da / b - (a / b) db / b */
    return k == 0 ? divz(g, G, b)
                  : op1(g, OP_NEG, divz(g, mulz_either(g, G, y), b));
  /* gathers: a scatter-add of G into zeros of the table's shape, and back;
     no gradient flows to the indices, nor out of integer results */
  case OP_TAKE:
  case OP_TAKE_ALONG: {
    Shape s = shape_of(g, a);
    return k == 1 ? NONE
                  : graph_indexed(g, n.op == OP_TAKE ? OP_SCATTER
                                                     : OP_SCATTER_ALONG,
                                  G, b, (int)n.u.axes, &s);
  }
  case OP_SCATTER:
  case OP_SCATTER_ALONG:
    return k == 1 ? NONE
                  : graph_indexed(g, n.op == OP_SCATTER ? OP_TAKE
                                                        : OP_TAKE_ALONG,
                                  G, b, (int)n.u.axes, NULL);
  case OP_ARGMAX:
  case OP_ARGMIN:
  case OP_ARGSORT:
  case OP_ONE_HOT:
    return NONE;
  case OP_SWAPLAST:
    return op1(g, OP_SWAPLAST, G);
  case OP_FLIP:
    return graph_reduce(g, OP_FLIP, G, (unsigned)n.u.axes);
  case OP_SHIFT: /* the shift the other way */
    return graph_attr(g, OP_SHIFT, G, 0, n.u.word ^ REV);
  case OP_SORTBY: /* the key only chooses the permutation: no gradient */
    return k == 0 ? graph_attr(g, OP_UNSORTBY, G, b, n.u.word) : NONE;
  case OP_UNSORTBY:
    return k == 0 ? graph_attr(g, OP_SORTBY, G, b, n.u.word) : NONE;
  case OP_PROD:
    return prod_rule(g, &n, G);
  case OP_LINREC:
    return linrec_rule(g, &n, y, k, G);
  case OP_CUMLSE:
    return cumlse_rule(g, &n, y, G);
  case OP_CONV:
  case OP_CONV_TX:
  case OP_CONV_TW:
  case OP_POOL_PICK:
  case OP_POOL_PUT:
    return conv_rule(g, &n, k, G);
  case OP_RANDN: /* draws are constants to differentiation */
  case OP_RANDU:
    return NONE;
  case OP_HOLE:
    return NONE;
  case OP_LOOP:
  case OP_ROW:
  case OP_PUTROW:
  case OP_ROWSHIFT:
    return loop_rule(g, y, k, G);
  case OP_COUNT:
    break;
  }
  (void)c;
  return NONE;
}

uint32_t grad_rule(Graph *g, uint32_t y, int k, uint32_t G) {
  return rule(g, y, k, G);
}

/* Add node y's contribution to the gradient of its input k. */
static void push(Graph *g, uint32_t y, int k, uint32_t *adj) {
  uint32_t x = g->node[y].in[k];
  uint32_t d = rule(g, y, k, adj[y]);
  if (d == NONE)
    return;
  Shape xs = shape_of(g, x);
  d = graph_sum_to(g, d, &xs);
  adj[x] = adj[x] == NONE ? d : op2(g, OP_ADD, adj[x], d);
}

void grad_build(Graph *g, uint32_t root, const uint32_t *wrt, int nwrt,
                uint32_t *out) {
  Ctx *c = g->c;
  uint32_t n = root + 1;
  ctx_work(c, g->pos, n); /* nested grads each walk the graph below root */
  uint8_t *on = ctx_realloc(c, NULL, n); /* on a path wrt -> root */
  uint32_t *adj = ctx_realloc(c, NULL, n * sizeof *adj);
  memset(on, 0, n);
  for (int i = 0; i < nwrt; i++)
    if (wrt[i] < n)
      on[wrt[i]] = 1;
  for (uint32_t i = 0; i < n; i++) /* depends on a wrt variable */
    for (int k = 0; k < g->node[i].nin; k++)
      on[i] |= on[g->node[i].in[k]];
  for (uint32_t i = 0; i < n; i++)
    adj[i] = NONE;
  int saved = g->backward;
  Pos savedpos = g->pos;
  uint8_t savedfrom = g->from;
  g->backward = 1;
  adj[root] = num(g, 1);
  for (uint32_t y = root + 1; y-- > 0;) {
    if (adj[y] == NONE || !on[y])
      continue;
    g->pos = g->node[y].pos; /* backward nodes point at their forward op */
    g->from = g->node[y].op;
    for (int k = 0; k < g->node[y].nin; k++)
      if (on[g->node[y].in[k]])
        push(g, y, k, adj);
  }
  for (int i = 0; i < nwrt; i++) {
    Shape s = shape_of(g, wrt[i]);
    out[i] = wrt[i] < n && adj[wrt[i]] != NONE ? adj[wrt[i]]
                                               : graph_const(g, 0, &s);
  }
  g->backward = saved;
  g->pos = savedpos;
  g->from = savedfrom;
  ctx_release(c, on);
  ctx_release(c, adj);
}
