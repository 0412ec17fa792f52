/* sparsity.c: structural sparsity of Jacobians, and column colouring (part
 * of the fourth stage: jacobian and hessian use it to compress their
 * sweeps).
 *
 * Every element of every node between v and y gets the set of elements of
 * v its derivative may depend on, as a bit set: v's element j has {j}; an
 * elementwise op's element has the union of the sets of the input elements
 * it reads (through broadcasting), but only of the inputs it has a
 * derivative by (none for comparisons, sign, floor, ceil, round and
 * stop_gradient; not where's condition nor polygamma's order); a reshape,
 * transpose, slice or pad moves the sets as it moves the elements; a
 * reduction unites them along its axes, and '@' unites a row of one
 * operand with a column of the other. The sets of y's elements are the
 * rows of the pattern. A pass over the nodes in index (topological) order,
 * one switch with a case per op, so that a new op cannot be forgotten.
 */
#include "sparsity.h"

#include <string.h>

typedef struct Sets {
  Graph *g;
  int64_t words;   /* per element: ceil(nv / 64) */
  uint64_t **bits; /* per node: numel * words, or NULL (no dependence) */
} Sets;

static void unravel(int64_t e, const Shape *s, int64_t *idx) {
  for (int i = s->rank - 1; i >= 0; i--) {
    idx[i] = e % s->d[i];
    e /= s->d[i];
  }
}

/* The element of an operand of shape s that output index idx (of rank r)
 * reads under NumPy broadcasting. */
static int64_t broadcast_at(const Shape *s, const int64_t *idx, int r) {
  int64_t off = 0;
  for (int j = 0; j < s->rank; j++)
    off = off * s->d[j] + (s->d[j] == 1 ? 0 : idx[j + r - s->rank]);
  return off;
}

static void unite(uint64_t *to, const uint64_t *from, int64_t w) {
  for (int64_t k = 0; k < w; k++)
    to[k] |= from[k];
}

/* Which inputs an op has a derivative by: bit k for input k. */
static unsigned differentiable(Op op) {
  if (op_info[op].flags & F_CMP)
    return 0;
  switch ((int)op) {
  case OP_SIGN: case OP_FLOOR: case OP_CEIL: case OP_ROUND:
  case OP_STOP_GRADIENT:
    return 0;
  case OP_WHERE:
    return 6;
  case OP_POLYGAMMA:
    return 2;
  }
  return 7;
}

static void elementwise(Sets *S, uint32_t y, uint64_t *out, int64_t n) {
  Node *nd = &S->g->node[y];
  int64_t idx[MAX_RANK];
  unsigned mask = differentiable((Op)nd->op);
  for (int k = 0; k < nd->nin; k++) {
    const uint64_t *in = S->bits[nd->in[k]];
    Shape s = *S->g->node[nd->in[k]].shape;
    if (!in || !(mask & (1u << k)))
      continue;
    for (int64_t e = 0; e < n; e++) {
      unravel(e, nd->shape, idx);
      unite(out + e * S->words,
            in + broadcast_at(&s, idx, nd->shape->rank) * S->words, S->words);
    }
  }
}

/* reshape, transpose, slice, pad: each output element is at most one input
 * element. */
static void movement(Sets *S, uint32_t y, uint64_t *out, int64_t n) {
  Node *nd = &S->g->node[y];
  const uint64_t *in = S->bits[nd->in[0]];
  Shape s = *S->g->node[nd->in[0]].shape;
  int64_t idx[MAX_RANK];
  for (int64_t e = 0; e < n; e++) {
    int64_t at = e, ok = 1;
    unravel(e, nd->shape, idx);
    if (nd->op == OP_TRANSPOSE || nd->op == OP_SLICE || nd->op == OP_PAD) {
      at = 0;
      for (int j = 0; j < s.rank; j++) {
        int64_t i = nd->op == OP_TRANSPOSE ? idx[s.rank - 1 - j]
                    : nd->op == OP_SLICE   ? idx[j] + nd->start[j]
                                           : idx[j] - nd->start[j];
        ok &= i >= 0 && i < s.d[j];
        at = at * s.d[j] + i;
      }
    }
    if (ok)
      unite(out + e * S->words, in + at * S->words, S->words);
  }
}

/* sum, max, min, logsumexp: each input element into the output element
 * its index has without the reduced axes. */
static void reduction(Sets *S, uint32_t y, uint64_t *out) {
  Node *nd = &S->g->node[y];
  const uint64_t *in = S->bits[nd->in[0]];
  Shape s = *S->g->node[nd->in[0]].shape;
  int64_t n, idx[MAX_RANK];
  shape_numel_const(&s, &n);
  for (int64_t e = 0; e < n; e++) {
    int64_t at = 0;
    unravel(e, &s, idx);
    for (int j = 0; j < s.rank; j++)
      if (!(nd->u.axes & (1 << j)))
        at = at * s.d[j] + idx[j];
    unite(out + at * S->words, in + e * S->words, S->words);
  }
}

/* The union of the sets of a [rows, k] (or [k]: one row) operand along k,
 * per row, into r (rows * words, zeroed), when `along_rows`; else of a
 * [k, cols] (or [k]) operand along k, per column. */
static void lines(Sets *S, uint32_t x, int along_rows, uint64_t *r) {
  const uint64_t *in = S->bits[x];
  Shape s = *S->g->node[x].shape;
  if (!in)
    return;
  int64_t rows = s.rank == 2 ? s.d[0] : 1, cols = s.rank == 2 ? s.d[1] : s.d[0];
  if (s.rank == 1 && !along_rows)
    rows = s.d[0], cols = 1;
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      unite(r + (along_rows ? i : j) * S->words,
            in + (i * cols + j) * S->words, S->words);
}

/* a @ b: element (i, j) depends on row i of a and column j of b. */
static void matmul(Sets *S, uint32_t y, uint64_t *out, int64_t n) {
  Node *nd = &S->g->node[y];
  Shape sa = *S->g->node[nd->in[0]].shape, sb = *S->g->node[nd->in[1]].shape;
  int64_t m = sa.rank == 2 ? sa.d[0] : 1, p = sb.rank == 2 ? sb.d[1] : 1;
  uint64_t *ra = ctx_realloc(S->g->c, NULL, (size_t)(m * S->words) * 8);
  uint64_t *cb = ctx_realloc(S->g->c, NULL, (size_t)(p * S->words) * 8);
  memset(ra, 0, (size_t)(m * S->words) * 8);
  memset(cb, 0, (size_t)(p * S->words) * 8);
  lines(S, nd->in[0], 1, ra);
  lines(S, nd->in[1], 0, cb);
  for (int64_t e = 0; e < n; e++) { /* out is [m, p] without the 1s */
    unite(out + e * S->words, ra + (e / p) * S->words, S->words);
    unite(out + e * S->words, cb + (e % p) * S->words, S->words);
  }
  ctx_release(S->g->c, ra);
  ctx_release(S->g->c, cb);
}

/* The ops whose element-by-element structure is not modelled here
 * (factorisations, gathers, layers, ops along an axis, transposes with a
 * permutation, batched products): every output element depends on every
 * element of every input. Safe, since a pattern may only over-state. */
static void dense(Sets *S, uint32_t y, uint64_t *out, int64_t n) {
  Node *nd = &S->g->node[y];
  uint64_t *all = ctx_realloc(S->g->c, NULL, (size_t)S->words * 8);
  memset(all, 0, (size_t)S->words * 8);
  for (int k = 0; k < nd->nin; k++) {
    const uint64_t *in = S->bits[nd->in[k]];
    int64_t m;
    Shape s = *S->g->node[nd->in[k]].shape;
    if (!in || !shape_numel_const(&s, &m))
      continue;
    for (int64_t e = 0; e < m; e++)
      unite(all, in + e * S->words, S->words);
  }
  for (int64_t e = 0; e < n; e++)
    unite(out + e * S->words, all, S->words);
  ctx_release(S->g->c, all);
}

static int matrices_only(Sets *S, uint32_t y) {
  Node *nd = &S->g->node[y];
  return S->g->node[nd->in[0]].shape->rank <= 2 &&
         S->g->node[nd->in[1]].shape->rank <= 2;
}

/* The sets of node y from its inputs' (out: n elements, zeroed). */
static void propagate(Sets *S, uint32_t y, uint64_t *out, int64_t n) {
  switch ((Op)S->g->node[y].op) {
  case OP_INPUT: case OP_PARAM: case OP_CONST: case OP_DIMVAL:
    return; /* v itself is set by the caller; others depend on nothing */
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
  case OP_MULZ: case OP_DIVZ:
  case OP_BCAST:
    elementwise(S, y, out, n);
    return;
  case OP_TRANSPOSE:
    if (S->g->node[y].u.word) /* a permutation other than reversal */
      dense(S, y, out, n);
    else
      movement(S, y, out, n);
    return;
  case OP_RESHAPE: case OP_SLICE: case OP_PAD:
    movement(S, y, out, n);
    return;
  case OP_SUM: case OP_MAX: case OP_MIN: case OP_LSE:
    reduction(S, y, out);
    return;
  case OP_MATMUL:
    (matrices_only(S, y) ? matmul : dense)(S, y, out, n);
    return;
  case OP_ARGMAX: case OP_ARGMIN: case OP_ARGSORT: case OP_ONE_HOT:
  case OP_RANDN: case OP_RANDU: case OP_HOLE:
    return; /* no derivative: no dependence */
  case OP_FLIP: case OP_SHIFT: case OP_SORTBY: case OP_UNSORTBY:
  case OP_STEP: case OP_UNSTEP:
  case OP_PROD: case OP_LINREC: case OP_CUMLSE:
  case OP_CHOL: case OP_TRSOLVE: case OP_LUSOLVE: case OP_DET: case OP_LOGDET:
  case OP_TAKE: case OP_SCATTER: case OP_TAKE_ALONG: case OP_SCATTER_ALONG:
  case OP_SWAPLAST:
  case OP_CONV: case OP_CONV_TX: case OP_CONV_TW:
  case OP_POOL_PICK: case OP_POOL_PUT:
  case OP_LOOP: case OP_ROW: case OP_PUTROW: case OP_ROWSHIFT:
    dense(S, y, out, n);
    return;
  case OP_COUNT:
    break;
  }
}

/* The sets of node i's inputs that no node after i reads are given back:
 * only the frontier of the sweep is held at once. */
static void release_inputs(Sets *S, uint32_t i, uint32_t y,
                           const uint32_t *last, int64_t *used) {
  Node *nd = &S->g->node[i];
  for (int k = 0; k < nd->nin; k++) {
    uint32_t a = nd->in[k];
    int64_t n;
    if (!S->bits[a] || last[a] != i || a == y)
      continue;
    shape_numel_const(S->g->node[a].shape, &n);
    *used -= n * S->words * 8;
    ctx_release(S->g->c, S->bits[a]);
    S->bits[a] = NULL;
  }
}

/* Allocate and compute the sets of every node from v to y; 0 if a size is
 * symbolic or the sets held at once would exceed the budget. */
static int all_sets(Sets *S, uint32_t y, uint32_t v, int64_t nv,
                    int64_t budget, const uint32_t *last) {
  Graph *g = S->g;
  int64_t used = 0;
  for (uint32_t i = v; i <= y; i++) {
    Node *nd = &g->node[i];
    int on = i == v;
    for (int k = 0; k < nd->nin; k++)
      on |= S->bits[nd->in[k]] != NULL;
    int64_t n;
    if (!on)
      continue;
    if (!shape_numel_const(nd->shape, &n) ||
        (used += n * S->words * 8) > budget)
      return 0;
    S->bits[i] = ctx_realloc(g->c, NULL, (size_t)(n * S->words) * 8);
    memset(S->bits[i], 0, (size_t)(n * S->words) * 8);
    if (i == v)
      for (int64_t j = 0; j < nv; j++)
        S->bits[i][j * S->words + j / 64] |= 1ull << (j % 64);
    else
      propagate(S, i, S->bits[i], n);
    release_inputs(S, i, y, last, &used);
  }
  return 1;
}

/* The rows of the pattern from y's sets (NULL: no dependence at all). */
static void rows_of(Ctx *c, const uint64_t *b, int64_t words, Pattern *p) {
  p->rowstart = ctx_realloc(c, NULL, (size_t)(p->ny + 1) * sizeof(int64_t));
  p->nnz = 0;
  for (int64_t i = 0; b && i < p->ny; i++)
    for (int64_t j = 0; j < p->nv; j++)
      p->nnz += (b[i * words + j / 64] >> (j % 64)) & 1;
  p->col = ctx_realloc(c, NULL, (size_t)(p->nnz + 1) * sizeof(int64_t));
  int64_t k = 0;
  for (int64_t i = 0; i < p->ny; i++) {
    p->rowstart[i] = k;
    for (int64_t j = 0; b && j < p->nv; j++)
      if ((b[i * words + j / 64] >> (j % 64)) & 1)
        p->col[k++] = j;
  }
  p->rowstart[p->ny] = k;
}

int sparsity_pattern(Graph *g, uint32_t y, uint32_t v, int64_t budget,
                     Pattern *p) {
  Ctx *c = g->c;
  Shape ys = *g->node[y].shape, vs = *g->node[v].shape;
  if (!shape_numel_const(&ys, &p->ny) || !shape_numel_const(&vs, &p->nv))
    return 0;
  Sets S = {.g = g, .words = (p->nv + 63) / 64};
  S.bits = ctx_realloc(c, NULL, (size_t)(y + 1) * sizeof *S.bits);
  memset(S.bits, 0, (size_t)(y + 1) * sizeof *S.bits);
  uint32_t *last = ctx_realloc(c, NULL, (size_t)(y + 1) * sizeof *last);
  for (uint32_t i = 0; i <= y; i++) /* the last reader of each node */
    for (int k = 0; k < g->node[i].nin; k++)
      last[g->node[i].in[k]] = i;
  ctx_work(c, g->pos, y + 1);
  int ok = v > y || all_sets(&S, y, v, p->nv, budget, last);
  ctx_release(c, last);
  if (ok)
    rows_of(c, v > y ? NULL : S.bits[y], S.words, p);
  for (uint32_t i = 0; i <= y; i++)
    if (S.bits[i])
      ctx_release(c, S.bits[i]);
  ctx_release(c, S.bits);
  return ok;
}

void sparsity_free(Ctx *c, Pattern *p) {
  ctx_release(c, p->rowstart);
  ctx_release(c, p->col);
}

int64_t sparsity_colour(Ctx *c, const Pattern *p, int64_t *colour) {
  /* the columns' rows (the transpose of the pattern) */
  int64_t *cstart = ctx_realloc(c, NULL, (size_t)(p->nv + 1) * sizeof(int64_t));
  int64_t *crow = ctx_realloc(c, NULL, (size_t)(p->nnz + 1) * sizeof(int64_t));
  int64_t *seen = ctx_realloc(c, NULL, (size_t)(p->nv + 1) * sizeof(int64_t));
  memset(cstart, 0, (size_t)(p->nv + 1) * sizeof(int64_t));
  for (int64_t k = 0; k < p->nnz; k++)
    cstart[p->col[k] + 1]++;
  for (int64_t j = 0; j < p->nv; j++)
    cstart[j + 1] += cstart[j];
  for (int64_t j = 0; j <= p->nv; j++)
    seen[j] = cstart[j]; /* next free slot per column */
  for (int64_t i = 0; i < p->ny; i++)
    for (int64_t k = p->rowstart[i]; k < p->rowstart[i + 1]; k++)
      crow[seen[p->col[k]]++] = i;
  int64_t ncolour = 0;
  for (int64_t j = 0; j <= p->nv; j++)
    seen[j] = -1; /* seen[colour] == j: taken by a neighbour of j */
  for (int64_t j = 0; j < p->nv; j++) {
    for (int64_t k = cstart[j]; k < cstart[j + 1]; k++) {
      int64_t i = crow[k];
      for (int64_t q = p->rowstart[i]; q < p->rowstart[i + 1]; q++)
        if (p->col[q] < j)
          seen[colour[p->col[q]]] = j;
    }
    int64_t pick = 0;
    while (seen[pick] == j)
      pick++;
    colour[j] = pick;
    if (pick + 1 > ncolour)
      ncolour = pick + 1;
  }
  ctx_release(c, cstart);
  ctx_release(c, crow);
  ctx_release(c, seen);
  return ncolour;
}
