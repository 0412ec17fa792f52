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
 */
#include "lower_impl.h"

#include "grad.h"
#include "jvp.h"
#include "shape.h"

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
  Shape vs = graph_at(L->g, v)->shape, us = graph_at(L->g, u)->shape;
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
  Shape vs = graph_at(L->g, v)->shape, col = {.rank = 2, .d = {ny, 1}};
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

uint32_t lower_jacobian(Lower *L, const Builtin *b, const Args *x,
                        Scope *s) {
  (void)b;
  uint32_t y = lower_expr(L, x->v[0], s);
  uint32_t v = variable(L, x, 1, s);
  Shape ys = graph_at(L->g, y)->shape, vs = graph_at(L->g, v)->shape;
  int64_t ny, nv;
  if (!shape_numel_const(&ys, &ny) || !shape_numel_const(&vs, &nv) ||
      (ny < nv ? ny : nv) > 256 || ny * nv > 65536)
    ctx_error(L->c, x->call->pos, EXPRC_ERR_LIMIT,
              "jacobian is for constant sizes, at most 256 sweeps and 65536 "
              "entries; use jvp(y, v, u) or grad for products with vectors");
  if (ys.rank + vs.rank > L->c->lim.max_rank)
    ctx_error(L->c, x->call->pos, EXPRC_ERR_LIMIT,
              "jacobian's rank %d (y's plus v's) is above the limit %d",
              ys.rank + vs.rank, L->c->lim.max_rank);
  Shape js = {.rank = 2, .d = {ny, nv}}, out = {.rank = ys.rank + vs.rank};
  for (int i = 0; i < ys.rank; i++)
    out.d[i] = ys.d[i];
  for (int i = 0; i < vs.rank; i++)
    out.d[ys.rank + i] = vs.d[i];
  L->g->pos = x->call->pos;
  uint32_t j = nv <= ny ? forward_sweeps(L, y, v, ny, nv, &js)
                        : reverse_sweeps(L, y, v, ny, nv, &js);
  return graph_shaped(L->g, OP_RESHAPE, j, &out);
}
