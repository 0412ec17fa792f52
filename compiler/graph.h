/* graph.h: the graph IR: hash-consed nodes in an arena, referred to by index. */
#ifndef EXPRC_GRAPH_H
#define EXPRC_GRAPH_H

#include "base.h"
#include "ops.h"

enum { N_BACKWARD = 1 }; /* node flags */

#define SPLAT (-1) /* Node.u.data of a constant whose elements all equal val */

/* 64 bytes (it was 152 with the shape and the window offsets inline): at a
 * million nodes the passes that read every node miss the cache on each one,
 * and the compile's page faults grow with the bytes it touches. */
typedef struct Node {
  uint8_t op;       /* Op */
  uint8_t nin;
  uint8_t flags;
  uint8_t from;     /* a backward node: the op of the forward node whose
                       derivative rule made it, for --check-finite's
                       "backward of 'sqrt'" (not hashed, as pos) */
  uint32_t in[3];
  union {          /* what the op needs beyond its inputs; op is the tag */
    int64_t axes;   /* SUM MAX MIN LSE: the axes reduced, bit k for axis k;
                       STEP UNSTEP: the axis */
    int64_t var;    /* INPUT PARAM: the variable's index in Module.var */
    int64_t dim;    /* DIMVAL: the dim's number */
    int64_t data;   /* CONST: SPLAT (every element is val), or the offset of
                       its elements in Graph.cdata */
    int64_t form;   /* TRSOLVE, LUSOLVE: LA_LOWER | LA_TRANS */
    int64_t word;   /* whichever it is, for hashing and comparing nodes */
  } u;
  double val;       /* CONST splat value */
  /* The result shape (inferred, or the target of SH_TARGET). A node in the
   * graph points at its graph's one copy of that shape (graph_shape): equal
   * shapes, equal pointers, read-only. A proto given to graph_node may
   * point at any Shape (NULL: rank 0), which graph_node interns. */
  const Shape *shape;
  /* SLICE, PAD: the offset of the window per axis; STEP, UNSTEP, the conv
   * group: their attributes (MAX_RANK words). Interned as shapes are; the
   * nodes of other ops point at zeros (NULL in a proto). 32 bits a word:
   * graph_window refuses offsets past 2^31. */
  const int32_t *start;
  Pos pos;          /* source place, for errors and #line (not hashed) */
} Node;

typedef struct Graph Graph;

/* A rewrite hook: returns an equivalent node for proto (built through the
 * graph's constructors) or NONE to keep it as it is. */
typedef uint32_t (*RewriteFn)(Graph *g, const Node *proto);

struct Graph {
  Ctx *c;
  Node *node;
  uint32_t n, cap;
  uint64_t *htab;   /* open addressing: node index + 1 and hash, 0 empty */
  uint32_t hcap;
  double *cdata;    /* data of tensor constants */
  uint32_t ncdata, cdcap;
  RewriteFn rewrite;
  int backward;     /* mark nodes made now as backward */
  Pos pos;          /* place given to new nodes */
  uint8_t from;     /* and, in the backward pass, the op they belong to */
  const char *spelling; /* how the model wrote the op being built, when not
                           its own spelling (dot for @), for messages */
  struct LoopInfo *loop; /* the step bodies of LOOP nodes (loop.h) */
  uint32_t nloop, caploop;
  Shape *hole;          /* the shape of each HOLE (placeholder) number */
  uint32_t nhole, caphole;
  int loop_ckpt;        /* gradients of folds recompute carries from
                           checkpoints (loop.h) instead of storing them */
  /* The interned shapes and windows (open addressing; the copies live in
   * the context's arena, so nodes copied to another graph keep valid
   * pointers). */
  const Shape **shapes;
  uint32_t nshapes, capshapes;
  const int32_t **wins;
  uint32_t nwins, capwins;
  uint32_t *alias;      /* triples: a LOOP node, the same value read from
                           the stacked loop its gradient runs, that loop's
                           node (loop.h) */
  uint32_t nalias, capalias;
};

Graph *graph_new(Ctx *c);
/* Room for n nodes, node array and table, at once: a pass that knows its
 * graph's size skips the doublings (each a new table, cleared and filled
 * again, and the old one's pages given back). */
void graph_reserve(Graph *g, uint32_t n);
/* Give back a graph's arrays to the context early (a pass that builds a new
 * graph frees the old one); the Graph itself lives in the arena. */
void graph_free(Graph *g);

/* Which input of node i node i really reads as its k-th operand (the planner
 * reads through transposes that feed a matrix product); NULL: in[k]. */
typedef uint32_t (*OperandFn)(const Graph *g, uint32_t i, int k);

/* Mark, in live[0..g->n-1], every node that a node already marked reads,
 * directly or not: the caller marks the roots. Index order is topological,
 * so one backward sweep does it. */
void graph_live(const Graph *g, uint8_t *live, OperandFn operand);

/* The one constructor: infers the shape (reporting errors at g->pos),
 * applies the rewrite hook, and returns the existing node if an identical one
 * exists. Every other constructor goes through it. */
uint32_t graph_node(Graph *g, const Node *proto);

/* An INPUT or PARAM (which: var), or a DIMVAL (which: the dim). */
uint32_t graph_leaf(Graph *g, Op op, int64_t which, const Shape *s);
uint32_t graph_const(Graph *g, double v, const Shape *s); /* splat */
uint32_t graph_scalar(Graph *g, double v);
uint32_t graph_tensor(Graph *g, const double *data, const Shape *s);
uint32_t graph_op1(Graph *g, Op op, uint32_t a);
uint32_t graph_op2(Graph *g, Op op, uint32_t a, uint32_t b);
uint32_t graph_op3(Graph *g, Op op, uint32_t a, uint32_t b, uint32_t c);
uint32_t graph_shaped(Graph *g, Op op, uint32_t a, const Shape *s);
uint32_t graph_sum(Graph *g, uint32_t a, unsigned mask);
uint32_t graph_reduce(Graph *g, Op op, uint32_t a, unsigned mask);
/* An op of one or two inputs (b unused for one) with attribute word u.word:
 * the SH_ALONG ops, and TRANSPOSE with a permutation (see PERM_WORD). */
uint32_t graph_attr(Graph *g, Op op, uint32_t a, uint32_t b, int64_t word);
/* The index 0, 1, 2, ... along axis k of shape s (whole numbers as doubles):
 * what triangular masks (tril, triu, eye, the rules of linear algebra)
 * compare, so that their sizes may be dims. */
uint32_t graph_iota(Graph *g, const Shape *s, int k);
/* TRANSPOSE's u.word: 0 reverses the axes (transpose(x)); otherwise
 * PERM_FLAG | perm[i] << 4i, output axis i being input axis perm[i]. */
/* 1 at the first place along axis word & 15 of shape s (the last when
 * word has bit 16), 0 elsewhere: a count 1, 2, 3, ... along it (a
 * recurrence of ones) compared with 1, so that it works for dim sizes. */
uint32_t graph_first_place(Graph *g, const Shape *s, int64_t word);
#define PERM_FLAG ((int64_t)1 << 40)
#define PERM_AXIS(w, i) ((int)(((w) >> (4 * (i))) & 15))
/* SLICE: the window of a at `start` with shape s (same rank); PAD: a placed
 * at `start` in zeros of shape s. */
uint32_t graph_window(Graph *g, Op op, uint32_t a, const int64_t *start,
                      const Shape *s);
/* STEP: every at[1]-th element of a along axis, skipping at[0] at the
 * walk's beginning and at[2] at its end (ops.def); UNSTEP: a written back
 * at those places into zeros of shape big (big is read for UNSTEP only). */
uint32_t graph_step(Graph *g, Op op, uint32_t a, int axis, const int64_t *at,
                    const Shape *big);
/* v, the result of reducing shape s over the axes in mask, spread back over
 * those axes (the same value all along them). */
uint32_t graph_spread(Graph *g, uint32_t v, const Shape *s, int64_t mask);
/* Sum the broadcast axes of a away so that it has shape s. */
uint32_t graph_sum_to(Graph *g, uint32_t a, const Shape *s);

/* A gather, scatter or arg-reduction (the SH_INDEX ops of ops.def): a and
 * the indices idx (NONE for ops of one input), the axis (ARGMAX, ARGMIN:
 * the mask of axes) and, for SCATTER and SCATTER_ALONG, the shape of the
 * result (else NULL: inferred). */
uint32_t graph_indexed(Graph *g, Op op, uint32_t a, uint32_t idx, int axis,
                       const Shape *target);

/* The graph's one copy of shape s (s itself need not be cleared past its
 * rank: only d[0..rank-1] count). */
const Shape *graph_shape(Graph *g, const Shape *s);
extern const int32_t graph_no_window[MAX_RANK]; /* zeros */

static inline Node *graph_at(Graph *g, uint32_t i) { return &g->node[i]; }
int graph_is_const(Graph *g, uint32_t i, double *v); /* splat constant? */
static inline int node_is_tensor_const(const Node *n) {
  return n->op == OP_CONST && n->u.data != SPLAT;
}

#endif
