/* jvp.c: forward mode, the companion of grad.c in the fourth stage.
 *
 * jvp_build gives the directional derivative of a node y of any shape along
 * a tangent u of a variable v: the nodes between v and y are visited in
 * topological (ascending index) order, and each one's tangent is built as
 * graph nodes from the tangents of its inputs, one rule per op in tangent()
 * below (a switch with no default, so that -Wswitch-enum refuses an op
 * without a rule). An elementwise op's partial derivatives are the ones
 * grad.c's rules multiply an adjoint by; here they multiply the input's
 * tangent instead, so the two passes share every elementwise rule. Linear
 * ops (sums, reshapes, windows, transposes) apply themselves to the tangent,
 * and the matrix product is bilinear. The result is ordinary graph nodes, so
 * grad, hessian and jvp itself nest over it in any order.
 */
#include "jvp.h"

#include <string.h>

#include "grad.h"

static uint32_t op2(Graph *g, Op op, uint32_t a, uint32_t b) {
  return graph_op2(g, op, a, b);
}
static Shape shape_of(Graph *g, uint32_t i) { return *g->node[i].shape; }

/* t, a tangent of an operand, broadcast to shape s (the node's shape). */
static uint32_t spread_to(Graph *g, uint32_t t, const Shape *s) {
  Shape ts = shape_of(g, t);
  return shape_eq(&ts, s) ? t : graph_shaped(g, OP_BCAST, t, s);
}

static uint32_t add(Graph *g, uint32_t a, uint32_t b) {
  if (a == NONE)
    return b;
  return b == NONE ? a : op2(g, OP_ADD, a, b);
}

/* An elementwise op: the sum over its inputs of the partial derivative
 * times the input's tangent (grad.c's rule applied to the tangent). */
static uint32_t elementwise(Graph *g, uint32_t y, const uint32_t *tan) {
  Node n = g->node[y];
  uint32_t t = NONE;
  for (int k = 0; k < n.nin; k++)
    if (tan[n.in[k]] != NONE)
      t = add(g, t, grad_rule(g, y, k, spread_to(g, tan[n.in[k]], n.shape)));
  return t;
}

/* max and min: the tangent of the elements equal to the result, averaged
 * over ties, as grad.c splits the gradient. */
static uint32_t extreme(Graph *g, const Node *n, uint32_t y, uint32_t t) {
  Shape s = shape_of(g, n->in[0]);
  unsigned mask = (unsigned)n->u.axes;
  uint32_t hit = op2(g, OP_EQ, n->in[0], graph_spread(g, y, &s, n->u.axes));
  return op2(g, OP_DIV, graph_sum(g, op2(g, OP_MUL, t, hit), mask),
             graph_sum(g, hit, mask));
}

/* logsumexp: the tangent weighted by the softmax along the reduced axes. */
static uint32_t lse(Graph *g, const Node *n, uint32_t y, uint32_t t) {
  Shape s = shape_of(g, n->in[0]);
  uint32_t w = graph_op1(g, OP_EXP, op2(g, OP_SUB, n->in[0],
                                        graph_spread(g, y, &s, n->u.axes)));
  return graph_sum(g, op2(g, OP_MUL, t, w), (unsigned)n->u.axes);
}

/* d(a @ b) = da @ b + a @ db. */
static uint32_t matmul(Graph *g, const Node *n, const uint32_t *tan) {
  uint32_t a = n->in[0], b = n->in[1], t = NONE;
  if (tan[a] != NONE)
    t = op2(g, OP_MATMUL, tan[a], b);
  if (tan[b] != NONE)
    t = add(g, t, op2(g, OP_MATMUL, a, tan[b]));
  return t;
}

/* Every other op (factorisations, gathers, layers, ops along an axis,
 * strong products): its tangent by transposing grad.c's rule, which is
 * linear in the adjoint. With a placeholder adjoint G of y's shape, the
 * tangent is the gradient by G of sum_k <rule_k(G), t_k>; since that is
 * linear in G, the result does not read G, which is checked. One rule per
 * op serves both modes, and every order of derivative still works. */
static uint32_t by_transpose(Graph *g, uint32_t y, const uint32_t *tan) {
  Node n = g->node[y];
  uint32_t G = graph_leaf(g, OP_INPUT, -1 - (int64_t)y, n.shape);
  uint32_t sum = NONE;
  for (int k = 0; k < n.nin; k++) {
    uint32_t x = n.in[k], r;
    if (tan[x] == NONE || (r = grad_rule(g, y, k, G)) == NONE)
      continue;
    Shape xs = shape_of(g, x);
    r = op2(g, OP_MUL, graph_sum_to(g, r, &xs), tan[x]);
    sum = add(g, sum, graph_sum(g, r, (1u << xs.rank) - 1));
  }
  if (sum == NONE)
    return NONE;
  uint32_t t;
  grad_build(g, sum, &G, 1, &t);
  uint8_t *live = ctx_realloc(g->c, NULL, g->n);
  memset(live, 0, g->n);
  live[t] = 1;
  graph_live(g, live, NULL);
  int reads_g = live[G];
  ctx_release(g->c, live);
  if (reads_g)
    ctx_error(g->c, n.pos, EXPRC_ERR_INTERNAL, "forward mode through '%s' "
              "is not supported", op_info[n.op].name);
  return t;
}

/* The tangent of node y from its inputs' tangents (tan[i] == NONE: zero). */
static uint32_t tangent(Graph *g, uint32_t y, const uint32_t *tan) {
  Node n = g->node[y];
  uint32_t t = n.nin ? tan[n.in[0]] : NONE; /* unary ops use it */
  switch ((Op)n.op) {
  case OP_INPUT:
  case OP_PARAM:
  case OP_CONST:
  case OP_DIMVAL:
    return NONE;
  case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_POW:
  case OP_NEG: case OP_MAXIMUM: case OP_MINIMUM:
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE:
  case OP_WHERE:
  case OP_EXP: case OP_LOG: case OP_SQRT: case OP_ABS: case OP_SIGN:
  case OP_SIN: case OP_COS: case OP_TAN: case OP_TANH: case OP_SIGMOID:
  case OP_RELU: case OP_SOFTPLUS: case OP_LOG1P: case OP_EXPM1:
  case OP_ERF: case OP_ERFC: case OP_LGAMMA: case OP_DIGAMMA:
  case OP_POLYGAMMA: case OP_ASIN: case OP_ACOS: case OP_ATAN:
  case OP_ATAN2: case OP_SINH: case OP_COSH: case OP_ASINH: case OP_ACOSH:
  case OP_ATANH: case OP_LOG2: case OP_LOG10: case OP_EXP2: case OP_SQUARE:
  case OP_RECIPROCAL: case OP_HYPOT: case OP_CLIP: case OP_GELU:
  case OP_SILU: case OP_ELU: case OP_LEAKY_RELU: case OP_FLOOR: case OP_CEIL:
  case OP_ROUND: case OP_STOP_GRADIENT:
    return elementwise(g, y, tan);
  case OP_BCAST:
  case OP_RESHAPE:
    return graph_shaped(g, (Op)n.op, t, n.shape);
  case OP_TRANSPOSE:
    return graph_op1(g, OP_TRANSPOSE, t);
  case OP_SLICE:
  case OP_PAD: {
    int64_t st[MAX_RANK];
    for (int i = 0; i < MAX_RANK; i++)
      st[i] = n.start[i];
    return graph_window(g, (Op)n.op, t, st, n.shape);
  }
  case OP_SUM:
    return graph_sum(g, t, (unsigned)n.u.axes);
  case OP_MAX:
  case OP_MIN:
    return extreme(g, &n, y, t);
  case OP_LSE:
    return lse(g, &n, y, t);
  case OP_MATMUL:
    return matmul(g, &n, tan);
  case OP_MULZ: case OP_DIVZ:
  case OP_FLIP: case OP_SHIFT: case OP_SORTBY: case OP_UNSORTBY:
  case OP_STEP: case OP_UNSTEP:
  case OP_PROD: case OP_LINREC: case OP_CUMLSE:
  case OP_CHOL: case OP_TRSOLVE: case OP_LUSOLVE: case OP_DET: case OP_LOGDET:
  case OP_TAKE: case OP_SCATTER: case OP_TAKE_ALONG: case OP_SCATTER_ALONG:
  case OP_ARGMAX: case OP_ARGMIN: case OP_ARGSORT: case OP_SWAPLAST:
  case OP_ONE_HOT:
  case OP_CONV: case OP_CONV_TX: case OP_CONV_TW:
  case OP_POOL_PICK: case OP_POOL_PUT:
  case OP_RANDN: case OP_RANDU:
  case OP_LOOP: case OP_ROW: case OP_PUTROW: case OP_ROWSHIFT:
    return by_transpose(g, y, tan);
  case OP_HOLE: /* a step's placeholder: the loop's own rule sees through */
    return NONE;
  case OP_COUNT:
    break;
  }
  return NONE;
}

uint32_t jvp_build(Graph *g, uint32_t root, uint32_t v, uint32_t u) {
  Ctx *c = g->c;
  uint32_t n = root + 1;
  ctx_work(c, g->pos, n);
  uint32_t *tan = ctx_realloc(c, NULL, n * sizeof *tan);
  for (uint32_t i = 0; i < n; i++)
    tan[i] = NONE;
  Pos savedpos = g->pos;
  if (v < n)
    tan[v] = u;
  for (uint32_t y = v + 1; y < n; y++) {
    int on = 0; /* does y read a node with a tangent? */
    for (int k = 0; k < g->node[y].nin; k++)
      on |= tan[g->node[y].in[k]] != NONE;
    if (!on)
      continue;
    g->pos = g->node[y].pos; /* tangent nodes point at their op */
    tan[y] = tangent(g, y, tan);
  }
  Shape s = shape_of(g, root);
  uint32_t r = tan[root] != NONE ? tan[root] : graph_const(g, 0, &s);
  g->pos = savedpos;
  ctx_release(c, tan);
  return r;
}
