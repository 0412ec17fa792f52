/* lower_gather.c: lowering of integer data and the gathers: which values
 * are integers, the built-ins take, take_along_axis, one_hot, argmax,
 * argmin and argsort, and indexing by an integer tensor (`E[ids]`).
 *
 * Integers live in the same double buffers as every other value, as exact
 * whole numbers (every integer up to 2^53 is exact in a double; the API
 * refuses others). Which values are integers is known here, at lowering,
 * from where they come: an `input x : int`, argmax, argmin, argsort, and
 * what gathers, reshapes, slices, broadcasts and transposes make of those.
 * Arithmetic on an integer gives a float, as the language says. Gathers
 * take integer indices only, so that an index is never a float that
 * happens to be near a whole number.
 */
#include "lower_impl.h"

#include <string.h>

#include "shape.h"

int lower_is_int(Lower *L, uint32_t x) {
  for (;;) {
    Node *n = graph_at(L->g, x);
    Op op = (Op)n->op;
    if (op == OP_INPUT)
      return L->m->var[n->u.var].is_int;
    if (op == OP_ARGMAX || op == OP_ARGMIN || op == OP_ARGSORT)
      return 1;
    if (op != OP_TAKE && op != OP_TAKE_ALONG && op != OP_RESHAPE &&
        op != OP_SLICE && op != OP_BCAST && op != OP_TRANSPOSE &&
        op != OP_SWAPLAST)
      return 0;
    x = n->in[0];
  }
}

static void need_int(Lower *L, Ast *a, uint32_t idx, const char *fn) {
  if (!lower_is_int(L, idx))
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE,
              "%s needs integer indices (an `input ... : int`, or what "
              "argmax, argmin or argsort give), not float values", fn);
}

/* take(a, indices, axis=0): a's slices along axis at the indices, in the
 * indices' shape. */
uint32_t lower_take(Lower *L, const Builtin *b, const Args *x,
                          Scope *s) {
  (void)b;
  uint32_t a = lower_expr(L, x->v[0], s), idx = lower_expr(L, x->v[1], s);
  int rank = graph_at(L->g, a)->shape->rank;
  if (rank == 0)
    ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE, "take needs a tensor of "
              "rank 1 or more to take from, not a scalar");
  int ax = x->v[2] ? lower_axis(L, x->v[2], rank) : 0;
  need_int(L, x->v[1], idx, "take");
  L->g->pos = x->call->pos;
  return graph_indexed(L->g, OP_TAKE, a, idx, ax, NULL);
}

/* take_along_axis(arr, indices, axis): arr and indices of one rank,
 * broadcast against each other on every other axis (NumPy). */
uint32_t lower_take_along(Lower *L, const Builtin *b, const Args *x,
                          Scope *s) {
  (void)b;
  uint32_t a = lower_expr(L, x->v[0], s), idx = lower_expr(L, x->v[1], s);
  Shape sa = *graph_at(L->g, a)->shape, si = *graph_at(L->g, idx)->shape;
  if (sa.rank != si.rank || sa.rank == 0) {
    char ta[96], ti[96];
    ctx_error(L->c, x->call->pos, EXPRC_ERR_SHAPE, "take_along_axis needs an "
              "array and indices of one rank (1 or more), not %s and %s",
              shape_str(&sa, L->c->dimnames, ta, sizeof ta),
              shape_str(&si, L->c->dimnames, ti, sizeof ti));
  }
  int ax = lower_axis(L, x->v[2], sa.rank);
  need_int(L, x->v[1], idx, "take_along_axis");
  L->g->pos = x->call->pos;
  Shape ta = sa, ti = si, both;
  ta.d[ax] = ti.d[ax] = 1;
  if (!shape_broadcast(&ta, &ti, &both)) {
    char t1[96], t2[96];
    ctx_error(L->c, x->call->pos, EXPRC_ERR_SHAPE, "take_along_axis: shapes "
              "%s and %s do not broadcast off axis %d",
              shape_str(&sa, L->c->dimnames, t1, sizeof t1),
              shape_str(&si, L->c->dimnames, t2, sizeof t2), ax);
  }
  ta = ti = both;
  ta.d[ax] = sa.d[ax], ti.d[ax] = si.d[ax];
  if (!shape_eq(&ta, &sa))
    a = graph_shaped(L->g, OP_BCAST, a, &ta);
  if (!shape_eq(&ti, &si))
    idx = graph_shaped(L->g, OP_BCAST, idx, &ti);
  return graph_indexed(L->g, OP_TAKE_ALONG, a, idx, ax, NULL);
}

/* one_hot(x, num_classes): x's shape and one more axis of num_classes, 1
 * where the axis's position equals x, else 0 (an id outside
 * [0, num_classes) gives a row of zeros, as jax.nn.one_hot). No gradient
 * flows through it. One op, not a comparison with a constant 0..K-1, so
 * that no table of K numbers is printed into the generated code. */
uint32_t lower_one_hot(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b;
  uint32_t idx = lower_expr(L, x->v[0], s);
  need_int(L, x->v[0], idx, "one_hot");
  int64_t k = lower_const_int(L, x->v[1], "num_classes", 1,
                              L->c->lim.max_elements);
  if (graph_at(L->g, idx)->shape->rank + 1 > L->c->lim.max_rank)
    ctx_error(L->c, x->call->pos, EXPRC_ERR_LIMIT, "one_hot of rank %d "
              "would have rank %d, above the limit %d",
              graph_at(L->g, idx)->shape->rank,
              graph_at(L->g, idx)->shape->rank + 1, L->c->lim.max_rank);
  L->g->pos = x->call->pos;
  return graph_indexed(L->g, OP_ONE_HOT, idx, NONE, (int)k, NULL);
}

/* argmax(x, axis), argmin(x, axis): over all axes (an index into the
 * flattened x, as NumPy) or along one. argsort(x, axis=-1). */
uint32_t lower_arg(Lower *L, const Builtin *b, const Args *x,
                         Scope *s) {
  uint32_t v = lower_expr(L, x->v[0], s);
  int rank = graph_at(L->g, v)->shape->rank;
  int ax;
  if (b->op == OP_ARGSORT)
    ax = x->v[1] ? lower_axis(L, x->v[1], rank) : rank - 1;
  else
    ax = x->v[1] ? 1 << lower_axis(L, x->v[1], rank) : (1 << rank) - 1;
  if (b->op == OP_ARGSORT && rank == 0)
    ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE, "a scalar has no axis");
  L->g->pos = x->call->pos;
  return graph_indexed(L->g, (Op)b->op, v, NONE, ax, NULL);
}

/* An integer tensor among the index items of x[...]: a[k] for the one
 * item that is one, or -1 when none is. The other items must then be ':'
 * (NumPy's advanced indexing with one integer array: take along its axis);
 * the tensor's node goes to *idx. */
static int int_item(Lower *L, Ast *a, Scope *s, uint32_t *idx) {
  int found = -1;
  for (int j = 1; j < a->nkid; j++) {
    Ast *it = a->kid[j];
    if (it->kind == A_SLICE ||
        (it->kind == A_NAME && (!strcmp(it->name, "None") ||
                                !strcmp(it->name, "...")))) /* lower_index.c */
      continue;
    uint32_t n = lower_expr(L, it, s);
    if (!lower_is_int(L, n))
      continue;
    if (found >= 0)
      ctx_error(L->c, it->pos, EXPRC_ERR_SHAPE, "one integer tensor index "
                "at a time; take them one after the other, or use take");
    found = j, *idx = n;
  }
  for (int j = 1; found >= 0 && j < a->nkid; j++) {
    Ast *it = a->kid[j];
    int whole = it->kind == A_SLICE;
    for (int k = 0; whole && k < it->nkid; k++)
      whole = it->kid[k] == NULL;
    if (j != found && !whole)
      ctx_error(L->c, it->pos, EXPRC_ERR_SHAPE, "next to an integer tensor "
                "index, other axes can only be taken whole (':')");
  }
  return found;
}

uint32_t lower_index_take(Lower *L, Ast *a, uint32_t x, Scope *s) {
  uint32_t idx = NONE;
  int j = int_item(L, a, s, &idx);
  if (j < 0)
    return NONE;
  int rank = graph_at(L->g, x)->shape->rank;
  if (a->nkid - 1 > rank)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "%d indices for a tensor of "
              "rank %d", a->nkid - 1, rank);
  L->g->pos = a->pos;
  return graph_indexed(L->g, OP_TAKE, x, idx, j - 1, NULL);
}
