/* handle.h: the compiled model behind an exprc_model handle, shared by the
 * compile driver (model.c), the handle's memory (handle.c) and the API calls
 * on it (api.c).
 *
 * At run time a model holds one buffer per slot: inputs and params, the
 * results of each entry point, and the temporaries of the memory plan. The
 * gradients of one gradient entry point are the exception: they share one
 * contiguous block (exprc_grad_block), so that a caller can sum them across
 * processes in one call. Slots whose shapes use a `dim` are (re)allocated
 * when the dim is bound, and a gradient's block with them.
 *
 * A float32 model (exprc_options.dtype) holds its buffers as float (`f32`,
 * what the generated code reads and writes). Each tensor a user can see
 * also has a double copy (`data`) for the float64 API (exprc_get, exprc_set,
 * ...): a copy that is only kept in step once that API has handed out a
 * view of it (`view64`): then an input's or param's copy is rounded into
 * the model before each run, and a result's copy refreshed after it. The
 * float32 views (exprc_get_f32 ...) clear the flag: no copy is then made.
 */
#ifndef EXPRC_HANDLE_H
#define EXPRC_HANDLE_H

#include "jit.h"
#include "module.h"
#include "runtime.h"

typedef struct Slot {
  char *name, *loss;
  exprc_kind kind;
  int internal;       /* a temporary */
  Shape shape;        /* may hold dims */
  double *data;       /* float64: the buffer; float32: its double copy, or
                         NULL for a temporary */
  float *f32;         /* float32 models: the buffer; else NULL */
  int view64;         /* float32: a float64 view of it is out (see above) */
  int64_t size;       /* elements allocated, -1 none */
  int set;            /* inputs: given since their dims last changed */
  InitKind init;
  double arg[2];
  int is_int;         /* holds integers (EXPRC_INT64), exact in doubles */
} Slot;

typedef struct EntryInfo {
  char *loss;          /* NULL for the forward entry */
  int first, nres;     /* its result slots: the loss, then each gradient */
  double *block;       /* the gradients' memory, in the order of `wrt`;
                          NULL until every gradient's size is known */
  float *block32;      /* float32 models: the gradients' own memory (block
                          is then its copy) */
  int64_t nblock;      /* elements of block (when not NULL) */
} EntryInfo;

/* A node whose generated code may stop a run with exprc_rt_fail: its
 * message's head ("file:line:col: error: op: ") and caret lines, made at
 * compile time, when the source is at hand. Sorted by node. */
typedef struct Site {
  long node;
  char *head, *show;
} Site;

/* A float32 model's axes are at most this long, so that every index along
 * one (argmax, argsort, sort, gathers, iota) is an exact float. */
#define F32_MAX_AXIS 16777216 /* 2^24 */

/* Two lengths of a loop's sequences that dims decide (Module.lencheck):
 * sizes as in a Shape; a run whose dims make them differ fails with the
 * located message head ... show. */
typedef struct LenRule {
  int64_t a, b;
  char *head, *show;
} LenRule;

#define MAGIC_LIVE 0x6578707263ULL /* "exprc" */
#define MAGIC_DEAD 0xdeadULL

struct exprc_model {
  uint64_t magic;      /* MAGIC_LIVE; MAGIC_DEAD once freed (debug builds) */
  char *err;
  int failed;          /* compile failed: only errmsg and free work */
  char *csrc;
  Jit *jit;
  EntryFn *fn;
  EntryInfo *entry;
  int nentry;
  Slot *slot;
  double **S;          /* each slot's buffer, as the generated code gets it
                          (a float32 model's floats, under that type) */
  int f32;             /* exprc_options.dtype is EXPRC_FLOAT32 */
  int nslot, nvar;
  int ndim;
  char **dimname;
  long *D;             /* nsize: dims, then size terms from SIZE_BASE */
  int nsize;
  SizeTerm *term;      /* the compile's size terms, nsize - SIZE_BASE */
  int *bound_by;       /* slot that bound the dim this cycle; -1 free */
  uint8_t *known;
  uint64_t may_be_empty; /* dims that may be 0 (loop lengths, Module's) */
  int *bykind[EXPRC_GRADIENT + 1]; /* slots of each kind, for exprc_get */
  int nkind[EXPRC_GRADIENT + 1];
  exprc_limits lim;
  int threads;         /* exprc_options.threads: this model's own count */
  Site *site;          /* places of run-time errors, by node */
  int nsite;
  LenRule *lenrule;    /* lengths of loops' sequences a run checks */
  int nlenrule;
  struct CheckInfo *check; /* --check-finite: what names a bad value (check.c);
                              NULL when compiled without checks */
  exprc_rng rng;       /* the draws of normal/uniform/bernoulli in the model:
                          seeded with the params' seed, advanced by every run */
};

/* Set the model's message to fmt ...; returns st. */
exprc_status handle_fail(exprc_model *m, exprc_status st, const char *fmt, ...)
    PRINTF(3, 4);
/* Give every slot whose size is known a buffer of that size; the gradients
 * of an entry point get theirs, in one block, once all their sizes are
 * known. */
exprc_status handle_allocate(exprc_model *m);
/* The located error of a run that failed with e (which exprc_rt_fail
 * filled): sets the model's message and returns its status. */
exprc_status handle_run_error(exprc_model *m, const exprc_rt_error *e);
/* Compute the size terms (D[SIZE_BASE..]) from the dims bound now. */
void handle_sizes(exprc_model *m);
/* Draw every param's initial values from the generator seeded by seed. */
void handle_init_params(exprc_model *m, uint64_t seed);
/* Restart the model's draws (normal, uniform, bernoulli) from seed. */
void handle_seed_draws(exprc_model *m, uint64_t seed);
/* Element k of slot i's buffer, in the model's type, as a double; store v
 * there (rounded to float in a float32 model) and in the double copy. */
double handle_at(const exprc_model *m, int i, int64_t k);
void handle_put(exprc_model *m, int i, int64_t k, double v);
/* Float32 models: make slot i's buffer and its double copy agree, the copy
 * winning when a float64 view of it is out (view64); around a run, every
 * input and param before (handle_sync_in), every result after. Nothing in
 * a float64 model. */
void handle_settle(exprc_model *m, int i);
void handle_sync_in(exprc_model *m);
void handle_sync_out(exprc_model *m);

#endif
