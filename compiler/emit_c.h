/* emit_c.h: the graph to one C translation unit. */
#ifndef EXPRC_EMIT_C_H
#define EXPRC_EMIT_C_H

#include "plan.h"

/* The C source: one function per entry point, named emit_entry_name(k),
 * of type void (const long *D, double *const *S). D holds the dims' sizes. */
char *emit_c(Ctx *c, Module *m, Plan *plan);
void emit_entry_name(int k, char *buf, size_t n);

/* The C header for the source emit_c(c, m, plan) just made (call it after
 * emit_c, on the same Module and Plan): the entry points' prototypes, the
 * slot and dim numbers as macros, and xc_slot_size(). `name` is the
 * header's file name, for its comment and include guard. */
char *emit_header(Ctx *c, Module *m, const Plan *plan, const char *name);

#endif
