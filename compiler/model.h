/* model.h: the compile driver, shared by the public API and the CLI. */
#ifndef EXPRC_MODEL_H
#define EXPRC_MODEL_H

#include "lower.h"
#include "plan.h"

/* Limits with defaults filled in. */
exprc_limits model_limits(const exprc_options *o);

/* The passes that `exprc graph --after PASS` can stop after. */
typedef enum { PASS_LOWER, PASS_GRAD, PASS_SIMPLIFY, NPASS } Pass;

typedef struct PassStats {
  int ran[NPASS];
  uint32_t forward[NPASS], backward[NPASS]; /* live nodes after each pass */
} PassStats;

/* The front of the pipeline, for inspection (`exprc check`, `exprc graph`):
 * parse, lower, back-propagate and (unless o->no_simplify) simplify,
 * stopping after pass `last`. st may be NULL. */
Module *model_front(Ctx *c, const exprc_options *o, Pass last, PassStats *st);
/* Live nodes of the module, forward and backward. */
void model_count(Module *mod, uint32_t *forward, uint32_t *backward);

/* The memory plan's settings for options o (NULL: the defaults). The one
 * place that maps options to the plan: the API's compile and `exprc emit
 * --header` use it, so that the header describes the C the JIT runs. */
Plan model_plan(const exprc_options *o);

/* The back of the pipeline: result slots, then for each entry point its
 * memory plan and its C function; returns the translation unit. */
char *model_back(Ctx *c, Module *mod, Plan *plan);
/* The same, with marks of which node each line computes (exprc explain,
 * emit_c.h: emit_mark_nodes) when `marks`. */
char *model_back_marked(Ctx *c, Module *mod, Plan *plan, int marks);
/* The same plans without the C, for what they say (`graph --stats`). */
void model_plan_only(Ctx *c, Module *mod, Plan *plan);

/* exprc_compile_file with hook(mod, arg) run on the module between the
 * front and the back of the pipeline: `exprc explain` makes every node a
 * result of the forward entry point, to read each node's value. */
typedef void (*ModelHook)(Module *mod, void *arg);
exprc_status model_compile_file_hooked(const char *path,
                                       const exprc_options *opt, ModelHook hook,
                                       void *hook_arg, exprc_model **out);

/* Read a whole file; NULL with errno set on failure. */
char *model_read_file(const char *path, size_t *len, int64_t limit);

#endif
