/* jit.c: the last stage: the generated C to machine code, in memory, with
 * libtcc.
 *
 * libtcc keeps global state, so everything from tcc_new to tcc_relocate
 * holds one process-wide mutex; running the compiled code needs no lock.
 * The code is linked with -nostdlib: it can call only the symbols added here
 * (libm and the runtime), which is all the emitter's prelude declares, so
 * generated code cannot reach anything else in the process. A compile error
 * in generated code is a bug in exprc; tcc's text is kept in the message.
 */
#include "jit.h"

#include <libtcc.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "scalar.h"

struct Jit {
  TCCState *s;
};

static pthread_mutex_t tcc_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct Errors {
  char text[2048];
  size_t n;
} Errors;

static void on_error(void *opaque, const char *msg) {
  Errors *e = opaque;
  if (e->n < sizeof e->text - 1)
    e->n += (size_t)snprintf(e->text + e->n, sizeof e->text - e->n, "%s\n", msg);
  if (e->n >= sizeof e->text)
    e->n = sizeof e->text - 1;
}

static void add_symbols(TCCState *s) {
#define XC_LIBM(name, n) tcc_add_symbol(s, #name, (const void *)name);
  XC_LIBM_FNS(XC_LIBM)
#undef XC_LIBM
  tcc_add_symbol(s, "exprc_rt_gemm", (const void *)exprc_rt_gemm);
  tcc_add_symbol(s, "memset", (const void *)memset); /* tcc may emit these */
  tcc_add_symbol(s, "memcpy", (const void *)memcpy);
  tcc_add_symbol(s, "memmove", (const void *)memmove);
}

/* Under the lock: compile, relocate and look up. 0 on success. */
static int build(TCCState *s, Errors *err, const char *src,
                 const char *const *names, int n, EntryFn *fns) {
  tcc_set_error_func(s, err, on_error);
  tcc_set_options(s, "-nostdlib");
  if (tcc_set_output_type(s, TCC_OUTPUT_MEMORY) < 0)
    return -1;
  if (tcc_compile_string(s, src) < 0)
    return -1;
  add_symbols(s);
#ifdef EXPRC_TCC_RELOCATE_ONE_ARG
  if (tcc_relocate(s) < 0)
#else
  if (tcc_relocate(s, TCC_RELOCATE_AUTO) < 0)
#endif
    return -1;
  for (int i = 0; i < n; i++) {
    void *p = tcc_get_symbol(s, names[i]);
    if (!p) {
      on_error(err, "entry point missing from generated code");
      return -1;
    }
    memcpy(&fns[i], &p, sizeof p); /* object to function pointer */
  }
  return 0;
}

Jit *jit_compile(Ctx *c, const char *src, const char *const *names, int n,
                 EntryFn *fns) {
  Errors err = {.n = 0};
  Jit *j = calloc(1, sizeof *j);
  if (!j)
    ctx_fail(c, EXPRC_ERR_NOMEM, "out of memory");
  pthread_mutex_lock(&tcc_lock);
  j->s = tcc_new();
  int rc = j->s ? build(j->s, &err, src, names, n, fns) : -1;
  pthread_mutex_unlock(&tcc_lock);
  if (rc < 0) {
    jit_free(j);
    ctx_fail(c, EXPRC_ERR_JIT,
             "internal error: generated C did not compile (a bug in exprc; "
             "please report it with the model):\n%s",
             err.n ? err.text : "tcc_new failed");
  }
  return j;
}

void jit_free(Jit *j) {
  if (!j)
    return;
  if (j->s) {
    pthread_mutex_lock(&tcc_lock);
    tcc_delete(j->s);
    pthread_mutex_unlock(&tcc_lock);
  }
  free(j);
}
