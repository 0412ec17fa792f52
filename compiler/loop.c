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
  Shape s = {.rank = 2, .d = {g->node[seqs].shape->d[0], g->loop[id].C}};
  if (g->loop[id].fold)
    s = (Shape){.rank = 1, .d = {g->loop[id].C}};
  p.shape = &s;
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

/* Where the twin's row holds value x: carry j of f when x is f's result
 * j, else the stored value of res[k..k+*extra), added if new. */
static int twin_place(Graph *g, const LoopInfo *f, uint32_t x, uint32_t *h,
                      uint32_t *res, int *extra) {
  for (int j = 0; j < f->k + *extra; j++)
    if (res[j] == x)
      return j; /* a stored carry is read as a carry */
  Shape s = *g->node[x].shape;
  h[f->k + *extra] = loop_hole(g, &s);
  res[f->k + *extra] = x;
  return f->k + (*extra)++;
}

/* b's sequences read out of the twin t's rows: the forward's carries and
 * rows, G's rows (a scan's, after the twin's row), the stored values
 * (at: the twin's carry holding each). */
static void read_twin(Graph *g, const LoopInfo *f, uint32_t b, uint32_t t,
                      int first, const int *at) {
  LoopInfo *tl = &g->loop[t], *bp = &g->loop[b];
  for (int j = 0; j < f->k + f->m; j++)
    bp->off[bp->k + j] = tl->off[first + j];
  for (int j = 0; j < (f->fold ? 0 : f->k); j++)
    bp->off[bp->k + f->k + f->m + j] = tl->C + f->off[j];
  for (int i = 0; i < bp->nstash; i++)
    bp->off[bp->k + bp->m - bp->nstash + i] = tl->off[at[i]];
  bp->X = tl->C + (f->fold ? 0 : f->C);
  bp->twin = t;
}

/* The stacked loop of fold or scan id's step that its backward loops
 * b[0..nb) read (LoopInfo.twin), one for them all. Its rows hold all that
 * their steps read: the carries after the step (its own carries), their
 * stored values (loop_stash.c) that are not among them, then the carries
 * before the step and the step's sequence rows, these as outputs
 * (LoopInfo.nout); the backward loops' sequence holes are set to read
 * them there. */
static uint32_t stash_twin(Graph *g, uint32_t id, const uint32_t *b, int nb) {
  LoopInfo f = g->loop[id];
  int k = f.k, m = f.m, n = k + m + f.ncap, extra = 0, ns = 0;
  for (int i = 0; i < nb; i++)
    ns += g->loop[b[i]].nstash;
  uint32_t *h = ctx_alloc(g->c, (size_t)(n + ns + k + m + 1) * sizeof *h);
  uint32_t *res = ctx_alloc(g->c, (size_t)(2 * k + m + ns + 1) * sizeof *res);
  int *at = ctx_alloc(g->c, (size_t)(ns + 1) * sizeof *at);
  memcpy(h, f.hole, (size_t)k * sizeof *h);
  memcpy(res, f.res, (size_t)k * sizeof *res);
  for (int i = 0, q = 0; i < nb; i++)
    for (int j = 0; j < g->loop[b[i]].nstash; j++)
      at[q++] = twin_place(g, &f, g->loop[b[i]].stash[j], h, res, &extra);
  int kt = k + extra + k + m; /* then the carries before, the rows */
  for (int j = 0; j < k + m; j++) {
    h[k + extra + j] = loop_hole(g, &g->hole[f.hole[j]]);
    res[k + extra + j] = loop_hole_node(g, f.hole[j]);
  }
  memcpy(h + kt, f.hole + k, (size_t)(m + f.ncap) * sizeof *h);
  uint32_t t = loop_new(g, kt, m, f.ncap, h);
  LoopInfo *tl = &g->loop[t];
  tl->reverse = f.reverse, tl->pos = f.pos, tl->nout = kt - k;
  for (int j = 0; j < m; j++) /* it reads f's rows where f reads them */
    tl->off[kt + j] = f.off[k + j];
  tl->X = f.X;
  memcpy(tl->res, res, (size_t)kt * sizeof *res);
  for (int i = 0, q = 0; i < nb; q += g->loop[b[i++]].nstash)
    read_twin(g, &f, b[i], t, k + extra, at + q);
  return t;
}

uint32_t loop_pack(Graph *g, const uint32_t *v, int n, int rows) {
  if (n == 0)
    return graph_const(g, 0, &(Shape){.rank = 1, .d = {1}});
  int64_t T = rows ? g->node[v[0]].shape->d[0] : 0, W = 0, off = 0;
  for (int i = 0; i < n; i++) {
    Shape s = *g->node[v[i]].shape;
    if (rows)
      s.d[0] = 1;
    W += numel(g, &s);
  }
  uint32_t acc = NONE;
  for (int i = 0; i < n; i++) {
    Shape s = *g->node[v[i]].shape, flat = {.rank = 1 + rows};
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
  Shape ps = *g->node[p].shape, win = ps, out = {.rank = s->rank + rows};
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
  p.shape = s;
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
  Shape s = *g->node[x].shape;
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
  int r = g->node[x].shape->rank;
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

/* The stored values of the backward body res[0..nres) (loop_stash.c),
 * bwd[0..nb) being its own holes: replaced in res by holes of new
 * sequences, whose numbers *sh gets. Their count; *stash gets them. */
static int stash_body(Graph *g, const LoopInfo *f, uint32_t *res, int nres,
                      const uint32_t *bwd, int nb, uint32_t **stash,
                      uint32_t **sh) {
  int s = loop_stash_pick(g, res, nres, f->hole, f->k + f->m, bwd, nb, stash);
  if (!s)
    return 0;
  uint32_t *to = ctx_alloc(g->c, (size_t)(s + 1) * sizeof *to);
  *sh = ctx_alloc(g->c, (size_t)(s + 1) * sizeof **sh);
  for (int i = 0; i < s; i++) {
    Shape shape = *g->node[(*stash)[i]].shape;
    (*sh)[i] = loop_hole(g, &shape);
    to[i] = loop_hole_node(g, (*sh)[i]);
  }
  uint32_t n0 = g->n;
  uint32_t *memo = ctx_realloc(g->c, NULL, (size_t)(n0 + 1) * sizeof *memo);
  for (uint32_t i = 0; i < n0; i++)
    memo[i] = NONE;
  for (int j = 0; j < nres; j++)
    res[j] = loop_subst(g, res[j], *stash, to, s, memo, n0);
  ctx_release(g->c, memo);
  return s;
}

/* A backward loop of loop id (see the top of this file): for the
 * gradient of the sequences (want_dx: a stacked loop of carries ac, dx),
 * or of the initial carries and the captures (a fold of carries ac, ap).
 * With stash, the forward values it reads are stored (loop_stash.c). */
static uint32_t backward_loop(Graph *g, uint32_t id, int want_dx, int stash) {
  LoopInfo f = g->loop[id]; /* a copy: loop_new moves the table */
  int k = f.k, m = f.m, nc = f.ncap, n = k + m + nc, w = want_dx ? m : nc;
  int nseq = k + m + (f.fold ? 0 : k);
  uint32_t *h = ctx_alloc(g->c, (size_t)(2 * n + k + 1) * sizeof *h);
  backward_holes(g, &f, want_dx, h);
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
  uint32_t *res = ctx_alloc(g->c, (size_t)(k + w + 1) * sizeof *res);
  for (int j = 0; j < k; j++)
    res[j] = d[j];
  for (int j = 0; j < w; j++)
    res[k + j] = want_dx ? d[k + j]
                         : graph_op2(g, OP_ADD, loop_hole_node(g, h[k + j]),
                                     d[k + m + j]);
  /* b's holes: its own k + w carries, the forward's carries and rows and
   * G's (its sequences), the stored values' (sequences too), captures */
  int own = k + w, nst = 0;
  uint32_t *st = NULL, *sth = NULL;
  if (stash) {
    uint32_t *mine = ctx_alloc(g->c, (size_t)(own + k + 1) * sizeof *mine);
    int nm = 0;
    for (int j = 0; j < own; j++)
      mine[nm++] = h[j];
    for (int j = 0; j < (f.fold ? 0 : k); j++) /* G's rows */
      mine[nm++] = h[own + k + m + j];
    nst = stash_body(g, &f, res, own, mine, nm, &st, &sth);
  }
  uint32_t *hb = ctx_alloc(g->c, (size_t)(own + nseq + nst + nc + 1) *
                                     sizeof *hb);
  memcpy(hb, h, (size_t)(own + nseq) * sizeof *hb);
  if (nst)
    memcpy(hb + own + nseq, sth, (size_t)nst * sizeof *hb);
  memcpy(hb + own + nseq + nst, h + own + nseq, (size_t)nc * sizeof *hb);
  uint32_t b = loop_new(g, own, nseq + nst, nc, hb);
  LoopInfo *bl = &g->loop[b];
  bl->reverse = !f.reverse;
  bl->fold = !want_dx;
  bl->nstash = nst, bl->stash = st;
  memcpy(bl->res, res, (size_t)own * sizeof *res);
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
  int64_t T = g->node[nd->in[1]].shape->d[0], K = loop_ckpt_every(T);
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

/* Backward loop b of LOOP y over the stacked twin of y's loop
 * (stash_twin): its sequences are the carries before each step, y's rows,
 * G's rows (unless y is a fold) and the stored values. y's value is then
 * read from the twin (loop_alias). */
static uint32_t stored_backward(Graph *g, uint32_t y, uint32_t b, uint32_t G,
                                uint32_t init_b) {
  Node n = g->node[y];
  uint32_t id = (uint32_t)n.u.word, init = n.in[0];
  LoopInfo f = g->loop[id];
  uint32_t tw = g->loop[b].twin;
  if (tw == NONE) /* b was built for checkpoints (stores nothing) */
    tw = stash_twin(g, id, &b, 1);
  int64_t T = g->node[n.in[1]].shape->d[0], Ct = g->loop[tw].C;
  int64_t at[MAX_RANK] = {0};
  Shape zs = {.rank = 1, .d = {Ct}}, cs = {.rank = 2, .d = {T, f.C}};
  /* the outputs' initial values are never read: zeros, the one way (every
   * gradient of y must find the same twin node) */
  uint32_t all = loop_node(g, tw, graph_window(g, OP_PAD, init, at, &zs),
                           n.in[1], n.in[2]);
  uint32_t allc = graph_window(g, OP_SLICE, all, at, &cs);
  /* a fold's value: the carries after its last step, in row 0 when it
   * runs backwards */
  loop_alias(g, y, f.fold ? loop_row(g, allc, init, f.reverse) : allc, all);
  uint32_t sv[2] = {all, G};
  return loop_node(g, b, init_b, f.fold ? all : loop_pack(g, sv, 2, 1),
                   n.in[2]);
}

/* The gradient of loop id's sequences [T, X] from B, the value of its
 * backward loop b for them (carries ac, then one dx per sequence row, one
 * after another): each dx placed where loop id reads its row (LoopInfo.off;
 * a backward loop reads its rows out of its twin's, not side by side). */
static uint32_t rows_grad(Graph *g, uint32_t B, uint32_t b, uint32_t id,
                          int64_t T) {
  LoopInfo f = g->loop[id], bl = g->loop[b];
  int64_t start[MAX_RANK] = {0, 0};
  Shape xs = {.rank = 2, .d = {T, f.X}};
  uint32_t acc = NONE;
  for (int j = 0; j < f.m; j++) {
    Shape hs = g->hole[f.hole[f.k + j]];
    int64_t n = 1;
    shape_numel_const(&hs, &n);
    Shape flat = {.rank = 1, .d = {n}};
    uint32_t x = loop_unpack(g, B, bl.off[f.k + j], &flat, 1);
    start[1] = f.off[f.k + j];
    if (n != f.X)
      x = graph_window(g, OP_PAD, x, start, &xs);
    acc = acc == NONE ? x : graph_op2(g, OP_ADD, acc, x);
  }
  return acc;
}

/* The gradient of LOOP y for its input k (0: the initial carries, 1: the
 * sequences, 2: the captures), G being the gradient of its value. */
static uint32_t loop_grad(Graph *g, uint32_t y, int k, uint32_t G) {
  Node n = g->node[y];
  uint32_t id = (uint32_t)n.u.word;
  int want_dx = k == 1;
  if (k == 2 && g->loop[id].P == 0)
    return NONE; /* no captures: the input is a placeholder constant */
  int64_t T = g->node[n.in[1]].shape->d[0];
  int ckpt = g->loop_ckpt && g->loop[id].fold && !g->loop[id].reverse &&
             g->loop[id].ckpt == NONE && !DIM_IS_SYM(T) && T > 0;
  uint32_t b = want_dx ? g->loop[id].bwdx : g->loop[id].bwd;
  if (b == NONE) { /* both at once, so that they share one twin */
    uint32_t bw[2] = {g->loop[id].bwd, g->loop[id].bwdx};
    for (int i = 0; i < 2; i++)
      if (bw[i] == NONE)
        bw[i] = backward_loop(g, id, i, !ckpt);
    g->loop[id].bwd = bw[0], g->loop[id].bwdx = bw[1];
    if (!ckpt)
      stash_twin(g, id, bw, 2);
    b = bw[want_dx];
  }
  LoopInfo f = g->loop[id];
  int64_t w = want_dx ? f.X : f.P;
  Shape ws = {.rank = 1, .d = {w}}, cs = {.rank = 1, .d = {f.C}};
  uint32_t iv[2] = {f.fold ? G : graph_const(g, 0, &cs), graph_const(g, 0, &ws)};
  uint32_t init_b = loop_pack(g, iv, w ? 2 : 1, 0);
  uint32_t B = ckpt ? ckpt_backward(g, id, b, want_dx, init_b, &n)
                    : stored_backward(g, y, b, G, init_b);
  int64_t start[MAX_RANK] = {0, f.C};
  if (want_dx)
    return rows_grad(g, B, b, id, T);
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
    return putrow(g, G, g->node[n.in[0]].shape, (int)n.u.word);
  if (n.op == OP_ROW) /* the fallback is the value when there are no rows */
    return graph_op2(g, OP_MUL, G,
                     no_steps(g, g->node[n.in[0]].shape->d[0]));
  if (n.op == OP_PUTROW)
    return loop_row(g, G, zeros_like(g, n.in[0]), (int)n.u.word);
  if (n.op == OP_ROWSHIFT && k == 0)
    return shift(g, G, zeros_like(g, n.in[1]), !n.u.word);
  if (n.op == OP_ROWSHIFT) /* the fill is the first row (down) or the last */
    return loop_row(g, G, zeros_like(g, n.in[1]), n.u.word == 0);
  return NONE;
}
