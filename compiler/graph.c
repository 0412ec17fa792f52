/* graph.c: the graph IR and its one constructor.
 *
 * Nodes live in one growing array and refer to their inputs by index; an
 * input always has a smaller index than its user, so index order is a
 * topological order and passes are plain loops. graph_node() hash-conses:
 * building a node identical to an existing one (same op, inputs, attribute
 * and shape) returns the existing one, so common subexpressions are shared
 * from the moment they are written. Commutative ops sort their inputs first
 * so that a+b and b+a are one node. The rewrite hook, when set (simplify.c),
 * sees every node before it is made; rewrites build their results through the
 * same constructor.
 */
#include "graph.h"

#include <string.h>

#include "shape.h"

/* The node's size is what the big compiles pay for in cache misses and page
 * faults (graph.h): a field added should be a choice, not an accident. */
_Static_assert(sizeof(Node) <= 64, "Node grew past 64 bytes");

Graph *graph_new(Ctx *c) {
  Graph *g = ctx_alloc(c, sizeof *g);
  g->c = c;
  return g;
}

void graph_free(Graph *g) {
  ctx_release(g->c, g->node);
  ctx_release(g->c, g->htab);
  ctx_release(g->c, g->cdata);
  ctx_release(g->c, g->shapes);
  ctx_release(g->c, g->wins);
  g->node = NULL, g->htab = NULL, g->cdata = NULL;
  g->shapes = NULL, g->wins = NULL;
  g->n = g->cap = g->hcap = g->ncdata = g->cdcap = 0;
  g->nshapes = g->capshapes = g->nwins = g->capwins = 0;
}

void graph_live(const Graph *g, uint8_t *live, OperandFn operand) {
  for (uint32_t i = g->n; i-- > 0;)
    if (live[i])
      for (int k = 0; k < g->node[i].nin; k++)
        live[operand ? operand(g, i, k) : g->node[i].in[k]] = 1;
}


static int64_t numel(const Shape *s) {
  int64_t n = 1;
  shape_numel_const(s, &n);
  return n;
}

static uint64_t mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 31);
}

/* A hash of everything node_eq compares, a word at a time. Shapes and
 * windows are interned (graph_node), so their pointers stand for their
 * contents; the hash is keyed per context anyway, so hashing addresses
 * makes it no less repeatable. */
static uint64_t node_hash(const Graph *g, const Node *n) {
  uint64_t h = mix(g->c->key[0] ^ 0x243f6a8885a308d3ULL, /* keyed: no model can */
                   n->op);                                /* choose collisions */
  for (int k = 0; k < n->nin; k++)
    h = mix(h, n->in[k]);
  h = mix(mix(h, (uint64_t)(uintptr_t)n->shape), (uint64_t)(uintptr_t)n->start);
  if (node_is_tensor_const(n))
    return hash_bytes(g->cdata + n->u.data,
                      (size_t)numel(n->shape) * sizeof(double), h);
  uint64_t v;
  memcpy(&v, &n->val, sizeof v);
  return mix(mix(h, (uint64_t)n->u.word), v);
}

static int node_eq(const Graph *g, const Node *a, const Node *b) {
  if (a->op != b->op || a->nin != b->nin ||
      memcmp(a->in, b->in, sizeof a->in[0] * a->nin) != 0 ||
      a->shape != b->shape || a->start != b->start)
    return 0;
  if (node_is_tensor_const(a) || node_is_tensor_const(b))
    return node_is_tensor_const(a) && node_is_tensor_const(b) &&
           memcmp(g->cdata + a->u.data, g->cdata + b->u.data,
                  (size_t)numel(a->shape) * sizeof(double)) == 0;
  return a->u.word == b->u.word && memcmp(&a->val, &b->val, sizeof a->val) == 0;
}

/* ---- interned shapes and windows ----
 * A model has few distinct shapes and windows, and many nodes: each is kept
 * once per graph and nodes point at it. Tables of pointers, open
 * addressing, hashed on the contents (keyed, as the node table). */
const int32_t graph_no_window[MAX_RANK];

typedef struct Intern {
  const void ***slot;
  uint32_t *n, *cap;
  size_t size;
} Intern;

static uint64_t words_hash(const Graph *g, const void *p, size_t size) {
  uint64_t h = g->c->key[1] ^ 0x13198a2e03707344ULL, w;
  for (size_t k = 0; k + 4 <= size; k += 4) {
    uint32_t x;
    memcpy(&x, (const char *)p + k, 4);
    w = x;
    h = mix(h, w);
  }
  return h;
}

static void intern_grow(Graph *g, Intern t) {
  uint32_t old = *t.cap, cap = old ? old * 2 : 64;
  const void **s = ctx_realloc(g->c, NULL, cap * sizeof *s);
  memset(s, 0, cap * sizeof *s);
  for (uint32_t k = 0; k < old; k++) {
    const void *e = (*t.slot)[k];
    if (!e)
      continue;
    uint32_t j = (uint32_t)words_hash(g, e, t.size) & (cap - 1);
    while (s[j])
      j = (j + 1) & (cap - 1);
    s[j] = e;
  }
  ctx_release(g->c, *t.slot);
  *t.slot = s;
  *t.cap = cap;
}

/* The table's copy of the `size` bytes at p, made if there is none. */
static const void *intern(Graph *g, Intern t, const void *p) {
  if ((uint64_t)(*t.n + 1) * 2 > *t.cap)
    intern_grow(g, t);
  uint32_t j = (uint32_t)words_hash(g, p, t.size) & (*t.cap - 1);
  for (const void *e; (e = (*t.slot)[j]) != NULL; j = (j + 1) & (*t.cap - 1))
    if (memcmp(e, p, t.size) == 0)
      return e;
  void *copy = ctx_alloc(g->c, t.size);
  memcpy(copy, p, t.size);
  (*t.n)++;
  return (*t.slot)[j] = copy;
}

const Shape *graph_shape(Graph *g, const Shape *s) {
  Shape c; /* cleared past the rank: the table compares bytes */
  memset(&c, 0, sizeof c);
  c.rank = s->rank;
  memcpy(c.d, s->d, (size_t)s->rank * sizeof s->d[0]);
  Intern t = {(const void ***)&g->shapes, &g->nshapes, &g->capshapes,
              sizeof c};
  return intern(g, t, &c);
}

static const int32_t *graph_win(Graph *g, const int32_t *w) {
  if (!w || memcmp(w, graph_no_window, sizeof graph_no_window) == 0)
    return graph_no_window;
  Intern t = {(const void ***)&g->wins, &g->nwins, &g->capwins,
              sizeof graph_no_window};
  return intern(g, t, w);
}

/* The table holds, per entry, the node's index + 1 (low half; 0 = empty)
 * and the high half of its hash, compared before the node itself is read:
 * probing then rarely touches node memory. The entry's place comes from
 * that same high half, so that growing the table moves entries without
 * reading a node or hashing it again: at a million nodes, reading them all
 * back at each doubling was a cache miss per node. */
#define ENTRY(i, h) ((uint64_t)((i) + 1) | (h) << 32)
#define HASH_HI(h) ((h) >> 32)

static void rehash_to(Graph *g, uint32_t cap) {
  uint32_t old = g->hcap;
  uint64_t *t = ctx_realloc(g->c, NULL, cap * sizeof *t);
  memset(t, 0, cap * sizeof *t);
  for (uint32_t k = 0; k < old; k++) {
    uint64_t e = g->htab[k];
    if (!e)
      continue;
    uint32_t j = (uint32_t)(e >> 32) & (cap - 1);
    while (t[j])
      j = (j + 1) & (cap - 1);
    t[j] = e;
  }
  ctx_release(g->c, g->htab);
  g->htab = t;
  g->hcap = cap;
}

static void rehash(Graph *g) { rehash_to(g, g->hcap ? g->hcap * 2 : 1024); }

void graph_reserve(Graph *g, uint32_t n) {
  vec_reserve(g->c, &g->node, &g->cap, n, sizeof *g->node);
  uint32_t cap = g->hcap ? g->hcap : 1024;
  while ((uint64_t)n * 2 > cap && cap < (1u << 31))
    cap *= 2;
  if (cap > g->hcap)
    rehash_to(g, cap);
}

/* Find proto's twin, or the empty entry where it belongs. */
static uint64_t *lookup(Graph *g, const Node *p, uint64_t h) {
  uint32_t j = (uint32_t)HASH_HI(h) & (g->hcap - 1);
  for (uint64_t e; (e = g->htab[j]) != 0; j = (j + 1) & (g->hcap - 1))
    if (e >> 32 == HASH_HI(h) &&
        node_eq(g, &g->node[(uint32_t)e - 1], p))
      break;
  return &g->htab[j];
}

static void canonical_order(Node *p) {
  if ((op_info[p->op].flags & F_COMM) && p->in[0] > p->in[1]) {
    uint32_t t = p->in[0];
    p->in[0] = p->in[1];
    p->in[1] = t;
  }
}

uint32_t graph_node(Graph *g, const Node *proto) {
  static const Shape scalar;
  Node p = *proto;
  p.nin = (uint8_t)op_info[p.op].arity;
  if (!p.shape)
    p.shape = &scalar;
  p.start = graph_win(g, p.start);
  Shape s = shape_infer(g, &p); /* before reordering: errors name the
                                   operands in the order they were written */
  const Shape *first = p.nin ? g->node[p.in[0]].shape : NULL;
  p.shape = first && memcmp(first, &s, sizeof s) == 0
                ? first /* most ops: the first operand's shape, interned */
                : graph_shape(g, &s);
  canonical_order(&p);
  if (g->rewrite) {
    uint32_t r = g->rewrite(g, &p);
    if (r != NONE)
      return r;
  }
  if ((uint64_t)(g->n + 1) * 2 > g->hcap)
    rehash(g);
  uint64_t h = node_hash(g, &p);
  uint64_t *slot = lookup(g, &p, h);
  if (*slot)
    return (uint32_t)*slot - 1;
  if (g->n >= (uint64_t)g->c->lim.max_nodes)
    ctx_error(g->c, g->pos, EXPRC_ERR_LIMIT,
              "model needs more than %lld graph nodes (the limit)",
              (long long)g->c->lim.max_nodes);
  vec_reserve(g->c, &g->node, &g->cap, g->n + 1, sizeof *g->node);
  p.pos = g->pos;
  p.from = g->from;
  p.flags = g->backward ? N_BACKWARD : 0;
  g->node[g->n] = p;
  *slot = ENTRY(g->n, HASH_HI(h));
  return g->n++;
}

static Node proto(Op op) {
  Node p;
  memset(&p, 0, sizeof p);
  p.op = (uint8_t)op;
  return p;
}

uint32_t graph_leaf(Graph *g, Op op, int64_t which, const Shape *s) {
  Node p = proto(op);
  if (op == OP_DIMVAL)
    p.u.dim = which;
  else
    p.u.var = which;
  p.shape = s;
  return graph_node(g, &p);
}

uint32_t graph_const(Graph *g, double v, const Shape *s) {
  Node p = proto(OP_CONST);
  p.u.data = SPLAT;
  p.val = v;
  p.shape = s;
  return graph_node(g, &p);
}

uint32_t graph_scalar(Graph *g, double v) {
  Shape s = {0};
  return graph_const(g, v, &s);
}

uint32_t graph_tensor(Graph *g, const double *data, const Shape *s) {
  int64_t n = numel(s);
  uint32_t at = g->ncdata;
  vec_reserve(g->c, &g->cdata, &g->cdcap, at + (uint32_t)n, sizeof(double));
  memcpy(g->cdata + at, data, (size_t)n * sizeof(double));
  g->ncdata += (uint32_t)n;
  Node p = proto(OP_CONST);
  p.u.data = at;
  p.shape = s;
  uint32_t r = graph_node(g, &p);
  if (g->node[r].u.data != at)
    g->ncdata = at; /* an identical constant existed: drop the copy */
  return r;
}

uint32_t graph_op1(Graph *g, Op op, uint32_t a) {
  Node p = proto(op);
  p.in[0] = a;
  return graph_node(g, &p);
}

uint32_t graph_op2(Graph *g, Op op, uint32_t a, uint32_t b) {
  Node p = proto(op);
  p.in[0] = a;
  p.in[1] = b;
  return graph_node(g, &p);
}

uint32_t graph_op3(Graph *g, Op op, uint32_t a, uint32_t b, uint32_t c) {
  Node p = proto(op);
  p.in[0] = a;
  p.in[1] = b;
  p.in[2] = c;
  return graph_node(g, &p);
}

uint32_t graph_shaped(Graph *g, Op op, uint32_t a, const Shape *s) {
  Node p = proto(op);
  p.in[0] = a;
  p.shape = s;
  return graph_node(g, &p);
}

uint32_t graph_reduce(Graph *g, Op op, uint32_t a, unsigned mask) {
  Node p = proto(op);
  p.in[0] = a;
  p.u.axes = mask;
  return graph_node(g, &p);
}

uint32_t graph_attr(Graph *g, Op op, uint32_t a, uint32_t b, int64_t word) {
  Node p = proto(op);
  p.in[0] = a;
  if (op_info[op].arity > 1)
    p.in[1] = b;
  p.u.word = word;
  return graph_node(g, &p);
}

uint32_t graph_first_place(Graph *g, const Shape *s, int64_t word) {
  uint32_t one = graph_const(g, 1, s);
  return graph_op2(g, OP_EQ, graph_attr(g, OP_LINREC, one, one, word),
                   graph_scalar(g, 1));
}

uint32_t graph_sum(Graph *g, uint32_t a, unsigned mask) {
  return graph_reduce(g, OP_SUM, a, mask);
}

uint32_t graph_window(Graph *g, Op op, uint32_t a, const int64_t *start,
                      const Shape *s) {
  Node p = proto(op);
  int32_t w[MAX_RANK] = {0};
  p.in[0] = a;
  p.shape = s;
  for (int i = 0; i < s->rank; i++) {
    if (start[i] < INT32_MIN || start[i] > INT32_MAX)
      ctx_error(g->c, g->pos, EXPRC_ERR_LIMIT,
                "an index or window %lld elements into an axis (the "
                "limit is 2^31 - 1)", (long long)start[i]);
    w[i] = (int32_t)start[i];
  }
  p.start = w;
  return graph_node(g, &p);
}

uint32_t graph_step(Graph *g, Op op, uint32_t a, int axis, const int64_t *at,
                    const Shape *big) {
  Node p = proto(op);
  int32_t w[MAX_RANK] = {0};
  p.in[0] = a;
  p.u.axes = axis;
  for (int i = 0; i < 3; i++)
    w[i] = (int32_t)at[i];
  p.start = w;
  if (op == OP_UNSTEP)
    p.shape = big;
  return graph_node(g, &p);
}

uint32_t graph_sum_to(Graph *g, uint32_t a, const Shape *s) {
  Shape as = *g->node[a].shape;
  if (shape_eq(&as, s))
    return a;
  int lead = as.rank - s->rank;
  unsigned mask = 0;
  for (int i = 0; i < as.rank; i++)
    if (i < lead || (s->d[i - lead] == 1 && as.d[i] != 1))
      mask |= 1u << i;
  uint32_t r = graph_sum(g, a, mask);
  if (!shape_eq(g->node[r].shape, s))
    r = graph_shaped(g, OP_RESHAPE, r, s);
  return r;
}

uint32_t graph_spread(Graph *g, uint32_t v, const Shape *s, int64_t mask) {
  Shape keep = *s;
  for (int i = 0; i < s->rank; i++)
    if (mask & (1 << i))
      keep.d[i] = 1;
  return graph_shaped(g, OP_BCAST, graph_shaped(g, OP_RESHAPE, v, &keep), s);
}

int graph_is_const(Graph *g, uint32_t i, double *v) {
  Node *n = &g->node[i];
  if (n->op != OP_CONST || n->u.data != SPLAT)
    return 0;
  if (v)
    *v = n->val;
  return 1;
}

uint32_t graph_indexed(Graph *g, Op op, uint32_t a, uint32_t idx, int axis,
                       const Shape *target) {
  Node p = proto(op);
  p.nin = (uint8_t)op_info[op].arity;
  p.in[0] = a;
  p.in[1] = idx == NONE ? 0 : idx;
  p.u.axes = axis;
  p.shape = target;
  return graph_node(g, &p);
}

uint32_t graph_iota(Graph *g, const Shape *s, int k) {
  uint32_t one = graph_const(g, 1, s); /* a running sum of ones, minus 1 */
  return graph_op2(g, OP_SUB, graph_attr(g, OP_LINREC, one, one, k),
                   graph_scalar(g, 1));
}
