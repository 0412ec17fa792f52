/* loop.h: loops in the graph IR: the step bodies of scan and fold.
 *
 * A LOOP node runs a step body T times (a fold-mode LOOP keeps only the
 * last carries: its value is [C], and with no step, the initial ones). The body is a sub-graph of the same
 * graph whose leaves are HOLE nodes (placeholders): one per carry, one per
 * sequence element (a row of a sequence) and one per captured value of the
 * model (params and other values the step reads). Its results are the new
 * carries. The LOOP node's three inputs pack these: the initial carries
 * flattened one after another [C], the sequences' rows side by side
 * [T, X], the captured values [P]; its value is the carries after every
 * step, packed the same way, [T, C] (row t: after step t). A reverse loop
 * runs t = T-1 .. 0. The body is compiled once, as a C function that the
 * LOOP node calls in a C loop, so code size does not grow with T.
 *
 * The gradient of a LOOP node is another LOOP node, running the other way:
 * its body is the vector-Jacobian product of the step (built by grad.c's
 * grad_build on the body), its sequences the carries before each step, the
 * rows of the sequences and the incoming gradient. Being an ordinary LOOP
 * node, it can be differentiated again.
 */
#ifndef EXPRC_LOOP_H
#define EXPRC_LOOP_H

#include "graph.h"

enum { LOOP_MAX_HOLES = 64 }; /* carries + sequences + captures of one loop */

typedef struct LoopInfo {
  int k, m, ncap;   /* carries, sequences, captured values */
  int reverse;      /* runs t = T-1 .. 0 */
  int fold;         /* its value is the last carries [C], nothing stored */
  uint32_t step;    /* the loop whose step function it calls (itself, or
                       the fold it is the stacked twin of) */
  uint32_t twin;    /* a backward loop: the stacked loop of its forward
                       loop's step that it reads (loop_stash.c), NONE
                       until built */
  int nout;         /* the last nout carries are outputs: the step never
                       reads them, so they are not carried over */
  int nstash;       /* a backward loop: the forward values it reads
                       stored, its last sequences */
  uint32_t *stash;  /* those values (nodes of the forward step), while
                       the gradient is built */
  uint32_t bwdx;    /* the loop of its gradient for the sequences */
  uint32_t ckpt;    /* a backward loop that recomputes the carries of the
                       fold `ckpt` from checkpoints (NONE: it reads them) */
  uint32_t bwd_ck, bwdx_ck; /* its backward loops that do so */
  uint32_t *hole;   /* the HOLE numbers: k carries, m rows, ncap captures */
  int64_t *off;     /* each hole's offset in its packed input (C, X or P) */
  int64_t C, X, P;  /* the packed widths */
  uint32_t *res;    /* the k body results: the next carries */
  uint32_t bwd;     /* the loop of its gradient, NONE until built */
  Pos pos;
} LoopInfo;

/* A new loop of k carries, m sequences and ncap captures, whose hole
 * numbers and shapes the caller gives (holes made by loop_hole); its body
 * results are set by the caller. Returns its number. */
uint32_t loop_new(Graph *g, int k, int m, int ncap, const uint32_t *holes);
/* A new HOLE number of shape s, and its node. */
uint32_t loop_hole(Graph *g, const Shape *s);
uint32_t loop_hole_node(Graph *g, uint32_t hole);
static inline LoopInfo *loop_at(Graph *g, uint32_t id) { return &g->loop[id]; }

/* The LOOP node of loop id over its packed inputs (init [C], seqs [T, X],
 * caps [P]). */
uint32_t loop_node(Graph *g, uint32_t id, uint32_t init, uint32_t seqs,
                   uint32_t caps);
/* Pack values, flattened, one after another: [sum of sizes]. With rows
 * set, each value is [T, ...] and they are packed side by side: [T, X]. */
uint32_t loop_pack(Graph *g, const uint32_t *v, int n, int rows);
/* The piece of packed value p at offset off with shape s (rows: of each
 * row, and s without the leading T). */
uint32_t loop_unpack(Graph *g, uint32_t p, int64_t off, const Shape *s,
                     int rows);
/* The same loop as a fold (only the last carries, [C]): a loop that shares
 * id's step. */
uint32_t loop_fold_of(Graph *g, uint32_t id);
/* Checkpoints (Graph.loop_ckpt): the backward loop of a fold of constant
 * length T keeps the carries of every K-th step, K = ceil(sqrt(T)), runs
 * the fold forward once to make them, and then, segment by segment from the
 * last, runs K steps forward again from a checkpoint into a buffer of K
 * carries and the K backward steps from it: about two forward passes and
 * one backward, in memory for 2 sqrt(T) carries instead of T. Such a LOOP
 * node's first input is its own initial carries then the fold's; its
 * sequences are the fold's alone. Its scratch has this shape. */
Shape loop_ckpt_scratch(Graph *g, uint32_t loop_node);
int64_t loop_ckpt_every(int64_t T);
/* ROW: the last (first = 0) or first row of a [T, W], or fb [W] if T = 0. */
uint32_t loop_row(Graph *g, uint32_t a, uint32_t fb, int first);

/* loop_stash.c. The values of the forward step, in the cone of the
 * backward body's results res[0..nres), that the backward body reads and
 * that are dear to recompute: nodes that read the forward holes fwd[0..nf)
 * (carries, rows) and not the backward ones bwd[0..nb). Their count; *out
 * gets them, in index order. */
int loop_stash_pick(Graph *g, const uint32_t *res, int nres,
                    const uint32_t *fwd, int nf, const uint32_t *bwd, int nb,
                    uint32_t **out);
/* root rebuilt (through the constructor) with every from[i] replaced by
 * to[i], itself rebuilt; memo[0..n0) is NONE or a node's rebuilt version,
 * n0 being g->n when it was filled with NONE (newer nodes are kept). */
uint32_t loop_subst(Graph *g, uint32_t root, const uint32_t *from,
                    const uint32_t *to, int n, uint32_t *memo, uint32_t n0);
/* Record that LOOP node y's value is r, read from its stacked twin (the
 * LOOP node twin); and rebuild the roots (a gradient entry point's
 * results) reading r for each such y where the twin is computed anyway. */
void loop_alias(Graph *g, uint32_t y, uint32_t r, uint32_t twin);
void loop_unalias(Graph *g, uint32_t *const *roots, int n);

/* The derivative rules of LOOP, ROW, PUTROW and SHIFT (grad.c's rule). */
uint32_t loop_rule(Graph *g, uint32_t y, int k, uint32_t G);

#endif
