/* loop.c: LOOP nodes and their gradients (see loop.h for the IR).
 *
 * The gradient of a loop is built once per loop, as a loop of its own (the
 * "backward" loop), whatever gradient flows in: the incoming gradient is
 * one of its sequences. Running the forward loop's steps backwards, its
 * carries are the gradient of the forward carry (ac), the gradients of the
 * captured values summed over the steps (ap), and the gradient of the
 * current row of each sequence (dx, stacked as its output); its sequences
 * are the forward carries before each step, the forward rows, and the
 * incoming gradient G of the stacked carries. Its step is
 *
 *   dc, dx, dp = vjp(step at (carry before, row, captures), ac + G[t])
 *   ac' = dc, ap' = ap + dp, dx' = dx
 *
 * where vjp is grad_build of sum((ac + G[t]) * step results) with respect
 * to the step's holes: the same symbolic pass as everywhere else, so the
 * backward body is an ordinary graph, and a gradient of it (grad of grad)
 * is built the same way.
 */
#include "loop.h"

#include <string.h>

#include "grad.h"

static int64_t numel(Graph *g, const Shape *s) {
  int64_t n;
  if (!shape_numel_const(s, &n))
    ctx_fail(g->c, EXPRC_ERR_INTERNAL, "loop: a hole of symbolic shape");
  return n;
}

uint32_t loop_hole(Graph *g, const Shape *s) {
  Shape copy = *s; /* s may point into g->hole, which may move */
  vec_reserve(g->c, &g->hole, &g->caphole, g->nhole + 1, sizeof *g->hole);
  g->hole[g->nhole] = copy;
  return g->nhole++;
}

uint32_t loop_hole_node(Graph *g, uint32_t hole) {
  Shape s = g->hole[hole];
  return graph_leaf(g, OP_HOLE, hole, &s);
}

uint32_t loop_new(Graph *g, int k, int m, int ncap, const uint32_t *holes) {
  vec_reserve(g->c, &g->loop, &g->caploop, g->nloop + 1, sizeof *g->loop);
  LoopInfo *li = &g->loop[g->nloop];
  int n = k + m + ncap;
  memset(li, 0, sizeof *li);
  li->k = k, li->m = m, li->ncap = ncap, li->bwd = NONE, li->pos = g->pos;
  li->step = g->nloop, li->twin = NONE, li->bwdx = NONE, li->ckpt = NONE;
  li->bwd_ck = li->bwdx_ck = NONE;
  li->hole = ctx_alloc(g->c, (size_t)(n + 1) * sizeof *li->hole);
  li->off = ctx_alloc(g->c, (size_t)(n + 1) * sizeof *li->off);
  li->res = ctx_alloc(g->c, (size_t)(k + 1) * sizeof *li->res);
  int64_t w[3] = {0, 0, 0};
  for (int i = 0; i < n; i++) {
    int group = i < k ? 0 : i < k + m ? 1 : 2;
    li->hole[i] = holes[i];
    li->off[i] = w[group];
    w[group] += numel(g, &g->hole[holes[i]]);
  }
  li->C = w[0], li->X = w[1], li->P = w[2];
  return g->nloop++;
}

static Node node_of(Op op, int nin) {
  Node p;
  memset(&p, 0, sizeof p);
  p.op = (uint8_t)op;
  p.nin = (uint8_t)nin;
  return p;
}

uint32_t loop_node(Graph *g, uint32_t id, uint32_t init, uint32_t seqs,
                   uint32_t caps) {
  Node p = node_of(OP_LOOP, 3);
  p.in[0] = init, p.in[1] = seqs, p.in[2] = caps;
  p.u.word = id;
  p.shape = (Shape){.rank = 2, .d = {g->node[seqs].shape.d[0], g->loop[id].C}};
  if (g->loop[id].fold)
    p.shape = (Shape){.rank = 1, .d = {g->loop[id].C}};
  return graph_node(g, &p);
}

/* A copy of loop id that calls the same step, fold or not. */
static uint32_t loop_variant(Graph *g, uint32_t id, int fold) {
  vec_reserve(g->c, &g->loop, &g->caploop, g->nloop + 1, sizeof *g->loop);
  LoopInfo *li = &g->loop[g->nloop];
  *li = g->loop[id];
  li->fold = fold, li->twin = li->bwd = li->bwdx = NONE;
  li->bwd_ck = li->bwdx_ck = NONE;
  return g->nloop++;
}

uint32_t loop_fold_of(Graph *g, uint32_t id) { return loop_variant(g, id, 1); }

/* The stacked loop of the same step as fold id, for the carries before
 * each step that its gradient needs. */
static uint32_t loop_twin(Graph *g, uint32_t id) {
  if (!g->loop[id].fold)
    return id;
  if (g->loop[id].twin == NONE) {
    uint32_t t = loop_variant(g, id, 0);
    g->loop[id].twin = t;
  }
  return g->loop[id].twin;
}

uint32_t loop_pack(Graph *g, const uint32_t *v, int n, int rows) {
  if (n == 0)
    return graph_const(g, 0, &(Shape){.rank = 1, .d = {1}});
  int64_t T = rows ? g->node[v[0]].shape.d[0] : 0, W = 0, off = 0;
  for (int i = 0; i < n; i++) {
    Shape s = g->node[v[i]].shape;
    if (rows)
      s.d[0] = 1;
    W += numel(g, &s);
  }
  uint32_t acc = NONE;
  for (int i = 0; i < n; i++) {
    Shape s = g->node[v[i]].shape, flat = {.rank = 1 + rows};
    if (rows)
      s.d[0] = 1;
    int64_t w = numel(g, &s);
    flat.d[0] = rows ? T : w, flat.d[rows] = w;
    uint32_t x = graph_shaped(g, OP_RESHAPE, v[i], &flat);
    Shape all = {.rank = 1 + rows, .d = {rows ? T : W, W}};
    int64_t start[MAX_RANK] = {0};
    start[rows] = off;
    if (w != W)
      x = graph_window(g, OP_PAD, x, start, &all);
    acc = acc == NONE ? x : graph_op2(g, OP_ADD, acc, x);
    off += w;
  }
  return acc;
}

uint32_t loop_unpack(Graph *g, uint32_t p, int64_t off, const Shape *s,
                     int rows) {
  Shape ps = g->node[p].shape, win = ps, out = {.rank = s->rank + rows};
  int64_t start[MAX_RANK] = {0};
  start[rows] = off;
  win.d[rows] = numel(g, s);
  uint32_t x = win.d[rows] == ps.d[rows] ? p
                                         : graph_window(g, OP_SLICE, p, start, &win);
  if (rows)
    out.d[0] = ps.d[0];
  memcpy(out.d + rows, s->d, (size_t)s->rank * sizeof s->d[0]);
  return graph_shaped(g, OP_RESHAPE, x, &out);
}

uint32_t loop_row(Graph *g, uint32_t a, uint32_t fb, int first) {
  Node p = node_of(OP_ROW, 2);
  p.in[0] = a, p.in[1] = fb;
  p.u.word = first;
  p.shape = g->node[fb].shape;
  return graph_node(g, &p);
}

static uint32_t putrow(Graph *g, uint32_t a, const Shape *s, int first) {
  Node p = node_of(OP_PUTROW, 1);
  p.in[0] = a;
  p.u.word = first;
  p.shape = *s;
  return graph_node(g, &p);
}

static uint32_t shift(Graph *g, uint32_t a, uint32_t fill, int up) {
  Node p = node_of(OP_ROWSHIFT, 2);
  p.in[0] = a, p.in[1] = fill;
  p.u.word = up;
  p.shape = g->node[a].shape;
  return graph_node(g, &p);
}

static uint32_t zeros_like(Graph *g, uint32_t x) {
  Shape s = g->node[x].shape;
  return graph_const(g, 0, &s);
}

/* 1 when a loop of length T runs no step, else 0, as a scalar node. */
static uint32_t no_steps(Graph *g, int64_t T) {
  if (!DIM_IS_SYM(T))
    return graph_scalar(g, T == 0);
  uint32_t d = graph_leaf(g, OP_DIMVAL, DIM_INDEX(T), &(Shape){0});
  return graph_op2(g, OP_EQ, d, graph_scalar(g, 0));
}

static uint32_t sum_all(Graph *g, uint32_t x) {
  int r = g->node[x].shape.rank;
  return r ? graph_sum(g, x, (1u << r) - 1) : x;
}

/* The holes of a backward loop of f: carries ac (k) then, for the
 * sequences' gradient, dx (m), else ap (ncap); sequences: f's carries, f's
 * rows and, unless f is a fold, G's rows (k, new); captures: f's. */
static int backward_holes(Graph *g, const LoopInfo *f, int want_dx,
                          uint32_t *h) {
  int k = f->k, m = f->m, nc = f->ncap, n = 0;
  for (int j = 0; j < k; j++)
    h[n++] = loop_hole(g, &g->hole[f->hole[j]]);
  for (int j = 0; j < (want_dx ? m : nc); j++)
    h[n++] = loop_hole(g, &g->hole[f->hole[k + (want_dx ? 0 : m) + j]]);
  for (int j = 0; j < k + m; j++)
    h[n++] = f->hole[j];
  for (int j = 0; j < k && !f->fold; j++)
    h[n++] = loop_hole(g, &g->hole[f->hole[j]]);
  for (int j = 0; j < nc; j++)
    h[n++] = f->hole[k + m + j];
  return n;
}

/* A backward loop of loop id (see the top of this file): for the
 * gradient of the sequences (want_dx: a stacked loop of carries ac, dx),
 * or of the initial carries and the captures (a fold of carries ac, ap). */
static uint32_t backward_loop(Graph *g, uint32_t id, int want_dx) {
  LoopInfo f = g->loop[id]; /* a copy: loop_new moves the table */
  int k = f.k, m = f.m, nc = f.ncap, n = k + m + nc, w = want_dx ? m : nc;
  uint32_t *h = ctx_alloc(g->c, (size_t)(2 * n + k + 1) * sizeof *h);
  backward_holes(g, &f, want_dx, h);
  uint32_t b = loop_new(g, k + w, k + m + (f.fold ? 0 : k), nc, h);
  uint32_t *wrt = ctx_alloc(g->c, (size_t)(n + 1) * sizeof *wrt);
  uint32_t *d = ctx_alloc(g->c, (size_t)(n + 1) * sizeof *d), R = NONE;
  for (int j = 0; j < k; j++) { /* sum((ac + G[t]) * next carry) */
    uint32_t adj = loop_hole_node(g, h[j]);
    if (!f.fold)
      adj = graph_op2(g, OP_ADD, adj, loop_hole_node(g, h[2 * k + w + m + j]));
    uint32_t t = sum_all(g, graph_op2(g, OP_MUL, f.res[j], adj));
    R = R == NONE ? t : graph_op2(g, OP_ADD, R, t);
  }
  for (int j = 0; j < n; j++)
    wrt[j] = loop_hole_node(g, f.hole[j]);
  grad_build(g, R, wrt, n, d);
  LoopInfo *bl = &g->loop[b];
  bl->reverse = !f.reverse;
  bl->fold = !want_dx;
  for (int j = 0; j < k; j++)
    bl->res[j] = d[j];
  for (int j = 0; j < w; j++)
    bl->res[k + j] = want_dx ? d[k + j]
                             : graph_op2(g, OP_ADD, loop_hole_node(g, h[k + j]),
                                         d[k + m + j]);
  return b;
}

int64_t loop_ckpt_every(int64_t T) {
  int64_t K = 1;
  while (K * K < T)
    K++;
  return K;
}

Shape loop_ckpt_scratch(Graph *g, uint32_t x) {
  const Node *nd = &g->node[x];
  int64_t T = g->node[nd->in[1]].shape.d[0], K = loop_ckpt_every(T);
  const LoopInfo *f = &g->loop[g->loop[nd->u.word].ckpt];
  return (Shape){.rank = 2, .d = {(T + K - 1) / K + K, f->C}};
}

/* The backward loop b of fold id, recomputing from checkpoints, over the
 * fold's own inputs: B for input k (see loop_ckpt_scratch). */
static uint32_t ckpt_backward(Graph *g, uint32_t id, uint32_t b, int want_dx,
                              uint32_t init_b, const Node *n) {
  uint32_t *cache = want_dx ? &g->loop[id].bwdx_ck : &g->loop[id].bwd_ck;
  if (*cache == NONE) {
    uint32_t v = loop_variant(g, b, g->loop[b].fold);
    g->loop[v].ckpt = id;
    *cache = v;
  }
  uint32_t iv[2] = {init_b, n->in[0]};
  return loop_node(g, *cache, loop_pack(g, iv, 2, 0), n->in[1], n->in[2]);
}

/* The gradient of LOOP y for its input k (0: the initial carries, 1: the
 * sequences, 2: the captures), G being the gradient of its value. */
static uint32_t loop_grad(Graph *g, uint32_t y, int k, uint32_t G) {
  Node n = g->node[y];
  uint32_t id = (uint32_t)n.u.word, init = n.in[0], caps = n.in[2];
  int want_dx = k == 1;
  if (k == 2 && g->loop[id].P == 0)
    return NONE; /* no captures: the input is a placeholder constant */
  uint32_t b = want_dx ? g->loop[id].bwdx : g->loop[id].bwd;
  if (b == NONE) {
    b = backward_loop(g, id, want_dx);
    *(want_dx ? &g->loop[id].bwdx : &g->loop[id].bwd) = b;
  }
  LoopInfo f = g->loop[id];
  int64_t T = g->node[n.in[1]].shape.d[0], w = want_dx ? f.X : f.P;
  Shape ws = {.rank = 1, .d = {w}}, cs = {.rank = 1, .d = {f.C}};
  uint32_t iv[2] = {f.fold ? G : graph_const(g, 0, &cs), graph_const(g, 0, &ws)};
  uint32_t init_b = loop_pack(g, iv, w ? 2 : 1, 0), B;
  if (g->loop_ckpt && f.fold && !f.reverse && f.ckpt == NONE &&
      !DIM_IS_SYM(T) && T > 0) {
    B = ckpt_backward(g, id, b, want_dx, init_b, &n);
  } else {
    uint32_t all = f.fold ? loop_node(g, loop_twin(g, id), init, n.in[1], caps) : y;
    uint32_t sv[3] = {shift(g, all, init, f.reverse), n.in[1], G};
    B = loop_node(g, b, init_b, loop_pack(g, sv, f.fold ? 2 : 3, 1), caps);
  }
  int64_t start[MAX_RANK] = {0, f.C};
  if (want_dx) {
    Shape s = {.rank = 2, .d = {T, f.X}};
    return graph_window(g, OP_SLICE, B, start, &s);
  }
  start[0] = k == 0 ? 0 : f.C;
  Shape s = {.rank = 1, .d = {k == 0 ? f.C : f.P}};
  return graph_window(g, OP_SLICE, B, start, &s);
}

uint32_t loop_rule(Graph *g, uint32_t y, int k, uint32_t G) {
  Node n = g->node[y];
  if (n.op == OP_LOOP && g->loop[n.u.word].ckpt != NONE)
    ctx_error(g->c, g->pos, EXPRC_ERR_INTERNAL, "a gradient of a gradient "
              "through a fold with checkpoints (--remat) is not supported");
  if (n.op == OP_LOOP)
    return loop_grad(g, y, k, G);
  if (n.op == OP_ROW && k == 0)
    return putrow(g, G, &g->node[n.in[0]].shape, (int)n.u.word);
  if (n.op == OP_ROW) /* the fallback is the value when there are no rows */
    return graph_op2(g, OP_MUL, G,
                     no_steps(g, g->node[n.in[0]].shape.d[0]));
  if (n.op == OP_PUTROW)
    return loop_row(g, G, zeros_like(g, n.in[0]), (int)n.u.word);
  if (n.op == OP_ROWSHIFT && k == 0)
    return shift(g, G, zeros_like(g, n.in[1]), !n.u.word);
  if (n.op == OP_ROWSHIFT) /* the fill is the first row (down) or the last */
    return loop_row(g, G, zeros_like(g, n.in[1]), n.u.word == 0);
  return NONE;
}
