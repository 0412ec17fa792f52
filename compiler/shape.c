/* shape.c: shape inference. Every node's shape is computed once, when the
 * graph constructor makes it, by the rule its op names in ops.def. Shapes may
 * hold symbolic dims (`dim N`): two dims fit when they are equal, or when one
 * is the constant 1 (NumPy broadcasting). Errors name both shapes and point
 * at the operator. */
#include "shape.h"

#include "size.h"

#include <string.h>

#include "conv.h"

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

static const Shape *in_shape(Graph *g, const Node *p, int k) {
  return g->node[p->in[k]].shape;
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

/* Reshapes keep the element count: the products of the two shapes'
 * sizes, once equal factors cancel, leave 1 (size_ratio). */
static int has_zero(const Shape *s) {
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] == 0)
      return 1;
  return 0;
}

static int same_count(Graph *g, const Shape *a, const Shape *b) {
  int64_t r;
  if (has_zero(a) || has_zero(b)) /* empty: a size made of dims may not be */
    return has_zero(a) && has_zero(b);
  return size_ratio(g->c, g->pos, a->d, a->rank, b->d, b->rank, &r) && r == 1;
}

static Shape target(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  Shape t;
  if (p->op == OP_BCAST) {
    if (!shape_broadcast(a, p->shape, &t) || !shape_eq(&t, p->shape))
      mismatch(g, p, a, p->shape);
  } else if (!same_count(g, a, p->shape)) {
    char sa[96], sb[96];
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE,
              "cannot reshape %s to %s: element counts differ",
              shape_str(a, g->c->dimnames, sa, sizeof sa),
              shape_str(p->shape, g->c->dimnames, sb, sizeof sb));
  }
  return *p->shape;
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

/* NumPy matmul's batching (v2): a vector operand is a matrix of one row
 * (a) or one column (b) whose axis the result drops; the axes before the
 * last two broadcast. */
static Shape batched_matmul(Graph *g, const Node *p, const Shape *a,
                            const Shape *b) {
  Shape ba = {0}, bb = {0}, r;
  for (int i = 0; i + 2 < a->rank; i++)
    ba.d[ba.rank++] = a->d[i];
  for (int i = 0; i + 2 < b->rank; i++)
    bb.d[bb.rank++] = b->d[i];
  int64_t ka = a->d[a->rank - 1], kb = b->d[b->rank > 1 ? b->rank - 2 : 0];
  if (ka != kb || !shape_broadcast(&ba, &bb, &r))
    mismatch(g, p, a, b);
  if (r.rank + (a->rank > 1) + (b->rank > 1) > MAX_RANK)
    ctx_error(g->c, g->pos, EXPRC_ERR_LIMIT, "the result of '%s' would have "
              "a rank above the limit %d", op_spelling(g, OP_MATMUL), MAX_RANK);
  if (a->rank > 1)
    r.d[r.rank++] = a->d[a->rank - 2];
  if (b->rank > 1)
    r.d[r.rank++] = b->d[b->rank - 1];
  return r;
}

/* [m,k]@[k,n] -> [m,n], [m,k]@[k] -> [m], [k]@[k,n] -> [n], [k]@[k] -> [] */
static Shape matmul(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0), *b = in_shape(g, p, 1);
  Shape r = {0};
  if (a->rank >= 1 && b->rank >= 1 && (a->rank > 2 || b->rank > 2))
    return batched_matmul(g, p, a, b);
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

/* Matrices on the last two axes, square where factored, with the same
 * leading (batch) axes; the right side of a solve is a matrix of as many
 * rows, or a vector. */
static Shape linalg(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  char sa[96], sb[96];
  if (a->rank < 2 || a->d[a->rank - 1] != a->d[a->rank - 2])
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE, "'%s' takes square matrices "
              "(on the last two axes), not %s", op_spelling(g, (Op)p->op),
              shape_str(a, g->c->dimnames, sa, sizeof sa));
  Shape r = *a;
  if (p->op == OP_DET || p->op == OP_LOGDET) {
    r.rank -= 2;
    return r;
  }
  if (p->op == OP_CHOL)
    return r;
  const Shape *b = in_shape(g, p, 1);
  int vec = b->rank == 1 && a->rank == 2;
  int ok = vec ? b->d[0] == a->d[0] : b->rank == a->rank;
  for (int i = 0; ok && !vec && i < a->rank - 1; i++)
    ok = a->d[i] == b->d[i];
  if (!ok)
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE, "'%s' needs a right side with the "
              "rows (and batch axes) of %s, not %s", op_spelling(g, (Op)p->op),
              shape_str(a, g->c->dimnames, sa, sizeof sa),
              shape_str(b, g->c->dimnames, sb, sizeof sb));
  return *b;
}

/* The window [start, start + small) must lie inside big on every axis; a
 * symbolic axis fits when big - small is a constant that leaves room for
 * the start (x[1:] on N rows: a window of N-1 at 1), and a constant window
 * fits where the size's least value leaves room (row 0 of N, rows 0..2 of
 * N+3). */
static Shape window(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  const Shape *small = p->op == OP_SLICE ? p->shape : a;
  const Shape *big = p->op == OP_SLICE ? a : p->shape;
  int ok = a->rank == p->shape->rank;
  for (int i = 0; ok && i < a->rank; i++) {
    int64_t room; /* big - small, when that is one number for all dims */
    if (DIM_IS_SYM(big->d[i]) && !DIM_IS_SYM(small->d[i]))
      ok = p->start[i] >= 0 &&
           p->start[i] + small->d[i] <= size_min(g->c, big->d[i]);
    else
      ok = size_diff(g->c, big->d[i], small->d[i], &room) &&
           p->start[i] >= 0 && p->start[i] <= room;
  }
  if (!ok) {
    char sa[96], sb[96];
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE,
              "index out of range: a window %s does not fit in %s",
              shape_str(small, g->c->dimnames, sa, sizeof sa),
              shape_str(big, g->c->dimnames, sb, sizeof sb));
  }
  return *p->shape;
}

/* ---- gathers (v2) ---- */

static NORETURN void index_mismatch(Graph *g, const Node *p, const Shape *a,
                                    const Shape *b) {
  char sa[96], sb[96];
  ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE,
            "'%s': shapes %s and %s do not fit along axis %lld",
            op_spelling(g, (Op)p->op), shape_str(a, g->c->dimnames, sa, sizeof sa),
            shape_str(b, g->c->dimnames, sb, sizeof sb), (long long)p->u.axes);
}

/* take(a, idx, axis): a's axes before axis, idx's axes, a's axes after. */
static Shape take_shape(Graph *g, const Node *p, const Shape *a,
                        const Shape *idx) {
  int ax = (int)p->u.axes;
  if (ax < 0 || ax >= a->rank)
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE, "axis %d out of range for rank %d",
              ax, a->rank);
  if (a->rank - 1 + idx->rank > MAX_RANK)
    ctx_error(g->c, g->pos, EXPRC_ERR_LIMIT, "the result of '%s' would have "
              "rank %d, above the limit %d", op_spelling(g, (Op)p->op),
              a->rank - 1 + idx->rank, MAX_RANK);
  Shape r = {0};
  for (int i = 0; i < ax; i++)
    r.d[r.rank++] = a->d[i];
  for (int i = 0; i < idx->rank; i++)
    r.d[r.rank++] = idx->d[i];
  for (int i = ax + 1; i < a->rank; i++)
    r.d[r.rank++] = a->d[i];
  return r;
}

/* take_along_axis: a and idx of one rank, equal but on the axis. */
static void along_check(Graph *g, const Node *p, const Shape *a,
                        const Shape *idx) {
  int ax = (int)p->u.axes;
  int ok = a->rank == idx->rank && ax >= 0 && ax < a->rank;
  for (int i = 0; ok && i < a->rank; i++)
    ok = i == ax || a->d[i] == idx->d[i];
  if (!ok)
    index_mismatch(g, p, a, idx);
}

static Shape index_shape(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  Shape r = *a, t;
  Op op = (Op)p->op;
  if (op == OP_TAKE)
    return take_shape(g, p, a, in_shape(g, p, 1));
  if (op == OP_SCATTER) { /* a: the gradient of take's result; p->shape:
                             take's table */
    t = take_shape(g, p, p->shape, in_shape(g, p, 1));
    if (!shape_eq(&t, a))
      index_mismatch(g, p, p->shape, a);
    return *p->shape;
  }
  if (op == OP_TAKE_ALONG) {
    along_check(g, p, a, in_shape(g, p, 1));
    return *in_shape(g, p, 1);
  }
  if (op == OP_SCATTER_ALONG) {
    along_check(g, p, p->shape, a);
    if (!shape_eq(a, in_shape(g, p, 1)))
      index_mismatch(g, p, a, in_shape(g, p, 1));
    return *p->shape;
  }
  if (op == OP_ARGMAX || op == OP_ARGMIN)
    return reduce(g, p);
  if (op == OP_ONE_HOT) {
    if (a->rank + 1 > MAX_RANK)
      ctx_error(g->c, g->pos, EXPRC_ERR_LIMIT, "one_hot of rank %d would "
                "have rank %d, above the limit %d", a->rank, a->rank + 1,
                MAX_RANK);
    r.d[r.rank++] = p->u.axes;
    return r;
  }
  if (op == OP_ARGSORT && ((int)p->u.axes < 0 || (int)p->u.axes >= a->rank))
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE, "axis out of range for rank %d",
              a->rank);
  if (op == OP_SWAPLAST) {
    if (r.rank < 2)
      ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE, "swapping the last two axes "
                "needs rank 2 or more");
    r.d[r.rank - 2] = a->d[a->rank - 1], r.d[r.rank - 1] = a->d[a->rank - 2];
  }
  return r; /* ARGSORT, SWAPLAST */
}

/* Ops along an axis keep their input's shape; lowering gives every input
 * that same shape (broadcast first). */
static Shape along(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  for (int k = 1; k < p->nin; k++)
    if (!shape_eq(a, in_shape(g, p, k)))
      mismatch(g, p, a, in_shape(g, p, k));
  int64_t axes = p->op == OP_FLIP ? p->u.axes : (int64_t)1 << (p->u.word & 15);
  if (a->rank == 0 || (uint64_t)axes >> a->rank)
    ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE, "axis out of range for rank %d",
              a->rank);
  return *a;
}

/* STEP: the count of a walk along the axis of length L that skips `skip`,
 * then takes every |step|-th element, and leaves out `cut` at its end:
 * ceil((L - skip - cut) / |step|), at least 0. UNSTEP's target must be a
 * shape whose walk gives its input. */
static Shape step_rule(Graph *g, const Node *p) {
  const Shape *a = in_shape(g, p, 0);
  const Shape *big = p->op == OP_STEP ? a : p->shape;
  int64_t k = p->u.axes, skip = p->start[0], cut = p->start[2];
  int64_t st = p->start[1] < 0 ? -p->start[1] : p->start[1];
  if (k < 0 || k >= big->rank || st == 0 || skip < 0 || cut < 0 ||
      big->rank != a->rank)
    ctx_error(g->c, g->pos, EXPRC_ERR_INTERNAL, "a strided slice is malformed");
  Shape r = *big;
  r.d[k] = size_affine(g->c, g->pos, big->d[k], st - 1 - skip - cut, st);
  if (p->op == OP_STEP)
    return r;
  if (!shape_eq(&r, a))
    mismatch(g, p, a, &r);
  return *big;
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
    r = *p->shape;
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
      r.d[i] = a->d[p->u.word ? PERM_AXIS(p->u.word, i) : a->rank - 1 - i];
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
  case SH_LINALG:
    r = linalg(g, p);
    break;
  case SH_INDEX:
    r = index_shape(g, p);
    break;
  case SH_ALONG:
    r = along(g, p);
    break;
  case SH_STEP:
    r = step_rule(g, p);
    break;
  case SH_CONV:
    r = conv_shape(g, p);
    break;
  case SH_RANDOM:
    r = random_shape(g, p);
    break;
  case SH_LOOP: /* loop.c checks its operands' shapes as it builds them */
    r = *p->shape;
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
