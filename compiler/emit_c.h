/* emit_c.h: the graph to one C translation unit. */
#ifndef EXPRC_EMIT_C_H
#define EXPRC_EMIT_C_H

#include "lower.h"

/* Where generated code keeps the model's tensors: slot i is the buffer
 * S[i] of every entry function. Slots 0 .. m->nslot-1 are the vars and
 * results; temporaries follow, with the shapes listed here. */
typedef struct Plan {
  Shape *temp;
  uint32_t ntemp, cap;
} Plan;

/* The C source: one function per entry point, named emit_entry_name(k),
 * of type void (const long *D, double *const *S). D holds the dims' sizes. */
char *emit_c(Ctx *c, Module *m, Plan *plan);
void emit_entry_name(int k, char *buf, size_t n);

#endif
