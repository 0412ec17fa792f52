/* jit.h: C source to machine code: in memory with libtcc, or with the
 * system C compiler into a cached shared object (--backend cc). */
#ifndef EXPRC_JIT_H
#define EXPRC_JIT_H

#include "base.h"

typedef void (*EntryFn)(const long *D, double *const *S);
typedef struct Jit Jit;

/* Compile src and look up the functions named names[0..n-1] into fns. On
 * failure unwinds through c with EXPRC_ERR_JIT and the compiler's messages.
 * o (NULL for the defaults: auto) selects the backend; with EXPRC_BACKEND_CC,
 * a system compiler that fails is replaced by libtcc, and o->note told.
 * src must live until jit_free: --backend auto's thread compiles it later. */
Jit *jit_compile(Ctx *c, const char *src, const char *const *names, int n,
                 EntryFn *fns, const exprc_options *o);
/* With EXPRC_BACKEND_AUTO (the default), jit_compile fills fns from libtcc
 * and keeps what the system compiler needs; jit_kick and jit_ran, called
 * before and after each run, time the runs and start it on a thread of its
 * own once they have taken long enough; jit_wait starts it at once if need
 * be; jit_free stops and joins it. */
void jit_free(Jit *j);
/* Tests: libtcc takes the C as a string, the path taken where there is
 * no memory file (on: 1), instead of reading it from one. */
void jit_tcc_from_string(int on);
void jit_kick(Jit *j);
void jit_ran(Jit *j);

/* The table of entry points to call now: fns as jit_compile filled them,
 * or the system compiler's once --backend auto has loaded it. Load it once
 * per run: the switch is atomic, and the old code lives until jit_free. */
EntryFn *jit_entries(Jit *j, EntryFn *fns);
/* EXPRC_BACKEND_CC if the system compiler's code runs, else TCC. */
exprc_backend jit_backend_now(Jit *j);
/* Wait until --backend auto's thread is over: 0 when the system
 * compiler's code runs (or there was no thread), else -1 and why. */
int jit_wait(Jit *j, char *why, size_t n);

/* libtcc's malloc, calloc, realloc and free (jit_mem.c): the build links
 * a copy of libtcc.a that calls these instead (EXPRC_TCC_MEM defined),
 * so that its big sections are mapped in huge pages. */
void *jit_mem_malloc(size_t n);
void *jit_mem_calloc(size_t k, size_t n);
void *jit_mem_realloc(void *p, size_t n);
void jit_mem_free(void *p);
/* For tests: blocks mapped since the process began, and bytes mapped now. */
typedef struct JitMemStats {
  size_t maps_made;
  size_t bytes_mapped;
} JitMemStats;
JitMemStats jit_mem_stats(void);

#endif
