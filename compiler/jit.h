/* jit.h: C source to machine code in memory, with libtcc. */
#ifndef EXPRC_JIT_H
#define EXPRC_JIT_H

#include "base.h"

typedef void (*EntryFn)(const long *D, double *const *S);
typedef struct Jit Jit;

/* Compile src and look up the functions named names[0..n-1] into fns. On
 * failure unwinds through c with EXPRC_ERR_JIT and tcc's messages. */
Jit *jit_compile(Ctx *c, const char *src, const char *const *names, int n,
                 EntryFn *fns);
void jit_free(Jit *j);

#endif
