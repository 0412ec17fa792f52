/* simplify.c: the fifth stage: simplification.
 *
 * The pass copies the nodes that the entry points need (dead nodes are left
 * behind) into a fresh graph, in index order, through the graph constructor
 * with the simplifier's rules as its rewrite hook. Hash-consing in the constructor
 * merges common subexpressions; the rules fold constants, drop identities
 * and rewrite unstable forms. Each rule is local, looks at most two levels
 * down and returns something smaller or more stable, so the pass is linear
 * in the size of the graph and cannot loop. Every rule is exact in IEEE
 * arithmetic: x*0 is not 0 when x may be infinite, so it is not a rule.
 */
#include "simplify.h"

#include <math.h>
#include <string.h>

#include "shape.h"

static int is_const(Graph *g, uint32_t i, double v) {
  double x;
  return graph_is_const(g, i, &x) && x == v;
}

static Node *at(Graph *g, uint32_t i) { return &g->node[i]; }

/* x itself, broadcast to shape s where the dropped operand made it larger. */
static uint32_t as_shape(Graph *g, uint32_t x, const Shape *s) {
  if (shape_eq(at(g, x)->shape, s))
    return x;
  return graph_shaped(g, OP_BCAST, x, s);
}

/* Ops whose results the stable rules look for beneath them: log(1 + exp(c))
 * is softplus(c) only while exp(c) is still an exp, not the infinity it
 * folds to. While the model is built they are left unfolded; the simplify
 * pass, which runs after every stable rewrite had its chance, folds them. */
static int folded_late(Op op) { return op == OP_EXP || op == OP_SIGMOID; }

static uint32_t fold(Graph *g, const Node *p) {
  double v[3] = {0, 0, 0};
  for (int k = 0; k < p->nin; k++)
    if (!graph_is_const(g, p->in[k], &v[k]))
      return NONE;
  return graph_const(g, op_eval((Op)p->op, v[0], v[1], v[2]), p->shape);
}

/* A constant zero of the given sign. IEEE arithmetic has two zeros, and
 * x + 0 is not x: at x = -0 it is +0 (and 1 / (x + 0) is +inf, not -inf).
 * x + (-0) and x - (+0) are x for every x, NaN and -0 included; likewise
 * -0 - x is -x, where 0 - x is +0 at x = +0 and so not -x. */
static int is_zero(Graph *g, uint32_t i, int negative) {
  double x;
  return graph_is_const(g, i, &x) && x == 0 && (signbit(x) != 0) == negative;
}

/* The strong-zero product and quotient of the gradient rules (scalar.h)
 * differ from * and / only where a zero first operand meets an infinite or
 * NaN second one. A constant that rules that out makes them the plain op,
 * whose own identities then apply (G * 1 is G): a finite constant second
 * operand of MULZ, one of DIVZ that is neither 0 nor NaN, or a first operand
 * that is a nonzero constant. A constant zero first operand is not a rule:
 * MULZ(0, x) is 0 at every x, but -0 where x is negative and finite. */
static uint32_t plain_product(Graph *g, const Node *p) {
  double v;
  Op plain = p->op == OP_MULZ ? OP_MUL : OP_DIV;
  int safe = graph_is_const(g, p->in[0], &v) && v != 0;
  if (graph_is_const(g, p->in[1], &v))
    safe |= plain == OP_MUL ? v - v == 0 : v != 0 && v == v;
  return safe ? graph_op2(g, plain, p->in[0], p->in[1]) : NONE;
}

/* Identities of + - * / ^ and unary minus, each exact for every x
 * (x * 1, x / 1, x ^ 1 and --x keep x's sign and NaN; x * -1 is -x, x ^ 0
 * is 1 even at NaN, as C's pow). */
static uint32_t arith(Graph *g, const Node *p) {
  uint32_t a = p->in[0], b = p->in[1];
  switch (p->op) {
  case OP_ADD:
    if (is_zero(g, a, 1)) return as_shape(g, b, p->shape);
    if (is_zero(g, b, 1)) return as_shape(g, a, p->shape);
    break;
  case OP_SUB:
    if (is_zero(g, b, 0)) return as_shape(g, a, p->shape);
    if (is_zero(g, a, 1)) return as_shape(g, graph_op1(g, OP_NEG, b), p->shape);
    break;
  case OP_MUL:
    if (is_const(g, a, 1)) return as_shape(g, b, p->shape);
    if (is_const(g, b, 1)) return as_shape(g, a, p->shape);
    if (is_const(g, a, -1)) return as_shape(g, graph_op1(g, OP_NEG, b), p->shape);
    if (is_const(g, b, -1)) return as_shape(g, graph_op1(g, OP_NEG, a), p->shape);
    break;
  case OP_DIV:
    if (is_const(g, b, 1)) return as_shape(g, a, p->shape);
    break;
  case OP_POW:
    if (is_const(g, b, 1)) return as_shape(g, a, p->shape);
    if (is_const(g, b, 0)) return graph_const(g, 1, p->shape);
    break;
  case OP_NEG:
    if (at(g, a)->op == OP_NEG) return at(g, a)->in[0];
    break;
  case OP_MULZ:
  case OP_DIVZ:
    return plain_product(g, p);
  default:
    break;
  }
  return NONE;
}

/* log of something whose log is known more precisely. */
/* a is a copy, not a pointer into the graph: building a node may move the
 * node array, and a rule reads a's fields after building one. */
static uint32_t stable_log(Graph *g, const Node *p, const Node *a) {
  Shape s = *p->shape;
  if (a->op == OP_EXP) /* log(exp(y)): log(softmax(z)) is log_softmax(z) */
    return a->in[0];
  if (a->op == OP_SUM && at(g, a->in[0])->op == OP_EXP) /* logsumexp */
    return graph_reduce(g, OP_LSE, at(g, a->in[0])->in[0], (unsigned)a->u.axes);
  if (a->op == OP_DIV && at(g, a->in[0])->op == OP_EXP) { /* log(exp(z) / b) */
    uint32_t z = at(g, a->in[0])->in[0], logb = graph_op1(g, OP_LOG, a->in[1]);
    return as_shape(g, graph_op2(g, OP_SUB, z, logb), &s);
  }
  if (a->op == OP_BCAST || a->op == OP_RESHAPE) /* fewer logs */
    return graph_shaped(g, (Op)a->op, graph_op1(g, OP_LOG, a->in[0]), &s);
  if (a->op == OP_SIGMOID) /* log(sigmoid(x)) = -softplus(-x) */
    return graph_op1(
        g, OP_NEG, graph_op1(g, OP_SOFTPLUS, graph_op1(g, OP_NEG, a->in[0])));
  for (int k = 0; k < 2 && a->op == OP_ADD; k++) /* log(1 + x) */
    if (is_const(g, a->in[k], 1) && shape_eq(at(g, a->in[1 - k])->shape, &s))
      return graph_op1(g, OP_LOG1P, a->in[1 - k]);
  return NONE;
}

/* Forms that overflow or lose precision, rewritten to stable ones. These
 * run while the model is built, before back-propagation, so gradients are
 * taken of the stable forms. */
static uint32_t stable(Graph *g, const Node *p) {
  Node *a = at(g, p->in[0]);
  if (p->op == OP_LOG) {
    Node copy = *a;
    return stable_log(g, p, &copy);
  }
  if (p->op == OP_LOG1P && a->op == OP_EXP) /* log(1 + exp(x)) */
    return graph_op1(g, OP_SOFTPLUS, a->in[0]);
  if (p->op == OP_SUB && a->op == OP_EXP && is_const(g, p->in[1], 1) &&
      shape_eq(a->shape, p->shape))
    return graph_op1(g, OP_EXPM1, a->in[0]); /* exp(x) - 1 */
  if (p->op == OP_DIV && is_const(g, p->in[0], 1)) { /* 1 / (1 + exp(-x)) */
    Node *d = at(g, p->in[1]);
    for (int k = 0; k < 2 && d->op == OP_ADD; k++) {
      Node *e = at(g, d->in[1 - k]);
      if (is_const(g, d->in[k], 1) && e->op == OP_EXP &&
          at(g, e->in[0])->op == OP_NEG && shape_eq(e->shape, p->shape))
        return graph_op1(g, OP_SIGMOID, at(g, e->in[0])->in[0]);
    }
  }
  return NONE;
}

/* Whether shape r is shape x with size-1 axes added (or removed) at the
 * front only. Broadcasting aligns shapes on their last axis, so only then does
 * broadcasting x mean the same as broadcasting its reshape to r: the
 * reductions' [n] -> [n,1] adds its 1 at the end, and [n,1] broadcast to
 * [n,n] is not [n] broadcast to [n,n]. */
static int only_leading_ones(const Shape *x, const Shape *r) {
  int i = 0, j = 0;
  while (i < x->rank && x->d[i] == 1) i++;
  while (j < r->rank && r->d[j] == 1) j++;
  if (x->rank - i != r->rank - j)
    return 0;
  for (; i < x->rank; i++, j++)
    if (x->d[i] != r->d[j])
      return 0;
  return 1;
}

/* Data movement that does nothing, or undoes itself. */
static uint32_t movement(Graph *g, const Node *p) {
  uint32_t x = p->in[0];
  Node *a = at(g, x);
  double v;
  Shape t;
  switch (p->op) {
  case OP_BCAST:
  case OP_RESHAPE:
    if (shape_eq(a->shape, p->shape)) return x;
    if (p->op == OP_BCAST && a->op == OP_RESHAPE &&
        only_leading_ones(at(g, a->in[0])->shape, a->shape) &&
        shape_broadcast(at(g, a->in[0])->shape, p->shape, &t) &&
        shape_eq(&t, p->shape)) /* and x itself broadcasts there */
      return graph_shaped(g, OP_BCAST, a->in[0], p->shape);
    if (graph_is_const(g, x, &v)) return graph_const(g, v, p->shape);
    if (p->op == OP_RESHAPE && a->op == OP_RESHAPE)
      return graph_shaped(g, OP_RESHAPE, a->in[0], p->shape);
    break;
  case OP_TRANSPOSE:
    if (a->shape->rank <= 1) return x;
    if (a->op == OP_TRANSPOSE && !a->u.word && !p->u.word) return a->in[0];
    if (graph_is_const(g, x, &v)) return graph_const(g, v, p->shape);
    break;
  case OP_SUM:
  case OP_MAX:
  case OP_MIN:
  case OP_LSE:
    if (p->u.axes == 0) return x;
    break;
  case OP_SLICE:
    if (shape_eq(a->shape, p->shape)) return x; /* the whole tensor */
    if (graph_is_const(g, x, &v)) return graph_const(g, v, p->shape);
    break;
  default:
    break;
  }
  return NONE;
}

/* An elementwise op broadcasts its operands anyway: an explicit broadcast,
 * or a constant stored at a larger shape than needed, is replaced by the
 * smaller operand when the result's shape stays the same. */
static uint32_t implicit_broadcast(Graph *g, const Node *p) {
  Node q = *p;
  int changed = 0;
  double v;
  for (int k = 0; k < p->nin; k++) {
    Node *a = at(g, p->in[k]);
    uint32_t smaller = a->op == OP_BCAST ? a->in[0] : NONE;
    if (graph_is_const(g, p->in[k], &v) && a->shape->rank > 0)
      smaller = graph_scalar(g, v);
    if (smaller == NONE)
      continue;
    Shape r = *at(g, smaller)->shape, t;
    for (int j = 0; j < p->nin; j++)
      if (j != k && shape_broadcast(&r, at(g, q.in[j])->shape, &t))
        r = t;
    if (shape_eq(&r, p->shape)) {
      q.in[k] = smaller;
      changed = 1;
    }
  }
  return changed ? graph_node(g, &q) : NONE;
}

/* where(c, a, b) with a constant condition is one of its branches. */
static uint32_t choice(Graph *g, const Node *p) {
  double c;
  if (p->op != OP_WHERE || !graph_is_const(g, p->in[0], &c))
    return NONE;
  return as_shape(g, c != 0 ? p->in[1] : p->in[2], p->shape);
}

static uint32_t rules(Graph *g, const Node *p, int fold_all) {
  uint32_t r = NONE;
  if (op_info[p->op].flags & F_EW && p->op != OP_BCAST &&
      (fold_all || !folded_late((Op)p->op)))
    r = fold(g, p);
  if (r == NONE)
    r = choice(g, p);
  if (r == NONE)
    r = arith(g, p);
  if (r == NONE && p->nin > 0)
    r = stable(g, p);
  if (r == NONE && p->nin > 0)
    r = movement(g, p);
  if (r == NONE && (op_info[p->op].flags & F_EW) && p->op != OP_BCAST)
    r = implicit_broadcast(g, p);
  return r;
}

uint32_t simplify_rule(Graph *g, const Node *p) { return rules(g, p, 0); }

static uint32_t simplify_final(Graph *g, const Node *p) {
  return rules(g, p, 1);
}

Graph *simplify_graph(Graph *g, uint32_t *const *roots, uint32_t nroots) {
  Ctx *c = g->c;
  uint8_t *live = ctx_realloc(c, NULL, g->n + 1);
  uint32_t *map = ctx_realloc(c, NULL, (g->n + 1) * sizeof *map);
  memset(live, 0, g->n + 1);
  for (uint32_t i = 0; i < nroots; i++)
    if (*roots[i] != NONE)
      live[*roots[i]] = 1;
  graph_live(g, live, NULL);
  Graph *ng = graph_new(c);
  uint32_t nlive = 0;
  for (uint32_t i = 0; i < g->n; i++)
    nlive += live[i];
  graph_reserve(ng, nlive); /* about what it makes: rewrites mostly shrink */
  ng->rewrite = simplify_final;
  for (uint32_t i = 0; i < g->n; i++) {
    if (!live[i])
      continue;
    Node p = g->node[i];
    for (int k = 0; k < p.nin; k++)
      p.in[k] = map[p.in[k]];
    ng->pos = p.pos;
    ng->from = p.from;
    ng->backward = p.flags & N_BACKWARD;
    map[i] = node_is_tensor_const(&p)
                 ? graph_tensor(ng, g->cdata + p.u.data, p.shape)
                 : graph_node(ng, &p);
  }
  for (uint32_t i = 0; i < nroots; i++)
    if (*roots[i] != NONE)
      *roots[i] = map[*roots[i]];
  ctx_release(c, live);
  ctx_release(c, map);
  return ng;
}
