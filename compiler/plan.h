/* plan.h: the memory plan of one entry point: where each value lives. */
#ifndef EXPRC_PLAN_H
#define EXPRC_PLAN_H

#include "module.h"

/* Where a value lives in generated code. */
typedef enum {
  H_NONE,   /* not needed by this entry */
  H_INLINE, /* a constant printed where it is used */
  H_LOCAL,  /* a scalar in the C local r<local> */
  H_SLOT,   /* elements off.. of buffer S[slot] */
  H_STATIC, /* a tensor constant, c<node> */
  H_FUSED   /* computed inside the loop of its one reader, never stored */
} HomeKind;

typedef struct Home {
  uint8_t kind;  /* HomeKind */
  uint8_t fill;  /* a constant that must be written to its home first */
  uint8_t view;  /* a reshape sharing its input's home */
  int32_t slot;  /* H_SLOT: the buffer S[slot] */
  uint32_t local; /* H_LOCAL: the C local r<local> */
  uint32_t node; /* H_STATIC: the constant array c<node> of that node */
  int64_t off;   /* H_SLOT, H_STATIC: where the value starts in the array */
  int32_t aux;   /* logsumexp, sorts: a scratch slot, else -1 */
} Home;

/* Slots 0 .. m->nslot-1 are the vars and results; temporaries follow. */
typedef struct Plan {
  Shape *temp;
  uint32_t ntemp, cap;
  int reuse;            /* share buffers between values whose lives do not overlap */
  int fuse;             /* compute elementwise chains in one loop */
  int remat;            /* recompute cheap forward values in the backward
                           pass instead of keeping them */
  int threads;          /* above 1: long flat loops run on threads */
  int check;            /* --check-finite: every value is stored (no
                           fusion, no rematerialization) and checked */
  int f32;              /* exprc_options.dtype: buffers of float, not double */
  int64_t temp_bytes;   /* temporaries with constant shapes */
  int64_t naive_bytes;  /* the same without reuse */
  int symbolic;         /* some temporaries' sizes depend on dims */
  int32_t *hole_slot;   /* loops (loop.h): the buffer of each HOLE ... */
  int32_t **loop_slot;  /* ... and of each loop step's results */
  uint32_t loop_first, loop_end; /* their temporaries, never shared */
} Plan;

typedef struct EntryPlan {
  Home *home;      /* per node */
  uint8_t *need;   /* per node */
  uint8_t *used;   /* per slot: referenced by this entry */
  uint32_t nused, capused;
  uint32_t nlocal;   /* scalar locals r0 .. r<nlocal-1> */
  uint32_t *last;  /* per node: the point of its last reader (NONE: none) */
  uint32_t *remat; /* per node: readers that run after this point compute
                      the value again instead of reading it (NONE: none) */
} EntryPlan;

void plan_assign_result_slots(Module *m);
/* Plan entry k: which nodes it computes and where each lives. */
void plan_entry(Ctx *c, Module *m, Plan *p, int k, EntryPlan *ep);
void plan_entry_free(Ctx *c, EntryPlan *ep);
/* Give every loop's holes and step results a buffer of their own (before
 * any entry is planned), and plan entry e, a loop's step, in buffers that
 * no other entry uses (a step runs inside an entry). */
void plan_loops(Ctx *c, Module *m, Plan *p);
void plan_step(Ctx *c, Module *m, Plan *p, Entry *e, EntryPlan *ep);
/* A rank-2 transpose feeding a matrix product is never computed: the
 * product reads its input transposed. Returns the node the product reads. */
uint32_t plan_gemm_operand(const Graph *g, uint32_t x, int *trans);

#endif
