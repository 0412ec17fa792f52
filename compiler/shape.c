/* shape.c: shape inference. Every node's shape is computed once, when the
 * graph constructor makes it, by the rule its op names in ops.def. Shapes may
 * hold symbolic dims (`dim N`): two dims fit when they are equal, or when one
 * is the constant 1 (NumPy broadcasting). Errors name both shapes and point
 * at the operator. */
#include "shape.h"

#include <string.h>

int shape_broadcast(const Shape *a, const Shape *b, Shape *out) {
  Shape r;
  r.rank = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r.rank; i++) {
    int ia = a->rank - r.rank + i, ib = b->rank - r.rank + i;
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da == db || db == 1)
      r.d[i] = da;
    else if (da == 1)
      r.d[i] = db;
    else
      return 0;
  }
  *out = r;
  return 1;
}

static const char *op_spelling(const Graph *g, Op op) {
  const char *s = op_info[op].dsl;
  return g->spelling ? g->spelling : s && *s ? s : op_info[op].name;
}

static NORETURN void mismatch(Graph *g, const Node *p, const Shape *a,
                              const Shape *b) {
  char sa[96], sb[96];
  ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE,
            "shapes %s and %s do not match for '%s'",
            shape_str(a, g->c->dimnames, sa, sizeof sa),
            shape_str(b, g->c->dimnames, sb, sizeof sb),
            op_spelling(g, (Op)p->op));
}

static Shape *in_shape(Graph *g, const Node *p, int k) {
  return &g->node[p->in[k]].shape;
}

static Shape elementwise(Graph *g, const Node *p) {
  Shape r = *in_shape(g, p, 0);
  for (int k = 1; k < p->nin; k++) {
    Shape t;
    if (!shape_broadcast(&r, in_shape(g, p, k), &t))
      mismatch(g, p, &r, in_shape(g, p, k));
    r = t;
  }
  return r;
}

/* Reshapes keep the element count; with symbolic dims, the same constant
 * product and the same symbols. */
static int same_count(const Shape *a, const Shape *b) {
  int64_t ca = 1, cb = 1;
  int sa[MAX_RANK * 2] = {0};
  for (int i = 0; i < a->rank; i++)
    if (DIM_IS_SYM(a->d[i]))
      sa[i] = DIM_INDEX(a->d[i]) + 1;
    else
      ca *= a->d[i];
  for (int i = 0; i < b->rank; i++) {
    if (!DIM_IS_SYM(b->d[i])) {
      cb *= b->d[i];
      continue;
    }
    int j = 0;
    while (j < a->rank && sa[j] != DIM_INDEX(b->d[i]) + 1)
      j++;
    if (j == a->rank)
      return 0;
    sa[j] = 0;
  }
  for (int i = 0; i < a->rank; i++)
    if (sa[i])
      return 0;
  return ca == cb;
}

static Shape target(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  Shape t;
  if (p->op == OP_BCAST) {
    if (!shape_broadcast(a, &p->shape, &t) || !shape_eq(&t, &p->shape))
      mismatch(g, p, a, &p->shape);
  } else if (!same_count(a, &p->shape)) {
    char sa[96], sb[96];
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE,
              "cannot reshape %s to %s: element counts differ",
              shape_str(a, g->c->dimnames, sa, sizeof sa),
              shape_str(&p->shape, g->c->dimnames, sb, sizeof sb));
  }
  return p->shape;
}

static Shape reduce(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  Shape r = {0};
  for (int i = 0; i < a->rank; i++)
    if (!(p->u.axes & (1 << i)))
      r.d[r.rank++] = a->d[i];
  if ((uint64_t)p->u.axes >> a->rank)
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE, "axis out of range for rank %d",
              a->rank);
  return r;
}

/* [m,k]@[k,n] -> [m,n], [m,k]@[k] -> [m], [k]@[k,n] -> [n], [k]@[k] -> [] */
static Shape matmul(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0), *b = in_shape(g, p, 1);
  Shape r = {0};
  if (a->rank < 1 || a->rank > 2 || b->rank < 1 || b->rank > 2) {
    char sa[96], sb[96];
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE,
              "'%s' takes vectors and matrices, not %s and %s",
              op_spelling(g, OP_MATMUL),
              shape_str(a, g->c->dimnames, sa, sizeof sa),
              shape_str(b, g->c->dimnames, sb, sizeof sb));
  }
  int64_t ka = a->d[a->rank - 1], kb = b->d[0];
  if (ka != kb)
    mismatch(g, p, a, b);
  if (a->rank == 2)
    r.d[r.rank++] = a->d[0];
  if (b->rank == 2)
    r.d[r.rank++] = b->d[1];
  return r;
}

/* The window [start, start + small) must lie inside big on every axis; a
 * symbolic axis can only be taken whole. */
static Shape window(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  const Shape *small = p->op == OP_SLICE ? &p->shape : a;
  const Shape *big = p->op == OP_SLICE ? a : &p->shape;
  int ok = a->rank == p->shape.rank;
  for (int i = 0; ok && i < a->rank; i++) {
    if (DIM_IS_SYM(small->d[i]) || DIM_IS_SYM(big->d[i]))
      ok = small->d[i] == big->d[i] && p->start[i] == 0;
    else
      ok = p->start[i] >= 0 && p->start[i] + small->d[i] <= big->d[i];
  }
  if (!ok) {
    char sa[96], sb[96];
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE,
              "index out of range: a window %s does not fit in %s",
              shape_str(small, g->c->dimnames, sa, sizeof sa),
              shape_str(big, g->c->dimnames, sb, sizeof sb));
  }
  return p->shape;
}

static void check_size(Graph *g, const Shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    if (DIM_IS_SYM(s->d[i]))
      continue;
    if (s->d[i] > 0 && n > g->c->lim.max_elements / s->d[i])
      ctx_error(g->c, g->pos, EXPRC_ERR_LIMIT,
                "tensor has more than %lld elements (the limit)",
                (long long)g->c->lim.max_elements);
    n *= s->d[i];
  }
}

Shape shape_infer(Graph *g, const Node *p) {
  Shape r;
  switch (op_info[p->op].shape) {
  case SH_LEAF:
    r = p->shape;
    break;
  case SH_EW:
    r = elementwise(g, p);
    break;
  case SH_TARGET:
    r = target(g, p);
    break;
  case SH_TRANSPOSE: {
    const Shape *a = in_shape(g, p, 0);
    r.rank = a->rank;
    for (int i = 0; i < a->rank; i++)
      r.d[i] = a->d[a->rank - 1 - i];
    break;
  }
  case SH_REDUCE:
    r = reduce(g, p);
    break;
  case SH_MATMUL:
    r = matmul(g, p);
    break;
  case SH_WINDOW:
    r = window(g, p);
    break;
  case SH_LOOP: /* loop.c checks its operands' shapes as it builds them */
    r = p->shape;
    break;
  }
  /* Shapes hash and compare as bytes (graph.c): clear unused dims and the
   * padding after `rank`, which a copy of an uninitialised Shape carries. */
  Shape out;
  memset(&out, 0, sizeof out);
  out.rank = r.rank;
  memcpy(out.d, r.d, (size_t)r.rank * sizeof r.d[0]);
  check_size(g, &out);
  return out;
}
