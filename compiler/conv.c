/* conv.c: the geometry of convolutions, pooling and random draws: their
 * attributes packed into nodes, their shape rules, and the sizes the emitter
 * gives the runtime's kernels (runtime/layers.c).
 *
 * The five ops of the SH_CONV group share one geometry, PyTorch's: an input
 * x[N, C, H, W] (1-D: [N, C, L], taken as H = 1), weights w[O, C/groups, KH,
 * KW], output y[N, O, OH, OW] with OH = (H + 2 ph - dh (KH - 1) - 1) / sh + 1
 * rounded down. CONV is the cross-correlation y = conv(x, w); CONV_TX(gy, w)
 * and CONV_TW(x, gy) are its input and weight gradients (their result
 * shapes, which the output size does not fix when the stride is above 1,
 * are targets). Pools have no w: the window is an attribute and O = C.
 * Only N may be a `dim`: the other sizes fix the output's, which a shape
 * holds only as constants.
 *
 * Attributes go into the node's start[] words (a 32-bit word for each of
 * the two spatial axes) and u.word (groups), which hash-consing compares:
 * two convolutions with different strides are different nodes.
 */
#include "conv.h"

#include <stdarg.h>
#include <string.h>

#include "shape.h"

/* Each attribute is a pair (rows, columns): two of start[]'s 32-bit
 * words, stride in 0-1, padding 2-3, dilation 4-5, window 6-7 (lowering
 * bounds them far below 2^31). */
static void put_pair(int32_t *w, int at, const int64_t v[2]) {
  w[at] = (int32_t)v[0];
  w[at + 1] = (int32_t)v[1];
}

static void get_pair(const Node *p, int at, int64_t v[2]) {
  v[0] = p->start[at];
  v[1] = p->start[at + 1];
}

void conv_pack(Node *p, int32_t w[MAX_RANK], const ConvAttr *a) {
  put_pair(w, 0, a->stride);
  put_pair(w, 2, a->pad);
  put_pair(w, 4, a->dil);
  put_pair(w, 6, a->kernel);
  p->start = w;
  p->u.word = a->groups;
}

ConvAttr conv_unpack(const Node *p) {
  ConvAttr a;
  get_pair(p, 0, a.stride);
  get_pair(p, 2, a.pad);
  get_pair(p, 4, a.dil);
  get_pair(p, 6, a.kernel);
  a.groups = p->u.word;
  return a;
}

uint32_t conv_node(Graph *g, Op op, uint32_t x, uint32_t y, const ConvAttr *a,
                   const Shape *target) {
  Node p;
  int32_t w[MAX_RANK];
  memset(&p, 0, sizeof p);
  p.op = (uint8_t)op;
  p.in[0] = x;
  p.in[1] = y;
  conv_pack(&p, w, a);
  p.shape = target;
  return graph_node(g, &p);
}

uint32_t conv_like(Graph *g, const Node *n, Op op, uint32_t x, uint32_t y,
                   const Shape *target) {
  ConvAttr a = conv_unpack(n);
  return conv_node(g, op, x, y, &a, target);
}

uint32_t conv_random(Graph *g, Op op, uint32_t a, uint32_t b, const Shape *s) {
  Node p;
  memset(&p, 0, sizeof p);
  p.op = (uint8_t)op;
  p.in[0] = a;
  p.in[1] = b;
  p.shape = s;
  /* A number no other draw has: the node count only grows, and each draw
   * adds a node. Copies made by the simplifier keep it, so one draw read
   * in two places stays one draw. */
  p.u.word = (int64_t)g->n + 1;
  return graph_node(g, &p);
}

/* ---- shape rules ---- */

static const char *what(const Graph *g, const Node *p) {
  if (g->spelling)
    return g->spelling;
  return p->op == OP_POOL_PICK || p->op == OP_POOL_PUT ? "pool" : "conv";
}

static NORETURN PRINTF(3, 4) void bad(Graph *g, const Node *p,
                                      const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE, "%s: %s", what(g, p), msg);
}

static NORETURN void bad_shape(Graph *g, const Node *p, const char *role,
                               const Shape *s, const char *why) {
  char b[96];
  bad(g, p, "%s %s %s", role, shape_str(s, g->c->dimnames, b, sizeof b), why);
}

/* x must be [N, C, L] or [N, C, H, W] with constant C, L, H, W. */
static void check_input(Graph *g, const Node *p, const Shape *x) {
  if (x->rank != 3 && x->rank != 4)
    bad_shape(g, p, "input", x, "is not [N, C, L] or [N, C, H, W]");
  for (int i = 1; i < x->rank; i++)
    if (DIM_IS_SYM(x->d[i]))
      bad_shape(g, p, "input", x,
                "has a dim where only the batch size (axis 0) may be one");
}

/* The output shape of x under kernel kh x kw, o output channels. */
static Shape out_shape(Graph *g, const Node *p, const Shape *x,
                       const ConvAttr *a, int64_t kh, int64_t kw, int64_t o) {
  Shape y = *x;
  y.d[1] = o;
  int64_t in[2] = {x->rank == 4 ? x->d[2] : 1, x->d[x->rank - 1]};
  int64_t k[2] = {kh, kw}, out[2];
  for (int j = 0; j < 2; j++) {
    int64_t span = a->dil[j] * (k[j] - 1) + 1;
    int64_t room = in[j] + 2 * a->pad[j] - span;
    if (room < 0)
      bad_shape(g, p, "input", x, "is smaller than the (dilated) kernel "
                "with its padding");
    out[j] = room / a->stride[j] + 1;
  }
  if (x->rank == 4)
    y.d[2] = out[0];
  y.d[x->rank - 1] = out[1];
  return y;
}

/* conv(x, w)'s output shape, checking that w fits x. */
static Shape conv_out(Graph *g, const Node *p, const Shape *x, const Shape *w,
                      const ConvAttr *a) {
  check_input(g, p, x);
  if (w->rank != x->rank)
    bad_shape(g, p, "weights", w, "do not have the input's rank");
  for (int i = 0; i < w->rank; i++)
    if (DIM_IS_SYM(w->d[i]))
      bad_shape(g, p, "weights", w, "must have constant sizes");
  if (w->d[0] % a->groups)
    bad(g, p, "%lld output channels do not split into %lld groups",
        (long long)w->d[0], (long long)a->groups);
  if (x->d[1] != w->d[1] * a->groups)
    bad(g, p, "the input has %lld channels, the weights (%lld per group, "
        "groups=%lld) expect %lld", (long long)x->d[1], (long long)w->d[1],
        (long long)a->groups, (long long)(w->d[1] * a->groups));
  return out_shape(g, p, x, a, w->rank == 4 ? w->d[2] : 1, w->d[w->rank - 1],
                   w->d[0]);
}

static Shape pool_out(Graph *g, const Node *p, const Shape *x,
                      const ConvAttr *a) {
  check_input(g, p, x);
  return out_shape(g, p, x, a, a->kernel[0], a->kernel[1], x->d[1]);
}

static void must_equal(Graph *g, const Node *p, const Shape *got,
                       const Shape *want) {
  char sa[96], sb[96];
  if (!shape_eq(got, want))
    bad(g, p, "shape %s where %s was expected",
        shape_str(got, g->c->dimnames, sa, sizeof sa),
        shape_str(want, g->c->dimnames, sb, sizeof sb));
}

Shape conv_shape(Graph *g, const Node *p) {
  ConvAttr a = conv_unpack(p);
  const Shape *s0 = g->node[p->in[0]].shape, *s1 = g->node[p->in[1]].shape;
  Shape y;
  if (p->op == OP_CONV)
    return conv_out(g, p, s0, s1, &a);
  if (p->op == OP_CONV_TX) { /* (gy, w) -> x */
    y = conv_out(g, p, p->shape, s1, &a);
    must_equal(g, p, s0, &y);
    return *p->shape;
  }
  if (p->op == OP_CONV_TW) { /* (x, gy) -> w */
    y = conv_out(g, p, s0, p->shape, &a);
    must_equal(g, p, s1, &y);
    return *p->shape;
  }
  if (p->op == OP_POOL_PICK) { /* (x, h): h has x's shape */
    must_equal(g, p, s1, s0);
    return pool_out(g, p, s0, &a);
  }
  y = pool_out(g, p, s0, &a); /* POOL_PUT: (x, gy) -> x */
  must_equal(g, p, s1, &y);
  return *s0;
}

Shape random_shape(Graph *g, const Node *p) {
  for (int k = 0; k < 2; k++) {
    const Shape *s = g->node[p->in[k]].shape;
    Shape t;
    char sa[96], sb[96];
    if (!shape_broadcast(s, p->shape, &t) || !shape_eq(&t, p->shape))
      ctx_error(g->c, g->pos, EXPRC_ERR_SHAPE,
                "%s: a parameter of shape %s does not broadcast to the "
                "shape %s of the draw", g->spelling ? g->spelling : "random",
                shape_str(s, g->c->dimnames, sa, sizeof sa),
                shape_str(p->shape, g->c->dimnames, sb, sizeof sb));
  }
  return *p->shape;
}

/* ---- the kernels' sizes ---- */

ConvGeom conv_geom(const Graph *g, const Node *p) {
  ConvAttr a = conv_unpack(p);
  const Shape *s0 = g->node[p->in[0]].shape, *s1 = g->node[p->in[1]].shape;
  const Shape *x = s0, *w = NULL, *y = p->shape;
  if (p->op == OP_CONV)
    w = s1;
  else if (p->op == OP_CONV_TX)
    x = p->shape, w = s1, y = s0;
  else if (p->op == OP_CONV_TW)
    w = p->shape, y = s1;
  else if (p->op == OP_POOL_PUT)
    y = s1;
  int r = x->rank;
  ConvGeom G = {.n = x->d[0], .c = x->d[1], .h = r == 4 ? x->d[2] : 1,
                .w = x->d[r - 1], .o = y->d[1], .oh = r == 4 ? y->d[2] : 1,
                .ow = y->d[r - 1], .sh = a.stride[0], .sw = a.stride[1],
                .ph = a.pad[0], .pw = a.pad[1], .dh = a.dil[0],
                .dw = a.dil[1], .groups = a.groups};
  G.kh = w ? (r == 4 ? w->d[2] : 1) : a.kernel[0];
  G.kw = w ? w->d[r - 1] : a.kernel[1];
  return G;
}
