/* lower_conv.c: lowering of the layers of vision and generative models:
 * conv1d, conv2d, the max and average pools (PyTorch's layouts and
 * meanings), and the random draws normal, uniform and bernoulli.
 *
 * Convolutions and max pools become the ops of conv.c, whose gradients are
 * ops of the same family (grad.c). An average pool is a depthwise
 * convolution with a constant kernel of 1 / (window size): zeros in the
 * padding count, as PyTorch's count_include_pad=True default does. A
 * random draw is a node of its own, never shared with another draw
 * (conv_random), which the gradient pass treats as a constant; bernoulli(p)
 * is uniform(0, 1) < p.
 */
#include "lower_impl.h"

#include <string.h>

#include "conv.h"
#include "shape.h"

#define GEOM_MAX (1 << 20) /* strides, paddings, dilations, windows */

/* An int, or a list of `sp` ints, for each spatial axis; a 1-D op's value
 * goes to axis 1 (W) and axis 0 keeps the identity `id`. */
static void pair_arg(Lower *L, Ast *a, int sp, int64_t dflt, int64_t lo,
                     int64_t id, const char *what, int64_t out[2]) {
  out[0] = out[1] = dflt;
  if (a && a->kind == A_LIST) {
    if (a->nkid != sp)
      ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE,
                "%s takes one number or a list of %d, not %d", what, sp,
                a->nkid);
    for (int j = 0; j < sp; j++)
      out[2 - sp + j] = lower_const_int(L, a->kid[j], what, lo, GEOM_MAX);
  } else if (a) {
    out[0] = out[1] = lower_const_int(L, a, what, lo, GEOM_MAX);
  }
  if (sp == 1)
    out[0] = id;
}

/* x must have rank sp + 2. */
static uint32_t layer_input(Lower *L, const Builtin *b, Ast *a, Scope *s) {
  uint32_t x = lower_expr(L, a, s);
  const Shape *xs = graph_at(L->g, x)->shape;
  if (xs->rank != b->variant + 2) {
    char sb[96];
    ctx_error(L->c, a->pos, EXPRC_ERR_SHAPE, "%s takes its input as %s, not %s",
              b->name, b->variant == 1 ? "[N, C, L]" : "[N, C, H, W]",
              shape_str(xs, L->c->dimnames, sb, sizeof sb));
  }
  return x;
}

static uint32_t layer_node(Lower *L, const Builtin *b, const Args *a, Op op,
                           uint32_t x, uint32_t y, const ConvAttr *at) {
  L->g->pos = a->call->pos;
  L->g->spelling = b->name;
  uint32_t r = conv_node(L->g, op, x, y, at, NULL);
  L->g->spelling = NULL;
  return r;
}

/* conv1d(x, w, stride, padding, dilation, groups), conv2d(...) */
uint32_t lower_conv_call(Lower *L, const Builtin *b, const Args *a,
                         Scope *s) {
  int sp = b->variant;
  uint32_t x = layer_input(L, b, a->v[0], s);
  uint32_t w = lower_expr(L, a->v[1], s);
  ConvAttr at = {.kernel = {1, 1}};
  pair_arg(L, a->v[2], sp, 1, 1, 1, "stride", at.stride);
  pair_arg(L, a->v[3], sp, 0, 0, 0, "padding", at.pad);
  pair_arg(L, a->v[4], sp, 1, 1, 1, "dilation", at.dil);
  at.groups = lower_opt_int(L, a->v[5], 1, "groups", 1, GEOM_MAX);
  return layer_node(L, b, a, OP_CONV, x, w, &at);
}

/* The constant kernel [C, 1, KH, KW] (1-D: [C, 1, K]) of an average. */
static uint32_t mean_kernel(Lower *L, const Builtin *b, Ast *xa, uint32_t x,
                            const ConvAttr *at) {
  const Shape *xs = graph_at(L->g, x)->shape;
  if (DIM_IS_SYM(xs->d[1]))
    ctx_error(L->c, xa->pos, EXPRC_ERR_SHAPE,
              "%s needs a constant number of channels", b->name);
  Shape ks = {.rank = xs->rank, .d = {xs->d[1], 1, at->kernel[0]}};
  ks.d[xs->rank - 1] = at->kernel[1];
  return graph_const(L->g, 1.0 / (double)(at->kernel[0] * at->kernel[1]),
                     &ks);
}

/* max_pool1d, max_pool2d (op 1), avg_pool1d, avg_pool2d (op 0):
 * (x, kernel, stride=kernel, padding=0) */
uint32_t lower_pool_call(Lower *L, const Builtin *b, const Args *a,
                         Scope *s) {
  int sp = b->variant;
  uint32_t x = layer_input(L, b, a->v[0], s);
  ConvAttr at = {.dil = {1, 1}, .groups = 1};
  pair_arg(L, a->v[1], sp, 1, 1, 1, "kernel", at.kernel);
  at.stride[0] = at.kernel[0], at.stride[1] = at.kernel[1];
  if (a->v[2])
    pair_arg(L, a->v[2], sp, 1, 1, 1, "stride", at.stride);
  pair_arg(L, a->v[3], sp, 0, 0, 0, "padding", at.pad);
  for (int j = 0; j < 2; j++) /* PyTorch's rule: no window all padding */
    if (2 * at.pad[j] > at.kernel[j])
      ctx_error(L->c, a->v[3]->pos, EXPRC_ERR_SHAPE,
                "%s: padding %lld is more than half the window %lld",
                b->name, (long long)at.pad[j], (long long)at.kernel[j]);
  if (b->op)
    return layer_node(L, b, a, OP_POOL_PICK, x, x, &at);
  uint32_t k = mean_kernel(L, b, a->v[0], x, &at);
  at.groups = graph_at(L->g, x)->shape->d[1];
  at.kernel[0] = at.kernel[1] = 1;
  return layer_node(L, b, a, OP_CONV, x, k, &at);
}

/* ---- random draws ---- */

/* A shape written as a list of sizes (constants or dims) or one size. */
static Shape shape_arg(Lower *L, Ast *a) {
  int n = a->kind == A_LIST ? a->nkid : 1;
  if (n > L->c->lim.max_rank || n > MAX_RANK)
    ctx_error(L->c, a->pos, EXPRC_ERR_LIMIT, "rank %d is above the limit %d",
              n, L->c->lim.max_rank < MAX_RANK ? L->c->lim.max_rank
                                               : MAX_RANK);
  Shape t = {.rank = n};
  for (int i = 0; i < n; i++) {
    Ast *k = a->kind == A_LIST ? a->kid[i] : a;
    Binding *d = k->kind == A_NAME ? lower_lookup(L, k->name) : NULL;
    t.d[i] = d && d->kind == B_DIM
                 ? DIM_SYM(d->index)
                 : lower_const_int(L, k, "a size", 1, L->c->lim.max_elements);
  }
  return t;
}

/* v as an operand of a draw of shape t: one element, or t itself. */
static uint32_t draw_operand(Lower *L, uint32_t v, const Shape *t) {
  const Shape *vs = graph_at(L->g, v)->shape;
  int64_t n;
  Shape b;
  if ((shape_numel_const(vs, &n) && n == 1) || shape_eq(vs, t) ||
      !shape_broadcast(vs, t, &b) || !shape_eq(&b, t))
    return v; /* a mismatch is reported by the draw's shape rule */
  return graph_shaped(L->g, OP_BCAST, v, t);
}

static uint32_t draw(Lower *L, const Builtin *b, const Args *a, Op op,
                     uint32_t p, uint32_t q, const Shape *t) {
  L->g->pos = a->call->pos;
  L->g->spelling = b->name;
  p = draw_operand(L, p, t);
  q = draw_operand(L, q, t);
  uint32_t r = conv_random(L->g, op, p, q, t);
  L->g->spelling = NULL;
  return r;
}

/* normal(mean, std, shape) (variant 0), uniform(lo, hi, shape) (1),
 * bernoulli(p) (2) */
uint32_t lower_random_call(Lower *L, const Builtin *b, const Args *a,
                           Scope *s) {
  uint32_t p = lower_expr(L, a->v[0], s);
  if (b->variant == 2) {
    Shape t = *graph_at(L->g, p)->shape;
    uint32_t u = draw(L, b, a, OP_RANDU, graph_scalar(L->g, 0),
                      graph_scalar(L->g, 1), &t);
    return graph_op2(L->g, OP_LT, u, p);
  }
  uint32_t q = lower_expr(L, a->v[1], s);
  Shape t = shape_arg(L, a->v[2]);
  if (b->variant == 1) { /* lo + (hi - lo) u */
    L->g->pos = a->call->pos;
    q = graph_op2(L->g, OP_SUB, q, p);
  }
  return draw(L, b, a, b->variant ? OP_RANDU : OP_RANDN, p, q, &t);
}
