/* emit_c.h: the graph to one C translation unit. */
#ifndef EXPRC_EMIT_C_H
#define EXPRC_EMIT_C_H

#include "plan.h"

/* The C source: one function per entry point, named emit_entry_name(k),
 * of type void (const long *D, double *const *S). D holds the dims' sizes.
 * The emitter only reads the module and the plans: emit_begin, then
 * emit_entry for each entry point with the plan plan_entry made for it, then
 * emit_end for the whole translation unit (in the context's memory). */
typedef struct Emitter Emitter;
Emitter *emit_begin(Ctx *c, Module *m, const Plan *plan);
void emit_entry(Emitter *E, int k, const EntryPlan *ep);
/* The function xc_loop_<id> of loop id's step, entry e (its results), with
 * the plan plan_step made for it (emit_scan.c). */
void emit_step(Emitter *E, uint32_t id, Entry *e, const EntryPlan *ep);
char *emit_end(Emitter *E);
/* exprc explain: after emit_begin, mark in the text which node each
 * statement computes (emit.h: em_mark); the text without the marks is the
 * same as without this call. */
void emit_mark_nodes(Emitter *E);
void emit_entry_name(int k, char *buf, size_t n);

/* The C header for the source made from the same Module and Plan, once
 * every entry point is planned: the entry points' prototypes, the slot and
 * dim numbers as macros, and xc_slot_size(). `name` is the header's file
 * name, for its comment and include guard. */
char *emit_header(Ctx *c, Module *m, const Plan *plan, const char *name);

#endif
