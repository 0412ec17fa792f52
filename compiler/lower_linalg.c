/* lower_linalg.c: the linear-algebra built-ins (cholesky, solve,
 * solve_triangular, inv, det, logdet, trace, diag, diagonal, eye, outer).
 * The factorisations and solves are nodes of their own (linalg.c); the rest
 * are made of existing nodes and a mask: trace(A) is sum(A * eye),
 * inv(A) is solve(A, eye).
 */
#include "lower_impl.h"

#include "linalg.h"
#include "shape.h"

static uint32_t arg(Lower *L, const Args *x, int k, Scope *s) {
  uint32_t v = lower_expr(L, x->v[k], s);
  L->g->pos = x->call->pos;
  return v;
}

static Shape shape_of(Lower *L, uint32_t v) { return L->g->node[v].shape; }

static NORETURN void want_matrix(Lower *L, const Args *x, uint32_t v) {
  char sb[96];
  Shape s = shape_of(L, v);
  ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE,
            "'%s' takes a matrix (2 axes), not %s", x->call->name,
            shape_str(&s, L->c->dimnames, sb, sizeof sb));
}

/* cholesky(a), det(a), logdet(a) */
uint32_t lower_la_unary(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  uint32_t a = arg(L, x, 0, s);
  if (b->op == OP_CHOL)
    return la_chol(L->g, a);
  return la_det(L->g, a, b->op == OP_LOGDET);
}

/* solve(a, b); solve_triangular(a, b, lower=0, trans=0) (SciPy's default:
 * upper) */
uint32_t lower_la_solve(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  uint32_t a = arg(L, x, 0, s), r = arg(L, x, 1, s);
  if (b->op == OP_LUSOLVE)
    return la_solve(L->g, a, r, 0);
  int lower = (int)lower_opt_int(L, x->v[2], 0, "lower (0 or 1)", 0, 1);
  int trans = (int)lower_opt_int(L, x->v[3], 0, "trans (0 or 1)", 0, 1);
  L->g->pos = x->call->pos;
  return la_trsolve(L->g, a, r, (lower ? LA_LOWER : 0) | (trans ? LA_TRANS : 0));
}

/* eye(n): n a constant or a dim */
uint32_t lower_la_eye(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b, (void)s;
  Ast *a = x->v[0];
  Binding *d = a->kind == A_NAME ? lower_lookup(L, a->name) : NULL;
  int64_t n = d && d->kind == B_DIM
                  ? DIM_SYM(d->index)
                  : lower_const_int(L, a, "a size (a number or a dim)", 1,
                                    L->c->lim.max_elements);
  L->g->pos = x->call->pos;
  return la_mask(L->g, LA_EYE, n);
}

/* inv(a) = solve(a, eye), the identity broadcast over a's batch axes */
uint32_t lower_la_inv(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b;
  uint32_t a = arg(L, x, 0, s);
  Shape sa = shape_of(L, a);
  if (sa.rank < 2)
    want_matrix(L, x, a);
  uint32_t eye = la_mask(L->g, LA_EYE, sa.d[sa.rank - 1]);
  if (sa.rank > 2)
    eye = graph_shaped(L->g, OP_BCAST, eye, &sa);
  return la_solve(L->g, a, eye, 0);
}

/* The diagonal of a 2-D a, as NumPy's diagonal: min(m, n) elements. */
static uint32_t diagonal_of(Lower *L, const Args *x, uint32_t a) {
  Shape sa = shape_of(L, a);
  if (sa.rank != 2)
    want_matrix(L, x, a);
  int64_t n = sa.d[0];
  if (sa.d[0] != sa.d[1]) {
    if (DIM_IS_SYM(sa.d[0]) || DIM_IS_SYM(sa.d[1]))
      want_matrix(L, x, a); /* a dim-sized non-square matrix: no min */
    n = sa.d[0] < sa.d[1] ? sa.d[0] : sa.d[1];
    int64_t at[MAX_RANK] = {0};
    Shape sq = {.rank = 2, .d = {n, n}};
    a = graph_window(L->g, OP_SLICE, a, at, &sq);
  }
  uint32_t m = graph_op2(L->g, OP_MUL, a, la_mask(L->g, LA_EYE, n));
  return graph_sum(L->g, m, 2u);
}

/* diagonal(a); trace(a) (variant 1); diag(v): a vector's diagonal matrix,
 * a matrix's diagonal (variant 2) */
uint32_t lower_la_diag(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  uint32_t a = arg(L, x, 0, s);
  Shape sa = shape_of(L, a);
  if (b->variant == 2 && sa.rank == 1)
    return graph_op2(L->g, OP_MUL, a, la_mask(L->g, LA_EYE, sa.d[0]));
  if (b->variant == 2 && sa.rank != 2) {
    char sb[96];
    ctx_error(L->c, x->v[0]->pos, EXPRC_ERR_SHAPE,
              "'diag' takes a vector or a matrix, not %s",
              shape_str(&sa, L->c->dimnames, sb, sizeof sb));
  }
  uint32_t d = diagonal_of(L, x, a);
  return b->variant == 1 ? graph_sum(L->g, d, 1u) : d;
}

/* a, flattened as NumPy's outer does, as a [n, 1] or [1, n] matrix */
static uint32_t flat(Lower *L, const Args *x, int k, uint32_t v, int column) {
  Shape sv = shape_of(L, v);
  int64_t n = sv.rank == 1 ? sv.d[0] : 1;
  if (sv.rank > 1 && !shape_numel_const(&sv, &n)) {
    char sb[96];
    ctx_error(L->c, x->v[k]->pos, EXPRC_ERR_SHAPE, "'outer' flattens its "
              "arguments; %s has several dim-sized axes",
              shape_str(&sv, L->c->dimnames, sb, sizeof sb));
  }
  Shape t = {.rank = 2, .d = {column ? n : 1, column ? 1 : n}};
  return graph_shaped(L->g, OP_RESHAPE, v, &t);
}

/* outer(a, b)[i, j] = a.flat[i] * b.flat[j] */
uint32_t lower_la_outer(Lower *L, const Builtin *b, const Args *x, Scope *s) {
  (void)b;
  uint32_t u = arg(L, x, 0, s), v = arg(L, x, 1, s);
  u = flat(L, x, 0, u, 1);
  v = flat(L, x, 1, v, 0);
  return graph_op2(L->g, OP_MATMUL, u, v);
}
