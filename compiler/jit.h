/* jit.h: C source to machine code: in memory with libtcc, or with the
 * system C compiler into a cached shared object (--backend cc). */
#ifndef EXPRC_JIT_H
#define EXPRC_JIT_H

#include "base.h"

typedef void (*EntryFn)(const long *D, double *const *S);
typedef struct Jit Jit;

/* Compile src and look up the functions named names[0..n-1] into fns. On
 * failure unwinds through c with EXPRC_ERR_JIT and the compiler's messages.
 * o (NULL for the defaults) selects the backend; with EXPRC_BACKEND_CC,
 * a system compiler that fails is replaced by libtcc, and o->note told. */
Jit *jit_compile(Ctx *c, const char *src, const char *const *names, int n,
                 EntryFn *fns, const exprc_options *o);
void jit_free(Jit *j);

#endif
