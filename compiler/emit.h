/* emit.h: what the files of the emission stage share (internal).
 *
 * The emitter turns the planned graph into C text and only reads the module
 * and the plans. It lives in rooms:
 *   emit_text.c    buffers of text, sizes and values as C expressions, #line
 *   emit_expr.c    elementwise expressions, computed inline, and loop nests
 *   emit_loop.c    flat loops merged into one, and their parallel bodies
 *   emit_ops.c     one statement per node: fills, movement, reductions, gemm
 *   emit_linalg.c  factorisations and solves: calls of the runtime's kernels
 *   emit_gather.c  gathers, scatter-adds, argmax/argmin, argsort
 *   emit_c.c       entry functions, the prelude and the constants (the door)
 *   emit_header.c  the header of `exprc emit --header`
 *   emit_check.c   the checks of --check-finite
 * Functions shared between rooms are prefixed em_.
 */
#ifndef EXPRC_EMIT_H
#define EXPRC_EMIT_H

#include "emit_c.h"

typedef struct Buf {
  char *s;
  uint32_t n, cap;
} Buf;

#define MAX_ACC 32   /* EXPRC_RT_MAX_ACC: reductions in one parallel loop */
#define PAR_MIN 8192 /* shorter loops are not worth a thread */
/* Room for one index or operand expression: rank 8 with symbolic sizes
 * and window offsets needs about 1.2k (8 terms of up to 150 chars). */
#define EM_EXPR 2048

/* A storage read while building a statement for a merged loop: which
 * buffer or local (a key, see em_storage_key), and whether at the loop's own
 * position i. */
typedef struct Access {
  uint32_t key;
  int same;
} Access;

/* The reductions that start from a value and fold each element in: written
 * once, for reductions over axes, merged loops and parallel bodies. In
 * `combine`, a is the accumulator and b the element. */
typedef struct Reduction {
  Op op;               /* OP_SUM, OP_MAX or OP_MIN */
  char kind;           /* how the runtime folds partial results: + > < */
  const char *init;    /* the start value, as C */
  const char *combine;
} Reduction;

/* One reduction folded inside a merged loop, into the local a<local>. */
typedef struct Fold {
  uint32_t local;
  const Reduction *r;
} Fold;

/* Consecutive flat loops over the same count are merged into one, as long
 * as no statement reads, at another position, what an earlier statement of
 * the loop writes (or writes what an earlier one read elsewhere). The body
 * is a template (see em_value) until the loop is complete. */
typedef struct Loop {
  int open;
  char n[128];
  Buf pre, body, post;
  uint8_t *wrote, *shifted, *uses; /* per storage key */
  uint8_t *inflow;                  /* read before written in the loop */
  uint8_t *local;                   /* kept in a local t<key> in this loop */
  uint8_t *was_local;               /* in some loop of the entry so far */
  uint32_t *writer;                 /* the last node that wrote it */
  uint32_t nkeys, cap, wcap;
  uint32_t lastx;                   /* the loop's last statement's node */
  Fold fold[MAX_ACC];               /* the reductions folded in the loop */
  int nfold;
  char tb[64]; /* the array of a float32 tanh whose argument the loop's last
                  statement puts in xc_tb, or "": the loop runs by blocks */
} Loop;

typedef struct Emitter {
  Ctx *c;
  Module *m;
  Graph *g;
  const Plan *plan;
  Buf out;       /* the entry functions, then the translation unit */
  Buf body;      /* the entry function being written */
  const EntryPlan *ep; /* where the current entry's values live */
  const Home *home;    /* ep->home */
  int used_i, used_o, depth; /* locals i, o, i0.. the entry uses */
  int used_acc, used_acc2;   /* and acc, acc2, of reductions not merged */
  int used_tb;               /* and xc_tb, a float32 tanh's block */
  Loop loop;       /* flat loops being merged into one */
  int in_loop;     /* building a statement of the merged loop */
  Access *reads;   /* what it reads, recorded as it is built */
  uint32_t nreads, capreads;
  uint32_t nacc_locals; /* accumulators a0.. of the reductions merged */
  Buf helpers;     /* the bodies of parallel loops, before their entry */
  Buf qfile;       /* the file name, quoted for #line */
  uint32_t used_helpers; /* bit k: the k-th scalar helper of scalar.h */
  uint32_t bare;   /* node + 1 whose statement stores its operand, not its
                      value (a tanh finished by exprc_rt_tanh, or in float32
                      models by exprc_rt_tanh_f32 from the block xc_tb);
                      0: none */
  int fails;       /* some statement may call exprc_rt_fail(node, what, a,
                      b) (runtime.h): the prelude names the messages */
  uint32_t npar;
  uint32_t line;
  int marks;       /* exprc explain: mark which node each line computes */
  int f32;         /* plan->f32: the buffers, constants and locals r are
                      float (xc_real), and every read of one is widened to
                      double, so that each statement computes in double */
} Emitter;

static inline Node *at(Emitter *E, uint32_t i) { return &E->g->node[i]; }
/* The suffix of the runtime's kernels for the model's buffers: a float32
 * model calls exprc_rt_gemm_f32 ... (runtime.h). */
static inline const char *em_rt(const Emitter *E) { return E->f32 ? "_f32" : ""; }

/* ---- emit_text.c ---- */
void em_put(Emitter *E, Buf *b, const char *fmt, ...) PRINTF(3, 4);
void em_put_mem(Emitter *E, Buf *b, const char *s, size_t n);
void em_put_str(Emitter *E, Buf *b, const char *s);
/* A dim's size, and the product of dims from..rank-1 of s, as C. */
void em_dim_expr(int64_t d, char *buf, size_t n);
void em_count_expr(const Shape *s, int from, char *buf, size_t n);
/* A double as a C literal that reads back exactly. */
void em_number(double v, char *buf, size_t n);
/* Where a value is stored, as one number: slots first, then locals. */
uint32_t em_storage_key(Emitter *E, Home h);
/* The value of node x at flat index idx; a pointer to its data; where it is
 * written. */
void em_value(Emitter *E, uint32_t x, const char *idx, char *buf, size_t n);
void em_pointer(Emitter *E, uint32_t x, char *buf, size_t n);
/* Slot k's buffer as a pointer to its elements (xc_real, the prelude's
 * type of every stored value): "((xc_real *)S[k])". */
void em_slot(Emitter *E, int k, char *buf, size_t n);
void em_target(Emitter *E, uint32_t x, const char *idx, char *buf, size_t n);
int em_is_scalar(Emitter *E, uint32_t x);
void em_line_directive(Emitter *E, uint32_t x, Buf *b);
/* With E->marks (exprc explain), the lines between em_mark(x) and
 * em_mark_end compute node x: the bytes \2 x ; and \3 in the text, which
 * emit_c.h's reader removes; without it, nothing. */
void em_mark(Emitter *E, uint32_t x, Buf *b);
void em_mark_end(Emitter *E, Buf *b);

/* ---- emit_expr.c ---- */
enum { LOOP_ONE, LOOP_FLAT, LOOP_NESTED }; /* how a loop indexes its operands */
extern const char *const em_helper_text[]; /* scalar.h's helpers, as text */
void em_loops_open(Emitter *E, const Shape *s);
void em_loops_close(Emitter *E, const Shape *s);
void em_copy_loop(Emitter *E, const Shape *s, const char *out, const char *in);
void em_substitute(Emitter *E, Buf *b, const char *cexpr,
                   const char *const ops[3]);
int em_inline_here(Emitter *E, uint32_t y, uint32_t now);
int em_flat_operands(Emitter *E, uint32_t x, const Shape *so, uint32_t now);
void em_ew_expr(Emitter *E, Buf *b, uint32_t x, const Shape *so, int loop,
                uint32_t now);
/* Does x's statement put its argument in the block xc_tb (a float32 tanh
 * stored by blocks, Emitter.bare) rather than store x? */
static inline int em_stores_block(const Emitter *E, uint32_t x) {
  return E->bare == x + 1 && E->f32;
}
/* The start of the statement that stores x at flat index idx (see
 * Emitter.bare): "out = ", or the place in a float32 tanh's block. */
void em_store_open(Emitter *E, Buf *b, uint32_t x, const char *idx,
                   const char *out);
/* A flat loop over n whose body ends by putting a float32 tanh's argument
 * in xc_tb, run a block at a time, each block then mapped into array p. */
void em_block_loop(Emitter *E, const char *n, const Buf *body, const char *p);
void em_ew(Emitter *E, uint32_t x);

/* ---- emit_loop.c ---- */
void em_loop_reset(Emitter *E);
void em_loop_flush(Emitter *E);
int em_join_ew(Emitter *E, uint32_t x);
int em_join_reduce(Emitter *E, uint32_t x);

/* ---- emit_c.c ---- */
/* The C function `name` computing entry e's results (what: its comment). */
void em_function(Emitter *E, Entry *e, const char *name, const char *what,
                 const EntryPlan *ep);

/* ---- emit_scan.c ---- */
void em_loop_op(Emitter *E, uint32_t x); /* LOOP, ROW, PUTROW, SHIFT */

/* ---- emit_ops.c ---- */
const Reduction *em_reduction(Op op); /* SUM, MAX, MIN; NULL for others */
void em_fill(Emitter *E, uint32_t x);
void em_node(Emitter *E, uint32_t x);
void em_along(Emitter *E, uint32_t x); /* emit_shape.c: SH_ALONG ops */

/* ---- emit_linalg.c ---- */
/* The statement of a linear-algebra node (SH_LINALG). */
void em_linalg(Emitter *E, uint32_t x);
/* ---- emit_check.c ---- */
void em_check(Emitter *E, uint32_t x);    /* after node x, if checking */
void em_check_prelude(Emitter *E);        /* where the status slot is */
/* ---- emit_gather.c ---- */
void em_gather(Emitter *E, uint32_t x); /* the SH_INDEX ops */

/* ---- emit_conv.c ---- */
void em_conv(Emitter *E, uint32_t x);   /* SH_CONV: a runtime kernel call */
void em_random(Emitter *E, uint32_t x); /* SH_RANDOM: draws, then a + b z */

#endif
