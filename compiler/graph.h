/* graph.h: the graph IR: hash-consed nodes in an arena, referred to by index. */
#ifndef EXPRC_GRAPH_H
#define EXPRC_GRAPH_H

#include "base.h"
#include "ops.h"

enum { N_BACKWARD = 1 }; /* node flags */

#define SPLAT (-1) /* Node.u.data of a constant whose elements all equal val */

typedef struct Node {
  uint8_t op;       /* Op */
  uint8_t nin;
  uint8_t flags;
  uint32_t in[3];
  union {          /* what the op needs beyond its inputs; op is the tag */
    int64_t axes;   /* SUM MAX MIN LSE: the axes reduced, bit k for axis k */
    int64_t var;    /* INPUT PARAM: the variable's index in Module.var */
    int64_t dim;    /* DIMVAL: the dim's number */
    int64_t data;   /* CONST: SPLAT (every element is val), or the offset of
                       its elements in Graph.cdata */
    int64_t word;   /* whichever it is, for hashing and comparing nodes */
  } u;
  double val;       /* CONST splat value */
  int64_t start[MAX_RANK]; /* SLICE, PAD: offset of the window per axis */
  Shape shape;      /* result shape (inferred, or the target of SH_TARGET) */
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
  const char *spelling; /* how the model wrote the op being built, when not
                           its own spelling (dot for @), for messages */
  struct LoopInfo *loop; /* the step bodies of LOOP nodes (loop.h) */
  uint32_t nloop, caploop;
  Shape *hole;          /* the shape of each HOLE (placeholder) number */
  uint32_t nhole, caphole;
  int loop_ckpt;        /* gradients of folds recompute carries from
                           checkpoints (loop.h) instead of storing them */
};

Graph *graph_new(Ctx *c);
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
/* SLICE: the window of a at `start` with shape s (same rank); PAD: a placed
 * at `start` in zeros of shape s. */
uint32_t graph_window(Graph *g, Op op, uint32_t a, const int64_t *start,
                      const Shape *s);
/* v, the result of reducing shape s over the axes in mask, spread back over
 * those axes (the same value all along them). */
uint32_t graph_spread(Graph *g, uint32_t v, const Shape *s, int64_t mask);
/* Sum the broadcast axes of a away so that it has shape s. */
uint32_t graph_sum_to(Graph *g, uint32_t a, const Shape *s);

static inline Node *graph_at(Graph *g, uint32_t i) { return &g->node[i]; }
int graph_is_const(Graph *g, uint32_t i, double *v); /* splat constant? */
static inline int node_is_tensor_const(const Node *n) {
  return n->op == OP_CONST && n->u.data != SPLAT;
}

#endif
