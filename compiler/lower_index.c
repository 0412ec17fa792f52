/* lower_index.c: lowering of indexing and of the functions that join
 * tensors (concatenate, stack, and list literals of non-constant values),
 * and of size expressions (`[N*T, -1]` in reshape).
 *
 * x[...] follows NumPy's basic indexing: an integer drops its axis, a slice
 * lo:hi:step keeps it (negative bounds count from the end, bounds are
 * clipped, a slice may be empty), None inserts an axis of size 1, and `...`
 * stands for the axes not named. It becomes one SLICE (the window of the
 * step-1 slices and integers), one STEP per axis with another step, a
 * SLICE of row 0 where a negative index on a dim-sized axis was walked
 * backwards, and a RESHAPE that drops and inserts axes. On a dim-sized
 * axis the size of a slice is a size term (size.h): x[1:] of N rows has
 * N-1, so a slice there must start a fixed distance from the walk's
 * beginning and end a fixed distance from its end (x[1:], x[:-1], x[::2],
 * x[::-1]); x[2:5], whose size would be min(5, N) - 2, is an error, and an
 * integer must be a position that every size of the axis has (size_min).
 *
 * concatenate and stack place each piece into zeros of the result's shape
 * (PAD) and add them up, so that their gradients are windows (SLICE) of the
 * incoming gradient and every order of derivative comes from the ops that
 * already have one. Offsets must be constant, so along a dim-sized axis at
 * most one piece may be dim-sized; it need not be the last (join()).
 */
#include "lower_impl.h"

#include <string.h>

/* ---- sizes ---- */

int64_t lower_size(Lower *L, Ast *a, int *infer) {
  if (a->kind == A_NAME) {
    Binding *b = lower_lookup(L, a->name);
    if (b && b->kind == B_DIM)
      return DIM_SYM(b->index);
  }
  if (a->kind == A_BINARY && strcmp(a->op, "*") == 0) {
    int64_t x = lower_size(L, a->kid[0], NULL);
    return size_mul(L->c, a->pos, x, lower_size(L, a->kid[1], NULL));
  }
  int64_t v = lower_const_int(L, a, "a size", infer ? -1 : 1,
                              L->c->lim.max_elements);
  if (v == 0)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE,
              "sizes are positive; one may be -1 (inferred)");
  if (infer)
    *infer = v == -1;
  return v == -1 ? 1 : v;
}

/* ---- indexing ---- */

/* What one axis of the source gets: a window [start, start + size), and a
 * walk with a step other than 1 inside it (at: skip, step, cut), or none. */
typedef struct AxisIx {
  int64_t start, size;
  int64_t at[3];
  int drop;
  int64_t post;  /* with has_post: keep this many after the walk (x[-1],
                    x[-3:] on a dim come from the axis walked backwards) */
  int has_post;
  int back;      /* and walk those back into their order (x[-3:]) */
} AxisIx;

static int is_word(const Ast *a, const char *w) {
  return a->kind == A_NAME && strcmp(a->name, w) == 0;
}

static int64_t bound(Lower *L, Ast *a) {
  return lower_const_int(L, a, "a slice bound", INT32_MIN, INT32_MAX);
}

static NORETURN void sym_slice(Lower *L, Ast *it) {
  ctx_error(L->c, it->pos, EXPRC_ERR_SHAPE,
            "a slice of a dim-sized axis counts its start from the end it "
            "walks from and its stop from the other end (x[1:], x[:-1], "
            "x[::-1]), so that its length is known");
}

/* lo:hi:step on an axis of constant size d, as NumPy's slice.indices():
 * the first index taken and the count, walking by step. */
static void const_slice(Lower *L, Ast *it, int64_t d, int64_t step,
                        int64_t *first, int64_t *count) {
  int64_t lo = step > 0 ? 0 : d - 1, hi = step > 0 ? d : -1;
  for (int k = 0; k < 2; k++) {
    if (!it->kid[k])
      continue;
    int64_t v = bound(L, it->kid[k]);
    v = v < 0 ? v + d : v;
    if (step > 0)
      v = v < 0 ? 0 : v > d ? d : v;
    else
      v = v < -1 ? -1 : v > d - 1 ? d - 1 : v;
    *(k ? &hi : &lo) = v;
  }
  int64_t span = step > 0 ? hi - lo : lo - hi, st = step > 0 ? step : -step;
  *first = lo;
  *count = span <= 0 ? 0 : (span + st - 1) / st;
}

static NORETURN void maybe_outside(Lower *L, Ast *at, int64_t i, int64_t d) {
  char sd[96];
  Shape ds = {.rank = 1, .d = {d}};
  ctx_error(L->c, at->pos, EXPRC_ERR_SHAPE,
            "index %lld may be outside this axis, whose size %s can be as "
            "small as %lld", (long long)i,
            shape_str(&ds, L->c->dimnames, sd, sizeof sd),
            (long long)size_min(L->c, d));
}

/* lo:hi on a dim-sized axis with both ends counted from one end, within
 * the least size the axis can have: x[2:5] on N+5 rows, x[-3:] (the last
 * three, walked backwards, kept, walked back) on N+3. 0 if the ends are
 * counted from different ends (sym_bounds' case). */
static int sym_ends(Lower *L, Ast *it, int64_t d, AxisIx *x) {
  int64_t least = size_min(L->c, d);
  int64_t lo = it->kid[0] ? bound(L, it->kid[0]) : 0;
  int64_t hi = it->kid[1] ? bound(L, it->kid[1]) : 0;
  if (lo >= 0 && it->kid[1] && hi >= 0) {
    if (hi > least)
      maybe_outside(L, it->kid[1], hi - 1, d);
    x->start = lo < hi ? lo : 0, x->size = lo < hi ? hi - lo : 0;
    return 1;
  }
  if (lo < 0 && hi <= 0) {
    if (-lo > least)
      maybe_outside(L, it->kid[0], lo, d);
    x->at[0] = -hi, x->at[1] = -1, x->at[2] = 0;
    x->post = -lo + hi > 0 ? -lo + hi : 0, x->has_post = 1, x->back = 1;
    return 1;
  }
  return 0;
}

/* lo:hi:step on a dim-sized axis: skip and cut, each a constant distance
 * from the end of the walk it is at. */
static void sym_bounds(Lower *L, Ast *it, int64_t step, int64_t *skip,
                       int64_t *cut) {
  *skip = *cut = 0;
  if (it->kid[0]) { /* from the front going up, from the back going down */
    int64_t v = bound(L, it->kid[0]);
    if ((step > 0) != (v >= 0))
      sym_slice(L, it);
    *skip = step > 0 ? v : -v - 1;
  }
  if (it->kid[1]) {
    int64_t v = bound(L, it->kid[1]);
    if ((step > 0) != (v < 0))
      sym_slice(L, it);
    *cut = step > 0 ? -v : v + 1;
  }
}

static void slice_item(Lower *L, Ast *it, int64_t d, AxisIx *x) {
  int64_t step = it->kid[2] ? lower_const_int(L, it->kid[2], "a slice step",
                                              INT32_MIN, INT32_MAX)
                            : 1;
  if (step == 0)
    ctx_error(L->c, it->kid[2]->pos, EXPRC_ERR_SHAPE, "slice step cannot be zero");
  x->start = 0, x->size = d;
  if (DIM_IS_SYM(d) && step == 1 && sym_ends(L, it, d, x))
    return;
  if (DIM_IS_SYM(d)) {
    int64_t skip, cut;
    sym_bounds(L, it, step, &skip, &cut);
    if (step == 1) {
      x->start = skip;
      x->size = size_affine(L->c, it->pos, d, -skip - cut, 1);
    } else {
      x->at[0] = skip, x->at[1] = step, x->at[2] = cut;
    }
    return;
  }
  int64_t first, count;
  const_slice(L, it, d, step, &first, &count);
  if (step == 1) {
    x->start = count ? first : 0, x->size = count;
  } else if (count == 0) {
    x->size = 0; /* an empty window: no walk needed */
  } else { /* the walk from first to last, on the whole axis */
    int64_t last = first + (count - 1) * step;
    x->at[0] = step > 0 ? first : d - 1 - first;
    x->at[1] = step;
    x->at[2] = step > 0 ? d - 1 - last : last;
  }
}

static void index_item(Lower *L, Ast *it, int64_t d, AxisIx *x) {
  *x = (AxisIx){.start = 0, .size = d};
  if (it->kind == A_SLICE) {
    slice_item(L, it, d, x);
    return;
  }
  if (DIM_IS_SYM(d)) { /* only positions that every size has */
    int64_t i = lower_const_int(L, it, "an index", INT32_MIN, INT32_MAX);
    int64_t least = size_min(L->c, d);
    if (i >= least || -i > least)
      maybe_outside(L, it, i, d);
    if (i < 0) /* position -i - 1 of the axis walked backwards */
      x->at[0] = -i - 1, x->at[1] = -1, x->post = 1, x->has_post = 1;
    x->start = i < 0 ? 0 : i, x->size = i < 0 ? d : 1, x->drop = 1;
    return;
  }
  if (d == 0)
    ctx_error(L->c, it->pos, EXPRC_ERR_SHAPE, "an axis of size 0 has no index");
  int64_t i = lower_const_int(L, it, "an index", -d, d - 1);
  x->start = i < 0 ? i + d : i, x->size = 1, x->drop = 1;
}

/* Which source axis each index item is for: `...` takes the axes that the
 * items other than None do not. Fills ax[] (-1 for None) and returns how
 * many axes the items name. */
static int place_items(Lower *L, Ast *a, int rank, int *ax) {
  int named = 0, ell = -1;
  for (int i = 1; i < a->nkid; i++) {
    if (is_word(a->kid[i], "...")) {
      if (ell >= 0)
        ctx_error(L->c, a->kid[i]->pos, EXPRC_ERR_SHAPE,
                  "an index can have only one '...'");
      ell = i;
    } else if (!is_word(a->kid[i], "None")) {
      named++;
    }
  }
  if (named > rank)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "%d ind%s for a tensor of rank %d",
              named, named == 1 ? "ex" : "ices", rank);
  int j = 0;
  for (int i = 1; i < a->nkid; i++) {
    if (is_word(a->kid[i], "None"))
      ax[i] = -1;
    else if (i == ell)
      ax[i] = j, j += rank - named; /* the first of the axes it stands for */
    else
      ax[i] = j++;
  }
  return named;
}

/* The shape after indexing: kept and inserted axes, in the order written;
 * the axes after the last item (or all that `...` stands for) are kept. */
static void push_axis(Lower *L, Ast *at, Shape *out, int64_t d) {
  int max = L->c->lim.max_rank < MAX_RANK ? L->c->lim.max_rank : MAX_RANK;
  if (out->rank >= max)
    ctx_error(L->c, at->pos, EXPRC_ERR_LIMIT,
              "indexing makes rank %d, above the limit %d", out->rank + 1, max);
  out->d[out->rank++] = d;
}

static Shape out_shape(Lower *L, Ast *a, const AxisIx *ix, int named,
                       const Shape *walked) {
  Shape out = {0};
  int j = 0, rank = walked->rank;
  for (int i = 1; i <= a->nkid; i++) {
    Ast *it = i < a->nkid ? a->kid[i] : a;
    int n = i == a->nkid ? rank - j : is_word(it, "...") ? rank - named : 1;
    if (i < a->nkid && is_word(it, "None"))
      n = 0, push_axis(L, it, &out, 1);
    for (int k = 0; k < n; k++, j++)
      if (!ix[j].drop)
        push_axis(L, it, &out, walked->d[j]);
  }
  return out;
}

uint32_t lower_index(Lower *L, Ast *a, Scope *s) {
  uint32_t x = lower_expr(L, a->kid[0], s);
  uint32_t taken = lower_index_take(L, a, x, s); /* E[ids] (lower_gather.c) */
  if (taken != NONE)
    return taken;
  Shape xs = *graph_at(L->g, x)->shape, win = xs;
  int *ax = ctx_alloc(L->c, (size_t)a->nkid * sizeof *ax);
  AxisIx ix[MAX_RANK];
  int64_t start[MAX_RANK] = {0};
  int named = place_items(L, a, xs.rank, ax);
  for (int j = 0; j < xs.rank; j++)
    ix[j] = (AxisIx){.start = 0, .size = xs.d[j]};
  for (int i = 1; i < a->nkid; i++)
    if (ax[i] >= 0 && !is_word(a->kid[i], "..."))
      index_item(L, a->kid[i], xs.d[ax[i]], &ix[ax[i]]);
  for (int j = 0; j < xs.rank; j++)
    start[j] = ix[j].start, win.d[j] = ix[j].size;
  L->g->pos = a->pos;
  uint32_t r = graph_window(L->g, OP_SLICE, x, start, &win);
  for (int j = 0; j < xs.rank; j++)
    if (ix[j].at[1])
      r = graph_step(L->g, OP_STEP, r, j, ix[j].at, NULL);
  Shape walked = *graph_at(L->g, r)->shape;
  int64_t zero[MAX_RANK] = {0};
  for (int j = 0; j < xs.rank; j++)
    walked.d[j] = ix[j].has_post ? ix[j].post : walked.d[j];
  r = graph_window(L->g, OP_SLICE, r, zero, &walked);
  int64_t back[3] = {0, -1, 0};
  for (int j = 0; j < xs.rank; j++)
    if (ix[j].back && ix[j].post > 1)
      r = graph_step(L->g, OP_STEP, r, j, back, NULL);
  Shape out = out_shape(L, a, ix, named, &walked);
  return graph_shaped(L->g, OP_RESHAPE, r, &out);
}

/* ---- joining: concatenate, stack, [a, b] ---- */

typedef struct Pieces {
  uint32_t *v;
  uint32_t n, cap;
} Pieces;

/* The tensors of a list argument: the elements of a list written [a, b],
 * or the rows of a tensor, since NumPy iterates an array along its first
 * axis (concatenate(x) of x[2, 3] is x[0] next to x[1]). */
static void pieces_of(Lower *L, Ast *a, Scope *s, Pieces *p) {
  if (a->kind == A_LIST) {
    for (int i = 0; i < a->nkid; i++) {
      vec_reserve(L->c, &p->v, &p->cap, p->n + 1, sizeof *p->v);
      p->v[p->n++] = lower_expr(L, a->kid[i], s);
    }
    return;
  }
  uint32_t x = lower_expr(L, a, s);
  Shape xs = *graph_at(L->g, x)->shape, row = xs;
  if (xs.rank == 0 || DIM_IS_SYM(xs.d[0]))
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE,
              "a list of tensors is a list [a, b, ...] or a tensor whose "
              "first axis has a constant size");
  row.d[0] = 1;
  Shape drop = {.rank = xs.rank - 1};
  for (int j = 1; j < xs.rank; j++)
    drop.d[j - 1] = xs.d[j];
  for (int64_t i = 0; i < xs.d[0]; i++) {
    int64_t at[MAX_RANK] = {i};
    L->g->pos = a->pos;
    uint32_t r = graph_window(L->g, OP_SLICE, x, at, &row);
    vec_reserve(L->c, &p->v, &p->cap, p->n + 1, sizeof *p->v);
    p->v[p->n++] = graph_shaped(L->g, OP_RESHAPE, r, &drop);
  }
}

static NORETURN void join_mismatch(Lower *L, Pos at, const char *fn,
                                   const Shape *a, const Shape *b) {
  char sa[96], sb[96];
  ctx_error(L->c, at, EXPRC_ERR_SHAPE,
            "%s needs pieces of one shape%s: %s and %s", fn,
            fn[0] == 'c' ? " off the axis" : "",
            shape_str(a, L->c->dimnames, sa, sizeof sa),
            shape_str(b, L->c->dimnames, sb, sizeof sb));
}

/* Pieces v[0..n) side by side along axis k, each placed at its offset in
 * zeros of the whole (PAD) and the placed pieces added; every piece but
 * the last has a constant size along k, so every offset is constant. */
static uint32_t place(Lower *L, Ast *call, const uint32_t *v, uint32_t n,
                      int k) {
  Shape out = *graph_at(L->g, v[0])->shape;
  for (uint32_t i = 1; i < n; i++)
    out.d[k] = size_sum(L->c, call->pos, out.d[k],
                        graph_at(L->g, v[i])->shape->d[k]);
  int64_t at[MAX_RANK] = {0};
  uint32_t r = NONE;
  L->g->pos = call->pos;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t t = n == 1 ? v[i] : graph_window(L->g, OP_PAD, v[i], at, &out);
    r = r == NONE ? t : graph_op2(L->g, OP_ADD, r, t);
    at[k] += graph_at(L->g, v[i])->shape->d[k];
  }
  return r;
}

static uint32_t reverse(Lower *L, uint32_t x, int k) {
  int64_t at[3] = {0, -1, 0};
  return graph_step(L->g, OP_STEP, x, k, at, NULL);
}

/* The pieces side by side along axis k. At most one may be dim-sized along
 * k; if it is not the last, the pieces from it on are joined reversed
 * (each piece reversed, in reverse order: the dim-sized one comes last,
 * all offsets stay constant) and the result is reversed back. */
static uint32_t join(Lower *L, Ast *call, const Pieces *p, int k,
                     const char *fn) {
  Shape s0 = *graph_at(L->g, p->v[0])->shape;
  uint32_t nsym = 0, at = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    Shape si = *graph_at(L->g, p->v[i])->shape, o = s0;
    o.d[k] = si.d[k];
    if (!shape_eq(&o, &si))
      join_mismatch(L, call->pos, fn, &s0, &si);
    if (DIM_IS_SYM(si.d[k]))
      nsym++, at = i;
  }
  if (nsym > 1)
    ctx_error(L->c, call->pos, EXPRC_ERR_SHAPE,
              "%s along a dim-sized axis takes at most one piece whose size "
              "there is not constant (the others' places must be)", fn);
  if (nsym == 0 || at == p->n - 1)
    return place(L, call, p->v, p->n, k);
  uint32_t n = p->n, *w = ctx_alloc(L->c, (size_t)(n + 1) * sizeof *w);
  L->g->pos = call->pos;
  for (uint32_t j = 0; j < n - at; j++)
    w[j] = reverse(L, p->v[n - 1 - j], k);
  uint32_t tail = reverse(L, place(L, call, w, n - at, k), k);
  for (uint32_t i = 0; i < at; i++)
    w[i] = p->v[i];
  w[at] = tail;
  return place(L, call, w, at + 1, k);
}

/* Each piece with a new axis of size 1 at k, for stack. */
static void add_axis(Lower *L, Ast *call, Pieces *p, int k, const char *fn) {
  Shape s0 = *graph_at(L->g, p->v[0])->shape;
  if (s0.rank >= L->c->lim.max_rank || s0.rank >= MAX_RANK)
    ctx_error(L->c, call->pos, EXPRC_ERR_LIMIT,
              "%s makes rank %d, above the limit %d", fn, s0.rank + 1,
              L->c->lim.max_rank);
  for (uint32_t i = 0; i < p->n; i++) {
    Shape si = *graph_at(L->g, p->v[i])->shape, t = {.rank = si.rank + 1};
    if (!shape_eq(&si, &s0))
      join_mismatch(L, call->pos, fn, &s0, &si);
    for (int j = 0, d = 0; j < t.rank; j++)
      t.d[j] = j == k ? 1 : si.d[d++];
    L->g->pos = call->pos;
    p->v[i] = graph_shaped(L->g, OP_RESHAPE, p->v[i], &t);
  }
}

uint32_t lower_concatenate(Lower *L, const Builtin *b, const Args *x,
                           Scope *s) {
  Pieces p = {0};
  pieces_of(L, x->v[0], s, &p);
  if (p.n == 0)
    ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE, "%s needs at least one "
              "tensor", b->name);
  int rank = graph_at(L->g, p.v[0])->shape->rank + b->variant;
  int k = x->v[1] ? lower_axis(L, x->v[1], rank) : 0;
  if (b->variant)
    add_axis(L, x->call, &p, k, b->name);
  else if (rank == 0)
    ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE,
              "concatenate joins tensors along an axis; scalars have none "
              "(stack them)");
  uint32_t r = join(L, x->call, &p, k, b->name);
  ctx_release(L->c, p.v);
  return r;
}

uint32_t lower_stack_list(Lower *L, Ast *a, Scope *s) {
  Pieces p = {0};
  pieces_of(L, a, s, &p);
  add_axis(L, a, &p, 0, "a list");
  uint32_t r = join(L, a, &p, 0, "a list");
  ctx_release(L->c, p.v);
  return r;
}
