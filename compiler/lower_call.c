/* lower_call.c: lowering of calls: the built-in functions (reductions,
 * normalisers, reshape, grad, hessian, and the elementwise functions of
 * ops.def) and the inlining of defs, whose parameters are bound in a local
 * scope at each call.
 */
#include "lower_impl.h"

#include <string.h>

#include "grad.h"
#include "shape.h"

/* ---- built-in functions ---- */

static void arity(Lower *L, Ast *a, int lo, int hi) {
  if (a->nkid < lo || a->nkid > hi) {
    if (lo == hi)
      ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX,
                "'%.64s' takes %d argument%s, not %d", a->name, lo,
                lo == 1 ? "" : "s", a->nkid);
    ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX,
              "'%.64s' takes %d to %d arguments, not %d", a->name, lo, hi,
              a->nkid);
  }
}

static int axis_arg(Lower *L, Ast *a, int rank) {
  if (rank == 0)
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "a scalar has no axis");
  int64_t ax = lower_const_int(L, a, "axis", -rank, rank - 1);
  return (int)(ax < 0 ? ax + rank : ax);
}

/* The number of elements reduced over by mask, as a node: constant sizes
 * multiply into one constant, symbolic dims are DIMVAL leaves. */
static uint32_t count_node(Lower *L, const Shape *s, unsigned mask) {
  double k = 1;
  uint32_t n = NONE;
  for (int i = 0; i < s->rank; i++) {
    if (!(mask & (1u << i)))
      continue;
    if (!DIM_IS_SYM(s->d[i])) {
      k *= (double)s->d[i];
      continue;
    }
    uint32_t d = graph_leaf(L->g, OP_DIMVAL, DIM_INDEX(s->d[i]), &(Shape){0});
    n = n == NONE ? d : graph_op2(L->g, OP_MUL, n, d);
  }
  uint32_t kc = graph_scalar(L->g, k);
  return n == NONE ? kc : graph_op2(L->g, OP_MUL, n, kc);
}

/* sum, mean, max, min, logsumexp: f(x) over all axes, f(x, axis) over one */
static uint32_t reduction(Lower *L, Ast *a, Scope *s, Op op, int mean) {
  arity(L, a, 1, 2);
  uint32_t x = lower_expr(L, a->kid[0], s);
  Shape xs = graph_at(L->g, x)->shape;
  unsigned mask = (1u << xs.rank) - 1;
  if (a->nkid == 2)
    mask = 1u << axis_arg(L, a->kid[1], xs.rank);
  L->g->pos = a->pos;
  uint32_t r = graph_reduce(L->g, op, x, mask);
  if (mean)
    r = graph_op2(L->g, OP_DIV, r, count_node(L, &xs, mask));
  return r;
}

/* softmax(x), log_softmax(x): along the last axis, or the one given. Both
 * are built on logsumexp, so neither overflows:
 * log_softmax(x) = x - logsumexp(x), softmax(x) = exp(log_softmax(x)). */
static uint32_t normaliser(Lower *L, Ast *a, Scope *s, int log) {
  arity(L, a, 1, 2);
  uint32_t x = lower_expr(L, a->kid[0], s);
  Shape xs = graph_at(L->g, x)->shape;
  unsigned mask = xs.rank ? 1u << (xs.rank - 1) : 0;
  if (a->nkid == 2)
    mask = 1u << axis_arg(L, a->kid[1], xs.rank);
  L->g->pos = a->pos;
  uint32_t lse = graph_reduce(L->g, OP_LSE, x, mask);
  uint32_t r = graph_op2(L->g, OP_SUB, x, graph_spread(L->g, lse, &xs, mask));
  return log ? r : graph_op1(L->g, OP_EXP, r);
}

/* reshape(x, [a, b, ...]); one size may be -1, inferred */
static uint32_t reshape(Lower *L, Ast *a, Scope *s) {
  arity(L, a, 2, 2);
  uint32_t x = lower_expr(L, a->kid[0], s);
  Ast *d = a->kid[1];
  if (d->kind != A_LIST)
    ctx_error(L->c, d->pos, EXPRC_ERR_SYNTAX,
              "reshape takes its new shape as a list, such as [2, 3]");
  if (d->nkid > L->c->lim.max_rank)
    ctx_error(L->c, d->pos, EXPRC_ERR_LIMIT, "rank %d is above the limit %d",
              d->nkid, L->c->lim.max_rank);
  Shape t = {.rank = d->nkid};
  int infer = -1;
  int64_t known = 1, total;
  for (int i = 0; i < d->nkid; i++) {
    t.d[i] = lower_const_int(L, d->kid[i], "a size", -1, L->c->lim.max_elements);
    if (t.d[i] == 0 || (t.d[i] == -1 && infer >= 0))
      ctx_error(L->c, d->kid[i]->pos, EXPRC_ERR_SHAPE,
                "sizes are positive; one may be -1 (inferred)");
    if (t.d[i] == -1)
      infer = i;
    else
      known *= t.d[i];
  }
  if (infer >= 0) {
    if (!shape_numel_const(&graph_at(L->g, x)->shape, &total) ||
        total % known)
      ctx_error(L->c, d->pos, EXPRC_ERR_SHAPE,
                "cannot infer the size marked -1");
    t.d[infer] = total / known;
  }
  L->g->pos = a->pos;
  return graph_shaped(L->g, OP_RESHAPE, x, &t);
}

/* grad(e, v): the gradient of scalar e with respect to the declared v
 * (whose node goes to *vout, when wanted) */
static uint32_t grad_call(Lower *L, Ast *a, Scope *s, uint32_t *vout) {
  arity(L, a, 2, 2);
  uint32_t e = lower_expr(L, a->kid[0], s);
  uint32_t v = lower_expr(L, a->kid[1], s);
  Op vop = (Op)graph_at(L->g, v)->op;
  if (vop != OP_INPUT && vop != OP_PARAM)
    ctx_error(L->c, a->kid[1]->pos, EXPRC_ERR_NAME,
              "grad needs an input or param to differentiate by");
  if (graph_at(L->g, e)->shape.rank != 0) {
    char sb[96];
    ctx_error(L->c, a->kid[0]->pos, EXPRC_ERR_SHAPE,
              "grad needs a scalar to differentiate, not %s",
              shape_str(&graph_at(L->g, e)->shape, L->c->dimnames, sb,
                        sizeof sb));
  }
  uint32_t out;
  L->g->pos = a->pos;
  lower_grad_work(L, a->pos, e);
  grad_build(L->g, e, &v, 1, &out);
  if (vout)
    *vout = v;
  return out;
}

/* hessian(e, v): the dense matrix [n, n] of second derivatives of scalar e
 * with respect to v (n elements, any shape, flattened in C order): row k is
 * the gradient of the k-th element of grad(e, v). n grad passes, so this is
 * for small v; Hessian-vector products, grad(sum(grad(e, v) * u), v), cost
 * one. */
static uint32_t hessian_call(Lower *L, Ast *a, Scope *s) {
  uint32_t v, g = grad_call(L, a, s, &v); /* checks e and v, as grad does */
  Shape vs = graph_at(L->g, v)->shape;
  int64_t n;
  if (!shape_numel_const(&vs, &n) || n > 256)
    ctx_error(L->c, a->kid[1]->pos, EXPRC_ERR_LIMIT,
              "hessian is for up to 256 constant-sized elements; use a "
              "Hessian-vector product grad(sum(grad(e, v) * u), v)");
  Shape flat = {.rank = 1, .d = {n}}, row = {.rank = 2, .d = {1, n}};
  Shape hs = {.rank = 2, .d = {n, n}}, one = {.rank = 1, .d = {1}};
  L->g->pos = a->pos;
  uint32_t gf = graph_shaped(L->g, OP_RESHAPE, g, &flat), h = NONE;
  for (int64_t k = 0; k < n; k++) {
    int64_t at[MAX_RANK] = {k}, corner[MAX_RANK] = {k, 0};
    uint32_t gk = graph_window(L->g, OP_SLICE, gf, at, &one);
    gk = graph_shaped(L->g, OP_RESHAPE, gk, &(Shape){0});
    uint32_t hk;
    lower_grad_work(L, a->pos, gk);
    grad_build(L->g, gk, &v, 1, &hk);
    hk = graph_shaped(L->g, OP_RESHAPE, hk, &row);
    hk = graph_window(L->g, OP_PAD, hk, corner, &hs);
    h = h == NONE ? hk : graph_op2(L->g, OP_ADD, h, hk);
  }
  return h;
}

static uint32_t builtin_op(Lower *L, Ast *a, Scope *s, Op op) {
  arity(L, a, op_info[op].arity, op_info[op].arity);
  uint32_t in[3] = {0, 0, 0};
  for (int i = 0; i < a->nkid; i++)
    in[i] = lower_expr(L, a->kid[i], s);
  L->g->pos = a->pos;
  if (op == OP_TRANSPOSE || op_info[op].arity == 1)
    return graph_op1(L->g, op, in[0]);
  if (op_info[op].arity == 2)
    return graph_op2(L->g, op, in[0], in[1]);
  return graph_op3(L->g, op, in[0], in[1], in[2]);
}

static uint32_t inline_def(Lower *L, Ast *a, Scope *s, Binding *b) {
  Stmt *d = b->def;
  if (a->nkid != d->nparams)
    ctx_error(L->c, a->pos, EXPRC_ERR_SYNTAX,
              "'%.64s' takes %d argument%s, not %d", a->name, d->nparams,
              d->nparams == 1 ? "" : "s", a->nkid);
  if (b->active)
    ctx_error(L->c, a->pos, EXPRC_ERR_NAME,
              "'%.64s' calls itself; recursion is not allowed", a->name);
  if (L->depth >= L->c->lim.max_depth)
    ctx_error(L->c, a->pos, EXPRC_ERR_LIMIT,
              "function calls nested deeper than %d levels",
              L->c->lim.max_depth);
  Scope in = {.up = s, .def = d, .params = b->params};
  in.arg = ctx_alloc(L->c, (size_t)(a->nkid + 1) * sizeof *in.arg);
  for (int i = 0; i < a->nkid; i++)
    in.arg[i] = lower_expr(L, a->kid[i], s);
  b->active = 1;
  L->depth++;
  uint32_t r = lower_expr(L, d->expr, &in);
  L->depth--;
  b->active = 0;
  return r;
}

uint32_t lower_call(Lower *L, Ast *a, Scope *s) {
  Binding *b = lower_lookup(L, a->name);
  if (b && b->kind == B_DEF)
    return inline_def(L, a, s, b);
  static const struct { const char *name; Op op; int mean; } reducers[] = {
      {"sum", OP_SUM, 0}, {"mean", OP_SUM, 1}, {"max", OP_MAX, 0},
      {"min", OP_MIN, 0}, {"logsumexp", OP_LSE, 0}};
  for (size_t i = 0; i < sizeof reducers / sizeof reducers[0]; i++)
    if (strcmp(a->name, reducers[i].name) == 0)
      return reduction(L, a, s, reducers[i].op, reducers[i].mean);
  if (strcmp(a->name, "softmax") == 0 || strcmp(a->name, "log_softmax") == 0)
    return normaliser(L, a, s, a->name[0] == 'l');
  if (strcmp(a->name, "reshape") == 0)
    return reshape(L, a, s);
  if (strcmp(a->name, "grad") == 0)
    return grad_call(L, a, s, NULL);
  if (strcmp(a->name, "hessian") == 0)
    return hessian_call(L, a, s);
  if (strcmp(a->name, "dot") == 0) {
    arity(L, a, 2, 2);
    uint32_t x = lower_expr(L, a->kid[0], s), y = lower_expr(L, a->kid[1], s);
    L->g->pos = a->pos;
    L->g->spelling = "dot";
    uint32_t r = graph_op2(L->g, OP_MATMUL, x, y);
    L->g->spelling = NULL;
    return r;
  }
  for (int op = 0; op < OP_COUNT; op++)
    if ((op_info[op].flags & F_FUNC) && strcmp(op_info[op].dsl, a->name) == 0)
      return builtin_op(L, a, s, (Op)op);
  if (b)
    ctx_error(L->c, a->pos, EXPRC_ERR_NAME,
              "'%.64s' is not a function", a->name);
  lower_unknown(L, a->pos, "function", a->name, s);
}
