/* linalg.c: the linear-algebra nodes (cholesky, triangular and general
 * solves, determinants, triangular masks) and their derivative rules.
 *
 * The rules are the standard matrix calculus (Giles, "An extended
 * collection of matrix derivative results", 2008; Murray, "Differentiation
 * of the Cholesky decomposition", 2016), written with the graph's own
 * nodes: the gradient of a solve is a solve, the gradient of a Cholesky
 * factor is two triangular solves, so grad of grad works to every order.
 *
 * Conventions: cholesky factors the symmetric part (A + A^T) / 2, which is
 * A for the symmetric matrices that have a factor, so its gradient is the
 * symmetric matrix PyTorch and JAX give, and it is the true derivative, so
 * finite differences of any one element agree; the gradient of a triangular
 * solve lies on the triangle that was read.
 */
#include "linalg.h"

static uint32_t node1(Graph *g, Op op, uint32_t a, int64_t form) {
  Node p = {.op = (uint8_t)op, .in = {a}, .u.form = form};
  return graph_node(g, &p);
}

static uint32_t node2(Graph *g, Op op, uint32_t a, uint32_t b, int64_t form) {
  Node p = {.op = (uint8_t)op, .in = {a, b}, .u.form = form};
  return graph_node(g, &p);
}

uint32_t la_chol(Graph *g, uint32_t a) { return node1(g, OP_CHOL, a, 0); }

uint32_t la_trsolve(Graph *g, uint32_t a, uint32_t b, int form) {
  return node2(g, OP_TRSOLVE, a, b, form & (LA_LOWER | LA_TRANS));
}

uint32_t la_solve(Graph *g, uint32_t a, uint32_t b, int form) {
  return node2(g, OP_LUSOLVE, a, b, form & LA_TRANS);
}

uint32_t la_det(Graph *g, uint32_t a, int log_abs) {
  return node1(g, log_abs ? OP_LOGDET : OP_DET, a, 0);
}

uint32_t la_mask(Graph *g, int form, int64_t n) {
  Shape rows = {.rank = 2, .d = {n, 1}}, cols = {.rank = 2, .d = {1, n}};
  uint32_t diff = graph_op2(g, OP_SUB, graph_iota(g, &cols, 1),
                            graph_iota(g, &rows, 0)); /* column - row */
  Op keep = form & LA_EYE ? OP_EQ : form & LA_LOWER ? OP_LE : OP_GE;
  return graph_op2(g, keep, diff, graph_scalar(g, 0)); /* as tril, triu */
}

uint32_t la_mt(Graph *g, uint32_t a) {
  /* a matrix's transpose is the one a product reads through (plan.c) */
  return graph_op1(g, g->node[a].shape->rank == 2 ? OP_TRANSPOSE : OP_SWAPLAST,
                   a);
}

/* v, one value per matrix of a batch of shape s, as [..., 1, 1]: so that
 * it scales each matrix of the batch. */
static uint32_t per_matrix(Graph *g, uint32_t v, const Shape *s) {
  Shape t = *s;
  t.d[t.rank - 1] = t.d[t.rank - 2] = 1;
  return graph_shaped(g, OP_RESHAPE, v, &t);
}

static uint32_t mul(Graph *g, uint32_t a, uint32_t b) {
  return graph_op2(g, OP_MUL, a, b);
}

/* u v^T for matrices (the sum over their columns) or vectors. */
static uint32_t outer(Graph *g, uint32_t u, uint32_t v) {
  Shape su = *g->node[u].shape, sv = *g->node[v].shape;
  if (su.rank >= 2) /* matrices, or batches of them */
    return graph_op2(g, OP_MATMUL, u, la_mt(g, v));
  Shape col = {.rank = 2, .d = {su.d[0], 1}}, row = {.rank = 2, .d = {1, sv.d[0]}};
  return graph_op2(g, OP_MATMUL, graph_shaped(g, OP_RESHAPE, u, &col),
                   graph_shaped(g, OP_RESHAPE, v, &row));
}

static int64_t size_n(Graph *g, uint32_t a) {
  Shape s = *g->node[a].shape;
  return s.d[s.rank - 1];
}

/* x = op(A)^-1 B: B gets op(A)^-T G (a solve with the other op), and A gets
 * -op's outer product of that with x, on the triangle read (if any). */
static uint32_t solve_rule(Graph *g, const Node *n, uint32_t y, int k,
                           uint32_t G) {
  int form = (int)n->u.form, tri = n->op == OP_TRSOLVE;
  uint32_t a = n->in[0];
  uint32_t gb = tri ? la_trsolve(g, a, G, form ^ LA_TRANS)
                    : la_solve(g, a, G, form ^ LA_TRANS);
  if (k == 1)
    return gb;
  uint32_t ga = form & LA_TRANS ? outer(g, y, gb) : outer(g, gb, y);
  ga = graph_op1(g, OP_NEG, ga);
  if (!tri)
    return ga;
  return mul(g, ga, la_mask(g, form & LA_LOWER ? LA_LOWER : LA_UPPER,
                            size_n(g, a)));
}

/* L = chol(A): with P = Phi(L^T G) (the lower triangle, half the
 * diagonal), S = L^-T P L^-1, and A gets (S + S^T) / 2. */
static uint32_t chol_rule(Graph *g, uint32_t y, uint32_t G) {
  int64_t n = size_n(g, y);
  uint32_t phi = graph_op2(g, OP_SUB, la_mask(g, LA_LOWER, n),
                           mul(g, graph_scalar(g, 0.5), la_mask(g, LA_EYE, n)));
  uint32_t p = mul(g, graph_op2(g, OP_MATMUL, la_mt(g, y), G), phi);
  uint32_t t = la_trsolve(g, y, p, LA_LOWER | LA_TRANS);       /* L^-T P */
  uint32_t s = la_mt(g, la_trsolve(g, y, la_mt(g, t), LA_LOWER | LA_TRANS));
  return mul(g, graph_scalar(g, 0.5), graph_op2(g, OP_ADD, s, la_mt(g, s)));
}

/* log|det A| gives G A^-T; det A gives G det(A) A^-T. */
static uint32_t det_rule(Graph *g, uint32_t y, uint32_t a, uint32_t G,
                         int log_abs) {
  Shape sa = *g->node[a].shape;
  uint32_t eye = la_mask(g, LA_EYE, size_n(g, a));
  if (sa.rank > 2)
    eye = graph_shaped(g, OP_BCAST, eye, &sa);
  uint32_t inv_t = la_solve(g, a, eye, LA_TRANS);
  return mul(g, per_matrix(g, log_abs ? G : mul(g, G, y), &sa), inv_t);
}

uint32_t la_rule(Graph *g, uint32_t y, int k, uint32_t G) {
  Node n = g->node[y];
  if (n.op == OP_CHOL)
    return chol_rule(g, y, G);
  if (n.op == OP_TRSOLVE || n.op == OP_LUSOLVE)
    return solve_rule(g, &n, y, k, G);
  if (n.op == OP_DET || n.op == OP_LOGDET)
    return det_rule(g, y, n.in[0], G, n.op == OP_LOGDET);
  return NONE;
}
