/* lower_shape.c: lowering of the built-ins that reshape, reorder and
 * reduce along chosen axes: several axes and keepdims for the reductions,
 * prod, var, std, norm; the cumulative functions (cumsum, cumprod,
 * logcumsumexp) and sort; transpose with axes, swapaxes, expand_dims,
 * squeeze, broadcast_to, pad, flip, tril and triu.
 *
 * Each is a composition of graph ops, so the gradient pass needs no rule of
 * its own for them: the new ops underneath (PROD, FLIP, SHIFT, LINREC,
 * CUMLSE, SORTBY, UNSORTBY; see ops.def) have rules in grad.c built of the
 * same ops, so that every order of derivative works. Axis arguments follow
 * NumPy: a number or a list, negative counting from the end, each axis
 * once; mistakes are located errors at the argument.
 */
#include "lower_impl.h"

#include <string.h>

#define REV 16 /* SH_ALONG ops: u.word bit for "from the end" */

/* ---- axes ---- */

/* Axis list or number a for a tensor of rank `rank`, as a bit mask; a NULL
 * a is every axis. A repeated axis is an error at it. */
unsigned lower_axes(Lower *L, Ast *a, int rank) {
  if (!a)
    return (1u << rank) - 1;
  if (a->kind != A_LIST)
    return 1u << lower_axis(L, a, rank);
  unsigned mask = 0;
  for (int i = 0; i < a->nkid; i++) {
    int k = lower_axis(L, a->kid[i], rank);
    if (mask & (1u << k))
      ctx_error(L->c, a->kid[i]->pos, EXPRC_ERR_SHAPE, "axis %d is repeated",
                k);
    mask |= 1u << k;
  }
  return mask;
}

static Shape shape_of(Lower *L, uint32_t x) { return *graph_at(L->g, x)->shape; }

/* r, reduced from shape s over mask, with the reduced axes kept as size 1
 * when keepdims (a constant 0 or 1) says so. */
uint32_t lower_keepdims(Lower *L, Ast *keepdims, uint32_t r, const Shape *s,
                        unsigned mask) {
  if (!lower_opt_int(L, keepdims, 0, "keepdims", 0, 1))
    return r;
  Shape k = *s;
  for (int i = 0; i < s->rank; i++)
    if (mask & (1u << i))
      k.d[i] = 1;
  return graph_shaped(L->g, OP_RESHAPE, r, &k);
}

/* A reduction over the axes of mask. prod is taken one axis at a time
 * (from the last), since its gradient works along one axis. */
uint32_t lower_reduce_op(Lower *L, Op op, uint32_t x, unsigned mask) {
  if (op != OP_PROD)
    return graph_reduce(L->g, op, x, mask);
  if (!mask) /* prod(scalar), or of no axes: x itself */
    return x;
  for (int k = MAX_RANK; k-- > 0;)
    if (mask & (1u << k))
      x = graph_reduce(L->g, OP_PROD, x, 1u << k);
  return x;
}

/* The number of elements in the axes of mask, as a node (dims at call
 * time), and whether it is a constant (*known). */
static uint32_t count_of(Lower *L, const Shape *s, unsigned mask,
                         int64_t *known) {
  uint32_t n = graph_scalar(L->g, 1);
  *known = 1;
  for (int i = 0; i < s->rank; i++) {
    if (!(mask & (1u << i)))
      continue;
    if (DIM_IS_SYM(s->d[i])) {
      *known = -1;
      n = graph_op2(L->g, OP_MUL, n, graph_leaf(L->g, OP_DIMVAL,
                                                DIM_INDEX(s->d[i]), &(Shape){0}));
    } else {
      n = graph_op2(L->g, OP_MUL, n, graph_scalar(L->g, (double)s->d[i]));
      if (*known > 0)
        *known *= s->d[i];
    }
  }
  return n;
}

/* sqrt(s) with a zero gradient where s = 0 (not 1/0): the square root of
 * 1 is taken there instead, and where() passes it no gradient. */
static uint32_t safe_sqrt(Lower *L, uint32_t s) {
  Graph *g = L->g;
  uint32_t pos = graph_op2(g, OP_GT, s, graph_scalar(g, 0));
  uint32_t inner = graph_op3(g, OP_WHERE, pos, s, graph_scalar(g, 1));
  return graph_op3(g, OP_WHERE, pos, graph_op1(g, OP_SQRT, inner),
                   graph_scalar(g, 0));
}

/* var(x, axis, ddof, keepdims) = sum((x - mean)^2) / (n - ddof); std is its
 * square root (variant 1), with std'(0) = 0. */
uint32_t lower_moment(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x);
  unsigned mask = lower_axes(L, a->v[1], xs.rank);
  int64_t ddof = lower_opt_int(L, a->v[2], 0, "ddof", 0, INT32_MAX), known;
  L->g->pos = a->call->pos;
  uint32_t n = count_of(L, &xs, mask, &known);
  if (known >= 0 && known <= ddof)
    ctx_error(L->c, a->v[2]->pos, EXPRC_ERR_SHAPE,
              "ddof %lld leaves no degrees of freedom in %lld elements",
              (long long)ddof, (long long)known);
  Graph *g = L->g;
  uint32_t mean = graph_op2(g, OP_DIV, graph_sum(g, x, mask), n);
  uint32_t d = graph_op2(g, OP_SUB, x, graph_spread(g, mean, &xs, mask));
  uint32_t v = graph_op2(g, OP_DIV, graph_sum(g, graph_op2(g, OP_MUL, d, d), mask),
                         graph_op2(g, OP_SUB, n, graph_scalar(g, (double)ddof)));
  if (b->variant)
    v = safe_sqrt(L, v);
  return lower_keepdims(L, a->v[3], v, &xs, mask);
}

/* norm(x): the 2-norm of all elements (Frobenius for a matrix); with axis,
 * along those axes. norm'(0) = 0. */
uint32_t lower_norm(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x);
  unsigned mask = lower_axes(L, a->v[1], xs.rank);
  L->g->pos = a->call->pos;
  uint32_t sq = graph_sum(L->g, graph_op2(L->g, OP_MUL, x, x), mask);
  return lower_keepdims(L, a->v[2], safe_sqrt(L, sq), &xs, mask);
}

/* ---- cumulative functions and sort ---- */

/* The axis of a cumulative function: given, or the only one of a vector. */
static int scan_axis(Lower *L, const Args *a, const Shape *xs) {
  if (a->v[1])
    return lower_axis(L, a->v[1], xs->rank);
  if (xs->rank != 1)
    ctx_error(L->c, a->call->pos, EXPRC_ERR_SHAPE,
              "'%.64s' needs an axis for a tensor of rank %d", a->call->name,
              xs->rank);
  return 0;
}

/* cumsum (op LINREC, variant 0), cumprod (LINREC, 1), logcumsumexp
 * (CUMLSE): cumsum is the recurrence y[i] = x[i] + y[i-1], cumprod
 * y[i] = x[i] y[i-1] (x[0] at the start). */
uint32_t lower_cumulative(Lower *L, const Builtin *b, const Args *a,
                          Scope *s) {
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x);
  int k = scan_axis(L, a, &xs);
  Graph *g = L->g;
  g->pos = a->call->pos;
  if (b->op == OP_CUMLSE)
    return graph_attr(g, OP_CUMLSE, x, 0, k);
  if (!b->variant)
    return graph_attr(g, OP_LINREC, graph_const(g, 1, &xs), x, k);
  uint32_t first = graph_first_place(g, &xs, k);
  return graph_attr(g, OP_LINREC, x, graph_op2(g, OP_MUL, x, first), k);
}

/* sort(x, axis=-1): ascending, stable, NaN last; the gradient goes back to
 * each element's place (the permutation's inverse). */
uint32_t lower_sort(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x);
  int k = a->v[1] ? lower_axis(L, a->v[1], xs.rank) : xs.rank - 1;
  if (xs.rank == 0)
    ctx_error(L->c, a->call->pos, EXPRC_ERR_SHAPE, "a scalar has no axis");
  L->g->pos = a->call->pos;
  return graph_attr(L->g, OP_SORTBY, x, x, k);
}

/* ---- axes moved, added, removed ---- */

/* transpose(x) reverses the axes; transpose(x, axes) puts input axis
 * axes[i] at place i, as NumPy does. */
uint32_t lower_transpose(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x);
  int perm[MAX_RANK];
  Ast *ax = a->v[1];
  L->g->pos = a->call->pos;
  if (!ax)
    return graph_op1(L->g, OP_TRANSPOSE, x);
  if (ax->kind != A_LIST || ax->nkid != xs.rank)
    ctx_error(L->c, ax->pos, EXPRC_ERR_SHAPE,
              "transpose needs a list of the %d axes in their new order",
              xs.rank);
  lower_axes(L, ax, xs.rank); /* each axis once (a located error if not) */
  for (int i = 0; i < xs.rank; i++)
    perm[i] = lower_axis(L, ax->kid[i], xs.rank);
  return lower_permute(L, x, perm);
}

/* x with its axes in the order perm: the plain reversal is transpose(x),
 * so that both spellings make one node; no move at all is x. */
uint32_t lower_permute(Lower *L, uint32_t x, const int *perm) {
  int rank = shape_of(L, x).rank, same = 1, reversed = 1;
  int64_t w = PERM_FLAG;
  for (int i = 0; i < rank; i++) {
    same &= perm[i] == i;
    reversed &= perm[i] == rank - 1 - i;
    w |= (int64_t)perm[i] << (4 * i);
  }
  if (same)
    return x;
  return graph_attr(L->g, OP_TRANSPOSE, x, 0, reversed ? 0 : w);
}

uint32_t lower_swapaxes(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  int rank = shape_of(L, x).rank, perm[MAX_RANK];
  int i = lower_axis(L, a->v[1], rank), j = lower_axis(L, a->v[2], rank);
  for (int k = 0; k < rank; k++)
    perm[k] = k == i ? j : k == j ? i : k;
  L->g->pos = a->call->pos;
  return lower_permute(L, x, perm);
}

/* expand_dims(x, axis): a size-1 axis at each place of axis (counted in
 * the result, as NumPy does). */
uint32_t lower_expand_dims(Lower *L, const Builtin *b, const Args *a,
                           Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x), r = {0};
  int n = a->v[1]->kind == A_LIST ? a->v[1]->nkid : 1;
  if (xs.rank + n > L->c->lim.max_rank)
    ctx_error(L->c, a->v[1]->pos, EXPRC_ERR_LIMIT,
              "rank %d is above the limit %d", xs.rank + n, L->c->lim.max_rank);
  unsigned mask = lower_axes(L, a->v[1], xs.rank + n);
  r.rank = xs.rank + n;
  for (int i = 0, k = 0; i < r.rank; i++)
    r.d[i] = mask & (1u << i) ? 1 : xs.d[k++];
  L->g->pos = a->call->pos;
  return graph_shaped(L->g, OP_RESHAPE, x, &r);
}

/* squeeze(x, axis): drop the given size-1 axes, or all of them. */
uint32_t lower_squeeze(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x), r = {0};
  unsigned mask = 0;
  if (a->v[1]) {
    mask = lower_axes(L, a->v[1], xs.rank);
    for (int i = 0; i < xs.rank; i++)
      if ((mask & (1u << i)) && xs.d[i] != 1) {
        char sb[96];
        ctx_error(L->c, a->v[1]->pos, EXPRC_ERR_SHAPE,
                  "cannot squeeze axis %d of %s: its size is not 1", i,
                  shape_str(&xs, L->c->dimnames, sb, sizeof sb));
      }
  } else {
    for (int i = 0; i < xs.rank; i++)
      mask |= xs.d[i] == 1 ? 1u << i : 0;
  }
  for (int i = 0; i < xs.rank; i++)
    if (!(mask & (1u << i)))
      r.d[r.rank++] = xs.d[i];
  L->g->pos = a->call->pos;
  return graph_shaped(L->g, OP_RESHAPE, x, &r);
}

/* A size in a shape argument: a whole number or a dim's name. */
static int64_t size_arg(Lower *L, Ast *a) {
  if (a->kind == A_NAME) {
    Binding *b = lower_lookup(L, a->name);
    if (b && b->kind == B_DIM)
      return DIM_SYM(b->index);
  }
  return lower_const_int(L, a, "a size", 1, L->c->lim.max_elements);
}

/* broadcast_to(x, shape): NumPy's broadcasting to a given shape. */
uint32_t lower_broadcast_to(Lower *L, const Builtin *b, const Args *a,
                            Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  Ast *d = a->v[1];
  Shape t = {0};
  if (d->kind != A_LIST)
    ctx_error(L->c, d->pos, EXPRC_ERR_SYNTAX,
              "broadcast_to takes its shape as a list, such as [2, 3]");
  if (d->nkid > L->c->lim.max_rank)
    ctx_error(L->c, d->pos, EXPRC_ERR_LIMIT, "rank %d is above the limit %d",
              d->nkid, L->c->lim.max_rank);
  t.rank = d->nkid;
  for (int i = 0; i < d->nkid; i++)
    t.d[i] = size_arg(L, d->kid[i]);
  L->g->pos = a->call->pos;
  L->g->spelling = "broadcast_to";
  uint32_t r = graph_shaped(L->g, OP_BCAST, x, &t);
  L->g->spelling = NULL;
  return r;
}

/* ---- pad, flip, tril, triu ---- */

/* The widths of pad for axis i: NumPy's n, [before, after] or one pair per
 * axis. */
static void pad_widths(Lower *L, Ast *w, int rank, int i, int64_t *lo,
                       int64_t *hi) {
  const char *what = "a pad width";
  int64_t max = L->c->lim.max_elements;
  if (w->kind != A_LIST) {
    *lo = *hi = lower_const_int(L, w, what, 0, max);
    return;
  }
  if (w->nkid == 2 && w->kid[0]->kind != A_LIST && w->kid[1]->kind != A_LIST) {
    *lo = lower_const_int(L, w->kid[0], what, 0, max);
    *hi = lower_const_int(L, w->kid[1], what, 0, max);
    return;
  }
  if (w->nkid != rank && w->nkid != 1)
    ctx_error(L->c, w->pos, EXPRC_ERR_SHAPE,
              "pad needs one [before, after] pair per axis (%d), not %d pairs",
              rank, w->nkid);
  Ast *p = w->kid[w->nkid == 1 ? 0 : i];
  if (p->kind != A_LIST || p->nkid != 2)
    ctx_error(L->c, p->pos, EXPRC_ERR_SHAPE,
              "a pad width pair is [before, after]");
  *lo = lower_const_int(L, p->kid[0], what, 0, max);
  *hi = lower_const_int(L, p->kid[1], what, 0, max);
}

/* pad(x, widths, value=0): x inside a border of value (any scalar). */
uint32_t lower_pad(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x), r = xs;
  int64_t start[MAX_RANK] = {0};
  for (int i = 0; i < xs.rank; i++) {
    int64_t hi;
    pad_widths(L, a->v[1], xs.rank, i, &start[i], &hi);
    if (DIM_IS_SYM(xs.d[i]) && (start[i] || hi))
      ctx_error(L->c, a->v[1]->pos, EXPRC_ERR_SHAPE,
                "cannot pad axis %d: its size is a dim", i);
    if (!DIM_IS_SYM(xs.d[i]))
      r.d[i] = xs.d[i] + start[i] + hi;
  }
  uint32_t v = a->v[2] ? lower_expr(L, a->v[2], s) : NONE;
  if (v != NONE && shape_of(L, v).rank != 0)
    ctx_error(L->c, a->v[2]->pos, EXPRC_ERR_SHAPE, "a pad value is a scalar");
  Graph *g = L->g;
  g->pos = a->call->pos;
  uint32_t p = graph_window(g, OP_PAD, x, start, &r);
  double c;
  if (v == NONE || (graph_is_const(g, v, &c) && c == 0))
    return p;
  uint32_t inside = graph_window(g, OP_PAD, graph_const(g, 1, &xs), start, &r);
  uint32_t border = graph_op2(g, OP_SUB, graph_scalar(g, 1), inside);
  return graph_op2(g, OP_ADD, p, graph_op2(g, OP_MUL, border, v));
}

/* flip(x, axis): the order reversed along the axes given, or all. */
uint32_t lower_flip(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  (void)b;
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x);
  if (xs.rank == 0)
    return x;
  unsigned mask = lower_axes(L, a->v[1], xs.rank);
  L->g->pos = a->call->pos;
  return graph_reduce(L->g, OP_FLIP, x, mask);
}

/* tril(x, k=0) keeps the elements with column - row <= k of the last two
 * axes (variant 0); triu(x, k=0) those with column - row >= k. */
uint32_t lower_triangle(Lower *L, const Builtin *b, const Args *a, Scope *s) {
  uint32_t x = lower_expr(L, a->v[0], s);
  Shape xs = shape_of(L, x);
  int64_t k = lower_opt_int(L, a->v[1], 0, "k", -L->c->lim.max_elements,
                            L->c->lim.max_elements);
  if (xs.rank < 2)
    ctx_error(L->c, a->call->pos, EXPRC_ERR_SHAPE,
              "'%.64s' needs a matrix (rank 2 or more), not rank %d",
              a->call->name, xs.rank);
  Graph *g = L->g;
  g->pos = a->call->pos;
  Shape rows = {.rank = 2, .d = {xs.d[xs.rank - 2], 1}};
  Shape cols = {.rank = 2, .d = {1, xs.d[xs.rank - 1]}};
  uint32_t diff = graph_op2(g, OP_SUB, graph_iota(g, &cols, 1),
                            graph_iota(g, &rows, 0));
  uint32_t keep = graph_op2(g, b->variant ? OP_GE : OP_LE, diff,
                            graph_scalar(g, (double)k));
  return graph_op3(g, OP_WHERE, keep, x, graph_scalar(g, 0));
}
