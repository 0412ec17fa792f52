/* lower_special.c: lowering of the special functions that take named or
 * optional arguments, and of the forward-mode built-ins (part of the
 * lowering stage; rows of lower_call.c's builtins[] table point here).
 *
 * polygamma(n, x), atan2(y, x), clip(x, lo, hi), elu(x, alpha=1) and
 * leaky_relu(x, negative_slope=0.01) are elementwise ops of ops.def; they
 * are rows of the table rather than found by name so that their parameters
 * have their documented names and defaults.
 *
 * jvp(y, v, u) is the forward pass of jvp.c. jacobian(y, v) has shape
 * y.shape + v.shape and costs min(|y|, |v|) sweeps: one jvp per element of v
 * (forward, the columns) when v has fewer elements than y, else one grad per
 * element of y (reverse, the rows). Either way its nodes are graph nodes,
 * so jacobian(grad(e, v), v) is the Hessian and grad of a jvp works.
 *
 * Unless it is sparse: jacobian and hessian first ask sparsity.c for the
 * pattern of entries that can be non-zero and a colouring of its columns;
 * when the colours are fewer than the dense sweeps and the entries lie in a
 * narrow band, one jvp per colour gives every entry, and the entries are
 * moved to their places through the band (a few pads and reshapes, no
 * constant the size of the matrix). hessian(e, v) is then the Jacobian of
 * grad(e, v): forward over reverse.
 */
#include "lower_impl.h"

#include "grad.h"
#include "jvp.h"
#include "shape.h"
#include "sparsity.h"

#include <string.h>

uint32_t lower_special_ew(Lower *L, const Builtin *b, const Args *x,
                          Scope *s) {
  int n = op_info[b->op].arity;
  uint32_t in[3] = {0, 0, 0};
  for (int i = 0; i < n; i++) /* elu's alpha is 1, leaky_relu's slope 0.01 */
    in[i] = x->v[i] ? lower_expr(L, x->v[i], s)
                    : graph_scalar(L->g, b->op == OP_ELU ? 1.0 : 0.01);
  L->g->pos = x->call->pos;
  if (n == 2)
    return graph_op2(L->g, (Op)b->op, in[0], in[1]);
  return graph_op3(L->g, (Op)b->op, in[0], in[1], in[2]);
}

/* The node of argument k, which must be a declared input or param. */
static uint32_t variable(Lower *L, const Args *x, int k, Scope *s) {
  uint32_t v = lower_expr(L, x->v[k], s);
  Op op = (Op)graph_at(L->g, v)->op;
  if (op != OP_INPUT && op != OP_PARAM)
    ctx_error(L->c, x->v[k]->pos, EXPRC_ERR_NAME,
              "%.32s needs an input or param to differentiate by",
              x->call->name);
  return v;
}

uint32_t lower_jvp(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b;
  uint32_t y = lower_expr(L, x->v[0], s);
  uint32_t v = variable(L, x, 1, s);
  uint32_t u = lower_expr(L, x->v[2], s);
  Shape vs = *graph_at(L->g, v)->shape, us = *graph_at(L->g, u)->shape;
  if (!shape_eq(&vs, &us)) {
    char sv[96], su[96];
    ctx_error(L->c, x->v[2]->pos, EXPRC_ERR_SHAPE,
              "jvp needs a direction of the shape of v, %s, not %s",
              shape_str(&vs, L->c->dimnames, sv, sizeof sv),
              shape_str(&us, L->c->dimnames, su, sizeof su));
  }
  L->g->pos = x->call->pos;
  lower_grad_work(L, x->call->pos, y);
  return jvp_build(L->g, y, v, u);
}

/* Place piece p (ny x nv flattened to rows x cols) at row i, column j of
 * the [ny, nv] matrix, adding it to acc. */
static uint32_t place(Lower *L, uint32_t acc, uint32_t p, const Shape *ps,
                      int64_t i, int64_t j, const Shape *js) {
  int64_t at[MAX_RANK] = {i, j};
  p = graph_shaped(L->g, OP_RESHAPE, p, ps);
  p = graph_window(L->g, OP_PAD, p, at, js);
  return acc == NONE ? p : graph_op2(L->g, OP_ADD, acc, p);
}

/* Column j: the tangent of y along the j-th unit vector of v. */
static uint32_t forward_sweeps(Lower *L, uint32_t y, uint32_t v, int64_t ny,
                               int64_t nv, const Shape *js) {
  Shape vs = *graph_at(L->g, v)->shape, col = {.rank = 2, .d = {ny, 1}};
  double *e = ctx_realloc(L->c, NULL, (size_t)nv * sizeof *e);
  uint32_t acc = NONE;
  for (int64_t j = 0; j < nv; j++) {
    for (int64_t k = 0; k < nv; k++)
      e[k] = k == j;
    uint32_t u = graph_tensor(L->g, e, &vs);
    lower_grad_work(L, L->g->pos, y);
    acc = place(L, acc, jvp_build(L->g, y, v, u), &col, 0, j, js);
  }
  ctx_release(L->c, e);
  return acc;
}

/* Row i: the gradient of the i-th element of y. */
static uint32_t reverse_sweeps(Lower *L, uint32_t y, uint32_t v, int64_t ny,
                               int64_t nv, const Shape *js) {
  Shape flat = {.rank = 1, .d = {ny}}, one = {.rank = 1, .d = {1}};
  Shape row = {.rank = 2, .d = {1, nv}};
  uint32_t yf = graph_shaped(L->g, OP_RESHAPE, y, &flat), acc = NONE;
  for (int64_t i = 0; i < ny; i++) {
    int64_t at[MAX_RANK] = {i};
    uint32_t yi = graph_window(L->g, OP_SLICE, yf, at, &one), gi;
    yi = graph_shaped(L->g, OP_RESHAPE, yi, &(Shape){0});
    lower_grad_work(L, L->g->pos, yi);
    grad_build(L->g, yi, &v, 1, &gi);
    acc = place(L, acc, gi, &row, i, 0, js);
  }
  return acc;
}

/* Without sparsity: min(|y|, |v|) sweeps, forward for a tall Jacobian,
 * reverse for a wide one; as [ny, nv]. */
static uint32_t dense_jacobian(Lower *L, const Args *x, uint32_t y,
                               uint32_t v) {
  Shape ys = *graph_at(L->g, y)->shape, vs = *graph_at(L->g, v)->shape;
  int64_t ny, nv;
  if (!shape_numel_const(&ys, &ny) || !shape_numel_const(&vs, &nv) ||
      (ny < nv ? ny : nv) > 256 || ny * nv > 65536)
    ctx_error(L->c, x->call->pos, EXPRC_ERR_LIMIT,
              "jacobian is for constant sizes, at most 256 sweeps and 65536 "
              "entries (unless sparse); use jvp(y, v, u) or grad for "
              "products with vectors");
  Shape js = {.rank = 2, .d = {ny, nv}};
  return nv <= ny ? forward_sweeps(L, y, v, ny, nv, &js)
                  : reverse_sweeps(L, y, v, ny, nv, &js);
}

/* ---- sparse Jacobians: compressed sweeps, decompressed through a band ---- */

enum { MAX_DIAGONALS = 64, MAX_SPARSE_ENTRIES = 1 << 24 };

/* Column d - dmin of the band [ny, width]: w (m values) from row i0. */
static uint32_t in_band(Graph *g, uint32_t w, int64_t d, int64_t dmin,
                        int64_t i0, int64_t m, const Shape *band) {
  Shape col = {.rank = 2, .d = {m, 1}};
  int64_t at[MAX_RANK] = {i0, d - dmin};
  return graph_window(g, OP_PAD, graph_shaped(g, OP_RESHAPE, w, &col), at,
                      band);
}

/* The band B (B[i, d - dmin] = J[i, i + d]) as the [ny, nv] matrix J,
 * flattened: J's entry (i, i + d) is at i (nv + 1) + d, which is B's
 * (i, d - dmin) when B is widened to nv + 1 columns, flattened and shifted
 * by dmin. Whatever the shift moves past either end is outside the band's
 * entries, so zero. Two passes over ny * nv elements. */
static uint32_t unband(Graph *g, uint32_t band, int64_t dmin, int64_t ny,
                       int64_t nv) {
  Shape wide = {.rank = 2, .d = {ny, nv + 1}};
  Shape flat = {.rank = 1, .d = {ny * (nv + 1)}}, t = {.rank = 1, .d = {ny * nv}};
  int64_t zero[MAX_RANK] = {0}, at[MAX_RANK] = {dmin < 0 ? -dmin : 0};
  uint32_t r = graph_shaped(g, OP_RESHAPE,
                            graph_window(g, OP_PAD, band, zero, &wide), &flat);
  if (dmin < 0)
    return graph_window(g, OP_SLICE, r, at, &t);
  if (dmin > 0) {
    Shape s = {.rank = 1, .d = {dmin + ny * (nv + 1)}};
    int64_t shift[MAX_RANK] = {dmin};
    r = graph_window(g, OP_PAD, r, shift, &s);
  }
  return graph_window(g, OP_SLICE, r, zero, &t);
}

static int has_entry(const Pattern *p, int64_t i, int64_t j) {
  int64_t lo = p->rowstart[i], hi = p->rowstart[i + 1];
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (p->col[mid] == j)
      return 1;
    if (p->col[mid] < j)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

/* Diagonal d's entries, from row i0 = max(0, -d) on: the sweep of each
 * column's colour, sliced to the rows the diagonal crosses, masked to the
 * entries of the pattern. */
static uint32_t diagonal(Lower *L, const Pattern *p, const int64_t *colour,
                         int64_t ncol, const uint32_t *sweep, int64_t d) {
  Graph *g = L->g;
  int64_t i0 = d < 0 ? -d : 0, end = p->ny < p->nv - d ? p->ny : p->nv - d;
  int64_t m = end - i0;
  double *mask = ctx_realloc(L->c, NULL, (size_t)m * sizeof *mask);
  uint32_t w = NONE;
  Shape ms = {.rank = 1, .d = {m}};
  for (int64_t c = 0; c < ncol; c++) {
    int64_t hits = 0, at[MAX_RANK] = {i0};
    for (int64_t k = 0; k < m; k++) {
      int64_t i = i0 + k, j = i + d;
      mask[k] = colour[j] == c && has_entry(p, i, j);
      hits += mask[k] != 0;
    }
    if (!hits)
      continue;
    uint32_t piece = graph_window(g, OP_SLICE, sweep[c], at, &ms);
    if (hits < m)
      piece = graph_op2(g, OP_MUL, piece, graph_tensor(g, mask, &ms));
    w = w == NONE ? piece : graph_op2(g, OP_ADD, w, piece);
  }
  ctx_release(L->c, mask);
  return w;
}

/* One forward sweep per colour, along the sum of its columns' unit vectors:
 * the sweeps as [ny] vectors. */
static uint32_t *colour_sweeps(Lower *L, uint32_t y, uint32_t v,
                               const int64_t *colour, int64_t ncol,
                               int64_t ny, int64_t nv) {
  Shape vs = *graph_at(L->g, v)->shape, flat = {.rank = 1, .d = {ny}};
  uint32_t *sweep = ctx_realloc(L->c, NULL, (size_t)ncol * sizeof *sweep);
  double *u = ctx_realloc(L->c, NULL, (size_t)nv * sizeof *u);
  for (int64_t c = 0; c < ncol; c++) {
    for (int64_t j = 0; j < nv; j++)
      u[j] = colour[j] == c;
    lower_grad_work(L, L->g->pos, y);
    uint32_t t = jvp_build(L->g, y, v, graph_tensor(L->g, u, &vs));
    sweep[c] = graph_shaped(L->g, OP_RESHAPE, t, &flat);
  }
  ctx_release(L->c, u);
  return sweep;
}

/* The diagonals (column minus row) the pattern has entries on, in
 * on[0 .. ny + nv - 2] (index d + ny - 1); the lowest in *dmin; the band's
 * width (highest - lowest + 1). */
static int64_t diagonals(Ctx *c, const Pattern *p, uint8_t **on,
                         int64_t *dmin) {
  int64_t n = p->ny + p->nv - 1, lo = n, hi = -n;
  *on = ctx_realloc(c, NULL, (size_t)n);
  memset(*on, 0, (size_t)n);
  for (int64_t i = 0; i < p->ny; i++)
    for (int64_t k = p->rowstart[i]; k < p->rowstart[i + 1]; k++) {
      int64_t d = p->col[k] - i;
      (*on)[d + p->ny - 1] = 1;
      lo = d < lo ? d : lo;
      hi = d > hi ? d : hi;
    }
  *dmin = lo;
  return hi - lo + 1;
}

/* d y / d v as [ny * nv] from the pattern's compressed sweeps, where they
 * are fewer than `dense` (the sweeps without sparsity) and at most 256, and
 * the entries lie in a band at most 64 diagonals wide (chains, grids
 * numbered along the band, block-diagonal with small blocks, ...); else
 * NONE. */
static uint32_t sparse_sweeps(Lower *L, const Pattern *p, uint32_t y,
                              uint32_t v, int64_t dense) {
  if (p->ny * p->nv > MAX_SPARSE_ENTRIES)
    return NONE;
  int64_t *colour = ctx_realloc(L->c, NULL, (size_t)(p->nv + 1) * 8);
  int64_t ncol = sparsity_colour(L->c, p, colour);
  uint8_t *on;
  int64_t dmin, width = diagonals(L->c, p, &on, &dmin);
  uint32_t r = NONE;
  if (p->nnz == 0) {
    Shape t = {.rank = 1, .d = {p->ny * p->nv}};
    r = graph_const(L->g, 0, &t);
  } else if (ncol < dense && ncol <= 256 && width <= MAX_DIAGONALS &&
             width <= p->nv + 1) { /* the band fits in a row of unband's */
    uint32_t *sweep = colour_sweeps(L, y, v, colour, ncol, p->ny, p->nv);
    Shape band = {.rank = 2, .d = {p->ny, width}};
    for (int64_t d = dmin; d < dmin + width; d++)
      if (on[d + p->ny - 1]) {
        int64_t i0 = d < 0 ? -d : 0, end = p->ny < p->nv - d ? p->ny : p->nv - d;
        uint32_t w = diagonal(L, p, colour, ncol, sweep, d);
        w = in_band(L->g, w, d, dmin, i0, end - i0, &band);
        r = r == NONE ? w : graph_op2(L->g, OP_ADD, r, w);
      }
    r = unband(L->g, r, dmin, p->ny, p->nv);
    ctx_release(L->c, sweep);
  }
  ctx_release(L->c, on);
  ctx_release(L->c, colour);
  return r;
}

/* The sparse Jacobian of y by v, flattened, or NONE (dense is cheaper, or
 * the pattern could not be found). */
static uint32_t sparse_jacobian(Lower *L, uint32_t y, uint32_t v) {
  Pattern p;
  if (!sparsity_pattern(L->g, y, v, (int64_t)64 << 20, &p))
    return NONE;
  int64_t dense = p.ny < p.nv ? p.ny : p.nv;
  uint32_t r = sparse_sweeps(L, &p, y, v, dense);
  sparsity_free(L->c, &p);
  return r;
}

uint32_t lower_jacobian(Lower *L, const Builtin *b, const Args *x,
                        Scope *s) {
  (void)b;
  uint32_t y = lower_expr(L, x->v[0], s);
  uint32_t v = variable(L, x, 1, s);
  Shape ys = *graph_at(L->g, y)->shape, vs = *graph_at(L->g, v)->shape;
  if (ys.rank + vs.rank > L->c->lim.max_rank)
    ctx_error(L->c, x->call->pos, EXPRC_ERR_LIMIT,
              "jacobian's rank %d (y's plus v's) is above the limit %d",
              ys.rank + vs.rank, L->c->lim.max_rank);
  Shape out = {.rank = ys.rank + vs.rank};
  for (int i = 0; i < ys.rank; i++)
    out.d[i] = ys.d[i];
  for (int i = 0; i < vs.rank; i++)
    out.d[ys.rank + i] = vs.d[i];
  L->g->pos = x->call->pos;
  uint32_t j = sparse_jacobian(L, y, v);
  if (j == NONE)
    j = dense_jacobian(L, x, y, v);
  return graph_shaped(L->g, OP_RESHAPE, j, &out);
}

/* hessian(e, v): the Jacobian of grad(e, v), by compressed sweeps where its
 * pattern allows, else as before (lower_hessian_dense). */
uint32_t lower_hessian(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  uint32_t e = lower_expr(L, x->v[0], s);
  Op vop = (Op)graph_at(L->g, lower_expr(L, x->v[1], s))->op;
  if (graph_at(L->g, e)->shape->rank != 0 ||
      (vop != OP_INPUT && vop != OP_PARAM)) /* its errors */
    return lower_hessian_dense(L, b, x, s);
  uint32_t v = lower_expr(L, x->v[1], s), g, h;
  Shape vs = *graph_at(L->g, v)->shape;
  int64_t n;
  L->g->pos = x->call->pos;
  lower_grad_work(L, x->call->pos, e);
  grad_build(L->g, e, &v, 1, &g);
  if (!shape_numel_const(&vs, &n) || (h = sparse_jacobian(L, g, v)) == NONE)
    return lower_hessian_dense(L, b, x, s);
  Shape hs = {.rank = 2, .d = {n, n}};
  return graph_shaped(L->g, OP_RESHAPE, h, &hs);
}
