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
 */
#include "grad.h"

#include <string.h>

#include "loop.h"

static uint32_t op1(Graph *g, Op op, uint32_t a) { return graph_op1(g, op, a); }
static uint32_t op2(Graph *g, Op op, uint32_t a, uint32_t b) {
  return graph_op2(g, op, a, b);
}
static uint32_t num(Graph *g, double v) { return graph_scalar(g, v); }
static Shape shape_of(Graph *g, uint32_t i) { return g->node[i].shape; }

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
  return op2(g, OP_MUL, graph_spread(g, op2(g, OP_DIV, G, ties), &s, n->u.axes), hit);
}

/* d(a @ b) for the four forms of '@'. */
static uint32_t matmul_rule(Graph *g, const Node *n, int k, uint32_t G) {
  uint32_t a = n->in[0], b = n->in[1];
  Shape sa = shape_of(g, a), sb = shape_of(g, b);
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
  return op2(g, OP_MUL, G, k == 0 ? b : a); /* [k] @ [k] -> [] */
}

/* The weight of input k of maximum/minimum: 1 where it wins, 1/2 on ties. */
static uint32_t pick_weight(Graph *g, const Node *n, int k, Op wins) {
  uint32_t self = n->in[k], other = n->in[1 - k];
  uint32_t half = op2(g, OP_MUL, num(g, 0.5), op2(g, OP_EQ, self, other));
  return op2(g, OP_ADD, op2(g, wins, self, other), half);
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
  case OP_MUL:
    return op2(g, OP_MUL, G, k == 0 ? b : a);
  case OP_DIV:
    return k == 0 ? op2(g, OP_DIV, G, b)
                  : op1(g, OP_NEG, op2(g, OP_DIV, op2(g, OP_MUL, G, y), b));
  case OP_POW: /* b a^(b-1), and a^b log(a); both 0 where the limit is 0 */
    if (k == 0) /* at b = 0, not 0 * a^-1 (NaN at a = 0) */
      return op2(g, OP_MUL, G,
                 graph_op3(g, OP_WHERE, op2(g, OP_EQ, b, num(g, 0)), num(g, 0),
                           op2(g, OP_MUL, b, op2(g, OP_POW, a,
                                                 op2(g, OP_SUB, b, num(g, 1))))));
    return op2(g, OP_MUL, G, /* at a = 0, not 0 * log(0) (NaN), as PyTorch */
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
  case OP_EXP:
    return op2(g, OP_MUL, G, y);
  case OP_LOG:
    return op2(g, OP_DIV, G, a);
  case OP_SQRT:
    return op2(g, OP_DIV, G, op2(g, OP_MUL, num(g, 2), y));
  case OP_ABS:
    return op2(g, OP_MUL, G, op1(g, OP_SIGN, a));
  case OP_SIN:
    return op2(g, OP_MUL, G, op1(g, OP_COS, a));
  case OP_COS:
    return op1(g, OP_NEG, op2(g, OP_MUL, G, op1(g, OP_SIN, a)));
  case OP_TAN: /* 1 + tan^2 */
    return op2(g, OP_MUL, G, op2(g, OP_ADD, num(g, 1), op2(g, OP_MUL, y, y)));
  case OP_TANH: /* 1 - tanh^2 */
    return op2(g, OP_MUL, G, op2(g, OP_SUB, num(g, 1), op2(g, OP_MUL, y, y)));
  case OP_SIGMOID: /* s (1 - s) */
    return op2(g, OP_MUL, G, op2(g, OP_MUL, y, op2(g, OP_SUB, num(g, 1), y)));
  case OP_RELU: /* relu'(0) = 0 */
    return op2(g, OP_MUL, G, op2(g, OP_GT, a, num(g, 0)));
  case OP_SOFTPLUS:
    return op2(g, OP_MUL, G, op1(g, OP_SIGMOID, a));
  case OP_LOG1P:
    return op2(g, OP_DIV, G, op2(g, OP_ADD, num(g, 1), a));
  case OP_EXPM1:
    return op2(g, OP_MUL, G, op2(g, OP_ADD, y, num(g, 1)));
  case OP_BCAST: /* the sum over broadcast axes happens in push() */
    return G;
  case OP_RESHAPE: {
    Shape s = shape_of(g, a);
    return graph_shaped(g, OP_RESHAPE, G, &s);
  }
  case OP_TRANSPOSE:
    return op1(g, OP_TRANSPOSE, G);
  case OP_SLICE: {
    Shape s = shape_of(g, a);
    return graph_window(g, OP_PAD, G, n.start, &s);
  }
  case OP_PAD: {
    Shape s = shape_of(g, a);
    return graph_window(g, OP_SLICE, G, n.start, &s);
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
    return op2(g, OP_MUL, graph_spread(g, G, &s, n.u.axes),
               op1(g, OP_EXP, op2(g, OP_SUB, a, graph_spread(g, y, &s, n.u.axes))));
  }
  case OP_MATMUL:
    return matmul_rule(g, &n, k, G);
  case OP_HOLE:
    return NONE;
  case OP_LOOP:
  case OP_ROW:
  case OP_PUTROW:
  case OP_SHIFT:
    return loop_rule(g, y, k, G);
  case OP_COUNT:
    break;
  }
  (void)c;
  return NONE;
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
  g->backward = 1;
  adj[root] = num(g, 1);
  for (uint32_t y = root + 1; y-- > 0;) {
    if (adj[y] == NONE || !on[y])
      continue;
    g->pos = g->node[y].pos; /* backward nodes point at their forward op */
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
  ctx_release(c, on);
  ctx_release(c, adj);
}
